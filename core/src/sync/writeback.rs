//! Write-back: replays the queued local changes of an account to the server before a sync
//! reads what changed there: first moves, deletions and drafts (`sync::moves`), then flag
//! changes, folder by folder. A folder's changes are coalesced per
//! message and flag (read then unread sends nothing) and grouped, so many messages cost one
//! `UID STORE` per distinct set of flags added and one per set removed, each with a compact
//! UID set.
//!
//! Safety: with CONDSTORE every STORE carries `UNCHANGEDSINCE` = the folder's stored
//! HIGHESTMODSEQ, so a message changed elsewhere since our last sync is not overwritten: the
//! server refuses it (`MODIFIED`), we fetch its flags and decide per flag. A flag whose server
//! value differs from the value we last knew was changed elsewhere: the server's value wins,
//! our change is dropped and the app is told (`ChangeDropped { Conflict }`). A flag the server
//! left alone is sent again, with `UNCHANGEDSINCE` raised to the MODSEQs just fetched (any
//! later change elsewhere gets a higher MODSEQ, so it is still caught). A message that no
//! longer exists on the server has its change dropped (`ChangeDropped { Expunged }`).
//!
//! Failures are counted per message with exponential backoff; after [`MAX_ATTEMPTS`] the
//! operations are parked (kept, with their error, for the app to show). It must never send
//! a change whose queue rows are already gone, and never drop a row before the server (or a
//! decision against the server's newer value) has settled it: rows are removed in the same
//! store transaction that records the server's flags.

use std::collections::{BTreeMap, BTreeSet};

use super::{DropReason, EventSink, SyncEvent, convert};
use crate::{
    error::{Error, Result},
    imap::ImapSession,
    net::Purpose,
    store::{AccountId, FlagChange, FolderId, MessageFlagOps, Store, has_flag, set_flag},
};

/// Failed attempts after which a queued operation is parked.
pub const MAX_ATTEMPTS: u32 = 5;

/// Why a queued flag change naming another account's folder is parked.
const NOT_THIS_ACCOUNT: &str =
    "inconsistent queued change: its folder is not one of this account's";

/// STORE rounds per folder and sync (a round after the first only re-sends flags refused
/// by `UNCHANGEDSINCE` that the server had not changed).
const MAX_ROUNDS: usize = 3;

/// What a write-back pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBackReport {
    /// Messages whose queued changes were settled (written, or resolved for the server).
    pub settled: u32,
    /// `UID STORE` commands sent.
    pub stores: u32,
    /// `UID FETCH` commands sent to look at refused or unreported messages.
    pub fetches: u32,
    /// Messages where a server-side change won over ours.
    pub conflicts: u32,
    /// Messages expunged on the server whose changes were dropped.
    pub expunged: u32,
    /// Messages whose changes failed this time (retried later, or parked).
    pub failed: u32,
    /// `UID MOVE` commands sent (see `sync::moves`).
    pub moves: u32,
    /// `UID COPY` commands sent (moves on a server without MOVE).
    pub copies: u32,
    /// `UID EXPUNGE` commands sent (deletions, and moves by COPY).
    pub expunges: u32,
    /// `APPEND` commands sent (drafts).
    pub appends: u32,
}

