//! Tests of the byte tap (`anvert_tests::tap`) against small loopback servers whose exchange is
//! known byte for byte: counters, round trips, phases, cuts, delay, rate cap, refusal,
//! blackhole, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anvert_tests::tap::{Direction, Tap, TapStats};

/// What the client sends each round.
const HELLO: &[u8] = b"HELLO 12345\r\n";
/// Length of the server's fixed reply each round.
const REPLY_LEN: usize = 1000;
/// Generous bound for anything that should happen "soon" (never reached when all is well).
const PATIENCE: Duration = Duration::from_secs(10);

fn reply() -> Vec<u8> {
    let mut r: Vec<u8> = (0..REPLY_LEN - 2).map(|i| b'a' + (i % 26) as u8).collect();
    r.extend_from_slice(b"\r\n");
    r
}

/// A loopback server running `handler` on a thread per connection.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(TcpStream) + Clone + Send + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, st) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    acc.fetch_add(1, Ordering::SeqCst);
                    let handler = handler.clone();
                    std::thread::spawn(move || handler(stream));
                }
            }
        });
        Server {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The known exchange: for every `HELLO` line, a fixed 1000-byte reply; ends at EOF.
fn hello_handler(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let reply = reply();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == HELLO => {
                if writer.write_all(&reply).is_err() {
                    return;
                }
            }
            Ok(_) => return,
        }
    }
}

const BULK_UP: usize = 3 * 1024 * 1024;
const BULK_DOWN: usize = 2 * 1024 * 1024;

/// Reads everything until the client half-closes, then answers `BULK_DOWN` bytes and closes.
/// Answers nothing if it did not receive exactly `BULK_UP` bytes.
fn sink_handler(mut stream: TcpStream) {
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return,
        }
    }
    if got == BULK_UP {
        let _ = stream.write_all(&vec![7u8; BULK_DOWN]);
    }
}

/// Waits for client data and closes without reading it: the kernel answers with a reset.
fn reset_handler(stream: TcpStream) {
    let mut one = [0u8; 1];
    let _ = stream.peek(&mut one);
}

fn connect(tap: &Tap) -> TcpStream {
    let s = TcpStream::connect(tap.addr()).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

fn exchange(s: &mut TcpStream, rounds: usize) {
    let expected = reply();
    for _ in 0..rounds {
        s.write_all(HELLO).unwrap();
        let mut buf = vec![0u8; REPLY_LEN];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf, expected);
    }
}

/// Reads until EOF or a reset; returns the bytes and whether it ended with EOF.
/// A timeout fails the test (the tap was supposed to close the connection).
fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                panic!("connection was not closed within {PATIENCE:?}")
            }
            Err(_) => return (out, false),
        }
    }
}

fn stats(up: u64, down: u64, connections: u64, round_trips: u64) -> TapStats {
    TapStats {
        up,
        down,
        connections,
        round_trips,
    }
}

const H: u64 = HELLO.len() as u64;
const R: u64 = REPLY_LEN as u64;

