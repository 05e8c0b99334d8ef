//! Helpers shared by the benchmarks (`benches/*.rs`): each contender runs in a child process
//! (the bench binary re-executed with `--child NAME`, the server's address, CA and
//! credentials in `ANVERT_BENCH_*` variables) that prints one `anvert-bench-result key=value …`
//! line on stdout; plus `/proc/self/status` readers, environment readers and small numbers.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use anvert_core::net::{Credential, TlsConnector, Trust};

use crate::{
    dovecot::Dovecot,
    generator::{self, GenConfig, Summary},
};

/// How long one child may run before the parent kills it.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a child's measurement may take before the child gives up by itself (a little
/// less than [`CHILD_TIMEOUT`], so a stuck child panics rather than being killed).
pub const MEASUREMENT_TIMEOUT: Duration = Duration::from_secs(CHILD_TIMEOUT.as_secs() - 10);
/// The start of the line a child prints on stdout with its measurements.
pub const RESULT_PREFIX: &str = "anvert-bench-result";

// ---------------------------------------------------------------------------------------------
// The parent side.

/// The name after `--child`, when this process is a child. `cargo bench` passes `--bench`
/// (and maybe a filter); only `--child NAME` matters. `--child` without a name gives `""`.
pub fn child_name() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--child")?;
    Some(args.get(i + 1).cloned().unwrap_or_default())
}

/// Runs this binary again as `--child name` with `env` added to its environment, and returns
/// the `key=value` fields of the first result line it prints on stdout (its stderr is
/// inherited). Kills the child after `timeout`; a failed child, or one that printed no
/// result line, is an error.
pub fn run_child(
    name: &str,
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(name)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| parse_result(&line))
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let fields = reader
        .join()
        .map_err(|_| "stdout reader panicked".to_string())?;
    match (status.success(), fields) {
        (true, Some(fields)) => Ok(fields),
        (true, None) => Err("the child printed no result line".into()),
        (false, _) => Err(format!("the child failed: {status}")),
    }
}

/// `anvert-bench-result key=value …` as a map (the first value of a repeated key wins).
fn parse_result(line: &str) -> Option<BTreeMap<String, String>> {
    let rest = line.strip_prefix(RESULT_PREFIX)?;
    let mut fields = BTreeMap::new();
    for (key, value) in rest.split_whitespace().filter_map(|kv| kv.split_once('=')) {
        fields
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }
    Some(fields)
}

/// One field of a child's result line, parsed.
pub fn field<T: FromStr>(fields: &BTreeMap<String, String>, name: &str) -> Result<T, String> {
    let value = fields
        .get(name)
        .ok_or_else(|| format!("the result line has no {name}="))?;
    value
        .parse()
        .map_err(|_| format!("the result line's {name}={value:?} does not parse"))
}

/// The variables that tell a child where `server`'s IMAPS listener is, which CA to trust and
/// how `user` logs in; [`ServerEnv::from_env`] reads them back.
pub fn server_env(server: &Dovecot, user: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ANVERT_BENCH_ADDR", server.imaps_addr().to_string()),
        ("ANVERT_BENCH_CA", server.pki.ca_path.display().to_string()),
        ("ANVERT_BENCH_USER", user.to_string()),
        ("ANVERT_BENCH_PASSWORD", server.password(user).to_string()),
    ]
}

/// Reports a broken run (not a missed target) with the tail of the server's log, and stops
/// the server before exiting.
pub fn fail(bench: &str, server: Dovecot, message: &str) -> ExitCode {
    eprintln!("{bench}: {message}\n--- dovecot log (tail) ---");
    let log = server.log();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    for line in tail.into_iter().rev() {
        eprintln!("{line}");
    }
    drop(server);
    ExitCode::FAILURE
}

// ---------------------------------------------------------------------------------------------
// The child side.

/// Where a child finds the server and how it logs in, as [`server_env`] passed it down.
pub struct ServerEnv {
    pub addr: SocketAddr,
    /// The harness CA, PEM.
    pub ca_pem: String,
    pub user: String,
    pub password: String,
}

