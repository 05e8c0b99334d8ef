//! POP3 reply parsing, sans I/O: status lines (`+OK`/`-ERR`), STAT/LIST/UIDL fields, the
//! APOP timestamp of the greeting, and the cleaning of server text before it goes into an
//! error. Everything here is total: hostile input becomes `Error::Protocol`, never a panic.
//! It must never see or echo what the client sent (arguments may hold credentials).

use crate::error::{Error, Result};

/// The most bytes of server text kept in an error.
const MAX_TEXT: usize = 300;
/// RFC 1939 caps a unique-id at 70 characters; a little slack for sloppy servers.
const MAX_UID_LEN: usize = 255;

/// The command a reply belongs to. Only its name ever reaches an error, never its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Greeting,
    Capa,
    Stls,
    Auth,
    User,
    Pass,
    Apop,
    Stat,
    List,
    Uidl,
    Top,
    Retr,
    Dele,
    Rset,
    Noop,
    Quit,
}

impl Verb {
    pub(super) fn name(self) -> &'static str {
        match self {
            Verb::Greeting => "greeting",
            Verb::Capa => "CAPA",
            Verb::Stls => "STLS",
            Verb::Auth => "AUTH",
            Verb::User => "USER",
            Verb::Pass => "PASS",
            Verb::Apop => "APOP",
            Verb::Stat => "STAT",
            Verb::List => "LIST",
            Verb::Uidl => "UIDL",
            Verb::Top => "TOP",
            Verb::Retr => "RETR",
            Verb::Dele => "DELE",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
        }
    }

    /// Words for `Error::Timeout`.
    pub(super) fn during(self) -> &'static str {
        match self {
            Verb::Greeting => "waiting for the POP3 greeting",
            Verb::Capa => "waiting for the POP3 server to answer CAPA",
            Verb::Stls => "waiting for the POP3 server to answer STLS",
            Verb::Auth | Verb::User | Verb::Pass | Verb::Apop => "logging in to the POP3 server",
            Verb::Stat => "waiting for the POP3 server to answer STAT",
            Verb::List => "waiting for the POP3 server to answer LIST",
            Verb::Uidl => "waiting for the POP3 server to answer UIDL",
            Verb::Top => "waiting for the POP3 server to answer TOP",
            Verb::Retr => "waiting for the POP3 server to answer RETR",
            Verb::Dele => "waiting for the POP3 server to answer DELE",
            Verb::Rset => "waiting for the POP3 server to answer RSET",
            Verb::Noop => "waiting for the POP3 server to answer NOOP",
            Verb::Quit => "waiting for the POP3 server to answer QUIT",
        }
    }
}

/// A status line: `+OK text` or `-ERR text` (text cleaned, possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Ok(String),
    Err(String),
}

impl Reply {
    /// Parses a status line (without its line ending).
    pub(super) fn parse(line: &[u8], verb: Verb) -> Result<Reply> {
        if let Some(rest) = strip_word(line, b"+OK") {
            Ok(Reply::Ok(clean(rest)))
        } else if let Some(rest) = strip_word(line, b"-ERR") {
            Ok(Reply::Err(clean(rest)))
        } else {
            Err(Error::protocol(format!(
                "the POP3 server answered {} with neither +OK nor -ERR: {:?}",
                verb.name(),
                truncate(&clean(line), 60)
            )))
        }
    }

    /// `+OK` text, or `ServerNo` carrying the server's `-ERR` text.
    pub(super) fn ok(self, verb: Verb) -> Result<String> {
        match self {
            Reply::Ok(text) => Ok(text),
            Reply::Err(text) => Err(Error::ServerNo {
                command: verb.name().into(),
                text,
            }),
        }
    }
}

/// `line` after `word` when `word` is followed by the end or a space.
fn strip_word<'a>(line: &'a [u8], word: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(word)?;
    match rest.first() {
        None => Some(rest),
        Some(b' ') => Some(&rest[1..]),
        Some(_) => None,
    }
}

/// Server text made safe for an error or a log: lossy UTF-8, control characters removed,
/// bounded.
pub(super) fn clean(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    truncate(text.trim(), MAX_TEXT)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A message number (1-based) as the server wrote it.
fn parse_msgno(field: &[u8], verb: Verb) -> Result<u32> {
    match parse_number(field) {
        Some(n) if n >= 1 && n <= u64::from(u32::MAX) => Ok(n as u32),
        _ => Err(bad_field(verb, "message number")),
    }
}

/// A plain decimal number: ASCII digits only, no sign, no overflow.
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 20 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    field.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn bad_field(verb: Verb, what: &str) -> Error {
    Error::protocol(format!(
        "the POP3 server sent an invalid {what} in its {} response",
        verb.name()
    ))
}

/// The first two space-separated fields of `line`; anything after them is ignored
/// (RFC 1939 allows servers to add information after a scan listing).
fn two_fields(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut fields = line.split(|b| *b == b' ').filter(|f| !f.is_empty());
    Some((fields.next()?, fields.next()?))
}

/// `STAT`: `count octets`.
pub(super) fn parse_stat(text: &str) -> Result<(u32, u64)> {
    let (count, octets) =
        two_fields(text.as_bytes()).ok_or_else(|| bad_field(Verb::Stat, "drop listing"))?;
    let count = parse_number(count)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad_field(Verb::Stat, "message count"))?;
    let octets = parse_number(octets).ok_or_else(|| bad_field(Verb::Stat, "size"))?;
    Ok((count, octets))
}

