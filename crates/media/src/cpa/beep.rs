//! Answering-machine beep detection: one steady tone anywhere in the band
//! where machines put their beep, long enough and alone.
//!
//! A hop counts when its [`TonePeak`] is between [`BeepConfig::min_hz`] and
//! [`BeepConfig::max_hz`], at least [`BeepConfig::min_level_dbov`], carries
//! [`BeepConfig::min_purity`] of the energy and has no rival partial within
//! [`BeepConfig::max_rival_db`]. Consecutive such hops form a run while the
//! frequency stays within [`BeepConfig::max_spread_ratio`] (or
//! [`BeepConfig::min_spread_hz`], whichever is larger); one bad hop is
//! bridged. A run of at least [`BeepConfig::min_duration_ms`] is reported
//! when it ends, with its mean frequency and length, or, for a tone that
//! goes on, once it reaches [`BeepConfig::max_duration_ms`].
//!
//! Talk-off: speech has no such runs. A voiced sound is a sum of harmonics
//! of a pitch that is never perfectly steady; whichever harmonic dominates,
//! its neighbours a pitch period away are rivals 10–20 dB down, and a glide
//! moves the peak out of the spread within 120 ms. DTMF is two tones of
//! similar level (purity ≤ 0.7, rival within a few dB); noise is not pure.

use super::run::ToneRun;
use super::spectrum::{ToneAnalyzer, TonePeak};

/// Thresholds of the beep detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeepConfig {
    /// Lowest beep frequency, Hz.
    pub min_hz: f32,
    /// Highest beep frequency, Hz.
    pub max_hz: f32,
    /// Shortest beep, ms.
    pub min_duration_ms: u32,
    /// A tone still going at this length is reported without waiting for its end, ms.
    pub max_duration_ms: u32,
    /// Lowest level, dBov.
    pub min_level_dbov: f32,
    /// Lowest share of the window's energy in the tone.
    pub min_purity: f32,
    /// Highest level of any unrelated partial relative to the tone, dB.
    pub max_rival_db: f32,
    /// Largest frequency spread of a run relative to its frequency.
    pub max_spread_ratio: f32,
    /// Frequency spread always allowed, Hz.
    pub min_spread_hz: f32,
}

impl Default for BeepConfig {
    fn default() -> Self {
        Self {
            min_hz: 350.0,
            max_hz: 2000.0,
            // Lengths are measured to ±10 ms: 110 catches every 120 ms beep.
            min_duration_ms: 110,
            max_duration_ms: 2000,
            min_level_dbov: -45.0,
            min_purity: 0.8,
            max_rival_db: -20.0,
            max_spread_ratio: 0.015,
            min_spread_hz: 8.0,
        }
    }
}

/// A beep: its frequency and length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beep {
    /// Mean frequency, Hz.
    pub freq_hz: f32,
    /// Length, ms (within about ±12 ms; capped at the maximum when reported early).
    pub duration_ms: u32,
    /// Sample position at which it was reported.
    pub at: u64,
}

/// Hops without the tone that end a run (the first is bridged).
const RELEASE_HOPS: u32 = 2;

/// Streaming answering-machine beep detector.
#[derive(Debug, Clone)]
pub struct BeepDetector {
    config: BeepConfig,
    analyzer: ToneAnalyzer,
    run: ToneRun,
}

impl Default for BeepDetector {
    fn default() -> Self {
        Self::new(BeepConfig::default())
    }
}

impl BeepDetector {
    /// A detector with the given thresholds.
    pub fn new(config: BeepConfig) -> Self {
        Self {
            config,
            analyzer: ToneAnalyzer::default(),
            run: ToneRun::default(),
        }
    }

    /// Feeds linear samples; calls `on_beep` for each beep.
    pub fn process(&mut self, samples: &[i16], mut on_beep: impl FnMut(Beep)) {
        for &s in samples {
            if let Some(peak) = self.analyzer.push(s) {
                if let Some(b) = self.observe(&peak) {
                    on_beep(b);
                }
            }
        }
    }

    /// Feeds one analysis (from an analyser shared with other detectors).
    pub fn observe(&mut self, peak: &TonePeak) -> Option<Beep> {
        let c = &self.config;
        let qualifies = (c.min_hz..=c.max_hz).contains(&peak.freq_hz)
            && peak.level_dbov >= c.min_level_dbov
            && peak.purity >= c.min_purity
            && peak.rival_db <= c.max_rival_db;
        let allowed_spread = (peak.freq_hz * c.max_spread_ratio).max(c.min_spread_hz);
        if qualifies && self.run.spread_with(peak.freq_hz) <= allowed_spread {
            self.run.extend(peak);
            if !self.run.reported && self.run.duration_ms() >= c.max_duration_ms {
                self.run.reported = true;
                let mut beep = self.beep(peak.end);
                beep.duration_ms = c.max_duration_ms;
                return Some(beep);
            }
            return None;
        }
        let mut found = None;
        if self.run.active() {
            self.run.gap += 1;
            // A different steady tone ends the run at once; a bad hop only after the release.
            if qualifies || self.run.gap >= RELEASE_HOPS {
                if !self.run.reported && self.run.duration_ms() >= c.min_duration_ms {
                    found = Some(self.beep(peak.end));
                }
                self.run.clear();
            }
        }
        if qualifies {
            self.run.extend(peak);
        }
        found
    }

