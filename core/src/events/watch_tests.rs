#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::mpsc as std_mpsc, time::Duration};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::*;
use crate::{
    events::Dispatcher,
    store::{AccountKind, FolderRecord, NewAccount},
};

const WAIT: Duration = Duration::from_secs(10);

/// Passes every event on; its first call blocks until released when built with a latch.
struct Listener {
    tx: UnboundedSender<WatchEvent>,
    latch: Mutex<Option<(std_mpsc::Sender<()>, std_mpsc::Receiver<()>)>>,
}

impl WatchListener for Listener {
    fn on_event(&self, event: WatchEvent) {
        let latch = self.latch.lock().unwrap().take();
        self.tx.send(event).unwrap();
        if let Some((entered, release)) = latch {
            entered.send(()).unwrap();
            let _ = release.recv_timeout(WAIT);
        }
    }
}

fn listener() -> (Arc<Listener>, UnboundedReceiver<WatchEvent>) {
    let (tx, rx) = unbounded_channel();
    let l = Listener {
        tx,
        latch: Mutex::new(None),
    };
    (Arc::new(l), rx)
}

/// A listener whose first call blocks: (listener, events, entered, release).
fn blocking_listener() -> (
    Arc<Listener>,
    UnboundedReceiver<WatchEvent>,
    std_mpsc::Receiver<()>,
    std_mpsc::Sender<()>,
) {
    let (l, rx) = listener();
    let (entered_tx, entered) = std_mpsc::channel();
    let (release, release_rx) = std_mpsc::channel();
    *l.latch.lock().unwrap() = Some((entered_tx, release_rx));
    (l, rx, entered, release)
}

async fn next(rx: &mut UnboundedReceiver<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    account: AccountId,
    folders: Vec<FolderId>,
}

async fn fixture(folders: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("anvert.db")).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "a".into(),
            kind: AccountKind::Imap,
            host: "imap.example.com".into(),
            port: 993,
            security: "tls".into(),
            username: "a".into(),
        })
        .await
        .unwrap();
    let folders = add_folders(&store, account, folders).await;
    Fixture {
        _dir: dir,
        store,
        account,
        folders,
    }
}

async fn add_folders(store: &Store, account: AccountId, names: &[&str]) -> Vec<FolderId> {
    let records: Vec<FolderRecord> = names
        .iter()
        .map(|name| FolderRecord {
            name: (*name).into(),
            delimiter: Some("/".into()),
            role: None,
            subscribed: true,
            selectable: true,
        })
        .collect();
    store.upsert_folders(account, &records).await.unwrap()
}

fn added(folder: FolderId, uid: u32) -> SyncEvent {
    SyncEvent::MessagesAdded {
        folder,
        uids: vec![uid],
    }
}

