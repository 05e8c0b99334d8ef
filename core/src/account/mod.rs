//! One owner per account: where and as whom it connects (swapped in place, never rebuilt),
//! its warm IMAP connections (one for commands, one for IDLE while push runs), a byte meter
//! per connection, the locks that keep its work in order (one sync at a time, the
//! write-back queue), and the priority of that work: what the app asked for on the user's
//! behalf (opening a body, a download, a search) runs before background sync and prefetch,
//! which give the connection up at their next clean point and then carry on.
//!
//! It sits below `engine` (which validates and routes) and beside `sync` (which meets the
//! protocol and the store): this layer holds connections and decides who uses them when; it
//! runs no SQL of its own beyond the byte ledger, and it never parses protocol data.
//!
//! POP3 accounts are never kept warm: a POP3 server holds the maildrop lock for as long as
//! a session is open, so every POP3 operation connects, works and quits.

mod lease;
mod pop3;
mod push;
mod search;
mod send;
mod work;

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

pub(crate) use lease::{Lease, book};
pub(crate) use search::SearchFrom;
pub use work::{Body, ProgressListener};

use crate::{
    engine::Protocol,
    imap::ConnectOptions,
    net::{Credential, Endpoint, TlsConnector},
    store::{AccountId, Store},
};

/// How an account's connections live. The defaults suit a mail app in the foreground.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Keep a connection open between operations (`true`, the default). `false` is the
    /// cold path: every operation connects and logs out (kept for comparison benchmarks and
    /// for apps that cannot hold a socket).
    pub warm: bool,
    /// In the foreground, a connection stays open this long after its last use.
    pub keep_warm: Duration,
    /// A warm connection unused for this long is probed with NOOP before it is reused.
    pub probe_after: Duration,
    /// How long the NOOP probe (and the reply to IDLE's DONE) may take before the connection
    /// counts as dead.
    pub probe_timeout: Duration,
    /// Push: IDLE is re-issued after this long at first; the interval shrinks when a
    /// connection dies in IDLE and never exceeds 29 minutes.
    pub idle_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            warm: true,
            keep_warm: Duration::from_secs(5 * 60),
            probe_after: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(10),
            idle_interval: Duration::from_secs(15 * 60),
        }
    }
}

/// How long a sync may overrun its deadline while a network read hangs before it is cut.
pub(crate) const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// The longest IDLE before it is re-issued: servers may end one after 30 minutes (RFC 2177).
pub const IDLE_MAX: Duration = Duration::from_secs(29 * 60);

/// Who an operation is for. User work goes first; background work yields to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The app asked on the user's behalf: opening a message, a download, a search.
    User,
    /// Sync, prefetch, write-back.
    Background,
}

/// What every account of an engine shares: the store, TLS, connection knobs, the app's
/// lifecycle state.
pub(crate) struct Shared {
    pub store: Store,
    pub tls: TlsConnector,
    pub connect: ConnectOptions,
    pub config: SessionConfig,
    /// The app is in the foreground (connections are kept warm).
    pub foreground: AtomicBool,
    /// Bumped on every network change: a connection made under an older one is closed.
    pub network: AtomicU64,
    /// Wakes push loops when the network changes.
    pub network_changed: tokio::sync::Notify,
}

impl Shared {
    pub fn new(
        store: Store,
        tls: TlsConnector,
        connect: ConnectOptions,
        config: SessionConfig,
    ) -> Self {
        Shared {
            store,
            tls,
            connect,
            config,
            foreground: AtomicBool::new(true),
            network: AtomicU64::new(0),
            network_changed: tokio::sync::Notify::new(),
        }
    }

    fn network_generation(&self) -> u64 {
        self.network.load(Ordering::Acquire)
    }
}

