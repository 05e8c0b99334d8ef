//! What a server shows before login, for diagnostics (`Engine::doctor`): the greeting, the
//! capabilities before login (inside TLS), and the TLS handshake's details. Read-only: it
//! sends CAPABILITY and LOGOUT, never a credential. Logging in is the ordinary `connect`.

use async_imap::Client;

use super::{
    Capabilities,
    connect::{capability_before_login, read_greeting, start_tls, timed},
    guard::Limits,
};
use crate::{
    error::{Error, Result},
    net::{BoxedIo, Endpoint, Purpose, Security, TlsConnector, TlsDetails, WireMeter, connect_tcp},
};

/// The server before login.
#[derive(Debug, Clone)]
pub struct PreLogin {
    /// The greeting's text (for STARTTLS, the plaintext greeting: untrusted).
    pub greeting: String,
    /// Asked inside TLS (after STARTTLS where that is the security).
    pub capabilities: Capabilities,
    pub tls: Option<TlsDetails>,
}

/// Connects to `endpoint` as `connect` does (same TLS, same timeouts), reads the greeting and
/// the capabilities before login, and logs out. Bytes are counted on `meter`.
pub async fn pre_login(
    endpoint: &Endpoint,
    tls: &TlsConnector,
    meter: &WireMeter,
    options: &super::ConnectOptions,
) -> Result<PreLogin> {
    meter.set_purpose(Purpose::Connect);
    let raw = meter.wrap(connect_tcp(&endpoint.host, endpoint.port, options.timeout).await?);
    let host = endpoint.host.as_str();
    // The same bounds on what the server sends as every session.
    let limited = |io: BoxedIo| {
        let mut client = Client::new(io);
        client.set_limits(
            Limits {
                max_literal: options.max_literal,
                max_line: options.max_line,
            }
            .response_limits(),
        );
        client
    };
    let (mut client, greeting, details) = match endpoint.security {
        Security::ImplicitTls => {
            let stream = tls.connect(host, raw, options.timeout).await?;
            let details = TlsDetails::of(&stream);
            let mut client = limited(BoxedIo::new(stream));
            let (_, greeting) = read_greeting(&mut client, options.timeout).await?;
            (client, greeting, Some(details))
        }
        Security::StartTls => {
            let mut client = limited(BoxedIo::new(raw));
            let (_, greeting) = read_greeting(&mut client, options.timeout).await?;
            let caps = capability_before_login(&mut client, options.timeout).await?;
            if !caps.has("STARTTLS") {
                return Err(Error::TlsUnavailable {
                    command: "STARTTLS",
                });
            }
            let (stream, issued) = start_tls(client, host, tls, options.timeout).await?;
            let details = TlsDetails::of(&stream);
            let mut client = limited(BoxedIo::new(stream));
            client.continue_tags(issued);
            (client, greeting, Some(details))
        }
        Security::DangerPlaintext => {
            let mut client = limited(BoxedIo::new(raw));
            let (_, greeting) = read_greeting(&mut client, options.timeout).await?;
            (client, greeting, None)
        }
    };
    let capabilities = capability_before_login(&mut client, options.timeout).await?;
    // A LOGOUT that fails changes nothing about what was seen.
    let _ = timed(
        options.timeout,
        "LOGOUT",
        client.run_command_and_check_ok("LOGOUT", None),
    )
    .await;
    Ok(PreLogin {
        greeting,
        capabilities,
        tls: details,
    })
}
