//! MIME: pure functions from the IMAP layer's parsed structures (imap-proto's BODYSTRUCTURE
//! and ENVELOPE) and raw header bytes to the engine's own values: the list of parts with their
//! IMAP section numbers, decoded header text, addresses, message ids and dates, file names.
//!
//! Everything here is a function over values already in memory. This module must never do
//! I/O, touch the store or the network, or panic: its input comes from servers that may be
//! hostile, so every function accepts any bytes and bounds its work (recursion depth, part
//! count) instead of trusting the shape it is given.

pub mod charsets;
mod date;
mod filename;
mod header;
mod html;
mod message;
mod params;
mod parsed;
mod snippet;
mod structure;
mod text;
mod words;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod text_tests;
#[cfg(test)]
mod words_tests;

pub use date::{parse_header_date, parse_internal_date};
pub use filename::safe_file_name;
pub use header::{Addr, addresses_from_envelope, decode_header_text, message_id, references};
pub use html::html_to_text;
pub use message::{Parsed, parse_message};
pub use parsed::{RawPart, parts_from_message};
pub use snippet::{snippet, snippet_fetch_len, snippet_from_part};
pub use structure::{MAX_DEPTH, MAX_PARTS, PartInfo, parts_from_bodystructure};
pub use text::{decode_part_text, decode_truncated_text};
