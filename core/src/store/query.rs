//! Reads for apps: the message list of a folder (newest first, keyset paging on
//! (INTERNALDATE, UID) along the `messages_by_date` index, so a page costs the same at any
//! depth and stays stable while new mail arrives) and one message with its parts. Also the
//! query plans of the hot queries, so tests and benchmarks can check they use their indexes.

use sqlx::sqlite::SqliteRow;

use super::{
    FolderId, MessageId, Store, ThreadId,
    codec::{col, col_addresses, col_strings, col_u32, col_u64},
    delta::{CHANGE_FLAGS, REMOVE_UIDS, WRITE_FLAGS},
    folders::FOLDER_SUMMARIES,
    messages::{Address, DownloadState, Flags, NewPart, SystemFlags, UPSERT_MESSAGES},
    search::SEARCH,
    sql,
    threads::{THREAD, lookup_links},
};
use crate::Result;

/// The largest page `messages_page` returns; bigger limits are clamped.
pub const MAX_PAGE: u32 = 500;

/// Where a page of the message list ends: the last message shown. Pass it back as `before`
/// for the next (older) page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub internal_date: i64,
    pub uid: u32,
}

/// One page of a message list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<MessageSummary>,
    /// The cursor for the next page; `None` when this page reached the oldest message.
    pub next: Option<Cursor>,
}

/// What a message list row needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub id: MessageId,
    pub folder: FolderId,
    pub uid: u32,
    pub thread: ThreadId,
    pub flags: Flags,
    /// The keywords of `flags` that stay on this device: the folder's server cannot keep
    /// them (not in its PERMANENTFLAGS), so they are never written back.
    pub local_keywords: Vec<String>,
    pub internal_date: i64,
    pub date: Option<i64>,
    pub size: u32,
    pub subject: String,
    pub from: Vec<Address>,
    pub to: Vec<Address>,
    pub preview: Option<String>,
    pub has_attachments: bool,
}

/// A message with all stored headers and its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDetail {
    pub summary: MessageSummary,
    pub modseq: u64,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// In the order the sync layer gave them (BODYSTRUCTURE order).
    pub parts: Vec<PartDetail>,
}

/// One stored MIME part and how much of it is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartDetail {
    pub section: String,
    pub mime_type: String,
    pub charset: Option<String>,
    pub encoding: Option<String>,
    pub size: u32,
    pub lines: Option<u32>,
    pub disposition: Option<String>,
    pub filename: Option<String>,
    pub content_id: Option<String>,
    pub is_attachment: bool,
    pub download_state: DownloadState,
}

/// The statements whose plans matter, for [`Store::query_plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HotQuery {
    /// `messages_page`: must walk `messages_by_date` without sorting.
    MessagesPage,
    /// The unread/total counts of `folders`: kept in `folder_counts` (migration 0016).
    FolderCounts,
    /// `search`: the FTS index, then `messages_by_id_date` to pick the newest matches.
    Search,
    /// `thread`: `messages_by_thread`, already in date order.
    Thread,
    /// Storing a window's messages.
    InsertMessages,
    /// Flag changes: the stored flags read with one index lookup per change.
    FlagChanges,
    /// Flag changes: the rows that differ written with one rowid lookup each.
    FlagWrites,
    /// Expunges: one index range scan per UID range.
    Expunge,
    /// Looking up the thread links of a window's Message-IDs.
    ThreadLinks,
    /// The search index pass: the waiting rows, each message by its rowid.
    IndexWaiting,
}

impl HotQuery {
    pub const ALL: [HotQuery; 10] = [
        HotQuery::MessagesPage,
        HotQuery::FolderCounts,
        HotQuery::Search,
        HotQuery::Thread,
        HotQuery::InsertMessages,
        HotQuery::FlagChanges,
        HotQuery::FlagWrites,
        HotQuery::Expunge,
        HotQuery::ThreadLinks,
        HotQuery::IndexWaiting,
    ];
}

/// Keyset paging: strictly older than the cursor, newest first, along `messages_by_date`.
const PAGE: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM messages AS m
      WHERE m.folder_id = ?1 AND (m.internal_date, m.uid) < (?2, ?3) AND m.tombstone = 0
      ORDER BY m.internal_date DESC, m.uid DESC
      LIMIT ?4"
);

/// A message with every stored header and its parts.
const DETAIL: &str = concat!(
    "SELECT ",
    summary_columns!(),
    ", m.modseq, m.sender_addrs, m.reply_to_addrs, m.cc_addrs, m.bcc_addrs,
       m.header_message_id, m.header_in_reply_to, m.header_references, m.parts
     FROM messages AS m WHERE m.id = ?1 AND m.tombstone = 0"
);

