//! Transcript tests for CATENATE and GENURLAUTH against a scripted server that understands
//! literals: the exact bytes of a CATENATE with synchronizing literals (each sent only after
//! `+`) and with LITERAL+, a refusal in place of the `+` (the literal is never sent and the
//! session goes on), and every hostile form of a GENURLAUTH answer.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    task::JoinHandle,
};

use super::{BADURL, CatPart, ConnectOptions, ImapSession, TOOBIG, connect};
use crate::{
    error::Error,
    net::{Credential, Endpoint, Security, TlsConnector, Trust, WireMeter},
};

const RUMP: &str = "imap://alice@localhost:993/Sent;UIDVALIDITY=7/;UID=4;urlauth=submit+alice";
const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

/// A fake server for one connection announcing `caps`. Each command (with its literals
/// inlined, tag removed) goes to `respond`, whose bytes are sent with `TAG` replaced by the
/// command's tag. With `refuse_literal`, the first synchronizing literal is answered with
/// `TAG NO [TOOBIG]` instead of `+`, and the next line read must be a new command. The
/// handle yields the commands received after LOGIN.
async fn serve(
    caps: &'static str,
    refuse_literal: bool,
    mut respond: impl FnMut(&str) -> Vec<u8> + Send + 'static,
) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        let mut seen = Vec::new();
        let mut refused = !refuse_literal;
        write
            .write_all(format!("* OK [CAPABILITY {caps}] fake\r\n").as_bytes())
            .await
            .unwrap();
        'commands: loop {
            let mut command = Vec::new();
            if read.read_until(b'\n', &mut command).await.unwrap_or(0) == 0 {
                return seen;
            }
            let tag = String::from_utf8_lossy(&command)
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string();
            while let Some((n, plus)) = literal_at_end(&command) {
                if !plus {
                    if !refused {
                        refused = true;
                        seen.push(String::from_utf8_lossy(&command).into_owned());
                        write
                            .write_all(format!("{tag} NO [TOOBIG] too big\r\n").as_bytes())
                            .await
                            .unwrap();
                        continue 'commands;
                    }
                    write.write_all(b"+ go\r\n").await.unwrap();
                }
                let mut literal = vec![0; n];
                read.read_exact(&mut literal).await.unwrap();
                command.extend_from_slice(&literal);
                read.read_until(b'\n', &mut command).await.unwrap();
            }
            let text = String::from_utf8_lossy(&command).into_owned();
            let body = text[tag.len()..].trim_start().to_string();
            let reply = if body.starts_with("LOGIN ") {
                format!("{tag} OK [CAPABILITY {caps}] in\r\n").into_bytes()
            } else if body.starts_with("LOGOUT") {
                let _ = write
                    .write_all(format!("* BYE\r\n{tag} OK bye\r\n").as_bytes())
                    .await;
                return seen;
            } else {
                seen.push(body.clone());
                replace(&respond(&body), b"TAG", tag.as_bytes())
            };
            write.write_all(&reply).await.unwrap();
        }
    });
    (addr, handle)
}

/// `{n}` or `{n+}` right before the final CRLF of `line`.
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let line = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = line.iter().rposition(|b| *b == b'{')?;
    let inside = std::str::from_utf8(&line[open + 1..]).ok()?;
    let (digits, plus) = match inside.strip_suffix('+') {
        Some(d) => (d, true),
        None => (inside, false),
    };
    Some((digits.parse().ok()?, plus))
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

async fn open(addr: SocketAddr) -> ImapSession {
    let endpoint = Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        security: Security::DangerPlaintext,
    };
    connect(
        &endpoint,
        &Credential::password("alice", "pw"),
        &TlsConnector::new(&Trust::default()).unwrap(),
        &WireMeter::new(),
        &ConnectOptions {
            timeout: std::time::Duration::from_secs(5),
            ..ConnectOptions::default()
        },
    )
    .await
    .unwrap()
}

fn ok(untagged: &str) -> Vec<u8> {
    format!("{untagged}TAG OK done\r\n").into_bytes()
}

const PARTS: [CatPart<'static>; 3] = [
    CatPart::Text(b"Subject: a\r\n\r\n"),
    CatPart::Url("/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=2"),
    CatPart::Text(b"tail"),
];

#[tokio::test]
async fn synchronizing_literals_wait_for_the_continuation() {
    let (addr, server) = serve("IMAP4rev1 CATENATE UIDPLUS", false, |_| {
        b"TAG OK [APPENDUID 9 44] done\r\n".to_vec()
    })
    .await;
    let mut session = open(addr).await;
    let out = session
        .append_catenate("Sent", &["\\Seen"], &PARTS)
        .await
        .unwrap();
    assert_eq!(out.uid, Some((9, 44)));
    session.logout().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        seen,
        [
            "APPEND \"Sent\" (\\Seen) CATENATE (TEXT {14}\r\nSubject: a\r\n\r\n \
          URL \"/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=2\" TEXT {4}\r\ntail)\r\n"
        ]
    );
}

