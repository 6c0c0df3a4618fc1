//! Q.24-style acceptance tests for [`DtmfDetector`], on µ-law-coded audio.

use super::*;
use crate::tone::{dtmf_frequencies, ToneGenerator};
use std::f64::consts::TAU;

const ALL: &str = "123A456B789C*0#D";

fn ms(n: usize) -> usize {
    n * 8
}

/// Signal builder: sections appended one after another.
#[derive(Default)]
struct Signal(Vec<i16>);

impl Signal {
    fn silence(mut self, samples: usize) -> Self {
        self.0.extend(std::iter::repeat_n(0, samples));
        self
    }

    fn dual(mut self, f1: f64, f2: f64, dbm0_1: f64, dbm0_2: f64, samples: usize) -> Self {
        let mut g = ToneGenerator::new(8000)
            .with_sine(f1, dbm0_1)
            .with_sine(f2, dbm0_2);
        self.0.extend(g.take(samples));
        self
    }

    fn digit(self, digit: char, dbm0_each: f64, samples: usize) -> Self {
        let (r, c) = dtmf_frequencies(digit).unwrap();
        self.dual(r, c, dbm0_each, dbm0_each, samples)
    }
}

/// Digits found in `samples` after µ-law coding, fed in 20 ms packets.
fn detect(samples: &[i16]) -> Vec<char> {
    let mut ulaw = vec![0u8; samples.len()];
    g711::encode_ulaw(samples, &mut ulaw);
    let mut detector = DtmfDetector::default();
    let mut digits = Vec::new();
    for packet in ulaw.chunks(160) {
        detector.process_ulaw(packet, |d| digits.push(d.digit));
    }
    digits
}

#[test]
fn all_digits_at_0_dbm0_total_and_minus_25_dbm0() {
    for level in [-3.01, -25.0, -28.01] {
        let mut s = Signal::default().silence(37);
        for digit in ALL.chars() {
            s = s.digit(digit, level, ms(50)).silence(ms(50));
        }
        let got: String = detect(&s.0).into_iter().collect();
        assert_eq!(got, ALL, "at {level} dBm0 per tone");
    }
}

#[test]
fn forty_ms_detected_at_every_alignment() {
    for offset in (0..WINDOW).step_by(5) {
        for digit in ['1', '5', 'D', '#'] {
            let s = Signal::default()
                .silence(offset)
                .digit(digit, -25.0, ms(40))
                .silence(ms(40));
            assert_eq!(detect(&s.0), vec![digit], "offset {offset} digit {digit}");
        }
    }
}

#[test]
fn twenty_ms_rejected_at_every_alignment() {
    for offset in 0..WINDOW {
        for level in [-3.01, -25.0] {
            let s = Signal::default()
                .silence(offset)
                .digit('5', level, ms(20))
                .silence(ms(40));
            assert_eq!(detect(&s.0), vec![], "offset {offset} level {level}");
        }
    }
}

#[test]
fn frequency_deviation_accepted_within_1_5_and_rejected_at_3_5_percent() {
    for digit in ALL.chars() {
        let (r, c) = dtmf_frequencies(digit).unwrap();
        for (dr, dc) in [
            (1.015, 1.015),
            (0.985, 0.985),
            (1.015, 0.985),
            (0.985, 1.015),
        ] {
            let s = Signal::default()
                .silence(20)
                .dual(r * dr, c * dc, -20.0, -20.0, ms(45))
                .silence(ms(40));
            assert_eq!(detect(&s.0), vec![digit], "{digit} ×({dr}, {dc})");
        }
        for (dr, dc) in [(1.035, 1.0), (0.965, 1.0), (1.0, 1.035), (1.0, 0.965)] {
            let s = Signal::default()
                .silence(20)
                .dual(r * dr, c * dc, -10.0, -10.0, ms(100))
                .silence(ms(40));
            assert_eq!(detect(&s.0), vec![], "{digit} ×({dr}, {dc})");
        }
    }
}

