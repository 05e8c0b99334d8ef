//! Creating the Drafts, Sent and Trash an IMAP account lacks, during the account sync right
//! after LIST: the engine needs a Drafts for `save_draft` and a Trash for deletions, both of
//! which apply locally at once (offline too) and so need the folder's row before the next
//! connection; creating on first need would leave a draft saved offline nowhere to go. The
//! new folder is stored at once (with its role) but not selected in this pass: it is empty,
//! and the next pass's LIST shows it and syncs it like any other. A
//! role counts as present when any selectable folder holds it after the app's overrides (the
//! store's effective role), so an app that chose its own Trash gets none created; a role
//! whose new name is already taken by a folder (say a Trash the app said is no Trash) is left
//! alone. One flight of CREATE + SUBSCRIBE per missing set, once per account in practice; a
//! server that refuses is asked again on later syncs and the refusal is reported in the sync
//! report's errors, never ending the sync.

use super::roles;
use crate::{
    error::{Error, Result},
    imap::{Folder, ImapSession, SpecialUse},
    store::{AccountId, Role, Store},
};

/// The roles the engine makes sure of.
const NEEDED: [(Role, SpecialUse); 3] = [
    (Role::Drafts, SpecialUse::Drafts),
    (Role::Sent, SpecialUse::Sent),
    (Role::Trash, SpecialUse::Trash),
];

/// What [`create_missing`] did.
#[derive(Debug, Default)]
pub(super) struct Created {
    /// The new folders as a LIST would show them, with their roles.
    pub folders: Vec<(Folder, Role)>,
    /// (folder name, error) for each CREATE the server refused.
    pub errors: Vec<(String, String)>,
}

/// Creates, on the server, the needed role folders the account has none of, named in the
/// server's style (`roles::new_folder_name`); a top-level name the server refuses is tried
/// once more under INBOX. `listed` is the full LIST, already stored.
pub(super) async fn create_missing(
    session: &mut ImapSession,
    store: &Store,
    account: AccountId,
    listed: &[Folder],
) -> Result<Created> {
    let stored = store.folders(account).await?;
    let taken = |name: &str| listed.iter().any(|f| f.name.eq_ignore_ascii_case(name));
    let mut wanted: Vec<(Role, SpecialUse, String)> = Vec::new();
    for (role, use_) in NEEDED {
        if stored.iter().any(|f| f.selectable && f.role == Some(role)) {
            continue;
        }
        match roles::new_folder_name(role, listed) {
            Some(name) if !taken(&name) => wanted.push((role, use_, name)),
            _ => {}
        }
    }
    let mut out = Created::default();
    if wanted.is_empty() {
        return Ok(out);
    }
    let delimiter = roles::delimiter(listed);
    let results = try_create(session, &wanted).await?;
    // Refused at the top level: a server that keeps every folder under INBOX.
    let mut retry = Vec::new();
    for ((role, use_, name), result) in wanted.iter().zip(&results) {
        if result.is_err()
            && let Some(child) = roles::inbox_child(*role, listed)
            && child != *name
            && !taken(&child)
        {
            retry.push((*role, *use_, child));
        }
    }
    let retried = try_create(session, &retry).await?;
    let mut outcomes: Vec<((Role, SpecialUse, String), Result<()>)> =
        wanted.into_iter().zip(results).collect();
    for ((role, use_, name), result) in retry.into_iter().zip(retried) {
        // The second name's outcome stands: created, or the refusal of the name the server
        // should have taken.
        if let Some(slot) = outcomes.iter_mut().find(|((r, _, _), _)| *r == role) {
            *slot = ((role, use_, name), result);
        }
    }
    let with_use = session.has_create_special_use();
    for ((role, use_, name), result) in outcomes {
        match result {
            Ok(()) => {
                tracing::info!(role = ?role, "created a missing role folder");
                out.folders.push((
                    Folder {
                        name,
                        delimiter: delimiter.clone(),
                        selectable: true,
                        subscribed: true,
                        special_use: with_use.then_some(use_),
                        status: None,
                    },
                    role,
                ));
            }
            Err(e) => out
                .errors
                .push((name, format!("could not create the folder: {e}"))),
        }
    }
    Ok(out)
}

/// CREATE (and SUBSCRIBE) of `wanted` in one flight; a connection error ends the sync, a
/// refusal is that folder's result.
async fn try_create(
    session: &mut ImapSession,
    wanted: &[(Role, SpecialUse, String)],
) -> Result<Vec<Result<()>>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let commands: Vec<(String, Option<SpecialUse>)> = wanted
        .iter()
        .map(|(_, use_, name)| (name.clone(), Some(*use_)))
        .collect();
    let results = session.create_folders(&commands).await?;
    if results.len() != wanted.len() {
        return Err(Error::protocol("CREATE answers do not match the commands"));
    }
    Ok(results)
}
