//! Fixed-frequency tone detection for fax: CED, the answering terminal's
//! 2100 Hz tone (T.30: 2.6–4 s, 2100 ± 15 Hz; V.25's ANSam variant adds
//! 15 Hz amplitude modulation and phase reversals every 450 ms), and CNG,
//! the calling terminal's 1100 Hz beeps (T.30: 0.5 s on, 3 s off, ± 38 Hz).
//!
//! A hop counts when its [`TonePeak`] is at the tone's frequency within the
//! tolerance, loud enough, pure, and without a rival partial (the beep
//! detector's talk-off checks, see [`spectrum`](super::spectrum)). Gaps of
//! up to `max_gap_ms` are bridged (a phase reversal spoils about three
//! hops). The tone is reported once per run, as soon as it has lasted
//! `min_duration_ms`: CED after 500 ms, a CNG burst after 400 ms.

use super::run::ToneRun;
use super::spectrum::{ToneAnalyzer, TonePeak};

/// What a fixed-frequency tone detector looks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// Nominal frequency, Hz.
    pub freq_hz: f32,
    /// Accepted deviation from nominal, Hz.
    pub tolerance_hz: f32,
    /// How long the tone must last before it is reported, ms.
    pub min_duration_ms: u32,
    /// Lowest level, dBov.
    pub min_level_dbov: f32,
    /// Lowest share of the window's energy in the tone.
    pub min_purity: f32,
    /// Highest level of any unrelated partial relative to the tone, dB.
    pub max_rival_db: f32,
    /// Longest interruption bridged, ms.
    pub max_gap_ms: u32,
}

/// Fax answer tone (CED): 2100 Hz, reported after 500 ms.
pub const FAX_CED: ToneSpec = ToneSpec {
    freq_hz: 2100.0,
    tolerance_hz: 25.0,
    min_duration_ms: 500,
    min_level_dbov: -45.0,
    min_purity: 0.8,
    max_rival_db: -20.0,
    max_gap_ms: 50,
};

/// Fax calling tone (CNG): 1100 Hz, reported after a 400 ms burst.
pub const FAX_CNG: ToneSpec = ToneSpec {
    freq_hz: 1100.0,
    tolerance_hz: 38.0,
    min_duration_ms: 400,
    min_level_dbov: -45.0,
    min_purity: 0.8,
    max_rival_db: -20.0,
    max_gap_ms: 30,
};

/// A tone that has lasted its minimum duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectedTone {
    /// Measured frequency (mean over the run so far), Hz.
    pub freq_hz: f32,
    /// How long it has lasted when reported, ms.
    pub duration_ms: u32,
    /// Sample position of the report.
    pub at: u64,
}

/// Streaming detector of one fixed-frequency tone.
#[derive(Debug, Clone)]
pub struct ToneDetector {
    spec: ToneSpec,
    analyzer: ToneAnalyzer,
    run: ToneRun,
}

impl ToneDetector {
    /// A detector for `spec` ([`FAX_CED`], [`FAX_CNG`] or another tone).
    pub fn new(spec: ToneSpec) -> Self {
        Self {
            spec,
            analyzer: ToneAnalyzer::default(),
            run: ToneRun::default(),
        }
    }

    /// What it looks for.
    pub fn spec(&self) -> &ToneSpec {
        &self.spec
    }

    /// Feeds linear samples; calls `on_tone` once per tone that lasts long enough.
    pub fn process(&mut self, samples: &[i16], mut on_tone: impl FnMut(DetectedTone)) {
        for &s in samples {
            if let Some(peak) = self.analyzer.push(s) {
                if let Some(t) = self.observe(&peak) {
                    on_tone(t);
                }
            }
        }
    }

