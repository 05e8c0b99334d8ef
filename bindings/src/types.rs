//! The records and enums apps see, and their one-to-one conversions to and from the core's
//! types. Ids cross the FFI as plain `i64` row ids; nothing here decides anything.

use std::time::{Duration, Instant};

use anvert_core::{
    engine as ce,
    net::{self as cn, Purpose},
    policy as cp, store as cs, sync as cy,
};

/// What network the phone is on, as the app reads it from the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkKind {
    Unmetered,
    Metered,
    Roaming,
    Offline,
}

impl From<NetworkKind> for cp::NetworkKind {
    fn from(n: NetworkKind) -> Self {
        match n {
            NetworkKind::Unmetered => cp::NetworkKind::Unmetered,
            NetworkKind::Metered => cp::NetworkKind::Metered,
            NetworkKind::Roaming => cp::NetworkKind::Roaming,
            NetworkKind::Offline => cp::NetworkKind::Offline,
        }
    }
}

/// The mail protocol of an account; `Auto` probes IMAP first, then POP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AccountProtocol {
    Imap,
    Pop3,
    Auto,
}

/// How the connection is secured. Plaintext exists only under its `Danger` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Security {
    /// TLS from the first byte (993 / 995).
    Tls,
    /// STARTTLS / STLS, refused if the server does not offer it.
    StartTls,
    /// No TLS at all: credentials in the clear. Tests and trusted LANs only.
    DangerPlaintext,
}

impl From<Security> for cn::Security {
    fn from(s: Security) -> Self {
        match s {
            Security::Tls => cn::Security::ImplicitTls,
            Security::StartTls => cn::Security::StartTls,
            Security::DangerPlaintext => cn::Security::DangerPlaintext,
        }
    }
}

/// An account as the user sets it up. The password is passed separately and kept in memory.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AccountSetup {
    pub name: String,
    pub protocol: AccountProtocol,
    pub host: String,
    /// `None`: the standard port for the protocol and security (for `Auto`, all of them).
    #[uniffi(default = None)]
    pub port: Option<u16>,
    pub security: Security,
    pub username: String,
}

/// A stored account (never its credential).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    pub id: i64,
    pub name: String,
    /// `Imap` or `Pop3` (an `Auto` setup records what it found).
    pub protocol: AccountProtocol,
    pub host: String,
    pub port: u16,
    /// "tls", "starttls" or "danger_plaintext".
    pub security: String,
    pub username: String,
}

impl From<cs::Account> for Account {
    fn from(a: cs::Account) -> Self {
        Account {
            id: a.id.0,
            name: a.name,
            protocol: match a.kind {
                cs::AccountKind::Pop3 => AccountProtocol::Pop3,
                cs::AccountKind::Imap => AccountProtocol::Imap,
                _ => AccountProtocol::Auto,
            },
            host: a.host,
            port: a.port,
            security: a.security,
            username: a.username,
        }
    }
}

/// When a POP3 account deletes downloaded messages from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Pop3Delete {
    LeaveOnServer,
    AfterDownload,
    AfterDays { days: u32 },
}

/// What one `sync` call may do.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncOptions {
    pub network: NetworkKind,
    /// Stop at a clean point after this many wire bytes.
    #[uniffi(default = None)]
    pub byte_budget: Option<u64>,
    /// Stop at a clean point after this many milliseconds (e.g. 25,000 for an iOS
    /// background refresh); the next call continues.
    #[uniffi(default = None)]
    pub deadline_ms: Option<u64>,
    /// Folder names; empty means every subscribed folder.
    #[uniffi(default = [])]
    pub folders: Vec<String>,
    /// Sync every message instead of the default recent window.
    #[uniffi(default = false)]
    pub all_messages: bool,
    #[uniffi(default = None)]
    pub pop3_delete: Option<Pop3Delete>,
}

