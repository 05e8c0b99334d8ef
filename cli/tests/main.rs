//! Every integration test of this package in one binary, each file a module: one link of the
//! engine instead of one per file. With a binary per file, the test build took over 12 GB of
//! disk and filled a CI machine's (2026-12-07).

mod cli;
mod commands;
mod common;
mod doctor;
mod exit_codes;
mod exit_status;
mod pop3_auto;
mod send;
mod watch;