/// An account's owner: see the module documentation.
pub(crate) struct AccountSession {
    pub id: AccountId,
    pub protocol: Protocol,
    shared: Arc<Shared>,
    endpoint: RwLock<Endpoint>,
    credential: RwLock<Credential>,
    /// One sync at a time per account (held for the whole sync, across preemptions).
    pub busy: tokio::sync::Mutex<()>,
    /// Held while the write-back replays the queue, and by local moves, deletions and
    /// drafts (which fold into queued rows), so neither sees the other half-done.
    pub queue: tokio::sync::Mutex<()>,
    /// The command connection, warm or not, and who holds it.
    command: Arc<tokio::sync::Mutex<Option<lease::Warm>>>,
    /// User operations waiting for or holding the command connection.
    urgent: Arc<AtomicUsize>,
    /// Signalled when `urgent` drops to zero.
    urgent_done: tokio::sync::Notify,
    /// When the command connection was last released (the keep-warm timer's reference).
    released: std::sync::Mutex<std::time::Instant>,
    /// A keep-warm timer is running for this account.
    expiry_armed: AtomicBool,
}

impl std::fmt::Debug for AccountSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSession")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl AccountSession {
    pub fn new(
        id: AccountId,
        protocol: Protocol,
        endpoint: Endpoint,
        credential: Credential,
        shared: Arc<Shared>,
    ) -> Self {
        AccountSession {
            id,
            protocol,
            shared,
            endpoint: RwLock::new(endpoint),
            credential: RwLock::new(credential),
            busy: tokio::sync::Mutex::new(()),
            queue: tokio::sync::Mutex::new(()),
            command: Arc::new(tokio::sync::Mutex::new(None)),
            urgent: Arc::new(AtomicUsize::new(0)),
            urgent_done: tokio::sync::Notify::new(),
            released: std::sync::Mutex::new(std::time::Instant::now()),
            expiry_armed: AtomicBool::new(false),
        }
    }

    /// Swaps the credential in place. Work already connected carries on as it logged in;
    /// every connection from now on uses the new one. Nothing else is rebuilt: the locks,
    /// the queue and the connections stay.
    pub fn set_credential(&self, credential: Credential) {
        *crate::engine::recover(self.credential.write(), "the account's credential") = credential;
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        crate::engine::recover(self.endpoint.read(), "the account's endpoint").clone()
    }

    pub(crate) fn credential(&self) -> Credential {
        crate::engine::recover(self.credential.read(), "the account's credential").clone()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Marks a user operation as waiting: background work gives the connection up at its
    /// next clean point until the returned guard is dropped.
    pub(crate) fn urgent(&self) -> UrgentGuard<'_> {
        self.urgent.fetch_add(1, Ordering::AcqRel);
        UrgentGuard { account: self }
    }

    /// The counter background work watches (see `sync::Budget::with_preempt`).
    pub(crate) fn preempt_signal(&self) -> Arc<AtomicUsize> {
        self.urgent.clone()
    }

    /// Waits until no user operation is waiting.
    async fn no_urgent(&self) {
        loop {
            let notified = self.urgent_done.notified();
            if self.urgent.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Held by a user operation for as long as it wants the connection first.
pub(crate) struct UrgentGuard<'a> {
    account: &'a AccountSession,
}

impl Drop for UrgentGuard<'_> {
    fn drop(&mut self) {
        if self.account.urgent.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.account.urgent_done.notify_waiters();
        }
    }
}

/// Connects to `endpoint` with `protocol`, logs in and out: whether an account would work
/// there (`Engine::add_account_auto`). The bytes are not booked: there is no account yet.
pub(crate) async fn probe(
    shared: &Shared,
    protocol: Protocol,
    endpoint: &Endpoint,
    credential: &Credential,
) -> crate::Result<()> {
    let meter = crate::net::WireMeter::new();
    match protocol {
        Protocol::Imap => {
            crate::imap::connect(endpoint, credential, &shared.tls, &meter, &shared.connect)
                .await?
                .logout()
                .await
        }
        Protocol::Pop3 => {
            let options = crate::pop3::Pop3Options {
                timeout: shared.connect.timeout,
                ..crate::pop3::Pop3Options::default()
            };
            crate::pop3::connect(endpoint, credential, &shared.tls, &meter, &options)
                .await?
                .quit()
                .await
        }
    }
}
