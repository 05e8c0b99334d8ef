//! The sending harness proves itself (issue 18): Dovecot's submission service over implicit
//! TLS and STARTTLS relays byte-identical messages to the harness receiver; IMAP advertises
//! CATENATE and URLAUTH and the post-AUTH EHLO the BURL authority; each switch in Dovecot's
//! configuration really changes EHLO or CAPABILITY; each receiver fault reaches a raw client
//! as documented; and BURL of a message APPENDed to Sent delivers it without a second upload.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_tests::{
    client::imap_login,
    dovecot::{Dovecot, SubmissionOptions},
    smtp_client::{RawSmtp, SmtpReply},
};

const ALICE: &str = "alice@localhost";

/// A small message with a line that needs dot-stuffing and an 8-bit line.
fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Alice <{ALICE}>\r\n\
         To: Bob <bob@localhost>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{subject}@anvert.test>\r\n\
         Date: Sun, 06 Dec 2026 17:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello Bob,\r\n\
         .a line starting with a dot\r\n\
         ..and one with two\r\n\
         Grüße\r\n"
    )
    .into_bytes()
}

async fn login_465(server: &Dovecot) -> (RawSmtp, SmtpReply) {
    let mut smtp = RawSmtp::connect_tls(server.submissions_addr(), &server.tls()).await;
    assert_eq!(smtp.greeting.code, 220, "{}", smtp.greeting);
    smtp.ehlo().await;
    let auth = smtp.auth_plain("alice", server.password("alice")).await;
    assert_eq!(auth.code, 235, "AUTH PLAIN: {auth}\n{}", server.log());
    let ehlo = smtp.ehlo().await;
    (smtp, ehlo)
}

#[tokio::test]
async fn submission_advertises_burl_with_the_urlauth_authority_and_imap_urlauth_catenate() {
    let server = Dovecot::with_submission(SubmissionOptions::default());

    let imap = imap_login(&server, "alice").await;
    for cap in ["CATENATE", "URLAUTH", "URLAUTH=BINARY"] {
        assert!(
            imap.capabilities().has(cap),
            "IMAP lacks {cap}: {:?}",
            imap.capabilities()
        );
    }

    let mut smtp = RawSmtp::connect_tls(server.submissions_addr(), &server.tls()).await;
    let before = smtp.ehlo().await;
    assert_eq!(
        before.ehlo_line("BURL"),
        Some("BURL imap"),
        "pre-AUTH EHLO: {before}"
    );
    assert!(before.ehlo_line("AUTH").is_some(), "{before}");
    let auth = smtp.auth_plain("alice", server.password("alice")).await;
    assert_eq!(auth.code, 235, "{auth}\n{}", server.log());
    let after = smtp.ehlo().await;
    assert_eq!(
        after.ehlo_line("BURL"),
        Some(format!("BURL imap {}", server.urlauth_authority()).as_str()),
        "post-AUTH EHLO: {after}"
    );
    let size = after.ehlo_line("SIZE").unwrap_or_default();
    assert!(
        size.starts_with("SIZE "),
        "Dovecot's own default limit: {after}"
    );
    for keyword in ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING"] {
        assert!(after.ehlo_line(keyword).is_some(), "{keyword}: {after}");
    }
    println!("post-AUTH EHLO: {after}");
}

