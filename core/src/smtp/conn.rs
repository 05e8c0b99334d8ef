//! The SMTP wire: a read buffer over the (metered, possibly TLS) stream, bounded reply reads
//! with deadlines, command writes, and the DATA body written through the [`Stuffer`] a chunk
//! at a time. Memory stays bounded whatever the server sends: a reply line may never exceed
//! [`MAX_REPLY_LINE`], a reply never more than [`MAX_REPLY_LINES`] lines. It never logs what
//! it writes (commands may hold credentials).

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::Instant,
};

use super::{
    data::Stuffer,
    reply::{Reply, Verb, parse_line},
};
use crate::{
    error::{Error, Result},
    net::BoxedIo,
};

/// Bytes asked of the socket per read.
const CHUNK: usize = 16 * 1024;
/// Bytes of the caller's message encoded per write of a DATA body.
const BODY_CHUNK: usize = 64 * 1024;
/// The longest reply line accepted, line end excluded (RFC 5321 §4.5.3.1.5 says 512 octets;
/// servers stretch it).
pub const MAX_REPLY_LINE: usize = 4 * 1024;
/// The most lines in one reply (an EHLO reply lists a keyword a line; real ones have ~20).
pub const MAX_REPLY_LINES: usize = 256;

/// A buffered SMTP connection.
pub(super) struct Conn {
    io: BoxedIo,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    pub(super) timeout: Duration,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("buffered", &self.buffered().len())
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(super) fn new(io: BoxedIo, timeout: Duration) -> Self {
        Conn {
            io,
            buf: Vec::with_capacity(CHUNK),
            pos: 0,
            timeout,
        }
    }

    /// Bytes received but not yet consumed.
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The stream, for the TLS upgrade. Callers check `buffered()` is empty first.
    pub(super) fn into_inner(self) -> BoxedIo {
        self.io
    }

    /// Writes `bytes` (one or more complete command lines) in one write and flushes.
    pub(super) async fn write(&mut self, bytes: &[u8], verb: Verb) -> Result<()> {
        let io = &mut self.io;
        let write = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(Error::Timeout {
                during: verb.during(),
            }),
            Ok(r) => r.map_err(io_error),
        }
    }

    /// Streams `message` as a DATA body and its terminator: line ends made CRLF, lines
    /// starting with a dot stuffed, a chunk at a time (no copy of the whole message). The
    /// last chunk and the terminator (`.` CRLF, after the CRLF a message lacks) go in one
    /// write; `terminal` is set just before it, since from then on the server may have the
    /// whole message.
    pub(super) async fn write_message(
        &mut self,
        message: &[u8],
        terminal: &mut bool,
    ) -> Result<()> {
        let mut stuffer = Stuffer::new();
        let mut out = Vec::with_capacity(BODY_CHUNK + BODY_CHUNK / 8);
        let mut chunks = message.chunks(BODY_CHUNK).peekable();
        loop {
            out.clear();
            if let Some(chunk) = chunks.next() {
                stuffer.encode(chunk, &mut out);
            }
            if chunks.peek().is_none() {
                stuffer.finish(&mut out);
                *terminal = true;
                return self.write(&out, Verb::Body).await;
            }
            self.write(&out, Verb::Body).await?;
        }
    }

    /// Reads one complete reply, each line within the session timeout.
    pub(super) async fn read_reply(&mut self, verb: Verb) -> Result<Reply> {
        self.read_reply_within(verb, self.timeout).await
    }

    /// Reads one complete reply, each line within `timeout`. Lines whose codes differ, more
    /// than [`MAX_REPLY_LINES`] lines or a line longer than [`MAX_REPLY_LINE`] are
    /// `Error::Protocol`.
    pub(super) async fn read_reply_within(
        &mut self,
        verb: Verb,
        timeout: Duration,
    ) -> Result<Reply> {
        let mut code = None;
        let mut texts = Vec::new();
        loop {
            let line = self.read_line(verb, timeout).await?;
            let parsed = parse_line(&line, verb)?;
            match code {
                None => code = Some(parsed.code),
                Some(c) if c != parsed.code => {
                    return Err(Error::protocol(format!(
                        "the SMTP server answered {} with a multi-line reply whose codes differ \
                         ({c} and {})",
                        verb.name(),
                        parsed.code
                    )));
                }
                Some(_) => {}
            }
            if texts.len() == MAX_REPLY_LINES {
                return Err(Error::protocol(format!(
                    "the SMTP server answered {} with more than {MAX_REPLY_LINES} lines",
                    verb.name()
                )));
            }
            texts.push(parsed.text.to_vec());
            if !parsed.more {
                return Ok(Reply::new(parsed.code, &texts));
            }
        }
    }

    /// Reads one line (without its CRLF or bare LF) within `timeout`.
    async fn read_line(&mut self, verb: Verb, timeout: Duration) -> Result<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut searched = 0;
        loop {
            let unread = self.buffered();
            if let Some(p) = unread[searched..].iter().position(|b| *b == b'\n') {
                let end = searched + p;
                let mut line = unread[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_REPLY_LINE {
                    return Err(too_long(verb));
                }
                self.pos += end + 1;
                return Ok(line);
            }
            searched = unread.len();
            if searched > MAX_REPLY_LINE + 1 {
                return Err(too_long(verb));
            }
            self.fill(deadline, verb).await?;
        }
    }

    /// Reads more bytes into the buffer, by `deadline`.
    async fn fill(&mut self, deadline: Instant, verb: Verb) -> Result<()> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let filled = self.buf.len();
        self.buf.resize(filled + CHUNK, 0);
        let read = tokio::time::timeout_at(deadline, self.io.read(&mut self.buf[filled..])).await;
        let (n, result) = match read {
            Err(_) => (
                0,
                Err(Error::Timeout {
                    during: verb.during(),
                }),
            ),
            Ok(Ok(0)) => (0, Err(Error::ConnectionClosed)),
            Ok(Ok(n)) => (n, Ok(())),
            Ok(Err(e)) => (0, Err(io_error(e))),
        };
        self.buf.truncate(filled + n);
        result
    }

    /// Closes the write side (after QUIT).
    pub(super) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.timeout, self.io.shutdown()).await;
    }
}

fn too_long(verb: Verb) -> Error {
    Error::protocol(format!(
        "the SMTP server sent a reply line longer than {MAX_REPLY_LINE} bytes to {}",
        verb.name()
    ))
}

/// A socket error: a closed connection gets its own variant.
fn io_error(e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::UnexpectedEof | K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted => {
            Error::ConnectionClosed
        }
        _ => Error::Io(e),
    }
}
