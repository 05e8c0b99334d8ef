//! Keepalive against real servers (push on Dovecot and Cyrus) through the tap in blackhole mode (a NAT that forgot
//! the mapping: nothing is forwarded, nothing is closed). A push connection is found dead
//! within its IDLE interval plus the timeout and replaced; push delivers mail that arrives
//! once the link is back. A warm command connection is probed before reuse, and no call
//! hangs past its timeouts while the link is dead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{CancellationToken, Engine, EngineConfig, SessionConfig},
    imap::ConnectOptions,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    client::engine_with_alice,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};

/// The timeout for every network wait, and the IDLE interval, in this test.
const TIMEOUT: Duration = Duration::from_secs(2);
const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<SyncEvent>>,
    arrived: tokio::sync::Notify,
}

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.events.lock().unwrap().push(event);
        self.arrived.notify_waiters();
    }
}

impl Recorder {
    /// Waits until more than `n` messages were added, at most `deadline`; whether they were.
    async fn added_more_than(&self, n: usize, deadline: Duration) -> bool {
        let more = async {
            loop {
                let arrived = self.arrived.notified();
                if self.added() > n {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(deadline, more).await.is_ok()
    }

    fn added(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| match e {
                SyncEvent::MessagesAdded { uids, .. } => uids.len(),
                _ => 0,
            })
            .sum()
    }
}

fn mail(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

async fn engine(
    server: &dyn TestServer,
    tap: &Tap,
    dir: &std::path::Path,
) -> (Arc<Engine>, anvert_core::store::AccountId) {
    let config = EngineConfig {
        connect: ConnectOptions {
            timeout: TIMEOUT,
            ..ConnectOptions::default()
        },
        session: SessionConfig {
            idle_interval: INTERVAL,
            probe_after: Duration::ZERO,
            probe_timeout: TIMEOUT,
            ..SessionConfig::default()
        },
        ..EngineConfig::default()
    };
    let (engine, account) = engine_with_alice(server, tap.addr(), dir, config).await;
    (Arc::new(engine), account)
}

async fn a_blackholed_push_connection_is_replaced_and_push_delivers_after_the_link_returns(
    server: &dyn TestServer,
) {
    server.deliver_generated("alice", None, &mail(41, 10));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine(server, &tap, dir.path()).await;
    let recorder = Arc::new(Recorder::default());
    engine.set_listener(Some(recorder.clone()));
    let cancel = CancellationToken::new();
    let request = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let push = tokio::spawn({
        let (engine, cancel, request) = (engine.clone(), cancel.clone(), request.clone());
        async move {
            engine
                .push(
                    account,
                    "INBOX",
                    &request,
                    Duration::from_secs(15 * 60),
                    cancel,
                )
                .await
        }
    });
    assert!(recorder.added_more_than(9, Duration::from_secs(30)).await);
    // One IDLE survived and was re-issued: the push connection is idling.
    let turns = tap.stats().round_trips;
    assert!(tap.wait_until(Duration::from_secs(10), |s| s.round_trips > turns + 1));

    // The NAT forgets the connection.
    let connections = tap.stats().connections;
    tap.set_blackhole(true);
    let dead_at = Instant::now();
    // Found dead at the next re-issue (within the interval), DONE's reply not arriving
    // (within the timeout): a new connection is attempted.
    let slack = Duration::from_secs(2);
    assert!(
        tap.wait_until(INTERVAL + TIMEOUT + slack, |s| s.connections > connections),
        "no new connection within the interval plus the timeout"
    );
    let detected = dead_at.elapsed();
    eprintln!("dead push connection replaced after {detected:?}");
    assert!(!push.is_finished(), "push keeps going");

    // The link comes back; mail that arrives now is pushed.
    tap.set_blackhole(false);
    let before = recorder.added();
    // Wait until push has reconnected and idles again (a relayed connection turns round).
    let relayed = tap.stats().round_trips;
    assert!(tap.wait_until(Duration::from_secs(30), |s| s.round_trips > relayed + 3));
    server.deliver_generated("alice", None, &mail(42, 1));
    let pushed = recorder
        .added_more_than(before, Duration::from_secs(30))
        .await;
    if !pushed && push.is_finished() {
        panic!("push ended: {:?}\n{}", push.await, server.log());
    }
    assert!(pushed, "the new message was pushed\n{}", server.log());
    cancel.cancel();
    push.await.unwrap().unwrap();
}

on_each_server!(a_blackholed_push_connection_is_replaced_and_push_delivers_after_the_link_returns);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_warm_connection_is_probed_and_no_call_hangs() {
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &mail(43, 10));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine(&server, &tap, dir.path()).await;
    engine
        .sync(
            account,
            &SyncRequest {
                network: NetworkKind::Metered,
                window: SyncWindow::everything(),
                ..SyncRequest::default()
            },
        )
        .await
        .unwrap();
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let ids: Vec<_> = engine
        .messages(inbox.id, None, 10)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.id)
        .collect();

    tap.set_blackhole(true);
    // The warm connection does not answer NOOP within the timeout; a new one cannot be
    // made either: the call fails within the probe's and the connect's timeouts.
    let started = Instant::now();
    let err = engine
        .fetch_body(ids[0], NetworkKind::Metered)
        .await
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("open over a dead link: {err:?} after {took:?}");
    assert!(took < TIMEOUT * 2 + Duration::from_secs(2), "{took:?}");

    // The link comes back: the next open connects anew and works.
    tap.set_blackhole(false);
    let connections = tap.stats().connections;
    let body = engine
        .fetch_body(ids[1], NetworkKind::Metered)
        .await
        .unwrap();
    assert!(body.text.is_some() || body.html.is_some());
    assert!(tap.stats().connections > connections, "a new connection");
}
