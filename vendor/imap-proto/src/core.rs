use nom::{
    branch::alt,
    bytes::streaming::{tag, take, take_while, take_while1},
    character::streaming::{char, digit1, space0},
    combinator::{map, map_res, opt},
    multi::{separated_list0, separated_list1},
    sequence::{delimited, preceded},
    IResult, Parser,
};

use std::borrow::Cow;
use std::str::from_utf8;

pub(crate) fn to_owned_cow<T: ?Sized + ToOwned>(c: Cow<'_, T>) -> Cow<'static, T> {
    Cow::Owned(c.into_owned())
}

// ----- number -----

// number          = 1*DIGIT
//                    ; Unsigned 32-bit integer
//                    ; (0 <= n < 4,294,967,296)
// ANVERT-PATCH: the digits summed with overflow checks instead of `from_utf8` and
// `u32::from_str` (a FETCH holds a dozen numbers); the same value, the same error on overflow
// (`anvert_tests::anvert_numbers_match_from_str`).
pub fn number(i: &[u8]) -> IResult<&[u8], u32> {
    let (i, bytes) = digit1(i)?;
    match bytes.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(10)?
            .checked_add(u32::from(b.wrapping_sub(b'0')))
    }) {
        Some(v) => Ok((i, v)),
        None => Err(nom::Err::Error(nom::error::make_error(
            i,
            nom::error::ErrorKind::MapRes,
        ))),
    }
}

// same as `number` but 64-bit
pub fn number_64(i: &[u8]) -> IResult<&[u8], u64> {
    let (i, bytes) = digit1(i)?;
    match bytes.iter().try_fold(0u64, |n, &b| {
        n.checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))
    }) {
        Some(v) => Ok((i, v)),
        None => Err(nom::Err::Error(nom::error::make_error(
            i,
            nom::error::ErrorKind::MapRes,
        ))),
    }
}

// seq-range       = seq-number ":" seq-number
//                    ; two seq-number values and all values between
//                    ; these two regardless of order.
//                    ; seq-number is a nz-number
pub fn sequence_range(i: &[u8]) -> IResult<&[u8], std::ops::RangeInclusive<u32>> {
    map((number, tag(":"), number), |(s, _, e)| s..=e).parse(i)
}

// sequence-set    = (seq-number / seq-range) *("," sequence-set)
//                     ; set of seq-number values, regardless of order.
//                     ; Servers MAY coalesce overlaps and/or execute the
//                     ; sequence in any order.
pub fn sequence_set(i: &[u8]) -> IResult<&[u8], Vec<std::ops::RangeInclusive<u32>>> {
    separated_list1(tag(","), alt((sequence_range, map(number, |n| n..=n)))).parse(i)
}

// ----- string -----

// string = quoted / literal
pub fn string(i: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((quoted, literal)).parse(i)
}

// ANVERT-PATCH: valid UTF-8 (nearly every string) is checked by `from_utf8`, which takes
// ASCII a word at a time; `from_utf8_lossy` walks it byte by byte. Same result.
#[inline]
fn lossy_str(bytes: &[u8]) -> Cow<'_, str> {
    match from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

// string bytes as utf8 — falls back to lossy decoding when the literal
// or quoted contents include non-UTF-8 bytes (e.g. Latin-1 / ISO-8859-9
// MIME filenames in BODYSTRUCTURE responses). Strict from_utf8 would
// fail, breaking the entire response stream on a single bad mail.
pub fn string_utf8(i: &[u8]) -> IResult<&[u8], Cow<'_, str>> {
    map(string, lossy_str).parse(i)
}

