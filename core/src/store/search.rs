//! Full-text search over subjects, addresses (names and emails) and previews, with SQLite
//! FTS5. The index (`message_search`) is contentless. New messages enter it either in the
//! transaction that stores them (`messages::write_messages`, when the index is current) or
//! later, by the index pass here ([`Store::index_pending`]), which takes the messages
//! waiting for it in id order and in large batches (migration 0021: the windows of a header
//! sync wait for it). Updates and deletes (including cascades) of indexed messages are kept
//! in step by triggers on `messages`. A search first brings the index up to date. User input
//! never reaches FTS5 syntax: each word becomes a quoted prefix term.

use sqlx::SqliteConnection;

use super::{
    AccountId, MessageSummary, Store, codec::col_addresses, content::write_err,
    messages::search_addresses, query::summary_from_row, sql,
};
use crate::Result;

/// One message's search row.
pub(super) struct Row<'a> {
    pub id: i64,
    pub subject: &'a str,
    /// Each address as `concat_ws(' ', name, email)`, joined by spaces; `None` for none.
    pub addresses: Option<&'a str>,
    pub preview: &'a str,
}

const INSERT_HEAD: &str = "INSERT INTO message_search (rowid, subject, addresses, preview)";
/// Search rows per statement at most (4 parameters each, well under SQLite's 32766).
const ROWS_PER_STATEMENT: usize = 4096;

/// Writes search rows, in as few statements as the parameter limit allows: FTS5 flushes what
/// it holds in memory to a new segment whenever a later statement of the transaction opens a
/// savepoint, so every statement after one into `message_search` would cost a segment and,
/// later, a merge. The caller moves `search_progress` past them.
pub(super) async fn insert_rows(conn: &mut SqliteConnection, rows: &[Row<'_>]) -> Result<()> {
    for block in rows.chunks(ROWS_PER_STATEMENT) {
        let mut text = String::with_capacity(INSERT_HEAD.len() + block.len() * 10 + 8);
        text.push_str(INSERT_HEAD);
        text.push_str(" VALUES ");
        for i in 0..block.len() {
            text.push_str(if i == 0 { "(?,?,?,?)" } else { ",(?,?,?,?)" });
        }
        let mut query = sqlx::query(&text);
        for row in block {
            query = query
                .bind(row.id)
                .bind(row.subject)
                .bind(row.addresses)
                .bind(row.preview);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(write_err("index messages for search"))?;
    }
    Ok(())
}

/// Records that the index covers every message up to `id`.
pub(super) async fn set_indexed_to(conn: &mut SqliteConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE search_progress SET indexed_to = ?1 WHERE id = 1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(sql("record the search index's progress"))?;
    Ok(())
}

/// Whether the index covers every message with an id below `id`.
pub(super) async fn is_current_below(conn: &mut SqliteConnection, id: i64) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT NOT EXISTS (SELECT 1 FROM messages
                             WHERE id > (SELECT indexed_to FROM search_progress) AND id < ?1)",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("check the search index's progress"))
}

/// Messages the index pass takes per transaction: about 15 ms of the writer each, so a window
/// commit of a sync running beside it waits at most that long, and FTS5 writes a few large
/// segments instead of one per window.
const PASS_BATCH: i64 = 2048;

/// The messages waiting for the index, oldest id first, at most `?1`.
const WAITING: &str = "
    SELECT id, subject, from_addrs, sender_addrs, reply_to_addrs, to_addrs, cc_addrs, bcc_addrs,
           coalesce(preview, '') AS preview
      FROM messages
     WHERE id > (SELECT indexed_to FROM search_progress)
     ORDER BY id
     LIMIT ?1";

impl Store {
    /// Brings the search index up to date: every stored message not indexed yet is indexed,
    /// in batches of [`PASS_BATCH`], each in its own transaction (a crash keeps what was
    /// committed; the next pass goes on from there). Returns how many were indexed. The
    /// engine runs it after a sync pass; [`Store::search`] runs it first. A full disk is
    /// `DiskFull`, with the batch rolled back.
    pub async fn index_pending(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let mut tx = self.write().await?;
            let waiting = sqlx::query(WAITING)
                .bind(PASS_BATCH)
                .fetch_all(&mut *tx)
                .await
                .map_err(sql("read the messages waiting for the search index"))?;
            let Some(last) = waiting.last() else {
                return Ok(total);
            };
            let last: i64 = super::codec::col(last, "id")?;
            let mut texts = Vec::with_capacity(waiting.len());
            for row in &waiting {
                let lists = [
                    col_addresses(row, "from_addrs")?,
                    col_addresses(row, "sender_addrs")?,
                    col_addresses(row, "reply_to_addrs")?,
                    col_addresses(row, "to_addrs")?,
                    col_addresses(row, "cc_addrs")?,
                    col_addresses(row, "bcc_addrs")?,
                ];
                let [a, b, c, d, e, f] = &lists;
                texts.push(search_addresses([a, b, c, d, e, f]));
            }
            let rows = waiting
                .iter()
                .zip(&texts)
                .map(|(row, addresses)| {
                    Ok(Row {
                        id: super::codec::col(row, "id")?,
                        subject: super::codec::col(row, "subject")?,
                        addresses: addresses.as_deref(),
                        preview: super::codec::col(row, "preview")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            insert_rows(&mut tx, &rows).await?;
            set_indexed_to(&mut tx, last).await?;
            tx.commit()
                .await
                .map_err(write_err("commit a batch of the search index"))?;
            total += rows.len() as u64;
            if (rows.len() as i64) < PASS_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Matching messages of one account, newest first. The newest `limit` are chosen on
/// `messages_by_id_date` alone (migration 0016): a common word matches a large share of the
/// mailbox, and ordering every match's whole row cost tens of milliseconds at 100,000
/// messages; only the rows chosen are read whole.
pub(super) const SEARCH: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM messages AS m WHERE m.id IN (
        SELECT h.id FROM message_search AS s
        JOIN messages AS h INDEXED BY messages_by_id_date ON h.id = s.rowid
        JOIN folders AS f ON f.id = h.folder_id
        WHERE message_search MATCH ?1 AND f.account_id = ?2 AND h.tombstone = 0
        ORDER BY h.internal_date DESC, h.id DESC
        LIMIT ?3)
      ORDER BY m.internal_date DESC, m.id DESC"
);

impl Store {
    /// Messages of the account whose subject, addresses or preview contain every word of
    /// `query` (each word also matches as a prefix: "inv" finds "invoice"), newest first.
    /// An address such as "bob@example.com" matches as a phrase. An empty query finds nothing.
    pub async fn search(
        &self,
        account: AccountId,
        query: &str,
        limit: u32,
    ) -> Result<Vec<MessageSummary>> {
        let Some(expression) = match_expression(query) else {
            return Ok(Vec::new());
        };
        // Messages a header sync stored without their search rows are indexed first, so
        // the search sees every stored message (usually none wait: the engine's pass runs
        // after each sync).
        self.index_pending().await?;
        let mut conn = self.read().await?;
        let rows = sqlx::query(SEARCH)
            .bind(expression)
            .bind(account.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("search messages"))?;
        rows.iter().map(summary_from_row).collect()
    }
}

/// Turns user input into an FTS5 expression of quoted prefix terms, all required.
fn match_expression(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}
