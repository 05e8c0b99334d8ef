//! Message rows and their MIME parts: the records the sync layer hands in, and the one write
//! path that stores a window of them (messages, parts, thread links and the search index).
//! Every insert into `messages` goes through [`write_messages`]: new rows arrive in a few
//! multi-row `INSERT … VALUES` statements with bound parameters, and their `message_search`
//! rows are written here too (migration 0005 dropped the insert trigger); rows already stored
//! are upserted through a JSON batch (`upsert`; see the module docs of `store`), whose update
//! trigger re-indexes them. A message's parts are one JSON column of its row (migration 0020,
//! `parts`); they start with no content downloaded, and the blob layer moves a part's
//! `DownloadState` later. A message whose summary could not be read in full is stored
//! `incomplete` (migration 0008) and never overwrites the headers of a complete row.

use futures::future::BoxFuture;
use sqlx::SqliteConnection;

pub(super) use super::upsert::UPSERT_MESSAGES;
use super::{
    AccountId, FolderId, MessageId, Store,
    codec::int_u64,
    folders::{FolderSyncState, folder_row, write_state},
    invalid,
    prepared::{Encoded, Prepared},
    search, sql, threads, upsert,
};
use crate::Result;

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
    /// Only part of the message's summary could be read (at least its UID and flags): the row
    /// is marked and the next sync fetches the message again. Stored over a complete row of
    /// the same UID, only the flags and MODSEQ are taken.
    pub incomplete: bool,
    /// The server's EMAILID (RFC 8474), validated (`imap::object_id`); `None` without
    /// OBJECTID.
    pub email_id: Option<String>,
    /// The server's THREADID (RFC 8474), validated; `None` without OBJECTID or for NIL.
    /// Threads follow it when given ([`threads`]).
    pub server_thread: Option<String>,
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
        self.store_window(folder, state_after, messages, None, Indexing::Now)
            .await
    }

    /// As [`Store::insert_window`], but the new messages wait for the search index pass
    /// ([`Store::index_pending`]) instead of entering the index in this transaction: for the
    /// windows of a header sync, which the app waits on (migration 0021).
    pub async fn insert_window_index_later(
        &self,
        folder: FolderId,
        state_after: &FolderSyncState,
        messages: &[NewMessage],
    ) -> Result<()> {
        self.store_window(folder, state_after, messages, None, Indexing::Later)
            .await
    }

    /// As [`Store::insert_window_index_later`], with the messages' column texts and thread
    /// keys made beforehand ([`Prepared::new`] of the same `messages`; made here if `None`
    /// or made from another batch): a header sync prepares a window while the previous one
    /// commits.
    pub async fn insert_prepared_window(
        &self,
        folder: FolderId,
        state_after: &FolderSyncState,
        messages: &[NewMessage],
        prepared: Option<Prepared>,
    ) -> Result<()> {
        self.store_window(folder, state_after, messages, prepared, Indexing::Later)
            .await
    }

    async fn store_window(
        &self,
        folder: FolderId,
        state_after: &FolderSyncState,
        messages: &[NewMessage],
        prepared: Option<Prepared>,
        indexing: Indexing,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        write_state(&mut tx, folder, &stored, state_after).await?;
        write_prepared(
            &mut tx,
            stored.account,
            folder,
            messages,
            prepared,
            indexing,
        )
        .await?;
        tx.commit()
            .await
            .map_err(sql("commit a window of messages"))
    }

    /// The folder's stored UIDs, ascending (for a full-scan comparison with the server).
    pub async fn uids(&self, folder: FolderId) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM messages WHERE folder_id = ?1 AND tombstone = 0 ORDER BY uid",
        )
        .bind(folder.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list a folder's UIDs"))?;
        uids.into_iter()
            .map(|uid| u32::try_from(uid).map_err(|_| invalid("stored UID out of range")))
            .collect()
    }

    /// Up to `limit` UIDs of the folder's messages stored incomplete, ascending: the next
    /// sync fetches them again.
    pub async fn incomplete_uids(&self, folder: FolderId, limit: u32) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT uid FROM messages WHERE folder_id = ?1 AND summary_state = 'incomplete'
               AND tombstone = 0
             ORDER BY uid LIMIT ?2",
        )
        .bind(folder.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list a folder's incomplete messages"))?;
        uids.into_iter()
            .map(|uid| u32::try_from(uid).map_err(|_| invalid("stored UID out of range")))
            .collect()
    }

    /// The id of the message stored under `uid` in `folder`, if any.
    pub async fn message_id(&self, folder: FolderId, uid: u32) -> Result<Option<MessageId>> {
        let mut conn = self.read().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2 AND tombstone = 0",
        )
        .bind(folder.0)
        .bind(i64::from(uid))
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("look up a message by UID"))?;
        Ok(id.map(MessageId))
    }

    /// How many messages of the folder's sync window are stored (search hits outside it,
    /// migration 0014, are not counted).
    pub async fn message_count(&self, folder: FolderId) -> Result<u32> {
        let mut conn = self.read().await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE folder_id = ?1 AND outside_window = 0 \
             AND tombstone = 0",
        )
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
        super::parts::set_state(&mut tx, message, section, state).await?;
        tx.commit()
            .await
            .map_err(sql("commit a part's download state"))
    }
}

