//! Receive statistics of one RTP source (RFC 3550 A.1, A.3, A.8): packets
//! received, the extended sequence range they span, and interarrival
//! jitter, as a receiver report needs them.
//!
//! The caller owns the clock: it passes each packet's arrival in timestamp
//! units of the stream's clock ([`arrival_units`]), so the statistics are
//! deterministic and tested without sockets. Jitter is kept as J × 16, the
//! integer form of A.8, so that no floating point is on the per-packet path.
//!
//! ```
//! use media::reception::SourceReception;
//!
//! let mut source = SourceReception::default();
//! // Packets 10, 11 and 13 (12 is lost), each 160 samples apart and arriving
//! // exactly on time: no jitter.
//! for (seq, at) in [(10u16, 0u32), (11, 160), (13, 480)] {
//!     source.record(seq, 1_000 + at, at);
//! }
//! assert_eq!((source.packets(), source.expected(), source.lost()), (3, 4, 1));
//! assert_eq!(source.jitter(), 0);
//! ```

use std::time::Duration;

use crate::rtcp::ReceptionTotals;
use crate::sequence::SequenceExtender;

/// What a receiver knows of one SSRC's stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceReception {
    extender: SequenceExtender,
    base: u64,
    packets: u64,
    last_transit: Option<u32>,
    jitter16: u32,
}

impl SourceReception {
    /// Counts one packet: its sequence number, RTP timestamp, and arrival
    /// in the same clock's units ([`arrival_units`]).
    pub fn record(&mut self, seq: u16, timestamp: u32, arrival: u32) {
        let first = self.packets == 0;
        let extended = self.extender.extend(seq);
        if first || extended < self.base {
            self.base = extended;
        }
        self.packets += 1;

        // A.8: the transit time's absolute value is meaningless (the clocks
        // differ); only its change from packet to packet is jitter.
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit.wrapping_sub(last) as i32).unsigned_abs();
            // J += (|D| - J) / 16, with jitter16 = J × 16.
            let j = i64::from(self.jitter16);
            let next = j + i64::from(d) - ((j + 8) >> 4);
            self.jitter16 = next.clamp(0, i64::from(u32::MAX)) as u32;
        }
        self.last_transit = Some(transit);
    }

    /// Packets received, duplicates included (as RFC 3550 counts them).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Lowest extended sequence number received.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Highest extended sequence number received (0 before any packet).
    pub fn highest(&self) -> u64 {
        self.extender.highest().unwrap_or(0)
    }

    /// Packets expected: highest − lowest extended sequence number + 1 (A.3).
    pub fn expected(&self) -> u64 {
        expected_packets(self.base, self.highest(), self.packets)
    }

    /// Cumulative packets lost: expected − received, never below 0.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.packets)
    }

    /// Packets expected and received, as a receiver report's loss fields
    /// are computed from them.
    pub fn totals(&self) -> ReceptionTotals {
        ReceptionTotals {
            expected: self.expected(),
            received: self.packets,
        }
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter16 >> 4
    }

    /// Interarrival jitter × 16, the integer state of A.8.
    pub fn jitter16(&self) -> u32 {
        self.jitter16
    }
}

/// Packets expected from a source that sent `received` packets spanning
/// the extended sequence numbers `base..=highest` (A.3), for whoever keeps
/// those three numbers elsewhere (a receive path that publishes them and
/// leaves the arithmetic to the reader).
pub fn expected_packets(base: u64, highest: u64, received: u64) -> u64 {
    if received == 0 {
        return 0;
    }
    highest.saturating_sub(base) + 1
}

/// `elapsed` (since any fixed epoch) in units of a `clock_rate` Hz clock,
/// wrapping as RTP timestamps do.
pub fn arrival_units(elapsed: Duration, clock_rate: u32) -> u32 {
    (elapsed.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_duplicates_and_reordering_follow_rfc_3550() {
        let mut s = SourceReception::default();
        assert_eq!((s.packets(), s.expected(), s.lost()), (0, 0, 0));
        for seq in [100u16, 101, 103, 102, 103, 106] {
            s.record(seq, u32::from(seq) * 160, u32::from(seq) * 160);
        }
        // 100..=106 expected (7), 6 received (103 twice), so 1 lost.
        assert_eq!((s.packets(), s.expected(), s.lost()), (6, 7, 1));
        assert_eq!(
            s.totals(),
            ReceptionTotals {
                expected: 7,
                received: 6
            }
        );
        // A packet from before the first moves the base back.
        s.record(99, 99 * 160, 99 * 160);
        assert_eq!((s.expected(), s.highest() - s.base()), (8, 7));
    }

    #[test]
    fn the_sequence_range_extends_across_a_wrap() {
        let mut s = SourceReception::default();
        for (i, seq) in (65530u16..=65535).chain(0..5).enumerate() {
            let t = i as u32 * 160;
            s.record(seq, t, t);
        }
        assert_eq!((s.packets(), s.expected(), s.lost()), (11, 11, 0));
        assert_eq!(s.highest(), 0x2_0004);
    }

    #[test]
    fn jitter_follows_the_a8_estimator() {
        let mut s = SourceReception::default();
        // Constant transit: no jitter however large the offset.
        for i in 0..50u32 {
            s.record(i as u16, i * 160, 7_777 + i * 160);
        }
        assert_eq!(s.jitter(), 0);
        // Alternating 0 / 40 units late: |D| = 40 every packet, so J
        // converges on 40 from below.
        for i in 50..2_000u32 {
            let late = if i % 2 == 0 { 40 } else { 0 };
            s.record(i as u16, i * 160, 7_777 + i * 160 + late);
        }
        assert!((38..=40).contains(&s.jitter()), "{}", s.jitter());
    }

    #[test]
    fn arrival_is_counted_in_clock_units_and_wraps() {
        assert_eq!(arrival_units(Duration::from_millis(20), 8000), 160);
        assert_eq!(arrival_units(Duration::from_secs(1), 48_000), 48_000);
        // 2^32 units of 8 kHz (536,870.912 s) later the count has wrapped
        // to where it began; half a millisecond more is 4 units.
        let wrap = Duration::from_nanos(536_870_912_000_000 + 500_000);
        assert_eq!(arrival_units(wrap, 8000), 4);
    }
}
