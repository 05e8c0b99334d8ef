//! The watch model: what an app's list screens listen to. A watch has a scope (one folder's
//! message list, or an account's folders and every change in them); it starts with a
//! snapshot read from the store, then passes on the sync events in its scope, in commit
//! order, each describing a change already committed (so re-querying on it sees the
//! change). [`Watches`] is the engine's event sink: it copies each event into every watch's
//! bounded inbox and never blocks the sync; each [`Watch`] runs as a task on the runtime
//! that filters, re-queries (an account's folder list when it changed) and queues its
//! events on the [`Dispatcher`](super::Dispatcher), whose thread calls the listener.
//!
//! Nothing is dropped silently. When a watch's inbox or the dispatcher's queue is full (a
//! listener that blocks), the watch is marked overflowed, stops queueing deltas, and once
//! the dispatcher has room again it sends a fresh snapshot (`FoldersSnapshot` or
//! `MessagesSnapshot` again) in place of the deltas it lost: a second snapshot means
//! "replace what you show". A push watch ends with `PushStopped`, after every delta of the
//! push. A watch never writes the store.

use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::dispatch::{Full, Sender};
use crate::{
    error::Error,
    store::{AccountId, FolderId, FolderSummary, MessageSummary, OutboxId, Store},
    sync::{DropReason, EventSink, SyncEvent},
};

/// What a watch covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchScope {
    /// One folder's message list: the newest messages, then the folder's changes.
    Folder(FolderId),
    /// An account: its folders, then every change in any of its folders.
    Account(AccountId),
}

/// What a watch's listener hears.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The account's folders: first, and again in place of deltas lost to a full queue.
    FoldersSnapshot {
        account: AccountId,
        folders: Vec<FolderSummary>,
    },
    /// The newest messages of the folder: first, and again in place of lost deltas.
    MessagesSnapshot {
        folder: FolderId,
        messages: Vec<MessageSummary>,
    },
    /// The folder list changed.
    FoldersChanged { account: AccountId },
    /// Messages were stored for the first time.
    MessagesAdded { folder: FolderId, uids: Vec<u32> },
    /// Stored messages changed (flags).
    MessagesChanged { folder: FolderId, uids: Vec<u32> },
    /// Stored messages were removed.
    MessagesRemoved { folder: FolderId, uids: Vec<u32> },
    /// Messages were stored with only part of their summary.
    MessagesIncomplete { folder: FolderId, uids: Vec<u32> },
    /// Keyword changes of these messages stay on this device.
    KeywordsLocalOnly { folder: FolderId, uids: Vec<u32> },
    /// All of a folder's cached messages were dropped (UIDVALIDITY changed).
    FolderReset { folder: FolderId },
    /// Queued local changes were not written back.
    ChangeDropped {
        folder: FolderId,
        uids: Vec<u32>,
        reason: DropReason,
    },
    /// Headers-first progress of a folder.
    SyncProgress {
        folder: FolderId,
        synced: u32,
        total: u32,
    },
    /// An outbox entry of the watched account changed (queued, a step of its send, sent,
    /// failed, cancelled): read it again with `outbox`. Account watches only.
    OutboxChanged { account: AccountId, item: OutboxId },
    /// The watch ended: push stopped (`error` when it failed), or the snapshot failed.
    PushStopped { error: Option<Error> },
}

/// Receives a watch's events, on the dispatcher thread. It may take its time (nothing but
/// later callbacks waits for it); past the queue's capacity the watch resyncs.
pub trait WatchListener: Send + Sync {
    fn on_event(&self, event: WatchEvent);
}

/// The engine's event sink: every event into every live watch's inbox.
pub struct Watches {
    store: Store,
    sender: Sender,
    inboxes: Mutex<Vec<Inbox>>,
}

struct Inbox {
    tx: mpsc::Sender<SyncEvent>,
    overflowed: Arc<AtomicBool>,
}

/// One watch, to be run (`run`) as a task on the runtime.
pub struct Watch {
    store: Store,
    sender: Sender,
    scope: Scope,
    limit: u32,
    listener: Arc<dyn WatchListener>,
    inbox: mpsc::Receiver<SyncEvent>,
    overflowed: Arc<AtomicBool>,
    stop: Arc<Stop>,
}

/// Ends a watch with `PushStopped`, after every event emitted before `stop` was called.
pub struct WatchStop(Arc<Stop>);

#[derive(Default)]
struct Stop {
    error: Mutex<Option<Option<Error>>>,
    notify: Notify,
}

/// The scope with what filtering needs: an account's folders as last read.
enum Scope {
    Folder(FolderId),
    Account {
        account: AccountId,
        folders: Vec<FolderId>,
    },
}

