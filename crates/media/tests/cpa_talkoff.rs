//! CPA talk-off: real synthetic speech (espeak-ng, eight voices from a deep
//! male to a child, at −25, −15 and −5 dBm0, µ-law coded, 20 ms packets)
//! must give no beep and no fax tone, and a greeting that long must be a
//! machine. A beep after each greeting must then be found, once.

use media::cpa::{CpaDetector, CpaKind, CpaSignal, SpeechVerdict};
use media::g711;
use media::tone::ToneGenerator;

mod speech_corpus;
use speech_corpus::{at_active_level, LEVELS};

fn detect(samples: &[i16]) -> Vec<CpaSignal> {
    let mut ulaw = vec![0u8; samples.len()];
    g711::encode_ulaw(samples, &mut ulaw);
    let mut detector = CpaDetector::default();
    let mut signals = Vec::new();
    for packet in ulaw.chunks(160) {
        detector.process_ulaw(packet, |s| {
            if !matches!(s.kind, CpaKind::Vad(_)) {
                signals.push(s);
            }
        });
    }
    signals
}

#[test]
fn espeak_greetings_are_machines_without_tones_and_then_beep() {
    let Some(passages) = speech_corpus::synthesize() else {
        println!("skipped: espeak-ng not installed");
        return;
    };
    let mut wrong = Vec::new();
    let mut seconds = 0.0;
    for passage in &passages {
        seconds += passage.samples.len() as f64 / 8000.0;
        for level in LEVELS {
            let mut audio = vec![0i16; 4000];
            audio.extend(at_active_level(&passage.samples, level));
            let speech_end = audio.len() as u64;
            audio.extend(vec![0i16; 2400]);
            audio.extend(ToneGenerator::sine(1000.0, level + 3.0).take(2400));
            audio.extend(vec![0i16; 4000]);
            let signals = detect(&audio);
            let kinds: Vec<_> = signals.iter().map(|s| s.kind).collect();
            let expected = [CpaKind::Speech(SpeechVerdict::Machine), CpaKind::Beep];
            let beep_after_speech = signals
                .iter()
                .filter(|s| s.kind == CpaKind::Beep)
                .all(|s| s.at > speech_end);
            if kinds != expected || !beep_after_speech {
                wrong.push(format!("{} at {level} dBm0: {signals:?}", passage.label));
            }
        }
    }
    println!("{seconds:.0} s of speech at each of {LEVELS:?} dBm0");
    assert!(seconds > 120.0, "only {seconds:.0} s of speech");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
