//! Blobs: the content layer under lazy bodies and resumable attachment downloads. Streaming
//! transfer decoding whose state can be saved between chunks (`decoder`), the partial file
//! beside a destination that survives a cut connection or a killed process (`download`),
//! safe destination names (`names`), zstd-compressed bodies (`body`) and the adaptive chunk
//! size (`chunk`).
//!
//! This module runs no SQL and opens no connection: the engine fetches the chunks, and the
//! store keeps the progress (`Store::save_download_progress`). The order that makes a
//! download resumable is: append the decoded chunk, `PartFile::sync`, then commit the
//! progress to the store. A file name from the wire never chooses a path here on its own;
//! it goes through `mime::safe_file_name` and stays inside the directory the app chose.

mod body;
mod chunk;
mod decoder;
mod download;
pub(crate) mod fsio;
mod names;

#[cfg(test)]
mod decoder_tests;

pub use body::{compress, decompress};
pub use chunk::{ChunkSizer, MAX_CHUNK, MIN_CHUNK};
pub use decoder::{DecoderState, StreamDecoder, TransferEncoding};
pub use download::{PART_SUFFIX, PartFile, decoded_limit, part_path, remove_partial};
pub use names::destination_in;
