//! A seeded mutator of server byte streams, for the robustness tests of issue 13: given a
//! well-formed server transcript (an IMAP response stream, a POP3 session), it yields hostile
//! variants of it — byte flips, truncations, duplicated and deleted spans, digits pushed into
//! numbers, literal lengths (`{n}`) and numbers made huge, parentheses nested thousands deep,
//! line ends broken, lines duplicated or swapped, and foreign responses (another message's
//! FETCH, another command's answer) spliced in at a line start. The tests feed each variant
//! through the real readers and parsers and assert no panic, no abort and bounded time.
//!
//! Everything is reproducible: a run has one seed, and case `i` of the run draws from its own
//! ChaCha stream (`Mutator::for_case(seed, i)`), so one failing case is replayed alone from
//! the seed and index the test prints. `ANVERT_FUZZ_SEED`, `ANVERT_FUZZ_CASES` and
//! `ANVERT_FUZZ_CASE` (see [`FuzzRun::from_env`]) pick another seed, a longer run, or one
//! case. Outputs stay small (a mutation adds at most [`MAX_GROWTH`] bytes): the point is
//! hostile *claims* and structure, not volume (huge volumes have their own scripted tests).
//!
//! Test-only (`#[cfg(test)]`); it never touches the network or the store.
//!
//! Use:
//! ```ignore
//! let run = FuzzRun::from_env(0x5eed, 50_000);
//! for case in run.cases() {
//!     let mut m = Mutator::for_case(run.seed, case).with_foreign(foreign_responses());
//!     let base = m.pick(&transcripts).clone();
//!     let input = m.mutate(&base);
//!     // feed `input`; on failure print run.replay_hint(case)
//! }
//! ```

use rand_chacha::{
    ChaCha8Rng,
    rand_core::{RngCore, SeedableRng},
};

/// The most bytes one mutation adds to its input.
pub(crate) const MAX_GROWTH: usize = 64 * 1024;
/// The longest span a mutation copies or deletes.
const MAX_SPAN: usize = 16 * 1024;
/// Numbers a server might claim to break a client: boundaries of u32, u64 and beyond.
const HUGE_NUMBERS: [&str; 9] = [
    "0",
    "4294967295",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "-1",
];
/// Bytes that mean something to a POP3 or IMAP reader.
const INTERESTING_BYTES: [u8; 20] = [
    b'\r', b'\n', b'.', b' ', b'(', b')', b'{', b'}', b'[', b']', b'"', b'\\', b'*', b'+', b'-',
    b'0', b'9', 0, 0x7f, 0xff,
];
/// Nesting depths tried by [`Mutation::DeepNesting`].
const DEPTHS: [usize; 5] = [64, 1_000, 5_000, 10_000, 30_000];

/// One kind of damage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// One bit of one byte flipped.
    FlipBit,
    /// One byte replaced by a byte that means something to a parser (CR, LF, dot, brackets,
    /// quote, digit, NUL, 0xFF...).
    SetByte,
    /// The stream cut at a random point (also inside a line ending or a terminator).
    Truncate,
    /// A span copied right after itself.
    DuplicateSpan,
    /// A span removed.
    DeleteSpan,
    /// Random digits pushed into a number (a count, a size, a message number, a UID).
    InsertDigits,
    /// A number replaced by a huge or boundary value ([`HUGE_NUMBERS`]).
    HugeNumber,
    /// A literal length `{n}` or `{n+}` replaced by a huge or wrong one (falls back to
    /// `HugeNumber` when the stream has no literal).
    HugeLiteral,
    /// Thousands of `(` inserted (half the time closed again by as many `)`).
    DeepNesting,
    /// A foreign response (from [`Mutator::with_foreign`], else a line of the input itself)
    /// inserted at a line start.
    SpliceForeign,
    /// A CR or an LF removed, or a CRLF turned into a bare LF or a bare CR.
    BreakLineEnd,
    /// A whole line repeated.
    DuplicateLine,
    /// Two lines exchanged.
    SwapLines,
}

