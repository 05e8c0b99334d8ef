//! The `anvert` binary against a real Dovecot: account add (password from the environment,
//! never argv), a headers-first sync with its bandwidth report, ls, show, and a get that is
//! cut part-way, resumed, checked against the generator's sha256, and answered from the
//! store the second time without touching the network.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    path::Path,
    process::{Command, Output, Stdio},
};

use anvert_tests::{
    dovecot::Dovecot,
    generator::{GenConfig, MessageTruth, SizeMix},
};

const MESSAGES: usize = 8;

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `anvert --data-dir <data> --ca <ca> <args>`, stdin closed, with `password` (if any)
/// in `ANVERT_PASSWORD`.
fn anvert(server: &Dovecot, data: &Path, password: Option<&str>, args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anvert"));
    command
        .arg("--data-dir")
        .arg(data)
        .arg("--ca")
        .arg(&server.pki.ca_path)
        .args(args)
        .env_remove("ANVERT_PASSWORD")
        .env_remove("ANVERT_LOG")
        .stdin(Stdio::null());
    if let Some(p) = password {
        command.env("ANVERT_PASSWORD", p);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn ok(run: Run, what: &str) -> String {
    assert_eq!(
        run.status,
        Some(0),
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    run.stdout
}

/// One attachment of 1–2 MiB on every message.
fn mailbox() -> GenConfig {
    GenConfig {
        seed: 7,
        count: MESSAGES,
        mix: SizeMix {
            attachment_prob: 1.0,
            medium_prob: 1.0,
            huge_prob: 0.0,
            max_attachment: 2 << 20,
        },
        ..GenConfig::default()
    }
}

#[test]
fn sync_show_and_a_resumed_get_against_dovecot() {
    let server = Dovecot::start();
    let truths: Vec<MessageTruth> = server.deliver_generated("alice", None, &mailbox());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = server.password("alice").to_string();
    let port = server.ports.imaps.to_string();
    let add = [
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--security",
        "tls",
        "--user",
        "alice",
    ];

    // No password in the environment and no terminal: refused (there is no argv option).
    let refused = anvert(&server, &data, None, &add);
    assert_ne!(refused.status, Some(0), "added without a password");
    assert!(
        refused.stderr.contains("no password"),
        "stderr: {}",
        refused.stderr
    );
    let added = ok(anvert(&server, &data, Some(&password), &add), "account add");
    assert!(added.contains("account 1 added"), "{added}");

    // A headers-first sync, reported against a full download of the same messages.
    let sync = ok(
        anvert(
            &server,
            &data,
            Some(&password),
            &["sync", "--network", "metered", "--all"],
        ),
        "sync",
    );
    let inbox = sync
        .lines()
        .find(|l| l.starts_with("INBOX "))
        .unwrap_or_else(|| panic!("no INBOX row in:\n{sync}"));
    let cols: Vec<&str> = inbox.split_whitespace().collect();
    assert_eq!(cols[1], "Initial", "{inbox}");
    assert_eq!(cols[2], MESSAGES.to_string(), "{inbox}");
    let report = sync
        .lines()
        .find(|l| l.starts_with("transferred "))
        .unwrap_or_else(|| panic!("no report line in:\n{sync}"));
    assert!(report.contains("of a full download's"), "{report}");
    let full: u64 = truths.iter().map(|t| t.size as u64).sum();
    assert!(
        report.contains(&format!("{MESSAGES} messages stored"))
            && report.contains(&format!("{full} B by RFC822.SIZE")),
        "{report} (want {MESSAGES} messages, {full} B)"
    );
    assert!(sync.contains("sync_metadata"), "{sync}");
    assert!(
        !sync.contains("attachments "),
        "metered sync fetched content:\n{sync}"
    );

    // ls: folders, messages, and the attachments with what `get` takes.
    let folders = ok(anvert(&server, &data, None, &["ls"]), "ls");
    assert!(folders.lines().any(|l| l.contains(" INBOX ")), "{folders}");
    let messages = ok(anvert(&server, &data, None, &["ls", "INBOX"]), "ls INBOX");
    assert_eq!(messages.lines().count(), MESSAGES, "{messages}");
    let listed = ok(
        anvert(
            &server,
            &data,
            None,
            &["ls", "INBOX", "--with-attachments", "--limit", "100"],
        ),
        "ls --attachments",
    );
    let (id, section, size) = listed
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (
                cols[0].to_string(),
                cols[1].to_string(),
                cols[2].parse::<u64>().unwrap(),
            )
        })
        .find(|(_, _, size)| *size > 512 << 10)
        .unwrap_or_else(|| panic!("no attachment over 512 KiB in:\n{listed}"));

    // show: the part, its section and state, and the Message-ID to find the truth by.
    let shown = ok(anvert(&server, &data, None, &["show", &id]), "show");
    let message_id = shown
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap_or_else(|| panic!("no Message-ID in:\n{shown}"))
        .trim_start_matches('<')
        .trim_end_matches('>');
    let part_row = shown
        .lines()
        .find(|l| l.split_whitespace().next() == Some(section.as_str()))
        .unwrap_or_else(|| panic!("no row for part {section} in:\n{shown}"));
    assert!(part_row.contains("attachment"), "{part_row}");
    let truth = truths
        .iter()
        .find(|t| t.message_id == message_id)
        .and_then(|t| t.parts.iter().find(|p| p.section == section))
        .unwrap_or_else(|| panic!("part {section} of {message_id} is not in the truth"));
    if let Some(name) = &truth.filename {
        assert!(part_row.ends_with(name.as_str()), "{part_row} vs {name}");
    }

    // get, cut after a third: exit 130, resumable state kept.
    let dest = dir.path().join("downloads");
    let dest = dest.to_str().unwrap();
    let third = (size / 3).to_string();
    let cut = anvert(
        &server,
        &data,
        Some(&password),
        &["get", &id, &section, dest, "--stop-after", &third],
    );
    assert_eq!(
        cut.status,
        Some(130),
        "stdout:\n{}\nstderr:\n{}",
        cut.stdout,
        cut.stderr
    );
    assert!(cut.stdout.contains("interrupted at"), "{}", cut.stdout);
    let shown = ok(anvert(&server, &data, None, &["show", &id]), "show");
    assert!(shown.contains("partial "), "{shown}");

    // get again: resumes, and the file is the generator's, byte for byte.
    let got = ok(
        anvert(
            &server,
            &data,
            Some(&password),
            &["get", &id, &section, dest],
        ),
        "get (resume)",
    );
    assert!(got.contains("resuming at "), "{got}");
    let sha = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("sha256 "))
            .unwrap_or_else(|| panic!("no sha256 in:\n{out}"))
            .to_string()
    };
    assert_eq!(sha(&got), truth.sha256, "{got}");
    let saved = got
        .lines()
        .find_map(|l| l.strip_prefix("saved "))
        .and_then(|l| l.rsplit_once(" ("))
        .map(|(path, _)| path.to_string())
        .unwrap_or_else(|| panic!("no saved path in:\n{got}"));
    assert!(saved.starts_with(dest), "{saved} outside {dest}");
    assert_eq!(
        std::fs::metadata(&saved).unwrap().len(),
        truth.decoded_size as u64
    );

    // A third get is answered from the store: no password needed, nothing on the wire.
    let usage = ok(anvert(&server, &data, None, &["usage"]), "usage");
    assert!(usage.contains("attachments"), "{usage}");
    let again = ok(
        anvert(&server, &data, None, &["get", &id, &section, dest]),
        "get (again)",
    );
    assert!(again.contains("already downloaded"), "{again}");
    assert_eq!(sha(&again), truth.sha256);
    assert_eq!(ok(anvert(&server, &data, None, &["usage"]), "usage"), usage);
    let shown = ok(anvert(&server, &data, None, &["show", &id]), "show");
    assert!(shown.contains(&saved), "{shown}");
}

