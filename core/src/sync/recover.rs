//! No message is dropped silently (issue 13). A summary window (or a delta's new mail) can
//! come back with messages the server described in a form that cannot be parsed, or with
//! sequence numbers it left out altogether. Each of them is fetched again, one way after
//! the other, and stored with what could be read:
//!
//! 1. left out: the full summary once more (a response cut short or swallowed by a bad
//!    literal is usually fine on its own);
//! 2. still unreadable: the summary without BODYSTRUCTURE, PREVIEW and References; the parts
//!    and References are then read from the message's own bytes (`structure`), and when even
//!    that fails the message is stored with its envelope but no parts, marked incomplete;
//! 3. still unreadable: the UID and flags alone, stored as an incomplete placeholder;
//! 4. not even that: the message is *lost* for this sync. It is counted, and the caller
//!    keeps the folder's sync state from moving past it, so the next sync asks again.
//!
//! Incomplete messages are reported (`FolderReport::incomplete`, `SyncEvent::
//! MessagesIncomplete`) and fetched again by the next sync, which replaces them.

use super::{Budget, convert, folder::FolderReport, structure};
use crate::{
    error::{Error, Result},
    imap::{FlagUpdate, ImapSession, MessageHeaders, SeqSet, SummaryItems, Window},
    store::{FolderId, NewMessage, Store},
};

/// What a window holds once every message of it is accounted for.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    /// `(sequence number, message)`, complete or incomplete.
    pub messages: Vec<(u32, NewMessage)>,
    /// Bodies read while reading structures, `(uid, is_html, text)`, to store once the rows
    /// are committed.
    pub bodies: Vec<(u32, bool, String)>,
    /// Sequence numbers of messages not stored at all.
    pub lost: SeqSet,
}

impl Recovered {
    /// A window that needs nothing fetched again.
    pub(super) fn plain(window: Window) -> Recovered {
        Recovered {
            messages: window
                .messages
                .into_iter()
                .map(|m| (m.seq, convert::message(m)))
                .collect(),
            ..Recovered::default()
        }
    }

    /// UIDs of the messages stored incomplete.
    pub(super) fn incomplete(&self) -> Vec<u32> {
        self.messages
            .iter()
            .filter(|(_, m)| m.incomplete)
            .map(|(_, m)| m.uid)
            .collect()
    }
}

/// The ways to fetch a window's unreadable messages again. Nothing else may be in flight on
/// the session.
pub(super) struct Recovery<'a> {
    pub session: &'a mut ImapSession,
    pub budget: &'a Budget,
    pub items: SummaryItems,
    pub prefer_html: bool,
}

impl Recovery<'_> {
    /// Fetches again the messages of `window` that are unparsable or missing, and returns the
    /// window with every message accounted for. Counts in `report` what was done.
    pub(super) async fn recover(
        &mut self,
        window: Window,
        report: &mut FolderReport,
    ) -> Result<Recovered> {
        if !window.needs_recovery() {
            return Ok(Recovered::plain(window));
        }
        let Window {
            messages,
            unparsable,
            missing,
            ..
        } = window;
        let mut have: Vec<MessageHeaders> = messages;
        let mut need = SeqSet::of(unparsable.iter().copied());

        // 1. Left out: the full summary once more.
        if !missing.is_empty() {
            let again =
                refused_is_none(self.session.summaries_of(&missing, Some(self.items)).await)?;
            let still = missing.without(
                again
                    .messages
                    .iter()
                    .map(|m| m.seq)
                    .chain(again.unparsable.iter().copied()),
            );
            need = need.union(&SeqSet::of(again.unparsable)).union(&still);
            have.extend(again.messages);
        }
        let need = need.without(have.iter().map(|m| m.seq));

        // 2. The summary without the structure, then the structure from the bytes.
        let bare = if need.is_empty() {
            Window::default()
        } else {
            refused_is_none(self.session.summaries_of(&need, None).await)?
        };
        let bare_seqs: Vec<u32> = bare.messages.iter().map(|m| m.seq).collect();
        let need = need.without(bare_seqs);
        // A partial summary (its size unknown, say) is stored as it is: incomplete.
        let sizes: Vec<(u32, u32)> = bare
            .messages
            .iter()
            .filter(|m| !m.partial)
            .map(|m| (m.uid, m.size))
            .collect();
        let mut structures = refused_is_none(
            structure::read_structures(self.session, self.budget, &sizes, self.prefer_html).await,
        )?;
        let mut out = Recovered::plain(Window {
            messages: have,
            ..Window::default()
        });
        for m in bare.messages {
            let (seq, uid) = (m.seq, m.uid);
            let mut message = convert::message(m);
            match structures.iter().position(|(u, _)| *u == uid) {
                Some(at) => {
                    let (_, found) = structures.swap_remove(at);
                    message.parts = found.parts;
                    message.references = found.references;
                    if let Some((html, text)) = found.body {
                        if message.preview.is_none() {
                            message.preview = super::pop3_parse::body_preview(html, &text);
                        }
                        out.bodies.push((uid, html, text));
                    }
                    report.structure_fallback += 1;
                }
                None => message.incomplete = true,
            }
            out.messages.push((seq, message));
        }

        // 3. The UID and flags alone.
        let flags = refused_is_none(self.session.uids_and_flags(&need).await)?;
        out.lost = need.without(flags.iter().map(|f| f.seq));
        out.messages
            .extend(flags.iter().filter_map(|f| Some((f.seq, placeholder(f)?))));

        report.incomplete.extend(out.incomplete());
        report.unparsable = report
            .unparsable
            .saturating_add(u32::try_from(out.lost.count()).unwrap_or(u32::MAX));
        Ok(out)
    }
}

/// A server that answers a recovery fetch with NO or BAD gave nothing: the messages stay
/// unread (stored incomplete, or lost), the folder goes on. The session is still usable.
fn refused_is_none<T: Default>(result: Result<T>) -> Result<T> {
    match result {
        Err(Error::ServerNo { .. }) => Ok(T::default()),
        other => other,
    }
}

/// A message known only by its UID and flags.
fn placeholder(update: &FlagUpdate) -> Option<NewMessage> {
    let mut message = NewMessage {
        uid: update.uid.filter(|u| *u != 0)?,
        modseq: update.modseq.unwrap_or(0),
        flags: convert::flags(&update.flags),
        ..NewMessage::default()
    };
    message.incomplete = true;
    Some(message)
}

/// Stores the bodies read with messages' structures (once their rows are committed), as
/// `fetch_body` stores a body: compressed, text or HTML. A message gone meanwhile is skipped.
pub(super) async fn store_bodies(
    store: &Store,
    folder: FolderId,
    bodies: &[(u32, bool, String)],
) -> Result<()> {
    for (uid, html, text) in bodies {
        let Some(id) = store.message_id(folder, *uid).await? else {
            continue;
        };
        let compressed = crate::blobs::compress(text)?;
        let (plain, html) = match html {
            true => (None, Some(&compressed[..])),
            false => (Some(&compressed[..]), None),
        };
        store
            .put_body(id, plain, html, compressed.len() as u64)
            .await?;
    }
    Ok(())
}
