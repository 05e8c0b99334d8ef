//! The search index the write path builds (migration 0005 moved new rows' indexing from a
//! trigger into `store::messages`) holds exactly the tokens the 0001 insert trigger put there:
//! every row's tokens are compared, through `fts5vocab`, with a scratch FTS5 table filled by
//! the trigger's own SQL over the stored rows. Covers fresh inserts (several statement
//! chunks), a UID repeated in one batch, and re-sent messages (the upsert path), and the
//! index pass (migration 0021) over messages a header sync stored without their search rows,
//! changed and removed before the pass got to them. Also: the ids the write path gives new
//! rows are never those of removed messages, and windows prepared before their transaction
//! (`Prepared`, as a header sync writes them) store exactly what unprepared ones store.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use sqlx::{Connection, SqliteConnection};

use anvert_core::store::{
    AccountKind, Address, Flags, FolderId, FolderRecord, FolderSyncState, NewAccount, NewMessage,
    NewPart, Prepared, Role, Store, UidRange,
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
        incomplete: false,
        email_id: None,
        server_thread: None,
    }
}

/// A store with one account and its INBOX.
async fn inbox(path: &std::path::Path) -> (Store, FolderId) {
    let store = Store::open(path).await.unwrap();
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
    (store, inbox)
}

const STATE: FolderSyncState = FolderSyncState {
    uidvalidity: Some(1),
    uidnext: Some(500),
    highest_modseq: Some(1),
    lowest_uid_synced: Some(1),
    exists: 300,
};

/// The tokens of the store's index and of the 0001 trigger's text over the stored rows.
async fn index_and_old_form(
    path: &std::path::Path,
) -> (
    Vec<(String, i64, String, i64)>,
    Vec<(String, i64, String, i64)>,
) {
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
    conn.close().await.unwrap();
    (new, old)
}

/// Rows in the search index of the store at `path` (read on a connection of its own).
async fn indexed(path: &std::path::Path) -> i64 {
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM message_search_docsize")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    n
}

#[tokio::test]
async fn the_write_path_indexes_what_the_old_trigger_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.sqlite3");
    let (store, inbox) = inbox(&path).await;
    let state = STATE;
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

    let (new, old) = index_and_old_form(&path).await;
    assert!(new.len() > 260 * 10, "{} tokens", new.len());
    assert_eq!(new, old);
    // The second copy of UID 7 won, and its first subject is gone from the index.
    assert!(new.iter().any(|(t, ..)| t == "second"));
    assert!(!new.iter().any(|(t, _, c, _)| t == "7" && c == "subject"));
}

/// The write path gives new rows their ids itself; like AUTOINCREMENT, it never hands out the
/// id of a removed message again.
#[tokio::test]
async fn message_ids_of_removed_messages_are_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, inbox) = inbox(&dir.path().join("anvert.sqlite3")).await;
    let ids = |store: Store| async move {
        let page = store.messages_page(inbox, None, 100).await.unwrap();
        let mut ids: Vec<(u32, i64)> = page.items.iter().map(|m| (m.uid, m.id.0)).collect();
        ids.sort_unstable();
        ids
    };
    let three: Vec<NewMessage> = (1..=3).map(message).collect();
    store.insert_window(inbox, &STATE, &three).await.unwrap();
    let before = ids(store.clone()).await;
    assert_eq!(before.len(), 3);
    let newest = before.iter().map(|(_, id)| *id).max().unwrap();
    store
        .apply_expunges(inbox, &[UidRange::single(3)], None)
        .await
        .unwrap();
    store
        .insert_window(inbox, &STATE, &[message(4), message(5)])
        .await
        .unwrap();
    let after = ids(store.clone()).await;
    assert_eq!(&after[..2], &before[..2]);
    assert_eq!(after.len(), 4);
    assert!(after[2..].iter().all(|(_, id)| *id > newest), "{after:?}");
}

