//! `--json` documents: the engine's values as JSON, one document per command on stdout. Field names
//! are documented in the README ("JSON output"); ids are the same numbers the human output
//! prints, times are unix seconds, sizes are bytes.

use std::io::Write;

use anvert_core::{
    engine::ProbeAttempt,
    net::Security,
    store::{
        Account, Address, DownloadState, Flags, FolderSummary, MessageDetail, MessageSummary,
        PartDetail, PendingMailboxOp, PendingOp, SystemFlags, UsageRow,
    },
    sync::SyncReport,
};
use serde_json::{Value, json};

/// Prints one JSON document (pretty, newline-terminated) on stdout.
pub fn print(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

pub fn account(a: &Account) -> Value {
    json!({
        "id": a.id.0,
        "name": a.name,
        "protocol": format!("{:?}", a.kind).to_lowercase(),
        "host": a.host,
        "port": a.port,
        "security": a.security,
        "user": a.username,
        "created_at": a.created_at,
    })
}

pub fn security(s: Security) -> &'static str {
    match s {
        Security::ImplicitTls => "tls",
        Security::StartTls => "starttls",
        _ => "plaintext",
    }
}

pub fn attempt(a: &ProbeAttempt) -> Value {
    json!({
        "protocol": format!("{:?}", a.protocol).to_lowercase(),
        "port": a.port,
        "security": security(a.security),
        "ok": a.failure.is_none(),
        "failure": a.failure,
    })
}

pub fn folder(f: &FolderSummary) -> Value {
    json!({
        "id": f.id.0,
        "name": f.name,
        "role": f.role.map(|r| format!("{r:?}").to_lowercase()),
        "unread": f.unread,
        "total": f.total,
        "subscribed": f.subscribed,
        "selectable": f.selectable,
    })
}

pub fn address(a: &Address) -> Value {
    json!({ "name": a.name, "email": a.email })
}

fn addresses(list: &[Address]) -> Value {
    Value::Array(list.iter().map(address).collect())
}

/// Flag names as IMAP spells them (`\Seen`, keywords as they are).
pub fn flag_names(flags: &Flags) -> Vec<String> {
    let system = [
        (SystemFlags::SEEN, "\\Seen"),
        (SystemFlags::ANSWERED, "\\Answered"),
        (SystemFlags::FLAGGED, "\\Flagged"),
        (SystemFlags::DELETED, "\\Deleted"),
        (SystemFlags::DRAFT, "\\Draft"),
    ];
    system
        .iter()
        .filter(|(flag, _)| flags.system.contains(*flag))
        .map(|(_, name)| (*name).to_string())
        .chain(flags.keywords.iter().cloned())
        .collect()
}

pub fn message(m: &MessageSummary) -> Value {
    json!({
        "id": m.id.0,
        "folder": m.folder.0,
        "uid": m.uid,
        "thread": m.thread.0,
        "flags": flag_names(&m.flags),
        "local_keywords": m.local_keywords,
        "internal_date": m.internal_date,
        "date": m.date,
        "size": m.size,
        "subject": m.subject,
        "from": addresses(&m.from),
        "to": addresses(&m.to),
        "preview": m.preview,
        "has_attachments": m.has_attachments,
    })
}

pub fn messages(items: &[MessageSummary]) -> Value {
    Value::Array(items.iter().map(message).collect())
}

pub fn part(p: &PartDetail) -> Value {
    json!({
        "section": p.section,
        "type": p.mime_type,
        "charset": p.charset,
        "encoding": p.encoding,
        "size": p.size,
        "filename": p.filename,
        "attachment": p.is_attachment,
        "downloaded": match p.download_state {
            DownloadState::Complete => "complete",
            DownloadState::Partial => "partial",
            _ => "none",
        },
    })
}

pub fn detail(m: &MessageDetail) -> Value {
    let mut v = message(&m.summary);
    if let Value::Object(map) = &mut v {
        map.insert("message_id".into(), json!(m.message_id));
        map.insert("in_reply_to".into(), json!(m.in_reply_to));
        map.insert("references".into(), json!(m.references));
        map.insert("cc".into(), addresses(&m.cc));
        map.insert("reply_to".into(), addresses(&m.reply_to));
        map.insert(
            "parts".into(),
            Value::Array(m.parts.iter().map(part).collect()),
        );
    }
    v
}

pub fn flag_op(o: &PendingOp) -> Value {
    json!({
        "id": o.id,
        "kind": "flag",
        "message": o.message.0,
        "folder": o.folder.0,
        "flag": o.flag,
        "set": o.value,
        "attempts": o.attempts,
        "state": op_state(o.parked, o.last_error.is_some()),
        "last_error": o.last_error,
    })
}

pub fn mailbox_op(o: &PendingMailboxOp) -> Value {
    json!({
        "id": o.id,
        "kind": format!("{:?}", o.kind).to_lowercase(),
        "message": o.message.map(|m| m.0),
        "source": o.source.map(|f| f.0),
        "target": o.target.map(|f| f.0),
        "attempts": o.attempts,
        "state": op_state(o.parked, o.last_error.is_some()),
        "last_error": o.last_error,
    })
}

/// `parked` (no longer retried until `anvert retry`), `retrying` (failed, will be tried
/// again) or `queued`.
pub fn op_state(parked: bool, failed: bool) -> &'static str {
    match (parked, failed) {
        (true, _) => "parked",
        (false, true) => "retrying",
        _ => "queued",
    }
}

pub fn usage(rows: &[UsageRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "network": r.network_kind,
                    "purpose": r.purpose,
                    "bytes_up": r.bytes_up,
                    "bytes_down": r.bytes_down,
                })
            })
            .collect(),
    )
}

/// A sync's report; `full_bytes` is what downloading the synced folders' stored messages
/// whole would have moved (their RFC822.SIZE summed).
pub fn sync_report(report: &SyncReport, full_bytes: u64, messages: u64) -> Value {
    let folders: Vec<Value> = report
        .folders
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "mode": format!("{:?}", f.mode),
                "added": f.added + f.backfilled,
                "changed": f.changed,
                "removed": f.removed,
                "snippets": f.snippets,
                "bodies": f.bodies,
                "incomplete": f.incomplete.len(),
                "unparsable": f.unparsable,
            })
        })
        .collect();
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|(folder, error)| json!({ "folder": folder, "error": error }))
        .collect();
    let by_purpose: serde_json::Map<String, Value> = anvert_core::net::Purpose::ALL
        .iter()
        .filter(|p| report.bytes.written_for(**p) + report.bytes.read_for(**p) > 0)
        .map(|p| {
            (
                p.as_str().to_string(),
                json!({ "up": report.bytes.written_for(*p), "down": report.bytes.read_for(*p) }),
            )
        })
        .collect();
    json!({
        "folders": folders,
        "errors": errors,
        "stopped": report.stopped.map(|s| format!("{s:?}")),
        "attachments": report.attachments,
        "bytes": { "total": report.bytes.total(), "by_purpose": by_purpose },
        "messages_stored": messages,
        "full_download_bytes": full_bytes,
    })
}

/// Prints one JSON document on one line (streams: `watch --json`).
pub fn print_line(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
