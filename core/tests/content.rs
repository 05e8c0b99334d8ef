//! Content store tests against real SQLite files in a temporary directory: body round trips,
//! download progress that survives reopening the database (a process restart), completion
//! and deletion moving the part's download state, eviction order and the budget, cascades
//! when messages go away, the upgrade of a schema-0001 database, and a whole resumable
//! download driven like the engine drives it, killed at random points, ending byte-identical.

// Test helpers outside `#[test]` functions unwrap too; a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use base64::Engine as _;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use anvert_core::{
    Error,
    blobs::{
        self, ChunkSizer, DecoderState, PartFile, StreamDecoder, TransferEncoding, decoded_limit,
        destination_in,
    },
    store::{
        AccountId, AccountKind, CachedContent, DownloadRecord, DownloadState, Evictable, FolderId,
        FolderRecord, FolderSyncState, MessageId, NewAccount, NewMessage, NewPart, Store, UidRange,
    },
};

/// A store in a fresh file with one account, its INBOX and messages with UIDs 1..=4.
struct Fixture {
    dir: TempDir,
    store: Store,
    account: AccountId,
    inbox: FolderId,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(db_path(&dir)).await.unwrap();
        let (account, inbox) = add_account_with_messages(&store, "Work").await;
        Fixture {
            dir,
            store,
            account,
            inbox,
        }
    }

    async fn id_of(&self, uid: u32) -> MessageId {
        id_of(&self.store, self.inbox, uid).await
    }

    async fn part_state(&self, message: MessageId, section: &str) -> DownloadState {
        let detail = self.store.message(message).await.unwrap().unwrap();
        let part = detail.parts.iter().find(|p| p.section == section).unwrap();
        part.download_state
    }

    async fn reopen(self) -> Fixture {
        self.store.close().await;
        let store = Store::open(db_path(&self.dir)).await.unwrap();
        Fixture { store, ..self }
    }

    async fn raw(&self) -> SqliteConnection {
        raw(&db_path(&self.dir)).await
    }
}

async fn raw(path: &Path) -> SqliteConnection {
    let url = format!("sqlite://{}", path.display());
    SqliteConnection::connect(&url).await.unwrap()
}

async fn count(conn: &mut SqliteConnection, table: &str) -> i64 {
    let query = format!("SELECT count(*) FROM {table}");
    sqlx::query_scalar(&query).fetch_one(conn).await.unwrap()
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("anvert.sqlite3")
}

async fn add_account_with_messages(store: &Store, name: &str) -> (AccountId, FolderId) {
    let account = store
        .add_account(&NewAccount {
            name: name.into(),
            kind: AccountKind::Imap,
            host: "imap.example.com".into(),
            port: 993,
            security: "tls".into(),
            username: "me@example.com".into(),
        })
        .await
        .unwrap();
    let inbox = FolderRecord {
        name: "INBOX".into(),
        delimiter: Some("/".into()),
        role: None,
        subscribed: true,
        selectable: true,
    };
    let folder = store.upsert_folders(account, &[inbox]).await.unwrap()[0];
    let messages: Vec<NewMessage> = (1..=4).map(message).collect();
    store
        .insert_window(folder, &sync_state(), &messages)
        .await
        .unwrap();
    (account, folder)
}

async fn id_of(store: &Store, folder: FolderId, uid: u32) -> MessageId {
    let page = store.messages_page(folder, None, 100).await.unwrap();
    page.items.iter().find(|m| m.uid == uid).unwrap().id
}

fn sync_state() -> FolderSyncState {
    FolderSyncState {
        uidvalidity: Some(7),
        uidnext: Some(5),
        highest_modseq: None,
        lowest_uid_synced: Some(1),
        exists: 4,
    }
}