#[test]
fn search_on_the_server_pages_and_refuses_a_bad_query() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 8,
            count: 12,
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = server.password("alice").to_string();
    let port = server.ports.imaps.to_string();
    let add = [
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ];
    ok(anvert(&server, &data, Some(&password), &add), "account add");
    ok(
        anvert(&server, &data, Some(&password), &["sync", "--all"]),
        "sync",
    );
    let found = ok(
        anvert(
            &server,
            &data,
            Some(&password),
            &[
                "search",
                "--server",
                "--folder",
                "INBOX",
                "--since",
                "1990-01-01",
                "--limit",
                "5",
                "--pages",
                "2",
            ],
        ),
        "search --server",
    );
    let summaries: Vec<&str> = found
        .lines()
        .filter(|l| l.contains("server hit(s) shown"))
        .collect();
    assert_eq!(
        summaries,
        [
            "5 of 12 server hit(s) shown; 0 fetched from the server, 5 stored already",
            "5 of 12 server hit(s) shown; 0 fetched from the server, 5 stored already",
        ],
        "{found}"
    );
    let bad = anvert(
        &server,
        &data,
        Some(&password),
        &["search", "--server", "--text", "say \"hello"],
    );
    assert_ne!(bad.status, Some(0));
    assert!(
        bad.stderr.contains("invalid search query"),
        "stderr: {}",
        bad.stderr
    );
}
