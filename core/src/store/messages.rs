//! Message rows and their MIME parts: the records the sync layer hands in, and the one write
//! path that stores a window of them (messages, parts, thread links and, through triggers,
//! the search index). A window goes in as three or four statements whatever its size; see the
//! module docs of `store` for the JSON batch technique. Part rows start with no content
//! downloaded; the blob layer moves their `DownloadState` later.

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{AddressList, batch_json, int_u64},
    folders::{FolderSyncState, folder_row, write_state},
    invalid, sql, threads,
};
use crate::{Error, Result};

/// The IMAP system flags a message can carry, as a bit set (`\Recent` is session-only and not
/// stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemFlags(u8);

impl SystemFlags {
    pub const SEEN: SystemFlags = SystemFlags(1);
    pub const ANSWERED: SystemFlags = SystemFlags(2);
    pub const FLAGGED: SystemFlags = SystemFlags(4);
    pub const DELETED: SystemFlags = SystemFlags(8);
    pub const DRAFT: SystemFlags = SystemFlags(16);
    const ALL_BITS: u8 = 31;

    /// No flag set.
    pub const fn empty() -> SystemFlags {
        SystemFlags(0)
    }

    /// The raw bits (1 seen, 2 answered, 4 flagged, 8 deleted, 16 draft).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// The set from raw bits; unknown bits are dropped.
    pub const fn from_bits_truncate(bits: u8) -> SystemFlags {
        SystemFlags(bits & Self::ALL_BITS)
    }

    /// Whether every flag of `other` is set here.
    pub const fn contains(self, other: SystemFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: SystemFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: SystemFlags) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for SystemFlags {
    type Output = SystemFlags;

    fn bitor(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 | other.0)
    }
}

/// A message's flags: system flags plus keywords (`$Forwarded`, `$Junk`, ...), kept in the
/// order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub system: SystemFlags,
    pub keywords: Vec<String>,
}

/// One mailbox address from a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// The display name, decoded.
    pub name: Option<String>,
    pub email: String,
}

/// A message to store, as the sync layer decoded it from ENVELOPE, BODYSTRUCTURE and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// The IMAP UID (POP3: a local sequence the sync layer assigns); never 0.
    pub uid: u32,
    /// MODSEQ; 0 without CONDSTORE.
    pub modseq: u64,
    pub flags: Flags,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
    /// The Date header, unix seconds.
    pub date: Option<i64>,
    /// RFC822.SIZE in octets.
    pub size: u32,
    /// The subject, already decoded.
    pub subject: String,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    /// The Message-ID header, as given (angle brackets or not).
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// A short plain-text preview, when one was fetched.
    pub preview: Option<String>,
    pub parts: Vec<NewPart>,
}

/// One MIME part from BODYSTRUCTURE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewPart {
    /// The IMAP part number: "1", "1.2", "2.1" (never "TEXT" or empty).
    pub section: String,
    /// Lowercase type/subtype, "text/plain".
    pub mime_type: String,
    pub charset: Option<String>,
    /// The content transfer encoding, lowercase.
    pub encoding: Option<String>,
    /// Size in encoded octets.
    pub size: u32,
    /// Line count, for text parts.
    pub lines: Option<u32>,
    pub disposition: Option<String>,
    /// The file name, decoded.
    pub filename: Option<String>,
    pub content_id: Option<String>,
    pub is_attachment: bool,
}

/// How much of a part's content is stored locally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DownloadState {
    #[default]
    None,
    Partial,
    Complete,
}

impl DownloadState {
    pub(super) fn as_sql(self) -> &'static str {
        match self {
            DownloadState::None => "none",
            DownloadState::Partial => "partial",
            DownloadState::Complete => "complete",
        }
    }

    pub(super) fn from_sql(text: &str) -> Result<DownloadState> {
        match text {
            "none" => Ok(DownloadState::None),
            "partial" => Ok(DownloadState::Partial),
            "complete" => Ok(DownloadState::Complete),
            _ => Err(invalid("unknown download state in the store")),
        }
    }
}

