//! The write-back queue of flag changes waiting to be sent to the server (moves, deletions
//! and drafts are `moves.rs`).
//! `queue_flags` changes the stored flags and inserts the queue rows in one transaction, so a
//! crash never leaves the local effect without its operation or the other way round. Rows are
//! per message and flag, with the value before the change, so that replay can coalesce them
//! (read then unread is nothing) and tell a server-side change from ours.
//!
//! A keyword the folder's server cannot keep (outside the PERMANENTFLAGS of its last SELECT,
//! see [`keeps_flag`]) is never queued: it is stored on the message and named in its
//! `local_keywords`, so the app sees it and knows it stays on this device (a flag scan keeps
//! it too). Clearing a local-only keyword only clears it locally.
//!
//! This module only stores and reads the queue; it never decides what to send (that is
//! `sync::writeback`). Rows of a message that is removed locally go with it (ON DELETE CASCADE).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use super::{
    AccountId, FolderId, MessageId, Store,
    codec::{col, col_strings, col_u32},
    delta::FlagChange,
    invalid,
    messages::{Flags, SystemFlags},
    sql,
};
use crate::{Error, Result};

/// The system flags a queue row can name, with their IMAP spelling.
const SYSTEM_FLAGS: [(SystemFlags, &str); 5] = [
    (SystemFlags::SEEN, "\\Seen"),
    (SystemFlags::ANSWERED, "\\Answered"),
    (SystemFlags::FLAGGED, "\\Flagged"),
    (SystemFlags::DELETED, "\\Deleted"),
    (SystemFlags::DRAFT, "\\Draft"),
];

/// A queued operation as the app sees it (for a "pending changes" or "failed changes" list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOp {
    pub id: i64,
    pub folder: FolderId,
    pub message: MessageId,
    /// The flag's IMAP name (`\Seen`, `$Forwarded`, ...).
    pub flag: String,
    /// Whether the flag is to be set (true) or cleared.
    pub value: bool,
    pub attempts: u32,
    /// The last failure, fit to show (no message content).
    pub last_error: Option<String>,
    /// No longer retried: it failed too often.
    pub parked: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// One flag's net change on one message after coalescing its queue rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagOpChange {
    pub flag: String,
    /// The value before the first queued change (the last state known from the server).
    pub before: bool,
    /// The value wanted by the last queued change.
    pub value: bool,
    /// The queue rows this change stands for.
    pub ops: Vec<i64>,
    /// The most attempts any of these rows has had.
    pub attempts: u32,
}

/// What [`Store::queue_flags`] did, per folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueuedFlags {
    /// The UIDs whose stored flags changed (for the app's events).
    pub changed: Vec<(FolderId, Vec<u32>)>,
    /// The UIDs with a keyword change that stays on this device (the server cannot keep
    /// it): nothing was queued for it.
    pub local_only: Vec<(FolderId, Vec<u32>)>,
}

/// A keyword change the server cannot keep, to apply on this device only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalKeyword {
    pub message: MessageId,
    pub keyword: String,
    pub value: bool,
    /// The queue rows it replaces (removed).
    pub ops: Vec<i64>,
}

/// A message's queued flag changes, coalesced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFlagOps {
    pub message: MessageId,
    pub uid: u32,
    /// Net changes (`before != value`), in flag order.
    pub changes: Vec<FlagOpChange>,
    /// Rows that coalesced to nothing (read then unread); completing them sends nothing.
    pub noop_ops: Vec<i64>,
    /// The most attempts any of the rows has had.
    pub attempts: u32,
}

impl MessageFlagOps {
    /// Every queue row of the message.
    pub fn all_ops(&self) -> Vec<i64> {
        let mut ops = self.noop_ops.clone();
        ops.extend(self.changes.iter().flat_map(|c| c.ops.iter().copied()));
        ops
    }
}

