//! Picking ports nobody else uses, so tests run in parallel.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// Next candidate port; each test process walks its own slice of the range
/// (seeded from its pid) so parallel test binaries rarely try the same ports.
static NEXT: AtomicU16 = AtomicU16::new(0);

/// A port free for both UDP and TCP on 127.0.0.1 right now. Avoids the
/// ranges other software on the machine uses (5060/5080, 16384–32768, 6000).
pub fn free_port() -> u16 {
    const LOW: u16 = 33_000;
    const SPAN: u16 = 27_000;
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() as u16).wrapping_mul(97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN);
}
