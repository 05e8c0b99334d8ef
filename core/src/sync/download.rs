//! Attachments downloaded in chunks, resumable after a cut connection or a restart.
//!
//! Where the server offers BINARY (RFC 3516) a base64 or quoted-printable part is fetched as
//! `BINARY.PEEK[section]<offset.length>`: ranges of *decoded* bytes, no decoder state. Else,
//! and for a part the server cannot decode (`NO [UNKNOWN-CTE]`, or BAD), it is
//! `BODY.PEEK[section]<offset.length>`, decoded here, the encoded offset and the decoder's
//! carry committed with each chunk. The mode is recorded with the download, so a resume
//! never mixes them; records from before schema 12 are BODY ones.
//!
//! Several chunk requests are kept in flight on the connection (`ConnectOptions::
//! download_depth`), each written before the answers to the earlier ones are read, and each
//! chunk is committed (file fsynced, then the store) as it arrives: a cut loses at most the
//! chunk being read. [`Download::run`] goes on while its `keep_going` says so, then lets the
//! chunks in flight arrive and returns, so the account layer can lend the connection to
//! other work. The chunk size the download reached is recorded too, and a resume starts
//! there.
//!
//! A chunk is taken only when it answers exactly what was asked (the UID, section, BODY or
//! BINARY, origin and length are checked). A chunk shorter than asked ends the part, and
//! only when the part is then complete: at least its BODYSTRUCTURE size in encoded bytes, or
//! exactly its `BINARY.SIZE` (asked in the first command of a run, no round trip of its
//! own). A server that stops early gets `Error::Protocol`, and nothing of that chunk is
//! committed. More than the size allows ends in `TooLarge`; transfer decoding is strict, so
//! garbage ends in `Decode`. Completion is recorded only after all of that.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    time::Instant,
};

use crate::{
    blobs::{self, ChunkSizer, PartFile, StreamDecoder, TransferEncoding},
    error::{Error, Result},
    imap::{ChunkAnswer, ChunkRequest, ImapSession},
    net::Purpose,
    policy::ContentPolicy,
    store::{
        AccountId, DownloadRecord, DownloadState, MessageId, MessageLocation, PartDetail,
        PrefetchPart, Store, TransferMode,
    },
};

/// Receives download progress: bytes done of the part's encoded size (BODYSTRUCTURE). In
/// BINARY mode the decoded bytes done are scaled to that size; `done == total` at the end
/// either way.
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
        // In BINARY mode the offset counts decoded bytes, which are fewer than the encoded
        // size: a missing partial file beside a destination of exactly the committed length
        // is the rename of `finish` (nothing else removes the partial file of a record).
        Some(r)
            if r.state == DownloadState::Partial
                && r.encoded_offset > 0
                && (r.encoded_offset >= u64::from(part.size) || r.mode == TransferMode::Binary)
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
    crate::blobs::fsio::create_dir_all(&dir).await?;
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
    /// The part's encoded size (BODYSTRUCTURE).
    total: u64,
    /// The most bytes (encoded in BODY mode, decoded in BINARY mode) the part may have.
    limit: u64,
    /// The part's decoded size, from `BINARY.SIZE`.
    binary_size: Option<u64>,
    out: Vec<u8>,
    done: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("section", &self.part.section)
            .field("mode", &self.record.mode)
            .field("offset", &self.record.encoded_offset)
            .finish_non_exhaustive()
    }
}

