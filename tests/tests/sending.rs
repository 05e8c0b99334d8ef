//! Sending mail through the engine (issue 18), against Dovecot with its submission service,
//! measured with taps on both connections (IMAP and SMTP):
//! - a 5 MB attachment sent with its Sent copy: uploaded once with BURL (≤ 1.05× the
//!   message), at most twice on the fallback path (URLAUTH switched off in Dovecot);
//! - a forward of a 10 MB attachment the phone never downloaded: assembled on the server
//!   (CATENATE + BURL), the uplink is the new text and a few KB, nothing comes down, the
//!   receiver gets the attachment byte for byte, Sent holds the forward;
//! - queued offline, delivered exactly once by the next sync.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use crate::sending_common;

use anvert_core::{
    engine::{Draft, DraftAttachment, EngineConfig},
    imap::ConnectOptions,
    policy::NetworkKind,
    store::{Address, OutboxState},
};
use anvert_tests::dovecot::{Dovecot, SubmissionOptions};
use mail_parser::{MessageParser, MimeHeaders};
use sending_common::{Setup, sha256, to_bob};

const FIVE_MB: usize = 5 << 20;

fn draft_with(bytes: &[u8]) -> Draft {
    Draft {
        from: Address {
            name: Some("Alice".into()),
            email: "alice@localhost".into(),
        },
        to: to_bob(),
        subject: "The report".into(),
        text: "Here it is.".into(),
        attachments: vec![DraftAttachment {
            name: "report.bin".into(),
            mime_type: "application/octet-stream".into(),
            bytes: bytes.to_vec(),
        }],
        ..Draft::default()
    }
}

/// Sends a 5 MB attachment and returns (uplink on both taps, message size), after checking
/// the receiver got it whole and Sent holds one copy.
async fn send_five_mb(setup: &Setup) -> (u64, u64) {
    let attachment = sending_common::random_bytes(FIVE_MB, 5);
    let mark = setup.mark();
    let id = setup
        .engine
        .send(setup.account, draft_with(&attachment))
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}\n{}", setup.server.log());
    let item = setup.item(id).await;
    assert_eq!(item.state, OutboxState::Sent, "{item:?}");
    let got = setup.delivered(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["bob@localhost"]);
    let delivered = got[0].data_without_trace();
    let parsed = MessageParser::default().parse(&delivered).unwrap();
    let part = parsed.attachments().next().unwrap();
    assert_eq!(part.attachment_name(), Some("report.bin"));
    assert_eq!(sha256(part.contents()), sha256(&attachment));
    // One copy in Sent, the same bytes the receiver got.
    let sent = setup.sent_messages().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sha256(&sent[0]), sha256(&delivered));
    (setup.up_since(&mark), delivered.len() as u64)
}

#[tokio::test]
async fn a_5mb_message_and_its_sent_copy_cross_the_uplink_once_with_burl() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    let (up, size) = send_five_mb(&setup).await;
    let ratio = up as f64 / size as f64;
    println!("send with BURL: {up} B up for a {size} B message: {ratio:.4}x");
    assert!(ratio <= 1.05, "{ratio}");
    assert_eq!(setup.item_path().await.as_deref(), Some("burl"));
}

/// The same without COMPRESS: the ratio is then the bytes themselves, not what DEFLATE made
/// of them (random attachment bytes in base64 compress to about 0.76).
#[tokio::test]
async fn uncompressed_burl_is_one_upload_and_data_plus_append_two() {
    let config = || EngineConfig {
        connect: ConnectOptions {
            compress: false,
            ..ConnectOptions::default()
        },
        ..EngineConfig::default()
    };
    let burl = Setup::over(
        Dovecot::with_submission(SubmissionOptions::default()),
        config(),
    )
    .await;
    let (up, size) = send_five_mb(&burl).await;
    let ratio = up as f64 / size as f64;
    println!("send with BURL, no COMPRESS: {up} B up for a {size} B message: {ratio:.4}x");
    assert!((1.0..=1.05).contains(&ratio), "{ratio}");

    let data = Setup::over(
        Dovecot::with_submission(SubmissionOptions {
            urlauth: false,
            ..SubmissionOptions::default()
        }),
        config(),
    )
    .await;
    let (up, size) = send_five_mb(&data).await;
    let ratio = up as f64 / size as f64;
    println!("send by DATA + APPEND, no COMPRESS: {up} B up for a {size} B message: {ratio:.4}x");
    assert!((2.0..=2.1).contains(&ratio), "{ratio}");
}

