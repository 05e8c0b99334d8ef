//! Issue 13 for POP3: the engine against a scripted hostile server (`scripted_pop3`), one test
//! or more per failure class: a RETR cut before its terminator, a silent server at every
//! step, a RETR shorter or longer than its LIST size, a flood past any size, duplicate and
//! missing UIDLs, 100 MB without a line end wherever a line is read, and a TOP that ignores
//! its line count.
//!
//! Each asserts a clear error or the correct result within the operation timeout; CPU time
//! of the engine's thread under 2 s (the server runs on its own thread); how far the
//! process's resident set grew at its peak (`VmHWM`, restarted through `clear_refs`; the tests
//! of this binary run one at a time so the figure is theirs); the store unchanged by the bad
//! response, or
//! holding exactly what was proven; no DELE for a message that was not stored correctly, and
//! every message not stored fetched again by the next sync.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::time::{Duration, Instant};

use anvert_core::{
    Error,
    engine::Engine,
    policy::{NetworkKind, Pop3DeletePolicy, SyncRequest, SyncWindow},
    store::{AccountId, Pop3State},
    sync::SyncReport,
};
use anvert_tests::{
    scripted::thread_cpu,
    scripted_pop3::{Message, Reply, ScriptedPop3, stuffed, text_message},
};
use tokio::sync::{Mutex, MutexGuard};

/// This process's resident memory now (`VmRSS`), in bytes.
fn rss() -> u64 {
    status_kb("VmRSS:") * 1024
}

/// Restarts the peak-RSS count (`VmHWM`) from the current resident set.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// One test at a time: the resident-memory peak is then the running test's.
static SERIAL: Mutex<()> = Mutex::const_new(());

async fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// The engine's wait for a silent server in the stall tests.
const SHORT: Duration = Duration::from_secs(1);
/// The engine's timeout elsewhere.
const TIMEOUT: Duration = Duration::from_secs(10);
/// CPU time allowed for one sync of a hostile case, on the engine's thread.
const CPU_MAX: Duration = Duration::from_secs(2);
/// 100 MB: far past every limit.
const HUGE: u64 = 100 * 1000 * 1000;

fn everything(delete: Pop3DeletePolicy) -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Unmetered,
        window: SyncWindow::everything(),
        pop3_delete: delete,
        ..SyncRequest::default()
    }
}

fn maildrop(n: u32) -> Vec<Message> {
    (1..=n)
        .map(|i| {
            Message::new(
                &format!("uid-{i}"),
                text_message(i, &format!("message {i}")),
            )
        })
        .collect()
}

/// How one sync went, with what it cost.
struct Measured {
    result: Result<SyncReport, Error>,
    wall: Duration,
    cpu: Duration,
    /// How far the resident set grew at its peak during the sync, in bytes.
    memory: u64,
}

async fn sync(engine: &Engine, account: AccountId, request: &SyncRequest) -> Measured {
    reset_peak();
    let before = rss();
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let result = engine.sync(account, request).await;
    Measured {
        result,
        wall: wall.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu),
        memory: (status_kb("VmHWM:") * 1024).saturating_sub(before),
    }
}

impl Measured {
    /// Within `wall`, under [`CPU_MAX`] and `memory` bytes.
    fn bounded(&self, wall: Duration, memory: u64) -> &Self {
        assert!(self.wall <= wall, "took {:?}: {:?}", self.wall, self.result);
        assert!(
            self.cpu <= CPU_MAX,
            "{:?} of CPU: {:?}",
            self.cpu,
            self.result
        );
        assert!(
            self.memory <= memory,
            "{} MB allocated: {:?}",
            self.memory >> 20,
            self.result
        );
        self
    }

    fn report(&self) -> &SyncReport {
        self.result.as_ref().unwrap()
    }

    fn error(&self) -> &Error {
        self.result.as_ref().unwrap_err()
    }
}

