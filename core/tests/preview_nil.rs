//! What an account remembers about a server that answers every PREVIEW with NIL (issue 16,
//! item 6; migration 0011), against a real SQLite file: a database of the release before
//! (schema 10, with an account) opens and starts with nothing known; the memory holds for the
//! fingerprint it was recorded for, and a session to another server version forgets it.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use sqlx::{Connection, SqliteConnection};

use anvert_core::store::{FolderId, Store};

/// A database exactly as schema 10 left it, with account 1 and its INBOX (folder 1).
async fn schema_10_database(path: &Path) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for file in &files[..10] {
        let script = std::fs::read_to_string(file).unwrap();
        sqlx::raw_sql(&script).execute(&mut conn).await.unwrap();
    }
    for statement in [
        "PRAGMA user_version = 10",
        "INSERT INTO accounts (id, kind, host, port, security) VALUES (1, 'imap', 'h', 993, 'tls')",
        "INSERT INTO folders (id, account_id, name) VALUES (1, 1, 'INBOX')",
        "INSERT INTO folders (id, account_id, name) VALUES (2, 1, 'Archive')",
    ] {
        sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_schema_10_database_opens_and_remembers_per_server_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anvert.db");
    schema_10_database(&path).await;

    let store = Store::open(&path).await.unwrap();
    let (inbox, archive) = (FolderId(1), FolderId(2));
    let (cyrus, upgraded) = (0x0123_4567_89ab_cdef_u64, 0xfedc_ba98_7654_3210_u64);
    assert!(!store.preview_nil(inbox, cyrus).await.unwrap());

    store.set_preview_nil(inbox, cyrus).await.unwrap();
    // Per account: every folder of it, and across a reopen.
    assert!(store.preview_nil(archive, cyrus).await.unwrap());
    store.close().await;
    let store = Store::open(&path).await.unwrap();
    assert!(store.preview_nil(inbox, cyrus).await.unwrap());

    // Another server version: not known, and the old memory is gone.
    assert!(!store.preview_nil(inbox, upgraded).await.unwrap());
    assert!(!store.preview_nil(inbox, cyrus).await.unwrap());

    // An unknown folder knows nothing, and is no error.
    assert!(!store.preview_nil(FolderId(99), cyrus).await.unwrap());
    store.close().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // Migrated to the latest schema (11 and every later one).
    assert!(version >= 11, "{version}");
}