/// The stored form of [`NewMessage::incomplete`].
pub(super) fn summary_state(message: &NewMessage) -> &'static str {
    if message.incomplete {
        "incomplete"
    } else {
        "complete"
    }
}

/// Stores messages and parts inside the caller's transaction. Returns how many were given.
///
/// Messages whose UID is new to the folder (every message of an initial sync) take the fast
/// path: multi-row `INSERT … VALUES` statements with bound parameters (no JSON to unpack),
/// each row with its parts' column, and the search index rows written directly with their
/// address text built here. A UID already stored (or repeated in the
/// batch) goes through the JSON upsert, whose update trigger keeps the search index in step.
///
/// Boxed (one allocation per transaction): its state machine is then compiled once, in this
/// crate. Awaited directly, rustc compiled it both here (for the window commit this crate
/// spawns) and in the FFI crate (for every other caller): 22 KB twice (library size).
pub(super) fn write_messages<'a>(
    conn: &'a mut SqliteConnection,
    account: AccountId,
    folder: FolderId,
    messages: &'a [NewMessage],
    indexing: Indexing,
) -> BoxFuture<'a, Result<u64>> {
    write_prepared(conn, account, folder, messages, None, indexing)
}

/// [`write_messages`] with the batch's [`Prepared`] form, if it was made beforehand.
fn write_prepared<'a>(
    conn: &'a mut SqliteConnection,
    account: AccountId,
    folder: FolderId,
    messages: &'a [NewMessage],
    prepared: Option<Prepared>,
    indexing: Indexing,
) -> BoxFuture<'a, Result<u64>> {
    Box::pin(write_messages_now(
        conn, account, folder, messages, prepared, indexing,
    ))
}

/// When a write's new messages enter the search index (migration 0021).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Indexing {
    /// In the write's transaction.
    Now,
    /// By the index pass, later: they wait in `search_waiting`.
    Later,
}

async fn write_messages_now(
    conn: &mut SqliteConnection,
    account: AccountId,
    folder: FolderId,
    messages: &[NewMessage],
    prepared: Option<Prepared>,
    indexing: Indexing,
) -> Result<u64> {
    if messages.is_empty() {
        return Ok(0);
    }
    if messages.iter().any(|m| m.uid == 0) {
        return Err(invalid("UID 0 is not a valid message UID"));
    }
    let mut prepared = match prepared {
        Some(p) if p.encoded.len() == messages.len() => p,
        _ => Prepared::new(messages)?,
    };
    let thread_ids = threads::assign(conn, account, &prepared.keys).await?;
    let stored = stored_uids(conn, folder, messages).await?;

    // New UIDs (first occurrence only) are inserted, each with its position in `messages`;
    // the rest are upserted afterwards, except that an incomplete message over a complete row
    // only brings its flags.
    let mut fresh: Vec<(&NewMessage, i64, usize)> = Vec::with_capacity(messages.len());
    let mut again: Vec<(&NewMessage, i64)> = Vec::new();
    let mut flags_only: Vec<&NewMessage> = Vec::new();
    let mut seen: Vec<u32> = Vec::with_capacity(messages.len());
    for (at, (message, thread_id)) in messages.iter().zip(thread_ids).enumerate() {
        if let Ok(at) = stored.binary_search_by_key(&message.uid, |(uid, _)| *uid) {
            let complete = stored.get(at).is_some_and(|(_, complete)| *complete);
            if message.incomplete && complete {
                flags_only.push(message);
            } else {
                again.push((message, thread_id));
            }
        } else {
            seen.push(message.uid);
            fresh.push((message, thread_id, at));
        }
    }
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        // A UID given twice: its first copy is inserted, later ones update it, in order.
        let mut first: Vec<u32> = Vec::with_capacity(fresh.len());
        let mut kept = Vec::with_capacity(fresh.len());
        for (message, thread_id, at) in fresh {
            match first.binary_search(&message.uid) {
                Ok(_) => again.push((message, thread_id)),
                Err(place) => {
                    first.insert(place, message.uid);
                    kept.push((message, thread_id, at));
                }
            }
        }
        fresh = kept;
    }
    // A new message with the EMAILID of a tombstone (moved here from a folder synced
    // earlier in this pass) takes over the tombstone's row and content.
    let takeovers = super::objectid::tombstones_for(conn, account, &pairs(&fresh)).await?;
    if !takeovers.is_empty() {
        let done = super::objectid::take_over(conn, folder, &takeovers).await?;
        fresh.retain(|(m, _, _)| !done.uids.contains(&m.uid));
    }
    insert_fresh(conn, folder, &fresh, &mut prepared, indexing).await?;
    super::objectid::share_content(conn, folder, &pairs(&fresh)).await?;
    upsert::upsert_json(conn, folder, &again).await?;
    upsert::update_flags_only(conn, folder, &flags_only).await?;
    Ok(messages.len() as u64)
}