/// A message with a text part and a base64 attachment at section 2.
fn message(uid: u32) -> NewMessage {
    NewMessage {
        uid,
        internal_date: 1_700_000_000 + i64::from(uid),
        size: 900_000,
        subject: format!("Message {uid}"),
        parts: vec![
            NewPart {
                section: "1".into(),
                mime_type: "text/plain".into(),
                encoding: Some("quoted-printable".into()),
                size: 1_000,
                ..NewPart::default()
            },
            NewPart {
                section: "2".into(),
                mime_type: "image/jpeg".into(),
                encoding: Some("base64".into()),
                size: 800_000,
                filename: Some("../Urlaub/Strand.jpg".into()),
                is_attachment: true,
                ..NewPart::default()
            },
        ],
        ..NewMessage::default()
    }
}

fn progress(message: MessageId, dest: &str, offset: u64, decoded: u64) -> DownloadRecord {
    DownloadRecord {
        encoded_offset: offset,
        decoded_len: decoded,
        decoder_state: DecoderState::from_bytes(b"QQ").unwrap(),
        bytes_on_disk: decoded,
        ..DownloadRecord::start(message, "2", dest)
    }
}

/// Lets the millisecond clock of `last_used` move on.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn bodies_round_trip_compressed() {
    let fx = Fixture::new().await;
    let m1 = fx.id_of(1).await;
    assert_eq!(fx.store.body(m1).await.unwrap(), None);

    let text = "Hallo Anna,\r\nbis Montag! Grüße\r\n".repeat(50);
    let packed = blobs::compress(&text).unwrap();
    let bytes = packed.len() as u64;
    fx.store
        .put_body(m1, Some(packed.as_slice()), None, bytes)
        .await
        .unwrap();
    let stored = fx.store.body(m1).await.unwrap().unwrap();
    assert_eq!((stored.message, stored.stored_bytes), (m1, bytes));
    assert_eq!(stored.html_zstd, None);
    let read = blobs::decompress(stored.text_zstd.as_deref().unwrap(), 1 << 20).unwrap();
    assert_eq!(read, text);

    // Replacing keeps one row; reading marks it used.
    let html = blobs::compress("<p>hi</p>").unwrap();
    fx.store
        .put_body(m1, None, Some(html.as_slice()), 10)
        .await
        .unwrap();
    let first = fx.store.body(m1).await.unwrap().unwrap();
    tick().await;
    let second = fx.store.body(m1).await.unwrap().unwrap();
    assert!(second.last_used > first.last_used);
    assert_eq!((second.text_zstd, second.stored_bytes), (None, 10));
    assert_eq!(fx.store.cache_usage(fx.account).await.unwrap(), 10);

    let missing = fx.store.put_body(MessageId(9_999), None, None, 0).await;
    assert!(matches!(
        missing,
        Err(Error::NotFound {
            what: "message",
            ..
        })
    ));
}

#[tokio::test]
async fn progress_survives_reopening_the_database() {
    let fx = Fixture::new().await;
    let m2 = fx.id_of(2).await;
    assert_eq!(fx.store.download(m2, "2").await.unwrap(), None);
    assert_eq!(fx.part_state(m2, "2").await, DownloadState::None);

    let dest = "/data/Downloads/Strand.jpg";
    fx.store
        .save_download_progress(&progress(m2, dest, 65_536, 49_152))
        .await
        .unwrap();
    fx.store
        .save_download_progress(&progress(m2, dest, 131_072, 98_304))
        .await
        .unwrap();
    let saved = fx.store.download(m2, "2").await.unwrap().unwrap();

    // The process restarts: a new Store on the same file reads the same progress.
    let fx = fx.reopen().await;
    let read = fx.store.download(m2, "2").await.unwrap().unwrap();
    assert_eq!(read, saved);
    assert_eq!(read.destination, Path::new(dest));
    assert_eq!((read.encoded_offset, read.decoded_len), (131_072, 98_304));
    assert_eq!(read.decoder_state.as_bytes(), b"QQ");
    assert_eq!(read.state, DownloadState::Partial);
    assert!(read.updated_at > 1_600_000_000 && read.last_used > 1_600_000_000_000);
    assert_eq!(fx.part_state(m2, "2").await, DownloadState::Partial);
    assert_eq!(fx.store.cache_usage(fx.account).await.unwrap(), 98_304);
}

