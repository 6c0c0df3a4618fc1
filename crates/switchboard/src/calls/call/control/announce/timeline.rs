//! An announcement as frames: its document's plays laid out with their
//! intervals ([`Timeline`]), positions in it for seeks, and what the pacer
//! plays of it at another speed or volume ([`Rendering`]). Pure: no I/O,
//! no clock; the actor reads positions from the pacer and feeds them in.
//!
//! Positions are in 20 ms frames of the *original* timeline, so a seek or
//! a second adjustment stays right after a speed change: a rendering
//! remembers which original frame its first frame is and how many original
//! frames each of its frames covers.

use std::time::Duration;

use call_control::{Announcement, Failure};
use media::g711;

use crate::media::pacer::{Frame, PromptFrames, FRAME_SAMPLES, G711};

/// Length of one frame.
const FRAME: Duration = Duration::from_millis(20);

/// Longest timeline of a finite number of plays (30 minutes, ~14 MB of
/// frames held per call): longer ones are refused rather than built.
/// Endless repeats loop one play and are not bound by it.
pub const MAX_FRAMES: usize = 90_000;

/// Frames closest to `duration` (whole 20 ms frames).
pub fn frames_in(duration: Duration) -> usize {
    let ms = duration.as_millis();
    usize::try_from((ms + 10) / FRAME.as_millis()).unwrap_or(usize::MAX)
}

/// `frames` silent frames in `codec`.
pub fn silence(frames: usize, codec: G711) -> PromptFrames {
    let frames: Vec<Frame> = vec![[codec.silence_code(); FRAME_SAMPLES]; frames];
    PromptFrames::from_frames(frames.into())
}

/// The parts one after the other; a single part is shared, not copied.
pub fn concat(mut parts: Vec<PromptFrames>) -> PromptFrames {
    parts.retain(|p| !p.is_empty());
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let frames: Vec<Frame> = parts.iter().flat_map(|p| p.frames()).copied().collect();
    PromptFrames::from_frames(frames.into())
}

/// An announcement's document laid out as the pacer plays it: `plays`
/// plays of `play` frames with `period - play` silent frames between them,
/// or (looped) one play and its interval, repeated until stopped.
#[derive(Debug, Clone)]
pub struct Timeline {
    frames: PromptFrames,
    play: usize,
    period: usize,
    looped: bool,
    start: usize,
    codec: G711,
}

impl Timeline {
    /// Lays out `document` as `announcement` asks (repeats, interval, start
    /// offset). `BadRequest` when a finite repeat would exceed [`MAX_FRAMES`].
    pub fn build(
        document: PromptFrames,
        announcement: &Announcement,
        codec: G711,
    ) -> Result<Timeline, Failure> {
        let play = document.len();
        let gap = frames_in(announcement.repeat_interval);
        let start = frames_in(announcement.start_offset).min(play);
        let period = play + gap;
        if announcement.repeat_times == 0 {
            let frames = concat(vec![document, silence(gap, codec)]);
            return Ok(Timeline {
                frames,
                play,
                period,
                looped: true,
                start,
                codec,
            });
        }
        let plays = announcement.repeat_times as usize;
        let total = period.saturating_mul(plays).saturating_sub(gap);
        if total > MAX_FRAMES {
            return Err(Failure::BadRequest(format!(
                "the output would last {} s; at most {} s are played (repeat forever with a max-time instead)",
                total / 50,
                MAX_FRAMES / 50
            )));
        }
        let frames = if plays == 1 {
            document
        } else {
            let interval = silence(gap, codec);
            let mut parts = Vec::with_capacity(2 * plays);
            for k in 0..plays {
                if k > 0 {
                    parts.push(interval.clone());
                }
                parts.push(document.clone());
            }
            concat(parts)
        };
        Ok(Timeline {
            frames,
            play,
            period,
            looped: false,
            start,
            codec,
        })
    }

    /// The frames in play order (looped: one play and its interval).
    #[cfg(test)]
    pub fn frames(&self) -> &PromptFrames {
        &self.frames
    }

    /// Whether the timeline starts again at its end.
    #[cfg(test)]
    pub fn looped(&self) -> bool {
        self.looped
    }

    /// Where the first play starts (the start offset).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Total frames (one round when looped).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Where the play holding `at` starts (an interval belongs to the play
    /// before it).
    pub fn play_start(&self, at: usize) -> usize {
        if self.period == 0 {
            return 0;
        }
        let at = at.min(self.len().saturating_sub(1));
        at - at % self.period
    }

    /// Where a seek by `delta` frames from `at` lands: within the current
    /// play, clamped to its start and its end (its end finishes the play: the
    /// interval and the next play follow, or the announcement ends). A
    /// forward seek never moves back (from inside an interval).
    pub fn seek(&self, at: usize, delta: i64) -> usize {
        let base = self.play_start(at);
        let within = at.saturating_sub(base) as i64;
        let mut target = within.saturating_add(delta).clamp(0, self.play as i64);
        if delta > 0 {
            target = target.max(within);
        }
        base + target as usize
    }

