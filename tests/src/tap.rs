//! The byte tap: a loopback TCP relay that tests and benchmarks put between the mail client
//! and a real server (Dovecot on 127.0.0.1) to count the bytes on the wire exactly,
//! independently of whatever the engine counts itself, and to inject network faults.
//!
//! It is a plain TCP relay: TLS (implicit or after STARTTLS/STLS) passes through untouched,
//! so what it counts is what a mobile radio would carry at the TCP payload level. It counts
//! client→server ("up") and server→client ("down") bytes, in total and per connection, the
//! connections it relayed, and round trips (each time a connection turns from client data to
//! server data). It keeps an ordered log of relayed chunks, lets a test measure one phase
//! with [`Tap::mark`] / [`Tap::stats_since`], and can cut a connection after an exact number
//! of downstream bytes, add latency, cap the bandwidth, refuse connections, or blackhole them
//! (stop forwarding silently, as a NAT that forgot the mapping).
//!
//! The relay runs on its own thread with its own single-threaded tokio runtime, so it works
//! the same under a plain `#[test]`, a current-thread `#[tokio::test]`, or a sync program.
//! Dropping the [`Tap`] stops listening, closes every relayed connection and joins the thread.
//!
//! Accounting rule: a chunk is counted (and logged) just before it is handed to the peer's
//! socket, so once a peer has seen a byte it is already in [`Tap::stats`]. If that write
//! fails (peer reset), the part that was not written is taken back out of the counters.
//! Round-trip counting is ordered because a single thread does all relaying.
//!
//! Blackhole rule: a connection open (or accepted) while [`Tap::set_blackhole`] is on is dead
//! for good. It is kept open on both sides but relays nothing, in neither direction, not even
//! a FIN: bytes from either side are read and dropped, so neither peer's sends ever block.
//! Switching the blackhole off does not bring it back (a forgotten NAT mapping never comes
//! back); only new connections relay again. A dead connection ends when the client closes or
//! resets its end; the tap then closes its side to the server too (a real NAT would not tell
//! the server, but the harness Dovecot should not keep the connection until the test ends).
//! A server that closes a dead connection is not passed on to the client.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

mod relay;

/// Size of the read buffer of each relayed direction.
const BUF_SIZE: usize = 64 * 1024;
/// Chunks that may be queued between the reader and the writer of one direction (this is
/// what lets added latency pipeline instead of throttling throughput). Bounded: at most
/// `QUEUE_CHUNKS * BUF_SIZE` bytes are held per direction per connection.
const QUEUE_CHUNKS: usize = 64;
/// The chunk log keeps at most this many entries (oldest dropped first); counters stay exact.
const LOG_CAP: usize = 256 * 1024;
/// How long the tap waits for the upstream to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which way a chunk travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server.
    Up,
    /// Server → client.
    Down,
}

/// Totals over the tap's life (since the last [`Tap::reset`]) or over one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TapStats {
    /// Client → server payload bytes relayed.
    pub up: u64,
    /// Server → client payload bytes relayed.
    pub down: u64,
    /// Connections accepted and relayed (refused ones are not counted, see [`Tap::refused`]).
    pub connections: u64,
    /// Turns from client data to server data, summed over connections.
    pub round_trips: u64,
}

impl TapStats {
    /// `up + down`.
    pub fn total(&self) -> u64 {
        self.up + self.down
    }

    fn saturating_sub(&self, earlier: &TapStats) -> TapStats {
        TapStats {
            up: self.up.saturating_sub(earlier.up),
            down: self.down.saturating_sub(earlier.down),
            connections: self.connections.saturating_sub(earlier.connections),
            round_trips: self.round_trips.saturating_sub(earlier.round_trips),
        }
    }
}

