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
