//! Write-back: replays the queued local changes of an account to the server before a sync
//! reads what changed there: first moves, deletions and drafts (`sync::moves`), then flag
//! changes, folder by folder. A folder's changes are coalesced per message and flag (read
//! then unread sends nothing) and grouped, so many messages cost one `UID STORE` per flag
//! added and one per flag removed, each with a compact UID set, all in one flight.
//!
//! Within what the server allows: a keyword outside the folder's PERMANENTFLAGS (no `\*`,
//! not listed) is never sent; its queued rows are taken out and it stays on this device,
//! named local-only (`KeywordsLocalOnly`). Each STORE stands on its own: a NO or BAD holds
//! back that flag's changes alone, with the server's text as their error.
//!
//! Safety: with CONDSTORE every STORE carries `UNCHANGEDSINCE` = the folder's stored
//! HIGHESTMODSEQ, so a message changed elsewhere since our last sync is not overwritten: the
//! server refuses it (`MODIFIED`), we fetch its flags and decide per flag (see [`settle`]):
//! a flag the server holds at our value is settled (both sides agree); one still at the
//! value we knew was not touched there and is sent again, with `UNCHANGEDSINCE` raised to
//! the MODSEQs just fetched (any later change elsewhere gets a higher MODSEQ, so it is still
//! caught). A conflict (`ChangeDropped { Conflict }`, the server's value stands) is only a
//! disagreement left after the write-back. A message that no longer exists on the server
//! has its change dropped (`ChangeDropped { Expunged }`).
//!
//! Failures are counted per operation with exponential backoff; after [`MAX_ATTEMPTS`] the
//! operations are parked (kept, with their error, for the app to show). It must never send
//! a change whose queue rows are already gone, and never drop a row before the server (or a
//! decision against the server's newer value) has settled it: rows are removed in the same
//! store transaction that records the server's flags.

use std::collections::{BTreeMap, BTreeSet};

