//! The SMTP client (`anvert_core::smtp`) against the real Dovecot 2.3.19 submission service
//! and the harness receiver behind it (issue 18), over implicit TLS (like 465) and STARTTLS
//! (like 587), through the byte tap: per-recipient results, the delivered bytes compared with
//! what was sent, the wire bytes and round trips of a send against bounds, the meter against
//! the tap, BURL of a message APPENDed to Sent (no upload), a temporary MAIL FROM refusal
//! then success on the same session, the relay dropping after the final dot, SIZE and a
//! rejected AUTH.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::time::Duration;

use anvert_core::{
    error::Error,
    net::{Credential, Purpose, Security, WireMeter},
    smtp::{self, Envelope, Payload, SendError, SmtpOptions, SmtpSession},
};
use anvert_tests::{
    client::endpoint,
    dovecot::{Dovecot, SubmissionOptions},
    tap::Tap,
};

const ALICE: &str = "alice@localhost";

/// A message with lines that need dot-stuffing, an 8-bit line and a body of `fill` lines.
fn message(subject: &str, fill: usize) -> Vec<u8> {
    let mut m = format!(
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
         .\r\n\
         Grüße\r\n"
    )
    .into_bytes();
    for i in 0..fill {
        m.extend_from_slice(
            format!("line {i:06} of the body, padded to a usual length ....\r\n").as_bytes(),
        );
    }
    m
}

fn envelope(to: &[&str], message: &[u8]) -> Envelope {
    Envelope {
        from: ALICE.into(),
        to: to.iter().map(|s| s.to_string()).collect(),
        size: message.len() as u64,
        eight_bit: true,
        utf8: false,
    }
}

async fn open(
    server: &Dovecot,
    tap: &Tap,
    security: Security,
    credential: &Credential,
    meter: &WireMeter,
) -> anvert_core::Result<SmtpSession> {
    smtp::connect(
        &endpoint(tap.addr(), security),
        credential,
        &server.tls(),
        meter,
        &SmtpOptions::default(),
    )
    .await
}

/// Both listeners, each through a tap of its own.
fn listeners(server: &Dovecot) -> [(Tap, Security); 2] {
    [
        (
            Tap::start(server.submissions_addr()).unwrap(),
            Security::ImplicitTls,
        ),
        (
            Tap::start(server.submission_addr()).unwrap(),
            Security::StartTls,
        ),
    ]
}

#[tokio::test]
async fn sends_over_465_and_587_with_per_recipient_results_in_two_round_trips() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();
    sink.reject_recipient("nobody@localhost");
    for (i, (tap, security)) in listeners(&server).into_iter().enumerate() {
        let meter = WireMeter::new();
        let mut session = open(&server, &tap, security, &server.credential("alice"), &meter)
            .await
            .unwrap();
        let caps = session.caps().clone();
        assert!(caps.pipelining && caps.eight_bit_mime && caps.enhanced_status_codes);
        assert!(
            caps.size.is_some_and(|n| n > 0),
            "SIZE after AUTH: {caps:?}"
        );
        let sent = message(&format!("plain-{i}"), 2_000);
        let mark = tap.mark();
        let delivery = session
            .send(
                &envelope(
                    &["bob@localhost", "nobody@localhost", "carol@localhost"],
                    &sent,
                ),
                Payload::Data(&sent),
            )
            .await
            .unwrap();
        let during = tap.stats_since(&mark);
        assert_eq!(delivery.accepted, ["bob@localhost", "carol@localhost"]);
        assert_eq!(delivery.rejected.len(), 1, "{delivery:?}");
        let refused = &delivery.rejected[0];
        assert_eq!(
            (refused.address.as_str(), refused.code, refused.permanent),
            ("nobody@localhost", 550, true),
            "{refused:?}"
        );
        assert_eq!(refused.enhanced.as_deref(), Some("5.1.1"), "{refused:?}");
        // One flight (MAIL, RCPT ×3, DATA) and the body: two turns of the link.
        assert_eq!(during.round_trips, 2, "{during:?}");
        // Up: the message (its dot-stuffing adds 3 bytes), the commands and TLS framing.
        let overhead = during.up - sent.len() as u64;
        assert!(
            overhead < 700,
            "{overhead} bytes beyond the message: {during:?}"
        );
        session.quit().await;
        assert!(tap.wait_all_closed(Duration::from_secs(10)));
        // Every byte the client wrote went through the meter, as send.
        let totals = meter.totals();
        assert_eq!(totals.written_for(Purpose::Send), tap.stats().up);
        assert_eq!(totals.total(), totals.total_for(Purpose::Send));
        eprintln!(
            "{security:?}: message {} B; send up {} B ({overhead} beyond), {} round trips; \
             whole session up {} B, down {} B, {} round trips",
            sent.len(),
            during.up,
            during.round_trips,
            tap.stats().up,
            tap.stats().down,
            tap.stats().round_trips
        );
        let got = sink.wait_for_messages(i + 1, Dovecot::RELAY_TIMEOUT).await;
        let got = &got[i];
        assert_eq!(got.rcpt_to, ["bob@localhost", "carol@localhost"]);
        assert_eq!(got.data_without_trace(), sent, "byte-identical");
        assert!(got.mail_params.contains("BODY=8BITMIME"), "{got:?}");
    }
}

