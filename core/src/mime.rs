//! MIME: BODYSTRUCTURE to part trees, snippets from truncated parts, and decoding through
//! mail-parser. Pure functions over bytes; no I/O, no store.
