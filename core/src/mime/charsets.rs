//! Charsets the mobile library leaves to the platform: the multi-byte ones (Shift_JIS,
//! EUC-JP, ISO-2022-JP, Big5, GBK, gb18030, EUC-KR) and three rare single-byte ones
//! (windows-874, IBM866, x-mac-cyrillic). Their tables are 155 KB of encoding_rs, and
//! Android (java.nio.charset) and iOS (Foundation) carry every one of them already.
//!
//! Every decode of mail text in such a charset (a text part, an RFC 2047 encoded word, an
//! RFC 2231 parameter, a PREVIEW) asks the decoder installed here first; without one, or
//! when it answers None, encoding_rs decodes when the engine is built with
//! `builtin-charsets` (the CLI, the tests), and otherwise the bytes are read as UTF-8 with
//! U+FFFD, as for any charset the engine does not know. The hook is vendored mail-parser's
//! (vendor/mail-parser/ANVERT-PATCH.md).
//!
//! Install the decoder before the first sync: text is decoded when a message is stored.

use std::sync::Arc;

/// The charsets a decoder is asked for, by their WHATWG names (the names it receives).
pub const EXTERNAL_CHARSETS: [&str; 10] = [
    "Shift_JIS",
    "EUC-JP",
    "ISO-2022-JP",
    "Big5",
    "GBK",
    "gb18030",
    "EUC-KR",
    "windows-874",
    "IBM866",
    "x-mac-cyrillic",
];

/// Decodes bytes in one of [`EXTERNAL_CHARSETS`]; None when it cannot. Called from the
/// engine's threads; it must not block for long.
pub type CharsetDecoder = Arc<dyn Fn(&'static str, &[u8]) -> Option<String> + Send + Sync>;

/// Installs the process's decoder (None removes it). It serves every engine in the process.
pub fn set_charset_decoder(decoder: Option<CharsetDecoder>) {
    mail_parser::decoders::charsets::multi_byte::set_external_decoder(decoder);
}
