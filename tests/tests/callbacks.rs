//! App callbacks off the engine's work, against a real Dovecot: a download listener whose
//! `progress` blocks does not hold the download up (it returns while the callback is still
//! blocked; the listener then gets the latest progress), and a watch listener whose
//! `on_event` blocks does not hold a sync up (the sync returns while it is blocked; the
//! watch then catches up, with a fresh snapshot in place of what its queue could not hold).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{CancellationToken, Engine, EngineConfig, ProgressListener},
    events::{Dispatcher, WatchEvent, WatchListener, WatchScope, Watches},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anvert_tests::{
    dovecot::{Dovecot, DovecotOptions},
    generator::{GenConfig, SizeMix},
};

/// How long a blocked callback waits for the test to release it, at most.
const BLOCK: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(30);

/// The first call blocks until the test releases it (or `BLOCK` passes).
struct Latch {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
    /// Set when the first call returns.
    first_returned: AtomicBool,
}

impl Latch {
    fn new() -> (Latch, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let latch = Latch {
            entered: Mutex::new(Some(entered_tx)),
            release: Mutex::new(release_rx),
            first_returned: AtomicBool::new(false),
        };
        (latch, entered, release)
    }

    fn block_first(&self) {
        let Some(entered) = self.entered.lock().unwrap().take() else {
            return;
        };
        entered.send(()).unwrap();
        let _ = self.release.lock().unwrap().recv_timeout(BLOCK);
        self.first_returned.store(true, Ordering::Release);
    }
}

struct BlockingProgress {
    latch: Latch,
    calls: Mutex<Vec<(u64, u64)>>,
    heard: Mutex<mpsc::Sender<(u64, u64)>>,
}

impl ProgressListener for BlockingProgress {
    fn progress(&self, done: u64, total: u64) {
        self.calls.lock().unwrap().push((done, total));
        self.heard.lock().unwrap().send((done, total)).unwrap();
        self.latch.block_first();
    }
}

struct BlockingWatch {
    latch: Latch,
    heard: Mutex<mpsc::Sender<WatchEvent>>,
}

impl WatchListener for BlockingWatch {
    fn on_event(&self, event: WatchEvent) {
        self.heard.lock().unwrap().send(event).unwrap();
        self.latch.block_first();
    }
}

async fn engine(server: &Dovecot, dir: &std::path::Path) -> (Engine, AccountId) {
    server
        .engine_with_alice(server.imaps_addr(), dir, EngineConfig::default())
        .await
}

fn everything() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

/// Blocks the test's thread (not the runtime's) until `rx` hears.
async fn recv<T: Send + 'static>(rx: mpsc::Receiver<T>) -> (T, mpsc::Receiver<T>) {
    tokio::task::spawn_blocking(move || (rx.recv_timeout(WAIT).unwrap(), rx))
        .await
        .unwrap()
}

