//! Tests of the mailbox half of the write-back queue (`moves.rs`), against a real SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use super::*;
use crate::store::{FolderSyncState, Role};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    account: AccountId,
    inbox: FolderId,
    archive: FolderId,
    other: FolderId,
    trash: Option<FolderId>,
}

async fn fixture(with_trash: bool) -> Fixture {
    let mut list = vec![
        ("INBOX", Some(Role::Inbox)),
        ("Archive", Some(Role::Archive)),
        ("Other", None),
        ("Drafts", Some(Role::Drafts)),
    ];
    if with_trash {
        list.push(("Trash", Some(Role::Trash)));
    }
    let (dir, store, account, ids) = crate::store::test_support::store_with_folders(&list).await;
    for id in &ids {
        let state = FolderSyncState {
            uidvalidity: Some(7),
            uidnext: Some(11),
            ..FolderSyncState::default()
        };
        store.set_folder_state(*id, &state).await.unwrap();
    }
    let messages: Vec<NewMessage> = (1..=10)
        .map(|uid| NewMessage {
            uid,
            internal_date: i64::from(uid),
            subject: format!("m{uid}"),
            ..NewMessage::default()
        })
        .collect();
    let state = FolderSyncState {
        uidvalidity: Some(7),
        uidnext: Some(11),
        ..FolderSyncState::default()
    };
    store
        .insert_window(ids[0], &state, &messages)
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        account,
        inbox: ids[0],
        archive: ids[1],
        other: ids[2],
        trash: ids.get(4).copied(),
    }
}

async fn id_of(f: &Fixture, uid: u32) -> MessageId {
    let mut conn = f.store.read().await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2")
        .bind(f.inbox.0)
        .bind(uid)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    MessageId(id)
}

async fn ops(f: &Fixture) -> Vec<MailboxOp> {
    f.store
        .pending_mailbox_ops(f.account, i64::MAX)
        .await
        .unwrap()
}

#[tokio::test]
async fn moves_fold_into_one_and_back_is_nothing() {
    let f = fixture(true).await;
    let (a, b) = (id_of(&f, 3).await, id_of(&f, 4).await);
    f.store.queue_moves(&[a, b], f.archive).await.unwrap();
    f.store.queue_moves(&[a, b], f.other).await.unwrap();
    f.store.queue_moves(&[b], f.inbox).await.unwrap();
    let queued = ops(&f).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].kind, MailboxOpKind::Move);
    assert_eq!(
        (queued[0].source, queued[0].source_uid, queued[0].target),
        (Some(f.inbox), Some(3), Some(f.other))
    );
    assert_eq!(
        f.store.uids(f.inbox).await.unwrap().len(),
        9,
        "b is back at uid 4"
    );
    assert!(f.store.uids(f.inbox).await.unwrap().contains(&4));
    assert!(f.store.uids(f.other).await.unwrap()[0] >= LOCAL_UID_BASE);
}

#[tokio::test]
async fn delete_moves_to_trash_or_expunges_at_the_source() {
    let f = fixture(true).await;
    let trash = f.trash.unwrap();
    let (a, b) = (id_of(&f, 1).await, id_of(&f, 2).await);
    // A move then a delete: one move to the Trash. A delete in the Trash: an expunge of
    // the source UID.
    f.store.queue_moves(&[a], f.archive).await.unwrap();
    f.store.queue_deletes(&[a, b]).await.unwrap();
    assert_eq!(f.store.uids(trash).await.unwrap().len(), 2);
    f.store.queue_deletes(&[b]).await.unwrap();
    let queued = ops(&f).await;
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert_eq!(
        (queued[0].kind, queued[0].target),
        (MailboxOpKind::Move, Some(trash))
    );
    assert_eq!(
        (
            queued[1].kind,
            queued[1].source,
            queued[1].source_uid,
            queued[1].message
        ),
        (MailboxOpKind::Expunge, Some(f.inbox), Some(2), None)
    );
    // Emptying the Trash: a's queued move becomes an expunge at its source too.
    let changes = f.store.queue_empty_folder(trash).await.unwrap();
    assert_eq!(changes.removed[&trash].len(), 1);
    let queued = ops(&f).await;
    assert!(queued.iter().all(|o| o.kind == MailboxOpKind::Expunge));
    assert_eq!(queued.len(), 2);
}

