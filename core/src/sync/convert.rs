//! Protocol values to store records: IMAP summaries become `NewMessage`s, IMAP flag names
//! become `Flags`. Pure functions.

use crate::{
    imap::{FlagUpdate, MessageHeaders, SpecialUse},
    limits,
    mime::{Addr, PartInfo},
    store::{Address, FlagChange, Flags, NewMessage, NewPart, Role, SystemFlags},
};

/// IMAP flag names to the stored form: system flags as bits, the rest as keywords in order.
/// `\Recent` is session state and is dropped. At most [`limits::MAX_KEYWORDS`] keywords are
/// kept (the first ones; a hostile server sent 100,000, and deduplicating them was quadratic).
pub fn flags(names: &[String]) -> Flags {
    let mut out = Flags::default();
    let mut dropped = 0usize;
    for name in names {
        // Compared without a lowercase copy: every message has flags.
        let known = [
            ("\\seen", Some(SystemFlags::SEEN)),
            ("\\answered", Some(SystemFlags::ANSWERED)),
            ("\\flagged", Some(SystemFlags::FLAGGED)),
            ("\\deleted", Some(SystemFlags::DELETED)),
            ("\\draft", Some(SystemFlags::DRAFT)),
            ("\\recent", None),
        ];
        let system = match known.iter().find(|(k, _)| name.eq_ignore_ascii_case(k)) {
            Some((_, Some(system))) => *system,
            Some((_, None)) => continue,
            None => {
                if out.keywords.len() >= limits::MAX_KEYWORDS {
                    dropped += 1;
                } else if !out.keywords.iter().any(|k| k == name) {
                    out.keywords.push(name.clone());
                }
                continue;
            }
        };
        out.system.insert(system);
    }
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "a message has more keywords than the limit; the rest are dropped"
        );
    }
    out
}

pub fn message(m: MessageHeaders) -> NewMessage {
    let partial = m.partial;
    let e = m.envelope;
    NewMessage {
        uid: m.uid,
        modseq: m.modseq.unwrap_or(0),
        flags: flags(&m.flags),
        internal_date: m.internal_date.or(e.date).unwrap_or(0),
        date: e.date,
        size: m.size,
        subject: e.subject,
        from: addresses(e.from),
        sender: addresses(e.sender),
        reply_to: addresses(e.reply_to),
        to: addresses(e.to),
        cc: addresses(e.cc),
        bcc: addresses(e.bcc),
        message_id: e.message_id,
        in_reply_to: e.in_reply_to,
        references: m.references,
        preview: m.preview,
        parts: m.parts.into_iter().map(part).collect(),
        incomplete: partial,
        email_id: m.email_id,
        server_thread: m.thread,
    }
}

/// A flag update for a stored message; `None` when the server omitted the UID.
pub fn flag_change(update: &FlagUpdate) -> Option<FlagChange> {
    Some(FlagChange {
        uid: update.uid?,
        flags: flags(&update.flags),
        modseq: update.modseq.unwrap_or(0),
    })
}

pub fn role(use_: SpecialUse) -> Option<Role> {
    Some(match use_ {
        SpecialUse::Inbox => Role::Inbox,
        SpecialUse::Sent => Role::Sent,
        SpecialUse::Drafts => Role::Drafts,
        SpecialUse::Trash => Role::Trash,
        SpecialUse::Junk => Role::Junk,
        SpecialUse::Archive => Role::Archive,
        SpecialUse::All => Role::All,
        SpecialUse::Flagged => Role::Flagged,
    })
}

fn addresses(list: Vec<Addr>) -> Vec<Address> {
    list.into_iter()
        .map(|a| Address {
            name: a.name,
            email: a.email,
        })
        .collect()
}

fn part(p: PartInfo) -> NewPart {
    NewPart {
        section: p.section,
        mime_type: p.mime_type,
        charset: p.charset,
        encoding: p.encoding,
        size: p.size,
        lines: p.lines,
        disposition: p.disposition,
        filename: p.filename,
        content_id: p.content_id,
        is_attachment: p.is_attachment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names() {
        let f = flags(&[
            "\\Seen".into(),
            "\\Recent".into(),
            "$Forwarded".into(),
            "\\FLAGGED".into(),
            "$Forwarded".into(),
        ]);
        assert!(f.system.contains(SystemFlags::SEEN | SystemFlags::FLAGGED));
        assert!(!f.system.contains(SystemFlags::ANSWERED));
        assert_eq!(f.keywords, vec!["$Forwarded".to_string()]);
        let many: Vec<String> = (0..100_000).map(|i| format!("$k{i}")).collect();
        assert_eq!(flags(&many).keywords, many[..limits::MAX_KEYWORDS]);
    }
}
