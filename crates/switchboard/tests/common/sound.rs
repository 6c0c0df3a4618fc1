#![allow(dead_code)] // each test binary uses part of it
//! What a caller heard, frame by frame: the 1000 Hz / 500 Hz test prompts,
//! silence or something else, and runs of the same sound.

use testkit::analysis::{decode_audio, level_dbm0, tone_fraction};
use testkit::rtp_peer::ReceivedPacket;

/// What one 20 ms frame the caller received sounds like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sound {
    /// Below -50 dBm0.
    Silence,
    /// 500 Hz.
    Low,
    /// 1000 Hz.
    High,
    /// Anything else.
    Other,
}

/// The sound of one packet.
pub fn classify(packet: &ReceivedPacket) -> Sound {
    let samples = decode_audio(std::slice::from_ref(packet));
    if level_dbm0(&samples) < -50.0 {
        Sound::Silence
    } else if tone_fraction(&samples, 1000.0, 8000) > 0.8 {
        Sound::High
    } else if tone_fraction(&samples, 500.0, 8000) > 0.8 {
        Sound::Low
    } else {
        Sound::Other
    }
}

/// Consecutive runs of one sound: (sound, frames).
pub fn runs(sounds: &[Sound]) -> Vec<(Sound, usize)> {
    let mut runs: Vec<(Sound, usize)> = Vec::new();
    for &sound in sounds {
        match runs.last_mut() {
            Some((last, count)) if *last == sound => *count += 1,
            _ => runs.push((sound, 1)),
        }
    }
    runs
}
