//! Two-way sync, mailbox operations (issue 6): moves, deletions, emptying the trash and drafts
//! apply locally at once and are queued; the next sync writes them back (UID MOVE, or COPY +
//! \Deleted + UID EXPUNGE; never a plain EXPUNGE; APPEND with APPENDUID). On Dovecot and
//! Cyrus (`on_each_server!`). The server's view is read independently (a bare IMAP
//! session), another client's changes are raw IMAP (`imap_as`), wire bytes through the tap
//! and the engine's meter. Changes that cannot go through as queued (expunged elsewhere, a
//! crash before the replay, a refusal) are `moves_faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::{AccountConfig, CancellationToken, Draft, Engine, EngineConfig, Protocol},
    imap::{self, ConnectOptions},
    net::{Purpose, Security, WireMeter},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, Address, Flags, FolderId, MessageId, SystemFlags},
    sync::{self, EventSink, SyncEvent, WriteBackReport},
};
use anvert_tests::{
    client::{endpoint, raw_session},
    generator::{GenConfig, SizeMix},
    on_each_server, on_each_server_with,
    server::{Extensions, TestServer},
    tap::Tap,
};
use futures::TryStreamExt;

#[derive(Default)]
pub(crate) struct Recorder(Mutex<Vec<SyncEvent>>);

impl EventSink for Recorder {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    pub(crate) fn take(&self) -> Vec<SyncEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub(crate) struct Setup<'a> {
    pub(crate) server: &'a dyn TestServer,
    pub(crate) tap: Tap,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) engine: Engine,
    pub(crate) account: AccountId,
    pub(crate) inbox: FolderId,
    pub(crate) events: Arc<Recorder>,
}

pub(crate) fn metered() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

pub(crate) async fn open_engine(server: &dyn TestServer, dir: &std::path::Path) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap()
}

/// A server with `count` unread messages in INBOX (and the special-use folders, empty),
/// synced once through a tap.
pub(crate) async fn setup(server: &dyn TestServer, seed: u64, count: usize) -> Setup<'_> {
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
    let inbox = folder(&engine, account, "INBOX").await;
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

pub(crate) async fn folder(engine: &Engine, account: AccountId, name: &str) -> FolderId {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .id
}

/// The stored messages of a folder, newest first: (id, uid).
pub(crate) async fn listed(s: &Setup<'_>, folder: FolderId) -> Vec<(MessageId, u32)> {
    let page = s.engine.messages(folder, None, 500).await.unwrap();
    page.items.iter().map(|m| (m.id, m.uid)).collect()
}

/// A bare write-back over its own session through the tap, as the sync runs it.
async fn bare_write_back(s: &Setup<'_>) -> (WriteBackReport, anvert_tests::tap::TapStats) {
    bare_write_back_at(s, i64::MAX / 2).await
}

pub(crate) async fn bare_write_back_at(
    s: &Setup<'_>,
    now: i64,
) -> (WriteBackReport, anvert_tests::tap::TapStats) {
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
    let listener: Arc<dyn EventSink> = s.events.clone();
    let wb = sync::write_back(
        &mut session,
        s.engine.store(),
        s.account,
        now,
        listener.as_ref(),
    )
    .await
    .unwrap();
    let stats = s.tap.stats_since(&mark);
    session.logout().await.unwrap();
    (wb, stats)
}

/// What an independent IMAP session sees in a folder: UID -> (flags, Message-ID header).
pub(crate) async fn server_view(s: &Setup<'_>, name: &str) -> Vec<(u32, Vec<String>, String)> {
    let mut session = raw_session(
        &s.server.tls(),
        s.server.imaps_addr(),
        "alice",
        s.server.password("alice"),
        false,
    )
    .await;
    session.select(name).await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: Vec<(u32, Vec<String>, String)> = fetched
        .iter()
        .map(|f| {
            let flags = f.flags().map(|fl| format!("{fl:?}")).collect();
            let header = f
                .header()
                .map(|h| String::from_utf8_lossy(h).trim().to_string())
                .unwrap_or_default();
            (f.uid.unwrap(), flags, header)
        })
        .collect();
    out.sort();
    // Cyrus may close after BYE without a TLS close_notify (an error to async-imap).
    let _ = session.logout().await;
    out
}

