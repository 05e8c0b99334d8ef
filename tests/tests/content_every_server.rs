//! Attachments on both real servers (`on_each_server!`), through the tap: a download over the
//! warm session is byte-identical to the generator's part and opens no connection, and its
//! wire bytes are within issue 16's bounds for a base64 part of 200 KB or more:
//!
//! | path                    | COMPRESS | bound  |
//! |-------------------------|----------|--------|
//! | BINARY (RFC 3516)       | on       | 1.02x  |
//! | BINARY                  | off      | 1.03x  |
//! | BODY (BINARY turned off)| off      | 1.40x  |
//! | BODY                    | on       | 1.08x  |
//!
//! The BODY rows are the fallback path (a server without BINARY, or a part it cannot
//! decode); 1.08 is the bound before issue 16 (Dovecot 1.046x, Cyrus 1.057x: Cyrus
//! compresses base64 less well).
//!
//! A download cut ten times at seeded random points resumes each time, finishes
//! byte-identical, and refetches at most one chunk (plus a new connection's setup) per cut.
//! And readable bodies that are base64 or quoted-printable come through BINARY in fewer
//! bytes than through BODY, with the same text.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use anvert_core::{
    Error,
    engine::{CancellationToken, EngineConfig, ProgressListener},
    imap::ConnectOptions,
    policy::{NetworkKind, SyncRequest, SyncWindow},
};
use anvert_tests::{
    attachment::{Mailbox, deliver, synced},
    client::engine_with_alice,
    generator::{GenConfig, MessageTruth, PartTruth, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};
use sha2::{Digest, Sha256};

/// What a new connection costs on the wire before its first chunk (TLS handshake with the
/// harness certificate chain, LOGIN, COMPRESS, EXAMINE): measured 5–7 KB on both servers.
const SETUP: u64 = 12_000;

fn sha256_file(path: &PathBuf) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Downloads the attachment over the warm session with `connect`; returns wire bytes / decoded
/// size.
async fn ratio(server: &dyn TestServer, mailbox: &Mailbox, compress: bool, binary: bool) -> f64 {
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connect = ConnectOptions {
        compress,
        binary,
        ..ConnectOptions::default()
    };
    let (engine, _, message) = synced(server, tap.addr(), dir.path(), connect, mailbox).await;
    let downloads = tempfile::tempdir().unwrap();
    let mark = tap.mark();
    let path = engine
        .download_part(
            message,
            &mailbox.part.section,
            downloads.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", server.name(), server.log()));
    let phase = tap.stats_since(&mark);
    assert_eq!(
        sha256_file(&path),
        mailbox.part.sha256,
        "{}: byte-identical",
        server.name()
    );
    assert_eq!(
        phase.connections,
        0,
        "{}: the warm connection",
        server.name()
    );
    let ratio = phase.total() as f64 / mailbox.part.decoded_size as f64;
    eprintln!(
        "{}: compress {compress}, binary {binary}: {} B base64 attachment, {} B on the wire \
         ({} round trips), {ratio:.4}x",
        server.name(),
        mailbox.part.decoded_size,
        phase.total(),
        phase.round_trips,
    );
    ratio
}

async fn attachment_bytes_are_within_the_bounds_of_each_path(server: &dyn TestServer) {
    let mailbox = deliver(server);
    for (compress, binary, bound) in [
        (true, true, 1.02),
        (false, true, 1.03),
        (false, false, 1.40),
        (true, false, 1.08),
    ] {
        let ratio = ratio(server, &mailbox, compress, binary).await;
        assert!(
            ratio <= bound,
            "{}: compress {compress}, binary {binary}: {ratio:.4}x > {bound}",
            server.name()
        );
    }
}

on_each_server!(attachment_bytes_are_within_the_bounds_of_each_path);

/// Arms a cut at a seeded random number of server bytes after every chunk (and before every
/// call), until ten connections were cut; records the largest chunk seen.
struct Cutter<'a> {
    tap: &'a Tap,
    seed: AtomicU64,
    spread: u64,
    last: AtomicU64,
    largest: AtomicU64,
    /// 1 + the cut count when the last arm was made (0: none yet). One arm at a time: an arm
    /// left pending when its connection died would cut the connection the engine retries
    /// on, two cuts in one call and eleven in all.
    armed_at: AtomicU64,
}

impl Cutter<'_> {
    fn cuts(&self) -> u64 {
        self.tap.connections().iter().filter(|c| c.cut).count() as u64
    }

    fn arm(&self) {
        let cuts = self.cuts();
        let armed_at = self.armed_at.load(Ordering::SeqCst);
        let outstanding = armed_at != 0 && cuts < armed_at;
        if cuts < 10 && !outstanding {
            self.armed_at.store(cuts + 1, Ordering::SeqCst);
            let seed = self
                .seed
                .load(Ordering::Relaxed)
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.seed.store(seed, Ordering::Relaxed);
            self.tap.cut_after(20_000 + (seed >> 33) % self.spread);
        }
    }
}

