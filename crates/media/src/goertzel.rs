//! The Goertzel algorithm: the power of one DFT bin over a block of samples,
//! at any frequency (not only integer bins), with one multiply-add per sample.
//!
//! For a block `x[0..N]` and ω = 2πf/fs the recurrence
//! `s[n] = x[n] + 2cos(ω)·s[n−1] − s[n−2]` ends with
//! `|X(ω)|² = s[N−1]² + s[N−2]² − 2cos(ω)·s[N−1]·s[N−2]`.
//! A sine of peak `A` exactly at `f` gives `|X|² ≈ (A·N/2)²`; one that is
//! δ Hz away loses `sinc²(δ·N/fs)` of that (the rectangular window's main
//! lobe, ±fs/N wide), which is what makes frequency-deviation checks possible.

/// A Goertzel filter tuned to one frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goertzel {
    coeff: f32,
}

impl Goertzel {
    /// A filter for `frequency` Hz at `sample_rate` Hz.
    pub fn new(frequency: f64, sample_rate: f64) -> Self {
        let omega = std::f64::consts::TAU * frequency / sample_rate;
        Self {
            coeff: (2.0 * omega.cos()) as f32,
        }
    }

    /// `|X(ω)|²` of `block`.
    pub fn power(&self, block: &[f32]) -> f32 {
        let (mut s1, mut s2) = (0.0f32, 0.0f32);
        for &x in block {
            let s = x + self.coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - self.coeff * s1 * s2
    }

    /// `|X(ω)|²` of `block` for several filters in one pass.
    ///
    /// Same result as calling [`Goertzel::power`] for each, but the
    /// independent recurrences run side by side, which is several times faster.
    pub fn powers<const K: usize>(filters: &[Goertzel; K], block: &[f32]) -> [f32; K] {
        let coeffs = filters.map(|f| f.coeff);
        let (mut s1, mut s2) = ([0.0f32; K], [0.0f32; K]);
        for &x in block {
            for k in 0..K {
                let s = x + coeffs[k] * s1[k] - s2[k];
                s2[k] = s1[k];
                s1[k] = s;
            }
        }
        let mut out = [0.0f32; K];
        for k in 0..K {
            out[k] = s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (amplitude * (std::f64::consts::TAU * freq * n as f64 / 8000.0).sin()) as f32)
            .collect()
    }

    #[test]
    fn on_bin_power_is_half_n_amplitude_squared() {
        let block = sine(1000.0, 1000.0, 160); // 1000 Hz is bin 20 of 160
        let p = Goertzel::new(1000.0, 8000.0).power(&block);
        let expected = (1000.0 * 160.0 / 2.0f32).powi(2);
        assert!((p / expected - 1.0).abs() < 1e-3, "{p} vs {expected}");
    }

    #[test]
    fn off_frequency_follows_sinc() {
        let block = sine(697.0 * 1.035, 1000.0, 102);
        let on = Goertzel::new(697.0, 8000.0).power(&block);
        let exact = (1000.0 * 102.0 / 2.0f32).powi(2);
        let delta = 697.0 * 0.035 * 102.0 / 8000.0;
        let sinc = (std::f64::consts::PI * delta).sin() / (std::f64::consts::PI * delta);
        assert!(((on / exact) as f64 - sinc * sinc).abs() < 0.03);
        let far = Goertzel::new(1209.0, 8000.0).power(&block);
        assert!(far < exact * 0.01);
        let both = Goertzel::powers(
            &[Goertzel::new(697.0, 8000.0), Goertzel::new(1209.0, 8000.0)],
            &block,
        );
        assert_eq!(both, [on, far]);
    }
}
