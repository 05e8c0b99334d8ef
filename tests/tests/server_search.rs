//! Search on the server (issue 16, item 5) on both real servers (`on_each_server!`), bytes
//! through the tap:
//!
//! - Messages outside the sync window are found (a mailbox of 60, a window of 10), newest
//!   first, a page at a time; each page fetches the summaries of its own rows only: the
//!   first costs at most a bare `UID SEARCH` plus a bare `UID FETCH` of its ten rows' summary
//!   items on a fresh async-imap session (×1.10 + 200 B) in two round trips, the next pages
//!   no SEARCH again (one round trip, the FETCH).
//!   The hits are stored, queryable like any message, not counted in the window, and a
//!   later sync neither removes them nor backfills the gap below the window.
//! - Local and server hits merge without duplicates: stored rows are served from the store
//!   (same ids, not fetched again); across folders, rows come newest first by INTERNALDATE.
//! - A bad query is refused with a typed error; non-ASCII text works where the server
//!   accepts CHARSET UTF-8 (both do).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use anvert_core::{
    Error,
    engine::{Engine, EngineConfig, SearchPageRequest, SearchQuery, ServerSearchPage},
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, FolderId},
};
use anvert_tests::{
    client::{engine_with_alice, raw_session},
    generator::{GenConfig, MessageTruth, SizeMix},
    on_each_server,
    server::TestServer,
    tap::Tap,
};
use futures::TryStreamExt;

/// A window of `n` messages: the newest `n`, no age rule.
fn window(n: u32) -> SyncWindow {
    SyncWindow {
        first_window: n,
        window: n,
        min_messages: n,
        max_age_days: None,
        pipeline_depth: 1,
    }
}

fn small_mail(seed: u64, count: usize) -> GenConfig {
    GenConfig {
        seed,
        count,
        mix: SizeMix {
            attachment_prob: 0.2,
            medium_prob: 0.0,
            huge_prob: 0.0,
            max_attachment: 64 << 10,
        },
        ..GenConfig::default()
    }
}

/// The start of the UTC day holding `secs`.
fn day(secs: i64) -> i64 {
    secs - secs.rem_euclid(86_400)
}

