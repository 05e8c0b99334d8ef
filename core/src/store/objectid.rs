//! OBJECTID (RFC 8474) in the store: a message that reappears under another folder or UID
//! with an EMAILID the account already has takes over the stored row (its id, so its
//! envelope, parts, body, snippet and downloads stay valid), instead of a new row that would
//! fetch all of it again.
//!
//! - A row whose UID the server expunged while it had an EMAILID becomes a *tombstone*
//!   (`messages.tombstone`, migration 0013) instead of being deleted: its folder may have
//!   been synced before the folder the message moved to (in this account pass, or by push
//!   before it). A tombstone is invisible to every query an app makes; it is taken over
//!   where its EMAILID reappears, or removed by [`Store::purge_tombstones`] when the first
//!   account pass that began after it ends: every folder of a pass had its chance.
//! - A live row may be taken over by new mail in another folder (the move was seen at its
//!   target first). Its old place is then listed in `objectid_checks`, so that the source
//!   folder's next sync asks the server whether the UID is still there: if it is, it was a
//!   copy, and the UID is fetched again (a new row).
//!
//! Only `sync` decides what to take over; everything here runs in the caller's transaction
//! or is one of its own.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{batch_json, int_u64},
    invalid,
    messages::{Flags, NewMessage},
    sql,
};
use crate::Result;

/// A stored row that carries an EMAILID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOwner {
    pub email_id: String,
    pub message: MessageId,
    pub folder: FolderId,
    pub uid: u32,
    /// Expunged at its UID, waiting to be taken over or purged.
    pub tombstone: bool,
}

/// A message that appeared at `uid` of the delta's folder with the EMAILID of the stored
/// row `from`, which it takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    pub from: MessageId,
    pub uid: u32,
    pub flags: Flags,
    /// MODSEQ; 0 without CONDSTORE.
    pub modseq: u64,
    pub server_thread: Option<String>,
}

/// The rows with these EMAILIDs of the account that folder `?1` belongs to (any folder;
/// tombstones too), ordered by EMAILID, tombstones first. Rows under a local UID (a move of
/// the app's own, not yet written back) and incomplete rows are left out.
const OWNERS: &str = "
    SELECT m.email_id, m.id, m.folder_id, m.uid, m.tombstone
    FROM json_each(?2) AS j
    CROSS JOIN messages AS m ON m.email_id = j.value
    JOIN folders AS f ON f.id = m.folder_id
    WHERE f.account_id = (SELECT account_id FROM folders WHERE id = ?1) AND m.uid < ?3
      AND m.summary_state = 'complete'
    ORDER BY m.email_id, m.tombstone DESC, m.id";

impl Store {
    /// The stored rows of `folder`'s account carrying any of `email_ids`; see [`OWNERS`].
    pub async fn email_owners(
        &self,
        folder: FolderId,
        email_ids: &[&str],
    ) -> Result<Vec<EmailOwner>> {
        if email_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.read().await?;
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(OWNERS)
            .bind(folder.0)
            .bind(batch_json(email_ids, "EMAILIDs")?)
            .bind(i64::from(super::LOCAL_UID_BASE))
            .fetch_all(&mut *conn)
            .await
            .map_err(sql("look up EMAILIDs"))?;
        rows.into_iter()
            .map(|(email_id, id, folder, uid, tombstone)| {
                Ok(EmailOwner {
                    email_id,
                    message: MessageId(id),
                    folder: FolderId(folder),
                    uid: u32::try_from(uid).map_err(|_| invalid("stored UID out of range"))?,
                    tombstone: tombstone != 0,
                })
            })
            .collect()
    }

