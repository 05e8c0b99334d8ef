//! Transcripts of opening a session: TLS (implicit and STARTTLS, refused when stripped),
//! EHLO and its HELO fallback, AUTH with a password or an OAuth2 token (refused, then
//! refreshed), and the EHLO after AUTH that brings BURL's authority.

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};

use super::*;
use crate::{
    error::Error,
    net::{Purpose, Secret, TokenFuture, TokenProvider},
    smtp::{Burl, SmtpCaps},
};

const CAPS: &[&str] = &[
    "PIPELINING",
    "SIZE 10240000",
    "AUTH PLAIN",
    "ENHANCEDSTATUSCODES",
    "8BITMIME",
];

#[tokio::test]
async fn implicit_tls_ehlo_auth_plain_all_counted_as_send() {
    let mut script = vec![Step::Tls];
    script.extend(prelude(CAPS));
    let opened = open(Security::ImplicitTls, script).await;
    let session = opened.result.unwrap();
    let caps = session.caps();
    assert!(caps.pipelining && caps.eight_bit_mime && caps.enhanced_status_codes);
    assert_eq!(caps.size, Some(10_240_000));
    assert_eq!(caps.auth, vec!["PLAIN".to_string()]);
    let totals = opened.meter.totals();
    assert!(totals.written_for(Purpose::Send) > 0 && totals.read_for(Purpose::Send) > 0);
    assert_eq!(totals.total(), totals.total_for(Purpose::Send));
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());
}

#[tokio::test]
async fn starttls_then_ehlo_again_and_the_list_before_tls_is_forgotten() {
    let script = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        // What an attacker could have rewritten: never used.
        send(ehlo_reply(&["STARTTLS", "SIZE 1", "AUTH LOGIN"])),
        expect("STARTTLS\r\n"),
        send("220 2.0.0 Ready to start TLS\r\n"),
        Step::Tls,
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(CAPS)),
        expect(format!("AUTH PLAIN {PLAIN_IR}\r\n")),
        send("235 2.7.0 OK\r\n"),
    ];
    let opened = open(Security::StartTls, script).await;
    let session = opened.result.unwrap();
    assert_eq!(session.caps().size, Some(10_240_000));
    assert!(!session.caps().starttls);
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());
}

/// A 587 server whose EHLO lacks STARTTLS, or that answers STARTTLS with 454: refused, and
/// not one more byte is sent (certainly no AUTH).
#[tokio::test]
async fn starttls_stripped_or_refused_sends_nothing_more() {
    let stripped = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["AUTH PLAIN LOGIN", "PIPELINING"])),
    ];
    let refused = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["STARTTLS", "AUTH PLAIN"])),
        expect("STARTTLS\r\n"),
        send("454 4.7.0 TLS not available due to temporary reason\r\n"),
    ];
    for script in [stripped, refused] {
        let opened = open(Security::StartTls, script).await;
        let err = opened.result.unwrap_err();
        assert!(
            matches!(
                err,
                Error::TlsUnavailable {
                    command: "STARTTLS"
                }
            ),
            "{err:?}"
        );
        let rest = opened.server.await.unwrap();
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }
}

#[tokio::test]
async fn bytes_after_the_starttls_220_are_refused() {
    let script = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["STARTTLS"])),
        expect("STARTTLS\r\n"),
        send("220 Go ahead\r\n250 injected\r\n"),
    ];
    let opened = open(Security::StartTls, script).await;
    assert!(matches!(opened.result, Err(Error::Protocol { .. })));
    assert!(opened.server.await.unwrap().is_empty());
}

#[tokio::test]
async fn auth_rejected_keeps_the_server_text_but_no_credential() {
    let mut script = prelude(CAPS);
    script.truncate(4);
    script.push(send(
        "535 5.7.8 Authentication credentials invalid\x1b[2J\r\n",
    ));
    let opened = open(Security::DangerPlaintext, script).await;
    let err = opened.result.unwrap_err();
    let Error::AuthRejected { text } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(text, "Authentication credentials invalid[2J");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(
            !shown.contains("s3cret") && !shown.contains(PLAIN_IR),
            "{shown}"
        );
    }
    assert!(opened.server.await.unwrap().is_empty());
}

#[tokio::test]
async fn a_temporary_auth_failure_is_a_temporary_rejection() {
    let mut script = prelude(CAPS);
    script.truncate(4);
    script.push(send("454 4.7.0 Temporary authentication failure\r\n"));
    let opened = open(Security::DangerPlaintext, script).await;
    assert!(
        matches!(
            &opened.result,
            Err(Error::SmtpRejected {
                stage: "AUTH",
                code: 454,
                permanent: false,
                ..
            })
        ),
        "{:?}",
        opened.result.map(drop)
    );
}

#[tokio::test]
async fn a_password_without_auth_plain_is_unsupported_and_sends_nothing() {
    let script = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["AUTH LOGIN CRAM-MD5"])),
    ];
    let opened = open(Security::DangerPlaintext, script).await;
    assert!(
        matches!(opened.result, Err(Error::Unsupported { .. })),
        "{:?}",
        opened.result.map(drop)
    );
    assert!(opened.server.await.unwrap().is_empty());
}

/// EHLO refused as unknown: HELO, no extensions, and (no AUTH offered) no login.
#[tokio::test]
async fn helo_when_ehlo_is_unknown_and_no_auth_when_none_is_offered() {
    let script = vec![
        send("220 old.test SMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send("502 5.5.2 Command not recognized\r\n"),
        expect("HELO [127.0.0.1]\r\n"),
        send("250 old.test\r\n"),
    ];
    let opened = open(Security::DangerPlaintext, script).await;
    let session = opened.result.unwrap();
    assert_eq!(session.caps(), &SmtpCaps::default());
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());
}

