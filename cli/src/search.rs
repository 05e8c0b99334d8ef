//! `anvert search`: the local full-text search, or with `--server` the search on the server,
//! which also finds mail outside the sync window; each page prints the hits newest first
//! (stored rows, openable with `anvert show`) and how many the server matched.

use anvert_core::{
    engine::{Engine, SearchPageRequest, SearchQuery},
    policy::NetworkKind,
    store::AccountId,
};
use serde_json::json;

use crate::{doc, exit, output, output::out};

/// What `anvert search` takes.
#[derive(clap::Args)]
pub struct Args {
    /// Words and "quoted phrases", anywhere in the message (as --text).
    pub query: Option<String>,
    /// Search on the server rather than the stored mail.
    #[arg(long)]
    pub server: bool,
    #[arg(long)]
    pub account: Option<i64>,
    /// One folder (server search only; default: every synced folder).
    #[arg(long)]
    pub folder: Option<String>,
    /// Words and "quoted phrases", anywhere in the message.
    #[arg(long, conflicts_with = "query")]
    pub text: Option<String>,
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    /// Received on or after this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Received before this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub before: Option<String>,
    /// Only unread messages.
    #[arg(long)]
    pub unseen: bool,
    /// Only flagged messages.
    #[arg(long)]
    pub flagged: bool,
    /// Rows per page.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// How many pages to print (server search).
    #[arg(long, default_value_t = 1)]
    pub pages: u32,
    #[arg(long, value_enum, default_value = "unmetered")]
    pub network: crate::NetworkArg,
}

pub async fn run(
    engine: &Engine,
    account: AccountId,
    args: Args,
    as_json: bool,
) -> anyhow::Result<()> {
    let text = args.query.or(args.text);
    if !args.server {
        let Some(text) = text.as_deref() else {
            return exit::usage("a local search takes words (or --server with criteria)");
        };
        let hits = engine.search(account, text, args.limit).await?;
        if as_json {
            return doc::print(&json!({ "where": "local", "hits": doc::messages(&hits) }));
        }
        output::messages(&hits)?;
        out!("{} local hit(s)", hits.len());
        return Ok(());
    }
    let query = SearchQuery {
        text,
        from: args.from,
        to: args.to,
        subject: args.subject,
        since: args.since.as_deref().map(parse_day).transpose()?,
        before: args.before.as_deref().map(parse_day).transpose()?,
        seen: args.unseen.then_some(false),
        flagged: args.flagged.then_some(true),
        ..Default::default()
    };
    let folder = match &args.folder {
        None => None,
        Some(name) => Some(crate::read::folder(engine, account, name).await?.id),
    };
    let network: NetworkKind = args.network.kind();
    let mut after = None;
    let mut pages = Vec::new();
    for _ in 0..args.pages.max(1) {
        let request = SearchPageRequest {
            size: args.limit,
            after,
        };
        let page = engine
            .search_server(account, folder, &query, &request, network)
            .await?;
        let stored = page.items.len() as u32 - page.fetched.min(page.items.len() as u32);
        if as_json {
            pages.push(json!({
                "hits": doc::messages(&page.items),
                "total": page.total,
                "fetched": page.fetched,
                "stored_already": stored,
            }));
        } else {
            output::messages(&page.items)?;
            out!(
                "{} of {} server hit(s) shown; {} fetched from the server, {stored} stored already",
                page.items.len(),
                page.total,
                page.fetched,
            );
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if as_json {
        doc::print(&json!({ "where": "server", "pages": pages }))?;
    }
    Ok(())
}

/// Unix seconds of the UTC midnight of `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> anyhow::Result<i64> {
    let mut it = text.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (it.next(), it.next(), it.next()) else {
        return exit::usage(format!("{text:?} is not a date like 2024-05-31"));
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return exit::usage(format!("{text:?} is not a date like 2024-05-31"));
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2000-02-29").unwrap(), 951_782_400);
        assert!(parse_day("2000-13-01").is_err());
        assert!(parse_day("yesterday").is_err());
    }
}