#[tokio::test]
async fn complete_and_delete_move_the_part_state() {
    let fx = Fixture::new().await;
    let m3 = fx.id_of(3).await;
    let not_started = fx.store.complete_download(m3, "2", 10).await;
    assert!(matches!(not_started, Err(Error::NotFound { .. })));

    fx.store
        .save_download_progress(&progress(m3, "/d/a.jpg", 10, 7))
        .await
        .unwrap();
    fx.store.complete_download(m3, "2", 600_000).await.unwrap();
    let done = fx.store.download(m3, "2").await.unwrap().unwrap();
    assert_eq!(done.state, DownloadState::Complete);
    assert_eq!((done.bytes_on_disk, done.decoded_len), (600_000, 600_000));
    assert_eq!(done.decoder_state, DecoderState::default());
    assert_eq!(fx.part_state(m3, "2").await, DownloadState::Complete);
    // The text part is untouched.
    assert_eq!(fx.part_state(m3, "1").await, DownloadState::None);

    fx.store.delete_download(m3, "2").await.unwrap();
    assert_eq!(fx.store.download(m3, "2").await.unwrap(), None);
    assert_eq!(fx.part_state(m3, "2").await, DownloadState::None);
    fx.store.delete_download(m3, "2").await.unwrap();

    // Progress for a part the message does not have is refused, and nothing is stored.
    let wrong = DownloadRecord::start(m3, "9", "/d/x");
    let refused = fx.store.save_download_progress(&wrong).await;
    assert!(matches!(
        refused,
        Err(Error::NotFound {
            what: "part of message",
            ..
        })
    ));
    assert_eq!(count(&mut fx.raw().await, "part_downloads").await, 0);
}

