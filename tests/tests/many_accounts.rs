//! Many accounts at once (issue 19, point 4): ten IMAP accounts of one engine sync at the same
//! time on a runtime of two workers, as the bindings run the engine (`bindings/src/tasks.rs`,
//! `WORKERS`), against one private Dovecot with ten users. Each account completes with
//! exactly its own mailbox in the store; none starves (every account has committed its first
//! window before any account's sync returns); and each account's watch, the listener path
//! the bindings use (`Watches` as the engine's event sink, one account watch per account, the
//! dispatcher's thread calling the listener), hears that account's events in commit order.
//!
//! The time of the same work, concurrent beside one account after another, is the
//! `many_accounts` benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{CancellationToken, Engine, EngineConfig},
    events::{DEFAULT_CAPACITY, Dispatcher, WatchEvent, WatchListener, WatchScope, Watches},
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, FolderId},
    sync::{EventSink, SyncEvent, SyncReport},
};
use anvert_tests::{
    accounts::{add_accounts, dovecot_with_inboxes},
    generator::{GenConfig, SizeMix},
};

const ACCOUNTS: usize = 10;
/// Messages in the first account's INBOX; account `i` has `i * 7` more, so that two accounts
/// never hold the same count and a store that mixed them up could not pass.
const MESSAGES: usize = 1_500;
/// How long the syncs, and then the watches' deliveries, may take at most.
const WAIT: Duration = Duration::from_secs(120);

fn count(i: usize) -> usize {
    MESSAGES + i * 7
}

/// One global order for everything the test observes from the engine's side: each sync event
/// when it is emitted (right after its commit) and each sync's return.
#[derive(Default)]
struct Clock(AtomicU64);

impl Clock {
    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// The engine's event sink: records every event in emission order (the syncs emit each one
/// right after the commit it describes), then hands it to the watches, as the bindings'
/// `Watches` is the engine's listener.
struct Tee {
    clock: Arc<Clock>,
    log: Mutex<Vec<(u64, Instant, SyncEvent)>>,
    watches: Arc<Watches>,
}

impl EventSink for Tee {
    fn emit(&self, event: SyncEvent) {
        // Under the lock, so the log's order is the clock's.
        let mut log = self.log.lock().unwrap();
        log.push((self.clock.tick(), Instant::now(), event.clone()));
        self.watches.emit(event);
    }
}

/// An account watch's listener, called on the dispatcher's thread.
struct Heard {
    events: Mutex<Vec<WatchEvent>>,
    count: tokio::sync::watch::Sender<usize>,
}

impl WatchListener for Heard {
    fn on_event(&self, event: WatchEvent) {
        self.events.lock().unwrap().push(event);
        self.count.send_modify(|n| *n += 1);
    }
}

/// An event reduced to what both the engine's and the watch's form say, for comparing them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    FoldersChanged,
    Added(FolderId, Vec<u32>),
    Progress(FolderId, u32, u32),
    /// Any other kind, by name: an initial sync of these mailboxes should emit none.
    Other(String),
}

fn from_sync(event: &SyncEvent) -> Seen {
    match event {
        SyncEvent::FoldersChanged { .. } => Seen::FoldersChanged,
        SyncEvent::MessagesAdded { folder, uids } => Seen::Added(*folder, uids.clone()),
        SyncEvent::Progress {
            folder,
            synced,
            total,
        } => Seen::Progress(*folder, *synced, *total),
        other => Seen::Other(kind(&format!("{other:?}"))),
    }
}

fn from_watch(event: &WatchEvent) -> Seen {
    match event {
        WatchEvent::FoldersChanged { .. } => Seen::FoldersChanged,
        WatchEvent::MessagesAdded { folder, uids } => Seen::Added(*folder, uids.clone()),
        WatchEvent::SyncProgress {
            folder,
            synced,
            total,
        } => Seen::Progress(*folder, *synced, *total),
        other => Seen::Other(kind(&format!("{other:?}"))),
    }
}

/// The variant name at the start of a `Debug` rendering.
fn kind(debug: &str) -> String {
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or("")
        .to_string()
}

