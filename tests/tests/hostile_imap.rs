//! Hostile IMAP servers against the whole engine (issue 13), through the scripted server:
//! inputs that used to abort the process, spin the CPU for a minute, or panic. Each test
//! asserts a clear error or the correct result, the engine's CPU time for the operation
//! (the test thread's: the engine runs on this current-thread runtime, the server on a
//! thread of its own), and that the store holds nothing from a refused response.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::time::Duration;

use anvert_core::{Error, engine::Engine, policy::SyncRequest, store::AccountId, sync::SyncReport};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok, thread_cpu};

/// The CPU the engine may spend on any one of these inputs, within the limits or beyond.
const CPU_BOUND: Duration = Duration::from_secs(2);

fn envelope(subject: &[u8]) -> Vec<u8> {
    [
        b"ENVELOPE (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"".as_slice(),
        subject,
        b"\" ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL ((\"Bob\" NIL \"bob\" \"example.com\")) \
          NIL NIL NIL \"<m@example.com>\")",
    ]
    .concat()
}

const TEXT_PLAIN: &[u8] =
    b"BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1)";

/// `* 1 FETCH` for UID 101 with these flags, date and structure.
fn summary(flags: &[u8], date: &[u8], structure: &[u8]) -> Vec<u8> {
    [
        b"* 1 FETCH (UID 101 FLAGS (".as_slice(),
        flags,
        b") INTERNALDATE ",
        date,
        b" RFC822.SIZE 120 ",
        &envelope(b"Hello"),
        b" ",
        structure,
        b")\r\n",
    ]
    .concat()
}

const DATE: &[u8] = b"\"17-Jul-2024 10:00:00 +0000\"";

/// A server with one folder, INBOX, of one message (UID 101), whose SELECT untagged
/// responses and summary FETCH answer are given.
async fn one_message(select: Vec<u8>, fetch: Vec<u8>, script: Script) -> ScriptedImap {
    ScriptedImap::start(script, move |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            let mut untagged =
                b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 102] ok\r\n".to_vec();
            untagged.extend_from_slice(&select);
            Reply::Ok(untagged)
        } else if command.starts_with("FETCH") || command.starts_with("UID FETCH") {
            Reply::Ok(fetch.clone())
        } else {
            ok("")
        }
    })
    .await
}

/// Syncs every folder; returns the result and the CPU this thread spent on it.
async fn sync(engine: &Engine, account: AccountId) -> (anvert_core::Result<SyncReport>, Duration) {
    let before = thread_cpu();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        engine.sync(account, &SyncRequest::default()),
    )
    .await
    .expect("the sync ends well within the operation timeout");
    (result, thread_cpu() - before)
}

async fn stored_messages(engine: &Engine, account: AccountId) -> usize {
    let mut total = 0;
    for folder in engine.folders(account).await.unwrap() {
        total += engine
            .messages(folder.id, None, 500)
            .await
            .unwrap()
            .items
            .len();
    }
    total
}

/// The account's INBOX (the engine also creates a Drafts, Sent and Trash on these servers).
async fn inbox(engine: &Engine, account: AccountId) -> anvert_core::store::FolderId {
    let folders = engine.folders(account).await.unwrap();
    folders.iter().find(|f| f.name == "INBOX").unwrap().id
}

