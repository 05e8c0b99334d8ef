//! Free ports for the servers the tests start, taken from below the kernel's ephemeral range.
//!
//! A server started by a test binds its ports itself, after the harness has chosen them. A
//! port found free with `bind(…:0)` comes from the ephemeral range, and between the harness
//! letting it go and the server binding it, another test's `bind(…:0)` (a scripted server,
//! a tap, an outbound connection) can be handed the same port: the server then fails to
//! start, or worse, the harness sees the other test's listener and carries on. Ports below
//! the ephemeral range are never handed out by the kernel, so only this allocator gives them
//! out, each once per process; a port some other process holds fails the bind check and is
//! skipped.

use std::{
    net::TcpListener,
    sync::atomic::{AtomicU32, Ordering},
};

/// How many ports below the ephemeral range the allocator cycles through.
const SPAN: u32 = 12_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The kernel's lowest ephemeral port (Linux' default when it can't be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// `count` distinct ports that are free now on 127.0.0.1 and on 127.0.0.2, and that no other
/// caller in this process has been given.
pub fn free_ports(count: usize) -> Vec<u16> {
    let high = ephemeral_low().min(u32::from(u16::MAX));
    let low = high.saturating_sub(SPAN).max(1024);
    let span = high - low;
    if span < 64 {
        return ephemeral(count);
    }
    // Processes started one after another begin at different places.
    let _ = NEXT.compare_exchange(
        0,
        std::process::id().wrapping_mul(7919) % span + 1,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let mut ports = Vec::with_capacity(count);
    let mut tried = 0;
    while ports.len() < count {
        tried += 1;
        assert!(tried < span, "no free port in {low}..{high}");
        let port = (low + NEXT.fetch_add(1, Ordering::SeqCst) % span) as u16;
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.2", port)).is_ok();
        if free {
            ports.push(port);
        }
    }
    ports
}

/// The fallback where the ephemeral range leaves no room below it: ports the kernel picks.
fn ephemeral(count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < count {
        let one = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = one.local_addr().unwrap().port();
        if let Ok(two) = TcpListener::bind(("127.0.0.2", port)) {
            if !ports.contains(&port) {
                ports.push(port);
            }
            held.push(two);
        }
        held.push(one);
    }
    ports
}
