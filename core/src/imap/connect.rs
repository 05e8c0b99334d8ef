//! Opening an IMAP session: TCP, TLS (implicit or STARTTLS, never a silent fallback),
//! greeting, login (LOGIN or SASL-IR `AUTHENTICATE PLAIN` with a password, or OAuth2
//! through `auth`), the capabilities of the login's OK (a CAPABILITY command only when it
//! carried none), ENABLE CONDSTORE/QRESYNC (deferred) and COMPRESS=DEFLATE. Command tags run
//! on across STARTTLS and COMPRESS: one connection never reuses a tag. async-imap's reader (our vendored copy)
//! frames every response under the limits here before it is parsed, so a hostile server
//! cannot make it buffer more than they allow or spend more than linear time (see `guard`).

use std::time::Duration;

use async_imap::{Client, imap_proto};
use tracing::debug;

use super::{
    Capabilities, ImapSession,
    auth::{self, OAuthLogin},
    cork,
    guard::{self, Limits},
};
use crate::{
    error::{Error, Result},
    net::{
        BoxedIo, Credential, Endpoint, Io, Purpose, Security, TlsConnector, WireMeter, connect_tcp,
    },
};

/// Knobs for opening a session. Defaults use every extension the server offers.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub timeout: Duration,
    /// Turn on COMPRESS=DEFLATE where offered.
    pub compress: bool,
    /// ENABLE QRESYNC (and CONDSTORE) where offered.
    pub enable_qresync: bool,
    /// The largest literal the server may announce, in bytes. A larger announcement ends
    /// the session with `Error::Protocol` before anything is allocated for it. Body sections
    /// are fetched in chunks far below this.
    pub max_literal: u64,
    /// The longest response line (outside literals) accepted, in bytes.
    pub max_line: usize,
    /// Download parts through BINARY (RFC 3516) where offered; `false` keeps to BODY.PEEK
    /// ranges decoded here (the path before issue 16, for comparison and as a way out).
    pub binary: bool,
    /// How many chunk requests of a download are kept in flight (at least 1: one chunk per
    /// round trip, the path before issue 16).
    pub download_depth: usize,
}

/// Chunk requests of a download in flight by default: with chunks sized to take about 1.5 s
/// each (see `blobs::ChunkSizer`) two keep the link busy; the others cover the first, small
/// chunks on a long round trip.
pub const DEFAULT_DOWNLOAD_DEPTH: usize = 4;

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(30),
            compress: true,
            enable_qresync: true,
            max_literal: crate::limits::IMAP_MAX_LITERAL,
            max_line: crate::limits::IMAP_MAX_LINE,
            binary: true,
            download_depth: DEFAULT_DOWNLOAD_DEPTH,
        }
    }
}

/// Connects, secures, logs in and negotiates extensions. Bytes are counted on `meter`
/// (as `Purpose::Connect` until the session is handed back).
pub async fn connect(
    endpoint: &Endpoint,
    credential: &Credential,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &ConnectOptions,
) -> Result<ImapSession> {
    meter.set_purpose(Purpose::Connect);
    let tcp = connect_tcp(&endpoint.host, endpoint.port, options.timeout).await?;
    establish(meter.wrap(tcp), endpoint, credential, tls, meter, options).await
}

