//! `anvert watch [FOLDER]`: push in the foreground. The folder is synced, then the engine's
//! push (IDLE on a connection of its own, a delta sync per change) runs until Ctrl-C; each
//! change is printed as the engine commits it, one line each (with `--json`, one JSON
//! document per line). Ctrl-C exits 130.

use std::{process::ExitCode, sync::Arc, time::Duration};

use anvert_core::{
    engine::{CancellationToken, Engine},
    policy::{NetworkKind, SyncRequest},
    store::{AccountId, FolderId},
    sync::SyncEvent,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::{accounts, exit, output::out, progress::SyncEvents};

/// How long one IDLE may last before it is re-issued (the engine adapts below this).
const IDLE_MAX: Duration = Duration::from_secs(25 * 60);

pub async fn run(
    engine: &Engine,
    account: AccountId,
    folder: &str,
    network: NetworkKind,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    accounts::authenticate(engine, account).await?;
    let request = SyncRequest {
        network,
        folders: vec![folder.to_string()],
        ..SyncRequest::default()
    };
    engine.sync(account, &request).await?;
    crate::read::folder(engine, account, folder).await?;
    eprintln!("watching {folder} (IDLE); Ctrl-C to stop");
    let (events, received) = SyncEvents::channel();
    engine.set_listener(Some(Arc::new(events)));
    let cancel = CancellationToken::new();
    let interrupted = {
        let cancel = cancel.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        }
    };
    let (pushed, printed, ()) = tokio::join!(
        async {
            let result = engine
                .push(account, folder, &request, IDLE_MAX, cancel.clone())
                .await;
            engine.set_listener(None);
            // A push that failed ends the printing too.
            cancel.cancel();
            result
        },
        print_events(engine, account, received, as_json),
        async {
            tokio::select! {
                () = interrupted => {}
                () = cancel.cancelled() => {}
            }
        },
    );
    printed?;
    match pushed {
        Ok(()) | Err(anvert_core::Error::Cancelled) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::from(exit::INTERRUPTED))
}

async fn print_events(
    engine: &Engine,
    account: AccountId,
    mut events: mpsc::UnboundedReceiver<SyncEvent>,
    as_json: bool,
) -> anyhow::Result<()> {
    while let Some(event) = events.recv().await {
        let (kind, folder, uids) = match event {
            SyncEvent::MessagesAdded { folder, uids } => ("added", folder, uids),
            SyncEvent::MessagesChanged { folder, uids } => ("changed", folder, uids),
            SyncEvent::MessagesRemoved { folder, uids } => ("removed", folder, uids),
            SyncEvent::FolderReset { folder } => ("reset", folder, Vec::new()),
            _ => continue,
        };
        let name = folder_name(engine, account, folder).await;
        // The rows of added or changed messages, for their ids and subjects.
        let mut rows = Vec::new();
        if kind != "removed" && !uids.is_empty() {
            let page = engine.messages(folder, None, 500).await?;
            rows = page
                .items
                .into_iter()
                .filter(|m| uids.contains(&m.uid))
                .collect();
        }
        if as_json {
            crate::doc::print_line(&json!({
                "event": kind,
                "folder": name,
                "uids": uids,
                "messages": crate::doc::messages(&rows),
            }))?;
            continue;
        }
        if rows.is_empty() {
            out!("{kind} {name}: uid(s) {uids:?}");
        }
        for m in rows {
            out!(
                "{kind} {name}: {} uid {} {}",
                m.id.0,
                m.uid,
                crate::width::cut(&m.subject, 60)
            );
        }
    }
    Ok(())
}

async fn folder_name(engine: &Engine, account: AccountId, folder: FolderId) -> String {
    engine
        .folders(account)
        .await
        .ok()
        .and_then(|all| all.into_iter().find(|f| f.id == folder))
        .map_or_else(|| format!("folder {}", folder.0), |f| f.name)
}
