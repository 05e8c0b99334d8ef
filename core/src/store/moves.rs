//! The mailbox half of the write-back queue (migration 0006): moves, deletions and draft
//! APPENDs. Each `queue_*` function applies the change to the stored messages and writes its
//! queue row in one transaction. A moved message keeps its row (and so its parts, cached body
//! and downloaded files, all keyed by the row id): the row goes to the target folder under a
//! local UID (>= [`LOCAL_UID_BASE`], never sent) until the server's COPYUID or APPENDUID
//! gives the real one, which `complete_mailbox_ops` writes in the transaction that removes the
//! queue row. Coalescing happens here, at queue time: a queued move followed by another move
//! is one move (or nothing when it goes back), a queued move followed by a deletion is one
//! deletion, a draft saved again replaces the queued bytes.
//!
//! It only stores and reads the queue; what goes on the wire is `sync::moves`.

use std::collections::BTreeMap;

use sqlx::{Row, SqliteConnection};

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{col, col_opt_u32, col_u32},
    invalid,
    messages::{Indexing, NewMessage, write_messages},
    sql,
};
use crate::{Error, Result};

/// Local UIDs (a moved or drafted message not yet confirmed by the server) start here.
pub const LOCAL_UID_BASE: u32 = 0xF000_0000;

/// What a queued mailbox operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxOpKind {
    /// Source UID to the target folder.
    Move,
    /// `\Deleted` + `UID EXPUNGE` of the source UID.
    Expunge,
    /// The raw message appended to the target folder (a draft).
    Append,
}

/// One queued mailbox operation, as the write-back reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxOp {
    pub id: i64,
    pub kind: MailboxOpKind,
    /// The local row it follows (moved message, draft); `None` once that row is gone.
    pub message: Option<MessageId>,
    pub source: Option<FolderId>,
    pub source_uidvalidity: Option<u32>,
    pub source_uid: Option<u32>,
    pub target: Option<FolderId>,
    /// The message to APPEND.
    pub raw: Option<Vec<u8>>,
    pub attempts: u32,
}

/// A queued mailbox operation as the app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMailboxOp {
    pub id: i64,
    pub kind: MailboxOpKind,
    pub message: Option<MessageId>,
    pub source: Option<FolderId>,
    pub target: Option<FolderId>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub parked: bool,
}

/// What a local change did to the stored rows, per folder (for the app's events).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalChanges {
    pub removed: BTreeMap<FolderId, Vec<u32>>,
    pub added: BTreeMap<FolderId, Vec<u32>>,
}

/// A message the server gave a UID in `folder` (COPYUID, APPENDUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rekey {
    pub message: MessageId,
    pub folder: FolderId,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// What a write-back round settled, committed in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxSettled {
    /// Queue rows done (or dropped).
    pub done: Vec<i64>,
    /// Local rows that get their server UID.
    pub rekeyed: Vec<Rekey>,
    /// Local rows to remove: the message is gone from the server, or it was moved and its
    /// new UID is unknown (the target folder's sync fetches it).
    pub dropped: Vec<MessageId>,
    /// Moves done by `UID COPY` whose originals are still to be removed: they become
    /// expunges of their source UID (so a retry never copies twice).
    pub copied: Vec<i64>,
}

/// A draft's local row: its record (UID ignored), readable body (zstd) and raw bytes.
#[derive(Debug, Clone)]
pub struct DraftRecord {
    pub message: NewMessage,
    pub text_zstd: Option<Vec<u8>>,
    pub html_zstd: Option<Vec<u8>>,
    pub raw: Vec<u8>,
}

/// A stored message with what the queue needs to know about it.
struct Located {
    id: i64,
    account: i64,
    folder: i64,
    uid: u32,
    uidvalidity: Option<u32>,
    /// Its queued move or append: (op id, kind, source folder, source UID).
    pending: Option<(i64, MailboxOpKind, Option<i64>, Option<u32>)>,
}

