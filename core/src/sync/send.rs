//! Sending the outbox (issue 18): each due entry, oldest first, over the account's IMAP
//! session and one SMTP submission session opened for the run.
//!
//! **The Sent copy is uploaded once.** Where the IMAP server offers URLAUTH and the
//! submission server `BURL imap`, the message is APPENDed to Sent (assembled there with
//! CATENATE when it is a forward: our text plus URLs to the original's parts), GENURLAUTH
//! signs a `submit+` URL of that copy, and `BURL <url> LAST` submits it: the message crosses
//! the uplink once, or, assembled, only our text does. Elsewhere: DATA (a forward assembled
//! here from the original's bytes), then the APPEND to Sent, unless the server files sent
//! mail itself (found once per account by a `UID SEARCH HEADER Message-ID` in Sent after the
//! first send, and remembered).
//!
//! **Crash safety.** Each step is committed before the next one starts (`store::outbox`
//! states): `appending` before an APPEND (a restart looks for the Message-ID in Sent before
//! appending again), `submitting` before the final dot or BURL. A restart that finds an
//! entry `submitting` cannot know whether the server took it: on the DATA path it looks for
//! the Message-ID in Sent (a server that files sent mail itself has it only if it was
//! sent), otherwise it sends again and counts a `resend` (a possible duplicate). That window
//! — from the final dot to the commit of the reply — is the one place a message can arrive
//! twice; nothing can make a queued message disappear.
//!
//! **Failures.** A 5xx for a recipient is kept per recipient and not retried; a 4xx is
//! retried for that recipient alone. A 5xx for the message (MAIL FROM, the end of DATA,
//! BURL) or a message over the server's SIZE fails the entry for good (kept, with its
//! error). Anything else (4xx, the network) backs off like the write-back queue and parks
//! after [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS).

use super::{
    EventSink, MAX_ATTEMPTS, SyncEvent,
    compose::assemble,
    send_wire::{envelope, find_in_sent, read_original},
    writeback::backoff,
};
use crate::{
    error::{Error, Result},
    imap::{ImapSession, url},
    net::{Credential, Endpoint, Purpose, TlsConnector, WireMeter},
    smtp::{self, Payload, SmtpOptions, SmtpSession},
    store::{
        AccountId, FolderId, OriginalPlace, OutboxId, OutboxState, OutboxUpdate, OutgoingWork,
        RejectedRecipient, Store,
    },
};

// The Sent copy: appended before a BURL, filed after DATA.
#[path = "send_copy.rs"]
mod copy;

/// The submission server of an account and how to log in to it.
#[derive(Debug, Clone)]
pub struct SmtpTarget {
    pub endpoint: Endpoint,
    pub credential: Credential,
    pub tls: TlsConnector,
    pub options: SmtpOptions,
}

/// What a run of the outbox did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Entries that were sent (every recipient answered, the Sent copy filed).
    pub sent: u32,
    /// Entries that failed for good in this run.
    pub failed: u32,
    /// Entries still waiting (a temporary failure, or not due yet).
    pub waiting: u32,
    /// The error of each entry that did not get through, in order.
    pub errors: Vec<(OutboxId, String)>,
    /// Bytes of the SMTP session (read, written).
    pub smtp_read: u64,
    pub smtp_written: u64,
}