/// Windows stored for a later index pass (as a header sync stores them): nothing of them
/// enters the index until the pass, while new mail stored meanwhile is indexed by its own
/// write; messages changed (subject, addresses) or removed while waiting are indexed as they
/// are when the pass runs, or not at all; and the pass, in several batches, leaves exactly
/// what the 0001 trigger made of the stored rows.
#[tokio::test]
async fn the_index_pass_indexes_what_the_old_trigger_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.sqlite3");
    let (store, inbox) = inbox(&path).await;
    let first: Vec<NewMessage> = (1..=2500).map(message).collect();
    for window in first.chunks(500) {
        store
            .insert_window_index_later(inbox, &STATE, window)
            .await
            .unwrap();
    }
    // Changed before the pass (the upsert path, with the update trigger), and removed.
    let mut again: Vec<NewMessage> = (2400..=2450).map(message).collect();
    for m in &mut again {
        m.subject = format!("Changed {}", m.uid);
        m.cc.push(addr(Some("Late Person"), "late@x.org"));
    }
    store
        .insert_window_index_later(inbox, &STATE, &again)
        .await
        .unwrap();
    store
        .apply_expunges(inbox, &[UidRange::new(10, 19)], None)
        .await
        .unwrap();
    // New mail while messages wait: indexed at once.
    store
        .insert_window(inbox, &STATE, &[message(2501), message(2502)])
        .await
        .unwrap();
    assert_eq!(indexed(&path).await, 2);

    assert_eq!(store.index_pending().await.unwrap(), 2490);
    assert_eq!(indexed(&path).await, 2492);
    assert_eq!(store.index_pending().await.unwrap(), 0);
    store.close().await;

    let (new, old) = index_and_old_form(&path).await;
    assert!(new.len() > 2492 * 10, "{} tokens", new.len());
    assert_eq!(new, old);
    let changed: std::collections::BTreeSet<i64> = new
        .iter()
        .filter(|(t, _, c, _)| t == "changed" && c == "subject")
        .map(|(_, doc, ..)| *doc)
        .collect();
    assert_eq!(changed.len(), 51);
    assert!(new.iter().any(|(t, ..)| t == "late"));
}

/// A search sees messages waiting for the index pass: it indexes them first.
#[tokio::test]
async fn a_search_indexes_what_waits_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.sqlite3");
    let (store, inbox) = inbox(&path).await;
    let waiting: Vec<NewMessage> = (1..=30).map(message).collect();
    store
        .insert_window_index_later(inbox, &STATE, &waiting)
        .await
        .unwrap();
    assert_eq!(indexed(&path).await, 0);
    let account = store.accounts().await.unwrap()[0].id;
    let found = store.search(account, "numéro 17", 10).await.unwrap();
    assert_eq!(found.iter().map(|m| m.uid).collect::<Vec<_>>(), [17]);
    assert_eq!(indexed(&path).await, 30);
    let cafe = store.search(account, "cafe", 100).await.unwrap();
    // Every message but those whose `n` is 3 has a preview with "café".
    assert_eq!(cafe.len(), (1..=30).filter(|uid| uid % 7 != 3).count());
}

/// Messages waiting for the index are in the file: after a restart (the app killed between
/// a sync and its pass) a search still finds them.
#[tokio::test]
async fn waiting_messages_outlast_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.sqlite3");
    let (store, inbox) = inbox(&path).await;
    let waiting: Vec<NewMessage> = (1..=40).map(message).collect();
    store
        .insert_window_index_later(inbox, &STATE, &waiting)
        .await
        .unwrap();
    store.close().await;
    assert_eq!(indexed(&path).await, 0);

    let store = Store::open(&path).await.unwrap();
    let account = store.accounts().await.unwrap()[0].id;
    let found = store.search(account, "numéro 33", 10).await.unwrap();
    assert_eq!(found.iter().map(|m| m.uid).collect::<Vec<_>>(), [33]);
    assert_eq!(indexed(&path).await, 40);
    assert_eq!(store.index_pending().await.unwrap(), 0);
}

