//! Search on the server across the FFI: the query, the page and its cursor as records, and
//! the one exported call. Conversions only; the core checks the query and does the work.

use anvert_core::{
    engine as ce,
    store::{AccountId, FolderId},
};

use crate::{
    engine::Engine,
    error::AnvertError,
    types::{MessageSummary, NetworkKind, summaries},
};

/// What to search for on the server; every field given must match. `text` is words and
/// "quoted phrases", each found anywhere in the message. Dates are Unix seconds (UTC days).
/// A flag field: `true` must have the flag, `false` must not, `null` either.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SearchQuery {
    #[uniffi(default = None)]
    pub text: Option<String>,
    #[uniffi(default = None)]
    pub from: Option<String>,
    #[uniffi(default = None)]
    pub to: Option<String>,
    #[uniffi(default = None)]
    pub subject: Option<String>,
    #[uniffi(default = None)]
    pub since: Option<i64>,
    #[uniffi(default = None)]
    pub before: Option<i64>,
    #[uniffi(default = None)]
    pub seen: Option<bool>,
    #[uniffi(default = None)]
    pub flagged: Option<bool>,
    #[uniffi(default = None)]
    pub answered: Option<bool>,
    #[uniffi(default = None)]
    pub draft: Option<bool>,
    #[uniffi(default = None)]
    pub deleted: Option<bool>,
    /// Fuzzy matching where the server offers it (SEARCH=FUZZY).
    #[uniffi(default = false)]
    pub fuzzy: bool,
}

impl From<SearchQuery> for ce::SearchQuery {
    fn from(q: SearchQuery) -> Self {
        ce::SearchQuery {
            text: q.text,
            from: q.from,
            to: q.to,
            subject: q.subject,
            since: q.since,
            before: q.before,
            seen: q.seen,
            flagged: q.flagged,
            answered: q.answered,
            draft: q.draft,
            deleted: q.deleted,
            fuzzy: q.fuzzy,
        }
    }
}

/// Where a page of a server search ended; pass it back for the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SearchCursor {
    pub token: u64,
    pub shown: u32,
}

impl From<SearchCursor> for ce::SearchCursor {
    fn from(c: SearchCursor) -> Self {
        ce::SearchCursor {
            token: c.token,
            shown: c.shown,
        }
    }
}

impl From<ce::SearchCursor> for SearchCursor {
    fn from(c: ce::SearchCursor) -> Self {
        SearchCursor {
            token: c.token,
            shown: c.shown,
        }
    }
}

/// A page of a server search: stored messages, newest first, openable like any other.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchPage {
    pub items: Vec<MessageSummary>,
    /// How many messages matched on the server.
    pub total: u32,
    /// How many rows were fetched now (the rest were stored already).
    pub fetched: u32,
    /// Hits left out because the server described them unreadably.
    pub unreadable: u32,
    /// `null` when this page reached the last hit.
    pub next: Option<SearchCursor>,
}

#[uniffi::export]
impl Engine {
    /// Searches the account's mail on the server: `folder`, or every synced folder (`null`).
    /// Finds messages outside the sync window; the page's rows are stored (headers only).
    /// `after` is the previous page's `next`. A bad query fails with `InvalidQuery` before
    /// anything is sent.
    pub async fn search_server(
        &self,
        account: i64,
        folder: Option<i64>,
        query: SearchQuery,
        page_size: u32,
        after: Option<SearchCursor>,
        network: NetworkKind,
    ) -> Result<SearchPage, AnvertError> {
        let query: ce::SearchQuery = query.into();
        let request = ce::SearchPageRequest {
            size: page_size,
            after: after.map(Into::into),
        };
        let page = self
            .call(move |e| async move {
                e.search_server(
                    AccountId(account),
                    folder.map(FolderId),
                    &query,
                    &request,
                    network.into(),
                )
                .await
            })
            .await?;
        Ok(SearchPage {
            items: summaries(page.items),
            total: page.total,
            fetched: page.fetched,
            unreadable: page.unreadable,
            next: page.next.map(Into::into),
        })
    }
}