    /// UIDs of `folder` whose rows another folder took over, ascending: the next sync of
    /// `folder` checks whether the server still has them (a copy).
    pub async fn objectid_checks(&self, folder: FolderId) -> Result<Vec<u32>> {
        let mut conn = self.read().await?;
        let uids: Vec<i64> =
            sqlx::query_scalar("SELECT uid FROM objectid_checks WHERE folder_id = ?1 ORDER BY uid")
                .bind(folder.0)
                .fetch_all(&mut *conn)
                .await
                .map_err(sql("read a folder's OBJECTID checks"))?;
        uids.into_iter()
            .map(|u| u32::try_from(u).map_err(|_| invalid("stored UID out of range")))
            .collect()
    }

    /// Removes the account's tombstones (expunged rows nobody took over) made before
    /// `before` (unix milliseconds). Returns the ids removed; their bodies, parts and download
    /// records go with them (cascades).
    pub async fn purge_tombstones(
        &self,
        account: AccountId,
        before: i64,
    ) -> Result<Vec<MessageId>> {
        let mut tx = self.write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM messages WHERE id IN (
                SELECT m.id FROM folders AS f
                JOIN messages AS m ON m.folder_id = f.id AND m.tombstone > 0
                WHERE f.account_id = ?1 AND m.tombstone < ?2)
             RETURNING id",
        )
        .bind(account.0)
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("purge expunged messages"))?;
        tx.commit().await.map_err(sql("commit a purge"))?;
        Ok(ids.into_iter().map(MessageId).collect())
    }
}

/// Expunged UIDs of `folder` in `ranges`: rows with an EMAILID become tombstones (and any
/// check of them is done), the others are deleted. Returns how many rows left the folder's
/// view.
pub(super) async fn expunge(
    conn: &mut SqliteConnection,
    folder: FolderId,
    ranges: &str,
) -> Result<u64> {
    let hidden = sqlx::query(
        "UPDATE messages SET tombstone = max(CAST(unixepoch('subsec') * 1000 AS INTEGER), 1) WHERE id IN (
            SELECT m.id FROM json_each(?2) AS r
            CROSS JOIN messages AS m
              ON m.folder_id = ?1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1
            WHERE m.email_id IS NOT NULL AND m.tombstone = 0)",
    )
    .bind(folder.0)
    .bind(ranges)
    .execute(&mut *conn)
    .await
    .map_err(sql("keep expunged messages for a move"))?
    .rows_affected();
    let removed = sqlx::query(super::delta::REMOVE_UIDS)
        .bind(folder.0)
        .bind(ranges)
        .execute(&mut *conn)
        .await
        .map_err(sql("remove expunged messages"))?
        .rows_affected();
    sqlx::query(
        "DELETE FROM objectid_checks WHERE folder_id = ?1 AND uid IN (
            SELECT c.uid FROM json_each(?2) AS r
            CROSS JOIN objectid_checks AS c
              ON c.folder_id = ?1 AND c.uid BETWEEN r.value ->> 0 AND r.value ->> 1)",
    )
    .bind(folder.0)
    .bind(ranges)
    .execute(&mut *conn)
    .await
    .map_err(sql("finish OBJECTID checks"))?;
    Ok(hidden + removed)
}

#[derive(Serialize)]
struct TakeoverRow<'a> {
    id: i64,
    uid: u32,
    flags: u8,
    keywords: &'a [String],
    modseq: i64,
    thread: Option<&'a str>,
}

/// What [`take_over`] did.
#[derive(Debug, Default)]
pub(super) struct TakenOver {
    /// UIDs (in the delta's folder) that took over a row.
    pub uids: Vec<u32>,
    /// Where the live rows taken over were: the app saw them there.
    pub left: Vec<(FolderId, u32)>,
}

