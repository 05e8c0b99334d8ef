//! Content-Transfer-Encoding decoding for a stream that arrives in arbitrary chunks (IMAP
//! partial fetches cut anywhere: inside a base64 quantum, between `=` and its hex digits,
//! inside a soft line break). The decoder carries at most three bytes from one chunk to the
//! next, and that carry, [`DecoderState`], is all a download needs to persist to continue
//! after a restart: `resume(encoding, state)` followed by the rest of the input decodes
//! exactly as one uninterrupted pass would.
//!
//! Decoding is lenient the way mail readers are (RFC 2045 says to ignore characters outside
//! the base64 alphabet), so `feed` does not fail on malformed input; a broken escape is kept
//! literally instead. A download asks for [`StreamDecoder::strict`] base64 instead, where
//! such bytes mean the server sent something else than the part (garbage, or bytes from
//! the wrong place) and end in `Error::Decode`. It must never allocate more than a small
//! multiple of its input and never panic, whatever the bytes.

use crate::digits::hex_value;
use crate::{Error, Result};

/// The most bytes a decoder carries between chunks (a base64 quantum minus one).
const MAX_CARRY: usize = 3;

/// Marks a byte outside the base64 alphabet in [`BASE64_VALUES`].
const INVALID: u8 = 0xFF;

/// The value of each base64 alphabet byte (RFC 4648 standard alphabet), else [`INVALID`].
const BASE64_VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// A part's Content-Transfer-Encoding, as far as decoding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit`, `8bit`, `binary`, and anything unknown: the bytes are the content.
    Identity,
    Base64,
    QuotedPrintable,
}

impl TransferEncoding {
    /// From the encoding name BODYSTRUCTURE gives (the store keeps it lowercase; case and
    /// surrounding blanks are ignored anyway). Unknown names decode as [`Identity`].
    ///
    /// [`Identity`]: TransferEncoding::Identity
    pub fn from_name(name: &str) -> TransferEncoding {
        let name = name.trim();
        if name.eq_ignore_ascii_case("base64") {
            TransferEncoding::Base64
        } else if name.eq_ignore_ascii_case("quoted-printable") {
            TransferEncoding::QuotedPrintable
        } else {
            TransferEncoding::Identity
        }
    }
}

/// What a [`StreamDecoder`] carries between chunks: the input bytes it has read but could not
/// decode yet (at most three). Small and plain, so it can be stored next to the encoded
/// offset after every chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecoderState {
    bytes: [u8; MAX_CARRY],
    len: u8,
}

impl DecoderState {
    /// The carried bytes, for storing.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// The carried bytes as an owned value, for storing.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// A state read back from storage. Fails when it cannot be one (too long); whether it
    /// fits an encoding is checked by [`StreamDecoder::resume`].
    pub fn from_bytes(stored: &[u8]) -> Result<DecoderState> {
        if stored.len() > MAX_CARRY {
            return Err(Error::CannotResume {
                reason: "the saved decoder state is too long",
            });
        }
        let mut state = DecoderState::default();
        for &byte in stored {
            state.push(byte);
        }
        Ok(state)
    }

    /// Appends a byte; callers never carry more than [`MAX_CARRY`] (checked by the decoders'
    /// state machines), and an excess byte would be dropped rather than panic.
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(usize::from(self.len)) {
            *slot = byte;
            self.len += 1;
        }
    }
}

/// Where a quoted-printable decoder stands between two input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qp {
    /// Plain text.
    Text,
    /// After `=`.
    Eq,
    /// After `=` and one hex digit.
    EqHex(u8),
    /// After `=` and blanks (transport padding before a soft line break).
    EqBlank,
    /// After `=` (and maybe blanks) and CR: a soft line break, unless an LF follows.
    EqCr,
}

/// The decoder's position, per encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    Identity,
    /// Up to three base64 alphabet characters of an incomplete quantum.
    Base64 {
        chars: [u8; MAX_CARRY],
        len: u8,
    },
    QuotedPrintable(Qp),
}

