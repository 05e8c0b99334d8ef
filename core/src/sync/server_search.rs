//! Search on the server, a page at a time. `UID SEARCH` (ESEARCH `RETURN (ALL)` where
//! offered) runs once per folder searched, each in the folder EXAMINEd in the same flight;
//! the hits are kept ([`HitList`]) newest first, so later pages cost no search again.
//!
//! A page takes the next hits: in one folder by UID, highest first (arrival order); across
//! folders by INTERNALDATE, merging the folders' lists (the dates of the hits that can make
//! the page are read from the store where the message is stored, else with one
//! `UID FETCH (UID INTERNALDATE)` per folder). Only the page's hits that are not stored are
//! fetched, with the summary items and through the summary fetch and write path of the sync
//! (`start_summaries`, `recover`, `write_messages`), and stored marked outside the
//! window when their UID is below it (migration 0014; `store::hits` says how long they stay).
//! A hit already stored is served from the store and not fetched again. A hit whose summary
//! cannot be read is recovered as the sync does (`recover`: stored incomplete at worst);
//! one that cannot be read at all is left out of the page (counted in
//! [`SearchPage::unreadable`]).

use std::collections::BTreeMap;

use super::{
    Budget,
    folder::{FolderReport, SyncMode},
    recover::{Recovery, store_bodies},
};
use crate::{
    error::{Error, Result},
    imap::{Criteria, ImapSession, SummaryItems, Window, uid_set},
    store::{FolderId, MessageId, MessageSummary, NewMessage, Store},
};

/// A folder to search, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTarget {
    pub folder: FolderId,
    pub name: String,
    pub uid_validity: u32,
}

/// One folder's hits, highest UID first, and how many of them were shown.
#[derive(Debug, Clone)]
struct FolderHits {
    target: SearchTarget,
    uids: Vec<u32>,
    shown: usize,
}

impl FolderHits {
    fn remaining(&self) -> &[u32] {
        self.uids.get(self.shown..).unwrap_or_default()
    }
}

/// The hits of one search on the server, and how far the pages have gone.
#[derive(Debug, Clone, Default)]
pub struct HitList {
    folders: Vec<FolderHits>,
    /// INTERNALDATEs learned for ordering hits across folders.
    dates: BTreeMap<(FolderId, u32), i64>,
}

impl HitList {
    /// How many messages matched, over all folders searched.
    pub fn total(&self) -> u32 {
        self.folders.iter().map(|f| f.uids.len() as u32).sum()
    }

    /// How many hits the pages so far have taken.
    pub fn shown(&self) -> u32 {
        self.folders.iter().map(|f| f.shown as u32).sum()
    }

    /// Whether hits are left for another page.
    pub fn has_more(&self) -> bool {
        self.folders.iter().any(|f| !f.remaining().is_empty())
    }
}

/// What a page showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    /// The page's messages, newest first, every one stored.
    pub items: Vec<MessageSummary>,
    /// How many of them were fetched from the server now (the others were stored already).
    pub fetched: u32,
    /// Hits of the page that could not be read at all, even the sync's other ways.
    pub unreadable: u32,
}

/// Searches `targets` for `criteria`. In a search of several folders, a folder whose
/// UIDVALIDITY changed since it was synced is left out (the next sync resets it); a search
/// of one folder fails with `Error::FolderChanged`. A message the app moved or deleted
/// (queued, not written back yet) is no hit where the server still lists it: its row is
/// elsewhere already, and fetching it back would show it twice.
pub async fn search(
    session: &mut ImapSession,
    store: &Store,
    targets: &[SearchTarget],
    criteria: &Criteria,
    fuzzy: bool,
) -> Result<HitList> {
    let mut list = HitList::default();
    for target in targets {
        let found = session
            .search_in(&target.name, Some(target.uid_validity), criteria, fuzzy)
            .await;
        let mut uids = match found {
            Ok(uids) => uids,
            Err(Error::FolderChanged) if targets.len() > 1 => continue,
            Err(e) => return Err(e),
        };
        let away = store.queued_away_uids(target.folder).await?;
        uids.retain(|u| away.binary_search(u).is_err());
        uids.reverse();
        list.folders.push(FolderHits {
            target: target.clone(),
            uids,
            shown: 0,
        });
    }
    Ok(list)
}

/// The next `size` hits, in page order, and the list moved past them (nothing fetched but
/// the dates needed to order several folders).
async fn take(
    session: &mut ImapSession,
    store: &Store,
    list: &mut HitList,
    size: usize,
) -> Result<Vec<(usize, u32)>> {
    if list.folders.len() > 1 {
        learn_dates(session, store, list, size).await?;
    }
    let mut taken = Vec::with_capacity(size);
    let mut heads: Vec<usize> = list.folders.iter().map(|f| f.shown).collect();
    while taken.len() < size {
        // The folder whose next hit is newest; without a date, the first folder's order.
        let mut best: Option<(usize, Option<i64>)> = None;
        for (i, f) in list.folders.iter().enumerate() {
            let Some(&uid) = heads.get(i).and_then(|&h| f.uids.get(h)) else {
                continue;
            };
            let date = list.dates.get(&(f.target.folder, uid)).copied();
            if best.is_none_or(|(_, d)| date > d) {
                best = Some((i, date));
            }
        }
        let Some((i, _)) = best else { break };
        if let (Some(h), Some(f)) = (heads.get_mut(i), list.folders.get(i))
            && let Some(&uid) = f.uids.get(*h)
        {
            taken.push((i, uid));
            *h += 1;
        }
    }
    for (f, h) in list.folders.iter_mut().zip(heads) {
        f.shown = h;
    }
    Ok(taken)
}

