//! `doctor`: what a server offers and what the engine will do with it, for a developer
//! reproducing a user's problem. It opens its own connections (never the account's warm
//! ones), counts their bytes apart from the ledger, and changes nothing on the server or in
//! the store. The credential is used to log in and never appears in the report.

use std::time::{Duration, Instant};

use super::{Engine, Protocol, accounts};
use crate::{
    error::Result,
    imap,
    net::{Credential, Endpoint, TlsDetails, WireMeter},
    store::AccountId,
};

/// One extension the engine uses where offered, and what it does without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionUse {
    pub name: &'static str,
    pub offered: bool,
    /// What the engine does with it (offered) or instead of it (missing).
    pub effect: &'static str,
}

/// What `Engine::doctor` found.
#[derive(Debug, Clone)]
pub struct DoctorReport {
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    /// IMAP: the greeting's text (POP3: empty; its greeting is not kept).
    pub greeting: String,
    /// IMAP: asked inside TLS before login. POP3: empty (CAPA is asked after login).
    pub capabilities_before_login: Vec<String>,
    /// IMAP: what the engine works with after login (COMPRESS included if offered). POP3:
    /// the CAPA lines.
    pub capabilities_after_login: Vec<String>,
    /// IMAP only.
    pub tls: Option<TlsDetails>,
    /// IMAP: extensions and fallbacks in the order of `doctor`'s table.
    pub extensions: Vec<ExtensionUse>,
    /// IMAP: the session actually compressed (COMPRESS=DEFLATE taken).
    pub compressed: bool,
    /// POP3: UIDL answered, TOP announced, and the key messages are stored under.
    pub pop3: Option<Pop3Facts>,
    /// One NOOP's round trip on the logged-in connection.
    pub round_trip: Duration,
    /// Wire bytes of the doctor's connections, up and down (TLS included).
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// What the POP3 sync will rely on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Facts {
    pub uidl: bool,
    pub top: bool,
    /// `UIDL`, or the header digest when the server has no UIDL; `None`: the sync refuses
    /// the server (neither UIDL nor TOP).
    pub key: Option<&'static str>,
}

/// The IMAP extensions the engine looks for, with its fallback for each.
const IMAP_EXTENSIONS: [(&str, &str, &str); 10] = [
    (
        "COMPRESS=DEFLATE",
        "the session is compressed (DEFLATE)",
        "uncompressed session",
    ),
    (
        "QRESYNC",
        "delta syncs read changes and VANISHED since the stored MODSEQ",
        "CONDSTORE CHANGEDSINCE plus the ESEARCH UID set (or a full flag scan without CONDSTORE)",
    ),
    (
        "CONDSTORE",
        "flag changes since the stored MODSEQ; unchanged folders skipped by HIGHESTMODSEQ",
        "every resync scans the window's FLAGS; an unchanged folder costs a round trip",
    ),
    (
        "PREVIEW",
        "previews come with the headers (FETCH PREVIEW)",
        "snippets from the first bytes of the text part, in a second FETCH",
    ),
    (
        "BINARY",
        "attachments and encoded text bodies come decoded (BINARY.PEEK), in ranges of decoded bytes",
        "encoded sections are fetched (BODY.PEEK) and decoded locally",
    ),
    (
        "LIST-STATUS",
        "one LIST answers every folder's counts: unchanged folders are not selected",
        "STATUS for the synced folders, pipelined in one flight",
    ),
    (
        "MOVE",
        "UID MOVE",
        "UID COPY, then \\Deleted and UID EXPUNGE of the originals",
    ),
    (
        "UIDPLUS",
        "UID EXPUNGE of exactly our UIDs; COPYUID/APPENDUID re-key moved rows",
        "EXPUNGE only when no other message is \\Deleted; copies found by Message-ID",
    ),
    (
        "OBJECTID",
        "EMAILID recognises a message moved or copied by another client (no refetch); THREADID threads",
        "a message moved by another client is fetched again; threads from References",
    ),
    (
        "IDLE",
        "push (`Engine::push`) waits in IDLE",
        "no push: changes arrive with the app's next sync",
    ),
];

const SPECIAL_USE: (&str, &str, &str) = (
    "SPECIAL-USE",
    "folder roles from LIST attributes",
    "roles from well-known folder names (Sent, Trash, Drafts...)",
);

