//! Whether a warm connection still works, and leaving one without waiting: `probe` sends NOOP
//! with a read deadline of its own, and `logout_later` hands LOGOUT to a task the caller
//! spawns. Nothing here sends a deferred ENABLE.

use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, Response};

use super::{ImapSession, session::check};
use crate::error::{Error, Result};

impl ImapSession {
    /// NOOP, whose tagged OK must arrive within `timeout` (a warm connection that a NAT
    /// forgot answers nothing, and only a deadline tells).
    ///
    /// `Error::Timeout` (or any other error) means the session is dead: its NOOP may still be
    /// answered later, out of step with the next command, so drop it and connect again.
    /// Untagged data that comes with the NOOP is applied to what [`selection`]
    /// (Self::selection) holds: EXISTS sets the count, EXPUNGE and VANISHED lower it.
    /// UIDNEXT, flags and MODSEQ are not tracked here; a sync reads them afresh.
    pub async fn probe(&mut self, timeout: Duration) -> Result<()> {
        let mut exists = self.selected.as_ref().map(|(_, sel, _)| sel.exists);
        let noop = ["NOOP".to_string()];
        let run = self.exchange_read_only(&noop, 1, |_, response| {
            if let Some(count) = exists.as_mut() {
                match response {
                    Response::MailboxData(MailboxDatum::Exists(n)) => *count = *n,
                    Response::Expunge(_) => *count = count.saturating_sub(1),
                    Response::Vanished {
                        earlier: false,
                        uids,
                    } => {
                        let gone: u64 = uids
                            .iter()
                            .map(|r| u64::from(r.end().saturating_sub(*r.start())) + 1)
                            .sum();
                        *count = count.saturating_sub(u32::try_from(gone).unwrap_or(u32::MAX));
                    }
                    _ => {}
                }
            }
            Ok(())
        });
        let completions =
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| Error::Timeout {
                    during: "probing the connection",
                })??;
        if let (Some((_, sel, _)), Some(count)) = (self.selected.as_mut(), exists) {
            sel.exists = count;
        }
        check(&completions, "NOOP")
    }

    /// LOGOUT as a task of its own: the caller spawns it (`tokio::spawn`) and goes on without
    /// waiting for the server's reply. It owns the session and is bounded by the session's
    /// timeout, like [`logout`](Self::logout), whose result it returns.
    pub fn logout_later(self) -> impl Future<Output = Result<()>> + Send + 'static {
        self.logout()
    }
}
