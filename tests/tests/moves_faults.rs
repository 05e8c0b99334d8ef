//! Two-way sync, mailbox operations (issue 6) when a queued change cannot go through as
//! queued: a move of a message another client expunged is dropped (`DropReason::Expunged`),
//! moves queued before a crash replay exactly once after the restart, and a move the server
//! refuses backs off, then parks until `retry_parked`. On Dovecot and Cyrus
//! (`on_each_server!`), with the helpers of `moves.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    net::Purpose,
    store::MessageId,
    sync::{DropReason, SyncEvent},
};
use anvert_tests::{on_each_server, server::TestServer};

use crate::moves::{
    Setup, bare_write_back_at, folder, listed, metered, open_engine, server_view, setup,
};

async fn a_move_of_a_message_expunged_elsewhere_is_dropped(server: &dyn TestServer) {
    let s = setup(server, 75, 20).await;
    let archive = folder(&s.engine, s.account, "Archive").await;
    let two = listed(&s, s.inbox).await[..2].to_vec();
    let ids: Vec<MessageId> = two.iter().map(|m| m.0).collect();
    s.engine.move_messages(&ids, archive).await.unwrap();
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
        events.iter().any(|e| matches!(e, SyncEvent::ChangeDropped { folder, uids, reason: DropReason::Expunged } if *folder == s.inbox && uids == &[gone])),
        "{events:?}"
    );
    assert!(s.engine.message(ids[0]).await.unwrap().is_none());
    assert_eq!(
        s.engine
            .message(ids[1])
            .await
            .unwrap()
            .unwrap()
            .summary
            .folder,
        archive
    );
    assert_eq!(server_view(&s, "Archive").await.len(), 1);
    assert!(
        s.engine
            .pending_mailbox_operations(s.account)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn queued_moves_survive_a_crash_and_replay_once(server: &dyn TestServer) {
    let s = setup(server, 76, 30).await;
    let archive = folder(&s.engine, s.account, "Archive").await;
    let ids: Vec<MessageId> = listed(&s, s.inbox).await[..5].iter().map(|m| m.0).collect();
    // A->B then B->C is one move; A->B->A is none.
    let trash = folder(&s.engine, s.account, "Trash").await;
    s.engine.move_messages(&ids, trash).await.unwrap();
    s.engine.move_messages(&ids, archive).await.unwrap();
    s.engine.move_messages(&ids[..1], s.inbox).await.unwrap();
    s.engine.move_messages(&ids[..1], archive).await.unwrap();
    let Setup {
        server,
        tap,
        dir,
        engine,
        account,
        inbox,
        events,
    } = s;
    drop(engine); // between the local apply and the replay

    let engine = open_engine(server, dir.path()).await;
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    assert_eq!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .len(),
        5
    );
    let first = engine.sync(account, &metered()).await.unwrap();
    assert!(first.bytes.total_for(Purpose::WriteBack) > 0);
    assert!(
        engine
            .pending_mailbox_operations(account)
            .await
            .unwrap()
            .is_empty()
    );
    let again = engine.sync(account, &metered()).await.unwrap();
    assert_eq!(
        again.bytes.total_for(Purpose::WriteBack),
        0,
        "replayed exactly once"
    );
    let s = Setup {
        server,
        tap,
        dir,
        engine,
        account,
        inbox,
        events,
    };
    assert_eq!(
        server_view(&s, "Archive").await.len(),
        5,
        "exactly one copy each"
    );
    assert!(server_view(&s, "Trash").await.is_empty());
    assert_eq!(server_view(&s, "INBOX").await.len(), 25);
    assert_eq!(listed(&s, archive).await.len(), 5);
}

async fn a_refused_move_backs_off_then_parks(server: &dyn TestServer) {
    let s = setup(server, 79, 10).await;
    s.server.imap_as("alice", &["CREATE Projects"]);
    s.engine.sync(s.account, &metered()).await.unwrap();
    let archive = folder(&s.engine, s.account, "Projects").await;
    let id = listed(&s, s.inbox).await[0].0;
    s.engine.move_messages(&[id], archive).await.unwrap();
    // The target is gone on the server: UID MOVE is refused (NO), every time.
    s.server.imap_as("alice", &["DELETE Projects"]);
    s.events.take();
    let mut now = 1_000_000;
    for attempt in 1..=5 {
        let (wb, _) = bare_write_back_at(&s, now).await;
        let pending = s
            .engine
            .pending_mailbox_operations(s.account)
            .await
            .unwrap();
        assert_eq!(wb.moves, 1, "attempt {attempt}: {wb:?} {pending:?}");
        // Not retried before its backoff ends.
        let (wb, _) = bare_write_back_at(&s, now + 1).await;
        assert_eq!(wb.moves, 0, "attempt {attempt}: {wb:?}");
        now += 4000;
    }
    let pending = s
        .engine
        .pending_mailbox_operations(s.account)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].parked && pending[0].attempts == 5, "{pending:?}");
    assert!(pending[0].last_error.is_some());
    let events = s.events.take();
    assert!(
        events.iter().any(|e| matches!(
            e,
            SyncEvent::ChangeDropped {
                reason: DropReason::Parked,
                ..
            }
        )),
        "{events:?}"
    );
    let (wb, _) = bare_write_back_at(&s, now + 100_000).await;
    assert_eq!(wb.moves, 0, "parked: not retried");
    // Still shown where the user put it, and in the source on the server.
    assert_eq!(
        s.engine.message(id).await.unwrap().unwrap().summary.folder,
        archive
    );
    assert_eq!(server_view(&s, "INBOX").await.len(), 10);
    assert_eq!(s.engine.retry_parked(s.account).await.unwrap(), 1);
}

on_each_server!(
    a_move_of_a_message_expunged_elsewhere_is_dropped,
    queued_moves_survive_a_crash_and_replay_once,
    a_refused_move_backs_off_then_parks,
);
