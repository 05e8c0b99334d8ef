//! Store tests against real SQLite files in a temporary directory: round trips, paging,
//! query plans, deltas and their atomicity, UIDVALIDITY resets, folder list changes, search,
//! threading, cascades, reopening, the byte ledger and the speed of a window insert.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeSet, ops::RangeInclusive, path::PathBuf, time::Instant};

use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use anvert_core::{
    Error,
    store::{
        AccountId, AccountKind, Address, Delta, DownloadState, FlagChange, Flags, FolderId,
        FolderRecord, FolderSyncState, HotQuery, MessageDetail, MessageId, MessageSummary,
        NewAccount, NewMessage, NewPart, PartDetail, Role, Store, SystemFlags, UidRange,
    },
};

/// A store in a fresh file with one account and its INBOX.
struct Fixture {
    dir: TempDir,
    store: Store,
    account: AccountId,
    inbox: FolderId,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(db_path(&dir)).await.unwrap();
        let account = store.add_account(&new_account("Work")).await.unwrap();
        let inbox = folder("INBOX", Some(Role::Inbox));
        let ids = store.upsert_folders(account, &[inbox]).await.unwrap();
        Fixture {
            dir,
            store,
            account,
            inbox: ids[0],
        }
    }

    async fn insert(&self, folder: FolderId, state: FolderSyncState, messages: &[NewMessage]) {
        let store = &self.store;
        store.insert_window(folder, &state, messages).await.unwrap();
    }

    async fn uids(&self, folder: FolderId) -> Vec<u32> {
        self.store.uids(folder).await.unwrap()
    }

    async fn state(&self, folder: FolderId) -> FolderSyncState {
        self.store.folder_state(folder).await.unwrap()
    }

    /// The id of the message with this UID in the folder.
    async fn id_of(&self, folder: FolderId, uid: u32) -> MessageId {
        let page = self.store.messages_page(folder, None, 500).await.unwrap();
        page.items.iter().find(|m| m.uid == uid).unwrap().id
    }

    async fn detail(&self, folder: FolderId, uid: u32) -> MessageDetail {
        let id = self.id_of(folder, uid).await;
        self.store.message(id).await.unwrap().unwrap()
    }

    /// The UIDs the account's search finds, in result order.
    async fn found(&self, query: &str) -> Vec<u32> {
        let found = self.store.search(self.account, query, 100).await.unwrap();
        uids_of(&found)
    }

    /// The UIDs of the conversation of the message with this UID in the folder.
    async fn thread_of(&self, folder: FolderId, uid: u32) -> Vec<u32> {
        let id = self.id_of(folder, uid).await;
        uids_of(&self.store.thread(id).await.unwrap())
    }

    /// (unread, total) of the account's first folder.
    async fn counts(&self) -> (u32, u32) {
        let folders = self.store.folders(self.account).await.unwrap();
        (folders[0].unread, folders[0].total)
    }

    /// A raw connection for checks the public API does not offer.
    async fn raw(&self) -> SqliteConnection {
        let url = format!("sqlite://{}", db_path(&self.dir).display());
        SqliteConnection::connect(&url).await.unwrap()
    }
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("anvert.sqlite3")
}

fn uids_of(messages: &[MessageSummary]) -> Vec<u32> {
    messages.iter().map(|m| m.uid).collect()
}

fn new_account(name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        kind: AccountKind::Imap,
        host: "imap.example.com".into(),
        port: 993,
        security: "tls".into(),
        username: "me@example.com".into(),
    }
}

fn folder(name: &str, role: Option<Role>) -> FolderRecord {
    let delimiter = Some("/".into());
    FolderRecord {
        name: name.into(),
        delimiter,
        role,
        subscribed: true,
        selectable: true,
    }
}

fn addr(name: Option<&str>, email: &str) -> Address {
    Address {
        name: name.map(Into::into),
        email: email.into(),
    }
}

fn state(uidvalidity: u32, uidnext: u32, modseq: u64, exists: u32) -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(uidvalidity),
        uidnext: Some(uidnext),
        highest_modseq: Some(modseq),
        lowest_uid_synced: Some(1),
        exists,
    }
}

/// A message with a text and an HTML alternative and one attachment.
fn message(uid: u32, internal_date: i64) -> NewMessage {
    NewMessage {
        uid,
        modseq: u64::from(uid),
        internal_date,
        date: Some(internal_date - 60),
        size: 2_000 + uid,
        subject: format!("Message number {uid}"),
        from: vec![addr(Some("Alice Example"), "alice@example.com")],
        to: vec![addr(None, "me@example.com")],
        message_id: Some(format!("<m{uid}@example.com>")),
        preview: Some(format!("preview text {uid}")),
        parts: vec![
            part("1.1", "text/plain", false),
            part("1.2", "text/html", false),
            part("2", "application/pdf", true),
        ],
        ..NewMessage::default()
    }
}

/// Messages for these UIDs, each dated by its UID.
fn messages(uids: RangeInclusive<u32>) -> Vec<NewMessage> {
    uids.map(|uid| message(uid, i64::from(uid))).collect()
}