#[tokio::test]
async fn without_urlauth_the_message_goes_by_data_and_then_to_sent() {
    let setup = Setup::start(SubmissionOptions {
        urlauth: false,
        ..SubmissionOptions::default()
    })
    .await;
    let (up, size) = send_five_mb(&setup).await;
    let ratio = up as f64 / size as f64;
    println!("send by DATA + APPEND: {up} B up for a {size} B message: {ratio:.4}x");
    assert!(ratio <= 2.1, "{ratio}");
    assert!(ratio > 1.5, "the copy was uploaded: {ratio}");
    assert_eq!(setup.item_path().await.as_deref(), Some("data"));
}

#[tokio::test]
async fn with_burl_switched_off_the_message_goes_by_data_and_then_to_sent() {
    // BURL off in Dovecot's submission configuration: EHLO does not offer it, so the engine
    // takes the DATA path although IMAP offers URLAUTH.
    let setup = Setup::start(SubmissionOptions {
        burl: false,
        ..SubmissionOptions::default()
    })
    .await;
    let (up, size) = send_five_mb(&setup).await;
    let ratio = up as f64 / size as f64;
    println!("send with BURL switched off: {up} B up for a {size} B message: {ratio:.4}x");
    assert!(ratio <= 2.1, "{ratio}");
}

#[tokio::test]
async fn a_forward_of_a_10mb_attachment_never_downloads_it() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    let attachment = sending_common::random_bytes(10 << 20, 10);
    let original = setup.deliver_with_attachment("Big file", &attachment).await;
    let text = "Forwarding the big file, see below.";
    let mark = setup.mark();
    let id = setup
        .engine
        .forward(original, to_bob(), text.into(), true)
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}\n{}", setup.server.log());
    let up = setup.up_since(&mark);
    let down = setup.down_since(&mark);
    let got = setup.delivered(1).await;
    let delivered = got[0].data_without_trace();
    let parsed = MessageParser::default().parse(&delivered).unwrap();
    assert!(parsed.subject().unwrap().starts_with("Fwd: Big file"));
    assert!(parsed.body_text(0).unwrap().contains(text));
    let part = parsed.attachments().next().expect("the attachment");
    assert_eq!(sha256(part.contents()), sha256(&attachment));
    let sent = setup.sent_messages().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sha256(&sent[0]), sha256(&delivered));
    let item = setup.item(id).await;
    println!(
        "forward of a 10 MiB attachment: {up} B up, {down} B down, message {} B, path {:?}",
        delivered.len(),
        item.path
    );
    assert_eq!(item.path.as_deref(), Some("burl"));
    assert!(up <= text.len() as u64 + 8 * 1024, "up {up}");
    assert!(down <= 16 * 1024, "down {down}: attachment bytes came down");
}

#[tokio::test]
async fn a_message_queued_offline_is_delivered_once_by_the_next_sync() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    let id = setup
        .engine
        .send(setup.account, draft_with(b"small"))
        .await
        .unwrap();
    assert!(matches!(
        setup
            .engine
            .flush_outbox(setup.account, NetworkKind::Offline)
            .await,
        Err(anvert_core::Error::Offline)
    ));
    assert_eq!(setup.item(id).await.state, OutboxState::Queued);
    setup.sync().await;
    assert_eq!(setup.item(id).await.state, OutboxState::Sent);
    setup.delivered(1).await;
    // Two more passes send nothing again.
    setup.sync().await;
    setup.sync().await;
    assert_eq!(setup.server.smtp_sink().count(), 1);
    assert_eq!(setup.sent_messages().await.len(), 1);
}

