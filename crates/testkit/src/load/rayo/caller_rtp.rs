//! The RTP of the caller's calls: one packet per call on its tick (G.711
//! silence, a key's telephone-event, or in the mixer mode the speaker's
//! tone) and the reading of each call's socket.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use media::rtp::{classify, PacketKind, RtpHeader};

use super::caller::{Call, CallerOutcome};
use super::keypad::{is_audible, silence_byte, Packet, SAMPLES_PER_PACKET};
use crate::load::media::{recv_stamped, ToneFrames};
use crate::load::stats::{Arrival, Histogram, Phase};
use crate::rtp_source::Codec;

/// The RTP side of an established call.
pub(super) struct Stream {
    pub(super) remote: SocketAddr,
    pub(super) payload_type: u8,
    pub(super) event_type: u8,
    pub(super) ssrc: u32,
    pub(super) sequence: u16,
    pub(super) timestamp: u32,
    pub(super) codec: Codec,
    /// Frames sent, for the tone's phase.
    pub(super) frames: u64,
}

/// Sends this tick's packet of an established call.
pub(super) fn send_tick(
    call: &mut Call,
    now: Instant,
    packet: &mut [u8; 172],
    outcome: &mut CallerOutcome,
    tones: &[ToneFrames],
) {
    let Some(stream) = &mut call.stream else {
        return;
    };
    let due = match &mut call.keypad {
        Some((at, keypad)) if *at <= now && !keypad.done() => Some(keypad.next_packet()),
        _ => None,
    };
    let mut body = [0u8; 160];
    let mut last_end = false;
    let (payload_type, marker, timestamp, len) = match due {
        Some(Packet::Event {
            payload,
            ticks_since_start,
            marker,
            last_end: last,
        }) => {
            last_end = last;
            body[..4].copy_from_slice(&payload);
            let back = ticks_since_start * SAMPLES_PER_PACKET;
            (
                stream.event_type,
                marker,
                stream.timestamp.wrapping_sub(back),
                4,
            )
        }
        Some(Packet::Silence) | None => {
            match call.tone.and_then(|t| tones.get(t)) {
                Some(tone) => body.copy_from_slice(tone.frame(stream.codec, stream.frames)),
                None => body.fill(silence_byte(stream.payload_type)),
            }
            (stream.payload_type, false, stream.timestamp, body.len())
        }
    };
    let header = RtpHeader {
        marker,
        payload_type,
        sequence_number: stream.sequence,
        timestamp,
        ssrc: stream.ssrc,
        ..RtpHeader::default()
    };
    if let Ok(n) = header.write(&body[..len], packet) {
        if call.socket.send_to(&packet[..n], stream.remote).is_ok() {
            outcome.packets_sent += 1;
            if last_end {
                call.seen.last_key_end = Some(Instant::now());
            }
        }
    }
    stream.sequence = stream.sequence.wrapping_add(1);
    stream.frames += 1;
    stream.timestamp = stream.timestamp.wrapping_add(SAMPLES_PER_PACKET);
}

/// Reads a call's RTP socket dry, noting the first audible packet (and
/// in the mixer mode, measuring the stream).
pub(super) fn receive(
    call: &mut Call,
    buf: &mut [u8],
    outcome: &mut CallerOutcome,
    phase: Phase,
    pacing: &mut Histogram,
) {
    loop {
        match recv_stamped(&call.socket, buf) {
            Ok((n, arrival)) => {
                outcome.packets_received += 1;
                let Some(bytes) = buf.get(..n) else { continue };
                // RTCP (muxed on the RTP port) is no audio packet.
                if classify(bytes) != PacketKind::Rtp {
                    outcome.other_received += 1;
                    continue;
                }
                let Ok(rtp) = media::rtp::RtpPacket::parse(bytes) else {
                    outcome.other_received += 1;
                    continue;
                };
                if call.seen.first_audio.is_none() && is_audible(rtp.payload_type(), rtp.payload())
                {
                    call.seen.first_audio = Some(arrival);
                }
                if let Some(listener) = &mut call.listener {
                    let p = Arrival {
                        arrival,
                        payload_type: rtp.payload_type(),
                        sequence_number: rtp.sequence_number(),
                        timestamp: rtp.timestamp(),
                        ssrc: rtp.ssrc(),
                        payload: rtp.payload(),
                    };
                    listener.on_packet(&p, phase, pacing);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                ) => {}
            Err(_) => return,
        }
    }
}