#[tokio::test]
async fn each_switch_changes_what_the_servers_advertise() {
    // BURL and CATENATE off, a size limit: EHLO loses BURL and gains SIZE n, IMAP loses
    // CATENATE and keeps URLAUTH.
    let server = Dovecot::with_submission(SubmissionOptions {
        burl: false,
        catenate: false,
        max_mail_size: Some(1_000_000),
        ..SubmissionOptions::default()
    });
    let imap = imap_login(&server, "alice").await;
    assert!(!imap.capabilities().has("CATENATE"), "CATENATE still on");
    assert!(imap.capabilities().has("URLAUTH"), "URLAUTH went with BURL");
    let mut smtp = RawSmtp::connect_tls(server.submissions_addr(), &server.tls()).await;
    let before = smtp.ehlo().await;
    assert_eq!(before.ehlo_line("BURL"), None, "BURL still on: {before}");
    assert_eq!(before.ehlo_line("SIZE"), Some("SIZE 1000000"), "{before}");
    let (mut smtp, after) = login_465(&server).await;
    assert_eq!(after.ehlo_line("BURL"), None, "BURL still on: {after}");
    assert_eq!(after.ehlo_line("SIZE"), Some("SIZE 1000000"), "{after}");
    let (_, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("no-burl"))
        .await;
    assert_eq!(done.unwrap().unwrap().code, 250);
    let got = server
        .smtp_sink()
        .wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
        .await;
    assert_eq!(
        got[0].data,
        message("no-burl"),
        "no trace header on this path"
    );
    assert_eq!(
        server.smtp_sink().logins(),
        1,
        "proxied by submission-login"
    );

    // URLAUTH off: IMAP loses URLAUTH (and GENURLAUTH); CATENATE stays.
    let server = Dovecot::with_submission(SubmissionOptions {
        urlauth: false,
        ..SubmissionOptions::default()
    });
    let imap = imap_login(&server, "alice").await;
    assert!(!imap.capabilities().has("URLAUTH"), "URLAUTH still on");
    assert!(!imap.capabilities().has("URLAUTH=BINARY"));
    assert!(imap.capabilities().has("CATENATE"));
    let rump = format!(
        "{}/Sent;UIDVALIDITY=1/;UID=1;urlauth=submit+alice",
        server
            .urlauth_authority()
            .replacen("imap://", "imap://alice@", 1)
    );
    let answers = server
        .imap_script("alice", &[&format!("GENURLAUTH \"{rump}\" INTERNAL")])
        .await;
    assert!(
        answers[0].tagged.starts_with("BAD") && answers[0].tagged.contains("URLAUTH disabled"),
        "GENURLAUTH with URLAUTH off: {answers:?}"
    );
}

