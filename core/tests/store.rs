//! Store tests against real SQLite files in a temporary directory: round trips, paging,
//! query plans, deltas and their atomicity, UIDVALIDITY resets, folder list changes, search,
//! threading, cascades, reopening, the byte ledger and the speed of a window insert.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::{collections::BTreeSet, time::Instant};

use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use anvert_core::{
    Error,
    store::{
        AccountId, AccountKind, Address, Cursor, Delta, DownloadState, FlagChange, Flags, FolderId,
        FolderRecord, FolderSyncState, HotQuery, MessageDetail, MessageId, MessageSummary,
        NewAccount, NewMessage, NewPart, Role, Store, SystemFlags, UidRange,
    },
};

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
        let ids = store
            .upsert_folders(account, &[folder("INBOX", Some(Role::Inbox))])
            .await
            .unwrap();
        Fixture {
            dir,
            store,
            account,
            inbox: ids[0],
        }
    }

    /// The id of the message with this UID in the folder.
    async fn id_of(&self, folder: FolderId, uid: u32) -> MessageId {
        let page = self.store.messages_page(folder, None, 500).await.unwrap();
        page.items
            .iter()
            .find(|m| m.uid == uid)
            .map(|m| m.id)
            .unwrap()
    }

    /// A raw connection for checks the public API does not offer.
    async fn raw(&self) -> SqliteConnection {
        let url = format!("sqlite://{}", db_path(&self.dir).display());
        SqliteConnection::connect(&url).await.unwrap()
    }
}

fn db_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("anvert.sqlite3")
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
    FolderRecord {
        name: name.into(),
        delimiter: Some("/".into()),
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

/// A plain message with a text and an HTML alternative and one attachment.
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

async fn all_pages(store: &Store, folder: FolderId, limit: u32) -> Vec<MessageSummary> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.messages_page(folder, cursor, limit).await.unwrap();
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[tokio::test]
async fn window_round_trips_exactly() {
    let fx = Fixture::new().await;
    let mut full = message(7, 1_700_000_000);
    full.flags = Flags {
        system: SystemFlags::SEEN | SystemFlags::FLAGGED,
        keywords: vec!["$Forwarded".into(), "$label1".into()],
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
    let window = vec![full.clone(), bare.clone()];

    let after = state(42, 9, 8, 2);
    fx.store
        .insert_window(fx.inbox, &after, &window)
        .await
        .unwrap();
    assert_eq!(fx.store.folder_state(fx.inbox).await.unwrap(), after);
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), vec![7, 8]);
    assert_eq!(fx.store.message_count(fx.inbox).await.unwrap(), 2);

    for original in window {
        let id = fx.id_of(fx.inbox, original.uid).await;
        let detail = fx.store.message(id).await.unwrap().unwrap();
        assert_same(&detail, &original);
        assert_eq!(detail.summary.id, id);
        assert_eq!(detail.summary.folder, fx.inbox);
    }
    assert_eq!(fx.store.message(MessageId(999_999)).await.unwrap(), None);
}

/// Compares what was read back with what was stored, field by field.
fn assert_same(detail: &MessageDetail, m: &NewMessage) {
    let s = &detail.summary;
    assert_eq!(s.uid, m.uid);
    assert_eq!(s.flags, m.flags);
    assert_eq!(s.internal_date, m.internal_date);
    assert_eq!(s.date, m.date);
    assert_eq!(s.size, m.size);
    assert_eq!(s.subject, m.subject);
    assert_eq!(s.from, m.from);
    assert_eq!(s.to, m.to);
    assert_eq!(s.preview, m.preview);
    assert_eq!(s.has_attachments, m.parts.iter().any(|p| p.is_attachment));
    assert_eq!(detail.modseq, m.modseq);
    assert_eq!(detail.sender, m.sender);
    assert_eq!(detail.reply_to, m.reply_to);
    assert_eq!(detail.cc, m.cc);
    assert_eq!(detail.bcc, m.bcc);
    assert_eq!(detail.message_id, m.message_id);
    assert_eq!(detail.in_reply_to, m.in_reply_to);
    assert_eq!(detail.references, m.references);
    assert_eq!(detail.parts.len(), m.parts.len());
    for (got, want) in detail.parts.iter().zip(&m.parts) {
        assert_eq!(got.section, want.section);
        assert_eq!(got.mime_type, want.mime_type);
        assert_eq!(got.charset, want.charset);
        assert_eq!(got.encoding, want.encoding);
        assert_eq!(got.size, want.size);
        assert_eq!(got.lines, want.lines);
        assert_eq!(got.disposition, want.disposition);
        assert_eq!(got.filename, want.filename);
        assert_eq!(got.content_id, want.content_id);
        assert_eq!(got.is_attachment, want.is_attachment);
        assert_eq!(got.download_state, DownloadState::None);
    }
}

