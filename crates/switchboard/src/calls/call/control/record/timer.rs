//! When a record component ends by itself, as a sans-IO state machine:
//! `max_duration`, `initial_timeout` and `final_timeout`, all counted in
//! recorded time (a pause stops every clock; the file holds no paused time
//! either).
//!
//! Silence is judged on what the party says (the send direction), whatever
//! the recording's direction: the timeouts exist to end a message when its
//! speaker has nothing (more) to say, and what the party hears (prompts,
//! the other side of a join) says nothing about that. Each frame of the
//! party's audio is speech or not by the energy detector of
//! [`media::vad`] (10 ms blocks against a threshold, with a hangover so
//! that the short pauses between words stay speech). A party that sends
//! no packets at all (silence suppression) is silent: the deadlines run on
//! time, not on frames.

use std::time::{Duration, Instant};

use call_control::{Record, RecordEnd};
use media::vad::{Vad, VadState};

/// How long speech holds after the last loud block: the gaps between
/// words stay speech, and a final timeout counts from the end of it.
pub(super) const HANGOVER_MS: u32 = 200;

/// Speech or silence per frame of the party's audio: the `media` crate's
/// energy detector at its default threshold, with [`HANGOVER_MS`].
#[derive(Debug, Clone)]
pub(super) struct VoiceDetector {
    vad: Vad,
}

impl VoiceDetector {
    pub(super) fn new() -> VoiceDetector {
        VoiceDetector {
            vad: Vad::new(media::vad::DEFAULT_THRESHOLD_DBOV, HANGOVER_MS),
        }
    }

    /// Judges one frame: speech (hangover included) or silence.
    pub(super) fn process(&mut self, samples: &[i16]) -> bool {
        self.vad.process(samples) == VadState::Speech
    }
}

/// The clocks of one recording; see the module doc.
#[derive(Debug, Clone)]
pub(in crate::calls) struct RecordTimer {
    max_duration: Option<Duration>,
    initial_timeout: Option<Duration>,
    final_timeout: Option<Duration>,
    /// Recorded time before `running_since`.
    recorded: Duration,
    /// Recording now, since then; `None` before the start and while paused.
    running_since: Option<Instant>,
    /// Recorded time at the party's last voice frame, once it spoke.
    last_voice: Option<Duration>,
    detector: VoiceDetector,
}

impl RecordTimer {
    /// Clocks for `record`, not running yet.
    pub(in crate::calls) fn new(record: &Record) -> RecordTimer {
        RecordTimer {
            max_duration: record.max_duration,
            initial_timeout: record.initial_timeout,
            final_timeout: record.final_timeout,
            recorded: Duration::ZERO,
            running_since: None,
            last_voice: None,
            detector: VoiceDetector::new(),
        }
    }

    /// Whether the party's audio must be judged (a silence timeout is set).
    pub(super) fn wants_audio(&self) -> bool {
        self.initial_timeout.is_some() || self.final_timeout.is_some()
    }

    /// Recorded time at `now`.
    pub(super) fn position(&self, now: Instant) -> Duration {
        match self.running_since {
            Some(since) => self.recorded + now.saturating_duration_since(since),
            None => self.recorded,
        }
    }