#[test]
fn twist_limits() {
    let (r, c) = dtmf_frequencies('8').unwrap();
    let run = |low: f64, high: f64| {
        detect(
            &Signal::default()
                .dual(r, c, low, high, ms(60))
                .silence(ms(40))
                .0,
        )
    };
    assert_eq!(run(-10.0, -17.0), vec!['8'], "normal twist 7 dB");
    assert_eq!(run(-10.0, -20.0), vec![], "normal twist 10 dB");
    assert_eq!(run(-13.0, -10.0), vec!['8'], "reverse twist 3 dB");
    assert_eq!(run(-16.0, -10.0), vec![], "reverse twist 6 dB");
}

#[test]
fn too_quiet_and_single_tones_rejected() {
    let quiet = Signal::default().digit('3', -40.0, ms(100)).silence(ms(40));
    assert_eq!(detect(&quiet.0), vec![]);
    let single = Signal::default()
        .dual(697.0, 697.0, -10.0, -10.0, ms(100))
        .silence(ms(40));
    assert_eq!(detect(&single.0), vec![]);
}

#[test]
fn one_digit_per_burst_and_repeats_after_a_gap() {
    let long = Signal::default().digit('7', -10.0, ms(800)).silence(ms(40));
    assert_eq!(detect(&long.0), vec!['7']);
    let twice = Signal::default()
        .digit('7', -10.0, ms(60))
        .silence(ms(40))
        .digit('7', -10.0, ms(60))
        .silence(ms(40));
    assert_eq!(detect(&twice.0), vec!['7', '7']);
    let changed = Signal::default()
        .digit('1', -10.0, ms(60))
        .digit('2', -10.0, ms(60))
        .silence(ms(40));
    assert_eq!(detect(&changed.0), vec!['1', '2']);
}

#[test]
fn reports_positions_in_samples() {
    let s = Signal::default().silence(800).digit('9', -10.0, ms(60));
    let mut detector = DtmfDetector::default();
    let mut found = Vec::new();
    detector.process(&s.0, |d| found.push(d));
    assert_eq!(found.len(), 1);
    let d = found[0];
    assert_eq!(d.digit, '9');
    assert!(d.start >= 800 && d.start < 800 + HOP as u64, "{d:?}");
    assert!(d.confirmed_at <= 800 + ms(45) as u64, "{d:?}");
    assert_eq!(detector.position(), s.0.len() as u64);
}

/// Chords of non-DTMF notes with 5.5 Hz vibrato, a new chord every 250 ms.
fn music(seconds: usize) -> Vec<i16> {
    let chords: [&[f64]; 6] = [
        &[261.63, 329.63, 392.00, 523.25],  // C major
        &[220.00, 261.63, 329.63, 440.00],  // A minor
        &[174.61, 220.00, 261.63, 349.23],  // F major
        &[196.00, 246.94, 293.66, 392.00],  // G major
        &[293.66, 369.99, 440.00, 587.33],  // D major
        &[329.63, 415.30, 493.88, 1046.50], // E major + C6
    ];
    let mut out = Vec::new();
    let amp = crate::tone::dbm0_to_amplitude(-12.0);
    for n in 0..seconds * 8000 {
        let t = n as f64 / 8000.0;
        let chord = chords[(n / 2000) % chords.len()];
        let vibrato = 1.0 + 0.01 * (TAU * 5.5 * t).sin();
        let mut v = 0.0;
        for (k, &f) in chord.iter().enumerate() {
            // Each note with a couple of overtones, as an instrument has.
            for h in 1..=3 {
                v += amp / (h * h) as f64 / (k + 1) as f64
                    * (TAU * f * h as f64 * vibrato * t).sin();
            }
        }
        out.push(v.clamp(-32768.0, 32767.0) as i16);
    }
    out
}

