//! Serial-number arithmetic for RTP sequence numbers (16 bits) and
//! timestamps (32 bits), which wrap around (RFC 3550 §5.1, A.1).
//!
//! "Newer" means "less than half the number space ahead", the RFC 1982 rule.

/// Whether sequence number `a` comes after `b`, allowing for wrap-around.
pub fn seq_newer(a: u16, b: u16) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000
}

/// Signed distance from sequence number `b` to `a` (positive when `a` is newer).
pub fn seq_diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// Whether timestamp `a` comes after `b`, allowing for wrap-around.
pub fn timestamp_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Signed distance from timestamp `b` to `a` (positive when `a` is newer).
pub fn timestamp_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// Turns 16-bit sequence numbers into 64-bit ones that keep growing across wraps.
///
/// The first packet is placed in cycle 1 (extended value `65536 + seq`), so
/// a packet reordered from before it still gets a smaller, distinct value.
/// A jump of 32768 or more is taken as going forward or backward, whichever
/// is shorter (RFC 3550 A.1 resynchronises on large jumps; callers that care
/// can watch [`SequenceExtender::highest`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceExtender {
    highest: Option<u64>,
}

impl SequenceExtender {
    /// A fresh extender that has seen no packet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`; moves the highest seen value forward when it is newer.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let Some(highest) = self.highest else {
            let first = 0x1_0000 + u64::from(seq);
            self.highest = Some(first);
            return first;
        };
        let delta = i64::from(seq_diff(seq, highest as u16));
        let extended = (highest as i64 + delta).max(0) as u64;
        if extended > highest {
            self.highest = Some(extended);
        }
        extended
    }

    /// The highest extended sequence number seen so far.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sequence_and_timestamp_wrap() {
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
        assert!(seq_newer(100, 99) && !seq_newer(99, 99));
        assert_eq!(seq_diff(2, 65534), 4);
        assert!(timestamp_newer(80, u32::MAX - 79));
        assert_eq!(timestamp_diff(u32::MAX - 79, 80), -160);

        let mut ext = SequenceExtender::new();
        assert_eq!(ext.extend(65534), 0x1_fffe);
        assert_eq!(ext.extend(65535), 0x1_ffff);
        assert_eq!(ext.extend(0), 0x2_0000);
        assert_eq!(ext.extend(65533), 0x1_fffd); // late, from before the wrap
        assert_eq!(ext.extend(1), 0x2_0001);
        assert_eq!(ext.highest(), Some(0x2_0001));
        let mut early = SequenceExtender::new();
        early.extend(1);
        assert_eq!(early.extend(65535), 0xffff); // reordered from before the first
    }

    proptest! {
        #[test]
        fn extended_sequence_follows_forward_steps(start in any::<u16>(), steps in proptest::collection::vec(1u16..3000, 1..100)) {
            let mut ext = SequenceExtender::new();
            let mut expected = ext.extend(start);
            let mut seq = start;
            for step in steps {
                seq = seq.wrapping_add(step);
                expected += u64::from(step);
                prop_assert_eq!(ext.extend(seq), expected);
            }
        }
    }
}