/// Counters of one relayed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    /// Connection id, 1-based, in accept order (never reused, not reset by [`Tap::reset`]).
    pub id: u64,
    /// Client → server bytes relayed on this connection.
    pub up: u64,
    /// Server → client bytes relayed on this connection.
    pub down: u64,
    /// Turns from client data to server data on this connection.
    pub round_trips: u64,
    /// Still being relayed.
    pub open: bool,
    /// Closed by a fault injected with [`Tap::cut_after`] / [`Tap::cut_all_after`].
    pub cut: bool,
    /// Dead because of [`Tap::set_blackhole`]: it relays nothing any more (while `open`, the
    /// client has not closed it yet).
    pub blackholed: bool,
}

/// One relayed chunk, as recorded in the ordered log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapChunk {
    /// Position in the tap's global event order (monotonic, never reset).
    pub seq: u64,
    /// Connection id.
    pub conn: u64,
    /// Which way it went.
    pub dir: Direction,
    /// Payload bytes.
    pub bytes: u64,
    /// When it was handed to the destination socket.
    pub at: Instant,
    /// This chunk started a round trip (server data following client data).
    pub turn: bool,
}

/// A point in time to measure a phase from, see [`Tap::stats_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapMark {
    epoch: u64,
    seq: u64,
    totals: TapStats,
    at: Instant,
}

impl TapMark {
    /// When the mark was taken.
    pub fn at(&self) -> Instant {
        self.at
    }
}

