//! The tap's relaying: the accept loop, the four halves of each relayed connection (two
//! readers queueing chunks, two writers applying the delay, the rate cap and cuts and counting
//! what they hand on), and the blackholed state a connection ends in once
//! [`Tap::set_blackhole`](super::Tap::set_blackhole) has been on while it was open.
//!
//! Everything runs on the tap's single thread; it never writes a byte it has not counted, and
//! takes back out what it counted but could not write (a failed write, or a write dropped
//! because the connection was blackholed in the middle of it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{BUF_SIZE, CONNECT_TIMEOUT, Direction, QUEUE_CHUNKS, Shared};

/// The largest piece written at once under a rate cap, and the token bucket's capacity (the
/// burst a direction may send after being quiet): about 10 ms worth at the cap.
const MAX_PACED_SLICE: u64 = 16 * 1024;

/// Why a relayed connection stopped before both directions finished cleanly.
#[derive(Debug)]
enum Stop {
    /// A socket error (reset, broken pipe, ...).
    Io,
    /// An injected cut.
    Cut,
}

struct Chunk {
    data: Vec<u8>,
    due: Option<Instant>,
}

pub(super) async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _peer)) => {
                if shared.refuse.load(Ordering::Relaxed) {
                    shared.refused.fetch_add(1, Ordering::Relaxed);
                    drop(client);
                    shared.changed.notify_all();
                    continue;
                }
                let id = shared.open_conn();
                if *shared.blackhole.borrow() {
                    // No mapping: accepted, but nothing reaches the server, nor comes back.
                    shared.mark_blackholed(id);
                    tokio::spawn(swallow_new(Arc::clone(&shared), id, client));
                } else {
                    tokio::spawn(relay(Arc::clone(&shared), id, client, upstream));
                }
            }
            Err(e) => {
                // Per-connection failures (aborted handshake) or descriptor exhaustion:
                // back off a little instead of spinning.
                tracing::debug!("tap: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// A connection accepted while the blackhole was on: read and dropped until the client goes.
async fn swallow_new(shared: Arc<Shared>, id: u64, client: TcpStream) {
    let (mut client_r, _client_w) = client.into_split();
    swallow(&mut client_r, None).await;
    shared.close_conn(id, false);
}

async fn relay(shared: Arc<Shared>, id: u64, client: TcpStream, upstream: SocketAddr) {
    let mut blackhole = shared.blackhole.subscribe();
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream));
    let server = tokio::select! {
        connected = connect => match connected {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => {
                tracing::debug!("tap conn {id}: upstream {upstream} unreachable: {e}");
                shared.close_conn(id, false);
                return;
            }
            Err(_) => {
                tracing::debug!("tap conn {id}: upstream {upstream} connect timed out");
                shared.close_conn(id, false);
                return;
            }
        },
        () = blackholed(&mut blackhole) => {
            shared.mark_blackholed(id);
            swallow_new(shared, id, client).await;
            return;
        }
    };
    // Relay small protocol lines promptly.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let (up_tx, up_rx) = mpsc::channel(QUEUE_CHUNKS);
    let (down_tx, down_rx) = mpsc::channel(QUEUE_CHUNKS);
    let relaying = async {
        tokio::try_join!(
            read_side(&shared, &mut client_r, up_tx),
            write_side(&shared, id, Direction::Up, up_rx, &mut server_w),
            read_side(&shared, &mut server_r, down_tx),
            write_side(&shared, id, Direction::Down, down_rx, &mut client_w),
        )
    };
    let result = tokio::select! {
        result = relaying => result,
        () = blackholed(&mut blackhole) => {
            // Whatever was queued or being written is dropped with the halves' futures.
            shared.mark_blackholed(id);
            swallow(&mut client_r, Some(&mut server_r)).await;
            shared.close_conn(id, false);
            return;
        }
    };
    // On a stop, both sockets are closed when the halves are dropped at the end of this
    // function.
    let cut = matches!(result, Err(Stop::Cut));
    if let Err(stop) = &result {
        tracing::debug!("tap conn {id}: stopped: {stop:?}");
    }
    shared.close_conn(id, cut);
}

