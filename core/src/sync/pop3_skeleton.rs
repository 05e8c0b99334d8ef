//! A small stand-in ("skeleton") for a POP3 message spooled on disk, so that mail-parser can
//! give the message's headers and part structure without the message in memory.
//!
//! The builder reads the spool once, line by line, and copies every line that may matter to
//! the structure: header blocks (the message's, each part's and each nested message's),
//! blank lines ending them, and every line containing `--` (mail-parser finds a boundary
//! anywhere it sees `--boundary`). Runs of other lines — part bodies — longer than
//! `MIN_RUN` are replaced by a one-byte placeholder, and the skeleton remembers where each
//! run was in the spool (and how many line ends it held). The line end closing a run stays,
//! so a part body ends at the same place for mail-parser as in the full message. Parsing the
//! skeleton thus gives the same headers and parts, and [`Skeleton::parts`] maps each part's
//! body back to its byte range in the spool with its real size and line count.
//!
//! [`Skeleton::parts`] refuses (`None`) when the mapping may not be exact: a placeholder
//! outside every leaf body (an unusual header layout fooled the line rules, or a long
//! preamble), or a base64 or quoted-printable encoded message/rfc822, which mail-parser
//! decodes and parses separately. The caller then parses the whole message in
//! memory. Lines over `LINE_CAP` are elided without looking at them (a boundary inside one
//! would be missed; RFC 5322 lines stop at 998 bytes). Pure: no I/O.

use std::ops::Range;

use mail_parser::{Encoding, Message, MimeHeaders, PartType};

use crate::mime::{self, PartInfo};

/// What replaces an elided run in the skeleton.
const PLACEHOLDER: &[u8] = b"X";
/// Runs shorter than this are kept as they are.
const MIN_RUN: usize = 512;
/// Lines longer than this are elided whatever they hold.
const LINE_CAP: usize = 64 * 1024;
/// Lines kept in a header block that look like no header (tolerated garbage), in bytes.
const JUNK_MAX: usize = 4 * 1024;
/// A header block longer than this is treated as body from there on.
const HEADER_BLOCK_MAX: usize = 1 << 20;
/// The longest header field name recognised.
const NAME_MAX: usize = 128;

/// A part of the spooled message: its description (sizes and line counts of the real body)
/// and the byte range of its still transfer-encoded body in the spool.
#[derive(Debug, Clone)]
pub(super) struct SpooledPart {
    pub info: PartInfo,
    pub range: Range<u64>,
}

/// One elided run: the placeholder's offset in the skeleton, the run's range in the spool
/// and the line ends it held.
#[derive(Debug, Clone, Copy)]
struct Elided {
    at: usize,
    start: u64,
    end: u64,
    newlines: u64,
}

/// The skeleton of a spooled message.
#[derive(Debug)]
pub(super) struct Skeleton {
    bytes: Vec<u8>,
    elided: Vec<Elided>,
    /// Bytes elided by the first k runs (minus their placeholders), k = 0..=len.
    shift: Vec<u64>,
    /// Line ends elided by the first k runs.
    lines: Vec<u64>,
}

impl Skeleton {
    /// The bytes to parse.
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parts of `parsed` (a parse of [`Skeleton::bytes`]) as `mime::parts_from_message`
    /// lists them, with their spool ranges, sizes and line counts. `None` when the skeleton
    /// cannot stand for the message (see the module doc).
    pub(super) fn parts(&self, parsed: &Message<'_>) -> Option<Vec<SpooledPart>> {
        if !self.headers_intact(parsed) {
            return None;
        }
        mime::parts_from_message(parsed)
            .into_iter()
            .map(|p| {
                let range = self.range_of(p.body)?;
                let spool = self.to_spool(range.start)..self.to_spool(range.end);
                let mut info = p.info;
                info.size = u32::try_from(spool.end - spool.start).unwrap_or(u32::MAX);
                if info.lines.is_some() {
                    info.lines = Some(u32::try_from(self.newlines_in(&range)).unwrap_or(u32::MAX));
                }
                Some(SpooledPart { info, range: spool })
            })
            .collect()
    }

