//! The core's one error type. Every variant names what failed in words an engineer can act
//! on; none carries a password, a token or message content. The FFI maps this to its small
//! public enum in exactly one place (`bindings/src/error.rs`).

use std::io;

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host name did not resolve.
    #[error("could not resolve host {host}")]
    Dns {
        host: String,
        #[source]
        source: io::Error,
    },
    /// TCP connect failed (refused, unreachable, reset during connect).
    #[error("could not connect to {host}:{port}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed; `reason` names the certificate problem where there is one.
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    /// STARTTLS/STLS was configured but the server did not offer it (possibly stripped by an
    /// attacker). The engine never falls back to plaintext.
    #[error("the server does not offer {command}; refusing to continue without TLS")]
    TlsUnavailable { command: &'static str },
    /// Logging in over an unencrypted connection was refused by the client itself.
    #[error("refusing to send credentials without TLS (only a danger_ option allows that)")]
    PlaintextRefused,
    /// The server rejected the credentials.
    #[error("authentication rejected by the server: {text}")]
    AuthRejected { text: String },
    /// The server answered NO to a command.
    #[error("the server refused {command}: {text}")]
    ServerNo { command: String, text: String },
    /// The server answered BAD to a command.
    #[error("the server rejected {command} as invalid: {text}")]
    ServerBad { command: String, text: String },
    /// The operation did not finish in time.
    #[error("timed out while {during}")]
    Timeout { during: &'static str },
    /// The server sent something that breaks the protocol (unparsable, out of bounds, hostile).
    #[error("protocol violation: {reason}")]
    Protocol { reason: String },
    /// The connection closed while a response was expected.
    #[error("the connection closed unexpectedly")]
    ConnectionClosed,
    /// A configuration value is unusable (bad PEM, empty host, ...).
    #[error("invalid configuration: {reason}")]
    Config { reason: String },
    /// Any other I/O error on the connection to the server. Socket errors are mapped to this
    /// variant explicitly where they are read (`?` on an `io::Error` is a local file's error,
    /// [`Error::Disk`]).
    #[error("I/O error on the connection")]
    Io(#[source] io::Error),
    /// A local file operation failed (the store's directory, a spool or download file, a
    /// draft being built): not a network problem, retrying later will not help by itself.
    /// A full device is [`Error::DiskFull`].
    #[error("a local file operation failed")]
    Disk {
        #[from]
        source: io::Error,
    },
    /// A local database operation failed, or a value could not be stored or read back
    /// (out of range, broken invariant). `reason` names the operation, never message content.
    #[error("local store: {reason}")]
    Store {
        reason: String,
        #[source]
        source: Option<sqlx::Error>,
    },
    /// The local database could not be brought to the current schema (for example it was
    /// written by a newer version of the engine).
    #[error("could not migrate the local database: {reason}")]
    StoreMigration { reason: String },
    /// A record the caller named (account, folder, message, part) is not in the local store,
    /// or no longer is.
    #[error("{what} {id} not found in the local store")]
    NotFound { what: &'static str, id: i64 },
    /// The app's token provider gave no OAuth2 access token; `kind` is what the provider said
    /// the failure was (no network, the user's grant is gone, anything else). `reason` is the
    /// provider's own short text, never a token.
    #[error("the app's token provider gave no token ({kind}): {reason}")]
    TokenUnavailable { kind: TokenFailure, reason: String },
    /// The engine holds no credential for the account (after a restart the app must hand it
    /// over again with `set_credential`).
    #[error("no credential for this account; the app must provide one")]
    NoCredential,
    /// The device has no space left (or the app's quota is used up). Nothing committed was
    /// lost: a partial download keeps its resumable state and continues once space is freed.
    #[error("the disk is full; free some space and try again (progress so far is kept)")]
    DiskFull {
        #[source]
        source: Option<io::Error>,
    },
    /// Content grew past the bound derived from its declared size (a hostile or broken
    /// server, or a decompression bomb). It was stopped before anything past `limit` bytes
    /// was written or allocated.
    #[error("the content is larger than its declared size allows ({limit} bytes); stopped")]
    TooLarge { limit: u64 },
    /// A partial download cannot continue from its saved state (the partial file is missing
    /// or shorter than recorded, or the saved decoder state is unusable); it must start over.
    #[error("the partial download cannot be resumed ({reason}); it must start over")]
    CannotResume { reason: &'static str },
    /// Stored or downloaded content could not be decoded (corrupt compressed body, text that
    /// is not UTF-8). `reason` never contains the content itself.
    #[error("could not decode content: {reason}")]
    Decode { reason: &'static str },
    /// The caller cancelled; any download keeps its resumable state.
    #[error("cancelled")]
    Cancelled,
    /// The content is not stored locally and the app said the network is offline.
    #[error("not available offline")]
    Offline,
    /// The folder's UIDVALIDITY changed since its messages were stored: the cached UIDs no
    /// longer name the same messages. Sync the folder, then try again.
    #[error("the folder changed on the server (UIDVALIDITY); sync it and try again")]
    FolderChanged,
    /// A server search query the engine refuses to send: empty, unbalanced quotes, control
    /// characters, too long, an empty date range. `reason` says which; it never repeats
    /// the query's text.
    #[error("invalid search query: {reason}")]
    InvalidQuery { reason: String },
    /// The server lacks what the request needs (e.g. it refuses CHARSET UTF-8 for a
    /// non-ASCII search). Nothing malformed was sent.
    #[error("the server does not support {what}")]
    Unsupported { what: &'static str },
    /// The message is larger than the submission server's announced `SIZE` limit. It was
    /// refused before anything of the transaction was sent; retrying will not help.
    #[error("the message ({size} bytes) is larger than the server accepts ({limit} bytes)")]
    MessageTooLarge { size: u64, limit: u64 },
    /// The SMTP server refused a step of a submission with a 4xx (`permanent: false`, retry
    /// later) or 5xx (`permanent: true`, do not retry) reply. `stage` is the command
    /// (`"MAIL FROM"`, `"DATA"`, `"end of DATA"`, `"BURL"`, `"AUTH"`, ...), `text` the
    /// server's words (cleaned), never an address or content the client sent.
    #[error("the SMTP server refused {stage}: {code} {text}")]
    SmtpRejected {
        stage: &'static str,
        code: u16,
        enhanced: Option<String>,
        text: String,
        permanent: bool,
    },
}

/// Why the app's token provider could not hand out an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFailure {
    /// The provider could not reach its token endpoint: retry later, the user need not act.
    Network,
    /// The grant is gone (revoked, expired refresh token): the user must sign in again.
    Auth,
    /// Anything else.
    Other,
}

impl std::fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenFailure::Network => "network",
            TokenFailure::Auth => "sign-in needed",
            TokenFailure::Other => "other",
        })
    }
}

impl Error {
    /// For a store error SQLite answered, SQLite's own words: its code and message (never a
    /// path or a bound value), e.g. `5: database is locked`.
    pub fn sqlite_detail(&self) -> Option<String> {
        match self {
            Error::Store {
                source: Some(sqlx::Error::Database(db)),
                ..
            } => Some(format!(
                "{}: {}",
                db.code().unwrap_or_default(),
                db.message().chars().take(200).collect::<String>()
            )),
            _ => None,
        }
    }

    /// The connection died under a command (closed, reset, silent): a read may be retried
    /// once on a new connection. A protocol error is not such a death: the same server would
    /// answer the same way.
    pub(crate) fn is_dead_connection(&self) -> bool {
        matches!(
            self,
            Error::ConnectionClosed | Error::Io(_) | Error::Timeout { .. }
        )
    }

    /// The connection cannot be used any more: it died, or a protocol error left it out of
    /// step (as opposed to a refusal of one command).
    pub(crate) fn leaves_connection_unusable(&self) -> bool {
        self.is_dead_connection() || matches!(self, Error::Protocol { .. })
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Error::Protocol {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    #[tokio::test]
    async fn a_store_error_carries_sqlite_s_words_and_nothing_bound() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        let source = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let e = Error::Store {
            reason: "could not begin a write transaction".into(),
            source: Some(source),
        };
        let detail = e.sqlite_detail().unwrap();
        assert!(detail.contains("within a transaction"), "{detail}");
        let secret = sqlx::query("SELECT no_such_column FROM (SELECT ? AS x)")
            .bind("the-bound-secret")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let e = Error::Store {
            reason: "could not read".into(),
            source: Some(secret),
        };
        assert!(!e.sqlite_detail().unwrap().contains("the-bound-secret"));
        assert_eq!(Error::ConnectionClosed.sqlite_detail(), None);
    }
}
