//! The download-throughput benchmark (issue 16): one 10 MiB attachment
//! (`ANVERT_BENCH_THROUGHPUT_MIB`) downloaded through the tap at 75 ms each way (a 150 ms
//! round trip) and a link rate of 2.5 MB/s per direction (`ANVERT_BENCH_RATE`, bytes per
//! second: 20 Mbit/s, a fair 4G or home DSL downlink; without a rate limit the bare fetch is
//! about one round trip and no ratio means anything), in one process, three contenders:
//!
//! - `bare`: async-imap over TLS, the folder selected beforehand, then one
//!   `UID FETCH n (BINARY.PEEK[2])`: the whole decoded part in a single response. The
//!   baseline: the link's floor for these bytes.
//! - `pipelined`: `Engine::download_part` with the default `ConnectOptions` (BINARY, chunks
//!   pipelined `download_depth` deep), over the warm connection the sync left.
//! - `one-per-rtt`: the path before issue 16, `ConnectOptions { binary: false,
//!   download_depth: 1 }`: `BODY.PEEK` ranges of the base64, one chunk per round trip.
//!
//! COMPRESS is off for all three: the attachment is random bytes, which do not compress, and
//! async-imap's inflate is quadratic on a single huge literal (see `download_memory`), which
//! would slow the baseline for reasons of its own. Each contender runs `ANVERT_BENCH_RUNS`
//! times (default 1), the download deleted in between; the table gives the median time, the
//! wire bytes and round trips of the tap, and each one's ratio to `bare`; the target is
//! `pipelined` ≤ 1.15× `bare`. It reports; it never fails on a miss, only on a broken run.
//!
//! Run it with `cargo bench -p anvert-tests --bench download_throughput` or
//! `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant, SystemTime},
};

use anvert_core::{
    engine::{AccountConfig, CancellationToken, Engine, EngineConfig, Protocol},
    imap::ConnectOptions,
    net::Security,
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    store::MessageId,
};
use anvert_tests::{
    bench::{env_number, median},
    client::{endpoint, raw_session},
    dovecot::Dovecot,
    tap::{Tap, TapStats},
};
use base64::Engine as _;
use futures::TryStreamExt;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

const USER: &str = "alice";
/// Latency the tap adds each way.
const DELAY: Duration = Duration::from_millis(75);
/// The link rate per direction by default, bytes per second.
const RATE: usize = 2_500_000;
/// `pipelined` may take at most this multiple of `bare`.
const TARGET: f64 = 1.15;
/// Raw bytes per base64 line (76 characters).
const LINE_BYTES: usize = 57;
/// The message's date (2025-01-01).
const DATE: i64 = 1_735_689_600;
/// One download may take this long before the bench gives up.
const LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Bare,
    Pipelined,
    OnePerRtt,
}

impl Contender {
    const ALL: [Contender; 3] = [Contender::Bare, Contender::Pipelined, Contender::OnePerRtt];

    fn name(self) -> &'static str {
        match self {
            Contender::Bare => "bare",
            Contender::Pipelined => "pipelined",
            Contender::OnePerRtt => "one-per-rtt",
        }
    }

    fn describe(self) -> String {
        match self {
            Contender::Bare => {
                "async-imap, folder selected beforehand, one `UID FETCH n (BINARY.PEEK[2])` in a \
                 single response"
                    .into()
            }
            Contender::Pipelined => format!(
                "`Engine::download_part`, default `ConnectOptions` (BINARY, {} chunk requests in \
                 flight), warm connection",
                ConnectOptions::default().download_depth
            ),
            Contender::OnePerRtt => {
                "`Engine::download_part` with `ConnectOptions { binary: false, \
                 download_depth: 1 }`: BODY.PEEK ranges, one chunk per round trip (before issue 16)"
                    .into()
            }
        }
    }

    fn connect(self) -> ConnectOptions {
        match self {
            Contender::OnePerRtt => ConnectOptions {
                compress: false,
                binary: false,
                download_depth: 1,
                ..ConnectOptions::default()
            },
            _ => ConnectOptions {
                compress: false,
                ..ConnectOptions::default()
            },
        }
    }
}

