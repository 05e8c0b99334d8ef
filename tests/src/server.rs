//! One face for the real servers (Dovecot, Cyrus), so that a test of behaviour both should
//! share is written once and run against each: `TestServer` gives the address, the trust, the
//! credential, the log, delivery of a generated mailbox and the server's own view of flags,
//! changes made as another client (`imap_as`), and `on_each_server!` turns one async test
//! body into a test per server (`on_each_server_with!` with some [`Extensions`] taken away).
//! What only one server can do (doveadm, Cyrus' tools, other options) stays on its own type.

use std::{collections::BTreeMap, net::SocketAddr};

use anvert_core::{
    net::{Credential, TlsConnector, Trust},
    store::SystemFlags,
};

use crate::{
    cyrus::Cyrus,
    dovecot::Dovecot,
    generator::{GenConfig, MessageTruth},
};

/// A running harness server with the test users `alice` and `bob`.
pub trait TestServer: Send + Sync {
    /// `"dovecot"` or `"cyrus"`, for messages.
    fn name(&self) -> &'static str;
    /// IMAP with implicit TLS on 127.0.0.1.
    fn imaps_addr(&self) -> SocketAddr;
    /// IMAP with STARTTLS on 127.0.0.1.
    fn imap_addr(&self) -> SocketAddr;
    /// POP3 with implicit TLS on 127.0.0.1.
    fn pop3s_addr(&self) -> SocketAddr;
    /// The harness CA, in PEM (what an engine's `extra_roots_pem` takes).
    fn ca_pem(&self) -> String;
    /// The trust a client needs: the harness CA as an extra root.
    fn trust(&self) -> Trust;
    /// A TLS connector with [`TestServer::trust`].
    fn tls(&self) -> TlsConnector {
        TlsConnector::new(&self.trust()).unwrap()
    }
    fn password(&self, user: &str) -> &str;
    fn credential(&self, user: &str) -> Credential {
        Credential::password(user, self.password(user))
    }
    /// The server's log so far (for assertion messages).
    fn log(&self) -> String;
    /// Puts a generated mailbox into `user`'s `folder` (None = INBOX) with the messages'
    /// flags and dates (INTERNALDATE), UIDs in generation order, and returns the truth.
    fn deliver_generated(
        &self,
        user: &str,
        folder: Option<&str>,
        config: &GenConfig,
    ) -> Vec<MessageTruth>;
    /// The server's UIDs and system flags of a folder, read without the engine.
    fn server_flags(&self, user: &str, folder: &str) -> BTreeMap<u32, SystemFlags>;
    /// Runs raw IMAP commands as `user` outside the engine (each must answer OK) and returns
    /// their untagged lines: how a test changes a mailbox as another client would.
    fn imap_as(&self, user: &str, commands: &[&str]) -> Vec<String>;
}

impl TestServer for Dovecot {
    fn name(&self) -> &'static str {
        "dovecot"
    }
    fn imaps_addr(&self) -> SocketAddr {
        Dovecot::imaps_addr(self)
    }
    fn imap_addr(&self) -> SocketAddr {
        Dovecot::imap_addr(self)
    }
    fn pop3s_addr(&self) -> SocketAddr {
        Dovecot::pop3s_addr(self)
    }
    fn ca_pem(&self) -> String {
        self.pki.ca_pem.clone()
    }
    fn trust(&self) -> Trust {
        Dovecot::trust(self)
    }
    fn password(&self, user: &str) -> &str {
        Dovecot::password(self, user)
    }
    fn log(&self) -> String {
        Dovecot::log(self)
    }
    fn deliver_generated(
        &self,
        user: &str,
        folder: Option<&str>,
        config: &GenConfig,
    ) -> Vec<MessageTruth> {
        Dovecot::deliver_generated(self, user, folder, config)
    }
    fn server_flags(&self, user: &str, folder: &str) -> BTreeMap<u32, SystemFlags> {
        Dovecot::server_flags(self, user, folder)
    }
    fn imap_as(&self, user: &str, commands: &[&str]) -> Vec<String> {
        Dovecot::imap_as(self, user, commands)
    }
}

