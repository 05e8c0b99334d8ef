//! Digits: unsigned integers as decimal text without `core::fmt` (a header sync writes about
//! ten per message: part sizes and line counts in the parts column, section numbers; a
//! formatter call costs ten times this loop at `opt-level = "z"`), and hex digits' values
//! (quoted-printable, in bodies and in header words).

/// The value of a hex digit, either case.
#[inline(always)]
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Appends `n` in decimal to `out`.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        if let Some(slot) = digits.get_mut(start) {
            // rest % 10 < 10: the cast cannot truncate.
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8. One copy, not a `String::push` per digit.
    out.push_str(std::str::from_utf8(digits.get(start..).unwrap_or_default()).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_text_is_display_s() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut cases = vec![0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX];
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            cases.push(seed >> (seed % 64));
        }
        for n in cases {
            let mut out = String::from("x");
            super::push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }
}
