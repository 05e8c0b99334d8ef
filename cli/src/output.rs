//! What the CLI prints on stdout: the sync's bandwidth report, and tables for queries.
//! Progress goes to stderr (see `progress`).

use anvert_core::{
    engine::Engine,
    net::Purpose,
    store::{
        AccountId, DownloadState, Flags, FolderId, FolderSummary, MessageDetail, MessageSummary,
        PartDetail, SystemFlags, UsageRow,
    },
    sync::SyncReport,
};
use indicatif::HumanBytes;

use crate::width;

/// `println!` that returns an error (a closed pipe: `anvert ls | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!("{}\n", format_args!($($arg)*)))?
    };
}
pub(crate) use out;

/// How many messages `ls --attachments` reads per page while looking for attachments.
const ATTACHMENT_PAGE: u32 = 100;

/// The folders synced, the wire bytes by purpose, and those bytes against what downloading
/// the synced folders' stored messages whole would have moved (their RFC822.SIZE summed).
pub fn sync_report(report: &SyncReport, messages: u64, full: u64) -> anyhow::Result<()> {
    out!(
        "{:<24} {:<14} {:>7} {:>7} {:>7}",
        "folder",
        "mode",
        "added",
        "changed",
        "removed"
    );
    for f in &report.folders {
        out!(
            "{:<24} {:<14} {:>7} {:>7} {:>7}",
            f.name,
            format!("{:?}", f.mode),
            f.added + f.backfilled,
            f.changed,
            f.removed
        );
    }
    let snippets: u32 = report.folders.iter().map(|f| f.snippets).sum();
    let bodies: u32 = report.folders.iter().map(|f| f.bodies).sum();
    if snippets + bodies + report.attachments > 0 {
        out!(
            "prefetched: {snippets} snippets, {bodies} bodies, {} attachments",
            report.attachments
        );
    }
    for f in &report.folders {
        if !f.incomplete.is_empty() || f.unparsable > 0 {
            out!(
                "{}: {} messages stored incomplete, {} not stored (the server sent them \
                 broken; the next sync asks again)",
                f.name,
                f.incomplete.len(),
                f.unparsable
            );
        }
    }
    for (folder, error) in &report.errors {
        out!("error in {folder}: {error}");
    }
    if let Some(reason) = report.stopped {
        out!("stopped early: {reason:?} (the next sync continues)");
    }
    out!("\nwire bytes by purpose (TCP, TLS and compression included):");
    for purpose in Purpose::ALL {
        let (up, down) = (
            report.bytes.written_for(purpose),
            report.bytes.read_for(purpose),
        );
        if up + down > 0 {
            out!(
                "  {:<14} {:>12} up {:>12} down",
                purpose.as_str(),
                HumanBytes(up).to_string(),
                HumanBytes(down).to_string()
            );
        }
    }
    let spent = report.bytes.total();
    out!(
        "  {:<14} {:>12} ({spent} B)",
        "total",
        HumanBytes(spent).to_string()
    );
    if full == 0 {
        out!(
            "\ntransferred {}; nothing stored yet to compare a full download with",
            HumanBytes(spent)
        );
        return Ok(());
    }
    out!(
        "\ntransferred {} of a full download's {} ({:.2}%): {messages} messages stored in {} folder(s), {full} B by RFC822.SIZE",
        HumanBytes(spent),
        HumanBytes(full),
        spent as f64 * 100.0 / full as f64,
        report.folders.len()
    );
    Ok(())
}

/// The messages stored in the folders a sync reported, and what downloading them whole
/// would move (their RFC822.SIZE summed).
pub async fn full_download(
    engine: &Engine,
    account: AccountId,
    report: &SyncReport,
) -> anyhow::Result<(u64, u64)> {
    let mut messages = 0u64;
    let mut full = 0u64;
    for folder in engine.folders(account).await? {
        if report.folders.iter().any(|f| f.name == folder.name) {
            messages += u64::from(folder.total);
            full += engine.folder_bytes(folder.id).await?;
        }
    }
    Ok((messages, full))
}

