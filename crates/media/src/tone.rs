//! Sine and multi-tone generators producing 16-bit samples at a level in dBm0.
//!
//! Level reference: ITU-T G.711 puts the maximum µ-law sine (the largest
//! representable full-scale sine) at +3.17 dBm0, and A-law's at +3.14 dBm0.
//! We take the 16-bit full scale (peak 32768) as that maximum for both laws,
//! so a 0 dBm0 sine has a peak of `32768 × 10^(−3.17/20)` ≈ 22,750 and an
//! RMS of ≈ 16,087. The 0.03 dB between the laws is below anything we measure.
//!
//! DTMF levels are per frequency: a digit "at −25 dBm0 per tone" sums two
//! sines of that level, and a dual tone at 0 dBm0 *total* has −3.01 dBm0 per tone.

use std::f64::consts::TAU;

/// Level of a full-scale 16-bit sine, in dBm0 (G.711 µ-law).
pub const FULL_SCALE_DBM0: f64 = 3.17;

/// Peak amplitude (on the 16-bit scale) of a sine at `dbm0`.
pub fn dbm0_to_amplitude(dbm0: f64) -> f64 {
    32768.0 * 10f64.powf((dbm0 - FULL_SCALE_DBM0) / 20.0)
}

/// Level in dBm0 of a sine with peak `amplitude` on the 16-bit scale.
pub fn amplitude_to_dbm0(amplitude: f64) -> f64 {
    20.0 * (amplitude.max(1e-9) / 32768.0).log10() + FULL_SCALE_DBM0
}

/// Row and column frequencies (Hz) of a DTMF digit (`0`–`9`, `*`, `#`, `A`–`D`).
pub fn dtmf_frequencies(digit: char) -> Option<(f64, f64)> {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [&[u8; 4]; 4] = [b"123A", b"456B", b"789C", b"*0#D"];
    let d = digit.to_ascii_uppercase() as u32;
    for (r, keys) in KEYS.iter().enumerate() {
        for (c, &k) in keys.iter().enumerate() {
            if u32::from(k) == d {
                return Some((ROWS[r], COLS[c]));
            }
        }
    }
    None
}

#[derive(Debug, Clone, Copy)]
struct Component {
    phase: f64,
    step: f64,
    amplitude: f64,
}

/// A phase-continuous sum of sines: call [`ToneGenerator::fill`] repeatedly
/// to get one unbroken signal in blocks of any size.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    components: Vec<Component>,
    sample_rate: f64,
}

impl ToneGenerator {
    /// A silent generator at `sample_rate` Hz; add sines with [`ToneGenerator::with_sine`].
    pub fn new(sample_rate: u32) -> Self {
        Self {
            components: Vec::new(),
            sample_rate: f64::from(sample_rate.max(1)),
        }
    }

    /// Adds a sine of `frequency` Hz at `dbm0`.
    pub fn with_sine(mut self, frequency: f64, dbm0: f64) -> Self {
        self.components.push(Component {
            phase: 0.0,
            step: TAU * frequency / self.sample_rate,
            amplitude: dbm0_to_amplitude(dbm0),
        });
        self
    }

    /// One sine at 8 kHz.
    pub fn sine(frequency: f64, dbm0: f64) -> Self {
        Self::new(8000).with_sine(frequency, dbm0)
    }

    /// Two sines at 8 kHz, each at `dbm0_each`.
    pub fn dual(f1: f64, f2: f64, dbm0_each: f64) -> Self {
        Self::new(8000)
            .with_sine(f1, dbm0_each)
            .with_sine(f2, dbm0_each)
    }

    /// The DTMF dual tone of `digit` at 8 kHz, each frequency at `dbm0_each`.
    pub fn dtmf(digit: char, dbm0_each: f64) -> Option<Self> {
        let (row, col) = dtmf_frequencies(digit)?;
        Some(Self::dual(row, col, dbm0_each))
    }

    /// Writes the next `out.len()` samples, saturating at the 16-bit range.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            let mut v = 0.0;
            for c in &mut self.components {
                v += c.amplitude * c.phase.sin();
                c.phase = (c.phase + c.step) % TAU;
            }
            *sample = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    /// The next `len` samples as a new vector.
    pub fn take(&mut self, len: usize) -> Vec<i16> {
        let mut out = vec![0; len];
        self.fill(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rms(samples: &[i16]) -> f64 {
        let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        (sum / samples.len() as f64).sqrt()
    }

    #[test]
    fn zero_dbm0_is_3_17_db_below_full_scale() {
        let a = dbm0_to_amplitude(0.0);
        assert!((a - 22_750.0).abs() < 10.0, "{a}");
        assert!((amplitude_to_dbm0(a)).abs() < 1e-9);
        assert!((amplitude_to_dbm0(32768.0) - 3.17).abs() < 1e-9);
        let s = ToneGenerator::sine(1000.0, 0.0).take(8000);
        assert!((rms(&s) - a / 2f64.sqrt()).abs() < 5.0);
        let quiet = ToneGenerator::sine(1000.0, -20.0).take(8000);
        assert!((20.0 * (rms(&s) / rms(&quiet)).log10() - 20.0).abs() < 0.05);
    }

    #[test]
    fn blocks_are_phase_continuous() {
        let whole = ToneGenerator::dual(697.0, 1209.0, -10.0).take(480);
        let mut g = ToneGenerator::dual(697.0, 1209.0, -10.0);
        let mut parts = g.take(101);
        parts.extend(g.take(379));
        assert_eq!(whole, parts);
    }

    #[test]
    fn dtmf_table_and_saturation() {
        assert_eq!(dtmf_frequencies('5'), Some((770.0, 1336.0)));
        assert_eq!(dtmf_frequencies('d'), Some((941.0, 1633.0)));
        assert_eq!(dtmf_frequencies('*'), Some((941.0, 1209.0)));
        assert_eq!(dtmf_frequencies('E'), None);
        let loud = ToneGenerator::dual(697.0, 700.0, 6.0).take(800);
        assert!(loud.contains(&32767) || loud.contains(&-32768));
    }
}
