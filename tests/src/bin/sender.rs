//! `anvert-sender`: opens an engine's data directory and sends its outbox until nothing is
//! left to send, then exits 0. The kill -9 test (`tests/tests/sending_kill.rs`) runs it and
//! kills it at random points; the engine state it leaves is the only thing that carries
//! over. Credentials are never stored by the engine, so the password comes on the command
//! line (test servers only).

use std::path::PathBuf;

use anvert_core::{
    engine::{Engine, EngineConfig},
    net::Credential,
    policy::NetworkKind,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Send an engine's outbox, then exit")]
struct Args {
    #[arg(long)]
    data_dir: PathBuf,
    /// A PEM file of extra trusted roots (the test servers' CA).
    #[arg(long)]
    ca: PathBuf,
    #[arg(long)]
    user: String,
    #[arg(long)]
    password: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let engine = Engine::open(EngineConfig {
        data_dir: args.data_dir.clone(),
        extra_roots_pem: Some(std::fs::read_to_string(&args.ca)?),
        ..EngineConfig::default()
    })
    .await?;
    for account in engine.accounts().await? {
        engine
            .set_credential(
                account.id,
                Credential::password(args.user.clone(), args.password.clone()),
            )
            .await?;
        // A few runs at most: each either finishes entries or counts a failed attempt.
        for _ in 0..5 {
            let open = engine
                .outbox(account.id)
                .await?
                .iter()
                .filter(|i| i.state.is_open())
                .count();
            if open == 0 {
                break;
            }
            if let Err(e) = engine.flush_outbox(account.id, NetworkKind::Metered).await {
                eprintln!("flush: {e}");
            }
        }
    }
    engine.close_connections().await?;
    Ok(())
}