/// Replays every folder's ready operations over a logged-in session. Errors that leave the
/// connection unusable end the pass (after the attempt is recorded); a folder's own failure
/// (a NO) is recorded and the pass goes on. The wire bytes count as `Purpose::WriteBack`.
pub async fn write_back(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    now: i64,
    events: &dyn EventSink,
) -> Result<WriteBackReport> {
    let mut report = WriteBackReport::default();
    // Moves, deletions and drafts first: flag changes of a moved message wait for its UID.
    session.meter().set_purpose(Purpose::WriteBack);
    let mailbox =
        super::moves::write_back_mailbox(session, store, account, now, events, &mut report).await;
    session.meter().set_purpose(Purpose::SyncMetadata);
    mailbox?;
    let folders = store.folders_with_pending_ops(account, now).await?;
    if folders.is_empty() {
        return Ok(report);
    }
    let names: BTreeMap<FolderId, String> = store
        .folders(account)
        .await?
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect();
    session.meter().set_purpose(Purpose::WriteBack);
    let mut result = Ok(());
    for folder in folders {
        let Some(name) = names.get(&folder) else {
            // Rows naming a folder that is not this account's: nothing can be sent for them.
            // Parked at once with the reason, so they are listed and not retried forever.
            let left = store.pending_flag_ops(folder, now).await?;
            if left.is_empty() {
                continue;
            }
            report.failed += u32::try_from(left.len()).unwrap_or(u32::MAX);
            let ids: Vec<i64> = left.iter().flat_map(MessageFlagOps::all_ops).collect();
            store.record_op_failure(&ids, NOT_THIS_ACCOUNT, now).await?;
            store.park(&ids).await?;
            events.emit(SyncEvent::ChangeDropped {
                folder,
                uids: left.iter().map(|m| m.uid).collect(),
                reason: DropReason::Parked,
            });
            continue;
        };
        if let Err(e) =
            write_back_folder(session, store, folder, name, now, events, &mut report).await
        {
            let left = store.pending_flag_ops(folder, now).await?;
            report.failed += u32::try_from(left.len()).unwrap_or(u32::MAX);
            record_failure(store, events, folder, &left, &e.to_string(), now).await?;
            if matches!(
                e,
                Error::ConnectionClosed
                    | Error::Io(_)
                    | Error::Timeout { .. }
                    | Error::Protocol { .. }
            ) {
                result = Err(e);
                break;
            }
        }
    }
    session.meter().set_purpose(Purpose::SyncMetadata);
    result.map(|()| report)
}

/// One folder: SELECT it, then STORE rounds until every change is settled (or rounds run out).
async fn write_back_folder(
    session: &mut ImapSession,
    store: &Store,
    folder: FolderId,
    name: &str,
    now: i64,
    events: &dyn EventSink,
    report: &mut WriteBackReport,
) -> Result<()> {
    let (noop, mut live): (Vec<MessageFlagOps>, Vec<MessageFlagOps>) = store
        .pending_flag_ops(folder, now)
        .await?
        .into_iter()
        .partition(|m| m.changes.is_empty());
    let noop_ops: Vec<i64> = noop.iter().flat_map(MessageFlagOps::all_ops).collect();
    if !noop_ops.is_empty() {
        store.complete_ops(&noop_ops).await?;
    }
    if live.is_empty() {
        return Ok(());
    }
    let state = store.folder_state(folder).await?;
    let selected = session.select(name, None).await?;
    if state.uidvalidity.is_none() || selected.uid_validity != state.uidvalidity {
        // A new UIDVALIDITY: the folder sync drops the folder's rows, and the queue rows
        // with them (the UIDs they name mean other messages now).
        return Ok(());
    }
    let mut unchanged_since = match (session.has_condstore(), selected.no_modseq) {
        (true, false) => state.highest_modseq,
        _ => None,
    };

    for _ in 0..MAX_ROUNDS {
        if live.is_empty() {
            break;
        }
        let mut reported: BTreeMap<u32, (Vec<String>, Option<u64>)> = BTreeMap::new();
        let mut modified: BTreeSet<u32> = BTreeSet::new();
        for (flags, uids, add) in commands(&live) {
            let out = session
                .store_flags(&uids, add, &flags, unchanged_since)
                .await?;
            report.stores += 1;
            for (uid, names, modseq) in out.changed {
                reported.insert(uid, (names, modseq));
            }
            modified.extend(out.modified);
        }
        // Refused messages, and messages the server said nothing about (their flags were
        // already as asked, or they are gone): look at them.
        let look: Vec<u32> = live
            .iter()
            .map(|m| m.uid)
            .filter(|uid| modified.contains(uid) || !reported.contains_key(uid))
            .collect();
        if !look.is_empty() {
            report.fetches += 1;
            for update in session.fetch_flags_of(&look).await? {
                if let Some(uid) = update.uid {
                    reported.insert(uid, (update.flags, update.modseq));
                }
            }
        }
        let settled = settle(std::mem::take(&mut live), &reported, &look, &modified);
        store
            .complete_ops_with_flags(Some(folder), &settled.done_ops, &settled.server_flags)
            .await?;
        report.settled += settled.settled;
        report.conflicts += u32::try_from(settled.conflicts.len()).unwrap_or(u32::MAX);
        report.expunged += u32::try_from(settled.expunged.len()).unwrap_or(u32::MAX);
        if !settled.refreshed.is_empty() {
            events.emit(SyncEvent::MessagesChanged {
                folder,
                uids: settled.refreshed,
            });
        }
        if !settled.conflicts.is_empty() {
            events.emit(SyncEvent::ChangeDropped {
                folder,
                uids: settled.conflicts,
                reason: DropReason::Conflict,
            });
        }
        if !settled.expunged.is_empty() {
            events.emit(SyncEvent::ChangeDropped {
                folder,
                uids: settled.expunged,
                reason: DropReason::Expunged,
            });
        }
        live = settled.again;
        if unchanged_since.is_some() {
            unchanged_since = settled.max_modseq.or(unchanged_since);
        }
    }
    if !live.is_empty() {
        report.failed += u32::try_from(live.len()).unwrap_or(u32::MAX);
        record_failure(
            store,
            events,
            folder,
            &live,
            "the server kept refusing the change",
            now,
        )
        .await?;
    }
    Ok(())
}

