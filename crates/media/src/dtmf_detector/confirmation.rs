//! The checks a candidate digit must pass, on its last four windows, before
//! it is reported.
//!
//! The per-window checks of the detector are cheap and see one 12.75 ms
//! window at a time. A vowel whose formants sit on a row and a column
//! frequency, or two instruments playing F5 (698 Hz) and F♯6 (1480 Hz), can
//! pass them. What such signals do not share with a DTMF sender is
//! exactness: a sender's two tones hold their frequencies, carry all of the
//! signal but noise, and have no overtones. Once a candidate has won its
//! windows, these checks measure that:
//!
//! 1. **frequency**: each tone's frequency, from the phase advance of a
//!    Hann-windowed DFT bin from one window to the next (averaged over the
//!    three hops), is within [`MAX_DEVIATION`] of nominal;
//! 2. **steadiness**: it moves by at most [`MAX_DRIFT_HZ`] per hop (a voice
//!    gliding in pitch moves its harmonics more);
//! 3. **fit**: a least-squares fit of two sinusoids at the measured
//!    frequencies to the last window leaves at most [`MAX_RESIDUAL`] of its
//!    energy;
//! 4. **no other partials**: of what the fit leaves, at most
//!    [`MAX_STRUCTURED_RESIDUAL`] of the window's energy may be predictable
//!    by order-8 linear prediction. Noise is not predictable; the other
//!    harmonics of a voice or an instrument are. This is what separates a
//!    digit in noise 11 dB down (residual ≈ 5 %, prediction gain < 1.5 dB)
//!    from a vowel with two strong harmonics (residual 5–9 %, gain 4–9 dB);
//! 5. **no overtones**: in what the fit leaves, the second and third
//!    harmonic of the row tone and the second of the column tone are at least
//!    [`MIN_HARMONIC_MARGIN_DB`] below their tone (Q.23 asks a sender for
//!    20 dB; instruments have overtones 5–15 dB down).
//!
//! The checks need four windows wholly inside the burst, and a 40 ms burst
//! always has them. When the window before those, covered in part, also won,
//! the first attempt fails (that window's phase is off and the fit leaves
//! much) and the digit is confirmed one window later.
//!
//! The checks cost about 4 µs, as much as the per-window analysis of half a
//! dozen windows, but run only while an unreported candidate holds: once per
//! digit, and about 12 times a minute on the adversarial vowels of the tests.

use std::f64::consts::{PI, TAU};

use super::{HOP, WINDOW};

/// Samples the checks look at: four windows, one hop apart.
pub(super) const SPAN: usize = WINDOW + 3 * HOP;

/// Largest accepted deviation of a measured tone frequency from nominal
/// (Q.24: ±1.5 % must pass, ±3.5 % must not; the measurement is good to
/// about ±0.25 % in noise 9 dB down).
pub(super) const MAX_DEVIATION: f64 = 0.02;
/// Largest accepted change of a measured tone frequency per hop, Hz (noise
/// 9 dB below a tone moves the estimate by up to ~3.5 Hz).
pub(super) const MAX_DRIFT_HZ: f64 = 5.0;
/// Largest share of the last window's energy the two-tone fit may leave.
pub(super) const MAX_RESIDUAL: f64 = 0.1;
/// Largest share of the last window's energy that the fit may leave and
/// linear prediction still explain (partials rather than noise).
pub(super) const MAX_STRUCTURED_RESIDUAL: f64 = 0.02;
/// How far below its tone each checked harmonic must be, dB.
pub(super) const MIN_HARMONIC_MARGIN_DB: f64 = 15.0;

/// What the checks measured; [`Measurement::passes`] judges it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Measurement {
    /// Relative deviation of the row and the column tone from nominal.
    pub deviation: [f64; 2],
    /// Change of each per hop (slope over the three hops), Hz.
    pub drift: [f64; 2],
    /// Share of the last window's energy not explained by the two tones.
    pub residual: f64,
    /// Order-8 linear prediction gain of that remainder, dB.
    pub residual_prediction_db: f64,
    /// Strongest checked harmonic relative to its tone, dB.
    pub harmonic_db: f64,
}

impl Measurement {
    /// Share of the window's energy that the fit left and prediction explains.
    pub(super) fn structured_residual(&self) -> f64 {
        self.residual * (1.0 - 10f64.powf(-self.residual_prediction_db / 10.0))
    }

