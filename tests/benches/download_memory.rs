//! The attachment-download memory benchmark: peak RSS while the engine downloads one
//! 100 MiB attachment from a private Dovecot, beside a naive client that fetches the whole
//! encoded part in one response, in the same run. The target (issue text): the peak stays
//! within 32 MiB above the process's idle level. It prints a markdown table and PASS or
//! FAIL; it never fails on a miss (exit status 0), only on a broken run.
//!
//! The mailbox is one message written straight into alice's Maildir: a short text/plain
//! part, then `ANVERT_BENCH_ATTACHMENT_MIB` (default 100) MiB of ChaCha bytes as a base64
//! attachment (76-character lines, CRLF), streamed to disk with the SHA-256 of the raw bytes
//! computed on the way, never held in memory.
//!
//! Each contender runs in its own child process (this binary re-executed with `--child NAME`,
//! the server's address, CA and credentials in `ANVERT_BENCH_*` variables) and prints one
//! result line; memory comes from the child's own `/proc/self/status`:
//! - `idle`: `Engine::open` on a fresh data directory, a short sleep, then `VmRSS`/`VmHWM`:
//!   what a process with the engine loaded costs doing nothing.
//! - `anvert`: `Engine::open`, `add_account` (IMAP, implicit TLS), `sync` of everything on a
//!   metered network, then `download_part` of the attachment on an unmetered one. `VmRSS` is
//!   read right before the download (this process's idle level) and `VmHWM` after it; the
//!   downloaded file's SHA-256 must match.
//! - `raw`: async-imap over verified TLS with COMPRESS=DEFLATE, `UID FETCH <uid>
//!   BODY.PEEK[2]` in one response (async-imap buffers the whole literal), discarded: what a
//!   naive client costs. Its time grows with the square of the size: async-imap sizes its
//!   read buffer to the whole literal, and flate2's miniz_oxide backend zeroes the whole
//!   unfilled part of it on every inflate call (`decompress_uninit`); without COMPRESS the
//!   same fetch is linear.
//!
//! Before its measurement a child resets its `VmHWM` (`5` into `/proc/self/clear_refs`) where
//! the kernel allows it, so the peak belongs to the measured phase alone; where it does not,
//! the peak also covers the setup before it (the table says which). Times run from the
//! `download_part` call (or the raw client's TCP connect) to LOGOUT; MB/s is attachment
//! bytes (decoded, 10^6) per second for both. `ANVERT_BENCH_TRACE=1` makes the `anvert` and
//! `raw` children print their RSS over time (sampled every 5 ms) on stderr.
//!
//! Run it with `cargo bench -p anvert-tests --bench download_memory` or `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Read, Write},
    path::Path,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use anvert_core::{
    engine::{AccountConfig, CancellationToken, Engine, EngineConfig, Protocol},
    imap::ConnectOptions,
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
};
use anvert_tests::{
    bench::{
        self, CHILD_TIMEOUT, MEASUREMENT_TIMEOUT, ServerEnv, env_flag, env_number, env_var, mib,
        proc_status_kib, reset_hwm,
    },
    client::{endpoint, raw_session},
    dovecot::Dovecot,
};
use async_imap::imap_proto::SectionPath;
use base64::Engine as _;
use futures::TryStreamExt;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// The engine's peak may be at most this far above its idle level.
const TARGET_MIB: f64 = 32.0;
const USER: &str = "alice";
/// The attachment's IMAP section: the second part of the multipart/mixed message.
const SECTION: &str = "2";
/// Raw bytes per base64 line (76 characters).
const LINE_BYTES: usize = 57;
/// The message's date (2025-01-01T00:00:00Z), in its header, file name and mtime.
const DATE: i64 = 1_735_689_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Idle,
    Anvert,
    Raw,
}

impl Contender {
    const ALL: [Contender; 3] = [Contender::Idle, Contender::Anvert, Contender::Raw];