impl Store {
    /// Sets and clears flags on many messages at once and queues the change for the server,
    /// in one transaction. Flags a message already has (or lacks) queue nothing for it, and
    /// neither does a keyword the folder's server cannot keep ([`keeps_flag`]): that one is
    /// stored as local-only. Returns, per folder, the UIDs whose stored flags changed and
    /// those with a local-only change.
    pub async fn queue_flags(
        &self,
        messages: &[MessageId],
        add: &Flags,
        remove: &Flags,
    ) -> Result<QueuedFlags> {
        let add_names = flag_names(add)?;
        let remove_names = flag_names(remove)?;
        if add_names.iter().any(|a| remove_names.contains(a)) {
            return Err(invalid("a flag cannot be both set and cleared"));
        }
        let mut tx = self.write().await?;
        let mut ids: Vec<i64> = messages.iter().map(|m| m.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = sqlx::query(
            "SELECT m.id, m.folder_id, f.account_id, m.uid, m.flags, m.keywords,
                    m.local_keywords, f.permanent_flags
             FROM json_each(?1) AS j
             CROSS JOIN messages AS m ON m.id = j.value
             JOIN folders AS f ON f.id = m.folder_id",
        )
        .bind(super::codec::batch_json(&ids, "message ids")?)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("read flags to change"))?;
        let mut found = Vec::with_capacity(rows.len());
        let mut updates = Vec::new();
        let mut queued = Vec::new();
        let mut changed: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let mut local_only: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for row in &rows {
            let id: i64 = col(row, "id")?;
            found.push(id);
            let folder: i64 = col(row, "folder_id")?;
            let account: i64 = col(row, "account_id")?;
            let uid = col_u32(row, "uid")?;
            let bits: i64 = col(row, "flags")?;
            let mut flags = Flags {
                system: SystemFlags::from_bits_truncate(u8::try_from(bits).unwrap_or(0)),
                keywords: col_strings(row, "keywords")?,
            };
            let permanent = col_strings(row, "permanent_flags")?;
            let mut local = col_strings(row, "local_keywords")?;
            let mut touched = false;
            let mut kept_locally = false;
            for (names, value) in [(&add_names, true), (&remove_names, false)] {
                for name in names {
                    let before = has_flag(&flags, name);
                    if before == value {
                        continue;
                    }
                    set_flag(&mut flags, name, value);
                    touched = true;
                    if !keeps_flag(&permanent, name) {
                        set_local_keyword(&mut local, name, value);
                        kept_locally = true;
                        continue;
                    }
                    queued.push(OpRow {
                        account,
                        folder,
                        message: id,
                        flag: name.clone(),
                        before: i64::from(before),
                        value: i64::from(value),
                    });
                }
            }
            if touched {
                updates.push(FlagsRow {
                    id,
                    flags: flags.system.bits(),
                    keywords: flags.keywords,
                    local_keywords: local,
                });
                changed.entry(folder).or_default().push(uid);
            }
            if kept_locally {
                local_only.entry(folder).or_default().push(uid);
            }
        }
        if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
            return Err(Error::NotFound {
                what: "message",
                id: *missing,
            });
        }
        if !updates.is_empty() {
            sqlx::query(
                "UPDATE messages SET flags = u.value ->> 'flags', keywords = u.value ->> 'keywords',
                                     local_keywords = u.value ->> 'local_keywords'
                 FROM json_each(?1) AS u WHERE messages.id = u.value ->> 'id'",
            )
            .bind(super::codec::batch_json(&updates, "flag updates")?)
            .execute(&mut *tx)
            .await
            .map_err(sql("store local flag changes"))?;
        }
        if !queued.is_empty() {
            sqlx::query(
                "INSERT INTO pending_ops (account_id, folder_id, message_id, kind, flag, before, value)
                 SELECT o.value ->> 'account', o.value ->> 'folder', o.value ->> 'message', 'flag',
                        o.value ->> 'flag', o.value ->> 'before', o.value ->> 'value'
                 FROM json_each(?1) AS o",
            )
            .bind(super::codec::batch_json(&queued, "queued flag changes")?)
            .execute(&mut *tx)
            .await
            .map_err(sql("queue flag changes"))?;
        }
        tx.commit()
            .await
            .map_err(sql("commit local flag changes"))?;
        let by_folder = |map: BTreeMap<i64, Vec<u32>>| {
            map.into_iter()
                .map(|(folder, uids)| (FolderId(folder), uids))
                .collect()
        };
        Ok(QueuedFlags {
            changed: by_folder(changed),
            local_only: by_folder(local_only),
        })
    }

    /// Keyword changes the server turned out not to keep (its PERMANENTFLAGS, learnt after
    /// they were queued): their queue rows are removed and the keywords stay on this device,
    /// named local-only, in one transaction. The stored keywords already hold the app's value.
    pub async fn keep_keywords_locally(&self, changes: &[LocalKeyword]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        let ops: Vec<i64> = changes.iter().flat_map(|c| c.ops.iter().copied()).collect();
        sqlx::query("DELETE FROM pending_ops WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(super::codec::batch_json(&ops, "operation ids")?)
            .execute(&mut *tx)
            .await
            .map_err(sql("remove operations kept locally"))?;
        let mut ids: Vec<i64> = changes.iter().map(|c| c.message.0).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows = sqlx::query(
            "SELECT m.id, m.local_keywords FROM json_each(?1) AS j
             CROSS JOIN messages AS m ON m.id = j.value",
        )
        .bind(super::codec::batch_json(&ids, "message ids")?)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql("read local keywords"))?;
        let mut updates = Vec::new();
        for row in &rows {
            let id: i64 = col(row, "id")?;
            let mut local = col_strings(row, "local_keywords")?;
            for c in changes.iter().filter(|c| c.message.0 == id) {
                set_local_keyword(&mut local, &c.keyword, c.value);
            }
            updates.push(LocalRow { id, local });
        }
        sqlx::query(
            "UPDATE messages SET local_keywords = u.value ->> 'local'
             FROM json_each(?1) AS u WHERE messages.id = u.value ->> 'id'",
        )
        .bind(super::codec::batch_json(&updates, "local keywords")?)
        .execute(&mut *tx)
        .await
        .map_err(sql("store local keywords"))?;
        tx.commit().await.map_err(sql("commit local keywords"))?;
        Ok(())
    }

    /// The flags a folder's server lets clients change permanently, from its last SELECT
    /// (`\\*` is any keyword; never selected: `[\\*]`, RFC 3501's default).
    pub async fn permanent_flags(&self, folder: FolderId) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        let row = sqlx::query("SELECT permanent_flags FROM folders WHERE id = ?1")
            .bind(folder.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql("read a folder's permanent flags"))?
            .ok_or(Error::NotFound {
                what: "folder",
                id: folder.0,
            })?;
        col_strings(&row, "permanent_flags")
    }

    /// Records the PERMANENTFLAGS a SELECT reported (written only when they differ).
    pub async fn set_permanent_flags(&self, folder: FolderId, flags: &[String]) -> Result<()> {
        let json = super::codec::batch_json(flags, "permanent flags")?;
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE folders SET permanent_flags = ?2 WHERE id = ?1 AND permanent_flags <> ?2",
        )
        .bind(folder.0)
        .bind(json)
        .execute(&mut *tx)
        .await
        .map_err(sql("store a folder's permanent flags"))?;
        tx.commit()
            .await
            .map_err(sql("commit a folder's permanent flags"))?;
        Ok(())
    }

    /// The folders of an account that have queued operations ready to replay at `now`.
    pub async fn folders_with_pending_ops(
        &self,
        account: AccountId,
        now: i64,
    ) -> Result<Vec<FolderId>> {
        let mut conn = self.read().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT folder_id FROM pending_ops
             WHERE account_id = ?1 AND parked = 0 AND next_attempt_at <= ?2 ORDER BY folder_id",
        )
        .bind(account.0)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list folders with queued changes"))?;
        Ok(ids.into_iter().map(FolderId).collect())
    }

    /// A folder's queued flag changes, coalesced per message and flag, in message order.
    /// A flag of a message with a parked row, or a row waiting for its backoff to end at
    /// `now`, is left out whole (its rows are never coalesced partially); the message's
    /// other flags go on their own, so one refused change never holds back another.
    pub async fn pending_flag_ops(
        &self,
        folder: FolderId,
        now: i64,
    ) -> Result<Vec<MessageFlagOps>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT o.id, o.message_id, m.uid, o.flag, o.before, o.value, o.attempts,
                    o.parked, o.next_attempt_at
             FROM pending_ops AS o JOIN messages AS m ON m.id = o.message_id
             WHERE o.folder_id = ?1 AND o.kind = 'flag' AND m.tombstone = 0
               AND NOT EXISTS (SELECT 1 FROM pending_mailbox_ops AS pm
                               WHERE pm.message_id = o.message_id)
             ORDER BY o.message_id, o.id",
        )
        .bind(folder.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read queued flag changes"))?;

        let mut out: Vec<MessageFlagOps> = Vec::new();
        // Per message: the flags in first-seen order, and the message.
        let mut current: Vec<QueuedFlag> = Vec::new();
        let mut current_msg: Option<(i64, u32)> = None;
        for row in &rows {
            let message: i64 = col(row, "message_id")?;
            let parked: i64 = col(row, "parked")?;
            let next: i64 = col(row, "next_attempt_at")?;
            if current_msg.is_some_and(|(m, _)| m != message)
                && let Some(done) = current_msg.take()
            {
                out.extend(coalesce(done, std::mem::take(&mut current)));
            }
            current_msg.get_or_insert((message, col_u32(row, "uid")?));
            let attempts = col_u32(row, "attempts")?;
            let id: i64 = col(row, "id")?;
            let flag: String = col(row, "flag")?;
            let before = col::<i64>(row, "before")? != 0;
            let value = col::<i64>(row, "value")? != 0;
            let blocked = parked != 0 || next > now;
            match current.iter_mut().find(|q| q.flag == flag) {
                Some(slot) => {
                    slot.value = value;
                    slot.ops.push(id);
                    slot.attempts = slot.attempts.max(attempts);
                    slot.blocked |= blocked;
                }
                None => current.push(QueuedFlag {
                    flag,
                    before,
                    value,
                    ops: vec![id],
                    attempts,
                    blocked,
                }),
            }
        }
        if let Some(done) = current_msg.take() {
            out.extend(coalesce(done, current));
        }
        Ok(out)
    }

    /// Removes finished (or dropped) operations.
    pub async fn complete_ops(&self, ids: &[i64]) -> Result<()> {
        self.complete_ops_with_flags(None, ids, &[]).await
    }

    /// Removes finished operations and, in the same transaction, stores the flags the server
    /// reported for the folder's messages (skipped where the stored MODSEQ is newer).
    pub async fn complete_ops_with_flags(
        &self,
        folder: Option<FolderId>,
        ids: &[i64],
        server_flags: &[FlagChange],
    ) -> Result<()> {
        let mut tx = self.write().await?;
        if !ids.is_empty() {
            sqlx::query("DELETE FROM pending_ops WHERE id IN (SELECT value FROM json_each(?1))")
                .bind(super::codec::batch_json(ids, "operation ids")?)
                .execute(&mut *tx)
                .await
                .map_err(sql("remove finished operations"))?;
        }
        if let Some(folder) = folder {
            super::delta::change_flags(&mut tx, folder, server_flags).await?;
        }
        tx.commit()
            .await
            .map_err(sql("commit finished operations"))?;
        Ok(())
    }

    /// Counts a failed attempt: the rows wait until `next_attempt_at` (unix seconds).
    pub async fn record_op_failure(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: i64,
    ) -> Result<()> {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE pending_ops SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(super::codec::batch_json(ids, "operation ids")?)
        .bind(error)
        .bind(next_attempt_at)
        .execute(&mut *tx)
        .await
        .map_err(sql("record a failed operation"))?;
        tx.commit()
            .await
            .map_err(sql("commit a failed operation"))?;
        Ok(())
    }

    /// Stops retrying operations; they stay listed for the app with their last error.
    pub async fn park(&self, ids: &[i64]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE pending_ops SET parked = 1 WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(super::codec::batch_json(ids, "operation ids")?)
        .execute(&mut *tx)
        .await
        .map_err(sql("park operations"))?;
        tx.commit().await.map_err(sql("commit parked operations"))?;
        Ok(())
    }

    /// Gives an account's parked operations (flag changes and mailbox operations) another
    /// chance: attempts and backoff are reset. Returns how many rows were parked.
    pub async fn unpark(&self, account: AccountId) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut n = 0;
        for statement in [
            "UPDATE pending_ops SET parked = 0, attempts = 0, next_attempt_at = 0
             WHERE account_id = ?1 AND parked = 1",
            "UPDATE pending_mailbox_ops SET parked = 0, attempts = 0, next_attempt_at = 0
             WHERE account_id = ?1 AND parked = 1",
        ] {
            n += sqlx::query(statement)
                .bind(account.0)
                .execute(&mut *tx)
                .await
                .map_err(sql("unpark operations"))?
                .rows_affected();
        }
        tx.commit()
            .await
            .map_err(sql("commit unparked operations"))?;
        Ok(n)
    }

    /// Every queued operation of an account, oldest first, parked ones included.
    pub async fn pending_operations(&self, account: AccountId) -> Result<Vec<PendingOp>> {
        let mut conn = self.read().await?;
        let rows = sqlx::query(
            "SELECT id, folder_id, message_id, flag, value, attempts, last_error, parked, created_at
             FROM pending_ops WHERE account_id = ?1 ORDER BY id",
        )
        .bind(account.0)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("list queued operations"))?;
        rows.iter()
            .map(|row| {
                Ok(PendingOp {
                    id: col(row, "id")?,
                    folder: FolderId(col(row, "folder_id")?),
                    message: MessageId(col(row, "message_id")?),
                    flag: col(row, "flag")?,
                    value: col::<i64>(row, "value")? != 0,
                    attempts: col_u32(row, "attempts")?,
                    last_error: row
                        .try_get::<Option<String>, _>("last_error")
                        .map_err(sql("read column last_error"))?,
                    parked: col::<i64>(row, "parked")? != 0,
                    created_at: col(row, "created_at")?,
                })
            })
            .collect()
    }
}

