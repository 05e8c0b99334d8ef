//! Full-text search over subjects, addresses (names and emails) and previews, with SQLite
//! FTS5. The index (`message_search`) is contentless. New messages enter it either in the
//! transaction that stores them (`messages::write_messages`) or, for the windows of a header
//! sync, later (migration 0021): they wait in `search_waiting`, with their address text, for
//! the index pass here ([`Store::index_pending`]), which moves them into the index in large
//! batches. Updates and deletes (including cascades) are kept in step by triggers on
//! `messages`, for indexed and waiting messages alike. A search first runs the pass when
//! anything waits. User input never reaches FTS5 syntax: each word becomes a quoted prefix
//! term.

use sqlx::SqliteConnection;

use super::{
    AccountId, MessageSummary, Store, content::write_err, messages::values_sql,
    query::summary_from_row, sql,
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
/// later, a merge.
pub(super) async fn insert_rows(conn: &mut SqliteConnection, rows: &[Row<'_>]) -> Result<()> {
    for block in rows.chunks(ROWS_PER_STATEMENT) {
        let text = values_sql(INSERT_HEAD, "(?,?,?,?)", block.len(), "");
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

const WAITING_HEAD: &str = "INSERT INTO search_waiting (id, addresses)";
/// Waiting rows per statement at most (2 parameters each).
const WAITING_PER_STATEMENT: usize = 4096;

/// Records messages as waiting for the index pass, each with its address text (as
/// [`Row::addresses`]).
pub(super) async fn insert_waiting(
    conn: &mut SqliteConnection,
    rows: &[(i64, Option<&str>)],
) -> Result<()> {
    for block in rows.chunks(WAITING_PER_STATEMENT) {
        let text = values_sql(WAITING_HEAD, "(?,?)", block.len(), "");
        let mut query = sqlx::query(&text);
        for (id, addresses) in block {
            query = query.bind(*id).bind(*addresses);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(write_err("record messages waiting for the search index"))?;
    }
    Ok(())
}

/// Messages the index pass takes per transaction: a window commit of a sync running beside
/// it waits at most for one batch, and FTS5 writes a few large segments instead of one per
/// window.
const PASS_BATCH: i64 = 2048;

/// The id of the last message of the next batch of waiting ones, and how many it holds.
const NEXT_BATCH: &str = "
    SELECT max(id), count(*) FROM (SELECT id FROM search_waiting ORDER BY id LIMIT ?1)";

/// Indexes the waiting messages up to id `?1`, with their text as it is now. `CROSS JOIN`
/// keeps the waiting rows the outer loop: as a plain join SQLite walked `messages` from its
/// first id up to `?1` (the constraint carried over to `m.id`), every message ever stored
/// for every batch, and the pass grew with the square of the mailbox (1.6 s at 100,000).
pub(super) const INDEX_WAITING: &str = "
    INSERT INTO message_search (rowid, subject, addresses, preview)
    SELECT m.id, m.subject, w.addresses, coalesce(m.preview, '')
      FROM search_waiting AS w
     CROSS JOIN messages AS m ON m.id = w.id
     WHERE w.id <= ?1";

impl Store {
    /// Brings the search index up to date: every message waiting for it is indexed, in
    /// batches of [`PASS_BATCH`], each in its own transaction of two statements (a crash
    /// keeps what was committed; the next pass goes on from there). Returns how many were
    /// indexed. The engine runs it after a sync pass; [`Store::search`] runs it first. When
    /// nothing waits it only reads (the writer is not taken). A full disk is `DiskFull`, with
    /// the batch rolled back.
    pub async fn index_pending(&self) -> Result<u64> {
        if !self.index_waits().await? {
            return Ok(0);
        }
        let mut total = 0;
        loop {
            let mut tx = self.write().await?;
            let (last, count): (Option<i64>, i64) = sqlx::query_as(NEXT_BATCH)
                .bind(PASS_BATCH)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql("read the messages waiting for the search index"))?;
            let Some(last) = last else {
                return Ok(total);
            };
            sqlx::query(INDEX_WAITING)
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(write_err("index messages for search"))?;
            sqlx::query("DELETE FROM search_waiting WHERE id <= ?1")
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(write_err("index messages for search"))?;
            tx.commit()
                .await
                .map_err(write_err("commit a batch of the search index"))?;
            total += count as u64;
            if count < PASS_BATCH {
                return Ok(total);
            }
        }
    }

    /// Whether any message waits for the search index.
    async fn index_waits(&self) -> Result<bool> {
        let mut conn = self.read().await?;
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM search_waiting)")
            .fetch_one(&mut *conn)
            .await
            .map_err(sql("check for messages waiting for the search index"))
    }
}

/// Matching messages of one account, newest first. The newest `limit` are chosen on
/// `messages_by_id_date` alone (migration 0016): a common word matches a large share of the
/// mailbox, and ordering every match's whole row cost tens of milliseconds at 100,000
/// messages; only the rows chosen are read whole. The account is checked against the list
/// of its folder ids, built once, rather than by a join to `folders` for every match (at
/// 100,000 messages and 29,893 matches, timed by hand on the store `store_queries` fills:
/// 9.8 ms instead of 10.6 ms, of which the FTS lookup 2 ms and the 29,893 seeks in
/// `messages_by_id_date` about 6.5 ms; tenth session).
pub(super) const SEARCH: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM messages AS m WHERE m.id IN (
        SELECT h.id FROM message_search AS s
        JOIN messages AS h INDEXED BY messages_by_id_date ON h.id = s.rowid
        WHERE message_search MATCH ?1 AND h.tombstone = 0
          AND h.folder_id IN (SELECT id FROM folders WHERE account_id = ?2)
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
        // the search sees every stored message. Usually none wait (the engine's pass runs
        // after each sync), and then the search does not touch the writer.
        self.index_pending().await?;
        let mut conn = self.read().await?;
        if let Some(ids) = walk::newest_matches(&mut conn, account, &expression, limit).await? {
            drop(conn);
            return self.summaries_of(&ids).await;
        }
        let rows = by_matches(&mut conn, account, &expression, limit).await?;
        rows.iter().map(summary_from_row).collect()
    }
}

/// The plan for most words: every match's date from `messages_by_id_date`, the newest kept.
pub(super) async fn by_matches(
    conn: &mut SqliteConnection,
    account: AccountId,
    expression: &str,
    limit: u32,
) -> Result<Vec<sqlx::sqlite::SqliteRow>> {
    sqlx::query(SEARCH)
        .bind(expression)
        .bind(account.0)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("search messages"))
}

#[path = "search_walk.rs"]
mod walk;

/// Turns user input into an FTS5 expression of quoted prefix terms, all required.
fn match_expression(query: &str) -> Option<String> {
    let terms: Vec<String> = query
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
