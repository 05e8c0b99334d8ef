//! The POP3 server's messages as one sync pass sees them: UIDL and LIST joined into one entry
//! per message number, with the key it is stored under, the size LIST gave (when it gave
//! one) and whether a DELE for its number could only ever hit the message stored under that
//! key. Sloppy or hostile listings are resolved here, never by dropping a message silently:
//!
//! - A UIDL shared by several numbers (RFC 1939 forbids it): the lowest number keeps the
//!   UIDL (it is usually the one stored before the duplicate arrived); every other one (up to
//!   [`MAX_SHARED`] a pass) is keyed `"<uidl> sha256 <hex>"` by the hash of its header block
//!   (`TOP n 0`), so each is stored once and found again by the next sync. None of them is
//!   ever deleted, and neither is the plain UIDL later, once such a derived key was stored
//!   for it: which number holds which message cannot be proven.
//! - A number listed by LIST but missing from UIDL, or given two different UIDLs: skipped
//!   this pass (counted; the next listing may be whole), never guessed.
//! - A number in UIDL but not in LIST (or listed twice with different sizes): kept, with no
//!   size; it is not downloaded under a size cap and never deleted.
//! - No UIDL at all: keys from `TOP n 0` of every message (`pop3_parse::header_key`); two
//!   messages with identical headers are stored once and neither is deleted.
//!
//! It also holds what every TOP pass shares: the bound on a TOP or RETR response derived
//! from the LIST size, and a collector that keeps at most [`TOP_KEEP`] bytes per message. It
//! never touches the store.

use std::{
    collections::{BTreeMap, BTreeSet},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::io::AsyncWrite;
use tracing::warn;

use super::pop3_parse;
use crate::{
    error::{Error, Result},
    pop3::Pop3Session,
    store::Pop3Known,
};

/// What a response may bring beyond its LIST size, on top of twice that size: servers that
/// estimate sizes (Exchange does by default) are off by a factor, not by megabytes.
pub const RESPONSE_SLACK: u64 = 4 * 1024 * 1024;
/// The most bytes of one TOP response kept in memory: the header block and a few lines are
/// what it is for; the rest (a server that ignores TOP's line count) is read and dropped.
pub const TOP_KEEP: usize = 256 * 1024;
/// TOP commands per batch whose answers are held at once (at most `TOP_KEEP` each).
pub const TOP_BATCH: usize = 64;

/// Numbers sharing a UIDL that are keyed by their headers in one pass; more are skipped.
pub const MAX_SHARED: usize = 1_000;

/// One message of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub msgno: u32,
    /// The key it is stored under: its UIDL, or a stand-in (see the module doc).
    pub key: String,
    /// The size LIST gave, if it gave exactly one.
    pub size: Option<u64>,
    /// Whether a DELE of `msgno` can only hit the message stored under `key`.
    pub deletable: bool,
}

/// The server's messages for one pass.
#[derive(Debug, Default)]
pub(super) struct Listing {
    /// By message number.
    pub entries: Vec<Entry>,
    /// UIDLs the server showed for messages left out (a number given several UIDLs).
    pub unkeyed: Vec<String>,
    /// Messages left out this pass: no usable UIDL, or no key could be made.
    pub skipped: u32,
}

impl Listing {
    /// Every key the server showed this pass, stored or not (a stored key missing here is
    /// gone from the server).
    pub(super) fn shown(&self) -> BTreeSet<&str> {
        crate::sort::set_from(
            self.entries
                .iter()
                .map(|e| e.key.as_str())
                .chain(self.unkeyed.iter().map(String::as_str)),
        )
    }
}

/// UIDL (or, without it, header keys) and LIST, joined. `known` holds every key stored for
/// the account, to recognise a UIDL that was ever shared.
pub(super) async fn read(
    session: &mut Pop3Session,
    known: &BTreeMap<String, Pop3Known>,
) -> Result<Listing> {
    let uidl = match session.uidl().await {
        Ok(listing) => Some(listing),
        Err(Error::ServerNo { .. }) => None,
        Err(e) => return Err(e),
    };
    let sizes = sizes(session.list().await?);
    match uidl {
        Some(uidl) => by_uidl(session, uidl, &sizes, known).await,
        None => by_header(session, &sizes).await,
    }
}