#[test]
fn counts_a_known_exchange_exactly() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    assert_eq!(tap.addr().ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_ne!(tap.addr().port(), 0);
    assert_eq!(tap.stats(), TapStats::default());

    let mut c = connect(&tap);
    exchange(&mut c, 3);
    // Counted before handed on: once the client has the last byte, the stats are complete.
    assert_eq!(tap.stats(), stats(3 * H, 3 * R, 1, 3));
    assert_eq!(tap.stats().total(), 3 * H + 3 * R);

    let conns = tap.connections();
    assert_eq!(conns.len(), 1);
    let conn = conns[0];
    assert_eq!(
        (conn.id, conn.up, conn.down, conn.round_trips),
        (1, 3 * H, 3 * R, 3)
    );
    assert!(conn.open && !conn.cut);
    assert_eq!(tap.open_connections(), 1);

    // The log is ordered, adds up, and its turns are the round trips.
    let log = tap.chunks();
    assert!(
        log.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    assert!(log.iter().all(|c| c.conn == 1 && c.bytes > 0));
    assert_eq!(log[0].dir, Direction::Up);
    let sum = |d: Direction| {
        log.iter()
            .filter(|c| c.dir == d)
            .map(|c| c.bytes)
            .sum::<u64>()
    };
    assert_eq!((sum(Direction::Up), sum(Direction::Down)), (3 * H, 3 * R));
    assert_eq!(log.iter().filter(|c| c.turn).count(), 3);
    assert_eq!(tap.chunks_dropped(), 0);

    drop(c);
    assert!(tap.wait_all_closed(PATIENCE));
    let conn = tap.connection(1).unwrap();
    assert!(!conn.open && !conn.cut);
    assert_eq!(tap.stats(), stats(3 * H, 3 * R, 1, 3));
    assert_eq!(server.accepted(), 1);
}

#[test]
fn stats_since_a_mark_isolates_a_phase() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c1 = connect(&tap);
    exchange(&mut c1, 1); // e.g. the "handshake" phase

    let mark = tap.mark();
    assert_eq!(tap.stats_since(&mark), TapStats::default());
    exchange(&mut c1, 2);
    assert_eq!(tap.stats_since(&mark), stats(2 * H, 2 * R, 0, 2));
    let mut c2 = connect(&tap);
    exchange(&mut c2, 1);
    assert_eq!(tap.stats_since(&mark), stats(3 * H, 3 * R, 1, 3));
    assert_eq!(tap.stats(), stats(4 * H, 4 * R, 2, 4));

    let since = tap.chunks_since(&mark);
    assert_eq!(since.iter().map(|c| c.bytes).sum::<u64>(), 3 * H + 3 * R);
    assert_eq!(since.iter().filter(|c| c.turn).count(), 3);
    assert_eq!(tap.chunks().len() - since.len(), 2); // phase one: HELLO + reply
    assert!(since.iter().any(|c| c.conn == 2));

    // A reply that straddles the mark: the request before it, the reply (and turn) after.
    // (The delay holds the reply back long enough to take the mark in between.)
    tap.set_delay(Duration::from_millis(300));
    c1.write_all(HELLO).unwrap();
    assert!(tap.wait_until(PATIENCE, |s| s.up == 5 * H));
    let straddle = tap.mark();
    let mut buf = vec![0u8; REPLY_LEN];
    c1.read_exact(&mut buf).unwrap();
    assert_eq!(tap.stats_since(&straddle), stats(0, R, 0, 1));
    tap.set_delay(Duration::ZERO);

    // reset() zeroes everything; open connections keep going with fresh counters.
    tap.reset();
    assert_eq!(tap.stats(), TapStats::default());
    assert!(tap.chunks().is_empty());
    exchange(&mut c2, 1);
    assert_eq!(tap.stats(), stats(H, R, 0, 1));
    let c2_stats = tap.connection(2).unwrap();
    assert_eq!(
        (c2_stats.up, c2_stats.down, c2_stats.round_trips),
        (H, R, 1)
    );
    // A mark from before the reset measures from the reset.
    assert_eq!(tap.stats_since(&mark), tap.stats());
    assert!(mark.at() <= straddle.at());
}

#[test]
fn cut_after_delivers_exactly_n_bytes_then_closes() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c = connect(&tap);
    exchange(&mut c, 1);

    tap.cut_after(500);
    c.write_all(HELLO).unwrap();
    let (got, _eof) = read_until_closed(&mut c);
    assert_eq!(got.len(), 500);
    assert_eq!(got, reply()[..500]);
    assert!(tap.wait_all_closed(PATIENCE));
    let conn = tap.connection(1).unwrap();
    assert!(conn.cut && !conn.open);
    assert_eq!((conn.up, conn.down), (2 * H, R + 500));
    assert_eq!(tap.stats(), stats(2 * H, R + 500, 1, 2));

    // One-shot: the next connection is relayed in full.
    let mut c2 = connect(&tap);
    exchange(&mut c2, 3);
    assert_eq!(tap.connection(2).unwrap().down, 3 * R);
    assert!(!tap.connection(2).unwrap().cut);
}

#[test]
fn cut_after_counts_across_replies_and_applies_to_the_next_connection() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    // Armed before any connection exists: the next one claims it.
    tap.cut_after(1500);
    let mut c = connect(&tap);
    exchange(&mut c, 1);
    c.write_all(HELLO).unwrap();
    let (got, _) = read_until_closed(&mut c);
    assert_eq!(got, reply()[..500]);
    assert!(tap.wait_all_closed(PATIENCE));
    assert_eq!(tap.stats().down, 1500);

    // cut_after(0): closed at the next server data, none of it delivered.
    let mut c2 = connect(&tap);
    tap.cut_after(0);
    c2.write_all(HELLO).unwrap();
    let (got, _) = read_until_closed(&mut c2);
    assert!(got.is_empty());
    assert!(tap.wait_all_closed(PATIENCE));
    assert_eq!(tap.connection(2).unwrap().down, 0);
    assert!(tap.connection(2).unwrap().cut);
}