/// The table of `IMAP_EXTENSIONS` and SPECIAL-USE against `caps`.
pub fn extension_uses(caps: &imap::Capabilities) -> Vec<ExtensionUse> {
    IMAP_EXTENSIONS
        .iter()
        .chain(std::iter::once(&SPECIAL_USE))
        .map(|(name, with, without)| {
            let offered = caps.has(name);
            ExtensionUse {
                name,
                offered,
                effect: if offered { with } else { without },
            }
        })
        .collect()
}

impl Engine {
    /// Connects to the account's server with `credential` on connections of its own and
    /// reports what it offers and what the engine will use (see the module docs).
    pub async fn doctor(
        &self,
        account: AccountId,
        credential: &Credential,
    ) -> Result<DoctorReport> {
        let stored = self.account(account).await?;
        let (endpoint, protocol) = accounts::endpoint_of(&stored)?;
        let meter = WireMeter::new();
        let connect = &self.shared.connect;
        let tls = &self.shared.tls;
        if protocol == Protocol::Pop3 {
            let options = crate::pop3::Pop3Options {
                timeout: connect.timeout,
                ..crate::pop3::Pop3Options::default()
            };
            let mut session =
                crate::pop3::connect(&endpoint, credential, tls, &meter, &options).await?;
            let caps: Vec<String> = session.capabilities().lines().to_vec();
            let top = session.capabilities().has("TOP");
            let uidl = session.uidl().await.is_ok();
            let started = Instant::now();
            session.noop().await?;
            let round_trip = started.elapsed();
            session.quit().await?;
            let totals = meter.totals();
            return Ok(DoctorReport {
                protocol,
                endpoint,
                greeting: String::new(),
                capabilities_before_login: Vec::new(),
                capabilities_after_login: caps,
                tls: None,
                extensions: Vec::new(),
                compressed: false,
                pop3: Some(Pop3Facts {
                    uidl,
                    top,
                    key: match (uidl, top) {
                        (true, _) => Some("UIDL"),
                        (false, true) => Some("SHA-256 of the header block (TOP n 0)"),
                        (false, false) => None,
                    },
                }),
                round_trip,
                bytes_up: totals.written.iter().sum(),
                bytes_down: totals.read.iter().sum(),
            });
        }
        let before = imap::pre_login(&endpoint, tls, &meter, connect).await?;
        let mut session = imap::connect(&endpoint, credential, tls, &meter, connect).await?;
        let compressed = session.is_compressed();
        let mut after: Vec<String> = session.capabilities().iter().map(str::to_string).collect();
        if compressed {
            // The session drops COMPRESS once it is on; the server offered it.
            after.extend(
                before
                    .capabilities
                    .iter()
                    .filter(|c| c.starts_with("COMPRESS="))
                    .map(str::to_string),
            );
            crate::sort::sort(&mut after);
        }
        let started = Instant::now();
        session.probe(connect.timeout).await?;
        let round_trip = started.elapsed();
        session.logout().await?;
        let totals = meter.totals();
        let offered = imap::Capabilities::from_names(after.iter());
        Ok(DoctorReport {
            protocol,
            endpoint,
            greeting: before.greeting,
            capabilities_before_login: before.capabilities.iter().map(str::to_string).collect(),
            capabilities_after_login: after,
            tls: before.tls,
            extensions: extension_uses(&offered),
            compressed,
            pop3: None,
            round_trip,
            bytes_up: totals.written.iter().sum(),
            bytes_down: totals.read.iter().sum(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_extensions_get_their_fallback() {
        let caps = imap::Capabilities::from_names(["IMAP4rev1", "MOVE", "IDLE"]);
        let uses = extension_uses(&caps);
        assert_eq!(uses.len(), 11);
        let get = |n: &str| uses.iter().find(|u| u.name == n).unwrap().clone();
        assert!(get("MOVE").offered);
        assert_eq!(get("MOVE").effect, "UID MOVE");
        assert!(!get("UIDPLUS").offered);
        assert!(get("UIDPLUS").effect.contains("Message-ID"));
        assert!(!get("SPECIAL-USE").offered);
    }
}
