//! Write-back of the mailbox operations (moves, deletions, draft APPENDs), before the flag
//! changes of the same pass: flag changes queued on a moved message followed it to its new
//! folder and wait until the move has given it its server UID (then they go to that UID).
//!
//! Order: APPENDs first (a replaced draft is expunged only once its new version is on the
//! server), then moves grouped per (source, target) folder pair — one `UID MOVE` (or
//! `UID COPY` + `\Deleted` + expunge) per pair, compact UID sets — then expunges grouped
//! per folder (`UID STORE +FLAGS.SILENT (\Deleted)` + `UID EXPUNGE`). Without UIDPLUS a
//! plain EXPUNGE is sent only when `UID SEARCH DELETED` right before finds no `\Deleted`
//! message but ours; otherwise ours stay marked, hidden locally, and their rows *wait*
//! (reason in `last_error`, no attempt counted, tried again by every sync). A move by COPY
//! is recorded (rows re-keyed, its queue row turned into an expunge of the original) before
//! the originals are removed, so a failure in between never copies twice. COPYUID and
//! APPENDUID re-key the local rows in the transaction that removes the queue rows, so cached
//! bodies and downloaded files stay with the message and nothing is fetched again; without
//! COPYUID the copies are found by Message-ID in the target (`UID SEARCH HEADER`), and a
//! message without one is fetched by the target's sync like new mail. A message gone from
//! the source folder is dropped with `ChangeDropped { Expunged }`. Failures use the flag
//! write-back's backoff and parking; a row it cannot act on at all (its folders are not the
//! account's or do not fit its kind, a draft without bytes) or that can never succeed (the
//! server does not keep `\Deleted` in the folder) is parked at once with the reason
//! (`ChangeDropped { Parked }`), never skipped in silence and never sent: no APPEND of zero
//! bytes.
//! It must never send an operation whose queue row is gone, and never remove a queue row
//! before the server has done (or made moot) what it asks.

use std::collections::BTreeMap;

use super::{
    DropReason, EventSink, MAX_ATTEMPTS, SyncEvent, WriteBackReport,
    writeback::{backoff, folder_names},
};
use crate::{
    blobs,
    error::{Error, Result},
    imap::ImapSession,
    store::{
        AccountId, DraftRecord, Flags, FolderId, LocalChanges, MailboxOp, MailboxOpKind,
        MailboxSettled, Rekey, Store, SystemFlags,
    },
};

/// Flags a draft is appended with.
const DRAFT_FLAGS: [&str; 2] = ["\\Draft", "\\Seen"];