#[derive(Serialize)]
struct FlagsRow {
    id: i64,
    flags: u8,
    keywords: Vec<String>,
    local_keywords: Vec<String>,
}

#[derive(Serialize)]
struct LocalRow {
    id: i64,
    local: Vec<String>,
}

#[derive(Serialize)]
struct OpRow {
    account: i64,
    folder: i64,
    message: i64,
    flag: String,
    before: i64,
    value: i64,
}

/// One flag's queue rows on one message, in order.
struct QueuedFlag {
    flag: String,
    /// The first row's `before`.
    before: bool,
    /// The last row's `value`.
    value: bool,
    ops: Vec<i64>,
    attempts: u32,
    /// A row is parked or backing off: the flag waits, all its rows with it.
    blocked: bool,
}

/// A message's ready flags, coalesced; `None` when none is ready.
fn coalesce((message, uid): (i64, u32), flags: Vec<QueuedFlag>) -> Option<MessageFlagOps> {
    let mut out = MessageFlagOps {
        message: MessageId(message),
        uid,
        changes: Vec::new(),
        noop_ops: Vec::new(),
        attempts: 0,
    };
    for q in flags.into_iter().filter(|q| !q.blocked) {
        out.attempts = out.attempts.max(q.attempts);
        if q.before == q.value {
            out.noop_ops.extend(q.ops);
        } else {
            out.changes.push(FlagOpChange {
                flag: q.flag,
                before: q.before,
                value: q.value,
                ops: q.ops,
                attempts: q.attempts,
            });
        }
    }
    (!out.changes.is_empty() || !out.noop_ops.is_empty()).then_some(out)
}

