//! Volume: gain in dB on linear samples, and per-law code tables that scale
//! pre-encoded G.711 frames without decoding them.
//!
//! Rayo's `volume-up` / `volume-down` move an output's gain by
//! [`VOLUME_STEP_DB`] (3 dB, about 1.41× in amplitude) per command, clamped to
//! [`MIN_GAIN_DB`]..=[`MAX_GAIN_DB`]. A cached prompt is stored encoded, so the
//! media path applies the gain with a [`GainTable`]: 256 entries per law,
//! each code mapped to the code nearest its decoded value times the gain.
//! That costs one lookup per byte, the same as transcoding, and the result is
//! exactly what decode → gain → encode would give.
//!
//! Samples that would exceed the 16-bit range saturate at it (hard clip):
//! wrapping would turn a loud peak into a full-scale click of the other sign.

use crate::g711;

/// Gain change of one `volume-up` or `volume-down` command, dB.
pub const VOLUME_STEP_DB: f32 = 3.0;
/// Lowest gain a volume command may reach, dB (quieter is inaudible on a phone line).
pub const MIN_GAIN_DB: f32 = -24.0;
/// Highest gain a volume command may reach, dB (louder mostly clips).
pub const MAX_GAIN_DB: f32 = 12.0;

/// The gain after one volume command from `db`: up or down by
/// [`VOLUME_STEP_DB`], clamped to the allowed range.
pub fn step_gain_db(db: f32, up: bool) -> f32 {
    let step = if up { VOLUME_STEP_DB } else { -VOLUME_STEP_DB };
    (db + step).clamp(MIN_GAIN_DB, MAX_GAIN_DB)
}

/// Linear amplitude factor of a gain in dB (a non-finite gain means unity).
pub fn db_to_factor(db: f32) -> f32 {
    if db.is_finite() {
        10f32.powf(db / 20.0)
    } else {
        1.0
    }
}

/// Scales `samples` in place by `db`, saturating at the 16-bit range.
pub fn apply_gain_db(samples: &mut [i16], db: f32) {
    let factor = db_to_factor(db);
    if factor == 1.0 {
        return;
    }
    for s in samples {
        *s = scale(*s, factor);
    }
}

/// One sample times `factor`, rounded and saturated.
fn scale(sample: i16, factor: f32) -> i16 {
    (f32::from(sample) * factor)
        .round()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

/// A G.711 code → code map that applies a fixed gain to encoded audio.
#[derive(Clone, PartialEq, Eq)]
pub struct GainTable {
    map: [u8; 256],
}

impl std::fmt::Debug for GainTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GainTable").finish_non_exhaustive()
    }
}

impl GainTable {
    /// The table for µ-law (PCMU) codes at `db`.
    pub fn ulaw(db: f32) -> Self {
        Self::build(db, g711::ulaw_decode, g711::ulaw_encode)
    }

    /// The table for A-law (PCMA) codes at `db`.
    pub fn alaw(db: f32) -> Self {
        Self::build(db, g711::alaw_decode, g711::alaw_encode)
    }

    fn build(db: f32, decode: fn(u8) -> i16, encode: fn(i16) -> u8) -> Self {
        let factor = db_to_factor(db);
        let mut map = [0u8; 256];
        for (code, out) in (0..=255u8).zip(map.iter_mut()) {
            *out = if factor == 1.0 {
                code
            } else {
                encode(scale(decode(code), factor))
            };
        }
        Self { map }
    }

    /// The code that `code` becomes.
    #[inline]
    pub fn map(&self, code: u8) -> u8 {
        self.map[usize::from(code)]
    }

    /// Applies the gain to an encoded frame in place.
    pub fn apply(&self, frame: &mut [u8]) {
        for c in frame {
            *c = self.map[usize::from(*c)];
        }
    }
}

/// Level of `samples` in dBov: RMS relative to a full-scale square wave
/// (a full-scale sine is −3.01 dBov); silence gives −127, RFC 6464's floor.
pub fn level_dbov(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return MIN_DBOV;
    }
    let energy: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    energy_to_dbov(energy, samples.len())
}

/// The lowest level [`level_dbov`] reports, dBov.
pub const MIN_DBOV: f32 = -127.0;

