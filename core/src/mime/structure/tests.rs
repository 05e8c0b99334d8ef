//! Scripted BODYSTRUCTURE responses, parsed by imap-proto as the IMAP layer parses them,
//! turned into parts.

use imap_proto::{AttributeValue, Response};

use super::*;

/// The parts of `* 1 FETCH (BODYSTRUCTURE <bs>)`.
fn parts(bs: &str) -> Vec<PartInfo> {
    let line = format!("* 1 FETCH (BODYSTRUCTURE {bs})\r\n");
    let (rest, response) =
        Response::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{e:?}\n{line}"));
    assert!(rest.is_empty());
    let Response::Fetch(_, attrs) = response else {
        panic!("not a FETCH: {response:?}")
    };
    let structure = attrs.iter().find_map(|a| match a {
        AttributeValue::BodyStructure(b) => Some(b),
        _ => None,
    });
    parts_from_bodystructure(structure.unwrap())
}

/// (section, mime type, is_attachment) of each part.
fn shape(parts: &[PartInfo]) -> Vec<(&str, &str, bool)> {
    parts
        .iter()
        .map(|p| (p.section.as_str(), p.mime_type.as_str(), p.is_attachment))
        .collect()
}

const PLAIN: &str =
    r#"("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "QUOTED-PRINTABLE" 1315 42 NIL NIL NIL NIL)"#;
const HTML: &str = r#"("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 200 5 NIL NIL NIL NIL)"#;
const ENVELOPE: &str = r#"("Mon, 7 Feb 1994 21:52:25 -0800" "Fwd: hi" (("Fred" NIL "fred" "example.org")) (("Fred" NIL "fred" "example.org")) NIL (("Ann" NIL "ann" "example.com")) NIL NIL NIL "<inner@example.org>")"#;

