//! Tests of the seeded mailbox generator: determinism, that every message parses with
//! mail-parser to exactly its ground truth (headers, and every part's section, type,
//! encodings, sizes, hash and text, nested message/rfc822 included), that the mix covers
//! every variety it promises, the Maildir layout Dovecot reads, and a 20 MiB attachment.
//!
//! ISO-2022-JP text is checked with encoding_rs: the workspace builds mail-parser without
//! its `full_encoding` feature, and then mail-parser passes such bytes through undecoded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, time::Instant};

use anvert_tests::generator::{
    Addr, Flag, GenConfig, MessageTruth, PartTruth, SizeMix, generate, generate_one,
    mailbox_summary, write_maildir,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

fn config(seed: u64, count: usize, mix: SizeMix) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix,
        ..GenConfig::default()
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = config(7, 40, SizeMix::small());
    let a: Vec<_> = generate(&cfg).collect();
    let b: Vec<_> = generate(&cfg).collect();
    assert_eq!(a.len(), 40);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.raw, y.raw);
        assert_eq!(x.truth, y.truth);
    }
    assert_eq!(
        generate_one(&cfg, 17).raw,
        a[17].raw,
        "message i does not depend on the others"
    );

    let other: Vec<_> = generate(&config(8, 40, SizeMix::small())).collect();
    assert!(a.iter().zip(&other).all(|(x, y)| x.raw != y.raw));
}

#[test]
fn dates_strictly_increase_within_the_span() {
    let cfg = config(3, 2_000, SizeMix::none());
    let dates: Vec<i64> = generate(&cfg).map(|m| m.truth.date).collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]));
    assert!(dates[0] >= cfg.start_date - cfg.span_secs && dates[dates.len() - 1] <= cfg.start_date);
}

#[test]
fn every_message_parses_to_its_truth_and_the_mix_is_complete() {
    let mix = SizeMix {
        max_attachment: 256 << 10,
        ..SizeMix::default()
    };
    let cfg = config(42, 300, mix);
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut truths = Vec::new();
    for msg in generate(&cfg) {
        check_wire_form(&msg.raw, msg.truth.index);
        let parsed = MessageParser::default().parse(&msg.raw).expect("parses");
        check_headers(&parsed, &msg.truth);
        let mut parts = Vec::new();
        walk_message(&parsed, &msg.raw, "", &mut parts);
        assert_eq!(
            parts.len(),
            msg.truth.parts.len(),
            "message {}: part count",
            msg.truth.index
        );
        for (got, want) in parts.iter().zip(&msg.truth.parts) {
            assert_eq!(
                got, want,
                "message {} section {}",
                msg.truth.index, want.section
            );
        }
        count_varieties(&parsed, &msg.truth, &mut seen);
        truths.push(msg.truth);
    }
    println!("{}", mailbox_summary(&truths));
    println!("{seen:#?}");

    let expected = [
        "text 7bit",
        "text 8bit",
        "text quoted-printable",
        "text base64",
        "no MIME headers",
        "multipart/alternative",
        "multipart/related",
        "multipart/mixed",
        "message/rfc822 holding a multipart",
        "charset iso-8859-1",
        "charset windows-1252",
        "charset koi8-r",
        "charset iso-2022-jp",
        "subject B utf-8",
        "subject Q utf-8",
        "subject legacy charset",
        "name B",
        "name Q",
        "name legacy charset",
        "quoted display name",
        "reply",
        "inline image cid referenced",
        "attachment",
        "text attachment",
        "rfc2231 filename",
        "rfc2231 continuation",
        "rfc2047 filename",
        "non-ASCII filename",
        "path traversal filename",
        "control character filename",
        "several To",
        "Cc",
        "Bcc",
        "Reply-To",
        "address with name",
        "address without name",
        "\\Seen",
        "\\Flagged",
        "\\Answered",
        "\\Draft",
    ];
    let missing: Vec<_> = expected.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "varieties missing from 300 messages: {missing:?}"
    );
}

/// CRLF only, no line over 998 octets, 7-bit headers, base64 in lines of at most 76.
fn check_wire_form(raw: &[u8], index: usize) {
    for (k, &b) in raw.iter().enumerate() {
        match b {
            b'\n' => assert!(
                k > 0 && raw[k - 1] == b'\r',
                "message {index}: bare LF at {k}"
            ),
            b'\r' => assert_eq!(
                raw.get(k + 1),
                Some(&b'\n'),
                "message {index}: bare CR at {k}"
            ),
            _ => {}
        }
    }
    assert!(
        raw.split(|&b| b == b'\n').all(|line| line.len() <= 1000),
        "message {index}: line too long"
    );
    let header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(
        raw[..header_end].is_ascii(),
        "message {index}: 8-bit header"
    );
    assert!(raw.ends_with(b"\r\n"));
}