/// Sends what is due in the account's outbox. `imap` is the account's logged-in session
/// (None: no IMAP, so no Sent copy — a POP3 account); `target` its submission server (None:
/// none set, and the entries wait, parked, with that reason). `every` ignores backoff and
/// parking (the app's explicit retry).
pub async fn send_outbox(
    mut imap: Option<&mut ImapSession>,
    target: Option<&SmtpTarget>,
    store: &Store,
    account: AccountId,
    now: i64,
    every: bool,
    events: &dyn EventSink,
) -> Result<SendReport> {
    let due = store.due_outgoing(account, now, every).await?;
    let mut report = SendReport::default();
    if due.is_empty() {
        return Ok(report);
    }
    let Some(target) = target else {
        for work in &due {
            let reason = "the account has no submission server set";
            store
                .record_outgoing_failure(work.item.id, reason, now, true)
                .await?;
            report.waiting += 1;
            report.errors.push((work.item.id, reason.into()));
            events.emit(changed(account, work.item.id));
        }
        return Ok(report);
    };
    // An IMAP account whose folder list was never synced has no known Sent folder yet: its
    // messages wait for the first sync's LIST (the pass sends again at its end) rather than
    // go out without a copy.
    // The folder list is read once per run: it also names the Sent folder.
    let folders = store.folders(account).await?;
    if imap.is_some() && folders.is_empty() {
        for work in &due {
            report.waiting += 1;
            report.errors.push((
                work.item.id,
                "waiting for the account's first sync (to find its Sent folder)".into(),
            ));
        }
        return Ok(report);
    }
    let meter = WireMeter::new();
    let mut run = Run {
        store,
        account,
        now,
        events,
        target,
        meter: meter.clone(),
        smtp: tokio::sync::Mutex::new(None),
        sent: store
            .folder_with_role(account, "sent")
            .await?
            .and_then(|id| folders.into_iter().find(|f| f.id == id))
            .map(|f| SentFolder {
                id: f.id,
                name: f.name,
            }),
    };
    for work in due {
        let id = work.item.id;
        let imap_before = imap.as_deref().map_or(0, written);
        let smtp_before = meter.totals().written.iter().sum::<u64>();
        let outcome = run.one(imap.as_deref_mut(), work).await;
        let up = imap.as_deref().map_or(0, written) - imap_before
            + meter.totals().written.iter().sum::<u64>()
            - smtp_before;
        store
            .update_outgoing(
                id,
                OutboxUpdate {
                    add_up_bytes: up,
                    ..OutboxUpdate::default()
                },
            )
            .await?;
        match outcome {
            Ok(Done::Sent) => report.sent += 1,
            Ok(Done::Failed(e)) => {
                report.failed += 1;
                report.errors.push((id, e));
            }
            Ok(Done::Waiting(e)) => {
                report.waiting += 1;
                report.errors.push((id, e));
            }
            Err(e) => {
                // A store failure, or the IMAP connection gone: what was committed stands,
                // the entry is tried again next time.
                if let Err(store_error) = run.temporary(id, &e).await {
                    tracing::warn!(error = %store_error, "could not record a failed send");
                }
                report.waiting += 1;
                report.errors.push((id, e.to_string()));
                events.emit(changed(account, id));
                if e.is_dead_connection() || matches!(e, Error::Store { .. }) {
                    break;
                }
            }
        }
        events.emit(changed(account, id));
    }
    if let Some(session) = run.smtp.get_mut().take() {
        session.quit().await;
    }
    let totals = meter.totals();
    report.smtp_read = totals.read.iter().sum();
    report.smtp_written = totals.written.iter().sum();
    Ok(report)
}

fn written(session: &ImapSession) -> u64 {
    session.meter().totals().written.iter().sum()
}

fn changed(account: AccountId, item: OutboxId) -> SyncEvent {
    SyncEvent::OutboxChanged { account, item }
}

/// How one entry ended this run.
enum Done {
    Sent,
    Failed(String),
    Waiting(String),
}

struct Run<'a> {
    store: &'a Store,
    account: AccountId,
    now: i64,
    events: &'a dyn EventSink,
    target: &'a SmtpTarget,
    meter: WireMeter,
    /// The SMTP session, opened at the first entry that needs it. In a mutex only so that
    /// `Run` is `Sync` (the session's stream is not); reached through `get_mut`, never locked.
    smtp: tokio::sync::Mutex<Option<SmtpSession>>,
    /// The account's Sent folder, if it has one.
    sent: Option<SentFolder>,
}

/// The Sent folder as the wire names it, with its id.
#[derive(Debug, Clone)]
pub(super) struct SentFolder {
    pub id: FolderId,
    pub name: String,
}

