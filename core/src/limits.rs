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
/// The deepest parenthesis nesting in an IMAP response that is parsed; a deeper untagged
/// response is treated as unparsable (imap-proto recurses once per level: 10,000 levels
/// overflowed the stack). A BODYSTRUCTURE needs one or two levels per MIME level, so this
/// covers [`MIME_MAX_DEPTH`] and fits a 2 MiB worker stack in debug builds too.
pub const IMAP_MAX_DEPTH: u32 = 64;
/// Keywords kept per message, and per folder (FLAGS, PERMANENTFLAGS).
pub const MAX_KEYWORDS: usize = 256;
/// Folders an IMAP LIST may name; past it the listing is refused.
pub const MAX_FOLDERS: usize = 10_000;
/// Nested messages (`message/…` parts, digests) a whole message may name before it is read
/// for its headers only: dropping mail-parser's tree recurses once per nested message.
pub const MIME_MAX_NESTED_MESSAGES: usize = 512;
/// Message-IDs kept from one References header (the first and the last ones).
pub const MAX_REFERENCES: usize = 100;

/// Summary windows sent in one pipelined batch at most: the batch is planned (and its
/// commands written) up front, so this bounds what a huge EXISTS can make the sync plan at
/// once (256 commands of about 150 bytes). Windows themselves are produced one at a time,
/// never listed for a whole folder. Each batch ends with its pipeline drained and starts
/// with it refilled: at 64 windows (32,000 messages) that cost about 60 ms three times in a
/// 100,000-message sync (issue 19); at 256, 128,000 messages go in one batch.
pub const SUMMARY_BATCH_MAX: usize = 256;
/// Messages stored incomplete (or missing from the store though the server lists them)
/// fetched again per folder and sync at most; the rest wait for the next sync.
pub const REFETCH_MAX: u32 = 1000;
/// A message whose BODYSTRUCTURE cannot be parsed and whose RFC822.SIZE is at most this is
/// fetched whole (`BODY.PEEK[]`) and parsed locally; its readable body is stored too.
pub const STRUCTURE_WHOLE_MAX: u32 = 256 * 1024;
/// A larger one is read in pieces of this size through a skeleton of its header blocks and
/// boundaries (nothing of it is held whole)...
pub const STRUCTURE_PIECE: u32 = 256 * 1024;
/// ...up to this size. A larger message whose structure cannot be parsed is stored with its
/// envelope, without parts, marked incomplete.
pub const STRUCTURE_STREAM_MAX: u32 = 32 * 1024 * 1024;

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

/// SMTP: the longest reply line, and the most lines in one reply (EHLO included).
pub use crate::smtp::{
    MAX_REPLY_LINE as SMTP_MAX_REPLY_LINE, MAX_REPLY_LINES as SMTP_MAX_REPLY_LINES,
};
