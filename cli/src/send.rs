//! Sending: `anvert send`, `anvert forward` and `anvert outbox`. `send` and `forward` put the
//! message in the engine's durable outbox, then (unless `--queue-only`) flush it at once and
//! print the uplink it cost: the outbox entry's `up_bytes` (IMAP and SMTP) and the ledger's
//! `send` purpose, against what a plain SMTP + APPEND would have cost (the message twice up;
//! for a forward, also its attachments down first).

use std::{io::Read, path::PathBuf, process::ExitCode};

use anvert_core::{
    engine::{Draft, DraftAttachment, Engine},
    net::Purpose,
    store::{AccountId, Address, MessageId, OutboxId, OutboxItem, OutboxState},
    sync::SendReport,
};
use anyhow::Context;
use serde_json::{Value, json};

use crate::{NetworkArg, accounts, doc, exit, output::out};

/// What `send` and `forward` share: where and how to flush.
#[derive(clap::Args)]
pub struct Flush {
    /// Only queue the message; the next `anvert sync` (or `anvert outbox --retry`) sends it.
    #[arg(long)]
    pub queue_only: bool,
    #[arg(long, value_enum, default_value = "unmetered")]
    pub network: NetworkArg,
}

#[derive(clap::Args)]
pub struct SendArgs {
    #[arg(long)]
    pub account: Option<i64>,
    /// The sender (default: the account's user name, when it is an address).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long, required = true)]
    pub to: Vec<String>,
    #[arg(long)]
    pub cc: Vec<String>,
    #[arg(long)]
    pub bcc: Vec<String>,
    #[arg(long)]
    pub subject: String,
    /// The text (default: read from stdin).
    #[arg(long)]
    pub text: Option<String>,
    /// A file to attach (repeat for more).
    #[arg(long)]
    pub attach: Vec<PathBuf>,
    #[command(flatten)]
    pub flush: Flush,
}

#[derive(clap::Args)]
pub struct ForwardArgs {
    /// The message to forward (from `anvert ls`).
    pub id: i64,
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The text above the forwarded message.
    #[arg(long, default_value = "")]
    pub text: String,
    /// Leave the original's attachments out.
    #[arg(long)]
    pub no_attachments: bool,
    #[command(flatten)]
    pub flush: Flush,
}

#[derive(clap::Args)]
pub struct OutboxArgs {
    #[arg(long)]
    pub account: Option<i64>,
    /// Take this entry out of the outbox (before it went out), or dismiss a sent or failed one.
    #[arg(long, conflicts_with = "retry")]
    pub cancel: Option<i64>,
    /// Send what the outbox holds now, also entries backing off or parked.
    #[arg(long)]
    pub retry: bool,
    #[arg(long, value_enum, default_value = "unmetered")]
    pub network: NetworkArg,
}

/// An address as given on the command line: `a@b` or `Name <a@b>`.
pub fn address(raw: &str) -> anyhow::Result<Address> {
    let raw = raw.trim();
    let (name, email) = match (raw.rfind('<'), raw.strip_suffix('>')) {
        (Some(open), Some(_)) => {
            let name = raw[..open].trim().trim_matches('"').trim();
            let email = raw[open + 1..raw.len() - 1].trim();
            ((!name.is_empty()).then(|| name.to_string()), email)
        }
        _ => (None, raw),
    };
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return exit::usage(format!("{raw:?} is not an address"));
    }
    Ok(Address {
        name,
        email: email.to_string(),
    })
}

fn addresses(raw: &[String]) -> anyhow::Result<Vec<Address>> {
    raw.iter().map(|r| address(r)).collect()
}

/// The MIME type of an attachment, from its file name's extension.
pub fn mime_type(path: &std::path::Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "ics" => "text/calendar",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

pub async fn send(engine: &Engine, args: SendArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let account = accounts::pick(engine, args.account).await?;
    let from = match &args.from {
        Some(f) => address(f)?,
        None => {
            let user = account_user(engine, account).await?;
            if !user.contains('@') {
                return exit::usage("the account's user name is not an address: give --from");
            }
            Address {
                name: None,
                email: user,
            }
        }
    };
    let text = match args.text {
        Some(t) => t,
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the text from stdin")?;
            t
        }
    };
    let mut attachments = Vec::new();
    for path in &args.attach {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        attachments.push(DraftAttachment {
            name,
            mime_type: mime_type(path).to_string(),
            bytes,
        });
    }
    let draft = Draft {
        from,
        to: addresses(&args.to)?,
        cc: addresses(&args.cc)?,
        bcc: addresses(&args.bcc)?,
        subject: args.subject,
        text,
        html: None,
        attachments,
    };
    let id = engine.send(account, draft).await?;
    finish(engine, account, id, None, &args.flush, as_json).await
}

