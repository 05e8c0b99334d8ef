//! Where and how to reach a server, and the credential to present. `Debug` never shows a
//! secret.

use std::fmt;

use super::Security;

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

/// What an account authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// A password for LOGIN / AUTHENTICATE PLAIN / USER+PASS.
    Password { username: String, password: Secret },
}

impl Credential {
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credential::Password {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}