#[tokio::test]
async fn eviction_takes_the_least_recently_used_first() {
    let fx = Fixture::new().await;
    let [m1, m2, m3, m4] = [
        fx.id_of(1).await,
        fx.id_of(2).await,
        fx.id_of(3).await,
        fx.id_of(4).await,
    ];
    let store = &fx.store;

    // Used in this order: body m1, download m2, body m3, download m4 (partial), body m2.
    store
        .put_body(m1, Some(&b"x"[..]), None, 100)
        .await
        .unwrap();
    tick().await;
    store
        .save_download_progress(&progress(m2, "/d/m2.jpg", 1, 1))
        .await
        .unwrap();
    store.complete_download(m2, "2", 1_000).await.unwrap();
    tick().await;
    store
        .put_body(m3, Some(&b"x"[..]), None, 300)
        .await
        .unwrap();
    tick().await;
    store
        .save_download_progress(&progress(m4, "/d/m4.jpg", 1, 5_000))
        .await
        .unwrap();
    tick().await;
    store
        .put_body(m2, Some(&b"x"[..]), None, 200)
        .await
        .unwrap();

    // Another account's content never counts here.
    let (other, other_inbox) = add_account_with_messages(store, "Home").await;
    let foreign = id_of(store, other_inbox, 1).await;
    store
        .put_body(foreign, Some(&b"x"[..]), None, 77_777)
        .await
        .unwrap();

    assert_eq!(
        store.cache_usage(fx.account).await.unwrap(),
        100 + 1_000 + 300 + 5_000 + 200
    );
    assert_eq!(store.cache_usage(other).await.unwrap(), 77_777);

    let order = |list: &[Evictable]| -> Vec<(MessageId, bool)> {
        list.iter()
            .map(|e| match &e.content {
                CachedContent::Body { message } => (*message, false),
                CachedContent::Download { message, .. } => (*message, true),
                _ => unreachable!(),
            })
            .collect()
    };
    let all = store
        .eviction_candidates(fx.account, u64::MAX)
        .await
        .unwrap();
    // The partial download (m4) is never offered.
    assert_eq!(
        order(&all),
        [(m1, false), (m2, true), (m3, false), (m2, false)]
    );
    assert!(all.windows(2).all(|w| w[0].last_used <= w[1].last_used));
    assert_eq!(all[1].bytes, 1_000);
    assert!(matches!(&all[1].content,
        CachedContent::Download { section, destination, .. }
            if section == "2" && destination == Path::new("/d/m2.jpg")));

    // Just enough to free the amount: 100 is not 101, 100 + 1000 is.
    let some = store.eviction_candidates(fx.account, 101).await.unwrap();
    assert_eq!(order(&some), [(m1, false), (m2, true)]);
    let exact = store.eviction_candidates(fx.account, 100).await.unwrap();
    assert_eq!(order(&exact), [(m1, false)]);
    assert!(
        store
            .eviction_candidates(fx.account, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Reading m1's body makes it the most recent; opening the download does the same.
    tick().await;
    store.body(m1).await.unwrap().unwrap();
    tick().await;
    store.touch_download(m2, "2").await.unwrap();
    let after = store
        .eviction_candidates(fx.account, u64::MAX)
        .await
        .unwrap();
    assert_eq!(
        order(&after),
        [(m3, false), (m2, false), (m1, false), (m2, true)]
    );

    // Evicting drops the content and its cost, never the message or its parts.
    store.evict_body(m3).await.unwrap();
    store.delete_download(m2, "2").await.unwrap();
    assert_eq!(store.body(m3).await.unwrap(), None);
    assert_eq!(
        store.cache_usage(fx.account).await.unwrap(),
        100 + 5_000 + 200
    );
    let detail = store.message(m3).await.unwrap().unwrap();
    assert_eq!(detail.parts.len(), 2);
    assert_eq!(fx.part_state(m2, "2").await, DownloadState::None);
}

#[tokio::test]
async fn content_goes_with_its_message() {
    let fx = Fixture::new().await;
    let [m1, m2] = [fx.id_of(1).await, fx.id_of(2).await];
    for m in [m1, m2] {
        fx.store
            .put_body(m, Some(&b"x"[..]), None, 1)
            .await
            .unwrap();
        fx.store
            .save_download_progress(&progress(m, "/d/f", 4, 3))
            .await
            .unwrap();
    }
    let removed = fx
        .store
        .apply_expunges(fx.inbox, &[UidRange::single(1)], None)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    let mut conn = fx.raw().await;
    assert_eq!(count(&mut conn, "bodies").await, 1);
    assert_eq!(count(&mut conn, "part_downloads").await, 1);
    assert_eq!(fx.store.download(m1, "2").await.unwrap(), None);
    assert!(fx.store.download(m2, "2").await.unwrap().is_some());

    // A new UIDVALIDITY drops the folder's messages, and their content with them.
    fx.store.reset_folder(fx.inbox, 8).await.unwrap();
    assert_eq!(count(&mut conn, "bodies").await, 0);
    assert_eq!(count(&mut conn, "part_downloads").await, 0);
    assert_eq!(fx.store.cache_usage(fx.account).await.unwrap(), 0);
}

#[tokio::test]
async fn a_schema_0001_database_is_upgraded_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);

    // A database exactly as the previous release left it: only migration 0001, with data,
    // applied by sqlx's migrator (which recorded it in `_sqlx_migrations`).
    let initial = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/0001_initial.sql"),
    )
    .unwrap();
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&initial).execute(&mut conn).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
                 installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                 success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
             INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
                 VALUES (1, 'initial', TRUE, x'00', 0);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for statement in [
            "INSERT INTO accounts (id, kind, host, port, security) VALUES (1, 'imap', 'h', 993, 'tls')",
            "INSERT INTO folders (id, account_id, name) VALUES (1, 1, 'INBOX')",
            "INSERT INTO messages (id, folder_id, uid, internal_date, thread_id) VALUES (1, 1, 1, 0, 1)",
            "INSERT INTO parts (message_id, section, mime_type, download_state)
             VALUES (1, '2', 'image/png', 'none')",
        ] {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
        assert_eq!(count(&mut conn, "_sqlx_migrations").await, 1);
        conn.close().await.unwrap();
    }

    for _ in 0..2 {
        let store = Store::open(&path).await.unwrap();
        let m = MessageId(1);
        if store.download(m, "2").await.unwrap().is_none() {
            store
                .save_download_progress(&progress(m, "/d/p.png", 8, 6))
                .await
                .unwrap();
        }
        assert_eq!(
            store.download(m, "2").await.unwrap().unwrap().decoded_len,
            6
        );
        store.put_body(m, Some(&b"z"[..]), None, 1).await.unwrap();
        store.close().await;
    }
    let mut conn = raw(&path).await;
    // Taken over at version 1, then every later migration applied once (a second run would
    // fail on its CREATE TABLE), whatever the latest one is.
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(version, files as i64);
    let strict: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pragma_table_list WHERE name IN ('bodies', 'part_downloads') AND strict",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(strict, 2);
}

