//! The outbox (migration 0015; issue 18): messages the app sent, kept until every recipient
//! has an answer and the Sent copy is filed. A message enters it in one transaction (for
//! `send_draft`, with the draft leaving Drafts); each step of the send is recorded before the
//! next one starts, so a restart knows where it stood (see the migration for the states).
//!
//! It only stores and reads; what goes on the wire is `sync::send`.

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{batch_json, col, col_opt_u32, col_u64},
    invalid,
    moves::{LOCAL_UID_BASE, LocalChanges},
    sql,
};
use crate::{Error, Result};

/// An outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutboxId(pub i64);

/// Where an outgoing message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxState {
    /// Waiting for a connection (or for its backoff to pass; or parked).
    Queued,
    /// The Sent copy's APPEND went out and was not recorded (a restart looks for it first).
    Appending,
    /// The Sent copy is on the server; the submission by reference (BURL) is next.
    Appended,
    /// The message went to the submission server and its answer was not recorded.
    Submitting,
    /// The submission server answered for every recipient; the Sent copy may be due.
    Submitted,
    /// Done.
    Sent,
    /// A permanent failure: kept with its error, never retried.
    Failed,
}

impl OutboxState {
    fn as_sql(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Appending => "appending",
            OutboxState::Appended => "appended",
            OutboxState::Submitting => "submitting",
            OutboxState::Submitted => "submitted",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }

    fn from_sql(text: &str) -> Result<OutboxState> {
        Ok(match text {
            "queued" => OutboxState::Queued,
            "appending" => OutboxState::Appending,
            "appended" => OutboxState::Appended,
            "submitting" => OutboxState::Submitting,
            "submitted" => OutboxState::Submitted,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            _ => return Err(invalid("unknown outbox state in the store")),
        })
    }

    /// Still to be worked on by a send.
    pub fn is_open(self) -> bool {
        !matches!(self, OutboxState::Sent | OutboxState::Failed)
    }
}

/// A piece of a message assembled from another one (`OutgoingSource::Catenate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutPart {
    /// Bytes `start..end` of the outbox entry's own text.
    Text(u64, u64),
    /// A section of the original message, as an IMAP URL names it (`2.MIME`, `2`); empty
    /// for the whole message.
    Section(String),
}

/// What the outgoing message is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutgoingSource {
    /// The whole message.
    Raw(Vec<u8>),
    /// Assembled from `text` and sections of `original`.
    Catenate {
        text: Vec<u8>,
        parts: Vec<OutPart>,
        original: MessageId,
        /// The original is a draft this send takes out of Drafts (expunged once sent).
        draft: bool,
    },
}

/// A message to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    /// The Message-ID header's value, without angle brackets.
    pub message_id: String,
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub source: OutgoingSource,
    /// The message's size in bytes (an estimate for an assembled one).
    pub size: u64,
    /// The message has 8-bit content (BODY=8BITMIME).
    pub eight_bit: bool,
    /// An address or header needs SMTPUTF8.
    pub utf8: bool,
}

/// A recipient the submission server refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecipient {
    pub address: String,
    pub code: u16,
    pub enhanced: Option<String>,
    pub text: String,
}

/// An outbox entry as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub account: AccountId,
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
    pub size: u64,
    pub attempts: u32,
    /// When the next attempt may start (unix seconds).
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub parked: bool,
    /// Sends repeated after a restart found the previous one's outcome unknown: each is a
    /// possible duplicate at the recipients.
    pub resends: u32,
    /// Bytes this entry's sends wrote, on both connections (IMAP and SMTP).
    pub up_bytes: u64,
    /// The path taken: `burl` (Sent copy first, submission by reference) or `data`.
    pub path: Option<String>,
    /// When it was sent (unix seconds).
    pub sent_at: Option<i64>,
}

/// Where the original of an assembled message is on the server now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalPlace {
    pub folder: FolderId,
    pub folder_name: String,
    pub uid_validity: u32,
    pub uid: u32,
}

/// An entry a send works on: the item with what it is made of.
#[derive(Debug, Clone)]
pub struct OutgoingWork {
    pub item: OutboxItem,
    pub mail_from: String,
    pub eight_bit: bool,
    pub utf8: bool,
    /// The raw message, or the text the parts refer to.
    pub raw: Vec<u8>,
    /// `Some` for an assembled message.
    pub parts: Option<Vec<OutPart>>,
    /// Where the original of an assembled message is now (None: gone).
    pub original: Option<OriginalPlace>,
    /// Where the Sent copy is, once appended.
    pub sent_copy: Option<(FolderId, u32, u32)>,
    pub copy_done: bool,
    pub draft_expunge: bool,
}

