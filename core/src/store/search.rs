//! Full-text search over subjects, addresses (names and emails) and previews, with SQLite
//! FTS5. The index (`message_search`) is contentless. New messages are indexed by the one
//! write path that inserts them (`messages::write_messages`); updates and deletes (including
//! cascades) are kept in step by triggers on `messages`. This module only reads it. User
//! input never reaches FTS5 syntax: each word becomes a quoted prefix term.

use super::{AccountId, MessageSummary, Store, query::summary_from_row, sql};
use crate::Result;

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