fn protocol(result: &anvert_core::Result<SyncReport>) -> String {
    match result {
        Err(Error::Protocol { reason }) => reason.clone(),
        Ok(report) if report.errors.len() == 1 => report.errors[0].1.clone(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_greeting_of_100_mb_is_refused_at_the_line_limit() {
    let script = Script {
        greeting: b"* OK ".to_vec(),
        greeting_fill: 100 << 20,
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |_| ok("")).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(
        protocol(&result).contains("line exceeds the limit"),
        "{result:?}"
    );
    assert!(cpu < CPU_BOUND, "{cpu:?}");
    assert!(engine.folders(account).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_100_mb_subject_is_refused_and_nothing_is_stored() {
    let server = ScriptedImap::start(Script::default(), |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 102] ok\r\n")
        } else if command.contains("FETCH") {
            Reply::Flood {
                head: b"* 1 FETCH (UID 101 FLAGS () ENVELOPE (NIL \"".to_vec(),
                fill: b's',
                len: 100 << 20,
                tail: b"\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\nTAG OK done\r\n".to_vec(),
            }
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(
        protocol(&result).contains("line exceeds the limit"),
        "{result:?}"
    );
    assert!(cpu < CPU_BOUND, "{cpu:?}");
    assert_eq!(stored_messages(&engine, account).await, 0);
}

/// After COMPRESS, 1 GiB of one untagged line costs about 1 MB on the wire: it is refused
/// at the line limit, in time linear in the limit.
#[tokio::test]
async fn a_compressed_gigabyte_line_is_refused_at_the_line_limit() {
    let script = Script {
        capabilities: "IMAP4rev1 LITERAL+ COMPRESS=DEFLATE".into(),
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |command| {
        if command.starts_with("LIST") {
            // 1 GiB (about 1 MB deflated); the engine stops reading long before the end.
            Reply::Flood {
                head: b"* LIST () \"/\" ".to_vec(),
                fill: b'a',
                len: 1 << 30,
                tail: Vec::new(),
            }
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(
        protocol(&result).contains("line exceeds the limit"),
        "{result:?}"
    );
    assert!(server.commands().iter().any(|c| c == "COMPRESS DEFLATE"));
    assert!(cpu < CPU_BOUND, "{cpu:?}");
}

/// 10,000 nested multiparts overflowed the stack inside imap-proto and aborted the process.
/// Now the response is never parsed, and the message is still stored.
#[tokio::test]
async fn a_bodystructure_nested_10000_deep_does_not_abort_and_the_message_is_kept() {
    let mut deep = b"BODYSTRUCTURE ".to_vec();
    deep.extend(std::iter::repeat_n(b'(', 10_000));
    deep.extend_from_slice(b"\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1");
    deep.extend(std::iter::repeat_n(b" \"mixed\")".as_slice(), 9_999).flatten());
    deep.push(b')');
    let server = ScriptedImap::start(Script::default(), move |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 102] ok\r\n")
        } else if command.contains("BODYSTRUCTURE") {
            Reply::Ok(summary(b"\\Seen", DATE, &deep))
        } else if command.contains("FETCH") {
            // Whatever the engine asks next for this message: its summary without structure,
            // and its header and text.
            Reply::Ok(summary(b"\\Seen", DATE, TEXT_PLAIN))
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    result.unwrap();
    assert!(cpu < CPU_BOUND, "{cpu:?}");
    assert_eq!(stored_messages(&engine, account).await, 1);
}

/// `INTERNALDATE NIL` panicked in imap-proto.
#[tokio::test]
async fn internaldate_nil_is_an_unknown_date() {
    let server = one_message(
        Vec::new(),
        summary(b"\\Seen", b"NIL", TEXT_PLAIN),
        Script::default(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, _) = sync(&engine, account).await;
    result.unwrap();
    assert_eq!(stored_messages(&engine, account).await, 1);
}

/// 100,000 keywords in FLAGS, PERMANENTFLAGS and a message's flags: either kept within a
/// bound or refused, in bounded time.
#[tokio::test]
async fn a_hundred_thousand_keywords_cost_bounded_time() {
    let keywords: Vec<u8> = (0..100_000)
        .flat_map(|i| format!(" $k{i}").into_bytes())
        .collect();
    let select = [
        b"* FLAGS (\\Seen".as_slice(),
        &keywords,
        b")\r\n* OK [PERMANENTFLAGS (\\Seen \\*",
        &keywords,
        b")] ok\r\n",
    ]
    .concat();
    let flags = [b"\\Seen".as_slice(), &keywords].concat();
    let server = one_message(select, summary(&flags, DATE, TEXT_PLAIN), Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(cpu < CPU_BOUND, "{cpu:?} {result:?}");
    match result {
        Ok(report) if report.errors.is_empty() => {
            let folder = inbox(&engine, account).await;
            let page = engine.messages(folder, None, 10).await.unwrap();
            assert_eq!(page.items.len(), 1);
            assert!(
                page.items[0].flags.keywords.len() <= anvert_core::limits::MAX_KEYWORDS,
                "{}",
                page.items[0].flags.keywords.len()
            );
        }
        other => assert!(protocol(&other).contains("keywords"), "{other:?}"),
    }
}

/// A multipart of 100,000 parts (about 4 MB): bounded time, and a bounded part list.
#[tokio::test]
async fn a_bodystructure_of_100000_parts_costs_bounded_time() {
    let mut wide = b"BODYSTRUCTURE (".to_vec();
    for _ in 0..100_000 {
        wide.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 1 1)");
    }
    wide.extend_from_slice(b" \"mixed\")");
    let server = one_message(Vec::new(), summary(b"", DATE, &wide), Script::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(cpu < CPU_BOUND, "{cpu:?} {result:?}");
    result.unwrap();
    let folder = inbox(&engine, account).await;
    let page = engine.messages(folder, None, 10).await.unwrap();
    let detail = engine.message(page.items[0].id).await.unwrap().unwrap();
    assert!(detail.parts.len() <= anvert_core::limits::MIME_MAX_PARTS);
}

/// 100,000 folders with their LIST-STATUS: refused past `limits::MAX_FOLDERS`, in bounded
/// time (matching statuses to folders was quadratic).
#[tokio::test]
async fn a_hundred_thousand_folders_are_refused_in_bounded_time() {
    let script = Script {
        capabilities: "IMAP4rev1 LITERAL+ LIST-EXTENDED LIST-STATUS".into(),
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |command| {
        if command.starts_with("LIST") {
            let mut out = Vec::new();
            for i in 0..100_000 {
                out.extend_from_slice(format!("* LIST () \"/\" f{i}\r\n").as_bytes());
                out.extend_from_slice(
                    format!("* STATUS f{i} (MESSAGES 1 UIDNEXT 2)\r\n").as_bytes(),
                );
            }
            Reply::Ok(out)
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, cpu) = sync(&engine, account).await;
    assert!(
        protocol(&result).contains("more than 10000 folders"),
        "{result:?}"
    );
    assert!(cpu < CPU_BOUND, "{cpu:?}");
    assert!(engine.folders(account).await.unwrap().is_empty());
}

/// GNU Mailutils imap4d omits the space between a forwarded message's ENVELOPE and its body
/// (`…")((("text" …`). imap-proto refused the whole FETCH, and the message was stored with
/// no parts: 18 attachments invisible on a 700-message mailbox. Now it parses as it is.
#[tokio::test]
async fn mailutils_forwarded_message_structure_keeps_every_part() {
    let structure =
        b"BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1 \
        NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 900 (\"Tue, 1 Jan 2019 00:00:00 \
        +0000\" \"inner\" ((\"Ann\" NIL \"ann\" \"example.net\")) NIL NIL NIL NIL NIL NIL \
        \"<i@example.net>\")((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1 NIL NIL NIL)\
        (\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 400 NIL \
        (\"attachment\" (\"filename\" \"a.pdf\")) NIL) \"mixed\" (\"boundary\" \"in\") NIL NIL) 20 \
        NIL NIL NIL) \"mixed\" (\"boundary\" \"out\") NIL NIL)";
    let server = one_message(
        Vec::new(),
        summary(b"\\Seen", DATE, structure),
        Script {
            capabilities: "IMAP4rev1 IDLE LITERAL+ UNSELECT".into(),
            ..Script::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let (result, _) = sync(&engine, account).await;
    result.unwrap();
    let folder = inbox(&engine, account).await;
    let page = engine.messages(folder, None, 10).await.unwrap();
    let detail = engine.message(page.items[0].id).await.unwrap().unwrap();
    let sections: Vec<&str> = detail.parts.iter().map(|p| p.section.as_str()).collect();
    assert!(sections.contains(&"2.2"), "{sections:?}");
    assert!(page.items[0].has_attachments);
    // Asked for once: no second FETCH for the structure.
    assert_eq!(server.count("FETCH"), 1, "{:?}", server.commands());
}
