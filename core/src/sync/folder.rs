//! One folder's sync. The plan is chosen from the stored state and what the server reports:
//!
//! - **Unchanged**: LIST-STATUS/STATUS shows the same UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and
//!   message count: nothing else is sent, the folder is not selected.
//! - **Initial**: headers-first windows, newest first, each committed with the folder state
//!   before the next is used, until the sync window is satisfied or the budget runs out.
//! - **Delta**: QRESYNC (`SELECT … (QRESYNC …)` gives VANISHED and changed flags), CONDSTORE
//!   (`CHANGEDSINCE` plus the UID set), or a full flag scan; new mail by UID from the stored
//!   UIDNEXT. All of it lands in one transaction with the new HIGHESTMODSEQ, so an expunge is
//!   never lost and a message never comes back.
//! - **Reset**: a new UIDVALIDITY drops the folder's cached messages, then syncs from scratch.
//! - **Backfill**: an earlier sync stopped before the window was full; continue below the
//!   lowest synced UID.
//!
//! A message whose summary the server sends in a form that cannot be parsed (a broken
//! BODYSTRUCTURE, invalid UTF-8 where text is required) does not block the folder: it is
//! fetched again without BODYSTRUCTURE and stored with no parts (zero parts means "structure
//! unknown"; its body can still be fetched whole), counted in `without_structure`. One whose
//! envelope cannot be parsed either is skipped and counted in `unparsable`. Its window is
//! held back until then, so windows still commit in order, newest first.

use std::collections::BTreeSet;

use super::{Budget, EventSink, StopReason, SyncEvent, convert};
use crate::{
    error::{Error, Result},
    imap::{FolderStatus, ImapSession, QresyncParams, SelectedFolder, SummaryItems, Window},
    net::Purpose,
    policy::{ContentPolicy, SyncWindow},
    store::{Delta, FolderId, FolderSyncState, LOCAL_UID_BASE, Store, UidRange},
};

/// How a folder was synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncMode {
    Unchanged,
    Initial,
    Reset,
    DeltaQresync,
    DeltaCondstore,
    DeltaFullScan,
}

/// What happened to one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderReport {
    pub name: String,
    pub mode: SyncMode,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Older messages fetched below what was synced before.
    pub backfilled: u64,
    /// Snippets fetched for messages the server gave no PREVIEW for.
    pub snippets: u32,
    /// Bodies prefetched (unmetered policy).
    pub bodies: u32,
    /// Messages stored without their MIME structure (no parts): the server's summary of them
    /// could not be parsed, the one without BODYSTRUCTURE could.
    pub without_structure: u32,
    /// Messages skipped because not even their summary without BODYSTRUCTURE could be parsed.
    pub unparsable: u32,
    pub stopped: Option<StopReason>,
}

impl FolderReport {
    /// A report of nothing done yet.
    pub fn new(name: &str, mode: SyncMode) -> Self {
        FolderReport {
            name: name.to_string(),
            mode,
            added: 0,
            changed: 0,
            removed: 0,
            backfilled: 0,
            snippets: 0,
            bodies: 0,
            without_structure: 0,
            unparsable: 0,
            stopped: None,
        }
    }
}

pub(super) struct FolderSync<'a> {
    pub session: &'a mut ImapSession,
    pub store: &'a Store,
    pub folder: FolderId,
    pub name: &'a str,
    pub window: SyncWindow,
    pub budget: &'a Budget,
    pub now: i64,
    pub events: &'a dyn EventSink,
    pub content: ContentPolicy,
}

