//! Pipelined chunk fetches for a download: the caller keeps several
//! `UID FETCH n (BODY.PEEK[s]<o.l>)` (or `BINARY.PEEK`) commands in flight on one session and
//! gets each chunk back as its command completes, in order, so it can commit one chunk while
//! the next ones are already on their way. The first command of a flight may ask for
//! `BINARY.SIZE[s]` too (no round trip of its own), and `EXAMINE` rides in front of it when
//! the folder is not the one selected.
//!
//! Answers are checked as strictly as `fetch_sections` does (UID, section, BODY or BINARY,
//! origin, at most the length asked); a mismatch is an `Error::Protocol`. A chunk whose
//! command the server refuses (tagged NO or BAD) comes back as [`ChunkAnswer::Refused`] with
//! the completion, so the caller can fall back (`NO [UNKNOWN-CTE]` for BINARY).

use std::collections::VecDeque;

use async_imap::imap_proto::{AttributeValue, Response};

use super::{
    Completion, ImapSession, SectionRequest,
    body::{Expected, fetch_item},
    exchange::Pipeline,
    session::SelectCollector,
};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

/// One chunk of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRequest {
    pub uid: u32,
    pub section: String,
    /// Encoded bytes for BODY, decoded ones for BINARY.
    pub offset: u64,
    pub len: u32,
    pub binary: bool,
    /// Ask for `BINARY.SIZE[section]` in the same command (BINARY only).
    pub with_size: bool,
}

impl ChunkRequest {
    fn section_request(&self) -> SectionRequest {
        SectionRequest {
            uid: self.uid,
            section: self.section.clone(),
            range: Some((self.offset, self.len)),
            binary: self.binary,
        }
    }
}

/// What came back for one chunk, in the order the chunks were asked.
#[derive(Debug)]
pub enum ChunkAnswer {
    /// The chunk (shorter than asked at the end of the part, empty past it; `None` when
    /// nothing came for it: the message is gone), with the part's decoded size when it was
    /// asked and answered.
    Data {
        request: ChunkRequest,
        data: Option<Vec<u8>>,
        binary_size: Option<u64>,
    },
    /// The server refused the chunk's command.
    Refused {
        request: ChunkRequest,
        completion: Completion,
    },
}

/// Chunk commands in flight on a session (see the module documentation).
pub struct ChunkFlight {
    pipe: Pipeline,
    folder: String,
    uid_validity: Option<u32>,
    /// The EXAMINE in front, until it completes.
    examining: Option<SelectCollector>,
    /// Chunks asked and not yet answered, oldest first.
    pending: VecDeque<ChunkRequest>,
    expected: Expected,
    purpose: Purpose,
    binary_size: Option<u64>,
}

impl std::fmt::Debug for ChunkFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkFlight")
            .field("folder", &self.folder)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl ChunkFlight {
    /// Chunks asked and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the chunks pushed but not sent yet: those already sent are still answered by
    /// `next_chunk`.
    pub fn stop(&mut self) {
        let unsent = self.pipe.drop_unsent();
        for _ in 0..unsent {
            self.pending.pop_back();
        }
    }
}

impl ImapSession {
    /// Starts a flight of chunks of messages in `folder` (EXAMINEd first, in the same
    /// flight, unless it is selected; `Error::FolderChanged` when its UIDVALIDITY is not
    /// `uid_validity`). Nothing is sent until [`next_chunk`](Self::next_chunk).
    pub fn start_chunks(
        &mut self,
        folder: &str,
        uid_validity: Option<u32>,
        purpose: Purpose,
    ) -> Result<ChunkFlight> {
        let examine = match self.current(folder) {
            Some(sel) if sel.uid_validity != uid_validity => return Err(Error::FolderChanged),
            Some(_) => None,
            None => Some(self.start_examine(folder)?),
        };
        let examining = examine.as_ref().map(|_| SelectCollector::default());
        let commands: Vec<String> = examine.into_iter().collect();
        // Depth is the caller's business: it pushes only as many chunks as it wants in flight.
        let pipe = self.pipeline_read_only(&commands, usize::MAX / 2);
        Ok(ChunkFlight {
            pipe,
            folder: folder.to_string(),
            uid_validity,
            examining,
            pending: VecDeque::new(),
            expected: Expected::empty(),
            purpose,
            binary_size: None,
        })
    }

