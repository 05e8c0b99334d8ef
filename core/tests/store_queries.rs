//! Store tests of reading, against real SQLite files in a temporary directory: paging that is
//! complete, ordered and stable while mail arrives, the query plans of the hot statements
//! (every stored row reached through an index), search over subjects, addresses and previews,
//! and threads built from references in any order, across folders and through merges.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use anvert_core::store::{HotQuery, MessageId, NewMessage, Role};

use crate::common::store_fixture::{
    Fixture, addr, folder, message, messages, new_account, state, uids_of,
};

#[tokio::test]
async fn paging_is_complete_ordered_and_stable_under_inserts() {
    let fx = Fixture::new().await;
    // 1,000 messages; dates repeat (about 3 share one) so the UID tie-break is exercised.
    let window: Vec<NewMessage> = (1..=1_000u32)
        .map(|uid| message(uid, 1_000_000 + i64::from((uid * 7919) % 997) / 3 * 60))
        .collect();
    fx.insert(fx.inbox, state(1, 1_001, 1_000, 1_000), &window)
        .await;

    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = fx.store.messages_page(fx.inbox, cursor, 37).await.unwrap();
        assert!(page.items.len() <= 37);
        all.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(all.len(), 1_000);
    assert_eq!(
        all.iter().map(|m| m.uid).collect::<BTreeSet<_>>().len(),
        1_000
    );
    for pair in all.windows(2) {
        assert!((pair[0].internal_date, pair[0].uid) > (pair[1].internal_date, pair[1].uid));
    }

    // Page part of the way, then new mail arrives on both ends.
    let mut seen_uids = Vec::new();
    let mut cursor = None;
    for _ in 0..3 {
        let page = fx.store.messages_page(fx.inbox, cursor, 50).await.unwrap();
        seen_uids.extend(uids_of(&page.items));
        cursor = page.next;
    }
    let newer: Vec<NewMessage> = (2_001..=2_010).map(|uid| message(uid, 9_000_000)).collect();
    let older: Vec<NewMessage> = (3_001..=3_010).map(|uid| message(uid, 1)).collect();
    fx.insert(fx.inbox, state(1, 3_011, 3_010, 1_020), &newer)
        .await;
    fx.insert(fx.inbox, state(1, 3_011, 3_010, 1_020), &older)
        .await;
    while let Some(next) = cursor {
        let page = fx
            .store
            .messages_page(fx.inbox, Some(next), 50)
            .await
            .unwrap();
        seen_uids.extend(uids_of(&page.items));
        cursor = page.next;
    }
    let distinct: BTreeSet<u32> = seen_uids.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seen_uids.len(),
        "no duplicates across inserts"
    );
    assert_eq!(
        seen_uids.len(),
        1_010,
        "the original 1,000 plus the 10 older ones"
    );
    assert!(distinct.iter().all(|uid| !(2_001..=2_010).contains(uid)));
    assert_eq!(
        seen_uids[1_000..],
        (3_001..=3_010).rev().collect::<Vec<_>>()
    );

    // A fresh first page starts with the newest mail.
    let first = fx.store.messages_page(fx.inbox, None, 10).await.unwrap();
    assert_eq!(first.items[0].uid, 2_010);
    assert!(first.next.is_some());
}

