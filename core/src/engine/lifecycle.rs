//! The app's lifecycle, as the engine hears it: foreground or background, and network
//! changes. Connections follow it (see `account`): warm in the foreground, closed as soon
//! as the work is done in the background, and closed at once when the network changes, so
//! the next operation connects on the new network.

use std::sync::atomic::Ordering;

use super::{Engine, recover};
use crate::{error::Result, policy::NetworkKind};

impl Engine {
    /// The app came to the foreground (`true`) or went to the background (`false`). In the
    /// background, idle connections close now and every later one closes when its work is
    /// done; in the foreground, a connection stays open `SessionConfig::keep_warm` after
    /// its last use.
    pub fn set_foreground(&self, foreground: bool) {
        self.shared.foreground.store(foreground, Ordering::Release);
        if !foreground {
            for account in self.running() {
                account.close_idle();
            }
        }
    }

    /// The network changed (Wi-Fi to cellular, a new Wi-Fi, offline). Idle connections close
    /// now, busy ones when their work is done, and push connects again on the new network;
    /// nothing the app asked for fails because of it (reads reconnect on their own).
    pub fn network_changed(&self, network: NetworkKind) {
        self.shared.network.fetch_add(1, Ordering::AcqRel);
        self.shared.network_changed.notify_waiters();
        tracing::info!(
            network = network.as_str(),
            "network changed; warm connections closed"
        );
        for account in self.running() {
            account.close_idle();
        }
    }

    /// Logs out of every idle warm connection and waits until their bytes are in the ledger
    /// (for an app about to be suspended, and for tests that compare the ledger with the
    /// wire).
    pub async fn close_connections(&self) -> Result<()> {
        for account in self.running() {
            account.close_and_wait().await?;
        }
        Ok(())
    }

    fn running(&self) -> Vec<std::sync::Arc<crate::account::AccountSession>> {
        recover(self.accounts.lock(), "the accounts")
            .values()
            .cloned()
            .collect()
    }
}
