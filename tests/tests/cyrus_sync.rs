//! Cyrus IMAP as the second real server, and the harness that runs one test on both (the
//! sync, delta, content and write-back tests use it: `imap_sync.rs`, `imap_bytes.rs`, ...).
//! Taking an extension away works the same on both servers, and `imap_as` changes a mailbox
//! as another client would. The Cyrus harness proves itself too: verified TLS (implicit and STARTTLS, IMAP and POP3), a
//! log that records a refused login, and a drop that stops every Cyrus process and removes
//! its files, also when the test panics.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    Error,
    imap::{self, ConnectOptions, SpecialUse},
    net::{Security, WireMeter},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    pop3::{self, Pop3Options},
    store::SystemFlags,
    sync::SyncMode,
};
use anvert_tests::{
    client::{SyncClient, endpoint},
    cyrus::Cyrus,
    generator::{GenConfig, SizeMix},
    on_each_server_with,
    server::{Extensions, TestServer},
};

fn mailbox(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix::small(),
        ..GenConfig::default()
    }
}

fn headers_first() -> SyncRequest {
    SyncRequest {
        // Metered: headers (and snippets) only.
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

/// The harness takes extensions away on both servers the same way, and `imap_as` changes a
/// mailbox as another client would: the engine's next sync sees it.
async fn extensions_taken_away_are_not_advertised_and_imap_as_changes_the_mailbox(
    server: &dyn TestServer,
) {
    let session = anvert_tests::client::imap_login(server, "alice").await;
    for name in [
        "CONDSTORE",
        "QRESYNC",
        "COMPRESS=DEFLATE",
        "PREVIEW",
        "MOVE",
        "UIDPLUS",
        "SPECIAL-USE",
    ] {
        assert!(
            !session.capabilities().has(name),
            "{}: {name} is still advertised",
            server.name()
        );
    }
    session.logout().await.unwrap();
    let listed = server.imap_as("alice", &["LIST \"\" \"*\""]);
    assert!(
        listed.iter().any(|l| l.contains("Sent"))
            && !listed
                .iter()
                .any(|l| l.contains("\\Sent") || l.contains("\\Trash")),
        "{}: {listed:?}",
        server.name()
    );

    server.deliver_generated("alice", None, &mailbox(22, 20));
    let client = SyncClient::new().await;
    client
        .sync(server, server.imaps_addr(), &headers_first())
        .await;
    let untagged = server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            "UID STORE 1:5 +FLAGS.SILENT (\\Flagged)",
            "UID FETCH 1:5 (FLAGS)",
        ],
    );
    let flagged: std::collections::BTreeSet<&str> = untagged
        .iter()
        .filter(|l| l.contains(" FETCH (") && l.contains("\\Flagged"))
        .filter_map(|l| l.split("UID ").nth(1)?.split([' ', ')']).next())
        .collect();
    assert_eq!(
        flagged,
        ["1", "2", "3", "4", "5"].into_iter().collect(),
        "{untagged:?}"
    );
    let report = client
        .sync(server, server.imaps_addr(), &headers_first())
        .await;
    assert_eq!(
        report.folders[0].mode,
        SyncMode::DeltaFullScan,
        "{report:?}"
    );
    assert_eq!(
        stored_flags(&client, "INBOX").await,
        server.server_flags("alice", "INBOX")
    );
}

on_each_server_with!(
    without_any_optional_extension,
    Extensions {
        condstore: false,
        qresync: false,
        compress: false,
        preview: false,
        move_command: false,
        uidplus: false,
        special_use: false,
    },
    extensions_taken_away_are_not_advertised_and_imap_as_changes_the_mailbox
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyrus_serves_imap_and_pop3_over_verified_tls() {
    let server = Cyrus::start();
    let truth = server.deliver_generated("alice", None, &mailbox(24, 25));
    for (addr, security) in [
        (server.imaps_addr(), Security::ImplicitTls),
        (server.imap_addr(), Security::StartTls),
    ] {
        let mut session = imap::connect(
            &endpoint(addr, security),
            &server.credential("alice"),
            &server.tls(),
            &WireMeter::new(),
            &ConnectOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{security:?}: {e}\n{}", server.log()));
        for cap in ["QRESYNC", "OBJECTID", "BINARY", "PREVIEW", "MOVE"] {
            assert!(session.capabilities().has(cap), "{security:?}: {cap}");
        }
        assert!(session.is_compressed(), "COMPRESS=DEFLATE is negotiated");
        let folders = session.list_folders(true).await.unwrap();
        let roles: Vec<_> = folders.iter().filter_map(|f| f.special_use).collect();
        for role in [
            SpecialUse::Inbox,
            SpecialUse::Sent,
            SpecialUse::Drafts,
            SpecialUse::Trash,
            SpecialUse::Junk,
            SpecialUse::Archive,
        ] {
            assert!(roles.contains(&role), "{role:?} missing from {folders:?}");
        }
        let inbox = session.select("INBOX", None).await.unwrap();
        assert_eq!(inbox.exists as usize, truth.len());
        assert_eq!(inbox.uid_next, Some(truth.len() as u32 + 1));
        session.logout().await.unwrap();
    }

    let total: u64 = truth.iter().map(|t| t.size as u64).sum();
    for (addr, security) in [
        (server.pop3s_addr(), Security::ImplicitTls),
        (server.pop3_addr(), Security::StartTls),
    ] {
        let mut session = pop3::connect(
            &endpoint(addr, security),
            &server.credential("alice"),
            &server.tls(),
            &WireMeter::new(),
            &Pop3Options::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("POP3 {security:?}: {e}\n{}", server.log()));
        assert!(session.is_tls());
        assert_eq!(session.stat().await.unwrap(), (truth.len() as u32, total));
        session.quit().await.unwrap();
    }

    // A wrong password is refused, and the refusal is in the server's log.
    let err = imap::connect(
        &endpoint(server.imaps_addr(), Security::ImplicitTls),
        &anvert_core::net::Credential::password("alice", "not-the-password"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::AuthRejected { .. }), "{err:?}");
    let log = server.log();
    assert!(
        log.contains("badlogin") && log.contains("alice"),
        "the log records the refused login:\n{log}"
    );
}

/// Every process whose command line names `root` (the master and each service get their
/// config path as an argument).
fn processes_under(root: &std::path::Path) -> Vec<String> {
    let needle = root.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let cmdline = std::fs::read(e.ok()?.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(&needle).then_some(cmdline)
        })
        .collect()
}

#[test]
fn dropping_cyrus_stops_it_and_removes_its_files_even_on_panic() {
    let started = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let server = Cyrus::start();
        // A session is open when the test fails, as in a real failing test.
        let session = std::net::TcpStream::connect(server.imaps_addr()).unwrap();
        // The master forks the service for the session on its own time: wait for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut running = processes_under(server.root());
        while running.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            running = processes_under(server.root());
        }
        *started.lock().unwrap() = Some((
            server.root().to_path_buf(),
            server.imaps_addr(),
            running,
            session,
        ));
        panic!("a failing test");
    });
    assert!(outcome.is_err());
    let (root, addr, running, _session) = started.into_inner().unwrap().unwrap();
    assert!(
        running.len() >= 2,
        "the master and its services were running: {running:?}"
    );
    assert!(!root.exists(), "{} is removed", root.display());
    assert!(
        processes_under(&root).is_empty(),
        "every Cyrus process stopped"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens on {addr} any more"
    );
}
