//! Lazy content against both real servers (Dovecot and Cyrus, `on_each_server!`): opening a
//! message fetches only its readable part; attachments download in chunks, byte-identical,
//! within a wire-byte bound, resumable after cuts, a cancel and an engine restart; hostile
//! file names stay inside the destination; the network policy and the cache budget.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use anvert_core::{
    Error,
    engine::{AccountConfig, CancellationToken, Engine, EngineConfig, ProgressListener, Protocol},
    imap::ConnectOptions,
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageDetail, MessageId},
};
use anvert_tests::{
    client::endpoint,
    generator::{GenConfig, MessageTruth, PartTruth, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};
use sha2::{Digest, Sha256};

pub(crate) struct Setup<'a> {
    server: &'a dyn TestServer,
    tap: Tap,
    truth: Vec<MessageTruth>,
    dir: tempfile::TempDir,
    pub(crate) engine: Engine,
    account: AccountId,
}

/// Attachments of 1–10 MB on every message.
pub(crate) fn big_attachments(count: usize) -> GenConfig {
    let mix = SizeMix {
        attachment_prob: 1.0,
        medium_prob: 1.0,
        huge_prob: 0.0,
        max_attachment: 10 << 20,
    };
    GenConfig {
        seed: 51,
        count,
        mix,
        ..GenConfig::default()
    }
}

async fn open(
    server: &dyn TestServer,
    dir: &std::path::Path,
    compress: bool,
    cache_budget: Option<u64>,
) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        connect: ConnectOptions {
            compress,
            ..ConnectOptions::default()
        },
        cache_budget,
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

pub(crate) async fn setup(server: &dyn TestServer, config: GenConfig, compress: bool) -> Setup<'_> {
    setup_with_budget(server, config, compress, None).await
}

async fn setup_with_budget(
    server: &dyn TestServer,
    config: GenConfig,
    compress: bool,
    cache_budget: Option<u64>,
) -> Setup<'_> {
    let truth = server.deliver_generated("alice", None, &config);
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = open(server, dir.path(), compress, cache_budget).await;
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(tap.addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    engine.sync(account, &request).await.unwrap();
    Setup {
        server,
        tap,
        truth,
        dir,
        engine,
        account,
    }
}

async fn stored(s: &Setup<'_>) -> Vec<MessageDetail> {
    let inbox = s
        .engine
        .folders(s.account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let page = s.engine.messages(inbox.id, None, 500).await.unwrap();
    let mut out = Vec::new();
    for m in page.items {
        out.push(s.engine.message(m.id).await.unwrap().unwrap());
    }
    out
}

fn truth_of<'a>(s: &'a Setup<'_>, m: &MessageDetail) -> &'a MessageTruth {
    let id = m
        .message_id
        .as_deref()
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>');
    s.truth.iter().find(|t| t.message_id == id).unwrap()
}

/// The message with the largest attachment at most `max` bytes, and that attachment.
pub(crate) async fn with_attachment(s: &Setup<'_>, max: usize) -> (MessageId, PartTruth) {
    let mut best: Option<(MessageId, PartTruth)> = None;
    for m in stored(s).await {
        for p in &truth_of(s, &m).parts {
            if p.disposition.as_deref() == Some("attachment")
                && p.decoded_size <= max
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| p.decoded_size > b.decoded_size)
            {
                best = Some((m.summary.id, p.clone()));
            }
        }
    }
    best.unwrap()
}

