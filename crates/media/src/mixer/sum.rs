//! The arithmetic of one mix: choosing the loudest speakers, fading a
//! speaker in or out over a frame, and soft clipping a sum back to 16 bits.

use super::participant::FRAME;

/// Samples below this magnitude pass unchanged; above it the sum is
/// compressed smoothly towards full scale instead of wrapping or clipping hard.
pub const SOFT_CLIP_KNEE: f32 = 24_576.0;

const HEADROOM: f32 = 32_767.0 - SOFT_CLIP_KNEE;

/// A sum sample as a 16-bit sample: linear up to [`SOFT_CLIP_KNEE`], then a
/// `tanh` curve that approaches ±32,767 (reached only by huge sums).
#[inline]
pub fn soft_clip(x: f32) -> i16 {
    let magnitude = x.abs();
    let y = if magnitude <= SOFT_CLIP_KNEE {
        magnitude
    } else {
        SOFT_CLIP_KNEE + HEADROOM * ((magnitude - SOFT_CLIP_KNEE) / HEADROOM).tanh()
    };
    // `y` is non-negative: adding ½ and truncating rounds it (without a libm
    // call), and `as` saturates.
    let rounded = (y + 0.5) as i16;
    if x < 0.0 {
        -rounded
    } else {
        rounded
    }
}

/// Soft-clips a whole frame; a frame whose peak is below the knee (the usual
/// case) is only rounded, in a loop the compiler vectorises.
pub fn soft_clip_frame(sum: &[f32; FRAME], out: &mut [i16; FRAME]) {
    let peak = sum.iter().fold(0.0f32, |peak, &x| peak.max(x.abs()));
    if peak <= SOFT_CLIP_KNEE {
        for (o, &x) in out.iter_mut().zip(sum) {
            *o = (x + 0.5f32.copysign(x)) as i16;
        }
    } else {
        for (o, &x) in out.iter_mut().zip(sum) {
            *o = soft_clip(x);
        }
    }
}

/// Soft-clips `total − own` (a listener's mix without its own voice).
pub fn soft_clip_minus(total: &[f32; FRAME], own: &[f32; FRAME], out: &mut [i16; FRAME]) {
    let mut difference = [0.0f32; FRAME];
    for ((d, &t), &c) in difference.iter_mut().zip(total).zip(own) {
        *d = t - c;
    }
    soft_clip_frame(&difference, out);
}

/// `frame` scaled by a gain going linearly from `from` to `to` across the
/// frame (the last sample gets `to`), written to `out`.
pub fn ramp(frame: &[i16; FRAME], from: f32, to: f32, out: &mut [f32; FRAME]) {
    if from == to {
        for (o, &s) in out.iter_mut().zip(frame) {
            *o = f32::from(s) * to;
        }
        return;
    }
    let step = (to - from) / FRAME as f32;
    for (k, (o, &s)) in out.iter_mut().zip(frame).enumerate() {
        *o = f32::from(s) * (from + step * (k + 1) as f32);
    }
}

/// Keeps the `max` highest-scoring candidates in `chosen`, best first: each
/// offer costs at most `max` comparisons, so choosing among `n` is O(n·max).
pub fn offer(chosen: &mut Vec<(usize, f32)>, max: usize, index: usize, score: f32) {
    if max == 0 {
        return;
    }
    if chosen.len() == max {
        match chosen.last() {
            Some(&(_, worst)) if worst >= score => return,
            _ => {
                chosen.pop();
            }
        }
    }
    let at = chosen
        .iter()
        .position(|&(_, s)| s < score)
        .unwrap_or(chosen.len());
    chosen.insert(at, (index, score));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_clip_is_identity_below_the_knee_and_bounded_above() {
        for x in [-24_576.0f32, -1000.5, -1000.4, 0.0, 1.0, 12_345.0, 24_576.0] {
            assert_eq!(soft_clip(x), x.round() as i16);
        }
        let mut frame = [0.0f32; FRAME];
        let mut out = [0i16; FRAME];
        for (k, x) in frame.iter_mut().enumerate() {
            *x = (k as f32 - 80.0) * 307.3;
        }
        for peak in [1.0, 2.0] {
            let scaled = frame.map(|x| x * peak);
            soft_clip_frame(&scaled, &mut out);
            for (&o, &x) in out.iter().zip(&scaled) {
                assert_eq!(o, soft_clip(x), "fast and slow paths agree at {x}");
            }
        }
        let mut last = soft_clip(SOFT_CLIP_KNEE);
        for step in 1..200 {
            let y = soft_clip(SOFT_CLIP_KNEE + step as f32 * 500.0);
            assert!(y >= last, "monotonic");
            last = y;
        }
        assert_eq!(soft_clip(1e9), 32_767);
        assert_eq!(soft_clip(-1e9), -32_767);
        assert_eq!(soft_clip(-30_000.0), -soft_clip(30_000.0));
    }

    #[test]
    fn ramp_ends_on_its_target() {
        let frame = [1000i16; FRAME];
        let mut out = [0.0f32; FRAME];
        ramp(&frame, 0.0, 1.0, &mut out);
        assert!((out[0] - 1000.0 / FRAME as f32).abs() < 1e-3);
        assert!((out[FRAME - 1] - 1000.0).abs() < 1e-3);
        assert!(out.windows(2).all(|w| w[1] >= w[0]));
        ramp(&frame, 1.0, 0.0, &mut out);
        assert_eq!(out[FRAME - 1], 0.0);
        ramp(&frame, 1.0, 1.0, &mut out);
        assert!(out.iter().all(|&x| x == 1000.0));
    }

    #[test]
    fn offer_keeps_the_best_few() {
        let mut chosen = Vec::new();
        for (i, score) in [5.0, 1.0, 9.0, 3.0, 7.0, 2.0].into_iter().enumerate() {
            offer(&mut chosen, 3, i, score);
        }
        assert_eq!(chosen, vec![(2, 9.0), (4, 7.0), (0, 5.0)]);
        offer(&mut chosen, 0, 9, 100.0);
        assert_eq!(chosen.len(), 3);
    }
}
