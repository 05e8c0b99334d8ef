//! The schema migrations: the numbered files in `core/migrations`, embedded at build time and
//! applied in order on open, each in its own transaction together with the new schema version
//! (SQLite's `user_version`), so a crash between two leaves the file at the earlier one.
//!
//! This replaces sqlx's migrator, whose locking, checksum table and bookkeeping cost the
//! mobile library about 30 KB for what a single writer connection does in a few statements
//! (issue 7, library size). A database written by that migrator (`_sqlx_migrations`, an
//! early development build) is taken over at the version it recorded.

use sqlx::{Connection, Executor, SqliteConnection};

use super::{sql, sqltext::squeezed};
use crate::{Error, Result};

/// The migration files as written, comments and all: read at compile time only.
const FILES: [&str; 21] = [
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_content.sql"),
    include_str!("../../migrations/0003_pop3.sql"),
    include_str!("../../migrations/0004_ops.sql"),
    include_str!("../../migrations/0005_search_insert.sql"),
    include_str!("../../migrations/0006_moves.sql"),
    include_str!("../../migrations/0007_pop3_more.sql"),
    include_str!("../../migrations/0008_incomplete.sql"),
    include_str!("../../migrations/0009_folder_roles.sql"),
    include_str!("../../migrations/0010_flags.sql"),
    include_str!("../../migrations/0011_preview_nil.sql"),
    include_str!("../../migrations/0012_binary_downloads.sql"),
    include_str!("../../migrations/0013_objectid.sql"),
    include_str!("../../migrations/0014_search_hits.sql"),
    include_str!("../../migrations/0015_outbox.sql"),
    include_str!("../../migrations/0016_folder_counts.sql"),
    include_str!("../../migrations/0017_counts_by_the_insert.sql"),
    include_str!("../../migrations/0018_thread_keys.sql"),
    include_str!("../../migrations/0019_search_merges.sql"),
    include_str!("../../migrations/0020_parts_column.sql"),
    include_str!("../../migrations/0021_search_pending.sql"),
];

/// Every migration, in order: version `i + 1` is `MIGRATIONS[i]`. Carried without their
/// comments and indentation ([`squeezed!`]): the files explain the schema to readers, and
/// the database needs only the statements (37 KB of text in the library becomes 16 KB).
const MIGRATIONS: [&str; 21] = [
    squeezed!(FILES[0]),
    squeezed!(FILES[1]),
    squeezed!(FILES[2]),
    squeezed!(FILES[3]),
    squeezed!(FILES[4]),
    squeezed!(FILES[5]),
    squeezed!(FILES[6]),
    squeezed!(FILES[7]),
    squeezed!(FILES[8]),
    squeezed!(FILES[9]),
    squeezed!(FILES[10]),
    squeezed!(FILES[11]),
    squeezed!(FILES[12]),
    squeezed!(FILES[13]),
    squeezed!(FILES[14]),
    squeezed!(FILES[15]),
    squeezed!(FILES[16]),
    squeezed!(FILES[17]),
    squeezed!(FILES[18]),
    squeezed!(FILES[19]),
    squeezed!(FILES[20]),
];

// A file added to FILES is a migration only once it is squeezed into MIGRATIONS too.
const _: () = assert!(FILES.len() == MIGRATIONS.len());

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database on `conn` (the writer) to `LATEST`. Refuses a newer database rather
/// than guess at a schema this build does not know.
pub(crate) async fn run(conn: &mut SqliteConnection) -> Result<()> {
    let version = current_version(conn).await?;
    // A negative version was not written by any Anvert: refuse it like a newer one.
    let applied = usize::try_from(version)
        .ok()
        .filter(|&n| n <= MIGRATIONS.len())
        .ok_or_else(|| Error::StoreMigration {
            reason: format!(
                "the database has schema version {version}, newer than this engine's {LATEST}"
            ),
        })?;
    for (index, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        let next = index + 1;
        let mut tx = conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql("start a schema migration"))?;
        tx.execute(*script)
            .await
            .map_err(|e| Error::StoreMigration {
                reason: format!("migration {next} failed: {e}"),
            })?;
        if next == THREAD_KEYS {
            carry_thread_links(&mut tx).await?;
        }
        // PRAGMA takes no bound parameters; `next` is an integer we computed.
        let record = format!("PRAGMA user_version = {next}");
        tx.execute(record.as_str())
            .await
            .map_err(sql("record the schema version"))?;
        tx.commit()
            .await
            .map_err(sql("commit a schema migration"))?;
    }
    Ok(())
}

/// The migration that keys conversation links by a hash (0018_thread_keys.sql).
const THREAD_KEYS: usize = 18;

