//! Push for one folder on a connection of its own: sync the folder, then IDLE; each change
//! the server reports wakes a delta sync of that folder (under the account's sync lock, so
//! it never overlaps another sync). Push runs until it is cancelled; a connection that dies
//! is replaced, so a phone that loses its link for a while gets its mail once it is back.
//!
//! **Keepalive.** IDLE is re-issued every `interval`: DONE, whose reply must come within
//! `SessionConfig::probe_timeout`, is the probe. A NAT that silently forgot the connection
//! is thus noticed within `interval` plus that timeout. The interval starts at
//! `SessionConfig::idle_interval` (at most [`IDLE_MAX`]), halves each time a connection dies
//! in IDLE (down to an eighth of the start), and grows back by an eighth after every
//! interval survived, as FairEmail's keep-alive tuning does.
//!
//! A network change (`Engine::network_changed`) drops the connection at once and connects
//! again on the new network.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::{AccountSession, IDLE_MAX, lease::book};
use crate::{
    error::{Error, Result},
    imap::{self, IdleOutcome, ImapSession},
    net::{WireMeter, WireTotals},
    policy::SyncRequest,
    sync::{self, EventSink},
};

/// The first wait before connecting again after a failure; doubled up to [`BACKOFF_MAX`].
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The adaptive IDLE interval.
#[derive(Debug, Clone, Copy)]
struct Interval {
    now: Duration,
    start: Duration,
}

impl Interval {
    fn new(start: Duration) -> Self {
        let start = start.min(IDLE_MAX).max(Duration::from_millis(100));
        Interval { now: start, start }
    }
    fn died(&mut self) {
        self.now = (self.now / 2).max(self.start / 8);
    }
    fn survived(&mut self) {
        self.now = (self.now + self.start / 8).min(self.start);
    }
}

/// A connect failure that may pass: the network, not the account.
fn transient(e: &Error) -> bool {
    e.leaves_connection_unusable()
        || matches!(
            e,
            Error::Dns { .. }
                | Error::Connect { .. }
                | Error::Tls { .. }
                | Error::TokenUnavailable {
                    kind: crate::TokenFailure::Network,
                    ..
                }
        )
}

/// How a connected stretch of push ended.
enum Ended {
    Cancelled,
    /// The connection died or the network changed: connect again.
    Reconnect {
        died_in_idle: bool,
    },
}

