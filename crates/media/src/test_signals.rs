//! Generated test signals shared by the unit tests of the detectors:
//! deterministic noise and synthetic vowels (harmonics of a gliding pitch
//! shaped by formants), the material of the talk-off tests.

/// A deterministic xorshift generator for test noise.
pub struct Noise(u64);

impl Noise {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// Uniform in [-1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// `len` samples of white noise at `dbov`.
    pub fn samples(&mut self, len: usize, dbov: f64) -> Vec<i16> {
        // Uniform noise in [-a, a) has RMS a/√3.
        let a = 32768.0 * 10f64.powf(dbov / 20.0) * 3f64.sqrt();
        (0..len).map(|_| (self.next() * a).round() as i16).collect()
    }
}

/// A synthetic vowel: harmonics of a pitch gliding from `f0_start` to
/// `f0_end`, each weighted by formant resonances, scaled to `dbov`.
pub fn vowel(
    f0_start: f64,
    f0_end: f64,
    formants: &[(f64, f64)],
    len: usize,
    dbov: f64,
) -> Vec<i16> {
    use std::f64::consts::TAU;
    let mut phase = 0.0f64;
    let mut raw = Vec::with_capacity(len);
    for n in 0..len {
        let f0 = f0_start + (f0_end - f0_start) * n as f64 / len as f64;
        phase += TAU * f0 / 8000.0;
        let mut v = 0.0;
        let mut h = 1.0;
        while h * f0 < 3600.0 {
            let f = h * f0;
            // Sum of resonance peaks (bandwidth 100 Hz) over a −6 dB/octave glottal tilt.
            let weight: f64 = formants
                .iter()
                .map(|&(fc, gain)| gain / (1.0 + ((f - fc) / 50.0).powi(2)))
                .sum::<f64>()
                / h;
            v += weight * (h * phase).sin();
            h += 1.0;
        }
        raw.push(v);
    }
    let energy: f64 = raw.iter().map(|v| v * v).sum::<f64>() / len.max(1) as f64;
    let target = 32768.0 * 10f64.powf(dbov / 20.0);
    let k = if energy > 0.0 {
        target / energy.sqrt()
    } else {
        0.0
    };
    raw.iter()
        .map(|v| (v * k).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Vowel formants (F1, F2, F3 with relative gains): /a/, /i/, /u/, /e/, /o/.
pub const VOWELS: [[(f64, f64); 3]; 5] = [
    [(730.0, 1.0), (1090.0, 0.5), (2440.0, 0.2)],
    [(270.0, 1.0), (2290.0, 0.3), (3010.0, 0.2)],
    [(300.0, 1.0), (870.0, 0.4), (2240.0, 0.1)],
    [(530.0, 1.0), (1840.0, 0.4), (2480.0, 0.2)],
    [(570.0, 1.0), (840.0, 0.6), (2410.0, 0.1)],
];
