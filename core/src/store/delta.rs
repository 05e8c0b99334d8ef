//! Applying what changed on the server since the last sync: flag changes, expunges (VANISHED)
//! and new messages. The invariant this module exists for: expunges and flag changes are
//! stored in the same transaction that moves the folder's HIGHESTMODSEQ, so a crash can never
//! lose an expunge (the next CHANGEDSINCE would start after it) or resurrect a message.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::SqliteConnection;

use super::{
    FolderId, Store,
    codec::{batch_json, col, col_strings, col_u32, col_u64, int_u64},
    folders::{FolderSyncState, folder_row, write_highest_modseq, write_state},
    messages::{Flags, Indexing, NewMessage, SystemFlags, write_messages},
    objectid::{Takeover, clear_checks, expunge, take_over},
    ops::set_flag,
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
    /// Messages that appeared with the EMAILID of a stored row, which they take over
    /// (OBJECTID; see `objectid`). One the store cannot take over any more is stored as an
    /// incomplete message (UID and flags), fetched whole by the next sync.
    pub taken_over: Vec<Takeover>,
    /// UIDs listed for an OBJECTID check that this delta asked the server about: done.
    pub checked: Vec<u32>,
    /// The folder state once all of the above is stored.
    pub state_after: FolderSyncState,
}

/// What a delta did to the stored rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeltaApplied {
    /// Stored messages whose flags changed (a row whose flags already matched is not
    /// counted).
    pub flags_changed: u64,
    /// Their UIDs, sorted: the ones to tell the app about.
    pub changed_uids: Vec<u32>,
    /// Stored messages removed.
    pub removed: u64,
    /// New messages stored.
    pub stored: u64,
    /// UIDs of `taken_over` messages that did take over their row, ascending.
    pub taken_over: Vec<u32>,
    /// Where the live rows taken over were (folder, UID): gone from there for the app.
    pub left: Vec<(FolderId, u32)>,
}

impl Store {
    /// Applies a whole delta (expunges, flag changes, new messages, new sync state) in one
    /// transaction: either all of it is stored or, on any error, none of it.
    pub async fn apply_delta(&self, folder: FolderId, delta: &Delta) -> Result<DeltaApplied> {
        let mut tx = self.write().await?;
        let stored = folder_row(&mut tx, folder).await?;
        write_state(&mut tx, folder, &stored, &delta.state_after).await?;
        let removed = remove_uids(&mut tx, folder, &delta.vanished).await?;
        let changed_uids = change_flags(&mut tx, folder, &delta.changed).await?;
        let taken = take_over(&mut tx, folder, &delta.taken_over).await?;
        let mut taken_over = taken.uids;
        taken_over.sort_unstable();
        // A row gone meanwhile: the message is stored by its UID and flags, and fetched
        // whole by the next sync.
        let stubs: Vec<NewMessage> = delta
            .taken_over
            .iter()
            .filter(|t| taken_over.binary_search(&t.uid).is_err())
            .map(|t| NewMessage {
                uid: t.uid,
                modseq: t.modseq,
                flags: t.flags.clone(),
                incomplete: true,
                ..NewMessage::default()
            })
            .collect();
        let mut new = write_messages(
            &mut tx,
            stored.account,
            folder,
            &delta.new_messages,
            Indexing::Now,
        )
        .await?;
        new += write_messages(&mut tx, stored.account, folder, &stubs, Indexing::Now).await?;
        clear_checks(&mut tx, folder, &delta.checked).await?;
        tx.commit().await.map_err(sql("commit a delta"))?;
        Ok(DeltaApplied {
            flags_changed: changed_uids.len() as u64,
            changed_uids,
            removed,
            stored: new,
            taken_over,
            left: taken.left,
        })
    }

    /// Stores flag changes and, in the same transaction, the new HIGHESTMODSEQ if given.
    /// Returns how many stored messages' flags changed.
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
        Ok(changed.len() as u64)
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
/// (`CROSS JOIN`), so each range is one range scan of the (folder, uid) index. Rows with an
/// EMAILID are not removed but kept as tombstones (`objectid::expunge`).
pub(super) const REMOVE_UIDS: &str = "
    DELETE FROM messages WHERE id IN (
        SELECT m.id FROM json_each(?2) AS r
        CROSS JOIN messages AS m
          ON m.folder_id = ?1 AND m.uid BETWEEN r.value ->> 0 AND r.value ->> 1
        WHERE m.email_id IS NULL)";

/// The stored flags and MODSEQ of a batch of UIDs: the batch is the outer loop, one
/// (folder, uid) index lookup per UID, so a flag scan never walks the folder.
pub(super) const CHANGE_FLAGS: &str = "
    SELECT m.id, m.uid, m.flags, m.keywords, m.local_keywords, m.modseq
    FROM json_each(?2) AS j
    CROSS JOIN messages AS m ON m.folder_id = ?1 AND m.uid = j.value";

/// Writes new flags for a batch of rows, one rowid lookup per row.
pub(super) const WRITE_FLAGS: &str = "
    UPDATE messages SET flags = u.value ->> 'flags', keywords = u.value ->> 'keywords',
                        modseq = u.value ->> 'modseq'
    FROM json_each(?1) AS u WHERE messages.id = u.value ->> 'id'";

/// The queued (not yet written back) flag changes of a batch of rows, oldest first.
const QUEUED_FLAGS: &str = "
    SELECT o.message_id, o.flag, o.before, o.value
    FROM json_each(?1) AS j
    CROSS JOIN pending_ops AS o ON o.message_id = j.value
    WHERE o.kind = 'flag'
    ORDER BY o.id";

/// Deletes the folder's messages in the given UID ranges (parts, search rows and thread
/// links follow through cascades and triggers), or keeps those with an EMAILID as
/// tombstones (`objectid`). Each range is one index range scan.
async fn remove_uids(
    conn: &mut SqliteConnection,
    folder: FolderId,
    vanished: &[UidRange],
) -> Result<u64> {
    if vanished.is_empty() {
        return Ok(0);
    }
    let ranges: Vec<(u32, u32)> = vanished.iter().map(|r| (r.first, r.last)).collect();
    expunge(conn, folder, &batch_json(&ranges, "UID ranges")?).await
}

#[derive(Serialize)]
struct FlagRow<'a> {
    id: i64,
    flags: u8,
    keywords: &'a [String],
    modseq: i64,
}