/// Voiced "speech": a harmonic series on a gliding pitch, shaped by two
/// formants that move between vowel positions.
fn speech(seconds: usize) -> Vec<i16> {
    let mut out = Vec::new();
    let mut phase = 0.0;
    let amp = crate::tone::dbm0_to_amplitude(-15.0);
    for n in 0..seconds * 8000 {
        let t = n as f64 / 8000.0;
        let f0 = 120.0 + 30.0 * (TAU * 0.7 * t).sin() + 10.0 * (TAU * 3.1 * t).sin();
        phase += TAU * f0 / 8000.0;
        let f1 = 500.0 + 250.0 * (TAU * 1.3 * t).sin();
        let f2 = 1500.0 + 600.0 * (TAU * 0.9 * t + 1.0).sin();
        let mut v = 0.0;
        let mut h = 1.0;
        while h * f0 < 3400.0 {
            let f = h * f0;
            let gain = 1.0 / (1.0 + ((f - f1) / 120.0).powi(2))
                + 0.6 / (1.0 + ((f - f2) / 150.0).powi(2))
                + 0.05;
            v += amp * 0.4 * gain * (h * phase).sin();
            h += 1.0;
        }
        out.push(v.clamp(-32768.0, 32767.0) as i16);
    }
    out
}

#[test]
fn music_produces_no_digits() {
    assert_eq!(detect(&music(6)), vec![]);
}

#[test]
fn speech_produces_no_digits() {
    assert_eq!(detect(&speech(6)), vec![]);
}

#[test]
fn digits_survive_a_music_bed() {
    // DTMF over quiet music (20 dB below) is still found.
    let bed = music(1);
    let mut s = Signal::default().digit('4', -5.0, ms(60)).silence(ms(40)).0;
    s.resize(bed.len(), 0);
    for (x, &b) in s.iter_mut().zip(&bed) {
        *x = x.saturating_add(b / 6);
    }
    assert_eq!(detect(&s), vec!['4']);
}

#[test]
fn tones_at_a_limit_are_reported_at_most_once() {
    let (r, c) = dtmf_frequencies('8').unwrap();
    for tenth in 70..=90 {
        let twist = f64::from(tenth) / 10.0;
        let s = Signal::default()
            .dual(r, c, -10.0, -10.0 - twist, ms(300))
            .silence(ms(40));
        assert!(detect(&s.0).len() <= 1, "normal twist {twist} dB");
        let s = Signal::default()
            .dual(r, c, -10.0 - twist / 2.0, -10.0, ms(300))
            .silence(ms(40));
        assert!(detect(&s.0).len() <= 1, "reverse twist {} dB", twist / 2.0);
    }
    for permille in 18..=32 {
        let dev = 1.0 + f64::from(permille) / 1000.0;
        let s = Signal::default()
            .dual(r * dev, c, -20.0, -20.0, ms(300))
            .silence(ms(40));
        assert!(detect(&s.0).len() <= 1, "deviation {dev}");
    }
}

#[test]
fn fast_dialling_40_ms_on_40_ms_off_over_a_law() {
    let mut s = Signal::default().silence(11);
    for digit in ALL.chars().chain("1122".chars()) {
        s = s.digit(digit, -20.0, ms(40)).silence(ms(40));
    }
    let mut alaw = vec![0u8; s.0.len()];
    g711::encode_alaw(&s.0, &mut alaw);
    let mut detector = DtmfDetector::default();
    let mut digits = String::new();
    for packet in alaw.chunks(160) {
        detector.process_alaw(packet, |d| digits.push(d.digit));
    }
    assert_eq!(digits, format!("{ALL}1122"));
}

#[test]
fn digits_at_minus_25_dbm0_survive_noise_20_db_below() {
    // Deterministic white-ish noise (xorshift), RMS about −45 dBm0.
    let mut state = 0x2545_f491_u32;
    let noise_rms = crate::tone::dbm0_to_amplitude(-45.0) / 2f64.sqrt();
    let mut s = Signal::default();
    for digit in ALL.chars() {
        s = s.digit(digit, -25.0, ms(50)).silence(ms(50));
    }
    for x in s.0.iter_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        // Uniform in [−1, 1) has RMS 1/√3.
        let u = f64::from(state) / f64::from(u32::MAX) * 2.0 - 1.0;
        *x = x.saturating_add((u * noise_rms * 3f64.sqrt()) as i16);
    }
    let got: String = detect(&s.0).into_iter().collect();
    assert_eq!(got, ALL);
}

