//! The vendored sqlx-sqlite leaves out query describing and binds without copying
//! (vendor/sqlx-sqlite/ANVERT-PATCH.md). Describing:
//! asking for it fails with a clear error, and queries run as before. Fails if a dependency
//! update brings back the upstream crate (describing `SELECT 1` would then succeed).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use sqlx::{Connection, Executor, SqliteConnection};

#[tokio::test]
async fn describing_fails_and_queries_still_run() {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    let error = (&mut conn).describe("SELECT 1").await.unwrap_err();
    assert!(error.to_string().contains("Anvert's patch"), "{error}");
    let one: i64 = sqlx::query_scalar("SELECT ?1 + 1")
        .bind(0_i64)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one, 1);
}

/// Texts and blobs are bound without a copy (ANVERT-PATCH.md): values bound by reference are
/// read correctly, returned rows own their values after the arguments are gone, and a cached
/// statement whose last run failed (its bindings cleared anyway) runs again with new values.
#[tokio::test]
async fn arguments_bound_without_a_copy_stay_correct() {
    let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
    sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB NOT NULL) STRICT")
        .execute(&mut conn)
        .await
        .unwrap();
    let insert = "INSERT INTO t (k, v) VALUES (?1, ?2)";
    for i in 0..50 {
        let key = format!("key-{i}-{}", "é".repeat(i));
        let value = vec![i as u8; i * 10];
        sqlx::query(insert)
            .bind(key.as_str())
            .bind(value.as_slice())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // The same cached statement fails (duplicate key), then runs with other values.
    let error = sqlx::query(insert)
        .bind("key-3-ééé")
        .bind(vec![0u8])
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("UNIQUE"), "{error}");
    sqlx::query(insert)
        .bind(String::from("after"))
        .bind(vec![7u8; 3])
        .execute(&mut conn)
        .await
        .unwrap();
    // Rows that echo their arguments outlive them.
    let echoed: Vec<(String, Vec<u8>)> = {
        let text = String::from("echo text");
        let blob = vec![1u8, 2, 3];
        sqlx::query_as("SELECT ?1 || k, ?2 FROM t WHERE k IN ('after', 'key-2-éé') ORDER BY k")
            .bind(text.as_str())
            .bind(blob.as_slice())
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(
        echoed,
        [
            ("echo textafter".to_string(), vec![1, 2, 3]),
            ("echo textkey-2-éé".to_string(), vec![1, 2, 3]),
        ]
    );
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT k, v FROM t ORDER BY rowid")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 51);
    assert_eq!(rows[7], (format!("key-7-{}", "é".repeat(7)), vec![7u8; 70]));
    assert_eq!(rows[50], ("after".to_string(), vec![7u8; 3]));
}

/// A `BEGIN IMMEDIATE` cancelled at any point (as a cancelled download or sync drops the
/// store write it was starting) never leaves the one writer connection inside a transaction
/// nobody owns (ANVERT-PATCH.md). Upstream checked the custom statement's effect after a
/// second await: a `begin` dropped there leaked its transaction, and every later write on the
/// connection failed with "cannot begin a transaction within a transaction"
/// (`InvalidSavePointStatement`), for the life of the pool's connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_begin_cancelled_anywhere_leaves_the_writer_usable() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let dir = tempfile::tempdir().unwrap();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.path().join("w.db"))
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut dropped_pending = 0;
    for round in 0..300u32 {
        // Poll the begin a few times with pauses (the worker runs BEGIN meanwhile), then
        // drop it wherever it is.
        let mut begin = Box::pin(pool.begin_with("BEGIN IMMEDIATE"));
        let mut finished = false;
        for poll in 0..=(round % 4) {
            if let Poll::Ready(result) = begin.as_mut().poll(&mut cx) {
                drop(result.unwrap());
                finished = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(u64::from(
                (round * 37 + poll * 101) % 400,
            )));
        }
        if !finished {
            dropped_pending += 1;
        }
        drop(begin);
        // Whatever happened, the next write works.
        let mut tx = pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        sqlx::query("INSERT INTO t VALUES (?)")
            .bind(round)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert!(dropped_pending > 0, "no begin was dropped while pending");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 300);
}
