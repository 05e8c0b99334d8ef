//! Content on demand: a message's readable body when it is opened, and attachments
//! downloaded in chunks of `BODY.PEEK[section]<offset.length>`, decoded as they arrive,
//! written beside the destination, and resumable after a cut connection or a restart (the
//! encoded offset and the decoder's carry are committed after every chunk, after the file
//! is fsynced). Each call opens its own connection.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use super::{Engine, Runtime};
use crate::{
    blobs::{self, ChunkSizer, PartFile, StreamDecoder, TransferEncoding},
    error::{Error, Result},
    imap::{self, ImapSession, SectionRequest},
    mime,
    net::Purpose,
    policy::NetworkKind,
    store::{
        CachedContent, DownloadRecord, DownloadState, MessageDetail, MessageId, MessageLocation,
        PartDetail,
    },
};

/// The bound on a stored body once decompressed (a zstd bomb stops here).
const BODY_LIMIT: usize = 64 << 20;

/// A message's readable body, decoded to UTF-8, with every part and its download state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    pub text: Option<String>,
    pub html: Option<String>,
    pub parts: Vec<PartDetail>,
}

/// Receives download progress: encoded bytes done of the part's encoded size.
pub trait ProgressListener: Send + Sync {
    fn progress(&self, done: u64, total: u64);
}

impl Engine {
    /// The readable body of a message: from the store when it is there, else fetched (only
    /// the text/plain or text/html part the policy prefers, never an attachment), stored
    /// compressed, and returned.
    pub async fn fetch_body(&self, message: MessageId, network: NetworkKind) -> Result<Body> {
        if let Some(stored) = self.store.body(message).await? {
            let parts = self
                .store
                .message(message)
                .await?
                .map(|m| m.parts)
                .unwrap_or_default();
            return Ok(Body {
                text: stored
                    .text_zstd
                    .as_deref()
                    .map(|b| blobs::decompress(b, BODY_LIMIT))
                    .transpose()?,
                html: stored
                    .html_zstd
                    .as_deref()
                    .map(|b| blobs::decompress(b, BODY_LIMIT))
                    .transpose()?,
                parts,
            });
        }
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        let (location, detail) = self.locate(message).await?;
        if self.account(location.account).await?.kind == crate::store::AccountKind::Pop3 {
            // Headers-only POP3 message: RETR it whole, then serve the stored body.
            self.retrieve_pop3(message, network).await?;
            return Box::pin(self.fetch_body(message, NetworkKind::Offline)).await;
        }
        let prefer_html = crate::policy::ContentPolicy::for_network(network).prefer_html;
        let part = body_part(&detail.parts, prefer_html).ok_or(Error::NotFound {
            what: "readable part of message",
            id: message.0,
        })?;
        let runtime = self.runtime(location.account)?;
        let before = runtime.meter.totals();
        let result = async {
            let mut session = self.open_folder(&runtime, &location).await?;
            let request = SectionRequest {
                uid: location.uid,
                section: part.section.clone(),
                range: None,
            };
            let data = session.fetch_sections(Purpose::Bodies, &[request]).await;
            let _ = session.logout().await;
            data?
                .into_iter()
                .find(|d| d.uid == location.uid)
                .ok_or(Error::NotFound {
                    what: "message on the server",
                    id: message.0,
                })
        }
        .await;
        self.record_usage(location.account, network, &runtime, &before)
            .await?;
        let data = result?;
        // `fetch_sections` took only an answer for this UID, section and no origin. An empty
        // one (NIL or "") for a part BODYSTRUCTURE says has bytes is not its body.
        if data.data.is_empty() && part.size > 0 {
            return Err(Error::protocol(format!(
                "the server returned no data for part {} of {} bytes",
                part.section, part.size
            )));
        }
        let decoded = mime::decode_part_text(
            &data.data,
            part.encoding.as_deref(),
            part.charset.as_deref(),
        );
        let body = if part.mime_type == "text/html" {
            Body {
                text: None,
                html: Some(decoded),
                parts: detail.parts.clone(),
            }
        } else {
            Body {
                text: Some(decoded),
                html: None,
                parts: detail.parts.clone(),
            }
        };
        let text = body.text.as_deref().map(blobs::compress).transpose()?;
        let html = body.html.as_deref().map(blobs::compress).transpose()?;
        let stored = text.as_ref().map_or(0, Vec::len) + html.as_ref().map_or(0, Vec::len);
        self.store
            .put_body(message, text.as_deref(), html.as_deref(), stored as u64)
            .await?;
        Ok(body)
    }