/// Every row a header sync's windows write, in order: the messages (all columns), the thread
/// links and the rows waiting for the index pass.
async fn written(path: &std::path::Path) -> Vec<String> {
    let url = format!("sqlite://{}", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let columns: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info('messages')")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let columns: Vec<String> = columns.into_iter().map(|(c,)| c).collect();
    assert!(columns.len() > 20, "{columns:?}");
    let all_messages = format!(
        "SELECT json_array({}) FROM messages ORDER BY id",
        columns.join(", ")
    );
    let mut out = Vec::new();
    for query in [
        all_messages.as_str(),
        "SELECT json_array(key, thread_id) FROM thread_keys ORDER BY key",
        "SELECT json_array(id, addresses) FROM search_waiting ORDER BY id",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(query).fetch_all(&mut conn).await.unwrap();
        out.extend(rows.into_iter().map(|(r,)| r));
    }
    out
}

/// A header sync prepares each window's column texts and thread keys while the previous window
/// commits (`Store::insert_prepared_window`): the rows are those the unprepared write makes,
/// replies, a repeated UID and an already stored UID included, and a `Prepared` made from
/// another batch is not trusted.
#[tokio::test]
async fn prepared_windows_store_what_unprepared_windows_store() {
    let windows: Vec<Vec<NewMessage>> = {
        let mut all: Vec<NewMessage> = (1..=300).map(message).collect();
        for m in all.iter_mut().filter(|m| m.uid % 5 == 0) {
            // Replies to the message before, some across windows.
            m.in_reply_to = Some(format!("<m{}@x.org>", m.uid - 1));
            m.references = vec![
                format!("<m{}@x.org>", m.uid - 3),
                format!("<m{}@x.org>", m.uid - 1),
            ];
            m.flags.keywords = vec!["$label1".into(), "Work \"x\"".into()];
        }
        let mut windows: Vec<Vec<NewMessage>> = all.chunks(100).map(<[_]>::to_vec).collect();
        // A UID twice in one window, and one already stored by the window before.
        windows[1].push(message(150));
        windows[2].push(message(42));
        windows
    };
    let dir = tempfile::tempdir().unwrap();
    let (plain_path, prepared_path) = (dir.path().join("plain.db"), dir.path().join("prep.db"));
    let (plain, plain_inbox) = inbox(&plain_path).await;
    let (prep, prep_inbox) = inbox(&prepared_path).await;
    for (i, window) in windows.iter().enumerate() {
        plain
            .insert_window_index_later(plain_inbox, &STATE, window)
            .await
            .unwrap();
        // The last window with another window's preparation: made again by the write.
        let made_from = if i == 2 { &windows[0] } else { window };
        prep.insert_prepared_window(
            prep_inbox,
            &STATE,
            window,
            Some(Prepared::new(made_from).unwrap()),
        )
        .await
        .unwrap();
    }
    plain.close().await;
    prep.close().await;
    let (a, b) = (written(&plain_path).await, written(&prepared_path).await);
    assert_eq!(
        a.len(),
        300 + 300 + 300,
        "messages, thread links, waiting rows"
    );
    assert_eq!(a, b);
    assert!(
        a.iter().any(|row| row.contains("$label1")),
        "{:?}",
        a.first()
    );
    // Empty lists are stored as `[]`.
    let url = format!("sqlite://{}", prepared_path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let (empty_lists, empty_keywords, empty_references): (i64, i64, i64) = sqlx::query_as(
        "SELECT sum(reply_to_addrs = '[]' AND bcc_addrs = '[]'), sum(keywords = '[]'),
                sum(header_references = '[]')
         FROM messages",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // 240 messages were written without keywords or references, and UID 150 again without.
    assert_eq!(
        (empty_lists, empty_keywords, empty_references),
        (300, 241, 241)
    );
}