#[tokio::test]
async fn reinserting_keeps_download_state_and_adds_preview() {
    let fx = Fixture::new().await;
    let mut first = message(1, 1_000);
    first.preview = None;
    fx.store
        .insert_window(fx.inbox, &state(1, 2, 1, 1), &[first.clone()])
        .await
        .unwrap();
    let id = fx.id_of(fx.inbox, 1).await;
    fx.store
        .set_download_state(id, "1.1", DownloadState::Complete)
        .await
        .unwrap();
    let err = fx
        .store
        .set_download_state(id, "9", DownloadState::Partial)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));

    let mut again = first.clone();
    again.preview = Some("now with a preview".into());
    again.flags = seen();
    fx.store
        .insert_window(fx.inbox, &state(1, 2, 1, 1), &[again])
        .await
        .unwrap();
    let detail = fx.store.message(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.id, id, "an update keeps the message id");
    assert_eq!(
        detail.summary.preview.as_deref(),
        Some("now with a preview")
    );
    assert_eq!(detail.summary.flags, seen());
    assert_eq!(detail.parts[0].download_state, DownloadState::Complete);
    assert_eq!(detail.parts[1].download_state, DownloadState::None);

    // A later window without a preview does not erase the one stored.
    fx.store
        .insert_window(fx.inbox, &state(1, 2, 1, 1), &[first])
        .await
        .unwrap();
    let detail = fx.store.message(id).await.unwrap().unwrap();
    assert_eq!(
        detail.summary.preview.as_deref(),
        Some("now with a preview")
    );
    assert_eq!(
        fx.store
            .search(fx.account, "now preview", 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn paging_is_complete_ordered_and_stable_under_inserts() {
    let fx = Fixture::new().await;
    // 1,000 messages; dates repeat (every 3 share one) so the UID tie-break is exercised.
    let window: Vec<NewMessage> = (1..=1_000u32)
        .map(|uid| message(uid, 1_000_000 + i64::from((uid * 7919) % 997) / 3 * 60))
        .collect();
    fx.store
        .insert_window(fx.inbox, &state(1, 1_001, 1_000, 1_000), &window)
        .await
        .unwrap();

    let all = all_pages(&fx.store, fx.inbox, 37).await;
    assert_eq!(all.len(), 1_000);
    let uids: BTreeSet<u32> = all.iter().map(|m| m.uid).collect();
    assert_eq!(uids.len(), 1_000, "no duplicates");
    for pair in all.windows(2) {
        assert!((pair[0].internal_date, pair[0].uid) > (pair[1].internal_date, pair[1].uid));
    }

    // Page part of the way, then new mail arrives on both ends.
    let mut seen_uids = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..3 {
        let page = fx.store.messages_page(fx.inbox, cursor, 50).await.unwrap();
        seen_uids.extend(page.items.iter().map(|m| m.uid));
        cursor = page.next;
    }
    let newer: Vec<NewMessage> = (2_001..=2_010).map(|uid| message(uid, 9_000_000)).collect();
    let older: Vec<NewMessage> = (3_001..=3_010).map(|uid| message(uid, 1)).collect();
    fx.store
        .insert_window(fx.inbox, &state(1, 3_011, 3_010, 1_020), &newer)
        .await
        .unwrap();
    fx.store
        .insert_window(fx.inbox, &state(1, 3_011, 3_010, 1_020), &older)
        .await
        .unwrap();
    while let Some(next) = cursor {
        let page = fx
            .store
            .messages_page(fx.inbox, Some(next), 50)
            .await
            .unwrap();
        seen_uids.extend(page.items.iter().map(|m| m.uid));
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
        &seen_uids[1_000..],
        &(3_001..=3_010).rev().collect::<Vec<_>>()[..]
    );

    // The fresh first page starts with the newest mail.
    let first = fx.store.messages_page(fx.inbox, None, 10).await.unwrap();
    assert_eq!(first.items[0].uid, 2_010);
    assert!(first.next.is_some());
}

#[tokio::test]
async fn hot_queries_use_their_indexes() {
    let fx = Fixture::new().await;
    let window: Vec<NewMessage> = (1..=50).map(|uid| message(uid, i64::from(uid))).collect();
    fx.store
        .insert_window(fx.inbox, &state(1, 51, 50, 50), &window)
        .await
        .unwrap();

    let page = fx.store.query_plan(HotQuery::MessagesPage).await.unwrap();
    assert!(
        page.iter()
            .any(|l| l.contains("USING INDEX messages_by_date")),
        "{page:?}"
    );
    assert!(!page.iter().any(|l| l.contains("TEMP B-TREE")), "{page:?}");

    let counts = fx.store.query_plan(HotQuery::FolderCounts).await.unwrap();
    let covered = counts
        .iter()
        .filter(|l| l.contains("COVERING INDEX messages_by_flags"));
    assert_eq!(covered.count(), 2, "{counts:?}");
    assert!(
        !counts.iter().any(|l| l.contains("TEMP B-TREE")),
        "{counts:?}"
    );

    let search = fx.store.query_plan(HotQuery::Search).await.unwrap();
    assert!(search.iter().any(|l| l.contains("VIRTUAL TABLE INDEX")), "{search:?}");

    let thread = fx.store.query_plan(HotQuery::Thread).await.unwrap();
    assert!(thread.iter().any(|l| l.contains("INDEX messages_by_thread")), "{thread:?}");
    assert!(!thread.iter().any(|l| l.contains("TEMP B-TREE")), "{thread:?}");

    // No hot statement scans a whole table: batches (json_each) are the outer loop and every
    // stored row is reached through an index.
    for query in HotQuery::ALL {
        let plan = fx.store.query_plan(query).await.unwrap();
        let scans: Vec<&String> = plan
            .iter()
            .filter(|l| l.starts_with("SCAN ") && !l.contains("VIRTUAL TABLE"))
            .filter(|l| !l.starts_with("SCAN c") && !l.starts_with("SCAN CONSTANT ROW"))
            .collect();
        assert!(scans.is_empty(), "{query:?} scans: {plan:#?}");
    }
    // Batches find their rows by (folder, uid), not by walking the folder.
    for query in [HotQuery::InsertParts, HotQuery::FlagChanges, HotQuery::Expunge] {
        let plan = fx.store.query_plan(query).await.unwrap();
        let by_uid = "INDEX sqlite_autoindex_messages_1 (folder_id=? AND uid";
        let found = plan.iter().any(|l| l.starts_with("SEARCH m ") && l.contains(by_uid));
        assert!(found, "{query:?}: {plan:#?}");
    }
}

#[tokio::test]
async fn folder_counts_follow_flags() {
    let fx = Fixture::new().await;
    let mut window: Vec<NewMessage> = (1..=10).map(|uid| message(uid, i64::from(uid))).collect();
    for m in &mut window[..4] {
        m.flags = seen();
    }
    fx.store
        .insert_window(fx.inbox, &state(1, 11, 10, 10), &window)
        .await
        .unwrap();
    let folders = fx.store.folders(fx.account).await.unwrap();
    assert_eq!((folders[0].unread, folders[0].total), (6, 10));
    assert_eq!(folders[0].role, Some(Role::Inbox));

    let changes: Vec<FlagChange> = (5..=7)
        .map(|uid| FlagChange {
            uid,
            flags: seen(),
            modseq: 20,
        })
        .collect();
    let changed = fx
        .store
        .apply_flag_changes(fx.inbox, &changes, Some(20))
        .await
        .unwrap();
    assert_eq!(changed, 3);
    assert_eq!(
        fx.store
            .folder_state(fx.inbox)
            .await
            .unwrap()
            .highest_modseq,
        Some(20)
    );
    let folders = fx.store.folders(fx.account).await.unwrap();
    assert_eq!((folders[0].unread, folders[0].total), (3, 10));

    // An older change does not undo a newer one.
    let stale = [FlagChange {
        uid: 5,
        flags: Flags::default(),
        modseq: 19,
    }];
    assert_eq!(
        fx.store
            .apply_flag_changes(fx.inbox, &stale, None)
            .await
            .unwrap(),
        0
    );

    let vanished = [UidRange::new(2, 1), 9.into()];
    let removed = fx
        .store
        .apply_expunges(fx.inbox, &vanished, Some(21))
        .await
        .unwrap();
    assert_eq!(removed, 3);
    let folders = fx.store.folders(fx.account).await.unwrap();
    assert_eq!((folders[0].unread, folders[0].total), (2, 7));
    assert_eq!(
        fx.store
            .folder_state(fx.inbox)
            .await
            .unwrap()
            .highest_modseq,
        Some(21)
    );
}

#[tokio::test]
async fn delta_applies_everything_in_one_transaction() {
    let fx = Fixture::new().await;
    let window: Vec<NewMessage> = (1..=5).map(|uid| message(uid, i64::from(uid))).collect();
    let before = state(1, 6, 5, 5);
    fx.store
        .insert_window(fx.inbox, &before, &window)
        .await
        .unwrap();

    // A delta whose last new message is invalid ("TEXT" is no part number): nothing may stick.
    let mut broken = message(7, 7);
    broken.parts.push(part("TEXT", "text/plain", false));
    let failing = Delta {
        changed: vec![FlagChange {
            uid: 1,
            flags: seen(),
            modseq: 9,
        }],
        vanished: vec![UidRange::new(2, 3)],
        new_messages: vec![message(6, 6), broken],
        state_after: state(1, 8, 9, 5),
    };
    assert!(matches!(
        fx.store.apply_delta(fx.inbox, &failing).await,
        Err(Error::Store { .. })
    ));
    assert_eq!(fx.store.folder_state(fx.inbox).await.unwrap(), before);
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), vec![1, 2, 3, 4, 5]);
    let one = fx
        .store
        .message(fx.id_of(fx.inbox, 1).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.summary.flags, Flags::default());
    assert!(
        fx.store
            .search(fx.account, "number 6", 10)
            .await
            .unwrap()
            .is_empty()
    );

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
    assert_eq!(
        fx.store.folder_state(fx.inbox).await.unwrap(),
        delta.state_after
    );
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), vec![1, 4, 5, 6]);
    let one = fx
        .store
        .message(fx.id_of(fx.inbox, 1).await)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((one.summary.flags, one.modseq), (seen(), 9));

    // MODSEQ values beyond i64 are refused, not wrapped.
    let mut huge = message(10, 10);
    huge.modseq = u64::MAX;
    let err = fx
        .store
        .insert_window(fx.inbox, &delta.state_after, &[huge])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Store { source: None, .. }), "{err:?}");
}

