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

/// The end of the current line, as far as a literal announcement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    Other,
    Open,
    Digits(u64),
    Close(u64),
    CloseCr(u64),
}

/// Frames one response at a time. The buffer it scans always starts at the current
/// response's first byte; [`Framer::reset`] is called once that response is taken out.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Bytes of the buffer already scanned.
    scanned: usize,
    /// Literal bytes still to come; 0 in line mode.
    literal: u64,
    /// Bytes of the current line so far.
    line: usize,
    tail: TailState,
    quoted: bool,
    escaped: bool,
    depth: u32,
    too_deep: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TailState(Tail);

impl Default for TailState {
    fn default() -> Self {
        TailState(Tail::Other)
    }
}

impl Framer {
    /// Starts over at a response boundary.
    pub(crate) fn reset(&mut self) {
        *self = Framer::default();
    }

    /// Scans `buf` (the current response's bytes so far, and maybe more) from where the last
    /// scan stopped.
    pub(crate) fn scan(&mut self, buf: &[u8], limits: &ResponseLimits) -> Result<Framed, LimitError> {
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
                continue;
            }
            let b = buf[self.scanned];
            self.scanned += 1;
            self.line += 1;
            if self.line > limits.max_line {
                return Err(LimitError::Line {
                    limit: limits.max_line,
                });
            }
            if self.scanned as u64 > limits.max_response {
                return Err(LimitError::Response {
                    limit: limits.max_response,
                });
            }
            if b == b'\n' {
                let tail = std::mem::replace(&mut self.tail, TailState::default()).0;
                self.line = 0;
                self.quoted = false;
                self.escaped = false;
                match tail {
                    Tail::CloseCr(size) if size > limits.max_literal => {
                        return Err(LimitError::Literal {
                            size,
                            limit: limits.max_literal,
                        });
                    }
                    Tail::CloseCr(size) => {
                        if (self.scanned as u64).saturating_add(size) > limits.max_response {
                            return Err(LimitError::Response {
                                limit: limits.max_response,
                            });
                        }
                        // A zero-length literal leaves the line going on, as does any other.
                        self.literal = size;
                    }
                    _ => {
                        return Ok(Framed::Complete {
                            end: self.scanned,
                            too_deep: self.too_deep,
                        });
                    }
                }
                continue;
            }
            self.tail = TailState(step(self.tail.0, b));
            if self.quoted {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.quoted = false,
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

fn step(tail: Tail, b: u8) -> Tail {
    match (tail, b) {
        (_, b'{') => Tail::Open,
        (Tail::Open, b'0'..=b'9') => Tail::Digits(u64::from(b - b'0')),
        (Tail::Digits(n), b'0'..=b'9') => {
            Tail::Digits(n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
        }
        // `{n+}` (LITERAL+, servers should not send it) frames the same way.
        (Tail::Digits(n), b'+') => Tail::Digits(n),
        (Tail::Digits(n), b'}') => Tail::Close(n),
        (Tail::Close(n), b'\r') => Tail::CloseCr(n),
        _ => Tail::Other,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ResponseLimits = ResponseLimits {
        max_literal: 100,
        max_line: 200,
        max_response: 300,
        max_depth: 5,
    };

    /// Frames `input` fed in pieces of `step` bytes; returns the responses' ends.
    fn ends(input: &[u8], step: usize) -> Result<Vec<(usize, bool)>, LimitError> {
        let mut framer = Framer::default();
        let mut start = 0;
        let mut have = 0;
        let mut out = Vec::new();
        while have < input.len() || start < have {
            have = (have + step).min(input.len());
            loop {
                match framer.scan(&input[start..have], &LIMITS)? {
                    Framed::Complete { end, too_deep } => {
                        out.push((start + end, too_deep));
                        start += end;
                        framer.reset();
                    }
                    Framed::Partial { .. } => break,
                }
            }
            if have == input.len() {
                break;
            }
        }
        Ok(out)
    }

    #[test]
    fn responses_end_at_crlf_outside_literals_at_any_chunking() {
        let input: &[u8] = b"* 1 FETCH (UID 7 BODY[] {5}\r\nab}\r\n FLAGS (\\Seen))\r\n\
            * 2 FETCH (UID 8 BODY[] {0}\r\n)\r\n\
            * OK [UIDNEXT 9] quoted \"{3}\" braces\r\nA0001 OK done\r\n";
        let first = b"* 1 FETCH (UID 7 BODY[] {5}\r\nab}\r\n FLAGS (\\Seen))\r\n".len();
        let second = first + b"* 2 FETCH (UID 8 BODY[] {0}\r\n)\r\n".len();
        let third = second + b"* OK [UIDNEXT 9] quoted \"{3}\" braces\r\n".len();
        for step in 1..input.len() {
            assert_eq!(
                ends(input, step).unwrap(),
                vec![(first, false), (second, false), (third, false), (input.len(), false)],
                "chunks of {step}"
            );
        }
    }

    #[test]
    fn limits_end_the_framing() {
        assert_eq!(
            ends(b"* 1 FETCH (BODY[] {4294967295}\r\n", 3),
            Err(LimitError::Literal {
                size: 4294967295,
                limit: 100
            })
        );
        assert_eq!(
            ends(b"* 1 FETCH (BINARY[1] ~{101}\r\n", 4),
            Err(LimitError::Literal {
                size: 101,
                limit: 100
            })
        );
        assert!(matches!(
            ends(b"* 1 FETCH (BODY[] {99999999999999999999999999}\r\n", 7),
            Err(LimitError::Literal { size: u64::MAX, .. })
        ));
        assert_eq!(
            ends(&[b'x'; 1000], 64),
            Err(LimitError::Line { limit: 200 })
        );
        // Two literals that fit alone but not together.
        let mut two = b"* 1 FETCH (A {90}\r\n".to_vec();
        two.extend_from_slice(&[b'a'; 90]);
        two.extend_from_slice(b" B {90}\r\n");
        two.extend_from_slice(&[b'b'; 90]);
        two.extend_from_slice(b" C {90}\r\n");
        assert_eq!(ends(&two, 16), Err(LimitError::Response { limit: 300 }));
    }

    #[test]
    fn nesting_is_counted_outside_quotes_and_literals() {
        let deep = b"* 1 FETCH ((((((x))))))\r\n";
        assert_eq!(ends(deep, 3).unwrap(), vec![(deep.len(), true)]);
        let quoted = b"* 1 FETCH (\"((((((\\\"((\" {8}\r\n((((((((\r\n)\r\n";
        assert_eq!(ends(quoted, 5).unwrap(), vec![(quoted.len(), false)]);
    }

    #[test]
    fn markers_keep_only_kind_and_number() {
        assert_eq!(
            unparsable_marker(b"* 12 FETCH (BODYSTRUCTURE (secret))\r\n"),
            b"* NO [PARSE] ANVERT-UNPARSABLE FETCH 12\r\n"
        );
        assert_eq!(
            unparsable_marker(b"* LIST (\\X) \"/\" secret\r\n"),
            b"* NO [PARSE] ANVERT-UNPARSABLE LIST\r\n"
        );
        assert_eq!(
            unparsable_marker(b"* 99999999999999 FETCH\r\n"),
            b"* NO [PARSE] ANVERT-UNPARSABLE FETCH\r\n"
        );
    }
}
