//! Headers-first IMAP sync against both real servers, Dovecot and Cyrus (`on_each_server!`):
//! the store matches the generator's ground truth, deltas converge with the server (QRESYNC,
//! CONDSTORE only, neither), UIDVALIDITY changes are handled, folders follow renames and
//! deletes, and the wire bytes are asserted through the byte tap. Another client's changes
//! are made with raw IMAP commands outside the engine (`TestServer::imap_as`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::SystemFlags,
    sync::SyncMode,
};
use anvert_tests::{
    client::SyncClient,
    generator::{GenConfig, SizeMix},
    on_each_server, on_each_server_with,
    server::{Extensions, TestServer},
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

async fn initial_sync_stores_the_ground_truth(server: &dyn TestServer) {
    let truth = server.deliver_generated("alice", None, &mailbox(11, 2000));
    let client = SyncClient::new().await;
    let report = client
        .sync(server, server.imaps_addr(), &everything())
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
fn change_on_server(server: &dyn TestServer) {
    server.deliver_generated("alice", None, &mailbox(99, 10));
    server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            "UID STORE 100:109 +FLAGS.SILENT (\\Flagged)",
            "UID STORE 1:10 -FLAGS.SILENT (\\Seen)",
            "UID STORE 200:214 +FLAGS.SILENT (\\Deleted)",
            "UID EXPUNGE 200:214",
        ],
    );
}

async fn delta_converges(server: &dyn TestServer, expected: SyncMode) {
    server.deliver_generated("alice", None, &mailbox(12, 500));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    client.sync(server, tap.addr(), &everything()).await;

    let flags_before = server.server_flags("alice", "INBOX");
    change_on_server(server);
    let flags_after = server.server_flags("alice", "INBOX");
    let really_changed = flags_after
        .iter()
        .filter(|(uid, f)| flags_before.get(uid).is_some_and(|b| b != *f))
        .count() as u64;
    let before = tap.stats();
    let report = client.sync(server, tap.addr(), &everything()).await;
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
    eprintln!(
        "{}: {expected:?}: delta sync {delta_bytes} B on the wire (connection setup included)",
        server.name()
    );
    if expected != SyncMode::DeltaFullScan {
        assert!(
            delta_bytes < 40_000,
            "a delta of 10 new + 20 flags + 15 expunges cost {delta_bytes} B"
        );
    }
}

async fn delta_with_qresync_converges(server: &dyn TestServer) {
    delta_converges(server, SyncMode::DeltaQresync).await;
}

async fn delta_with_condstore_only_converges(server: &dyn TestServer) {
    delta_converges(server, SyncMode::DeltaCondstore).await;
}

async fn delta_without_condstore_or_qresync_converges(server: &dyn TestServer) {
    delta_converges(server, SyncMode::DeltaFullScan).await;
}

on_each_server!(delta_with_qresync_converges);
on_each_server_with!(
    condstore_only,
    Extensions {
        qresync: false,
        ..Extensions::default()
    },
    delta_with_condstore_only_converges
);
on_each_server_with!(
    neither_condstore_nor_qresync,
    Extensions {
        qresync: false,
        condstore: false,
        ..Extensions::default()
    },
    delta_without_condstore_or_qresync_converges
);

async fn an_unchanged_account_costs_at_most_400_bytes_per_folder(server: &dyn TestServer) {
    server.deliver_generated("alice", None, &mailbox(13, 300));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    let all = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    client.sync(server, tap.addr(), &all).await;
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
    let report = client.sync(server, tap.addr(), &all).await;
    let resync = tap.stats_since(&mark).total();
    assert!(
        report.folders.iter().all(|f| f.mode == SyncMode::Unchanged),
        "{report:?}"
    );
    let per_folder = resync.saturating_sub(setup) / folders;
    eprintln!(
        "{}: no-change resync: {resync} B in all, setup {setup} B, {per_folder} B per folder for {folders} folders",
        server.name()
    );
    assert!(per_folder <= 400, "{per_folder} B per unchanged folder");
}

