//! The server's capability set, normalised to upper case, and the server's fingerprint: what
//! a session can tell about the server's software and version (its capabilities and the
//! greeting's text without the parts that vary per connection), for what the sync remembers
//! about a server until it changes (a PREVIEW that is always NIL).

use std::collections::BTreeSet;

/// Capabilities as the server last announced them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<String>);

impl Capabilities {
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Capabilities(crate::sort::set_from(
            names.into_iter().map(|s| s.as_ref().to_ascii_uppercase()),
        ))
    }

    pub(crate) fn from_proto(caps: &[imap_proto::Capability<'_>]) -> Self {
        Self::from_names(caps.iter().map(|c| match c {
            imap_proto::Capability::Imap4rev1 => "IMAP4REV1".to_string(),
            imap_proto::Capability::Auth(m) => format!("AUTH={m}"),
            imap_proto::Capability::Atom(a) => a.to_string(),
        }))
    }

    pub(crate) fn from_async_imap(caps: &async_imap::types::Capabilities) -> Self {
        Self::from_names(caps.iter().map(|c| match c {
            async_imap::types::Capability::Imap4rev1 => "IMAP4REV1".to_string(),
            async_imap::types::Capability::Auth(m) => format!("AUTH={m}"),
            async_imap::types::Capability::Atom(a) => a.clone(),
        }))
    }

    /// Whether the server announced `name` (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_uppercase())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Lemonade (RFC 5550), issue 18.
impl Capabilities {
    /// CATENATE (RFC 4469): APPEND assembles a message from text and URLs.
    pub fn catenate(&self) -> bool {
        self.has("CATENATE")
    }

    /// URLAUTH (RFC 4467): GENURLAUTH signs URLs for a submission server.
    pub fn urlauth(&self) -> bool {
        self.has("URLAUTH")
    }

    /// URLAUTH=BINARY (RFC 5524): URLFETCH can return decoded parts.
    pub fn urlauth_binary(&self) -> bool {
        self.has("URLAUTH=BINARY")
    }
}

/// A stable 64-bit fingerprint of a server's software and version: FNV-1a (fixed across
/// builds and platforms, unlike std's hasher) over the sorted capability names, leaving out
/// those that depend on the connection rather than the server (`AUTH=`, `STARTTLS`,
/// `LOGINDISABLED`, `COMPRESS=`), then the greeting's product words ([`greeting_words`]).
pub(crate) fn server_fingerprint(caps: &Capabilities, greeting: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let per_connection = |c: &str| {
        c.starts_with("AUTH=")
            || c.starts_with("COMPRESS=")
            || c == "STARTTLS"
            || c == "LOGINDISABLED"
    };
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in bytes.iter().chain(b"\n") {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // `Capabilities` is a BTreeSet: already sorted.
    for cap in caps.iter().filter(|c| !per_connection(c)) {
        feed(cap.as_bytes());
    }
    feed(b"--");
    feed(greeting_words(greeting).as_bytes());
    hash
}

/// The words of a greeting's text that name the server and its version: words without a
/// digit ("Dovecot", "ready.", a fixed host name), and version numbers (a digit first, one or
/// two dots, only letters, digits and dots: "3.6.1", "2007f.404"). Dropped: what varies per
/// connection, such as session ids, times and dates, client addresses (an IPv4 address has
/// three dots) and host names with numbers of a server farm's backends.
pub(crate) fn greeting_words(greeting: &str) -> String {
    let version = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_digit())
            && (1..=2).contains(&w.matches('.').count())
            && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    };
    greeting
        .split_ascii_whitespace()
        .filter(|w| !w.contains(|c: char| c.is_ascii_digit()) || version(w))
        .take(64)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Capabilities {
        Capabilities::from_names(names)
    }

    #[test]
    fn greeting_words_keep_product_and_version_only() {
        assert_eq!(
            greeting_words("Dovecot (Debian) ready."),
            "Dovecot (Debian) ready."
        );
        assert_eq!(
            greeting_words("imap3.example.net Cyrus IMAP 3.6.1-Debian-3.6.1-4 server ready"),
            "Cyrus IMAP server ready"
        );
        assert_eq!(
            greeting_words("host Cyrus IMAP v3.6.1 server ready"),
            "host Cyrus IMAP server ready"
        );
        assert_eq!(
            greeting_words("Cyrus IMAP 3.6.1 ready"),
            "Cyrus IMAP 3.6.1 ready"
        );
        assert_eq!(
            greeting_words("Gimap ready for requests from 203.0.113.5 h12mb3456"),
            "Gimap ready for requests from"
        );
        assert_eq!(
            greeting_words("x IMAP4rev1 2007f.404 at Tue, 1 Jan 2026 10:00:00 +0000 (UTC)"),
            "x 2007f.404 at Tue, Jan (UTC)"
        );
    }

    #[test]
    fn fingerprint_ignores_order_case_and_per_connection_items() {
        let a = server_fingerprint(
            &caps(&["IMAP4rev1", "PREVIEW", "AUTH=PLAIN"]),
            "S ready 12:00",
        );
        let b = server_fingerprint(
            &caps(&["preview", "COMPRESS=DEFLATE", "imap4rev1", "STARTTLS"]),
            "S ready 13:37",
        );
        assert_eq!(a, b);
        // A new capability or a new version in the greeting is another server.
        assert_ne!(
            a,
            server_fingerprint(&caps(&["IMAP4rev1", "PREVIEW", "OBJECTID"]), "S ready")
        );
        assert_ne!(
            server_fingerprint(&caps(&["IMAP4rev1"]), "Cyrus 3.6.1"),
            server_fingerprint(&caps(&["IMAP4rev1"]), "Cyrus 3.8.0")
        );
        // Stored in accounts: the same value in every build and on every platform (FNV-1a,
        // computed independently).
        assert_eq!(
            server_fingerprint(&caps(&["IMAP4rev1", "PREVIEW"]), "Cyrus IMAP 3.6.1 ready"),
            0x9a00_7594_144c_375a
        );
    }
}
