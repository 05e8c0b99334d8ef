//! Transcript tests for the wire of warm sessions and cheap cold starts (issue 15): which
//! commands go out, with which tags, in which flights. A scripted server on a loopback socket
//! records every line the client sends, grouped by the read that brought it (a pipelined
//! flight is one corked write, so it arrives in one read), and answers each line as the test
//! says, or stops answering while keeping the connection open (a link a NAT forgot).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_util::sync::CancellationToken;

use super::{Access, ConnectOptions, IdleOutcome, ImapSession, SectionRequest, connect};
use crate::{
    error::{Error, Result},
    net::{
        Credential, Endpoint, Purpose, Secret, Security, TlsConnector, TokenFuture, TokenProvider,
        Trust, WireMeter,
    },
};

/// What the server does with one line.
enum Step {
    /// These bytes (`TAG` becomes the line's tag).
    Say(String),
    /// Nothing, now or later: the connection stays open, lines are still recorded.
    Mute,
}

fn say(text: impl Into<String>) -> Step {
    Step::Say(text.into())
}

/// The lines the client sent, one list per read.
type Flights = Arc<Mutex<Vec<Vec<String>>>>;

struct Wire {
    addr: SocketAddr,
    flights: Flights,
}

impl Wire {
    /// Every flight, lines with their tags.
    fn flights(&self) -> Vec<Vec<String>> {
        self.flights.lock().unwrap().clone()
    }

    /// Every flight, lines without their tags.
    fn commands(&self) -> Vec<Vec<String>> {
        self.flights()
            .into_iter()
            .map(|f| f.iter().map(|l| untagged(l).to_string()).collect())
            .collect()
    }
}

fn untagged(line: &str) -> &str {
    line.split_once(' ').map_or(line, |(_, rest)| rest)
}

/// Starts a server for one connection that greets with `greeting` and answers each line
/// with `respond(line)`.
async fn wire(greeting: &str, mut respond: impl FnMut(&str) -> Step + Send + 'static) -> Wire {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flights = Flights::default();
    let seen = flights.clone();
    let greeting = format!("{greeting}\r\n");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(greeting.as_bytes()).await.unwrap();
        let mut muted = false;
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            let mut lines = Vec::new();
            while let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = pending.drain(..end + 2).collect();
                lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if lines.is_empty() {
                continue;
            }
            seen.lock().unwrap().push(lines.clone());
            for line in lines {
                if muted {
                    continue;
                }
                match respond(&line) {
                    Step::Say(text) => {
                        let tag = line.split(' ').next().unwrap_or_default();
                        let text = text.replace("TAG", tag);
                        if socket.write_all(text.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    Step::Mute => muted = true,
                }
            }
        }
    });
    Wire { addr, flights }
}

/// Answers for a plain mailbox: INBOX has 3 messages (UIDVALIDITY 7), UID 101's part 1 is
/// `hello`.
fn mailbox(line: &str) -> Step {
    let command = untagged(line);
    let verb = command.split(' ').next().unwrap_or_default();
    match verb {
        "LOGIN" => {
            say("TAG OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC ENABLE UNSELECT IDLE] hi\r\n")
        }
        "ENABLE" => say("* ENABLED CONDSTORE QRESYNC\r\nTAG OK enabled\r\n"),
        "SELECT" | "EXAMINE" => say(
            "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 104] ok\r\nTAG OK [READ-WRITE] \
             done\r\n",
        ),
        "UID" if command.starts_with("UID FETCH 101 ") => {
            say("* 1 FETCH (UID 101 BODY[1] \"hello\")\r\nTAG OK done\r\n")
        }
        "LOGOUT" => say("* BYE bye\r\nTAG OK done\r\n"),
        _ => say("TAG OK done\r\n"),
    }
}

async fn open(wire: &Wire, credential: &Credential, timeout: Duration) -> Result<ImapSession> {
    let endpoint = Endpoint {
        host: wire.addr.ip().to_string(),
        port: wire.addr.port(),
        security: Security::DangerPlaintext,
    };
    connect(
        &endpoint,
        credential,
        &TlsConnector::new(&Trust::default()).unwrap(),
        &WireMeter::new(),
        &ConnectOptions {
            timeout,
            ..ConnectOptions::default()
        },
    )
    .await
}