impl Store {
    /// The account's folder with `role` (`"trash"`, `"drafts"`, ...), if it has one.
    pub async fn folder_with_role(
        &self,
        account: AccountId,
        role: &str,
    ) -> Result<Option<FolderId>> {
        let mut conn = self.read().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM folders WHERE account_id = ?1 AND role = ?2 AND selectable = 1
             ORDER BY id LIMIT 1",
        )
        .bind(account.0)
        .bind(role)
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("find a folder by role"))?;
        Ok(id.map(FolderId))
    }

    /// Moves messages to `to` locally and queues the moves, in one transaction. Messages
    /// already there are left alone; `to` must be a selectable folder of their account.
    pub async fn queue_moves(&self, messages: &[MessageId], to: FolderId) -> Result<LocalChanges> {
        let mut tx = self.write().await?;
        let target = target_folder(&mut tx, to).await?;
        let mut out = LocalChanges::default();
        for id in dedup(messages) {
            let m = locate(&mut tx, id).await?;
            if m.account != target {
                return Err(invalid("a message cannot move to another account's folder"));
            }
            move_local(&mut tx, &m, to.0, &mut out).await?;
        }
        tx.commit().await.map_err(sql("commit local moves"))?;
        Ok(out)
    }

    /// Deletes messages locally and queues the deletion, in one transaction: a move to the
    /// account's Trash when it has one and the message is elsewhere, else an expunge.
    pub async fn queue_deletes(&self, messages: &[MessageId]) -> Result<LocalChanges> {
        let mut tx = self.write().await?;
        let mut out = LocalChanges::default();
        for id in dedup(messages) {
            let m = locate(&mut tx, id).await?;
            let trash: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM folders WHERE account_id = ?1 AND role = 'trash' AND selectable = 1
                 ORDER BY id LIMIT 1",
            )
            .bind(m.account)
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql("find the trash folder"))?;
            match trash {
                Some(trash)
                    if trash != m.folder
                        && !matches!(m.pending, Some((_, MailboxOpKind::Append, ..))) =>
                {
                    move_local(&mut tx, &m, trash, &mut out).await?;
                }
                _ => expunge_local(&mut tx, &m, &mut out).await?,
            }
        }
        tx.commit().await.map_err(sql("commit local deletions"))?;
        Ok(out)
    }

    /// Removes every stored message of a folder locally and queues their expunge.
    pub async fn queue_empty_folder(&self, folder: FolderId) -> Result<LocalChanges> {
        let mut tx = self.write().await?;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1")
            .bind(folder.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(sql("list a folder's messages"))?;
        let mut out = LocalChanges::default();
        for id in ids {
            let m = locate(&mut tx, id).await?;
            expunge_local(&mut tx, &m, &mut out).await?;
        }
        tx.commit().await.map_err(sql("commit emptying a folder"))?;
        Ok(out)
    }

    /// Stores a draft in `drafts` under a local UID and queues its APPEND, in one transaction.
    /// `replaces` is removed: a draft not yet appended has its queued APPEND replaced (one
    /// APPEND in the end), one on the server is queued for expunge.
    pub async fn queue_draft(
        &self,
        drafts: FolderId,
        draft: &DraftRecord,
        replaces: Option<MessageId>,
    ) -> Result<(MessageId, LocalChanges)> {
        let mut tx = self.write().await?;
        let account = target_folder(&mut tx, drafts).await?;
        let mut out = LocalChanges::default();
        let mut reuse: Option<i64> = None;
        if let Some(old) = replaces {
            let m = locate(&mut tx, old.0).await?;
            if m.account != account {
                return Err(invalid("a draft cannot replace another account's message"));
            }
            match m.pending {
                Some((op, MailboxOpKind::Append, ..)) => {
                    reuse = Some(op);
                    delete_row(&mut tx, &m, &mut out).await?;
                }
                _ => expunge_local(&mut tx, &m, &mut out).await?,
            }
        }
        let uid = local_uid(&mut tx, drafts.0).await?;
        let mut record = draft.message.clone();
        record.uid = uid;
        write_messages(
            &mut tx,
            AccountId(account),
            drafts,
            &[record],
            Indexing::Now,
        )
        .await?;
        let id: i64 =
            sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2")
                .bind(drafts.0)
                .bind(uid)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql("read a new draft's id"))?;
        let stored = draft.text_zstd.as_ref().map_or(0, Vec::len)
            + draft.html_zstd.as_ref().map_or(0, Vec::len);
        sqlx::query(
            "INSERT INTO bodies (message_id, text_zstd, html_zstd, stored_bytes, fetched_at, last_used)
             VALUES (?1, ?2, ?3, ?4, unixepoch(), CAST(unixepoch('subsec') * 1000 AS INTEGER))",
        )
        .bind(id)
        .bind(draft.text_zstd.as_deref())
        .bind(draft.html_zstd.as_deref())
        .bind(i64::try_from(stored).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(sql("store a draft's body"))?;
        match reuse {
            Some(op) => {
                sqlx::query(
                    "UPDATE pending_mailbox_ops SET raw = ?2, message_id = ?3, target_folder_id = ?4,
                            attempts = 0, next_attempt_at = 0, last_error = NULL, parked = 0
                     WHERE id = ?1",
                )
                .bind(op)
                .bind(&draft.raw)
                .bind(id)
                .bind(drafts.0)
                .execute(&mut *tx)
                .await
                .map_err(sql("replace a queued draft"))?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO pending_mailbox_ops (account_id, kind, message_id, target_folder_id, raw)
                     VALUES (?1, 'append', ?2, ?3, ?4)",
                )
                .bind(account)
                .bind(id)
                .bind(drafts.0)
                .bind(&draft.raw)
                .execute(&mut *tx)
                .await
                .map_err(sql("queue a draft"))?;
            }
        }
        out.added.entry(drafts).or_default().push(uid);
        tx.commit().await.map_err(sql("commit a draft"))?;
        Ok((MessageId(id), out))
    }

    /// The account's mailbox operations ready to replay at `now`, oldest first.
    pub async fn pending_mailbox_ops(
        &self,
        account: AccountId,
        now: i64,
    ) -> Result<Vec<MailboxOp>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, kind, message_id, source_folder_id, source_uidvalidity, source_uid,
                    target_folder_id, raw, attempts
             FROM pending_mailbox_ops
             WHERE account_id = ?1 AND parked = 0 AND next_attempt_at <= ?2 ORDER BY id",
        )
        .bind(account.0)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read queued mailbox operations"))?;
        rows.iter()
            .map(|row| {
                Ok(MailboxOp {
                    id: col(row, "id")?,
                    kind: kind_from_sql(&col::<String>(row, "kind")?)?,
                    message: opt_i64(row, "message_id")?.map(MessageId),
                    source: opt_i64(row, "source_folder_id")?.map(FolderId),
                    source_uidvalidity: col_opt_u32(row, "source_uidvalidity")?,
                    source_uid: col_opt_u32(row, "source_uid")?,
                    target: opt_i64(row, "target_folder_id")?.map(FolderId),
                    raw: row
                        .try_get::<Option<Vec<u8>>, _>("raw")
                        .map_err(sql("read column raw"))?,
                    attempts: col_u32(row, "attempts")?,
                })
            })
            .collect()
    }

    /// Every queued mailbox operation of an account, oldest first, parked ones included.
    pub async fn pending_mailbox_operations(
        &self,
        account: AccountId,
    ) -> Result<Vec<PendingMailboxOp>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, kind, message_id, source_folder_id, target_folder_id, attempts,
                    last_error, parked
             FROM pending_mailbox_ops WHERE account_id = ?1 ORDER BY id",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list queued mailbox operations"))?;
        rows.iter()
            .map(|row| {
                Ok(PendingMailboxOp {
                    id: col(row, "id")?,
                    kind: kind_from_sql(&col::<String>(row, "kind")?)?,
                    message: opt_i64(row, "message_id")?.map(MessageId),
                    source: opt_i64(row, "source_folder_id")?.map(FolderId),
                    target: opt_i64(row, "target_folder_id")?.map(FolderId),
                    attempts: col_u32(row, "attempts")?,
                    last_error: row
                        .try_get::<Option<String>, _>("last_error")
                        .map_err(sql("read column last_error"))?,
                    parked: col::<i64>(row, "parked")? != 0,
                })
            })
            .collect()
    }

    /// Commits what the server said about mailbox operations: queue rows removed, local
    /// rows re-keyed under their server UIDs (the target folder's UIDNEXT moves past them
    /// when nothing else arrived in between, so its sync does not fetch them again), and
    /// local rows of messages gone from the server removed. Returns the removed rows'
    /// (folder, UID) and the re-keyed rows' (folder, new UID), for events.
    pub async fn complete_mailbox_ops(
        &self,
        settled: &MailboxSettled,
    ) -> Result<(LocalChanges, BTreeMap<FolderId, Vec<u32>>)> {
        let mut tx = self.write().await?;
        let mut out = LocalChanges::default();
        let mut rekeyed: BTreeMap<FolderId, Vec<u32>> = BTreeMap::new();
        let mut dropped = settled.dropped.clone();
        for r in &settled.rekeyed {
            let state: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT uidvalidity, uidnext FROM folders WHERE id = ?1")
                    .bind(r.folder.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(sql("read a folder's state"))?;
            let Some((uidvalidity, _)) = state else {
                dropped.push(r.message);
                continue;
            };
            if uidvalidity.is_some_and(|v| v != i64::from(r.uidvalidity)) {
                dropped.push(r.message);
                continue;
            }
            // The folder's sync may have stored the message already: keep ours (it has the
            // content), drop that one.
            sqlx::query("DELETE FROM messages WHERE folder_id = ?1 AND uid = ?2 AND id <> ?3")
                .bind(r.folder.0)
                .bind(r.uid)
                .bind(r.message.0)
                .execute(&mut *tx)
                .await
                .map_err(sql("drop a duplicate of a moved message"))?;
            let n = sqlx::query(
                "UPDATE messages SET uid = ?3, modseq = 0
                 WHERE id = ?1 AND folder_id = ?2 AND uid >= ?4",
            )
            .bind(r.message.0)
            .bind(r.folder.0)
            .bind(r.uid)
            .bind(LOCAL_UID_BASE)
            .execute(&mut *tx)
            .await
            .map_err(sql("re-key a moved message"))?
            .rows_affected();
            if n > 0 {
                rekeyed.entry(r.folder).or_default().push(r.uid);
            }
        }
        for (folder, uids) in &mut rekeyed {
            uids.sort_unstable();
            let next: Option<i64> = sqlx::query_scalar("SELECT uidnext FROM folders WHERE id = ?1")
                .bind(folder.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(sql("read a folder's UIDNEXT"))?;
            let Some(mut next) = next else { continue };
            let start = next;
            for uid in uids.iter().map(|u| i64::from(*u)) {
                if uid == next {
                    next += 1;
                } else if uid > next {
                    break; // something else arrived in between: the sync must look
                }
            }
            if next != start {
                sqlx::query("UPDATE folders SET uidnext = ?2 WHERE id = ?1")
                    .bind(folder.0)
                    .bind(next)
                    .execute(&mut *tx)
                    .await
                    .map_err(sql("move a folder's UIDNEXT"))?;
            }
        }
        for id in dropped {
            if let Ok(m) = locate(&mut tx, id.0).await {
                delete_row(&mut tx, &m, &mut out).await?;
            }
        }
        if !settled.copied.is_empty() {
            sqlx::query(
                "UPDATE pending_mailbox_ops
                 SET kind = 'expunge', target_folder_id = NULL, message_id = NULL
                 WHERE id IN (SELECT value FROM json_each(?1)) AND kind = 'move'",
            )
            .bind(super::codec::batch_json(&settled.copied, "operation ids")?)
            .execute(&mut *tx)
            .await
            .map_err(sql("turn copied moves into expunges"))?;
        }
        if !settled.done.is_empty() {
            sqlx::query(
                "DELETE FROM pending_mailbox_ops WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .bind(super::codec::batch_json(&settled.done, "operation ids")?)
            .execute(&mut *tx)
            .await
            .map_err(sql("remove finished mailbox operations"))?;
        }
        tx.commit()
            .await
            .map_err(sql("commit finished mailbox operations"))?;
        Ok((out, rekeyed))
    }

    /// Counts a failed attempt on mailbox operations; `park` stops retrying them.
    pub async fn record_mailbox_failure(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: i64,
        park: bool,
    ) -> Result<()> {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE pending_mailbox_ops
             SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, parked = ?4
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(super::codec::batch_json(ids, "operation ids")?)
        .bind(error)
        .bind(next_attempt_at)
        .bind(i64::from(park))
        .execute(&mut *tx)
        .await
        .map_err(sql("record a failed mailbox operation"))?;
        tx.commit()
            .await
            .map_err(sql("commit a failed mailbox operation"))?;
        Ok(())
    }
}

fn dedup(messages: &[MessageId]) -> Vec<i64> {
    let mut ids: Vec<i64> = messages.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn opt_i64(row: &sqlx::sqlite::SqliteRow, column: &'static str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(sql("read an optional id"))
}

fn kind_from_sql(kind: &str) -> Result<MailboxOpKind> {
    match kind {
        "move" => Ok(MailboxOpKind::Move),
        "expunge" => Ok(MailboxOpKind::Expunge),
        "append" => Ok(MailboxOpKind::Append),
        _ => Err(invalid("unknown mailbox operation kind in the store")),
    }
}

/// The account of a folder that can take messages.
async fn target_folder(conn: &mut SqliteConnection, folder: FolderId) -> Result<i64> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT account_id, selectable FROM folders WHERE id = ?1")
            .bind(folder.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("read a target folder"))?;
    match row {
        Some((account, 1)) => Ok(account),
        Some(_) => Err(invalid("the folder cannot hold messages")),
        None => Err(Error::NotFound {
            what: "folder",
            id: folder.0,
        }),
    }
}

async fn locate(conn: &mut SqliteConnection, id: i64) -> Result<Located> {
    let row = sqlx::query(
        "SELECT m.id, f.account_id, m.folder_id, m.uid, f.uidvalidity,
                o.id AS op_id, o.kind AS op_kind, o.source_folder_id, o.source_uid
         FROM messages AS m JOIN folders AS f ON f.id = m.folder_id
         LEFT JOIN pending_mailbox_ops AS o
           ON o.message_id = m.id AND o.kind IN ('move', 'append')
         WHERE m.id = ?1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql("read a message to move"))?
    .ok_or(Error::NotFound {
        what: "message",
        id,
    })?;
    let pending = match opt_i64(&row, "op_id")? {
        Some(op) => Some((
            op,
            kind_from_sql(&col::<String>(&row, "op_kind")?)?,
            opt_i64(&row, "source_folder_id")?,
            col_opt_u32(&row, "source_uid")?,
        )),
        None => None,
    };
    Ok(Located {
        id: col(&row, "id")?,
        account: col(&row, "account_id")?,
        folder: col(&row, "folder_id")?,
        uid: col_u32(&row, "uid")?,
        uidvalidity: col_opt_u32(&row, "uidvalidity")?,
        pending,
    })
}

/// The next free local UID of a folder.
async fn local_uid(conn: &mut SqliteConnection, folder: i64) -> Result<u32> {
    let next: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(uid) + 1, ?2) FROM messages WHERE folder_id = ?1 AND uid >= ?2",
    )
    .bind(folder)
    .bind(LOCAL_UID_BASE)
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("pick a local UID"))?;
    u32::try_from(next).map_err(|_| invalid("no local UID left in the folder"))
}

