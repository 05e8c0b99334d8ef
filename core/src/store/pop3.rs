//! POP3 sync state: which server messages (by UIDL) an account has stored, as what
//! ('headers' after TOP, 'full' after RETR), and which the server no longer lists. A POP3
//! account's messages live in one synthetic INBOX folder with UIDs assigned here, in the same
//! transaction that stores the rows, as increasing numbers. Recording a UIDL and storing its
//! message are one transaction, so a UIDL is known exactly when its message is stored, and
//! marking a message full stores its parts, body and attachment records in one transaction
//! too. A message the user deletes keeps its UIDL row (`deleted_locally`, migration 0007) so
//! it never comes back. It never touches the network.

use std::path::PathBuf;

use sqlx::SqliteConnection;

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{col, col_u32, int_u64},
    folders::folder_row,
    invalid,
    messages::{DownloadState, Indexing, NewMessage, write_messages},
    sql,
};
use crate::{Error, Result};

/// How much of a POP3 message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pop3State {
    /// Headers from TOP; the part structure is pending (no part rows yet).
    Headers,
    /// Downloaded with RETR and parsed: parts, body and attachments are stored.
    Full,
}

impl Pop3State {
    fn as_sql(self) -> &'static str {
        match self {
            Pop3State::Headers => "headers",
            Pop3State::Full => "full",
        }
    }

    fn from_sql(text: &str) -> Result<Pop3State> {
        match text {
            "headers" => Ok(Pop3State::Headers),
            "full" => Ok(Pop3State::Full),
            _ => Err(invalid("unknown POP3 state in the store")),
        }
    }
}

/// A server message the account has seen, by UIDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Known {
    pub uidl: String,
    /// The stored message; `None` once the message row was removed locally.
    pub message: Option<MessageId>,
    /// The local UID of the message in the account's INBOX (0 without a message row).
    pub uid: u32,
    /// The size the server's LIST gave when the message was first stored, in octets.
    pub size: u32,
    /// The stored message's size (0 without a message row): the LIST size while it is
    /// headers-only, then the octets RETR delivered (line ends counted as CRLF), which the
    /// sync compares with LIST before it deletes the server copy.
    pub message_size: u32,
    /// The stored message's date (Date header, else when it was first seen); 0 without one.
    pub internal_date: i64,
    pub state: Pop3State,
    /// When its headers were first stored (unix seconds).
    pub first_downloaded_at: i64,
    /// The server no longer lists it.
    pub deleted_on_server: bool,
    /// The user deleted it in the app (`message` is `None`); the server copy is deleted by
    /// the next sync whose policy allows deleting.
    pub deleted_locally: bool,
}

/// A POP3 message to add: its UIDL, the LIST size and the headers as a message (its `uid`
/// is assigned by the store).
#[derive(Debug, Clone)]
pub struct NewPop3Message {
    pub uidl: String,
    pub message: NewMessage,
}

/// An attachment already written to disk (fsynced, in place) to record as a completed
/// download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Download {
    pub section: String,
    pub destination: PathBuf,
    /// The part's encoded size (where a chunked download would have ended).
    pub encoded_size: u64,
    /// Decoded bytes in the file.
    pub bytes: u64,
}

/// What a RETR produced, for [`Store::pop3_complete`].
#[derive(Debug, Clone, Default)]
pub struct Pop3Content {
    /// The message again, now with its parts (and a preview, when one was made); its `uid`
    /// must be the stored one.
    pub message: NewMessage,
    pub text_zstd: Option<Vec<u8>>,
    pub html_zstd: Option<Vec<u8>>,
    pub downloads: Vec<Pop3Download>,
}

const KNOWN: &str = "
    SELECT p.uidl, p.message_id, coalesce(m.uid, 0) AS uid, p.size,
           coalesce(m.size, 0) AS message_size, p.state,
           coalesce(m.internal_date, 0) AS internal_date,
           p.first_downloaded_at, p.deleted_on_server, p.deleted_locally
      FROM pop3_messages AS p
      LEFT JOIN messages AS m ON m.id = p.message_id
     WHERE p.account_id = ?1
     ORDER BY p.uidl";

const RECORD: &str = "
    INSERT INTO pop3_messages (account_id, uidl, message_id, size, state, first_downloaded_at,
        deleted_on_server)
    VALUES (?1, ?2, ?3, ?4, 'headers', ?5, 0)
    ON CONFLICT (account_id, uidl) DO UPDATE SET
        message_id = excluded.message_id,
        size = excluded.size,
        state = 'headers',
        deleted_on_server = 0";

