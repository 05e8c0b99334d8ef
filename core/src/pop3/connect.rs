//! Opening a POP3 session: TCP, TLS (implicit, or STLS — refused rather than skipped when the
//! server does not offer it), greeting, CAPA (asked again inside TLS and after login), and
//! login by SASL PLAIN, USER/PASS or APOP with a password, or SASL OAUTHBEARER/XOAUTH2 with a token
//! from the app's provider. The user name, password and token are written to the socket and
//! nowhere else: not into errors, not into logs.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use md5::{Digest, Md5};
use tracing::debug;

use super::{
    Capabilities, Pop3Options, Pop3Session,
    conn::{Conn, MAX_STATUS_LINE},
    reply::{self, Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::{
        BoxedIo, Credential, Endpoint, OAuthMechanism, Purpose, Secret, Security, TlsConnector,
        TokenProvider, WireMeter, check_oauth_username, connect_tcp, fetch_access_token,
        oauth_error_status,
    },
};

/// CAPA answers longer than this are hostile: lines...
pub const MAX_CAPA_LINES: usize = 256;
/// ...and bytes per line.
pub const MAX_CAPA_LINE: usize = 1024;
/// RFC 2449's limit for a command line, CRLF included. A longer SASL initial response goes
/// after the server's empty challenge instead (RFC 5034 §4).
const MAX_COMMAND_LINE: usize = 255;

/// Connects, secures, reads the greeting and capabilities, and logs in. Bytes are counted on
/// `meter` below TLS, as `Purpose::Connect`; the meter is left on `Purpose::SyncMetadata`.
pub async fn connect(
    endpoint: &Endpoint,
    credential: &Credential,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &Pop3Options,
) -> Result<Pop3Session> {
    meter.set_purpose(Purpose::Connect);
    let tcp = connect_tcp(&endpoint.host, endpoint.port, options.timeout).await?;
    establish(
        BoxedIo::new(meter.wrap(tcp)),
        endpoint,
        credential,
        tls,
        meter,
        options,
    )
    .await
}

/// Everything after TCP connect, over any stream (the unit tests use an in-memory pipe).
pub(super) async fn establish(
    raw: BoxedIo,
    endpoint: &Endpoint,
    credential: &Credential,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &Pop3Options,
) -> Result<Pop3Session> {
    meter.set_purpose(Purpose::Connect);
    let host = endpoint.host.as_str();
    let (mut conn, greeting, caps, secure) = match endpoint.security {
        Security::ImplicitTls => {
            let stream = tls.connect(host, raw, options.timeout).await?;
            let mut conn = Conn::new(BoxedIo::new(stream), options.timeout);
            let greeting = read_greeting(&mut conn).await?;
            let caps = capa(&mut conn).await?;
            (conn, greeting, caps, true)
        }
        Security::StartTls => {
            let mut conn = Conn::new(raw, options.timeout);
            read_greeting(&mut conn).await?;
            let plain_caps = capa(&mut conn).await?;
            if !plain_caps.has("STLS") {
                return Err(Error::TlsUnavailable { command: "STLS" });
            }
            command(&mut conn, b"STLS\r\n", Verb::Stls).await?;
            if !conn.buffered().is_empty() {
                // Bytes after the +OK would be read as if they came through TLS.
                return Err(Error::protocol(
                    "the POP3 server sent data after accepting STLS; refusing to continue",
                ));
            }
            let stream = tls
                .connect(host, conn.into_inner(), options.timeout)
                .await?;
            let mut conn = Conn::new(BoxedIo::new(stream), options.timeout);
            // Capabilities from before TLS are untrusted; the greeting (and its APOP
            // timestamp) is not repeated.
            let caps = capa(&mut conn).await?;
            (conn, None, caps, true)
        }
        Security::DangerPlaintext => {
            let mut conn = Conn::new(raw, options.timeout);
            let greeting = read_greeting(&mut conn).await?;
            let caps = capa(&mut conn).await?;
            (conn, greeting, caps, false)
        }
    };

    let apop = greeting.as_deref().map(|stamp| Apop { stamp, secure });
    let mechanism = login(
        &mut conn,
        credential,
        &caps,
        endpoint,
        apop,
        options.timeout,
    )
    .await?;
    // RFC 2449: capabilities may differ after login.
    let caps = if caps.announced() {
        capa(&mut conn).await?
    } else {
        caps
    };
    debug!(
        mechanism,
        tls = secure,
        capabilities = caps.lines().len(),
        "POP3 logged in"
    );
    meter.set_purpose(Purpose::SyncMetadata);
    Ok(Pop3Session::new(
        conn,
        caps,
        greeting,
        secure,
        meter.clone(),
        options.clone(),
    ))
}

/// Reads the greeting; returns its APOP timestamp if it has one.
async fn read_greeting(conn: &mut Conn) -> Result<Option<String>> {
    let text = conn.read_reply(Verb::Greeting).await?.ok(Verb::Greeting)?;
    Ok(reply::apop_timestamp(&text))
}

/// Sends one command line and expects `+OK`.
async fn command(conn: &mut Conn, line: &[u8], verb: Verb) -> Result<String> {
    conn.write(line, verb).await?;
    conn.read_reply(verb).await?.ok(verb)
}

/// CAPA; a server that answers `-ERR` has no announced capabilities.
pub(super) async fn capa(conn: &mut Conn) -> Result<Capabilities> {
    conn.write(b"CAPA\r\n", Verb::Capa).await?;
    if let Reply::Err(_) = conn.read_reply(Verb::Capa).await? {
        return Ok(Capabilities::unannounced());
    }
    let mut lines = Vec::new();
    while let Some(line) = conn.read_listing_line(MAX_CAPA_LINE, Verb::Capa).await? {
        if lines.len() == MAX_CAPA_LINES {
            return Err(Error::protocol(format!(
                "the POP3 server listed more than {MAX_CAPA_LINES} capabilities"
            )));
        }
        lines.push(line);
    }
    Ok(Capabilities::from_lines(lines))
}

/// The greeting's APOP timestamp and whether the connection is encrypted.
#[derive(Debug, Clone, Copy)]
struct Apop<'a> {
    stamp: &'a str,
    secure: bool,
}

