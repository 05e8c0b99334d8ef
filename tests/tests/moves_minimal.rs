//! Moves and deletions on servers without MOVE, without UIDPLUS, or without both (issue 14):
//! `UID COPY` + `\Deleted` + `UID EXPUNGE`, or without UIDPLUS a plain EXPUNGE only when no
//! other message of the folder is marked `\Deleted` (checked with `UID SEARCH DELETED` right
//! before); otherwise ours wait, hidden locally, until it is safe. On Dovecot and Cyrus
//! (`on_each_server_with!`). The server's view is read outside the engine (doveadm, Cyrus'
//! harness socket, `imap_as`); body bytes through the tap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, FolderId, MessageId, SystemFlags},
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    client::endpoint,
    generator::{GenConfig, SizeMix},
    on_each_server_with,
    server::{Extensions, TestServer},
    tap::Tap,
};

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

/// The stored messages of a folder: UID -> system flags.
async fn stored(engine: &Engine, folder: FolderId) -> BTreeMap<u32, SystemFlags> {
    let page = engine.messages(folder, None, 500).await.unwrap();
    page.items.iter().map(|m| (m.uid, m.flags.system)).collect()
}

/// The server's UIDs and system flags of a folder, read without the engine.
fn on_server(s: &dyn TestServer, name: &str) -> BTreeMap<u32, SystemFlags> {
    s.server_flags("alice", name)
}

