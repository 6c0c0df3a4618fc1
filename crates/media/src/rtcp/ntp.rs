//! NTP wallclock time in reports, and the LSR/DLSR round-trip arithmetic
//! (RFC 3550 §6.4.1).
//!
//! The caller passes the time in, so the crate stays clockless and tests can
//! use any instant.

use std::time::{Duration, SystemTime};

use super::ReportBlock;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const UNIX_EPOCH_IN_NTP: u64 = 2_208_988_800;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `time` as a 64-bit NTP timestamp: seconds since 1900 in the upper 32 bits,
/// the fraction of a second in the lower 32.
///
/// Seconds wrap in 2036 (NTP era 1), as on the wire; times before 1900 give 0.
pub fn ntp_timestamp(time: SystemTime) -> u64 {
    let since_1900 = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => Duration::from_secs(UNIX_EPOCH_IN_NTP).saturating_add(after),
        Err(before) => Duration::from_secs(UNIX_EPOCH_IN_NTP).saturating_sub(before.duration()),
    };
    let seconds = since_1900.as_secs() & 0xffff_ffff;
    // nanos < 10^9, so the fraction is below 2^32.
    let fraction = (u64::from(since_1900.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// The middle 32 bits of an NTP timestamp (16.16 seconds), the form LSR uses.
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A delay in the DLSR unit of 1/65536 s, saturating at `u32::MAX` (~18 hours).
pub fn dlsr(delay: Duration) -> u32 {
    let units = delay.as_nanos().saturating_mul(65_536) / NANOS_PER_SEC;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// A DLSR (or any 16.16 seconds value) as a duration.
pub fn dlsr_duration(units: u32) -> Duration {
    // units < 2^32, so units × 10^9 < 2^62.
    Duration::from_nanos((u64::from(units) * 1_000_000_000) >> 16)
}

/// The round trip to the peer that sent `block` about our stream, given the
/// NTP time it arrived: arrival − LSR − DLSR.
///
/// `None` when the block echoes no SR (LSR 0). A result just below zero,
/// from rounding on a short path or a peer's coarse DLSR, counts as zero.
pub fn round_trip_time(arrival_ntp: u64, block: &ReportBlock) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let units = ntp_middle(arrival_ntp)
        .wrapping_sub(block.lsr)
        .wrapping_sub(block.dlsr);
    // Serial arithmetic: the upper half of the range is a negative round trip.
    if units >= 0x8000_0000 {
        return Some(Duration::ZERO);
    }
    Some(dlsr_duration(units))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamp_of_known_instants() {
        assert_eq!(
            ntp_timestamp(SystemTime::UNIX_EPOCH),
            UNIX_EPOCH_IN_NTP << 32
        );
        // 2026-01-01T00:00:00.5Z = Unix 1767225600.5 → NTP 3976214400.5.
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_500);
        assert_eq!(ntp_timestamp(t), (3_976_214_400 << 32) | 0x8000_0000);
        // One second before the Unix epoch.
        let t = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(ntp_timestamp(t), (UNIX_EPOCH_IN_NTP - 1) << 32);
        // Era 1: 2036-02-07T06:28:16Z is NTP second 2^32, which wraps to 0.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs((1 << 32) - UNIX_EPOCH_IN_NTP);
        assert_eq!(ntp_timestamp(t), 0);
    }

    #[test]
    fn middle_bits_and_dlsr_units() {
        assert_eq!(ntp_middle(0x1122_3344_5566_7788), 0x3344_5566);
        assert_eq!(dlsr(Duration::from_secs(1)), 65_536);
        assert_eq!(dlsr(Duration::from_millis(500)), 32_768);
        assert_eq!(dlsr(Duration::from_micros(15)), 0); // below one unit
        assert_eq!(dlsr(Duration::from_secs(70_000)), u32::MAX);
        assert_eq!(dlsr_duration(98_304), Duration::from_millis(1500));
    }

    #[test]
    fn round_trip_from_lsr_and_dlsr() {
        // RFC 3550 §6.4.1's example: A = 0xb710:8000, LSR = 0xb705:2000,
        // DLSR = 0x0005:4000 (5.25 s) → 0x0006:2000 = 6.125 s.
        let block = ReportBlock {
            lsr: 0xb705_2000,
            dlsr: 0x0005_4000,
            ..ReportBlock::default()
        };
        let arrival = 0xb710_8000u64 << 16;
        assert_eq!(
            round_trip_time(arrival, &block),
            Some(Duration::from_millis(6125))
        );
        // A reply that seems to arrive before it was sent rounds to zero.
        let early = 0xb70a_5000u64 << 16;
        assert_eq!(round_trip_time(early, &block), Some(Duration::ZERO));
        let no_sr = ReportBlock::default();
        assert_eq!(round_trip_time(arrival, &no_sr), None);
    }
}
