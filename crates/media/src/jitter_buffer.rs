//! A fixed-depth jitter buffer that puts RTP packets back in sequence order.
//!
//! Sans-IO and clockless: the caller [`push`](JitterBuffer::push)es packets as
//! they arrive and [`pop`](JitterBuffer::pop)s one on every playout tick (every
//! 20 ms for 20 ms packets). Playout starts once `depth` packets are held, so
//! the buffer adds `depth` packet times of delay and absorbs reordering and
//! jitter up to that. Slots are allocated once, at construction; the items
//! (`T`) are whatever the caller stores per packet, e.g. a pooled buffer.
//!
//! What it counts ([`JitterStats`]):
//! - **lost**: sequence numbers whose turn came with no packet in the buffer;
//! - **late**: packets that arrived after their turn had passed;
//! - **duplicates**: packets whose sequence number is already held;
//! - **overflow**: packets dropped because a newer one needed the slot
//!   (the sender ran more than the buffer's capacity ahead of playout);
//! - **resets**: jumps of more than [`MAX_JUMP`] sequence numbers, taken as a
//!   new stream (RFC 3550 A.1 allows this for a restarted sender); packets
//!   held at that moment are discarded uncounted.
//!
//! After an underrun (nothing buffered at a tick) playout waits for `depth`
//! packets again, without counting the silence as loss.

use crate::sequence::SequenceExtender;

/// A jump in sequence number beyond this restarts the buffer.
pub const MAX_JUMP: u64 = 3000;

/// Counters kept by a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets accepted into the buffer.
    pub received: u64,
    /// Sequence numbers skipped at playout because their packet never came.
    pub lost: u64,
    /// Packets that arrived after their playout turn.
    pub late: u64,
    /// Packets already held.
    pub duplicates: u64,
    /// Packets dropped to make room for newer ones.
    pub overflow: u64,
    /// Times the buffer restarted on a sequence jump.
    pub resets: u64,
}

/// What [`JitterBuffer::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Stored,
    /// Its turn had passed; dropped.
    Late,
    /// Already held; dropped.
    Duplicate,
    /// A large sequence jump restarted the buffer; stored as the new start.
    Reset,
}

/// What one playout tick yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<T> {
    /// Still filling to the target depth (at start or after an underrun).
    Buffering,
    /// The packet due now, with its extended sequence number.
    Packet {
        /// Extended sequence number.
        seq: u64,
        /// The stored item.
        item: T,
    },
    /// The packet due now never arrived (conceal it).
    Lost {
        /// Extended sequence number of the missing packet.
        seq: u64,
    },
}