/// The whole text of a message, by an independent session.
async fn server_text(s: &Setup<'_>, name: &str, uid: u32) -> String {
    let mut session = raw_session(
        &s.server.tls(),
        s.server.imaps_addr(),
        "alice",
        s.server.password("alice"),
        false,
    )
    .await;
    session.select(name).await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(fetched[0].body().unwrap()).to_string();
    let _ = session.logout().await;
    text
}

async fn message_ids(s: &Setup<'_>, ids: &[MessageId]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let m = s.engine.message(*id).await.unwrap().unwrap();
        out.push(m.message_id.clone().unwrap_or_default());
    }
    out
}

fn flagged() -> Flags {
    Flags {
        system: SystemFlags::FLAGGED,
        keywords: Vec::new(),
    }
}

fn seen() -> Flags {
    Flags {
        system: SystemFlags::SEEN,
        keywords: Vec::new(),
    }
}

async fn offline_reads_moves_and_deletes_replay_in_a_handful_of_commands(server: &dyn TestServer) {
    let s = setup(server, 71, 150).await;
    let archive = folder(&s.engine, s.account, "Archive").await;
    let trash = folder(&s.engine, s.account, "Trash").await;
    let all = listed(&s, s.inbox).await;
    let ids: Vec<MessageId> = all.iter().map(|(id, _)| *id).collect();
    let (read, moved, deleted) = (&ids[..100], &ids[100..110], &ids[110..115]);
    let moved_mids = message_ids(&s, moved).await;
    let deleted_mids = message_ids(&s, deleted).await;

    // Offline: everything is visible at once. Flags set on a message before it moves follow
    // it (sent to its new UID after the move); a move then a delete is one move to the
    // Trash; a delete then a delete (in the Trash) is one expunge at the source.
    s.engine
        .set_flags(read, seen(), Flags::default())
        .await
        .unwrap();
    s.engine
        .set_flags(&moved[..3], flagged(), Flags::default())
        .await
        .unwrap();
    s.engine.move_messages(moved, archive).await.unwrap();
    s.engine.delete_messages(deleted).await.unwrap();
    let (moved_then_deleted, deleted_twice) = (ids[115], ids[116]);
    let mtd_mid = message_ids(&s, &[moved_then_deleted]).await.remove(0);
    let twice_mid = message_ids(&s, &[deleted_twice]).await.remove(0);
    s.engine
        .move_messages(&[moved_then_deleted], archive)
        .await
        .unwrap();
    s.engine
        .delete_messages(&[moved_then_deleted])
        .await
        .unwrap();
    s.engine.delete_messages(&[deleted_twice]).await.unwrap();
    s.engine.delete_messages(&[deleted_twice]).await.unwrap();
    assert!(s.engine.message(deleted_twice).await.unwrap().is_none());
    let events = s.events.take();
    assert!(
        events.iter().any(|e| matches!(e, SyncEvent::MessagesRemoved { folder, uids } if *folder == s.inbox && uids.len() == 10)),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, SyncEvent::MessagesAdded { folder, uids } if *folder == archive && uids.len() == 10)));
    let inbox_now = listed(&s, s.inbox).await;
    assert_eq!(inbox_now.len(), 133);
    let in_archive: Vec<MessageId> = listed(&s, archive).await.iter().map(|m| m.0).collect();
    assert_eq!(in_archive.len(), 10);
    assert!(moved.iter().all(|id| in_archive.contains(id)), "same rows");
    assert_eq!(listed(&s, trash).await.len(), 6);
    assert_eq!(
        s.engine
            .pending_mailbox_operations(s.account)
            .await
            .unwrap()
            .len(),
        17,
        "10 moves, 6 moves to the Trash, 1 expunge"
    );

    // Online: one write-back; the server matches, seen by an independent session.
    let (wb, tap) = bare_write_back(&s).await;
    println!("write-back of 100 read marks + 10 moves + 5 deletes: {wb:?}, tap {tap:?}");
    // One UID STORE for the 100 read marks; the 3 \Flagged marks that followed their moved
    // messages are refused once by UNCHANGEDSINCE (the move gave them a new MODSEQ), looked
    // at, and sent again.
    assert_eq!(wb.stores, 3, "{wb:?}");
    assert_eq!(wb.fetches, 1, "{wb:?}");
    assert_eq!(wb.conflicts, 0, "{wb:?}");
    assert_eq!(wb.moves, 2, "one UID MOVE to Archive, one to Trash");
    assert_eq!((wb.copies, wb.expunges), (0, 1), "{wb:?}");
    // SELECT INBOX, 2 MOVEs, \Deleted + UID EXPUNGE, SELECT for the flags, STOREs: a
    // handful of small commands, compressed inside TLS.
    let up = tap.up;
    assert!(up < 900, "{up} bytes up: more than a handful of commands");
    assert!(
        s.engine
            .pending_mailbox_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.engine
            .pending_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );

    let inbox_server = server_view(&s, "INBOX").await;
    let archive_server = server_view(&s, "Archive").await;
    let trash_server = server_view(&s, "Trash").await;
    assert_eq!(inbox_server.len(), 133);
    assert_eq!(archive_server.len(), 10);
    assert_eq!(trash_server.len(), 6);
    assert!(
        trash_server
            .iter()
            .any(|(_, _, h)| h.contains(mtd_mid.as_str()))
    );
    for view in [&inbox_server, &archive_server, &trash_server] {
        assert!(!view.iter().any(|(_, _, h)| h.contains(twice_mid.as_str())));
    }
    let flagged_moved = archive_server
        .iter()
        .filter(|(_, f, _)| f.iter().any(|x| x.contains("Flagged")))
        .count();
    assert_eq!(flagged_moved, 3, "the flags followed the moved messages");
    for mid in &moved_mids {
        assert!(
            archive_server
                .iter()
                .any(|(_, _, h)| h.contains(mid.as_str())),
            "{mid}"
        );
    }
    for mid in &deleted_mids {
        assert!(
            trash_server
                .iter()
                .any(|(_, _, h)| h.contains(mid.as_str())),
            "{mid}"
        );
    }
    let seen_count = inbox_server
        .iter()
        .filter(|(_, f, _)| f.iter().any(|x| x.contains("Seen")))
        .count();
    assert_eq!(seen_count, 100);

    // The rows carry the server's UIDs now: the next sync fetches nothing of them again.
    let stored: Vec<u32> = listed(&s, archive).await.iter().map(|m| m.1).collect();
    let mut on_server: Vec<u32> = archive_server.iter().map(|m| m.0).collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort_unstable();
    on_server.sort_unstable();
    assert_eq!(stored_sorted, on_server);
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(report.added(), 0, "{:?}", report.folders);
    assert_eq!(report.removed(), 0, "{:?}", report.folders);
    assert_eq!(listed(&s, archive).await.len(), 10);
    assert_eq!(listed(&s, s.inbox).await.len(), 133, "nothing resurrected");
    assert_eq!(report.bytes.total_for(Purpose::WriteBack), 0);
    drop(s.dir);
}

