//! The app's charset decoder: the library carries no tables for the multi-byte charsets
//! (`anvert_core::mime::charsets`), so the app lends the platform's. Kotlin: `java.nio.charset`
//! (`CharsetDecoders.jvm` in the Android demo); Swift: Foundation (`FoundationCharsets` in
//! the iOS demo).

use crate::error::AnvertError;
use std::sync::Arc;

/// Decodes mail text in a charset the library does not carry: Shift_JIS, EUC-JP,
/// ISO-2022-JP, Big5, GBK, gb18030, EUC-KR, windows-874, IBM866, x-mac-cyrillic (their
/// WHATWG names, as `charset` receives them). Called on the engine's threads while it
/// stores messages, once per text part, encoded header word or file name in such a
/// charset.
#[uniffi::export(with_foreign)]
pub trait CharsetDecoder: Send + Sync {
    /// `bytes` as text, malformed sequences as U+FFFD; null when the platform does not
    /// know `charset`. An exception counts as null.
    fn decode(&self, charset: String, bytes: Vec<u8>) -> Result<Option<String>, AnvertError>;
}

/// Installs the decoder for the process's engines (null removes it). Install it before the
/// first sync: text is decoded when a message is stored, and without a decoder such text is
/// read as UTF-8 with U+FFFD where it is not.
#[uniffi::export]
pub fn set_charset_decoder(decoder: Option<Arc<dyn CharsetDecoder>>) {
    anvert_core::mime::charsets::set_charset_decoder(decoder.map(|decoder| {
        Arc::new(move |charset: &'static str, bytes: &[u8]| {
            decoder
                .decode(charset.to_string(), bytes.to_vec())
                .ok()
                .flatten()
        }) as anvert_core::mime::charsets::CharsetDecoder
    }));
}