/// The `(message, thread)` pairs of fresh rows.
fn pairs<'m>(fresh: &[(&'m NewMessage, i64, usize)]) -> Vec<(&'m NewMessage, i64)> {
    fresh.iter().map(|(m, thread, _)| (*m, *thread)).collect()
}

/// Which of the batch's UIDs the folder already holds, ascending, each with whether its row
/// is complete.
async fn stored_uids(
    conn: &mut SqliteConnection,
    folder: FolderId,
    messages: &[NewMessage],
) -> Result<Vec<(u32, bool)>> {
    let (lo, hi) = messages
        .iter()
        .fold((u32::MAX, 0), |(lo, hi), m| (lo.min(m.uid), hi.max(m.uid)));
    let rows: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT uid, summary_state = 'complete' FROM messages
         WHERE folder_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
    )
    .bind(folder.0)
    .bind(i64::from(lo))
    .bind(i64::from(hi))
    .fetch_all(&mut *conn)
    .await
    .map_err(sql("look up stored UIDs"))?;
    rows.into_iter()
        .map(|(uid, complete)| {
            u32::try_from(uid)
                .map(|uid| (uid, complete))
                .map_err(|_| invalid("stored UID out of range"))
        })
        .collect()
}

/// Rows per multi-row statement at most (messages: 26 parameters a row, under
/// SQLite's 32766). Batches are split into power-of-two chunks, so a handful of statement
/// texts is all the connection ever prepares.
const CHUNK: usize = 128;

/// Sizes of the chunks a batch of `n` rows is sent in: full chunks, then powers of two.
fn chunks(n: usize) -> impl Iterator<Item = usize> {
    pow2_chunks(n, CHUNK)
}

/// Sizes of the chunks a batch of `n` rows is sent in, at most `max` (a power of two) each:
/// full chunks, then powers of two, so that a handful of statement texts is all the
/// connection ever prepares for a kind of statement.
pub(super) fn pow2_chunks(n: usize, max: usize) -> impl Iterator<Item = usize> {
    let full = n / max;
    let rest = n % max;
    std::iter::repeat_n(max, full).chain(
        (0..usize::BITS)
            .rev()
            .map(|bit| 1usize << bit)
            .filter(move |size| rest & size != 0),
    )
}

/// `head VALUES row, row, … tail` for `rows` copies of `row`.
pub(super) fn values_sql(head: &str, row: &str, rows: usize, tail: &str) -> String {
    let mut text = String::with_capacity(head.len() + tail.len() + rows * (row.len() + 1) + 8);
    text.push_str(head);
    text.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            text.push(',');
        }
        text.push_str(row);
    }
    text.push_str(tail);
    text
}

/// The first id a new message may take: what AUTOINCREMENT would hand out next (past the
/// largest id ever used, so a removed message's id is never reused).
const NEXT_MESSAGE_ID: &str = "
    SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
               coalesce((SELECT max(id) FROM messages), 0)) + 1";

/// Adds a window's new rows to its folder's counts.
const COUNT_FRESH: &str =
    "UPDATE folder_counts SET total = total + ?2, unread = unread + ?3 WHERE folder_id = ?1";

const INSERT_MESSAGES_HEAD: &str = "INSERT INTO messages (id, folder_id, uid, modseq, flags, \
    keywords, internal_date, date, size, subject, from_addrs, sender_addrs, reply_to_addrs, \
    to_addrs, cc_addrs, bcc_addrs, header_message_id, header_in_reply_to, header_references, \
    preview, has_attachments, thread_id, summary_state, email_id, server_thread, parts)";
