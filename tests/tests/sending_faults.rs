//! Sending when things go wrong (issue 18), against Dovecot's submission service and its
//! relay: each fault gives a clear error on the message's outbox entry, nothing is lost,
//! and what can be retried is.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use crate::sending_common;

use std::time::Duration;

use anvert_core::{
    engine::{Draft, EngineConfig},
    net::Security,
    store::{Address, OutboxState},
};
use anvert_tests::server::TestServer;
use anvert_tests::{
    client::endpoint,
    dovecot::{Dovecot, DovecotOptions, SubmissionOptions},
};
use sending_common::{Setup, to_bob};

fn note(to: Vec<Address>, text: &str) -> Draft {
    Draft {
        from: Address {
            name: None,
            email: "alice@localhost".into(),
        },
        to,
        subject: "Note".into(),
        text: text.into(),
        ..Draft::default()
    }
}

fn address(email: &str) -> Address {
    Address {
        name: None,
        email: email.into(),
    }
}

#[tokio::test]
async fn one_refused_recipient_is_reported_and_the_others_get_the_message() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    setup
        .server
        .smtp_sink()
        .reject_recipient("nobody@localhost");
    let id = setup
        .engine
        .send(
            setup.account,
            note(
                vec![
                    address("bob@localhost"),
                    address("nobody@localhost"),
                    address("carol@localhost"),
                ],
                "hi all",
            ),
        )
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Sent);
    assert_eq!(item.rejected.len(), 1, "{item:?}");
    assert_eq!(item.rejected[0].address, "nobody@localhost");
    assert_eq!(item.rejected[0].code, 550);
    assert_eq!(item.rejected[0].enhanced.as_deref(), Some("5.1.1"));
    let got = setup.delivered(1).await;
    assert_eq!(got[0].rcpt_to, ["bob@localhost", "carol@localhost"]);
    // Not retried: a later flush sends nothing.
    setup.flush().await;
    assert_eq!(setup.server.smtp_sink().count(), 1);
}

#[tokio::test]
async fn a_message_over_the_servers_size_fails_before_any_upload() {
    let setup = Setup::start(SubmissionOptions {
        max_mail_size: Some(100_000),
        ..SubmissionOptions::default()
    })
    .await;
    let mut big = note(to_bob(), "too big");
    big.attachments = vec![anvert_core::engine::DraftAttachment {
        name: "big.bin".into(),
        mime_type: "application/octet-stream".into(),
        bytes: sending_common::random_bytes(300_000, 3),
    }];
    let mark = setup.mark();
    let id = setup.engine.send(setup.account, big).await.unwrap();
    let report = setup.flush().await;
    assert_eq!(report.failed, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Failed);
    let error = item.last_error.unwrap();
    assert!(
        error.contains("larger") || error.contains("size"),
        "{error}"
    );
    let up = setup.up_since(&mark);
    assert!(up < 8 * 1024, "{up} B went up for a refused message");
    assert_eq!(setup.server.smtp_sink().count(), 0);
    assert!(setup.sent_messages().await.is_empty());
}

#[tokio::test]
async fn a_refused_login_keeps_the_message_queued_with_the_reason() {
    // The submission server is another Dovecot, where alice has another password; the
    // engine trusts both servers' test CAs.
    let other = Dovecot::start_with(DovecotOptions {
        users: vec![("alice".into(), "not-the-same-pw".into())],
        submission: Some(SubmissionOptions::default()),
        ..DovecotOptions::default()
    });
    let server = Dovecot::with_submission(SubmissionOptions::default());
    let roots = format!("{}\n{}", server.ca_pem(), other.ca_pem());
    let setup = Setup::over(
        server,
        EngineConfig {
            extra_roots_pem: Some(roots),
            ..EngineConfig::default()
        },
    )
    .await;
    setup
        .engine
        .set_submission(
            setup.account,
            Some(endpoint(other.submissions_addr(), Security::ImplicitTls)),
        )
        .await
        .unwrap();
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), "x"))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Queued);
    assert_eq!(item.attempts, 1);
    let error = item.last_error.unwrap();
    assert!(
        error.contains("rejected") || error.contains("auth"),
        "{error}\n{}",
        other.log()
    );
    assert!(!error.contains("alice-secret-pw"));
    assert_eq!(other.smtp_sink().count(), 0);

    // Back to the right server: the retry delivers it.
    setup
        .engine
        .set_submission(
            setup.account,
            Some(endpoint(setup.smtp_tap.addr(), Security::ImplicitTls)),
        )
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    setup.delivered(1).await;
}

