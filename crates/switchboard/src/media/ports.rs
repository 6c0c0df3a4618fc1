//! RTP/RTCP port pairs from the configured `media.rtp_ports` range.
//!
//! Each leg gets an even port for RTP and the odd port above it for RTCP
//! (RFC 3550 §11). Ports are handed out round-robin rather than lowest-free,
//! so a port just released is not reused at once and late packets of an
//! ended call do not land in a new one. Whether a port is free is asked of
//! the kernel by binding it: other programs on the machine may hold ports in
//! the range, and nothing is tracked that the kernel already knows.
//!
//! A bind can also fail because the process has no descriptor left
//! (EMFILE, ENFILE): then every other pair would fail alike, so allocation
//! stops at once and says "out of file descriptors", not that the range is
//! full. `crate::fd_limit` keeps a share of the descriptor limit for this
//! range so that signalling connections cannot cause that.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::PortRange;
use crate::fd_limit;

/// Hands out RTP/RTCP socket pairs; shared by every call.
#[derive(Debug)]
pub struct RtpPortPool {
    ip: IpAddr,
    /// First even port of the range.
    first: u16,
    /// Number of even/odd pairs in the range.
    pairs: u32,
    /// Index of the next pair to try.
    next: AtomicU32,
}

/// A bound RTP socket and its RTCP companion.
#[derive(Debug)]
pub struct RtpPortPair {
    /// The even-numbered RTP socket.
    pub rtp: UdpSocket,
    /// The RTCP socket on the next (odd) port.
    pub rtcp: UdpSocket,
}

impl RtpPortPair {
    /// The RTP port, as written in SDP `m=` lines.
    pub fn port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or_default()
    }
}

impl RtpPortPool {
    /// A pool over `range` on the local address `ip`. An odd first port is
    /// rounded up; a range holding no even/odd pair yields an empty pool
    /// whose every allocation fails.
    pub fn new(ip: IpAddr, range: PortRange) -> RtpPortPool {
        let first = u32::from(range.first) + u32::from(range.first) % 2;
        let first = u16::try_from(first).unwrap_or(u16::MAX);
        RtpPortPool {
            ip,
            first,
            pairs: pairs_in(range),
            next: AtomicU32::new(0),
        }
    }

    /// How many pairs the range holds.
    pub fn capacity(&self) -> u32 {
        self.pairs
    }

    /// Binds the next free pair, trying each pair of the range at most once.
    /// Fails with `AddrInUse` when every pair is taken.
    pub fn allocate(&self) -> io::Result<RtpPortPair> {
        for _ in 0..self.pairs {
            let index = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs;
            // `index < pairs` keeps the port inside the configured u16 range.
            let rtp_port = self.first + (2 * index) as u16;
            let rtp = match UdpSocket::bind(SocketAddr::new(self.ip, rtp_port)) {
                Ok(rtp) => rtp,
                Err(error) => {
                    check_descriptors(error)?;
                    continue;
                }
            };
            let rtcp = match UdpSocket::bind(SocketAddr::new(self.ip, rtp_port + 1)) {
                Ok(rtcp) => rtcp,
                Err(error) => {
                    check_descriptors(error)?;
                    continue;
                }
            };
            return Ok(RtpPortPair { rtp, rtcp });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "no free RTP port pair in {}-{}",
                self.first,
                u32::from(self.first) + 2 * self.pairs.max(1) - 1
            ),
        ))
    }
}

/// Passes over a bind error that concerns one port (in use, not
/// permitted); fails on one that every port would hit alike: no descriptor
/// left.
fn check_descriptors(error: io::Error) -> io::Result<()> {
    if !fd_limit::is_exhausted(&error) {
        return Ok(());
    }
    tracing::warn!(%error, "out of file descriptors: cannot bind an RTP port");
    Err(io::Error::new(
        error.kind(),
        format!("out of file descriptors binding an RTP port ({error})"),
    ))
}

/// How many even/odd pairs `range` holds (an odd first port is rounded up).
pub fn pairs_in(range: PortRange) -> u32 {
    let first = u32::from(range.first) + u32::from(range.first) % 2;
    let last = u32::from(range.last);
    // Pairs first, first+2, … whose odd port still lies in the range.
    if last > first {
        (last - first - 1) / 2 + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn pool(first: u16, last: u16) -> RtpPortPool {
        RtpPortPool::new(LOCAL, PortRange { first, last })
    }

    /// A stretch of 8 free ports at or above `from`, found by binding; each
    /// test searches its own region since tests run in parallel.
    fn free_range(from: u16) -> u16 {
        (0..400)
            .map(|i| from + i * 8)
            .find(|&base| (base..base + 8).all(|p| UdpSocket::bind((LOCAL, p)).is_ok()))
            .expect("some free port range")
    }

    #[test]
    fn capacity_counts_whole_even_odd_pairs() {
        assert_eq!(pool(20000, 30000).capacity(), 5000);
        assert_eq!(pool(20000, 20001).capacity(), 1);
        assert_eq!(pool(20001, 20004).capacity(), 1); // 20002/20003; 20004 lacks its odd port
        assert_eq!(pool(20000, 20000 + 1).capacity(), 1);
        assert_eq!(pool(20001, 20002).capacity(), 0);
    }

    #[test]
    fn exhausted_descriptors_stop_the_search_with_a_plain_message() {
        let emfile = io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        let error = check_descriptors(emfile).expect_err("EMFILE is fatal");
        assert!(
            error.to_string().contains("out of file descriptors"),
            "{error}"
        );
        let in_use = io::Error::from(io::ErrorKind::AddrInUse);
        assert!(check_descriptors(in_use).is_ok(), "a busy port is skipped");
    }

    #[test]
    fn pairs_are_even_odd_and_handed_out_round_robin() {
        let base = free_range(41_000);
        let pool = pool(base, base + 7);
        let a = pool.allocate().expect("first pair");
        let b = pool.allocate().expect("second pair");
        assert_eq!(a.port(), base);
        assert_eq!(a.rtcp.local_addr().expect("bound").port(), base + 1);
        assert_eq!(b.port(), base + 2);
        drop(a);
        // The released pair is not reused until the others have been tried.
        let c = pool.allocate().expect("third pair");
        assert_eq!(c.port(), base + 4);
    }

    #[test]
    fn busy_ports_are_skipped_and_exhaustion_is_an_error() {
        let base = free_range(45_000);
        let squatter = UdpSocket::bind((LOCAL, base + 1)).expect("hold an RTCP port");
        let pool = pool(base, base + 3);
        let pair = pool.allocate().expect("the second pair is free");
        assert_eq!(pair.port(), base + 2);
        let err = pool.allocate().expect_err("everything is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(squatter);
        assert_eq!(pool.allocate().expect("freed").port(), base);
    }
}
