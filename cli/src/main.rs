//! `anvert`: a developer's command line for trying the engine against a real server.
//! Passwords come from `ANVERT_PASSWORD` or a prompt, never from argv. Everything goes
//! through the same `Engine` API the mobile bindings wrap.

mod output;

use std::{io::Write, path::PathBuf, sync::Arc};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::{Credential, Endpoint, Security},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

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

#[derive(Subcommand)]
enum Command {
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Sync headers first, with progress, then report the bytes on the wire.
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
    /// List folders, or a folder's newest messages.
    Ls {
        folder: Option<String>,
        #[arg(long)]
        account: Option<i64>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show one message's headers and parts.
    Show { id: i64 },
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
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ANVERT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            let user = engine
                .accounts()
                .await?
                .into_iter()
                .find(|a| a.id == account)
                .map(|a| a.username)
                .unwrap_or_default();
            engine
                .set_credential(account, Credential::password(user, password()?))
                .await?;
            engine.set_listener(Some(Arc::new(output::Progress::default())));
            let request = SyncRequest {
                network: match network {
                    NetworkArg::Unmetered => NetworkKind::Unmetered,
                    NetworkArg::Metered => NetworkKind::Metered,
                    NetworkArg::Roaming => NetworkKind::Roaming,
                    NetworkArg::Offline => NetworkKind::Offline,
                },
                byte_budget: budget,
                window: if all {
                    SyncWindow::everything()
                } else {
                    SyncWindow::default()
                },
                ..SyncRequest::default()
            };
            let report = engine.sync(account, &request).await?;
            output::sync_report(&engine, account, &report).await?;
        }
        Command::Ls {
            folder,
            account,
            limit,
        } => {
            let account = pick_account(&engine, account).await?;
            let folders = engine.folders(account).await?;
            match folder {
                None => output::folders(&folders),
                Some(name) => {
                    let Some(f) = folders.iter().find(|f| f.name == name) else {
                        bail!("no folder {name:?}")
                    };
                    output::messages(&engine.messages(f.id, None, limit).await?.items);
                }
            }
        }
        Command::Show { id } => match engine.message(MessageId(id)).await? {
            Some(m) => output::message(&m),
            None => bail!("no message {id}"),
        },
        Command::Usage { account } => {
            let account = pick_account(&engine, account).await?;
            output::usage(&engine.usage(account).await?);
        }
    }
    Ok(())
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

/// The password from `ANVERT_PASSWORD`, or one line from a prompt on stdin.
fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ANVERT_PASSWORD") {
        return Ok(p);
    }
    eprint!("password: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
