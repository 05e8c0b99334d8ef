//! Transcript tests for hostile and broken servers: a scripted fake IMAP server on a loopback
//! `TcpListener` answers each command with bytes chosen by the test, and the real `connect`
//! (plaintext: the bytes are the point, not TLS) and session code run against it. Each test
//! pins what one kind of bad input turns into: a clear error, bounded memory, a session that
//! is not used again when its stream can no longer be trusted, and nothing lost.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};

use super::{ConnectOptions, ImapSession, SummaryItems, connect};
use crate::{
    error::Error,
    net::{Credential, Endpoint, Security, TlsConnector, Trust, WireMeter},
    store::{AccountId, AccountKind, NewAccount, Store},
};

/// What the fake server does with one command (`TAG` in the bytes becomes its tag).
enum Reply {
    /// These untagged bytes, then `TAG OK done`.
    Ok(Vec<u8>),
    /// Exactly these bytes.
    Raw(Vec<u8>),
    /// These bytes, then the connection is closed.
    Close(Vec<u8>),
    /// These bytes, then silence with the connection left open.
    Hang(Vec<u8>),
}

fn ok(untagged: impl AsRef<[u8]>) -> Reply {
    Reply::Ok(untagged.as_ref().to_vec())
}

/// Starts a fake server for one connection. Login always succeeds; every other command goes
/// to `respond` (without its tag). The handle yields the commands received, LOGIN's
/// arguments left out.
async fn serve(
    respond: impl FnMut(&str) -> Reply + Send + 'static,
) -> (SocketAddr, JoinHandle<Vec<String>>) {
    serve_many(1, respond).await
}

/// [`serve`] for `connections` connections, one after the other.
async fn serve_many(
    connections: usize,
    mut respond: impl FnMut(&str) -> Reply + Send + 'static,
) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..connections {
            let (socket, _) = listener.accept().await.unwrap();
            converse(socket, &mut respond, &mut seen).await;
        }
        seen
    });
    (addr, handle)
}

async fn converse(
    socket: tokio::net::TcpStream,
    respond: &mut impl FnMut(&str) -> Reply,
    seen: &mut Vec<String>,
) {
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let _ = write
        .write_all(b"* OK [CAPABILITY IMAP4rev1] fake ready\r\n")
        .await;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let (tag, command) = text.split_once(' ').unwrap_or((&text, ""));
        let reply = if command.starts_with("LOGIN ") {
            seen.push("LOGIN".to_string());
            Reply::Raw(b"TAG OK [CAPABILITY IMAP4rev1] logged in\r\n".to_vec())
        } else if command == "LOGOUT" {
            seen.push(command.to_string());
            Reply::Close(b"* BYE bye\r\nTAG OK done\r\n".to_vec())
        } else {
            seen.push(command.to_string());
            respond(command)
        };
        let with_tag = |bytes: Vec<u8>| replace(&bytes, b"TAG", tag.as_bytes());
        match reply {
            Reply::Ok(untagged) => {
                let mut bytes = with_tag(untagged);
                bytes.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
                let _ = write.write_all(&bytes).await;
            }
            Reply::Raw(bytes) => {
                let _ = write.write_all(&with_tag(bytes)).await;
            }
            Reply::Close(bytes) => {
                let _ = write.write_all(&with_tag(bytes)).await;
                return;
            }
            Reply::Hang(bytes) => {
                let _ = write.write_all(&with_tag(bytes)).await;
                let mut sink = Vec::new();
                let _ = read.read_to_end(&mut sink).await;
                return;
            }
        }
    }
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn options() -> ConnectOptions {
    ConnectOptions {
        timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    }
}

async fn open(addr: SocketAddr, options: &ConnectOptions) -> ImapSession {
    let endpoint = Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: Security::DangerPlaintext,
    };
    let tls = TlsConnector::new(&Trust::default()).unwrap();
    connect(
        &endpoint,
        &Credential::password("alice", "pw"),
        &tls,
        &WireMeter::new(),
        options,
    )
    .await
    .unwrap()
}

const ITEMS: SummaryItems = SummaryItems {
    preview: false,
    modseq: false,
    references: false,
    objectid: false,
};