/// The bound on a TOP or RETR response of a message LIST sized `size`.
pub(super) fn response_limit(size: Option<u64>, session_max: u64) -> u64 {
    size.map_or(session_max, |s| {
        s.saturating_mul(2).saturating_add(RESPONSE_SLACK)
    })
    .min(session_max)
}

/// LIST sizes by number; a number listed twice with different sizes has none.
fn sizes(list: Vec<(u32, u64)>) -> BTreeMap<u32, Option<u64>> {
    let mut sizes = BTreeMap::new();
    for (n, size) in list {
        sizes
            .entry(n)
            .and_modify(|s: &mut Option<u64>| {
                if *s != Some(size) {
                    *s = None;
                }
            })
            .or_insert(Some(size));
    }
    sizes
}

/// The listing from UIDL. Each UIDL string is moved, not copied, into its entry: memory
/// stays near what the server sent.
async fn by_uidl(
    session: &mut Pop3Session,
    mut uidl: Vec<(u32, String)>,
    sizes: &BTreeMap<u32, Option<u64>>,
    known: &BTreeMap<String, Pop3Known>,
) -> Result<Listing> {
    let mut listing = Listing::default();
    crate::sort::sort(&mut uidl);
    uidl.dedup();
    let numbered: BTreeSet<u32> = uidl.iter().map(|(n, _)| *n).collect();
    let unlisted = sizes.keys().filter(|n| !numbered.contains(n)).count();
    listing.skipped += u32::try_from(unlisted).unwrap_or(u32::MAX);
    drop(numbered);

    // One UIDL per number; a number with several is left out.
    let mut single = Vec::with_capacity(uidl.len());
    let mut rest = uidl.into_iter().peekable();
    while let Some((n, id)) = rest.next() {
        if rest.peek().is_some_and(|(m, _)| *m == n) {
            listing.skipped += 1;
            listing.unkeyed.push(id);
            while let Some((_, other)) = rest.next_if(|(m, _)| *m == n) {
                listing.unkeyed.push(other);
            }
        } else {
            single.push((n, id));
        }
    }

    // By UIDL: the lowest number keeps it, the others share it.
    crate::sort::sort_by(&mut single, |a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let size = |n: u32| sizes.get(&n).copied().flatten();
    let mut shared: Vec<(u32, String)> = Vec::new();
    let mut rest = single.into_iter().peekable();
    while let Some((first, id)) = rest.next() {
        let mut others = 0usize;
        while let Some((n, _)) = rest.next_if(|(_, other)| *other == id) {
            others += 1;
            match shared.len() < MAX_SHARED {
                true => shared.push((n, id.clone())),
                false => listing.skipped += 1,
            }
        }
        let derived = format!("{id} sha256 ");
        let was_shared = known
            .range(derived.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&derived));
        listing.entries.push(Entry {
            msgno: first,
            deletable: others == 0 && !was_shared && size(first).is_some(),
            key: id,
            size: size(first),
        });
    }
    if !shared.is_empty() {
        warn!(
            messages = shared.len(),
            "the POP3 server gave one UIDL to several messages; keying them by their headers"
        );
        let numbers: Vec<(u32, Option<u64>)> = shared.iter().map(|(n, _)| (*n, size(*n))).collect();
        let keys = header_keys(session, &numbers).await?;
        let mut made = BTreeSet::new();
        for (n, id) in shared {
            let Some(hash) = keys.get(&n) else {
                listing.skipped += 1; // no TOP, or gone since the listing
                continue;
            };
            let key = format!("{id} {hash}");
            if !made.insert(key.clone()) {
                continue; // identical headers: stored once, like the twins of `by_header`
            }
            listing.entries.push(Entry {
                msgno: n,
                key,
                size: size(n),
                deletable: false,
            });
        }
    }
    if listing.skipped > 0 {
        warn!(
            messages = listing.skipped,
            "the POP3 server's UIDL listing left messages without a usable unique id; skipped"
        );
    }
    crate::sort::sort_by_key(&mut listing.entries, |e| e.msgno);
    Ok(listing)
}

