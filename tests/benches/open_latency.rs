//! The open-latency benchmark: opening synced messages one after another (`Engine::fetch_body`
//! of bodies the store does not have) on a slow link, over a warm account session against
//! the cold path (`SessionConfig { warm: false, .. }`: every open connects, logs in, selects,
//! fetches and logs out), side by side in one run and one process. It prints a markdown table
//! (total time, per-open median and p90, round trips per open counted by the tap, new
//! connections) and the warm/cold ratio against the 0.25 target. It reports; it never fails
//! on a miss (exit status 0), only on a broken run.
//!
//! Setup: a private Dovecot with a generated INBOX (`ANVERT_BENCH_OPEN_MESSAGES`, default
//! 300), reached through the byte tap. Each variant has its own engine and a fresh store, and
//! syncs the headers once without delay (no bodies, no snippets). Then the tap adds 75 ms
//! each way (a 150 ms round trip) and caps each direction at 2 Mbit/s (250,000 bytes per
//! second), and each variant opens the same 20 newest messages (`ANVERT_BENCH_OPENS`). The
//! warm variant runs first, so Dovecot's cache favours the cold one if anything. A cold
//! open does not wait for LOGOUT's reply; its connection's bytes are counted once the
//! connection has closed.
//!
//! Run it with `cargo bench -p anvert-tests --bench open_latency` or `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol, SessionConfig},
    net::Security,
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anvert_tests::{
    bench::{env_number, median},
    client::endpoint,
    dovecot::Dovecot,
    generator::{self, GenConfig, SizeMix},
    tap::{ConnStats, Tap, TapStats},
};

const USER: &str = "alice";
/// Latency the tap adds each way.
const DELAY: Duration = Duration::from_millis(75);
/// 2 Mbit/s, per direction.
const RATE: u64 = 250_000;
/// Warm total time may be at most this fraction of the cold one.
const TARGET_RATIO: f64 = 0.25;
/// The whole measured part may take this long before the bench gives up.
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Warm,
    Cold,
}

impl Variant {
    const ALL: [Variant; 2] = [Variant::Warm, Variant::Cold];

    fn name(self) -> &'static str {
        match self {
            Variant::Warm => "warm",
            Variant::Cold => "cold",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Variant::Warm => {
                "default `SessionConfig`: the connection the sync used stays open and is reused"
            }
            Variant::Cold => {
                "`SessionConfig { warm: false, .. }`: each open connects, logs in and logs out"
            }
        }
    }

    fn session(self) -> SessionConfig {
        match self {
            Variant::Warm => SessionConfig::default(),
            Variant::Cold => SessionConfig {
                warm: false,
                ..SessionConfig::default()
            },
        }
    }
}

/// One variant's engine, synced, and the messages it will open.
struct Setup {
    variant: Variant,
    _dir: tempfile::TempDir,
    engine: Engine,
    messages: Vec<MessageId>,
}

/// What one variant measured.
struct Measured {
    variant: Variant,
    /// Seconds per open, in order.
    opens: Vec<f64>,
    /// The tap's turns during each open (a cold open's LOGOUT reply, not waited for, lands
    /// in the next one's).
    turns: Vec<u64>,
    /// Wire totals of the phase, every connection it opened closed.
    wire: TapStats,
    /// Connections opened during the phase.
    connections: Vec<ConnStats>,
}

