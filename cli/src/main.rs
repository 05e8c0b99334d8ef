//! `anvert`: a developer's command line for trying the engine against a real server.
//! Passwords come from `ANVERT_PASSWORD` or a prompt (no echo), never from argv. Everything
//! goes through the same `Engine` API the mobile bindings wrap.

mod get;
mod output;
mod progress;
mod search;

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::{Credential, Endpoint, Security},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

/// The environment variable the password is read from (else a prompt).
const PASSWORD_VAR: &str = "ANVERT_PASSWORD";

#[derive(Parser)]
#[command(
    name = "anvert",
    about = "Anvert mail engine: try it against a real server"
)]
struct Cli {
    /// Where the engine keeps its store and downloads.
    #[arg(long, global = true, default_value = "anvert-data")]
    data_dir: PathBuf,
    /// An extra CA certificate (PEM) to trust, e.g. a private test CA.
    #[arg(long, global = true)]
    ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecurityArg {
    /// Implicit TLS (port 993).
    Tls,
    /// STARTTLS on a plaintext port (143); refused if the server does not offer it.
    Starttls,
}

#[derive(Clone, Copy, ValueEnum)]
enum NetworkArg {
    Unmetered,
    Metered,
    Roaming,
    Offline,
}

impl NetworkArg {
    fn kind(self) -> NetworkKind {
        match self {
            NetworkArg::Unmetered => NetworkKind::Unmetered,
            NetworkArg::Metered => NetworkKind::Metered,
            NetworkArg::Roaming => NetworkKind::Roaming,
            NetworkArg::Offline => NetworkKind::Offline,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
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
    /// List folders, or a folder's newest messages (or their attachments).
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
    },
    /// Show one message's headers and parts (section, type, size, file name, download state).
    Show { id: i64 },
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
    /// Search: the stored mail (full text), or with --server the mail on the server,
    /// including what is outside the sync window (its rows are fetched and stored, a page at
    /// a time). Criteria combine (AND).
    Search {
        /// Search on the server rather than the stored mail.
        #[arg(long)]
        server: bool,
        #[arg(long)]
        account: Option<i64>,
        /// One folder (server search only; default: every synced folder).
        #[arg(long)]
        folder: Option<String>,
        /// Words and "quoted phrases", anywhere in the message.
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        /// Received on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Received before this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        before: Option<String>,
        /// Only unread messages.
        #[arg(long)]
        unseen: bool,
        /// Only flagged messages.
        #[arg(long)]
        flagged: bool,
        /// Rows per page.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// How many pages to print (server search).
        #[arg(long, default_value_t = 1)]
        pages: u32,
        #[arg(long, value_enum, default_value = "unmetered")]
        network: NetworkArg,
    },
    /// Data usage by network kind and purpose.
    Usage {
        #[arg(long)]
        account: Option<i64>,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Add an IMAP account (the password is read from ANVERT_PASSWORD or a prompt).
    Add {
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 993)]
        port: u16,
        #[arg(long, value_enum, default_value = "tls")]
        security: SecurityArg,
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List accounts.
    List,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ANVERT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        // The reader went away (`anvert ls | head`): not an error.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anvert: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
    match cli.command {
        Command::Account(AccountCommand::Add {
            host,
            port,
            security,
            user,
            name,
        }) => {
            let security = match security {
                SecurityArg::Tls => Security::ImplicitTls,
                SecurityArg::Starttls => Security::StartTls,
            };
            let config = AccountConfig {
                name: name.unwrap_or_else(|| user.clone()),
                protocol: Protocol::Imap,
                endpoint: Endpoint {
                    host,
                    port,
                    security,
                },
                credential: Credential::password(&user, password()?),
            };
            let id = engine.add_account(config).await?;
            println!("account {} added", id.0);
        }
        Command::Account(AccountCommand::List) => {
            for a in engine.accounts().await? {
                println!(
                    "{:>3}  {:<20} {}@{}:{} ({})",
                    a.id.0, a.name, a.username, a.host, a.port, a.security
                );
            }
        }
        Command::Sync {
            account,
            network,
            budget,
            all,
        } => {
            let account = pick_account(&engine, account).await?;
            authenticate(&engine, account).await?;
            let request = SyncRequest {
                network: network.kind(),
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
                progress::show_sync(&engine, account, received),
            );
            let report = report?;
            output::sync_report(&engine, account, &report).await?;
            // The report is printed whole; a folder that failed still fails the command.
            if !report.errors.is_empty() {
                eprintln!(
                    "anvert: {} folder(s) failed to sync (see the report)",
                    report.errors.len()
                );
                engine.close_connections().await?;
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Ls {
            folder,
            account,
            limit,
            attachments,
        } => {
            let account = pick_account(&engine, account).await?;
            let folders = engine.folders(account).await?;
            match folder {
                None => output::folders(&folders)?,
                Some(name) => {
                    let Some(f) = folders.iter().find(|f| f.name == name) else {
                        bail!("no folder {name:?}")
                    };
                    if attachments {
                        output::attachments(&engine, f.id, limit).await?;
                    } else {
                        output::messages(&engine.messages(f.id, None, limit).await?.items)?;
                    }
                }
            }
        }
        Command::Show { id } => match engine.message(MessageId(id)).await? {
            Some(m) => output::message(&engine, &m).await?,
            None => bail!("no message {id}"),
        },
        Command::Get {
            id,
            section,
            dest,
            network,
            stop_after,
        } => {
            return get::run(
                &engine,
                MessageId(id),
                &section,
                &dest,
                network.kind(),
                stop_after,
            )
            .await;
        }
        Command::Search {
            server,
            account,
            folder,
            text,
            from,
            to,
            subject,
            since,
            before,
            unseen,
            flagged,
            limit,
            pages,
            network,
        } => {
            let account = pick_account(&engine, account).await?;
            if server {
                authenticate(&engine, account).await?;
            }
            let query = anvert_core::engine::SearchQuery {
                text,
                from,
                to,
                subject,
                since: since.as_deref().map(search::parse_day).transpose()?,
                before: before.as_deref().map(search::parse_day).transpose()?,
                seen: unseen.then_some(false),
                flagged: flagged.then_some(true),
                ..Default::default()
            };
            let args = search::Args {
                server,
                folder,
                query,
                limit,
                pages,
                network: network.kind(),
            };
            search::run(&engine, account, args).await?;
        }
        Command::Usage { account } => {
            let account = pick_account(&engine, account).await?;
            output::usage(&engine.usage(account).await?)?;
        }
    }
    // One command per process: log out of the warm connection now (its bytes reach the
    // ledger) rather than dropping it at exit.
    engine.close_connections().await?;
    Ok(ExitCode::SUCCESS)
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn pick_account(engine: &Engine, id: Option<i64>) -> anyhow::Result<AccountId> {
    let accounts = engine.accounts().await?;
    match id {
        Some(id) => accounts
            .iter()
            .find(|a| a.id.0 == id)
            .map(|a| a.id)
            .context("no such account"),
        None => accounts
            .first()
            .map(|a| a.id)
            .context("no account yet: run `anvert account add`"),
    }
}

/// Hands the engine the account's password for this run (the store never keeps it).
async fn authenticate(engine: &Engine, account: AccountId) -> anyhow::Result<()> {
    let user = engine
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.id == account)
        .map(|a| a.username)
        .context("no such account")?;
    engine
        .set_credential(account, Credential::password(user, password()?))
        .await?;
    Ok(())
}

/// The password from `ANVERT_PASSWORD`, else a prompt on the terminal without echo, else
/// (stdin is not a terminal) one line of stdin. Never from argv.
fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var(PASSWORD_VAR) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("password: ").context("reading the password");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    if line.is_empty() {
        bail!("no password: set {PASSWORD_VAR} or run on a terminal");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
