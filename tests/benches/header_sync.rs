//! The header-sync benchmark: a headers-first sync of a whole generated INBOX (10,000
//! messages by default) against a private Dovecot, beside a bare `UID FETCH 1:*` of the same
//! items done in the same run without converting or storing anything. It prints a markdown
//! table (time, messages per second, peak memory) and whether the engine is within 1.3× of the
//! bare fetch and within 32 MiB of peak RSS (issue 19's targets, at 10,000 and 100,000 messages). It reports; it never fails on a miss (exit status 0), only on a broken run.
//!
//! Each contender runs in its own child process (this binary re-executed with `--child NAME`,
//! the server's address and credentials in `ANVERT_BENCH_*` variables), so peak RSS
//! (`VmHWM`) is per contender and the child's idle RSS right after startup can be subtracted.
//!
//! Contenders, each run `ANVERT_BENCH_ROUNDS` times (default 3) in rotating order after one
//! untimed warm-up (Dovecot builds its index cache on the first fetch):
//! - `raw`: async-imap over verified TLS with COMPRESS=DEFLATE, `UID FETCH 1:* <items>`, the
//!   responses counted and dropped;
//! - `raw-plain`: the same without COMPRESS (informational);
//! - `anvert`: a fresh SQLite store, `sync_imap_account` of INBOX with
//!   `SyncWindow::everything()` and no content beyond headers. The sync stores its windows
//!   without their search rows (migration 0021); the search index pass the engine runs after
//!   a sync is then timed apart, with its CPU, in the last two columns, and a line gives the
//!   ratio of the sync and the pass together to the raw fetch.
//!
//! Each timing runs from the TCP connect to LOGOUT; building the TLS config and opening the
//! store come before the clock. Beside each time the table gives the CPU the child spent over
//! it (every thread) and Dovecot's (every process of the server, read from `/proc` before and
//! after the run, once the session's `imap` process has ended), and a last line what the 1.3×
//! target leaves the engine: the two share this machine's cores, so the engine may spend at
//! most cores × 1.3 × the raw time, less what the server spent serving it.
//!
//! `ANVERT_BENCH_MESSAGES` sets the mailbox size (generated once and
//! kept under `target/bench-cache`; `scripts/bench.sh --large` sets 100,000),
//! `ANVERT_BENCH_ROUNDS` the runs per contender; `ANVERT_BENCH_PHASES=1` makes every child
//! print its CPU time per thread, and the `anvert` child when each window was committed.
//!
//! Run it with `cargo bench -p anvert-tests --bench header_sync` or `scripts/bench.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::Mutex,
    time::{Duration, Instant},
};

use anvert_core::{
    imap::{self, ConnectOptions, SummaryItems},
    net::{Security, WireMeter},
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
    sync::{EventSink, SyncEvent},
};
use anvert_tests::{
    bench::{
        self, CHILD_TIMEOUT, MEASUREMENT_TIMEOUT, ServerEnv, env_flag, env_number, median, mib,
        proc_status_kib,
    },
    client::{SyncClient, endpoint, raw_session},
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    proc_cpu,
};
use futures::TryStreamExt;

/// The engine's time may be at most this multiple of the raw fetch's (issue 19).
const TARGET_RATIO: f64 = 1.3;
/// The engine's peak RSS may be at most this many MiB, at any mailbox size (issue 19).
const TARGET_PEAK_MIB: f64 = 32.0;
const USER: &str = "alice";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Raw,
    RawPlain,
    Anvert,
}

impl Contender {
    const ALL: [Contender; 3] = [Contender::Raw, Contender::RawPlain, Contender::Anvert];