impl FolderSync<'_> {
    /// Syncs the folder. `status` comes from LIST-STATUS/STATUS; `preselected` is a SELECT
    /// already done in the LIST flight (plain, no QRESYNC parameters).
    pub(super) async fn run(
        mut self,
        status: Option<FolderStatus>,
        preselected: Option<SelectedFolder>,
    ) -> Result<FolderReport> {
        let stored = self.store.folder_state(self.folder).await?;
        let local_count = self.store.message_count(self.folder).await?;
        let mut report = FolderReport::new(self.name, SyncMode::Unchanged);
        let wants_backfill = |exists: u32| local_count < exists.min(self.window.min_messages);
        if let (Some(status), Some(_)) = (status, stored.uidvalidity)
            && unchanged(&stored, &status)
            && !wants_backfill(stored.exists)
            && !super::content::wanted(self.store, self.folder, &self.content).await?
        {
            return Ok(report);
        }
        self.budget.set_purpose(Purpose::SyncMetadata);
        let qresync = match (stored.uidvalidity, stored.highest_modseq) {
            (Some(uid_validity), Some(highest_modseq)) if self.session.has_qresync() => {
                Some(QresyncParams {
                    uid_validity,
                    highest_modseq,
                })
            }
            _ => None,
        };
        let (sel, qresync) = match preselected {
            Some(sel) => (sel, None),
            None => (self.session.select(self.name, qresync).await?, qresync),
        };
        let uid_validity = sel
            .uid_validity
            .ok_or_else(|| Error::protocol("SELECT reported no UIDVALIDITY"))?;

        let mut state = match stored.uidvalidity {
            None => {
                report.mode = SyncMode::Initial;
                initial_state(&sel, uid_validity)
            }
            Some(old) if old != uid_validity => {
                report.mode = SyncMode::Reset;
                report.removed = self.store.reset_folder(self.folder, uid_validity).await?;
                self.events.emit(SyncEvent::FolderReset {
                    folder: self.folder,
                });
                initial_state(&sel, uid_validity)
            }
            Some(_) => {
                self.delta(&stored, &sel, qresync.is_some(), &mut report)
                    .await?;
                self.store.folder_state(self.folder).await?
            }
        };
        let synced = self.store.message_count(self.folder).await?;
        let first_pass = matches!(report.mode, SyncMode::Initial | SyncMode::Reset);
        if first_pass
            || (synced < sel.exists.min(self.window.min_messages) && !self.budget.exhausted())
        {
            let top = match state.lowest_uid_synced {
                Some(lowest) if !first_pass => self.session.count_below(lowest).await?,
                _ => sel.exists,
            };
            let fetched = self.windows(&mut state, top, synced, &mut report).await?;
            if first_pass {
                report.added += fetched;
            } else {
                report.backfilled += fetched;
            }
            if top == 0 && first_pass {
                // An empty folder: still record its state.
                self.store.set_folder_state(self.folder, &state).await?;
            }
        }
        report.snippets = super::content::fetch_snippets(
            self.session,
            self.store,
            self.folder,
            &self.content,
            self.budget,
            self.events,
        )
        .await?;
        report.bodies = super::content::prefetch_bodies(
            self.session,
            self.store,
            self.folder,
            &self.content,
            self.budget,
        )
        .await?;
        Ok(report)
    }

    /// Headers-first windows from sequence number `top` downwards, newest first.
    async fn windows(
        &mut self,
        state: &mut FolderSyncState,
        top: u32,
        already: u32,
        report: &mut FolderReport,
    ) -> Result<u64> {
        let plan = plan_windows(top, self.window.first_window, self.window.window);
        if plan.is_empty() {
            return Ok(0);
        }
        let items = self.items();
        let (folder, window) = (self.folder, self.window);
        let mut synced = already;
        let mut fetched = 0u64;
        let mut stopped = None;
        let mut stop = false;
        let mut pending: Option<Pending> = None;
        // Three phases: the first window alone, so the first screen pays for nothing more;
        // then, pipelined, the windows the count rule needs anyway; then one window at a time
        // while the age rule still wants older mail (a pipeline there would overfetch).
        let wanted = top.min(window.min_messages.saturating_sub(already));
        let mut covered = 0u32;
        let counted = plan
            .iter()
            .take_while(|w| {
                let before = covered;
                covered += window_len(w);
                before < wanted
            })
            .count()
            .max(1);
        let (first, rest) = plan.split_at(1);
        let (counted, aged) = rest.split_at(counted - 1);
        // Under a byte budget nothing is pipelined ahead: a stop must not leave windows in
        // flight that overshoot it.
        let depth = if self.budget.is_limited() {
            1
        } else {
            window.pipeline_depth
        };
        let mut phases = vec![(first, 1)];
        phases.push((counted, depth));
        phases.extend(aged.chunks(1).map(|w| (w, 1)));
        for (batch, depth) in phases {
            if stop {
                break;
            }
            if batch.is_empty() {
                continue;
            }
            // A window with unparsable messages is held: the windows in flight behind it are
            // read and dropped, it is completed without those messages' structure and
            // committed, and the rest of the batch is fetched again from there.
            let mut batch = batch;
            while !batch.is_empty() {
                let mut fetch = self.session.start_summaries(batch, false, items, depth);
                let (mut held, mut rest): (Option<Window>, &[String]) = (None, &[]);
                loop {
                    let next = pull_committing(
                        self.session,
                        self.store,
                        self.events,
                        folder,
                        &mut fetch,
                        &mut pending,
                    )
                    .await?;
                    let w = match next {
                        Some(_) if held.is_some() => continue,
                        Some(w) if !w.unparsable.is_empty() => {
                            fetch.stop_sending();
                            held = Some(w);
                            continue;
                        }
                        Some(w) => w,
                        None => match held.take() {
                            Some(w) => {
                                rest = batch.get(w.index + 1..).unwrap_or_default();
                                commit(self.store, self.events, folder, pending.take()).await?;
                                self.without_structure(w, report).await?
                            }
                            None => break,
                        },
                    };
                    // Windows already in flight when we stopped are committed too: they are paid for.
                    if w.messages.is_empty() {
                        continue;
                    }
                    let lowest = w.messages.iter().map(|m| m.uid).min();
                    let oldest = w.messages.iter().filter_map(|m| m.internal_date).min();
                    state.lowest_uid_synced = match (state.lowest_uid_synced, lowest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let count = w.messages.len() as u32;
                    let messages: Vec<_> = w.messages.into_iter().map(convert::message).collect();
                    synced += count;
                    fetched += u64::from(count);
                    // Committed while the next window is read (see `pull_committing`).
                    pending = Some(Pending {
                        messages,
                        state: *state,
                        synced,
                    });
                    if self.budget.exhausted() {
                        stopped = self.budget.stop_reason();
                        stop = true;
                    } else if window.satisfied(synced, oldest, self.now) {
                        stop = true;
                    }
                    if stop {
                        fetch.stop_sending();
                    }
                }
                commit(self.store, self.events, folder, pending.take()).await?;
                batch = if stop { &[] } else { rest };
            }
        }
        report.stopped = report.stopped.or(stopped);
        Ok(fetched)
    }

    /// Fetches a window's unparsable messages again without BODYSTRUCTURE and adds them to
    /// it; those that still do not parse are skipped. Both are counted in `report`.
    async fn without_structure(
        &mut self,
        mut w: Window,
        report: &mut FolderReport,
    ) -> Result<Window> {
        let retried = self
            .session
            .summaries_without_structure(&w.unparsable)
            .await?;
        report.unparsable += retried.unparsable.len() as u32;
        for m in retried.messages {
            if !w.messages.iter().any(|have| have.uid == m.uid) {
                report.without_structure += 1;
                w.messages.push(m);
            }
        }
        Ok(w)
    }

    /// Everything that changed since the stored state, applied in one transaction.
    async fn delta(
        &mut self,
        stored: &FolderSyncState,
        sel: &SelectedFolder,
        qresync: bool,
        report: &mut FolderReport,
    ) -> Result<()> {
        let condstore = self.session.has_condstore()
            && stored.highest_modseq.is_some()
            && sel.highest_modseq.is_some()
            && !sel.no_modseq;
        let (changed, vanished) = if qresync {
            report.mode = SyncMode::DeltaQresync;
            let vanished = sel.vanished.iter().map(|u| UidRange::single(*u)).collect();
            (
                sel.changed
                    .iter()
                    .filter_map(convert::flag_change)
                    .collect::<Vec<_>>(),
                vanished,
            )
        } else {
            let changed_since = if condstore {
                stored.highest_modseq
            } else {
                None
            };
            report.mode = if condstore {
                SyncMode::DeltaCondstore
            } else {
                SyncMode::DeltaFullScan
            };
            let updates = if condstore && sel.highest_modseq == stored.highest_modseq {
                Vec::new()
            } else {
                self.session.fetch_flags(changed_since).await?
            };
            let server: BTreeSet<u32> = if condstore {
                self.session.all_uids().await?.into_iter().collect()
            } else {
                updates.iter().filter_map(|u| u.uid).collect()
            };
            let local = self.store.uids(self.folder).await?;
            // Local UIDs (a move or draft not yet written back) are not the server's to judge.
            let vanished = local
                .into_iter()
                .filter(|u| *u < LOCAL_UID_BASE && !server.contains(u))
                .map(UidRange::single)
                .collect();
            (
                updates.iter().filter_map(convert::flag_change).collect(),
                vanished,
            )
        };

        let old_next = stored.uidnext.unwrap_or(1);
        let mut new_messages = Vec::new();
        let mut late_vanished = Vec::new();
        if sel.uid_next.is_some_and(|next| next > old_next) {
            let items = self.items();
            let depth = self.window.pipeline_depth;
            let mut fetch =
                self.session
                    .start_summaries(&[format!("{old_next}:*")], true, items, depth);
            // Messages whose summary did not parse, fetched again once the fetch is done.
            let mut retry = Window::default();
            while let Some(w) = self.session.next_window(&mut fetch).await? {
                new_messages.extend(
                    w.messages
                        .into_iter()
                        .filter(|m| m.uid >= old_next)
                        .map(convert::message),
                );
                late_vanished.extend(w.vanished);
                retry.unparsable.extend(w.unparsable);
            }
            if !retry.unparsable.is_empty() {
                let retried = self.without_structure(retry, report).await?;
                let fresh: Vec<_> = retried
                    .messages
                    .into_iter()
                    .filter(|m| m.uid >= old_next && !new_messages.iter().any(|n| n.uid == m.uid))
                    .collect();
                new_messages.extend(fresh.into_iter().map(convert::message));
            }
        }
        let mut vanished: Vec<UidRange> = vanished;
        vanished.extend(late_vanished.into_iter().map(UidRange::single));
        new_messages.retain(|m| {
            !vanished
                .iter()
                .any(|r| (r.first()..=r.last()).contains(&m.uid))
        });
        let state_after = FolderSyncState {
            uidvalidity: sel.uid_validity,
            uidnext: sel.uid_next.or(stored.uidnext),
            highest_modseq: if sel.no_modseq {
                None
            } else {
                sel.highest_modseq
            },
            lowest_uid_synced: stored
                .lowest_uid_synced
                .or_else(|| new_messages.iter().map(|m| m.uid).min()),
            exists: sel.exists,
        };
        let delta = Delta {
            changed,
            vanished,
            new_messages,
            state_after,
        };
        let applied = self.store.apply_delta(self.folder, &delta).await?;
        self.emit_delta(&delta, &applied.changed_uids);
        report.added += applied.stored;
        report.changed += applied.flags_changed;
        report.removed += applied.removed;
        Ok(())
    }

    /// Tells the app what a committed delta changed: `changed` are the stored messages whose
    /// flags really changed (not every message a flag scan listed).
    fn emit_delta(&self, delta: &Delta, changed: &[u32]) {
        let folder = self.folder;
        if !delta.vanished.is_empty() {
            let uids = delta
                .vanished
                .iter()
                .flat_map(|r| r.first()..=r.last())
                .take(100_000)
                .collect();
            self.events
                .emit(SyncEvent::MessagesRemoved { folder, uids });
        }
        if !changed.is_empty() {
            self.events.emit(SyncEvent::MessagesChanged {
                folder,
                uids: changed.to_vec(),
            });
        }
        if !delta.new_messages.is_empty() {
            let uids = delta.new_messages.iter().map(|m| m.uid).collect();
            self.events.emit(SyncEvent::MessagesAdded { folder, uids });
        }
    }

    fn items(&self) -> SummaryItems {
        SummaryItems {
            preview: self.session.capabilities().has("PREVIEW"),
            modseq: self.session.has_condstore(),
            references: true,
        }
    }
}