/// dBov of `len` samples whose squares sum to `energy`.
pub(crate) fn energy_to_dbov(energy: f64, len: usize) -> f32 {
    if energy <= 0.0 || len == 0 {
        return MIN_DBOV;
    }
    let mean = energy / len as f64 / (32768.0 * 32768.0);
    ((10.0 * mean.log10()) as f32).max(MIN_DBOV)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::ToneGenerator;

    fn rms(samples: &[i16]) -> f64 {
        let e: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (e / samples.len() as f64).sqrt()
    }

    #[test]
    fn six_db_roughly_doubles_rms() {
        let original = ToneGenerator::sine(440.0, -20.0).take(1600);
        let mut louder = original.clone();
        apply_gain_db(&mut louder, 6.0);
        let ratio = rms(&louder) / rms(&original);
        assert!((ratio - 1.995).abs() < 0.01, "{ratio}");
        let mut quieter = original.clone();
        apply_gain_db(&mut quieter, -VOLUME_STEP_DB);
        let ratio = rms(&quieter) / rms(&original);
        assert!((ratio - 0.708).abs() < 0.01, "{ratio}");
    }

    #[test]
    fn clipping_saturates_instead_of_wrapping() {
        let mut s = [30_000i16, -30_000, 20_000, -20_000, 100];
        apply_gain_db(&mut s, 12.0);
        assert_eq!(s[..4], [32767, -32768, 32767, -32768]);
        assert_eq!(s[4], 398);
        let mut s = [i16::MIN, i16::MAX];
        apply_gain_db(&mut s, 40.0);
        assert_eq!(s, [i16::MIN, i16::MAX]);
        let mut s = [1234i16];
        apply_gain_db(&mut s, f32::NAN);
        assert_eq!(s, [1234]);
    }

    #[test]
    fn tables_equal_decode_gain_encode() {
        let unity = GainTable::alaw(0.0);
        assert!(
            (0..=255u8).all(|c| unity.map(c) == c),
            "0 dB leaves codes alone"
        );
        for db in [-9.0f32, -3.0, 3.0, 6.0, 12.0] {
            let (u, a) = (GainTable::ulaw(db), GainTable::alaw(db));
            for code in 0..=255u8 {
                let mut s = [g711::ulaw_decode(code)];
                apply_gain_db(&mut s, db);
                assert_eq!(u.map(code), g711::ulaw_encode(s[0]), "µ {db} {code}");
                let mut s = [g711::alaw_decode(code)];
                apply_gain_db(&mut s, db);
                assert_eq!(a.map(code), g711::alaw_encode(s[0]), "A {db} {code}");
            }
        }
    }

    #[test]
    fn table_raises_an_encoded_frame_level() {
        let tone = ToneGenerator::sine(1000.0, -20.0).take(160);
        let mut frame = [0u8; 160];
        g711::encode_ulaw(&tone, &mut frame);
        let mut decoded = [0i16; 160];
        g711::decode_ulaw(&frame, &mut decoded);
        let before = level_dbov(&decoded);
        GainTable::ulaw(VOLUME_STEP_DB * 2.0).apply(&mut frame);
        g711::decode_ulaw(&frame, &mut decoded);
        let after = level_dbov(&decoded);
        assert!((after - before - 6.0).abs() < 0.3, "{before} → {after}");
        let loud = [0x80u8, 0x00];
        let mut f = loud;
        GainTable::ulaw(12.0).apply(&mut f);
        assert_eq!(f, loud, "full-scale codes stay full scale");
    }

    #[test]
    fn steps_and_levels() {
        assert_eq!(step_gain_db(0.0, true), 3.0);
        assert_eq!(step_gain_db(0.0, false), -3.0);
        assert_eq!(step_gain_db(MAX_GAIN_DB, true), MAX_GAIN_DB);
        assert_eq!(step_gain_db(MIN_GAIN_DB, false), MIN_GAIN_DB);
        assert_eq!(level_dbov(&[0; 160]), MIN_DBOV);
        assert_eq!(level_dbov(&[]), MIN_DBOV);
        assert!(level_dbov(&[i16::MIN; 8]).abs() < 1e-3);
        let sine = ToneGenerator::sine(1000.0, 0.0).take(800);
        // 0 dBm0 is 3.17 dB below a full-scale sine, itself −3.01 dBov.
        assert!(
            (level_dbov(&sine) + 6.18).abs() < 0.05,
            "{}",
            level_dbov(&sine)
        );
    }
}