#[tokio::test]
async fn without_a_trash_delete_expunges() {
    let f = fixture(false).await;
    let a = id_of(&f, 5).await;
    let changes = f.store.queue_deletes(&[a]).await.unwrap();
    assert_eq!(changes.removed[&f.inbox], [5]);
    let queued = ops(&f).await;
    assert_eq!(
        (
            queued[0].kind,
            queued[0].source_uid,
            queued[0].source_uidvalidity
        ),
        (MailboxOpKind::Expunge, Some(5), Some(7))
    );
}

#[tokio::test]
async fn rekey_moves_uidnext_only_over_our_own_uids() {
    let f = fixture(true).await;
    let (a, b) = (id_of(&f, 6).await, id_of(&f, 7).await);
    f.store.queue_moves(&[a, b], f.archive).await.unwrap();
    let queued = ops(&f).await;
    let settled = MailboxSettled {
        done: queued.iter().map(|o| o.id).collect(),
        rekeyed: vec![
            Rekey {
                message: a,
                folder: f.archive,
                uidvalidity: 7,
                uid: 11,
            },
            Rekey {
                message: b,
                folder: f.archive,
                uidvalidity: 7,
                uid: 12,
            },
        ],
        ..MailboxSettled::default()
    };
    f.store.complete_mailbox_ops(&settled).await.unwrap();
    assert_eq!(f.store.uids(f.archive).await.unwrap(), [11, 12]);
    assert_eq!(
        f.store.folder_state(f.archive).await.unwrap().uidnext,
        Some(13)
    );
    assert!(ops(&f).await.is_empty());

    // Something else arrived first (13 is not ours): UIDNEXT stays for the sync to look.
    let c = id_of(&f, 8).await;
    f.store.queue_moves(&[c], f.archive).await.unwrap();
    let settled = MailboxSettled {
        done: ops(&f).await.iter().map(|o| o.id).collect(),
        rekeyed: vec![Rekey {
            message: c,
            folder: f.archive,
            uidvalidity: 7,
            uid: 14,
        }],
        ..MailboxSettled::default()
    };
    f.store.complete_mailbox_ops(&settled).await.unwrap();
    assert_eq!(
        f.store.folder_state(f.archive).await.unwrap().uidnext,
        Some(13)
    );
}

#[tokio::test]
async fn a_draft_saved_twice_is_one_append_with_the_latest_bytes() {
    let f = fixture(true).await;
    let drafts = f
        .store
        .folder_with_role(f.account, "drafts")
        .await
        .unwrap()
        .unwrap();
    let draft = |raw: &str| DraftRecord {
        message: NewMessage {
            uid: 1,
            subject: raw.into(),
            ..NewMessage::default()
        },
        text_zstd: None,
        html_zstd: None,
        raw: raw.as_bytes().to_vec(),
    };
    let (first, _) = f
        .store
        .queue_draft(drafts, &draft("one"), None)
        .await
        .unwrap();
    let (second, changes) = f
        .store
        .queue_draft(drafts, &draft("two"), Some(first))
        .await
        .unwrap();
    assert_eq!(changes.removed[&drafts].len(), 1);
    let queued = ops(&f).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].kind, MailboxOpKind::Append);
    assert_eq!(queued[0].raw.as_deref(), Some(&b"two"[..]));
    assert_eq!(queued[0].message, Some(second));
    assert_eq!(f.store.uids(drafts).await.unwrap().len(), 1);
    // Deleting a draft never appended just drops it.
    f.store.queue_deletes(&[second]).await.unwrap();
    assert!(ops(&f).await.is_empty());
    assert!(f.store.uids(drafts).await.unwrap().is_empty());
}