impl Mutation {
    /// Every mutation, in a fixed order.
    pub(crate) const ALL: [Mutation; 13] = [
        Mutation::FlipBit,
        Mutation::SetByte,
        Mutation::Truncate,
        Mutation::DuplicateSpan,
        Mutation::DeleteSpan,
        Mutation::InsertDigits,
        Mutation::HugeNumber,
        Mutation::HugeLiteral,
        Mutation::DeepNesting,
        Mutation::SpliceForeign,
        Mutation::BreakLineEnd,
        Mutation::DuplicateLine,
        Mutation::SwapLines,
    ];
}

/// A seeded source of mutated streams.
#[derive(Debug, Clone)]
pub(crate) struct Mutator {
    rng: ChaCha8Rng,
    foreign: Vec<Vec<u8>>,
}

impl Mutator {
    /// A mutator drawing from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            foreign: Vec::new(),
        }
    }

    /// The mutator of case `case` of the run seeded `seed`: its own ChaCha stream, so a case
    /// is replayed without running the ones before it.
    pub(crate) fn for_case(seed: u64, case: u64) -> Self {
        let mut m = Mutator::new(seed);
        m.rng.set_stream(case);
        m
    }

    /// Foreign responses for [`Mutation::SpliceForeign`] (e.g. another message's FETCH, an
    /// unrelated tagged OK, a POP3 `+OK` line), each spliced whole at a line start.
    pub(crate) fn with_foreign<I, P>(mut self, pieces: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<Vec<u8>>,
    {
        self.foreign = pieces.into_iter().map(Into::into).collect();
        self
    }

    /// A random number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.rng.next_u64() % n as u64) as usize
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    /// A random element of `items` (which must not be empty).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// The next raw random word (for a test's own choices, e.g. how to chunk its reads).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// `input` with one to four random mutations applied one after the other.
    pub(crate) fn mutate(&mut self, input: &[u8]) -> Vec<u8> {
        let rounds = 1 + self.below(4);
        let mut out = input.to_vec();
        for _ in 0..rounds {
            let kind = *self.pick(&Mutation::ALL);
            out = self.apply(kind, &out);
        }
        out
    }

    /// `input` with the mutation `kind` applied once.
    pub(crate) fn apply(&mut self, kind: Mutation, input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        if out.is_empty() && !matches!(kind, Mutation::DeepNesting | Mutation::SpliceForeign) {
            return out;
        }
        match kind {
            Mutation::FlipBit => {
                let at = self.below(out.len());
                out[at] ^= 1 << self.below(8);
            }
            Mutation::SetByte => {
                let at = self.below(out.len());
                out[at] = *self.pick(&INTERESTING_BYTES);
            }
            Mutation::Truncate => {
                // Favour cuts near the end, where terminators and closing brackets live.
                let keep = match self.chance(50) {
                    true => out.len().saturating_sub(1 + self.below(16)),
                    false => self.below(out.len()),
                };
                out.truncate(keep);
            }
            Mutation::DuplicateSpan => {
                let (start, end) = self.span(out.len());
                let copy = out[start..end].to_vec();
                out.splice(end..end, copy);
            }
            Mutation::DeleteSpan => {
                let (start, end) = self.span(out.len());
                out.drain(start..end);
            }
            Mutation::InsertDigits => match self.digit_run(&out) {
                Some((start, end)) => {
                    let at = start + self.below(end - start + 1);
                    let n = 1 + self.below(20);
                    let digits = self.digits(n);
                    out.splice(at..at, digits);
                }
                None => {
                    let at = self.below(out.len() + 1);
                    let n = 1 + self.below(20);
                    let digits = self.digits(n);
                    out.splice(at..at, digits);
                }
            },
            Mutation::HugeNumber => {
                let number = self.pick(&HUGE_NUMBERS).as_bytes().to_vec();
                match self.digit_run(&out) {
                    Some((start, end)) => {
                        out.splice(start..end, number);
                    }
                    None => {
                        let at = self.below(out.len() + 1);
                        out.splice(at..at, number);
                    }
                }
            }
            Mutation::HugeLiteral => match self.literal(&out) {
                Some((start, end)) => {
                    let claimed = match self.below(3) {
                        0 => self.pick(&HUGE_NUMBERS).as_bytes().to_vec(),
                        // Off by a little: longer or shorter than the bytes that follow.
                        1 => {
                            let n = parse_digits(&out[start..end]);
                            let delta = 1 + self.below(4096) as u64;
                            match self.chance(50) {
                                true => n.saturating_add(delta),
                                false => n.saturating_sub(delta),
                            }
                            .to_string()
                            .into_bytes()
                        }
                        _ => {
                            let n = 1 + self.below(24);
                            self.digits(n)
                        }
                    };
                    out.splice(start..end, claimed);
                }
                None => return self.apply(Mutation::HugeNumber, input),
            },
            Mutation::DeepNesting => {
                let depth = *self.pick(&DEPTHS);
                let at = self.below(out.len() + 1);
                let mut nest = vec![b'('; depth];
                if self.chance(50) {
                    nest.extend(std::iter::repeat_n(b')', depth));
                }
                out.splice(at..at, nest);
            }
            Mutation::SpliceForeign => {
                let piece = match self.foreign.is_empty() {
                    false => {
                        let k = self.below(self.foreign.len());
                        self.foreign[k].clone()
                    }
                    true => match self.line(&out) {
                        Some((start, end)) => out[start..end].to_vec(),
                        None => b"* 1 FETCH (UID 1)\r\n".to_vec(),
                    },
                };
                let piece = &piece[..piece.len().min(MAX_GROWTH)];
                let at = self.line_start(&out);
                out.splice(at..at, piece.iter().copied());
            }
            Mutation::BreakLineEnd => match self.line(&out) {
                None => {
                    let at = self.below(out.len());
                    out[at] = b'\n';
                }
                Some((_, end)) => {
                    let lf = end - 1;
                    let crlf = lf > 0 && out[lf - 1] == b'\r';
                    match (self.below(3), crlf) {
                        (0, true) => {
                            out.remove(lf - 1); // bare LF
                        }
                        (1, true) => {
                            out.remove(lf); // bare CR
                        }
                        _ => {
                            out.remove(lf);
                        }
                    }
                }
            },
            Mutation::DuplicateLine => {
                if let Some((start, end)) = self.line(&out) {
                    let copy = out[start..end].to_vec();
                    out.splice(end..end, copy);
                }
            }
            Mutation::SwapLines => {
                if let (Some(a), Some(b)) = (self.line(&out), self.line(&out)) {
                    let (first, second) = if a.0 <= b.0 { (a, b) } else { (b, a) };
                    if first.1 <= second.0 {
                        let mut swapped = Vec::with_capacity(out.len());
                        swapped.extend_from_slice(&out[..first.0]);
                        swapped.extend_from_slice(&out[second.0..second.1]);
                        swapped.extend_from_slice(&out[first.1..second.0]);
                        swapped.extend_from_slice(&out[first.0..first.1]);
                        swapped.extend_from_slice(&out[second.1..]);
                        out = swapped;
                    }
                }
            }
        }
        out
    }

    /// A random non-empty span of `0..len` (`len` > 0), at most [`MAX_SPAN`] long.
    fn span(&mut self, len: usize) -> (usize, usize) {
        let start = self.below(len);
        let longest = (len - start).min(MAX_SPAN);
        let span = match self.chance(70) {
            true => 1 + self.below(longest.min(32)),
            false => 1 + self.below(longest),
        };
        (start, start + span)
    }

    fn digits(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| b'0' + self.below(10) as u8).collect()
    }

    /// A run of ASCII digits in `bytes` (the first at or after a random offset, wrapping
    /// around), as a range. The search is local, so a case costs little however long its
    /// input.
    fn digit_run(&mut self, bytes: &[u8]) -> Option<(usize, usize)> {
        let from = self.below(bytes.len());
        let at = find_from(bytes, from, |b| b.is_ascii_digit())?;
        let start = at
            - bytes[..at]
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_digit())
                .count();
        let end = at
            + bytes[at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
        Some((start, end))
    }

    /// The digits of a literal length (`{n}` or `{n+}`; the first at or after a random
    /// offset, wrapping around), as a range.
    fn literal(&mut self, bytes: &[u8]) -> Option<(usize, usize)> {
        let mut at = self.below(bytes.len());
        // A bounded number of tries: an input full of `{` without literals stays cheap.
        for _ in 0..64 {
            let open = find_from(bytes, at, |b| b == b'{')?;
            let start = open + 1;
            let end = start
                + bytes[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            let rest = &bytes[end..];
            if end > start && (rest.starts_with(b"}") || rest.starts_with(b"+}")) {
                return Some((start, end));
            }
            at = start % bytes.len();
        }
        None
    }

    /// A whole line (its LF included; the first ending at or after a random offset, wrapping
    /// around), as a range.
    fn line(&mut self, bytes: &[u8]) -> Option<(usize, usize)> {
        let from = self.below(bytes.len());
        let lf = find_from(bytes, from, |b| b == b'\n')?;
        let start = bytes[..lf]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        Some((start, lf + 1))
    }

    /// A line start (0, or just after an LF).
    fn line_start(&mut self, bytes: &[u8]) -> usize {
        match self.chance(10) {
            true => 0,
            false => self.line(bytes).map_or(0, |(_, end)| end),
        }
    }
}

