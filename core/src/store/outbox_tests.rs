//! The outbox's states, in a real SQLite store: queueing (with a draft leaving Drafts in the
//! same transaction), backoff and parking, the steps of a send, cancelling, and what a
//! finished or failed entry leaves behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use super::*;
use crate::store::{DraftRecord, FolderSyncState, NewMessage, Role};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    account: AccountId,
    inbox: FolderId,
    sent: FolderId,
    drafts: FolderId,
}

async fn fixture() -> Fixture {
    let (dir, store, account, ids) = crate::store::test_support::store_with_folders(&[
        ("INBOX", Some(Role::Inbox)),
        ("Sent", Some(Role::Sent)),
        ("Drafts", Some(Role::Drafts)),
    ])
    .await;
    let state = FolderSyncState {
        uidvalidity: Some(7),
        uidnext: Some(11),
        ..FolderSyncState::default()
    };
    for id in &ids {
        store.set_folder_state(*id, &state).await.unwrap();
    }
    let messages: Vec<NewMessage> = (1..=3)
        .map(|uid| NewMessage {
            uid,
            internal_date: i64::from(uid),
            subject: format!("m{uid}"),
            ..NewMessage::default()
        })
        .collect();
    store
        .insert_window(ids[0], &state, &messages)
        .await
        .unwrap();
    store
        .insert_window(ids[2], &state, &messages[..1])
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        store,
        account,
        inbox: ids[0],
        sent: ids[1],
        drafts: ids[2],
    }
}

fn raw(message_id: &str) -> NewOutgoing {
    NewOutgoing {
        message_id: message_id.into(),
        mail_from: "a@example.org".into(),
        recipients: vec!["b@example.org".into(), "c@example.org".into()],
        subject: "s".into(),
        source: OutgoingSource::Raw(b"Subject: s\r\n\r\nhello\r\n".to_vec()),
        size: 22,
        eight_bit: false,
        utf8: false,
    }
}

async fn id_of(store: &Store, folder: FolderId, uid: u32) -> MessageId {
    let mut conn = store.read().await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages WHERE folder_id = ?1 AND uid = ?2")
        .bind(folder.0)
        .bind(uid)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    MessageId(id)
}

async fn ops(store: &Store) -> Vec<(String, Option<i64>, Option<i64>)> {
    let mut conn = store.read().await.unwrap();
    sqlx::query_as("SELECT kind, source_folder_id, source_uid FROM pending_mailbox_ops ORDER BY id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_entry_waits_its_backoff_and_parks_until_retried() {
    let f = fixture().await;
    let (id, _) = f
        .store
        .queue_outgoing(f.account, &raw("1@x"), None)
        .await
        .unwrap();
    let due = f.store.due_outgoing(f.account, 100, false).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].raw, b"Subject: s\r\n\r\nhello\r\n");
    assert_eq!(due[0].item.pending, ["b@example.org", "c@example.org"]);

    assert_eq!(
        f.store
            .record_outgoing_failure(id, "451 later", 200, false)
            .await
            .unwrap(),
        1
    );
    assert!(
        f.store
            .due_outgoing(f.account, 199, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.store
            .due_outgoing(f.account, 200, false)
            .await
            .unwrap()
            .len(),
        1
    );

    f.store
        .record_outgoing_failure(id, "451 again", 0, true)
        .await
        .unwrap();
    assert!(
        f.store
            .due_outgoing(f.account, 10_000, false)
            .await
            .unwrap()
            .is_empty()
    );
    // An explicit flush takes parked entries too; a retry makes them due again.
    assert_eq!(
        f.store
            .due_outgoing(f.account, 0, true)
            .await
            .unwrap()
            .len(),
        1
    );
    f.store.retry_outgoing(f.account).await.unwrap();
    let item = f.store.outbox_item(id).await.unwrap();
    assert!(!item.parked);
    assert_eq!(
        (item.attempts, item.last_error.as_deref()),
        (2, Some("451 again"))
    );
}

#[tokio::test]
async fn a_sent_entry_drops_its_bytes_and_keeps_its_answers() {
    let f = fixture().await;
    let (id, _) = f
        .store
        .queue_outgoing(f.account, &raw("2@x"), None)
        .await
        .unwrap();
    f.store
        .update_outgoing(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Sent),
                pending: Some(Vec::new()),
                add_rejected: vec![RejectedRecipient {
                    address: "c@example.org".into(),
                    code: 550,
                    enhanced: Some("5.1.1".into()),
                    text: "no such user".into(),
                }],
                copy_done: Some(true),
                progressed: true,
                add_up_bytes: 1234,
                ..OutboxUpdate::default()
            },
        )
        .await
        .unwrap();
    let item = f.store.outbox_item(id).await.unwrap();
    assert_eq!(item.state, OutboxState::Sent);
    assert_eq!(item.rejected.len(), 1);
    assert_eq!(item.rejected[0].code, 550);
    assert_eq!(item.up_bytes, 1234);
    assert!(item.sent_at.is_some());
    assert!(
        f.store
            .due_outgoing(f.account, 0, true)
            .await
            .unwrap()
            .is_empty()
    );
    let mut conn = f.store.read().await.unwrap();
    let raw: Option<Vec<u8>> = sqlx::query_scalar("SELECT raw FROM outbox WHERE id = ?1")
        .bind(id.0)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(raw, None);
}

