//! Composing outgoing messages (issue 18), pure: the MIME of a message the app writes (built
//! with mail-builder, as drafts are), the skeleton of a forward that the server assembles
//! (CATENATE: our text, then URL references to the original's parts), and the same
//! assembly done here from the original's bytes where the server cannot.

use mail_builder::{MessageBuilder, headers::address::Address as BuiltAddress};
use mail_parser::{MessageParser, PartType};

use super::forward::{ForwardOriginal, ForwardText, forward_catenate_parts};
use crate::{
    error::{Error, Result},
    imap::OwnedCatPart,
    store::{Address, OutPart},
};

/// A message the app writes: to send, or to save as a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<'a> {
    pub from: &'a Address,
    pub to: &'a [Address],
    pub cc: &'a [Address],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    /// (name, type/subtype, bytes)
    pub attachments: Vec<(&'a str, &'a str, &'a [u8])>,
    /// The Message-ID, without angle brackets.
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
}

static NOBODY: Address = Address {
    name: None,
    email: String::new(),
};

impl Default for Outgoing<'_> {
    fn default() -> Self {
        Outgoing {
            from: &NOBODY,
            to: &[],
            cc: &[],
            subject: "",
            text: "",
            html: None,
            attachments: Vec::new(),
            message_id: "",
            in_reply_to: None,
            references: &[],
        }
    }
}

