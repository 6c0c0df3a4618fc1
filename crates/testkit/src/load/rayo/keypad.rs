//! What the in-process caller sends on each 20 ms tick: G.711 silence, or
//! the RFC 4733 telephone-events of a key sequence, and how it tells
//! the first audible packet of a prompt. Pure functions and a small state
//! machine, so the packet sequence is unit-tested.

use media::dtmf_event::{digit_to_event, TelephoneEvent};
use media::g711::{alaw_decode, ulaw_decode};

/// RTP timestamp units per 20 ms packet (8 kHz).
pub const SAMPLES_PER_PACKET: u32 = 160;
/// Packets a key is held (100 ms).
const KEY_PACKETS: u16 = 5;
/// Copies of a key's end packet (RFC 4733 §2.5.1.4 recommends three).
const END_COPIES: u16 = 3;
/// Packets of silence between keys (60 ms).
const GAP_PACKETS: u16 = 3;
/// A payload is audible when a sample reaches this level (about −30 dBov).
pub const VOICE_LEVEL: i16 = 1000;

/// What to send on one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet {
    /// A G.711 silence frame at the running audio timestamp.
    Silence,
    /// A telephone-event payload; `timestamp_offset` is where the event
    /// began, in ticks back from now (its RTP timestamp stays that of its
    /// first packet); `marker` on the first packet.
    Event {
        /// The 4-byte payload.
        payload: [u8; 4],
        /// Ticks since the event's first packet.
        ticks_since_start: u32,
        /// RTP marker bit.
        marker: bool,
        /// This is the first end packet of the sequence's last key.
        last_end: bool,
    },
}

/// Plays a key sequence tick by tick; silence once done.
#[derive(Debug, Clone)]
pub struct Keypad {
    events: Vec<u8>,
    /// Which key, and the tick within it (hold, end copies, gap).
    key: usize,
    tick: u16,
}

impl Keypad {
    /// The sequence of `keys` (0–9, `*`, `#`, A–D; others are skipped).
    pub fn new(keys: &str) -> Keypad {
        Keypad {
            events: keys.chars().filter_map(digit_to_event).collect(),
            key: 0,
            tick: 0,
        }
    }

    /// True once every key and its end packets were sent.
    pub fn done(&self) -> bool {
        self.key >= self.events.len()
    }

    /// The packet for this tick, and moves on.
    pub fn next_packet(&mut self) -> Packet {
        let Some(&event) = self.events.get(self.key) else {
            return Packet::Silence;
        };
        let tick = self.tick;
        self.tick += 1;
        if self.tick >= KEY_PACKETS + END_COPIES + GAP_PACKETS {
            self.tick = 0;
            self.key += 1;
        }
        if tick >= KEY_PACKETS + END_COPIES {
            return Packet::Silence;
        }
        let end = tick >= KEY_PACKETS;
        let held = u32::from(tick.min(KEY_PACKETS - 1) + 1);
        let payload = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration: (held * SAMPLES_PER_PACKET) as u16,
        }
        .to_bytes();
        Packet::Event {
            payload,
            ticks_since_start: u32::from(tick),
            marker: tick == 0,
            last_end: end && tick == KEY_PACKETS && self.key_is_last(),
        }
    }

    /// Whether the key just played is the last one (the index moved on
    /// only after its gap, so it is still current at its end packet).
    fn key_is_last(&self) -> bool {
        self.key + 1 == self.events.len()
    }
}

/// G.711 silence for `payload_type` (0 PCMU, 8 PCMA).
pub fn silence_byte(payload_type: u8) -> u8 {
    if payload_type == 8 {
        0xd5
    } else {
        0xff
    }
}

/// Whether a G.711 payload has a sample at or above [`VOICE_LEVEL`].
pub fn is_audible(payload_type: u8, payload: &[u8]) -> bool {
    let decode = match payload_type {
        0 => ulaw_decode,
        8 => alaw_decode,
        _ => return false,
    };
    payload
        .iter()
        .any(|&code| decode(code).unsigned_abs() >= VOICE_LEVEL.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::g711::{alaw_encode, ulaw_encode};

    fn event(p: Packet) -> (TelephoneEvent, u32, bool, bool) {
        match p {
            Packet::Event {
                payload,
                ticks_since_start,
                marker,
                last_end,
            } => (
                TelephoneEvent::parse(&payload).expect("4 bytes"),
                ticks_since_start,
                marker,
                last_end,
            ),
            Packet::Silence => panic!("silence where an event was due"),
        }
    }

    #[test]
    fn two_keys_are_held_ended_three_times_and_spaced() {
        let mut keypad = Keypad::new("1#");
        let mut packets = Vec::new();
        while !keypad.done() {
            packets.push(keypad.next_packet());
        }
        assert_eq!(packets.len(), 2 * 11);
        for (k, key) in [(0, 1u8), (11, 11u8)] {
            let (first, since, marker, _) = event(packets[k]);
            assert_eq!((first.event, first.end, first.duration), (key, false, 160));
            assert!(marker && since == 0);
            let (held, since, marker, _) = event(packets[k + 4]);
            assert_eq!(
                (held.end, held.duration, since, marker),
                (false, 800, 4, false)
            );
            for copy in 5..8 {
                let (end, since, _, _) = event(packets[k + copy]);
                assert_eq!((end.end, end.duration, since), (true, 800, copy as u32));
            }
            for gap in 8..11 {
                assert_eq!(packets[k + gap], Packet::Silence);
            }
        }
        // Only the last key's first end packet is the one timed.
        let timed: Vec<usize> = packets
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p, Packet::Event { last_end: true, .. }))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(timed, [16]);
        assert_eq!(keypad.next_packet(), Packet::Silence);
        assert!(Keypad::new("").done());
    }

    #[test]
    fn audible_means_a_loud_enough_sample() {
        let quiet_u = [silence_byte(0); 160];
        let quiet_a = [silence_byte(8); 160];
        assert!(!is_audible(0, &quiet_u));
        assert!(!is_audible(8, &quiet_a));
        let mut loud_u = quiet_u;
        loud_u[80] = ulaw_encode(-4000);
        let mut loud_a = quiet_a;
        loud_a[3] = alaw_encode(2000);
        assert!(is_audible(0, &loud_u));
        assert!(is_audible(8, &loud_a));
        // Comfort-noise-level hiss is not a prompt.
        assert!(!is_audible(0, &[ulaw_encode(200); 160]));
        assert!(!is_audible(101, &loud_u));
    }
}
