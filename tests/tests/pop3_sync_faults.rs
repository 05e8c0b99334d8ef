//! POP3 sync when something goes wrong mid-session, against a real Dovecot (implicit TLS):
//! messages gone between the listing and their fetch are skipped and nothing is stored twice;
//! a crash between the commit and DELE loses and duplicates nothing; an interrupted RETR is
//! redone and its bytes are in the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::{Purpose, Security, WireMeter},
    policy::{NetworkKind, Pop3DeletePolicy, SyncRequest},
    pop3::{self, Pop3Options},
};
use anvert_tests::{client::endpoint, dovecot::Dovecot};

use crate::pop3_sync::{deliver_raw, mailbox, random_base64, request, server_count, sha, stored};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_gone_between_listing_and_fetch_are_skipped() {
    use anvert_core::{
        store::{AccountKind, NewAccount, Store},
        sync::{NoEvents, sync_pop3_account},
    };
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &mailbox(54, 30));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("anvert.db")).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "alice".into(),
            kind: AccountKind::Pop3,
            host: "127.0.0.1".into(),
            port: 995,
            security: "tls".into(),
            username: "alice".into(),
        })
        .await
        .unwrap();
    let connect = || async {
        pop3::connect(
            &endpoint(server.pop3s_addr(), Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &WireMeter::new(),
            &Pop3Options::default(),
        )
        .await
        .unwrap()
    };
    // The session lists 30 messages; three files vanish before they are fetched.
    let mut session = connect().await;
    let cur = server.maildir("alice").join("cur");
    let mut files: Vec<_> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files[..3] {
        std::fs::remove_file(f).unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let report = sync_pop3_account(
        &mut session,
        &store,
        account,
        &request(NetworkKind::Unmetered),
        dir.path(),
        now,
        &NoEvents,
    )
    .await
    .unwrap_or_else(|e| panic!("sync: {e}\n{}", server.log()));
    session.quit().await.unwrap();
    let added = report.added();
    eprintln!("added {added} of 30 with 3 gone before TOP/RETR");
    assert!((27..=30).contains(&added), "{added}");

    // The next session stores nothing twice and fetches nothing again.
    let mut session = connect().await;
    let again = sync_pop3_account(
        &mut session,
        &store,
        account,
        &request(NetworkKind::Unmetered),
        dir.path(),
        now,
        &NoEvents,
    )
    .await
    .unwrap();
    session.quit().await.unwrap();
    assert_eq!(again.added() + added, 27.max(added));
    let folder = store.folders(account).await.unwrap()[0].id;
    assert_eq!(
        store.message_count(folder).await.unwrap() as u64,
        added + again.added()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_dele_loses_and_duplicates_nothing() {
    use anvert_core::{
        store::{AccountKind, NewAccount, Store},
        sync::{NoEvents, sync_pop3_account},
    };
    let server = Dovecot::start();
    server.deliver_generated("alice", None, &mailbox(55, 12));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("anvert.db")).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "alice".into(),
            kind: AccountKind::Pop3,
            host: "127.0.0.1".into(),
            port: 995,
            security: "tls".into(),
            username: "alice".into(),
        })
        .await
        .unwrap();
    let connect = || async {
        pop3::connect(
            &endpoint(server.pop3s_addr(), Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &WireMeter::new(),
            &Pop3Options::default(),
        )
        .await
        .unwrap()
    };
    let delete = SyncRequest {
        pop3_delete: Pop3DeletePolicy::AfterDownload,
        ..request(NetworkKind::Unmetered)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    // Everything is committed and DELE is sent, then the process dies: no QUIT, so the
    // server applies no deletion (the same as dying before DELE).
    let mut session = connect().await;
    let report = sync_pop3_account(
        &mut session,
        &store,
        account,
        &delete,
        dir.path(),
        now,
        &NoEvents,
    )
    .await
    .unwrap();
    drop(session);
    assert_eq!((report.added(), report.folders[0].bodies), (12, 12));
    assert_eq!(
        server_count(&server).await,
        12,
        "nothing deleted without QUIT"
    );

    // The next sync downloads nothing again, adds nothing, and deletes the server copies.
    let mut session = connect().await;
    let again = sync_pop3_account(
        &mut session,
        &store,
        account,
        &delete,
        dir.path(),
        now,
        &NoEvents,
    )
    .await
    .unwrap();
    session.quit().await.unwrap();
    assert_eq!((again.added(), again.folders[0].bodies), (0, 0));
    assert_eq!(again.bytes.total_for(Purpose::Bodies), 0);
    assert_eq!(server_count(&server).await, 0);
    let folder = store.folders(account).await.unwrap()[0].id;
    assert_eq!(store.message_count(folder).await.unwrap(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_retr_is_redone_and_its_bytes_are_in_the_ledger() {
    let server = Dovecot::start();
    let (data, b64) = random_base64(9, 2 << 20);
    let raw = format!(
        "From: A <a@example.org>\r\nTo: alice@example.org\r\nSubject: cut\r\n\
Message-ID: <cut@example.org>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n\
{b64}--b--\r\n"
    );
    deliver_raw(&server, raw.as_bytes(), "cut");
    let tap = anvert_tests::tap::Tap::start(server.pop3s_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig {
        data_dir: dir.path().to_path_buf(),
        extra_roots_pem: Some(server.pki.ca_pem.clone()),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "Alice POP3".into(),
            protocol: Protocol::Pop3,
            endpoint: endpoint(tap.addr(), Security::ImplicitTls),
            credential: server.credential("alice"),
        })
        .await
        .unwrap();
    let bodies_down = |rows: &[anvert_core::store::UsageRow]| -> u64 {
        rows.iter()
            .filter(|r| r.purpose == Purpose::Bodies.as_str())
            .map(|r| r.bytes_down)
            .sum()
    };

    // Cut every connection 1 MB in: the RETR of the 2.7 MB message dies half-way.
    tap.cut_all_after(1 << 20);
    assert!(
        engine
            .sync(account, &request(NetworkKind::Unmetered))
            .await
            .is_err()
    );
    let wasted = bodies_down(&engine.usage(account).await.unwrap());
    eprintln!("wasted RETR bytes in the ledger: {wasted}");
    assert!(wasted > 512 * 1024, "{wasted}");
    let message = stored(&engine, account).await.remove(0);
    assert!(
        message.parts.is_empty(),
        "headers only until a RETR completes"
    );

    tap.clear_faults();
    let report = engine
        .sync(account, &request(NetworkKind::Unmetered))
        .await
        .unwrap();
    assert_eq!((report.added(), report.folders[0].bodies), (0, 1));
    let total = bodies_down(&engine.usage(account).await.unwrap());
    assert!(total >= wasted + raw.len() as u64, "{total} {wasted}");
    let message = stored(&engine, account).await.remove(0);
    let record = engine
        .store()
        .download(message.summary.id, "2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sha(&std::fs::read(&record.destination).unwrap()),
        sha(&data)
    );
}
