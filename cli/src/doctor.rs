//! `anvert doctor`: what the account's server offers and what the engine will do with it
//! (`Engine::doctor`): greeting, capabilities before and after login, the extensions used and
//! the fallback for each missing one, TLS version, cipher and certificate chain, one round
//! trip and the bytes the probe cost. The password is used to log in and never printed.

use anvert_core::{
    engine::{DoctorReport, Engine, Protocol},
    net::Credential,
    store::AccountId,
};
use serde_json::json;

use crate::{accounts, doc, output::out};

pub async fn run(engine: &Engine, account: AccountId, as_json: bool) -> anyhow::Result<()> {
    let user = engine
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.id == account)
        .map(|a| a.username)
        .unwrap_or_default();
    let credential = Credential::password(user, accounts::password()?);
    let report = engine.doctor(account, &credential).await?;
    if as_json {
        return doc::print(&document(&report));
    }
    human(&report)
}

/// The subject of each certificate of the chain (leaf first), or why it is unreadable.
fn subjects(report: &DoctorReport) -> Vec<String> {
    report
        .tls
        .iter()
        .flat_map(|t| t.chain.iter())
        .map(|der| match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => cert.subject().to_string(),
            Err(_) => "(unreadable certificate)".to_string(),
        })
        .collect()
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Pop3 => "pop3",
        _ => "imap",
    }
}

fn document(r: &DoctorReport) -> serde_json::Value {
    json!({
        "protocol": protocol(r.protocol),
        "host": r.endpoint.host,
        "port": r.endpoint.port,
        "security": doc::security(r.endpoint.security),
        "greeting": r.greeting,
        "capabilities_before_login": r.capabilities_before_login,
        "capabilities_after_login": r.capabilities_after_login,
        "tls": r.tls.as_ref().map(|t| json!({
            "version": t.version,
            "cipher": t.cipher,
            "chain_subjects": subjects(r),
        })),
        "compressed": r.compressed,
        "extensions": r.extensions.iter().map(|e| json!({
            "name": e.name,
            "offered": e.offered,
            "effect": e.effect,
        })).collect::<Vec<_>>(),
        "pop3": r.pop3.as_ref().map(|p| json!({ "uidl": p.uidl, "top": p.top, "key": p.key })),
        "round_trip_ms": r.round_trip.as_secs_f64() * 1000.0,
        "bytes": { "up": r.bytes_up, "down": r.bytes_down },
    })
}

fn human(r: &DoctorReport) -> anyhow::Result<()> {
    out!(
        "server:    {} {}:{} ({})",
        protocol(r.protocol),
        r.endpoint.host,
        r.endpoint.port,
        doc::security(r.endpoint.security)
    );
    if let Some(t) = &r.tls {
        out!("tls:       {} {}", t.version, t.cipher);
        for (i, subject) in subjects(r).iter().enumerate() {
            out!("  cert {i}:  {subject}");
        }
    }
    if r.protocol == Protocol::Imap {
        out!("greeting:  {}", r.greeting);
        out!("before login: {}", r.capabilities_before_login.join(" "));
        out!("after login:  {}", r.capabilities_after_login.join(" "));
        out!(
            "\n{:<17} {:<8} what the engine does",
            "extension",
            "offered"
        );
        for e in &r.extensions {
            out!(
                "{:<17} {:<8} {}",
                e.name,
                if e.offered { "yes" } else { "no" },
                e.effect
            );
        }
    }
    if let Some(p) = &r.pop3 {
        out!("capa:      {}", r.capabilities_after_login.join(" | "));
        out!("uidl:      {}", if p.uidl { "yes" } else { "no" });
        out!("top:       {}", if p.top { "yes" } else { "no" });
        out!(
            "key:       {}",
            p.key
                .unwrap_or("none: without UIDL or TOP the sync refuses this server")
        );
    }
    out!(
        "\nround trip: {:.1} ms; the probe cost {} B up, {} B down",
        r.round_trip.as_secs_f64() * 1000.0,
        r.bytes_up,
        r.bytes_down
    );
    Ok(())
}