impl SyncOptions {
    pub(crate) fn to_core(&self) -> cp::SyncRequest {
        let mut request = cp::SyncRequest {
            network: self.network.into(),
            byte_budget: self.byte_budget,
            folders: self.folders.clone(),
            deadline: self
                .deadline_ms
                .and_then(|ms| deadline_after(Instant::now(), ms)),
            ..cp::SyncRequest::default()
        };
        if self.all_messages {
            request.window = cp::SyncWindow::everything();
        }
        request.pop3_delete = match self.pop3_delete {
            None | Some(Pop3Delete::LeaveOnServer) => cp::Pop3DeletePolicy::LeaveOnServer,
            Some(Pop3Delete::AfterDownload) => cp::Pop3DeletePolicy::AfterDownload,
            Some(Pop3Delete::AfterDays { days }) => cp::Pop3DeletePolicy::AfterDays(days),
        };
        request
    }
}

/// `ms` milliseconds after `now`, or no deadline at all when that instant is too far away to
/// be represented (Apple's clock overflows about 584 years out; `Instant + Duration` would
/// panic there).
fn deadline_after(now: Instant, ms: u64) -> Option<Instant> {
    now.checked_add(Duration::from_millis(ms))
}

/// Why a sync stopped before doing everything it planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum StopReason {
    /// The byte budget was spent.
    Budget,
    /// The deadline passed.
    Deadline,
    /// The network kind was `Offline`: nothing was sent.
    Offline,
}

/// Wire bytes for one purpose.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PurposeBytes {
    /// "connect", "sync_metadata", "snippets", "bodies", "attachments", "write_back" or "send".
    pub purpose: String,
    pub up: u64,
    pub down: u64,
}

/// A folder that failed without ending the sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FolderError {
    pub folder: String,
    pub reason: String,
}

/// What one `sync` call did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Messages stored incomplete (their summary could not be read in full; the next sync
    /// fetches them again), and messages not stored at all (not even their UID could be read;
    /// the next sync asks again).
    pub incomplete: u64,
    pub unparsable: u64,
    /// Attachments the network policy prefetched.
    pub attachments: u32,
    /// All wire bytes of this call, up and down, TLS and compression included.
    pub bytes_total: u64,
    pub bytes: Vec<PurposeBytes>,
    pub stopped: Option<StopReason>,
    pub errors: Vec<FolderError>,
}

impl From<cy::SyncReport> for SyncReport {
    fn from(r: cy::SyncReport) -> Self {
        SyncReport {
            added: r.added(),
            changed: r.changed(),
            removed: r.removed(),
            incomplete: r.incomplete(),
            unparsable: r.unparsable(),
            attachments: r.attachments,
            bytes_total: r.bytes.total(),
            bytes: Purpose::ALL
                .iter()
                .map(|&p| PurposeBytes {
                    purpose: p.as_str().to_string(),
                    up: r.bytes.written_for(p),
                    down: r.bytes.read_for(p),
                })
                .filter(|b| b.up + b.down > 0)
                .collect(),
            stopped: r.stopped.map(|s| match s {
                cy::StopReason::Budget => StopReason::Budget,
                cy::StopReason::Offline => StopReason::Offline,
                _ => StopReason::Deadline,
            }),
            errors: r
                .errors
                .into_iter()
                .map(|(folder, reason)| FolderError { folder, reason })
                .collect(),
        }
    }
}

/// A folder's role (SPECIAL-USE or well-known name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FolderRole {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
    /// A role this version of the bindings does not know yet.
    Other,
}

impl FolderRole {
    /// The core's role; `Other` (a role these bindings do not know) has none.
    pub(crate) fn to_core(self) -> Option<cs::Role> {
        Some(match self {
            FolderRole::Inbox => cs::Role::Inbox,
            FolderRole::Sent => cs::Role::Sent,
            FolderRole::Drafts => cs::Role::Drafts,
            FolderRole::Trash => cs::Role::Trash,
            FolderRole::Junk => cs::Role::Junk,
            FolderRole::Archive => cs::Role::Archive,
            FolderRole::All => cs::Role::All,
            FolderRole::Flagged => cs::Role::Flagged,
            FolderRole::Other => return None,
        })
    }
}

/// A folder with its counts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Folder {
    pub id: i64,
    pub name: String,
    pub delimiter: Option<String>,
    /// The effective role: the app's (`Engine::set_folder_role`) where it set one, else
    /// SPECIAL-USE or a well-known name.
    pub role: Option<FolderRole>,
    /// Whether `role` is the app's choice rather than the server's LIST.
    pub role_set_by_app: bool,
    pub subscribed: bool,
    pub selectable: bool,
    pub unread: u32,
    pub total: u32,
}