#[test]
fn cut_all_after_cuts_every_connection_until_cleared() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    tap.cut_all_after(500);
    for _ in 0..2 {
        let mut c = connect(&tap);
        c.write_all(HELLO).unwrap();
        let (got, _) = read_until_closed(&mut c);
        assert_eq!(got, reply()[..500]);
    }
    assert!(tap.wait_all_closed(PATIENCE));
    assert!(tap.connections().iter().all(|c| c.cut && c.down == 500));

    tap.clear_faults();
    let mut c = connect(&tap);
    exchange(&mut c, 3);
    assert_eq!(tap.stats(), stats(5 * H, 1000 + 3 * R, 3, 5));
}

#[test]
fn delay_adds_at_least_the_configured_latency_each_way() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c = connect(&tap);
    exchange(&mut c, 1);

    let delay = Duration::from_millis(60);
    tap.set_delay(delay);
    let started = Instant::now();
    exchange(&mut c, 3);
    let elapsed = started.elapsed();
    // Each round trip crosses the tap twice.
    assert!(elapsed >= 6 * delay, "3 round trips took {elapsed:?}");
    assert_eq!(tap.stats(), stats(4 * H, 4 * R, 1, 4));

    tap.set_delay(Duration::ZERO);
    exchange(&mut c, 1);
}

