//! The harness proves itself end to end: a private Dovecot over verified TLS (implicit and
//! STARTTLS, IMAP and POP3), a generated mailbox whose count the server agrees with, and a
//! client that does not trust the test CA being refused with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    imap::{self, ConnectOptions, SpecialUse},
    net::{Security, TlsConnector, Trust, WireMeter},
};
use anvert_tests::{
    client::endpoint,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
};

fn small_mailbox(count: usize) -> GenConfig {
    GenConfig {
        seed: 7,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

#[tokio::test]
async fn imap_implicit_tls_and_starttls_see_the_generated_mailbox() {
    let server = Dovecot::start();
    let truth = server.deliver_generated("alice", None, &small_mailbox(40));
    assert_eq!(truth.len(), 40);

    for security in [Security::ImplicitTls, Security::StartTls] {
        let addr = if security == Security::ImplicitTls {
            server.imaps_addr()
        } else {
            server.imap_addr()
        };
        let meter = WireMeter::new();
        let mut session = imap::connect(
            &endpoint(addr, security),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            &ConnectOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{security:?}: {e}\n{}", server.log()));
        assert!(session.capabilities().has("IMAP4REV1"));
        assert!(
            session.capabilities().has("QRESYNC"),
            "QRESYNC is on by default"
        );
        assert!(session.is_compressed(), "COMPRESS=DEFLATE is negotiated");
        assert_eq!(session.enabled(), ["CONDSTORE", "QRESYNC"]);

        let folders = session.list_folders(true).await.unwrap();
        let roles: Vec<_> = folders.iter().filter_map(|f| f.special_use).collect();
        for role in [
            SpecialUse::Inbox,
            SpecialUse::Sent,
            SpecialUse::Drafts,
            SpecialUse::Trash,
            SpecialUse::Junk,
            SpecialUse::Archive,
        ] {
            assert!(roles.contains(&role), "{role:?} missing from {folders:?}");
        }
        let inbox = session.select("INBOX", None).await.unwrap();
        assert_eq!(inbox.exists as usize, truth.len());
        assert!(inbox.uid_validity.is_some() && inbox.highest_modseq.is_some());
        assert_eq!(
            inbox.uid_next,
            Some(truth.len() as u32 + 1),
            "UIDs follow generation order"
        );
        session.logout().await.unwrap();
        assert!(
            meter.totals().total() > 0,
            "the wire meter counted the session"
        );
    }
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_test_ca_is_refused() {
    let server = Dovecot::start();
    let untrusting = TlsConnector::new(&Trust::default()).unwrap();
    let err = imap::connect(
        &endpoint(server.imaps_addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &untrusting,
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::Tls { reason, .. } => assert!(reason.contains("unknown issuer"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(err.to_string().contains("certificate not trusted"), "{err}");

    // A certificate for the wrong name is refused too, even from the trusted CA.
    let mut wrong_name = endpoint(server.imaps_addr(), Security::ImplicitTls);
    wrong_name.host = "localhost.".into();
    let wrong = imap::connect(
        &wrong_name,
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await;
    assert!(
        matches!(
            wrong,
            Err(Error::Tls { .. }) | Err(Error::Dns { .. }) | Err(Error::Connect { .. })
        ),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error_without_the_secret() {
    let server = Dovecot::start();
    let bad = anvert_core::net::Credential::password("alice", "not-the-password-xyzzy");
    let err = imap::connect(
        &endpoint(server.imaps_addr(), Security::ImplicitTls),
        &bad,
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::AuthRejected { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("xyzzy"), "the password leaked: {shown}");
}

#[tokio::test]
async fn starttls_stripping_is_refused_before_any_credential_is_sent() {
    // A scripted server that never offers STARTTLS, as an attacker stripping it would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        write.write_all(b"* OK IMAP4rev1 ready\r\n").await.unwrap();
        let mut lines = BufReader::new(read).lines();
        let mut received = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            received.push(line.clone());
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            if line.to_ascii_uppercase().contains("CAPABILITY") {
                write
                    .write_all(
                        format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n")
                            .as_bytes(),
                    )
                    .await
                    .unwrap();
            } else {
                write
                    .write_all(format!("{tag} OK whatever\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        }
        received
    });
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = anvert_tests::certs::TestPki::create(pki_dir.path(), "ca").unwrap();
    let tls =
        TlsConnector::new(&Trust::default().with_extra_roots_pem(&pki.ca_pem).unwrap()).unwrap();
    let err = imap::connect(
        &endpoint(addr, Security::StartTls),
        &anvert_core::net::Credential::password("alice", "secret-pw"),
        &tls,
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TlsUnavailable {
                command: "STARTTLS"
            }
        ),
        "{err:?}"
    );
    let received = server.await.unwrap();
    assert!(
        received
            .iter()
            .all(|l| !l.contains("secret-pw") && !l.to_ascii_uppercase().contains("LOGIN")),
        "{received:?}"
    );
}

#[tokio::test]
async fn the_server_itself_refuses_plaintext_login_from_a_non_loopback_peer() {
    // Dovecot counts 127.0.0.1 -> 127.0.0.1 as secure; 127.0.0.2 is not, so this checks that
    // the harness server really enforces TLS, independently of the client.
    let server = Dovecot::start();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 2], server.ports.imap));
    let err = imap::connect(
        &endpoint(addr, Security::DangerPlaintext),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { text, .. } if text.contains("LOGINDISABLED"))
            || matches!(err, Error::AuthRejected { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_tap_and_the_engine_meter_agree_to_the_byte() {
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &small_mailbox(20));
    let tap = anvert_tests::tap::Tap::start(server.imaps_addr()).unwrap();
    let meter = WireMeter::new();
    let mut session = imap::connect(
        &endpoint(tap.addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    session.list_folders(false).await.unwrap();
    session.select("INBOX", None).await.unwrap();
    // Compare while the connection is quiet: everything the server sent has been read. (After
    // LOGOUT the server's TLS close_notify may reach the tap after the client stopped reading.)
    let stats = tap.stats();
    let totals = meter.totals();
    let (read, written): (u64, u64) = (totals.read.iter().sum(), totals.written.iter().sum());
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.up, written, "client->server bytes");
    assert_eq!(stats.down, read, "server->client bytes");
    session.logout().await.unwrap();
    assert!(tap.wait_all_closed(std::time::Duration::from_secs(5)));
    assert!(
        stats.round_trips >= 5,
        "handshake, login, enable, compress, list, select: {stats:?}"
    );
}

#[tokio::test]
async fn pop3_over_implicit_tls_and_stls_sees_the_generated_mailbox() {
    use anvert_core::pop3::{self, Pop3Options};
    let server = Dovecot::start();
    let truth = server.deliver_generated("alice", None, &small_mailbox(25));
    let total: u64 = truth.iter().map(|t| t.size as u64).sum();
    for (addr, security) in [
        (server.pop3s_addr(), Security::ImplicitTls),
        (server.pop3_addr(), Security::StartTls),
    ] {
        let meter = WireMeter::new();
        let mut session = pop3::connect(
            &endpoint(addr, security),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            &Pop3Options::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{security:?}: {e}\n{}", server.log()));
        assert!(session.is_tls());
        assert!(session.capabilities().has("UIDL") && session.capabilities().has("TOP"));
        let (count, octets) = session.stat().await.unwrap();
        assert_eq!(count as usize, truth.len());
        assert_eq!(
            octets, total,
            "POP3 sizes are the CRLF sizes the generator wrote"
        );
        let uidls = session.uidl().await.unwrap();
        assert_eq!(uidls.len(), truth.len());
        let unique: std::collections::BTreeSet<_> = uidls.iter().map(|(_, u)| u.clone()).collect();
        assert_eq!(unique.len(), truth.len(), "UIDLs are unique");
        session.quit().await.unwrap();
    }
}

#[tokio::test]
async fn a_shared_connector_resumes_tls_sessions_and_setup_shrinks() {
    let server = Dovecot::start();
    let tap = anvert_tests::tap::Tap::start(server.imaps_addr()).unwrap();
    let tls = server.tls();
    let mut setups = Vec::new();
    for _ in 0..2 {
        let mark = tap.mark();
        let session = imap::connect(
            &endpoint(tap.addr(), Security::ImplicitTls),
            &server.credential("alice"),
            &tls,
            &WireMeter::new(),
            &ConnectOptions::default(),
        )
        .await
        .unwrap();
        session.logout().await.unwrap();
        assert!(tap.wait_all_closed(std::time::Duration::from_secs(5)));
        setups.push(tap.stats_since(&mark).total());
    }
    eprintln!(
        "setup bytes: first {} B, resumed {} B",
        setups[0], setups[1]
    );
    assert!(
        setups[1] + 300 < setups[0],
        "a resumed session skips the certificate: {setups:?}"
    );
}

#[tokio::test]
async fn dns_and_connect_failures_are_named() {
    let server = Dovecot::start();
    let mut nowhere = endpoint(server.imaps_addr(), Security::ImplicitTls);
    nowhere.host = "no-such-host.invalid".into();
    let err = imap::connect(
        &nowhere,
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Dns { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("could not resolve host no-such-host.invalid"),
        "{err}"
    );

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = imap::connect(
        &endpoint(closed, Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");

    // A server that accepts and never speaks: a timeout, named.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _keep = tokio::spawn(async move {
        let (_conn, _) = silent.accept().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let quick = ConnectOptions {
        timeout: std::time::Duration::from_millis(500),
        ..ConnectOptions::default()
    };
    let err = imap::connect(
        &endpoint(addr, Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &quick,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}