/// Logs in with the best method on offer for the credential; returns its name for the log.
async fn login(
    conn: &mut Conn,
    credential: &Credential,
    caps: &Capabilities,
    endpoint: &Endpoint,
    apop: Option<Apop<'_>>,
    timeout: Duration,
) -> Result<&'static str> {
    match credential {
        Credential::Password { username, password } => {
            password_login(conn, username, password.expose(), caps, apop).await
        }
        Credential::OAuth2 { username, provider } => {
            oauth2_login(conn, username, provider.as_ref(), caps, endpoint, timeout).await
        }
    }
}

/// SASL PLAIN, else USER/PASS, else APOP. On a plaintext connection (`danger_…`) APOP comes
/// first when the greeting offers it: it is the only method that does not send the password
/// itself in the clear. Over TLS it is the last resort (MD5 of a password the server must
/// store in plaintext).
async fn password_login(
    conn: &mut Conn,
    user: &str,
    pass: &str,
    caps: &Capabilities,
    apop: Option<Apop<'_>>,
) -> Result<&'static str> {
    if [user, pass].iter().any(|s| s.contains(['\r', '\n', '\0'])) {
        return Err(Error::Config {
            reason: "the user name or password contains characters POP3 cannot carry".into(),
        });
    }
    let apop = apop.filter(|_| !user.contains([' ', '\t']));
    if let Some(Apop {
        stamp,
        secure: false,
    }) = apop
    {
        return apop_login(conn, user, pass, stamp).await;
    }
    if caps.has_sasl("PLAIN") {
        let mut line = b"AUTH PLAIN ".to_vec();
        line.extend_from_slice(BASE64.encode(format!("\0{user}\0{pass}")).as_bytes());
        line.extend_from_slice(b"\r\n");
        auth_step(conn, &line, Verb::Auth).await?;
        return Ok("SASL PLAIN");
    }
    if !caps.announced() || caps.has("USER") {
        auth_step(conn, format!("USER {user}\r\n").as_bytes(), Verb::User).await?;
        auth_step(conn, format!("PASS {pass}\r\n").as_bytes(), Verb::Pass).await?;
        return Ok("USER/PASS");
    }
    if let Some(Apop { stamp, .. }) = apop {
        return apop_login(conn, user, pass, stamp).await;
    }
    Err(Error::ServerNo {
        command: "login".into(),
        text: "the server offers no login method this client supports (SASL PLAIN, USER/PASS, \
               APOP)"
            .into(),
    })
}

