//! Headers first, measured: the initial sync's wire bytes against two baselines fetched in
//! the same test (a full download, and a bare FETCH of the same items), and the round trips
//! before the first screen. Bytes come from the tap, independently of the engine's meter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    imap::{self, ConnectOptions, SummaryItems},
    net::{Security, WireMeter},
    policy::{NetworkKind, SyncRequest, SyncWindow},
};
use anvert_tests::{
    client::{SyncClient, endpoint, raw_session},
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    tap::Tap,
};
use futures::TryStreamExt;

/// Runs `command` on a fresh async-imap connection through the tap (TLS verified with the
/// test CA, COMPRESS=DEFLATE when `compress`) and returns the bytes of the command alone.
async fn baseline(server: &Dovecot, tap: &Tap, command: &str, compress: bool) -> u64 {
    let mut session = raw_session(
        &server.tls(),
        tap.addr(),
        "alice",
        server.password("alice"),
        compress,
    )
    .await;
    session.select("INBOX").await.unwrap();
    let mark = tap.mark();
    let (set, items) = command.split_once(' ').unwrap();
    let fetched: Vec<_> = session
        .uid_fetch(set, items)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(!fetched.is_empty());
    let bytes = tap.stats_since(&mark).total();
    session.logout().await.unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_first_costs_what_a_bare_fetch_costs_and_four_round_trips_to_the_first_screen() {
    let server = Dovecot::start();
    let mix = SizeMix {
        max_attachment: 2 << 20,
        ..SizeMix::default()
    };
    let summary = anvert_tests::generator::mailbox_summary(&server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 21,
            count: 2000,
            mix,
            ..GenConfig::default()
        },
    ));
    let tap = Tap::start(server.imaps_addr()).unwrap();

    // Setup alone (TCP+TLS, greeting, LOGIN, COMPRESS, LOGOUT), to subtract from the sync.
    let mark = tap.mark();
    let meter = WireMeter::new();
    let session = imap::connect(
        &endpoint(tap.addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    session.logout().await.unwrap();
    let setup = tap.stats_since(&mark);

    // The first screen: a fresh client asks for the 50 newest only.
    let first = SyncClient::new().await;
    let screen = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow {
            min_messages: 50,
            max_age_days: None,
            ..SyncWindow::default()
        },
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let mark = tap.mark();
    let report = first.sync(&server, tap.addr(), &screen).await;
    let screen_stats = tap.stats_since(&mark);
    assert!(report.added() >= 50);
    // Setup's round trips are the TLS handshake (2), LOGIN, COMPRESS and LOGOUT.
    let handshake_and_logout = 3;
    let first_screen_rts = screen_stats.round_trips - handshake_and_logout;
    assert!(
        first_screen_rts <= 4,
        "first screen took {first_screen_rts} round trips after the TLS handshake ({screen_stats:?})"
    );

    // The whole folder, and the baselines.
    let full = SyncClient::new().await;
    let everything = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let mark = tap.mark();
    let report = full.sync(&server, tap.addr(), &everything).await;
    let sync_bytes = tap.stats_since(&mark).total() - setup.total();
    assert_eq!(report.added(), 2000);

    let items = SummaryItems {
        preview: true,
        modseq: true,
        references: true,
        objectid: false,
    }
    .render();
    let same_items = baseline(&server, &tap, &format!("1:* {items}"), true).await;
    let naive = baseline(
        &server,
        &tap,
        "1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
        false,
    )
    .await;
    let naive_deflate = baseline(
        &server,
        &tap,
        "1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
        true,
    )
    .await;
    let full_download = baseline(&server, &tap, "1:* BODY.PEEK[]", true).await;

    let ratio = sync_bytes as f64 / same_items as f64;
    eprintln!(
        "mailbox: {} messages, {} bytes",
        summary.count, summary.total_bytes
    );
    eprintln!("| what | wire bytes |");
    eprintln!("|---|---|");
    eprintln!(
        "| setup (TLS, login, compress, logout) | {} |",
        setup.total()
    );
    eprintln!(
        "| first screen (50 newest), setup included | {} ({first_screen_rts} round trips) |",
        screen_stats.total()
    );
    eprintln!("| anvert initial sync, setup excluded | {sync_bytes} |");
    eprintln!("| bare UID FETCH 1:* of the same items, deflate | {same_items} |");
    eprintln!("| naive headers-first, no compression | {naive} |");
    eprintln!("| naive headers-first, deflate | {naive_deflate} |");
    eprintln!("| full download BODY.PEEK[], deflate | {full_download} |");
    eprintln!("sync / bare fetch = {ratio:.4}");
    assert!(
        ratio <= 1.03,
        "whole-folder sync overhead {ratio:.4} > 1.03"
    );
    assert!(
        sync_bytes * 20 < full_download,
        "headers first must be far below a full download"
    );
}
