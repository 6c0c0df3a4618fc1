//! When a record component ends by itself, as a sans-IO state machine:
//! `max_duration`, `initial_timeout` and `final_timeout`, all counted in
//! recorded time (a pause stops every clock; the file holds no paused time
//! either).
//!
//! Silence is judged on what the party says (the send direction), whatever
//! the recording's direction: the timeouts exist to end a message when its
//! speaker has nothing (more) to say, and what the party hears (prompts,
//! the other side of a join) says nothing about that. Each 20 ms frame of
//! the party's audio is voice or not by its energy against a threshold,
//! with a hangover so that the short pauses between words stay voice
//! ([`voiced`] keeps that in one place). A party that sends no packets at
//! all (silence suppression) is silent: the deadlines run on time, not on
//! frames.

use std::time::{Duration, Instant};

use call_control::{Record, RecordEnd};

/// Frame energy above which the party is speaking, in dBov (a sine at
/// full scale is −3 dBov; speech sits around −20 to −30, a quiet line's
/// noise below −55).
pub(super) const VOICE_THRESHOLD_DBOV: f64 = -40.0;
/// How long a voice verdict holds after the last loud frame.
pub(super) const HANGOVER: Duration = Duration::from_millis(200);

/// Voice or silence per frame, with hangover.
#[derive(Debug, Clone)]
pub(super) struct VoiceDetector {
    /// Loud frames make it voice until then.
    voice_until: Option<Instant>,
}

impl VoiceDetector {
    pub(super) fn new() -> VoiceDetector {
        VoiceDetector { voice_until: None }
    }

    /// Judges one frame that arrived at `at`: voice, or silence once the
    /// hangover after the last loud frame has passed.
    pub(super) fn process(&mut self, at: Instant, samples: &[i16]) -> bool {
        if voiced(samples) {
            self.voice_until = Some(at + HANGOVER);
        }
        self.voice_until.is_some_and(|until| at < until)
    }
}

/// Whether one frame is loud enough to be voice: its mean energy against
/// [`VOICE_THRESHOLD_DBOV`].
pub(super) fn voiced(samples: &[i16]) -> bool {
    if samples.is_empty() {
        return false;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let mean = energy / samples.len() as f64;
    let full_scale = 32768.0 * 32768.0;
    10.0 * (mean / full_scale).max(1e-12).log10() > VOICE_THRESHOLD_DBOV
}

/// The clocks of one recording; see the module doc.
#[derive(Debug, Clone)]
pub(super) struct RecordTimer {
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
    pub(super) fn new(record: &Record) -> RecordTimer {
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
    pub(super) fn run(&mut self, now: Instant) {
        if self.running_since.is_none() {
            self.running_since = Some(now);
        }
    }

    /// The clocks stop at `now` (a pause).
    pub(super) fn stop(&mut self, now: Instant) {
        self.recorded = self.position(now);
        self.running_since = None;
    }

    /// One frame of the party's audio that arrived at `at`.
    pub(super) fn party_audio(&mut self, at: Instant, samples: &[i16]) {
        if self.running_since.is_none() || !self.wants_audio() {
            return;
        }
        if self.detector.process(at, samples) {
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
    pub(super) fn deadline(&self) -> Option<Instant> {
        let since = self.running_since?;
        let (at, _) = self.limit()?;
        Some(since + at.saturating_sub(self.recorded))
    }

    /// At `now`: the reason and the exact instant the recording ended, if a
    /// limit has passed.
    pub(super) fn expire(&self, now: Instant) -> Option<(RecordEnd, Instant)> {
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
    fn loud_frames_are_voice_and_quiet_ones_are_not() {
        assert!(voiced(&LOUD));
        assert!(!voiced(&QUIET));
        assert!(!voiced(&[0; 160]));
        assert!(!voiced(&[]));
        let t0 = Instant::now();
        let mut detector = VoiceDetector::new();
        assert!(detector.process(t0, &LOUD));
        assert!(detector.process(t0 + ms(180), &QUIET), "hangover");
        assert!(!detector.process(t0 + ms(200), &QUIET));
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
