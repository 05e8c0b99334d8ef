//! A logged-in IMAP session: our own narrow API over async-imap. It reports what the server
//! said in plain types and never looks at the store. Every command goes through the raw
//! pipelined loop in `exchange`, so no untagged response is ever dropped.

use std::{collections::HashMap, time::Duration};

use async_imap::{
    Session,
    imap_proto::{MailboxDatum, NameAttribute, Response, ResponseCode, StatusAttribute},
};

use super::{Capabilities, connect::map_err, fetch::FlagUpdate};
use crate::{
    error::{Error, Result},
    limits,
    net::{BoxedIo, WireMeter},
};

/// A folder's role, from SPECIAL-USE attributes or the INBOX name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

/// One LIST entry, with its STATUS when LIST-STATUS delivered one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The full mailbox name as the server spells it (modified UTF-7 left as sent).
    pub name: String,
    pub delimiter: Option<String>,
    pub selectable: bool,
    pub subscribed: bool,
    pub special_use: Option<SpecialUse>,
    pub status: Option<FolderStatus>,
}

/// STATUS of a folder, without selecting it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: Option<u32>,
    pub uid_next: Option<u32>,
    pub uid_validity: Option<u32>,
    pub highest_modseq: Option<u64>,
}

/// What SELECT reported, including QRESYNC's resynchronisation data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedFolder {
    pub exists: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    /// `VANISHED (EARLIER)` UIDs (QRESYNC), expanded.
    pub vanished: Vec<u32>,
    /// Flag changes since the given modseq (QRESYNC).
    pub changed: Vec<FlagUpdate>,
    /// The server has no MODSEQ for this folder (`NOMODSEQ`).
    pub no_modseq: bool,
    /// The flags the client may change permanently (`PERMANENTFLAGS`), as listed; `\*`
    /// means any keyword. `None` when the server did not say (RFC 3501: then every flag can
    /// be changed permanently).
    pub permanent_flags: Option<Vec<String>>,
}

/// QRESYNC parameters: what we knew at the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QresyncParams {
    pub uid_validity: u32,
    pub highest_modseq: u64,
}

/// How the folder selected now was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// SELECT: flags can be stored, messages moved and expunged.
    ReadWrite,
    /// EXAMINE: reads only. Anything that writes must SELECT it first (`ensure_selected`).
    ReadOnly,
}

/// The most VANISHED UIDs one response may expand to; a hostile `1:4294967295` is refused.
const MAX_VANISHED: u64 = 5_000_000;

/// A logged-in IMAP connection.
#[derive(Debug)]
pub struct ImapSession {
    pub(super) inner: Session<BoxedIo>,
    caps: Capabilities,
    enabled: Vec<&'static str>,
    /// ENABLE not yet sent: it goes in front of the next command batch that may use it (not
    /// a read-only content fetch; see `exchange`).
    pub(super) enable_pending: bool,
    /// A folder was EXAMINEd while ENABLE was pending: RFC 5161 allows ENABLE only with no
    /// mailbox selected, so the batch that sends it leaves that folder first (UNSELECT, or
    /// CLOSE, which expunges nothing in a read-only folder).
    pub(super) examined_before_enable: bool,
    compressed: bool,
    meter: WireMeter,
    pub(super) timeout: Duration,
    /// Corks the stream while a pipeline's commands are written (see `cork`).
    pub(super) cork: super::cork::CorkSwitch,
    /// The folder selected now, what its SELECT (or EXAMINE) reported, and how it was opened.
    /// Every command that changes the selection (SELECT, a failed SELECT, EXAMINE, CLOSE,
    /// UNSELECT) must keep it true.
    pub(super) selected: Option<(String, SelectedFolder, Access)>,
    /// See [`server_fingerprint`](Self::server_fingerprint).
    fingerprint: u64,
    /// `ConnectOptions::binary`.
    binary_wanted: bool,
    /// `ConnectOptions::download_depth`.
    download_depth: usize,
}