#[test]
fn delay_is_latency_not_a_throughput_cap() {
    let server = Server::start(sink_handler);
    let tap = Tap::start(server.addr).unwrap();
    let delay = Duration::from_millis(100);
    tap.set_delay(delay);
    let mut c = connect(&tap);
    let started = Instant::now();
    c.write_all(&vec![1u8; BULK_UP]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut down = Vec::new();
    c.read_to_end(&mut down).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(down.len(), BULK_DOWN);
    assert!(elapsed >= 2 * delay, "took {elapsed:?}");
    // Dozens of 64 KiB chunks each way: delaying them one after the other would take seconds.
    assert!(
        elapsed < 20 * delay,
        "took {elapsed:?}: chunks were not pipelined"
    );
}

#[test]
fn relays_half_close_and_bulk_data_exactly() {
    let server = Server::start(sink_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c = connect(&tap);
    c.write_all(&vec![1u8; BULK_UP]).unwrap();
    // The server only answers after it sees our EOF: the half-close must get through.
    c.shutdown(Shutdown::Write).unwrap();
    let mut down = Vec::new();
    c.read_to_end(&mut down).unwrap();
    assert_eq!(down.len(), BULK_DOWN);
    assert!(down.iter().all(|&b| b == 7));
    assert_eq!(tap.stats(), stats(BULK_UP as u64, BULK_DOWN as u64, 1, 1));
    assert!(tap.wait_all_closed(PATIENCE));
    assert!(!tap.connection(1).unwrap().cut);
}

#[test]
fn refuse_closes_new_connections_at_once() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    tap.set_refuse(true);
    let started = Instant::now();
    let mut c = connect(&tap);
    let (got, _) = read_until_closed(&mut c);
    assert!(got.is_empty());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(tap.refused(), 1);
    assert_eq!(tap.stats(), TapStats::default());
    assert_eq!(
        server.accepted(),
        0,
        "a refused connection must not reach the server"
    );

    tap.set_refuse(false);
    let mut c = connect(&tap);
    exchange(&mut c, 1);
    assert_eq!(tap.stats(), stats(H, R, 1, 1));
    assert_eq!(server.accepted(), 1);
}

#[cfg(target_os = "linux")]
fn thread_named(name: &str) -> bool {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .any(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
}

#[test]
fn dropping_the_tap_frees_its_port_and_ends_its_thread() {
    let server = Server::start(hello_handler);

    // Idle tap: the port can be bound again right after the drop.
    let tap = Tap::start(server.addr).unwrap();
    let addr = tap.addr();
    drop(tap);
    drop(TcpListener::bind(addr).expect("the tap's port should be free after drop"));

    // Busy tap: its relayed connection is closed, its listener and its thread are gone.
    let tap = Tap::start(server.addr).unwrap();
    let addr = tap.addr();
    let thread_name = format!("tap:{}", addr.port());
    #[cfg(target_os = "linux")]
    assert!(thread_named(&thread_name));
    let mut c = connect(&tap);
    exchange(&mut c, 1);
    drop(tap);
    // The drop joined the thread; the kernel may list the finished task a moment longer.
    #[cfg(target_os = "linux")]
    {
        let gone_by = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while thread_named(&thread_name) && std::time::Instant::now() < gone_by {
            std::thread::sleep(std::time::Duration::from_millis(10)); // polling /proc
        }
        assert!(!thread_named(&thread_name), "{thread_name} still running");
    }
    let (got, _) = read_until_closed(&mut c);
    assert!(got.is_empty());
    let err = TcpStream::connect(addr).expect_err("nothing should listen on the tap's port");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn survives_resets_and_an_unreachable_upstream() {
    // The server resets the connection.
    let resetting = Server::start(reset_handler);
    let tap = Tap::start(resetting.addr).unwrap();
    for _ in 0..2 {
        let mut c = connect(&tap);
        c.write_all(HELLO).unwrap();
        let (got, _) = read_until_closed(&mut c);
        assert!(got.is_empty());
    }
    assert!(tap.wait_all_closed(PATIENCE));
    assert_eq!(tap.stats().connections, 2);

    // The client resets the connection (closes with a reply it has not read).
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let c = connect(&tap);
    (&c).write_all(HELLO).unwrap();
    (&c).write_all(HELLO).unwrap();
    assert!(tap.wait_until(PATIENCE, |s| s.down == 2 * R));
    drop(c);
    assert!(tap.wait_all_closed(PATIENCE));
    let mut c = connect(&tap);
    exchange(&mut c, 3);
    let (reset, healthy) = (tap.connection(1).unwrap(), tap.connection(2).unwrap());
    assert_eq!(
        (healthy.up, healthy.down, healthy.round_trips),
        (3 * H, 3 * R, 3)
    );
    // What the reset interrupted is taken back out, so the totals still add up.
    assert_eq!(reset.up, 2 * H);
    assert!(reset.down > 0 && reset.down <= 2 * R);
    let s = tap.stats();
    assert_eq!(
        (s.up, s.down, s.connections),
        (5 * H, reset.down + 3 * R, 2)
    );

    // Nothing listens upstream: the client is closed, the tap carries on.
    let gone = std::net::SocketAddr::from(([127, 0, 0, 1], anvert_tests::ports::free_ports(1)[0]));
    let tap = Tap::start(gone).unwrap();
    let mut c = connect(&tap);
    let (got, _) = read_until_closed(&mut c);
    assert!(got.is_empty());
    assert!(tap.wait_all_closed(PATIENCE));
    assert_eq!(tap.upstream(), gone);
    assert_eq!(tap.stats(), stats(0, 0, 1, 0));
}

#[tokio::test]
async fn works_from_a_current_thread_tokio_test() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c = tokio::net::TcpStream::connect(tap.addr()).await.unwrap();
    for _ in 0..3 {
        c.write_all(HELLO).await.unwrap();
        let mut buf = vec![0u8; REPLY_LEN];
        tokio::time::timeout(PATIENCE, c.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, reply());
    }
    assert_eq!(tap.stats(), stats(3 * H, 3 * R, 1, 3));
    // Dropping inside a runtime is fine: the tap's runtime lives on its own thread.
    drop(tap);
    let mut rest = Vec::new();
    let n = tokio::time::timeout(PATIENCE, c.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(n.is_err() || rest.is_empty());
}

/// How long a read must stay silent to count as "nothing arrived" (a bound, not a wait for
/// something to happen: these checks prove an absence).
const QUIET: Duration = Duration::from_millis(300);

/// Reads for `QUIET`: nothing may arrive, and the connection must be neither closed nor reset.
fn assert_silent(s: &mut TcpStream) {
    s.set_read_timeout(Some(QUIET)).unwrap();
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
        Ok(0) => panic!("the connection was closed (FIN)"),
        Ok(n) => panic!("{n} bytes arrived"),
        Err(e) => panic!("the connection failed: {e}"),
    }
    s.set_read_timeout(Some(PATIENCE)).unwrap();
}

/// A hello server that reports each connection's server-side stream (so a test can close it)
/// and each EOF it reads (so a test can see whether a FIN reached the server).
fn watched_hello_server() -> (
    Server,
    std::sync::mpsc::Receiver<TcpStream>,
    std::sync::mpsc::Receiver<()>,
) {
    let (streams_tx, streams) = std::sync::mpsc::channel();
    let (eofs_tx, eofs) = std::sync::mpsc::channel();
    let (streams_tx, eofs_tx) = (
        Arc::new(std::sync::Mutex::new(streams_tx)),
        Arc::new(std::sync::Mutex::new(eofs_tx)),
    );
    let server = Server::start(move |stream: TcpStream| {
        let _ = streams_tx.lock().unwrap().send(stream.try_clone().unwrap());
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    let _ = eofs_tx.lock().unwrap().send(());
                    return;
                }
                Ok(_) if line == HELLO => {
                    if writer.write_all(&reply()).is_err() {
                        return;
                    }
                }
                Ok(_) | Err(_) => return,
            }
        }
    });
    (server, streams, eofs)
}

