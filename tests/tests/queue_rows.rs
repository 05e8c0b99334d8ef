//! Queue rows the write-back cannot act on (issue 13): rows that name another account's
//! folder, or a draft with no bytes, cannot be written by any API, so the test writes them
//! into the store's file directly. The sync must park each at once with its reason (listed
//! in the pending operations, `ChangeDropped { Parked }` where a message is named), never
//! skip it in silence, never retry it, and never send it: the server is read with `doveadm`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::{AccountConfig, Draft, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Address, Flags, FolderId, FolderRecord, SystemFlags},
    sync::{DropReason, EventSink, SyncEvent},
};
use anvert_tests::{
    client::endpoint,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
};
use sqlx::{Connection, SqliteConnection};

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

fn metered() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
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

/// The number of messages of a folder on the server.
fn on_server(server: &Dovecot, folder: &str) -> usize {
    server.server_flags("alice", folder).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_write_back_cannot_act_on_are_parked_and_reported() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 1301,
            count: 5,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    server.doveadm(&[
        "flags",
        "remove",
        "-u",
        "alice",
        "\\Flagged",
        "mailbox",
        "INBOX",
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
    let events = Arc::new(Recorder::default());
    engine.set_listener(Some(events.clone()));
    let alice = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(alice, &metered()).await.unwrap();
    let inbox = folder(&engine, alice, "INBOX").await;
    let page = engine.messages(inbox, None, 10).await.unwrap();
    let (flagged, moved) = (&page.items[0], &page.items[1]);

    // Another account, with a folder of its own (never synced: the folder is only a row).
    let bob = engine
        .add_account(AccountConfig {
            name: "Bob".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let elsewhere = engine
        .store()
        .upsert_folders(
            bob,
            &[FolderRecord {
                name: "Elsewhere".into(),
                delimiter: Some("/".into()),
                role: None,
                subscribed: true,
                selectable: true,
            }],
        )
        .await
        .unwrap()[0];

    // Rows the APIs write, then made inconsistent in the file.
    let flag = Flags {
        system: SystemFlags::FLAGGED,
        keywords: Vec::new(),
    };
    engine
        .set_flags(&[flagged.id], flag, Flags::default())
        .await
        .unwrap();
    engine
        .save_draft(
            alice,
            Draft {
                from: Address {
                    name: None,
                    email: "alice@example.com".into(),
                },
                subject: "plans".into(),
                text: "see you".into(),
                ..Draft::default()
            },
            None,
        )
        .await
        .unwrap();
    let uidvalidity = engine
        .store()
        .folder_state(inbox)
        .await
        .unwrap()
        .uidvalidity
        .unwrap();
    let mut db = SqliteConnection::connect(&format!(
        "sqlite://{}",
        dir.path().join("anvert.db").display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE pending_ops SET folder_id = ?1")
        .bind(elsewhere.0)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE pending_mailbox_ops SET raw = X'' WHERE kind = 'append'")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO pending_mailbox_ops (account_id, kind, source_folder_id,
                                          source_uidvalidity, source_uid, target_folder_id)
         VALUES (?1, 'move', ?2, ?3, ?4, ?5)",
    )
    .bind(alice.0)
    .bind(inbox.0)
    .bind(uidvalidity)
    .bind(moved.uid)
    .bind(elsewhere.0)
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    events.0.lock().unwrap().clear();

    let report = engine.sync(alice, &metered()).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // Each row is parked with its reason...
    let mailbox = engine.pending_mailbox_operations(alice).await.unwrap();
    assert_eq!(mailbox.len(), 2, "{mailbox:?}");
    for op in &mailbox {
        assert!(op.parked, "{op:?}");
        let error = op.last_error.as_deref().unwrap_or_default();
        assert!(error.contains("inconsistent"), "{op:?}");
    }
    assert!(mailbox.iter().any(|op| {
        op.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no bytes")
    }));
    let flags = engine.pending_operations(alice).await.unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert!(flags[0].parked, "{flags:?}");
    assert!(
        flags[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("inconsistent"),
        "{flags:?}"
    );
    // ...the app is told about the messages they name...
    let parked: Vec<(FolderId, Vec<u32>)> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            SyncEvent::ChangeDropped {
                folder,
                uids,
                reason: DropReason::Parked,
            } => Some((*folder, uids.clone())),
            _ => None,
        })
        .collect();
    assert!(parked.contains(&(inbox, vec![moved.uid])), "{parked:?}");
    assert!(
        parked.contains(&(elsewhere, vec![flagged.uid])),
        "{parked:?}"
    );
    // ...and nothing was sent: no empty APPEND, no move, no flag.
    assert_eq!(on_server(&server, "Drafts"), 0);
    assert_eq!(on_server(&server, "INBOX"), 5);
    let server_flags = server.server_flags("alice", "INBOX");
    assert!(!server_flags[&flagged.uid].contains(SystemFlags::FLAGGED));

    // Parked rows are not tried again.
    events.0.lock().unwrap().clear();
    let again = engine.sync(alice, &metered()).await.unwrap();
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    let after = engine.pending_mailbox_operations(alice).await.unwrap();
    assert_eq!(
        after.iter().map(|op| op.attempts).collect::<Vec<_>>(),
        mailbox.iter().map(|op| op.attempts).collect::<Vec<_>>()
    );
    assert!(
        !events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, SyncEvent::ChangeDropped { .. }))
    );
}