    fn beep(&self, at: u64) -> Beep {
        Beep {
            freq_hz: self.run.mean_hz(),
            duration_ms: self.run.duration_ms(),
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{vowel, Noise, VOWELS};
    use crate::tone::ToneGenerator;

    fn detect(samples: &[i16]) -> Vec<Beep> {
        let mut d = BeepDetector::default();
        let mut found = Vec::new();
        for frame in samples.chunks(160) {
            d.process(frame, |b| found.push(b));
        }
        found
    }

    fn padded(tone: Vec<i16>) -> Vec<i16> {
        let mut s = vec![0i16; 1600];
        s.extend(tone);
        s.extend(vec![0i16; 1600]);
        s
    }

    #[test]
    fn beeps_across_the_band_with_their_length() {
        for (f, ms) in [
            (350.0, 120),
            (440.0, 300),
            (1000.0, 500),
            (1400.0, 200),
            (2000.0, 150),
        ] {
            let found = detect(&padded(ToneGenerator::sine(f, -20.0).take(ms * 8)));
            assert_eq!(found.len(), 1, "{f} {ms}: {found:?}");
            let b = found[0];
            assert!((b.freq_hz - f as f32).abs() < 3.0, "{b:?}");
            assert!(b.duration_ms.abs_diff(ms as u32) <= 15, "{ms}: {b:?}");
        }
    }

    #[test]
    fn quiet_and_noisy_beeps() {
        // −30 dBov (−23.8 dBm0), then the same in white noise 20 dB down.
        let tone = ToneGenerator::sine(1000.0, -23.8).take(2000);
        assert_eq!(detect(&padded(tone.clone())).len(), 1);
        let mut noisy = padded(tone);
        let noise = Noise::new(11).samples(noisy.len(), -50.0);
        for (x, n) in noisy.iter_mut().zip(&noise) {
            *x = x.saturating_add(*n);
        }
        let found = detect(&noisy);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].duration_ms.abs_diff(250) <= 15, "{found:?}");
    }

    #[test]
    fn short_tones_and_out_of_band_tones_are_not_beeps() {
        assert!(detect(&padded(ToneGenerator::sine(1000.0, -20.0).take(640))).is_empty());
        assert!(detect(&padded(ToneGenerator::sine(300.0, -20.0).take(2400))).is_empty());
        assert!(detect(&padded(ToneGenerator::sine(2100.0, -20.0).take(2400))).is_empty());
        assert!(detect(&padded(ToneGenerator::sine(1000.0, -50.0).take(2400))).is_empty());
    }

    #[test]
    fn a_long_tone_is_reported_at_the_maximum() {
        let found = detect(&padded(ToneGenerator::sine(800.0, -20.0).take(40_000)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].duration_ms, 2000);
        assert!(found[0].at < 1600 + 2100 * 8);
    }

    #[test]
    fn no_beep_on_vowels_noise_or_dtmf() {
        for formants in &VOWELS {
            for (start, end) in [
                (100.0, 140.0),
                (140.0, 100.0),
                (180.0, 250.0),
                (250.0, 200.0),
            ] {
                let v = vowel(start, end, formants, 8000, -20.0);
                assert!(detect(&v).is_empty(), "{start}-{end} {formants:?}");
            }
            for f0 in [100.0, 130.0, 170.0, 210.0, 250.0] {
                let v = vowel(f0, f0 * 1.01, formants, 4000, -20.0);
                assert!(detect(&v).is_empty(), "steady {f0} {formants:?}");
            }
        }
        let mut bursts = Vec::new();
        let mut noise = Noise::new(2);
        for k in 0..10 {
            bursts.extend(noise.samples(800 + 160 * k, -20.0));
            bursts.extend(vec![0i16; 800]);
        }
        assert!(detect(&bursts).is_empty());
        let mut dtmf = Vec::new();
        for digit in "147*2580369#ABCD".chars() {
            for twist in [0.0, 4.0, 8.0] {
                let (row, col) = crate::tone::dtmf_frequencies(digit).expect("digit");
                dtmf.extend(
                    ToneGenerator::new(8000)
                        .with_sine(row, -10.0)
                        .with_sine(col, -10.0 - twist)
                        .take(2400),
                );
                dtmf.extend(vec![0i16; 400]);
            }
        }
        assert!(detect(&dtmf).is_empty());
    }
}
