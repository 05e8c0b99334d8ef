//! Issue 14's two-way scenario on Dovecot with every extension, and with SPECIAL-USE, MOVE
//! or UIDPLUS switched off one at a time: `+\Flagged` on 5 messages, `-\Seen` on 5, a keyword
//! on 3, 4 moves to Archive, 3 deletions (to Trash) and 1 draft, with one unrelated message
//! another client marked `\Deleted` in another folder. Afterwards every folder of the store
//! equals the server's (flags and keywords by UID, read with doveadm), nothing is pending,
//! the other client's message keeps its `\Deleted`, and a further sync reports no change.
//! (Without both MOVE and UIDPLUS, a foreign `\Deleted` message in the same folder makes our
//! removals wait instead: `moves_minimal.rs`. A server that cannot keep keywords is
//! `flags_allowed.rs`, on the scripted server.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    engine::{AccountConfig, Draft, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Address, Flags, FolderId, MessageId, SystemFlags},
};
use anvert_tests::{
    client::endpoint,
    dovecot::{Dovecot, DovecotOptions},
    generator::{GenConfig, SizeMix},
};

const KEYWORD: &str = "$Important";

fn everything() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

/// UID -> (system flags, keywords sorted).
type View = BTreeMap<u32, (SystemFlags, Vec<String>)>;

async fn stored(engine: &Engine, folder: FolderId) -> View {
    let page = engine.messages(folder, None, 500).await.unwrap();
    page.items
        .iter()
        .map(|m| {
            let mut keywords = m.flags.keywords.clone();
            keywords.sort();
            (m.uid, (m.flags.system, keywords))
        })
        .collect()
}

/// The server's own view of a folder, by doveadm: flags and keywords by UID.
fn on_server(server: &Dovecot, folder: &str) -> View {
    let out = server.doveadm(&[
        "fetch",
        "-u",
        "alice",
        "uid flags",
        "mailbox",
        folder,
        "all",
    ]);
    let mut view = View::new();
    let mut uid = None;
    for line in out.lines() {
        if let Some(v) = line.strip_prefix("uid: ") {
            uid = v.trim().parse::<u32>().ok();
        } else if let Some(v) = line.strip_prefix("flags:") {
            let mut system = SystemFlags::empty();
            let mut keywords = Vec::new();
            for f in v.split_whitespace() {
                match f {
                    "\\Seen" => system.insert(SystemFlags::SEEN),
                    "\\Flagged" => system.insert(SystemFlags::FLAGGED),
                    "\\Answered" => system.insert(SystemFlags::ANSWERED),
                    "\\Draft" => system.insert(SystemFlags::DRAFT),
                    "\\Deleted" => system.insert(SystemFlags::DELETED),
                    "\\Recent" => {}
                    k => keywords.push(k.to_string()),
                }
            }
            keywords.sort();
            if let Some(u) = uid.take() {
                view.insert(u, (system, keywords));
            }
        }
    }
    view
}

async fn folder(engine: &Engine, account: AccountId, name: &str) -> FolderId {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no folder {name}"))
        .id
}

