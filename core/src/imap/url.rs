//! IMAP URLs (RFC 5092) as Lemonade needs them: the relative URLs CATENATE takes
//! (`/Sent;UIDVALIDITY=7/;UID=42/;SECTION=2.MIME`) and the absolute "rump" URLs GENURLAUTH
//! signs for a submission server (`imap://alice@host:993/Sent;UIDVALIDITY=7/;UID=42;urlauth=submit+alice`,
//! RFC 4467). Pure: builds strings, checks every piece, never touches the network.
//!
//! A URL that GENURLAUTH has signed (`…:internal:<token>`) is a credential: whoever holds it
//! can read the message. Nothing here produces one, and nothing that does may log it, put it
//! in an error or store it (see `lemonade`).

use crate::error::{Error, Result};

/// The longest mailbox name put into a URL, in bytes before encoding.
const MAX_MAILBOX: usize = 1000;
/// The longest user name put into a URL, in bytes before encoding.
const MAX_USER: usize = 255;
/// The longest authority (`host:port`) accepted.
const MAX_AUTHORITY: usize = 300;

/// The relative IMAP URL of a message, or of one of its parts, in the logged-in user's
/// mailboxes: `/Sent;UIDVALIDITY=7/;UID=42`, and with a section `/Sent;UIDVALIDITY=7/;UID=42/;SECTION=2.MIME`.
///
/// `mailbox` is the name as sent on the wire (modified UTF-7): it is decoded to UTF-8, as
/// RFC 5092 wants and both Dovecot and Cyrus require, then percent-encoded where the URL
/// grammar's `bchar` does not allow a character (`;`, `?`, `#`, `%`, space, quotes, every
/// byte outside ASCII…). `section` is a part number (`2`, `1.3`), optionally followed by
/// `.MIME`, `.HEADER` or `.TEXT`, or `HEADER`/`TEXT` alone; anything else is refused, as are
/// a zero UIDVALIDITY or UID.
pub fn relative(
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
    section: Option<&str>,
) -> Result<String> {
    let mut url = String::with_capacity(mailbox.len() + 48);
    url.push('/');
    push_message_path(&mut url, mailbox, uid_validity, uid)?;
    if let Some(section) = section {
        url.push_str("/;SECTION=");
        url.push_str(&url_section(section)?);
    }
    Ok(url)
}

/// The URL a client asks GENURLAUTH to sign so that the submission server can fetch the
/// message on behalf of `user` (RFC 4467 `submit+`):
/// `imap://alice@localhost:15993/Sent;UIDVALIDITY=7/;UID=42;urlauth=submit+alice`.
///
/// `authority` is the IMAP server as the submission server announced it after AUTH
/// (`imap://localhost:15993`, from `BURL imap imap://localhost:15993`), or `host:port`: Dovecot
/// only signs URLs naming its configured `imap_urlauth_host` and port, which need not be the
/// address the client connected to. The user name is percent-encoded.
pub fn submit_rump(
    authority: &str,
    user: &str,
    mailbox: &str,
    uid_validity: u32,
    uid: u32,
) -> Result<String> {
    let host_port = authority_host_port(authority)?;
    if user.is_empty() || user.len() > MAX_USER {
        return Err(invalid("the user name is empty or too long"));
    }
    let user = encode(user, is_achar);
    let mut url = format!("imap://{user}@{host_port}/");
    push_message_path(&mut url, mailbox, uid_validity, uid)?;
    url.push_str(";urlauth=submit+");
    url.push_str(&user);
    Ok(url)
}

/// `Sent;UIDVALIDITY=7/;UID=42` onto `url`.
fn push_message_path(url: &mut String, mailbox: &str, uid_validity: u32, uid: u32) -> Result<()> {
    if mailbox.is_empty() || mailbox.len() > MAX_MAILBOX {
        return Err(invalid("the mailbox name is empty or too long"));
    }
    if uid_validity == 0 || uid == 0 {
        return Err(invalid("a UIDVALIDITY or UID of 0"));
    }
    // RFC 5092 names mailboxes in UTF-8: both servers refuse the modified UTF-7 spelling
    // (`/Entw&APw-rfe` is "Mailbox does not exist"; `/Entw%C3%BCrfe` resolves). A name
    // that is not valid modified UTF-7 (a server that sends UTF-8 names) goes as it is.
    let name = super::decode_mutf7(mailbox).unwrap_or_else(|| mailbox.to_string());
    url.push_str(&encode(&name, is_bchar));
    url.push_str(&format!(";UIDVALIDITY={uid_validity}/;UID={uid}"));
    Ok(())
}

