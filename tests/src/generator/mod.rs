//! A seeded, realistic mailbox generator that returns its ground truth.
//!
//! Message `i` is a pure function of `(config, i)`: [`generate_one`] builds it alone and
//! [`generate`] streams a whole mailbox without holding it in memory. Each message comes in
//! wire form (CRLF, RFC 5322) beside a [`MessageTruth`]: decoded headers, flags, and for every
//! MIME part its IMAP section, type, encodings, sizes, SHA-256 and decoded text, so tests can
//! check what a sync engine stored against what was really sent.
//!
//! The mix covers plain text in 7bit/8bit/quoted-printable/base64, legacy charsets
//! (ISO-8859-1, Windows-1252, KOI8-R, ISO-2022-JP), RFC 2047 headers, threads, HTML
//! alternatives, multipart/related with `cid:` images, forwarded message/rfc822 parts,
//! attachments with RFC 2231/2047 and hostile file names, and a long tail of attachment sizes
//! set by [`SizeMix`]. [`write_maildir`] lays a mailbox out for Dovecot.

mod attach;
mod compose;
mod content;
mod encode;
mod mime;

use std::{
    fmt,
    fs::{self, File},
    io::{self, Write},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// How a mailbox is generated. Two equal configs give byte-identical mailboxes.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    /// Number of messages; also sets the spacing of dates over `span_secs`.
    pub count: usize,
    pub mix: SizeMix,
    /// Unix seconds: the mailbox's "now". Message dates lie in the `span_secs` before it,
    /// strictly increasing with the index (past it only if `count` exceeds `span_secs`).
    pub start_date: i64,
    pub span_secs: i64,
    /// Fraction of messages (after the first) that reply to an earlier one.
    pub reply_prob: f64,
    /// The mailbox owner's address, found in most messages' To (else Cc or Bcc).
    pub owner_email: String,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            count: 100,
            mix: SizeMix::default(),
            start_date: 1_735_689_600, // 2025-01-01T00:00:00Z
            span_secs: 2 * 365 * 86_400,
            reply_prob: 0.25,
            owner_email: "tester@anvert.test".to_string(),
        }
    }
}

/// The attachment size distribution. Per message: with `attachment_prob` it carries 1–3
/// attachments; the first is ≥20 MiB with `huge_prob`, 1–10 MiB with `medium_prob`, else
/// 20–200 KiB; extra ones are 20–200 KiB. Every binary part (inline images too) is capped at
/// `max_attachment` bytes; 0 means no binary parts at all.
#[derive(Debug, Clone, PartialEq)]
pub struct SizeMix {
    pub attachment_prob: f64,
    pub medium_prob: f64,
    pub huge_prob: f64,
    pub max_attachment: usize,
}

impl Default for SizeMix {
    /// The long tail of a real mailbox: ~15% of messages with attachments, ~1 in 12 of those
    /// in the megabytes, ~1 in 250 above 20 MiB.
    fn default() -> Self {
        SizeMix {
            attachment_prob: 0.15,
            medium_prob: 0.08,
            huge_prob: 0.004,
            max_attachment: 25 << 20,
        }
    }
}

impl SizeMix {
    /// The default mix capped at 64 KiB per part, for tests with thousands of messages.
    pub fn small() -> Self {
        SizeMix {
            max_attachment: 64 << 10,
            ..SizeMix::default()
        }
    }

    /// No attachments and no binary parts.
    pub fn none() -> Self {
        SizeMix {
            attachment_prob: 0.0,
            medium_prob: 0.0,
            huge_prob: 0.0,
            max_attachment: 0,
        }
    }
}

/// One message in wire form and what it contains.
#[derive(Debug, Clone)]
pub struct GeneratedMessage {
    pub raw: Vec<u8>,
    pub truth: MessageTruth,
}

/// Ground truth of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageTruth {
    pub index: usize,
    /// Without the angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// Oldest first, as in the header.
    pub references: Vec<String>,
    /// Decoded.
    pub subject: String,
    pub from: Vec<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    /// Unix seconds; the Date header (in some zone) and the Maildir file's mtime.
    pub date: i64,
    /// In [`Flag`] order.
    pub flags: Vec<Flag>,
    /// `raw.len()`: the RFC822.SIZE.
    pub size: usize,
    /// Leaf and message/rfc822 parts in document order.
    pub parts: Vec<PartTruth>,
}

/// A mailbox (decoded display name, address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub name: Option<String>,
    pub email: String,
}

/// IMAP system flags the generator sets, in Maildir letter order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    Draft,
    Flagged,
    Answered,
    Seen,
}

impl Flag {
    /// The IMAP name, e.g. `\Seen`.
    pub fn imap_name(self) -> &'static str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Flagged => "\\Flagged",
            Flag::Answered => "\\Answered",
            Flag::Draft => "\\Draft",
        }
    }

    /// The Maildir info letter (D, F, R, S).
    pub fn maildir_letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
        }
    }
}