pub fn folders(folders: &[FolderSummary]) -> anyhow::Result<()> {
    out!(
        "{:>4}  {:<24} {:>7} {:>7}  role",
        "id",
        "folder",
        "unread",
        "total"
    );
    for f in folders {
        out!(
            "{:>4}  {} {:>7} {:>7}  {}",
            f.id.0,
            width::fit(&f.name, 24),
            f.unread,
            f.total,
            f.role.map(|r| format!("{r:?}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// One row per message: id, sender, subject (columns by display width, cut without
/// splitting a character), then the preview's start.
pub fn messages(items: &[MessageSummary]) -> anyhow::Result<()> {
    for m in items {
        let from = m
            .from
            .first()
            .map(|a| a.name.clone().unwrap_or_else(|| a.email.clone()))
            .unwrap_or_default();
        out!(
            "{:>6}  {}  {}  {}{}",
            m.id.0,
            width::fit(&from, 24),
            width::fit(&m.subject, 50),
            if m.has_attachments { "📎 " } else { "" },
            width::cut(m.preview.as_deref().unwrap_or(""), 40)
        );
    }
    Ok(())
}

/// The attachments of a folder's newest messages, one per line with what `anvert get`
/// takes: the message id, the section, and the exact size in bytes (encoded, as stored).
pub async fn attachments(engine: &Engine, folder: FolderId, limit: u32) -> anyhow::Result<()> {
    out!(
        "{:>6}  {:<8} {:>10}  {:<10} {:<28} filename",
        "id",
        "section",
        "bytes",
        "state",
        "type"
    );
    let mut shown = 0;
    let mut cursor = None;
    loop {
        let page = engine.messages(folder, cursor, ATTACHMENT_PAGE).await?;
        for m in page.items.iter().filter(|m| m.has_attachments) {
            let Some(detail) = engine.message(m.id).await? else {
                continue;
            };
            for p in detail.parts.iter().filter(|p| p.is_attachment) {
                if shown >= limit {
                    return Ok(());
                }
                out!(
                    "{:>6}  {:<8} {:>10}  {:<10} {:<28} {}",
                    m.id.0,
                    p.section,
                    p.size,
                    state_name(&p.download_state),
                    p.mime_type,
                    p.filename.as_deref().unwrap_or("")
                );
                shown += 1;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// A message's headers, then its parts with what `anvert get` needs and how far each is
/// downloaded (with the file when there is one).
pub async fn message(engine: &Engine, m: &MessageDetail) -> anyhow::Result<()> {
    let s = &m.summary;
    out!("Message: {} (uid {})", s.id.0, s.uid);
    out!("Subject: {}", s.subject);
    for a in &s.from {
        out!("From:    {}", address(a.name.as_deref(), &a.email));
    }
    for a in &s.to {
        out!("To:      {}", address(a.name.as_deref(), &a.email));
    }
    if let Some(id) = &m.message_id {
        out!("Message-ID: {id}");
    }
    out!("Size:    {} ({} B)", HumanBytes(u64::from(s.size)), s.size);
    out!("Flags:   {}", flag_names(&s.flags));
    if let Some(p) = &s.preview {
        out!("Preview: {p}");
    }
    if m.parts.is_empty() {
        out!("\n(no parts stored: the server's structure of this message was not readable)");
        return Ok(());
    }
    out!(
        "\n{:<8} {:<28} {:<16} {:>10}  {:<10} {:<14} filename",
        "section",
        "type",
        "encoding",
        "size",
        "role",
        "downloaded"
    );
    let mut files = Vec::new();
    for p in &m.parts {
        let state = match p.download_state {
            DownloadState::None => "-".to_string(),
            _ => match engine.store().download(s.id, &p.section).await? {
                Some(r) if r.state == DownloadState::Complete => {
                    files.push((p.section.clone(), r.destination.clone()));
                    "complete".to_string()
                }
                Some(r) => {
                    files.push((p.section.clone(), r.destination.clone()));
                    format!("partial {}%", percent(r.encoded_offset, u64::from(p.size)))
                }
                None => state_name(&p.download_state).to_string(),
            },
        };
        out!(
            "{:<8} {:<28} {:<16} {:>10}  {:<10} {:<14} {}",
            p.section,
            p.mime_type,
            p.encoding.as_deref().unwrap_or(""),
            HumanBytes(u64::from(p.size)).to_string(),
            role(p),
            state,
            p.filename.as_deref().unwrap_or("")
        );
    }
    for (section, path) in &files {
        out!("  part {section}: {}", path.display());
    }
    out!("\ndownload a part: anvert get {} <section> <dir>", s.id.0);
    Ok(())
}

pub fn usage(rows: &[UsageRow]) -> anyhow::Result<()> {
    out!(
        "{:<12} {:<14} {:>12} {:>12}",
        "network",
        "purpose",
        "up",
        "down"
    );
    for r in rows {
        out!(
            "{:<12} {:<14} {:>12} {:>12}",
            r.network_kind,
            r.purpose,
            r.bytes_up,
            r.bytes_down
        );
    }
    Ok(())
}

fn flag_names(flags: &Flags) -> String {
    let system = [
        (SystemFlags::SEEN, "\\Seen"),
        (SystemFlags::ANSWERED, "\\Answered"),
        (SystemFlags::FLAGGED, "\\Flagged"),
        (SystemFlags::DELETED, "\\Deleted"),
        (SystemFlags::DRAFT, "\\Draft"),
    ];
    let names: Vec<&str> = system
        .iter()
        .filter(|(flag, _)| flags.system.contains(*flag))
        .map(|(_, name)| *name)
        .chain(flags.keywords.iter().map(String::as_str))
        .collect();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(" ")
    }
}

fn address(name: Option<&str>, email: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name} <{email}>"),
        _ => format!("<{email}>"),
    }
}

fn role(p: &PartDetail) -> &'static str {
    if p.is_attachment {
        "attachment"
    } else if p.mime_type.starts_with("text/") {
        "body"
    } else {
        "inline"
    }
}

fn state_name(state: &DownloadState) -> &'static str {
    match state {
        DownloadState::Partial => "partial",
        DownloadState::Complete => "complete",
        _ => "-",
    }
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}