fn check_headers(parsed: &Message, truth: &MessageTruth) {
    let i = truth.index;
    assert_eq!(
        parsed.subject(),
        Some(truth.subject.as_str()),
        "message {i}: subject"
    );
    assert_eq!(
        parsed.message_id(),
        Some(truth.message_id.as_str()),
        "message {i}: message-id"
    );
    assert_eq!(
        ids(parsed.in_reply_to()).first(),
        truth.in_reply_to.as_ref(),
        "message {i}: in-reply-to"
    );
    assert_eq!(
        ids(parsed.references()),
        truth.references,
        "message {i}: references"
    );
    assert_eq!(addrs(parsed.from()), truth.from, "message {i}: from");
    assert_eq!(addrs(parsed.to()), truth.to, "message {i}: to");
    assert_eq!(addrs(parsed.cc()), truth.cc, "message {i}: cc");
    assert_eq!(addrs(parsed.bcc()), truth.bcc, "message {i}: bcc");
    assert_eq!(
        addrs(parsed.reply_to()),
        truth.reply_to,
        "message {i}: reply-to"
    );
    assert_eq!(
        parsed.date().map(|d| d.to_timestamp()),
        Some(truth.date),
        "message {i}: date"
    );
    assert_eq!(parsed.raw_message().len(), truth.size);
}

fn ids(value: &HeaderValue) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn addrs(address: Option<&Address>) -> Vec<Addr> {
    address
        .map(|a| {
            a.iter()
                .map(|a| Addr {
                    name: a.name().map(str::to_string),
                    email: a.address().unwrap_or_default().to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The message's parts numbered as IMAP BODYSTRUCTURE does: a single-part message's body is
/// "1", multipart children "1", "2"...; inside a message/rfc822 part "N" the same from "N.".
fn walk_message(msg: &Message, raw: &[u8], prefix: &str, out: &mut Vec<PartTruth>) {
    let root = &msg.parts[0];
    let join = |k: usize| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match &root.body {
        PartType::Multipart(children) => {
            for (k, &id) in children.iter().enumerate() {
                walk_part(msg, &msg.parts[id as usize], raw, join(k + 1), out);
            }
        }
        _ => walk_part(msg, root, raw, join(1), out),
    }
}

fn walk_part(
    msg: &Message,
    part: &MessagePart,
    raw: &[u8],
    section: String,
    out: &mut Vec<PartTruth>,
) {
    match &part.body {
        PartType::Multipart(children) => {
            for (k, &id) in children.iter().enumerate() {
                walk_part(
                    msg,
                    &msg.parts[id as usize],
                    raw,
                    format!("{section}.{}", k + 1),
                    out,
                );
            }
        }
        PartType::Message(inner) => {
            out.push(part_truth(
                part,
                raw,
                section.clone(),
                inner.raw_message().to_vec(),
                None,
            ));
            walk_message(inner, raw, &section, out);
        }
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            out.push(part_truth(part, raw, section, bytes.to_vec(), None));
        }
        PartType::Text(text) | PartType::Html(text) => {
            let decoded = transfer_decode(part, raw);
            let charset = part
                .content_type()
                .and_then(|c| c.attribute("charset"))
                .unwrap_or("us-ascii");
            let text = if charset.eq_ignore_ascii_case("iso-2022-jp") {
                let (text, _, errors) = encoding_rs::ISO_2022_JP.decode(&decoded);
                assert!(!errors, "section {section}: bad ISO-2022-JP");
                text.into_owned()
            } else {
                text.to_string()
            };
            out.push(part_truth(part, raw, section, decoded, Some(text)));
        }
    }
}

/// A text part's bytes after the transfer decoding, decoded here from the raw body (the
/// parser only hands out the charset-converted text).
fn transfer_decode(part: &MessagePart, raw: &[u8]) -> Vec<u8> {
    let body = &raw[part.offset_body as usize..part.offset_end as usize];
    match part
        .content_transfer_encoding()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("base64") => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            STANDARD.decode(compact).expect("valid base64")
        }
        Some("quoted-printable") => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body).unwrap()
        }
        _ => body.to_vec(),
    }
}

