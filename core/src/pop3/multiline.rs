//! The streaming decoder for POP3 multi-line responses (RFC 1939 §3): it removes the
//! byte-stuffed leading dot of a line and stops at the terminating `CRLF . CRLF`, keeping each
//! content line's own line ending. It is sans I/O and keeps only a few counters between
//! calls, so input may be split anywhere (inside a stuffed dot, inside the terminator); it
//! never holds more than the chunk it is given and never reads past the terminator. It also
//! counts what the caller needs to judge the content: its line ends (and how many are a bare
//! LF, to compare with a LIST size the server counted with CRLF) and its longest line (to
//! refuse a line no mail has, at a bound, without buffering it).

/// What a multi-line response delivered: its content bytes and line ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Content bytes, dot-unstuffed, each line end as the server sent it.
    pub octets: u64,
    /// Line ends (LF).
    pub line_ends: u64,
    /// Line ends that are a bare LF.
    pub bare_lf: u64,
}

/// How delivered content compares with the size LIST gave for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedSize {
    /// The same size, counting line ends either as CRLF (RFC 1939) or as the bare LF a
    /// server may have stored and counted.
    Agrees,
    /// Fewer bytes than listed, even with every line end counted as CRLF.
    Shorter,
    /// More bytes than listed, even with every line end counted as a bare LF.
    Longer,
}

impl Delivered {
    /// The size with every line end counted as CRLF: what RFC 1939 says LIST gives.
    pub fn crlf_size(&self) -> u64 {
        self.octets.saturating_add(self.bare_lf)
    }

    /// The size with every line end counted as a bare LF.
    pub fn lf_size(&self) -> u64 {
        self.octets
            .saturating_sub(self.line_ends.saturating_sub(self.bare_lf))
    }

    /// How this compares with a LIST size.
    pub fn against(&self, listed: u64) -> ListedSize {
        if listed > self.crlf_size() {
            ListedSize::Shorter
        } else if listed < self.lf_size() {
            ListedSize::Longer
        } else {
            ListedSize::Agrees
        }
    }
}

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
    /// Line ends (LF) in the content so far.
    line_ends: u64,
    /// Of those, the ones not preceded by CR.
    bare_lf: u64,
    /// Content bytes of the current line so far.
    line: u64,
    /// The longest line so far (its line end included).
    longest: u64,
    /// Whether the last content byte was CR.
    after_cr: bool,
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
            line_ends: 0,
            bare_lf: 0,
            line: 0,
            longest: 0,
            after_cr: false,
        }
    }

    /// Whether the terminating `.CRLF` line has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Line ends (LF) in the content so far.
    pub fn line_ends(&self) -> u64 {
        self.line_ends
    }

    /// Line ends in the content so far that are a bare LF (no CR before it).
    pub fn bare_lf(&self) -> u64 {
        self.bare_lf
    }

    /// The longest content line so far, its line end included, counting the line still open.
    pub fn longest_line(&self) -> u64 {
        self.longest.max(self.line)
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
                        self.line += 1;
                        self.after_cr = true;
                        self.state = State::Mid;
                    }
                }
                State::Mid => {
                    let rest = &input[i..];
                    match rest.iter().position(|b| *b == b'\n') {
                        Some(p) => {
                            let crlf = match p {
                                0 => self.after_cr,
                                _ => rest[p - 1] == b'\r',
                            };
                            self.line_ends += 1;
                            self.bare_lf += u64::from(!crlf);
                            self.longest = self.longest.max(self.line + p as u64 + 1);
                            self.line = 0;
                            self.after_cr = false;
                            out.extend_from_slice(&rest[..=p]);
                            i += p + 1;
                            self.state = State::LineStart;
                        }
                        None => {
                            self.line += rest.len() as u64;
                            self.after_cr = rest.last() == Some(&b'\r');
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
    fn listed_sizes_are_compared_line_ends_aside() {
        // "a\r\nbb\n": 7 octets, 2 line ends, 1 bare: 8 with CRLF, 6 with LF.
        let d = Delivered {
            octets: 7,
            line_ends: 2,
            bare_lf: 1,
        };
        assert_eq!((d.crlf_size(), d.lf_size()), (8, 6));
        assert_eq!(d.against(9), ListedSize::Shorter);
        for listed in 6..=8 {
            assert_eq!(d.against(listed), ListedSize::Agrees);
        }
        assert_eq!(d.against(5), ListedSize::Longer);
    }

    #[test]
    fn line_ends_and_the_longest_line_are_counted_across_chunks() {
        let wire = b"a\r\nbb\n..ccc\r\n\r\n.\r\n";
        for split in 0..=wire.len() {
            let mut dec = Unstuffer::new();
            let mut out = Vec::new();
            dec.decode(&wire[..split], &mut out);
            dec.decode(&wire[split..], &mut out);
            assert!(dec.is_done(), "split at {split}");
            assert_eq!(out, b"a\r\nbb\n.ccc\r\n\r\n", "split at {split}");
            assert_eq!((dec.line_ends(), dec.bare_lf()), (4, 1), "split at {split}");
            assert_eq!(dec.longest_line(), 6, "split at {split}");
        }
        let mut dec = Unstuffer::new();
        let mut out = Vec::new();
        dec.decode(&[b'x'; 1000], &mut out);
        dec.decode(&[b'x'; 1000], &mut out);
        assert_eq!(dec.longest_line(), 2000, "an open line counts");
    }

    #[test]
    fn odd_lines_follow_rfc_1939() {
        // ".\rX": the dot is dropped, the rest is content. A bare-LF "." line is not the end.
        let (out, _, done) = run([b".\rX\r\n.\n.x\r\n.\r\n".as_slice()]);
        assert!(done);
        assert_eq!(out, b"\rX\r\n\nx\r\n");
    }
}