/// The IMAP names of a flag set; keywords must be IMAP atoms (refused here rather than
/// queued and failing on every replay).
fn flag_names(flags: &Flags) -> Result<Vec<String>> {
    let mut names: Vec<String> = SYSTEM_FLAGS
        .iter()
        .filter(|(bit, _)| flags.system.contains(*bit))
        .map(|(_, name)| (*name).to_string())
        .collect();
    for keyword in &flags.keywords {
        if !is_keyword(keyword) {
            return Err(invalid("a keyword is not a valid IMAP flag name"));
        }
        if !names.iter().any(|n| n.eq_ignore_ascii_case(keyword)) {
            names.push(keyword.clone());
        }
    }
    Ok(names)
}

/// Whether a folder whose server lists `permanent` as its PERMANENTFLAGS keeps `flag`: a
/// system flag always (a refusal is that STORE's own error); a keyword where `\*` (any
/// keyword) is listed, or the keyword itself (case-insensitively).
pub fn keeps_flag(permanent: &[String], flag: &str) -> bool {
    system_flag(flag).is_some()
        || permanent
            .iter()
            .any(|p| p == "\\*" || p.eq_ignore_ascii_case(flag))
}

/// Adds or removes a keyword in a local-only list.
fn set_local_keyword(local: &mut Vec<String>, keyword: &str, value: bool) {
    local.retain(|k| !k.eq_ignore_ascii_case(keyword));
    if value {
        local.push(keyword.to_string());
    }
}