impl From<cs::FolderSummary> for Folder {
    fn from(f: cs::FolderSummary) -> Self {
        Folder {
            id: f.id.0,
            name: f.name,
            delimiter: f.delimiter,
            role: f.role.map(|r| match r {
                cs::Role::Inbox => FolderRole::Inbox,
                cs::Role::Sent => FolderRole::Sent,
                cs::Role::Drafts => FolderRole::Drafts,
                cs::Role::Trash => FolderRole::Trash,
                cs::Role::Junk => FolderRole::Junk,
                cs::Role::Archive => FolderRole::Archive,
                cs::Role::All => FolderRole::All,
                cs::Role::Flagged => FolderRole::Flagged,
                _ => FolderRole::Other,
            }),
            role_set_by_app: f.role_set_by_app,
            subscribed: f.subscribed,
            selectable: f.selectable,
            unread: f.unread,
            total: f.total,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Address {
    pub name: Option<String>,
    pub email: String,
}

fn addresses(list: Vec<cs::Address>) -> Vec<Address> {
    list.into_iter()
        .map(|a| Address {
            name: a.name,
            email: a.email,
        })
        .collect()
}

/// A message flag: the system flags, or a keyword such as `$Forwarded`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Draft,
    Keyword { name: String },
}

pub(crate) fn core_flags(flags: &[Flag]) -> cs::Flags {
    let mut out = cs::Flags::default();
    for flag in flags {
        match flag {
            Flag::Seen => out.system.insert(cs::SystemFlags::SEEN),
            Flag::Answered => out.system.insert(cs::SystemFlags::ANSWERED),
            Flag::Flagged => out.system.insert(cs::SystemFlags::FLAGGED),
            Flag::Draft => out.system.insert(cs::SystemFlags::DRAFT),
            Flag::Keyword { name } => out.keywords.push(name.clone()),
        }
    }
    out
}

/// A message's flags as stored.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Flags {
    pub seen: bool,
    pub answered: bool,
    pub flagged: bool,
    pub draft: bool,
    pub keywords: Vec<String>,
}

impl From<cs::Flags> for Flags {
    fn from(f: cs::Flags) -> Self {
        Flags {
            seen: f.system.contains(cs::SystemFlags::SEEN),
            answered: f.system.contains(cs::SystemFlags::ANSWERED),
            flagged: f.system.contains(cs::SystemFlags::FLAGGED),
            draft: f.system.contains(cs::SystemFlags::DRAFT),
            keywords: f.keywords,
        }
    }
}

/// A message list row.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MessageSummary {
    pub id: i64,
    pub folder: i64,
    pub uid: u32,
    pub thread: i64,
    pub flags: Flags,
    /// The keywords of `flags` that stay on this device: the server cannot keep them.
    pub local_keywords: Vec<String>,
    /// When the server received it (unix seconds).
    pub internal_date: i64,
    /// The Date header (unix seconds).
    pub date: Option<i64>,
    pub size: u32,
    pub subject: String,
    pub from: Vec<Address>,
    pub to: Vec<Address>,
    pub preview: Option<String>,
    pub has_attachments: bool,
}

impl From<cs::MessageSummary> for MessageSummary {
    fn from(m: cs::MessageSummary) -> Self {
        MessageSummary {
            id: m.id.0,
            folder: m.folder.0,
            uid: m.uid,
            thread: m.thread.0,
            flags: m.flags.into(),
            local_keywords: m.local_keywords,
            internal_date: m.internal_date,
            date: m.date,
            size: m.size,
            subject: m.subject,
            from: addresses(m.from),
            to: addresses(m.to),
            preview: m.preview,
            has_attachments: m.has_attachments,
        }
    }
}

pub(crate) fn summaries(list: Vec<cs::MessageSummary>) -> Vec<MessageSummary> {
    list.into_iter().map(Into::into).collect()
}

/// Where the next page of a message list starts (keyset paging, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PageCursor {
    pub internal_date: i64,
    pub uid: u32,
}

