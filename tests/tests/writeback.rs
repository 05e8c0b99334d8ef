//! Two-way sync, flags: local changes apply at once and are queued durably; the next sync
//! writes them back coalesced (one `UID STORE` per flag, compact UID sets), guarded by
//! CONDSTORE's `UNCHANGEDSINCE`. On Dovecot and Cyrus (`on_each_server!`). The server's view
//! is read independently of the engine (doveadm, Cyrus' harness socket), another client's
//! changes are raw IMAP (`imap_as`), and wire bytes are measured through the tap and the
//! engine's meter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    imap::{self, ConnectOptions},
    net::{Purpose, Security, WireMeter},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Flags, FolderId, MessageId, SystemFlags},
    sync::{self, DropReason, EventSink, StopReason, SyncEvent},
};
use anvert_tests::{
    client::endpoint,
    generator::{GenConfig, SizeMix},
    on_each_server, on_each_server_with,
    server::{Extensions, TestServer},
    tap::Tap,
};

#[derive(Default)]
struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    fn take(&self) -> Vec<SyncEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Setup<'a> {
    server: &'a dyn TestServer,
    tap: Tap,
    dir: tempfile::TempDir,
    engine: Engine,
    account: AccountId,
    inbox: FolderId,
    events: Arc<Recorder>,
}

fn metered() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

fn offline() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Offline,
        ..SyncRequest::default()
    }
}

fn seen() -> Flags {
    Flags {
        system: SystemFlags::SEEN,
        keywords: Vec::new(),
    }
}

fn flagged() -> Flags {
    Flags {
        system: SystemFlags::FLAGGED,
        keywords: Vec::new(),
    }
}

async fn open_engine(server: &dyn TestServer, dir: &std::path::Path) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

/// A server with `count` unread, unflagged messages in INBOX, synced once through a tap.
async fn setup(server: &dyn TestServer, seed: u64, count: usize) -> Setup<'_> {
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed,
            count,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            "UID STORE 1:* -FLAGS.SILENT (\\Seen \\Flagged)",
        ],
    );
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(server, dir.path()).await;
    let events = Arc::new(Recorder::default());
    engine.set_listener(Some(events.clone()));
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(tap.addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(account, &metered()).await.unwrap();
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap()
        .id;
    events.take();
    Setup {
        server,
        tap,
        dir,
        engine,
        account,
        inbox,
        events,
    }
}

/// The `n` newest messages of INBOX: (id, uid).
async fn newest(s: &Setup<'_>, n: u32) -> Vec<(MessageId, u32)> {
    let page = s.engine.messages(s.inbox, None, n).await.unwrap();
    page.items.iter().map(|m| (m.id, m.uid)).collect()
}

async fn stored_flags(s: &Setup<'_>, id: MessageId) -> SystemFlags {
    s.engine
        .message(id)
        .await
        .unwrap()
        .unwrap()
        .summary
        .flags
        .system
}

