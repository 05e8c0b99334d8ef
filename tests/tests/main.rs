//! Every integration test of this package in one binary, each file a module: one link of the
//! engine instead of one per file. With a binary per file, the test build took over 12 GB of
//! disk and filled a CI machine's (2026-12-07).
//!
//! Four files stay binaries of their own (`Cargo.toml`), because they measure the whole process:
//! the peak resident set (`hostile_memory`, `hostile_pop3`, `hostile_exists`) and its threads (`tap`).

mod binary_downloads;
mod callbacks;
mod catenate;
mod content;
mod content_cancel;
mod content_every_server;
mod cyrus_sync;
mod download_upgrade;
mod engine;
mod flag_scan;
mod flags_allowed;
mod folder_roles;
mod generator;
mod harness;
mod hostile_downloads;
mod hostile_imap;
mod hostile_sync;
mod imap_bytes;
mod imap_faults;
mod imap_sync;
mod imap_wire;
mod keepalive;
mod many_accounts;
mod moves;
mod moves_faults;
mod moves_minimal;
mod moves_scripted;
mod oauth;
mod objectid;
mod objectid_scripted;
mod pop3_scripted;
mod pop3_sync;
mod pop3_sync_faults;
mod preview_nil;
mod queue_rows;
mod sending;
mod sending_common;
mod sending_faults;
mod sending_harness;
mod sending_kill;
mod server_search;
mod server_search_preempt;
mod server_search_scripted;
mod smtp_client;
mod snippets;
mod structure;
mod submission_probe;
mod two_way_every_server;
mod warm_every_server;
mod warm_sessions;
mod writeback;
