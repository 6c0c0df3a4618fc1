//! Talk-off: speech and music must not be taken for DTMF digits (ITU-T Q.24
//! asks for zero false digits on real speech and music).
//!
//! The speech is real synthetic speech: `espeak-ng` reads varied English text
//! in several voices, pitches and speeds at test time; its 22,050 Hz output is
//! resampled to 8 kHz here, scaled to an active level of −25, −15 and
//! −5 dBm0 (the loudest clips, as a hot line would), µ-law coded and fed to the
//! detector in 20 ms packets. Without `espeak-ng` the speech test is skipped
//! (`scripts/test` installs it).
//!
//! The music is synthesized: chords of harmonic instruments with vibrato,
//! melodies stepping through the notes nearest the DTMF frequencies (F5 is
//! 698 Hz against 697, F♯6 is 1480 Hz against 1477), two lines at once in the
//! row and column ranges, and drum hits (noise bursts with a pitched body).

use std::f64::consts::TAU;

use media::dtmf_detector::DtmfDetector;
use media::g711;

mod speech_corpus;
use speech_corpus::{at_active_level, LEVELS};

#[test]
fn espeak_speech_produces_no_digits() {
    let Some(passages) = speech_corpus::synthesize() else {
        println!("skipped: espeak-ng not installed");
        return;
    };
    let mut false_digits = Vec::new();
    let mut seconds = 0.0;
    for passage in &passages {
        seconds += passage.samples.len() as f64 / 8000.0;
        for level in LEVELS {
            for (digit, at) in detect(&at_active_level(&passage.samples, level)) {
                false_digits.push(format!(
                    "'{digit}' at {at:.2} s in {} at {level} dBm0",
                    passage.label
                ));
            }
        }
    }
    println!("{seconds:.0} s of speech at each of {LEVELS:?} dBm0");
    assert!(seconds > 120.0, "only {seconds:.0} s of speech");
    assert!(false_digits.is_empty(), "{false_digits:#?}");
}

#[test]
fn music_produces_no_digits() {
    let music = music();
    let seconds = music.len() as f64 / 8000.0;
    let mut false_digits = Vec::new();
    for level in LEVELS {
        for (digit, at) in detect(&at_active_level(&music, level)) {
            false_digits.push(format!("'{digit}' at {at:.2} s at {level} dBm0"));
        }
    }
    println!("{seconds:.0} s of music at each of {LEVELS:?} dBm0");
    assert!(false_digits.is_empty(), "{false_digits:#?}");
}

/// Digits found (and when, in seconds) after µ-law coding, fed in 20 ms packets.
fn detect(samples: &[i16]) -> Vec<(char, f64)> {
    let mut ulaw = vec![0u8; samples.len()];
    g711::encode_ulaw(samples, &mut ulaw);
    let mut detector = DtmfDetector::default();
    let mut digits = Vec::new();
    for packet in ulaw.chunks(160) {
        detector.process_ulaw(packet, |d| {
            digits.push((d.digit, d.start as f64 / 8000.0));
        });
    }
    digits
}

/// Equal-tempered frequency of a MIDI note (69 is A4, 440 Hz).
fn note(midi: i32) -> f64 {
    440.0 * 2f64.powf(f64::from(midi - 69) / 12.0)
}

/// Deterministic xorshift noise source in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Harmonic amplitudes of an instrument (fundamental first).
#[derive(Clone, Copy)]
enum Timbre {
    /// Bowed string: all harmonics, falling as 1/h.
    String,
    /// Clarinet: odd harmonics strong, even ones weak.
    Clarinet,
    /// Flute: a strong fundamental, second harmonic about 10 dB down.
    Flute,
    /// Brass: harmonics rising to the third, then falling.
    Brass,
}

impl Timbre {
    fn harmonic(self, h: u32) -> f64 {
        let h = f64::from(h);
        match self {
            Timbre::String => 1.0 / h,
            Timbre::Clarinet if h as u32 % 2 == 1 => 1.0 / h,
            Timbre::Clarinet => 0.15 / h,
            Timbre::Flute => [1.0, 0.32, 0.12, 0.05]
                .get(h as usize - 1)
                .copied()
                .unwrap_or(0.0),
            Timbre::Brass => [0.6, 0.9, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2]
                .get(h as usize - 1)
                .copied()
                .unwrap_or(0.1),
        }
    }
}

/// One note: pitch, timbre, start and length in samples, loudness, vibrato
/// depth (fraction of the pitch, at 5.5 Hz).
#[derive(Clone, Copy)]
struct Note {
    freq: f64,
    timbre: Timbre,
    start: usize,
    len: usize,
    gain: f64,
    vibrato: f64,
}

