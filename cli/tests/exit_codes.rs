//! Exit statuses against a real Dovecot, each with its `--json` error document: a wrong
//! password (3), an untrusted certificate (4), a refused connection (5), a bad command line
//! (2), an interrupted sync (130), and a new password checked with `account password`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use anvert_tests::dovecot::Dovecot;
use common::{Anvert, closed_port};

fn add(cli: &Anvert, port: u16) {
    let port = port.to_string();
    cli.run(&[
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ])
    .ok("account add");
}

#[test]
fn exit_statuses_say_what_failed() {
    let server = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let password = server.password("alice").to_string();

    // A wrong password: 3, the JSON error says authentication.
    let mut cli = Anvert::new(&dir.path().join("a"), &server.pki.ca_path, &password);
    add(&cli, server.ports.imaps);
    cli.password = Some("not-the-password".into());
    let wrong = cli.run(&["--json", "sync"]);
    assert_eq!(wrong.status, Some(3), "{}\n{}", wrong.stdout, wrong.stderr);
    let doc = wrong.json();
    assert_eq!(doc["error"]["kind"], "authentication", "{doc}");
    assert_eq!(doc["error"]["exit"], 3);
    assert!(
        !wrong.stdout.contains("not-the-password"),
        "{}",
        wrong.stdout
    );
    assert!(
        !wrong.stderr.contains("not-the-password"),
        "{}",
        wrong.stderr
    );
    // account password: refused (3), then accepted.
    let refused = cli.run(&["account", "password"]);
    assert_eq!(refused.status, Some(3), "{}", refused.stderr);
    cli.password = Some(password.clone());
    let accepted = cli.json(&["account", "password"]);
    assert_eq!(accepted["password"], "accepted", "{accepted}");

    // Without the harness CA the certificate is untrusted: 4.
    let untrusted = Anvert {
        ca: None,
        ..Anvert::new(&dir.path().join("a"), &server.pki.ca_path, &password)
    };
    let run = untrusted.run(&["--json", "sync"]);
    assert_eq!(run.status, Some(4), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["error"]["kind"], "tls");

    // Nothing listens: 5.
    let cli = Anvert::new(&dir.path().join("b"), &server.pki.ca_path, &password);
    add(&cli, closed_port());
    let run = cli.run(&["--json", "sync"]);
    assert_eq!(run.status, Some(5), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["error"]["kind"], "network");

    // Usage errors: 2 (clap's own, and the CLI's before the engine is asked).
    assert_eq!(cli.run(&["no-such-command"]).status, Some(2));
    assert_eq!(cli.run(&["flag", "1"]).status, Some(2));
    let bad = cli.run(&["--json", "ls", "No such folder"]);
    assert_eq!(bad.status, Some(2), "{}", bad.stderr);
    assert_eq!(bad.json()["error"]["kind"], "usage");
    assert_eq!(
        cli.run(&["search", "--server", "--since", "May"]).status,
        Some(2)
    );

    // Interrupted: a sync stuck in a TLS handshake nobody answers, then SIGINT: 130.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cli = Anvert::new(&dir.path().join("c"), &server.pki.ca_path, &password);
    add(&cli, silent.local_addr().unwrap().port());
    let mut child = cli.command(&["sync"]).spawn().unwrap();
    // The sync is connecting (its handshake waits for us): now interrupt it.
    let (_connection, _) = silent.accept().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
}
