//! Hostile OBJECTID (RFC 8474) values through the whole engine and the scripted server: an
//! EMAILID longer than 255 characters, one with characters an objectid may not hold, a
//! THREADID of the same kinds, and one EMAILID given to two messages of one folder. None of
//! them fails the sync or is trusted: an invalid EMAILID is as if none was sent (the message
//! is fetched whole, never matched), and a repeated one takes over at most one stored row.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::sync::{Arc, Mutex};

use anvert_core::{
    engine::Engine,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

/// One message: its UID, EMAILID and THREADID exactly as the server sends them.
#[derive(Clone)]
struct Msg {
    uid: u32,
    /// The Message-ID header's local part: equal for a message and its moved self.
    name: String,
    email_id: String,
    thread_id: String,
}

fn msg(uid: u32, name: &str, email_id: &str, thread_id: &str) -> Msg {
    Msg {
        uid,
        name: name.to_string(),
        email_id: email_id.to_string(),
        thread_id: thread_id.to_string(),
    }
}

#[derive(Default)]
struct Server {
    inbox: Vec<Msg>,
    archive: Vec<Msg>,
    selected: String,
}

impl Server {
    fn folder(&self, name: &str) -> &[Msg] {
        if name == "Archive" {
            &self.archive
        } else {
            &self.inbox
        }
    }

    fn respond(&mut self, command: &str) -> Reply {
        if command.starts_with("LIST") {
            return ok(
                "* LIST () \"/\" INBOX\r\n* LIST (\\Archive) \"/\" Archive\r\n\
                       * LIST (\\Drafts) \"/\" Drafts\r\n* LIST (\\Sent) \"/\" Sent\r\n\
                       * LIST (\\Trash) \"/\" Trash\r\n",
            );
        }
        if let Some(name) = command
            .strip_prefix("SELECT ")
            .or_else(|| command.strip_prefix("EXAMINE "))
        {
            self.selected = name.trim_matches('"').to_string();
            let messages = self.folder(&self.selected);
            let next = messages.iter().map(|m| m.uid).max().unwrap_or(0) + 1;
            return ok(format!(
                "* {} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {next}] ok\r\n",
                messages.len()
            ));
        }
        let (by_uid, rest) = match command.strip_prefix("UID FETCH ") {
            Some(rest) => (true, rest),
            None => match command.strip_prefix("FETCH ") {
                Some(rest) => (false, rest),
                None => return ok(""),
            },
        };
        let (set, items) = rest.split_once(' ').unwrap();
        let messages = self.folder(&self.selected);
        let star = if by_uid {
            messages.iter().map(|m| m.uid).max().unwrap_or(0)
        } else {
            messages.len() as u32
        };
        let ranges = parse_set(set, star);
        let mut out = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let seq = i + 1;
            let key = if by_uid { m.uid } else { seq as u32 };
            if !ranges.iter().any(|(a, b)| (*a..=*b).contains(&key)) {
                continue;
            }
            let ids = format!("EMAILID ({}) THREADID ({})", m.email_id, m.thread_id);
            let line = if items.contains("ENVELOPE") {
                format!(
                    "* {seq} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \
                     \"17-Jul-2024 10:00:00 +0000\" RFC822.SIZE 120 ENVELOPE \
                     (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"Subject {name}\" \
                     ((\"Ann\" NIL \"ann\" \"example.com\")) ((\"Ann\" NIL \"ann\" \"example.com\")) \
                     ((\"Ann\" NIL \"ann\" \"example.com\")) ((\"Bob\" NIL \"bob\" \"example.com\")) \
                     NIL NIL NIL \"<{name}@example.com>\") BODYSTRUCTURE \
                     (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 30 2 NIL NIL NIL NIL) \
                     BODY[HEADER.FIELDS (REFERENCES)] {{2}}\r\n\r\n {ids})\r\n",
                    uid = m.uid,
                    name = m.name,
                )
            } else if items.contains("EMAILID") {
                format!("* {seq} FETCH (UID {} FLAGS (\\Seen) {ids})\r\n", m.uid)
            } else if items.contains("FLAGS") {
                format!("* {seq} FETCH (UID {} FLAGS (\\Seen))\r\n", m.uid)
            } else {
                continue;
            };
            out.extend(line.into_bytes());
        }
        ok(out)
    }
}

