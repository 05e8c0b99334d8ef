//! Columns by display width: wide characters (Japanese, emoji) take two cells, combining
//! marks none. Truncation never splits a character and marks the cut with `…`.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// `text` cut to at most `cells` display cells (ending in `…` when cut) and padded with
/// spaces to exactly `cells`. Control characters are shown as spaces (a subject cannot move
/// the cursor).
pub fn fit(text: &str, cells: usize) -> String {
    let mut out = cut(text, cells);
    let used = UnicodeWidthStr::width(out.as_str());
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(used)));
    out
}

/// `text` cut to at most `cells` display cells, ending in `…` when cut; no padding.
pub fn cut(text: &str, cells: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if UnicodeWidthStr::width(clean.as_str()) <= cells {
        return clean;
    }
    let mut out = String::new();
    let mut used = 0;
    // Room for the ellipsis (one cell).
    let room = cells.saturating_sub(1);
    for c in clean.chars() {
        let w = UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    if cells > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_take_two_cells_and_are_never_split() {
        assert_eq!(fit("abc", 5), "abc  ");
        assert_eq!(fit("日本語の件名", 6), "日本… ");
        for cells in 0..12 {
            let f = fit("日本語😀メール件名", cells);
            assert_eq!(
                UnicodeWidthStr::width(f.as_str()),
                cells,
                "{f:?} in {cells}"
            );
        }
        assert_eq!(cut("héllo", 3), "hé…");
        assert_eq!(cut("a\tb", 5), "a b");
    }
}
