//! The POP3 half of issue 13's robustness test: seeded mutations (`crate::mutate`) of whole
//! server transcripts — greeting, CAPA, login, STAT, UIDL, LIST, pipelined TOP, RETR, single
//! LIST/UIDL, DELE, NOOP, RSET, QUIT — fed through the real session code (`establish` and
//! `Pop3Session`) over an in-memory stream that replays the server's bytes in random chunk
//! sizes and swallows what the client writes. No sockets, no timers fire: a case ends when the
//! client has what it wants or the bytes run out (`ConnectionClosed`).
//!
//! Each case must end without a panic, within a bounded time (wall clock, confirmed by the
//! thread's CPU time when the machine was busy), with every call answering `Ok` or `Err`,
//! at most the configured message bytes per body, a poisoned session refusing further calls
//! without reading, and no error text carrying the password. A failure prints the seed and
//! the case to replay alone (`ANVERT_FUZZ_SEED`, `ANVERT_FUZZ_CASE`; `ANVERT_FUZZ_CASES` runs
//! longer).

use std::{
    io,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::FutureExt;
use tokio::io::AsyncWrite;

use super::{
    Pop3Options, Pop3Session,
    connect::establish,
    tests::{PASSWORD, credential, endpoint, thread_cpu, tls},
};
use crate::{
    error::{Error, Result},
    mutate::{FuzzRun, Mutator, Replay},
    net::{BoxedIo, Security, TlsConnector, WireMeter},
};

/// Cases in a default run (the IMAP half runs as many again).
const CASES: u64 = 50_000;
/// The default seed; `ANVERT_FUZZ_SEED` picks another.
const SEED: u64 = 0x0090_9313;
/// The longest a case may take (CPU time, when its wall time was over).
const CASE_LIMIT: Duration = Duration::from_millis(100);
/// Message bytes the fuzzed sessions accept per body: small, so the limit is hit often.
const MAX_MESSAGE: u64 = 64 * 1024;
/// Listing entries accepted: small for the same reason.
const MAX_ENTRIES: usize = 64;
/// The longest body line accepted: small for the same reason.
const MAX_LINE: u64 = 4 * 1024;

/// A message whose wire form needs stuffing, with a multipart body, a bare-LF line and a
/// long line.
fn message(n: u32) -> String {
    format!(
        "Return-Path: <s{n}@example.org>\r\nFrom: Sender {n} <s{n}@example.org>\r\n\
         To: alice@example.org\r\nSubject: =?utf-8?q?caf=C3=A9_{n}?=\r\n\
         Date: Wed, 01 Jan 2025 00:0{n}:00 +0000\r\nMessage-ID: <m{n}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n\
         --b{n}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         ..leading dot\r\n.\r\n...\r\nbare lf\nplain . line\r\n{}\r\n\
         --b{n}\r\nContent-Type: application/octet-stream; name=\"a{n}.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b{n}--\r\n",
        "x".repeat(300)
    )
}

/// RFC 1939 byte-stuffing plus the terminator.
fn stuffed(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    if !out.ends_with('\n') {
        out.push_str("\r\n");
    }
    out + ".\r\n"
}

fn top(text: &str, lines: usize) -> String {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let body: String = body.split_inclusive('\n').take(lines).collect();
    stuffed(&format!("{head}\r\n\r\n{body}"))
}

/// The client's part of every case, in order; [`transcript`] is the server's. Every error a
/// call returns goes into `errors`; `Err` is a broken invariant.
async fn drive(
    io: BoxedIo,
    tls: &TlsConnector,
    errors: &mut Vec<Error>,
) -> std::result::Result<(), String> {
    let meter = WireMeter::new();
    let options = Pop3Options {
        timeout: Duration::from_secs(30),
        max_message_bytes: MAX_MESSAGE,
        max_listing_entries: MAX_ENTRIES,
        max_line: MAX_LINE,
    };
    let endpoint = endpoint(Security::DangerPlaintext);
    let mut s = match establish(io, &endpoint, &credential(), tls, &meter, &options).await {
        Ok(s) => s,
        Err(e) => {
            errors.push(e);
            return Ok(());
        }
    };
    // A failed call leaves the session poisoned unless it was a plain -ERR.
    let mut note = |r: Result<()>, s: &Pop3Session| -> std::result::Result<(), String> {
        if let Err(e) = r {
            if !matches!(e, Error::ServerNo { .. }) && !s.is_poisoned() {
                return Err(format!("the session stayed usable after {e:?}"));
            }
            errors.push(e);
        }
        Ok(())
    };
    let r = s.stat().await.map(drop);
    note(r, &s)?;
    let r = s.uidl().await.map(drop);
    note(r, &s)?;
    let r = s.list().await.map(drop);
    note(r, &s)?;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let r = s
        .top_many_within(&[(1, 0, 4_000), (2, 10, 4_000), (3, 0, 4_000)], |_| {
            Counting::new(&sizes)
        })
        .await
        .map(drop);
    note(r, &s)?;
    let mut sink = Counting::new(&sizes);
    let r = s.retr_within(1, 4_000, &mut sink).await;
    drop(sink);
    if let Ok(d) = &r
        && (d.octets > 4_000 || d.bare_lf > d.line_ends || d.line_ends > d.octets)
    {
        return Err(format!("RETR delivered {d:?}"));
    }
    note(r.map(drop), &s)?;
    let r = s
        .retr_many(&[2, 3], |_| Counting::new(&sizes))
        .await
        .map(drop);
    note(r, &s)?;
    let r = s.list_one(2).await.map(drop);
    note(r, &s)?;
    let r = s.uidl_one(3).await.map(drop);
    note(r, &s)?;
    let r = s.dele(1).await;
    note(r, &s)?;
    let r = s.noop().await;
    note(r, &s)?;
    let r = s.rset().await;
    note(r, &s)?;
    let biggest = sizes
        .lock()
        .map_err(|_| "a sink panicked".to_string())?
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    if biggest > MAX_MESSAGE {
        return Err(format!("a body of {biggest} bytes passed the limit"));
    }
    let poisoned = s.is_poisoned();
    match s.quit().await {
        Err(Error::Protocol { reason }) if poisoned && reason.contains("unusable") => Ok(()),
        r if poisoned => Err(format!("a poisoned session answered QUIT with {r:?}")),
        Ok(()) => Ok(()),
        Err(e) => {
            errors.push(e);
            Ok(())
        }
    }
}

/// The server's bytes for [`drive`]: `variant` picks the login path and the server's quirks.
fn transcript(variant: usize) -> Vec<u8> {
    let m: Vec<String> = (1..=3).map(message).collect();
    let caps = "TOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nPIPELINING\r\nSASL PLAIN\r\n";
    let mut t = String::new();
    match variant % 3 {
        // APOP on plaintext, CAPA before and after login.
        0 => {
            t += "+OK POP3 ready <1896.697170952@fake.test>\r\n";
            t += &format!("+OK Capability list follows\r\n{caps}.\r\n");
            t += "+OK Logged in.\r\n";
            t += &format!("+OK\r\n{caps}.\r\n");
        }
        // SASL PLAIN.
        1 => {
            t += "+OK Dovecot ready.\r\n";
            t += &format!("+OK\r\n{caps}.\r\n+OK Logged in.\r\n+OK\r\n{caps}.\r\n");
        }
        // RFC 1939 only: CAPA refused, USER/PASS.
        _ => {
            t += "+OK POP3 server ready\r\n-ERR unknown command\r\n+OK\r\n+OK maildrop locked\r\n";
        }
    }
    let sizes: Vec<usize> = m.iter().map(String::len).collect();
    t += &format!("+OK 3 {}\r\n", sizes.iter().sum::<usize>());
    if variant.is_multiple_of(2) {
        t += "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n3 Z\r\n.\r\n";
    } else {
        t += "-ERR UIDL not supported\r\n";
    }
    t += "+OK 3 messages\r\n";
    for (i, size) in sizes.iter().enumerate() {
        t += &format!("{} {size}\r\n", i + 1);
    }
    t += ".\r\n";
    t += &format!("+OK\r\n{}", top(&m[0], 0));
    t += &format!("+OK top of message follows\r\n{}", top(&m[1], 10));
    t += "-ERR no such message\r\n";
    t += &format!("+OK {} octets\r\n{}", sizes[0], stuffed(&m[0]));
    t += &format!("+OK\r\n{}", stuffed(&m[1]));
    t += &format!("+OK\r\n{}", stuffed(&m[2]));
    t += &format!("+OK 2 {}\r\n+OK 3 Z\r\n", sizes[1]);
    t += "+OK message 1 deleted\r\n+OK\r\n+OK maildrop has 3 messages\r\n+OK bye\r\n";
    t.into_bytes()
}

/// Responses that may turn up in the wrong place.
fn foreign() -> Vec<Vec<u8>> {
    [
        "+OK\r\n",
        "-ERR [SYS/TEMP] try later\r\n",
        ".\r\n",
        "..\r\n",
        "+OK 2 200\r\n",
        "2 QhdPYR:00WBw1Ph7x7\r\n",
        "4294967295 4294967295\r\n",
        "+ \r\n",
        "+OK\r\nSubject: foreign\r\n\r\nnot yours\r\n.\r\n",
        "* 1 FETCH (UID 101 BODY[2]<0> NIL)\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// A sink that counts what it is given (the largest total is what the test checks).
struct Counting {
    sizes: Arc<Mutex<Vec<u64>>>,
    slot: usize,
}

impl Counting {
    fn new(sizes: &Arc<Mutex<Vec<u64>>>) -> Self {
        let slot = sizes
            .lock()
            .map(|mut v| {
                v.push(0);
                v.len() - 1
            })
            .unwrap_or(0);
        Counting {
            sizes: sizes.clone(),
            slot,
        }
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Ok(mut v) = self.sizes.lock()
            && let Some(n) = v.get_mut(self.slot)
        {
            *n += buf.len() as u64;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One case: its input, and the check of how it ended. Returns the kinds of the errors the
/// calls returned (empty when every call succeeded).
async fn run_case(
    run: &FuzzRun,
    case: u64,
    transcripts: &[Vec<u8>],
    tls: &TlsConnector,
) -> std::result::Result<Vec<&'static str>, String> {
    let mut m = Mutator::for_case(run.seed, case).with_foreign(foreign());
    let base = m.pick(transcripts).clone();
    let input = m.mutate(&base);
    let io = BoxedIo::new(Replay::new(input, m.next_u64()));
    let mut errors = Vec::new();
    let outcome = AssertUnwindSafe(drive(io, tls, &mut errors))
        .catch_unwind()
        .await;
    match outcome {
        Err(_) => return Err("panicked".into()),
        Ok(Err(broken)) => return Err(broken),
        Ok(Ok(())) => {}
    }
    let mut kinds = Vec::new();
    for e in &errors {
        let shown = format!("{e} {e:?}");
        if shown.contains(PASSWORD) || shown.contains("AGFsaWNlAHMzY3JldCBwYXNz") {
            return Err(format!("an error carries the password: {shown}"));
        }
        kinds.push(match e {
            Error::ServerNo { .. } => "-ERR",
            Error::AuthRejected { .. } => "login refused",
            Error::Protocol { .. } => "protocol",
            Error::ConnectionClosed => "closed",
            Error::Timeout { .. } => "timeout",
            _ => "other",
        });
    }
    Ok(kinds)
}

#[test]
fn mutated_pop3_transcripts_end_cleanly_and_quickly() {
    let run = FuzzRun::from_env(SEED, CASES);
    let transcripts: Vec<Vec<u8>> = (0..6).map(transcript).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tls = tls();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    // How cases ended: by the last error's kind, or "clean" when every call succeeded.
    let mut ends = std::collections::BTreeMap::<&str, u64>::new();
    for case in run.cases() {
        let wall = Instant::now();
        let outcome = rt.block_on(run_case(&run, case, &transcripts, &tls));
        let mut took = wall.elapsed();
        if took > CASE_LIMIT {
            // A busy machine stretches wall time; the case's own CPU time decides.
            let cpu = thread_cpu();
            let _ = rt.block_on(run_case(&run, case, &transcripts, &tls));
            took = thread_cpu().saturating_sub(cpu);
            assert!(
                took <= CASE_LIMIT,
                "case {case} took {took:?} of CPU; {}",
                run.replay_hint(case)
            );
        }
        slowest = slowest.max(took);
        match outcome {
            Err(why) => panic!("case {case}: {why}; {}", run.replay_hint(case)),
            Ok(kinds) => {
                *ends
                    .entry(kinds.last().copied().unwrap_or("clean"))
                    .or_default() += 1
            }
        }
    }
    eprintln!(
        "{} POP3 cases (seed {:#x}) in {:?}, slowest {slowest:?}; ended: {ends:?}",
        run.count,
        run.seed,
        started.elapsed()
    );
    if run.count >= 1_000 {
        // The mutations reach every stage: some cases get through whole, many fail late.
        let share = |kind: &str| ends.get(kind).copied().unwrap_or(0) * 100 / run.count;
        assert!(share("clean") >= 1, "{ends:?}");
        assert!(share("protocol") >= 5 && share("closed") >= 5, "{ends:?}");
    }
}

/// The unmutated transcripts are sound: every call succeeds, so the mutations start from
/// responses the client fully understands.
#[test]
fn the_unmutated_transcripts_pass_every_step() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tls = tls();
    for variant in 0..6 {
        let io = BoxedIo::new(Replay::new(
            transcript(variant),
            0x9e37_79b9 + variant as u64,
        ));
        let mut errors = Vec::new();
        rt.block_on(drive(io, &tls, &mut errors))
            .unwrap_or_else(|e| panic!("variant {variant}: {e}"));
        let unexpected: Vec<_> = errors
            .iter()
            .filter(|e| !matches!(e, Error::ServerNo { command, .. } if command == "UIDL"))
            .collect();
        assert!(unexpected.is_empty(), "variant {variant}: {unexpected:?}");
    }
}
