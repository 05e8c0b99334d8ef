//! Transcripts of opening a session: greeting, CAPA, login choices, STLS refusal and
//! upgrade, and what must never leak into errors.

use super::*;
use crate::{error::Error, net::Purpose};

#[tokio::test]
async fn greeting_capa_apop_on_plaintext() {
    let (session, server, meter) =
        open(Security::DangerPlaintext, prelude(BASIC_CAPS), &options()).await;
    let session = session.unwrap();
    assert_eq!(session.apop_timestamp(), Some("<1896.697170952@fake.test>"));
    assert!(!session.is_tls());
    let caps = session.capabilities();
    assert!(caps.announced() && caps.has("top") && caps.has("UIDL") && !caps.has("PIPELINING"));
    let totals = meter.totals();
    assert!(totals.read_for(Purpose::Connect) > 0 && totals.written_for(Purpose::Connect) > 0);
    assert_eq!(totals.total_for(Purpose::SyncMetadata), 0);
    drop(session);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn auth_plain_preferred_when_offered() {
    let caps = "USER\r\nSASL PLAIN LOGIN\r\nPIPELINING\r\n";
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send(format!("+OK\r\n{caps}.\r\n")),
        // base64("\0alice\0s3cret pass")
        expect("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz\r\n"),
        send("+OK Logged in.\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nUSER\r\nPIPELINING\r\nUIDL\r\n.\r\n"),
    ];
    let (session, server, _) = open(Security::DangerPlaintext, script, &options()).await;
    let session = session.unwrap();
    assert_eq!(session.apop_timestamp(), None);
    // The capabilities after login replace the ones before.
    assert!(session.capabilities().has("UIDL") && !session.capabilities().has_sasl("PLAIN"));
    drop(session);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn no_capa_falls_back_to_user_pass_without_asking_again() {
    let script = vec![
        send("+OK old server\r\n"),
        expect("CAPA\r\n"),
        send("-ERR unknown command\r\n"),
        expect("USER alice\r\n"),
        send("+OK\r\n"),
        expect("PASS s3cret pass\r\n"),
        send("+OK\r\n"),
    ];
    let (session, server, _) = open(Security::DangerPlaintext, script, &options()).await;
    let session = session.unwrap();
    assert!(!session.capabilities().announced());
    drop(session);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn rejected_login_keeps_server_text_but_no_credentials() {
    let mut script = prelude(BASIC_CAPS);
    script.truncate(4); // up to the APOP command
    script.push(send(
        "-ERR [AUTH] Authentication failed for alice\x1b[2J\r\n",
    ));
    let (result, server, _) = open(Security::DangerPlaintext, script, &options()).await;
    let err = result.unwrap_err();
    let Error::AuthRejected { text } = &err else {
        panic!("expected AuthRejected, got {err:?}")
    };
    assert_eq!(text, "[AUTH] Authentication failed for alice[2J");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(
            !shown.contains(PASSWORD) && !shown.contains("s3cret"),
            "{shown}"
        );
    }
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn auth_plain_rejected() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nSASL PLAIN\r\n.\r\n"),
        expect("AUTH PLAIN AGFsaWNlAHMzY3JldCBwYXNz\r\n"),
        send("-ERR [AUTH] Invalid credentials\r\n"),
    ];
    let (result, _, _) = open(Security::DangerPlaintext, script, &options()).await;
    assert!(
        matches!(result, Err(Error::AuthRejected { text }) if text == "[AUTH] Invalid credentials")
    );
}

