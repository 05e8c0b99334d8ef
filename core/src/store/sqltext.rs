//! SQL text as the library carries it: without comments and with each run of blanks made one
//! space, at compile time (issue 19, library size). The migrations are mostly comments, which
//! explain the schema to whoever reads `core/migrations`; SQLite needs none of it, and the
//! 16 files took 37 KB of the library where their statements take 16 KB.
//!
//! [`squeeze`] follows SQLite's tokenizer rules for what it removes: `--` to the end of the
//! line and `/* … */` are comments, except inside a `'…'` string, a `"…"` or `` `…` `` or
//! `[…]` identifier (copied as they are; a doubled quote closes and reopens, which copies it
//! too). A comment or a run of blanks between two tokens becomes one space; at either end,
//! nothing.

/// `sql` squeezed into `out`; returns the squeezed length. With an `out` shorter than that,
/// only the length is computed (the bytes past `out`'s end are not written): call it once with
/// `&mut []` for the length, then with a buffer of that length.
pub(crate) const fn squeeze(sql: &[u8], out: &mut [u8]) -> usize {
    let mut at = 0; // next byte of `sql`
    let mut len = 0; // bytes of output so far
    let mut gap = false; // a blank or comment since the last byte written
    while at < sql.len() {
        let byte = sql[at];
        let next = if at + 1 < sql.len() { sql[at + 1] } else { 0 };
        if byte == b'-' && next == b'-' {
            while at < sql.len() && sql[at] != b'\n' {
                at += 1;
            }
            gap = true;
            continue;
        }
        if byte == b'/' && next == b'*' {
            at += 2;
            while at < sql.len() && !(sql[at] == b'*' && at + 1 < sql.len() && sql[at + 1] == b'/')
            {
                at += 1;
            }
            at += 2; // past `*/` (or past the end of an unterminated comment)
            gap = true;
            continue;
        }
        if byte.is_ascii_whitespace() {
            at += 1;
            gap = true;
            continue;
        }
        if gap && len > 0 {
            if len < out.len() {
                out[len] = b' ';
            }
            len += 1;
        }
        gap = false;
        let close = match byte {
            b'\'' | b'"' | b'`' => byte,
            b'[' => b']',
            _ => 0,
        };
        // The token's first byte; for a quoted one, everything up to its closing quote.
        let mut quoted = close != 0;
        loop {
            if len < out.len() {
                out[len] = sql[at];
            }
            len += 1;
            at += 1;
            if !quoted || at >= sql.len() {
                break;
            }
            if sql[at] == close {
                quoted = false; // copy the closing quote, then stop
            }
        }
    }
    len
}

/// A `&'static str` constant: the SQL text `$text` (a constant expression) [`squeeze`]d at
/// compile time.
macro_rules! squeezed {
    ($text:expr) => {{
        const TEXT: &str = $text;
        const LEN: usize = $crate::store::sqltext::squeeze(TEXT.as_bytes(), &mut []);
        const BYTES: [u8; LEN] = {
            let mut out = [0u8; LEN];
            $crate::store::sqltext::squeeze(TEXT.as_bytes(), &mut out);
            out
        };
        // Squeezing removes or copies whole ASCII bytes and never splits a multi-byte
        // character, so the result is UTF-8 as its input was; checked at compile time.
        const SQUEEZED: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(text) => text,
            Err(_) => panic!("squeezed SQL is not UTF-8"),
        };
        SQUEEZED
    }};
}
pub(crate) use squeezed;

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sql: &str) -> String {
        let len = squeeze(sql.as_bytes(), &mut []);
        let mut out = vec![0u8; len];
        assert_eq!(squeeze(sql.as_bytes(), &mut out), len);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn comments_and_blanks_go_quoted_text_stays() {
        let cases = [
            ("", ""),
            ("  \n\t ", ""),
            ("SELECT 1", "SELECT 1"),
            ("  SELECT\n    1 ,\t2  \n", "SELECT 1 , 2"),
            ("-- a comment\nSELECT 1; -- another\n", "SELECT 1;"),
            ("SELECT 1--x\n+2", "SELECT 1 +2"),
            ("SELECT /* a\n comment */ 1/*x*/+2", "SELECT 1 +2"),
            (
                "SELECT '--  not a comment', 'it''s  ok'",
                "SELECT '--  not a comment', 'it''s  ok'",
            ),
            (
                "SELECT \"a  -- b\", `c  d`, [e  f]",
                "SELECT \"a  -- b\", `c  d`, [e  f]",
            ),
            ("-- don't \"stop\" here\nSELECT 'x'", "SELECT 'x'"),
            ("SELECT 'é  ü'  -- ñ\n", "SELECT 'é  ü'"),
            // Unterminated: copied or dropped to the end, never past it.
            ("SELECT 'open  ", "SELECT 'open  "),
            ("SELECT 1 /* open", "SELECT 1"),
            ("SELECT 1 -", "SELECT 1 -"),
            ("x/", "x/"),
        ];
        for (input, want) in cases {
            assert_eq!(run(input), want, "{input:?}");
        }
    }

    #[test]
    fn the_macro_gives_the_same_text() {
        const TEXT: &str = squeezed!("-- c\nSELECT  a,\n  'b  c'  FROM t -- d\n");
        assert_eq!(TEXT, "SELECT a, 'b  c' FROM t");
        assert_eq!(TEXT, run("-- c\nSELECT  a,\n  'b  c'  FROM t -- d\n"));
    }
}