async fn a_moved_message_keeps_its_body_and_attachment(server: &dyn TestServer) {
    let s = setup(server, 72, 40).await;
    let archive = folder(&s.engine, s.account, "Archive").await;
    // A message with an attachment.
    let mut found = None;
    for (id, _) in listed(&s, s.inbox).await {
        let detail = s.engine.message(id).await.unwrap().unwrap();
        if let Some(p) = detail.parts.iter().find(|p| p.is_attachment) {
            found = Some((id, p.section.clone()));
            break;
        }
    }
    let (id, section) = found.expect("the generator makes attachments");
    let body = s.engine.fetch_body(id, NetworkKind::Metered).await.unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let path = s
        .engine
        .download_part(
            id,
            &section,
            downloads.path(),
            NetworkKind::Metered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let file = std::fs::read(&path).unwrap();

    s.engine.move_messages(&[id], archive).await.unwrap();
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert!(report.bytes.total_for(Purpose::WriteBack) > 0);
    assert_eq!(
        report.added(),
        0,
        "the target's sync does not fetch it again"
    );
    let stored = s.engine.message(id).await.unwrap().unwrap();
    assert_eq!(stored.summary.folder, archive);
    let server = server_view(&s, "Archive").await;
    assert_eq!(server.len(), 1);
    assert_eq!(stored.summary.uid, server[0].0, "re-keyed by COPYUID");

    // Served from the store and the disk: nothing on the wire.
    let mark = s.tap.mark();
    let again = s.engine.fetch_body(id, NetworkKind::Metered).await.unwrap();
    assert_eq!(again.text, body.text);
    assert_eq!(again.html, body.html);
    let path2 = s
        .engine
        .download_part(
            id,
            &section,
            downloads.path(),
            NetworkKind::Metered,
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path2).unwrap(), file);
    assert_eq!(s.tap.stats_since(&mark).total(), 0, "no refetch");
    let usage = s.engine.usage(s.account).await.unwrap();
    let content: u64 = usage
        .iter()
        .filter(|u| {
            u.purpose == Purpose::Bodies.as_str() || u.purpose == Purpose::Attachments.as_str()
        })
        .map(|u| u.bytes_down)
        .sum();
    let report2 = s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(report2.bytes.total_for(Purpose::Bodies), 0);
    assert_eq!(report2.bytes.total_for(Purpose::Attachments), 0);
    let usage2 = s.engine.usage(s.account).await.unwrap();
    let content2: u64 = usage2
        .iter()
        .filter(|u| {
            u.purpose == Purpose::Bodies.as_str() || u.purpose == Purpose::Attachments.as_str()
        })
        .map(|u| u.bytes_down)
        .sum();
    assert_eq!(
        content, content2,
        "no body or attachment bytes after the move"
    );
}