    /// What the pacer plays at `speed` and `gain_db` from the play holding
    /// `at` on (the whole round when looped), re-encoded from the original.
    pub fn render(&self, at: usize, speed: f32, gain_db: f32) -> Rendering {
        if is_neutral(speed, gain_db) {
            return Rendering::original(self);
        }
        let from = if self.looped { 0 } else { self.play_start(at) };
        let frames = &self.frames.frames()[from.min(self.len())..];
        let mut samples = vec![0i16; frames.len() * FRAME_SAMPLES];
        for (frame, out) in frames.iter().zip(samples.chunks_mut(FRAME_SAMPLES)) {
            match self.codec {
                G711::Pcmu => g711::decode_ulaw(frame, out),
                G711::Pcma => g711::decode_alaw(frame, out),
            };
        }
        let changed = transform(&samples, speed, gain_db);
        let rendered = PromptFrames::encode(&changed, self.codec);
        let ratio = if rendered.is_empty() {
            1.0
        } else {
            frames.len() as f64 / rendered.len() as f64
        };
        Rendering {
            frames: rendered,
            from,
            ratio,
            looped: self.looped,
        }
    }
}

/// Whether `speed` and `gain_db` leave the audio as it is.
pub fn is_neutral(speed: f32, gain_db: f32) -> bool {
    (speed - 1.0).abs() < 1e-3 && gain_db.abs() < 1e-3
}

/// Changes 8 kHz samples to play at `speed` (1.0 normal, pitch kept: WSOLA,
/// see `media::stretch`) with `gain_db` (saturating).
pub fn transform(samples: &[i16], speed: f32, gain_db: f32) -> Vec<i16> {
    let mut out = media::stretch::time_stretch(samples, speed);
    media::gain::apply_gain_db(&mut out, gain_db);
    out
}

/// What the pacer plays: the timeline from original frame `from` on,
/// possibly at another speed (each frame covering `ratio` original frames).
#[derive(Debug, Clone)]
pub struct Rendering {
    /// The frames sent.
    pub frames: PromptFrames,
    /// The original frame the first frame stands for.
    pub from: usize,
    /// Original frames per frame sent (the speed actually obtained).
    pub ratio: f64,
    /// Whether it starts again at its end (an endless announcement).
    pub looped: bool,
}

impl Rendering {
    /// The timeline as it is: shared, not copied.
    pub fn original(timeline: &Timeline) -> Rendering {
        Rendering {
            frames: timeline.frames.clone(),
            from: 0,
            ratio: 1.0,
            looped: timeline.looped,
        }
    }

    /// The original frame that frame `index` of this rendering stands for.
    pub fn to_original(&self, index: usize) -> usize {
        self.from + (index as f64 * self.ratio).round() as usize
    }