async fn offline_read_marks_replay_in_one_store(server: &dyn TestServer) {
    let s = setup(server, 61, 150).await;
    let marked = newest(&s, 100).await;
    let ids: Vec<MessageId> = marked.iter().map(|(id, _)| *id).collect();

    // Offline: applied locally at once, the UI is told, nothing is sent.
    s.engine
        .set_flags(&ids, seen(), Flags::default())
        .await
        .unwrap();
    let local_events = s.events.take();
    assert!(
        matches!(&local_events[..], [SyncEvent::MessagesChanged { uids, .. }] if uids.len() == 100),
        "{local_events:?}"
    );
    assert!(stored_flags(&s, ids[0]).await.contains(SystemFlags::SEEN));
    let before = s.tap.mark();
    let off = s.engine.sync(s.account, &offline()).await.unwrap();
    assert_eq!(off.stopped, Some(StopReason::Offline));
    assert_eq!(
        s.tap.stats_since(&before).total(),
        0,
        "offline sends nothing"
    );
    assert_eq!(
        s.engine.pending_operations(s.account).await.unwrap().len(),
        100
    );

    // Online: the queue replays and the server matches, read without the engine.
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    let (up, down) = (
        report.bytes.written_for(Purpose::WriteBack),
        report.bytes.read_for(Purpose::WriteBack),
    );
    println!(
        "write-back of 100 read marks: {up} bytes up, {down} bytes down (sync total {})",
        report.bytes.total()
    );
    assert!(up > 0, "the write-back was metered");
    // One SELECT and one UID STORE line (compressed, in TLS records); 100 STOREs would be
    // several KB up.
    assert!(up < 600, "{up} bytes up: more than a handful of commands");
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    let server = s.server.server_flags("alice", "INBOX");
    for (uid, flags) in &server {
        let marked_here = marked.iter().any(|(_, u)| u == uid);
        assert_eq!(flags.contains(SystemFlags::SEEN), marked_here, "uid {uid}");
    }

    // Counted exactly over a bare write-back: 100 unread marks are one UID STORE, and
    // read-then-unread sends nothing at all.
    s.engine
        .set_flags(&ids, Flags::default(), seen())
        .await
        .unwrap();
    s.engine
        .set_flags(&ids[..10], flagged(), Flags::default())
        .await
        .unwrap();
    s.engine
        .set_flags(&ids[..10], Flags::default(), flagged())
        .await
        .unwrap();
    let meter = WireMeter::new();
    let mut session = imap::connect(
        &endpoint(s.tap.addr(), Security::ImplicitTls),
        &s.server.credential("alice"),
        &s.server.tls(),
        &meter,
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    let mark = s.tap.mark();
    let wb = sync::write_back(
        &mut session,
        s.engine.store(),
        s.account,
        i64::MAX / 2,
        &sync::NoEvents,
    )
    .await
    .unwrap();
    let phase = s.tap.stats_since(&mark);
    println!("bare write-back of 100 unread marks: {wb:?}, tap {phase:?}");
    assert_eq!((wb.stores, wb.fetches, wb.settled), (1, 0, 100));
    assert!(phase.round_trips <= 3, "{phase:?}"); // ENABLE+SELECT, UID STORE
    session.logout().await.unwrap();
    assert!(
        s.server
            .server_flags("alice", "INBOX")
            .values()
            .all(|f| !f.contains(SystemFlags::SEEN) && !f.contains(SystemFlags::FLAGGED))
    );
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );

    // Read then unread, offline: nothing is queued, nothing is sent.
    s.engine
        .set_flags(&ids[..5], seen(), Flags::default())
        .await
        .unwrap();
    s.engine
        .set_flags(&ids[..5], Flags::default(), seen())
        .await
        .unwrap();
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(report.bytes.total_for(Purpose::WriteBack), 0);
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    drop(s.dir);
}

async fn both_sides_setting_the_same_flag_is_no_conflict(server: &dyn TestServer) {
    let s = setup(server, 62, 40).await;
    let (id, uid) = newest(&s, 1).await[0];
    // We flag and read it offline; meanwhile another client flags it too.
    let both = Flags {
        system: SystemFlags::SEEN | SystemFlags::FLAGGED,
        keywords: Vec::new(),
    };
    s.engine
        .set_flags(&[id], both, Flags::default())
        .await
        .unwrap();
    s.server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            &format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)"),
        ],
    );
    s.events.take();

    s.engine.sync(s.account, &metered()).await.unwrap();
    let events = s.events.take();
    // The STORE was refused for this message (MODIFIED, UNCHANGEDSINCE): both sides set
    // \Flagged, so they agree and no conflict is reported; our \Seen, which the other client
    // did not touch, went out again.
    assert!(
        !events.iter().any(|e| matches!(
            e,
            SyncEvent::ChangeDropped {
                reason: DropReason::Conflict,
                ..
            }
        )),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SyncEvent::MessagesChanged { uids, .. } if uids.contains(&uid)))
    );
    let server = s.server.server_flags("alice", "INBOX");
    assert_eq!(server[&uid], SystemFlags::SEEN | SystemFlags::FLAGGED);
    assert_eq!(
        stored_flags(&s, id).await,
        SystemFlags::SEEN | SystemFlags::FLAGGED
    );
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_change_to_a_message_expunged_elsewhere_is_dropped(server: &dyn TestServer) {
    let s = setup(server, 63, 40).await;
    let two = newest(&s, 2).await;
    let ids: Vec<MessageId> = two.iter().map(|(id, _)| *id).collect();
    s.engine
        .set_flags(&ids, flagged(), Flags::default())
        .await
        .unwrap();
    let gone = two[0].1;
    s.server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            &format!("UID STORE {gone} +FLAGS.SILENT (\\Deleted)"),
            &format!("UID EXPUNGE {gone}"),
        ],
    );
    s.events.take();

    s.engine.sync(s.account, &metered()).await.unwrap();
    let events = s.events.take();
    assert!(
        events.iter().any(|e| matches!(e, SyncEvent::ChangeDropped { uids, reason: DropReason::Expunged, .. } if uids == &[gone])),
        "{events:?}"
    );
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    let server = s.server.server_flags("alice", "INBOX");
    assert!(!server.contains_key(&gone));
    assert_eq!(server[&two[1].1], SystemFlags::FLAGGED);
    assert!(
        s.engine.message(ids[0]).await.unwrap().is_none(),
        "the folder sync removed it"
    );
}