#[tokio::test]
async fn stripped_starttls_sends_nothing_and_says_why() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    // The receiver speaks plain SMTP and offers no STARTTLS: as if a middlebox stripped it.
    let plain = setup.server.smtp_sink().addr();
    setup
        .engine
        .set_submission(setup.account, Some(endpoint(plain, Security::StartTls)))
        .await
        .unwrap();
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), "x"))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Queued);
    let error = item.last_error.unwrap();
    assert!(error.contains("STARTTLS"), "{error}");
    assert_eq!(setup.server.smtp_sink().count(), 0);
}

/// On the DATA path (no URLAUTH) Dovecot hands its relay's `451` at MAIL FROM to the
/// client as the MAIL FROM reply.
#[tokio::test]
async fn a_temporary_refusal_at_mail_from_is_retried_and_delivered_once() {
    let setup = Setup::start(SubmissionOptions {
        urlauth: false,
        ..SubmissionOptions::default()
    })
    .await;
    setup.server.smtp_sink().fail_next_mail_from(1);
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), "later"))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Queued, "{item:?}");
    assert!(item.last_error.unwrap().contains("451"));
    assert!(item.next_attempt_at > 0);
    // The sync respects the backoff; the app's retry does not.
    setup.sync().await;
    assert_ne!(setup.item(id).await.state, OutboxState::Sent);
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    setup.delivered(1).await;
    assert_eq!(setup.server.smtp_sink().count(), 1);
    assert_eq!(setup.sent_messages().await.len(), 1);
}

#[tokio::test]
async fn a_relay_that_drops_after_data_gives_a_temporary_error_then_one_delivery() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    setup.server.smtp_sink().drop_after_next_data();
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), "dropped"))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert!(item.last_error.unwrap().contains("421"));
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    setup.delivered(1).await;
    assert_eq!(setup.server.smtp_sink().count(), 1);
    assert_eq!(setup.sent_messages().await.len(), 1, "one Sent copy only");
}

/// The phone's own connection is cut right after the message went up, before the server's
/// answer: the engine cannot know whether it was delivered. It says so, sends again on the
/// next run and counts the resend; nothing is lost, and the duplicate is visible.
#[tokio::test]
async fn a_connection_cut_after_the_final_dot_resends_and_counts_it() {
    let setup = Setup::over(
        Dovecot::with_submission(SubmissionOptions {
            urlauth: false,
            ..SubmissionOptions::default()
        }),
        EngineConfig::default(),
    )
    .await;
    let text = "x".repeat(200_000);
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), &text))
        .await
        .unwrap();
    // Cut the SMTP connection at the server's first bytes once the body has gone up.
    let tap = setup.smtp_tap.handle();
    let before = setup.smtp_tap.stats().up;
    let watcher = std::thread::spawn(move || {
        let armed = tap.wait_until(Duration::from_secs(30), |s| s.up >= before + 200_000);
        if armed {
            tap.cut_after(0);
        }
        armed
    });
    let report = setup.flush().await;
    assert!(watcher.join().unwrap());
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Submitting, "{item:?}");
    assert!(
        item.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("may have been delivered"),
        "{item:?}"
    );

    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.resends, 1);
    let delivered = setup.server.smtp_sink().count();
    println!("cut after the final dot: delivered {delivered} time(s), resends counted: 1");
    assert!((1..=2).contains(&delivered));
    assert_eq!(setup.sent_messages().await.len(), 1, "one Sent copy only");
}

/// With BURL, Dovecot 2.3.19 accepts MAIL and RCPT, fetches the URL, and only then meets its
/// relay's `451`: it hangs up instead of answering BURL. For the engine that is a send whose
/// outcome is unknown: it keeps the entry `submitting`, sends again on the next run and
/// counts the resend. Here the first attempt reached nobody, so the receiver has it once.
#[tokio::test]
async fn a_relay_refusal_behind_burl_is_an_unknown_outcome_and_resent_once() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    setup.server.smtp_sink().fail_next_mail_from(1);
    let id = setup
        .engine
        .send(setup.account, note(to_bob(), "later"))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.waiting, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Submitting, "{item:?}");
    assert!(item.last_error.unwrap().contains("may have been delivered"));
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    let item = setup.item(id).await;
    assert_eq!((item.state, item.resends), (OutboxState::Sent, 1));
    setup.delivered(1).await;
    assert_eq!(setup.server.smtp_sink().count(), 1);
    assert_eq!(setup.sent_messages().await.len(), 1, "one Sent copy only");
}
