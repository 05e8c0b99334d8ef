//! Sync: the only layer where protocol sessions and the store meet. It reads the stored
//! folder state, asks the server only for what changed, and commits every step in one store
//! transaction so that an interruption at any point loses nothing and resurrects nothing.
//!
//! - `account`: one pass over an account's folders (LIST with LIST-STATUS, then each folder).
//! - `folder`: one folder: nothing (unchanged), initial headers-first windows, backfill,
//!   delta (QRESYNC, CONDSTORE or a full flag scan) and UIDVALIDITY resets.
//! - `convert`: protocol values to store records.

mod account;
mod convert;
mod folder;

pub use account::sync_imap_account;
pub use folder::{FolderReport, SyncMode};

use crate::net::{Purpose, WireMeter, WireTotals};

/// Why a sync stopped before doing everything it planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The request's byte budget was reached; the next call continues from here.
    Budget,
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
}

/// The wire bytes a sync call may still spend.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    meter: WireMeter,
    start: WireTotals,
    limit: Option<u64>,
}

impl Budget {
    pub(crate) fn new(meter: &WireMeter, limit: Option<u64>) -> Self {
        Budget {
            meter: meter.clone(),
            start: meter.totals(),
            limit,
        }
    }

    pub(crate) fn spent(&self) -> WireTotals {
        self.meter.totals().since(&self.start)
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.limit
            .is_some_and(|limit| self.spent().total() >= limit)
    }

    pub(crate) fn set_purpose(&self, purpose: Purpose) {
        self.meter.set_purpose(purpose);
    }
}