#[tokio::test]
async fn uidvalidity_change_resets_the_folder() {
    let fx = Fixture::new().await;
    let window: Vec<NewMessage> = (1..=3).map(|uid| message(uid, i64::from(uid))).collect();
    fx.store
        .insert_window(fx.inbox, &state(100, 4, 3, 3), &window)
        .await
        .unwrap();

    // Writing a different generation without a reset is refused.
    let other = state(200, 2, 1, 1);
    assert!(fx.store.set_folder_state(fx.inbox, &other).await.is_err());
    assert!(
        fx.store
            .insert_window(fx.inbox, &other, &[message(1, 50)])
            .await
            .is_err()
    );
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), vec![1, 2, 3]);

    assert_eq!(fx.store.reset_folder(fx.inbox, 200).await.unwrap(), 3);
    let reset = fx.store.folder_state(fx.inbox).await.unwrap();
    assert_eq!(
        reset,
        FolderSyncState {
            uidvalidity: Some(200),
            ..FolderSyncState::default()
        }
    );
    assert!(fx.store.uids(fx.inbox).await.unwrap().is_empty());
    assert!(
        fx.store
            .search(fx.account, "message", 10)
            .await
            .unwrap()
            .is_empty()
    );

    fx.store
        .insert_window(fx.inbox, &other, &[message(1, 50)])
        .await
        .unwrap();
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), vec![1]);
    let err = fx
        .store
        .reset_folder(FolderId(12_345), 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { what: "folder", .. }));
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
    fx.store
        .insert_window(ids[0], &state(1, 2, 1, 1), &[message(1, 1)])
        .await
        .unwrap();
    let mut old_message = message(1, 2);
    old_message.subject = "Zeppelin".into();
    fx.store
        .insert_window(ids[2], &state(5, 2, 1, 1), &[old_message])
        .await
        .unwrap();

    // "Projects/Old" was renamed to "Projects/New"; "Sent" lost its role and subscription.
    let mut sent = folder("Sent", None);
    sent.subscribed = false;
    let renamed = [
        folder("INBOX", Some(Role::Inbox)),
        sent,
        folder("Projects/New", None),
    ];
    let new_ids = fx.store.upsert_folders(fx.account, &renamed).await.unwrap();
    assert_eq!(&new_ids[..2], &ids[..2], "surviving folders keep their ids");
    assert_ne!(new_ids[2], ids[2]);

    let folders = fx.store.folders(fx.account).await.unwrap();
    let names: Vec<&str> = folders.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["INBOX", "Projects/New", "Sent"]);
    assert_eq!(folders[2].role, None);
    assert!(!folders[2].subscribed);
    assert_eq!(folders[0].total, 1);
    assert_eq!(
        fx.store.folder_state(fx.inbox).await.unwrap(),
        state(1, 2, 1, 1)
    );
    assert!(matches!(
        fx.store.folder_state(ids[2]).await,
        Err(Error::NotFound { what: "folder", .. })
    ));
    assert!(
        fx.store
            .search(fx.account, "zeppelin", 10)
            .await
            .unwrap()
            .is_empty()
    );

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
    fx.store
        .insert_window(fx.inbox, &state(1, 3, 2, 2), &[invoice, other])
        .await
        .unwrap();

    let uids = |found: Vec<MessageSummary>| found.iter().map(|m| m.uid).collect::<Vec<_>>();
    let search = |q: &'static str| fx.store.search(fx.account, q, 10);
    assert_eq!(uids(search("invoice").await.unwrap()), [1]);
    assert_eq!(
        uids(search("marz").await.unwrap()),
        [1],
        "diacritics are folded"
    );
    assert_eq!(uids(search("billing@shop.example").await.unwrap()), [1]);
    assert_eq!(uids(search("department").await.unwrap()), [1]);
    assert_eq!(uids(search("bob@example.org").await.unwrap()), [2]);
    assert_eq!(uids(search("noon").await.unwrap()), [2]);
    assert_eq!(
        uids(search("amou").await.unwrap()),
        [1],
        "words match as prefixes"
    );
    assert_eq!(uids(search("message").await.unwrap()), Vec::<u32>::new());
    assert_eq!(
        uids(search("example").await.unwrap()),
        [2, 1],
        "newest first"
    );
    assert_eq!(
        uids(search("invoice noon").await.unwrap()),
        Vec::<u32>::new()
    );
    assert_eq!(
        uids(search("\"quoted\" OR NEAR( *").await.unwrap()),
        Vec::<u32>::new()
    );
    assert!(search("   ").await.unwrap().is_empty());

    // Another account's mail is not found; removed mail is not found.
    let other_account = fx.store.add_account(&new_account("Home")).await.unwrap();
    assert!(
        fx.store
            .search(other_account, "invoice", 10)
            .await
            .unwrap()
            .is_empty()
    );
    fx.store
        .apply_expunges(fx.inbox, &[1.into()], None)
        .await
        .unwrap();
    assert!(search("invoice").await.unwrap().is_empty());
}

