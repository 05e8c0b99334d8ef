//! POP3 and automatic setup through the `anvert` binary against a real Dovecot: a POP3
//! account synced, listed and opened (JSON checked against the generator's truth), and
//! `account add --protocol auto` reporting what answered on each port and what it chose.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use anvert_tests::{dovecot::Dovecot, generator::GenConfig};
use common::{Anvert, closed_port};

#[test]
fn a_pop3_account_and_an_automatic_setup() {
    let server = Dovecot::start();
    let truths = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 23,
            count: 5,
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let password = server.password("alice").to_string();
    let cli = Anvert::new(&dir.path().join("pop3"), &server.pki.ca_path, &password);
    let port = server.ports.pop3s.to_string();
    let added = cli.json(&[
        "account",
        "add",
        "--protocol",
        "pop3",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ]);
    assert_eq!(added["account"]["protocol"], "pop3", "{added}");
    cli.json(&["sync", "--all"]);
    let listed = cli.json(&["ls", "INBOX"]);
    let messages = listed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), truths.len(), "{listed}");
    let mut subjects: Vec<&str> = messages
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    let mut want: Vec<&str> = truths.iter().map(|t| t.subject.as_str()).collect();
    subjects.sort_unstable();
    want.sort_unstable();
    assert_eq!(subjects, want);
    let id = messages[0]["id"].to_string();
    let opened = cli.json(&["open", &id]);
    assert!(
        opened["text"].is_string() || opened["html"].is_string(),
        "{opened}"
    );
    // POP3 has no folders to move to: refused with a plain error, not a crash.
    let refused = cli.run(&["move", &id, "INBOX"]);
    assert_eq!(refused.status, Some(1), "{}", refused.stderr);

    // auto, every service on its own port: IMAPS and IMAP refused, POP3S chosen.
    let auto = Anvert::new(&dir.path().join("auto"), &server.pki.ca_path, &password);
    let (closed_a, closed_b) = (closed_port().to_string(), closed_port().to_string());
    let pop3 = server.ports.pop3.to_string();
    let ports = format!("{closed_a},{closed_b},{port},{pop3}");
    let chosen = auto.json(&[
        "account",
        "add",
        "--protocol",
        "auto",
        "--host",
        "127.0.0.1",
        "--auto-ports",
        &ports,
        "--user",
        "alice",
    ]);
    let attempts = chosen["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{chosen}");
    assert_eq!(attempts[0]["ok"], false);
    assert!(
        attempts[0]["failure"]
            .as_str()
            .unwrap()
            .contains("could not connect")
    );
    assert_eq!(attempts[2]["protocol"], "pop3");
    assert_eq!(attempts[2]["security"], "tls");
    assert_eq!(attempts[2]["ok"], true);
    assert_eq!(chosen["account"]["protocol"], "pop3");
    assert!(
        chosen["chosen_because"]
            .as_str()
            .unwrap()
            .contains("first service")
    );

    // auto on IMAPS: the first try wins; a wrong password stops the probe at once (3).
    let imaps = server.ports.imaps.to_string();
    let text = auto
        .run(&[
            "account",
            "add",
            "--protocol",
            "auto",
            "--host",
            "127.0.0.1",
            "--port",
            &imaps,
            "--user",
            "alice",
        ])
        .ok("auto on IMAPS");
    assert!(
        text.contains("tried imap  port") && text.contains("ok: TLS and login"),
        "{text}"
    );
    let wrong = Anvert {
        password: Some("wrong".into()),
        ..Anvert::new(&dir.path().join("auto"), &server.pki.ca_path, &password)
    };
    let run = wrong.run(&[
        "--json",
        "account",
        "add",
        "--protocol",
        "auto",
        "--host",
        "127.0.0.1",
        "--port",
        &imaps,
        "--user",
        "alice",
    ]);
    assert_eq!(run.status, Some(3), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        auto.json(&["account", "list"])["accounts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
