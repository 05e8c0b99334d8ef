//! Tests for part decoding and snippets from truncated parts: every charset and transfer
//! encoding cut at every byte offset, and the property that a snippet from a fetched prefix
//! equals the snippet from the whole part whenever the prefix holds enough text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use encoding_rs::{BIG5, EUC_KR, Encoding, GBK, ISO_2022_JP, SHIFT_JIS, UTF_8};

use super::*;

const ENGLISH: &str = "Hello team, the quarterly report is attached. Please review the numbers \
    before Friday's meeting; we need to agree on the budget for the next phase. \
    Thanks a lot, and have a great week!\n";
const CHINESE: &str = "你好， 团队。 季度报告 已经附上。 请在 星期五 会议之前 审阅 这些数字， \
    我们 需要 就 下一阶段的 预算 达成一致。 非常感谢！ 祝 大家 一周 愉快。\n";
const TRADITIONAL: &str = "你好， 團隊。 季度報告 已經附上。 請在 星期五 會議之前 審閱 這些數字， \
    我們 需要 就 下一階段的 預算 達成一致。 非常感謝！\n";
const JAPANESE: &str = "こんにちは、 チームの皆さん。 四半期報告書を 添付しました。 金曜日の 会議の前に \
    数字を ご確認ください。 次の段階の 予算に ついて 合意する 必要が あります。 カタカナ もどうぞ。\n";
const KOREAN: &str = "안녕하세요 팀 여러분. 분기 보고서를 첨부했습니다. 금요일 회의 전에 \
    숫자를 검토해 주세요. 다음 단계의 예산에 대해 합의해야 합니다. 감사합니다!\n";
const EMOJI: &str = "Grüße aus Köln — ça va? 😀 Ελληνικά, русский текст, עברית, 日本語 and more.\n";

/// (charset label, encoder, a text it can encode).
fn charsets() -> Vec<(&'static str, &'static Encoding, String)> {
    let long = |s: &str| format!("{ENGLISH}{s}{ENGLISH}{s}{s}{ENGLISH}");
    vec![
        ("utf-8", UTF_8, long(&format!("{EMOJI}{CHINESE}{KOREAN}"))),
        ("gbk", GBK, long(CHINESE)),
        ("Shift_JIS", SHIFT_JIS, long(JAPANESE)),
        ("iso-2022-jp", ISO_2022_JP, long(JAPANESE)),
        ("big5", BIG5, long(TRADITIONAL)),
        ("euc-kr", EUC_KR, long(KOREAN)),
    ]
}

/// `text` in `encoding`, which must be able to encode it, with CRLF line ends.
fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let text = text.replace('\n', "\r\n");
    let (bytes, _, had_errors) = encoding.encode(&text);
    assert!(!had_errors, "{} cannot encode the sample", encoding.name());
    bytes.into_owned()
}

/// Base64 in lines of 76 characters with CRLF, as MIME writers do.
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(bytes);
    let mut out = Vec::new();
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Quoted-printable with soft line breaks at 76 characters; hard line breaks stay CRLF.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line_len = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            line_len = 0;
            i += 2;
            continue;
        }
        let token = if (b' '..=b'~').contains(&b) && b != b'=' {
            vec![b]
        } else {
            format!("={b:02X}").into_bytes()
        };
        if line_len + token.len() > 75 {
            out.extend_from_slice(b"=\r\n");
            line_len = 0;
        }
        line_len += token.len();
        out.extend_from_slice(&token);
        i += 1;
    }
    out
}

fn transfer_encode(encoding: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    match encoding {
        Some("base64") => base64_lines(bytes),
        Some("quoted-printable") => quoted_printable(bytes),
        _ => bytes.to_vec(),
    }
}

const ENCODINGS: [Option<&str>; 4] = [None, Some("8bit"), Some("base64"), Some("quoted-printable")];

#[test]
fn decodes_whole_parts_in_every_charset_and_encoding() {
    for (charset, encoder, text) in charsets() {
        let raw = encode(encoder, &text);
        for encoding in ENCODINGS {
            let part = transfer_encode(encoding, &raw);
            assert_eq!(
                decode_part_text(&part, encoding, Some(charset)),
                text,
                "{charset} {encoding:?}"
            );
        }
    }
}