/// The section as a URL carries it, upper-cased: a part number with an optional `.MIME`,
/// `.HEADER` or `.TEXT`, or `HEADER` / `TEXT` for the whole message.
fn url_section(section: &str) -> Result<String> {
    let upper = section.to_ascii_uppercase();
    let (part, suffix) = match upper.rsplit_once('.') {
        Some((part, s @ ("MIME" | "HEADER" | "TEXT"))) => (Some(part), Some(s)),
        _ if matches!(upper.as_str(), "HEADER" | "TEXT") => (None, Some(upper.as_str())),
        _ => (Some(upper.as_str()), None),
    };
    if let Some(part) = part
        && !super::valid_section(part)
    {
        return Err(invalid("a section that is not a part number"));
    }
    Ok(match (part, suffix) {
        (Some(part), Some(suffix)) => format!("{part}.{suffix}"),
        (Some(part), None) => part.to_string(),
        (None, Some(suffix)) => suffix.to_string(),
        (None, None) => return Err(invalid("an empty section")),
    })
}

/// `host[:port]` out of `imap://host[:port][/]` or `host[:port]`: a registered name, an IPv4
/// address or a bracketed IPv6 address, and a decimal port. Anything else (user info, a path,
/// a query, spaces) is refused: the result goes into a URL the server signs.
fn authority_host_port(authority: &str) -> Result<&str> {
    let rest = authority.trim();
    let rest = match rest.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("imap://") => &rest[7..],
        _ => rest,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.len() > MAX_AUTHORITY {
        return Err(invalid("an empty or overlong server authority"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid("an unclosed IPv6 address in the server authority"))?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(invalid("an invalid IPv6 address in the server authority"));
        }
        match after {
            "" => (inside, None),
            _ => (
                inside,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| invalid("junk after the IPv6 address"))?,
                ),
            ),
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let host_ok = !host.is_empty()
        && (rest.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    if !host_ok {
        return Err(invalid("an invalid host in the server authority"));
    }
    if let Some(port) = port
        && (port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(invalid("an invalid port in the server authority"));
    }
    Ok(rest)
}

/// RFC 5092 `uchar` without its `pct-encoded`: unreserved and the `sub-delims-sh`.
fn is_uchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b','
        )
}

/// RFC 5092 `achar`: what a user name may carry unencoded.
fn is_achar(b: u8) -> bool {
    is_uchar(b) || matches!(b, b'&' | b'=')
}

/// RFC 5092 `bchar`: what a mailbox name or a section may carry unencoded.
fn is_bchar(b: u8) -> bool {
    is_achar(b) || matches!(b, b':' | b'@' | b'/')
}