struct Attachment {
    decoded_len: u64,
    sha256: String,
}

/// An engine of one contender, synced.
struct Setup {
    contender: Contender,
    _dir: tempfile::TempDir,
    engine: Engine,
    message: MessageId,
}

struct Measured {
    contender: Contender,
    seconds: Vec<f64>,
    wire: TapStats,
}

fn main() -> ExitCode {
    let mib_count = env_number("ANVERT_BENCH_THROUGHPUT_MIB", 10).max(1);
    let rate = env_number("ANVERT_BENCH_RATE", RATE).max(10_000) as u64;
    let runs = env_number("ANVERT_BENCH_RUNS", 1).max(1);
    let server = Dovecot::start();
    let attachment = write_message(&server.maildir(USER), mib_count << 20).unwrap();
    server.fix_ownership();
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // Setup at full speed: the engines sync the headers (no content).
    let mut setups = Vec::new();
    for contender in [Contender::Pipelined, Contender::OnePerRtt] {
        setups.push(runtime.block_on(setup(&server, &tap, contender)));
    }

    tap.set_delay(DELAY);
    tap.set_rate(Some(rate));
    let mut results = Vec::new();
    for contender in Contender::ALL {
        let mark = tap.mark();
        let mut seconds = Vec::new();
        for _ in 0..runs {
            let run = runtime.block_on(async {
                tokio::time::timeout(LIMIT, run(&server, &tap, &setups, contender, &attachment))
                    .await
                    .unwrap_or_else(|_| Err("timed out".into()))
            });
            match run {
                Ok(s) => seconds.push(s),
                Err(e) => {
                    eprintln!("download_throughput: {}: {e}", contender.name());
                    return ExitCode::FAILURE;
                }
            }
        }
        let mut wire = tap.stats_since(&mark);
        wire.up /= runs as u64;
        wire.down /= runs as u64;
        wire.round_trips /= runs as u64;
        eprintln!("download_throughput: {} {:?} s", contender.name(), seconds);
        results.push(Measured {
            contender,
            seconds,
            wire,
        });
    }
    tap.clear_faults();
    drop(setups);
    drop(runtime);
    drop(tap);
    drop(server);
    print_report(mib_count, rate, runs, &attachment, &results);
    ExitCode::SUCCESS
}

async fn setup(server: &Dovecot, tap: &Tap, contender: Contender) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        connect: contender.connect(),
        cache_budget: None,
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(tap.addr(), Security::ImplicitTls),
            credential: server.credential(USER),
        })
        .await
        .unwrap();
    let request = SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        content: Some(ContentPolicy {
            snippets: false,
            prefetch_bodies: 0,
            prefetch_attachments_max: None,
            ..ContentPolicy::for_network(NetworkKind::Unmetered)
        }),
        ..SyncRequest::default()
    };
    engine.sync(account, &request).await.unwrap();
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .expect("INBOX synced");
    let page = engine.messages(inbox.id, None, 1).await.unwrap();
    Setup {
        contender,
        _dir: dir,
        engine,
        message: page.items[0].id,
    }
}

