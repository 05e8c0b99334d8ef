//! Sending mail (issue 18): `send`, `send_draft` and `forward` put a message in the durable
//! outbox in one transaction (the MIME built here with mail-builder, as drafts are) and
//! return at once, offline too; the next sync of the account, or `flush_outbox`, sends it
//! (`sync::send`). The listener hears `SyncEvent::OutboxChanged` for every step.
//!
//! A forward never downloads the original's attachments: it is queued as our text plus the
//! sections of the original, which the server assembles (CATENATE) where it can.

use super::{Engine, accounts::security_name, events, unix_now};
use crate::{
    account::AccountSession,
    error::{Error, Result},
    net::Endpoint,
    policy::NetworkKind,
    store::{
        AccountId, AccountKind, Address, MessageId, NewOutgoing, OutboxId, OutboxItem,
        OutgoingSource,
    },
    sync::{
        self, SendReport, SyncEvent,
        compose::{self, Outgoing},
    },
};

use super::moves::Draft;

impl Engine {
    /// Sets (or removes, with None) the account's submission server. Sending waits, parked
    /// with that reason, while an account has none.
    pub async fn set_submission(&self, account: AccountId, server: Option<Endpoint>) -> Result<()> {
        self.account(account).await?;
        self.store
            .set_submission(
                account,
                server
                    .as_ref()
                    .map(|e| (e.host.as_str(), e.port, security_name(e.security))),
            )
            .await
    }

    /// The account's submission server, if one is set.
    pub async fn submission(&self, account: AccountId) -> Result<Option<Endpoint>> {
        let Some((host, port, security)) = self.store.submission(account).await? else {
            return Ok(None);
        };
        Ok(Some(Endpoint {
            host,
            port,
            security: super::accounts::security_from_name(&security)?,
        }))
    }

    /// Sends a message: built (mail-builder), put in the outbox, and sent by the next sync
    /// or `flush_outbox`. Bcc recipients get it without appearing in it. Returns the
    /// outbox entry.
    pub async fn send(&self, account: AccountId, message: Draft) -> Result<OutboxId> {
        let recipients = recipients(&message.to, &message.cc, &message.bcc)?;
        if message.from.email.trim().is_empty() {
            return Err(Error::Config {
                reason: "a message to send needs a sender".into(),
            });
        }
        let message_id = compose::new_message_id(&message.from.email);
        let attachments = message
            .attachments
            .iter()
            .map(|a| (a.name.as_str(), a.mime_type.as_str(), a.bytes.as_slice()))
            .collect();
        let raw = compose::build(&Outgoing {
            from: &message.from,
            to: &message.to,
            cc: &message.cc,
            subject: &message.subject,
            text: &message.text,
            html: message.html.as_deref(),
            attachments,
            message_id: &message_id,
            ..Outgoing::default()
        })?;
        let outgoing = NewOutgoing {
            mail_from: message.from.email.clone(),
            utf8: needs_utf8(&message.from, &recipients),
            recipients,
            subject: message.subject.clone(),
            size: raw.len() as u64,
            eight_bit: compose::is_eight_bit(&raw),
            source: OutgoingSource::Raw(raw),
            message_id,
        };
        self.queue(account, outgoing, None).await
    }

