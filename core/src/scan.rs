//! Finding the first byte of a small set in text, eight bytes at a time.
//!
//! A header sync passes every subject, display name and preview through
//! [`crate::mime::decode_header_text`] (is there a line break or an encoded word?) and every
//! string of its JSON columns through the JSON writer (is there a byte to escape?). Byte by
//! byte at the library's `opt-level = "z"` those two loops took about 78 M instructions of a
//! 10,000-message sync's reading thread (issue 19's profile); a word at a time they take a
//! fraction of that. The tests compare each search with the plain byte loop.
//!
//! The word tests are the usual exact ones: for a little-endian word `x`,
//! `(x - 0x0101…01·n) & !x & 0x8080…80` marks the bytes of `x` below `n` (for `n` ≤ 0x80),
//! and the lowest mark is exactly the first of them; a byte equal to `c` is a byte of
//! `x ^ (0x0101…01·c)` below 1. The lowest mark over several such tests is the first byte
//! any of them wants. (The vendored framer and quoted-string parser skip ordinary bytes the
//! same way: vendor/async-imap and vendor/imap-proto.)

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` below `n` (`n` ≤ 0x80); the lowest one set is exactly
/// the first such byte (the bits above it may be wrong: a borrow runs upwards).
#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES.wrapping_mul(u64::from(n))) & !x & HIGHS
}

/// [`below`] for the bytes of `x` equal to `c`.
#[inline(always)]
fn equal(x: u64, c: u8) -> u64 {
    below(x ^ ONES.wrapping_mul(u64::from(c)), 1)
}

/// The index of the first byte of `bytes` at or after `from` for which `hit` holds, where
/// `marks` is [`below`]/[`equal`] of a word for the same bytes.
#[inline(always)]
fn find(
    bytes: &[u8],
    from: usize,
    marks: impl Fn(u64) -> u64,
    hit: impl Fn(u8) -> bool,
) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let (words, rest) = tail.as_chunks::<8>();
    for (k, word) in words.iter().enumerate() {
        let m = marks(u64::from_le_bytes(*word));
        if m != 0 {
            return Some(from + k * 8 + (m.trailing_zeros() / 8) as usize);
        }
    }
    rest.iter()
        .position(|&b| hit(b))
        .map(|i| from + words.len() * 8 + i)
}

/// The first byte at or after `from` that a JSON string must escape: a control character
/// below U+0020, `"` or `\`.
pub(crate) fn json_special(bytes: &[u8], from: usize) -> Option<usize> {
    find(
        bytes,
        from,
        |x| below(x, 0x20) | equal(x, b'"') | equal(x, b'\\'),
        |b| b < 0x20 || b == b'"' || b == b'\\',
    )
}

/// The first CR, LF or `?` at or after `from` (a header value that holds none has no line
/// break and no encoded word).
pub(crate) fn header_special(bytes: &[u8], from: usize) -> Option<usize> {
    find(
        bytes,
        from,
        |x| equal(x, b'\r') | equal(x, b'\n') | equal(x, b'?'),
        |b| b == b'\r' || b == b'\n' || b == b'?',
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(bytes: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
        (from..bytes.len()).find(|&i| hit(bytes[i]))
    }

    /// Every length up to 40, every start, each special byte at every place, over a
    /// background of every other byte value (high bytes included: the word tests must not
    /// take 0x80-0xff for a hit).
    #[test]
    fn finds_what_the_byte_loop_finds() {
        let json = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        let header = |b: u8| b == b'\r' || b == b'\n' || b == b'?';
        let backgrounds: Vec<u8> = (0u8..=255).filter(|b| !json(*b) && !header(*b)).collect();
        let specials: Vec<u8> = (0u8..=255).filter(|b| json(*b) || header(*b)).collect();
        for (n, &fill) in backgrounds.iter().enumerate() {
            for len in 0..40usize {
                let mut text: Vec<u8> = (0..len)
                    .map(|i| backgrounds[(n + i * 7) % backgrounds.len()])
                    .collect();
                text.iter_mut().step_by(3).for_each(|b| *b = fill);
                for from in 0..=len + 1 {
                    assert_eq!(json_special(&text, from), naive(&text, from, json));
                    assert_eq!(header_special(&text, from), naive(&text, from, header));
                }
                if n % 16 != 0 {
                    continue;
                }
                for at in 0..len {
                    for &s in &specials {
                        let mut t = text.clone();
                        t[at] = s;
                        for from in [0, at.saturating_sub(1), at, at + 1] {
                            assert_eq!(json_special(&t, from), naive(&t, from, json), "{t:?}");
                            assert_eq!(header_special(&t, from), naive(&t, from, header));
                        }
                    }
                }
            }
        }
    }
}