async fn sync(engine: &Engine, account: AccountId, folders: &[&str], window: SyncWindow) {
    let request = SyncRequest {
        network: NetworkKind::Unmetered,
        window,
        folders: folders.iter().map(|f| f.to_string()).collect(),
        ..SyncRequest::default()
    };
    let report = engine.sync(account, &request).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

async fn folder(engine: &Engine, account: AccountId, name: &str) -> FolderId {
    engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .id
}

async fn page(
    engine: &Engine,
    account: AccountId,
    folder: Option<FolderId>,
    query: &SearchQuery,
    size: u32,
    after: Option<anvert_core::engine::SearchCursor>,
) -> ServerSearchPage {
    engine
        .search_server(
            account,
            folder,
            query,
            &SearchPageRequest { size, after },
            NetworkKind::Unmetered,
        )
        .await
        .unwrap()
}

/// Bytes (both ways, through `tap`) of a bare `UID SEARCH <criteria>` and of bare
/// `UID FETCH <set> <summary items>` for each set, on a fresh async-imap session with
/// COMPRESS (what the engine uses).
async fn baseline(
    server: &dyn TestServer,
    tap: &Tap,
    criteria: &str,
    sets: &[&str],
) -> (u64, Vec<u64>) {
    let mut session = raw_session(
        &server.tls(),
        tap.addr(),
        "alice",
        server.password("alice"),
        true,
    )
    .await;
    let caps = session.capabilities().await.unwrap();
    let mut items = String::from(
        "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ \
         BODY.PEEK[HEADER.FIELDS (REFERENCES)]",
    );
    if caps.has_str("PREVIEW") {
        items.push_str(" PREVIEW");
    }
    items.push(')');
    session.examine("INBOX").await.unwrap();
    let mark = tap.mark();
    let hits = session.uid_search(criteria).await.unwrap();
    assert!(!hits.is_empty());
    let search = tap.stats_since(&mark).total();
    let mut rows = Vec::new();
    for set in sets {
        let mark = tap.mark();
        let fetched: Vec<_> = session
            .uid_fetch(set, &items)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(!fetched.is_empty());
        rows.push(tap.stats_since(&mark).total());
    }
    // Cyrus may close after BYE without a TLS close_notify (an error to async-imap).
    let _ = session.logout().await;
    (search, rows)
}

fn uids(page: &ServerSearchPage) -> Vec<u32> {
    page.items.iter().map(|m| m.uid).collect()
}

fn newest_first(page: &ServerSearchPage) -> bool {
    page.items
        .windows(2)
        .all(|w| w[0].internal_date >= w[1].internal_date)
}

async fn finds_old_messages_and_fetches_the_page_rows_only(server: &dyn TestServer) {
    let truth: Vec<MessageTruth> = server.deliver_generated("alice", None, &small_mail(91, 60));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) =
        engine_with_alice(server, tap.addr(), dir.path(), EngineConfig::default()).await;
    sync(&engine, account, &["INBOX"], window(10)).await;
    let inbox = folder(&engine, account, "INBOX").await;
    assert_eq!(engine.store().message_count(inbox).await.unwrap(), 10);

    // Everything before the day of message 30 (UID 31): UIDs 1..=30, all outside the window.
    let before = day(truth[30].date);
    let expected: Vec<u32> = (1..=60u32)
        .filter(|u| truth[*u as usize - 1].date < before)
        .collect();
    assert_eq!(expected.len(), 30, "the generator's dates moved");
    let query = SearchQuery {
        before: Some(before),
        ..SearchQuery::default()
    };

    let mark = tap.mark();
    let first = page(&engine, account, Some(inbox), &query, 10, None).await;
    let first_stats = tap.stats_since(&mark);
    let first_bytes = first_stats.total();
    assert_eq!(first.total, 30);
    assert_eq!(uids(&first), (21..=30).rev().collect::<Vec<_>>());
    assert_eq!(first.fetched, 10);
    assert!(newest_first(&first));
    let cursor = first.next.expect("more pages");

    let mark = tap.mark();
    let second = page(&engine, account, Some(inbox), &query, 10, Some(cursor)).await;
    let second_stats = tap.stats_since(&mark);
    let second_bytes = second_stats.total();
    // The SEARCH, then the FETCH of the rows; the next page is the FETCH alone.
    assert_eq!(first_stats.round_trips, 2, "{first_stats:?}");
    assert_eq!(second_stats.round_trips, 1, "{second_stats:?}");
    assert_eq!(uids(&second), (11..=20).rev().collect::<Vec<_>>());
    assert_eq!(second.fetched, 10);
    // A cursor whose hit list the engine no longer has: the search runs again and skips
    // the rows shown before.
    let lost = anvert_core::engine::SearchCursor {
        token: cursor.token + 1000,
        shown: cursor.shown,
    };
    let again = page(&engine, account, Some(inbox), &query, 10, Some(lost)).await;
    assert_eq!(uids(&again), uids(&second));
    assert_eq!(again.fetched, 0, "stored by the page before");
    let third = page(&engine, account, Some(inbox), &query, 10, second.next).await;
    assert_eq!(uids(&third), (1..=10).rev().collect::<Vec<_>>());
    assert!(third.next.is_none());

    let date = {
        // RFC 3501 date of `before`, as the engine sends it.
        let d = time_of(before);
        format!("BEFORE {d}")
    };
    let (search, rows) = baseline(server, &tap, &date, &["21:30", "11:20"]).await;
    let bound_first = ((search + rows[0]) as f64 * 1.10) as u64 + 200;
    let bound_second = (rows[1] as f64 * 1.10) as u64 + 200;
    println!(
        "{}: page 1 {first_bytes} B (bare SEARCH {search} B + bare FETCH of 10 rows {} B, \
         bound {bound_first}); page 2 {second_bytes} B (bare FETCH {} B, bound {bound_second})",
        server.name(),
        rows[0],
        rows[1],
    );
    assert!(first_bytes <= bound_first, "{first_bytes} > {bound_first}");
    assert!(
        second_bytes <= bound_second,
        "{second_bytes} > {bound_second}"
    );
    // Ten rows, not the thirty hits: well under what thirty rows cost.
    assert!(first_bytes < search + 2 * rows[0]);

    // Stored like any message: the list and the detail have them; the window does not count
    // them.
    let listed = engine.messages(inbox, None, 100).await.unwrap().items;
    assert_eq!(listed.len(), 40);
    let hit = &first.items[0];
    let detail = engine.message(hit.id).await.unwrap().unwrap();
    assert_eq!(detail.summary.subject, truth[29].subject);
    assert_eq!(engine.store().message_count(inbox).await.unwrap(), 10);

    // A later sync keeps them and does not fetch the gap below the window.
    sync(&engine, account, &["INBOX"], window(10)).await;
    assert_eq!(
        engine.messages(inbox, None, 100).await.unwrap().items.len(),
        40
    );
    // A search again finds them stored: nothing fetched.
    let again = page(&engine, account, Some(inbox), &query, 10, None).await;
    assert_eq!(uids(&again), uids(&first));
    assert_eq!(again.fetched, 0);
    assert_eq!(
        again.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        first.items.iter().map(|m| m.id).collect::<Vec<_>>()
    );
}

/// `d-Mon-yyyy` of a Unix day start (civil-from-days, proleptic Gregorian).
fn time_of(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{d}-{}-{y}", MONTHS[(m - 1) as usize])
}

