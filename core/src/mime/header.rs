//! Header values to text: RFC 2047 encoded words in any charset mail-parser knows, folding
//! undone, ENVELOPE addresses, Message-ID and References lists.
//!
//! Decoding is lossy by design (invalid UTF-8 becomes U+FFFD) and never fails or panics; it
//! must never guess a charset for raw 8-bit bytes other than UTF-8.

use crate::limits;
use mail_parser::{HeaderValue, parsers::MessageStream};

/// A mailbox from an address list: its decoded display name and `local@domain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Addr {
    /// The decoded display name; None when absent or blank.
    pub name: Option<String>,
    /// `mailbox@host` exactly as the server sent it (not case-folded).
    pub email: String,
}

/// Decodes an unstructured header value (Subject, a display name, a PREVIEW): RFC 2047
/// encoded words in any charset mail-parser knows (unknown charsets as UTF-8), other bytes as
/// UTF-8 with U+FFFD for invalid sequences. Folding (CRLF before whitespace) is removed and
/// any other line break becomes a space; leading and trailing whitespace is dropped.
///
/// Text mail-parser would leave as it is takes a shorter way: no line break and no `=?` (no
/// encoded word) means only blanks and tabs trimmed at both ends, then UTF-8 with U+FFFD for
/// invalid sequences. Most subjects and names, and every PREVIEW (plain UTF-8 by definition),
/// are such text: in a header sync this is one of the commonest calls.
pub fn decode_header_text(raw: &[u8]) -> String {
    if !is_plain(raw) {
        let line = unfold(raw);
        return match super::words::decode_words(&line) {
            Some(text) => text,
            None => decode_with_mail_parser(line.into_owned()),
        };
    }
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = raw.iter().position(|b| !blank(b)).unwrap_or(raw.len());
    let end = raw.iter().rposition(|b| !blank(b)).map_or(start, |i| i + 1);
    lossy(raw.get(start..end).unwrap_or_default()).into_owned()
}

