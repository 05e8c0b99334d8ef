//! The app's charset decoder (`mime::charsets`): asked first, by WHATWG name, for every
//! kind of text in a multi-byte charset; encoding_rs (built in for the tests, as for the
//! CLI) when it declines. The mobile library's path without encoding_rs is the Kotlin
//! `CharsetTest`'s.

#![allow(clippy::unwrap_used)]

use anvert_core::mime::{self, charsets};
use encoding_rs::Encoding;
use std::sync::{Arc, Mutex};

/// Decodes as encoding_rs does (so that other tests of this binary, running meanwhile,
/// read the same text) and records what it was asked.
fn recording(asked: Arc<Mutex<Vec<String>>>, answer: bool) -> charsets::CharsetDecoder {
    Arc::new(move |charset: &'static str, bytes: &[u8]| {
        asked.lock().unwrap().push(charset.to_string());
        if !answer {
            return None;
        }
        let encoding = Encoding::for_label(charset.as_bytes())?;
        Some(encoding.decode_without_bom_handling(bytes).0.into_owned())
    })
}

fn encode(label: &str, text: &str) -> Vec<u8> {
    let encoding = Encoding::for_label(label.as_bytes()).unwrap();
    let (bytes, _, errors) = encoding.encode(text);
    assert!(!errors, "{label} cannot encode {text:?}");
    bytes.into_owned()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_app_decoder_is_asked_first_then_the_builtin_tables() {
    // (label a message may use, the WHATWG name the decoder gets, text)
    let cases = [
        ("shift_jis", "Shift_JIS", "ハロー・ワールド"),
        ("x-sjis", "Shift_JIS", "こんにちは"),
        ("euc-jp", "EUC-JP", "ハロー・ワールド"),
        ("iso-2022-jp", "ISO-2022-JP", "お疲れ様です"),
        ("big5", "Big5", "你好，世界"),
        ("gb2312", "gb18030", "你好，世界"),
        ("gbk", "GBK", "邮件"),
        ("gb18030", "gb18030", "邮件"),
        ("euc-kr", "EUC-KR", "안녕하세요 세계"),
        ("ks_c_5601-1987", "EUC-KR", "안녕하세요"),
        ("windows-874", "windows-874", "สวัสดี"),
        ("ibm866", "IBM866", "Привет"),
        ("x-mac-cyrillic", "x-mac-cyrillic", "Привет"),
    ];
    let asked = Arc::new(Mutex::new(Vec::new()));
    charsets::set_charset_decoder(Some(recording(asked.clone(), true)));
    for (label, name, text) in cases {
        let bytes = encode(label, text);
        assert!(charsets::EXTERNAL_CHARSETS.contains(&name));

        // A text part.
        asked.lock().unwrap().clear();
        let body = b64(&bytes);
        assert_eq!(
            mime::decode_part_text(body.as_bytes(), Some("base64"), Some(label)),
            text
        );
        assert!(
            asked.lock().unwrap().iter().any(|n| n == name),
            "{label}: {asked:?}"
        );

        // An RFC 2047 encoded word.
        asked.lock().unwrap().clear();
        let word = format!("=?{label}?B?{}?= (1)", b64(&bytes));
        assert_eq!(
            mime::decode_header_text(word.as_bytes()),
            format!("{text} (1)")
        );
        assert!(
            asked.lock().unwrap().iter().any(|n| n == name),
            "{label}: {asked:?}"
        );

        // A whole message: subject, body, and an RFC 2231 file name.
        asked.lock().unwrap().clear();
        let percent: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        let raw = format!(
            "Subject: =?{label}?B?{subject}?=\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain; charset={label}\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {body}\r\n--b\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename*={label}''{percent}.txt\r\n\r\nx\r\n--b--\r\n",
            subject = b64(&bytes),
        );
        let parsed = mime::parse_message(raw.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some(text));
        assert_eq!(parsed.body_text(0).as_deref(), Some(text));
        let parts = mime::parts_from_message(&parsed);
        assert!(
            parts
                .iter()
                .any(|p| p.info.filename.as_deref() == Some(format!("{text}.txt").as_str())),
            "{label}: {:?}",
            parts.iter().map(|p| &p.info.filename).collect::<Vec<_>>()
        );
        let count = asked.lock().unwrap().iter().filter(|n| *n == name).count();
        assert!(count >= 3, "{label}: asked {count} times: {asked:?}");
    }

    // A decoder that declines: the built-in tables decode (this build has them).
    let declined = Arc::new(Mutex::new(Vec::new()));
    charsets::set_charset_decoder(Some(recording(declined.clone(), false)));
    let bytes = encode("big5", "你好");
    assert_eq!(mime::decode_part_text(&bytes, None, Some("big5")), "你好");
    assert_eq!(declined.lock().unwrap().as_slice(), ["Big5"]);

    // Removed: not asked any more.
    charsets::set_charset_decoder(None);
    assert_eq!(mime::decode_part_text(&bytes, None, Some("big5")), "你好");
    assert_eq!(declined.lock().unwrap().len(), 1);
}