    /// Sends a saved draft as it is, and takes it out of Drafts in the same transaction. A
    /// draft only on the server is sent from the server's copy (assembled into Sent with
    /// CATENATE where offered, never downloaded then).
    pub async fn send_draft(&self, draft: MessageId) -> Result<OutboxId> {
        let detail = self.store.message(draft).await?.ok_or(Error::NotFound {
            what: "message",
            id: draft.0,
        })?;
        let account = self.account_of(draft).await?;
        let from = detail.summary.from.first().cloned().ok_or(Error::Config {
            reason: "the draft has no sender".into(),
        })?;
        let recipients = recipients(&detail.summary.to, &detail.cc, &detail.bcc)?;
        let message_id = detail
            .message_id
            .clone()
            .unwrap_or_else(|| compose::new_message_id(&from.email));
        let source = match self.store.queued_draft_raw(draft).await? {
            Some(raw) => OutgoingSource::Raw(compose::without_bcc(&raw)),
            // The server's copy goes out as it is, so a Bcc header in it would reach every
            // recipient.
            None if !detail.bcc.is_empty() => {
                return Err(Error::Config {
                    reason: "this draft is only on the server and has Bcc recipients; \
                             open it and send it as a new message"
                        .into(),
                });
            }
            None => OutgoingSource::Catenate {
                text: Vec::new(),
                parts: vec![crate::store::OutPart::Section(String::new())],
                original: draft,
                draft: true,
            },
        };
        let (size, eight_bit) = match &source {
            OutgoingSource::Raw(raw) => (raw.len() as u64, compose::is_eight_bit(raw)),
            // 8-bit or not is unknown for the server's copy: announced where offered.
            OutgoingSource::Catenate { .. } => (u64::from(detail.summary.size), false),
        };
        let outgoing = NewOutgoing {
            message_id,
            mail_from: from.email.clone(),
            utf8: needs_utf8(&from, &recipients),
            recipients,
            subject: detail.summary.subject.clone(),
            source,
            size,
            eight_bit,
        };
        self.queue(account, outgoing, Some(draft)).await
    }

    /// Forwards a stored message to `to` with `text` above it, from the account's address
    /// (its user name where that is an address, else the address the original was sent to). With `include_attachments` the original's attachments go along,
    /// taken from the server: assembled there (CATENATE, then BURL) where it offers both,
    /// so nothing of them crosses this device's link; else read from the server at send
    /// time and sent here. The original's text is quoted when its body is stored here.
    pub async fn forward(
        &self,
        message: MessageId,
        to: Vec<Address>,
        text: String,
        include_attachments: bool,
    ) -> Result<OutboxId> {
        let detail = self.store.message(message).await?.ok_or(Error::NotFound {
            what: "message",
            id: message.0,
        })?;
        let account = self.account_of(message).await?;
        let stored = self.account(account).await?;
        if stored.kind == AccountKind::Pop3 {
            return Err(Error::Config {
                reason: "POP3 accounts cannot forward from the server".into(),
            });
        }
        // From the account's address: its user name where that is one, else the address
        // the original was sent to.
        let from = if stored.username.contains('@') {
            Address {
                name: None,
                email: stored.username.clone(),
            }
        } else {
            detail
                .summary
                .to
                .first()
                .or(detail.cc.first())
                .cloned()
                .ok_or(Error::Config {
                    reason: "no address to send from: the account's user name is not one"
                        .into(),
                })?
        };
        let recipients = recipients(&to, &[], &[])?;
        let quoted = match sync::stored_body(&self.store, message).await? {
            Some(body) => body.text.unwrap_or_default(),
            None => String::new(),
        };
        let body = forward_text(&text, &detail, &quoted);
        let subject = forward_subject(&detail.summary.subject);
        let message_id = compose::new_message_id(&from.email);
        let sections: Vec<String> = if include_attachments {
            detail
                .parts
                .iter()
                .filter(|p| p.is_attachment)
                .map(|p| p.section.clone())
                .collect()
        } else {
            Vec::new()
        };
        let mut references = detail.references.clone();
        if let Some(id) = &detail.message_id {
            references.push(id.clone());
        }
        let (skeleton, parts) = compose::skeleton(
            &Outgoing {
                from: &from,
                to: &to,
                subject: &subject,
                text: &body,
                message_id: &message_id,
                references: &references,
                ..Outgoing::default()
            },
            &sections,
        )?;
        let carried: u64 = detail
            .parts
            .iter()
            .filter(|p| sections.contains(&p.section))
            .map(|p| u64::from(p.size) + 256)
            .sum();
        let outgoing = NewOutgoing {
            message_id,
            mail_from: from.email.clone(),
            utf8: needs_utf8(&from, &recipients),
            recipients,
            subject,
            size: skeleton.len() as u64 + carried,
            eight_bit: compose::is_eight_bit(&skeleton),
            source: OutgoingSource::Catenate {
                text: skeleton,
                parts,
                original: message,
                draft: false,
            },
        };
        self.queue(account, outgoing, None).await
    }

