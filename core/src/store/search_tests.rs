//! The walk for common words (`search_walk.rs`) finds what the usual plan finds, in the same
//! order: ties on the date, tombstones, other accounts' mail, a folder read whole, several
//! pages of the others, and the limits and words for which it gives up. Its thresholds are
//! small here (4 matches, folders of 40 read whole, pages of 7, 160 rows), so that these
//! folders take every path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use super::{by_matches, match_expression, walk};
use crate::store::{
    AccountId, AccountKind, FolderRecord, FolderSyncState, NewAccount, NewMessage, Store,
    test_support::store_with_folders,
};

fn message(uid: u32, date: i64, subject: &str) -> NewMessage {
    NewMessage {
        uid,
        internal_date: date,
        subject: subject.into(),
        ..NewMessage::default()
    }
}

fn state() -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(1),
        uidnext: Some(100_000),
        ..FolderSyncState::default()
    }
}

/// What the usual plan finds, and what the walk finds (`None`: it gave up).
async fn both(
    store: &Store,
    account: AccountId,
    word: &str,
    limit: u32,
) -> (Vec<i64>, Option<Vec<i64>>) {
    let expression = match_expression(word).unwrap();
    let mut conn = store.read().await.unwrap();
    let seek: Vec<i64> = by_matches(&mut conn, account, &expression, limit)
        .await
        .unwrap()
        .iter()
        .map(|r| crate::store::query::summary_from_row(r).unwrap().id.0)
        .collect();
    let walked: Option<Vec<i64>> = walk::newest_matches(&mut conn, account, &expression, limit)
        .await
        .unwrap()
        .map(|ids| ids.iter().map(|id| id.0).collect());
    drop(conn);
    if let Some(ids) = &walked {
        // The rows read back for the walk's ids come in the same order.
        let message_ids: Vec<_> = ids.iter().map(|id| crate::store::MessageId(*id)).collect();
        let read: Vec<i64> = store
            .summaries_of(&message_ids)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id.0)
            .collect();
        assert_eq!(&read, ids);
    }
    (seek, walked)
}

#[tokio::test]
async fn the_walk_finds_what_the_usual_plan_finds() {
    let (_dir, store, account, folders) = store_with_folders(&[
        ("INBOX", None),
        ("Archive", None),
        ("Lists", None),
        ("Small", None),
    ])
    .await;
    // 100 messages a folder, 30 in the last (read whole); dates repeat (ties broken by id),
    // "common" in most, "every3" in a third, "rare" in three.
    for (f, folder) in folders.iter().enumerate() {
        let count = if f == 3 { 30 } else { 100 };
        let batch: Vec<NewMessage> = (1..=count)
            .map(|uid| {
                let n = uid + 100 * f as u32;
                let mut subject = String::from("common");
                if n.is_multiple_of(3) {
                    subject.push_str(" every3");
                }
                if n.is_multiple_of(97) {
                    subject.push_str(" rare");
                }
                if n.is_multiple_of(10) {
                    subject = "other".into();
                }
                message(uid, i64::from(n % 37) * 1_000, &subject)
            })
            .collect();
        store
            .insert_window(*folder, &state(), &batch)
            .await
            .unwrap();
    }
    // Tombstones (rows kept for their EMAILID after a move) are never found: four of the
    // folder's newest, where the walk reads.
    sqlx::query(
        "UPDATE messages SET tombstone = 1 WHERE uid IN (36, 73, 35, 72) AND folder_id = ?1",
    )
    .bind(folders[0].0)
    .execute(&mut *store.writer.acquire().await.unwrap())
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET tombstone = 1 WHERE uid IN (30, 29) AND folder_id = ?1")
        .bind(folders[3].0)
        .execute(&mut *store.writer.acquire().await.unwrap())
        .await
        .unwrap();
    // Another account's matching mail, newer than all of this one's, is not found.
    let other = store
        .add_account(&NewAccount {
            name: "b".into(),
            kind: AccountKind::Imap,
            host: "h".into(),
            port: 993,
            security: "tls".into(),
            username: "v".into(),
        })
        .await
        .unwrap();
    let record = FolderRecord {
        name: "INBOX".into(),
        delimiter: Some("/".into()),
        role: None,
        subscribed: true,
        selectable: true,
    };
    let theirs = store.upsert_folders(other, &[record]).await.unwrap()[0];
    let batch: Vec<NewMessage> = (1..=20)
        .map(|uid| message(uid, 99_000, "common every3"))
        .collect();
    store.insert_window(theirs, &state(), &batch).await.unwrap();
    store.index_pending().await.unwrap();

    let mut walked = 0;
    for word in ["common", "every3", "comm", "other", "rare", "nothing"] {
        for limit in [1, 7, 20, 50, 1_000] {
            let (seek, walk) = both(&store, account, word, limit).await;
            if let Some(walk) = walk {
                assert_eq!(walk, seek, "{word} limit {limit}");
                walked += 1;
            }
            // The store's own choice gives the same.
            let found: Vec<i64> = store
                .search(account, word, limit)
                .await
                .unwrap()
                .iter()
                .map(|m| m.id.0)
                .collect();
            assert_eq!(found, seek, "{word} limit {limit}");
        }
    }
    // The walk ran for the common words at small limits, and gave up where it should: a
    // rare word, a limit over 500, more than 160 rows to read.
    assert!(walked >= 8, "{walked}");
    assert!(both(&store, account, "rare", 7).await.1.is_none());
    assert!(both(&store, account, "common", 1_000).await.1.is_none());
    assert!(both(&store, account, "common", 50).await.1.is_none());
    assert!(both(&store, account, "common", 20).await.1.is_some());
}
