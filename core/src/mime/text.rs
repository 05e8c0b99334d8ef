//! A text part's bytes to text: the Content-Transfer-Encoding undone (base64,
//! quoted-printable, or nothing), then the charset decoded to UTF-8 with mail-parser's
//! decoders (every charset mail-parser knows; anything else as UTF-8).
//!
//! Two flavours: [`decode_part_text`] for a whole part and [`decode_truncated_text`] for a
//! prefix cut at an arbitrary byte (what `BODY.PEEK[<section>]<0.N>` returns), which drops the
//! incomplete tail (a partial base64 quantum, a partial `=XX` escape, a partial multibyte
//! character or ISO-2022-JP escape) instead of turning it into garbage. Decoding is lossy and
//! never fails: invalid input becomes U+FFFD or is skipped. Nothing here may panic or guess
//! a charset for unlabelled 8-bit bytes other than UTF-8.

use mail_parser::decoders::{
    base64::base64_decode, charsets::map::charset_decoder,
    quoted_printable::quoted_printable_decode,
};

/// Decodes a whole text part: transfer encoding (`base64`, `quoted-printable`; `7bit`,
/// `8bit`, `binary`, anything unknown and None as-is), then the charset to UTF-8 (unknown or
/// absent charsets as UTF-8, invalid sequences as U+FFFD). CRLF becomes LF and a leading
/// byte order mark is dropped.
pub fn decode_part_text(bytes: &[u8], encoding: Option<&str>, charset: Option<&str>) -> String {
    let raw = transfer_decode(bytes, TransferEncoding::of(encoding), false);
    finish(charset_decode(&raw, charset, false))
}

/// Decodes the first bytes of a text part, cut at an arbitrary byte: like
/// [`decode_part_text`], but an incomplete tail is dropped rather than decoded: a partial
/// base64 quantum, a partial quoted-printable escape or soft line break, a partial
/// multibyte character (UTF-8, GBK, Shift_JIS, ...), or a partial ISO-2022-JP escape sequence
/// or double-byte pair. The result never ends in U+FFFD or CR, and is a prefix of what
/// [`decode_part_text`] gives for the whole part, short of that tail.
pub fn decode_truncated_text(
    bytes: &[u8],
    encoding: Option<&str>,
    charset: Option<&str>,
) -> String {
    let raw = transfer_decode(bytes, TransferEncoding::of(encoding), true);
    let mut text = finish(charset_decode(&raw, charset, true));
    // A CR whose LF was cut off, and any replacement characters at the end: a cut character
    // or bytes that were invalid anyway, better not shown in either case.
    let kept = text
        .trim_end_matches(['\r', char::REPLACEMENT_CHARACTER])
        .len();
    text.truncate(kept);
    text
}

/// A Content-Transfer-Encoding, as far as decoding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    Base64,
    QuotedPrintable,
    /// `7bit`, `8bit`, `binary`, absent or unknown: the bytes are the content.
    Identity,
}

impl TransferEncoding {
    pub(crate) fn of(encoding: Option<&str>) -> Self {
        let Some(name) = encoding.map(|e| e.trim().trim_matches('"')) else {
            return Self::Identity;
        };
        if name.eq_ignore_ascii_case("base64") {
            Self::Base64
        } else if name.eq_ignore_ascii_case("quoted-printable") {
            Self::QuotedPrintable
        } else {
            Self::Identity
        }
    }
}

