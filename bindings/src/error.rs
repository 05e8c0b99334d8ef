//! The one public error of the bindings, and the one conversion from the core's error.
//!
//! `AnvertError` is small on purpose: each variant is something an app can act on (retry
//! later, ask for a new password, show the server's words, free space). Everything personal
//! is removed here: the core's errors carry no secrets by construction, and the reasons
//! below are built from the error's own text or fixed words, never from a credential.

use anvert_core::{Error as Core, TokenFailure};

/// What went wrong, in terms an app can act on. In Kotlin this is `AnvertException` with one
/// subclass per variant; in Swift an `Error` enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[non_exhaustive]
pub enum AnvertError {
    /// The network failed: DNS, connect, a timeout, a cut connection. Retry later.
    #[error("network: {reason}")]
    Network { reason: String },
    /// TLS failed (an untrusted or expired certificate, a name mismatch, STARTTLS stripped).
    #[error("TLS: {reason}")]
    Tls { reason: String },
    /// The server rejected the credentials: ask the user (or the token provider) again.
    #[error("authentication rejected")]
    Auth,
    /// The server refused a command; `text` is what it said.
    #[error("server: {text}")]
    Server { text: String },
    /// The server broke the protocol (a hostile or broken server).
    #[error("protocol: {reason}")]
    Protocol { reason: String },
    /// The local store or disk failed (including a full disk; progress is kept).
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The byte budget or the deadline ended the work; the next call continues.
    #[error("budget exhausted")]
    BudgetExhausted,
    /// The account, folder, message or part is not (or no longer) in the local store.
    #[error("not found")]
    NotFound,
    /// A server search the engine will not send: the query is empty or malformed, or the
    /// server cannot run it (non-ASCII text on a server that refuses UTF-8). Change the
    /// query; retrying as it is will not help.
    #[error("invalid query: {reason}")]
    InvalidQuery { reason: String },
    /// The message is larger than the submission server accepts (its `SIZE`); it was
    /// refused before upload. Retrying will not help: make it smaller.
    #[error("message too large: {size} bytes, the server accepts {limit}")]
    MessageTooLarge { size: u64, limit: u64 },
    /// The SMTP server refused a step of a submission: `permanent` (5xx) will not get
    /// through as it is, a temporary one (4xx) is retried by the outbox. `stage` is the
    /// command (`MAIL FROM`, `DATA`, `BURL`, ...), `text` the server's words.
    #[error("the SMTP server refused {stage}: {code} {text}")]
    SmtpRejected {
        stage: String,
        code: u16,
        enhanced: Option<String>,
        text: String,
        permanent: bool,
    },
    /// Anything else: a bad configuration, a missing credential, offline, an internal error.
    #[error("{reason}")]
    Other { reason: String },
}

impl From<Core> for AnvertError {
    fn from(e: Core) -> Self {
        // `Display` of the core error names what failed; sources are left out because an
        // I/O error from a path could name a user's file.
        let mut reason = e.to_string();
        // SQLite's own words (its code and message, never a path or a value) say why a
        // store operation failed: "database is locked", "disk I/O error".
        if let Some(detail) = e.sqlite_detail() {
            reason = format!("{reason} (SQLite {detail})");
        }
        match e {
            Core::Dns { .. }
            | Core::Connect { .. }
            | Core::Timeout { .. }
            | Core::ConnectionClosed
            | Core::Io(_)
            | Core::TokenUnavailable {
                kind: TokenFailure::Network,
                ..
            } => AnvertError::Network { reason },
            Core::TokenUnavailable {
                kind: TokenFailure::Auth,
                ..
            } => AnvertError::Auth,
            Core::Tls { .. } | Core::TlsUnavailable { .. } | Core::PlaintextRefused => {
                AnvertError::Tls { reason }
            }
            Core::AuthRejected { .. } | Core::NoCredential => AnvertError::Auth,
            Core::ServerNo { text, .. } | Core::ServerBad { text, .. } => {
                AnvertError::Server { text }
            }
            Core::Protocol { reason } => AnvertError::Protocol { reason },
            Core::SmtpRejected {
                stage,
                code,
                enhanced,
                text,
                permanent,
            } => AnvertError::SmtpRejected {
                stage: stage.to_string(),
                code,
                enhanced,
                text,
                permanent,
            },
            Core::MessageTooLarge { size, limit } => AnvertError::MessageTooLarge { size, limit },
            Core::TooLarge { .. } => AnvertError::Protocol { reason },
            Core::Store { .. }
            | Core::StoreMigration { .. }
            | Core::Disk { .. }
            | Core::DiskFull { .. }
            | Core::CannotResume { .. }
            | Core::Decode { .. } => AnvertError::Storage { reason },
            Core::NotFound { .. } => AnvertError::NotFound,
            Core::InvalidQuery { .. } | Core::Unsupported { .. } => {
                AnvertError::InvalidQuery { reason }
            }
            Core::Cancelled => AnvertError::Cancelled,
            Core::Offline | Core::Config { .. } | Core::FolderChanged => {
                AnvertError::Other { reason }
            }
            _ => AnvertError::Other { reason },
        }
    }
}

