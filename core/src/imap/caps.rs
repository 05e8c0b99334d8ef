//! The server's capability set, normalised to upper case.

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
        Capabilities(
            names
                .into_iter()
                .map(|s| s.as_ref().to_ascii_uppercase())
                .collect(),
        )
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
