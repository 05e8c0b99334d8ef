//! The guard on what an IMAP server sends: limits, and what becomes of a response that
//! cannot be read. The work is done inside the reader of our vendored async-imap
//! (`vendor/async-imap/src/framing.rs`, see its ANVERT-PATCH.md), which frames each response
//! byte by byte once, carrying its state across reads, and parses it once when complete:
//!
//! - A literal announced larger than [`Limits::max_literal`] (`{4294967295}` or `~{…}`) fails
//!   the read at once, before anything is allocated for it.
//! - A line longer than [`Limits::max_line`], or one response larger than both added, fails
//!   the read when the limit is reached: the work is linear in the bytes received.
//! - A response nested deeper than [`limits::IMAP_MAX_DEPTH`] parentheses is never parsed
//!   (imap-proto recurses once per level).
//! - An untagged response that cannot be parsed (a broken BODYSTRUCTURE, invalid UTF-8 where
//!   imap-proto wants text, or too deep) is replaced by a marker,
//!   `* NO [PARSE] ANVERT-UNPARSABLE FETCH 12`, instead of ending the session: `exchange`
//!   turns a marker into an error, except where the caller can do without the message (a
//!   summary fetch, which then gets the message another way).
//!
//! Nothing here logs or reports response content: a marker keeps only the response's kind
//! and number.

use async_imap::{
    framing::{LimitError, ResponseLimits, UNPARSABLE_MARKER},
    imap_proto::{Response, ResponseCode, Status},
};

use crate::limits;

/// How much the server may send at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// The largest literal accepted, in bytes.
    pub max_literal: u64,
    /// The longest line (outside literals) accepted, in bytes, CRLF included.
    pub max_line: usize,
}

impl Limits {
    /// The limits as the reader under async-imap takes them.
    pub(super) fn response_limits(&self) -> ResponseLimits {
        ResponseLimits {
            max_literal: self.max_literal,
            max_line: self.max_line,
            max_response: self.max_literal.saturating_add(self.max_line as u64),
            max_depth: limits::IMAP_MAX_DEPTH,
        }
    }
}

/// The text of a limit the server's bytes went past, if that is what `e` is.
pub(super) fn violation(e: &std::io::Error) -> Option<String> {
    LimitError::from_io(e).map(ToString::to_string)
}

/// A server response the reader replaced because imap-proto could not parse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unparsable {
    /// The response's kind as the server named it (`FETCH`, `LIST`, …), or `RESPONSE`.
    pub kind: String,
    /// The message sequence number, for `* 12 FETCH`-style responses.
    pub seq: Option<u32>,
}

impl Unparsable {
    /// The marker the reader put in place of an unparsable response, if `response` is one.
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
        if words.next() != Some(UNPARSABLE_MARKER) {
            return None;
        }
        let kind = words.next().unwrap_or("RESPONSE").to_string();
        let seq = words.next().and_then(|s| s.parse().ok());
        Some(Unparsable { kind, seq })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use async_imap::Client;
    use tokio::io::AsyncWriteExt;

    use super::*;

    const LIMITS: Limits = Limits {
        max_literal: 100,
        max_line: 200,
    };

    /// What async-imap's reader makes of `input` sent in pieces of `step` bytes: the
    /// responses read (as text, or the marker each became), and the error that ended the
    /// stream, if any.
    async fn read_all(input: &[u8], step: usize, limits: Limits) -> (Vec<String>, Option<String>) {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            for piece in input.chunks(step.max(1)) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut client = Client::new(client);
        client.set_limits(limits.response_limits());
        let mut seen = Vec::new();
        let mut end = None;
        loop {
            match client.read_response().await {
                Ok(Some(r)) => seen.push(match Unparsable::from_response(r.parsed()) {
                    Some(u) => format!("unparsable {} {:?}", u.kind, u.seq),
                    None => format!("{:?}", r.parsed()),
                }),
                Ok(None) => break,
                Err(e) => {
                    end = Some(violation(&e).unwrap_or_else(|| e.to_string()));
                    break;
                }
            }
            if seen.len() > 10_000 {
                break;
            }
        }
        writer.abort();
        (seen, end)
    }

    #[tokio::test]
    async fn responses_parse_alike_at_any_chunking() {
        let input: &[u8] = b"* 1 FETCH (UID 7 BODY[] {5}\r\nab}\r\n FLAGS (\\Seen))\r\n\
            * 2 FETCH (UID 8 BODY[] {0}\r\n)\r\n\
            * OK [UIDNEXT 9] quoted \"{3}\" braces\r\nA0001 OK done\r\n";
        let (whole, end) = read_all(input, input.len(), LIMITS).await;
        assert_eq!(whole.len(), 4, "{whole:?} {end:?}");
        for step in [1, 2, 3, 7, 16] {
            assert_eq!(
                read_all(input, step, LIMITS).await.0,
                whole,
                "chunks of {step}"
            );
        }
    }

