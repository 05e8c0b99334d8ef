//! Every reading and changing command of the `anvert` binary against a real Dovecot, with
//! `--json` documents parsed and checked against the generator's ground truth, and each
//! change checked on the server itself (`imap_as`, another client): written back by the
//! next `sync`, or at once with `--now`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use crate::common;

use std::collections::BTreeSet;

use anvert_tests::{
    dovecot::Dovecot,
    generator::{GenConfig, MessageTruth, SizeMix},
};
use common::Anvert;
use serde_json::Value;

const MESSAGES: usize = 12;

fn mailbox() -> GenConfig {
    GenConfig {
        seed: 17,
        count: MESSAGES,
        reply_prob: 0.5,
        mix: SizeMix {
            attachment_prob: 0.3,
            medium_prob: 0.0,
            huge_prob: 0.0,
            max_attachment: 64 << 10,
        },
        ..GenConfig::default()
    }
}

/// The truth of the message `show --json` describes (by Message-ID).
fn truth_of<'a>(truths: &'a [MessageTruth], shown: &Value) -> &'a MessageTruth {
    let id = shown["message_id"].as_str().unwrap();
    let id = id.trim_start_matches('<').trim_end_matches('>');
    truths
        .iter()
        .find(|t| t.message_id == id)
        .unwrap_or_else(|| panic!("{id} is not in the truth"))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

