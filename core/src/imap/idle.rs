//! IDLE (RFC 2177): wait on the selected folder until the server reports a change, the
//! caller's deadline passes (re-issue before the 29-minute server timeout), or the caller
//! cancels. Every untagged response seen while idling is treated as "something changed";
//! the sync layer then runs a delta, which is exact, instead of trusting idle data.
//!
//! A link that died silently (a NAT forgot the mapping) is noticed at the latest when IDLE
//! ends: the continuation, DONE and DONE's tagged reply each have a reply deadline, so an
//! IDLE returns `Error::Timeout` within `max` plus that deadline instead of hanging.

use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, Response, Status};
use tokio_util::sync::CancellationToken;

use super::{ImapSession, connect::map_err};
use crate::error::{Error, Result};

/// Why IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdleOutcome {
    /// The server reported a change (new message, expunge, flags).
    Changed,
    /// `max` passed without a change: re-issue IDLE.
    Timeout,
    /// The caller cancelled.
    Cancelled,
}

impl ImapSession {
    /// IDLEs on the selected folder for at most `max`. The IDLE is always ended with DONE and
    /// its tagged response read, so the session stays usable. Replies are awaited for at most
    /// the session's timeout (see [`idle_with`](Self::idle_with)).
    pub async fn idle(&mut self, max: Duration, cancel: &CancellationToken) -> Result<IdleOutcome> {
        let timeout = self.timeout;
        self.idle_with(max, timeout, cancel).await
    }

    /// [`idle`](Self::idle) with its own reply deadline: the server must send IDLE's
    /// continuation, and DONE's tagged reply, each within `reply_timeout`, else
    /// `Error::Timeout` (the link is dead: drop the session). A keepalive passes a short one,
    /// so a dead link is found within `max + reply_timeout`.
    pub async fn idle_with(
        &mut self,
        max: Duration,
        reply_timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<IdleOutcome> {
        if !self.capabilities().has("IDLE") {
            return Err(Error::ServerNo {
                command: "IDLE".into(),
                text: "the server does not offer IDLE".into(),
            });
        }
        if self.enable_pending {
            let done = self.exchange(&[], 1, |_, _| Ok(())).await?;
            super::session::check(&done, "ENABLE")?;
        }
        let timeout = reply_timeout;
        let tag = tokio::time::timeout(timeout, self.inner.run_command("IDLE"))
            .await
            .map_err(|_| Error::Timeout {
                during: "sending IDLE",
            })?
            .map_err(|e| map_err("IDLE", e))?;
        let mut outcome = None;
        // Wait for the continuation; changes may already arrive before it.
        loop {
            let step = self
                .read_with(timeout, |response| match response {
                    Response::Continue { .. } => Ok(true),
                    Response::Done { outcome: o, .. } => Err(Error::ServerNo {
                        command: "IDLE".into(),
                        text: o
                            .information
                            .as_deref()
                            .unwrap_or("")
                            .chars()
                            .take(300)
                            .collect(),
                    }),
                    other => {
                        if is_change(other) {
                            outcome = Some(IdleOutcome::Changed);
                        }
                        Ok(false)
                    }
                })
                .await??;
            if step {
                break;
            }
        }
        let deadline = tokio::time::sleep(max);
        tokio::pin!(deadline);
        while outcome.is_none() {
            tokio::select! {
                // The stream keeps partial input in its own buffer, so dropping this read when
                // another branch wins loses nothing.
                response = self.inner.read_response() => {
                    let response = response.map_err(|e| map_err("IDLE", e.into()))?.ok_or(Error::ConnectionClosed)?;
                    match response.parsed() {
                        Response::Data { status: Status::Bye, .. } => return Err(Error::ConnectionClosed),
                        other if is_change(other) => outcome = Some(IdleOutcome::Changed),
                        _ => {}
                    }
                }
                _ = &mut deadline => outcome = Some(IdleOutcome::Timeout),
                _ = cancel.cancelled() => outcome = Some(IdleOutcome::Cancelled),
            }
        }
        tokio::time::timeout(timeout, self.inner.run_command_untagged("DONE"))
            .await
            .map_err(|_| Error::Timeout {
                during: "ending IDLE",
            })?
            .map_err(|e| map_err("DONE", e))?;
        // A change reported while IDLE ends (Cyrus without its idled daemon reports new mail
        // only when a command, here DONE, comes in) still counts: it is never dropped.
        let mut changed_at_done = false;
        loop {
            let done = self
                .read_with(timeout, |response| match response {
                    Response::Done { tag: t, .. } if *t != tag => Err(Error::protocol(
                        "a tagged response for a command never sent",
                    )),
                    Response::Done {
                        status: Status::Ok, ..
                    } => Ok(true),
                    Response::Done { outcome: o, .. } => Err(Error::ServerNo {
                        command: "IDLE".into(),
                        text: o
                            .information
                            .as_deref()
                            .unwrap_or("")
                            .chars()
                            .take(300)
                            .collect(),
                    }),
                    other => {
                        changed_at_done |= is_change(other);
                        Ok(false)
                    }
                })
                .await??;
            if done {
                break;
            }
        }
        if changed_at_done && outcome == Some(IdleOutcome::Timeout) {
            outcome = Some(IdleOutcome::Changed);
        }
        Ok(outcome.unwrap_or(IdleOutcome::Timeout))
    }

    /// Reads one response and hands it to `f`.
    async fn read_with<T>(
        &mut self,
        timeout: Duration,
        f: impl FnOnce(&Response<'_>) -> T,
    ) -> Result<T> {
        let response = tokio::time::timeout(timeout, self.inner.read_response())
            .await
            .map_err(|_| Error::Timeout {
                during: "waiting for the server during IDLE",
            })?
            .map_err(|e| map_err("IDLE", e.into()))?
            .ok_or(Error::ConnectionClosed)?;
        Ok(f(response.parsed()))
    }
}

fn is_change(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
            | Response::Expunge(_)
            | Response::Vanished { .. }
            | Response::Fetch(..)
    )
}
