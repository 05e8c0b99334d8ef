//! Wire encodings the generator writes: charsets (UTF-8 and the legacy ISO-8859-1,
//! Windows-1252, KOI8-R, ISO-2022-JP), Content-Transfer-Encodings (7bit/8bit,
//! quoted-printable, base64 in 76-column lines), RFC 2047 encoded words for headers, RFC 2231
//! parameter values, and folding of long header lines. Everything produces CRLF line endings.
//!
//! The charset encoders are deliberately small: they cover exactly the characters the content
//! tables use and panic on anything else, because an unencodable character is a bug in the
//! generator's tables, not an input error. ISO-2022-JP is not encoded character by character:
//! Japanese text is built from a fixed table of phrases whose escape-sequence form was produced
//! by a reference encoder, and the encoder matches those phrases greedily.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

/// A charset a text part or an RFC 2047 encoded word can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    UsAscii,
    Utf8,
    Latin1,
    Windows1252,
    Koi8R,
    Iso2022Jp,
}

impl Charset {
    /// The lowercase MIME name, as written in `charset=` and encoded words.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Charset::UsAscii => "us-ascii",
            Charset::Utf8 => "utf-8",
            Charset::Latin1 => "iso-8859-1",
            Charset::Windows1252 => "windows-1252",
            Charset::Koi8R => "koi8-r",
            Charset::Iso2022Jp => "iso-2022-jp",
        }
    }

    /// Whether every character of `text` can be written in this charset.
    pub(crate) fn can_encode(self, text: &str) -> bool {
        match self {
            Charset::Utf8 => true,
            Charset::UsAscii => text.is_ascii(),
            Charset::Latin1 => text.chars().all(|c| latin1_byte(c).is_some()),
            Charset::Windows1252 => text.chars().all(|c| cp1252_byte(c).is_some()),
            Charset::Koi8R => text.chars().all(|c| koi8r_byte(c).is_some()),
            Charset::Iso2022Jp => iso2022jp_encode(text).is_some(),
        }
    }

    /// `text` in this charset. Panics on a character the charset (or, for ISO-2022-JP, the
    /// phrase table) cannot represent.
    pub(crate) fn encode(self, text: &str) -> Vec<u8> {
        let single = |f: fn(char) -> Option<u8>| -> Vec<u8> {
            text.chars()
                .map(|c| {
                    f(c).unwrap_or_else(|| panic!("{c:?} is not representable in {}", self.name()))
                })
                .collect()
        };
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::UsAscii => {
                assert!(
                    text.is_ascii(),
                    "non-ASCII text labelled us-ascii: {text:?}"
                );
                text.as_bytes().to_vec()
            }
            Charset::Latin1 => single(latin1_byte),
            Charset::Windows1252 => single(cp1252_byte),
            Charset::Koi8R => single(koi8r_byte),
            Charset::Iso2022Jp => iso2022jp_encode(text)
                .unwrap_or_else(|| panic!("not in the ISO-2022-JP phrase table: {text:?}")),
        }
    }
}

/// ISO-8859-1 maps U+0000..=U+00FF one to one. The C1 range is refused: readers (and
/// mail-parser) treat the label as Windows-1252, where those bytes mean something else.
fn latin1_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        u8::try_from(code).ok()
    } else {
        None
    }
}

/// Windows-1252: ISO-8859-1 plus typographic characters in 0x80..=0x9F.
fn cp1252_byte(c: char) -> Option<u8> {
    const HIGH: [(char, u8); 16] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('„', 0x84),
        ('…', 0x85),
        ('‘', 0x91),
        ('’', 0x92),
        ('“', 0x93),
        ('”', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('™', 0x99),
        ('Š', 0x8A),
        ('š', 0x9A),
        ('œ', 0x9C),
        ('Ÿ', 0x9F),
    ];
    latin1_byte(c).or_else(|| HIGH.iter().find(|(h, _)| *h == c).map(|(_, b)| *b))
}

