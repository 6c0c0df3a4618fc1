//! The loss fields of a report block, from running totals (RFC 3550 A.3).

use super::{CUMULATIVE_LOST_MAX, CUMULATIVE_LOST_MIN};

/// Packets expected and received from one source so far; the receiver keeps
/// the totals of its previous report to compute the interval's loss.
///
/// `expected` is extended highest − extended first sequence number + 1;
/// `received` counts every packet, duplicates included, as RFC 3550 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceptionTotals {
    /// Packets the sequence numbers say were sent.
    pub expected: u64,
    /// Packets that arrived.
    pub received: u64,
}

impl ReceptionTotals {
    /// Packets lost since the start, clamped to the signed 24-bit field;
    /// negative when duplicates outnumber losses.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = i128::from(self.expected) - i128::from(self.received);
        // Clamped into i32 range first, so the cast cannot truncate.
        lost.clamp(
            i128::from(CUMULATIVE_LOST_MIN),
            i128::from(CUMULATIVE_LOST_MAX),
        ) as i32
    }

    /// Fraction of the packets expected since `previous` that were lost, in
    /// 1/256; 0 when nothing was expected or duplicates made up for losses.
    ///
    /// Totals that went backwards (a source restart reset them) count as an
    /// empty interval. Losing the whole interval gives 255: the RFC's formula
    /// yields 256, which would wrap to 0 in the 8-bit field.
    pub fn fraction_lost_since(&self, previous: &ReceptionTotals) -> u8 {
        let expected = self.expected.saturating_sub(previous.expected);
        let received = self.received.saturating_sub(previous.received);
        if expected == 0 || received >= expected {
            return 0;
        }
        let lost = u128::from(expected - received);
        // lost ≤ expected, so the quotient is at most 256.
        ((lost << 8) / u128::from(expected)).min(255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(expected: u64, received: u64) -> ReceptionTotals {
        ReceptionTotals { expected, received }
    }

    #[test]
    fn fraction_follows_rfc_3550_a3() {
        let previous = totals(1000, 990);
        assert_eq!(totals(1100, 1090).fraction_lost_since(&previous), 0);
        assert_eq!(totals(1100, 1089).fraction_lost_since(&previous), 2); // 1% → 2.56
        assert_eq!(totals(1100, 1040).fraction_lost_since(&previous), 128); // 50%
        assert_eq!(totals(1004, 991).fraction_lost_since(&previous), 192); // 3 of 4
    }

    #[test]
    fn fraction_edges() {
        let previous = totals(1000, 990);
        // Whole interval lost: 256 clamped, not wrapped to 0.
        assert_eq!(totals(1100, 990).fraction_lost_since(&previous), 255);
        // Nothing expected, duplicates only, or totals reset.
        assert_eq!(totals(1000, 990).fraction_lost_since(&previous), 0);
        assert_eq!(totals(1100, 1120).fraction_lost_since(&previous), 0);
        assert_eq!(totals(10, 5).fraction_lost_since(&previous), 0);
        assert_eq!(totals(10, 5).fraction_lost_since(&totals(0, 0)), 128);
        assert_eq!(totals(u64::MAX, 0).fraction_lost_since(&totals(0, 0)), 255);
    }

    #[test]
    fn cumulative_lost_is_signed_and_clamped() {
        assert_eq!(totals(100, 97).cumulative_lost(), 3);
        assert_eq!(totals(100, 103).cumulative_lost(), -3);
        assert_eq!(totals(0, 0).cumulative_lost(), 0);
        assert_eq!(totals(u64::MAX, 0).cumulative_lost(), CUMULATIVE_LOST_MAX);
        assert_eq!(totals(0, u64::MAX).cumulative_lost(), CUMULATIVE_LOST_MIN);
        assert_eq!(totals(0x80_0000, 0).cumulative_lost(), 0x7f_ffff);
    }
}
