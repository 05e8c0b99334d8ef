//! The POP3 download memory benchmark: peak RSS while the engine downloads one ~50 MB message
//! over POP3 (implicit TLS, private Dovecot), beside two baselines in the same run: the same
//! client's bare `RETR` into `/dev/null` (what the wire and TLS cost) and the old in-memory
//! path (RETR to a file, then the file read whole, parsed by mail-parser and the attachment
//! decoded in memory). It prints a markdown table; it never fails on a number, only on a
//! broken run.
//!
//! The message is written straight into alice's Maildir: a short text/plain part, then
//! ChaCha bytes as a base64 attachment (76-character lines) sized so that the message is
//! `ANVERT_BENCH_POP3_MIB` (default 50) MiB, streamed to disk with the attachment's SHA-256.
//!
//! Each contender runs in its own child process (this binary re-executed with `--child NAME`)
//! and reports `VmRSS` before and `VmHWM` after its measured phase (reset right before it
//! where the kernel allows):
//! - `idle`: `Engine::open`, then nothing.
//! - `anvert`: `Engine::open`, `add_account` (POP3, implicit TLS), a metered sync that stores
//!   the headers only (TOP), then, measured, an unmetered `sync`: RETR spooled to disk, the
//!   skeleton parse, the attachment decoded from the spool into its file, one commit. The
//!   attachment file's SHA-256 must match.
//! - `retr`: `pop3::connect`, `RETR 1` into `tokio::io::sink()`, QUIT.
//! - `in-memory`: `pop3::connect`, `RETR 1` into a file, then the file read whole, parsed by
//!   mail-parser and the attachment decoded into a `Vec` and written out (the path before the
//!   spool). Its SHA-256 must match too.
//!
//! MB/s is message bytes (10^6) per second. Run it with `cargo bench -p anvert-tests --bench
//! pop3_memory` or `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Read, Write},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anvert_core::{
    blobs::{StreamDecoder, TransferEncoding},
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    imap::ConnectOptions,
    net::{Security, WireMeter},
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    pop3::{self, Pop3Options},
};
use anvert_tests::{
    bench::{
        self, CHILD_TIMEOUT, MEASUREMENT_TIMEOUT, ServerEnv, env_number, env_var, mib,
        proc_status_kib, reset_hwm,
    },
    client::endpoint,
    dovecot::Dovecot,
};
use base64::Engine as _;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const USER: &str = "alice";
/// Raw bytes per base64 line (76 characters).
const LINE_BYTES: usize = 57;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Idle,
    Anvert,
    Retr,
    InMemory,
}

impl Contender {
    const ALL: [Contender; 4] = [
        Contender::Idle,
        Contender::Anvert,
        Contender::Retr,
        Contender::InMemory,
    ];

    fn name(self) -> &'static str {
        match self {
            Contender::Idle => "idle",
            Contender::Anvert => "anvert",
            Contender::Retr => "retr",
            Contender::InMemory => "in-memory",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Contender::Idle => "`Engine::open`, then nothing (the idle process)",
            Contender::Anvert => {
                "`Engine::sync` (unmetered) of a headers-only message: RETR spooled, skeleton parse, attachment decoded from the spool, one commit"
            }
            Contender::Retr => "the same POP3 client's `RETR` into `/dev/null` (wire and TLS only)",
            Contender::InMemory => {
                "RETR to a file, then read whole, mail-parser, attachment decoded in memory (the old path)"
            }
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    seconds: f64,
    before_kib: u64,
    peak_kib: u64,
    verified: bool,
    hwm_reset: bool,
}

impl Sample {
    fn from_fields(fields: &BTreeMap<String, String>) -> Result<Sample, String> {
        Ok(Sample {
            seconds: bench::field(fields, "seconds")?,
            before_kib: bench::field(fields, "before_kib")?,
            peak_kib: bench::field(fields, "peak_kib")?,
            verified: bench::field::<String>(fields, "verified")? == "1",
            hwm_reset: bench::field::<String>(fields, "hwm_reset")? == "1",
        })
    }