use super::{DropReason, EventSink, SyncEvent, convert};
use crate::{
    error::{Error, Result},
    imap::{ImapSession, StoreCommand},
    net::Purpose,
    store::{
        AccountId, FlagChange, FlagOpChange, FolderId, LocalKeyword, MessageFlagOps, Store,
        has_flag, keeps_flag, set_flag,
    },
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
    /// Messages whose queued keyword changes were kept on this device: the server cannot
    /// keep them (PERMANENTFLAGS).
    pub local_only: u32,
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
    let names = folder_names(store, account).await?;
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

/// One folder: SELECT it (unless the moves just did), keep locally what the server cannot
/// keep, then STORE rounds until every change is settled (or rounds run out).
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
    let mut noop_ops: Vec<i64> = noop.iter().flat_map(MessageFlagOps::all_ops).collect();
    if !noop_ops.is_empty() {
        store.complete_ops(&noop_ops).await?;
    }
    if live.is_empty() {
        return Ok(());
    }
    let state = store.folder_state(folder).await?;
    let selected = session.ensure_selected(name).await?;
    if state.uidvalidity.is_none() || selected.uid_validity != state.uidvalidity {
        // A new UIDVALIDITY: the folder sync drops the folder's rows, and the queue rows
        // with them (the UIDs they name mean other messages now).
        return Ok(());
    }
    // Keywords the server cannot keep were queued before we knew: they stay on this device.
    let permanent = selected
        .permanent_flags
        .clone()
        .unwrap_or_else(|| vec!["\\*".to_string()]);
    store.set_permanent_flags(folder, &permanent).await?;
    let local = keep_locally(&mut live, &permanent);
    if !local.is_empty() {
        let (mut uids, changes): (Vec<u32>, Vec<LocalKeyword>) = local.into_iter().unzip();
        store.keep_keywords_locally(&changes).await?;
        uids.dedup();
        report.local_only += u32::try_from(uids.len()).unwrap_or(u32::MAX);
        events.emit(SyncEvent::MessagesChanged {
            folder,
            uids: uids.clone(),
        });
        events.emit(SyncEvent::KeywordsLocalOnly { folder, uids });
    }
    noop_ops = take_empty(&mut live);
    if !noop_ops.is_empty() {
        store.complete_ops(&noop_ops).await?;
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
        // Every STORE of the round in one flight; each one stands on its own.
        let cmds = commands(&live);
        let outcomes = session.store_many(&cmds, unchanged_since).await?;
        report.stores += u32::try_from(cmds.len()).unwrap_or(u32::MAX);
        for (cmd, outcome) in cmds.iter().zip(outcomes) {
            match outcome {
                Ok(out) => {
                    for (uid, names, modseq) in out.changed {
                        reported.insert(uid, (names, modseq));
                    }
                    modified.extend(out.modified);
                }
                Err(e) => {
                    // Only this command's changes failed: they back off (or park) with its
                    // error; the others go on.
                    let failed = take_changes(&mut live, cmd);
                    report.failed += u32::try_from(failed.len()).unwrap_or(u32::MAX);
                    record_change_failures(store, events, folder, &failed, &e.to_string(), now)
                        .await?;
                }
            }
        }
        let noop_ops = take_empty(&mut live);
        if !noop_ops.is_empty() {
            store.complete_ops(&noop_ops).await?;
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

/// Takes out of `live` the keyword changes a server with these PERMANENTFLAGS cannot keep.
fn keep_locally(live: &mut [MessageFlagOps], permanent: &[String]) -> Vec<(u32, LocalKeyword)> {
    let mut out = Vec::new();
    for m in live.iter_mut() {
        let (keep, send): (Vec<FlagOpChange>, Vec<FlagOpChange>) = std::mem::take(&mut m.changes)
            .into_iter()
            .partition(|c| !keeps_flag(permanent, &c.flag));
        m.changes = send;
        out.extend(keep.into_iter().map(|c| {
            (
                m.uid,
                LocalKeyword {
                    message: m.message,
                    keyword: c.flag,
                    value: c.value,
                    ops: c.ops,
                },
            )
        }));
    }
    out
}

/// Removes the messages left with no change to send; returns their coalesced-away rows.
fn take_empty(live: &mut Vec<MessageFlagOps>) -> Vec<i64> {
    let mut ops = Vec::new();
    live.retain(|m| {
        if m.changes.is_empty() {
            ops.extend(m.noop_ops.iter().copied());
            false
        } else {
            true
        }
    });
    ops
}

/// Takes out of `live` the changes one STORE command stood for.
fn take_changes(live: &mut [MessageFlagOps], cmd: &StoreCommand) -> Vec<(u32, FlagOpChange)> {
    let mut out = Vec::new();
    for m in live.iter_mut().filter(|m| cmd.uids.contains(&m.uid)) {
        let (taken, kept): (Vec<FlagOpChange>, Vec<FlagOpChange>) =
            std::mem::take(&mut m.changes).into_iter().partition(|c| {
                c.value == cmd.add && cmd.flags.iter().any(|f| f.eq_ignore_ascii_case(&c.flag))
            });
        m.changes = kept;
        out.extend(taken.into_iter().map(|c| (m.uid, c)));
    }
    out
}

/// The STORE commands for a round: one per flag added and one per flag removed, each with
/// every message it applies to, so a command the server refuses holds back that flag alone.
fn commands(live: &[MessageFlagOps]) -> Vec<StoreCommand> {
    let mut groups: BTreeMap<(bool, String), Vec<u32>> = BTreeMap::new();
    for m in live {
        for c in &m.changes {
            groups
                .entry((c.value, c.flag.clone()))
                .or_default()
                .push(m.uid);
        }
    }
    // Adds before removes, larger groups first within each.
    let mut out: Vec<StoreCommand> = groups
        .into_iter()
        .map(|((add, flag), uids)| StoreCommand {
            uids,
            add,
            flags: vec![flag],
        })
        .collect();
    crate::sort::sort_by_key(&mut out, |c| (!c.add, std::cmp::Reverse(c.uids.len())));
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
/// `UNCHANGEDSINCE` refused.
///
/// - The server holds our value: settled, whoever set it (both sides setting the same flag
///   agree, and that is no conflict).
/// - Refused, and the flag still at the value we knew: not touched elsewhere, so ours is
///   sent again (with `UNCHANGEDSINCE` raised).
/// - Not refused, and still not our value after our STORE: the two sides disagree after the
///   write-back (changed again elsewhere meanwhile, or the server did not keep it). The
///   server's value stands, our change is dropped and the app is told (a conflict).
///
/// A flag changed elsewhere and changed back looks untouched (IMAP keeps no per-flag history;
/// without CONDSTORE not even the message's MODSEQ moves): ours is written, as if the other
/// side had not touched it.
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
            if has == change.value {
                out.done_ops.extend(change.ops);
            } else if refused {
                set_flag(&mut local, &change.flag, change.value);
                remaining.push(change);
            } else {
                lost = true;
                out.done_ops.extend(change.ops);
            }
        }
        out.server_flags.push(FlagChange {
            uid: m.uid,
            flags: local,
            modseq: modseq.unwrap_or(0),
        });
        if refused || lost {
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

/// Counts a failed attempt per change (one refused STORE): backoff, or parked after
/// [`MAX_ATTEMPTS`]. The error is the command's own, so the app reads why per operation.
async fn record_change_failures(
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    failed: &[(u32, FlagOpChange)],
    error: &str,
    now: i64,
) -> Result<()> {
    let mut by_attempts: BTreeMap<u32, Vec<&(u32, FlagOpChange)>> = BTreeMap::new();
    for f in failed {
        by_attempts.entry(f.1.attempts + 1).or_default().push(f);
    }
    for (attempts, group) in by_attempts {
        let ids: Vec<i64> = group
            .iter()
            .flat_map(|(_, c)| c.ops.iter().copied())
            .collect();
        store
            .record_op_failure(&ids, error, now + backoff(attempts))
            .await?;
        if attempts >= MAX_ATTEMPTS {
            store.park(&ids).await?;
            let mut uids: Vec<u32> = group.iter().map(|(uid, _)| *uid).collect();
            uids.dedup();
            events.emit(SyncEvent::ChangeDropped {
                folder,
                uids,
                reason: DropReason::Parked,
            });
        }
    }
    Ok(())
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

/// Each of the account's folders by id, with its name.
pub(super) async fn folder_names(
    store: &Store,
    account: AccountId,
) -> Result<BTreeMap<FolderId, String>> {
    Ok(crate::sort::map_from(
        store
            .folders(account)
            .await?
            .into_iter()
            .map(|f| (f.id, f.name)),
    ))
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
                    attempts: 0,
                })
                .collect(),
            noop_ops: Vec::new(),
            attempts: 0,
        }
    }

    fn cmd(flag: &str, uids: Vec<u32>, add: bool) -> StoreCommand {
        StoreCommand {
            uids,
            add,
            flags: vec![flag.to_string()],
        }
    }

    #[test]
    fn many_messages_make_one_command_per_flag() {
        let mut live: Vec<_> = (1..=100).map(|u| op(u, &[("\\Seen", true)])).collect();
        live.push(op(200, &[("\\Flagged", true), ("\\Seen", false)]));
        live.push(op(201, &[("\\Flagged", true), ("$Important", true)]));
        let cmds = commands(&live);
        assert_eq!(cmds.len(), 4);
        assert_eq!(cmds[0], cmd("\\Seen", (1..=100).collect(), true));
        assert_eq!(cmds[1], cmd("\\Flagged", vec![200, 201], true));
        assert_eq!(cmds[2], cmd("$Important", vec![201], true));
        assert_eq!(cmds[3], cmd("\\Seen", vec![200], false));
    }

    #[test]
    fn a_refused_command_takes_out_only_its_own_changes() {
        let mut live = vec![
            op(11, &[("\\Flagged", true), ("$Important", true)]),
            op(12, &[("$Important", true)]),
            op(13, &[("\\Seen", false)]),
        ];
        let failed = take_changes(&mut live, &cmd("$important", vec![11, 12], true));
        assert_eq!(
            failed
                .iter()
                .map(|(uid, c)| (*uid, c.flag.as_str()))
                .collect::<Vec<_>>(),
            [(11, "$Important"), (12, "$Important")]
        );
        assert!(take_empty(&mut live).is_empty());
        assert_eq!(live.iter().map(|m| m.uid).collect::<Vec<_>>(), [11, 13]);
        assert_eq!(live[0].changes[0].flag, "\\Flagged");
    }

    #[test]
    fn keywords_outside_permanentflags_stay_local() {
        let mailutils: Vec<String> = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
            .map(String::from)
            .to_vec();
        let mut live = vec![op(11, &[("\\Flagged", true), ("$Important", true)])];
        let local = keep_locally(&mut live, &mailutils);
        assert_eq!(local.len(), 1);
        assert_eq!(
            (local[0].0, local[0].1.keyword.as_str()),
            (11, "$Important")
        );
        assert_eq!(live[0].changes.len(), 1);
        let mut live = vec![op(11, &[("$Important", true)])];
        assert!(keep_locally(&mut live, &["\\*".to_string()]).is_empty());
        assert!(keep_locally(&mut live, &["$important".to_string()]).is_empty());
    }

    #[test]
    fn refused_messages_are_decided_per_flag() {
        // 7: we set \Seen and \Flagged; elsewhere \Flagged was set meanwhile (refused):
        //    both sides agree on \Flagged, no conflict; \Seen is sent again.
        // 8: we cleared \Answered; the STORE went through.
        // 9: gone from the server.
        // 10: we set \Flagged, the STORE went through, yet the server does not hold it:
        //    the sides disagree after the write-back, a conflict.
        let live = vec![
            op(7, &[("\\Seen", true), ("\\Flagged", true)]),
            op(8, &[("\\Answered", false)]),
            op(9, &[("\\Seen", true)]),
            op(10, &[("\\Flagged", true)]),
        ];
        let mut reported = BTreeMap::new();
        reported.insert(7, (vec!["\\Flagged".to_string()], Some(50)));
        reported.insert(8, (vec![], Some(51)));
        reported.insert(10, (vec!["\\Seen".to_string()], Some(52)));
        let modified = BTreeSet::from([7]);
        let s = settle(live, &reported, &[7, 9], &modified);
        assert_eq!(s.conflicts, [10]);
        assert_eq!(s.refreshed, [7, 10]);
        assert_eq!(s.expunged, [9]);
        assert_eq!(s.settled, 2);
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