/// Undoes the transfer encoding; with `truncated`, an incomplete tail is dropped first.
fn transfer_decode(bytes: &[u8], encoding: TransferEncoding, truncated: bool) -> Vec<u8> {
    match encoding {
        TransferEncoding::Identity => bytes.to_vec(),
        TransferEncoding::Base64 => {
            // Only the alphabet and padding count: line breaks, spaces and stray bytes are
            // skipped, as RFC 2045 asks of decoders.
            let mut clean: Vec<u8> = bytes
                .iter()
                .copied()
                .filter(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
                .collect();
            if truncated {
                // Symbols since the last padding (which completes a quantum) form quanta of
                // four; a partial last one would decode to wrong or missing bytes.
                let since_pad = clean.iter().rev().take_while(|&&b| b != b'=').count();
                clean.truncate(clean.len() - since_pad % 4);
            }
            base64_decode(&clean).unwrap_or_default()
        }
        TransferEncoding::QuotedPrintable => {
            let bytes = if truncated {
                qp_complete_prefix(bytes)
            } else {
                bytes
            };
            quoted_printable_decode(bytes).unwrap_or_else(|| qp_decode_lenient(bytes))
        }
    }
}

/// `bytes` without a trailing incomplete quoted-printable escape: `=`, `=X`, or a soft line
/// break cut before its LF (`=`, optional spaces or tabs, optional CR).
fn qp_complete_prefix(bytes: &[u8]) -> &[u8] {
    // An escape or soft break is at most `=` + a little whitespace + CR: look a short way back.
    let window_start = bytes.len().saturating_sub(80);
    let Some(tail) = bytes.get(window_start..) else {
        return bytes;
    };
    let Some(eq) = tail.iter().rposition(|&b| b == b'=') else {
        return bytes;
    };
    let after = tail.get(eq + 1..).unwrap_or_default();
    let incomplete = match after {
        [] => true,
        [h] => h.is_ascii_hexdigit(),
        _ => after
            .strip_suffix(b"\r")
            .unwrap_or(after)
            .iter()
            .all(|&b| b == b' ' || b == b'\t'),
    };
    if incomplete {
        bytes.get(..window_start + eq).unwrap_or(bytes)
    } else {
        bytes
    }
}

/// Quoted-printable for input mail-parser refuses (a bare `=` not followed by hex digits, as
/// some senders write): valid escapes and soft line breaks are decoded, any other `=` is
/// kept as it is.
fn qp_decode_lenient(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        if let (Some(h), Some(l)) = (hex_value(bytes.get(i + 1)), hex_value(bytes.get(i + 2))) {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        // A soft line break, possibly with trailing whitespace before it.
        let mut j = i + 1;
        while matches!(bytes.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if bytes.get(j) == Some(&b'\r') {
            j += 1;
        }
        match bytes.get(j) {
            Some(b'\n') => i = j + 1,
            None => i = j,
            Some(_) => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// How truncation is handled for a charset.
enum Charset {
    /// UTF-8 itself, and every charset mail-parser does not know.
    Utf8,
    /// ISO-2022-JP: stateful, cut only where the escape sequences and pairs are whole.
    Iso2022Jp(fn(&[u8]) -> String),
    /// Any other charset mail-parser decodes: a cut character shows as a final U+FFFD.
    Other(fn(&[u8]) -> String),
}

impl Charset {
    fn of(name: Option<&str>) -> Self {
        let Some(name) = name.map(|n| n.trim().trim_matches(|c| c == '"' || c == '\'')) else {
            return Self::Utf8;
        };
        let folded = name.to_ascii_lowercase().replace('_', "-");
        // mail-parser knows iso-2022-jp only by its exact names; its extensions (-1, -2,
        // -3, -2004) are supersets that share the escape structure.
        let iso2022jp = folded == "csiso2022jp" || folded.starts_with("iso-2022-jp");
        let lookup = if iso2022jp { "iso-2022-jp" } else { name };
        match charset_decoder(lookup.as_bytes()) {
            Some(decoder) if iso2022jp => Self::Iso2022Jp(decoder),
            Some(decoder) => Self::Other(decoder),
            None => Self::Utf8,
        }
    }
}

/// Decodes `bytes` in `charset`; with `truncated`, a cut UTF-8 or ISO-2022-JP tail is dropped
/// first (other charsets show one as a final U+FFFD).
fn charset_decode(bytes: &[u8], charset: Option<&str>, truncated: bool) -> String {
    match Charset::of(charset) {
        Charset::Utf8 => {
            let bytes = if truncated {
                utf8_complete_prefix(bytes)
            } else {
                bytes
            };
            String::from_utf8_lossy(bytes).into_owned()
        }
        Charset::Iso2022Jp(decode) => {
            let bytes = if truncated {
                iso2022jp_complete_prefix(bytes)
            } else {
                bytes
            };
            decode(bytes)
        }
        // A character cut short decodes to a final U+FFFD, which the caller drops.
        Charset::Other(decode) => decode(bytes),
    }
}

/// `bytes` without a trailing incomplete UTF-8 sequence (a lead byte followed by fewer
/// continuation bytes than it announces). Invalid bytes elsewhere are left for lossy decoding.
fn utf8_complete_prefix(bytes: &[u8]) -> &[u8] {
    // Walk back over at most three continuation bytes to the sequence's lead byte.
    for back in 1..=bytes.len().min(4) {
        let i = bytes.len() - back;
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if back < needed {
            bytes.get(..i).unwrap_or(bytes)
        } else {
            bytes
        };
    }
    bytes
}

/// `bytes` cut at the last point where an ISO-2022-JP stream is whole: after a complete
/// escape sequence, a single-byte character, or a complete double-byte pair. The decoder then
/// never sees a partial escape or an odd lead byte, whatever state the stream ends in.
fn iso2022jp_complete_prefix(bytes: &[u8]) -> &[u8] {
    const ESC: u8 = 0x1B;
    let mut i = 0;
    let mut safe = 0;
    let mut double_byte = false;
    while let Some(&b) = bytes.get(i) {
        if b == ESC {
            let (Some(&first), Some(&second)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                break;
            };
            match (first, second) {
                // ASCII, JIS X 0201 Roman, JIS X 0201 Katakana: one byte per character.
                (b'(', b'B' | b'J' | b'I') => {
                    double_byte = false;
                    i += 3;
                }
                // JIS X 0208 (1978 and 1983): two bytes per character.
                (b'$', b'@' | b'B') => {
                    double_byte = true;
                    i += 3;
                }
                // Anything else is invalid: the decoder reports it where it stands.
                _ => i += 1,
            }
        } else if double_byte {
            if bytes.get(i + 1).is_none() {
                break;
            }
            i += 2;
        } else {
            i += 1;
        }
        safe = i;
    }
    bytes.get(..safe).unwrap_or(bytes)
}

/// Line breaks as LF and no byte order mark: what every caller wants of text.
fn finish(text: String) -> String {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text.to_owned()
    }
}
