//! Headers-first FETCH: message summaries (flags, dates, size, envelope, structure, preview)
//! for windows of messages, pipelined, each window handed over as soon as it is complete.
//! Converts imap-proto values into the engine's own through `mime`; never touches the store.
//! A message whose summary the server sends in a form imap-proto cannot parse (a broken
//! BODYSTRUCTURE, say) does not fail its window: its sequence number is reported in
//! [`Window::unparsable`]. A sequence number of the window the server sent no summary for at
//! all is reported in [`Window::missing`]: every message of a window is accounted for, and
//! `recover` fetches those again other ways.

use async_imap::imap_proto::{AttributeValue, Response};

use super::{ImapSession, SeqSet, exchange::Pipeline, guard::Unparsable};
use crate::{
    error::{Error, Result},
    mime::{self, Addr, PartInfo},
};

/// The envelope of one message, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeInfo {
    pub date: Option<i64>,
    pub subject: String,
    pub from: Vec<Addr>,
    pub sender: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// Everything the message list needs about one message; nothing from its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageHeaders {
    pub seq: u32,
    pub uid: u32,
    pub modseq: Option<u64>,
    pub flags: Vec<String>,
    pub internal_date: Option<i64>,
    pub size: u32,
    pub envelope: EnvelopeInfo,
    pub references: Vec<String>,
    pub parts: Vec<PartInfo>,
    pub preview: Option<String>,
    /// EMAILID (RFC 8474), when asked for, sent and valid.
    pub email_id: Option<String>,
    /// THREADID (RFC 8474), when asked for, sent, not NIL and valid.
    pub thread: Option<String>,
    /// An item every summary asks for (FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE) was
    /// missing or unreadable: what is here is all that could be read.
    pub partial: bool,
}

/// A flag update the server sent for a message (unsolicited, or from a flags-only FETCH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    pub seq: u32,
    pub uid: Option<u32>,
    pub modseq: Option<u64>,
    pub flags: Vec<String>,
}

/// Which items a summary fetch asks for, beyond the fixed core
/// (`UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryItems {
    /// PREVIEW (RFC 8970), when the server offers it.
    pub preview: bool,
    /// MODSEQ, with CONDSTORE.
    pub modseq: bool,
    /// The References header, for threading (not part of ENVELOPE).
    pub references: bool,
    /// EMAILID and THREADID (RFC 8474), with OBJECTID.
    pub objectid: bool,
}

impl SummaryItems {
    /// The item list, e.g. `(UID FLAGS ... PREVIEW)`.
    pub fn render(&self) -> String {
        let mut s = String::from("(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE");
        if self.modseq {
            s.push_str(" MODSEQ");
        }
        if self.references {
            s.push_str(" BODY.PEEK[HEADER.FIELDS (REFERENCES)]");
        }
        if self.preview {
            s.push_str(" PREVIEW");
        }
        if self.objectid {
            s.push_str(" EMAILID THREADID");
        }
        s.push(')');
        s
    }
}

/// The windows being filled, by index: as many as FETCH commands in flight (a handful), so a
/// list searched in order (a `BTreeMap` here was one more copy of the B-tree code).
#[derive(Debug, Default)]
pub(super) struct Filling(Vec<(usize, Window)>);