fn part(section: &str, mime_type: &str, is_attachment: bool) -> NewPart {
    NewPart {
        section: section.into(),
        mime_type: mime_type.into(),
        charset: (!is_attachment).then(|| "utf-8".into()),
        encoding: Some(
            if is_attachment {
                "base64"
            } else {
                "quoted-printable"
            }
            .into(),
        ),
        size: 1_234,
        lines: (!is_attachment).then_some(40),
        disposition: is_attachment.then(|| "attachment".into()),
        filename: is_attachment.then(|| "Rechnung März.pdf".into()),
        content_id: None,
        is_attachment,
    }
}

fn seen() -> Flags {
    Flags {
        system: SystemFlags::SEEN,
        keywords: Vec::new(),
    }
}

fn flag_change(uid: u32, flags: Flags, modseq: u64) -> FlagChange {
    FlagChange { uid, flags, modseq }
}

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

#[tokio::test]
async fn removing_an_account_removes_everything() {
    let fx = Fixture::new().await;
    let home = fx.store.add_account(&new_account("Home")).await.unwrap();
    let home_list = [folder("INBOX", None)];
    let home_inbox = fx.store.upsert_folders(home, &home_list).await.unwrap()[0];
    fx.insert(fx.inbox, state(1, 21, 20, 20), &messages(1..=20))
        .await;
    fx.insert(home_inbox, state(1, 21, 20, 20), &messages(1..=20))
        .await;
    fx.store
        .add_usage(fx.account, "wifi", "bodies", 10, 20)
        .await
        .unwrap();

    fx.store.remove_account(fx.account).await.unwrap();
    let accounts = fx.store.accounts().await.unwrap();
    assert_eq!(accounts.iter().map(|a| a.id).collect::<Vec<_>>(), [home]);
    assert!(fx.store.folders(fx.account).await.unwrap().is_empty());
    assert!(fx.store.usage(fx.account).await.unwrap().is_empty());
    let again = fx.store.remove_account(fx.account).await;
    assert!(matches!(
        again,
        Err(Error::NotFound {
            what: "account",
            ..
        })
    ));

    // Only the other account's rows are left, in every table and in the search index.
    let mut raw = fx.raw().await;
    let remaining = [
        ("folders", 1),
        ("messages", 20),
        ("messages, json_each(messages.parts)", 60),
        ("thread_keys", 20),
        ("byte_ledger", 0),
        ("message_search_docsize", 20),
    ];
    for (table, expected) in remaining {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(count, expected, "{table}");
    }
    assert_eq!(
        fx.store.search(home, "message", 100).await.unwrap().len(),
        20
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_run_once() {
    let fx = Fixture::new().await;
    fx.insert(fx.inbox, state(3, 2, 1, 1), &[message(1, 1)])
        .await;
    fx.store.close().await;
    let Fixture {
        dir,
        account,
        inbox,
        ..
    } = fx;

    for _ in 0..2 {
        let store = Store::open(db_path(&dir)).await.unwrap();
        let accounts = store.accounts().await.unwrap();
        assert_eq!(
            (accounts[0].id, accounts[0].kind),
            (account, AccountKind::Imap)
        );
        assert_eq!(store.uids(inbox).await.unwrap(), [1]);
        assert_eq!(store.folder_state(inbox).await.unwrap(), state(3, 2, 1, 1));
        store.close().await;
    }
    let url = format!("sqlite://{}", db_path(&dir).display());
    let mut raw = SqliteConnection::connect(&url).await.unwrap();
    // The schema version is SQLite's user_version (core/src/store/migrate.rs).
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    // Every migration file, applied once (a second run would fail on its CREATE TABLE): the
    // version is the highest file's number (a number assigned to a branch not merged yet is
    // a placeholder in `migrate.rs`).
    let highest = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .filter_map(|p| p.file_name()?.to_str()?.get(..4)?.parse::<i64>().ok())
        .max()
        .unwrap();
    assert_eq!(applied, highest);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
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
async fn ledger_adds_up_by_kind_and_purpose() {
    let fx = Fixture::new().await;
    fx.store
        .add_usage(fx.account, "wifi", "bodies", 100, 1_000)
        .await
        .unwrap();
    fx.store
        .add_usage(fx.account, "wifi", "bodies", 1, 10)
        .await
        .unwrap();
    fx.store
        .add_usage(fx.account, "cellular", "sync_metadata", 5, 50)
        .await
        .unwrap();
    let usage = fx.store.usage(fx.account).await.unwrap();
    let rows: Vec<(&str, &str, u64, u64)> = usage
        .iter()
        .map(|u| {
            (
                u.network_kind.as_str(),
                u.purpose.as_str(),
                u.bytes_up,
                u.bytes_down,
            )
        })
        .collect();
    let expected = [
        ("cellular", "sync_metadata", 5, 50),
        ("wifi", "bodies", 101, 1_010),
    ];
    assert_eq!(rows, expected);
    let too_big = fx
        .store
        .add_usage(fx.account, "wifi", "bodies", u64::MAX, 0)
        .await;
    assert!(too_big.is_err());
    let unknown = fx
        .store
        .add_usage(AccountId(77), "wifi", "bodies", 1, 1)
        .await;
    assert!(matches!(
        unknown,
        Err(Error::NotFound {
            what: "account",
            ..
        })
    ));
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
