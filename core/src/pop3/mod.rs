//! POP3 client, written in-house (async-pop lacks STLS and dot-unstuffing): implicit TLS and
//! STLS (never a silent fallback to plaintext), CAPA, SASL PLAIN or USER/PASS, and streamed,
//! dot-unstuffed multi-line responses with optional pipelining. It is the protocol layer only:
//! it knows nothing of the store or of sync decisions, never buffers a whole message, and
//! never puts a user name, a password or message content into an error or a log line.
//!
//! Byte accounting: `connect` counts as `Purpose::Connect` and leaves the meter on
//! `Purpose::SyncMetadata`; STAT, LIST, UIDL and TOP set `SyncMetadata` themselves; RETR,
//! DELE, RSET, NOOP and QUIT count under whatever purpose the caller set (the sync layer sets
//! `Purpose::Bodies` before RETR).

mod caps;
mod conn;
mod connect;
mod multiline;
mod reply;
mod session;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use caps::Capabilities;
pub use conn::MAX_STATUS_LINE;
pub use connect::{MAX_CAPA_LINE, MAX_CAPA_LINES, connect};
pub use multiline::{Delivered, ListedSize, Unstuffer};
pub use session::{MAX_LISTING_LINE, Pop3Session};

/// The default for [`Pop3Options::max_message_bytes`].
pub const MAX_MESSAGE_BYTES: u64 = 256 * 1024 * 1024;
/// The default for [`Pop3Options::max_listing_entries`].
pub const MAX_LISTING_ENTRIES: usize = 500_000;
/// The default for [`Pop3Options::max_line`]: RFC 5322 ends a line at 998 bytes; real mail
/// stretches that (HTML without line breaks, unwrapped base64) but never to megabytes.
pub const MAX_BODY_LINE: u64 = 8 * 1024 * 1024;

/// Knobs for a POP3 session. `Default` suits a phone on a slow link.
#[derive(Debug, Clone)]
pub struct Pop3Options {
    /// How long the server may stay silent while a response is expected: the deadline for a
    /// whole status line (greeting, `+OK`/`-ERR`), for each line of a listing and for each
    /// chunk of a streamed message. Also bounds TCP connect and the TLS handshake.
    pub timeout: Duration,
    /// The most content bytes accepted for one RETR/TOP response before the server is treated
    /// as hostile (`Error::Protocol`).
    pub max_message_bytes: u64,
    /// The most entries accepted in one LIST or UIDL listing.
    pub max_listing_entries: usize,
    /// The longest line accepted inside a RETR or TOP response, line end included. A longer
    /// one is refused (`Error::Protocol`) as soon as it passes the bound, without being
    /// buffered.
    pub max_line: u64,
}

impl Default for Pop3Options {
    fn default() -> Self {
        Pop3Options {
            timeout: Duration::from_secs(30),
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_listing_entries: MAX_LISTING_ENTRIES,
            max_line: MAX_BODY_LINE,
        }
    }
}
