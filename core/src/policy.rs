//! Network policy: pure values the app passes in (network kind, budgets, how far back to
//! sync, what to prefetch). Nothing here does I/O; the sync layer reads these to plan.

/// The kind of network the app says the phone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NetworkKind {
    #[default]
    Unmetered,
    Metered,
    Roaming,
    /// No network: queries are served from the store and nothing is sent.
    Offline,
}

impl NetworkKind {
    /// A stable lowercase name, used in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkKind::Unmetered => "unmetered",
            NetworkKind::Metered => "metered",
            NetworkKind::Roaming => "roaming",
            NetworkKind::Offline => "offline",
        }
    }
}

/// How much of a folder the headers-first sync brings in, and in what steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWindow {
    /// The first window (the first screen), fetched and committed before anything else.
    pub first_window: u32,
    /// The largest later window. Windows grow fourfold from the first up to this: each window
    /// boundary costs about a kilobyte of compression context, so a few large windows beat
    /// many small ones, while the small early ones keep the first screens quick. A window is
    /// held in memory whole, parsed, while the one before it is committed: at 1,000 the
    /// header sync of 100,000 messages peaked at 31.9 MiB, at 500 at 22.0 MiB, in the same
    /// time (6.6 s against 6.9 s; at 250: 17.3 MiB but 8.3 s). Issue 19, README.
    pub window: u32,
    /// Sync at least this many of the newest messages...
    pub min_messages: u32,
    /// ...and every message younger than this many days (`None`: no age rule).
    pub max_age_days: Option<u32>,
    /// FETCH commands in flight at once.
    pub pipeline_depth: usize,
}

impl Default for SyncWindow {
    /// "The last 30 days, at least 200 messages", first screen of 50.
    fn default() -> Self {
        SyncWindow {
            first_window: 50,
            window: 500,
            min_messages: 200,
            max_age_days: Some(30),
            pipeline_depth: 4,
        }
    }
}

impl SyncWindow {
    /// Every message of the folder.
    pub fn everything() -> Self {
        SyncWindow {
            min_messages: u32::MAX,
            max_age_days: None,
            ..SyncWindow::default()
        }
    }

    /// Whether a folder synced down to `synced` messages, the oldest dated `oldest` (unix
    /// seconds), is deep enough at time `now`.
    pub fn satisfied(&self, synced: u32, oldest: Option<i64>, now: i64) -> bool {
        if synced < self.min_messages {
            return false;
        }
        match (self.max_age_days, oldest) {
            (None, _) => true,
            (Some(days), Some(oldest)) => oldest <= now - i64::from(days) * 86_400,
            (Some(_), None) => false,
        }
    }
}

/// What content a sync brings in beyond headers. The defaults by network kind:
///
/// | network | snippets | bodies prefetched | attachments prefetched |
/// |---|---|---|---|
/// | unmetered | yes | the newest 50 | up to 1 MB each |
/// | metered | yes | none (on open) | none |
/// | roaming | no (server PREVIEW still arrives with headers) | none | none |
/// | offline | nothing is sent | | |
///
/// Apps can override every threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentPolicy {
    /// Fetch snippets for messages that have none (when the server offers no PREVIEW).
    pub snippets: bool,
    /// Decoded bytes of the first text part to fetch for a snippet.
    pub snippet_bytes: u32,
    /// How many of the newest messages per folder get a snippet per sync.
    pub snippet_messages: u32,
    /// Readable bodies to prefetch for the newest messages of each folder.
    pub prefetch_bodies: u32,
    /// Attachments up to this size are prefetched (`None`: never).
    pub prefetch_attachments_max: Option<u32>,
    /// Opening a message larger than this never downloads an attachment as a side effect.
    pub open_without_attachments_over: u64,
    /// Opening a message fetches its HTML alternative when it has one (else the plain text).
    pub prefer_html: bool,
    /// POP3: messages up to this many octets (LIST size) are downloaded whole with RETR during
    /// a sync; larger ones keep only their TOP headers. `u32::MAX`: every message; 0: none.
    pub pop3_retr_max: u32,
}

impl ContentPolicy {
    /// The default table above.
    pub fn for_network(kind: NetworkKind) -> Self {
        let base = ContentPolicy {
            snippets: true,
            snippet_bytes: 512,
            snippet_messages: 200,
            prefetch_bodies: 0,
            prefetch_attachments_max: None,
            open_without_attachments_over: 256 * 1024,
            prefer_html: true,
            pop3_retr_max: 256 * 1024,
        };
        match kind {
            NetworkKind::Unmetered => ContentPolicy {
                prefetch_bodies: 50,
                prefetch_attachments_max: Some(1 << 20),
                pop3_retr_max: u32::MAX,
                ..base
            },
            NetworkKind::Metered => base,
            NetworkKind::Roaming | NetworkKind::Offline => ContentPolicy {
                snippets: false,
                pop3_retr_max: 0,
                ..base
            },
        }
    }
}

/// What one sync call may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub network: NetworkKind,
    pub window: SyncWindow,
    /// Stop at a clean point once this many wire bytes were spent (`None`: no budget).
    pub byte_budget: Option<u64>,
    /// Folders to sync by name; empty means every subscribed, selectable folder.
    pub folders: Vec<String>,
    /// Content beyond headers; `None` takes [`ContentPolicy::for_network`].
    pub content: Option<ContentPolicy>,
    /// POP3 accounts: when downloaded messages are deleted from the server (ignored for IMAP).
    pub pop3_delete: Pop3DeletePolicy,
    /// Stop at the next clean point (a committed window, a finished message or chunk) once
    /// this instant has passed, e.g. the end of an iOS background refresh; the report says
    /// `StopReason::Deadline` and the next call continues from there.
    pub deadline: Option<std::time::Instant>,
}

/// When a POP3 sync deletes messages from the server. A message is only ever deleted after
/// its full copy (RETR, parsed, stored) is committed locally; a message whose size keeps it
/// headers-only is never deleted, nor one whose UIDL another message shares (or shared), nor
/// one whose stored copy is smaller than the size LIST gives for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pop3DeletePolicy {
    /// Never delete (the default).
    #[default]
    LeaveOnServer,
    /// Delete in the same session, right after the local copy is committed.
    AfterDownload,
    /// Delete once the local copy is this many days old.
    AfterDays(u32),
    /// Delete only what the user deleted in the app. (Every policy but `LeaveOnServer`
    /// deletes those too; with `LeaveOnServer` a message deleted in the app stays on the
    /// server but is never downloaded again.)
    WhenDeletedLocally,
}

impl SyncRequest {
    /// The content policy in force for this request.
    pub fn content(&self) -> ContentPolicy {
        self.content
            .unwrap_or_else(|| ContentPolicy::for_network(self.network))
    }
}

impl Default for SyncRequest {
    fn default() -> Self {
        SyncRequest {
            network: NetworkKind::Unmetered,
            window: SyncWindow::default(),
            byte_budget: None,
            folders: Vec::new(),
            content: None,
            pop3_delete: Pop3DeletePolicy::LeaveOnServer,
            deadline: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_rules() {
        let w = SyncWindow::default();
        let now = 1_000_000_000;
        assert!(!w.satisfied(199, Some(0), now), "fewer than the minimum");
        assert!(
            !w.satisfied(500, Some(now - 86_400), now),
            "still inside 30 days"
        );
        assert!(w.satisfied(200, Some(now - 31 * 86_400), now));
        assert!(!SyncWindow::everything().satisfied(u32::MAX - 1, Some(0), now));
    }
}