#[tokio::test]
async fn apop_digest_is_md5_of_timestamp_and_password() {
    // RFC 1939 §7's example, on a plaintext connection offering USER and SASL PLAIN too.
    let script = vec![
        send("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nUSER\r\nSASL PLAIN\r\nUIDL\r\n.\r\n"),
        expect("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        send("+OK maildrop has 1 message (369 octets)\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nUIDL\r\n.\r\n"),
    ];
    let meter = WireMeter::new();
    let (io, server) = super::server(script);
    let session = establish(
        BoxedIo::new(io),
        &endpoint(Security::DangerPlaintext),
        &Credential::password("mrose", "tanstaaf"),
        &tls(),
        &meter,
        &options(),
    )
    .await
    .unwrap();
    drop(session);
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn apop_rejected_is_auth_rejected_without_the_digest() {
    let script = vec![
        send("+OK ready <1.2@fake.test>\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nUSER\r\n.\r\n"),
        Step::Capture,
        send("-ERR [AUTH] Authentication failed.\r\n"),
    ];
    let (result, server, _) = open(Security::DangerPlaintext, script, &options()).await;
    let err = result.map(drop).unwrap_err();
    assert!(matches!(&err, Error::AuthRejected { .. }), "{err:?}");
    let sent = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(sent.starts_with("APOP alice "), "{sent}");
    let digest = sent.trim_end().rsplit(' ').next().unwrap().to_string();
    assert!(!format!("{err} {err:?}").contains(&digest));
    assert!(!sent.contains(PASSWORD));
}

#[tokio::test]
async fn no_supported_login_method() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nSASL GSSAPI\r\nTOP\r\n.\r\n"),
    ];
    let (result, server, _) = open(Security::DangerPlaintext, script, &options()).await;
    assert!(matches!(result, Err(Error::ServerNo { command, .. }) if command == "login"));
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn credentials_with_line_breaks_are_never_sent() {
    let meter = WireMeter::new();
    let (io, server) = super::server(vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nUSER\r\n.\r\n"),
    ]);
    let credential = Credential::password("alice\r\nDELE 1", "pw");
    let result = establish(
        BoxedIo::new(io),
        &endpoint(Security::DangerPlaintext),
        &credential,
        &tls(),
        &meter,
        &options(),
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    assert!(!err.to_string().contains("alice"));
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn greeting_err_and_garbage() {
    let (result, _, _) = open(
        Security::DangerPlaintext,
        vec![send("-ERR too busy\r\n")],
        &options(),
    )
    .await;
    assert!(
        matches!(result, Err(Error::ServerNo { command, text }) if command == "greeting" && text == "too busy")
    );
    let (result, _, _) = open(
        Security::DangerPlaintext,
        vec![send("* OK [CAPABILITY IMAP4rev1] IMAP ready\r\n")],
        &options(),
    )
    .await;
    assert!(matches!(result, Err(Error::Protocol { .. })));
    let (result, _, _) = open(
        Security::DangerPlaintext,
        vec![send("+OK hi"), Step::Close],
        &options(),
    )
    .await;
    assert!(matches!(result, Err(Error::ConnectionClosed)));
}

#[tokio::test]
async fn stls_stripped_is_refused_before_credentials() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        // An attacker removed STLS from the list.
        send("+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n.\r\n"),
    ];
    let (result, server, _) = open(Security::StartTls, script, &options()).await;
    assert!(matches!(
        result,
        Err(Error::TlsUnavailable { command: "STLS" })
    ));
    // Nothing else was sent: no USER, no AUTH.
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn stls_without_capa_is_refused() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("-ERR what?\r\n"),
    ];
    let (result, server, _) = open(Security::StartTls, script, &options()).await;
    assert!(matches!(
        result,
        Err(Error::TlsUnavailable { command: "STLS" })
    ));
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn stls_then_tls_handshake_before_anything_else() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        expect("STLS\r\n"),
        send("+OK Begin TLS negotiation now.\r\n"),
        Step::Capture,
        Step::Close,
    ];
    let (result, server, _) = open(Security::StartTls, script, &options()).await;
    // The fake server cannot speak TLS, so the handshake fails.
    assert!(matches!(result, Err(Error::Tls { .. })), "{result:?}");
    let after_stls = server.await.unwrap();
    assert_eq!(
        after_stls.first(),
        Some(&0x16),
        "a TLS handshake record follows STLS"
    );
    assert!(!String::from_utf8_lossy(&after_stls).contains("alice"));
}

#[tokio::test]
async fn stls_refused_by_server() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        expect("STLS\r\n"),
        send("-ERR TLS not available right now\r\n"),
    ];
    let (result, server, _) = open(Security::StartTls, script, &options()).await;
    assert!(matches!(result, Err(Error::ServerNo { command, .. }) if command == "STLS"));
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn plaintext_injected_after_stls_ok_is_refused() {
    let script = vec![
        send("+OK ready\r\n"),
        expect("CAPA\r\n"),
        send("+OK\r\nSTLS\r\nUSER\r\n.\r\n"),
        expect("STLS\r\n"),
        send("+OK Begin TLS\r\n+OK injected\r\n"),
    ];
    let (result, server, _) = open(Security::StartTls, script, &options()).await;
    assert!(matches!(result, Err(Error::Protocol { .. })), "{result:?}");
    assert!(server.await.unwrap().is_empty());
}

#[tokio::test]
async fn hostile_capa_is_bounded() {
    let mut huge = String::from("+OK\r\n");
    for i in 0..1_000 {
        huge.push_str(&format!("X-CAP-{i}\r\n"));
    }
    huge.push_str(".\r\n");
    let script = vec![send("+OK ready\r\n"), expect("CAPA\r\n"), send(huge)];
    let (result, _, _) = open(Security::DangerPlaintext, script, &options()).await;
    assert!(matches!(result, Err(Error::Protocol { .. })));
}

#[tokio::test]
async fn session_debug_shows_no_secrets() {
    let (session, _server, _) = session_with(BASIC_CAPS, vec![]).await;
    let shown = format!("{session:?}");
    assert!(
        shown.contains("Pop3Session") && !shown.contains(PASSWORD) && !shown.contains(USER),
        "{shown}"
    );
}