/// One download by `contender`; its seconds.
async fn run(
    server: &Dovecot,
    tap: &Tap,
    setups: &[Setup],
    contender: Contender,
    attachment: &Attachment,
) -> Result<f64, String> {
    if contender == Contender::Bare {
        let mut session = raw_session(
            &server.tls(),
            tap.addr(),
            USER,
            server.password(USER),
            false,
        )
        .await;
        session.select("INBOX").await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        {
            let mut responses = session
                .uid_fetch("1:*", "BINARY.PEEK[2]")
                .await
                .map_err(|e| e.to_string())?;
            while let Some(fetch) = responses.try_next().await.map_err(|e| e.to_string())? {
                if let Some(data) = fetch.binary_section(&[2]) {
                    hash.update(data);
                    bytes += data.len() as u64;
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let _ = session.logout().await;
        return if bytes == attachment.decoded_len
            && hex::encode(hash.finalize()) == attachment.sha256
        {
            Ok(seconds)
        } else {
            Err(format!("received {bytes} B that do not match"))
        };
    }
    let setup = setups
        .iter()
        .find(|s| s.contender == contender)
        .ok_or("no setup")?;
    let downloads = tempfile::tempdir().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let path = setup
        .engine
        .download_part(
            setup.message,
            "2",
            downloads.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let got = hex::encode(Sha256::digest(
        std::fs::read(&path).map_err(|e| e.to_string())?,
    ));
    setup
        .engine
        .delete_download(setup.message, "2")
        .await
        .map_err(|e| e.to_string())?;
    if got != attachment.sha256 {
        return Err("the downloaded file does not match".into());
    }
    Ok(seconds)
}

fn print_report(
    mib_count: usize,
    rate: u64,
    runs: usize,
    attachment: &Attachment,
    results: &[Measured],
) {
    let bare = results
        .iter()
        .find(|m| m.contender == Contender::Bare)
        .map_or(f64::NAN, |m| median(m.seconds.iter().copied()));
    println!();
    println!(
        "### Download throughput: one {mib_count} MiB attachment ({} B decoded), {} ms each way, \
         {:.1} MB/s ({:.0} Mbit/s) per direction, COMPRESS off, median of {runs} run(s)",
        attachment.decoded_len,
        DELAY.as_millis(),
        rate as f64 / 1e6,
        rate as f64 * 8.0 / 1e6
    );
    println!();
    println!("| contender | seconds | MB/s | × bare | wire bytes | × decoded | round trips |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for m in results {
        let s = median(m.seconds.iter().copied());
        println!(
            "| {} | {s:.2} | {:.2} | {:.3} | {} | {:.4} | {} |",
            m.contender.name(),
            attachment.decoded_len as f64 / 1e6 / s,
            s / bare,
            m.wire.total(),
            m.wire.total() as f64 / attachment.decoded_len as f64,
            m.wire.round_trips,
        );
    }
    println!();
    for m in results {
        println!("- `{}`: {}", m.contender.name(), m.contender.describe());
    }
    println!(
        "- `bare` and the engine rows count the tap's bytes of the download alone (the bare \
         row also its connection setup); round trips are the tap's turns"
    );
    let pipelined = results
        .iter()
        .find(|m| m.contender == Contender::Pipelined)
        .map_or(f64::NAN, |m| median(m.seconds.iter().copied()));
    let ratio = pipelined / bare;
    println!();
    if ratio <= TARGET {
        println!(
            "PASS: the pipelined download takes {ratio:.3}× the bare fetch (target ≤ {TARGET}×)"
        );
    } else {
        println!(
            "FAIL: the pipelined download takes {ratio:.3}× the bare fetch; the target is ≤ {TARGET}×"
        );
    }
}

/// One message in `maildir`: a short text part and `decoded_len` random bytes as a base64
/// attachment (part 2), streamed to disk.
fn write_message(maildir: &Path, decoded_len: usize) -> std::io::Result<Attachment> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let tmp = maildir.join("tmp").join("download-throughput.anvert");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let boundary = "anvert-bench-boundary";
    write!(
        out,
        "Date: Wed, 01 Jan 2025 00:00:00 +0000\r\n\
         From: Bench Sender <sender@anvert.test>\r\n\
         To: Alice <alice@anvert.test>\r\n\
         Subject: An attachment on a slow link\r\n\
         Message-ID: <download-throughput@anvert.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\
         \r\n\
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
    let mut rng = ChaCha8Rng::seed_from_u64(116);
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
    write!(out, "--{boundary}--\r\n")?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let message_len = file.metadata()?.len();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(DATE.unsigned_abs()))?;
    drop(file);
    let name = format!("{DATE}.M0P0Q0.anvert,S={message_len}:2,");
    std::fs::rename(&tmp, maildir.join("cur").join(name))?;
    Ok(Attachment {
        decoded_len: decoded_len as u64,
        sha256: hex::encode(hash.finalize()),
    })
}
