//! Every integration test of this package in one binary, each file a module: one link of the
//! engine instead of one per file. With a binary per file, the test build took over 12 GB of
//! disk and filled a CI machine's (2026-12-07).

mod charsets;
mod checkpoint;
mod common;
mod content;
mod crypto;
mod drafts;
mod folder_counts;
mod folder_roles;
mod framing;
mod objectid;
mod ops;
mod preview_nil;
mod search_index;
mod store;
mod store_accounts;
mod store_describe;
mod store_queries;
mod threads_many;
