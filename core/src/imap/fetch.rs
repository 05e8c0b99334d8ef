//! Headers-first FETCH: message summaries (flags, dates, size, envelope, structure, preview)
//! for windows of messages, pipelined, each window handed over as soon as it is complete.
//! Converts imap-proto values into the engine's own through `mime`; never touches the store.

use async_imap::imap_proto::{AttributeValue, Response};

use super::{ImapSession, exchange::Flow};
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

impl ImapSession {
    /// Fetches summaries for each set in `windows` (e.g. `"1951:2000"`; UIDs when `by_uid`,
    /// sequence numbers otherwise), at most
    /// `depth` commands in flight, calling `on_window` as each completes, in order. When it
    /// returns `Flow::StopSending`, no further windows are requested (those already in flight
    /// are still read and delivered). Returns how many windows were delivered.
    ///
    /// Sequence numbers are safe here: a server may not send EXPUNGE while a non-UID FETCH is
    /// in progress, and the pipeline keeps one in progress until the last completes.
    pub async fn fetch_summaries<F>(
        &mut self,
        windows: &[String],
        by_uid: bool,
        items: SummaryItems,
        depth: usize,
        mut on_window: F,
    ) -> Result<usize>
    where
        F: AsyncFnMut(Window) -> Result<Flow>,
    {
        let rendered = items.render();
        let verb = if by_uid { "UID FETCH" } else { "FETCH" };
        let commands: Vec<String> = windows
            .iter()
            .map(|set| format!("{verb} {set} {rendered}"))
            .collect();
        // Both callbacks fill the window being read; they never run at the same time.
        let current = std::cell::RefCell::new(Window::default());
        let mut failure: Option<Error> = None;
        let mut delivered = 0;
        self.meter().set_purpose(crate::net::Purpose::SyncMetadata);
        self.exchange(
            &commands,
            depth,
            |_, response| {
                let mut current = current.borrow_mut();
                match response {
                    Response::Fetch(seq, attrs) => match summary_from_attrs(*seq, attrs) {
                        Parsed::Summary(m) => current.messages.push(*m),
                        Parsed::Flags(f) => current.flag_updates.push(f),
                        Parsed::Invalid(reason) => return Err(Error::protocol(reason)),
                    },
                    Response::Vanished { uids, .. } => {
                        super::session::expand_ranges(uids, &mut current.vanished)?
                    }
                    Response::Expunge(seq) => current.expunged.push(*seq),
                    _ => {}
                }
                Ok(())
            },
            async |index, completion| {
                if !completion.ok {
                    failure.get_or_insert(Error::ServerNo {
                        command: "FETCH".into(),
                        text: completion.text.clone(),
                    });
                    return Ok(Flow::StopSending);
                }
                let mut window = current.take();
                window.index = index;
                delivered += 1;
                on_window(window).await
            },
        )
        .await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(delivered),
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
