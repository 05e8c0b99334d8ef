//! SMTP replies, sans I/O: one reply line (`NNN-text` or `NNN text`), a whole (possibly
//! multi-line) reply with its enhanced status code (RFC 3463), and the EHLO keywords that
//! become [`SmtpCaps`]. Everything here is total: hostile input becomes `Error::Protocol`,
//! never a panic. It never sees what the client sent (commands may carry credentials).

use super::{Burl, SmtpCaps};
use crate::error::{Error, Result};

/// The most bytes of server text kept in an error or a `Delivery`.
const MAX_TEXT: usize = 300;
/// AUTH mechanisms and BURL authorities kept from one EHLO reply.
const MAX_LISTED: usize = 32;

/// The command a reply answers. Only its name ever reaches an error, never its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// The reply after the body's final dot.
    Body,
    Burl,
    Rset,
    Quit,
}

impl Verb {
    pub(super) fn name(self) -> &'static str {
        match self {
            Verb::Greeting => "greeting",
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Mail => "MAIL FROM",
            Verb::Rcpt => "RCPT TO",
            Verb::Data => "DATA",
            Verb::Body => "end of DATA",
            Verb::Burl => "BURL",
            Verb::Rset => "RSET",
            Verb::Quit => "QUIT",
        }
    }

    /// Words for `Error::Timeout`.
    pub(super) fn during(self) -> &'static str {
        match self {
            Verb::Greeting => "waiting for the SMTP greeting",
            Verb::Ehlo | Verb::Helo => "waiting for the SMTP server to answer EHLO",
            Verb::StartTls => "waiting for the SMTP server to answer STARTTLS",
            Verb::Auth => "logging in to the SMTP server",
            Verb::Mail => "waiting for the SMTP server to answer MAIL FROM",
            Verb::Rcpt => "waiting for the SMTP server to answer RCPT TO",
            Verb::Data => "waiting for the SMTP server to answer DATA",
            Verb::Body => "sending the message to the SMTP server",
            Verb::Burl => "waiting for the SMTP server to answer BURL",
            Verb::Rset => "waiting for the SMTP server to answer RSET",
            Verb::Quit => "waiting for the SMTP server to answer QUIT",
        }
    }
}

/// One reply line: its code, whether more lines follow, and its text (raw bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line<'a> {
    pub code: u16,
    pub more: bool,
    pub text: &'a [u8],
}

/// Parses one reply line (without its line end): three digits, the first 2 to 5, then `-`
/// (more lines follow), a space, or the end of the line.
pub(super) fn parse_line(line: &[u8], verb: Verb) -> Result<Line<'_>> {
    let bad = || {
        Error::protocol(format!(
            "the SMTP server answered {} with an unparsable reply line: {:?}",
            verb.name(),
            truncate(&clean(line), 60)
        ))
    };
    let digits = line.get(..3).ok_or_else(bad)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return Err(bad());
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let (more, text) = match line.get(3) {
        None => (false, &line[3..]),
        Some(b' ') => (false, &line[4..]),
        Some(b'-') => (true, &line[4..]),
        Some(_) => return Err(bad()),
    };
    Ok(Line { code, more, text })
}

/// A complete reply: the code all its lines share, the enhanced status code of its first
/// line (when it has one of the reply's class), and the text of each line (cleaned; the
/// enhanced code taken off the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub code: u16,
    pub enhanced: Option<String>,
    pub lines: Vec<String>,
}

impl Reply {
    /// Builds a reply from its lines' code and raw texts (the caller checked that the codes
    /// agree).
    pub(super) fn new(code: u16, texts: &[Vec<u8>]) -> Reply {
        let mut lines: Vec<String> = texts.iter().map(|t| clean(t)).collect();
        let mut enhanced = None;
        if let Some(first) = lines.first_mut()
            && let Some((status, rest)) = split_enhanced(first, code)
        {
            *first = rest;
            // The lines after the first usually repeat it.
            for line in lines.iter_mut().skip(1) {
                if let Some(rest) = line.strip_prefix(status.as_str())
                    && (rest.is_empty() || rest.starts_with(' '))
                {
                    *line = rest.trim().to_string();
                }
            }
            enhanced = Some(status);
        }
        Reply {
            code,
            enhanced,
            lines,
        }
    }

    pub(super) fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub(super) fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// The text of all lines joined by spaces, bounded.
    pub(super) fn text(&self) -> String {
        truncate(&self.lines.join(" "), MAX_TEXT)
    }
}

/// `2.1.5 text` → (`2.1.5`, `text`), when the status's class is the reply code's first digit.
fn split_enhanced(text: &str, code: u16) -> Option<(String, String)> {
    let (status, rest) = match text.split_once(' ') {
        Some((s, r)) => (s, r),
        None => (text, ""),
    };
    let mut parts = status.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let class_ok = class.len() == 1 && class.as_bytes()[0] == b'0' + (code / 100) as u8;
    if parts.next().is_some() || !class_ok || !digits(subject, 3) || !digits(detail, 3) {
        return None;
    }
    Some((status.to_string(), rest.trim().to_string()))
}