/// The app's token provider failed: its error says what kind of failure it was, and that
/// kind is kept (a provider that cannot reach its token endpoint is `Network`, not a reason
/// to ask the user to sign in again). Only the provider's own words are kept, cut short.
pub(crate) fn token_failure(e: AnvertError) -> Core {
    let (kind, reason) = match e {
        AnvertError::Network { reason } => (TokenFailure::Network, reason),
        AnvertError::Auth => (TokenFailure::Auth, "the grant is no longer valid".into()),
        AnvertError::Cancelled => return Core::Cancelled,
        other => (TokenFailure::Other, other.to_string()),
    };
    Core::TokenUnavailable {
        kind,
        reason: reason
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for AnvertError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        AnvertError::Other {
            reason: format!("app callback failed: {}", e.reason),
        }
    }
}

/// A panic caught at the boundary, as an error the app can show and report.
pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> AnvertError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    AnvertError::Other {
        reason: format!("internal error (a bug in Anvert, please report it): {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_carries_nothing() {
        let e: AnvertError = Core::AuthRejected {
            text: "LOGIN failed for alice".into(),
        }
        .into();
        assert_eq!(e, AnvertError::Auth);
    }

    #[test]
    fn server_text_is_kept() {
        let e: AnvertError = Core::ServerNo {
            command: "SELECT".into(),
            text: "Mailbox doesn't exist".into(),
        }
        .into();
        assert_eq!(
            e,
            AnvertError::Server {
                text: "Mailbox doesn't exist".into()
            }
        );
    }

    #[test]
    fn a_local_file_error_is_storage_not_network() {
        let disk: Core = std::io::Error::from(std::io::ErrorKind::PermissionDenied).into();
        assert!(matches!(disk, Core::Disk { .. }), "{disk:?}");
        let e: AnvertError = disk.into();
        assert!(matches!(e, AnvertError::Storage { .. }), "{e:?}");
        let socket = Core::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let e: AnvertError = socket.into();
        assert!(matches!(e, AnvertError::Network { .. }), "{e:?}");
    }

    #[test]
    fn a_token_provider_failure_keeps_its_kind() {
        let back = |e: AnvertError| AnvertError::from(token_failure(e));
        let offline = back(AnvertError::Network {
            reason: "no route to the token endpoint".into(),
        });
        assert!(
            matches!(&offline, AnvertError::Network { reason } if reason.contains("no route")),
            "{offline:?}"
        );
        assert_eq!(back(AnvertError::Auth), AnvertError::Auth);
        assert_eq!(back(AnvertError::Cancelled), AnvertError::Cancelled);
        let other = back(AnvertError::Other {
            reason: "keychain locked".into(),
        });
        assert!(
            matches!(&other, AnvertError::Other { reason } if reason.contains("keychain locked")),
            "{other:?}"
        );
    }

    #[test]
    fn smtp_refusals_keep_their_code_and_kind() {
        let e: AnvertError = Core::SmtpRejected {
            stage: "MAIL FROM",
            code: 452,
            enhanced: Some("4.3.1".into()),
            text: "try later".into(),
            permanent: false,
        }
        .into();
        assert_eq!(
            e,
            AnvertError::SmtpRejected {
                stage: "MAIL FROM".into(),
                code: 452,
                enhanced: Some("4.3.1".into()),
                text: "try later".into(),
                permanent: false,
            }
        );
        let e: AnvertError = Core::MessageTooLarge {
            size: 11,
            limit: 10,
        }
        .into();
        assert_eq!(
            e,
            AnvertError::MessageTooLarge {
                size: 11,
                limit: 10
            }
        );
    }

    #[test]
    fn disk_full_is_storage() {
        let e: AnvertError = Core::DiskFull { source: None }.into();
        assert!(matches!(e, AnvertError::Storage { .. }));
    }

    #[test]
    fn panic_payloads() {
        let e = from_panic(&"boom");
        assert!(e.to_string().contains("boom"));
        let e = from_panic(&String::from("bang"));
        assert!(e.to_string().contains("bang"));
    }
}