    /// Whether the pair is as exact as a DTMF sender makes it.
    pub(super) fn passes(&self) -> bool {
        self.deviation.iter().all(|d| d.abs() <= MAX_DEVIATION)
            && self.drift.iter().all(|d| d.abs() <= MAX_DRIFT_HZ)
            && self.residual <= MAX_RESIDUAL
            && self.structured_residual() <= MAX_STRUCTURED_RESIDUAL
            && self.harmonic_db <= -MIN_HARMONIC_MARGIN_DB
    }
}

/// The confirmation checks, with their window precomputed.
#[derive(Debug, Clone)]
pub(super) struct Confirmation {
    hann: [f32; WINDOW],
}

impl Default for Confirmation {
    fn default() -> Self {
        let mut hann = [0.0; WINDOW];
        for (n, w) in hann.iter_mut().enumerate() {
            *w = (PI * (n as f64 + 0.5) / WINDOW as f64).sin().powi(2) as f32;
        }
        Self { hann }
    }
}

impl Confirmation {
    /// Measures the tones `nominal` (row, column Hz) over the four windows of
    /// `span`; `None` for a silent or degenerate last window.
    pub(super) fn measure(&self, span: &[f32; SPAN], nominal: [f64; 2]) -> Option<Measurement> {
        let windows = [0, 1, 2, 3].map(|k| &span[k * HOP..k * HOP + WINDOW]);
        let mut freq = [0.0; 2];
        let mut deviation = [0.0; 2];
        let mut drift = [0.0; 2];
        for (k, &f) in nominal.iter().enumerate() {
            let bins = windows.map(|w| self.hann_bin(w, f));
            let hops = [0, 1, 2].map(|j| advance_frequency(bins[j], bins[j + 1], f));
            freq[k] = (hops[0] + hops[1] + hops[2]) / 3.0;
            deviation[k] = freq[k] / f - 1.0;
            drift[k] = (hops[2] - hops[0]) / 2.0;
        }
        let last = windows[3];
        let energy: f64 = last.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if energy <= 0.0 {
            return None;
        }
        let fit = TwoToneFit::new(last, freq)?;
        let mut harmonic_db = f64::NEG_INFINITY;
        for (tone, h) in [(0, 2.0), (0, 3.0), (1, 2.0)] {
            let tone_power = fit.bin_power[tone];
            if tone_power > 0.0 {
                let power = bin_power(&fit.residual, freq[tone] * h);
                harmonic_db = harmonic_db.max(10.0 * (power / tone_power).log10());
            }
        }
        Some(Measurement {
            deviation,
            drift,
            residual: fit.residual_energy / energy,
            residual_prediction_db: prediction_gain_db(&fit.residual),
            harmonic_db,
        })
    }