/// Keys from the header blocks, for a server without UIDL. Needs TOP: refused when CAPA does
/// not list it or (without CAPA) the server answers `-ERR` to it.
async fn by_header(
    session: &mut Pop3Session,
    sizes: &BTreeMap<u32, Option<u64>>,
) -> Result<Listing> {
    let caps = session.capabilities();
    if caps.announced() && !caps.has("TOP") {
        return Err(no_keys());
    }
    let numbers: Vec<(u32, Option<u64>)> = sizes.iter().map(|(n, s)| (*n, *s)).collect();
    let keys = header_keys(session, &numbers).await?;
    if keys.is_empty() && !numbers.is_empty() && !session.capabilities().has("TOP") {
        return Err(no_keys());
    }
    let mut copies: BTreeMap<&str, u32> = BTreeMap::new();
    for key in keys.values() {
        *copies.entry(key.as_str()).or_default() += 1;
    }
    let mut listing = Listing::default();
    let mut seen = BTreeSet::new();
    for (n, key) in &keys {
        if !seen.insert(key.as_str()) {
            continue; // identical headers: the first copy stands for all
        }
        let size = sizes.get(n).copied().flatten();
        listing.entries.push(Entry {
            msgno: *n,
            deletable: copies.get(key.as_str()) == Some(&1) && size.is_some(),
            key: key.clone(),
            size,
        });
    }
    Ok(listing)
}

/// `pop3_parse::header_key` of each message, from `TOP n 0` pipelined in batches (each
/// batch's answers dropped once keyed); messages that answer `-ERR` (gone since the
/// listing) are left out. Without CAPA, a `-ERR` to the first TOP means no TOP at all.
async fn header_keys(
    session: &mut Pop3Session,
    numbers: &[(u32, Option<u64>)],
) -> Result<BTreeMap<u32, String>> {
    let caps = session.capabilities();
    let announced = caps.has("TOP");
    if caps.announced() && !announced {
        return Ok(BTreeMap::new());
    }
    let max = session.max_message_bytes();
    let mut keys = BTreeMap::new();
    for batch in numbers.chunks(TOP_BATCH) {
        let requests: Vec<(u32, u32, u64)> = batch
            .iter()
            .map(|(n, size)| (*n, 0, response_limit(*size, max)))
            .collect();
        let collected = Collected::default();
        let results = session
            .top_many_within(&requests, |n| collected.sink(n))
            .await?;
        let data = collected.take();
        for ((n, _), result) in batch.iter().zip(results) {
            match result {
                Ok(_) => {
                    let header = data.get(n).map(Vec::as_slice).unwrap_or_default();
                    keys.insert(*n, pop3_parse::header_key(header));
                }
                Err(Error::ServerNo { .. }) if !announced && keys.is_empty() => {
                    return Ok(BTreeMap::new());
                }
                Err(Error::ServerNo { .. }) => {} // gone since the listing
                Err(e) => return Err(e),
            }
        }
    }
    Ok(keys)
}

fn no_keys() -> Error {
    Error::Config {
        reason: "the POP3 server offers neither UIDL nor TOP, so messages cannot be told apart"
            .into(),
    }
}

/// TOP responses collected by message number, at most [`TOP_KEEP`] bytes of each.
#[derive(Clone, Default)]
pub(super) struct Collected(Arc<Mutex<BTreeMap<u32, Vec<u8>>>>);

impl Collected {
    pub(super) fn sink(&self, msgno: u32) -> CollectSink {
        CollectSink {
            into: self.clone(),
            msgno,
        }
    }

    pub(super) fn take(&self) -> BTreeMap<u32, Vec<u8>> {
        self.0
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

pub(super) struct CollectSink {
    into: Collected,
    msgno: u32,
}

impl AsyncWrite for CollectSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.into.0.lock() {
            Ok(mut map) => {
                let kept = map.entry(self.msgno).or_default();
                let room = TOP_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..buf.len().min(room)]);
                Poll::Ready(Ok(buf.len()))
            }
            Err(_) => Poll::Ready(Err(std::io::Error::other("collector poisoned"))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