pub async fn forward(
    engine: &Engine,
    args: ForwardArgs,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let message = MessageId(args.id);
    let Some(detail) = engine.message(message).await? else {
        return exit::usage(format!("no message {}", args.id));
    };
    let account = engine.account_of(message).await?;
    let include = !args.no_attachments;
    // What a client that downloads the attachments first would move down.
    let attachments: u64 = if include {
        detail
            .parts
            .iter()
            .filter(|p| p.is_attachment)
            .map(|p| u64::from(p.size))
            .sum()
    } else {
        0
    };
    let id = engine
        .forward(message, addresses(&args.to)?, args.text, include)
        .await?;
    finish(engine, account, id, Some(attachments), &args.flush, as_json).await
}

/// Flushes (unless `--queue-only`) and prints the entry with its cost. `forwarded`: the
/// original's attachment bytes, for a forward.
async fn finish(
    engine: &Engine,
    account: AccountId,
    id: OutboxId,
    forwarded: Option<u64>,
    flush: &Flush,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let mut report = None;
    let before = send_usage(engine, account).await?;
    if !flush.queue_only {
        accounts::authenticate(engine, account).await?;
        report = Some(engine.flush_outbox(account, flush.network.kind()).await?);
    }
    let after = send_usage(engine, account).await?;
    let item = item(engine, account, id).await?;
    // A plain client: SMTP DATA of the whole message, then APPEND of it to Sent; a forward
    // also downloads the attachments first.
    let plain_up = 2 * item.size;
    let plain_down = forwarded.unwrap_or(0);
    let ledger_up = after.0.saturating_sub(before.0);
    let ledger_down = after.1.saturating_sub(before.1);
    let failed = item.state == OutboxState::Failed;
    if as_json {
        doc::print(&json!({
            "outbox": outbox_item(&item),
            "flushed": report.as_ref().map(send_report),
            "ledger_send": { "bytes_up": ledger_up, "bytes_down": ledger_down },
            "plain": { "bytes_up": plain_up, "bytes_down": plain_down },
        }))?;
    } else {
        out!(
            "outbox entry {}: {} ({} recipient(s), {} bytes)",
            item.id.0,
            state_name(item.state),
            item.recipients.len(),
            item.size
        );
        if let Some(report) = &report {
            for (entry, error) in &report.errors {
                out!("  entry {}: {error}", entry.0);
            }
        }
        for r in &item.rejected {
            out!("  refused: {} ({} {})", r.address, r.code, r.text);
        }
        if flush.queue_only {
            out!("queued; the next `anvert sync` or `anvert outbox --retry` sends it");
        } else {
            let path = item.path.as_deref().unwrap_or("-");
            out!(
                "uplink: {} bytes for this message (path {path}); ledger `send`: {} up, {} down",
                item.up_bytes,
                ledger_up,
                ledger_down
            );
            out!(
                "a plain SMTP + APPEND would have cost {} up{} ({})",
                plain_up,
                if plain_down > 0 {
                    format!(" and {plain_down} down")
                } else {
                    String::new()
                },
                ratio(item.up_bytes, plain_up)
            );
        }
    }
    Ok(if failed {
        ExitCode::from(exit::ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

fn ratio(ours: u64, plain: u64) -> String {
    if plain == 0 || ours == 0 {
        return "-".into();
    }
    format!("{:.2}x of it", ours as f64 / plain as f64)
}

pub async fn outbox(engine: &Engine, args: OutboxArgs, as_json: bool) -> anyhow::Result<ExitCode> {
    let account = accounts::pick(engine, args.account).await?;
    if let Some(id) = args.cancel {
        let done = engine.cancel_send(OutboxId(id)).await?;
        if as_json {
            doc::print(&json!({ "cancelled": done, "id": id }))?;
        } else if done {
            out!("outbox entry {id} cancelled");
        } else {
            out!("outbox entry {id} is being sent (or partly sent): not cancelled");
        }
        return Ok(if done {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(exit::ERROR)
        });
    }
    let mut report = None;
    if args.retry {
        accounts::authenticate(engine, account).await?;
        report = Some(engine.flush_outbox(account, args.network.kind()).await?);
    }
    let items = engine.outbox(account).await?;
    if as_json {
        doc::print(&json!({
            "outbox": items.iter().map(outbox_item).collect::<Vec<_>>(),
            "flushed": report.as_ref().map(send_report),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(r) = &report {
        out!(
            "flushed: {} sent, {} failed, {} waiting",
            r.sent,
            r.failed,
            r.waiting
        );
    }
    if items.is_empty() {
        out!("the outbox is empty");
    }
    for i in &items {
        out!(
            "{:>4}  {:<10}  {:>9} B  up {:>9} B  {}  {}",
            i.id.0,
            state_name(i.state),
            i.size,
            i.up_bytes,
            crate::width::fit(&i.subject, 30),
            i.recipients.join(", ")
        );
        if let Some(e) = &i.last_error {
            out!("      error: {e}");
        }
        for r in &i.rejected {
            out!("      refused: {} ({} {})", r.address, r.code, r.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn account_user(engine: &Engine, account: AccountId) -> anyhow::Result<String> {
    engine
        .accounts()
        .await?
        .into_iter()
        .find(|a| a.id == account)
        .map(|a| a.username)
        .with_context(|| format!("no account {}", account.0))
}

async fn item(engine: &Engine, account: AccountId, id: OutboxId) -> anyhow::Result<OutboxItem> {
    engine
        .outbox(account)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .with_context(|| format!("outbox entry {} is gone", id.0))
}

/// The ledger's `send` purpose of the account, all network kinds: (up, down).
async fn send_usage(engine: &Engine, account: AccountId) -> anyhow::Result<(u64, u64)> {
    let rows = engine.usage(account).await?;
    Ok(rows
        .iter()
        .filter(|r| r.purpose == Purpose::Send.as_str())
        .fold((0, 0), |(u, d), r| (u + r.bytes_up, d + r.bytes_down)))
}

pub fn state_name(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Queued => "queued",
        OutboxState::Appending => "appending",
        OutboxState::Appended => "appended",
        OutboxState::Submitting => "submitting",
        OutboxState::Submitted => "submitted",
        OutboxState::Sent => "sent",
        OutboxState::Failed => "failed",
        _ => "sending",
    }
}

pub fn outbox_item(i: &OutboxItem) -> Value {
    json!({
        "id": i.id.0,
        "account": i.account.0,
        "created_at": i.created_at,
        "message_id": i.message_id,
        "subject": i.subject,
        "recipients": i.recipients,
        "pending": i.pending,
        "rejected": i.rejected.iter().map(|r| json!({
            "address": r.address,
            "code": r.code,
            "enhanced": r.enhanced,
            "text": r.text,
        })).collect::<Vec<_>>(),
        "state": state_name(i.state),
        "size": i.size,
        "attempts": i.attempts,
        "next_attempt_at": i.next_attempt_at,
        "last_error": i.last_error,
        "parked": i.parked,
        "resends": i.resends,
        "up_bytes": i.up_bytes,
        "path": i.path,
        "sent_at": i.sent_at,
    })
}

fn send_report(r: &SendReport) -> Value {
    json!({
        "sent": r.sent,
        "failed": r.failed,
        "waiting": r.waiting,
        "errors": r.errors.iter().map(|(id, e)| json!({ "id": id.0, "error": e })).collect::<Vec<_>>(),
        "smtp_read": r.smtp_read,
        "smtp_written": r.smtp_written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_and_without_names() {
        let a = address("Bob Smith <bob@example.org>").unwrap();
        assert_eq!(a.name.as_deref(), Some("Bob Smith"));
        assert_eq!(a.email, "bob@example.org");
        let a = address(" carol@example.org ").unwrap();
        assert_eq!((a.name, a.email.as_str()), (None, "carol@example.org"));
        assert!(address("not an address").is_err());
        assert!(address("<>").is_err());
    }

    #[test]
    fn attachment_types_come_from_the_extension() {
        assert_eq!(
            mime_type(std::path::Path::new("a/b.PDF")),
            "application/pdf"
        );
        assert_eq!(
            mime_type(std::path::Path::new("x")),
            "application/octet-stream"
        );
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(50, 100), "0.50x of it");
        assert_eq!(ratio(0, 100), "-");
    }
}
