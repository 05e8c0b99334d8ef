//! Store tests against real SQLite files in a temporary directory, the writes: round trips,
//! re-inserts and incomplete messages, counts that follow flags, deltas and their atomicity,
//! UIDVALIDITY resets, folder list changes, writers from many tasks and the speed of a window
//! insert. Reading (paging, query plans, search, threads) is in `store_queries`; accounts,
//! reopening and the byte ledger in `store_accounts`.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use anvert_core::{
    Error,
    store::{
        Delta, DownloadState, FlagChange, Flags, FolderId, FolderRecord, FolderSyncState,
        MessageDetail, MessageId, MessageSummary, NewMessage, PartDetail, Role, SystemFlags,
        UidRange,
    },
};

use crate::common::store_fixture::{
    Fixture, addr, flag_change, folder, message, messages, part, seen, state,
};

#[tokio::test]
async fn window_round_trips_exactly() {
    let fx = Fixture::new().await;
    let mut full = message(7, 1_700_000_000);
    let keywords = vec!["$Forwarded".into(), "$label1".into()];
    full.flags = Flags {
        system: SystemFlags::SEEN | SystemFlags::FLAGGED,
        keywords,
    };
    full.sender = vec![addr(Some("Alice's Assistant"), "assistant@example.com")];
    full.reply_to = vec![addr(Some("List \"Quotes\""), "list@example.com")];
    full.to = vec![
        addr(Some("Zoë"), "zoe@example.com"),
        addr(None, "me@example.com"),
    ];
    full.cc = vec![addr(None, "cc@example.com")];
    full.bcc = vec![addr(Some("Hidden"), "bcc@example.com")];
    full.in_reply_to = Some("<parent@example.com>".into());
    full.references = vec!["<root@example.com>".into(), "<parent@example.com>".into()];
    full.parts[0].content_id = Some("<cid-1@example.com>".into());
    let mut bare = message(8, 1_700_000_100);
    bare.date = None;
    bare.message_id = None;
    bare.preview = None;
    bare.from = Vec::new();
    bare.parts = Vec::new();
    let window = vec![full, bare];

    let after = state(42, 9, 8, 2);
    fx.insert(fx.inbox, after, &window).await;
    assert_eq!(fx.state(fx.inbox).await, after);
    assert_eq!(fx.uids(fx.inbox).await, [7, 8]);
    assert_eq!(fx.store.message_count(fx.inbox).await.unwrap(), 2);

    for original in &window {
        let detail = fx.detail(fx.inbox, original.uid).await;
        assert_eq!(detail, expected(original, &detail.summary));
        assert_eq!(detail.summary.folder, fx.inbox);
    }
    assert_eq!(fx.store.message(MessageId(999_999)).await.unwrap(), None);
}

/// What reading `m` back must give, exactly; ids come from the row that was read.
fn expected(m: &NewMessage, read: &MessageSummary) -> MessageDetail {
    let summary = MessageSummary {
        id: read.id,
        folder: read.folder,
        uid: m.uid,
        thread: read.thread,
        flags: m.flags.clone(),
        local_keywords: Vec::new(),
        internal_date: m.internal_date,
        date: m.date,
        size: m.size,
        subject: m.subject.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        preview: m.preview.clone(),
        has_attachments: m.parts.iter().any(|p| p.is_attachment),
    };
    let parts = m.parts.iter().map(|p| PartDetail {
        section: p.section.clone(),
        mime_type: p.mime_type.clone(),
        charset: p.charset.clone(),
        encoding: p.encoding.clone(),
        size: p.size,
        lines: p.lines,
        disposition: p.disposition.clone(),
        filename: p.filename.clone(),
        content_id: p.content_id.clone(),
        is_attachment: p.is_attachment,
        download_state: DownloadState::None,
    });
    MessageDetail {
        summary,
        modseq: m.modseq,
        sender: m.sender.clone(),
        reply_to: m.reply_to.clone(),
        cc: m.cc.clone(),
        bcc: m.bcc.clone(),
        message_id: m.message_id.clone(),
        in_reply_to: m.in_reply_to.clone(),
        references: m.references.clone(),
        parts: parts.collect(),
    }
}