impl From<PageCursor> for cs::Cursor {
    fn from(c: PageCursor) -> Self {
        cs::Cursor {
            internal_date: c.internal_date,
            uid: c.uid,
        }
    }
}

/// One page of a message list; `next` is `None` at the oldest message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MessagePage {
    pub messages: Vec<MessageSummary>,
    pub next: Option<PageCursor>,
}

impl From<cs::Page> for MessagePage {
    fn from(p: cs::Page) -> Self {
        MessagePage {
            messages: summaries(p.items),
            next: p.next.map(|c| PageCursor {
                internal_date: c.internal_date,
                uid: c.uid,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DownloadState {
    NotDownloaded,
    Partial,
    Complete,
}

/// One MIME part.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Part {
    /// The IMAP section ("1", "2.1", ...): pass it to `download_part`.
    pub section: String,
    pub mime_type: String,
    pub charset: Option<String>,
    pub encoding: Option<String>,
    /// Encoded size in octets.
    pub size: u32,
    pub disposition: Option<String>,
    /// Decoded file name as the sender gave it (display only; never used as a path).
    pub filename: Option<String>,
    pub content_id: Option<String>,
    pub is_attachment: bool,
    pub download_state: DownloadState,
}

pub(crate) fn parts(list: Vec<cs::PartDetail>) -> Vec<Part> {
    list.into_iter()
        .map(|p| Part {
            section: p.section,
            mime_type: p.mime_type,
            charset: p.charset,
            encoding: p.encoding,
            size: p.size,
            disposition: p.disposition,
            filename: p.filename,
            content_id: p.content_id,
            is_attachment: p.is_attachment,
            download_state: match p.download_state {
                cs::DownloadState::Complete => DownloadState::Complete,
                cs::DownloadState::Partial => DownloadState::Partial,
                _ => DownloadState::NotDownloaded,
            },
        })
        .collect()
}

/// A message with all its headers and parts.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MessageDetail {
    pub summary: MessageSummary,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Empty while the structure is unknown (a POP3 message known from TOP only).
    pub parts: Vec<Part>,
}

impl From<cs::MessageDetail> for MessageDetail {
    fn from(m: cs::MessageDetail) -> Self {
        MessageDetail {
            summary: m.summary.into(),
            sender: addresses(m.sender),
            reply_to: addresses(m.reply_to),
            cc: addresses(m.cc),
            bcc: addresses(m.bcc),
            message_id: m.message_id,
            in_reply_to: m.in_reply_to,
            references: m.references,
            parts: parts(m.parts),
        }
    }
}

/// A message's readable body.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Body {
    pub text: Option<String>,
    pub html: Option<String>,
    pub parts: Vec<Part>,
}

impl From<ce::Body> for Body {
    fn from(b: ce::Body) -> Self {
        Body {
            text: b.text,
            html: b.html,
            parts: parts(b.parts),
        }
    }
}

/// Data usage for one network kind and purpose (from the byte ledger).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UsageRow {
    /// "unmetered", "metered", "roaming".
    pub network_kind: String,
    pub purpose: String,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl From<cs::UsageRow> for UsageRow {
    fn from(u: cs::UsageRow) -> Self {
        UsageRow {
            network_kind: u.network_kind,
            purpose: u.purpose,
            bytes_up: u.bytes_up,
            bytes_down: u.bytes_down,
        }
    }
}

/// A queued local change not yet written back.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingOperation {
    pub id: i64,
    /// The message's folder (for a move, where it came from; for a draft, Drafts).
    pub folder: Option<i64>,
    pub message: Option<i64>,
    /// What it does: `+\Seen`, `-\Flagged`, `move`, `delete` or `draft`.
    pub description: String,
    pub attempts: u32,
    /// The last failure, fit to show.
    pub last_error: Option<String>,
    /// No longer retried (call `retry_parked` after the user asks).
    pub parked: bool,
}

impl From<cs::PendingOp> for PendingOperation {
    fn from(p: cs::PendingOp) -> Self {
        PendingOperation {
            id: p.id,
            folder: Some(p.folder.0),
            message: Some(p.message.0),
            description: format!("{}{}", if p.value { "+" } else { "-" }, p.flag),
            attempts: p.attempts,
            last_error: p.last_error,
            parked: p.parked,
        }
    }
}

impl From<cs::PendingMailboxOp> for PendingOperation {
    fn from(p: cs::PendingMailboxOp) -> Self {
        let description = match p.kind {
            cs::MailboxOpKind::Move => "move",
            cs::MailboxOpKind::Expunge => "delete",
            _ => "draft",
        };
        PendingOperation {
            id: p.id,
            folder: p.source.or(p.target).map(|f| f.0),
            message: p.message.map(|m| m.0),
            description: description.into(),
            attempts: p.attempts,
            last_error: p.last_error,
            parked: p.parked,
        }
    }
}

/// A draft as the editor has it; the engine builds the MIME.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Draft {
    pub from: Address,
    pub to: Vec<Address>,
    #[uniffi(default = [])]
    pub cc: Vec<Address>,
    /// Recipients who get the message without appearing in it (`send`; a saved draft keeps
    /// them for `send_draft`).
    #[uniffi(default = [])]
    pub bcc: Vec<Address>,
    pub subject: String,
    pub text: String,
    #[uniffi(default = None)]
    pub html: Option<String>,
    #[uniffi(default = [])]
    pub attachments: Vec<DraftAttachment>,
}