/// What a step of a send records (`None` leaves a column as it is).
#[derive(Debug, Clone, Default)]
pub struct OutboxUpdate {
    pub state: Option<OutboxState>,
    pub path: Option<&'static str>,
    pub pending: Option<Vec<String>>,
    pub add_rejected: Vec<RejectedRecipient>,
    pub sent_copy: Option<(FolderId, u32, u32)>,
    pub copy_done: Option<bool>,
    pub add_up_bytes: u64,
    pub resend: bool,
    /// Clears attempts, backoff and error (a step that worked).
    pub progressed: bool,
    /// A permanent failure's reason (state `Failed`).
    pub failure: Option<String>,
    /// Queue the expunge of the Sent copy (a message that reached nobody).
    pub expunge_copy: bool,
}

const ITEM_COLUMNS: &str = "id, account_id, created_at, message_id, subject, recipients, pending,
    rejected, state, size, attempts, next_attempt_at, last_error, parked, resends, up_bytes,
    path, sent_at";

fn item_of(row: &SqliteRow) -> Result<OutboxItem> {
    let json = |column: &'static str| -> Result<String> { col::<String>(row, column) };
    let strings = |column: &'static str| -> Result<Vec<String>> {
        serde_json::from_str(&json(column)?).map_err(|_| invalid("bad recipient list in the outbox"))
    };
    Ok(OutboxItem {
        id: OutboxId(col(row, "id")?),
        account: AccountId(col(row, "account_id")?),
        created_at: col(row, "created_at")?,
        message_id: col(row, "message_id")?,
        subject: col(row, "subject")?,
        recipients: strings("recipients")?,
        pending: strings("pending")?,
        rejected: serde_json::from_str(&json("rejected")?)
            .map_err(|_| invalid("bad rejection list in the outbox"))?,
        state: OutboxState::from_sql(&col::<String>(row, "state")?)?,
        size: col_u64(row, "size")?,
        attempts: u32::try_from(col::<i64>(row, "attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: col(row, "next_attempt_at")?,
        last_error: col(row, "last_error")?,
        parked: col::<i64>(row, "parked")? != 0,
        resends: u32::try_from(col::<i64>(row, "resends")?).unwrap_or(u32::MAX),
        up_bytes: col_u64(row, "up_bytes")?,
        path: col(row, "path")?,
        sent_at: col(row, "sent_at")?,
    })
}

fn clean_error(error: &str) -> String {
    error
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

impl Store {
    /// Puts a message in the outbox. `draft`: the draft it was written as, which leaves
    /// Drafts in the same transaction (a draft not yet appended just goes; one on the server
    /// is expunged by the write-back, or, when the message is assembled from it, once sent).
    pub async fn queue_outgoing(
        &self,
        account: AccountId,
        message: &NewOutgoing,
        draft: Option<MessageId>,
    ) -> Result<(OutboxId, LocalChanges)> {
        if message.recipients.is_empty() {
            return Err(Error::Config {
                reason: "a message to send needs at least one recipient".into(),
            });
        }
        let mut tx = self.write().await?;
        let mut out = LocalChanges::default();
        let (raw, parts, original) = match &message.source {
            OutgoingSource::Raw(raw) => (raw.clone(), None, None),
            OutgoingSource::Catenate {
                text,
                parts,
                original,
                draft,
            } => (
                text.clone(),
                Some(batch_json(parts, "message parts")?),
                Some((*original, *draft)),
            ),
        };
        let mut orig: (Option<i64>, Option<u32>, Option<u32>) = (None, None, None);
        if let Some((original, _)) = original {
            let place = original_place(&mut tx, original.0).await?.ok_or(Error::Config {
                reason: "the message is not on the server yet; sync first".into(),
            })?;
            orig = (Some(place.folder.0), Some(place.uid_validity), Some(place.uid));
        }
        let recipients = batch_json(&message.recipients, "recipients")?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (account_id, message_id, mail_from, recipients, pending, subject,
                    source, raw, parts, size, eight_bit, utf8, original_id, orig_folder_id,
                    orig_uidvalidity, orig_uid, draft_expunge)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             RETURNING id",
        )
        .bind(account.0)
        .bind(&message.message_id)
        .bind(&message.mail_from)
        .bind(&recipients)
        .bind(&message.subject)
        .bind(if parts.is_some() { "catenate" } else { "raw" })
        .bind(&raw)
        .bind(parts)
        .bind(i64::try_from(message.size).unwrap_or(i64::MAX))
        .bind(i64::from(message.eight_bit))
        .bind(i64::from(message.utf8))
        .bind(original.map(|(m, _)| m.0))
        .bind(orig.0)
        .bind(orig.1)
        .bind(orig.2)
        .bind(i64::from(original.is_some_and(|(_, d)| d)))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("queue a message to send"))?;
        if let Some(draft) = draft {
            let assembled_from_it = original.is_some_and(|(m, d)| d && m == draft);
            super::moves::take_out_draft(&mut tx, account, draft, assembled_from_it, &mut out)
                .await?;
        }
        tx.commit().await.map_err(sql("commit a message to send"))?;
        Ok((OutboxId(id), out))
    }

    /// The account's outbox, oldest first: what is waiting, what failed, and what was sent.
    pub async fn outbox(&self, account: AccountId) -> Result<Vec<OutboxItem>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS} FROM outbox WHERE account_id = ?1 ORDER BY id"
        ))
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list the outbox"))?;
        rows.iter().map(item_of).collect()
    }

    /// One outbox entry.
    pub async fn outbox_item(&self, id: OutboxId) -> Result<OutboxItem> {
        let mut conn = self.read().await?;
        let row = sqlx::query(&format!("SELECT {ITEM_COLUMNS} FROM outbox WHERE id = ?1"))
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("read an outbox entry"))?
            .ok_or(Error::NotFound {
                what: "outbox entry",
                id: id.0,
            })?;
        item_of(&row)
    }

    /// The entries a send should work on at `now` (`every`: ignoring backoff and parking, as
    /// an explicit retry does), oldest first.
    pub async fn due_outgoing(
        &self,
        account: AccountId,
        now: i64,
        every: bool,
    ) -> Result<Vec<OutgoingWork>> {
        let mut tx = self.read_snapshot().await?;
        let rows = sqlx::query(&format!(
            "SELECT {ITEM_COLUMNS}, mail_from, eight_bit, utf8, raw, parts, original_id,
                    orig_folder_id, orig_uidvalidity, orig_uid, sent_folder_id,
                    sent_uidvalidity, sent_uid, copy_done, draft_expunge
             FROM outbox
             WHERE account_id = ?1 AND state NOT IN ('sent', 'failed')
               AND (?3 OR (parked = 0 AND next_attempt_at <= ?2))
             ORDER BY id"
        ))
        .bind(account.0)
        .bind(now)
        .bind(every)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("read the outbox"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let parts: Option<String> = col(row, "parts")?;
            let parts = match parts {
                Some(p) => Some(
                    serde_json::from_str::<Vec<OutPart>>(&p)
                        .map_err(|_| invalid("bad part list in the outbox"))?,
                ),
                None => None,
            };
            let original = match (parts.is_some(), col::<Option<i64>>(row, "original_id")?) {
                (false, _) => None,
                (true, Some(m)) => original_place(&mut tx, m).await?,
                (true, None) => None,
            };
            let original = match original {
                Some(p) => Some(p),
                None if parts.is_some() => stored_place(&mut tx, row).await?,
                None => None,
            };
            let sent_copy = match (
                col::<Option<i64>>(row, "sent_folder_id")?,
                col_opt_u32(row, "sent_uidvalidity")?,
                col_opt_u32(row, "sent_uid")?,
            ) {
                (Some(f), Some(v), Some(u)) => Some((FolderId(f), v, u)),
                _ => None,
            };
            out.push(OutgoingWork {
                item: item_of(row)?,
                mail_from: col(row, "mail_from")?,
                eight_bit: col::<i64>(row, "eight_bit")? != 0,
                utf8: col::<i64>(row, "utf8")? != 0,
                raw: col::<Option<Vec<u8>>>(row, "raw")?.unwrap_or_default(),
                parts,
                original,
                sent_copy,
                copy_done: col::<i64>(row, "copy_done")? != 0,
                draft_expunge: col::<i64>(row, "draft_expunge")? != 0,
            });
        }
        Ok(out)
    }

    /// Records a step of a send. When the entry becomes `Sent`, its bytes are dropped and, for
    /// a draft it was assembled from, the draft's expunge is queued in the same transaction.
    pub async fn update_outgoing(&self, id: OutboxId, update: OutboxUpdate) -> Result<()> {
        let mut tx = self.write().await?;
        let rejected = if update.add_rejected.is_empty() {
            None
        } else {
            Some(batch_json(&update.add_rejected, "rejected recipients")?)
        };
        let pending = match &update.pending {
            Some(p) => Some(batch_json(p, "recipients")?),
            None => None,
        };
        let done = update.state == Some(OutboxState::Sent);
        let failed = update.state == Some(OutboxState::Failed);
        let updated = sqlx::query(
            "UPDATE outbox SET
                state = COALESCE(?2, state),
                path = COALESCE(?3, path),
                pending = COALESCE(?4, pending),
                rejected = CASE WHEN ?5 IS NULL THEN rejected
                           ELSE (SELECT json_group_array(json(value)) FROM
                                 (SELECT value FROM json_each(rejected)
                                  UNION ALL SELECT value FROM json_each(?5))) END,
                sent_folder_id = COALESCE(?6, sent_folder_id),
                sent_uidvalidity = COALESCE(?7, sent_uidvalidity),
                sent_uid = COALESCE(?8, sent_uid),
                copy_done = COALESCE(?9, copy_done),
                up_bytes = up_bytes + ?10,
                resends = resends + ?11,
                attempts = CASE WHEN ?12 THEN 0 ELSE attempts END,
                next_attempt_at = CASE WHEN ?12 THEN 0 ELSE next_attempt_at END,
                last_error = CASE WHEN ?14 IS NOT NULL THEN ?14
                                  WHEN ?12 THEN NULL ELSE last_error END,
                raw = CASE WHEN ?13 THEN NULL ELSE raw END,
                sent_at = CASE WHEN ?13 AND ?2 = 'sent' THEN unixepoch() ELSE sent_at END
             WHERE id = ?1",
        )
        .bind(id.0)
        .bind(update.state.map(OutboxState::as_sql))
        .bind(update.path)
        .bind(pending)
        .bind(rejected)
        .bind(update.sent_copy.map(|c| c.0.0))
        .bind(update.sent_copy.map(|c| c.1))
        .bind(update.sent_copy.map(|c| c.2))
        .bind(update.copy_done.map(i64::from))
        .bind(i64::try_from(update.add_up_bytes).unwrap_or(i64::MAX))
        .bind(i64::from(update.resend))
        .bind(update.progressed)
        .bind(done || failed)
        .bind(update.failure.as_deref().map(clean_error))
        .execute(&mut *tx)
        .await
        .map_err(sql("record a step of a send"))?;
        if updated.rows_affected() == 0 {
            // Cancelled meanwhile: the send stops here.
            return Err(Error::NotFound {
                what: "outbox entry",
                id: id.0,
            });
        }
        if done {
            queue_draft_expunge(&mut tx, id).await?;
        }
        if update.expunge_copy {
            sqlx::query(
                "INSERT INTO pending_mailbox_ops (account_id, kind, source_folder_id,
                        source_uidvalidity, source_uid)
                 SELECT account_id, 'expunge', sent_folder_id, sent_uidvalidity, sent_uid
                 FROM outbox WHERE id = ?1 AND sent_folder_id IS NOT NULL AND sent_uid IS NOT NULL",
            )
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("queue the expunge of an unsent message's Sent copy"))?;
        }
        tx.commit().await.map_err(sql("commit a step of a send"))?;
        Ok(())
    }

    /// Counts a failed attempt (temporary): backoff until `next_attempt_at`; `park` stops
    /// retrying until the app asks.
    pub async fn record_outgoing_failure(
        &self,
        id: OutboxId,
        error: &str,
        next_attempt_at: i64,
        park: bool,
    ) -> Result<u32> {
        let mut tx = self.write().await?;
        let attempts: i64 = sqlx::query_scalar(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3,
                    parked = ?4
             WHERE id = ?1 RETURNING attempts",
        )
        .bind(id.0)
        .bind(clean_error(error))
        .bind(next_attempt_at)
        .bind(i64::from(park))
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("record a failed send"))?;
        tx.commit().await.map_err(sql("commit a failed send"))?;
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }

    /// Takes an entry out of the outbox before it went out: only while nothing of it reached
    /// the submission server (`Queued`, or `Appended` — its Sent copy is then expunged by the
    /// write-back), or once it has failed or been sent (the app dismisses it). Returns false,
    /// changing nothing, while a send of it may be under way or done in part.
    pub async fn cancel_outgoing(&self, id: OutboxId) -> Result<bool> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "SELECT account_id, state, sent_folder_id, sent_uidvalidity, sent_uid, recipients,
                    pending
             FROM outbox WHERE id = ?1",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql("read an outbox entry"))?
        .ok_or(Error::NotFound {
            what: "outbox entry",
            id: id.0,
        })?;
        let state = OutboxState::from_sql(&col::<String>(&row, "state")?)?;
        if !matches!(
            state,
            OutboxState::Queued | OutboxState::Appended | OutboxState::Sent | OutboxState::Failed
        ) {
            return Ok(false);
        }
        // A partly delivered message (some recipients answered, some still pending) has
        // reached someone: its Sent copy stays. Otherwise the copy of a message that never
        // went out goes too.
        let untouched =
            col::<String>(&row, "recipients")? == col::<String>(&row, "pending")?;
        if let (true, Some(folder), Some(v), Some(u)) = (
            untouched && state != OutboxState::Sent,
            col::<Option<i64>>(&row, "sent_folder_id")?,
            col_opt_u32(&row, "sent_uidvalidity")?,
            col_opt_u32(&row, "sent_uid")?,
        ) {
            sqlx::query(
                "INSERT INTO pending_mailbox_ops (account_id, kind, source_folder_id,
                        source_uidvalidity, source_uid)
                 VALUES (?1, 'expunge', ?2, ?3, ?4)",
            )
            .bind(col::<i64>(&row, "account_id")?)
            .bind(folder)
            .bind(v)
            .bind(u)
            .execute(&mut *tx)
            .await
            .map_err(sql("queue the expunge of a cancelled message's Sent copy"))?;
        }
        sqlx::query("DELETE FROM outbox WHERE id = ?1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("cancel a message to send"))?;
        tx.commit().await.map_err(sql("commit a cancelled send"))?;
        Ok(true)
    }

    /// Makes parked and backed-off entries due now (the app's "retry").
    pub async fn retry_outgoing(&self, account: AccountId) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE outbox SET parked = 0, next_attempt_at = 0
             WHERE account_id = ?1 AND state NOT IN ('sent', 'failed')",
        )
        .bind(account.0)
        .execute(&mut *tx)
        .await
        .map_err(sql("retry the outbox"))?;
        tx.commit().await.map_err(sql("commit retrying the outbox"))?;
        Ok(())
    }

    /// The bytes of a draft whose APPEND is still queued (None: the draft is on the server,
    /// or not a queued draft).
    pub async fn queued_draft_raw(&self, message: MessageId) -> Result<Option<Vec<u8>>> {
        let mut conn = self.read().await?;
        let raw: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT raw FROM pending_mailbox_ops WHERE message_id = ?1 AND kind = 'append'",
        )
        .bind(message.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("read a queued draft"))?;
        Ok(raw.flatten())
    }

    /// Whether the account's server files sent mail in Sent by itself (None: not known yet).
    pub async fn sent_autofiled(&self, account: AccountId) -> Result<Option<bool>> {
        let mut conn = self.read().await?;
        let v: Option<i64> =
            sqlx::query_scalar("SELECT sent_autofiled FROM accounts WHERE id = ?1")
                .bind(account.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(sql("read whether the server files sent mail"))?
                .flatten();
        Ok(v.map(|v| v != 0))
    }

    /// Remembers whether the account's server files sent mail in Sent by itself.
    pub async fn set_sent_autofiled(&self, account: AccountId, autofiled: bool) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE accounts SET sent_autofiled = ?2 WHERE id = ?1")
            .bind(account.0)
            .bind(i64::from(autofiled))
            .execute(&mut *tx)
            .await
            .map_err(sql("remember whether the server files sent mail"))?;
        tx.commit().await.map_err(sql("commit a server fact"))?;
        Ok(())
    }

    /// The account's submission server: host, port and security as the engine spells it.
    pub async fn submission(&self, account: AccountId) -> Result<Option<(String, u16, String)>> {
        let mut conn = self.read().await?;
        let row = sqlx::query(
            "SELECT smtp_host, smtp_port, smtp_security FROM accounts WHERE id = ?1",
        )
        .bind(account.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("read the submission server"))?
        .ok_or(Error::NotFound {
            what: "account",
            id: account.0,
        })?;
        let host: Option<String> = col(&row, "smtp_host")?;
        let port: Option<i64> = col(&row, "smtp_port")?;
        let security: Option<String> = col(&row, "smtp_security")?;
        Ok(match (host, port, security) {
            (Some(h), Some(p), Some(s)) => Some((h, u16::try_from(p).unwrap_or(587), s)),
            _ => None,
        })
    }

    /// Sets (or, with None, removes) the account's submission server.
    pub async fn set_submission(
        &self,
        account: AccountId,
        server: Option<(&str, u16, &str)>,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE accounts SET smtp_host = ?2, smtp_port = ?3, smtp_security = ?4 WHERE id = ?1",
        )
        .bind(account.0)
        .bind(server.map(|s| s.0))
        .bind(server.map(|s| i64::from(s.1)))
        .bind(server.map(|s| s.2))
        .execute(&mut *tx)
        .await
        .map_err(sql("set the submission server"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "account",
                id: account.0,
            });
        }
        tx.commit().await.map_err(sql("commit the submission server"))?;
        Ok(())
    }
}

