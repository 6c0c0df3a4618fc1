//! The sans-IO heart of the recorder: places each leg's decoded frames on a
//! shared 8 kHz timeline by arrival time and hands out finished stretches of
//! interleaved stereo as WAV bytes. No clock, no file: the writer thread passes
//! `now`, and tests drive it with made-up instants.
//!
//! A frame that arrives at `t` carries the audio of the 20 ms (or whatever its
//! length is) *before* `t`, so it is placed to end at `t − started`. Each
//! channel keeps a write cursor so that ordinary jitter does not cut the
//! audio: the next frame goes right after the previous one as long as that
//! stays within [`RESYNC_SAMPLES`] of where its arrival says it belongs. Past
//! that, a frame that is too late is discarded (a burst after a stall, or a
//! sender whose clock runs fast), and one that is too early moves the cursor
//! forward, leaving silence (a gap, hold, or a stream that starts late).
//!
//! Frames are taken in arrival order: packets reordered by the network are
//! written in the order they came (no RTP sequence numbers reach the tap).

use std::time::Instant;

use crate::media::pacer::G711;

use media::g711;

/// Samples per second, per channel.
pub(super) const SAMPLE_RATE: u64 = 8000;
/// How far (60 ms) a channel's cursor may drift from its arrival times
/// before it is resynchronised.
pub(super) const RESYNC_SAMPLES: u64 = 480;
/// How much (10 s) may wait in memory ahead of the written part of the file;
/// a frame placed further ahead (an arrival time in the future) is refused,
/// which bounds the memory a recording holds.
pub(super) const MAX_BUFFERED: u64 = 10 * SAMPLE_RATE;

/// The two legs of a call, one per WAV channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The caller (A leg).
    Left,
    /// The callee (B leg).
    Right,
}

impl Channel {
    fn index(self) -> usize {
        match self {
            Channel::Left => 0,
            Channel::Right => 1,
        }
    }
}

/// What became of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placed {
    /// On the timeline (perhaps cut where it overlapped the written part).
    Written,
    /// Discarded: too far behind its channel's cursor, entirely in the part
    /// already written, or too far ahead.
    Late,
}

/// Two channels of decoded audio between the written part of the file and
/// the newest frame.
#[derive(Debug)]
pub(super) struct Timeline {
    started: Instant,
    /// Stereo sample frames already handed out (the file's data length / 4).
    flushed: u64,
    /// Interleaved L/R samples from `flushed` on; unwritten samples are 0.
    pending: Vec<i16>,
    /// Where each channel's next frame goes, once it has had one.
    cursor: [Option<u64>; 2],
}

impl Timeline {
    /// An empty timeline whose sample 0 is at `started`.
    pub(super) fn new(started: Instant) -> Timeline {
        Timeline {
            started,
            flushed: 0,
            pending: Vec::new(),
            cursor: [None, None],
        }
    }