/// The first index at or after `from` whose byte matches, wrapping around to the start.
fn find_from(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
    let from = from.min(bytes.len());
    bytes[from..]
        .iter()
        .position(|b| hit(*b))
        .map(|p| from + p)
        .or_else(|| bytes[..from].iter().position(|b| hit(*b)))
}

fn parse_digits(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

/// A robustness run: its seed and which cases to run, from the environment when set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FuzzRun {
    pub seed: u64,
    /// The first case to run.
    pub first: u64,
    /// How many cases.
    pub count: u64,
}

impl FuzzRun {
    /// `default_seed` and cases `0..default_cases`, unless `ANVERT_FUZZ_SEED` (decimal or
    /// `0x` hex), `ANVERT_FUZZ_CASES` (a count) or `ANVERT_FUZZ_CASE` (one case to replay)
    /// say otherwise.
    pub(crate) fn from_env(default_seed: u64, default_cases: u64) -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| parse_u64(v.trim()));
        let seed = var("ANVERT_FUZZ_SEED").unwrap_or(default_seed);
        match var("ANVERT_FUZZ_CASE") {
            Some(case) => FuzzRun {
                seed,
                first: case,
                count: 1,
            },
            None => FuzzRun {
                seed,
                first: 0,
                count: var("ANVERT_FUZZ_CASES").unwrap_or(default_cases),
            },
        }
    }

    /// The case numbers of the run.
    pub(crate) fn cases(&self) -> std::ops::Range<u64> {
        self.first..self.first.saturating_add(self.count)
    }

    /// How to run `case` alone again.
    pub(crate) fn replay_hint(&self, case: u64) -> String {
        format!(
            "replay with ANVERT_FUZZ_SEED={:#x} ANVERT_FUZZ_CASE={case}",
            self.seed
        )
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// An in-memory server: replays `bytes` in chunks of random sizes (1 to 3, up to 64, or up to
/// 8 KiB bytes per read, from its own xorshift stream), then ends; swallows what the client
/// writes. Reads never wait, so no timer fires during a case.
pub(crate) struct Replay {
    bytes: Vec<u8>,
    at: usize,
    chunks: u64,
}

impl Replay {
    pub(crate) fn new(bytes: Vec<u8>, seed: u64) -> Self {
        Replay {
            bytes,
            at: 0,
            chunks: seed | 1,
        }
    }
}

impl tokio::io::AsyncRead for Replay {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.chunks ^= self.chunks << 13;
        self.chunks ^= self.chunks >> 7;
        self.chunks ^= self.chunks << 17;
        let want = match self.chunks % 4 {
            0 => 1 + (self.chunks >> 8) % 3,
            1 => 1 + (self.chunks >> 8) % 64,
            _ => 1 + (self.chunks >> 8) % 8192,
        } as usize;
        let n = want.min(buf.remaining()).min(self.bytes.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Replay {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// CPU time this thread has run, from the scheduler's own count.
pub(crate) fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    std::time::Duration::from_nanos(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"* 3 FETCH (UID 17 RFC822.SIZE 2048 BODY[1] {5}\r\nhello)\r\n\
        * 4 FETCH (UID 18 FLAGS (\\Seen))\r\nA1 OK done\r\n";

    #[test]
    fn a_case_is_reproducible_alone() {
        let run: Vec<Vec<u8>> = (0..50)
            .map(|case| Mutator::for_case(7, case).mutate(SAMPLE))
            .collect();
        assert_eq!(Mutator::for_case(7, 31).mutate(SAMPLE), run[31]);
        assert_ne!(
            Mutator::for_case(8, 31).mutate(SAMPLE),
            run[31],
            "another seed, another case"
        );
        let distinct: std::collections::BTreeSet<_> = run.iter().collect();
        assert!(distinct.len() > 40, "cases differ: {}", distinct.len());
    }

    #[test]
    fn every_mutation_changes_the_input_and_stays_bounded() {
        let mut m = Mutator::new(1).with_foreign([b"* 9 FETCH (UID 99 BODY[2] NIL)\r\n".to_vec()]);
        for kind in Mutation::ALL {
            let mut changed = 0;
            for _ in 0..200 {
                let out = m.apply(kind, SAMPLE);
                assert!(out.len() <= SAMPLE.len() + MAX_GROWTH, "{kind:?}");
                changed += usize::from(out != SAMPLE);
            }
            assert!(changed > 100, "{kind:?} changed only {changed} of 200");
        }
        for _ in 0..1000 {
            assert!(m.mutate(SAMPLE).len() <= SAMPLE.len() + 4 * MAX_GROWTH);
            assert!(m.mutate(b"").len() <= 4 * MAX_GROWTH);
        }
    }

    #[test]
    fn targeted_mutations_hit_their_targets() {
        let mut m = Mutator::new(2);
        let huge = m.apply(Mutation::HugeLiteral, b"BODY[] {5}\r\nhello");
        assert!(
            !huge.starts_with(b"BODY[] {5}"),
            "{}",
            String::from_utf8_lossy(&huge)
        );
        assert!(huge.starts_with(b"BODY[] {") && huge.ends_with(b"}\r\nhello"));
        let nested = m.apply(Mutation::DeepNesting, b"(x)");
        assert!(nested.iter().filter(|b| **b == b'(').count() >= 64);
        let spliced = Mutator::new(3)
            .with_foreign([b"FOREIGN\r\n".to_vec()])
            .apply(Mutation::SpliceForeign, b"a\r\nb\r\n");
        let text = String::from_utf8_lossy(&spliced);
        assert!(
            [
                "FOREIGN\r\na\r\nb\r\n",
                "a\r\nFOREIGN\r\nb\r\n",
                "a\r\nb\r\nFOREIGN\r\n"
            ]
            .contains(&text.as_ref()),
            "{text:?}"
        );
    }

    #[test]
    fn runs_come_from_the_environment_or_the_defaults() {
        let run = FuzzRun::from_env(0x5eed, 10);
        if std::env::var_os("ANVERT_FUZZ_SEED").is_none() {
            assert_eq!(run.seed, 0x5eed);
        }
        assert!(run.replay_hint(3).contains("ANVERT_FUZZ_CASE=3"));
        assert_eq!(parse_u64("0x10"), Some(16));
        assert_eq!(parse_u64("16"), Some(16));
        assert_eq!(parse_u64("x"), None);
    }
}