impl ImapSession {
    pub(super) fn new(
        inner: Session<BoxedIo>,
        caps: Capabilities,
        enabled: Vec<&'static str>,
        compressed: bool,
        meter: WireMeter,
        timeout: Duration,
        cork: super::cork::CorkSwitch,
    ) -> Self {
        let enable_pending = !enabled.is_empty();
        ImapSession {
            inner,
            caps,
            enabled,
            enable_pending,
            examined_before_enable: false,
            compressed,
            meter,
            timeout,
            cork,
            selected: None,
            fingerprint: 0,
            binary_wanted: true,
            download_depth: super::connect::DEFAULT_DOWNLOAD_DEPTH,
        }
    }

    /// Sets the server's fingerprint (see `caps::server_fingerprint`).
    pub(super) fn with_fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    pub(super) fn with_content_options(mut self, binary: bool, download_depth: usize) -> Self {
        self.binary_wanted = binary;
        self.download_depth = download_depth.max(1);
        self
    }

    /// Whether parts are fetched through BINARY (RFC 3516): offered by the server and not
    /// turned off in `ConnectOptions`.
    pub fn uses_binary(&self) -> bool {
        self.binary_wanted && self.caps.has("BINARY")
    }

    /// How many chunk requests of a download to keep in flight (`ConnectOptions`).
    pub fn download_depth(&self) -> usize {
        self.download_depth
    }

    /// What identifies the server's software and version: a stable hash of its capabilities
    /// (without those that depend on the connection) and the product and version words of its
    /// greeting (without times, ids and addresses). Equal for two connections to the same
    /// server build; a server upgrade that changes either gives another value. The sync
    /// keys what it learns about a server's answers on it.
    pub fn server_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The capabilities announced after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Extensions switched on with ENABLE (CONDSTORE, QRESYNC); sent with the first batch.
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    pub fn has_condstore(&self) -> bool {
        self.enabled.contains(&"CONDSTORE")
    }