    /// Where `inner` (a slice of the parsed skeleton) lies in the skeleton, if it does.
    fn range_of(&self, inner: &[u8]) -> Option<Range<usize>> {
        // Address arithmetic only: mail-parser hands out subslices of the input it borrowed,
        // and a slice from anywhere else (a decoded nested message) is refused.
        let base = self.bytes.as_ptr() as usize;
        let start = (inner.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(inner.len())?;
        (end <= self.bytes.len()).then_some(start..end)
    }

    /// The spool offset of skeleton offset `at` (the end of a run for an offset inside its
    /// placeholder).
    fn to_spool(&self, at: usize) -> u64 {
        let k = self
            .elided
            .partition_point(|e| e.at + PLACEHOLDER.len() <= at);
        match self.elided.get(k) {
            Some(e) if e.at < at => e.end,
            _ => at as u64 + self.shift[k],
        }
    }

    /// Line ends in the spool range a skeleton range stands for.
    fn newlines_in(&self, range: &Range<usize>) -> u64 {
        let kept = self.bytes[range.clone()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let first = self.elided.partition_point(|e| e.at < range.start);
        let last = self
            .elided
            .partition_point(|e| e.at + PLACEHOLDER.len() <= range.end);
        kept + self.lines[last.max(first)] - self.lines[first]
    }

    /// Whether every placeholder sits inside a leaf part's body in the parsed skeleton (not
    /// in a header block, a preamble or an epilogue), and no nested message is transfer
    /// encoded (mail-parser would parse the decoded placeholder instead).
    fn headers_intact(&self, parsed: &Message<'_>) -> bool {
        let mut leaves = Vec::new();
        if !leaf_bodies(parsed, self.bytes.as_ptr() as usize, &mut leaves, 0) {
            return false;
        }
        self.elided.iter().all(|e| {
            leaves
                .iter()
                .any(|b: &Range<usize>| b.start <= e.at && e.at + PLACEHOLDER.len() <= b.end)
        })
    }
}

/// Collects the body ranges of the leaf parts of `message` and of its nested messages parsed
/// in place (their raw message is the skeleton itself). False when a part may be a
/// transfer-encoded message.
fn leaf_bodies(
    message: &Message<'_>,
    base: usize,
    out: &mut Vec<Range<usize>>,
    depth: usize,
) -> bool {
    if depth > mime::MAX_DEPTH + 1 || message.raw_message.as_ptr() as usize != base {
        return true;
    }
    for part in &message.parts {
        // (A digest's parts are messages without saying so.)
        let encoded_message = part.encoding != Encoding::None
            && match part.content_type() {
                Some(t) => {
                    t.ctype().eq_ignore_ascii_case("message")
                        && t.subtype().is_some_and(|s| {
                            s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global")
                        })
                }
                None => part.is_encoding_problem || matches!(part.body, PartType::Message(_)),
            };
        if encoded_message {
            return false;
        }
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(nested) => {
                if !leaf_bodies(nested, base, out, depth + 1) {
                    return false;
                }
            }
            _ => out.push(part.offset_body as usize..part.offset_end as usize),
        }
    }
    true
}

/// Where the line rules stand.
#[derive(Debug, Clone, Copy)]
enum State {
    /// In a header block: `certain` after a `--` line or at the start (every line up to the
    /// blank line is kept, within limits), else a block that may start after a blank line
    /// (a nested message's headers), kept only while its lines look like header fields.
    Head {
        certain: bool,
        junk: usize,
        block: usize,
        field: bool,
    },
    /// In a body: only `--` lines are kept.
    Body,
}

impl State {
    fn head(certain: bool) -> State {
        State::Head {
            certain,
            junk: 0,
            block: 0,
            field: false,
        }
    }
}

/// A run of elidable lines being collected.
#[derive(Debug, Default)]
struct Run {
    start: u64,
    /// The run's bytes while it is shorter than `MIN_RUN`.
    buf: Vec<u8>,
    spilled: bool,
    newlines: u64,
    /// End of the last line's content (before its line end).
    content_end: u64,
    /// The last line's line end ("\r\n", "\n" or nothing).
    term: &'static [u8],
}

/// Builds a [`Skeleton`] from the spooled message fed in chunks of any size.
#[derive(Debug)]
pub(super) struct Builder {
    skeleton: Vec<u8>,
    elided: Vec<Elided>,
    state: State,
    offset: u64,
    /// The current line (dropped once it passes `LINE_CAP`).
    line: Vec<u8>,
    line_start: u64,
    line_len: u64,
    dashes: bool,
    last: u8,
    /// Whether the line's `\n` came after a `\r`.
    crlf: bool,
    run: Option<Run>,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            skeleton: Vec::new(),
            elided: Vec::new(),
            state: State::head(true),
            offset: 0,
            line: Vec::new(),
            line_start: 0,
            line_len: 0,
            dashes: false,
            last: 0,
            crlf: false,
            run: None,
        }
    }

    /// The next bytes of the spool.
    pub(super) fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let (piece, rest, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..=i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            chunk = rest;
            for &b in piece {
                if b == b'-' && self.last == b'-' {
                    self.dashes = true;
                } else if b == b'\n' {
                    self.crlf = self.last == b'\r';
                }
                self.last = b;
            }
            self.line_len += piece.len() as u64;
            self.offset += piece.len() as u64;
            if self.line_len <= LINE_CAP as u64 {
                self.line.extend_from_slice(piece);
            } else {
                self.line = Vec::new();
            }
            if ends {
                self.end_line();
            }
        }
    }

    /// The skeleton, once the whole spool was fed.
    pub(super) fn finish(mut self) -> Skeleton {
        if self.line_len > 0 {
            self.end_line();
        }
        self.flush_run();
        let mut shift = vec![0];
        let mut lines = vec![0];
        for e in &self.elided {
            let width = (e.end - e.start).saturating_sub(PLACEHOLDER.len() as u64);
            shift.push(shift.last().copied().unwrap_or(0) + width);
            lines.push(lines.last().copied().unwrap_or(0) + e.newlines);
        }
        Skeleton {
            bytes: self.skeleton,
            elided: self.elided,
            shift,
            lines,
        }
    }

    fn end_line(&mut self) {
        let long = self.line_len > LINE_CAP as u64;
        let line = std::mem::take(&mut self.line);
        let term: &'static [u8] = match (self.last == b'\n', self.crlf) {
            (true, true) => b"\r\n",
            (true, false) => b"\n",
            (false, _) => b"",
        };
        let keep = match line.len().checked_sub(term.len()) {
            Some(content) if !long => self.decide(&line[..content]),
            _ => {
                self.state = State::Body;
                false
            }
        };
        if keep {
            self.flush_run();
            self.skeleton.extend_from_slice(&line);
        } else {
            self.add_to_run(&line, long, term);
        }
        self.line_start = self.offset;
        self.line_len = 0;
        self.dashes = false;
        self.last = 0;
        self.crlf = false;
    }

    /// Whether to keep a line (without its line end), moving the state on.
    fn decide(&mut self, content: &[u8]) -> bool {
        let kind = Kind::of(content);
        let (keep, next) = match self.state {
            _ if self.dashes => (true, State::head(true)),
            State::Body => (false, State::Body),
            State::Head { .. } if kind == Kind::Blank => (true, State::head(false)),
            State::Head {
                certain,
                junk,
                block,
                field,
            } => {
                let block = block + content.len();
                let fits = |junk: usize| block <= HEADER_BLOCK_MAX && junk <= JUNK_MAX;
                match kind {
                    Kind::Field if block <= HEADER_BLOCK_MAX => (
                        true,
                        State::Head {
                            certain,
                            junk,
                            block,
                            field: true,
                        },
                    ),
                    Kind::Continuation if field && block <= HEADER_BLOCK_MAX => (
                        true,
                        State::Head {
                            certain,
                            junk,
                            block,
                            field,
                        },
                    ),
                    _ if certain && fits(junk + content.len()) => (
                        true,
                        State::Head {
                            certain,
                            junk: junk + content.len(),
                            block,
                            field,
                        },
                    ),
                    _ => (false, State::Body),
                }
            }
        };
        self.state = next;
        keep
    }

    fn add_to_run(&mut self, line: &[u8], long: bool, term: &'static [u8]) {
        let line_start = self.line_start;
        let run = self.run.get_or_insert_with(|| Run {
            start: line_start,
            ..Run::default()
        });
        if long || run.buf.len() + line.len() >= MIN_RUN {
            run.spilled = true;
            run.buf = Vec::new();
        } else if !run.spilled {
            run.buf.extend_from_slice(line);
        }
        if !term.is_empty() {
            run.newlines += 1;
        }
        run.content_end = self.offset - term.len() as u64;
        run.term = term;
    }

    fn flush_run(&mut self) {
        let Some(run) = self.run.take() else { return };
        if !run.spilled {
            self.skeleton.extend_from_slice(&run.buf);
            return;
        }
        self.elided.push(Elided {
            at: self.skeleton.len(),
            start: run.start,
            end: run.content_end,
            newlines: run.newlines - u64::from(!run.term.is_empty()),
        });
        self.skeleton.extend_from_slice(PLACEHOLDER);
        self.skeleton.extend_from_slice(run.term);
    }
}

/// What a line looks like to the header rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Only blanks (mail-parser ends a header block there).
    Blank,
    /// `name:` with a printable name.
    Field,
    /// Starts with a blank: a folded header line.
    Continuation,
    Other,
}

impl Kind {
    fn of(content: &[u8]) -> Kind {
        if content.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Kind::Blank;
        }
        if matches!(content.first(), Some(b' ' | b'\t')) {
            return Kind::Continuation;
        }
        let name_len = content
            .iter()
            .take(NAME_MAX + 1)
            .position(|&b| !(b'!'..=b'~').contains(&b) || b == b':')
            .unwrap_or(content.len());
        let rest = content.get(name_len..).unwrap_or_default();
        let after_blanks = rest.iter().position(|b| !matches!(b, b' ' | b'\t'));
        match after_blanks.and_then(|i| rest.get(i)) {
            Some(b':') if name_len > 0 && name_len <= NAME_MAX => Kind::Field,
            _ => Kind::Other,
        }
    }
}

#[cfg(test)]
#[path = "pop3_skeleton_tests.rs"]
mod tests;
