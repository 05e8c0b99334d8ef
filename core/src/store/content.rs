//! Content kept locally: compressed message bodies, the resumable progress of part
//! downloads, and the storage budget over both (usage per account, least recently used
//! first for eviction). The bytes themselves are produced by `blobs`; this file only keeps
//! rows. The progress of a download (encoded offset, decoded length, decoder state) and the
//! part's `download_state` always move together in one transaction, and the engine commits
//! progress only after the partial file was fsynced, so a crash never records bytes that
//! are not on disk. Evicting a body or a download never touches the message or part rows.

use std::{fmt, path::PathBuf};

use sqlx::{SqliteConnection, sqlite::SqliteRow};

use super::{
    AccountId, MessageId, Store,
    codec::{col, col_u64, int_u64},
    invalid,
    messages::DownloadState,
    parts, sql,
};
use crate::{Error, Result, blobs::DecoderState};

/// The current time in unix milliseconds, as SQL (the unit of `last_used`).
macro_rules! now_ms {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
}

/// A stored body: the zstd-compressed UTF-8 text and HTML (`blobs::compress`).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub message: MessageId,
    pub text_zstd: Option<Vec<u8>>,
    pub html_zstd: Option<Vec<u8>>,
    /// What the body counts against the storage budget.
    pub stored_bytes: u64,
    /// When it was stored (unix seconds).
    pub fetched_at: i64,
    /// When it was last read (unix milliseconds).
    pub last_used: i64,
}

impl fmt::Debug for StoredBody {
    /// Sizes only: message content never goes to a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredBody")
            .field("message", &self.message)
            .field("text_zstd_len", &self.text_zstd.as_ref().map(Vec::len))
            .field("html_zstd_len", &self.html_zstd.as_ref().map(Vec::len))
            .field("stored_bytes", &self.stored_bytes)
            .field("fetched_at", &self.fetched_at)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// How far a part's download got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    pub message: MessageId,
    /// The IMAP section of the part.
    pub section: String,
    /// Where the finished file goes (the partial file sits beside it); UTF-8 only.
    pub destination: PathBuf,
    /// Where the next partial fetch starts in the encoded part.
    pub encoded_offset: u64,
    /// Decoded bytes committed to the partial file.
    pub decoded_len: u64,
    /// The transfer decoder's carry at `encoded_offset`.
    pub decoder_state: DecoderState,
    /// What the download counts against the storage budget.
    pub bytes_on_disk: u64,
    /// What the offsets count (encoded or decoded bytes), see [`TransferMode`].
    pub mode: TransferMode,
    /// The chunk size the download had reached (0: no chunk yet); a resume starts there.
    pub chunk_len: u32,
    /// `Partial` or `Complete` (never `None`: no record means nothing downloaded). Set by
    /// the store; ignored by `save_download_progress`.
    pub state: DownloadState,
    /// When the progress last moved (unix seconds). Set by the store.
    pub updated_at: i64,
    /// When the download was last used (unix milliseconds). Set by the store.
    pub last_used: i64,
}

impl DownloadRecord {
    /// The record of a download about to fetch its first chunk.
    pub fn start(
        message: MessageId,
        section: impl Into<String>,
        destination: impl Into<PathBuf>,
    ) -> DownloadRecord {
        DownloadRecord {
            message,
            section: section.into(),
            destination: destination.into(),
            encoded_offset: 0,
            decoded_len: 0,
            decoder_state: DecoderState::default(),
            bytes_on_disk: 0,
            mode: TransferMode::Auto,
            chunk_len: 0,
            state: DownloadState::Partial,
            updated_at: 0,
            last_used: 0,
        }
    }
}

/// How a download's chunks are fetched, and so what its offsets count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// No chunk fetched yet: BINARY where the server offers it, else BODY.
    Auto,
    /// `BODY.PEEK` ranges of the encoded part, decoded here (the decoder's carry is kept):
    /// the only mode before schema 12, and the fallback for a part the server cannot decode.
    Body,
    /// `BINARY.PEEK` ranges of the decoded part (RFC 3516): no decoder state.
    Binary,
}

impl TransferMode {
    pub(crate) fn as_sql(self) -> &'static str {
        match self {
            TransferMode::Auto => "auto",
            TransferMode::Body => "body",
            TransferMode::Binary => "binary",
        }
    }

    fn from_sql(text: &str) -> Result<TransferMode> {
        match text {
            "auto" => Ok(TransferMode::Auto),
            "body" => Ok(TransferMode::Body),
            "binary" => Ok(TransferMode::Binary),
            _ => Err(invalid("unknown download mode")),
        }
    }
}

/// Content that can be evicted to free storage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CachedContent {
    /// A stored body: evict with `evict_body`.
    Body { message: MessageId },
    /// A completed download: delete the file, then `delete_download`.
    Download {
        message: MessageId,
        section: String,
        destination: PathBuf,
    },
}