    /// The account's outbox, oldest first: waiting, failed (with the error and the refused
    /// recipients) and sent entries.
    pub async fn outbox(&self, account: AccountId) -> Result<Vec<OutboxItem>> {
        self.store.outbox(account).await
    }

    /// Takes an entry out of the outbox before it went out (or dismisses a sent or failed
    /// one). False, changing nothing, while its send is under way or partly done.
    pub async fn cancel_send(&self, item: OutboxId) -> Result<bool> {
        // No lock: a send claims its entry (a committed state change) before anything goes
        // on the wire, and a step recorded on an entry cancelled meanwhile stops that send.
        let entry = self.store.outbox_item(item).await?;
        let done = self.store.cancel_outgoing(item).await?;
        if done {
            events(&self.listener()).emit(SyncEvent::OutboxChanged {
                account: entry.account,
                item,
            });
        }
        Ok(done)
    }

    /// Sends what the account's outbox holds now, also entries backing off or parked (the
    /// app's "send now" / "retry"). The sync does the same for due entries on every pass.
    pub async fn flush_outbox(
        &self,
        account: AccountId,
        network: NetworkKind,
    ) -> Result<SendReport> {
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        let runtime: std::sync::Arc<AccountSession> = self.runtime(account)?;
        let listener = self.listener();
        runtime
            .flush_outbox(network, unix_now(), true, events(&listener))
            .await
    }

    async fn queue(
        &self,
        account: AccountId,
        outgoing: NewOutgoing,
        draft: Option<MessageId>,
    ) -> Result<OutboxId> {
        let runtime = self.runtime(account).ok();
        let _queue = match &runtime {
            Some(r) => Some(r.queue.lock().await),
            None => None,
        };
        let (id, changes) = self.store.queue_outgoing(account, &outgoing, draft).await?;
        let listener = self.listener();
        let sink = events(&listener);
        for (folder, uids) in changes.removed {
            sink.emit(SyncEvent::MessagesRemoved { folder, uids });
        }
        sink.emit(SyncEvent::OutboxChanged { account, item: id });
        Ok(id)
    }
}

/// Every recipient once, checked: at least one, each an address.
fn recipients(to: &[Address], cc: &[Address], bcc: &[Address]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for a in to.iter().chain(cc).chain(bcc) {
        let email = a.email.trim();
        if email.is_empty()
            || !email.contains('@')
            || email.chars().any(|c| c.is_control() || c == '<' || c == '>' || c == ' ')
        {
            return Err(Error::Config {
                reason: "a recipient is not a valid address".into(),
            });
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(email)) {
            out.push(email.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::Config {
            reason: "a message to send needs at least one recipient".into(),
        });
    }
    Ok(out)
}

fn needs_utf8(from: &Address, recipients: &[String]) -> bool {
    !from.email.is_ascii() || recipients.iter().any(|r| !r.is_ascii())
}

fn forward_subject(subject: &str) -> String {
    let lower = subject.trim_start().to_ascii_lowercase();
    if lower.starts_with("fwd:") || lower.starts_with("fw:") {
        subject.to_string()
    } else {
        format!("Fwd: {subject}")
    }
}

fn forward_text(text: &str, original: &crate::store::MessageDetail, quoted: &str) -> String {
    let list = |a: &[Address]| {
        a.iter()
            .map(|a| match &a.name {
                Some(n) => format!("{n} <{}>", a.email),
                None => a.email.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::with_capacity(text.len() + quoted.len() + 256);
    out.push_str(text);
    out.push_str("\n\n---------- Forwarded message ----------\n");
    out.push_str(&format!("From: {}\n", list(&original.summary.from)));
    out.push_str(&format!("Subject: {}\n", original.summary.subject));
    out.push_str(&format!("To: {}\n", list(&original.summary.to)));
    if !quoted.is_empty() {
        out.push('\n');
        out.push_str(quoted);
    }
    out
}