/// APOP (RFC 1939 §7): the user name and the MD5 of the greeting's timestamp followed by the
/// password, in lowercase hex.
async fn apop_login(conn: &mut Conn, user: &str, pass: &str, stamp: &str) -> Result<&'static str> {
    let digest = Md5::new()
        .chain_update(stamp.as_bytes())
        .chain_update(pass.as_bytes())
        .finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let line = Secret::new(format!("APOP {user} {hex}\r\n"));
    auth_step(conn, line.expose().as_bytes(), Verb::Apop).await?;
    Ok("APOP")
}

/// SASL OAUTHBEARER, else XOAUTH2 (RFC 5034 AUTH) with a token from the app's provider. A
/// rejected token is acknowledged, the provider is asked once for a fresh one
/// (`force_refresh`) and the login tried once more; a second rejection is `AuthRejected`.
async fn oauth2_login(
    conn: &mut Conn,
    username: &str,
    provider: &dyn TokenProvider,
    caps: &Capabilities,
    endpoint: &Endpoint,
    timeout: Duration,
) -> Result<&'static str> {
    let Some(mechanism) = OAuthMechanism::choose(|m| caps.has_sasl(m)) else {
        return Err(Error::ServerNo {
            command: "login".into(),
            text: "the server offers no OAuth2 login (SASL OAUTHBEARER or XOAUTH2)".into(),
        });
    };
    check_oauth_username(username)?;
    let mut rejected = String::new();
    for force_refresh in [false, true] {
        let token = fetch_access_token(provider, username, force_refresh, timeout).await?;
        let response = Secret::new(
            BASE64.encode(
                mechanism
                    .initial_response(username, &token, &endpoint.host, endpoint.port)
                    .expose(),
            ),
        );
        drop(token);
        match sasl_exchange(conn, mechanism, &response).await? {
            None => {
                return Ok(match mechanism {
                    OAuthMechanism::OAuthBearer => "SASL OAUTHBEARER",
                    OAuthMechanism::XOAuth2 => "SASL XOAUTH2",
                });
            }
            Some(text) => rejected = text,
        }
    }
    Err(Error::AuthRejected { text: rejected })
}

/// One `AUTH` with a base64 initial response: on the command line when the line fits RFC
/// 2449's 255 octets, else after the server's empty challenge (RFC 5034 §4). Answers an error
/// challenge with the mechanism's acknowledgement. `None` on `+OK`, the server's text (and
/// the OAuth2 status, if it sent one) on `-ERR`.
async fn sasl_exchange(
    conn: &mut Conn,
    mechanism: OAuthMechanism,
    response: &Secret,
) -> Result<Option<String>> {
    let name = mechanism.name();
    let inline = Secret::new(format!("AUTH {name} {}\r\n", response.expose()));
    if inline.expose().len() <= MAX_COMMAND_LINE {
        conn.write(inline.expose().as_bytes(), Verb::Auth).await?;
    } else {
        conn.write(format!("AUTH {name}\r\n").as_bytes(), Verb::Auth)
            .await?;
        match read_auth_reply(conn).await? {
            AuthReply::Challenge(_) => {
                let line = Secret::new(format!("{}\r\n", response.expose()));
                conn.write(line.expose().as_bytes(), Verb::Auth).await?;
            }
            AuthReply::Done(Reply::Err(text)) => return Ok(Some(text)),
            AuthReply::Done(Reply::Ok(_)) => {
                return Err(Error::protocol(
                    "the POP3 server accepted AUTH before any credential was sent",
                ));
            }
        }
    }
    drop(inline);
    let mut challenged = false;
    let mut status = None;
    loop {
        match read_auth_reply(conn).await? {
            AuthReply::Done(Reply::Ok(_)) => return Ok(None),
            AuthReply::Done(Reply::Err(text)) => {
                return Ok(Some(match status {
                    Some(status) => format!("{text} (OAuth2 status {status})"),
                    None => text,
                }));
            }
            AuthReply::Challenge(_) if challenged => {
                return Err(Error::protocol(
                    "the POP3 server sent a second OAuth2 error challenge",
                ));
            }
            AuthReply::Challenge(challenge) => {
                // The server's error report (RFC 7628 §3.2.2); the token is never sent twice.
                challenged = true;
                status = oauth_error_status(&challenge);
                let mut ack = BASE64.encode(mechanism.error_ack()).into_bytes();
                ack.extend_from_slice(b"\r\n");
                conn.write(&ack, Verb::Auth).await?;
            }
        }
    }
}

