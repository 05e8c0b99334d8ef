//! Opening a POP3 session: TCP, TLS (implicit, or STLS — refused rather than skipped when the
//! server does not offer it), greeting, CAPA (asked again inside TLS and after login), and
//! login by SASL PLAIN or USER/PASS. The user name and password are written to the socket and
//! nowhere else: not into errors, not into logs.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use tracing::debug;

use super::{
    Capabilities, Pop3Options, Pop3Session,
    conn::Conn,
    reply::{self, Reply, Verb},
};
use crate::{
    error::{Error, Result},
    net::{BoxedIo, Credential, Endpoint, Purpose, Security, TlsConnector, WireMeter, connect_tcp},
};

/// CAPA answers longer than this are hostile.
const MAX_CAPA_LINES: usize = 256;
const MAX_CAPA_LINE: usize = 1024;

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

    let mechanism = login(&mut conn, credential, &caps).await?;
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

/// Logs in with the best method on offer; returns its name for the log.
async fn login(
    conn: &mut Conn,
    credential: &Credential,
    caps: &Capabilities,
) -> Result<&'static str> {
    let Credential::Password { username, password } = credential;
    let (user, pass) = (username.as_str(), password.expose());
    if [user, pass].iter().any(|s| s.contains(['\r', '\n', '\0'])) {
        return Err(Error::Config {
            reason: "the user name or password contains characters POP3 cannot carry".into(),
        });
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
    // APOP would be next, but it needs MD5, which the core does not carry (and APOP is weak).
    Err(Error::ServerNo {
        command: "login".into(),
        text: "the server offers no login method this client supports (SASL PLAIN, USER/PASS)"
            .into(),
    })
}

/// One login command: `-ERR` becomes `AuthRejected` with the server's (cleaned) text.
async fn auth_step(conn: &mut Conn, line: &[u8], verb: Verb) -> Result<()> {
    conn.write(line, verb).await?;
    match conn.read_reply(verb).await? {
        Reply::Ok(_) => Ok(()),
        Reply::Err(text) => Err(Error::AuthRejected { text }),
    }
}
