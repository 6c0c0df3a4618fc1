//! Pitch-preserving time-scale modification of speech (WSOLA), for Rayo's
//! `speed-up` / `speed-down` output commands.
//!
//! WSOLA (waveform-similarity overlap-add) rebuilds the signal from 30 ms
//! Hann-windowed segments of the input, overlapped by half, with the output
//! advancing [`HOP`] samples per segment and the input about `HOP × speed`.
//! Each segment's input position is moved by up to ±[`TOLERANCE`] samples
//! (8 ms, more than one pitch period of a voice above 125 Hz and as much as
//! can be spared for lower ones) to where it best continues the previous
//! segment: the position whose first half correlates best with what
//! naturally followed the previous segment. The cross-fades then join
//! waveforms that are in phase, so pitch and timbre are kept and no clicks
//! are added; only the number of pitch periods changes.
//!
//! **How a speed step is done.** A step multiplies the speed by
//! [`SPEED_STEP_UP`] (1.25) for `speed-up` or [`SPEED_STEP_DOWN`] (0.8) for
//! `speed-down`, clamped to [`MIN_SPEED`]..=[`MAX_SPEED`] (see
//! [`step_speed`]); from normal speed the steps reach 1.25, 1.56, 1.95, 2.0
//! and 0.8, 0.64, 0.51, 0.5. The server keeps the original (unstretched)
//! prompt and its position in it; on a step it stretches the part not yet
//! played, `original[position..]`, at the new speed with [`time_stretch`] and
//! plays that from its start. Stretching always from the original means
//! steps never compound artefacts, and going back to 1.0 plays the original
//! samples. The position in the original advances by `speed` samples per
//! sample played.
//!
//! [`time_stretch`] works on a whole buffer and allocates its result: about
//! 5–10 ms of CPU for 10 s of audio, so a server stretches long prompts off
//! its media threads and swaps the result in when ready.

/// Output samples per segment advance (15 ms).
pub const HOP: usize = 120;
/// Segment length: two hops, a 30 ms Hann window.
pub const SEGMENT: usize = 2 * HOP;
/// Largest shift of a segment from its nominal input position, samples.
pub const TOLERANCE: usize = 64;
/// Lowest speed [`time_stretch`] applies.
pub const MIN_SPEED: f32 = 0.5;
/// Highest speed [`time_stretch`] applies.
pub const MAX_SPEED: f32 = 2.0;
/// Speed factor of one `speed-up` step.
pub const SPEED_STEP_UP: f32 = 1.25;
/// Speed factor of one `speed-down` step.
pub const SPEED_STEP_DOWN: f32 = 0.8;

/// The speed after one `speed-up` (`up`) or `speed-down` step from `speed`.
pub fn step_speed(speed: f32, up: bool) -> f32 {
    let factor = if up { SPEED_STEP_UP } else { SPEED_STEP_DOWN };
    let next = clamp_speed(speed) * factor;
    // Steps back towards normal speed land on 1.0 exactly (1.25 × 0.8 = 1).
    if (next - 1.0).abs() < 1e-3 {
        1.0
    } else {
        next.clamp(MIN_SPEED, MAX_SPEED)
    }
}

fn clamp_speed(speed: f32) -> f32 {
    if speed.is_finite() {
        speed.clamp(MIN_SPEED, MAX_SPEED)
    } else {
        1.0
    }
}

