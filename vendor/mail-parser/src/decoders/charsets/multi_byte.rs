/*
 * SPDX-FileCopyrightText: 2020 Stalwart Labs LLC <hello@stalw.art>
 *
 * SPDX-License-Identifier: Apache-2.0 OR MIT
 */

// ANVERT-PATCH: the multi-byte charsets (and three rare single-byte ones encoding_rs holds)
// are decoded by a decoder the embedding application installs (`set_external_decoder`)
// before encoding_rs, which is compiled in only with `full_encoding`; without either, as
// upstream without `full_encoding`, the bytes are read as UTF-8 with U+FFFD. Phones carry
// every one of these charsets already (java.nio.charset, Foundation), and encoding_rs's
// tables are 155 KB of a mobile library. `x-user-defined` and `replacement` are decoded
// here: they need no table.

use std::sync::{Arc, RwLock};

#[cfg(feature = "full_encoding")]
use encoding_rs::*;

/// Decodes `bytes` in `charset` (its WHATWG name: `Shift_JIS`, `Big5`, `EUC-JP`, `EUC-KR`,
/// `gb18030`, `GBK`, `ISO-2022-JP`, `windows-874`, `IBM866`, `x-mac-cyrillic`); None when it
/// cannot. Called from any thread, once per text part, encoded word or parameter in such a
/// charset; it must not panic.
pub type ExternalDecoder = Arc<dyn Fn(&'static str, &[u8]) -> Option<String> + Send + Sync>;

static EXTERNAL: RwLock<Option<ExternalDecoder>> = RwLock::new(None);

/// Installs (or with None removes) the process's external decoder.
pub fn set_external_decoder(decoder: Option<ExternalDecoder>) {
    match EXTERNAL.write() {
        Ok(mut slot) => *slot = decoder,
        Err(poisoned) => *poisoned.into_inner() = decoder,
    }
}

fn external(charset: &'static str, bytes: &[u8]) -> Option<String> {
    let decoder = match EXTERNAL.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }?;
    decoder(charset, bytes)
}

#[cfg(feature = "full_encoding")]
fn multi_byte_decoder(mut decoder: Decoder, bytes: &[u8]) -> String {
    let mut result = String::with_capacity(bytes.len() * 4);

    if let (CoderResult::OutputFull, _, _) = decoder.decode_to_string(bytes, &mut result, true) {
        debug_assert!(false, "String full while decoding.")
    }

    result.shrink_to_fit();
    result
}

pub(crate) fn decoder_shift_jis(bytes: &[u8]) -> String {
    if let Some(text) = external("Shift_JIS", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(SHIFT_JIS.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_big5(bytes: &[u8]) -> String {
    if let Some(text) = external("Big5", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(BIG5.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_euc_jp(bytes: &[u8]) -> String {
    if let Some(text) = external("EUC-JP", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(EUC_JP.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_euc_kr(bytes: &[u8]) -> String {
    if let Some(text) = external("EUC-KR", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(EUC_KR.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_gb18030(bytes: &[u8]) -> String {
    if let Some(text) = external("gb18030", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(GB18030.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_gbk(bytes: &[u8]) -> String {
    if let Some(text) = external("GBK", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(GBK.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_iso2022_jp(bytes: &[u8]) -> String {
    if let Some(text) = external("ISO-2022-JP", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(ISO_2022_JP.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_windows874(bytes: &[u8]) -> String {
    if let Some(text) = external("windows-874", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(WINDOWS_874.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_ibm866(bytes: &[u8]) -> String {
    if let Some(text) = external("IBM866", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(IBM866.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

pub(crate) fn decoder_x_mac_cyrillic(bytes: &[u8]) -> String {
    if let Some(text) = external("x-mac-cyrillic", bytes) {
        return text;
    }

    #[cfg(feature = "full_encoding")]
    {
        multi_byte_decoder(X_MAC_CYRILLIC.new_decoder(), bytes)
    }

    #[cfg(not(feature = "full_encoding"))]
    {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// WHATWG's x-user-defined: ASCII as is, 0x80..=0xFF to U+F780..=U+F7FF.
pub(crate) fn decoder_x_user_defined(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0..=0x7f => char::from(b),
            _ => char::from_u32(0xf780 + u32::from(b) - 0x80).unwrap_or('\u{fffd}'),
        })
        .collect()
}

/// WHATWG's replacement encoding (ISO-2022-KR, HZ-GB-2312, ...): one U+FFFD for any input.
pub(crate) fn decoder_replacement(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        String::new()
    } else {
        "\u{fffd}".to_string()
    }
}
