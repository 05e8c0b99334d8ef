//! What the CLI prints: progress while syncing, and tables for reports and queries.

use std::{io::Write, sync::Mutex};

use anvert_core::{
    engine::Engine,
    net::Purpose,
    store::{AccountId, FolderSummary, MessageDetail, MessageSummary, UsageRow},
    sync::{EventSink, SyncEvent, SyncReport},
};

/// Prints sync progress on one stderr line.
#[derive(Default)]
pub struct Progress(Mutex<()>);

impl EventSink for Progress {
    fn emit(&self, event: SyncEvent) {
        let _line = self.0.lock();
        if let SyncEvent::Progress {
            folder,
            synced,
            total,
        } = event
        {
            let width = 30usize;
            let done = if total == 0 {
                width
            } else {
                (synced as usize * width / total as usize).min(width)
            };
            eprint!(
                "\r  folder {:>3} [{}{}] {synced}/{total}   ",
                folder.0,
                "#".repeat(done),
                ".".repeat(width - done)
            );
            let _ = std::io::stderr().flush();
        }
    }
}

pub async fn sync_report(
    engine: &Engine,
    account: AccountId,
    report: &SyncReport,
) -> anyhow::Result<()> {
    eprintln!();
    println!(
        "{:<24} {:<14} {:>7} {:>7} {:>7}",
        "folder", "mode", "added", "changed", "removed"
    );
    for f in &report.folders {
        println!(
            "{:<24} {:<14} {:>7} {:>7} {:>7}",
            f.name,
            format!("{:?}", f.mode),
            f.added + f.backfilled,
            f.changed,
            f.removed
        );
    }
    for (folder, error) in &report.errors {
        println!("error in {folder}: {error}");
    }
    if let Some(reason) = report.stopped {
        println!("stopped early: {reason:?} (the next sync continues)");
    }
    println!("\nwire bytes this sync (TCP, TLS and compression included):");
    for purpose in Purpose::ALL {
        let (up, down) = (
            report.bytes.written_for(purpose),
            report.bytes.read_for(purpose),
        );
        if up + down > 0 {
            println!(
                "  {:<14} {:>12} B up {:>12} B down",
                purpose.as_str(),
                up,
                down
            );
        }
    }
    println!("  {:<14} {:>12} B", "total", report.bytes.total());
    // What the same messages would cost as a full download: the sum of their RFC822.SIZE.
    let mut messages = 0u64;
    let mut full = 0u64;
    for folder in engine.folders(account).await? {
        let mut cursor = None;
        loop {
            let page = engine.messages(folder.id, cursor, 500).await?;
            messages += page.items.len() as u64;
            full += page.items.iter().map(|m| u64::from(m.size)).sum::<u64>();
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    if full > 0 {
        println!(
            "\n{messages} messages stored; downloading them whole would move at least {full} B (uncompressed): this sync moved {:.2}% of that",
            report.bytes.total() as f64 * 100.0 / full as f64
        );
    }
    Ok(())
}

pub fn folders(folders: &[FolderSummary]) {
    println!(
        "{:>4}  {:<24} {:>7} {:>7}  role",
        "id", "folder", "unread", "total"
    );
    for f in folders {
        println!(
            "{:>4}  {:<24} {:>7} {:>7}  {}",
            f.id.0,
            f.name,
            f.unread,
            f.total,
            f.role.map(|r| format!("{r:?}")).unwrap_or_default()
        );
    }
}

pub fn messages(items: &[MessageSummary]) {
    for m in items {
        let from = m
            .from
            .first()
            .map(|a| a.name.clone().unwrap_or_else(|| a.email.clone()))
            .unwrap_or_default();
        println!(
            "{:>6}  {:<24.24}  {:<50.50}  {}{}",
            m.id.0,
            from,
            m.subject,
            if m.has_attachments { "📎 " } else { "" },
            m.preview
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(40)
                .collect::<String>()
        );
    }
}

pub fn message(m: &MessageDetail) {
    let s = &m.summary;
    println!("Subject: {}", s.subject);
    for a in &s.from {
        println!("From:    {} <{}>", a.name.as_deref().unwrap_or(""), a.email);
    }
    for a in &s.to {
        println!("To:      {} <{}>", a.name.as_deref().unwrap_or(""), a.email);
    }
    println!("Size:    {} B, uid {}, flags {:?}", s.size, s.uid, s.flags);
    if let Some(p) = &s.preview {
        println!("Preview: {p}");
    }
    println!(
        "\n{:<8} {:<28} {:>10}  {:<10} name",
        "part", "type", "bytes", "state"
    );
    for p in &m.parts {
        println!(
            "{:<8} {:<28} {:>10}  {:<10} {}",
            p.section,
            p.mime_type,
            p.size,
            format!("{:?}", p.download_state),
            p.filename.as_deref().unwrap_or("")
        );
    }
}

pub fn usage(rows: &[UsageRow]) {
    println!(
        "{:<12} {:<14} {:>12} {:>12}",
        "network", "purpose", "up", "down"
    );
    for r in rows {
        println!(
            "{:<12} {:<14} {:>12} {:>12}",
            r.network_kind, r.purpose, r.bytes_up, r.bytes_down
        );
    }
}