fn envelope(subject: &[u8]) -> Vec<u8> {
    [
        b"ENVELOPE (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"".as_slice(),
        subject,
        b"\" ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL ((\"Bob\" NIL \"bob\" \"example.com\")) \
          NIL NIL NIL \"<m@example.com>\")",
    ]
    .concat()
}

/// A BODYSTRUCTURE imap-proto fails the whole response on (a size that is not a number).
const BROKEN: &[u8] =
    b"BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" twenty 1)";

const TEXT_PLAIN: &[u8] =
    b"BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1)";

/// One `* seq FETCH` summary with the given BODYSTRUCTURE item (or none).
fn summary(seq: u32, structure: &[u8]) -> Vec<u8> {
    [
        format!(
            "* {seq} FETCH (UID {} FLAGS (\\Seen) INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" \
             RFC822.SIZE 120 ",
            100 + seq
        )
        .as_bytes(),
        &envelope(format!("Hello {seq}").as_bytes()),
        if structure.is_empty() { b"" } else { b" " },
        structure,
        b")\r\n",
    ]
    .concat()
}

/// The session's first summary window for `set`.
async fn first_window(
    session: &mut ImapSession,
    set: &str,
) -> crate::error::Result<Option<super::Window>> {
    let mut fetch = session.start_summaries(&[set.to_string()], false, ITEMS, 1);
    session.next_window(&mut fetch).await
}