/// Decodes one part's transfer encoding from input fed in chunks of any size.
#[derive(Debug, Clone)]
pub struct StreamDecoder {
    encoding: TransferEncoding,
    carry: Carry,
    /// Base64 refuses what it would otherwise skip (see [`StreamDecoder::strict`]).
    strict: bool,
}

/// What strict base64 refuses: a byte outside the alphabet that is not a line break or blank.
const NOT_BASE64: Error = Error::Decode {
    reason: "the base64 content has bytes outside its alphabet",
};
/// What strict base64 refuses: a quantum of one character (six bits cannot make a byte).
const CUT_BASE64: Error = Error::Decode {
    reason: "the base64 content ends inside a character",
};

impl StreamDecoder {
    /// A decoder at the start of the content.
    pub fn new(encoding: TransferEncoding) -> StreamDecoder {
        let carry = match encoding {
            TransferEncoding::Identity => Carry::Identity,
            TransferEncoding::Base64 => Carry::Base64 {
                chars: [0; MAX_CARRY],
                len: 0,
            },
            TransferEncoding::QuotedPrintable => Carry::QuotedPrintable(Qp::Text),
        };
        StreamDecoder {
            encoding,
            carry,
            strict: false,
        }
    }

    /// The same decoder, strict about base64: a byte outside the alphabet other than CR,
    /// LF, space, tab and `=` fails `feed`, and a lone character before a `=` or at the end
    /// fails `feed` or `finish`, with `Error::Decode` (nothing is carried over from the
    /// failed call). Lenient decoding would turn such input into wrong bytes without a word.
    /// Other encodings are unchanged. Strictness is not part of the saved state: set it
    /// again after [`resume`](StreamDecoder::resume).
    pub fn strict(mut self) -> StreamDecoder {
        self.strict = true;
        self
    }

    /// A decoder continuing from a saved [`state`](StreamDecoder::state). Fails with
    /// `CannotResume` when the state could not have come from a decoder for `encoding`.
    pub fn resume(encoding: TransferEncoding, state: &DecoderState) -> Result<StreamDecoder> {
        let unusable = Error::CannotResume {
            reason: "the saved decoder state does not fit the part's encoding",
        };
        let carry = match (encoding, state.as_bytes()) {
            (TransferEncoding::Identity, []) => Carry::Identity,
            (TransferEncoding::Base64, carried) => {
                if carried.iter().any(|&b| base64_value(b).is_none()) {
                    return Err(unusable);
                }
                let mut chars = [0; MAX_CARRY];
                chars
                    .get_mut(..carried.len())
                    .ok_or(Error::CannotResume {
                        reason: "the saved decoder state is too long",
                    })?
                    .copy_from_slice(carried);
                Carry::Base64 {
                    chars,
                    len: state.len,
                }
            }
            (TransferEncoding::QuotedPrintable, carried) => Carry::QuotedPrintable(match carried {
                [] => Qp::Text,
                [b'='] => Qp::Eq,
                [b'=', h] if hex_value(*h).is_some() => Qp::EqHex(*h),
                [b'=', b' '] => Qp::EqBlank,
                [b'=', b'\r'] => Qp::EqCr,
                _ => return Err(unusable),
            }),
            _ => return Err(unusable),
        };
        Ok(StreamDecoder {
            encoding,
            carry,
            strict: false,
        })
    }

    /// The encoding this decoder reads.
    pub fn encoding(&self) -> TransferEncoding {
        self.encoding
    }

    /// What to persist to continue later from exactly this point of the input.
    pub fn state(&self) -> DecoderState {
        let mut state = DecoderState::default();
        match self.carry {
            Carry::Identity | Carry::QuotedPrintable(Qp::Text) => {}
            Carry::Base64 { chars, len } => {
                for &c in chars.iter().take(usize::from(len)) {
                    state.push(c);
                }
            }
            Carry::QuotedPrintable(qp) => {
                state.push(b'=');
                match qp {
                    Qp::EqHex(h) => state.push(h),
                    Qp::EqBlank => state.push(b' '),
                    Qp::EqCr => state.push(b'\r'),
                    Qp::Text | Qp::Eq => {}
                }
            }
        }
        state
    }

