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
//!
//! Pause and resume: the timeline keeps the stretches of time it records;
//! a frame that arrived outside them is discarded, and a stretch begun by
//! a resume continues at the offset where the previous one ended, so the
//! file goes on where it stopped and the paused time is not in it. Pauses
//! are placed by their instants, not by when the writer hears of them, so
//! a writer that lags behind still cuts at the right sample. The channels are always
//! kept as two; [`Layout`] says how they become the file's samples.

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

/// How the two channels become the file's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A stereo file: left, then right.
    Stereo,
    /// A mono file of one channel (the other is ignored).
    Mono(Channel),
    /// A mono file of both channels added (saturating).
    Mix,
}

impl Layout {
    /// Channels in the file.
    pub fn channels(self) -> u16 {
        match self {
            Layout::Stereo => 2,
            Layout::Mono(_) | Layout::Mix => 1,
        }
    }

    /// Bytes of one sample frame (all channels) in the file.
    pub fn frame_bytes(self) -> u64 {
        2 * u64::from(self.channels())
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
    /// Discarded: the recording is paused.
    Paused,
}

/// Two channels of decoded audio between the written part of the file and
/// the newest frame.
#[derive(Debug)]
pub(super) struct Timeline {
    /// The stretches of time being recorded, oldest first; none while a
    /// timeline that started paused waits for its first resume.
    segments: Vec<Segment>,
    layout: Layout,
    /// Sample frames already handed out (the file's data length / frame bytes).
    flushed: u64,
    /// Interleaved L/R samples from `flushed` on; unwritten samples are 0.
    pending: Vec<i16>,
    /// Where each channel's next frame goes, once it has had one.
    cursor: [Option<u64>; 2],
}

/// One stretch of recorded time: from `origin` (offset `base`) to `until`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    origin: Instant,
    base: u64,
    /// Frames that arrived before `origin` belong to it too (the first
    /// stretch of a timeline that did not start paused).
    open_below: bool,
    /// Where a pause ended it.
    until: Option<Instant>,
}

/// Segments kept; older ones (their frames are long written) are dropped.
const MAX_SEGMENTS: usize = 16;

/// Samples in `d` (rounded down).
fn samples_in(d: std::time::Duration) -> u64 {
    let samples = d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000;
    u64::try_from(samples).unwrap_or(u64::MAX)
}

impl Timeline {
    /// An empty stereo timeline whose sample 0 is at `started`.
    #[cfg(test)]
    pub(super) fn new(started: Instant) -> Timeline {
        Timeline::with_layout(started, Layout::Stereo, false)
    }

    /// An empty timeline whose sample 0 is at `started` (or, if `paused`,
    /// at the first resume), handing out `layout`.
    pub(super) fn with_layout(started: Instant, layout: Layout, paused: bool) -> Timeline {
        let first = Segment {
            origin: started,
            base: 0,
            open_below: true,
            until: None,
        };
        Timeline {
            segments: if paused { Vec::new() } else { vec![first] },
            layout,
            flushed: 0,
            pending: Vec::new(),
            cursor: [None, None],
        }
    }

    /// How the channels become the file's samples.
    pub(super) fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether frames arriving now are discarded.
    pub(super) fn is_paused(&self) -> bool {
        self.segments.last().is_none_or(|s| s.until.is_some())
    }

    /// The sample offset of instant `t`: in a pause, where the pause
    /// began; before the start, 0.
    pub(super) fn offset(&self, t: Instant) -> u64 {
        let segment = self
            .segments
            .iter()
            .rev()
            .find(|s| s.origin <= t)
            .or(self.segments.first());
        let Some(segment) = segment else {
            return 0;
        };
        let t = segment.until.map_or(t, |until| t.min(until));
        segment
            .base
            .saturating_add(samples_in(t.saturating_duration_since(segment.origin)))
    }

    /// Whether a frame that arrived at `t` is to be recorded.
    fn records(&self, t: Instant) -> bool {
        self.segments
            .iter()
            .any(|s| (s.open_below || s.origin < t) && s.until.is_none_or(|until| t <= until))
    }

    /// Stops recording at `at`: frames that arrive later are discarded
    /// (audio already placed past `at` is dropped) until a resume.
    pub(super) fn pause(&mut self, at: Instant) {
        let end = self.offset(at);
        let Some(last) = self.segments.last_mut().filter(|s| s.until.is_none()) else {
            return;
        };
        last.until = Some(at.max(last.origin));
        let keep = usize::try_from(end.saturating_sub(self.flushed) * 2).unwrap_or(usize::MAX);
        self.pending.truncate(keep);
        self.cursor = [None, None];
    }