/// Reads the INTERNALDATE of each folder's next `size` hits not known yet: from the store
/// for stored messages, else from the server.
async fn learn_dates(
    session: &mut ImapSession,
    store: &Store,
    list: &mut HitList,
    size: usize,
) -> Result<()> {
    for f in &list.folders {
        let unknown: Vec<u32> = f
            .remaining()
            .iter()
            .take(size)
            .copied()
            .filter(|u| !list.dates.contains_key(&(f.target.folder, *u)))
            .collect();
        if unknown.is_empty() {
            continue;
        }
        let stored = store.stored_among(f.target.folder, &unknown).await?;
        let ids: Vec<MessageId> = stored.iter().map(|(_, id)| *id).collect();
        for s in store.summaries_of(&ids).await? {
            list.dates.insert((f.target.folder, s.uid), s.internal_date);
        }
        let missing: Vec<u32> = unknown
            .into_iter()
            .filter(|u| !list.dates.contains_key(&(f.target.folder, *u)))
            .collect();
        let dates = session
            .internal_dates_in(&f.target.name, Some(f.target.uid_validity), &missing)
            .await?;
        for (uid, date) in dates {
            list.dates.insert((f.target.folder, uid), date);
        }
    }
    Ok(())
}

/// Moves the list past `count` hits without fetching them (a page that was shown before
/// the list was lost).
pub async fn skip(
    session: &mut ImapSession,
    store: &Store,
    list: &mut HitList,
    count: u32,
) -> Result<()> {
    let mut left = count as usize;
    while left > 0 && list.has_more() {
        let step = left.min(crate::store::MAX_PAGE as usize);
        take(session, store, list, step).await?;
        left -= step;
    }
    Ok(())
}

/// The next page of `size` hits: stored ones from the store, the others fetched and stored.
pub async fn next_page(
    session: &mut ImapSession,
    store: &Store,
    list: &mut HitList,
    size: u32,
    now: i64,
) -> Result<SearchPage> {
    let taken = take(session, store, list, size as usize).await?;
    let mut page = SearchPage::default();
    let mut ids: BTreeMap<(usize, u32), MessageId> = BTreeMap::new();
    for (i, f) in list.folders.iter().enumerate() {
        let uids: Vec<u32> = taken
            .iter()
            .filter(|(at, _)| *at == i)
            .map(|(_, u)| *u)
            .collect();
        if uids.is_empty() {
            continue;
        }
        let stored = store.stored_among(f.target.folder, &uids).await?;
        let missing: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| !stored.iter().any(|(s, _)| s == u))
            .collect();
        let (fetched, bodies) = fetch_summaries(session, store, &f.target, &missing).await?;
        page.unreadable += (missing.len() - fetched.len()) as u32;
        page.fetched += fetched.len() as u32;
        let touched: Vec<MessageId> = stored.iter().map(|(_, id)| *id).collect();
        let new_ids = store
            .store_search_hits(f.target.folder, &fetched, &touched, now)
            .await?;
        store_bodies(store, f.target.folder, &bodies).await?;
        for (m, id) in fetched.iter().zip(new_ids) {
            ids.insert((i, m.uid), id);
        }
        for (uid, id) in stored {
            ids.insert((i, uid), id);
        }
    }
    let ordered: Vec<MessageId> = taken.iter().filter_map(|k| ids.get(k).copied()).collect();
    page.items = store.summaries_of(&ordered).await?;
    Ok(page)
}

/// The summaries of `uids` of the folder, as the sync fetches them (same items, same
/// parser, same conversion), every message accounted for the sync's way (`recover`): one
/// whose summary cannot be read is fetched again other ways and, failing that, stored
/// incomplete (the next sync fetches it again); only one that cannot be read at all is
/// left out. Also the bodies read on the way (to store with the rows).
async fn fetch_summaries(
    session: &mut ImapSession,
    store: &Store,
    target: &SearchTarget,
    uids: &[u32],
) -> Result<(Vec<NewMessage>, Vec<(u32, bool, String)>)> {
    if uids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    session
        .ensure_examined(&target.name, Some(target.uid_validity))
        .await?;
    let preview = session.capabilities().has("PREVIEW")
        && !store
            .preview_nil(target.folder, session.server_fingerprint())
            .await?;
    let items = SummaryItems {
        preview,
        modseq: session.has_condstore(),
        references: true,
        // Stored with the hit, for threads and for recognising it when a sync meets it.
        objectid: session.has_objectid(),
    };
    let mut fetch = session.start_summaries(&[uid_set(uids)], true, items, 1);
    let mut got = Window::default();
    while let Some(window) = session.next_window(&mut fetch).await? {
        got.messages.extend(
            window
                .messages
                .into_iter()
                .filter(|m| uids.contains(&m.uid)),
        );
        got.unparsable.extend(window.unparsable);
    }
    let budget = Budget::new(session.meter(), None);
    let mut report = FolderReport::new(&target.name, SyncMode::Unchanged);
    let recovered = Recovery {
        session,
        budget: &budget,
        items,
        prefer_html: false,
    }
    .recover(got, &mut report)
    .await?;
    let mut out: Vec<NewMessage> = recovered
        .messages
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| uids.contains(&m.uid))
        .collect();
    crate::sort::sort_by_key(&mut out, |m| m.uid);
    out.dedup_by_key(|m| m.uid);
    Ok((out, recovered.bodies))
}
