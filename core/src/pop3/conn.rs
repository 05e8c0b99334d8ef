//! The POP3 wire: a read buffer over the (metered, possibly TLS) stream, bounded line reads
//! with deadlines, command writes, and streaming of multi-line bodies into a caller's sink.
//! Memory stays bounded whatever the server sends: a line may never exceed its limit and a
//! body passes through one chunk at a time. It never logs what it writes (commands may hold
//! credentials) and never parses replies beyond finding line ends.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWrite, AsyncWriteExt},
    time::Instant,
};

use super::{
    multiline::{Delivered, Unstuffer},
    reply::{Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::BoxedIo,
};

/// Bytes asked of the socket per read.
const CHUNK: usize = 16 * 1024;
/// The longest status line accepted (RFC 1939 allows 512 octets; servers stretch it).
pub const MAX_STATUS_LINE: usize = 4 * 1024;

/// A buffered POP3 connection.
pub(super) struct Conn {
    io: BoxedIo,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    pos: usize,
    timeout: Duration,
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

    /// Writes `bytes` (one or more complete command lines) and flushes.
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

    /// Reads a status line and parses it.
    pub(super) async fn read_reply(&mut self, verb: Verb) -> Result<Reply> {
        let line = self.read_line(MAX_STATUS_LINE, verb).await?;
        Reply::parse(&line, verb)
    }

    /// Reads one line of a multi-line listing, dot-unstuffed; `None` at the terminator.
    pub(super) async fn read_listing_line(
        &mut self,
        max: usize,
        verb: Verb,
    ) -> Result<Option<Vec<u8>>> {
        let mut line = self.read_line(max, verb).await?;
        match line.first() {
            Some(b'.') if line.len() == 1 => Ok(None),
            Some(b'.') => {
                line.remove(0);
                Ok(Some(line))
            }
            _ => Ok(Some(line)),
        }
    }

    /// Reads one line (without its CRLF or bare LF) within the session timeout. A line longer
    /// than `max` bytes is a protocol violation.
    pub(super) async fn read_line(&mut self, max: usize, verb: Verb) -> Result<Vec<u8>> {
        let deadline = Instant::now() + self.timeout;
        let mut searched = 0;
        loop {
            let unread = self.buffered();
            if let Some(p) = unread[searched..].iter().position(|b| *b == b'\n') {
                let end = searched + p;
                if end > max + 1 {
                    return Err(too_long(max, verb));
                }
                let mut line = unread[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.pos += end + 1;
                return Ok(line);
            }
            searched = unread.len();
            if searched > max + 1 {
                return Err(too_long(max, verb));
            }
            self.fill(deadline, verb).await?;
        }
    }

    /// Streams a multi-line body into `sink`, dot-unstuffed, up to and excluding the
    /// terminator. Each read must arrive within the session timeout. More than `limit`
    /// content bytes, or a line longer than `max_line`, is a protocol violation, found before
    /// the excess reaches the sink (a chunk at a time, so at most one read past the bound is
    /// ever taken from the socket). Returns what was delivered.
    pub(super) async fn read_body<W>(
        &mut self,
        sink: &mut W,
        limit: u64,
        max_line: u64,
        verb: Verb,
    ) -> Result<Delivered>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let mut decoder = Unstuffer::new();
        let mut out = Vec::with_capacity(CHUNK);
        let mut total = 0u64;
        loop {
            if self.buffered().is_empty() {
                self.fill(Instant::now() + self.timeout, verb).await?;
            }
            let consumed = decoder.decode(&self.buf[self.pos..], &mut out);
            self.pos += consumed;
            if decoder.longest_line() > max_line {
                return Err(Error::protocol(format!(
                    "the POP3 server sent a line longer than {max_line} bytes in a {} response",
                    verb.name()
                )));
            }
            if !out.is_empty() {
                total += out.len() as u64;
                if total > limit {
                    return Err(Error::protocol(format!(
                        "the POP3 server sent more than {limit} bytes in one {} response",
                        verb.name()
                    )));
                }
                sink.write_all(&out).await?;
                out.clear();
            }
            if decoder.is_done() {
                sink.flush().await?;
                return Ok(Delivered {
                    octets: total,
                    line_ends: decoder.line_ends(),
                    bare_lf: decoder.bare_lf(),
                });
            }
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

fn too_long(max: usize, verb: Verb) -> Error {
    Error::protocol(format!(
        "the POP3 server sent a line longer than {max} bytes in its {} response",
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
