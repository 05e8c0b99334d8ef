//! Headers-first FETCH: message summaries (flags, dates, size, envelope, structure, preview)
//! for windows of messages, pipelined, each window handed over as soon as it is complete.
//! Converts imap-proto values into the engine's own through `mime`; never touches the store.

use async_imap::imap_proto::{AttributeValue, Response};

use super::{ImapSession, exchange::Pipeline};
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
        s.push(')');
        s
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
}

/// A summary fetch in progress: windows pipelined, read back one at a time with
/// [`ImapSession::next_window`].
#[derive(Debug)]
pub struct SummaryFetch {
    pipe: Pipeline,
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
    pub fn start_summaries(&mut self, windows: &[String], by_uid: bool, items: SummaryItems, depth: usize) -> SummaryFetch {
        let rendered = items.render();
        let verb = if by_uid { "UID FETCH" } else { "FETCH" };
        let commands: Vec<String> = windows.iter().map(|set| format!("{verb} {set} {rendered}")).collect();
        self.meter().set_purpose(crate::net::Purpose::SyncMetadata);
        SummaryFetch { pipe: self.pipeline(&commands, depth) }
    }

    /// The next complete window, in request order; `None` when all requested are delivered.
    pub async fn next_window(&mut self, fetch: &mut SummaryFetch) -> Result<Option<Window>> {
        let mut window = Window::default();
        let next = self
            .next_completion(&mut fetch.pipe, |_, response| {
                match response {
                    Response::Fetch(seq, attrs) => match summary_from_attrs(*seq, attrs) {
                        Parsed::Summary(m) => window.messages.push(*m),
                        Parsed::Flags(f) => window.flag_updates.push(f),
                        Parsed::Invalid(reason) => return Err(Error::protocol(reason)),
                    },
                    Response::Vanished { uids, .. } => super::session::expand_ranges(uids, &mut window.vanished)?,
                    Response::Expunge(seq) => window.expunged.push(*seq),
                    _ => {}
                }
                Ok(())
            })
            .await?;
        match next {
            None => Ok(None),
            Some((_, completion)) if !completion.ok => {
                fetch.stop_sending();
                // Read what is still in flight so the session stays usable, then report.
                while self.next_completion(&mut fetch.pipe, |_, _| Ok(())).await?.is_some() {}
                Err(Error::ServerNo { command: "FETCH".into(), text: completion.text })
            }
            Some((index, _)) => {
                window.index = index;
                Ok(Some(window))
            }
        }
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
    Flags(FlagUpdate),
    Invalid(String),
}

fn summary_from_attrs(seq: u32, attrs: &[AttributeValue<'_>]) -> Parsed {
    let mut m = MessageHeaders {
        seq,
        ..MessageHeaders::default()
    };
    let (mut uid, mut has_envelope, mut has_structure, mut flags) = (None, false, false, None);
    for attr in attrs {
        match attr {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Flags(f) => {
                flags = Some(f.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            }
            AttributeValue::ModSeq(v) => m.modseq = Some(*v),
            AttributeValue::InternalDate(d) => m.internal_date = mime::parse_internal_date(d),
            AttributeValue::Rfc822Size(s) => m.size = *s,
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
    match (uid, has_envelope || has_structure) {
        (Some(uid), true) => {
            m.uid = uid;
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