/// Moves each taken-over row to its new place in `folder`: UID, flags and MODSEQ from the
/// server, out of tombstone state; queued flag changes follow it. A live row's old place is
/// listed for checking. A row that is gone meanwhile (or already at home in `folder`) is
/// not taken over, and the caller stores that message another way.
pub(super) async fn take_over(
    conn: &mut SqliteConnection,
    folder: FolderId,
    takeovers: &[Takeover],
) -> Result<TakenOver> {
    let mut out = TakenOver::default();
    if takeovers.is_empty() {
        return Ok(out);
    }
    let mut rows = Vec::with_capacity(takeovers.len());
    // One takeover per row and per UID: a server that repeats an EMAILID or a UID gets
    // the first.
    let mut seen_rows = BTreeSet::new();
    let mut seen_uids = BTreeSet::new();
    for t in takeovers {
        if !seen_rows.insert(t.from.0) || !seen_uids.insert(t.uid) {
            continue;
        }
        // Where the row is now, in this transaction.
        let at: Option<(i64, i64, i64)> =
            sqlx::query_as("SELECT folder_id, uid, tombstone FROM messages WHERE id = ?1")
                .bind(t.from.0)
                .fetch_optional(&mut *conn)
                .await
                .map_err(sql("find a message to take over"))?;
        let Some((old_folder, old_uid, tombstone)) = at else {
            continue;
        };
        // The UID's place: free, or held by an incomplete row (a message whose summary could
        // not be read), which the row taken over replaces.
        let taken: Option<(i64, bool)> = sqlx::query_as(
            "SELECT id, summary_state = 'incomplete' FROM messages
              WHERE folder_id = ?1 AND uid = ?2",
        )
        .bind(folder.0)
        .bind(i64::from(t.uid))
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("look up a UID"))?;
        match taken {
            None => {}
            Some((id, true)) if id != t.from.0 => {
                sqlx::query("DELETE FROM messages WHERE id = ?1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .map_err(sql("replace an incomplete message"))?;
            }
            Some(_) => continue,
        }
        if tombstone == 0 {
            if old_folder == folder.0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO objectid_checks (folder_id, uid) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(old_folder)
            .bind(old_uid)
            .execute(&mut *conn)
            .await
            .map_err(sql("list a message's old place for checking"))?;
            let old_uid = u32::try_from(old_uid).map_err(|_| invalid("stored UID out of range"))?;
            out.left.push((FolderId(old_folder), old_uid));
        }
        rows.push(TakeoverRow {
            id: t.from.0,
            uid: t.uid,
            flags: t.flags.system.bits(),
            keywords: &t.flags.keywords,
            modseq: int_u64(t.modseq, "MODSEQ")?,
            thread: t.server_thread.as_deref(),
        });
        out.uids.push(t.uid);
    }
    if rows.is_empty() {
        return Ok(out);
    }
    let batch = batch_json(&rows, "taken-over messages")?;
    sqlx::query(
        "UPDATE messages
            SET folder_id = ?1, uid = t.value ->> 'uid', flags = t.value ->> 'flags',
                keywords = t.value ->> 'keywords', modseq = t.value ->> 'modseq',
                server_thread = coalesce(t.value ->> 'thread', server_thread), tombstone = 0
           FROM json_each(?2) AS t
          WHERE messages.id = t.value ->> 'id'",
    )
    .bind(folder.0)
    .bind(&batch)
    .execute(&mut *conn)
    .await
    .map_err(sql("take over moved messages"))?;
    sqlx::query(
        "UPDATE pending_ops SET folder_id = ?1
          WHERE message_id IN (SELECT t.value ->> 'id' FROM json_each(?2) AS t)",
    )
    .bind(folder.0)
    .bind(&batch)
    .execute(&mut *conn)
    .await
    .map_err(sql("move queued flag changes with their message"))?;
    Ok(out)
}

/// UIDs of `folder` still to check, ascending, inside the caller's transaction: cleared
/// once the delta that asked the server about them is stored.
pub(super) async fn clear_checks(
    conn: &mut SqliteConnection,
    folder: FolderId,
    uids: &[u32],
) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM objectid_checks
          WHERE folder_id = ?1 AND uid IN (SELECT value FROM json_each(?2))",
    )
    .bind(folder.0)
    .bind(batch_json(uids, "UIDs")?)
    .execute(&mut *conn)
    .await
    .map_err(sql("finish OBJECTID checks"))?;
    Ok(())
}