/// Reorders packets by extended sequence number with a fixed playout depth.
#[derive(Debug, Clone)]
pub struct JitterBuffer<T> {
    depth: usize,
    slots: Vec<Option<(u64, T)>>,
    extender: SequenceExtender,
    /// Next extended sequence number to play out.
    next: Option<u64>,
    held: usize,
    playing: bool,
    /// Whether any turn has been played out since the last reset.
    started: bool,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    /// A buffer that starts playout with `depth` packets held and holds up to
    /// `2 × depth` (at least 1 and 2).
    pub fn new(depth: usize) -> Self {
        let depth = depth.max(1);
        Self {
            depth,
            slots: std::iter::repeat_with(|| None).take(2 * depth).collect(),
            extender: SequenceExtender::new(),
            next: None,
            held: 0,
            playing: false,
            started: false,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Packets held now.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    fn slot(&mut self, seq: u64) -> &mut Option<(u64, T)> {
        let index = (seq % self.capacity()) as usize;
        &mut self.slots[index]
    }

    /// Stores a packet with RTP sequence number `seq`.
    pub fn push(&mut self, seq: u16, item: T) -> PushOutcome {
        let ext = self.extender.extend(seq);
        match self.next {
            None => self.next = Some(ext),
            Some(next) if ext.abs_diff(next) > MAX_JUMP => {
                self.clear();
                self.stats.resets += 1;
                self.extender = SequenceExtender::new();
                let ext = self.extender.extend(seq);
                self.next = Some(ext);
                self.store(ext, item);
                return PushOutcome::Reset;
            }
            Some(next) if ext < next => {
                // Before the first playout an earlier packet moves the start
                // back (within the capacity); after it, its turn has passed.
                if self.started || next - ext >= self.capacity() {
                    self.stats.late += 1;
                    return PushOutcome::Late;
                }
                self.move_start_back(ext);
            }
            Some(next) if ext >= next + self.capacity() => {
                // Make room: the turns before `ext − capacity + 1` are skipped;
                // held packets among them overflow, missing ones are lost.
                let new_next = ext + 1 - self.capacity();
                for s in next..new_next {
                    let slot = self.slot(s);
                    if matches!(slot, Some((held, _)) if *held == s) {
                        *slot = None;
                        self.held -= 1;
                        self.stats.overflow += 1;
                    } else {
                        self.stats.lost += 1;
                    }
                }
                self.next = Some(new_next);
            }
            Some(_) => {}
        }
        if matches!(self.slot(ext), Some((held, _)) if *held == ext) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        self.store(ext, item);
        PushOutcome::Stored
    }

    /// Moves the start back to `ext` before playout begins, dropping held
    /// packets that no longer fit after it.
    fn move_start_back(&mut self, ext: u64) {
        let end = ext + self.capacity();
        for slot in &mut self.slots {
            if matches!(slot, Some((held, _)) if *held >= end) {
                *slot = None;
                self.held -= 1;
                self.stats.overflow += 1;
            }
        }
        self.next = Some(ext);
    }

    fn store(&mut self, ext: u64, item: T) {
        let slot = self.slot(ext);
        let replaced = slot.replace((ext, item)).is_some();
        if replaced {
            // A stale item from a passed turn (already counted as lost).
            self.held -= 1;
        }
        self.held += 1;
        self.stats.received += 1;
    }

    /// Drops everything held (e.g. on a codec change); keeps the counters.
    pub fn clear(&mut self) {
        for slot in &mut self.slots {
            *slot = None;
        }
        self.held = 0;
        self.playing = false;
        self.started = false;
        self.next = None;
    }

    /// The playout tick: the next packet in order, a loss, or still buffering.
    pub fn pop(&mut self) -> Playout<T> {
        if !self.playing {
            if self.held < self.depth {
                return Playout::Buffering;
            }
            self.playing = true;
        }
        let Some(next) = self.next else {
            return Playout::Buffering;
        };
        if self.held == 0 {
            self.playing = false;
            return Playout::Buffering;
        }
        self.next = Some(next + 1);
        self.started = true;
        let slot = self.slot(next);
        match slot.take() {
            Some((seq, item)) if seq == next => {
                self.held -= 1;
                Playout::Packet { seq, item }
            }
            other => {
                *self.slot(next) = other;
                self.stats.lost += 1;
                Playout::Lost { seq: next }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(jb: &mut JitterBuffer<u16>, ticks: usize) -> Vec<Option<u16>> {
        let mut out = Vec::new();
        for _ in 0..ticks {
            match jb.pop() {
                Playout::Packet { item, .. } => out.push(Some(item)),
                Playout::Lost { .. } => out.push(None),
                Playout::Buffering => {}
            }
        }
        out
    }

    #[test]
    fn waits_for_depth_then_plays_in_order() {
        let mut jb = JitterBuffer::new(3);
        jb.push(10, 10);
        jb.push(12, 12);
        assert_eq!(jb.pop(), Playout::Buffering);
        jb.push(11, 11);
        assert_eq!(
            jb.pop(),
            Playout::Packet {
                seq: 0x1_000a,
                item: 10
            }
        );
        jb.push(13, 13);
        assert_eq!(drain(&mut jb, 5), vec![Some(11), Some(12), Some(13)]);
        assert_eq!(
            jb.pop(),
            Playout::Buffering,
            "underrun waits for depth again"
        );
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn reorders_across_the_wrap_and_counts_loss() {
        let mut jb = JitterBuffer::new(4);
        for seq in [65533u16, 65535, 65534, 1, 2] {
            assert_eq!(jb.push(seq, seq), PushOutcome::Stored);
        }
        // 0 never arrives.
        assert_eq!(
            drain(&mut jb, 5),
            vec![Some(65533), Some(65534), Some(65535), None, Some(1)]
        );
        assert_eq!(jb.stats().lost, 1);
        assert_eq!(jb.push(0, 0), PushOutcome::Late);
        assert_eq!(jb.stats().late, 1);
        assert_eq!(drain(&mut jb, 2), vec![Some(2)]);
    }

    #[test]
    fn duplicates_and_late_packets() {
        let mut jb = JitterBuffer::new(2);
        jb.push(1, 1);
        assert_eq!(jb.push(1, 1), PushOutcome::Duplicate);
        jb.push(2, 2);
        assert_eq!(drain(&mut jb, 1), vec![Some(1)]);
        assert_eq!(jb.push(1, 1), PushOutcome::Late);
        let s = jb.stats();
        assert_eq!((s.received, s.duplicates, s.late), (2, 1, 1));
    }

    #[test]
    fn an_earlier_packet_before_playout_moves_the_start_back() {
        let mut jb = JitterBuffer::new(3);
        jb.push(5, 5);
        jb.push(4, 4);
        jb.push(6, 6);
        assert_eq!(drain(&mut jb, 3), vec![Some(4), Some(5), Some(6)]);
    }

    #[test]
    fn overflow_drops_the_oldest() {
        let mut jb = JitterBuffer::new(2); // holds 4
        for seq in 0..6u16 {
            jb.push(seq, seq);
        }
        assert_eq!(jb.stats().overflow, 2);
        assert_eq!(jb.len(), 4);
        assert_eq!(drain(&mut jb, 1), vec![Some(2)]);
        // A packet far ahead skips turns: held ones overflow, missing ones are lost.
        jb.push(10, 10);
        assert_eq!((jb.stats().overflow, jb.stats().lost), (5, 1)); // 3, 4, 5 held; 6 missing
        assert_eq!(drain(&mut jb, 5), vec![None, None, None, Some(10)]);
        assert_eq!(jb.stats().lost, 4);
    }

    #[test]
    fn large_jump_resets() {
        let mut jb = JitterBuffer::new(1);
        jb.push(100, 100);
        assert_eq!(drain(&mut jb, 1), vec![Some(100)]);
        assert_eq!(jb.push(40_000, 1), PushOutcome::Reset);
        assert_eq!(drain(&mut jb, 1), vec![Some(1)]);
        assert_eq!(jb.stats().resets, 1);
        assert_eq!(jb.stats().lost, 0);
    }

    proptest! {
        #[test]
        fn every_stored_packet_is_played_dropped_or_held(
            start in any::<u16>(),
            ops in proptest::collection::vec((0i32..40, any::<bool>()), 0..300),
            depth in 1usize..8,
        ) {
            let mut jb = JitterBuffer::new(depth);
            let mut played = 0u64;
            let mut seq = start;
            let mut last_played = None;
            for (jump, tick) in ops {
                seq = seq.wrapping_add((jump - 8) as u16);
                jb.push(seq, seq);
                if tick {
                    if let Playout::Packet { seq, .. } = jb.pop() {
                        played += 1;
                        prop_assert!(last_played.is_none_or(|l| seq > l));
                        last_played = Some(seq);
                    }
                }
            }
            let s = jb.stats();
            prop_assert!(jb.len() <= 2 * depth);
            prop_assert_eq!(s.received, played + s.overflow + jb.len() as u64 + dropped_on_reset(&s));
        }
    }

    /// Held packets discarded by resets are not tracked separately; the
    /// property test avoids them by staying within `MAX_JUMP`.
    fn dropped_on_reset(stats: &JitterStats) -> u64 {
        assert_eq!(stats.resets, 0);
        0
    }
}
