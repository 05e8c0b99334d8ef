//! `add_account_auto` finds the submission server (issue 18): implicit TLS first (465), then
//! STARTTLS (587), with the account's credential, against Dovecot's submission service; a
//! host without one still gets its account, with no submission server set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use anvert_core::{
    engine::{AutoPorts, AutoReport, Engine, EngineConfig},
    net::{Endpoint, Security},
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

fn closed() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