impl AccountSession {
    /// Push for `folder` until `cancel` fires. Fails only for what reconnecting cannot fix
    /// (the folder is gone, login refused, IDLE not offered).
    pub(crate) async fn push(
        self: &Arc<Self>,
        folder: &str,
        request: &SyncRequest,
        idle_max: Duration,
        now: impl Fn() -> i64,
        events: &dyn EventSink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let config = &self.shared().config;
        let mut interval = Interval::new(config.idle_interval.min(idle_max));
        let mut backoff = BACKOFF_START;
        let one_folder = SyncRequest {
            folders: vec![folder.to_string()],
            ..request.clone()
        };
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let meter = WireMeter::new();
            let network_changed = self.shared().network_changed.notified();
            let (endpoint, credential) = (self.endpoint(), self.credential());
            let connected = tokio::select! {
                c = imap::connect(
                    &endpoint,
                    &credential,
                    &self.shared().tls,
                    &meter,
                    &self.shared().connect,
                ) => c,
                _ = cancel.cancelled() => return Ok(()),
            };
            let mut session = match connected {
                Ok(s) => s,
                Err(e) if transient(&e) => {
                    book(self.store(), self.id, request.network, &meter.totals()).await?;
                    tracing::info!(account = self.id.0, error = %e, "push: connecting failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = network_changed => {}
                        _ = cancel.cancelled() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
                Err(e) => {
                    book(self.store(), self.id, request.network, &meter.totals()).await?;
                    return Err(e);
                }
            };
            let mut booked = WireTotals::default();
            let ended = self
                .push_connected(
                    &mut session,
                    folder,
                    &one_folder,
                    &now,
                    events,
                    cancel,
                    &mut interval,
                    &meter,
                    &mut booked,
                )
                .await;
            // A cancelled push logs out; any other end drops the connection (dead, or in
            // doubt). Either way its bytes since the last booking go to the ledger.
            if matches!(ended, Ok(Ended::Cancelled)) {
                let _ = session.logout().await;
            } else {
                drop(session);
            }
            let spent = meter.totals().since(&booked);
            book(self.store(), self.id, request.network, &spent).await?;
            match ended? {
                Ended::Cancelled => return Ok(()),
                Ended::Reconnect { died_in_idle } => {
                    if died_in_idle {
                        interval.died();
                        tracing::info!(
                            account = self.id.0,
                            interval_ms = interval.now.as_millis() as u64,
                            "push: the connection died in IDLE; reconnecting"
                        );
                    }
                    backoff = BACKOFF_START;
                }
            }
        }
    }

    /// Sync the folder, then IDLE until cancelled or the connection is lost.
    #[allow(clippy::too_many_arguments)]
    async fn push_connected(
        self: &Arc<Self>,
        session: &mut ImapSession,
        folder: &str,
        request: &SyncRequest,
        now: &impl Fn() -> i64,
        events: &dyn EventSink,
        cancel: &CancellationToken,
        interval: &mut Interval,
        meter: &WireMeter,
        booked: &mut WireTotals,
    ) -> Result<Ended> {
        let lost = |e: Error| -> Result<Ended> {
            if e.leaves_connection_unusable() {
                Ok(Ended::Reconnect {
                    died_in_idle: false,
                })
            } else {
                Err(e)
            }
        };
        {
            let _one_at_a_time = self.busy.lock().await;
            if let Err(e) =
                sync::sync_imap_account_with(session, self.store(), self.id, request, now(), events)
                    .await
            {
                return lost(e);
            }
            self.index_for_search().await;
        }
        // The account sync may have left another folder selected (or none, when this one
        // was unchanged); IDLE watches the selected one. Select again after each delta.
        let mut select = true;
        let reply_timeout = self.shared().config.probe_timeout;
        loop {
            let spent = meter.totals().since(booked);
            *booked = meter.totals();
            book(self.store(), self.id, request.network, &spent).await?;
            if select {
                select = false;
                match sync::select_for_idle(session, self.store(), self.id, folder).await {
                    Ok(false) => {}
                    // Something arrived since the sync: IDLE would not report it. Sync it,
                    // then select again for IDLE (once: a folder that keeps changing is
                    // reported by IDLE from then on).
                    Ok(true) => {
                        if let Err(e) = self.delta(session, folder, request, now(), events).await {
                            return lost(e);
                        }
                        if let Err(e) = session.select(folder, None).await {
                            return lost(e);
                        }
                    }
                    Err(e) => return lost(e),
                }
            }
            let network_changed = self.shared().network_changed.notified();
            let outcome = tokio::select! {
                o = session.idle_with(interval.now, reply_timeout, cancel) => o,
                _ = network_changed => return Ok(Ended::Reconnect { died_in_idle: false }),
            };
            match outcome {
                Ok(IdleOutcome::Cancelled) => return Ok(Ended::Cancelled),
                Ok(IdleOutcome::Timeout) => interval.survived(),
                Ok(IdleOutcome::Changed) => {
                    select = true;
                    if let Err(e) = self.delta(session, folder, request, now(), events).await {
                        return lost(e);
                    }
                }
                Err(e) if e.leaves_connection_unusable() => {
                    return Ok(Ended::Reconnect { died_in_idle: true });
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl AccountSession {
    /// A delta sync of `folder` over the push connection, under the account's sync lock.
    async fn delta(
        &self,
        session: &mut ImapSession,
        folder: &str,
        request: &SyncRequest,
        now: i64,
        events: &dyn EventSink,
    ) -> Result<()> {
        let _one_at_a_time = self.busy.lock().await;
        let synced =
            sync::sync_imap_folder(session, self.store(), self.id, folder, request, now, events)
                .await
                .map(drop);
        self.index_for_search().await;
        synced
    }

    /// The search index pass after a push sync (what its windows stored waits for it;
    /// migration 0021). A failure is logged: push goes on, and the next search or sync pass
    /// runs the pass again.
    async fn index_for_search(&self) {
        if let Err(e) = self.store().index_pending().await {
            tracing::warn!(account = self.id.0, error = %e, "the search index pass failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_shrinks_on_death_grows_back_and_stays_bounded() {
        let mut i = Interval::new(Duration::from_secs(40 * 60));
        assert_eq!(i.now, IDLE_MAX, "never above 29 minutes");
        i.died();
        assert_eq!(i.now, IDLE_MAX / 2);
        for _ in 0..10 {
            i.died();
        }
        assert_eq!(i.now, IDLE_MAX / 8, "a floor of an eighth");
        for _ in 0..20 {
            i.survived();
        }
        assert_eq!(i.now, IDLE_MAX, "back to the start, never past it");
    }
}