    fn name(self) -> &'static str {
        match self {
            Contender::Idle => "idle",
            Contender::Anvert => "anvert",
            Contender::Raw => "raw",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Contender::Idle => "`Engine::open`, then nothing (the idle process)",
            Contender::Anvert => {
                "`Engine::download_part`: chunked `BODY.PEEK[2]<offset.length>`, decoded to a file"
            }
            Contender::Raw => "async-imap `UID FETCH <uid> BODY.PEEK[2]` in one response, COMPRESS",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What one child run reports.
#[derive(Debug, Clone, Copy)]
struct Sample {
    seconds: f64,
    /// `VmRSS` right before the measured phase.
    before_kib: u64,
    /// `VmHWM` after it.
    peak_kib: u64,
    /// Bytes received: decoded file bytes (`anvert`), literal bytes (`raw`), 0 (`idle`).
    bytes: u64,
    /// The content checked out: the file's SHA-256 (`anvert`), the literal's length (`raw`).
    verified: bool,
    /// Whether `VmHWM` was reset right before the measured phase.
    hwm_reset: bool,
}

impl Sample {
    /// From the child's result line:
    /// `seconds=S before_kib=B peak_kib=P bytes=N verified=0|1 hwm_reset=0|1`.
    fn from_fields(fields: &BTreeMap<String, String>) -> Result<Sample, String> {
        Ok(Sample {
            seconds: bench::field(fields, "seconds")?,
            before_kib: bench::field(fields, "before_kib")?,
            peak_kib: bench::field(fields, "peak_kib")?,
            bytes: bench::field(fields, "bytes")?,
            verified: bench::field::<String>(fields, "verified")? == "1",
            hwm_reset: bench::field::<String>(fields, "hwm_reset")? == "1",
        })
    }

    /// The result line's fields, for [`Sample::from_fields`].
    fn to_fields(self) -> [(&'static str, String); 6] {
        [
            ("seconds", format!("{:.6}", self.seconds)),
            ("before_kib", self.before_kib.to_string()),
            ("peak_kib", self.peak_kib.to_string()),
            ("bytes", self.bytes.to_string()),
            ("verified", u8::from(self.verified).to_string()),
            ("hwm_reset", u8::from(self.hwm_reset).to_string()),
        ]
    }
}

fn main() -> ExitCode {
    if let Some(name) = bench::child_name() {
        let contender = Contender::from_name(&name).expect("--child idle|anvert|raw");
        return child(contender);
    }
    parent()
}

// ---------------------------------------------------------------------------------------------
// The parent: server, message, children, table.

fn parent() -> ExitCode {
    let mib_count = env_number("ANVERT_BENCH_ATTACHMENT_MIB", 100).max(1);
    let server = Dovecot::start();
    let started = Instant::now();
    let attachment = write_message(&server.maildir(USER), mib_count << 20).unwrap();
    server.fix_ownership();
    eprintln!(
        "download_memory: wrote a {} B message ({} B attachment, {} B encoded) in {:.1} s",
        attachment.message_len,
        attachment.decoded_len,
        attachment.encoded_len,
        started.elapsed().as_secs_f64()
    );
    let mut env = bench::server_env(&server, USER);
    env.extend([
        ("ANVERT_BENCH_SHA256", attachment.sha256.clone()),
        ("ANVERT_BENCH_DECODED", attachment.decoded_len.to_string()),
        ("ANVERT_BENCH_ENCODED", attachment.encoded_len.to_string()),
    ]);

    let mut samples = Vec::new();
    for contender in Contender::ALL {
        let sample = match run_child(contender, &env) {
            Ok(s) => s,
            Err(e) => return fail(server, &format!("{}: {e}", contender.name())),
        };
        eprintln!(
            "download_memory: {:<6} {:.2} s, before {:.1} MiB, peak {:.1} MiB",
            contender.name(),
            sample.seconds,
            mib(sample.before_kib),
            mib(sample.peak_kib)
        );
        if !sample.verified {
            return fail(
                server,
                &format!(
                    "{} received content that does not match ({} B)",
                    contender.name(),
                    sample.bytes
                ),
            );
        }
        samples.push((contender, sample));
    }
    drop(server);

    print_report(mib_count, &attachment, &samples);
    ExitCode::SUCCESS
}

/// Prints the table and the verdict on stdout.
fn print_report(mib_count: usize, attachment: &Attachment, samples: &[(Contender, Sample)]) {
    println!();
    println!(
        "### Attachment download: one {mib_count} MiB attachment ({:.1} MB base64 on the wire before COMPRESS), one child process per contender",
        attachment.encoded_len as f64 / 1e6
    );
    println!();
    println!(
        "| contender | seconds | MB/s | RSS before MiB | peak RSS MiB | peak above before MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (contender, s) in samples {
        let (seconds, rate) = if *contender == Contender::Idle {
            ("–".to_string(), "–".to_string())
        } else {
            (
                format!("{:.2}", s.seconds),
                format!("{:.1}", attachment.decoded_len as f64 / 1e6 / s.seconds),
            )
        };
        println!(
            "| {} | {seconds} | {rate} | {:.1} | {:.1} | {:.1} |",
            contender.name(),
            mib(s.before_kib),
            mib(s.peak_kib),
            mib(s.peak_kib.saturating_sub(s.before_kib)),
        );
    }
    println!();
    for (contender, _) in samples {
        println!("- `{}`: {}", contender.name(), contender.describe());
    }
    let reset = samples
        .iter()
        .filter(|(c, _)| *c != Contender::Idle)
        .all(|(_, s)| s.hwm_reset);
    if reset {
        println!(
            "- peaks are of the measured phase alone (`VmHWM` reset right before it); MB/s is attachment bytes per second"
        );
    } else {
        println!(
            "- peaks include the setup before the measured phase (the kernel refused to reset `VmHWM`); MB/s is attachment bytes per second"
        );
    }
    println!();
    let of = |wanted: Contender| samples.iter().find(|(c, _)| *c == wanted).map(|(_, s)| *s);
    let (Some(anvert), Some(idle)) = (of(Contender::Anvert), of(Contender::Idle)) else {
        return;
    };
    let above = mib(anvert.peak_kib.saturating_sub(anvert.before_kib));
    let verdict = if above <= TARGET_MIB { "PASS" } else { "FAIL" };
    println!("anvert: peak above idle = {above:.1} MiB (target ≤ {TARGET_MIB:.0} MiB): {verdict}");
    println!(
        "(idle = the anvert child's RSS right before `download_part`; above the idle process's RSS of {:.1} MiB the peak is {:.1} MiB)",
        mib(idle.before_kib),
        mib(anvert.peak_kib.saturating_sub(idle.before_kib)),
    );
}

/// Reports a broken run (not a missed target) and stops the server before exiting.
fn fail(server: Dovecot, message: &str) -> ExitCode {
    bench::fail("download_memory", server, message)
}

// ---------------------------------------------------------------------------------------------
// The message.

/// The attachment as written, for the children to check what they receive.
#[derive(Debug, Clone)]
struct Attachment {
    /// Raw (decoded) bytes.
    decoded_len: u64,
    /// The part's body as the server serves `BODY[2]`: base64 lines joined by CRLF (the
    /// CRLF before the closing boundary belongs to the boundary).
    encoded_len: u64,
    sha256: String,
    /// The whole message file.
    message_len: u64,
}

/// Writes the one message into the Maildir's `cur/` (through `tmp/`, named as Dovecot needs
/// it), streaming the attachment: ChaCha bytes, base64 in 76-character lines, hashed on the
/// way.
fn write_message(maildir: &Path, decoded_len: usize) -> std::io::Result<Attachment> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let tmp = maildir.join("tmp").join("download-memory.anvert");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let boundary = "anvert-bench-boundary";
    write!(
        out,
        "Date: Wed, 01 Jan 2025 00:00:00 +0000\r\n\
         From: Bench Sender <sender@anvert.test>\r\n\
         To: Alice <alice@anvert.test>\r\n\
         Subject: A large attachment\r\n\
         Message-ID: <download-memory@anvert.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\
         \r\n\
         This is a multi-part message in MIME format.\r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         The file you asked for is attached.\r\n\
         --{boundary}\r\n\
         Content-Type: application/octet-stream; name=\"random.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"random.bin\"\r\n\
         \r\n"
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(100);
    let mut hash = Sha256::new();
    // A whole number of lines per block, so only the very last line is short.
    let mut block = vec![0u8; LINE_BYTES * 4096];
    let mut line = [0u8; 76];
    let mut left = decoded_len;
    let mut encoded_len = 0u64;
    while left > 0 {
        let n = left.min(block.len());
        let block = &mut block[..n];
        rng.fill_bytes(block);
        hash.update(&*block);
        for raw in block.chunks(LINE_BYTES) {
            let len = base64::engine::general_purpose::STANDARD
                .encode_slice(raw, &mut line)
                .expect("57 bytes fit 76 characters");
            out.write_all(&line[..len])?;
            out.write_all(b"\r\n")?;
            encoded_len += len as u64 + 2;
        }
        left -= n;
    }
    write!(out, "--{boundary}--\r\n")?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let message_len = file.metadata()?.len();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(DATE.unsigned_abs()))?;
    drop(file);
    let name = format!("{DATE}.M0P0Q0.anvert,S={message_len}:2,");
    std::fs::rename(&tmp, maildir.join("cur").join(name))?;
    Ok(Attachment {
        decoded_len: decoded_len as u64,
        // The last line's CRLF is the closing boundary's.
        encoded_len: encoded_len - 2,
        sha256: hex::encode(hash.finalize()),
        message_len,
    })
}

// ---------------------------------------------------------------------------------------------
// Running a child.

/// Runs one contender in a child process and reads its result line; kills it after
/// [`CHILD_TIMEOUT`].
fn run_child(contender: Contender, env: &[(&str, String)]) -> Result<Sample, String> {
    Sample::from_fields(&bench::run_child(contender.name(), env, CHILD_TIMEOUT)?)
}

// ---------------------------------------------------------------------------------------------
// The child: one contender, one measurement.

fn child(contender: Contender) -> ExitCode {
    let sample = bench::measure(MEASUREMENT_TIMEOUT, async {
        match contender {
            Contender::Idle => idle().await,
            Contender::Anvert => anvert_download().await,
            Contender::Raw => raw_fetch().await,
        }
    });
    bench::print_result(&sample.to_fields());
    ExitCode::SUCCESS
}

/// The idle process: the engine opened on a fresh data directory, then nothing.
async fn idle() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let _engine = open_engine(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Sample {
        seconds: 0.0,
        before_kib: proc_status_kib("VmRSS").unwrap_or(0),
        peak_kib: proc_status_kib("VmHWM").unwrap_or(0),
        bytes: 0,
        verified: true,
        hwm_reset: false,
    }
}

/// The engine: open, add the account, sync everything (metered: no prefetch), then
/// `download_part` of the attachment, measured alone.
async fn anvert_download() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerEnv::from_env();
    let engine = open_engine(&dir.path().join("data")).await;
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.addr, Security::ImplicitTls),
            credential: server.credential(),
        })
        .await
        .unwrap();
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let report = engine.sync(account, &request).await.unwrap();
    assert!(report.errors.is_empty(), "sync errors: {:?}", report.errors);
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .expect("INBOX");
    let page = engine.messages(inbox.id, None, 10).await.unwrap();
    let message = page.items.first().expect("the message was synced").id;
    let detail = engine.message(message).await.unwrap().expect("its detail");
    let part = detail
        .parts
        .iter()
        .find(|p| p.is_attachment)
        .expect("an attachment part");
    assert_eq!(part.section, SECTION, "{:?}", detail.parts);
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();

    let hwm_reset = reset_hwm();
    let before_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let trace = RssTrace::start("anvert");
    let started = Instant::now();
    let path = engine
        .download_part(
            message,
            &part.section,
            &downloads,
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
    trace.finish();

    let (bytes, sha256) = sha256_file(&path);
    Sample {
        seconds,
        before_kib,
        peak_kib,
        bytes,
        verified: sha256 == env_var("ANVERT_BENCH_SHA256")
            && bytes.to_string() == env_var("ANVERT_BENCH_DECODED"),
        hwm_reset,
    }
}

