//! Conversation threading from Message-ID, In-Reply-To and References, per account.
//!
//! Every Message-ID an account has seen, as a message's own id or referenced by one, is linked
//! to a thread in `thread_keys`, by a 64-bit key ([`link_key`]: the first eight bytes of its
//! SHA-256; migration 0018). Message-IDs are random, so every window's links land all over
//! that table: as 8-byte integers instead of 40-byte texts it has a third of the pages to
//! touch and write. Two ids with the same key would join their conversations; at a million
//! ids the chance of any such pair is about 3 in 100 million. A new message joins the thread
//! of any id it carries or references; when its ids point into several threads they merge
//! (into the oldest one).
//! Handled: replies arriving after their parent, a child arriving before its parent (the
//! parent's id is already linked through the child's references), a parent arriving between
//! two children that did not know each other (merge), copies of one message in several folders
//! (same thread), and messages linked only through a missing middle message (References lists
//! the whole chain). Not handled: subject-based grouping of messages without any references,
//! and splitting a thread again when a message that joined two threads is removed.
//! Links disappear with the last message of their thread (a trigger in the schema).
//!
//! Where the server gives a THREADID (RFC 8474 OBJECTID), the server's conversation is used
//! instead: the message is linked by its THREADID (a key of its own in `thread_keys`) and
//! its own Message-ID only, never by what it references.

use std::collections::BTreeMap;

use sqlx::SqliteConnection;

use super::{
    AccountId, MessageId, MessageSummary, Store,
    messages::{NewMessage, pow2_chunks, values_sql},
    query::summary_from_row,
    sql,
};
use crate::Result;

impl Store {
    /// The conversation the message belongs to, oldest first (by INTERNALDATE), across the
    /// account's folders. Empty if the message does not exist. A message stored in two
    /// folders appears twice.
    pub async fn thread(&self, message: MessageId) -> Result<Vec<MessageSummary>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(THREAD)
            .bind(message.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("read a conversation"))?;
        rows.iter().map(summary_from_row).collect()
    }
}

/// A conversation, oldest first, along `messages_by_thread`.
pub(super) const THREAD: &str = concat!(
    "SELECT ",
    summary_columns!(),
    " FROM messages AS m
      WHERE m.thread_id = (SELECT thread_id FROM messages WHERE id = ?1 AND tombstone = 0)
        AND m.tombstone = 0
      ORDER BY m.internal_date, m.id"
);

/// Keys per lookup or insert statement at most (a power of two; 3 parameters a row).
const KEYS_PER_STATEMENT: usize = 512;

/// The stored links of `size` Message-ID keys: the account, then the keys, as parameters
/// (bound, not a JSON list to unpack: JSON cost about 2% of a header sync's instructions).
pub(super) fn lookup_links(size: usize) -> String {
    let mut text = String::with_capacity(96 + 2 * size);
    text.push_str("SELECT key, thread_id FROM thread_keys WHERE account_id = ? AND key IN (");
    for i in 0..size {
        text.push_str(if i == 0 { "?" } else { ",?" });
    }
    text.push(')');
    text
}

/// The stored links of `keys` (sorted, distinct), in chunks.
async fn stored_links(
    conn: &mut SqliteConnection,
    account: AccountId,
    keys: &[i64],
) -> Result<Vec<(i64, i64)>> {
    let mut known = Vec::new();
    let mut at = 0;
    for size in pow2_chunks(keys.len(), KEYS_PER_STATEMENT) {
        let text = lookup_links(size);
        let mut query = sqlx::query_as::<_, (i64, i64)>(&text).bind(account.0);
        for key in &keys[at..at + size] {
            query = query.bind(*key);
        }
        known.extend(
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(sql("look up Message-IDs"))?,
        );
        at += size;
    }
    Ok(known)
}

/// The key of a normalised Message-ID (or THREADID key) in `thread_keys`: the first eight
/// bytes of its SHA-256, as a signed integer. Stored: never change it without a migration.
pub(super) fn link_key(id: &str) -> i64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_le_bytes(first)
}

/// `<abc@example.com>` and ` abc@example.com ` are the same id. One that starts like a
/// THREADID key ([`thread_key`]) is not an id.
fn normalize(raw: &str) -> Option<&str> {
    let id = raw.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id).trim();
    (!id.is_empty() && !id.starts_with('\u{1}')).then_some(id)
}

/// [`ids_of`] for each message of a batch.
pub(super) fn keys_of(messages: &[NewMessage]) -> Vec<Vec<i64>> {
    messages.iter().map(ids_of).collect()
}

