//! RFC 8474 OBJECTID: the server's EMAILID (the same message keeps it in every folder, so a
//! move or copy by another client can be recognised) and THREADID (the server's
//! conversation). Values are validated here, once, before anything else sees them: an
//! objectid is 1 to 255 of ALPHA / DIGIT / "-" / "_" (RFC 8474 §3); imap-proto accepts any
//! ASTRING-CHAR. Anything else is treated as not sent. Also the cheap fetch that the delta
//! path uses to recognise new mail before it pays for summaries: `(UID FLAGS EMAILID
//! THREADID)`, plus MODSEQ with CONDSTORE. Never touches the store.

use std::collections::BTreeMap;

use async_imap::imap_proto::{AttributeValue, Response};

use super::{ImapSession, fetch::flag_update};
use crate::{
    error::{Error, Result},
    net::Purpose,
};

/// The longest objectid RFC 8474 allows.
pub const OBJECTID_MAX: usize = 255;

/// `raw` when it is a valid RFC 8474 objectid, else `None`.
pub fn object_id(raw: &str) -> Option<String> {
    let valid = (1..=OBJECTID_MAX).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    valid.then(|| raw.to_string())
}

/// The ids of one message, from the cheap fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageIds {
    pub seq: u32,
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: Option<u64>,
    /// EMAILID, when sent and valid.
    pub email_id: Option<String>,
    /// THREADID, when sent, not NIL and valid.
    pub thread: Option<String>,
}

/// What a cheap fetch brought.
#[derive(Debug, Default)]
pub struct IdFetch {
    /// One entry per UID, ascending (the first answer for a UID counts).
    pub messages: Vec<MessageIds>,
    /// UIDs the server reported as VANISHED meanwhile.
    pub vanished: Vec<u32>,
}

impl ImapSession {
    /// Whether the server offers OBJECTID (RFC 8474).
    pub fn has_objectid(&self) -> bool {
        self.capabilities().has("OBJECTID")
    }

    /// `UID FETCH <set> (UID FLAGS EMAILID THREADID [MODSEQ])` for each set, pipelined, on
    /// the selected folder: what the delta path needs to recognise messages it already has
    /// under another folder or UID. An answer without a UID is ignored.
    pub async fn object_ids(&mut self, sets: &[String]) -> Result<IdFetch> {
        let mut out = IdFetch::default();
        if sets.is_empty() {
            return Ok(out);
        }
        let modseq = if self.has_condstore() { " MODSEQ" } else { "" };
        let commands: Vec<String> = sets
            .iter()
            .map(|set| format!("UID FETCH {set} (UID FLAGS EMAILID THREADID{modseq})"))
            .collect();
        self.meter().set_purpose(Purpose::SyncMetadata);
        let mut pipe = self.pipeline(&commands, commands.len());
        pipe.take_unparsable_fetch();
        let mut found: BTreeMap<u32, MessageIds> = BTreeMap::new();
        let mut failed = None;
        let vanished = &mut out.vanished;
        while let Some((_, completion)) = self
            .next_completion(&mut pipe, |_, response| {
                match response {
                    Response::Fetch(seq, attrs) => {
                        let update = flag_update(*seq, attrs);
                        if let Some(uid) = update.uid.filter(|u| *u != 0) {
                            let mut ids = MessageIds {
                                seq: *seq,
                                uid,
                                flags: update.flags,
                                modseq: update.modseq,
                                ..MessageIds::default()
                            };
                            read_ids(attrs, &mut ids.email_id, &mut ids.thread);
                            found.entry(uid).or_insert(ids);
                        }
                    }
                    Response::Vanished { uids, .. } => {
                        super::session::expand_ranges(uids, vanished)?
                    }
                    _ => {}
                }
                Ok(())
            })
            .await?
        {
            if !completion.ok {
                failed = Some(completion.text);
            }
        }
        if let Some(text) = failed {
            return Err(Error::ServerNo {
                command: "FETCH".into(),
                text,
            });
        }
        out.messages = found.into_values().collect();
        Ok(out)
    }
}

/// The valid EMAILID and THREADID among a FETCH response's items.
pub(super) fn read_ids(
    attrs: &[AttributeValue<'_>],
    email_id: &mut Option<String>,
    thread: &mut Option<String>,
) {
    for attr in attrs {
        match attr {
            AttributeValue::EmailId(id) => *email_id = object_id(id),
            AttributeValue::ThreadId(Some(id)) => *thread = object_id(id),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_validated() {
        assert_eq!(object_id("M6d952b5c").as_deref(), Some("M6d952b5c"));
        assert_eq!(object_id("a-b_C9").as_deref(), Some("a-b_C9"));
        assert_eq!(object_id(""), None);
        assert_eq!(object_id("a.b"), None);
        assert_eq!(object_id("a]b"), None);
        assert_eq!(object_id("é"), None);
        assert_eq!(object_id(&"x".repeat(255)).map(|s| s.len()), Some(255));
        assert_eq!(object_id(&"x".repeat(256)), None);
    }
}