/// Moves one stored message to `to` and queues (or folds into its queued move) the move.
async fn move_local(
    conn: &mut SqliteConnection,
    m: &Located,
    to: i64,
    out: &mut LocalChanges,
) -> Result<()> {
    if m.folder == to {
        return Ok(());
    }
    let mut new_uid = None;
    match m.pending {
        // Back where the server has it: nothing to send.
        Some((op, MailboxOpKind::Move, Some(source), Some(source_uid))) if source == to => {
            sqlx::query("DELETE FROM pending_mailbox_ops WHERE id = ?1")
                .bind(op)
                .execute(&mut *conn)
                .await
                .map_err(sql("drop a move undone"))?;
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2")
                    .bind(to)
                    .bind(source_uid)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(sql("look for a message's old place"))?;
            if taken.is_some() {
                return delete_row(conn, m, out).await;
            }
            new_uid = Some(source_uid);
        }
        Some((op, ..)) => {
            sqlx::query("UPDATE pending_mailbox_ops SET target_folder_id = ?2 WHERE id = ?1")
                .bind(op)
                .bind(to)
                .execute(&mut *conn)
                .await
                .map_err(sql("fold a move into a queued one"))?;
        }
        None => {
            sqlx::query(
                "INSERT INTO pending_mailbox_ops (account_id, kind, message_id, source_folder_id,
                        source_uidvalidity, source_uid, target_folder_id)
                 VALUES (?1, 'move', ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(m.account)
            .bind(m.id)
            .bind(m.folder)
            .bind(m.uidvalidity)
            .bind(m.uid)
            .bind(to)
            .execute(&mut *conn)
            .await
            .map_err(sql("queue a move"))?;
        }
    }
    let uid = match new_uid {
        Some(uid) => uid,
        None => local_uid(conn, to).await?,
    };
    sqlx::query("UPDATE messages SET folder_id = ?2, uid = ?3, modseq = 0 WHERE id = ?1")
        .bind(m.id)
        .bind(to)
        .bind(uid)
        .execute(&mut *conn)
        .await
        .map_err(sql("move a message locally"))?;
    // Queued flag changes follow the message (sent to it in its new folder).
    sqlx::query("UPDATE pending_ops SET folder_id = ?2 WHERE message_id = ?1")
        .bind(m.id)
        .bind(to)
        .execute(&mut *conn)
        .await
        .map_err(sql("move queued flag changes"))?;
    out.removed
        .entry(FolderId(m.folder))
        .or_default()
        .push(m.uid);
    out.added.entry(FolderId(to)).or_default().push(uid);
    Ok(())
}

/// Removes one stored message and queues its expunge where the server has it: at its
/// queued move's source, or where it is; a draft never appended just goes.
async fn expunge_local(
    conn: &mut SqliteConnection,
    m: &Located,
    out: &mut LocalChanges,
) -> Result<()> {
    match m.pending {
        Some((op, MailboxOpKind::Move, ..)) => {
            sqlx::query(
                "UPDATE pending_mailbox_ops SET kind = 'expunge', target_folder_id = NULL,
                        message_id = NULL
                 WHERE id = ?1",
            )
            .bind(op)
            .execute(&mut *conn)
            .await
            .map_err(sql("fold a deletion into a queued move"))?;
        }
        Some((op, ..)) => {
            sqlx::query("DELETE FROM pending_mailbox_ops WHERE id = ?1")
                .bind(op)
                .execute(&mut *conn)
                .await
                .map_err(sql("drop a queued draft"))?;
        }
        None if m.uid < LOCAL_UID_BASE => {
            sqlx::query(
                "INSERT INTO pending_mailbox_ops (account_id, kind, source_folder_id,
                        source_uidvalidity, source_uid)
                 VALUES (?1, 'expunge', ?2, ?3, ?4)",
            )
            .bind(m.account)
            .bind(m.folder)
            .bind(m.uidvalidity)
            .bind(m.uid)
            .execute(&mut *conn)
            .await
            .map_err(sql("queue an expunge"))?;
        }
        None => {}
    }
    delete_row(conn, m, out).await
}

