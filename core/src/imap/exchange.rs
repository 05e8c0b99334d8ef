//! The raw command loop: send tagged commands pipelined (a bounded number in flight) and hand
//! every response to the caller in arrival order. async-imap's helpers push untagged data into
//! a bounded channel with `try_send`, which drops responses when it is full; this loop never
//! drops one, which is what VANISHED and flag updates need. A response the `guard` found
//! unparsable is an error here, unless the caller takes them (summary fetches, per message).

use async_imap::imap_proto::{Response, ResponseCode, Status, rfc4315::UidSetMember};

use super::{ImapSession, connect::map_err, guard::Unparsable};
use crate::error::{Error, Result};

/// How one tagged command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub ok: bool,
    pub status: &'static str,
    pub text: String,
    /// A UIDPLUS code (COPYUID, APPENDUID) the tagged response carried.
    pub uidplus: Option<UidPlusCode>,
    /// The response carried `[BADCHARSET]`: the server refused a search's CHARSET.
    pub badcharset: bool,
}

/// A UIDPLUS response code (RFC 4315), its UID sets as inclusive `(first, last)` ranges in
/// the server's order (COPYUID pairs the n-th source UID with the n-th target UID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UidPlusCode {
    Copy {
        uidvalidity: u32,
        source: Vec<(u32, u32)>,
        target: Vec<(u32, u32)>,
    },
    Append {
        uidvalidity: u32,
        uids: Vec<(u32, u32)>,
    },
}

impl UidPlusCode {
    /// The UIDPLUS code of a response code, if it is one.
    pub(crate) fn from_code(code: Option<&ResponseCode<'_>>) -> Option<UidPlusCode> {
        let ranges = |set: &[UidSetMember]| -> Vec<(u32, u32)> {
            set.iter()
                .map(|m| match m {
                    UidSetMember::Uid(u) => (*u, *u),
                    UidSetMember::UidRange(r) => (*r.start(), *r.end()),
                })
                .collect()
        };
        match code? {
            ResponseCode::CopyUid(v, source, target) => Some(UidPlusCode::Copy {
                uidvalidity: *v,
                source: ranges(source),
                target: ranges(target),
            }),
            ResponseCode::AppendUid(v, uids) => Some(UidPlusCode::Append {
                uidvalidity: *v,
                uids: ranges(uids),
            }),
            _ => None,
        }
    }
}

/// Commands in flight on a session, read back one completion at a time. A pull API (rather
/// than async callbacks) keeps every future `Send`, and lets the caller commit a window to
/// the store between completions while later commands are already on their way.
#[derive(Debug)]
pub(crate) struct Pipeline {
    commands: Vec<String>,
    /// How many leading commands are the session's own (a deferred ENABLE, and the UNSELECT
    /// or CLOSE before it), not the caller's.
    offset: usize,
    depth: usize,
    tags: Vec<async_imap::imap_proto::RequestId>,
    completed: usize,
    sending: bool,
    drained: bool,
    /// Hand unparsable FETCH responses (the guard's markers) to the caller, not fail.
    takes_unparsable_fetch: bool,
    /// Fill the pipeline gradually ([`ramp_up`](Self::ramp_up)).
    ramp: bool,
}

impl Pipeline {
    /// Sends nothing more; commands already sent are still read to their end.
    pub(crate) fn stop_sending(&mut self) {
        self.sending = false;
    }

    /// Forgets the commands planned but not sent yet; returns how many.
    pub(crate) fn drop_unsent(&mut self) -> usize {
        let unsent = self.commands.len() - self.tags.len();
        self.commands.truncate(self.tags.len());
        unsent
    }

    /// Adds a command behind those planned (sent by the next `next_completion`, depth
    /// allowing), while earlier ones are still in flight.
    pub(crate) fn push(&mut self, command: String) {
        self.commands.push(command);
    }

