//! Attachment file names: the decoded name a part declares (Content-Disposition `filename`,
//! else Content-Type `name`), and [`safe_file_name`], which turns any such name into one that
//! is safe to create on disk.
//!
//! The declared name is kept exactly as the sender encoded it (control characters, slashes
//! and all) so the UI can show it and tests can compare it. Nothing here writes files; and
//! a name from a message must never reach the file system without [`safe_file_name`].

use imap_proto::BodyContentCommon;

use super::params::param;

/// Longest name [`safe_file_name`] returns, in bytes (common file systems allow 255).
const MAX_NAME_BYTES: usize = 200;
/// Longest extension (with its dot) kept when a name is shortened.
const MAX_EXTENSION_BYTES: usize = 24;
/// What [`safe_file_name`] returns when nothing usable is left.
const FALLBACK: &str = "attachment";

/// The decoded file name a part declares: Content-Disposition `filename` (RFC 2231 and 2047
/// aware), else Content-Type `name`. None when neither is present or the name is empty.
pub(crate) fn declared_file_name(common: &BodyContentCommon<'_>) -> Option<String> {
    let from_disposition = common
        .disposition
        .as_ref()
        .and_then(|d| param(d.params.as_deref(), "filename"));
    from_disposition
        .filter(|name| !name.is_empty())
        .or_else(|| param(common.ty.params.as_deref(), "name"))
        .filter(|name| !name.is_empty())
}

/// A version of `name` that is safe as a single file name on any platform the apps run on:
/// - control characters (C0, DEL, C1) and bidirectional overrides (which can disguise an
///   extension, as in `invoice\u{202E}fdp.exe`) are removed;
/// - `/` and `\` split the name into components; empty, `.` and `..` components are dropped
///   and the rest are joined with `_` (so `../../etc/passwd` becomes `etc_passwd`);
/// - surrounding whitespace and leading dots (hidden files) are removed;
/// - the result is at most 200 bytes, cut on a character boundary, keeping a short extension;
/// - an empty result becomes `attachment`.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .collect();
    let joined = cleaned
        .split(['/', '\\'])
        .map(str::trim)
        .filter(|part| !part.is_empty() && *part != "." && *part != "..")
        .collect::<Vec<_>>()
        .join("_");
    let trimmed = joined
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let bounded = bound_length(trimmed);
    match bounded.is_empty() {
        true => FALLBACK.to_string(),
        false => bounded,
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `name` cut to [`MAX_NAME_BYTES`] on a character boundary, keeping the extension when it
/// is short enough to be one.
fn bound_length(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION_BYTES => {
            name.get(dot..).unwrap_or_default()
        }
        _ => "",
    };
    let stem_len = name.len() - extension.len();
    let stem = prefix_within(
        name.get(..stem_len).unwrap_or_default(),
        MAX_NAME_BYTES - extension.len(),
    );
    format!("{}{extension}", stem.trim_end())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_traversal_is_flattened() {
        assert_eq!(safe_file_name("../../etc/passwd"), "etc_passwd");
        assert_eq!(
            safe_file_name("..\\..\\windows\\system32\\x.dll"),
            "windows_system32_x.dll"
        );
        assert_eq!(safe_file_name("/abs/./path.txt"), "abs_path.txt");
        assert_eq!(safe_file_name(".."), FALLBACK);
    }

    #[test]
    fn control_and_bidi_characters_are_removed() {
        assert_eq!(safe_file_name("invoice\u{7}.pdf"), "invoice.pdf");
        assert_eq!(safe_file_name("\u{1b}[2Jclear.txt"), "[2Jclear.txt");
        assert_eq!(safe_file_name("tab\there.txt"), "tabhere.txt");
        assert_eq!(safe_file_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(safe_file_name("nul\0\u{85}.bin"), "nul.bin");
    }

    #[test]
    fn leading_dots_and_blank_names() {
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("  ...hidden.txt "), "hidden.txt");
        assert_eq!(safe_file_name(""), FALLBACK);
        assert_eq!(safe_file_name(" \u{7} / "), FALLBACK);
        assert_eq!(safe_file_name("Résumé – Müller.pdf"), "Résumé – Müller.pdf");
    }

    #[test]
    fn long_names_keep_their_extension_and_char_boundaries() {
        let long = format!("{}.pdf", "ä".repeat(150));
        let safe = safe_file_name(&long);
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("ä.pdf"), "{safe}");
        let no_ext = "x".repeat(500);
        assert_eq!(safe_file_name(&no_ext).len(), MAX_NAME_BYTES);
        let silly_ext = format!("a.{}", "é".repeat(300));
        let safe = safe_file_name(&silly_ext);
        assert!(safe.len() <= MAX_NAME_BYTES && safe.starts_with("a.é"));
    }
}
