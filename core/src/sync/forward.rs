//! A forward assembled on the server (RFC 4469 CATENATE): the part list that makes a new
//! `multipart/mixed` message out of new headers and text, sent as TEXT, and the original's
//! attachments, referenced by relative IMAP URLs (each part's `SECTION=n.MIME` header, then
//! its `SECTION=n` body). Pure: no session, no store; the caller hands the list to
//! `ImapSession::append_catenate`.
//!
//! The boundary cannot occur in the attachments the phone never downloaded: it starts with
//! `=_`, which neither base64 (no `_`) nor quoted-printable (`=` is followed by two hex
//! digits or a line break) can produce, and it carries 128 bits derived from the new text,
//! the original's identity and the clock, so that a 7bit/8bit part or a MIME header of the
//! original cannot hold it by accident. It is checked against the new text, which is known.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    error::{Error, Result},
    imap::{OwnedCatPart, url},
};

/// The message a forward is assembled in.
#[derive(Debug, Clone, Copy)]
pub struct ForwardText<'a> {
    /// The new message's header fields (From, To, Subject, Date, Message-ID, …), each line
    /// ending in CRLF, without `MIME-Version` and `Content-Type` (added here) and without
    /// the blank line that ends a header.
    pub headers: &'a [u8],
    /// The first part, a whole MIME entity: its `Content-Type` (and transfer encoding)
    /// header fields, a blank line, its body. For example the text/plain or
    /// multipart/alternative part mail-builder wrote for the new text.
    pub text_part: &'a [u8],
}

/// The message the attachments come from: its folder as named on the wire, UIDVALIDITY and UID.
#[derive(Debug, Clone, Copy)]
pub struct ForwardOriginal<'a> {
    pub mailbox: &'a str,
    pub uid_validity: u32,
    pub uid: u32,
}

/// The CATENATE parts of a forward: `text` in a new `multipart/mixed` followed by each of
/// `attachments` (part sections of `original`, such as `"2"` or `"1.3"`) taken from the
/// server with its MIME header and body unchanged. Adjacent text is merged: one TEXT before
/// the first attachment, one between each, one closing the multipart.
pub fn forward_catenate_parts(
    text: ForwardText<'_>,
    original: ForwardOriginal<'_>,
    attachments: &[&str],
) -> Result<Vec<OwnedCatPart>> {
    check_headers(text.headers)?;
    if text.text_part.is_empty() || text.text_part.contains(&0) {
        return Err(Error::Config {
            reason: "a forward's text part is empty or holds a NUL".into(),
        });
    }
    let boundary = boundary(text, original, attachments);
    let mut urls = Vec::with_capacity(attachments.len());
    for section in attachments {
        if section.contains(|c: char| !c.is_ascii_digit() && c != '.') {
            return Err(Error::Config {
                reason: "an attachment section that is not a part number".into(),
            });
        }
        let mime = url::relative(
            original.mailbox,
            original.uid_validity,
            original.uid,
            Some(&format!("{section}.MIME")),
        )?;
        let body = url::relative(
            original.mailbox,
            original.uid_validity,
            original.uid,
            Some(section),
        )?;
        urls.push((mime, body));
    }
    let mut first = text.headers.to_vec();
    first.extend_from_slice(
        format!(
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\n"
        )
        .as_bytes(),
    );
    first.extend_from_slice(text.text_part);
    let delimiter = format!("\r\n--{boundary}\r\n").into_bytes();
    let mut parts = Vec::with_capacity(2 + 3 * urls.len());
    for (mime, body) in urls {
        first.extend_from_slice(&delimiter);
        parts.push(OwnedCatPart::Text(std::mem::take(&mut first)));
        parts.push(OwnedCatPart::Url(mime));
        parts.push(OwnedCatPart::Url(body));
    }
    first.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    parts.push(OwnedCatPart::Text(first));
    Ok(parts)
}