fn protocol_reason(e: Error) -> String {
    match e {
        Error::Protocol { reason } => reason,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// The virtual size of this process, from /proc (Linux).
fn virtual_size() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split(' ').next()?.parse().ok()?;
    Some(pages * 4096)
}

#[tokio::test]
async fn a_4_gib_literal_is_refused_at_once_and_the_session_ends() {
    let (addr, server) =
        serve(|_| Reply::Hang(b"* 1 FETCH (UID 101 BODY[] {4294967295}\r\n".to_vec())).await;
    let mut session = open(addr, &options()).await;
    let started = Instant::now();
    let err = first_window(&mut session, "1").await.unwrap_err();
    assert_eq!(
        protocol_reason(err),
        "literal of 4294967295 bytes exceeds the limit of 67108864"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // async-imap's stream is closed after the error: the session is done, not looping.
    assert!(matches!(
        session.select("INBOX", None).await,
        Err(Error::ConnectionClosed)
    ));
    drop(session);
    server.await.unwrap();
}

/// Under async-imap's own 512 MiB cap, a 400 MB announcement would be allocated (and zeroed)
/// in full before a byte of it arrives. The guard refuses it first.
#[tokio::test]
async fn a_400_mb_literal_allocates_nothing() {
    let (addr, _server) =
        serve(|_| Reply::Hang(b"* 1 FETCH (UID 101 BODY[] {400000000}\r\n".to_vec())).await;
    let mut session = open(addr, &options()).await;
    let before = virtual_size();
    let err = first_window(&mut session, "1").await.unwrap_err();
    let after = virtual_size();
    assert_eq!(
        protocol_reason(err),
        "literal of 400000000 bytes exceeds the limit of 67108864"
    );
    if let (Some(before), Some(after)) = (before, after) {
        assert!(
            after.saturating_sub(before) < 100_000_000,
            "virtual size grew by {} bytes",
            after - before
        );
    }
}

#[tokio::test]
async fn a_literal_within_the_limit_is_read() {
    let options = ConnectOptions {
        max_literal: 1000,
        ..options()
    };
    let body = [
        b"* 1 FETCH (UID 101 BODY[HEADER.FIELDS (REFERENCES)] {1000}\r\n".as_slice(),
        &[b'x'; 1000],
        b")\r\n",
    ]
    .concat();
    let (addr, _server) = serve(move |_| ok(&body)).await;
    let mut session = open(addr, &options).await;
    // A FETCH with neither envelope nor structure is a flag update, which is all this needs.
    let window = first_window(&mut session, "1").await.unwrap().unwrap();
    assert_eq!(window.flag_updates.len(), 1);
}

#[tokio::test]
async fn an_over_long_line_is_refused() {
    let options = ConnectOptions {
        max_line: 64 * 1024,
        ..options()
    };
    let line = [b"* OK ".as_slice(), &vec![b'x'; 100 * 1024], b"\r\n"].concat();
    let (addr, _server) = serve(move |_| Reply::Hang(line.clone())).await;
    let mut session = open(addr, &options).await;
    let err = session.select("INBOX", None).await.unwrap_err();
    assert_eq!(
        protocol_reason(err),
        "a response line exceeds the limit of 65536 bytes"
    );
}

#[tokio::test]
async fn a_broken_bodystructure_costs_only_its_structure() {
    let (addr, server) = serve(move |command| {
        if command.starts_with("FETCH 1:3 ") {
            ok([
                summary(1, TEXT_PLAIN),
                summary(2, BROKEN),
                summary(3, TEXT_PLAIN),
            ]
            .concat())
        } else if command == "FETCH 2 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)" {
            ok(summary(2, b""))
        } else {
            ok("")
        }
    })
    .await;
    let mut session = open(addr, &options()).await;
    let window = first_window(&mut session, "1:3").await.unwrap().unwrap();
    let uids: Vec<u32> = window.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [101, 103]);
    assert_eq!(window.unparsable, [2]);
    assert_eq!(window.messages[0].parts.len(), 1);

    let retried = session
        .summaries_of(&super::SeqSet::of([2]), None)
        .await
        .unwrap();
    assert!(retried.unparsable.is_empty());
    let m = &retried.messages[0];
    assert_eq!((m.uid, m.envelope.subject.as_str()), (102, "Hello 2"));
    assert!(m.parts.is_empty());
    // The stream was never in doubt: the session goes on.
    session.select("INBOX", None).await.unwrap();
    session.logout().await.unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen.iter()
            .any(|c| c == "FETCH 2 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
    );
}

#[tokio::test]
async fn an_unparsable_fetch_outside_a_summary_fetch_is_an_error() {
    let (addr, _server) = serve(|command| {
        if command.starts_with("UID FETCH") {
            ok([
                b"* 1 FETCH (UID 101 FLAGS (\\Seen) ".as_slice(),
                BROKEN,
                b")\r\n",
            ]
            .concat())
        } else {
            ok("")
        }
    })
    .await;
    let mut session = open(addr, &options()).await;
    let err = session.fetch_flags(None).await.unwrap_err();
    assert_eq!(
        protocol_reason(err),
        "unparsable FETCH response to UID FETCH"
    );
}

#[tokio::test]
async fn invalid_utf8_in_a_subject_is_decoded_lossily() {
    let response = [
        b"* 1 FETCH (UID 101 FLAGS () INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" RFC822.SIZE 9 "
            .as_slice(),
        &envelope(b"caf\xe9 \xff\xfe"),
        b" ",
        TEXT_PLAIN,
        b")\r\n",
    ]
    .concat();
    let (addr, _server) = serve(move |_| ok(&response)).await;
    let mut session = open(addr, &options()).await;
    let window = first_window(&mut session, "1").await.unwrap().unwrap();
    let subject = &window.messages[0].envelope.subject;
    assert!(subject.starts_with("caf"), "{subject:?}");
    assert!(window.unparsable.is_empty());
}

/// imap-proto reads strings in BODYSTRUCTURE lossily: the message keeps its structure.
#[tokio::test]
async fn invalid_utf8_in_a_bodystructure_parameter_is_decoded_lossily() {
    let structure =
        b"BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"\xff\xfe\") NIL NIL \"7bit\" 20 1)";
    let (addr, _server) = serve(move |_| ok(summary(1, structure))).await;
    let mut session = open(addr, &options()).await;
    let window = first_window(&mut session, "1").await.unwrap().unwrap();
    assert!(window.unparsable.is_empty());
    let charset = window.messages[0].parts[0].charset.clone().unwrap();
    assert!(charset.contains('\u{fffd}'), "{charset:?}");
}

/// imap-proto skips an item it cannot parse when the rest of the response still parses (a
/// structure without nested lists): the summary arrives without BODYSTRUCTURE, which counts
/// as unparsable just the same.
#[tokio::test]
async fn a_bodystructure_imap_proto_skips_counts_as_unparsable() {
    let (addr, _server) = serve(move |command| {
        if command.contains("BODYSTRUCTURE") {
            ok(summary(1, b"BODYSTRUCTURE (garbage)"))
        } else {
            ok(summary(1, b""))
        }
    })
    .await;
    let mut session = open(addr, &options()).await;
    let window = first_window(&mut session, "1").await.unwrap().unwrap();
    assert!(window.messages.is_empty());
    assert_eq!(window.unparsable, [1]);
    let retried = session
        .summaries_of(&super::SeqSet::of(window.unparsable.iter().copied()), None)
        .await
        .unwrap();
    assert_eq!(retried.messages[0].uid, 101);
    assert!(retried.unparsable.is_empty());
}

#[tokio::test]
async fn a_connection_closed_mid_response_is_connection_closed() {
    let (addr, _server) =
        serve(|_| Reply::Close(b"* 1 FETCH (UID 101 FLAGS (\\Seen) ENVEL".to_vec())).await;
    let mut session = open(addr, &options()).await;
    let err = first_window(&mut session, "1").await.unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err:?}");
}

