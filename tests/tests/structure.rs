//! `mime` against the real servers (Dovecot and Cyrus, `on_each_server!`): 300 generated messages are delivered, their ENVELOPE and
//! BODYSTRUCTURE are fetched over verified TLS with async-imap directly (no engine code in
//! between), and every part `parts_from_bodystructure` lists, and the decoded subject and
//! addresses, are compared with the generator's ground truth, field by field.
//!
//! Where the truth and IMAP legitimately describe a part differently, the expectation is
//! adjusted here, explicitly and narrowly, with the reason beside it (`expected_reply_to`,
//! `expected_charset`, `expected_filename`); nothing else is tolerated. A second test APPENDs a
//! hand-written message for what the generator never writes (RFC 2231 continuations, which
//! Dovecot merges into one `filename*` value; group syntax; a bare forwarded message).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, time::Duration};

use anvert_core::{
    mime::{self, PartInfo},
    net::BoxedIo,
};
use anvert_tests::{
    dovecot::Dovecot,
    generator::{Addr, GenConfig, MessageTruth, PartTruth, SizeMix},
    on_each_server,
    server::TestServer,
};
use futures::TryStreamExt;

/// What one FETCH response says about a message, decoded by `mime`.
#[derive(Debug)]
struct Fetched {
    uid: u32,
    message_id: Option<String>,
    in_reply_to: Option<String>,
    date: Option<i64>,
    subject: String,
    from: Vec<mime::Addr>,
    to: Vec<mime::Addr>,
    cc: Vec<mime::Addr>,
    bcc: Vec<mime::Addr>,
    reply_to: Vec<mime::Addr>,
    parts: Vec<PartInfo>,
}

