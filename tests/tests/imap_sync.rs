//! Headers-first IMAP sync against a real Dovecot: the store matches the generator's ground
//! truth, deltas converge with the server (QRESYNC, CONDSTORE only, neither), UIDVALIDITY
//! changes are handled, and the wire bytes are asserted through the byte tap.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::SystemFlags,
    sync::SyncMode,
};
use anvert_tests::{
    client::SyncClient,
    dovecot::{Dovecot, DovecotOptions},
    generator::{GenConfig, SizeMix},
    tap::Tap,
    truth::assert_store_matches,
};

fn mailbox(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

fn everything() -> SyncRequest {
    SyncRequest {
        // Metered: headers (and snippets) only, so these tests measure headers-first sync.
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    }
}

/// The stored flags of a folder by UID.
async fn stored_flags(client: &SyncClient, folder: &str) -> BTreeMap<u32, SystemFlags> {
    let id = client.folder(folder).await;
    client
        .all_messages(id)
        .await
        .into_iter()
        .map(|m| (m.summary.uid, m.summary.flags.system))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_stores_the_ground_truth() {
    let server = Dovecot::start();
    let truth = server.deliver_generated("alice", None, &mailbox(11, 2000));
    let client = SyncClient::new().await;
    let report = client
        .sync(&server, server.imaps_addr(), &everything())
        .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.folders[0].mode, SyncMode::Initial);
    assert_eq!(report.added(), 2000);
    let inbox = client.folder("INBOX").await;
    assert_store_matches(&client.all_messages(inbox).await, &truth);
    assert_eq!(
        stored_flags(&client, "INBOX").await,
        server.server_flags("alice", "INBOX")
    );
}

/// Adds 10 messages, changes flags on 20 and expunges 15, as another client would.
fn change_on_server(server: &Dovecot) {
    server.deliver_generated("alice", None, &mailbox(99, 10));
    server.doveadm(&[
        "flags",
        "add",
        "-u",
        "alice",
        "\\Flagged",
        "mailbox",
        "INBOX",
        "uid",
        "100:109",
    ]);
    server.doveadm(&[
        "flags", "remove", "-u", "alice", "\\Seen", "mailbox", "INBOX", "uid", "1:10",
    ]);
    server.doveadm(&[
        "expunge", "-u", "alice", "mailbox", "INBOX", "uid", "200:214",
    ]);
}

async fn delta_converges(options: DovecotOptions, expected: SyncMode) {
    let server = Dovecot::start_with(options);
    server.deliver_generated("alice", None, &mailbox(12, 500));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    client.sync(&server, tap.addr(), &everything()).await;

    let flags_before = server.server_flags("alice", "INBOX");
    change_on_server(&server);
    let flags_after = server.server_flags("alice", "INBOX");
    let really_changed = flags_after
        .iter()
        .filter(|(uid, f)| flags_before.get(uid).is_some_and(|b| b != *f))
        .count() as u64;
    let before = tap.stats();
    let report = client.sync(&server, tap.addr(), &everything()).await;
    let delta_bytes = tap.stats().total() - before.total();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let inbox = &report.folders[0];
    assert_eq!(inbox.mode, expected);
    assert_eq!((inbox.added, inbox.removed), (10, 15), "{inbox:?}");
    if expected == SyncMode::DeltaFullScan {
        assert!(inbox.changed >= really_changed, "{inbox:?}");
    } else {
        assert_eq!(
            inbox.changed, really_changed,
            "exactly the messages whose flags changed: {inbox:?}"
        );
    }
    assert_eq!(
        stored_flags(&client, "INBOX").await,
        server.server_flags("alice", "INBOX"),
        "store and server agree"
    );
    eprintln!("{expected:?}: delta sync {delta_bytes} B on the wire (connection setup included)");
    if expected != SyncMode::DeltaFullScan {
        assert!(
            delta_bytes < 40_000,
            "a delta of 10 new + 20 flags + 15 expunges cost {delta_bytes} B"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_with_qresync_converges() {
    delta_converges(DovecotOptions::default(), SyncMode::DeltaQresync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_with_condstore_only_converges() {
    delta_converges(
        DovecotOptions {
            qresync: false,
            ..DovecotOptions::default()
        },
        SyncMode::DeltaCondstore,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_without_condstore_or_qresync_converges() {
    delta_converges(
        DovecotOptions {
            qresync: false,
            condstore: false,
            ..DovecotOptions::default()
        },
        SyncMode::DeltaFullScan,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_account_costs_at_most_400_bytes_per_folder() {
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &mailbox(13, 300));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    let all = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    client.sync(&server, tap.addr(), &all).await;
    let folders = client.store.folders(client.account).await.unwrap().len() as u64;
    assert!(folders >= 6, "INBOX and the five special-use folders");

    // Setup (TLS, login, compression) is measured on its own: connect and log out.
    let mark = tap.mark();
    {
        let meter = anvert_core::net::WireMeter::new();
        let session = anvert_core::imap::connect(
            &anvert_tests::client::endpoint(tap.addr(), anvert_core::net::Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            &Default::default(),
        )
        .await
        .unwrap();
        session.logout().await.unwrap();
    }
    let setup = tap.stats_since(&mark).total();
    let mark = tap.mark();
    let report = client.sync(&server, tap.addr(), &all).await;
    let resync = tap.stats_since(&mark).total();
    assert!(
        report.folders.iter().all(|f| f.mode == SyncMode::Unchanged),
        "{report:?}"
    );
    let per_folder = resync.saturating_sub(setup) / folders;
    eprintln!(
        "no-change resync: {resync} B in all, setup {setup} B, {per_folder} B per folder for {folders} folders"
    );
    assert!(per_folder <= 400, "{per_folder} B per unchanged folder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_replaces_the_cached_folder() {
    let server = Dovecot::start();
    server.doveadm(&["mailbox", "create", "-u", "alice", "Work"]);
    let first = server.deliver_generated("alice", Some("Work"), &mailbox(14, 40));
    let client = SyncClient::new().await;
    let work = SyncRequest {
        window: SyncWindow::everything(),
        folders: vec!["Work".into()],
        ..SyncRequest::default()
    };
    client.sync(&server, server.imaps_addr(), &work).await;
    let folder = client.folder("Work").await;
    assert_store_matches(&client.all_messages(folder).await, &first);

    // Recreate the mailbox with other messages: a new UIDVALIDITY, and UIDs that collide.
    server.doveadm(&["mailbox", "delete", "-u", "alice", "Work"]);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // UIDVALIDITY is a timestamp
    server.doveadm(&["mailbox", "create", "-u", "alice", "Work"]);
    let second = server.deliver_generated("alice", Some("Work"), &mailbox(15, 25));
    let report = client.sync(&server, server.imaps_addr(), &work).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.folders[0].mode, SyncMode::Reset);
    let folder = client.folder("Work").await;
    assert_store_matches(&client.all_messages(folder).await, &second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_window_syncs_the_newest_and_pages_back_when_asked() {
    let server = Dovecot::start();
    // Every generated message is older than 30 days, so the count rule (200) decides.
    let truth = server.deliver_generated("alice", None, &mailbox(16, 2000));
    let client = SyncClient::new().await;
    let inbox_only = SyncRequest {
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let report = client.sync(&server, server.imaps_addr(), &inbox_only).await;
    let first = report.added();
    assert!(
        (200..=250).contains(&first),
        "the first window (50) and one more (200): {first}"
    );
    let folder = client.folder("INBOX").await;
    let stored = client.all_messages(folder).await;
    let newest: Vec<_> = truth.iter().rev().take(first as usize).cloned().collect();
    assert_store_matches(&stored, &newest);

    // A second sync with the same window fetches nothing more...
    let again = client.sync(&server, server.imaps_addr(), &inbox_only).await;
    assert_eq!(again.added() + again.folders[0].backfilled, 0, "{again:?}");
    // ...and paging back asks for more: older messages, newest first, below what is stored.
    let older = SyncRequest {
        window: SyncWindow {
            min_messages: first as u32 + 500,
            ..SyncWindow::default()
        },
        ..inbox_only.clone()
    };
    let report = client.sync(&server, server.imaps_addr(), &older).await;
    let back = report.folders[0].backfilled;
    assert!(back >= 500, "{report:?}");
    let stored = client.all_messages(folder).await;
    let newest: Vec<_> = truth
        .iter()
        .rev()
        .take((first + back) as usize)
        .cloned()
        .collect();
    assert_store_matches(&stored, &newest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_budget_stops_at_a_committed_window_and_the_next_sync_continues() {
    let server = Dovecot::start();
    let truth = server.deliver_generated("alice", None, &mailbox(17, 2000));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    let budget = 100_000;
    let limited = SyncRequest {
        byte_budget: Some(budget),
        ..everything()
    };
    let before = tap.stats();
    let report = client.sync(&server, tap.addr(), &limited).await;
    let spent = tap.stats().total() - before.total();
    assert_eq!(report.stopped, Some(anvert_core::sync::StopReason::Budget));
    let stored = report.added();
    assert!((50..2000).contains(&stored), "{report:?}");
    // Stops within one window: the largest window (1,000 headers) is well under 250 KB here.
    assert!(
        spent < budget + 250_000,
        "spent {spent} B for a {budget} B budget"
    );
    eprintln!("budget {budget} B: spent {spent} B, stored {stored} messages");

    let report = client.sync(&server, tap.addr(), &everything()).await;
    assert_eq!(stored + report.folders[0].backfilled, 2000, "{report:?}");
    let folder = client.folder("INBOX").await;
    assert_store_matches(&client.all_messages(folder).await, &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_and_deleted_folders_follow_the_server() {
    let server = Dovecot::start();
    server.doveadm(&["mailbox", "create", "-s", "-u", "alice", "Projects"]);
    server.doveadm(&["mailbox", "create", "-s", "-u", "alice", "Old"]);
    server.deliver_generated("alice", Some("Projects"), &mailbox(18, 5));
    let client = SyncClient::new().await;
    let all = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    client.sync(&server, server.imaps_addr(), &all).await;
    let names = |c: &SyncClient| {
        let store = c.store.clone();
        let account = c.account;
        async move {
            store
                .folders(account)
                .await
                .unwrap()
                .into_iter()
                .map(|f| (f.name, f.total))
                .collect::<BTreeMap<_, _>>()
        }
    };
    let before = names(&client).await;
    assert_eq!(before.get("Projects"), Some(&5));
    assert!(before.contains_key("Old"));

    server.doveadm(&[
        "mailbox",
        "rename",
        "-s",
        "-u",
        "alice",
        "Projects",
        "Projects-2024",
    ]);
    server.doveadm(&["mailbox", "delete", "-u", "alice", "Old"]);
    let report = client.sync(&server, server.imaps_addr(), &all).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let after = names(&client).await;
    assert!(
        !after.contains_key("Projects") && !after.contains_key("Old"),
        "{after:?}"
    );
    assert_eq!(after.get("Projects-2024"), Some(&5), "{after:?}");
}
