//! Every limit on what a server may send, named in one place (issue 13). Past a limit the
//! operation ends with a clear `Error::Protocol` (the connection is closed and the store is
//! untouched by the bad response); nothing is ever allocated in proportion to a number the
//! server merely claims. ARCHITECTURE.md lists these with their reasons.
//!
//! Limits that belong to one protocol detail stay beside it as named constants and are
//! re-exported here, so this file is the index.

/// The longest IMAP response line (outside literals), CRLF included.
pub const IMAP_MAX_LINE: usize = 8 * 1024 * 1024;
/// The largest IMAP literal accepted. Body sections are fetched in chunks of at most
/// [`crate::blobs::MAX_CHUNK`], far below this.
pub const IMAP_MAX_LITERAL: u64 = 64 * 1024 * 1024;
/// MIME nesting depth followed in BODYSTRUCTURE and parsed messages.
pub use crate::mime::MAX_DEPTH as MIME_MAX_DEPTH;
/// Parts kept per message.
pub use crate::mime::MAX_PARTS as MIME_MAX_PARTS;

/// POP3: the longest line inside a RETR or TOP response (default of `Pop3Options::max_line`).
pub use crate::pop3::MAX_BODY_LINE as POP3_MAX_BODY_LINE;
/// POP3: entries in one LIST or UIDL listing (default of `Pop3Options::max_listing_entries`).
pub use crate::pop3::MAX_LISTING_ENTRIES as POP3_MAX_LISTING_ENTRIES;
/// POP3: the longest LIST or UIDL line.
pub use crate::pop3::MAX_LISTING_LINE as POP3_MAX_LISTING_LINE;
/// POP3: content bytes of one RETR or TOP response (default of
/// `Pop3Options::max_message_bytes`).
pub use crate::pop3::MAX_MESSAGE_BYTES as POP3_MAX_MESSAGE_BYTES;
/// POP3: the longest status line (greeting, `+OK`/`-ERR`).
pub use crate::pop3::MAX_STATUS_LINE as POP3_MAX_STATUS_LINE;
/// POP3: CAPA lines and bytes per CAPA line.
pub use crate::pop3::{MAX_CAPA_LINE as POP3_MAX_CAPA_LINE, MAX_CAPA_LINES as POP3_MAX_CAPA_LINES};
/// POP3 sync: numbers sharing one UIDL keyed by their headers per pass.
pub use crate::sync::pop3_listing::MAX_SHARED as POP3_MAX_SHARED;
/// POP3 sync: a RETR or TOP response may bring twice its LIST size plus this.
pub use crate::sync::pop3_listing::RESPONSE_SLACK as POP3_RESPONSE_SLACK;
/// POP3 sync: bytes of one TOP answer held in memory, and TOP answers held at once.
pub use crate::sync::pop3_listing::{TOP_BATCH as POP3_TOP_BATCH, TOP_KEEP as POP3_TOP_KEEP};
/// POP3 sync: the largest message skeleton, and the largest whole message, handed to
/// mail-parser (whose memory grows up to ~30 times the MIME structure it is given).
pub use crate::sync::pop3_spool::{
    STRUCTURE_MAX as POP3_PARSE_STRUCTURE_MAX, WHOLE_MAX as POP3_PARSE_WHOLE_MAX,
};
