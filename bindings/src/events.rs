//! Events for the app: the core's watch events (`anvert_core::events`, where the watch
//! model, the snapshot, the scope and the delivery thread live) converted to `MailEvent`,
//! and the app's listener adapted to the core's. Nothing is decided here.

use std::sync::Arc;

use anvert_core::{
    events::{WatchEvent, WatchListener},
    sync as cy,
};

use crate::{
    error::AnvertError,
    types::{Folder, MessageSummary, summaries},
};

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
    /// The account's folders, when a watch or push starts; again (re-query what you show)
    /// in place of changes the listener lagged too far behind to be queued.
    FoldersSnapshot { account: i64, folders: Vec<Folder> },
    /// The newest messages of a watched folder, when the watch starts; again (replace the
    /// list) in place of changes the listener lagged too far behind to be queued.
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
    /// An outbox entry of the watched account changed (queued, a step of its send, sent,
    /// failed, cancelled): read it again with `outbox`. Heard by account watches and push.
    OutboxChanged { account: i64, item: i64 },
    /// Push (IDLE) ended; `error` says why when it failed.
    PushStopped { error: Option<String> },
}

/// Receives events on the engine's event thread (one per engine, never a worker of its
/// runtime). It may take its time: a sync never waits for it, only later callbacks do; when
/// it lags by more than the queue holds, the watch sends a fresh snapshot in place of the
/// changes it could not queue. Hand work to the UI thread rather than block for long.
#[uniffi::export(with_foreign)]
pub trait MailListener: Send + Sync {
    fn on_event(&self, event: MailEvent);
}

/// The app's listener as the core's watch listener: each core event converted.
pub(crate) struct Listener(pub(crate) Arc<dyn MailListener>);

impl WatchListener for Listener {
    fn on_event(&self, event: WatchEvent) {
        if let Some(event) = convert(event) {
            self.0.on_event(event);
        }
    }
}

fn convert(event: WatchEvent) -> Option<MailEvent> {
    Some(match event {
        WatchEvent::FoldersSnapshot { account, folders } => MailEvent::FoldersSnapshot {
            account: account.0,
            folders: folders.into_iter().map(Into::into).collect(),
        },
        WatchEvent::MessagesSnapshot { folder, messages } => MailEvent::MessagesSnapshot {
            folder: folder.0,
            messages: summaries(messages),
        },
        WatchEvent::FoldersChanged { account } => MailEvent::FoldersChanged { account: account.0 },
        WatchEvent::MessagesAdded { folder, uids } => MailEvent::MessagesAdded {
            folder: folder.0,
            uids,
        },
        WatchEvent::MessagesChanged { folder, uids } => MailEvent::MessagesChanged {
            folder: folder.0,
            uids,
        },
        WatchEvent::MessagesRemoved { folder, uids } => MailEvent::MessagesRemoved {
            folder: folder.0,
            uids,
        },
        WatchEvent::MessagesIncomplete { folder, uids } => MailEvent::MessagesIncomplete {
            folder: folder.0,
            uids,
        },
        WatchEvent::KeywordsLocalOnly { folder, uids } => MailEvent::KeywordsLocalOnly {
            folder: folder.0,
            uids,
        },
        WatchEvent::FolderReset { folder } => MailEvent::FolderReset { folder: folder.0 },
        WatchEvent::ChangeDropped {
            folder,
            uids,
            reason,
        } => MailEvent::ChangeDropped {
            folder: folder.0,
            uids,
            reason: match reason {
                cy::DropReason::Expunged => DropReason::Expunged,
                cy::DropReason::Conflict => DropReason::Conflict,
                _ => DropReason::Parked,
            },
        },
        WatchEvent::SyncProgress {
            folder,
            synced,
            total,
        } => MailEvent::SyncProgress {
            folder: folder.0,
            synced,
            total,
        },
        WatchEvent::OutboxChanged { account, item } => MailEvent::OutboxChanged {
            account: account.0,
            item: item.0,
        },
        WatchEvent::PushStopped { error } => MailEvent::PushStopped {
            error: error.map(|e| AnvertError::from(e).to_string()),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use anvert_core::store::{AccountId, FolderId};

    use super::*;

    #[test]
    fn core_events_convert_with_their_ids_and_errors() {
        assert_eq!(
            convert(WatchEvent::FoldersChanged {
                account: AccountId(3)
            }),
            Some(MailEvent::FoldersChanged { account: 3 })
        );
        assert_eq!(
            convert(WatchEvent::ChangeDropped {
                folder: FolderId(4),
                uids: vec![7],
                reason: cy::DropReason::Conflict,
            }),
            Some(MailEvent::ChangeDropped {
                folder: 4,
                uids: vec![7],
                reason: DropReason::Conflict,
            })
        );
        assert_eq!(
            convert(WatchEvent::OutboxChanged {
                account: AccountId(2),
                item: anvert_core::store::OutboxId(9),
            }),
            Some(MailEvent::OutboxChanged {
                account: 2,
                item: 9
            })
        );
        match convert(WatchEvent::PushStopped {
            error: Some(anvert_core::Error::ConnectionClosed),
        }) {
            Some(MailEvent::PushStopped { error: Some(e) }) => assert!(!e.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