/// Where a stored message is on the server now: its folder and UID, or, while a move of it
/// is queued, the move's source. None for a message only on this device.
async fn original_place(
    conn: &mut sqlx::SqliteConnection,
    message: i64,
) -> Result<Option<OriginalPlace>> {
    let row = sqlx::query(
        "SELECT m.folder_id, f.name, f.uidvalidity, m.uid,
                o.source_folder_id, sf.name AS source_name, o.source_uidvalidity, o.source_uid
         FROM messages AS m JOIN folders AS f ON f.id = m.folder_id
         LEFT JOIN pending_mailbox_ops AS o ON o.message_id = m.id AND o.kind = 'move'
         LEFT JOIN folders AS sf ON sf.id = o.source_folder_id
         WHERE m.id = ?1",
    )
    .bind(message)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql("locate a message on the server"))?;
    let Some(row) = row else { return Ok(None) };
    if let (Some(folder), Some(name), Some(v), Some(uid)) = (
        col::<Option<i64>>(&row, "source_folder_id")?,
        col::<Option<String>>(&row, "source_name")?,
        col_opt_u32(&row, "source_uidvalidity")?,
        col_opt_u32(&row, "source_uid")?,
    ) {
        return Ok(Some(OriginalPlace {
            folder: FolderId(folder),
            folder_name: name,
            uid_validity: v,
            uid,
        }));
    }
    let uid = col_opt_u32(&row, "uid")?.unwrap_or(LOCAL_UID_BASE);
    match col_opt_u32(&row, "uidvalidity")? {
        Some(v) if uid < LOCAL_UID_BASE => Ok(Some(OriginalPlace {
            folder: FolderId(col(&row, "folder_id")?),
            folder_name: col(&row, "name")?,
            uid_validity: v,
            uid,
        })),
        _ => Ok(None),
    }
}

