//! HTML to plain text, for snippets and search: tags stripped, `<script>`, `<style>`,
//! `<template>` and `<head>` content dropped, entities decoded, block elements turned into
//! line breaks, whitespace collapsed as a browser would, `<blockquote>` content marked with
//! `> ` like a quoted plain-text reply.
//!
//! It is not an HTML parser and never builds a tree: one pass, bounded look-ahead. mail-parser's
//! own `html_to_text` is not used because it runs block elements other than `<p>` and `<br>`
//! together (`<div>a</div><div>b</div>` gives `ab`) and keeps a cut entity as text. Input may
//! be cut anywhere (a fetched prefix): an unfinished tag, comment, entity or script at the end
//! is dropped, never shown. Nothing here may panic.

use mail_parser::decoders::html::add_html_token;

/// Longest entity name looked for after `&` (the longest HTML5 name has 31 characters).
const MAX_ENTITY_LEN: usize = 40;

/// The text of an HTML document or fragment: see the module documentation. Leading and
/// trailing whitespace is removed; paragraphs are separated by a blank line.
pub fn html_to_text(html: &str) -> String {
    let mut text = html_to_text_untrimmed(html);
    text.truncate(text.trim_end().len());
    text
}

/// [`html_to_text`] keeping one trailing whitespace character when the document ends in
/// whitespace or a block boundary, so a caller can tell a whole last word from a cut one.
pub(crate) fn html_to_text_untrimmed(html: &str) -> String {
    let mut out = Output::default();
    let mut i = 0;
    while let Some(&b) = html.as_bytes().get(i) {
        let next = match b {
            b'<' => markup(html, i, &mut out),
            b'&' => entity(html, i, &mut out),
            _ => {
                let end = html
                    .bytes()
                    .skip(i)
                    .position(|b| b == b'<' || b == b'&')
                    .map_or(html.len(), |n| i + n);
                out.text(html.get(i..end).unwrap_or_default());
                Some(end)
            }
        };
        match next {
            Some(n) if n > i => i = n,
            // The rest is an unfinished construct, cut off by truncation: drop it.
            _ => break,
        }
    }
    out.finish()
}

/// Handles the markup starting at `<` at byte `i`; returns where the text resumes, None when
/// the markup is unfinished (cut off).
fn markup(html: &str, i: usize, out: &mut Output) -> Option<usize> {
    let bytes = html.as_bytes();
    let rest = bytes.get(i..)?;
    if rest.starts_with(b"<!--") {
        let end = find(bytes, i + 4, b"-->")?;
        return Some(end + 3);
    }
    match rest.get(1) {
        Some(b'!' | b'?') => Some(find(bytes, i + 1, b">")? + 1),
        Some(b'/') | Some(b'a'..=b'z' | b'A'..=b'Z') => {
            let end = tag_end(bytes, i + 1)?;
            let tag = bytes.get(i + 1..end)?;
            let closing = tag.first() == Some(&b'/');
            let name: Vec<u8> = tag
                .iter()
                .skip(usize::from(closing))
                .take_while(|b| b.is_ascii_alphanumeric())
                .map(u8::to_ascii_lowercase)
                .collect();
            let self_closing = tag.last() == Some(&b'/');
            out.tag(&name, closing);
            if !closing && !self_closing && is_raw_text(&name) {
                // Skip to the matching end tag, which is then handled as a tag.
                return find_end_tag(bytes, end + 1, &name);
            }
            Some(end + 1)
        }
        // `<` followed by anything else is text (`a < b`); `<` at the very end is cut off.
        Some(_) => {
            out.text("<");
            Some(i + 1)
        }
        None => None,
    }
}

/// Decodes the entity starting at `&` at byte `i`; returns where the text resumes, None when
/// the entity may have been cut off at the end of the input.
fn entity(html: &str, i: usize, out: &mut Output) -> Option<usize> {
    let bytes = html.as_bytes();
    let name_len = bytes
        .iter()
        .skip(i + 1)
        .take(MAX_ENTITY_LEN)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'#')
        .count();
    let after = i + 1 + name_len;
    if after >= bytes.len() {
        return None;
    }
    let name = html.get(i + 1..after).unwrap_or_default();
    if bytes.get(after) == Some(&b';') {
        if let Some(decoded) = decode_entity(name) {
            out.text(&decoded);
            return Some(after + 1);
        }
    } else if let Some(c) = legacy_entity(name) {
        // The few that browsers and senders use without a semicolon.
        out.text(c);
        return Some(after);
    }
    out.text("&");
    Some(i + 1)
}

