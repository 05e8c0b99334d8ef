//! A logged-in POP3 session (TRANSACTION state): STAT, LIST, UIDL, TOP, RETR (also
//! pipelined), DELE, RSET, NOOP and QUIT, answered in plain types. Message bodies stream into
//! the caller's sink. A session that saw a protocol error, a disconnect, a timeout, a failed
//! sink or a cancelled call is poisoned: later calls fail without touching the socket, since
//! the position in the byte stream is no longer known. It never looks at the store.

use std::fmt;

use tokio::io::AsyncWrite;

use super::{
    Capabilities, Pop3Options,
    conn::Conn,
    multiline::Delivered,
    reply::{self, Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::{Purpose, WireMeter},
};

/// The longest LIST/UIDL line accepted.
pub const MAX_LISTING_LINE: usize = 512;
/// How many commands may be in flight when the server offers PIPELINING. Small enough that
/// our writes never wait on a server that is itself waiting for us to read.
const PIPELINE_WINDOW: usize = 32;

/// A logged-in POP3 connection. Holds no credentials.
pub struct Pop3Session {
    conn: Conn,
    caps: Capabilities,
    apop_timestamp: Option<String>,
    tls: bool,
    meter: WireMeter,
    options: Pop3Options,
    /// Set while a command runs and left set if it fails in a way that loses the stream
    /// position (or if its future is dropped half-way).
    poisoned: bool,
}

impl fmt::Debug for Pop3Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pop3Session")
            .field("tls", &self.tls)
            .field("capabilities", &self.caps.lines())
            .field("apop", &self.apop_timestamp.is_some())
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl Pop3Session {
    pub(super) fn new(
        conn: Conn,
        caps: Capabilities,
        apop_timestamp: Option<String>,
        tls: bool,
        meter: WireMeter,
        options: Pop3Options,
    ) -> Self {
        Pop3Session {
            conn,
            caps,
            apop_timestamp,
            tls,
            meter,
            options,
            poisoned: false,
        }
    }

    /// The capabilities announced after login (empty and not `announced()` when the server
    /// does not know CAPA).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The APOP timestamp from the greeting, if any (none after STLS: the greeting came
    /// before TLS).
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.apop_timestamp.as_deref()
    }

    /// The meter counting this session's wire bytes (the sync layer sets its purpose).
    pub fn meter(&self) -> &WireMeter {
        &self.meter
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether an earlier failure made the session unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The most content bytes one RETR or TOP response may bring (`Pop3Options`).
    pub fn max_message_bytes(&self) -> u64 {
        self.options.max_message_bytes
    }

    /// STAT: (message count, total octets) of the maildrop.
    pub async fn stat(&mut self) -> Result<(u32, u64)> {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = async {
            let text = self.simple(b"STAT\r\n".to_vec(), Verb::Stat).await?;
            reply::parse_stat(&text)
        }
        .await;
        self.finish(r)
    }

    /// LIST: (message number, size in octets) of every message not marked deleted.
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>> {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = self
            .listing(b"LIST\r\n", Verb::List, reply::parse_scan)
            .await;
        self.finish(r)
    }

    /// LIST n: the size of one message.
    pub async fn list_one(&mut self, msgno: u32) -> Result<u64> {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = async {
            let text = self
                .simple(format!("LIST {msgno}\r\n").into_bytes(), Verb::List)
                .await?;
            one_of(msgno, reply::parse_scan(text.as_bytes()), Verb::List)
        }
        .await;
        self.finish(r)
    }

    /// UIDL: (message number, unique id) of every message not marked deleted.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>> {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = self
            .listing(b"UIDL\r\n", Verb::Uidl, reply::parse_uid)
            .await;
        self.finish(r)
    }

    /// UIDL n: the unique id of one message.
    pub async fn uidl_one(&mut self, msgno: u32) -> Result<String> {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = async {
            let text = self
                .simple(format!("UIDL {msgno}\r\n").into_bytes(), Verb::Uidl)
                .await?;
            one_of(msgno, reply::parse_uid(text.as_bytes()), Verb::Uidl)
        }
        .await;
        self.finish(r)
    }

    /// TOP n lines: the header and the first `lines` body lines, dot-unstuffed, streamed into
    /// `sink`. Returns the bytes delivered.
    pub async fn top<W>(&mut self, msgno: u32, lines: u32, sink: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.meter.set_purpose(Purpose::SyncMetadata);
        self.begin()?;
        let r = self
            .fetch(
                format!("TOP {msgno} {lines}\r\n").into_bytes(),
                Verb::Top,
                u64::MAX,
                sink,
            )
            .await
            .map(|d| d.octets);
        self.finish(r)
    }

    /// RETR n: the whole message, dot-unstuffed, streamed into `sink` (e.g. a file). Counted
    /// under the purpose the caller set on the meter. Returns the bytes delivered.
    pub async fn retr<W>(&mut self, msgno: u32, sink: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.retr_within(msgno, u64::MAX, sink)
            .await
            .map(|d| d.octets)
    }

    /// RETR n refused past `limit` content bytes (and past the session's own limit), e.g. a
    /// bound derived from the LIST size. Returns the bytes and line ends delivered, for a
    /// comparison with the LIST size ([`Delivered::against`]).
    pub async fn retr_within<W>(
        &mut self,
        msgno: u32,
        limit: u64,
        sink: &mut W,
    ) -> Result<Delivered>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.begin()?;
        let r = self
            .fetch(
                format!("RETR {msgno}\r\n").into_bytes(),
                Verb::Retr,
                limit,
                sink,
            )
            .await;
        self.finish(r)
    }

    /// TOP for many messages: pipelined when the server offers PIPELINING, else one at a time.
    /// `sink_for(msgno)` is called when a message's `+OK` arrives. The outer error is fatal
    /// (session poisoned); an inner `ServerNo` is one message's `-ERR`. Results are in request
    /// order.
    pub async fn top_many<W, F>(
        &mut self,
        requests: &[(u32, u32)],
        sink_for: F,
    ) -> Result<Vec<Result<u64>>>
    where
        W: AsyncWrite + Unpin,
        F: FnMut(u32) -> W,
    {
        let requests: Vec<(u32, u32, u64)> = requests
            .iter()
            .map(|(n, lines)| (*n, *lines, u64::MAX))
            .collect();
        self.top_many_within(&requests, sink_for).await
    }

    /// [`Pop3Session::top_many`] with a byte limit per request: `(msgno, lines, limit)`. A
    /// response past its limit ends the call with `Error::Protocol` (session poisoned).
    pub async fn top_many_within<W, F>(
        &mut self,
        requests: &[(u32, u32, u64)],
        sink_for: F,
    ) -> Result<Vec<Result<u64>>>
    where
        W: AsyncWrite + Unpin,
        F: FnMut(u32) -> W,
    {
        self.meter.set_purpose(Purpose::SyncMetadata);
        let commands = requests
            .iter()
            .map(|(n, lines, limit)| (*n, format!("TOP {n} {lines}\r\n"), *limit))
            .collect();
        self.begin()?;
        let r = self.fetch_many(commands, Verb::Top, sink_for).await;
        self.finish(r)
    }

    /// RETR for many messages, like [`Pop3Session::top_many`]; counted under the caller's
    /// purpose.
    pub async fn retr_many<W, F>(&mut self, msgnos: &[u32], sink_for: F) -> Result<Vec<Result<u64>>>
    where
        W: AsyncWrite + Unpin,
        F: FnMut(u32) -> W,
    {
        let commands = msgnos
            .iter()
            .map(|n| (*n, format!("RETR {n}\r\n"), u64::MAX))
            .collect();
        self.begin()?;
        let r = self.fetch_many(commands, Verb::Retr, sink_for).await;
        self.finish(r)
    }

    /// DELE n: marks a message deleted; QUIT makes it final.
    pub async fn dele(&mut self, msgno: u32) -> Result<()> {
        self.begin()?;
        let r = self
            .simple(format!("DELE {msgno}\r\n").into_bytes(), Verb::Dele)
            .await
            .map(drop);
        self.finish(r)
    }

    /// RSET: unmarks every message marked deleted in this session.
    pub async fn rset(&mut self) -> Result<()> {
        self.begin()?;
        let r = self
            .simple(b"RSET\r\n".to_vec(), Verb::Rset)
            .await
            .map(drop);
        self.finish(r)
    }

    /// NOOP: keeps the connection alive and checks it still answers.
    pub async fn noop(&mut self) -> Result<()> {
        self.begin()?;
        let r = self
            .simple(b"NOOP\r\n".to_vec(), Verb::Noop)
            .await
            .map(drop);
        self.finish(r)
    }

    /// QUIT: enters the UPDATE state, which commits deletions, and closes the connection.
    /// A `-ERR` (e.g. `[SYS/TEMP]`) means the deletions may not have happened.
    pub async fn quit(mut self) -> Result<()> {
        self.begin()?;
        let r = self
            .simple(b"QUIT\r\n".to_vec(), Verb::Quit)
            .await
            .map(drop);
        self.conn.shutdown().await;
        r
    }

    /// Refuses to run on a poisoned session; otherwise marks the session busy (poisoned until
    /// `finish` sees a clean end), so a dropped future leaves it poisoned.
    fn begin(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::protocol(
                "POP3 session unusable after an earlier error or a cancelled command",
            ));
        }
        self.poisoned = true;
        Ok(())
    }

    /// Clears the busy mark when the stream is still in step: on success or a plain `-ERR`.
    fn finish<T>(&mut self, r: Result<T>) -> Result<T> {
        if matches!(r, Ok(_) | Err(Error::ServerNo { .. })) {
            self.poisoned = false;
        }
        r
    }

    /// A single-line command; `-ERR` becomes `ServerNo`.
    async fn simple(&mut self, line: Vec<u8>, verb: Verb) -> Result<String> {
        self.conn.write(&line, verb).await?;
        self.conn.read_reply(verb).await?.ok(verb)
    }

    /// A command answered by a multi-line listing, one parsed value per line.
    async fn listing<T>(
        &mut self,
        line: &[u8],
        verb: Verb,
        parse: fn(&[u8]) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.conn.write(line, verb).await?;
        self.conn.read_reply(verb).await?.ok(verb)?;
        let mut out = Vec::new();
        while let Some(line) = self.conn.read_listing_line(MAX_LISTING_LINE, verb).await? {
            if out.len() == self.options.max_listing_entries {
                return Err(Error::protocol(format!(
                    "the POP3 server listed more than {} entries for {}",
                    self.options.max_listing_entries,
                    verb.name()
                )));
            }
            out.push(parse(&line)?);
        }
        Ok(out)
    }

    /// A command answered by a streamed body of at most `limit` bytes (and the session's
    /// limits).
    async fn fetch<W>(
        &mut self,
        line: Vec<u8>,
        verb: Verb,
        limit: u64,
        sink: &mut W,
    ) -> Result<Delivered>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        self.conn.write(&line, verb).await?;
        self.conn.read_reply(verb).await?.ok(verb)?;
        let limit = limit.min(self.options.max_message_bytes);
        self.conn
            .read_body(sink, limit, self.options.max_line, verb)
            .await
    }

    /// Body-fetching commands with up to `PIPELINE_WINDOW` in flight (1 without PIPELINING).
    async fn fetch_many<W, F>(
        &mut self,
        commands: Vec<(u32, String, u64)>,
        verb: Verb,
        mut sink_for: F,
    ) -> Result<Vec<Result<u64>>>
    where
        W: AsyncWrite + Unpin,
        F: FnMut(u32) -> W,
    {
        let window = if self.caps.has("PIPELINING") {
            PIPELINE_WINDOW
        } else {
            1
        };
        let mut results = Vec::with_capacity(commands.len());
        let mut sent = 0;
        for (i, (msgno, _, limit)) in commands.iter().enumerate() {
            let upto = commands.len().min(i + window);
            if sent < upto {
                let batch: String = commands[sent..upto]
                    .iter()
                    .map(|(_, line, _)| line.as_str())
                    .collect();
                self.conn.write(batch.as_bytes(), verb).await?;
                sent = upto;
            }
            match self.conn.read_reply(verb).await? {
                Reply::Ok(_) => {
                    let mut sink = sink_for(*msgno);
                    let limit = (*limit).min(self.options.max_message_bytes);
                    let delivered = self
                        .conn
                        .read_body(&mut sink, limit, self.options.max_line, verb)
                        .await?;
                    results.push(Ok(delivered.octets));
                }
                Reply::Err(text) => results.push(Err(Error::ServerNo {
                    command: verb.name().into(),
                    text,
                })),
            }
        }
        Ok(results)
    }
}

/// A single-line `LIST n`/`UIDL n` answer must be about message `msgno`.
fn one_of<T>(msgno: u32, parsed: Result<(u32, T)>, verb: Verb) -> Result<T> {
    match parsed? {
        (n, value) if n == msgno => Ok(value),
        _ => Err(Error::protocol(format!(
            "the POP3 server answered {} for another message",
            verb.name()
        ))),
    }
}