#[tokio::test]
async fn reinserting_keeps_download_state_and_adds_preview() {
    let fx = Fixture::new().await;
    let mut first = message(1, 1_000);
    first.preview = None;
    fx.insert(fx.inbox, state(1, 2, 1, 1), &[first.clone()])
        .await;
    let id = fx.id_of(fx.inbox, 1).await;
    let complete = DownloadState::Complete;
    fx.store
        .set_download_state(id, "1.1", complete)
        .await
        .unwrap();
    let missing = fx.store.set_download_state(id, "9", complete).await;
    assert!(matches!(missing, Err(Error::NotFound { .. })));

    let mut again = first.clone();
    again.preview = Some("now with a preview".into());
    again.flags = seen();
    fx.insert(fx.inbox, state(1, 2, 1, 1), &[again]).await;
    let detail = fx.detail(fx.inbox, 1).await;
    assert_eq!(detail.summary.id, id, "an update keeps the message id");
    assert_eq!(
        detail.summary.preview.as_deref(),
        Some("now with a preview")
    );
    assert_eq!(detail.summary.flags, seen());
    assert_eq!(detail.parts[0].download_state, DownloadState::Complete);
    assert_eq!(detail.parts[1].download_state, DownloadState::None);

    // A later window without a preview does not erase the one stored.
    fx.insert(fx.inbox, state(1, 2, 1, 1), &[first]).await;
    let detail = fx.detail(fx.inbox, 1).await;
    assert_eq!(
        detail.summary.preview.as_deref(),
        Some("now with a preview")
    );
    assert_eq!(fx.found("now preview").await, [1]);
}