fn part_truth(
    part: &MessagePart,
    raw: &[u8],
    section: String,
    decoded: Vec<u8>,
    text: Option<String>,
) -> PartTruth {
    let content_type = part.content_type();
    let mime_type = content_type.map_or("text/plain".to_string(), |c| {
        format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()).to_ascii_lowercase()
    });
    let encoded = &raw[part.offset_body as usize..part.offset_end as usize];
    if mime_type == "message/rfc822" {
        assert_eq!(
            encoded,
            decoded.as_slice(),
            "section {section}: encapsulated message bytes"
        );
    }
    let encoding = part
        .content_transfer_encoding()
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    assert!(
        encoding != "7bit" || encoded.is_ascii(),
        "section {section}: 8-bit data labelled 7bit"
    );
    if encoding == "base64" {
        let mut lines = encoded
            .strip_suffix(b"\r\n")
            .unwrap_or(encoded)
            .split(|&b| b == b'\n');
        assert!(
            lines.all(|l| l.len() <= 77),
            "section {section}: base64 line over 76 characters (plus CR)"
        );
    }
    PartTruth {
        section,
        mime_type,
        charset: content_type
            .and_then(|c| c.attribute("charset"))
            .map(str::to_ascii_lowercase),
        encoding,
        disposition: part
            .content_disposition()
            .map(|d| d.ctype().to_ascii_lowercase()),
        filename: part
            .content_disposition()
            .and_then(|d| d.attribute("filename"))
            .or_else(|| part.content_type().and_then(|t| t.attribute("name")))
            .map(str::to_string),
        content_id: part.content_id().map(str::to_string),
        encoded_size: encoded.len(),
        decoded_size: decoded.len(),
        sha256: hex::encode(Sha256::digest(&decoded)),
        text,
    }
}

fn count_varieties(
    parsed: &Message,
    truth: &MessageTruth,
    seen: &mut BTreeMap<&'static str, usize>,
) {
    let mut hit = |key: &'static str, yes: bool| {
        if yes {
            *seen.entry(key).or_default() += 1;
        }
    };
    let raw_header = |name: &str| parsed.header_raw(name).unwrap_or_default().to_string();
    let subject = raw_header("Subject");
    let names = format!(
        "{} {} {}",
        raw_header("From"),
        raw_header("To"),
        raw_header("Cc")
    );
    let legacy = ["=?iso-8859-1?", "=?windows-1252?", "=?koi8-r?"];
    hit("subject B utf-8", subject.contains("=?utf-8?B?"));
    hit("subject Q utf-8", subject.contains("=?utf-8?Q?"));
    hit(
        "subject legacy charset",
        legacy.iter().any(|c| subject.contains(c)),
    );
    hit("name B", names.contains("?B?"));
    hit("name Q", names.contains("?Q?"));
    hit(
        "name legacy charset",
        legacy.iter().any(|c| names.contains(c)),
    );
    hit(
        "quoted display name",
        names.contains("\"O'Brien, Sean\"") || names.contains("\"Dr. Emily Chen\""),
    );
    hit(
        "no MIME headers",
        parsed.header_raw("MIME-Version").is_none(),
    );
    hit(
        "reply",
        truth.in_reply_to.is_some() && truth.subject.starts_with("Re: "),
    );
    hit("several To", truth.to.len() > 1);
    hit("Cc", !truth.cc.is_empty());
    hit("Bcc", !truth.bcc.is_empty());
    hit("Reply-To", !truth.reply_to.is_empty());
    let everyone = || truth.from.iter().chain(&truth.to).chain(&truth.cc);
    hit("address with name", everyone().any(|a| a.name.is_some()));
    hit("address without name", everyone().any(|a| a.name.is_none()));
    for flag in [Flag::Seen, Flag::Flagged, Flag::Answered, Flag::Draft] {
        hit(flag.imap_name(), truth.flags.contains(&flag));
    }

    let raw = String::from_utf8_lossy(parsed.raw_message());
    for key in [
        "multipart/alternative",
        "multipart/related",
        "multipart/mixed",
    ] {
        hit(key, raw.contains(&format!("{key};")));
    }
    hit("rfc2231 filename", raw.contains("filename*=utf-8''"));
    hit("rfc2231 continuation", raw.contains("filename*0*=utf-8''"));
    hit("rfc2047 filename", raw.contains("filename=\"=?utf-8?"));
    let nested_multipart = parsed
        .parts
        .iter()
        .any(|p| p.message().is_some_and(|m| m.parts[0].is_multipart()));
    hit("message/rfc822 holding a multipart", nested_multipart);

    let html: String = truth
        .parts
        .iter()
        .filter(|p| p.mime_type == "text/html")
        .filter_map(|p| p.text.clone())
        .collect();
    for part in &truth.parts {
        let is_text = part.mime_type.starts_with("text/");
        hit("text 7bit", is_text && part.encoding == "7bit");
        hit("text 8bit", is_text && part.encoding == "8bit");
        hit(
            "text quoted-printable",
            is_text && part.encoding == "quoted-printable",
        );
        hit("text base64", is_text && part.encoding == "base64");
        let non_ascii_text = !part.text.as_deref().unwrap_or("").is_ascii();
        for key in [
            "charset iso-8859-1",
            "charset windows-1252",
            "charset koi8-r",
            "charset iso-2022-jp",
        ] {
            hit(
                key,
                non_ascii_text && part.charset.as_deref() == key.strip_prefix("charset "),
            );
        }
        if let Some(cid) = &part.content_id {
            hit(
                "inline image cid referenced",
                html.contains(&format!("cid:{cid}")),
            );
        }
        let attachment = part.disposition.as_deref() == Some("attachment");
        hit("attachment", attachment);
        hit("text attachment", attachment && is_text);
        let name = part.filename.as_deref().unwrap_or("");
        hit("non-ASCII filename", !name.is_ascii());
        hit("path traversal filename", name.contains("../"));
        hit(
            "control character filename",
            name.chars().any(char::is_control),
        );
    }
}

