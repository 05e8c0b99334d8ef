//! Mail in the charsets the mobile library leaves to the app (`anvert_core::mime::charsets`):
//! one message per charset, with its subject and sender's name as RFC 2047 encoded words, its
//! text part in the charset (base64) and an attachment named in it (RFC 2231). Encoded with
//! encoding_rs, independently of the engine's decoding. The dev server delivers them to a
//! user of their own for the Kotlin `CharsetTest`.

use base64::Engine as _;
use std::path::Path;

/// One message and what it must decode to.
pub struct CharsetMessage {
    pub message_id: String,
    /// The label the message declares.
    pub charset: &'static str,
    pub subject: String,
    pub from_name: String,
    pub body: String,
    pub filename: String,
    pub raw: Vec<u8>,
}

/// (label, subject text, sender's name, body, file name stem): one per charset the library
/// does not carry.
const CASES: [(&str, &str, &str, &str, &str); 10] = [
    (
        "shift_jis",
        "ハロー・ワールド",
        "山田太郎",
        "会議の資料を送ります。",
        "資料",
    ),
    (
        "euc-jp",
        "こんにちは世界",
        "鈴木花子",
        "明日の予定を確認してください。",
        "予定表",
    ),
    (
        "iso-2022-jp",
        "お疲れ様です",
        "佐藤一郎",
        "本日の報告書です。",
        "報告書",
    ),
    (
        "big5",
        "你好，世界",
        "陳大文",
        "請查收附件中的文件。",
        "文件",
    ),
    ("gbk", "邮件测试", "张伟", "请查收附件中的报告。", "报告"),
    ("gb18030", "你好世界", "李娜", "会议纪要见附件。", "纪要"),
    (
        "euc-kr",
        "안녕하세요 세계",
        "김철수",
        "첨부 파일을 확인해 주세요.",
        "보고서",
    ),
    (
        "windows-874",
        "สวัสดีครับ",
        "สมชาย",
        "กรุณาตรวจสอบเอกสารแนบ",
        "เอกสาร",
    ),
    (
        "ibm866",
        "Привет, мир",
        "Иван Петров",
        "Отчёт во вложении.",
        "отчёт",
    ),
    (
        "x-mac-cyrillic",
        "Здравствуйте",
        "Мария",
        "Смотрите вложение.",
        "файл",
    ),
];

fn encode(label: &str, text: &str) -> Vec<u8> {
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())
        .unwrap_or_else(|| panic!("encoding_rs does not know {label}"));
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{label} cannot encode {text:?}");
    bytes.into_owned()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The messages, in a fixed order.
pub fn corpus() -> Vec<CharsetMessage> {
    CASES
        .iter()
        .enumerate()
        .map(|(i, &(label, subject, name, body, stem))| {
            let message_id = format!("charset-{i}@anvert.test");
            let filename = format!("{stem}.txt");
            let percent: String = encode(label, &filename)
                .iter()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' => char::from(*b).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            let raw = format!(
                "From: =?{label}?B?{from}?= <sender{i}@example.com>\r\n\
                 To: dora@example.com\r\n\
                 Subject: =?{label}?B?{subj}?= ({label})\r\n\
                 Date: Mon, 7 Dec 2026 12:{i:02}:00 +0000\r\n\
                 Message-ID: <{message_id}>\r\n\
                 MIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=\"cs-{i}\"\r\n\r\n\
                 --cs-{i}\r\n\
                 Content-Type: text/plain; charset={label}\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n\
                 {text}\r\n\
                 --cs-{i}\r\n\
                 Content-Type: text/plain; charset=us-ascii\r\n\
                 Content-Disposition: attachment; filename*={label}''{percent}\r\n\r\n\
                 attachment {i}\r\n\
                 --cs-{i}--\r\n",
                from = b64(&encode(label, name)),
                subj = b64(&encode(label, subject)),
                text = b64(&encode(label, body)),
            );
            CharsetMessage {
                message_id,
                charset: label,
                subject: format!("{subject} ({label})"),
                from_name: name.to_string(),
                body: body.to_string(),
                filename,
                raw: raw.into_bytes(),
            }
        })
        .collect()
}

/// Writes the corpus into a Maildir's INBOX (`new/`).
pub fn write_maildir(maildir: &Path, messages: &[CharsetMessage]) -> std::io::Result<()> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(
            maildir
                .join("new")
                .join(format!("1796644800.M{i}P1.anvert")),
            &m.raw,
        )?;
    }
    Ok(())
}

/// `message-id TAB charset TAB subject TAB sender's name TAB body TAB file name`, a line each.
pub fn truth_lines(messages: &[CharsetMessage]) -> String {
    messages
        .iter()
        .map(|m| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\n",
                m.message_id, m.charset, m.subject, m.from_name, m.body, m.filename
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus decodes to its truth inside the engine (built in, as in the CLI and the
    /// tests), so a Kotlin failure is the app decoder's path, not the corpus.
    #[test]
    fn the_corpus_decodes_to_its_truth_with_the_builtin_tables() {
        for m in corpus() {
            let parsed = anvert_core::mime::parse_message(&m.raw).unwrap();
            assert_eq!(parsed.subject(), Some(m.subject.as_str()), "{}", m.charset);
            let from = parsed.from().and_then(|a| a.first()).and_then(|a| a.name());
            assert_eq!(from, Some(m.from_name.as_str()), "{}", m.charset);
            assert_eq!(
                parsed.body_text(0).as_deref().map(str::trim),
                Some(m.body.as_str())
            );
            let parts = anvert_core::mime::parts_from_message(&parsed);
            assert!(
                parts
                    .iter()
                    .any(|p| p.info.filename.as_deref() == Some(m.filename.as_str())),
                "{}",
                m.charset
            );
        }
    }
}
