//! Issue 14's two-way scenario on Dovecot and Cyrus (`on_each_server!`) with every extension,
//! and with SPECIAL-USE, MOVE or UIDPLUS switched off one at a time: `+\Flagged` on 5 messages, `-\Seen` on 5, a keyword
//! on 3, 4 moves to Archive, 3 deletions (to Trash) and 1 draft, with one unrelated message
//! another client marked `\Deleted` in another folder. Afterwards every folder of the store
//! equals the server's (flags and keywords by UID, read outside the engine with `imap_as`), nothing is pending,
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
    generator::{GenConfig, SizeMix},
    on_each_server_with,
    server::{Extensions, TestServer},
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

/// The server's own view of a folder, read as another client would: flags and keywords by
/// UID.
fn on_server(server: &dyn TestServer, folder: &str) -> View {
    let lines = server.imap_as(
        "alice",
        &[&format!("EXAMINE {folder}"), "UID FETCH 1:* (UID FLAGS)"],
    );
    let mut view = View::new();
    for line in lines.iter().filter(|l| l.contains(" FETCH (")) {
        let uid = line
            .split("UID ")
            .nth(1)
            .and_then(|v| v.split([' ', ')']).next())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no UID in {line}"));
        let flags = line
            .split("FLAGS (")
            .nth(1)
            .and_then(|v| v.split(')').next())
            .unwrap_or_else(|| panic!("no FLAGS in {line}"));
        let mut system = SystemFlags::empty();
        let mut keywords = Vec::new();
        for f in flags.split_whitespace() {
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
        view.insert(uid, (system, keywords));
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

async fn scenario(server: &dyn TestServer, seed: u64) {
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
    server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            "UID COPY 24 Junk",
            "SELECT Junk",
            "STORE 1:* +FLAGS.SILENT (\\Deleted)",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
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
                bcc: Vec::new(),
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
        assert_eq!(stored(&engine, id).await, on_server(server, name), "{name}");
    }
    let server_inbox = on_server(server, "INBOX");
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
    assert_eq!(on_server(server, "Archive").len(), 4);
    assert_eq!(on_server(server, "Trash").len(), 3);
    assert_eq!(on_server(server, "Drafts").len(), 1);
    let junk = on_server(server, "Junk");
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

async fn with_every_extension(server: &dyn TestServer) {
    scenario(server, 1401).await;
}

async fn without_special_use(server: &dyn TestServer) {
    scenario(server, 1402).await;
}

async fn without_move(server: &dyn TestServer) {
    scenario(server, 1403).await;
}

async fn without_uidplus(server: &dyn TestServer) {
    scenario(server, 1404).await;
}

on_each_server_with!(every_extension, Extensions::default(), with_every_extension);
on_each_server_with!(
    no_special_use,
    Extensions {
        special_use: false,
        ..Extensions::default()
    },
    without_special_use
);
on_each_server_with!(
    no_move,
    Extensions {
        move_command: false,
        ..Extensions::default()
    },
    without_move
);
on_each_server_with!(
    no_uidplus,
    Extensions {
        uidplus: false,
        ..Extensions::default()
    },
    without_uidplus
);