    /// Records again from `at`, appended where the recording stopped.
    pub(super) fn resume(&mut self, at: Instant) {
        if !self.is_paused() {
            return;
        }
        let (origin, base) = match self.segments.last() {
            Some(last) => {
                let until = last.until.unwrap_or(last.origin);
                (at.max(until), self.offset(until))
            }
            None => (at, 0),
        };
        if self.segments.len() >= MAX_SEGMENTS {
            self.segments.remove(0);
        }
        self.segments.push(Segment {
            origin,
            base,
            open_below: false,
            until: None,
        });
        self.cursor = [None, None];
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
        if !self.records(arrival) {
            return Placed::Paused;
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

    /// Hands out, as little-endian WAV bytes appended to `out` in the
    /// timeline's [`Layout`], the samples up to offset `upto` (silence where
    /// neither channel had audio), and drops whatever lies beyond `upto` if
    /// `truncate`. Returns the frames added. Allocates up to
    /// `4 × (upto − flushed)` bytes: callers bound the step.
    pub(super) fn take(&mut self, upto: u64, truncate: bool, out: &mut Vec<u8>) -> u64 {
        let count = upto.saturating_sub(self.flushed);
        let frames = usize::try_from(count).unwrap_or(usize::MAX);
        let from_pending = frames.min(self.pending.len() / 2);
        let pairs = self.pending[..from_pending * 2].chunks_exact(2);
        let frame_bytes = usize::try_from(self.layout.frame_bytes()).unwrap_or(4);
        out.reserve(frames.saturating_mul(frame_bytes));
        match self.layout {
            Layout::Stereo => {
                for pair in pairs {
                    out.extend_from_slice(&pair[0].to_le_bytes());
                    out.extend_from_slice(&pair[1].to_le_bytes());
                }
            }
            Layout::Mono(channel) => {
                for pair in pairs {
                    out.extend_from_slice(&pair[channel.index()].to_le_bytes());
                }
            }
            Layout::Mix => {
                for pair in pairs {
                    out.extend_from_slice(&pair[0].saturating_add(pair[1]).to_le_bytes());
                }
            }
        }
        out.resize(out.len() + (frames - from_pending) * frame_bytes, 0);
        let from_pending = from_pending * 2;
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
    fn a_pause_leaves_out_its_time_and_resume_appends() {
        let t0 = Instant::now();
        let mut tl = Timeline::with_layout(t0, Layout::Stereo, false);
        let frame = [LOUD; 160];
        tl.place(Channel::Left, at(t0, 20), G711::Pcmu, &frame);
        let mut out = Vec::new();
        // Paused at 40 ms: what lies before is handed out first.
        tl.pause(at(t0, 40));
        assert_eq!(tl.offset(at(t0, 900)), 320, "time stands still");
        assert_eq!(
            tl.place(Channel::Left, at(t0, 500), G711::Pcmu, &frame),
            Placed::Paused
        );
        // Resumed at 1 s: a frame that arrived by then belongs to the pause;
        // the next one goes right after the first 40 ms.
        tl.resume(at(t0, 1000));
        assert_eq!(
            tl.place(Channel::Left, at(t0, 1000), G711::Pcmu, &frame),
            Placed::Paused
        );
        assert_eq!(tl.offset(at(t0, 1020)), 480);
        assert_eq!(
            tl.place(Channel::Left, at(t0, 1020), G711::Pcmu, &frame),
            Placed::Written
        );
        tl.take(480, true, &mut out);
        let loud = g711::ulaw_decode(LOUD);
        let s = samples(&out);
        assert_eq!(s.len(), 480);
        assert!(s[..160].iter().all(|&p| p == (loud, 0)));
        assert!(s[160..320].iter().all(|&p| p == (0, 0)));
        assert!(s[320..].iter().all(|&p| p == (loud, 0)));
    }

    #[test]
    fn a_timeline_started_paused_begins_at_its_first_resume() {
        let t0 = Instant::now();
        let mut tl = Timeline::with_layout(t0, Layout::Mono(Channel::Right), true);
        let frame = [LOUD; 160];
        // The start beep, heard before the resume, is not recorded.
        assert_eq!(
            tl.place(Channel::Right, at(t0, 200), G711::Pcmu, &frame),
            Placed::Paused
        );
        tl.resume(at(t0, 250));
        assert_eq!(tl.offset(at(t0, 250)), 0);
        tl.place(Channel::Right, at(t0, 270), G711::Pcmu, &frame);
        let mut out = Vec::new();
        assert_eq!(tl.take(160, true, &mut out), 160);
        assert_eq!(out.len(), 320, "mono: two bytes a frame");
        let loud = g711::ulaw_decode(LOUD);
        assert!(out
            .chunks_exact(2)
            .all(|c| i16::from_le_bytes([c[0], c[1]]) == loud));
    }

    #[test]
    fn layouts_pick_or_mix_the_channels() {
        let t0 = Instant::now();
        const SOFT: u8 = 0x60;
        let (loud, soft) = (g711::ulaw_decode(LOUD), g711::ulaw_decode(SOFT));
        for (layout, expected) in [
            (Layout::Mono(Channel::Left), loud),
            (Layout::Mono(Channel::Right), soft),
            (Layout::Mix, loud.saturating_add(soft)),
        ] {
            let mut tl = Timeline::with_layout(t0, layout, false);
            tl.place(Channel::Left, at(t0, 20), G711::Pcmu, &[LOUD; 160]);
            tl.place(Channel::Right, at(t0, 20), G711::Pcmu, &[SOFT; 160]);
            let mut out = Vec::new();
            assert_eq!(tl.take(200, true, &mut out), 200);
            assert_eq!(out.len(), 400);
            let mono: Vec<i16> = out
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            assert!(mono[..160].iter().all(|&s| s == expected), "{layout:?}");
            assert!(mono[160..].iter().all(|&s| s == 0), "{layout:?}");
        }
        assert_eq!(Layout::Stereo.frame_bytes(), 4);
        assert_eq!(Layout::Mix.channels(), 1);
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