/// `String::from_utf8_lossy`, with valid UTF-8 (nearly every header) checked by `from_utf8`,
/// which takes ASCII a word at a time where `from_utf8_lossy` walks it a byte at a time (at
/// `opt-level = "z"`, 1.5% of a header sync's instructions). Same result.
pub(crate) fn lossy(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

/// No line break and no `=?` (which may start an encoded word): the text is the value as
/// is. One pass over the bytes (a header sync asks this of every subject and display name).
fn is_plain(raw: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = crate::scan::header_special(raw, from) {
        // A `?` is plain unless it follows `=`; CR and LF never are.
        if raw.get(i) != Some(&b'?') || i.checked_sub(1).and_then(|p| raw.get(p)) == Some(&b'=') {
            return false;
        }
        from = i + 1;
    }
    true
}

/// An unfolded line through mail-parser's unstructured-header parser.
pub(super) fn decode_with_mail_parser(mut line: Vec<u8>) -> String {
    // mail-parser reads a header value up to the end of its line: give it one.
    line.push(b'\n');
    match MessageStream::new(&line).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The value on one line: CRLF/LF before whitespace dropped (RFC 5322 unfolding), any other
/// CR or LF turned into a space. Borrowed when there is no line break.
pub(super) fn unfold(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\r' | b'\n' => {
                let mut j = i;
                while matches!(raw.get(j), Some(b'\r' | b'\n')) {
                    j += 1;
                }
                if !matches!(raw.get(j), Some(b' ' | b'\t')) {
                    out.push(b' ');
                }
                i = j;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The mailboxes of an ENVELOPE address list, in order. Display names are decoded. RFC 5322
/// group syntax (a start marker with NIL host, an end marker with NIL mailbox and host) is
/// skipped, keeping the group's members; entries without a mailbox are skipped too.
pub fn addresses_from_envelope(list: Option<&[imap_proto::Address<'_>]>) -> Vec<Addr> {
    let Some(list) = list else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|a| {
            let (mailbox, host) = (a.mailbox.as_deref()?, a.host.as_deref()?);
            let mut email = String::with_capacity(mailbox.len() + 1 + host.len());
            email.push_str(&lossy(mailbox));
            email.push('@');
            email.push_str(&lossy(host));
            let name = a
                .name
                .as_deref()
                .map(decode_header_text)
                .filter(|n| !n.is_empty());
            Some(Addr { name, email })
        })
        .collect()
}

/// A Message-ID or In-Reply-To value without its angle brackets and whitespace: the first
/// `<...>` when there is one, else the whole trimmed value. None when absent or empty.
pub fn message_id(raw: Option<&[u8]>) -> Option<String> {
    let text = lossy(raw?);
    let inner = match text.find('<') {
        Some(start) => {
            let rest = text.get(start + 1..).unwrap_or_default();
            rest.split('>').next().unwrap_or_default()
        }
        None => text.as_ref(),
    };
    let id = without_whitespace(inner);
    (!id.is_empty()).then_some(id)
}

/// Every `<...>` id of a References header (or a whole header block holding it), oldest
/// first as written, without brackets or whitespace; empty ids are skipped.
///
/// At most [`limits::MAX_REFERENCES`] are kept: the first (the thread's root) and the last
/// ones (the nearest ancestors), which are all threading needs.
pub fn references(raw: &[u8]) -> Vec<String> {
    let text = lossy(raw);
    let text = strip_field_name(&text);
    let mut ids: Vec<String> = text
        .split('<')
        .skip(1)
        .filter_map(|piece| {
            let (inner, _) = piece.split_once('>')?;
            let id = without_whitespace(inner);
            (!id.is_empty()).then_some(id)
        })
        .collect();
    if ids.len() > limits::MAX_REFERENCES {
        ids.drain(1..=ids.len() - limits::MAX_REFERENCES);
    }
    ids
}

/// `References: <a> <b>` → `<a> <b>`: the IMAP fetch of `HEADER.FIELDS (REFERENCES)` returns
/// the field with its name, and a name never contains `<`.
fn strip_field_name(text: &str) -> &str {
    match (text.find(':'), text.find('<')) {
        (Some(colon), Some(lt)) if colon < lt => text.get(colon + 1..).unwrap_or_default(),
        _ => text,
    }
}

fn without_whitespace(s: &str) -> String {
    // ASCII without whitespace (the usual id) is copied as is; anything else goes through
    // char::is_whitespace, which for ASCII is exactly \t, \n, \x0b, \x0c, \r and space.
    if s.bytes()
        .all(|b| b.is_ascii() && !matches!(b, b'\t'..=b'\r' | b' '))
    {
        return s.to_string();
    }
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn lossy_is_from_utf8_lossy() {
        for raw in [
            &b""[..],
            b"plain ascii",
            b"caf\xc3\xa9",
            b"bad \xff\xfe bytes",
            b"cut \xe6\x97",
            b"\x00\x7f\x80",
        ] {
            assert_eq!(lossy(raw), String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn plain_header_text_is_decoded_as_mail_parser_would() {
        let inputs: [&[u8]; 22] = [
            b"",
            b" ",
            b"\t \t",
            b"Hello",
            b"  Hello  world \t",
            b"\tTabs\tinside\t",
            b"a = b ? c",
            b"ends with =",
            b"=?",
            b"=?utf-8?q?caf=C3=A9?=",
            b"Re: =?ISO-8859-1?Q?Caf=E9?= menu",
            b"x=?y",
            b"caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xf0\x9f\x93\xa7",
            b"broken \xff\xfe utf-8 \xc3",
            b"line\r\n folded",
            b"line\nbreak",
            b"cr\ronly",
            b"\x0bvertical\x0c",
            b"\"quoted\" (comment) <angle>",
            b"  lead",
            b"trail   ",
            b"\x00nul\x7f",
        ];
        for raw in inputs {
            assert_eq!(
                decode_header_text(raw),
                decode_with_mail_parser(unfold(raw).into_owned()),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn encoded_words_in_many_charsets() {
        assert_eq!(decode_header_text(b"=?utf-8?B?0J7RgtGH0ZHRgg==?="), "Отчёт");
        assert_eq!(
            decode_header_text(b"=?iso-8859-1?Q?R=E9sum=E9?= final"),
            "Résumé final"
        );
        assert_eq!(decode_header_text(b"=?koi8-r?B?7tXT?="), "Нус");
        assert_eq!(
            decode_header_text(b"=?windows-1252?Q?=80_budget?="),
            "€ budget"
        );
        assert_eq!(
            decode_header_text(b"Re: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?="),
            "Re: Grüße"
        );
    }

    #[test]
    fn adjacent_encoded_words_join_without_the_space_between() {
        let raw = b"=?utf-8?Q?Gr=C3=BC?=\r\n =?utf-8?Q?=C3=9Fe_aus?= Berlin";
        assert_eq!(decode_header_text(raw), "Grüße aus Berlin");
    }

    #[test]
    fn folding_is_undone_and_raw_8bit_is_utf8() {
        assert_eq!(
            decode_header_text(b"a long\r\n subject\r\n\tline"),
            "a long subject\tline"
        );
        assert_eq!(
            decode_header_text("caf\u{e9} ok".as_bytes()),
            "caf\u{e9} ok"
        );
        assert_eq!(decode_header_text(b"bad \xff byte"), "bad \u{fffd} byte");
        assert_eq!(decode_header_text(b"one\r\ntwo"), "one two");
        assert_eq!(decode_header_text(b"  padded  "), "padded");
        assert_eq!(decode_header_text(b""), "");
    }

    fn address<'a>(
        name: Option<&'a str>,
        mailbox: Option<&'a str>,
        host: Option<&'a str>,
    ) -> imap_proto::Address<'a> {
        let cow = |s: Option<&'a str>| s.map(|s| Cow::Borrowed(s.as_bytes()));
        imap_proto::Address {
            name: cow(name),
            adl: None,
            mailbox: cow(mailbox),
            host: cow(host),
        }
    }

    #[test]
    fn envelope_addresses_decode_names_and_skip_group_markers() {
        let list = vec![
            address(
                Some("=?utf-8?Q?J=C3=BCrgen?="),
                Some("j"),
                Some("example.de"),
            ),
            address(None, Some("undisclosed-recipients"), None),
            address(Some(""), Some("member"), Some("example.org")),
            address(None, None, None),
            address(None, None, Some("nomailbox.example")),
        ];
        let got = addresses_from_envelope(Some(&list));
        assert_eq!(
            got,
            vec![
                Addr {
                    name: Some("Jürgen".into()),
                    email: "j@example.de".into()
                },
                Addr {
                    name: None,
                    email: "member@example.org".into()
                },
            ]
        );
        assert!(addresses_from_envelope(None).is_empty());
    }

    #[test]
    fn message_ids_lose_brackets_and_whitespace() {
        assert_eq!(
            message_id(Some(b" <abc@example.com> ")),
            Some("abc@example.com".into())
        );
        assert_eq!(
            message_id(Some(b"<abc@\r\n example.com>")),
            Some("abc@example.com".into())
        );
        assert_eq!(
            message_id(Some(b"bare@example.com")),
            Some("bare@example.com".into())
        );
        assert_eq!(message_id(Some(b"<a@b> <c@d>")), Some("a@b".into()));
        assert_eq!(message_id(Some(b"<>")), None);
        assert_eq!(message_id(Some(b"  ")), None);
        assert_eq!(message_id(None), None);
    }

    #[test]
    fn references_lists_every_id_in_order() {
        let raw = b"References: <a@x>\r\n <b@y> <c\r\n @z>\r\n\r\n";
        assert_eq!(references(raw), vec!["a@x", "b@y", "c@z"]);
        assert_eq!(references(b"<only@one>"), vec!["only@one"]);
        assert_eq!(references(b"<> <unterminated"), Vec::<String>::new());
        assert!(references(b"").is_empty());
    }

    #[test]
    fn references_keep_the_root_and_the_nearest_ancestors() {
        let raw: String = (0..100_000).map(|i| format!("<{i}@x> ")).collect();
        let ids = references(raw.as_bytes());
        assert_eq!(ids.len(), limits::MAX_REFERENCES);
        assert_eq!(ids[0], "0@x");
        assert_eq!(
            ids[1],
            format!("{}@x", 100_000 - limits::MAX_REFERENCES + 1)
        );
        assert_eq!(ids.last().map(String::as_str), Some("99999@x"));
    }

    #[test]
    fn the_fast_paths_agree_with_their_definitions() {
        let samples: [&str; 12] = [
            "",
            "abc@def",
            " a b ",
            "a\tb\nc\rd\x0be\x0cf",
            "a\u{85}b\u{a0}c\u{2003}d",
            "caf\u{e9}@x",
            "=?",
            "a=?b",
            "a= ?b",
            "?=",
            "==?",
            "x\r\ny",
        ];
        for s in samples {
            let slow: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(without_whitespace(s), slow, "{s:?}");
            let raw = s.as_bytes();
            let plain = !raw.iter().any(|&b| b == b'\r' || b == b'\n')
                && !raw.windows(2).any(|w| w == b"=?");
            assert_eq!(is_plain(raw), plain, "{s:?}");
        }
    }
}
