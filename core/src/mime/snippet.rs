//! Message-list snippets: a short, one-line preview of a message's first text part, made
//! from the whole part or from a fetched prefix of it (`BODY.PEEK[<section>]<0.N>`, used when
//! the server has no PREVIEW), and how many bytes such a prefix should be.
//!
//! A snippet from a prefix equals the snippet from the whole part whenever the prefix holds
//! more text than the snippet needs: a word cut by the truncation is never shown as if it
//! were whole. Pure functions; they never panic, whatever the bytes.

use super::html::html_to_text_untrimmed;
use super::text::{TransferEncoding, decode_part_text, decode_truncated_text};

/// How far back from the length limit a word boundary is looked for: a snippet ending in a
/// word cut short reads worse than one a few characters shorter.
const WORD_BOUNDARY_WINDOW: usize = 20;

/// Decoded bytes per base64 line, and encoded bytes per line (76 characters and CRLF).
const BASE64_LINE_DECODED: u32 = 57;
const BASE64_LINE_ENCODED: u32 = 78;

/// A preview of `text`, at most `max_chars` characters (not bytes):
/// - a signature (from a line `-- ` on) and quoted lines (starting with `>`) are dropped,
///   each only where text is left without it (a message that is all quote shows the quote,
///   without its `>` markers);
/// - every run of whitespace, line breaks included, becomes one space; no space at either end;
/// - when the text is longer, it is cut at the last space within 20 characters of the limit;
///   with no space that close (a long URL, or text written without spaces such as Chinese or
///   Japanese), it is cut at exactly `max_chars` characters.
pub fn snippet(text: &str, max_chars: usize) -> String {
    snippet_of(text, max_chars, false)
}

/// The snippet of a text part from its encoded bytes (the whole part, or with `truncated`
/// a prefix cut anywhere): decoded with [`decode_part_text`] or [`decode_truncated_text`],
/// HTML (`text/html`, or any type naming html) converted with
/// [`html_to_text`](super::html_to_text), then [`snippet`]. With `truncated`, a last word that
/// the cut may have shortened is treated as cut, so the result never shows a partial word as
/// a whole one. Parts that are not text (`image/png`, ...) give an empty snippet; an empty
/// type counts as `text/plain` (the MIME default).
pub fn snippet_from_part(
    bytes: &[u8],
    truncated: bool,
    mime_type: &str,
    encoding: Option<&str>,
    charset: Option<&str>,
    max_chars: usize,
) -> String {
    let mime_type = mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_text = mime_type.is_empty() || mime_type.starts_with("text/");
    let is_html = mime_type.contains("html");
    if !is_text && !is_html {
        return String::new();
    }
    let text = if truncated {
        decode_truncated_text(bytes, encoding, charset)
    } else {
        decode_part_text(bytes, encoding, charset)
    };
    if is_html {
        snippet_of(&html_to_text_untrimmed(&text), max_chars, truncated)
    } else {
        snippet_of(&text, max_chars, truncated)
    }
}

/// How many encoded bytes to fetch (`BODY.PEEK[<section>]<0.N>`) for about `n` decoded bytes:
/// whole base64 lines (78 bytes, CRLF included, for every 57 decoded bytes, rounded up), and
/// `n` for quoted-printable, 7bit, 8bit and anything else (quoted-printable grows only for
/// non-ASCII text, and then a shorter snippet is fine). The engine's default `n` is 512.
pub fn snippet_fetch_len(encoding: Option<&str>, n: u32) -> u32 {
    match TransferEncoding::of(encoding) {
        TransferEncoding::Base64 => n
            .div_ceil(BASE64_LINE_DECODED)
            .saturating_mul(BASE64_LINE_ENCODED),
        TransferEncoding::QuotedPrintable | TransferEncoding::Identity => n,
    }
}