/// One LIST scan listing: `msgno size`.
pub(super) fn parse_scan(line: &[u8]) -> Result<(u32, u64)> {
    let (msgno, size) = two_fields(line).ok_or_else(|| bad_field(Verb::List, "scan listing"))?;
    let msgno = parse_msgno(msgno, Verb::List)?;
    let size = parse_number(size).ok_or_else(|| bad_field(Verb::List, "message size"))?;
    Ok((msgno, size))
}

/// One UIDL listing: `msgno unique-id`, the id being printable ASCII without spaces.
pub(super) fn parse_uid(line: &[u8]) -> Result<(u32, String)> {
    let (msgno, uid) =
        two_fields(line).ok_or_else(|| bad_field(Verb::Uidl, "unique-id listing"))?;
    let msgno = parse_msgno(msgno, Verb::Uidl)?;
    if uid.len() > MAX_UID_LEN || !uid.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(bad_field(Verb::Uidl, "unique-id"));
    }
    // Only printable ASCII got here, so this is lossless.
    Ok((msgno, String::from_utf8_lossy(uid).into_owned()))
}

/// The APOP timestamp (`<...@...>`) of a greeting, if the server offered one.
pub(super) fn apop_timestamp(greeting: &str) -> Option<String> {
    let start = greeting.find('<')?;
    let len = greeting[start..].find('>')?;
    let stamp = &greeting[start..=start + len];
    (stamp.contains('@') && !stamp[1..].contains('<')).then(|| stamp.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            Reply::parse(b"+OK", Verb::Noop).unwrap(),
            Reply::Ok(String::new())
        );
        assert_eq!(
            Reply::parse(b"+OK hi there", Verb::Noop).unwrap(),
            Reply::Ok("hi there".into())
        );
        assert_eq!(
            Reply::parse(b"-ERR [IN-USE] locked", Verb::Noop).unwrap(),
            Reply::Err("[IN-USE] locked".into())
        );
        assert!(matches!(
            Reply::parse(b"+OKAY", Verb::Noop),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            Reply::parse(b"* OK IMAP", Verb::Noop),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            Reply::parse(b"", Verb::Noop),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            Reply::parse(b"+ ", Verb::Auth),
            Err(Error::Protocol { .. })
        ));
    }

    #[test]
    fn text_is_cleaned_and_bounded() {
        let text = clean(b"bad \x1b[31mred\x07 \xff\xfe end");
        assert!(!text.chars().any(char::is_control));
        assert!(text.contains('\u{fffd}'));
        let long = clean(&vec![b'\xc3'; 10_000]);
        assert!(long.len() <= MAX_TEXT + '…'.len_utf8());
        let long = clean("é".repeat(1000).as_bytes());
        assert!(long.ends_with('…'));
    }

    #[test]
    fn fields() {
        assert_eq!(parse_stat("2 320").unwrap(), (2, 320));
        assert_eq!(parse_stat("0 0 extra").unwrap(), (0, 0));
        assert!(parse_stat("two 320").is_err());
        assert!(parse_stat("2").is_err());
        assert!(parse_stat("-2 3").is_err());
        assert!(parse_stat("99999999999 3").is_err());
        assert_eq!(parse_scan(b"1 120").unwrap(), (1, 120));
        assert_eq!(parse_scan(b"7 5 extra info").unwrap(), (7, 5));
        assert!(parse_scan(b"0 120").is_err());
        assert!(parse_scan(b"1 12x").is_err());
        assert!(parse_scan(b"1 +12").is_err());
        assert!(parse_scan(b"1 99999999999999999999999").is_err());
        assert_eq!(
            parse_uid(b"3 QhdPYR:00WBw1Ph7x7").unwrap(),
            (3, "QhdPYR:00WBw1Ph7x7".into())
        );
        assert!(parse_uid(b"3 caf\xc3\xa9").is_err());
        assert!(parse_uid(b"3").is_err());
        assert!(parse_uid(&[b"3 ".as_slice(), &[b'a'; 300]].concat()).is_err());
    }

    #[test]
    fn apop() {
        assert_eq!(
            apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp("Dovecot ready."), None);
        assert_eq!(apop_timestamp("<no-at-sign>"), None);
        assert_eq!(apop_timestamp("odd > order <"), None);
    }
}
