//! Warm account sessions against a real Dovecot through the byte tap (issue 15): opening a
//! message on a warm connection costs one round trip and no handshake; an open during a
//! running sync overtakes it at the next committed window, and the sync then completes;
//! a cold open and the first screen stay within their round trips; two syncs of one account
//! never overlap, also across a credential swap; the ledger equals the wire under
//! concurrent work on one account.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{CancellationToken, Engine, EngineConfig, SessionConfig},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Flags, MessageId, SystemFlags},
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    tap::Tap,
};

struct Setup {
    server: Dovecot,
    tap: Tap,
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    account: AccountId,
}

/// Dovecot with `config`'s mailbox, and an engine with one account through the tap (not
/// synced yet).
async fn setup(config: GenConfig, session: SessionConfig) -> Setup {
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &config);
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server
        .engine_with_alice(
            tap.addr(),
            dir.path(),
            EngineConfig {
                session,
                ..EngineConfig::default()
            },
        )
        .await;
    Setup {
        server,
        tap,
        _dir: dir,
        engine: Arc::new(engine),
        account,
    }
}

fn everything() -> SyncRequest {
    SyncRequest {
        // Metered: headers and snippets, no prefetch (the bodies are what the tests open).
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

fn mailbox(count: usize, attachments: bool) -> GenConfig {
    GenConfig {
        seed: 15,
        count,
        mix: if attachments {
            SizeMix {
                attachment_prob: 1.0,
                medium_prob: 1.0,
                huge_prob: 0.0,
                max_attachment: 2 << 20,
            }
        } else {
            SizeMix::default()
        },
        ..GenConfig::default()
    }
}

async fn inbox_messages(s: &Setup, limit: u32) -> Vec<MessageId> {
    let inbox = s
        .engine
        .folders(s.account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let page = s.engine.messages(inbox.id, None, limit).await.unwrap();
    page.items.into_iter().map(|m| m.id).collect()
}

/// A message with an attachment of at least `min` bytes: (message, section).
async fn attachment_at_least(s: &Setup, min: u32) -> Option<(MessageId, String)> {
    for id in inbox_messages(s, 500).await {
        let detail = s.engine.message(id).await.unwrap().unwrap();
        if let Some(p) = detail
            .parts
            .iter()
            .find(|p| p.is_attachment && p.size >= min)
        {
            return Some((id, p.section.clone()));
        }
    }
    None
}

fn ledger_total(rows: &[anvert_core::store::UsageRow]) -> u64 {
    rows.iter().map(|r| r.bytes_up + r.bytes_down).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_open_costs_one_round_trip_and_no_handshake() {
    let s = setup(mailbox(40, true), SessionConfig::default()).await;
    s.engine.sync(s.account, &everything()).await.unwrap();
    let ids = inbox_messages(&s, 10).await;
    assert!(!ids.is_empty());

    // The sync's connection stays: opening a message is one FETCH on it.
    let mark = s.tap.mark();
    let body = s
        .engine
        .fetch_body(ids[0], NetworkKind::Unmetered)
        .await
        .unwrap();
    assert!(body.text.is_some() || body.html.is_some());
    let open = s.tap.stats_since(&mark);
    assert_eq!(open.connections, 0, "no new connection: {open:?}");
    assert_eq!(open.round_trips, 1, "one round trip: {open:?}");

    // A 1 MiB attachment: chunks only, no connection setup.
    let (message, section) = attachment_at_least(&s, 1 << 20)
        .await
        .expect("an attachment");
    let dest = tempfile::tempdir().unwrap();
    let mark = s.tap.mark();
    s.engine
        .download_part(
            message,
            &section,
            dest.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let download = s.tap.stats_since(&mark);
    assert_eq!(download.connections, 0, "no new connection: {download:?}");

    // The ledger has every byte of the one connection so far, to the byte.
    s.engine.close_connections().await.unwrap();
    let ledger = ledger_total(&s.engine.usage(s.account).await.unwrap());
    assert_eq!(ledger, s.tap.stats().total());
    assert_eq!(
        s.tap.stats().connections,
        1,
        "one connection for everything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_open_costs_at_most_five_round_trips_after_connect() {
    // Today's path, kept behind `warm: false`: connect, log in, fetch, log out.
    let s = setup(
        mailbox(20, false),
        SessionConfig {
            warm: false,
            ..SessionConfig::default()
        },
    )
    .await;
    s.engine.sync(s.account, &everything()).await.unwrap();
    let ids = inbox_messages(&s, 5).await;
    s.tap.wait_all_closed(Duration::from_secs(10));
    let mark = s.tap.mark();
    s.engine
        .fetch_body(ids[0], NetworkKind::Unmetered)
        .await
        .unwrap();
    assert!(s.tap.wait_all_closed(Duration::from_secs(10)));
    let cold = s.tap.stats_since(&mark);
    // The tap counts the TLS 1.3 handshake as two turns (its second carries the greeting):
    // five round trips counting the handshake as one are six turns, LOGOUT included.
    eprintln!("cold open: {cold:?}");
    assert_eq!(cold.connections, 1);
    assert!(cold.round_trips <= 6, "{cold:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_screen_costs_four_round_trips_after_tls() {
    let s = setup(mailbox(300, false), SessionConfig::default()).await;
    let screen = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow {
            min_messages: 50,
            max_age_days: None,
            ..SyncWindow::default()
        },
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let mark = s.tap.mark();
    let report = s.engine.sync(s.account, &screen).await.unwrap();
    assert!(report.added() >= 50);
    let stats = s.tap.stats_since(&mark);
    // Two turns of TLS handshake and greeting; the connection stays warm (no LOGOUT).
    let after_tls = stats.round_trips - 2;
    eprintln!("first screen: {after_tls} round trips after TLS ({stats:?})");
    assert!(after_tls <= 4, "{stats:?}");
}

/// Records when each event arrived.
#[derive(Default)]
struct Timeline {
    events: Mutex<Vec<(Instant, SyncEvent)>>,
    arrived: tokio::sync::Notify,
}

impl EventSink for Timeline {
    fn emit(&self, event: SyncEvent) {
        self.events.lock().unwrap().push((Instant::now(), event));
        self.arrived.notify_waiters();
    }
}

impl Timeline {
    fn windows_between(&self, from: Instant, to: Instant) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, e)| {
                *at > from && *at <= to && matches!(e, SyncEvent::MessagesAdded { .. })
            })
            .count()
    }
    /// Waits (at most a minute) until the sync has stored its first window.
    async fn first_window(&self) {
        let stored = async {
            loop {
                let arrived = self.arrived.notified();
                if self.added() > 0 {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), stored)
            .await
            .expect("no window stored");
    }

    fn added(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| matches!(e, SyncEvent::MessagesAdded { .. }))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_during_the_initial_sync_overtakes_it_and_the_sync_completes() {
    const COUNT: usize = 10_000;
    let s = setup(mailbox(COUNT, false), SessionConfig::default()).await;
    let timeline = Arc::new(Timeline::default());
    s.engine.set_listener(Some(timeline.clone()));
    let engine = s.engine.clone();
    let account = s.account;
    let sync = tokio::spawn(async move { engine.sync(account, &everything()).await });

    // Once the first window is stored, open its newest message.
    timeline.first_window().await;
    let newest = inbox_messages(&s, 1).await[0];
    let asked = Instant::now();
    let mark = s.tap.mark();
    s.engine
        .fetch_body(newest, NetworkKind::Unmetered)
        .await
        .unwrap();
    let arrived = Instant::now();
    let open = s.tap.stats_since(&mark);
    let windows = timeline.windows_between(asked, arrived);
    eprintln!("open during sync: {windows} windows committed meanwhile, {open:?}");
    assert!(
        !sync.is_finished(),
        "the body came before the sync finished"
    );
    // The window being read and at most one behind it are read first; the body's FETCH is
    // one round trip on the shared connection (a turn more may be the sync carrying on
    // before the body is stored).
    assert!(windows <= 2, "{windows} windows before the body");
    assert!(open.round_trips <= 3, "{open:?}");
    assert_eq!(open.connections, 0, "{open:?}");

    let report = sync.await.unwrap().unwrap();
    assert_eq!(report.added(), COUNT as u64, "{report:?}");
    assert_eq!(report.stopped, None);
    let inbox = s
        .engine
        .folders(s.account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    assert_eq!(inbox.total as usize, COUNT);
    assert_eq!(s.tap.stats().connections, 1, "one connection shared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_syncs_of_one_account_never_overlap_across_a_credential_swap() {
    const COUNT: usize = 3_000;
    let s = setup(mailbox(COUNT, false), SessionConfig::default()).await;
    let timeline = Arc::new(Timeline::default());
    s.engine.set_listener(Some(timeline.clone()));
    let (e1, e2) = (s.engine.clone(), s.engine.clone());
    let account = s.account;
    let first = tokio::spawn(async move { e1.sync(account, &everything()).await });
    timeline.first_window().await;
    // The app hands over the password again (as after an update) mid-sync, then syncs.
    s.engine
        .set_credential(account, s.server.credential("alice"))
        .await
        .unwrap();
    let second = tokio::spawn(async move { e2.sync(account, &everything()).await });
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    // Had they overlapped, both would have walked the new folder's windows.
    assert_eq!(first.added(), COUNT as u64, "{first:?}");
    assert_eq!(second.added(), 0, "{second:?}");
    assert_eq!(
        s.engine
            .folders(account)
            .await
            .unwrap()
            .iter()
            .find(|f| f.name == "INBOX")
            .unwrap()
            .total as usize,
        COUNT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_equals_the_wire_under_concurrent_work_on_one_account() {
    let s = setup(mailbox(200, true), SessionConfig::default()).await;
    let headers = SyncRequest {
        window: SyncWindow {
            min_messages: 50,
            max_age_days: None,
            ..SyncWindow::default()
        },
        ..everything()
    };
    s.engine.sync(s.account, &headers).await.unwrap();
    let ids = inbox_messages(&s, 50).await;
    let mut parts = Vec::new();
    for id in &ids {
        let d = s.engine.message(*id).await.unwrap().unwrap();
        if let Some(p) = d.parts.iter().find(|p| p.is_attachment && p.size > 100_000) {
            parts.push((*id, p.section.clone()));
        }
    }
    assert!(parts.len() >= 2, "two attachments");
    // A flag change to write back, then everything at once.
    s.engine
        .set_flags(
            &ids[..5],
            Flags {
                system: SystemFlags::FLAGGED,
                keywords: vec![],
            },
            Flags::default(),
        )
        .await
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    let (request, cancel) = (everything(), CancellationToken::new());
    let (sync, body, d1, d2) = tokio::join!(
        s.engine.sync(s.account, &request),
        s.engine.fetch_body(ids[10], NetworkKind::Unmetered),
        s.engine.download_part(
            parts[0].0,
            &parts[0].1,
            dest.path(),
            NetworkKind::Unmetered,
            None,
            &cancel
        ),
        s.engine.download_part(
            parts[1].0,
            &parts[1].1,
            dest.path(),
            NetworkKind::Unmetered,
            None,
            &cancel
        ),
    );
    sync.unwrap();
    body.unwrap();
    d1.unwrap();
    d2.unwrap();
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    s.engine.close_connections().await.unwrap();
    assert!(s.tap.wait_all_closed(Duration::from_secs(10)));
    let wire = s.tap.stats();
    let ledger = ledger_total(&s.engine.usage(s.account).await.unwrap());
    let rows = s.engine.usage(s.account).await.unwrap();
    let (up, down) = rows
        .iter()
        .fold((0, 0), |(u, d), r| (u + r.bytes_up, d + r.bytes_down));
    eprintln!(
        "ledger {ledger} B (up {up}, down {down}), wire {} B (up {}, down {}), {} connections",
        wire.total(),
        wire.up,
        wire.down,
        wire.connections
    );
    assert_eq!(ledger, wire.total(), "to the byte");
    for c in s.tap.connections() {
        eprintln!("connection {}: {} B", c.id, c.up + c.down);
    }
    assert_eq!(wire.connections, 1, "everything shared the warm connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_connection_that_died_while_idle_is_replaced_for_reads_and_syncs() {
    let s = setup(mailbox(30, false), SessionConfig::default()).await;
    s.engine.sync(s.account, &everything()).await.unwrap();
    let ids = inbox_messages(&s, 5).await;
    assert_eq!(s.tap.stats().connections, 1);

    // The server's side goes away while the connection is idle: the next answer never comes.
    s.tap.cut_after(0);
    let body = s
        .engine
        .fetch_body(ids[0], NetworkKind::Metered)
        .await
        .expect("a read reconnects invisibly");
    assert!(body.text.is_some() || body.html.is_some());
    assert_eq!(s.tap.stats().connections, 2, "replaced once");

    s.tap.cut_after(0);
    let report = s
        .engine
        .sync(s.account, &everything())
        .await
        .expect("a sync on a dead warm connection starts over on a new one");
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(s.tap.stats().connections, 3, "replaced once");
}