    /// The clocks run from `now` (the start, or a resume).
    pub(in crate::calls) fn run(&mut self, now: Instant) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }

    /// The clocks stop at `now` (a pause).
    pub(in crate::calls) fn stop(&mut self, now: Instant) {
        self.recorded = self.position(now);
        self.running_since = None;
    }

    /// One frame of the party's audio that arrived at `at`.
    pub(super) fn party_audio(&mut self, at: Instant, samples: &[i16]) {
        if self.running_since.is_none() || !self.wants_audio() {
            return;
        }
        if self.detector.process(samples) {
            self.last_voice = Some(self.position(at));
        }
    }

    /// The recorded time at which the recording ends by itself, and why.
    fn limit(&self) -> Option<(Duration, RecordEnd)> {
        let silence = match self.last_voice {
            None => self.initial_timeout.map(|t| (t, RecordEnd::InitialTimeout)),
            Some(voice) => self
                .final_timeout
                .map(|t| (voice + t, RecordEnd::FinalTimeout)),
        };
        let max = self.max_duration.map(|t| (t, RecordEnd::MaxDuration));
        // At a tie the maximum duration is the reason.
        match (max, silence) {
            (Some(m), Some(s)) if s.0 < m.0 => Some(s),
            (Some(m), _) => Some(m),
            (None, s) => s,
        }
    }

    /// When [`RecordTimer::expire`] should next be called; `None` while
    /// the clocks stand.
    pub(in crate::calls) fn deadline(&self) -> Option<Instant> {
        let since = self.running_since?;
        let (at, _) = self.limit()?;
        Some(since + at.saturating_sub(self.recorded))
    }

    /// At `now`: the reason and the exact instant the recording ended, if a
    /// limit has passed.
    pub(in crate::calls) fn expire(&self, now: Instant) -> Option<(RecordEnd, Instant)> {
        let deadline = self.deadline()?;
        let (_, end) = self.limit()?;
        (deadline <= now).then_some((end, deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use call_control::{RecordDirection, RecordFormat};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn record(max: Option<u64>, initial: Option<u64>, final_timeout: Option<u64>) -> Record {
        Record {
            format: RecordFormat::Wav,
            direction: RecordDirection::Duplex,
            mix: false,
            start_beep: false,
            stop_beep: false,
            start_paused: false,
            max_duration: max.map(ms),
            initial_timeout: initial.map(ms),
            final_timeout: final_timeout.map(ms),
        }
    }

    const LOUD: [i16; 160] = [8000; 160];
    const QUIET: [i16; 160] = [3; 160];

    /// Feeds 20 ms frames of `frame` from `from` ms to `to` ms.
    fn speak(timer: &mut RecordTimer, t0: Instant, from: u64, to: u64, frame: &[i16]) {
        for k in (from..to).step_by(20) {
            timer.party_audio(t0 + ms(k + 20), frame);
        }
    }

    #[test]
    fn loud_frames_are_speech_until_the_hangover_has_passed() {
        let mut detector = VoiceDetector::new();
        assert!(!detector.process(&QUIET));
        assert!(!detector.process(&[0; 160]));
        assert!(detector.process(&LOUD));
        // 200 ms of hangover: nine quiet frames are still speech.
        for _ in 0..9 {
            assert!(detector.process(&QUIET));
        }
        assert!(!detector.process(&QUIET));
    }

    #[test]
    fn max_duration_ends_at_its_exact_instant() {
        let t0 = Instant::now();
        let mut timer = RecordTimer::new(&record(Some(1000), None, None));
        assert_eq!(timer.deadline(), None, "not running yet");
        timer.run(t0);
        assert_eq!(timer.deadline(), Some(t0 + ms(1000)));
        assert_eq!(timer.expire(t0 + ms(999)), None);
        assert_eq!(
            timer.expire(t0 + ms(1030)),
            Some((RecordEnd::MaxDuration, t0 + ms(1000)))
        );
        assert!(!timer.wants_audio());
    }

    #[test]
    fn a_pause_stops_the_clocks() {
        let t0 = Instant::now();
        let mut timer = RecordTimer::new(&record(Some(1000), Some(600), None));
        timer.run(t0);
        timer.stop(t0 + ms(400));
        assert_eq!(timer.deadline(), None);
        assert_eq!(timer.expire(t0 + ms(5000)), None);
        assert_eq!(timer.position(t0 + ms(5000)), ms(400));
        timer.run(t0 + ms(900));
        assert_eq!(timer.deadline(), Some(t0 + ms(1100)), "600 ms recorded");
        assert_eq!(
            timer.expire(t0 + ms(1100)),
            Some((RecordEnd::InitialTimeout, t0 + ms(1100)))
        );
    }

    #[test]
    fn silence_from_the_start_is_the_initial_timeout() {
        let t0 = Instant::now();
        let mut timer = RecordTimer::new(&record(None, Some(500), Some(300)));
        assert!(timer.wants_audio());
        timer.run(t0);
        speak(&mut timer, t0, 0, 480, &QUIET);
        assert_eq!(timer.expire(t0 + ms(480)), None);
        assert_eq!(
            timer.expire(t0 + ms(500)),
            Some((RecordEnd::InitialTimeout, t0 + ms(500)))
        );
    }

    #[test]
    fn silence_after_voice_is_the_final_timeout() {
        let t0 = Instant::now();
        let mut timer = RecordTimer::new(&record(Some(10_000), Some(500), Some(300)));
        timer.run(t0);
        speak(&mut timer, t0, 0, 200, &QUIET);
        speak(&mut timer, t0, 200, 1000, &LOUD);
        // No initial timeout once the party spoke.
        assert_eq!(timer.expire(t0 + ms(1000)), None);
        speak(&mut timer, t0, 1000, 1400, &QUIET);
        // The last voice verdict is the hangover's end (1000 + 200 − 20 ms).
        let last_voice = t0 + ms(1180);
        assert_eq!(timer.deadline(), Some(last_voice + ms(300)));
        assert_eq!(
            timer.expire(t0 + ms(1500)),
            Some((RecordEnd::FinalTimeout, last_voice + ms(300)))
        );
        // A party that sends nothing at all is silent too.
        let mut mute = RecordTimer::new(&record(None, None, Some(300)));
        mute.run(t0);
        speak(&mut mute, t0, 0, 100, &LOUD);
        assert!(mute.expire(t0 + ms(10_000)).is_some());
    }

    #[test]
    fn audio_before_the_start_or_while_paused_is_ignored() {
        let t0 = Instant::now();
        let mut timer = RecordTimer::new(&record(None, Some(500), Some(300)));
        speak(&mut timer, t0, 0, 400, &LOUD);
        timer.run(t0 + ms(400));
        assert_eq!(timer.deadline(), Some(t0 + ms(900)), "still initial");
        timer.stop(t0 + ms(500));
        speak(&mut timer, t0, 500, 800, &LOUD);
        timer.run(t0 + ms(800));
        assert_eq!(timer.deadline(), Some(t0 + ms(1200)));
    }
}