    /// Feeds one analysis (from an analyser shared with other detectors).
    pub fn observe(&mut self, peak: &TonePeak) -> Option<DetectedTone> {
        let s = &self.spec;
        let qualifies = (peak.freq_hz - s.freq_hz).abs() <= s.tolerance_hz
            && peak.level_dbov >= s.min_level_dbov
            && peak.purity >= s.min_purity
            && peak.rival_db <= s.max_rival_db;
        if qualifies {
            self.run.extend(peak);
        } else if self.run.active() {
            self.run.gap += 1;
            if self.run.gap * 10 > s.max_gap_ms {
                self.run.clear();
            }
            return None;
        } else {
            return None;
        }
        if !self.run.reported && self.run.duration_ms() >= s.min_duration_ms {
            self.run.reported = true;
            return Some(DetectedTone {
                freq_hz: self.run.mean_hz(),
                duration_ms: self.run.duration_ms(),
                at: peak.end,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{vowel, Noise, VOWELS};
    use crate::tone::ToneGenerator;

    fn detect(spec: ToneSpec, samples: &[i16]) -> Vec<DetectedTone> {
        let mut d = ToneDetector::new(spec);
        let mut found = Vec::new();
        for frame in samples.chunks(160) {
            d.process(frame, |t| found.push(t));
        }
        found
    }

    fn add(a: &mut [i16], b: &[i16]) {
        for (x, y) in a.iter_mut().zip(b) {
            *x = x.saturating_add(*y);
        }
    }

    #[test]
    fn ced_after_half_a_second() {
        // −30 dBov is −23.8 dBm0 for a sine.
        let mut signal = vec![0i16; 2400];
        signal.extend(ToneGenerator::sine(2100.0, -23.8).take(24_000));
        let found = detect(FAX_CED, &signal);
        assert_eq!(found.len(), 1, "{found:?}");
        let t = found[0];
        assert!((t.freq_hz - 2100.0).abs() < 3.0);
        let heard_ms = (t.at - 2400) / 8;
        assert!((480..=560).contains(&heard_ms), "{t:?}");
        // Slightly off frequency, in noise 20 dB down.
        let mut noisy = ToneGenerator::sine(2112.0, -23.8).take(8000);
        add(&mut noisy, &Noise::new(9).samples(8000, -50.0));
        assert_eq!(detect(FAX_CED, &noisy).len(), 1);
        assert!(detect(FAX_CED, &ToneGenerator::sine(2150.0, -20.0).take(8000)).is_empty());
    }

    #[test]
    fn ced_with_phase_reversals() {
        let mut signal = Vec::new();
        for k in 0..4 {
            let mut t = ToneGenerator::sine(2100.0, -15.0).take(3600);
            if k % 2 == 1 {
                t.iter_mut().for_each(|s| *s = s.saturating_neg());
            }
            signal.extend(t);
        }
        assert_eq!(detect(FAX_CED, &signal).len(), 1);
        // V.8 ANSam: 15 Hz amplitude modulation of ±20 %.
        let am: Vec<i16> = signal
            .iter()
            .enumerate()
            .map(|(n, &s)| {
                let m = 1.0 + 0.2 * (std::f64::consts::TAU * 15.0 * n as f64 / 8000.0).sin();
                (f64::from(s) * m / 1.2).round() as i16
            })
            .collect();
        assert_eq!(detect(FAX_CED, &am).len(), 1);
    }

    #[test]
    fn cng_bursts_each_reported_and_short_ones_not() {
        let mut signal = Vec::new();
        for _ in 0..2 {
            signal.extend(ToneGenerator::sine(1100.0, -20.0).take(4000));
            signal.extend(vec![0i16; 24_000]);
        }
        let found = detect(FAX_CNG, &signal);
        assert_eq!(found.len(), 2, "{found:?}");
        let mut short = ToneGenerator::sine(1100.0, -20.0).take(2800);
        short.extend(vec![0i16; 800]);
        assert!(detect(FAX_CNG, &short).is_empty());
    }

    #[test]
    fn no_fax_on_speech_or_noise() {
        for formants in &VOWELS {
            let v = vowel(100.0, 250.0, formants, 16_000, -20.0);
            assert!(detect(FAX_CED, &v).is_empty());
            assert!(detect(FAX_CNG, &v).is_empty());
            let v = vowel(220.0, 220.0, formants, 16_000, -20.0);
            assert!(detect(FAX_CNG, &v).is_empty(), "{formants:?}");
        }
        let noise = Noise::new(5).samples(16_000, -15.0);
        assert!(detect(FAX_CED, &noise).is_empty());
    }
}