fn main() -> ExitCode {
    let count: usize = env_number("ANVERT_BENCH_OPEN_MESSAGES", 300);
    let opens: usize = env_number("ANVERT_BENCH_OPENS", 20).max(1);

    let server = Dovecot::start();
    let started = Instant::now();
    let truths = server.deliver_generated(
        USER,
        None,
        &GenConfig {
            seed: 15,
            count,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    eprintln!(
        "open_latency: delivered {} in {:.1} s",
        generator::mailbox_summary(&truths),
        started.elapsed().as_secs_f64()
    );
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // Setup at full speed: both engines sync their headers; neither stores a body.
    let mut setups = Vec::new();
    for variant in Variant::ALL {
        let setup = runtime.block_on(async {
            tokio::time::timeout(LIMIT, setup(&server, &tap, variant, opens))
                .await
                .expect("setup timed out")
        });
        if setup.messages.len() != opens {
            eprintln!(
                "open_latency: {} has {} messages to open, expected {opens}",
                variant.name(),
                setup.messages.len()
            );
            return ExitCode::FAILURE;
        }
        setups.push(setup);
    }

    tap.set_delay(DELAY);
    tap.set_rate(Some(RATE));
    let mut results = Vec::new();
    for setup in &setups {
        match measure(&runtime, &tap, setup) {
            Ok(m) => results.push(m),
            Err(e) => {
                eprintln!("open_latency: {}: {e}", setup.variant.name());
                return ExitCode::FAILURE;
            }
        }
    }
    tap.clear_faults();
    runtime.block_on(async {
        for setup in &setups {
            let _ = setup.engine.close_connections().await;
        }
    });
    drop(setups);
    drop(runtime);
    drop(tap);
    drop(server);

    print_report(count, opens, &results);
    ExitCode::SUCCESS
}

async fn setup(server: &Dovecot, tap: &Tap, variant: Variant, opens: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        session: variant.session(),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account: AccountId = engine
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
    let started = Instant::now();
    engine.sync(account, &request).await.unwrap();
    eprintln!(
        "open_latency: {} synced in {:.2} s",
        variant.name(),
        started.elapsed().as_secs_f64()
    );
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .expect("INBOX synced");
    let page = engine
        .messages(inbox.id, None, u32::try_from(opens).unwrap())
        .await
        .unwrap();
    Setup {
        variant,
        _dir: dir,
        engine,
        messages: page.items.into_iter().map(|m| m.id).collect(),
    }
}

/// Opens every message of `setup` one after another through the slow tap.
fn measure(
    runtime: &tokio::runtime::Runtime,
    tap: &Tap,
    setup: &Setup,
) -> Result<Measured, String> {
    let before = tap.connections().last().map_or(0, |c| c.id);
    let mark = tap.mark();
    let (opens, turns) = runtime.block_on(async {
        let (mut opens, mut turns) = (Vec::new(), Vec::new());
        for &message in &setup.messages {
            let one = tap.mark();
            let started = Instant::now();
            let body = tokio::time::timeout(
                LIMIT,
                setup.engine.fetch_body(message, NetworkKind::Unmetered),
            )
            .await
            .map_err(|_| format!("opening message {} timed out", message.0))?
            .map_err(|e| format!("opening message {}: {e}", message.0))?;
            opens.push(started.elapsed().as_secs_f64());
            turns.push(tap.stats_since(&one).round_trips);
            if body.text.is_none() && body.html.is_none() {
                return Err(format!("message {} opened without a body", message.0));
            }
        }
        Ok((opens, turns))
    })?;
    // A cold open does not wait for LOGOUT's reply: count its connection once it has closed.
    if setup.variant == Variant::Cold {
        let closed = tap.wait_connections(Duration::from_secs(30), |cs| {
            cs.iter().filter(|c| c.id > before).all(|c| !c.open)
        });
        if !closed {
            return Err("cold connections still open 30 s after the last open".into());
        }
    }
    let wire = tap.stats_since(&mark);
    let connections = tap
        .connections()
        .into_iter()
        .filter(|c| c.id > before)
        .collect();
    eprintln!(
        "open_latency: {} opened {} messages in {:.2} s",
        setup.variant.name(),
        opens.len(),
        opens.iter().sum::<f64>()
    );
    Ok(Measured {
        variant: setup.variant,
        opens,
        turns,
        wire,
        connections,
    })
}

/// The `p`-th percentile (nearest rank); NaN for no values.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Prints the table, the cold connection's round trips, the ratio and the verdict on stdout.
fn print_report(count: usize, opens: usize, results: &[Measured]) {
    println!();
    println!(
        "### Open latency: {opens} messages opened one after another, INBOX of {count} (SizeMix::small), \
         {} ms each way, {} Mbit/s per direction",
        DELAY.as_millis(),
        RATE * 8 / 1_000_000
    );
    println!();
    println!(
        "| variant | total s | per open: median s | p90 s | round trips per open (min–max) | new connections | wire bytes per open |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for m in results {
        let n = m.opens.len().max(1) as f64;
        let min = m.turns.iter().min().copied().unwrap_or(0);
        let max = m.turns.iter().max().copied().unwrap_or(0);
        println!(
            "| {} | {:.2} | {:.3} | {:.3} | {:.2} ({min}–{max}) | {} | {:.0} |",
            m.variant.name(),
            m.opens.iter().sum::<f64>(),
            median(m.opens.iter().copied()),
            percentile(&m.opens, 90.0),
            m.wire.round_trips as f64 / n,
            m.connections.len(),
            m.wire.total() as f64 / n,
        );
    }
    println!();
    for m in results {
        println!("- `{}`: {}", m.variant.name(), m.variant.describe());
    }
    println!();
    if let Some(cold) = results.iter().find(|m| m.variant == Variant::Cold) {
        let trips: Vec<u64> = cold.connections.iter().map(|c| c.round_trips).collect();
        let min = trips.iter().min().copied().unwrap_or(0);
        let max = trips.iter().max().copied().unwrap_or(0);
        println!(
            "cold connection: {min}–{max} round trips on the wire each (the tap's turns: TLS \
             handshake, greeting, login, select, fetch, and LOGOUT's reply, which is not waited for)"
        );
    }
    let total = |wanted: Variant| {
        results
            .iter()
            .find(|m| m.variant == wanted)
            .map_or(f64::NAN, |m| m.opens.iter().sum::<f64>())
    };
    let ratio = total(Variant::Warm) / total(Variant::Cold);
    println!("warm / cold total time: {ratio:.2}×");
    if ratio <= TARGET_RATIO {
        println!("PASS: warm opens take {ratio:.2}× the cold ones (target ≤ {TARGET_RATIO}×)");
    } else {
        println!(
            "FAIL: warm opens take {ratio:.2}× the cold ones; the target is ≤ {TARGET_RATIO}×"
        );
    }
}
