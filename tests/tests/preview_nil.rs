//! Issue 16, item 6: a server that offers PREVIEW and answers `PREVIEW NIL` for every message
//! (Cyrus IMAP 3.6 does) is asked for PREVIEW in the first summary window only. The account
//! remembers it for the server's fingerprint, so later windows and later syncs (new mail by
//! UID) leave PREVIEW out. A server that answers real previews keeps being asked. Against
//! the real servers: Cyrus (NIL) is remembered, Dovecot (real previews) is not, and each
//! gives the same fingerprint on every connection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};

use anvert_core::{
    engine::{Engine, EngineConfig},
    imap::ConnectOptions,
    net::Credential,
    policy::{SyncRequest, SyncWindow},
    store::AccountId,
};
use anvert_tests::{
    client::{SyncClient, imap_login},
    generator::{GenConfig, SizeMix},
    on_each_server,
    scripted::{Script, ScriptedImap, ok},
    server::TestServer,
};

/// UIDs are sequence numbers plus this (nothing is ever expunged).
const UID_BASE: u32 = 100;

/// One message's FETCH answer: a summary when `items` asks for one (with `PREVIEW`, NIL or
/// real as `nil` says, when asked), else its UID and flags.
fn answer(seq: u32, items: &str, nil: bool) -> String {
    let uid = seq + UID_BASE;
    if !items.contains("ENVELOPE") {
        return format!("* {seq} FETCH (UID {uid} FLAGS ())\r\n");
    }
    let preview = match (items.contains("PREVIEW"), nil) {
        (false, _) => String::new(),
        (true, true) => " PREVIEW NIL".into(),
        (true, false) => format!(" PREVIEW \"Hello there, message {seq}\""),
    };
    format!(
        "* {seq} FETCH (UID {uid} FLAGS () INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" \
         RFC822.SIZE 120 ENVELOPE (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"Hello {seq}\" \
         ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL NIL NIL NIL NIL \"<m{seq}@x>\") \
         BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1){preview})\r\n"
    )
}

/// Whether `n` lies in the sequence set `set` (`*` is `top`).
fn in_set(set: &str, n: u32, top: u32) -> bool {
    let num = |s: &str| if s == "*" { top } else { s.parse().unwrap() };
    set.split(',').any(|r| match r.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (num(a), num(b));
            (a.min(b)..=a.max(b)).contains(&n)
        }
        None => num(r) == n,
    })
}

/// A server with `count` messages in INBOX, offering PREVIEW and answering it with NIL
/// (`nil`) or with a real preview. No CONDSTORE: a resync is a flag scan plus new mail by UID.
async fn server(count: Arc<AtomicU32>, nil: bool) -> ScriptedImap {
    let script = Script {
        capabilities: "IMAP4rev1 LITERAL+ UIDPLUS MOVE PREVIEW".into(),
        ..Script::default()
    };
    ScriptedImap::start(script, move |command| {
        let n = count.load(Ordering::SeqCst);
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok(format!(
                "* {n} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                n + UID_BASE + 1
            ))
        } else if let Some(rest) = command.strip_prefix("UID FETCH ") {
            let (set, items) = rest.split_once(' ').unwrap();
            let top = n + UID_BASE;
            // `n:*` always includes the last message.
            ok((1..=n)
                .filter(|seq| in_set(set, seq + UID_BASE, top) || (set.ends_with('*') && *seq == n))
                .map(|seq| answer(seq, items, nil))
                .collect::<String>())
        } else if let Some(rest) = command.strip_prefix("FETCH ") {
            let (set, items) = rest.split_once(' ').unwrap();
            ok((1..=n)
                .filter(|seq| in_set(set, *seq, n))
                .map(|seq| answer(seq, items, nil))
                .collect::<String>())
        } else {
            ok("")
        }
    })
    .await
}

/// The summary FETCHes the server received (those asking for ENVELOPE), in order.
fn summary_fetches(server: &ScriptedImap) -> Vec<String> {
    server
        .commands()
        .into_iter()
        .filter(|c| c.contains("FETCH") && c.contains("ENVELOPE"))
        .collect()
}

fn request() -> SyncRequest {
    SyncRequest {
        window: SyncWindow {
            first_window: 50,
            window: 100,
            ..SyncWindow::everything()
        },
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    }
}