/// [`snippet`], where `truncated` says the text may continue beyond its end: a last word
/// that touches the end is then not known to be whole.
fn snippet_of(text: &str, max_chars: usize, truncated: bool) -> String {
    if max_chars == 0 {
        return String::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let last_line = lines.len().saturating_sub(1);
    let mut kept: Vec<(usize, &str)> = lines.iter().copied().enumerate().collect();

    // The signature: from the first `-- ` line that has text above it.
    if let Some(cut) = kept.iter().position(|(_, line)| line.trim_end() == "--")
        && kept.get(..cut).is_some_and(has_text)
    {
        kept.truncate(cut);
    }
    // Quoted lines, unless they are all there is.
    let unquoted: Vec<(usize, &str)> = kept
        .iter()
        .copied()
        .filter(|(_, line)| !line.trim_start().starts_with('>'))
        .collect();
    if has_text(&unquoted) {
        kept = unquoted;
    } else {
        for (_, line) in &mut kept {
            *line = line.trim_start_matches(|c: char| c == '>' || c.is_whitespace());
        }
    }

    // Does the text run on past its end, possibly mid-word?
    let open_end = truncated
        && kept.last().is_some_and(|(n, _)| *n == last_line)
        && !text.ends_with(char::is_whitespace);

    // The words joined by single spaces, up to the first character past the limit (which
    // tells whether the limit falls between words).
    let mut collapsed: Vec<char> = Vec::new();
    for word in kept.iter().flat_map(|(_, line)| line.split_whitespace()) {
        if collapsed.len() > max_chars {
            break;
        }
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        let room = max_chars.saturating_add(1).saturating_sub(collapsed.len());
        collapsed.extend(word.chars().take(room));
    }
    cut(&collapsed, max_chars, open_end)
}

fn has_text(lines: &[(usize, &str)]) -> bool {
    lines.iter().any(|(_, line)| !line.trim().is_empty())
}

/// `chars` (whitespace already collapsed to single spaces) cut to at most `max` characters,
/// at a space within the boundary window when there is one. With `open_end`, the text may
/// continue right after its last character, so that is not a word boundary.
fn cut(chars: &[char], max: usize, open_end: bool) -> String {
    if chars.len() <= max && !open_end {
        return chars.iter().collect();
    }
    let end = chars.len().min(max);
    // Whether the words are whole at `end`: the next character is known and a space.
    let boundary_at_end = chars.get(end) == Some(&' ');
    let head = chars.get(..end).unwrap_or(chars);
    let kept = if boundary_at_end {
        head
    } else {
        match head.iter().rposition(|&c| c == ' ') {
            Some(space) if end - space <= WORD_BOUNDARY_WINDOW => head.get(..space).unwrap_or(head),
            _ => head,
        }
    };
    kept.iter().collect::<String>().trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_whitespace() {
        assert_eq!(
            snippet("  Hello,\r\n\r\n\tworld!\u{a0} Bye \n", 100),
            "Hello, world! Bye"
        );
        assert_eq!(snippet(" \n\t ", 100), "");
        assert_eq!(snippet("", 10), "");
    }

    #[test]
    fn counts_characters_not_bytes() {
        let text = "ääää öööö üüüü";
        assert_eq!(snippet(text, 14), text);
        assert_eq!(snippet(text, 12), "ääää öööö");
        assert_eq!(snippet("日本語のテキスト", 3), "日本語");
    }

    #[test]
    fn cuts_at_a_near_word_boundary() {
        let text = "The quick brown fox jumps over the lazy dog";
        assert_eq!(snippet(text, 9), "The quick"); // next char is a space
        assert_eq!(snippet(text, 12), "The quick");
        assert_eq!(snippet(text, 10), "The quick");
        assert_eq!(snippet(text, 1000), text);
        for max in 3..text.len() {
            let s = snippet(text, max);
            assert!(s.chars().count() <= max);
            assert!(text.starts_with(&s));
            // Whole words only (every word here is shorter than the window).
            let next = text.as_bytes().get(s.len()).copied();
            assert!(next.is_none_or(|b| b == b' '), "{max}: {s:?}");
        }
    }

    #[test]
    fn hard_cut_when_no_boundary_is_near() {
        let url = "https://example.com/a/very/long/path/without/any/spaces/at/all";
        let text = format!("See {url}");
        assert_eq!(
            snippet(&text, 30),
            text.chars().take(30).collect::<String>()
        );
        assert_eq!(snippet(url, 10), "https://ex");
        assert_eq!(snippet(&"x".repeat(50), 0), "");
    }

    #[test]
    fn drops_quotes_and_signature() {
        let text =
            "On Monday Bob wrote:\n> Are you coming?\n>> Maybe\nYes, I am.\n\n-- \nAlice\n555";
        assert_eq!(snippet(text, 100), "On Monday Bob wrote: Yes, I am.");
        assert_eq!(snippet("> only\n> quoted\n>>text", 100), "only quoted text");
        assert_eq!(snippet("-- \nonly a signature", 100), "-- only a signature");
        assert_eq!(snippet("> quote\n-- \nsig", 100), "quote");
        assert_eq!(snippet("Hi\n--\nsig", 100), "Hi");
    }

    #[test]
    fn truncated_text_never_ends_in_a_cut_word() {
        assert_eq!(snippet_of("Hello wor", 100, true), "Hello");
        assert_eq!(snippet_of("Hello world ", 100, true), "Hello world");
        assert_eq!(snippet_of("Hello world\n> quo", 100, true), "Hello world");
        assert_eq!(snippet_of("Helloworld", 100, true), "Helloworld");
        assert_eq!(snippet_of("Hello world and more", 8, true), "Hello");
    }

    #[test]
    fn part_types() {
        let html = b"<p>Hi <b>there</b></p><p>Second</p>";
        assert_eq!(
            snippet_from_part(html, false, "TEXT/HTML; charset=utf-8", None, None, 50),
            "Hi there Second"
        );
        assert_eq!(
            snippet_from_part(b"plain", false, "", None, None, 50),
            "plain"
        );
        assert_eq!(
            snippet_from_part(b"\x89PNG", false, "image/png", None, None, 50),
            ""
        );
        let b64 = b"SGVsbG8gd29ybGQsIGhvdyBhcmUgeW91Pw==";
        assert_eq!(
            snippet_from_part(b64, false, "text/plain", Some("BASE64"), None, 50),
            "Hello world, how are you?"
        );
        assert_eq!(
            snippet_from_part(&b64[..20], true, "text/plain", Some("base64"), None, 50),
            "Hello world,"
        );
    }

    #[test]
    fn fetch_len() {
        assert_eq!(snippet_fetch_len(Some("base64"), 512), 9 * 78);
        assert_eq!(snippet_fetch_len(Some("Base64"), 57), 78);
        assert_eq!(snippet_fetch_len(Some("base64"), 58), 156);
        assert_eq!(snippet_fetch_len(Some("base64"), 0), 0);
        assert_eq!(snippet_fetch_len(Some("base64"), u32::MAX), u32::MAX);
        assert_eq!(snippet_fetch_len(Some("quoted-printable"), 512), 512);
        assert_eq!(snippet_fetch_len(Some("8bit"), 512), 512);
        assert_eq!(snippet_fetch_len(None, 512), 512);
    }
}