#[tokio::test]
async fn a_connection_closed_mid_literal_is_connection_closed() {
    let (addr, _server) =
        serve(|_| Reply::Close(b"* 1 FETCH (UID 101 BODY[] {500}\r\nonly a few bytes".to_vec()))
            .await;
    let mut session = open(addr, &options()).await;
    let err = first_window(&mut session, "1").await.unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err:?}");
}

#[tokio::test]
async fn a_tagged_response_for_an_unknown_tag_is_a_protocol_error() {
    let (addr, _server) = serve(|_| Reply::Raw(b"Z999 OK done\r\n".to_vec())).await;
    let mut session = open(addr, &options()).await;
    let err = session.select("INBOX", None).await.unwrap_err();
    assert_eq!(
        protocol_reason(err),
        "a tagged response for a command never sent"
    );
}

/// Garbage async-imap itself cannot parse (not an untagged response the guard checks, or one
/// too large to hold) ends the session with a reason that quotes nothing of the content.
#[tokio::test]
async fn garbage_ends_the_session_without_quoting_it() {
    let (addr, _server) =
        serve(|_| Reply::Hang(b"secret garbage from the server\r\n".to_vec())).await;
    let mut session = open(addr, &options()).await;
    let err = session.select("INBOX", None).await.unwrap_err();
    let reason = protocol_reason(err);
    assert_eq!(reason, "unparsable response to SELECT");
    assert!(matches!(
        session.select("INBOX", None).await,
        Err(Error::ConnectionClosed)
    ));

    // An untagged response of any size that cannot be parsed becomes a marker instead (see
    // `guard`): the session goes on.
}

/// A real store in a temp dir with one IMAP account, for the sync-level tests.
async fn local_store() -> (tempfile::TempDir, Store, AccountId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("anvert.db")).await.unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "alice".into(),
            kind: AccountKind::Imap,
            host: "127.0.0.1".into(),
            port: 143,
            security: "danger_plaintext".into(),
            username: "alice".into(),
        })
        .await
        .unwrap();
    (dir, store, account)
}

/// `(uid, number of parts)` of every message stored in the account's INBOX.
async fn stored_parts(store: &Store, account: AccountId) -> Vec<(u32, usize)> {
    let folders = store.folders(account).await.unwrap();
    let id = folders.iter().find(|f| f.name == "INBOX").unwrap().id;
    let page = store.messages_page(id, None, 100).await.unwrap();
    let mut parts = Vec::new();
    for item in &page.items {
        let m = store.message(item.id).await.unwrap().unwrap();
        parts.push((m.summary.uid, m.parts.len()));
    }
    parts.sort();
    parts
}

