//! Events for the app: the core's sync events fanned out to every watcher through its own
//! unbounded queue (so a slow callback never blocks a sync), each watcher's listener called
//! from its own delivery task: the snapshot first, then the deltas in commit order.

use std::sync::{Arc, Mutex, MutexGuard};

use anvert_core::{
    engine::Engine as CoreEngine,
    store::{AccountId, FolderId},
    sync::{self as cy, EventSink, SyncEvent},
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::types::{Folder, MessageSummary, summaries};

/// Why queued local changes were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DropReason {
    /// The message was expunged on the server meanwhile.
    Expunged,
    /// The server changed the flag since our last sync; its value won.
    Conflict,
    /// Writing back failed too often; it stays queued, parked, with its error.
    Parked,
}

/// What a listener hears. A watch starts with a snapshot; every later event describes a
/// change already committed to the store, so re-querying on it always sees the change.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum MailEvent {
    /// The account's folders, when a watch or push starts.
    FoldersSnapshot { account: i64, folders: Vec<Folder> },
    /// The newest messages of a watched folder, when the watch starts.
    MessagesSnapshot {
        folder: i64,
        messages: Vec<MessageSummary>,
    },
    /// The folder list changed (folders appeared, were renamed or deleted).
    FoldersChanged { account: i64 },
    /// Messages were stored for the first time (headers-first windows, new mail).
    MessagesAdded { folder: i64, uids: Vec<u32> },
    /// Stored messages changed (flags).
    MessagesChanged { folder: i64, uids: Vec<u32> },
    /// Stored messages were removed.
    MessagesRemoved { folder: i64, uids: Vec<u32> },
    /// Messages were stored incomplete: what could be read of a summary the server sent
    /// broken. The next sync fetches them again (then `MessagesChanged`).
    MessagesIncomplete { folder: i64, uids: Vec<u32> },
    /// Keyword changes of these messages stay on this device: the server cannot keep them
    /// (`MessageSummary::local_keywords` names them); they are never sent.
    KeywordsLocalOnly { folder: i64, uids: Vec<u32> },
    /// All of a folder's cached messages were dropped (UIDVALIDITY changed).
    FolderReset { folder: i64 },
    /// Queued local changes were not written back.
    ChangeDropped {
        folder: i64,
        uids: Vec<u32>,
        reason: DropReason,
    },
    /// Headers-first progress of a folder.
    SyncProgress {
        folder: i64,
        synced: u32,
        total: u32,
    },
    /// Push (IDLE) ended; `error` says why when it failed.
    PushStopped { error: Option<String> },
}

/// Receives events on the engine's delivery task. It may take its time (the sync does not
/// wait for it) but should hand work to the UI thread rather than block for long.
#[uniffi::export(with_foreign)]
pub trait MailListener: Send + Sync {
    fn on_event(&self, event: MailEvent);
}

/// What a watcher's queue carries.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    Core(SyncEvent),
    PushStopped(Option<String>),
}

/// The core's one event sink: copies every event into each watcher's queue.
#[derive(Default)]
pub(crate) struct Fanout {
    watchers: Mutex<Vec<UnboundedSender<Delivery>>>,
}

impl Fanout {
    /// A new watcher's queue.
    pub(crate) fn subscribe(&self) -> (UnboundedSender<Delivery>, UnboundedReceiver<Delivery>) {
        let (tx, rx) = unbounded_channel();
        self.watchers().push(tx.clone());
        (tx, rx)
    }

    /// The watchers, also when a panic elsewhere poisoned the lock (with a warning): each
    /// holder makes one `push` or `retain` on the list, which leaves it whole.
    fn watchers(&self) -> MutexGuard<'_, Vec<UnboundedSender<Delivery>>> {
        self.watchers.lock().unwrap_or_else(|poisoned| {
            tracing::warn!("a panic poisoned the event fan-out's lock; carrying on with its list");
            poisoned.into_inner()
        })
    }
}

impl EventSink for Fanout {
    fn emit(&self, event: SyncEvent) {
        // A closed queue belongs to a finished watch: forget it.
        self.watchers()
            .retain(|tx| tx.send(Delivery::Core(event.clone())).is_ok());
    }
}

/// Which events a watch passes on.
pub(crate) enum Scope {
    Folder(FolderId),
    Account {
        account: AccountId,
        folders: Vec<FolderId>,
    },
}

impl Scope {
    fn wants(&self, folder: FolderId) -> bool {
        match self {
            Scope::Folder(f) => *f == folder,
            Scope::Account { folders, .. } => folders.contains(&folder),
        }
    }
}

