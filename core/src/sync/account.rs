//! One sync pass over an IMAP account: LIST (with LIST-STATUS where offered, so unchanged
//! folders cost one line each), the folder list into the store, then each chosen folder in
//! order of importance. Without CONDSTORE no STATUS is asked at all: without HIGHESTMODSEQ
//! it cannot show a folder unchanged, and every folder is scanned anyway. A folder's failure is reported and the pass goes on, unless the
//! connection itself is gone.

use super::{
    Budget, EventSink, NoEvents, SyncEvent, SyncReport, folder::FolderSync, role_folders, roles,
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
    budget.set_purpose(Purpose::SyncMetadata);
    // On a first sync of INBOX, SELECT it in the same flight as LIST: the first screen then
    // costs LOGIN, COMPRESS, LIST+SELECT and one FETCH.
    let wants_inbox = request.folders.is_empty()
        || request
            .folders
            .iter()
            .any(|n| n.eq_ignore_ascii_case("INBOX"));
    let inbox_known = match store
        .folders(account)
        .await?
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("INBOX"))
    {
        Some(f) => store.folder_state(f.id).await?.uidvalidity.is_some(),
        None => false,
    };
    // STATUS can only show a folder unchanged with HIGHESTMODSEQ (CONDSTORE). Without it
    // every folder is scanned anyway: neither LIST-STATUS items nor a STATUS flight is sent.
    let status_useful = session.has_condstore() || session.capabilities().has("CONDSTORE");
    let (listed, mut preselected) = if wants_inbox && !inbox_known {
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
    chosen.sort_by_key(|(i, _)| importance(roles[*i]));

    // Without LIST-STATUS, ask STATUS for the folders already synced, in one flight.
    let mut statuses: Vec<Option<FolderStatus>> = chosen.iter().map(|(_, f)| f.status).collect();
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

    let mut report = SyncReport {
        errors: created.errors,
        ..SyncReport::default()
    };
    for ((i, folder), status) in chosen.into_iter().zip(statuses) {
        if budget.exhausted() {
            report.stopped = budget.stop_reason();
            break;
        }
        let run = FolderSync {
            session: &mut *session,
            store,
            folder: ids[i],
            name: &folder.name,
            window: request.window,
            budget: &budget,
            now,
            events,
            content: request.content(),
        }
        .run(
            status,
            if folder.special_use == Some(SpecialUse::Inbox) {
                preselected.take()
            } else {
                None
            },
        )
        .await;
        match run {
            Ok(folder_report) => {
                if folder_report.stopped.is_some() {
                    report.stopped = folder_report.stopped;
                }
                report.folders.push(folder_report);
            }
            Err(
                e @ (Error::ConnectionClosed
                | Error::Io(_)
                | Error::Timeout { .. }
                | Error::Protocol { .. }),
            ) => return Err(e),
            Err(e) => report.errors.push((folder.name.clone(), e.to_string())),
        }
        if report.stopped.is_some() {
            break;
        }
    }
    report.bytes = budget.spent();
    Ok(report)
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
    let folder = store
        .folders(account)
        .await?
        .into_iter()
        .find(|f| f.name == name)
        .ok_or(Error::NotFound {
            what: "folder",
            id: 0,
        })?;
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
    }
    .run(None, None)
    .await
}
