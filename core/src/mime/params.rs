//! MIME parameter values (Content-Type `name`, Content-Disposition `filename`, `charset`) as
//! the server lists them in BODYSTRUCTURE: plain values, RFC 2231 extended values
//! (`filename*=utf-8''%C3%A9.pdf`), RFC 2231 continuations (`filename*0*=`, `filename*1=`),
//! whether or not the server merged them, and RFC 2047 encoded words inside plain values.
//!
//! Values are decoded exactly: no trimming of what the sender encoded, no sanitising (that is
//! [`super::safe_file_name`]'s job). Must never panic on malformed parameters.

use std::borrow::Cow;

use mail_parser::decoders::charsets::map::charset_decoder;

use super::header::decode_header_text;

/// imap-proto's parameter list: (attribute, value) pairs in the server's order.
pub(crate) type Params<'a> = [(Cow<'a, str>, Cow<'a, str>)];

/// Longest continuation index accepted (`name*9999`); longer ones are ignored.
const MAX_INDEX_DIGITS: usize = 4;

/// The decoded value of parameter `name` (case-insensitive). An RFC 2231 extended value
/// (`name*`) wins over continuations (`name*0`, `name*0*`, ...), which win over a plain
/// `name`. Plain and unencoded continuation values have their RFC 2047 encoded words decoded;
/// extended ones are percent-decoded in their declared charset.
pub(crate) fn param(params: Option<&Params<'_>>, name: &str) -> Option<String> {
    let mut plain: Option<&str> = None;
    let mut extended: Option<&str> = None;
    let mut pieces: Vec<(u32, bool, &str)> = Vec::new();
    for (key, value) in params? {
        let Some(rest) = strip_name(key.trim(), name) else {
            continue;
        };
        if rest.is_empty() {
            plain.get_or_insert(value);
        } else if rest == "*" {
            extended.get_or_insert(value);
        } else if let Some(index) = rest.strip_prefix('*') {
            let (digits, encoded) = match index.strip_suffix('*') {
                Some(digits) => (digits, true),
                None => (index, false),
            };
            if digits.len() <= MAX_INDEX_DIGITS
                && let Ok(n) = digits.parse::<u32>()
                && digits.bytes().all(|b| b.is_ascii_digit())
            {
                pieces.push((n, encoded, value));
            }
        }
    }
    if let Some(value) = extended {
        let (charset, encoded) = split_charset(value);
        return Some(to_text(&percent_decode(encoded), charset));
    }
    if !pieces.is_empty() {
        return Some(join_continuations(pieces));
    }
    plain.map(|value| decode_header_text(value.as_bytes()))
}

/// `key` minus a case-insensitive `name` prefix.
fn strip_name<'k>(key: &'k str, name: &str) -> Option<&'k str> {
    let head = key.get(..name.len())?;
    head.eq_ignore_ascii_case(name)
        .then(|| key.get(name.len()..))
        .flatten()
}

/// RFC 2231 section 3: pieces in index order (first of a repeated index kept); the charset
/// comes from piece 0 when it is encoded. Unencoded pieces are taken as they are.
fn join_continuations(mut pieces: Vec<(u32, bool, &str)>) -> String {
    crate::sort::sort_by_key(&mut pieces, |(n, _, _)| *n);
    pieces.dedup_by_key(|(n, _, _)| *n);
    let any_encoded = pieces.iter().any(|(_, encoded, _)| *encoded);
    let mut charset = "";
    let mut bytes = Vec::new();
    for (k, (_, encoded, value)) in pieces.into_iter().enumerate() {
        if !encoded {
            bytes.extend_from_slice(value.as_bytes());
            continue;
        }
        let value = if k == 0 {
            let (declared, rest) = split_charset(value);
            charset = declared;
            rest
        } else {
            value
        };
        bytes.extend_from_slice(&percent_decode(value));
    }
    match any_encoded {
        true => to_text(&bytes, charset),
        false => decode_header_text(&bytes),
    }
}

/// `charset'language'value` → (charset, value); no charset when the quotes are missing.
fn split_charset(value: &str) -> (&str, &str) {
    let mut parts = value.splitn(3, '\'');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(charset), Some(_language), Some(rest)) => (charset.trim(), rest),
        _ => ("", value),
    }
}