/// Stand-in for the server: the encoded part, served in partial fetches.
struct Server {
    encoded: Vec<u8>,
}

impl Server {
    fn fetch(&self, offset: u64, len: u32) -> &[u8] {
        let start = (offset as usize).min(self.encoded.len());
        let end = (start + len as usize).min(self.encoded.len());
        &self.encoded[start..end]
    }
}

/// What can happen to the process between two steps of a chunk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KillAfter {
    Append = 0,
    Sync = 1,
    Commit = 2,
}

/// Runs the download the way the engine does (decode, append, fsync, commit) until done or
/// until `kill` says the process dies. Returns true when the download completed.
async fn run_download(
    store: &Store,
    dir: &Path,
    message: MessageId,
    server: &Server,
    declared: u64,
    kill: &mut dyn FnMut(KillAfter) -> bool,
) -> bool {
    let encoding = TransferEncoding::from_name("base64");
    let limit = decoded_limit(declared);
    let (mut record, mut part, mut decoder) = match store.download(message, "2").await.unwrap() {
        Some(record) if record.state == DownloadState::Complete => return true,
        Some(record) => {
            let part = PartFile::resume(&record.destination, record.decoded_len, limit)
                .await
                .unwrap();
            let decoder = StreamDecoder::resume(encoding, &record.decoder_state).unwrap();
            (record, part, decoder)
        }
        None => {
            let dest = destination_in(dir, Some("../Urlaub/Strand.jpg"), "part-2");
            let record = DownloadRecord::start(message, "2", &dest);
            let part = PartFile::create(&dest, limit).await.unwrap();
            store.save_download_progress(&record).await.unwrap();
            (record, part, StreamDecoder::new(encoding))
        }
    };
    let mut sizer = ChunkSizer::new();
    let mut decoded = Vec::new();
    loop {
        let chunk = server.fetch(record.encoded_offset, sizer.next_len() - 7_777);
        if chunk.is_empty() {
            decoder.finish(&mut decoded).unwrap();
            part.append(&decoded).await.unwrap();
            let len = part.finish().await.unwrap();
            store.complete_download(message, "2", len).await.unwrap();
            return true;
        }
        // A slow link (about 30 KB/s): chunks stay near the 64 KiB floor, so there are many.
        sizer.record(chunk.len() as u64, Duration::from_secs(2));
        decoded.clear();
        decoder.feed(chunk, &mut decoded).unwrap();
        part.append(&decoded).await.unwrap();
        if kill(KillAfter::Append) {
            return false;
        }
        part.sync().await.unwrap();
        if kill(KillAfter::Sync) {
            return false;
        }
        record.encoded_offset += chunk.len() as u64;
        record.decoded_len = part.len();
        record.bytes_on_disk = part.len();
        record.decoder_state = decoder.state();
        store.save_download_progress(&record).await.unwrap();
        decoded.clear();
        if kill(KillAfter::Commit) {
            return false;
        }
    }
}