/// How waiting for the dispatcher's room ended.
enum Wait {
    Room,
    Stopped,
    Ended,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watches").finish_non_exhaustive()
    }
}

impl Watches {
    /// Watches over `store`, delivering through `sender`.
    pub fn new(store: Store, sender: Sender) -> Watches {
        Watches {
            store,
            sender,
            inboxes: Mutex::new(Vec::new()),
        }
    }

    /// A new watch; it hears every event emitted from now on. Run it with [`Watch::run`].
    pub fn watch(
        &self,
        scope: WatchScope,
        limit: u32,
        listener: Arc<dyn WatchListener>,
    ) -> (Watch, WatchStop) {
        let (tx, inbox) = mpsc::channel(self.sender.capacity());
        let overflowed = Arc::new(AtomicBool::new(false));
        self.inboxes().push(Inbox {
            tx,
            overflowed: overflowed.clone(),
        });
        let stop = Arc::new(Stop::default());
        let scope = match scope {
            WatchScope::Folder(folder) => Scope::Folder(folder),
            WatchScope::Account(account) => Scope::Account {
                account,
                folders: Vec::new(),
            },
        };
        let watch = Watch {
            store: self.store.clone(),
            sender: self.sender.clone(),
            scope,
            limit,
            listener,
            inbox,
            overflowed,
            stop: stop.clone(),
        };
        (watch, WatchStop(stop))
    }

    /// The inboxes, also when a panic elsewhere poisoned the lock (each holder makes one
    /// `push` or `retain`, which leaves the list whole).
    fn inboxes(&self) -> MutexGuard<'_, Vec<Inbox>> {
        self.inboxes.lock().unwrap_or_else(|poisoned| {
            tracing::warn!("a panic poisoned the watches' lock; carrying on with its list");
            poisoned.into_inner()
        })
    }
}