    fn name(self) -> &'static str {
        match self {
            Contender::Raw => "raw",
            Contender::RawPlain => "raw-plain",
            Contender::Anvert => "anvert",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Contender::Raw => "bare `UID FETCH 1:*`, COMPRESS, responses counted",
            Contender::RawPlain => "bare `UID FETCH 1:*`, no COMPRESS (informational)",
            Contender::Anvert => {
                "`sync_imap_account`, everything, SQLite writes; then, timed apart, the search index pass"
            }
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What one child run reports.
#[derive(Debug, Clone, Copy)]
struct Sample {
    messages: u64,
    seconds: f64,
    idle_kib: u64,
    peak_kib: u64,
    /// The child's CPU time over the measurement, every thread, in ms.
    client_cpu_ms: u64,
    /// Dovecot's CPU time over the run (every process of the server), in ms.
    server_cpu_ms: u64,
    /// The engine's search index pass after the sync (migration 0021), not in `seconds` or
    /// `client_cpu_ms`; zero for the bare fetches.
    index: IndexPass,
}

/// The search index pass the engine runs after a header sync: the sync stores its windows
/// without their search rows, and this pass adds them.
#[derive(Debug, Clone, Copy, Default)]
struct IndexPass {
    seconds: f64,
    cpu_ms: u64,
}

impl Sample {
    /// From the child's result line: `messages=N seconds=S idle_kib=I peak_kib=P cpu_ms=C`.
    fn from_fields(fields: &BTreeMap<String, String>) -> Result<Sample, String> {
        Ok(Sample {
            messages: bench::field(fields, "messages")?,
            seconds: bench::field(fields, "seconds")?,
            idle_kib: bench::field(fields, "idle_kib")?,
            peak_kib: bench::field(fields, "peak_kib")?,
            client_cpu_ms: bench::field(fields, "cpu_ms")?,
            server_cpu_ms: 0,
            index: IndexPass {
                seconds: bench::field(fields, "index_seconds")?,
                cpu_ms: bench::field(fields, "index_cpu_ms")?,
            },
        })
    }
}

fn main() -> ExitCode {
    if let Some(name) = bench::child_name() {
        let contender = Contender::from_name(&name).expect("--child raw|raw-plain|anvert");
        return child(contender);
    }
    parent()
}

// ---------------------------------------------------------------------------------------------
// The parent: server, mailbox, children, table.

fn parent() -> ExitCode {
    let count: usize = env_number("ANVERT_BENCH_MESSAGES", 10_000);
    let rounds: usize = env_number("ANVERT_BENCH_ROUNDS", 3).max(1);

    let server = Dovecot::start();
    let started = Instant::now();
    let summary = bench::deliver_cached(
        &server,
        USER,
        None,
        &GenConfig {
            seed: 10_000,
            count,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    eprintln!(
        "header_sync: delivered {summary} in {:.1} s (generated once, then kept in {})",
        started.elapsed().as_secs_f64(),
        bench::cache_dir().display()
    );
    let expect = count as u64;
    let mut env = bench::server_env(&server, USER);
    env.push(("ANVERT_BENCH_EXPECT", expect.to_string()));

    // Warm-up: Dovecot parses every message and fills its cache on the first FETCH of these
    // items, and adds modseqs on the first CONDSTORE access. Neither is what we measure.
    for contender in [Contender::Raw, Contender::Anvert] {
        match run_child(&server, contender, &env) {
            Ok(s) => eprintln!(
                "header_sync: warm-up {:<9} {:.2} s",
                contender.name(),
                s.seconds
            ),
            Err(e) => return fail(server, &format!("warm-up {}: {e}", contender.name())),
        }
    }

    let mut samples: Vec<(Contender, Vec<Sample>)> =
        Contender::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for round in 0..rounds {
        // Rotate the order each round so no contender always runs right after another.
        for k in 0..Contender::ALL.len() {
            let contender = Contender::ALL[(round + k) % Contender::ALL.len()];
            let sample = match run_child(&server, contender, &env) {
                Ok(s) => s,
                Err(e) => return fail(server, &format!("{}: {e}", contender.name())),
            };
            eprintln!(
                "header_sync: round {} {:<9} {:.3} s, peak {:.1} MiB",
                round + 1,
                contender.name(),
                sample.seconds,
                mib(sample.peak_kib)
            );
            if sample.messages != expect {
                return fail(
                    server,
                    &format!(
                        "{} saw {} messages, expected {}",
                        contender.name(),
                        sample.messages,
                        expect
                    ),
                );
            }
            samples
                .iter_mut()
                .find(|(c, _)| *c == contender)
                .expect("every contender has a slot")
                .1
                .push(sample);
        }
    }
    drop(server);

    print_report(count, rounds, &samples);
    ExitCode::SUCCESS
}

/// Prints the table, the ratio and the verdict on stdout.
fn print_report(count: usize, rounds: usize, samples: &[(Contender, Vec<Sample>)]) {
    println!();
    println!(
        "### Header sync: {count} messages (SizeMix::small), {rounds} runs each, one child process per run"
    );
    println!();
    println!(
        "| contender | messages | seconds (median, min) | messages/s | idle RSS MiB | peak RSS MiB | RSS above idle MiB | client CPU ms | server CPU ms | index pass s | index pass CPU ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (contender, runs) in samples {
        let median = median(runs.iter().map(|s| s.seconds));
        let min = runs.iter().map(|s| s.seconds).fold(f64::INFINITY, f64::min);
        // Memory: the worst run (peaks are what a phone has to have free).
        let idle = runs.iter().map(|s| s.idle_kib).max().unwrap_or(0);
        let peak = runs.iter().map(|s| s.peak_kib).max().unwrap_or(0);
        let above = runs
            .iter()
            .map(|s| s.peak_kib.saturating_sub(s.idle_kib))
            .max()
            .unwrap_or(0);
        let messages = runs.first().map_or(0, |s| s.messages);
        let client = bench::median(runs.iter().map(|s| s.client_cpu_ms as f64));
        let server = bench::median(runs.iter().map(|s| s.server_cpu_ms as f64));
        let pass = bench::median(runs.iter().map(|s| s.index.seconds));
        let pass_cpu = bench::median(runs.iter().map(|s| s.index.cpu_ms as f64));
        println!(
            "| {} | {messages} | {median:.3} ({min:.3}) | {:.0} | {:.1} | {:.1} | {:.1} | {client:.0} | {server:.0} | {pass:.3} | {pass_cpu:.0} |",
            contender.name(),
            messages as f64 / median,
            mib(idle),
            mib(peak),
            mib(above),
        );
    }
    println!();
    for (contender, _) in samples {
        println!("- `{}`: {}", contender.name(), contender.describe());
    }
    println!();
    let time_of = |wanted: Contender| {
        samples
            .iter()
            .find(|(c, _)| *c == wanted)
            .map(|(_, runs)| median(runs.iter().map(|s| s.seconds)))
            .unwrap_or(f64::NAN)
    };
    let ratio = time_of(Contender::Anvert) / time_of(Contender::Raw);
    println!("anvert / raw time (medians): {ratio:.2}×");
    // The sync and the index pass after it, run by run: what the engine's `sync` call takes
    // in all (the app's message list is complete at the sync's end).
    let with_pass = samples
        .iter()
        .find(|(c, _)| *c == Contender::Anvert)
        .map(|(_, runs)| median(runs.iter().map(|s| s.seconds + s.index.seconds)))
        .unwrap_or(f64::NAN);
    println!(
        "anvert with its search index pass / raw time (medians): {:.2}× ({with_pass:.3} s)",
        with_pass / time_of(Contender::Raw)
    );
    print_budget(samples, time_of(Contender::Raw));
    if ratio <= TARGET_RATIO {
        println!("PASS: header sync is within {TARGET_RATIO}× of the raw fetch ({ratio:.2}×)");
    } else {
        println!("FAIL: header sync is {ratio:.2}× the raw fetch; the target is {TARGET_RATIO}×");
    }
    let peak = samples
        .iter()
        .find(|(c, _)| *c == Contender::Anvert)
        .and_then(|(_, runs)| runs.iter().map(|s| s.peak_kib).max())
        .map_or(f64::NAN, mib);
    if peak <= TARGET_PEAK_MIB {
        println!("PASS: the engine's peak RSS is {peak:.1} MiB, within {TARGET_PEAK_MIB} MiB");
    } else {
        println!(
            "FAIL: the engine's peak RSS is {peak:.1} MiB; the target is {TARGET_PEAK_MIB} MiB"
        );
    }
}

/// The CPU the target leaves the engine: the server and the engine share this machine's
/// cores, so within 1.3× of the raw fetch both together get at most cores × 1.3 × its time,
/// all cores busy all the time. What the server spends serving the engine (its median) is
/// not the engine's to spend.
fn print_budget(samples: &[(Contender, Vec<Sample>)], raw_seconds: f64) {
    let Some((_, runs)) = samples.iter().find(|(c, _)| *c == Contender::Anvert) else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client = median(runs.iter().map(|s| s.client_cpu_ms as f64));
    let server = median(runs.iter().map(|s| s.server_cpu_ms as f64));
    let within = cores as f64 * TARGET_RATIO * raw_seconds * 1000.0;
    println!(
        "CPU budget at {TARGET_RATIO}×: {cores} cores × {:.0} ms = {within:.0} ms; the server took {server:.0} ms of it, leaving the engine at most {:.0} ms (it used {client:.0} ms)",
        TARGET_RATIO * raw_seconds * 1000.0,
        within - server
    );
}

/// Reports a broken run (not a missed target) and stops the server before exiting.
fn fail(server: Dovecot, message: &str) -> ExitCode {
    bench::fail("header_sync", server, message)
}

/// Runs one contender in a child process and reads its result line; kills it after
/// [`CHILD_TIMEOUT`]. Dovecot's CPU time is read before and after, once the session's `imap`
/// process has ended (its time then counts in the master's, once).
fn run_child(
    server: &Dovecot,
    contender: Contender,
    env: &[(&str, String)],
) -> Result<Sample, String> {
    let master = server.pid().ok_or("dovecot is not running")?;
    let before = proc_cpu::tree_cpu_ms(master);
    let mut sample = Sample::from_fields(&bench::run_child(contender.name(), env, CHILD_TIMEOUT)?)?;
    if !proc_cpu::wait_until_gone(master, "imap", Duration::from_secs(10)) {
        return Err("dovecot's imap process outlived the session".into());
    }
    sample.server_cpu_ms = proc_cpu::tree_cpu_ms(master).saturating_sub(before);
    Ok(sample)
}

// ---------------------------------------------------------------------------------------------
// The child: one contender, one measurement.

fn child(contender: Contender) -> ExitCode {
    // Before anything else: the idle footprint of this binary.
    let idle_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let cpu_before = proc_cpu::own_cpu_ms();
    let (messages, seconds, index) = bench::measure(MEASUREMENT_TIMEOUT, async {
        match contender {
            Contender::Raw => with_no_pass(raw_fetch(true).await),
            Contender::RawPlain => with_no_pass(raw_fetch(false).await),
            Contender::Anvert => anvert_sync().await,
        }
    });
    let cpu_ms = proc_cpu::own_cpu_ms()
        .saturating_sub(cpu_before)
        .saturating_sub(index.cpu_ms);
    let peak_kib = proc_status_kib("VmHWM").unwrap_or(0);
    bench::print_result(&[
        ("messages", messages.to_string()),
        ("seconds", format!("{seconds:.6}")),
        ("idle_kib", idle_kib.to_string()),
        ("peak_kib", peak_kib.to_string()),
        ("cpu_ms", cpu_ms.to_string()),
        ("index_seconds", format!("{:.6}", index.seconds)),
        ("index_cpu_ms", index.cpu_ms.to_string()),
    ]);
    ExitCode::SUCCESS
}

fn with_no_pass((messages, seconds): (u64, f64)) -> (u64, f64, IndexPass) {
    (messages, seconds, IndexPass::default())
}

/// The bare fetch: TLS, LOGIN, COMPRESS (when `compress`), SELECT, one `UID FETCH 1:*` of the
/// engine's items with every response counted and dropped, LOGOUT.
async fn raw_fetch(compress: bool) -> (u64, f64) {
    let server = ServerEnv::from_env();
    let tls = server.tls();
    let items = SummaryItems {
        preview: true,
        modseq: true,
        references: true,
        objectid: false,
    }
    .render();
    let started = Instant::now();
    let mut session =
        raw_session(&tls, server.addr, &server.user, &server.password, compress).await;
    session.select("INBOX").await.unwrap();
    let mut count = 0u64;
    {
        let mut responses = session.uid_fetch("1:*", &items).await.unwrap();
        while responses.try_next().await.unwrap().is_some() {
            count += 1;
        }
    }
    session.logout().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    if phases_enabled() {
        print_thread_cpu();
    }
    (count, seconds)
}

/// The engine: a fresh store, then connect, `sync_imap_account` of INBOX (every message,
/// headers only), LOGOUT; timed up to there. Then, timed apart, the search index pass the
/// engine runs after a sync (`Store::index_pending`), which must index every message synced.
async fn anvert_sync() -> (u64, f64, IndexPass) {
    let server = ServerEnv::from_env();
    let tls = server.tls();
    let credential = server.credential();
    let client = SyncClient::new().await;
    let request = SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        // Headers only: no snippets, no prefetched bodies or attachments.
        content: Some(ContentPolicy {
            snippets: false,
            prefetch_bodies: 0,
            prefetch_attachments_max: None,
            ..ContentPolicy::for_network(NetworkKind::Unmetered)
        }),
        ..SyncRequest::default()
    };
    let phases = PhaseLog::new(phases_enabled());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    let started = Instant::now();
    let meter = WireMeter::new();
    let mut session = imap::connect(
        &endpoint(server.addr, Security::ImplicitTls),
        &credential,
        &tls,
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    let connected = started.elapsed();
    let report = anvert_core::sync::sync_imap_account_with(
        &mut session,
        &client.store,
        client.account,
        &request,
        now,
        &phases,
    )
    .await
    .unwrap();
    let synced = started.elapsed();
    session.logout().await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(report.errors.is_empty(), "sync errors: {:?}", report.errors);
    phases.print(started, connected, synced, report.bytes.total());

    let cpu_before = proc_cpu::own_cpu_ms();
    let pass_started = Instant::now();
    let indexed = client.store.index_pending().await.unwrap();
    let index = IndexPass {
        seconds: pass_started.elapsed().as_secs_f64(),
        cpu_ms: proc_cpu::own_cpu_ms().saturating_sub(cpu_before),
    };
    assert_eq!(indexed, report.added(), "the index pass missed messages");
    (report.added(), seconds, index)
}

/// With `ANVERT_BENCH_PHASES` set: when each window was committed, and the CPU time per
/// thread, on stderr.
struct PhaseLog {
    enabled: bool,
    /// When each window was committed, the messages synced by then, and the RSS (KiB).
    commits: Mutex<Vec<(Instant, u32, u64)>>,
}

impl PhaseLog {
    fn new(enabled: bool) -> Self {
        PhaseLog {
            enabled,
            commits: Mutex::new(Vec::new()),
        }
    }

    fn print(&self, started: Instant, connected: Duration, synced: Duration, wire_bytes: u64) {
        if !self.enabled {
            return;
        }
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        eprintln!("  phases: connect+login+compress {:.1} ms", ms(connected));
        let mut last = (started + connected, 0u32);
        for (at, synced, rss) in self.commits.lock().unwrap().iter() {
            let took = at.duration_since(last.0);
            let n = synced - last.1;
            eprintln!(
                "  phases: window of {n:>5} committed at {:>8.1} ms (+{:>7.1} ms, {:>6.1} µs/message), RSS {:.1} MiB",
                ms(at.duration_since(started)),
                ms(took),
                took.as_secs_f64() * 1e6 / f64::from(n.max(1)),
                mib(*rss),
            );
            last = (*at, *synced);
        }
        eprintln!(
            "  phases: after the last commit {:.1} ms, logout {:.1} ms; {wire_bytes} wire bytes",
            ms(synced.saturating_sub(last.0.duration_since(started))),
            ms(started.elapsed().saturating_sub(synced)),
        );
        print_thread_cpu();
    }
}

impl EventSink for PhaseLog {
    fn emit(&self, event: SyncEvent) {
        if let (true, SyncEvent::Progress { synced, .. }) = (self.enabled, event) {
            let rss = proc_status_kib("VmRSS").unwrap_or(0);
            self.commits
                .lock()
                .unwrap()
                .push((Instant::now(), synced, rss));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn phases_enabled() -> bool {
    env_flag("ANVERT_BENCH_PHASES")
}

/// CPU time (user + system) of each live thread of this process, from `/proc/self/task`,
/// summed by thread name, on stderr. Shows whether a contender waits or works, and where.
fn print_thread_cpu() {
    // Per thread name: user ticks, system ticks, threads.
    let mut by_name: std::collections::BTreeMap<String, (u64, u64, usize)> = Default::default();
    let tasks = std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten();
    for task in tasks {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `tid (comm) state ppid …`: utime and stime are fields 14 and 15, in clock ticks.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let entry = by_name
            .entry(stat[open + 1..close].to_string())
            .or_default();
        entry.0 += ticks(11);
        entry.1 += ticks(12);
        entry.2 += 1;
    }
    for (name, (user, system, threads)) in by_name {
        // USER_HZ is 100 on every Linux we run on.
        eprintln!(
            "  cpu: {name:<16} {threads} thread(s) {:>6} ms ({} ms user, {} ms system)",
            (user + system) * 10,
            user * 10,
            system * 10
        );
    }
    // Bytes this process passed to read and write calls (sockets and files alike): for the
    // engine mostly SQLite's log and database writes.
    if let Ok(io) = std::fs::read_to_string("/proc/self/io") {
        let field = |key: &str| {
            io.lines()
                .find_map(|line| line.strip_prefix(key)?.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        eprintln!(
            "  io: {:.1} MiB read, {:.1} MiB written",
            mib(field("rchar:") / 1024),
            mib(field("wchar:") / 1024)
        );
    }
}
