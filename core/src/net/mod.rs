//! Network plumbing shared by the IMAP and POP3 sessions: TCP connect with clear errors,
//! the rustls configuration and trust roots, and the wire meter that counts every byte on
//! the socket (below TLS and compression). Nothing here knows a mail protocol or the store.

mod crypto;
mod endpoint;
mod io;
mod meter;
mod roots;
mod tcp;
mod tls;

pub use endpoint::{Credential, Endpoint, Secret, TokenFuture, TokenProvider};
pub(crate) use endpoint::{
    OAuthMechanism, check_oauth_username, fetch_access_token, oauth_error_status,
};
pub use io::{BoxedIo, Io};
pub use meter::{Metered, Purpose, WireMeter, WireTotals};
pub use tcp::connect_tcp;
pub use tls::{TlsConnector, TlsDetails, Trust};

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// TLS from the first byte (IMAP 993, POP3 995).
    ImplicitTls,
    /// A plaintext greeting, then STARTTLS (IMAP) or STLS (POP3) before anything else. Refused
    /// when the server does not offer it; never falls back to plaintext.
    StartTls,
    /// No TLS at all. Credentials cross the network in the clear: for tests and trusted LANs.
    DangerPlaintext,
}