fn part_1(uid: u32) -> SectionRequest {
    SectionRequest {
        uid,
        section: "1".into(),
        range: None,
        binary: false,
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn sasl_ir_plain_logs_in_in_one_round_trip_and_keeps_the_ok_capabilities() {
    let wire = wire(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi",
        |line| {
            if untagged(line).starts_with("AUTHENTICATE PLAIN ") {
                say("TAG OK [CAPABILITY IMAP4rev1 IDLE UNSELECT] Logged in\r\n")
            } else {
                mailbox(line)
            }
        },
    )
    .await;
    let session = open(
        &wire,
        &Credential::password("alice", "pässword"),
        5 * SECOND,
    )
    .await
    .unwrap();
    assert!(session.capabilities().has("IDLE"));
    session.logout().await.unwrap();
    let flights = wire.flights();
    assert_eq!(flights.len(), 2, "{flights:?}");
    let [auth] = flights[0].as_slice() else {
        panic!("{flights:?}")
    };
    let ir = auth.strip_prefix("A0001 AUTHENTICATE PLAIN ").unwrap();
    assert_eq!(BASE64.decode(ir).unwrap(), "\0alice\0pässword".as_bytes());
    assert_eq!(flights[1], ["A0002 LOGOUT"]);
}

#[tokio::test]
async fn a_rejected_authenticate_plain_is_auth_rejected_without_the_password() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi", |_| {
        say("TAG NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
    })
    .await;
    let err = open(
        &wire,
        &Credential::password("alice", "s3cret-pw"),
        5 * SECOND,
    )
    .await
    .unwrap_err();
    let Error::AuthRejected { text } = &err else {
        panic!("{err:?}")
    };
    assert!(text.contains("Authentication failed."), "{text}");
    let encoded = BASE64.encode("\0alice\0s3cret-pw");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(
            !shown.contains("s3cret") && !shown.contains(&encoded),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn without_sasl_ir_login_is_kept_and_an_untagged_capability_saves_the_command() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi", |line| {
        if untagged(line).starts_with("LOGIN ") {
            say("* CAPABILITY IMAP4rev1 IDLE\r\nTAG OK Logged in\r\n")
        } else {
            mailbox(line)
        }
    })
    .await;
    let session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    assert!(session.capabilities().has("IDLE"));
    session.logout().await.unwrap();
    assert_eq!(
        wire.commands(),
        [
            vec!["LOGIN \"alice\" \"pw\"".to_string()],
            vec!["LOGOUT".to_string()]
        ]
    );
}

#[tokio::test]
async fn a_login_ok_without_capabilities_is_followed_by_one_capability_command() {
    let wire = wire("* OK hi", |line| match untagged(line) {
        c if c.starts_with("LOGIN ") => say("TAG OK Logged in\r\n"),
        "CAPABILITY" => say("* CAPABILITY IMAP4rev1 IDLE\r\nTAG OK done\r\n"),
        _ => mailbox(line),
    })
    .await;
    let session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    assert!(session.capabilities().has("IDLE"));
    drop(session);
    assert_eq!(wire.commands()[1], ["CAPABILITY"]);
}

#[derive(Debug)]
struct Fixed;

impl TokenProvider for Fixed {
    fn access_token<'a>(&'a self, _: &'a str, _: bool) -> TokenFuture<'a> {
        Box::pin(async { Ok(Secret::new("tok-123")) })
    }
}

#[tokio::test]
async fn oauth_takes_the_capabilities_of_its_ok_and_sends_no_capability_command() {
    let wire = wire(
        "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi",
        |line| {
            if untagged(line).starts_with("AUTHENTICATE OAUTHBEARER ") {
                say("TAG OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n")
            } else {
                mailbox(line)
            }
        },
    )
    .await;
    let credential = Credential::OAuth2 {
        username: "alice".into(),
        provider: Arc::new(Fixed),
    };
    let session = open(&wire, &credential, 5 * SECOND).await.unwrap();
    assert!(session.capabilities().has("IDLE"));
    session.logout().await.unwrap();
    let commands = wire.commands();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert!(commands[0][0].starts_with("AUTHENTICATE OAUTHBEARER "));
    assert_eq!(commands[1], ["LOGOUT"]);
}

#[tokio::test]
async fn tags_run_on_in_a_new_client_over_the_same_connection_and_never_wrap() {
    let (ours, theirs) = tokio::io::duplex(4096);
    // Answers each command once it has arrived, so no reply is buffered by the old client.
    let server = tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(theirs);
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(read));
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or_default().to_string();
            seen.push(line);
            write
                .write_all(format!("{tag} OK done\r\n").as_bytes())
                .await
                .unwrap();
        }
        seen
    });
    let mut client = async_imap::Client::new(crate::net::BoxedIo::new(ours));
    client
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .unwrap();
    // What connect does around the TLS handshake after STARTTLS.
    let issued = client.issued_tags();
    let mut client = async_imap::Client::new(client.into_inner());
    client.continue_tags(issued);
    client
        .run_command_and_check_ok("CAPABILITY", None)
        .await
        .unwrap();
    client.continue_tags(9_999);
    client.run_command_and_check_ok("NOOP", None).await.unwrap();
    drop(client);
    assert_eq!(
        server.await.unwrap(),
        ["A0001 STARTTLS", "A0002 CAPABILITY", "A10000 NOOP"]
    );
}