/// STARTTLS on a plaintext `client` whose capabilities offered it, then the TLS handshake:
/// the TLS stream and the tags issued so far (the session continues from them; one
/// connection never reuses a tag).
pub(super) async fn start_tls(
    mut client: Client<BoxedIo>,
    host: &str,
    tls: &TlsConnector,
    timeout: Duration,
) -> Result<(tokio_rustls::client::TlsStream<BoxedIo>, u64)> {
    timed(
        timeout,
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await
    .map_err(|e| map_err("STARTTLS", e))?;
    // The server sends nothing between its STARTTLS OK and the handshake, so no buffered
    // bytes are lost by taking the stream back.
    let issued = client.issued_tags();
    let stream = tls.connect(host, client.into_inner(), timeout).await?;
    Ok((stream, issued))
}

/// [`connect`] over a connection already open to `endpoint` (the robustness tests replay
/// server bytes through it without a socket).
pub(super) async fn establish(
    raw: impl Io + 'static,
    endpoint: &Endpoint,
    credential: &Credential,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &ConnectOptions,
) -> Result<ImapSession> {
    let host = endpoint.host.as_str();
    let limits = Limits {
        max_literal: options.max_literal,
        max_line: options.max_line,
    };

    // Pipelined commands are corked into one write (see `cork`); the switch stays the same
    // through STARTTLS and COMPRESS. The limits stay with the client through COMPRESS.
    let cork = cork::CorkSwitch::default();
    let limited = |io: BoxedIo| {
        let mut client = Client::new(io);
        client.set_limits(limits.response_limits());
        client
    };
    let (client, greeting_caps, greeting) = match endpoint.security {
        Security::ImplicitTls => {
            let stream = tls.connect(host, raw, options.timeout).await?;
            let mut client = limited(cork::corked(BoxedIo::new(stream), &cork));
            let (caps, greeting) = read_greeting(&mut client, options.timeout).await?;
            (client, caps, greeting)
        }
        Security::StartTls => {
            // Never corked: only the TLS session pipelines.
            let mut client = limited(BoxedIo::new(raw));
            let (mut caps, _) = read_greeting(&mut client, options.timeout).await?;
            if caps.is_none() {
                caps = Some(capability_before_login(&mut client, options.timeout).await?);
            }
            if !caps.as_ref().is_some_and(|c| c.has("STARTTLS")) {
                return Err(Error::TlsUnavailable {
                    command: "STARTTLS",
                });
            }
            let (stream, issued) = start_tls(client, host, tls, options.timeout).await?;
            // Capabilities from before TLS are untrusted: ask again, inside TLS. Tags continue
            // (one connection never reuses a tag).
            let mut client = limited(cork::corked(BoxedIo::new(stream), &cork));
            client.continue_tags(issued);
            let caps = capability_before_login(&mut client, options.timeout).await?;
            // The greeting came before TLS: untrusted, so not part of the fingerprint.
            (client, Some(caps), String::new())
        }
        Security::DangerPlaintext => {
            let mut client = limited(cork::corked(BoxedIo::new(raw), &cork));
            let (caps, greeting) = read_greeting(&mut client, options.timeout).await?;
            (client, caps, greeting)
        }
    };
    let (mut session, login_caps) = match credential {
        Credential::Password { username, password } => {
            if let Some(caps) = &greeting_caps
                && caps.has("LOGINDISABLED")
            {
                return Err(Error::ServerNo {
                    command: "LOGIN".into(),
                    text: "the server disables login on this connection (LOGINDISABLED)".into(),
                });
            }
            if auth::plain_with_sasl_ir(greeting_caps.as_ref()) {
                auth::plain(client, username, password, options.timeout).await?
            } else {
                let login = timed(options.timeout, "logging in", async {
                    client
                        .login_with_capabilities(username, password.expose())
                        .await
                        .map_err(|(e, _)| e)
                })
                .await;
                match login {
                    Ok(ok) => ok,
                    Err(async_imap::error::Error::No(text)) => {
                        return Err(Error::AuthRejected {
                            text: redact(&text),
                        });
                    }
                    Err(e) => return Err(map_err("LOGIN", e)),
                }
            }
        }
        Credential::OAuth2 { username, provider } => {
            // The mechanism is chosen from the capabilities before login (LOGINDISABLED
            // concerns LOGIN only); they are asked for only when the greeting had none.
            let mut client = client;
            let caps = match greeting_caps {
                Some(caps) => caps,
                None => capability_before_login(&mut client, options.timeout).await?,
            };
            let login = OAuthLogin {
                username,
                provider: provider.as_ref(),
                host,
                port: endpoint.port,
                timeout: options.timeout,
            };
            auth::authenticate(client, &caps, &login).await?
        }
    };
    // Capabilities can change after login: take the ones the login's OK carried (or an
    // untagged CAPABILITY just before it), and ask only when the server sent none.
    let mut caps = match login_caps {
        Some(c) => Capabilities::from_async_imap(&c),
        None => {
            let c = timed(options.timeout, "CAPABILITY", session.capabilities())
                .await
                .map_err(|e| map_err("CAPABILITY", e))?;
            Capabilities::from_async_imap(&c)
        }
    };
    debug!(capabilities = caps.iter().count(), "logged in");

    // ENABLE is not sent now: it rides in front of the session's first command batch (see
    // `ImapSession::exchange`), which saves a round trip before the first screen. ENABLE of an
    // advertised extension cannot fail short of a broken server, which that batch reports.
    let enable = if !options.enable_qresync {
        None
    } else if caps.has("QRESYNC") {
        Some(vec!["CONDSTORE", "QRESYNC"])
    } else if caps.has("CONDSTORE") {
        Some(vec!["CONDSTORE"])
    } else {
        None
    };
    let mut compressed = false;
    if options.compress && caps.has("COMPRESS=DEFLATE") {
        // Called once the OK is read; async-imap keeps the limits on the new reader.
        let top = cork.clone();
        let deflated = move |stream| cork::corked(BoxedIo::new(stream), &top);
        session = timed(options.timeout, "COMPRESS", session.compress(deflated))
            .await
            .map_err(|e| map_err("COMPRESS", e))?;
        compressed = true;
        // RFC 4978: capabilities do not change, but drop COMPRESS so it is not tried twice.
        caps = Capabilities::from_names(caps.iter().filter(|c| !c.starts_with("COMPRESS=")));
    }
    meter.set_purpose(Purpose::SyncMetadata);
    let fingerprint = super::caps::server_fingerprint(&caps, &greeting);
    Ok(ImapSession::new(
        session,
        caps,
        enable.unwrap_or_default(),
        compressed,
        meter.clone(),
        options.timeout,
        cork,
    )
    .with_fingerprint(fingerprint)
    .with_content_options(options.binary, options.download_depth))
}

/// The greeting's capabilities, if it carried them, and its text (for the server's
/// fingerprint).
pub(super) async fn read_greeting(
    client: &mut Client<BoxedIo>,
    timeout: Duration,
) -> Result<(Option<Capabilities>, String)> {
    let greeting = timed(timeout, "waiting for the greeting", async {
        client.read_response().await.map_err(Into::into)
    })
    .await
    .map_err(|e| map_err("greeting", e))?
    .ok_or(Error::ConnectionClosed)?;
    match greeting.parsed() {
        imap_proto::Response::Data {
            status: imap_proto::Status::Ok,
            outcome,
        } => Ok((
            match &outcome.code {
                Some(imap_proto::ResponseCode::Capabilities(c)) => {
                    Some(Capabilities::from_proto(c))
                }
                _ => None,
            },
            outcome
                .information
                .as_deref()
                .unwrap_or_default()
                .to_string(),
        )),
        imap_proto::Response::Data {
            status: imap_proto::Status::Bye,
            outcome,
        } => Err(Error::ServerNo {
            command: "greeting".into(),
            text: outcome.information.as_deref().unwrap_or("BYE").to_string(),
        }),
        imap_proto::Response::Data {
            status: imap_proto::Status::PreAuth,
            ..
        } => Err(Error::protocol(
            "the server sent PREAUTH before TLS and login; refusing to continue",
        )),
        _ => Err(Error::protocol(
            "the server did not start with an IMAP greeting",
        )),
    }
}

pub(super) async fn capability_before_login(
    client: &mut Client<BoxedIo>,
    timeout: Duration,
) -> Result<Capabilities> {
    // The unauthenticated client hands untagged data only to an unsolicited channel.
    let (tx, rx) = async_channel::unbounded();
    timed(
        timeout,
        "CAPABILITY",
        client.run_command_and_check_ok("CAPABILITY", Some(tx)),
    )
    .await
    .map_err(|e| map_err("CAPABILITY", e))?;
    while let Ok(response) = rx.try_recv() {
        if let async_imap::types::UnsolicitedResponse::Other(data) = response
            && let imap_proto::Response::Capabilities(c) = data.parsed()
        {
            return Ok(Capabilities::from_proto(c));
        }
    }
    Err(Error::protocol(
        "the server answered CAPABILITY without listing capabilities",
    ))
}

/// Runs `fut` with a deadline; a timeout becomes `Error::Timeout`.
pub(super) async fn timed<T, F>(
    timeout: Duration,
    during: &'static str,
    fut: F,
) -> Result<T, async_imap::error::Error>
where
    F: Future<Output = Result<T, async_imap::error::Error>>,
{
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(async_imap::error::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            during,
        ))),
    }
}

