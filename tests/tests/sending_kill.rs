//! kill -9 during sends (issue 18): a separate process (`anvert-sender`) sends the outbox
//! and is killed with SIGKILL at random points — chosen as byte counts on the IMAP or SMTP
//! tap, so the kills land during APPENDs, BURLs and DATA uploads alike — ten kills on a
//! server with BURL and ten on one without URLAUTH (DATA, then APPEND); a run that ends by
//! itself before its point does not count as a kill. A last run finishes. Nothing queued may be lost; duplicates (a kill between the final dot and the
//! commit of its reply) are counted and printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use crate::sending_common;

use std::{collections::BTreeMap, process::Command, time::Duration};

use anvert_core::{
    engine::{Draft, DraftAttachment, Engine, EngineConfig},
    net::Credential,
    store::{Address, OutboxState},
};
use anvert_tests::{
    dovecot::{Dovecot, SubmissionOptions},
    server::TestServer,
};
use sending_common::{Setup, random_bytes, to_bob};

const MESSAGES: usize = 15;
const KILLS: usize = 10;

struct Outcome {
    lost: usize,
    duplicates: usize,
    sent_copies_extra: usize,
    resends: u32,
}

async fn kill_during_sends(options: SubmissionOptions, seed: u64) -> Outcome {
    let label = if options.urlauth {
        "BURL"
    } else {
        "DATA + APPEND"
    };
    let setup = Setup::start(options).await;
    for n in 0..MESSAGES {
        let draft = Draft {
            from: Address {
                name: None,
                email: "alice@localhost".into(),
            },
            to: to_bob(),
            subject: format!("kill test {n}"),
            text: format!("message {n}"),
            attachments: vec![DraftAttachment {
                name: format!("{n}.bin"),
                mime_type: "application/octet-stream".into(),
                bytes: random_bytes(120_000 + n * 7_000, seed + n as u64),
            }],
            ..Draft::default()
        };
        setup.engine.send(setup.account, draft).await.unwrap();
    }
    let queued: Vec<String> = setup
        .engine
        .outbox(setup.account)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.message_id)
        .collect();
    assert_eq!(queued.len(), MESSAGES);
    let Setup {
        server,
        imap_tap,
        smtp_tap,
        engine,
        account,
        dir,
    } = setup;
    engine.close_connections().await.unwrap();
    drop(engine);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let sender = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_anvert-sender"));
        c.arg("--data-dir")
            .arg(dir.path())
            .arg("--ca")
            .arg(&ca)
            .args(["--user", "alice", "--password", server.password("alice")]);
        c
    };

    let mut rng = seed | 1;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let mut killed = 0;
    let mut round = 0;
    while killed < KILLS && round < 4 * KILLS {
        round += 1;
        // Even rounds: a point in the IMAP uploads (the Sent copies); odd: in the SMTP
        // session (commands, BURL, DATA).
        let (tap, target) = if round % 2 == 0 {
            let t = imap_tap.handle();
            (t, imap_tap.stats().up + 1 + next(200_000))
        } else {
            let t = smtp_tap.handle();
            (t, smtp_tap.stats().up + 1 + next(100_000))
        };
        let mut child = sender().spawn().unwrap();
        let mut exited = false;
        // Wait for the bytes to pass the point, or the process to end by itself.
        loop {
            if tap.wait_until(Duration::from_millis(200), |s| s.up >= target) {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                exited = true;
                break;
            }
        }
        if !exited {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert_eq!(killed, KILLS, "the outbox emptied before {KILLS} kills");
    // The last run, to the end.
    let status = sender().status().unwrap();
    assert!(status.success());

    // Nothing lost: every queued Message-ID reached the receiver, and every entry is sent.
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    engine
        .set_credential(
            account,
            Credential::password("alice", server.password("alice")),
        )
        .await
        .unwrap();
    let outbox = engine.outbox(account).await.unwrap();
    assert!(
        outbox.iter().all(|i| i.state == OutboxState::Sent),
        "{outbox:#?}"
    );
    let resends: u32 = outbox.iter().map(|i| i.resends).sum();
    let received = server
        .smtp_sink()
        .wait_for_messages(MESSAGES, Dovecot::RELAY_TIMEOUT)
        .await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &received {
        let text = String::from_utf8_lossy(&r.data);
        if let Some(id) = queued.iter().find(|id| text.contains(id.as_str())) {
            *counts.entry(id.clone()).or_default() += 1;
        }
    }
    let lost = queued.iter().filter(|id| !counts.contains_key(*id)).count();
    let duplicates = counts.values().map(|n| n - 1).sum();
    let sent = Setup::sent_messages_of(&server).await;
    let sent_copies_extra = sent.len().saturating_sub(MESSAGES);
    println!(
        "kill -9 ({}): {killed} kills, {MESSAGES} messages: {lost} lost, {duplicates} \
         delivered twice, {resends} resends counted, {} Sent copies",
        label,
        sent.len()
    );
    engine.close_connections().await.unwrap();
    Outcome {
        lost,
        duplicates,
        sent_copies_extra,
        resends,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_during_sends_lose_nothing() {
    let burl = kill_during_sends(SubmissionOptions::default(), 0x5eed).await;
    let data = kill_during_sends(
        SubmissionOptions {
            urlauth: false,
            ..SubmissionOptions::default()
        },
        0xbeef,
    )
    .await;
    for o in [&burl, &data] {
        assert_eq!(o.lost, 0);
        // A duplicate is only possible where a resend was counted.
        assert!(o.duplicates <= o.resends as usize);
        assert_eq!(o.sent_copies_extra, 0, "a Sent copy appended twice");
    }
    println!(
        "kill -9 total: 0 lost; {} delivered twice, {} resends counted",
        burl.duplicates + data.duplicates,
        burl.resends + data.resends
    );
}