/// The message appended to Sent once, then submitted by reference: the send uploads no
/// message bytes, and the receiver gets the Sent copy byte for byte.
#[tokio::test]
async fn burl_with_the_authority_from_the_ehlo_after_auth() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();
    let sent = message("by-reference", 2_000);
    let append = format!(
        "APPEND Sent {{{}+}}\r\n{}",
        sent.len(),
        String::from_utf8(sent.clone()).unwrap()
    );
    let answers = server.imap_script("alice", &[&append]).await;
    let tagged = &answers[0].tagged;
    let (uidvalidity, uid) = tagged
        .split_once("[APPENDUID ")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(inner, _)| inner.split_once(' '))
        .expect("APPENDUID");
    let rump = format!(
        "{}/Sent;UIDVALIDITY={uidvalidity}/;UID={uid};urlauth=submit+alice",
        server
            .urlauth_authority()
            .replacen("imap://", "imap://alice@", 1)
    );
    let answers = server
        .imap_script("alice", &[&format!("GENURLAUTH \"{rump}\" INTERNAL")])
        .await;
    let url = answers[0]
        .untagged
        .iter()
        .find_map(|l| l.strip_prefix("* GENURLAUTH "))
        .expect("a GENURLAUTH line")
        .trim_matches('"')
        .to_string();

    let tap = Tap::start(server.submissions_addr()).unwrap();
    let meter = WireMeter::new();
    let mut session = open(
        &server,
        &tap,
        Security::ImplicitTls,
        &server.credential("alice"),
        &meter,
    )
    .await
    .unwrap();
    let burl = session.caps().burl.clone().expect("BURL");
    assert!(burl.imap);
    assert_eq!(burl.authorities, [server.urlauth_authority()]);
    let mark = tap.mark();
    let delivery = session
        .send(
            &envelope(&["bob@localhost"], &sent),
            Payload::Burl { url: &url },
        )
        .await
        .unwrap();
    let during = tap.stats_since(&mark);
    assert_eq!(delivery.accepted, ["bob@localhost"]);
    // MAIL, RCPT and BURL in one flight: one turn, a few hundred bytes for a 100 KB message.
    assert_eq!(during.round_trips, 1, "{during:?}");
    assert!(during.up < 1_000, "{during:?}");
    eprintln!(
        "BURL of a {} B message: up {} B, down {} B, {} round trip",
        sent.len(),
        during.up,
        during.down,
        during.round_trips
    );
    let got = sink.wait_for_messages(1, Dovecot::RELAY_TIMEOUT).await;
    assert_eq!(got[0].data_without_trace(), sent);
    session.quit().await;
}

