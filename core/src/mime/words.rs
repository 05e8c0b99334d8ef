//! RFC 2047 encoded words in an unfolded header line, decoded in one pass: the common case of
//! [`super::header::decode_header_text`] (most encoded subjects and display names are
//! well-formed words in UTF-8 or a single-byte charset). It accepts only well-formed input
//! and answers None for anything else, which mail-parser then decodes: a word with bad
//! base64 or quoted-printable, a charset shorter than two characters, `=?` that does not
//! start a whole word. Where it answers, it answers what mail-parser's `parse_unstructured`
//! does, down to its spacing (a test compares the two on generated and hostile lines):
//!
//! - the text between encoded words is kept from its first to its last non-blank byte;
//! - adjacent encoded words join with nothing between them, whatever blanks separated them;
//! - an encoded word and text join with one space, even where none separated them;
//! - a word's bytes are decoded in its charset (mail-parser's table, and the app's decoder
//!   through it), or as UTF-8 when the charset is unknown.
//!
//! It saves mail-parser's per-byte stream, its token list and a copy per word: about 5% of
//! a header sync's reading thread.

use mail_parser::decoders::charsets::map::charset_decoder;

/// The decoded line, or None when it holds anything but well-formed encoded words and text
/// without `=?`. `line` has no CR or LF (it is unfolded).
pub(super) fn decode_words(line: &[u8]) -> Option<String> {
    let mut out = Line {
        text: String::with_capacity(line.len()),
        last: Last::Nothing,
    };
    let mut bytes = Vec::new(); // one word's bytes, reused
    let mut i = 0;
    let mut text: Option<(usize, usize)> = None; // first and past-last non-blank byte
    while let Some(&b) = line.get(i) {
        if b == b'=' && line.get(i + 1) == Some(&b'?') {
            let (charset, next) = encoded_word(line, i, &mut bytes)?;
            if let Some((start, end)) = text.take() {
                out.push_text(line.get(start..end)?);
            }
            out.push_word(charset, &bytes);
            i = next;
            continue;
        }
        if b != b' ' && b != b'\t' {
            match &mut text {
                Some((_, end)) => *end = i + 1,
                None => text = Some((i, i + 1)),
            }
        }
        i += 1;
    }
    if let Some((start, end)) = text {
        out.push_text(line.get(start..end)?);
    }
    Some(out.text)
}

/// The text so far, and what it ended with (which decides the space before the next piece).
struct Line {
    text: String,
    last: Last,
}

#[derive(PartialEq)]
enum Last {
    Nothing,
    Text,
    Word,
}

impl Line {
    /// Text between words: one space after any piece before it (even an empty word).
    fn push_text(&mut self, bytes: &[u8]) {
        if self.last != Last::Nothing {
            self.text.push(' ');
        }
        self.text.push_str(&super::header::lossy(bytes));
        self.last = Last::Text;
    }

    /// A word's bytes in its charset: one space after text, none after another word.
    fn push_word(&mut self, charset: &[u8], bytes: &[u8]) {
        if self.last == Last::Text {
            self.text.push(' ');
        }
        match charset_decoder(charset) {
            Some(decode) => self.text.push_str(&decode(bytes)),
            None => self.text.push_str(&String::from_utf8_lossy(bytes)),
        }
        self.last = Last::Word;
    }
}

/// The encoded word starting at `start` (`=?`): its bytes into `bytes` (cleared first), its
/// charset (without an RFC 2231 language), and the index after its `?=`.
fn encoded_word<'a>(
    line: &'a [u8],
    start: usize,
    bytes: &mut Vec<u8>,
) -> Option<(&'a [u8], usize)> {
    let rest = line.get(start + 2..)?;
    let charset_len = rest.iter().position(|&b| b == b'?')?;
    let label = rest.get(..charset_len)?;
    // RFC 2231 section 5: `charset*language`.
    let charset = match label.iter().position(|&b| b == b'*') {
        Some(star) => label.get(..star)?,
        None => label,
    };
    let valid_label = |b: &u8| b.is_ascii_alphanumeric() || b"-_.:*".contains(b);
    if charset.len() < 2 || !label.iter().all(valid_label) {
        return None;
    }
    let encoding = *rest.get(charset_len + 1)?;
    if rest.get(charset_len + 2) != Some(&b'?') {
        return None;
    }
    let data_start = charset_len + 3;
    let data_len = word_end(rest.get(data_start..)?)?;
    let data = rest.get(data_start..data_start + data_len)?;
    bytes.clear();
    match encoding {
        b'B' | b'b' => base64(data, bytes)?,
        b'Q' | b'q' => quoted_printable(data, bytes)?,
        _ => return None,
    }
    Some((charset, start + 2 + data_start + data_len + 2))
}

/// Where the word's `?=` starts in `data`. The line is unfolded, so the only CR or LF it
/// can hold is a bare one, which no word may contain.
fn word_end(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let q = crate::scan::header_special(data, from)?;
        match data.get(q) {
            Some(b'?') if data.get(q + 1) == Some(&b'=') => return Some(q),
            Some(b'?') => from = q + 1,
            _ => return None,
        }
    }
}

/// Strict base64: whole groups of four, `=` only as the last one or two of the last group.
fn base64(data: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !data.len().is_multiple_of(4) {
        return None;
    }
    out.reserve(data.len() / 4 * 3);
    let groups = data.len() / 4;
    for (n, group) in data.chunks_exact(4).enumerate() {
        let last = n + 1 == groups;
        let pad = group.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut chunk = 0u32;
        for &b in group.get(..4 - pad)? {
            chunk = (chunk << 6) | u32::from(sextet(b)?);
        }
        chunk <<= 6 * pad as u32;
        let [_, a, b, c] = chunk.to_be_bytes();
        out.extend_from_slice([a, b, c].get(..3 - pad)?);
    }
    Some(())
}

#[inline(always)]
fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// RFC 2047 Q: `_` is a space, `=XX` a byte; other printable ASCII but `?`, `=` and blanks
/// as it is.
fn quoted_printable(data: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.reserve(data.len());
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let high = crate::digits::hex_value(*data.get(i + 1)?)?;
                let low = crate::digits::hex_value(*data.get(i + 2)?)?;
                out.push((high << 4) | low);
                i += 2;
            }
            b'!'..=b'~' if b != b'?' => out.push(b),
            _ => return None,
        }
        i += 1;
    }
    Some(())
}
