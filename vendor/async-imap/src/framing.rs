//! Anvert patch: response framing with limits, so that reading a response costs time linear
//! in its size and memory bounded by the limits, whatever the server sends.
//!
//! Upstream parses the whole buffer from its start after every read and grows the buffer
//! 4 KiB at a time, so an 8 MiB response cost about 2,000 parses of up to 8 MiB each (tens of
//! seconds of CPU), and a literal announcement was trusted up to 512 MiB. Here a [`Framer`]
//! walks each byte once, carrying its state across reads, and says where the current response
//! ends; the stream parses a response once, when it is complete. Framing needs no parser: a
//! literal announcement (`{n}` or `~{n}`) is valid only right before the CRLF that ends a
//! line, and a quoted string cannot hold CR or LF, so any other CRLF ends the response.
//!
//! The framer also counts parenthesis nesting outside quoted strings and literals. A
//! response nested deeper than [`ResponseLimits::max_depth`] is never handed to imap-proto,
//! whose parsers recurse once per level (10,000 levels overflowed the stack and aborted the
//! process). Like a response imap-proto cannot parse, it is replaced by a marker when it is
//! untagged ([`unparsable_marker`]), so one hostile message does not end the session.

use std::fmt;

/// The word in a marker's text that tells it from anything a server would send.
pub const UNPARSABLE_MARKER: &str = "ANVERT-UNPARSABLE";

/// How much the server may send. Past a limit the read fails with an `io::Error` of kind
/// `InvalidData` whose inner error is a [`LimitError`], and the stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// The largest literal accepted, in bytes.
    pub max_literal: u64,
    /// The longest line (outside literals) accepted, in bytes, CRLF included.
    pub max_line: usize,
    /// The largest response (lines and literals together), in bytes.
    pub max_response: u64,
    /// The deepest parenthesis nesting passed to the parser.
    pub max_depth: u32,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            max_literal: 64 * 1024 * 1024,
            max_line: 8 * 1024 * 1024,
            max_response: 72 * 1024 * 1024,
            max_depth: 100,
        }
    }
}

/// What the server sent that the framer refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    /// A literal announced larger than the limit.
    Literal {
        /// The size announced.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A line longer than the limit.
    Line {
        /// The limit.
        limit: usize,
    },
    /// A response larger than the limit.
    Response {
        /// The limit.
        limit: u64,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Literal { size, limit } => {
                write!(f, "literal of {size} bytes exceeds the limit of {limit}")
            }
            LimitError::Line { limit } => {
                write!(f, "a response line exceeds the limit of {limit} bytes")
            }
            LimitError::Response { limit } => {
                write!(f, "a response exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for LimitError {}

impl LimitError {
    /// The limit error inside an I/O error from the stream, if that is what `e` is.
    pub fn from_io(e: &std::io::Error) -> Option<&LimitError> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<LimitError>())
    }
}

/// Where the current response stands after a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framed {
    /// The response ends at this offset of the buffer.
    Complete { end: usize, too_deep: bool },
    /// More bytes are needed; the buffer should hold at least this many before the next scan
    /// is worth it (0: unknown, read what comes).
    Partial { needs: usize },
}

/// Frames one response at a time. The buffer it scans always starts at the current
/// response's first byte; [`Framer::reset`] is called once that response is taken out.
///
/// Only a few bytes change the framing: LF, and outside quoted strings `"`, `(` and `)`,
/// inside them `"` and `\\`. The scan jumps over runs of other bytes (a table lookup a byte,
/// where a state machine stepped every byte), and reads a line's literal announcement back
/// from its end when the LF comes. The limits are checked by position: a run never passes
/// the byte at which the line or the response would be too long.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Bytes of the buffer already scanned.
    scanned: usize,
    /// Literal bytes still to come; 0 in line mode.
    literal: u64,
    /// Where the current line began: after the last LF, or after the literal that ended last.
    line_start: usize,
    quoted: bool,
    escaped: bool,
    depth: u32,
    too_deep: bool,
}

/// The bytes that matter outside a quoted string.
const PLAIN_STOPS: [bool; 256] = stops(b"\n\"()");
/// The bytes that matter inside a quoted string.
const QUOTED_STOPS: [bool; 256] = stops(b"\n\"\\");