/// Takes a draft out of Drafts for sending (`Store::queue_outgoing`): expunged where the
/// server has it (a draft not yet appended just goes), or, when the message to send is
/// assembled on the server from it (`keep_on_server`), removed here only: the outbox queues
/// its expunge once the message is sent.
pub(super) async fn take_out_draft(
    conn: &mut SqliteConnection,
    account: AccountId,
    draft: MessageId,
    keep_on_server: bool,
    out: &mut LocalChanges,
) -> Result<()> {
    let m = locate(conn, draft.0).await?;
    if m.account != account.0 {
        return Err(invalid("a draft of another account"));
    }
    if keep_on_server {
        delete_row(conn, &m, out).await
    } else {
        expunge_local(conn, &m, out).await
    }
}

/// Deletes a stored message row (parts, body, downloads and flag rows follow by cascade).
async fn delete_row(
    conn: &mut SqliteConnection,
    m: &Located,
    out: &mut LocalChanges,
) -> Result<()> {
    sqlx::query("DELETE FROM messages WHERE id = ?1")
        .bind(m.id)
        .execute(&mut *conn)
        .await
        .map_err(sql("remove a message locally"))?;
    out.removed
        .entry(FolderId(m.folder))
        .or_default()
        .push(m.uid);
    Ok(())
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
