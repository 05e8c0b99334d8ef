//! The wire of a cold read (issue 15): connect, fetch one body section, log out, against
//! Dovecot through the tap, counted in tap turns (a turn is server data following client
//! data), with the session's flights read from its `anvert::imap::flight` trace (verbs only).
//! Also: a session used first for a body fetch and later for a QRESYNC sync, and tags that run
//! on after COMPRESS (on the scripted server, which deflates).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use anvert_core::{
    imap::{self, ConnectOptions, QresyncParams, SectionRequest},
    net::{Purpose, Security, WireMeter},
};
use anvert_tests::{
    client::endpoint,
    dovecot::Dovecot,
    generator::GenConfig,
    scripted::{Reply, Script, ScriptedImap, ok},
    tap::Tap,
};

/// Collects what the `anvert::imap::flight` trace says, on this thread.
#[derive(Clone, Default)]
struct Flights(Arc<Mutex<Vec<u8>>>);

impl Write for Flights {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Flights {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("anvert::imap::flight=trace")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// One line per flight.
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("flight"))
            .map(str::to_string)
            .collect()
    }
}

fn part_1(uid: u32) -> SectionRequest {
    SectionRequest {
        uid,
        section: "1".into(),
        range: None,
        binary: false,
    }
}

// Current-thread: the trace subscriber is the test thread's.
#[tokio::test(flavor = "current_thread")]
async fn a_cold_body_fetch_costs_six_tap_turns_and_one_fetch_flight() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 15,
            count: 3,
            ..GenConfig::default()
        },
    );
    let mut direct = server.imap_login("alice").await;
    let validity = direct.select("INBOX", None).await.unwrap().uid_validity;
    direct.logout().await.unwrap();

    let tap = Tap::start(server.imaps_addr()).unwrap();
    let flights = Flights::default();
    let _guard = flights.install();
    let mark = tap.mark();
    let mut session = imap::connect(
        &endpoint(tap.addr(), Security::ImplicitTls),
        &server.credential("alice"),
        &server.tls(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    assert!(session.is_compressed());
    let data = session
        .fetch_sections_in("INBOX", validity, Purpose::Bodies, &[part_1(1)])
        .await
        .unwrap();
    assert!(!data[0].data.is_empty());
    // The caller would spawn it and go on; the test waits to count its turn.
    tokio::spawn(session.logout_later()).await.unwrap().unwrap();
    let stats = tap.stats_since(&mark);
    let lines = flights.lines();
    eprintln!(
        "cold fetch: {} tap turns; flights {lines:#?}",
        stats.round_trips
    );
    // TLS handshake and greeting (2), AUTHENTICATE PLAIN with SASL-IR, COMPRESS,
    // EXAMINE + UID FETCH, LOGOUT.
    assert!(stats.round_trips <= 6, "{stats:?}");
    let fetches: Vec<_> = lines.iter().filter(|l| l.contains("UID FETCH")).collect();
    assert_eq!(fetches.len(), 1, "{lines:#?}");
    assert!(fetches[0].contains("EXAMINE"), "{lines:#?}");
    // No CAPABILITY after login, no ENABLE for a read.
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("CAPABILITY") || l.contains("ENABLE")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_read_a_body_first_still_enables_qresync_for_a_sync() {
    let server = Dovecot::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 16,
            count: 3,
            ..GenConfig::default()
        },
    );
    let mut session = server.imap_login("alice").await;
    let examined = session.ensure_examined("INBOX", None).await;
    let validity = match examined {
        Err(anvert_core::error::Error::FolderChanged) => {
            session.selection().unwrap().1.uid_validity
        }
        other => panic!("{other:?}"),
    };
    session
        .fetch_sections_in("INBOX", validity, Purpose::Bodies, &[part_1(1)])
        .await
        .unwrap();
    assert!(session.has_qresync());
    // SELECT (QRESYNC …) is refused unless ENABLE QRESYNC went first.
    let selected = session
        .select(
            "INBOX",
            Some(QresyncParams {
                uid_validity: validity.unwrap(),
                highest_modseq: 1,
            }),
        )
        .await
        .unwrap();
    assert_eq!(selected.exists, 3);
    session.logout().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_run_on_after_compress() {
    // The body the server returns is the FETCH's own tag (a 5-byte literal: the scripted
    // server puts the tag where `TAG` starts a line).
    let server = ScriptedImap::start(
        Script {
            capabilities: "IMAP4rev1 COMPRESS=DEFLATE".into(),
            ..Script::default()
        },
        |command| match command.split(' ').next().unwrap_or_default() {
            "EXAMINE" => ok("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n"),
            "UID" => ok("* 1 FETCH (UID 101 BODY[1] {5}\r\nTAG)\r\n"),
            _ => Reply::Ok(Vec::new()),
        },
    )
    .await;
    let mut session = imap::connect(
        &server.endpoint(),
        &anvert_core::net::Credential::password("alice", "pw"),
        &anvert_core::net::TlsConnector::new(&anvert_core::net::Trust::default()).unwrap(),
        &WireMeter::new(),
        &ConnectOptions::default(),
    )
    .await
    .unwrap();
    assert!(session.is_compressed());
    let data = session
        .fetch_sections_in("INBOX", Some(7), Purpose::Bodies, &[part_1(101)])
        .await
        .unwrap();
    // LOGIN A0001, COMPRESS A0002, EXAMINE A0003, then the FETCH.
    assert_eq!(data[0].data, b"A0004");
    session.logout().await.unwrap();
    assert_eq!(
        server.commands(),
        [
            "LOGIN",
            "COMPRESS DEFLATE",
            "EXAMINE \"INBOX\"",
            "UID FETCH 101 (UID BODY.PEEK[1])",
            "LOGOUT"
        ]
    );
}

/// LOGOUT reads what the server sends to the very end, with and without COMPRESS: the
/// meter then has every byte the tap relayed. (Dovecot ends its deflate stream on LOGOUT;
/// the TLS close_notify after it was left unread about one time in six, 24 bytes short.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_reads_to_the_end_so_the_meter_matches_the_wire() {
    let server = Dovecot::start();
    let tap = Tap::start(server.imaps_addr()).unwrap();
    for compress in [true, false, true, false, true, true, true, true] {
        let mark = tap.mark();
        let meter = WireMeter::new();
        let mut session = imap::connect(
            &endpoint(tap.addr(), Security::ImplicitTls),
            &server.credential("alice"),
            &server.tls(),
            &meter,
            &ConnectOptions {
                compress,
                ..ConnectOptions::default()
            },
        )
        .await
        .unwrap();
        session.select("INBOX", None).await.unwrap();
        session.logout().await.unwrap();
        assert!(tap.wait_all_closed(std::time::Duration::from_secs(5)));
        let wire = tap.stats_since(&mark);
        let counted = meter.totals();
        assert_eq!(
            (
                counted.written.iter().sum::<u64>(),
                counted.read.iter().sum::<u64>()
            ),
            (wire.up, wire.down),
            "compress {compress}"
        );
    }
}

