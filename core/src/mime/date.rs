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
    let day = number(dmy.next()?, 1, 2)?;
    let month_name = dmy.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year = number(dmy.next()?, 4, 4)?;
    if dmy.next().is_some() {
        return None;
    }
    let mut hms = time.split(':');
    let (hour, minute, second) = (
        number(hms.next()?, 2, 2)?,
        number(hms.next()?, 2, 2)?,
        number(hms.next()?, 2, 2)?,
    );
    if hms.next().is_some() || hour > 23 || minute > 59 || second > 60 {
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

/// `digits` as a number when it has between `min` and `max` ASCII digits.
fn number(digits: &str, min: usize, max: usize) -> Option<i64> {
    if digits.len() < min || digits.len() > max || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
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
}
