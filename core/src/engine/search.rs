//! Search on the server, routed: the engine checks the query (nothing malformed reaches the
//! wire), picks the folders (one, or every selectable folder synced at least once: a
//! search needs the folder's UIDVALIDITY to store its hits), and hands the page to the
//! account, which runs it as user work over the warm connection. The hit lists of the last
//! few searches are kept in memory, so the next page of a search costs no SEARCH again;
//! a cursor whose list is gone (evicted, engine reopened) runs the search again and skips
//! the hits shown before.

use std::collections::VecDeque;

use super::{Engine, recover, unix_now};
use crate::{
    account::SearchFrom,
    error::{Error, Result},
    imap::SearchQuery,
    policy::NetworkKind,
    store::{AccountId, AccountKind, FolderId, MAX_PAGE, MessageSummary},
    sync::{HitList, SearchTarget},
};

/// How many searches' hit lists the engine keeps for their next pages.
const KEPT_SEARCHES: usize = 8;

/// Which page of a server search to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchPageRequest {
    /// Rows per page (1 to `MAX_PAGE`; larger is clamped).
    pub size: u32,
    /// Where the previous page ended; `None` for the first page.
    pub after: Option<SearchCursor>,
}

/// Where a page of a server search ended. Pass it back for the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SearchCursor {
    /// The engine's handle on the search's hit list.
    pub token: u64,
    /// How many hits the pages so far showed.
    pub shown: u32,
}

/// A page of a server search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSearchPage {
    /// Newest first; every row is stored and can be opened like any message.
    pub items: Vec<MessageSummary>,
    /// How many messages matched on the server, over all folders searched.
    pub total: u32,
    /// How many rows of this page were fetched now (the others were stored already).
    pub fetched: u32,
    /// Hits of this page whose summary the server sent unreadable (left out).
    pub unreadable: u32,
    /// The cursor for the next page; `None` when this page reached the last hit.
    pub next: Option<SearchCursor>,
}

/// The hit lists kept for next pages, newest last.
#[derive(Debug, Default)]
pub(super) struct SearchCache {
    last_token: u64,
    kept: VecDeque<(u64, SearchKey, HitList)>,
}

/// What a hit list answers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SearchKey {
    account: AccountId,
    folder: Option<FolderId>,
    query: SearchQuery,
}

impl Engine {
    /// Searches the account's mail on the server: `folder`, or every folder synced at least
    /// once (`None`). Messages outside the sync window are found too; the page's rows that
    /// are not stored are fetched (headers only, as the sync stores them) and stored marked
    /// outside the window (see `ARCHITECTURE.md` for how long they stay). Runs ahead of a
    /// sync in progress. A bad query is refused before anything is sent
    /// (`Error::InvalidQuery`); a server that refuses UTF-8 for non-ASCII text gives
    /// `Error::Unsupported`.
    pub async fn search_server(
        &self,
        account: AccountId,
        folder: Option<FolderId>,
        query: &SearchQuery,
        page: &SearchPageRequest,
        network: NetworkKind,
    ) -> Result<ServerSearchPage> {
        let criteria = query.criteria()?;
        let size = page.size.clamp(1, MAX_PAGE);
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        if self.account(account).await?.kind == AccountKind::Pop3 {
            return Err(Error::Unsupported {
                what: "search on a POP3 server",
            });
        }
        let key = SearchKey {
            account,
            folder,
            query: query.clone(),
        };
        let now = unix_now();
        let from = match page.after {
            Some(cursor) => match self.kept_search(cursor.token, &key) {
                Some(list) if list.shown() == cursor.shown => SearchFrom::Continue(list),
                _ => SearchFrom::Again(self.search_targets(account, folder).await?, cursor.shown),
            },
            None => {
                self.store.prune_search_hits(account, now).await?;
                SearchFrom::Fresh(self.search_targets(account, folder).await?)
            }
        };
        let (list, found) = self
            .runtime(account)?
            .search_server(from, &criteria, query.fuzzy, size, now, network)
            .await?;
        let (total, shown, more) = (list.total(), list.shown(), list.has_more());
        let next = more.then(|| SearchCursor {
            token: self.keep_search(key, list),
            shown,
        });
        Ok(ServerSearchPage {
            items: found.items,
            total,
            fetched: found.fetched,
            unreadable: found.unreadable,
            next,
        })
    }

    /// The folders a search covers: `folder`, or every selectable folder with a stored
    /// UIDVALIDITY. A named folder never synced is refused.
    async fn search_targets(
        &self,
        account: AccountId,
        folder: Option<FolderId>,
    ) -> Result<Vec<SearchTarget>> {
        let mut targets = Vec::new();
        for f in self.store.folders(account).await? {
            if folder.is_some_and(|id| id != f.id) || !f.selectable {
                continue;
            }
            if let Some(uid_validity) = self.store.folder_state(f.id).await?.uidvalidity {
                targets.push(SearchTarget {
                    folder: f.id,
                    name: f.name,
                    uid_validity,
                });
            }
        }
        match folder {
            Some(id) if targets.is_empty() => Err(Error::NotFound {
                what: "synced folder",
                id: id.0,
            }),
            _ => Ok(targets),
        }
    }

    /// The hit list kept under `token`, if it answers `key`.
    fn kept_search(&self, token: u64, key: &SearchKey) -> Option<HitList> {
        recover(self.searches.lock(), "the kept searches")
            .kept
            .iter()
            .find(|(t, k, _)| *t == token && k == key)
            .map(|(_, _, list)| list.clone())
    }

    /// Keeps `list` for the next page; returns its token.
    fn keep_search(&self, key: SearchKey, list: HitList) -> u64 {
        let mut cache = recover(self.searches.lock(), "the kept searches");
        cache.last_token += 1;
        let token = cache.last_token;
        cache.kept.push_back((token, key, list));
        while cache.kept.len() > KEPT_SEARCHES {
            cache.kept.pop_front();
        }
        token
    }
}