impl Run<'_> {
    async fn smtp(&mut self) -> Result<&mut SmtpSession> {
        // A session the last transaction broke (the server hung up) is replaced.
        if self
            .smtp
            .get_mut()
            .as_ref()
            .is_some_and(SmtpSession::is_broken)
        {
            *self.smtp.get_mut() = None;
        }
        match self.smtp.get_mut() {
            Some(session) => Ok(session),
            slot => {
                let session = smtp::connect(
                    &self.target.endpoint,
                    &self.target.credential,
                    &self.target.tls,
                    &self.meter,
                    &self.target.options,
                )
                .await?;
                Ok(slot.insert(session))
            }
        }
    }

    /// Counts a temporary failure: backoff, parked after `MAX_ATTEMPTS`.
    async fn temporary(
        &self,
        id: OutboxId,
        error: &(dyn std::fmt::Display + Sync),
    ) -> Result<String> {
        let item = self.store.outbox_item(id).await?;
        let attempts = item.attempts + 1;
        let park = attempts >= MAX_ATTEMPTS;
        let text = error.to_string();
        self.store
            .record_outgoing_failure(id, &text, self.now + backoff(attempts), park)
            .await?;
        Ok(text)
    }

    async fn record(&self, id: OutboxId, update: OutboxUpdate) -> Result<()> {
        self.store.update_outgoing(id, update).await?;
        self.events.emit(changed(self.account, id));
        Ok(())
    }

    /// One entry, from wherever its last run left it.
    async fn one(
        &mut self,
        mut imap: Option<&mut ImapSession>,
        work: OutgoingWork,
    ) -> Result<Done> {
        let id = work.item.id;
        if let Some(session) = imap.as_deref_mut() {
            session.meter().set_purpose(Purpose::Send);
        }
        let result = self.one_inner(imap.as_deref_mut(), &work).await;
        if let Some(session) = imap {
            session.meter().set_purpose(Purpose::SyncMetadata);
        }
        match result {
            Ok(done) => Ok(done),
            Err(e) if e.is_dead_connection() || matches!(e, Error::Store { .. }) => Err(e),
            // Anything else is this entry's own trouble: counted, and the run goes on.
            Err(e) => Ok(Done::Waiting(self.temporary(id, &e).await?)),
        }
    }

    async fn one_inner(
        &mut self,
        mut imap: Option<&mut ImapSession>,
        work: &OutgoingWork,
    ) -> Result<Done> {
        let id = work.item.id;
        // No IMAP (POP3): no Sent copy.
        let sent = imap.as_ref().and(self.sent.clone());
        let mut state = work.item.state;
        let mut sent_copy = work.sent_copy;
        let copy_done = work.copy_done;
        let mut resend = false;

        // A send whose outcome a restart could not know.
        if state == OutboxState::Submitting {
            // Only where no copy of ours is in Sent (the DATA path appends after the send; a
            // BURL that fell back to DATA had appended before).
            if work.item.path.as_deref() == Some("data")
                && sent_copy.is_none()
                && let (Some(session), Some(sent)) = (imap.as_deref_mut(), &sent)
                && let Some(uid) = find_in_sent(session, sent, &work.item.message_id).await?
            {
                // Filed in Sent by the server: it was sent.
                let v = session.selected_uid_validity(&sent.name);
                self.record(
                    id,
                    OutboxUpdate {
                        state: Some(OutboxState::Sent),
                        pending: Some(Vec::new()),
                        sent_copy: v.map(|v| (sent.id, v, uid)),
                        copy_done: Some(true),
                        progressed: true,
                        ..OutboxUpdate::default()
                    },
                )
                .await?;
                return Ok(Done::Sent);
            }
            resend = true;
            // A copy of ours in Sent is never appended again.
            state = if sent_copy.is_some() {
                OutboxState::Appended
            } else {
                OutboxState::Queued
            };
        }
        if state == OutboxState::Submitted {
            return self.file_copy(imap, work, sent.as_ref(), true).await;
        }

        // (No reference to the IMAP session is held across an await: it is not Sync.)
        let urlauth = sent.is_some() && imap.as_deref().is_some_and(|s| s.capabilities().urlauth());
        let caps = self.smtp().await?.caps().clone();
        // Over the server's SIZE: refused before anything is uploaded, the Sent copy too.
        if let Some(limit) = caps.size.filter(|l| *l > 0)
            && work.item.size > limit
            && state == OutboxState::Queued
        {
            let error = Error::MessageTooLarge {
                size: work.item.size,
                limit,
            };
            return Ok(Done::Failed(
                self.fail(id, &error.to_string(), false).await?,
            ));
        }
        // URLs must name the IMAP server as the submission server knows it (Dovecot and
        // Cyrus sign and resolve only their configured authority, never the address this
        // device connected to): without an announced authority there is no BURL.
        let burl = caps
            .burl
            .filter(|b| b.imap && urlauth && !b.authorities.is_empty())
            .map(|b| b.authorities);
        let can_assemble_there = imap.as_deref().is_some_and(|s| s.capabilities().catenate());
        let by_reference = match state {
            OutboxState::Appended | OutboxState::Appending => true,
            _ => burl.is_some() && (work.parts.is_none() || can_assemble_there),
        };

        if by_reference {
            let (Some(session), Some(sent), Some(authorities)) =
                (imap.as_deref_mut(), sent.as_ref(), burl.as_ref())
            else {
                return Err(Error::Unsupported {
                    what: "BURL on the submission server (the Sent copy is waiting for it)",
                });
            };
            if sent_copy.is_none() || state != OutboxState::Appended {
                sent_copy = Some(self.append_copy(session, work, sent, state).await?);
            }
            let Some((_, v, uid)) = sent_copy else {
                return Err(Error::Protocol {
                    reason: "the Sent copy has no UID".into(),
                });
            };
            let Some(authority) = authorities.first().cloned() else {
                return Err(Error::Unsupported {
                    what: "BURL without an IMAP authority",
                });
            };
            let rump = url::submit_rump(
                &authority,
                self.target.credential.username(),
                &sent.name,
                v,
                uid,
            )?;
            let signed = match session.genurlauth(&rump).await {
                Ok(signed) => Some(signed),
                // The IMAP server will not sign a URL naming the authority the submission
                // server announced (they are not one system: Cyrus signs only for its own
                // configured name): the bytes go by DATA instead, below.
                Err(Error::ServerNo { .. } | Error::ServerBad { .. }) => None,
                Err(e) => return Err(e),
            };
            if let Some(signed) = signed {
                self.record(
                    id,
                    OutboxUpdate {
                        state: Some(OutboxState::Submitting),
                        path: Some("burl"),
                        resend,
                        ..OutboxUpdate::default()
                    },
                )
                .await?;
                let smtp = self.smtp().await?;
                let by_url = envelope(work, work.item.size);
                let result = smtp.send(&by_url, Payload::Burl { url: &signed }).await;
                drop(signed);
                let refused_url = matches!(
                    &result,
                    Err(smtp::SendError {
                        error: Error::SmtpRejected {
                            stage: "BURL",
                            permanent: true,
                            ..
                        },
                        maybe_delivered: false,
                    })
                );
                if !refused_url {
                    return self.answered(work, result, true, sent_copy, true).await;
                }
            }
            // The submission server announced BURL but could not fetch the copy (a 5xx to
            // BURL), or the IMAP server would not sign its URL: the bytes go by DATA
            // instead, from the Sent copy; the copy stays filed, the only one.
            tracing::info!(
                "BURL not possible for this copy; sending the message with DATA instead"
            );
            let bytes = match &work.parts {
                None => work.raw.clone(),
                Some(_) => {
                    let copy = OriginalPlace {
                        folder: sent.id,
                        folder_name: sent.name.clone(),
                        uid_validity: v,
                        uid,
                    };
                    read_original(session, &copy).await?
                }
            };
            self.record(
                id,
                OutboxUpdate {
                    state: Some(OutboxState::Submitting),
                    path: Some("data"),
                    resend,
                    copy_done: Some(true),
                    ..OutboxUpdate::default()
                },
            )
            .await?;
            let smtp = self.smtp().await?;
            let envelope = envelope(work, bytes.len() as u64);
            let result = smtp.send(&envelope, Payload::Data(&bytes)).await;
            return self.answered(work, result, false, sent_copy, true).await;
        }

        // DATA: the bytes here (a forward assembled from the original's).
        let bytes = match &work.parts {
            None => std::borrow::Cow::Borrowed(work.raw.as_slice()),
            Some(parts) => {
                let (Some(session), Some(original)) = (imap.as_deref_mut(), &work.original) else {
                    return Ok(Done::Failed(
                        self.fail(id, "the original message is gone from the server", false)
                            .await?,
                    ));
                };
                let whole = read_original(session, original).await?;
                std::borrow::Cow::Owned(assemble(&work.raw, parts, &whole)?)
            }
        };
        self.record(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Submitting),
                path: Some("data"),
                resend,
                ..OutboxUpdate::default()
            },
        )
        .await?;
        let smtp = self.smtp().await?;
        let envelope = envelope(work, bytes.len() as u64);
        let result = smtp.send(&envelope, Payload::Data(&bytes)).await;
        let done = self
            .answered(work, result, false, sent_copy, work.copy_done)
            .await?;
        // The Sent copy, once someone has the message (also while other recipients wait).
        let item = self.store.outbox_item(id).await?;
        let accepted = item.recipients.len() > item.pending.len() + item.rejected.len();
        if !copy_done
            && accepted
            && matches!(item.state, OutboxState::Submitted | OutboxState::Queued)
        {
            return self
                .file_copy_bytes(imap, work, sent.as_ref(), &bytes, item.state, false)
                .await;
        }
        Ok(done)
    }

    /// What the submission server answered, recorded.
    async fn answered(
        &mut self,
        work: &OutgoingWork,
        result: std::result::Result<smtp::Delivery, smtp::SendError>,
        by_reference: bool,
        sent_copy: Option<(FolderId, u32, u32)>,
        copy_done: bool,
    ) -> Result<Done> {
        let id = work.item.id;
        let delivery = match result {
            Ok(d) => d,
            Err(e) => {
                if e.error.leaves_connection_unusable() {
                    *self.smtp.get_mut() = None;
                }
                if e.maybe_delivered {
                    // Stays `submitting`: the next run decides (see the module docs).
                    let text = self.temporary(id, &e.to_string()).await?;
                    return Ok(Done::Waiting(text));
                }
                let permanent = matches!(
                    e.error,
                    Error::MessageTooLarge { .. }
                        | Error::SmtpRejected {
                            permanent: true,
                            ..
                        }
                );
                if permanent {
                    let text = e.error.to_string();
                    return Ok(Done::Failed(self.fail(id, &text, by_reference).await?));
                }
                self.record(
                    id,
                    OutboxUpdate {
                        state: Some(if by_reference && sent_copy.is_some() {
                            OutboxState::Appended
                        } else {
                            OutboxState::Queued
                        }),
                        ..OutboxUpdate::default()
                    },
                )
                .await?;
                return Ok(Done::Waiting(self.temporary(id, &e.error).await?));
            }
        };
        let rejected: Vec<RejectedRecipient> = delivery
            .rejected
            .iter()
            .filter(|r| r.permanent)
            .map(|r| RejectedRecipient {
                address: r.address.clone(),
                code: r.code,
                enhanced: r.enhanced.clone(),
                text: r.text.clone(),
            })
            .collect();
        let later: Vec<String> = delivery
            .rejected
            .iter()
            .filter(|r| !r.permanent)
            .map(|r| r.address.clone())
            .collect();
        if delivery.accepted.is_empty() && later.is_empty() {
            self.record(
                id,
                OutboxUpdate {
                    pending: Some(Vec::new()),
                    add_rejected: rejected,
                    ..OutboxUpdate::default()
                },
            )
            .await?;
            return Ok(Done::Failed(
                self.fail(id, "the server refused every recipient", by_reference)
                    .await?,
            ));
        }
        let state = match (later.is_empty(), by_reference) {
            (true, true) => OutboxState::Sent,
            (true, false) if copy_done => OutboxState::Sent,
            (true, false) => OutboxState::Submitted,
            (false, true) => OutboxState::Appended,
            (false, false) => OutboxState::Queued,
        };
        let waiting = !later.is_empty();
        self.record(
            id,
            OutboxUpdate {
                state: Some(state),
                pending: Some(later),
                add_rejected: rejected,
                copy_done: copy_done.then_some(true),
                progressed: true,
                ..OutboxUpdate::default()
            },
        )
        .await?;
        if waiting {
            let first = delivery.rejected.iter().find(|r| !r.permanent);
            let reason = format!(
                "{} recipient(s) refused for now, tried again later: {}",
                delivery.rejected.iter().filter(|r| !r.permanent).count(),
                first.map_or(String::new(), |r| match &r.enhanced {
                    Some(e) => format!("{} {e} {}", r.code, r.text),
                    None => format!("{} {}", r.code, r.text),
                })
            );
            let text = self.temporary(id, &reason).await?;
            return Ok(Done::Waiting(text));
        }
        Ok(if state == OutboxState::Sent {
            Done::Sent
        } else {
            Done::Waiting(String::new())
        })
    }

    /// A permanent failure; the Sent copy of a message nobody received is expunged.
    async fn fail(&self, id: OutboxId, reason: &str, drop_copy: bool) -> Result<String> {
        let item = self.store.outbox_item(id).await?;
        let nobody = item.rejected.len() + item.pending.len() >= item.recipients.len();
        self.record(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Failed),
                failure: Some(reason.to_string()),
                expunge_copy: drop_copy && nobody,
                ..OutboxUpdate::default()
            },
        )
        .await?;
        Ok(reason.to_string())
    }
}
