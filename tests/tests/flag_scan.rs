//! Flag scans without CONDSTORE (issue 13, 6c): a server without CONDSTORE sends every
//! message's flags on every sync, and only the messages whose flags really differ from the
//! stored ones may be counted in the report and sent to the listener. The flag changes are
//! made on the server as another client would (`imap_as`), independently of the engine, on
//! Dovecot and Cyrus with CONDSTORE and QRESYNC taken away (`on_each_server_with!`). And what the scan costs
//! (issue 14): no STATUS, the scan in the SELECT's flight, so an unchanged resync of a
//! 4-folder account takes at most 2 round trips per folder plus login and LIST (through
//! the tap).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::Security,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, FolderId, SystemFlags},
    sync::{EventSink, SyncEvent, SyncMode, SyncReport},
};
use anvert_tests::{
    client::{SyncClient, endpoint},
    generator::{GenConfig, SizeMix},
    on_each_server_with,
    server::{Extensions, TestServer},
    tap::Tap,
};

const MESSAGES: usize = 60;

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    /// The UIDs of INBOX that `MessagesChanged` events named since the last call.
    fn changed_in(&self, inbox: FolderId) -> Vec<u32> {
        let events = std::mem::take(&mut *self.0.lock().unwrap());
        let mut uids = Vec::new();
        for e in events {
            if let SyncEvent::MessagesChanged { folder, uids: u } = e
                && folder == inbox
            {
                uids.extend(u);
            }
        }
        uids
    }
}

fn request() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

/// INBOX's row of a report: (mode, changed).
fn inbox_row(report: &SyncReport) -> (SyncMode, u64) {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let f = report
        .folders
        .iter()
        .find(|f| f.name == "INBOX")
        .unwrap_or_else(|| panic!("no INBOX in {report:?}"));
    (f.mode, f.changed)
}

async fn sync(engine: &Engine, account: AccountId) -> SyncReport {
    engine.sync(account, &request()).await.unwrap()
}

