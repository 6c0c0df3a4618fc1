//! Picking ports nobody else uses, so tests run in parallel.

use std::net::{TcpListener, UdpSocket};
use std::sync::Mutex;

/// First port handed out: above Linux's ephemeral range (32,768–60,999).
const LOW: u16 = 61_000;
/// How many ports from [`LOW`] up are handed out.
const SPAN: u16 = 4_500;

/// Which ports of the span this process has handed out, and where the next
/// search starts; each test process starts at its own place in the span
/// (seeded from its pid) so parallel test binaries rarely try the same
/// ports.
struct HandedOut {
    next: u16,
    taken: Vec<bool>,
}

static HANDED_OUT: Mutex<Option<HandedOut>> = Mutex::new(None);

/// A port free for both UDP and TCP on 127.0.0.1 right now, from 61,000
/// up: above Linux's ephemeral range (32,768–60,999), so no socket bound to
/// port 0 anywhere on the machine (clients, other servers' outgoing TCP)
/// can take it between this check and the test's bind; and clear of the
/// RTP ranges tests configure (20,000–30,000 by default, 40,000–48,999).
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `count` consecutive ports, all free for UDP and TCP right
/// now, and never handed out again by this process, not even in part of
/// another block (SIPp's `-mp N` binds N to N+3 for audio and video
/// RTP/RTCP; an in-process server's RTP pool binds its block lazily, so
/// only this record keeps another test off it).
pub fn free_ports(count: u16) -> u16 {
    assert!(
        (1..SPAN).contains(&count),
        "cannot hand out {count} ports at once"
    );
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let ports = guard.get_or_insert_with(|| {
        HandedOut::starting_at((std::process::id() as u16).wrapping_mul(97) % SPAN)
    });
    let free = |port: u16| {
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = TcpListener::bind(("127.0.0.1", port));
        udp.is_ok() && tcp.is_ok()
    };
    ports.take(count, free).unwrap_or_else(|| {
        panic!(
            "no {count} free ports between {LOW} and {} that this process has not handed out",
            LOW + SPAN
        )
    })
}

impl HandedOut {
    fn starting_at(next: u16) -> HandedOut {
        HandedOut {
            next,
            taken: vec![false; usize::from(SPAN)],
        }
    }

    /// The first of `count` consecutive ports not handed out before and
    /// `free` now, searched from where the last search ended.
    fn take(&mut self, count: u16, free: impl Fn(u16) -> bool) -> Option<u16> {
        for _ in 0..SPAN {
            // A block never runs past the end: it starts over at the bottom.
            if self.next + count > SPAN {
                self.next = 0;
            }
            let start = self.next;
            let block = usize::from(start)..usize::from(start + count);
            let base = LOW + start;
            if !self.taken[block.clone()].iter().any(|&taken| taken)
                && (base..base + count).all(&free)
            {
                self.taken[block].iter_mut().for_each(|taken| *taken = true);
                self.next = start + count;
                return Some(base);
            }
            self.next += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_single_ports_never_overlap_even_across_the_end() {
        // Near the end, so the blocks start over at the bottom.
        let mut ports = HandedOut::starting_at(SPAN - 30);
        let mut seen = std::collections::HashSet::new();
        for round in 0..300u16 {
            let count = [1, 4, 20][usize::from(round % 3)];
            let base = ports.take(count, |_| true).expect("room");
            assert!(base >= LOW && base + count <= LOW + SPAN, "{base}+{count}");
            for port in base..base + count {
                assert!(seen.insert(port), "port {port} handed out twice");
            }
        }
        assert!(seen.contains(&LOW), "started over at the bottom");
        // Ports in use elsewhere are skipped; a full span gives nothing.
        let mut ports = HandedOut::starting_at(0);
        assert_eq!(ports.take(2, |port| port > LOW + 1), Some(LOW + 2));
        assert_eq!(ports.take(SPAN - 1, |_| true), None);
    }

    #[test]
    fn free_ports_are_bindable_and_distinct() {
        let a = free_ports(4);
        let b = free_port();
        assert!(b < a || b >= a + 4);
        assert!(UdpSocket::bind(("127.0.0.1", b)).is_ok());
    }
}