/// An IMAP atom: printable ASCII without the atom-specials, at most 200 bytes.
pub(crate) fn is_keyword(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

/// Whether a stored flag set has the flag named (system flags case-insensitively).
pub fn has_flag(flags: &Flags, name: &str) -> bool {
    match system_flag(name) {
        Some(bit) => flags.system.contains(bit),
        None => flags.keywords.iter().any(|k| k.eq_ignore_ascii_case(name)),
    }
}

/// Sets or clears one named flag.
pub fn set_flag(flags: &mut Flags, name: &str, value: bool) {
    match (system_flag(name), value) {
        (Some(bit), true) => flags.system.insert(bit),
        (Some(bit), false) => flags.system.remove(bit),
        (None, true) => {
            if !flags.keywords.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                flags.keywords.push(name.to_string());
            }
        }
        (None, false) => flags.keywords.retain(|k| !k.eq_ignore_ascii_case(name)),
    }
}

fn system_flag(name: &str) -> Option<SystemFlags> {
    SYSTEM_FLAGS
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(bit, _)| *bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(flag: &str, before: bool, value: bool, ops: &[i64], blocked: bool) -> QueuedFlag {
        QueuedFlag {
            flag: flag.into(),
            before,
            value,
            ops: ops.to_vec(),
            attempts: u32::from(blocked),
            blocked,
        }
    }

    #[test]
    fn read_then_unread_coalesces_to_nothing() {
        let ops = coalesce(
            (1, 7),
            vec![
                queued("\\Seen", false, false, &[1, 2], false),
                queued("\\Flagged", false, true, &[3], false),
            ],
        )
        .unwrap();
        assert_eq!(ops.noop_ops, [1, 2]);
        assert_eq!(ops.changes.len(), 1);
        assert_eq!(ops.all_ops(), [1, 2, 3]);
    }

    #[test]
    fn a_waiting_flag_holds_back_only_itself() {
        let ops = coalesce(
            (1, 7),
            vec![
                queued("$Important", false, true, &[1], true),
                queued("\\Flagged", false, true, &[2], false),
            ],
        )
        .unwrap();
        assert_eq!(ops.all_ops(), [2]);
        assert_eq!(ops.attempts, 0);
        assert!(coalesce((1, 7), vec![queued("$Important", false, true, &[1], true)]).is_none());
    }

    #[test]
    fn keywords_must_be_atoms() {
        assert!(is_keyword("$Forwarded"));
        assert!(!is_keyword("two words"));
        assert!(!is_keyword("\\Seen"));
        assert!(!is_keyword("a)b"));
        assert!(!is_keyword(""));
    }

    #[test]
    fn flags_set_and_clear_by_name() {
        let mut f = Flags::default();
        set_flag(&mut f, "\\Seen", true);
        set_flag(&mut f, "$Work", true);
        assert!(has_flag(&f, "\\seen") && has_flag(&f, "$work"));
        set_flag(&mut f, "$WORK", false);
        assert!(!has_flag(&f, "$Work"));
    }
}