#[tokio::test]
async fn examine_and_fetch_go_in_one_flight_without_enable_and_a_write_selects_again() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    let data = session
        .fetch_sections_in("INBOX", Some(7), Purpose::Bodies, &[part_1(101)])
        .await
        .unwrap();
    assert_eq!(data[0].data, b"hello");
    assert!(
        session.selected().is_none(),
        "EXAMINE is not a selection to write in"
    );
    assert_eq!(session.selection().unwrap().2, Access::ReadOnly);
    // The same folder again: the FETCH alone.
    session
        .fetch_sections_in("INBOX", Some(7), Purpose::Bodies, &[part_1(101)])
        .await
        .unwrap();
    // Writing needs SELECT; the deferred ENABLE goes with it, after leaving the EXAMINEd
    // folder (RFC 5161), in the same flight.
    session.ensure_selected("INBOX").await.unwrap();
    assert_eq!(session.selected().unwrap().0, "INBOX");
    assert_eq!(
        wire.commands()[1..],
        [
            vec![
                "EXAMINE \"INBOX\"".to_string(),
                "UID FETCH 101 (UID BODY.PEEK[1])".to_string()
            ],
            vec!["UID FETCH 101 (UID BODY.PEEK[1])".to_string()],
            vec![
                "UNSELECT".to_string(),
                "ENABLE CONDSTORE QRESYNC".to_string(),
                "SELECT \"INBOX\" (CONDSTORE)".to_string()
            ],
        ]
    );
}

#[tokio::test]
async fn enable_still_rides_with_the_first_select_and_a_probe_does_not_send_it() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    session.probe(5 * SECOND).await.unwrap();
    session.select("INBOX", None).await.unwrap();
    // A folder already selected read-write is read without EXAMINE.
    session
        .fetch_sections_in("INBOX", Some(7), Purpose::Bodies, &[part_1(101)])
        .await
        .unwrap();
    assert_eq!(session.selection().unwrap().2, Access::ReadWrite);
    assert_eq!(
        wire.commands()[1..],
        [
            vec!["NOOP".to_string()],
            vec![
                "ENABLE CONDSTORE QRESYNC".to_string(),
                "SELECT \"INBOX\" (CONDSTORE)".to_string()
            ],
            vec!["UID FETCH 101 (UID BODY.PEEK[1])".to_string()],
        ]
    );
}

#[tokio::test]
async fn a_failed_examine_returns_its_error_and_leaves_nothing_selected() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", |line| {
        match untagged(line).split(' ').next().unwrap_or_default() {
            "EXAMINE" => say("TAG NO [NONEXISTENT] Mailbox doesn't exist\r\n"),
            "UID" => say("TAG BAD No mailbox selected\r\n"),
            _ => mailbox(line),
        }
    })
    .await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    session.select("Other", None).await.unwrap();
    let err = session
        .fetch_sections_in("Gone", Some(7), Purpose::Bodies, &[part_1(101)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { command, text } if command == "EXAMINE" && text.contains("exist")),
        "{err:?}"
    );
    assert!(session.selection().is_none());
    // Both went in one flight.
    assert_eq!(
        wire.commands()[2],
        ["EXAMINE \"Gone\"", "UID FETCH 101 (UID BODY.PEEK[1])"]
    );
}

#[tokio::test]
async fn another_uidvalidity_is_folder_changed_and_no_data() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    for _ in 0..2 {
        // By the EXAMINE's report, then by what the selection holds.
        let err = session
            .fetch_sections_in("INBOX", Some(6), Purpose::Bodies, &[part_1(101)])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::FolderChanged), "{err:?}");
    }
    let examined = session.ensure_examined("INBOX", Some(7)).await.unwrap();
    assert_eq!(examined.exists, 3);
}

#[tokio::test]
async fn a_probe_applies_exists_and_expunge_and_times_out_on_a_silent_link() {
    let mut noops = 0;
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", move |line| {
        if untagged(line) == "NOOP" {
            noops += 1;
            if noops == 1 {
                return say("* 5 EXISTS\r\n* 2 EXPUNGE\r\nTAG OK done\r\n");
            }
            return Step::Mute;
        }
        mailbox(line)
    })
    .await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    session.select("INBOX", None).await.unwrap();
    session.probe(5 * SECOND).await.unwrap();
    assert_eq!(session.selected().unwrap().1.exists, 4);
    let started = Instant::now();
    let err = session.probe(Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < SECOND, "{:?}", started.elapsed());
}

#[tokio::test]
async fn logout_later_is_a_task_of_its_own() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    tokio::spawn(session.logout_later()).await.unwrap().unwrap();
    assert_eq!(wire.commands().last().unwrap(), &["LOGOUT"]);
}