    /// The sample offset of instant `t` (0 before the start).
    pub(super) fn offset(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.started);
        let samples = since.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000;
        u64::try_from(samples).unwrap_or(u64::MAX)
    }

    /// Stereo sample frames handed out so far.
    pub(super) fn flushed(&self) -> u64 {
        self.flushed
    }

    /// Decodes `payload` into `channel` where its arrival puts it.
    pub(super) fn place(
        &mut self,
        channel: Channel,
        arrival: Instant,
        codec: G711,
        payload: &[u8],
    ) -> Placed {
        let len = payload.len() as u64;
        if len == 0 {
            return Placed::Late;
        }
        let target = self.offset(arrival).saturating_sub(len);
        let slot = &mut self.cursor[channel.index()];
        let start = match *slot {
            Some(cursor) if cursor.abs_diff(target) <= RESYNC_SAMPLES => cursor,
            Some(cursor) if target < cursor => return Placed::Late,
            _ => target,
        };
        let end = start.saturating_add(len);
        if end <= self.flushed || end - self.flushed > MAX_BUFFERED {
            return Placed::Late;
        }
        *slot = Some(end);
        // Cut what overlaps the part already written.
        let skip = self.flushed.saturating_sub(start);
        let first = start.max(self.flushed) - self.flushed;
        let payload = &payload[usize::try_from(skip).unwrap_or(payload.len())..];
        let needed = usize::try_from((end - self.flushed) * 2).unwrap_or(usize::MAX);
        if self.pending.len() < needed {
            self.pending.resize(needed, 0);
        }
        let decode = match codec {
            G711::Pcmu => g711::ulaw_decode,
            G711::Pcma => g711::alaw_decode,
        };
        let base = usize::try_from(first).unwrap_or(usize::MAX) * 2 + channel.index();
        let slots = self.pending[base..].iter_mut().step_by(2);
        for (out, &code) in slots.zip(payload) {
            *out = decode(code);
        }
        Placed::Written
    }

    /// Hands out, as little-endian WAV bytes appended to `out`, the samples up
    /// to offset `upto` (silence where neither channel had audio), and drops
    /// whatever lies beyond `upto` if `truncate`. Returns the frames added.
    /// Allocates `4 × (upto − flushed)` bytes: callers bound the step.
    pub(super) fn take(&mut self, upto: u64, truncate: bool, out: &mut Vec<u8>) -> u64 {
        let count = upto.saturating_sub(self.flushed);
        let bytes = usize::try_from(count.saturating_mul(4)).unwrap_or(usize::MAX);
        let from_pending = (bytes / 2).min(self.pending.len());
        out.reserve(bytes);
        for sample in &self.pending[..from_pending] {
            out.extend_from_slice(&sample.to_le_bytes());
        }
        out.resize(out.len() + (bytes - from_pending * 2), 0);
        if truncate {
            self.pending.clear();
        } else {
            self.pending.drain(..from_pending);
        }
        self.flushed += count;
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn samples(bytes: &[u8]) -> Vec<(i16, i16)> {
        bytes
            .chunks_exact(4)
            .map(|c| {
                (
                    i16::from_le_bytes([c[0], c[1]]),
                    i16::from_le_bytes([c[2], c[3]]),
                )
            })
            .collect()
    }

    /// A µ-law code that decodes to a distinct non-zero value.
    const LOUD: u8 = 0x10;

    #[test]
    fn a_frame_ends_at_its_arrival_on_its_own_channel() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        let frame = [LOUD; 160];
        assert_eq!(
            tl.place(Channel::Right, at(t0, 40), G711::Pcmu, &frame),
            Placed::Written
        );
        let mut out = Vec::new();
        assert_eq!(tl.take(480, true, &mut out), 480);
        let s = samples(&out);
        let loud = g711::ulaw_decode(LOUD);
        assert!(s[..160].iter().all(|&p| p == (0, 0)));
        assert!(s[160..320].iter().all(|&p| p == (0, loud)));
        assert!(s[320..].iter().all(|&p| p == (0, 0)));
    }

    #[test]
    fn jitter_within_the_window_keeps_frames_back_to_back() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        let frame = [LOUD; 160];
        // Arrivals at 20, 55, 60, 80 ms: the 35 ms late one does not open a gap.
        for ms in [20, 55, 60, 80] {
            tl.place(Channel::Left, at(t0, ms), G711::Pcmu, &frame);
        }
        let mut out = Vec::new();
        tl.take(640, true, &mut out);
        let loud = g711::ulaw_decode(LOUD);
        assert!(samples(&out).iter().all(|&(l, _)| l == loud));
    }

    #[test]
    fn a_gap_leaves_silence_and_a_burst_is_cut() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        let frame = [LOUD; 160];
        tl.place(Channel::Left, at(t0, 20), G711::Pcmu, &frame);
        // 200 ms later: resync, silence between.
        tl.place(Channel::Left, at(t0, 240), G711::Pcmu, &frame);
        // A burst of five at the same instant: 3 fit within 60 ms, 2 are late.
        let placed: Vec<Placed> = (0..5)
            .map(|_| tl.place(Channel::Left, at(t0, 240), G711::Pcmu, &frame))
            .collect();
        assert_eq!(placed.iter().filter(|&&p| p == Placed::Late).count(), 2);
        let mut out = Vec::new();
        tl.take(8 * 400, true, &mut out);
        let s = samples(&out);
        let loud = g711::ulaw_decode(LOUD);
        assert!(s[..160].iter().all(|&(l, _)| l == loud));
        assert!(s[160..1760].iter().all(|&(l, _)| l == 0));
        assert!(s[1760..1760 + 4 * 160].iter().all(|&(l, _)| l == loud));
        assert!(s[1760 + 4 * 160..].iter().all(|&(l, _)| l == 0));
    }

    #[test]
    fn take_pads_truncates_and_cuts_overlap() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        let frame = [LOUD; 160];
        tl.place(Channel::Left, at(t0, 20), G711::Pcma, &frame);
        let mut out = Vec::new();
        assert_eq!(tl.take(100, false, &mut out), 100);
        assert_eq!(out.len(), 400);
        // The rest of the left frame is still pending; a right frame that
        // overlaps the written part is cut to what lies after it.
        assert_eq!(
            tl.place(Channel::Right, at(t0, 15), G711::Pcma, &frame),
            Placed::Written
        );
        out.clear();
        assert_eq!(tl.take(130, false, &mut out), 30);
        let loud = g711::alaw_decode(LOUD);
        let s = samples(&out);
        assert!(s.iter().all(|&p| p == (loud, loud)), "{s:?}");
        // The rest of both frames, then silence; nothing stays pending.
        out.clear();
        assert_eq!(tl.take(200, true, &mut out), 70);
        let s = samples(&out);
        assert!(s[..30].iter().all(|&p| p == (loud, loud)), "{s:?}");
        assert!(s[30..].iter().all(|&p| p == (0, 0)), "{s:?}");
        assert!(tl.pending.is_empty());
        assert_eq!(tl.flushed(), 200);
        // A fresh channel whose first frame lies wholly in the written part.
        let mut tl = Timeline::new(t0);
        tl.take(400, false, &mut out);
        assert_eq!(
            tl.place(Channel::Left, at(t0, 20), G711::Pcmu, &frame),
            Placed::Late
        );
    }

    #[test]
    fn frames_far_in_the_future_are_refused() {
        let t0 = Instant::now();
        let mut tl = Timeline::new(t0);
        assert_eq!(
            tl.place(Channel::Left, at(t0, 60_000), G711::Pcmu, &[LOUD; 160]),
            Placed::Late
        );
        assert_eq!(tl.place(Channel::Left, t0, G711::Pcmu, &[]), Placed::Late);
        assert!(tl.pending.is_empty());
    }
}
