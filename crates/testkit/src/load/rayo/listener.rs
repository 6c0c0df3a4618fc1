//! What each caller of the mixer mode hears: per call a [`Listener`]
//! (loss, duplicates and pacing of the server's stream as rtp-load counts
//! them, how many packets carry speech-level audio, the last half second of
//! decoded audio), and [`Hearing`], the sum over calls at the end of the
//! measurement window: who heard the room, how many of the room's tones
//! each heard, and whether anyone heard their own tone.

use std::collections::BTreeMap;
use std::time::Instant;

use media::g711::{alaw_decode, ulaw_decode};

use super::keypad::VOICE_LEVEL;
use super::rooms::{RoomLayout, TONES};
use crate::analysis::tone_fraction;
use crate::load::stats::{Arrival, Counts, Histogram, Phase, Stream};

/// Decoded samples kept per call for the tone check (0.5 s).
const KEPT_SAMPLES: usize = 4000;
/// A tone is heard when it carries this share of the audio's energy.
const TONE_SHARE: f64 = 0.1;
/// A call hears the room when at least this share of its window's audio
/// packets reach speech level.
const HEARD_SHARE: f64 = 0.5;

/// One call's receive side in the mixer mode.
pub(crate) struct Listener {
    stream: Stream,
    /// G.711 packets inside the window.
    audio: u64,
    /// Of those, packets with a sample at speech level.
    audible: u64,
    samples: Vec<i16>,
    next: usize,
    /// The window's last packet: (sequence, timestamp, SSRC).
    last: Option<(u16, u32, u32)>,
    /// SSRC changes inside the window.
    ssrc_changes: u64,
    /// Packets received before the stream's first SSRC change, and when.
    first_ssrc_after: Option<(u64, Instant)>,
    /// Consecutive packets whose timestamps are not 160 apart.
    ts_jumps: u64,
}

impl Listener {
    pub(crate) fn new() -> Listener {
        Listener {
            stream: Stream::new(),
            audio: 0,
            audible: 0,
            samples: Vec::with_capacity(KEPT_SAMPLES),
            next: 0,
            last: None,
            ssrc_changes: 0,
            first_ssrc_after: None,
            ts_jumps: 0,
        }
    }

    /// Takes one packet; pacing inside the window goes to `pacing`.
    pub(crate) fn on_packet(&mut self, p: &Arrival<'_>, phase: Phase, pacing: &mut Histogram) {
        let before = self.stream.all.packets;
        self.stream.on_packet(p, phase, pacing);
        if self.first_ssrc_after.is_none() && self.stream.ssrc_changes > 0 {
            self.first_ssrc_after = Some((before, p.arrival));
        }
        if phase != Phase::Measuring {
            return;
        }
        let decode = match p.payload_type {
            0 => ulaw_decode,
            8 => alaw_decode,
            _ => return,
        };
        self.audio += 1;
        if let Some((seq, ts, ssrc)) = self.last {
            let next = p.sequence_number == seq.wrapping_add(1);
            if ssrc != p.ssrc {
                self.ssrc_changes += 1;
            } else if next && p.timestamp.wrapping_sub(ts) != 160 {
                self.ts_jumps += 1;
            }
        }
        self.last = Some((p.sequence_number, p.timestamp, p.ssrc));
        let mut loud = false;
        for &code in p.payload {
            let sample = decode(code);
            loud |= sample.unsigned_abs() >= VOICE_LEVEL.unsigned_abs();
            if self.samples.len() < KEPT_SAMPLES {
                self.samples.push(sample);
            } else {
                self.samples[self.next] = sample;
            }
            self.next = (self.next + 1) % KEPT_SAMPLES;
        }
        self.audible += u64::from(loud);
    }

    /// The kept samples, oldest first.
    fn samples_in_order(&self) -> Vec<i16> {
        let split = if self.samples.len() < KEPT_SAMPLES {
            0
        } else {
            self.next
        };
        let mut out = self.samples[split..].to_vec();
        out.extend_from_slice(&self.samples[..split]);
        out
    }
}

