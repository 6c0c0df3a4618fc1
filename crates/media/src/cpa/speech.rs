//! Human or machine, from the first utterance after answer and the silence
//! after it.
//!
//! A person answers with a short greeting ("Hello?", "Smith speaking") and
//! then waits for the caller; a machine plays a long one ("Hi, you've reached
//! …"). The classifier follows the [`Vad`](crate::vad::Vad)'s segments, so
//! the lengths below are as the VAD sees them (an utterance includes the
//! VAD's hangover, and the silence starts after it):
//!
//! - the first utterance reaching [`MACHINE_MIN_UTTERANCE_MS`] → machine, at once;
//! - a first utterance shorter than [`HUMAN_MAX_UTTERANCE_MS`] followed by
//!   [`HUMAN_MIN_SILENCE_MS`] of silence → human;
//! - a first utterance in between followed by that silence, or no verdict by
//!   [`MAX_TIME_MS`] (including no speech at all) → not sure.
//!
//! Speech that resumes before the silence is long enough continues the same
//! utterance ("Hi, … this is John"), gap included.

use crate::vad::VadState;

/// A first utterance at least this long is a machine's greeting, ms.
pub const MACHINE_MIN_UTTERANCE_MS: u32 = 1800;
/// A first utterance shorter than this can be a person's greeting, ms.
pub const HUMAN_MAX_UTTERANCE_MS: u32 = 1500;
/// Silence after a short greeting that makes it a person's, ms.
pub const HUMAN_MIN_SILENCE_MS: u32 = 800;
/// Time from the start after which the verdict is "not sure", ms.
pub const MAX_TIME_MS: u32 = 5000;

/// The classifier's thresholds; the default is the public constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeechThresholds {
    /// See [`MACHINE_MIN_UTTERANCE_MS`].
    pub machine_min_utterance_ms: u32,
    /// See [`HUMAN_MAX_UTTERANCE_MS`].
    pub human_max_utterance_ms: u32,
    /// See [`HUMAN_MIN_SILENCE_MS`].
    pub human_min_silence_ms: u32,
    /// See [`MAX_TIME_MS`].
    pub max_time_ms: u32,
}

impl Default for SpeechThresholds {
    fn default() -> Self {
        Self {
            machine_min_utterance_ms: MACHINE_MIN_UTTERANCE_MS,
            human_max_utterance_ms: HUMAN_MAX_UTTERANCE_MS,
            human_min_silence_ms: HUMAN_MIN_SILENCE_MS,
            max_time_ms: MAX_TIME_MS,
        }
    }
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpeechVerdict {
    /// A short greeting, then waiting.
    Human,
    /// A long greeting.
    Machine,
    /// Neither pattern within the time allowed.
    NotSure,
}

impl SpeechVerdict {
    /// The Rayo CPA `speech` signal value: `human`, `machine` or `notsure`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpeechVerdict::Human => "human",
            SpeechVerdict::Machine => "machine",
            SpeechVerdict::NotSure => "notsure",
        }
    }
}

/// Streaming human/machine classifier over VAD segments; decides once.
#[derive(Debug, Clone, Default)]
pub struct SpeechClassifier {
    thresholds: SpeechThresholds,
    elapsed_ms: u64,
    utterance_start: Option<u64>,
    /// When the first utterance (so far) went silent.
    utterance_end: Option<u64>,
    verdict: Option<SpeechVerdict>,
}

impl SpeechClassifier {
    /// A classifier with the given thresholds.
    pub fn new(thresholds: SpeechThresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    /// The verdict, once made.
    pub fn verdict(&self) -> Option<SpeechVerdict> {
        self.verdict
    }

    /// Length of the first utterance so far, ms (0 before speech).
    pub fn utterance_ms(&self) -> u32 {
        match self.utterance_start {
            Some(start) => (self.utterance_end.unwrap_or(self.elapsed_ms) - start) as u32,
            None => 0,
        }
    }

    /// Feeds `ms` of audio the VAD judged `state`; returns the verdict when it is made.
    pub fn observe(&mut self, state: VadState, ms: u32) -> Option<SpeechVerdict> {
        if self.verdict.is_some() {
            return None;
        }
        let t = &self.thresholds;
        let before = self.elapsed_ms;
        self.elapsed_ms += u64::from(ms);
        let verdict = match (state, self.utterance_start, self.utterance_end) {
            (VadState::Speech, None, _) => {
                self.utterance_start = Some(before);
                None
            }
            (VadState::Speech, Some(_), _) => {
                self.utterance_end = None;
                None
            }
            (VadState::Silence, Some(_), None) => {
                self.utterance_end = Some(before);
                None
            }
            (VadState::Silence, Some(_), Some(end)) => {
                if self.elapsed_ms - end >= u64::from(t.human_min_silence_ms) {
                    if self.utterance_ms() < t.human_max_utterance_ms {
                        Some(SpeechVerdict::Human)
                    } else {
                        Some(SpeechVerdict::NotSure)
                    }
                } else {
                    None
                }
            }
            (VadState::Silence, None, _) => None,
        };
        let verdict = verdict.or_else(|| {
            if self.utterance_end.is_none() && self.utterance_ms() >= t.machine_min_utterance_ms {
                Some(SpeechVerdict::Machine)
            } else if self.elapsed_ms >= u64::from(t.max_time_ms) {
                Some(SpeechVerdict::NotSure)
            } else {
                None
            }
        });
        self.verdict = verdict;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VadState::{Silence, Speech};

    /// Runs segments of (state, ms) in 10 ms steps; the verdict and when.
    fn classify(segments: &[(VadState, u32)]) -> Option<(SpeechVerdict, u32)> {
        let mut c = SpeechClassifier::default();
        let mut t = 0;
        for &(state, ms) in segments {
            for _ in 0..ms / 10 {
                t += 10;
                if let Some(v) = c.observe(state, 10) {
                    return Some((v, t));
                }
            }
        }
        None
    }

    #[test]
    fn hello_then_waiting_is_human() {
        let v = classify(&[(Silence, 400), (Speech, 700), (Silence, 3000)]);
        assert_eq!(v, Some((SpeechVerdict::Human, 1900)));
        // "Hello? … Hello?" with a short gap is still one short utterance.
        let v = classify(&[
            (Speech, 500),
            (Silence, 300),
            (Speech, 500),
            (Silence, 2000),
        ]);
        assert_eq!(v, Some((SpeechVerdict::Human, 2100)));
    }

    #[test]
    fn a_long_greeting_is_a_machine_at_once() {
        let v = classify(&[
            (Silence, 300),
            (Speech, 1000),
            (Silence, 400),
            (Speech, 3000),
        ]);
        assert_eq!(v, Some((SpeechVerdict::Machine, 2100)));
    }

    #[test]
    fn in_between_or_nothing_is_not_sure() {
        let v = classify(&[(Speech, 1600), (Silence, 2000)]);
        assert_eq!(v, Some((SpeechVerdict::NotSure, 2400)));
        assert_eq!(
            classify(&[(Silence, 10_000)]),
            Some((SpeechVerdict::NotSure, 5000))
        );
        let mut c = SpeechClassifier::new(SpeechThresholds {
            max_time_ms: 1000,
            ..SpeechThresholds::default()
        });
        assert_eq!(c.observe(Silence, 990), None);
        assert_eq!(c.observe(Silence, 10), Some(SpeechVerdict::NotSure));
        assert_eq!(c.observe(Speech, 3000), None, "decides once");
        assert_eq!(c.verdict(), Some(SpeechVerdict::NotSure));
        assert_eq!(SpeechVerdict::NotSure.as_str(), "notsure");
    }
}