#[tokio::test]
async fn literal_plus_sends_everything_at_once() {
    let (addr, server) = serve("IMAP4rev1 CATENATE LITERAL+", false, |_| ok("")).await;
    let mut session = open(addr).await;
    let out = session.append_catenate("Sent", &[], &PARTS).await.unwrap();
    assert_eq!(out.uid, None, "no UIDPLUS, no APPENDUID");
    session.logout().await.unwrap();
    assert_eq!(
        server.await.unwrap(),
        [
            "APPEND \"Sent\" () CATENATE (TEXT {14+}\r\nSubject: a\r\n\r\n \
          URL \"/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=2\" TEXT {4+}\r\ntail)\r\n"
        ]
    );
}

#[tokio::test]
async fn a_refusal_instead_of_the_continuation_sends_no_literal() {
    let (addr, server) = serve("IMAP4rev1 CATENATE URLAUTH", true, |command| {
        if command.starts_with("GENURLAUTH") {
            ok(&format!("* GENURLAUTH \"{RUMP}:internal:{TOKEN}\"\r\n"))
        } else {
            ok("")
        }
    })
    .await;
    let mut session = open(addr).await;
    let err = session
        .append_catenate("Sent", &[], &PARTS)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServerNo { text, .. } if text.starts_with(TOOBIG)),
        "{err:?}"
    );
    // The literal never went: the next line the server reads is the next command.
    assert_eq!(
        session.genurlauth(RUMP).await.unwrap(),
        format!("{RUMP}:internal:{TOKEN}")
    );
    session.logout().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].starts_with("GENURLAUTH \""), "{seen:?}");
}

#[tokio::test]
async fn badurl_names_the_part_never_the_url() {
    let (addr, _server) = serve("IMAP4rev1 CATENATE LITERAL+", false, |_| {
        b"TAG NO [BADURL \"/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=2\"] No such message\r\n".to_vec()
    })
    .await;
    let mut session = open(addr).await;
    let err = session
        .append_catenate("Sent", &[], &PARTS)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(BADURL) && text.contains("URL part 2 of 3"),
        "{text}"
    );
    assert!(!text.contains("UID=2"), "{text}");
}

#[tokio::test]
async fn genurlauth_refuses_every_hostile_answer_and_goes_on() {
    let good = format!("{RUMP}:internal:{TOKEN}");
    let answers: Vec<(String, bool)> = vec![
        (String::new(), false),                                     // no URL
        (format!("* GENURLAUTH \"{good}\" \"{good}\"\r\n"), false), // two in one
        (
            format!("* GENURLAUTH \"{good}\"\r\n* GENURLAUTH \"{good}\"\r\n"),
            false,
        ), // two responses
        (
            format!("* GENURLAUTH \"{good}{}\"\r\n", "a".repeat(600)),
            false,
        ), // overlong
        (format!("* GENURLAUTH \"{RUMP}\"\r\n"), false),            // no token
        (
            format!("* GENURLAUTH \"imap://mallory@evil/x:internal:{TOKEN}\"\r\n"),
            false,
        ), // another URL
        (
            format!("* GENURLAUTH {{{}}}\r\n{good}\r\n", good.len()),
            true,
        ), // literal form
        (format!("* GENURLAUTH {good}\r\n"), true),                 // atom form
    ];
    let script = answers.clone();
    let mut next = 0;
    let (addr, server) = serve("IMAP4rev1 URLAUTH", false, move |_| {
        let (untagged, _) = &script[next.min(script.len() - 1)];
        next += 1;
        ok(untagged)
    })
    .await;
    let mut session = open(addr).await;
    for (i, (_, accepted)) in answers.iter().enumerate() {
        match session.genurlauth(RUMP).await {
            Ok(url) => {
                assert!(*accepted, "answer {i} accepted");
                assert_eq!(url, good);
            }
            Err(e) => {
                assert!(!*accepted, "answer {i}: {e}");
                assert!(matches!(e, Error::Protocol { .. }), "answer {i}: {e:?}");
                let text = format!("{e} {e:?}");
                assert!(!text.contains(TOKEN) && !text.contains("imap://"), "{text}");
            }
        }
    }
    session.logout().await.unwrap();
    assert_eq!(server.await.unwrap().len(), answers.len());
}

#[tokio::test]
async fn a_refused_genurlauth_does_not_echo_the_url() {
    let (addr, _server) = serve("IMAP4rev1 URLAUTH", false, |_| {
        format!("TAG NO Error authorizing {RUMP}: not a cyrusdb error\r\n").into_bytes()
    })
    .await;
    let mut session = open(addr).await;
    let err = session.genurlauth(RUMP).await.unwrap_err();
    assert!(matches!(&err, Error::ServerNo { .. }), "{err:?}");
    assert!(!err.to_string().contains("imap://"), "{err}");
    // Without the capability nothing is sent.
    let (addr, _server) = serve("IMAP4rev1", false, |_| ok("")).await;
    let mut session = open(addr).await;
    assert!(matches!(
        session.genurlauth(RUMP).await,
        Err(Error::Unsupported { what: "URLAUTH" })
    ));
    assert!(matches!(
        session.append_catenate("Sent", &[], &PARTS).await,
        Err(Error::Unsupported { what: "CATENATE" })
    ));
}