pub(crate) fn sha256_file(path: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The bytes of a phase that are its own: with a warm session the phase opened no
/// connection and all of `stats` is its own; otherwise one connection's `setup` is taken off.
fn own_bytes(stats: &anvert_tests::tap::TapStats, setup: u64) -> u64 {
    if stats.connections == 0 {
        stats.total()
    } else {
        stats.total().saturating_sub(setup * stats.connections)
    }
}

/// Setup bytes of one connection (TLS, login, compress, select, logout), measured alone.
async fn setup_bytes(s: &Setup<'_>) -> u64 {
    let mark = s.tap.mark();
    let meter = anvert_core::net::WireMeter::new();
    let mut session = anvert_core::imap::connect(
        &endpoint(s.tap.addr(), Security::ImplicitTls),
        &s.server.credential("alice"),
        &s.server.tls(),
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    session.select("INBOX", None).await.unwrap();
    session.logout().await.unwrap();
    s.tap.stats_since(&mark).total()
}

async fn opening_a_message_fetches_its_text_and_not_its_attachment(server: &dyn TestServer) {
    let s = setup(server, big_attachments(12), true).await;
    let (message, attachment) = with_attachment(&s, 10 << 20).await;
    assert!(
        attachment.decoded_size >= 1 << 20,
        "{}",
        attachment.decoded_size
    );
    let detail = s.engine.message(message).await.unwrap().unwrap();
    let t = truth_of(&s, &detail);
    let setup = setup_bytes(&s).await;
    let mark = s.tap.mark();
    let body = s
        .engine
        .fetch_body(message, NetworkKind::Metered)
        .await
        .unwrap();
    let phase = s.tap.stats_since(&mark);
    // The sync's warm connection serves the open: no setup on the wire.
    assert_eq!(phase.connections, 0, "{phase:?}");
    let spent = own_bytes(&phase, setup);
    let text_parts: usize = t
        .parts
        .iter()
        .filter(|p| {
            p.mime_type.starts_with("text/") && p.disposition.as_deref() != Some("attachment")
        })
        .map(|p| p.encoded_size)
        .sum();
    eprintln!(
        "open: {spent} B on the wire (setup {setup} B, text parts {text_parts} B, attachment {} B)",
        attachment.decoded_size
    );
    assert!(spent < text_parts as u64 + 20_000, "{spent} B");
    let part = t
        .parts
        .iter()
        .find(|p| {
            p.disposition.as_deref() != Some("attachment")
                && p.filename.is_none()
                && (p.mime_type == "text/html" || p.mime_type == "text/plain")
        })
        .unwrap();
    let got = body.html.or(body.text).unwrap();
    assert_eq!(
        got.replace("\r\n", "\n").trim_end(),
        part.text
            .as_deref()
            .unwrap()
            .replace("\r\n", "\n")
            .trim_end()
    );
    // The second open is served from the store: nothing on the wire.
    let mark = s.tap.mark();
    s.engine
        .fetch_body(message, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!(s.tap.stats_since(&mark).total(), 0);
}

async fn attachment_within(server: &dyn TestServer, compress: bool, bound: f64) {
    let s = setup(server, big_attachments(12), compress).await;
    let (message, attachment) = with_attachment(&s, 10 << 20).await;
    let setup = setup_bytes(&s).await;
    let downloads = tempfile::tempdir().unwrap();
    let mark = s.tap.mark();
    let path = s
        .engine
        .download_part(
            message,
            &attachment.section,
            downloads.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let phase = s.tap.stats_since(&mark);
    assert_eq!(phase.connections, 0, "the warm connection: {phase:?}");
    let spent = own_bytes(&phase, setup);
    assert_eq!(sha256_file(&path), attachment.sha256, "byte-identical");
    let ratio = spent as f64 / attachment.decoded_size as f64;
    eprintln!(
        "{}: compress={compress}: {} B attachment, {spent} B on the wire beyond setup, ratio {ratio:.4}",
        server.name(),
        attachment.decoded_size
    );
    assert!(ratio <= bound, "ratio {ratio:.4} > {bound}");
    assert!(path.starts_with(downloads.path()));
}

async fn an_attachment_costs_at_most_1_05x_its_size_with_compress(server: &dyn TestServer) {
    attachment_within(server, true, 1.05).await;
}

async fn an_attachment_costs_at_most_1_40x_its_size_without_compress(server: &dyn TestServer) {
    attachment_within(server, false, 1.40).await;
}

struct Counter(AtomicU64, Option<(u64, CancellationToken)>);

impl ProgressListener for Counter {
    fn progress(&self, done: u64, _total: u64) {
        self.0.store(done, Ordering::SeqCst);
        if let Some((at, cancel)) = &self.1
            && done >= *at
        {
            cancel.cancel();
        }
    }
}

async fn downloads_resume_after_cuts_cancel_and_restart(server: &dyn TestServer) {
    let s = setup(server, big_attachments(12), true).await;
    let (message, attachment) = with_attachment(&s, 10 << 20).await;
    let downloads = tempfile::tempdir().unwrap();

    // The no-cut figure, on a copy in another directory.
    let other = tempfile::tempdir().unwrap();
    let mark = s.tap.mark();
    s.engine
        .download_part(
            message,
            &attachment.section,
            other.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let clean = s.tap.stats_since(&mark).total();
    s.engine
        .delete_download(message, &attachment.section)
        .await
        .unwrap();

    // Ten cuts at pseudo-random points of the transfer. A cut connection is replaced within
    // the call (a read is retried once on a new connection when a warm one dies), so the
    // cuts are armed from the progress callback, one after each chunk, until ten happened;
    // a call that still fails (two cuts in one chunk) is called again, with a cut armed
    // before it too: a resume starts at the chunk size reached (up to 1 MiB), so a cut can
    // come before its first chunk is in, and no progress would arm the next one.
    struct Cutter<'a> {
        tap: &'a Tap,
        seed: AtomicU64,
        clean: u64,
    }
    impl Cutter<'_> {
        fn cuts(&self) -> u64 {
            self.tap.connections().iter().filter(|c| c.cut).count() as u64
        }
    }
    impl ProgressListener for Cutter<'_> {
        fn progress(&self, _done: u64, _total: u64) {
            if self.cuts() < 10 {
                let seed = self
                    .seed
                    .load(Ordering::Relaxed)
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                self.seed.store(seed, Ordering::Relaxed);
                self.tap.cut_after(20_000 + (seed >> 33) % (self.clean / 6));
            }
        }
    }
    s.tap.reset();
    let cutter = Cutter {
        tap: &s.tap,
        seed: AtomicU64::new(0x9e3779b97f4a7c15),
        clean,
    };
    let mark = s.tap.mark();
    s.tap.cut_after(20_000);
    let mut failures = 0;
    let path = loop {
        if failures > 0 {
            cutter.progress(0, 0);
        }
        match s
            .engine
            .download_part(
                message,
                &attachment.section,
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
                    "{e:?}"
                );
                failures += 1;
                let record = s
                    .engine
                    .store()
                    .download(message, &attachment.section)
                    .await
                    .unwrap();
                assert!(record.is_some(), "progress is kept between cuts");
            }
        }
        assert!(failures <= 10, "too many failures");
    };
    let cuts = cutter.cuts();
    assert!(cuts >= 5, "only {cuts} cuts happened");
    s.tap.clear_faults();
    let with_cuts = s.tap.stats_since(&mark).total();
    assert_eq!(
        sha256_file(&path),
        attachment.sha256,
        "byte-identical after {cuts} cuts"
    );
    // At most the chunk in flight again, and a new connection's setup, per cut.
    let one_chunk_and_setup = (1 << 20) + 10_000;
    eprintln!("{cuts} cuts: {with_cuts} B vs {clean} B without cuts");
    assert!(
        with_cuts <= clean + cuts * one_chunk_and_setup,
        "resumed downloads refetched more than one chunk per cut"
    );

    // Cancel part-way, then "restart the process": drop the engine, reopen the same data
    // directory, hand the credential over again, and resume.
    s.engine
        .delete_download(message, &attachment.section)
        .await
        .unwrap();
    assert!(!path.exists(), "deleting a download removes its file");
    let cancel = CancellationToken::new();
    let listener = Counter(
        AtomicU64::new(0),
        Some(((attachment.encoded_size / 3) as u64, cancel.clone())),
    );
    let err = s
        .engine
        .download_part(
            message,
            &attachment.section,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(&listener),
            &cancel,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let kept = s
        .engine
        .store()
        .download(message, &attachment.section)
        .await
        .unwrap()
        .unwrap();
    assert!(kept.encoded_offset > 0 && kept.decoded_len > 0);
    let Setup {
        engine,
        dir,
        server,
        account,
        ..
    } = s;
    drop(engine);
    let engine = open(server, dir.path(), true, None).await;
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    let first_progress = Arc::new(AtomicU64::new(u64::MAX));
    struct First(Arc<AtomicU64>);
    impl ProgressListener for First {
        fn progress(&self, done: u64, _total: u64) {
            let _ = self
                .0
                .compare_exchange(u64::MAX, done, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
    let path = engine
        .download_part(
            message,
            &attachment.section,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(&First(first_progress.clone())),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(
        first_progress.load(Ordering::SeqCst) > kept.encoded_offset,
        "resumed from the saved offset, not from zero"
    );
    assert_eq!(sha256_file(&path), attachment.sha256);
}

async fn hostile_file_names_land_inside_the_destination(server: &dyn TestServer) {
    let s = setup(
        server,
        GenConfig {
            seed: 52,
            count: 300,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
        true,
    )
    .await;
    let downloads = tempfile::tempdir().unwrap();
    let mut hostile = 0;
    for m in stored(&s).await {
        for p in &m.parts {
            let Some(name) = &p.filename else { continue };
            if !(name.contains("..") || name.contains('/') || name.chars().any(char::is_control)) {
                continue;
            }
            let path = s
                .engine
                .download_part(
                    m.summary.id,
                    &p.section,
                    downloads.path(),
                    NetworkKind::Unmetered,
                    None,
                    &CancellationToken::new(),
                )
                .await
                .unwrap();
            assert_eq!(
                path.parent(),
                Some(downloads.path()),
                "{name:?} -> {path:?}"
            );
            let file_name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                !file_name.contains("..") && !file_name.chars().any(char::is_control),
                "{file_name:?}"
            );
            hostile += 1;
        }
    }
    assert!(
        hostile >= 2,
        "the generator's mix has hostile names ({hostile})"
    );
}

async fn the_network_policy_decides_what_is_prefetched_and_eviction_frees_the_cache(
    server: &dyn TestServer,
) {
    let s = setup(
        server,
        GenConfig {
            seed: 53,
            count: 120,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
        true,
    )
    .await;
    // setup() synced on a metered network: headers and snippets only.
    let usage = s.engine.usage(s.account).await.unwrap();
    assert!(
        usage
            .iter()
            .all(|u| u.purpose != "bodies" && u.purpose != "attachments"),
        "{usage:?}"
    );
    // Unmetered: the newest 50 bodies come along.
    let request = SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let report = s.engine.sync(s.account, &request).await.unwrap();
    let inbox = report.folders.iter().find(|f| f.name == "INBOX").unwrap();
    assert_eq!(inbox.bodies, 50, "{report:?}");
    // ...and the small attachments of those messages (at most 1 MB each).
    assert!(report.attachments >= 1, "{report:?}");
    assert!(
        report
            .bytes
            .total_for(anvert_core::net::Purpose::Attachments)
            > 0
    );
    let prefetched: Vec<_> = walk(&s.dir.path().join("attachments"));
    assert_eq!(
        prefetched.len() as u32,
        report.attachments,
        "{prefetched:?}"
    );
    assert!(report.bytes.total_for(anvert_core::net::Purpose::Bodies) > 0);
    let unmetered = s.engine.usage(s.account).await.unwrap();
    assert!(
        unmetered
            .iter()
            .any(|u| u.network_kind == "unmetered" && u.purpose == "bodies"),
        "{unmetered:?}"
    );
    // A prefetched body opens without the network.
    let newest = stored(&s).await.into_iter().next().unwrap();
    let mark = s.tap.mark();
    let body = s
        .engine
        .fetch_body(newest.summary.id, NetworkKind::Offline)
        .await
        .unwrap();
    assert!(body.html.is_some() || body.text.is_some());
    assert!(!body.parts.is_empty());
    assert_eq!(s.tap.stats_since(&mark).total(), 0);
    // Evicting frees the cache; the body can be fetched again, and offline it is gone.
    let before = s.engine.store().cache_usage(s.account).await.unwrap();
    let freed = s.engine.evict_cache(s.account, u64::MAX).await.unwrap();
    assert!(freed > 0 && freed >= before, "freed {freed} of {before}");
    assert_eq!(s.engine.store().cache_usage(s.account).await.unwrap(), 0);
    assert!(
        walk(&s.dir.path().join("attachments")).is_empty(),
        "evicted downloads are deleted"
    );
    assert!(matches!(
        s.engine
            .fetch_body(newest.summary.id, NetworkKind::Offline)
            .await,
        Err(Error::Offline)
    ));
    let again = s
        .engine
        .fetch_body(newest.summary.id, NetworkKind::Metered)
        .await
        .unwrap();
    assert_eq!(again.html.or(again.text), body.html.or(body.text));
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

/// Removing an account deletes its data: the rows, and the files of its downloads (a finished
/// one and a partial one) — nothing of it stays on disk.
async fn removing_an_account_deletes_its_downloads(server: &dyn TestServer) {
    let s = setup(server, big_attachments(4), true).await;
    let messages = stored(&s).await;
    let with: Vec<(MessageId, String)> = messages
        .iter()
        .filter_map(|m| {
            m.parts
                .iter()
                .find(|p| p.is_attachment)
                .map(|p| (m.summary.id, p.section.clone()))
        })
        .take(2)
        .collect();
    assert_eq!(with.len(), 2);
    let downloads = tempfile::tempdir().unwrap();
    let finished = s
        .engine
        .download_part(
            with[0].0,
            &with[0].1,
            downloads.path(),
            NetworkKind::Unmetered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(finished.exists());
    // A partial one: cancelled from its first progress callback.
    struct CancelAtFirst(CancellationToken);
    impl ProgressListener for CancelAtFirst {
        fn progress(&self, _done: u64, _total: u64) {
            self.0.cancel();
        }
    }
    let cancel = CancellationToken::new();
    let partial = s
        .engine
        .download_part(
            with[1].0,
            &with[1].1,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(&CancelAtFirst(cancel.clone())),
            &cancel,
        )
        .await;
    assert!(matches!(partial, Err(Error::Cancelled)), "{partial:?}");
    let before: Vec<_> = std::fs::read_dir(downloads.path()).unwrap().collect();
    assert_eq!(before.len(), 2, "a finished file and a partial one");

    s.engine.remove_account(s.account).await.unwrap();
    let after: Vec<_> = std::fs::read_dir(downloads.path()).unwrap().collect();
    assert!(after.is_empty(), "files left behind: {after:?}");
    assert!(s.engine.accounts().await.unwrap().is_empty());
    assert!(s.engine.message(with[0].0).await.unwrap().is_none());
}

/// The cache budget is kept after every download, least recently used first, but never by
/// deleting the file the download just handed back, even when that file alone is larger than
/// the whole budget. The next download evicts it instead.
async fn a_download_larger_than_the_cache_budget_is_kept_until_the_next(server: &dyn TestServer) {
    let s = setup_with_budget(server, big_attachments(3), false, Some(64 << 10)).await;
    let mut attachments = Vec::new();
    for m in stored(&s).await {
        if let Some(p) = truth_of(&s, &m)
            .parts
            .iter()
            .find(|p| p.disposition.as_deref() == Some("attachment") && p.decoded_size > 64 << 10)
        {
            attachments.push((m.summary.id, p.clone()));
        }
    }
    assert!(attachments.len() >= 2, "the mix gives big attachments");
    let downloads = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (message, part) in &attachments[..2] {
        let path = s
            .engine
            .download_part(
                *message,
                &part.section,
                downloads.path(),
                NetworkKind::Unmetered,
                None,
                &CancellationToken::new(),
            )
            .await
            .unwrap();
        // Over budget on its own, and still there, whole.
        assert!(
            path.exists(),
            "{} was evicted by its own trim",
            path.display()
        );
        assert_eq!(sha256_file(&path), part.sha256);
        paths.push(path);
    }
    assert!(
        !paths[0].exists(),
        "the older download was evicted for the newer"
    );
    let first = &attachments[0];
    assert!(
        s.engine
            .store()
            .download(first.0, &first.1.section)
            .await
            .unwrap()
            .is_none()
    );
}

on_each_server!(
    an_attachment_costs_at_most_1_05x_its_size_with_compress,
    an_attachment_costs_at_most_1_40x_its_size_without_compress,
    opening_a_message_fetches_its_text_and_not_its_attachment,
    downloads_resume_after_cuts_cancel_and_restart,
    hostile_file_names_land_inside_the_destination,
    the_network_policy_decides_what_is_prefetched_and_eviction_frees_the_cache,
    removing_an_account_deletes_its_downloads,
    a_download_larger_than_the_cache_budget_is_kept_until_the_next,
);