/// KOI8-R letters in byte order from 0xC0 (lowercase) and 0xE0 (uppercase).
const KOI8R_LOWER: &str = "юабцдефгхийклмнопярстужвьызшэщчъ";
const KOI8R_UPPER: &str = "ЮАБЦДЕФГХИЙКЛМНОПЯРСТУЖВЬЫЗШЭЩЧЪ";

fn koi8r_byte(c: char) -> Option<u8> {
    if c.is_ascii() {
        return u8::try_from(u32::from(c)).ok();
    }
    let index_in = |table: &str| {
        table
            .chars()
            .position(|t| t == c)
            .and_then(|p| u8::try_from(p).ok())
    };
    match c {
        'ё' => Some(0xA3),
        'Ё' => Some(0xB3),
        _ => index_in(KOI8R_LOWER)
            .map(|p| 0xC0 + p)
            .or_else(|| index_in(KOI8R_UPPER).map(|p| 0xE0 + p)),
    }
}

/// Japanese phrases with their ISO-2022-JP form (JIS X 0208 between `ESC $ B` and `ESC ( B`).
/// The byte strings were produced by CPython's `iso2022_jp` codec; the tests decode them back
/// with an independent decoder.
pub(crate) const JAPANESE_PHRASES: [(&str, &[u8]); 12] = [
    ("お疲れ様です。", b"\x1b$B$*Hh$lMM$G$9!#\x1b(B"),
    (
        "会議の資料を送ります。",
        b"\x1b$B2q5D$N;qNA$rAw$j$^$9!#\x1b(B",
    ),
    (
        "よろしくお願いします。",
        b"\x1b$B$h$m$7$/$*4j$$$7$^$9!#\x1b(B",
    ),
    (
        "明日の打ち合わせについて",
        b"\x1b$BL@F|$NBG$A9g$o$;$K$D$$$F\x1b(B",
    ),
    (
        "確認をお願いできますか。",
        b"\x1b$B3NG'$r$*4j$$$G$-$^$9$+!#\x1b(B",
    ),
    (
        "ご連絡ありがとうございます。",
        b"\x1b$B$4O\x22Mm$\x22$j$,$H$&$4$6$$$^$9!#\x1b(B",
    ),
    (
        "添付ファイルをご確認ください。",
        b"\x1b$BE:IU%U%!%$%k$r$43NG'$/$@$5$$!#\x1b(B",
    ),
    (
        "来週の予定を調整しましょう。",
        b"\x1b$BMh=5$NM=Dj$rD4@0$7$^$7$g$&!#\x1b(B",
    ),
    (
        "東京本社の田中です。",
        b"\x1b$BEl5~K\x5c<R$NEDCf$G$9!#\x1b(B",
    ),
    (
        "見積書を作成しました。",
        b"\x1b$B8+@Q=q$r:n@.$7$^$7$?!#\x1b(B",
    ),
    (
        "本日中にご返信ください。",
        b"\x1b$BK\x5cF|Cf$K$4JV?.$/$@$5$$!#\x1b(B",
    ),
    (
        "以上、宜しくお願い致します。",
        b"\x1b$B0J>e!\x2259$7$/$*4j$$CW$7$^$9!#\x1b(B",
    ),
];

const TO_JIS: &[u8] = b"\x1b$B";
const TO_ASCII: &[u8] = b"\x1b(B";

