//! The vendored sqlx-sqlite leaves out query describing (vendor/sqlx-sqlite/ANVERT-PATCH.md):
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
