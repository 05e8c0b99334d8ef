//! The many-accounts benchmark (issue 19, point 4): ten IMAP accounts of one engine synced
//! all at once on the engine's two runtime workers, beside the same ten accounts synced one
//! after another on the same kind of engine. It prints a markdown table (time, messages per
//! second, when the last account's first window was announced) and the concurrent/sequential
//! ratio. It reports; it never fails on a ratio (exit status 0), only on a broken run.
//!
//! Setup: a private Dovecot with ten users, each INBOX a generated mailbox of
//! `ANVERT_BENCH_ACCOUNT_MESSAGES` messages (default 2,000; `SizeMix::small`, a seed per
//! user). Each run is a child process (this binary re-executed with `--child NAME`, the
//! server in `ANVERT_BENCH_*` variables) with a two-worker tokio runtime, as the bindings run
//! the engine, and an `Engine` over a fresh store with the ten accounts; every sync is a task
//! spawned on that runtime, as the bindings spawn every call:
//! - `sequential`: account 1's sync, awaited, then account 2's, … (the baseline);
//! - `concurrent`: the ten syncs spawned at once, then all awaited.
//!
//! Every account syncs every folder, every message, headers only (no snippets, no prefetch).
//! The clock runs from the first sync's start to the last sync's return; opening the store
//! and adding the accounts come before it. One untimed warm-up run first (Dovecot builds its
//! index caches on the first fetch), then `ANVERT_BENCH_ROUNDS` (default 3) of each mode in
//! rotating order; the table shows medians.
//!
//! Run it with `cargo bench -p anvert-tests --bench many_accounts` or `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anvert_core::{
    engine::{Engine, EngineConfig},
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    store::FolderId,
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    accounts::{self, add_accounts, dovecot_with_inboxes},
    bench::{self, CHILD_TIMEOUT, MEASUREMENT_TIMEOUT, ServerEnv, env_number, median},
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
};

const ACCOUNTS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sequential,
    Concurrent,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::Sequential, Mode::Concurrent];

    fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Concurrent => "concurrent",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Mode::Sequential => "one account's sync after another, each awaited (the baseline)",
            Mode::Concurrent => "the ten syncs spawned at once, then all awaited",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// What one child run reports.
#[derive(Debug, Clone, Copy)]
struct Sample {
    messages: u64,
    seconds: f64,
    /// When the last account to announce its first window did so, from the clock's start.
    last_first_window: f64,
    /// The earliest of the syncs' returns, from the clock's start.
    first_return: f64,
}

impl Sample {
    fn from_fields(fields: &BTreeMap<String, String>) -> Result<Sample, String> {
        Ok(Sample {
            messages: bench::field(fields, "messages")?,
            seconds: bench::field(fields, "seconds")?,
            last_first_window: bench::field(fields, "last_first_window")?,
            first_return: bench::field(fields, "first_return")?,
        })
    }
}

fn main() -> ExitCode {
    if let Some(name) = bench::child_name() {
        let mode = Mode::from_name(&name).expect("--child sequential|concurrent");
        return child(mode);
    }
    parent()
}

// ---------------------------------------------------------------------------------------------
// The parent: server, mailboxes, children, table.

