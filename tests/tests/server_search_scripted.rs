//! Search on the server against a scripted server (issue 16, item 5): bad queries are
//! refused before anything reaches the wire; non-ASCII text goes out as a well-formed
//! literal behind `CHARSET UTF-8`, and a server that answers `[BADCHARSET]` gives a typed
//! error; a server without LITERAL+ never gets a synchronizing literal; a hostile ESEARCH
//! answer is a protocol error, not a crash or a huge allocation; without ESEARCH a plain
//! `UID SEARCH` is read, `FUZZY` goes out where offered, and the hits are stored; a hit
//! whose summary cannot be read is recovered the sync's way and stored incomplete.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    engine::{Engine, SearchPageRequest, SearchQuery},
    policy::NetworkKind,
    store::{AccountId, FolderId, FolderRecord, FolderSyncState},
};
use anvert_tests::scripted::{Reply, Script, ScriptedImap, ok};

const SELECT: &str = "* 3 EXISTS\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY 7] v\r\n\
                      * OK [UIDNEXT 4] n\r\n";

/// A server whose INBOX holds three messages; `search` answers each UID SEARCH.
async fn server(capabilities: &str, search: fn(&str) -> Reply) -> ScriptedImap {
    ScriptedImap::start(
        Script {
            capabilities: capabilities.into(),
            ..Script::default()
        },
        move |command| {
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EXAMINE ") || upper.starts_with("SELECT ") {
                ok(SELECT)
            } else if upper.starts_with("UID SEARCH") {
                search(command)
            } else {
                ok("")
            }
        },
    )
    .await
}

/// The engine with INBOX stored as synced (UIDVALIDITY 7), no messages.
async fn engine(server: &ScriptedImap, dir: &std::path::Path) -> (Engine, AccountId, FolderId) {
    let (engine, account) = server.engine(dir).await;
    let folders = engine
        .store()
        .upsert_folders(
            account,
            &[FolderRecord {
                name: "INBOX".into(),
                delimiter: Some("/".into()),
                role: None,
                subscribed: true,
                selectable: true,
            }],
        )
        .await
        .unwrap();
    let inbox = folders[0];
    engine
        .store()
        .set_folder_state(
            inbox,
            &FolderSyncState {
                uidvalidity: Some(7),
                uidnext: Some(4),
                ..FolderSyncState::default()
            },
        )
        .await
        .unwrap();
    (engine, account, inbox)
}

async fn search(
    engine: &Engine,
    account: AccountId,
    inbox: FolderId,
    query: &SearchQuery,
) -> anvert_core::Result<anvert_core::engine::ServerSearchPage> {
    engine
        .search_server(
            account,
            Some(inbox),
            query,
            &SearchPageRequest {
                size: 10,
                after: None,
            },
            NetworkKind::Unmetered,
        )
        .await
}

#[tokio::test]
async fn bad_queries_never_reach_the_wire() {
    let server = server("IMAP4rev1 LITERAL+ ESEARCH", |_| ok("")).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let bad = [
        SearchQuery::default(),
        SearchQuery {
            text: Some("  ".into()),
            ..SearchQuery::default()
        },
        SearchQuery {
            text: Some("\"unbalanced phrase".into()),
            ..SearchQuery::default()
        },
        SearchQuery {
            subject: Some("line\r\nA1 DELETE INBOX".into()),
            ..SearchQuery::default()
        },
        SearchQuery {
            from: Some("nul\u{0}".into()),
            ..SearchQuery::default()
        },
    ];
    for query in &bad {
        let got = search(&engine, account, inbox, query).await;
        assert!(
            matches!(got, Err(Error::InvalidQuery { .. })),
            "{query:?}: {got:?}"
        );
    }
    assert_eq!(server.count("UID SEARCH"), 0, "{:?}", server.commands());
    assert_eq!(server.count("DELETE"), 0);
}