impl Store {
    /// Stores a window of messages with their parts and moves the folder's sync state to
    /// `state_after`, in one transaction. A message whose UID is already stored is updated
    /// (flags, modseq, headers; a preview is only ever added); its parts keep their download
    /// state. Fails without changing anything if any row is invalid.
    pub async fn insert_window(
        &self,
        folder: FolderId,
        state_after: &FolderSyncState,
        messages: &[NewMessage],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        write_state(&mut tx, folder, &stored, state_after).await?;
        write_messages(&mut tx, stored.account, folder, messages).await?;
        tx.commit()
            .await
            .map_err(sql("commit a window of messages"))
    }

    /// The folder's stored UIDs, ascending (for a full-scan comparison with the server).
    pub async fn uids(&self, folder: FolderId) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> =
            sqlx::query_scalar("SELECT uid FROM messages WHERE folder_id = ?1 ORDER BY uid")
                .bind(folder.0)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql("list a folder's UIDs"))?;
        uids.into_iter()
            .map(|uid| u32::try_from(uid).map_err(|_| invalid("stored UID out of range")))
            .collect()
    }

    /// How many messages of the folder are stored.
    pub async fn message_count(&self, folder: FolderId) -> Result<u32> {
        let mut conn = self.read().await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE folder_id = ?1")
            .bind(folder.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(sql("count a folder's messages"))?;
        u32::try_from(count).map_err(|_| invalid("message count out of range"))
    }

    /// Records how much of a part's content is stored locally.
    pub async fn set_download_state(
        &self,
        message: MessageId,
        section: &str,
        state: DownloadState,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE parts SET download_state = ?3 WHERE message_id = ?1 AND section = ?2",
        )
        .bind(message.0)
        .bind(section)
        .bind(state.as_sql())
        .execute(&mut *tx)
        .await
        .map_err(sql("store a part's download state"))?
        .rows_affected();
        if updated == 0 {
            return Err(Error::NotFound {
                what: "part of message",
                id: message.0,
            });
        }
        tx.commit()
            .await
            .map_err(sql("commit a part's download state"))
    }
}

/// A message as one element of the JSON batch.
#[derive(Serialize)]
struct MessageRow<'a> {
    uid: u32,
    modseq: i64,
    flags: u8,
    keywords: &'a [String],
    internal_date: i64,
    date: Option<i64>,
    size: u32,
    subject: &'a str,
    from: AddressList<'a>,
    sender: AddressList<'a>,
    reply_to: AddressList<'a>,
    to: AddressList<'a>,
    cc: AddressList<'a>,
    bcc: AddressList<'a>,
    message_id: Option<&'a str>,
    in_reply_to: Option<&'a str>,
    references: &'a [String],
    preview: Option<&'a str>,
    has_attachments: bool,
    thread_id: i64,
}

/// A part as one element of the JSON batch, tied to its message by UID.
#[derive(Serialize)]
struct PartRow<'a> {
    uid: u32,
    section: &'a str,
    mime_type: &'a str,
    charset: Option<&'a str>,
    encoding: Option<&'a str>,
    size: u32,
    lines: Option<u32>,
    disposition: Option<&'a str>,
    filename: Option<&'a str>,
    content_id: Option<&'a str>,
    is_attachment: bool,
}

/// Upserts a window of messages. `WHERE true` lets SQLite parse `ON CONFLICT` after a SELECT.
pub(super) const UPSERT_MESSAGES: &str = "
    WITH b AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?2))
    INSERT INTO messages (folder_id, uid, modseq, flags, keywords, internal_date, date, size,
        subject, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs, bcc_addrs,
        header_message_id, header_in_reply_to, header_references, preview, has_attachments,
        thread_id)
    SELECT ?1, b.v ->> 'uid', b.v ->> 'modseq', b.v ->> 'flags',
        b.v ->> 'keywords', b.v ->> 'internal_date', b.v ->> 'date',
        b.v ->> 'size', b.v ->> 'subject', b.v ->> 'from', b.v ->> 'sender',
        b.v ->> 'reply_to', b.v ->> 'to', b.v ->> 'cc', b.v ->> 'bcc',
        b.v ->> 'message_id', b.v ->> 'in_reply_to', b.v ->> 'references',
        b.v ->> 'preview', b.v ->> 'has_attachments', b.v ->> 'thread_id'
    FROM b
    WHERE true
    ON CONFLICT (folder_id, uid) DO UPDATE SET
        modseq = excluded.modseq,
        flags = excluded.flags,
        keywords = excluded.keywords,
        internal_date = excluded.internal_date,
        date = excluded.date,
        size = excluded.size,
        subject = excluded.subject,
        from_addrs = excluded.from_addrs,
        sender_addrs = excluded.sender_addrs,
        reply_to_addrs = excluded.reply_to_addrs,
        to_addrs = excluded.to_addrs,
        cc_addrs = excluded.cc_addrs,
        bcc_addrs = excluded.bcc_addrs,
        header_message_id = excluded.header_message_id,
        header_in_reply_to = excluded.header_in_reply_to,
        header_references = excluded.header_references,
        preview = coalesce(excluded.preview, messages.preview),
        has_attachments = max(excluded.has_attachments, messages.has_attachments),
        thread_id = excluded.thread_id";

