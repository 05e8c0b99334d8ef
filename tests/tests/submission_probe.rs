//! `add_account_auto` finds the submission server (issue 18): implicit TLS first (465), then
//! STARTTLS (587), with the account's credential, against Dovecot's submission service; a
//! host without one still gets its account, with no submission server set. And the SMTP
//! session's bytes reach the ledger under `send` (a POP3 account: no IMAP bytes mixed in).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anvert_core::{
    engine::{AccountConfig, AutoPorts, AutoReport, Draft, Engine, EngineConfig, Protocol},
    net::{Endpoint, Security},
    policy::NetworkKind,
    store::Address,
};
use anvert_tests::dovecot::{Dovecot, SubmissionOptions};

async fn open_engine(server: &Dovecot, dir: &std::path::Path) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

/// A port nothing listens on, below the ephemeral range so no other test can take it.
fn closed() -> u16 {
    anvert_tests::ports::free_ports(1)[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_setup_probes_465_then_587_and_sets_the_submission_server() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&server, dir.path()).await;
    let ports = AutoPorts {
        imaps: server.ports.imaps,
        imap: server.ports.imap,
        pop3s: server.ports.pop3s,
        pop3: server.ports.pop3,
        submissions: server.submissions_addr().port(),
        submission: server.submission_addr().port(),
    };
    let endpoint = |port, security| Endpoint {
        host: "127.0.0.1".into(),
        port,
        security,
    };

    // Both offered: implicit TLS wins, and only it was tried.
    let mut report = AutoReport::default();
    let a = engine
        .add_account_auto_report(
            "a",
            "127.0.0.1",
            ports,
            server.credential("alice"),
            &mut report,
        )
        .await
        .unwrap();
    let tls = endpoint(ports.submissions, Security::ImplicitTls);
    assert_eq!(engine.submission(a).await.unwrap(), Some(tls.clone()));
    assert_eq!(report.submission, Some(tls));
    assert_eq!(
        report.submission_attempts.len(),
        1,
        "{:?}",
        report.submission_attempts
    );

    // Nothing on 465: STARTTLS on 587.
    let mut report = AutoReport::default();
    let no_465 = AutoPorts {
        submissions: closed(),
        ..ports
    };
    let b = engine
        .add_account_auto_report(
            "b",
            "127.0.0.1",
            no_465,
            server.credential("alice"),
            &mut report,
        )
        .await
        .unwrap();
    let starttls = endpoint(ports.submission, Security::StartTls);
    assert_eq!(engine.submission(b).await.unwrap(), Some(starttls));
    assert_eq!(report.submission_attempts.len(), 2);
    assert!(report.submission_attempts[0].2.is_some());

    // No submission service at all: the account is added without one.
    let mut report = AutoReport::default();
    let none = AutoPorts {
        submissions: closed(),
        submission: closed(),
        ..ports
    };
    let c = engine
        .add_account_auto_report(
            "c",
            "127.0.0.1",
            none,
            server.credential("alice"),
            &mut report,
        )
        .await
        .unwrap();
    assert_eq!(engine.submission(c).await.unwrap(), None);
    assert_eq!(report.submission, None);
    assert_eq!(report.submission_attempts.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_sessions_bytes_are_booked_under_send() {
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&server, dir.path()).await;
    let account = engine
        .add_account(AccountConfig {
            name: "pop".into(),
            protocol: Protocol::Pop3,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port: server.ports.pop3s,
                security: Security::ImplicitTls,
            },
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let submission = Endpoint {
        host: "127.0.0.1".into(),
        port: server.submissions_addr().port(),
        security: Security::ImplicitTls,
    };
    engine
        .set_submission(account, Some(submission))
        .await
        .unwrap();
    let address = |email: &str| Address {
        name: None,
        email: email.into(),
    };
    engine
        .send(
            account,
            Draft {
                from: address("alice@example.org"),
                to: vec![address("dave@example.org")],
                cc: Vec::new(),
                bcc: Vec::new(),
                subject: "metered".into(),
                text: "counted once".into(),
                html: None,
                attachments: Vec::new(),
            },
        )
        .await
        .unwrap();
    let report = engine
        .flush_outbox(account, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    server
        .smtp_sink()
        .wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
        .await;
    let rows = engine.usage(account).await.unwrap();
    let send: Vec<_> = rows.iter().filter(|r| r.purpose == "send").collect();
    assert_eq!(send.len(), 1, "{rows:?}");
    assert_eq!(send[0].network_kind, "metered");
    assert!(
        report.smtp_written > 0 && report.smtp_read > 0,
        "{report:?}"
    );
    assert_eq!(
        (send[0].bytes_up, send[0].bytes_down),
        (report.smtp_written, report.smtp_read),
        "the ledger's send row is the SMTP session's bytes"
    );
}
