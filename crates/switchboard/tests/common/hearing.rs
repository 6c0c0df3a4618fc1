#![allow(dead_code)] // each test binary uses part of it
//! Which of several tones a caller hears, judged on the last half second
//! of audio it received, and waits until what it hears is what a test
//! expects: for mixers, where a caller hears a sum of the others' tones.
//!
//! A tone counts as heard when it carries a good share of the window's
//! energy and the window is not silent; as not heard when its share is
//! small (20 dB below an equal partner in a two-tone mix) or the window is
//! silent. Waits slide the window forward over fresh audio only, so a
//! change the server makes a few frames late is still judged fairly and no
//! assertion depends on exact timing.

use std::fmt;
use std::time::{Duration, Instant};

use testkit::analysis::{decode_audio, level_dbm0, tone_fraction, CLOCK_RATE};
use testkit::rtp_peer::{Codec, ReceivedPacket, RtpPeer};

/// The window judged: 25 frames of 20 ms.
pub const WINDOW_FRAMES: usize = 25;
/// A heard tone carries at least this share of the window's energy.
pub const HEARD_SHARE: f64 = 0.15;
/// A tone not heard carries less than this share (about -20 dB against
/// an equal partner).
pub const ABSENT_SHARE: f64 = 0.02;
/// Below this level (dBm0) a window is silence.
pub const SILENCE_DBM0: f64 = -45.0;
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// What one window sounded like: its level and each asked tone's share.
#[derive(Debug, Clone)]
pub struct Heard {
    /// The window's level in dBm0 (−∞ for digital silence).
    pub level_dbm0: f64,
    /// `(frequency, share of the energy)` for each tone asked about.
    pub shares: Vec<(f64, f64)>,
    /// Audio frames in the window (fewer than [`WINDOW_FRAMES`] when too
    /// little fresh audio arrived).
    pub frames: usize,
}

impl Heard {
    /// The share of `frequency` (0 when not asked about).
    pub fn share(&self, frequency: f64) -> f64 {
        self.shares
            .iter()
            .find(|(f, _)| *f == frequency)
            .map_or(0.0, |(_, s)| *s)
    }

    /// Whether the window is silence.
    pub fn silent(&self) -> bool {
        self.level_dbm0 < SILENCE_DBM0
    }

    /// Whether `frequency` is heard in it.
    pub fn hears(&self, frequency: f64) -> bool {
        !self.silent() && self.share(frequency) >= HEARD_SHARE
    }

    /// Whether `frequency` is absent from it.
    pub fn lacks(&self, frequency: f64) -> bool {
        self.silent() || self.share(frequency) < ABSENT_SHARE
    }

    /// A full window in which every tone of `hears` is heard and none of
    /// `lacks` is.
    pub fn matches(&self, hears: &[f64], lacks: &[f64]) -> bool {
        self.frames >= WINDOW_FRAMES
            && hears.iter().all(|&f| self.hears(f))
            && lacks.iter().all(|&f| self.lacks(f))
    }
}

impl fmt::Display for Heard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} frames at {:.1} dBm0;", self.frames, self.level_dbm0)?;
        for (frequency, share) in &self.shares {
            write!(f, " {frequency} Hz {:.3}", share)?;
        }
        Ok(())
    }
}

/// The last [`WINDOW_FRAMES`] G.711 frames of `packets` that arrived at or
/// after `since`, judged for `frequencies`.
pub fn last_window(packets: &[ReceivedPacket], since: Instant, frequencies: &[f64]) -> Heard {
    let audio: Vec<ReceivedPacket> = packets
        .iter()
        .filter(|p| p.arrival >= since && Codec::from_payload_type(p.payload_type).is_some())
        .cloned()
        .collect();
    let window = &audio[audio.len().saturating_sub(WINDOW_FRAMES)..];
    let samples = decode_audio(window);
    Heard {
        level_dbm0: level_dbm0(&samples),
        shares: frequencies
            .iter()
            .map(|&f| (f, tone_fraction(&samples, f, CLOCK_RATE)))
            .collect(),
        frames: window.len(),
    }
}

/// Waits up to `timeout` until a window of audio `peer` received after
/// this call hears every tone of `hears` and none of `lacks`; the matching
/// window, or the last one judged.
pub fn wait_hearing(
    peer: &RtpPeer,
    hears: &[f64],
    lacks: &[f64],
    timeout: Duration,
) -> Result<Heard, Heard> {
    let frequencies: Vec<f64> = hears.iter().chain(lacks).copied().collect();
    wait_window(peer, &frequencies, timeout, |h| h.matches(hears, lacks))
}

/// Waits up to `timeout` until a window of audio `peer` received after
/// this call is silence; the silent window, or the last one judged.
pub fn wait_silence(
    peer: &RtpPeer,
    frequencies: &[f64],
    timeout: Duration,
) -> Result<Heard, Heard> {
    wait_window(peer, frequencies, timeout, |h| {
        h.frames >= WINDOW_FRAMES && h.silent()
    })
}

fn wait_window(
    peer: &RtpPeer,
    frequencies: &[f64],
    timeout: Duration,
    done: impl Fn(&Heard) -> bool,
) -> Result<Heard, Heard> {
    let since = Instant::now();
    let deadline = since + timeout;
    loop {
        let heard = last_window(&peer.received(), since, frequencies);
        if done(&heard) {
            return Ok(heard);
        }
        if Instant::now() >= deadline {
            return Err(heard);
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::tone::ToneGenerator;
    use std::net::SocketAddr;

    /// PCMU packets of `samples`, 160 a packet, all arrived now.
    fn packets(samples: &[i16]) -> Vec<ReceivedPacket> {
        let now = Instant::now();
        samples
            .chunks(160)
            .enumerate()
            .map(|(i, chunk)| {
                let mut payload = vec![0u8; chunk.len()];
                Codec::Pcmu.encode(chunk, &mut payload);
                ReceivedPacket {
                    arrival: now,
                    from: SocketAddr::from(([127, 0, 0, 1], 9)),
                    payload_type: 0,
                    sequence_number: i as u16,
                    timestamp: i as u32 * 160,
                    ssrc: 1,
                    marker: false,
                    payload,
                }
            })
            .collect()
    }

    #[test]
    fn a_two_tone_mix_hears_both_and_lacks_the_third() {
        let a = ToneGenerator::sine(900.0, -10.0).take(8000);
        let b = ToneGenerator::sine(1300.0, -10.0).take(8000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        let heard = last_window(
            &packets(&mix),
            Instant::now() - POLL,
            &[600.0, 900.0, 1300.0],
        );
        assert!(heard.matches(&[900.0, 1300.0], &[600.0]), "{heard}");
        assert!(!heard.matches(&[600.0], &[]), "{heard}");
        let silence = last_window(&packets(&[0; 8000]), Instant::now() - POLL, &[600.0]);
        assert!(silence.silent() && silence.lacks(600.0), "{silence}");
    }
}