#[tokio::test]
async fn a_download_killed_at_random_points_resumes_to_an_identical_file() {
    let mut fx = Fixture::new().await;
    let m4 = fx.id_of(4).await;
    let files = tempfile::tempdir().unwrap();
    // An existing file of the same name: the download must not replace it.
    std::fs::write(files.path().join("Urlaub_Strand.jpg"), b"older photo").unwrap();

    let mut seed = 0x0DDC_0FFE_u64;
    let original: Vec<u8> = (0..700_001)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as u8
        })
        .collect();
    let mut encoded = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&original);
    for line in b64.as_bytes().chunks(76) {
        encoded.extend_from_slice(line);
        encoded.extend_from_slice(b"\r\n");
    }
    let server = Server { encoded };
    let declared = server.encoded.len() as u64;

    // The process dies at a random kill point with probability 1/8; every other death also
    // restarts the store (a new process).
    let mut rng = 0x5EED_u64;
    let mut seen = [false; 3];
    let mut deaths = 0u32;
    let mut done = false;
    while !done {
        let mut kill = |at: KillAfter| {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let die = (rng >> 33).is_multiple_of(8);
            seen[at as usize] |= die;
            die
        };
        done = run_download(&fx.store, files.path(), m4, &server, declared, &mut kill).await;
        if !done {
            deaths += 1;
            if deaths.is_multiple_of(2) {
                fx = fx.reopen().await;
            }
        }
        assert!(deaths < 200, "no progress");
    }
    assert_eq!(
        seen, [true; 3],
        "every kill point should have been hit ({deaths} deaths)"
    );

    let record = fx.store.download(m4, "2").await.unwrap().unwrap();
    assert_eq!(record.state, DownloadState::Complete);
    assert_eq!(
        record.destination,
        files.path().join("Urlaub_Strand (2).jpg")
    );
    let finished = std::fs::read(&record.destination).unwrap();
    let first_difference = finished.iter().zip(&original).position(|(a, b)| a != b);
    assert_eq!((finished.len(), first_difference), (original.len(), None));
    assert_eq!(record.bytes_on_disk, original.len() as u64);
    assert_eq!(
        std::fs::read(files.path().join("Urlaub_Strand.jpg")).unwrap(),
        b"older photo"
    );
    assert!(!blobs::part_path(&record.destination).exists());
    assert_eq!(fx.part_state(m4, "2").await, DownloadState::Complete);
}

#[tokio::test]
async fn a_server_sending_more_than_declared_is_stopped() {
    let fx = Fixture::new().await;
    let m1 = fx.id_of(1).await;
    let files = tempfile::tempdir().unwrap();
    let dest = files.path().join("big.bin");
    // The part claims 1 000 bytes; the server sends 200 KiB.
    let limit = decoded_limit(1_000);
    let mut part = PartFile::create(&dest, limit).await.unwrap();
    let mut committed = 0;
    let mut result = Ok(());
    for _ in 0..100 {
        result = part.append(&[0u8; 16 * 1024]).await;
        if result.is_err() {
            break;
        }
        part.sync().await.unwrap();
        committed = part.len();
        let record = DownloadRecord {
            decoded_len: committed,
            bytes_on_disk: committed,
            ..DownloadRecord::start(m1, "2", &dest)
        };
        fx.store.save_download_progress(&record).await.unwrap();
    }
    assert!(matches!(result, Err(Error::TooLarge { limit: l }) if l == limit));
    let on_disk = std::fs::metadata(blobs::part_path(&dest)).unwrap().len();
    assert!(
        on_disk <= limit && on_disk == committed,
        "{on_disk} {committed}"
    );
    assert!(!dest.exists());
}
