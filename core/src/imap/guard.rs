//! A guard on the bytes the server sends, just below async-imap's parser (above TLS and
//! decompression, so it sees plain IMAP). It frames responses only as far as needed to keep a
//! hostile or broken server from exhausting a phone's memory or ending the session over one
//! bad response:
//!
//! - A literal announced larger than the limit (`{4294967295}` or `~{…}`) fails the read at
//!   once. async-imap would otherwise grow its buffer to the announced size (up to 512 MiB)
//!   before a single byte of it arrives.
//! - A line longer than the line limit, or one response (its lines and literals together)
//!   larger than both limits added, fails the read. async-imap buffers a whole response.
//! - An untagged response (`* …`) of at most [`HOLD_MAX`] bytes is held until complete and
//!   checked with imap-proto, the parser async-imap uses. One that does not parse (a broken
//!   BODYSTRUCTURE, invalid UTF-8 where imap-proto wants text) is replaced by a marker,
//!   `* NO [PARSE] ANVERT-UNPARSABLE FETCH 12`: async-imap closes its stream for good on a
//!   parse error, so without this one broken message would end every sync of its folder.
//!   `exchange` turns a marker into an error, except where the caller can do without the
//!   message (a summary fetch, which then fetches it again without BODYSTRUCTURE).
//!
//! Framing needs no parser: a literal announcement is valid only directly before the CRLF
//! that ends a line, and a quoted string cannot contain CR or LF, so `{digits}` right before
//! CRLF always announces a literal; any other CRLF ends the response. A response that parses
//! is passed on byte for byte, and a read hands async-imap whole responses when they fit
//! (async-imap parses its buffer from the start after each read; a read ending mid-response
//! would cost it a parse that fails for want of the rest). The guard never looks at what the client writes and never
//! logs or reports response content.

use std::{
    collections::VecDeque,
    fmt, io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use async_imap::imap_proto::{self, Response, ResponseCode, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::BoxedIo;

/// Responses up to this size are held and checked before async-imap sees them. Summary
/// responses are a few KiB; larger ones (body sections, long SEARCH results) pass unchecked.
pub(super) const HOLD_MAX: usize = 1024 * 1024;

/// The word in a marker's text that tells it from anything a server would send.
const MARKER: &str = "ANVERT-UNPARSABLE";

/// How much the server may send at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// The largest literal accepted, in bytes.
    pub max_literal: u64,
    /// The longest line (outside literals) accepted, in bytes, CRLF included.
    pub max_line: usize,
}

impl Limits {
    fn max_response(&self) -> u64 {
        self.max_literal.saturating_add(self.max_line as u64)
    }
}

/// What the server sent that the guard refused. Reaches `connect::map_err` inside an
/// `io::Error` and becomes `Error::Protocol` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Violation {
    #[error("literal of {size} bytes exceeds the limit of {limit}")]
    Literal { size: u64, limit: u64 },
    #[error("a response line exceeds the limit of {limit} bytes")]
    Line { limit: usize },
    #[error("a response exceeds the limit of {limit} bytes")]
    Response { limit: u64 },
}

impl Violation {
    /// The violation inside an I/O error from the guard, if that is what `e` is.
    pub(super) fn from_io(e: &io::Error) -> Option<&Violation> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Violation>())
    }
}

/// Turns a guard off when the byte stream below async-imap is about to carry something other
/// than plain IMAP (TLS after STARTTLS, DEFLATE after COMPRESS), where a new guard takes over.
#[derive(Debug, Clone)]
pub(super) struct GuardSwitch(Arc<AtomicBool>);