    pub fn has_qresync(&self) -> bool {
        self.enabled.contains(&"QRESYNC")
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The folder selected read-write now (its name as given to SELECT) and what its SELECT
    /// reported; `None` when nothing is selected or the folder was only EXAMINEd (see
    /// [`selection`](Self::selection)), so a caller that writes never mistakes a read-only
    /// folder for its own. UIDVALIDITY, NOMODSEQ and PERMANENTFLAGS stay true while it is
    /// selected; counts and UIDNEXT may have moved since (a [`probe`](Self::probe) applies
    /// the EXISTS and EXPUNGE it sees, other commands do not).
    pub fn selected(&self) -> Option<(&str, &SelectedFolder)> {
        match &self.selected {
            Some((n, s, Access::ReadWrite)) => Some((n.as_str(), s)),
            _ => None,
        }
    }

    /// The folder selected now, read-write or read-only, with what SELECT or EXAMINE
    /// reported (the same caveats as [`selected`](Self::selected)).
    pub fn selection(&self) -> Option<(&str, &SelectedFolder, Access)> {
        self.selected.as_ref().map(|(n, s, a)| (n.as_str(), s, *a))
    }

    /// The meter counting this session's bytes.
    pub fn meter(&self) -> &WireMeter {
        &self.meter
    }

    /// LIST every folder with its role and subscription; with LIST-STATUS, also the STATUS
    /// items that tell whether a folder changed, in the same single command.
    pub async fn list_folders(&mut self, with_status: bool) -> Result<Vec<Folder>> {
        Ok(self.list_and_select(with_status, None).await?.0)
    }

    /// LIST, and SELECT one folder in the same flight (saves a round trip on a first sync,
    /// when the folder is INBOX and there is nothing stored that LIST-STATUS could confirm).
    pub async fn list_and_select(
        &mut self,
        with_status: bool,
        select: Option<(&str, Option<QresyncParams>)>,
    ) -> Result<(Vec<Folder>, Option<SelectedFolder>)> {
        let mut commands = vec![self.list_command(with_status)];
        if let Some((name, qresync)) = select {
            commands.push(self.select_command(name, qresync)?);
        }
        let mut list = ListCollector {
            subscribed_known: self.caps.has("LIST-EXTENDED"),
            ..ListCollector::default()
        };
        let mut sel = SelectCollector::default();
        if select.is_some() {
            self.selected = None;
        }
        let completions = self
            .exchange(&commands, commands.len(), |index, response| {
                if index == 0 {
                    list.on_response(response)?;
                } else {
                    sel.on_response(response)
                }
                Ok(())
            })
            .await?;
        check(&completions[..1], "LIST")?;
        let selected = match select {
            Some((name, _)) => {
                check(&completions[1..], "SELECT")?;
                let selected = sel.finish()?;
                self.selected = Some((name.to_string(), selected.clone(), Access::ReadWrite));
                Some(selected)
            }
            None => None,
        };
        Ok((list.finish(), selected))
    }

    fn list_command(&self, with_status: bool) -> String {
        let mut returns = Vec::new();
        if self.caps.has("LIST-EXTENDED") {
            returns.push("SUBSCRIBED".to_string());
        }
        if self.caps.has("SPECIAL-USE") {
            returns.push("SPECIAL-USE".to_string());
        }
        if with_status && self.caps.has("LIST-STATUS") {
            returns.push(format!("STATUS ({})", self.status_items()));
        }
        if returns.is_empty() {
            "LIST \"\" \"*\"".to_string()
        } else {
            format!("LIST \"\" \"*\" RETURN ({})", returns.join(" "))
        }
    }

    /// STATUS of several folders, pipelined in one flight.
    pub async fn status_many(&mut self, names: &[String]) -> Result<Vec<(String, FolderStatus)>> {
        let items = self.status_items();
        let commands = names
            .iter()
            .map(|n| Ok(format!("STATUS {} ({items})", quote(n)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::new();
        let completions = self
            .exchange(&commands, commands.len(), |_, response| {
                if let Response::MailboxData(MailboxDatum::Status { mailbox, status }) = response {
                    out.push((mailbox.to_string(), folder_status(status)));
                }
                Ok(())
            })
            .await?;
        check(&completions, "STATUS")?;
        Ok(out)
    }

    fn status_items(&self) -> &'static str {
        if self.has_condstore() || self.caps.has("CONDSTORE") {
            "MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ"
        } else {
            "MESSAGES UIDNEXT UIDVALIDITY"
        }
    }

    /// SELECT a folder (read-write). With `qresync`, the server reports what vanished and
    /// which flags changed since then (RFC 7162); every such response is kept.
    pub async fn select(
        &mut self,
        name: &str,
        qresync: Option<QresyncParams>,
    ) -> Result<SelectedFolder> {
        let command = self.select_command(name, qresync)?;
        let mut sel = SelectCollector::default();
        // A SELECT that fails leaves no folder selected (RFC 3501 §6.3.1).
        self.selected = None;
        let completions = self
            .exchange(&[command], 1, |_, response| {
                sel.on_response(response);
                Ok(())
            })
            .await?;
        check(&completions, "SELECT")?;
        let selected = sel.finish()?;
        self.selected = Some((name.to_string(), selected.clone(), Access::ReadWrite));
        Ok(selected)
    }

    /// The folder's SELECT data: from the SELECT that selected it, when it is the folder
    /// selected read-write now (no second SELECT of the same folder), else from a new plain
    /// SELECT. A folder only EXAMINEd is SELECTed again: whoever calls this may write.
    pub async fn ensure_selected(&mut self, name: &str) -> Result<SelectedFolder> {
        match &self.selected {
            Some((current, sel, Access::ReadWrite)) if current == name => Ok(sel.clone()),
            _ => self.select(name, None).await,
        }
    }

    /// SELECT and `UID FETCH 1:* (UID FLAGS)` in one flight: a plain resync's flag scan
    /// without a round trip of its own. A failed SELECT leaves nothing selected, so the FETCH
    /// behind it fails too and never reads another folder; the SELECT's error is returned.
    pub async fn select_and_scan_flags(
        &mut self,
        name: &str,
    ) -> Result<(SelectedFolder, Vec<FlagUpdate>)> {
        let commands = [
            self.select_command(name, None)?,
            "UID FETCH 1:* (UID FLAGS)".to_string(),
        ];
        let mut sel = SelectCollector::default();
        let mut flags = Vec::new();
        self.selected = None;
        let completions = self
            .exchange(&commands, commands.len(), |index, response| {
                match (index, response) {
                    (1, Response::Fetch(seq, attrs)) => {
                        flags.push(super::fetch::flag_update(*seq, attrs));
                    }
                    (1, _) => {}
                    _ => sel.on_response(response),
                }
                Ok(())
            })
            .await?;
        check(completions.get(..1).unwrap_or_default(), "SELECT")?;
        let selected = sel.finish()?;
        self.selected = Some((name.to_string(), selected.clone(), Access::ReadWrite));
        check(completions.get(1..).unwrap_or_default(), "UID FETCH")?;
        Ok((selected, flags))
    }

    fn select_command(&self, name: &str, qresync: Option<QresyncParams>) -> Result<String> {
        let params = match qresync {
            Some(q) if self.has_qresync() => {
                format!(" (QRESYNC ({} {}))", q.uid_validity, q.highest_modseq)
            }
            _ if self.has_condstore() => " (CONDSTORE)".to_string(),
            _ => String::new(),
        };
        Ok(format!("SELECT {}{params}", quote(name)?))
    }

    /// LOGOUT and close.
    ///
    /// A connection the server closes after LOGOUT was sent is logged out: Cyrus sometimes
    /// closes a compressed TLS session without a close_notify, and the tagged OK that came
    /// with the close is then lost below the parser (seen in 10 of 300 logouts).
    pub async fn logout(mut self) -> Result<()> {
        let timeout = self.timeout;
        let result = match tokio::time::timeout(timeout, self.inner.logout()).await {
            Ok(r) => match r.map_err(|e| map_err("LOGOUT", e)) {
                Err(Error::ConnectionClosed) => return Ok(()),
                other => other,
            },
            Err(_) => return Err(Error::Timeout { during: "LOGOUT" }),
        };
        // Read what the server still sends (its TLS close_notify) up to the end, so the meter
        // has every byte that crossed the wire; bounded, and never an error.
        let drain = async { while let Ok(Some(_)) = self.inner.read_response().await {} };
        let _ = tokio::time::timeout(timeout.min(std::time::Duration::from_secs(2)), drain).await;
        result
    }
}

/// Gathers LIST (and LIST-STATUS) responses.
#[derive(Default)]
struct ListCollector {
    subscribed_known: bool,
    folders: Vec<Folder>,
    statuses: Vec<(String, FolderStatus)>,
}

impl ListCollector {
    /// Past [`limits::MAX_FOLDERS`] folders (or statuses) the listing is refused.
    fn on_response(&mut self, response: &Response<'_>) -> Result<()> {
        if self.folders.len().max(self.statuses.len()) >= limits::MAX_FOLDERS {
            return Err(Error::protocol(format!(
                "the server lists more than {} folders",
                limits::MAX_FOLDERS
            )));
        }
        match response {
            Response::MailboxData(MailboxDatum::List(list)) => {
                let flags = &list.name_attributes;
                let special_use = if list.name.eq_ignore_ascii_case("INBOX") {
                    Some(SpecialUse::Inbox)
                } else {
                    flags.iter().find_map(special_use)
                };
                self.folders.push(Folder {
                    name: list.name.to_string(),
                    delimiter: list.delimiter.as_deref().map(str::to_string),
                    selectable: !flags.iter().any(|a| {
                        matches!(a, NameAttribute::NoSelect)
                            || matches!(a, NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent"))
                    }),
                    subscribed: !self.subscribed_known || flags.iter().any(is_subscribed),
                    special_use,
                    status: None,
                });
            }
            Response::MailboxData(MailboxDatum::Status { mailbox, status }) => {
                self.statuses
                    .push((mailbox.to_string(), folder_status(status)));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<Folder> {
        let index: HashMap<&str, usize> = self
            .folders
            .iter()
            .enumerate()
            .rev() // the first folder of a name wins
            .map(|(i, f)| (f.name.as_str(), i))
            .collect();
        let found: Vec<(usize, FolderStatus)> = self
            .statuses
            .into_iter()
            .filter_map(|(name, status)| Some((*index.get(name.as_str())?, status)))
            .collect();
        for (i, status) in found {
            self.folders[i].status = Some(status);
        }
        self.folders
    }
}

/// Gathers SELECT (and EXAMINE) responses, QRESYNC's VANISHED and FETCH included.
#[derive(Default)]
pub(super) struct SelectCollector {
    sel: SelectedFolder,
    bad: Option<Error>,
}

impl SelectCollector {
    pub(super) fn on_response(&mut self, response: &Response<'_>) {
        let sel = &mut self.sel;
        match response {
            Response::MailboxData(MailboxDatum::Exists(n)) => sel.exists = *n,
            Response::Data { outcome, .. } => match outcome.code {
                Some(ResponseCode::UidValidity(v)) => sel.uid_validity = Some(v),
                Some(ResponseCode::UidNext(v)) => sel.uid_next = Some(v),
                Some(ResponseCode::HighestModSeq(v)) => sel.highest_modseq = Some(v),
                Some(ResponseCode::PermanentFlags(ref flags)) => {
                    sel.permanent_flags = Some(
                        flags
                            .iter()
                            .take(crate::limits::MAX_KEYWORDS + 8)
                            .map(|f| f.to_string())
                            .collect(),
                    );
                }
                _ => {
                    if outcome
                        .information
                        .as_deref()
                        .is_some_and(|i| i.contains("NOMODSEQ"))
                    {
                        sel.no_modseq = true;
                    }
                }
            },
            Response::Vanished { uids, .. } => {
                if let Err(e) = expand_ranges(uids, &mut sel.vanished) {
                    self.bad.get_or_insert(e);
                }
            }
            Response::Fetch(seq, attrs) => sel.changed.push(super::fetch::flag_update(*seq, attrs)),
            _ => {}
        }
    }

    pub(super) fn finish(self) -> Result<SelectedFolder> {
        match self.bad {
            Some(e) => Err(e),
            None => Ok(self.sel),
        }
    }
}

/// An error for the first command that did not end in OK.
pub(super) fn check(completions: &[super::Completion], command: &str) -> Result<()> {
    match completions.iter().find(|c| !c.ok) {
        None => Ok(()),
        Some(c) if c.status == "BAD" => Err(Error::ServerBad {
            command: command.into(),
            text: c.text.clone(),
        }),
        Some(c) => Err(Error::ServerNo {
            command: command.into(),
            text: c.text.clone(),
        }),
    }
}

/// Quotes a mailbox name as an IMAP quoted string. Names needing a literal (CR, LF, NUL) are
/// refused rather than sent wrong.
pub(crate) fn quote(name: &str) -> Result<String> {
    if name.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::Config {
            reason: "a folder name contains a line break".into(),
        });
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

pub(super) fn expand_ranges(
    ranges: &[std::ops::RangeInclusive<u32>],
    out: &mut Vec<u32>,
) -> Result<()> {
    let total: u64 = ranges
        .iter()
        .map(|r| u64::from(r.end().saturating_sub(*r.start())) + 1)
        .sum();
    if total + out.len() as u64 > MAX_VANISHED {
        return Err(Error::protocol(format!(
            "VANISHED lists {total} UIDs, more than a real folder holds"
        )));
    }
    for r in ranges {
        out.extend(r.clone());
    }
    Ok(())
}

fn folder_status(attrs: &[StatusAttribute]) -> FolderStatus {
    let mut s = FolderStatus::default();
    for a in attrs {
        match a {
            StatusAttribute::Messages(n) => s.messages = Some(*n),
            StatusAttribute::UidNext(n) => s.uid_next = Some(*n),
            StatusAttribute::UidValidity(n) => s.uid_validity = Some(*n),
            StatusAttribute::HighestModSeq(n) => s.highest_modseq = Some(*n),
            _ => {}
        }
    }
    s
}

fn is_subscribed(attr: &NameAttribute<'_>) -> bool {
    matches!(attr, NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\Subscribed"))
}

fn special_use(attr: &NameAttribute<'_>) -> Option<SpecialUse> {
    Some(match attr {
        NameAttribute::All => SpecialUse::All,
        NameAttribute::Archive => SpecialUse::Archive,
        NameAttribute::Drafts => SpecialUse::Drafts,
        NameAttribute::Flagged => SpecialUse::Flagged,
        NameAttribute::Junk => SpecialUse::Junk,
        NameAttribute::Sent => SpecialUse::Sent,
        NameAttribute::Trash => SpecialUse::Trash,
        _ => return None,
    })
}
