//! Search on the server as user work: it marks itself urgent (a running sync yields the warm
//! connection at its next clean point), leases the connection with user priority, and is
//! retried once on a new connection when the warm one turns out dead (it only reads).

use std::sync::Arc;

use super::{AccountSession, Priority};
use crate::{
    error::Result,
    imap::Criteria,
    policy::NetworkKind,
    sync::{self, HitList, SearchPage, SearchTarget},
};

/// Where a page of a server search starts.
#[derive(Debug, Clone)]
pub(crate) enum SearchFrom {
    /// A new search of these folders.
    Fresh(Vec<SearchTarget>),
    /// A search run again (its hit list was lost), skipping the hits shown before.
    Again(Vec<SearchTarget>, u32),
    /// The hit list of an earlier page: no search again.
    Continue(HitList),
}

impl AccountSession {
    /// The next page of `size` hits of a search on the server, and the hit list after it.
    pub(crate) async fn search_server(
        self: &Arc<Self>,
        from: SearchFrom,
        criteria: &Criteria,
        fuzzy: bool,
        size: u32,
        now: i64,
        network: NetworkKind,
    ) -> Result<(HitList, SearchPage)> {
        let _first = self.urgent();
        let mut retried = false;
        loop {
            let mut lease = self.lease(Priority::User, network).await?;
            let reused = lease.reused;
            let result = match lease.session() {
                Ok(session) => {
                    let store = self.store();
                    async {
                        let mut list = match &from {
                            SearchFrom::Fresh(targets) => {
                                sync::server_search::search(
                                    session, store, targets, criteria, fuzzy,
                                )
                                .await?
                            }
                            SearchFrom::Again(targets, shown) => {
                                let mut list = sync::server_search::search(
                                    session, store, targets, criteria, fuzzy,
                                )
                                .await?;
                                sync::server_search::skip(session, store, &mut list, *shown)
                                    .await?;
                                list
                            }
                            SearchFrom::Continue(list) => list.clone(),
                        };
                        let page =
                            sync::server_search::next_page(session, store, &mut list, size, now)
                                .await?;
                        Ok((list, page))
                    }
                    .await
                }
                Err(e) => Err(e),
            };
            lease.finish(&result).await?;
            match result {
                Err(e) if e.is_dead_connection() && reused && !retried => retried = true,
                other => return other,
            }
        }
    }
}
