//! Search on the server while a sync runs (issue 16, item 5): the search is user work, so
//! the initial sync of a large folder (slowed by the tap's bandwidth cap) yields the warm
//! connection at its next clean point; the search's page arrives before the sync ends, on
//! the same connection. Its hits are old messages the sync has not reached yet: they are
//! stored outside the window, and when the sync's windows reach them they become part of
//! it (no duplicate rows, nothing left marked).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anvert_core::{
    engine::{EngineConfig, SearchPageRequest, SearchQuery},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    client::engine_with_alice,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    tap::Tap,
};

const COUNT: usize = 3000;

#[derive(Default)]
struct Added {
    count: Mutex<usize>,
    arrived: tokio::sync::Notify,
}

impl EventSink for Added {
    fn emit(&self, event: SyncEvent) {
        if matches!(event, SyncEvent::MessagesAdded { .. }) {
            *self.count.lock().unwrap() += 1;
            self.arrived.notify_waiters();
        }
    }
}

impl Added {
    async fn first(&self) {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                if *self.count.lock().unwrap() > 0 {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("no window stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_during_the_initial_sync_overtakes_it_and_the_sync_takes_its_hits_in() {
    let server = Dovecot::start();
    let truth = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 95,
            count: COUNT,
            mix: SizeMix {
                attachment_prob: 0.0,
                ..SizeMix::default()
            },
            ..GenConfig::default()
        },
    );
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) =
        engine_with_alice(&server, tap.addr(), dir.path(), EngineConfig::default()).await;
    let engine = Arc::new(engine);
    let added = Arc::new(Added::default());
    engine.set_listener(Some(added.clone()));
    // Slow enough that the sync is still running when the search is answered.
    tap.set_rate(Some(256 << 10));
    let syncing = engine.clone();
    let sync = tokio::spawn(async move {
        let request = SyncRequest {
            network: NetworkKind::Metered,
            window: SyncWindow::everything(),
            folders: vec!["INBOX".into()],
            ..SyncRequest::default()
        };
        syncing.sync(account, &request).await
    });
    added.first().await;
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap()
        .id;

    // The oldest messages: the sync, newest first, is far from them.
    let before = {
        let d = truth[100].date;
        d - d.rem_euclid(86_400)
    };
    let mark = tap.mark();
    let page = engine
        .search_server(
            account,
            Some(inbox),
            &SearchQuery {
                before: Some(before),
                ..SearchQuery::default()
            },
            &SearchPageRequest {
                size: 10,
                after: None,
            },
            NetworkKind::Metered,
        )
        .await
        .unwrap();
    let spent = tap.stats_since(&mark);
    eprintln!("search during sync: {spent:?}");
    assert!(!sync.is_finished(), "the sync ended before the search");
    assert_eq!(
        spent.connections, 0,
        "the warm connection was shared: {spent:?}"
    );
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.fetched, 10, "old messages, not synced yet");
    let hits: Vec<u32> = page.items.iter().map(|m| m.uid).collect();
    assert!(
        engine
            .store()
            .outside_window_uids(inbox)
            .await
            .unwrap()
            .iter()
            .all(|u| hits.contains(u))
    );

    tap.set_rate(None);
    let report = sync.await.unwrap().unwrap();
    assert_eq!(report.stopped, None, "{report:?}");
    let store = engine.store();
    assert_eq!(store.message_count(inbox).await.unwrap() as usize, COUNT);
    assert!(store.outside_window_uids(inbox).await.unwrap().is_empty());
    let listed = engine.messages(inbox, None, 500).await.unwrap();
    assert_eq!(listed.items.len(), 500);
    for m in &page.items {
        assert_eq!(
            store.stored_among(inbox, &[m.uid]).await.unwrap(),
            [(m.uid, m.id)],
            "the hit's row is the one the sync kept"
        );
    }
}