async fn scenario(seed: u64, options: DovecotOptions) {
    let server = Dovecot::start_with(options);
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed,
            count: 24,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    // Another client's message, marked \Deleted, in Junk.
    server.doveadm(&[
        "copy", "-u", "alice", "Junk", "mailbox", "INBOX", "uid", "24",
    ]);
    server.doveadm(&[
        "flags",
        "add",
        "-u",
        "alice",
        "\\Deleted",
        "mailbox",
        "Junk",
        "all",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(account, &everything()).await.unwrap();
    let inbox = folder(&engine, account, "INBOX").await;
    let archive = folder(&engine, account, "Archive").await;
    let page = engine.messages(inbox, None, 100).await.unwrap();
    assert_eq!(page.items.len(), 24);
    let having = |flag: SystemFlags, set: bool| -> Vec<MessageId> {
        page.items
            .iter()
            .filter(|m| m.flags.system.contains(flag) == set)
            .map(|m| m.id)
            .collect()
    };
    let to_flag: Vec<MessageId> = having(SystemFlags::FLAGGED, false)[..5].to_vec();
    let to_unsee: Vec<MessageId> = having(SystemFlags::SEEN, true)
        .into_iter()
        .filter(|id| !to_flag.contains(id))
        .take(5)
        .collect();
    assert_eq!(to_unsee.len(), 5);
    let ids: Vec<MessageId> = page.items.iter().map(|m| m.id).collect();

    // The app's changes, all applied locally at once.
    let flag = |system| Flags {
        system,
        keywords: Vec::new(),
    };
    engine
        .set_flags(&to_flag, flag(SystemFlags::FLAGGED), Flags::default())
        .await
        .unwrap();
    engine
        .set_flags(&to_unsee, Flags::default(), flag(SystemFlags::SEEN))
        .await
        .unwrap();
    let keyword = Flags {
        system: SystemFlags::empty(),
        keywords: vec![KEYWORD.into()],
    };
    engine
        .set_flags(&ids[ids.len() - 3..], keyword, Flags::default())
        .await
        .unwrap();
    let untouched: Vec<MessageId> = ids
        .iter()
        .filter(|id| !to_flag.contains(id) && !to_unsee.contains(id))
        .filter(|id| !ids[ids.len() - 3..].contains(id))
        .copied()
        .collect();
    engine
        .move_messages(&untouched[..4], archive)
        .await
        .unwrap();
    engine.delete_messages(&untouched[4..7]).await.unwrap();
    engine
        .save_draft(
            account,
            Draft {
                from: Address {
                    name: Some("Alice".into()),
                    email: "alice@example.org".into(),
                },
                to: vec![Address {
                    name: None,
                    email: "bob@example.org".into(),
                }],
                cc: Vec::new(),
                subject: "Draft from the phone".into(),
                text: "Hello".into(),
                html: None,
                attachments: Vec::new(),
            },
            None,
        )
        .await
        .unwrap();

    let report = engine.sync(account, &everything()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        engine.pending_operations(account).await.unwrap().is_empty(),
        "flag operations pending: {:?}",
        engine.pending_operations(account).await.unwrap()
    );
    assert!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .is_empty(),
        "mailbox operations pending: {:?}",
        engine.pending_mailbox_operations(account).await.unwrap()
    );
    // The store is the server, folder by folder: flags, keywords and the UIDs themselves.
    for name in ["INBOX", "Archive", "Trash", "Drafts", "Junk"] {
        let id = folder(&engine, account, name).await;
        assert_eq!(
            stored(&engine, id).await,
            on_server(&server, name),
            "{name}"
        );
    }
    let server_inbox = on_server(&server, "INBOX");
    assert_eq!(server_inbox.len(), 24 - 7);
    let flagged = server_inbox
        .values()
        .filter(|(f, _)| f.contains(SystemFlags::FLAGGED))
        .count();
    assert!(flagged >= 5);
    let with_keyword = server_inbox
        .values()
        .filter(|(_, k)| k.iter().any(|k| k == KEYWORD))
        .count();
    assert_eq!(with_keyword, 3);
    assert_eq!(on_server(&server, "Archive").len(), 4);
    assert_eq!(on_server(&server, "Trash").len(), 3);
    assert_eq!(on_server(&server, "Drafts").len(), 1);
    let junk = on_server(&server, "Junk");
    assert_eq!(junk.len(), 1, "the other client's message survives");
    assert!(junk.values().all(|(f, _)| f.contains(SystemFlags::DELETED)));

    let again = engine.sync(account, &everything()).await.unwrap();
    assert_eq!(
        (again.added(), again.changed(), again.removed()),
        (0, 0, 0),
        "{:?}",
        again.folders
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_extension() {
    scenario(1401, DovecotOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_special_use() {
    scenario(
        1402,
        DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_move() {
    scenario(
        1403,
        DovecotOptions {
            move_command: false,
            ..DovecotOptions::default()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uidplus() {
    scenario(
        1404,
        DovecotOptions {
            uidplus: false,
            ..DovecotOptions::default()
        },
    )
    .await;
}
