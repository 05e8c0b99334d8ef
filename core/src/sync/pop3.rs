//! POP3 sync into the same store as IMAP: one synthetic INBOX per account, messages keyed by
//! UIDL (a UIDL once stored is never fetched again, across sessions and restarts).
//!
//! One pass: UIDL and LIST (SyncMetadata); headers first with pipelined `TOP n k` for new
//! messages, newest (highest message number) first, committed window by window so the list
//! appears before any RETR; then RETR (Bodies) of the messages the content policy allows
//! (`ContentPolicy::pop3_retr_max`), each streamed into a spool file under `<data_dir>/pop3/`
//! (fsynced) and read back without holding it in memory (`pop3_spool`: a skeleton parse,
//! then each part by byte range) into the part rows IMAP would store, the readable body
//! compressed and the attachments decoded to `<data_dir>/attachments/<message id>/` and
//! recorded as downloaded, all in one transaction per message; last, DELE by
//! `Pop3DeletePolicy`, only for messages whose full copy is committed and checkpointed, or
//! which the user deleted in the app (any policy but `LeaveOnServer`; such a UIDL is never
//! downloaded again, whatever the policy). The server applies DELE at QUIT (the caller's
//! job); UIDLs that disappear from the listing are recorded as deleted on the server next
//! time.
//!
//! A message that vanishes between the listing and TOP/RETR (`-ERR`) is skipped. An
//! interrupted RETR leaves the message headers-only and is simply redone by the next sync
//! (POP3 has no ranges). Without TOP, messages are listed only when they are downloaded.
//!
//! What the server says is checked, never trusted to be complete (issue 13):
//! - The listing (`pop3_listing`): a UIDL shared by several messages, a message without a
//!   UIDL, a message without a LIST size. Nothing is dropped silently: messages that cannot
//!   be keyed are skipped for this pass and counted in the folder report's `unparsable`.
//! - A RETR is complete only with its terminating `.` line: a connection closed or silent
//!   before it (past the session timeout) ends the sync with `ConnectionClosed` or `Timeout`,
//!   nothing of that RETR is stored, the message stays headers-only and the next sync
//!   fetches it again. A response larger than twice its LIST size plus
//!   `pop3_listing::RESPONSE_SLACK`, or with a line over `Pop3Options::max_line`, is refused
//!   at that bound (`Protocol`), likewise.
//! - A terminated RETR whose size disagrees with LIST (line-end conventions aside) is stored:
//!   servers estimate sizes (Exchange does by default), and refusing it would leave the
//!   message unreadable for good. The stored size is what arrived (line ends counted as
//!   CRLF). Shorter than listed, it may still be truncated, so the server copy is kept: DELE
//!   is sent only for a message whose stored size reaches its LIST size.
//! - DELE only ever goes to a number whose key no other number shares (and never shared),
//!   with a LIST size: a DELE cannot hit another message than the one stored.
//!
//! A server without UIDL (it answers `-ERR`) gets keys from the messages themselves: every
//! sync fetches `TOP n 0` of every message and keys it by the SHA-256 of its header block,
//! without the headers mbox-based servers rewrite (`Status`, `X-Status`, `X-UID`...; see
//! `pop3_parse::header_key`). The caveat: two messages with identical headers get one key,
//! so they are stored once and neither is deleted; and a server that rewrites other headers
//! makes a message look new. Without TOP either, the sync is refused (`Error::Config`):
//! nothing could tell the messages apart short of RETR.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use tokio::io::AsyncWriteExt;
use tracing::warn;

use super::{
    Budget, EventSink, FolderReport, SyncEvent, SyncMode, SyncReport,
    pop3_listing::{self, Collected, Entry, TOP_BATCH, response_limit},
    pop3_parse, pop3_spool,
};
use crate::{
    blobs,
    error::{Error, Result},
    net::Purpose,
    policy::{ContentPolicy, Pop3DeletePolicy, SyncRequest},
    pop3::{Delivered, ListedSize, Pop3Session},
    store::{
        AccountId, FolderId, FolderRecord, NewPop3Message, Pop3Content, Pop3Download, Pop3Known,
        Pop3State, Role, Store,
    },
};