/// A received window waiting for its store transaction.
struct Pending {
    messages: Vec<crate::store::NewMessage>,
    state: FolderSyncState,
    /// Messages synced once this window is stored, for the progress event.
    synced: u32,
}

/// Reads the next window while the previous one is committed: the store's write and the
/// network read overlap instead of adding up. Events go out after the commit.
///
/// The commit runs as a task of its own: each of its statements is a hand-over between
/// sqlx's SQLite thread and the task driving it, and this task is busy parsing responses
/// for as long as the server keeps sending. Dropped midway, the commit still completes (or
/// rolls back) on its own: a window is stored whole or not at all.
async fn pull_committing(
    session: &mut ImapSession,
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    fetch: &mut crate::imap::SummaryFetch,
    pending: &mut Option<Pending>,
) -> Result<Option<Window>> {
    match pending.take() {
        None => session.next_window(fetch).await,
        Some(p) => {
            let store = store.clone();
            let commit = tokio::spawn(async move {
                store
                    .insert_window(folder, &p.state, &p.messages)
                    .await
                    .map(|()| p)
            });
            let (committed, next) = tokio::join!(commit, session.next_window(fetch));
            let p = committed.map_err(|_| Error::Store {
                reason: "the commit of a window stopped before it finished".into(),
                source: None,
            })??;
            announce(events, folder, &p);
            next
        }
    }
}