const INSERT_MESSAGES_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// Inserts messages whose UIDs the folder does not hold yet (all distinct), with their parts,
/// and their search index rows.
async fn insert_fresh(
    conn: &mut SqliteConnection,
    folder: FolderId,
    fresh: &[(&NewMessage, i64, usize)],
    prepared: &mut Prepared,
    indexing: Indexing,
) -> Result<()> {
    if fresh.is_empty() {
        return Ok(());
    }
    // The column texts move into the statements' arguments (owned, they are not copied
    // again on their way to SQLite's thread); the search text stays for the search rows.
    let mut encoded: Vec<Encoded> = Vec::with_capacity(fresh.len());
    for (_, _, at) in fresh {
        let enc = prepared
            .encoded
            .get_mut(*at)
            .ok_or_else(|| invalid("a prepared batch shorter than its messages"))?;
        encoded.push(std::mem::take(enc));
    }
    // The ids are given, not returned: AUTOINCREMENT's next value, then one up per row (the
    // single writer holds the transaction). A RETURNING row would be one more hand-over
    // between sqlx's SQLite thread and this task; a lookup by UID, one more index search.
    let first_id: i64 = sqlx::query_scalar(NEXT_MESSAGE_ID)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("allocate message ids"))?;
    let id_at = |i: usize| first_id + i as i64;
    let mut at = 0;
    for size in chunks(fresh.len()) {
        let text = values_sql(INSERT_MESSAGES_HEAD, INSERT_MESSAGES_ROW, size, "");
        let mut query = sqlx::query(&text);
        for (i, ((message, thread_id, _), enc)) in fresh[at..at + size]
            .iter()
            .zip(&mut encoded[at..])
            .enumerate()
        {
            query = query
                .bind(id_at(at + i))
                .bind(folder.0)
                .bind(i64::from(message.uid))
                .bind(int_u64(message.modseq, "MODSEQ")?)
                .bind(i64::from(message.flags.system.bits()))
                .bind(std::mem::take(&mut enc.keywords))
                .bind(message.internal_date)
                .bind(message.date)
                .bind(i64::from(message.size))
                .bind(message.subject.as_str());
            for list in &mut enc.addresses {
                query = query.bind(std::mem::take(list));
            }
            query = query
                .bind(message.message_id.as_deref())
                .bind(message.in_reply_to.as_deref())
                .bind(std::mem::take(&mut enc.references))
                .bind(message.preview.as_deref())
                .bind(i64::from(message.parts.iter().any(|p| p.is_attachment)))
                .bind(*thread_id)
                .bind(summary_state(message))
                .bind(message.email_id.as_deref())
                .bind(message.server_thread.as_deref())
                .bind(std::mem::take(&mut enc.parts));
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(sql("store messages"))?;
        at += size;
    }

    // The folder's counts (migration 0017: no per-row insert trigger): every fresh row is
    // live (`tombstone` 0), and unread without \Seen.
    let unread = fresh
        .iter()
        .filter(|(m, _, _)| !m.flags.system.contains(SystemFlags::SEEN))
        .count();
    sqlx::query(COUNT_FRESH)
        .bind(folder.0)
        .bind(fresh.len() as i64)
        .bind(unread as i64)
        .execute(&mut *conn)
        .await
        .map_err(sql("count new messages"))?;

    // The search rows go last (see `search::insert_rows`), or the rows that make the
    // messages wait for the index pass (migration 0021).
    if indexing == Indexing::Later {
        let rows: Vec<(i64, Option<&str>)> = encoded
            .iter()
            .enumerate()
            .map(|(i, enc)| (id_at(i), enc.search.as_deref()))
            .collect();
        return search::insert_waiting(conn, &rows).await;
    }
    let rows: Vec<search::Row<'_>> = fresh
        .iter()
        .zip(&encoded)
        .enumerate()
        .map(|(i, ((message, _, _), enc))| search::Row {
            id: id_at(i),
            subject: &message.subject,
            addresses: enc.search.as_deref(),
            preview: message.preview.as_deref().unwrap_or_default(),
        })
        .collect();
    search::insert_rows(conn, &rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_batch_in_few_sizes() {
        for n in [0, 1, 2, 3, 63, 64, 65, 200, 1000, 1001] {
            let sizes: Vec<usize> = chunks(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n, "{n}");
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= CHUNK));
        }
    }
}
