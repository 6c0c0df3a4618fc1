//! The per-hop spectral measurement the tone detectors share: every 10 ms,
//! a 256-point Hann-windowed FFT of the last 32 ms, reduced to the one
//! strongest tone and how alone it is.
//!
//! For that tone [`TonePeak`] gives:
//! - **frequency**, from the peak bin and a parabola through the log powers
//!   of it and its neighbours (good to about ±2 Hz, 31.25 Hz bins);
//! - **purity**, the share of the window's energy within ±2 bins of the peak
//!   (the Hann main lobe): a tone in noise 20 dB down scores above 0.98, a
//!   DTMF pair at most about 0.7, a noise burst a few per cent;
//! - **rival**, the strongest bin elsewhere (more than 3 bins away, and not
//!   at the tone's second or third harmonic, which a cheap beep generator
//!   may add) relative to the peak bin, in dB. A vowel can put most of its
//!   energy into the one harmonic nearest a formant, which passes a purity
//!   test, but its other harmonics, a pitch period apart, are within 10–20 dB
//!   of it; a generated tone's rivals are noise, 30 dB or more down.
//!
//! The FFT is a plain in-place radix-2 on stack arrays (a real 256-point
//! transform done as a complex 128-point one): no allocation per hop.

use std::f32::consts::TAU;

use crate::gain::energy_to_dbov;

/// Analysis window, samples (32 ms).
pub const WINDOW: usize = 256;
/// Samples between analyses (10 ms).
pub const HOP: usize = 80;
/// Frequency step between bins, Hz.
pub const BIN_HZ: f32 = 8000.0 / WINDOW as f32;

const HALF: usize = WINDOW / 2;
/// Windows quieter than this (dBov) are not analysed: no detector looks
/// for a tone below −45 dBov, and quiet windows (pauses, a line's idle
/// noise) are most of them.
pub const ANALYSIS_FLOOR_DBOV: f32 = -50.0;

/// Lowest and highest bins searched for the peak (~94 Hz to ~3.9 kHz).
const FIRST_BIN: usize = 3;
const LAST_BIN: usize = HALF - 3;

/// The strongest tone of one analysis window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TonePeak {
    /// Estimated frequency, Hz.
    pub freq_hz: f32,
    /// Share of the window's energy in the tone's main lobe (0–1).
    pub purity: f32,
    /// Strongest unrelated bin relative to the peak bin, dB (≤ 0).
    pub rival_db: f32,
    /// Level of the window, dBov.
    pub level_dbov: f32,
    /// Sample position of the end of the window.
    pub end: u64,
}

/// Streaming analyser: feed samples, get a [`TonePeak`] every [`HOP`].
#[derive(Clone)]
pub struct ToneAnalyzer {
    hann: [f32; WINDOW],
    cos: [f32; HALF],
    sin: [f32; HALF],
    history: [f32; WINDOW],
    filled: usize,
    position: u64,
}

impl std::fmt::Debug for ToneAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToneAnalyzer")
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl Default for ToneAnalyzer {
    fn default() -> Self {
        let mut hann = [0.0; WINDOW];
        for (n, w) in hann.iter_mut().enumerate() {
            *w = (std::f32::consts::PI * n as f32 / WINDOW as f32)
                .sin()
                .powi(2);
        }
        let mut cos = [0.0; HALF];
        let mut sin = [0.0; HALF];
        for k in 0..HALF {
            let angle = -TAU * k as f32 / WINDOW as f32;
            cos[k] = angle.cos();
            sin[k] = angle.sin();
        }
        Self {
            hann,
            cos,
            sin,
            history: [0.0; WINDOW],
            // The first window is the first hop after silence.
            filled: WINDOW - HOP,
            position: 0,
        }
    }
}

impl ToneAnalyzer {
    /// Samples consumed so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Feeds one sample; returns the analysis when a hop completes.
    #[inline]
    pub fn push(&mut self, sample: i16) -> Option<TonePeak> {
        self.history[self.filled] = f32::from(sample);
        self.filled += 1;
        self.position += 1;
        if self.filled < WINDOW {
            return None;
        }
        let peak = self.analyse();
        self.history.copy_within(HOP.., 0);
        self.filled = WINDOW - HOP;
        Some(peak)
    }