/// The STORE commands for a round: one per distinct set of flags added, one per set removed.
fn commands(live: &[MessageFlagOps]) -> Vec<(Vec<String>, Vec<u32>, bool)> {
    let mut groups: BTreeMap<(bool, Vec<String>), Vec<u32>> = BTreeMap::new();
    for m in live {
        for add in [true, false] {
            let mut flags: Vec<String> = m
                .changes
                .iter()
                .filter(|c| c.value == add)
                .map(|c| c.flag.clone())
                .collect();
            if flags.is_empty() {
                continue;
            }
            flags.sort();
            groups.entry((add, flags)).or_default().push(m.uid);
        }
    }
    // Adds before removes, larger groups first within each.
    let mut out: Vec<(Vec<String>, Vec<u32>, bool)> = groups
        .into_iter()
        .map(|((add, flags), uids)| (flags, uids, add))
        .collect();
    out.sort_by_key(|(_, uids, add)| (!*add, std::cmp::Reverse(uids.len())));
    out
}

/// What a round decided, to be committed in one transaction.
#[derive(Debug, Default)]
struct Settled {
    done_ops: Vec<i64>,
    server_flags: Vec<FlagChange>,
    settled: u32,
    /// Refused messages whose stored flags were replaced by the server's (plus ours still
    /// to be sent).
    refreshed: Vec<u32>,
    conflicts: Vec<u32>,
    expunged: Vec<u32>,
    /// Changes the server refused but did not change itself: sent again next round.
    again: Vec<MessageFlagOps>,
    /// The highest MODSEQ among the messages sent again.
    max_modseq: Option<u64>,
}

/// Decides per message and flag from what the server reported. `looked` are the UIDs fetched
/// afterwards: one of them with no answer is gone from the server. `modified` are the UIDs
/// `UNCHANGEDSINCE` refused: for those, a flag whose server value is no longer the one we
/// knew was changed elsewhere too (the server's change stands, and the app is told); a flag
/// still at the value we knew was not touched there, and ours is sent again. (A flag changed
/// elsewhere and back again looks untouched: IMAP keeps no per-flag history.)
fn settle(
    live: Vec<MessageFlagOps>,
    reported: &BTreeMap<u32, (Vec<String>, Option<u64>)>,
    looked: &[u32],
    modified: &BTreeSet<u32>,
) -> Settled {
    let mut out = Settled::default();
    for mut m in live {
        let Some((names, modseq)) = reported.get(&m.uid) else {
            if looked.contains(&m.uid) {
                out.done_ops.extend(m.all_ops());
                out.expunged.push(m.uid);
            } else {
                out.again.push(m);
            }
            continue;
        };
        let refused = modified.contains(&m.uid);
        let server = convert::flags(names);
        let mut local = server.clone();
        let mut lost = false;
        out.done_ops.append(&mut m.noop_ops);
        let mut remaining = Vec::new();
        for change in std::mem::take(&mut m.changes) {
            let has = has_flag(&server, &change.flag);
            if has != change.before {
                // Written by us, or (refused) changed elsewhere since we last knew.
                lost |= refused;
                out.done_ops.extend(change.ops);
            } else {
                set_flag(&mut local, &change.flag, change.value);
                remaining.push(change);
            }
        }
        out.server_flags.push(FlagChange {
            uid: m.uid,
            flags: local,
            modseq: modseq.unwrap_or(0),
        });
        if refused {
            out.refreshed.push(m.uid);
        }
        if lost {
            out.conflicts.push(m.uid);
        }
        if remaining.is_empty() {
            out.settled += 1;
        } else {
            out.max_modseq = out.max_modseq.max(*modseq);
            m.changes = remaining;
            out.again.push(m);
        }
    }
    out
}