/// A message the server cannot describe does not block its folder, in a first sync or in
/// new mail: its parts are read from its own bytes, or (when even its envelope does not
/// parse) it is stored as a placeholder with its UID and flags, marked incomplete, and the
/// next sync fetches it again and completes it.
#[tokio::test]
async fn a_sync_stores_messages_with_a_broken_structure_and_completes_placeholders() {
    use crate::{
        policy::{SyncRequest, SyncWindow},
        sync::SyncMode,
    };

    /// A summary imap-proto fails on even without BODYSTRUCTURE.
    const HOPELESS: &[u8] = b"* 3 FETCH (UID 103 FLAGS (\\Seen) ENVELOPE (\"d\" ((\"x\")) no))\r\n";
    let mut selects = 0;
    let (addr, _server) = serve_many(2, move |command| {
        let without = "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";
        if command.starts_with("LIST ") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("STATUS ") {
            ok("* STATUS INBOX (MESSAGES 5 UIDNEXT 106 UIDVALIDITY 7)\r\n")
        } else if command.starts_with("SELECT ") {
            selects += 1;
            match selects {
                1 => ok("* 4 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 105] ok\r\n"),
                _ => ok("* 5 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 106] ok\r\n"),
            }
        } else if command.starts_with("FETCH 1:4 ") {
            let structures = [TEXT_PLAIN, BROKEN, BROKEN, TEXT_PLAIN];
            ok((1..=4)
                .flat_map(|n| summary(n, structures[n as usize - 1]))
                .collect::<Vec<u8>>())
        } else if command == format!("FETCH 2:3 {without}") {
            ok([summary(2, b""), HOPELESS.to_vec()].concat())
        } else if command == "FETCH 3 (UID FLAGS)" {
            ok("* 3 FETCH (UID 103 FLAGS (\\Seen))\r\n")
        } else if let Some(uid) = command
            .strip_prefix("UID FETCH ")
            .and_then(|c| c.strip_suffix(" (UID BODY.PEEK[]<0.121>)"))
        {
            let seq: u32 = uid.parse::<u32>().unwrap() - 100;
            ok(whole_message(seq, uid))
        } else if command == "UID FETCH 1:* (UID FLAGS)" {
            ok((1..=5)
                .map(|n| format!("* {n} FETCH (UID {} FLAGS ())\r\n", 100 + n))
                .collect::<String>())
        } else if command.starts_with("UID FETCH 105:* ") {
            ok(summary(5, BROKEN))
        } else if command.starts_with("UID FETCH 103 ") {
            ok(summary(3, TEXT_PLAIN))
        } else if command == format!("FETCH 5 {without}") {
            ok(summary(5, b""))
        } else if command == "UID SEARCH ALL" {
            ok("* SEARCH 101 102 103 104 105\r\n")
        } else {
            ok("")
        }
    })
    .await;
    let (_dir, store, account) = local_store().await;
    let request = SyncRequest {
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };

    let mut session = open(addr, &options()).await;
    let report = crate::sync::sync_imap_account(&mut session, &store, account, &request, 0)
        .await
        .unwrap();
    session.logout().await.unwrap();
    let folder = &report.folders[0];
    assert_eq!(folder.mode, SyncMode::Initial);
    let counts = (folder.added, folder.structure_fallback, folder.unparsable);
    assert_eq!(counts, (4, 1, 0), "{folder:?}");
    assert_eq!(folder.incomplete, [103], "{folder:?}");
    assert_eq!(
        stored_parts(&store, account).await,
        [(101, 1), (102, 1), (103, 0), (104, 1)]
    );

    // New mail, one of them broken, arrives by UID in a delta; the placeholder is completed.
    let mut session = open(addr, &options()).await;
    let report = crate::sync::sync_imap_account(&mut session, &store, account, &request, 0)
        .await
        .unwrap();
    let folder = &report.folders[0];
    assert_eq!(folder.mode, SyncMode::DeltaFullScan);
    assert_eq!(
        (folder.added, folder.refetched, folder.structure_fallback),
        (1, 1, 1),
        "{folder:?}"
    );
    assert!(folder.incomplete.is_empty(), "{folder:?}");
    assert_eq!(
        stored_parts(&store, account).await,
        [(101, 1), (102, 1), (103, 1), (104, 1), (105, 1)]
    );
}

/// The 120 bytes of message `seq` as `BODY[]<0>` for UID `uid` (RFC822.SIZE in [`summary`]).
fn whole_message(seq: u32, uid: &str) -> Vec<u8> {
    let head = format!("Subject: Hello {seq}\r\nContent-Type: text/plain\r\n\r\n");
    let raw = format!("{head}{}", "x".repeat(120 - head.len()));
    assert_eq!(raw.len(), 120);
    format!("* {seq} FETCH (UID {uid} BODY[]<0> {{120}}\r\n{raw})\r\n").into_bytes()
}