#[tokio::test]
async fn hot_queries_use_their_indexes() {
    let fx = Fixture::new().await;
    fx.insert(fx.inbox, state(1, 51, 50, 50), &messages(1..=50))
        .await;
    let plan = async |query| fx.store.query_plan(query).await.unwrap();
    let has = |plan: &[String], text: &str| plan.iter().any(|l| l.contains(text));

    let page = plan(HotQuery::MessagesPage).await;
    assert!(
        has(&page, "USING INDEX messages_by_date (folder_id=? AND"),
        "{page:?}"
    );
    assert!(!has(&page, "TEMP B-TREE"), "{page:?}");

    // The counts are kept (migration 0016): one primary-key lookup per folder, no count.
    let counts = plan(HotQuery::FolderCounts).await;
    assert!(
        has(&counts, "SEARCH c USING INTEGER PRIMARY KEY"),
        "{counts:?}"
    );
    assert!(!has(&counts, "messages"), "{counts:?}");
    assert!(!has(&counts, "TEMP B-TREE"), "{counts:?}");

    let search = plan(HotQuery::Search).await;
    assert!(has(&search, "VIRTUAL TABLE INDEX"), "{search:?}");

    let thread = plan(HotQuery::Thread).await;
    assert!(has(&thread, "INDEX messages_by_thread"), "{thread:?}");
    assert!(!has(&thread, "TEMP B-TREE"), "{thread:?}");

    // No hot statement scans a stored table: batches (json_each) and materialized batches
    // (`b`, `c`) are the only scans, and every stored row is reached through an index.
    for query in HotQuery::ALL {
        let plan = plan(query).await;
        let scans = plan.iter().filter(|l| l.starts_with("SCAN ")).filter(|l| {
            !l.contains("VIRTUAL TABLE")
                && *l != "SCAN b"
                && *l != "SCAN c"
                && *l != "SCAN CONSTANT ROW"
        });
        assert_eq!(scans.count(), 0, "{query:?}: {plan:#?}");
    }
    // Batches find their rows by (folder, uid), not by walking the folder.
    for query in [HotQuery::FlagChanges, HotQuery::Expunge] {
        let plan = plan(query).await;
        let by_uid = |l: &String| {
            l.starts_with("SEARCH m ")
                && l.contains("INDEX sqlite_autoindex_messages_1 (folder_id=? AND uid")
        };
        assert!(plan.iter().any(by_uid), "{query:?}: {plan:#?}");
    }
    // The index pass walks the waiting rows only, each message found by its rowid (as a
    // plain join, SQLite walked every message up to the batch's last id instead).
    let pass = plan(HotQuery::IndexWaiting).await;
    assert!(
        has(&pass, "SEARCH w USING INTEGER PRIMARY KEY (rowid<?)"),
        "{pass:#?}"
    );
    assert!(
        has(&pass, "SEARCH m USING INTEGER PRIMARY KEY (rowid=?)"),
        "{pass:#?}"
    );
    // Flags are written only to the rows that differ, each found by its rowid.
    let writes = plan(HotQuery::FlagWrites).await;
    assert!(
        has(
            &writes,
            "SEARCH messages USING INTEGER PRIMARY KEY (rowid=?)"
        ),
        "{writes:#?}"
    );
}

#[tokio::test]
async fn search_finds_subject_address_and_preview() {
    let fx = Fixture::new().await;
    let mut invoice = message(1, 100);
    invoice.subject = "Your invoice for März".into();
    invoice.from = vec![addr(Some("Billing Department"), "billing@shop.example")];
    invoice.preview = Some("Please find the amount due attached".into());
    let mut other = message(2, 200);
    other.subject = "Lunch?".into();
    other.cc = vec![addr(None, "bob@example.org")];
    other.preview = Some("tomorrow at noon".into());
    fx.insert(fx.inbox, state(1, 3, 2, 2), &[invoice, other])
        .await;

    assert_eq!(fx.found("invoice").await, [1]);
    assert_eq!(fx.found("marz").await, [1], "diacritics are folded");
    assert_eq!(fx.found("billing@shop.example").await, [1]);
    assert_eq!(fx.found("Department").await, [1]);
    assert_eq!(fx.found("bob@example.org").await, [2]);
    assert_eq!(fx.found("noon").await, [2]);
    assert_eq!(fx.found("amou").await, [1], "words match as prefixes");
    assert_eq!(fx.found("example").await, [2, 1], "newest first");
    assert!(fx.found("message").await.is_empty());
    assert!(
        fx.found("invoice noon").await.is_empty(),
        "all words must match"
    );
    assert!(
        fx.found("\"quoted\" OR NEAR( *").await.is_empty(),
        "no FTS5 syntax"
    );
    assert!(fx.found("   ").await.is_empty());

    // Another account's mail is not found; removed mail is not found.
    let home = fx.store.add_account(&new_account("Home")).await.unwrap();
    assert!(
        fx.store
            .search(home, "invoice", 10)
            .await
            .unwrap()
            .is_empty()
    );
    fx.store
        .apply_expunges(fx.inbox, &[1.into()], None)
        .await
        .unwrap();
    assert!(fx.found("invoice").await.is_empty());
}

