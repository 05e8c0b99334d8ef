//! Wire encodings the generator writes: Content-Transfer-Encodings (7bit/8bit,
//! quoted-printable, base64 in 76-column lines), RFC 2047 encoded words for headers, RFC 2231
//! parameter values, and folding of long header lines. Everything produces CRLF line endings.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

use super::charset::Charset;

/// Content-Transfer-Encoding of a leaf part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cte {
    SevenBit,
    EightBit,
    QuotedPrintable,
    Base64,
}

impl Cte {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cte::SevenBit => "7bit",
            Cte::EightBit => "8bit",
            Cte::QuotedPrintable => "quoted-printable",
            Cte::Base64 => "base64",
        }
    }

    /// `data` in this transfer encoding. 7bit/8bit pass the bytes through unchanged (the
    /// caller guarantees CRLF line endings and short lines).
    pub(crate) fn encode(self, data: &[u8]) -> Vec<u8> {
        match self {
            Cte::SevenBit | Cte::EightBit => data.to_vec(),
            Cte::QuotedPrintable => quoted_printable(data),
            Cte::Base64 => {
                let mut out = Vec::with_capacity(data.len() / 57 * 78 + 80);
                for line in data.chunks(BASE64_LINE_BYTES) {
                    push_base64_line(&mut out, line);
                }
                out
            }
        }
    }
}

/// Decoded bytes per 76-character base64 line.
pub(crate) const BASE64_LINE_BYTES: usize = 57;

fn push_base64_line(out: &mut Vec<u8>, line: &[u8]) {
    let start = out.len();
    out.resize(start + line.len().div_ceil(3) * 4, 0);
    let written = STANDARD.encode_slice(line, &mut out[start..]).expect("buffer sized for base64");
    out.truncate(start + written);
    out.extend_from_slice(b"\r\n");
}

/// Base64 of `len` bytes drawn from `fill` in 76-column CRLF lines, hashed on the way, so a
/// 20 MB attachment never exists decoded in memory. Returns (encoded body, sha256 hex).
pub(crate) fn base64_stream(len: usize, mut fill: impl FnMut(&mut [u8])) -> (Vec<u8>, String) {
    const CHUNK: usize = BASE64_LINE_BYTES * 1024;
    let mut out = Vec::with_capacity(len.div_ceil(BASE64_LINE_BYTES) * 78);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut remaining = len;
    while remaining > 0 {
        let chunk = &mut buf[..remaining.min(CHUNK)];
        fill(chunk);
        hasher.update(&*chunk);
        for line in chunk.chunks(BASE64_LINE_BYTES) {
            push_base64_line(&mut out, line);
        }
        remaining -= chunk.len();
    }
    (out, hex::encode(hasher.finalize()))
}

/// Quoted-printable (RFC 2045 6.7): CRLF in the input stays a hard line break, lines are
/// soft-wrapped at 76 columns, and whitespace before a line break is encoded.
pub(crate) fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 3 / 2);
    let mut lines = data.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = if last { line } else { line.strip_suffix(b"\r").expect("CRLF line endings") };
        let mut column = 0;
        for (k, &b) in line.iter().enumerate() {
            let at_end = k + 1 == line.len();
            let literal = matches!(b, b'!'..=b'<' | b'>'..=b'~') || (matches!(b, b' ' | b'\t') && !at_end);
            let width = if literal { 1 } else { 3 };
            if column + width > 75 {
                out.extend_from_slice(b"=\r\n");
                column = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            column += width;
        }
        if !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// Longest encoded word written; RFC 2047 allows 75, a little less keeps header lines short.
const MAX_WORD: usize = 66;

/// RFC 2047 encoding flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordEncoding {
    B,
    Q,
}

/// `text` as RFC 2047 encoded words separated by a folding space, each at most [`MAX_WORD`]
/// characters and never splitting a character. Q encoding uses the restricted set that is
/// valid inside a phrase (display names) as well as in unstructured text.
pub(crate) fn encoded_words(text: &str, charset: Charset, enc: WordEncoding) -> String {
    let prefix = format!("=?{}?{}?", charset.name(), if enc == WordEncoding::B { "B" } else { "Q" });
    let budget = MAX_WORD - prefix.len() - 2;
    let mut words = Vec::new();
    let mut pending = String::new();
    for c in text.chars() {
        let mut candidate = pending.clone();
        candidate.push(c);
        if !pending.is_empty() && word_payload(&candidate, charset, enc).len() > budget {
            words.push(format!("{prefix}{}?=", word_payload(&pending, charset, enc)));
            pending.clear();
        }
        pending.push(c);
    }
    if !pending.is_empty() {
        words.push(format!("{prefix}{}?=", word_payload(&pending, charset, enc)));
    }
    words.join("\r\n ")
}