#[tokio::test]
async fn idle_on_a_dead_link_ends_in_a_timeout_within_max_plus_the_reply_timeout() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1 IDLE] hi", |line| {
        if untagged(line) == "IDLE" {
            // The continuation, then the link goes silent: DONE is never answered.
            return say("+ idling\r\n");
        }
        if line == "DONE" {
            return Step::Mute;
        }
        mailbox(line)
    })
    .await;
    // A session timeout far longer than the test: only the reply deadline can end it.
    let mut session = open(&wire, &Credential::password("alice", "pw"), 60 * SECOND)
        .await
        .unwrap();
    session.select("INBOX", None).await.unwrap();
    let (max, reply) = (Duration::from_millis(200), Duration::from_millis(300));
    let started = Instant::now();
    let err = session
        .idle_with(max, reply, &CancellationToken::new())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(took >= max && took < max + reply + SECOND, "{took:?}");
    assert_eq!(wire.commands().last().unwrap(), &["DONE"]);
}

#[tokio::test]
async fn idle_waits_for_its_continuation_no_longer_than_the_reply_timeout() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1 IDLE] hi", |line| {
        if untagged(line) == "IDLE" {
            return Step::Mute;
        }
        mailbox(line)
    })
    .await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 60 * SECOND)
        .await
        .unwrap();
    session.select("INBOX", None).await.unwrap();
    let started = Instant::now();
    let err = session
        .idle_with(
            60 * SECOND,
            Duration::from_millis(300),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < 2 * SECOND, "{:?}", started.elapsed());
}

/// A change the server reports only when IDLE ends (Cyrus without its idled daemon answers
/// DONE with the new EXISTS before the tagged OK) is a change, not a quiet timeout.
#[tokio::test]
async fn a_change_reported_with_dones_reply_counts() {
    let mut idle_tag = String::new();
    let wire = wire("* OK [CAPABILITY IMAP4rev1 IDLE] hi", move |line| {
        if untagged(line) == "IDLE" {
            idle_tag = line.split(' ').next().unwrap_or_default().to_string();
            return say("+ idling\r\n");
        }
        if line == "DONE" {
            return say(format!("* 4 EXISTS\r\n{idle_tag} OK idle done\r\n"));
        }
        mailbox(line)
    })
    .await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    session.select("INBOX", None).await.unwrap();
    let outcome = session
        .idle_with(
            Duration::from_millis(100),
            SECOND,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, IdleOutcome::Changed);
}

/// Windows of summaries fill the pipeline gradually: the first FETCH alone, then one more in
/// flight after each completion, up to the depth (`Pipeline::ramp_up`; Dovecot interleaves
/// pipelined FETCHes, so four sent at once would all complete together).
#[tokio::test]
async fn summary_windows_ramp_up_to_the_pipeline_depth() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    session.ensure_selected("INBOX").await.unwrap();
    let windows: Vec<String> = ["5", "4", "3", "2", "1"].map(String::from).to_vec();
    let items = super::SummaryItems {
        preview: false,
        modseq: false,
        references: false,
        objectid: false,
    };
    let mut fetch = session.start_summaries(&windows, false, items, 4);
    let mut delivered = Vec::new();
    while let Some(window) = session.next_window(&mut fetch).await.unwrap() {
        delivered.push(window.index);
    }
    assert_eq!(delivered, [0, 1, 2, 3, 4]);
    let fetches: Vec<Vec<String>> = wire
        .commands()
        .into_iter()
        .filter(|f| f.iter().any(|c| c.starts_with("FETCH")))
        .map(|f| {
            f.into_iter()
                .map(|c| c.split(' ').nth(1).unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    assert_eq!(fetches, [vec!["5"], vec!["4", "3"], vec!["2", "1"]]);
}

/// A deferred ENABLE in front of a ramped summary fetch goes in the first flight with the
/// first window, not alone.
#[tokio::test]
async fn a_deferred_enable_rides_with_the_first_ramped_window() {
    let wire = wire("* OK [CAPABILITY IMAP4rev1] hi", mailbox).await;
    let mut session = open(&wire, &Credential::password("alice", "pw"), 5 * SECOND)
        .await
        .unwrap();
    let items = super::SummaryItems {
        preview: false,
        modseq: false,
        references: false,
        objectid: false,
    };
    let windows: Vec<String> = ["3", "2", "1"].map(String::from).to_vec();
    let mut fetch = session.start_summaries(&windows, false, items, 4);
    while session.next_window(&mut fetch).await.unwrap().is_some() {}
    let flights: Vec<Vec<String>> = wire.commands()[1..]
        .iter()
        .map(|f| {
            f.iter()
                .map(|c| c.split(" (").next().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    // The later windows follow as the answers come (in one read of the server's or two).
    assert_eq!(flights[0], ["ENABLE CONDSTORE QRESYNC", "FETCH 3"]);
    assert_eq!(flights[1..].concat(), ["FETCH 2", "FETCH 1"]);
}
