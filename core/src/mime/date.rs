//! Dates to unix seconds: IMAP INTERNALDATE (RFC 3501 `date-time`, parsed strictly here) and
//! RFC 5322 Date headers (parsed leniently by mail-parser, as real mail needs).
//!
//! Both return None for anything that is not a real calendar date; they must never panic or
//! overflow on hostile input.

use mail_parser::{HeaderValue, parsers::MessageStream};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// IMAP INTERNALDATE, e.g. `17-Jul-1996 02:44:25 -0700` (the day may be space-padded), to
/// unix seconds. Surrounding quotes and whitespace are ignored; anything else is None.
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let s = s.trim().trim_matches('"').trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim_start().split_once(' ')?;
    let mut dmy = date.split('-');
    let (day, month, year) = day_month_year(&mut dmy)?;
    if dmy.next().is_some() {
        return None;
    }
    let (hour, minute, second) = clock(time)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = zone_offset(zone.trim())?;
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second - offset)
}

/// An RFC 5322 Date header value (obsolete forms and comments included) to unix seconds.
pub fn parse_header_date(raw: &[u8]) -> Option<i64> {
    if let Some(seconds) = canonical_header_date(raw) {
        return Some(seconds);
    }
    let mut line: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    line.push(b'\n');
    match MessageStream::new(&line).parse_date() {
        HeaderValue::DateTime(dt) if dt.is_valid() => Some(dt.to_timestamp()),
        _ => None,
    }
}

/// The form nearly every Date header has, `[Www, ]D Mon YYYY HH:MM:SS +hhmm[ (zone)]`, read
/// by hand; None for anything else, which mail-parser then reads (a header sync dates every
/// message: mail-parser's byte stream and the line copy it needs took about 1% of the sync's
/// reading thread). Strict where mail-parser is lenient, so where this answers, mail-parser
/// answers the same (`canonical_dates_agree_with_mail_parser`): a real calendar date from
/// 1970 to 3000 (mail-parser's years end there), a second below 60, one space between the fields.
fn canonical_header_date(raw: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(raw).ok()?;
    let text = match text.split_once(", ") {
        Some((weekday, rest)) if WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(weekday)) => rest,
        Some(_) => return None,
        None => text,
    };
    let mut fields = text.split(' ');
    let (day, month, year) = day_month_year(&mut fields)?;
    let (hour, minute, second) = clock(fields.next()?)?;
    let offset = zone_offset(fields.next()?)?;
    match fields.next() {
        None => {}
        Some(comment)
            if comment.len() > 2
                && comment.starts_with('(')
                && comment.ends_with(')')
                && comment
                    .get(1..comment.len() - 1)?
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic()) => {}
        Some(_) => return None,
    }
    if fields.next().is_some()
        || !(1970..=3000).contains(&year)
        || hour > 23
        || minute > 59
        || second > 59
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second - offset)
}

/// `D Mon YYYY` (or `D-Mon-YYYY`): the next three of `fields` as day, month (1-12) and year;
/// the day is not checked against the month here.
fn day_month_year<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<(i64, i64, i64)> {
    let day = number(fields.next()?, 1, 2)?;
    let month_name = fields.next()?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as i64
        + 1;
    let year = number(fields.next()?, 4, 4)?;
    Some((day, month, year))
}

