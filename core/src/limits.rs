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

/// Summary windows sent in one pipelined batch at most: the batch is planned (and its
/// commands written) up front, so this bounds what a huge EXISTS can make the sync plan at
/// once. Windows themselves are produced one at a time, never listed for a whole folder.
pub const SUMMARY_BATCH_MAX: usize = 64;
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