    #[tokio::test]
    async fn limits_end_the_stream_with_their_reason() {
        let (seen, end) = read_all(
            b"* 1 EXISTS\r\n* 1 FETCH (BODY[] {4294967295}\r\n",
            5,
            LIMITS,
        )
        .await;
        assert_eq!(seen.len(), 1, "what came before is read: {seen:?}");
        assert_eq!(
            end.as_deref(),
            Some("literal of 4294967295 bytes exceeds the limit of 100")
        );
        let (_, end) = read_all(&[b'x'; 1000], 64, LIMITS).await;
        assert_eq!(
            end.as_deref(),
            Some("a response line exceeds the limit of 200 bytes")
        );
    }

    #[tokio::test]
    async fn unparsable_untagged_responses_become_markers_and_the_stream_goes_on() {
        let input = b"* 12 FETCH (UID 3 BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" twenty 1))\r\n\
            * 13 FETCH (UID 4)\r\nA0001 OK done\r\n";
        let (seen, end) = read_all(input, 9, LIMITS).await;
        assert_eq!(end, None);
        assert_eq!(seen[0], "unparsable FETCH Some(12)");
        assert!(seen[1].contains("Uid(4)"), "{seen:?}");
        assert_eq!(seen.len(), 3);

        // Larger than any buffer: still one marker, and nothing of it quoted.
        let mut big = b"* 1 FETCH (UID 101 BODY[] {1100000}\r\n".to_vec();
        big.extend(std::iter::repeat_n(b's', 1_100_000));
        big.extend_from_slice(b" private words) junk\r\nA1 OK done\r\n");
        let limits = Limits {
            max_literal: 2 << 20,
            max_line: 1 << 20,
        };
        let (seen, end) = read_all(&big, 16 * 1024, limits).await;
        assert_eq!(end, None);
        assert_eq!(seen[0], "unparsable FETCH Some(1)");
        assert_eq!(seen.len(), 2);
    }

    #[tokio::test]
    async fn an_unparsable_tagged_response_ends_the_stream_quoting_only_its_start() {
        let (seen, end) = read_all(b"A1 XYZZY garbage\r\n", 3, LIMITS).await;
        assert!(seen.is_empty());
        assert_eq!(
            end.as_deref(),
            Some("Unparsable during parsing of \"A1 XYZZY garbage\\r\\n\"")
        );
    }

    /// Nesting right at the limit is parsed, on a thread with the stack a tokio worker has.
    #[test]
    fn nesting_at_the_limit_parses_within_a_worker_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let depth = limits::IMAP_MAX_DEPTH as usize - 1;
                let mut deep = b"* 1 FETCH (UID 5 BODYSTRUCTURE ".to_vec();
                deep.extend(std::iter::repeat_n(b'(', depth - 1));
                deep.extend_from_slice(b"\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1");
                for _ in 1..depth - 1 {
                    deep.extend_from_slice(b" \"mixed\")");
                }
                deep.extend_from_slice(b" \"mixed\"))\r\n");
                Response::parse(&deep).is_ok()
            })
            .unwrap();
        assert!(handle.join().unwrap());
    }

    /// 10,000 nested multiparts aborted the process with a stack overflow inside imap-proto.
    #[tokio::test]
    async fn deep_nesting_becomes_a_marker_without_recursion() {
        let mut deep = b"* 1 FETCH (UID 5 BODYSTRUCTURE ".to_vec();
        deep.extend(std::iter::repeat_n(b'(', 10_000));
        deep.extend_from_slice(b"\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1");
        deep.extend(std::iter::repeat_n(b')', 10_000));
        deep.extend_from_slice(b")\r\n* 2 EXISTS\r\n");
        let limits = Limits {
            max_literal: 1 << 20,
            max_line: 1 << 20,
        };
        let (seen, end) = read_all(&deep, 4096, limits).await;
        assert_eq!(end, None);
        assert_eq!(seen[0], "unparsable FETCH Some(1)");
        assert_eq!(seen.len(), 2);
    }

    /// A line at the limit costs one pass over its bytes, not one parse per read: 8 MiB in
    /// 16 KiB pieces took upstream async-imap tens of seconds.
    #[tokio::test]
    async fn a_long_line_costs_linear_time() {
        let limits = Limits {
            max_literal: 64 << 20,
            max_line: 8 << 20,
        };
        let mut line = b"* OK ".to_vec();
        line.resize(9 << 20, b'a');
        let started = Instant::now();
        let (_, end) = read_all(&line, 16 * 1024, limits).await;
        assert_eq!(
            end.as_deref(),
            Some("a response line exceeds the limit of 8388608 bytes")
        );
        // Generous even for a debug build on a loaded machine: the quadratic path needed
        // minutes here.
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
        let mut fine = b"* OK [ALERT] ".to_vec();
        fine.resize(7 << 20, b'a');
        fine.extend_from_slice(b"\r\n");
        let (seen, end) = read_all(&fine, 16 * 1024, limits).await;
        assert_eq!((seen.len(), end), (1, None));
    }
}