/// The delivery loop of one watch: the snapshot, then each queued event in scope, until
/// cancelled or the queue closes.
pub(crate) async fn deliver(
    core: Arc<CoreEngine>,
    mut scope: Scope,
    limit: u32,
    listener: Arc<dyn MailListener>,
    mut queue: UnboundedReceiver<Delivery>,
    cancel: CancellationToken,
) {
    match snapshot(&core, &mut scope, limit).await {
        Ok(event) => listener.on_event(event),
        Err(e) => {
            listener.on_event(MailEvent::PushStopped {
                error: Some(crate::error::AnvertError::from(e).to_string()),
            });
            return;
        }
    }
    loop {
        let delivery = tokio::select! {
            _ = cancel.cancelled() => return,
            d = queue.recv() => match d {
                Some(d) => d,
                None => return,
            },
        };
        let event = match delivery {
            Delivery::PushStopped(error) => {
                listener.on_event(MailEvent::PushStopped { error });
                return;
            }
            Delivery::Core(event) => event,
        };
        if let (
            SyncEvent::FoldersChanged { account },
            Scope::Account {
                account: a,
                folders,
            },
        ) = (&event, &mut scope)
            && account == a
            && let Ok(list) = core.folders(*a).await
        {
            *folders = list.into_iter().map(|f| f.id).collect();
        }
        if let Some(event) = convert(event, &scope) {
            listener.on_event(event);
        }
    }
}

async fn snapshot(
    core: &CoreEngine,
    scope: &mut Scope,
    limit: u32,
) -> anvert_core::Result<MailEvent> {
    match scope {
        Scope::Folder(folder) => {
            let page = core.messages(*folder, None, limit).await?;
            Ok(MailEvent::MessagesSnapshot {
                folder: folder.0,
                messages: summaries(page.items),
            })
        }
        Scope::Account { account, folders } => {
            let list = core.folders(*account).await?;
            *folders = list.iter().map(|f| f.id).collect();
            Ok(MailEvent::FoldersSnapshot {
                account: account.0,
                folders: list.into_iter().map(Into::into).collect(),
            })
        }
    }
}

fn convert(event: SyncEvent, scope: &Scope) -> Option<MailEvent> {
    let (folder, out) = match event {
        SyncEvent::FoldersChanged { account } => {
            return match scope {
                Scope::Account { account: a, .. } if *a == account => {
                    Some(MailEvent::FoldersChanged { account: account.0 })
                }
                _ => None,
            };
        }
        SyncEvent::MessagesAdded { folder, uids } => (
            folder,
            MailEvent::MessagesAdded {
                folder: folder.0,
                uids,
            },
        ),
        SyncEvent::MessagesChanged { folder, uids } => (
            folder,
            MailEvent::MessagesChanged {
                folder: folder.0,
                uids,
            },
        ),
        SyncEvent::MessagesRemoved { folder, uids } => (
            folder,
            MailEvent::MessagesRemoved {
                folder: folder.0,
                uids,
            },
        ),
        SyncEvent::MessagesIncomplete { folder, uids } => (
            folder,
            MailEvent::MessagesIncomplete {
                folder: folder.0,
                uids,
            },
        ),
        SyncEvent::KeywordsLocalOnly { folder, uids } => (
            folder,
            MailEvent::KeywordsLocalOnly {
                folder: folder.0,
                uids,
            },
        ),
        SyncEvent::FolderReset { folder } => (folder, MailEvent::FolderReset { folder: folder.0 }),
        SyncEvent::ChangeDropped {
            folder,
            uids,
            reason,
        } => (
            folder,
            MailEvent::ChangeDropped {
                folder: folder.0,
                uids,
                reason: match reason {
                    cy::DropReason::Expunged => DropReason::Expunged,
                    cy::DropReason::Conflict => DropReason::Conflict,
                    _ => DropReason::Parked,
                },
            },
        ),
        SyncEvent::Progress {
            folder,
            synced,
            total,
        } => (
            folder,
            MailEvent::SyncProgress {
                folder: folder.0,
                synced,
                total,
            },
        ),
        _ => return None,
    };
    scope.wants(folder).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_fan_out_still_delivers() {
        let fanout = Fanout::default();
        std::thread::scope(|s| {
            let held = s.spawn(|| {
                let _guard = fanout.watchers.lock();
                panic!("poisoning the lock on purpose");
            });
            assert!(held.join().is_err());
        });
        assert!(fanout.watchers.is_poisoned());
        let (_tx, mut rx) = fanout.subscribe();
        fanout.emit(SyncEvent::FoldersChanged {
            account: AccountId(1),
        });
        assert!(matches!(
            rx.try_recv(),
            Ok(Delivery::Core(SyncEvent::FoldersChanged { .. }))
        ));
    }
}