#[test]
fn reports_digit_ends_with_durations() {
    for (len_ms, offset) in [(40usize, 0usize), (100, 17), (250, 60)] {
        let s = Signal::default()
            .silence(400 + offset)
            .digit('6', -15.0, ms(len_ms))
            .silence(ms(60))
            .digit('6', -15.0, ms(60))
            .silence(ms(60));
        let mut detector = DtmfDetector::default();
        let mut events = Vec::new();
        detector.process_events(&s.0, |e| events.push(e));
        assert_eq!(events.len(), 4, "{events:?}");
        let (DtmfDetectorEvent::Digit(d), DtmfDetectorEvent::Ended(e)) = (events[0], events[1])
        else {
            panic!("digit then end expected: {events:?}");
        };
        assert_eq!((d.digit, e.digit), ('6', '6'));
        assert_eq!(e.start, d.start);
        let start = (400 + offset) as u64;
        assert!(e.start.abs_diff(start) <= 40, "{e:?} vs {start}");
        assert!(
            e.duration_ms().abs_diff(len_ms as u64) <= 8,
            "{len_ms} ms → {e:?}"
        );
        assert!(matches!(events[3], DtmfDetectorEvent::Ended(_)));
    }
}

#[test]
fn a_10_ms_interruption_does_not_split_a_digit() {
    for offset in (0..WINDOW).step_by(3) {
        let s = Signal::default()
            .silence(offset)
            .digit('0', -20.0, ms(100))
            .silence(ms(10))
            .digit('0', -20.0, ms(100))
            .silence(ms(60));
        assert_eq!(detect(&s.0), vec!['0'], "offset {offset}");
    }
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

/// Random sustained vowels (80–2500 ms, f0 80–300 Hz gliding ±20 %, three
/// formants of 50–150 Hz bandwidth, −25 to −3 dBm0): the hardest case for
/// talk-off, since a formant pair can sit on a row and a column frequency.
fn random_vowels(seed: u64, seconds: usize) -> Vec<i16> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut phase = 0.0;
    while out.len() < 8000 * seconds {
        let len = (640.0 + rng.next() * 1800.0) as usize;
        let f0a = 80.0 + rng.next() * 220.0;
        let f0b = f0a * (0.8 + rng.next() * 0.4);
        let formants = [
            250.0 + rng.next() * 700.0,
            800.0 + rng.next() * 1700.0,
            2200.0 + rng.next() * 800.0,
        ];
        let bw = 50.0 + rng.next() * 100.0;
        let amp = crate::tone::dbm0_to_amplitude(-25.0 + rng.next() * 22.0);
        for n in 0..len {
            let f0 = f0a + (f0b - f0a) * n as f64 / len as f64;
            phase += TAU * f0 / 8000.0;
            let mut v = 0.0;
            let mut h = 1.0;
            while h * f0 < 3600.0 {
                let f = h * f0;
                let gain: f64 = formants
                    .iter()
                    .zip([1.0, 0.7, 0.3])
                    .map(|(&fc, g)| g / (1.0 + ((f - fc) / bw).powi(2)))
                    .sum();
                v += amp * 0.5 * gain * (h * phase).sin();
                h += 1.0;
            }
            out.push(v.clamp(-32768.0, 32767.0) as i16);
        }
    }
    out
}

#[test]
fn talk_off_on_random_vowels_is_zero() {
    // A formant pair on a row and a column frequency passes every per-window
    // check (7 false digits in these 3 minutes before the confirmation
    // checks); what rejects it is the vowel's other harmonics, which linear
    // prediction finds in what the two-tone fit leaves.
    let false_digits: usize = [1u64, 2, 3]
        .iter()
        .map(|&seed| detect(&random_vowels(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 60)).len())
        .sum();
    assert_eq!(false_digits, 0, "{false_digits} false digits in 3 minutes");
}

