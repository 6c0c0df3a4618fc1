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
use std::io::Read;
use std::process::{Command, Stdio};

use media::dtmf_detector::DtmfDetector;
use media::g711;
use media::tone::dbm0_to_amplitude;

/// Voice, pitch (0–99), speed (words per minute) and text of each passage.
const PASSAGES: [(&str, u32, u32, &str); 8] = [
    (
        "en-us",
        50,
        160,
        "Thank you for calling. Please listen carefully, as our menu options have \
         changed. For billing questions, press one. To report a fault on your line, \
         press two. If you know the extension of the person you are calling, you \
         may dial it at any time. Otherwise, please stay on the line and an operator \
         will be with you shortly.",
    ),
    (
        "en-gb+f3",
        75,
        175,
        "The weather this morning was lovely, wasn't it? We walked along the river \
         all the way to the old mill, and then the rain came down so suddenly that \
         we had to shelter under the bridge for nearly an hour. My shoes are still \
         soaking wet, and I think I have caught a cold.",
    ),
    (
        "en-us+m3",
        30,
        130,
        "Oh, I see. Well, no, that is not what I meant at all. Hmm. Let me think \
         about it for a moment. Yes, yes, I know. Really? Oh wow, that is amazing. \
         No way! Are you sure? Okay, okay, fine, we'll do it your way then, but \
         don't say I didn't warn you.",
    ),
    (
        "en-gb-scotland+f2",
        80,
        200,
        "Seven hundred and forty two, eight thousand nine hundred and sixty one, \
         three point one four one five nine, zero zero four four, one two three \
         four five six seven eight nine zero. My number is oh one three one, four \
         nine six, double two, eight seven.",
    ),
    (
        "en-029+m1",
        40,
        120,
        "Whose woods these are I think I know. His house is in the village though; \
         he will not see me stopping here to watch his woods fill up with snow. \
         The woods are lovely, dark and deep, but I have promises to keep, and \
         miles to go before I sleep.",
    ),
    (
        "en-gb-x-rp+klatt",
        60,
        150,
        "Queueing for the aurora, the eerie, ooze-covered yaks yawned, mooed and \
         wheezed. Ahh, ooh, eee, you, we, who, why, away, allay, hooray! \
         Beautiful, unusual, aerial, oriole, ukulele, aioli, iguana.",
    ),
    (
        "en-us+f5",
        70,
        100,
        "Good evening everyone, and welcome. Tonight we will be talking about \
         telephones, about how a simple pair of tones can travel across the world, \
         and about why a singer holding a long note can sometimes fool a machine \
         that listens for them. Shall we begin?",
    ),
    (
        "en-us+f4",
        95,
        185,
        "Mummy, mummy, look! A little blue bird is singing in the tree, tweet tweet \
         tweet! Can we keep him? Please, please, pretty please? I'll feed him every \
         day, I promise. Wheee! Look how high I can swing!",
    ),
];

/// Active speech levels tried, dBm0.
const LEVELS: [f64; 3] = [-25.0, -15.0, -5.0];