/// What the callers heard over the measurement window, summed over calls.
#[derive(Debug, Clone, Default)]
pub struct Hearing {
    /// Calls measured (established when the window closed).
    pub calls: u64,
    /// The server's packets to them inside the window.
    pub window: Counts,
    /// |inter-arrival − 20 ms| of those packets, µs.
    pub pacing: Histogram,
    /// Highest RFC 3550 interarrival jitter of any call inside the window, ms.
    pub jitter_ms_max: f64,
    /// Consecutive packets (by sequence) whose RTP timestamps are not one
    /// 20 ms frame apart, over every call.
    pub ts_jumps: u64,
    /// Calls with at least one.
    pub ts_jump_calls: u64,
    /// SSRC changes of the server's streams inside the window, and before it.
    pub ssrc_changes: u64,
    /// SSRC changes before the window (from the first packet of each call).
    pub ssrc_changes_before: u64,
    /// Per call with an SSRC change: packets received before the first one.
    pub ssrc_change_after: Vec<u64>,
    /// Per call with an SSRC change: when the first one arrived.
    pub ssrc_change_at: Vec<Instant>,
    /// Calls that received nothing in the window: a failure.
    pub silent: u64,
    /// Calls in a room with another speaker.
    pub should_hear: u64,
    /// Calls that heard speech-level audio in most of their window's packets.
    pub hearing: u64,
    /// Calls that should have and did not: a failure.
    pub deaf: u64,
    /// Calls by how many of their room's tones they heard (the last 0.5 s).
    pub tones_heard: BTreeMap<usize, u64>,
    /// Calls that heard more tones than `max_mixed`: a failure.
    pub over_mixed: u64,
    /// The most speakers the server mixes (the check of `over_mixed`).
    pub max_mixed: usize,
    /// Speakers that heard their own tone: a failure.
    pub self_heard: u64,
}

impl Hearing {
    /// Nothing heard yet; at most `max_mixed` tones may be heard by anyone.
    pub fn new(max_mixed: usize) -> Hearing {
        Hearing {
            max_mixed,
            ..Hearing::default()
        }
    }

    /// Adds call `index`'s window.
    pub(crate) fn add(&mut self, listener: &Listener, index: usize, layout: &RoomLayout) {
        self.calls += 1;
        self.window.add(&listener.stream.window);
        self.jitter_ms_max = self
            .jitter_ms_max
            .max(listener.stream.window_jitter_max_ms());
        self.ts_jumps += listener.ts_jumps;
        self.ssrc_changes += listener.ssrc_changes;
        if let Some((after, at)) = listener.first_ssrc_after {
            self.ssrc_change_after.push(after);
            self.ssrc_change_at.push(at);
        }
        self.ssrc_changes_before += listener
            .stream
            .ssrc_changes
            .saturating_sub(listener.ssrc_changes);
        self.ts_jump_calls += u64::from(listener.ts_jumps > 0);
        if listener.stream.window.packets == 0 {
            self.silent += 1;
        }
        let speaker = layout.is_speaker(index);
        let others = layout.speakers_per_room() - usize::from(speaker);
        let heard =
            listener.audio > 0 && listener.audible as f64 >= HEARD_SHARE * listener.audio as f64;
        self.hearing += u64::from(heard);
        if others > 0 {
            self.should_hear += 1;
            self.deaf += u64::from(!heard);
        }
        let samples = listener.samples_in_order();
        let present = |hz: u32| tone_fraction(&samples, f64::from(hz), 8000) >= TONE_SHARE;
        let tones = layout.room_tones();
        let count = tones.iter().filter(|&&hz| present(hz)).count();
        *self.tones_heard.entry(count).or_default() += 1;
        self.over_mixed += u64::from(count > self.max_mixed);
        let own_tone_unique = layout.speakers_per_room() <= TONES;
        if speaker && own_tone_unique && present(layout.tone_hz(index)) {
            self.self_heard += 1;
        }
    }

