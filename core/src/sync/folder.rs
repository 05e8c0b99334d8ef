//! One folder's sync. The plan is chosen from the stored state and what the server reports:
//!
//! - **Unchanged**: LIST-STATUS/STATUS shows the same UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and
//!   message count: nothing else is sent, the folder is not selected.
//! - **Initial**: headers-first windows, newest first, each committed with the folder state
//!   before the next is used, until the sync window is satisfied or the budget runs out.
//! - **Delta**: QRESYNC (`SELECT … (QRESYNC …)` gives VANISHED and changed flags), CONDSTORE
//!   (`CHANGEDSINCE` plus the UID set), or a full flag scan (pipelined with the SELECT, so an
//!   unchanged folder costs one round trip); new mail by UID from the stored UIDNEXT. All of it lands in one transaction with the new HIGHESTMODSEQ, so an expunge is
//!   never lost and a message never comes back.
//! - **Reset**: a new UIDVALIDITY drops the folder's cached messages, then syncs from scratch.
//! - **Backfill**: an earlier sync stopped before the window was full; continue below the
//!   lowest synced UID.
//!
//! Every message the server lists is accounted for (`recover`): one whose summary cannot be
//! read is stored with what could be read and marked incomplete, reported, and fetched again
//! by the next sync; the sync state never moves past one that could not be stored at all.
//! The windows of an initial sync or a backfill are in `windows`.
//!
//! PREVIEW is asked for where the server offers it, unless the account's store says this
//! server (by its fingerprint) answers it with NIL: the first summary window of a sync that
//! asked for it decides, when it has at least one readable message and all of them came
//! without a preview ([`PreviewMemo`]).

use std::collections::BTreeSet;

use super::{
    Budget, EventSink, StopReason, SyncEvent, convert,
    recover::{Recovery, store_bodies},
};
use crate::{
    error::{Error, Result},
    imap::{
        FlagUpdate, FolderStatus, ImapSession, QresyncParams, SelectedFolder, SeqSet, SummaryItems,
        Window,
    },
    limits::REFETCH_MAX,
    net::Purpose,
    policy::{ContentPolicy, SyncWindow},
    store::{Delta, DeltaApplied, FolderId, FolderSyncState, LOCAL_UID_BASE, Store, UidRange},
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
    /// Messages whose BODYSTRUCTURE could not be parsed: their parts (and References) were
    /// read from the message itself.
    pub structure_fallback: u32,
    /// UIDs of messages stored incomplete by this sync: their summary could not be read in
    /// full, so only what could be read is stored (at least the UID and flags). The next sync
    /// fetches them again.
    pub incomplete: Vec<u32>,
    /// Messages stored incomplete by an earlier sync (or listed by the server but missing
    /// from the store) that this sync fetched again.
    pub refetched: u32,
    /// Messages not stored at all: not even their UID could be read. The folder's sync state
    /// does not move past them, so the next sync asks for them again.
    pub unparsable: u32,
    /// Of `added`, messages recognised by their EMAILID (OBJECTID): moved or copied here by
    /// another client, they took over the stored row and content; nothing else was fetched.
    pub taken_over: u64,
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
            structure_fallback: 0,
            incomplete: Vec::new(),
            refetched: 0,
            unparsable: 0,
            taken_over: 0,
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
    /// The folder's walk was stopped part-way (preempted): it continues below what it
    /// stored, by the same rules as a first pass (count and age), not only to the count.
    pub resume: bool,
    /// What is known about the server's PREVIEW answers; loaded by `run`.
    pub preview: PreviewMemo,
    /// Folders synced earlier in this account pass: their live rows are known to be on the
    /// server, so a message with the EMAILID of one is a copy, not a move (`objectid`).
    pub settled: &'a [FolderId],
}

