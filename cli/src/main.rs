//! `anvert`: a developer's command line for trying the engine against a real server.
//! Passwords come from `ANVERT_PASSWORD` or a prompt, never from argv.

use std::{io::Write, path::PathBuf};

use anvert_core::{
    imap::{self, ConnectOptions},
    net::{Credential, Endpoint, Purpose, Security, TlsConnector, Trust, WireMeter},
};
use anyhow::Context;
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

#[derive(clap::Args)]
struct ServerArgs {
    #[arg(long)]
    host: String,
    #[arg(long, default_value_t = 993)]
    port: u16,
    #[arg(long, value_enum, default_value = "tls")]
    security: SecurityArg,
    /// An extra CA certificate (PEM) to trust, e.g. a private test CA.
    #[arg(long)]
    ca: Option<PathBuf>,
    #[arg(long)]
    user: String,
}

#[derive(Subcommand)]
enum Command {
    /// Connect over verified TLS, list the folders and their sizes, and report the wire bytes.
    Inspect(ServerArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("ANVERT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(server) => inspect(server).await,
    }
}

async fn inspect(args: ServerArgs) -> anyhow::Result<()> {
    let mut trust = Trust::default();
    if let Some(ca) = &args.ca {
        let pem =
            std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?;
        trust = trust.with_extra_roots_pem(&pem)?;
    }
    let tls = TlsConnector::new(&trust)?;
    let security = match args.security {
        SecurityArg::Tls => Security::ImplicitTls,
        SecurityArg::Starttls => Security::StartTls,
    };
    let endpoint = Endpoint {
        host: args.host.clone(),
        port: args.port,
        security,
    };
    let credential = Credential::password(&args.user, password()?);
    let meter = WireMeter::new();
    let mut session = imap::connect(
        &endpoint,
        &credential,
        &tls,
        &meter,
        &ConnectOptions::default(),
    )
    .await?;
    let setup = meter.totals();
    println!(
        "connected to {}:{} ({:?}), compression {}",
        args.host,
        args.port,
        security,
        if session.is_compressed() { "on" } else { "off" }
    );
    println!(
        "{:<24} {:>10} {:>12}  role",
        "folder", "messages", "uidnext"
    );
    for folder in session.list_folders(false).await? {
        if !folder.selectable {
            continue;
        }
        let selected = session.select(&folder.name, None).await?;
        println!(
            "{:<24} {:>10} {:>12}  {}",
            folder.name,
            selected.exists,
            selected.uid_next.map(|u| u.to_string()).unwrap_or_default(),
            folder
                .special_use
                .map(|r| format!("{r:?}"))
                .unwrap_or_default()
        );
    }
    session.logout().await?;
    let totals = meter.totals();
    println!("wire bytes (socket, below TLS and compression):");
    println!("  connection setup: {} B", setup.total());
    for purpose in Purpose::ALL {
        let n = totals.since(&setup).total_for(purpose);
        if n > 0 {
            println!("  {:<17} {n} B", format!("{}:", purpose.as_str()));
        }
    }
    println!("  total:            {} B", totals.total());
    Ok(())
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
