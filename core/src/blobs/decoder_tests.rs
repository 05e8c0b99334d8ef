//! Property tests for the streaming decoder: any input, fed in any chunking, with the state
//! saved to bytes and restored at random points (a restart), decodes exactly as one pass
//! does; and valid encodings decode to the original bytes, agreeing with the `base64` crate
//! and mail-parser's decoders. Seeded, so a failure reproduces.

use base64::Engine as _;

use super::decoder::{DecoderState, StreamDecoder, TransferEncoding};

/// splitmix64: small, seeded, good enough to pick lengths and split points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Bytes biased towards what matters to the decoders: `=`, CR, LF, blanks, hex digits,
    /// base64 characters, and some arbitrary bytes.
    fn tricky(&mut self, len: usize) -> Vec<u8> {
        const INTERESTING: &[u8] = b"==\r\n \t0123456789ABCDEFabcdefQUJD+/xyz";
        (0..len)
            .map(|_| match self.below(4) {
                0 => self.next() as u8,
                _ => INTERESTING[self.below(INTERESTING.len())],
            })
            .collect()
    }
}

fn one_pass(encoding: TransferEncoding, input: &[u8]) -> Vec<u8> {
    let mut decoder = StreamDecoder::new(encoding);
    let mut out = Vec::new();
    decoder.feed(input, &mut out).unwrap();
    decoder.finish(&mut out).unwrap();
    out
}

/// Feeds `input` in random chunks (some empty, some single bytes), saving the state to bytes
/// and resuming a fresh decoder from it at random chunk boundaries.
fn chunked(rng: &mut Rng, encoding: TransferEncoding, input: &[u8]) -> Vec<u8> {
    let mut decoder = StreamDecoder::new(encoding);
    let mut out = Vec::new();
    let mut at = 0;
    while at < input.len() {
        let len = match rng.below(3) {
            0 => rng.below(3),
            1 => rng.below(8),
            _ => rng.below(200),
        };
        let end = (at + len).min(input.len());
        decoder.feed(&input[at..end], &mut out).unwrap();
        at = end;
        if rng.below(3) == 0 {
            let saved = decoder.state().to_bytes();
            let state = DecoderState::from_bytes(&saved).unwrap();
            decoder = StreamDecoder::resume(encoding, &state).unwrap();
        }
    }
    decoder.finish(&mut out).unwrap();
    out
}

/// Base64 with CRLF every 76 characters, as mail sends it.
fn base64_lines(data: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = Vec::new();
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A conforming quoted-printable encoding: CRLF pairs become hard line breaks, printable
/// ASCII stays literal (a blank only when a printable character follows), everything else is
/// `=XX`, and soft breaks keep lines short.
fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = 0;
    let mut i = 0;
    while i < data.len() {
        let byte = data[i];
        if byte == b'\r' && data.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += 2;
            continue;
        }
        let next_printable = data.get(i + 1).is_some_and(|&n| (33..=126).contains(&n));
        let token = match byte {
            b'=' => format!("={byte:02X}"),
            33..=126 => (byte as char).to_string(),
            b' ' if next_printable => " ".to_string(),
            _ => format!("={byte:02X}"),
        };
        if line + token.len() > 73 {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        }
        out.extend_from_slice(token.as_bytes());
        line += token.len();
        i += 1;
    }
    out
}

/// Original content with text-like runs, CRLFs, blanks and binary.
fn content(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(3_000);
    match rng.below(3) {
        0 => rng.bytes(len),
        1 => {
            let text = "Grüße, it's = 100% \r\nfine \t\r\n";
            text.bytes().cycle().skip(rng.below(20)).take(len).collect()
        }
        _ => rng.tricky(len),
    }
}

#[test]
fn any_chunking_with_restarts_equals_one_pass() {
    let mut rng = Rng(0x5EED_0001);
    let encodings = [
        TransferEncoding::Base64,
        TransferEncoding::QuotedPrintable,
        TransferEncoding::Identity,
    ];
    for case in 0..3_000 {
        let encoding = encodings[case % encodings.len()];
        let len = rng.below(600);
        let input = match rng.below(2) {
            0 => rng.tricky(len),
            _ => rng.bytes(len),
        };
        let expected = one_pass(encoding, &input);
        let got = chunked(&mut rng, encoding, &input);
        assert_eq!(got, expected, "case {case}, {encoding:?}, input {input:?}");
    }
}

#[test]
fn base64_decodes_to_the_original_like_the_base64_crate() {
    let mut rng = Rng(0x5EED_0002);
    for case in 0..500 {
        let original = content(&mut rng);
        let encoded = base64_lines(&original);
        let stripped: Vec<u8> = encoded
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let reference = base64::engine::general_purpose::STANDARD
            .decode(&stripped)
            .unwrap();
        assert_eq!(reference, original);
        let via_mail_parser = mail_parser::decoders::base64::base64_decode(&encoded).unwrap();
        assert_eq!(via_mail_parser, original, "case {case}");
        let got = chunked(&mut rng, TransferEncoding::Base64, &encoded);
        assert_eq!(got, original, "case {case}");
    }
}

#[test]
fn quoted_printable_decodes_to_the_original_like_mail_parser() {
    let mut rng = Rng(0x5EED_0003);
    for case in 0..500 {
        let original = content(&mut rng);
        let encoded = quoted_printable(&original);
        let reference = mail_parser::decoders::quoted_printable::quoted_printable_decode(&encoded);
        assert_eq!(reference.as_deref(), Some(&original[..]), "case {case}");
        let got = chunked(&mut rng, TransferEncoding::QuotedPrintable, &encoded);
        assert_eq!(got, original, "case {case}");
    }
}

#[test]
fn output_never_outgrows_the_input() {
    let mut rng = Rng(0x5EED_0004);
    for _ in 0..500 {
        let len = rng.below(1_000);
        let input = rng.tricky(len);
        for encoding in [TransferEncoding::Base64, TransferEncoding::QuotedPrintable] {
            // The longest literal a broken escape leaves is `= x` for `= x`: never longer.
            assert!(one_pass(encoding, &input).len() <= input.len());
        }
    }
}