/// The account's POP3 rows: (key, state, stored size), by key.
async fn rows(engine: &Engine, account: AccountId) -> Vec<(String, Pop3State, u32)> {
    let mut rows: Vec<_> = engine
        .store()
        .pop3_known(account)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.uidl, k.state, k.message_size))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn state_of(rows: &[(String, Pop3State, u32)], key: &str) -> Option<Pop3State> {
    rows.iter().find(|r| r.0 == key).map(|r| r.1)
}

/// Subjects of the stored messages, sorted.
async fn subjects(engine: &Engine, account: AccountId) -> Vec<String> {
    let folder = engine.folders(account).await.unwrap()[0].id;
    let page = engine.messages(folder, None, 100).await.unwrap();
    let mut subjects: Vec<String> = page.items.iter().map(|m| m.subject.clone()).collect();
    subjects.sort();
    subjects
}

/// The stored plain-text body of the message with `subject`.
async fn body(engine: &Engine, account: AccountId, subject: &str) -> Option<String> {
    let folder = engine.folders(account).await.unwrap()[0].id;
    let page = engine.messages(folder, None, 100).await.unwrap();
    let item = page.items.iter().find(|m| m.subject == subject)?;
    engine
        .fetch_body(item.id, NetworkKind::Offline)
        .await
        .ok()?
        .text
}

/// Wire bytes the ledger holds for the account.
async fn ledger_bytes(engine: &Engine, account: AccountId) -> u64 {
    engine
        .usage(account)
        .await
        .unwrap()
        .iter()
        .map(|r| r.bytes_up + r.bytes_down)
        .sum()
}

fn uidls(messages: &[Message]) -> Vec<String> {
    messages.iter().filter_map(|m| m.uidl.clone()).collect()
}

/// The first half of message `m`'s wire form, without its terminator.
fn cut(m: &Message) -> Vec<u8> {
    let wire = stuffed(&m.bytes);
    [b"+OK\r\n".as_slice(), &wire[..wire.len() / 2]].concat()
}

#[tokio::test]
async fn a_retr_cut_before_its_terminator_stores_nothing_of_it_and_is_fetched_again() {
    let _one = serial().await;
    let drop_ = maildrop(3);
    let second = drop_[1].clone();
    let server = ScriptedPop3::start(drop_.clone(), move |conn, cmd| {
        (conn == 0 && cmd == "RETR 2").then(|| Reply::Close(cut(&second)))
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);

    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 8 << 20);
    assert!(
        matches!(first.error(), Error::ConnectionClosed),
        "{:?}",
        first.result
    );
    let after = rows(&engine, account).await;
    assert_eq!(state_of(&after, "uid-2"), Some(Pop3State::Headers));
    assert_eq!(
        state_of(&after, "uid-3"),
        Some(Pop3State::Full),
        "RETR 3 came first"
    );
    assert_eq!(body(&engine, account, "message 2").await, None);
    assert_eq!(server.count("DELE"), 0, "no DELE in a sync that failed");
    assert_eq!(server.maildrop().len(), 3);

    let again = sync(&engine, account, &request).await;
    again.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(again.report().folders[0].bodies, 2, "messages 2 and 1");
    assert!(
        rows(&engine, account)
            .await
            .iter()
            .all(|r| r.1 == Pop3State::Full)
    );
    assert_eq!(
        body(&engine, account, "message 2").await.as_deref(),
        Some("Body of message 2.\n.A line starting with a dot.\nThe end.\n")
    );
    assert_eq!(uidls(&server.deleted()), ["uid-1", "uid-2", "uid-3"]);
}

