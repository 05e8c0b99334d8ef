//! Headers first, measured: the initial sync's wire bytes against two baselines fetched in
//! the same test (a full download, and a bare FETCH of the same items), and the round trips
//! before the first screen, on both real servers (`on_each_server!`). Bytes come from the
//! tap, independently of the engine's meter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    imap::{self, ConnectOptions, SummaryItems},
    net::{Security, WireMeter},
    policy::{NetworkKind, SyncRequest, SyncWindow},
};
use anvert_tests::{
    client::{SyncClient, endpoint, raw_session},
    generator::{GenConfig, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};
use futures::TryStreamExt;

/// Runs `command` on a fresh async-imap connection through the tap (TLS verified with the
/// test CA, COMPRESS=DEFLATE when `compress`) and returns the bytes of the command alone.
async fn baseline(server: &dyn TestServer, tap: &Tap, command: &str, compress: bool) -> u64 {
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
    // Cyrus may close after BYE without a TLS close_notify, which async-imap reports as an
    // error; the baseline's bytes are already counted.
    let _ = session.logout().await;
    bytes
}

async fn headers_first_costs_what_a_bare_fetch_costs_and_four_round_trips_to_the_first_screen(
    server: &dyn TestServer,
) {
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

    // Setup's round trips are the TLS handshake, LOGIN, COMPRESS and LOGOUT. The handshake
    // takes 2 on Dovecot and 3 on Cyrus, whose OpenSSL wants P-256 and answers rustls'
    // X25519 key share with a HelloRetryRequest (a later connection of the same connector
    // remembers the group): the first screen is counted after the handshake, as measured.
    let handshake = setup.round_trips - 3;

    // The first screen: a fresh client asks for the 50 newest only. Counted twice: the
    // summaries alone (snippets off), and with the snippets the list shows. Where PREVIEW
    // answers NIL (Cyrus 3.6), snippets cost one flight of their own after the summaries.
    let mut screen_rts = Vec::new();
    let mut screen_stats = None;
    for snippets in [false, true] {
        let first = SyncClient::new().await;
        let metered = anvert_core::policy::ContentPolicy::for_network(NetworkKind::Metered);
        let screen = SyncRequest {
            network: NetworkKind::Metered,
            window: SyncWindow {
                min_messages: 50,
                max_age_days: None,
                ..SyncWindow::default()
            },
            folders: vec!["INBOX".into()],
            content: Some(anvert_core::policy::ContentPolicy {
                snippets,
                ..metered
            }),
            ..SyncRequest::default()
        };
        let mark = tap.mark();
        let report = first.sync(server, tap.addr(), &screen).await;
        let stats = tap.stats_since(&mark);
        assert!(report.added() >= 50);
        // The handshake before and the LOGOUT after are not the first screen's.
        screen_rts.push(stats.round_trips - handshake - 1);
        screen_stats = Some(stats);
    }
    let screen_stats = screen_stats.unwrap();
    let (summaries_rts, first_screen_rts) = (screen_rts[0], screen_rts[1]);
    assert!(
        summaries_rts <= 4,
        "{}: the 50 newest summaries took {summaries_rts} round trips after the TLS handshake",
        server.name()
    );
    let preview_nil = server.name() == "cyrus";
    assert!(
        first_screen_rts <= 4 + u64::from(preview_nil),
        "{}: first screen with snippets took {first_screen_rts} round trips after the TLS handshake ({screen_stats:?})",
        server.name()
    );

    // The whole folder, and the baselines.
    let full = SyncClient::new().await;
    // Where PREVIEW answers NIL the engine stops asking for it after the first window and
    // fetches snippets on their own (bounded by `snippets.rs`); the headers are compared
    // with the same items, without PREVIEW and without snippets.
    let everything = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        content: Some(anvert_core::policy::ContentPolicy {
            snippets: !preview_nil,
            ..anvert_core::policy::ContentPolicy::for_network(NetworkKind::Metered)
        }),
        ..SyncRequest::default()
    };
    let mark = tap.mark();
    let report = full.sync(server, tap.addr(), &everything).await;
    let sync_bytes = tap.stats_since(&mark).total() - setup.total();
    assert_eq!(report.added(), 2000);

    // The same items the engine asks for: EMAILID and THREADID too where OBJECTID is offered.
    let objectid = {
        let session = anvert_tests::client::imap_login(server, "alice").await;
        let has = session.capabilities().has("OBJECTID");
        session.logout().await.unwrap();
        has
    };
    let items = SummaryItems {
        preview: !preview_nil,
        modseq: true,
        references: true,
        objectid,
    }
    .render();
    let same_items = baseline(server, &tap, &format!("1:* {items}"), true).await;
    let naive = baseline(
        server,
        &tap,
        "1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
        false,
    )
    .await;
    let naive_deflate = baseline(
        server,
        &tap,
        "1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
        true,
    )
    .await;
    let full_download = baseline(server, &tap, "1:* BODY.PEEK[]", true).await;

    let ratio = sync_bytes as f64 / same_items as f64;
    eprintln!(
        "{}: mailbox: {} messages, {} bytes",
        server.name(),
        summary.count,
        summary.total_bytes
    );
    eprintln!("| what | wire bytes |");
    eprintln!("|---|---|");
    eprintln!(
        "| setup (TLS, login, compress, logout) | {} |",
        setup.total()
    );
    eprintln!(
        "| first screen (50 newest), setup included | {} ({summaries_rts} round trips for the summaries, {first_screen_rts} with snippets, after a {handshake}-turn handshake) |",
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

on_each_server!(
    headers_first_costs_what_a_bare_fetch_costs_and_four_round_trips_to_the_first_screen
);