impl ServerEnv {
    /// Reads the `ANVERT_BENCH_*` variables and the CA file; panics when one is missing.
    pub fn from_env() -> Self {
        ServerEnv {
            addr: env_var("ANVERT_BENCH_ADDR")
                .parse()
                .expect("ANVERT_BENCH_ADDR"),
            ca_pem: std::fs::read_to_string(env_var("ANVERT_BENCH_CA")).expect("the harness CA"),
            user: env_var("ANVERT_BENCH_USER"),
            password: env_var("ANVERT_BENCH_PASSWORD"),
        }
    }

    /// A TLS connector that trusts the harness CA as an extra root.
    pub fn tls(&self) -> TlsConnector {
        let trust = Trust::default().with_extra_roots_pem(&self.ca_pem).unwrap();
        TlsConnector::new(&trust).unwrap()
    }

    pub fn credential(&self) -> Credential {
        Credential::password(&self.user, &self.password)
    }
}

/// Runs `measurement` on a fresh two-worker tokio runtime, panicking after `limit`; the
/// runtime is gone when this returns.
pub fn measure<F: Future>(limit: Duration, measurement: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let output = runtime.block_on(async {
        tokio::time::timeout(limit, measurement)
            .await
            .expect("the measurement timed out")
    });
    drop(runtime);
    output
}

/// Prints the result line [`run_child`] looks for: `anvert-bench-result key=value …`.
pub fn print_result(fields: &[(&str, String)]) {
    let mut line = RESULT_PREFIX.to_string();
    for (key, value) in fields {
        line.push_str(&format!(" {key}={value}"));
    }
    println!("{line}");
}

// ---------------------------------------------------------------------------------------------
// /proc and the environment.

/// A `kB` line of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Resets this process's `VmHWM` to its current RSS; false where the kernel does not allow it.
pub fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}

/// A variable the parent sets for its children; panics when it is missing.
pub fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run without --child)"))
}

/// A numeric setting, `default` when unset; panics when it is not a number.
pub fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// A switch: set, non-empty and not `0`.
pub fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

// ---------------------------------------------------------------------------------------------
// Numbers.

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The median; NaN for no values.
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Generated mailboxes kept between runs.

/// Where generated mailboxes are kept between benchmark runs: `bench-cache` under the target
/// directory (`CARGO_TARGET_DIR`, else the workspace's `target/`). Delete it to regenerate.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-cache")
}

/// Delivers the mailbox `config` generates into `user`'s `folder` (None: INBOX) of `server`,
/// as [`Dovecot::deliver_generated`] does, but generates it only once: the message files are
/// kept under [`cache_dir`] (keyed by the whole config) and later runs hard-link them into the
/// server's Maildir (copy where a link fails). Dovecot never rewrites a message file, it only
/// renames it, so the cache stays intact. Returns the mailbox's summary.
pub fn deliver_cached(
    server: &Dovecot,
    user: &str,
    folder: Option<&str>,
    config: &GenConfig,
) -> Summary {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{config:?}").hash(&mut hasher);
    let dir = cache_dir().join(format!(
        "mailbox-{}-{}-{:016x}",
        config.seed,
        config.count,
        hasher.finish()
    ));
    let cached = dir.join("Maildir");
    let summary_file = dir.join("summary");
    let summary = match read_summary(&summary_file) {
        Some(summary) => summary,
        None => {
            let _ = std::fs::remove_dir_all(&dir);
            let truths = generator::write_maildir(&cached, None, generator::generate(config))
                .expect("write the cached mailbox");
            let summary = generator::mailbox_summary(&truths);
            // Written last: a run cut short regenerates.
            std::fs::write(
                &summary_file,
                format!(
                    "{} {} {} {}",
                    summary.count, summary.total_bytes, summary.attachments, summary.largest
                ),
            )
            .expect("write the cache summary");
            summary
        }
    };
    let dest = generator::create_folder(&server.maildir(user), folder).unwrap();
    for entry in std::fs::read_dir(cached.join("cur")).unwrap() {
        let entry = entry.unwrap();
        let to = dest.join("cur").join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    server.fix_ownership();
    summary
}

fn read_summary(path: &Path) -> Option<Summary> {
    let text = std::fs::read_to_string(path).ok()?;
    let n: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match n[..] {
        [count, total_bytes, attachments, largest] => Some(Summary {
            count: count as usize,
            total_bytes,
            attachments: attachments as usize,
            largest: largest as usize,
        }),
        _ => None,
    }
}