/// Whether to ask for PREVIEW, as learnt from the server's answers.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PreviewMemo {
    /// The server (by its fingerprint) answers every PREVIEW with NIL: not asked.
    nil: bool,
    /// A window that asked for PREVIEW has decided for this sync.
    decided: bool,
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
        // A folder selected on this session is never judged by its STATUS: Dovecot answers
        // STATUS (and LIST-STATUS) of the selected mailbox from the session's own view, which
        // misses what another client did since (seen with a move by another client while a
        // body read had left INBOX selected on the warm connection).
        let selected_here = self
            .session
            .selection()
            .is_some_and(|(name, ..)| name == self.name);
        if let (Some(status), Some(_)) = (status, stored.uidvalidity)
            && !selected_here
            && unchanged(&stored, &status)
            && !wants_backfill(stored.exists)
            && self.store.incomplete_uids(self.folder, 1).await?.is_empty()
            && self.store.objectid_checks(self.folder).await?.is_empty()
            && !super::content::wanted(self.store, self.folder, &self.content).await?
        {
            return Ok(report);
        }
        self.budget.set_purpose(Purpose::SyncMetadata);
        if self.session.capabilities().has("PREVIEW") {
            let fingerprint = self.session.server_fingerprint();
            self.preview.nil = self.store.preview_nil(self.folder, fingerprint).await?;
        }
        let qresync = match (stored.uidvalidity, stored.highest_modseq) {
            (Some(uid_validity), Some(highest_modseq)) if self.session.has_qresync() => {
                Some(QresyncParams {
                    uid_validity,
                    highest_modseq,
                })
            }
            _ => None,
        };
        // Without CONDSTORE a known folder's resync is a full flag scan: it goes in the same
        // flight as the SELECT (one round trip for both).
        let scan = stored.uidvalidity.is_some() && !self.session.has_condstore();
        let (sel, qresync, scanned) = match preselected {
            Some(sel) => (sel, None, None),
            None if scan => {
                let (sel, flags) = self.session.select_and_scan_flags(self.name).await?;
                (sel, None, Some(flags))
            }
            None => (
                self.session.select(self.name, qresync).await?,
                qresync,
                None,
            ),
        };
        if let Some(permanent) = &sel.permanent_flags {
            self.store
                .set_permanent_flags(self.folder, permanent)
                .await?;
        }
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
                self.delta(&stored, &sel, qresync.is_some(), scanned, &mut report)
                    .await?;
                self.store.folder_state(self.folder).await?
            }
        };
        let synced = self.store.message_count(self.folder).await?;
        let first_pass = matches!(report.mode, SyncMode::Initial | SyncMode::Reset);
        if first_pass
            || (self.resume && !self.budget.exhausted())
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

    /// Everything that changed since the stored state, applied in one transaction.
    async fn delta(
        &mut self,
        stored: &FolderSyncState,
        sel: &SelectedFolder,
        qresync: bool,
        scanned: Option<Vec<FlagUpdate>>,
        report: &mut FolderReport,
    ) -> Result<()> {
        let condstore = self.session.has_condstore()
            && stored.highest_modseq.is_some()
            && sel.highest_modseq.is_some()
            && !sel.no_modseq;
        let old_next = stored.uidnext.unwrap_or(1);
        // Messages the server lists between the lowest stored UID and UIDNEXT that are not
        // stored (lost by an interrupted or broken sync): fetched with the new mail. Only
        // known where the server's UID set is (no QRESYNC).
        let mut absent = Vec::new();
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
            let updates = match scanned {
                Some(flags) if !condstore => flags,
                _ if condstore && sel.highest_modseq == stored.highest_modseq => Vec::new(),
                _ => self.session.fetch_flags(changed_since).await?,
            };
            let server: BTreeSet<u32> = if condstore {
                self.session.all_uids().await?.into_iter().collect()
            } else {
                updates.iter().filter_map(|u| u.uid).collect()
            };
            let local = self.store.uids(self.folder).await?;
            // Moved or deleted in the app, still on the server (a removal waiting for a safe
            // EXPUNGE, or not written back yet): not lost, not fetched back.
            let away = self.store.queued_away_uids(self.folder).await?;
            // Search hits below the window (migration 0014) do not widen it: the gap between
            // them and the window is not the sync's to fetch.
            let hits = self.store.outside_window_uids(self.folder).await?;
            if let Some(&lowest) = local.iter().find(|u| hits.binary_search(u).is_err()) {
                absent.extend(
                    server
                        .range(lowest..old_next.max(lowest))
                        .filter(|u| {
                            local.binary_search(u).is_err() && away.binary_search(u).is_err()
                        })
                        .take(REFETCH_MAX as usize),
                );
            }
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

        // Rows another folder took over by EMAILID (OBJECTID): where QRESYNC did not report
        // them VANISHED the server still has them (a copy), so they are fetched again.
        // Without QRESYNC the server's UID set shows them absent above.
        let mut checks = self.store.objectid_checks(self.folder).await?;
        checks.truncate(REFETCH_MAX as usize);
        if qresync {
            absent.extend(checks.iter().filter(|u| !sel.vanished.contains(u)));
        }
        let incomplete = self.store.incomplete_uids(self.folder, REFETCH_MAX).await?;
        let refetch = SeqSet::of(incomplete.iter().chain(&absent).copied());
        let grew = sel.uid_next.is_some_and(|next| next > old_next);
        let mut mail = self.new_mail(old_next, grew, &refetch, report).await?;
        let mut vanished: Vec<UidRange> = vanished;
        vanished.extend(mail.vanished.iter().map(|u| UidRange::single(*u)));
        let gone = |uid: u32| {
            vanished
                .iter()
                .any(|r| (r.first()..=r.last()).contains(&uid))
        };
        mail.messages.retain(|m| !gone(m.uid));
        mail.taken_over.retain(|t| !gone(t.uid));
        let state_after = FolderSyncState {
            uidvalidity: sel.uid_validity,
            // Never past a message that was not stored.
            uidnext: if mail.lost {
                stored.uidnext
            } else {
                sel.uid_next.or(stored.uidnext)
            },
            highest_modseq: if sel.no_modseq {
                None
            } else {
                sel.highest_modseq
            },
            lowest_uid_synced: stored.lowest_uid_synced.or_else(|| {
                mail.messages
                    .iter()
                    .map(|m| m.uid)
                    .chain(mail.taken_over.iter().map(|t| t.uid))
                    .min()
            }),
            exists: sel.exists,
        };
        let delta = Delta {
            changed,
            vanished,
            new_messages: mail.messages,
            taken_over: mail.taken_over,
            checked: checks,
            state_after,
        };
        let applied = self.store.apply_delta(self.folder, &delta).await?;
        store_bodies(self.store, self.folder, &mail.bodies).await?;
        // Refetched incomplete messages were stored before: changed, not added.
        let was_incomplete = |uid: &u32| incomplete.binary_search(uid).is_ok();
        self.emit_delta(&delta, &applied, &was_incomplete);
        report.taken_over += applied.taken_over.len() as u64;
        report.added += applied.taken_over.len() as u64;
        let refetched = delta
            .new_messages
            .iter()
            .filter(|m| refetch.contains(m.uid))
            .count() as u64;
        report.refetched += refetched as u32;
        report.added += applied.stored.saturating_sub(
            delta
                .new_messages
                .iter()
                .filter(|m| was_incomplete(&m.uid))
                .count() as u64,
        );
        report.changed += applied.flags_changed;
        report.removed += applied.removed;
        Ok(())
    }

    /// New mail by UID from `old_next` (when UIDNEXT `grew`), and the `refetch` UIDs, every
    /// message accounted for (`recover`).
    async fn new_mail(
        &mut self,
        old_next: u32,
        grew: bool,
        refetch: &SeqSet,
        report: &mut FolderReport,
    ) -> Result<NewMail> {
        let mut sets = Vec::new();
        if grew {
            sets.push(format!("{old_next}:*"));
        }
        if !refetch.is_empty() {
            sets.push(refetch.render());
        }
        if sets.is_empty() {
            return Ok(NewMail::default());
        }
        if self.session.has_objectid() {
            return self.new_mail_by_ids(&sets, old_next, refetch, report).await;
        }
        let items = self.items();
        let depth = self.window.pipeline_depth;
        let mut fetch = self.session.start_summaries(&sets, true, items, depth);
        let mut got = Window::default();
        let mut vanished = Vec::new();
        while let Some(w) = self.session.next_window(&mut fetch).await? {
            self.learn_preview(&w, items.preview).await?;
            got.messages.extend(w.messages);
            got.unparsable.extend(w.unparsable);
            vanished.extend(w.vanished);
        }
        // `old_next:*` also returns the last message when nothing is newer.
        let wanted = |uid: u32| uid >= old_next || refetch.contains(uid);
        got.messages.retain(|m| wanted(m.uid));
        // New mail holds consecutive sequence numbers: a gap is a message left out.
        let new_seqs: Vec<u32> = got
            .messages
            .iter()
            .filter(|m| m.uid >= old_next)
            .map(|m| m.seq)
            .collect();
        if let (Some(&lo), Some(&hi)) = (new_seqs.iter().min(), new_seqs.iter().max()) {
            got.missing =
                SeqSet::range(lo, hi).without(new_seqs.iter().chain(&got.unparsable).copied());
        }
        let recovered = Recovery {
            session: &mut *self.session,
            budget: self.budget,
            items,
            prefer_html: self.content.prefer_html,
        }
        .recover(got, report)
        .await?;
        Ok(NewMail {
            taken_over: Vec::new(),
            lost: !recovered.lost.is_empty(),
            messages: recovered
                .messages
                .into_iter()
                .map(|(_, m)| m)
                .filter(|m| wanted(m.uid))
                .collect(),
            bodies: recovered.bodies,
            vanished,
        })
    }

    /// Tells the app what a committed delta changed: `changed` are the stored messages whose
    /// flags really changed (not every message a flag scan listed); `refetched` tells stored
    /// messages that were fetched again from new ones.
    fn emit_delta(&self, delta: &Delta, applied: &DeltaApplied, refetched: &dyn Fn(&u32) -> bool) {
        let changed = &applied.changed_uids;
        let mut left: std::collections::BTreeMap<FolderId, Vec<u32>> = Default::default();
        for (from, uid) in &applied.left {
            left.entry(*from).or_default().push(*uid);
        }
        for (from, uids) in left {
            self.events
                .emit(SyncEvent::MessagesRemoved { folder: from, uids });
        }
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
        let mut changed = changed.to_vec();
        changed.extend(
            delta
                .new_messages
                .iter()
                .map(|m| m.uid)
                .filter(|u| refetched(u)),
        );
        if !changed.is_empty() {
            self.events.emit(SyncEvent::MessagesChanged {
                folder,
                uids: changed,
            });
        }
        let added: Vec<u32> = delta
            .new_messages
            .iter()
            .map(|m| m.uid)
            .filter(|u| !refetched(u))
            // Each is stored at its UID: the row taken over, or an incomplete one.
            .chain(delta.taken_over.iter().map(|t| t.uid))
            .collect();
        if !added.is_empty() {
            self.events.emit(SyncEvent::MessagesAdded {
                folder,
                uids: added,
            });
        }
        let incomplete: Vec<u32> = delta
            .new_messages
            .iter()
            .filter(|m| m.incomplete)
            .map(|m| m.uid)
            .collect();
        if !incomplete.is_empty() {
            self.events.emit(SyncEvent::MessagesIncomplete {
                folder,
                uids: incomplete,
            });
        }
    }

    /// Learns from the first window that `asked` for PREVIEW whether the server answers it
    /// with NIL only (counting the messages whose summary was read whole); if so, the
    /// account remembers it for this server and no later window asks.
    pub(super) async fn learn_preview(&mut self, window: &Window, asked: bool) -> Result<()> {
        if !asked || self.preview.decided {
            return Ok(());
        }
        // Plain booleans: nothing borrowed from the window is held across the store's await.
        let (mut read, mut with_preview) = (false, false);
        for m in window.messages.iter().filter(|m| !m.partial) {
            read = true;
            with_preview |= m.preview.is_some();
        }
        if !read {
            return Ok(());
        }
        self.preview.decided = true;
        if !with_preview {
            self.preview.nil = true;
            let fingerprint = self.session.server_fingerprint();
            self.store.set_preview_nil(self.folder, fingerprint).await?;
        }
        Ok(())
    }

    pub(super) fn items(&self) -> SummaryItems {
        SummaryItems {
            preview: self.session.capabilities().has("PREVIEW") && !self.preview.nil,
            modseq: self.session.has_condstore(),
            references: true,
            objectid: self.session.has_objectid(),
        }
    }
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

/// What a delta's UID fetch brought.
#[derive(Debug, Default)]
pub(super) struct NewMail {
    pub messages: Vec<crate::store::NewMessage>,
    /// Messages recognised by their EMAILID: they take over stored rows (`objectid`).
    pub taken_over: Vec<crate::store::Takeover>,
    /// Bodies read with messages' structures, `(uid, is_html, text)`.
    pub bodies: Vec<(u32, bool, String)>,
    /// UIDs the server reported as VANISHED meanwhile.
    pub vanished: Vec<u32>,
    /// A message could not be stored at all: UIDNEXT must not move.
    pub lost: bool,
}