// quoted = DQUOTE *QUOTED-CHAR DQUOTE
// ANVERT-PATCH: one loop over the bytes instead of nom's `escaped` over `take_while1`
// (the envelope's strings are most of a header sync's parsing: `quoted` and the nom
// machinery under it were about 4% of its instructions). Same results, errors included:
// `tests::anvert_quoted_and_nil_match_the_nom_parsers` compares the two.
pub fn quoted(i: &[u8]) -> IResult<&[u8], &[u8]> {
    use nom::error::{make_error, ErrorKind};
    let inner = match i.split_first() {
        None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
        Some((b'"', inner)) => inner,
        Some(_) => return Err(nom::Err::Error(make_error(i, ErrorKind::Char))),
    };
    let mut at = skip_ordinary(inner, 0);
    let mut after_escape = false;
    loop {
        match inner.get(at) {
            // As nom's streaming parsers say it: more is needed.
            None if after_escape => return Err(nom::Err::Incomplete(nom::Needed::Unknown)),
            None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
            Some(b'"') => {
                let (text, rest) = inner.split_at(at);
                return Ok((rest.get(1..).unwrap_or_default(), text));
            }
            Some(b'\\') => match inner.get(at + 1) {
                None => return Err(nom::Err::Incomplete(nom::Needed::new(1))),
                Some(b'\\' | b'"') => {
                    at += 2;
                    after_escape = true;
                    continue;
                }
                Some(_) => {
                    let rest = inner.get(at + 1..).unwrap_or_default();
                    return Err(nom::Err::Error(make_error(rest, ErrorKind::OneOf)));
                }
            },
            Some(b'\r' | b'\n' | 0) => {
                let rest = inner.get(at..).unwrap_or_default();
                // nom's `escaped` fails on a first byte it cannot take; past it, the closing
                // quote is what fails.
                let kind = if at == 0 {
                    ErrorKind::Escaped
                } else {
                    ErrorKind::Char
                };
                return Err(nom::Err::Error(make_error(rest, kind)));
            }
            Some(_) => at = skip_ordinary(inner, at + 1),
        }
        after_escape = false;
    }
}

// ANVERT-PATCH: the index of the first `"`, `\`, CR, LF or NUL at or after `at`, found eight
// bytes at a time; past the last whole word of eight, `at` of that word (the loop above
// takes the rest byte by byte). For a little-endian word `x`, `(x - 0x01…01) & !x & 0x80…80`
// marks the zero bytes of `x`, and its lowest mark is exactly the first zero byte (a borrow
// only runs upwards), so the lowest mark over the words `x ^ c…c` is the first special byte.
// Subjects, names, previews: about 6 instructions a byte one at a time, under 2 this way.
#[inline]
fn skip_ordinary(inner: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(word) = inner.get(at..at.saturating_add(8)) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let marks = zero(x)
            | zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | zero(x ^ (ONES * u64::from(b'\r')))
            | zero(x ^ (ONES * u64::from(b'\n')));
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at
}

// quoted bytes as utf8 — lossy, see comment on string_utf8.
pub fn quoted_utf8(i: &[u8]) -> IResult<&[u8], Cow<'_, str>> {
    map(quoted, lossy_str).parse(i)
}

// quoted-specials = DQUOTE / "\"
pub fn is_quoted_specials(c: u8) -> bool {
    c == b'"' || c == b'\\'
}

/// literal = "{" number "}" CRLF *CHAR8
///            ; Number represents the number of CHAR8s
pub fn literal(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let mut parser = (tag("{"), number, tag("}"), tag("\r\n"));

    let (remaining, (_, count, _, _)) = parser.parse(input)?;

    let (remaining, data) = take(count)(remaining)?;

    Ok((remaining, data))
}

/// Anvert patch (RFC 3516): literal8 = "~{" number64 "}" CRLF *OCTET
pub fn literal8(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let mut parser = (tag("~{"), number, tag("}"), tag("\r\n"));

    let (remaining, (_, count, _, _)) = parser.parse(input)?;

    let (remaining, data) = take(count)(remaining)?;

    Ok((remaining, data))
}

// ----- astring ----- atom (roughly) or string

// astring = 1*ASTRING-CHAR / string
pub fn astring(i: &[u8]) -> IResult<&[u8], &[u8]> {
    alt((take_while1(is_astring_char), string)).parse(i)
}