    /// Decodes `input` (the next bytes of the encoded content) and appends the result to
    /// `out`. Bytes that cannot be decoded yet are carried to the next call.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match &mut self.carry {
            Carry::Identity => out.extend_from_slice(input),
            Carry::Base64 { chars, len } => base64_feed(chars, len, input, out, self.strict)?,
            Carry::QuotedPrintable(qp) => *qp = qp_feed(*qp, input, out),
        }
        Ok(())
    }

    /// Ends the content: decodes what is carried (an unpadded base64 tail, a broken `=X`
    /// escape kept literally) and returns the decoder to the start state.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        match &mut self.carry {
            Carry::Identity => {}
            Carry::Base64 { chars, len } => {
                if self.strict && *len == 1 {
                    return Err(CUT_BASE64);
                }
                base64_flush(chars, usize::from(*len), out);
                *len = 0;
            }
            Carry::QuotedPrintable(qp) => {
                // A trailing `=` (with blanks or CR) is a soft break at the end: nothing.
                if let Qp::EqHex(h) = *qp {
                    out.extend_from_slice(&[b'=', h]);
                }
                *qp = Qp::Text;
            }
        }
        Ok(())
    }
}

fn base64_value(byte: u8) -> Option<u8> {
    match BASE64_VALUES[usize::from(byte)] {
        INVALID => None,
        value => Some(value),
    }
}

/// Base64: characters outside the alphabet (line breaks, blanks, junk) are skipped; `=`
/// ends the current quantum, so concatenated encodings decode too. `strict` refuses junk
/// and one-character quanta instead; the carry is then left as it was before the call.
fn base64_feed(
    chars: &mut [u8; MAX_CARRY],
    len: &mut u8,
    input: &[u8],
    out: &mut Vec<u8>,
    strict: bool,
) -> Result<()> {
    out.reserve(input.len() / 4 * 3 + MAX_CARRY);
    let mut quantum = [0u8; 4];
    let mut n = usize::from(*len);
    for (slot, &c) in quantum.iter_mut().zip(chars.iter()).take(n) {
        *slot = c;
    }
    for &byte in input {
        if byte == b'=' {
            if strict && n == 1 {
                return Err(CUT_BASE64);
            }
            base64_flush(&quantum, n, out);
            n = 0;
        } else if base64_value(byte).is_some() {
            if let Some(slot) = quantum.get_mut(n) {
                *slot = byte;
                n += 1;
            }
            if n == 4 {
                base64_flush(&quantum, 4, out);
                n = 0;
            }
        } else if strict && !matches!(byte, b'\r' | b'\n' | b' ' | b'\t') {
            return Err(NOT_BASE64);
        }
    }
    for (c, &q) in chars.iter_mut().zip(quantum.iter()).take(n) {
        *c = q;
    }
    // n < 4 here: a full quantum is flushed as soon as it completes.
    *len = n.min(MAX_CARRY) as u8;
    Ok(())
}

/// Decodes the first `n` characters of a quantum: 4 → 3 bytes, 3 → 2, 2 → 1, 1 → nothing
/// (six bits cannot make a byte).
fn base64_flush(quantum: &[u8], n: usize, out: &mut Vec<u8>) {
    let v = |i: usize| {
        quantum
            .get(i)
            .and_then(|&c| base64_value(c))
            .map_or(0u32, u32::from)
    };
    let bits = (v(0) << 18) | (v(1) << 12) | (v(2) << 6) | v(3);
    let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
    let keep = match n {
        4 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    };
    out.extend_from_slice(bytes.get(..keep).unwrap_or_default());
}