#[tokio::test]
async fn non_ascii_goes_as_a_literal_and_badcharset_is_a_typed_error() {
    let server = server("IMAP4rev1 LITERAL+ ESEARCH", |command| {
        if command.contains("CHARSET") {
            Reply::Raw(b"TAG NO [BADCHARSET (US-ASCII)] only US-ASCII\r\n".to_vec())
        } else {
            ok("* ESEARCH (TAG \"x\") UID ALL 2:3\r\n")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let query = SearchQuery {
        subject: Some("Grüße \"aus\" Köln".into()),
        ..SearchQuery::default()
    };
    let got = search(&engine, account, inbox, &query).await;
    assert!(matches!(got, Err(Error::Unsupported { .. })), "{got:?}");
    let sent: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("UID SEARCH"))
        .collect();
    // The literal was read whole by the server: its length is the UTF-8 byte count.
    let text = "Grüße aus Köln";
    assert_eq!(
        sent,
        [format!(
            "UID SEARCH RETURN (ALL) CHARSET UTF-8 SUBJECT {{{}+}}{text}",
            text.len()
        )]
    );
}

#[tokio::test]
async fn without_literal_plus_non_ascii_is_refused_before_the_wire() {
    let server = server("IMAP4rev1 ESEARCH", |_| ok("")).await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let query = SearchQuery {
        text: Some("naïve".into()),
        ..SearchQuery::default()
    };
    let got = search(&engine, account, inbox, &query).await;
    assert!(matches!(got, Err(Error::Unsupported { .. })), "{got:?}");
    assert_eq!(server.count("UID SEARCH"), 0, "{:?}", server.commands());
}

#[tokio::test]
async fn a_hostile_esearch_answer_is_a_protocol_error() {
    let server = server("IMAP4rev1 LITERAL+ ESEARCH", |_| {
        ok("* ESEARCH (TAG \"x\") UID ALL 1:4294967295\r\n")
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let query = SearchQuery {
        text: Some("x".into()),
        ..SearchQuery::default()
    };
    let got = search(&engine, account, inbox, &query).await;
    assert!(matches!(got, Err(Error::Protocol { .. })), "{got:?}");
}

/// A summary as a server sends it for `UID FETCH … (UID FLAGS INTERNALDATE RFC822.SIZE
/// ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (REFERENCES)])`.
fn summary(seq: u32, uid: u32, day: u32) -> String {
    format!(
        "* {seq} FETCH (UID {uid} FLAGS (\\Seen) INTERNALDATE \"{day:02}-Jan-2020 10:00:00 +0000\" \
         RFC822.SIZE 100 ENVELOPE (\"Wed, {day} Jan 2020 10:00:00 +0000\" \"old {uid}\" \
         ((\"Bob\" NIL \"bob\" \"example.com\")) NIL NIL ((NIL NIL \"alice\" \"example.com\")) \
         NIL NIL NIL \"<m{uid}@example.com>\") BODYSTRUCTURE (\"TEXT\" \"PLAIN\" \
         (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 100 5 NIL NIL NIL NIL) \
         BODY[HEADER.FIELDS (REFERENCES)] {{2}}\r\n\r\n)\r\n"
    )
}

#[tokio::test]
async fn plain_search_without_esearch_and_fuzzy_where_offered() {
    let server = ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 LITERAL+ SEARCH=FUZZY".into(),
            ..Script::default()
        },
        |command| {
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EXAMINE ") || upper.starts_with("SELECT ") {
                ok(SELECT)
            } else if upper.starts_with("UID SEARCH") {
                ok("* SEARCH 3 1\r\n")
            } else if upper.starts_with("UID FETCH 1,3 ") {
                ok(format!("{}{}", summary(1, 1, 2), summary(3, 3, 9)))
            } else {
                ok("")
            }
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let query = SearchQuery {
        text: Some("report".into()),
        seen: Some(true),
        fuzzy: true,
        ..SearchQuery::default()
    };
    let page = search(&engine, account, inbox, &query).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.fetched, 2);
    assert_eq!(
        page.items.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [3, 1],
        "newest first"
    );
    assert_eq!(page.items[0].subject, "old 3");
    assert!(page.next.is_none());
    let searches: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("UID SEARCH"))
        .collect();
    assert_eq!(searches, ["UID SEARCH FUZZY TEXT \"report\" SEEN"]);
    // Stored, openable like any message, outside the (empty) window.
    let detail = engine.message(page.items[1].id).await.unwrap().unwrap();
    assert_eq!(detail.message_id.as_deref(), Some("m1@example.com"));
    assert_eq!(
        engine.store().outside_window_uids(inbox).await.unwrap(),
        [1, 3]
    );
}

#[tokio::test]
async fn an_unreadable_hit_is_recovered_the_syncs_way() {
    let server = ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 LITERAL+ ESEARCH".into(),
            ..Script::default()
        },
        |command| {
            let upper = command.to_ascii_uppercase();
            if upper.starts_with("EXAMINE ") || upper.starts_with("SELECT ") {
                ok(SELECT)
            } else if upper.starts_with("UID SEARCH") {
                ok("* ESEARCH (TAG \"x\") UID ALL 1,3\r\n")
            } else if upper.starts_with("UID FETCH 1,3 ") {
                // Message 3's BODYSTRUCTURE is broken: the response cannot be parsed.
                let broken = summary(3, 3, 9).replace(
                    "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 100 5 NIL NIL NIL NIL)",
                    "BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 10 1) garbage (((",
                );
                ok(format!("{}{broken}", summary(1, 1, 2)))
            } else if upper.starts_with("FETCH 3 (UID FLAGS)") {
                ok("* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\n")
            } else {
                ok("")
            }
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account, inbox) = engine(&server, dir.path()).await;
    let query = SearchQuery {
        text: Some("x".into()),
        ..SearchQuery::default()
    };
    let page = search(&engine, account, inbox, &query).await.unwrap();
    // The sync's recovery: without BODYSTRUCTURE, then the UID and flags alone.
    assert_eq!(
        server.count("FETCH 3 (UID FLAGS"),
        2,
        "{:?}",
        server.commands()
    );
    assert_eq!(page.total, 2);
    assert_eq!(
        page.items.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [3, 1],
        "{page:?}"
    );
    assert_eq!(page.unreadable, 0);
    // Stored with what could be read (its flags), incomplete: the next sync fetches it again.
    assert!(
        page.items[0]
            .flags
            .system
            .contains(anvert_core::store::SystemFlags::FLAGGED)
    );
    assert_eq!(
        engine.store().incomplete_uids(inbox, 10).await.unwrap(),
        [3]
    );
}
