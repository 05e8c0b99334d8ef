//! Sending (issue 18): the submission server, `send`, `send_draft`, `forward`, the outbox and
//! `flush_outbox`, as thin wrappers over `anvert_core::engine::send`. A message is queued in
//! the durable outbox and returns at once (offline too); the next sync or `flush_outbox`
//! sends it, and every step reaches listeners as `MailEvent::OutboxChanged`.

use anvert_core::{
    net as cn,
    store::{self as cs, AccountId, MessageId, OutboxId},
    sync as cy,
};

use crate::{
    engine::Engine,
    error::AnvertError,
    types::{Address, Draft, NetworkKind, Security},
};

/// An account's submission (SMTP) server: 465 with `Tls`, 587 with `StartTls`. It logs in
/// with the account's credential.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SubmissionServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

impl From<SubmissionServer> for cn::Endpoint {
    fn from(s: SubmissionServer) -> Self {
        cn::Endpoint {
            host: s.host,
            port: s.port,
            security: s.security.into(),
        }
    }
}

impl From<cn::Endpoint> for SubmissionServer {
    fn from(e: cn::Endpoint) -> Self {
        SubmissionServer {
            host: e.host,
            port: e.port,
            security: match e.security {
                cn::Security::ImplicitTls => Security::Tls,
                cn::Security::StartTls => Security::StartTls,
                _ => Security::DangerPlaintext,
            },
        }
    }
}

/// Where an outgoing message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OutboxState {
    /// Waiting for a connection (or its backoff; or parked, see `parked`).
    Queued,
    /// The Sent copy's upload started and was not recorded yet.
    Appending,
    /// The Sent copy is on the server; the submission by reference is next.
    Appended,
    /// The message went to the submission server and its answer was not recorded yet.
    Submitting,
    /// Every recipient has an answer; the Sent copy may still be due.
    Submitted,
    /// Done.
    Sent,
    /// Failed for good (see `last_error` and `rejected`); never retried.
    Failed,
}

impl From<cs::OutboxState> for OutboxState {
    fn from(s: cs::OutboxState) -> Self {
        match s {
            cs::OutboxState::Queued => OutboxState::Queued,
            cs::OutboxState::Appending => OutboxState::Appending,
            cs::OutboxState::Appended => OutboxState::Appended,
            cs::OutboxState::Submitting => OutboxState::Submitting,
            cs::OutboxState::Submitted => OutboxState::Submitted,
            cs::OutboxState::Sent => OutboxState::Sent,
            cs::OutboxState::Failed => OutboxState::Failed,
            // States added later show as still under way.
            #[allow(unreachable_patterns)]
            _ => OutboxState::Submitting,
        }
    }
}

/// A recipient the submission server refused for good (5xx).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedRecipient {
    pub address: String,
    /// The SMTP reply code (550, ...).
    pub code: u16,
    /// The enhanced status code (`5.1.1`), when the server gives one.
    pub enhanced: Option<String>,
    /// The server's words.
    pub text: String,
}

/// An outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OutboxItem {
    pub id: i64,
    pub account: i64,
    /// When it was queued (unix seconds).
    pub created_at: i64,
    pub message_id: String,
    pub subject: String,
    pub recipients: Vec<String>,
    /// Recipients still to send to (temporary failures are tried again).
    pub pending: Vec<String>,
    /// Recipients refused for good.
    pub rejected: Vec<RejectedRecipient>,
    pub state: OutboxState,
    /// The message's size in bytes (an estimate for a forward assembled on the server).
    pub size: u64,
    pub attempts: u32,
    /// When the next attempt may start (unix seconds).
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// Retried too often: waits for `flush_outbox`.
    pub parked: bool,
    /// Sends repeated after a restart found the previous outcome unknown (possible
    /// duplicates at the recipients).
    pub resends: u32,
    /// Bytes this entry's sends wrote (IMAP and SMTP).
    pub up_bytes: u64,
    /// `burl` (Sent copy first, submitted by reference) or `data`, once known.
    pub path: Option<String>,
    /// When it was sent (unix seconds).
    pub sent_at: Option<i64>,
}

impl From<cs::OutboxItem> for OutboxItem {
    fn from(i: cs::OutboxItem) -> Self {
        OutboxItem {
            id: i.id.0,
            account: i.account.0,
            created_at: i.created_at,
            message_id: i.message_id,
            subject: i.subject,
            recipients: i.recipients,
            pending: i.pending,
            rejected: i
                .rejected
                .into_iter()
                .map(|r| RejectedRecipient {
                    address: r.address,
                    code: r.code,
                    enhanced: r.enhanced,
                    text: r.text,
                })
                .collect(),
            state: i.state.into(),
            size: i.size,
            attempts: i.attempts,
            next_attempt_at: i.next_attempt_at,
            last_error: i.last_error,
            parked: i.parked,
            resends: i.resends,
            up_bytes: i.up_bytes,
            path: i.path,
            sent_at: i.sent_at,
        }
    }
}

/// An entry that did not get through in a `flush_outbox`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SendFailure {
    pub item: i64,
    pub error: String,
}

