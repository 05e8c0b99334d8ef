//! A logged-in IMAP session: our own narrow API over async-imap. It reports what the server
//! said in plain types and never looks at the store.

use std::time::Duration;

use async_imap::{Session, imap_proto::NameAttribute};
use futures::TryStreamExt;

use super::{
    Capabilities,
    connect::{map_err, timed},
};
use crate::{
    error::Result,
    net::{BoxedIo, WireMeter},
};

/// A folder's role, from SPECIAL-USE attributes or the INBOX name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    All,
    Flagged,
}

/// One LIST entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// The full mailbox name as the server spells it (modified UTF-7 left as sent).
    pub name: String,
    pub delimiter: Option<String>,
    pub selectable: bool,
    pub special_use: Option<SpecialUse>,
}

/// What SELECT/EXAMINE reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedFolder {
    pub exists: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
}

/// A logged-in IMAP connection.
#[derive(Debug)]
pub struct ImapSession {
    inner: Session<BoxedIo>,
    caps: Capabilities,
    enabled: Vec<&'static str>,
    compressed: bool,
    meter: WireMeter,
    timeout: Duration,
}

impl ImapSession {
    pub(super) fn new(
        inner: Session<BoxedIo>,
        caps: Capabilities,
        enabled: Vec<&'static str>,
        compressed: bool,
        meter: WireMeter,
        timeout: Duration,
    ) -> Self {
        ImapSession { inner, caps, enabled, compressed, meter, timeout }
    }

    /// The capabilities announced after login.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Extensions switched on with ENABLE (CONDSTORE, QRESYNC).
    pub fn enabled(&self) -> &[&'static str] {
        &self.enabled
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The meter counting this session's bytes.
    pub fn meter(&self) -> &WireMeter {
        &self.meter
    }

    /// LIST "" "*": every folder with its role.
    pub async fn list_folders(&mut self) -> Result<Vec<Folder>> {
        let timeout = self.timeout;
        let names: Vec<_> = timed(timeout, "LIST", async {
            let stream = self.inner.list(Some(""), Some("*")).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await
        .map_err(|e| map_err("LIST", e))?;
        Ok(names
            .iter()
            .map(|n| {
                let attrs = n.attributes();
                let special_use = if n.name().eq_ignore_ascii_case("INBOX") {
                    Some(SpecialUse::Inbox)
                } else {
                    attrs.iter().find_map(special_use)
                };
                Folder {
                    name: n.name().to_string(),
                    delimiter: n.delimiter().map(str::to_string),
                    selectable: !attrs.iter().any(|a| matches!(a, NameAttribute::NoSelect)),
                    special_use,
                }
            })
            .collect())
    }

    /// SELECT a folder (read-write).
    pub async fn select(&mut self, name: &str) -> Result<SelectedFolder> {
        let condstore = self.enabled.contains(&"CONDSTORE");
        let mailbox = timed(self.timeout, "SELECT", async {
            if condstore { self.inner.select_condstore(name).await } else { self.inner.select(name).await }
        })
        .await
        .map_err(|e| map_err("SELECT", e))?;
        Ok(SelectedFolder {
            exists: mailbox.exists,
            uid_validity: mailbox.uid_validity,
            uid_next: mailbox.uid_next,
            highest_modseq: mailbox.highest_modseq,
        })
    }

    /// LOGOUT and close.
    pub async fn logout(mut self) -> Result<()> {
        timed(self.timeout, "LOGOUT", self.inner.logout()).await.map_err(|e| map_err("LOGOUT", e))
    }
}

fn special_use(attr: &NameAttribute<'_>) -> Option<SpecialUse> {
    Some(match attr {
        NameAttribute::All => SpecialUse::All,
        NameAttribute::Archive => SpecialUse::Archive,
        NameAttribute::Drafts => SpecialUse::Drafts,
        NameAttribute::Flagged => SpecialUse::Flagged,
        NameAttribute::Junk => SpecialUse::Junk,
        NameAttribute::Sent => SpecialUse::Sent,
        NameAttribute::Trash => SpecialUse::Trash,
        _ => return None,
    })
}
