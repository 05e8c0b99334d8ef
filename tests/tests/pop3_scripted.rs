//! POP3 sync against a scripted server where Dovecot cannot stand in: a TcpListener on
//! 127.0.0.1 plays an RFC 1939 server without UIDL (not in CAPA, `-ERR` to the command) whose
//! greeting carries an APOP timestamp, over `DangerPlaintext`. The engine logs in with APOP
//! (the digest is checked against md5(timestamp + password)), keys messages by their header
//! hash, stores two identical messages once, and a second sync downloads nothing. Without
//! TOP either, the sync is refused before any download.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use anvert_core::{
    engine::{AccountConfig, Engine, EngineConfig, Protocol},
    net::{Credential, Security},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::AccountId,
};
use anvert_tests::client::endpoint;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

const STAMP: &str = "<4242.1700000000@fake.test>";
const PASSWORD: &str = "apop secret";
/// md5("<4242.1700000000@fake.test>apop secret"), computed independently (Python hashlib).
const DIGEST: &str = "b4a1129032db5dfa6f71c9e0007ea2cc";

fn message(n: u32, subject: &str) -> String {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
Date: Wed, 01 Jan 2025 00:0{n}:00 +0000\r\nMessage-ID: <m{n}@example.org>\r\n\r\n\
Body of {subject}.\r\n.A line starting with a dot.\r\n"
    )
}

/// The maildrop: messages 3 and 4 are byte-identical.
fn maildrop() -> Vec<String> {
    let same = message(3, "twins");
    vec![message(1, "one"), message(2, "two"), same.clone(), same]
}

fn stuffed(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
    }
    out + ".\r\n"
}

/// Starts the scripted server (announcing TOP when `top`); every command line it reads goes
/// into the log.
async fn start(log: Arc<Mutex<Vec<String>>>, top: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let box_ = maildrop();
                let greeting = format!("+OK scripted POP3 ready {STAMP}\r\n");
                write.write_all(greeting.as_bytes()).await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push(line.clone());
                    let words: Vec<&str> = line.split(' ').collect();
                    let n = |i: usize| -> Option<&String> {
                        let k: usize = words.get(i)?.parse().ok()?;
                        box_.get(k.checked_sub(1)?)
                    };
                    let reply = match words[0].to_ascii_uppercase().as_str() {
                        "CAPA" if top => "+OK\r\nTOP\r\nUSER\r\nPIPELINING\r\n.\r\n".into(),
                        "CAPA" => "+OK\r\nUSER\r\n.\r\n".into(),
                        "APOP" if words.get(2) == Some(&DIGEST) => "+OK welcome\r\n".into(),
                        "APOP" => "-ERR [AUTH] bad digest\r\n".into(),
                        "UIDL" => "-ERR UIDL not supported\r\n".into(),
                        "LIST" => {
                            let mut out = "+OK\r\n".to_string();
                            for (i, m) in box_.iter().enumerate() {
                                out += &format!("{} {}\r\n", i + 1, m.len());
                            }
                            out + ".\r\n"
                        }
                        "STAT" => format!("+OK {} 0\r\n", box_.len()),
                        "TOP" => match (n(1), words.get(2).and_then(|k| k.parse().ok())) {
                            (Some(m), Some(k)) => {
                                let (head, body) = m.split_once("\r\n\r\n").unwrap();
                                let body: String = body.split_inclusive("\r\n").take(k).collect();
                                format!("+OK\r\n{}", stuffed(&format!("{head}\r\n\r\n{body}")))
                            }
                            _ => "-ERR no such message\r\n".into(),
                        },
                        "RETR" => match n(1) {
                            Some(m) => format!("+OK\r\n{}", stuffed(m)),
                            None => "-ERR no such message\r\n".into(),
                        },
                        "DELE" | "NOOP" | "RSET" => "+OK\r\n".into(),
                        "QUIT" => {
                            let _ = write.write_all(b"+OK bye\r\n").await;
                            return;
                        }
                        _ => "-ERR unknown command\r\n".into(),
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn count(log: &Mutex<Vec<String>>, verb: &str) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(verb))
        .count()
}

async fn engine_at(addr: SocketAddr, dir: &std::path::Path) -> (Engine, AccountId) {
    let engine = Engine::open(EngineConfig {
        data_dir: dir.to_path_buf(),
        ..EngineConfig::default()
    })
    .await
    .unwrap();
    let account = engine
        .add_account(AccountConfig {
            name: "scripted".into(),
            protocol: Protocol::Pop3,
            endpoint: endpoint(addr, Security::DangerPlaintext),
            credential: Credential::password("alice", PASSWORD),
        })
        .await
        .unwrap();
    (engine, account)
}

fn everything() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_uidl_keys_by_header_hash_and_logs_in_with_apop() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let addr = start(log.clone(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_at(addr, dir.path()).await;
    let request = everything();

    let report = engine.sync(account, &request).await.unwrap();
    assert_eq!(report.added(), 3, "the identical twins are stored once");
    assert_eq!(report.folders[0].bodies, 3);
    {
        let log = log.lock().unwrap();
        assert_eq!(log[1], format!("APOP alice {DIGEST}"), "{log:?}");
        assert!(!log.iter().any(|l| l.contains(PASSWORD)));
        assert!(
            !log.iter()
                .any(|l| l.starts_with("USER") || l.starts_with("PASS"))
        );
    }
    assert_eq!(count(&log, "RETR"), 3);

    let again = engine.sync(account, &request).await.unwrap();
    assert_eq!((again.added(), again.folders[0].bodies), (0, 0));
    assert_eq!(count(&log, "RETR"), 3, "nothing downloaded twice");
    assert_eq!(count(&log, "UIDL"), 2);

    let folder = engine.folders(account).await.unwrap()[0].id;
    let page = engine.messages(folder, None, 10).await.unwrap();
    let mut subjects: Vec<_> = page.items.iter().map(|m| m.subject.clone()).collect();
    subjects.sort();
    assert_eq!(subjects, ["one", "twins", "two"]);
    let twins = page.items.iter().find(|m| m.subject == "twins").unwrap();
    let body = engine
        .fetch_body(twins.id, NetworkKind::Offline)
        .await
        .unwrap();
    assert_eq!(
        body.text.as_deref(),
        Some("Body of twins.\n.A line starting with a dot.\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_uidl_nor_top_is_refused_before_any_download() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let addr = start(log.clone(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = engine_at(addr, dir.path()).await;
    let err = engine.sync(account, &everything()).await.unwrap_err();
    assert!(matches!(err, anvert_core::Error::Config { .. }), "{err:?}");
    assert_eq!(count(&log, "RETR") + count(&log, "TOP"), 0);
}