/// `samples` played at `speed` (clamped to 0.5–2.0; a non-finite speed is 1)
/// with pitch kept: about `len / speed` samples.
///
/// Input shorter than one segment (30 ms) is cut or padded with silence to
/// that length instead, since it holds no pitch period to repeat or drop.
pub fn time_stretch(samples: &[i16], speed: f32) -> Vec<i16> {
    let speed = clamp_speed(speed);
    let out_len = (samples.len() as f64 / f64::from(speed)).round() as usize;
    if speed == 1.0 {
        return samples.to_vec();
    }
    if samples.len() < SEGMENT {
        let mut out = samples[..out_len.min(samples.len())].to_vec();
        out.resize(out_len, 0);
        return out;
    }
    let window: Vec<f32> = (0..SEGMENT)
        .map(|n| {
            // Periodic Hann: two of them half a window apart sum to one.
            let x = std::f32::consts::PI * n as f32 / SEGMENT as f32;
            x.sin() * x.sin()
        })
        .collect();
    // The input with a segment of silence after it, so a segment starting
    // near the end reads zeros rather than past the end.
    let input: Vec<f32> = samples
        .iter()
        .map(|&s| f32::from(s))
        .chain(std::iter::repeat_n(0.0, SEGMENT + TOLERANCE))
        .collect();
    let last_start = samples.len() - 1;
    let mut acc = vec![0.0f32; out_len + SEGMENT];
    let mut weight = vec![0.0f32; out_len + SEGMENT];
    let mut previous = 0usize;
    let mut k = 0usize;
    while k * HOP < out_len {
        let nominal = ((k * HOP) as f64 * f64::from(speed)).round() as usize;
        let start = if k == 0 {
            0
        } else {
            let template = &input[previous + HOP..previous + SEGMENT];
            best_match(&input, template, nominal.min(last_start))
        };
        let out_start = k * HOP;
        for (n, &w) in window.iter().enumerate() {
            acc[out_start + n] += w * input[start + n];
            weight[out_start + n] += w;
        }
        previous = start;
        k += 1;
    }
    acc.iter()
        .zip(&weight)
        .take(out_len)
        .map(|(&a, &w)| {
            let v = if w > 1e-6 { a / w } else { 0.0 };
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// The start within ±[`TOLERANCE`] of `nominal` whose first half-segment
/// best matches `template` (normalised cross-correlation).
fn best_match(input: &[f32], template: &[f32], nominal: usize) -> usize {
    let lo = nominal.saturating_sub(TOLERANCE);
    let hi = nominal + TOLERANCE;
    let mut best = nominal;
    let mut best_score = f32::NEG_INFINITY;
    for start in lo..=hi {
        let candidate = &input[start..start + template.len()];
        let (mut dot, mut energy) = (0.0f32, 0.0f32);
        for (&a, &b) in candidate.iter().zip(template) {
            dot += a * b;
            energy += a * a;
        }
        // dot / √energy ranks like the normalised correlation; silence scores 0.
        let score = if energy > 0.0 {
            dot / energy.sqrt()
        } else {
            0.0
        };
        if score > best_score {
            best_score = score;
            best = start;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::Goertzel;
    use crate::test_signals::{vowel, VOWELS};
    use crate::tone::ToneGenerator;

    fn powers(block: &[i16], freqs: [f64; 3]) -> [f32; 3] {
        let x: Vec<f32> = block.iter().map(|&s| f32::from(s)).collect();
        freqs.map(|f| Goertzel::new(f, 8000.0).power(&x))
    }

    #[test]
    fn length_follows_speed() {
        let input = vowel(110.0, 190.0, &VOWELS[0], 24_000, -20.0);
        for speed in [0.5f32, 0.64, 0.8, 1.25, 1.5625, 2.0] {
            let out = time_stretch(&input, speed);
            let expected = input.len() as f64 / f64::from(speed);
            let error = (out.len() as f64 / expected - 1.0).abs();
            assert!(error < 0.01, "{speed}: {} vs {expected}", out.len());
        }
        assert_eq!(time_stretch(&input, 1.0), input);
        assert_eq!(time_stretch(&input, 7.0).len(), 12_000);
        assert_eq!(time_stretch(&input, f32::NAN), input);
        assert_eq!(time_stretch(&[], 2.0), Vec::<i16>::new());
        assert_eq!(time_stretch(&[5; 100], 2.0), vec![5; 50]);
        assert_eq!(time_stretch(&[5; 100], 0.5).len(), 200);
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_level() {
        let input = ToneGenerator::sine(1000.0, -10.0).take(16_000);
        for speed in [0.5f32, 0.8, 1.25, 2.0] {
            let out = time_stretch(&input, speed);
            // Every 20 ms block away from the ends: all the energy at 1 kHz.
            for block in out[160..out.len() - 160].chunks_exact(160) {
                let [on, below, above] = powers(block, [1000.0, 950.0, 1050.0]);
                assert!(
                    on > 20.0 * below.max(above),
                    "{speed}: {on} {below} {above}"
                );
                let energy: f32 = block.iter().map(|&s| f32::from(s).powi(2)).sum();
                let purity = 2.0 * on / (160.0 * energy);
                assert!(purity > 0.97, "{speed}: purity {purity}");
                let level = crate::gain::level_dbov(block);
                assert!((level + 16.18).abs() < 0.5, "{speed}: {level}");
            }
        }
    }

    #[test]
    fn no_clicks_on_a_sine() {
        let amplitude = crate::tone::dbm0_to_amplitude(-6.0);
        // The largest step a 300 Hz sine takes between samples.
        let max_step = amplitude * (std::f64::consts::TAU * 300.0 / 8000.0);
        let input = ToneGenerator::sine(300.0, -6.0).take(12_000);
        for speed in [0.5f32, 0.8, 1.25, 1.6, 2.0] {
            let out = time_stretch(&input, speed);
            let jump = out
                .windows(2)
                .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
                .max()
                .unwrap_or(0);
            assert!(
                f64::from(jump) < max_step * 1.1,
                "{speed}: {jump} vs {max_step}"
            );
        }
    }

    /// The period (samples) with the strongest normalised autocorrelation
    /// between 2.5 and 12.5 ms.
    fn pitch_period(block: &[i16]) -> usize {
        let x: Vec<f64> = block.iter().map(|&s| f64::from(s)).collect();
        (20..100)
            .map(|lag| {
                let dot: f64 = x.iter().zip(&x[lag..]).map(|(a, b)| a * b).sum();
                (lag, dot / (x.len() - lag) as f64)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(lag, _)| lag)
            .unwrap_or(0)
    }

    #[test]
    fn a_voice_keeps_its_pitch() {
        // 160 Hz: a period of 50 samples.
        let input = vowel(160.0, 160.0, &VOWELS[4], 16_000, -20.0);
        assert_eq!(pitch_period(&input[4000..4800]), 50);
        for speed in [0.5f32, 0.8, 1.25, 2.0] {
            let out = time_stretch(&input, speed);
            for block in out[800..out.len() - 800].chunks_exact(800) {
                assert_eq!(pitch_period(block), 50, "{speed}");
            }
        }
    }

    #[test]
    fn speed_steps() {
        let mut s = 1.0;
        let mut ups = Vec::new();
        for _ in 0..5 {
            s = step_speed(s, true);
            ups.push(s);
        }
        assert_eq!(ups[..2], [1.25, 1.5625]);
        assert_eq!(ups[3..], [2.0, 2.0]);
        let mut s = 1.0;
        for _ in 0..5 {
            s = step_speed(s, false);
        }
        assert_eq!(s, 0.5);
        assert_eq!(step_speed(step_speed(1.0, true), false), 1.0);
        assert_eq!(step_speed(step_speed(1.0, false), true), 1.0);
    }
}