#[tokio::test]
async fn messages_sent_over_465_and_587_arrive_byte_identical() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();

    // 465-like: implicit TLS.
    let (mut smtp, _) = login_465(&server).await;
    let first = message("over-465");
    let (mail, rcpts, done) = smtp
        .send_mail(ALICE, &["bob@localhost", "carol@example.org"], &first)
        .await;
    assert_eq!(mail.code, 250, "{mail}");
    assert!(rcpts.iter().all(|r| r.code == 250), "{rcpts:?}");
    let done = done.unwrap().unwrap();
    assert_eq!(done.code, 250, "{done}");
    smtp.command("QUIT").await;

    // 587-like: STARTTLS, then EHLO and AUTH again.
    let mut smtp = RawSmtp::connect_starttls(server.submission_addr(), &server.tls()).await;
    smtp.ehlo().await;
    let auth = smtp.auth_plain("alice", server.password("alice")).await;
    assert_eq!(auth.code, 235, "{auth}\n{}", server.log());
    let second = message("over-587");
    let (_, _, done) = smtp.send_mail(ALICE, &["bob@localhost"], &second).await;
    assert_eq!(done.unwrap().unwrap().code, 250);

    let got = sink.wait_for_messages(2, Dovecot::RELAY_TIMEOUT).await;
    assert_eq!(got[0].mail_from, ALICE);
    assert_eq!(
        got[0].header("Message-ID").as_deref(),
        Some("<over-465@anvert.test>")
    );
    assert_eq!(got[0].rcpt_to, ["bob@localhost", "carol@example.org"]);
    assert_eq!(got[1].rcpt_to, ["bob@localhost"]);
    for (received, sent) in got.iter().zip([&first, &second]) {
        let trace = received
            .data
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"Received:"))
            .count();
        assert_eq!(trace, 1, "one Received: header");
        assert!(received.data.starts_with(b"Received: "), "it comes first");
        assert_eq!(
            received.data_without_trace(),
            *sent,
            "byte-identical but for the trace header"
        );
    }
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn receiver_faults_reach_the_client_through_dovecot() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();
    let (mut smtp, _) = login_465(&server).await;

    // One recipient rejected with 550 5.1.1, the other accepted and delivered.
    sink.reject_recipient("nobody@example.org");
    let (mail, rcpts, done) = smtp
        .send_mail(
            ALICE,
            &["bob@localhost", "nobody@example.org"],
            &message("rejected-rcpt"),
        )
        .await;
    assert_eq!(mail.code, 250, "{mail}");
    assert_eq!(rcpts[0].code, 250);
    assert_eq!(rcpts[1].code, 550, "{}", rcpts[1]);
    assert!(rcpts[1].text().starts_with("5.1.1"), "{}", rcpts[1]);
    assert_eq!(done.unwrap().unwrap().code, 250);
    let got = sink.wait_for_messages(1, Dovecot::RELAY_TIMEOUT).await;
    assert_eq!(got[0].rcpt_to, ["bob@localhost"]);
    assert_eq!(sink.faults().rejected_recipients, 1);

    // 451 at MAIL FROM, then success on retry: after RSET on the same connection, and on a
    // new connection. (Without the RSET, Dovecot 2.3.19's submission process panics on the
    // retried MAIL, `smtp_client_command_submit_after` assertion, and drops the client.)
    sink.fail_next_mail_from(2);
    let (mail, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("mail-451"))
        .await;
    assert_eq!(mail.code, 451, "{mail}");
    assert!(mail.text().starts_with("4.3.0"), "{mail}");
    assert!(done.is_none());
    assert_eq!(smtp.command("RSET").await.code, 250);
    let (mail, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("mail-451-rset"))
        .await;
    assert_eq!(mail.code, 451, "the second programmed failure: {mail}");
    assert!(done.is_none());
    assert_eq!(sink.faults().failed_mail_from, 2);
    assert_eq!(smtp.command("RSET").await.code, 250);
    let (mail, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("mail-451-rset"))
        .await;
    assert_eq!(mail.code, 250, "the retry after RSET: {mail}");
    assert_eq!(done.unwrap().unwrap().code, 250);
    sink.wait_for_messages(2, Dovecot::RELAY_TIMEOUT).await;

    sink.fail_next_mail_from(1);
    let (mail, _, _) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("mail-451-new"))
        .await;
    assert_eq!(mail.code, 451, "{mail}");
    drop(smtp);
    let (mut smtp, _) = login_465(&server).await;
    let (mail, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("mail-451-new"))
        .await;
    assert_eq!(mail.code, 250, "the retry on a new connection: {mail}");
    assert_eq!(done.unwrap().unwrap().code, 250);
    let got = sink.wait_for_messages(3, Dovecot::RELAY_TIMEOUT).await;
    assert_eq!(sink.faults().failed_mail_from, 3);
    assert!(got[1].data.ends_with(b"Gr\xc3\xbc\xc3\x9fe\r\n"));

    // The relay connection closed after the final dot, before its reply.
    sink.drop_after_next_data();
    let (_, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("dropped"))
        .await;
    let done = done.unwrap();
    assert_eq!(sink.faults().dropped_after_data, 1);
    assert_eq!(
        sink.dropped().len(),
        1,
        "the receiver had the whole message"
    );
    assert_eq!(sink.count(), 3, "but did not accept it");
    // Dovecot answers `421 4.4.0 … Lost connection to relay server` and closes.
    let done = done.expect("Dovecot answers the client");
    assert_eq!(done.code, 421, "a temporary failure: {done}");
    assert!(done.text().starts_with("4.4.0"), "{done}");
    assert!(smtp.read_reply().await.is_err(), "the connection is closed");
}

