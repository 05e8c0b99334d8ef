//! `anvert account …`: add (IMAP, POP3, or probed with `--protocol auto`), list, remove, and
//! a new password checked against the server. Passwords come from `ANVERT_PASSWORD`, a
//! prompt without echo, or one line of stdin; never from argv, never printed.

use std::io::{BufRead, IsTerminal};

use anvert_core::{
    engine::{AccountConfig, AutoPorts, AutoReport, Engine, Protocol},
    net::{Credential, Endpoint, Security},
    store::AccountId,
};
use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::{doc, exit, output::out};

/// The environment variable the password is read from (else a prompt).
pub const PASSWORD_VAR: &str = "ANVERT_PASSWORD";

#[derive(Clone, Copy, ValueEnum)]
pub enum SecurityArg {
    /// Implicit TLS (IMAP 993, POP3 995).
    Tls,
    /// STARTTLS/STLS on the plaintext port (IMAP 143, POP3 110); refused if not offered.
    Starttls,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Imap,
    Pop3,
    /// Try IMAP (TLS, then STARTTLS), then POP3 (TLS, then STLS): the first that logs in
    /// is kept. `--port` makes every try use that port.
    Auto,
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Add an account (the password is read from ANVERT_PASSWORD or a prompt).
    Add {
        #[arg(long, value_enum, default_value = "imap")]
        protocol: ProtocolArg,
        #[arg(long)]
        host: String,
        /// Default: the protocol's port for the security (993/143 IMAP, 995/110 POP3).
        #[arg(long)]
        port: Option<u16>,
        #[arg(long, value_enum, default_value = "tls")]
        security: SecurityArg,
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: Option<String>,
        /// With `--protocol auto`: the four ports to try, in order IMAPS,IMAP,POP3S,POP3
        /// (default 993,143,995,110; `--port` alone puts every try on one port).
        #[arg(long, value_delimiter = ',', conflicts_with = "port")]
        auto_ports: Option<Vec<u16>>,
    },
    /// List accounts.
    List,
    /// Remove an account and everything stored for it.
    Remove { id: i64 },
    /// Set the account's submission (SMTP) server, used with the account's credential:
    /// `--security tls` (default port 465) or `starttls` (587). Without --host: show it;
    /// --clear removes it.
    Submission {
        id: Option<i64>,
        #[arg(long, conflicts_with = "clear")]
        host: Option<String>,
        #[arg(long, requires = "host")]
        port: Option<u16>,
        #[arg(long, value_enum, default_value = "tls")]
        security: SecurityArg,
        #[arg(long)]
        clear: bool,
    },
    /// Check a new password against the server (prompted without echo, or ANVERT_PASSWORD).
    Password { id: Option<i64> },
}

pub async fn run(engine: &Engine, command: AccountCommand, as_json: bool) -> anyhow::Result<()> {
    match command {
        AccountCommand::Add {
            protocol,
            host,
            port,
            security,
            user,
            name,
            auto_ports,
        } => {
            let name = name.unwrap_or_else(|| user.clone());
            let credential = Credential::password(&user, password()?);
            if protocol == ProtocolArg::Auto {
                let ports = match (auto_ports.as_deref(), port) {
                    (Some(&[imaps, imap, pop3s, pop3]), _) => AutoPorts {
                        imaps,
                        imap,
                        pop3s,
                        pop3,
                        ..AutoPorts::default()
                    },
                    (Some(_), _) => {
                        return exit::usage("--auto-ports takes four ports: IMAPS,IMAP,POP3S,POP3");
                    }
                    (_, Some(port)) => AutoPorts::single(port),
                    _ => AutoPorts::default(),
                };
                return add_auto(engine, &name, &host, ports, credential, as_json).await;
            }
            let protocol = match protocol {
                ProtocolArg::Pop3 => Protocol::Pop3,
                _ => Protocol::Imap,
            };
            let security = match security {
                SecurityArg::Tls => Security::ImplicitTls,
                SecurityArg::Starttls => Security::StartTls,
            };
            let port = port.unwrap_or_else(|| protocol.default_port(security));
            let config = AccountConfig {
                name,
                protocol,
                endpoint: Endpoint {
                    host,
                    port,
                    security,
                },
                credential,
            };
            let id = engine.add_account(config).await?;
            let added = account_row(engine, id).await?;
            if as_json {
                doc::print(&json!({ "account": doc::account(&added) }))?;
            } else {
                out!(
                    "account {} added ({} {}:{} {})",
                    id.0,
                    protocol_name(protocol),
                    added.host,
                    added.port,
                    added.security
                );
            }
        }
        AccountCommand::List => {
            let accounts = engine.accounts().await?;
            if as_json {
                let list: Vec<_> = accounts.iter().map(doc::account).collect();
                doc::print(&json!({ "accounts": list }))?;
            } else {
                for a in accounts {
                    out!(
                        "{:>3}  {}  {} {}@{}:{} ({})",
                        a.id.0,
                        crate::width::fit(&a.name, 20),
                        format!("{:?}", a.kind).to_lowercase(),
                        a.username,
                        a.host,
                        a.port,
                        a.security
                    );
                }
            }
        }
        AccountCommand::Remove { id } => {
            let account = pick(engine, Some(id)).await?;
            engine.remove_account(account).await?;
            if as_json {
                doc::print(&json!({ "removed": id }))?;
            } else {
                out!("account {id} removed");
            }
        }
        AccountCommand::Submission {
            id,
            host,
            port,
            security,
            clear,
        } => {
            let account = pick(engine, id).await?;
            if clear {
                engine.set_submission(account, None).await?;
            } else if let Some(host) = host {
                let security = match security {
                    SecurityArg::Tls => Security::ImplicitTls,
                    SecurityArg::Starttls => Security::StartTls,
                };
                let port = port.unwrap_or(match security {
                    Security::StartTls => 587,
                    _ => 465,
                });
                engine
                    .set_submission(
                        account,
                        Some(Endpoint {
                            host,
                            port,
                            security,
                        }),
                    )
                    .await?;
            }
            let server = engine.submission(account).await?;
            if as_json {
                let server = server.as_ref().map(|e| {
                    json!({ "host": e.host, "port": e.port, "security": doc::security(e.security) })
                });
                doc::print(&json!({ "account": account.0, "submission": server }))?;
            } else {
                match server {
                    Some(e) => out!(
                        "account {}: submission server {}:{} ({})",
                        account.0,
                        e.host,
                        e.port,
                        doc::security(e.security)
                    ),
                    None => out!(
                        "account {}: no submission server (sending waits)",
                        account.0
                    ),
                }
            }
        }
        AccountCommand::Password { id } => {
            let account = pick(engine, id).await?;
            let user = account_row(engine, account).await?.username;
            engine
                .check_credential(account, Credential::password(user, password()?))
                .await?;
            if as_json {
                doc::print(&json!({ "account": account.0, "password": "accepted" }))?;
            } else {
                out!("account {}: the server accepted the password", account.0);
            }
        }
    }
    Ok(())
}

