//! RFC 4733 telephone-events: DTMF digits carried as RTP payload.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     event     |E|R| volume    |          duration             |
//! ```
//!
//! One key press is one *event*, identified by the RTP timestamp of its start:
//! every packet of the event carries that same timestamp and a duration (in
//! timestamp units since the start) that grows every 20 or 50 ms. The first
//! packet has the RTP marker bit; the last carries the E bit and is sent three
//! times, because a lost end would leave the digit hanging (RFC 4733 §2.5.1.4).
//!
//! Sharp edges handled here:
//! - The three end packets must yield one digit, and so must a stream whose
//!   start packets were lost (only the end arrives).
//! - Pressing the same key twice gives two events with different timestamps,
//!   and both must be reported.
//! - Packets of an older event that arrive late are ignored.
//! - An event whose end packets are all lost is reported when the next event
//!   starts or when the caller calls [`TelephoneEventReceiver::finish`].
//!
//! Events longer than 65,535 timestamp units (8.2 s at 8 kHz) would need the
//! RFC's segmented long-event scheme; the sender clamps to that length.

use crate::sequence::timestamp_newer;
use thiserror::Error;

/// Length of a telephone-event payload.
pub const TELEPHONE_EVENT_LEN: usize = 4;

/// Why a payload is not a telephone-event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TelephoneEventError {
    /// Fewer than 4 bytes.
    #[error("telephone-event payload of {0} bytes is shorter than 4")]
    TooShort(usize),
    /// The output buffer is smaller than 4 bytes.
    #[error("buffer of {0} bytes cannot hold a telephone-event payload")]
    BufferTooSmall(usize),
}

/// The DTMF digit of an event code 0–15 (`0`–`9`, `*`, `#`, `A`–`D`).
pub fn event_to_digit(event: u8) -> Option<char> {
    b"0123456789*#ABCD"
        .get(usize::from(event))
        .map(|&b| char::from(b))
}

/// The event code of a DTMF digit (case-insensitive for `A`–`D`).
pub fn digit_to_event(digit: char) -> Option<u8> {
    let digit = digit.to_ascii_uppercase();
    "0123456789*#ABCD".find(digit).map(|i| i as u8)
}

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 for DTMF).
    pub event: u8,
    /// The E bit: this is (a retransmission of) the last packet of the event.
    pub end: bool,
    /// Power level in −dBm0 (0–63; 10 means −10 dBm0).
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads a payload; bytes past the first four (further events) are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(Self {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(TelephoneEventError::TooShort(payload.len())),
        }
    }

    /// The 4 payload bytes (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; TELEPHONE_EVENT_LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3f);
        [self.event, flags, d0, d1]
    }

    /// Writes the payload into `out`; returns 4.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, TelephoneEventError> {
        let len = out.len();
        let out = out
            .get_mut(..TELEPHONE_EVENT_LEN)
            .ok_or(TelephoneEventError::BufferTooSmall(len))?;
        out.copy_from_slice(&self.to_bytes());
        Ok(TELEPHONE_EVENT_LEN)
    }

    /// The DTMF digit, when the event is one.
    pub fn digit(&self) -> Option<char> {
        event_to_digit(self.event)
    }
}

/// A completed event as reported by [`TelephoneEventReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// Event code.
    pub event: u8,
    /// The DTMF digit, if the code is 0–15.
    pub digit: Option<char>,
    /// RTP timestamp identifying the event.
    pub timestamp: u32,
    /// Longest duration seen, in timestamp units.
    pub duration: u16,
    /// Volume of the last packet, in −dBm0.
    pub volume: u8,
    /// Whether an end packet was received (false when reported by a later event or `finish`).
    pub ended: bool,
}