/// One eviction candidate, with what evicting it frees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evictable {
    pub content: CachedContent,
    pub bytes: u64,
    /// When it was last used (unix milliseconds).
    pub last_used: i64,
}

const SELECT_DOWNLOAD: &str = "
    SELECT message_id, section, destination, encoded_offset, decoded_len, decoder_state, state,
           bytes_on_disk, mode, chunk_len, updated_at, last_used
      FROM part_downloads
     WHERE message_id = ?1 AND section = ?2";

const PUT_BODY: &str = concat!(
    "INSERT INTO bodies (message_id, text_zstd, html_zstd, stored_bytes, fetched_at, last_used)
     VALUES (?1, ?2, ?3, ?4, unixepoch(), ",
    now_ms!(),
    ")
     ON CONFLICT (message_id) DO UPDATE SET
        text_zstd = excluded.text_zstd,
        html_zstd = excluded.html_zstd,
        stored_bytes = excluded.stored_bytes,
        fetched_at = excluded.fetched_at,
        last_used = excluded.last_used"
);

const TOUCH_BODY: &str = concat!(
    "UPDATE bodies SET last_used = ",
    now_ms!(),
    " WHERE message_id = ?1
     RETURNING message_id, text_zstd, html_zstd, stored_bytes, fetched_at, last_used"
);

const SAVE_PROGRESS: &str = concat!(
    "INSERT INTO part_downloads (message_id, section, destination, encoded_offset, decoded_len,
        decoder_state, state, bytes_on_disk, mode, chunk_len, updated_at, last_used)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'partial', ?7, ?8, ?9, unixepoch(), ",
    now_ms!(),
    ")
     ON CONFLICT (message_id, section) DO UPDATE SET
        destination = excluded.destination,
        encoded_offset = excluded.encoded_offset,
        decoded_len = excluded.decoded_len,
        decoder_state = excluded.decoder_state,
        state = 'partial',
        bytes_on_disk = excluded.bytes_on_disk,
        mode = excluded.mode,
        chunk_len = excluded.chunk_len,
        updated_at = excluded.updated_at,
        last_used = excluded.last_used"
);

const COMPLETE: &str = concat!(
    "UPDATE part_downloads
        SET state = 'complete', decoded_len = ?3, bytes_on_disk = ?3, decoder_state = x'',
            updated_at = unixepoch(), last_used = ",
    now_ms!(),
    " WHERE message_id = ?1 AND section = ?2"
);

const TOUCH_DOWNLOAD: &str = concat!(
    "UPDATE part_downloads SET last_used = ",
    now_ms!(),
    " WHERE message_id = ?1 AND section = ?2"
);

/// Bodies and download files of an account, with their size in bytes.
const USAGE: &str = "
    SELECT (SELECT coalesce(sum(b.stored_bytes), 0)
              FROM bodies AS b
              JOIN messages AS m ON m.id = b.message_id
              JOIN folders AS f ON f.id = m.folder_id
             WHERE f.account_id = ?1)
         + (SELECT coalesce(sum(d.bytes_on_disk), 0)
              FROM part_downloads AS d
              JOIN messages AS m ON m.id = d.message_id
              JOIN folders AS f ON f.id = m.folder_id
             WHERE f.account_id = ?1)";

/// Bodies and completed downloads of an account, least recently used first, up to and
/// including the one that brings the running total to `?2` bytes. Partial downloads are in
/// progress (or paused by the user) and are not offered.
const EVICTION: &str = "
    WITH cached AS (
        SELECT 0 AS kind, b.message_id, '' AS section, '' AS destination,
               b.stored_bytes AS bytes, b.last_used
          FROM bodies AS b
          JOIN messages AS m ON m.id = b.message_id
          JOIN folders AS f ON f.id = m.folder_id
         WHERE f.account_id = ?1
        UNION ALL
        SELECT 1, d.message_id, d.section, d.destination, d.bytes_on_disk, d.last_used
          FROM part_downloads AS d
          JOIN messages AS m ON m.id = d.message_id
          JOIN folders AS f ON f.id = m.folder_id
         WHERE f.account_id = ?1 AND d.state = 'complete'
    ),
    ranked AS (
        SELECT *, sum(bytes) OVER (ORDER BY last_used, kind, message_id, section
                                   ROWS UNBOUNDED PRECEDING) AS running
          FROM cached
    )
    SELECT kind, message_id, section, destination, bytes, last_used
      FROM ranked
     WHERE running - bytes < ?2
     ORDER BY last_used, kind, message_id, section";

