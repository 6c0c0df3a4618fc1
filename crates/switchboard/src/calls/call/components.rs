//! What a controlled call does with the caller's packets: digits (RFC 4733
//! or in-band) and captured audio for `listen`. Plain state, no I/O; the
//! call feeds it the packets its RTP session delivers.

use media::dtmf_detector::DtmfDetector;
use media::dtmf_event::TelephoneEventReceiver;
use media::g711;
use sdp::{Codec, Negotiated};

use crate::media::session::ReceivedRtp;

/// Finds DTMF digits in the caller's packets: telephone-events when they
/// were negotiated, otherwise tones in the audio (DESIGN.md: decode only
/// while something consumes audio).
pub struct DigitSource {
    audio_pt: u8,
    codec: Codec,
    telephone_event: Option<u8>,
    events: TelephoneEventReceiver,
    detector: Option<Box<DtmfDetector>>,
}

impl DigitSource {
    /// A source for a leg that negotiated `negotiated`.
    pub fn new(negotiated: &Negotiated) -> DigitSource {
        DigitSource {
            audio_pt: negotiated.payload_type,
            codec: negotiated.codec,
            telephone_event: negotiated.telephone_event,
            events: TelephoneEventReceiver::new(),
            detector: negotiated
                .telephone_event
                .is_none()
                .then(|| Box::new(DtmfDetector::default())),
        }
    }

    /// Feeds one packet; calls `on_digit` for every digit it completes.
    pub fn feed(&mut self, packet: &ReceivedRtp, mut on_digit: impl FnMut(char)) {
        if Some(packet.payload_type) == self.telephone_event {
            if let Ok(reports) = self.events.receive(packet.timestamp, packet.payload()) {
                for digit in reports.iter().flatten().filter_map(|r| r.digit) {
                    on_digit(digit);
                }
            }
            return;
        }
        if packet.payload_type != self.audio_pt {
            return;
        }
        let Some(detector) = self.detector.as_mut() else {
            return;
        };
        match self.codec {
            Codec::Pcma => detector.process_alaw(packet.payload(), |d| on_digit(d.digit)),
            _ => detector.process_ulaw(packet.payload(), |d| on_digit(d.digit)),
        }
    }
}

/// The caller's audio for `listen`, placed by RTP timestamp so that lost
/// packets leave silence instead of shortening the capture.
pub struct Capture {
    samples: Vec<i16>,
    audio_pt: u8,
    codec: Codec,
    first: Option<u32>,
    /// Samples up to here have been reached by some packet.
    reached: usize,
}

impl Capture {
    /// Room for `samples` samples of audio from a leg that negotiated `negotiated`.
    pub fn new(negotiated: &Negotiated, samples: usize) -> Capture {
        Capture {
            samples: vec![0; samples],
            audio_pt: negotiated.payload_type,
            codec: negotiated.codec,
            first: None,
            reached: 0,
        }
    }

    /// Adds one packet's audio; `true` once the capture is full.
    pub fn feed(&mut self, packet: &ReceivedRtp) -> bool {
        if packet.payload_type != self.audio_pt {
            return self.is_full();
        }
        let first = *self.first.get_or_insert(packet.timestamp);
        let offset = packet.timestamp.wrapping_sub(first) as usize;
        // A timestamp far "before" the first wraps to a huge offset: ignored.
        if offset >= self.samples.len() {
            if offset < self.samples.len() + 8000 {
                self.reached = self.samples.len();
            }
            return self.is_full();
        }
        let payload = packet.payload();
        let end = (offset + payload.len()).min(self.samples.len());
        let out = &mut self.samples[offset..end];
        let codes = &payload[..out.len()];
        match self.codec {
            Codec::Pcma => g711::decode_alaw(codes, out),
            _ => g711::decode_ulaw(codes, out),
        };
        self.reached = self.reached.max(end);
        self.is_full()
    }

    fn is_full(&self) -> bool {
        self.reached >= self.samples.len()
    }

    /// The captured samples (silence where nothing arrived).
    pub fn finish(self) -> Vec<i16> {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use media::dtmf_event::TelephoneEventSender;
    use media::tone::ToneGenerator;
    use sdp::Direction;

    use super::*;

    fn negotiated(telephone_event: Option<u8>) -> Negotiated {
        let remote: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        Negotiated {
            media_index: 0,
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event,
            ptime: 20,
            remote_rtp: remote,
            remote_rtcp: remote,
            remote_direction: Direction::SendRecv,
            local_direction: Direction::SendRecv,
        }
    }

    fn ulaw_frame(samples: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; samples.len()];
        g711::encode_ulaw(samples, &mut out);
        out
    }

    #[test]
    fn rfc4733_digits_are_reported_once_per_key_press() {
        let mut source = DigitSource::new(&negotiated(Some(101)));
        let mut digits = String::new();
        let mut seq = 0u16;
        for (n, digit) in "12#".chars().enumerate() {
            let timestamp = 1000 + n as u32 * 8000;
            let sender =
                TelephoneEventSender::for_digit(digit, 10, timestamp, 160, 800).expect("digit");
            for packet in sender {
                seq = seq.wrapping_add(1);
                let payload = packet.event.to_bytes();
                let p = ReceivedRtp::for_test(101, seq, packet.timestamp, &payload);
                source.feed(&p, |d| digits.push(d));
            }
        }
        assert_eq!(digits, "12#");
    }

    #[test]
    fn inband_tones_are_found_without_telephone_event() {
        let mut source = DigitSource::new(&negotiated(None));
        let mut digits = String::new();
        let mut timestamp = 0u32;
        for digit in ['4', '2'] {
            let mut tone = ToneGenerator::dtmf(digit, -10.0).expect("digit");
            for frame in 0..10 {
                let mut samples = [0i16; 160];
                if frame < 5 {
                    tone.fill(&mut samples);
                }
                let p = ReceivedRtp::for_test(0, frame, timestamp, &ulaw_frame(&samples));
                timestamp = timestamp.wrapping_add(160);
                source.feed(&p, |d| digits.push(d));
            }
        }
        assert_eq!(digits, "42");
    }

    #[test]
    fn capture_places_audio_by_timestamp_and_fills_gaps_with_silence() {
        let mut capture = Capture::new(&negotiated(None), 480);
        let loud = ulaw_frame(&[8000i16; 160]);
        let base = 0xFFFF_FF00u32; // wraps inside the capture
        assert!(!capture.feed(&ReceivedRtp::for_test(0, 1, base, &loud)));
        // The second frame is lost; the third arrives.
        assert!(capture.feed(&ReceivedRtp::for_test(0, 3, base.wrapping_add(320), &loud)));
        let samples = capture.finish();
        assert_eq!(samples.len(), 480);
        assert!(samples[..160].iter().all(|&s| s > 7000));
        assert!(samples[160..320].iter().all(|&s| s == 0));
        assert!(samples[320..].iter().all(|&s| s > 7000));
    }

    #[test]
    fn capture_ignores_other_payload_types_and_old_timestamps() {
        let mut capture = Capture::new(&negotiated(Some(101)), 320);
        let loud = ulaw_frame(&[8000i16; 160]);
        assert!(!capture.feed(&ReceivedRtp::for_test(101, 1, 5000, &[1, 0x80, 0, 160])));
        assert!(!capture.feed(&ReceivedRtp::for_test(0, 2, 5000, &loud)));
        // A packet from before the first wraps to a huge offset: ignored.
        assert!(!capture.feed(&ReceivedRtp::for_test(0, 1, 4840, &loud)));
        assert!(capture.feed(&ReceivedRtp::for_test(0, 3, 5160, &loud)));
    }
}