impl ProgressListener for Cutter<'_> {
    fn progress(&self, done: u64, _total: u64) {
        let last = self.last.swap(done, Ordering::SeqCst);
        self.largest
            .fetch_max(done.saturating_sub(last), Ordering::SeqCst);
        self.arm();
    }
}

async fn a_download_cut_ten_times_resumes_byte_identical(server: &dyn TestServer) {
    let mailbox = deliver(server);
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, _, message) = synced(
        server,
        tap.addr(),
        dir.path(),
        ConnectOptions::default(),
        &mailbox,
    )
    .await;
    let section = mailbox.part.section.clone();

    // The figure without cuts, into another directory.
    let other = tempfile::tempdir().unwrap();
    let mark = tap.mark();
    engine
        .download_part(
            message,
            &section,
            other.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let clean = tap.stats_since(&mark).total();
    engine.delete_download(message, &section).await.unwrap();

    let cutter = Cutter {
        tap: &tap,
        seed: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
        // Cuts come within a tenth of the part, so ten of them fit in one download.
        spread: clean / 10,
        last: AtomicU64::new(0),
        largest: AtomicU64::new(0),
        armed_at: AtomicU64::new(0),
    };
    let downloads = tempfile::tempdir().unwrap();
    let mark = tap.mark();
    let mut failures = 0;
    let path = loop {
        cutter.arm();
        // A resume starts from the committed offset: progress restarts from there.
        let committed = engine
            .store()
            .download(message, &section)
            .await
            .unwrap()
            .map_or(0, |r| r.encoded_offset);
        cutter.last.store(committed, Ordering::SeqCst);
        match engine
            .download_part(
                message,
                &section,
                downloads.path(),
                NetworkKind::Unmetered,
                Some(&cutter),
                &CancellationToken::new(),
            )
            .await
        {
            Ok(path) => break path,
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::ConnectionClosed
                            | Error::Io(_)
                            | Error::Tls { .. }
                            | Error::Timeout { .. }
                    ),
                    "{}: {e:?}",
                    server.name()
                );
                failures += 1;
                assert!(failures <= 12, "{}: too many failures", server.name());
                // A cut halves the chunk size the resume starts at (a link that keeps
                // dropping still completes chunks).
                let record = engine
                    .store()
                    .download(message, &section)
                    .await
                    .unwrap()
                    .unwrap();
                assert!(
                    record.chunk_len <= anvert_core::blobs::MAX_CHUNK / 2,
                    "{}: the resume after a cut starts at {} B",
                    server.name(),
                    record.chunk_len
                );
            }
        }
    };
    tap.clear_faults();
    let cuts = cutter.cuts();
    let with_cuts = tap.stats_since(&mark).total();
    assert_eq!(
        sha256_file(&path),
        mailbox.part.sha256,
        "{}: byte-identical after {cuts} cuts",
        server.name()
    );
    // One chunk: the largest the engine asks for (the chunk being read when the cut came
    // is lost; committed ones are not fetched again).
    let chunk = u64::from(anvert_core::blobs::MAX_CHUNK);
    let largest = cutter.largest.load(Ordering::SeqCst);
    eprintln!(
        "{}: {cuts} cuts: {with_cuts} B vs {clean} B without cuts (+{} B, {:.0} B per cut; \
         largest progress step {largest} B)",
        server.name(),
        with_cuts.saturating_sub(clean),
        with_cuts.saturating_sub(clean) as f64 / cuts.max(1) as f64
    );
    assert_eq!(cuts, 10, "{}: ten cuts happened", server.name());
    assert!(largest > 0, "progress was reported");
    assert!(
        with_cuts <= clean + cuts * (chunk + SETUP),
        "{}: more than one chunk refetched per cut",
        server.name()
    );
}

