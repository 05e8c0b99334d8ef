//! POP3 messages (a TOP response, or a whole RETR file) to store records: headers to a
//! `NewMessage` like the IMAP ENVELOPE gives (an absent Sender or Reply-To is the From, as
//! RFC 3501 reports it), and a full message to its parts, readable body and attachments.
//! Also the header key that stands in for UIDL on servers without it.
//! Pure functions over bytes in memory; the caller does the I/O (`pop3_spool` parses a small
//! skeleton of a large message here and reads the part bodies from disk itself).

use mail_parser::{Address as ParsedAddress, HeaderName, Message};

use crate::{
    mime::{self, Parsed, PartInfo, RawPart},
    store::{Address, NewMessage, NewPart},
};

/// Characters kept for a preview made from TOP lines or a downloaded body.
const PREVIEW_CHARS: usize = 200;

/// Parses a message (or its first lines) with mail-parser, within the nesting limit and
/// dropped shallow (see `mime::parse_message`). `None` only for empty input.
pub(super) fn parse(raw: &[u8]) -> Option<Parsed<'_>> {
    mime::parse_message(raw)
}

/// The headers of `message` as a message row without parts. `size` is the LIST size;
/// `now` stands in for INTERNALDATE when there is no Date header (POP3 has no INTERNALDATE).
/// With `preview`, a snippet of whatever body text the bytes hold.
pub(super) fn headers(message: &Message<'_>, size: u64, now: i64, preview: bool) -> NewMessage {
    let raw = |name: HeaderName<'static>| message.header_raw(name).map(str::as_bytes);
    let date = raw(HeaderName::Date).and_then(mime::parse_header_date);
    let from = addresses(message.from());
    let sender = match addresses(message.sender()) {
        s if s.is_empty() => from.clone(),
        s => s,
    };
    let reply_to = match addresses(message.reply_to()) {
        r if r.is_empty() => from.clone(),
        r => r,
    };
    let preview = preview
        .then(|| message.body_preview(PREVIEW_CHARS * 2))
        .flatten()
        .map(|p| mime::snippet(&p, PREVIEW_CHARS))
        .filter(|p| !p.is_empty());
    NewMessage {
        uid: 0,
        modseq: 0,
        flags: Default::default(),
        internal_date: date.unwrap_or(now),
        date,
        size: u32::try_from(size).unwrap_or(u32::MAX),
        subject: raw(HeaderName::Subject)
            .map(mime::decode_header_text)
            .unwrap_or_default(),
        from,
        sender,
        reply_to,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        bcc: addresses(message.bcc()),
        message_id: mime::message_id(raw(HeaderName::MessageId)),
        in_reply_to: mime::message_id(raw(HeaderName::InReplyTo)),
        references: raw(HeaderName::References)
            .map(mime::references)
            .unwrap_or_default(),
        preview,
        parts: Vec::new(),
        incomplete: false,
        email_id: None,
        server_thread: None,
    }
}

/// A parsed full message: its parts, and the readable body decoded to UTF-8.
pub(super) struct Full<'a> {
    pub parts: Vec<RawPart<'a>>,
    /// (is_html, text) of the preferred readable part.
    pub body: Option<(bool, String)>,
}

/// The parts of a full message and its preferred readable body (HTML when `prefer_html`
/// and there is one, else plain text), decoded exactly as IMAP `fetch_body` decodes.
pub(super) fn full<'a>(message: &'a Message<'a>, prefer_html: bool) -> Full<'a> {
    let parts = mime::parts_from_message(message);
    let readable = |ty: &str| {
        parts
            .iter()
            .find(|p| !p.info.is_attachment && p.info.mime_type == ty)
    };
    let (first, second) = match prefer_html {
        true => ("text/html", "text/plain"),
        false => ("text/plain", "text/html"),
    };
    let body = readable(first).or_else(|| readable(second)).map(|p| {
        let text = mime::decode_part_text(
            p.body,
            p.info.encoding.as_deref(),
            p.info.charset.as_deref(),
        );
        (p.info.mime_type == "text/html", text)
    });
    Full { parts, body }
}

/// A snippet of a decoded body.
pub(super) fn body_preview(is_html: bool, text: &str) -> Option<String> {
    let plain = match is_html {
        true => mime::html_to_text(text),
        false => text.to_string(),
    };
    Some(mime::snippet(&plain, PREVIEW_CHARS)).filter(|p| !p.is_empty())
}

/// The part rows to store.
pub(super) fn new_parts(parts: &[RawPart<'_>]) -> Vec<NewPart> {
    part_rows(parts.iter().map(|p| &p.info))
}

/// The part rows to store, from part descriptions.
pub(super) fn part_rows<'a>(parts: impl IntoIterator<Item = &'a PartInfo>) -> Vec<NewPart> {
    parts
        .into_iter()
        .map(|i| NewPart {
            section: i.section.clone(),
            mime_type: i.mime_type.clone(),
            charset: i.charset.clone(),
            encoding: i.encoding.clone(),
            size: i.size,
            lines: i.lines,
            disposition: i.disposition.clone(),
            filename: i.filename.clone(),
            content_id: i.content_id.clone(),
            is_attachment: i.is_attachment,
        })
        .collect()
}

/// Headers that mbox-based POP3 servers add or rewrite as a message is read; they are left
/// out of a header key.
const VOLATILE_HEADERS: [&str; 8] = [
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "x-uidl",
    "x-imap",
    "x-imapbase",
    "content-length",
];

/// The key of a message on a server without UIDL: `sha256 <hex>` of its header block (from
/// `TOP n 0`, up to the first blank line), line ends normalised and [`VOLATILE_HEADERS`]
/// left out. The space keeps it apart from any real UIDL (RFC 1939: printable, no spaces).
pub(super) fn header_key(top: &[u8]) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut skipping = false;
    for line in top.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name.trim_ascii()).to_ascii_lowercase();
            skipping = VOLATILE_HEADERS.contains(&name.as_str());
        }
        if !skipping {
            hash.update(line);
            hash.update(b"\n");
        }
    }
    let hex: String = hash
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256 {hex}")
}

fn addresses(list: Option<&ParsedAddress<'_>>) -> Vec<Address> {
    let Some(list) = list else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let email = a.address.as_deref()?.trim();
            (!email.is_empty()).then(|| Address {
                name: a
                    .name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
                email: email.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_key_ignores_line_ends_volatile_headers_and_the_body() {
        let a = header_key(b"From: a@x\r\nSubject: hi\r\n there\r\nStatus: RO\r\n\r\nbody");
        let b = header_key(b"From: a@x\nX-Status: A\n  folded\nSubject: hi\n there\n\n");
        assert_eq!(a, b);
        assert!(a.starts_with("sha256 ") && a.len() == 7 + 64);
        assert_ne!(a, header_key(b"From: a@x\r\nSubject: hi there\r\n\r\n"));
    }
}
