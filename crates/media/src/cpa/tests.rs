use super::*;
use crate::test_signals::{vowel, Noise, VOWELS};
use crate::tone::ToneGenerator;

/// The greeting of `tests/fixtures/README.md`.
const GREETING: &[u8] = include_bytes!("../../tests/fixtures/voicemail-greeting.ulaw");

fn run(samples: &[i16]) -> Vec<CpaSignal> {
    let mut d = CpaDetector::default();
    let mut out = Vec::new();
    for frame in samples.chunks(160) {
        d.process(frame, |s| out.push(s));
    }
    out
}

fn kinds(signals: &[CpaSignal]) -> Vec<CpaKind> {
    signals
        .iter()
        .map(|s| s.kind)
        .filter(|k| !matches!(k, CpaKind::Vad(_)))
        .collect()
}

/// "Speech": vowels of gliding pitch, 150–400 ms each, with short gaps.
fn talk(ms: usize, dbov: f64, seed: u64) -> Vec<i16> {
    let mut noise = Noise::new(seed);
    let mut out = Vec::new();
    let mut k = 0;
    while out.len() < ms * 8 {
        let len = 1200 + ((noise.next() + 1.0) * 1000.0) as usize;
        let f0 = 110.0 + 60.0 * (noise.next() + 1.0);
        let glide = f0 * (1.0 + 0.25 * noise.next());
        out.extend(vowel(f0, glide, &VOWELS[k % VOWELS.len()], len, dbov));
        out.extend(vec![0i16; 400 + ((noise.next() + 1.0) * 200.0) as usize]);
        k += 1;
    }
    out.truncate(ms * 8);
    out
}

#[test]
fn machine_greeting_then_beep() {
    let mut audio = vec![0i16; 2400];
    audio.extend(talk(2500, -25.0, 1));
    audio.extend(vec![0i16; 2400]);
    audio.extend(ToneGenerator::sine(1000.0, -20.0).take(3200));
    audio.extend(vec![0i16; 8000]);
    let signals = run(&audio);
    assert_eq!(
        kinds(&signals),
        [CpaKind::Speech(SpeechVerdict::Machine), CpaKind::Beep],
        "{signals:?}"
    );
    let machine = signals
        .iter()
        .find(|s| s.kind == CpaKind::Speech(SpeechVerdict::Machine))
        .expect("verdict");
    assert!(machine.at < 2400 + 2000 * 8, "{machine:?}");
    let beep = signals
        .iter()
        .find(|s| s.kind == CpaKind::Beep)
        .expect("beep");
    assert!((beep.value.unwrap_or(0.0) - 1000.0).abs() < 3.0);
    assert!(beep.duration_ms.abs_diff(400) <= 12, "{beep:?}");
    assert_eq!(beep.value_text(), "1000");
    assert_eq!(CpaKind::Beep.name(), "beep");
}

#[test]
fn a_beep_right_after_the_last_word() {
    let mut audio = talk(3000, -20.0, 6);
    let last_word = vowel(140.0, 110.0, &VOWELS[1], 2400, -20.0);
    audio.extend(last_word);
    audio.extend(ToneGenerator::sine(1400.0, -18.0).take(1600));
    audio.extend(vec![0i16; 4000]);
    let signals = run(&audio);
    let beeps: Vec<_> = signals.iter().filter(|s| s.kind == CpaKind::Beep).collect();
    assert_eq!(beeps.len(), 1, "{signals:?}");
    assert!(beeps[0].duration_ms.abs_diff(200) <= 15, "{beeps:?}");
}