/// `HH:MM:SS`, two digits each; the ranges are the caller's to check.
fn clock(text: &str) -> Option<(i64, i64, i64)> {
    let mut hms = text.split(':');
    let time = (
        number(hms.next()?, 2, 2)?,
        number(hms.next()?, 2, 2)?,
        number(hms.next()?, 2, 2)?,
    );
    hms.next().is_none().then_some(time)
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `digits` as a number when it has between `min` and `max` ASCII digits.
/// Summed by hand: `str::parse` cost about 150 instructions a call at `opt-level = "z"`, and
/// a header sync reads twelve of these a message (callers pass `max` ≤ 4, so no overflow).
fn number(digits: &str, min: usize, max: usize) -> Option<i64> {
    if digits.len() < min || digits.len() > max {
        return None;
    }
    digits.bytes().try_fold(0i64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// `+hhmm` / `-hhmm` to seconds east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, zone.get(1..)?),
        b'-' => (-1, zone.get(1..)?),
        _ => return None,
    };
    let hhmm = number(digits, 4, 4)?;
    let (hours, minutes) = (hhmm / 100, hhmm % 100);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_date_from_rfc3501() {
        // 1996-07-17T09:44:25Z
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date("\"17-Jul-1996 02:44:25 -0700\""),
            Some(837_596_665)
        );
        assert_eq!(parse_internal_date(" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_internal_date("01-JAN-1970 01:00:00 +0100"), Some(0));
        assert_eq!(
            parse_internal_date("29-Feb-2024 12:00:00 +0000"),
            Some(1_709_208_000)
        );
    }

    #[test]
    fn internal_date_rejects_impossible_values() {
        for bad in [
            "",
            "29-Feb-2023 12:00:00 +0000",
            "31-Apr-2024 12:00:00 +0000",
            "17-Jux-1996 02:44:25 -0700",
            "17-Jul-1996 24:44:25 -0700",
            "17-Jul-1996 02:44:25 0700",
            "17-Jul-1996 02:44:25 +07",
            "17-Jul-96 02:44:25 -0700",
            "17-Jul-1996-3 02:44:25 -0700",
            "17-Jul-1996 02:44 -0700",
            "é-Jul-1996 02:44:25 -0700",
        ] {
            assert_eq!(parse_internal_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_dates_in_common_forms() {
        assert_eq!(
            parse_header_date(b"Wed, 17 Jul 1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_header_date(b"17 Jul 1996 09:44:25 GMT"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_header_date(b"Wed, 17 Jul 1996\r\n 02:44:25 -0700 (PDT)"),
            Some(837_596_665)
        );
        assert_eq!(parse_header_date(b"not a date"), None);
        assert_eq!(parse_header_date(b""), None);
    }

    fn mail_parser_date(raw: &[u8]) -> Option<i64> {
        let mut line = raw.to_vec();
        line.push(b'\n');
        match MessageStream::new(&line).parse_date() {
            HeaderValue::DateTime(dt) if dt.is_valid() => Some(dt.to_timestamp()),
            _ => None,
        }
    }

    /// Generated dates in the canonical form and near it: wherever the hand-written reader
    /// answers, mail-parser answers the same, and it answers for the usual forms.
    #[test]
    fn canonical_dates_agree_with_mail_parser() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut answered = 0;
        for _ in 0..20_000 {
            let weekday = ["", "Mon, ", "sun, ", "Xyz, ", "Mon,"][next(5) as usize];
            let day = next(33);
            let day = if next(4) == 0 {
                format!("{day:02}")
            } else {
                day.to_string()
            };
            let month = ["Jan", "feb", "MAR", "Apr", "Jux", "Dec", "Feb"][next(7) as usize];
            let year = [1969, 1970, 1996, 2000, 2023, 2024, 2100, 9999, 99][next(9) as usize];
            let (h, m, sec) = (next(26), next(62), next(62));
            let zone = [
                "+0000", "-0700", "+0530", "+2400", "-0060", "GMT", "+05", "-0000",
            ][next(8) as usize];
            let tail = ["", "", " (PDT)", " (UTC)", " (x y)", "  ", " x"][next(7) as usize];
            let text = format!("{weekday}{day} {month} {year} {h:02}:{m:02}:{sec:02} {zone}{tail}");
            let fast = canonical_header_date(text.as_bytes());
            if fast.is_some() {
                answered += 1;
                assert_eq!(fast, mail_parser_date(text.as_bytes()), "{text}");
            }
            assert_eq!(
                parse_header_date(text.as_bytes()),
                fast.or_else(|| mail_parser_date(text.as_bytes())),
                "{text}"
            );
        }
        assert!(
            answered > 1_000,
            "the fast path answered only {answered} times"
        );
        assert_eq!(
            canonical_header_date(b"Mon, 02 Jan 2023 01:22:17 +0000"),
            Some(1_672_622_537)
        );
        assert_eq!(
            canonical_header_date(b"Sun, 01 Jan 2023 18:57:49 -0800 (PST)"),
            Some(1_672_628_269)
        );
    }
}
