//! How many connections a listener holds, in total and per source address,
//! decided at accept.
//!
//! A connection beyond a limit is closed as soon as it is accepted: the
//! kernel has already completed the handshake, and leaving it in the
//! backlog would only make the peer's connect hang. Three limits apply, in
//! this order: the listener's total, the source address's share (SIP only:
//! `sip.tcp_max_connections_per_ip`; an IPv6 /64 counts as one address,
//! [`super::source_block`]), and the process's descriptor budget
//! for signalling ([`crate::fd_limit`]).
//!
//! The per-address map holds an entry only while that address has a
//! connection open, so it is bounded by the total, and it gives its memory
//! back when a storm ends (a `HashMap` keeps its capacity otherwise).
//! Refusals are logged in summary, at most one line per
//! [`REFUSAL_LOG_INTERVAL`], so that a storm cannot flood the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::fd_limit::{self, SignallingSlot};

/// Least time between two log lines about refused connections.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a new connection is closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its maximum of connections.
    Total,
    /// The source address holds its maximum of connections.
    PerAddress,
    /// The process's descriptors for signalling are all in use.
    Descriptors,
}

impl Refusal {
    /// What the log says.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Total => "connection limit reached",
            Refusal::PerAddress => "per-address connection limit reached",
            Refusal::Descriptors => {
                "out of file descriptors for signalling (the rest is kept for RTP)"
            }
        }
    }
}

/// The counts one listener (or one group of listeners) keeps; sans-IO.
#[derive(Debug)]
pub struct ConnectionCounts {
    max_total: u32,
    max_per_address: Option<u32>,
    total: u32,
    per_address: HashMap<IpAddr, u32>,
}

impl ConnectionCounts {
    /// Counts for at most `max_total` connections, and `max_per_address`
    /// from one address when given.
    pub fn new(max_total: u32, max_per_address: Option<u32>) -> ConnectionCounts {
        ConnectionCounts {
            max_total,
            max_per_address,
            total: 0,
            per_address: HashMap::new(),
        }
    }

    /// Counts a new connection from `address`, or says why it is refused.
    pub fn admit(&mut self, address: IpAddr) -> Result<(), Refusal> {
        let address = super::source_block(address);
        if self.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let from = self.per_address.get(&address).copied().unwrap_or(0);
        if self.max_per_address.is_some_and(|max| from >= max) {
            return Err(Refusal::PerAddress);
        }
        self.total += 1;
        if self.max_per_address.is_some() {
            self.per_address.insert(address, from + 1);
        }
        Ok(())
    }

    /// Forgets a connection [`ConnectionCounts::admit`] counted.
    pub fn release(&mut self, address: IpAddr) {
        let address = super::source_block(address);
        if self.max_per_address.is_some() {
            let Some(count) = self.per_address.get_mut(&address) else {
                return; // never admitted
            };
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
                // Give a storm's worth of buckets back once it has passed.
                super::shrink_after_storm(&mut self.per_address);
            }
        }
        self.total = self.total.saturating_sub(1);
    }

    /// Connections counted now.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Connections counted now from `address`.
    #[cfg(test)]
    pub fn from_address(&self, address: IpAddr) -> u32 {
        let address = super::source_block(address);
        self.per_address.get(&address).copied().unwrap_or(0)
    }

    /// Addresses with a connection open (the size of the per-address map).
    #[cfg(test)]
    pub fn addresses(&self) -> usize {
        self.per_address.len()
    }

    /// Buckets the per-address map holds (for tests of its shrinking).
    #[cfg(test)]
    pub fn address_capacity(&self) -> usize {
        self.per_address.capacity()
    }
}

/// A listener's counts, shared by its accept loop and its connections.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    counts: Arc<Mutex<ConnectionCounts>>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, and `max_per_address` per source
    /// address when given.
    pub fn new(max_total: u32, max_per_address: Option<u32>) -> ConnectionLimits {
        ConnectionLimits {
            counts: Arc::new(Mutex::new(ConnectionCounts::new(
                max_total,
                max_per_address,
            ))),
        }
    }

    /// Admits a connection from `address` against the process's descriptor
    /// budget and these limits; the permit is held until it closes. The
    /// descriptor slot is taken first (lock-free), so a descriptor storm is
    /// refused without touching the counts.
    pub fn admit(&self, address: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let slot = fd_limit::signalling_slot().ok_or(Refusal::Descriptors)?;
        // A refusal drops the slot again.
        self.lock().admit(address)?;
        Ok(ConnectionPermit {
            limits: self.clone(),
            address,
            _slot: slot,
        })
    }

    /// Connections held now.
    pub fn total(&self) -> u32 {
        self.lock().total()
    }

    fn lock(&self) -> MutexGuard<'_, ConnectionCounts> {
        // Plain counters: a panic elsewhere cannot leave them half-updated.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted connection's place in its listener's limits and in the