#[test]
fn decodes_labels_loosely_and_unknown_charsets_as_utf8() {
    assert_eq!(
        decode_part_text(b"caf\xe9", None, Some("ISO-8859-1")),
        "café"
    );
    assert_eq!(
        decode_part_text(b"caf\xe9", None, Some("\"latin1\"")),
        "café"
    );
    assert_eq!(
        decode_part_text("café".as_bytes(), None, Some("x-unknown")),
        "café"
    );
    assert_eq!(decode_part_text(b"caf\xe9", None, None), "caf\u{FFFD}");
    assert_eq!(
        decode_part_text(b"\xef\xbb\xbfBOM", None, Some("utf-8")),
        "BOM"
    );
    assert_eq!(decode_part_text(b"a\r\nb", Some("7bit"), None), "a\nb");
    assert_eq!(decode_part_text(b"", Some("base64"), Some("gbk")), "");
}

#[test]
fn tolerates_malformed_transfer_encodings() {
    // Stray characters in base64 are skipped.
    assert_eq!(
        decode_part_text(b"SGVs!bG8*\r\n", Some("base64"), None),
        "Hello"
    );
    // A bare `=` that mail-parser rejects is kept.
    assert_eq!(
        decode_part_text(
            b"1+1=2 =C3=A9t=C3=A9 soft=\r\nbreak",
            Some("quoted-printable"),
            None
        ),
        "1+1=2 été softbreak"
    );
    assert_eq!(
        decode_part_text(b"a==b", Some("Quoted-Printable"), None),
        "a==b"
    );
}

#[test]
fn iso_2022_jp_extensions_use_the_same_decoder() {
    let raw = encode(ISO_2022_JP, "日本語 text");
    assert_eq!(
        decode_part_text(&raw, None, Some("ISO-2022-JP-2")),
        "日本語 text"
    );
    assert_eq!(
        decode_part_text(&raw, None, Some("csISO2022JP")),
        "日本語 text"
    );
}

/// Checks `decode_truncated_text` on every prefix of `part`: no panic, no U+FFFD at the end,
/// always a prefix of the whole text, never shorter than a smaller cut, and whole at the end.
fn check_every_cut(part: &[u8], encoding: Option<&str>, charset: &str, full: &str) {
    let mut previous = 0;
    for cut in 0..=part.len() {
        let prefix = part.get(..cut).unwrap_or_default();
        let text = decode_truncated_text(prefix, encoding, Some(charset));
        let context = format!("{charset} {encoding:?} cut at {cut}: {text:?}");
        assert!(!text.ends_with('\u{FFFD}'), "{context}");
        assert!(full.starts_with(&text), "{context}");
        assert!(text.len() >= previous, "{context} shrank");
        previous = text.len();
    }
    assert_eq!(decode_truncated_text(part, encoding, Some(charset)), full);
}

#[test]
fn every_cut_of_every_charset_and_encoding_decodes_to_a_prefix() {
    for (charset, encoder, text) in charsets() {
        let raw = encode(encoder, &text);
        for encoding in ENCODINGS {
            let part = transfer_encode(encoding, &raw);
            check_every_cut(&part, encoding, charset, &text);
        }
    }
}

#[test]
fn base64_cut_mid_quantum_and_mid_line() {
    let part = base64_lines(b"Hello, world! This line is long enough to wrap the base64 output.");
    let full = decode_part_text(&part, Some("base64"), None);
    for cut in 0..=part.len() {
        let text = decode_truncated_text(part.get(..cut).unwrap_or_default(), Some("base64"), None);
        let symbols = part
            .get(..cut)
            .unwrap_or_default()
            .iter()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            .count();
        // Exactly the whole quanta received (padding completes the last one), no more.
        assert_eq!(
            text.len(),
            (symbols / 4 * 3).min(full.len()),
            "cut at {cut}"
        );
    }
}