/// The UID a tagged `OK [APPENDUID v u]` names, and its UIDVALIDITY.
fn appenduid(tagged: &str) -> (u32, u32) {
    let inner = tagged
        .split_once("[APPENDUID ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("APPENDUID")
        .0;
    let (validity, uid) = inner.split_once(' ').unwrap();
    (validity.parse().unwrap(), uid.parse().unwrap())
}

#[tokio::test]
async fn burl_submits_a_message_appended_to_sent() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();
    let sent = message("by-reference");
    let answers = server.imap_script("alice", &[&append("Sent", &sent)]).await;
    assert!(answers[0].tagged.starts_with("OK"), "{answers:?}");
    let (uidvalidity, uid) = appenduid(&answers[0].tagged);
    // URLs name the configured authority (quirk 1), with the user for URLAUTH.
    let url = genurlauth(&server, "Sent", uidvalidity, uid).await;
    assert!(url.contains(":internal:"), "{url}");

    let (mut smtp, ehlo) = login_465(&server).await;
    assert!(ehlo.ehlo_line("BURL").is_some());
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{ALICE}>")).await.code,
        250
    );
    assert_eq!(smtp.command("RCPT TO:<bob@localhost>").await.code, 250);
    let burl = smtp.command(&format!("BURL {url} LAST")).await;
    assert_eq!(burl.code, 250, "BURL: {burl}\n{}", server.log());
    let got = sink.wait_for_messages(1, Dovecot::RELAY_TIMEOUT).await;
    assert_eq!(
        got[0].data_without_trace(),
        sent,
        "byte-identical to the Sent copy"
    );
    assert_eq!(got[0].rcpt_to, ["bob@localhost"]);
}

#[tokio::test]
async fn size_limit_and_bad_credentials_are_refused_by_dovecot() {
    let server = Dovecot::with_submission(SubmissionOptions {
        max_mail_size: Some(10_000),
        ..SubmissionOptions::default()
    });

    let mut smtp = RawSmtp::connect_tls(server.submissions_addr(), &server.tls()).await;
    smtp.ehlo().await;
    let auth = smtp.auth_plain("alice", "not-the-password").await;
    assert_eq!(auth.code, 535, "{auth}");
    assert!(auth.text().starts_with("5.7.8"), "{auth}");

    let (mut smtp, ehlo) = login_465(&server).await;
    assert_eq!(ehlo.ehlo_line("SIZE"), Some("SIZE 10000"));
    // Declared too large: refused at MAIL FROM, before any upload.
    let mail = smtp
        .command(&format!("MAIL FROM:<{ALICE}> SIZE=20000"))
        .await;
    assert_eq!(mail.code, 552, "{mail}");
    assert!(mail.text().starts_with("5.2.3"), "{mail}");
    // Undeclared and too large: refused after the final dot.
    let mut big = message("too-big");
    big.extend(
        std::iter::repeat_n(b"0123456789abcdef0123456789abcdef\r\n".as_slice(), 400).flatten(),
    );
    let (mail, _, done) = smtp.send_mail(ALICE, &["bob@localhost"], &big).await;
    assert_eq!(mail.code, 250, "{mail}");
    let done = done.unwrap().unwrap();
    assert_eq!(done.code, 552, "{done}");
    assert!(done.text().starts_with("5.2.3"), "{done}");
    assert_eq!(server.smtp_sink().count(), 0, "nothing was relayed");
}

#[tokio::test]
async fn the_receiver_can_file_sent_mail_itself() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    server.file_sent_mail_into("alice");
    let (mut smtp, _) = login_465(&server).await;
    let (_, _, done) = smtp
        .send_mail(ALICE, &["bob@localhost"], &message("filed-by-server"))
        .await;
    assert_eq!(done.unwrap().unwrap().code, 250);
    // Filed before the receiver answered: there when the client learns it was sent.
    assert_eq!(server.smtp_sink().filed(), 1);
    let answers = server
        .imap_script(
            "alice",
            &[
                "SELECT Sent",
                "UID SEARCH HEADER Message-ID <filed-by-server@anvert.test>",
            ],
        )
        .await;
    assert!(answers[1].tagged.starts_with("OK"), "{answers:?}");
    assert_eq!(answers[1].untagged, ["* SEARCH 1"], "{answers:?}");
}

