//! The SMTP client's robustness test, in the manner of the IMAP and POP3 ones (issue 13):
//! seeded mutations (`crate::mutate`) of whole server transcripts — greeting, EHLO, AUTH,
//! the EHLO after AUTH, a pipelined or one-by-one transaction with a refused recipient, a
//! BURL transaction, RSET, QUIT — fed through the real session code (`establish` and
//! `SmtpSession`) over an in-memory stream that replays the server's bytes in random chunk
//! sizes and swallows what the client writes. No sockets, no timers fire: a case ends when
//! the client has what it wants or the bytes run out (`ConnectionClosed`).
//!
//! Each case must end without a panic, within a bounded time, with every call answering
//! `Ok` or `Err`, a broken session refusing further calls without reading, `maybe_delivered`
//! only after the final dot or BURL, and no error text carrying the password. A failure
//! prints the seed and the case to replay alone (`ANVERT_FUZZ_SEED`, `ANVERT_FUZZ_CASE`;
//! `ANVERT_FUZZ_CASES` runs longer).

use std::{
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use futures::FutureExt;

use super::{
    Envelope, Payload, SendError, SmtpOptions, SmtpSession,
    connect::establish,
    tests::{PASSWORD, PLAIN_IR, credential, endpoint, tls},
};
use crate::{
    error::Error,
    mutate::{FuzzRun, Mutator, Replay, thread_cpu},
    net::{BoxedIo, Security, TlsConnector, WireMeter},
};

/// Cases in a default run (SMTP transcripts are short).
const CASES: u64 = 20_000;
/// The default seed; `ANVERT_FUZZ_SEED` picks another.
const SEED: u64 = 0x5317_0018;
/// The longest a case may take (CPU time, when its wall time was over).
const CASE_LIMIT: Duration = Duration::from_millis(100);
const URL: &str = "imap://alice@localhost:15993/Sent;UIDVALIDITY=1/;UID=7;urlauth=submit+alice:internal:0123456789abcdef";

fn message() -> Vec<u8> {
    let mut m = b"From: a@x.test\r\nTo: b@x.test\r\nSubject: fuzz\r\n\r\n".to_vec();
    m.extend_from_slice(b".leading dot\nbare lf\r\n..\r\n");
    m.extend(std::iter::repeat_n(b'y', 70_000));
    m
}

/// The client's part of every case; [`transcript`] is the server's. Every error a call
/// returns goes into `errors`; `Err` is a broken invariant.
async fn drive(
    io: BoxedIo,
    tls: &TlsConnector,
    errors: &mut Vec<Error>,
) -> std::result::Result<(), String> {
    let meter = WireMeter::new();
    let options = SmtpOptions {
        timeout: Duration::from_secs(30),
        final_reply_timeout: Duration::from_secs(30),
    };
    let endpoint = endpoint(Security::DangerPlaintext);
    let mut s = match establish(io, &endpoint, &credential(), tls, &meter, &options).await {
        Ok(s) => s,
        Err(e) => {
            errors.push(e);
            return Ok(());
        }
    };
    let body = message();
    let envelope = |to: &[&str], size: usize| Envelope {
        from: "a@x.test".into(),
        to: to.iter().map(|t| t.to_string()).collect(),
        size: size as u64,
        eight_bit: false,
        utf8: false,
    };
    let data = envelope(&["b@x.test", "c@x.test", "d@x.test"], body.len());
    let r = s.send(&data, Payload::Data(&body)).await;
    note(r, &s, errors)?;
    if s.caps().burl.is_some() {
        let r = s
            .send(&envelope(&["b@x.test"], 900), Payload::Burl { url: URL })
            .await;
        note(r, &s, errors)?;
    }
    let broken = s.is_broken();
    match s.reset().await {
        Err(Error::ConnectionClosed) if broken => {}
        Err(e) if broken => return Err(format!("a broken session answered RSET with {e:?}")),
        Ok(()) if broken => return Err("a broken session answered RSET".into()),
        Ok(()) => {}
        Err(e) => errors.push(e),
    }
    s.quit().await;
    Ok(())
}

/// Checks what `send` answered and keeps its error.
fn note(
    r: std::result::Result<super::Delivery, SendError>,
    s: &SmtpSession,
    errors: &mut Vec<Error>,
) -> std::result::Result<(), String> {
    match r {
        Ok(d) => {
            if d.accepted.len() + d.rejected.len() == 0 {
                return Err("a delivery names no recipient".into());
            }
            Ok(())
        }
        Err(SendError {
            error,
            maybe_delivered,
        }) => {
            let unusable = error.leaves_connection_unusable();
            if unusable != s.is_broken() && !s.is_broken() {
                return Err(format!("the session stayed usable after {error:?}"));
            }
            if maybe_delivered && !unusable {
                return Err(format!("maybe_delivered after a clear answer: {error:?}"));
            }
            errors.push(error);
            Ok(())
        }
    }
}

/// The server's bytes for [`drive`]: `variant` picks pipelining, BURL and HELO.
fn transcript(variant: usize) -> Vec<u8> {
    let pipelining = variant.is_multiple_of(2);
    let burl = variant % 3 != 2;
    let mut t = String::from("220 fake.test ESMTP ready\r\n");
    if variant % 5 == 4 {
        // EHLO unknown: HELO, no extension, no AUTH; one by one, no BURL.
        t += "502 5.5.2 unknown\r\n250 fake.test\r\n";
        t += "250 Ok\r\n250 Ok\r\n550 5.1.1 no\r\n250 Ok\r\n354 go\r\n250 queued\r\n";
        t += "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n";
        return t.into_bytes();
    }
    let mut caps = vec![
        "fake.test",
        "SIZE 100000000",
        "AUTH PLAIN XOAUTH2",
        "8BITMIME",
    ];
    caps.push("ENHANCEDSTATUSCODES");
    if pipelining {
        caps.push("PIPELINING");
    }
    if burl {
        caps.push("BURL imap");
    }
    let ehlo = |caps: &[&str]| -> String {
        let n = caps.len();
        caps.iter()
            .enumerate()
            .map(|(i, c)| format!("250{}{c}\r\n", if i + 1 == n { ' ' } else { '-' }))
            .collect()
    };
    t += &ehlo(&caps);
    t += "235 2.7.0 Authentication successful\r\n";
    if burl {
        if let Some(last) = caps.last_mut() {
            *last = "BURL imap imap://localhost:15993";
        }
        t += &ehlo(&caps);
    }
    t += "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550-5.1.1 <c@x.test>: rejected\r\n550 5.1.1 unknown\r\n";
    t += "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as A1\r\n";
    if burl {
        t += "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: queued as B1\r\n";
    }
    t += "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n";
    t.into_bytes()
}

/// Replies that may turn up in the wrong place.
fn foreign() -> Vec<Vec<u8>> {
    [
        "250 Ok\r\n",
        "354 go\r\n",
        "334 eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n",
        "421 4.3.2 shutting down\r\n",
        "550-5.1.1 a\r\n",
        "250-",
        "251 x\r\n",
        "554 5.6.6 BURL failed\r\n",
        ".\r\n",
        "+OK\r\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

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
        if shown.contains(PASSWORD) || shown.contains(PLAIN_IR) {
            return Err(format!("an error carries the password: {shown}"));
        }
        kinds.push(match e {
            Error::SmtpRejected { .. } => "refused",
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
fn mutated_smtp_transcripts_end_cleanly_and_quickly() {
    let run = FuzzRun::from_env(SEED, CASES);
    let transcripts: Vec<Vec<u8>> = (0..10).map(transcript).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tls = tls();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut ends = std::collections::BTreeMap::<&str, u64>::new();
    for case in run.cases() {
        let wall = Instant::now();
        let outcome = rt.block_on(run_case(&run, case, &transcripts, &tls));
        let mut took = wall.elapsed();
        if took > CASE_LIMIT {
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
        "{} SMTP cases (seed {:#x}) in {:?}, slowest {slowest:?}; ended: {ends:?}",
        run.count,
        run.seed,
        started.elapsed()
    );
    if run.count >= 1_000 {
        let share = |kind: &str| ends.get(kind).copied().unwrap_or(0) * 100 / run.count;
        assert!(share("clean") >= 1, "{ends:?}");
        assert!(share("protocol") >= 5 && share("closed") >= 5, "{ends:?}");
    }
}

/// The unmutated transcripts are sound: every call succeeds.
#[test]
fn the_unmutated_transcripts_pass_every_step() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tls = tls();
    for variant in 0..10 {
        let io = BoxedIo::new(Replay::new(
            transcript(variant),
            0x9e37_79b9 + variant as u64,
        ));
        let mut errors = Vec::new();
        rt.block_on(drive(io, &tls, &mut errors))
            .unwrap_or_else(|e| panic!("variant {variant}: {e}"));
        assert!(errors.is_empty(), "variant {variant}: {errors:?}");
    }
}