/// Issue 13: a message whose summary could not be read in full is stored incomplete (what
/// could be read) and listed for the next sync; an incomplete copy never replaces the
/// headers of a complete row (only its flags), and a complete one replaces an incomplete row.
#[tokio::test]
async fn incomplete_messages_are_marked_listed_and_completed() {
    let fx = Fixture::new().await;
    let placeholder = |uid: u32| NewMessage {
        uid,
        flags: seen(),
        incomplete: true,
        ..NewMessage::default()
    };
    fx.insert(
        fx.inbox,
        state(1, 4, 1, 3),
        &[message(1, 1_000), placeholder(2), message(3, 3_000)],
    )
    .await;
    assert_eq!(fx.store.incomplete_uids(fx.inbox, 10).await.unwrap(), [2]);
    assert_eq!(fx.detail(fx.inbox, 2).await.summary.subject, "");

    // A flaky server: message 1 arrives incomplete this time. Its headers and parts stay,
    // its flags are taken, and it is not marked.
    fx.insert(fx.inbox, state(1, 4, 1, 3), &[placeholder(1)])
        .await;
    let one = fx.detail(fx.inbox, 1).await;
    assert_eq!(one.summary.subject, "Message number 1");
    assert_eq!(one.parts.len(), 3);
    assert_eq!(one.summary.flags, seen());
    assert_eq!(fx.store.incomplete_uids(fx.inbox, 10).await.unwrap(), [2]);

    // The next sync completes message 2.
    fx.insert(fx.inbox, state(1, 4, 1, 3), &[message(2, 2_000)])
        .await;
    let two = fx.detail(fx.inbox, 2).await;
    assert_eq!(two.summary.subject, "Message number 2");
    assert_eq!(two.parts.len(), 3);
    assert!(
        fx.store
            .incomplete_uids(fx.inbox, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut found = fx.found("number").await;
    found.sort();
    assert_eq!(found, [1, 2, 3]);
}

#[tokio::test]
async fn folder_counts_follow_flags() {
    let fx = Fixture::new().await;
    let mut window = messages(1..=10);
    for m in &mut window[..4] {
        m.flags = seen();
    }
    fx.insert(fx.inbox, state(1, 11, 10, 10), &window).await;
    assert_eq!(fx.counts().await, (6, 10));
    assert_eq!(
        fx.store.folders(fx.account).await.unwrap()[0].role,
        Some(Role::Inbox)
    );

    let changes: Vec<FlagChange> = (5..=7).map(|uid| flag_change(uid, seen(), 20)).collect();
    let changed = fx
        .store
        .apply_flag_changes(fx.inbox, &changes, Some(20))
        .await;
    assert_eq!(changed.unwrap(), 3);
    assert_eq!(fx.state(fx.inbox).await.highest_modseq, Some(20));
    assert_eq!(fx.counts().await, (3, 10));

    // An older change does not undo a newer one.
    let stale = [flag_change(5, Flags::default(), 19)];
    let changed = fx.store.apply_flag_changes(fx.inbox, &stale, None).await;
    assert_eq!(changed.unwrap(), 0);

    let vanished = [UidRange::new(2, 1), 9.into()];
    let removed = fx.store.apply_expunges(fx.inbox, &vanished, Some(21)).await;
    assert_eq!(removed.unwrap(), 3);
    assert_eq!(fx.counts().await, (2, 7));
    assert_eq!(fx.state(fx.inbox).await.highest_modseq, Some(21));
}

#[tokio::test]
async fn delta_applies_everything_in_one_transaction() {
    let fx = Fixture::new().await;
    let before = state(1, 6, 5, 5);
    fx.insert(fx.inbox, before, &messages(1..=5)).await;

    // A delta whose last new message is invalid ("TEXT" is no part number): nothing may stick.
    let mut broken = message(7, 7);
    broken.parts.push(part("TEXT", "text/plain", false));
    let failing = Delta {
        changed: vec![flag_change(1, seen(), 9)],
        vanished: vec![UidRange::new(2, 3)],
        new_messages: vec![message(6, 6), broken],
        state_after: state(1, 8, 9, 5),
        ..Delta::default()
    };
    let result = fx.store.apply_delta(fx.inbox, &failing).await;
    assert!(matches!(result, Err(Error::Store { .. })), "{result:?}");
    assert_eq!(fx.state(fx.inbox).await, before);
    assert_eq!(fx.uids(fx.inbox).await, [1, 2, 3, 4, 5]);
    assert_eq!(fx.detail(fx.inbox, 1).await.summary.flags, Flags::default());
    assert!(fx.found("number 6").await.is_empty());

    // The same delta without the broken message goes through as a whole.
    let delta = Delta {
        new_messages: vec![message(6, 6)],
        ..failing
    };
    let applied = fx.store.apply_delta(fx.inbox, &delta).await.unwrap();
    assert_eq!(
        (applied.flags_changed, applied.removed, applied.stored),
        (1, 2, 1)
    );
    assert_eq!(fx.state(fx.inbox).await, delta.state_after);
    assert_eq!(fx.uids(fx.inbox).await, [1, 4, 5, 6]);
    let one = fx.detail(fx.inbox, 1).await;
    assert_eq!((one.summary.flags, one.modseq), (seen(), 9));
    assert_eq!(fx.found("number 6").await, [6]);

    // MODSEQ values beyond i64 are refused, not wrapped.
    let mut huge = message(10, 10);
    huge.modseq = u64::MAX;
    let result = fx
        .store
        .insert_window(fx.inbox, &delta.state_after, &[huge])
        .await;
    assert!(
        matches!(result, Err(Error::Store { source: None, .. })),
        "{result:?}"
    );
    assert_eq!(fx.uids(fx.inbox).await, [1, 4, 5, 6]);
}

#[tokio::test]
async fn uidvalidity_change_resets_the_folder() {
    let fx = Fixture::new().await;
    fx.insert(fx.inbox, state(100, 4, 3, 3), &messages(1..=3))
        .await;

    // Writing a different generation without a reset is refused.
    let other = state(200, 2, 1, 1);
    assert!(fx.store.set_folder_state(fx.inbox, &other).await.is_err());
    let mixed = fx
        .store
        .insert_window(fx.inbox, &other, &[message(1, 50)])
        .await;
    assert!(mixed.is_err());
    assert_eq!(fx.uids(fx.inbox).await, [1, 2, 3]);

    assert_eq!(fx.store.reset_folder(fx.inbox, 200).await.unwrap(), 3);
    let reset = FolderSyncState {
        uidvalidity: Some(200),
        ..FolderSyncState::default()
    };
    assert_eq!(fx.state(fx.inbox).await, reset);
    assert!(fx.uids(fx.inbox).await.is_empty());
    assert!(fx.found("message").await.is_empty());

    fx.insert(fx.inbox, other, &[message(1, 50)]).await;
    assert_eq!(fx.uids(fx.inbox).await, [1]);
    let gone = fx.store.reset_folder(FolderId(12_345), 1).await;
    assert!(matches!(gone, Err(Error::NotFound { what: "folder", .. })));
}

#[tokio::test]
async fn folder_list_handles_rename_and_delete() {
    let fx = Fixture::new().await;
    let list = [
        folder("INBOX", Some(Role::Inbox)),
        folder("Sent", Some(Role::Sent)),
        folder("Projects/Old", None),
    ];
    let ids = fx.store.upsert_folders(fx.account, &list).await.unwrap();
    assert_eq!(ids[0], fx.inbox);
    fx.insert(ids[0], state(1, 2, 1, 1), &[message(1, 1)]).await;
    let mut old_message = message(1, 2);
    old_message.subject = "Zeppelin".into();
    fx.insert(ids[2], state(5, 2, 1, 1), &[old_message]).await;

    // "Projects/Old" was renamed to "Projects/New"; "Sent" lost its role and subscription.
    let mut sent = folder("Sent", None);
    sent.subscribed = false;
    let renamed = [
        folder("INBOX", Some(Role::Inbox)),
        sent,
        folder("Projects/New", None),
    ];
    let new_ids = fx.store.upsert_folders(fx.account, &renamed).await.unwrap();
    assert_eq!(new_ids[..2], ids[..2], "surviving folders keep their ids");
    assert_ne!(new_ids[2], ids[2], "ids of removed folders are not reused");

    let folders = fx.store.folders(fx.account).await.unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["INBOX", "Projects/New", "Sent"]);
    assert_eq!((folders[2].role, folders[2].subscribed), (None, false));
    assert_eq!(fx.counts().await, (1, 1));
    assert_eq!(
        fx.state(fx.inbox).await,
        state(1, 2, 1, 1),
        "sync state survives"
    );
    let gone = fx.store.folder_state(ids[2]).await;
    assert!(matches!(gone, Err(Error::NotFound { what: "folder", .. })));
    assert!(fx.found("zeppelin").await.is_empty());

    // An empty LIST removes everything.
    fx.store.upsert_folders(fx.account, &[]).await.unwrap();
    assert!(fx.store.folders(fx.account).await.unwrap().is_empty());
}

#[tokio::test]
async fn writes_from_many_tasks_are_serialized() {
    let fx = Fixture::new().await;
    let list: Vec<FolderRecord> = (0..8).map(|i| folder(&format!("F{i}"), None)).collect();
    let folders = fx.store.upsert_folders(fx.account, &list).await.unwrap();
    let mut tasks = Vec::new();
    for folder in folders.iter().copied() {
        let store = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            let window = messages(1..=50);
            store
                .insert_window(folder, &state(1, 51, 50, 50), &window)
                .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for folder in folders {
        assert_eq!(fx.store.message_count(folder).await.unwrap(), 50);
    }
}

#[tokio::test]
async fn a_window_of_500_messages_is_fast() {
    let fx = Fixture::new().await;
    // Warm up the statement cache with a first window, as a running sync would have.
    fx.insert(fx.inbox, state(1, 2, 1, 1), &messages(1..=1))
        .await;
    let window = messages(2..=501);

    let started = Instant::now();
    fx.insert(fx.inbox, state(1, 502, 501, 501), &window).await;
    let elapsed = started.elapsed();
    println!("a window of 500 messages with 3 parts each: {elapsed:?}");
    assert_eq!(fx.store.message_count(fx.inbox).await.unwrap(), 501);
    if !cfg!(debug_assertions) {
        assert!(elapsed.as_millis() < 100, "took {elapsed:?}");
    }
}
