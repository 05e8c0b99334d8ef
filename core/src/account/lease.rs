//! The command connection and who holds it. An operation takes a [`Lease`]: the account's
//! connection, reused when warm (probed with NOOP first after a quiet period), else opened.
//! Every byte of a connection is booked in the ledger exactly once, from that connection's
//! own meter, under the network kind of the operation that spent it: a lease books what
//! its connection counted since the last booking when it ends, and a close books its
//! LOGOUT. So concurrent work never books another's bytes.
//!
//! After a lease, the connection stays open (foreground, `SessionConfig::keep_warm`) or is
//! closed at once (background, cold path, a network change, or an error that leaves the
//! connection in doubt). A close sends LOGOUT from a task of its own: nobody waits for it.

use std::{
    sync::{Arc, Weak, atomic::Ordering},
    time::Instant,
};

use tokio::sync::OwnedMutexGuard;

use super::{AccountSession, Priority};
use crate::{
    error::Result,
    imap::{self, ImapSession},
    net::{Purpose, WireMeter, WireTotals},
    policy::NetworkKind,
    store::{AccountId, Store},
};

/// A connection kept between operations.
pub(crate) struct Warm {
    session: ImapSession,
    meter: WireMeter,
    /// What of `meter` is already in the ledger.
    booked: WireTotals,
    /// The network kind of the last operation: a close is booked under it.
    network: NetworkKind,
    last_used: Instant,
    /// `Shared::network` when the connection was opened.
    generation: u64,
}

impl Warm {
    /// Books what the connection counted since the last booking.
    async fn book(&mut self, store: &Store, account: AccountId) -> Result<WireTotals> {
        let now = self.meter.totals();
        let spent = now.since(&self.booked);
        self.booked = now;
        book(store, account, self.network, &spent).await?;
        Ok(spent)
    }
}

/// Adds `spent` to the ledger under `network`.
pub(crate) async fn book(
    store: &Store,
    account: AccountId,
    network: NetworkKind,
    spent: &WireTotals,
) -> Result<()> {
    for purpose in Purpose::ALL {
        let (up, down) = (spent.written_for(purpose), spent.read_for(purpose));
        if up + down > 0 {
            store
                .add_usage(account, network.as_str(), purpose.as_str(), up, down)
                .await?;
        }
    }
    Ok(())
}

/// The command connection, held by one operation.
pub(crate) struct Lease {
    account: Arc<AccountSession>,
    guard: OwnedMutexGuard<Option<Warm>>,
    /// The connection was open before this lease (a failure may be a stale connection).
    pub reused: bool,
    finished: bool,
}

impl AccountSession {
    /// The command connection for one operation: the warm one, probed when it was quiet
    /// for `probe_after`, or a new one. Background work waits while user work is waiting.
    pub(crate) async fn lease(
        self: &Arc<Self>,
        priority: Priority,
        network: NetworkKind,
    ) -> Result<Lease> {
        let mut guard = loop {
            if priority == Priority::Background {
                self.no_urgent().await;
            }
            let guard = self.command.clone().lock_owned().await;
            if priority == Priority::User || self.urgent.load(Ordering::Acquire) == 0 {
                break guard;
            }
        };
        let config = &self.shared.config;
        let generation = self.shared.network_generation();
        let mut reused = false;
        if let Some(mut warm) = guard.take() {
            warm.network = network;
            if warm.generation != generation {
                self.close(warm);
            } else if warm.last_used.elapsed() >= config.probe_after {
                match warm.session.probe(config.probe_timeout).await {
                    Ok(()) => {
                        reused = true;
                        *guard = Some(warm);
                    }
                    Err(e) => {
                        tracing::info!(account = self.id.0, error = %e, "a warm connection did not answer NOOP; reconnecting");
                        // Dead or in doubt: its bytes are booked, the socket dropped.
                        let _ = warm.book(self.store(), self.id).await;
                    }
                }
            } else {
                reused = true;
                *guard = Some(warm);
            }
        }
        if guard.is_none() {
            let meter = WireMeter::new();
            let connected = imap::connect(
                &self.endpoint(),
                &self.credential(),
                &self.shared.tls,
                &meter,
                &self.shared.connect,
            )
            .await;
            let session = match connected {
                Ok(session) => session,
                Err(e) => {
                    // The bytes of a failed connect were spent too.
                    book(self.store(), self.id, network, &meter.totals()).await?;
                    return Err(e);
                }
            };
            *guard = Some(Warm {
                session,
                meter,
                booked: WireTotals::default(),
                network,
                last_used: Instant::now(),
                generation,
            });
        }
        Ok(Lease {
            account: self.clone(),
            guard,
            reused,
            finished: false,
        })
    }