fn word_payload(text: &str, charset: Charset, enc: WordEncoding) -> String {
    let bytes = charset.encode(text);
    match enc {
        WordEncoding::B => STANDARD.encode(bytes),
        WordEncoding::Q => bytes
            .iter()
            .map(|&b| match b {
                b' ' => "_".to_string(),
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => (b as char).to_string(),
                _ => format!("={b:02X}"),
            })
            .collect(),
    }
}

/// A `name*=utf-8''...` RFC 2231 extended parameter; long values are split into numbered
/// continuations (`name*0*=`, `name*1*=`) on folded lines.
pub(crate) fn rfc2231_param(name: &str, value: &str) -> String {
    let encoded: Vec<String> = value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let joined: String = encoded.concat();
    if joined.len() <= 60 {
        return format!("{name}*=utf-8''{joined}");
    }
    let mut pieces = Vec::new();
    let mut current = String::new();
    for token in encoded {
        if current.len() + token.len() > 50 {
            pieces.push(std::mem::take(&mut current));
        }
        current.push_str(&token);
    }
    pieces.push(current);
    pieces
        .iter()
        .enumerate()
        .map(|(k, piece)| if k == 0 { format!("{name}*0*=utf-8''{piece}") } else { format!("{name}*{k}*={piece}") })
        .collect::<Vec<_>>()
        .join(";\r\n ")
}

/// A quoted-string (RFC 5322 3.2.4) for an ASCII value.
pub(crate) fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `Name: value` with an unstructured ASCII value folded at spaces to stay near 78 columns.
/// Unfolding (removing each CRLF) gives back exactly `value`.
pub(crate) fn folded_header(name: &str, value: &str) -> String {
    let mut out = format!("{name}:");
    let mut column = out.len();
    let mut line_has_word = false;
    for word in value.split(' ') {
        if line_has_word && !word.is_empty() && column + 1 + word.len() > 78 {
            out.push_str("\r\n");
            column = 0;
        }
        out.push(' ');
        out.push_str(word);
        column += 1 + word.len();
        line_has_word |= !word.is_empty();
    }
    out
}

/// `Name: item, item, ...` folding between items (address lists, message-id lists).
pub(crate) fn folded_list(name: &str, items: &[String], separator: &str) -> String {
    let mut out = format!("{name}:");
    let mut column = out.len();
    for (k, item) in items.iter().enumerate() {
        let piece = if k + 1 < items.len() { format!("{item}{separator}") } else { item.clone() };
        let first_line_len = piece.split("\r\n").next().map_or(0, str::len);
        if k > 0 && column + 1 + first_line_len > 78 {
            out.push_str("\r\n");
            column = 0;
        }
        out.push(' ');
        out.push_str(&piece);
        column = match piece.rfind("\r\n") {
            Some(p) => piece.len() - p - 2,
            None => column + 1 + piece.len(),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_soft_wraps_and_encodes_trailing_space() {
        let long = "x".repeat(100);
        let qp = String::from_utf8(quoted_printable(format!("{long}\r\nend \r\né").as_bytes())).unwrap();
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert!(qp.contains("end=20\r\n=C3=A9"), "{qp}");
    }

    #[test]
    fn encoded_words_respect_length() {
        let words = encoded_words(&"Грüße ".repeat(20), Charset::Utf8, WordEncoding::Q);
        assert!(words.split("\r\n ").all(|w| w.len() <= 75 && w.starts_with("=?utf-8?Q?")));
    }

    #[test]
    fn folding_round_trips() {
        let value = "word ".repeat(40);
        let header = folded_header("Subject", value.trim_end());
        assert_eq!(header.replace("\r\n", ""), format!("Subject: {}", value.trim_end()));
    }
}
