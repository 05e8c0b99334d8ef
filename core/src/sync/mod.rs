//! Sync: the only layer where protocol sessions and the store meet. It reads the stored
//! folder state, asks the server only for what changed, and commits every step in one store
//! transaction so that an interruption at any point loses nothing and resurrects nothing.
//!
//! - `account`: one pass over an account's folders (LIST with LIST-STATUS, then each folder).
//! - `folder`: one folder: nothing (unchanged), backfill, delta (QRESYNC, CONDSTORE or a
//!   full flag scan) and UIDVALIDITY resets; `windows`: the initial headers-first windows.
//! - `recover`: messages whose summary could not be read, fetched other ways and stored with
//!   what could be read (never dropped silently); `structure`: a message's parts read from
//!   its own bytes when its BODYSTRUCTURE cannot be parsed.
//! - `convert`: protocol values to store records; `roles`: folder roles from SPECIAL-USE or
//!   well-known (localised) names, and the names of role folders the engine creates;
//!   `role_folders`: creating the Drafts, Sent and Trash an account lacks.
//! - `writeback`: queued local changes (flags) replayed to the server, coalesced.
//! - `ondemand`: a message's body when the app opens it; `download`: attachments in
//!   resumable chunks. Both run over whatever connection the account layer lends them.
//! - `forward`: the CATENATE part list of a forward assembled on the server (pure).

mod account;
pub mod compose;
mod content;
mod convert;
mod download;
mod folder;
mod forward;
mod moves;
mod objectid;
mod ondemand;
mod pop3;
pub(crate) mod pop3_listing;
mod pop3_parse;
mod pop3_skeleton;
pub(crate) mod pop3_spool;
mod recover;
mod role_folders;
mod roles;
mod send;
mod send_wire;
pub(crate) mod server_search;
mod structure;
mod windows;
mod writeback;

pub use account::{
    AccountPass, select_for_idle, sync_imap_account, sync_imap_account_with, sync_imap_folder,
};
pub use download::{
    Download, Existing, ProgressListener, claim as claim_download, existing as existing_download,
    prefetch_candidates, start_prefetch,
};
pub use folder::{FolderReport, SyncMode};
pub use forward::{ForwardOriginal, ForwardText, forward_catenate_parts};
pub use moves::draft_record;
pub use ondemand::{Body, body_part, fetch_body, fetch_in_folder, locate, stored_body};
pub use pop3::{fetch_pop3_message, sync_pop3_account};
pub use send::{SendReport, SmtpTarget, send_outbox};
pub use server_search::{HitList, SearchPage, SearchTarget};
pub use writeback::{MAX_ATTEMPTS, WriteBackReport, write_back};

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use crate::{
    net::{Purpose, WireMeter, WireTotals},
    store::{AccountId, FolderId, OutboxId},
};

/// What a sync tells the app as it goes, in order, after each change is committed to the
/// store (so a UI that re-queries on an event always sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// The folder list was refreshed (folders may have appeared, gone or been renamed).
    FoldersChanged { account: AccountId },
    /// Messages were stored for the first time (a window, or new mail).
    MessagesAdded { folder: FolderId, uids: Vec<u32> },
    /// Stored messages changed flags.
    MessagesChanged { folder: FolderId, uids: Vec<u32> },
    /// Stored messages were removed (expunged, or dropped by a UIDVALIDITY reset).
    MessagesRemoved { folder: FolderId, uids: Vec<u32> },
    /// A folder's cached messages were all dropped (UIDVALIDITY changed).
    FolderReset { folder: FolderId },
    /// Queued local changes of these messages were not written back (see [`DropReason`]):
    /// for `Expunged` and `Conflict` the change is gone and the stored flags are the
    /// server's; `Parked` changes stay queued (and shown) but are no longer retried.
    ChangeDropped {
        folder: FolderId,
        uids: Vec<u32>,
        reason: DropReason,
    },
    /// Keyword changes of these messages stay on this device: the folder's server cannot
    /// keep keywords (they are outside its PERMANENTFLAGS), so they are never sent and never
    /// queued to fail. `MessageSummary::local_keywords` names them. Sent when the app makes
    /// such a change, or when the write-back learns it for a change already queued.
    KeywordsLocalOnly { folder: FolderId, uids: Vec<u32> },
    /// Messages were stored with only part of their summary (the server's could not be
    /// read): at least their UID and flags. The next sync fetches them again; they are then
    /// reported as changed.
    MessagesIncomplete { folder: FolderId, uids: Vec<u32> },
    /// An outbox entry changed (queued, a step of its send, sent, failed): read it again
    /// with `outbox`.
    OutboxChanged { account: AccountId, item: OutboxId },
    /// Headers-first progress: `synced` of the `total` messages the folder holds.
    Progress {
        folder: FolderId,
        synced: u32,
        total: u32,
    },
}

/// Why queued local changes were dropped (`SyncEvent::ChangeDropped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The message was expunged on the server meanwhile.
    Expunged,
    /// The flag was changed on the server since our last sync; the server's value won.
    Conflict,
    /// Writing it back failed too often; it stays in `pending_operations`, parked, with
    /// its error, and is not retried.
    Parked,
}

/// Receives sync events. Called on the sync task: it must return quickly (queue, don't work).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: SyncEvent);
}