async fn a_full_flag_scan_reports_only_real_changes(server: &dyn TestServer) {
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 613,
            count: MESSAGES,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let events = Arc::new(Recorder::default());
    engine.set_listener(Some(events.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    assert_eq!(
        inbox_row(&sync(&engine, account).await).0,
        SyncMode::Initial
    );
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap()
        .id;
    events.changed_in(inbox);

    // Nothing changed on the server: the scan lists every message, none is reported.
    let (mode, changed) = inbox_row(&sync(&engine, account).await);
    assert_eq!(mode, SyncMode::DeltaFullScan);
    assert_eq!(changed, 0);
    assert_eq!(events.changed_in(inbox), Vec::<u32>::new());

    // Ten real changes on the server: \Flagged set on four messages, \Seen toggled on four,
    // a keyword added to two.
    let before = server.server_flags("alice", "INBOX");
    let uids: Vec<u32> = before.keys().copied().collect();
    assert_eq!(uids.len(), MESSAGES);
    let pick = |range: std::ops::Range<usize>| -> Vec<u32> { range.map(|i| uids[i * 5]).collect() };
    let set = |uids: &[u32]| {
        uids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let flagged = pick(0..4);
    let toggled = pick(4..8);
    let tagged = pick(8..10);
    for uid in &flagged {
        assert!(!before[uid].contains(SystemFlags::FLAGGED), "uid {uid}");
    }
    let mut commands = vec![
        "SELECT INBOX".to_string(),
        format!("UID STORE {} +FLAGS.SILENT (\\Flagged)", set(&flagged)),
        format!("UID STORE {} +FLAGS.SILENT ($Scanned)", set(&tagged)),
    ];
    for uid in &toggled {
        let action = if before[uid].contains(SystemFlags::SEEN) {
            "-"
        } else {
            "+"
        };
        commands.push(format!("UID STORE {uid} {action}FLAGS.SILENT (\\Seen)"));
    }
    server.imap_as(
        "alice",
        &commands.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let expected: BTreeSet<u32> = flagged
        .iter()
        .chain(&toggled)
        .chain(&tagged)
        .copied()
        .collect();
    assert_eq!(expected.len(), 10);

    let (mode, changed) = inbox_row(&sync(&engine, account).await);
    assert_eq!(mode, SyncMode::DeltaFullScan);
    assert_eq!(changed, 10);
    let reported = events.changed_in(inbox);
    assert_eq!(reported.len(), 10, "{reported:?}");
    assert_eq!(reported.into_iter().collect::<BTreeSet<_>>(), expected);

    // The store now holds the server's flags, keyword included.
    let after = server.server_flags("alice", "INBOX");
    let page = engine.messages(inbox, None, 500).await.unwrap();
    assert_eq!(page.items.len(), MESSAGES);
    for m in &page.items {
        assert_eq!(m.flags.system, after[&m.uid], "uid {}", m.uid);
        assert_eq!(
            m.flags.keywords.iter().any(|k| k == "$Scanned"),
            tagged.contains(&m.uid),
            "uid {}",
            m.uid
        );
    }

    // And the next scan is quiet again.
    let (_, changed) = inbox_row(&sync(&engine, account).await);
    assert_eq!(changed, 0);
    assert_eq!(events.changed_in(inbox), Vec::<u32>::new());
}

async fn an_unchanged_resync_without_condstore_costs_two_round_trips_per_folder_at_most(
    server: &dyn TestServer,
) {
    let folders = ["INBOX", "Sent", "Drafts", "Archive"];
    for (i, folder) in folders.iter().enumerate() {
        server.deliver_generated(
            "alice",
            (i > 0).then_some(*folder),
            &GenConfig {
                seed: 700 + i as u64,
                count: 20,
                mix: SizeMix::small(),
                ..GenConfig::default()
            },
        );
    }
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let client = SyncClient::new().await;
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: folders.iter().map(|f| f.to_string()).collect(),
        ..SyncRequest::default()
    };
    let first = client.sync(server, tap.addr(), &request).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.folders.len(), 4);

    // Setup alone (TLS handshake, greeting, LOGIN, compression, LOGOUT), to subtract.
    let mark = tap.mark();
    {
        let meter = anvert_core::net::WireMeter::new();
        let session = anvert_core::imap::connect(
            &endpoint(tap.addr(), Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            &Default::default(),
        )
        .await
        .unwrap();
        session.logout().await.unwrap();
    }
    let setup = tap.stats_since(&mark);

    let mark = tap.mark();
    let report = client.sync(server, tap.addr(), &request).await;
    let resync = tap.stats_since(&mark);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.folders.len(), 4);
    for f in &report.folders {
        assert_eq!(
            (f.mode, f.added, f.changed, f.removed),
            (SyncMode::DeltaFullScan, 0, 0, 0),
            "{f:?}"
        );
    }
    let round_trips = resync.round_trips - setup.round_trips;
    eprintln!(
        "{}: unchanged resync without CONDSTORE, 4 folders: {round_trips} round trips after login \
         ({resync:?}, setup {setup:?})",
        server.name()
    );
    // LIST, then per folder at most 2 (here: SELECT and the flag scan in one flight).
    assert!(
        round_trips <= 1 + 2 * 4,
        "{round_trips} round trips for an unchanged resync of 4 folders"
    );
    assert!(
        round_trips <= 1 + 4,
        "the flag scan no longer rides with the SELECT: {round_trips} round trips"
    );
}

on_each_server_with!(
    without_condstore,
    Extensions {
        condstore: false,
        qresync: false,
        ..Extensions::default()
    },
    a_full_flag_scan_reports_only_real_changes
);
on_each_server_with!(
    unchanged_without_condstore,
    Extensions {
        condstore: false,
        qresync: false,
        ..Extensions::default()
    },
    an_unchanged_resync_without_condstore_costs_two_round_trips_per_folder_at_most
);
