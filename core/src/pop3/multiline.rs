//! The streaming decoder for POP3 multi-line responses (RFC 1939 §3): it removes the
//! byte-stuffed leading dot of a line and stops at the terminating `CRLF . CRLF`, keeping each
//! content line's own line ending. It is sans I/O and keeps only a few bits of state between
//! calls, so input may be split anywhere (inside a stuffed dot, inside the terminator); it
//! never holds more than the chunk it is given and never reads past the terminator.

/// Where the decoder stands between two input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (also the start of the body).
    LineStart,
    /// A line started with a dot, which has been dropped.
    Dot,
    /// A line started with dot, CR.
    DotCr,
    /// Inside a line.
    Mid,
    /// The terminator has been consumed.
    Done,
}

/// Dot-unstuffs a multi-line body fed in arbitrary chunks.
#[derive(Debug, Clone)]
pub struct Unstuffer {
    state: State,
}

impl Default for Unstuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Unstuffer {
    /// A decoder positioned just after the status line.
    pub fn new() -> Self {
        Unstuffer {
            state: State::LineStart,
        }
    }

    /// Whether the terminating `.CRLF` line has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as belongs to the body, appending content to `out`. Returns
    /// how many bytes of `input` it consumed: all of them, unless the terminator ends inside
    /// `input`, in which case the bytes after it are left for the caller (the next response).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::LineStart => {
                    if input[i] == b'.' {
                        // RFC 1939: a leading dot is always dropped; either the line is the
                        // terminator or the dot was stuffed.
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Dot => {
                    if input[i] == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    if input[i] == b'\n' {
                        self.state = State::Done;
                        i += 1;
                    } else {
                        // ".\r" followed by something else: content after the dropped dot.
                        out.push(b'\r');
                        self.state = State::Mid;
                    }
                }
                State::Mid => {
                    let rest = &input[i..];
                    match rest.iter().position(|b| *b == b'\n') {
                        Some(p) => {
                            out.extend_from_slice(&rest[..=p]);
                            i += p + 1;
                            self.state = State::LineStart;
                        }
                        None => {
                            out.extend_from_slice(rest);
                            i = input.len();
                        }
                    }
                }
            }
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of a tricky multi-line response, then the next response's bytes.
    const WIRE: &[u8] = b"Subject: dots\r\n\
        \r\n\
        ..\r\n\
        ...leading\r\n\
        .single stuffed\r\n\
        not . a terminator\r\n\
        ..\r\n\
        \r\n\
        trailing.\r\n\
        .\r\n\
        +OK next\r\n";

    const BODY: &[u8] = b"Subject: dots\r\n\
        \r\n\
        .\r\n\
        ..leading\r\n\
        single stuffed\r\n\
        not . a terminator\r\n\
        .\r\n\
        \r\n\
        trailing.\r\n";

    /// Feeds `chunks` in order; returns (content, bytes consumed in total, done).
    fn run<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<u8>, usize, bool) {
        let mut dec = Unstuffer::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        for chunk in chunks {
            let n = dec.decode(chunk, &mut out);
            consumed += n;
            if dec.is_done() {
                break;
            }
            assert_eq!(
                n,
                chunk.len(),
                "a chunk was not fully consumed before the end"
            );
        }
        (out, consumed, dec.is_done())
    }

    fn body_len() -> usize {
        WIRE.windows(5).position(|w| w == b"\r\n.\r\n").unwrap() + 5
    }

    #[test]
    fn whole_input() {
        let (out, consumed, done) = run([WIRE]);
        assert!(done);
        assert_eq!(out, BODY);
        assert_eq!(&WIRE[consumed..], b"+OK next\r\n");
        assert_eq!(consumed, body_len());
    }

    #[test]
    fn one_byte_at_a_time() {
        let (out, consumed, done) = run(WIRE.chunks(1));
        assert!(done);
        assert_eq!(out, BODY);
        assert_eq!(consumed, body_len());
    }

    #[test]
    fn every_two_and_three_way_split() {
        for a in 0..=WIRE.len() {
            let (out, _, done) = run([&WIRE[..a], &WIRE[a..]]);
            assert!(done, "split at {a}");
            assert_eq!(out, BODY, "split at {a}");
            for b in a..=WIRE.len() {
                let (out, consumed, done) = run([&WIRE[..a], &WIRE[a..b], &WIRE[b..]]);
                assert!(
                    done && out == BODY && consumed == body_len(),
                    "split at {a}, {b}"
                );
            }
        }
    }

    #[test]
    fn random_chunkings() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2_000 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < WIRE.len() {
                let len = 1 + (next() % 9) as usize;
                let end = (at + len).min(WIRE.len());
                chunks.push(&WIRE[at..end]);
                at = end;
            }
            let (out, consumed, done) = run(chunks);
            assert!(done && out == BODY && consumed == body_len());
        }
    }

    #[test]
    fn empty_body_and_unfinished_body() {
        let (out, consumed, done) = run([b".\r\nrest".as_slice()]);
        assert!(done && out.is_empty() && consumed == 3);
        let (out, _, done) = run([b"line\r\n.\r".as_slice()]);
        assert!(!done);
        assert_eq!(out, b"line\r\n");
        let (out, _, done) = run([b"line\r\n.".as_slice()]);
        assert!(!done);
        assert_eq!(out, b"line\r\n");
    }

    #[test]
    fn odd_lines_follow_rfc_1939() {
        // ".\rX": the dot is dropped, the rest is content. A bare-LF "." line is not the end.
        let (out, _, done) = run([b".\rX\r\n.\n.x\r\n.\r\n".as_slice()]);
        assert!(done);
        assert_eq!(out, b"\rX\r\n\nx\r\n");
    }
}