/// The one mapping from async-imap's errors to ours. Never includes command arguments
/// (they may hold credentials).
pub(super) fn map_err(command: &str, e: async_imap::error::Error) -> Error {
    use async_imap::error::Error as E;
    match e {
        E::No(text) => Error::ServerNo {
            command: command.into(),
            text: redact(&text),
        },
        E::Bad(text) => Error::ServerBad {
            command: command.into(),
            text: redact(&text),
        },
        E::ConnectionLost => Error::ConnectionClosed,
        E::Io(io) => io_error(command, io),
        E::Parse(p) => Error::protocol(format!(
            "unparsable response to {command}: {}",
            parse_reason(&p)
        )),
        E::Validate(_) => Error::Config {
            reason: format!("{command}: an argument has characters IMAP cannot carry"),
        },
        E::Append => Error::ServerNo {
            command: "APPEND".into(),
            text: "append failed".into(),
        },
        other => Error::protocol(format!("{command}: {other}")),
    }
}

/// An I/O error from the stream under async-imap: the socket's own, the reader's limits,
/// or async-imap's framing errors.
fn io_error(command: &str, io: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    if let Some(v) = guard::violation(&io) {
        return Error::protocol(v);
    }
    match io.kind() {
        K::TimedOut => Error::Timeout {
            during: "waiting for the server",
        },
        K::UnexpectedEof | K::BrokenPipe | K::ConnectionReset | K::ConnectionAborted => {
            Error::ConnectionClosed
        }
        K::Other => {
            // async-imap quotes the whole buffered response in its parse errors (message
            // content): keep only the response's first IMAP words. Its stream is closed for
            // good after this, so the session cannot be used again.
            let text = io.to_string();
            if let Some((_, response)) = text.split_once(" during parsing of ") {
                return Error::protocol(format!(
                    "unparsable response to {command}{}",
                    leading_words(response)
                ));
            }
            if text == "incoming data too large" {
                return Error::protocol(format!("a response to {command} is too large"));
            }
            Error::Io(io)
        }
        _ => Error::Io(io),
    }
}

