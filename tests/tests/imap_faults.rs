//! Faults on the wire against a real Dovecot, through the byte tap: a connection cut in the
//! middle of a windowed initial sync keeps every window already committed, and the next sync
//! completes the folder to exactly the ground truth, without duplicates. (Hostile and broken
//! server bytes are covered by the transcript tests in `core/src/imap/transcript_tests.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    policy::{SyncRequest, SyncWindow},
    sync::SyncMode,
};
use anvert_tests::{
    client::SyncClient,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
    tap::Tap,
    truth::assert_store_matches,
};

const MESSAGES: usize = 1500;

fn everything() -> SyncRequest {
    SyncRequest {
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    }
}

/// How many messages each prefix of the window plan covers, newest first: the first window,
/// then windows growing fourfold up to `window.window` (the rule in `sync::folder`).
fn window_boundaries(total: u32, window: SyncWindow) -> Vec<u32> {
    let (mut covered, mut size, mut out) = (0, window.first_window, Vec::new());
    while covered < total {
        covered = (covered + size).min(total);
        out.push(covered);
        size = (size * 4).min(window.window);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_mid_sync_keeps_committed_windows_and_the_next_sync_completes() {
    let server = Dovecot::start();
    let truth = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 31,
            count: MESSAGES,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;

    // TLS, login, LIST+SELECT and the first window of 50 fit in well under 60 KB (compressed);
    // the cut falls inside a later window.
    tap.cut_after(60_000);
    let err = client
        .try_sync(&server, tap.addr(), &everything())
        .await
        .expect_err("the cut ends the sync");
    assert!(matches!(err, Error::ConnectionClosed), "{err:?}");

    let inbox = client.folder("INBOX").await;
    let kept = client.all_messages(inbox).await.len() as u32;
    let boundaries = window_boundaries(MESSAGES as u32, everything().window);
    eprintln!("cut after 60 KB: {kept} of {MESSAGES} messages kept ({boundaries:?})");
    assert!(
        kept >= boundaries[0],
        "the first window is committed: {kept}"
    );
    assert!(
        kept < MESSAGES as u32,
        "the cut came before the end: {kept}"
    );
    assert!(
        boundaries.contains(&kept),
        "{kept} messages is a whole number of windows ({boundaries:?})"
    );

    let report = client
        .try_sync(&server, tap.addr(), &everything())
        .await
        .unwrap_or_else(|e| panic!("second sync: {e}\n{}", server.log()));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let folder = &report.folders[0];
    assert_ne!(folder.mode, SyncMode::Initial, "{folder:?}");
    assert_eq!(
        u64::from(kept) + folder.added + folder.backfilled,
        MESSAGES as u64,
        "{folder:?}"
    );
    assert_store_matches(&client.all_messages(inbox).await, &truth);
}
