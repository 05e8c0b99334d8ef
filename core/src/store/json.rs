//! The JSON text of the columns a header sync writes for every message (address lists,
//! keywords, references, MIME parts), written by hand.
//!
//! serde_json wrote them before, at about 350 instructions a string at the library's
//! `opt-level = "z"`; this writer copies a string that needs no escape in one piece (issue
//! 19's profile: 191 M of a 10,000-message sync's 2.9 G instructions went to these columns).
//! The output is byte for byte what `serde_json::to_string` writes for the same values (the
//! tests compare them), so the columns read back with serde_json as before and compare equal
//! to rows written by older versions.

/// A JSON array being written: `[`, values separated by `,`, `]` by [`Array::end`].
///
/// Each piece goes in with one `push_str`: what closes the value before (a string's quote),
/// the separator and what opens the next value together. At `opt-level = "z"` neither
/// `String::push` nor `push_str` is inlined, and a call costs about 40 instructions whatever
/// it copies (a 10,000-message sync makes over a million). So single characters go in as
/// `&str` too (`push` also calls the UTF-8 encoder).
pub(super) struct Array {
    out: String,
    after: After,
}

/// What the array holds so far.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// Nothing after its `[`.
    Open,
    /// A value, complete.
    Value,
    /// A string whose closing quote is not written yet.
    Str,
}

#[allow(clippy::single_char_add_str)]
impl Array {
    pub(super) fn with_capacity(bytes: usize) -> Array {
        let mut out = String::with_capacity(bytes);
        out.push_str("[");
        Array {
            out,
            after: After::Open,
        }
    }

    /// What goes before the next value: `open` first, `value` after a value, `string` after
    /// a string (its closing quote first).
    fn lead(&mut self, open: &'static str, value: &'static str, string: &'static str) {
        let text = match self.after {
            After::Open => open,
            After::Value => value,
            After::Str => string,
        };
        if !text.is_empty() {
            self.out.push_str(text);
        }
    }

    pub(super) fn str(&mut self, s: &str) {
        self.lead("\"", ",\"", "\",\"");
        string_body(&mut self.out, s);
        self.after = After::Str;
    }

    pub(super) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    pub(super) fn num(&mut self, n: u64) {
        self.lead("", ",", "\",");
        crate::digits::push_decimal(&mut self.out, n);
        self.after = After::Value;
    }

    pub(super) fn opt_num(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.num(n),
            None => self.null(),
        }
    }

    fn null(&mut self) {
        self.lead("null", ",null", "\",null");
        self.after = After::Value;
    }

    /// A nested array, written by `f`.
    pub(super) fn array(&mut self, f: impl FnOnce(&mut Array)) {
        self.lead("[", ",[", "\",[");
        let mut inner = Array {
            out: std::mem::take(&mut self.out),
            after: After::Open,
        };
        f(&mut inner);
        self.out = inner.end();
        self.after = After::Value;
    }

    pub(super) fn end(mut self) -> String {
        let close = match self.after {
            After::Str => "\"]",
            After::Open | After::Value => "]",
        };
        self.out.push_str(close);
        self.out
    }
}

/// `["a","b"]`.
pub(super) fn strings(list: &[String]) -> String {
    let mut a = Array::with_capacity(2 + list.iter().map(|s| s.len() + 3).sum::<usize>());
    for s in list {
        a.str(s);
    }
    a.end()
}

/// `s` as a JSON string, escaped as serde_json escapes: `"` and `\` by a backslash, the
/// control characters below U+0020 as `\b \t \n \f \r` or `\u00xx`; everything else as is.
#[cfg(test)]
fn string(out: &mut String, s: &str) {
    out.push('"');
    string_body(out, s);
    out.push('"');
}

/// The inside of [`string`]: `s` escaped, without the quotes.
fn string_body(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = crate::scan::json_special(bytes, start) {
        out.push_str(s.get(start..i).unwrap_or_default());
        match bytes.get(i).copied().unwrap_or_default() {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            b => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        // The byte is ASCII, so i + 1 is a character boundary.
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<String> {
        let mut v: Vec<String> = [
            "",
            "plain",
            "Zoë Ünicode — 日本語 📧",
            "quote\"back\\slash",
            "tab\tnl\ncr\rff\u{c}bs\u{8}",
            "\u{0}\u{1}\u{1f}\u{7f}\u{80}\u{2028}",
            "\"",
            "\\",
            "end\\",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push((0u8..0x80).map(char::from).collect());
        v
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in samples() {
            let mut out = String::new();
            string(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
        let all = samples();
        assert_eq!(strings(&all), serde_json::to_string(&all).unwrap());
        assert_eq!(strings(&[]), "[]");
    }

    #[test]
    fn nested_arrays_numbers_and_nulls_are_written_as_serde_json_writes_them() {
        let rows: Vec<(Option<&str>, u64, Option<u64>)> = vec![
            (Some("a"), 0, None),
            (None, u64::MAX, Some(7)),
            (Some("\"x\""), 1_234_567_890, Some(10)),
        ];
        let mut a = Array::with_capacity(0);
        for (s, n, m) in &rows {
            a.array(|r| {
                r.opt_str(*s);
                r.num(*n);
                r.opt_num(*m);
            });
        }
        assert_eq!(a.end(), serde_json::to_string(&rows).unwrap());

        // A string last in a nested array and in the outer one, empty arrays, a number
        // after a string.
        let pairs: Vec<(u64, &str)> = vec![(1, "a"), (2, ""), (3, "q\"")];
        let mut a = Array::with_capacity(0);
        for (n, s) in &pairs {
            a.array(|r| {
                r.num(*n);
                r.str(s);
            });
        }
        assert_eq!(a.end(), serde_json::to_string(&pairs).unwrap());
        let lists: Vec<Vec<String>> = vec![
            vec![],
            vec!["x".into()],
            vec![],
            vec!["y".into(), "z".into()],
        ];
        let mut a = Array::with_capacity(0);
        for list in &lists {
            a.array(|r| list.iter().for_each(|s| r.str(s)));
        }
        a.str("last");
        let mut expected = serde_json::to_string(&lists).unwrap();
        expected.insert_str(expected.len() - 1, ",\"last\"");
        assert_eq!(a.end(), expected);
        let mixed: (&str, u64, Option<u64>, &str) = ("s", 5, None, "t");
        let mut a = Array::with_capacity(0);
        a.str(mixed.0);
        a.num(mixed.1);
        a.opt_num(mixed.2);
        a.str(mixed.3);
        assert_eq!(a.end(), serde_json::to_string(&mixed).unwrap());
        assert_eq!(Array::with_capacity(0).end(), "[]");
    }
}