/// Adds `n` to `out`: 10 ms attack, 30 ms release, harmonics up to 3.6 kHz.
fn play(out: &mut [f64], n: Note) {
    let mut phase = 0.0;
    for i in 0..n.len {
        let Some(x) = out.get_mut(n.start + i) else {
            return;
        };
        let t = i as f64 / 8000.0;
        let f = n.freq * (1.0 + n.vibrato * (TAU * 5.5 * t).sin());
        phase += TAU * f / 8000.0;
        let envelope = (i as f64 / 80.0).min(1.0) * ((n.len - i) as f64 / 240.0).min(1.0);
        let mut v = 0.0;
        let mut h = 1;
        while f * f64::from(h) < 3600.0 {
            v += n.timbre.harmonic(h) * (phase * f64::from(h)).sin();
            h += 1;
        }
        *x += n.gain * envelope * v;
    }
}

/// About 40 s of music-like signal (unscaled; [`at_active_level`] sets the level).
fn music() -> Vec<f64> {
    const S: usize = 8000;
    let mut out = vec![0.0; 40 * S];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Notes nearest the DTMF frequencies: F5 G5 G♯5 A♯5 (rows), D6 D♯6 E6 F♯6 G♯6 (columns).
    let row_notes = [77, 79, 80, 81, 82];
    let col_notes = [86, 87, 88, 90, 91, 92];
    let chords: [[i32; 4]; 6] = [
        [53, 60, 65, 69], // F major
        [54, 61, 66, 70], // F♯ major
        [56, 63, 68, 72], // A♭ major
        [58, 62, 65, 70], // B♭ major
        [50, 57, 62, 66], // D major
        [52, 59, 64, 68], // E major
    ];
    // 0–16 s: string chords with vibrato under a melody stepping through the
    // row and column notes, flute and clarinet in turn, 60–250 ms per note.
    for (k, chord) in chords.iter().cycle().take(8).enumerate() {
        for &m in chord {
            play(
                &mut out,
                Note {
                    freq: note(m),
                    timbre: Timbre::String,
                    start: k * 2 * S,
                    len: 2 * S,
                    gain: 0.25,
                    vibrato: 0.004,
                },
            );
        }
    }
    let mut at = 0;
    while at < 16 * S {
        let pool: &[i32] = if rng.next() < 0.5 {
            &row_notes
        } else {
            &col_notes
        };
        let m = pool[(rng.next() * pool.len() as f64) as usize % pool.len()];
        let len = (480.0 + rng.next() * 1520.0) as usize;
        let timbre = if rng.next() < 0.5 {
            Timbre::Flute
        } else {
            Timbre::Clarinet
        };
        let vibrato = if rng.next() < 0.5 { 0.0 } else { 0.006 };
        play(
            &mut out,
            Note {
                freq: note(m),
                timbre,
                start: at,
                len,
                gain: 0.6,
                vibrato,
            },
        );
        at += len;
    }
    // 16–32 s: two lines at once, one in the row range and one in the column
    // range, so every row/column neighbourhood pairing sounds, some held long.
    for (line, pool, timbre) in [
        (0u64, &row_notes[..], Timbre::Clarinet),
        (1, &col_notes[..], Timbre::Flute),
        (2, &row_notes[..], Timbre::Flute),
        (3, &col_notes[..], Timbre::Brass),
    ] {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ line);
        let (from, to) = if line < 2 {
            (16 * S, 24 * S)
        } else {
            (24 * S, 32 * S)
        };
        let mut at = from;
        while at < to {
            let m = pool[(rng.next() * pool.len() as f64) as usize % pool.len()];
            let len = (400.0 + rng.next() * 3600.0) as usize;
            let vibrato = if rng.next() < 0.3 {
                0.0
            } else {
                0.002 + rng.next() * 0.01
            };
            play(
                &mut out,
                Note {
                    freq: note(m),
                    timbre,
                    start: at,
                    len: len.min(to - at),
                    gain: 0.5,
                    vibrato,
                },
            );
            at += len;
        }
    }
    // 32–40 s: brass chords in the DTMF range over a drum pattern.
    for k in 0..8 {
        let root = 74 + (k % 4) as i32 * 2;
        for m in [root, root + 4, root + 7, root + 12] {
            play(
                &mut out,
                Note {
                    freq: note(m),
                    timbre: Timbre::Brass,
                    start: 32 * S + k * S,
                    len: S,
                    gain: 0.2,
                    vibrato: 0.003,
                },
            );
        }
    }
    for beat in 0..16 {
        let start = 32 * S + beat * S / 2;
        let mut body = 0.0;
        for i in 0..S / 4 {
            let Some(x) = out.get_mut(start + i) else {
                break;
            };
            let decay = (-(i as f64) / 400.0).exp();
            // Kick (a falling 120→50 Hz thump) on even beats, snare noise on odd.
            if beat % 2 == 0 {
                body += TAU * (50.0 + 70.0 * decay) / 8000.0;
                *x += 1.5 * decay * body.sin();
            } else {
                *x += 1.2 * decay * (rng.next() * 2.0 - 1.0)
                    + 0.5 * decay * (TAU * 190.0 * i as f64 / 8000.0).sin();
            }
            // Hi-hat on every beat: short bright noise.
            *x += 0.4 * (-(i as f64) / 60.0).exp() * (rng.next() * 2.0 - 1.0);
        }
    }
    out
}
