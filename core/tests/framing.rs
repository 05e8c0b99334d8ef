//! The IMAP response framing of the patched async-imap (`vendor/async-imap/src/framing.rs`),
//! through its `frame_in_pieces`: responses end at the right byte at any chunking of the
//! input, limits end the framing, nesting is counted outside quoted strings and literals; and
//! the framer that jumps over runs of bytes agrees with the per-byte state machine it replaced
//! (kept below as the reference) on many random inputs, limits and chunkings.

use async_imap::framing::{LimitError, ResponseLimits, frame_in_pieces, unparsable_marker};
use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore, SeedableRng},
};

/// A number in `lo..hi` (`hi > lo`).
fn pick(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.next_u64() % (hi - lo)
}

const LIMITS: ResponseLimits = ResponseLimits {
    max_literal: 100,
    max_line: 200,
    max_response: 300,
    max_depth: 5,
};

/// Frames `input` fed in pieces of `step` bytes with the crate's framer.
fn ends(input: &[u8], step: usize) -> Result<Vec<(usize, bool)>, LimitError> {
    frame_in_pieces(input, step, &LIMITS)
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
            vec![
                (first, false),
                (second, false),
                (third, false),
                (input.len(), false)
            ],
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
    let quoted = b"* 1 FETCH (\"((((((\\\"((\" {10}\r\n((((((((\r\n)\r\n";
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

/// Random responses made of the bytes that matter to framing (and some that do not), framed
/// by both framers under random limits and chunkings: the same ends, the same errors.
#[test]
fn the_fast_framer_agrees_with_the_per_byte_reference() {
    const ALPHABET: &[u8] = b"\r\n\"\\(){}+~0123456789 aZ*";
    const ORDINARY: &[u8] = b"aZ 09*.\xc3\xa9\xff\x80\x7f";
    let mut rng = ChaCha8Rng::seed_from_u64(0x46_52_41_4d_45);
    let mut cases = 0;
    for _ in 0..40_000 {
        let len = pick(&mut rng, 0, 120);
        // Half the cases mostly ordinary bytes (high ones too), as real responses are: the
        // framer skips runs of them eight bytes at a time.
        let sparse = pick(&mut rng, 0, 2) == 0;
        let mut input: Vec<u8> = (0..len)
            .map(|_| {
                if sparse && pick(&mut rng, 0, 12) != 0 {
                    ORDINARY[pick(&mut rng, 0, ORDINARY.len() as u64) as usize]
                } else {
                    ALPHABET[pick(&mut rng, 0, ALPHABET.len() as u64) as usize]
                }
            })
            .collect();
        // Real shapes more often than chance gives them: announcements and line ends.
        for _ in 0..pick(&mut rng, 0, 4) {
            let at = pick(&mut rng, 0, input.len() as u64 + 1) as usize;
            let piece: &[u8] = match pick(&mut rng, 0, 5) {
                0 => b"{3}\r\n",
                1 => b"{0}\r\n",
                2 => b"~{12+}\r\n",
                3 => b"\r\n",
                _ => b"\"a\\\"(\"",
            };
            input.splice(at..at, piece.iter().copied());
        }
        let limits = ResponseLimits {
            max_literal: pick(&mut rng, 0, 20),
            max_line: pick(&mut rng, 1, 60) as usize,
            max_response: pick(&mut rng, 1, 150),
            max_depth: pick(&mut rng, 0, 4) as u32,
        };
        let step = pick(&mut rng, 1, input.len().max(1) as u64 + 1) as usize;
        let fast = frame_in_pieces(&input, step, &limits);
        let slow = reference_ends(&input, step, &limits);
        assert_eq!(
            fast,
            slow,
            "input {:?}, chunks of {step}, {limits:?}",
            String::from_utf8_lossy(&input)
        );
        cases += usize::from(fast.is_ok_and(|e| !e.is_empty()));
    }
    // The generator must reach complete responses, not only errors and partial input.
    assert!(cases > 2_000, "only {cases} inputs framed a response");
}

/// The reference framer's ends, fed as `frame_in_pieces` feeds the crate's.
fn reference_ends(
    input: &[u8],
    step: usize,
    limits: &ResponseLimits,
) -> Result<Vec<(usize, bool)>, LimitError> {
    let mut framer = Framer::default();
    let mut start = 0;
    let mut have = 0;
    let mut out = Vec::new();
    loop {
        have = (have + step).min(input.len());
        while let Framed::Complete { end, too_deep } = framer.scan(&input[start..have], limits)? {
            out.push((start + end, too_deep));
            start += end;
            framer.reset();
        }
        if have == input.len() {
            return Ok(out);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framed {
    Complete { end: usize, too_deep: bool },
    Partial { needs: usize },
}

// The framer before issue 19's third pass, verbatim: one state machine step a byte.

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
struct Framer {
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
    fn reset(&mut self) {
        *self = Framer::default();
    }

    /// Scans `buf` (the current response's bytes so far, and maybe more) from where the last
    /// scan stopped.
    fn scan(&mut self, buf: &[u8], limits: &ResponseLimits) -> Result<Framed, LimitError> {
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
                let tail = std::mem::take(&mut self.tail).0;
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
