//! One sync pass over an IMAP account: LIST (with LIST-STATUS where offered, so unchanged
//! folders cost one line each), the folder list into the store, then each chosen folder in
//! order of importance. Without CONDSTORE no STATUS is asked at all: without HIGHESTMODSEQ
//! it cannot show a folder unchanged, and every folder is scanned anyway. A folder's failure is reported and the pass goes on, unless the
//! connection itself is gone.

use super::{
    Budget, EventSink, FolderReport, NoEvents, StopReason, SyncEvent, SyncMode, SyncReport,
    folder::FolderSync, role_folders, roles,
};
use crate::{
    error::{Error, Result},
    imap::{Folder, FolderStatus, ImapSession, SpecialUse},
    net::Purpose,
    policy::SyncRequest,
    store::{AccountId, FolderRecord, Role, Store},
};

/// Syncs the folders `request` names (or every subscribed one) over a logged-in session.
/// `now` is the current unix time, for the sync window's age rule.
pub async fn sync_imap_account(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    request: &SyncRequest,
    now: i64,
) -> Result<SyncReport> {
    sync_imap_account_with(session, store, account, request, now, &NoEvents).await
}

/// [`sync_imap_account`], telling `events` about every committed change.
pub async fn sync_imap_account_with(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    request: &SyncRequest,
    now: i64,
    events: &dyn EventSink,
) -> Result<SyncReport> {
    let budget = Budget::new(session.meter(), request.byte_budget).with_deadline(request.deadline);
    let mut pass = AccountPass::begin(session, store, account, request, events, &budget).await?;
    pass.run(session, store, request, now, events, &budget)
        .await?;
    pass.finish(store, &budget).await
}

/// One pass over an account, in steps: LIST and the folder list first ([`AccountPass::begin`]),
/// then the chosen folders in order ([`AccountPass::run`]). A run that stops because user work
/// wants the connection ([`StopReason::Preempted`]) leaves the pass at the folder it stopped
/// in; the next `run`, over any connection, carries on there: committed windows stay, and the
/// folder's walk continues below them.
#[derive(Debug)]
pub struct AccountPass {
    folders: Vec<PassFolder>,
    next: usize,
    report: SyncReport,
    preselected: Option<crate::imap::SelectedFolder>,
    /// The folder at `next` was stopped part-way: its walk continues, without its status.
    resume: bool,
    account: AccountId,
    /// The folders this pass has synced so far (see `FolderSync::settled`).
    settled: Vec<crate::store::FolderId>,
    /// When the pass began (unix milliseconds): tombstones older than that are purged at its
    /// end.
    began: i64,
}

#[derive(Debug)]
struct PassFolder {
    id: crate::store::FolderId,
    name: String,
    status: Option<FolderStatus>,
    inbox: bool,
}

