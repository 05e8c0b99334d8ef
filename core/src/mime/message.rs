//! The one way into mail-parser for a whole message (POP3 downloads, drafts, and messages
//! whose BODYSTRUCTURE could not be read). mail-parser parses iteratively, but a message
//! nested in a message becomes a `Message` inside a part, and the compiler's drop of that
//! tree recurses once per level: 100,000 nested `message/rfc822` parts (a 5 MB message)
//! overflowed a 2 MiB stack and aborted the process. So a parsed message is a [`Parsed`],
//! whose nested messages are detached and dropped one level at a time; and a message that
//! names more nested messages than [`limits::MIME_MAX_NESTED_MESSAGES`] is read for its
//! headers only, so no walk over the tree can go deep either.

use mail_parser::{Message, MessageParser, PartType};

use crate::limits;

/// Parses `raw` with mail-parser, or only its headers when it could nest messages deeper
/// than the limit. `None` only for empty input.
pub fn parse_message(raw: &[u8]) -> Option<Parsed<'_>> {
    if nested_message_markers(raw) > limits::MIME_MAX_NESTED_MESSAGES {
        tracing::warn!(
            limit = limits::MIME_MAX_NESTED_MESSAGES,
            "a message nests too many messages to parse; only its headers are read"
        );
        return MessageParser::default().parse_headers(raw).map(Parsed);
    }
    MessageParser::default().parse(raw).map(Parsed)
}

/// A message parsed by mail-parser, dropped one nesting level at a time.
pub struct Parsed<'a>(Message<'a>);

impl<'a> std::ops::Deref for Parsed<'a> {
    type Target = Message<'a>;

    fn deref(&self) -> &Message<'a> {
        &self.0
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        let mut nested = Vec::new();
        detach_nested(&mut self.0, &mut nested);
        while let Some(mut message) = nested.pop() {
            detach_nested(&mut message, &mut nested);
        }
    }
}

/// Moves the messages nested directly in `message`'s parts into `into`.
fn detach_nested<'a>(message: &mut Message<'a>, into: &mut Vec<Message<'a>>) {
    for part in &mut message.parts {
        if matches!(part.body, PartType::Message(_))
            && let PartType::Message(inner) = std::mem::take(&mut part.body)
        {
            into.push(inner);
        }
    }
}

/// An upper bound on the nesting of messages in `raw`: every nested message is announced by
/// a `message/…` content type or sits in a `multipart/digest` (whose parts default to
/// `message/rfc822`), so counting those words (in any case) bounds the depth from above.
fn nested_message_markers(raw: &[u8]) -> usize {
    const WORDS: [&[u8]; 2] = [b"message/", b"digest"];
    let mut count = 0;
    for (i, _) in raw
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'm' | b'M' | b'd' | b'D'))
    {
        let rest = &raw[i..];
        if WORDS
            .iter()
            .any(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w))
        {
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Vec<u8> {
        let mut m = Vec::new();
        for _ in 0..depth {
            m.extend_from_slice(b"Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
        }
        m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nhello\r\n");
        m
    }

    #[test]
    fn deeply_nested_messages_are_read_for_headers_only_without_overflow() {
        // On a 2 MiB stack, as a tokio worker has, which 100,000 levels overflow when dropped.
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let raw = nested(100_000);
                let message = parse_message(&raw).unwrap();
                let nested = message
                    .parts
                    .iter()
                    .any(|p| matches!(p.body, mail_parser::PartType::Message(_)));
                (nested, message.subject().map(str::to_string))
            })
            .unwrap();
        let (nested, subject) = handle.join().unwrap();
        assert_eq!(subject.as_deref(), Some("x"));
        assert!(!nested);
    }

    #[test]
    fn ordinary_nesting_is_parsed_whole() {
        let raw = nested(3);
        let message = parse_message(&raw).unwrap();
        assert!(matches!(
            message.parts[0].body,
            mail_parser::PartType::Message(_)
        ));
        let digest = b"Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\n\
            Subject: inner\r\n\r\nhi\r\n--b--\r\n";
        assert!(parse_message(digest).unwrap().parts.len() >= 2);
    }
}