/// Resolves once the blackhole is on (at once if it is on already). Never, if the tap is
/// being dropped (the runtime then drops this relay anyway).
async fn blackholed(switch: &mut watch::Receiver<bool>) {
    if switch.wait_for(|on| *on).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A blackholed connection: read from both sides and drop everything, write nothing (no
/// FIN, no RST), until the client closes its end or resets. The server's end, if it closes,
/// is not passed on. When the client goes, the caller drops both sockets.
async fn swallow(client: &mut OwnedReadHalf, mut server: Option<&mut OwnedReadHalf>) {
    let mut client_buf = vec![0u8; BUF_SIZE];
    let mut server_buf = vec![0u8; BUF_SIZE];
    loop {
        let server_read = async {
            match server.as_deref_mut() {
                Some(server) => server.read(&mut server_buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = client.read(&mut client_buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            read = server_read => {
                if !matches!(read, Ok(n) if n > 0) {
                    // The server closed or reset: stop reading it, keep the client hanging.
                    server = None;
                }
            }
        }
    }
}

/// Read one direction until EOF, queueing chunks (with their due time) for the writer.
/// Returning `Ok` drops the sender, which tells the writer to pass the EOF on.
async fn read_side(
    shared: &Shared,
    from: &mut OwnedReadHalf,
    to: mpsc::Sender<Chunk>,
) -> Result<(), Stop> {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = from.read(&mut buf).await.map_err(|_| Stop::Io)?;
        if n == 0 {
            return Ok(());
        }
        let delay = shared.delay();
        let due = (!delay.is_zero()).then(|| Instant::now() + delay);
        let chunk = Chunk {
            data: buf[..n].to_vec(),
            due,
        };
        if to.send(chunk).await.is_err() {
            // The writer is gone: it stopped the connection, nothing left to do here.
            return Ok(());
        }
    }
}

/// Write one direction's chunks to the destination, counting them, applying delay, the rate
/// cap and cuts; on the reader's EOF, shut down the destination's write half (relaying the
/// half-close).
async fn write_side(
    shared: &Shared,
    conn: u64,
    dir: Direction,
    mut from: mpsc::Receiver<Chunk>,
    to: &mut OwnedWriteHalf,
) -> Result<(), Stop> {
    // Down bytes this connection may still relay before it is cut, if a cut applies.
    let mut budget: Option<u64> = None;
    let mut seen = (0u64, 0u64);
    let mut pacer = Pacer::new();
    while let Some(chunk) = from.recv().await {
        if let Some(due) = chunk.due {
            tokio::time::sleep_until(due).await;
        }
        let mut data = &chunk.data[..];
        let mut cut = false;
        if dir == Direction::Down {
            shared.update_cut(&mut seen, &mut budget);
            if let Some(left) = budget {
                let len = data.len() as u64;
                if len >= left {
                    // `left < len` here, so it fits in usize.
                    data = &data[..usize::try_from(left).unwrap_or(data.len())];
                    cut = true;
                } else {
                    budget = Some(left - len);
                }
            }
        }
        while !data.is_empty() {
            let n = match shared.rate() {
                Some(rate) => {
                    let n = data.len().min(slice_len(rate));
                    pacer.take(n as u64, rate).await;
                    n
                }
                None => data.len(),
            };
            let (slice, rest) = data.split_at(n);
            write_counted(shared, conn, dir, slice, to).await?;
            data = rest;
        }
        if cut {
            let _ = to.flush().await;
            let _ = to.shutdown().await;
            return Err(Stop::Cut);
        }
    }
    // Reader saw EOF: pass the half-close on. Errors here mean the peer is gone already.
    let _ = to.shutdown().await;
    Ok(())
}

/// Count `data`, then write it all. Whatever was counted but not written (the write failed,
/// or this future was dropped because the connection was blackholed) is taken back out.
async fn write_counted(
    shared: &Shared,
    conn: u64,
    dir: Direction,
    data: &[u8],
    to: &mut OwnedWriteHalf,
) -> Result<(), Stop> {
    let seq = shared.record(conn, dir, data.len() as u64);
    let mut unwritten = Unwritten {
        shared,
        conn,
        dir,
        seq,
        left: data.len() as u64,
    };
    let mut written = 0;
    while written < data.len() {
        match to.write(&data[written..]).await {
            Ok(0) | Err(_) => return Err(Stop::Io),
            Ok(n) => {
                written += n;
                unwritten.left = unwritten.left.saturating_sub(n as u64);
            }
        }
    }
    Ok(())
}

/// Bytes of chunk `seq` counted but not (yet) written; taken back out when dropped.
struct Unwritten<'a> {
    shared: &'a Shared,
    conn: u64,
    dir: Direction,
    seq: u64,
    left: u64,
}

impl Drop for Unwritten<'_> {
    fn drop(&mut self) {
        if self.left > 0 {
            self.shared
                .unrecord(self.conn, self.dir, self.seq, self.left);
        }
    }
}

/// The bucket (and the largest slice written at once) for `rate` bytes per second: 10 ms
/// worth, at least 1 byte, at most [`MAX_PACED_SLICE`].
fn slice_len(rate: u64) -> usize {
    usize::try_from((rate / 100).clamp(1, MAX_PACED_SLICE)).unwrap_or(1)
}

/// A token bucket for one direction of one connection: tokens (bytes) accrue at the rate,
/// up to [`slice_len`] of it; a slice waits until the bucket holds it. Sleeping late is
/// made up by the tokens that accrued meanwhile, so the average rate stays exact.
struct Pacer {
    tokens: f64,
    last: Instant,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// Wait until `n` bytes (at most the bucket's capacity) may go at `rate`, and take them.
    async fn take(&mut self, n: u64, rate: u64) {
        let rate = rate as f64;
        let capacity = slice_len(rate as u64) as f64;
        let n = n as f64;
        loop {
            let now = Instant::now();
            let accrued = now.saturating_duration_since(self.last).as_secs_f64() * rate;
            self.tokens = (self.tokens + accrued).min(capacity);
            self.last = now;
            if self.tokens >= n {
                self.tokens -= n;
                return;
            }
            let wait = (n - self.tokens) / rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}
