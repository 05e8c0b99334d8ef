//! `anvert doctor` against a real Dovecot with every extension, then with COMPRESS, QRESYNC
//! and PREVIEW switched off in turn: the report follows (capabilities, the extension table
//! and its fallbacks, whether the session was compressed), TLS and the probe's bytes are
//! there, and the password never appears, even with `ANVERT_LOG=trace`. Then POP3.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use anvert_tests::dovecot::{Dovecot, DovecotOptions};
use common::Anvert;
use serde_json::Value;

fn doctor(server: &Dovecot, protocol: &str, port: u16) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let password = server.password("alice").to_string();
    let cli = Anvert::new(&dir.path().join("d"), &server.pki.ca_path, &password);
    let port = port.to_string();
    cli.run(&[
        "account",
        "add",
        "--protocol",
        protocol,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ])
    .ok("account add");
    let report = cli.json(&["doctor"]);
    let mut traced = cli.command(&["doctor"]);
    traced.env("ANVERT_LOG", "trace");
    let out = traced.output().unwrap();
    assert!(out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(&password), "the password leaked:\n{text}");
    assert!(!report.to_string().contains(&password));
    (report, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn extension<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

fn caps(report: &Value, when: &str) -> Vec<String> {
    report[when]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn doctor_follows_what_the_server_offers() {
    let full = Dovecot::start();
    let (report, text) = doctor(&full, "imap", full.ports.imaps);
    assert!(
        report["greeting"].as_str().unwrap().contains("Dovecot"),
        "{report}"
    );
    // The SASL mechanisms are offered before login only.
    let before = caps(&report, "capabilities_before_login");
    let after = caps(&report, "capabilities_after_login");
    assert!(before.contains(&"AUTH=PLAIN".to_string()), "{before:?}");
    assert!(!after.contains(&"AUTH=PLAIN".to_string()), "{after:?}");
    for cap in [
        "QRESYNC",
        "CONDSTORE",
        "PREVIEW",
        "COMPRESS=DEFLATE",
        "IDLE",
        "MOVE",
    ] {
        assert!(after.contains(&cap.to_string()), "{cap} missing: {after:?}");
        assert_eq!(extension(&report, cap)["offered"], true, "{cap}");
    }
    assert_eq!(report["compressed"], true);
    let tls = &report["tls"];
    assert!(
        tls["version"].as_str().unwrap().starts_with("TLSv1_"),
        "{tls}"
    );
    assert!(!tls["cipher"].as_str().unwrap().is_empty());
    let leaf = tls["chain_subjects"][0].as_str().unwrap();
    assert!(leaf.contains("CN="), "{leaf}");
    let bytes = report["bytes"]["down"].as_u64().unwrap();
    assert!(bytes > 1000 && bytes < 20_000, "{bytes} B down");
    assert!(report["round_trip_ms"].as_f64().unwrap() > 0.0);
    assert!(
        text.contains("COMPRESS=DEFLATE") && text.contains("round trip"),
        "{text}"
    );
    drop(full);

    // Each extension off in turn: the table shows it missing with its fallback.
    let off = |options: DovecotOptions, cap: &str, fallback: &str| {
        let server = Dovecot::start_with(options);
        let (report, text) = doctor(&server, "imap", server.ports.imaps);
        let after = caps(&report, "capabilities_after_login");
        assert!(
            !after.contains(&cap.to_string()),
            "{cap} still offered: {after:?}"
        );
        let row = extension(&report, cap);
        assert_eq!(row["offered"], false, "{report}");
        assert!(row["effect"].as_str().unwrap().contains(fallback), "{row}");
        let line = text
            .lines()
            .find(|l| l.starts_with(cap))
            .unwrap_or_else(|| panic!("no {cap} row:\n{text}"));
        assert!(line.contains(" no ") && line.contains(fallback), "{line}");
        report
    };
    let report = off(
        DovecotOptions {
            compress: false,
            ..DovecotOptions::default()
        },
        "COMPRESS=DEFLATE",
        "uncompressed",
    );
    assert_eq!(report["compressed"], false);
    let report = off(
        DovecotOptions {
            qresync: false,
            ..DovecotOptions::default()
        },
        "QRESYNC",
        "CONDSTORE CHANGEDSINCE",
    );
    assert_eq!(extension(&report, "CONDSTORE")["offered"], true);
    off(
        DovecotOptions {
            preview: false,
            ..DovecotOptions::default()
        },
        "PREVIEW",
        "snippets",
    );

    // MOVE, UIDPLUS and SPECIAL-USE hidden at once: three fallbacks in one report.
    let server = Dovecot::start_with(DovecotOptions {
        move_command: false,
        uidplus: false,
        special_use: false,
        ..DovecotOptions::default()
    });
    let (report, _) = doctor(&server, "imap", server.ports.imaps);
    for (cap, fallback) in [
        ("MOVE", "UID COPY"),
        ("UIDPLUS", "found by Message-ID"),
        ("SPECIAL-USE", "well-known folder names"),
    ] {
        let row = extension(&report, cap);
        assert_eq!(row["offered"], false, "{report}");
        assert!(row["effect"].as_str().unwrap().contains(fallback), "{row}");
    }
    drop(server);

    // POP3: CAPA, UIDL and TOP, and the key the sync stores messages under.
    let server = Dovecot::start();
    let (report, text) = doctor(&server, "pop3", server.ports.pop3s);
    assert_eq!(report["protocol"], "pop3");
    assert_eq!(report["pop3"]["uidl"], true, "{report}");
    assert_eq!(report["pop3"]["top"], true);
    assert_eq!(report["pop3"]["key"], "UIDL");
    assert!(
        caps(&report, "capabilities_after_login")
            .iter()
            .any(|c| c.starts_with("UIDL"))
    );
    assert!(text.contains("key:       UIDL"), "{text}");
}