impl Store {
    /// A page of the folder's messages, newest first (INTERNALDATE, then UID), older than
    /// `before` (from the start when `None`). `limit` is clamped to 1..=[`MAX_PAGE`].
    pub async fn messages_page(
        &self,
        folder: FolderId,
        before: Option<Cursor>,
        limit: u32,
    ) -> Result<Page> {
        let limit = limit.clamp(1, MAX_PAGE);
        let (date, uid) = match before {
            Some(cursor) => (cursor.internal_date, i64::from(cursor.uid)),
            None => (i64::MAX, i64::MAX),
        };
        let mut conn = self.read().await?;
        // One extra row tells whether an older page exists.
        let rows = sqlx::query(PAGE)
            .bind(folder.0)
            .bind(date)
            .bind(uid)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("read a page of messages"))?;
        let mut items = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|m| Cursor {
                internal_date: m.internal_date,
                uid: m.uid,
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// One message with all its stored headers and parts; `None` if it does not exist.
    pub async fn message(&self, message: MessageId) -> Result<Option<MessageDetail>> {
        let mut tx = self.read_snapshot().await?;
        let Some(row) = sqlx::query(DETAIL)
            .bind(message.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql("read a message"))?
        else {
            return Ok(None);
        };
        let states = super::parts::states(&mut tx, message).await?;
        let parts = super::parts::decode(col(&row, "parts")?)?
            .into_iter()
            .map(|part| {
                let download_state = states
                    .iter()
                    .find(|(section, _)| *section == part.section)
                    .map_or(DownloadState::None, |(_, state)| *state);
                part_detail(part, download_state)
            })
            .collect();
        Ok(Some(MessageDetail {
            summary: summary_from_row(&row)?,
            modseq: col_u64(&row, "modseq")?,
            sender: col_addresses(&row, "sender_addrs")?,
            reply_to: col_addresses(&row, "reply_to_addrs")?,
            cc: col_addresses(&row, "cc_addrs")?,
            bcc: col_addresses(&row, "bcc_addrs")?,
            message_id: col(&row, "header_message_id")?,
            in_reply_to: col(&row, "header_in_reply_to")?,
            references: col_strings(&row, "header_references")?,
            parts,
        }))
    }

    /// The `EXPLAIN QUERY PLAN` lines of a hot statement, for tests and benchmarks.
    pub async fn query_plan(&self, query: HotQuery) -> Result<Vec<String>> {
        let links = lookup_links(4);
        let text = match query {
            HotQuery::MessagesPage => PAGE,
            HotQuery::FolderCounts => FOLDER_SUMMARIES,
            HotQuery::Search => SEARCH,
            HotQuery::Thread => THREAD,
            HotQuery::InsertMessages => UPSERT_MESSAGES,
            HotQuery::FlagChanges => CHANGE_FLAGS,
            HotQuery::FlagWrites => WRITE_FLAGS,
            HotQuery::Expunge => REMOVE_UIDS,
            HotQuery::ThreadLinks => links.as_str(),
            HotQuery::IndexWaiting => super::search::INDEX_WAITING,
        };
        let mut conn = self.read().await?;
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {text}"))
                .persistent(false)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql("explain a query"))?;
        Ok(rows.into_iter().map(|(_, _, _, detail)| detail).collect())
    }
}

/// Reads the `summary_columns!()` of a row.
pub(super) fn summary_from_row(row: &SqliteRow) -> Result<MessageSummary> {
    let flags: i64 = col(row, "flags")?;
    Ok(MessageSummary {
        id: MessageId(col(row, "id")?),
        folder: FolderId(col(row, "folder_id")?),
        uid: col_u32(row, "uid")?,
        thread: ThreadId(col(row, "thread_id")?),
        flags: Flags {
            system: SystemFlags::from_bits_truncate((flags & 0x1f) as u8),
            keywords: col_strings(row, "keywords")?,
        },
        local_keywords: col_strings(row, "local_keywords")?,
        internal_date: col(row, "internal_date")?,
        date: col(row, "date")?,
        size: col_u32(row, "size")?,
        subject: col(row, "subject")?,
        from: col_addresses(row, "from_addrs")?,
        to: col_addresses(row, "to_addrs")?,
        preview: col(row, "preview")?,
        has_attachments: col(row, "has_attachments")?,
    })
}

fn part_detail(part: NewPart, download_state: DownloadState) -> PartDetail {
    PartDetail {
        section: part.section,
        mime_type: part.mime_type,
        charset: part.charset,
        encoding: part.encoding,
        size: part.size,
        lines: part.lines,
        disposition: part.disposition,
        filename: part.filename,
        content_id: part.content_id,
        is_attachment: part.is_attachment,
        download_state,
    }
}
