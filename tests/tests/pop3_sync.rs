//! POP3 sync through `Engine::sync` against a real Dovecot (implicit TLS): the stored
//! messages match the generator's ground truth (everything but flags, which POP3 does not
//! have), headers first costs a small fraction of a full download, a resync moves nothing
//! but the listings, delete-after-download deletes only what is stored, and dot-stuffed
//! lines survive byte for byte. Also: a 20 MB attachment inside nested parts streams from the
//! spool to its file; messages deleted in the app stay deleted and leave the server by
//! policy. What goes wrong mid-session (vanished messages, a crash before DELE, a cut RETR)
//! is `pop3_sync_faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::{Purpose, Security, WireMeter},
    policy::{ContentPolicy, NetworkKind, Pop3DeletePolicy, SyncRequest, SyncWindow},
    pop3::{self, Pop3Options},
    store::{AccountId, DownloadState, MessageDetail},
};
use anvert_tests::{
    client::endpoint,
    dovecot::Dovecot,
    generator::{GenConfig, MessageTruth, SizeMix},
    truth::{assert_headers_match as assert_message_headers, assert_parts_match},
};
use sha2::{Digest, Sha256};

pub(crate) fn mailbox(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

async fn engine_for(server: &Dovecot, dir: &std::path::Path) -> (Engine, AccountId) {
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Alice POP3".into(),
            protocol: Protocol::Pop3,
            endpoint: endpoint(server.pop3s_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    (engine, account)
}

pub(crate) fn request(network: NetworkKind) -> SyncRequest {
    SyncRequest {
        network,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

pub(crate) async fn stored(engine: &Engine, account: AccountId) -> Vec<MessageDetail> {
    let folders = engine.folders(account).await.unwrap();
    assert_eq!(folders.len(), 1, "one synthetic INBOX");
    let inbox = &folders[0];
    assert_eq!(inbox.name, "INBOX");
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.messages(inbox.id, cursor, 500).await.unwrap();
        for item in &page.items {
            out.push(engine.message(item.id).await.unwrap().unwrap());
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out
}

/// STAT over a fresh POP3 session: what the server holds now.
pub(crate) async fn server_count(server: &Dovecot) -> u32 {
    let mut session = pop3::connect(
        &endpoint(server.pop3s_addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &Pop3Options::default(),
    )
    .await
    .unwrap();
    let (count, _) = session.stat().await.unwrap();
    session.quit().await.unwrap();
    count
}

fn strip(id: &str) -> &str {
    id.trim_start_matches('<').trim_end_matches('>')
}

/// Headers of every stored message match the truth (`assert_store_matches` without flags
/// and parts: POP3 has no server flags, and headers-only messages have no parts yet).
fn assert_headers_match(
    stored: &[MessageDetail],
    truths: &[MessageTruth],
) -> BTreeMap<String, MessageTruth> {
    assert_eq!(stored.len(), truths.len(), "message count");
    let by_id: BTreeMap<String, MessageTruth> = truths
        .iter()
        .map(|t| (t.message_id.clone(), t.clone()))
        .collect();
    for m in stored {
        let id = strip(m.message_id.as_deref().expect("stored Message-ID"));
        let t = by_id
            .get(id)
            .unwrap_or_else(|| panic!("{id} is not in the truth"));
        let ctx = format!("message {} ({id})", t.index);
        assert_message_headers(m, t, &ctx);
        let s = &m.summary;
        assert!(s.flags.system.bits() == 0, "{ctx}: POP3 sets no flags");
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmetered_sync_matches_the_truth_and_resync_moves_only_listings() {
    let server = Dovecot::start();
    let truths = server.deliver_generated("alice", None, &mailbox(51, 500));
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;

    let report = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(report.added(), 500);
    assert_eq!(report.folders[0].bodies, 500, "every message downloaded");
    let messages = stored(&engine, account).await;
    let by_id = assert_headers_match(&messages, &truths);
    let mut attachments = 0;
    for m in &messages {
        let t = &by_id[strip(m.message_id.as_deref().unwrap())];
        let ctx = format!("message {}", t.index);
        assert_parts_match(&m.parts, &t.parts, &ctx);
        for (p, tp) in m.parts.iter().zip(&t.parts) {
            let pctx = format!("{ctx} part {}", tp.section);
            if p.is_attachment {
                assert_eq!(
                    p.download_state,
                    DownloadState::Complete,
                    "{pctx}: downloaded"
                );
                let record = engine
                    .store()
                    .download(m.summary.id, &p.section)
                    .await
                    .unwrap()
                    .unwrap();
                let bytes = std::fs::read(&record.destination).unwrap();
                assert_eq!(
                    hex::encode(Sha256::digest(&bytes)),
                    tp.sha256,
                    "{pctx}: content"
                );
                attachments += 1;
            }
        }
        assert_eq!(
            m.summary.has_attachments,
            m.parts.iter().any(|p| p.is_attachment),
            "{ctx}"
        );
        let body = engine
            .fetch_body(m.summary.id, NetworkKind::Offline)
            .await
            .unwrap();
        assert!(
            body.text.is_some()
                || body.html.is_some()
                || !m
                    .parts
                    .iter()
                    .any(|p| p.mime_type.starts_with("text/") && !p.is_attachment),
            "{ctx}: body stored"
        );
    }
    eprintln!("{attachments} attachments checked by SHA-256");

    // A resync fetches nothing: UIDL and LIST plus connection overhead.
    let again = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(again.added(), 0);
    assert_eq!(again.folders[0].bodies, 0);
    let resync = again.bytes.total();
    let metadata = again.bytes.total_for(Purpose::SyncMetadata);
    eprintln!("resync: {resync} B on the wire ({metadata} B UIDL+LIST) for 500 messages");
    assert_eq!(again.bytes.total_for(Purpose::Bodies), 0);
    assert!(metadata < 500 * 60, "UIDL+LIST only: {metadata} B");
    assert!(resync < 500 * 60 + 8_000, "{resync} B");
    assert_eq!(
        server_count(&server).await,
        500,
        "left on the server by default"
    );

    // After a restart the UIDLs are still known: nothing is fetched again.
    drop(engine);
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    let restarted = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(restarted.added(), 0);
    assert_eq!(restarted.bytes.total_for(Purpose::Bodies), 0);
    assert_eq!(stored(&engine, account).await.len(), 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metered_headers_first_costs_a_fraction_of_retr_all() {
    let server = Dovecot::start();
    let truths = server.deliver_generated("alice", None, &mailbox(52, 300));
    let list_total: u64 = truths.iter().map(|t| t.size as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;

    let metered = SyncRequest {
        content: Some(ContentPolicy {
            pop3_retr_max: 0,
            ..ContentPolicy::for_network(NetworkKind::Metered)
        }),
        ..request(NetworkKind::Metered)
    };
    let top = engine.sync(account, &metered).await.unwrap();
    assert_eq!(top.added(), 300);
    assert_eq!(top.bytes.total_for(Purpose::Bodies), 0, "no RETR");
    let messages = stored(&engine, account).await;
    assert_headers_match(&messages, &truths);
    assert!(
        messages.iter().all(|m| m.parts.is_empty()),
        "structure pending"
    );
    let with_preview = messages
        .iter()
        .filter(|m| m.summary.preview.is_some())
        .count();

    // Then everything, through the engine: the RETR-all figure.
    let all = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(all.added(), 0);
    assert_eq!(all.folders[0].bodies, 300);
    let retr = all.bytes.total_for(Purpose::Bodies);
    let top_bytes = top.bytes.total();
    eprintln!(
        "TOP pass: {top_bytes} B ({} B metadata, {with_preview} previews); RETR all: {retr} B on the wire; LIST sizes sum {list_total} B; ratio {:.2}%",
        top.bytes.total_for(Purpose::SyncMetadata),
        100.0 * top_bytes as f64 / retr as f64
    );
    assert!(retr >= list_total, "RETR moves at least the messages");
    assert!(
        top_bytes * 100 < retr * 6,
        "TOP pass {top_bytes} B vs RETR-all {retr} B"
    );
    assert!(
        stored(&engine, account)
            .await
            .iter()
            .all(|m| !m.parts.is_empty()),
        "structure filled in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_download_removes_only_stored_messages() {
    let server = Dovecot::start();
    let truths = server.deliver_generated("alice", None, &mailbox(53, 40));
    let big = truths.iter().filter(|t| t.size > 8 * 1024).count();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;

    // Metered with an 8 KiB RETR limit: larger messages stay headers-only and on the server.
    let metered = SyncRequest {
        content: Some(ContentPolicy {
            pop3_retr_max: 8 * 1024,
            ..ContentPolicy::for_network(NetworkKind::Metered)
        }),
        pop3_delete: Pop3DeletePolicy::AfterDownload,
        ..request(NetworkKind::Metered)
    };
    let report = engine.sync(account, &metered).await.unwrap();
    assert_eq!(report.added(), 40);
    assert_eq!(report.folders[0].bodies as usize, 40 - big);
    assert_eq!(
        server_count(&server).await as usize,
        big,
        "only stored messages deleted"
    );

    // The rest on Wi-Fi; the server ends empty and the store keeps all 40.
    let unmetered = SyncRequest {
        pop3_delete: Pop3DeletePolicy::AfterDownload,
        ..request(NetworkKind::Unmetered)
    };
    let report = engine.sync(account, &unmetered).await.unwrap();
    assert_eq!(report.folders[0].bodies as usize, big);
    assert_eq!(server_count(&server).await, 0);
    let messages = stored(&engine, account).await;
    assert_headers_match(&messages, &truths);
    // A later sync sees the empty maildrop and keeps the local copies.
    let report = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(report.added(), 0);
    assert_eq!(stored(&engine, account).await.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_stuffed_lines_survive_byte_for_byte() {
    let server = Dovecot::start();
    let body_text = ".leading dot\r\n..two dots\r\n.\r\n...\r\nend";
    let attachment = ".line\r\n..line\r\n.\r\n. \r\n.";
    let raw = format!(
        "From: Dot <dot@example.org>\r\nTo: alice@example.org\r\nSubject: dots\r\n\
Date: Wed, 01 Jan 2025 00:00:00 +0000\r\nMessage-ID: <dots@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
{body_text}\r\n--b\r\nContent-Type: application/octet-stream; name=\"dots.txt\"\r\n\
Content-Disposition: attachment; filename=\"dots.txt\"\r\n\r\n{attachment}\r\n--b--\r\n"
    );
    let cur = server.maildir("alice").join("cur");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(server.maildir("alice").join(sub)).unwrap();
    }
    let name = format!("1735689600.M0P1Q1.anvert,S={}:2,", raw.len());
    std::fs::write(cur.join(name), raw.as_bytes()).unwrap();
    server.fix_ownership();

    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;
    let report = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!(report.added(), 1);
    let message = stored(&engine, account).await.remove(0);
    let part = message
        .parts
        .iter()
        .find(|p| p.is_attachment)
        .expect("attachment");
    assert_eq!(part.download_state, DownloadState::Complete);
    let record = engine
        .store()
        .download(message.summary.id, &part.section)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        std::fs::read(&record.destination).unwrap(),
        attachment.as_bytes()
    );
    let body = engine
        .fetch_body(message.summary.id, NetworkKind::Offline)
        .await
        .unwrap();
    // Bodies are stored with LF line ends, as for IMAP (`mime::decode_part_text`).
    assert_eq!(body.text, Some(body_text.replace("\r\n", "\n")));
}

/// Puts `raw` into alice's Maildir as one message.
pub(crate) fn deliver_raw(server: &Dovecot, raw: &[u8], unique: &str) {
    let maildir = server.maildir("alice");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let name = format!("1735689600.M0P1Q{unique}.anvert,S={}:2,", raw.len());
    std::fs::write(maildir.join("cur").join(name), raw).unwrap();
    server.fix_ownership();
}

/// `len` pseudo-random bytes and their base64 in 76-character lines.
pub(crate) fn random_base64(seed: u64, len: usize) -> (Vec<u8>, String) {
    use base64::Engine as _;
    use rand::{RngCore, SeedableRng};
    let mut data = vec![0; len];
    rand_chacha::ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let mut lines = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        lines.push_str(std::str::from_utf8(chunk).unwrap());
        lines.push_str("\r\n");
    }
    (data, lines)
}

pub(crate) fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_attachment_in_nested_parts_streams_to_its_file() {
    let server = Dovecot::start();
    let (big, big_b64) = random_base64(7, 20 << 20);
    let (png, png_b64) = random_base64(8, 40_000);
    let text = "Caf\u{e9} au lait.\r\n".repeat(200);
    let qp = text.replace('\u{e9}', "=C3=A9");
    let raw = format!(
        "From: Big <big@example.org>\r\nTo: alice@example.org\r\nSubject: big one\r\n\
Date: Wed, 01 Jan 2025 00:00:00 +0000\r\nMessage-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\nThis is a multi-part message.\r\n\
--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
{qp}\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hello</p>\r\n--alt--\r\n\r\n\
--outer\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\n\
Content-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{big_b64}\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\n\
From: Inner <inner@example.org>\r\nSubject: forwarded\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\n\
inner text\r\n--inner\r\nContent-Type: image/png; name=\"pic.png\"\r\n\
Content-Disposition: attachment; filename=\"pic.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{png_b64}--inner--\r\n\r\n--outer--\r\n"
    );
    deliver_raw(&server, raw.as_bytes(), "big");

    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;
    let plain = SyncRequest {
        content: Some(ContentPolicy {
            prefer_html: false,
            ..ContentPolicy::for_network(NetworkKind::Unmetered)
        }),
        ..request(NetworkKind::Unmetered)
    };
    let report = engine
        .sync(account, &plain)
        .await
        .unwrap_or_else(|e| panic!("sync: {e}\n{}", server.log()));
    assert_eq!((report.added(), report.folders[0].bodies), (1, 1));
    let message = stored(&engine, account).await.remove(0);

    // The same parts a whole-message parse gives (sections, types, sizes, line counts).
    let whole = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let expected = anvert_core::mime::parts_from_message(&whole);
    let got: Vec<_> = message
        .parts
        .iter()
        .map(|p| {
            (
                p.section.clone(),
                p.mime_type.clone(),
                p.size,
                p.lines,
                p.is_attachment,
            )
        })
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|p| {
            let i = &p.info;
            (
                i.section.clone(),
                i.mime_type.clone(),
                i.size,
                i.lines,
                i.is_attachment,
            )
        })
        .collect();
    assert_eq!(got, want);
    let sections: Vec<&str> = message.parts.iter().map(|p| p.section.as_str()).collect();
    assert_eq!(sections, ["1.1", "1.2", "2", "3", "3.1", "3.2"]);

    // Decoded attachments, byte for byte.
    for (section, bytes) in [("2", &big), ("3.2", &png)] {
        let record = engine
            .store()
            .download(message.summary.id, section)
            .await
            .unwrap()
            .unwrap();
        let on_disk = std::fs::read(&record.destination).unwrap();
        assert_eq!(on_disk.len(), bytes.len(), "section {section}");
        assert_eq!(sha(&on_disk), sha(bytes), "section {section}");
    }
    let body = engine
        .fetch_body(message.summary.id, NetworkKind::Offline)
        .await
        .unwrap();
    assert_eq!(body.text, Some(text.replace("\r\n", "\n")));
    // The spool file is gone.
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("pop3"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "{spool:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_in_the_app_removes_now_and_from_the_server_by_policy() {
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &mailbox(56, 10));
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;
    let leave = request(NetworkKind::Unmetered);
    engine.sync(account, &leave).await.unwrap();
    let messages = stored(&engine, account).await;
    let doomed: Vec<_> = messages.iter().take(3).map(|m| m.summary.id).collect();
    let with_files = doomed
        .iter()
        .filter(|id| {
            dir.path()
                .join("attachments")
                .join(id.0.to_string())
                .exists()
        })
        .count();
    eprintln!("{with_files} of the deleted messages had attachment files");

    engine.delete_messages(&doomed).await.unwrap();
    assert_eq!(
        stored(&engine, account).await.len(),
        7,
        "gone locally at once"
    );
    for id in &doomed {
        assert!(engine.message(*id).await.unwrap().is_none());
        assert!(
            !dir.path()
                .join("attachments")
                .join(id.0.to_string())
                .exists()
        );
    }

    // Leave on server: the server keeps them, and they do not come back.
    let report = engine.sync(account, &leave).await.unwrap();
    assert_eq!(report.added(), 0);
    assert_eq!(stored(&engine, account).await.len(), 7);
    assert_eq!(server_count(&server).await, 10);

    // Delete when deleted locally: exactly those three go from the server.
    let when_deleted = SyncRequest {
        pop3_delete: Pop3DeletePolicy::WhenDeletedLocally,
        ..request(NetworkKind::Unmetered)
    };
    let report = engine.sync(account, &when_deleted).await.unwrap();
    assert_eq!(report.added(), 0);
    assert_eq!(server_count(&server).await, 7);
    assert_eq!(stored(&engine, account).await.len(), 7);
    engine.sync(account, &when_deleted).await.unwrap();
    assert_eq!(server_count(&server).await, 7);
    assert_eq!(stored(&engine, account).await.len(), 7);
}

/// Opening a message the policy left headers-only (roaming: TOP only) downloads it whole on
/// demand: the body comes back, its parts fill in (structure no longer pending), and asking
/// for an attachment hands over the file RETR wrote, equal to the truth, without a second
/// download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_headers_only_message_retrieves_it_whole() {
    let server = Dovecot::start();
    let mut config = mailbox(57, 40);
    config.mix = SizeMix {
        attachment_prob: 1.0,
        medium_prob: 0.0,
        huge_prob: 0.0,
        max_attachment: 64 << 10,
    };
    let truths = server.deliver_generated("alice", None, &config);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_for(&server, dir.path()).await;
    let top = engine
        .sync(account, &request(NetworkKind::Roaming))
        .await
        .unwrap();
    assert_eq!(top.added(), 40);
    assert_eq!(top.bytes.total_for(Purpose::Bodies), 0, "TOP only");

    let messages = stored(&engine, account).await;
    let opened = messages.first().unwrap();
    assert!(opened.parts.is_empty(), "structure pending before the open");
    let truth = truths
        .iter()
        .find(|t| Some(t.message_id.as_str()) == opened.message_id.as_deref().map(strip))
        .unwrap();
    let body = engine
        .fetch_body(opened.summary.id, NetworkKind::Metered)
        .await
        .unwrap();
    assert!(body.text.is_some() || body.html.is_some());
    let detail = engine.message(opened.summary.id).await.unwrap().unwrap();
    assert_parts_match(&detail.parts, &truth.parts, "opened on demand");
    let usage = engine.usage(account).await.unwrap();
    let bodies: u64 = usage
        .iter()
        .filter(|u| u.purpose == "bodies" && u.network_kind == "metered")
        .map(|u| u.bytes_down)
        .sum();
    assert!(bodies >= truth.size as u64, "one RETR: {bodies} B");

    // A second message: asking for its attachment first also retrieves it whole.
    let second = &messages[1];
    let truth = truths
        .iter()
        .find(|t| Some(t.message_id.as_str()) == second.message_id.as_deref().map(strip))
        .unwrap();
    let attachment = truth
        .parts
        .iter()
        .find(|p| p.disposition.as_deref() == Some("attachment"))
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let cancel = anvert_core::engine::CancellationToken::new();
    let path = engine
        .download_part(
            second.summary.id,
            &attachment.section,
            out.path(),
            NetworkKind::Metered,
            None,
            &cancel,
        )
        .await
        .unwrap();
    assert_eq!(sha(&std::fs::read(&path).unwrap()), attachment.sha256);
    // Offline now: both are stored.
    engine
        .fetch_body(second.summary.id, NetworkKind::Offline)
        .await
        .unwrap();
}
