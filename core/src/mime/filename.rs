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

/// A version of `name` that is safe as a single file name on any platform the apps run on
/// (and on Windows, where the CLI and desktop tools may save it):
/// - control characters (C0, DEL, C1) and bidirectional overrides (which can disguise an
///   extension, as in `invoice\u{202E}fdp.exe`) are removed;
/// - `/` and `\` split the name into components; empty, `.` and `..` components are dropped
///   and the rest are joined with `_` (so `../../etc/passwd` becomes `etc_passwd`);
/// - the characters Windows forbids in names (`<>:"|?*`; `:` would open an NTFS alternate
///   data stream) become `_`;
/// - surrounding whitespace, leading dots (hidden files) and trailing dots (Windows drops
///   them, so `a.pdf.` would be saved as `a.pdf`) are removed;
/// - a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`,
///   `CONIN$`, `CONOUT$`, in any case) before the first dot gets a `_`: `CON` becomes
///   `CON_`, `aux.txt` becomes `aux_.txt`, `nul.tar.gz` becomes `nul_.tar.gz`;
/// - the result is at most 200 bytes, cut on a character boundary, keeping a short extension;
/// - an empty result becomes `attachment`.
pub fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c))
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            other => other,
        })
        .collect();
    let joined = cleaned
        .split(['/', '\\'])
        .map(str::trim)
        .filter(|part| !part.is_empty() && *part != "." && *part != "..")
        .collect::<Vec<_>>()
        .join("_");
    let trimmed = trim_ends(&joined);
    let bounded = not_a_device(trim_ends(&bound_length(&not_a_device(trimmed))));
    match bounded.is_empty() {
        true => FALLBACK.to_string(),
        false => bounded,
    }
}

/// Without leading dots and whitespace, nor trailing ones.
fn trim_ends(name: &str) -> &str {
    name.trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
}

/// `name` with a `_` after its first component when that is a Windows device name, which
/// Windows reserves whatever the extension (`aux.txt` opens the AUX device). The component
/// is compared without trailing blanks, as Windows does.
fn not_a_device(name: &str) -> String {
    let stem_end = name.find('.').unwrap_or(name.len());
    let stem = name.get(..stem_end).unwrap_or_default().trim_end();
    if !is_device_name(stem) {
        return name.to_string();
    }
    let (stem, rest) = name.split_at(stem.len());
    format!("{stem}_{rest}")
}

fn is_device_name(stem: &str) -> bool {
    const DEVICES: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];
    if DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d)) {
        return true;
    }
    // COM0-COM9 and LPT0-LPT9, also with the superscript digits Windows treats alike.
    let mut chars = stem.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let digit = chars.next();
    (prefix.eq_ignore_ascii_case("COM") || prefix.eq_ignore_ascii_case("LPT"))
        && digit.is_some_and(|d| d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
        && chars.next().is_none()
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
        // (`nul` is a Windows device name, see below.)
        assert_eq!(safe_file_name("nul\0\u{85}.bin"), "nul_.bin");
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
    fn windows_device_names_and_trailing_dots_are_made_safe() {
        for (name, safe) in [
            ("CON", "CON_"),
            ("con", "con_"),
            ("aux.txt", "aux_.txt"),
            ("LPT1", "LPT1_"),
            ("nul.tar.gz", "nul_.tar.gz"),
            ("Com9.pdf", "Com9_.pdf"),
            ("lpt¹.doc", "lpt¹_.doc"),
            ("CONOUT$.log", "CONOUT$_.log"),
            ("PRN .txt", "PRN_ .txt"),
            ("CON..", "CON_"),
            ("a/CON", "a_CON"),
            ("report.pdf.", "report.pdf"),
            ("report.pdf . .", "report.pdf"),
            ("notes ", "notes"),
            ("...", FALLBACK),
        ] {
            assert_eq!(safe_file_name(name), safe, "{name:?}");
        }
        // Names that only look like devices stay as they are.
        for name in [
            "CONSOLE.txt",
            "COM10",
            "LPT",
            "aux_.txt",
            "console",
            "nul-report.pdf",
        ] {
            assert_eq!(safe_file_name(name), name);
        }
    }

    #[test]
    fn characters_windows_forbids_become_underscores() {
        assert_eq!(safe_file_name("a<b>c:d\"e|f?g*.txt"), "a_b_c_d_e_f_g_.txt");
        assert_eq!(safe_file_name("report.pdf:evil.exe"), "report.pdf_evil.exe");
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
        // A cut that would end in a dot does not.
        let dotted = format!("{}.{}", "x".repeat(199), "y".repeat(30));
        let safe = safe_file_name(&dotted);
        assert_eq!(safe, "x".repeat(199));
        let device = format!("aux.{}", "z".repeat(300));
        let safe = safe_file_name(&device);
        assert!(
            safe.starts_with("aux_.z") && safe.len() <= MAX_NAME_BYTES,
            "{safe}"
        );
    }
}