impl GuardSwitch {
    pub(super) fn turn_off(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// `io` behind a guard, boxed for async-imap, and the switch that turns the guard off.
pub(super) fn guarded(
    io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static,
    limits: Limits,
) -> (BoxedIo, GuardSwitch) {
    let on = Arc::new(AtomicBool::new(true));
    let guard = ResponseGuard {
        inner: io,
        on: on.clone(),
        framer: Framer::new(limits),
        chunk: vec![0; 16 * 1024],
        out: Vec::new(),
        pos: 0,
        ends: VecDeque::new(),
        failed: None,
        eof: false,
    };
    (BoxedIo::new(guard), GuardSwitch(on))
}

/// A server response the guard replaced because imap-proto could not parse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unparsable {
    /// The response's kind as the server named it (`FETCH`, `LIST`, …), or `RESPONSE`.
    pub kind: String,
    /// The message sequence number, for `* 12 FETCH`-style responses.
    pub seq: Option<u32>,
}

impl Unparsable {
    /// The marker the guard put in place of an unparsable response, if `response` is one.
    pub(super) fn from_response(response: &Response<'_>) -> Option<Unparsable> {
        let Response::Data {
            status: Status::No,
            outcome,
        } = response
        else {
            return None;
        };
        if !matches!(outcome.code, Some(ResponseCode::Parse)) {
            return None;
        }
        let mut words = outcome.information.as_deref()?.split(' ');
        if words.next() != Some(MARKER) {
            return None;
        }
        let kind = words.next().unwrap_or("RESPONSE").to_string();
        let seq = words.next().and_then(|s| s.parse().ok());
        Some(Unparsable { kind, seq })
    }
}

struct ResponseGuard<S> {
    inner: S,
    on: Arc<AtomicBool>,
    framer: Framer,
    /// Bytes read from `inner`, before framing.
    chunk: Vec<u8>,
    /// Bytes framed and ready for async-imap, from `pos` on.
    out: Vec<u8>,
    pos: usize,
    /// Where complete responses end in `out`, in order.
    ends: VecDeque<usize>,
    failed: Option<Violation>,
    eof: bool,
}

impl<S> fmt::Debug for ResponseGuard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseGuard")
            .field("on", &self.on.load(Ordering::Acquire))
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ResponseGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            // Whatever was framed before a violation (earlier, complete responses) goes first.
            // As many whole responses as fit: async-imap parses its buffer from the start
            // after every read, so a read that ends inside a response costs a parse that
            // fails for want of the rest.
            if this.pos < this.out.len() {
                let room = buf.remaining();
                let mut whole = None;
                while let Some(&end) = this.ends.front() {
                    if end <= this.pos {
                        this.ends.pop_front();
                    } else if end - this.pos <= room {
                        whole = Some(end - this.pos);
                        this.ends.pop_front();
                    } else {
                        break;
                    }
                }
                let n = whole.unwrap_or_else(|| (this.out.len() - this.pos).min(room));
                buf.put_slice(&this.out[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.out.len() {
                    this.out.clear();
                    this.ends.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if let Some(v) = &this.failed {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, v.clone())));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if !this.on.load(Ordering::Acquire) {
                if this.framer.flush(&mut this.out) {
                    continue;
                }
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let mut chunk = ReadBuf::new(&mut this.chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            let n = chunk.filled().len();
            if n == 0 {
                this.eof = true;
                this.framer.flush(&mut this.out);
            } else if let Err(v) = this
                .framer
                .feed(&this.chunk[..n], &mut this.out, &mut this.ends)
            {
                this.failed = Some(v);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ResponseGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The end of the current line, as far as a literal announcement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    Other,
    Open,
    Digits(u64),
    Close(u64),
    CloseCr(u64),
}

impl Tail {
    /// The state after `bytes`. A `{` starts over from any state, and without one the state
    /// only ever falls back to `Other`, where it stays: only the bytes from the last `{` on
    /// need stepping through.
    fn over(self, bytes: &[u8]) -> Tail {
        let (mut tail, rest) = match bytes.iter().rposition(|&b| b == b'{') {
            Some(i) => (Tail::Open, &bytes[i + 1..]),
            None if self == Tail::Other => return Tail::Other,
            None => (self, bytes),
        };
        for &b in rest {
            tail = tail.step(b);
            if tail == Tail::Other {
                return Tail::Other;
            }
        }
        tail
    }

    fn step(self, b: u8) -> Tail {
        match (self, b) {
            (_, b'{') => Tail::Open,
            (Tail::Open, b'0'..=b'9') => Tail::Digits(u64::from(b - b'0')),
            (Tail::Digits(n), b'0'..=b'9') => {
                Tail::Digits(n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
            }
            (Tail::Digits(n), b'}') => Tail::Close(n),
            (Tail::Close(n), b'\r') => Tail::CloseCr(n),
            _ => Tail::Other,
        }
    }
}

/// Splits the byte stream into responses: line mode (looking for the CRLF that ends a line)
/// or inside a literal (counting its bytes down).
#[derive(Debug)]
struct Framer {
    limits: Limits,
    /// Literal bytes still to come; 0 in line mode.
    literal: u64,
    /// Bytes of the current line so far.
    line: usize,
    /// Bytes of the current response so far.
    response: u64,
    tail: Tail,
    /// The current response, while it is small enough to be checked when complete.
    held: Vec<u8>,
    holding: bool,
}

impl Framer {
    fn new(limits: Limits) -> Self {
        Framer {
            limits,
            literal: 0,
            line: 0,
            response: 0,
            tail: Tail::Other,
            held: Vec::new(),
            holding: true,
        }
    }

    /// Frames `data`, appending what async-imap may see to `out` and where each complete
    /// response ends there to `ends`.
    fn feed(
        &mut self,
        mut data: &[u8],
        out: &mut Vec<u8>,
        ends: &mut VecDeque<usize>,
    ) -> Result<(), Violation> {
        while !data.is_empty() {
            let in_literal = self.literal > 0;
            let n = if in_literal {
                let n = usize::try_from(self.literal).map_or(data.len(), |l| l.min(data.len()));
                self.literal -= n as u64;
                n
            } else {
                let n = data
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(data.len(), |i| i + 1);
                self.line += n;
                if self.line > self.limits.max_line {
                    return Err(Violation::Line {
                        limit: self.limits.max_line,
                    });
                }
                n
            };
            let (piece, rest) = data.split_at(n);
            data = rest;
            self.response += n as u64;
            if self.response > self.limits.max_response() {
                return Err(Violation::Response {
                    limit: self.limits.max_response(),
                });
            }
            self.emit(piece, out);
            if in_literal {
                continue;
            }
            let Some((&last, line)) = piece.split_last() else {
                continue;
            };
            if last != b'\n' {
                self.tail = self.tail.over(piece);
                continue;
            }
            self.tail = self.tail.over(line);
            self.line = 0;
            match std::mem::replace(&mut self.tail, Tail::Other) {
                Tail::CloseCr(size) if size > self.limits.max_literal => {
                    return Err(Violation::Literal {
                        size,
                        limit: self.limits.max_literal,
                    });
                }
                // A zero-length literal leaves the line going on, as does any other.
                Tail::CloseCr(size) => self.literal = size,
                _ => {
                    self.end_response(out);
                    ends.push_back(out.len());
                }
            }
        }
        Ok(())
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.holding {
            if self.held.len() + bytes.len() <= HOLD_MAX {
                self.held.extend_from_slice(bytes);
                return;
            }
            // Too large to check: pass it on as it comes.
            out.append(&mut self.held);
            self.holding = false;
        }
        out.extend_from_slice(bytes);
    }

    fn end_response(&mut self, out: &mut Vec<u8>) {
        if self.holding {
            if self.held.starts_with(b"* ") && imap_proto::Response::parse(&self.held).is_err() {
                out.extend_from_slice(&marker(&self.held));
            } else if out.is_empty() {
                std::mem::swap(out, &mut self.held);
            } else {
                out.extend_from_slice(&self.held);
            }
            self.held.clear();
            if self.held.capacity() > 64 * 1024 {
                self.held.shrink_to(64 * 1024);
            }
        }
        self.holding = true;
        self.response = 0;
    }

    /// Hands on what is held, unchecked: the connection ended (async-imap reports the cut
    /// response), or the guard was turned off. Whether there was anything.
    fn flush(&mut self, out: &mut Vec<u8>) -> bool {
        let any = !self.held.is_empty();
        out.append(&mut self.held);
        any
    }
}

/// `* NO [PARSE] ANVERT-UNPARSABLE <kind> [<seq>]` for an unparsable untagged response. Only
/// the response's kind and number are kept: nothing of its content.
fn marker(response: &[u8]) -> Vec<u8> {
    let mut words = response
        .get(2..)
        .unwrap_or_default()
        .split(|b| matches!(b, b' ' | b'\r' | b'\n' | b'('))
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    let (seq, kind) = if !first.is_empty() && first.iter().all(u8::is_ascii_digit) {
        (
            std::str::from_utf8(first)
                .ok()
                .and_then(|s| s.parse::<u32>().ok()),
            words.next(),
        )
    } else {
        (None, Some(first))
    };
    let kind = kind
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 24
                && k.iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        })
        .map_or_else(
            || "RESPONSE".to_string(),
            |k| String::from_utf8_lossy(k).to_ascii_uppercase(),
        );
    let seq = seq.map(|s| format!(" {s}")).unwrap_or_default();
    format!("* NO [PARSE] {MARKER} {kind}{seq}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_literal: 100,
        max_line: 200,
    };

    /// Feeds `input` in pieces of `step` bytes; returns what async-imap would see.
    fn frame(input: &[u8], step: usize) -> Result<Vec<u8>, Violation> {
        let mut framer = Framer::new(LIMITS);
        let mut out = Vec::new();
        let mut ends = VecDeque::new();
        for piece in input.chunks(step) {
            framer.feed(piece, &mut out, &mut ends)?;
        }
        assert!(ends.iter().all(|&end| end <= out.len()));
        framer.flush(&mut out);
        Ok(out)
    }

    #[test]
    fn responses_that_parse_pass_unchanged_at_any_chunking() {
        let input: &[u8] = b"* 1 FETCH (UID 7 BODY[] {5}\r\nab}\r\n FLAGS (\\Seen))\r\n\
            * 2 FETCH (UID 8 BODY[] {0}\r\n)\r\n\
            * OK [UIDNEXT 9] quoted \"{3}\" braces\r\nA0001 OK done\r\n";
        for step in 1..input.len() {
            assert_eq!(frame(input, step).unwrap(), input, "chunks of {step}");
        }
    }

    #[test]
    fn literal_bytes_are_never_framed() {
        // The literal holds CRLF and a literal announcement of its own.
        let input: &[u8] = b"* 1 FETCH (BODY[] {14}\r\n{999999}\r\nxx\r\n)\r\n";
        for step in 1..input.len() {
            assert_eq!(frame(input, step).unwrap(), input);
        }
    }

    #[test]
    fn large_literals_are_refused_when_announced() {
        let input = b"* 1 FETCH (BODY[] {4294967295}\r\n";
        for step in [1, 3, input.len()] {
            assert_eq!(
                frame(input, step),
                Err(Violation::Literal {
                    size: 4294967295,
                    limit: 100
                })
            );
        }
        let binary = b"* 1 FETCH (BINARY[1] ~{101}\r\n";
        assert_eq!(
            frame(binary, 4),
            Err(Violation::Literal {
                size: 101,
                limit: 100
            })
        );
        let absurd = b"* 1 FETCH (BODY[] {99999999999999999999999999}\r\n";
        assert!(matches!(
            frame(absurd, 7),
            Err(Violation::Literal { size: u64::MAX, .. })
        ));
        // Braces that do not end the line announce nothing.
        assert!(frame(b"* OK {4294967295} later\r\n", 5).is_ok());
    }

    #[test]
    fn long_lines_and_chained_literals_are_refused() {
        let long = [b"* OK ".as_slice(), &[b'x'; 300], b"\r\n"].concat();
        assert_eq!(frame(&long, 9), Err(Violation::Line { limit: 200 }));
        let mut chained = b"* 1 FETCH (".to_vec();
        for _ in 0..3 {
            chained.extend_from_slice(b"BODY[1] {90}\r\n");
            chained.extend_from_slice(&[b'y'; 90]);
        }
        assert_eq!(frame(&chained, 50), Err(Violation::Response { limit: 300 }));
    }

    #[test]
    fn unparsable_untagged_responses_become_markers() {
        let input: &[u8] =
            b"* 12 FETCH (UID 5 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") \
            NIL NIL \"7bit\" twenty 1))\r\nA0001 OK done\r\n";
        assert_eq!(
            frame(input, 4).unwrap(),
            b"* NO [PARSE] ANVERT-UNPARSABLE FETCH 12\r\nA0001 OK done\r\n"
        );
        let (_, parsed) = Response::parse(b"* NO [PARSE] ANVERT-UNPARSABLE FETCH 12\r\n").unwrap();
        assert_eq!(
            Unparsable::from_response(&parsed),
            Some(Unparsable {
                kind: "FETCH".into(),
                seq: Some(12)
            })
        );
        assert_eq!(
            marker(b"* \xff\xfe secret stuff\r\n"),
            b"* NO [PARSE] ANVERT-UNPARSABLE RESPONSE\r\n"
        );
        assert_eq!(
            marker(b"* list (\\X) \"/\" \xff\r\n"),
            b"* NO [PARSE] ANVERT-UNPARSABLE LIST\r\n"
        );
        // Tagged and continuation responses are left for async-imap to refuse.
        assert_eq!(
            frame(b"A0001 OK [garbage\r\n", 3).unwrap(),
            b"A0001 OK [garbage\r\n"
        );
    }

    #[tokio::test]
    async fn a_violation_fails_the_read_after_what_came_before_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1024);
        let (mut io, _switch) = guarded(client, LIMITS);
        server
            .write_all(b"* 1 EXISTS\r\n* 1 FETCH (BODY[] {4294967295}\r\n")
            .await
            .unwrap();
        let mut first = [0; 12];
        io.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"* 1 EXISTS\r\n");
        let err = io.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(
            Violation::from_io(&err),
            Some(&Violation::Literal {
                size: 4294967295,
                limit: 100
            })
        );
    }

