//! The Sent copy of an outbox entry, for the runner in `send`: on the BURL path the copy is
//! uploaded before the submission (APPENDed whole, or assembled there with CATENATE from our
//! text and the original's parts), and looked for by its Message-ID first where an earlier
//! run may have appended it already; on the DATA path it is filed after the send: nothing
//! where the server files sent mail itself (learnt once per account), else an APPEND of the
//! bytes that were sent.

use super::{Done, Run, SentFolder};
use crate::{
    error::{Error, Result},
    imap::ImapSession,
    store::{FolderId, OutboxId, OutboxState, OutboxUpdate, OutgoingWork},
    sync::{
        compose::assemble,
        send_wire::{catenate_pieces, find_in_sent, part_urls, read_original},
    },
};

/// Flags of the Sent copy.
const SENT_FLAGS: [&str; 1] = ["\\Seen"];

impl Run<'_> {
    /// The Sent copy, APPENDed whole or assembled with CATENATE; found by its Message-ID
    /// instead where an APPEND of it may already have happened.
    pub(super) async fn append_copy(
        &self,
        session: &mut ImapSession,
        work: &OutgoingWork,
        sent: &SentFolder,
        state: OutboxState,
    ) -> Result<(FolderId, u32, u32)> {
        let id = work.item.id;
        if state == OutboxState::Appending
            && let Some(uid) = find_in_sent(session, sent, &work.item.message_id).await?
            && let Some(v) = session.selected_uid_validity(&sent.name)
        {
            return self.appended(id, (sent.id, v, uid)).await;
        }
        self.record(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Appending),
                path: Some("burl"),
                ..OutboxUpdate::default()
            },
        )
        .await?;
        let outcome = match &work.parts {
            None => session.append(&sent.name, &SENT_FLAGS, &work.raw).await?,
            Some(parts) => {
                let Some(original) = &work.original else {
                    return Err(Error::Config {
                        reason: "the original message is gone from the server".into(),
                    });
                };
                let urls = part_urls(parts, original)?;
                let pieces = catenate_pieces(&work.raw, parts, &urls)?;
                session
                    .append_catenate(&sent.name, &SENT_FLAGS, &pieces)
                    .await?
            }
        };
        let copy = match outcome.uid {
            Some((v, uid)) => (sent.id, v, uid),
            None => {
                // No APPENDUID (no UIDPLUS): the copy is found by its Message-ID.
                let uid = find_in_sent(session, sent, &work.item.message_id)
                    .await?
                    .ok_or(Error::Protocol {
                        reason: "the Sent copy was appended but cannot be found".into(),
                    })?;
                let v = session
                    .selected_uid_validity(&sent.name)
                    .ok_or(Error::Protocol {
                        reason: "the Sent folder has no UIDVALIDITY".into(),
                    })?;
                (sent.id, v, uid)
            }
        };
        self.appended(id, copy).await
    }

    /// Records `copy` as the entry's Sent copy, appended, and hands it back.
    async fn appended(
        &self,
        id: OutboxId,
        copy: (FolderId, u32, u32),
    ) -> Result<(FolderId, u32, u32)> {
        self.record(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Appended),
                sent_copy: Some(copy),
                progressed: true,
                ..OutboxUpdate::default()
            },
        )
        .await?;
        Ok(copy)
    }

    /// The DATA path's Sent copy after a crash left the entry `submitted`: the bytes again.
    pub(super) async fn file_copy(
        &mut self,
        mut imap: Option<&mut ImapSession>,
        work: &OutgoingWork,
        sent: Option<&SentFolder>,
        after_restart: bool,
    ) -> Result<Done> {
        let bytes = match &work.parts {
            None => work.raw.clone(),
            Some(parts) => match (imap.as_deref_mut(), &work.original) {
                (Some(session), Some(original)) => {
                    let whole = read_original(session, original).await?;
                    assemble(&work.raw, parts, &whole)?
                }
                _ => Vec::new(),
            },
        };
        self.file_copy_bytes(
            imap,
            work,
            sent,
            &bytes,
            OutboxState::Submitted,
            after_restart,
        )
        .await
    }

    /// Files the Sent copy of a message the DATA path sent: nothing where the server does it
    /// itself (learnt once per account), else APPEND. `state` is the entry's state now;
    /// `resumed`: an earlier run stopped after the send, maybe during this APPEND, so Sent is
    /// searched first whatever the account is known to do.
    pub(super) async fn file_copy_bytes(
        &mut self,
        imap: Option<&mut ImapSession>,
        work: &OutgoingWork,
        sent: Option<&SentFolder>,
        bytes: &[u8],
        state: OutboxState,
        resumed: bool,
    ) -> Result<Done> {
        let id = work.item.id;
        let next = if state == OutboxState::Submitted {
            OutboxState::Sent
        } else {
            state
        };
        // A copy filed while other recipients wait keeps their backoff.
        let done = |copy: Option<(FolderId, u32, u32)>| OutboxUpdate {
            state: Some(next),
            copy_done: Some(true),
            sent_copy: copy,
            progressed: next == OutboxState::Sent,
            ..OutboxUpdate::default()
        };
        let (Some(session), Some(sent)) = (imap, sent) else {
            // No IMAP (POP3) or no Sent folder: there is nowhere to file a copy.
            self.record(id, done(None)).await?;
            return Ok(finished(next));
        };
        let autofiled = self.store.sent_autofiled(self.account).await?;
        if autofiled != Some(false) || resumed {
            let found = find_in_sent(session, sent, &work.item.message_id).await?;
            if autofiled.is_none() && !resumed {
                self.store
                    .set_sent_autofiled(self.account, found.is_some())
                    .await?;
            }
            if let Some(uid) = found {
                let v = session.selected_uid_validity(&sent.name);
                self.record(id, done(v.map(|v| (sent.id, v, uid)))).await?;
                return Ok(finished(next));
            }
        }
        if bytes.is_empty() {
            self.record(id, done(None)).await?;
            return Ok(finished(next));
        }
        let outcome = session.append(&sent.name, &SENT_FLAGS, bytes).await?;
        let copy = outcome.uid.map(|(v, uid)| (sent.id, v, uid));
        self.record(id, done(copy)).await?;
        Ok(finished(next))
    }
}

fn finished(state: OutboxState) -> Done {
    if state == OutboxState::Sent {
        Done::Sent
    } else {
        Done::Waiting(String::new())
    }
}