/// With windows pipelined, the one holding a broken message is completed before anything
/// after it commits; the windows that were in flight behind it are kept, not fetched again.
#[tokio::test]
async fn a_broken_message_in_a_pipelined_window_keeps_windows_in_order() {
    use crate::policy::{SyncRequest, SyncWindow};

    let (addr, server) = serve(move |command| {
        if command.starts_with("LIST ") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT ") {
            ok("* 7 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 108] ok\r\n")
        } else if command.starts_with("FETCH 6:7 ") {
            ok([summary(6, TEXT_PLAIN), summary(7, TEXT_PLAIN)].concat())
        } else if command.starts_with("FETCH 4:5 ") {
            ok([summary(4, TEXT_PLAIN), summary(5, TEXT_PLAIN)].concat())
        } else if command.starts_with("FETCH 2:3 ") {
            ok([summary(2, TEXT_PLAIN), summary(3, BROKEN)].concat())
        } else if command.starts_with("FETCH 1 ") {
            ok(summary(1, TEXT_PLAIN))
        } else if command == "FETCH 3 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)" {
            ok(summary(3, b""))
        } else {
            ok("")
        }
    })
    .await;
    let (_dir, store, account) = local_store().await;
    let request = SyncRequest {
        window: SyncWindow {
            first_window: 2,
            window: 2,
            pipeline_depth: 4,
            ..SyncWindow::everything()
        },
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let mut session = open(addr, &options()).await;
    let report = crate::sync::sync_imap_account(&mut session, &store, account, &request, 0)
        .await
        .unwrap();
    session.logout().await.unwrap();
    let folder = &report.folders[0];
    assert_eq!(folder.added, 7, "{folder:?}");
    // The server sends no bytes for message 3 either: it is kept without parts, incomplete.
    assert_eq!(folder.incomplete, [103], "{folder:?}");

    assert_eq!(
        stored_parts(&store, account).await,
        [
            (101, 1),
            (102, 1),
            (103, 0),
            (104, 1),
            (105, 1),
            (106, 1),
            (107, 1)
        ]
    );
    let seen = server.await.unwrap();
    let order: Vec<&str> = seen
        .iter()
        .filter(|c| c.starts_with("FETCH "))
        .map(|c| c.split(' ').nth(1).unwrap_or_default())
        .collect();
    // The batch after the first window ramps up: "4:5" alone, then "2:3" and "1" together.
    // "1" was in flight behind "2:3": it is kept, committed after the retry of message 3, and
    // never fetched again (issue 13).
    assert_eq!(order, ["6:7", "4:5", "2:3", "1", "3"]);
}

/// PERMANENTFLAGS is read; the folder selected now is remembered, so a second SELECT of it
/// is not sent; a failed SELECT leaves nothing selected and the scan behind it is not read.
#[tokio::test]
async fn permanentflags_and_the_selected_folder_are_kept() {
    let (addr, server) = serve(|command| {
        if command.starts_with("SELECT \"Gone\"") {
            Reply::Raw(b"TAG NO [NONEXISTENT] no such folder\r\n".to_vec())
        } else if command.starts_with("SELECT") {
            ok(b"* 2 EXISTS\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] x\r\n\
                 * OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 3] x\r\n")
        } else if command.starts_with("UID FETCH") {
            Reply::Raw(b"TAG BAD no folder selected\r\n".to_vec())
        } else {
            ok(b"")
        }
    })
    .await;
    let mut session = open(addr, &options()).await;
    let sel = session.select("INBOX", None).await.unwrap();
    assert_eq!(
        sel.permanent_flags.as_deref().unwrap(),
        ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]
    );
    assert_eq!(session.selected().unwrap().0, "INBOX");
    assert_eq!(session.ensure_selected("INBOX").await.unwrap(), sel);
    let err = session.select_and_scan_flags("Gone").await.unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { command, .. } if command == "SELECT"),
        "{err:?}"
    );
    assert!(session.selected().is_none());
    session.logout().await.unwrap();
    let seen = server.await.unwrap();
    let selects: Vec<&String> = seen.iter().filter(|c| c.starts_with("SELECT")).collect();
    assert_eq!(selects, ["SELECT \"INBOX\"", "SELECT \"Gone\""]);
}
