//! Opening an SMTP submission session: TCP, TLS (implicit, or STARTTLS — refused rather than
//! skipped when the server does not offer it or refuses it), greeting, EHLO (again inside
//! TLS: the list from before TLS is never trusted), AUTH PLAIN with a password or
//! OAUTHBEARER / XOAUTH2 with a token from the app's provider, and the EHLO after AUTH where
//! the server announced BURL (Dovecot names the IMAP authority it fetches from only there).
//! The user name, password and token are written to the socket and nowhere else.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use tracing::debug;

use super::{
    SmtpCaps, SmtpOptions, SmtpSession,
    conn::Conn,
    reply::{Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::{
        BoxedIo, Credential, Endpoint, OAuthMechanism, Purpose, Secret, Security, TlsConnector,
        TokenProvider, WireMeter, check_oauth_username, connect_tcp, fetch_access_token,
        oauth_error_status,
    },
};

/// The name the client gives in EHLO/HELO: an address literal that says nothing about the
/// device (its host name would identify it to every server it submits to).
pub const EHLO_NAME: &str = "[127.0.0.1]";
/// RFC 4954 §4: a server accepts an AUTH command line of at least 12,288 octets. A longer
/// initial response goes after the server's empty challenge instead.
const MAX_AUTH_LINE: usize = 12_288;

/// Connects, secures, reads the greeting and capabilities, and logs in. Every byte is
/// counted on `meter` below TLS, as `Purpose::Send`.
pub async fn connect(
    endpoint: &Endpoint,
    credential: &Credential,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &SmtpOptions,
) -> Result<SmtpSession> {
    meter.set_purpose(Purpose::Send);
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
    options: &SmtpOptions,
) -> Result<SmtpSession> {
    meter.set_purpose(Purpose::Send);
    let host = endpoint.host.as_str();
    let timeout = options.timeout;
    let (mut conn, caps, secure) = match endpoint.security {
        Security::ImplicitTls => {
            let stream = tls.connect(host, raw, timeout).await?;
            let mut conn = Conn::new(BoxedIo::new(stream), timeout);
            greeting(&mut conn).await?;
            let caps = hello(&mut conn).await?;
            (conn, caps, true)
        }
        Security::StartTls => {
            let mut conn = Conn::new(raw, timeout);
            greeting(&mut conn).await?;
            let plain_caps = hello(&mut conn).await?;
            if !plain_caps.starttls {
                return Err(Error::TlsUnavailable {
                    command: "STARTTLS",
                });
            }
            conn.write(b"STARTTLS\r\n", Verb::StartTls).await?;
            let reply = conn.read_reply(Verb::StartTls).await?;
            if reply.code != 220 {
                return Err(Error::TlsUnavailable {
                    command: "STARTTLS",
                });
            }
            if !conn.buffered().is_empty() {
                // Bytes after the 220 would be read as if they came through TLS.
                return Err(Error::protocol(
                    "the SMTP server sent data after accepting STARTTLS; refusing to continue",
                ));
            }
            let stream = tls.connect(host, conn.into_inner(), timeout).await?;
            let mut conn = Conn::new(BoxedIo::new(stream), timeout);
            // RFC 3207 §4.2: forget what was learnt before TLS and ask again.
            let caps = hello(&mut conn).await?;
            (conn, caps, true)
        }
        Security::DangerPlaintext => {
            let mut conn = Conn::new(raw, timeout);
            greeting(&mut conn).await?;
            let caps = hello(&mut conn).await?;
            (conn, caps, false)
        }
    };

    // Dovecot announces the authority BURL fetches from only after AUTH (LEMONADE.md, quirk
    // 2); other servers may change their list too. Asked only where it can matter.
    let ehlo_after = caps.burl.is_some();
    let (mechanism, after) = login(&mut conn, credential, &caps, endpoint, ehlo_after).await?;
    let caps = match (mechanism, after) {
        (Some(_), Some(after)) => after.unwrap_or(caps),
        (Some(_), None) if ehlo_after => ehlo(&mut conn).await?.unwrap_or(caps),
        _ => caps,
    };
    debug!(
        mechanism = mechanism.unwrap_or("none"),
        tls = secure,
        pipelining = caps.pipelining,
        burl = caps.burl.is_some(),
        "SMTP session ready"
    );
    Ok(SmtpSession::new(conn, caps, meter.clone(), options.clone()))
}

/// The greeting: 220, else the server turned us away (554, or 421 for "try later").
async fn greeting(conn: &mut Conn) -> Result<()> {
    let reply = conn.read_reply(Verb::Greeting).await?;
    if reply.code == 220 {
        Ok(())
    } else {
        Err(rejected(Verb::Greeting, &reply))
    }
}

/// EHLO, or HELO where EHLO is refused as unknown (then no extension is used).
async fn hello(conn: &mut Conn) -> Result<SmtpCaps> {
    if let Some(caps) = ehlo(conn).await? {
        return Ok(caps);
    }
    conn.write(format!("HELO {EHLO_NAME}\r\n").as_bytes(), Verb::Helo)
        .await?;
    let reply = conn.read_reply(Verb::Helo).await?;
    if !reply.is_positive() {
        return Err(rejected(Verb::Helo, &reply));
    }
    Ok(SmtpCaps::default())
}

/// EHLO: the capabilities, `None` when the server refuses it permanently (an old server that
/// only knows HELO), an error when it refuses it for now.
async fn ehlo(conn: &mut Conn) -> Result<Option<SmtpCaps>> {
    conn.write(format!("EHLO {EHLO_NAME}\r\n").as_bytes(), Verb::Ehlo)
        .await?;
    ehlo_reply(conn).await
}

/// The reply to an EHLO already written.
async fn ehlo_reply(conn: &mut Conn) -> Result<Option<SmtpCaps>> {
    let reply = conn.read_reply(Verb::Ehlo).await?;
    match reply.code {
        250 => Ok(Some(SmtpCaps::from_ehlo(&reply))),
        500..=599 => Ok(None),
        _ => Err(rejected(Verb::Ehlo, &reply)),
    }
}

/// A refusal as `SmtpRejected`.
pub(super) fn rejected(verb: Verb, reply: &Reply) -> Error {
    Error::SmtpRejected {
        stage: verb.name(),
        code: reply.code,
        enhanced: reply.enhanced.clone(),
        text: reply.text(),
        permanent: reply.is_permanent(),
    }
}

/// What a login did: the mechanism's name (`None` where the server offers no AUTH), and the
/// answer to an EHLO pipelined behind the AUTH, if one was.
type LoggedIn = (Option<&'static str>, Option<Option<SmtpCaps>>);

/// Logs in with what the credential needs; returns the mechanism's name, or `None` where the
/// server offers no AUTH at all (a relay that takes mail without it, such as a submission
/// service on the same host; one that wants AUTH after all refuses MAIL FROM with 530).
/// With `ehlo_after` and PIPELINING, the EHLO after AUTH PLAIN rides in the same write (RFC
/// 4954 §4 allows it for a mechanism that completes in one round trip, as PLAIN with its
/// initial response does): one round trip less.
async fn login(
    conn: &mut Conn,
    credential: &Credential,
    caps: &SmtpCaps,
    endpoint: &Endpoint,
    ehlo_after: bool,
) -> Result<LoggedIn> {
    if caps.auth.is_empty() {
        return Ok((None, None));
    }
    let offered = |m: &str| caps.auth.iter().any(|a| a == m);
    match credential {
        Credential::Password { username, password } => {
            if !offered("PLAIN") {
                return Err(Error::Unsupported {
                    what: "SMTP AUTH PLAIN (the server offers other mechanisms only)",
                });
            }
            let (user, pass) = (username.as_str(), password.expose());
            if [user, pass].iter().any(|s| s.contains(['\r', '\n', '\0'])) {
                return Err(Error::Config {
                    reason: "the user name or password contains characters SMTP AUTH PLAIN \
                             cannot carry"
                        .into(),
                });
            }
            let pipelined = ehlo_after && caps.pipelining;
            let line = Secret::new(format!(
                "AUTH PLAIN {}\r\n{}",
                BASE64.encode(format!("\0{user}\0{pass}")),
                if pipelined {
                    format!("EHLO {EHLO_NAME}\r\n")
                } else {
                    String::new()
                }
            ));
            conn.write(line.expose().as_bytes(), Verb::Auth).await?;
            drop(line);
            let reply = conn.read_reply(Verb::Auth).await?;
            match reply.code {
                235 if pipelined => Ok((Some("PLAIN"), Some(ehlo_reply(conn).await?))),
                235 => Ok((Some("PLAIN"), None)),
                334 => Err(Error::protocol(
                    "the SMTP server asked for more after AUTH PLAIN with an initial response",
                )),
                500..=599 => Err(Error::AuthRejected { text: reply.text() }),
                400..=499 => Err(rejected(Verb::Auth, &reply)),
                code => Err(Error::protocol(format!(
                    "the SMTP server answered AUTH with {code}"
                ))),
            }
        }
        Credential::OAuth2 { username, provider } => {
            let Some(mechanism) = OAuthMechanism::choose(offered) else {
                return Err(Error::Unsupported {
                    what: "SMTP AUTH OAUTHBEARER or XOAUTH2 (the server offers neither)",
                });
            };
            oauth2_login(conn, username, provider.as_ref(), mechanism, endpoint).await?;
            Ok((Some(mechanism.name()), None))
        }
    }
}

/// OAUTHBEARER or XOAUTH2 with a token from the app's provider. A rejected token is
/// acknowledged, the provider is asked once for a fresh one (`force_refresh`) and AUTH tried
/// once more; a second rejection is `AuthRejected`. A 4xx ("try later") is not a rejected
/// token: it ends the login as `SmtpRejected` without asking for another.
async fn oauth2_login(
    conn: &mut Conn,
    username: &str,
    provider: &dyn TokenProvider,
    mechanism: OAuthMechanism,
    endpoint: &Endpoint,
) -> Result<()> {
    check_oauth_username(username)?;
    let mut refused = String::new();
    for force_refresh in [false, true] {
        let token = fetch_access_token(provider, username, force_refresh, conn.timeout).await?;
        let response = Secret::new(
            BASE64.encode(
                mechanism
                    .initial_response(username, &token, &endpoint.host, endpoint.port)
                    .expose(),
            ),
        );
        drop(token);
        match sasl_exchange(conn, mechanism, &response).await? {
            None => return Ok(()),
            Some(text) => refused = text,
        }
    }
    Err(Error::AuthRejected { text: refused })
}

/// One AUTH with a base64 initial response (inline, or after an empty 334 when too long).
/// Answers an error challenge with the mechanism's acknowledgement. `None` on 235, the
/// server's text (with the OAuth2 status, if it sent one) on a 5xx.
async fn sasl_exchange(
    conn: &mut Conn,
    mechanism: OAuthMechanism,
    response: &Secret,
) -> Result<Option<String>> {
    let name = mechanism.name();
    let inline = Secret::new(format!("AUTH {name} {}\r\n", response.expose()));
    if inline.expose().len() <= MAX_AUTH_LINE {
        conn.write(inline.expose().as_bytes(), Verb::Auth).await?;
    } else {
        conn.write(format!("AUTH {name}\r\n").as_bytes(), Verb::Auth)
            .await?;
        let reply = conn.read_reply(Verb::Auth).await?;
        if reply.code != 334 {
            return finish_auth(&reply, None);
        }
        let line = Secret::new(format!("{}\r\n", response.expose()));
        conn.write(line.expose().as_bytes(), Verb::Auth).await?;
    }
    drop(inline);
    let mut status = None;
    let mut challenged = false;
    loop {
        let reply = conn.read_reply(Verb::Auth).await?;
        if reply.code != 334 {
            return finish_auth(&reply, status);
        }
        if challenged {
            return Err(Error::protocol(
                "the SMTP server sent a second OAuth2 error challenge",
            ));
        }
        // The server's error report (RFC 7628 §3.2.2); the token is never sent twice.
        challenged = true;
        let challenge = reply.lines.first().map(String::as_str).unwrap_or_default();
        status = BASE64
            .decode(challenge.trim())
            .ok()
            .and_then(|json| oauth_error_status(&json));
        let mut ack = BASE64.encode(mechanism.error_ack()).into_bytes();
        ack.extend_from_slice(b"\r\n");
        conn.write(&ack, Verb::Auth).await?;
    }
}

/// The final reply to AUTH: 235 is success, a 5xx a rejection (its text returned), a 4xx a
/// temporary failure (`SmtpRejected`), anything else a protocol error.
fn finish_auth(reply: &Reply, status: Option<String>) -> Result<Option<String>> {
    match reply.code {
        235 => Ok(None),
        500..=599 => {
            let text = reply.text();
            Ok(Some(match status {
                Some(status) => format!("{text} (OAuth2 status {status})"),
                None => text,
            }))
        }
        400..=499 => Err(rejected(Verb::Auth, reply)),
        code => Err(Error::protocol(format!(
            "the SMTP server answered AUTH with {code}"
        ))),
    }
}
