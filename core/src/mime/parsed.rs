//! A whole message parsed by mail-parser (a POP3 RETR) to the same flat list of parts that
//! [`super::parts_from_bodystructure`] makes from IMAP's BODYSTRUCTURE: every leaf part and
//! every message/rfc822 part in document order, with IMAP section numbers ("1" for a
//! single-part message, "1", "2", "2.1"..., "N.1" inside an encapsulated message), lowercase
//! types, encoded sizes, decoded file names and the same attachment rule. Each part comes
//! with its still transfer-encoded body bytes, borrowed from the parsed message.
//!
//! Pure and bounded like `structure`: depth and part count are capped. It must never do I/O.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use super::{
    MAX_DEPTH, MAX_PARTS, PartInfo,
    structure::{Container, attachment_rule, child_section},
};

/// One part of a parsed message: its description and its encoded body bytes.
#[derive(Debug, Clone)]
pub struct RawPart<'a> {
    pub info: PartInfo,
    /// The body as it is on the wire (still base64, quoted-printable...).
    pub body: &'a [u8],
}

/// Every leaf and message/rfc822 part of `message`, in document order, numbered as IMAP
/// numbers them.
pub fn parts_from_message<'a>(message: &'a Message<'a>) -> Vec<RawPart<'a>> {
    let mut walker = Walker { parts: Vec::new() };
    walker.message_body(message, "", 0);
    walker.parts
}

struct Walker<'a> {
    parts: Vec<RawPart<'a>>,
}

impl<'a> Walker<'a> {
    fn full(&self) -> bool {
        self.parts.len() >= MAX_PARTS
    }

    fn message_body(&mut self, message: &'a Message<'a>, prefix: &str, depth: usize) {
        let Some(root) = message.parts.first() else {
            return;
        };
        match &root.body {
            PartType::Multipart(children) => self.children(message, root, children, prefix, depth),
            _ => self.part(
                message,
                root,
                &child_section(prefix, 1),
                Container::Message,
                depth,
            ),
        }
    }

    fn children(
        &mut self,
        message: &'a Message<'a>,
        parent: &'a MessagePart<'a>,
        children: &[u32],
        prefix: &str,
        depth: usize,
    ) {
        let subtype = parent
            .content_type()
            .and_then(|t| t.subtype())
            .unwrap_or("mixed");
        let container = Container::of_multipart(subtype);
        for (k, id) in children.iter().enumerate() {
            if self.full() {
                return;
            }
            if let Some(child) = message.parts.get(*id as usize) {
                self.part(
                    message,
                    child,
                    &child_section(prefix, k + 1),
                    container,
                    depth + 1,
                );
            }
        }
    }

    fn part(
        &mut self,
        message: &'a Message<'a>,
        part: &'a MessagePart<'a>,
        section: &str,
        container: Container,
        depth: usize,
    ) {
        if depth > MAX_DEPTH || self.full() {
            return;
        }
        let start = part.offset_body as usize;
        let end = (part.offset_end as usize).max(start);
        let body = message.raw_message.get(start..end).unwrap_or_default();
        match &part.body {
            PartType::Multipart(children) => self.children(message, part, children, section, depth),
            PartType::Message(nested) => {
                self.parts.push(RawPart {
                    info: describe(part, body, section, container, Some("message/rfc822")),
                    body,
                });
                self.message_body(nested, section, depth + 1);
            }
            _ => self.parts.push(RawPart {
                info: describe(part, body, section, container, None),
                body,
            }),
        }
    }
}

fn describe(
    part: &MessagePart<'_>,
    body: &[u8],
    section: &str,
    container: Container,
    forced_type: Option<&str>,
) -> PartInfo {
    let mime_type = match (forced_type, part.content_type()) {
        (Some(t), _) => t.to_string(),
        (None, Some(t)) => format!(
            "{}/{}",
            t.ctype().trim(),
            t.subtype().unwrap_or("plain").trim()
        )
        .to_ascii_lowercase(),
        (None, None) => "text/plain".to_string(),
    };
    let charset = part
        .content_type()
        .and_then(|t| t.attribute("charset"))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            mime_type
                .starts_with("text/")
                .then(|| "us-ascii".to_string())
        });
    let disposition = part
        .content_disposition()
        .map(|d| d.ctype().trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let filename = part
        .attachment_name()
        .map(str::to_string)
        .filter(|n| !n.is_empty());
    let content_id = part
        .content_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        })
        .filter(|id| !id.is_empty());
    let referenced = content_id.is_some()
        || part
            .content_location()
            .is_some_and(|l| !l.trim().is_empty());
    let encoding = part
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".to_string());
    let lines = (mime_type.starts_with("text/") || mime_type == "message/rfc822")
        .then(|| u32::try_from(body.iter().filter(|&&b| b == b'\n').count()).unwrap_or(u32::MAX));
    let is_attachment = attachment_rule(
        &mime_type,
        disposition.as_deref(),
        filename.is_some(),
        referenced,
        container,
    );
    PartInfo {
        section: section.to_string(),
        mime_type,
        charset,
        encoding: Some(encoding),
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
        lines,
        disposition,
        filename,
        content_id,
        is_attachment,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mail_parser::MessageParser;

    use super::*;

    #[test]
    fn sections_and_sizes_follow_imap() {
        let raw = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
Subject: inner\r\n\r\ninner body\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
        let message = MessageParser::default().parse(raw).unwrap();
        let parts = parts_from_message(&message);
        let sections: Vec<&str> = parts.iter().map(|p| p.info.section.as_str()).collect();
        assert_eq!(sections, ["1", "2", "2.1", "3"]);
        assert_eq!(parts[0].body, b"hello");
        assert_eq!(parts[0].info.charset.as_deref(), Some("us-ascii"));
        assert!(!parts[0].info.is_attachment);
        assert!(parts[1].info.is_attachment);
        assert_eq!(parts[2].body, b"inner body");
        assert_eq!(parts[3].info.filename.as_deref(), Some("a.pdf"));
        assert_eq!(parts[3].info.encoding.as_deref(), Some("base64"));
        assert_eq!(parts[3].body, b"AAAA");
        assert!(parts[3].info.is_attachment);
    }
}
