//! IMAP login with an OAuth2 bearer token: `AUTHENTICATE OAUTHBEARER` (RFC 7628), else
//! `AUTHENTICATE XOAUTH2`, with the initial response on the command line where the server
//! offers SASL-IR (RFC 4959) and after the empty continuation otherwise. A failed token draws
//! a JSON error challenge, which is acknowledged so that the server sends its final NO; then
//! the app's provider is asked once for a fresh token (`force_refresh`) and the login is tried
//! once more. With a password, where the server offers SASL-IR and `AUTH=PLAIN`,
//! `AUTHENTICATE PLAIN` with its initial response on the command line (one round trip, like
//! LOGIN, but it carries any UTF-8). Both return the capabilities the server sent with its OK
//! (or untagged just before it), so no CAPABILITY command follows. It never logs, and no
//! token, password or command argument reaches an error.

use std::time::Duration;

use async_imap::{Authenticator, Client, Session};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};

use super::{
    Capabilities,
    connect::{map_err, redact},
};
use crate::{
    error::{Error, Result},
    net::{
        BoxedIo, OAuthMechanism, Secret, TokenProvider, check_oauth_username, fetch_access_token,
        oauth_error_status,
    },
};

/// Who logs in, where, and with which token source.
pub(super) struct OAuthLogin<'a> {
    pub username: &'a str,
    pub provider: &'a dyn TokenProvider,
    /// The server's host name and port, which OAUTHBEARER carries.
    pub host: &'a str,
    pub port: u16,
    pub timeout: Duration,
}

/// Logs in with the best OAuth2 mechanism in `caps` (the capabilities before login). At most
/// two AUTHENTICATE commands and two token requests; a second rejection is `AuthRejected`
/// with the server's text.
pub(super) async fn authenticate(
    mut client: Client<BoxedIo>,
    caps: &Capabilities,
    login: &OAuthLogin<'_>,
) -> Result<LoggedIn> {
    let mechanism =
        OAuthMechanism::choose(|m| caps.has(&format!("AUTH={m}"))).ok_or_else(|| {
            Error::ServerNo {
                command: "AUTHENTICATE".into(),
                text: "the server offers no OAuth2 mechanism (AUTH=OAUTHBEARER or AUTH=XOAUTH2)"
                    .into(),
            }
        })?;
    check_oauth_username(login.username)?;
    let sasl_ir = caps.has("SASL-IR");
    let mut rejected = String::new();
    for force_refresh in [false, true] {
        let token =
            fetch_access_token(login.provider, login.username, force_refresh, login.timeout)
                .await?;
        let mut exchange = Exchange {
            mechanism,
            pending: Some(mechanism.initial_response(
                login.username,
                &token,
                login.host,
                login.port,
            )),
            challenges: 0,
            status: None,
        };
        drop(token);
        let command = exchange.command(sasl_ir);
        let attempt = tokio::time::timeout(
            login.timeout,
            client.authenticate_with_capabilities(command.expose(), &mut exchange),
        )
        .await;
        drop(command);
        match attempt {
            Err(_) => {
                return Err(Error::Timeout {
                    during: "logging in",
                });
            }
            Ok(Ok((session, caps))) => return Ok((session, caps)),
            Ok(Err((async_imap::error::Error::No(text), back))) => {
                client = back;
                rejected = match &exchange.status {
                    Some(status) => format!("{} (OAuth2 status {status})", redact(&text)),
                    None => redact(&text),
                };
            }
            Ok(Err((e, _))) => return Err(map_err("AUTHENTICATE", e)),
        }
    }
    Err(Error::AuthRejected { text: rejected })
}

/// A logged-in session and the capabilities announced with the login's OK, if any.
pub(super) type LoggedIn = (Session<BoxedIo>, Option<async_imap::types::Capabilities>);

/// Whether a password login should be `AUTHENTICATE PLAIN` with SASL-IR: one round trip, as
/// LOGIN, when both are offered. Not a way around LOGINDISABLED (refused before this).
pub(super) fn plain_with_sasl_ir(caps: Option<&Capabilities>) -> bool {
    caps.is_some_and(|c| c.has("SASL-IR") && c.has("AUTH=PLAIN"))
}

/// `AUTHENTICATE PLAIN <initial response>` (RFC 4616, RFC 4959): the password never leaves
/// this function but base64-encoded inside the command. A NO is `AuthRejected`, as LOGIN's.
pub(super) async fn plain(
    client: Client<BoxedIo>,
    username: &str,
    password: &Secret,
    timeout: Duration,
) -> Result<LoggedIn> {
    if username.contains('\0') || password.expose().contains('\0') {
        return Err(Error::Config {
            reason: "AUTHENTICATE: an argument has characters IMAP cannot carry".into(),
        });
    }
    let message = Secret::new(format!("\0{username}\0{}", password.expose()));
    let command = Secret::new(format!("PLAIN {}", BASE64.encode(message.expose())));
    let mut exchange = PlainExchange {
        pending: Some(message),
    };
    let attempt = tokio::time::timeout(
        timeout,
        client.authenticate_with_capabilities(command.expose(), &mut exchange),
    )
    .await;
    drop(command);
    match attempt {
        Err(_) => Err(Error::Timeout {
            during: "logging in",
        }),
        Ok(Ok(logged_in)) => Ok(logged_in),
        Ok(Err((async_imap::error::Error::No(text), _))) => Err(Error::AuthRejected {
            text: redact(&text),
        }),
        Ok(Err((e, _))) => Err(map_err("AUTHENTICATE", e)),
    }
}