#[test]
fn blackhole_drops_both_directions_silently_and_for_good() {
    let (server, server_streams, server_eofs) = watched_hello_server();
    let tap = Tap::start(server.addr).unwrap();
    let mut c = connect(&tap);
    exchange(&mut c, 1);
    let server_side = server_streams.recv_timeout(PATIENCE).unwrap();

    // A reply on its way (held back by the delay) when the mapping is forgotten: it is dropped.
    tap.set_delay(Duration::from_millis(200));
    c.write_all(HELLO).unwrap();
    assert!(tap.wait_until(PATIENCE, |s| s.up == 2 * H));
    tap.set_blackhole(true);
    assert!(tap.wait_connections(PATIENCE, |cs| cs[0].blackholed));
    tap.set_delay(Duration::ZERO);
    assert_silent(&mut c);
    // Client data is swallowed too, and neither side sees a FIN or a reset.
    c.write_all(HELLO).unwrap();
    assert_silent(&mut c);
    assert_eq!(tap.stats(), stats(2 * H, R, 1, 1));
    let conn = tap.connection(1).unwrap();
    assert!(conn.open && conn.blackholed && !conn.cut);
    assert!(
        server_eofs.recv_timeout(QUIET).is_err(),
        "the server saw a FIN"
    );

    // Switched off: the dead connection stays dead, a new one relays normally.
    tap.set_blackhole(false);
    c.write_all(HELLO).unwrap();
    assert_silent(&mut c);
    let mut fresh = connect(&tap);
    exchange(&mut fresh, 2);
    assert!(!tap.connection(2).unwrap().blackholed);
    assert_eq!(tap.blackholed().len(), 1);
    assert_eq!(tap.stats(), stats(4 * H, 3 * R, 2, 3));

    // The client closing a dead connection ends it, and the tap closes its side to the
    // server then (documented: the harness Dovecot should not hold it until the test ends).
    drop(c);
    assert!(tap.wait_connections(PATIENCE, |cs| !cs[0].open && cs[1].open));
    server_eofs.recv_timeout(PATIENCE).unwrap();
    drop(server_side);

    // On again: the open connection is caught too. Its server closing is not passed on.
    tap.set_blackhole(true);
    assert!(tap.wait_connections(PATIENCE, |cs| cs[1].blackholed));
    let fresh_server_side = server_streams.recv_timeout(PATIENCE).unwrap();
    fresh_server_side.shutdown(Shutdown::Both).unwrap();
    assert_silent(&mut fresh);
    assert!(tap.connection(2).unwrap().open);
    drop(fresh);
    drop(fresh_server_side);
    assert!(tap.wait_all_closed(PATIENCE));
    assert_eq!(tap.blackholed().len(), 2);
    assert_eq!(tap.stats(), stats(4 * H, 3 * R, 2, 3));
    assert_eq!(server.accepted(), 2);
}

#[test]
fn blackhole_accepts_new_connections_but_never_relays_them() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    tap.set_blackhole(true);
    let mut dead = connect(&tap);
    dead.write_all(HELLO).unwrap();
    assert_silent(&mut dead);
    assert!(tap.wait_connections(PATIENCE, |cs| cs.len() == 1
        && cs[0].blackholed
        && cs[0].open));
    assert_eq!(tap.stats(), stats(0, 0, 1, 0));

    // clear_faults turns the blackhole off; the connection it caught stays dead.
    tap.clear_faults();
    dead.write_all(HELLO).unwrap();
    assert_silent(&mut dead);
    let mut alive = connect(&tap);
    exchange(&mut alive, 1);
    assert_eq!(tap.stats(), stats(H, R, 2, 1));
    assert_eq!(
        server.accepted(),
        1,
        "a connection accepted in the blackhole must not reach the server"
    );
    drop(dead);
    assert!(tap.wait_connections(PATIENCE, |cs| !cs[0].open && cs[1].open));
}