/// A 451 at MAIL FROM is temporary, and the next session sends; the relay dropping after the
/// final dot reaches the client as a temporary refusal, and the next session sends again.
#[tokio::test]
async fn temporary_refusals_then_success() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let sink = server.smtp_sink();
    let tap = Tap::start(server.submission_addr()).unwrap();
    let meter = WireMeter::new();
    let mut session = open(
        &server,
        &tap,
        Security::StartTls,
        &server.credential("alice"),
        &meter,
    )
    .await
    .unwrap();
    let sent = message("retried", 10);
    sink.fail_next_mail_from(1);
    let err = session
        .send(&envelope(&["bob@localhost"], &sent), Payload::Data(&sent))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SendError {
                error: Error::SmtpRejected {
                    stage: "MAIL FROM",
                    code: 451,
                    permanent: false,
                    ..
                },
                maybe_delivered: false
            }
        ),
        "{err:?}"
    );
    // Dovecot 2.3.19's submission process panics at the next command after a MAIL FROM the
    // relay refused in a pipelined flight (smtp-client-transaction.c:786, `!trans->reset`)
    // and the connection closes: the client's RSET finds it closed, and the session says so.
    assert!(session.is_broken());
    assert!(server.log().contains("Panic"), "{}", server.log());
    drop(session);
    let mut session = open(
        &server,
        &tap,
        Security::StartTls,
        &server.credential("alice"),
        &meter,
    )
    .await
    .unwrap();
    session
        .send(&envelope(&["bob@localhost"], &sent), Payload::Data(&sent))
        .await
        .unwrap();
    assert_eq!(
        sink.wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
            .await
            .len(),
        1
    );

    // The relay closes after the final dot without answering: Dovecot answers the dot
    // with 421 4.4.0 and closes. The receiver has the bytes (`dropped`), the client a
    // temporary refusal: a retry can deliver twice.
    sink.drop_after_next_data();
    let err = session
        .send(&envelope(&["bob@localhost"], &sent), Payload::Data(&sent))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            SendError {
                error: Error::SmtpRejected {
                    stage: "end of DATA",
                    code: 421,
                    permanent: false,
                    ..
                },
                maybe_delivered: false
            }
        ),
        "{err:?}"
    );
    assert_eq!(sink.dropped().len(), 1);
    drop(session);

    let mut session = open(
        &server,
        &tap,
        Security::StartTls,
        &server.credential("alice"),
        &meter,
    )
    .await
    .unwrap();
    session
        .send(&envelope(&["bob@localhost"], &sent), Payload::Data(&sent))
        .await
        .unwrap();
    assert_eq!(
        sink.wait_for_messages(2, Dovecot::RELAY_TIMEOUT)
            .await
            .len(),
        2
    );
    session.quit().await;
}

#[tokio::test]
async fn size_and_auth_refusals() {
    let server = Dovecot::with_submission(SubmissionOptions {
        max_mail_size: Some(10_000),
        ..SubmissionOptions::default()
    });
    let tap = Tap::start(server.submissions_addr()).unwrap();
    let meter = WireMeter::new();
    let err = open(
        &server,
        &tap,
        Security::ImplicitTls,
        &Credential::password("alice", "not-the-password"),
        &meter,
    )
    .await
    .map(drop)
    .unwrap_err();
    assert!(matches!(&err, Error::AuthRejected { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("not-the-password"));

    let mut session = open(
        &server,
        &tap,
        Security::ImplicitTls,
        &server.credential("alice"),
        &meter,
    )
    .await
    .unwrap();
    assert_eq!(session.caps().size, Some(10_000));
    let big = message("too-big", 400);
    let mark = tap.mark();
    let err = session
        .send(&envelope(&["bob@localhost"], &big), Payload::Data(&big))
        .await
        .unwrap_err();
    assert!(
        matches!(err.error, Error::MessageTooLarge { limit: 10_000, .. }),
        "{err:?}"
    );
    assert_eq!(tap.stats_since(&mark).up, 0, "nothing written");
    session.quit().await;
}