async fn a_uidvalidity_change_replaces_the_cached_folder(server: &dyn TestServer) {
    server.imap_as("alice", &["CREATE Work"]);
    let first = server.deliver_generated("alice", Some("Work"), &mailbox(14, 40));
    let client = SyncClient::new().await;
    let work = SyncRequest {
        window: SyncWindow::everything(),
        folders: vec!["Work".into()],
        ..SyncRequest::default()
    };
    client.sync(server, server.imaps_addr(), &work).await;
    let folder = client.folder("Work").await;
    assert_store_matches(&client.all_messages(folder).await, &first);

    // Recreate the mailbox with other messages: a new UIDVALIDITY, and UIDs that collide.
    server.imap_as("alice", &["DELETE Work"]);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // UIDVALIDITY is a timestamp
    server.imap_as("alice", &["CREATE Work"]);
    let second = server.deliver_generated("alice", Some("Work"), &mailbox(15, 25));
    let report = client.sync(server, server.imaps_addr(), &work).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.folders[0].mode, SyncMode::Reset);
    let folder = client.folder("Work").await;
    assert_store_matches(&client.all_messages(folder).await, &second);
}

async fn the_default_window_syncs_the_newest_and_pages_back_when_asked(server: &dyn TestServer) {
    // Every generated message is older than 30 days, so the count rule (200) decides.
    let truth = server.deliver_generated("alice", None, &mailbox(16, 2000));
    let client = SyncClient::new().await;
    let inbox_only = SyncRequest {
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let report = client.sync(server, server.imaps_addr(), &inbox_only).await;
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
    let again = client.sync(server, server.imaps_addr(), &inbox_only).await;
    assert_eq!(again.added() + again.folders[0].backfilled, 0, "{again:?}");
    // ...and paging back asks for more: older messages, newest first, below what is stored.
    let older = SyncRequest {
        window: SyncWindow {
            min_messages: first as u32 + 500,
            ..SyncWindow::default()
        },
        ..inbox_only.clone()
    };
    let report = client.sync(server, server.imaps_addr(), &older).await;
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

async fn a_byte_budget_stops_at_a_committed_window_and_the_next_sync_continues(
    server: &dyn TestServer,
) {
    let truth = server.deliver_generated("alice", None, &mailbox(17, 2000));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    let budget = 100_000;
    let limited = SyncRequest {
        byte_budget: Some(budget),
        ..everything()
    };
    let before = tap.stats();
    let report = client.sync(server, tap.addr(), &limited).await;
    let spent = tap.stats().total() - before.total();
    assert_eq!(report.stopped, Some(anvert_core::sync::StopReason::Budget));
    let stored = report.added();
    assert!((50..2000).contains(&stored), "{report:?}");
    // Stops within one window: the largest window (1,000 headers) is well under 250 KB here.
    assert!(
        spent < budget + 250_000,
        "spent {spent} B for a {budget} B budget"
    );
    eprintln!(
        "{}: budget {budget} B: spent {spent} B, stored {stored} messages",
        server.name()
    );

    let report = client.sync(server, tap.addr(), &everything()).await;
    assert_eq!(stored + report.folders[0].backfilled, 2000, "{report:?}");
    let folder = client.folder("INBOX").await;
    assert_store_matches(&client.all_messages(folder).await, &truth);
}

async fn renamed_and_deleted_folders_follow_the_server(server: &dyn TestServer) {
    server.imap_as(
        "alice",
        &[
            "CREATE Projects",
            "SUBSCRIBE Projects",
            "CREATE Old",
            "SUBSCRIBE Old",
        ],
    );
    server.deliver_generated("alice", Some("Projects"), &mailbox(18, 5));
    let client = SyncClient::new().await;
    let all = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    client.sync(server, server.imaps_addr(), &all).await;
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

    server.imap_as(
        "alice",
        &[
            "RENAME Projects Projects-2024",
            "SUBSCRIBE Projects-2024",
            "UNSUBSCRIBE Old",
            "DELETE Old",
        ],
    );
    let report = client.sync(server, server.imaps_addr(), &all).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let after = names(&client).await;
    assert!(
        !after.contains_key("Projects") && !after.contains_key("Old"),
        "{after:?}"
    );
    assert_eq!(after.get("Projects-2024"), Some(&5), "{after:?}");
}

on_each_server!(
    initial_sync_stores_the_ground_truth,
    an_unchanged_account_costs_at_most_400_bytes_per_folder,
    a_uidvalidity_change_replaces_the_cached_folder,
    the_default_window_syncs_the_newest_and_pages_back_when_asked,
    a_byte_budget_stops_at_a_committed_window_and_the_next_sync_continues,
    renamed_and_deleted_folders_follow_the_server,
);