#[tokio::test]
async fn a_greeting_that_turns_us_away() {
    let opened = open(
        Security::DangerPlaintext,
        vec![send("554 5.3.2 No service for you\r\n")],
    )
    .await;
    assert!(matches!(
        opened.result,
        Err(Error::SmtpRejected {
            stage: "greeting",
            code: 554,
            permanent: true,
            ..
        })
    ));
}

/// Dovecot announces `BURL imap` before AUTH and its authority only after: the EHLO after
/// AUTH is what the session keeps. Without BURL, no second EHLO.
#[tokio::test]
async fn burl_caps_come_from_the_ehlo_after_auth() {
    let mut script = prelude(&["AUTH PLAIN", "BURL imap", "PIPELINING"]);
    script.extend([
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&[
            "BURL imap imap://localhost:15993",
            "PIPELINING",
        ])),
    ]);
    let opened = open(Security::DangerPlaintext, script).await;
    let session = opened.result.unwrap();
    assert_eq!(
        session.caps().burl,
        Some(Burl {
            imap: true,
            authorities: vec!["imap://localhost:15993".into()],
        })
    );
    // With PIPELINING, the second EHLO rides behind AUTH PLAIN: EHLO, then AUTH + EHLO.
    assert_eq!(opened.writes.count(), 2);
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());

    // Without PIPELINING, one at a time.
    let mut script = prelude(&["AUTH PLAIN", "BURL imap"]);
    script.extend([
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(&["BURL imap imap://localhost:15993"])),
    ]);
    let opened = open(Security::DangerPlaintext, script).await;
    let session = opened.result.unwrap();
    assert_eq!(
        session.caps().burl.as_ref().map(|b| b.authorities.len()),
        Some(1)
    );
    assert_eq!(opened.writes.count(), 3);
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());

    let opened = open(Security::DangerPlaintext, prelude(CAPS)).await;
    let session = opened.result.unwrap();
    assert_eq!(session.caps().burl, None);
    drop(session);
    assert!(opened.server.await.unwrap().is_empty());
}

/// Hands out `stale-N` tokens (`N` counts calls), `fresh-N` when asked to refresh.
#[derive(Debug, Default)]
struct Counting {
    calls: AtomicU32,
}

impl TokenProvider for Counting {
    fn access_token<'a>(&'a self, _: &'a str, force_refresh: bool) -> TokenFuture<'a> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let kind = if force_refresh { "fresh" } else { "stale" };
            Ok(Secret::new(format!("{kind}-{n}")))
        })
    }
}

fn bearer(token: &str) -> String {
    BASE64.encode(format!(
        "n,a=alice,\x01host=mail.example.test\x01port=587\x01auth=Bearer {token}\x01\x01"
    ))
}

fn xoauth2(token: &str) -> String {
    BASE64.encode(format!("user=alice\x01auth=Bearer {token}\x01\x01"))
}

/// {"status":"invalid_token"}
const INVALID_TOKEN: &str = "334 eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n";

async fn oauth(caps: &[&str], steps: Vec<Step>) -> (Opened, Arc<Counting>) {
    let provider = Arc::new(Counting::default());
    let mut script = vec![
        send("220 fake.test ESMTP\r\n"),
        expect("EHLO [127.0.0.1]\r\n"),
        send(ehlo_reply(caps)),
    ];
    script.extend(steps);
    let credential = Credential::oauth2(USER, provider.clone());
    let opened = open_with(Security::DangerPlaintext, &credential, script).await;
    (opened, provider)
}

#[tokio::test]
async fn xoauth2_refused_then_refreshed_once() {
    let (opened, provider) = oauth(
        &["AUTH PLAIN XOAUTH2"],
        vec![
            expect(format!("AUTH XOAUTH2 {}\r\n", xoauth2("stale-1"))),
            send(INVALID_TOKEN),
            expect("\r\n"),
            send("535 5.7.8 Username and Password not accepted\r\n"),
            expect(format!("AUTH XOAUTH2 {}\r\n", xoauth2("fresh-2"))),
            send("235 2.7.0 Accepted\r\n"),
        ],
    )
    .await;
    opened.result.unwrap();
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn oauthbearer_preferred_and_two_rejections_are_auth_rejected() {
    let (opened, provider) = oauth(
        &["AUTH XOAUTH2 OAUTHBEARER"],
        vec![
            expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("stale-1"))),
            send(INVALID_TOKEN),
            expect("AQ==\r\n"),
            send("535 5.7.8 Authentication failed\r\n"),
            expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("fresh-2"))),
            send(INVALID_TOKEN),
            expect("AQ==\r\n"),
            send("535 5.7.8 Authentication failed\r\n"),
        ],
    )
    .await;
    let err = opened.result.unwrap_err();
    let Error::AuthRejected { text } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(text, "Authentication failed (OAuth2 status invalid_token)");
    assert!(!format!("{err:?}").contains("stale") && !err.to_string().contains("fresh"));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    assert!(opened.server.await.unwrap().is_empty());
}

#[tokio::test]
async fn oauthbearer_accepted_first_time_asks_one_token() {
    let (opened, provider) = oauth(
        &["AUTH OAUTHBEARER"],
        vec![
            expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("stale-1"))),
            send("235 2.7.0 Accepted\r\n"),
        ],
    )
    .await;
    opened.result.unwrap();
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn no_oauth_mechanism_asks_for_no_token() {
    let (opened, provider) = oauth(&["AUTH PLAIN LOGIN"], vec![]).await;
    assert!(matches!(opened.result, Err(Error::Unsupported { .. })));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
    assert!(opened.server.await.unwrap().is_empty());
}