/// A running tap. See the module documentation.
pub struct Tap {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Tap {
    /// Listen on 127.0.0.1 on a free port and relay every accepted connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Tap> {
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared::default());
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        // The thread reports once its listener is registered, so that `start` returns a
        // running tap (or the registration error).
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
        let thread = std::thread::Builder::new()
            // Linux keeps 15 bytes of a thread name: "tap:" + a port always fits.
            .name(format!("tap:{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        _ = shutdown_rx => {}
                        () = relay::accept_loop(listener, upstream, thread_shared) => {}
                    }
                });
                // Dropping the runtime here drops every relay task, closing its sockets.
                drop(runtime);
            })?;
        let ready = ready_rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "tap thread ended before it started listening",
            ))
        });
        if let Err(e) = ready {
            let _ = thread.join();
            return Err(e);
        }
        Ok(Tap {
            addr,
            upstream,
            shared,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The address clients should connect to (127.0.0.1 and the tap's port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the tap relays to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Totals since the tap started or the last [`Tap::reset`].
    pub fn stats(&self) -> TapStats {
        self.shared.lock().totals
    }

    /// A point to measure a phase from.
    pub fn mark(&self) -> TapMark {
        let st = self.shared.lock();
        TapMark {
            epoch: st.epoch,
            seq: st.next_seq,
            totals: st.totals,
            at: Instant::now(),
        }
    }

    /// Totals since `mark`. If [`Tap::reset`] ran after the mark, this is everything since
    /// the reset (what happened between the mark and the reset is forgotten).
    pub fn stats_since(&self, mark: &TapMark) -> TapStats {
        let st = self.shared.lock();
        if st.epoch == mark.epoch {
            st.totals.saturating_sub(&mark.totals)
        } else {
            st.totals
        }
    }

    /// Zero the totals, the per-connection counters and the chunk log, and forget closed
    /// connections. Open connections keep being relayed (and keep their ids); faults set
    /// with `cut_*`, [`Tap::set_delay`], [`Tap::set_rate`], [`Tap::set_refuse`] and
    /// [`Tap::set_blackhole`] are left as they are (see [`Tap::clear_faults`]).
    pub fn reset(&self) {
        let mut st = self.shared.lock();
        st.epoch += 1;
        st.totals = TapStats::default();
        st.conns.retain(|_, c| c.open);
        for c in st.conns.values_mut() {
            c.up = 0;
            c.down = 0;
            c.round_trips = 0;
        }
        st.log.clear();
        st.log_dropped = 0;
        self.shared.refused.store(0, Ordering::Relaxed);
        drop(st);
        self.shared.changed.notify_all();
    }

    /// Counters of every connection still known (open, or closed since the last reset),
    /// in id order.
    pub fn connections(&self) -> Vec<ConnStats> {
        let st = self.shared.lock();
        st.conns.iter().map(|(&id, c)| c.stats(id)).collect()
    }

    /// Counters of one connection.
    pub fn connection(&self, id: u64) -> Option<ConnStats> {
        let st = self.shared.lock();
        st.conns.get(&id).map(|c| c.stats(id))
    }

    /// Connections currently being relayed.
    pub fn open_connections(&self) -> u64 {
        let st = self.shared.lock();
        st.conns.values().filter(|c| c.open).count() as u64
    }

    /// Connections closed at once because of [`Tap::set_refuse`] (since start or reset).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// The ordered chunk log since start or reset (the oldest entries are dropped beyond a
    /// quarter million; the counters stay exact regardless).
    pub fn chunks(&self) -> Vec<TapChunk> {
        self.shared.lock().log.iter().copied().collect()
    }

    /// How many of the oldest chunks the log has dropped since start or reset.
    pub fn chunks_dropped(&self) -> u64 {
        self.shared.lock().log_dropped
    }

    /// The chunks logged after `mark`.
    pub fn chunks_since(&self, mark: &TapMark) -> Vec<TapChunk> {
        let st = self.shared.lock();
        st.log
            .iter()
            .filter(|c| c.seq >= mark.seq)
            .copied()
            .collect()
    }

    /// Block the calling thread until `pred` holds for the totals, or `timeout` passes.
    /// Returns whether it held. (It blocks: from async code, call it through
    /// `spawn_blocking` or make sure nothing the tap waits for runs on the same thread.)
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&TapStats) -> bool) -> bool {
        self.wait_state(timeout, |st| pred(&st.totals))
    }

    /// Block until no connection is being relayed any more, or `timeout` passes.
    pub fn wait_all_closed(&self, timeout: Duration) -> bool {
        self.wait_state(timeout, |st| st.conns.values().all(|c| !c.open))
    }

    fn wait_state(&self, timeout: Duration, pred: impl FnMut(&State) -> bool) -> bool {
        wait_state(&self.shared, timeout, pred)
    }

    /// A handle on this tap's state for another thread: it can wait on the totals and arm a
    /// cut while the test's own thread drives the client.
    pub fn handle(&self) -> TapHandle {
        TapHandle(self.shared.clone())
    }

    /// Cut one connection once `n` more server→client bytes have been relayed on it: exactly
    /// `n` bytes reach the client, then both sides are closed (the client sees EOF, or a
    /// reset if it had sent data the tap had not relayed yet). The cut is claimed by the
    /// first connection that relays server→client data after this call (the current one if
    /// it is talking, else the next one), then clears. `cut_after(0)` cuts that connection
    /// at its next server data without delivering any of it. A new call replaces a pending
    /// (unclaimed) one; when several cuts apply to one connection, the earliest wins.
    pub fn cut_after(&self, n: u64) {
        self.shared.lock().cut_once = Some(n);
    }

    /// Like [`Tap::cut_after`] but for every connection, current and future: each gets cut
    /// once `n` more server→client bytes have been relayed on it (counted from its first
    /// server data after this call). Stays in force until [`Tap::clear_faults`].
    pub fn cut_all_after(&self, n: u64) {
        let mut st = self.shared.lock();
        st.cut_all_gen += 1;
        st.cut_all = Some(n);
    }

    /// Add `delay` of latency to each chunk, in each direction (a chunk is written no earlier
    /// than `delay` after it was read; chunks still pipeline). Zero turns it off. It applies
    /// to chunks read from now on.
    pub fn set_delay(&self, delay: Duration) {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.shared.delay_nanos.store(nanos, Ordering::Relaxed);
    }

    /// When on, every new connection is closed as soon as it is accepted (the server looks
    /// unreachable); connections already relayed are not affected.
    pub fn set_refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::Relaxed);
    }

    /// Cap the bandwidth at `bytes_per_second` in each direction of each connection (a token
    /// bucket per direction per connection, holding at most 10 ms worth of bytes, at most
    /// 16 KiB, which is also the largest piece written at once), or remove the cap (`None`).
    /// It composes with [`Tap::set_delay`]: a chunk waits for its delay, then for the cap.
    /// It applies from the next piece written on. `Some(0)` is taken as 1 byte per second.
    pub fn set_rate(&self, bytes_per_second: Option<u64>) {
        let rate = bytes_per_second.map_or(0, |r| r.max(1));
        self.shared.rate.store(rate, Ordering::Relaxed);
    }

    /// While on, the tap silently stops forwarding, in both directions, on every connection:
    /// what either peer sends is read and dropped, nothing is written, no FIN and no reset
    /// (a NAT that forgot the mapping). Connections accepted while it is on are accepted but
    /// never relayed (they do not reach the server). Turning it off lets new connections
    /// relay normally; connections it caught stay dead (see the module documentation).
    pub fn set_blackhole(&self, on: bool) {
        self.shared.blackhole.send_replace(on);
    }

    /// Connections caught by [`Tap::set_blackhole`] since start or reset (open or closed).
    pub fn blackholed(&self) -> Vec<ConnStats> {
        self.connections()
            .into_iter()
            .filter(|c| c.blackholed)
            .collect()
    }

    /// Block until `pred` holds for the connections known (as [`Tap::connections`] lists
    /// them), or `timeout` passes. Returns whether it held.
    pub fn wait_connections(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&[ConnStats]) -> bool,
    ) -> bool {
        self.wait_state(timeout, |st| {
            let conns: Vec<ConnStats> = st.conns.iter().map(|(&id, c)| c.stats(id)).collect();
            pred(&conns)
        })
    }

    /// Remove pending and standing cuts, the delay, the rate cap, refusal and the blackhole
    /// (connections it caught stay dead).
    pub fn clear_faults(&self) {
        let mut st = self.shared.lock();
        st.cut_once = None;
        st.cut_all = None;
        st.clear_gen += 1;
        drop(st);
        self.set_delay(Duration::ZERO);
        self.set_rate(None);
        self.set_refuse(false);
        self.set_blackhole(false);
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the relay thread must not turn into a panic in drop.
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    delay_nanos: AtomicU64,
    /// The rate cap in bytes per second per direction per connection; 0 means none.
    rate: AtomicU64,
    refuse: AtomicBool,
    refused: AtomicU64,
    /// On while the tap blackholes; every relay watches it.
    blackhole: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    epoch: u64,
    next_seq: u64,
    next_conn: u64,
    totals: TapStats,
    conns: BTreeMap<u64, ConnState>,
    log: VecDeque<TapChunk>,
    log_dropped: u64,
    cut_once: Option<u64>,
    cut_all: Option<u64>,
    cut_all_gen: u64,
    clear_gen: u64,
}

