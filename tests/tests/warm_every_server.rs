//! The warm session's read path on both real servers (`on_each_server!`): opening a message
//! in the selected folder is one FETCH, in another folder one EXAMINE+FETCH flight, on the
//! sync's connection; and a connection whose first work was a read (EXAMINE, no ENABLE)
//! still syncs with CONDSTORE/QRESYNC afterwards (UNSELECT, ENABLE and SELECT in one flight),
//! picking up new mail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    engine::{Engine, EngineConfig},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anvert_tests::{
    client::engine_with_alice,
    generator::{GenConfig, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};

fn mailbox(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

fn both_folders() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into(), "Archive".into()],
        ..SyncRequest::default()
    }
}

/// The newest message of `folder` whose body is not stored yet.
async fn unopened(engine: &Engine, account: AccountId, folder: &str) -> MessageId {
    let id = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == folder)
        .unwrap()
        .id;
    for m in engine.messages(id, None, 100).await.unwrap().items {
        if engine.store().body(m.id).await.unwrap().is_none() {
            return m.id;
        }
    }
    panic!("every message of {folder} is opened");
}

async fn reads_share_the_warm_connection_and_a_read_first_session_still_syncs(
    server: &dyn TestServer,
) {
    server.deliver_generated("alice", None, &mailbox(51, 40));
    server.deliver_generated("alice", Some("Archive"), &mailbox(52, 20));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) =
        engine_with_alice(server, tap.addr(), dir.path(), EngineConfig::default()).await;
    let report = engine.sync(account, &both_folders()).await.unwrap();
    assert!(report.errors.is_empty(), "{}: {report:?}", server.name());
    assert_eq!(report.added(), 60, "{}", server.name());

    // The sync left a folder selected; a read there is one FETCH, a read in the other
    // folder one EXAMINE+FETCH flight: one round trip each, on the same connection.
    for folder in ["Archive", "INBOX", "Archive"] {
        let message = unopened(&engine, account, folder).await;
        let mark = tap.mark();
        let body = engine
            .fetch_body(message, NetworkKind::Metered)
            .await
            .unwrap_or_else(|e| panic!("{}: {folder}: {e}\n{}", server.name(), server.log()));
        assert!(body.text.is_some() || body.html.is_some());
        let open = tap.stats_since(&mark);
        assert_eq!(
            (open.round_trips, open.connections),
            (1, 0),
            "{}: {folder}: {open:?}",
            server.name()
        );
    }

    // A new connection whose first work is a read (EXAMINE, no ENABLE), then a sync on it.
    engine.close_connections().await.unwrap();
    let message = unopened(&engine, account, "Archive").await;
    engine
        .fetch_body(message, NetworkKind::Metered)
        .await
        .unwrap();
    let connections = tap.stats().connections;
    server.deliver_generated("alice", None, &mailbox(53, 5));
    let report = engine
        .sync(account, &both_folders())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}: sync after a read: {e}\n{}",
                server.name(),
                server.log()
            )
        });
    assert!(report.errors.is_empty(), "{}: {report:?}", server.name());
    assert_eq!(report.added(), 5, "{}: {report:?}", server.name());
    assert_eq!(
        tap.stats().connections,
        connections,
        "{}: the sync used the read's connection",
        server.name()
    );
    engine.close_connections().await.unwrap();
    assert!(tap.wait_all_closed(std::time::Duration::from_secs(10)));
    let ledger: u64 = engine
        .usage(account)
        .await
        .unwrap()
        .iter()
        .map(|r| r.bytes_up + r.bytes_down)
        .sum();
    assert_eq!(
        ledger,
        tap.stats().total(),
        "{}: ledger = wire",
        server.name()
    );
}

on_each_server!(reads_share_the_warm_connection_and_a_read_first_session_still_syncs);
