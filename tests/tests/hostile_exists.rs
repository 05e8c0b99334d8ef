//! Issue 13, item 3: a server that claims `* 4294967295 EXISTS` after SELECT. Before, the
//! sync planned every window of that count up front (peak RSS 1.86 GB before it failed).
//! Now windows are planned one at a time, and a window of which the server returns nothing
//! (not even UIDs) ends the sync with a clear protocol error, whether the server answers such
//! a window with nothing or with the few messages it really has. Alone in its test binary:
//! `peak_rss()` is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    policy::{SyncRequest, SyncWindow},
};
use anvert_tests::scripted::{Script, ScriptedImap, ok, peak_rss, thread_cpu};

/// One summary of a real message (of six), at sequence number `seq`.
fn summary(seq: u32) -> String {
    format!(
        "* {seq} FETCH (UID {} FLAGS () INTERNALDATE \"17-Jul-2024 10:00:00 +0000\" \
         RFC822.SIZE 120 ENVELOPE (\"Wed, 17 Jul 2024 10:00:00 +0000\" \"Hello {seq}\" \
         ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL NIL NIL NIL NIL \"<m{seq}@x>\") \
         BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 20 1))\r\n",
        100 + seq
    )
}

/// A server claiming 4294967295 messages with six real ones; `every_fetch` answers any FETCH
/// with all six (whatever it asked for), else only those in the asked range.
async fn claiming(every_fetch: bool) -> ScriptedImap {
    ScriptedImap::start(Script::default(), move |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n")
        } else if command.starts_with("SELECT") {
            ok("* 4294967295 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 107] ok\r\n")
        } else if let Some(rest) = command.strip_prefix("FETCH ") {
            let set = rest.split(' ').next().unwrap();
            let asked = |seq: u32| {
                set.split(',').any(|r| match r.split_once(':') {
                    Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&seq),
                    None => r.parse::<u32>().unwrap() == seq,
                })
            };
            ok((1..=6)
                .filter(|seq| every_fetch || asked(*seq))
                .map(summary)
                .collect::<String>())
        } else {
            ok("")
        }
    })
    .await
}

#[tokio::test]
async fn a_claimed_count_of_4294967295_costs_neither_memory_nor_cpu() {
    let rss_before = peak_rss();
    let cpu_before = thread_cpu();
    for every_fetch in [false, true] {
        let server = claiming(every_fetch).await;
        let dir = tempfile::tempdir().unwrap();
        let (engine, account) = server.engine(dir.path()).await;
        for window in [SyncWindow::default(), SyncWindow::everything()] {
            let request = SyncRequest {
                window,
                folders: vec!["INBOX".into()],
                ..SyncRequest::default()
            };
            let err = engine.sync(account, &request).await.unwrap_err();
            let Error::Protocol { reason } = &err else {
                panic!("expected a protocol error, got {err:?}");
            };
            assert_eq!(
                reason,
                "the server reported 4294967295 messages but sent none of 4294967246:4294967295"
            );
            // Nothing of the claim was stored.
            let folders = engine.folders(account).await.unwrap();
            let folder = folders.iter().find(|f| f.name == "INBOX").unwrap().id;
            assert!(
                engine
                    .messages(folder, None, 10)
                    .await
                    .unwrap()
                    .items
                    .is_empty()
            );
        }
    }
    let grown = peak_rss().saturating_sub(rss_before);
    let cpu = thread_cpu() - cpu_before;
    eprintln!("peak RSS grew by {grown} bytes; {cpu:?} of CPU");
    assert!(grown < 64 << 20, "peak RSS grew by {grown} bytes");
    assert!(cpu < std::time::Duration::from_secs(2), "{cpu:?} of CPU");
}
