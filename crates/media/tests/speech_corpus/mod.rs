//! Real synthetic speech for talk-off tests, shared by the DTMF and CPA
//! talk-off tests: `espeak-ng` reads varied English text in several voices,
//! pitches and speeds; its 22,050 Hz output is resampled to 8 kHz here.
//! Without `espeak-ng` [`synthesize`] returns `None` and the tests skip
//! (`scripts/test` installs it).

use std::f64::consts::TAU;
use std::io::Read;
use std::process::{Command, Stdio};

use media::tone::dbm0_to_amplitude;

/// Voice, pitch (0–99), speed (words per minute) and text of each passage.
pub const PASSAGES: [(&str, u32, u32, &str); 8] = [
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
pub const LEVELS: [f64; 3] = [-25.0, -15.0, -5.0];

/// One passage read by espeak-ng, at 8 kHz, unscaled.
pub struct Passage {
    /// `-v voice -p pitch -s speed`, for messages.
    pub label: String,
    /// The speech.
    pub samples: Vec<f64>,
}

/// Every passage of [`PASSAGES`], or `None` without espeak-ng.
pub fn synthesize() -> Option<Vec<Passage>> {
    if Command::new("espeak-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return None;
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
    let mut passages = Vec::new();
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
        passages.push(Passage {
            label: format!("-v {voice} -p {pitch} -s {speed}"),
            samples: speech,
        });
    }
    Some(passages)
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
pub fn at_active_level(signal: &[f64], dbm0: f64) -> Vec<i16> {
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