/// Ground truth of one MIME part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartTruth {
    /// IMAP section: "1" for a single-part message, "1.2", "2.1" (inside message/rfc822)...
    pub section: String,
    /// Lowercase, e.g. "text/plain".
    pub mime_type: String,
    /// Lowercase `charset` parameter as written; None when absent.
    pub charset: Option<String>,
    /// Lowercase Content-Transfer-Encoding ("7bit" when absent).
    pub encoding: String,
    pub disposition: Option<String>,
    /// The decoded Content-Disposition filename, else the Content-Type name.
    pub filename: Option<String>,
    /// Without the angle brackets.
    pub content_id: Option<String>,
    /// Bytes of the body as it sits in the message (IMAP BODYSTRUCTURE size).
    pub encoded_size: usize,
    /// Bytes after the transfer decoding (before any charset conversion).
    pub decoded_size: usize,
    /// Hex SHA-256 of the decoded bytes.
    pub sha256: String,
    /// For text/* parts, the decoded text (CRLF line endings).
    pub text: Option<String>,
}

/// Message `index` of the mailbox `cfg` describes.
pub fn generate_one(cfg: &GenConfig, index: usize) -> GeneratedMessage {
    compose::compose(cfg, index)
}

/// All `cfg.count` messages, oldest first, generated lazily.
pub fn generate(cfg: &GenConfig) -> impl Iterator<Item = GeneratedMessage> + use<> {
    let cfg = cfg.clone();
    (0..cfg.count).map(move |i| generate_one(&cfg, i))
}

/// Totals of a generated mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub count: usize,
    pub total_bytes: u64,
    /// Parts with `Content-Disposition: attachment`.
    pub attachments: usize,
    /// Largest message's RFC822.SIZE.
    pub largest: usize,
}

pub fn mailbox_summary(truths: &[MessageTruth]) -> Summary {
    truths.iter().fold(Summary::default(), |s, t| Summary {
        count: s.count + 1,
        total_bytes: s.total_bytes + t.size as u64,
        attachments: s.attachments
            + t.parts
                .iter()
                .filter(|p| p.disposition.as_deref() == Some("attachment"))
                .count(),
        largest: s.largest.max(t.size),
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} messages, {:.1} MiB, {} attachments, largest {:.1} MiB",
            self.count,
            self.total_bytes as f64 / 1_048_576.0,
            self.attachments,
            self.largest as f64 / 1_048_576.0
        )
    }
}

/// Writes `msgs` into a Maildir++ `folder` (None or "INBOX" = the root's `cur/`; "Archive" =
/// `<root>/.Archive/cur`, "a/b" = `.a.b`) and returns their truths in order, so a mailbox of
/// thousands of messages appears in Dovecot without any APPEND. Creates `cur`, `new` and `tmp`
/// as needed. Files hold the raw bytes as given (CRLF), so `S=` and the file size equal the
/// RFC822.SIZE.
///
/// Dovecot gives new files UIDs in the order of the timestamp in their names and takes
/// INTERNALDATE from the mtime, so names are `<date>.M<micro>P<i>Q<i>.anvert,S=<size>:2,<flags>`
/// with strictly increasing (date, micro), and each file's mtime is the message date.
pub fn write_maildir(
    maildir_root: &Path,
    folder: Option<&str>,
    msgs: impl IntoIterator<Item = GeneratedMessage>,
) -> io::Result<Vec<MessageTruth>> {
    let dir = create_folder(maildir_root, folder)?;

    let mut truths = Vec::new();
    let mut last: Option<(i64, u32)> = None;
    for msg in msgs {
        let truth = msg.truth;
        // Dates already increase with the index; the microseconds only break ties.
        let micro = match last {
            Some((date, micro)) if date >= truth.date => micro + 1,
            _ => 0,
        };
        let date = last.map_or(truth.date, |(date, _)| date.max(truth.date));
        last = Some((date, micro));
        let flags: String = {
            let mut letters: Vec<char> = truth.flags.iter().map(|f| f.maildir_letter()).collect();
            letters.sort_unstable();
            letters.into_iter().collect()
        };
        let name = format!(
            "{date}.M{micro}P{i}Q{i}.anvert,S={size}:2,{flags}",
            i = truth.index,
            size = msg.raw.len()
        );

        let tmp = dir.join("tmp").join(&name);
        let mut file = File::create(&tmp)?;
        file.write_all(&msg.raw)?;
        file.set_modified(system_time(truth.date))?;
        drop(file);
        fs::rename(&tmp, dir.join("cur").join(&name))?;
        truths.push(truth);
    }
    Ok(truths)
}

/// Creates `folder` (None or INBOX: the root) in the Maildir++ tree at `maildir_root`, with
/// the root itself, and returns its directory.
pub fn create_folder(maildir_root: &Path, folder: Option<&str>) -> io::Result<PathBuf> {
    let dir = folder_dir(maildir_root, folder);
    for d in [maildir_root, dir.as_path()] {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(d.join(sub))?;
        }
    }
    if dir != maildir_root {
        File::create(dir.join("maildirfolder"))?;
    }
    Ok(dir)
}

fn folder_dir(root: &Path, folder: Option<&str>) -> PathBuf {
    match folder {
        None => root.to_path_buf(),
        Some(name) if name.eq_ignore_ascii_case("INBOX") => root.to_path_buf(),
        Some(name) => root.join(format!(".{}", name.replace('/', "."))),
    }
}

fn system_time(unix: i64) -> SystemTime {
    let offset = Duration::from_secs(unix.unsigned_abs());
    if unix >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    }
}