/// A Message-ID for a message sent from `from`: random, at the sender's domain.
pub fn new_message_id(from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| {
            !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
        .unwrap_or("anvert.invalid");
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{domain}")
}

/// Randomness for ids and boundaries: not secret, only unique (rustls's ring is already in
/// the build).
fn fill_random(out: &mut [u8]) {
    use ring::rand::SecureRandom;
    if ring::rand::SystemRandom::new().fill(out).is_err() {
        // Unique enough without the OS generator: the time and the address of the buffer.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in out.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
}

fn builder<'a>(m: &'a Outgoing<'a>) -> MessageBuilder<'a> {
    let mut b = MessageBuilder::new()
        .from(address(m.from))
        .subject(m.subject)
        .message_id(m.message_id);
    if !m.to.is_empty() {
        b = b.to(list(m.to));
    }
    if !m.cc.is_empty() {
        b = b.cc(list(m.cc));
    }
    if let Some(r) = m.in_reply_to {
        b = b.in_reply_to(r);
    }
    if !m.references.is_empty() {
        b = b.references(m.references.iter().map(String::as_str).collect::<Vec<_>>());
    }
    b
}

/// The whole message (Bcc recipients are never written into it).
pub fn build(m: &Outgoing<'_>) -> Result<Vec<u8>> {
    let mut b = builder(m).text_body(m.text);
    if let Some(html) = m.html {
        b = b.html_body(html);
    }
    for (name, mime, bytes) in &m.attachments {
        b = b.attachment(*mime, *name, *bytes);
    }
    Ok(b.write_to_vec()?)
}

/// A forward (or reply) that carries sections of `original` without their bytes passing
/// through this device: a multipart/mixed message of our text part followed by each of
/// `sections` (their MIME header, then their body, as the server holds them), laid out by
/// `sync::forward_catenate_parts`. The text pieces are byte ranges of the returned text.
pub fn skeleton(m: &Outgoing<'_>, sections: &[String]) -> Result<(Vec<u8>, Vec<OutPart>)> {
    let mut b = builder(m).text_body(m.text);
    if let Some(html) = m.html {
        b = b.html_body(html);
    }
    let built = b.write_to_vec()?;
    let (headers, text_part) = split_entity(&built)?;
    // The URLs are made again at send time, where the original is then; the list's shape
    // (text, then a .MIME and a body URL per section) is what is kept.
    let placeholder = ForwardOriginal {
        mailbox: "INBOX",
        uid_validity: 1,
        uid: 1,
    };
    let refs: Vec<&str> = sections.iter().map(String::as_str).collect();
    let listed = forward_catenate_parts(
        ForwardText {
            headers: &headers,
            text_part: &text_part,
        },
        placeholder,
        &refs,
    )?;
    let mut text = Vec::with_capacity(built.len() + 256);
    let mut parts = Vec::with_capacity(listed.len());
    let mut urls = 0usize;
    for part in listed {
        match part {
            OwnedCatPart::Text(bytes) => {
                let start = text.len() as u64;
                text.extend_from_slice(&bytes);
                parts.push(OutPart::Text(start, text.len() as u64));
            }
            OwnedCatPart::Url(_) => {
                let section = sections.get(urls / 2).ok_or(Error::Config {
                    reason: "could not compose the forward".into(),
                })?;
                parts.push(OutPart::Section(if urls.is_multiple_of(2) {
                    format!("{section}.MIME")
                } else {
                    section.clone()
                }));
                urls += 1;
            }
        }
    }
    Ok((text, parts))
}

/// A message mail-builder wrote, as the forward needs it: its header fields without
/// `MIME-Version` and `Content-*` (ending in CRLF), and its body as a MIME entity (the
/// `Content-*` fields, a blank line, the body).
fn split_entity(built: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let end = find(built, b"\r\n\r\n").ok_or(Error::Config {
        reason: "could not compose the forward".into(),
    })?;
    let (head, body) = (&built[..end + 2], &built[end + 4..]);
    let mut headers = Vec::with_capacity(head.len());
    let mut content = Vec::new();
    let mut into_content = false;
    for line in head.split_inclusive(|b| *b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            let lower = name.to_ascii_lowercase();
            if lower == b"mime-version" {
                into_content = false;
                continue;
            }
            into_content = lower.starts_with(b"content-");
        }
        if into_content {
            content.extend_from_slice(line);
        } else if !folded || !headers.is_empty() {
            headers.extend_from_slice(line);
        }
    }
    content.extend_from_slice(b"\r\n");
    content.extend_from_slice(body);
    Ok((headers, content))
}

/// The message the server would assemble from `parts`, assembled here from the original's
/// bytes (where the server offers no CATENATE, or no BURL to submit what it assembled).
pub fn assemble(text: &[u8], parts: &[OutPart], original: &[u8]) -> Result<Vec<u8>> {
    let message = MessageParser::default()
        .parse(original)
        .ok_or(Error::Decode {
            reason: "the original message could not be parsed",
        })?;
    let mut out = Vec::with_capacity(text.len() + original.len());
    for part in parts {
        match part {
            OutPart::Text(start, end) => {
                let range = usize::try_from(*start).unwrap_or(usize::MAX)
                    ..usize::try_from(*end).unwrap_or(usize::MAX);
                out.extend_from_slice(text.get(range).ok_or(Error::Decode {
                    reason: "an outgoing message's text is shorter than its parts",
                })?);
            }
            OutPart::Section(s) if s.is_empty() => out.extend_from_slice(original),
            OutPart::Section(s) => {
                let (path, mime) = match s.strip_suffix(".MIME") {
                    Some(p) => (p, true),
                    None => (s.as_str(), false),
                };
                let index = part_index(&message, path).ok_or(Error::Decode {
                    reason: "the original message has no such part",
                })?;
                let p = message.parts.get(index).ok_or(Error::Decode {
                    reason: "the original message has no such part",
                })?;
                let range = if mime {
                    p.raw_header_offset() as usize..p.raw_body_offset() as usize
                } else {
                    p.raw_body_offset() as usize..body_end(original, p.raw_end_offset() as usize)
                };
                out.extend_from_slice(original.get(range).ok_or(Error::Decode {
                    reason: "the original message's part is out of bounds",
                })?);
            }
        }
    }
    Ok(out)
}

/// IMAP's body of a part ends before the line break that precedes the next boundary.
fn body_end(raw: &[u8], end: usize) -> usize {
    let end = end.min(raw.len());
    if raw[..end].ends_with(b"\r\n") {
        end - 2
    } else if raw[..end].ends_with(b"\n") {
        end - 1
    } else {
        end
    }
}

/// The index in `message.parts` of the part an IMAP section number names (`2`, `1.3`);
/// bounded by the section's length (validated by the caller's store: digits and dots).
fn part_index(message: &mail_parser::Message<'_>, section: &str) -> Option<usize> {
    let mut current = 0usize;
    for (depth, n) in section.split('.').enumerate() {
        let n: usize = n.parse().ok()?;
        if depth > 32 || n == 0 {
            return None;
        }
        match &message.parts.get(current)?.body {
            PartType::Multipart(children) => {
                current = *children.get(n - 1)? as usize;
            }
            // A single-part message has its body as part 1.
            _ if n == 1 && depth == 0 => {}
            _ => return None,
        }
    }
    Some(current)
}

/// An address as mail-builder takes it (also for drafts, `engine::moves`).
pub(crate) fn address(a: &Address) -> BuiltAddress<'_> {
    match &a.name {
        Some(name) => (name.as_str(), a.email.as_str()).into(),
        None => a.email.as_str().into(),
    }
}