async fn without_move_a_copy_deleted_and_uid_expunged_moves(server: &dyn TestServer) {
    let s = setup(server, 73, 30).await;
    let archive = folder(&s.engine, s.account, "Archive").await;
    let ids: Vec<MessageId> = listed(&s, s.inbox).await[..3].iter().map(|m| m.0).collect();
    let mids = message_ids(&s, &ids).await;
    s.engine.move_messages(&ids, archive).await.unwrap();
    let (wb, tap) = bare_write_back(&s).await;
    println!("3 moves without MOVE: {wb:?}, tap {tap:?}");
    assert_eq!((wb.moves, wb.copies, wb.expunges), (0, 1, 1), "{wb:?}");
    let archive_server = server_view(&s, "Archive").await;
    assert_eq!(archive_server.len(), 3);
    let inbox_server = server_view(&s, "INBOX").await;
    assert_eq!(inbox_server.len(), 27);
    for mid in &mids {
        assert!(
            !inbox_server
                .iter()
                .any(|(_, _, h)| h.contains(mid.as_str()))
        );
    }
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(report.added(), 0);
    assert_eq!(listed(&s, archive).await.len(), 3);
}

async fn deleting_in_trash_and_emptying_it_expunge_only_our_uids(server: &dyn TestServer) {
    let s = setup(server, 74, 30).await;
    let trash = folder(&s.engine, s.account, "Trash").await;
    let ids: Vec<MessageId> = listed(&s, s.inbox).await[..4].iter().map(|m| m.0).collect();
    // Deleting outside the Trash moves there.
    s.engine.delete_messages(&ids).await.unwrap();
    s.engine.sync(s.account, &metered()).await.unwrap();
    let in_trash = listed(&s, trash).await;
    assert_eq!(in_trash.len(), 4);
    assert_eq!(server_view(&s, "Trash").await.len(), 4);

    // Another client marks one of them \Deleted; deleting two others in the Trash expunges
    // exactly those two (a plain EXPUNGE would take the other client's message too).
    let others = in_trash[0].1;
    s.server.imap_as(
        "alice",
        &[
            "SELECT Trash",
            &format!("UID STORE {others} +FLAGS.SILENT (\\Deleted)"),
        ],
    );
    let ours: Vec<MessageId> = in_trash[2..].iter().map(|m| m.0).collect();
    s.engine.delete_messages(&ours).await.unwrap();
    assert_eq!(listed(&s, trash).await.len(), 2, "gone locally at once");
    let (wb, _) = bare_write_back(&s).await;
    assert_eq!((wb.expunges, wb.moves), (1, 0), "{wb:?}");
    let server = server_view(&s, "Trash").await;
    assert_eq!(server.len(), 2, "{server:?}");
    assert!(
        server
            .iter()
            .any(|(uid, f, _)| *uid == others && f.iter().any(|x| x.contains("Deleted")))
    );

    // Emptying the Trash: the UIDs we know, and only them; a message that arrived in the
    // Trash since our last sync stays.
    s.engine.sync(s.account, &metered()).await.unwrap();
    s.server
        .imap_as("alice", &["SELECT INBOX", "UID COPY 1:* Trash"]);
    let before = server_view(&s, "Trash").await.len();
    assert!(before > 2);
    s.engine.empty_trash(s.account).await.unwrap();
    assert!(listed(&s, trash).await.is_empty());
    let (wb, _) = bare_write_back(&s).await;
    assert_eq!(wb.expunges, 1, "{wb:?}");
    assert_eq!(server_view(&s, "Trash").await.len(), before - 2);
}