/// Counts a failed attempt per message: backoff, or parked after [`MAX_ATTEMPTS`].
async fn record_failure(
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    ops: &[MessageFlagOps],
    error: &str,
    now: i64,
) -> Result<()> {
    let (park, retry): (Vec<&MessageFlagOps>, Vec<&MessageFlagOps>) =
        ops.iter().partition(|m| m.attempts + 1 >= MAX_ATTEMPTS);
    for (group, parked) in [(retry, false), (park, true)] {
        let Some(attempts) = group.iter().map(|m| m.attempts + 1).max() else {
            continue;
        };
        let ids: Vec<i64> = group.iter().flat_map(|m| m.all_ops()).collect();
        store
            .record_op_failure(&ids, error, now + backoff(attempts))
            .await?;
        if parked {
            store.park(&ids).await?;
            let uids = group.iter().map(|m| m.uid).collect();
            events.emit(SyncEvent::ChangeDropped {
                folder,
                uids,
                reason: DropReason::Parked,
            });
        }
    }
    Ok(())
}

/// Seconds to wait after the n-th failed attempt: 30 s doubling, at most an hour.
pub(super) fn backoff(attempts: u32) -> i64 {
    (30_i64 << attempts.saturating_sub(1).min(7)).min(3600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FlagOpChange, MessageId};

    fn op(uid: u32, changes: &[(&str, bool)]) -> MessageFlagOps {
        MessageFlagOps {
            message: MessageId(i64::from(uid)),
            uid,
            changes: changes
                .iter()
                .map(|(f, v)| FlagOpChange {
                    flag: (*f).into(),
                    before: !v,
                    value: *v,
                    ops: vec![i64::from(uid)],
                })
                .collect(),
            noop_ops: Vec::new(),
            attempts: 0,
        }
    }

    #[test]
    fn many_messages_make_one_command_per_flag_set() {
        let mut live: Vec<_> = (1..=100).map(|u| op(u, &[("\\Seen", true)])).collect();
        live.push(op(200, &[("\\Flagged", true), ("\\Seen", false)]));
        let cmds = commands(&live);
        assert_eq!(cmds.len(), 3);
        assert_eq!(
            cmds[0],
            (vec!["\\Seen".to_string()], (1..=100).collect(), true)
        );
        assert_eq!(cmds[2], (vec!["\\Seen".to_string()], vec![200], false));
    }

    #[test]
    fn refused_messages_are_decided_per_flag() {
        // 7: we set \Seen and \Flagged; elsewhere \Flagged was set meanwhile (refused).
        // 8: we cleared \Answered; the STORE went through.
        // 9: gone from the server.
        let live = vec![
            op(7, &[("\\Seen", true), ("\\Flagged", true)]),
            op(8, &[("\\Answered", false)]),
            op(9, &[("\\Seen", true)]),
        ];
        let mut reported = BTreeMap::new();
        reported.insert(7, (vec!["\\Flagged".to_string()], Some(50)));
        reported.insert(8, (vec![], Some(51)));
        let modified = BTreeSet::from([7]);
        let s = settle(live, &reported, &[7, 9], &modified);
        assert_eq!(s.conflicts, [7]);
        assert_eq!(s.refreshed, [7]);
        assert_eq!(s.expunged, [9]);
        assert_eq!(s.settled, 1);
        assert_eq!(s.again.len(), 1);
        assert_eq!(s.again[0].changes.len(), 1);
        assert_eq!(s.again[0].changes[0].flag, "\\Seen");
        assert_eq!(s.max_modseq, Some(50));
        let stored_7 = &s.server_flags[0].flags;
        assert!(has_flag(stored_7, "\\Seen") && has_flag(stored_7, "\\Flagged"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), 30);
        assert_eq!(backoff(2), 60);
        assert_eq!(backoff(5), 480);
        assert_eq!(backoff(20), 3600);
    }
}