fn parse_set(set: &str, star: u32) -> Vec<(u32, u32)> {
    let num = |s: &str| if s == "*" { star } else { s.parse().unwrap() };
    set.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => (num(a).min(num(b)), num(a).max(num(b))),
            None => (num(part), num(part)),
        })
        .collect()
}

fn request() -> SyncRequest {
    SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into(), "Archive".into()],
        ..SyncRequest::default()
    }
}

/// `(Message-ID, UID, row id)` of a folder's messages, by UID.
async fn listed(engine: &Engine, account: AccountId, name: &str) -> Vec<(String, u32, MessageId)> {
    let folder = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .id;
    let mut out = Vec::new();
    for item in engine.messages(folder, None, 100).await.unwrap().items {
        let m = engine.message(item.id).await.unwrap().unwrap();
        out.push((m.message_id.unwrap_or_default(), item.uid, item.id));
    }
    out.sort_by_key(|(_, uid, _)| *uid);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_email_ids_are_never_trusted() {
    let too_long = "M".repeat(256);
    let huge = "x".repeat(100_000);
    let shared = Arc::new(Mutex::new(Server {
        inbox: vec![
            msg(1, "valid", "Mvalid", "T1"),
            msg(2, "long", &too_long, &too_long),
            msg(3, "dots", "M3.bad", "T.bad"),
            msg(4, "huge", &huge, "T4"),
            msg(5, "stays", "Mstays", "T1"),
        ],
        ..Server::default()
    }));
    let inner = shared.clone();
    let server = ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 LITERAL+ UIDPLUS MOVE OBJECTID".into(),
            ..Script::default()
        },
        move |command| inner.lock().unwrap().respond(command),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let first = engine.sync(account, &request()).await.unwrap();
    assert!(first.errors.is_empty(), "{first:?}");
    let before = listed(&engine, account, "INBOX").await;
    assert_eq!(before.len(), 5, "{before:?}");
    let row = |name: &str| {
        before
            .iter()
            .find(|(mid, ..)| mid.contains(name))
            .unwrap()
            .2
    };

    // Another client moves 1-4 to Archive, where "valid" also arrives a second time (the
    // same EMAILID twice in one folder).
    {
        let mut s = shared.lock().unwrap();
        let moved: Vec<Msg> = s.inbox.drain(..4).collect();
        s.archive = moved
            .into_iter()
            .enumerate()
            .map(|(i, m)| Msg {
                uid: 11 + i as u32,
                ..m
            })
            .collect();
        s.archive.push(msg(15, "valid", "Mvalid", "T1"));
    }
    let mark = server.commands().len();
    let second = engine.sync(account, &request()).await.unwrap();
    assert!(second.errors.is_empty(), "{second:?}");
    let taken_over: u64 = second.folders.iter().map(|f| f.taken_over).sum();
    assert_eq!(taken_over, 1, "only the valid EMAILID, once: {second:?}");

    let archive = listed(&engine, account, "Archive").await;
    let uids: Vec<u32> = archive.iter().map(|(_, uid, _)| *uid).collect();
    assert_eq!(uids, [11, 12, 13, 14, 15]);
    // The valid one took over its row; the invalid ones and the repeat are rows of their own.
    assert_eq!(archive[0].2, row("valid"));
    for (mid, uid, id) in &archive[1..] {
        assert!(
            !before.iter().any(|(_, _, old)| old == id),
            "{mid} UID {uid}"
        );
    }
    let inbox = listed(&engine, account, "INBOX").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].2, row("stays"));

    // Whole summaries were asked only for what was not recognised: 12, 13, 14 and 15.
    let full: Vec<String> = server.commands()[mark..]
        .iter()
        .filter(|c| c.starts_with("UID FETCH") && c.contains("ENVELOPE"))
        .cloned()
        .collect();
    assert_eq!(full.len(), 1, "{full:?}");
    assert!(full[0].starts_with("UID FETCH 12:15 "), "{full:?}");

    // Nothing is left behind: a third sync finds nothing new and no ghost anywhere.
    let third = engine.sync(account, &request()).await.unwrap();
    assert_eq!(third.added(), 0, "{third:?}");
    let counts: Vec<(String, u32)> = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.total))
        .filter(|(n, _)| n == "INBOX" || n == "Archive")
        .collect();
    assert_eq!(
        counts,
        [("Archive".to_string(), 5), ("INBOX".to_string(), 1)]
    );
}