/// `%XX` escapes to bytes; a `%` not followed by two hex digits stays as it is.
fn percent_decode(value: &str) -> Vec<u8> {
    let raw = value.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = match (b, raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Bytes in `charset` to text; UTF-8 (lossy) when the charset is empty or unknown.
pub(crate) fn to_text(bytes: &[u8], charset: &str) -> String {
    let utf8 = charset.is_empty()
        || charset.eq_ignore_ascii_case("utf-8")
        || charset.eq_ignore_ascii_case("utf8");
    match charset_decoder(charset.as_bytes()) {
        Some(decode) if !utf8 => decode(bytes),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        pairs: &[(&'static str, &'static str)],
    ) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        pairs
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
            .collect()
    }

    fn get(pairs: &[(&'static str, &'static str)], name: &str) -> Option<String> {
        param(Some(&params(pairs)), name)
    }

    #[test]
    fn plain_values_and_case_insensitive_names() {
        assert_eq!(get(&[("NAME", "a b.pdf")], "name"), Some("a b.pdf".into()));
        assert_eq!(
            get(&[("charset", "UTF-8")], "charset"),
            Some("UTF-8".into())
        );
        assert_eq!(get(&[("names", "x")], "name"), None);
        assert_eq!(get(&[], "name"), None);
        assert_eq!(param(None, "name"), None);
    }

    #[test]
    fn rfc2047_inside_a_plain_value() {
        assert_eq!(
            get(
                &[("filename", "=?utf-8?B?0JfQsNGP0LLQutCwLnBkZg==?=")],
                "filename"
            ),
            Some("Заявка.pdf".into())
        );
        assert_eq!(
            get(&[("filename", "=?utf-8?Q?invoice=07.pdf?=")], "filename"),
            Some("invoice\u{7}.pdf".into())
        );
    }

    #[test]
    fn rfc2231_extended_value_with_charset_and_language() {
        assert_eq!(
            get(&[("filename*", "utf-8''%C3%A9t%C3%A9.pdf")], "filename"),
            Some("été.pdf".into())
        );
        assert_eq!(
            get(&[("filename*", "iso-8859-1'fr'%E9t%E9.pdf")], "filename"),
            Some("été.pdf".into())
        );
        assert_eq!(
            get(&[("filename*", "no quotes %41")], "filename"),
            Some("no quotes A".into())
        );
        assert_eq!(
            get(&[("filename*", "utf-8''100%_sure%4")], "filename"),
            Some("100%_sure%4".into())
        );
    }

    #[test]
    fn extended_beats_continuations_beats_plain() {
        let all = [
            ("filename", "plain.txt"),
            ("filename*0", "cont"),
            ("filename*", "utf-8''ext.txt"),
        ];
        assert_eq!(get(&all, "filename"), Some("ext.txt".into()));
        assert_eq!(get(&all[..2], "filename"), Some("cont".into()));
    }

    #[test]
    fn rfc2231_continuations_in_any_order_mixing_encoded_and_plain() {
        let pairs = [
            ("filename*1*", "%C3%B6%C3%9Fen"),
            ("filename*0*", "utf-8'de'Gr"),
            ("filename*2", ".txt"),
            ("filename*2", "ignored duplicate"),
        ];
        assert_eq!(get(&pairs, "filename"), Some("Größen.txt".into()));
        let plain = [("name*0", "long "), ("name*1", "name.pdf")];
        assert_eq!(get(&plain, "name"), Some("long name.pdf".into()));
        let bogus = [
            ("name*x", "no"),
            ("name*99999", "too long"),
            ("name**", "no"),
        ];
        assert_eq!(get(&bogus, "name"), None);
    }

    #[test]
    fn unknown_charset_falls_back_to_utf8() {
        assert_eq!(to_text("ü".as_bytes(), "x-unknown"), "ü");
        assert_eq!(to_text(b"\xfc", "iso-8859-1"), "ü");
        assert_eq!(to_text(b"\xfc", ""), "\u{fffd}");
    }
}