    /// The caller handles `* n FETCH` responses the guard could not parse (it sees them as
    /// markers, see [`Unparsable`]) instead of the pipeline failing on them.
    pub(crate) fn take_unparsable_fetch(&mut self) {
        self.takes_unparsable_fetch = true;
    }

    /// Sends one command, then one more in flight after each completion, up to the depth:
    /// at most `completed + 1` in flight, and never fewer than the session's own commands in
    /// front (a deferred ENABLE) plus one, so those go in the first flight with it.
    ///
    /// For windows of summaries. Dovecot runs pipelined FETCHes side by side and interleaves
    /// their output, so four windows sent at once all complete at about the same time: the
    /// first of them reached the app (and the store) only after all four had arrived, and the
    /// store waited idle meanwhile (at 10,000 messages, about 64 ms of a 390 ms sync, for a
    /// 200-message window that takes 9 ms alone). Ramped, the first window arrives alone and is
    /// committed while the next ones are read. The price is one round trip with the server
    /// idle at the start of a batch, on servers that would have answered in order anyway.
    pub(crate) fn ramp_up(&mut self) {
        self.ramp = true;
    }

    /// How many commands may be in flight now.
    fn in_flight_limit(&self) -> usize {
        if self.ramp {
            self.depth.min(self.completed.max(self.offset) + 1)
        } else {
            self.depth
        }
    }
}

/// What an exchange hands each untagged response to: `(index of the oldest command in
/// flight, response)`.
type Handler<'a> = dyn FnMut(usize, &Response<'_>) -> Result<()> + Send + 'a;

impl ImapSession {
    /// Plans `commands` with at most `depth` in flight. Nothing is sent until
    /// [`ImapSession::next_completion`] runs. A deferred ENABLE (see `connect`) goes first.
    pub(crate) fn pipeline(&mut self, commands: &[String], depth: usize) -> Pipeline {
        self.plan(commands, depth, true)
    }

    /// [`pipeline`](Self::pipeline) for a read-only content fetch or a probe: a deferred
    /// ENABLE stays deferred (nothing here uses what it enables).
    pub(crate) fn pipeline_read_only(&mut self, commands: &[String], depth: usize) -> Pipeline {
        self.plan(commands, depth, false)
    }

    fn plan(&mut self, commands: &[String], depth: usize, may_enable: bool) -> Pipeline {
        let mut all = if may_enable {
            self.enable_prefix(commands)
        } else {
            Vec::new()
        };
        let offset = all.len();
        all.extend(commands.iter().cloned());
        Pipeline {
            commands: all,
            offset,
            depth: depth.max(1) + offset,
            tags: Vec::new(),
            completed: 0,
            sending: true,
            drained: false,
            takes_unparsable_fetch: false,
            ramp: false,
        }
    }

    /// The session's own commands in front of `commands`: the deferred ENABLE, if any. With a
    /// folder EXAMINEd before it was sent, RFC 5161 forbids ENABLE until the folder is left:
    /// a batch that SELECTs anyway leaves it first (UNSELECT where offered, else CLOSE, which
    /// expunges nothing in a read-only folder), in the same flight; any other batch works on
    /// the EXAMINEd folder and ENABLE stays deferred.
    fn enable_prefix(&mut self, commands: &[String]) -> Vec<String> {
        if !self.enable_pending {
            return Vec::new();
        }
        let mut prefix = Vec::with_capacity(2);
        if self.examined_before_enable {
            if !commands
                .iter()
                .any(|c| verb(c).eq_ignore_ascii_case("SELECT"))
            {
                return prefix;
            }
            let leave = if self.capabilities().has("UNSELECT") {
                "UNSELECT"
            } else {
                "CLOSE"
            };
            prefix.push(leave.to_string());
            self.examined_before_enable = false;
            self.selected = None;
        }
        prefix.push(format!("ENABLE {}", self.enabled().join(" ")));
        self.enable_pending = false;
        prefix
    }