    /// Median and largest number of packets a call received before its
    /// stream's first SSRC change (None when no stream changed).
    pub fn ssrc_change_after_p50_max(&self) -> Option<(u64, u64)> {
        let mut after = self.ssrc_change_after.clone();
        after.sort_unstable();
        let max = *after.last()?;
        Some((after[(after.len() - 1) / 2], max))
    }

    /// The spread of the first SSRC changes' arrivals: seconds from the
    /// earliest to the median and to the latest.
    pub fn ssrc_change_spread_s(&self) -> Option<(f64, f64)> {
        let mut at = self.ssrc_change_at.clone();
        at.sort_unstable();
        let first = *at.first()?;
        let secs = |t: Instant| t.saturating_duration_since(first).as_secs_f64();
        Some((secs(at[(at.len() - 1) / 2]), secs(*at.last()?)))
    }

    /// Packets lost inside the window.
    pub fn lost(&self) -> u64 {
        self.window.lost()
    }

    /// Everything that counts as the server's failure.
    pub fn failure_count(&self) -> u64 {
        self.lost() + self.silent + self.deaf + self.over_mixed + self.self_heard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::g711::ulaw_encode;
    use media::tone::ToneGenerator;
    use std::time::Duration;

    /// Feeds 50 packets of `tones` (Hz, mixed) at 20 ms inside the window.
    fn hear(tones: &[u32]) -> Listener {
        let mut listener = Listener::new();
        let mut pacing = Histogram::new();
        let mut generators: Vec<ToneGenerator> = tones
            .iter()
            .map(|&hz| ToneGenerator::sine(f64::from(hz), -16.0))
            .collect();
        let t0 = Instant::now();
        for i in 0..50u16 {
            let mut mix = [0i32; 160];
            for g in &mut generators {
                let mut frame = [0i16; 160];
                g.fill(&mut frame);
                for (m, s) in mix.iter_mut().zip(frame) {
                    *m += i32::from(s);
                }
            }
            let payload: Vec<u8> = mix
                .iter()
                .map(|&s| ulaw_encode(s.clamp(-32768, 32767) as i16))
                .collect();
            let p = Arrival {
                arrival: t0 + Duration::from_millis(20 * u64::from(i)),
                payload_type: 0,
                sequence_number: i,
                timestamp: u32::from(i) * 160,
                ssrc: 9,
                payload: &payload,
            };
            listener.on_packet(&p, Phase::Measuring, &mut pacing);
        }
        listener
    }

    #[test]
    fn listeners_hear_the_others_tones_and_not_their_own() {
        let layout = RoomLayout {
            rooms: 1,
            size: 6,
            speakers: 4,
        };
        assert_eq!(layout.room_tones(), [400, 500, 600, 700]);
        let mut hearing = Hearing::new(3);
        // A listener (index 5) hearing three of the four speakers.
        hearing.add(&hear(&[400, 500, 700]), 5, &layout);
        // Speaker 1 (500 Hz) hearing the other three.
        hearing.add(&hear(&[400, 600, 700]), 1, &layout);
        // Speaker 0 (400 Hz) hearing itself among four: two failures.
        hearing.add(&hear(&[400, 500, 600, 700]), 0, &layout);
        // A listener hearing nothing.
        hearing.add(&hear(&[]), 4, &layout);
        assert_eq!(hearing.calls, 4);
        assert_eq!(
            (hearing.should_hear, hearing.hearing, hearing.deaf),
            (4, 3, 1)
        );
        assert_eq!(hearing.tones_heard[&3], 2);
        assert_eq!(hearing.tones_heard[&4], 1);
        assert_eq!(hearing.tones_heard[&0], 1);
        assert_eq!((hearing.over_mixed, hearing.self_heard), (1, 1));
        assert_eq!((hearing.lost(), hearing.ts_jumps), (0, 0));
        assert_eq!(hearing.failure_count(), 3);
    }
}
