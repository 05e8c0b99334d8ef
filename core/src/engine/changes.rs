//! Local flag changes the app makes to messages (moves, deletions and drafts are `moves`):
//! applied to the store at once and queued in the same transaction, then written back by the
//! next sync that may send (see `sync::writeback`). Offline the change is visible immediately
//! and nothing is sent.
//!
//! It only wraps the store and the sync layer; it never talks to a server by itself.

use super::{Engine, events};
use crate::{
    error::Result,
    store::{AccountId, Flags, MessageId, PendingOp},
    sync::SyncEvent,
};

impl Engine {
    /// Sets `add` and clears `remove` on many messages at once (any folders, any accounts).
    /// The stored flags change now and the listener hears `MessagesChanged` per folder; the
    /// change reaches the server on the next sync (on any network except offline). A keyword
    /// the folder's server cannot keep (outside its PERMANENTFLAGS, as last seen) is not
    /// queued: it stays on this device, named in `MessageSummary::local_keywords`, and the
    /// listener hears `KeywordsLocalOnly`.
    pub async fn set_flags(&self, messages: &[MessageId], add: Flags, remove: Flags) -> Result<()> {
        let queued = self.store.queue_flags(messages, &add, &remove).await?;
        let listener = self.listener();
        for (folder, uids) in queued.changed {
            events(&listener).emit(SyncEvent::MessagesChanged { folder, uids });
        }
        for (folder, uids) in queued.local_only {
            events(&listener).emit(SyncEvent::KeywordsLocalOnly { folder, uids });
        }
        Ok(())
    }

    /// The account's queued changes, oldest first; parked ones carry the error to show.
    pub async fn pending_operations(&self, account: AccountId) -> Result<Vec<PendingOp>> {
        self.store.pending_operations(account).await
    }

    /// Retries the account's parked operations on the next sync (after the user asked to).
    pub async fn retry_parked(&self, account: AccountId) -> Result<u64> {
        self.store.unpark(account).await
    }
}