/// `--protocol auto`: what answered on each port, what was chosen and why.
async fn add_auto(
    engine: &Engine,
    name: &str,
    host: &str,
    ports: AutoPorts,
    credential: Credential,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut report = AutoReport::default();
    let result = engine
        .add_account_auto_report(name, host, ports, credential, &mut report)
        .await;
    let attempts: Vec<_> = report.attempts.iter().map(doc::attempt).collect();
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            if !as_json {
                print_attempts(&report)?;
            }
            return Err(anyhow::Error::new(e).context(format!(
                "no service on {host} took the account ({} tried)",
                report.attempts.len()
            )));
        }
    };
    let added = account_row(engine, id).await?;
    let why = "the first service, in order of preference (IMAP over TLS, IMAP with STARTTLS, \
               POP3 over TLS, POP3 with STLS), that completed TLS and login";
    let submission = report
        .submission
        .as_ref()
        .map(|e| json!({ "host": e.host, "port": e.port, "security": doc::security(e.security) }));
    if as_json {
        doc::print(&json!({
            "account": doc::account(&added),
            "attempts": attempts,
            "chosen_because": why,
            "submission": submission,
        }))?;
    } else {
        print_attempts(&report)?;
        out!(
            "account {} added: {} {}:{} ({}): {why}",
            id.0,
            format!("{:?}", added.kind).to_lowercase(),
            added.host,
            added.port,
            added.security
        );
        match &report.submission {
            Some(e) => out!(
                "submission server found: {}:{} ({})",
                e.host,
                e.port,
                doc::security(e.security)
            ),
            None => out!(
                "no submission server answered on 465 or 587: set one with `anvert account submission`"
            ),
        }
    }
    Ok(())
}

fn print_attempts(report: &AutoReport) -> anyhow::Result<()> {
    for a in &report.attempts {
        out!(
            "tried {:<5} port {:<5} {:<9} {}",
            protocol_name(a.protocol),
            a.port,
            doc::security(a.security),
            match &a.failure {
                None => "ok: TLS and login completed".to_string(),
                Some(why) => format!("no: {why}"),
            }
        );
    }
    Ok(())
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Pop3 => "pop3",
        _ => "imap",
    }
}

async fn account_row(
    engine: &Engine,
    id: AccountId,
) -> anyhow::Result<anvert_core::store::Account> {
    engine
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .with_context(|| format!("no account {}", id.0))
}

/// The account named, or the first one.
pub async fn pick(engine: &Engine, id: Option<i64>) -> anyhow::Result<AccountId> {
    let accounts = engine.accounts().await?;
    match id {
        Some(id) => match accounts.iter().find(|a| a.id.0 == id) {
            Some(a) => Ok(a.id),
            None => exit::usage(format!("no account {id} (see `anvert account list`)")),
        },
        None => match accounts.first() {
            Some(a) => Ok(a.id),
            None => exit::usage("no account yet: run `anvert account add`"),
        },
    }
}

/// Hands the engine the account's password for this run (the store never keeps it).
pub async fn authenticate(engine: &Engine, account: AccountId) -> anyhow::Result<()> {
    let user = account_row(engine, account).await?.username;
    engine
        .set_credential(account, Credential::password(user, password()?))
        .await?;
    Ok(())
}

/// The password from `ANVERT_PASSWORD`, else a prompt on the terminal without echo, else
/// (stdin is not a terminal) one line of stdin. Never from argv.
pub fn password() -> anyhow::Result<String> {
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
