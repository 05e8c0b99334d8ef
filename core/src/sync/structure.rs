//! A message's parts when its BODYSTRUCTURE cannot be parsed (issue 13: some servers send
//! forms no parser accepts), read from the message's own bytes instead of being dropped:
//!
//! - up to [`STRUCTURE_WHOLE_MAX`] (by RFC822.SIZE), the message is fetched whole and parsed
//!   by mail-parser into the same part list BODYSTRUCTURE gives (`mime::parts_from_message`:
//!   same sections, sizes and attachment rule). Its preferred readable body is kept, to be
//!   stored as `fetch_body` would, with a preview made from it;
//! - larger ones, up to [`STRUCTURE_STREAM_MAX`], are read in pieces of [`STRUCTURE_PIECE`]
//!   through the POP3 skeleton builder (header blocks and boundary lines kept, bodies elided),
//!   so nothing is held whole; the skeleton's parse gives the parts with their real sizes.
//!
//! The References come from the same bytes. Every byte counts as sync metadata. A message
//! whose bytes do not add up to its RFC822.SIZE, or that the byte budget cannot afford, gets
//! no structure here (the caller stores it incomplete, to be fetched again).

use super::{Budget, pop3_parse, pop3_skeleton::Builder};
use crate::{
    error::Result,
    imap::ImapSession,
    limits::{STRUCTURE_PIECE, STRUCTURE_STREAM_MAX, STRUCTURE_WHOLE_MAX},
    store::NewPart,
};

/// Whole messages fetched in one pipelined flight at most (so at most this many times
/// [`STRUCTURE_WHOLE_MAX`] in memory).
const WHOLE_BATCH: usize = 8;
/// Pieces of a large message requested in one flight.
const PIECES_IN_FLIGHT: u64 = 4;

/// What a message's own bytes say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Structure {
    pub parts: Vec<NewPart>,
    pub references: Vec<String>,
    /// `(is_html, text)` of the preferred readable part, when the message was read whole.
    pub body: Option<(bool, String)>,
}

/// The structures of `messages` (`(uid, RFC822.SIZE)`), read from their bytes; a message
/// left out could not be read that way.
pub(super) async fn read_structures(
    session: &mut ImapSession,
    budget: &Budget,
    messages: &[(u32, u32)],
    prefer_html: bool,
) -> Result<Vec<(u32, Structure)>> {
    let affordable = |size: u32| {
        budget
            .remaining()
            .is_none_or(|left| u64::from(size) <= left)
    };
    let mut out = Vec::new();
    let small: Vec<(u32, u32)> = messages
        .iter()
        .copied()
        .filter(|(_, size)| *size > 0 && *size <= STRUCTURE_WHOLE_MAX)
        .collect();
    for batch in small.chunks(WHOLE_BATCH) {
        let wanted: Vec<(u32, u32)> = batch
            .iter()
            .copied()
            .filter(|(_, size)| affordable(*size) && !budget.exhausted())
            .collect();
        // One byte more than the size: a message longer than it said shows itself.
        let requests: Vec<(u32, u64, u32)> = wanted
            .iter()
            .map(|(uid, size)| (*uid, 0, size.saturating_add(1)))
            .collect();
        let ranges = session.message_ranges(&requests).await?;
        for (uid, size) in wanted {
            let Some(range) = ranges.iter().find(|r| r.uid == uid) else {
                continue;
            };
            if range.data.len() as u64 != u64::from(size) {
                continue;
            }
            if let Some(structure) = whole(&range.data, prefer_html) {
                out.push((uid, structure));
            }
        }
    }
    for &(uid, size) in messages {
        if size > STRUCTURE_WHOLE_MAX
            && size <= STRUCTURE_STREAM_MAX
            && affordable(size)
            && !budget.exhausted()
            && let Some(structure) = streamed(session, budget, uid, size).await?
        {
            out.push((uid, structure));
        }
    }
    Ok(out)
}

/// A whole message, parsed in memory.
fn whole(raw: &[u8], prefer_html: bool) -> Option<Structure> {
    let parsed = pop3_parse::parse(raw)?;
    let references = pop3_parse::headers(&parsed, raw.len() as u64, 0, false).references;
    let full = pop3_parse::full(&parsed, prefer_html);
    Some(Structure {
        parts: pop3_parse::new_parts(&full.parts),
        references,
        body: full.body,
    })
}

/// A large message, read piece by piece into a skeleton.
async fn streamed(
    session: &mut ImapSession,
    budget: &Budget,
    uid: u32,
    size: u32,
) -> Result<Option<Structure>> {
    let (size, piece) = (u64::from(size), u64::from(STRUCTURE_PIECE));
    let mut builder = Builder::new();
    let mut offset = 0u64;
    // Up to one byte past the size, so that a message longer than it said shows itself.
    while offset <= size {
        if budget.exhausted() {
            return Ok(None);
        }
        let requests: Vec<(u32, u64, u32)> = (0..PIECES_IN_FLIGHT)
            .map(|k| offset + k * piece)
            .take_while(|at| *at <= size)
            .map(|at| (uid, at, STRUCTURE_PIECE))
            .collect();
        let mut ranges = session.message_ranges(&requests).await?;
        crate::sort::sort_by_key(&mut ranges, |r| r.offset);
        for (request, range) in requests.iter().zip(&ranges) {
            if range.offset != request.1 {
                return Ok(None); // a piece is missing
            }
            builder.feed(&range.data);
            offset += range.data.len() as u64;
            if (range.data.len() as u64) < piece {
                // The end of the message: it must be where RFC822.SIZE said.
                return Ok((offset == size)
                    .then(|| skeleton_structure(builder))
                    .flatten());
            }
        }
        if ranges.len() < requests.len() {
            return Ok(None);
        }
    }
    Ok(None) // longer than it said
}

fn skeleton_structure(builder: Builder) -> Option<Structure> {
    let skeleton = builder.finish();
    let parsed = pop3_parse::parse(skeleton.bytes())?;
    let parts = skeleton.parts(&parsed)?;
    let references = pop3_parse::headers(&parsed, 0, 0, false).references;
    Some(Structure {
        parts: pop3_parse::part_rows(parts.iter().map(|p| &p.info)),
        references,
        body: None,
    })
}