impl Store {
    /// Stores (or replaces) a message's body, already compressed, and marks it used now.
    /// `stored_bytes` is what it counts against the budget (normally the compressed sizes).
    pub async fn put_body(
        &self,
        message: MessageId,
        text: Option<&[u8]>,
        html: Option<&[u8]>,
        stored_bytes: u64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        require_message(&mut tx, message).await?;
        sqlx::query(PUT_BODY)
            .bind(message.0)
            .bind(text)
            .bind(html)
            .bind(int_u64(stored_bytes, "body size")?)
            .execute(&mut *tx)
            .await
            .map_err(write_err("store a body"))?;
        tx.commit().await.map_err(write_err("commit a body"))
    }

    /// The message's stored body, if any; reading it counts as a use (for eviction order).
    pub async fn body(&self, message: MessageId) -> Result<Option<StoredBody>> {
        let mut tx = self.write().await?;
        let row = sqlx::query(TOUCH_BODY)
            .bind(message.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(write_err("read a body"))?;
        tx.commit().await.map_err(write_err("commit a body read"))?;
        row.as_ref().map(body_from_row).transpose()
    }

    /// Forgets a stored body (the message stays; its body can be fetched again).
    pub async fn evict_body(&self, message: MessageId) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM bodies WHERE message_id = ?1")
            .bind(message.0)
            .execute(&mut *tx)
            .await
            .map_err(sql("evict a body"))?;
        tx.commit().await.map_err(sql("commit a body eviction"))
    }

    /// The download record of a part, if a download was started.
    pub async fn download(
        &self,
        message: MessageId,
        section: &str,
    ) -> Result<Option<DownloadRecord>> {
        let mut conn = self.read().await?;
        let row = sqlx::query(SELECT_DOWNLOAD)
            .bind(message.0)
            .bind(section)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("read a download"))?;
        row.as_ref().map(download_from_row).transpose()
    }

    /// Commits a chunk's progress (call only after the partial file was synced): the
    /// record's offsets, decoder state, destination and size, as a partial download, and the
    /// part's `download_state` as `Partial`, in one transaction. The record's `state` and
    /// timestamps are set by the store. `NotFound` when the part does not exist (any more).
    pub async fn save_download_progress(&self, record: &DownloadRecord) -> Result<()> {
        let destination = record
            .destination
            .to_str()
            .ok_or_else(|| invalid("a download destination is not valid UTF-8"))?;
        let mut tx = self.write().await?;
        parts::set_state(
            &mut tx,
            record.message,
            &record.section,
            DownloadState::Partial,
        )
        .await?;
        sqlx::query(SAVE_PROGRESS)
            .bind(record.message.0)
            .bind(&record.section)
            .bind(destination)
            .bind(int_u64(record.encoded_offset, "encoded offset")?)
            .bind(int_u64(record.decoded_len, "decoded length")?)
            .bind(record.decoder_state.as_bytes())
            .bind(int_u64(record.bytes_on_disk, "download size")?)
            .bind(record.mode.as_sql())
            .bind(i64::from(record.chunk_len))
            .execute(&mut *tx)
            .await
            .map_err(write_err("store download progress"))?;
        tx.commit()
            .await
            .map_err(write_err("commit download progress"))
    }

    /// Marks a download complete (the file is in place at its destination) with its final
    /// size, and the part's `download_state` as `Complete`. `NotFound` without a record.
    pub async fn complete_download(
        &self,
        message: MessageId,
        section: &str,
        bytes_on_disk: u64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(COMPLETE)
            .bind(message.0)
            .bind(section)
            .bind(int_u64(bytes_on_disk, "download size")?)
            .execute(&mut *tx)
            .await
            .map_err(write_err("complete a download"))?
            .rows_affected();
        if updated == 0 {
            return Err(Error::NotFound {
                what: "download of message",
                id: message.0,
            });
        }
        parts::set_state(&mut tx, message, section, DownloadState::Complete).await?;
        tx.commit()
            .await
            .map_err(write_err("commit a completed download"))
    }

    /// Marks a download as used now (the app opened the file), for eviction order.
    pub async fn touch_download(&self, message: MessageId, section: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(TOUCH_DOWNLOAD)
            .bind(message.0)
            .bind(section)
            .execute(&mut *tx)
            .await
            .map_err(write_err("mark a download used"))?;
        tx.commit()
            .await
            .map_err(write_err("commit a download use"))
    }

    /// Forgets a download (cancelled and discarded, or evicted) and puts the part back to
    /// `DownloadState::None`. Deleting the file is the caller's job. Doing it twice is fine.
    pub async fn delete_download(&self, message: MessageId, section: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM part_downloads WHERE message_id = ?1 AND section = ?2")
            .bind(message.0)
            .bind(section)
            .execute(&mut *tx)
            .await
            .map_err(sql("delete a download"))?;
        sqlx::query("DELETE FROM part_states WHERE message_id = ?1 AND section = ?2")
            .bind(message.0)
            .bind(section)
            .execute(&mut *tx)
            .await
            .map_err(sql("reset a part's download state"))?;
        tx.commit().await.map_err(sql("commit a deleted download"))
    }

    /// Bytes of bodies and downloaded files (partial ones included) kept for the account.
    pub async fn cache_usage(&self, account: AccountId) -> Result<u64> {
        let mut conn = self.read().await?;
        let used: i64 = sqlx::query_scalar(USAGE)
            .bind(account.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(sql("sum the cache usage"))?;
        u64::try_from(used).map_err(|_| invalid("cache usage out of range"))
    }

    /// What to evict to free `bytes_to_free` bytes of the account's cache: bodies and
    /// completed downloads, least recently used first, just enough to reach the amount
    /// (all of them when the cache holds less). Nothing is removed here.
    pub async fn eviction_candidates(
        &self,
        account: AccountId,
        bytes_to_free: u64,
    ) -> Result<Vec<Evictable>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(EVICTION)
            .bind(account.0)
            .bind(i64::try_from(bytes_to_free).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("list eviction candidates"))?;
        rows.iter().map(evictable_from_row).collect()
    }
}

