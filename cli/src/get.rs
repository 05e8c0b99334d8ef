//! `anvert get`: one part of a message into a directory, resumable. Ctrl-C (or
//! `--stop-after`) cancels through the engine's token, which stops within one chunk and
//! keeps the resumable state; the same command again continues where it stopped. A part
//! already downloaded is answered from the store without connecting.

use std::{path::Path, process::ExitCode};

use anvert_core::{
    Error,
    engine::{CancellationToken, Engine},
    policy::NetworkKind,
    store::{AccountId, DownloadState, MessageId},
};
use anyhow::{Context, bail};
use indicatif::HumanBytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::progress::DownloadProgress;

/// The exit status of an interrupted download (as for SIGINT).
const INTERRUPTED: u8 = 130;

pub async fn run(
    engine: &Engine,
    id: MessageId,
    section: &str,
    dest: &Path,
    network: NetworkKind,
    stop_after: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let detail = engine
        .message(id)
        .await?
        .with_context(|| format!("no message {}", id.0))?;
    let Some(part) = detail.parts.iter().find(|p| p.section == section) else {
        let sections: Vec<&str> = detail.parts.iter().map(|p| p.section.as_str()).collect();
        bail!(
            "message {} has no part {section:?} (its parts: {}; see `anvert show {}`)",
            id.0,
            sections.join(", "),
            id.0
        );
    };
    // Sizes and offsets are of the part as the server stores it (before base64 or
    // quoted-printable decoding): what crosses the wire.
    let total = u64::from(part.size);
    let name = part.filename.as_deref().unwrap_or(part.mime_type.as_str());
    let account = engine.account_of(id).await?;
    let mut start = 0;
    match engine.store().download(id, section).await? {
        Some(r) if r.state == DownloadState::Complete && r.destination.exists() => {
            // Answered from the store (and marked as used for the cache): no connection.
            let path = engine
                .download_part(id, section, dest, network, None, &CancellationToken::new())
                .await?;
            return finished("already downloaded:", &path).await;
        }
        Some(r) if r.state == DownloadState::Partial => {
            start = r.encoded_offset.min(total);
            println!(
                "resuming at {} of {} ({name:?}, into {})",
                HumanBytes(start),
                HumanBytes(total),
                r.destination.display()
            );
        }
        _ => println!(
            "downloading part {section} of message {}: {name:?}, {} {}",
            id.0,
            HumanBytes(total),
            part.encoding.as_deref().unwrap_or("7bit")
        ),
    }
    crate::accounts::authenticate(engine, account).await?;
    let wire_before = wire_bytes(engine, account).await?;
    tokio::fs::create_dir_all(dest)
        .await
        .with_context(|| format!("creating {}", dest.display()))?;
    let cancel = CancellationToken::new();
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let listener = DownloadProgress::new(start, total, stop_after, cancel.clone());
    let result = engine
        .download_part(id, section, dest, network, Some(&listener), &cancel)
        .await;
    listener.done();
    ctrl_c.abort();
    let wire = wire_bytes(engine, account)
        .await?
        .saturating_sub(wire_before);
    println!("moved {} on the wire", HumanBytes(wire));
    match result {
        Ok(path) => finished("saved", &path).await,
        Err(Error::Cancelled) => {
            let at = engine
                .store()
                .download(id, section)
                .await?
                .map_or(0, |r| r.encoded_offset);
            println!(
                "interrupted at {} of {}: run the same command again to resume",
                HumanBytes(at),
                HumanBytes(total)
            );
            Ok(ExitCode::from(INTERRUPTED))
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints the file's path, decoded size and SHA-256.
async fn finished(what: &str, path: &Path) -> anyhow::Result<ExitCode> {
    let (len, sha256) = sha256_of(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    println!("{what} {} ({} decoded)", path.display(), HumanBytes(len));
    println!("sha256 {sha256}");
    Ok(ExitCode::SUCCESS)
}

async fn sha256_of(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 256 << 10];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(hasher.finalize())))
}

/// Every byte the engine has recorded for the account, up and down (the usage ledger).
async fn wire_bytes(engine: &Engine, account: AccountId) -> anyhow::Result<u64> {
    Ok(engine
        .usage(account)
        .await?
        .iter()
        .map(|r| r.bytes_up + r.bytes_down)
        .sum())
}