/// Echoes everything back until EOF.
fn echo_handler(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = stream;
    let _ = std::io::copy(&mut reader, &mut writer);
    let _ = writer.shutdown(Shutdown::Write);
}

/// Sends `n` bytes through an echo server and reads them back at the same time; returns how
/// long it took.
fn echo_through(tap: &Tap, n: usize) -> Duration {
    let c = connect(tap);
    let started = Instant::now();
    let mut writer = c.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        writer.write_all(&vec![5u8; n]).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    (&c).read_to_end(&mut back).unwrap();
    let elapsed = started.elapsed();
    sender.join().unwrap();
    assert_eq!(back.len(), n);
    elapsed
}

#[test]
fn rate_caps_each_direction_of_each_connection() {
    const N: usize = 1024 * 1024;
    const RATE: u64 = 1024 * 1024;
    let server = Server::start(echo_handler);
    let tap = Tap::start(server.addr).unwrap();
    let one = Duration::from_secs_f64(N as f64 / RATE as f64);

    // Uncapped, the echo is far quicker than the cap.
    assert!(echo_through(&tap, N) < one / 2);

    // Up and down flow at once: each direction gets the whole cap (a shared cap would take
    // twice as long). The bucket lets at most 10 ms worth through early.
    tap.set_rate(Some(RATE));
    let elapsed = echo_through(&tap, N);
    assert!(elapsed >= one.mul_f64(0.95), "{N} bytes took {elapsed:?}");
    assert!(elapsed < one.mul_f64(1.6), "{N} bytes took {elapsed:?}");
    assert_eq!(tap.connection(2).unwrap().up, N as u64);
    assert_eq!(tap.connection(2).unwrap().down, N as u64);

    // Two connections at once: each gets the whole cap.
    let started = Instant::now();
    let parallel: Vec<_> = (0..2)
        .map(|_| {
            let addr = tap.addr();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut writer = c.try_clone().unwrap();
                let sender = std::thread::spawn(move || {
                    writer.write_all(&vec![6u8; N]).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                c.read_to_end(&mut back).unwrap();
                sender.join().unwrap();
                back.len()
            })
        })
        .collect();
    for t in parallel {
        assert_eq!(t.join().unwrap(), N);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= one.mul_f64(0.95),
        "2 × {N} bytes took {elapsed:?}"
    );
    assert!(elapsed < one.mul_f64(1.6), "2 × {N} bytes took {elapsed:?}");
    assert_eq!(
        tap.stats(),
        stats(4 * N as u64, 4 * N as u64, 4, tap.stats().round_trips)
    );
}

#[test]
fn rate_composes_with_delay_and_keeps_round_trips_exact() {
    let server = Server::start(hello_handler);
    let tap = Tap::start(server.addr).unwrap();
    let mut c = connect(&tap);
    exchange(&mut c, 1);

    // 1000 bytes at 10,000 B/s take 100 ms (written in pieces of 100 bytes), after 50 ms of
    // latency each way.
    let delay = Duration::from_millis(50);
    tap.set_delay(delay);
    tap.set_rate(Some(10_000));
    let started = Instant::now();
    exchange(&mut c, 2);
    let elapsed = started.elapsed();
    // Per exchange: 2 × 50 ms + 100 ms (reply) + 1.3 ms (request), less one bucket (10 ms).
    let least = 2 * (2 * delay + Duration::from_millis(90));
    assert!(elapsed >= least, "2 exchanges took {elapsed:?}");
    assert!(elapsed < 10 * least, "2 exchanges took {elapsed:?}");
    // Pieces of one reply are one turn; the bytes are exact.
    assert_eq!(tap.stats(), stats(3 * H, 3 * R, 1, 3));
    let mark = tap.mark();
    exchange(&mut c, 1);
    let pieces = tap.chunks_since(&mark);
    assert!(pieces.iter().filter(|p| p.dir == Direction::Down).count() >= 10);
    assert!(pieces.iter().all(|p| p.bytes <= 100));

    // Removed: back to full speed.
    tap.set_rate(None);
    tap.set_delay(Duration::ZERO);
    let started = Instant::now();
    exchange(&mut c, 1);
    assert!(started.elapsed() < least);
    assert_eq!(tap.stats().round_trips, 5);
}