    /// Downloads one part into `dir` (under a sanitised version of its file name), resuming
    /// where an earlier attempt stopped. Returns the finished file's path. Cancelling stops
    /// within one chunk and keeps the resumable state; [`Engine::delete_download`] discards it.
    pub async fn download_part(
        &self,
        message: MessageId,
        section: &str,
        dir: &Path,
        network: NetworkKind,
        listener: Option<&dyn ProgressListener>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<PathBuf> {
        if network != NetworkKind::Offline && self.is_pop3(message).await? {
            // POP3 has no per-part fetch: RETR the message whole unless it is stored in full
            // (that writes its attachments as files), then hand over the stored file.
            self.retrieve_pop3(message, network).await?;
            return Box::pin(self.download_part(
                message,
                section,
                dir,
                NetworkKind::Offline,
                listener,
                cancel,
            ))
            .await;
        }
        let (location, detail) = self.locate(message).await?;
        let part = detail
            .parts
            .iter()
            .find(|p| p.section == section)
            .ok_or(Error::NotFound {
                what: "part of message",
                id: message.0,
            })?
            .clone();
        let existing = match self.store.download(message, section).await? {
            Some(r) if r.state == DownloadState::Complete && r.destination.exists() => {
                self.store.touch_download(message, section).await?;
                return Ok(r.destination);
            }
            // Killed between the rename into place and recording completion: finish the record.
            Some(r)
                if r.state == DownloadState::Partial
                    && r.encoded_offset > 0
                    && r.encoded_offset >= u64::from(part.size)
                    && !blobs::part_path(&r.destination).exists()
                    && std::fs::metadata(&r.destination)
                        .is_ok_and(|m| m.len() == r.decoded_len) =>
            {
                self.store
                    .complete_download(message, section, r.decoded_len)
                    .await?;
                return Ok(r.destination);
            }
            Some(r) if r.state == DownloadState::Partial => Some(r),
            _ => None,
        };
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        let (mut record, file) = match existing {
            Some(record) => (record, None),
            None => {
                let (record, file) = self.claim_download(message, &part, dir).await?;
                (record, Some(file))
            }
        };
        let runtime = self.runtime(location.account)?;
        let before = runtime.meter.totals();
        let result = async {
            let mut session = self.open_folder(&runtime, &location).await?;
            let done = self
                .download_chunks(
                    &mut session,
                    location.uid,
                    &part,
                    &mut record,
                    file,
                    listener,
                    cancel,
                )
                .await;
            let _ = session.logout().await;
            done
        }
        .await;
        self.record_usage(location.account, network, &runtime, &before)
            .await?;
        let path = result?;
        // The file just handed back stays even when it alone exceeds the budget.
        self.keep_cache_budget(location.account, Some((message, section)))
            .await?;
        Ok(path)
    }

    /// Forgets a download (partial or complete) and removes its files.
    pub async fn delete_download(&self, message: MessageId, section: &str) -> Result<()> {
        if let Some(record) = self.store.download(message, section).await? {
            blobs::remove_partial(&record.destination).await?;
            if record.state == DownloadState::Complete {
                match tokio::fs::remove_file(&record.destination).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        self.store.delete_download(message, section).await
    }

    /// Frees at least `bytes` of the account's cached bodies and finished downloads, least
    /// recently used first. Message metadata stays, so anything evicted can be fetched again.
    /// Returns the bytes freed.
    pub async fn evict_cache(&self, account: crate::store::AccountId, bytes: u64) -> Result<u64> {
        self.evict_except(account, bytes, None).await
    }

    /// `evict_cache`, sparing the download `keep` (message, section).
    async fn evict_except(
        &self,
        account: crate::store::AccountId,
        bytes: u64,
        keep: Option<(MessageId, &str)>,
    ) -> Result<u64> {
        // With an item to spare, the candidates for `bytes` may include it: ask for all of
        // them (least recently used first) and stop once enough is freed.
        let wanted = if keep.is_some() { u64::MAX } else { bytes };
        let mut freed = 0;
        for item in self.store.eviction_candidates(account, wanted).await? {
            if freed >= bytes {
                break;
            }
            match &item.content {
                CachedContent::Body { message } => self.store.evict_body(*message).await?,
                CachedContent::Download {
                    message,
                    section,
                    destination,
                } => {
                    if keep == Some((*message, section.as_str())) {
                        continue;
                    }
                    match tokio::fs::remove_file(destination).await {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                    self.store.delete_download(*message, section).await?;
                }
            }
            freed += item.bytes;
        }
        Ok(freed)
    }

    /// Keeps the account's cache (bodies, downloaded files) within `EngineConfig::cache_budget`,
    /// evicting least recently used first but never the download `keep`. Returns the bytes
    /// freed.
    pub(super) async fn keep_cache_budget(
        &self,
        account: crate::store::AccountId,
        keep: Option<(MessageId, &str)>,
    ) -> Result<u64> {
        let Some(budget) = self.cache_budget else {
            return Ok(0);
        };
        let used = self.store.cache_usage(account).await?;
        if used <= budget {
            return Ok(0);
        }
        self.evict_except(account, used - budget, keep).await
    }

    /// Whether a stored message belongs to a POP3 account.
    async fn is_pop3(&self, message: MessageId) -> Result<bool> {
        let account = self.account_of(message).await?;
        Ok(self.account(account).await?.kind == crate::store::AccountKind::Pop3)
    }

    /// The account a stored message belongs to.
    pub async fn account_of(&self, message: MessageId) -> Result<crate::store::AccountId> {
        self.store
            .message_location(message)
            .await?
            .map(|l| l.account)
            .ok_or(Error::NotFound {
                what: "message",
                id: message.0,
            })
    }

    /// Downloads the attachments the policy prefetches (newest messages, size bound) for the
    /// folders a sync just went through, over its session. Each lands under
    /// `<data dir>/attachments/<message id>/`. Returns how many finished; a failure of one
    /// part is skipped (it stays resumable), a connection failure ends the pass.
    pub(super) async fn prefetch_attachments(
        &self,
        session: &mut ImapSession,
        account: crate::store::AccountId,
        folders: &[String],
        policy: &crate::policy::ContentPolicy,
        budget_left: impl Fn() -> bool,
    ) -> Result<u32> {
        let Some(max) = policy.prefetch_attachments_max else {
            return Ok(0);
        };
        let max_encoded = max.saturating_mul(4) / 3 + 1024;
        let newest = policy.prefetch_bodies.max(1);
        let stored = self.store.folders(account).await?;
        let mut done = 0;
        for name in folders {
            let Some(folder) = stored.iter().find(|f| &f.name == name) else {
                continue;
            };
            let wanted = self
                .store
                .attachments_to_prefetch(folder.id, newest, max_encoded)
                .await?;
            if wanted.is_empty() {
                continue;
            }
            let state = self.store.folder_state(folder.id).await?;
            let selected = session.select(name, None).await?;
            if selected.uid_validity != state.uidvalidity {
                continue; // the next sync resets the folder first
            }
            for item in wanted {
                if !budget_left() {
                    return Ok(done);
                }
                let Some(detail) = self.store.message(item.message).await? else {
                    continue;
                };
                let Some(part) = detail.parts.iter().find(|p| p.section == item.section) else {
                    continue;
                };
                let dir = self
                    .data_dir
                    .join("attachments")
                    .join(item.message.0.to_string());
                tokio::fs::create_dir_all(&dir).await?;
                let (mut record, file) = self.claim_download(item.message, part, &dir).await?;
                let cancel = tokio_util::sync::CancellationToken::new();
                match self
                    .download_chunks(
                        session,
                        item.uid,
                        part,
                        &mut record,
                        Some(file),
                        None,
                        &cancel,
                    )
                    .await
                {
                    Ok(_) => done += 1,
                    Err(
                        e @ (Error::ConnectionClosed
                        | Error::Io(_)
                        | Error::Timeout { .. }
                        | Error::Protocol { .. }
                        | Error::Disk { .. }
                        | Error::DiskFull { .. }),
                    ) => return Err(e),
                    Err(_) => {}
                }
            }
        }
        Ok(done)
    }

    /// Starts a new download of `part` into `dir`: picks a free name, claims it by creating
    /// its partial file (never taking over another download's), then records the download at
    /// offset 0 before any byte is fetched, so a cut or a crash from here on resumes into the
    /// same name instead of leaving an empty `.anvert-part` behind and starting another.
    async fn claim_download(
        &self,
        message: MessageId,
        part: &PartDetail,
        dir: &Path,
    ) -> Result<(DownloadRecord, PartFile)> {
        let destination = blobs::destination_in(dir, part.filename.as_deref(), "attachment");
        let limit = blobs::decoded_limit(u64::from(part.size));
        let file = PartFile::create(&destination, limit).await?;
        let record = DownloadRecord::start(message, &part.section, destination);
        if let Err(e) = self.store.save_download_progress(&record).await {
            let _ = file.discard().await;
            return Err(e);
        }
        Ok((record, file))
    }

    /// The chunk loop, over a session that has the message's folder selected: `file` is the
    /// partial file of a download just claimed, `None` to resume `record` from the store.
    ///
    /// A chunk is taken only when it answers exactly what was asked (`fetch_sections` checks
    /// the UID, section, origin and length). A chunk shorter than asked ends the part, and
    /// only when the part then has at least its BODYSTRUCTURE size in encoded bytes: a server
    /// that stops early gets `Error::Protocol`, and nothing of that chunk is committed, so the
    /// download resumes from the last good chunk. More than the size allows ends in
    /// `TooLarge`; transfer decoding is strict, so garbage ends in `Decode`. Completion is
    /// recorded only after all of that.
    #[allow(clippy::too_many_arguments)]
    async fn download_chunks(
        &self,
        session: &mut ImapSession,
        uid: u32,
        part: &PartDetail,
        record: &mut DownloadRecord,
        file: Option<PartFile>,
        listener: Option<&dyn ProgressListener>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<PathBuf> {
        let encoding = TransferEncoding::from_name(part.encoding.as_deref().unwrap_or("7bit"));
        let total = u64::from(part.size);
        // Encoded bytes are bounded like decoded ones: a server that keeps sending (say,
        // blank lines in base64, which decode to nothing) is stopped too.
        let limit = blobs::decoded_limit(total);
        let mut decoder = StreamDecoder::resume(encoding, &record.decoder_state)?.strict();
        let mut file = match file {
            Some(file) => file,
            None => PartFile::resume(&record.destination, record.decoded_len, limit).await?,
        };
        let mut sizer = ChunkSizer::new();
        let mut out = Vec::new();
        let result = async {
            loop {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let len = sizer.next_len();
                let started = Instant::now();
                let request = [SectionRequest {
                    uid,
                    section: part.section.clone(),
                    range: Some((record.encoded_offset, len)),
                }];
                let chunk = tokio::select! {
                    chunk = session.fetch_sections(Purpose::Attachments, &request) => chunk?,
                    _ = cancel.cancelled() => return Err(Error::Cancelled),
                };
                let data = chunk
                    .into_iter()
                    .find(|d| d.uid == uid)
                    .ok_or(Error::NotFound {
                        what: "message on the server",
                        id: record.message.0,
                    })?
                    .data;
                let received = data.len() as u64; // at most `len`: checked by fetch_sections
                let end = record.encoded_offset.saturating_add(received);
                let last = received < u64::from(len);
                if last && end < total {
                    return Err(Error::protocol(format!(
                        "the server ended part {} after {end} of its {total} bytes",
                        part.section
                    )));
                }
                if end > limit {
                    return Err(Error::TooLarge { limit });
                }
                sizer.record(received, started.elapsed());
                out.clear();
                decoder.feed(&data, &mut out)?;
                if last {
                    decoder.finish(&mut out)?;
                }
                file.append(&out).await?;
                file.sync().await?;
                record.encoded_offset = end;
                record.decoded_len = file.len();
                record.decoder_state = decoder.state();
                record.bytes_on_disk = file.len();
                self.store.save_download_progress(record).await?;
                if let Some(l) = listener {
                    l.progress(record.encoded_offset.min(total), total);
                }
                if last {
                    return Ok(());
                }
            }
        }
        .await;
        result?;
        let destination = file.destination().to_path_buf();
        let bytes = file.finish().await?;
        self.store
            .complete_download(record.message, &record.section, bytes)
            .await?;
        Ok(destination)
    }

    async fn locate(&self, message: MessageId) -> Result<(MessageLocation, MessageDetail)> {
        let location = self
            .store
            .message_location(message)
            .await?
            .ok_or(Error::NotFound {
                what: "message",
                id: message.0,
            })?;
        let detail = self.store.message(message).await?.ok_or(Error::NotFound {
            what: "message",
            id: message.0,
        })?;
        Ok((location, detail))
    }

    /// Connects and selects the message's folder, refusing when its UIDVALIDITY moved.
    async fn open_folder(
        &self,
        runtime: &Runtime,
        location: &MessageLocation,
    ) -> Result<ImapSession> {
        if runtime.protocol == super::Protocol::Pop3 {
            // POP3 has no per-part fetch: content arrives whole with a sync (RETR).
            return Err(Error::Config {
                reason: "POP3 messages are downloaded by sync, within ContentPolicy::pop3_retr_max"
                    .into(),
            });
        }
        let mut session = imap::connect(
            &runtime.endpoint,
            &runtime.credential,
            &self.tls,
            &runtime.meter,
            &self.connect,
        )
        .await?;
        let selected = session.select(&location.folder_name, None).await?;
        if selected.uid_validity != location.uidvalidity {
            let _ = session.logout().await;
            return Err(Error::FolderChanged);
        }
        Ok(session)
    }
}

/// The part a reader needs: the preferred alternative, not an attachment.
fn body_part(parts: &[PartDetail], prefer_html: bool) -> Option<&PartDetail> {
    let readable = |t: &str| parts.iter().find(|p| !p.is_attachment && p.mime_type == t);
    let (first, second) = if prefer_html {
        ("text/html", "text/plain")
    } else {
        ("text/plain", "text/html")
    };
    readable(first).or_else(|| readable(second))
}