/// A list of addresses as mail-builder takes it.
pub(crate) fn list(l: &[Address]) -> BuiltAddress<'_> {
    BuiltAddress::new_list(l.iter().map(address).collect())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The message without its `Bcc` header field (a saved draft keeps one; the message sent
/// must not).
pub fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let head_end = find(raw, b"\r\n\r\n").map_or(raw.len(), |i| i + 2);
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in raw[..head_end].split_inclusive(|b| *b == b'\n') {
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !folded {
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            skipping = name.eq_ignore_ascii_case(b"bcc");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&raw[head_end..]);
    out
}

/// Whether the message needs 8BITMIME (a byte over 127 in it).
pub fn is_eight_bit(raw: &[u8]) -> bool {
    raw.iter().any(|b| *b >= 0x80)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use mail_parser::MimeHeaders;

    fn original() -> Vec<u8> {
        let from = Address {
            name: None,
            email: "a@example.org".into(),
        };
        let to = [Address {
            name: None,
            email: "b@example.org".into(),
        }];
        build(&Outgoing {
            from: &from,
            to: &to,
            subject: "Report",
            text: "see attached",
            attachments: vec![
                ("r.pdf", "application/pdf", &[1u8, 2, 3, 250, 251, 0, 9][..]),
                ("s.bin", "application/octet-stream", &[7u8; 3000][..]),
            ],
            message_id: "orig@example.org",
            ..Outgoing::default()
        })
        .unwrap()
    }

    #[test]
    fn a_forward_assembled_here_carries_the_attachments_byte_for_byte() {
        let orig = original();
        let from = Address {
            name: None,
            email: "b@example.org".into(),
        };
        let to = [Address {
            name: None,
            email: "c@example.org".into(),
        }];
        let fwd = Outgoing {
            from: &from,
            to: &to,
            subject: "Fwd: Report",
            text: "FYI, with ünïcode",
            message_id: "fwd@example.org",
            ..Outgoing::default()
        };
        let (text, parts) = skeleton(&fwd, &["2".into(), "3".into()]).unwrap();
        let raw = assemble(&text, &parts, &orig).unwrap();
        let parsed = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("Fwd: Report"));
        assert_eq!(parsed.body_text(0).unwrap().trim(), "FYI, with ünïcode");
        let attachments: Vec<_> = parsed.attachments().collect();
        assert_eq!(attachments.len(), 2);
        assert_eq!(attachments[0].contents(), &[1u8, 2, 3, 250, 251, 0, 9]);
        assert_eq!(attachments[0].attachment_name(), Some("r.pdf"));
        assert_eq!(attachments[1].contents(), &[7u8; 3000][..]);
        assert_eq!(parsed.message_id(), Some("fwd@example.org"));
    }

    #[test]
    fn a_forward_without_sections_is_the_text_alone() {
        let from = Address {
            name: None,
            email: "b@example.org".into(),
        };
        let to = [Address {
            name: None,
            email: "c@example.org".into(),
        }];
        let m = Outgoing {
            from: &from,
            to: &to,
            subject: "s",
            text: "only text",
            message_id: "x@y",
            ..Outgoing::default()
        };
        let (text, parts) = skeleton(&m, &[]).unwrap();
        let raw = assemble(&text, &parts, &original()).unwrap();
        let parsed = MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.body_text(0).unwrap().trim(), "only text");
        assert_eq!(parsed.attachments().count(), 0);
    }

    #[test]
    fn missing_sections_are_an_error_not_a_panic() {
        let parts = [
            OutPart::Section("9".into()),
            OutPart::Section("1.1.1.1".into()),
        ];
        for p in &parts {
            assert!(assemble(b"", std::slice::from_ref(p), &original()).is_err());
        }
        assert!(assemble(b"abc", &[OutPart::Text(0, 99)], &original()).is_err());
    }

    #[test]
    fn bcc_is_taken_out_of_a_draft() {
        let raw =
            b"From: a@x\r\nBcc: secret@x,\r\n other@x\r\nTo: b@x\r\n\r\nBcc: in the body stays\r\n";
        assert_eq!(
            without_bcc(raw),
            b"From: a@x\r\nTo: b@x\r\n\r\nBcc: in the body stays\r\n".to_vec()
        );
    }

    #[test]
    fn message_ids_are_unique_and_at_the_sender_domain() {
        let a = new_message_id("me@example.org");
        let b = new_message_id("me@example.org");
        assert_ne!(a, b);
        assert!(a.ends_with("@example.org"));
        assert!(new_message_id("nobody").ends_with("@anvert.invalid"));
    }
}