/// Replays the account's ready mailbox operations. Connection-level errors end the pass
/// (after the failed attempt is recorded); a refused command only backs its operations off.
pub(super) async fn write_back_mailbox(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    now: i64,
    events: &dyn EventSink,
    report: &mut WriteBackReport,
) -> Result<()> {
    let ops = store.pending_mailbox_ops(account, now).await?;
    if ops.is_empty() {
        return Ok(());
    }
    let names = folder_names(store, account).await?;
    // Every row goes to exactly one group. A row the write-back cannot act on (folders that
    // are not this account's or do not fit its kind, a draft without bytes) is parked at once
    // with the reason: listed for the app, never retried, never sent.
    let folder = |f: Option<FolderId>| f.and_then(|f| names.get(&f).map(|n| (f, n.as_str())));
    let mut appends: Vec<(&MailboxOp, &str, &[u8])> = Vec::new();
    let mut moves: BTreeMap<(FolderId, FolderId), (&str, &str, Vec<&MailboxOp>)> = BTreeMap::new();
    let mut expunges: BTreeMap<FolderId, (&str, Vec<&MailboxOp>)> = BTreeMap::new();
    let mut inconsistent: BTreeMap<&'static str, Vec<&MailboxOp>> = BTreeMap::new();
    for op in &ops {
        match (op.kind, folder(op.source), folder(op.target)) {
            (MailboxOpKind::Append, _, Some((_, to))) => match op.raw.as_deref() {
                Some(raw) if !raw.is_empty() => appends.push((op, to, raw)),
                _ => inconsistent.entry(NO_BYTES).or_default().push(op),
            },
            (MailboxOpKind::Move, Some((s, from)), Some((t, to))) => {
                moves
                    .entry((s, t))
                    .or_insert_with(|| (from, to, Vec::new()))
                    .2
                    .push(op);
            }
            (MailboxOpKind::Expunge, Some((s, from)), _) => {
                expunges
                    .entry(s)
                    .or_insert_with(|| (from, Vec::new()))
                    .1
                    .push(op);
            }
            _ => inconsistent.entry(NO_FOLDER).or_default().push(op),
        }
    }
    for (reason, group) in &inconsistent {
        report.failed += u32::try_from(group.len()).unwrap_or(u32::MAX);
        park_now(store, events, group, reason, now).await?;
    }

    // The folder selected last and its UIDVALIDITY: groups of one source need one SELECT.
    let mut selected: Option<(FolderId, Option<u32>)> = None;
    let mut append_failed = false;
    for (op, name, raw) in appends {
        let outcome = session.append(name, &DRAFT_FLAGS, raw).await;
        report.appends += 1;
        match outcome {
            Ok(out) => {
                let mut settled = MailboxSettled {
                    done: vec![op.id],
                    ..MailboxSettled::default()
                };
                match (op.message, op.target, out.uid) {
                    (Some(message), Some(folder), Some((uidvalidity, uid))) => {
                        settled.rekeyed.push(Rekey {
                            message,
                            folder,
                            uidvalidity,
                            uid,
                        });
                    }
                    // No APPENDUID: the folder's sync brings the message in.
                    (Some(message), ..) => settled.dropped.push(message),
                    _ => {}
                }
                commit(store, events, &settled).await?;
            }
            Err(e) => {
                append_failed = true;
                fail(store, events, &[op], &e, now).await?;
                if e.leaves_connection_unusable() {
                    return Err(e);
                }
            }
        }
    }

    for ((source, target), (from, to, group)) in moves {
        if let Err(e) = move_group(
            session,
            store,
            events,
            (source, from),
            (target, to),
            &group,
            &mut selected,
            report,
            now,
        )
        .await
        {
            fail(store, events, &group, &e, now).await?;
            if e.leaves_connection_unusable() {
                return Err(e);
            }
        }
    }

    if append_failed {
        return Ok(()); // a replaced draft stays on the server until its new version is there
    }
    for (source, (name, group)) in expunges {
        if let Err(e) = expunge_group(
            session,
            store,
            events,
            (source, name),
            &group,
            &mut selected,
            report,
            now,
        )
        .await
        {
            fail(store, events, &group, &e, now).await?;
            if e.leaves_connection_unusable() {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// One (source, target) pair: SELECT the source, move, settle by COPYUID (or, without it,
/// by the copies' Message-IDs in the target), then remove the originals of a COPY.
#[allow(clippy::too_many_arguments)]
async fn move_group(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    (source, from): (FolderId, &str),
    (target, to): (FolderId, &str),
    group: &[&MailboxOp],
    selected: &mut Option<(FolderId, Option<u32>)>,
    report: &mut WriteBackReport,
    now: i64,
) -> Result<()> {
    let uid_validity = select(session, selected, source, from).await?;
    let mut settled = MailboxSettled::default();
    let mut live = Vec::new();
    for op in group {
        if op.source_uidvalidity.is_some() && op.source_uidvalidity == uid_validity {
            live.push(*op);
        } else {
            // The source's UIDs mean other messages now: nothing can be moved by them.
            settled.done.push(op.id);
            settled.dropped.extend(op.message);
        }
    }
    let uids: Vec<u32> = live.iter().filter_map(|op| op.source_uid).collect();
    let mut gone = Vec::new();
    let mut copied = Vec::new();
    let mut unidentified = None;
    if !uids.is_empty() {
        let mut out = if session.has_move() {
            report.moves += 1;
            session.move_uids(&uids, to).await?
        } else {
            report.copies += 1;
            session.copy_uids(&uids, to).await?
        };
        // With UIDPLUS a UID absent from COPYUID was not in the folder any more.
        let knows = out.reported || session.has_uidplus();
        if !knows {
            // No COPYUID: find the copies by Message-ID. A failure here still records the
            // copy below (so a retry never copies twice); the error ends the group after.
            match identify(session, store, selected, (target, to), &live).await {
                Ok((uidvalidity, found)) => {
                    out.uidvalidity = uidvalidity;
                    out.moved = found;
                }
                Err(e) => unidentified = Some(e),
            }
        }
        for op in live {
            let moved = op
                .source_uid
                .and_then(|s| out.moved.iter().find(|(from, _)| *from == s))
                .map(|(_, to)| *to);
            // Without COPYUID every UID we copied may have been copied: removing the
            // original of one that was gone already does nothing.
            match op.source_uid {
                Some(_) if !out.used_move && (moved.is_some() || !knows) => {
                    settled.copied.push(op.id);
                    copied.push(op);
                }
                _ => settled.done.push(op.id),
            }
            match (moved, out.uidvalidity, op.message) {
                (Some(uid), Some(uidvalidity), Some(message)) => settled.rekeyed.push(Rekey {
                    message,
                    folder: target,
                    uidvalidity,
                    uid,
                }),
                // Moved, new UID unknown (no COPYUID, no Message-ID found): the target's
                // sync fetches it like new mail.
                (Some(_), ..) => settled.dropped.extend(op.message),
                (None, ..) => {
                    settled.dropped.extend(op.message);
                    if knows {
                        gone.extend(op.source_uid);
                    }
                }
            }
        }
        report.settled += u32::try_from(uids.len() - gone.len()).unwrap_or(u32::MAX);
        report.expunged += u32::try_from(gone.len()).unwrap_or(u32::MAX);
    }
    commit(store, events, &settled).await?;
    if !gone.is_empty() {
        events.emit(SyncEvent::ChangeDropped {
            folder: source,
            uids: gone,
            reason: DropReason::Expunged,
        });
    }
    if let Some(e) = unidentified {
        return Err(e);
    }
    if !copied.is_empty() {
        // The copies are recorded (their queue rows are expunges now): remove the originals.
        // A failure here retries only the expunge.
        if select(session, selected, source, from).await? != uid_validity {
            // The source was reset in between: its UIDs mean other messages now.
            let done = MailboxSettled {
                done: settled.copied.clone(),
                ..MailboxSettled::default()
            };
            return commit(store, events, &done).await;
        }
        remove(session, store, events, &copied, report, now).await?;
    }
    Ok(())
}

/// Finds the copies of moved messages in the target by Message-ID (a server without
/// COPYUID): SELECTs the target, returns its UIDVALIDITY and (source UID, target UID) for
/// each message found. Messages without a Message-ID are not looked for.
async fn identify(
    session: &mut ImapSession,
    store: &Store,
    selected: &mut Option<(FolderId, Option<u32>)>,
    (target, to): (FolderId, &str),
    ops: &[&MailboxOp],
) -> Result<(Option<u32>, Vec<(u32, u32)>)> {
    let messages: Vec<_> = ops.iter().filter_map(|op| op.message).collect();
    let headers = store.header_message_ids(&messages).await?;
    let wanted: Vec<(u32, &str)> = ops
        .iter()
        .filter_map(|op| Some((op.source_uid?, headers.get(&op.message?)?.as_str())))
        .collect();
    if wanted.is_empty() {
        return Ok((None, Vec::new()));
    }
    let uidvalidity = select(session, selected, target, to).await?;
    // Stored without its angle brackets; searched with them (HEADER matches substrings).
    let ids: Vec<String> = wanted
        .iter()
        .map(|(_, id)| match id.starts_with('<') {
            true => (*id).to_string(),
            false => format!("<{id}>"),
        })
        .collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found = session.uids_by_message_id(&ids).await?;
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for ((source_uid, _), uid) in wanted.iter().zip(found) {
        // Two moved messages with one Message-ID: the first takes the UID, the other is
        // fetched by the target's sync.
        if let Some(uid) = uid
            && !pairs.iter().any(|(_, taken)| *taken == uid)
        {
            pairs.push((*source_uid, uid));
        }
    }
    Ok((uidvalidity, pairs))
}

/// One folder's expunges: SELECT it, then remove exactly those UIDs ([`remove`]).
#[allow(clippy::too_many_arguments)]
async fn expunge_group(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    (source, name): (FolderId, &str),
    group: &[&MailboxOp],
    selected: &mut Option<(FolderId, Option<u32>)>,
    report: &mut WriteBackReport,
    now: i64,
) -> Result<()> {
    let uid_validity = select(session, selected, source, name).await?;
    let (live, stale): (Vec<&MailboxOp>, Vec<&MailboxOp>) = group.iter().partition(|op| {
        op.source_uid.is_some()
            && op.source_uidvalidity.is_some()
            && op.source_uidvalidity == uid_validity
    });
    if !stale.is_empty() {
        let settled = MailboxSettled {
            done: stale.iter().map(|op| op.id).collect(),
            ..MailboxSettled::default()
        };
        commit(store, events, &settled).await?;
    }
    remove(session, store, events, &live, report, now).await
}

/// Removes the source UIDs of `rows` from the selected folder (`\Deleted` + `UID EXPUNGE`,
/// or without UIDPLUS a plain EXPUNGE when it is safe) and settles their queue rows: done
/// when the message is gone; waiting (kept, reason recorded, no attempt counted, tried
/// again by the next sync) when another client's `\Deleted` message makes a plain EXPUNGE
/// unsafe; parked at once with the reason and `ChangeDropped { Parked }` when the server does
/// not keep `\Deleted` in the folder (it can never be removed).
async fn remove(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    rows: &[&MailboxOp],
    report: &mut WriteBackReport,
    now: i64,
) -> Result<()> {
    let uids: Vec<u32> = rows.iter().filter_map(|op| op.source_uid).collect();
    if uids.is_empty() {
        return Ok(());
    }
    let out = session.expunge_uids(&uids).await?;
    report.expunges += 1;
    let has = |set: &[u32], op: &MailboxOp| op.source_uid.is_some_and(|u| set.contains(&u));
    let (waiting, rest): (Vec<&MailboxOp>, Vec<&MailboxOp>) =
        rows.iter().partition(|op| has(&out.waiting, op));
    let (never, done): (Vec<&MailboxOp>, Vec<&MailboxOp>) =
        rest.into_iter().partition(|op| has(&out.not_kept, op));
    report.settled += u32::try_from(done.len()).unwrap_or(u32::MAX);
    let settled = MailboxSettled {
        done: done.iter().map(|op| op.id).collect(),
        ..MailboxSettled::default()
    };
    commit(store, events, &settled).await?;
    if !waiting.is_empty() {
        let ids: Vec<i64> = waiting.iter().map(|op| op.id).collect();
        store
            .record_mailbox_waiting(&ids, &waiting_reason(out.others_deleted))
            .await?;
    }
    if !never.is_empty() {
        report.failed += u32::try_from(never.len()).unwrap_or(u32::MAX);
        park_now(store, events, &never, NO_DELETED, now).await?;
    }
    Ok(())
}

/// Why a removal waits (its `last_error` meanwhile).
fn waiting_reason(others: usize) -> String {
    format!(
        "waiting for a safe EXPUNGE: the server lacks UIDPLUS (no UID EXPUNGE), and {others} \
         other message(s) in the folder are marked \\Deleted by another client, which a plain \
         EXPUNGE would remove too; the message is marked \\Deleted and tried again on every sync"
    )
}

/// SELECTs a folder unless it is the one selected last; returns its UIDVALIDITY.
async fn select(
    session: &mut ImapSession,
    selected: &mut Option<(FolderId, Option<u32>)>,
    folder: FolderId,
    name: &str,
) -> Result<Option<u32>> {
    if let Some((current, uid_validity)) = *selected
        && current == folder
    {
        return Ok(uid_validity);
    }
    *selected = None;
    let uid_validity = session.select(name, None).await?.uid_validity;
    *selected = Some((folder, uid_validity));
    Ok(uid_validity)
}

/// Commits a settled round and tells the app what changed locally.
async fn commit(store: &Store, events: &dyn EventSink, settled: &MailboxSettled) -> Result<()> {
    let (LocalChanges { removed, .. }, rekeyed) = store.complete_mailbox_ops(settled).await?;
    for (folder, uids) in removed {
        events.emit(SyncEvent::MessagesRemoved { folder, uids });
    }
    for (folder, uids) in rekeyed {
        events.emit(SyncEvent::MessagesChanged { folder, uids });
    }
    Ok(())
}

/// Why a queue row the write-back cannot act on is parked (its `last_error`).
const NO_FOLDER: &str =
    "inconsistent queued operation: its folders are not this account's or do not fit its kind";
const NO_BYTES: &str = "inconsistent queued operation: the draft to append has no bytes";
const NO_DELETED: &str = "can never be written back: the server does not keep \\Deleted in this \
     folder (read-only, or not in its PERMANENTFLAGS), so the message cannot be removed from it";

/// Parks rows the write-back cannot act on, with the reason, and tells the app.
async fn park_now(
    store: &Store,
    events: &dyn EventSink,
    group: &[&MailboxOp],
    reason: &str,
    now: i64,
) -> Result<()> {
    let ids: Vec<i64> = group.iter().map(|op| op.id).collect();
    store
        .record_mailbox_failure(&ids, reason, now, true)
        .await?;
    announce_parked(store, events, group).await
}

/// `ChangeDropped { Parked }` for parked rows, by where the app sees the message: its local
/// row's folder and UID (a moved message in its target, a draft in Drafts), else the server
/// UID the row names (a deletion).
async fn announce_parked(
    store: &Store,
    events: &dyn EventSink,
    group: &[&MailboxOp],
) -> Result<()> {
    let mut by_folder: BTreeMap<FolderId, Vec<u32>> = BTreeMap::new();
    for op in group {
        let local = match op.message {
            Some(message) => store.message_location(message).await?,
            None => None,
        };
        let place = match local {
            Some(l) => Some((l.folder, l.uid)),
            None => op.source.zip(op.source_uid),
        };
        if let Some((folder, uid)) = place {
            by_folder.entry(folder).or_default().push(uid);
        }
    }
    for (folder, mut uids) in by_folder {
        uids.sort_unstable();
        uids.dedup();
        events.emit(SyncEvent::ChangeDropped {
            folder,
            uids,
            reason: DropReason::Parked,
        });
    }
    Ok(())
}

/// Counts a failed attempt: backoff, or parked after [`MAX_ATTEMPTS`].
async fn fail(
    store: &Store,
    events: &dyn EventSink,
    group: &[&MailboxOp],
    error: &Error,
    now: i64,
) -> Result<()> {
    let Some(attempts) = group.iter().map(|op| op.attempts + 1).max() else {
        return Ok(());
    };
    let ids: Vec<i64> = group.iter().map(|op| op.id).collect();
    let park = attempts >= MAX_ATTEMPTS;
    store
        .record_mailbox_failure(&ids, &error.to_string(), now + backoff(attempts), park)
        .await?;
    if park {
        announce_parked(store, events, group).await?;
    }
    Ok(())
}

/// A draft's local row from its raw bytes: headers, parts and readable body as a POP3 download
/// stores them (the same parser), flagged `\Draft \Seen`, dated `now`.
pub fn draft_record(raw: Vec<u8>, now: i64) -> Result<DraftRecord> {
    let (message, text_zstd, html_zstd) = {
        let Some(parsed) = super::pop3_parse::parse(&raw) else {
            return Err(Error::Config {
                reason: "the draft is empty".into(),
            });
        };
        let mut message = super::pop3_parse::headers(&parsed, raw.len() as u64, now, false);
        let full = super::pop3_parse::full(&parsed, false);
        message.parts = super::pop3_parse::new_parts(&full.parts);
        message.internal_date = now;
        message.flags = Flags {
            system: SystemFlags::DRAFT | SystemFlags::SEEN,
            keywords: Vec::new(),
        };
        let (text, html) = match &full.body {
            Some((true, html)) => (None, Some(blobs::compress(html)?)),
            Some((false, text)) => (Some(blobs::compress(text)?), None),
            None => (None, None),
        };
        if let Some((is_html, body)) = &full.body {
            message.preview = super::pop3_parse::body_preview(*is_html, body);
        }
        (message, text, html)
    };
    Ok(DraftRecord {
        message,
        text_zstd,
        html_zstd,
        raw,
    })
}