#[tokio::test]
async fn a_folder_watch_hears_its_snapshot_then_its_folders_deltas_in_order() {
    let f = fixture(&["INBOX", "Other"]).await;
    let (inbox, other) = (f.folders[0], f.folders[1]);
    let dispatcher = Dispatcher::new(64).unwrap();
    let watches = Watches::new(f.store.clone(), dispatcher.sender());
    let (l, mut rx) = listener();
    let (watch, _stop) = watches.watch(WatchScope::Folder(inbox), 10, l);
    // Emitted before the watch ran: delivered after its snapshot.
    watches.emit(added(inbox, 1));
    tokio::spawn(watch.run(CancellationToken::new()));
    watches.emit(added(other, 9));
    watches.emit(SyncEvent::MessagesChanged {
        folder: inbox,
        uids: vec![1],
    });
    watches.emit(SyncEvent::FoldersChanged { account: f.account });
    watches.emit(SyncEvent::FolderReset { folder: inbox });

    assert!(
        matches!(next(&mut rx).await, WatchEvent::MessagesSnapshot { folder, messages } if folder == inbox && messages.is_empty())
    );
    assert!(
        matches!(next(&mut rx).await, WatchEvent::MessagesAdded { folder, uids } if folder == inbox && uids == [1])
    );
    assert!(
        matches!(next(&mut rx).await, WatchEvent::MessagesChanged { folder, uids } if folder == inbox && uids == [1])
    );
    assert!(matches!(next(&mut rx).await, WatchEvent::FolderReset { folder } if folder == inbox));
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn an_account_watch_follows_its_folder_list() {
    let f = fixture(&["INBOX"]).await;
    let dispatcher = Dispatcher::new(64).unwrap();
    let watches = Watches::new(f.store.clone(), dispatcher.sender());
    let (l, mut rx) = listener();
    let (watch, _stop) = watches.watch(WatchScope::Account(f.account), 0, l);
    tokio::spawn(watch.run(CancellationToken::new()));
    match next(&mut rx).await {
        WatchEvent::FoldersSnapshot { account, folders } => {
            assert_eq!(account, f.account);
            assert_eq!(folders.len(), 1);
        }
        other => panic!("first: {other:?}"),
    }
    let new = add_folders(&f.store, f.account, &["INBOX", "Later"]).await[1];
    watches.emit(SyncEvent::FoldersChanged { account: f.account });
    watches.emit(added(new, 3));
    // Another account's folder list, and a folder that is not this account's.
    watches.emit(SyncEvent::FoldersChanged {
        account: AccountId(f.account.0 + 1),
    });
    watches.emit(added(FolderId(new.0 + 100), 4));
    watches.emit(added(f.folders[0], 5));
    assert!(
        matches!(next(&mut rx).await, WatchEvent::FoldersChanged { account } if account == f.account)
    );
    assert!(
        matches!(next(&mut rx).await, WatchEvent::MessagesAdded { folder, .. } if folder == new)
    );
    assert!(
        matches!(next(&mut rx).await, WatchEvent::MessagesAdded { folder, .. } if folder == f.folders[0])
    );
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn outbox_changes_reach_the_accounts_watches_only() {
    let f = fixture(&["INBOX"]).await;
    let dispatcher = Dispatcher::new(64).unwrap();
    let watches = Watches::new(f.store.clone(), dispatcher.sender());
    let (l, mut rx) = listener();
    let (watch, _stop) = watches.watch(WatchScope::Account(f.account), 0, l);
    tokio::spawn(watch.run(CancellationToken::new()));
    let (fl, mut folder_rx) = listener();
    let (folder_watch, _fstop) = watches.watch(WatchScope::Folder(f.folders[0]), 10, fl);
    tokio::spawn(folder_watch.run(CancellationToken::new()));
    assert!(matches!(
        next(&mut rx).await,
        WatchEvent::FoldersSnapshot { .. }
    ));
    assert!(matches!(
        next(&mut folder_rx).await,
        WatchEvent::MessagesSnapshot { .. }
    ));
    let other = AccountId(f.account.0 + 1);
    watches.emit(SyncEvent::OutboxChanged {
        account: other,
        item: OutboxId(1),
    });
    watches.emit(SyncEvent::OutboxChanged {
        account: f.account,
        item: OutboxId(2),
    });
    watches.emit(added(f.folders[0], 5));
    assert!(
        matches!(next(&mut rx).await, WatchEvent::OutboxChanged { account, item } if account == f.account && item == OutboxId(2))
    );
    assert!(matches!(
        next(&mut rx).await,
        WatchEvent::MessagesAdded { .. }
    ));
    // The folder watch hears the message, not the outbox.
    assert!(matches!(
        next(&mut folder_rx).await,
        WatchEvent::MessagesAdded { .. }
    ));
    assert!(rx.try_recv().is_err());
    assert!(folder_rx.try_recv().is_err());
}

/// Checks that no delta went missing without a snapshot after it: the deltas' UIDs rise,
/// and every gap (and a missing tail) is followed by a snapshot.
fn no_silent_gap(events: &[WatchEvent], emitted: u32) -> usize {
    let (mut expected, mut snapshot_since, mut resyncs) = (0u32, false, 0);
    for event in events {
        match event {
            WatchEvent::MessagesSnapshot { .. } => {
                snapshot_since = true;
                resyncs += 1;
            }
            WatchEvent::MessagesAdded { uids, .. } => {
                let uid = uids[0];
                assert!(uid >= expected, "{uid} after {expected}: out of order");
                assert!(
                    uid == expected || snapshot_since,
                    "deltas {expected}..{uid} lost without a snapshot: {events:?}"
                );
                expected = uid + 1;
                snapshot_since = false;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        expected == emitted || snapshot_since,
        "the deltas after {expected} were lost without a snapshot"
    );
    resyncs - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_listener_costs_bounded_memory_and_gets_a_fresh_snapshot() {
    let f = fixture(&["INBOX"]).await;
    let inbox = f.folders[0];
    let dispatcher = Dispatcher::new(4).unwrap();
    let watches = Watches::new(f.store.clone(), dispatcher.sender());
    let (l, mut rx, entered, release) = blocking_listener();
    let (watch, _stop) = watches.watch(WatchScope::Folder(inbox), 10, l);
    tokio::spawn(watch.run(CancellationToken::new()));
    // The snapshot is being delivered, and the listener blocks in it.
    tokio::task::spawn_blocking(move || entered.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();
    // A sync keeps committing: never blocked, never more than the capacity queued.
    let mut uid = 0;
    while dispatcher.sender().has_room() != Some(false) || uid < 100 {
        watches.emit(added(inbox, uid));
        uid += 1;
        assert!(uid < 100_000, "the queue never filled");
        tokio::task::yield_now().await;
    }
    for _ in 0..1000 {
        watches.emit(added(inbox, uid));
        uid += 1;
    }
    {
        let inboxes = watches.inboxes();
        assert!(inboxes[0].tx.max_capacity() == 4);
    }
    release.send(()).unwrap();
    // Once the watch has caught up, a new change arrives as a delta. Until then a resync
    // still under way may cover it instead: after each snapshot, emit another.
    let mut events = Vec::new();
    let mut caught_up = false;
    'settle: for _ in 0..50 {
        watches.emit(added(inbox, uid));
        uid += 1;
        loop {
            let event = next(&mut rx).await;
            let last =
                matches!(&event, WatchEvent::MessagesAdded { uids, .. } if uids[0] == uid - 1);
            let snapshot = matches!(event, WatchEvent::MessagesSnapshot { .. });
            events.push(event);
            if last {
                caught_up = true;
                break 'settle;
            }
            if snapshot && events.len() > 1 {
                continue 'settle;
            }
        }
    }
    assert!(caught_up, "the watch never caught up: {events:?}");
    let delivered = events
        .iter()
        .filter(|e| matches!(e, WatchEvent::MessagesAdded { .. }))
        .count();
    assert!(delivered < 20, "{delivered} deltas delivered of {uid}");
    assert!(no_silent_gap(&events, uid) >= 1, "no resync: {events:?}");
}

#[tokio::test]
async fn push_stopped_comes_after_every_delta_and_a_cancelled_watch_goes_quiet() {
    let f = fixture(&["INBOX"]).await;
    let inbox = f.folders[0];
    let dispatcher = Dispatcher::new(64).unwrap();
    let watches = Watches::new(f.store.clone(), dispatcher.sender());
    let (l, mut rx) = listener();
    let (watch, stop) = watches.watch(WatchScope::Folder(inbox), 10, l);
    let task = tokio::spawn(watch.run(CancellationToken::new()));
    for uid in 0..3 {
        watches.emit(added(inbox, uid));
    }
    stop.stop(Some(Error::ConnectionClosed));
    task.await.unwrap();
    assert!(matches!(
        next(&mut rx).await,
        WatchEvent::MessagesSnapshot { .. }
    ));
    for uid in 0..3 {
        assert!(
            matches!(next(&mut rx).await, WatchEvent::MessagesAdded { uids, .. } if uids == [uid])
        );
    }
    assert!(matches!(
        next(&mut rx).await,
        WatchEvent::PushStopped {
            error: Some(Error::ConnectionClosed)
        }
    ));
    // The finished watch's inbox is forgotten at the next event.
    watches.emit(added(inbox, 9));
    assert!(watches.inboxes().is_empty());

    // Cancelled while its listener blocks: what was queued is not delivered.
    let (l, mut rx, entered, release) = blocking_listener();
    let (watch, _stop) = watches.watch(WatchScope::Folder(inbox), 10, l);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(watch.run(cancel.clone()));
    assert!(matches!(
        next(&mut rx).await,
        WatchEvent::MessagesSnapshot { .. }
    ));
    entered.recv_timeout(WAIT).unwrap();
    watches.emit(added(inbox, 1));
    cancel.cancel();
    task.await.unwrap();
    release.send(()).unwrap();
    let (tx, done) = std_mpsc::channel();
    dispatcher.call(move || tx.send(()).unwrap());
    tokio::task::spawn_blocking(move || done.recv_timeout(WAIT).unwrap())
        .await
        .unwrap();
    assert!(rx.try_recv().is_err(), "a cancelled watch delivered");
}