#[tokio::test]
async fn cancelling_is_refused_mid_send_and_stops_a_send_it_beat() {
    let f = fixture().await;
    let (a, _) = f
        .store
        .queue_outgoing(f.account, &raw("3@x"), None)
        .await
        .unwrap();
    let (b, _) = f
        .store
        .queue_outgoing(f.account, &raw("4@x"), None)
        .await
        .unwrap();
    let submitting = OutboxUpdate {
        state: Some(OutboxState::Submitting),
        ..OutboxUpdate::default()
    };
    f.store
        .update_outgoing(a, submitting.clone())
        .await
        .unwrap();
    assert!(!f.store.cancel_outgoing(a).await.unwrap());
    assert_eq!(
        f.store.outbox_item(a).await.unwrap().state,
        OutboxState::Submitting
    );

    // b: its Sent copy was appended, then the user cancelled: the copy is expunged by the
    // write-back, and the send that loaded b before the cancel stops at its next step.
    f.store
        .update_outgoing(
            b,
            OutboxUpdate {
                state: Some(OutboxState::Appended),
                sent_copy: Some((f.sent, 7, 42)),
                ..OutboxUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(f.store.cancel_outgoing(b).await.unwrap());
    assert_eq!(
        ops(&f.store).await,
        [("expunge".to_string(), Some(f.sent.0), Some(42))]
    );
    let late = f.store.update_outgoing(b, submitting).await;
    assert!(matches!(late, Err(Error::NotFound { .. })), "{late:?}");
}

#[tokio::test]
async fn a_draft_leaves_drafts_with_the_send() {
    let f = fixture().await;
    // A draft on the server (UID 1 of Drafts): sent as it is, from the server's copy; the
    // row goes now, the expunge only once the message is sent.
    let on_server = id_of(&f.store, f.drafts, 1).await;
    let mut message = raw("5@x");
    message.source = OutgoingSource::Catenate {
        text: Vec::new(),
        parts: vec![OutPart::Section(String::new())],
        original: on_server,
        draft: true,
    };
    let (id, changes) = f
        .store
        .queue_outgoing(f.account, &message, Some(on_server))
        .await
        .unwrap();
    assert_eq!(
        changes.removed.get(&f.drafts).map(Vec::as_slice),
        Some(&[1u32][..])
    );
    assert!(ops(&f.store).await.is_empty());
    // The Drafts sync does not fetch it back meanwhile.
    assert_eq!(f.store.queued_away_uids(f.drafts).await.unwrap(), [1]);
    let due = f.store.due_outgoing(f.account, 0, false).await.unwrap();
    let original = due[0].original.clone().unwrap();
    assert_eq!(
        (original.folder, original.uid_validity, original.uid),
        (f.drafts, 7, 1)
    );
    f.store
        .update_outgoing(
            id,
            OutboxUpdate {
                state: Some(OutboxState::Sent),
                ..OutboxUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ops(&f.store).await,
        [("expunge".to_string(), Some(f.drafts.0), Some(1))]
    );
    assert!(
        f.store
            .queued_away_uids(f.drafts)
            .await
            .unwrap()
            .contains(&1)
    );

    // A draft still only here: its queued APPEND goes with it, in the same transaction.
    let record = DraftRecord {
        message: NewMessage {
            uid: 1,
            subject: "d".into(),
            ..NewMessage::default()
        },
        text_zstd: None,
        html_zstd: None,
        raw: b"Subject: d\r\nBcc: x@y\r\n\r\nbody\r\n".to_vec(),
    };
    let (local, _) = f.store.queue_draft(f.drafts, &record, None).await.unwrap();
    assert_eq!(
        f.store.queued_draft_raw(local).await.unwrap().as_deref(),
        Some(&record.raw[..])
    );
    f.store
        .queue_outgoing(f.account, &raw("6@x"), Some(local))
        .await
        .unwrap();
    assert!(
        ops(&f.store)
            .await
            .iter()
            .all(|(kind, ..)| kind != "append")
    );
    assert!(f.store.message(local).await.unwrap().is_none());
}

#[tokio::test]
async fn a_forward_follows_its_original_through_a_queued_move() {
    let f = fixture().await;
    let original = id_of(&f.store, f.inbox, 2).await;
    let mut message = raw("7@x");
    message.source = OutgoingSource::Catenate {
        text: b"head".to_vec(),
        parts: vec![OutPart::Text(0, 4), OutPart::Section("2".into())],
        original,
        draft: false,
    };
    f.store
        .queue_outgoing(f.account, &message, None)
        .await
        .unwrap();
    // Moved locally, not yet on the server: the URL must still name INBOX/2.
    f.store.queue_moves(&[original], f.sent).await.unwrap();
    let due = f.store.due_outgoing(f.account, 0, false).await.unwrap();
    let place = due[0].original.clone().unwrap();
    assert_eq!((place.folder_name.as_str(), place.uid), ("INBOX", 2));
    assert_eq!(due[0].parts.as_deref().unwrap().len(), 2);

    // A message only on this device cannot be forwarded from the server.
    let (draft, _) = f
        .store
        .queue_draft(
            f.drafts,
            &DraftRecord {
                message: NewMessage::default(),
                text_zstd: None,
                html_zstd: None,
                raw: b"x".to_vec(),
            },
            None,
        )
        .await
        .unwrap();
    message.source = OutgoingSource::Catenate {
        text: Vec::new(),
        parts: vec![OutPart::Section("1".into())],
        original: draft,
        draft: false,
    };
    assert!(matches!(
        f.store.queue_outgoing(f.account, &message, None).await,
        Err(Error::Config { .. })
    ));
    let mut empty = raw("8@x");
    empty.recipients.clear();
    assert!(
        f.store
            .queue_outgoing(f.account, &empty, None)
            .await
            .is_err()
    );
}