/// Commits a pending window, if any, and tells the app.
async fn commit(
    store: &Store,
    events: &dyn EventSink,
    folder: FolderId,
    pending: Option<Pending>,
) -> Result<()> {
    if let Some(p) = pending {
        store.insert_window(folder, &p.state, &p.messages).await?;
        announce(events, folder, &p);
    }
    Ok(())
}

fn announce(events: &dyn EventSink, folder: FolderId, p: &Pending) {
    let uids = p.messages.iter().map(|m| m.uid).collect();
    events.emit(SyncEvent::MessagesAdded { folder, uids });
    events.emit(SyncEvent::Progress {
        folder,
        synced: p.synced,
        total: p.state.exists,
    });
}

fn unchanged(stored: &FolderSyncState, status: &FolderStatus) -> bool {
    status.uid_validity == stored.uidvalidity
        && status.uid_next == stored.uidnext
        && status.highest_modseq.is_some()
        && status.highest_modseq == stored.highest_modseq
        && status.messages == Some(stored.exists)
}

fn initial_state(sel: &SelectedFolder, uid_validity: u32) -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(uid_validity),
        uidnext: sel.uid_next,
        highest_modseq: if sel.no_modseq {
            None
        } else {
            sel.highest_modseq
        },
        lowest_uid_synced: None,
        exists: sel.exists,
    }
}

