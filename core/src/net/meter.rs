//! The wire meter: counts every byte read from and written to the socket, below TLS and
//! compression, and attributes it to the purpose the session is working for at that moment.
//! The sync layer moves these totals into the persistent byte ledger in the store.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Why bytes crossed the wire. The ledger reports data usage by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Purpose {
    /// TCP/TLS setup, greeting, capabilities, authentication, compression negotiation.
    Connect,
    /// Folder lists, status, flags, envelopes and structure: everything a message list needs.
    SyncMetadata,
    /// Previews for the message list.
    Snippets,
    /// Readable message bodies.
    Bodies,
    /// Attachments and other non-body parts.
    Attachments,
    /// Writing local changes back (flags, moves, drafts).
    WriteBack,
    /// Sending mail: every byte of an SMTP submission session (TLS, EHLO, AUTH, the
    /// transaction, QUIT).
    Send,
}

impl Purpose {
    pub const ALL: [Purpose; 7] = [
        Purpose::Connect,
        Purpose::SyncMetadata,
        Purpose::Snippets,
        Purpose::Bodies,
        Purpose::Attachments,
        Purpose::WriteBack,
        Purpose::Send,
    ];

    fn index(self) -> usize {
        match self {
            Purpose::Connect => 0,
            Purpose::SyncMetadata => 1,
            Purpose::Snippets => 2,
            Purpose::Bodies => 3,
            Purpose::Attachments => 4,
            Purpose::WriteBack => 5,
            Purpose::Send => 6,
        }
    }

    /// A stable lowercase name, used in the store and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Connect => "connect",
            Purpose::SyncMetadata => "sync_metadata",
            Purpose::Snippets => "snippets",
            Purpose::Bodies => "bodies",
            Purpose::Attachments => "attachments",
            Purpose::WriteBack => "write_back",
            Purpose::Send => "send",
        }
    }
}

const N: usize = Purpose::ALL.len();

#[derive(Debug, Default)]
struct Counters {
    purpose: AtomicU8,
    read: [AtomicU64; N],
    written: [AtomicU64; N],
}

/// A shared counter of socket bytes by purpose. Cheap to clone; one per account is typical,
/// shared by all that account's connections.
#[derive(Debug, Clone, Default)]
pub struct WireMeter(Arc<Counters>);

/// A snapshot of a meter: bytes read (down) and written (up) per purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireTotals {
    pub read: [u64; N],
    pub written: [u64; N],
}

impl WireTotals {
    pub fn read_for(&self, p: Purpose) -> u64 {
        self.read[p.index()]
    }
    pub fn written_for(&self, p: Purpose) -> u64 {
        self.written[p.index()]
    }
    /// Bytes in both directions for one purpose.
    pub fn total_for(&self, p: Purpose) -> u64 {
        self.read_for(p) + self.written_for(p)
    }
    /// Bytes in both directions, all purposes.
    pub fn total(&self) -> u64 {
        self.read.iter().chain(self.written.iter()).sum()
    }
    /// Both counts added.
    pub fn plus(&self, other: &WireTotals) -> WireTotals {
        let mut out = *self;
        for i in 0..N {
            out.read[i] = out.read[i].saturating_add(other.read[i]);
            out.written[i] = out.written[i].saturating_add(other.written[i]);
        }
        out
    }
    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &WireTotals) -> WireTotals {
        let mut out = WireTotals::default();
        for i in 0..N {
            out.read[i] = self.read[i].saturating_sub(earlier.read[i]);
            out.written[i] = self.written[i].saturating_sub(earlier.written[i]);
        }
        out
    }
}

impl WireMeter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Attributes the bytes that follow to `purpose`, until the next call.
    pub fn set_purpose(&self, purpose: Purpose) {
        self.0
            .purpose
            .store(purpose.index() as u8, Ordering::Relaxed);
    }

    pub fn totals(&self) -> WireTotals {
        let mut t = WireTotals::default();
        for i in 0..N {
            t.read[i] = self.0.read[i].load(Ordering::Relaxed);
            t.written[i] = self.0.written[i].load(Ordering::Relaxed);
        }
        t
    }

    fn slot(&self) -> usize {
        // Invariant: only `set_purpose` stores here, always an index below N.
        (self.0.purpose.load(Ordering::Relaxed) as usize).min(N - 1)
    }

    fn add_read(&self, n: usize) {
        self.0.read[self.slot()].fetch_add(n as u64, Ordering::Relaxed);
    }

    fn add_written(&self, n: usize) {
        self.0.written[self.slot()].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Wraps a socket so every byte through it is counted here.
    pub fn wrap<S>(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            meter: self.clone(),
        }
    }
}

/// A socket whose bytes are counted by a [`WireMeter`].
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    meter: WireMeter,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            self.meter.add_read(buf.filled().len() - before);
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = res {
            self.meter.add_written(n);
        }
        res
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn counts_by_purpose() {
        let (a, mut b) = tokio::io::duplex(1024);
        let meter = WireMeter::new();
        let mut m = meter.wrap(a);
        meter.set_purpose(Purpose::Connect);
        m.write_all(b"hello").await.unwrap();
        meter.set_purpose(Purpose::Bodies);
        b.write_all(b"0123456789").await.unwrap();
        let mut buf = [0u8; 10];
        m.read_exact(&mut buf).await.unwrap();
        let t = meter.totals();
        assert_eq!(t.written_for(Purpose::Connect), 5);
        assert_eq!(t.read_for(Purpose::Bodies), 10);
        assert_eq!(t.total(), 15);
        let later = meter.totals();
        assert_eq!(later.since(&t).total(), 0);
    }
}