/// The position of the account an event belongs to, given every account's folders.
fn account_of(
    event: &SyncEvent,
    accounts: &BTreeMap<AccountId, usize>,
    folders: &BTreeMap<FolderId, usize>,
) -> Option<usize> {
    let folder = match event {
        SyncEvent::FoldersChanged { account } | SyncEvent::OutboxChanged { account, .. } => {
            return accounts.get(account).copied();
        }
        SyncEvent::MessagesAdded { folder, .. }
        | SyncEvent::MessagesChanged { folder, .. }
        | SyncEvent::MessagesRemoved { folder, .. }
        | SyncEvent::MessagesIncomplete { folder, .. }
        | SyncEvent::KeywordsLocalOnly { folder, .. }
        | SyncEvent::FolderReset { folder }
        | SyncEvent::ChangeDropped { folder, .. }
        | SyncEvent::Progress { folder, .. } => folder,
        _ => return None,
    };
    folders.get(folder).copied()
}

fn headers_only() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        content: Some(ContentPolicy {
            snippets: false,
            prefetch_bodies: 0,
            prefetch_attachments_max: None,
            ..ContentPolicy::for_network(NetworkKind::Unmetered)
        }),
        ..SyncRequest::default()
    }
}

/// Waits until `rx`'s count reaches `n`.
async fn wait_count(rx: &mut tokio::sync::watch::Receiver<usize>, n: usize, what: &str) {
    let waited = tokio::time::timeout(WAIT, rx.wait_for(|c| *c >= n))
        .await
        .map(|r| r.is_ok());
    assert!(
        waited == Ok(true),
        "{what}: {} of {n} events after {WAIT:?}",
        *rx.borrow()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_accounts_sync_at_once_on_two_workers() {
    let started = Instant::now();
    let mailboxes: Vec<GenConfig> = (0..ACCOUNTS)
        .map(|i| GenConfig {
            seed: 1_900 + i as u64,
            count: count(i),
            mix: SizeMix::small(),
            ..GenConfig::default()
        })
        .collect();
    let (server, truths) = dovecot_with_inboxes(&mailboxes);
    let setup = started.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        Engine::open(EngineConfig {
            data_dir: dir.path().to_path_buf(),
            extra_roots_pem: Some(server.pki.ca_pem.clone()),
            ..EngineConfig::default()
        })
        .await
        .unwrap(),
    );
    let dispatcher = Dispatcher::new(DEFAULT_CAPACITY).unwrap();
    let watches = Arc::new(Watches::new(engine.store().clone(), dispatcher.sender()));
    let clock = Arc::new(Clock::default());
    let tee = Arc::new(Tee {
        clock: clock.clone(),
        log: Mutex::new(Vec::new()),
        watches: watches.clone(),
    });
    engine.set_listener(Some(tee.clone()));

    let accounts = add_accounts(&engine, server.imaps_addr(), ACCOUNTS).await;
    let index: BTreeMap<AccountId, usize> =
        accounts.iter().enumerate().map(|(i, a)| (*a, i)).collect();

    // One account watch per account, each running on the runtime; each hears its snapshot
    // (no folders yet) before any sync starts.
    let cancel = CancellationToken::new();
    let mut heard = Vec::new();
    for account in &accounts {
        let (tx, mut rx) = tokio::sync::watch::channel(0usize);
        let listener = Arc::new(Heard {
            events: Mutex::new(Vec::new()),
            count: tx,
        });
        let (watch, _stop) = watches.watch(WatchScope::Account(*account), 0, listener.clone());
        tokio::spawn(watch.run(cancel.clone()));
        wait_count(&mut rx, 1, "the snapshot").await;
        heard.push((listener, rx));
    }

    // All ten syncs at once, each a task on the two workers.
    let request = headers_only();
    let sync_started = Instant::now();
    let tasks: Vec<_> = accounts
        .iter()
        .map(|account| {
            let (engine, clock, request, account) =
                (engine.clone(), clock.clone(), request.clone(), *account);
            tokio::spawn(async move {
                let report = engine.sync(account, &request).await;
                (report, clock.tick(), sync_started.elapsed())
            })
        })
        .collect();
    let results: Vec<(anvert_core::Result<SyncReport>, u64, Duration)> =
        tokio::time::timeout(WAIT, futures::future::join_all(tasks))
            .await
            .expect("the ten syncs did not finish")
            .into_iter()
            .map(|joined| joined.unwrap())
            .collect();
    let all_synced = sync_started.elapsed();

    // (a) Each account completes with exactly its own mailbox.
    let mut folder_owner: BTreeMap<FolderId, usize> = BTreeMap::new();
    let mut inboxes = Vec::new();
    for (i, (result, _, took)) in results.iter().enumerate() {
        let report = result
            .as_ref()
            .unwrap_or_else(|e| panic!("account {i}'s sync failed after {took:?}: {e}"));
        assert!(report.errors.is_empty(), "account {i}: {:?}", report.errors);
        assert_eq!(report.stopped, None, "account {i} stopped early");
        assert_eq!(report.added(), count(i) as u64, "account {i}: added");
        let folders = engine.folders(accounts[i]).await.unwrap();
        for f in &folders {
            folder_owner.insert(f.id, i);
            let expect = if f.name == "INBOX" { count(i) } else { 0 };
            assert_eq!(f.total as usize, expect, "account {i}: {} stored", f.name);
        }
        let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap().id;
        inboxes.push(inbox);
        let (mut uids, mut sizes, mut cursor) = (Vec::new(), Vec::new(), None);
        loop {
            let page = engine.messages(inbox, cursor, 500).await.unwrap();
            uids.extend(page.items.iter().map(|m| m.uid));
            sizes.extend(page.items.iter().map(|m| m.size as usize));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        uids.sort_unstable();
        assert_eq!(
            uids,
            (1..=count(i) as u32).collect::<Vec<_>>(),
            "account {i}"
        );
        // The mailbox is this account's: the messages' sizes are its generator's.
        let mut truth_sizes: Vec<usize> = truths[i].iter().map(|t| t.size).collect();
        truth_sizes.sort_unstable();
        sizes.sort_unstable();
        assert_eq!(sizes, truth_sizes, "account {i}: not its own mailbox");
    }

    // Every event, by account, in the order the syncs emitted them.
    let log = std::mem::take(&mut *tee.log.lock().unwrap());
    let mut by_account: Vec<Vec<(u64, Instant, SyncEvent)>> = vec![Vec::new(); ACCOUNTS];
    for entry in log {
        let account = account_of(&entry.2, &index, &folder_owner)
            .unwrap_or_else(|| panic!("an event of no account: {:?}", entry.2));
        by_account[account].push(entry);
    }

    // (b) None starves: every account committed (and announced) its first window before any
    // account's sync returned. The first window is 50 messages, an account's whole sync four
    // INBOX windows (50, 200, 800, the rest) over some 1,500 summaries plus five empty
    // folders, so this fails if the runtime or the engine runs the syncs one after another
    // (or nearly so): a task not polled until another account finished, or an account whose
    // first commit waited for another's whole sync. It does not depend on the order in which
    // the two workers pick among ready tasks.
    //
    // The stricter "every first window before any account has its whole INBOX" is measured
    // and printed, not asserted: it does not hold by design. Every commit of every account
    // goes through the store's one writer, first come first served; an account that got its
    // connection and folder list early has its later windows in flight (pipelined) and their
    // commits queued, and a late account's first window waits for CPU to parse among the
    // others' windows and for the writer behind their commits. Measured (debug, two shared
    // cores), in one run of seven: one account had all 1,535 INBOX messages at 845 ms while
    // two others announced their first window at 2.2 s. Returns bunch at the end instead:
    // in that run the early account's sync returned at 3.84 s, with the nine others (all ten
    // within 22 ms), since a sync also writes its five empty folders' state and those writes
    // wait for the writer behind the other accounts' large window commits.
    let first_window: Vec<(u64, Instant)> = by_account
        .iter()
        .enumerate()
        .map(|(i, events)| {
            events
                .iter()
                .find(|(_, _, e)| matches!(e, SyncEvent::MessagesAdded { folder, .. } if *folder == inboxes[i]))
                .map(|(seq, at, _)| (*seq, *at))
                .unwrap_or_else(|| panic!("account {i} announced no window"))
        })
        .collect();
    let first_return = results.iter().map(|(_, seq, _)| *seq).min().unwrap();
    let last_first = first_window.iter().map(|(seq, _)| *seq).max().unwrap();
    let fastest = results.iter().map(|(_, _, t)| *t).min().unwrap();
    let last_first_at = first_window
        .iter()
        .map(|(_, at)| at.duration_since(sync_started))
        .max()
        .unwrap();
    // How far each account had got when the last account's first window was announced.
    let committed_by_then: Vec<usize> = by_account
        .iter()
        .map(|events| {
            events
                .iter()
                .filter(|(seq, _, _)| *seq <= last_first)
                .map(|(_, _, e)| match e {
                    SyncEvent::MessagesAdded { uids, .. } => uids.len(),
                    _ => 0,
                })
                .sum()
        })
        .collect();
    // When each account's INBOX was complete (its last window announced).
    let inbox_done: Vec<(u64, Instant)> = by_account
        .iter()
        .enumerate()
        .map(|(i, events)| {
            events
                .iter()
                .find(|(_, _, e)| matches!(e, SyncEvent::Progress { folder, synced, .. } if *folder == inboxes[i] && *synced as usize == count(i)))
                .map(|(seq, at, _)| (*seq, *at))
                .unwrap_or_else(|| panic!("account {i} never announced its whole INBOX"))
        })
        .collect();
    let first_done = inbox_done.iter().map(|(seq, _)| *seq).min().unwrap();
    let ms = |d: Duration| d.as_millis();
    let at = |points: &[(u64, Instant)]| -> Vec<u128> {
        points
            .iter()
            .map(|(_, at)| ms(at.duration_since(sync_started)))
            .collect()
    };
    eprintln!(
        "many_accounts: setup {} ms; ten syncs {} ms; per account (ms from the start): first \
         window {:?}, whole INBOX {:?}, sync returned {:?}; when the last first window was \
         announced the accounts had {committed_by_then:?} messages; every first window before \
         any whole INBOX (not asserted): {}",
        ms(setup),
        ms(all_synced),
        at(&first_window),
        at(&inbox_done),
        results.iter().map(|(_, _, t)| ms(*t)).collect::<Vec<_>>(),
        last_first < first_done,
    );
    assert!(
        last_first < first_return,
        "an account's sync returned (after {fastest:?}) before every account had committed its \
         first window (the last at {last_first_at:?}): {committed_by_then:?}"
    );

    // (c) Each account's watch hears that account's events, and only those, in the order they
    // were committed: the listener's sequence is the emitted one (nothing lost, reordered or
    // replaced by a resync snapshot), the windows come newest first with no UID twice, each
    // progress counts the messages announced before it and grows strictly, and the UIDs
    // announced are exactly the ones stored.
    for (i, (listener, rx)) in heard.iter_mut().enumerate() {
        let emitted: Vec<Seen> = by_account[i].iter().map(|(_, _, e)| from_sync(e)).collect();
        wait_count(rx, 1 + emitted.len(), &format!("account {i}'s watch")).await;
        let events = listener.events.lock().unwrap();
        assert!(
            matches!(events.first(), Some(WatchEvent::FoldersSnapshot { .. })),
            "account {i}: {:?}",
            events.first()
        );
        let delivered: Vec<Seen> = events[1..].iter().map(from_watch).collect();
        assert_eq!(delivered, emitted, "account {i}: the watch's events");
        assert!(
            !delivered.iter().any(|e| matches!(e, Seen::Other(_))),
            "account {i}: {delivered:?}"
        );

        let (mut announced, mut last_progress) = (Vec::<u32>::new(), 0u32);
        let mut lowest_so_far = u32::MAX;
        for e in &delivered {
            match e {
                Seen::Added(folder, uids) => {
                    assert_eq!(*folder, inboxes[i], "account {i}: only INBOX has mail");
                    assert!(
                        uids.iter().all(|u| *u < lowest_so_far),
                        "account {i}: a window not older than the one before"
                    );
                    lowest_so_far = *uids.iter().min().unwrap();
                    announced.extend(uids);
                }
                Seen::Progress(folder, synced, total) if *folder == inboxes[i] => {
                    assert!(
                        *synced > last_progress,
                        "account {i}: progress {delivered:?}"
                    );
                    assert_eq!(*synced as usize, announced.len(), "account {i}: progress");
                    assert_eq!(*total as usize, count(i), "account {i}: total");
                    last_progress = *synced;
                }
                _ => {}
            }
        }
        assert_eq!(
            last_progress as usize,
            count(i),
            "account {i}: last progress"
        );
        announced.sort_unstable();
        assert_eq!(
            announced,
            (1..=count(i) as u32).collect::<Vec<_>>(),
            "account {i}: the UIDs announced are the ones stored"
        );
    }

    cancel.cancel();
    engine.close_connections().await.unwrap();
    eprintln!("many_accounts: test took {:?}", started.elapsed());
}