/// Old links carried into `thread_keys` at a time.
const CARRY_BATCH: i64 = 4_096;

/// Migration 18's Rust half: every `thread_links` row into `thread_keys` under its hashed key
/// (in key order of the old table, a batch at a time, so memory stays flat), then the old
/// table goes. Two old ids with one key keep the first thread met; the next message of the
/// other joins it.
async fn carry_thread_links(conn: &mut SqliteConnection) -> Result<()> {
    let mut after: Option<(i64, String)> = None;
    loop {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT account_id, mid, thread_id FROM thread_links
             WHERE ?1 IS NULL OR (account_id, mid) > (?1, ?2)
             ORDER BY account_id, mid LIMIT ?3",
        )
        .bind(after.as_ref().map(|(a, _)| *a))
        .bind(after.as_ref().map(|(_, m)| m.as_str()))
        .bind(CARRY_BATCH)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("read the old conversation links"))?;
        let Some((account, mid, _)) = rows.last() else {
            break;
        };
        after = Some((*account, mid.clone()));
        let keyed: Vec<(i64, i64, i64)> = rows
            .iter()
            .map(|(account, mid, thread)| (*account, super::threads::link_key(mid), *thread))
            .collect();
        sqlx::query(
            "INSERT INTO thread_keys (account_id, key, thread_id)
             SELECT l.value ->> 0, l.value ->> 1, l.value ->> 2 FROM json_each(?1) AS l
             WHERE true
             ON CONFLICT (account_id, key) DO NOTHING",
        )
        .bind(super::codec::batch_json(&keyed, "conversation links")?)
        .execute(&mut *conn)
        .await
        .map_err(sql("carry the conversation links"))?;
    }
    conn.execute("DROP TABLE thread_links")
        .await
        .map_err(sql("drop the old conversation links"))?;
    Ok(())
}