#[tokio::test]
async fn a_server_answering_nil_is_asked_for_preview_in_the_first_window_only() {
    let count = Arc::new(AtomicU32::new(600));
    let server = server(count.clone(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;

    engine.sync(account, &request()).await.unwrap();
    let first = summary_fetches(&server);
    assert!(first.len() >= 4, "several windows: {first:#?}");
    assert!(first[0].starts_with("FETCH 551:600 "), "{}", first[0]);
    assert!(first[0].contains("PREVIEW"), "{}", first[0]);
    for later in &first[1..] {
        assert!(!later.contains("PREVIEW"), "asked again: {later}");
    }
    let folders = engine.folders(account).await.unwrap();
    let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap().id;
    assert_eq!(engine.store().message_count(inbox).await.unwrap(), 600);

    // New mail: the delta's UID FETCH does not ask either.
    count.store(605, Ordering::SeqCst);
    engine.sync(account, &request()).await.unwrap();
    let delta = summary_fetches(&server)[first.len()..].to_vec();
    assert!(
        delta.iter().any(|c| c.starts_with("UID FETCH 701:*")),
        "{delta:#?}"
    );
    for command in &delta {
        assert!(!command.contains("PREVIEW"), "asked again: {command}");
    }
    assert_eq!(engine.store().message_count(inbox).await.unwrap(), 605);

    // Nor does a fresh engine (a new session to the same server version) on the same data.
    engine.close_connections().await.unwrap();
    drop(engine);
    let (engine, account) = reopen(&server, dir.path()).await;
    count.store(606, Ordering::SeqCst);
    let before = summary_fetches(&server).len();
    engine.sync(account, &request()).await.unwrap();
    let after = summary_fetches(&server)[before..].to_vec();
    assert!(!after.is_empty());
    for command in &after {
        assert!(!command.contains("PREVIEW"), "asked again: {command}");
    }
}

#[tokio::test]
async fn a_server_answering_real_previews_keeps_being_asked() {
    let count = Arc::new(AtomicU32::new(600));
    let server = server(count.clone(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;

    engine.sync(account, &request()).await.unwrap();
    count.store(605, Ordering::SeqCst);
    engine.sync(account, &request()).await.unwrap();
    let fetches = summary_fetches(&server);
    assert!(fetches.len() >= 5, "{fetches:#?}");
    assert!(fetches.iter().any(|c| c.starts_with("UID FETCH 701:*")));
    for command in &fetches {
        assert!(command.contains("PREVIEW"), "not asked: {command}");
    }
    let folders = engine.folders(account).await.unwrap();
    let inbox = folders.iter().find(|f| f.name == "INBOX").unwrap().id;
    assert_eq!(engine.store().message_count(inbox).await.unwrap(), 605);
}

/// The engine over the data directory `dir` again, with the account it already has.
async fn reopen(server: &ScriptedImap, dir: &std::path::Path) -> (Engine, AccountId) {
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        connect: ConnectOptions {
            timeout: std::time::Duration::from_secs(10),
            ..ConnectOptions::default()
        },
        cache_budget: None,
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine.accounts().await.unwrap()[0].id;
    assert_eq!(server.endpoint().port, server.addr.port());
    engine
        .set_credential(account, Credential::password("alice", "pw"))
        .await
        .unwrap();
    (engine, account)
}

/// A real server: two connections report the same fingerprint; an initial sync in several
/// windows remembers PREVIEW as NIL on Cyrus (which answers NIL) and not on Dovecot, and the
/// snippets still arrive through the snippet fetch.
async fn a_real_server_is_remembered_only_when_it_answers_nil(server: &dyn TestServer) {
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 61,
            count: 120,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let fingerprint = imap_login(server, "alice").await.server_fingerprint();
    assert_eq!(
        imap_login(server, "alice").await.server_fingerprint(),
        fingerprint,
        "{}: one server, one fingerprint",
        server.name()
    );
    let client = SyncClient::new().await;
    let request = SyncRequest {
        network: anvert_core::policy::NetworkKind::Metered,
        ..request()
    };
    let report = client.sync(server, server.imaps_addr(), &request).await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.added(), 120);
    let inbox = client.folder("INBOX").await;
    let nil = client.store.preview_nil(inbox, fingerprint).await.unwrap();
    assert_eq!(nil, server.name() == "cyrus", "{}", server.name());
    let with_preview = client
        .all_messages(inbox)
        .await
        .iter()
        .filter(|m| m.summary.preview.is_some())
        .count();
    assert!(
        with_preview > 60,
        "{}: {with_preview} previews",
        server.name()
    );
}

on_each_server!(a_real_server_is_remembered_only_when_it_answers_nil);