/// Upserts the parts of a window by (message, section), keeping their download state.
/// `CROSS JOIN` keeps the batch as the outer loop, so each part costs one index lookup.
pub(super) const UPSERT_PARTS: &str = "
    WITH b AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?2))
    INSERT INTO parts (message_id, section, mime_type, charset, encoding, size, lines,
        disposition, filename, content_id, is_attachment)
    SELECT m.id, b.v ->> 'section', b.v ->> 'mime_type', b.v ->> 'charset',
        b.v ->> 'encoding', b.v ->> 'size', b.v ->> 'lines',
        b.v ->> 'disposition', b.v ->> 'filename', b.v ->> 'content_id',
        b.v ->> 'is_attachment'
    FROM b
    CROSS JOIN messages AS m ON m.folder_id = ?1 AND m.uid = b.v ->> 'uid'
    WHERE true
    ON CONFLICT (message_id, section) DO UPDATE SET
        mime_type = excluded.mime_type,
        charset = excluded.charset,
        encoding = excluded.encoding,
        size = excluded.size,
        lines = excluded.lines,
        disposition = excluded.disposition,
        filename = excluded.filename,
        content_id = excluded.content_id,
        is_attachment = excluded.is_attachment";

/// Stores messages and parts inside the caller's transaction. Returns how many were given.
pub(super) async fn write_messages(
    conn: &mut SqliteConnection,
    account: AccountId,
    folder: FolderId,
    messages: &[NewMessage],
) -> Result<u64> {
    if messages.is_empty() {
        return Ok(0);
    }
    if messages.iter().any(|m| m.uid == 0) {
        return Err(invalid("UID 0 is not a valid message UID"));
    }
    let thread_ids = threads::assign(conn, account, messages).await?;

    let mut rows = Vec::with_capacity(messages.len());
    let mut parts = Vec::new();
    for (message, thread_id) in messages.iter().zip(thread_ids) {
        rows.push(MessageRow {
            uid: message.uid,
            modseq: int_u64(message.modseq, "MODSEQ")?,
            flags: message.flags.system.bits(),
            keywords: &message.flags.keywords,
            internal_date: message.internal_date,
            date: message.date,
            size: message.size,
            subject: &message.subject,
            from: AddressList(&message.from),
            sender: AddressList(&message.sender),
            reply_to: AddressList(&message.reply_to),
            to: AddressList(&message.to),
            cc: AddressList(&message.cc),
            bcc: AddressList(&message.bcc),
            message_id: message.message_id.as_deref(),
            in_reply_to: message.in_reply_to.as_deref(),
            references: &message.references,
            preview: message.preview.as_deref(),
            has_attachments: message.parts.iter().any(|p| p.is_attachment),
            thread_id,
        });
        parts.extend(message.parts.iter().map(|part| PartRow {
            uid: message.uid,
            section: &part.section,
            mime_type: &part.mime_type,
            charset: part.charset.as_deref(),
            encoding: part.encoding.as_deref(),
            size: part.size,
            lines: part.lines,
            disposition: part.disposition.as_deref(),
            filename: part.filename.as_deref(),
            content_id: part.content_id.as_deref(),
            is_attachment: part.is_attachment,
        }));
    }

    sqlx::query(UPSERT_MESSAGES)
        .bind(folder.0)
        .bind(batch_json(&rows, "messages")?)
        .execute(&mut *conn)
        .await
        .map_err(sql("store messages"))?;
    if !parts.is_empty() {
        sqlx::query(UPSERT_PARTS)
            .bind(folder.0)
            .bind(batch_json(&parts, "parts")?)
            .execute(&mut *conn)
            .await
            .map_err(sql("store message parts"))?;
    }
    Ok(rows.len() as u64)
}
