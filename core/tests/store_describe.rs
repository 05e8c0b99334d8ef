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
