//! Reading: `ls` (folders, or a folder's messages a page at a time), `show`, `open` (the
//! readable body, fetched when it is not stored, with the wire bytes it cost) and `thread`.
//! Everything comes from the engine's queries; nothing here talks to a server.

use anvert_core::{
    engine::Engine,
    policy::NetworkKind,
    store::{AccountId, Cursor, FolderSummary, MessageId},
};
use anyhow::Context;
use serde_json::json;

use crate::{doc, exit, output, output::out};

/// A folder by name, or a usage error listing none.
pub async fn folder(
    engine: &Engine,
    account: AccountId,
    name: &str,
) -> anyhow::Result<FolderSummary> {
    match engine
        .folders(account)
        .await?
        .into_iter()
        .find(|f| f.name == name)
    {
        Some(f) => Ok(f),
        None => exit::usage(format!("no folder {name:?} (see `anvert ls`)")),
    }
}

/// Where a page starts: just below message `before`, or at a printed `cursor`
/// (`INTERNALDATE:UID`).
pub async fn start(
    engine: &Engine,
    before: Option<i64>,
    cursor: Option<&str>,
) -> anyhow::Result<Option<Cursor>> {
    if let Some(id) = before {
        let m = message(engine, id).await?;
        return Ok(Some(Cursor {
            internal_date: m.summary.internal_date,
            uid: m.summary.uid,
        }));
    }
    let Some(text) = cursor else {
        return Ok(None);
    };
    let parsed = text
        .split_once(':')
        .and_then(|(d, u)| Some((d.parse().ok()?, u.parse().ok()?)));
    match parsed {
        Some((internal_date, uid)) => Ok(Some(Cursor { internal_date, uid })),
        None => exit::usage(format!(
            "{text:?} is not a cursor (`anvert ls` prints the next page's)"
        )),
    }
}

fn cursor_text(c: &Cursor) -> String {
    format!("{}:{}", c.internal_date, c.uid)
}

pub struct LsArgs {
    pub folder: Option<String>,
    pub limit: u32,
    pub attachments: bool,
    pub before: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn ls(
    engine: &Engine,
    account: AccountId,
    args: LsArgs,
    as_json: bool,
) -> anyhow::Result<()> {
    let Some(name) = args.folder else {
        let folders = engine.folders(account).await?;
        if as_json {
            let list: Vec<_> = folders.iter().map(doc::folder).collect();
            return doc::print(&json!({ "folders": list }));
        }
        return output::folders(&folders);
    };
    let f = folder(engine, account, &name).await?;
    if args.attachments {
        return output::attachments(engine, f.id, args.limit).await;
    }
    let before = start(engine, args.before, args.cursor.as_deref()).await?;
    let page = engine.messages(f.id, before, args.limit).await?;
    let next = page.next.as_ref().map(cursor_text);
    if as_json {
        return doc::print(&json!({
            "folder": doc::folder(&f),
            "messages": doc::messages(&page.items),
            "next_cursor": next,
        }));
    }
    output::messages(&page.items)?;
    if let Some(next) = next {
        out!("next page: anvert ls {name:?} --cursor {next}");
    }
    Ok(())
}

async fn message(engine: &Engine, id: i64) -> anyhow::Result<anvert_core::store::MessageDetail> {
    match engine.message(MessageId(id)).await? {
        Some(m) => Ok(m),
        None => exit::usage(format!("no message {id}")),
    }
}

pub async fn show(engine: &Engine, id: i64, as_json: bool) -> anyhow::Result<()> {
    let m = message(engine, id).await?;
    if as_json {
        return doc::print(&json!({ "message": doc::detail(&m) }));
    }
    output::message(engine, &m).await
}

/// Wire bytes booked for the account so far (every network kind and purpose).
pub async fn booked(engine: &Engine, account: AccountId) -> anyhow::Result<u64> {
    Ok(engine
        .usage(account)
        .await?
        .iter()
        .map(|r| r.bytes_up + r.bytes_down)
        .sum())
}

/// The readable body: stored, or fetched now (only the text part, never an attachment).
/// `bytes` is what the fetch cost on the wire (0 when it came from the store).
pub async fn open(
    engine: &Engine,
    id: i64,
    network: NetworkKind,
    as_json: bool,
) -> anyhow::Result<()> {
    let m = message(engine, id).await?;
    let account = engine.account_of(m.summary.id).await?;
    let stored = engine.store().body(m.summary.id).await?.is_some();
    if !stored && network != NetworkKind::Offline {
        crate::accounts::authenticate(engine, account).await?;
    }
    let spent_before = booked(engine, account).await?;
    let body = engine
        .fetch_body(m.summary.id, network)
        .await
        .with_context(|| format!("opening message {id}"))?;
    // The warm connection logs out: its bytes reach the ledger before they are counted.
    engine.close_connections().await?;
    let bytes = booked(engine, account).await? - spent_before;
    let text = body
        .text
        .clone()
        .or_else(|| body.html.clone())
        .unwrap_or_default();
    if as_json {
        return doc::print(&json!({
            "message": doc::message(&m.summary),
            "text": body.text,
            "html": body.html,
            "from_store": stored,
            "bytes": bytes,
        }));
    }
    let s = &m.summary;
    out!("Subject: {}", s.subject);
    for a in &s.from {
        out!(
            "From:    {}",
            a.name
                .as_deref()
                .map_or_else(|| a.email.clone(), |n| format!("{n} <{}>", a.email))
        );
    }
    out!("");
    out!("{}", text.trim_end());
    out!("");
    if stored {
        out!("-- from the store, 0 B on the wire");
    } else {
        out!("-- fetched: {bytes} B on the wire");
    }
    Ok(())
}

pub async fn thread(engine: &Engine, id: i64, as_json: bool) -> anyhow::Result<()> {
    let m = message(engine, id).await?;
    let items = engine.thread(m.summary.id).await?;
    if as_json {
        return doc::print(
            &json!({ "thread": m.summary.thread.0, "messages": doc::messages(&items) }),
        );
    }
    output::messages(&items)
}