    fn analyse(&self) -> TonePeak {
        let raw_energy: f64 = self.history.iter().map(|&x| f64::from(x * x)).sum();
        let level_dbov = energy_to_dbov(raw_energy, WINDOW);
        let silent = TonePeak {
            freq_hz: 0.0,
            purity: 0.0,
            rival_db: 0.0,
            level_dbov,
            end: self.position,
        };
        if level_dbov < ANALYSIS_FLOOR_DBOV {
            return silent;
        }
        // The real FFT of 256 samples as the complex FFT of 128 (even samples
        // real, odd imaginary), then untangled.
        let mut re = [0.0f32; HALF];
        let mut im = [0.0f32; HALF];
        for i in 0..HALF {
            // Bit-reversed order in (7 bits), natural order out.
            let j = 2 * usize::from((i as u8).reverse_bits() >> 1);
            re[i] = self.history[j] * self.hann[j];
            im[i] = self.history[j + 1] * self.hann[j + 1];
        }
        self.butterflies(&mut re, &mut im);
        let mut power = [0.0f32; HALF + 1];
        power[0] = (re[0] + im[0]).powi(2);
        power[HALF] = (re[0] - im[0]).powi(2);
        for k in 1..HALF {
            let (ar, ai, br, bi) = (re[k], im[k], re[HALF - k], im[HALF - k]);
            // Even part (ar + br, ai − bi)/2, odd part (ai + bi, br − ar)/2.
            let (er, ei) = (0.5 * (ar + br), 0.5 * (ai - bi));
            let (or, oi) = (0.5 * (ai + bi), 0.5 * (br - ar));
            let (wr, wi) = (self.cos[k], self.sin[k]);
            let xr = er + wr * or - wi * oi;
            let xi = ei + wr * oi + wi * or;
            power[k] = xr * xr + xi * xi;
        }
        let total = power[0] + power[HALF] + 2.0 * power[1..HALF].iter().sum::<f32>();
        if total <= 0.0 {
            return silent;
        }
        let (peak, &peak_power) = power[FIRST_BIN..=LAST_BIN]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, p)| (i + FIRST_BIN, p))
            .unwrap_or((FIRST_BIN, &0.0));
        if peak_power <= 0.0 {
            return silent;
        }
        let lobe: f32 = power[peak - 2..=peak + 2].iter().sum();
        let purity = (2.0 * lobe / total).min(1.0);
        let (a, b, c) = (
            power[peak - 1].max(1e-12).ln(),
            peak_power.ln(),
            power[peak + 1].max(1e-12).ln(),
        );
        let curvature = a - 2.0 * b + c;
        let offset = if curvature < 0.0 {
            (0.5 * (a - c) / curvature).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let bin = peak as f32 + offset;
        let rival = power[FIRST_BIN..=LAST_BIN]
            .iter()
            .enumerate()
            .map(|(i, &p)| (i + FIRST_BIN, p))
            .filter(|&(k, _)| {
                let k = k as f32;
                (k - bin).abs() > 3.0 && (k - 2.0 * bin).abs() > 2.0 && (k - 3.0 * bin).abs() > 2.0
            })
            .map(|(_, p)| p)
            .fold(0.0f32, f32::max);
        let rival_db = if rival > 0.0 {
            10.0 * (rival / peak_power).log10()
        } else {
            -120.0
        };
        TonePeak {
            freq_hz: bin * BIN_HZ,
            purity,
            rival_db,
            ..silent
        }
    }

    /// The radix-2 decimation-in-time stages of a 128-point FFT on
    /// bit-reversed input (its twiddles are every other one of the 256-point
    /// tables).
    fn butterflies(&self, re: &mut [f32; HALF], im: &mut [f32; HALF]) {
        let mut len = 2;
        while len <= HALF {
            let half = len / 2;
            let step = WINDOW / len;
            for start in (0..HALF).step_by(len) {
                for k in 0..half {
                    let (wr, wi) = (self.cos[k * step], self.sin[k * step]);
                    let (a, b) = (start + k, start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_signals::{vowel, Noise, VOWELS};
    use crate::tone::ToneGenerator;

    fn peaks(samples: &[i16]) -> Vec<TonePeak> {
        let mut a = ToneAnalyzer::default();
        samples.iter().filter_map(|&s| a.push(s)).collect()
    }

    #[test]
    fn a_tone_is_pure_and_measured_exactly() {
        for f in [350.0, 440.0, 1000.0, 1100.0, 1400.0, 2100.0] {
            let p = peaks(&ToneGenerator::sine(f, -20.0).take(1600));
            assert_eq!(p.len(), 20);
            for p in &p[3..] {
                assert!((p.freq_hz - f as f32).abs() < 2.0, "{f}: {p:?}");
                assert!(p.purity > 0.99, "{f}: {p:?}");
                assert!(p.rival_db < -40.0, "{f}: {p:?}");
                assert_eq!(p.end % HOP as u64, 0);
            }
        }
    }

    #[test]
    fn quiet_windows_are_not_analysed() {
        let p = peaks(&ToneGenerator::sine(1000.0, -50.0).take(1600));
        assert!(p
            .iter()
            .all(|p| p.purity == 0.0 && p.level_dbov < ANALYSIS_FLOOR_DBOV));
    }

    #[test]
    fn noise_dtmf_and_vowels_are_not_lone_tones() {
        let noise = Noise::new(3).samples(1600, -20.0);
        assert!(peaks(&noise).iter().all(|p| p.purity < 0.2));
        let dtmf = ToneGenerator::dtmf('5', -10.0).expect("digit").take(1600);
        assert!(peaks(&dtmf)[3..]
            .iter()
            .all(|p| p.purity < 0.6 && p.rival_db > -3.0));
        for formants in &VOWELS {
            for f0 in [100.0, 150.0, 200.0, 250.0] {
                let v = vowel(f0, f0, formants, 1600, -20.0);
                // A low voice's fundamental may stand alone; beeps are above 350 Hz.
                for p in peaks(&v)[3..].iter().filter(|p| p.freq_hz >= 350.0) {
                    assert!(
                        p.rival_db > -25.0 || p.purity < 0.8,
                        "{f0} {formants:?}: {p:?}"
                    );
                }
            }
        }
    }
}
