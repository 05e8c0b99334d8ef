//! Comparing what the engine stored with what the generator wrote, and reading the server's
//! own view of a folder through `doveadm`, independently of the engine.

use std::collections::BTreeMap;

use anvert_core::store::{Address, MessageDetail, PartDetail, SystemFlags};

use crate::{
    dovecot::Dovecot,
    generator::{Addr, Flag, MessageTruth, PartTruth},
};

/// Asserts that `stored` holds exactly the messages of `truths`, field by field.
pub fn assert_store_matches(stored: &[MessageDetail], truths: &[MessageTruth]) {
    assert_eq!(stored.len(), truths.len(), "message count");
    let by_id: BTreeMap<&str, &MessageTruth> =
        truths.iter().map(|t| (t.message_id.as_str(), t)).collect();
    for m in stored {
        let id = m.message_id.as_deref().expect("stored Message-ID");
        let id = id.trim_start_matches('<').trim_end_matches('>');
        let t = by_id
            .get(id)
            .unwrap_or_else(|| panic!("stored message {id} is not in the ground truth"));
        let s = &m.summary;
        let ctx = format!("message {} ({id})", t.index);
        assert_headers_match(m, t, &ctx);
        assert_eq!(system_flags(&t.flags), s.flags.system, "{ctx}: flags");
        assert_parts_match(&m.parts, &t.parts, &ctx);
        assert_eq!(
            s.has_attachments,
            m.parts.iter().any(|p| p.is_attachment),
            "{ctx}: has_attachments"
        );
    }
}

/// Asserts that a stored message's headers (subject, addresses, size, dates, threading) are
/// the truth's. Flags and parts are left to the caller: POP3 has no server flags, and a
/// headers-only message has no parts yet.
pub fn assert_headers_match(m: &MessageDetail, t: &MessageTruth, ctx: &str) {
    let s = &m.summary;
    assert_eq!(s.subject, t.subject, "{ctx}: subject");
    assert_eq!(addrs(&s.from), truth_addrs(&t.from), "{ctx}: from");
    assert_eq!(addrs(&s.to), truth_addrs(&t.to), "{ctx}: to");
    assert_eq!(addrs(&m.cc), truth_addrs(&t.cc), "{ctx}: cc");
    assert_eq!(addrs(&m.bcc), truth_addrs(&t.bcc), "{ctx}: bcc");
    // RFC 3501 ENVELOPE: an absent Reply-To is reported as the From addresses.
    let reply_to = if t.reply_to.is_empty() {
        &t.from
    } else {
        &t.reply_to
    };
    assert_eq!(addrs(&m.reply_to), truth_addrs(reply_to), "{ctx}: reply-to");
    assert_eq!(s.size as usize, t.size, "{ctx}: size");
    assert_eq!(s.date, Some(t.date), "{ctx}: Date header");
    assert_eq!(
        s.internal_date, t.date,
        "{ctx}: INTERNALDATE (the Maildir mtime)"
    );
    assert_eq!(
        m.in_reply_to.as_deref().map(strip),
        t.in_reply_to.as_deref(),
        "{ctx}: in-reply-to"
    );
    assert_eq!(
        m.references.iter().map(|r| strip(r)).collect::<Vec<_>>(),
        t.references,
        "{ctx}: references"
    );
}

/// Asserts that stored parts are the truth's parts, in order, field by field.
pub fn assert_parts_match(parts: &[PartDetail], truth: &[PartTruth], ctx: &str) {
    assert_eq!(
        parts.len(),
        truth.len(),
        "{ctx}: part count {parts:#?} vs {truth:#?}"
    );
    for (p, tp) in parts.iter().zip(truth) {
        let pctx = format!("{ctx} part {}", tp.section);
        assert_eq!(p.section, tp.section, "{pctx}: section");
        assert_eq!(p.mime_type, tp.mime_type, "{pctx}: type");
        // RFC 2045: a text part without a charset is us-ascii, and IMAP servers say so.
        let charset = tp.charset.clone().or_else(|| {
            tp.mime_type
                .starts_with("text/")
                .then(|| "us-ascii".to_string())
        });
        assert_eq!(p.charset, charset, "{pctx}: charset");
        assert_eq!(
            p.encoding.as_deref(),
            Some(tp.encoding.as_str()),
            "{pctx}: encoding"
        );
        assert_eq!(p.size as usize, tp.encoded_size, "{pctx}: size");
        assert_eq!(p.disposition, tp.disposition, "{pctx}: disposition");
        assert_eq!(p.filename, tp.filename, "{pctx}: filename");
        assert_eq!(p.content_id, tp.content_id, "{pctx}: content-id");
    }
}

fn strip(id: &str) -> &str {
    id.trim_start_matches('<').trim_end_matches('>')
}

fn addrs(list: &[Address]) -> Vec<(Option<String>, String)> {
    list.iter()
        .map(|a| (a.name.clone(), a.email.clone()))
        .collect()
}

fn truth_addrs(list: &[Addr]) -> Vec<(Option<String>, String)> {
    list.iter()
        .map(|a| (a.name.clone(), a.email.clone()))
        .collect()
}

pub fn system_flags(flags: &[Flag]) -> SystemFlags {
    let mut out = SystemFlags::empty();
    for f in flags {
        out.insert(match f {
            Flag::Seen => SystemFlags::SEEN,
            Flag::Flagged => SystemFlags::FLAGGED,
            Flag::Answered => SystemFlags::ANSWERED,
            Flag::Draft => SystemFlags::DRAFT,
        });
    }
    out
}

impl Dovecot {
    /// The server's UIDs and system flags for a folder, read with `doveadm fetch`.
    pub fn server_flags(&self, user: &str, folder: &str) -> BTreeMap<u32, SystemFlags> {
        let out = self.doveadm(&["fetch", "-u", user, "uid flags", "mailbox", folder, "all"]);
        let mut map = BTreeMap::new();
        let mut uid = None;
        for line in out.lines() {
            if let Some(v) = line.strip_prefix("uid: ") {
                uid = v.trim().parse::<u32>().ok();
            } else if let Some(v) = line.strip_prefix("flags:") {
                let mut flags = SystemFlags::empty();
                for f in v.split_whitespace() {
                    match f {
                        "\\Seen" => flags.insert(SystemFlags::SEEN),
                        "\\Flagged" => flags.insert(SystemFlags::FLAGGED),
                        "\\Answered" => flags.insert(SystemFlags::ANSWERED),
                        "\\Draft" => flags.insert(SystemFlags::DRAFT),
                        "\\Deleted" => flags.insert(SystemFlags::DELETED),
                        _ => {}
                    }
                }
                if let Some(u) = uid.take() {
                    map.insert(u, flags);
                }
            }
        }
        map
    }
}
