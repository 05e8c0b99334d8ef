//! Search for a common word: the account's folders read newest first (tenth session).
//!
//! The usual plan ([`super::SEARCH`]) learns every match's date with one seek in
//! `messages_by_id_date`: at 100,000 messages a word such as "thanks" matches 29,893 of them,
//! and those seeks were about 6.5 of the search's 12 ms, its p99 past the 20 ms target on a
//! slow day. A common word needs no such lookup, since its newest matches are among each
//! folder's newest messages. Here the matches' ids are read once (one text of ids), the
//! account's small folders whole in one statement, and each large folder newest first along
//! `messages_by_date`, a page at a time, until it has given `limit` matches or ends; all
//! from the index alone (tombstones, few, are read apart). The newest `limit` of those, in
//! the order of [`super::SEARCH`] (date, then id, both descending), are the answer: a
//! superset of every folder's newest `limit` matches holds the account's newest `limit`.
//!
//! The walk gives up, and the usual plan runs, when the word is not common, when more than
//! [`WALK_LIMIT_MAX`] results are wanted, or when it would read more than [`WALK_ROWS_MAX`]
//! rows (a word common in one folder and absent from a large other one).

use sqlx::SqliteConnection;

use super::super::{AccountId, MessageId, codec::batch_json, sql};
use crate::Result;

/// Matches from which the walk is tried. Small in unit tests (as the other thresholds), so
/// that their small folders take every path.
#[cfg(not(test))]
const COMMON_MATCHES: usize = 4_096;
#[cfg(test)]
const COMMON_MATCHES: usize = 4;

/// Results at most for a walk.
const WALK_LIMIT_MAX: u32 = 500;

/// Rows a walk reads at most, small folders and pages together, before it gives up.
#[cfg(not(test))]
const WALK_ROWS_MAX: i64 = 16_384;
#[cfg(test)]
const WALK_ROWS_MAX: i64 = 160;

/// Folders of at most this many messages are read whole, all in one statement.
#[cfg(not(test))]
const SMALL_FOLDER: i64 = 512;
#[cfg(test)]
const SMALL_FOLDER: i64 = 40;

/// Rows read from a large folder per statement.
#[cfg(not(test))]
const PAGE: i64 = 256;
#[cfg(test)]
const PAGE: i64 = 7;

/// The ids of the newest `limit` matches of `expression` in the account, newest first; `None`
/// where the usual plan should run instead.
pub(super) async fn newest_matches(
    conn: &mut SqliteConnection,
    account: AccountId,
    expression: &str,
    limit: u32,
) -> Result<Option<Vec<MessageId>>> {
    if limit == 0 || limit > WALK_LIMIT_MAX {
        return Ok(None);
    }
    let text: Option<String> = sqlx::query_scalar(
        "SELECT group_concat(rowid) FROM message_search WHERE message_search MATCH ?1",
    )
    .bind(expression)
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("read search matches"))?;
    let hits = ids(text.as_deref());
    if hits.len() < COMMON_MATCHES {
        return Ok(None);
    }
    let folders: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT f.id, coalesce(c.total, 0) FROM folders AS f
           LEFT JOIN folder_counts AS c ON c.folder_id = f.id
          WHERE f.account_id = ?1",
    )
    .bind(account.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql("list the account's folders"))?;
    // (folder id, messages) each.
    type Folders = Vec<(i64, i64)>;
    let (small, large): (Folders, Folders) = folders
        .into_iter()
        .partition(|&(_, total)| total <= SMALL_FOLDER);
    let mut budget = WALK_ROWS_MAX - small.iter().map(|&(_, total)| total).sum::<i64>();
    if budget < 0 {
        return Ok(None);
    }
    let tombstones: Option<String> = sqlx::query_scalar(
        "SELECT group_concat(id) FROM messages
          WHERE tombstone > 0 AND folder_id IN (SELECT id FROM folders WHERE account_id = ?1)",
    )
    .bind(account.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("read the account's tombstones"))?;
    let tombstones = ids(tombstones.as_deref());
    let wanted = limit as usize;
    let is_match =
        |id: i64| hits.binary_search(&id).is_ok() && tombstones.binary_search(&id).is_err();

    // (date, id) of matches: all of the small folders', every large folder's newest.
    let mut found: Vec<(i64, i64)> = Vec::new();
    if !small.is_empty() {
        let ids: Vec<i64> = small.iter().map(|&(id, _)| id).collect();
        let list = batch_json(&ids, "folder ids")?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, internal_date FROM messages INDEXED BY messages_by_date
              WHERE folder_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read small folders"))?;
        found.extend(
            rows.into_iter()
                .filter(|&(id, _)| is_match(id))
                .map(|(id, date)| (date, id)),
        );
    }
    for (folder, _) in large {
        let mut in_folder = 0usize;
        let mut after: Option<(i64, i64)> = None;
        loop {
            if budget <= 0 {
                return Ok(None);
            }
            let rows = folder_page(conn, folder, after).await?;
            budget -= rows.len() as i64;
            for &(id, date) in &rows {
                if in_folder < wanted && is_match(id) {
                    found.push((date, id));
                    in_folder += 1;
                }
            }
            if in_folder >= wanted || (rows.len() as i64) < PAGE {
                break;
            }
            after = rows.last().map(|&(id, date)| (date, id));
        }
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.truncate(wanted);
    Ok(Some(
        found.into_iter().map(|(_, id)| MessageId(id)).collect(),
    ))
}

/// `1,5,9` (a `group_concat` of ids), sorted.
fn ids(text: Option<&str>) -> Vec<i64> {
    let mut ids: Vec<i64> = text
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// A folder's next `PAGE` messages (tombstones too), newest first (date, then id, both
/// descending), after `(date, id)` when given: `(id, date)` each, from the index alone.
async fn folder_page(
    conn: &mut SqliteConnection,
    folder: i64,
    after: Option<(i64, i64)>,
) -> Result<Vec<(i64, i64)>> {
    let query = match after {
        None => sqlx::query_as(
            "SELECT id, internal_date FROM messages INDEXED BY messages_by_date
              WHERE folder_id = ?1
              ORDER BY internal_date DESC, id DESC LIMIT ?2",
        )
        .bind(folder)
        .bind(PAGE),
        Some((date, id)) => sqlx::query_as(
            "SELECT id, internal_date FROM messages INDEXED BY messages_by_date
              WHERE folder_id = ?1 AND internal_date <= ?3 AND (internal_date < ?3 OR id < ?4)
              ORDER BY internal_date DESC, id DESC LIMIT ?2",
        )
        .bind(folder)
        .bind(PAGE)
        .bind(date)
        .bind(id),
    };
    query
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read a folder newest first"))
}
