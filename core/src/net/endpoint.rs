//! Where and how to reach a server, and the credential to present: a password, or an OAuth2
//! access token that the app's [`TokenProvider`] hands over when asked. Also the SASL
//! encodings of a bearer token (OAUTHBEARER, XOAUTH2) that IMAP and POP3 share. `Debug`
//! never shows a secret, no error built here carries one, and nothing here logs.

use std::{fmt, pin::Pin, sync::Arc, time::Duration};

use super::Security;
use crate::error::{Error, Result};

/// A server address and its security mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// A secret string (password or token). Its `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself. Call only at the point of sending it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What [`TokenProvider::access_token`] returns. Boxed so that the trait stays object-safe
/// (`Arc<dyn TokenProvider>`) and can later be implemented by a foreign (Kotlin, Swift) object.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret>> + Send + 'a>>;

/// The app's source of OAuth2 access tokens. The engine never sees a refresh token or a
/// client secret: it asks for an access token each time it logs in, and says when the last
/// one was rejected.
///
/// ```
/// use anvert_core::net::{Secret, TokenFuture, TokenProvider};
///
/// #[derive(Debug)]
/// struct Keychain;
///
/// impl TokenProvider for Keychain {
///     fn access_token<'a>(&'a self, _username: &'a str, force_refresh: bool) -> TokenFuture<'a> {
///         Box::pin(async move {
///             // A real app returns its cached token, or refreshes it when asked to.
///             Ok(Secret::new(if force_refresh { "fresh" } else { "cached" }))
///         })
///     }
/// }
/// ```
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// An access token for `username`. `force_refresh` is true when the server has just
    /// rejected the token this provider handed out last: the provider must not return it
    /// again from a cache, but refresh it (or fail). The engine asks at most twice per login:
    /// once normally and, after a rejection, once with `force_refresh`.
    ///
    /// An error returned here ends the login and reaches the caller unchanged; it must not
    /// carry the token or the refresh token. A provider that cannot produce a token returns
    /// [`Error::TokenUnavailable`](crate::Error::TokenUnavailable) with the kind of failure
    /// (`Network` when its token endpoint is unreachable, `Auth` when the user must sign in
    /// again), so that an app is not told to re-login over a network failure.
    fn access_token<'a>(&'a self, username: &'a str, force_refresh: bool) -> TokenFuture<'a>;
}

/// What an account authenticates with.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// A password for LOGIN / AUTHENTICATE PLAIN / USER+PASS.
    Password { username: String, password: Secret },
    /// An OAuth2 access token from the app's provider, presented with SASL OAUTHBEARER
    /// (RFC 7628) or, where the server offers only that, XOAUTH2.
    OAuth2 {
        username: String,
        provider: Arc<dyn TokenProvider>,
    },
}

impl Credential {
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential::Password {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    pub fn oauth2(username: impl Into<String>, provider: Arc<dyn TokenProvider>) -> Self {
        Credential::OAuth2 {
            username: username.into(),
            provider,
        }
    }

    /// The user name this credential authenticates as.
    pub fn username(&self) -> &str {
        match self {
            Credential::Password { username, .. } | Credential::OAuth2 { username, .. } => username,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password { username, password } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", password)
                .finish(),
            // The provider is the app's object: its Debug is not ours to trust with secrets.
            Credential::OAuth2 { username, .. } => f
                .debug_struct("OAuth2")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

/// Passwords compare by value; OAuth2 credentials by user name and provider identity.
impl PartialEq for Credential {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Credential::Password { username, password },
                Credential::Password {
                    username: u,
                    password: p,
                },
            ) => username == u && password == p,
            (
                Credential::OAuth2 { username, provider },
                Credential::OAuth2 {
                    username: u,
                    provider: p,
                },
            ) => username == u && std::ptr::addr_eq(Arc::as_ptr(provider), Arc::as_ptr(p)),
            _ => false,
        }
    }
}

impl Eq for Credential {}

/// The SASL mechanisms that carry an OAuth2 bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OAuthMechanism {
    /// RFC 7628, the standard one.
    OAuthBearer,
    /// Google's and Microsoft's older mechanism.
    XOAuth2,
}

