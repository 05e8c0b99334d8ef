//! The one-pass encoded-word decoder (`words.rs`) against mail-parser's, which it replaces
//! where it answers: on every line either it declines or both give the same text.

use super::header::{decode_with_mail_parser, unfold};
use super::words::decode_words;
use base64::Engine as _;

fn agree(line: &[u8]) -> bool {
    let slow = decode_with_mail_parser(line.to_vec());
    match decode_words(line) {
        Some(fast) => {
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(line));
            true
        }
        None => false,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn q(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b' ' => "_".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b',' => char::from(b).to_string(),
            _ => format!("={b:02X}"),
        })
        .collect()
}

#[test]
fn well_formed_words_take_the_fast_path_and_agree() {
    let cases: [&[u8]; 24] = [
        b"=?utf-8?B?0J7RgtGH0ZHRgg==?=",
        b"=?UTF-8?b?SGVsbG8=?=",
        b"=?utf-8?B?SGk=?= =?utf-8?B?IHRoZXJl?=",
        b"=?utf-8?Q?caf=C3=A9?=",
        b"=?utf-8?q?caf=c3=a9?=",
        b"Re: =?ISO-8859-1?Q?Caf=E9?= menu",
        b"=?iso-8859-1?Q?R=E9sum=E9?=\t=?iso-8859-1?Q?_final?=",
        b"a=?utf-8?Q?b?=c",
        b"  lead =?utf-8?Q?x?=  trail  ",
        b"=?utf-8?Q?a?==?utf-8?Q?b?=",
        b"=?utf-8*en?Q?with_language?=",
        b"=?koi8-r?B?8NLJ18XU?=",
        b"=?windows-1252?Q?=93quoted=94?=",
        b"=?unknown-charset?Q?plain?=",
        b"=?utf-8?Q??=",
        b"=?utf-8?B??=",
        b"=?utf-8?B?/w==?=",
        b"=?utf-8?Q?=FF=FE?= broken",
        b"text \xff\xfe =?utf-8?Q?x?=",
        b"=?us-ascii?Q?Keith_Moore?= <moore@example.com>",
        b"(=?ISO-8859-1?Q?a?=)",
        b"=?ISO-8859-1?Q?a?= b",
        b"=?ISO-8859-1?Q?a_b?= =?ISO-8859-2?Q?_c?=",
        b"=?utf-8?B?8J+Tpw==?= mail",
    ];
    for line in cases {
        assert!(agree(line), "declined: {:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn malformed_words_are_left_to_mail_parser_or_agree() {
    let cases: [&[u8]; 22] = [
        b"=?",
        b"=?utf-8",
        b"=?utf-8?",
        b"=?utf-8?Q",
        b"=?utf-8?Q?",
        b"=?utf-8?Q?abc",
        b"=?utf-8?X?abc?=",
        b"=?u?Q?abc?=",
        b"=??Q?abc?=",
        b"=?*en?Q?abc?=",
        b"=?utf 8?Q?abc?=",
        b"=?utf-8?B?SGk?=",
        b"=?utf-8?B?S=Gk?=",
        b"=?utf-8?B?SGk=SGk=?=",
        b"=?utf-8?B?SGVsbG8 gd29ybGQ=?=",
        b"=?utf-8?Q?a b?=",
        b"=?utf-8?Q?a=3?=",
        b"=?utf-8?Q?a=ZZ?=",
        b"=?utf-8?Q?what?now?=",
        b"x=?y",
        b"a =? b ?= c",
        b"==?utf-8?Q?x?=",
    ];
    for line in cases {
        agree(line);
    }
}

/// Lines of random fragments, well-formed words among them: the fast decoder answers for
/// many, and always as mail-parser does.
#[test]
fn random_lines_agree_where_the_fast_path_answers() {
    let fragments: [&[u8]; 34] = [
        b"=?",
        b"?=",
        b"utf-8",
        b"UTF-8",
        b"iso-8859-1",
        b"koi8-r",
        b"x",
        b"*en",
        b"?B?",
        b"?b?",
        b"?Q?",
        b"?q?",
        b"?X?",
        b"SGk=",
        b"SGVsbG8=",
        b"SGk",
        b"=C3=A9",
        b"=E9",
        b"=3",
        b"=zz",
        b"_",
        b"a",
        b"Re:",
        b" ",
        b"\t",
        b"  ",
        b"?",
        b"=",
        b"caf\xc3\xa9",
        b"\xff",
        b"abc",
        b"+/",
        b"==",
        b"\r\n ",
    ];
    let charsets = [
        "utf-8",
        "iso-8859-1",
        "koi8-r",
        "windows-1251",
        "gbk",
        "nope-cs",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut answered, mut lines) = (0, 0);
    for _ in 0..20_000 {
        let mut line = Vec::new();
        for _ in 0..1 + next(8) {
            if next(3) == 0 {
                // A well-formed word of random bytes.
                let bytes: Vec<u8> = (0..next(12)).map(|_| next(256) as u8).collect();
                let charset = charsets[next(charsets.len())];
                let word = if next(2) == 0 {
                    format!("=?{charset}?B?{}?=", b64(&bytes))
                } else {
                    format!("=?{charset}?Q?{}?=", q(&bytes))
                };
                line.extend_from_slice(word.as_bytes());
            } else {
                line.extend_from_slice(fragments[next(fragments.len())]);
            }
        }
        let line = unfold(&line).into_owned();
        lines += 1;
        if agree(&line) {
            answered += 1;
        }
    }
    assert!(
        answered * 4 > lines,
        "the fast path answered {answered} of {lines}"
    );
}
