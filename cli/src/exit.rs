//! Exit statuses, one per kind of failure a script can act on, mapped from the engine's
//! typed errors (never from message text): 0 ok, 1 error, 2 usage, 3 authentication, 4 TLS,
//! 5 network, 130 interrupted. Clap's own usage errors exit 2 as well.

use std::fmt;

use anvert_core::{Error, error::TokenFailure};

pub const ERROR: u8 = 1;
pub const USAGE: u8 = 2;
pub const AUTH: u8 = 3;
pub const TLS: u8 = 4;
pub const NETWORK: u8 = 5;
pub const INTERRUPTED: u8 = 130;

/// A command line the CLI refuses before asking the engine (a bad flag name, a folder that
/// does not exist): exit 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// `Err(Usage)` as an `anyhow::Error`.
pub fn usage<T>(text: impl Into<String>) -> anyhow::Result<T> {
    Err(Usage(text.into()).into())
}

/// The kind of a failure, as named in `--json` error documents and the README.
pub fn kind(e: &anyhow::Error) -> &'static str {
    match code(e) {
        USAGE => "usage",
        AUTH => "authentication",
        TLS => "tls",
        NETWORK => "network",
        INTERRUPTED => "interrupted",
        _ => "error",
    }
}

/// The exit status for an error: the first engine error (or usage error) in its chain
/// decides; anything else is 1.
pub fn code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.downcast_ref::<Usage>().is_some() {
            return USAGE;
        }
        if let Some(engine) = cause.downcast_ref::<Error>() {
            return engine_code(engine);
        }
    }
    ERROR
}

fn engine_code(e: &Error) -> u8 {
    match e {
        Error::AuthRejected { .. }
        | Error::NoCredential
        | Error::TokenUnavailable {
            kind: TokenFailure::Auth,
            ..
        } => AUTH,
        Error::Tls { .. } | Error::TlsUnavailable { .. } | Error::PlaintextRefused => TLS,
        Error::Dns { .. }
        | Error::Connect { .. }
        | Error::Timeout { .. }
        | Error::ConnectionClosed
        | Error::Io(_)
        | Error::Offline
        | Error::TokenUnavailable {
            kind: TokenFailure::Network,
            ..
        } => NETWORK,
        Error::Cancelled => INTERRUPTED,
        Error::InvalidQuery { .. } => USAGE,
        _ => ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_their_status_through_context() {
        let auth = anyhow::Error::new(Error::AuthRejected { text: "no".into() }).context("sync");
        assert_eq!(code(&auth), AUTH);
        let tls = anyhow::Error::new(Error::Tls {
            host: "h".into(),
            reason: "r".into(),
        });
        assert_eq!(code(&tls), TLS);
        let refused = anyhow::Error::new(Error::Connect {
            host: "h".into(),
            port: 1,
            source: std::io::ErrorKind::ConnectionRefused.into(),
        });
        assert_eq!(code(&refused), NETWORK);
        assert_eq!(code(&anyhow::Error::new(Error::Cancelled)), INTERRUPTED);
        assert_eq!(code(&usage::<()>("bad").unwrap_err()), USAGE);
        assert_eq!(code(&anyhow::anyhow!("other")), ERROR);
        assert_eq!(kind(&auth), "authentication");
    }
}
