//! `anvert send`, `forward` and `outbox` against a real Dovecot with its submission service
//! (BURL, URLAUTH, CATENATE), relaying to the harness's SMTP receiver: what the receiver got
//! (recipients, Bcc hidden, attachments byte for byte), the `--json` documents (the outbox
//! entry, its uplink against a plain SMTP + APPEND, the ledger's `send` purpose), queueing
//! only, cancelling, retrying, and a usage error's exit status.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use anvert_tests::{
    dovecot::{Dovecot, DovecotOptions, SubmissionOptions},
    generator::{GenConfig, SizeMix},
};
use common::Anvert;
use sha2::{Digest, Sha256};

const SENDER: &str = "carol@localhost";
const PASSWORD: &str = "carol-secret-pw";

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The decoded attachments of a delivered message, as sha256s.
fn attachment_hashes(data: &[u8]) -> Vec<String> {
    let message = mail_parser::MessageParser::default().parse(data).unwrap();
    message
        .attachments()
        .map(|a| sha256(a.contents()))
        .collect()
}

#[test]
fn send_forward_and_the_outbox_against_dovecot_submission() {
    let mut options = DovecotOptions {
        submission: Some(SubmissionOptions::default()),
        ..DovecotOptions::default()
    };
    options.users.push((SENDER.into(), PASSWORD.into()));
    let server = Dovecot::start_with(options);
    let truths = server.deliver_generated(
        SENDER,
        None,
        &GenConfig {
            seed: 18,
            count: 4,
            mix: SizeMix {
                attachment_prob: 1.0,
                medium_prob: 0.0,
                huge_prob: 0.0,
                max_attachment: 64 << 10,
            },
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let cli = Anvert::new(&dir.path().join("data"), &server.pki.ca_path, PASSWORD);
    let imaps = server.ports.imaps.to_string();
    cli.json(&[
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &imaps,
        "--user",
        SENDER,
    ]);
    let submissions = server.submissions_addr().port().to_string();
    let set = cli.json(&[
        "account",
        "submission",
        "--host",
        "127.0.0.1",
        "--port",
        &submissions,
    ]);
    assert_eq!(
        set["submission"]["port"].as_u64(),
        Some(u64::from(server.submissions_addr().port()))
    );
    assert_eq!(set["submission"]["security"], "tls");
    // The folder list (Sent) comes with the first sync.
    cli.run(&["sync"]).ok("sync");

    // send: a 200 KB attachment, a Bcc recipient; BURL files the Sent copy as the only upload.
    let file = dir.path().join("report.pdf");
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let sent = cli.json(&[
        "send",
        "--to",
        "Dave <dave@example.org>",
        "--bcc",
        "hidden@example.org",
        "--subject",
        "quarterly",
        "--text",
        "see attached",
        "--attach",
        file.to_str().unwrap(),
    ]);
    let item = &sent["outbox"];
    assert_eq!(item["state"], "sent", "{sent:#}");
    assert_eq!(item["path"], "burl", "{sent:#}");
    let size = item["size"].as_u64().unwrap();
    let up = item["up_bytes"].as_u64().unwrap();
    assert!(
        up * 100 <= size * 105,
        "BURL: {up} B up for a {size} B message"
    );
    assert_eq!(sent["plain"]["bytes_up"].as_u64(), Some(2 * size));
    assert!(
        sent["ledger_send"]["bytes_up"].as_u64().unwrap() > 0,
        "{sent:#}"
    );
    let got = server
        .smtp_sink()
        .wait_for_messages_blocking(1, Dovecot::RELAY_TIMEOUT);
    let data = got[0].data_without_trace();
    let text = String::from_utf8_lossy(&data);
    assert!(text.contains(item["message_id"].as_str().unwrap()));
    assert!(
        !text.contains("hidden@example.org"),
        "the Bcc recipient shows in the message"
    );
    let mut rcpt = got[0].rcpt_to.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["dave@example.org", "hidden@example.org"]);
    assert_eq!(attachment_hashes(&data), [sha256(&bytes)]);
    let human = cli.run(&["outbox"]).ok("outbox");
    assert!(
        human.contains("sent") && human.contains("quarterly"),
        "{human}"
    );

    // forward: the original's attachments assembled on the server, never downloaded here.
    let inbox = cli.json(&["ls", "INBOX"]);
    let listed = inbox["messages"].as_array().unwrap();
    let original = &listed[0];
    let shown = cli.json(&["show", &original["id"].as_i64().unwrap().to_string()]);
    let message_id = shown["message"]["message_id"]
        .as_str()
        .unwrap()
        .trim_matches(['<', '>']);
    let truth = truths.iter().find(|t| t.message_id == message_id).unwrap();
    let expected: Vec<String> = truth
        .parts
        .iter()
        .filter(|p| p.disposition.as_deref() == Some("attachment"))
        .map(|p| p.sha256.clone())
        .collect();
    assert!(
        !expected.is_empty(),
        "every generated message has attachments"
    );
    let forwarded = cli.json(&[
        "forward",
        &original["id"].as_i64().unwrap().to_string(),
        "--to",
        "erin@example.org",
        "--text",
        "FYI",
    ]);
    let item = &forwarded["outbox"];
    assert_eq!(item["state"], "sent", "{forwarded:#}");
    let up = item["up_bytes"].as_u64().unwrap();
    assert!(
        up <= 8 * 1024,
        "a forward assembled on the server took {up} B up"
    );
    assert!(
        forwarded["plain"]["bytes_down"].as_u64().unwrap() > 0,
        "{forwarded:#}"
    );
    let got = server
        .smtp_sink()
        .wait_for_messages_blocking(2, Dovecot::RELAY_TIMEOUT);
    assert_eq!(got[1].rcpt_to, ["erin@example.org"]);
    let mut arrived = attachment_hashes(&got[1].data_without_trace());
    let mut expected = expected;
    arrived.sort();
    expected.sort();
    assert_eq!(arrived, expected, "the forwarded attachments differ");

    // --queue-only, then cancel; --queue-only, then --retry sends it.
    let queued = cli.json(&[
        "send",
        "--to",
        "frank@example.org",
        "--subject",
        "later",
        "--text",
        "x",
        "--queue-only",
    ]);
    assert_eq!(queued["outbox"]["state"], "queued");
    assert!(queued["flushed"].is_null());
    let id = queued["outbox"]["id"].as_i64().unwrap().to_string();
    let cancelled = cli.json(&["outbox", "--cancel", &id]);
    assert_eq!(cancelled["cancelled"], true);
    let list = cli.json(&["outbox"]);
    assert!(
        list["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"].as_i64().unwrap().to_string() != id)
    );
    let queued = cli.json(&[
        "send",
        "--to",
        "frank@example.org",
        "--subject",
        "retried",
        "--text",
        "y",
        "--queue-only",
    ]);
    let id = queued["outbox"]["id"].as_i64().unwrap();
    let retried = cli.json(&["outbox", "--retry"]);
    assert_eq!(retried["flushed"]["sent"], 1, "{retried:#}");
    let entry = retried["outbox"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap();
    assert_eq!(entry["state"], "sent");
    server
        .smtp_sink()
        .wait_for_messages_blocking(3, Dovecot::RELAY_TIMEOUT);

    // A recipient that is no address: a usage error (exit 2), nothing queued.
    let bad = cli.run(&[
        "send",
        "--to",
        "not an address",
        "--subject",
        "s",
        "--text",
        "t",
    ]);
    assert_eq!(bad.status, Some(2), "{}", bad.stderr);
    assert_eq!(cli.json(&["outbox"])["outbox"].as_array().unwrap().len(), 3);
}
