//! Anvert core: the mail sync engine behind the mobile bindings.
//!
//! Layers, top to bottom (data flows down, never back up):
//! `engine` (public API, a façade) → `account` (one owner per account: its connections and
//! the priority of its work) → `sync` (the only place where network and store meet) →
//! `imap` / `pop3` (protocol sessions, no store access) and `store` (the only SQL) →
//! `mime`, `blobs`, `policy`, `net`. See ARCHITECTURE.md at the repository root.

pub mod account;
pub mod blobs;
mod digits;
pub mod engine;
pub mod error;
pub mod events;
pub mod imap;
pub mod limits;
pub mod mime;
#[cfg(test)]
mod mutate;
pub mod net;
pub mod policy;
pub mod pop3;
mod scan;
pub mod smtp;
mod sort;
pub mod store;
pub mod sync;

pub use error::{Error, Result, TokenFailure};

// `log` is a dependency only for its features: trace level is compiled out of the whole build,
// because async-imap logs every command it sends (LOGIN and AUTHENTICATE included) at trace.
use log as _;