/// The naive client: TLS, LOGIN, COMPRESS, SELECT, `UID FETCH <uid> BODY.PEEK[2]` (the whole
/// encoded part in one literal, which async-imap buffers whole), discarded, LOGOUT.
async fn raw_fetch() -> Sample {
    let server = ServerEnv::from_env();
    let tls = server.tls();
    let path = SectionPath::Part(vec![2], None);

    let hwm_reset = reset_hwm();
    let before_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let trace = RssTrace::start("raw");
    let started = Instant::now();
    let mut session = raw_session(&tls, server.addr, &server.user, &server.password, true).await;
    session.select("INBOX").await.unwrap();
    let uid = session
        .uid_search("ALL")
        .await
        .unwrap()
        .into_iter()
        .max()
        .expect("one message");
    let mut bytes = 0u64;
    {
        let mut responses = session
            .uid_fetch(uid.to_string(), format!("BODY.PEEK[{SECTION}]"))
            .await
            .unwrap();
        while let Some(fetch) = responses.try_next().await.unwrap() {
            bytes += fetch.section(&path).map_or(0, |d| d.len() as u64);
        }
    }
    session.logout().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
    trace.finish();
    Sample {
        seconds,
        before_kib,
        peak_kib,
        bytes,
        verified: bytes.to_string() == env_var("ANVERT_BENCH_ENCODED"),
        hwm_reset,
    }
}