/// The Message-IDs of a folder, read as another client would.
fn mids(s: &dyn TestServer, name: &str) -> Vec<String> {
    let lines = s.imap_as(
        "alice",
        &[
            &format!("EXAMINE {name}"),
            "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        ],
    );
    lines
        .iter()
        .filter_map(|l| {
            let at = l.to_ascii_lowercase().find("message-id:")?;
            let value = l[at + "message-id:".len()..].trim_start();
            let value = value.trim_start_matches('<');
            Some(value[..value.find(['>', '\r', '\n'])?].to_string())
        })
        .collect()
}

/// 4 moves to Archive and 3 deletions (to Trash) with a message another client marked
/// `\Deleted` in INBOX.
async fn scenario(server: &dyn TestServer, seed: u64, waits: bool) {
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed,
            count: 20,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let events = Arc::new(Recorder::default());
    engine.set_listener(Some(events.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(tap.addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(account, &metered()).await.unwrap();
    let (inbox, archive, trash) = (
        folder(&engine, account, "INBOX").await,
        folder(&engine, account, "Archive").await,
        folder(&engine, account, "Trash").await,
    );
    let all: Vec<(MessageId, u32)> = engine
        .messages(inbox, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| (m.id, m.uid))
        .collect();
    assert_eq!(all.len(), 20);
    let ids: Vec<MessageId> = all.iter().map(|m| m.0).collect();
    let (moved, deleted) = (&ids[..4], &ids[4..7]);
    let mut moved_mids = Vec::new();
    let mut bodies = Vec::new();
    for id in moved {
        bodies.push(engine.fetch_body(*id, NetworkKind::Metered).await.unwrap());
        moved_mids.push(
            engine
                .message(*id)
                .await
                .unwrap()
                .unwrap()
                .message_id
                .unwrap(),
        );
    }
    let mut deleted_mids = Vec::new();
    for id in deleted {
        deleted_mids.push(
            engine
                .message(*id)
                .await
                .unwrap()
                .unwrap()
                .message_id
                .unwrap(),
        );
    }
    // Another client marks one unrelated message \Deleted.
    let foreign = all[10].1;
    server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            &format!("UID STORE {foreign} +FLAGS.SILENT (\\Deleted)"),
        ],
    );
    engine.sync(account, &metered()).await.unwrap();

    engine.move_messages(moved, archive).await.unwrap();
    engine.delete_messages(deleted).await.unwrap();
    let report = engine.sync(account, &metered()).await.unwrap();
    println!("write-back sync: {:?}", report.folders);

    // The copies reached Archive and Trash exactly.
    let mut archive_mids = mids(server, "Archive");
    archive_mids.sort();
    moved_mids.sort();
    assert_eq!(archive_mids, moved_mids);
    let mut trash_mids = mids(server, "Trash");
    trash_mids.sort();
    deleted_mids.sort();
    assert_eq!(trash_mids, deleted_mids);
    let inbox_server = on_server(server, "INBOX");
    assert!(
        inbox_server[&foreign].contains(SystemFlags::DELETED),
        "the other client's message survives with its \\Deleted: {inbox_server:?}"
    );
    let pending = engine.pending_mailbox_operations(account).await.unwrap();
    let shown = stored(&engine, inbox).await;
    assert_eq!(shown.len(), 13, "ours are gone locally at once");
    if !waits {
        assert_eq!(inbox_server.len(), 13, "{inbox_server:?}");
        assert!(pending.is_empty(), "{pending:?}");
    } else {
        // Without UIDPLUS only a plain EXPUNGE could remove ours, and it would take the
        // other client's message too: ours stay marked \Deleted on the server, hidden here,
        // and wait (with the reason, not parked, no attempt counted).
        assert_eq!(inbox_server.len(), 20, "{inbox_server:?}");
        let marked = inbox_server
            .values()
            .filter(|f| f.contains(SystemFlags::DELETED))
            .count();
        assert_eq!(marked, 8);
        assert_eq!(pending.len(), 7, "{pending:?}");
        for op in &pending {
            assert!(!op.parked && op.attempts == 0, "{op:?}");
            let why = op.last_error.as_deref().unwrap();
            assert!(why.contains("UIDPLUS") && why.contains("waiting"), "{why}");
        }
        // A resync does not bring them back.
        let again = engine.sync(account, &metered()).await.unwrap();
        assert_eq!(again.added(), 0, "{:?}", again.folders);
        assert_eq!(stored(&engine, inbox).await.len(), 13);
        // The other client moves its message away (it keeps its \Deleted): now it is safe.
        server.imap_as(
            "alice",
            &["SELECT INBOX", &format!("UID MOVE {foreign} Junk")],
        );
        engine.sync(account, &metered()).await.unwrap();
        let junk = on_server(server, "Junk");
        assert_eq!(junk.len(), 1);
        assert!(junk.values().all(|f| f.contains(SystemFlags::DELETED)));
        let inbox_server = on_server(server, "INBOX");
        assert_eq!(inbox_server.len(), 12, "{inbox_server:?}");
        assert!(
            inbox_server
                .values()
                .all(|f| !f.contains(SystemFlags::DELETED))
        );
    }
    assert!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .is_empty()
    );

    // The store is the server, folder by folder.
    for (name, id) in [("INBOX", inbox), ("Archive", archive), ("Trash", trash)] {
        assert_eq!(stored(&engine, id).await, on_server(server, name), "{name}");
    }
    // Cached bodies followed the moved messages: nothing on the wire to read them.
    let mark = tap.mark();
    for (id, body) in moved.iter().zip(&bodies) {
        let m = engine.message(*id).await.unwrap().unwrap();
        assert_eq!(m.summary.folder, archive);
        let again = engine.fetch_body(*id, NetworkKind::Metered).await.unwrap();
        assert_eq!(&again, body);
    }
    assert_eq!(tap.stats_since(&mark).total(), 0, "no body refetched");
    let last = engine.sync(account, &metered()).await.unwrap();
    assert_eq!(
        (last.added(), last.changed(), last.removed()),
        (0, 0, 0),
        "{:?}",
        last.folders
    );
    drop(events);
}

// Only removals wait (without MOVE and UIDPLUS): with MOVE nothing is expunged by us at all.
async fn without_move_moves_and_deletes_reach_the_server_exactly(server: &dyn TestServer) {
    scenario(server, 141, false).await;
}

async fn without_uidplus_moves_and_deletes_reach_the_server_exactly(server: &dyn TestServer) {
    scenario(server, 142, false).await;
}

async fn without_move_or_uidplus_moves_and_deletes_reach_the_server_exactly(
    server: &dyn TestServer,
) {
    scenario(server, 143, true).await;
}

on_each_server_with!(
    no_move,
    Extensions {
        move_command: false,
        ..Extensions::default()
    },
    without_move_moves_and_deletes_reach_the_server_exactly
);
on_each_server_with!(
    no_uidplus,
    Extensions {
        uidplus: false,
        ..Extensions::default()
    },
    without_uidplus_moves_and_deletes_reach_the_server_exactly
);
on_each_server_with!(
    neither_move_nor_uidplus,
    Extensions {
        move_command: false,
        uidplus: false,
        ..Extensions::default()
    },
    without_move_or_uidplus_moves_and_deletes_reach_the_server_exactly
);