    fn to_fields(self) -> [(&'static str, String); 5] {
        [
            ("seconds", format!("{:.6}", self.seconds)),
            ("before_kib", self.before_kib.to_string()),
            ("peak_kib", self.peak_kib.to_string()),
            ("verified", u8::from(self.verified).to_string()),
            ("hwm_reset", u8::from(self.hwm_reset).to_string()),
        ]
    }
}

fn main() -> ExitCode {
    if let Some(name) = bench::child_name() {
        let contender = Contender::from_name(&name).expect("--child idle|anvert|retr|in-memory");
        let sample = bench::measure(MEASUREMENT_TIMEOUT, async {
            match contender {
                Contender::Idle => idle().await,
                Contender::Anvert => anvert_sync().await,
                Contender::Retr => bare_retr().await,
                Contender::InMemory => in_memory().await,
            }
        });
        bench::print_result(&sample.to_fields());
        return ExitCode::SUCCESS;
    }
    parent()
}

fn parent() -> ExitCode {
    let message_mib = env_number("ANVERT_BENCH_POP3_MIB", 50).max(1);
    let server = Dovecot::start();
    let decoded = (message_mib << 20) / 78 * LINE_BYTES;
    let (message_len, sha256) = write_message(&server.maildir(USER), decoded).unwrap();
    server.fix_ownership();
    let mut env: Vec<(&str, String)> = bench::server_env(&server, USER)
        .into_iter()
        .filter(|(k, _)| *k != "ANVERT_BENCH_ADDR")
        .collect();
    env.extend([
        ("ANVERT_BENCH_ADDR", server.pop3s_addr().to_string()),
        ("ANVERT_BENCH_SHA256", sha256),
    ]);
    let mut samples = Vec::new();
    for contender in Contender::ALL {
        let sample = match bench::run_child(contender.name(), &env, CHILD_TIMEOUT)
            .and_then(|f| Sample::from_fields(&f))
        {
            Ok(s) => s,
            Err(e) => {
                return bench::fail("pop3_memory", server, &format!("{}: {e}", contender.name()));
            }
        };
        if !sample.verified {
            return bench::fail(
                "pop3_memory",
                server,
                &format!("{}: the attachment does not match", contender.name()),
            );
        }
        samples.push((contender, sample));
    }
    drop(server);

    println!();
    println!(
        "### POP3 download: one {:.1} MB message ({:.1} MB attachment, base64), one child process per contender",
        message_len as f64 / 1e6,
        decoded as f64 / 1e6
    );
    println!();
    println!(
        "| contender | seconds | MB/s | RSS before MiB | peak RSS MiB | peak above before MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (contender, s) in &samples {
        let (seconds, rate) = match contender {
            Contender::Idle => ("–".to_string(), "–".to_string()),
            _ => (
                format!("{:.2}", s.seconds),
                format!("{:.1}", message_len as f64 / 1e6 / s.seconds),
            ),
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
    for (contender, _) in &samples {
        println!("- `{}`: {}", contender.name(), contender.describe());
    }
    let reset = samples
        .iter()
        .filter(|(c, _)| *c != Contender::Idle)
        .all(|(_, s)| s.hwm_reset);
    println!(
        "- peaks {}; MB/s is message bytes per second",
        if reset {
            "are of the measured phase alone (`VmHWM` reset right before it)"
        } else {
            "include the setup (the kernel refused to reset `VmHWM`)"
        }
    );
    ExitCode::SUCCESS
}

/// Writes the message into the Maildir's `cur/`; returns its length and the attachment's
/// SHA-256.
fn write_message(maildir: &Path, decoded_len: usize) -> std::io::Result<(u64, String)> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let tmp = maildir.join("tmp").join("pop3-memory.anvert");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    write!(
        out,
        "Date: Wed, 01 Jan 2025 00:00:00 +0000\r\nFrom: Bench <sender@anvert.test>\r\n\
         To: Alice <alice@anvert.test>\r\nSubject: A large message\r\n\
         Message-ID: <pop3-memory@anvert.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThe file is attached.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"random.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"random.bin\"\r\n\r\n"
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(50);
    let mut hash = Sha256::new();
    let mut block = vec![0u8; LINE_BYTES * 4096];
    let mut line = [0u8; 76];
    let mut left = decoded_len;
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
        }
        left -= n;
    }
    write!(out, "--b--\r\n")?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let len = file.metadata()?.len();
    drop(file);
    let name = format!("1735689600.M0P0Q0.anvert,S={len}:2,");
    std::fs::rename(&tmp, maildir.join("cur").join(name))?;
    Ok((len, hex::encode(hash.finalize())))
}

async fn idle() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let _engine = open_engine(dir.path()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Sample {
        seconds: 0.0,
        before_kib: proc_status_kib("VmRSS").unwrap_or(0),
        peak_kib: proc_status_kib("VmHWM").unwrap_or(0),
        verified: true,
        hwm_reset: false,
    }
}

async fn anvert_sync() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerEnv::from_env();
    let engine = open_engine(dir.path()).await;
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Pop3,
            endpoint: endpoint(server.addr, Security::ImplicitTls),
            credential: server.credential(),
        })
        .await
        .unwrap();
    let headers_only = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        content: Some(ContentPolicy {
            pop3_retr_max: 0,
            ..ContentPolicy::for_network(NetworkKind::Metered)
        }),
        ..SyncRequest::default()
    };
    engine.sync(account, &headers_only).await.unwrap();
    let full = SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };

    let hwm_reset = reset_hwm();
    let before_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let report = engine.sync(account, &full).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
    assert_eq!(report.folders[0].bodies, 1);

    let inbox = engine.folders(account).await.unwrap()[0].id;
    let id = engine.messages(inbox, None, 1).await.unwrap().items[0].id;
    let record = engine.store().download(id, "2").await.unwrap().unwrap();
    Sample {
        seconds,
        before_kib,
        peak_kib,
        verified: sha256_file(&record.destination) == env_var("ANVERT_BENCH_SHA256"),
        hwm_reset,
    }
}