/// Without CATENATE in Dovecot's configuration, the forward is assembled here from the
/// original's bytes (read from the server once) and goes by DATA, then to Sent.
#[tokio::test]
async fn without_catenate_a_forward_reads_the_original_and_sends_it_whole() {
    let setup = Setup::start(SubmissionOptions {
        catenate: false,
        ..SubmissionOptions::default()
    })
    .await;
    let attachment = sending_common::random_bytes(1 << 20, 11);
    let original = setup
        .deliver_with_attachment("Medium file", &attachment)
        .await;
    let mark = setup.mark();
    setup
        .engine
        .forward(original, to_bob(), "FYI".into(), true)
        .await
        .unwrap();
    let report = setup.flush().await;
    assert_eq!(report.sent, 1, "{report:?}");
    let down = setup.down_since(&mark);
    let got = setup.delivered(1).await;
    let delivered = got[0].data_without_trace();
    let parsed = MessageParser::default().parse(&delivered).unwrap();
    let part = parsed.attachments().next().expect("the attachment");
    assert_eq!(sha256(part.contents()), sha256(&attachment));
    assert_eq!(setup.item_path().await.as_deref(), Some("data"));
    let sent = setup.sent_messages().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sha256(&sent[0]), sha256(&delivered));
    println!(
        "forward without CATENATE: {down} B down for a {} B message",
        delivered.len()
    );
    assert!(
        down >= attachment.len() as u64 / 2,
        "the original was read: {down}"
    );
}

/// `send_draft`: a draft saved on this device goes out without its Bcc header and leaves
/// Drafts with the send (its queued APPEND is dropped); one already on the server is sent
/// from the server's copy (assembled into Sent, no upload of its bytes) and expunged from
/// Drafts once sent.
#[tokio::test]
async fn drafts_are_sent_as_saved_and_leave_drafts() {
    let setup = Setup::start(SubmissionOptions::default()).await;
    let mut draft = draft_with(b"draft attachment");
    draft.bcc = vec![Address {
        name: None,
        email: "carol@localhost".into(),
    }];
    let local = setup
        .engine
        .save_draft(setup.account, draft.clone(), None)
        .await
        .unwrap();
    setup.engine.send_draft(local).await.unwrap();
    setup.flush().await;
    let got = setup.delivered(1).await;
    assert_eq!(got[0].rcpt_to, ["bob@localhost", "carol@localhost"]);
    let text = String::from_utf8_lossy(&got[0].data);
    assert!(!text.to_ascii_lowercase().contains("bcc:"), "{text}");

    // A draft on the server: saved, synced up, then sent.
    draft.bcc.clear();
    draft.subject = "Saved earlier".into();
    setup
        .engine
        .save_draft(setup.account, draft, None)
        .await
        .unwrap();
    setup.sync().await;
    let drafts = setup.folder("Drafts").await;
    let on_server = setup
        .engine
        .messages(drafts, None, 10)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.subject == "Saved earlier")
        .unwrap();
    assert!(on_server.uid < 0xF000_0000, "the draft is on the server");
    let mark = setup.mark();
    setup.engine.send_draft(on_server.id).await.unwrap();
    setup.flush().await;
    let up = setup.up_since(&mark);
    let got = setup.delivered(2).await;
    assert_eq!(got.len(), 2);
    assert!(String::from_utf8_lossy(&got[1].data).contains("Saved earlier"));
    assert!(up < 4 * 1024, "the server's copy was used: {up} B up");
    setup.sync().await;
    let left: Vec<String> = setup
        .engine
        .messages(drafts, None, 10)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(left.is_empty(), "Drafts still holds {left:?}");
    assert_eq!(setup.sent_messages().await.len(), 2);
}

/// A server that files sent mail in Sent by itself: found after the first send (a Message-ID
/// search in Sent), remembered, and no second copy is appended then or later.
#[tokio::test]
async fn a_server_that_files_sent_mail_itself_gets_no_second_copy() {
    let setup = Setup::start(SubmissionOptions {
        urlauth: false,
        ..SubmissionOptions::default()
    })
    .await;
    setup.server.file_sent_mail_into("alice");
    for n in 0..2 {
        setup
            .engine
            .send(setup.account, draft_with(format!("copy {n}").as_bytes()))
            .await
            .unwrap();
        let report = setup.flush().await;
        assert_eq!(report.sent, 1, "{report:?}");
    }
    setup.delivered(2).await;
    assert_eq!(setup.server.smtp_sink().filed(), 2);
    let sent: Vec<String> = setup
        .sent_messages()
        .await
        .iter()
        .map(|m| {
            let p = MessageParser::default().parse(m).unwrap();
            format!(
                "{:?} {:?}",
                p.message_id(),
                p.header_raw("Received").is_some()
            )
        })
        .collect();
    assert_eq!(sent.len(), 2, "one copy per message: {sent:?}");
}