/// A line in answer to AUTH: a SASL challenge (`+ base64`, decoded; empty when it does not
/// decode) or the final status.
enum AuthReply {
    Challenge(Vec<u8>),
    Done(Reply),
}

async fn read_auth_reply(conn: &mut Conn) -> Result<AuthReply> {
    let line = conn.read_line(MAX_STATUS_LINE, Verb::Auth).await?;
    if line == b"+" || line.starts_with(b"+ ") {
        let data = line.get(2..).unwrap_or_default();
        return Ok(AuthReply::Challenge(
            BASE64.decode(data.trim_ascii()).unwrap_or_default(),
        ));
    }
    Ok(AuthReply::Done(Reply::parse(&line, Verb::Auth)?))
}

/// One login command: `-ERR` becomes `AuthRejected` with the server's (cleaned) text.
async fn auth_step(conn: &mut Conn, line: &[u8], verb: Verb) -> Result<()> {
    conn.write(line, verb).await?;
    match conn.read_reply(verb).await? {
        Reply::Ok(_) => Ok(()),
        Reply::Err(text) => Err(Error::AuthRejected { text }),
    }
}

#[cfg(test)]
mod tests {
    //! Transcripts of OAuth2 logins (the password ones are in `pop3::tests::connect`).

    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::super::tests::{Step, endpoint, expect, options, send, server, tls};
    use super::*;
    use crate::net::TokenFuture;