/// A file attached to a draft.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct DraftAttachment {
    /// The file name shown to the recipient.
    pub name: String,
    /// `type/subtype`.
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for DraftAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DraftAttachment")
            .field("mime_type", &self.mime_type)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

fn core_address(a: Address) -> cs::Address {
    cs::Address {
        name: a.name,
        email: a.email,
    }
}

impl From<Draft> for ce::Draft {
    fn from(d: Draft) -> Self {
        ce::Draft {
            from: core_address(d.from),
            to: d.to.into_iter().map(core_address).collect(),
            cc: d.cc.into_iter().map(core_address).collect(),
            bcc: d.bcc.into_iter().map(core_address).collect(),
            subject: d.subject,
            text: d.text,
            html: d.html,
            attachments: d
                .attachments
                .into_iter()
                .map(|a| ce::DraftAttachment {
                    name: a.name,
                    mime_type: a.mime_type,
                    bytes: a.bytes,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(deadline_ms: Option<u64>) -> SyncOptions {
        SyncOptions {
            network: NetworkKind::Unmetered,
            byte_budget: None,
            deadline_ms,
            folders: Vec::new(),
            all_messages: false,
            pop3_delete: None,
        }
    }

    #[test]
    fn a_huge_deadline_is_no_deadline() {
        // The latest instant this platform's clock can hold, to the second: anything after
        // it cannot be represented, as on Apple platforms for deadlines centuries away.
        let mut late = Instant::now();
        let mut step = Duration::from_secs(u64::MAX / 2);
        while step >= Duration::from_secs(1) {
            match late.checked_add(step) {
                Some(later) => late = later,
                None => step /= 2,
            }
        }
        assert_eq!(deadline_after(late, u64::MAX), None);
        assert_eq!(deadline_after(late, 0), Some(late));

        assert_eq!(options(None).to_core().deadline, None);
        let far = options(Some(u64::MAX)).to_core();
        assert!(far.deadline.is_none_or(|d| d > Instant::now()));
        let soon = options(Some(25_000)).to_core().deadline;
        assert!(soon.is_some_and(|d| d > Instant::now()));
    }
}

#[cfg(test)]
mod role_tests {
    use super::*;

    #[test]
    fn folder_roles_convert_both_ways() {
        let all = [
            FolderRole::Inbox,
            FolderRole::Sent,
            FolderRole::Drafts,
            FolderRole::Trash,
            FolderRole::Junk,
            FolderRole::Archive,
            FolderRole::All,
            FolderRole::Flagged,
        ];
        for role in all {
            let folder = Folder::from(cs::FolderSummary {
                id: cs::FolderId(7),
                name: "X".into(),
                delimiter: None,
                role: role.to_core(),
                role_set_by_app: true,
                subscribed: true,
                selectable: true,
                unread: 0,
                total: 0,
            });
            assert_eq!((folder.role, folder.role_set_by_app), (Some(role), true));
        }
        assert_eq!(FolderRole::Other.to_core(), None);
    }
}
