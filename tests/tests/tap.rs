//! Tests of the byte tap (`anvert_tests::tap`) against small loopback servers whose exchange is
//! known byte for byte: counters, round trips, phases, cuts, delay, refusal, shutdown.
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
    fn start(handler: fn(TcpStream)) -> Server {
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
    #[cfg(target_os = "linux")]
    assert!(!thread_named(&thread_name), "{thread_name} still running");
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
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
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