/// How a run ended.
enum RunEnd {
    /// Stopped (done, or `keep_going` said so) with every chunk in flight answered.
    Stopped,
    /// The server cannot decode the part: start over in BODY mode.
    FallBack,
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
        let encoding = encoding_of(&part);
        let total = u64::from(part.size);
        // Encoded bytes are bounded like decoded ones: a server that keeps sending (say,
        // blank lines in base64, which decode to nothing) is stopped too.
        let limit = blobs::decoded_limit(total);
        let decoder = StreamDecoder::resume(encoding, &record.decoder_state)?.strict();
        let file = match file {
            Some(file) => file,
            None => PartFile::resume(&record.destination, record.decoded_len, limit).await?,
        };
        let sizer = ChunkSizer::starting_at(record.chunk_len);
        Ok(Download {
            location,
            part,
            record,
            file,
            decoder,
            sizer,
            total,
            limit,
            binary_size: None,
            out: Vec::new(),
            done: false,
        })
    }

    /// All chunks are in.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// How the chunks are fetched (`Auto` until the first run).
    pub fn mode(&self) -> TransferMode {
        self.record.mode
    }

    /// Fetches chunks over `session`, pipelined, committing each as it arrives, until the
    /// part is done or `keep_going` says stop (asked before every chunk request but the
    /// first: a run always makes progress); the chunks in flight then still arrive and are
    /// committed. Reports progress after every chunk.
    pub async fn run(
        &mut self,
        session: &mut ImapSession,
        store: &Store,
        purpose: Purpose,
        listener: Option<&dyn ProgressListener>,
        keep_going: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.pick_mode(session.uses_binary(), store).await?;
        let first = self
            .run_flight(session, store, purpose, listener, keep_going)
            .await;
        if let Err(e) = &first
            && e.is_dead_connection()
        {
            self.shrink_after_cut(store).await;
        }
        if let RunEnd::FallBack = first? {
            tracing::info!(
                section = %self.part.section,
                "the server cannot decode a part through BINARY; fetching it through BODY"
            );
            self.restart(TransferMode::Body, store).await?;
            self.run_flight(session, store, purpose, listener, keep_going)
                .await?;
        }
        Ok(())
    }

    /// A cut link mid-chunk: the next run (a resume, now or after a restart) starts at half
    /// the chunk size reached, so a link that keeps dropping still completes chunks, while
    /// a single cut costs a resume little of its speed. Best effort: the progress itself is
    /// already committed.
    async fn shrink_after_cut(&mut self, store: &Store) {
        let halved = ChunkSizer::starting_at(self.sizer.next_len() / 2);
        self.record.chunk_len = halved.next_len();
        self.sizer = halved;
        if let Err(e) = store.save_download_progress(&self.record).await {
            tracing::warn!(error = %e, "could not record the smaller chunk size after a cut");
        }
    }

    /// Decides the mode of a download that has none yet (BINARY for a base64 or
    /// quoted-printable part where the session uses it), and starts a BINARY one over in
    /// BODY mode on a session that does not use BINARY.
    async fn pick_mode(&mut self, uses_binary: bool, store: &Store) -> Result<()> {
        let decodable = !matches!(encoding_of(&self.part), TransferEncoding::Identity);
        match self.record.mode {
            TransferMode::Auto if decodable && uses_binary => {
                self.record.mode = TransferMode::Binary;
            }
            TransferMode::Auto => self.record.mode = TransferMode::Body,
            TransferMode::Binary if !uses_binary => {
                self.restart(TransferMode::Body, store).await?;
            }
            TransferMode::Binary | TransferMode::Body => {}
        }
        Ok(())
    }

    /// Starts over from offset 0 in `mode`, and records it.
    async fn restart(&mut self, mode: TransferMode, store: &Store) -> Result<()> {
        self.file.restart().await?;
        self.file.sync().await?;
        self.decoder = StreamDecoder::new(encoding_of(&self.part)).strict();
        self.binary_size = None;
        self.record.mode = mode;
        self.record.encoded_offset = 0;
        self.record.decoded_len = 0;
        self.record.decoder_state = self.decoder.state();
        self.record.bytes_on_disk = 0;
        store.save_download_progress(&self.record).await
    }

    /// The most offset worth asking for: past the end of the part, answers are empty.
    fn ask_bound(&self) -> u64 {
        match (self.record.mode, self.binary_size) {
            (TransferMode::Binary, Some(size)) => size.min(self.limit),
            // Base64 decodes to at most 3 bytes in 4, anything else to at most its size.
            (TransferMode::Binary, None) => match encoding_of(&self.part) {
                TransferEncoding::Base64 => self.total.div_ceil(4).saturating_mul(3),
                _ => self.total,
            }
            .min(self.limit),
            _ => self.limit,
        }
    }

    /// How many chunks to keep in flight when the next one starts at `offset`.
    fn depth_at(&self, offset: u64, depth: usize) -> usize {
        let expected_end = match (self.record.mode, self.binary_size) {
            (TransferMode::Binary, Some(size)) => size,
            (TransferMode::Binary, None) => self.ask_bound(),
            _ => self.total,
        };
        if offset > expected_end { 1 } else { depth }
    }

    /// One flight of chunk requests, read to its end.
    async fn run_flight(
        &mut self,
        session: &mut ImapSession,
        store: &Store,
        purpose: Purpose,
        listener: Option<&dyn ProgressListener>,
        keep_going: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<RunEnd> {
        let binary = self.record.mode == TransferMode::Binary;
        let uid = self.location.uid;
        let mut flight = session.start_chunks(
            &self.location.folder_name,
            self.location.uidvalidity,
            purpose,
        )?;
        let depth = session.download_depth();
        let mut next_offset = self.record.encoded_offset;
        let mut sent_at: VecDeque<Instant> = VecDeque::new();
        let mut last_answer: Option<Instant> = None;
        let mut asked = 0usize;
        let mut stopped = false;
        let mut fall_back = false;
        let mut failure: Option<Error> = None;
        loop {
            // Past the part's expected end only one chunk at a time: normally none is
            // needed there, and a server that keeps sending is stopped at the bound.
            while !stopped && flight.in_flight() < self.depth_at(next_offset, depth) {
                if next_offset > self.ask_bound() || (asked > 0 && !keep_going()) {
                    // No more requests; those pushed (at least the first) still go out.
                    stopped = true;
                    break;
                }
                let len = self.sizer.next_len();
                session.push_chunk(
                    &mut flight,
                    ChunkRequest {
                        uid,
                        section: self.part.section.clone(),
                        offset: next_offset,
                        len,
                        binary,
                        with_size: binary && asked == 0 && self.binary_size.is_none(),
                    },
                )?;
                sent_at.push_back(Instant::now());
                next_offset = next_offset.saturating_add(u64::from(len));
                asked += 1;
            }
            let Some(answer) = session.next_chunk(&mut flight).await? else {
                break;
            };
            let sent = sent_at.pop_front();
            let now = Instant::now();
            // The chunk's own time: from its request, or from the answer before it when the
            // link was busy with that one.
            let started = match (sent, last_answer) {
                (Some(s), Some(l)) => s.max(l),
                (Some(s), None) => s,
                (None, l) => l.unwrap_or(now),
            };
            last_answer = Some(now);
            if fall_back || self.done || failure.is_some() {
                continue; // draining: past the end, or after a refusal or a failure
            }
            match answer {
                ChunkAnswer::Refused {
                    request,
                    completion,
                } => {
                    let unknown_cte = completion.status == "BAD"
                        || completion
                            .text
                            .get(..13)
                            .is_some_and(|t| t.eq_ignore_ascii_case("[UNKNOWN-CTE]"));
                    if request.binary && unknown_cte {
                        fall_back = true;
                    } else {
                        failure = Some(refusal(&completion));
                    }
                    stopped = true;
                    flight.stop();
                }
                ChunkAnswer::Data {
                    request,
                    data,
                    binary_size,
                } => {
                    if binary_size.is_some() {
                        self.binary_size = binary_size;
                    }
                    let committed = match data {
                        None => Err(Error::NotFound {
                            what: "message on the server",
                            id: self.record.message.0,
                        }),
                        Some(data) => {
                            self.commit(&request, &data, now - started, store, listener)
                                .await
                        }
                    };
                    if let Err(e) = committed {
                        failure = Some(e);
                    }
                    if self.done || failure.is_some() {
                        stopped = true;
                        flight.stop();
                    }
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if !self.done && !fall_back && asked == 0 {
            // Nothing left worth asking, and no short chunk ended the part.
            return Err(Error::TooLarge { limit: self.limit });
        }
        Ok(if fall_back {
            RunEnd::FallBack
        } else {
            RunEnd::Stopped
        })
    }

    /// Checks, decodes (BODY mode), writes and commits one chunk.
    async fn commit(
        &mut self,
        request: &ChunkRequest,
        data: &[u8],
        elapsed: std::time::Duration,
        store: &Store,
        listener: Option<&dyn ProgressListener>,
    ) -> Result<()> {
        if request.offset != self.record.encoded_offset {
            return Err(Error::protocol("a chunk arrived out of order"));
        }
        let received = data.len() as u64; // at most the length: checked by the flight
        let end = self.record.encoded_offset.saturating_add(received);
        let last = received < u64::from(request.len);
        let binary = self.record.mode == TransferMode::Binary;
        let complete = match (binary, self.binary_size) {
            (true, Some(size)) if end > size => {
                return Err(Error::protocol(format!(
                    "the server sent more of part {} than its BINARY.SIZE of {size}",
                    self.part.section
                )));
            }
            (true, Some(size)) => end == size,
            // No BINARY.SIZE: the decoded size is not known exactly.
            (true, None) => true,
            (false, _) => end >= self.total,
        };
        if last && !complete {
            return Err(Error::protocol(match self.binary_size {
                Some(size) if binary => format!(
                    "the server ended part {} after {end} of its {size} decoded bytes",
                    self.part.section
                ),
                _ => format!(
                    "the server ended part {} after {end} of its {} bytes",
                    self.part.section, self.total
                ),
            }));
        }
        if end > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        self.sizer.record(received, elapsed);
        if binary {
            self.file.append(data).await?;
        } else {
            self.out.clear();
            self.decoder.feed(data, &mut self.out)?;
            if last {
                self.decoder.finish(&mut self.out)?;
            }
            self.file.append(&self.out).await?;
            self.record.decoder_state = self.decoder.state();
        }
        self.file.sync().await?;
        self.record.encoded_offset = end;
        self.record.decoded_len = self.file.len();
        self.record.bytes_on_disk = self.file.len();
        self.record.chunk_len = self.sizer.next_len();
        store.save_download_progress(&self.record).await?;
        if let Some(l) = listener {
            let done = if !binary || last {
                if last {
                    self.total
                } else {
                    end.min(self.total)
                }
            } else {
                // Decoded bytes, scaled to the encoded size the progress is given in.
                let decoded_total = self.binary_size.unwrap_or_else(|| self.ask_bound()).max(1);
                let scaled = u128::from(end) * u128::from(self.total) / u128::from(decoded_total);
                u64::try_from(scaled).unwrap_or(u64::MAX).min(self.total)
            };
            l.progress(done, self.total);
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

/// The part's transfer encoding.
fn encoding_of(part: &PartDetail) -> TransferEncoding {
    TransferEncoding::from_name(part.encoding.as_deref().unwrap_or("7bit"))
}

/// The error of a refused chunk command.
fn refusal(completion: &crate::imap::Completion) -> Error {
    if completion.status == "BAD" {
        Error::ServerBad {
            command: "UID FETCH".into(),
            text: completion.text.clone(),
        }
    } else {
        Error::ServerNo {
            command: "UID FETCH".into(),
            text: completion.text.clone(),
        }
    }
}