impl EventSink for Watches {
    fn emit(&self, event: SyncEvent) {
        self.inboxes()
            .retain(|inbox| match inbox.tx.try_send(event.clone()) {
                Ok(()) => true,
                // The watch lags (its listener blocks): it resyncs instead.
                Err(mpsc::error::TrySendError::Full(_)) => {
                    inbox.overflowed.store(true, Ordering::Release);
                    true
                }
                // A finished watch: forget it.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

impl WatchStop {
    /// Ends the watch: it delivers what it has, then `PushStopped { error }`.
    pub fn stop(self, error: Option<Error>) {
        *self.0.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.0.notify.notify_one();
    }
}

impl Stop {
    fn take(&self) -> Option<Option<Error>> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Watch {
    /// Delivers the snapshot, then each event in scope, until `cancel` fires (nothing more
    /// is delivered then, also of what is queued), the watch is stopped, or its snapshot
    /// fails (`PushStopped` with the error).
    pub async fn run(mut self, cancel: CancellationToken) {
        // The first snapshot keeps the inbox: its events follow it (already seen by the
        // snapshot at worst, which is harmless). A resync drops them: it covers them.
        let (mut resync, mut first) = (true, true);
        loop {
            if self.overflowed.swap(false, Ordering::AcqRel) {
                resync = true;
            }
            if resync {
                match self.wait_for_room(&cancel).await {
                    Wait::Ended => return,
                    Wait::Stopped => return self.finish(true, &cancel).await,
                    Wait::Room => {}
                }
                self.overflowed.store(false, Ordering::Release);
                if !std::mem::take(&mut first) {
                    while self.inbox.try_recv().is_ok() {}
                }
                match self.snapshot().await {
                    Ok(event) => resync = self.try_deliver(event, &cancel).is_err(),
                    Err(e) => {
                        let stopped = WatchEvent::PushStopped { error: Some(e) };
                        return self.deliver(stopped, &cancel);
                    }
                }
                continue;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                event = self.inbox.recv() => match event {
                    Some(event) => {
                        if let Some(out) = self.filter(event).await {
                            resync = self.try_deliver(out, &cancel).is_err();
                        }
                    }
                    None => return,
                },
                _ = self.stop.notify.notified() => return self.finish(false, &cancel).await,
            }
        }
    }

    /// Waits until the dispatcher can take a snapshot, or the watch ends.
    async fn wait_for_room(&self, cancel: &CancellationToken) -> Wait {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Wait::Ended,
            room = self.sender.room() => if room { Wait::Room } else { Wait::Ended },
            _ = self.stop.notify.notified() => Wait::Stopped,
        }
    }

    /// After `stop`: the events already in the inbox (all of the push's), a snapshot in
    /// place of any that were lost (queued past the capacity: this happens once per watch),
    /// then `PushStopped`.
    async fn finish(mut self, mut resync: bool, cancel: &CancellationToken) {
        while let Ok(event) = self.inbox.try_recv() {
            if resync {
                continue;
            }
            if let Some(out) = self.filter(event).await {
                resync = self.try_deliver(out, cancel).is_err();
            }
        }
        if resync || self.overflowed.load(Ordering::Acquire) {
            match self.snapshot().await {
                Ok(event) => self.deliver(event, cancel),
                Err(e) => tracing::warn!(error = %e, "a watch's last snapshot failed"),
            }
        }
        let error = self.stop.take().flatten();
        self.deliver(WatchEvent::PushStopped { error }, cancel);
    }

    /// Re-reads an account's folders when they changed; the event if it is in scope.
    async fn filter(&mut self, event: SyncEvent) -> Option<WatchEvent> {
        if let (
            SyncEvent::FoldersChanged { account },
            Scope::Account {
                account: a,
                folders,
            },
        ) = (&event, &mut self.scope)
            && account == a
            && let Ok(list) = self.store.folders(*a).await
        {
            *folders = list.into_iter().map(|f| f.id).collect();
        }
        in_scope(event, &self.scope)
    }

    async fn snapshot(&mut self) -> crate::Result<WatchEvent> {
        match &mut self.scope {
            Scope::Folder(folder) => {
                let page = self.store.messages_page(*folder, None, self.limit).await?;
                Ok(WatchEvent::MessagesSnapshot {
                    folder: *folder,
                    messages: page.items,
                })
            }
            Scope::Account { account, folders } => {
                let list = self.store.folders(*account).await?;
                *folders = list.iter().map(|f| f.id).collect();
                Ok(WatchEvent::FoldersSnapshot {
                    account: *account,
                    folders: list,
                })
            }
        }
    }

    /// Queues a delta; refused when the dispatcher is full.
    fn try_deliver(&self, event: WatchEvent, cancel: &CancellationToken) -> Result<(), Full> {
        let (listener, cancel) = (self.listener.clone(), cancel.clone());
        self.sender.try_call(move || {
            if !cancel.is_cancelled() {
                listener.on_event(event);
            }
        })
    }

    /// Queues a terminal event (or the one snapshot of `finish`), past the capacity.
    fn deliver(&self, event: WatchEvent, cancel: &CancellationToken) {
        let (listener, cancel) = (self.listener.clone(), cancel.clone());
        self.sender.call(move || {
            if !cancel.is_cancelled() {
                listener.on_event(event);
            }
        });
    }
}

impl Scope {
    fn wants(&self, folder: FolderId) -> bool {
        match self {
            Scope::Folder(f) => *f == folder,
            Scope::Account { folders, .. } => folders.contains(&folder),
        }
    }
}

/// The watch's form of `event`, if the scope covers it.
fn in_scope(event: SyncEvent, scope: &Scope) -> Option<WatchEvent> {
    let (folder, out) = match event {
        SyncEvent::FoldersChanged { account } => {
            return match scope {
                Scope::Account { account: a, .. } if *a == account => {
                    Some(WatchEvent::FoldersChanged { account })
                }
                _ => None,
            };
        }
        SyncEvent::OutboxChanged { account, item } => {
            return match scope {
                Scope::Account { account: a, .. } if *a == account => {
                    Some(WatchEvent::OutboxChanged { account, item })
                }
                _ => None,
            };
        }
        SyncEvent::MessagesAdded { folder, uids } => {
            (folder, WatchEvent::MessagesAdded { folder, uids })
        }
        SyncEvent::MessagesChanged { folder, uids } => {
            (folder, WatchEvent::MessagesChanged { folder, uids })
        }
        SyncEvent::MessagesRemoved { folder, uids } => {
            (folder, WatchEvent::MessagesRemoved { folder, uids })
        }
        SyncEvent::MessagesIncomplete { folder, uids } => {
            (folder, WatchEvent::MessagesIncomplete { folder, uids })
        }
        SyncEvent::KeywordsLocalOnly { folder, uids } => {
            (folder, WatchEvent::KeywordsLocalOnly { folder, uids })
        }
        SyncEvent::FolderReset { folder } => (folder, WatchEvent::FolderReset { folder }),
        SyncEvent::ChangeDropped {
            folder,
            uids,
            reason,
        } => (
            folder,
            WatchEvent::ChangeDropped {
                folder,
                uids,
                reason,
            },
        ),
        SyncEvent::Progress {
            folder,
            synced,
            total,
        } => (
            folder,
            WatchEvent::SyncProgress {
                folder,
                synced,
                total,
            },
        ),
        // Kinds added later reach no watch until they are mapped here.
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    scope.wants(folder).then_some(out)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
