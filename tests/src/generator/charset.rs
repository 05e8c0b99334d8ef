//! Encoders from Unicode text into the legacy charsets the generator writes: ISO-8859-1,
//! Windows-1252, KOI8-R and ISO-2022-JP (plus UTF-8 and US-ASCII for completeness).
//!
//! These are deliberately small: they cover exactly the characters the content tables use
//! and panic on anything else, because an unencodable character is a bug in the generator's
//! tables, not an input error. ISO-2022-JP is not encoded character by character: Japanese
//! text is built from a fixed table of phrases whose escape-sequence form was produced by a
//! reference encoder, and the encoder matches those phrases greedily.

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
                .map(|c| f(c).unwrap_or_else(|| panic!("{c:?} is not representable in {}", self.name())))
                .collect()
        };
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::UsAscii => {
                assert!(text.is_ascii(), "non-ASCII text labelled us-ascii: {text:?}");
                text.as_bytes().to_vec()
            }
            Charset::Latin1 => single(latin1_byte),
            Charset::Windows1252 => single(cp1252_byte),
            Charset::Koi8R => single(koi8r_byte),
            Charset::Iso2022Jp => {
                iso2022jp_encode(text).unwrap_or_else(|| panic!("not in the ISO-2022-JP phrase table: {text:?}"))
            }
        }
    }
}

/// ISO-8859-1 maps U+0000..=U+00FF one to one. The C1 range is refused: readers (and
/// mail-parser) treat the label as Windows-1252, where those bytes mean something else.
fn latin1_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) { u8::try_from(code).ok() } else { None }
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
    let index_in = |table: &str| table.chars().position(|t| t == c).and_then(|p| u8::try_from(p).ok());
    match c {
        'ё' => Some(0xA3),
        'Ё' => Some(0xB3),
        _ => index_in(KOI8R_LOWER).map(|p| 0xC0 + p).or_else(|| index_in(KOI8R_UPPER).map(|p| 0xE0 + p)),
    }
}

/// Japanese phrases with their ISO-2022-JP form (JIS X 0208 between `ESC $ B` and `ESC ( B`).
/// The byte strings were produced by CPython's `iso2022_jp` codec; the tests decode them back
/// with an independent decoder.
pub(crate) const JAPANESE_PHRASES: [(&str, &[u8]); 12] = [
    ("お疲れ様です。", b"\x1b$B$*Hh$lMM$G$9!#\x1b(B"),
    ("会議の資料を送ります。", b"\x1b$B2q5D$N;qNA$rAw$j$^$9!#\x1b(B"),
    ("よろしくお願いします。", b"\x1b$B$h$m$7$/$*4j$$$7$^$9!#\x1b(B"),
    ("明日の打ち合わせについて", b"\x1b$BL@F|$NBG$A9g$o$;$K$D$$$F\x1b(B"),
    ("確認をお願いできますか。", b"\x1b$B3NG'$r$*4j$$$G$-$^$9$+!#\x1b(B"),
    ("ご連絡ありがとうございます。", b"\x1b$B$4O\x22Mm$\x22$j$,$H$&$4$6$$$^$9!#\x1b(B"),
    ("添付ファイルをご確認ください。", b"\x1b$BE:IU%U%!%$%k$r$43NG'$/$@$5$$!#\x1b(B"),
    ("来週の予定を調整しましょう。", b"\x1b$BMh=5$NM=Dj$rD4@0$7$^$7$g$&!#\x1b(B"),
    ("東京本社の田中です。", b"\x1b$BEl5~K\x5c<R$NEDCf$G$9!#\x1b(B"),
    ("見積書を作成しました。", b"\x1b$B8+@Q=q$r:n@.$7$^$7$?!#\x1b(B"),
    ("本日中にご返信ください。", b"\x1b$BK\x5cF|Cf$K$4JV?.$/$@$5$$!#\x1b(B"),
    ("以上、宜しくお願い致します。", b"\x1b$B0J>e!\x2259$7$/$*4j$$CW$7$^$9!#\x1b(B"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn koi8r_table_is_complete() {
        assert_eq!(KOI8R_LOWER.chars().count(), 32);
        assert_eq!(KOI8R_UPPER.chars().count(), 32);
        assert_eq!(Charset::Koi8R.encode("Привет"), [0xF0, 0xD2, 0xC9, 0xD7, 0xC5, 0xD4]);
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
}