impl OAuthMechanism {
    /// The SASL name, as in `AUTH=…` (IMAP) and the `SASL` CAPA line (POP3).
    pub(crate) fn name(self) -> &'static str {
        match self {
            OAuthMechanism::OAuthBearer => "OAUTHBEARER",
            OAuthMechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// The best mechanism that `offered` (called with a SASL name) says the server has:
    /// OAUTHBEARER, else XOAUTH2.
    pub(crate) fn choose(offered: impl Fn(&str) -> bool) -> Option<Self> {
        [OAuthMechanism::OAuthBearer, OAuthMechanism::XOAuth2]
            .into_iter()
            .find(|m| offered(m.name()))
    }

    /// The client's first message, before base64: RFC 7628 §3.1 for OAUTHBEARER
    /// (`n,a=user,^Ahost=…^Aport=…^Aauth=Bearer token^A^A`), Google's format for XOAUTH2
    /// (`user=…^Aauth=Bearer token^A^A`). Call [`check_oauth_username`] first.
    pub(crate) fn initial_response(
        self,
        username: &str,
        token: &Secret,
        host: &str,
        port: u16,
    ) -> Secret {
        let token = token.expose();
        Secret::new(match self {
            OAuthMechanism::OAuthBearer => {
                // RFC 5801 saslname: ',' and '=' are escaped.
                let user = username.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01")
            }
            OAuthMechanism::XOAuth2 => format!("user={username}\x01auth=Bearer {token}\x01\x01"),
        })
    }

    /// The client's answer to the server's error challenge, before base64, after which the
    /// server sends its final failure: a single `^A` for OAUTHBEARER (RFC 7628 §3.2.3), an
    /// empty response for XOAUTH2.
    pub(crate) fn error_ack(self) -> &'static [u8] {
        match self {
            OAuthMechanism::OAuthBearer => b"\x01",
            OAuthMechanism::XOAuth2 => b"",
        }
    }
}

/// Checks that `username` fits into an OAuth2 SASL message (no control characters, which
/// would break its `^A` framing). The error does not repeat the name.
pub(crate) fn check_oauth_username(username: &str) -> Result<()> {
    if username.is_empty() || username.chars().any(char::is_control) {
        return Err(Error::Config {
            reason: "the user name is empty or has control characters; it cannot be sent with \
                     OAuth2"
                .into(),
        });
    }
    Ok(())
}

/// Asks the app's provider for an access token within `timeout`, and checks that it can be
/// carried as a bearer token (non-empty, no spaces or control characters). The provider's own
/// error is passed on unchanged.
pub(crate) async fn fetch_access_token(
    provider: &dyn TokenProvider,
    username: &str,
    force_refresh: bool,
    timeout: Duration,
) -> Result<Secret> {
    let token = tokio::time::timeout(timeout, provider.access_token(username, force_refresh))
        .await
        .map_err(|_| Error::Timeout {
            during: "waiting for the app's OAuth2 access token",
        })??;
    let text = token.expose();
    if text.is_empty() || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::Config {
            reason: "the app's OAuth2 access token is empty or has spaces or control characters"
                .into(),
        });
    }
    Ok(token)
}

/// The `status` of a server's OAuth2 error challenge (the decoded JSON of RFC 7628 §3.2.2,
/// e.g. `invalid_token`, or `401` from XOAUTH2 servers), cleaned for an error message.
pub(crate) fn oauth_error_status(challenge: &[u8]) -> Option<String> {
    // Typed, from text: the store's JSON already links serde_json's text reader; a `Value`
    // from bytes would link a second reader and the map type for one field.
    let text = std::str::from_utf8(challenge).ok()?;
    let status = serde_json::from_str::<Challenge>(text).ok()?.status?.0;
    let status: String = status
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(40)
        .collect();
    (!status.is_empty()).then_some(status)
}

/// The one field of an OAuth2 error challenge Anvert reads; the others are skipped.
#[derive(serde::Deserialize)]
struct Challenge {
    #[serde(default)]
    status: Option<Status>,
}

/// A challenge's `status`: a string, or a number (XOAUTH2 servers send `401`) as text. Any
/// other JSON type fails the challenge's parse, which reads as no status.
struct Status(String);

impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Status, E> {
                Ok(Status(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Status, E> {
                Ok(Status(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Status, E> {
                Ok(Status(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Status, E> {
                Ok(Status(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(&'static str);

    impl TokenProvider for Fixed {
        fn access_token<'a>(&'a self, _: &'a str, _: bool) -> TokenFuture<'a> {
            Box::pin(async move { Ok(Secret::new(self.0)) })
        }
    }

    #[test]
    fn oauthbearer_initial_response_follows_rfc7628() {
        let token = Secret::new("vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        let ir = OAuthMechanism::OAuthBearer.initial_response(
            "user@example.com",
            &token,
            "server.example.com",
            143,
        );
        // RFC 7628 §4.1, with the optional authzid this client always sends.
        assert_eq!(
            ir.expose(),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01\
             auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let escaped = OAuthMechanism::OAuthBearer.initial_response("a,b=c", &token, "h", 1);
        assert!(escaped.expose().starts_with("n,a=a=2Cb=3Dc,\x01"));
    }

    #[test]
    fn xoauth2_initial_response() {
        let ir = OAuthMechanism::XOAuth2.initial_response(
            "someuser@example.com",
            &Secret::new("ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            "imap.example.com",
            993,
        );
        assert_eq!(
            ir.expose(),
            "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        assert_eq!(OAuthMechanism::XOAuth2.error_ack(), b"");
        assert_eq!(OAuthMechanism::OAuthBearer.error_ack(), b"\x01");
    }

    #[test]
    fn mechanism_preference() {
        let both = |m: &str| m == "XOAUTH2" || m == "OAUTHBEARER";
        assert_eq!(
            OAuthMechanism::choose(both),
            Some(OAuthMechanism::OAuthBearer)
        );
        assert_eq!(
            OAuthMechanism::choose(|m| m == "XOAUTH2"),
            Some(OAuthMechanism::XOAuth2)
        );
        assert_eq!(OAuthMechanism::choose(|m| m == "PLAIN"), None);
    }

    #[test]
    fn error_status_is_extracted_and_cleaned() {
        assert_eq!(
            oauth_error_status(br#"{"status":"invalid_token","schemes":"bearer"}"#).as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            oauth_error_status(br#"{"status":401}"#).as_deref(),
            Some("401")
        );
        assert_eq!(
            oauth_error_status(br#"{"status":"bad\u001b[2J <script>"}"#).as_deref(),
            Some("bad2Jscript")
        );
        assert_eq!(oauth_error_status(b"not json"), None);
        assert_eq!(oauth_error_status(br#"{"scope":"mail"}"#), None);
    }

    #[test]
    fn debug_and_equality_never_need_the_secret() {
        let provider: Arc<dyn TokenProvider> = Arc::new(Fixed("tok-SECRET"));
        let a = Credential::oauth2("alice", provider.clone());
        let shown = format!("{a:?}");
        assert_eq!(shown, r#"OAuth2 { username: "alice", .. }"#);
        assert_eq!(a.username(), "alice");
        assert_eq!(a, Credential::oauth2("alice", provider));
        assert_ne!(
            a,
            Credential::oauth2("alice", Arc::new(Fixed("tok-SECRET")))
        );
        let p = Credential::password("bob", "pw-SECRET");
        assert!(!format!("{p:?}").contains("SECRET"));
        assert_eq!(p, Credential::password("bob", "pw-SECRET"));
        assert_ne!(p, a);
    }

    #[tokio::test]
    async fn tokens_that_cannot_be_carried_are_refused_without_echo() {
        let t = Duration::from_secs(1);
        assert!(
            fetch_access_token(&Fixed("ok.token"), "u", false, t)
                .await
                .is_ok()
        );
        for bad in ["", "two words", "line\r\nbreak", "ctl\x01"] {
            let err = fetch_access_token(&Fixed(bad), "u", false, t)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{err:?}");
        }
        assert!(check_oauth_username("alice@example.com").is_ok());
        assert!(check_oauth_username("al\x01ice").is_err());
        assert!(check_oauth_username("").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_that_never_answers_times_out() {
        #[derive(Debug)]
        struct Never;
        impl TokenProvider for Never {
            fn access_token<'a>(&'a self, _: &'a str, _: bool) -> TokenFuture<'a> {
                Box::pin(std::future::pending())
            }
        }
        let err = fetch_access_token(&Never, "u", false, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    }
}
