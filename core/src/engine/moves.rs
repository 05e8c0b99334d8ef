//! Moves, deletions, emptying the trash and saving drafts: applied to the store at once and
//! queued in the same transaction (see `store::moves`), then written back by the next sync
//! that may send (`sync::moves`, which runs before the folder sync). The listener hears the
//! same events a sync would raise (`MessagesRemoved`, `MessagesAdded`).
//!
//! Deleting moves to the account's Trash (folder role trash) when it has one and the message
//! is not already there; otherwise the message is expunged (`\Deleted` + `UID EXPUNGE` of its
//! UID; without UIDPLUS a plain EXPUNGE only when no other message of the folder is
//! `\Deleted`, else it waits: see `sync::moves`). Nothing is refused here for a missing MOVE,
//! UIDPLUS or COPYUID: the write-back has a fallback for each. Drafts are built here (mail-builder) and kept with their queue
//! row until the APPEND; saving again before that replaces the queued bytes.
//!
//! Like `changes`, it never talks to a server by itself. POP3 accounts have no folders to
//! move to and no drafts: those are refused with `Error::Config`; their deletions go to the
//! POP3 deletion (`engine::pop3`).

use std::{collections::BTreeMap, sync::Arc};

use mail_builder::MessageBuilder;

use super::{Engine, events, unix_now};
use crate::account::AccountSession;
use crate::{
    error::{Error, Result},
    store::{AccountId, AccountKind, Address, FolderId, LocalChanges, MessageId, PendingMailboxOp},
    sync::{
        self, SyncEvent,
        compose::{address, list},
    },
};

/// A draft to save: what the user wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Recipients who get the message without appearing in it (sending only: a saved
    /// draft keeps them in a `Bcc` header, which `send_draft` reads back).
    pub bcc: Vec<Address>,
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// An HTML alternative, if the editor made one.
    pub html: Option<String>,
    pub attachments: Vec<DraftAttachment>,
}

impl Draft {
    /// Nothing the user wrote: no recipient, subject, text, HTML or attachment (a sender
    /// alone is no draft). Such a draft is refused, never saved or APPENDed.
    pub fn is_empty(&self) -> bool {
        self.to.is_empty()
            && self.cc.is_empty()
            && self.bcc.is_empty()
            && self.subject.trim().is_empty()
            && self.text.trim().is_empty()
            && self.html.as_deref().is_none_or(|h| h.trim().is_empty())
            && self.attachments.is_empty()
    }
}