async fn the_queue_survives_a_crash_and_replays_once(server: &dyn TestServer) {
    let s = setup(server, 64, 60).await;
    let marked = newest(&s, 20).await;
    let ids: Vec<MessageId> = marked.iter().map(|(id, _)| *id).collect();
    s.engine
        .set_flags(&ids, flagged(), Flags::default())
        .await
        .unwrap();
    let Setup {
        server,
        tap,
        dir,
        engine,
        account,
        ..
    } = s;
    drop(engine); // between the local apply and the replay

    let engine = open_engine(server, dir.path()).await;
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    assert_eq!(engine.pending_operations(account).await.unwrap().len(), 20);
    let first = engine.sync(account, &metered()).await.unwrap();
    assert!(first.bytes.total_for(Purpose::WriteBack) > 0);
    assert!(engine.pending_operations(account).await.unwrap().is_empty());
    let again = engine.sync(account, &metered()).await.unwrap();
    assert_eq!(
        again.bytes.total_for(Purpose::WriteBack),
        0,
        "replayed exactly once"
    );
    let flags = server.server_flags("alice", "INBOX");
    for (uid, f) in &flags {
        assert_eq!(
            f.contains(SystemFlags::FLAGGED),
            marked.iter().any(|(_, u)| u == uid),
            "uid {uid}"
        );
    }
    let stored = engine.message(ids[0]).await.unwrap().unwrap();
    assert!(stored.summary.flags.system.contains(SystemFlags::FLAGGED));
    drop(tap);
}

async fn without_condstore_changes_still_converge(server: &dyn TestServer) {
    let s = setup(server, 65, 50).await;
    let marked = newest(&s, 10).await;
    let ids: Vec<MessageId> = marked.iter().map(|(id, _)| *id).collect();
    s.engine
        .set_flags(&ids, seen(), Flags::default())
        .await
        .unwrap();
    let gone = marked[0].1;
    s.server.imap_as(
        "alice",
        &[
            "SELECT INBOX",
            &format!("UID STORE {gone} +FLAGS.SILENT (\\Deleted)"),
            &format!("UID EXPUNGE {gone}"),
        ],
    );
    s.events.take();
    s.engine.sync(s.account, &metered()).await.unwrap();
    let events = s.events.take();
    assert!(
        events.iter().any(|e| matches!(e, SyncEvent::ChangeDropped { uids, reason: DropReason::Expunged, .. } if uids == &[gone])),
        "{events:?}"
    );
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    let server = s.server.server_flags("alice", "INBOX");
    for (uid, f) in &server {
        assert_eq!(
            f.contains(SystemFlags::SEEN),
            marked.iter().any(|(_, u)| u == uid),
            "uid {uid}"
        );
    }
}

on_each_server!(
    offline_read_marks_replay_in_one_store,
    both_sides_setting_the_same_flag_is_no_conflict,
    a_change_to_a_message_expunged_elsewhere_is_dropped,
    the_queue_survives_a_crash_and_replays_once,
);
on_each_server_with!(
    without_condstore,
    Extensions {
        condstore: false,
        qresync: false,
        ..Extensions::default()
    },
    without_condstore_changes_still_converge
);