on_each_server!(a_download_cut_ten_times_resumes_byte_identical);

/// Readable bodies that are base64 or quoted-printable come through BINARY: the same text as
/// through BODY (decoded here), in fewer bytes on the wire.
async fn encoded_text_bodies_come_through_binary_in_fewer_bytes(server: &dyn TestServer) {
    let truth = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 62,
            count: 80,
            mix: SizeMix::none(),
            ..GenConfig::default()
        },
    );
    // Messages whose readable parts are all base64 or quoted-printable: whichever the engine
    // opens is encoded.
    let encoded: Vec<&MessageTruth> = truth
        .iter()
        .filter(|m| {
            let readable: Vec<&PartTruth> = m
                .parts
                .iter()
                .filter(|p| {
                    p.disposition.as_deref() != Some("attachment")
                        && (p.mime_type == "text/plain" || p.mime_type == "text/html")
                })
                .collect();
            !readable.is_empty()
                && readable
                    .iter()
                    .all(|p| p.encoding == "base64" || p.encoding == "quoted-printable")
        })
        .collect();
    assert!(encoded.len() >= 5, "{} encoded bodies", encoded.len());
    let mut texts = Vec::new();
    let mut bytes = Vec::new();
    for binary in [true, false] {
        let tap = Tap::start(server.imaps_addr()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let connect = ConnectOptions {
            compress: false,
            binary,
            ..ConnectOptions::default()
        };
        let (engine, account) = engine_with_alice(
            server,
            tap.addr(),
            dir.path(),
            EngineConfig {
                connect,
                ..EngineConfig::default()
            },
        )
        .await;
        let request = SyncRequest {
            network: NetworkKind::Metered,
            window: SyncWindow::everything(),
            folders: vec!["INBOX".into()],
            content: Some(anvert_core::policy::ContentPolicy {
                snippets: false,
                prefetch_bodies: 0,
                prefetch_attachments_max: None,
                ..anvert_core::policy::ContentPolicy::for_network(NetworkKind::Metered)
            }),
            ..SyncRequest::default()
        };
        engine.sync(account, &request).await.unwrap();
        let inbox = engine
            .folders(account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.name == "INBOX")
            .unwrap();
        let mut ids = std::collections::BTreeMap::new();
        for m in engine.messages(inbox.id, None, 200).await.unwrap().items {
            let detail = engine.message(m.id).await.unwrap().unwrap();
            if let Some(id) = detail.message_id {
                ids.insert(id.trim_matches(['<', '>']).to_string(), m.id);
            }
        }
        let mark = tap.mark();
        let mut opened = Vec::new();
        for m in &encoded {
            let body = engine
                .fetch_body(ids[&m.message_id], NetworkKind::Unmetered)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", server.name()));
            opened.push((body.text, body.html));
        }
        let phase = tap.stats_since(&mark);
        assert_eq!(phase.connections, 0);
        eprintln!(
            "{}: binary {binary}: {} encoded bodies opened in {} B",
            server.name(),
            encoded.len(),
            phase.total()
        );
        texts.push(opened);
        bytes.push(phase.total());
    }
    assert_eq!(
        texts[0],
        texts[1],
        "{}: the same text either way",
        server.name()
    );
    assert!(
        texts[0].iter().all(|(t, h)| t.is_some() || h.is_some()),
        "every body has text"
    );
    assert!(
        bytes[0] < bytes[1],
        "{}: BINARY {} B, BODY {} B",
        server.name(),
        bytes[0],
        bytes[1]
    );
}

on_each_server!(encoded_text_bodies_come_through_binary_in_fewer_bytes);