/// `&name;` decoded: numeric (decimal or hex; invalid code points as U+FFFD) or one of the
/// HTML5 named entities mail-parser knows. None when unknown.
fn decode_entity(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        let code = u32::from_str_radix(digits, radix).ok()?;
        let c = match code {
            0 => char::REPLACEMENT_CHARACTER,
            _ => char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
        };
        return Some(c.to_string());
    }
    let token = format!("&{name};");
    let mut decoded = String::new();
    // Pushes the character for a known entity, or the token itself (valid UTF-8) otherwise.
    add_html_token(&mut decoded, token.as_bytes(), false);
    (decoded != token).then_some(decoded)
}

fn legacy_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "nbsp" => "\u{a0}",
        "copy" | "COPY" => "©",
        "reg" | "REG" => "®",
        _ => return None,
    })
}

/// Elements whose content is not text to show, skipped up to their end tag.
fn is_raw_text(name: &[u8]) -> bool {
    matches!(
        name,
        b"script" | b"style" | b"template" | b"title" | b"textarea" | b"xmp"
    )
}

/// The position of the `>` ending the tag whose name starts at `from`; quoted attribute
/// values may contain `>`. None when the tag is unfinished.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let mut last = 0u8;
    for (n, &b) in bytes.get(from..)?.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'>' => return Some(from + n),
            None if (b == b'"' || b == b'\'') && last == b'=' => quote = Some(b),
            None => {}
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
    }
    None
}

/// The position of `</name` (ASCII case-insensitive) at or after `from`.
fn find_end_tag(bytes: &[u8], from: usize, name: &[u8]) -> Option<usize> {
    let mut at = from;
    loop {
        let open = find(bytes, at, b"</")?;
        let candidate = bytes.get(open + 2..open + 2 + name.len())?;
        if candidate.eq_ignore_ascii_case(name) {
            return Some(open);
        }
        at = open + 2;
    }
}

/// The position of `needle` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| from + n)
}

/// The text being written: whitespace is held back until the next visible character, so
/// runs collapse and nothing trails.
#[derive(Default)]
struct Output {
    text: String,
    /// Line breaks owed before the next character (at most 2: a blank line).
    newlines: usize,
    /// A space owed before the next character.
    space: bool,
    /// Inside `<head>`: nothing is shown.
    in_head: bool,
    /// `<blockquote>` nesting: each line inside starts with that many `> `.
    quote_depth: usize,
    /// Nothing has been written on the current line yet.
    at_line_start: bool,
}