/// GENURLAUTH for `mailbox`/`uid` as alice; the full URL.
async fn genurlauth(server: &Dovecot, mailbox: &str, uidvalidity: u32, uid: u32) -> String {
    let rump = format!(
        "{}/{mailbox};UIDVALIDITY={uidvalidity}/;UID={uid};urlauth=submit+alice",
        server
            .urlauth_authority()
            .replacen("imap://", "imap://alice@", 1)
    );
    let answers = server
        .imap_script("alice", &[&format!("GENURLAUTH \"{rump}\" INTERNAL")])
        .await;
    assert!(answers[0].tagged.starts_with("OK"), "{answers:?}");
    answers[0]
        .untagged
        .iter()
        .find_map(|l| l.strip_prefix("* GENURLAUTH "))
        .expect("a GENURLAUTH line")
        .trim_matches('"')
        .to_string()
}

/// `APPEND mailbox {n+}` of `message`, as a command for `imap_script`.
fn append(mailbox: &str, message: &[u8]) -> String {
    format!(
        "APPEND {mailbox} {{{}+}}\r\n{}",
        message.len(),
        String::from_utf8(message.to_vec()).unwrap()
    )
}

#[tokio::test]
async fn a_forward_catenated_from_url_references_is_submitted_with_burl() {
    use base64::Engine as _;
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let attachment: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&attachment);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let part_mime = "Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\
                     Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n";
    let part_body = lines.join("\r\n");
    let original = format!(
        "From: Bob <bob@localhost>\r\nTo: Alice <{ALICE}>\r\nSubject: original\r\n\
         Message-ID: <original@anvert.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\n{part_mime}{part_body}\r\n--b1--\r\n"
    );
    let answers = server
        .imap_script("alice", &[&append("INBOX", original.as_bytes())])
        .await;
    let (validity, uid) = appenduid(&answers[0].tagged);

    // The forward, assembled on the server: new text, then the original part by relative
    // URL (quirk 3), no SELECT.
    let head = format!(
        "From: Alice <{ALICE}>\r\nTo: Carol <carol@example.org>\r\nSubject: Fwd: original\r\n\
         Message-ID: <forward@anvert.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n\
         --b2\r\nContent-Type: text/plain\r\n\r\nhere it is\r\n--b2\r\n"
    );
    let tail = "\r\n--b2--\r\n";
    let part = format!("/INBOX;UIDVALIDITY={validity}/;UID={uid}/;SECTION=2");
    let catenate = format!(
        "APPEND Sent CATENATE (TEXT {{{}+}}\r\n{head} URL \"{part}.MIME\" URL \"{part}\" \
         TEXT {{{}+}}\r\n{tail})",
        head.len(),
        tail.len()
    );
    let answers = server.imap_script("alice", &[&catenate]).await;
    assert!(answers[0].tagged.starts_with("OK"), "CATENATE: {answers:?}");
    let (sent_validity, sent_uid) = appenduid(&answers[0].tagged);
    let url = genurlauth(&server, "Sent", sent_validity, sent_uid).await;

    let (mut smtp, _) = login_465(&server).await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{ALICE}>")).await.code,
        250
    );
    assert_eq!(smtp.command("RCPT TO:<carol@example.org>").await.code, 250);
    let burl = smtp.command(&format!("BURL {url} LAST")).await;
    assert_eq!(burl.code, 250, "BURL: {burl}\n{}", server.log());
    let got = server
        .smtp_sink()
        .wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
        .await;
    let expected = format!("{head}{part_mime}{part_body}{tail}");
    assert_eq!(
        String::from_utf8(got[0].data_without_trace()).unwrap(),
        expected,
        "the delivered forward holds the original part byte for byte"
    );
}

