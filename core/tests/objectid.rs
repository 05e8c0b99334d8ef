//! OBJECTID in the store (migration 0013): an expunged row with an EMAILID becomes a
//! tombstone that no app query shows, is taken over (row id, body, parts) where its EMAILID
//! reappears, or purged; a live row taken over leaves a check at its old place; a copy
//! shares the body; threads follow THREADID where given.
#![allow(clippy::unwrap_used)]

use crate::common;

use anvert_core::store::{
    Delta, FolderId, MessageId, NewMessage, NewPart, Store, Takeover, UidRange,
};
use common::state;

fn message(uid: u32, email_id: &str, thread: Option<&str>) -> NewMessage {
    NewMessage {
        uid,
        internal_date: 1_700_000_000 + i64::from(uid),
        subject: format!("Subject {email_id}"),
        message_id: Some(format!("<{email_id}-{uid}@example.com>")),
        preview: Some(format!("preview {email_id}")),
        parts: vec![NewPart {
            section: "1".into(),
            mime_type: "text/plain".into(),
            size: 10,
            ..NewPart::default()
        }],
        email_id: Some(email_id.into()),
        server_thread: thread.map(str::to_string),
        ..NewMessage::default()
    }
}

struct Fx {
    _dir: tempfile::TempDir,
    store: Store,
    account: anvert_core::store::AccountId,
    inbox: FolderId,
    archive: FolderId,
}

async fn fixture() -> Fx {
    let fx = common::StoreFx::new(&["INBOX", "Archive"]).await;
    Fx {
        inbox: fx.folders[0],
        archive: fx.folders[1],
        _dir: fx.dir,
        store: fx.store,
        account: fx.account,
    }
}

impl Fx {
    async fn id(&self, folder: FolderId, uid: u32) -> Option<MessageId> {
        self.store.message_id(folder, uid).await.unwrap()
    }

    async fn total(&self, folder: FolderId) -> u32 {
        self.store
            .folders(self.account)
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.id == folder)
            .unwrap()
            .total
    }

    async fn expunge(&self, folder: FolderId, uid: u32, next: u32) {
        let delta = Delta {
            vanished: vec![UidRange::single(uid)],
            state_after: state(next),
            ..Delta::default()
        };
        self.store.apply_delta(folder, &delta).await.unwrap();
    }
}