/// TOP body lines fetched for a snippet when the policy wants snippets.
const SNIPPET_LINES: u32 = 10;

/// How one RETR ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetched {
    /// Parsed and committed as full.
    Stored,
    /// The server no longer has it (`-ERR`).
    Gone,
    /// Nothing mail-parser could read (left headers-only, fetched again next time).
    Unparsable,
}

/// Syncs a POP3 account over a logged-in session (the caller QUITs, which applies DELE).
/// `data_dir` is the engine's data directory; `now` is the current unix time.
pub async fn sync_pop3_account(
    session: &mut Pop3Session,
    store: &Store,
    account: AccountId,
    request: &SyncRequest,
    data_dir: &Path,
    now: i64,
    events: &dyn EventSink,
) -> Result<SyncReport> {
    let budget = Budget::new(session.meter(), request.byte_budget).with_deadline(request.deadline);
    budget.set_purpose(Purpose::SyncMetadata);
    let inbox = FolderRecord {
        name: "INBOX".into(),
        delimiter: None,
        role: Some(Role::Inbox),
        subscribed: true,
        selectable: true,
    };
    let folder = store
        .upsert_folders(account, &[inbox])
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound {
            what: "folder of account",
            id: account.0,
        })?;
    events.emit(SyncEvent::FoldersChanged { account });

    let mut known = known_by_uidl(store, account).await?;
    let listing = pop3_listing::read(session, &known).await?;
    let shown = listing.shown();
    let gone: Vec<String> = known
        .values()
        .filter(|k| !k.deleted_on_server && !shown.contains(k.uidl.as_str()))
        .map(|k| k.uidl.clone())
        .collect();
    drop(shown);
    store.pop3_mark_deleted(account, &gone).await?;
    let server = &listing.entries;

    let content = request.content();
    let mut run = Run {
        session,
        store,
        folder,
        budget: &budget,
        events,
        content,
        data_dir,
        now,
        report: FolderReport::new("INBOX", SyncMode::Initial),
        total: u32::try_from(server.len()).unwrap_or(u32::MAX),
    };
    run.report.unparsable += listing.skipped;
    let mut fresh: Vec<&Entry> = server
        .iter()
        .filter(|e| !known.contains_key(&e.key))
        .collect();
    crate::sort::sort_by_key(&mut fresh, |e| std::cmp::Reverse(e.msgno));
    if fresh.is_empty() {
        run.report.mode = SyncMode::Unchanged;
    }

    if run.session.capabilities().has("TOP") {
        run.headers_first(&fresh, request).await?;
    } else {
        run.retr_only(&fresh).await?;
    }
    for k in store.pop3_known(account).await? {
        known.insert(k.uidl.clone(), k);
    }

    // Full downloads within the policy and the sync window (the newest `min_messages`, and
    // any younger than `max_age_days`), newest first.
    let window = request.window;
    let young = |date: i64| {
        window
            .max_age_days
            .is_some_and(|days| date >= now - i64::from(days) * 86_400)
    };
    let mut by_number: Vec<&Entry> = server.iter().collect();
    crate::sort::sort_by_key(&mut by_number, |e| std::cmp::Reverse(e.msgno));
    let fits = run.fits();
    let wanted: Vec<(&Entry, &Pop3Known)> = by_number
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| known.get(&e.key).map(|k| (i, e, k)))
        .filter(|(i, _, k)| {
            u32::try_from(*i).is_ok_and(|i| i < window.min_messages) || young(k.internal_date)
        })
        .map(|(_, e, k)| (e, k))
        .filter(|(e, k)| k.state == Pop3State::Headers && k.message.is_some() && fits(e.size))
        .collect();
    for (e, k) in wanted {
        if run.stop_for_budget() {
            break;
        }
        if run.download(e.msgno, &k.uidl, k.uid, e.size, false).await? == Fetched::Stored {
            run.report.bodies += 1;
        }
    }

    // Deletion: only what is stored in full (or what the user deleted in the app), after a
    // checkpoint made it durable.
    if request.pop3_delete != Pop3DeletePolicy::LeaveOnServer && run.report.stopped.is_none() {
        let known = known_by_uidl(store, account).await?;
        // Only numbers that can hold nothing but the stored message, and only a full copy
        // at least as large as the server lists it (a shorter one may be truncated).
        let doomed: Vec<u32> = server
            .iter()
            .filter(|e| e.deletable)
            .filter(|e| {
                known.get(&e.key).is_some_and(|k| {
                    let by_age = match request.pop3_delete {
                        Pop3DeletePolicy::AfterDays(days) => {
                            k.first_downloaded_at <= now - i64::from(days) * 86_400
                        }
                        Pop3DeletePolicy::WhenDeletedLocally => false,
                        _ => true,
                    };
                    let whole = e
                        .size
                        .is_some_and(|listed| listed <= u64::from(k.message_size));
                    k.deleted_locally || (k.state == Pop3State::Full && by_age && whole)
                })
            })
            .map(|e| e.msgno)
            .collect();
        if !doomed.is_empty() {
            store.pop3_make_durable().await?;
            run.session.meter().set_purpose(Purpose::WriteBack);
            for msgno in doomed {
                match run.session.dele(msgno).await {
                    Ok(()) | Err(Error::ServerNo { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    let mut report = SyncReport::default();
    report.stopped = run.report.stopped;
    report.folders.push(run.report);
    report.bytes = budget.spent();
    Ok(report)
}

/// Downloads one stored POP3 message (`known`) in full because the app opened it (the policy
/// had left it headers-only): finds its current number by UIDL (or header hash), RETRs it to
/// the spool and commits it exactly as a sync's full download would. Returns false when the
/// server no longer has it. A message already stored in full costs nothing.
#[allow(clippy::too_many_arguments)]
pub async fn fetch_pop3_message(
    session: &mut Pop3Session,
    store: &Store,
    known: &Pop3Known,
    folder: FolderId,
    prefer_html: bool,
    data_dir: &Path,
    now: i64,
    events: &dyn EventSink,
) -> Result<bool> {
    if known.state == Pop3State::Full {
        return Ok(true);
    }
    let budget = Budget::new(session.meter(), None);
    budget.set_purpose(Purpose::SyncMetadata);
    let listing = pop3_listing::read(session, &BTreeMap::new()).await?;
    let Some(entry) = listing.entries.into_iter().find(|e| e.key == known.uidl) else {
        return Ok(false);
    };
    let mut run = Run {
        session,
        store,
        folder,
        budget: &budget,
        events,
        content: ContentPolicy {
            prefer_html,
            ..ContentPolicy::for_network(crate::policy::NetworkKind::Unmetered)
        },
        data_dir,
        now,
        report: FolderReport::new("INBOX", SyncMode::Unchanged),
        total: 0,
    };
    match run
        .download(entry.msgno, &known.uidl, known.uid, entry.size, false)
        .await?
    {
        Fetched::Stored => Ok(true),
        Fetched::Gone => Ok(false),
        Fetched::Unparsable => Err(Error::Decode {
            reason: "the message could not be parsed",
        }),
    }
}

/// One sync pass's working state.
struct Run<'a> {
    session: &'a mut Pop3Session,
    store: &'a Store,
    folder: FolderId,
    budget: &'a Budget,
    events: &'a dyn EventSink,
    content: ContentPolicy,
    data_dir: &'a Path,
    now: i64,
    report: FolderReport,
    total: u32,
}

impl Run<'_> {
    /// Whether a message LIST sized `size` may be downloaded: within the policy's cap and
    /// the session's own limit. A message without a LIST size only when nothing caps it.
    fn fits(&self) -> impl Fn(Option<u64>) -> bool + use<> {
        let cap = u64::from(self.content.pop3_retr_max);
        let uncapped = self.content.pop3_retr_max == u32::MAX;
        let max = self.session.max_message_bytes();
        move |size| match size {
            Some(size) => size <= cap && size <= max,
            None => uncapped,
        }
    }

    fn stop_for_budget(&mut self) -> bool {
        if self.budget.exhausted() {
            self.report.stopped = self.budget.stop_reason();
        }
        self.report.stopped.is_some()
    }

    /// Pipelined TOP for the new messages, committed in growing windows (read in batches of
    /// `TOP_BATCH`, each parsed before the next is read, so memory holds one batch).
    async fn headers_first(&mut self, fresh: &[&Entry], request: &SyncRequest) -> Result<()> {
        let lines = if self.content.snippets {
            SNIPPET_LINES
        } else {
            0
        };
        let max = self.session.max_message_bytes();
        let mut window = request.window.first_window.max(1) as usize;
        let mut rest = fresh;
        while !rest.is_empty() {
            if self.stop_for_budget() {
                return Ok(());
            }
            let (batch, later) = rest.split_at(window.min(rest.len()));
            rest = later;
            window = (window * 4).min(request.window.window.max(1) as usize);
            let mut messages = Vec::with_capacity(batch.len());
            for chunk in batch.chunks(TOP_BATCH) {
                let requests: Vec<(u32, u32, u64)> = chunk
                    .iter()
                    .map(|e| (e.msgno, lines, response_limit(e.size, max)))
                    .collect();
                let collected = Collected::default();
                let results = self
                    .session
                    .top_many_within(&requests, |n| collected.sink(n))
                    .await?;
                let data = collected.take();
                for (e, result) in chunk.iter().zip(results) {
                    match result {
                        Ok(_) => {}
                        Err(Error::ServerNo { .. }) => continue, // gone since the listing
                        Err(e) => return Err(e),
                    }
                    let raw = data.get(&e.msgno).map(Vec::as_slice).unwrap_or_default();
                    let size = e.size.unwrap_or(0);
                    let message = match pop3_parse::parse(raw) {
                        Some(parsed) => pop3_parse::headers(&parsed, size, self.now, lines > 0),
                        None => {
                            self.report.unparsable += 1;
                            continue;
                        }
                    };
                    messages.push(NewPop3Message {
                        uidl: e.key.clone(),
                        message,
                    });
                }
            }
            self.commit_headers(&messages).await?;
        }
        Ok(())
    }

    async fn commit_headers(&mut self, messages: &[NewPop3Message]) -> Result<Vec<u32>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let added = self.store.pop3_add(self.folder, messages, self.now).await?;
        let uids: Vec<u32> = added.iter().map(|(_, _, uid)| *uid).collect();
        self.report.added += uids.len() as u64;
        self.events.emit(SyncEvent::MessagesAdded {
            folder: self.folder,
            uids: uids.clone(),
        });
        self.events.emit(SyncEvent::Progress {
            folder: self.folder,
            synced: u32::try_from(self.report.added).unwrap_or(u32::MAX),
            total: self.total,
        });
        Ok(uids)
    }

    /// Without TOP: RETR is the only way to see headers, so only the messages the policy
    /// downloads are listed.
    async fn retr_only(&mut self, fresh: &[&Entry]) -> Result<()> {
        let fits = self.fits();
        for e in fresh {
            if !fits(e.size) {
                continue;
            }
            if self.stop_for_budget() {
                return Ok(());
            }
            if self.download(e.msgno, &e.key, 0, e.size, true).await? == Fetched::Stored {
                self.report.bodies += 1;
            }
        }
        Ok(())
    }

    /// RETR one message into a file, parse it, write its attachments, and commit it as full.
    /// `uid` is its stored UID; with `add`, its headers are stored first (no TOP). `size` is
    /// its LIST size, which bounds the response (`pop3_listing::response_limit`).
    async fn download(
        &mut self,
        msgno: u32,
        uidl: &str,
        uid: u32,
        size: Option<u64>,
        add: bool,
    ) -> Result<Fetched> {
        let dir = self.data_dir.join("pop3");
        crate::blobs::fsio::create_dir_all(&dir).await?;
        // Per folder (so per account): two accounts may sync at the same time.
        let path = dir.join(format!("retr-{}-{msgno}.eml", self.folder.0));
        let limit = response_limit(size, self.session.max_message_bytes());
        let delivered = match self.retr_to_file(msgno, limit, &path).await {
            Ok(delivered) => delivered,
            Err(Error::ServerNo { .. }) => {
                let _ = crate::blobs::fsio::remove_file(&path).await;
                return Ok(Fetched::Gone);
            }
            Err(e) => {
                let _ = crate::blobs::fsio::remove_file(&path).await;
                return Err(e);
            }
        };
        if let Some(listed) = size {
            match delivered.against(listed) {
                ListedSize::Agrees => {}
                ListedSize::Longer => warn!(
                    listed,
                    received = delivered.crlf_size(),
                    "a POP3 RETR brought more than LIST announced; stored whole"
                ),
                ListedSize::Shorter => warn!(
                    listed,
                    received = delivered.crlf_size(),
                    "a POP3 RETR brought less than LIST announced; stored, never deleted"
                ),
            }
        }
        let result = self.store_full(&path, uidl, uid, delivered, add).await;
        let _ = crate::blobs::fsio::remove_file(&path).await;
        result
    }

    async fn retr_to_file(&mut self, msgno: u32, limit: u64, path: &Path) -> Result<Delivered> {
        let mut file = tokio::fs::File::create(path).await?;
        self.session.meter().set_purpose(Purpose::Bodies);
        let r = self.session.retr_within(msgno, limit, &mut file).await;
        self.session.meter().set_purpose(Purpose::SyncMetadata);
        let delivered = r?;
        file.flush().await?;
        file.sync_all().await?;
        Ok(delivered)
    }

    /// Parses the spooled message (`pop3_spool`, bounded memory), writes its attachments and
    /// commits it as full, with the size that arrived (line ends counted as CRLF).
    async fn store_full(
        &mut self,
        path: &Path,
        uidl: &str,
        uid: u32,
        delivered: Delivered,
        add: bool,
    ) -> Result<Fetched> {
        let size = delivered.crlf_size();
        let Some(extracted) =
            pop3_spool::extract(path, size, self.now, self.content.prefer_html).await?
        else {
            self.report.unparsable += 1;
            return Ok(Fetched::Unparsable);
        };
        let mut message = extracted.headers;
        let uid = match add {
            true => {
                let uids = self
                    .commit_headers(&[NewPop3Message {
                        uidl: uidl.to_string(),
                        message: message.clone(),
                    }])
                    .await?;
                uids.first().copied().unwrap_or(0)
            }
            false => uid,
        };
        let id = self.store.pop3_message_id(self.folder, uid).await?;
        message.uid = uid;
        message.parts = pop3_parse::part_rows(&extracted.parts);
        message.preview = extracted
            .body
            .as_ref()
            .and_then(|(html, text)| pop3_parse::body_preview(*html, text));

        let attachments_dir = self.data_dir.join("attachments").join(id.0.to_string());
        // Files of an earlier attempt that was never committed.
        match crate::blobs::fsio::remove_dir_all(&attachments_dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut downloads = Vec::new();
        for (info, source) in &extracted.attachments {
            crate::blobs::fsio::create_dir_all(&attachments_dir).await?;
            let destination: PathBuf =
                blobs::destination_in(&attachments_dir, info.filename.as_deref(), "attachment");
            let written = pop3_spool::write_attachment(path, info, source, &destination).await?;
            downloads.push(Pop3Download {
                section: info.section.clone(),
                destination,
                encoded_size: u64::from(info.size),
                bytes: written,
            });
        }
        let (text_zstd, html_zstd) = match &extracted.body {
            Some((true, html)) => (None, Some(blobs::compress(html)?)),
            Some((false, text)) => (Some(blobs::compress(text)?), None),
            None => (None, None),
        };
        self.store
            .pop3_complete(
                self.folder,
                uidl,
                &Pop3Content {
                    message,
                    text_zstd,
                    html_zstd,
                    downloads,
                },
            )
            .await?;
        self.events.emit(SyncEvent::MessagesChanged {
            folder: self.folder,
            uids: vec![uid],
        });
        Ok(Fetched::Stored)
    }
}

/// The account's stored POP3 messages, by UIDL.
async fn known_by_uidl(store: &Store, account: AccountId) -> Result<BTreeMap<String, Pop3Known>> {
    Ok(crate::sort::map_from(
        store
            .pop3_known(account)
            .await?
            .into_iter()
            .map(|k| (k.uidl.clone(), k)),
    ))
}