/// Takeovers of tombstones for new messages of a window whose EMAILID a complete tombstone
/// of the account carries (inside the caller's transaction); none without EMAILIDs.
pub(super) async fn tombstones_for(
    conn: &mut SqliteConnection,
    account: AccountId,
    fresh: &[(&NewMessage, i64)],
) -> Result<Vec<Takeover>> {
    let ids: Vec<&str> = fresh
        .iter()
        .filter_map(|(m, _)| m.email_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT m.email_id, m.id
         FROM json_each(?2) AS j
         CROSS JOIN messages AS m ON m.email_id = j.value
         JOIN folders AS f ON f.id = m.folder_id
         WHERE f.account_id = ?1 AND m.tombstone > 0 AND m.summary_state = 'complete'
         ORDER BY m.id",
    )
    .bind(account.0)
    .bind(batch_json(&ids, "EMAILIDs")?)
    .fetch_all(&mut *conn)
    .await
    .map_err(sql("look up tombstones by EMAILID"))?;
    let mut owners: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (email_id, id) in rows {
        owners.entry(email_id).or_default().push(id);
    }
    let mut out = Vec::new();
    for (m, _) in fresh {
        let Some(ids) = m.email_id.as_ref().and_then(|e| owners.get_mut(e)) else {
            continue;
        };
        if ids.is_empty() {
            continue;
        }
        let id = ids.remove(0);
        out.push(Takeover {
            from: MessageId(id),
            uid: m.uid,
            flags: m.flags.clone(),
            modseq: m.modseq,
            server_thread: m.server_thread.clone(),
        });
    }
    Ok(out)
}

/// New rows of a window whose EMAILID another row of the account carries (a copy by another
/// client): the body and snippet that row has are the new row's too, so opening the copy
/// fetches nothing. Downloads are files of their row and are not shared.
pub(super) async fn share_content(
    conn: &mut SqliteConnection,
    folder: FolderId,
    fresh: &[(&NewMessage, i64)],
) -> Result<()> {
    let uids: Vec<u32> = fresh
        .iter()
        .filter(|(m, _)| m.email_id.is_some())
        .map(|(m, _)| m.uid)
        .collect();
    if uids.is_empty() {
        return Ok(());
    }
    let batch = batch_json(&uids, "UIDs")?;
    sqlx::query(
        "INSERT INTO bodies (message_id, text_zstd, html_zstd, stored_bytes, fetched_at,
                             last_used)
         SELECT n.id, b.text_zstd, b.html_zstd, b.stored_bytes, b.fetched_at, b.last_used
         FROM json_each(?2) AS j
         CROSS JOIN messages AS n ON n.folder_id = ?1 AND n.uid = j.value
         JOIN messages AS o ON o.email_id = n.email_id AND o.id <> n.id
         JOIN folders AS f ON f.id = o.folder_id
         JOIN bodies AS b ON b.message_id = o.id
         WHERE f.account_id = (SELECT account_id FROM folders WHERE id = ?1)
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(folder.0)
    .bind(&batch)
    .execute(&mut *conn)
    .await
    .map_err(sql("share a copy's body"))?;
    sqlx::query(
        "UPDATE messages SET preview = (
            SELECT o.preview FROM messages AS o JOIN folders AS f ON f.id = o.folder_id
             WHERE o.email_id = messages.email_id AND o.id <> messages.id
               AND o.preview IS NOT NULL
               AND f.account_id = (SELECT account_id FROM folders WHERE id = ?1)
             LIMIT 1)
         WHERE folder_id = ?1 AND uid IN (SELECT value FROM json_each(?2))
           AND preview IS NULL AND email_id IS NOT NULL",
    )
    .bind(folder.0)
    .bind(&batch)
    .execute(&mut *conn)
    .await
    .map_err(sql("share a copy's snippet"))?;
    Ok(())
}
