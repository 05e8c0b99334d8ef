//! The search index the write path builds (migration 0005 moved new rows' indexing from a
//! trigger into `store::messages`) holds exactly the tokens the 0001 insert trigger put there:
//! every row's tokens are compared, through `fts5vocab`, with a scratch FTS5 table filled by
//! the trigger's own SQL over the stored rows. Covers fresh inserts (several statement
//! chunks), a UID repeated in one batch, and re-sent messages (the upsert path).

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use sqlx::{Connection, SqliteConnection};

use anvert_core::store::{
    AccountKind, Address, Flags, FolderRecord, FolderSyncState, NewAccount, NewMessage, NewPart,
    Role, Store,
};

/// The 0001 trigger's text, computed over the stored rows into a scratch table.
const FILL_OLD_FORM: &str = "
    INSERT INTO old_form (rowid, subject, addresses, preview)
    SELECT m.id, m.subject,
        (SELECT group_concat(concat_ws(' ', a.value ->> 0, a.value ->> 1), ' ')
         FROM (SELECT value FROM json_each(m.from_addrs)
               UNION ALL SELECT value FROM json_each(m.sender_addrs)
               UNION ALL SELECT value FROM json_each(m.reply_to_addrs)
               UNION ALL SELECT value FROM json_each(m.to_addrs)
               UNION ALL SELECT value FROM json_each(m.cc_addrs)
               UNION ALL SELECT value FROM json_each(m.bcc_addrs)) AS a),
        coalesce(m.preview, '')
    FROM messages AS m";

/// Every (token, row, column, offset) of an FTS5 table, in order.
async fn tokens(conn: &mut SqliteConnection, vocab: &str) -> Vec<(String, i64, String, i64)> {
    sqlx::query_as(&format!(
        "SELECT term, doc, col, offset FROM {vocab} ORDER BY term, doc, col, offset"
    ))
    .fetch_all(conn)
    .await
    .unwrap()
}

fn addr(name: Option<&str>, email: &str) -> Address {
    Address {
        name: name.map(str::to_string),
        email: email.to_string(),
    }
}

fn message(uid: u32) -> NewMessage {
    let n = uid % 7;
    NewMessage {
        uid,
        modseq: u64::from(uid),
        flags: Flags::default(),
        internal_date: 1_700_000_000 + i64::from(uid),
        date: Some(1_700_000_000),
        size: 1000,
        subject: format!("Réunion numéro {uid} \"quoted\" O'Brien"),
        from: vec![addr(Some("Zoë Æsir"), &format!("zoe{n}@example.org"))],
        sender: if n == 0 {
            vec![addr(Some(""), "empty-name@example.org")]
        } else {
            Vec::new()
        },
        reply_to: Vec::new(),
        to: (0..n)
            .map(|i| {
                addr(
                    (i % 2 == 0).then_some("Bob \\ Back"),
                    &format!("b{i}@x.org"),
                )
            })
            .collect(),
        cc: vec![addr(None, "cc@x.org")],
        bcc: Vec::new(),
        message_id: Some(format!("<m{uid}@x.org>")),
        in_reply_to: None,
        references: Vec::new(),
        preview: (n != 3).then(|| format!("préview {uid} naïve café")),
        parts: vec![NewPart {
            section: "1".into(),
            mime_type: "text/plain".into(),
            size: 10,
            ..NewPart::default()
        }],
    }
}

#[tokio::test]
async fn the_write_path_indexes_what_the_old_trigger_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.sqlite3");
    let store = Store::open(&path).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "Work".into(),
            kind: AccountKind::Imap,
            host: "imap.example.com".into(),
            port: 993,
            security: "tls".into(),
            username: "me@example.com".into(),
        })
        .await
        .unwrap();
    let inbox = store
        .upsert_folders(
            account,
            &[FolderRecord {
                name: "INBOX".into(),
                delimiter: Some("/".into()),
                role: Some(Role::Inbox),
                subscribed: true,
                selectable: true,
            }],
        )
        .await
        .unwrap()[0];
    let state = FolderSyncState {
        uidvalidity: Some(1),
        uidnext: Some(500),
        highest_modseq: Some(1),
        lowest_uid_synced: Some(1),
        exists: 300,
    };
    // 203 new messages (chunks of several sizes), one UID twice in the batch.
    let mut first: Vec<NewMessage> = (1..=203).map(message).collect();
    let mut twice = message(7);
    twice.subject = "Second copy".into();
    first.push(twice);
    store.insert_window(inbox, &state, &first).await.unwrap();
    // Re-sent: some with changed text (the update trigger), plus new ones.
    let mut again: Vec<NewMessage> = (190..=260).map(message).collect();
    for m in again.iter_mut().filter(|m| m.uid % 5 == 0) {
        m.subject = format!("Changed {}", m.uid);
        m.to.push(addr(Some("New Person"), "new@x.org"));
    }
    store.insert_window(inbox, &state, &again).await.unwrap();
    assert_eq!(store.message_count(inbox).await.unwrap(), 260);
    store.close().await;

    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    for statement in [
        "CREATE VIRTUAL TABLE old_form USING fts5 (subject, addresses, preview, content = '',
            contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')",
        FILL_OLD_FORM,
        "CREATE VIRTUAL TABLE new_vocab USING fts5vocab (message_search, instance)",
        "CREATE VIRTUAL TABLE old_vocab USING fts5vocab (old_form, instance)",
    ] {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    let new = tokens(&mut conn, "new_vocab").await;
    let old = tokens(&mut conn, "old_vocab").await;
    assert!(new.len() > 260 * 10, "{} tokens", new.len());
    assert_eq!(new, old);
    // The second copy of UID 7 won, and its first subject is gone from the index.
    assert!(new.iter().any(|(t, ..)| t == "second"));
    assert!(!new.iter().any(|(t, _, c, _)| t == "7" && c == "subject"));
}