/// Stores the server's flags for stored messages and returns the UIDs whose flags really
/// changed, sorted: a row whose flags already match is left alone and not reported (a full
/// flag scan without CONDSTORE sends every message's flags on every sync). A change older
/// than what is stored (lower MODSEQ) is skipped, so a late FETCH cannot undo a newer one;
/// a newer MODSEQ with the same flags is stored without being reported. Flags the app
/// changed locally and that are still queued for the server keep the app's value: the
/// server's value would only undo them until the write-back is through. Local-only keywords
/// (the server cannot keep them) stay too.
pub(super) async fn change_flags(
    conn: &mut SqliteConnection,
    folder: FolderId,
    changes: &[FlagChange],
) -> Result<Vec<u32>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    // The newest change per UID (by MODSEQ; the later one of equals).
    let mut wanted: BTreeMap<u32, &FlagChange> = BTreeMap::new();
    for c in changes {
        let slot = wanted.entry(c.uid).or_insert(c);
        if c.modseq >= slot.modseq {
            *slot = c;
        }
    }
    let uids: Vec<u32> = wanted.keys().copied().collect();
    let rows = sqlx::query(CHANGE_FLAGS)
        .bind(folder.0)
        .bind(batch_json(&uids, "UIDs")?)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read stored flags"))?;
    let mut stored = Vec::with_capacity(rows.len());
    let mut local: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for row in &rows {
        let bits: i64 = col(row, "flags")?;
        let kept = col_strings(row, "local_keywords")?;
        if !kept.is_empty() {
            local.insert(col::<i64>(row, "id")?, kept);
        }
        stored.push((
            col::<i64>(row, "id")?,
            col_u32(row, "uid")?,
            Flags {
                system: SystemFlags::from_bits_truncate(u8::try_from(bits & 0x1f).unwrap_or(0)),
                keywords: col_strings(row, "keywords")?,
            },
            col_u64(row, "modseq")?,
        ));
    }
    let ids: Vec<i64> = stored.iter().map(|(id, ..)| *id).collect();
    let queued = queued_flags(conn, &ids).await?;

    let mut writes = Vec::new();
    let mut changed = Vec::new();
    for (id, uid, flags, modseq) in &stored {
        let Some(change) = wanted.get(uid) else {
            continue;
        };
        if *modseq > change.modseq {
            continue;
        }
        let mut new = change.flags.clone();
        for keyword in local.get(id).into_iter().flatten() {
            set_flag(&mut new, keyword, true);
        }
        for (flag, value) in queued.get(id).into_iter().flatten() {
            set_flag(&mut new, flag, *value);
        }
        let differs = !same_flags(flags, &new);
        if differs || *modseq != change.modseq {
            writes.push((*id, new, int_u64(change.modseq, "MODSEQ")?));
        }
        if differs {
            changed.push(*uid);
        }
    }
    if !writes.is_empty() {
        let rows: Vec<FlagRow<'_>> = writes
            .iter()
            .map(|(id, flags, modseq)| FlagRow {
                id: *id,
                flags: flags.system.bits(),
                keywords: &flags.keywords,
                modseq: *modseq,
            })
            .collect();
        sqlx::query(WRITE_FLAGS)
            .bind(batch_json(&rows, "flag changes")?)
            .execute(&mut *conn)
            .await
            .map_err(sql("store flag changes"))?;
    }
    changed.sort_unstable();
    Ok(changed)
}

/// Per row, the flags whose queued changes net to a new value (read then unread is
/// nothing), with that value.
async fn queued_flags(
    conn: &mut SqliteConnection,
    ids: &[i64],
) -> Result<BTreeMap<i64, Vec<(String, bool)>>> {
    let mut out: BTreeMap<i64, Vec<(String, bool)>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(QUEUED_FLAGS)
        .bind(batch_json(ids, "message ids")?)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read queued flag changes"))?;
    // Per row and flag: the value before the first queued change, the last value wanted.
    let mut nets: BTreeMap<(i64, String), (bool, bool)> = BTreeMap::new();
    for row in &rows {
        let id: i64 = col(row, "message_id")?;
        let flag: String = col(row, "flag")?;
        let before = col::<i64>(row, "before")? != 0;
        let value = col::<i64>(row, "value")? != 0;
        nets.entry((id, flag)).or_insert((before, value)).1 = value;
    }
    for ((id, flag), (before, value)) in nets {
        if before != value {
            out.entry(id).or_default().push((flag, value));
        }
    }
    Ok(out)
}

/// The same system flags and the same keywords (IMAP keywords are case-insensitive; their
/// order means nothing).
fn same_flags(a: &Flags, b: &Flags) -> bool {
    if a.system != b.system {
        return false;
    }
    if a.keywords == b.keywords {
        return true;
    }
    let set = |k: &[String]| crate::sort::set_from(k.iter().map(|s| s.to_ascii_lowercase()));
    set(&a.keywords) == set(&b.keywords)
}