async fn merges_stored_and_server_hits_without_duplicates(server: &dyn TestServer) {
    let truth = server.deliver_generated("alice", None, &small_mail(92, 40));
    let archive = server.deliver_generated("alice", Some("Archive"), &small_mail(93, 12));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) =
        engine_with_alice(server, tap.addr(), dir.path(), EngineConfig::default()).await;
    sync(&engine, account, &["INBOX", "Archive"], window(20)).await;
    let inbox = folder(&engine, account, "INBOX").await;
    let stored: Vec<(u32, anvert_core::store::MessageId)> = engine
        .messages(inbox, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| (m.uid, m.id))
        .collect();
    assert_eq!(stored.len(), 20);

    // Since the day of message 11 (UID 12): UIDs 12..=40; 21..=40 are stored.
    let since = day(truth[11].date) + 86_400;
    let expected: Vec<u32> = (1..=40u32)
        .filter(|u| truth[*u as usize - 1].date >= since)
        .collect();
    let query = SearchQuery {
        since: Some(since),
        ..SearchQuery::default()
    };
    let got = page(&engine, account, Some(inbox), &query, 25, None).await;
    assert_eq!(got.total as usize, expected.len());
    let want: Vec<u32> = expected.iter().rev().take(25).copied().collect();
    assert_eq!(uids(&got), want);
    let unstored = want.iter().filter(|u| **u <= 20).count() as u32;
    assert_eq!(got.fetched, unstored, "stored rows are not fetched again");
    for m in &got.items {
        if let Some((_, id)) = stored.iter().find(|(u, _)| *u == m.uid) {
            assert_eq!(*id, m.id, "a stored hit is the stored message");
        }
    }
    let mut ids: Vec<_> = got.items.iter().map(|m| m.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.items.len(), "no duplicates");

    // A hit the app moves (queued, not written back) is no longer a hit where the server
    // still lists it: it is not fetched back into INBOX.
    let moved = got.items[0].clone();
    let archive_id = folder(&engine, account, "Archive").await;
    engine.move_messages(&[moved.id], archive_id).await.unwrap();
    let after_move = page(&engine, account, Some(inbox), &query, 25, None).await;
    assert_eq!(after_move.total as usize, expected.len() - 1);
    assert!(!uids(&after_move).contains(&moved.uid));
    assert_eq!(
        after_move.fetched, 1,
        "only the row that moved up into the page"
    );

    // All folders: both folders' hits, newest first by INTERNALDATE, pages without overlap
    // (the server has the moved message in INBOX still; it is no hit there, and Archive has
    // it only after the write-back).
    let in_archive = archive.iter().filter(|m| m.date >= since).count();
    let on_server = expected.len() - 1 + in_archive;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = page(&engine, account, None, &query, 7, after).await;
        assert_eq!(p.total as usize, on_server);
        assert!(newest_first(&p), "{:?}", p.items);
        if let (Some(last), Some(next)) = (seen.last(), p.items.first()) {
            let last: &anvert_core::store::MessageSummary = last;
            assert!(last.internal_date >= next.internal_date);
        }
        seen.extend(p.items.clone());
        match p.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), on_server);
    assert!(seen.iter().all(|m| m.id != moved.id));
    let mut ids: Vec<_> = seen.iter().map(|m| m.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "no duplicates across pages");
}

async fn bad_queries_get_a_typed_error_and_utf8_works(server: &dyn TestServer) {
    server.deliver_generated("alice", None, &small_mail(94, 5));
    let tap = Tap::start(server.imaps_addr()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) =
        engine_with_alice(server, tap.addr(), dir.path(), EngineConfig::default()).await;
    sync(&engine, account, &["INBOX"], window(5)).await;
    let inbox = folder(&engine, account, "INBOX").await;
    let request = SearchPageRequest {
        size: 10,
        after: None,
    };
    let mark = tap.mark();
    for query in [
        SearchQuery::default(),
        SearchQuery {
            text: Some("say \"hello".into()),
            ..SearchQuery::default()
        },
        SearchQuery {
            subject: Some("a\tb".into()),
            ..SearchQuery::default()
        },
    ] {
        let got = engine
            .search_server(
                account,
                Some(inbox),
                &query,
                &request,
                NetworkKind::Unmetered,
            )
            .await;
        assert!(matches!(got, Err(Error::InvalidQuery { .. })), "{got:?}");
    }
    assert_eq!(tap.stats_since(&mark).total(), 0, "nothing was sent");
    // Both servers accept CHARSET UTF-8: a non-ASCII search runs (and finds nothing here).
    let got = engine
        .search_server(
            account,
            Some(inbox),
            &SearchQuery {
                text: Some("Ünïcödé-nowhere-ß".into()),
                ..SearchQuery::default()
            },
            &request,
            NetworkKind::Unmetered,
        )
        .await
        .unwrap();
    assert_eq!(got.total, 0);
    assert!(got.items.is_empty() && got.next.is_none());
}

on_each_server!(
    finds_old_messages_and_fetches_the_page_rows_only,
    merges_stored_and_server_hits_without_duplicates,
    bad_queries_get_a_typed_error_and_utf8_works,
);
