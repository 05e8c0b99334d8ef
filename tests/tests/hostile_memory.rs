//! Peak memory under hostile IMAP servers (issue 13): what the engine allocates is bounded
//! by the limits (an 8 MiB line, a 64 MiB literal), never by what the server sends or claims.
//! Each case runs in a child process of its own (the test re-runs itself), because the peak
//! resident set is the process's; the scripted server streams its floods in 64 KiB pieces,
//! so the peak measured is the engine's.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::time::Duration;

use anvert_core::policy::SyncRequest;
use anvert_tests::scripted::{
    Reply, Script, ScriptedImap, ok, peak_rss, reset_peak_rss, rss, thread_cpu,
};

/// Peak growth allowed per case: the reader's buffer doubles up to twice the 8 MiB line
/// limit, plus the engine's usual working set.
const MEMORY_BOUND: u64 = 48 << 20;

/// Syncs against `server`; returns the error text, the peak growth of the resident set and
/// the CPU time.
async fn peak_of(server: &ScriptedImap) -> (String, u64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    reset_peak_rss();
    let base = rss();
    let cpu = thread_cpu();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        engine.sync(account, &SyncRequest::default()),
    )
    .await
    .unwrap();
    let cpu = thread_cpu() - cpu;
    let peak = peak_rss().saturating_sub(base);
    let text = match result {
        Err(e) => e.to_string(),
        Ok(report) => format!("{:?}", report.errors),
    };
    (text, peak, cpu)
}

fn inbox_then(fetch: Reply) -> impl FnMut(&str) -> Reply + Send + 'static {
    let mut fetch = Some(fetch);
    move |command: &str| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 102] ok\r\n")
        } else if command.contains("FETCH") {
            fetch.take().unwrap_or_else(|| ok(""))
        } else {
            ok("")
        }
    }
}

/// Runs the named test of this binary again in a child process of its own, where the peak
/// resident set is that case's alone, and fails if the child fails.
fn in_own_process(name: &str) -> bool {
    if std::env::var_os("ANVERT_MEMORY_CHILD").is_some() {
        return false;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("ANVERT_MEMORY_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "{}",
        text.lines()
            .filter(|l| l.contains("peak"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(out.status.success(), "{name}: {text}");
    true
}

/// The sync against `server` ends with an error containing `expect`, within the memory and
/// CPU bounds.
async fn bounded(case: &str, server: ScriptedImap, expect: &str) {
    let (error, peak, cpu) = peak_of(&server).await;
    eprintln!(
        "{case}: peak +{:.1} MiB, {cpu:?} CPU: {error}",
        peak as f64 / 1048576.0
    );
    assert!(
        error.contains(expect),
        "{case}: expected {expect:?}, got {error}"
    );
    assert!(peak < MEMORY_BOUND, "{case}: peak +{peak} bytes");
    assert!(cpu < Duration::from_secs(2), "{case}: {cpu:?} of CPU");
}

#[tokio::test]
async fn a_100_mb_greeting() {
    if in_own_process("a_100_mb_greeting") {
        return;
    }
    let server = ScriptedImap::start(
        Script {
            greeting: b"* OK ".to_vec(),
            greeting_fill: 100 << 20,
            ..Script::default()
        },
        |_| ok(""),
    )
    .await;
    bounded("100 MB greeting", server, "exceeds the limit").await;
}

#[tokio::test]
async fn a_100_mb_subject() {
    if in_own_process("a_100_mb_subject") {
        return;
    }
    let server = ScriptedImap::start(
        Script::default(),
        inbox_then(Reply::Flood {
            head: b"* 1 FETCH (UID 101 FLAGS () ENVELOPE (NIL \"".to_vec(),
            fill: b's',
            len: 100 << 20,
            tail: b"\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\nTAG OK done\r\n".to_vec(),
        }),
    )
    .await;
    bounded("100 MB subject", server, "exceeds the limit").await;
}

/// Announced beyond the limit: refused before anything is allocated.
#[tokio::test]
async fn a_literal_announced_at_4_gib() {
    if in_own_process("a_literal_announced_at_4_gib") {
        return;
    }
    let server = ScriptedImap::start(
        Script::default(),
        inbox_then(Reply::Flood {
            head: b"* 1 FETCH (UID 101 BODY[HEADER.FIELDS (REFERENCES)] {4294967295}\r\n".to_vec(),
            fill: b'r',
            len: 100 << 20,
            tail: Vec::new(),
        }),
    )
    .await;
    bounded("{4294967295} literal", server, "exceeds the limit").await;
}

/// Announced within the limit (60 MB) but never sent: memory follows the bytes that arrive,
/// not the claim (the reader reserved and zeroed the whole announced length, found by the
/// robustness test).
#[tokio::test]
async fn a_literal_announced_at_60_mb_that_never_comes() {
    if in_own_process("a_literal_announced_at_60_mb_that_never_comes") {
        return;
    }
    let server = ScriptedImap::start(
        Script::default(),
        inbox_then(Reply::Close(
            b"* 1 FETCH (UID 101 BODY[HEADER.FIELDS (REFERENCES)] {60000000}\r\nReferences:"
                .to_vec(),
        )),
    )
    .await;
    bounded("{60000000} literal, then a cut", server, "closed").await;
}

#[tokio::test]
async fn a_deflated_gigabyte_line() {
    if in_own_process("a_deflated_gigabyte_line") {
        return;
    }
    let server = ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 LITERAL+ COMPRESS=DEFLATE".into(),
            ..Script::default()
        },
        |command: &str| {
            if command.starts_with("LIST") {
                Reply::Flood {
                    head: b"* LIST () \"/\" ".to_vec(),
                    fill: b'a',
                    len: 1 << 30,
                    tail: Vec::new(),
                }
            } else {
                ok("")
            }
        },
    )
    .await;
    bounded("1 GiB deflated line", server, "exceeds the limit").await;
}