const PUT_BODY: &str = "
    INSERT INTO bodies (message_id, text_zstd, html_zstd, stored_bytes, fetched_at, last_used)
    VALUES (?1, ?2, ?3, ?4, unixepoch(), CAST(unixepoch('subsec') * 1000 AS INTEGER))
    ON CONFLICT (message_id) DO UPDATE SET
        text_zstd = excluded.text_zstd,
        html_zstd = excluded.html_zstd,
        stored_bytes = excluded.stored_bytes,
        fetched_at = excluded.fetched_at,
        last_used = excluded.last_used";

const PUT_DOWNLOAD: &str = "
    INSERT INTO part_downloads (message_id, section, destination, encoded_offset, decoded_len,
        decoder_state, state, bytes_on_disk, updated_at, last_used)
    VALUES (?1, ?2, ?3, ?4, ?5, x'', 'complete', ?5, unixepoch(),
        CAST(unixepoch('subsec') * 1000 AS INTEGER))
    ON CONFLICT (message_id, section) DO UPDATE SET
        destination = excluded.destination,
        encoded_offset = excluded.encoded_offset,
        decoded_len = excluded.decoded_len,
        decoder_state = excluded.decoder_state,
        state = 'complete',
        bytes_on_disk = excluded.bytes_on_disk,
        updated_at = excluded.updated_at,
        last_used = excluded.last_used";

impl Store {
    /// Every UIDL the account has seen, with what is stored for it.
    pub async fn pop3_known(&self, account: AccountId) -> Result<Vec<Pop3Known>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(KNOWN)
            .bind(account.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list known POP3 messages"))?;
        rows.iter()
            .map(|row| {
                let state: &str = col(row, "state")?;
                let message: Option<i64> = col(row, "message_id")?;
                let deleted: i64 = col(row, "deleted_on_server")?;
                let deleted_locally: i64 = col(row, "deleted_locally")?;
                Ok(Pop3Known {
                    uidl: col(row, "uidl")?,
                    message: message.map(MessageId),
                    uid: col_u32(row, "uid")?,
                    size: col_u32(row, "size")?,
                    message_size: col_u32(row, "message_size")?,
                    internal_date: col(row, "internal_date")?,
                    state: Pop3State::from_sql(state)?,
                    first_downloaded_at: col(row, "first_downloaded_at")?,
                    deleted_on_server: deleted != 0,
                    deleted_locally: deleted_locally != 0,
                })
            })
            .collect()
    }