/// An event sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: SyncEvent) {}
}

/// Why a sync stopped before doing everything it planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The request's byte budget was reached; the next call continues from here.
    Budget,
    /// The app said the phone is offline: nothing was sent.
    Offline,
    /// The request's deadline passed; the work stopped at a clean point and the next call
    /// continues from there.
    Deadline,
    /// User work (opening a message, a download) wanted the connection: the sync stopped at
    /// a clean point to let it run. The account layer resumes the sync right after; the app
    /// never sees this reason in a finished sync's report.
    Preempted,
}

/// What one sync call did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub folders: Vec<FolderReport>,
    /// Folder name and error text, for folders that failed without ending the sync.
    pub errors: Vec<(String, String)>,
    pub stopped: Option<StopReason>,
    /// Wire bytes spent by this call, by purpose.
    pub bytes: WireTotals,
    /// Attachments prefetched by the policy.
    pub attachments: u32,
}

impl SyncReport {
    pub fn added(&self) -> u64 {
        self.folders.iter().map(|f| f.added).sum()
    }
    pub fn changed(&self) -> u64 {
        self.folders.iter().map(|f| f.changed).sum()
    }
    pub fn removed(&self) -> u64 {
        self.folders.iter().map(|f| f.removed).sum()
    }
    /// Messages stored incomplete by this call, in all folders (see
    /// [`FolderReport::incomplete`] for their UIDs).
    pub fn incomplete(&self) -> u64 {
        self.folders.iter().map(|f| f.incomplete.len() as u64).sum()
    }
    /// Messages that could not be stored at all, in all folders.
    pub fn unparsable(&self) -> u64 {
        self.folders.iter().map(|f| u64::from(f.unparsable)).sum()
    }
}

/// The wire bytes a sync call may still spend, its deadline, and whether user work wants the
/// connection (see [`StopReason::Preempted`]). Bytes are counted on the meter of the
/// connection the sync runs over; when the account layer lends that connection to user work
/// and then hands the sync a connection again, [`Budget::rebase`] counts on from there, so
/// the user work's bytes never count against the sync.
#[derive(Debug, Clone)]
pub struct Budget {
    counted: Arc<Mutex<Counted>>,
    limit: Option<u64>,
    /// Stop at the next clean point once this instant has passed (an OS background window).
    deadline: Option<Instant>,
    /// User operations waiting: stop at the next clean point while this is above zero.
    preempt: Option<Arc<AtomicUsize>>,
}

#[derive(Debug)]
struct Counted {
    meter: WireMeter,
    start: WireTotals,
    /// Spent over earlier connections (before a `rebase`).
    earlier: WireTotals,
}

impl Budget {
    pub fn new(meter: &WireMeter, limit: Option<u64>) -> Self {
        Budget {
            counted: Arc::new(Mutex::new(Counted {
                meter: meter.clone(),
                start: meter.totals(),
                earlier: WireTotals::default(),
            })),
            limit,
            deadline: None,
            preempt: None,
        }
    }

    /// The same budget, also ending at `deadline`.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same budget, also stopping (for a while) whenever `waiting` is above zero.
    pub fn with_preempt(mut self, waiting: Arc<AtomicUsize>) -> Self {
        self.preempt = Some(waiting);
        self
    }

    /// Counts on from `meter` (the connection the sync continues over); what was spent so
    /// far is kept.
    pub fn rebase(&self, meter: &WireMeter) {
        let mut c = lock(&self.counted);
        let spent = c.meter.totals().since(&c.start);
        c.earlier = c.earlier.plus(&spent);
        c.meter = meter.clone();
        c.start = meter.totals();
    }

    pub(crate) fn spent(&self) -> WireTotals {
        let c = lock(&self.counted);
        c.earlier.plus(&c.meter.totals().since(&c.start))
    }

    /// User work may stop this budget's work (see [`Budget::with_preempt`]).
    pub(crate) fn is_preemptible(&self) -> bool {
        self.preempt.is_some()
    }

    pub(crate) fn is_limited(&self) -> bool {
        self.limit.is_some()
    }

    /// Bytes the budget still allows; `None` without a limit.
    pub(crate) fn remaining(&self) -> Option<u64> {
        self.limit
            .map(|limit| limit.saturating_sub(self.spent().total()))
    }

    pub fn exhausted(&self) -> bool {
        self.stop_reason().is_some()
    }

    /// Why the work must stop now: bytes spent, the deadline passed, or user work waits.
    pub fn stop_reason(&self) -> Option<StopReason> {
        if self
            .limit
            .is_some_and(|limit| self.spent().total() >= limit)
        {
            Some(StopReason::Budget)
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            Some(StopReason::Deadline)
        } else if self
            .preempt
            .as_ref()
            .is_some_and(|w| w.load(Ordering::Acquire) > 0)
        {
            Some(StopReason::Preempted)
        } else {
            None
        }
    }

    fn meter(&self) -> WireMeter {
        lock(&self.counted).meter.clone()
    }

    pub(crate) fn set_purpose(&self, purpose: Purpose) {
        self.meter().set_purpose(purpose);
    }
}

/// The budget's counters, also after a panic elsewhere poisoned their lock: each holder
/// reads or replaces whole values, which leaves them consistent.
fn lock(m: &Mutex<Counted>) -> MutexGuard<'_, Counted> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