    /// After STARTTLS or COMPRESS the bytes below the parser are TLS or DEFLATE: the guard
    /// there is turned off and passes them untouched.
    #[tokio::test]
    async fn a_guard_turned_off_passes_bytes_untouched() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1024);
        let (mut io, switch) = guarded(client, LIMITS);
        server.write_all(b"A0001 OK go\r\n").await.unwrap();
        let mut ok = [0; 13];
        io.read_exact(&mut ok).await.unwrap();
        switch.turn_off();
        let opaque = b"\x16\x03{4294967295}\r\n\xff\x00";
        server.write_all(opaque).await.unwrap();
        let mut got = vec![0; opaque.len()];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(got, opaque);
    }

    #[test]
    fn skipping_to_the_last_brace_gives_the_same_tail_as_stepping() {
        let inputs: [&[u8]; 8] = [
            b"", b"abc", b"{12}", b"{12}\r", b"x{1{23}", b"{12} {", b"{1}2}\r", b"}}{9",
        ];
        let starts = [
            Tail::Other,
            Tail::Open,
            Tail::Digits(4),
            Tail::Close(4),
            Tail::CloseCr(4),
        ];
        for input in inputs {
            for start in starts {
                let stepped = input.iter().fold(start, |t, &b| t.step(b));
                assert_eq!(start.over(input), stepped, "{input:?} from {start:?}");
            }
        }
    }

    #[tokio::test]
    async fn reads_end_where_responses_end() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(1024);
        let (mut io, _switch) = guarded(client, LIMITS);
        server
            .write_all(b"* 1 EXISTS\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\nA1 OK done\r\n")
            .await
            .unwrap();
        let mut buf = [0; 64];
        // Whole responses, as many as fit.
        let n = io.read(&mut buf[..50]).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"* 1 EXISTS\r\n* 2 FETCH (BODY[] {3}\r\nabc)\r\n"
        );
        // A response larger than the buffer comes in pieces.
        let mut small = [0; 4];
        let n = io.read(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"A1 O");
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"K done\r\n");
    }

    #[test]
    fn a_cut_response_is_handed_on_as_it_is() {
        assert_eq!(frame(b"* 1 FETCH (UID", 4).unwrap(), b"* 1 FETCH (UID");
    }
}