fn draft(text: &str) -> Draft {
    Draft {
        from: Address {
            name: Some("Alice".into()),
            email: "alice@example.org".into(),
        },
        to: vec![Address {
            name: None,
            email: "bob@example.org".into(),
        }],
        subject: "Plans".into(),
        text: text.into(),
        ..Draft::default()
    }
}

async fn a_draft_saved_edited_and_saved_again_is_one_message_on_the_server(
    server: &dyn TestServer,
) {
    let s = setup(server, 77, 5).await;
    let drafts = folder(&s.engine, s.account, "Drafts").await;
    // Offline: saved twice before any sync: one APPEND.
    let first = s
        .engine
        .save_draft(s.account, draft("first version"), None)
        .await
        .unwrap();
    let second = s
        .engine
        .save_draft(s.account, draft("second version"), Some(first))
        .await
        .unwrap();
    assert!(s.engine.message(first).await.unwrap().is_none());
    assert_eq!(listed(&s, drafts).await.len(), 1);
    let body = s
        .engine
        .fetch_body(second, NetworkKind::Offline)
        .await
        .unwrap();
    assert!(body.text.unwrap().contains("second version"));
    let (wb, tap) = bare_write_back(&s).await;
    println!("a draft saved twice offline: {wb:?}, tap {tap:?}");
    assert_eq!(wb.appends, 1, "{wb:?}");
    let server = server_view(&s, "Drafts").await;
    assert_eq!(server.len(), 1);
    assert!(server[0].1.iter().any(|f| f.contains("Draft")));
    assert!(
        server_text(&s, "Drafts", server[0].0)
            .await
            .contains("second version")
    );
    assert_eq!(
        s.engine.message(second).await.unwrap().unwrap().summary.uid,
        server[0].0
    );

    // Edited again once it is on the server: APPEND, then the old one expunged by UID.
    let third = s
        .engine
        .save_draft(s.account, draft("third version"), Some(second))
        .await
        .unwrap();
    let report = s.engine.sync(s.account, &metered()).await.unwrap();
    assert_eq!(report.added(), 0, "{:?}", report.folders);
    let server = server_view(&s, "Drafts").await;
    assert_eq!(server.len(), 1, "{server:?}");
    let text = server_text(&s, "Drafts", server[0].0).await;
    assert!(text.contains("third version") && !text.contains("second version"));
    assert_eq!(listed(&s, drafts).await, vec![(third, server[0].0)]);
}

async fn pop3_deletes_go_to_the_pop3_deletion_and_moves_and_drafts_are_refused(
    server: &dyn TestServer,
) {
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 78,
            count: 5,
            mix: SizeMix::none(),
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(server, dir.path()).await;
    let account = engine
        .add_account(AccountConfig {
            name: "Alice POP3".into(),
            protocol: Protocol::Pop3,
            endpoint: endpoint(server.pop3s_addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    engine.sync(account, &metered()).await.unwrap();
    let inbox = engine.folders(account).await.unwrap()[0].id;
    let ids: Vec<MessageId> = engine
        .messages(inbox, None, 10)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids.len(), 5);
    engine.delete_messages(&ids[..2]).await.unwrap();
    assert!(engine.message(ids[0]).await.unwrap().is_none());
    assert_eq!(
        engine.messages(inbox, None, 10).await.unwrap().items.len(),
        3
    );
    assert!(matches!(
        engine.move_messages(&ids[2..3], inbox).await,
        Err(anvert_core::error::Error::Config { .. })
    ));
    assert!(matches!(
        engine.save_draft(account, draft("x"), None).await,
        Err(anvert_core::error::Error::Config { .. })
    ));
    assert!(matches!(
        engine.empty_trash(account).await,
        Err(anvert_core::error::Error::Config { .. })
    ));
}

on_each_server!(
    offline_reads_moves_and_deletes_replay_in_a_handful_of_commands,
    a_moved_message_keeps_its_body_and_attachment,
    deleting_in_trash_and_emptying_it_expunge_only_our_uids,
    a_draft_saved_edited_and_saved_again_is_one_message_on_the_server,
    pop3_deletes_go_to_the_pop3_deletion_and_moves_and_drafts_are_refused,
);
on_each_server_with!(
    without_move,
    Extensions {
        move_command: false,
        ..Extensions::default()
    },
    without_move_a_copy_deleted_and_uid_expunged_moves
);