    /// Closes the command connection now if nobody holds it (background, network change).
    pub(crate) fn close_idle(self: &Arc<Self>) {
        if let Ok(mut guard) = self.command.clone().try_lock_owned()
            && let Some(warm) = guard.take()
        {
            self.close(warm);
        }
    }

    /// Closes the command connection (when idle) and waits for its LOGOUT and booking.
    pub(crate) async fn close_and_wait(self: &Arc<Self>) -> Result<()> {
        let mut guard = self.command.clone().lock_owned().await;
        if let Some(warm) = guard.take() {
            logout_and_book(warm, self.store(), self.id).await?;
        }
        Ok(())
    }

    /// LOGOUT from a task of its own, then the booking of its bytes.
    fn close(&self, warm: Warm) {
        let store = self.store().clone();
        let account = self.id;
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                spawn_detached(&handle, async move {
                    let _ = logout_and_book(warm, &store, account).await;
                });
            }
            // No runtime (dropped during shutdown): the socket just closes.
            Err(_) => drop(warm),
        }
    }

    /// Closes the connection `keep_warm` after its last use. One timer per account at a
    /// time: it sleeps until the last release plus `keep_warm`, and sleeps again when the
    /// connection was used meanwhile.
    fn expire_later(self: &Arc<Self>) {
        *crate::engine::recover(self.released.lock(), "the account's release time") =
            Instant::now();
        if self.expiry_armed.swap(true, Ordering::AcqRel) {
            return;
        }
        let keep = self.shared.config.keep_warm;
        let account: Weak<AccountSession> = Arc::downgrade(self);
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.expiry_armed.store(false, Ordering::Release);
            return;
        };
        spawn_detached(&handle, async move {
            let mut due = Instant::now() + keep;
            loop {
                tokio::time::sleep_until(due.into()).await;
                let Some(account) = account.upgrade() else {
                    return;
                };
                let released =
                    *crate::engine::recover(account.released.lock(), "the account's release time");
                if released + keep <= Instant::now() {
                    account.expiry_armed.store(false, Ordering::Release);
                    account.close_idle();
                    return;
                }
                due = released + keep;
            }
        });
    }
}

async fn logout_and_book(warm: Warm, store: &Store, account: AccountId) -> Result<()> {
    let Warm {
        session,
        meter,
        booked,
        network,
        ..
    } = warm;
    let _ = session.logout().await;
    book(store, account, network, &meter.totals().since(&booked)).await
}

impl Lease {
    /// The leased connection. A lease is only handed out holding one and only `finish` and
    /// `drop` take it out, so the error is never seen.
    pub(crate) fn session(&mut self) -> Result<&mut ImapSession> {
        match self.guard.as_mut() {
            Some(warm) => Ok(&mut warm.session),
            None => Err(crate::Error::ConnectionClosed),
        }
    }

    pub(crate) fn meter(&self) -> WireMeter {
        match self.guard.as_ref() {
            Some(warm) => warm.meter.clone(),
            None => WireMeter::new(),
        }
    }

    /// Ends the lease after an operation with outcome `ok` (its error, if any, decides
    /// whether the connection is still trusted). Books the connection's bytes and returns
    /// them.
    pub(crate) async fn finish<T>(mut self, outcome: &Result<T>) -> Result<WireTotals> {
        self.finished = true;
        let account = self.account.clone();
        let Some(mut warm) = self.guard.take() else {
            return Ok(WireTotals::default());
        };
        let spent = warm.book(account.store(), account.id).await;
        let lost = outcome
            .as_ref()
            .err()
            .is_some_and(crate::Error::leaves_connection_unusable);
        let config = &account.shared.config;
        let keep = !lost
            && config.warm
            && account.shared.foreground.load(Ordering::Acquire)
            && warm.generation == account.shared.network_generation();
        if lost {
            drop(warm); // in doubt: no LOGOUT into a connection that may be mid-response
        } else if keep {
            warm.last_used = Instant::now();
            *self.guard = Some(warm);
            drop(self);
            account.expire_later();
        } else {
            account.close(warm);
        }
        spent
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped mid-operation (cancelled): the connection may be mid-response, so it is
        // not reused; what it counted is booked from a task.
        if let Some(mut warm) = self.guard.take() {
            let store = self.account.store().clone();
            let account = self.account.id;
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                spawn_detached(&handle, async move {
                    let _ = warm.book(&store, account).await;
                });
            }
        }
    }
}

/// Spawns background work nobody waits for (a LOGOUT, an expiry timer, a booking) as the one
/// boxed future type the FFI's tasks use too, so tokio's task harness is compiled once for all
/// of them instead of once per future (library size).
fn spawn_detached(
    handle: &tokio::runtime::Handle,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let work: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> = Box::pin(work);
    handle.spawn(work);
}
