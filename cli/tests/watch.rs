//! `anvert watch` against a real Dovecot: started in the foreground, it prints a line for a
//! message delivered while it runs (pushed through IDLE), and exits 130 on SIGINT.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    sync::mpsc,
};

use anvert_tests::{dovecot::Dovecot, generator::GenConfig};
use common::Anvert;

#[test]
fn watch_prints_a_delivered_message_and_stops_on_sigint() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 31,
            count: 3,
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let cli = Anvert::new(
        &dir.path().join("data"),
        &server.pki.ca_path,
        server.password("alice"),
    );
    let port = server.ports.imaps.to_string();
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
    cli.run(&["sync", "--network", "metered"]).ok("sync");

    let mut child = cli
        .command(&["watch", "INBOX", "--network", "metered"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lines from both streams, as they come.
    let (tx, lines) = mpsc::channel::<(bool, String)>();
    let out = BufReader::new(child.stdout.take().unwrap());
    let err = BufReader::new(child.stderr.take().unwrap());
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        out.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send((true, l))))
    });
    std::thread::spawn(move || {
        err.lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send((false, l))))
    });
    let wait = std::time::Duration::from_secs(60);
    loop {
        let (_, line) = lines.recv_timeout(wait).expect("watch never started");
        if line.starts_with("watching INBOX") {
            break;
        }
    }

    // A message arrives, as another client would deliver it (a later date than the rest).
    let new = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 32,
            count: 1,
            start_date: 1_900_000_000,
            ..GenConfig::default()
        },
    );
    let subject = &new[0].subject;
    let added = loop {
        let (stdout, line) = lines
            .recv_timeout(wait)
            .expect("no line for the new message");
        if stdout && line.starts_with("added INBOX:") {
            break line;
        }
    };
    let shown: String = subject.chars().take(20).collect();
    assert!(added.contains(shown.as_str()), "{added} vs {subject}");

    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}
