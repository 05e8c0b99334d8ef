//! What the outbox runner (`send`) does on the wire besides its steps: the SMTP envelope,
//! the CATENATE pieces of an assembled message with its URLs where the original is now, the
//! Message-ID search in Sent, and the original read here in ranges (the DATA path).

use crate::{
    error::{Error, Result},
    imap::{CatPart, ImapSession, url},
    net::Purpose,
    smtp::Envelope,
    store::{OriginalPlace, OutPart, OutgoingWork},
};

use super::send::SentFolder;

/// Bytes asked per range when the original of a forward is read here (DATA path).
const ORIGINAL_CHUNK: u32 = 1 << 20;
/// Ranges of the original in flight at once.
const ORIGINAL_DEPTH: usize = 4;
/// The NOOP before a search in a Sent folder selected already.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest original read here for a forward (past it the forward fails clearly).
const ORIGINAL_MAX: u64 = 64 << 20;

/// The SMTP envelope of an entry: its pending recipients.
pub(super) fn envelope(work: &OutgoingWork, size: u64) -> Envelope {
    Envelope {
        from: work.mail_from.clone(),
        to: work.item.pending.clone(),
        size,
        eight_bit: work.eight_bit,
        utf8: work.utf8,
    }
}

/// The relative URLs of an assembled message's sections, where its original is now.
pub(super) fn part_urls(parts: &[OutPart], original: &OriginalPlace) -> Result<Vec<String>> {
    parts
        .iter()
        .filter_map(|p| match p {
            OutPart::Section(s) => Some(url::relative(
                &original.folder_name,
                original.uid_validity,
                original.uid,
                (!s.is_empty()).then_some(s.as_str()),
            )),
            OutPart::Text(..) => None,
        })
        .collect()
}

/// The CATENATE pieces: text ranges of `text` and the URLs, in order.
pub(super) fn catenate_pieces<'a>(
    text: &'a [u8],
    parts: &[OutPart],
    urls: &'a [String],
) -> Result<Vec<CatPart<'a>>> {
    let mut out = Vec::with_capacity(parts.len());
    let mut next_url = urls.iter();
    for part in parts {
        match part {
            OutPart::Text(start, end) => {
                let range = usize::try_from(*start).unwrap_or(usize::MAX)
                    ..usize::try_from(*end).unwrap_or(usize::MAX);
                let bytes = text.get(range).ok_or(Error::Decode {
                    reason: "an outgoing message's text is shorter than its parts",
                })?;
                if !bytes.is_empty() {
                    out.push(CatPart::Text(bytes));
                }
            }
            OutPart::Section(_) => {
                let url = next_url.next().ok_or(Error::Decode {
                    reason: "an outgoing message's parts do not match",
                })?;
                out.push(CatPart::Url(url));
            }
        }
    }
    Ok(out)
}

/// The UID of the newest message in Sent with this Message-ID (EXAMINE Sent first).
pub(super) async fn find_in_sent(
    session: &mut ImapSession,
    sent: &SentFolder,
    message_id: &str,
) -> Result<Option<u32>> {
    // Selected already: a NOOP first, so that what arrived since (a copy the server filed
    // itself) is in the session's view (Dovecot's SEARCH did not see it otherwise).
    if session.selected_uid_validity(&sent.name).is_some() {
        session.probe(PROBE_TIMEOUT).await?;
    }
    // Any UIDVALIDITY: the search is by content (a FolderChanged answer leaves it selected).
    match session.ensure_examined(&sent.name, None).await {
        Ok(_) | Err(Error::FolderChanged) => {}
        Err(e) => return Err(e),
    }
    let bracketed = format!("<{message_id}>");
    Ok(session
        .uids_by_message_id(&[bracketed.as_str()])
        .await?
        .into_iter()
        .next()
        .flatten())
}

/// The whole original of a forward, read here in ranges (the DATA path).
pub(super) async fn read_original(
    session: &mut ImapSession,
    original: &OriginalPlace,
) -> Result<Vec<u8>> {
    session
        .ensure_examined(&original.folder_name, Some(original.uid_validity))
        .await?;
    let mut out = Vec::new();
    loop {
        let start = out.len() as u64;
        let requests: Vec<(u32, u64, u32)> = (0..ORIGINAL_DEPTH as u64)
            .map(|i| {
                (
                    original.uid,
                    start + i * u64::from(ORIGINAL_CHUNK),
                    ORIGINAL_CHUNK,
                )
            })
            .collect();
        let mut ranges = session.message_ranges(&requests).await?;
        session.meter().set_purpose(Purpose::Send);
        crate::sort::sort_by_key(&mut ranges, |r| r.offset);
        let mut short = ranges.len() < requests.len();
        for (range, (_, offset, _)) in ranges.iter().zip(&requests) {
            if range.offset != *offset {
                short = true;
                break;
            }
            out.extend_from_slice(&range.data);
            if range.data.len() < ORIGINAL_CHUNK as usize {
                short = true;
                break;
            }
        }
        if out.len() as u64 > ORIGINAL_MAX {
            return Err(Error::TooLarge {
                limit: ORIGINAL_MAX,
            });
        }
        if short {
            break;
        }
    }
    if out.is_empty() {
        return Err(Error::Config {
            reason: "the original message is gone from the server".into(),
        });
    }
    Ok(out)
}