/// `NotFound` unless the message exists.
async fn require_message(conn: &mut SqliteConnection, message: MessageId) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM messages WHERE id = ?1")
        .bind(message.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("look up a message"))?;
    found.map(|_| ()).ok_or(Error::NotFound {
        what: "message",
        id: message.0,
    })
}

/// Like `sql`, but a full disk (SQLITE_FULL) becomes `DiskFull`, so the engine can tell the
/// user; the transaction is rolled back and nothing committed is lost.
pub(super) fn write_err(during: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    /// SQLite's primary result code for "database or disk is full".
    const SQLITE_FULL: i32 = 13;
    move |source| {
        let full = source
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xFF == SQLITE_FULL);
        match full {
            true => Error::DiskFull { source: None },
            false => sql(during)(source),
        }
    }
}

fn body_from_row(row: &SqliteRow) -> Result<StoredBody> {
    Ok(StoredBody {
        message: MessageId(col(row, "message_id")?),
        text_zstd: col(row, "text_zstd")?,
        html_zstd: col(row, "html_zstd")?,
        stored_bytes: col_u64(row, "stored_bytes")?,
        fetched_at: col(row, "fetched_at")?,
        last_used: col(row, "last_used")?,
    })
}

fn download_from_row(row: &SqliteRow) -> Result<DownloadRecord> {
    let destination: String = col(row, "destination")?;
    let state: &str = col(row, "state")?;
    let decoder_state: Vec<u8> = col(row, "decoder_state")?;
    let mode: &str = col(row, "mode")?;
    let chunk_len: i64 = col(row, "chunk_len")?;
    Ok(DownloadRecord {
        message: MessageId(col(row, "message_id")?),
        section: col(row, "section")?,
        destination: PathBuf::from(destination),
        encoded_offset: col_u64(row, "encoded_offset")?,
        decoded_len: col_u64(row, "decoded_len")?,
        decoder_state: DecoderState::from_bytes(&decoder_state)?,
        bytes_on_disk: col_u64(row, "bytes_on_disk")?,
        mode: TransferMode::from_sql(mode)?,
        chunk_len: u32::try_from(chunk_len).map_err(|_| invalid("a chunk size out of range"))?,
        state: DownloadState::from_sql(state)?,
        updated_at: col(row, "updated_at")?,
        last_used: col(row, "last_used")?,
    })
}

fn evictable_from_row(row: &SqliteRow) -> Result<Evictable> {
    let kind: i64 = col(row, "kind")?;
    let message = MessageId(col(row, "message_id")?);
    let content = match kind {
        0 => CachedContent::Body { message },
        _ => CachedContent::Download {
            message,
            section: col(row, "section")?,
            destination: PathBuf::from(col::<String>(row, "destination")?),
        },
    };
    Ok(Evictable {
        content,
        bytes: col_u64(row, "bytes")?,
        last_used: col(row, "last_used")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_debug_shows_sizes_not_content() {
        let body = StoredBody {
            message: MessageId(1),
            text_zstd: Some(b"secret".to_vec()),
            html_zstd: None,
            stored_bytes: 6,
            fetched_at: 0,
            last_used: 0,
        };
        let shown = format!("{body:?}");
        assert!(shown.contains("text_zstd_len: Some(6)"), "{shown}");
        assert!(!shown.contains("[115"), "{shown}");
    }

    #[test]
    fn statements_are_complete() {
        for text in [
            PUT_BODY,
            TOUCH_BODY,
            SAVE_PROGRESS,
            COMPLETE,
            TOUCH_DOWNLOAD,
        ] {
            assert!(text.contains("unixepoch('subsec')"), "{text}");
        }
    }
}
