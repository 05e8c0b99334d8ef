//! Header sync against hostile and broken IMAP servers, through the whole engine and the
//! scripted server (issue 13, "no message is dropped silently"): a FETCH literal that
//! announces more than it sends and cuts the stream, an unparsable RFC822.SIZE, a
//! BODYSTRUCTURE that cannot be parsed at all (the structure is read another way, every part
//! kept), a window retried without re-fetching the windows that had already arrived, and the
//! next sync against a well-behaved server bringing every missing or incomplete message back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::Engine,
    policy::{SyncRequest, SyncWindow},
    store::{AccountId, FolderId, UidRange},
    sync::{EventSink, SyncEvent, SyncReport},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

/// One message of the scripted mailbox.
#[derive(Clone)]
struct Msg {
    uid: u32,
    subject: String,
    /// The whole message (RFC 5322).
    raw: Vec<u8>,
    /// The BODYSTRUCTURE value a well-behaved server sends.
    structure: String,
    references: Option<String>,
}

impl Msg {
    fn plain(uid: u32) -> Msg {
        let subject = format!("Message {uid}");
        let body = format!("Hello number {uid}.\r\nSecond line.\r\n");
        let raw = format!(
            "From: Ann <ann@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: {subject}\r\n\
             Date: Wed, 17 Jul 2024 10:00:00 +0000\r\nMessage-ID: <m{uid}@example.com>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        );
        Msg {
            uid,
            structure: format!(
                "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 2)",
                body.len()
            ),
            subject,
            raw: raw.into_bytes(),
            references: Some(format!("<r{uid}@example.com>")),
        }
    }

    /// A forwarded message: text, the original message (itself text plus a PDF) and a PNG.
    /// Its BODYSTRUCTURE is one no parser accepts.
    fn forwarded(uid: u32) -> Msg {
        Msg::forwarded_with(uid, 0)
    }

    /// [`Msg::forwarded`] with `png` more bytes of PNG (base64 in lines of 76).
    fn forwarded_with(uid: u32, png: usize) -> Msg {
        let subject = format!("Fwd: report {uid}");
        let raw = format!(
            "From: Ann <ann@example.com>\r\nTo: Bob <bob@example.com>\r\nSubject: {subject}\r\n\
             Date: Wed, 17 Jul 2024 10:00:00 +0000\r\nMessage-ID: <m{uid}@example.com>\r\n\
             References: <orig@example.com> <r{uid}@example.com>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
             --outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee below.\r\n\
             --outer\r\nContent-Type: message/rfc822\r\n\r\n\
             From: Carol <carol@example.com>\r\nSubject: report\r\n\
             Message-ID: <orig@example.com>\r\n\
             Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n\
             --inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe report.\r\n\
             --inner\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--inner--\r\n\
             \r\n--outer\r\nContent-Type: image/png; name=\"chart.png\"\r\n\
             Content-Disposition: attachment; filename=\"chart.png\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--outer--\r\n",
            big_png(png)
        );
        Msg {
            uid,
            subject,
            raw: raw.into_bytes(),
            structure: "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1) garbage (((".into(),
            references: Some(format!("<orig@example.com> <r{uid}@example.com>")),
        }
    }

    fn envelope(&self) -> String {
        format!(
            "(\"Wed, 17 Jul 2024 10:00:00 +0000\" \"{}\" ((\"Ann\" NIL \"ann\" \"example.com\")) \
             NIL NIL ((\"Bob\" NIL \"bob\" \"example.com\")) NIL NIL NIL \"<m{}@example.com>\")",
            self.subject, self.uid
        )
    }

    fn header(&self) -> &[u8] {
        let end = self
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(self.raw.len(), |i| i + 4);
        &self.raw[..end]
    }
}

/// The PNG attachment's base64 text: 24 bytes, then lines of 76 for `extra` more bytes.
fn big_png(extra: usize) -> String {
    let mut text = String::from("iVBORw0KGgoAAAANSUhEUg==");
    for i in 0..extra.div_ceil(76) {
        let line: String = (0..76)
            .map(|k| (b'A' + ((i + k) % 26) as u8) as char)
            .collect();
        text.push_str("\r\n");
        text.push_str(&line);
    }
    text
}

/// The size of [`big_png`] as a part: its text, without the line end before the boundary.
fn big_png_len(extra: usize) -> u32 {
    big_png(extra).len() as u32
}

fn literal(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(format!("{name} {{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// The FETCH response a well-behaved server sends for `m` at `seq`, for the items in `items`.
fn fetch_response(m: &Msg, seq: u32, items: &str) -> Vec<u8> {
    let mut out = format!("* {seq} FETCH (UID {}", m.uid).into_bytes();
    let mut add = |s: String| {
        out.push(b' ');
        out.extend_from_slice(s.as_bytes());
    };
    if items.contains("FLAGS") {
        add("FLAGS (\\Seen)".into());
    }
    if items.contains("INTERNALDATE") {
        add("INTERNALDATE \"17-Jul-2024 10:00:00 +0000\"".into());
    }
    if items.contains("RFC822.SIZE") {
        add(format!("RFC822.SIZE {}", m.raw.len()));
    }
    if items.contains("ENVELOPE") {
        add(format!("ENVELOPE {}", m.envelope()));
    }
    if items.contains("BODYSTRUCTURE") {
        add(format!("BODYSTRUCTURE {}", m.structure));
    }
    if items.contains("HEADER.FIELDS (REFERENCES)") {
        let refs = m
            .references
            .as_ref()
            .map(|r| format!("References: {r}\r\n\r\n"))
            .unwrap_or_else(|| "\r\n".into());
        out.push(b' ');
        literal(
            &mut out,
            "BODY[HEADER.FIELDS (REFERENCES)]",
            refs.as_bytes(),
        );
    }
    if items.contains("BODY.PEEK[HEADER]") {
        out.push(b' ');
        literal(&mut out, "BODY[HEADER]", m.header());
    }
    if let Some(at) = items.find("BODY.PEEK[]") {
        out.push(b' ');
        let rest = &items[at + "BODY.PEEK[]".len()..];
        match rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
            Some((range, _)) => {
                let (o, l) = range.split_once('.').unwrap();
                let (o, l): (usize, usize) = (o.parse().unwrap(), l.parse().unwrap());
                let data = &m.raw[o.min(m.raw.len())..(o + l).min(m.raw.len())];
                literal(&mut out, &format!("BODY[]<{o}>"), data);
            }
            None => literal(&mut out, "BODY[]", &m.raw),
        }
    }
    out.extend_from_slice(b")\r\n");
    out
}

/// A sequence or UID set (`1:4`, `3,5`, `105:*`) as inclusive ranges; `*` is `star`.
fn parse_set(set: &str, star: u32) -> Vec<(u32, u32)> {
    set.split(',')
        .map(|r| {
            let n = |s: &str| if s == "*" { star } else { s.parse().unwrap() };
            match r.split_once(':') {
                Some((a, b)) => (n(a).min(n(b)), n(a).max(n(b))),
                None => (n(r), n(r)),
            }
        })
        .collect()
}

/// What a hook may do with one message's response to one FETCH.
type Hook = Box<dyn FnMut(&Msg, u32, &str) -> Option<Vec<u8>> + Send>;

/// A scripted mailbox: INBOX with `messages` (sequence numbers in order), answering LIST,
/// SELECT, STATUS, SEARCH and FETCH like a server without extensions. A `hook` may replace
/// any message's FETCH response; with `close_when_hooked`, a FETCH where it did ends the
/// connection right after its responses (no tagged OK).
struct Mailbox {
    messages: Vec<Msg>,
    uidnext: u32,
    hook: Option<Hook>,
    close_when_hooked: bool,
    /// A FETCH whose items contain this is answered `NO`.
    refuse: Option<&'static str>,
}

impl Mailbox {
    fn new(messages: Vec<Msg>) -> Mailbox {
        let uidnext = messages.iter().map(|m| m.uid).max().unwrap_or(0) + 1;
        Mailbox {
            messages,
            uidnext,
            hook: None,
            close_when_hooked: false,
            refuse: None,
        }
    }

    fn respond(&mut self, command: &str) -> Reply {
        let exists = self.messages.len() as u32;
        if command.starts_with("LIST") {
            return ok("* LIST () \"/\" INBOX\r\n");
        }
        if command.starts_with("SELECT") || command.starts_with("EXAMINE") {
            return ok(format!(
                "* {exists} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {}] ok\r\n",
                self.uidnext
            ));
        }
        if command.starts_with("STATUS") {
            return ok(format!(
                "* STATUS INBOX (MESSAGES {exists} UIDNEXT {} UIDVALIDITY 7)\r\n",
                self.uidnext
            ));
        }
        if command.starts_with("UID SEARCH") {
            let uids: Vec<String> = self.messages.iter().map(|m| m.uid.to_string()).collect();
            return ok(format!("* SEARCH {}\r\n", uids.join(" ")));
        }
        let (by_uid, rest) = match command.strip_prefix("UID FETCH ") {
            Some(rest) => (true, rest),
            None => match command.strip_prefix("FETCH ") {
                Some(rest) => (false, rest),
                None => return ok(""),
            },
        };
        let (set, items) = rest.split_once(' ').unwrap();
        if self.refuse.is_some_and(|needle| items.contains(needle)) {
            return Reply::Raw(b"TAG NO refused\r\n".to_vec());
        }
        let star = if by_uid {
            self.messages.last().map_or(0, |m| m.uid)
        } else {
            exists
        };
        let ranges = parse_set(set, star);
        let mut out = Vec::new();
        let mut hooked_any = false;
        for (i, m) in self.messages.iter().enumerate() {
            let seq = i as u32 + 1;
            let key = if by_uid { m.uid } else { seq };
            if !ranges.iter().any(|(a, b)| (*a..=*b).contains(&key)) {
                continue;
            }
            let hooked = self.hook.as_mut().and_then(|h| h(m, seq, items));
            hooked_any |= hooked.is_some();
            out.extend(hooked.unwrap_or_else(|| fetch_response(m, seq, items)));
        }
        if hooked_any && self.close_when_hooked {
            return Reply::Close(out);
        }
        ok(out)
    }
}

/// A scripted server over a shared mailbox, so a test can change the mailbox between syncs.
async fn serve(mailbox: Mailbox) -> (ScriptedImap, Arc<Mutex<Mailbox>>) {
    let shared = Arc::new(Mutex::new(mailbox));
    let inner = shared.clone();
    let server = ScriptedImap::start(Script::default(), move |command| {
        inner.lock().unwrap().respond(command)
    })
    .await;
    (server, shared)
}

/// Every event, in order.
#[derive(Default)]
struct Events(Mutex<Vec<SyncEvent>>);

impl EventSink for Events {
    fn emit(&self, event: SyncEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    /// The events so far, emptying the list.
    fn take(&self) -> Vec<SyncEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn everything() -> SyncRequest {
    SyncRequest {
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    }
}

/// `(uid, subject, number of parts, size)` of every stored message of INBOX, by UID.
async fn stored(engine: &Engine, account: AccountId) -> Vec<(u32, String, usize, u32)> {
    let folder = inbox(engine, account).await;
    let page = engine.messages(folder, None, 1000).await.unwrap();
    let mut out = Vec::new();
    for item in &page.items {
        let m = engine.message(item.id).await.unwrap().unwrap();
        out.push((
            m.summary.uid,
            m.summary.subject.clone(),
            m.parts.len(),
            m.summary.size,
        ));
    }
    out.sort();
    out
}

async fn inbox(engine: &Engine, account: AccountId) -> FolderId {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap()
        .id
}

fn six() -> Vec<Msg> {
    (101..=106).map(Msg::plain).collect()
}

fn complete(messages: &[Msg]) -> Vec<(u32, String, usize, u32)> {
    messages
        .iter()
        .map(|m| (m.uid, m.subject.clone(), 1, m.raw.len() as u32))
        .collect()
}

fn report_of(result: &anvert_core::Result<SyncReport>) -> String {
    format!("{result:?}")
}

/// The header-sync FETCH commands the server saw (summaries, and whole messages read for
/// their structure), not snippets or bodies.
fn fetches(server: &ScriptedImap) -> Vec<String> {
    server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("FETCH") || c.starts_with("UID FETCH"))
        .filter(|c| {
            c.contains("ENVELOPE") || c.contains("BODY.PEEK[]") || c.contains("(UID FLAGS)")
        })
        .collect()
}

/// `m` with its literal for the References header announced 4,096 bytes longer than it is.
fn overlong_literal(m: &Msg, seq: u32, items: &str) -> Vec<u8> {
    let refs = format!("References: {}\r\n\r\n", m.references.clone().unwrap()).len();
    String::from_utf8(fetch_response(m, seq, items))
        .unwrap()
        .replace(&format!("{{{refs}}}"), &format!("{{{}}}", refs + 4096))
        .into_bytes()
}

/// Six messages whose summaries are long enough (a long References header) that a literal
/// 4,096 bytes too long ends inside a later message's response.
fn six_long() -> Vec<Msg> {
    (101..=106)
        .map(|uid| Msg {
            references: Some(format!("<{}.{uid}@example.com>", "x".repeat(1500))),
            ..Msg::plain(uid)
        })
        .collect()
}

fn complete_long() -> Vec<(u32, String, usize, u32)> {
    complete(&six_long())
}

/// Issue 13, item 5: a literal announced 4,096 bytes longer than its data swallows the next
/// messages' responses; the server's tagged OK still arrives. Before, messages 104 to 106
/// were dropped silently ("added 3") and the next sync never brought them back. Now the
/// messages the window left out are fetched again, and the unparsable one gets its parts
/// from its own bytes: all six are stored in full in the first sync.
#[tokio::test]
async fn a_literal_longer_than_its_data_loses_no_message() {
    let mut mailbox = Mailbox::new(six_long());
    mailbox.hook = Some(Box::new(|m, seq, items| {
        (m.uid == 103 && items.contains("BODYSTRUCTURE")).then(|| overlong_literal(m, seq, items))
    }));
    let (server, _shared) = serve(mailbox).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let report = engine.sync(account, &everything()).await.unwrap();
    let folder = &report.folders[0];
    assert_eq!(folder.added, 6, "{report:?}");
    assert_eq!(folder.structure_fallback, 1, "{report:?}");
    assert!(folder.incomplete.is_empty(), "{report:?}");
    assert_eq!(stored(&engine, account).await, complete_long());
    // The messages left out were asked for again, once.
    let seen = fetches(&server);
    assert_eq!(
        seen.iter().filter(|c| c.starts_with("FETCH 4:6 ")).count(),
        1,
        "{seen:#?}"
    );
}

/// The same literal, but the server closes the connection once it has sent the window: the
/// sync fails with the connection, every window committed before is whole, and the next sync
/// against a well-behaved server completes the folder.
#[tokio::test]
async fn a_literal_that_cuts_the_stream_keeps_the_store_consistent() {
    let mut mailbox = Mailbox::new(six_long());
    mailbox.hook = Some(Box::new(|m, seq, items| {
        (m.uid == 103 && items.contains("BODYSTRUCTURE")).then(|| overlong_literal(m, seq, items))
    }));
    mailbox.close_when_hooked = true;
    let (server, shared) = serve(mailbox).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let request = SyncRequest {
        window: SyncWindow {
            first_window: 2,
            window: 2,
            ..SyncWindow::everything()
        },
        ..everything()
    };
    let first = engine.sync(account, &request).await;
    assert!(
        matches!(first, Err(anvert_core::Error::ConnectionClosed)),
        "{}",
        report_of(&first)
    );
    // The first window (105, 106) was committed whole, and nothing of the cut one.
    let all = complete_long();
    assert_eq!(stored(&engine, account).await, all[4..].to_vec());
    let folder = inbox(&engine, account).await;
    let state = engine.store().folder_state(folder).await.unwrap();
    assert_eq!(state.lowest_uid_synced, Some(105));

    {
        let mut mailbox = shared.lock().unwrap();
        mailbox.hook = None;
        mailbox.close_when_hooked = false;
    }
    let second = engine.sync(account, &request).await.unwrap();
    assert_eq!(second.folders[0].backfilled, 4, "{second:?}");
    assert_eq!(stored(&engine, account).await, all);
}

/// Issue 13, item 5: RFC822.SIZE values no parser accepts. Before, such a message was
/// skipped (5 of 6 stored) or stored with a size of 0, and never fetched again. Now each is
/// stored with what could be read (the envelope of 104, whose size overflows; only the UID
/// and flags of 105, whose whole response fails), marked incomplete, reported in the
/// `SyncReport` and to the listener, and the next sync against a well-behaved server
/// replaces them with their whole summaries.
#[tokio::test]
async fn unparsable_sizes_leave_placeholders_that_the_next_sync_completes() {
    let mut mailbox = Mailbox::new(six());
    mailbox.hook = Some(Box::new(|m, seq, items| {
        let good = String::from_utf8(fetch_response(m, seq, items)).unwrap();
        let size = format!("RFC822.SIZE {}", m.raw.len());
        match m.uid {
            104 => Some(good.replace(&size, "RFC822.SIZE 99999999999999999999")),
            105 => Some(good.replace(&size, "RFC822.SIZE )")),
            _ => None,
        }
        .filter(|_| items.contains("RFC822.SIZE"))
        .map(String::into_bytes)
    }));
    let (server, shared) = serve(mailbox).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let events = Arc::new(Events::default());
    engine.set_listener(Some(events.clone()));

    let report = engine.sync(account, &everything()).await.unwrap();
    assert_eq!(report.folders[0].incomplete, [104, 105], "{report:?}");
    assert_eq!(report.incomplete(), 2);
    assert_eq!(report.folders[0].added, 6, "{report:?}");
    let folder = inbox(&engine, account).await;
    let told: Vec<Vec<u32>> = events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            SyncEvent::MessagesIncomplete { folder: f, uids } if f == folder => Some(uids),
            _ => None,
        })
        .collect();
    assert_eq!(told, [vec![104, 105]]);
    let mut expected = complete(&six());
    expected[3] = (104, "Message 104".into(), 0, 0);
    expected[4] = (105, String::new(), 0, 0);
    assert_eq!(stored(&engine, account).await, expected);

    // A well-behaved server: the placeholder is replaced.
    shared.lock().unwrap().hook = None;
    let report = engine.sync(account, &everything()).await.unwrap();
    let f = &report.folders[0];
    assert_eq!((f.refetched, f.added), (2, 0), "{report:?}");
    assert!(f.incomplete.is_empty(), "{report:?}");
    assert_eq!(stored(&engine, account).await, complete(&six()));
    let changed = events.take().into_iter().any(|e| {
        matches!(e, SyncEvent::MessagesChanged { folder: f, ref uids } if f == folder && uids.contains(&104) && uids.contains(&105))
    });
    assert!(changed, "the completed message is reported as changed");
    assert!(
        server
            .commands()
            .iter()
            .any(|c| c.starts_with("UID FETCH 104:105 ")),
        "{:?}",
        server.commands()
    );
}

/// Issue 13, item 6a: a forwarded message whose BODYSTRUCTURE no parser accepts (the minimal
/// server's kind of quirk, made worse). Before, it was stored with no parts and no
/// References. Now its parts are read from the message itself (fetched whole under 256 KiB,
/// its body stored; read in pieces through a skeleton above), all of them kept.
#[tokio::test]
async fn an_unparsable_bodystructure_keeps_every_part() {
    let big = Msg::forwarded_with(103, 400_000);
    assert!(big.raw.len() > 256 * 1024);
    let messages = vec![
        Msg::plain(101),
        Msg::forwarded(102),
        big.clone(),
        Msg::plain(104),
    ];
    let (server, _shared) = serve(Mailbox::new(messages)).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let report = engine.sync(account, &everything()).await.unwrap();
    let f = &report.folders[0];
    assert_eq!((f.added, f.structure_fallback), (4, 2), "{report:?}");
    assert!(f.incomplete.is_empty(), "{report:?}");

    let folder = inbox(&engine, account).await;
    let page = engine.messages(folder, None, 10).await.unwrap();
    for (uid, pdf, png) in [(102, 20, 24), (103, 20, big_png_len(400_000))] {
        let item = page.items.iter().find(|m| m.uid == uid).unwrap();
        let m = engine.message(item.id).await.unwrap().unwrap();
        let parts: Vec<(&str, &str, bool, Option<&str>, u32)> = m
            .parts
            .iter()
            .map(|p| {
                (
                    p.section.as_str(),
                    p.mime_type.as_str(),
                    p.is_attachment,
                    p.filename.as_deref(),
                    p.size,
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                ("1", "text/plain", false, None, 10),
                ("2", "message/rfc822", true, None, parts[1].4),
                ("2.1", "text/plain", false, None, 11),
                ("2.2", "application/pdf", true, Some("report.pdf"), pdf),
                ("3", "image/png", true, Some("chart.png"), png),
            ],
            "message {uid}"
        );
        assert!(m.summary.has_attachments);
        assert_eq!(
            m.references,
            [
                "orig@example.com".to_string(),
                format!("r{uid}@example.com")
            ]
        );
    }
    // The small one was fetched whole: its body is stored (no network needed to read it).
    let small = page.items.iter().find(|m| m.uid == 102).unwrap();
    let body = engine
        .fetch_body(small.id, anvert_core::policy::NetworkKind::Offline)
        .await
        .unwrap();
    assert_eq!(body.text.as_deref().map(str::trim), Some("See below."));
    // The large one in pieces of 256 KiB.
    let seen = fetches(&server);
    let pieces: Vec<&String> = seen
        .iter()
        .filter(|c| c.starts_with("UID FETCH 103 (UID BODY.PEEK[]<"))
        .collect();
    assert_eq!(pieces.len(), 2, "{seen:#?}");
}

/// Issue 13, item 6b: after a window is retried, the windows that had already arrived behind
/// it are kept. Before, they were thrown away and fetched again (1.5 times the bytes on the
/// minimal server).
#[tokio::test]
async fn a_retried_window_does_not_fetch_again_the_windows_behind_it() {
    // Eight: the first window (7:8) goes alone, and the pipelined batch behind it ramps up
    // (5:6 alone, then 3:4 and 1:2 together), so 1:2 is in flight behind the broken 3:4.
    let mut messages: Vec<Msg> = (101..=108).map(Msg::plain).collect();
    messages[3] = Msg::forwarded(104); // sequence number 4, in the window 3:4
    let (server, _shared) = serve(Mailbox::new(messages)).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let request = SyncRequest {
        window: SyncWindow {
            first_window: 2,
            window: 2,
            pipeline_depth: 4,
            ..SyncWindow::everything()
        },
        ..everything()
    };
    let report = engine.sync(account, &request).await.unwrap();
    assert_eq!(report.folders[0].added, 8, "{report:?}");
    let seen: Vec<String> = fetches(&server)
        .into_iter()
        .map(|c| c.split(" (").next().unwrap().to_string())
        .collect();
    assert_eq!(
        seen,
        [
            "FETCH 7:8",
            "FETCH 5:6",
            "FETCH 3:4",
            "FETCH 1:2",
            "FETCH 4",
            "UID FETCH 104",
        ],
        "{:#?}",
        fetches(&server)
    );
    assert_eq!(stored(&engine, account).await.len(), 8);
}

/// Issue 13, item 7: a first window of 0 is a first window of 1.
#[tokio::test]
async fn a_first_window_of_zero_is_a_window_of_one() {
    let (server, _shared) = serve(Mailbox::new(six())).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let request = SyncRequest {
        window: SyncWindow {
            first_window: 0,
            window: 0,
            ..SyncWindow::everything()
        },
        ..everything()
    };
    let report = engine.sync(account, &request).await.unwrap();
    assert_eq!(report.folders[0].added, 6, "{report:?}");
    let seen: Vec<String> = fetches(&server)
        .into_iter()
        .map(|c| c.split(" (").next().unwrap().to_string())
        .collect();
    assert_eq!(seen[0], "FETCH 6");
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(stored(&engine, account).await, complete(&six()));
}

/// A server that refuses the message's bytes (`NO` to `BODY.PEEK[]`): the message with the
/// unparsable BODYSTRUCTURE is stored with its envelope, incomplete, and the folder goes on.
#[tokio::test]
async fn a_refused_structure_read_leaves_the_message_incomplete() {
    let mut mailbox = Mailbox::new(vec![Msg::plain(101), Msg::forwarded(102), Msg::plain(103)]);
    mailbox.refuse = Some("BODY.PEEK[]");
    let (server, shared) = serve(mailbox).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let report = engine.sync(account, &everything()).await.unwrap();
    assert_eq!(report.folders[0].incomplete, [102], "{report:?}");
    let subjects: Vec<(u32, String, usize)> = stored(&engine, account)
        .await
        .into_iter()
        .map(|(uid, subject, parts, _)| (uid, subject, parts))
        .collect();
    assert_eq!(
        subjects,
        [
            (101, "Message 101".to_string(), 1),
            (102, "Fwd: report 102".to_string(), 0),
            (103, "Message 103".to_string(), 1),
        ]
    );
    // Once the server lets it read the bytes, the next sync completes it.
    shared.lock().unwrap().refuse = None;
    let report = engine.sync(account, &everything()).await.unwrap();
    let f = &report.folders[0];
    assert_eq!((f.refetched, f.structure_fallback), (1, 1), "{report:?}");
    assert!(f.incomplete.is_empty(), "{report:?}");
    let parts: Vec<usize> = stored(&engine, account).await.iter().map(|m| m.2).collect();
    assert_eq!(parts, [1, 5, 1]);
}

/// A store that lacks messages the server lists below UIDNEXT (an older version dropped them,
/// issue 13): the next flag scan finds them and fetches them.
#[tokio::test]
async fn messages_missing_from_the_store_are_fetched_again() {
    let (server, _shared) = serve(Mailbox::new(six())).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    engine.sync(account, &everything()).await.unwrap();
    let folder = inbox(&engine, account).await;
    engine
        .store()
        .apply_expunges(folder, &[UidRange::new(103, 104)], None)
        .await
        .unwrap();
    assert_eq!(stored(&engine, account).await.len(), 4);

    let report = engine.sync(account, &everything()).await.unwrap();
    assert_eq!(report.folders[0].added, 2, "{report:?}");
    assert_eq!(stored(&engine, account).await, complete(&six()));
    assert!(
        server
            .commands()
            .iter()
            .any(|c| c.starts_with("UID FETCH 103:104 (UID FLAGS INTERNALDATE")),
        "{:#?}",
        server.commands()
    );
}
