//! A download left partial by the engine before issue 16 (BODY.PEEK ranges, encoded offset
//! and decoder carry in its record, schema 11) resumes after the upgrade to schema 12 in
//! BODY mode, from its offset, and finishes byte-identical against a real server, although
//! the upgraded engine fetches new downloads through BINARY.
//!
//! The schema-11 store is made the way it was: the download runs on the old path (BINARY
//! off, one chunk per round trip) and is cancelled part-way; then the two columns migration
//! 12 added are dropped and the schema version set back to 11, which is the schema-11 table
//! exactly. Reopening the engine migrates it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use anvert_core::{
    Error,
    engine::{CancellationToken, Engine, EngineConfig, ProgressListener},
    imap::ConnectOptions,
    policy::NetworkKind,
    store::{DownloadState, TransferMode},
};
use anvert_tests::{
    attachment::{deliver, synced},
    on_each_server,
    server::TestServer,
};
use sha2::{Digest, Sha256};
use sqlx::{Connection, SqliteConnection};

/// Cancels the download once `at` bytes are done; records the first progress seen.
struct CancelAt {
    at: u64,
    cancel: CancellationToken,
    first: Mutex<Option<u64>>,
}

impl ProgressListener for CancelAt {
    fn progress(&self, done: u64, _total: u64) {
        self.first.lock().unwrap().get_or_insert(done);
        if done >= self.at {
            self.cancel.cancel();
        }
    }
}

