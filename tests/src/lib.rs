//! anvert-tests: the host-side harness every integration test and benchmark uses.
//!
//! - `accounts`: many users on one Dovecot, each with a generated INBOX, and those users
//!   added to an engine as accounts (tests and benchmarks of many accounts).
//! - `certs`: a throwaway CA and a server certificate for 127.0.0.1/localhost, so TLS is
//!   verified for real (the client trusts the CA as an extra root, never by skipping checks).
//! - `dovecot`: a private Dovecot (IMAP + POP3, implicit TLS and STARTTLS/STLS) per test,
//!   on free loopback ports, stopped and removed on drop.
//! - `cyrus`: a private Cyrus IMAP 3.6 per test, the second real server (IMAP + POP3 over
//!   verified TLS, syslog to a file, delivery through a harness-only Unix socket), stopped
//!   and removed on drop.
//! - `server`: `TestServer`, what Dovecot and Cyrus share, and `on_each_server!`, which runs
//!   one test body against each of them.
//! - `generator`: a seeded, realistic mailbox generator that returns its ground truth.
//! - `ports`: free ports for the servers, from below the kernel's ephemeral range.
//! - `tap`: a loopback TCP relay that counts wire bytes and injects faults.
//! - `scripted`: a scripted IMAP server whose every answer the test chooses (hostile servers).
//! - `scripted_pop3`: its POP3 twin, a well-behaved maildrop whose answers a hook replaces.
//! - `submission`: Dovecot's submission service (BURL), URLAUTH and CATENATE, opt-in per test,
//!   with their switches in Dovecot's configuration.
//! - `smtp_sink`: the SMTP receiver Dovecot relays to; keeps what it gets, injects faults.
//! - `smtp_client`: a raw SMTP client over verified TLS (465-like and 587-like), for the
//!   harness' own tests and baselines that bypass the engine.
//!
//! This is test code: `unwrap`/`expect` are allowed here, a failing setup should fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod accounts;
pub mod attachment;
pub mod bench;
pub mod certs;
pub mod charsets;
pub mod client;
pub mod cyrus;
pub mod dovecot;
mod dovecot_config;
pub mod generator;
pub mod ports;
pub mod proc_cpu;
pub mod scripted;
pub mod scripted_pop3;
pub mod server;
pub mod smtp_client;
pub mod smtp_sink;
pub mod submission;
pub mod tap;
pub mod truth;