/// A message sent before the account's first sync waits for it (its Sent folder is not
/// known yet), then goes out with its Sent copy at the end of that sync.
#[tokio::test]
async fn a_message_sent_before_the_first_sync_waits_for_the_sent_folder() {
    use anvert_core::{net::Security, policy::SyncRequest};
    use anvert_tests::client::endpoint;

    let server = Dovecot::with_submission(SubmissionOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server
        .engine_with_alice(server.imaps_addr(), dir.path(), EngineConfig::default())
        .await;
    engine
        .set_submission(
            account,
            Some(endpoint(server.submissions_addr(), Security::ImplicitTls)),
        )
        .await
        .unwrap();
    let id = engine.send(account, draft_with(b"early")).await.unwrap();
    let report = engine
        .flush_outbox(account, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!((report.sent, report.waiting), (0, 1), "{report:?}");
    assert_eq!(server.smtp_sink().count(), 0);
    engine
        .sync(
            account,
            &SyncRequest {
                network: NetworkKind::Metered,
                ..SyncRequest::default()
            },
        )
        .await
        .unwrap();
    let item = engine
        .outbox(account)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert_eq!(item.state, OutboxState::Sent, "{item:?}");
    server
        .smtp_sink()
        .wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
        .await;
    assert_eq!(Setup::sent_messages_of(&server).await.len(), 1);
}

/// Cyrus IMAP behind Dovecot's submission service: the submission server announces BURL for
/// its own IMAP authority, which Cyrus will not sign (it signs only for its own name), so the
/// engine sends the bytes by DATA; the Sent copy it appended on Cyrus stays the only one.
#[tokio::test]
async fn cyrus_imap_behind_another_submission_server_falls_back_to_data() {
    use anvert_core::{net::Security, policy::SyncRequest};
    use anvert_tests::{client::endpoint, cyrus::Cyrus, server::TestServer};

    let cyrus = Cyrus::start();
    let dovecot = Dovecot::with_submission(SubmissionOptions::default());
    // The precondition: Cyrus offers URLAUTH, so the engine tries the BURL path first.
    let probe = anvert_tests::client::imap_login(&cyrus, "alice").await;
    assert!(probe.capabilities().urlauth(), "{:?}", probe.capabilities());
    let _ = probe.logout().await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = anvert_tests::client::engine_with_alice(
        &cyrus,
        cyrus.imaps_addr(),
        dir.path(),
        EngineConfig {
            extra_roots_pem: Some(format!("{}\n{}", cyrus.ca_pem(), dovecot.ca_pem())),
            ..EngineConfig::default()
        },
    )
    .await;
    engine
        .set_submission(
            account,
            Some(endpoint(dovecot.submissions_addr(), Security::ImplicitTls)),
        )
        .await
        .unwrap();
    let request = SyncRequest {
        network: NetworkKind::Metered,
        ..SyncRequest::default()
    };
    engine.sync(account, &request).await.unwrap();
    let id = engine
        .send(account, draft_with(b"via cyrus"))
        .await
        .unwrap();
    let report = engine
        .flush_outbox(account, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let item = engine
        .outbox(account)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert_eq!(
        (item.state, item.path.as_deref()),
        (OutboxState::Sent, Some("data"))
    );
    dovecot
        .smtp_sink()
        .wait_for_messages(1, Dovecot::RELAY_TIMEOUT)
        .await;
    assert_eq!(dovecot.smtp_sink().count(), 1);
    assert_eq!(
        Setup::sent_messages_of(&cyrus).await.len(),
        1,
        "one copy, on Cyrus"
    );
}