/// The header block must be header lines only: each ending in CRLF, no blank line, no field
/// this function writes itself.
fn check_headers(headers: &[u8]) -> Result<()> {
    let invalid = |reason: &str| Error::Config {
        reason: format!("a forward's headers {reason}"),
    };
    if headers.is_empty() || !headers.ends_with(b"\r\n") {
        return Err(invalid("are empty or do not end with CRLF"));
    }
    if headers.contains(&0)
        || headers.windows(4).any(|w| w == b"\r\n\r\n")
        || headers.starts_with(b"\r\n")
    {
        return Err(invalid("hold a NUL or a blank line"));
    }
    for line in headers.split(|b| *b == b'\n') {
        let name = line.split(|b| *b == b':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"mime-version")
        {
            return Err(invalid(
                "carry Content-Type or MIME-Version, which the forward sets",
            ));
        }
    }
    Ok(())
}

/// `=_Anvert_` and 32 hex digits, none of it in the new text.
fn boundary(text: ForwardText<'_>, original: ForwardOriginal<'_>, attachments: &[&str]) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut round = 0u32;
    loop {
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        hash.update(text.headers);
        hash.update(text.text_part);
        hash.update(original.mailbox.as_bytes());
        hash.update(&original.uid_validity.to_be_bytes());
        hash.update(&original.uid.to_be_bytes());
        for section in attachments {
            hash.update(section.as_bytes());
            hash.update(b"\0");
        }
        hash.update(&nanos.to_be_bytes());
        hash.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        hash.update(&round.to_be_bytes());
        let digest = hash.finish();
        let hex: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let boundary = format!("=_Anvert_{hex}");
        let b = boundary.as_bytes();
        let in_text = |bytes: &[u8]| bytes.windows(b.len()).any(|w| w == b);
        // A 128-bit value in the text is a chosen collision; the loop cannot go on forever
        // since each round hashes a new counter value.
        if (!in_text(text.headers) && !in_text(text.text_part)) || round >= 16 {
            return boundary;
        }
        round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADERS: &[u8] = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Fwd: x\r\n";
    const TEXT: &[u8] = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSee below.\r\n";
    const ORIGINAL: ForwardOriginal<'static> = ForwardOriginal {
        mailbox: "INBOX",
        uid_validity: 5,
        uid: 7,
    };

    fn text() -> ForwardText<'static> {
        ForwardText {
            headers: HEADERS,
            text_part: TEXT,
        }
    }

    fn boundary_of(first: &[u8]) -> String {
        let s = String::from_utf8_lossy(first);
        let start = s.find("boundary=\"").unwrap() + 10;
        s[start..].split('"').next().unwrap().to_string()
    }

    #[test]
    fn parts_alternate_text_and_url_pairs() {
        let parts = forward_catenate_parts(text(), ORIGINAL, &["2", "3.1"]).unwrap();
        assert_eq!(parts.len(), 7);
        let OwnedCatPart::Text(first) = &parts[0] else {
            panic!("{parts:?}")
        };
        let b = boundary_of(first);
        assert!(b.starts_with("=_Anvert_") && b.len() == 9 + 32, "{b}");
        let mut expected = HEADERS.to_vec();
        expected.extend_from_slice(
            format!(
                "MIME-Version: 1.0\r\nContent-Type: multipart/mixed;\r\n boundary=\"{b}\"\r\n\r\n--{b}\r\n"
            )
            .as_bytes(),
        );
        expected.extend_from_slice(TEXT);
        expected.extend_from_slice(format!("\r\n--{b}\r\n").as_bytes());
        assert_eq!(first, &expected);
        assert_eq!(
            parts[1..],
            [
                OwnedCatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME".into()),
                OwnedCatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2".into()),
                OwnedCatPart::Text(format!("\r\n--{b}\r\n").into_bytes()),
                OwnedCatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=3.1.MIME".into()),
                OwnedCatPart::Url("/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=3.1".into()),
                OwnedCatPart::Text(format!("\r\n--{b}--\r\n").into_bytes()),
            ]
        );
    }

    #[test]
    fn the_assembled_message_parses_as_multipart_mixed() {
        // Stand in for the server: resolve each URL to what BODY[n.MIME] and BODY[n] return.
        let parts = forward_catenate_parts(text(), ORIGINAL, &["2"]).unwrap();
        let mut message = Vec::new();
        for part in &parts {
            match part {
                OwnedCatPart::Text(bytes) => message.extend_from_slice(bytes),
                OwnedCatPart::Url(u) if u.ends_with(".MIME") => message.extend_from_slice(
                    b"Content-Type: application/pdf; name=\"a.pdf\"\r\n\
                      Content-Transfer-Encoding: base64\r\n\r\n",
                ),
                OwnedCatPart::Url(_) => message.extend_from_slice(b"JVBERi0xLjQK\r\n"),
            }
        }
        let parsed = mail_parser::MessageParser::default()
            .parse(&message)
            .unwrap();
        assert_eq!(
            parsed.parts.len(),
            3,
            "{}",
            String::from_utf8_lossy(&message)
        );
        assert_eq!(parsed.body_text(0).as_deref(), Some("See below.\r\n"));
        assert_eq!(parsed.attachment(0).unwrap().contents(), b"%PDF-1.4\n");
        assert_eq!(parsed.subject(), Some("Fwd: x"));
    }

    #[test]
    fn boundaries_differ_per_call_and_avoid_the_text() {
        let a = forward_catenate_parts(text(), ORIGINAL, &["2"]).unwrap();
        let b = forward_catenate_parts(text(), ORIGINAL, &["2"]).unwrap();
        assert_ne!(a[0], b[0]);
        let OwnedCatPart::Text(first) = &a[0] else {
            panic!()
        };
        let boundary = boundary_of(first);
        // Neither base64 nor quoted-printable can hold `=_`.
        assert!(boundary.starts_with("=_"));
        let count = |hay: &[u8]| {
            hay.windows(boundary.len())
                .filter(|w| *w == boundary.as_bytes())
                .count()
        };
        assert_eq!(count(first), 3, "declared, opening the text, after it");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let bad_headers: [&[u8]; 6] = [
            b"",
            b"Subject: x",
            b"Subject: x\r\n\r\n",
            b"Content-Type: text/plain\r\n",
            b"Subject: x\r\nmime-version: 1.0\r\n",
            b"\r\nSubject: x\r\n",
        ];
        for headers in bad_headers {
            let t = ForwardText {
                headers,
                text_part: TEXT,
            };
            assert!(
                forward_catenate_parts(t, ORIGINAL, &["2"]).is_err(),
                "{:?}",
                String::from_utf8_lossy(headers)
            );
        }
        let t = ForwardText {
            headers: HEADERS,
            text_part: b"",
        };
        assert!(forward_catenate_parts(t, ORIGINAL, &["2"]).is_err());
        for section in ["", "2.MIME", "TEXT", "2 ", "a"] {
            assert!(
                forward_catenate_parts(text(), ORIGINAL, &[section]).is_err(),
                "{section:?}"
            );
        }
        let zero = ForwardOriginal { uid: 0, ..ORIGINAL };
        assert!(forward_catenate_parts(text(), zero, &["2"]).is_err());
    }
}