/// `text` with every byte `keep` refuses written as `%XX`.
fn encode(text: &str, keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn invalid(reason: &str) -> Error {
    Error::Config {
        reason: format!("cannot build an IMAP URL: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_as_catenate_takes_them() {
        assert_eq!(
            relative("INBOX", 5, 7, Some("2.MIME")).unwrap(),
            "/INBOX;UIDVALIDITY=5/;UID=7/;SECTION=2.MIME"
        );
        assert_eq!(
            relative("Sent", 7, 42, None).unwrap(),
            "/Sent;UIDVALIDITY=7/;UID=42"
        );
        assert_eq!(
            relative("INBOX", 1, 2, Some("1.3")).unwrap(),
            "/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=1.3"
        );
        assert_eq!(
            relative("INBOX", 1, 2, Some("text")).unwrap(),
            "/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=TEXT"
        );
        assert_eq!(
            relative("INBOX", 1, 2, Some("2.header")).unwrap(),
            "/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=2.HEADER"
        );
    }

    #[test]
    fn mailbox_names_are_percent_encoded_where_rfc5092_says() {
        // Hierarchy and modified UTF-7 stay; what would end the mailbox or break the URL
        // is encoded, as is anything outside ASCII.
        assert_eq!(
            relative("Archive/2024 Q1;x?y#z%", 3, 4, None).unwrap(),
            "/Archive/2024%20Q1%3Bx%3Fy%23z%25;UIDVALIDITY=3/;UID=4"
        );
        // Modified UTF-7 on the wire, UTF-8 in the URL; `&-` is a literal `&`.
        assert_eq!(
            relative("Entw&APw-rfe", 3, 4, None).unwrap(),
            "/Entw%C3%BCrfe;UIDVALIDITY=3/;UID=4"
        );
        assert_eq!(
            relative("Q&-A/&kAFP4W4IMH8-", 3, 4, None).unwrap(),
            "/Q&A/%E9%80%81%E4%BF%A1%E6%B8%88%E3%81%BF;UIDVALIDITY=3/;UID=4"
        );
        // Not modified UTF-7 (a bare `&`): as it is.
        assert_eq!(
            relative("R&D", 3, 4, None).unwrap(),
            "/R&D;UIDVALIDITY=3/;UID=4"
        );
        assert_eq!(
            relative("\"q\"\\é", 3, 4, None).unwrap(),
            "/%22q%22%5C%C3%A9;UIDVALIDITY=3/;UID=4"
        );
        assert_eq!(
            relative("a\r\nb", 3, 4, None).unwrap(),
            "/a%0D%0Ab;UIDVALIDITY=3/;UID=4"
        );
    }

    #[test]
    fn bad_pieces_are_refused() {
        for section in [
            "",
            ".",
            "2.",
            "2.MIME.MIME",
            "MIME",
            "HEADER.FIELDS (From)",
            "2 x",
            "1..2",
            "2.mime]",
            "01234567891.2",
            "-1",
        ] {
            assert!(
                relative("INBOX", 1, 2, Some(section)).is_err(),
                "section {section:?}"
            );
        }
        assert!(relative("INBOX", 0, 2, None).is_err());
        assert!(relative("INBOX", 1, 0, None).is_err());
        assert!(relative("", 1, 2, None).is_err());
        assert!(relative(&"a".repeat(MAX_MAILBOX + 1), 1, 2, None).is_err());
    }

    #[test]
    fn submit_rumps_name_the_announced_authority() {
        assert_eq!(
            submit_rump("imap://localhost:15993", "alice", "Sent", 7, 42).unwrap(),
            "imap://alice@localhost:15993/Sent;UIDVALIDITY=7/;UID=42;urlauth=submit+alice"
        );
        assert_eq!(
            submit_rump("IMAP://mail.example.net/", "alice", "Sent", 7, 42).unwrap(),
            "imap://alice@mail.example.net/Sent;UIDVALIDITY=7/;UID=42;urlauth=submit+alice"
        );
        assert_eq!(
            submit_rump("127.0.0.1:993", "bob", "Sent Items", 1, 2).unwrap(),
            "imap://bob@127.0.0.1:993/Sent%20Items;UIDVALIDITY=1/;UID=2;urlauth=submit+bob"
        );
        assert_eq!(
            submit_rump("[::1]:993", "bob", "Sent", 1, 2).unwrap(),
            "imap://bob@[::1]:993/Sent;UIDVALIDITY=1/;UID=2;urlauth=submit+bob"
        );
        // The user name cannot end the user info or start a path.
        assert_eq!(
            submit_rump("h:1", "a@b.example:x/y;z", "Sent", 1, 2).unwrap(),
            "imap://a%40b.example%3Ax%2Fy%3Bz@h:1/Sent;UIDVALIDITY=1/;UID=2;urlauth=submit+a%40b.example%3Ax%2Fy%3Bz"
        );
    }

    #[test]
    fn hostile_authorities_and_users_are_refused() {
        for authority in [
            "",
            "imap://",
            "user@host",
            "host/path",
            "host:99999",
            "host:",
            "host:1x",
            "imap://host:1/INBOX",
            "ho st",
            "[::1",
            "[zz]:1",
            "[::1]x",
            "host?q",
        ] {
            assert!(
                submit_rump(authority, "alice", "Sent", 1, 2).is_err(),
                "authority {authority:?}"
            );
        }
        assert!(submit_rump("host", "", "Sent", 1, 2).is_err());
        assert!(submit_rump("host", &"u".repeat(MAX_USER + 1), "Sent", 1, 2).is_err());
        assert!(submit_rump("host", "alice", "Sent", 0, 2).is_err());
    }
}