#[tokio::test]
async fn a_silent_server_ends_every_step_at_the_timeout() {
    let _one = serial().await;
    let drop_ = maildrop(3);
    let stalls: Vec<(&str, Reply)> = vec![
        ("GREETING", Reply::Hang(Vec::new())),
        ("CAPA", Reply::Hang(b"+OK\r\nTOP\r\n".to_vec())),
        ("UIDL", Reply::Hang(b"+OK\r\n1 uid-1\r\n".to_vec())),
        ("TOP 2 10", Reply::Hang(b"+OK\r\nSubject: half".to_vec())),
        ("RETR 2", Reply::Hang(cut(&drop_[1]))),
        ("DELE 1", Reply::Hang(Vec::new())),
    ];
    for (when, stall) in stalls {
        let server = ScriptedPop3::start(drop_.clone(), move |conn, cmd| {
            (conn == 0 && cmd == when).then(|| stall.clone())
        });
        let dir = tempfile::tempdir().unwrap();
        let (engine, account) = server.engine(dir.path(), SHORT).await;
        let request = everything(Pop3DeletePolicy::AfterDownload);
        let stalled = sync(&engine, account, &request).await;
        // One timeout for the silence and at most one for the QUIT after it.
        stalled.bounded(SHORT * 2 + Duration::from_millis(800), 8 << 20);
        assert!(
            matches!(stalled.error(), Error::Timeout { .. }),
            "{when}: {:?}",
            stalled.result
        );
        let stored = rows(&engine, account).await;
        let full = stored.iter().filter(|r| r.1 == Pop3State::Full).count();
        match when {
            "GREETING" | "CAPA" | "UIDL" | "TOP 2 10" => assert!(stored.is_empty(), "{when}"),
            "RETR 2" => assert_eq!(full, 1, "{when}: only message 3 came before"),
            _ => assert_eq!(full, 3, "{when}"),
        }
        assert!(server.deleted().is_empty(), "{when}: nothing deleted");

        let healthy = sync(&engine, account, &request).await;
        healthy.bounded(Duration::from_secs(5), 8 << 20);
        assert!(healthy.result.is_ok(), "{when}: {:?}", healthy.result);
        let stored = rows(&engine, account).await;
        assert_eq!(stored.len(), 3, "{when}");
        assert!(stored.iter().all(|r| r.1 == Pop3State::Full), "{when}");
        assert_eq!(
            server.maildrop().len(),
            0,
            "{when}: all deleted once stored"
        );
    }
}

/// Servers count LIST sizes loosely (Exchange estimates them by default), so a RETR that
/// ends properly is stored whatever its size. Shorter than listed it may be truncated: it
/// is never deleted from the server.
#[tokio::test]
async fn a_retr_shorter_than_listed_is_stored_but_never_deleted() {
    let _one = serial().await;
    let mut drop_ = maildrop(3);
    drop_[1].list_size = Some(300_000);
    let server = ScriptedPop3::start(drop_, |_, _| None);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);

    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(first.report().folders[0].bodies, 3);
    assert!(body(&engine, account, "message 2").await.is_some());
    assert_eq!(uidls(&server.deleted()), ["uid-1", "uid-3"]);
    assert_eq!(server.count("DELE 2"), 0);

    let again = sync(&engine, account, &request).await;
    again.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(again.report().folders[0].bodies, 0, "not downloaded again");
    assert_eq!(server.count("DELE"), 2, "and still not deleted");
    assert_eq!(uidls(&server.maildrop()), ["uid-2"]);
}