    /// Stores headers-only messages into the POP3 account's `folder` and records their
    /// UIDLs as 'headers', in one transaction. UIDs are assigned here, increasing, in the
    /// order given. Returns (UIDL, message id, UID) in that order.
    pub async fn pop3_add(
        &self,
        folder: FolderId,
        messages: &[NewPop3Message],
        now: i64,
    ) -> Result<Vec<(String, MessageId, u32)>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(uid), 0) + 1 FROM messages WHERE folder_id = ?1",
        )
        .bind(folder.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("find the next local UID"))?;
        let mut rows = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let uid = u32::try_from(next + i as i64)
                .map_err(|_| invalid("local POP3 UIDs are exhausted"))?;
            rows.push(NewMessage {
                uid,
                ..m.message.clone()
            });
        }
        write_messages(&mut tx, stored.account, folder, &rows, Indexing::Now).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (m, row) in messages.iter().zip(&rows) {
            let id = message_id_of(&mut tx, folder, row.uid).await?;
            sqlx::query(RECORD)
                .bind(stored.account.0)
                .bind(&m.uidl)
                .bind(id.0)
                .bind(i64::from(row.size))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(sql("record a POP3 message"))?;
            out.push((m.uidl.clone(), id, row.uid));
        }
        tx.commit()
            .await
            .map_err(sql("commit a window of POP3 messages"))?;
        Ok(out)
    }

    /// Marks a POP3 message full after RETR, in one transaction: its parts are replaced by
    /// the parsed ones, the body and the completed attachment downloads are recorded, and
    /// the UIDL moves to 'full'. Attachment files must already be in place and synced.
    pub async fn pop3_complete(
        &self,
        folder: FolderId,
        uidl: &str,
        content: &Pop3Content,
    ) -> Result<MessageId> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        let id = message_id_of(&mut tx, folder, content.message.uid).await?;
        // The parsed parts replace the listed ones (by the upsert below): what was stored of
        // the old ones goes with them.
        for table in [
            "DELETE FROM part_states WHERE message_id = ?1",
            "DELETE FROM part_downloads WHERE message_id = ?1",
        ] {
            sqlx::query(table)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(sql("replace a message's parts"))?;
        }
        write_messages(
            &mut tx,
            stored.account,
            folder,
            std::slice::from_ref(&content.message),
            Indexing::Now,
        )
        .await?;
        if content.text_zstd.is_some() || content.html_zstd.is_some() {
            let size = content.text_zstd.as_ref().map_or(0, Vec::len)
                + content.html_zstd.as_ref().map_or(0, Vec::len);
            sqlx::query(PUT_BODY)
                .bind(id.0)
                .bind(content.text_zstd.as_deref())
                .bind(content.html_zstd.as_deref())
                .bind(int_u64(size as u64, "body size")?)
                .execute(&mut *tx)
                .await
                .map_err(sql("store a POP3 body"))?;
        }
        for d in &content.downloads {
            let destination = d
                .destination
                .to_str()
                .ok_or_else(|| invalid("a download destination is not valid UTF-8"))?;
            sqlx::query(PUT_DOWNLOAD)
                .bind(id.0)
                .bind(&d.section)
                .bind(destination)
                .bind(int_u64(d.encoded_size, "encoded size")?)
                .bind(int_u64(d.bytes, "download size")?)
                .execute(&mut *tx)
                .await
                .map_err(sql("record a POP3 attachment"))?;
            super::parts::set_state(&mut tx, id, &d.section, DownloadState::Complete).await?;
        }
        let updated =
            sqlx::query("UPDATE pop3_messages SET state = ?3 WHERE account_id = ?1 AND uidl = ?2")
                .bind(stored.account.0)
                .bind(uidl)
                .bind(Pop3State::Full.as_sql())
                .execute(&mut *tx)
                .await
                .map_err(sql("mark a POP3 message full"))?
                .rows_affected();
        if updated == 0 {
            return Err(Error::NotFound {
                what: "POP3 message of account",
                id: stored.account.0,
            });
        }
        tx.commit()
            .await
            .map_err(sql("commit a downloaded POP3 message"))?;
        Ok(id)
    }

    /// The id of the message stored under `uid` in `folder`.
    pub async fn pop3_message_id(&self, folder: FolderId, uid: u32) -> Result<MessageId> {
        let mut conn = self.read().await?;
        message_id_of(&mut conn, folder, uid).await
    }

    /// Makes every committed transaction durable against power loss (a WAL checkpoint, which
    /// syncs the log first), before the POP3 sync asks the server to delete what was stored.
    pub async fn pop3_make_durable(&self) -> Result<()> {
        self.checkpointer.full().await
    }

    /// Records that the server no longer lists these UIDLs. The local messages stay.
    pub async fn pop3_mark_deleted(&self, account: AccountId, uidls: &[String]) -> Result<()> {
        if uidls.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE pop3_messages SET deleted_on_server = 1
              WHERE account_id = ?1 AND uidl IN (SELECT value FROM json_each(?2))",
        )
        .bind(account.0)
        .bind(super::codec::batch_json(uidls, "UIDLs")?)
        .execute(&mut *tx)
        .await
        .map_err(sql("record POP3 server deletions"))?;
        tx.commit()
            .await
            .map_err(sql("commit POP3 server deletions"))
    }
}

impl Store {
    /// Removes POP3 messages of `account` from the store in one transaction (parts, bodies
    /// and download records go with them) and marks their UIDLs deleted locally, so they are
    /// never downloaded again. Ids of other accounts, or already gone, are skipped. Returns
    /// what was removed: (message, folder, UID).
    pub async fn pop3_delete_local(
        &self,
        account: AccountId,
        messages: &[MessageId],
    ) -> Result<Vec<(MessageId, FolderId, u32)>> {
        let mut tx = self.write().await?;
        let mut removed = Vec::new();
        for id in messages {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT m.folder_id, m.uid FROM messages AS m
                   JOIN folders AS f ON f.id = m.folder_id
                  WHERE m.id = ?1 AND f.account_id = ?2",
            )
            .bind(id.0)
            .bind(account.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql("find a POP3 message to delete"))?;
            let Some((folder, uid)) = row else { continue };
            sqlx::query(
                "UPDATE pop3_messages SET deleted_locally = 1
                  WHERE account_id = ?1 AND message_id = ?2",
            )
            .bind(account.0)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("mark a POP3 message deleted locally"))?;
            sqlx::query("DELETE FROM messages WHERE id = ?1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(sql("delete a POP3 message"))?;
            let uid = u32::try_from(uid).map_err(|_| invalid("a stored UID is out of range"))?;
            removed.push((*id, FolderId(folder), uid));
        }
        tx.commit()
            .await
            .map_err(sql("commit deleted POP3 messages"))?;
        Ok(removed)
    }
}

async fn message_id_of(
    conn: &mut SqliteConnection,
    folder: FolderId,
    uid: u32,
) -> Result<MessageId> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2")
            .bind(folder.0)
            .bind(i64::from(uid))
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("look up a message by UID"))?;
    id.map(MessageId).ok_or(Error::NotFound {
        what: "message in folder",
        id: folder.0,
    })
}