/// `user_version`, or for a file from sqlx's migrator the highest version it applied.
async fn current_version(conn: &mut SqliteConnection) -> Result<i64> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("read the schema version"))?;
    if version != 0 {
        return Ok(version);
    }
    let legacy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema
                         WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(sql("read the schema version"))?;
    if !legacy {
        return Ok(0);
    }
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(sql("read the schema version"))?;
    Ok(applied.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(path: &std::path::Path) -> SqliteConnection {
        use sqlx::{ConnectOptions, sqlite::SqliteConnectOptions};
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap()
    }

    async fn version(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn applies_every_migration_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("a.db")).await;
        run(&mut conn).await.unwrap();
        assert_eq!(version(&mut conn).await, LATEST);
        // A second run is a no-op (it would fail on CREATE TABLE if it re-ran 0001).
        run(&mut conn).await.unwrap();
        assert_eq!(version(&mut conn).await, LATEST);
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'messages'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(tables, 1);
        // 0019: the search index merges eight segments at a time (FTS5 keeps it in its
        // config table; absent, it would be the default of 4).
        let automerge: i64 =
            sqlx::query_scalar("SELECT v FROM message_search_config WHERE k = 'automerge'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(automerge, 8);
        // 0021: messages waiting for the search index (none yet).
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM search_waiting")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(waiting, 0);
    }

    /// Every schema object with its columns (tables), key columns (indexes) and, for all, its
    /// SQL text with whitespace and comment lines left out: what the files define.
    async fn schema(conn: &mut SqliteConnection) -> Vec<String> {
        let objects: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        let mut out = Vec::new();
        for (kind, name, text) in objects {
            // Comments are whole `--` lines or line ends outside quotes in these files.
            let text: String = text
                .unwrap_or_default()
                .lines()
                .map(|line| match line.find("--") {
                    Some(at) if !line[..at].contains('\'') => &line[..at],
                    _ => line,
                })
                .collect::<String>()
                .split_whitespace()
                .collect();
            let pragma = match kind.as_str() {
                "table" => "table_xinfo",
                "index" => "index_xinfo",
                _ => "",
            };
            let mut columns = Vec::new();
            if !pragma.is_empty() {
                let query = format!("SELECT * FROM pragma_{pragma}('{name}')");
                for row in sqlx::query(&query).fetch_all(&mut *conn).await.unwrap() {
                    use sqlx::Row;
                    let cells: Vec<String> = (0..row.len())
                        .map(|i| {
                            row.try_get::<Option<String>, _>(i)
                                .map(|v| format!("{v:?}"))
                                .or_else(|_| {
                                    row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}"))
                                })
                                .unwrap()
                        })
                        .collect();
                    columns.push(cells.join("|"));
                }
            }
            out.push(format!("{kind} {name} {text} [{}]", columns.join("; ")));
        }
        out
    }

    #[tokio::test]
    async fn squeezed_migrations_build_the_schema_the_files_define() {
        assert!(MIGRATIONS.iter().zip(FILES).all(|(s, f)| s.len() < f.len()));
        let dir = tempfile::tempdir().unwrap();
        let mut squeezed = open(&dir.path().join("s.db")).await;
        run(&mut squeezed).await.unwrap();
        let mut written = open(&dir.path().join("w.db")).await;
        for (index, file) in FILES.iter().enumerate() {
            sqlx::raw_sql(file).execute(&mut written).await.unwrap();
            if index + 1 == THREAD_KEYS {
                carry_thread_links(&mut written).await.unwrap();
            }
        }
        let (a, b) = (schema(&mut squeezed).await, schema(&mut written).await);
        assert!(a.len() > 30, "{a:?}");
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn refuses_a_newer_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("b.db")).await;
        sqlx::raw_sql("PRAGMA user_version = 99")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = run(&mut conn).await.unwrap_err();
        assert!(matches!(err, Error::StoreMigration { .. }), "{err:?}");
        assert!(err.to_string().contains("99"), "{err}");
    }

    #[tokio::test]
    async fn takes_over_a_sqlx_migrated_file_at_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("c.db")).await;
        // What sqlx's migrator left after applying 0001..0006.
        for script in &MIGRATIONS[..6] {
            sqlx::raw_sql(script).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN);
             INSERT INTO _sqlx_migrations VALUES (1,1),(2,1),(3,1),(4,1),(5,1),(6,1);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        run(&mut conn).await.unwrap();
        assert_eq!(version(&mut conn).await, LATEST);
    }

    /// A database from before migration 18: its Message-ID links are carried over under
    /// their keys (more than one batch of them), and a reply arriving afterwards joins the
    /// conversation its parent is in.
    #[tokio::test]
    async fn old_conversation_links_are_carried_into_hashed_keys() {
        use crate::store::{MessageId, NewMessage, Store};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.db");
        let mut conn = open(&path).await;
        for script in &MIGRATIONS[..THREAD_KEYS - 1] {
            sqlx::raw_sql(script).execute(&mut conn).await.unwrap();
        }
        let setup = format!(
            "PRAGMA user_version = {};
             INSERT INTO accounts (id, kind, host, port, security) VALUES (1, 'imap', 'h', 993, 'tls');
             INSERT INTO folders (id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1);
             INSERT INTO messages (id, folder_id, uid, internal_date, thread_id, header_message_id)
                 VALUES (1, 1, 1, 100, 7, '<parent@example.com>');
             INSERT INTO thread_links (account_id, mid, thread_id)
                 VALUES (1, 'parent@example.com', 7), (1, 'grandparent@example.com', 7);",
            THREAD_KEYS - 1
        );
        sqlx::raw_sql(&setup).execute(&mut conn).await.unwrap();
        // Links of threads whose messages are gone still count: more than a batch of them.
        let filler: Vec<String> = (0..CARRY_BATCH + 10)
            .map(|i| format!("(1, 'x{i}@example.com', {})", 100 + i))
            .collect();
        sqlx::raw_sql(&format!(
            "INSERT INTO thread_links (account_id, mid, thread_id) VALUES {}",
            filler.join(",")
        ))
        .execute(&mut conn)
        .await
        .unwrap();
        run(&mut conn).await.unwrap();
        assert_eq!(version(&mut conn).await, LATEST);
        let (keys, old): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM thread_keys),
                    (SELECT count(*) FROM sqlite_schema WHERE name = 'thread_links')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!((keys, old), (CARRY_BATCH + 12, 0));
        let thread: i64 = sqlx::query_scalar(
            "SELECT thread_id FROM thread_keys WHERE account_id = 1 AND key = ?1",
        )
        .bind(super::super::threads::link_key("grandparent@example.com"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(thread, 7);
        conn.close().await.unwrap();

        let store = Store::open(&path).await.unwrap();
        let reply = NewMessage {
            uid: 2,
            internal_date: 200,
            message_id: Some("<reply@example.com>".into()),
            in_reply_to: Some("<grandparent@example.com>".into()),
            ..NewMessage::default()
        };
        let state = crate::store::FolderSyncState {
            uidvalidity: Some(1),
            ..Default::default()
        };
        store
            .insert_window(crate::store::FolderId(1), &state, &[reply])
            .await
            .unwrap();
        let conversation = store.thread(MessageId(1)).await.unwrap();
        let uids: Vec<u32> = conversation.iter().map(|m| m.uid).collect();
        assert_eq!(uids, [1, 2]);
    }

    /// A database from before migration 20: each message's part rows become its `parts`
    /// column in their stored order (not section order), their download states and records
    /// stay, and they still go with their account.
    #[tokio::test]
    async fn part_rows_are_carried_into_the_parts_column() {
        use crate::store::{AccountId, DownloadState, MessageId, Store};
        const PARTS_COLUMN: usize = 20;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut conn = open(&path).await;
        for script in &MIGRATIONS[..PARTS_COLUMN - 1] {
            sqlx::raw_sql(script).execute(&mut conn).await.unwrap();
        }
        let setup = format!(
            "PRAGMA user_version = {};
             INSERT INTO accounts (id, kind, host, port, security) VALUES (1, 'imap', 'h', 993, 'tls');
             INSERT INTO folders (id, account_id, name, uidvalidity) VALUES (1, 1, 'INBOX', 1);
             INSERT INTO messages (id, folder_id, uid, internal_date, thread_id, has_attachments)
                 VALUES (1, 1, 1, 100, 1, 1), (2, 1, 2, 200, 2, 0);
             INSERT INTO parts (id, message_id, section, mime_type, charset, encoding, size,
                                lines, disposition, filename, content_id, is_attachment,
                                download_state)
                 VALUES (1, 1, '2', 'application/pdf', NULL, 'base64', 5000, NULL,
                         'attachment', 'r.pdf', '<c@x>', 1, 'partial'),
                        (2, 1, '1', 'text/plain', 'utf-8', '7bit', 40, 2, NULL, NULL, NULL,
                         0, 'none'),
                        (3, 1, '10', 'image/png', NULL, 'base64', 90, NULL, 'inline', 'i.png',
                         NULL, 1, 'complete');
             INSERT INTO part_downloads (message_id, section, destination, encoded_offset,
                                         decoded_len, decoder_state, state, bytes_on_disk,
                                         updated_at, last_used, mode, chunk_len)
                 VALUES (1, '2', '/d/r.pdf', 1024, 768, x'', 'partial', 768, 1, 1, 'binary', 1024),
                        (1, '10', '/d/i.png', 90, 66, x'', 'complete', 66, 1, 1, 'body', 0);",
            PARTS_COLUMN - 1
        );
        sqlx::raw_sql(&setup).execute(&mut conn).await.unwrap();
        run(&mut conn).await.unwrap();
        assert_eq!(version(&mut conn).await, LATEST);
        let old: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE name = 'parts'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(old, 0);
        conn.close().await.unwrap();

        let store = Store::open(&path).await.unwrap();
        let detail = store.message(MessageId(1)).await.unwrap().unwrap();
        let parts: Vec<(&str, &str, Option<&str>, bool, DownloadState)> = detail
            .parts
            .iter()
            .map(|p| {
                (
                    p.section.as_str(),
                    p.mime_type.as_str(),
                    p.filename.as_deref(),
                    p.is_attachment,
                    p.download_state,
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                (
                    "2",
                    "application/pdf",
                    Some("r.pdf"),
                    true,
                    DownloadState::Partial
                ),
                ("1", "text/plain", None, false, DownloadState::None),
                (
                    "10",
                    "image/png",
                    Some("i.png"),
                    true,
                    DownloadState::Complete
                ),
            ]
        );
        let pdf = &detail.parts[0];
        assert_eq!(
            (pdf.encoding.as_deref(), pdf.size, pdf.content_id.as_deref()),
            (Some("base64"), 5000, Some("<c@x>"))
        );
        assert_eq!(
            (detail.parts[1].charset.as_deref(), detail.parts[1].lines),
            (Some("utf-8"), Some(2))
        );
        let record = store.download(MessageId(1), "2").await.unwrap().unwrap();
        assert_eq!((record.encoded_offset, record.decoded_len), (1024, 768));
        let bare = store.message(MessageId(2)).await.unwrap().unwrap();
        assert!(bare.parts.is_empty());

        store.remove_account(AccountId(1)).await.unwrap();
        let mut conn = store.write().await.unwrap();
        let left: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM part_states), (SELECT count(*) FROM part_downloads)",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(left, (0, 0));
    }

    #[tokio::test]
    async fn a_failed_migration_leaves_the_earlier_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("d.db")).await;
        // A table 0001 creates is already there: migration 1 fails and rolls back whole.
        sqlx::raw_sql("CREATE TABLE accounts (x)")
            .execute(&mut conn)
            .await
            .unwrap();
        let err = run(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("migration 1"), "{err}");
        assert_eq!(version(&mut conn).await, 0);
    }
}
