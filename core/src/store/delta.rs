//! Applying what changed on the server since the last sync: flag changes, expunges (VANISHED)
//! and new messages. The invariant this module exists for: expunges and flag changes are
//! stored in the same transaction that moves the folder's HIGHESTMODSEQ, so a crash can never
//! lose an expunge (the next CHANGEDSINCE would start after it) or resurrect a message.

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{
    FolderId, Store,
    codec::{batch_json, int_u64},
    folders::{FolderSyncState, folder_row, write_highest_modseq, write_state},
    messages::{Flags, NewMessage, write_messages},
    sql,
};
use crate::Result;

/// New flags for one stored message (FETCH FLAGS with MODSEQ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub uid: u32,
    pub flags: Flags,
    /// The message's MODSEQ after the change; 0 without CONDSTORE.
    pub modseq: u64,
}

/// An inclusive range of UIDs, `first <= last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UidRange {
    first: u32,
    last: u32,
}

impl UidRange {
    /// The UIDs between `a` and `b`, inclusive, in either order (as in an IMAP sequence set).
    pub fn new(a: u32, b: u32) -> UidRange {
        UidRange {
            first: a.min(b),
            last: a.max(b),
        }
    }

    pub fn single(uid: u32) -> UidRange {
        UidRange {
            first: uid,
            last: uid,
        }
    }

    pub fn first(self) -> u32 {
        self.first
    }

    pub fn last(self) -> u32 {
        self.last
    }
}

impl From<u32> for UidRange {
    fn from(uid: u32) -> UidRange {
        UidRange::single(uid)
    }
}

impl From<std::ops::RangeInclusive<u32>> for UidRange {
    fn from(range: std::ops::RangeInclusive<u32>) -> UidRange {
        UidRange::new(*range.start(), *range.end())
    }
}

/// Everything that changed in a folder since its stored state, applied as one unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// Flag changes of stored messages; UIDs not stored are ignored.
    pub changed: Vec<FlagChange>,
    /// Expunged UIDs (VANISHED, or EXPUNGE converted to UIDs).
    pub vanished: Vec<UidRange>,
    /// Messages that appeared (stored like `insert_window`).
    pub new_messages: Vec<NewMessage>,
    /// The folder state once all of the above is stored.
    pub state_after: FolderSyncState,
}

/// What a delta did to the stored rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaApplied {
    /// Stored messages whose flags were replaced.
    pub flags_changed: u64,
    /// Stored messages removed.
    pub removed: u64,
    /// New messages stored.
    pub stored: u64,
}

impl Store {
    /// Applies a whole delta (expunges, flag changes, new messages, new sync state) in one
    /// transaction: either all of it is stored or, on any error, none of it.
    pub async fn apply_delta(&self, folder: FolderId, delta: &Delta) -> Result<DeltaApplied> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        write_state(&mut tx, folder, &stored, &delta.state_after).await?;
        let removed = remove_uids(&mut tx, folder, &delta.vanished).await?;
        let flags_changed = change_flags(&mut tx, folder, &delta.changed).await?;
        let new = write_messages(&mut tx, stored.account, folder, &delta.new_messages).await?;
        tx.commit().await.map_err(sql("commit a delta"))?;
        Ok(DeltaApplied {
            flags_changed,
            removed,
            stored: new,
        })
    }

    /// Stores flag changes and, in the same transaction, the new HIGHESTMODSEQ if given.
    /// Returns how many stored messages changed.
    pub async fn apply_flag_changes(
        &self,
        folder: FolderId,
        changes: &[FlagChange],
        highest_modseq: Option<u64>,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        folder_row(&mut tx, folder).await?;
        let changed = change_flags(&mut tx, folder, changes).await?;
        if let Some(modseq) = highest_modseq {
            write_highest_modseq(&mut tx, folder, modseq).await?;
        }
        tx.commit().await.map_err(sql("commit flag changes"))?;
        Ok(changed)
    }

    /// Removes expunged messages and, in the same transaction, stores the new HIGHESTMODSEQ
    /// if given. Returns how many stored messages were removed.
    pub async fn apply_expunges(
        &self,
        folder: FolderId,
        vanished: &[UidRange],
        highest_modseq: Option<u64>,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        folder_row(&mut tx, folder).await?;
        let removed = remove_uids(&mut tx, folder, vanished).await?;
        if let Some(modseq) = highest_modseq {
            write_highest_modseq(&mut tx, folder, modseq).await?;
        }
        tx.commit().await.map_err(sql("commit expunges"))?;
        Ok(removed)
    }
}

/// Removes the messages in a batch of `[first, last]` UID ranges; the batch is the outer loop
/// (`CROSS JOIN`), so each range is one range scan of the (folder, uid) index.
pub(super) const REMOVE_UIDS: &str = "
    DELETE FROM messages WHERE id IN (
        SELECT m.id FROM json_each(?2) AS r
        CROSS JOIN messages AS m
          ON m.folder_id = ?1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1)";

/// Replaces flags from a batch. The batch is matched to rows first (batch outer, one index
/// lookup each) and materialized, so the UPDATE never scans the folder.
pub(super) const CHANGE_FLAGS: &str = "
    WITH c (id, flags, keywords, modseq) AS MATERIALIZED (
        SELECT m.id, c.value ->> 'flags', c.value ->> 'keywords', c.value ->> 'modseq'
        FROM json_each(?2) AS c
        CROSS JOIN messages AS m ON m.folder_id = ?1 AND m.uid = c.value ->> 'uid'
        WHERE m.modseq <= c.value ->> 'modseq')
    UPDATE messages SET flags = c.flags, keywords = c.keywords, modseq = c.modseq
    FROM c WHERE messages.id = c.id";

/// Deletes the folder's messages in the given UID ranges (parts, search rows and thread
/// links follow through cascades and triggers). Each range is one index range scan.
async fn remove_uids(
    conn: &mut SqliteConnection,
    folder: FolderId,
    vanished: &[UidRange],
) -> Result<u64> {
    if vanished.is_empty() {
        return Ok(0);
    }
    let ranges: Vec<(u32, u32)> = vanished.iter().map(|r| (r.first, r.last)).collect();
    let removed = sqlx::query(REMOVE_UIDS)
        .bind(folder.0)
        .bind(batch_json(&ranges, "UID ranges")?)
        .execute(conn)
        .await
        .map_err(sql("remove expunged messages"))?
        .rows_affected();
    Ok(removed)
}

#[derive(Serialize)]
struct FlagRow<'a> {
    uid: u32,
    flags: u8,
    keywords: &'a [String],
    modseq: i64,
}

/// Replaces the flags of stored messages. A change older than what is stored (lower MODSEQ)
/// is skipped, so a late FETCH cannot undo a newer one.
pub(super) async fn change_flags(
    conn: &mut SqliteConnection,
    folder: FolderId,
    changes: &[FlagChange],
) -> Result<u64> {
    if changes.is_empty() {
        return Ok(0);
    }
    let rows = changes
        .iter()
        .map(|c| {
            Ok(FlagRow {
                uid: c.uid,
                flags: c.flags.system.bits(),
                keywords: &c.flags.keywords,
                modseq: int_u64(c.modseq, "MODSEQ")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let changed = sqlx::query(CHANGE_FLAGS)
        .bind(folder.0)
        .bind(batch_json(&rows, "flag changes")?)
        .execute(conn)
        .await
        .map_err(sql("store flag changes"))?
        .rows_affected();
    Ok(changed)
}