/// `STATUS folder (MESSAGES)` as another client sees it.
fn count_on_server(server: &Dovecot, folder: &str) -> u32 {
    let lines = server.imap_as("alice", &[&format!("STATUS {folder} (MESSAGES)")]);
    lines
        .iter()
        .find_map(|l| l.split("MESSAGES ").nth(1))
        .and_then(|rest| rest.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no STATUS in {lines:?}"))
}

/// The server's flags of the INBOX message with this UID.
fn flags_on_server(server: &Dovecot, uid: u64) -> String {
    let lines = server.imap_as(
        "alice",
        &["EXAMINE INBOX", &format!("UID FETCH {uid} (FLAGS)")],
    );
    lines
        .iter()
        .find(|l| l.contains("FETCH"))
        .cloned()
        .unwrap_or_else(|| panic!("no FETCH in {lines:?}"))
}

#[test]
fn every_command_against_dovecot_with_json_checked_against_the_truth() {
    let server = Dovecot::start();
    let truths = server.deliver_generated("alice", None, &mailbox());
    let dir = tempfile::tempdir().unwrap();
    let cli = Anvert::new(
        &dir.path().join("data"),
        &server.pki.ca_path,
        server.password("alice"),
    );
    let port = server.ports.imaps.to_string();

    // account add / list
    let added = cli.json(&[
        "account",
        "add",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--user",
        "alice",
    ]);
    assert_eq!(added["account"]["protocol"], "imap", "{added}");
    assert_eq!(added["account"]["port"], server.ports.imaps);
    let listed = cli.json(&["account", "list"]);
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 1, "{listed}");

    // sync: the report as JSON, against the truth's sizes.
    // Metered: headers only, so that `open` has a body to fetch.
    let report = cli.json(&["sync", "--all", "--network", "metered"]);
    let inbox = report["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "INBOX")
        .unwrap_or_else(|| panic!("no INBOX in {report}"));
    assert_eq!(inbox["added"], MESSAGES as u64, "{report}");
    let full: u64 = truths.iter().map(|t| t.size as u64).sum();
    assert_eq!(report["full_download_bytes"], full, "{report}");
    assert!(report["bytes"]["total"].as_u64().unwrap() > 0);

    // ls: folders, then INBOX in pages of 5 by cursor, and by --before.
    let folders = cli.json(&["ls"]);
    let inbox = folders["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "INBOX")
        .unwrap()
        .clone();
    assert_eq!(inbox["total"], MESSAGES as u64);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["ls", "INBOX", "--limit", "5"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = cli.json(&args);
        let items = page["messages"].as_array().unwrap().clone();
        assert!(items.len() <= 5);
        // The same page again, started below the previous page's last message.
        if let Some(prev) = all.last().map(|m: &Value| m["id"].to_string()) {
            let by_id = cli.json(&["ls", "INBOX", "--limit", "5", "--before", &prev]);
            assert_eq!(ids(&by_id["messages"]), ids(&page["messages"]));
        }
        all.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(all.len(), MESSAGES, "pages: {all:?}");
    let distinct: BTreeSet<i64> = all.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(distinct.len(), MESSAGES);
    let dates: Vec<i64> = all
        .iter()
        .map(|m| m["internal_date"].as_i64().unwrap())
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "not newest first: {dates:?}"
    );

    // show: every message against its truth (subject, sender, size, flags, parts).
    let mut by_truth = Vec::new();
    for m in &all {
        let id = m["id"].to_string();
        let shown = cli.json(&["show", &id])["message"].clone();
        let truth = truth_of(&truths, &shown);
        assert_eq!(shown["subject"], truth.subject.as_str(), "{shown}");
        assert_eq!(shown["size"], truth.size as u64);
        assert_eq!(shown["from"][0]["email"], truth.from[0].email.as_str());
        let want: BTreeSet<&str> = truth.flags.iter().map(|f| f.imap_name()).collect();
        let got: BTreeSet<&str> = shown["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{shown}");
        let sections: Vec<&str> = shown["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["section"].as_str().unwrap())
            .collect();
        let truth_sections: Vec<&str> = truth.parts.iter().map(|p| p.section.as_str()).collect();
        assert_eq!(sections, truth_sections, "{shown}");
        by_truth.push((m["id"].as_i64().unwrap(), m["uid"].as_u64().unwrap(), truth));
    }

    // open: a single-part text/plain message; fetched once (bytes counted), then stored.
    let (id, _, truth) = by_truth
        .iter()
        .find(|(_, _, t)| t.parts.len() == 1 && t.parts[0].mime_type == "text/plain")
        .expect("a plain-text message");
    let id = id.to_string();
    let opened = cli.json(&["open", &id]);
    assert_eq!(opened["from_store"], false, "{opened}");
    let cost = opened["bytes"].as_u64().unwrap();
    let body = truth.parts[0].text.as_deref().unwrap();
    assert!(
        cost > 0 && cost < body.len() as u64 + 4096,
        "{cost} B for {} B",
        body.len()
    );
    let first_line = body.lines().find(|l| !l.trim().is_empty()).unwrap().trim();
    assert!(
        opened["text"].as_str().unwrap().contains(first_line),
        "{first_line:?} not in {opened}"
    );
    let again = cli.json(&["open", &id, "--network", "offline"]);
    assert_eq!(again["from_store"], true);
    assert_eq!(again["bytes"], 0);
    let human = cli.run(&["open", &id]).ok("open");
    assert!(
        human.contains(first_line) && human.contains("from the store"),
        "{human}"
    );

    // thread: a reply's thread holds the message it replies to.
    let (reply, _, reply_truth) = by_truth
        .iter()
        .find(|(_, _, t)| {
            t.in_reply_to
                .as_ref()
                .is_some_and(|p| truths.iter().any(|o| &o.message_id == p))
        })
        .expect("a reply in the mailbox");
    let parent = by_truth
        .iter()
        .find(|(_, _, t)| Some(&t.message_id) == reply_truth.in_reply_to.as_ref())
        .unwrap()
        .0;
    let thread = cli.json(&["thread", &reply.to_string()]);
    let members = ids(&thread["messages"]);
    assert!(
        members.contains(reply) && members.contains(&parent),
        "{thread}"
    );

    // flag, queued: visible locally and in `pending`, on the server only after `sync`.
    let (a, a_uid, _) = by_truth
        .iter()
        .find(|(_, _, t)| !t.flags.iter().any(|f| f.imap_name() == "\\Flagged"))
        .unwrap();
    let queued = cli.json(&["flag", &a.to_string(), "+flagged"]);
    assert_eq!(queued["written_back"], false);
    assert_eq!(queued["pending"], 1, "{queued}");
    let pending = cli.json(&["pending"]);
    let op = &pending["pending"][0];
    assert_eq!(op["kind"], "flag", "{pending}");
    assert_eq!(op["flag"], "\\Flagged");
    assert_eq!(op["message"], *a);
    assert_eq!(op["state"], "queued");
    let shown = cli.json(&["show", &a.to_string()]);
    assert!(shown["message"]["flags"].to_string().contains("Flagged"));
    assert!(!flags_on_server(&server, *a_uid).contains("\\Flagged"));
    cli.json(&["sync"]);
    assert!(flags_on_server(&server, *a_uid).contains("\\Flagged"));
    assert_eq!(cli.json(&["pending"])["pending"], Value::Array(vec![]));

    // flag --now: a keyword and a cleared flag, on the server when the command returns.
    let now = cli.json(&["flag", &a.to_string(), "-flagged", "$Cli", "--now"]);
    assert_eq!(now["written_back"], true);
    assert_eq!(now["pending"], 0, "{now}");
    let flags = flags_on_server(&server, *a_uid);
    assert!(
        flags.contains("$Cli") && !flags.contains("\\Flagged"),
        "{flags}"
    );

    // move --now, delete --now (to the Trash), empty-trash --now, draft save --now.
    let (b, _, _) = by_truth[1];
    let (c, _, _) = by_truth[2];
    let archive_before = count_on_server(&server, "Archive");
    cli.json(&["move", &b.to_string(), "Archive", "--now"]);
    assert_eq!(count_on_server(&server, "Archive"), archive_before + 1);
    let archived = cli.json(&["ls", "Archive"]);
    assert!(ids(&archived["messages"]).contains(&b), "{archived}");
    let inbox_before = count_on_server(&server, "INBOX");
    cli.json(&["delete", &c.to_string(), "--now"]);
    assert_eq!(count_on_server(&server, "INBOX"), inbox_before - 1);
    assert_eq!(count_on_server(&server, "Trash"), 1);
    cli.json(&["empty-trash", "--now"]);
    assert_eq!(count_on_server(&server, "Trash"), 0);
    let draft = cli.json(&[
        "draft",
        "save",
        "--to",
        "bob@example.com",
        "--subject",
        "From the CLI",
        "--text",
        "hello",
        "--now",
    ]);
    assert_eq!(draft["change"]["kind"], "draft", "{draft}");
    assert_eq!(count_on_server(&server, "Drafts"), 1);
    assert_eq!(cli.json(&["retry"])["unparked"], 0);

    // search: local full text finds a message by a word of its subject.
    let (d, _, d_truth) = by_truth
        .iter()
        .filter(|(id, _, _)| ![b, c].contains(id))
        .find(|(_, _, t)| {
            t.subject
                .split_whitespace()
                .any(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
        })
        .expect("a subject with a plain word");
    let word = d_truth
        .subject
        .split_whitespace()
        .find(|w| w.len() >= 5 && w.chars().all(|c| c.is_ascii_alphabetic()))
        .unwrap();
    let hits = cli.json(&["search", word]);
    assert_eq!(hits["where"], "local");
    assert!(ids(&hits["hits"]).contains(d), "{word}: {hits}");
    let server_hits = cli.json(&["search", "--server", "--subject", word, "--folder", "INBOX"]);
    assert!(
        ids(&server_hits["pages"][0]["hits"]).contains(d),
        "{server_hits}"
    );

    // usage, completions, account remove.
    let usage = cli.json(&["usage"]);
    assert!(
        usage["usage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["purpose"] == "bodies"),
        "{usage}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.run(&["completions", shell]).ok("completions");
        assert!(
            script.contains("empty-trash") && script.contains("watch"),
            "{shell}"
        );
    }
    assert_eq!(cli.json(&["account", "remove", "1"])["removed"], 1);
    assert_eq!(
        cli.json(&["account", "list"])["accounts"],
        Value::Array(vec![])
    );
}