// astring bytes as utf8 — lossy, see comment on string_utf8.
pub fn astring_utf8(i: &[u8]) -> IResult<&[u8], Cow<'_, str>> {
    map(astring, lossy_str).parse(i)
}

// ASTRING-CHAR = ATOM-CHAR / resp-specials
pub fn is_astring_char(c: u8) -> bool {
    is_atom_char(c) || is_resp_specials(c)
}

// ATOM-CHAR = <any CHAR except atom-specials>
pub fn is_atom_char(c: u8) -> bool {
    is_char(c) && !is_atom_specials(c)
}

// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
pub fn is_atom_specials(c: u8) -> bool {
    c == b'('
        || c == b')'
        || c == b'{'
        || c == b' '
        || c < 32
        || is_list_wildcards(c)
        || is_quoted_specials(c)
        || is_resp_specials(c)
}

// resp-specials = "]"
pub fn is_resp_specials(c: u8) -> bool {
    c == b']'
}

// atom = 1*ATOM-CHAR
pub fn atom(i: &[u8]) -> IResult<&[u8], &str> {
    map_res(take_while1(is_atom_char), from_utf8).parse(i)
}

// ----- nstring ----- nil or string

// nstring = string / nil
// ANVERT-PATCH: a quoted string or a literal goes straight to its parser (the alternatives
// before it fail at the first byte, with an error, so the answer is the same; a quoted
// string that fails takes the whole list, whose answer is then the literal's error);
// anything else takes the whole list. An envelope is a dozen nstrings. `anvert_nstring_dispatch_matches`.
pub fn nstring(i: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
    let whole = |i| alt((map(nil, |_| None), map(string, Some))).parse(i);
    match i.first() {
        // A broken quoted string: the whole list's answer is the literal parser's error.
        Some(b'"') => match quoted(i) {
            Ok((rest, text)) => Ok((rest, Some(text))),
            Err(nom::Err::Error(_)) => whole(i),
            Err(e) => Err(e),
        },
        Some(b'{') => map(literal, Some).parse(i),
        _ => whole(i),
    }
}

// nstring bytes as utf8 — lossy, see comment on string_utf8.
pub fn nstring_utf8(i: &[u8]) -> IResult<&[u8], Option<Cow<'_, str>>> {
    alt((map(nil, |_| None), map(string_utf8, Some))).parse(i)
}

// nil = "NIL"
// ANVERT-PATCH: three bytes compared directly (`tag_no_case` lowercased both sides a byte at
// a time; every nstring of an envelope is tried as NIL first). Same results.
pub fn nil(i: &[u8]) -> IResult<&[u8], &[u8]> {
    const NIL: &[u8] = b"NIL";
    let n = i.len().min(NIL.len());
    let head = i.get(..n).unwrap_or_default();
    if !head.eq_ignore_ascii_case(NIL.get(..n).unwrap_or_default()) {
        return Err(nom::Err::Error(nom::error::make_error(
            i,
            nom::error::ErrorKind::Tag,
        )));
    }
    if n < NIL.len() {
        return Err(nom::Err::Incomplete(nom::Needed::new(NIL.len() - n)));
    }
    let (nil, rest) = i.split_at(n);
    Ok((rest, nil))
}

// ----- text -----

// text = 1*TEXT-CHAR — lossy, see comment on string_utf8.
pub fn text(i: &[u8]) -> IResult<&[u8], Cow<'_, str>> {
    map(take_while(is_text_char), lossy_str).parse(i)
}

// TEXT-CHAR = <any CHAR except CR and LF>
pub fn is_text_char(c: u8) -> bool {
    is_char(c) && c != b'\r' && c != b'\n'
}

