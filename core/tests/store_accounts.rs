//! Store tests of accounts and the database file: removing an account removes every row it
//! owns (search index included) and nothing of another's, reopening the file keeps the data
//! and runs each migration once (in WAL mode), and the byte ledger adds up by network kind and
//! purpose, refusing overflows and unknown accounts.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use sqlx::{Connection, SqliteConnection};

use anvert_core::{
    Error,
    store::{AccountId, AccountKind, Store},
};

use crate::common::store_fixture::{
    Fixture, db_path, folder, message, messages, new_account, state,
};

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