impl Output {
    fn text(&mut self, s: &str) {
        if self.in_head {
            return;
        }
        for c in s.chars() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}') {
                self.space = true;
                continue;
            }
            if self.text.is_empty() {
                self.at_line_start = true;
            } else if self.newlines > 0 {
                for _ in 0..self.newlines {
                    self.text.push('\n');
                }
                self.at_line_start = true;
            } else if self.space {
                self.text.push(' ');
            }
            if self.at_line_start {
                for _ in 0..self.quote_depth {
                    self.text.push_str("> ");
                }
                self.at_line_start = false;
            }
            self.newlines = 0;
            self.space = false;
            self.text.push(c);
        }
    }

    fn tag(&mut self, name: &[u8], closing: bool) {
        match name {
            b"head" => self.in_head = !closing,
            b"body" => self.in_head = false,
            b"br" => self.newlines = (self.newlines + 1).min(2),
            b"blockquote" => {
                self.newlines = self.newlines.max(1);
                self.quote_depth = if closing {
                    self.quote_depth.saturating_sub(1)
                } else {
                    (self.quote_depth + 1).min(8)
                };
            }
            b"p" | b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" => {
                self.newlines = 2;
            }
            b"td" | b"th" => self.space = true,
            b"address" | b"article" | b"aside" | b"caption" | b"center" | b"dd" | b"details"
            | b"dialog" | b"dir" | b"div" | b"dl" | b"dt" | b"fieldset" | b"figcaption"
            | b"figure" | b"footer" | b"form" | b"header" | b"hr" | b"li" | b"main" | b"nav"
            | b"ol" | b"pre" | b"section" | b"summary" | b"table" | b"tbody" | b"tfoot"
            | b"thead" | b"tr" | b"ul" => self.newlines = self.newlines.max(1),
            _ => {}
        }
    }

    /// The text, with one trailing `\n` or space if whitespace was owed at the end.
    fn finish(mut self) -> String {
        if !self.text.is_empty() {
            if self.newlines > 0 {
                self.text.push('\n');
            } else if self.space {
                self.text.push(' ');
            }
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_decodes_entities() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><p>Fish &amp; chips &lt;3 &#169; &#x263A; &eacute;t&eacute;</p>\
                    <script>alert('x')</script><div>a</div><div>b</div>\
                    Line<br>break<ul><li>one</li><li>two</li></ul></body></html>";
        assert_eq!(
            html_to_text(html),
            "Fish & chips <3 © ☺ été\n\na\nb\nLine\nbreak\none\ntwo"
        );
    }

    #[test]
    fn collapses_whitespace_and_keeps_inline_words_joined() {
        let html = "  <p>  Hello\n   <b>bold</b>world ,\t<i>x</i> </p>  ";
        assert_eq!(html_to_text(html), "Hello boldworld , x");
    }

    #[test]
    fn table_cells_and_rows() {
        let html = "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>";
        assert_eq!(html_to_text(html), "a b\nc");
    }

    #[test]
    fn blockquote_lines_are_marked() {
        let html = "<div>Sure.</div><blockquote>Can you<br>come?\
                    <blockquote>deep</blockquote></blockquote><p>Bye</p>";
        assert_eq!(
            html_to_text(html),
            "Sure.\n> Can you\n> come?\n> > deep\n\nBye"
        );
    }

    #[test]
    fn attribute_values_may_contain_angle_brackets() {
        let html = "<a title=\"a > b\" href='x'>link</a> <img alt=x>text";
        assert_eq!(html_to_text(html), "link text");
    }

    #[test]
    fn comments_doctype_and_stray_brackets() {
        let html = "<!DOCTYPE html><!-- <p>hidden</p> -->1 < 2 &unknown; AT&T &nbsp;x";
        assert_eq!(html_to_text(html), "1 < 2 &unknown; AT&T \u{a0}x");
    }

    #[test]
    fn head_without_end_tag_ends_at_body() {
        let html = "<head><meta charset=utf-8><body>visible";
        assert_eq!(html_to_text(html), "visible");
    }

    #[test]
    fn truncation_drops_unfinished_constructs() {
        assert_eq!(html_to_text("<p>Hello <b"), "Hello");
        assert_eq!(html_to_text("<p>Hello <a href=\"x>y"), "Hello");
        assert_eq!(html_to_text("Fish &am"), "Fish");
        assert_eq!(html_to_text("Fish &#12"), "Fish");
        assert_eq!(html_to_text("a<!-- comm"), "a");
        assert_eq!(html_to_text("a<script>var x = 1;"), "a");
        assert_eq!(html_to_text("a<"), "a");
        assert_eq!(html_to_text("a &"), "a");
        assert_eq!(html_to_text("a & b"), "a & b");
    }

    #[test]
    fn every_prefix_is_safe_and_a_prefix_of_the_whole() {
        let html = "<html><head><style>x{}</style></head><body><div>Grüße &amp; \
                    h&eacute;llo <b>wörld</b></div><blockquote>q&#x263A;</blockquote>\
                    <p>end &copy;</p></body></html>";
        let full = html_to_text(html);
        for cut in 0..=html.len() {
            let Some(prefix) = html.get(..cut) else {
                continue;
            };
            let text = html_to_text(prefix);
            assert!(full.starts_with(&text), "{cut}: {text:?} vs {full:?}");
        }
    }

    #[test]
    fn untrimmed_keeps_one_trailing_boundary() {
        assert_eq!(html_to_text_untrimmed("<p>word</p>"), "word\n");
        assert_eq!(html_to_text_untrimmed("word "), "word ");
        assert_eq!(html_to_text_untrimmed("word"), "word");
        assert_eq!(html_to_text_untrimmed("  "), "");
    }
}