impl AccountPass {
    /// LIST (with the INBOX's first SELECT in its flight on a first sync), the folder list
    /// and roles into the store, the role folders an account lacks, and the STATUS of the
    /// chosen folders.
    pub async fn begin(
        session: &mut ImapSession,
        store: &Store,
        account: AccountId,
        request: &SyncRequest,
        events: &dyn EventSink,
        budget: &Budget,
    ) -> Result<AccountPass> {
        let began = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        budget.set_purpose(Purpose::SyncMetadata);
        // On a first sync of INBOX, SELECT it in the same flight as LIST: the first screen
        // then costs LOGIN, COMPRESS, LIST+SELECT and one FETCH.
        let wants_inbox = request.folders.is_empty()
            || request
                .folders
                .iter()
                .any(|n| n.eq_ignore_ascii_case("INBOX"));
        let synced = store.synced_folder_names(account).await?;
        let inbox_known = synced.iter().any(|n| n.eq_ignore_ascii_case("INBOX"));
        let any_known = !synced.is_empty();
        // STATUS can only show a folder unchanged with HIGHESTMODSEQ (CONDSTORE). Without it
        // every folder is scanned anyway: neither LIST-STATUS items nor a STATUS flight is sent.
        // Nor on a first sync: no folder has a stored state for STATUS to confirm, and every
        // folder is selected anyway (Dovecot spent 10-20 ms on INBOX's STATUS at 10,000).
        let status_useful =
            any_known && (session.has_condstore() || session.capabilities().has("CONDSTORE"));
        let (listed, preselected) = if wants_inbox && !inbox_known {
            session
                .list_and_select(status_useful, Some(("INBOX", None)))
                .await?
        } else {
            (session.list_folders(status_useful).await?, None)
        };
        // Roles from SPECIAL-USE, else from well-known names (`roles`); the app's overrides
        // are applied over these by the store.
        let roles = roles::assign(&listed);
        let mut records: Vec<FolderRecord> = listed
            .iter()
            .zip(&roles)
            .map(|(f, role)| FolderRecord {
                name: f.name.clone(),
                delimiter: f.delimiter.clone(),
                role: *role,
                subscribed: f.subscribed,
                selectable: f.selectable,
            })
            .collect();
        let mut ids = store.upsert_folders(account, &records).await?;
        // A missing Drafts, Sent or Trash is created now and stored; being empty, it is first
        // synced by the next pass, whose LIST shows it (see `role_folders`).
        let created = role_folders::create_missing(session, store, account, &listed).await?;
        if !created.folders.is_empty() {
            records.extend(
                created
                    .folders
                    .into_iter()
                    .map(|(folder, role)| FolderRecord {
                        name: folder.name,
                        delimiter: folder.delimiter,
                        role: Some(role),
                        subscribed: folder.subscribed,
                        selectable: folder.selectable,
                    }),
            );
            ids = store.upsert_folders(account, &records).await?;
        }
        events.emit(SyncEvent::FoldersChanged { account });

        let mut chosen: Vec<(usize, &Folder)> = listed
            .iter()
            .enumerate()
            .filter(|(_, f)| f.selectable)
            .filter(|(_, f)| {
                if request.folders.is_empty() {
                    // INBOX always; other folders when subscribed.
                    f.subscribed || f.special_use == Some(SpecialUse::Inbox)
                } else {
                    request.folders.iter().any(|n| n == &f.name)
                }
            })
            .collect();
        crate::sort::sort_by_key(&mut chosen, |(i, _)| importance(roles[*i]));

        // Without LIST-STATUS, ask STATUS for the folders already synced, in one flight.
        let mut statuses: Vec<Option<FolderStatus>> =
            chosen.iter().map(|(_, f)| f.status).collect();
        if status_useful && statuses.iter().all(Option::is_none) && !chosen.is_empty() {
            let mut names = Vec::new();
            for (i, _) in &chosen {
                if store.folder_state(ids[*i]).await?.uidvalidity.is_some() {
                    names.push(listed[*i].name.clone());
                }
            }
            if !names.is_empty() {
                let found = session.status_many(&names).await?;
                for (slot, (_, f)) in statuses.iter_mut().zip(&chosen) {
                    *slot = found.iter().find(|(n, _)| n == &f.name).map(|(_, s)| *s);
                }
            }
        }
        let folders = chosen
            .into_iter()
            .zip(statuses)
            .map(|((i, f), status)| PassFolder {
                id: ids[i],
                name: f.name.clone(),
                status,
                inbox: f.special_use == Some(SpecialUse::Inbox),
            })
            .collect();
        Ok(AccountPass {
            folders,
            next: 0,
            report: SyncReport {
                errors: created.errors,
                ..SyncReport::default()
            },
            preselected,
            resume: false,
            account,
            settled: Vec::new(),
            began,
        })
    }