/// How many messages a planned window (`"lo:hi"` or `"n"`) covers.
fn window_len(window: &str) -> u32 {
    match window.split_once(':') {
        Some((lo, hi)) => {
            hi.parse::<u32>()
                .unwrap_or(0)
                .saturating_sub(lo.parse().unwrap_or(0))
                + 1
        }
        None => 1,
    }
}

/// Sequence-number windows from `top` down to 1, newest first: `first` messages, then
/// windows growing fourfold up to `max`.
pub(super) fn plan_windows(top: u32, first: u32, max: u32) -> Vec<String> {
    let (first, max) = (first.max(1), max.max(1));
    let mut out = Vec::new();
    let mut hi = top;
    let mut size = first;
    while hi >= 1 {
        let lo = hi.saturating_sub(size - 1).max(1);
        out.push(if lo == hi {
            hi.to_string()
        } else {
            format!("{lo}:{hi}")
        });
        if lo == 1 {
            break;
        }
        hi = lo - 1;
        size = size.saturating_mul(4).min(max.max(first));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_message_once_newest_first() {
        assert_eq!(plan_windows(0, 50, 250), Vec::<String>::new());
        assert_eq!(plan_windows(1, 50, 250), vec!["1"]);
        assert_eq!(plan_windows(120, 50, 50), vec!["71:120", "21:70", "1:20"]);
        assert_eq!(
            plan_windows(2000, 50, 1000),
            vec!["1951:2000", "1751:1950", "951:1750", "1:950"]
        );
        let total: u32 = plan_windows(2000, 50, 250)
            .iter()
            .map(|w| window_len(w))
            .sum();
        assert_eq!(total, 2000);
    }
}