impl Filling {
    /// Window `index`, begun empty if it is not being filled yet.
    fn entry(&mut self, index: usize) -> &mut Window {
        let at = match self.0.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.0.push((index, Window::default()));
                self.0.len() - 1
            }
        };
        // `at` is a position of the list: found in it, or the entry just pushed.
        &mut self.0[at].1
    }

    fn remove(&mut self, index: usize) -> Option<Window> {
        let at = self.0.iter().position(|(i, _)| *i == index)?;
        Some(self.0.swap_remove(at).1)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One window of a pipelined summary fetch, as handed to the caller.
#[derive(Debug, Default)]
pub struct Window {
    /// Index of the window in the request.
    pub index: usize,
    pub messages: Vec<MessageHeaders>,
    /// Flag-only FETCH responses that arrived meanwhile (other clients' changes).
    pub flag_updates: Vec<FlagUpdate>,
    /// UIDs the server reported as VANISHED meanwhile (QRESYNC, during UID commands).
    pub vanished: Vec<u32>,
    /// Sequence numbers expunged meanwhile (no QRESYNC, during UID commands).
    pub expunged: Vec<u32>,
    /// Sequence numbers of messages whose FETCH response could not be parsed, or lacked an
    /// item asked for; they are not in `messages`.
    pub unparsable: Vec<u32>,
    /// Sequence numbers of the window's range (sequence-number fetches only) for which the
    /// server sent neither a summary nor an unparsable response, though its command
    /// completed with OK.
    pub missing: SeqSet,
}

impl Window {
    /// Whether some of the window's messages still have to be fetched another way.
    pub fn needs_recovery(&self) -> bool {
        !self.unparsable.is_empty() || !self.missing.is_empty()
    }
}

/// A summary fetch in progress: windows pipelined, read back one at a time with
/// [`ImapSession::next_window`].
#[derive(Debug)]
pub struct SummaryFetch {
    pub(super) pipe: Pipeline,
    /// The sequence range of each window (sequence-number fetches only).
    pub(super) ranges: Vec<Option<(u32, u32)>>,
    /// Windows being filled. A server may run pipelined FETCHes concurrently and interleave
    /// their output, so each message goes to the window its sequence number belongs to, and
    /// a window is handed over only when its own command has completed.
    pub(super) pending: Filling,
    /// BODYSTRUCTURE was asked for: a summary without one had it unparsable (imap-proto
    /// drops an item it cannot parse when the rest of the response still parses).
    pub(super) structure: bool,
}

impl SummaryFetch {
    /// Requests no further windows; those already in flight are still delivered.
    pub fn stop_sending(&mut self) {
        self.pipe.stop_sending();
    }
}

impl ImapSession {
    /// Starts fetching summaries for each set in `windows` (e.g. `"1951:2000"`; UIDs when
    /// `by_uid`, sequence numbers otherwise), at most `depth` commands in flight.
    ///
    /// Sequence numbers are safe here: a server may not send EXPUNGE while a non-UID FETCH is
    /// in progress, and the pipeline keeps one in progress until the last completes.
    pub fn start_summaries(
        &mut self,
        windows: &[String],
        by_uid: bool,
        items: SummaryItems,
        depth: usize,
    ) -> SummaryFetch {
        let rendered = items.render();
        let verb = if by_uid { "UID FETCH" } else { "FETCH" };
        let commands: Vec<String> = windows
            .iter()
            .map(|set| format!("{verb} {set} {rendered}"))
            .collect();
        self.meter().set_purpose(crate::net::Purpose::SyncMetadata);
        let mut pipe = self.pipeline(&commands, depth);
        pipe.take_unparsable_fetch();
        pipe.ramp_up();
        let ranges = windows
            .iter()
            .map(|w| if by_uid { None } else { seq_range(w) })
            .collect();
        SummaryFetch {
            pipe,
            ranges,
            pending: Default::default(),
            structure: true,
        }
    }

    /// The next complete window, in request order; `None` when all requested are delivered.
    pub async fn next_window(&mut self, fetch: &mut SummaryFetch) -> Result<Option<Window>> {
        let SummaryFetch {
            pipe,
            ranges,
            pending,
            structure,
        } = fetch;
        // The window a message belongs to, and whether it is one the window asked for: in a
        // sequence-number fetch, a summary outside every window's range is unsolicited.
        // Searched from the oldest window in flight, where a message almost always belongs:
        // a batch plans up to `SUMMARY_BATCH_MAX` windows.
        let route = |oldest: usize, seq: u32| match ranges
            .iter()
            .enumerate()
            .skip(oldest)
            .chain(ranges.iter().enumerate().take(oldest))
            .find(|(_, r)| r.is_some_and(|(lo, hi)| (lo..=hi).contains(&seq)))
        {
            Some((index, _)) => (index, true),
            None => (oldest, ranges.get(oldest).is_some_and(Option::is_none)),
        };
        let next = self
            .next_completion(pipe, |oldest, response| {
                match response {
                    Response::Fetch(seq, attrs) => {
                        let (index, asked) = route(oldest, *seq);
                        let window = pending.entry(index);
                        match summary_from_attrs(*seq, attrs, *structure) {
                            Parsed::Summary(m) if asked => window.messages.push(*m),
                            Parsed::Summary(m) => window.flag_updates.push(FlagUpdate {
                                seq: m.seq,
                                uid: Some(m.uid),
                                modseq: m.modseq,
                                flags: m.flags,
                            }),
                            Parsed::Unreadable if asked => window.unparsable.push(*seq),
                            Parsed::Unreadable => {}
                            Parsed::Flags(f) => window.flag_updates.push(f),
                            Parsed::Invalid(reason) => return Err(Error::protocol(reason)),
                        }
                    }
                    Response::Vanished { uids, .. } => {
                        super::session::expand_ranges(uids, &mut pending.entry(oldest).vanished)?
                    }
                    Response::Expunge(seq) => pending.entry(oldest).expunged.push(*seq),
                    other => {
                        if let Some(Unparsable { seq: Some(seq), .. }) =
                            Unparsable::from_response(other)
                            && let (index, true) = route(oldest, seq)
                        {
                            pending.entry(index).unparsable.push(seq);
                        }
                    }
                }
                Ok(())
            })
            .await?;
        let mut window = match &next {
            Some((index, _)) => pending.remove(*index).unwrap_or_default(),
            None => Window::default(),
        };
        match next {
            None => Ok(None),
            Some((_, completion)) if !completion.ok => {
                fetch.stop_sending();
                // Read what is still in flight so the session stays usable, then report.
                while self
                    .next_completion(&mut fetch.pipe, |_, _| Ok(()))
                    .await?
                    .is_some()
                {}
                fetch.pending.clear();
                Err(Error::ServerNo {
                    command: "FETCH".into(),
                    text: completion.text,
                })
            }
            Some((index, _)) => {
                window.index = index;
                if let Some(Some((lo, hi))) = fetch.ranges.get(index) {
                    let seen = window
                        .messages
                        .iter()
                        .map(|m| m.seq)
                        .chain(window.unparsable.iter().copied());
                    window.missing = SeqSet::range(*lo, *hi).without(seen);
                }
                Ok(Some(window))
            }
        }
    }
}

/// The range of a planned window (`"lo:hi"` or `"n"`); `None` for anything else.
fn seq_range(window: &str) -> Option<(u32, u32)> {
    match window.split_once(':') {
        Some((lo, hi)) => {
            let (a, b) = (lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?);
            Some((a.min(b), a.max(b)))
        }
        None => window.parse::<u32>().ok().map(|n| (n, n)),
    }
}

/// A flags-only view of a FETCH response (QRESYNC changes, unsolicited updates).
pub(super) fn flag_update(seq: u32, attrs: &[AttributeValue<'_>]) -> FlagUpdate {
    let mut update = FlagUpdate {
        seq,
        uid: None,
        modseq: None,
        flags: Vec::new(),
    };
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => update.uid = Some(*u),
            AttributeValue::ModSeq(m) => update.modseq = Some(*m),
            AttributeValue::Flags(f) => update.flags = f.iter().map(|s| s.to_string()).collect(),
            _ => {}
        }
    }
    update
}