#[test]
fn digits_at_minus_25_dbm0_survive_noise_11_db_below() {
    let noise_rms = crate::tone::dbm0_to_amplitude(-36.0) / 2f64.sqrt();
    for seed in 1..4u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut s = Signal::default();
        for digit in ALL.chars() {
            s = s.digit(digit, -25.0, ms(50)).silence(ms(50));
        }
        for x in s.0.iter_mut() {
            *x = x.saturating_add(((rng.next() * 2.0 - 1.0) * noise_rms * 3f64.sqrt()) as i16);
        }
        let got: String = detect(&s.0).into_iter().collect();
        assert_eq!(got, ALL, "seed {seed}");
    }
}

/// Sines `(Hz, dBm0)` summed over `samples`, then 40 ms of silence.
fn partials(parts: &[(f64, f64)], samples: usize) -> Vec<i16> {
    let mut g = ToneGenerator::new(8000);
    for &(f, dbm0) in parts {
        g = g.with_sine(f, dbm0);
    }
    Signal(g.take(samples)).silence(ms(40)).0
}

#[test]
fn tone_pairs_with_overtones_are_not_digits() {
    // Q.23 wants a sender's unwanted products 20 dB down; instruments and
    // voices have overtones 5–15 dB down.
    let (r, c) = dtmf_frequencies('5').unwrap();
    let with_overtones = |db: f64| {
        partials(
            &[
                (r, -15.0),
                (c, -15.0),
                (2.0 * r, -15.0 + db),
                (2.0 * c, -15.0 + db),
            ],
            ms(100),
        )
    };
    assert_eq!(detect(&with_overtones(-25.0)), vec!['5']);
    assert_eq!(detect(&with_overtones(-10.0)), vec![]);
    let third = partials(&[(r, -15.0), (c, -15.0), (3.0 * r, -25.0)], ms(100));
    assert_eq!(detect(&third), vec![]);
}

#[test]
fn a_third_partial_is_not_noise() {
    // The same energy beside the two tones: as white noise it is a noisy
    // line, as one more partial (here 450 Hz) it is a voice or a chord.
    let (r, c) = dtmf_frequencies('0').unwrap();
    let extra_dbm0 = -30.0;
    let partial = partials(&[(r, -18.0), (c, -18.0), (450.0, extra_dbm0)], ms(100));
    assert_eq!(detect(&partial), vec![]);
    let mut rng = Rng(0x5eed);
    // Uniform noise with the RMS of that sine.
    let rms = crate::tone::dbm0_to_amplitude(extra_dbm0) / 2f64.sqrt();
    let mut noisy = partials(&[(r, -18.0), (c, -18.0)], ms(100));
    for x in noisy.iter_mut() {
        *x = x.saturating_add(((rng.next() * 2.0 - 1.0) * rms * 3f64.sqrt()) as i16);
    }
    assert_eq!(detect(&noisy), vec!['0']);
}

#[test]
fn gliding_tone_pairs_are_not_digits() {
    // Both tones sweep through their nominal frequencies at 800 Hz/s, as
    // the harmonics of a voice gliding in pitch do; held steady they are a digit.
    let (r, c) = dtmf_frequencies('9').unwrap();
    let glide = |rate: f64| {
        let len = ms(120);
        let amp = crate::tone::dbm0_to_amplitude(-15.0);
        let (mut pr, mut pc) = (0.0f64, 0.0f64);
        let mut s: Vec<i16> = (0..len)
            .map(|n| {
                let t = (n as f64 - len as f64 / 2.0) / 8000.0;
                pr += TAU * (r + rate * t) / 8000.0;
                pc += TAU * (c + rate * t) / 8000.0;
                (amp * (pr.sin() + pc.sin())) as i16
            })
            .collect();
        s.extend(std::iter::repeat_n(0, ms(40)));
        s
    };
    assert_eq!(detect(&glide(0.0)), vec!['9']);
    assert_eq!(detect(&glide(800.0)), vec![]);
    assert_eq!(detect(&glide(-800.0)), vec![]);
}