impl ReceivedEvent {
    /// Duration in milliseconds for a clock rate (8000 for telephone-event/8000).
    pub fn duration_ms(&self, clock_rate: u32) -> u32 {
        u32::from(self.duration) * 1000 / clock_rate.max(1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Ongoing {
    event: u8,
    timestamp: u32,
    duration: u16,
    volume: u8,
}

/// Turns a stream of telephone-event packets into one report per key press.
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventReceiver {
    ongoing: Option<Ongoing>,
    /// Timestamp of the newest event already reported (its repeats are ignored).
    reported: Option<u32>,
}

/// What one packet produced: at most two reports (a previous event whose end
/// was lost, and this one).
pub type Reports = [Option<ReceivedEvent>; 2];

impl TelephoneEventReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet's RTP timestamp and payload; returns events completed by it.
    pub fn receive(
        &mut self,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<Reports, TelephoneEventError> {
        let packet = TelephoneEvent::parse(payload)?;
        let mut reports = [None, None];
        if let Some(done) = self.reported {
            if done == timestamp || timestamp_newer(done, timestamp) {
                return Ok(reports); // end retransmission or a late packet of an old event
            }
        }
        match self.ongoing {
            Some(ongoing) if ongoing.timestamp == timestamp => {}
            Some(ongoing) if timestamp_newer(ongoing.timestamp, timestamp) => {
                return Ok(reports); // late packet of an older event
            }
            Some(ongoing) => {
                // A new event began before the old one's end arrived.
                reports[0] = Some(self.report(ongoing, false));
                self.ongoing = None;
            }
            None => {}
        }
        let ongoing = self.ongoing.get_or_insert(Ongoing {
            event: packet.event,
            timestamp,
            duration: 0,
            volume: packet.volume,
        });
        ongoing.duration = ongoing.duration.max(packet.duration);
        ongoing.volume = packet.volume;
        if packet.end {
            let ongoing = *ongoing;
            self.ongoing = None;
            reports[1] = Some(self.report(ongoing, true));
        }
        Ok(reports)
    }

    /// Reports the event in progress, if any (call when the stream ends or goes quiet).
    pub fn finish(&mut self) -> Option<ReceivedEvent> {
        let ongoing = self.ongoing.take()?;
        Some(self.report(ongoing, false))
    }

    /// Whether an event has started and not yet been reported.
    pub fn in_progress(&self) -> bool {
        self.ongoing.is_some()
    }

    fn report(&mut self, ongoing: Ongoing, ended: bool) -> ReceivedEvent {
        self.reported = Some(ongoing.timestamp);
        ReceivedEvent {
            event: ongoing.event,
            digit: event_to_digit(ongoing.event),
            timestamp: ongoing.timestamp,
            duration: ongoing.duration,
            volume: ongoing.volume,
            ended,
        }
    }
}

/// One packet to send, produced by [`TelephoneEventSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// RTP marker bit (set on the first packet only).
    pub marker: bool,
    /// RTP timestamp (the event's start, same for every packet).
    pub timestamp: u32,
    /// Timestamp units after the event start at which to send this packet.
    pub send_offset: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

/// Produces the packets of one event: marker on the first, durations growing
/// by one packet interval, then the end packet three times.
///
/// The caller stamps sequence numbers (one per packet, as for any RTP packet)
/// and sends each packet `send_offset` timestamp units after the start; the
/// three end packets share the offset of the last update and may go back to back.
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    event: u8,
    volume: u8,
    timestamp: u32,
    interval: u32,
    total: u32,
    /// Duration of the next update packet; past `total`, counts end packets sent.
    next_duration: u32,
    ends_sent: u8,
    first: bool,
}

/// Number of times the end packet is sent (RFC 4733 §2.5.1.4).
pub const END_REPEATS: u8 = 3;

impl TelephoneEventSender {
    /// An event of `duration` timestamp units starting at `timestamp`, updated
    /// every `interval` units (160 for 20 ms at 8 kHz, 400 for 50 ms).
    pub fn new(event: u8, volume: u8, timestamp: u32, interval: u16, duration: u16) -> Self {
        let interval = u32::from(interval.max(1));
        Self {
            event,
            volume: volume & 0x3f,
            timestamp,
            interval,
            total: u32::from(duration.max(1)),
            next_duration: interval.min(u32::from(duration.max(1))),
            ends_sent: 0,
            first: true,
        }
    }

    /// The sender for a DTMF digit; `None` for a character that is not one.
    pub fn for_digit(
        digit: char,
        volume: u8,
        timestamp: u32,
        interval: u16,
        duration: u16,
    ) -> Option<Self> {
        Some(Self::new(
            digit_to_event(digit)?,
            volume,
            timestamp,
            interval,
            duration,
        ))
    }
}

impl Iterator for TelephoneEventSender {
    type Item = EventPacket;

    fn next(&mut self) -> Option<EventPacket> {
        let (end, duration) = if self.next_duration < self.total {
            let d = self.next_duration;
            self.next_duration += self.interval;
            (false, d)
        } else if self.ends_sent < END_REPEATS {
            self.ends_sent += 1;
            (true, self.total)
        } else {
            return None;
        };
        let marker = std::mem::take(&mut self.first);
        Some(EventPacket {
            marker,
            timestamp: self.timestamp,
            send_offset: duration,
            event: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                // `total` came from a u16.
                duration: duration as u16,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    fn digits(reports: &[Reports]) -> Vec<(char, u16, bool)> {
        reports
            .iter()
            .flatten()
            .flatten()
            .map(|r| (r.digit.unwrap(), r.duration, r.ended))
            .collect()
    }

    #[test]
    fn payload_round_trip_and_bits() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 63,
            duration: 0x1234,
        };
        assert_eq!(e.to_bytes(), [11, 0xbf, 0x12, 0x34]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        assert_eq!(e.digit(), Some('#'));
        // The R bit is ignored on receipt.
        let r = TelephoneEvent::parse(&[1, 0x4a, 0, 160]).unwrap();
        assert_eq!((r.end, r.volume, r.duration), (false, 10, 160));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(TelephoneEventError::TooShort(3))
        );
        let mut small = [0u8; 3];
        assert_eq!(
            e.write(&mut small),
            Err(TelephoneEventError::BufferTooSmall(3))
        );
        let mut out = [0u8; 8];
        assert_eq!(e.write(&mut out), Ok(4));
    }

    #[test]
    fn digit_mapping() {
        let all: String = (0..16).map(|e| event_to_digit(e).unwrap()).collect();
        assert_eq!(all, "0123456789*#ABCD");
        assert_eq!(event_to_digit(16), None);
        assert_eq!(digit_to_event('d'), Some(15));
        assert_eq!(digit_to_event('x'), None);
    }

    #[test]
    fn one_digit_per_event_despite_three_end_packets() {
        let mut rx = TelephoneEventReceiver::new();
        let mut out = Vec::new();
        for d in [160, 320, 480, 640] {
            out.push(rx.receive(1000, &payload(5, false, d)).unwrap());
        }
        for _ in 0..3 {
            out.push(rx.receive(1000, &payload(5, true, 800)).unwrap());
        }
        assert_eq!(digits(&out), vec![('5', 800, true)]);
        assert!(!rx.in_progress());
        assert_eq!(rx.finish(), None);
    }

    #[test]
    fn same_key_twice_is_two_digits_and_late_packets_are_ignored() {
        let mut rx = TelephoneEventReceiver::new();
        let packets = [
            (1000, false, 160),
            (1000, true, 640),
            (3000, false, 160),
            (1000, false, 480), // late
            (3000, true, 960),
            (1000, true, 640), // late end
            (3000, true, 960),
        ];
        let out: Vec<_> = packets
            .iter()
            .map(|&(ts, end, d)| rx.receive(ts, &payload(1, end, d)).unwrap())
            .collect();
        assert_eq!(digits(&out), vec![('1', 640, true), ('1', 960, true)]);
    }

    #[test]
    fn lost_start_and_lost_end() {
        let mut rx = TelephoneEventReceiver::new();
        // Only end packets arrive.
        let r = rx.receive(500, &payload(9, true, 400)).unwrap();
        assert_eq!(digits(&[r]), vec![('9', 400, true)]);
        // Updates of an event whose end is lost, then the next event.
        rx.receive(2000, &payload(2, false, 160)).unwrap();
        rx.receive(2000, &payload(2, false, 320)).unwrap();
        let r = rx.receive(4000, &payload(3, false, 160)).unwrap();
        assert_eq!(digits(&[r]), vec![('2', 320, false)]);
        let last = rx.finish().unwrap();
        assert_eq!(
            (last.digit, last.duration, last.ended),
            (Some('3'), 160, false)
        );
        assert_eq!(last.duration_ms(8000), 20);
    }

    #[test]
    fn timestamps_wrap() {
        let mut rx = TelephoneEventReceiver::new();
        let a = u32::MAX - 100;
        let r1 = rx.receive(a, &payload(4, true, 800)).unwrap();
        let r2 = rx
            .receive(a.wrapping_add(2000), &payload(4, true, 800))
            .unwrap();
        let r3 = rx.receive(a, &payload(4, true, 800)).unwrap();
        assert_eq!(digits(&[r1, r2, r3]).len(), 2);
    }

    #[test]
    fn sender_produces_rfc_sequence() {
        let packets: Vec<_> = TelephoneEventSender::for_digit('#', 10, 7777, 160, 800)
            .unwrap()
            .collect();
        let durations: Vec<_> = packets
            .iter()
            .map(|p| (p.event.duration, p.event.end))
            .collect();
        assert_eq!(
            durations,
            vec![
                (160, false),
                (320, false),
                (480, false),
                (640, false),
                (800, true),
                (800, true),
                (800, true)
            ]
        );
        assert!(packets[0].marker && packets[1..].iter().all(|p| !p.marker));
        assert!(packets
            .iter()
            .all(|p| p.timestamp == 7777 && p.event.event == 11));
        // 50 ms updates; duration not a multiple of the interval.
        let p: Vec<_> = TelephoneEventSender::new(1, 10, 0, 400, 1000).collect();
        let d: Vec<_> = p.iter().map(|p| p.event.duration).collect();
        assert_eq!(d, vec![400, 800, 1000, 1000, 1000]);
        assert_eq!(
            TelephoneEventSender::for_digit('x', 10, 0, 160, 800).map(|_| ()),
            None
        );
    }

    proptest! {
        #[test]
        fn sender_to_receiver_yields_each_digit_once(
            keys in proptest::collection::vec((0u8..16, 160u16..4000), 1..10),
            interval in prop_oneof![Just(160u16), Just(400u16)],
        ) {
            let mut rx = TelephoneEventReceiver::new();
            let mut ts = 0xffff_0000u32;
            let mut got = Vec::new();
            for &(event, duration) in &keys {
                for p in TelephoneEventSender::new(event, 10, ts, interval, duration) {
                    got.extend(rx.receive(p.timestamp, &p.event.to_bytes()).unwrap().into_iter().flatten());
                }
                ts = ts.wrapping_add(u32::from(duration) + 800);
            }
            let expected: Vec<_> = keys.iter().map(|&(e, d)| (e, d)).collect();
            let actual: Vec<_> = got.iter().map(|r| (r.event, r.duration)).collect();
            prop_assert_eq!(actual, expected);
        }

        #[test]
        fn receiver_never_panics(packets in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..6)), 0..50)) {
            let mut rx = TelephoneEventReceiver::new();
            for (ts, bytes) in packets {
                let _ = rx.receive(ts, &bytes);
            }
            let _ = rx.finish();
        }
    }
}