    /// Asks for one more chunk (sent by the next `next_chunk`).
    pub fn push_chunk(&self, flight: &mut ChunkFlight, request: ChunkRequest) -> Result<()> {
        let section = request.section_request();
        flight.expected.add(&section)?;
        let mut items = String::from("UID ");
        if request.binary && request.with_size {
            items.push_str(&format!("BINARY.SIZE[{}] ", request.section));
        }
        items.push_str(&fetch_item(&section.section, section.range, request.binary));
        flight
            .pipe
            .push(format!("UID FETCH {} ({items})", request.uid));
        flight.pending.push_back(request);
        Ok(())
    }

    /// Sends what was pushed, then reads until the oldest chunk in flight completes and
    /// returns it; `None` when nothing is in flight.
    pub async fn next_chunk(&mut self, flight: &mut ChunkFlight) -> Result<Option<ChunkAnswer>> {
        self.meter().set_purpose(flight.purpose);
        let result = self.read_chunk(flight).await;
        self.meter().set_purpose(Purpose::SyncMetadata);
        result
    }

    async fn read_chunk(&mut self, flight: &mut ChunkFlight) -> Result<Option<ChunkAnswer>> {
        loop {
            let expected = &mut flight.expected;
            let examining = &mut flight.examining;
            let binary_size = &mut flight.binary_size;
            let wanted = flight.pending.front().map(|r| (r.uid, r.section.clone()));
            let next = self
                .next_completion(&mut flight.pipe, |_, response| {
                    if let Some(sel) = examining.as_mut() {
                        sel.on_response(response);
                    }
                    if let Response::Fetch(_, attrs) = response {
                        // Recorded in `expected`; the first refusal is reported below.
                        let _ = expected.accept(attrs);
                        if let Some(size) = size_of(attrs, wanted.as_ref()) {
                            *binary_size = Some(size);
                        }
                    }
                    Ok(())
                })
                .await?;
            let Some((_, completion)) = next else {
                return Ok(None);
            };
            if let Some(sel) = flight.examining.take() {
                let folder = flight.folder.clone();
                self.finish_examine(&folder, flight.uid_validity, Some(&[completion]), sel)?;
                continue;
            }
            if let Some(e) = flight.expected.first_refusal.take() {
                return Err(e);
            }
            let Some(request) = flight.pending.pop_front() else {
                return Err(Error::protocol("a chunk completed that was never asked"));
            };
            let data = flight.expected.take_answer(&request.section_request());
            if !completion.ok {
                return Ok(Some(ChunkAnswer::Refused {
                    request,
                    completion,
                }));
            }
            let binary_size = if request.with_size {
                flight.binary_size.take()
            } else {
                None
            };
            return Ok(Some(ChunkAnswer::Data {
                request,
                data,
                binary_size,
            }));
        }
    }
}

/// The `BINARY.SIZE` of the wanted (UID, section) in one FETCH response, if it has one.
fn size_of(attrs: &[AttributeValue<'_>], wanted: Option<&(u32, String)>) -> Option<u64> {
    let (uid, section) = wanted?;
    let answered_uid = attrs.iter().find_map(|a| match a {
        AttributeValue::Uid(u) => Some(*u),
        _ => None,
    })?;
    if answered_uid != *uid {
        return None;
    }
    let path: Vec<u32> = section
        .split('.')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    attrs.iter().find_map(|a| match a {
        AttributeValue::BinarySize { section, size } if *section == path => Some(*size),
        _ => None,
    })
}
