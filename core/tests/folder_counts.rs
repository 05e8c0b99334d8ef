//! The folder list's counts (migration 0016: kept by triggers, not counted on each read) equal
//! a count of the rows after every kind of change: windows, re-fetched rows, flag deltas,
//! expunges, a UIDVALIDITY reset, folders removed from the server's list, and EMAILID
//! tombstones and takeovers (`objectid.rs` checks those too).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::state;
use sqlx::{Connection, SqliteConnection};

use anvert_core::store::{
    AccountId, Delta, FlagChange, Flags, FolderId, FolderRecord, NewMessage, Store, SystemFlags,
    Takeover, UidRange,
};

struct Fx {
    dir: tempfile::TempDir,
    store: Store,
    account: AccountId,
}

/// Message `uid`, read when `seen`, with an EMAILID so that an expunge leaves a tombstone.
fn message(uid: u32, seen: bool) -> NewMessage {
    let mut flags = Flags::default();
    if seen {
        flags.system.insert(SystemFlags::SEEN);
    }
    flags.system.insert(SystemFlags::FLAGGED);
    NewMessage {
        uid,
        flags,
        internal_date: 1_700_000_000 + i64::from(uid),
        subject: format!("Message {uid}"),
        message_id: Some(format!("<m{uid}@example.com>")),
        email_id: Some(format!("E{uid}")),
        ..NewMessage::default()
    }
}

impl Fx {
    async fn new() -> Fx {
        let fx = common::StoreFx::new(&[]).await;
        Fx {
            dir: fx.dir,
            store: fx.store,
            account: fx.account,
        }
    }

    async fn folders(&self, names: &[&str]) -> Vec<FolderId> {
        let records: Vec<FolderRecord> = names.iter().map(|n| common::folder(n)).collect();
        self.store
            .upsert_folders(self.account, &records)
            .await
            .unwrap()
    }

    /// Every folder's (id, unread, total) as the folder list shows them, after checking them
    /// against a count of the rows.
    async fn counts(&self) -> Vec<(FolderId, u32, u32)> {
        let listed: Vec<(FolderId, u32, u32)> = self
            .store
            .folders(self.account)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.id, f.unread, f.total))
            .collect();
        let url = format!("sqlite://{}", self.dir.path().join("db.sqlite").display());
        let mut raw = SqliteConnection::connect(&url).await.unwrap();
        for (id, unread, total) in &listed {
            let (counted_total, counted_unread): (i64, i64) = sqlx::query_as(
                "SELECT count(*), coalesce(sum((flags & 1) = 0), 0) FROM messages
                 WHERE folder_id = ?1 AND tombstone = 0",
            )
            .bind(id.0)
            .fetch_one(&mut raw)
            .await
            .unwrap();
            assert_eq!(
                (i64::from(*unread), i64::from(*total)),
                (counted_unread, counted_total),
                "folder {id:?}: the kept counts differ from the rows"
            );
        }
        raw.close().await.unwrap();
        listed
    }

    async fn of(&self, folder: FolderId) -> (u32, u32) {
        let counts = self.counts().await;
        let (_, unread, total) = counts.into_iter().find(|(id, ..)| *id == folder).unwrap();
        (unread, total)
    }
}

#[tokio::test]
async fn kept_counts_follow_every_change_to_the_rows() {
    let fx = Fx::new().await;
    let ids = fx.folders(&["INBOX", "Archive", "Old"]).await;
    let (inbox, archive, old) = (ids[0], ids[1], ids[2]);
    assert_eq!(fx.of(inbox).await, (0, 0));

    // Windows: 1..=20 with every third message read; 21..=25 into Old.
    let window: Vec<NewMessage> = (1..=20).map(|u| message(u, u % 3 == 0)).collect();
    fx.store
        .insert_window(inbox, &state(21), &window)
        .await
        .unwrap();
    let old_window: Vec<NewMessage> = (21..=25).map(|u| message(u, false)).collect();
    fx.store
        .insert_window(old, &state(26), &old_window)
        .await
        .unwrap();
    assert_eq!(fx.of(inbox).await, (14, 20));
    assert_eq!(fx.of(old).await, (5, 5));

    // The same UIDs fetched again with other flags (an upsert, not an insert).
    let again: Vec<NewMessage> = (1..=4).map(|u| message(u, true)).collect();
    fx.store
        .insert_window(inbox, &state(21), &again)
        .await
        .unwrap();
    assert_eq!(fx.of(inbox).await, (11, 20));

    // A delta: flags both ways (a change of \Flagged alone moves no count), expunges of a
    // read and an unread message, new mail.
    let mut changed = Vec::new();
    for (uid, seen) in [(5, true), (6, false), (7, true), (8, true)] {
        let mut m = message(uid, seen);
        if uid == 8 {
            // 8 is unread: only \Flagged goes away.
            m = message(uid, false);
            m.flags.system.remove(SystemFlags::FLAGGED);
        }
        changed.push(FlagChange {
            uid,
            flags: m.flags,
            modseq: 2,
        });
    }
    let delta = Delta {
        changed,
        vanished: vec![UidRange::single(9), UidRange::single(10)],
        new_messages: vec![message(30, false), message(31, true)],
        state_after: state(32),
        ..Delta::default()
    };
    fx.store.apply_delta(inbox, &delta).await.unwrap();
    // 5 and 7 read (-2), 6 unread again (+1), 9 read and 10 unread gone (-1 unread, -2
    // total), 30 unread and 31 read new (+1 unread, +2 total).
    assert_eq!(fx.of(inbox).await, (10, 20));

    // An expunged message with an EMAILID leaves a tombstone, which counts nowhere; a new
    // message in Archive takes it over and counts there.
    let id = fx.store.message_id(inbox, 11).await.unwrap().unwrap();
    let delta = Delta {
        vanished: vec![UidRange::single(11)],
        state_after: state(32),
        ..Delta::default()
    };
    fx.store.apply_delta(inbox, &delta).await.unwrap();
    assert_eq!(fx.of(inbox).await, (9, 19));
    fx.store
        .insert_window(archive, &state(1), &[])
        .await
        .unwrap();
    let delta = Delta {
        taken_over: vec![Takeover {
            from: id,
            uid: 3,
            flags: Flags::default(),
            modseq: 0,
            server_thread: None,
        }],
        state_after: state(4),
        ..Delta::default()
    };
    let applied = fx.store.apply_delta(archive, &delta).await.unwrap();
    assert_eq!(applied.taken_over, [3]);
    assert_eq!(fx.of(archive).await, (1, 1));
    assert_eq!(fx.of(inbox).await, (9, 19));

    // A UIDVALIDITY change empties the folder.
    fx.store.reset_folder(inbox, 2).await.unwrap();
    assert_eq!(fx.of(inbox).await, (0, 0));

    // A folder gone from the server's list goes with its rows; the others keep their counts.
    fx.folders(&["INBOX", "Archive"]).await;
    let counts = fx.counts().await;
    assert_eq!(counts.len(), 2);
    assert!(counts.iter().all(|(id, ..)| *id != old));
    assert_eq!(fx.of(archive).await, (1, 1));

    // A folder listed again starts from nothing.
    let ids = fx.folders(&["INBOX", "Archive", "Old"]).await;
    assert_eq!(fx.of(ids[2]).await, (0, 0));
}
