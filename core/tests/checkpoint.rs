//! WAL checkpoints run on the store's own checkpoint connection, not inside the writer's
//! commits (issue 19: a checkpoint inside a commit stalled a 1,000-flag delta past 50 ms).
//! In WAL mode only a checkpoint writes the database file, so its length tells who copied.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anvert_core::store::{Flags, NewMessage};
use common::{StoreFx, state};

fn message(uid: u32) -> NewMessage {
    NewMessage {
        uid,
        flags: Flags::default(),
        internal_date: 1_700_000_000 + i64::from(uid),
        subject: format!("Message {uid}: a subject long enough to fill some pages"),
        message_id: Some(format!("<m{uid}@example.com>")),
        preview: Some(format!("preview text of message {uid} ").repeat(8)),
        ..NewMessage::default()
    }
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn the_log_is_copied_by_the_checkpoint_task_not_by_a_commit() {
    let fx = StoreFx::new(&["INBOX"]).await;
    let (store, folder) = (&fx.store, fx.folders[0]);
    let db = fx.dir.path().join("db.sqlite");
    let wal = fx.dir.path().join("db.sqlite-wal");
    let before = len(&db);

    // One window of 6,000 messages: well over SQLite's default automatic checkpoint (1,000
    // pages), which would have copied it into the database file at its commit.
    let window: Vec<NewMessage> = (1..=6_000).map(message).collect();
    store
        .insert_window(folder, &state(6_001), &window)
        .await
        .unwrap();
    let logged = len(&wal);
    assert!(
        logged > 1_000 * 4_096,
        "the window should have logged over 1,000 pages, logged {logged} B"
    );
    assert_eq!(
        len(&db),
        before,
        "the writer's commit checkpointed the log itself"
    );

    // Eight more write transactions: at least one of them is an eighth since the store
    // opened, which asks the checkpoint task to copy the log. Nothing else writes the
    // database file, so its growth by (at least half) the window's pages is the condition
    // waited for; the task has no other outward sign.
    for uid in 6_001..6_009 {
        store
            .insert_window(folder, &state(uid + 1), &[message(uid)])
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while len(&db) < before + logged / 2 {
        assert!(
            Instant::now() < deadline,
            "no checkpoint copied the log within 30 s (database file {} B, log {} B)",
            len(&db),
            len(&wal)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A FULL checkpoint (the POP3 sync's "make durable") goes through the same task and
    // leaves nothing in the log.
    store.pop3_make_durable().await.unwrap();
    store.close().await;
    assert!(!wal.exists() || len(&wal) == 0, "closing left a log behind");
}