/// What the send acceptance bounds measure, done by hand through taps: SMTP DATA then
/// APPEND costs twice the message on the uplink; APPEND then GENURLAUTH and BURL costs it
/// once. Proves the taps, the URL authority (the real IMAPS port, whatever the client
/// connected to) and the byte bounds fit together.
#[tokio::test]
async fn through_taps_burl_uploads_the_message_once_and_data_twice() {
    use anvert_tests::tap::Tap;
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let smtp_tap = Tap::start(server.submissions_addr()).unwrap();
    let imap_tap = Tap::start(server.imaps_addr()).unwrap();
    let mut big = message("one-mib");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
    while big.len() < 1 << 20 {
        big.extend_from_slice(line);
    }
    let size = big.len() as f64;

    // SMTP DATA, then APPEND to Sent.
    let mut smtp = RawSmtp::connect_tls(smtp_tap.addr(), &server.tls()).await;
    smtp.ehlo().await;
    assert_eq!(
        smtp.auth_plain("alice", server.password("alice"))
            .await
            .code,
        235
    );
    let (_, _, done) = smtp.send_mail(ALICE, &["bob@localhost"], &big).await;
    assert_eq!(done.unwrap().unwrap().code, 250);
    smtp.command("QUIT").await;
    let answers = server
        .imap_script_at(imap_tap.addr(), "alice", &[&append("Sent", &big)])
        .await;
    assert!(answers[0].tagged.starts_with("OK"));
    let data_up = smtp_tap.stats().up + imap_tap.stats().up;

    // APPEND to Sent, GENURLAUTH, BURL.
    let smtp_mark = smtp_tap.mark();
    let imap_mark = imap_tap.mark();
    let answers = server
        .imap_script_at(imap_tap.addr(), "alice", &[&append("Sent", &big)])
        .await;
    let (validity, uid) = appenduid(&answers[0].tagged);
    let rump = format!(
        "{}/Sent;UIDVALIDITY={validity}/;UID={uid};urlauth=submit+alice",
        server
            .urlauth_authority()
            .replacen("imap://", "imap://alice@", 1)
    );
    let answers = server
        .imap_script_at(
            imap_tap.addr(),
            "alice",
            &[&format!("GENURLAUTH \"{rump}\" INTERNAL")],
        )
        .await;
    let url = answers[0]
        .untagged
        .iter()
        .find_map(|l| l.strip_prefix("* GENURLAUTH "))
        .expect("GENURLAUTH through the tap")
        .trim_matches('"')
        .to_string();
    let mut smtp = RawSmtp::connect_tls(smtp_tap.addr(), &server.tls()).await;
    smtp.ehlo().await;
    smtp.auth_plain("alice", server.password("alice")).await;
    assert_eq!(
        smtp.command(&format!("MAIL FROM:<{ALICE}>")).await.code,
        250
    );
    assert_eq!(smtp.command("RCPT TO:<bob@localhost>").await.code, 250);
    let burl = smtp.command(&format!("BURL {url} LAST")).await;
    assert_eq!(burl.code, 250, "{burl}");
    smtp.command("QUIT").await;
    let burl_up = smtp_tap.stats_since(&smtp_mark).up + imap_tap.stats_since(&imap_mark).up;

    let got = server
        .smtp_sink()
        .wait_for_messages(2, Dovecot::RELAY_TIMEOUT)
        .await;
    assert_eq!(got[0].data_without_trace(), big);
    assert_eq!(got[1].data_without_trace(), big);
    let (data_ratio, burl_ratio) = (data_up as f64 / size, burl_up as f64 / size);
    println!(
        "uplink for a {} byte message: DATA + APPEND {data_up} ({data_ratio:.3}x), \
         APPEND + BURL {burl_up} ({burl_ratio:.3}x)",
        big.len()
    );
    assert!((2.0..=2.1).contains(&data_ratio), "{data_ratio}");
    assert!((1.0..=1.05).contains(&burl_ratio), "{burl_ratio}");
}