#[tokio::test]
async fn threads_follow_references_in_any_order() {
    let fx = Fixture::new().await;
    let list = [
        folder("INBOX", Some(Role::Inbox)),
        folder("Sent", Some(Role::Sent)),
    ];
    let sent = fx.store.upsert_folders(fx.account, &list).await.unwrap()[1];
    let threaded = |uid: u32, date: i64, id: &str, reply_to: Option<&str>, refs: &[&str]| {
        let mut m = message(uid, date);
        m.message_id = Some(id.into());
        m.in_reply_to = reply_to.map(Into::into);
        m.references = refs.iter().map(|r| (*r).into()).collect();
        m
    };

    // A root and its reply, in one window; the reply to the reply lands in Sent.
    let root = threaded(1, 10, "<root@x>", None, &[]);
    let reply = threaded(2, 20, "<reply@x>", Some("<root@x>"), &["<root@x>"]);
    fx.store
        .insert_window(fx.inbox, &state(1, 3, 2, 2), &[root, reply])
        .await
        .unwrap();
    let answer = threaded(
        1,
        30,
        "<answer@x>",
        Some("<reply@x>"),
        &["<root@x>", "<reply@x>"],
    );
    fx.store
        .insert_window(sent, &state(9, 2, 1, 1), &[answer])
        .await
        .unwrap();
    let conversation = fx.store.thread(fx.id_of(fx.inbox, 1).await).await.unwrap();
    let dates: Vec<i64> = conversation.iter().map(|m| m.internal_date).collect();
    assert_eq!(dates, [10, 20, 30]);
    assert_eq!(conversation[2].folder, sent);

    // A child arrives before its parent; then the parent (without brackets) joins it.
    let child = threaded(3, 40, "<child@y>", Some("<parent@y>"), &["<parent@y>"]);
    fx.store
        .insert_window(fx.inbox, &state(1, 4, 3, 3), &[child])
        .await
        .unwrap();
    let parent = threaded(4, 35, "parent@y", None, &[]);
    fx.store
        .insert_window(fx.inbox, &state(1, 5, 4, 4), &[parent])
        .await
        .unwrap();
    let conversation = fx.store.thread(fx.id_of(fx.inbox, 3).await).await.unwrap();
    assert_eq!(
        conversation.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [4, 3]
    );

    // Two unrelated threads merge when a message references both.
    let a = threaded(5, 50, "<a@z>", None, &[]);
    let b = threaded(6, 51, "<b@z>", None, &[]);
    fx.store
        .insert_window(fx.inbox, &state(1, 7, 6, 6), &[a, b])
        .await
        .unwrap();
    let a_thread = fx.store.thread(fx.id_of(fx.inbox, 5).await).await.unwrap();
    assert_eq!(a_thread.len(), 1);
    let both = threaded(7, 52, "<both@z>", Some("<b@z>"), &["<a@z>", "<b@z>"]);
    fx.store
        .insert_window(fx.inbox, &state(1, 8, 7, 7), &[both])
        .await
        .unwrap();
    let merged = fx.store.thread(fx.id_of(fx.inbox, 6).await).await.unwrap();
    assert_eq!(merged.iter().map(|m| m.uid).collect::<Vec<_>>(), [5, 6, 7]);
    assert!(merged.iter().all(|m| m.thread == merged[0].thread));

    // A message without any ids is alone; the first conversation was not touched.
    let mut lonely = message(8, 60);
    lonely.message_id = None;
    fx.store
        .insert_window(fx.inbox, &state(1, 9, 8, 8), &[lonely])
        .await
        .unwrap();
    assert_eq!(
        fx.store
            .thread(fx.id_of(fx.inbox, 8).await)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        fx.store
            .thread(fx.id_of(fx.inbox, 2).await)
            .await
            .unwrap()
            .len(),
        3
    );
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
    let keep = fx.store.add_account(&new_account("Home")).await.unwrap();
    let keep_inbox = fx
        .store
        .upsert_folders(keep, &[folder("INBOX", None)])
        .await
        .unwrap()[0];
    let window: Vec<NewMessage> = (1..=20).map(|uid| message(uid, i64::from(uid))).collect();
    fx.store
        .insert_window(fx.inbox, &state(1, 21, 20, 20), &window)
        .await
        .unwrap();
    fx.store
        .insert_window(keep_inbox, &state(1, 21, 20, 20), &window)
        .await
        .unwrap();
    fx.store
        .add_usage(fx.account, "wifi", "bodies", 10, 20)
        .await
        .unwrap();

    fx.store.remove_account(fx.account).await.unwrap();
    let accounts = fx.store.accounts().await.unwrap();
    assert_eq!(accounts.iter().map(|a| a.id).collect::<Vec<_>>(), [keep]);
    assert!(fx.store.folders(fx.account).await.unwrap().is_empty());
    assert!(fx.store.usage(fx.account).await.unwrap().is_empty());
    assert!(matches!(
        fx.store.remove_account(fx.account).await,
        Err(Error::NotFound {
            what: "account",
            ..
        })
    ));

    let mut raw = fx.raw().await;
    for (table, expected) in [
        ("folders", 1),
        ("messages", 20),
        ("parts", 60),
        ("thread_links", 20),
        ("byte_ledger", 0),
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(count, expected, "{table}");
    }
    let indexed: i64 = sqlx::query_scalar("SELECT count(*) FROM message_search_docsize")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(indexed, 20, "search rows of the removed account are gone");
    assert_eq!(
        fx.store.search(keep, "message", 100).await.unwrap().len(),
        20
    );
}

