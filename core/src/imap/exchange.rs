//! The raw command loop: send tagged commands pipelined (a bounded number in flight) and hand
//! every response to the caller in arrival order. async-imap's helpers push untagged data into
//! a bounded channel with `try_send`, which drops responses when it is full; this loop never
//! drops one, which is what VANISHED and flag updates need.

use async_imap::imap_proto::{Response, Status};

use super::{ImapSession, connect::map_err};
use crate::error::{Error, Result};

/// How one tagged command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub ok: bool,
    pub status: &'static str,
    pub text: String,
}

/// What the response callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Send no further commands; the ones in flight are still read to their end.
    StopSending,
}

impl ImapSession {
    /// Sends `commands` with at most `depth` in flight. `on_untagged(i, response)` sees every
    /// untagged response while command `i` is the oldest in flight; `on_done(i, completion)`
    /// runs when command `i` completes. Returns the completions of the commands that were sent.
    pub(crate) async fn exchange<U, D>(
        &mut self,
        commands: &[String],
        depth: usize,
        mut on_untagged: U,
        mut on_done: D,
    ) -> Result<Vec<Completion>>
    where
        U: FnMut(usize, &Response<'_>) -> Result<()>,
        D: AsyncFnMut(usize, &Completion) -> Result<Flow>,
    {
        self.drain_unsolicited(&mut on_untagged)?;
        // A pending ENABLE goes first, in the same flight (see `connect`).
        let owned: Vec<String>;
        let mut commands = commands;
        let offset = usize::from(self.enable_pending);
        if self.enable_pending {
            owned = std::iter::once(format!("ENABLE {}", self.enabled().join(" ")))
                .chain(commands.iter().cloned())
                .collect();
            commands = &owned;
            self.enable_pending = false;
        }
        let depth = depth.max(1) + offset;
        let mut tags = Vec::with_capacity(commands.len());
        let mut completions = Vec::with_capacity(commands.len());
        let mut sending = true;
        while completions.len() < commands.len() {
            while sending && tags.len() < commands.len() && tags.len() - completions.len() < depth {
                let cmd = &commands[tags.len()];
                let tag = tokio::time::timeout(self.timeout, self.inner.run_command(cmd))
                    .await
                    .map_err(|_| Error::Timeout {
                        during: "sending a command",
                    })?
                    .map_err(|e| map_err(verb(cmd), e))?;
                tags.push(tag);
            }
            if completions.len() == tags.len() {
                break; // stopped sending and everything sent has completed
            }
            let current = completions.len();
            let response = tokio::time::timeout(self.timeout, self.inner.read_response())
                .await
                .map_err(|_| Error::Timeout {
                    during: "waiting for the server",
                })?
                .map_err(|e| map_err(verb(&commands[current]), e.into()))?
                .ok_or(Error::ConnectionClosed)?;
            match response.parsed() {
                Response::Done {
                    tag,
                    status,
                    outcome,
                } => {
                    let Some(index) = tags.iter().position(|t| t == tag) else {
                        return Err(Error::protocol(
                            "a tagged response for a command never sent",
                        ));
                    };
                    if index != current {
                        return Err(Error::protocol("tagged responses out of order"));
                    }
                    let completion = Completion {
                        ok: matches!(status, Status::Ok),
                        status: status_word(status),
                        text: outcome
                            .information
                            .as_deref()
                            .unwrap_or_default()
                            .chars()
                            .filter(|c| !c.is_control())
                            .take(300)
                            .collect(),
                    };
                    if index < offset {
                        if !completion.ok {
                            return Err(Error::ServerNo {
                                command: "ENABLE".into(),
                                text: completion.text,
                            });
                        }
                    } else if on_done(index - offset, &completion).await? == Flow::StopSending {
                        sending = false;
                    }
                    completions.push(completion);
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(Error::ServerNo {
                        command: verb(&commands[current]).into(),
                        text: format!("BYE {}", outcome.information.as_deref().unwrap_or_default()),
                    });
                }
                other => on_untagged(current.saturating_sub(offset), other)?,
            }
        }
        completions.drain(..offset.min(completions.len()));
        Ok(completions)
    }

    /// Hands anything async-imap parked in its unsolicited channel to `on_untagged`.
    fn drain_unsolicited<U>(&mut self, on_untagged: &mut U) -> Result<()>
    where
        U: FnMut(usize, &Response<'_>) -> Result<()>,
    {
        use async_imap::types::UnsolicitedResponse as Un;
        while let Ok(un) = self.inner.unsolicited_responses.try_recv() {
            match un {
                Un::Other(data) => on_untagged(0, data.parsed())?,
                Un::Exists(n) => on_untagged(
                    0,
                    &Response::MailboxData(async_imap::imap_proto::MailboxDatum::Exists(n)),
                )?,
                Un::Expunge(n) => on_untagged(0, &Response::Expunge(n))?,
                _ => {}
            }
        }
        Ok(())
    }
}

fn status_word(status: &Status) -> &'static str {
    match status {
        Status::Ok => "OK",
        Status::No => "NO",
        Status::Bad => "BAD",
        Status::PreAuth => "PREAUTH",
        Status::Bye => "BYE",
    }
}

/// The command's verb (and UID prefix), safe to show in errors: never its arguments.
pub(crate) fn verb(command: &str) -> &str {
    let mut words = command.splitn(3, ' ');
    match (words.next(), words.next()) {
        (Some(first), Some(second)) if first.eq_ignore_ascii_case("UID") => {
            let end = first.len() + 1 + second.len();
            &command[..end]
        }
        (Some(first), _) => first,
        _ => "command",
    }
}