    /// The DFT of the Hann-windowed `block` at `freq`, times a phase factor
    /// that is the same for every block of this length.
    fn hann_bin(&self, block: &[f32], freq: f64) -> (f64, f64) {
        let omega = TAU * freq / 8000.0;
        let coeff = 2.0 * omega.cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for (&x, &w) in block.iter().zip(&self.hann) {
            let s = f64::from(x * w) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        // The Goertzel state gives y[N−1] = s1 − e^{−iω}·s2 = X(ω)·e^{iω(N−1)}.
        (s1 - omega.cos() * s2, omega.sin() * s2)
    }
}

/// The frequency near `nominal` whose advance over one hop turns the phase
/// of `earlier` into that of `later` (unambiguous within ±78 Hz).
fn advance_frequency(earlier: (f64, f64), later: (f64, f64), nominal: f64) -> f64 {
    // later · conj(earlier)
    let re = later.0 * earlier.0 + later.1 * earlier.1;
    let im = later.1 * earlier.0 - later.0 * earlier.1;
    let expected = TAU * nominal * HOP as f64 / 8000.0;
    let excess = (im.atan2(re) - expected + PI).rem_euclid(TAU) - PI;
    nominal + excess * 8000.0 / (TAU * HOP as f64)
}

/// `|X(f)|²` of `block` (rectangular window).
fn bin_power(block: &[f64], freq: f64) -> f64 {
    let coeff = 2.0 * (TAU * freq / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in block {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Order-8 linear prediction gain of `block` (autocorrelation method), dB.
fn prediction_gain_db(block: &[f64]) -> f64 {
    const ORDER: usize = 8;
    let mut r = [0.0f64; ORDER + 1];
    for (lag, r) in r.iter_mut().enumerate() {
        *r = block.iter().zip(&block[lag..]).map(|(a, b)| a * b).sum();
    }
    if r[0] <= 0.0 {
        return 0.0;
    }
    // Levinson–Durbin; `err` is the prediction error energy so far.
    let mut a = [0.0f64; ORDER + 1];
    let mut err = r[0];
    let floor = r[0] * 1e-9;
    for i in 1..=ORDER {
        let acc: f64 = (1..i).map(|j| a[j] * r[i - j]).sum();
        let k = (r[i] - acc) / err;
        let previous = a;
        a[i] = k;
        for j in 1..i {
            a[j] = previous[j] - k * previous[i - j];
        }
        err *= 1.0 - k * k;
        if err <= floor {
            break;
        }
    }
    10.0 * (r[0] / err.max(floor)).log10()
}

/// Least-squares fit of `a·cos + b·sin` at each of two frequencies to one window.
struct TwoToneFit {
    /// The window minus the fitted tones.
    residual: [f64; WINDOW],
    residual_energy: f64,
    /// Each fitted tone's `|X|²` as an on-frequency DFT bin sees it: `(A·N/2)²`.
    bin_power: [f64; 2],
}

impl TwoToneFit {
    /// `None` if the two frequencies are too close to tell apart.
    fn new(block: &[f32], freq: [f64; 2]) -> Option<Self> {
        // cos and sin of each tone, time centred on the window so that the
        // Gram matrix is well conditioned; rotated rather than recomputed.
        let mut basis = [[0.0f64; WINDOW]; 4];
        for (k, &f) in freq.iter().enumerate() {
            let omega = TAU * f / 8000.0;
            let (step_sin, step_cos) = omega.sin_cos();
            let (mut s, mut c) = (omega * -(WINDOW as f64 - 1.0) / 2.0).sin_cos();
            let (mut cos, mut sin) = ([0.0f64; WINDOW], [0.0f64; WINDOW]);
            for (cos, sin) in cos.iter_mut().zip(&mut sin) {
                (*cos, *sin) = (c, s);
                (c, s) = (c * step_cos - s * step_sin, s * step_cos + c * step_sin);
            }
            basis[2 * k] = cos;
            basis[2 * k + 1] = sin;
        }
        let mut gram = [[0.0f64; 4]; 4];
        let mut projections = [0.0f64; 4];
        for i in 0..4 {
            for j in i..4 {
                let g: f64 = basis[i].iter().zip(&basis[j]).map(|(a, b)| a * b).sum();
                gram[i][j] = g;
                gram[j][i] = g;
            }
            projections[i] = basis[i]
                .iter()
                .zip(block)
                .map(|(a, &x)| a * f64::from(x))
                .sum();
        }
        let coef = solve_positive_definite(gram, projections)?;
        let mut residual = [0.0f64; WINDOW];
        let mut residual_energy = 0.0;
        for (n, r) in residual.iter_mut().enumerate() {
            let fitted: f64 = (0..4).map(|i| coef[i] * basis[i][n]).sum();
            *r = f64::from(block[n]) - fitted;
            residual_energy += *r * *r;
        }
        let half_n = WINDOW as f64 / 2.0;
        let bin_power =
            [0, 1].map(|k| (coef[2 * k].powi(2) + coef[2 * k + 1].powi(2)) * half_n * half_n);
        Some(Self {
            residual,
            residual_energy,
            bin_power,
        })
    }
}

/// Solves `a·x = b` for symmetric positive definite `a` (Cholesky); `None`
/// if `a` is singular or nearly so.
fn solve_positive_definite(a: [[f64; 4]; 4], b: [f64; 4]) -> Option<[f64; 4]> {
    let mut l = [[0.0f64; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - sum;
                if d.is_nan() || d <= a[i][i] * 1e-9 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - sum) / l[j][j];
            }
        }
    }
    let mut y = [0.0f64; 4];
    for i in 0..4 {
        let sum: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
        y[i] = (b[i] - sum) / l[i][i];
    }
    let mut x = [0.0f64; 4];
    for i in (0..4).rev() {
        let sum: f64 = (i + 1..4).map(|k| l[k][i] * x[k]).sum();
        x[i] = (y[i] - sum) / l[i][i];
    }
    Some(x)
}
