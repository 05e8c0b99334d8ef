//! OAuth2 logins against the real Dovecot: its oauth2 passdb asks a tiny RFC 7662
//! introspection endpoint served by the test on 127.0.0.1 whether a bearer token is good. The
//! app's token provider is played by a scripted provider that counts its calls. Covered: IMAP
//! OAUTHBEARER (SASL-IR) and XOAUTH2 (continuation), POP3 both ways (inline and, for a long
//! token, after the empty challenge), one refresh after a rejected token, and a token rejected
//! twice ending in `AuthRejected` that never shows the token.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anvert_core::{
    Error,
    imap::{self, ConnectOptions},
    net::{Credential, Secret, Security, TokenFuture, TokenProvider, WireMeter},
    pop3::{self, Pop3Options},
};
use anvert_tests::{
    client::endpoint,
    dovecot::{Dovecot, DovecotOptions, OAuthOptions},
};

// ---------------------------------------------------------------------------------------------
// The introspection endpoint

/// A one-thread HTTP/1.1 server answering Dovecot's introspection POSTs: `{"active": true,
/// "username": …}` for granted tokens, `{"active": false}` for any other.
struct Introspection {
    addr: SocketAddr,
    granted: Arc<Mutex<BTreeMap<String, String>>>,
    /// Every token it was asked about, in order.
    asked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Introspection {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let granted = Arc::new(Mutex::new(BTreeMap::<String, String>::new()));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (granted, asked, stop) = (granted.clone(), asked.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        let _ = answer(stream, &granted, &asked);
                    }
                }
            })
        };
        Introspection {
            addr,
            granted,
            asked,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// Makes `token` good for `user`.
    fn grant(&self, token: &str, user: &str) {
        self.granted
            .lock()
            .unwrap()
            .insert(token.to_string(), user.to_string());
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for Introspection {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (headers, then `Content-Length` bytes of `token=…` form body) and
/// answers it.
fn answer(
    mut stream: TcpStream,
    granted: &Mutex<BTreeMap<String, String>>,
    asked: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut data = Vec::new();
    let mut buf = [0; 4096];
    let header_end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[header_end..]).to_string();
    let token = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(form_decode)
        .unwrap_or_default();
    asked.lock().unwrap().push(token.clone());
    let json = match granted.lock().unwrap().get(&token) {
        Some(user) => format!(r#"{{"active":true,"username":"{user}","scope":"mail"}}"#),
        None => r#"{"active":false}"#.to_string(),
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    )?;
    stream.flush()
}

fn form_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let value = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(value.unwrap_or(b'?'));
            }
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The app's side

/// Hands out its tokens in order (the last one again when they run out) and records every
/// call as (user name, force_refresh).
#[derive(Debug)]
struct Scripted {
    tokens: Vec<String>,
    calls: Mutex<Vec<(String, bool)>>,
}

impl Scripted {
    fn new(tokens: &[&str]) -> Arc<Self> {
        Arc::new(Scripted {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(String, bool)> {
        self.calls.lock().unwrap().clone()
    }
}

impl TokenProvider for Scripted {
    fn access_token<'a>(&'a self, username: &'a str, force_refresh: bool) -> TokenFuture<'a> {
        Box::pin(async move {
            let mut calls = self.calls.lock().unwrap();
            calls.push((username.to_string(), force_refresh));
            let i = (calls.len() - 1).min(self.tokens.len() - 1);
            Ok(Secret::new(self.tokens[i].clone()))
        })
    }
}

fn oauth_server(idp: &Introspection, mechanisms: &[&str], sasl_ir: bool) -> Dovecot {
    Dovecot::start_with(DovecotOptions {
        oauth: Some(OAuthOptions {
            mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
            sasl_ir,
            ..OAuthOptions::new(idp.url())
        }),
        ..DovecotOptions::default()
    })
}

async fn imap_login(
    server: &Dovecot,
    security: Security,
    credential: &Credential,
) -> anvert_core::Result<imap::ImapSession> {
    let addr = match security {
        Security::ImplicitTls => server.imaps_addr(),
        _ => server.imap_addr(),
    };
    imap::connect(
        &endpoint(addr, security),
        credential,
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
}

async fn pop3_login(
    server: &Dovecot,
    security: Security,
    credential: &Credential,
) -> anvert_core::Result<pop3::Pop3Session> {
    let addr = match security {
        Security::ImplicitTls => server.pop3s_addr(),
        _ => server.pop3_addr(),
    };
    pop3::connect(
        &endpoint(addr, security),
        credential,
        &server.tls(),
        &WireMeter::new(),
        &Pop3Options::default(),
    )
    .await
}

/// How many logins with `method` Dovecot has logged, once its log shows at least one (its
/// login process writes the line on its own time, after the client is already in).
fn logins(server: &Dovecot, method: &str) -> usize {
    let count = || {
        server
            .log()
            .lines()
            .filter(|l| {
                l.contains("Login: user=<alice>") && l.contains(&format!("method={method}"))
            })
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // polling Dovecot's log file
    }
    count()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn imap_logs_in_with_oauthbearer_and_sasl_ir_where_both_mechanisms_are_offered() {
    let idp = Introspection::start();
    idp.grant("tok-alice-good", "alice");
    let server = oauth_server(&idp, &["oauthbearer", "xoauth2"], true);
    let provider = Scripted::new(&["tok-alice-good"]);
    let credential = Credential::oauth2("alice", provider.clone());

    let mut session = imap_login(&server, Security::ImplicitTls, &credential)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    // The capabilities are the ones after login (asked again: AUTHENTICATE drops them).
    assert!(
        session.capabilities().has("QRESYNC"),
        "{:?}",
        session.capabilities()
    );
    assert!(!session.capabilities().has("AUTH=OAUTHBEARER"));
    let folders = session.list_folders(false).await.unwrap();
    assert!(folders.iter().any(|f| f.name == "INBOX"));
    session.logout().await.unwrap();

    assert_eq!(provider.calls(), [("alice".to_string(), false)]);
    assert_eq!(idp.asked(), ["tok-alice-good"]);
    assert_eq!(logins(&server, "OAUTHBEARER"), 1, "{}", server.log());

    // Passwords still work on the same server.
    imap_login(&server, Security::ImplicitTls, &server.credential("alice"))
        .await
        .unwrap()
        .logout()
        .await
        .unwrap();
}

#[tokio::test]
async fn imap_falls_back_to_xoauth2_and_answers_the_continuation_without_sasl_ir() {
    let idp = Introspection::start();
    idp.grant("tok-alice-good", "alice");
    let server = oauth_server(&idp, &["xoauth2"], false);
    let provider = Scripted::new(&["tok-alice-good"]);
    let credential = Credential::oauth2("alice", provider.clone());

    let session = imap_login(&server, Security::StartTls, &credential)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    session.logout().await.unwrap();
    assert_eq!(provider.calls().len(), 1);
    assert_eq!(logins(&server, "XOAUTH2"), 1, "{}", server.log());
}

#[tokio::test]
async fn imap_carries_a_long_token() {
    // Microsoft's access tokens run to a few kilobytes; SASL-IR puts them on the command line.
    let idp = Introspection::start();
    let long = format!("tok-{}", "x".repeat(4000));
    idp.grant(&long, "alice");
    let server = oauth_server(&idp, &["oauthbearer", "xoauth2"], true);
    let credential = Credential::oauth2("alice", Scripted::new(&[&long]));
    imap_login(&server, Security::ImplicitTls, &credential)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
        .logout()
        .await
        .unwrap();
    assert_eq!(idp.asked(), [long]);
}

#[tokio::test]
async fn pop3_logs_in_with_both_mechanisms_short_and_long_tokens() {
    let idp = Introspection::start();
    idp.grant("tok-alice-good", "alice");
    // Too long for RFC 2449's 255-octet command line: sent after the empty challenge.
    let long = format!("tok-{}", "y".repeat(600));
    idp.grant(&long, "alice");

    let both = oauth_server(&idp, &["oauthbearer", "xoauth2"], true);
    let xoauth2_only = oauth_server(&idp, &["xoauth2"], true);
    for (server, method) in [(&both, "OAUTHBEARER"), (&xoauth2_only, "XOAUTH2")] {
        for (security, token) in [
            (Security::ImplicitTls, "tok-alice-good"),
            (Security::StartTls, long.as_str()),
        ] {
            let provider = Scripted::new(&[token]);
            let credential = Credential::oauth2("alice", provider.clone());
            let mut session = pop3_login(server, security, &credential)
                .await
                .unwrap_or_else(|e| panic!("{method} {security:?}: {e}\n{}", server.log()));
            assert!(session.is_tls());
            assert_eq!(session.stat().await.unwrap(), (0, 0));
            session.quit().await.unwrap();
            assert_eq!(provider.calls(), [("alice".to_string(), false)]);
        }
        assert_eq!(logins(server, method), 2, "{}", server.log());
    }
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once_and_the_fresh_one_logs_in() {
    let idp = Introspection::start();
    idp.grant("tok-fresh", "alice");
    let server = oauth_server(&idp, &["oauthbearer", "xoauth2"], true);

    let imap_provider = Scripted::new(&["tok-expired", "tok-fresh"]);
    let credential = Credential::oauth2("alice", imap_provider.clone());
    imap_login(&server, Security::ImplicitTls, &credential)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
        .logout()
        .await
        .unwrap();
    assert_eq!(
        imap_provider.calls(),
        [("alice".to_string(), false), ("alice".to_string(), true)]
    );

    let pop3_provider = Scripted::new(&["tok-expired", "tok-fresh"]);
    let credential = Credential::oauth2("alice", pop3_provider.clone());
    pop3_login(&server, Security::ImplicitTls, &credential)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log()))
        .quit()
        .await
        .unwrap();
    assert_eq!(
        pop3_provider.calls(),
        [("alice".to_string(), false), ("alice".to_string(), true)]
    );
    assert_eq!(
        idp.asked(),
        ["tok-expired", "tok-fresh", "tok-expired", "tok-fresh"]
    );
}

#[tokio::test]
async fn a_token_rejected_twice_is_auth_rejected_and_never_shown() {
    let idp = Introspection::start();
    // A good token, but for someone else: Dovecot checks the user name too.
    idp.grant("tok-SECRET-bob", "bob");
    let server = oauth_server(&idp, &["oauthbearer", "xoauth2"], true);

    for protocol in ["IMAP", "POP3"] {
        let provider = Scripted::new(&["tok-SECRET-first", "tok-SECRET-bob"]);
        let credential = Credential::oauth2("alice", provider.clone());
        let err = match protocol {
            "IMAP" => imap_login(&server, Security::ImplicitTls, &credential)
                .await
                .map(drop)
                .unwrap_err(),
            _ => pop3_login(&server, Security::ImplicitTls, &credential)
                .await
                .map(drop)
                .unwrap_err(),
        };
        let Error::AuthRejected { text } = &err else {
            panic!("{protocol}: expected AuthRejected, got {err:?}")
        };
        assert!(text.contains("Authentication failed"), "{protocol}: {text}");
        assert!(text.contains("invalid_token"), "{protocol}: {text}");
        assert_eq!(
            provider.calls(),
            [("alice".to_string(), false), ("alice".to_string(), true)],
            "{protocol}"
        );
        let shown = format!("{err} {err:?} {credential:?}");
        assert!(
            !shown.contains("SECRET"),
            "{protocol}: the token leaked: {shown}"
        );
        assert_eq!(
            format!("{credential:?}"),
            r#"OAuth2 { username: "alice", .. }"#
        );
    }
}

#[tokio::test]
async fn a_server_without_oauth_is_a_clear_error_and_no_token_is_fetched() {
    let server = Dovecot::start();
    let provider = Scripted::new(&["tok-unused"]);
    let credential = Credential::oauth2("alice", provider.clone());
    let imap_err = imap_login(&server, Security::ImplicitTls, &credential)
        .await
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(&imap_err, Error::ServerNo { text, .. } if text.contains("no OAuth2")),
        "{imap_err:?}"
    );
    let pop3_err = pop3_login(&server, Security::ImplicitTls, &credential)
        .await
        .map(drop)
        .unwrap_err();
    assert!(
        matches!(&pop3_err, Error::ServerNo { text, .. } if text.contains("no OAuth2")),
        "{pop3_err:?}"
    );
    assert!(provider.calls().is_empty());
}

/// The app swaps the account's token provider in the middle of a sync (a new sign-in): the
/// running sync finishes on the connection it has, and the next connection asks the new
/// provider, never the old one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_provider_swapped_mid_sync_is_used_by_the_next_connection() {
    use anvert_core::{
        engine::{AccountConfig, Engine, EngineConfig, Protocol},
        policy::{NetworkKind, SyncRequest, SyncWindow},
        sync::{EventSink, SyncEvent},
    };
    use anvert_tests::generator::GenConfig;

    #[derive(Default)]
    struct Windows(Mutex<usize>, tokio::sync::Notify);
    impl EventSink for Windows {
        fn emit(&self, event: SyncEvent) {
            if matches!(event, SyncEvent::MessagesAdded { .. }) {
                *self.0.lock().unwrap() += 1;
                self.1.notify_waiters();
            }
        }
    }

    let idp = Introspection::start();
    idp.grant("first-token", "alice");
    idp.grant("second-token", "alice");
    let server = oauth_server(&idp, &["OAUTHBEARER"], true);
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 77,
            count: 2000,
            ..GenConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        Engine::open(EngineConfig {
            data_dir: dir.path().to_path_buf(),
            extra_roots_pem: Some(server.pki.ca_pem.clone()),
            ..EngineConfig::default()
        })
        .await
        .unwrap(),
    );
    let windows = Arc::new(Windows::default());
    engine.set_listener(Some(windows.clone()));
    let first = Scripted::new(&["first-token"]);
    let account = engine
        .add_account(AccountConfig {
            name: "Alice".into(),
            protocol: Protocol::Imap,
            endpoint: endpoint(server.imaps_addr(), Security::ImplicitTls),
            credential: Credential::oauth2("alice", first.clone()),
        })
        .await
        .unwrap();
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let sync = tokio::spawn({
        let (engine, request) = (engine.clone(), request.clone());
        async move { engine.sync(account, &request).await }
    });
    let stored = async {
        loop {
            let arrived = windows.1.notified();
            if *windows.0.lock().unwrap() > 0 {
                return;
            }
            arrived.await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), stored)
        .await
        .expect("a window was stored");
    let second = Scripted::new(&["second-token"]);
    engine
        .set_credential(account, Credential::oauth2("alice", second.clone()))
        .await
        .unwrap();
    let report = sync.await.unwrap().unwrap();
    assert_eq!(report.added(), 2000, "the running sync finished");
    assert_eq!(first.calls().len(), 1);
    assert!(
        second.calls().is_empty(),
        "the running sync did not log in again"
    );

    // A new connection (the network changed) logs in with the new provider.
    engine.network_changed(NetworkKind::Metered);
    engine.sync(account, &request).await.unwrap();
    assert_eq!(
        first.calls().len(),
        1,
        "the old provider is never asked again"
    );
    assert_eq!(second.calls().len(), 1);
}