#[tokio::test]
async fn threads_follow_references_in_any_order() {
    let fx = Fixture::new().await;
    let list = [
        folder("INBOX", Some(Role::Inbox)),
        folder("Sent", Some(Role::Sent)),
    ];
    let sent = fx.store.upsert_folders(fx.account, &list).await.unwrap()[1];
    let threaded = |uid: u32, date: i64, id: &str, refs: &[&str]| {
        let mut m = message(uid, date);
        m.message_id = Some(id.into());
        m.in_reply_to = refs.last().map(|r| (*r).into());
        m.references = refs.iter().map(|r| (*r).into()).collect();
        m
    };

    // A root and its reply in one window; the answer to the reply lands in Sent.
    let root = threaded(1, 10, "<root@x>", &[]);
    let reply = threaded(2, 20, "<reply@x>", &["<root@x>"]);
    fx.insert(fx.inbox, state(1, 3, 2, 2), &[root, reply]).await;
    let answer = threaded(1, 30, "<answer@x>", &["<root@x>", "<reply@x>"]);
    fx.insert(sent, state(9, 2, 1, 1), &[answer]).await;
    let id = fx.id_of(fx.inbox, 1).await;
    let conversation = fx.store.thread(id).await.unwrap();
    let dates: Vec<i64> = conversation.iter().map(|m| m.internal_date).collect();
    assert_eq!(dates, [10, 20, 30]);
    assert_eq!(conversation[2].folder, sent);

    // A child arrives before its parent; the parent (written without brackets) joins it.
    let child = threaded(3, 40, "<child@y>", &["<parent@y>"]);
    fx.insert(fx.inbox, state(1, 4, 3, 3), &[child]).await;
    fx.insert(
        fx.inbox,
        state(1, 5, 4, 4),
        &[threaded(4, 35, "parent@y", &[])],
    )
    .await;
    assert_eq!(fx.thread_of(fx.inbox, 3).await, [4, 3]);

    // Two unrelated threads merge when a message references both.
    let (a, b) = (threaded(5, 50, "<a@z>", &[]), threaded(6, 51, "<b@z>", &[]));
    fx.insert(fx.inbox, state(1, 7, 6, 6), &[a, b]).await;
    assert_eq!(fx.thread_of(fx.inbox, 5).await, [5]);
    let both = threaded(7, 52, "<both@z>", &["<a@z>", "<b@z>"]);
    fx.insert(fx.inbox, state(1, 8, 7, 7), &[both]).await;
    assert_eq!(fx.thread_of(fx.inbox, 6).await, [5, 6, 7]);
    let merged = fx.store.thread(fx.id_of(fx.inbox, 5).await).await.unwrap();
    assert!(merged.iter().all(|m| m.thread == merged[0].thread));

    // A message without any ids is alone; the other conversations were not touched.
    let mut lonely = message(8, 60);
    lonely.message_id = None;
    fx.insert(fx.inbox, state(1, 9, 8, 8), &[lonely]).await;
    assert_eq!(fx.thread_of(fx.inbox, 8).await, [8]);
    assert_eq!(fx.thread_of(fx.inbox, 2).await, [1, 2, 1]);
    assert!(
        fx.store
            .thread(MessageId(424_242))
            .await
            .unwrap()
            .is_empty()
    );
}