#[tokio::test]
async fn a_retr_longer_than_listed_is_kept_whole_and_a_flood_is_refused_at_a_bound() {
    let _one = serial().await;
    // Longer than listed (a server adding headers, or counting bare LFs): stored whole.
    let mut drop_ = maildrop(3);
    drop_[1].list_size = Some(40);
    let server = ScriptedPop3::start(drop_, |_, _| None);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);
    let longer = sync(&engine, account, &request).await;
    longer.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(longer.report().folders[0].bodies, 3);
    assert_eq!(
        body(&engine, account, "message 2").await.as_deref(),
        Some("Body of message 2.\n.A line starting with a dot.\nThe end.\n")
    );
    assert_eq!(server.maildrop().len(), 0);

    // 100 MB of well-formed lines for a message listed at 240 bytes: refused once past
    // twice its size plus the slack, long before the session's own limit.
    let drop_ = maildrop(3);
    let server = ScriptedPop3::start(drop_, |_, cmd| {
        (cmd == "RETR 2").then(|| Reply::Flood {
            head: b"+OK\r\n".to_vec(),
            fill: b"flood flood flood flood\r\n".to_vec(),
            len: HUGE,
            tail: b".\r\n".to_vec(),
            go_on: true,
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let flood = sync(&engine, account, &request).await;
    flood.bounded(Duration::from_secs(5), 8 << 20);
    assert!(
        matches!(flood.error(), Error::Protocol { reason } if reason.contains("more than")),
        "{:?}",
        flood.result
    );
    let read = ledger_bytes(&engine, account).await;
    assert!(read < 8 << 20, "{read} bytes read");
    let stored = rows(&engine, account).await;
    assert_eq!(state_of(&stored, "uid-2"), Some(Pop3State::Headers));
    assert!(server.deleted().is_empty());
}

/// Two numbers with one UIDL (RFC 1939 forbids it): both are stored, neither is deleted, and
/// the UIDL is never trusted for a DELE again, even once only one number has it.
#[tokio::test]
async fn duplicate_uidls_keep_both_messages_and_delete_neither() {
    let _one = serial().await;
    let mut drop_ = maildrop(4);
    drop_[1].uidl = Some("dup".into());
    drop_[2].uidl = Some("dup".into());
    let server = ScriptedPop3::start(drop_.clone(), |_, _| None);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);

    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(
        subjects(&engine, account).await,
        ["message 1", "message 2", "message 3", "message 4"]
    );
    assert_eq!(first.report().folders[0].bodies, 4);
    assert_eq!(uidls(&server.deleted()), ["uid-1", "uid-4"]);
    let keys = rows(&engine, account).await;
    assert_eq!(keys.len(), 4);
    assert!(
        keys.iter().any(|r| r.0.starts_with("dup sha256 ")),
        "{keys:?}"
    );

    let again = sync(&engine, account, &request).await;
    again.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(again.report().added(), 0);
    assert_eq!(again.report().folders[0].bodies, 0);
    assert_eq!(server.maildrop().len(), 2, "neither duplicate deleted");

    // Another client removes one copy: the UIDL now names one message, but which one was
    // stored under it cannot be proven, so it is still not deleted.
    server.set_maildrop(vec![drop_[2].clone()]);
    let alone = sync(&engine, account, &request).await;
    alone.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(alone.report().added(), 0);
    assert_eq!(server.maildrop().len(), 1);
    assert_eq!(subjects(&engine, account).await.len(), 4);
}

/// A message LIST shows but UIDL leaves out is skipped and counted, never keyed by a guess;
/// it is stored once the listing names it. A message without a LIST size is stored but never
/// deleted.
#[tokio::test]
async fn messages_missing_from_a_listing_are_counted_and_never_deleted_blind() {
    let _one = serial().await;
    let mut drop_ = maildrop(3);
    drop_[1].uidl = None;
    let server = ScriptedPop3::start(drop_.clone(), |conn, cmd| {
        // The first session's LIST forgets message 3.
        (conn == 0 && cmd == "LIST").then(|| {
            Reply::raw(format!(
                "+OK\r\n1 {}\r\n2 {}\r\n.\r\n",
                text_message(1, "message 1").len(),
                text_message(2, "message 2").len()
            ))
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);

    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 8 << 20);
    let report = first.report();
    assert_eq!(report.folders[0].unparsable, 1, "message 2 has no UIDL");
    assert_eq!(subjects(&engine, account).await, ["message 1", "message 3"]);
    assert_eq!(
        uidls(&server.deleted()),
        ["uid-1"],
        "message 3 had no LIST size"
    );

    let mut named = drop_[1].clone();
    named.uidl = Some("uid-2".into());
    server.set_maildrop(vec![named, drop_[2].clone()]);
    let again = sync(&engine, account, &request).await;
    again.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(again.report().folders[0].unparsable, 0);
    assert_eq!(
        subjects(&engine, account).await,
        ["message 1", "message 2", "message 3"]
    );
    assert_eq!(
        server.maildrop().len(),
        0,
        "now both are proven and deleted"
    );
}

/// 100 MB with no line end, wherever the client reads a line: refused at a bounded length,
/// within a second or so, with the store as it was.
#[tokio::test]
async fn huge_lines_are_refused_at_a_bound_quickly() {
    let _one = serial().await;
    let flood = |head: &str| Reply::Flood {
        head: head.as_bytes().to_vec(),
        fill: b"x".to_vec(),
        len: HUGE,
        tail: Vec::new(),
        go_on: false,
    };
    let cases: Vec<(&str, Reply)> = vec![
        ("GREETING", flood("+OK ")),
        ("CAPA", flood("+OK\r\nTOP ")),
        ("UIDL", flood("+OK\r\n1 ")),
        ("LIST", flood("+OK\r\n1 ")),
        ("TOP 3 10", flood("+OK\r\nSubject: ")),
        ("RETR 3", flood("+OK\r\nSubject: ")),
    ];
    for (when, reply) in cases {
        let server = ScriptedPop3::start(maildrop(3), move |_, cmd| {
            (cmd == when).then(|| reply.clone())
        });
        let dir = tempfile::tempdir().unwrap();
        let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
        let request = everything(Pop3DeletePolicy::AfterDownload);
        let refused = sync(&engine, account, &request).await;
        refused.bounded(Duration::from_secs(3), 24 << 20);
        assert!(
            matches!(refused.error(), Error::Protocol { reason }
                if reason.contains("longer than") || reason.contains("more than")),
            "{when}: {:?}",
            refused.result
        );
        let read = ledger_bytes(&engine, account).await;
        assert!(read < 16 << 20, "{when}: {read} bytes read");
        let stored = rows(&engine, account).await;
        match when {
            "RETR 3" => {
                assert_eq!(stored.len(), 3);
                assert!(stored.iter().all(|r| r.1 == Pop3State::Headers), "{when}");
            }
            _ => assert!(stored.is_empty(), "{when}: {stored:?}"),
        }
        assert!(server.deleted().is_empty());
    }
}

/// A server that ignores TOP's line count sends whole messages: they are read, but only a
/// bounded prefix of each is held, and the headers are stored as usual.
#[tokio::test]
async fn a_top_that_ignores_its_line_count_is_read_in_bounded_memory() {
    let _one = serial().await;
    const BIG: u64 = 24 << 20;
    let mut drop_ = maildrop(4);
    for m in &mut drop_ {
        m.list_size = Some(BIG);
    }
    let heads: Vec<String> = (1..=4)
        .map(|i| text_message(i, &format!("message {i}")))
        .collect();
    let fill = b"the rest of a very long message\r\n";
    let server = ScriptedPop3::start(drop_, move |_, cmd| {
        let n: usize = cmd.strip_prefix("TOP ")?.split(' ').next()?.parse().ok()?;
        Some(Reply::Flood {
            head: format!("+OK\r\n{}", heads[n - 1]).into_bytes(),
            fill: fill.to_vec(),
            len: BIG / fill.len() as u64 * fill.len() as u64,
            tail: b".\r\n".to_vec(),
            go_on: true,
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    // Metered: headers only (the messages are far over the RETR cap).
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    let top = sync(&engine, account, &request).await;
    // 100 MB pass through the reader: bounded, but not free in a debug build.
    assert!(top.wall < Duration::from_secs(30), "{:?}", top.wall);
    assert!(top.memory < 24 << 20, "{} MB allocated", top.memory >> 20);
    assert_eq!(top.report().added(), 4);
    assert_eq!(
        subjects(&engine, account).await,
        ["message 1", "message 2", "message 3", "message 4"]
    );
}

/// Opening a headers-only message RETRs it: cut before its terminator, the app gets a clear
/// error and the message stays headers-only; opened again, it arrives whole.
#[tokio::test]
async fn opening_a_message_whose_retr_is_cut_fails_cleanly_and_works_next_time() {
    let _one = serial().await;
    let drop_ = maildrop(2);
    let first = drop_[0].clone();
    let server = ScriptedPop3::start(drop_, move |conn, cmd| {
        (conn == 1 && cmd == "RETR 1").then(|| Reply::Close(cut(&first)))
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    // Metered with no RETR at all: headers only.
    let request = SyncRequest {
        network: NetworkKind::Roaming,
        window: SyncWindow::everything(),
        ..SyncRequest::default()
    };
    sync(&engine, account, &request).await.report();
    let folder = engine.folders(account).await.unwrap()[0].id;
    let page = engine.messages(folder, None, 10).await.unwrap();
    let id = page
        .items
        .iter()
        .find(|m| m.subject == "message 1")
        .unwrap()
        .id;

    let (wall, cpu) = (Instant::now(), thread_cpu());
    let err = engine
        .fetch_body(id, NetworkKind::Unmetered)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err:?}");
    assert!(wall.elapsed() < Duration::from_secs(5));
    assert!(thread_cpu().saturating_sub(cpu) < CPU_MAX);
    let stored = rows(&engine, account).await;
    assert_eq!(state_of(&stored, "uid-1"), Some(Pop3State::Headers));

    let body = engine.fetch_body(id, NetworkKind::Unmetered).await.unwrap();
    assert_eq!(
        body.text.as_deref(),
        Some("Body of message 1.\n.A line starting with a dot.\nThe end.\n")
    );
    let stored = rows(&engine, account).await;
    assert_eq!(state_of(&stored, "uid-1"), Some(Pop3State::Full));
}

/// A RETR that ends at once (`+OK`, then the terminator) holds no message: nothing is stored
/// for it, it is counted, not deleted, and asked for again by the next sync.
#[tokio::test]
async fn an_empty_retr_is_counted_never_deleted_and_fetched_again() {
    let _one = serial().await;
    let server = ScriptedPop3::start(maildrop(3), |conn, cmd| {
        (conn == 0 && cmd == "RETR 2").then(|| Reply::raw("+OK\r\n.\r\n"))
    });
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);

    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 8 << 20);
    let report = &first.report().folders[0];
    assert_eq!((report.bodies, report.unparsable), (2, 1), "{report:?}");
    let stored = rows(&engine, account).await;
    assert_eq!(state_of(&stored, "uid-2"), Some(Pop3State::Headers));
    assert_eq!(uidls(&server.deleted()), ["uid-1", "uid-3"]);

    let again = sync(&engine, account, &request).await;
    again.bounded(Duration::from_secs(5), 8 << 20);
    assert_eq!(again.report().folders[0].bodies, 1);
    assert_eq!(server.maildrop().len(), 0);
}

/// A message nested 100,000 levels deep (message/rfc822 in message/rfc822..., 4.8 MB) used to
/// abort the process: mail-parser's tree of it was dropped recursively and overflowed the
/// stack. Now it is refused before mail-parser sees it (pure structure past a bound), stays
/// headers-only, is counted, and the other messages are stored as usual.
#[tokio::test]
async fn a_message_nested_100_000_levels_deep_neither_aborts_nor_balloons() {
    let _one = serial().await;
    let mut deep = String::from(
        "From: Deep <deep@example.org>\r\nSubject: deep\r\nMessage-ID: <deep@example.org>\r\n",
    );
    for _ in 0..100_000 {
        deep += "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n";
    }
    deep += "\r\nbottom\r\n";
    let mut drop_ = maildrop(2);
    drop_.push(Message::new("deep", deep));
    let server = ScriptedPop3::start(drop_, |_, _| None);
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path(), TIMEOUT).await;
    let request = everything(Pop3DeletePolicy::AfterDownload);
    let first = sync(&engine, account, &request).await;
    first.bounded(Duration::from_secs(5), 64 << 20);
    let report = &first.report().folders[0];
    assert_eq!((report.bodies, report.unparsable), (2, 1), "{report:?}");
    let stored = rows(&engine, account).await;
    assert_eq!(state_of(&stored, "deep"), Some(Pop3State::Headers));
    assert_eq!(uidls(&server.deleted()), ["uid-1", "uid-2"]);
}
