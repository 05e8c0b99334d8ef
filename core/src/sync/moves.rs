//! Write-back of the mailbox operations (moves, deletions, draft APPENDs), before the flag
//! changes of the same pass: flag changes queued on a moved message followed it to its new
//! folder and wait until the move has given it its server UID (then they go to that UID).
//!
//! Order: APPENDs first (a replaced draft is expunged only once its new version is on the
//! server), then moves grouped per (source, target) folder pair — one `UID MOVE` (or
//! `UID COPY` + `\Deleted` + `UID EXPUNGE`) per pair, compact UID sets — then expunges
//! grouped per folder (`UID STORE +FLAGS.SILENT (\Deleted)` + `UID EXPUNGE`, never a plain
//! EXPUNGE). A move by COPY is recorded (rows re-keyed, its queue row turned into an expunge
//! of the original) before the originals are removed, so a failure in between never copies
//! twice. COPYUID and APPENDUID re-key the local rows in the transaction that removes the
//! queue rows, so cached bodies and downloaded files stay with the message and nothing is
//! fetched again. A message gone from the source folder is dropped with
//! `ChangeDropped { Expunged }`. Failures use the flag write-back's backoff and parking; a
//! row it cannot act on at all (its folders are not the account's or do not fit its kind, a
//! draft without bytes) is parked at once with the reason (`ChangeDropped { Parked }`),
//! never skipped in silence and never sent: no APPEND of zero bytes.
//! It must never send an operation whose queue row is gone, and never remove a queue row
//! before the server has done (or made moot) what it asks.

use std::collections::BTreeMap;

use super::{DropReason, EventSink, MAX_ATTEMPTS, SyncEvent, WriteBackReport, writeback::backoff};
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
    let names: BTreeMap<FolderId, String> = store
        .folders(account)
        .await?
        .into_iter()
        .map(|f| (f.id, f.name))
        .collect();
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
                if fatal(&e) {
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
        )
        .await
        {
            fail(store, events, &group, &e, now).await?;
            if fatal(&e) {
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
        )
        .await
        {
            fail(store, events, &group, &e, now).await?;
            if fatal(&e) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// One (source, target) pair: SELECT the source, move, settle by COPYUID.
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
    if !uids.is_empty() {
        let out = if session.has_move() {
            report.moves += 1;
            session.move_uids(&uids, to).await?
        } else {
            report.copies += 1;
            session.copy_uids(&uids, to).await?
        };
        // With UIDPLUS a UID absent from COPYUID was not in the folder any more.
        let knows = out.reported || session.has_uidplus();
        for op in live {
            let moved = op
                .source_uid
                .and_then(|s| out.moved.iter().find(|(from, _)| *from == s))
                .map(|(_, to)| *to);
            match (moved.is_some(), op.source_uid) {
                (true, Some(uid)) if !out.used_move => {
                    settled.copied.push(op.id);
                    copied.push(uid);
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
    if !copied.is_empty() {
        // The copies are recorded (their queue rows are expunges now): remove the originals.
        // A failure here retries only the expunge.
        session.expunge_uids(&copied).await?;
        report.expunges += 1;
        let done = MailboxSettled {
            done: settled.copied.clone(),
            ..MailboxSettled::default()
        };
        commit(store, events, &done).await?;
    }
    Ok(())
}

/// One folder's expunges: SELECT it, `\Deleted` + `UID EXPUNGE` of exactly those UIDs.
async fn expunge_group(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    (source, name): (FolderId, &str),
    group: &[&MailboxOp],
    selected: &mut Option<(FolderId, Option<u32>)>,
    report: &mut WriteBackReport,
) -> Result<()> {
    let uid_validity = select(session, selected, source, name).await?;
    let uids: Vec<u32> = group
        .iter()
        .filter(|op| op.source_uidvalidity.is_some() && op.source_uidvalidity == uid_validity)
        .filter_map(|op| op.source_uid)
        .collect();
    if !uids.is_empty() {
        session.expunge_uids(&uids).await?;
        report.expunges += 1;
        report.settled += u32::try_from(uids.len()).unwrap_or(u32::MAX);
    }
    let settled = MailboxSettled {
        done: group.iter().map(|op| op.id).collect(),
        ..MailboxSettled::default()
    };
    commit(store, events, &settled).await
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
    announce_parked(events, group);
    Ok(())
}

/// `ChangeDropped { Parked }` for the rows that name a message by folder and UID.
fn announce_parked(events: &dyn EventSink, group: &[&MailboxOp]) {
    let mut by_folder: BTreeMap<FolderId, Vec<u32>> = BTreeMap::new();
    for op in group {
        if let (Some(folder), Some(uid)) = (op.source.or(op.target), op.source_uid) {
            by_folder.entry(folder).or_default().push(uid);
        }
    }
    for (folder, uids) in by_folder {
        events.emit(SyncEvent::ChangeDropped {
            folder,
            uids,
            reason: DropReason::Parked,
        });
    }
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
        announce_parked(events, group);
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

/// Errors after which the session cannot be used any more.
fn fatal(e: &Error) -> bool {
    matches!(
        e,
        Error::ConnectionClosed | Error::Io(_) | Error::Timeout { .. } | Error::Protocol { .. }
    )
}