fn alternative() -> String {
    format!(r#"({PLAIN}{HTML} "ALTERNATIVE" ("BOUNDARY" "b1") NIL NIL NIL)"#)
}

#[test]
fn single_text_part_is_section_1() {
    let got = parts(PLAIN);
    assert_eq!(
        got,
        vec![PartInfo {
            section: "1".into(),
            mime_type: "text/plain".into(),
            charset: Some("utf-8".into()),
            encoding: Some("quoted-printable".into()),
            size: 1315,
            lines: Some(42),
            disposition: None,
            filename: None,
            content_id: None,
            is_attachment: false,
        }]
    );
}

#[test]
fn alternative_children_are_body_text() {
    let got = parts(&alternative());
    assert_eq!(
        shape(&got),
        vec![("1", "text/plain", false), ("2", "text/html", false)]
    );
    assert_eq!(got[1].encoding.as_deref(), Some("7bit"));
    assert_eq!(got[1].charset.as_deref(), Some("us-ascii"));
}

#[test]
fn mixed_with_an_attachment() {
    let pdf = r#"("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 4096 NIL ("ATTACHMENT" ("FILENAME" "report final.pdf")) NIL NIL)"#;
    let got = parts(&format!(
        r#"({}{pdf} "MIXED" ("BOUNDARY" "b2") NIL NIL NIL)"#,
        alternative()
    ));
    assert_eq!(
        shape(&got),
        vec![
            ("1.1", "text/plain", false),
            ("1.2", "text/html", false),
            ("2", "application/pdf", true)
        ]
    );
    let pdf = &got[2];
    assert_eq!(
        pdf.filename.as_deref(),
        Some("report final.pdf"),
        "disposition filename beats type name"
    );
    assert_eq!(
        (pdf.size, pdf.lines, pdf.disposition.as_deref()),
        (4096, None, Some("attachment"))
    );
    assert_eq!(pdf.encoding.as_deref(), Some("base64"));
}

#[test]
fn related_with_a_cid_image_and_an_unreferenced_one() {
    let logo = r#"("IMAGE" "PNG" ("NAME" "logo.png") "<logo.1@example.org>" NIL "BASE64" 2048 NIL ("INLINE" ("FILENAME" "logo.png")) NIL NIL)"#;
    let stray = r#"("IMAGE" "GIF" ("NAME" "stray.gif") NIL NIL "BASE64" 512 NIL NIL NIL NIL)"#;
    let related = format!(
        r#"({HTML}{logo}{stray} "RELATED" ("BOUNDARY" "b3" "TYPE" "text/html") NIL NIL NIL)"#
    );
    let got = parts(&format!(
        r#"({PLAIN}{related} "ALTERNATIVE" ("BOUNDARY" "b4") NIL NIL NIL)"#
    ));
    assert_eq!(
        shape(&got),
        vec![
            ("1", "text/plain", false),
            ("2.1", "text/html", false),
            ("2.2", "image/png", false),
            ("2.3", "image/gif", true)
        ]
    );
    assert_eq!(got[2].content_id.as_deref(), Some("logo.1@example.org"));
    assert_eq!(got[2].filename.as_deref(), Some("logo.png"));
    assert_eq!(got[2].disposition.as_deref(), Some("inline"));
}

#[test]
fn forwarded_multipart_message_is_numbered_under_its_part() {
    let zip = r#"("APPLICATION" "ZIP" NIL NIL NIL "BASE64" 900 NIL ("ATTACHMENT" ("FILENAME" "a.zip")) NIL NIL)"#;
    let inner = format!(r#"({PLAIN}{zip} "MIXED" ("BOUNDARY" "in") NIL NIL NIL)"#);
    let message = format!(
        r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 3000 {ENVELOPE} {inner} 60 NIL ("ATTACHMENT" NIL) NIL NIL)"#
    );
    let got = parts(&format!(
        r#"({PLAIN}{message} "MIXED" ("BOUNDARY" "out") NIL NIL NIL)"#
    ));
    assert_eq!(
        shape(&got),
        vec![
            ("1", "text/plain", false),
            ("2", "message/rfc822", true),
            ("2.1", "text/plain", false),
            ("2.2", "application/zip", true),
        ]
    );
    assert_eq!(
        (got[1].size, got[1].lines, got[1].disposition.as_deref()),
        (3000, Some(60), Some("attachment"))
    );
}

#[test]
fn forwarded_single_part_message_is_n_1() {
    let message = format!(
        r#"("MESSAGE" "RFC822" NIL NIL NIL "8BIT" 500 {ENVELOPE} {HTML} 12 NIL NIL NIL NIL)"#
    );
    let got = parts(&format!(
        r#"({PLAIN}{message} "MIXED" ("BOUNDARY" "out") NIL NIL NIL)"#
    ));
    assert_eq!(
        shape(&got),
        vec![
            ("1", "text/plain", false),
            ("2", "message/rfc822", true),
            ("2.1", "text/html", false)
        ]
    );
    assert_eq!(got[1].encoding.as_deref(), Some("8bit"));

    // A message/rfc822 inside a forwarded message, itself multipart.
    let deeper = format!(
        r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 900 {ENVELOPE} {} 30 NIL NIL NIL NIL)"#,
        alternative()
    );
    let outer = format!(
        r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1200 {ENVELOPE} {deeper} 40 NIL NIL NIL NIL)"#
    );
    let got = parts(&outer);
    assert_eq!(
        shape(&got),
        vec![
            ("1", "message/rfc822", true),
            ("1.1", "message/rfc822", true),
            ("1.1.1", "text/plain", false),
            ("1.1.2", "text/html", false),
        ]
    );
}

#[test]
fn rfc2231_continuations_with_utf8_and_percent_escapes() {
    let bs = r#"("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 10 NIL ("ATTACHMENT" ("FILENAME*0*" "utf-8''%C3%9Cbersicht%20der%20" "FILENAME*1*" "Gr%C3%B6%C3%9Fen" "FILENAME*2" " 100%.pdf")) NIL NIL)"#;
    let got = parts(bs);
    assert_eq!(
        got[0].filename.as_deref(),
        Some("Übersicht der Größen 100%.pdf")
    );
    assert!(got[0].is_attachment);
    // Dovecot merges continuations into one extended value.
    let merged = r#"("APPLICATION" "PDF" NIL NIL NIL "BASE64" 10 NIL ("attachment" ("filename*" "utf-8''%E2%82%AC%20budget.pdf")) NIL NIL)"#;
    assert_eq!(parts(merged)[0].filename.as_deref(), Some("€ budget.pdf"));
}