#[tokio::test]
async fn reopening_keeps_data_and_migrations_run_once() {
    let fx = Fixture::new().await;
    fx.store
        .insert_window(fx.inbox, &state(3, 2, 1, 1), &[message(1, 1)])
        .await
        .unwrap();
    fx.store.close().await;
    let Fixture {
        dir,
        account,
        inbox,
        ..
    } = fx;

    for _ in 0..2 {
        let store = Store::open(db_path(&dir)).await.unwrap();
        assert_eq!(store.accounts().await.unwrap()[0].id, account);
        assert_eq!(store.accounts().await.unwrap()[0].kind, AccountKind::Imap);
        assert_eq!(store.uids(inbox).await.unwrap(), vec![1]);
        assert_eq!(store.folder_state(inbox).await.unwrap(), state(3, 2, 1, 1));
        store.close().await;
    }
    let url = format!("sqlite://{}", db_path(&dir).display());
    let mut raw = SqliteConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(applied, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
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
    assert_eq!(
        rows,
        [
            ("cellular", "sync_metadata", 5, 50),
            ("wifi", "bodies", 101, 1_010)
        ]
    );
    assert!(
        fx.store
            .add_usage(fx.account, "wifi", "bodies", u64::MAX, 0)
            .await
            .is_err()
    );
    assert!(
        fx.store
            .add_usage(AccountId(77), "wifi", "bodies", 1, 1)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_window_of_500_messages_is_fast() {
    let fx = Fixture::new().await;
    let window: Vec<NewMessage> = (1..=500).map(|uid| message(uid, i64::from(uid))).collect();
    // Warm up the statement cache with a first window, as a running sync would have.
    fx.store
        .insert_window(fx.inbox, &state(1, 501, 500, 1_000), &window[..1])
        .await
        .unwrap();
    let window: Vec<NewMessage> = (501..=1_000)
        .map(|uid| message(uid, i64::from(uid)))
        .collect();

    let started = Instant::now();
    fx.store
        .insert_window(fx.inbox, &state(1, 1_001, 1_000, 1_000), &window)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    println!("500 messages with 3 parts each: {elapsed:?}");
    assert_eq!(fx.store.message_count(fx.inbox).await.unwrap(), 501);
    if !cfg!(debug_assertions) {
        assert!(elapsed.as_millis() < 100, "took {elapsed:?}");
    }
}