#[test]
fn quoted_printable_cut_inside_escapes_and_soft_breaks() {
    let qp = b"caf=C3=A9 au lait, tr=C3=A8s bon=\r\n et =E2=82=AC=\r\n5\r\nnext line  \r\nend";
    let full = decode_part_text(qp, Some("quoted-printable"), Some("utf-8"));
    assert_eq!(full, "café au lait, très bon et €5\nnext line\nend");
    for cut in 0..=qp.len() {
        let text = decode_truncated_text(&qp[..cut], Some("quoted-printable"), Some("utf-8"));
        assert!(!text.contains('='), "cut at {cut}: {text:?}");
        assert!(!text.ends_with('\u{FFFD}'), "cut at {cut}: {text:?}");
        // Trailing spaces of a line are only removed once its line break is seen.
        let trimmed = text.trim_end_matches(' ');
        assert!(full.starts_with(trimmed), "cut at {cut}: {text:?}");
    }
    assert_eq!(
        decode_truncated_text(b"ab=", Some("quoted-printable"), None),
        "ab"
    );
    assert_eq!(
        decode_truncated_text(b"ab=4", Some("quoted-printable"), None),
        "ab"
    );
    assert_eq!(
        decode_truncated_text(b"ab=\r", Some("quoted-printable"), None),
        "ab"
    );
    assert_eq!(
        decode_truncated_text(b"ab= \t", Some("quoted-printable"), None),
        "ab"
    );
    assert_eq!(
        decode_truncated_text(b"ab=41", Some("quoted-printable"), None),
        "abA"
    );
}

#[test]
fn iso_2022_jp_cut_inside_escape_sequences_and_pairs() {
    // JIS X 0208, ASCII, JIS X 0201 katakana (which encoding_rs never writes), JIS X 0208.
    let raw = b"abc\x1b$BF|K\\\x1b(Bxyz\x1b(I\x36\x40\x1b$B8l\x1b(B";
    let full = decode_part_text(raw, None, Some("iso-2022-jp"));
    assert_eq!(full, "abc日本xyzｶﾀ語");
    let mut seen = Vec::new();
    for cut in 0..=raw.len() {
        let text = decode_truncated_text(&raw[..cut], None, Some("iso-2022-jp"));
        assert!(!text.contains('\u{FFFD}'), "cut at {cut}: {text:?}");
        assert!(full.starts_with(&text), "cut at {cut}: {text:?}");
        seen.push(text);
    }
    // Every character shows up as soon as its bytes are complete.
    for expected in [
        "abc",
        "abc日",
        "abc日本",
        "abc日本xyz",
        "abc日本xyzｶ",
        "abc日本xyzｶﾀ語",
    ] {
        assert!(
            seen.iter().any(|t| t == expected),
            "{expected} never decoded"
        );
    }
}

#[test]
fn utf8_cut_at_every_byte_of_every_width() {
    let text = "a\u{e9}\u{20ac}\u{1F600}z";
    for cut in 0..=text.len() {
        let got = decode_truncated_text(&text.as_bytes()[..cut], None, Some("UTF-8"));
        let expected: String = text
            .char_indices()
            .take_while(|(i, c)| i + c.len_utf8() <= cut)
            .map(|(_, c)| c)
            .collect();
        assert_eq!(got, expected, "cut at {cut}");
    }
    // Invalid bytes before the cut stay visible as U+FFFD.
    assert_eq!(
        decode_truncated_text(b"a\xffb\xe2\x82", None, None),
        "a\u{FFFD}b"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let labels = [
        None,
        Some("utf-8"),
        Some("gbk"),
        Some("shift_jis"),
        Some("iso-2022-jp"),
    ];
    for round in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                let b = (seed >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
                // Mostly the bytes the decoders care about.
                match b % 8 {
                    0 => b'=',
                    1 => 0x1B,
                    2 => b'<',
                    3 => b'&',
                    _ => b,
                }
            })
            .collect();
        let encoding = ENCODINGS[round % ENCODINGS.len()];
        let charset = labels[round % labels.len()];
        let _ = decode_part_text(&bytes, encoding, charset);
        let text = decode_truncated_text(&bytes, encoding, charset);
        assert!(!text.ends_with('\u{FFFD}'));
        let _ = html_to_text(&String::from_utf8_lossy(&bytes));
        for truncated in [false, true] {
            for mime in ["text/plain", "text/html"] {
                let s = snippet_from_part(&bytes, truncated, mime, encoding, charset, 40);
                assert!(s.chars().count() <= 40);
            }
        }
    }
}