// CHAR = %x01-7F
//          ; any 7-bit US-ASCII character,
//          ;  excluding NUL
// From RFC5234
//
// Real-world IMAP servers (Dovecot, Cyrus, …) regularly emit 8-bit bytes
// inside quoted strings and literals — typically MIME filenames in
// non-UTF-8 encodings like Latin-1 or ISO-8859-9 (Turkish). RFC 6855 /
// IMAP4rev2 (RFC 9051) formally allow UTF-8 in these positions. Strict
// 7-bit rejection breaks BODYSTRUCTURE parsing on a single bad mail and
// desyncs the entire stream. Accept any non-NUL byte and let the
// higher-level UTF-8 conversion deal with non-UTF-8 sequences via lossy
// decoding.
pub fn is_char(c: u8) -> bool {
    c != 0
}

// ----- others -----

// list-wildcards = "%" / "*"
pub fn is_list_wildcards(c: u8) -> bool {
    c == b'%' || c == b'*'
}

pub fn paren_delimited<'a, O, E>(
    f: impl Parser<&'a [u8], Output = O, Error = E>,
) -> impl Parser<&'a [u8], Output = O, Error = E>
where
    E: nom::error::ParseError<&'a [u8]>,
{
    delimited(char('('), f, char(')'))
}

pub fn parenthesized_nonempty_list<'a, O, E>(
    f: impl Parser<&'a [u8], Output = O, Error = E>,
) -> impl Parser<&'a [u8], Output = Vec<O>, Error = E>
where
    E: nom::error::ParseError<&'a [u8]>,
{
    delimited(
        char('('),
        separated_list1(char(' '), f),
        // Targeted lenience: Some real-world IMAP servers
        // insert extra whitespace before the closing parenthesis.
        (space0, char(')')),
    )
}

pub fn parenthesized_list<'a, O, E>(
    f: impl Parser<&'a [u8], Output = O, Error = E>,
) -> impl Parser<&'a [u8], Output = Vec<O>, Error = E>
where
    E: nom::error::ParseError<&'a [u8]>,
{
    delimited(
        char('('),
        separated_list0(char(' '), f),
        preceded(
            opt(char(' ')), // Surgemail sometimes sends a space before the closing bracket.
            char(')'),
        ),
    )
}