fn parent() -> ExitCode {
    let count: usize = env_number("ANVERT_BENCH_ACCOUNT_MESSAGES", 2_000);
    let rounds: usize = env_number("ANVERT_BENCH_ROUNDS", 3).max(1);

    let started = Instant::now();
    let inboxes: Vec<GenConfig> = (0..ACCOUNTS)
        .map(|i| GenConfig {
            seed: 19_400 + i as u64,
            count,
            mix: SizeMix::small(),
            ..GenConfig::default()
        })
        .collect();
    let (server, _) = dovecot_with_inboxes(&inboxes);
    eprintln!(
        "many_accounts: delivered {ACCOUNTS} × {count} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let expect = (ACCOUNTS * count) as u64;
    let mut env = bench::server_env(&server, &accounts::user(0));
    env.push(("ANVERT_BENCH_ACCOUNT_MESSAGES", count.to_string()));

    // Warm-up: Dovecot's index caches and modseqs are built on the first fetch of each INBOX.
    match run_child(Mode::Concurrent, &env) {
        Ok(s) => eprintln!("many_accounts: warm-up {:.2} s", s.seconds),
        Err(e) => return fail(server, &format!("warm-up: {e}")),
    }

    let mut samples: Vec<(Mode, Vec<Sample>)> =
        Mode::ALL.iter().map(|m| (*m, Vec::new())).collect();
    for round in 0..rounds {
        // Rotate the order each round so no mode always runs right after the other.
        for k in 0..Mode::ALL.len() {
            let mode = Mode::ALL[(round + k) % Mode::ALL.len()];
            let sample = match run_child(mode, &env) {
                Ok(s) => s,
                Err(e) => return fail(server, &format!("{}: {e}", mode.name())),
            };
            eprintln!(
                "many_accounts: round {} {:<10} {:.3} s (last first window {:.3} s)",
                round + 1,
                mode.name(),
                sample.seconds,
                sample.last_first_window
            );
            if sample.messages != expect {
                return fail(
                    server,
                    &format!(
                        "{} stored {} messages, expected {expect}",
                        mode.name(),
                        sample.messages
                    ),
                );
            }
            samples
                .iter_mut()
                .find(|(m, _)| *m == mode)
                .expect("every mode has a slot")
                .1
                .push(sample);
        }
    }
    drop(server);

    print_report(count, rounds, &samples);
    ExitCode::SUCCESS
}

fn print_report(count: usize, rounds: usize, samples: &[(Mode, Vec<Sample>)]) {
    println!();
    println!(
        "### Many accounts: {ACCOUNTS} accounts × {count} messages (SizeMix::small), headers \
         only, one engine on 2 workers, {rounds} runs each, one child process per run"
    );
    println!();
    println!(
        "| mode | messages | seconds (median, min) | messages/s | last account's first window s | first sync returned s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, runs) in samples {
        let seconds = median(runs.iter().map(|s| s.seconds));
        let min = runs.iter().map(|s| s.seconds).fold(f64::INFINITY, f64::min);
        let messages = runs.first().map_or(0, |s| s.messages);
        println!(
            "| {} | {messages} | {seconds:.3} ({min:.3}) | {:.0} | {:.3} | {:.3} |",
            mode.name(),
            messages as f64 / seconds,
            median(runs.iter().map(|s| s.last_first_window)),
            median(runs.iter().map(|s| s.first_return)),
        );
    }
    println!();
    for (mode, _) in samples {
        println!("- `{}`: {}", mode.name(), mode.describe());
    }
    println!();
    let time_of = |wanted: Mode| {
        samples
            .iter()
            .find(|(m, _)| *m == wanted)
            .map(|(_, runs)| median(runs.iter().map(|s| s.seconds)))
            .unwrap_or(f64::NAN)
    };
    let ratio = time_of(Mode::Concurrent) / time_of(Mode::Sequential);
    println!("concurrent / sequential time (medians): {ratio:.2}×");
}

fn fail(server: Dovecot, message: &str) -> ExitCode {
    bench::fail("many_accounts", server, message)
}

fn run_child(mode: Mode, env: &[(&str, String)]) -> Result<Sample, String> {
    Sample::from_fields(&bench::run_child(mode.name(), env, CHILD_TIMEOUT)?)
}

// ---------------------------------------------------------------------------------------------
// The child: one engine, ten accounts, one mode.

/// When each folder's first window was announced.
#[derive(Default)]
struct FirstWindows(Mutex<BTreeMap<FolderId, Instant>>);

impl EventSink for FirstWindows {
    fn emit(&self, event: SyncEvent) {
        if let SyncEvent::MessagesAdded { folder, .. } = event {
            self.0
                .lock()
                .unwrap()
                .entry(folder)
                .or_insert_with(Instant::now);
        }
    }
}

fn child(mode: Mode) -> ExitCode {
    let sample = bench::measure(MEASUREMENT_TIMEOUT, run(mode));
    bench::print_result(&[
        ("messages", sample.messages.to_string()),
        ("seconds", format!("{:.6}", sample.seconds)),
        (
            "last_first_window",
            format!("{:.6}", sample.last_first_window),
        ),
        ("first_return", format!("{:.6}", sample.first_return)),
    ]);
    ExitCode::SUCCESS
}

async fn run(mode: Mode) -> Sample {
    let server = ServerEnv::from_env();
    let count = bench::env_number("ANVERT_BENCH_ACCOUNT_MESSAGES", 2_000) as u64;
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        Engine::open(EngineConfig {
            data_dir: dir.path().to_path_buf(),
            extra_roots_pem: Some(server.ca_pem.clone()),
            ..EngineConfig::default()
        })
        .await
        .unwrap(),
    );
    let firsts = Arc::new(FirstWindows::default());
    engine.set_listener(Some(firsts.clone()));
    let accounts = add_accounts(&engine, server.addr, ACCOUNTS).await;
    let request = SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        content: Some(ContentPolicy {
            snippets: false,
            prefetch_bodies: 0,
            prefetch_attachments_max: None,
            ..ContentPolicy::for_network(NetworkKind::Unmetered)
        }),
        ..SyncRequest::default()
    };

    let started = Instant::now();
    let spawn = |account| {
        let (engine, request) = (engine.clone(), request.clone());
        tokio::spawn(async move {
            let report = engine.sync(account, &request).await.unwrap();
            (report, started.elapsed())
        })
    };
    let results = match mode {
        Mode::Sequential => {
            let mut results = Vec::new();
            for account in &accounts {
                results.push(spawn(*account).await.unwrap());
            }
            results
        }
        Mode::Concurrent => {
            let tasks: Vec<_> = accounts.iter().map(|a| spawn(*a)).collect();
            futures::future::join_all(tasks)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .collect()
        }
    };
    let seconds = started.elapsed().as_secs_f64();

    let mut messages = 0;
    let mut last_first_window = Duration::ZERO;
    for (account, (report, _)) in accounts.iter().zip(&results) {
        assert!(report.errors.is_empty(), "sync errors: {:?}", report.errors);
        assert_eq!(report.added(), count, "account {}", account.0);
        messages += report.added();
        let inbox = engine
            .folders(*account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == "INBOX")
            .unwrap();
        let first = firsts.0.lock().unwrap()[&inbox.id];
        last_first_window = last_first_window.max(first.duration_since(started));
    }
    let first_return = results.iter().map(|(_, t)| *t).min().unwrap_or_default();
    engine.close_connections().await.unwrap();
    Sample {
        messages,
        seconds,
        last_first_window: last_first_window.as_secs_f64(),
        first_return: first_return.as_secs_f64(),
    }
}