/// The stored message with the largest attachment, and its section.
async fn largest_attachment(engine: &Engine, account: AccountId) -> (MessageId, String, u32) {
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let mut best: Option<(MessageId, String, u32)> = None;
    for m in engine.messages(inbox.id, None, 100).await.unwrap().items {
        let detail = engine.message(m.id).await.unwrap().unwrap();
        for p in detail.parts.into_iter().filter(|p| p.is_attachment) {
            if best.as_ref().is_none_or(|b| p.size > b.2) {
                best = Some((m.id, p.section, p.size));
            }
        }
    }
    best.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_progress_listener_does_not_slow_the_download() {
    let server = Dovecot::start_with(DovecotOptions::default());
    let mix = SizeMix {
        attachment_prob: 1.0,
        medium_prob: 1.0,
        huge_prob: 0.0,
        max_attachment: 4 << 20,
    };
    let config = GenConfig {
        seed: 15,
        count: 4,
        mix,
        ..GenConfig::default()
    };
    server.deliver_generated("alice", None, &config);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine(&server, dir.path()).await;
    engine.sync(account, &everything()).await.unwrap();
    let (message, section, size) = largest_attachment(&engine, account).await;
    assert!(size >= 1 << 20, "a {size} B attachment");
    let downloads = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();

    // The time the download takes without a listener.
    let started = Instant::now();
    let path = engine
        .download_part(
            message,
            &section,
            downloads.path(),
            NetworkKind::Unmetered,
            None,
            &cancel,
        )
        .await
        .unwrap();
    let alone = started.elapsed();
    let whole = std::fs::read(&path).unwrap();
    engine.delete_download(message, &section).await.unwrap();

    // Now with a listener whose first call blocks, through the dispatcher.
    let dispatcher = Dispatcher::new(anvert_core::events::DEFAULT_CAPACITY).unwrap();
    let (latch, entered, release) = Latch::new();
    let (heard_tx, heard) = mpsc::channel();
    let listener = Arc::new(BlockingProgress {
        latch,
        calls: Mutex::new(Vec::new()),
        heard: Mutex::new(heard_tx),
    });
    let progress = dispatcher.progress(listener.clone());
    let started = Instant::now();
    let path = engine
        .download_part(
            message,
            &section,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(progress.as_ref()),
            &cancel,
        )
        .await
        .unwrap();
    let blocked = started.elapsed();
    // The download finished while its listener's first call was still blocked.
    assert!(
        !listener.latch.first_returned.load(Ordering::Acquire),
        "the download waited for its progress listener ({blocked:?})"
    );
    eprintln!("download of {size} B: {alone:?} alone, {blocked:?} with a blocked listener");
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    let ((), _) = recv(entered).await;
    release.send(()).unwrap();
    // Then the listener hears the latest value: the whole part, coalesced.
    let mut heard = heard;
    loop {
        let ((done, total), rest) = recv(heard).await;
        heard = rest;
        if done == total {
            break;
        }
    }
    let calls = listener.calls.lock().unwrap().clone();
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0), "{calls:?}");
    assert_eq!(calls.last().unwrap().0, u64::from(size));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_watch_listener_does_not_slow_the_sync() {
    const MESSAGES: u32 = 400;
    let server = Dovecot::start_with(DovecotOptions::default());
    let config = GenConfig {
        seed: 16,
        count: MESSAGES as usize,
        ..GenConfig::default()
    };
    server.deliver_generated("alice", None, &config);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine(&server, dir.path()).await;
    // A small queue, so that the sync's events overflow it while the listener blocks.
    let dispatcher = Dispatcher::new(4).unwrap();
    let watches = Arc::new(Watches::new(engine.store().clone(), dispatcher.sender()));
    engine.set_listener(Some(watches.clone()));
    let (latch, entered, release) = Latch::new();
    let (heard_tx, heard) = mpsc::channel();
    let listener = Arc::new(BlockingWatch {
        latch,
        heard: Mutex::new(heard_tx),
    });
    let (watch, _stop) = watches.watch(WatchScope::Account(account), 0, listener.clone());
    tokio::spawn(watch.run(CancellationToken::new()));
    // The listener blocks in its first event, the (empty) folder snapshot.
    let ((), _) = recv(entered).await;

    let report = engine.sync(account, &everything()).await.unwrap();
    assert_eq!(report.added(), u64::from(MESSAGES));
    assert!(
        !listener.latch.first_returned.load(Ordering::Acquire),
        "the sync waited for the watch's listener"
    );
    release.send(()).unwrap();

    // The watch catches up: the deltas it could queue (4 here), then a fresh snapshot with
    // all of INBOX in place of those it could not.
    let mut heard = heard;
    let (mut added, mut snapshots) = (0u64, 0);
    loop {
        let (event, rest) = recv(heard).await;
        heard = rest;
        match event {
            WatchEvent::FoldersSnapshot { folders, .. } => {
                snapshots += 1;
                if folders
                    .iter()
                    .any(|f| f.name == "INBOX" && f.total == MESSAGES)
                {
                    break;
                }
            }
            WatchEvent::MessagesAdded { uids, .. } => {
                added += uids.len() as u64;
                if added == u64::from(MESSAGES) {
                    break;
                }
            }
            _ => {}
        }
    }
    eprintln!("the watch caught up with {snapshots} snapshots and {added} added UIDs");
    assert!(snapshots >= 2, "no resync after the overflow");
}
