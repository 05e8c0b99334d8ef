//! Threading over windows larger than one statement's worth of Message-ID keys
//! (`store::threads`: lookups and links go in chunks of at most 512 keys): conversations whose
//! messages and references fall into different chunks of a window, and into different windows,
//! still come out whole, merges included.
#![allow(clippy::unwrap_used)] // test code

use anvert_core::store::{Flags, NewMessage, NewPart};

use crate::common::{StoreFx, state, thread_uids};

/// Message `uid` of conversation `uid % 400`: its own id, and the ids of the two messages of
/// the same conversation before it as References (the first 400 start conversations).
fn message(uid: u32) -> NewMessage {
    let id = |uid: u32| format!("<m{uid}@many.example>");
    let refs: Vec<String> = [uid.checked_sub(800), uid.checked_sub(400)]
        .into_iter()
        .flatten()
        .filter(|u| *u > 0)
        .map(id)
        .collect();
    NewMessage {
        uid,
        modseq: 1,
        flags: Flags::default(),
        internal_date: 1_700_000_000 + i64::from(uid),
        date: None,
        size: 100,
        subject: format!("Subject {}", uid % 400),
        from: Vec::new(),
        sender: Vec::new(),
        reply_to: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        bcc: Vec::new(),
        message_id: Some(id(uid)),
        in_reply_to: refs.last().cloned(),
        references: refs,
        preview: None,
        parts: vec![NewPart {
            section: "1".into(),
            mime_type: "text/plain".into(),
            size: 100,
            ..NewPart::default()
        }],
        incomplete: false,
        email_id: None,
        server_thread: None,
    }
}

#[tokio::test]
async fn conversations_spanning_key_chunks_and_windows_stay_whole() {
    let fx = StoreFx::new(&["INBOX"]).await;
    let inbox = fx.folders[0];
    // 1,200 messages in windows of 700 and 500 (up to 1,900 keys a window).
    let all: Vec<NewMessage> = (1..=1200).map(message).collect();
    for window in [&all[..700], &all[700..]] {
        fx.store
            .insert_window(inbox, &state(2000), window)
            .await
            .unwrap();
    }
    // Two conversations merge when one message references both: 7 and 8 (with their later
    // messages 407, 408, 807, 808).
    let mut joining = message(1201);
    joining.references = vec!["<m807@many.example>".into(), "<m808@many.example>".into()];
    joining.in_reply_to = None;
    fx.store
        .insert_window(inbox, &state(2000), &[joining])
        .await
        .unwrap();

    let page = fx.store.messages_page(inbox, None, 500).await.unwrap();
    assert_eq!(page.items.len(), 500);
    let thread_of = async |uid: u32| {
        let id = fx.store.message_id(inbox, uid).await.unwrap().unwrap();
        thread_uids(&fx.store, id).await
    };
    assert_eq!(thread_of(1).await, [1, 401, 801]);
    assert_eq!(thread_of(1199).await, [399, 799, 1199]);
    assert_eq!(thread_of(400).await, [400, 800, 1200]);
    assert_eq!(thread_of(8).await, [7, 8, 407, 408, 807, 808, 1201]);
    // Every message is in its conversation's thread, and there are 399 of them.
    let mut threads = std::collections::BTreeSet::new();
    for uid in 1..=1201 {
        let id = fx.store.message_id(inbox, uid).await.unwrap().unwrap();
        let thread = fx.store.thread(id).await.unwrap();
        let own = thread.iter().find(|m| m.uid == uid).unwrap();
        let expected = if uid == 1201 { 3 + 4 } else { 3 };
        assert!(
            thread.len() == expected || [7, 8].contains(&(uid % 400)),
            "{uid}: {thread:?}"
        );
        threads.insert(own.thread);
    }
    assert_eq!(threads.len(), 399);
}