impl SmtpCaps {
    /// The capabilities of an EHLO reply: its lines after the first (the server's name), one
    /// keyword and its parameters each (RFC 5321 §4.1.1.1). Unknown keywords are ignored.
    pub(super) fn from_ehlo(reply: &Reply) -> SmtpCaps {
        let mut caps = SmtpCaps::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            // Old servers write `AUTH=PLAIN LOGIN`.
            let (keyword, first) = match keyword.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (keyword, None),
            };
            let params: Vec<&str> = first.into_iter().chain(words).collect();
            match keyword.to_ascii_uppercase().as_str() {
                "SIZE" => {
                    // No number (or a broken one) means no fixed limit, like `SIZE 0`.
                    let limit = params.first().and_then(|n| n.parse::<u64>().ok());
                    caps.size = Some(limit.unwrap_or(0));
                }
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtp_utf8 = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "CHUNKING" => caps.chunking = true,
                "STARTTLS" => caps.starttls = true,
                "AUTH" => {
                    for mechanism in params {
                        let mechanism = mechanism.to_ascii_uppercase();
                        if caps.auth.len() < MAX_LISTED && !caps.auth.contains(&mechanism) {
                            caps.auth.push(mechanism);
                        }
                    }
                }
                "BURL" => {
                    let burl = caps.burl.get_or_insert_with(Burl::default);
                    for param in params {
                        if param.eq_ignore_ascii_case("imap") {
                            burl.imap = true;
                        } else if param.len() > 7
                            && param[..7].eq_ignore_ascii_case("imap://")
                            && burl.authorities.len() < MAX_LISTED
                            && !burl.authorities.iter().any(|a| a == param)
                        {
                            burl.authorities.push(param.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

/// Server text made safe for an error: lossy UTF-8, control characters dropped, bounded.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        let l = parse_line(b"250-SIZE 1000", Verb::Ehlo).unwrap();
        assert_eq!((l.code, l.more, l.text), (250, true, &b"SIZE 1000"[..]));
        let l = parse_line(b"250", Verb::Ehlo).unwrap();
        assert_eq!((l.code, l.more, l.text), (250, false, &b""[..]));
        let l = parse_line(b"354 go ahead", Verb::Data).unwrap();
        assert_eq!((l.code, l.more), (354, false));
        for bad in [
            &b""[..],
            b"25",
            b"2x0 ok",
            b"199 no",
            b"600 no",
            b"250_ok",
            b"+OK hi",
            b"\xff\xfe\xfd",
        ] {
            let err = parse_line(bad, Verb::Mail).unwrap_err();
            assert!(matches!(err, Error::Protocol { .. }), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn enhanced_codes_of_the_reply_class_only() {
        let r = Reply::new(550, &[b"5.1.1 <bob@x> User unknown\x1b[2J".to_vec()]);
        assert_eq!(r.enhanced.as_deref(), Some("5.1.1"));
        assert_eq!(r.text(), "<bob@x> User unknown[2J");
        assert!(r.is_permanent() && !r.is_positive());
        let r = Reply::new(250, &[b"5.1.1 mismatched class".to_vec()]);
        assert_eq!(r.enhanced, None);
        let r = Reply::new(451, &[b"4.3.0".to_vec()]);
        assert_eq!(
            (r.enhanced.as_deref(), r.text().as_str()),
            (Some("4.3.0"), "")
        );
        let r = Reply::new(
            550,
            &[
                b"5.1.1 a".to_vec(),
                b"5.1.1 b".to_vec(),
                b"5.1.10 c".to_vec(),
            ],
        );
        assert_eq!(r.text(), "a b 5.1.10 c");
        let r = Reply::new(250, &[b"2.0.0.1 too many".to_vec(), b"second".to_vec()]);
        assert_eq!(r.enhanced, None);
        assert_eq!(r.text(), "2.0.0.1 too many second");
    }

    #[test]
    fn ehlo_keywords() {
        let lines: Vec<Vec<u8>> = [
            "localhost greets [127.0.0.1]",
            "8BITMIME",
            "AUTH PLAIN xoauth2",
            "AUTH=LOGIN PLAIN",
            "BURL imap imap://localhost:15993",
            "chunking",
            "ENHANCEDSTATUSCODES",
            "PIPELINING",
            "SIZE 10240000",
            "SMTPUTF8",
            "STARTTLS",
            "X-UNKNOWN whatever",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let caps = SmtpCaps::from_ehlo(&Reply::new(250, &lines));
        assert_eq!(
            caps,
            SmtpCaps {
                size: Some(10_240_000),
                pipelining: true,
                eight_bit_mime: true,
                smtp_utf8: true,
                enhanced_status_codes: true,
                chunking: true,
                auth: vec!["PLAIN".into(), "XOAUTH2".into(), "LOGIN".into()],
                starttls: true,
                burl: Some(Burl {
                    imap: true,
                    authorities: vec!["imap://localhost:15993".into()],
                }),
            }
        );
        // The keyword on the first line is the server's name, never a capability; a bare
        // SIZE is no limit.
        let caps = SmtpCaps::from_ehlo(&Reply::new(
            250,
            &[b"STARTTLS".to_vec(), b"SIZE".to_vec(), b"BURL".to_vec()],
        ));
        assert!(!caps.starttls);
        assert_eq!(caps.size, Some(0));
        assert_eq!(caps.burl, Some(Burl::default()));
    }
}