/// PLAIN after its initial response: a server that still sends an empty challenge gets the
/// initial response once more (it is the same secret to the same server); anything else is
/// answered with an empty response, which ends the exchange.
struct PlainExchange {
    pending: Option<Secret>,
}

impl Authenticator for &mut PlainExchange {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        match self.pending.take() {
            Some(message) if challenge.is_empty() => message.expose().as_bytes().to_vec(),
            _ => Vec::new(),
        }
    }
}

/// One AUTHENTICATE exchange, fed to async-imap's handshake: it answers the empty
/// continuation with the initial response (when SASL-IR was not used) and the error
/// challenge with the mechanism's acknowledgement. Holds the token: no `Debug`.
struct Exchange {
    mechanism: OAuthMechanism,
    /// The initial response, until it is sent.
    pending: Option<Secret>,
    challenges: u32,
    /// The `status` of the server's error challenge, if it sent one.
    status: Option<String>,
}

impl Exchange {
    /// The AUTHENTICATE arguments: the mechanism and, with SASL-IR, the base64 initial
    /// response (which is then no longer pending).
    fn command(&mut self, sasl_ir: bool) -> Secret {
        let name = self.mechanism.name();
        match self.pending.take() {
            Some(initial) if sasl_ir => {
                Secret::new(format!("{name} {}", BASE64.encode(initial.expose())))
            }
            pending => {
                self.pending = pending;
                Secret::new(name)
            }
        }
    }
}

impl Authenticator for &mut Exchange {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Vec<u8> {
        self.challenges += 1;
        if let Some(initial) = self.pending.take() {
            return initial.expose().as_bytes().to_vec();
        }
        // Anything after the initial response is the server's error report (RFC 7628
        // §3.2.2); the token is never sent twice.
        if self.status.is_none() {
            self.status = oauth_error_status(challenge);
        }
        self.mechanism.error_ack().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

    use super::*;
    use crate::net::TokenFuture;

    /// Hands out `stale-N` tokens, or `fresh-N` when asked to refresh; counts the calls.
    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicU32,
        refreshes: AtomicU32,
    }