#[test]
fn hello_then_silence_is_human() {
    let mut audio = vec![0i16; 1600];
    audio.extend(talk(600, -30.0, 2));
    audio.extend(vec![0i16; 16_000]);
    let signals = run(&audio);
    assert_eq!(kinds(&signals), [CpaKind::Speech(SpeechVerdict::Human)]);
    let vad: Vec<_> = signals
        .iter()
        .filter_map(|s| match s.kind {
            CpaKind::Vad(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(vad.first(), Some(&VadState::Speech));
    assert_eq!(vad.last(), Some(&VadState::Silence));
    assert!(vad.windows(2).all(|w| w[0] != w[1]));
}

#[test]
fn fax_tones() {
    let mut ced = vec![0i16; 800];
    ced.extend(ToneGenerator::sine(2100.0, -20.0).take(24_000));
    let signals = run(&ced);
    assert_eq!(kinds(&signals)[0], CpaKind::FaxCed);
    assert!(!kinds(&signals).contains(&CpaKind::Beep));
    let mut cng = Vec::new();
    for _ in 0..2 {
        cng.extend(ToneGenerator::sine(1100.0, -20.0).take(4000));
        cng.extend(vec![0i16; 24_000]);
    }
    let k = kinds(&run(&cng));
    assert_eq!(
        k.iter().filter(|&&k| k == CpaKind::FaxCng).count(),
        2,
        "{k:?}"
    );
    assert!(!k.contains(&CpaKind::Beep), "{k:?}");
}

#[test]
fn recorded_greeting_is_a_machine_without_beep_or_fax() {
    for gain_db in [0.0f32, -15.0] {
        let mut audio = vec![0i16; 4000];
        audio.extend(GREETING.iter().map(|&c| g711::ulaw_decode(c)));
        audio.extend(vec![0i16; 8000]);
        crate::gain::apply_gain_db(&mut audio, gain_db);
        let mut d = CpaDetector::default();
        let mut signals = Vec::new();
        for frame in audio.chunks(160) {
            let mut codes = [0u8; 160];
            g711::encode_ulaw(frame, &mut codes);
            d.process_ulaw(&codes[..frame.len()], |s| signals.push(s));
        }
        assert_eq!(
            kinds(&signals),
            [CpaKind::Speech(SpeechVerdict::Machine)],
            "{gain_db}: {signals:?}"
        );
    }
}

#[test]
fn no_tones_in_talk_noise_or_dtmf() {
    for seed in 1..6 {
        let signals = run(&talk(6000, -20.0, seed));
        let k = kinds(&signals);
        assert!(
            k.iter().all(|k| matches!(k, CpaKind::Speech(_))),
            "{seed}: {signals:?}"
        );
    }
    let mut noise = Noise::new(4);
    let mut bursts = Vec::new();
    for k in 0..8 {
        bursts.extend(noise.samples(1600 + 400 * k, -25.0));
        bursts.extend(vec![0i16; 1600]);
    }
    assert!(kinds(&run(&bursts))
        .iter()
        .all(|k| matches!(k, CpaKind::Speech(_))));
    let mut dtmf = Vec::new();
    for digit in "0123456789*#".chars() {
        dtmf.extend(ToneGenerator::dtmf(digit, -15.0).expect("digit").take(1600));
        dtmf.extend(vec![0i16; 800]);
    }
    assert!(kinds(&run(&dtmf))
        .iter()
        .all(|k| matches!(k, CpaKind::Speech(_))));
}

#[test]
fn alaw_and_linear_agree() {
    let mut audio = talk(1000, -25.0, 3);
    audio.extend(ToneGenerator::sine(700.0, -20.0).take(2000));
    audio.extend(vec![0i16; 2000]);
    let mut codes = vec![0u8; audio.len()];
    g711::encode_alaw(&audio, &mut codes);
    let mut decoded = vec![0i16; audio.len()];
    g711::decode_alaw(&codes, &mut decoded);
    let mut d = CpaDetector::default();
    let mut via_alaw = Vec::new();
    for frame in codes.chunks(160) {
        d.process_alaw(frame, |s| via_alaw.push(s));
    }
    assert_eq!(run(&decoded), via_alaw);
    assert!(kinds(&via_alaw).contains(&CpaKind::Beep));
    assert_eq!(d.position(), audio.len() as u64);
}