const fn stops(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

impl Framer {
    /// Starts over at a response boundary.
    pub(crate) fn reset(&mut self) {
        *self = Framer::default();
    }

    /// Scans `buf` (the current response's bytes so far, and maybe more) from where the last
    /// scan stopped.
    pub(crate) fn scan(&mut self, buf: &[u8], limits: &ResponseLimits) -> Result<Framed, LimitError> {
        // The first byte past the response limit (lines only: literals are checked when
        // announced).
        let response_end = usize::try_from(limits.max_response).unwrap_or(usize::MAX);
        while self.scanned < buf.len() {
            if self.literal > 0 {
                let left = (buf.len() - self.scanned) as u64;
                let n = self.literal.min(left);
                self.literal -= n;
                self.scanned += n as usize;
                if self.literal > 0 {
                    return Ok(Framed::Partial {
                        needs: self.scanned.saturating_add(self.literal as usize),
                    });
                }
                self.line_start = self.scanned;
                continue;
            }
            // The first byte that would make the line or the response too long.
            let line_end = self.line_start.saturating_add(limits.max_line);
            let limit = line_end.min(response_end);
            let stop = buf.len().min(limit);
            let mut at = self.scanned;
            if self.escaped {
                // The byte after a backslash in a quoted string is taken as it is (LF aside).
                if at < stop && buf[at] != b'\n' {
                    self.escaped = false;
                    self.scanned = at + 1;
                    continue;
                }
            } else {
                let table = if self.quoted { &QUOTED_STOPS } else { &PLAIN_STOPS };
                while at < stop && !table[buf[at] as usize] {
                    at += 1;
                }
            }
            self.scanned = at;
            if at == buf.len() {
                break;
            }
            if at == limit {
                return Err(if at == line_end {
                    LimitError::Line {
                        limit: limits.max_line,
                    }
                } else {
                    LimitError::Response {
                        limit: limits.max_response,
                    }
                });
            }
            let b = buf[at];
            self.scanned = at + 1;
            if b == b'\n' {
                let announced = literal_announced(&buf[self.line_start..at]);
                self.line_start = self.scanned;
                self.quoted = false;
                self.escaped = false;
                match announced {
                    Some(size) if size > limits.max_literal => {
                        return Err(LimitError::Literal {
                            size,
                            limit: limits.max_literal,
                        });
                    }
                    Some(size) => {
                        if (self.scanned as u64).saturating_add(size) > limits.max_response {
                            return Err(LimitError::Response {
                                limit: limits.max_response,
                            });
                        }
                        // A zero-length literal leaves the line going on, as does any other.
                        self.literal = size;
                    }
                    None => {
                        return Ok(Framed::Complete {
                            end: self.scanned,
                            too_deep: self.too_deep,
                        });
                    }
                }
                continue;
            }
            if self.quoted {
                match b {
                    b'\\' => self.escaped = true,
                    b'"' => self.quoted = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.quoted = true,
                b'(' => {
                    self.depth += 1;
                    if self.depth > limits.max_depth {
                        self.too_deep = true;
                    }
                }
                b')' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(Framed::Partial { needs: 0 })
    }
}

/// The size of the literal a line announces: `{n}` or `~{n}` (a `+` among the digits, as in
/// LITERAL+'s `{n+}`, is passed over) right before its CR. `line` is the line without its LF;
/// after a literal, only what follows the literal.
fn literal_announced(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"}\r")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let inside = &body[open + 1..];
    if !inside.first()?.is_ascii_digit() {
        return None;
    }
    let mut size: u64 = 0;
    for &b in inside {
        match b {
            b'0'..=b'9' => size = size.saturating_mul(10).saturating_add(u64::from(b - b'0')),
            b'+' => {}
            _ => return None,
        }
    }
    Some(size)
}

/// `* NO [PARSE] ANVERT-UNPARSABLE <kind> [<seq>]` in place of an untagged response that
/// cannot be parsed (or is nested too deep). Only the response's kind and number are kept:
/// nothing of its content.
pub fn unparsable_marker(response: &[u8]) -> Vec<u8> {
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
    format!("* NO [PARSE] {UNPARSABLE_MARKER} {kind}{seq}\r\n").into_bytes()
}

/// Frames `input` fed to the framer in pieces of `step` bytes (at least 1), as the stream
/// does with what it reads, and returns each response's end and whether it was nested too
/// deep. Anvert's test suite checks the framing through this (this crate's own tests are not
/// built).
#[doc(hidden)]
pub fn frame_in_pieces(
    input: &[u8],
    step: usize,
    limits: &ResponseLimits,
) -> Result<Vec<(usize, bool)>, LimitError> {
    let step = step.max(1);
    let mut framer = Framer::default();
    let mut start = 0;
    let mut have: usize = 0;
    let mut out = Vec::new();
    loop {
        have = have.saturating_add(step).min(input.len());
        loop {
            match framer.scan(&input[start..have], limits)? {
                Framed::Complete { end, too_deep } => {
                    out.push((start + end, too_deep));
                    start += end;
                    framer.reset();
                }
                Framed::Partial { .. } => break,
            }
        }
        if have == input.len() {
            return Ok(out);
        }
    }
}