async fn a_body_download_from_schema_11_resumes_after_the_upgrade(server: &dyn TestServer) {
    let mailbox = deliver(server);
    let part = &mailbox.part;
    let dir = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    // The old path: BODY ranges, one chunk per round trip.
    let old_path = ConnectOptions {
        binary: false,
        download_depth: 1,
        ..ConnectOptions::default()
    };
    let (engine, account, message) =
        synced(server, server.imaps_addr(), dir.path(), old_path, &mailbox).await;

    // Part-way on the old path.
    let listener = CancelAt {
        at: part.encoded_size as u64 / 3,
        cancel: CancellationToken::new(),
        first: Mutex::new(None),
    };
    let err = engine
        .download_part(
            message,
            &part.section,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(&listener),
            &listener.cancel.clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    let kept = engine
        .store()
        .download(message, &part.section)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.mode, TransferMode::Body);
    assert!(kept.encoded_offset > 0 && kept.encoded_offset < part.encoded_size as u64);
    drop(engine);

    // Back to schema 11: what migrations 21 down to 12 added is taken away, newest first (a
    // later migration adds its own undo here).
    let db = dir.path().join("anvert.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    for statement in [
        // 0021_search_pending (the engine's sync ran the index pass: nothing waits)
        "DROP TRIGGER messages_search_waiting_update",
        "DROP TRIGGER messages_search_delete",
        "CREATE TRIGGER messages_search_delete AFTER DELETE ON messages
         BEGIN DELETE FROM message_search WHERE rowid = old.id; END",
        "DROP TRIGGER messages_search_update",
        "CREATE TRIGGER messages_search_update
         AFTER UPDATE OF subject, preview, from_addrs, sender_addrs, reply_to_addrs, to_addrs,
                         cc_addrs, bcc_addrs ON messages
         WHEN old.subject IS NOT new.subject OR old.preview IS NOT new.preview
           OR old.from_addrs IS NOT new.from_addrs OR old.sender_addrs IS NOT new.sender_addrs
           OR old.reply_to_addrs IS NOT new.reply_to_addrs OR old.to_addrs IS NOT new.to_addrs
           OR old.cc_addrs IS NOT new.cc_addrs OR old.bcc_addrs IS NOT new.bcc_addrs
         BEGIN
             DELETE FROM message_search WHERE rowid = old.id;
             INSERT INTO message_search (rowid, subject, addresses, preview)
             VALUES (new.id, new.subject,
                 (SELECT group_concat(concat_ws(' ', a.value ->> 0, a.value ->> 1), ' ')
                  FROM (SELECT value FROM json_each(new.from_addrs)
                        UNION ALL SELECT value FROM json_each(new.sender_addrs)
                        UNION ALL SELECT value FROM json_each(new.reply_to_addrs)
                        UNION ALL SELECT value FROM json_each(new.to_addrs)
                        UNION ALL SELECT value FROM json_each(new.cc_addrs)
                        UNION ALL SELECT value FROM json_each(new.bcc_addrs)) AS a),
                 coalesce(new.preview, ''));
         END",
        "DROP TABLE search_waiting",
        // 0020_parts_column: the part rows again, their download states, and the downloads
        // tied to them (the partial download above among them)
        "CREATE TABLE parts (
             id INTEGER PRIMARY KEY,
             message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
             section TEXT NOT NULL CHECK (section <> '' AND section NOT GLOB '*[^0-9.]*'),
             mime_type TEXT NOT NULL, charset TEXT, encoding TEXT,
             size INTEGER NOT NULL DEFAULT 0 CHECK (size BETWEEN 0 AND 4294967295),
             lines INTEGER CHECK (lines BETWEEN 0 AND 4294967295),
             disposition TEXT, filename TEXT, content_id TEXT,
             is_attachment INTEGER NOT NULL DEFAULT 0 CHECK (is_attachment IN (0, 1)),
             download_state TEXT NOT NULL DEFAULT 'none'
                 CHECK (download_state IN ('none', 'partial', 'complete')),
             UNIQUE (message_id, section)) STRICT",
        "INSERT INTO parts (message_id, section, mime_type, charset, encoding, size, lines,
                            disposition, filename, content_id, is_attachment, download_state)
         SELECT m.id, p.value ->> 0, p.value ->> 1, p.value ->> 2, p.value ->> 3,
                p.value ->> 4, p.value ->> 5, p.value ->> 6, p.value ->> 7, p.value ->> 8,
                p.value ->> 9,
                coalesce((SELECT s.download_state FROM part_states AS s
                          WHERE s.message_id = m.id AND s.section = p.value ->> 0), 'none')
         FROM messages AS m, json_each(m.parts) AS p ORDER BY m.id, p.key",
        "CREATE TABLE part_downloads_old (
             message_id INTEGER NOT NULL, section TEXT NOT NULL, destination TEXT NOT NULL,
             encoded_offset INTEGER NOT NULL CHECK (encoded_offset >= 0),
             decoded_len INTEGER NOT NULL CHECK (decoded_len >= 0),
             decoder_state BLOB NOT NULL,
             state TEXT NOT NULL CHECK (state IN ('partial', 'complete')),
             bytes_on_disk INTEGER NOT NULL CHECK (bytes_on_disk >= 0),
             updated_at INTEGER NOT NULL, last_used INTEGER NOT NULL,
             mode TEXT NOT NULL DEFAULT 'body' CHECK (mode IN ('auto', 'body', 'binary')),
             chunk_len INTEGER NOT NULL DEFAULT 0 CHECK (chunk_len >= 0),
             PRIMARY KEY (message_id, section),
             FOREIGN KEY (message_id, section) REFERENCES parts (message_id, section)
                 ON DELETE CASCADE) STRICT, WITHOUT ROWID",
        "INSERT INTO part_downloads_old SELECT * FROM part_downloads",
        "DROP TABLE part_downloads",
        "ALTER TABLE part_downloads_old RENAME TO part_downloads",
        "CREATE INDEX part_downloads_by_last_used ON part_downloads (state, last_used)",
        "DROP TABLE part_states",
        "ALTER TABLE messages DROP COLUMN parts",
        // 0019_search_merges
        "INSERT INTO message_search (message_search, rank) VALUES ('automerge', 4)",
        // 0018_thread_keys (the links themselves are not carried back: a key cannot be)
        "DROP TRIGGER messages_thread_cleanup",
        "DROP TABLE thread_keys",
        "CREATE TABLE thread_links (
             account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
             mid TEXT NOT NULL, thread_id INTEGER NOT NULL,
             PRIMARY KEY (account_id, mid)) STRICT, WITHOUT ROWID",
        "CREATE INDEX thread_links_by_thread ON thread_links (thread_id)",
        "CREATE TRIGGER messages_thread_cleanup AFTER DELETE ON messages
         WHEN NOT EXISTS (SELECT 1 FROM messages WHERE thread_id = old.thread_id)
         BEGIN DELETE FROM thread_links WHERE thread_id = old.thread_id; END",
        // 0017_counts_by_the_insert
        "CREATE TRIGGER folder_counts_insert AFTER INSERT ON messages WHEN new.tombstone = 0
         BEGIN UPDATE folder_counts SET total = total + 1, unread = unread + ((new.flags & 1) = 0)
         WHERE folder_id = new.folder_id; END",
        // 0016_folder_counts
        "DROP INDEX messages_by_id_date",
        "CREATE INDEX messages_by_flags ON messages (folder_id, flags)",
        "DROP TRIGGER folder_counts_update",
        "DROP TRIGGER folder_counts_delete",
        "DROP TRIGGER folder_counts_insert",
        "DROP TRIGGER folder_counts_new_folder",
        "DROP TABLE folder_counts",
        // 0015_outbox
        "DROP INDEX outbox_by_orig_folder",
        "DROP INDEX outbox_by_original",
        "DROP INDEX outbox_by_account",
        "DROP TABLE outbox",
        "ALTER TABLE accounts DROP COLUMN sent_autofiled",
        "ALTER TABLE accounts DROP COLUMN smtp_security",
        "ALTER TABLE accounts DROP COLUMN smtp_port",
        "ALTER TABLE accounts DROP COLUMN smtp_host",
        // 0014_search_hits
        "DROP INDEX messages_outside_window",
        "ALTER TABLE messages DROP COLUMN search_hit_at",
        "ALTER TABLE messages DROP COLUMN outside_window",
        // 0013_objectid
        "DROP TABLE objectid_checks",
        "DROP INDEX messages_tombstones",
        "DROP INDEX messages_by_email_id",
        "ALTER TABLE messages DROP COLUMN tombstone",
        "ALTER TABLE messages DROP COLUMN server_thread",
        "ALTER TABLE messages DROP COLUMN email_id",
        // 0012_binary_downloads
        "ALTER TABLE part_downloads DROP COLUMN chunk_len",
        "ALTER TABLE part_downloads DROP COLUMN mode",
        "PRAGMA user_version = 11",
    ] {
        sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    }
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('part_downloads')")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(!columns.iter().any(|c| c == "mode" || c == "chunk_len"));
    conn.close().await.unwrap();

    // The upgraded engine (BINARY on, pipelined) migrates the store and resumes in BODY mode.
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.ca_pem()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    engine
        .set_credential(account, server.credential("alice"))
        .await
        .unwrap();
    let migrated = engine
        .store()
        .download(message, &part.section)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            migrated.mode,
            migrated.encoded_offset,
            &migrated.decoder_state
        ),
        (TransferMode::Body, kept.encoded_offset, &kept.decoder_state)
    );
    let listener = CancelAt {
        at: u64::MAX,
        cancel: CancellationToken::new(),
        first: Mutex::new(None),
    };
    let path = engine
        .download_part(
            message,
            &part.section,
            downloads.path(),
            NetworkKind::Unmetered,
            Some(&listener),
            &CancellationToken::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", server.name(), server.log()));
    assert_eq!(
        hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
        part.sha256,
        "{}: byte-identical",
        server.name()
    );
    let first = listener.first.lock().unwrap().unwrap();
    assert!(
        first > kept.encoded_offset,
        "resumed from the saved encoded offset, not from zero: {first}"
    );
    let finished = engine
        .store()
        .download(message, &part.section)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(finished.state, DownloadState::Complete);
    assert_eq!(
        finished.mode,
        TransferMode::Body,
        "never switched to BINARY"
    );
}

on_each_server!(a_body_download_from_schema_11_resumes_after_the_upgrade);
