//! Picking ports nobody else uses, so tests run in parallel.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// Next candidate port; each test process walks its own slice of the range
/// (seeded from its pid) so parallel test binaries rarely try the same ports.
static NEXT: AtomicU16 = AtomicU16::new(0);

/// A port free for both UDP and TCP on 127.0.0.1 right now, from 61,000
/// up: above Linux's ephemeral range (32,768–60,999), so no socket bound to
/// port 0 anywhere on the machine (clients, other servers' outgoing TCP)
/// can take it between this check and the test's bind; and clear of the
/// RTP ranges tests configure (20,000–30,000 by default, 40,000–48,999).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `count` consecutive ports, all free for UDP and TCP right
/// now, and never handed out again by this process (SIPp's `-mp N` binds
/// N to N+3 for audio and video RTP/RTCP).
pub fn free_ports(count: u16) -> u16 {
    const LOW: u16 = 61_000;
    const SPAN: u16 = 4_500;
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() as u16).wrapping_mul(97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let base = LOW + NEXT.fetch_add(count, Ordering::SeqCst) % (SPAN - count);
        let all_free = (base..base + count).all(|port| {
            let udp = UdpSocket::bind(("127.0.0.1", port));
            let tcp = TcpListener::bind(("127.0.0.1", port));
            udp.is_ok() && tcp.is_ok()
        });
        if all_free {
            return base;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN);
}