pub fn opt_opt<'a, O, E>(
    mut f: impl Parser<&'a [u8], Output = Option<O>, Error = E>,
) -> impl Parser<&'a [u8], Output = Option<O>, Error = E>
where
    E: nom::error::ParseError<&'a [u8]>,
{
    move |i: &'a [u8]| match f.parse(i) {
        Ok((i, o)) => Ok((i, o)),
        Err(nom::Err::Error(_)) => Ok((i, None)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assert_matches::assert_matches;

    #[test]
    fn test_quoted() {
        let (rem, val) = quoted(br#""Hello"???"#).unwrap();
        assert_eq!(rem, b"???");
        assert_eq!(val, b"Hello");

        // Allowed escapes...
        assert_eq!(
            quoted(br#""Hello \" "???"#),
            Ok((&b"???"[..], &br#"Hello \" "#[..]))
        );
        assert_eq!(
            quoted(br#""Hello \\ "???"#),
            Ok((&b"???"[..], &br#"Hello \\ "#[..]))
        );

        // Not allowed escapes...
        assert!(quoted(br#""Hello \a "???"#).is_err());
        assert!(quoted(br#""Hello \z "???"#).is_err());
        assert!(quoted(br#""Hello \? "???"#).is_err());

        let (rem, val) = quoted(br#""Hello \"World\""???"#).unwrap();
        assert_eq!(rem, br#"???"#);
        // Should it be this (Hello \"World\") ...
        assert_eq!(val, br#"Hello \"World\""#);
        // ... or this (Hello "World")?
        //assert_eq!(val, br#"Hello "World""#); // fails

        // Test Incomplete
        assert_matches!(quoted(br#""#), Err(nom::Err::Incomplete(_)));
        assert_matches!(quoted(br#""\"#), Err(nom::Err::Incomplete(_)));
        assert_matches!(quoted(br#""Hello "#), Err(nom::Err::Incomplete(_)));

        // Test Error
        assert_matches!(quoted(br"\"), Err(nom::Err::Error(_)));
    }

    #[test]
    fn test_string_literal() {
        match string(b"{3}\r\nXYZ") {
            Ok((_, value)) => {
                assert_eq!(value, b"XYZ");
            }
            rsp => panic!("unexpected response {rsp:?}"),
        }
    }

    #[test]
    fn test_string_literal_containing_null() {
        match string(b"{5}\r\nX\0Y\0Z") {
            Ok((_, value)) => {
                assert_eq!(value, b"X\0Y\0Z");
            }
            rsp => panic!("unexpected response {rsp:?}"),
        }
    }

    #[test]
    fn test_astring() {
        match astring(b"text ") {
            Ok((_, value)) => {
                assert_eq!(value, b"text");
            }
            rsp => panic!("unexpected response {rsp:?}"),
        }
    }

    #[test]
    fn test_sequence_range() {
        match sequence_range(b"23:28 ") {
            Ok((_, value)) => {
                assert_eq!(*value.start(), 23);
                assert_eq!(*value.end(), 28);
                assert_eq!(value.collect::<Vec<u32>>(), vec![23, 24, 25, 26, 27, 28]);
            }
            rsp => panic!("Unexpected response {rsp:?}"),
        }
    }

    #[test]
    fn test_sequence_set() {
        match sequence_set(b"1,2:8,10,15:30 ") {
            Ok((_, value)) => {
                assert_eq!(value.len(), 4);
                let v = &value[0];
                assert_eq!(*v.start(), 1);
                assert_eq!(*v.end(), 1);
                let v = &value[1];
                assert_eq!(*v.start(), 2);
                assert_eq!(*v.end(), 8);
                let v = &value[2];
                assert_eq!(*v.start(), 10);
                assert_eq!(*v.end(), 10);
                let v = &value[3];
                assert_eq!(*v.start(), 15);
                assert_eq!(*v.end(), 30);
            }
            rsp => panic!("Unexpected response {rsp:?}"),
        }
    }
}

#[cfg(test)]
mod anvert_tests {
    use super::*;
    use nom::{
        bytes::streaming::{escaped, tag_no_case},
        character::streaming::one_of,
        combinator::peek,
    };
    use std::str::FromStr;

    // The nom parsers the hand-written ones replace (upstream's code).
    fn quoted_nom(i: &[u8]) -> IResult<&[u8], &[u8]> {
        delimited(
            char('"'),
            alt((
                // nom 8's `escaped` rejects empty input, so match an empty quoted string separately.
                map(peek(char('"')), |_| &b""[..]),
                escaped(
                    take_while1(|byte| is_text_char(byte) && !is_quoted_specials(byte)),
                    '\\',
                    one_of("\\\""),
                ),
            )),
            char('"'),
        )
        .parse(i)
    }

    fn nil_nom(i: &[u8]) -> IResult<&[u8], &[u8]> {
        tag_no_case("NIL")(i)
    }

    /// Every prefix of quoted strings, literals, NIL and other bytes: `nstring` answers as
    /// the whole list of alternatives.
    #[test]
    fn anvert_nstring_dispatch_matches() {
        fn whole(i: &[u8]) -> IResult<&[u8], Option<&[u8]>> {
            alt((map(nil, |_| None), map(string, Some))).parse(i)
        }
        for line in [
            &b"\"a \\\" b\" rest"[..],
            b"{3}\r\nabc rest",
            b"{x}\r\n",
            b"{99999999999}\r\nab",
            b"NIL rest",
            b"nil)",
            b"NIX",
            b"\"unterminated",
            b"\"bad\r\n\"",
            b"atom",
            b"(x)",
        ] {
            for end in 0..=line.len() {
                let input = &line[..end];
                assert_eq!(
                    nstring(input),
                    whole(input),
                    "{:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    /// Digit runs around both limits, with leading zeros and what follows: the same values
    /// and errors as parsing the text with `from_str`.
    #[test]
    fn anvert_numbers_match_from_str() {
        let mut inputs: Vec<String> = vec![
            "0".into(),
            "007".into(),
            "4294967295".into(),
            "4294967296".into(),
            "18446744073709551615".into(),
            "18446744073709551616".into(),
            "99999999999999999999999".into(),
            "00000000000000000000001".into(),
            "".into(),
            "x1".into(),
        ];
        let mut n = 1u64;
        for _ in 0..19 {
            inputs.push(n.to_string());
            inputs.push((n - 1).to_string());
            inputs.push((n * 9 + 7).to_string());
            n *= 10;
        }
        for text in inputs {
            for tail in ["", " ", ")"] {
                let input = format!("{text}{tail}");
                let input = input.as_bytes();
                let expect32 = digit1::<_, nom::error::Error<&[u8]>>(input).and_then(|(i, d)| {
                    match std::str::from_utf8(d)
                        .ok()
                        .and_then(|s| u32::from_str(s).ok())
                    {
                        Some(v) => Ok((i, v)),
                        None => Err(nom::Err::Error(nom::error::make_error(
                            i,
                            nom::error::ErrorKind::MapRes,
                        ))),
                    }
                });
                assert_eq!(number(input), expect32, "{text:?}{tail:?}");
                let expect64 = digit1::<_, nom::error::Error<&[u8]>>(input).and_then(|(i, d)| {
                    match std::str::from_utf8(d)
                        .ok()
                        .and_then(|s| u64::from_str(s).ok())
                    {
                        Some(v) => Ok((i, v)),
                        None => Err(nom::Err::Error(nom::error::make_error(
                            i,
                            nom::error::ErrorKind::MapRes,
                        ))),
                    }
                });
                assert_eq!(number_64(input), expect64, "{text:?}{tail:?}");
            }
        }
    }

    /// Every input up to four bytes over a small alphabet, and some longer ones, parse the
    /// same (results and errors) with the hand-written `quoted` and `nil` as with the nom
    /// parsers they replace (ANVERT-PATCH.md).
    #[test]
    fn anvert_quoted_and_nil_match_the_nom_parsers() {
        let alphabet: &[u8] = b"\"\\aN\r\n\x00\xc3iLl ";
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        let mut last: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for prefix in &last {
                for &b in alphabet {
                    let mut v = prefix.clone();
                    v.push(b);
                    next.push(v);
                }
            }
            inputs.extend(next.iter().cloned());
            last = next;
        }
        // Longer strings, so that whole words of eight are skipped: every special byte (and
        // a high byte) at every place of a 1-24 byte run, with the run closed or not.
        for len in 1..=24usize {
            for at in 0..len {
                for special in [b'"', b'\\', b'\r', b'\n', 0, 0xc3, b'a'] {
                    let mut text: Vec<u8> = (0..len).map(|i| b"Subject x"[i % 9]).collect();
                    text[at] = special;
                    for close in [&b""[..], b"\"", b"\" rest", b"\\\"\""] {
                        let mut v = vec![b'"'];
                        v.extend_from_slice(&text);
                        v.extend_from_slice(close);
                        inputs.push(v);
                    }
                }
            }
        }
        for extra in [
            &b"\"hello world\" rest"[..],
            b"\"esc \\\"quoted\\\" and \\\\ back\")",
            b"\"bad \\x escape\"",
            b"\"line\r\nbreak\"",
            b"\"caf\xc3\xa9 \xff\xfe\" NIL",
            b"\"unterminated",
            b"nil)",
            b"NILS",
            b"NiL ",
            b"\"\"",
            b"\"\" ",
        ] {
            inputs.push(extra.to_vec());
        }
        for input in &inputs {
            assert_eq!(
                format!("{:?}", quoted(input)),
                format!("{:?}", quoted_nom(input)),
                "quoted {input:?}"
            );
            assert_eq!(
                format!("{:?}", nil(input)),
                format!("{:?}", nil_nom(input)),
                "nil {input:?}"
            );
            assert_eq!(lossy_str(input), String::from_utf8_lossy(input));
        }
    }
}
