//! The engine API end to end against a real Dovecot: accounts, sync with events in commit
//! order, queries served from the store, the byte ledger by network kind and purpose, the
//! offline rule, and a restart that needs the credential handed over again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    Error,
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    sync::{EventSink, StopReason, SyncEvent},
};
use anvert_tests::{
    client::endpoint,
    dovecot::Dovecot,
    generator::{GenConfig, SizeMix},
};

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

async fn open_engine(server: &Dovecot, dir: &std::path::Path) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_events_queries_ledger_and_restart() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 31,
            count: 300,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&server, dir.path()).await;
    let recorder = Arc::new(Recorder::default());
    engine.set_listener(Some(recorder.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();

    // Offline: nothing is sent, queries still work.
    let offline = engine
        .sync(
            account,
            &SyncRequest {
                network: NetworkKind::Offline,
                ..SyncRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(offline.stopped, Some(StopReason::Offline));
    assert!(engine.usage(account).await.unwrap().is_empty());

    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let report = engine.sync(account, &request).await.unwrap();
    assert_eq!(report.added(), 300);

    // Events: the folder list first, then windows of INBOX newest first, each followed by progress.
    let events = recorder.0.lock().unwrap().clone();
    assert!(
        matches!(events.first(), Some(SyncEvent::FoldersChanged { .. })),
        "{:?}",
        events.first()
    );
    let added: Vec<&Vec<u32>> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::MessagesAdded { uids, .. } => Some(uids),
            _ => None,
        })
        .collect();
    assert_eq!(added.iter().map(|u| u.len()).sum::<usize>(), 300);
    assert_eq!(added[0].len(), 50, "the first window is the first screen");
    assert!(
        added[0].iter().min() > added[1].iter().max(),
        "newest first"
    );
    let progress: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Progress { synced, .. } => Some(*synced),
            _ => None,
        })
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] < w[1]) && progress.last() == Some(&300),
        "{progress:?}"
    );

    // The sync's windows waited for the search index, and the engine's pass after the sync
    // indexed them all: nothing is left for a search to do first.
    assert_eq!(engine.store().index_pending().await.unwrap(), 0);

    // Queries from the store.
    let folders = engine.folders(account).await.unwrap();
    let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap();
    assert_eq!(inbox.total, 300);
    let page = engine.messages(inbox.id, None, 50).await.unwrap();
    assert_eq!(page.items.len(), 50);
    let detail = engine.message(page.items[0].id).await.unwrap().unwrap();
    assert!(!detail.parts.is_empty());
    let word = detail
        .summary
        .subject
        .split_whitespace()
        .find(|w| w.len() > 4 && w.chars().all(char::is_alphanumeric));
    if let Some(word) = word {
        assert!(
            !engine.search(account, word, 20).await.unwrap().is_empty(),
            "search finds {word:?}"
        );
    }

    // The ledger: metered bytes, by purpose, matching what the report says was spent.
    let usage = engine.usage(account).await.unwrap();
    assert!(
        usage.iter().all(|u| u.network_kind == "metered"),
        "{usage:?}"
    );
    let total: u64 = usage.iter().map(|u| u.bytes_up + u.bytes_down).sum();
    assert_eq!(total, report.bytes.total());
    assert!(
        usage.iter().any(|u| u.purpose == "connect")
            && usage.iter().any(|u| u.purpose == "sync_metadata"),
        "{usage:?}"
    );
    assert!(
        usage
            .iter()
            .all(|u| u.purpose != "bodies" && u.purpose != "attachments"),
        "headers only: {usage:?}"
    );

    // A restart: the store remembers the account, the credential must be handed over again.
    drop(engine);
    let engine = open_engine(&server, dir.path()).await;
    let err = engine.sync(account, &request).await.unwrap_err();
    assert!(matches!(err, Error::NoCredential), "{err:?}");
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    let again = engine.sync(account, &request).await.unwrap();
    assert_eq!(
        again.added() + again.changed() + again.removed(),
        0,
        "{again:?}"
    );
    assert_eq!(
        engine
            .folders(account)
            .await
            .unwrap()
            .iter()
            .find(|f| f.name == "INBOX")
            .unwrap()
            .total,
        300
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_idles_and_wakes_a_delta_sync_on_new_mail() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 32,
            count: 30,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open_engine(&server, dir.path()).await);
    let recorder = Arc::new(Recorder::default());
    engine.set_listener(Some(recorder.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let cancel = anvert_core::engine::CancellationToken::new();
    let request = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    // IDLE is re-issued every 300 ms here, so the test also covers re-issuing.
    let push = tokio::spawn({
        let (engine, cancel, request) = (engine.clone(), cancel.clone(), request.clone());
        async move {
            engine
                .push(
                    account,
                    "INBOX",
                    &request,
                    std::time::Duration::from_millis(300),
                    cancel,
                )
                .await
        }
    });
    let added = |r: &Recorder| -> usize {
        r.0.lock()
            .unwrap()
            .iter()
            .map(|e| match e {
                SyncEvent::MessagesAdded { uids, .. } => uids.len(),
                _ => 0,
            })
            .sum()
    };
    let wait_for = |n: usize| {
        let recorder = recorder.clone();
        async move {
            for _ in 0..200 {
                if added(&recorder) >= n {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(wait_for(30).await, "the initial sync of INBOX");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await; // a few IDLE re-issues
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 33,
            count: 3,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    assert!(
        wait_for(33).await,
        "IDLE woke a delta sync for the new mail: {:?}",
        recorder.0.lock().unwrap().last()
    );
    cancel.cancel();
    push.await.unwrap().unwrap();
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    assert_eq!(inbox.total, 33);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_setup_finds_imap_first_and_falls_back_to_pop3() {
    use anvert_core::engine::AutoPorts;
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 34,
            count: 5,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&server, dir.path()).await;
    // Below the ephemeral range, so no other test's `bind(…:0)` can take it meanwhile.
    let closed = || anvert_tests::ports::free_ports(1)[0];

    // Every service present: IMAP over implicit TLS wins.
    let ports = AutoPorts {
        imaps: server.ports.imaps,
        imap: server.ports.imap,
        pop3s: server.ports.pop3s,
        pop3: server.ports.pop3,
        // No submission service on this Dovecot.
        submissions: closed(),
        submission: closed(),
    };
    let imap = engine
        .add_account_auto("auto", "127.0.0.1", ports, server.credential("alice"))
        .await
        .unwrap();
    // No IMAP answering: POP3 is found, recorded, and syncs.
    let no_imap = AutoPorts {
        imaps: closed(),
        imap: closed(),
        ..ports
    };
    let pop = engine
        .add_account_auto("auto-pop", "127.0.0.1", no_imap, server.credential("alice"))
        .await
        .unwrap();
    let accounts = engine.accounts().await.unwrap();
    let kind = |id| {
        accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| (a.kind, a.port, a.security.clone()))
            .unwrap()
    };
    assert_eq!(
        kind(imap),
        (
            anvert_core::store::AccountKind::Imap,
            server.ports.imaps,
            "tls".to_string()
        )
    );
    assert_eq!(
        kind(pop),
        (
            anvert_core::store::AccountKind::Pop3,
            server.ports.pop3s,
            "tls".to_string()
        )
    );
    let request = SyncRequest {
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    assert_eq!(engine.sync(pop, &request).await.unwrap().added(), 5);

    // A wrong password stops the probe at the first service: no account is stored.
    let before = engine.accounts().await.unwrap().len();
    let bad = anvert_core::net::Credential::password("alice", "wrong");
    let err = engine
        .add_account_auto("bad", "127.0.0.1", ports, bad)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AuthRejected { .. }), "{err:?}");
    assert_eq!(engine.accounts().await.unwrap().len(), before);
}

/// A sync whose deadline has passed stops at its first clean point (before any folder, as the
/// deadline is checked where the byte budget is, which `imap_sync` tests mid-folder), says
/// why, and the next call does the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_stops_at_a_clean_point_and_the_next_sync_continues() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 32,
            count: 400,
            mix: SizeMix::none(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&server, dir.path()).await;
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let everything = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let rushed = engine
        .sync(
            account,
            &SyncRequest {
                deadline: Some(std::time::Instant::now()),
                ..everything.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(rushed.stopped, Some(StopReason::Deadline));
    assert_eq!(rushed.added(), 0);
    assert!(
        rushed.bytes.total() < 4_000,
        "no folder work after the deadline: {} bytes",
        rushed.bytes.total()
    );

    let rest = engine.sync(account, &everything).await.unwrap();
    assert_eq!(rest.stopped, None);
    assert_eq!(rest.added(), 400);
}

/// Push on a folder other than INBOX, already synced and unchanged (so the account sync before
/// the IDLE selects nothing, or another folder): IDLE must still watch that folder, and a
/// message appended there by another session wakes it. IDLE is re-issued only after 60 s here,
/// so the wake comes from the server's notification, not from a re-issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_on_an_unchanged_folder_idles_on_that_folder() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 33,
            count: 5,
            mix: SizeMix::none(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open_engine(&server, dir.path()).await);
    let recorder = Arc::new(Recorder::default());
    engine.set_listener(Some(recorder.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(account, &SyncRequest::default()).await.unwrap();
    let drafts = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "Drafts")
        .unwrap();
    let cancel = anvert_core::engine::CancellationToken::new();
    let push = tokio::spawn({
        let (engine, cancel) = (engine.clone(), cancel.clone());
        async move {
            engine
                .push(
                    account,
                    "Drafts",
                    &SyncRequest::default(),
                    std::time::Duration::from_secs(60),
                    cancel,
                )
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut other = anvert_tests::client::raw_session(
        &server.tls(),
        server.imaps_addr(),
        "alice",
        server.password("alice"),
        false,
    )
    .await;
    other
        .append(
            "Drafts",
            None,
            None,
            b"Subject: appended elsewhere\r\nMessage-ID: <pushed@example.test>\r\n\r\nhi\r\n",
        )
        .await
        .unwrap();
    other.logout().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let heard =
        || {
            recorder.0.lock().unwrap().iter().any(
                |e| matches!(e, SyncEvent::MessagesAdded { folder, .. } if *folder == drafts.id),
            )
        };
    while !heard() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cancel.cancel();
    push.await.unwrap().unwrap();
    assert!(heard(), "no MessagesAdded for Drafts");
}
