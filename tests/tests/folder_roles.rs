//! Folder roles without SPECIAL-USE (issue 14): Drafts, Sent, Trash, Junk and Archive found
//! by name on a Dovecot that lists them without attributes, so that `save_draft` and a
//! delete to the Trash reach the server's folders; the missing ones created (Dovecot, and a
//! scripted server for `CREATE … (USE (\Drafts))` and the fallbacks); and the app's override
//! of a role surviving later syncs. The server's view is read with doveadm.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    engine::{AccountConfig, Draft, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Address, FolderId, Role},
};
use anvert_tests::{
    client::endpoint,
    dovecot::{Dovecot, DovecotOptions},
    generator::{GenConfig, SizeMix},
    scripted::{Reply, Script, ScriptedImap, ok},
};

fn metered() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

struct Setup {
    server: Dovecot,
    _dir: tempfile::TempDir,
    engine: Engine,
    account: AccountId,
}

/// A Dovecot with `count` messages in alice's INBOX and an engine account on it, not synced.
async fn setup(options: DovecotOptions, count: usize) -> Setup {
    let server = Dovecot::start_with(options);
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 14,
            count,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
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
    Setup {
        server,
        _dir: dir,
        engine,
        account,
    }
}

/// The roles the engine gives the account's folders, by folder name.
async fn roles(engine: &Engine, account: AccountId) -> BTreeMap<String, Option<Role>> {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.role))
        .collect()
}

async fn folder(engine: &Engine, account: AccountId, name: &str) -> FolderId {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .id
}

fn draft(subject: &str) -> Draft {
    Draft {
        from: Address {
            name: Some("Alice".into()),
            email: "alice@example.com".into(),
        },
        to: vec![Address {
            name: None,
            email: "bob@example.com".into(),
        }],
        subject: subject.into(),
        text: "Hello Bob".into(),
        ..Draft::default()
    }
}

/// The subjects of a server folder, read with doveadm.
fn server_subjects(server: &Dovecot, folder: &str) -> Vec<String> {
    let out = server.doveadm(&[
        "fetch",
        "-u",
        "alice",
        "hdr.subject",
        "mailbox",
        folder,
        "all",
    ]);
    out.lines()
        .filter_map(|l| l.strip_prefix("hdr.subject: "))
        .map(|s| s.trim().to_string())
        .collect()
}