#[test]
fn write_maildir_lays_out_files_dovecot_orders_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let inbox =
        write_maildir(dir.path(), None, generate(&config(5, 60, SizeMix::small()))).unwrap();
    let archive = write_maildir(
        dir.path(),
        Some("Archive"),
        generate(&config(6, 25, SizeMix::none())),
    )
    .unwrap();
    assert_eq!(inbox.len(), 60);
    assert_eq!(archive.len(), 25);
    for sub in [
        "cur",
        "new",
        "tmp",
        ".Archive/cur",
        ".Archive/new",
        ".Archive/tmp",
    ] {
        assert!(dir.path().join(sub).is_dir(), "{sub}");
    }
    check_maildir_folder(&dir.path().join("cur"), &inbox);
    check_maildir_folder(&dir.path().join(".Archive/cur"), &archive);
}

fn check_maildir_folder(cur: &std::path::Path, truths: &[MessageTruth]) {
    let mut files: Vec<(i64, u64, usize, std::path::PathBuf)> = std::fs::read_dir(cur)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let (date, rest) = name.split_once(".M").unwrap();
            let (micro, rest) = rest.split_once('P').unwrap();
            let (index, _) = rest.split_once('Q').unwrap();
            (
                date.parse().unwrap(),
                micro.parse().unwrap(),
                index.parse().unwrap(),
                path,
            )
        })
        .collect();
    assert_eq!(files.len(), truths.len());
    // Dovecot's order: by the timestamp in the name. It must be the generation order.
    files.sort_by_key(|(date, micro, _, _)| (*date, *micro));
    for ((date, _, index, path), truth) in files.iter().zip(truths) {
        assert_eq!(*index, truth.index);
        assert_eq!(*date, truth.date);
        let name = path.file_name().unwrap().to_str().unwrap();
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.len() as usize, truth.size);
        assert!(name.contains(&format!(",S={}:2,", truth.size)), "{name}");
        let letters: String = truth.flags.iter().map(|f| f.maildir_letter()).collect();
        assert!(name.ends_with(&format!(":2,{letters}")), "{name}");
        let mut sorted: Vec<char> = letters.chars().collect();
        sorted.sort_unstable();
        assert_eq!(letters, sorted.into_iter().collect::<String>());
        let mtime = meta
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(
            mtime as i64, truth.date,
            "{name}: mtime is the INTERNALDATE"
        );
    }
}

#[test]
fn twenty_mib_attachment_is_generated_quickly_and_hashes_right() {
    const SIZE: usize = 20 << 20;
    let mix = SizeMix {
        attachment_prob: 1.0,
        medium_prob: 0.0,
        huge_prob: 1.0,
        max_attachment: SIZE,
    };
    let started = Instant::now();
    let msg = generate_one(&config(11, 1, mix), 0);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
    assert!(
        msg.truth.size > SIZE * 4 / 3,
        "base64 makes it bigger: {}",
        msg.truth.size
    );
    let truth = msg
        .truth
        .parts
        .iter()
        .find(|p| p.decoded_size == SIZE)
        .expect("a 20 MiB part");
    assert_eq!(truth.disposition.as_deref(), Some("attachment"));
    assert!(truth.text.is_none());

    let parsed = MessageParser::default().parse(&msg.raw).unwrap();
    let part = parsed
        .parts
        .iter()
        .find(|p| p.is_binary() && p.len() == SIZE)
        .expect("parsed 20 MiB part");
    assert_eq!(hex::encode(Sha256::digest(part.contents())), truth.sha256);
    assert_eq!(
        (part.offset_end - part.offset_body) as usize,
        truth.encoded_size
    );
}
