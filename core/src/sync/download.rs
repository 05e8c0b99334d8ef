//! Attachments downloaded in chunks of `BODY.PEEK[section]<offset.length>`, decoded as they
//! arrive, written beside the destination, and resumable after a cut connection or a
//! restart: the encoded offset and the decoder's carry are committed after every chunk,
//! after the file is fsynced. A [`Download`] takes one chunk at a time over whatever
//! connection it is handed, so the account layer can lend the connection to other work
//! between chunks.
//!
//! A chunk is taken only when it answers exactly what was asked (`fetch_sections` checks
//! the UID, section, origin and length). A chunk shorter than asked ends the part, and only
//! when the part then has at least its BODYSTRUCTURE size in encoded bytes: a server that
//! stops early gets `Error::Protocol`, and nothing of that chunk is committed, so the
//! download resumes from the last good chunk. More than the size allows ends in
//! `TooLarge`; transfer decoding is strict, so garbage ends in `Decode`. Completion is
//! recorded only after all of that.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use crate::{
    blobs::{self, ChunkSizer, PartFile, StreamDecoder, TransferEncoding},
    error::{Error, Result},
    imap::{ImapSession, SectionRequest},
    net::Purpose,
    policy::ContentPolicy,
    store::{
        AccountId, DownloadRecord, DownloadState, MessageId, MessageLocation, PartDetail,
        PrefetchPart, Store,
    },
};

/// Receives download progress: encoded bytes done of the part's encoded size.
pub trait ProgressListener: Send + Sync {
    fn progress(&self, done: u64, total: u64);
}

/// What is known of a part's download before any byte is fetched.
#[derive(Debug)]
pub enum Existing {
    /// Finished: the file is there.
    Done(PathBuf),
    /// Partly done: resume it.
    Partial(DownloadRecord),
    /// Nothing yet.
    None,
}

/// The download state of `section` of `message`, finishing the record of one killed
/// between the rename into place and recording completion.
pub async fn existing(store: &Store, message: MessageId, part: &PartDetail) -> Result<Existing> {
    let section = part.section.as_str();
    Ok(match store.download(message, section).await? {
        Some(r) if r.state == DownloadState::Complete && r.destination.exists() => {
            store.touch_download(message, section).await?;
            Existing::Done(r.destination)
        }
        Some(r)
            if r.state == DownloadState::Partial
                && r.encoded_offset > 0
                && r.encoded_offset >= u64::from(part.size)
                && !blobs::part_path(&r.destination).exists()
                && std::fs::metadata(&r.destination).is_ok_and(|m| m.len() == r.decoded_len) =>
        {
            store
                .complete_download(message, section, r.decoded_len)
                .await?;
            Existing::Done(r.destination)
        }
        Some(r) if r.state == DownloadState::Partial => Existing::Partial(r),
        _ => Existing::None,
    })
}

/// Starts a new download of `part` into `dir`: picks a free name, claims it by creating its
/// partial file (never taking over another download's), then records the download at
/// offset 0 before any byte is fetched, so a cut or a crash from here on resumes into the
/// same name instead of leaving an empty `.anvert-part` behind and starting another.
pub async fn claim(
    store: &Store,
    message: MessageId,
    part: &PartDetail,
    dir: &Path,
) -> Result<(DownloadRecord, PartFile)> {
    let destination = blobs::destination_in(dir, part.filename.as_deref(), "attachment");
    let limit = blobs::decoded_limit(u64::from(part.size));
    let file = PartFile::create(&destination, limit).await?;
    let record = DownloadRecord::start(message, &part.section, destination);
    if let Err(e) = store.save_download_progress(&record).await {
        let _ = file.discard().await;
        return Err(e);
    }
    Ok((record, file))
}

/// The attachments `policy` prefetches in `folders` (its newest messages, within its size
/// bound) that are not downloaded yet, folder by folder.
pub async fn prefetch_candidates(
    store: &Store,
    account: AccountId,
    folders: &[String],
    policy: &ContentPolicy,
) -> Result<Vec<PrefetchPart>> {
    let Some(max) = policy.prefetch_attachments_max else {
        return Ok(Vec::new());
    };
    let max_encoded = max.saturating_mul(4) / 3 + 1024;
    let newest = policy.prefetch_bodies.max(1);
    let stored = store.folders(account).await?;
    let mut wanted = Vec::new();
    for name in folders {
        if let Some(folder) = stored.iter().find(|f| &f.name == name) {
            wanted.extend(
                store
                    .attachments_to_prefetch(folder.id, newest, max_encoded)
                    .await?,
            );
        }
    }
    Ok(wanted)
}