/// A file attached to a draft.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DraftAttachment {
    pub name: String,
    /// `type/subtype`.
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for DraftAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DraftAttachment")
            .field("mime_type", &self.mime_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Moves messages (of one account) to `to`. Stored at once: the rows, with their cached
    /// bodies and downloads, are in `to` now; the server follows on the next sync.
    pub async fn move_messages(&self, messages: &[MessageId], to: FolderId) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let accounts: Vec<AccountId> = self.accounts_of(messages).await?.into_keys().collect();
        for account in &accounts {
            self.refuse_pop3(*account, "moving messages").await?;
        }
        let runtimes = self.queue_runtimes(&accounts);
        let _queue = lock_all(&runtimes).await;
        let changes = self.store.queue_moves(messages, to).await?;
        self.announce(changes);
        Ok(())
    }

    /// Deletes messages: to the Trash, or expunged when there is none or they are in it.
    /// Messages of POP3 accounts go through the POP3 deletion (`pop3.rs`: removed locally
    /// now, DELE by the sync's POP3 delete policy).
    pub async fn delete_messages(&self, messages: &[MessageId]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut imap = Vec::new();
        for (account, ids) in self.accounts_of(messages).await? {
            if self.account(account).await?.kind == AccountKind::Pop3 {
                self.delete_pop3_messages(account, &ids).await?;
            } else {
                imap.extend(ids);
            }
        }
        if !imap.is_empty() {
            let accounts: Vec<AccountId> = self.accounts_of(&imap).await?.into_keys().collect();
            let runtimes = self.queue_runtimes(&accounts);
            let _queue = lock_all(&runtimes).await;
            let changes = self.store.queue_deletes(&imap).await?;
            self.announce(changes);
        }
        Ok(())
    }

    /// Expunges every stored message of the account's Trash (`\Deleted` + `UID EXPUNGE` of
    /// exactly those UIDs on the next sync). Does nothing when the account has no Trash.
    pub async fn empty_trash(&self, account: AccountId) -> Result<()> {
        self.refuse_pop3(account, "emptying the trash").await?;
        let Some(trash) = self.store.folder_with_role(account, "trash").await? else {
            return Ok(());
        };
        let runtimes = self.queue_runtimes(&[account]);
        let _queue = lock_all(&runtimes).await;
        let changes = self.store.queue_empty_folder(trash).await?;
        self.announce(changes);
        Ok(())
    }

    /// Saves a draft in the account's Drafts folder (role drafts): stored at once with its
    /// body, APPENDed (`\Draft \Seen`) on the next sync. An empty draft
    /// ([`Draft::is_empty`]) is refused with `Error::Config`. `replaces` is the previous version,
    /// removed locally now and on the server after the APPEND (or, if it was never sent,
    /// its queued APPEND is replaced: one APPEND in the end). Returns the new message.
    pub async fn save_draft(
        &self,
        account: AccountId,
        draft: Draft,
        replaces: Option<MessageId>,
    ) -> Result<MessageId> {
        self.refuse_pop3(account, "saving drafts").await?;
        let Some(drafts) = self.store.folder_with_role(account, "drafts").await? else {
            return Err(Error::Config {
                reason: "the account has no Drafts folder".into(),
            });
        };
        if draft.is_empty() {
            return Err(Error::Config {
                reason: "the draft is empty: no recipient, subject, text or attachment".into(),
            });
        }
        let raw = build_draft(&draft)?;
        let record = sync::draft_record(raw, unix_now())?;
        let runtimes = self.queue_runtimes(&[account]);
        let _queue = lock_all(&runtimes).await;
        let (id, changes) = self.store.queue_draft(drafts, &record, replaces).await?;
        self.announce(changes);
        Ok(id)
    }

    /// The account's queued moves, deletions and drafts, oldest first (parked ones too).
    /// `last_error` says why a row is parked or waiting (a removal waiting for a safe
    /// EXPUNGE on a server without UIDPLUS).
    pub async fn pending_mailbox_operations(
        &self,
        account: AccountId,
    ) -> Result<Vec<PendingMailboxOp>> {
        self.store.pending_mailbox_operations(account).await
    }

    /// The accounts of some messages, with the messages of each.
    async fn accounts_of(
        &self,
        messages: &[MessageId],
    ) -> Result<BTreeMap<AccountId, Vec<MessageId>>> {
        let mut out: BTreeMap<AccountId, Vec<MessageId>> = BTreeMap::new();
        for id in messages {
            let location = self
                .store
                .message_location(*id)
                .await?
                .ok_or(Error::NotFound {
                    what: "message",
                    id: id.0,
                })?;
            out.entry(location.account).or_default().push(*id);
        }
        Ok(out)
    }

    /// The running accounts among `accounts` (an account without its credential yet cannot
    /// be syncing, so there is nothing to wait for).
    fn queue_runtimes(&self, accounts: &[AccountId]) -> Vec<Arc<AccountSession>> {
        accounts
            .iter()
            .filter_map(|a| self.runtime(*a).ok())
            .collect()
    }

    async fn refuse_pop3(&self, account: AccountId, what: &str) -> Result<()> {
        if self.account(account).await?.kind == AccountKind::Pop3 {
            return Err(Error::Config {
                reason: format!("POP3 accounts do not support {what}"),
            });
        }
        Ok(())
    }

    fn announce(&self, changes: LocalChanges) {
        let listener = self.listener();
        let sink = events(&listener);
        for (folder, uids) in changes.removed {
            sink.emit(SyncEvent::MessagesRemoved { folder, uids });
        }
        for (folder, uids) in changes.added {
            sink.emit(SyncEvent::MessagesAdded { folder, uids });
        }
    }
}

/// Waits until no write-back of these accounts is running and keeps it so (in account order,
/// so two callers never wait on each other).
async fn lock_all(runtimes: &[Arc<AccountSession>]) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
    let mut guards = Vec::with_capacity(runtimes.len());
    for runtime in runtimes {
        guards.push(runtime.queue.lock().await);
    }
    guards
}

/// The draft as an RFC 5322 message.
fn build_draft(draft: &Draft) -> Result<Vec<u8>> {
    let mut builder = MessageBuilder::new()
        .from(address(&draft.from))
        .subject(draft.subject.as_str())
        .text_body(draft.text.as_str());
    if !draft.to.is_empty() {
        builder = builder.to(list(&draft.to));
    }
    if !draft.cc.is_empty() {
        builder = builder.cc(list(&draft.cc));
    }
    if !draft.bcc.is_empty() {
        builder = builder.bcc(list(&draft.bcc));
    }
    if let Some(html) = &draft.html {
        builder = builder.html_body(html.as_str());
    }
    for a in &draft.attachments {
        builder = builder.attachment(a.mime_type.as_str(), a.name.as_str(), a.bytes.as_slice());
    }
    Ok(builder.write_to_vec()?)
}