/// descriptor budget; dropping it frees both.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: ConnectionLimits,
    address: IpAddr,
    _slot: SignallingSlot<'static>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.lock().release(self.address);
    }
}

/// Rate limit for log lines about connections a limit closed (refused at
/// accept, or cut off for sending too slowly): the first is logged at once,
/// later ones are counted and reported with the first one after
/// [`REFUSAL_LOG_INTERVAL`].
#[derive(Debug, Default)]
pub struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    /// Notes a closed connection at `now`; `Some(n)` when a line is due,
    /// `n` being the connections it reports (this one included).
    pub fn note(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= REFUSAL_LOG_INTERVAL);
        if !due {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn per_address_and_total_limits_refuse_in_that_order() {
        let mut counts = ConnectionCounts::new(5, Some(2));
        assert_eq!(counts.admit(ip(1)), Ok(()));
        assert_eq!(counts.admit(ip(1)), Ok(()));
        assert_eq!(counts.admit(ip(1)), Err(Refusal::PerAddress));
        assert_eq!(counts.admit(ip(2)), Ok(()));
        assert_eq!(counts.admit(ip(2)), Ok(()));
        assert_eq!(counts.admit(ip(3)), Ok(()));
        assert_eq!(counts.admit(ip(4)), Err(Refusal::Total));
        assert_eq!(counts.total(), 5);
        counts.release(ip(1));
        assert_eq!(counts.from_address(ip(1)), 1);
        assert_eq!(counts.admit(ip(1)), Ok(()), "a freed place is reusable");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let mut counts = ConnectionCounts::new(10, Some(2));
        let v6 = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(counts.admit(v6("2001:db8:1:2::1")), Ok(()));
        assert_eq!(counts.admit(v6("2001:db8:1:2:ffff::9")), Ok(()));
        assert_eq!(
            counts.admit(v6("2001:db8:1:2::77")),
            Err(Refusal::PerAddress),
            "one /64 is one source"
        );
        assert_eq!(counts.admit(v6("2001:db8:1:3::1")), Ok(()));
        assert_eq!(counts.admit(v6("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(counts.admit(ip(1)), Ok(()));
        assert_eq!(counts.admit(ip(1)), Err(Refusal::PerAddress));
        counts.release(v6("2001:db8:1:2::abcd"));
        assert_eq!(counts.admit(v6("2001:db8:1:2::5")), Ok(()));
    }

    #[test]
    fn without_a_per_address_limit_no_address_is_recorded() {
        let mut counts = ConnectionCounts::new(3, None);
        for _ in 0..3 {
            assert_eq!(counts.admit(ip(1)), Ok(()));
        }
        assert_eq!(counts.admit(ip(2)), Err(Refusal::Total));
        assert_eq!(counts.addresses(), 0);
        counts.release(ip(1));
        assert_eq!(counts.total(), 2);
    }

    #[test]
    fn the_address_map_empties_and_shrinks_after_a_storm() {
        let mut counts = ConnectionCounts::new(100_000, Some(4));
        let addresses: Vec<IpAddr> = (0..10_000u32)
            .map(|n| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
            .collect();
        for &a in &addresses {
            counts.admit(a).expect("under both limits");
        }
        assert_eq!(counts.addresses(), 10_000);
        let peak = counts.address_capacity();
        for &a in &addresses {
            counts.release(a);
        }
        assert_eq!(counts.addresses(), 0, "entries go when their count is 0");
        assert_eq!(counts.total(), 0);
        assert!(
            counts.address_capacity() <= 128,
            "capacity {} of {peak} kept",
            counts.address_capacity()
        );
        // A release of an address never admitted changes nothing.
        counts.admit(ip(1)).expect("room");
        counts.release(ip(9));
        assert_eq!(counts.total(), 1);
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_their_count() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(log.note(t0), Some(1));
        for s in 1..10 {
            assert_eq!(log.note(t0 + Duration::from_secs(s)), None);
        }
        assert_eq!(log.note(t0 + REFUSAL_LOG_INTERVAL), Some(10));
        assert_eq!(log.note(t0 + REFUSAL_LOG_INTERVAL), None);
    }
}
