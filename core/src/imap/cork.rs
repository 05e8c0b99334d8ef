//! Corking: while corked, what the client writes is collected instead of sent, and goes out in
//! one write when uncorked. Pipelined commands then leave in one TLS record (one compressed
//! block), so the server cannot answer the first before the rest have arrived: a pipeline
//! really costs one round trip on the wire, and uses fewer TCP segments on a phone's radio.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::BoxedIo;

/// The switch shared by the session and its stream.
pub(super) type CorkSwitch = Arc<AtomicBool>;

/// Wraps the session's top stream so `switch` can cork it.
pub(super) fn corked(inner: BoxedIo, switch: &CorkSwitch) -> BoxedIo {
    BoxedIo::new(Corked {
        inner,
        switch: switch.clone(),
        pending: Vec::new(),
    })
}

struct Corked {
    inner: BoxedIo,
    switch: CorkSwitch,
    pending: Vec<u8>,
}

impl Corked {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Corked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Corked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.switch.load(Ordering::Acquire) {
            self.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn corked_writes_leave_together() {
        let (a, mut b) = tokio::io::duplex(4096);
        let switch = CorkSwitch::default();
        let mut io = corked(BoxedIo::new(a), &switch);
        switch.store(true, Ordering::Release);
        io.write_all(b"A1 NOOP\r\n").await.unwrap();
        io.flush().await.unwrap();
        io.write_all(b"A2 NOOP\r\n").await.unwrap();
        io.flush().await.unwrap();
        let mut buf = [0u8; 64];
        let nothing =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut buf)).await;
        assert!(nothing.is_err(), "nothing is sent while corked");
        switch.store(false, Ordering::Release);
        io.flush().await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"A1 NOOP\r\nA2 NOOP\r\n");
    }
}
