//! Leg-to-leg RTP relay: the bridged-call fast path, free of I/O.
//!
//! A bridged call receives on one leg and sends on the other. When both legs
//! speak the same codec the payload is forwarded untouched and only the
//! header is rewritten; PCMU↔PCMA is transcoded in place through the
//! 256-entry tables of `media::g711` (same payload size, no decode to
//! linear). RFC 4733 telephone-events keep their payload and only change
//! payload type, since each leg negotiated its own number for them.
//!
//! # One continuous outbound stream
//!
//! Each leg's outbound stream is ours: its SSRC, sequence numbers and
//! timestamps come from the leg's [`OutboundCounters`], not from the other
//! leg. The incoming numbering is mapped by two offsets fixed when a source
//! first appears. They are recomputed when the source changes (a new SSRC:
//! the far end re-INVITEd, or a media server behind it switched streams)
//! and when someone else sent on the leg since our last packet (the pacer
//! played a prompt): the receiver then sees the next sequence number and a
//! timestamp advanced by the wall-clock time since the last packet, with the
//! marker bit set (RFC 3550 §5.1). Gaps and reordering within one source
//! pass through as they came, so the receiver's loss and jitter statistics
//! stay true.

use std::sync::Arc;
use std::time::Instant;

use media::g711;
use media::rtp::rewrite_header;

use crate::media::reports::OutboundCounters;

/// How the payload of audio packets changes between the legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transcode {
    /// Same codec on both legs: the payload is copied as is.
    None,
    /// µ-law in, A-law out.
    UlawToAlaw,
    /// A-law in, µ-law out.
    AlawToUlaw,
}

/// The payload types of one relay direction, from both legs' negotiations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Audio payload type the source leg sends.
    pub audio_in: u8,
    /// Audio payload type the target leg expects.
    pub audio_out: u8,
    /// What happens to audio payloads.
    pub transcode: Transcode,
    /// telephone-event payload type the source leg sends, if negotiated.
    pub event_in: Option<u8>,
    /// telephone-event payload type of the target leg; events are dropped
    /// when the target did not negotiate them.
    pub event_out: Option<u8>,
}

/// What [`Relay::rewrite`] decided about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayVerdict {
    /// Send the (rewritten) packet.
    Forward,
    /// Not relayable: an unknown payload type, or events the target cannot take.
    Drop,
}

/// Per-direction relay state; see the module doc.
#[derive(Debug, Clone)]
pub struct Relay {
    config: RelayConfig,
    stream: Arc<OutboundCounters>,
    /// The source SSRC the offsets were computed for.
    source: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Sequence number of the last packet this relay sent.
    last_out: Option<u16>,
}

impl Relay {
    /// A relay feeding the target leg's outbound `stream`
    /// ([`RtpSession::outbound`](crate::media::session::RtpSession::outbound)).
    pub fn new(config: RelayConfig, stream: Arc<OutboundCounters>) -> Relay {
        Relay {
            config,
            stream,
            source: None,
            seq_offset: 0,
            ts_offset: 0,
            last_out: None,
        }
    }

    /// Changes the payload mapping (after a re-INVITE) and keeps the
    /// outbound numbering, so the receiver's stream continues.
    pub fn set_config(&mut self, config: RelayConfig) {
        self.config = config;
    }