    /// The frame of this rendering that plays original frame `original`
    /// (the nearest; the first for a frame before it).
    pub fn to_rendered(&self, original: usize) -> usize {
        let offset = original.saturating_sub(self.from) as f64;
        ((offset / self.ratio).round() as usize).min(self.frames.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use call_control::Segment;

    /// A document whose frame `k` is filled with the byte `k + 1`.
    fn document(frames: u8) -> PromptFrames {
        let frames: Vec<Frame> = (1..=frames).map(|k| [k; FRAME_SAMPLES]).collect();
        PromptFrames::from_frames(frames.into())
    }

    fn announcement(repeat_times: u32, interval_ms: u64, offset_ms: u64) -> Announcement {
        Announcement {
            segments: vec![Segment::Silence(Duration::ZERO)],
            start_offset: Duration::from_millis(offset_ms),
            start_paused: false,
            repeat_times,
            repeat_interval: Duration::from_millis(interval_ms),
            max_time: None,
        }
    }

    fn first_bytes(frames: &PromptFrames) -> Vec<u8> {
        frames.frames().iter().map(|f| f[0]).collect()
    }

    const S: u8 = 0xFF; // µ-law silence

    #[test]
    fn repeats_are_separated_by_their_interval_and_one_play_is_shared() {
        let doc = document(3);
        let once = Timeline::build(doc.clone(), &announcement(1, 40, 0), G711::Pcmu).expect("once");
        assert!(once.frames().same_as(&doc), "one play is not copied");
        assert!(!once.looped());
        let three =
            Timeline::build(doc.clone(), &announcement(3, 40, 0), G711::Pcmu).expect("three");
        assert_eq!(
            first_bytes(three.frames()),
            [1, 2, 3, S, S, 1, 2, 3, S, S, 1, 2, 3]
        );
        assert_eq!(G711::Pcmu.silence_code(), S);
    }

    #[test]
    fn endless_repeats_loop_one_play_and_its_interval() {
        let doc = document(2);
        let forever =
            Timeline::build(doc.clone(), &announcement(0, 20, 0), G711::Pcmu).expect("ok");
        assert!(forever.looped());
        assert_eq!(first_bytes(forever.frames()), [1, 2, S]);
        let tight = Timeline::build(doc.clone(), &announcement(0, 0, 0), G711::Pcmu).expect("ok");
        assert!(tight.frames().same_as(&doc));
    }

    #[test]
    fn the_start_offset_skips_into_the_first_play_and_is_clamped_to_it() {
        let doc = document(10);
        let t = Timeline::build(doc.clone(), &announcement(2, 0, 60), G711::Pcmu).expect("ok");
        assert_eq!(t.start(), 3);
        let t = Timeline::build(doc, &announcement(2, 0, 60_000), G711::Pcmu).expect("ok");
        assert_eq!(t.start(), 10);
    }

    #[test]
    fn too_many_finite_repeats_are_refused() {
        let doc = document(100);
        let refused = Timeline::build(doc, &announcement(1000, 0, 0), G711::Pcmu);
        assert!(matches!(refused, Err(Failure::BadRequest(_))));
    }

    #[test]
    fn seeks_stay_within_the_current_play() {
        // Plays of 10 frames with 5 frames between: plays at 0, 15, 30.
        let t = Timeline::build(document(10), &announcement(3, 100, 0), G711::Pcmu).expect("ok");
        assert_eq!(t.seek(3, 4), 7);
        assert_eq!(t.seek(3, -10), 0);
        // Past the end of the second play: its end (the interval follows).
        assert_eq!(t.seek(18, 50), 25);
        assert_eq!(t.seek(18, -2), 16);
        // Inside an interval: back into the play, forward never backward.
        assert_eq!(t.seek(27, -5), 22);
        assert_eq!(t.seek(27, 1), 27);
        // The last play's end is the timeline's end: it finishes.
        assert_eq!(t.seek(33, 100), t.len());
    }

    #[test]
    fn a_rendering_maps_positions_both_ways_after_a_speed_change() {
        let t = Timeline::build(document(10), &announcement(3, 100, 0), G711::Pcmu).expect("ok");
        // As if stretched: 20 original frames played in 10.
        let r = Rendering {
            frames: document(10),
            from: 15,
            ratio: 2.0,
            looped: false,
        };
        assert_eq!(r.to_original(0), 15);
        assert_eq!(r.to_original(4), 23);
        assert_eq!(r.to_rendered(23), 4);
        assert_eq!(r.to_rendered(3), 0, "before the rendering: its start");
        assert_eq!(r.to_rendered(1000), 10, "after it: its end");
        // A seek after the change works on original positions and maps back.
        let at = r.to_original(2);
        assert_eq!(r.to_rendered(t.seek(at, 3)), 4);
    }

    #[test]
    fn a_volume_change_renders_from_the_current_play_and_keeps_the_timing() {
        let loud = PromptFrames::encode(&[1000i16; 4 * FRAME_SAMPLES], G711::Pcmu);
        let t = Timeline::build(loud, &announcement(2, 40, 0), G711::Pcmu).expect("ok");
        // In the second play (plays at 0 and 6).
        let r = t.render(7, 1.0, 6.0);
        assert_eq!(r.from, 6);
        assert_eq!(r.frames.len(), 4);
        assert!((r.ratio - 1.0).abs() < 1e-9);
        let sample = g711::ulaw_decode(r.frames.frames()[0][0]);
        assert!((1900..2100).contains(&sample), "≈ +6 dB: {sample}");
        // Neutral again: the original, shared.
        assert!(t.render(7, 1.0, 0.0).frames.same_as(t.frames()));
        // A looped timeline renders its whole round.
        let forever = Timeline::build(document(4), &announcement(0, 0, 0), G711::Pcmu).expect("ok");
        let r = forever.render(3, 1.0, -3.0);
        assert_eq!((r.from, r.frames.len(), r.looped), (0, 4, true));
    }

    #[test]
    fn a_speed_change_renders_fewer_frames_and_maps_them_to_the_original() {
        let tone: Vec<i16> = (0..40 * FRAME_SAMPLES)
            .map(|n| ((n as f32 * 0.785).sin() * 8000.0) as i16)
            .collect();
        let doc = PromptFrames::encode(&tone, G711::Pcmu);
        let t = Timeline::build(doc, &announcement(1, 0, 0), G711::Pcmu).expect("ok");
        let r = t.render(10, 2.0, 0.0);
        assert_eq!(r.from, 0);
        assert_eq!(r.frames.len(), 20);
        assert!((r.ratio - 2.0).abs() < 1e-9);
        // Frame 10 of the original plays as frame 5 of the faster one.
        assert_eq!(r.to_rendered(10), 5);
        assert_eq!(r.to_original(5), 10);
    }

    #[test]
    fn gain_saturates_instead_of_wrapping() {
        assert_eq!(
            transform(&[30000, -30000, 100], 1.0, 6.0)[..2],
            [32767, -32768]
        );
        assert_eq!(transform(&[100], 1.0, 0.0), [100]);
    }
}
