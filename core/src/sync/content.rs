//! Content beyond headers that a sync fetches by policy: snippets for the message list
//! when the server offers no PREVIEW. A byte range of each message's first text part is
//! fetched (`BODY.PEEK[section]<0.N>`), all in one pipelined flight, and decoded even when
//! the cut falls inside an encoding or a character. Only answers that match what was
//! asked (UID, section, origin, length) are stored; a message with one that does not is
//! skipped and asked for again at a later sync.

use super::{Budget, EventSink, SyncEvent};
use crate::{
    error::Result,
    imap::{ImapSession, SectionRequest},
    mime,
    net::Purpose,
    policy::ContentPolicy,
    store::{FolderId, Store},
};

/// Whether the policy wants content the folder's stored messages still lack, so that an
/// otherwise unchanged folder is worth selecting.
pub(super) async fn wanted(
    store: &Store,
    folder: FolderId,
    policy: &ContentPolicy,
) -> Result<bool> {
    if policy.snippets
        && policy.snippet_messages > 0
        && !store
            .messages_needing_preview(folder, policy.snippet_messages)
            .await?
            .is_empty()
    {
        return Ok(true);
    }
    Ok(policy.prefetch_bodies > 0
        && !store
            .messages_needing_body(folder, policy.prefetch_bodies, policy.prefer_html)
            .await?
            .is_empty())
}

/// Characters in a stored snippet.
pub const SNIPPET_CHARS: usize = 200;

/// Fetches snippets for the folder's newest messages that have none. Returns how many were
/// stored. The folder must be selected on `session`.
pub(super) async fn fetch_snippets(
    session: &mut ImapSession,
    store: &Store,
    folder: FolderId,
    policy: &ContentPolicy,
    budget: &Budget,
    events: &dyn EventSink,
) -> Result<u32> {
    if !policy.snippets || policy.snippet_messages == 0 || budget.exhausted() {
        return Ok(0);
    }
    let sources = store
        .messages_needing_preview(folder, policy.snippet_messages)
        .await?;
    if sources.is_empty() {
        return Ok(0);
    }
    let requests: Vec<SectionRequest> = sources
        .iter()
        .map(|s| {
            let len = mime::snippet_fetch_len(s.encoding.as_deref(), policy.snippet_bytes);
            // A part no longer than the range is fetched whole: same bytes, no range syntax.
            let range = (s.size > len).then_some((0, len));
            SectionRequest {
                uid: s.uid,
                section: s.section.clone(),
                range,
                binary: false,
            }
        })
        .collect();
    let data = prefetch(session, Purpose::Snippets, &requests).await?;

    let mut previews = Vec::with_capacity(data.len());
    for d in &data {
        let Some((source, request)) = sources
            .iter()
            .zip(&requests)
            .find(|(s, _)| s.uid == d.uid && s.section == d.section)
            .filter(|(s, _)| !answer_is_empty(&d.data, s.size))
        else {
            continue;
        };
        let truncated = request.range.is_some();
        let text = mime::snippet_from_part(
            &d.data,
            truncated,
            &source.mime_type,
            source.encoding.as_deref(),
            source.charset.as_deref(),
            SNIPPET_CHARS,
        );
        previews.push((source.message, text));
    }
    store.set_previews(&previews).await?;
    if !previews.is_empty() {
        let uids = data.iter().map(|d| d.uid).collect();
        events.emit(SyncEvent::MessagesChanged { folder, uids });
    }
    Ok(previews.len() as u32)
}

/// Prefetches readable bodies for the folder's newest messages (the unmetered policy), in one
/// pipelined flight, stored compressed. Returns how many were stored.
pub(super) async fn prefetch_bodies(
    session: &mut ImapSession,
    store: &Store,
    folder: FolderId,
    policy: &ContentPolicy,
    budget: &Budget,
) -> Result<u32> {
    if policy.prefetch_bodies == 0 || budget.exhausted() {
        return Ok(0);
    }
    let sources = store
        .messages_needing_body(folder, policy.prefetch_bodies, policy.prefer_html)
        .await?;
    let requests: Vec<SectionRequest> = sources
        .iter()
        .map(|s| SectionRequest {
            uid: s.uid,
            section: s.section.clone(),
            range: None,
            binary: false,
        })
        .collect();
    if requests.is_empty() {
        return Ok(0);
    }
    let data = prefetch(session, Purpose::Bodies, &requests).await?;
    let mut stored = 0;
    for d in &data {
        let Some(source) = sources
            .iter()
            .find(|s| s.uid == d.uid && s.section == d.section)
            .filter(|s| !answer_is_empty(&d.data, s.size))
        else {
            continue;
        };
        let text = mime::decode_part_text(
            &d.data,
            source.encoding.as_deref(),
            source.charset.as_deref(),
        );
        let compressed = crate::blobs::compress(&text)?;
        let (plain, html) = if source.mime_type == "text/html" {
            (None, Some(&compressed[..]))
        } else {
            (Some(&compressed[..]), None)
        };
        store
            .put_body(source.message, plain, html, compressed.len() as u64)
            .await?;
        stored += 1;
    }
    Ok(stored)
}

/// The answers to `requests` that match them. A message with an answer that does not
/// (another section or origin, too long, twice) gets nothing stored and is asked for again
/// at a later sync: a broken or hostile server neither ends the sync over a snippet nor
/// gets a wrong one stored. Answers for messages not asked for are ignored.
async fn prefetch(
    session: &mut ImapSession,
    purpose: Purpose,
    requests: &[SectionRequest],
) -> Result<Vec<crate::imap::SectionData>> {
    let answers = session.prefetch_sections(purpose, requests).await?;
    if answers.refused > 0 {
        tracing::warn!(
            refused = answers.refused,
            "content answers that did not match their requests were dropped"
        );
    }
    Ok(answers.data)
}

/// An empty answer (NIL or "") for a part BODYSTRUCTURE says has bytes: not the part's
/// content, so nothing is stored and the next sync (or opening the message) asks again.
fn answer_is_empty(data: &[u8], size: u32) -> bool {
    data.is_empty() && size > 0
}