    /// Rewrites `packet` (a parsed-valid RTP packet; `payload` is the range
    /// of its payload, after CSRCs and extension, before padding) for the
    /// target leg, in place, and records it as sent on the target's stream.
    pub fn rewrite(
        &mut self,
        packet: &mut [u8],
        payload: std::ops::Range<usize>,
        now: Instant,
    ) -> RelayVerdict {
        if packet.len() < 12
            || payload.start < 12
            || payload.start > payload.end
            || payload.end > packet.len()
        {
            return RelayVerdict::Drop;
        }
        let pt = packet[1] & 0x7f;
        let audio = pt == self.config.audio_in;
        let (out_pt, transcode) = if audio {
            (self.config.audio_out, self.config.transcode)
        } else if Some(pt) == self.config.event_in {
            match self.config.event_out {
                Some(out) => (out, Transcode::None),
                None => return RelayVerdict::Drop,
            }
        } else {
            return RelayVerdict::Drop;
        };
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let mut marker = packet[1] & 0x80 != 0;
        let someone_else_sent = self.stream.last_sequence() != self.last_out;
        if self.source != Some(ssrc) || someone_else_sent {
            self.source = Some(ssrc);
            let (next_seq, next_ts) = self.stream.continuation(now);
            self.seq_offset = next_seq.wrapping_sub(seq);
            self.ts_offset = next_ts.wrapping_sub(ts);
            marker = true;
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        // `packet.len() >= 12`, checked above.
        let _ = rewrite_header(packet, out_seq, out_ts, self.stream.stream_ssrc());
        packet[1] = out_pt | if marker { 0x80 } else { 0 };
        let payload_len = payload.len();
        let payload = &mut packet[payload];
        match transcode {
            Transcode::None => {}
            Transcode::UlawToAlaw => g711::ulaw_to_alaw_in_place(payload),
            Transcode::AlawToUlaw => g711::alaw_to_ulaw_in_place(payload),
        }
        if audio {
            // What the target's party hears, for its recordings.
            self.stream.taps().push(now, out_pt, payload);
        }
        // Reordered packets must not move the continuation point backwards.
        let newer = match self.last_out {
            Some(last_seq) => (out_seq.wrapping_sub(last_seq) as i16) > 0,
            None => true,
        };
        if newer {
            self.last_out = Some(out_seq);
            self.stream.sent(out_seq, out_ts, payload_len, now);
        }
        RelayVerdict::Forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn stream(ssrc: u32, seq: u16, ts: u32) -> Arc<OutboundCounters> {
        Arc::new(OutboundCounters::new(ssrc, seq, ts))
    }

    /// Rewrites a whole packet with a 12-byte header.
    fn relay_all(relay: &mut Relay, packet: &mut [u8], now: Instant) -> RelayVerdict {
        let end = packet.len();
        relay.rewrite(packet, 12..end, now)
    }

    fn fields(p: &[u8]) -> (bool, u8, u16, u32, u32) {
        (
            p[1] & 0x80 != 0,
            p[1] & 0x7f,
            u16::from_be_bytes([p[2], p[3]]),
            u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
        )
    }

    const SAME: RelayConfig = RelayConfig {
        audio_in: 0,
        audio_out: 0,
        transcode: Transcode::None,
        event_in: Some(101),
        event_out: Some(96),
    };

    #[test]
    fn same_codec_keeps_payload_and_rewrites_numbering() {
        let mut relay = Relay::new(SAME, stream(0xabcd, 1000, 50_000));
        let t0 = Instant::now();
        let mut p = packet(0, 7, 999, 42, &[1, 2, 3]);
        assert_eq!(relay_all(&mut relay, &mut p, t0), RelayVerdict::Forward);
        let (marker, pt, seq, _, ssrc) = fields(&p);
        assert!(marker, "first packet of a source is marked");
        assert_eq!((pt, seq, ssrc), (0, 1000, 0xabcd));
        assert_eq!(&p[12..], &[1, 2, 3]);
        let first_ts = fields(&p).3;
        let mut q = packet(0, 8, 999 + 160, 42, &[4]);
        relay_all(&mut relay, &mut q, t0 + Duration::from_millis(20));
        let (marker, _, seq, ts, _) = fields(&q);
        assert!(!marker);
        assert_eq!((seq, ts), (1001, first_ts.wrapping_add(160)));
    }

    #[test]
    fn a_new_source_continues_the_stream() {
        let mut relay = Relay::new(SAME, stream(1, 65535, u32::MAX - 100));
        let t0 = Instant::now();
        let mut p = packet(0, 100, 0, 42, &[0]);
        relay_all(&mut relay, &mut p, t0);
        let (_, _, seq0, ts0, _) = fields(&p);
        assert_eq!(seq0, 65535);
        let mut q = packet(0, 5000, 123_456, 43, &[0]);
        relay_all(&mut relay, &mut q, t0 + Duration::from_millis(100));
        let (marker, _, seq, ts, _) = fields(&q);
        assert!(marker);
        assert_eq!(seq, 0, "sequence wraps and continues");
        assert_eq!(ts, ts0.wrapping_add(800), "100 ms of wall clock later");
    }

    #[test]
    fn transcodes_audio_and_remaps_events() {
        let t0 = Instant::now();
        let config = RelayConfig {
            audio_in: 8,
            audio_out: 0,
            transcode: Transcode::AlawToUlaw,
            event_in: Some(101),
            event_out: Some(96),
        };
        let mut relay = Relay::new(config, stream(1, 0, 0));
        let alaw = [g711::alaw_encode(1000), g711::alaw_encode(-2000)];
        let mut p = packet(8, 1, 0, 9, &alaw);
        relay_all(&mut relay, &mut p, t0);
        assert_eq!(fields(&p).1, 0);
        let decoded: Vec<i16> = p[12..].iter().map(|c| g711::ulaw_decode(*c)).collect();
        assert!((decoded[0] - 1000).abs() < 64 && (decoded[1] + 2000).abs() < 128);
        let event = [1, 0x0a, 0, 160];
        let mut e = packet(101, 2, 160, 9, &event);
        relay_all(&mut relay, &mut e, t0);
        assert_eq!(fields(&e).1, 96);
        assert_eq!(&e[12..], &event, "event payload untouched");
    }

    #[test]
    fn drops_what_the_target_cannot_take() {
        let t0 = Instant::now();
        let config = RelayConfig {
            event_out: None,
            ..SAME
        };
        let mut relay = Relay::new(config, stream(1, 0, 0));
        assert_eq!(
            relay.rewrite(&mut packet(101, 1, 0, 9, &[1, 0, 0, 0]), 12..16, t0),
            RelayVerdict::Drop
        );
        assert_eq!(
            relay.rewrite(&mut packet(13, 1, 0, 9, &[0]), 12..13, t0),
            RelayVerdict::Drop,
            "comfort noise was not negotiated"
        );
        assert_eq!(
            relay.rewrite(&mut [0x80, 0], 12..12, t0),
            RelayVerdict::Drop
        );
    }

    #[test]
    fn reordered_packets_keep_their_relative_numbering() {
        let mut relay = Relay::new(SAME, stream(1, 100, 0));
        let t0 = Instant::now();
        let mut a = packet(0, 10, 1600, 9, &[0]);
        relay_all(&mut relay, &mut a, t0);
        let mut c = packet(0, 12, 1920, 9, &[0]);
        relay_all(&mut relay, &mut c, t0);
        let mut b = packet(0, 11, 1760, 9, &[0]);
        relay_all(&mut relay, &mut b, t0);
        assert_eq!(fields(&a).2, 100);
        assert_eq!(fields(&b).2, 101);
        assert_eq!(fields(&c).2, 102);
    }

    #[test]
    fn another_feeder_in_between_is_continued_from() {
        let out = stream(5, 1000, 8000);
        let t0 = Instant::now();
        let mut relay = Relay::new(SAME, out.clone());
        let mut p = packet(0, 50, 4000, 9, &[0]);
        relay_all(&mut relay, &mut p, t0);
        assert_eq!(fields(&p).2, 1000);
        // A prompt (the pacer) sends three frames on the same leg.
        for i in 1..=3u16 {
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            out.sent(1000 + i, 8000 + u32::from(i) * 160, 160, at);
        }
        // The same source goes on: the relay continues after the prompt.
        let mut q = packet(0, 51, 4160, 9, &[0]);
        relay_all(&mut relay, &mut q, t0 + Duration::from_millis(80));
        let (marker, _, seq, ts, ssrc) = fields(&q);
        assert!(marker, "a new talkspurt for the receiver");
        assert_eq!((seq, ts, ssrc), (1004, 8000 + 3 * 160 + 160, 5));
        let mut r = packet(0, 52, 4320, 9, &[0]);
        relay_all(&mut relay, &mut r, t0 + Duration::from_millis(100));
        assert_eq!(fields(&r).2, 1005);
        assert!(!fields(&r).0);
    }
}