/// ` (starting "* 12 FETCH")`: up to three leading words of a quoted response that are IMAP
/// syntax (`*`, `+`, numbers, tags, upper-case keywords), never free text.
fn leading_words(quoted: &str) -> String {
    let words: Vec<&str> = quoted
        .trim_start_matches('"')
        .split([' ', '\\'])
        .take(3)
        .take_while(|w| {
            let keyword =
                |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b"-.".contains(&b);
            matches!(*w, "*" | "+") || (!w.is_empty() && w.len() <= 16 && w.bytes().all(keyword))
        })
        .collect();
    if words.is_empty() {
        String::new()
    } else {
        format!(" (starting \"{}\")", words.join(" "))
    }
}

fn parse_reason(p: &async_imap::error::ParseError) -> String {
    use async_imap::error::ParseError as P;
    match p {
        P::Invalid(bytes) => format!("invalid response ({} bytes)", bytes.len()),
        P::Unexpected(s) => format!("unexpected response {}", truncate(s, 120)),
        P::DataNotUtf8(..) => "response is not valid UTF-8".into(),
        other => truncate(&other.to_string(), 160),
    }
}

/// Server text, bounded and stripped of control characters.
pub(super) fn redact(text: &str) -> String {
    truncate(
        &text.chars().filter(|c| !c.is_control()).collect::<String>(),
        300,
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