#[test]
fn html_only_message_to_text() {
    let html = "<!DOCTYPE html><html><head><meta charset=\"iso-8859-1\"><style>body{}</style>\
                </head><body><div>Caf\u{e9} menu&nbsp;&amp; prices</div><p>Soup: 5&euro;</p>\
                <blockquote>old message</blockquote></body></html>";
    let (raw, _, _) = encoding_rs::WINDOWS_1252.encode(html);
    let part = quoted_printable(&raw);
    let text = html_to_text(&decode_part_text(
        &part,
        Some("quoted-printable"),
        Some("iso-8859-1"),
    ));
    assert_eq!(text, "Café menu\u{a0}& prices\n\nSoup: 5€\n\n> old message");
    assert_eq!(
        snippet_from_part(
            &part,
            false,
            "text/html",
            Some("quoted-printable"),
            Some("iso-8859-1"),
            100
        ),
        "Café menu & prices Soup: 5€"
    );
}

/// A long message with paragraphs, a quote and a signature, as plain text and as HTML.
fn long_message(body: &str) -> (String, String) {
    let plain = format!(
        "Hi Alice,\n\n{body}\nOn Monday you wrote:\n> an old line\n> another\n\n{body}\n-- \nBob\n"
    );
    let paragraphs: String = body
        .lines()
        .map(|line| format!("<p>{line}</p>\r\n"))
        .collect();
    let html = format!(
        "<html><head><style>p {{ margin: 0 }}</style></head><body>\
         <div>Hi Alice,</div>{paragraphs}<blockquote>an old line<br>another</blockquote>\
         {paragraphs}<div>-- <br>Bob</div></body></html>"
    );
    (plain, html)
}

#[test]
fn snippet_from_a_prefix_matches_the_snippet_of_the_whole_part() {
    for (charset, encoder, body) in charsets() {
        let (plain, html) = long_message(&body);
        for (mime_type, text) in [("text/plain", plain), ("text/html", html)] {
            let raw = encode(encoder, &text);
            for encoding in ENCODINGS {
                let part = transfer_encode(encoding, &raw);
                let full = decode_part_text(&part, encoding, Some(charset));
                for (round, max) in [1, 40, 100, 200].into_iter().enumerate() {
                    let expected =
                        snippet_from_part(&part, false, mime_type, encoding, Some(charset), max);
                    let from_text = if mime_type == "text/html" {
                        snippet(&html_to_text(&full), max)
                    } else {
                        snippet(&full, max)
                    };
                    assert_eq!(expected, from_text);
                    assert!(expected.chars().count() <= max);
                    let mut matched = 0;
                    // Every fifth cut, a different fifth for each `max`, up to a bit more than the
                    // engine's default fetch.
                    let cuts = (round..=part.len().min(1200)).step_by(5);
                    for cut in cuts {
                        let prefix = part.get(..cut).unwrap_or_default();
                        let got = snippet_from_part(
                            prefix,
                            true,
                            mime_type,
                            encoding,
                            Some(charset),
                            max,
                        );
                        assert!(got.chars().count() <= max);
                        // Enough text arrived when more than `max` characters of it would be
                        // shown without a length limit.
                        let decoded = decode_truncated_text(prefix, encoding, Some(charset));
                        let available = if mime_type == "text/html" {
                            snippet(&html_to_text(&decoded), usize::MAX)
                        } else {
                            snippet(&decoded, usize::MAX)
                        };
                        if available.chars().count() > max {
                            let context =
                                format!("{charset} {mime_type} {encoding:?} max {max} cut {cut}");
                            assert_eq!(got, expected, "{context}");
                            matched += 1;
                        } else {
                            // Too little text yet: a prefix of the final snippet, never more.
                            assert!(expected.starts_with(&got), "{got:?} vs {expected:?}");
                        }
                    }
                    assert!(
                        matched > 0,
                        "{charset} {mime_type} {encoding:?} {max}: no cut had enough text"
                    );
                }
            }
        }
    }
}