struct ConnState {
    up: u64,
    down: u64,
    round_trips: u64,
    last_dir: Option<Direction>,
    open: bool,
    cut: bool,
    blackholed: bool,
}

impl ConnState {
    fn stats(&self, id: u64) -> ConnStats {
        ConnStats {
            id,
            up: self.up,
            down: self.down,
            round_trips: self.round_trips,
            open: self.open,
            cut: self.cut,
            blackholed: self.blackholed,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The relay never panics while holding the lock, but a panicking test thread must
        // not take the tap down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn delay(&self) -> Duration {
        Duration::from_nanos(self.delay_nanos.load(Ordering::Relaxed))
    }

    fn rate(&self) -> Option<u64> {
        Some(self.rate.load(Ordering::Relaxed)).filter(|&r| r > 0)
    }

    fn mark_blackholed(&self, id: u64) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&id) {
            c.blackholed = true;
        }
        drop(st);
        self.changed.notify_all();
    }

    fn open_conn(&self) -> u64 {
        let mut st = self.lock();
        st.next_conn += 1;
        let id = st.next_conn;
        st.next_seq += 1;
        st.totals.connections += 1;
        st.conns.insert(
            id,
            ConnState {
                up: 0,
                down: 0,
                round_trips: 0,
                last_dir: None,
                open: true,
                cut: false,
                blackholed: false,
            },
        );
        drop(st);
        self.changed.notify_all();
        id
    }

    fn close_conn(&self, id: u64, cut: bool) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&id) {
            c.open = false;
            c.cut |= cut;
        }
        drop(st);
        self.changed.notify_all();
    }

    /// Count a chunk about to be written; returns its sequence number.
    fn record(&self, conn: u64, dir: Direction, bytes: u64) -> u64 {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        let mut turn = false;
        if let Some(c) = st.conns.get_mut(&conn) {
            turn = dir == Direction::Down && c.last_dir == Some(Direction::Up);
            c.last_dir = Some(dir);
            match dir {
                Direction::Up => c.up += bytes,
                Direction::Down => c.down += bytes,
            }
            if turn {
                c.round_trips += 1;
            }
        }
        match dir {
            Direction::Up => st.totals.up += bytes,
            Direction::Down => st.totals.down += bytes,
        }
        if turn {
            st.totals.round_trips += 1;
        }
        if st.log.len() >= LOG_CAP {
            st.log.pop_front();
            st.log_dropped += 1;
        }
        st.log.push_back(TapChunk {
            seq,
            conn,
            dir,
            bytes,
            at: Instant::now(),
            turn,
        });
        drop(st);
        self.changed.notify_all();
        seq
    }

    /// Take back `unwritten` bytes of chunk `seq` after a failed write.
    fn unrecord(&self, conn: u64, dir: Direction, seq: u64, unwritten: u64) {
        let mut st = self.lock();
        if let Some(c) = st.conns.get_mut(&conn) {
            match dir {
                Direction::Up => c.up = c.up.saturating_sub(unwritten),
                Direction::Down => c.down = c.down.saturating_sub(unwritten),
            }
        }
        match dir {
            Direction::Up => st.totals.up = st.totals.up.saturating_sub(unwritten),
            Direction::Down => st.totals.down = st.totals.down.saturating_sub(unwritten),
        }
        if let Some(chunk) = st.log.iter_mut().rev().find(|c| c.seq == seq) {
            chunk.bytes = chunk.bytes.saturating_sub(unwritten);
        }
        drop(st);
        self.changed.notify_all();
    }

    /// Apply to a connection's cut `budget` whatever was injected since it last looked
    /// (`seen` holds the clear and cut-all generations it has applied).
    fn update_cut(&self, seen: &mut (u64, u64), budget: &mut Option<u64>) {
        let mut st = self.lock();
        if st.clear_gen != seen.0 {
            seen.0 = st.clear_gen;
            *budget = None;
        }
        if st.cut_all_gen != seen.1 {
            seen.1 = st.cut_all_gen;
            if let Some(n) = st.cut_all {
                *budget = Some(budget.map_or(n, |b| b.min(n)));
            }
        }
        if let Some(n) = st.cut_once.take() {
            *budget = Some(budget.map_or(n, |b| b.min(n)));
        }
    }
}

/// See [`Tap::handle`].
#[derive(Clone)]
pub struct TapHandle(Arc<Shared>);

impl TapHandle {
    /// [`Tap::wait_until`].
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&TapStats) -> bool) -> bool {
        wait_state(&self.0, timeout, |st| pred(&st.totals))
    }

    /// [`Tap::cut_after`].
    pub fn cut_after(&self, n: u64) {
        self.0.lock().cut_once = Some(n);
    }
}

fn wait_state(shared: &Shared, timeout: Duration, mut pred: impl FnMut(&State) -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut st = shared.lock();
    loop {
        if pred(&st) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        st = match shared.changed.wait_timeout(st, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
