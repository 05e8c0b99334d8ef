//! `anvert search`: the local full-text search, or with `--server` the search on the server,
//! which also finds mail outside the sync window; each page prints the hits newest first
//! (stored rows, openable with `anvert show`) and how many the server matched.

use anvert_core::{
    engine::{Engine, SearchPageRequest, SearchQuery},
    policy::NetworkKind,
    store::AccountId,
};
use anyhow::{Context, bail};

use crate::output;

/// What `anvert search` was asked.
pub struct Args {
    pub server: bool,
    pub folder: Option<String>,
    pub query: SearchQuery,
    pub limit: u32,
    pub pages: u32,
    pub network: NetworkKind,
}

pub async fn run(engine: &Engine, account: AccountId, args: Args) -> anyhow::Result<()> {
    if !args.server {
        let text = args
            .query
            .text
            .as_deref()
            .context("a local search takes --text (or add --server)")?;
        let hits = engine.search(account, text, args.limit).await?;
        output::messages(&hits)?;
        println!("{} local hit(s)", hits.len());
        return Ok(());
    }
    let folder = match &args.folder {
        None => None,
        Some(name) => {
            let folders = engine.folders(account).await?;
            let Some(f) = folders.iter().find(|f| &f.name == name) else {
                bail!("no folder {name:?}")
            };
            Some(f.id)
        }
    };
    let mut after = None;
    for _ in 0..args.pages.max(1) {
        let request = SearchPageRequest {
            size: args.limit,
            after,
        };
        let page = engine
            .search_server(account, folder, &args.query, &request, args.network)
            .await?;
        output::messages(&page.items)?;
        println!(
            "{} of {} server hit(s) shown; {} fetched from the server, {} stored already",
            page.items.len(),
            page.total,
            page.fetched,
            page.items.len() as u32 - page.fetched.min(page.items.len() as u32),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(())
}

/// Unix seconds of the UTC midnight of `YYYY-MM-DD`.
pub fn parse_day(text: &str) -> anyhow::Result<i64> {
    let mut it = text.splitn(3, '-').map(str::parse::<i64>);
    let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) = (it.next(), it.next(), it.next()) else {
        bail!("{text:?} is not a date like 2024-05-31")
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("{text:?} is not a date like 2024-05-31")
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