#[test]
fn rfc2047_encoded_content_type_name() {
    let bs = r#"("APPLICATION" "PDF" ("NAME" "=?utf-8?B?0J7RgtGH0ZHRgiDQt9CwINC60LLQsNGA0YLQsNC7LnBkZg==?=") NIL NIL "BASE64" 10 NIL NIL NIL NIL)"#;
    let got = parts(bs);
    assert_eq!(got[0].filename.as_deref(), Some("Отчёт за квартал.pdf"));
    assert!(
        got[0].is_attachment,
        "a named non-text part is an attachment even without a disposition"
    );
    let q = r#"("TEXT" "PLAIN" ("CHARSET" "utf-8" "NAME" "=?iso-8859-1?Q?caf=E9.txt?=") NIL NIL "7BIT" 10 1 NIL ("INLINE" NIL) NIL NIL)"#;
    let got = parts(q);
    assert_eq!(got[0].filename.as_deref(), Some("café.txt"));
    assert!(
        got[0].is_attachment,
        "a named text part outside an alternative is an attachment"
    );
}

#[test]
fn nameless_parts_follow_the_rule() {
    let cal = r#"("TEXT" "CALENDAR" ("CHARSET" "utf-8" "METHOD" "REQUEST") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)"#;
    let got = parts(&format!(
        r#"({PLAIN}{cal} "ALTERNATIVE" ("BOUNDARY" "b") NIL NIL NIL)"#
    ));
    assert_eq!(
        shape(&got),
        vec![("1", "text/plain", false), ("2", "text/calendar", false)]
    );
    let blob = r#"("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BINARY" 10 NIL NIL NIL NIL)"#;
    let got = parts(&format!(
        r#"({PLAIN}{blob} "MIXED" ("BOUNDARY" "b") NIL NIL NIL)"#
    ));
    assert_eq!(
        shape(&got),
        vec![
            ("1", "text/plain", false),
            ("2", "application/octet-stream", true)
        ]
    );
    assert_eq!(got[1].encoding.as_deref(), Some("binary"));
    let attached_text =
        r#"("TEXT" "PLAIN" NIL NIL NIL "X-UUENCODE" 10 1 NIL ("ATTACHMENT" NIL) NIL NIL)"#;
    let got = parts(&format!(
        r#"({PLAIN}{attached_text} "MIXED" ("BOUNDARY" "b") NIL NIL NIL)"#
    ));
    assert!(got[1].is_attachment);
    assert_eq!(
        (got[1].charset.as_deref(), got[1].encoding.as_deref()),
        (None, Some("x-uuencode"))
    );
}

/// `levels` multipart/mixed wrappers around one text part.
fn nested(levels: usize) -> String {
    let mut bs = PLAIN.to_string();
    for _ in 0..levels {
        bs = format!(r#"({bs} "MIXED" ("BOUNDARY" "x") NIL NIL NIL)"#);
    }
    bs
}

#[test]
fn forty_levels_deep_is_bounded() {
    let shallow = parts(&nested(20));
    assert_eq!(shallow.len(), 1);
    assert_eq!(shallow[0].section, vec!["1"; 20].join("."));

    let deep = format!(
        r#"({}{HTML} "MIXED" ("BOUNDARY" "top") NIL NIL NIL)"#,
        nested(40)
    );
    let got = parts(&deep);
    assert_eq!(
        shape(&got),
        vec![("2", "text/html", false)],
        "the part below MAX_DEPTH is left out"
    );

    let at_limit = parts(&nested(MAX_DEPTH));
    assert_eq!(at_limit.len(), 1);
    assert!(parts(&nested(MAX_DEPTH + 1)).is_empty());
}

#[test]
fn part_count_is_capped() {
    let many = format!(
        r#"({} "MIXED" ("BOUNDARY" "m") NIL NIL NIL)"#,
        HTML.repeat(MAX_PARTS + 500)
    );
    let got = parts(&many);
    assert_eq!(got.len(), MAX_PARTS);
    assert_eq!(got[MAX_PARTS - 1].section, MAX_PARTS.to_string());
}