/// The ids one message carries: with a server THREADID, that thread's key and the
/// message's own id (the server decides the conversation); else its own id first, then what
/// it references.
fn ids_of(message: &NewMessage) -> Vec<i64> {
    match &message.server_thread {
        Some(thread) => std::iter::once(link_key(&thread_key(thread)))
            .chain(
                message
                    .message_id
                    .iter()
                    .filter_map(|raw| normalize(raw))
                    .map(link_key),
            )
            .collect(),
        None => {
            // A reply's In-Reply-To is nearly always among its References: each id is
            // hashed once (the keys are a set; the message's own id stays first).
            let mut seen: Vec<&str> = Vec::new();
            message
                .message_id
                .iter()
                .chain(&message.in_reply_to)
                .chain(&message.references)
                .filter_map(|raw| normalize(raw))
                .filter(|id| {
                    let fresh = !seen.contains(id);
                    if fresh {
                        seen.push(id);
                    }
                    fresh
                })
                .map(link_key)
                .collect()
        }
    }
}

/// The link key of a server THREADID: a control character first, which no normalised
/// Message-ID the envelope parser keeps starts with, so the two never meet.
fn thread_key(thread: &str) -> String {
    format!("\u{1}T{thread}")
}

/// Union-find over thread ids; the smaller (older) id wins a merge.
#[derive(Default)]
struct Merges(BTreeMap<i64, i64>);

impl Merges {
    fn find(&mut self, thread: i64) -> i64 {
        let mut root = thread;
        while let Some(&parent) = self.0.get(&root) {
            root = parent;
        }
        if root != thread {
            self.0.insert(thread, root);
        }
        root
    }

    fn union(&mut self, a: i64, b: i64) -> i64 {
        let (a, b) = (self.find(a), self.find(b));
        let (keep, gone) = if a <= b { (a, b) } else { (b, a) };
        if keep != gone {
            self.0.insert(gone, keep);
        }
        keep
    }
}

/// Assigns a thread id to each message of a window (same order), merging threads in the
/// database where the window links them, and records the window's Message-ID links.
/// `keys` are the messages' link keys ([`keys_of`]). Runs inside the caller's write
/// transaction.
pub(super) async fn assign(
    conn: &mut SqliteConnection,
    account: AccountId,
    keys: &[Vec<i64>],
) -> Result<Vec<i64>> {
    let mut wanted: Vec<i64> = keys.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let known = stored_links(conn, account, &wanted).await?;
    let mut links: BTreeMap<i64, i64> = BTreeMap::new();
    let mut stored_threads: Vec<i64> = Vec::new();
    for &(key, thread) in &known {
        links.insert(key, thread);
        stored_threads.push(thread);
    }
    let stored_links: Vec<i64> = links.keys().copied().collect();

    let mut next: i64 = sqlx::query_scalar(
        "SELECT max(coalesce((SELECT max(thread_id) FROM messages), 0),
                    coalesce((SELECT max(thread_id) FROM thread_keys), 0)) + 1",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("allocate a thread id"))?;

    let mut merges = Merges::default();
    let mut assigned = Vec::with_capacity(keys.len());
    for ids in keys {
        let mut thread = None;
        for id in ids {
            if let Some(&linked) = links.get(id) {
                thread = Some(match thread {
                    None => merges.find(linked),
                    Some(current) => merges.union(current, linked),
                });
            }
        }
        let thread = thread.unwrap_or_else(|| {
            let fresh = next;
            next += 1;
            fresh
        });
        for &id in ids {
            links.entry(id).or_insert(thread);
        }
        assigned.push(thread);
    }

    // Merge stored threads the window linked together.
    stored_threads.sort_unstable();
    stored_threads.dedup();
    for gone in stored_threads {
        let keep = merges.find(gone);
        if keep == gone {
            continue;
        }
        for table in [MERGE_MESSAGES, MERGE_LINKS] {
            sqlx::query(table)
                .bind(keep)
                .bind(gone)
                .execute(&mut *conn)
                .await
                .map_err(sql("merge conversations"))?;
        }
    }

    // Link the ids seen for the first time.
    let mut new_links: Vec<(i64, i64)> = Vec::new();
    for (key, thread) in &links {
        if stored_links.binary_search(key).is_err() {
            new_links.push((*key, merges.find(*thread)));
        }
    }
    let mut at = 0;
    for size in pow2_chunks(new_links.len(), KEYS_PER_STATEMENT) {
        let text = values_sql(
            "INSERT INTO thread_keys (account_id, key, thread_id)",
            "(?,?,?)",
            size,
            " ON CONFLICT (account_id, key) DO UPDATE SET thread_id = excluded.thread_id",
        );
        let mut query = sqlx::query(&text);
        for (key, thread) in &new_links[at..at + size] {
            query = query.bind(account.0).bind(*key).bind(*thread);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(sql("link Message-IDs to conversations"))?;
        at += size;
    }

    Ok(assigned
        .into_iter()
        .map(|thread| merges.find(thread))
        .collect())
}

const MERGE_MESSAGES: &str = "UPDATE messages SET thread_id = ?1 WHERE thread_id = ?2";
const MERGE_LINKS: &str = "UPDATE thread_keys SET thread_id = ?1 WHERE thread_id = ?2";