/// A first sync asks LIST for no STATUS items: no folder has anything stored that a STATUS
/// could show unchanged, and every folder is selected anyway (it cost Dovecot 10-20 ms of
/// CPU at 10,000 messages in INBOX). The next sync, with INBOX stored, asks LIST-STATUS for
/// them.
#[tokio::test]
async fn a_first_sync_lists_without_status_and_the_next_with_it() {
    let script = Script {
        capabilities: "IMAP4rev1 LITERAL+ LIST-EXTENDED LIST-STATUS CONDSTORE".into(),
        ..Script::default()
    };
    let server = ScriptedImap::start(script, |command| {
        if command.starts_with("LIST") {
            ok("* LIST () \"/\" INBOX\r\n\
                * STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 7 HIGHESTMODSEQ 1)\r\n")
        } else if command.starts_with("SELECT") || command.starts_with("EXAMINE") {
            ok(
                "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n\
                * OK [HIGHESTMODSEQ 1] ok\r\n",
            )
        } else {
            ok("")
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (engine, account) = server.engine(dir.path()).await;
    let request = anvert_core::policy::SyncRequest::default();
    engine.sync(account, &request).await.unwrap();
    let first = server.count("LIST");
    engine.sync(account, &request).await.unwrap();
    let lists: Vec<String> = server
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("LIST"))
        .collect();
    assert!(first >= 1 && lists.len() > first, "{lists:?}");
    assert!(
        lists[..first].iter().all(|c| !c.contains("STATUS")),
        "{lists:?}"
    );
    assert!(
        lists[first..].iter().any(|c| c.contains("STATUS (")),
        "{lists:?}"
    );
}