/// The place recorded when the entry was queued (the original's row is gone).
async fn stored_place(
    conn: &mut sqlx::SqliteConnection,
    row: &SqliteRow,
) -> Result<Option<OriginalPlace>> {
    let (Some(folder), Some(v), Some(uid)) = (
        col::<Option<i64>>(row, "orig_folder_id")?,
        col_opt_u32(row, "orig_uidvalidity")?,
        col_opt_u32(row, "orig_uid")?,
    ) else {
        return Ok(None);
    };
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM folders WHERE id = ?1")
        .bind(folder)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("read a folder's name"))?;
    Ok(name.map(|folder_name| OriginalPlace {
        folder: FolderId(folder),
        folder_name,
        uid_validity: v,
        uid,
    }))
}

/// For a sent entry assembled from a draft on the server: queue the draft's expunge.
async fn queue_draft_expunge(conn: &mut sqlx::SqliteConnection, id: OutboxId) -> Result<()> {
    sqlx::query(
        "INSERT INTO pending_mailbox_ops (account_id, kind, source_folder_id, source_uidvalidity,
                source_uid)
         SELECT account_id, 'expunge', orig_folder_id, orig_uidvalidity, orig_uid FROM outbox
         WHERE id = ?1 AND draft_expunge = 1 AND orig_folder_id IS NOT NULL
           AND orig_uid IS NOT NULL",
    )
    .bind(id.0)
    .execute(&mut *conn)
    .await
    .map_err(sql("queue the expunge of a sent draft"))?;
    Ok(())
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