/// Quoted-printable: `=XX` escapes (either case), soft line breaks (`=` CRLF or `=` LF, with
/// optional blanks before the break); hard line breaks pass through as they are (CRLF stays
/// CRLF). A broken escape is kept literally.
fn qp_feed(mut qp: Qp, input: &[u8], out: &mut Vec<u8>) -> Qp {
    out.reserve(input.len());
    let mut rest = input;
    while !rest.is_empty() {
        if qp == Qp::Text {
            // Fast path: copy up to the next `=`.
            match rest.iter().position(|&b| b == b'=') {
                Some(at) => {
                    out.extend_from_slice(rest.get(..at).unwrap_or_default());
                    qp = Qp::Eq;
                    rest = rest.get(at + 1..).unwrap_or_default();
                }
                None => {
                    out.extend_from_slice(rest);
                    rest = &[];
                }
            }
            continue;
        }
        let Some((&c, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        qp = qp_step(qp, c, out);
    }
    qp
}

/// One byte after an `=`.
fn qp_step(qp: Qp, c: u8, out: &mut Vec<u8>) -> Qp {
    match qp {
        Qp::Text => qp_text(c, out),
        Qp::Eq if hex_value(c).is_some() => Qp::EqHex(c),
        Qp::Eq | Qp::EqBlank if c == b' ' || c == b'\t' => Qp::EqBlank,
        Qp::Eq | Qp::EqBlank if c == b'\r' => Qp::EqCr,
        Qp::Eq | Qp::EqBlank if c == b'\n' => Qp::Text,
        Qp::Eq => {
            out.push(b'=');
            qp_text(c, out)
        }
        Qp::EqBlank => {
            out.extend_from_slice(b"= ");
            qp_text(c, out)
        }
        Qp::EqHex(h) => match (hex_value(h), hex_value(c)) {
            (Some(hi), Some(lo)) => {
                out.push((hi << 4) | lo);
                Qp::Text
            }
            _ => {
                out.extend_from_slice(&[b'=', h]);
                qp_text(c, out)
            }
        },
        // `=` CR LF is the soft break; a CR alone after `=` counts as one too.
        Qp::EqCr if c == b'\n' => Qp::Text,
        Qp::EqCr => qp_text(c, out),
    }
}

/// A byte in plain text.
fn qp_text(c: u8, out: &mut Vec<u8>) -> Qp {
    if c == b'=' {
        Qp::Eq
    } else {
        out.push(c);
        Qp::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoding: TransferEncoding, input: &[u8]) -> Vec<u8> {
        let mut decoder = StreamDecoder::new(encoding);
        let mut out = Vec::new();
        decoder.feed(input, &mut out).unwrap();
        decoder.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn encoding_names() {
        assert_eq!(
            TransferEncoding::from_name("base64"),
            TransferEncoding::Base64
        );
        assert_eq!(
            TransferEncoding::from_name(" BASE64 "),
            TransferEncoding::Base64
        );
        let qp = TransferEncoding::from_name("quoted-printable");
        assert_eq!(qp, TransferEncoding::QuotedPrintable);
        for other in ["7bit", "8bit", "binary", "x-uuencode", ""] {
            assert_eq!(
                TransferEncoding::from_name(other),
                TransferEncoding::Identity
            );
        }
    }

    #[test]
    fn base64_skips_line_breaks_and_junk() {
        let b64 = TransferEncoding::Base64;
        assert_eq!(decode(b64, b"SGVs\r\nbG8g\r\nd29y bGQ="), b"Hello world");
        assert_eq!(decode(b64, b"SGVsbG8*!gd29ybGQ"), b"Hello world");
        // Concatenated encodings, each padded.
        assert_eq!(decode(b64, b"QQ==QkM="), b"ABC");
        // A lone sixth bit at the end is dropped.
        assert_eq!(decode(b64, b"QUJDR"), b"ABC");
    }

    #[test]
    fn quoted_printable_escapes_and_soft_breaks() {
        let qp = TransferEncoding::QuotedPrintable;
        assert_eq!(
            decode(qp, b"caf=C3=A9 =\r\nbar\r\nnext"),
            "café bar\r\nnext".as_bytes()
        );
        assert_eq!(decode(qp, b"lower=c3=a9"), "loweré".as_bytes());
        assert_eq!(decode(qp, b"soft=  \r\nbreak= \t\nhere="), b"softbreakhere");
        assert_eq!(decode(qp, b"bare LF\nstays"), b"bare LF\nstays");
        // Broken escapes stay literal.
        assert_eq!(decode(qp, b"a=G1 b=4"), b"a=G1 b=4");
        assert_eq!(decode(qp, b"x==41"), b"x=A");
        assert_eq!(decode(qp, b"= x"), b"= x");
    }

    #[test]
    fn states_round_trip_and_are_checked_against_the_encoding() {
        let mut decoder = StreamDecoder::new(TransferEncoding::QuotedPrintable);
        let mut out = Vec::new();
        decoder.feed(b"ab=C", &mut out).unwrap();
        let state = decoder.state();
        assert_eq!(state.as_bytes(), b"=C");
        let restored = DecoderState::from_bytes(&state.to_bytes()).unwrap();
        let mut resumed =
            StreamDecoder::resume(TransferEncoding::QuotedPrintable, &restored).unwrap();
        resumed.feed(b"3=A9", &mut out).unwrap();
        resumed.finish(&mut out).unwrap();
        assert_eq!(out, "abé".as_bytes());

        let base64_tail = DecoderState::from_bytes(b"QQ").unwrap();
        let identity = TransferEncoding::Identity;
        assert!(StreamDecoder::resume(TransferEncoding::Base64, &base64_tail).is_ok());
        assert!(matches!(
            StreamDecoder::resume(TransferEncoding::QuotedPrintable, &base64_tail),
            Err(Error::CannotResume { .. })
        ));
        assert!(StreamDecoder::resume(identity, &base64_tail).is_err());
        let qp_tail = DecoderState::from_bytes(b"=").unwrap();
        assert!(StreamDecoder::resume(TransferEncoding::Base64, &qp_tail).is_err());
        assert!(DecoderState::from_bytes(b"ABCD").is_err());
        assert!(StreamDecoder::resume(identity, &DecoderState::default()).is_ok());
    }

    #[test]
    fn finish_resets_the_decoder() {
        let mut decoder = StreamDecoder::new(TransferEncoding::Base64);
        let mut out = Vec::new();
        decoder.feed(b"QUJ", &mut out).unwrap();
        decoder.finish(&mut out).unwrap();
        assert_eq!(decoder.state(), DecoderState::default());
        assert_eq!(out, b"AB");
    }

    #[test]
    fn strict_base64_refuses_garbage_and_cut_characters() {
        let strict = || StreamDecoder::new(TransferEncoding::Base64).strict();
        // Line breaks, blanks, padding and concatenated encodings are fine.
        let mut decoder = strict();
        let mut out = Vec::new();
        decoder.feed(b"QUJD\r\nRA==\r\n", &mut out).unwrap();
        decoder.feed(b" QQ==\tRUY=", &mut out).unwrap();
        decoder.finish(&mut out).unwrap();
        assert_eq!(out, b"ABCDAEF");

        let junk = b"QUJD%PDF-1.7\r\n";
        let mut lenient = StreamDecoder::new(TransferEncoding::Base64);
        assert!(lenient.feed(junk, &mut Vec::new()).is_ok());
        let mut decoder = strict();
        decoder.feed(b"QU", &mut Vec::new()).unwrap();
        let err = decoder.feed(junk, &mut Vec::new());
        assert!(matches!(err, Err(Error::Decode { .. })), "{err:?}");
        // The carry is as it was before the failed call.
        assert_eq!(decoder.state().as_bytes(), b"QU");

        let mut decoder = strict();
        let err = decoder.feed(b"QUJDR=", &mut Vec::new());
        assert!(matches!(err, Err(Error::Decode { .. })), "{err:?}");
        let mut decoder = strict();
        decoder.feed(b"QUJDR", &mut Vec::new()).unwrap();
        let err = decoder.finish(&mut Vec::new());
        assert!(matches!(err, Err(Error::Decode { .. })), "{err:?}");

        // Strictness is not saved: a resumed decoder is lenient unless asked again.
        let state = DecoderState::from_bytes(b"Q").unwrap();
        let resumed = StreamDecoder::resume(TransferEncoding::Base64, &state).unwrap();
        assert!(resumed.clone().finish(&mut Vec::new()).is_ok());
        assert!(resumed.strict().finish(&mut Vec::new()).is_err());
        // Other encodings are unchanged.
        let mut qp = StreamDecoder::new(TransferEncoding::QuotedPrintable).strict();
        let mut out = Vec::new();
        qp.feed(b"caf=C3=A9 %", &mut out).unwrap();
        qp.finish(&mut out).unwrap();
        assert_eq!(out, "café %".as_bytes());
    }
}