enum Parsed {
    Summary(Box<MessageHeaders>),
    /// A full summary that lacks an item it asked for (BODYSTRUCTURE, RFC822.SIZE...):
    /// imap-proto could not parse it.
    Unreadable,
    Flags(FlagUpdate),
    Invalid(String),
}

fn summary_from_attrs(seq: u32, attrs: &[AttributeValue<'_>], wants_structure: bool) -> Parsed {
    let mut m = MessageHeaders {
        seq,
        ..MessageHeaders::default()
    };
    let (mut uid, mut has_envelope, mut has_structure, mut flags) = (None, false, false, None);
    let (mut has_date, mut has_size) = (false, false);
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Flags(f) => {
                flags = Some(f.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            }
            AttributeValue::ModSeq(v) => m.modseq = Some(*v),
            AttributeValue::InternalDate(d) => {
                has_date = true;
                m.internal_date = mime::parse_internal_date(d);
            }
            AttributeValue::Rfc822Size(s) => {
                has_size = true;
                m.size = *s;
            }
            AttributeValue::Envelope(env) => {
                has_envelope = true;
                m.envelope = EnvelopeInfo {
                    date: env.date.as_deref().and_then(mime::parse_header_date),
                    subject: env
                        .subject
                        .as_deref()
                        .map(mime::decode_header_text)
                        .unwrap_or_default(),
                    from: mime::addresses_from_envelope(env.from.as_deref()),
                    sender: mime::addresses_from_envelope(env.sender.as_deref()),
                    reply_to: mime::addresses_from_envelope(env.reply_to.as_deref()),
                    to: mime::addresses_from_envelope(env.to.as_deref()),
                    cc: mime::addresses_from_envelope(env.cc.as_deref()),
                    bcc: mime::addresses_from_envelope(env.bcc.as_deref()),
                    in_reply_to: mime::message_id(env.in_reply_to.as_deref()),
                    message_id: mime::message_id(env.message_id.as_deref()),
                };
            }
            AttributeValue::BodyStructure(bs) => {
                has_structure = true;
                m.parts = mime::parts_from_bodystructure(bs);
            }
            AttributeValue::BodySection {
                data: Some(data), ..
            } => m.references = mime::references(data),
            AttributeValue::Preview(Some(p)) => m.preview = Some(mime::decode_header_text(p)),
            _ => {}
        }
    }
    super::objectid::read_ids(attrs, &mut m.email_id, &mut m.thread);
    // UID 0 does not exist (RFC 3501): such a summary is one without a UID.
    let uid = uid.filter(|u| *u != 0);
    // imap-proto skips an item it cannot parse when the rest still parses (an RFC822.SIZE
    // too large for a u32, say): a summary without an item it asked for is not complete.
    let complete = has_envelope && has_date && has_size && flags.is_some();
    match (uid, has_envelope || has_structure) {
        (Some(_), true) if wants_structure && !(has_structure && complete) => Parsed::Unreadable,
        (Some(uid), true) => {
            m.uid = uid;
            m.partial = !complete;
            m.flags = flags.unwrap_or_default();
            Parsed::Summary(Box::new(m))
        }
        (uid, false) => Parsed::Flags(FlagUpdate {
            seq,
            uid,
            modseq: m.modseq,
            flags: flags.unwrap_or_default(),
        }),
        (None, true) => Parsed::Invalid(format!("FETCH for message {seq} without a UID")),
    }
}