    /// Runs `commands` like [`exchange`](Self::exchange), never with a deferred ENABLE in
    /// front (see [`pipeline_read_only`](Self::pipeline_read_only)).
    pub(crate) async fn exchange_read_only<U>(
        &mut self,
        commands: &[String],
        depth: usize,
        mut on_untagged: U,
    ) -> Result<Vec<Completion>>
    where
        U: FnMut(usize, &Response<'_>) -> Result<()> + Send,
    {
        let pipe = self.pipeline_read_only(commands, depth);
        self.complete_all(pipe, commands.len(), &mut on_untagged)
            .await
    }

    /// Sends what the pipeline allows, then reads until the next of the caller's commands
    /// completes, handing every untagged response to `on_untagged(index, response)` (index of
    /// the oldest command in flight). `None` when everything sent has completed.
    pub(crate) async fn next_completion<U>(
        &mut self,
        pipe: &mut Pipeline,
        mut on_untagged: U,
    ) -> Result<Option<(usize, Completion)>>
    where
        U: FnMut(usize, &Response<'_>) -> Result<()> + Send,
    {
        self.next_completion_dyn(pipe, &mut on_untagged).await
    }

    /// The body of [`next_completion`](Self::next_completion), compiled once: generic over
    /// the handler, its state machine was copied into each of the 30-odd callers (library
    /// size, issue 19). One indirect call per response costs nothing measurable.
    async fn next_completion_dyn(
        &mut self,
        pipe: &mut Pipeline,
        on_untagged: &mut Handler<'_>,
    ) -> Result<Option<(usize, Completion)>> {
        if !pipe.drained {
            pipe.drained = true;
            self.drain_unsolicited(on_untagged)?;
        }
        loop {
            let room = |pipe: &Pipeline| {
                pipe.sending
                    && pipe.tags.len() < pipe.commands.len()
                    && pipe.tags.len() - pipe.completed < pipe.in_flight_limit()
            };
            if room(pipe) {
                // Everything this round sends leaves in one write (see `cork`).
                self.cork.store(true, std::sync::atomic::Ordering::Release);
                let mut sent = Ok(());
                let first = pipe.tags.len();
                while room(pipe) {
                    let cmd = &pipe.commands[pipe.tags.len()];
                    match tokio::time::timeout(self.timeout, self.inner.run_command(cmd)).await {
                        Ok(Ok(tag)) => pipe.tags.push(tag),
                        Ok(Err(e)) => {
                            sent = Err(map_err(verb(cmd), e));
                            break;
                        }
                        Err(_) => {
                            sent = Err(Error::Timeout {
                                during: "sending a command",
                            });
                            break;
                        }
                    }
                }
                self.cork.store(false, std::sync::atomic::Ordering::Release);
                // The verbs of one flight (never arguments), for tests that count flights.
                tracing::trace!(
                    target: "anvert::imap::flight",
                    verbs = ?pipe.commands[first..pipe.tags.len()].iter().map(|c| verb(c)).collect::<Vec<_>>(),
                    "flight"
                );
                let flushed = tokio::time::timeout(
                    self.timeout,
                    tokio::io::AsyncWriteExt::flush(self.inner.as_mut()),
                )
                .await;
                sent?;
                flushed
                    .map_err(|_| Error::Timeout {
                        during: "sending a command",
                    })?
                    .map_err(|e| map_err("a command", async_imap::error::Error::Io(e)))?;
            }
            if pipe.completed == pipe.tags.len() {
                return Ok(None); // stopped sending, or done, and everything sent has completed
            }
            let current = pipe.completed;
            let response = tokio::time::timeout(self.timeout, self.inner.read_response())
                .await
                .map_err(|_| Error::Timeout {
                    during: "waiting for the server",
                })?
                .map_err(|e| map_err(verb(&pipe.commands[current]), e.into()))?
                .ok_or(Error::ConnectionClosed)?;
            if let Some(bad) = Unparsable::from_response(response.parsed())
                && !(pipe.takes_unparsable_fetch && bad.kind == "FETCH" && bad.seq.is_some())
            {
                // The stream is intact, but what the command returned is incomplete.
                return Err(Error::protocol(format!(
                    "unparsable {} response to {}",
                    bad.kind,
                    verb(&pipe.commands[current])
                )));
            }
            match response.parsed() {
                Response::Done {
                    tag,
                    status,
                    outcome,
                } => {
                    let Some(index) = pipe.tags.iter().position(|t| t == tag) else {
                        return Err(Error::protocol(
                            "a tagged response for a command never sent",
                        ));
                    };
                    if index != current {
                        return Err(Error::protocol("tagged responses out of order"));
                    }
                    pipe.completed += 1;
                    let completion = completion(status, outcome);
                    if index >= pipe.offset {
                        return Ok(Some((index - pipe.offset, completion)));
                    }
                    // The session's own: only ENABLE's refusal matters (an UNSELECT or CLOSE
                    // that fails leaves the EXAMINEd folder, which the batch replaces anyway).
                    let own = verb(&pipe.commands[index]);
                    if !completion.ok && own == "ENABLE" {
                        return Err(Error::ServerNo {
                            command: own.into(),
                            text: completion.text,
                        });
                    }
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    return Err(Error::ServerNo {
                        command: verb(&pipe.commands[current]).into(),
                        text: format!("BYE {}", outcome.information.as_deref().unwrap_or_default()),
                    });
                }
                other => on_untagged(current.saturating_sub(pipe.offset), other)?,
            }
        }
    }

    /// Runs `commands` to the end (at most `depth` in flight) and returns every completion.
    pub(crate) async fn exchange<U>(
        &mut self,
        commands: &[String],
        depth: usize,
        mut on_untagged: U,
    ) -> Result<Vec<Completion>>
    where
        U: FnMut(usize, &Response<'_>) -> Result<()> + Send,
    {
        let pipe = self.pipeline(commands, depth);
        self.complete_all(pipe, commands.len(), &mut on_untagged)
            .await
    }

    /// Reads every completion of `pipe` (of `count` commands), in order.
    async fn complete_all(
        &mut self,
        mut pipe: Pipeline,
        count: usize,
        on_untagged: &mut Handler<'_>,
    ) -> Result<Vec<Completion>> {
        let mut completions = Vec::with_capacity(count);
        while let Some((_, completion)) = self
            .next_completion_dyn(&mut pipe, &mut *on_untagged)
            .await?
        {
            completions.push(completion);
        }
        Ok(completions)
    }

    /// Hands anything async-imap parked in its unsolicited channel to `on_untagged`.
    fn drain_unsolicited(&mut self, on_untagged: &mut Handler<'_>) -> Result<()> {
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

/// How a tagged response ended its command.
pub(super) fn completion(
    status: &Status,
    outcome: &async_imap::imap_proto::Outcome<'_>,
) -> Completion {
    Completion {
        ok: matches!(status, Status::Ok),
        status: status_word(status),
        text: completion_text(outcome.information.as_deref().unwrap_or_default()),
        uidplus: UidPlusCode::from_code(outcome.code.as_ref()),
        badcharset: matches!(outcome.code, Some(ResponseCode::BadCharset(_))),
    }
}

/// The completion's text without control characters, cut at 300 characters; a leading
/// response code imap-proto does not know (such as CONDSTORE's `[MODIFIED uid-set]`) is kept
/// whole, however long, since callers parse it.
fn completion_text(text: &str) -> String {
    let code = if text.starts_with('[') {
        text.find(']').map_or(0, |i| i + 1)
    } else {
        0
    };
    text.chars()
        .filter(|c| !c.is_control())
        .take(code + 300)
        .collect()
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
