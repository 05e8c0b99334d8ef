//! The server's CAPA answer (RFC 2449): each line's first word upper-cased for lookups, the
//! SASL mechanisms, and the cleaned raw lines. Only capabilities read inside TLS (or on a
//! connection the caller chose to run in plaintext) are ever kept; nothing here is trusted for
//! security decisions beyond "STLS was offered".

use std::collections::BTreeSet;

use super::reply::clean;

/// Capabilities as the server last announced them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    announced: bool,
    names: BTreeSet<String>,
    sasl: Vec<String>,
    lines: Vec<String>,
}

impl Capabilities {
    /// The capabilities of a server that answered CAPA with `-ERR` (an RFC 1939-only server).
    pub(super) fn unannounced() -> Self {
        Self::default()
    }

    /// Builds the set from CAPA's lines (already dot-unstuffed, without line endings).
    pub(super) fn from_lines<I, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        let mut caps = Capabilities {
            announced: true,
            ..Self::default()
        };
        for raw in lines {
            let line = clean(raw.as_ref());
            let mut words = line.split_ascii_whitespace();
            let Some(first) = words.next() else { continue };
            let name = first.to_ascii_uppercase();
            if name == "SASL" {
                caps.sasl.extend(words.map(str::to_ascii_uppercase));
            }
            caps.names.insert(name);
            caps.lines.push(line);
        }
        caps
    }

    /// Whether the server answered CAPA at all. When it did not, RFC 1939 commands (USER/PASS,
    /// and possibly TOP and UIDL) may still work.
    pub fn announced(&self) -> bool {
        self.announced
    }

    /// Whether a CAPA line starts with `name` (case-insensitive), e.g. "TOP", "UIDL",
    /// "PIPELINING", "STLS", "USER".
    pub fn has(&self, name: &str) -> bool {
        self.names.contains(&name.to_ascii_uppercase())
    }

    /// Whether the SASL line lists `mechanism` (case-insensitive).
    pub fn has_sasl(&self, mechanism: &str) -> bool {
        self.sasl.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// The SASL mechanisms, upper-cased, in the server's order.
    pub fn sasl_mechanisms(&self) -> impl Iterator<Item = &str> {
        self.sasl.iter().map(String::as_str)
    }

    /// The capability names (first words), upper-cased.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The CAPA lines as sent (control characters removed, bounded).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dovecot_capa() {
        let caps = Capabilities::from_lines([
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "PIPELINING",
            "AUTH-RESP-CODE",
            "STLS",
            "USER",
            "SASL PLAIN login",
            "EXPIRE 30 USER",
            "",
        ]);
        assert!(caps.announced());
        assert!(caps.has("top") && caps.has("UIDL") && caps.has("PIPELINING") && caps.has("STLS"));
        assert!(caps.has("expire"));
        assert!(!caps.has("30"));
        assert!(caps.has_sasl("plain") && caps.has_sasl("LOGIN"));
        assert_eq!(
            caps.sasl_mechanisms().collect::<Vec<_>>(),
            ["PLAIN", "LOGIN"]
        );
        assert!(caps.lines().iter().any(|l| l == "EXPIRE 30 USER"));
        assert_eq!(caps.lines().len(), 10);
        assert!(!Capabilities::unannounced().announced());
        assert!(!Capabilities::unannounced().has("USER"));
    }
}