async fn bodystructure_and_envelope_match_the_generated_truth(server: &dyn TestServer) {
    let config = GenConfig {
        seed: 3,
        count: 300,
        mix: SizeMix::small(),
        ..GenConfig::default()
    };
    let truths = server.deliver_generated("alice", None, &config);
    let mut session = login(server, "alice").await;
    let fetched = fetch_all(&mut session).await;
    // Cyrus may close after BYE without a TLS close_notify (an error to async-imap).
    let _ = session.logout().await;
    assert_eq!(
        fetched.len(),
        truths.len(),
        "every delivered message is fetched"
    );

    let by_id: BTreeMap<&str, &MessageTruth> =
        truths.iter().map(|t| (t.message_id.as_str(), t)).collect();
    let mut problems = Vec::new();
    for f in &fetched {
        let id = f
            .message_id
            .as_deref()
            .unwrap_or_else(|| panic!("UID {} has no Message-ID in its ENVELOPE", f.uid));
        let truth = by_id
            .get(id)
            .unwrap_or_else(|| panic!("UID {}: Message-ID {id} is not in the truth", f.uid));
        compare_message(f, truth, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} mismatches between {} (through mime) and the generator's truth:\n{}",
        problems.len(),
        server.name(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    check_coverage(&fetched);
}

on_each_server!(bodystructure_and_envelope_match_the_generated_truth);

type Session = async_imap::Session<BoxedIo>;

/// Logs `user` in over implicit TLS (verified against the test CA) and selects INBOX.
async fn login(server: &dyn TestServer, user: &str) -> Session {
    let timeout = Duration::from_secs(20);
    let tcp = tokio::net::TcpStream::connect(server.imaps_addr())
        .await
        .unwrap();
    let host = server.imaps_addr().ip().to_string();
    let tls = server.tls().connect(&host, tcp, timeout).await.unwrap();
    let mut client = async_imap::Client::new(BoxedIo::new(tls));
    client.read_response().await.unwrap().expect("a greeting");
    let mut session = client
        .login(user, server.password(user))
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    session.select("INBOX").await.unwrap();
    session
}

/// `(UID ENVELOPE BODYSTRUCTURE)` of every message in the selected folder, decoded by `mime`.
async fn fetch_all(session: &mut Session) -> Vec<Fetched> {
    let mut fetched = Vec::new();
    let mut stream = session
        .fetch("1:*", "(UID ENVELOPE BODYSTRUCTURE)")
        .await
        .unwrap();
    while let Some(fetch) = stream.try_next().await.unwrap() {
        let env = fetch.envelope().expect("ENVELOPE");
        fetched.push(Fetched {
            uid: fetch.uid.expect("UID"),
            message_id: mime::message_id(env.message_id.as_deref()),
            in_reply_to: mime::message_id(env.in_reply_to.as_deref()),
            date: env.date.as_deref().and_then(mime::parse_header_date),
            subject: env
                .subject
                .as_deref()
                .map(mime::decode_header_text)
                .unwrap_or_default(),
            from: mime::addresses_from_envelope(env.from.as_deref()),
            to: mime::addresses_from_envelope(env.to.as_deref()),
            cc: mime::addresses_from_envelope(env.cc.as_deref()),
            bcc: mime::addresses_from_envelope(env.bcc.as_deref()),
            reply_to: mime::addresses_from_envelope(env.reply_to.as_deref()),
            parts: mime::parts_from_bodystructure(fetch.bodystructure().expect("BODYSTRUCTURE")),
        });
    }
    fetched
}

/// A hand-written message with what the generator does not write: RFC 2231 continuations
/// mixing encoded and plain pieces, an extended value in ISO-8859-1 on Content-Type `name`,
/// a forwarded message without MIME headers, group syntax and Latin-1 encoded words.
const HANDCRAFTED: &str = concat!(
    "From: =?iso-8859-1?Q?J=FCrgen_M=FCller?= <jm@example.de>\r\n",
    "To: undisclosed-recipients:;\r\n",
    "Cc: Team: a@example.org, \"B, Bee\" <b@example.org>;\r\n",
    "Subject: =?utf-8?B?0J7RgtGH0ZHRgg==?=\r\n =?utf-8?Q?_f=C3=BCr_Q3?=\r\n",
    "Date: Wed, 17 Jul 1996 02:44:25 -0700\r\n",
    "Message-ID: <hand.1@example.test>\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n",
    "\r\n",
    "--outer\r\n",
    "Content-Type: text/plain; charset=utf-8\r\n",
    "\r\n",
    "body\r\n",
    "--outer\r\n",
    "Content-Type: application/pdf\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Disposition: attachment;\r\n",
    " filename*0*=utf-8''%C3%9Cbersicht%20der%20;\r\n",
    " filename*1*=Gr%C3%B6%C3%9Fen;\r\n",
    " filename*2=\".pdf\"\r\n",
    "\r\n",
    "QUJD\r\n",
    "--outer\r\n",
    "Content-Type: application/octet-stream; name*=iso-8859-1'de'%FCber.bin\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "\r\n",
    "QUJDRA==\r\n",
    "--outer\r\n",
    "Content-Type: message/rfc822\r\n",
    "\r\n",
    "Subject: inner\r\n",
    "Message-ID: <inner@example.test>\r\n",
    "\r\n",
    "inner body\r\n",
    "--outer--\r\n",
);

#[tokio::test]
async fn rfc2231_continuations_groups_and_bare_forwards_through_dovecot() {
    let server = Dovecot::start();
    let mut session = login(&server, "bob").await;
    session
        .append("INBOX", None, None, HANDCRAFTED.as_bytes())
        .await
        .unwrap();
    session.select("INBOX").await.unwrap();
    let fetched = fetch_all(&mut session).await;
    session.logout().await.unwrap();

    let [m] = fetched.as_slice() else {
        panic!("one message expected, got {fetched:#?}")
    };
    assert_eq!(m.message_id.as_deref(), Some("hand.1@example.test"));
    assert_eq!(m.subject, "Отчёт für Q3");
    assert_eq!(m.date, Some(837_596_665));
    assert_eq!(
        pairs(&m.from),
        vec![(
            Some("Jürgen Müller".to_string()),
            "jm@example.de".to_string()
        )]
    );
    assert!(
        m.to.is_empty(),
        "an empty group has no mailboxes: {:?}",
        m.to
    );
    assert_eq!(
        pairs(&m.cc),
        vec![
            (None, "a@example.org".to_string()),
            (Some("B, Bee".to_string()), "b@example.org".to_string())
        ]
    );
    let shape: Vec<(&str, &str, Option<&str>, u32, bool)> = m
        .parts
        .iter()
        .map(|p| {
            (
                p.section.as_str(),
                p.mime_type.as_str(),
                p.filename.as_deref(),
                p.size,
                p.is_attachment,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("1", "text/plain", None, 4, false),
            (
                "2",
                "application/pdf",
                Some("Übersicht der Größen.pdf"),
                4,
                true
            ),
            ("3", "application/octet-stream", Some("über.bin"), 8, true),
            ("4", "message/rfc822", None, 62, true),
            ("4.1", "text/plain", None, 10, false),
        ]
    );
    assert_eq!(
        m.parts[4].charset.as_deref(),
        Some("us-ascii"),
        "RFC 2045 default, reported by Dovecot"
    );
}

fn compare_message(f: &Fetched, t: &MessageTruth, problems: &mut Vec<String>) {
    let ctx = format!("message {} (UID {})", t.index, f.uid);
    let mut check = |what: &str, ok: bool, detail: String| {
        if !ok {
            problems.push(format!("{ctx}: {what}: {detail}"));
        }
    };
    check(
        "subject",
        f.subject == t.subject,
        format!("{:?} vs truth {:?}", f.subject, t.subject),
    );
    for (what, got, want) in [
        ("from", f.from.as_slice(), t.from.as_slice()),
        ("to", f.to.as_slice(), t.to.as_slice()),
        ("cc", f.cc.as_slice(), t.cc.as_slice()),
        ("bcc", f.bcc.as_slice(), t.bcc.as_slice()),
        ("reply-to", f.reply_to.as_slice(), expected_reply_to(t)),
    ] {
        check(
            what,
            pairs(got) == truth_pairs(want),
            format!("{:?} vs truth {:?}", pairs(got), truth_pairs(want)),
        );
    }
    check(
        "in-reply-to",
        f.in_reply_to == t.in_reply_to,
        format!("{:?} vs truth {:?}", f.in_reply_to, t.in_reply_to),
    );
    check(
        "date",
        f.date == Some(t.date),
        format!("{:?} vs truth {}", f.date, t.date),
    );

    let got: Vec<&str> = f.parts.iter().map(|p| p.section.as_str()).collect();
    let want: Vec<&str> = t.parts.iter().map(|p| p.section.as_str()).collect();
    if got != want {
        check("sections", false, format!("{got:?} vs truth {want:?}"));
        return;
    }
    let no_mime =
        t.parts.len() == 1 && t.parts[0].charset.is_none() && t.parts[0].mime_type == "text/plain";
    for (p, tp) in f.parts.iter().zip(&t.parts) {
        let mut field = |name: &str, ok: bool, detail: String| {
            check(&format!("part {} {name}", tp.section), ok, detail)
        };
        field(
            "type",
            p.mime_type == tp.mime_type,
            format!("{} vs {}", p.mime_type, tp.mime_type),
        );
        let charset = expected_charset(tp, no_mime);
        field(
            "charset",
            p.charset == charset,
            format!("{:?} vs {charset:?}", p.charset),
        );
        field(
            "encoding",
            p.encoding.as_deref() == Some(tp.encoding.as_str()),
            format!("{:?} vs {}", p.encoding, tp.encoding),
        );
        field(
            "size",
            p.size as usize == tp.encoded_size,
            format!("{} vs {}", p.size, tp.encoded_size),
        );
        field(
            "disposition",
            p.disposition == tp.disposition,
            format!("{:?} vs {:?}", p.disposition, tp.disposition),
        );
        let filename = expected_filename(tp);
        field(
            "filename",
            p.filename == filename,
            format!("{:?} vs {filename:?}", p.filename),
        );
        field(
            "content-id",
            p.content_id == tp.content_id,
            format!("{:?} vs {:?}", p.content_id, tp.content_id),
        );
        field(
            "is_attachment",
            p.is_attachment == expected_attachment(tp),
            format!("{p:?}"),
        );
    }
}

/// RFC 3501 section 7.4.2: when Reply-To is absent the server sets the envelope's reply-to
/// to the From addresses; the truth records the header as written (empty when absent).
fn expected_reply_to(t: &MessageTruth) -> &[Addr] {
    match t.reply_to.is_empty() {
        true => &t.from,
        false => &t.reply_to,
    }
}

/// The charset IMAP reports. The truth records the `charset` parameter as written, None for
/// the messages sent without any MIME headers; for those Dovecot's BODYSTRUCTURE reports the
/// RFC 2045 section 5.2 default `text/plain; charset=us-ascii`, which is right.
fn expected_charset(tp: &PartTruth, no_mime: bool) -> Option<String> {
    match (&tp.charset, no_mime) {
        (None, true) => Some("us-ascii".to_string()),
        (charset, _) => charset.clone(),
    }
}

/// The file name `mime` reports. The truth records only the Content-Disposition `filename`;
/// `PartInfo::filename` falls back to the Content-Type `name`, and the generator gives every
/// inline image (the multipart/related parts with a Content-ID) a `name` even when it writes
/// no Content-Disposition. That name is `image<k>.<ext>`, k counting the images from 1 after
/// the HTML root, so it is derived from the section here.
fn expected_filename(tp: &PartTruth) -> Option<String> {
    if tp.filename.is_some() || tp.content_id.is_none() || !tp.mime_type.starts_with("image/") {
        return tp.filename.clone();
    }
    let position: usize = tp
        .section
        .rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("numeric section");
    let ext = tp.mime_type.trim_start_matches("image/");
    Some(format!("image{:03}.{ext}", position - 1))
}

/// The attachment rule for the shapes the generator writes: attachments (with a
/// disposition), forwarded messages, inline images and body text.
fn expected_attachment(tp: &PartTruth) -> bool {
    if tp.mime_type == "message/rfc822" || tp.disposition.as_deref() == Some("attachment") {
        return true;
    }
    if tp.content_id.is_some() {
        return false;
    }
    !matches!(tp.mime_type.as_str(), "text/plain" | "text/html")
}

fn pairs(list: &[mime::Addr]) -> Vec<(Option<String>, String)> {
    list.iter()
        .map(|a| (a.name.clone(), a.email.clone()))
        .collect()
}

fn truth_pairs(list: &[Addr]) -> Vec<(Option<String>, String)> {
    list.iter()
        .map(|a| (a.name.clone(), a.email.clone()))
        .collect()
}

/// The 300 messages must exercise what this test is about, or a pass means little.
fn check_coverage(fetched: &[Fetched]) {
    let parts: Vec<&PartInfo> = fetched.iter().flat_map(|f| &f.parts).collect();
    let count = |pred: &dyn Fn(&PartInfo) -> bool| parts.iter().filter(|p| pred(p)).count();
    let coverage = [
        (
            "forwarded messages",
            count(&|p| p.mime_type == "message/rfc822"),
        ),
        (
            "parts inside a forwarded message",
            fetched.iter().map(|f| inside_forwarded(&f.parts)).sum(),
        ),
        (
            "inline images",
            count(&|p| p.content_id.is_some() && !p.is_attachment),
        ),
        (
            "attachments",
            count(&|p| p.disposition.as_deref() == Some("attachment")),
        ),
        (
            "non-ASCII file names",
            count(&|p| p.filename.as_deref().is_some_and(|n| !n.is_ascii())),
        ),
        (
            "file names with control characters",
            count(&|p| {
                p.filename
                    .as_deref()
                    .is_some_and(|n| n.chars().any(char::is_control))
            }),
        ),
        (
            "path traversal names",
            count(&|p| p.filename.as_deref().is_some_and(|n| n.contains("../"))),
        ),
        (
            "quoted-printable parts",
            count(&|p| p.encoding.as_deref() == Some("quoted-printable")),
        ),
        (
            "non-UTF-8 charsets",
            count(&|p| {
                p.charset
                    .as_deref()
                    .is_some_and(|c| c != "utf-8" && c != "us-ascii")
            }),
        ),
    ];
    for (what, n) in coverage {
        assert!(n > 0, "the generated mailbox has no {what}");
    }
    let encoded_subjects = fetched.iter().filter(|f| !f.subject.is_ascii()).count();
    assert!(encoded_subjects > 0, "no non-ASCII (RFC 2047) subjects");
}

/// How many parts of one message sit inside one of its message/rfc822 parts.
fn inside_forwarded(parts: &[PartInfo]) -> usize {
    let forwarded: Vec<String> = parts
        .iter()
        .filter(|p| p.mime_type == "message/rfc822")
        .map(|p| format!("{}.", p.section))
        .collect();
    parts
        .iter()
        .filter(|p| {
            forwarded
                .iter()
                .any(|prefix| p.section.starts_with(prefix.as_str()))
        })
        .count()
}