/// Starts the prefetch download of `item` under `<data_dir>/attachments/<message id>/`;
/// `None` when its message or part is no longer stored.
pub async fn start_prefetch(
    store: &Store,
    data_dir: &Path,
    item: &PrefetchPart,
) -> Result<Option<Download>> {
    let Some(location) = store.message_location(item.message).await? else {
        return Ok(None);
    };
    let Some(detail) = store.message(item.message).await? else {
        return Ok(None);
    };
    let Some(part) = detail.parts.into_iter().find(|p| p.section == item.section) else {
        return Ok(None);
    };
    let dir = data_dir
        .join("attachments")
        .join(item.message.0.to_string());
    tokio::fs::create_dir_all(&dir).await?;
    let (record, file) = claim(store, item.message, &part, &dir).await?;
    Download::open(location, part, record, Some(file))
        .await
        .map(Some)
}

/// One part being downloaded.
pub struct Download {
    location: MessageLocation,
    part: PartDetail,
    record: DownloadRecord,
    file: PartFile,
    decoder: StreamDecoder,
    sizer: ChunkSizer,
    total: u64,
    limit: u64,
    out: Vec<u8>,
    done: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("section", &self.part.section)
            .field("offset", &self.record.encoded_offset)
            .finish_non_exhaustive()
    }
}

impl Download {
    /// A download of `part` at `location`, from `record`: `file` is the partial file of a
    /// download just claimed, `None` to resume `record` from the store.
    pub async fn open(
        location: MessageLocation,
        part: PartDetail,
        record: DownloadRecord,
        file: Option<PartFile>,
    ) -> Result<Download> {
        let encoding = TransferEncoding::from_name(part.encoding.as_deref().unwrap_or("7bit"));
        let total = u64::from(part.size);
        // Encoded bytes are bounded like decoded ones: a server that keeps sending (say,
        // blank lines in base64, which decode to nothing) is stopped too.
        let limit = blobs::decoded_limit(total);
        let decoder = StreamDecoder::resume(encoding, &record.decoder_state)?.strict();
        let file = match file {
            Some(file) => file,
            None => PartFile::resume(&record.destination, record.decoded_len, limit).await?,
        };
        Ok(Download {
            location,
            part,
            record,
            file,
            decoder,
            sizer: ChunkSizer::new(),
            total,
            limit,
            out: Vec::new(),
            done: false,
        })
    }

    /// All chunks are in.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Fetches, decodes, writes and commits the next chunk over `session`; reports progress.
    pub async fn next_chunk(
        &mut self,
        session: &mut ImapSession,
        store: &Store,
        purpose: Purpose,
        listener: Option<&dyn ProgressListener>,
    ) -> Result<()> {
        let len = self.sizer.next_len();
        let started = Instant::now();
        let uid = self.location.uid;
        let request = [SectionRequest {
            uid,
            section: self.part.section.clone(),
            range: Some((self.record.encoded_offset, len)),
            binary: false,
        }];
        let chunk =
            super::ondemand::fetch_in_folder(session, &self.location, purpose, &request).await?;
        let data = chunk
            .into_iter()
            .find(|d| d.uid == uid)
            .ok_or(Error::NotFound {
                what: "message on the server",
                id: self.record.message.0,
            })?
            .data;
        let received = data.len() as u64; // at most `len`: checked by fetch_sections
        let end = self.record.encoded_offset.saturating_add(received);
        let last = received < u64::from(len);
        if last && end < self.total {
            return Err(Error::protocol(format!(
                "the server ended part {} after {end} of its {} bytes",
                self.part.section, self.total
            )));
        }
        if end > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.sizer.record(received, started.elapsed());
        self.out.clear();
        self.decoder.feed(&data, &mut self.out)?;
        if last {
            self.decoder.finish(&mut self.out)?;
        }
        self.file.append(&self.out).await?;
        self.file.sync().await?;
        self.record.encoded_offset = end;
        self.record.decoded_len = self.file.len();
        self.record.decoder_state = self.decoder.state();
        self.record.bytes_on_disk = self.file.len();
        store.save_download_progress(&self.record).await?;
        if let Some(l) = listener {
            l.progress(self.record.encoded_offset.min(self.total), self.total);
        }
        self.done = last;
        Ok(())
    }

    /// Renames the finished file into place and records completion.
    pub async fn finish(self, store: &Store) -> Result<PathBuf> {
        let destination = self.file.destination().to_path_buf();
        let bytes = self.file.finish().await?;
        store
            .complete_download(self.record.message, &self.record.section, bytes)
            .await?;
        Ok(destination)
    }
}