    /// Syncs the chosen folders from where the pass stands, until all are done or the budget
    /// stops it.
    pub async fn run(
        &mut self,
        session: &mut ImapSession,
        store: &Store,
        request: &SyncRequest,
        now: i64,
        events: &dyn EventSink,
        budget: &Budget,
    ) -> Result<()> {
        self.report.stopped = None;
        while let Some(folder) = self.folders.get(self.next) {
            if budget.exhausted() {
                self.report.stopped = budget.stop_reason();
                break;
            }
            let resume = std::mem::take(&mut self.resume);
            let preselected = if folder.inbox && !resume {
                self.preselected.take()
            } else {
                None
            };
            let run = FolderSync {
                session: &mut *session,
                store,
                folder: folder.id,
                name: &folder.name,
                window: request.window,
                budget,
                now,
                events,
                content: request.content(),
                resume,
                preview: Default::default(),
                settled: &self.settled,
            }
            .run(if resume { None } else { folder.status }, preselected)
            .await;
            match run {
                Ok(folder_report) => {
                    let stopped = folder_report.stopped;
                    merge(&mut self.report.folders, folder_report, resume);
                    if stopped == Some(StopReason::Preempted) {
                        self.resume = true;
                        self.report.stopped = stopped;
                        return Ok(());
                    }
                    if stopped.is_some() {
                        self.report.stopped = stopped;
                    }
                }
                Err(
                    e @ (Error::ConnectionClosed
                    | Error::Io(_)
                    | Error::Timeout { .. }
                    | Error::Protocol { .. }),
                ) => return Err(e),
                Err(e) => self
                    .report
                    .errors
                    .push((folder.name.clone(), e.to_string())),
            }
            self.settled.push(folder.id);
            self.next += 1;
            if self.report.stopped.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Stopped for user work: call [`AccountPass::run`] again to carry on.
    pub fn preempted(&self) -> bool {
        self.report.stopped == Some(StopReason::Preempted)
    }

    /// The names of the folders the pass went through (for what follows it, such as the
    /// attachment prefetch).
    pub fn folder_names(&self) -> Vec<String> {
        self.report.folders.iter().map(|f| f.name.clone()).collect()
    }

    /// The pass's report, with the bytes it spent. Expunged rows kept for a move (OBJECTID
    /// tombstones) made before the pass began, which every folder of the pass could have
    /// taken over, are removed now; newer ones wait for the next pass (a move whose source
    /// this pass synced and whose target it did not sync).
    pub async fn finish(mut self, store: &Store, budget: &Budget) -> Result<SyncReport> {
        store.purge_tombstones(self.account, self.began).await?;
        self.report.bytes = budget.spent();
        Ok(self.report)
    }
}

/// Adds a folder's report to the pass's; the second run of a folder stopped part-way adds
/// to the first (what it fetched below the first run's windows still belongs to them).
fn merge(reports: &mut Vec<FolderReport>, next: FolderReport, resumed: bool) {
    let Some(first) = reports
        .last_mut()
        .filter(|r| resumed && r.name == next.name)
    else {
        reports.push(next);
        return;
    };
    if matches!(first.mode, SyncMode::Initial | SyncMode::Reset) {
        first.added += next.added + next.backfilled;
    } else {
        first.added += next.added;
        first.backfilled += next.backfilled;
    }
    first.changed += next.changed;
    first.removed += next.removed;
    first.snippets += next.snippets;
    first.bodies += next.bodies;
    first.structure_fallback += next.structure_fallback;
    first.incomplete.extend(next.incomplete);
    first.refetched += next.refetched;
    first.taken_over += next.taken_over;
    first.unparsable = next.unparsable;
    first.stopped = next.stopped;
}

/// Inbox first, then the folders a phone user opens most.
fn importance(role: Option<Role>) -> u8 {
    match role {
        Some(Role::Inbox) => 0,
        Some(Role::Sent) => 1,
        Some(Role::Drafts) => 2,
        Some(Role::Archive) => 3,
        None => 4,
        Some(Role::Flagged) => 5,
        Some(Role::Trash) => 6,
        Some(Role::Junk) => 7,
        Some(Role::All) => 8,
    }
}

/// Syncs one folder the account already knows (from an earlier LIST), over a logged-in
/// session: the step after IDLE reports a change.
pub async fn sync_imap_folder(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    name: &str,
    request: &SyncRequest,
    now: i64,
    events: &dyn EventSink,
) -> Result<super::FolderReport> {
    let folder = known_folder(store, account, name).await?;
    let budget = Budget::new(session.meter(), request.byte_budget).with_deadline(request.deadline);
    FolderSync {
        session,
        store,
        folder: folder.id,
        name,
        window: request.window,
        budget: &budget,
        now,
        events,
        content: request.content(),
        resume: false,
        preview: Default::default(),
        settled: &[],
    }
    .run(None, None)
    .await
}

/// Selects `name` (a folder the account already knows) to IDLE on, and says whether it
/// changed since its stored state: mail that arrived, or flags that changed, between the
/// last sync and this SELECT is already counted in the SELECT's data, so IDLE would never
/// report it. The caller then runs a delta before it IDLEs.
pub async fn select_for_idle(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    name: &str,
) -> Result<bool> {
    let folder = known_folder(store, account, name).await?;
    let stored = store.folder_state(folder.id).await?;
    let sel = session.select(name, None).await?;
    Ok(sel.uid_validity != stored.uidvalidity
        || sel.uid_next != stored.uidnext
        || sel.exists != stored.exists
        || (stored.highest_modseq.is_some() && sel.highest_modseq != stored.highest_modseq))
}

/// The stored folder of `account` named `name`.
async fn known_folder(
    store: &Store,
    account: AccountId,
    name: &str,
) -> Result<crate::store::FolderSummary> {
    store
        .folders(account)
        .await?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or(Error::NotFound {
            what: "folder",
            id: 0,
        })
}