/// What a `flush_outbox` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SendReport {
    /// Entries sent (every recipient answered, the Sent copy filed).
    pub sent: u32,
    /// Entries that failed for good.
    pub failed: u32,
    /// Entries still waiting (a temporary failure, or not due).
    pub waiting: u32,
    pub errors: Vec<SendFailure>,
    /// Bytes of the SMTP session.
    pub smtp_read: u64,
    pub smtp_written: u64,
}

impl From<cy::SendReport> for SendReport {
    fn from(r: cy::SendReport) -> Self {
        SendReport {
            sent: r.sent,
            failed: r.failed,
            waiting: r.waiting,
            errors: r
                .errors
                .into_iter()
                .map(|(item, error)| SendFailure {
                    item: item.0,
                    error,
                })
                .collect(),
            smtp_read: r.smtp_read,
            smtp_written: r.smtp_written,
        }
    }
}

#[uniffi::export]
impl Engine {
    /// Sets (or removes, with `null`) the account's submission server. Sending waits,
    /// parked, while an account has none.
    pub async fn set_submission(
        &self,
        account: i64,
        server: Option<SubmissionServer>,
    ) -> Result<(), AnvertError> {
        let server = server.map(cn::Endpoint::from);
        self.call(move |e| async move { e.set_submission(AccountId(account), server).await })
            .await
    }

    /// The account's submission server, if one is set.
    pub async fn submission(&self, account: i64) -> Result<Option<SubmissionServer>, AnvertError> {
        let server = self
            .call(move |e| async move { e.submission(AccountId(account)).await })
            .await?;
        Ok(server.map(Into::into))
    }

    /// Queues a message (Bcc recipients get it without appearing in it) and returns its
    /// outbox id at once, offline too; the next sync or `flush_outbox` sends it.
    pub async fn send(&self, account: i64, message: Draft) -> Result<i64, AnvertError> {
        let message: anvert_core::engine::Draft = message.into();
        let id = self
            .call(move |e| async move { e.send(AccountId(account), message).await })
            .await?;
        Ok(id.0)
    }

    /// Queues a saved draft as it is; it leaves Drafts in the same transaction.
    pub async fn send_draft(&self, draft: i64) -> Result<i64, AnvertError> {
        let id = self
            .call(move |e| async move { e.send_draft(MessageId(draft)).await })
            .await?;
        Ok(id.0)
    }

    /// Queues a forward of a stored message to `to`, `text` above it, from the account's
    /// address. With `include_attachments` the original's attachments go along, taken from
    /// the server (assembled there where it can: nothing of them crosses this link).
    pub async fn forward(
        &self,
        message: i64,
        to: Vec<Address>,
        text: String,
        include_attachments: bool,
    ) -> Result<i64, AnvertError> {
        let to: Vec<cs::Address> = to
            .into_iter()
            .map(|a| cs::Address {
                name: a.name,
                email: a.email,
            })
            .collect();
        let id = self
            .call(move |e| async move {
                e.forward(MessageId(message), to, text, include_attachments)
                    .await
            })
            .await?;
        Ok(id.0)
    }

    /// The account's outbox, oldest first: waiting, failed and sent entries.
    pub async fn outbox(&self, account: i64) -> Result<Vec<OutboxItem>, AnvertError> {
        let list = self
            .call(move |e| async move { e.outbox(AccountId(account)).await })
            .await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Takes an entry out of the outbox before it went out (or dismisses a sent or failed
    /// one). `false`, changing nothing, while its send is under way or partly done.
    pub async fn cancel_send(&self, item: i64) -> Result<bool, AnvertError> {
        self.call(move |e| async move { e.cancel_send(OutboxId(item)).await })
            .await
    }

    /// Sends what the account's outbox holds now, also entries backing off or parked ("send
    /// now" / "retry"). `Offline` fails at once.
    pub async fn flush_outbox(
        &self,
        account: i64,
        network: NetworkKind,
    ) -> Result<SendReport, AnvertError> {
        let report = self
            .call(move |e| async move { e.flush_outbox(AccountId(account), network.into()).await })
            .await?;
        Ok(report.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_server_round_trips() {
        for security in [Security::Tls, Security::StartTls, Security::DangerPlaintext] {
            let s = SubmissionServer {
                host: "smtp.example.org".into(),
                port: 587,
                security,
            };
            let back: SubmissionServer = cn::Endpoint::from(s.clone()).into();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn a_report_keeps_each_failure_with_its_item() {
        let r: SendReport = cy::SendReport {
            sent: 1,
            failed: 1,
            waiting: 2,
            errors: vec![(OutboxId(7), "550 no such user".into())],
            smtp_read: 10,
            smtp_written: 20,
        }
        .into();
        assert_eq!((r.sent, r.failed, r.waiting), (1, 1, 2));
        assert_eq!(
            r.errors,
            vec![SendFailure {
                item: 7,
                error: "550 no such user".into()
            }]
        );
        assert_eq!((r.smtp_read, r.smtp_written), (10, 20));
    }
}