async fn session(server: &ServerEnv) -> pop3::Pop3Session {
    pop3::connect(
        &endpoint(server.addr, Security::ImplicitTls),
        &server.credential(),
        &server.tls(),
        &WireMeter::new(),
        &Pop3Options::default(),
    )
    .await
    .unwrap()
}

async fn bare_retr() -> Sample {
    let server = ServerEnv::from_env();
    let hwm_reset = reset_hwm();
    let before_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let mut session = session(&server).await;
    session.retr(1, &mut tokio::io::sink()).await.unwrap();
    session.quit().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    Sample {
        seconds,
        before_kib,
        peak_kib: proc_status_kib("VmHWM").unwrap_or(0),
        verified: true,
        hwm_reset,
    }
}

async fn in_memory() -> Sample {
    let server = ServerEnv::from_env();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("retr.eml");
    let out = dir.path().join("random.bin");
    let hwm_reset = reset_hwm();
    let before_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let mut session = session(&server).await;
    let mut file = tokio::fs::File::create(&spool).await.unwrap();
    session.retr(1, &mut file).await.unwrap();
    tokio::io::AsyncWriteExt::flush(&mut file).await.unwrap();
    session.quit().await.unwrap();
    let raw = tokio::fs::read(&spool).await.unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let parts = anvert_core::mime::parts_from_message(&parsed);
    let part = parts.iter().find(|p| p.info.is_attachment).unwrap();
    let mut decoder = StreamDecoder::new(TransferEncoding::Base64);
    let mut decoded = Vec::with_capacity(part.body.len());
    decoder.feed(part.body, &mut decoded).unwrap();
    decoder.finish(&mut decoded).unwrap();
    tokio::fs::write(&out, &decoded).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
    drop((decoded, parsed));
    Sample {
        seconds,
        before_kib,
        peak_kib,
        verified: sha256_file(&out) == env_var("ANVERT_BENCH_SHA256"),
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

fn sha256_file(path: &Path) -> String {
    let mut file = File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hex::encode(hash.finalize())
}