/// The server's mailboxes for alice, sorted.
fn server_mailboxes(server: &Dovecot) -> Vec<String> {
    let mut list: Vec<String> = server
        .doveadm(&["mailbox", "list", "-u", "alice"])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    list.sort();
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_from_names_make_drafts_and_trash_work_without_special_use() {
    let s = setup(
        DovecotOptions {
            special_use: false,
            ..DovecotOptions::default()
        },
        4,
    )
    .await;
    let config = std::fs::read_to_string(s.server.config_path()).unwrap();
    assert!(
        !config.contains("special_use") && !config.contains("SPECIAL-USE"),
        "the server lists its folders without attributes"
    );
    s.engine.sync(s.account, &metered()).await.unwrap();
    let expected: BTreeMap<String, Option<Role>> = [
        ("Archive", Role::Archive),
        ("Drafts", Role::Drafts),
        ("INBOX", Role::Inbox),
        ("Junk", Role::Junk),
        ("Sent", Role::Sent),
        ("Trash", Role::Trash),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_string(), Some(r)))
    .collect();
    assert_eq!(roles(&s.engine, s.account).await, expected);
    // Nothing was created: every role folder exists.
    assert_eq!(
        server_mailboxes(&s.server),
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );

    // A draft goes to the server's Drafts.
    s.engine
        .save_draft(s.account, draft("Plans for Friday"), None)
        .await
        .unwrap();
    // A delete moves to the server's Trash.
    let inbox = folder(&s.engine, s.account, "INBOX").await;
    let page = s.engine.messages(inbox, None, 10).await.unwrap();
    let victim = page.items[0].clone();
    s.engine.delete_messages(&[victim.id]).await.unwrap();
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");

    assert_eq!(server_subjects(&s.server, "Drafts"), ["Plans for Friday"]);
    assert_eq!(s.server.server_flags("alice", "Trash").len(), 1);
    assert_eq!(s.server.server_flags("alice", "INBOX").len(), 3);
    assert_eq!(
        server_subjects(&s.server, "Trash"),
        [victim.subject.as_str()]
    );
    let pending = s
        .engine
        .pending_mailbox_operations(s.account)
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_drafts_sent_and_trash_are_created_once() {
    let s = setup(
        DovecotOptions {
            special_use: false,
            role_mailboxes: false,
            ..DovecotOptions::default()
        },
        2,
    )
    .await;
    assert_eq!(server_mailboxes(&s.server), ["INBOX"]);
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    // Created on the server at the top level (Dovecot's namespace has no prefix),
    // subscribed, and stored with their roles at once.
    assert_eq!(
        server_mailboxes(&s.server),
        ["Drafts", "INBOX", "Sent", "Trash"]
    );
    let subscribed = s.server.doveadm(&["mailbox", "list", "-u", "alice", "-s"]);
    for name in ["Drafts", "Sent", "Trash"] {
        assert!(subscribed.lines().any(|l| l.trim() == name), "{subscribed}");
    }
    let expected: BTreeMap<String, Option<Role>> = [
        ("Drafts", Some(Role::Drafts)),
        ("INBOX", Some(Role::Inbox)),
        ("Sent", Some(Role::Sent)),
        ("Trash", Some(Role::Trash)),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_string(), r))
    .collect();
    assert_eq!(roles(&s.engine, s.account).await, expected);

    // They work: a draft and a delete reach them.
    s.engine
        .save_draft(s.account, draft("Created Drafts"), None)
        .await
        .unwrap();
    let inbox = folder(&s.engine, s.account, "INBOX").await;
    let page = s.engine.messages(inbox, None, 10).await.unwrap();
    s.engine.delete_messages(&[page.items[0].id]).await.unwrap();
    // The next sync finds them listed: no second CREATE (it would be refused as existing,
    // and reported), and the same roles.
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(
        server_mailboxes(&s.server),
        ["Drafts", "INBOX", "Sent", "Trash"]
    );
    assert_eq!(roles(&s.engine, s.account).await, expected);
    assert_eq!(server_subjects(&s.server, "Drafts"), ["Created Drafts"]);
    assert_eq!(s.server.server_flags("alice", "Trash").len(), 1);
    assert_eq!(s.server.server_flags("alice", "INBOX").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_survives_resyncs_and_decides_where_deletes_go() {
    // SPECIAL-USE on: the override wins over the server's attributes too.
    let s = setup(DovecotOptions::default(), 2).await;
    s.engine.sync(s.account, &metered()).await.unwrap();
    let archive = folder(&s.engine, s.account, "Archive").await;
    let drafts = folder(&s.engine, s.account, "Drafts").await;
    s.engine
        .set_folder_role(archive, Some(Role::Trash))
        .await
        .unwrap();
    s.engine.set_folder_role(drafts, None).await.unwrap();
    let after_override = roles(&s.engine, s.account).await;
    assert_eq!(after_override["Archive"], Some(Role::Trash));
    assert_eq!(after_override["Trash"], None);
    assert_eq!(after_override["Drafts"], None);

    s.engine.sync(s.account, &metered()).await.unwrap();
    s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(roles(&s.engine, s.account).await, after_override);
    let summary = s.engine.folders(s.account).await.unwrap();
    assert!(
        summary
            .iter()
            .find(|f| f.name == "Archive")
            .unwrap()
            .role_set_by_app
    );

    // Deleting now moves to Archive, the app's Trash; no Drafts means no draft.
    let inbox = folder(&s.engine, s.account, "INBOX").await;
    let page = s.engine.messages(inbox, None, 10).await.unwrap();
    s.engine.delete_messages(&[page.items[0].id]).await.unwrap();
    assert!(
        s.engine
            .save_draft(s.account, draft("Nowhere"), None)
            .await
            .is_err()
    );
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(s.server.server_flags("alice", "Archive").len(), 1);
    assert_eq!(s.server.server_flags("alice", "Trash").len(), 0);
    // No Trash or Drafts was created for the roles the app took away: the names exist.
    assert_eq!(
        server_mailboxes(&s.server),
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );

    // Reset: the server's roles come back, and stay after a sync.
    s.engine.reset_folder_role(archive).await.unwrap();
    s.engine.reset_folder_role(drafts).await.unwrap();
    s.engine.sync(s.account, &metered()).await.unwrap();
    let back = roles(&s.engine, s.account).await;
    assert_eq!(back["Archive"], Some(Role::Archive));
    assert_eq!(back["Trash"], Some(Role::Trash));
    assert_eq!(back["Drafts"], Some(Role::Drafts));
}

/// A scripted server with CREATE-SPECIAL-USE whose folders all live under `INBOX.`: the
/// engine creates the missing ones there, with their role; the Trash's attribute is refused
/// (`NO [USEATTR]`) and the Trash is created again without it.
#[tokio::test]
async fn create_special_use_under_the_servers_prefix() {
    let script = Script {
        capabilities: "IMAP4rev1 LITERAL+ UIDPLUS MOVE CREATE-SPECIAL-USE".into(),
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \".\" INBOX\r\n* LIST () \".\" INBOX.Work\r\n* LIST () \".\" INBOX.Sent\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n")
        } else if command.starts_with("CREATE \"INBOX.Trash\" (USE") {
            Reply::Raw(b"TAG NO [USEATTR] cannot\r\n".to_vec())
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let report = engine.sync(account, &SyncRequest::default()).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    let creates: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("CREATE") || c.starts_with("SUBSCRIBE"))
        .collect();
    assert_eq!(
        creates,
        [
            "CREATE \"INBOX.Drafts\" (USE (\\Drafts))",
            "SUBSCRIBE \"INBOX.Drafts\"",
            "CREATE \"INBOX.Trash\" (USE (\\Trash))",
            "SUBSCRIBE \"INBOX.Trash\"",
            "CREATE \"INBOX.Trash\"",
            "SUBSCRIBE \"INBOX.Trash\"",
        ],
        "INBOX.Sent is the Sent by name; one flight, then the Trash again without USE"
    );
    let found = roles(&engine, account).await;
    assert_eq!(found["INBOX.Drafts"], Some(Role::Drafts));
    assert_eq!(found["INBOX.Trash"], Some(Role::Trash));
    assert_eq!(found["INBOX.Sent"], Some(Role::Sent));
    assert_eq!(found["INBOX.Work"], None);
}

/// A server with only INBOX that refuses top-level names: the engine tries under INBOX; and
/// one that refuses everything: reported in the sync's errors, the sync goes on.
#[tokio::test]
async fn refused_creates_fall_back_under_inbox_or_are_reported() {
    let server = ScriptedImap::start(Script::default(), |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \".\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n")
        } else if command.starts_with("CREATE \"INBOX.") {
            // Sent cannot be created anywhere.
            if command.contains("Sent") {
                Reply::Raw(b"TAG NO [NOPERM] not here\r\n".to_vec())
            } else {
                ok("")
            }
        } else if command.starts_with("CREATE") {
            Reply::Raw(b"TAG NO [CANNOT] only under INBOX\r\n".to_vec())
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let report = engine.sync(account, &SyncRequest::default()).await.unwrap();
    let creates: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("CREATE"))
        .collect();
    assert_eq!(
        creates,
        [
            "CREATE \"Drafts\"",
            "CREATE \"Sent\"",
            "CREATE \"Trash\"",
            "CREATE \"INBOX.Drafts\"",
            "CREATE \"INBOX.Sent\"",
            "CREATE \"INBOX.Trash\"",
        ]
    );
    let found = roles(&engine, account).await;
    assert_eq!(found["INBOX.Drafts"], Some(Role::Drafts));
    assert_eq!(found["INBOX.Trash"], Some(Role::Trash));
    assert!(!found.contains_key("Sent") && !found.contains_key("INBOX.Sent"));
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(report.errors[0].0 == "INBOX.Sent", "{report:?}");
    assert!(report.errors[0].1.contains("not here"), "{report:?}");
    // The INBOX sync went on.
    assert!(
        report.folders.iter().any(|f| f.name == "INBOX"),
        "{report:?}"
    );
}