#[tokio::test]
async fn a_tombstone_is_invisible_then_taken_over_with_its_content() {
    let fx = fixture().await;
    fx.store
        .insert_window(
            fx.inbox,
            &state(3),
            &[message(1, "A", None), message(2, "B", None)],
        )
        .await
        .unwrap();
    fx.store
        .insert_window(fx.archive, &state(1), &[])
        .await
        .unwrap();
    let id = fx.id(fx.inbox, 1).await.unwrap();
    fx.store.put_body(id, Some(b"zstd"), None, 4).await.unwrap();

    fx.expunge(fx.inbox, 1, 3).await;
    // Hidden everywhere an app looks.
    assert_eq!(fx.id(fx.inbox, 1).await, None);
    assert_eq!(fx.store.uids(fx.inbox).await.unwrap(), [2]);
    assert_eq!(fx.total(fx.inbox).await, 1);
    assert!(fx.store.message(id).await.unwrap().is_none());
    assert!(fx.store.thread(id).await.unwrap().is_empty());
    assert!(fx.store.message_location(id).await.unwrap().is_none());
    let found = fx.store.search(fx.account, "Subject", 10).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let page = fx.store.messages_page(fx.inbox, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);

    // Taken over in Archive: the same row, body and parts.
    let owners = fx.store.email_owners(fx.archive, &["A"]).await.unwrap();
    assert_eq!(owners.len(), 1);
    assert!(owners[0].tombstone);
    let delta = Delta {
        taken_over: vec![Takeover {
            from: id,
            uid: 7,
            flags: Default::default(),
            modseq: 0,
            server_thread: None,
        }],
        state_after: state(8),
        ..Delta::default()
    };
    let applied = fx.store.apply_delta(fx.archive, &delta).await.unwrap();
    assert_eq!(applied.taken_over, [7]);
    assert!(
        applied.left.is_empty(),
        "a tombstone was nowhere for the app"
    );
    assert_eq!(fx.id(fx.archive, 7).await, Some(id));
    assert_eq!(fx.total(fx.archive).await, 1);
    assert!(fx.store.body(id).await.unwrap().is_some());
    assert_eq!(fx.store.message(id).await.unwrap().unwrap().parts.len(), 1);
    assert!(
        fx.store
            .purge_tombstones(fx.account, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn tombstones_nobody_takes_are_purged() {
    let fx = fixture().await;
    fx.store
        .insert_window(fx.inbox, &state(2), &[message(1, "A", None)])
        .await
        .unwrap();
    let id = fx.id(fx.inbox, 1).await.unwrap();
    fx.expunge(fx.inbox, 1, 2).await;
    assert_eq!(
        fx.store
            .purge_tombstones(fx.account, i64::MAX)
            .await
            .unwrap(),
        [id]
    );
    assert!(
        fx.store
            .email_owners(fx.inbox, &["A"])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_first_window_takes_over_a_tombstone_and_a_copy_shares_the_body() {
    let fx = fixture().await;
    fx.store
        .insert_window(
            fx.inbox,
            &state(3),
            &[message(1, "A", None), message(2, "B", None)],
        )
        .await
        .unwrap();
    let a = fx.id(fx.inbox, 1).await.unwrap();
    let b = fx.id(fx.inbox, 2).await.unwrap();
    fx.store.put_body(a, Some(b"a"), None, 1).await.unwrap();
    fx.store.put_body(b, Some(b"b"), None, 1).await.unwrap();
    fx.expunge(fx.inbox, 1, 3).await;
    // Archive's first window: A moved there (a tombstone), B copied (B still live).
    let mut copy = message(6, "B", None);
    copy.preview = None;
    fx.store
        .insert_window(fx.archive, &state(7), &[message(5, "A", None), copy])
        .await
        .unwrap();
    assert_eq!(fx.id(fx.archive, 5).await, Some(a));
    let copied = fx.id(fx.archive, 6).await.unwrap();
    assert_ne!(copied, b);
    let body = fx.store.body(copied).await.unwrap().unwrap();
    assert_eq!(body.text_zstd.as_deref(), Some(&b"b"[..]));
    let detail = fx.store.message(copied).await.unwrap().unwrap();
    assert_eq!(detail.summary.preview.as_deref(), Some("preview B"));
    assert_eq!(fx.id(fx.inbox, 2).await, Some(b));
}

#[tokio::test]
async fn a_live_row_taken_over_leaves_a_check_at_its_old_place() {
    let fx = fixture().await;
    fx.store
        .insert_window(fx.inbox, &state(2), &[message(1, "A", None)])
        .await
        .unwrap();
    let a = fx.id(fx.inbox, 1).await.unwrap();
    let delta = Delta {
        taken_over: vec![Takeover {
            from: a,
            uid: 9,
            flags: Default::default(),
            modseq: 0,
            server_thread: Some("T1".into()),
        }],
        state_after: state(10),
        ..Delta::default()
    };
    let applied = fx.store.apply_delta(fx.archive, &delta).await.unwrap();
    assert_eq!(applied.left, [(fx.inbox, 1)]);
    assert_eq!(fx.store.objectid_checks(fx.inbox).await.unwrap(), [1]);
    assert_eq!(fx.id(fx.archive, 9).await, Some(a));
    // The source's next delta asked the server: done, whatever it found.
    let done = Delta {
        checked: vec![1],
        state_after: state(2),
        ..Delta::default()
    };
    fx.store.apply_delta(fx.inbox, &done).await.unwrap();
    assert!(fx.store.objectid_checks(fx.inbox).await.unwrap().is_empty());
    // A row gone meanwhile is stored incomplete instead (fetched whole next time).
    let gone = Delta {
        taken_over: vec![Takeover {
            from: MessageId(999_999),
            uid: 10,
            flags: Default::default(),
            modseq: 0,
            server_thread: None,
        }],
        state_after: state(11),
        ..Delta::default()
    };
    let applied = fx.store.apply_delta(fx.archive, &gone).await.unwrap();
    assert!(applied.taken_over.is_empty());
    assert_eq!(
        fx.store.incomplete_uids(fx.archive, 10).await.unwrap(),
        [10]
    );
}

#[tokio::test]
async fn threads_follow_the_server_threadid() {
    let fx = fixture().await;
    let mut reply = message(3, "C", Some("T2"));
    // References the first message, but the server put it in another conversation.
    reply.references = vec!["<A-1@example.com>".into()];
    fx.store
        .insert_window(
            fx.inbox,
            &state(4),
            &[
                message(1, "A", Some("T1")),
                message(2, "B", Some("T1")),
                reply,
            ],
        )
        .await
        .unwrap();
    let fx = &fx;
    let thread = |uid| async move {
        let id = fx.id(fx.inbox, uid).await.unwrap();
        common::thread_uids(&fx.store, id).await
    };
    assert_eq!(thread(1).await, [1, 2]);
    assert_eq!(thread(3).await, [3]);
}