    impl TokenProvider for Counting {
        fn access_token<'a>(&'a self, _: &'a str, force_refresh: bool) -> TokenFuture<'a> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                if force_refresh {
                    self.refreshes.fetch_add(1, Ordering::SeqCst);
                    Ok(Secret::new(format!("fresh-{n}")))
                } else {
                    Ok(Secret::new(format!("stale-{n}")))
                }
            })
        }
    }

    /// A scripted server: for each client line, the reply lines (tags filled in from the
    /// line). Returns every line the client sent.
    fn server(script: Vec<Step>) -> (DuplexStream, tokio::task::JoinHandle<Vec<String>>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let handle = tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(server);
            let mut lines = BufReader::new(read).lines();
            let mut seen = Vec::new();
            let mut tag = String::new();
            for (expect, replies) in script {
                let Ok(Some(line)) = lines.next_line().await else {
                    break;
                };
                if !line.starts_with(' ') && line.contains(" AUTHENTICATE ") {
                    tag = line.split(' ').next().unwrap_or_default().to_string();
                }
                assert!(line.contains(&expect), "expected {expect:?}, got {line:?}");
                seen.push(line);
                for reply in replies {
                    let reply = reply.replace("TAG", &tag);
                    write
                        .write_all(format!("{reply}\r\n").as_bytes())
                        .await
                        .unwrap();
                }
            }
            seen
        });
        (client, handle)
    }

    /// What the client's next line must contain, and the server's answer to it.
    type Step = (String, Vec<&'static str>);

    fn step(expect: impl Into<String>, replies: &[&'static str]) -> Step {
        (expect.into(), replies.to_vec())
    }

    fn caps(names: &[&str]) -> Capabilities {
        Capabilities::from_names(names)
    }

    async fn run(
        caps: &Capabilities,
        script: Vec<Step>,
        provider: &Counting,
    ) -> (Result<()>, Vec<String>) {
        let (io, handle) = server(script);
        let client = Client::new(BoxedIo::new(io));
        let login = OAuthLogin {
            username: "alice",
            provider,
            host: "imap.example.test",
            port: 993,
            timeout: Duration::from_secs(5),
        };
        let result = authenticate(client, caps, &login).await.map(drop);
        (result, handle.await.unwrap())
    }

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    #[tokio::test]
    async fn oauthbearer_with_sasl_ir_in_one_round_trip() {
        let provider = Counting::default();
        let caps = caps(&["IMAP4rev1", "SASL-IR", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"]);
        let ir =
            b64("n,a=alice,\x01host=imap.example.test\x01port=993\x01auth=Bearer stale-1\x01\x01");
        let expected = format!("AUTHENTICATE OAUTHBEARER {ir}");
        let (result, seen) = run(
            &caps,
            vec![step(expected, &["TAG OK Logged in"])],
            &provider,
        )
        .await;
        result.unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn xoauth2_without_sasl_ir_answers_the_continuation() {
        let provider = Counting::default();
        let caps = caps(&["IMAP4rev1", "AUTH=PLAIN", "AUTH=XOAUTH2"]);
        let ir = b64("user=alice\x01auth=Bearer stale-1\x01\x01");
        let (result, seen) = run(
            &caps,
            vec![
                step("AUTHENTICATE XOAUTH2", &["+ "]),
                step(ir.clone(), &["TAG OK Logged in"]),
            ],
            &provider,
        )
        .await;
        result.unwrap();
        assert!(seen[0].ends_with("AUTHENTICATE XOAUTH2"), "{seen:?}");
        assert_eq!(seen[1], ir);
    }

    #[tokio::test]
    async fn rejection_acknowledges_the_error_and_retries_once_with_a_fresh_token() {
        let provider = Counting::default();
        let caps = caps(&["IMAP4rev1", "SASL-IR", "AUTH=OAUTHBEARER"]);
        // {"status":"invalid_token"}
        let (result, seen) = run(
            &caps,
            vec![
                step(
                    "AUTHENTICATE OAUTHBEARER ",
                    &["+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0="],
                ),
                step(
                    "AQ==",
                    &["TAG NO [AUTHENTICATIONFAILED] Authentication failed."],
                ),
                step("AUTHENTICATE OAUTHBEARER ", &["TAG OK Logged in"]),
            ],
            &provider,
        )
        .await;
        result.unwrap();
        assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
        assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
        let second = BASE64.decode(seen[2].rsplit(' ').next().unwrap()).unwrap();
        assert!(String::from_utf8_lossy(&second).contains("auth=Bearer fresh-2\x01"));
    }

    #[tokio::test]
    async fn two_rejections_are_auth_rejected_with_the_status_but_no_token() {
        let provider = Counting::default();
        let caps = caps(&["IMAP4rev1", "AUTH=XOAUTH2"]);
        // {"status":"401","schemes":"bearer","scope":"mail"}
        let challenge = "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0=";
        let (result, seen) = run(
            &caps,
            vec![
                step("AUTHENTICATE XOAUTH2", &["+ "]),
                step("", &[challenge]),
                step(
                    "",
                    &["TAG NO [AUTHENTICATIONFAILED] Authentication failed."],
                ),
                step("AUTHENTICATE XOAUTH2", &["+ "]),
                step("", &[challenge]),
                step(
                    "",
                    &["TAG NO [AUTHENTICATIONFAILED] Authentication failed."],
                ),
            ],
            &provider,
        )
        .await;
        let err = result.unwrap_err();
        let Error::AuthRejected { text } = &err else {
            panic!("{err:?}")
        };
        assert!(
            text.contains("Authentication failed.") && text.contains("status 401"),
            "{text}"
        );
        // The error acknowledgement of XOAUTH2 is an empty line.
        assert_eq!(seen[2], "");
        assert_eq!(seen[5], "");
        assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(
                !shown.contains("stale") && !shown.contains("fresh"),
                "{shown}"
            );
        }
    }

    #[tokio::test]
    async fn no_oauth_mechanism_is_a_clear_error_before_asking_for_a_token() {
        let provider = Counting::default();
        let caps = caps(&["IMAP4rev1", "SASL-IR", "AUTH=PLAIN"]);
        let (result, seen) = run(&caps, vec![], &provider).await;
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::ServerNo { command, text } if command == "AUTHENTICATE" && text.contains("OAuth2")),
            "{err:?}"
        );
        assert!(seen.is_empty());
        assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn provider_errors_end_the_login_unchanged() {
        #[derive(Debug)]
        struct Revoked;
        impl TokenProvider for Revoked {
            fn access_token<'a>(&'a self, _: &'a str, _: bool) -> TokenFuture<'a> {
                Box::pin(async { Err(Error::NoCredential) })
            }
        }
        let (io, handle) = server(vec![]);
        let login = OAuthLogin {
            username: "alice",
            provider: &Revoked,
            host: "h",
            port: 1,
            timeout: Duration::from_secs(5),
        };
        let caps = caps(&["AUTH=OAUTHBEARER"]);
        let err = authenticate(Client::new(BoxedIo::new(io)), &caps, &login)
            .await
            .map(drop)
            .unwrap_err();
        assert!(matches!(err, Error::NoCredential), "{err:?}");
        assert!(handle.await.unwrap().is_empty());
    }
}
