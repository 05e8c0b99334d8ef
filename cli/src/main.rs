//! `anvert`: a developer's command line for trying the engine against a real server.
//! Passwords come from `ANVERT_PASSWORD` or a prompt (no echo), never from argv. Everything
//! goes through the same `Engine` API the mobile bindings wrap; this crate only presents.
//! `--json` prints one JSON document on stdout per command that prints data; exit statuses
//! are in `exit`.

mod accounts;
mod change;
mod doc;
mod doctor;
mod exit;
mod get;
mod output;
mod progress;
mod read;
mod search;
mod send;
mod watch;
mod width;

use std::{io::Write, path::PathBuf, process::ExitCode, sync::Arc};

use anvert_core::{
    engine::{Engine, EngineConfig},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "anvert",
    about = "Anvert mail engine: try it against a real server",
    after_help = "Exit status: 0 ok, 1 error, 2 usage, 3 authentication, 4 TLS, 5 network, \
                  130 interrupted."
)]
struct Cli {
    /// Where the engine keeps its store and downloads.
    #[arg(long, global = true, default_value = "anvert-data")]
    data_dir: PathBuf,
    /// An extra CA certificate (PEM) to trust, e.g. a private test CA.
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text (fields: README, "JSON output").
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NetworkArg {
    Unmetered,
    Metered,
    Roaming,
    Offline,
}

impl NetworkArg {
    pub fn kind(self) -> NetworkKind {
        match self {
            NetworkArg::Unmetered => NetworkKind::Unmetered,
            NetworkArg::Metered => NetworkKind::Metered,
            NetworkArg::Roaming => NetworkKind::Roaming,
            NetworkArg::Offline => NetworkKind::Offline,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Options every changing command takes.
#[derive(clap::Args)]
struct WriteBack {
    /// Write the change back to the server now (a sync), rather than on the next sync.
    #[arg(long)]
    now: bool,
    #[arg(long, value_enum, default_value = "unmetered")]
    network: NetworkArg,
}

#[derive(Subcommand)]
enum Command {
    /// Manage accounts.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// Sync headers first, with progress per folder, then report the bytes on the wire
    /// against what downloading the same messages whole would have cost. Exits non-zero
    /// when any folder failed (after the whole report).
    Sync {
        /// The account id (default: the first account).
        #[arg(long)]
        account: Option<i64>,
        #[arg(long, value_enum, default_value = "unmetered")]
        network: NetworkArg,
        /// Stop at a clean point after this many wire bytes.
        #[arg(long)]
        budget: Option<u64>,
        /// Sync every message, not just the default window (30 days, at least 200).
        #[arg(long)]
        all: bool,
    },
    /// List folders, or a page of a folder's newest messages (or their attachments).
    Ls {
        folder: Option<String>,
        #[arg(long)]
        account: Option<i64>,
        /// How many rows to print.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// List the attachments of the folder's newest messages instead, one per line:
        /// message id, section and size, what `anvert get` takes.
        #[arg(long, visible_alias = "with-attachments")]
        attachments: bool,
        /// Start below this message (the next page after it).
        #[arg(long, conflicts_with = "cursor")]
        before: Option<i64>,
        /// Start at the page cursor an earlier `ls` printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one message's headers and parts (section, type, size, file name, download state).
    Show { id: i64 },
    /// Print a message's readable body: from the store, or fetched now (the text part only)
    /// with the bytes it cost.
    Open {
        id: i64,
        #[arg(long, value_enum, default_value = "unmetered")]
        network: NetworkArg,
    },
    /// The messages of a message's thread, oldest first.
    Thread { id: i64 },
    /// Download one part of a message into a directory, with a progress bar. Resumable:
    /// Ctrl-C stops within one chunk, and the same command again continues from there.
    Get {
        /// The message id (from `anvert ls`).
        id: i64,
        /// The part's IMAP section (from `anvert show`), e.g. "2" or "1.2".
        section: String,
        /// The directory to download into (created if missing).
        dest: PathBuf,
        #[arg(long, value_enum, default_value = "unmetered")]
        network: NetworkArg,
        /// Stop (as Ctrl-C does) once this many bytes of the part have arrived: a
        /// deterministic interruption, to try resuming.
        #[arg(long, value_name = "BYTES")]
        stop_after: Option<u64>,
    },
    /// Set or clear flags: `anvert flag 12 13 +seen -flagged '$Work'`.
    Flag {
        /// Message ids, then [+-]seen|flagged|answered|draft|KEYWORD (no sign: set).
        #[arg(required = true, num_args = 2.., allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        write: WriteBack,
    },
    /// Move messages to a folder: `anvert move 12 13 Archive`.
    Move {
        /// Message ids, then the folder.
        #[arg(required = true, num_args = 2..)]
        args: Vec<String>,
        #[command(flatten)]
        write: WriteBack,
    },
    /// Delete messages (to the Trash, or expunged when there is none or they are in it).
    Delete {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[command(flatten)]
        write: WriteBack,
    },
    /// Expunge every message of the account's Trash.
    EmptyTrash {
        #[arg(long)]
        account: Option<i64>,
        #[command(flatten)]
        write: WriteBack,
    },
    /// Drafts.
    #[command(subcommand)]
    Draft(DraftCommand),
    /// The queued changes not yet on the server, with their state (queued, retrying, parked).
    Pending {
        #[arg(long)]
        account: Option<i64>,
    },
    /// Retry parked changes on the next sync.
    Retry {
        #[arg(long)]
        account: Option<i64>,
    },
    /// Send a message: queued in the outbox, then sent now (unless --queue-only), printing
    /// the uplink it cost against a plain SMTP + APPEND. The text is --text or stdin.
    Send(send::SendArgs),
    /// Forward a message with its attachments, taken from the server (assembled there where
    /// it offers CATENATE, URLAUTH and BURL: never downloaded), then sent now.
    Forward(send::ForwardArgs),
    /// The outbox: entries waiting, failed (with refused recipients) and sent; --cancel an
    /// entry, or --retry (send now, also what is backing off or parked).
    Outbox(send::OutboxArgs),
    /// Search: the stored mail (full text), or with --server the mail on the server,
    /// including what is outside the sync window (its rows are fetched and stored, a page at
    /// a time). Criteria combine (AND).
    Search(search::Args),
    /// Push: sync a folder, then keep IDLE going and print each change as it is committed,
    /// until Ctrl-C (exit 130).
    Watch {
        #[arg(default_value = "INBOX")]
        folder: String,
        #[arg(long)]
        account: Option<i64>,
        #[arg(long, value_enum, default_value = "unmetered")]
        network: NetworkArg,
    },
    /// What the server offers and what the engine will do with it: greeting, capabilities
    /// before and after login, extensions and fallbacks, TLS, round trip, probe bytes.
    Doctor {
        #[arg(long)]
        account: Option<i64>,
    },
    /// Data usage by network kind and purpose.
    Usage {
        #[arg(long)]
        account: Option<i64>,
    },
    /// Print a shell completion script: `anvert completions bash > /etc/bash_completion.d/anvert`.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Subcommand)]
enum DraftCommand {
    /// Save a draft in the Drafts folder (APPENDed on the next sync, or now with --now).
    Save {
        #[arg(long)]
        account: Option<i64>,
        #[arg(long)]
        to: Vec<String>,
        #[arg(long, default_value = "")]
        subject: String,
        #[arg(long, default_value = "")]
        text: String,
        /// The draft this one replaces (its message id).
        #[arg(long)]
        replaces: Option<i64>,
        #[command(flatten)]
        write: WriteBack,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ANVERT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let as_json = cli.json;
    match run(cli).await {
        Ok(code) => code,
        // The reader went away (`anvert ls | head`): not an error.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = exit::code(&e);
            eprintln!("anvert: {e:#}");
            if as_json {
                let doc = json!({ "error": { "kind": exit::kind(&e), "message": format!("{e:#}"), "exit": code } });
                let _ = doc::print(&doc);
            }
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Completions { shell } = cli.command {
        let shell = match shell {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
        };
        let mut out = std::io::stdout().lock();
        clap_complete::generate(shell, &mut Cli::command(), "anvert", &mut out);
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let extra_roots_pem = match &cli.ca {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let engine = Engine::open(EngineConfig {
        data_dir: cli.data_dir.clone(),
        extra_roots_pem,
        ..EngineConfig::default()
    })
    .await?;
    // `get` and `watch` stop on Ctrl-C by themselves (a resumable cut, the end of push);
    // any other command is dropped where it stands, which the engine makes safe (nothing
    // half-written survives), and exits 130.
    let own_interrupt = matches!(cli.command, Command::Get { .. } | Command::Watch { .. });
    let code = if own_interrupt {
        dispatch(&engine, cli.command, cli.json).await?
    } else {
        tokio::select! {
            code = dispatch(&engine, cli.command, cli.json) => code?,
            _ = tokio::signal::ctrl_c() => {
                return Err(anvert_core::Error::Cancelled).context("interrupted");
            }
        }
    };
    // One command per process: log out of the warm connection now (its bytes reach the
    // ledger) rather than dropping it at exit.
    engine.close_connections().await?;
    Ok(code)
}

async fn dispatch(engine: &Engine, command: Command, as_json: bool) -> anyhow::Result<ExitCode> {
    let pick = |id| accounts::pick(engine, id);
    match command {
        Command::Account(command) => accounts::run(engine, command, as_json).await?,
        Command::Sync {
            account,
            network,
            budget,
            all,
        } => {
            let account = pick(account).await?;
            return sync(engine, account, network.kind(), budget, all, as_json).await;
        }
        Command::Ls {
            folder,
            account,
            limit,
            attachments,
            before,
            cursor,
        } => {
            let account = pick(account).await?;
            let args = read::LsArgs {
                folder,
                limit,
                attachments,
                before,
                cursor,
            };
            read::ls(engine, account, args, as_json).await?;
        }
        Command::Show { id } => read::show(engine, id, as_json).await?,
        Command::Open { id, network } => read::open(engine, id, network.kind(), as_json).await?,
        Command::Thread { id } => read::thread(engine, id, as_json).await?,
        Command::Get {
            id,
            section,
            dest,
            network,
            stop_after,
        } => {
            return get::run(
                engine,
                MessageId(id),
                &section,
                &dest,
                network.kind(),
                stop_after,
            )
            .await;
        }
        Command::Flag { args, mut write } => {
            // `-flagged` needs hyphen values, which also swallow options given after them.
            let args = trailing_options(args, &mut write)?;
            let (ids, specs) = split_ids(&args)?;
            let (account, what) = change::flag(engine, &ids, &specs).await?;
            finish(engine, account, what, &write, as_json).await?;
        }
        Command::Move { args, write } => {
            let (ids, rest) = split_ids(&args)?;
            let [folder] = rest.as_slice() else {
                return exit::usage("anvert move ID… FOLDER: one folder after the ids");
            };
            let (account, what) = change::move_to(engine, &ids, folder).await?;
            finish(engine, account, what, &write, as_json).await?;
        }
        Command::Delete { ids, write } => {
            let (account, what) = change::delete(engine, &ids).await?;
            finish(engine, account, what, &write, as_json).await?;
        }
        Command::EmptyTrash { account, write } => {
            let account = pick(account).await?;
            let what = change::empty_trash(engine, account).await?;
            finish(engine, account, what, &write, as_json).await?;
        }
        Command::Draft(DraftCommand::Save {
            account,
            to,
            subject,
            text,
            replaces,
            write,
        }) => {
            let account = pick(account).await?;
            let args = change::DraftArgs {
                to,
                subject,
                text,
                replaces,
            };
            let what = change::save_draft(engine, account, args).await?;
            finish(engine, account, what, &write, as_json).await?;
        }
        Command::Pending { account } => {
            change::pending(engine, pick(account).await?, as_json).await?;
        }
        Command::Retry { account } => change::retry(engine, pick(account).await?, as_json).await?,
        Command::Send(args) => return send::send(engine, args, as_json).await,
        Command::Forward(args) => return send::forward(engine, args, as_json).await,
        Command::Outbox(args) => return send::outbox(engine, args, as_json).await,
        Command::Search(args) => {
            let account = pick(args.account).await?;
            if args.server {
                accounts::authenticate(engine, account).await?;
            }
            search::run(engine, account, args, as_json).await?;
        }
        Command::Watch {
            folder,
            account,
            network,
        } => {
            let account = pick(account).await?;
            return watch::run(engine, account, &folder, network.kind(), as_json).await;
        }
        Command::Doctor { account } => {
            doctor::run(engine, pick(account).await?, as_json).await?;
        }
        Command::Usage { account } => {
            let rows = engine.usage(pick(account).await?).await?;
            if as_json {
                doc::print(&json!({ "usage": doc::usage(&rows) }))?;
            } else {
                output::usage(&rows)?;
            }
        }
        Command::Completions { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `--now` and `--network KIND` given after `flag`'s `[+-]FLAG`s (which take hyphenated
/// values, so clap hands those options over as values).
fn trailing_options(args: Vec<String>, write: &mut WriteBack) -> anyhow::Result<Vec<String>> {
    let mut kept = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let network = match arg.as_str() {
            "--now" => {
                write.now = true;
                continue;
            }
            "--network" => it.next().unwrap_or_default(),
            other => match other.strip_prefix("--network=") {
                Some(kind) => kind.to_string(),
                None => {
                    kept.push(arg);
                    continue;
                }
            },
        };
        write.network = match NetworkArg::from_str(&network, true) {
            Ok(kind) => kind,
            Err(_) => return exit::usage(format!("{network:?} is not a network kind")),
        };
    }
    Ok(kept)
}

/// `flag` and `move` take ids first, then what to do: the leading numbers are the ids.
fn split_ids(args: &[String]) -> anyhow::Result<(Vec<i64>, Vec<String>)> {
    let ids: Vec<i64> = args.iter().map_while(|a| a.parse().ok()).collect();
    let rest = args[ids.len()..].to_vec();
    if ids.is_empty() || rest.is_empty() {
        return exit::usage("give message ids first, then what to do with them");
    }
    Ok((ids, rest))
}

async fn finish(
    engine: &Engine,
    account: AccountId,
    what: serde_json::Value,
    write: &WriteBack,
    as_json: bool,
) -> anyhow::Result<()> {
    change::finish(
        engine,
        account,
        what,
        write.now,
        write.network.kind(),
        as_json,
    )
    .await
}

async fn sync(
    engine: &Engine,
    account: AccountId,
    network: NetworkKind,
    budget: Option<u64>,
    all: bool,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    accounts::authenticate(engine, account).await?;
    let request = SyncRequest {
        network,
        byte_budget: budget,
        window: if all {
            SyncWindow::everything()
        } else {
            SyncWindow::default()
        },
        ..SyncRequest::default()
    };
    let (events, received) = progress::SyncEvents::channel();
    engine.set_listener(Some(Arc::new(events)));
    let (report, ()) = tokio::join!(
        async {
            let report = engine.sync(account, &request).await;
            // Drops the last sender: the progress display drains and ends.
            engine.set_listener(None);
            report
        },
        progress::show_sync(engine, account, received),
    );
    let report = report?;
    let (messages, full) = output::full_download(engine, account, &report).await?;
    if as_json {
        doc::print(&doc::sync_report(&report, full, messages))?;
    } else {
        output::sync_report(&report, messages, full)?;
    }
    // The report is printed whole; a folder that failed still fails the command.
    if !report.errors.is_empty() {
        eprintln!(
            "anvert: {} folder(s) failed to sync (see the report)",
            report.errors.len()
        );
        engine.close_connections().await?;
        return Ok(ExitCode::from(exit::ERROR));
    }
    Ok(ExitCode::SUCCESS)
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