impl TestServer for Cyrus {
    fn name(&self) -> &'static str {
        "cyrus"
    }
    fn imaps_addr(&self) -> SocketAddr {
        Cyrus::imaps_addr(self)
    }
    fn imap_addr(&self) -> SocketAddr {
        Cyrus::imap_addr(self)
    }
    fn pop3s_addr(&self) -> SocketAddr {
        Cyrus::pop3s_addr(self)
    }
    fn ca_pem(&self) -> String {
        self.pki.ca_pem.clone()
    }
    fn trust(&self) -> Trust {
        Trust::default()
            .with_extra_roots_pem(&self.pki.ca_pem)
            .unwrap()
    }
    fn password(&self, user: &str) -> &str {
        Cyrus::password(self, user)
    }
    fn log(&self) -> String {
        Cyrus::log(self)
    }
    fn deliver_generated(
        &self,
        user: &str,
        folder: Option<&str>,
        config: &GenConfig,
    ) -> Vec<MessageTruth> {
        Cyrus::deliver_generated(self, user, folder, config)
    }
    fn server_flags(&self, user: &str, folder: &str) -> BTreeMap<u32, SystemFlags> {
        Cyrus::server_flags(self, user, folder)
    }
    fn imap_as(&self, user: &str, commands: &[&str]) -> Vec<String> {
        Cyrus::imap_as(self, user, commands)
    }
}

/// The optional extensions a test can take away from either server: both offer all of
/// them by default. Dovecot stops advertising them through its config; Cyrus through
/// `suppress_capabilities`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions {
    pub condstore: bool,
    pub qresync: bool,
    pub compress: bool,
    /// PREVIEW (Cyrus 3.6 advertises it but answers NIL).
    pub preview: bool,
    /// MOVE (RFC 6851).
    pub move_command: bool,
    /// UIDPLUS (RFC 4315).
    pub uidplus: bool,
    /// SPECIAL-USE (RFC 6154): the role attributes in LIST.
    pub special_use: bool,
}

impl Default for Extensions {
    fn default() -> Self {
        Extensions {
            condstore: true,
            qresync: true,
            compress: true,
            preview: true,
            move_command: true,
            uidplus: true,
            special_use: true,
        }
    }
}

impl Extensions {
    /// Starts a Dovecot offering these extensions (and every other one).
    pub fn dovecot(self) -> Dovecot {
        Dovecot::start_with(crate::dovecot::DovecotOptions {
            condstore: self.condstore,
            qresync: self.qresync,
            compress: self.compress,
            preview: self.preview,
            move_command: self.move_command,
            uidplus: self.uidplus,
            special_use: self.special_use,
            ..Default::default()
        })
    }

    /// Starts a Cyrus offering these extensions (and every other one it has).
    pub fn cyrus(self) -> Cyrus {
        let mut suppress = Vec::new();
        if !self.condstore {
            suppress.push("CONDSTORE".to_string());
        }
        if !self.qresync {
            suppress.push("QRESYNC".to_string());
        }
        if !self.compress {
            suppress.push("COMPRESS=DEFLATE".to_string());
        }
        if !self.preview {
            suppress.push("PREVIEW".to_string());
        }
        if !self.move_command {
            suppress.push("MOVE".to_string());
        }
        if !self.uidplus {
            suppress.push("UIDPLUS".to_string());
        }
        if !self.special_use {
            // Without the capability (and XLIST), and without `specialusealways`, LIST
            // carries no role attributes.
            suppress.extend(["SPECIAL-USE".to_string(), "XLIST".to_string()]);
        }
        Cyrus::start_with(crate::cyrus::CyrusOptions {
            suppress_capabilities: suppress,
            ..Default::default()
        })
    }
}

/// Makes one test per real server from an async function taking `&dyn TestServer`:
/// `on_each_server!(initial_sync_stores_the_ground_truth);` adds the tests
/// `initial_sync_stores_the_ground_truth::dovecot` and `…::cyrus`, each starting its own
/// server with the defaults (filter with `cargo test … cyrus`).
#[macro_export]
macro_rules! on_each_server {
    ($($body:ident),+ $(,)?) => {$(
        mod $body {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dovecot() {
                let server = $crate::dovecot::Dovecot::start();
                super::$body(&server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cyrus() {
                let server = $crate::cyrus::Cyrus::start();
                super::$body(&server).await;
            }
        }
    )+};
}

/// [`on_each_server!`] with some extensions taken away:
/// `on_each_server_with!(delta_without_condstore, Extensions { condstore: false, qresync: false, ..Default::default() }, body)`
/// adds `delta_without_condstore::dovecot` and `…::cyrus`, each calling `body(&server)`.
#[macro_export]
macro_rules! on_each_server_with {
    ($name:ident, $extensions:expr, $body:ident) => {
        mod $name {
            #[allow(unused_imports)] // the extensions are written in the caller's scope
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dovecot() {
                let extensions: $crate::server::Extensions = $extensions;
                let server = extensions.dovecot();
                super::$body(&server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cyrus() {
                let extensions: $crate::server::Extensions = $extensions;
                let server = extensions.cyrus();
                super::$body(&server).await;
            }
        }
    };
}