/// ASCII passes through; every other run must be one of [`JAPANESE_PHRASES`].
fn iso2022jp_encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 2);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii() {
            out.push(c as u8);
            rest = &rest[1..];
            continue;
        }
        let (phrase, bytes) = JAPANESE_PHRASES.iter().find(|(p, _)| rest.starts_with(p))?;
        // Adjacent phrases stay in JIS X 0208 mode: a switch back to ASCII followed at once by
        // a switch to JIS is what no encoder writes (and WHATWG decoders flag as an error).
        match out.strip_suffix(TO_ASCII) {
            Some(kept) => {
                out.truncate(kept.len());
                out.extend_from_slice(&bytes[TO_JIS.len()..]);
            }
            None => out.extend_from_slice(bytes),
        }
        rest = &rest[phrase.len()..];
    }
    Some(out)
}

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
    let written = STANDARD
        .encode_slice(line, &mut out[start..])
        .expect("buffer sized for base64");
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
        let line = if last {
            line
        } else {
            line.strip_suffix(b"\r").expect("CRLF line endings")
        };
        let mut column = 0;
        for (k, &b) in line.iter().enumerate() {
            let at_end = k + 1 == line.len();
            let literal =
                matches!(b, b'!'..=b'<' | b'>'..=b'~') || (matches!(b, b' ' | b'\t') && !at_end);
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
    let prefix = format!(
        "=?{}?{}?",
        charset.name(),
        if enc == WordEncoding::B { "B" } else { "Q" }
    );
    let budget = MAX_WORD - prefix.len() - 2;
    let mut words = Vec::new();
    let mut pending = String::new();
    for c in text.chars() {
        let mut candidate = pending.clone();
        candidate.push(c);
        if !pending.is_empty() && word_payload(&candidate, charset, enc).len() > budget {
            words.push(format!(
                "{prefix}{}?=",
                word_payload(&pending, charset, enc)
            ));
            pending.clear();
        }
        pending.push(c);
    }
    if !pending.is_empty() {
        words.push(format!(
            "{prefix}{}?=",
            word_payload(&pending, charset, enc)
        ));
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
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                    (b as char).to_string()
                }
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
        .map(|(k, piece)| {
            if k == 0 {
                format!("{name}*0*=utf-8''{piece}")
            } else {
                format!("{name}*{k}*={piece}")
            }
        })
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
        let piece = if k + 1 < items.len() {
            format!("{item}{separator}")
        } else {
            item.clone()
        };
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
    fn koi8r_table_is_complete() {
        assert_eq!(KOI8R_LOWER.chars().count(), 32);
        assert_eq!(KOI8R_UPPER.chars().count(), 32);
        assert_eq!(
            Charset::Koi8R.encode("Привет"),
            [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4]
        );
    }

    #[test]
    fn cp1252_typography() {
        assert_eq!(Charset::Windows1252.encode("“€”"), [0x93, 0x80, 0x94]);
        assert!(!Charset::Latin1.can_encode("€"));
    }

    #[test]
    fn iso2022jp_mixes_ascii_and_phrases() {
        let bytes = Charset::Iso2022Jp.encode("A お疲れ様です。\r\n");
        assert!(bytes.starts_with(b"A \x1b$B"));
        assert!(bytes.ends_with(b"\x1b(B\r\n"));
        assert!(!Charset::Iso2022Jp.can_encode("未知"));
        let two = Charset::Iso2022Jp.encode("お疲れ様です。お疲れ様です。");
        assert_eq!(two.windows(3).filter(|w| *w == TO_JIS).count(), 1);
    }

    #[test]
    fn qp_soft_wraps_and_encodes_trailing_space() {
        let long = "x".repeat(100);
        let qp =
            String::from_utf8(quoted_printable(format!("{long}\r\nend \r\né").as_bytes())).unwrap();
        assert!(qp.lines().all(|l| l.len() <= 76), "{qp}");
        assert!(qp.contains("end=20\r\n=C3=A9"), "{qp}");
    }

    #[test]
    fn encoded_words_respect_length() {
        let words = encoded_words(&"Грüße ".repeat(20), Charset::Utf8, WordEncoding::Q);
        assert!(
            words
                .split("\r\n ")
                .all(|w| w.len() <= 75 && w.starts_with("=?utf-8?Q?"))
        );
    }

    #[test]
    fn folding_round_trips() {
        let value = "word ".repeat(40);
        let header = folded_header("Subject", value.trim_end());
        assert_eq!(
            header.replace("\r\n", ""),
            format!("Subject: {}", value.trim_end())
        );
    }
}