#[test]
fn espeak_speech_produces_no_digits() {
    if Command::new("espeak-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("skipped: espeak-ng not installed");
        return;
    }
    // Start every synthesis before reading any, so they run in parallel.
    let children: Vec<_> = PASSAGES
        .iter()
        .map(|&(voice, pitch, speed, text)| {
            Command::new("espeak-ng")
                .args([
                    "-v",
                    voice,
                    "-p",
                    &pitch.to_string(),
                    "-s",
                    &speed.to_string(),
                ])
                .arg("--stdout")
                .arg(text)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("espeak-ng ran for --version, so it starts")
        })
        .collect();
    let mut false_digits = Vec::new();
    let mut seconds = 0.0;
    for (child, &(voice, pitch, speed, _)) in children.into_iter().zip(&PASSAGES) {
        let mut wav = Vec::new();
        let mut child = child;
        child
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_end(&mut wav)
            .expect("read espeak-ng output");
        let status = child.wait().expect("wait for espeak-ng");
        assert!(status.success(), "espeak-ng -v {voice}: {status}");
        let (rate, samples) = parse_wav(&wav).expect("espeak-ng writes 16-bit mono WAV");
        let speech = resample_to_8k(&samples, rate);
        assert!(
            speech.len() > 8000 * 5,
            "espeak-ng -v {voice} gave only {} samples",
            speech.len()
        );
        seconds += speech.len() as f64 / 8000.0;
        for level in LEVELS {
            for (digit, at) in detect(&at_active_level(&speech, level)) {
                false_digits.push(format!(
                    "'{digit}' at {at:.2} s in -v {voice} -p {pitch} -s {speed} at {level} dBm0"
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

/// The sample rate and samples of a 16-bit mono WAV. espeak-ng writing to a
/// pipe cannot know the data size, so the `data` chunk runs to the end.
fn parse_wav(bytes: &[u8]) -> Option<(u32, Vec<f64>)> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut rate = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = &bytes[at + 8..];
        if id == b"fmt " {
            let channels = u16::from_le_bytes(body.get(2..4)?.try_into().ok()?);
            let bits = u16::from_le_bytes(body.get(14..16)?.try_into().ok()?);
            if channels != 1 || bits != 16 {
                return None;
            }
            rate = Some(u32::from_le_bytes(body.get(4..8)?.try_into().ok()?));
        } else if id == b"data" {
            let data = &body[..len.min(body.len()) & !1];
            let samples = data
                .chunks_exact(2)
                .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
                .collect();
            return Some((rate?, samples));
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// Band-limits to 3.6 kHz (Hann-windowed sinc, 64 taps) and resamples to
/// 8 kHz, with the filter precomputed for each of the rates' common phases.
fn resample_to_8k(input: &[f64], rate: u32) -> Vec<f64> {
    const HALF: i64 = 32;
    let (rate, out_rate) = (u64::from(rate), 8000u64);
    let gcd = (1..=out_rate.min(rate))
        .rev()
        .find(|d| rate % d == 0 && out_rate % d == 0)
        .unwrap_or(1);
    let (step, phases) = (rate / gcd, out_rate / gcd); // input advances step/phases per output
    let cutoff = 3600.0 / rate as f64; // cycles per input sample
    let taps: Vec<Vec<f64>> = (0..phases)
        .map(|p| {
            let frac = p as f64 / phases as f64;
            (-HALF + 1..=HALF)
                .map(|k| {
                    let x = k as f64 - frac;
                    let sinc = if x == 0.0 {
                        2.0 * cutoff
                    } else {
                        (TAU * cutoff * x).sin() / (std::f64::consts::PI * x)
                    };
                    let hann = 0.5 + 0.5 * (std::f64::consts::PI * x / HALF as f64).cos();
                    sinc * hann
                })
                .collect()
        })
        .collect();
    let out_len = input.len() as u64 * phases / step;
    (0..out_len)
        .map(|n| {
            let pos = n * step; // in units of 1/phases input samples
            let (base, phase) = ((pos / phases) as i64, (pos % phases) as usize);
            taps[phase]
                .iter()
                .zip(base - HALF + 1..)
                .filter_map(|(h, i)| {
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| input.get(i))
                        .map(|x| h * x)
                })
                .sum()
        })
        .collect()
}

/// `signal` scaled so that its active part (20 ms frames within 40 dB of the
/// loudest) has an RMS of `dbm0`, saturating at the 16-bit limits.
fn at_active_level(signal: &[f64], dbm0: f64) -> Vec<i16> {
    let powers: Vec<f64> = signal
        .chunks(160)
        .map(|f| f.iter().map(|x| x * x).sum::<f64>() / f.len() as f64)
        .collect();
    let loudest = powers.iter().copied().fold(0.0, f64::max);
    let active: Vec<f64> = powers
        .into_iter()
        .filter(|&p| p > 0.0 && p >= loudest * 1e-4)
        .collect();
    let rms = (active.iter().sum::<f64>() / active.len().max(1) as f64).sqrt();
    let gain = dbm0_to_amplitude(dbm0) / 2f64.sqrt() / rms.max(1e-9);
    signal
        .iter()
        .map(|x| (x * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
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
