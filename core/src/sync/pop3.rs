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
//! A server without UIDL (it answers `-ERR`) gets keys from the messages themselves: every
//! sync fetches `TOP n 0` of every message and keys it by the SHA-256 of its header block,
//! without the headers mbox-based servers rewrite (`Status`, `X-Status`, `X-UID`...; see
//! `pop3_parse::header_key`). The caveat: two messages with identical headers get one key,
//! so they are stored once and the second copy is never downloaded nor deleted; and a
//! server that rewrites other headers makes a message look new. Without TOP either, the
//! sync is refused (`Error::Config`): nothing could tell the messages apart short of RETR.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{
    Budget, EventSink, FolderReport, SyncEvent, SyncMode, SyncReport, pop3_parse, pop3_spool,
};
use crate::{
    blobs,
    error::{Error, Result},
    net::Purpose,
    policy::{ContentPolicy, Pop3DeletePolicy, SyncRequest},
    pop3::Pop3Session,
    store::{
        AccountId, FolderId, FolderRecord, NewPop3Message, Pop3Content, Pop3Download, Pop3Known,
        Pop3State, Role, Store,
    },
};

/// TOP body lines fetched for a snippet when the policy wants snippets.
const SNIPPET_LINES: u32 = 10;
/// `TOP n 0` commands per batch when hashing headers for a server without UIDL.
const HASH_BATCH: usize = 100;

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

    let uidl = session.uidl().await;
    let sizes: BTreeMap<u32, u64> = session.list().await?.into_iter().collect();
    let listing = match uidl {
        Ok(listing) => listing,
        Err(Error::ServerNo { .. }) => hashed_listing(session, &sizes).await?,
        Err(e) => return Err(e),
    };
    let mut known: BTreeMap<String, Pop3Known> = store
        .pop3_known(account)
        .await?
        .into_iter()
        .map(|k| (k.uidl.clone(), k))
        .collect();

    // Server messages by number, each UIDL once (a duplicate UIDL keeps its first number).
    let mut seen = BTreeSet::new();
    let server: Vec<(u32, String, u64)> = listing
        .into_iter()
        .filter(|(_, uidl)| seen.insert(uidl.clone()))
        .map(|(n, uidl)| (n, uidl, sizes.get(&n).copied().unwrap_or(0)))
        .collect();
    let gone: Vec<String> = known
        .values()
        .filter(|k| !k.deleted_on_server && !seen.contains(&k.uidl))
        .map(|k| k.uidl.clone())
        .collect();
    store.pop3_mark_deleted(account, &gone).await?;

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
    let mut fresh: Vec<(u32, String, u64)> = server
        .iter()
        .filter(|(_, uidl, _)| !known.contains_key(uidl))
        .cloned()
        .collect();
    fresh.sort_by_key(|entry| std::cmp::Reverse(entry.0));
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
    let mut by_number: Vec<&(u32, String, u64)> = server.iter().collect();
    by_number.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let wanted: Vec<(u32, &Pop3Known, u64)> = by_number
        .into_iter()
        .enumerate()
        .filter_map(|(i, (n, uidl, size))| known.get(uidl).map(|k| (i, *n, k, *size)))
        .filter(|(i, _, k, _)| {
            u32::try_from(*i).is_ok_and(|i| i < window.min_messages) || young(k.internal_date)
        })
        .map(|(_, n, k, size)| (n, k, size))
        .filter(|(_, k, size)| {
            k.state == Pop3State::Headers
                && k.message.is_some()
                && *size <= u64::from(content.pop3_retr_max)
        })
        .collect();
    for (msgno, k, size) in wanted {
        if run.stop_for_budget() {
            break;
        }
        if run.download(msgno, &k.uidl, k.uid, size, false).await? {
            run.report.bodies += 1;
        }
    }

    // Deletion: only what is stored in full (or what the user deleted in the app), after a
    // checkpoint made it durable.
    if request.pop3_delete != Pop3DeletePolicy::LeaveOnServer && run.report.stopped.is_none() {
        let known: BTreeMap<String, Pop3Known> = store
            .pop3_known(account)
            .await?
            .into_iter()
            .map(|k| (k.uidl.clone(), k))
            .collect();
        let doomed: Vec<u32> = server
            .iter()
            .filter(|(_, uidl, _)| {
                known.get(uidl).is_some_and(|k| {
                    let by_age = match request.pop3_delete {
                        Pop3DeletePolicy::AfterDays(days) => {
                            k.first_downloaded_at <= now - i64::from(days) * 86_400
                        }
                        Pop3DeletePolicy::WhenDeletedLocally => false,
                        _ => true,
                    };
                    k.deleted_locally || (k.state == Pop3State::Full && by_age)
                })
            })
            .map(|(n, _, _)| *n)
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
    let sizes: BTreeMap<u32, u64> = session.list().await?.into_iter().collect();
    let listing = match session.uidl().await {
        Ok(listing) => listing,
        Err(Error::ServerNo { .. }) => hashed_listing(session, &sizes).await?,
        Err(e) => return Err(e),
    };
    let Some(msgno) = listing
        .into_iter()
        .find(|(_, uidl)| *uidl == known.uidl)
        .map(|(n, _)| n)
    else {
        return Ok(false);
    };
    let size = sizes.get(&msgno).copied().unwrap_or(u64::from(known.size));
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
    let stored = run
        .download(msgno, &known.uidl, known.uid, size, false)
        .await?;
    if run.report.unparsable > 0 {
        return Err(Error::Decode {
            reason: "the message could not be parsed",
        });
    }
    Ok(stored)
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
    fn stop_for_budget(&mut self) -> bool {
        if self.budget.exhausted() {
            self.report.stopped = self.budget.stop_reason();
        }
        self.report.stopped.is_some()
    }

    /// Pipelined TOP for the new messages, committed in growing windows.
    async fn headers_first(
        &mut self,
        fresh: &[(u32, String, u64)],
        request: &SyncRequest,
    ) -> Result<()> {
        let lines = if self.content.snippets {
            SNIPPET_LINES
        } else {
            0
        };
        let mut window = request.window.first_window.max(1) as usize;
        let mut rest = fresh;
        while !rest.is_empty() {
            if self.stop_for_budget() {
                return Ok(());
            }
            let (batch, later) = rest.split_at(window.min(rest.len()));
            rest = later;
            window = (window * 4).min(request.window.window.max(1) as usize);
            let requests: Vec<(u32, u32)> = batch.iter().map(|(n, _, _)| (*n, lines)).collect();
            let collected = Collected::default();
            let results = self
                .session
                .top_many(&requests, |n| collected.sink(n))
                .await?;
            let data = collected.take();
            let mut messages = Vec::with_capacity(batch.len());
            for ((n, uidl, size), result) in batch.iter().zip(results) {
                match result {
                    Ok(_) => {}
                    Err(Error::ServerNo { .. }) => continue, // gone since the listing
                    Err(e) => return Err(e),
                }
                let raw = data.get(n).map(Vec::as_slice).unwrap_or_default();
                let message = match pop3_parse::parse(raw) {
                    Some(parsed) => pop3_parse::headers(&parsed, *size, self.now, lines > 0),
                    None => {
                        self.report.unparsable += 1;
                        continue;
                    }
                };
                messages.push(NewPop3Message {
                    uidl: uidl.clone(),
                    message,
                });
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
    async fn retr_only(&mut self, fresh: &[(u32, String, u64)]) -> Result<()> {
        for (n, uidl, size) in fresh {
            if *size > u64::from(self.content.pop3_retr_max) {
                continue;
            }
            if self.stop_for_budget() {
                return Ok(());
            }
            if self.download(*n, uidl, 0, *size, true).await? {
                self.report.bodies += 1;
            }
        }
        Ok(())
    }

    /// RETR one message into a file, parse it, write its attachments, and commit it as full.
    /// `uid` is its stored UID; with `add`, its headers are stored first (no TOP). Returns
    /// false when the server no longer has it.
    async fn download(
        &mut self,
        msgno: u32,
        uidl: &str,
        uid: u32,
        size: u64,
        add: bool,
    ) -> Result<bool> {
        let dir = self.data_dir.join("pop3");
        tokio::fs::create_dir_all(&dir).await?;
        // Per folder (so per account): two accounts may sync at the same time.
        let path = dir.join(format!("retr-{}-{msgno}.eml", self.folder.0));
        let fetched = self.retr_to_file(msgno, &path).await;
        match fetched {
            Ok(()) => {}
            Err(Error::ServerNo { .. }) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Ok(false);
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(e);
            }
        }
        let result = self.store_full(&path, uidl, uid, size, add).await;
        let _ = tokio::fs::remove_file(&path).await;
        result.map(|()| true)
    }

    async fn retr_to_file(&mut self, msgno: u32, path: &Path) -> Result<()> {
        let mut file = tokio::fs::File::create(path).await?;
        self.session.meter().set_purpose(Purpose::Bodies);
        let r = self.session.retr(msgno, &mut file).await;
        self.session.meter().set_purpose(Purpose::SyncMetadata);
        r?;
        file.flush().await?;
        file.sync_all().await?;
        Ok(())
    }

    /// Parses the spooled message (`pop3_spool`, bounded memory), writes its attachments and
    /// commits it as full.
    async fn store_full(
        &mut self,
        path: &Path,
        uidl: &str,
        uid: u32,
        size: u64,
        add: bool,
    ) -> Result<()> {
        let Some(extracted) =
            pop3_spool::extract(path, size, self.now, self.content.prefer_html).await?
        else {
            self.report.unparsable += 1;
            return Ok(());
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
        match tokio::fs::remove_dir_all(&attachments_dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut downloads = Vec::new();
        for (info, source) in &extracted.attachments {
            tokio::fs::create_dir_all(&attachments_dir).await?;
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
        Ok(())
    }
}

/// Messages keyed by a hash of their headers, for a server without UIDL: `TOP n 0` of every
/// message (pipelined, in batches), keyed by `pop3_parse::header_key`. Needs TOP: refused
/// when CAPA does not list it or (without CAPA) the server answers `-ERR` to it.
async fn hashed_listing(
    session: &mut Pop3Session,
    sizes: &BTreeMap<u32, u64>,
) -> Result<Vec<(u32, String)>> {
    let caps = session.capabilities();
    let top_announced = caps.has("TOP");
    if caps.announced() && !top_announced {
        return Err(no_keys());
    }
    let numbers: Vec<u32> = sizes.keys().copied().collect();
    let mut listing = Vec::with_capacity(numbers.len());
    for batch in numbers.chunks(HASH_BATCH) {
        let requests: Vec<(u32, u32)> = batch.iter().map(|n| (*n, 0)).collect();
        let collected = Collected::default();
        let results = session.top_many(&requests, |n| collected.sink(n)).await?;
        let data = collected.take();
        for (n, result) in batch.iter().zip(results) {
            match result {
                Ok(_) => {}
                Err(Error::ServerNo { .. }) if !top_announced => return Err(no_keys()),
                Err(Error::ServerNo { .. }) => continue, // gone since LIST
                Err(e) => return Err(e),
            }
            let header = data.get(n).map(Vec::as_slice).unwrap_or_default();
            listing.push((*n, pop3_parse::header_key(header)));
        }
    }
    Ok(listing)
}

fn no_keys() -> Error {
    Error::Config {
        reason: "the POP3 server offers neither UIDL nor TOP, so messages cannot be told apart"
            .into(),
    }
}

/// TOP responses collected by message number (a TOP answer is a few kilobytes at most).
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<BTreeMap<u32, Vec<u8>>>>);

impl Collected {
    fn sink(&self, msgno: u32) -> CollectSink {
        CollectSink {
            into: self.clone(),
            msgno,
        }
    }

    fn take(&self) -> BTreeMap<u32, Vec<u8>> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

struct CollectSink {
    into: Collected,
    msgno: u32,
}

impl AsyncWrite for CollectSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.into.0.lock() {
            Ok(mut map) => {
                map.entry(self.msgno).or_default().extend_from_slice(buf);
                Poll::Ready(Ok(buf.len()))
            }
            Err(_) => Poll::Ready(Err(std::io::Error::other("collector poisoned"))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