    /// Hands out `stale-N` tokens (`N` counts calls), `fresh-N` when asked to refresh, each
    /// padded with `pad` dots.
    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicU32,
        pad: usize,
    }

    impl TokenProvider for Counting {
        fn access_token<'a>(&'a self, _: &'a str, force_refresh: bool) -> TokenFuture<'a> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let kind = if force_refresh { "fresh" } else { "stale" };
                Ok(Secret::new(format!("{kind}-{n}{}", ".".repeat(self.pad))))
            })
        }
    }

    fn bearer(token: &str) -> String {
        BASE64.encode(format!(
            "n,a=alice,\x01host=mail.example.test\x01port=110\x01auth=Bearer {token}\x01\x01"
        ))
    }

    fn xoauth2(token: &str) -> String {
        BASE64.encode(format!("user=alice\x01auth=Bearer {token}\x01\x01"))
    }

    async fn open(
        provider: Arc<Counting>,
        caps: &str,
        steps: Vec<Step>,
    ) -> (Result<Pop3Session>, Vec<u8>) {
        let mut script = vec![
            send("+OK ready\r\n"),
            expect("CAPA\r\n"),
            send(format!("+OK\r\n{caps}.\r\n")),
        ];
        script.extend(steps);
        let (io, handle) = server(script);
        let meter = WireMeter::new();
        let credential = Credential::oauth2("alice", provider);
        let result = establish(
            BoxedIo::new(io),
            &endpoint(Security::DangerPlaintext),
            &credential,
            &tls(),
            &meter,
            &options(),
        )
        .await;
        let rest = match &result {
            Ok(_) => Vec::new(),
            Err(_) => handle.await.unwrap_or_default(),
        };
        (result, rest)
    }

    /// {"status":"invalid_token"}
    const INVALID_TOKEN: &str = "+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\r\n";

    #[tokio::test]
    async fn oauthbearer_inline_when_short() {
        let provider = Arc::new(Counting::default());
        let (session, _) = open(
            provider.clone(),
            "USER\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n",
            vec![
                expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("stale-1"))),
                send("+OK Logged in.\r\n"),
                expect("CAPA\r\n"),
                send("+OK\r\nUIDL\r\n.\r\n"),
            ],
        )
        .await;
        assert!(session.unwrap().capabilities().has("UIDL"));
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn xoauth2_after_the_empty_challenge_when_the_line_would_be_too_long() {
        let provider = Arc::new(Counting {
            pad: 300,
            ..Counting::default()
        });
        let token = format!("stale-1{}", ".".repeat(300));
        let (session, _) = open(
            provider,
            "SASL XOAUTH2\r\n",
            vec![
                expect("AUTH XOAUTH2\r\n"),
                send("+ \r\n"),
                expect(format!("{}\r\n", xoauth2(&token))),
                send("+OK Logged in.\r\n"),
                expect("CAPA\r\n"),
                send("+OK\r\nUIDL\r\n.\r\n"),
            ],
        )
        .await;
        session.unwrap();
    }

    #[tokio::test]
    async fn a_rejected_token_is_acknowledged_then_refreshed_once() {
        let provider = Arc::new(Counting::default());
        let (session, _) = open(
            provider.clone(),
            "SASL OAUTHBEARER\r\n",
            vec![
                expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("stale-1"))),
                send(INVALID_TOKEN),
                expect("AQ==\r\n"),
                send("-ERR [AUTH] Authentication failed.\r\n"),
                expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("fresh-2"))),
                send("+OK Logged in.\r\n"),
                expect("CAPA\r\n"),
                send("+OK\r\nUIDL\r\n.\r\n"),
            ],
        )
        .await;
        session.unwrap();
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn two_rejections_are_auth_rejected_without_the_token() {
        let provider = Arc::new(Counting::default());
        let (result, rest) = open(
            provider.clone(),
            "SASL XOAUTH2\r\n",
            vec![
                expect(format!("AUTH XOAUTH2 {}\r\n", xoauth2("stale-1"))),
                // {"status":"401","schemes":"bearer","scope":"mail"}
                send("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=\r\n"),
                expect("\r\n"),
                send("-ERR [AUTH] Authentication failed.\r\n"),
                expect(format!("AUTH XOAUTH2 {}\r\n", xoauth2("fresh-2"))),
                send("-ERR [AUTH] Authentication failed.\r\n"),
            ],
        )
        .await;
        let err = result.unwrap_err();
        let Error::AuthRejected { text } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(text, "[AUTH] Authentication failed.");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(
                !shown.contains("stale") && !shown.contains("fresh"),
                "{shown}"
            );
        }
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }

    #[tokio::test]
    async fn the_error_status_joins_the_server_text() {
        let provider = Arc::new(Counting::default());
        let (result, _) = open(
            provider,
            "SASL OAUTHBEARER\r\n",
            vec![
                expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("stale-1"))),
                send(INVALID_TOKEN),
                expect("AQ==\r\n"),
                send("-ERR [AUTH] Authentication failed.\r\n"),
                expect(format!("AUTH OAUTHBEARER {}\r\n", bearer("fresh-2"))),
                send(INVALID_TOKEN),
                expect("AQ==\r\n"),
                send("-ERR [AUTH] Authentication failed.\r\n"),
            ],
        )
        .await;
        assert!(
            matches!(&result, Err(Error::AuthRejected { text })
                if text == "[AUTH] Authentication failed. (OAuth2 status invalid_token)"),
            "{:?}",
            result.map(drop)
        );
    }

    /// Over TLS, APOP is the last resort: SASL PLAIN and USER/PASS come first.
    #[tokio::test]
    async fn apop_only_when_nothing_better_over_tls() {
        let apop = Some(Apop {
            stamp: "<1.2@fake.test>",
            secure: true,
        });
        for (caps, want) in [
            ("SASL PLAIN\r\nUSER\r\n", "AUTH PLAIN AGFsaWNlAHB3\r\n"),
            ("USER\r\n", "USER alice\r\n"),
            // md5("<1.2@fake.test>pw")
            ("TOP\r\n", "APOP alice bfaa9b1a1b08c4358897a981796804ef\r\n"),
        ] {
            let caps = Capabilities::from_lines(caps.split("\r\n").filter(|l| !l.is_empty()));
            let (io, handle) = server(vec![Step::Capture]);
            let mut conn = Conn::new(BoxedIo::new(io), Duration::from_secs(5));
            let _ = tokio::time::timeout(
                Duration::from_millis(300),
                password_login(&mut conn, "alice", "pw", &caps, apop),
            )
            .await;
            drop(conn);
            let sent = handle.await.unwrap();
            assert_eq!(String::from_utf8_lossy(&sent), want);
        }
    }

    #[tokio::test]
    async fn no_oauth_mechanism_asks_for_no_token() {
        let provider = Arc::new(Counting::default());
        let (result, rest) = open(provider.clone(), "USER\r\nSASL PLAIN\r\n", vec![]).await;
        assert!(
            matches!(&result, Err(Error::ServerNo { command, text })
                if command == "login" && text.contains("OAuth2")),
            "{:?}",
            result.map(drop)
        );
        assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
        assert!(rest.is_empty());
    }
}