async fn open_engine(data_dir: &Path) -> Engine {
    Engine::open(EngineConfig {
        data_dir: data_dir.to_path_buf(),
        extra_roots_pem: Some(ServerEnv::from_env().ca_pem),
        connect: ConnectOptions::default(),
        cache_budget: None,
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

/// With `ANVERT_BENCH_TRACE` set: a thread that samples `VmRSS` every 5 ms and, when
/// finished, prints the highest value of every 250 ms on stderr.
struct RssTrace {
    name: &'static str,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(Duration, u64)>>>,
}

impl RssTrace {
    fn start(name: &'static str) -> RssTrace {
        let stop = Arc::new(AtomicBool::new(false));
        let enabled = env_flag("ANVERT_BENCH_TRACE");
        let thread = enabled.then(|| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.push((started.elapsed(), proc_status_kib("VmRSS").unwrap_or(0)));
                    std::thread::sleep(Duration::from_millis(5));
                }
                samples
            })
        });
        RssTrace { name, stop, thread }
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(samples) = self.thread.take().and_then(|t| t.join().ok()) else {
            return;
        };
        let mut bucket: Option<(u128, u64)> = None;
        let print = |(at, kib): (u128, u64)| {
            eprintln!(
                "  rss {}: {:>6} ms {:>7.1} MiB",
                self.name,
                at * 250,
                mib(kib)
            );
        };
        for (at, kib) in samples {
            let b = at.as_millis() / 250;
            bucket = match bucket {
                Some((cur, max)) if cur == b => Some((cur, max.max(kib))),
                Some(done) => {
                    print(done);
                    Some((b, kib))
                }
                None => Some((b, kib)),
            };
        }
        if let Some(done) = bucket {
            print(done);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// The length and SHA-256 of a file, read in 1 MiB blocks.
fn sha256_file(path: &Path) -> (u64, String) {
    let mut file = File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        len += n as u64;
    }
    (len, hex::encode(hash.finalize()))
}
