//! The POP3 server's messages as one sync pass sees them: UIDL and LIST joined into one entry
//! per message number, with the key it is stored under, the size LIST gave (when it gave
//! one) and whether a DELE for its number could only ever hit the message stored under that
//! key. Sloppy or hostile listings are resolved here, never by dropping a message silently:
//!
//! - A UIDL shared by several numbers (RFC 1939 forbids it): the lowest number keeps the
//!   UIDL (it is usually the one stored before the duplicate arrived); every other one is
//!   keyed `"<uidl> sha256 <hex>"` by the hash of its header block (`TOP n 0`), so each is
//!   stored once and found again by the next sync. None of them is ever deleted, and neither
//!   is the plain UIDL later, once such a derived key was stored for it: which number holds
//!   which message cannot be proven.
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
pub(super) const RESPONSE_SLACK: u64 = 4 * 1024 * 1024;
/// The most bytes of one TOP response kept in memory: the header block and a few lines are
/// what it is for; the rest (a server that ignores TOP's line count) is read and dropped.
pub(super) const TOP_KEEP: usize = 256 * 1024;
/// TOP commands per batch whose answers are held at once (at most `TOP_KEEP` each).
pub(super) const TOP_BATCH: usize = 64;

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
    pub entries: Vec<Entry>,
    /// Every key the server showed this pass, stored or not (a key missing here is gone).
    pub present: BTreeSet<String>,
    /// Messages left out this pass: no usable UIDL, or no key could be made.
    pub skipped: u32,
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

async fn by_uidl(
    session: &mut Pop3Session,
    uidl: Vec<(u32, String)>,
    sizes: &BTreeMap<u32, Option<u64>>,
    known: &BTreeMap<String, Pop3Known>,
) -> Result<Listing> {
    let mut listing = Listing::default();
    let mut by_number: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for (n, id) in uidl {
        listing.present.insert(id.clone());
        by_number.entry(n).or_default().insert(id);
    }
    let mut numbers_of: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (n, ids) in &by_number {
        match ids.iter().next() {
            Some(id) if ids.len() == 1 => numbers_of.entry(id.clone()).or_default().push(*n),
            _ => listing.skipped += 1, // one number, several UIDLs
        }
    }
    let unlisted = sizes.keys().filter(|n| !by_number.contains_key(n)).count();
    listing.skipped += u32::try_from(unlisted).unwrap_or(u32::MAX);

    let size = |n: u32| sizes.get(&n).copied().flatten();
    let mut shared = Vec::new();
    for (id, numbers) in &numbers_of {
        let Some((&first, others)) = numbers.split_first() else {
            continue;
        };
        let derived = format!("{id} sha256 ");
        let was_shared = known
            .range(derived.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&derived));
        listing.entries.push(Entry {
            msgno: first,
            key: id.clone(),
            size: size(first),
            deletable: others.is_empty() && !was_shared && size(first).is_some(),
        });
        shared.extend(others.iter().map(|n| (*n, id.clone())));
    }
    if !shared.is_empty() {
        warn!(
            messages = shared.len(),
            "the POP3 server gave one UIDL to several messages; keying them by their headers"
        );
        let numbers: Vec<(u32, Option<u64>)> = shared.iter().map(|(n, _)| (*n, size(*n))).collect();
        let headers = top_headers(session, &numbers).await?;
        for (n, id) in shared {
            let Some(header) = headers.get(&n) else {
                listing.skipped += 1; // no TOP, or gone since the listing
                continue;
            };
            let key = format!("{id} {}", pop3_parse::header_key(header));
            if listing.entries.iter().any(|e| e.key == key) {
                continue; // identical headers: stored once, like the twins of `by_header`
            }
            listing.present.insert(key.clone());
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
    listing.entries.sort_by_key(|e| e.msgno);
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
    let headers = top_headers(session, &numbers).await?;
    if headers.is_empty() && !numbers.is_empty() && !session.capabilities().has("TOP") {
        return Err(no_keys());
    }
    let mut listing = Listing::default();
    let mut count: BTreeMap<String, u32> = BTreeMap::new();
    let keyed: Vec<(u32, String)> = headers
        .iter()
        .map(|(n, header)| (*n, pop3_parse::header_key(header)))
        .collect();
    for (_, key) in &keyed {
        *count.entry(key.clone()).or_default() += 1;
    }
    for (n, key) in keyed {
        if !listing.present.insert(key.clone()) {
            continue; // identical headers: the first copy stands for all
        }
        let size = sizes.get(&n).copied().flatten();
        listing.entries.push(Entry {
            msgno: n,
            deletable: count.get(&key) == Some(&1) && size.is_some(),
            key,
            size,
        });
    }
    Ok(listing)
}

/// `TOP n 0` of each message, pipelined in batches; messages that answer `-ERR` (gone since
/// the listing) are left out. Without CAPA, a `-ERR` to the first TOP means no TOP at all.
async fn top_headers(
    session: &mut Pop3Session,
    numbers: &[(u32, Option<u64>)],
) -> Result<BTreeMap<u32, Vec<u8>>> {
    let caps = session.capabilities();
    let announced = caps.has("TOP");
    if caps.announced() && !announced {
        return Ok(BTreeMap::new());
    }
    let max = session.max_message_bytes();
    let mut headers = BTreeMap::new();
    for batch in numbers.chunks(TOP_BATCH) {
        let requests: Vec<(u32, u32, u64)> = batch
            .iter()
            .map(|(n, size)| (*n, 0, response_limit(*size, max)))
            .collect();
        let collected = Collected::default();
        let results = session
            .top_many_within(&requests, |n| collected.sink(n))
            .await?;
        let mut data = collected.take();
        for ((n, _), result) in batch.iter().zip(results) {
            match result {
                Ok(_) => {
                    headers.insert(*n, data.remove(n).unwrap_or_default());
                }
                Err(Error::ServerNo { .. }) if !announced && headers.is_empty() => {
                    return Ok(BTreeMap::new());
                }
                Err(Error::ServerNo { .. }) => {} // gone since the listing
                Err(e) => return Err(e),
            }
        }
    }
    Ok(headers)
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
