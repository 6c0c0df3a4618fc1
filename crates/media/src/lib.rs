//! Media building blocks for Switchboard: RTP packets, G.711 codecs,
//! RFC 4733 telephone-events, in-band DTMF detection, a jitter buffer,
//! symmetric-RTP source latching, RFC 3550 receive statistics and WAV files;
//! for Rayo media components, output speed ([`stretch`]) and volume
//! ([`gain`]), voice activity ([`vad`]) and call progress analysis ([`cpa`]:
//! answering-machine beep, fax tones, human or machine); and a conference
//! [`mixer`] that sums the loudest speakers of a room.
//!
//! No I/O, no clock and no async runtime: the media engine in the
//! `switchboard` binary owns sockets and pacing and calls in with borrowed
//! buffers; the per-packet paths ([`rtp`], [`g711`], [`dtmf_event`],
//! [`dtmf_detector`], [`jitter_buffer`], [`latch`], [`reception`], [`gain`],
//! [`vad`], [`cpa`]) do not allocate. Time,
//! where it matters, is counted in samples or packets supplied by the
//! caller, or as an `Instant` the caller passes in ([`latch`]).
//!
//! The receive side of one leg, as the engine drives it on every datagram:
//!
//! ```
//! use media::dtmf_detector::DtmfDetector;
//! use media::dtmf_event::{TelephoneEventReceiver, TelephoneEventSender};
//! use media::rtp::{classify, PacketKind, RtpHeader, RtpPacket};
//!
//! let (pcmu, telephone_event) = (0u8, 101u8);
//! let mut events = TelephoneEventReceiver::new();
//! let mut inband = DtmfDetector::default();
//! let mut digits = Vec::new();
//!
//! // A peer presses '5' (RFC 4733, 100 ms, end packet ×3).
//! let mut datagrams = Vec::new();
//! for (seq, p) in TelephoneEventSender::for_digit('5', 10, 8000, 160, 800)
//!     .expect("'5' is a DTMF digit")
//!     .enumerate()
//! {
//!     let header = RtpHeader {
//!         marker: p.marker,
//!         payload_type: telephone_event,
//!         sequence_number: seq as u16,
//!         timestamp: p.timestamp,
//!         ssrc: 0x1234,
//!         ..RtpHeader::default()
//!     };
//!     let mut buf = [0u8; 64];
//!     let len = header.write(&p.event.to_bytes(), &mut buf)?;
//!     datagrams.push(buf[..len].to_vec());
//! }
//!
//! for datagram in &datagrams {
//!     if classify(datagram) != PacketKind::Rtp {
//!         continue; // RTCP, STUN: handled elsewhere
//!     }
//!     let Ok(packet) = RtpPacket::parse(datagram) else { continue };
//!     match packet.payload_type() {
//!         pt if pt == telephone_event => {
//!             for event in events.receive(packet.timestamp(), packet.payload())?.into_iter().flatten() {
//!                 digits.extend(event.digit);
//!             }
//!         }
//!         pt if pt == pcmu => inband.process_ulaw(packet.payload(), |d| digits.push(d.digit)),
//!         _ => {}
//!     }
//! }
//! assert_eq!(digits, vec!['5']);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cpa;
pub mod dtmf_detector;
pub mod dtmf_event;
pub mod g711;
pub mod gain;
pub mod goertzel;
pub mod jitter_buffer;
pub mod latch;
pub mod mixer;
pub mod reception;
pub mod rtcp;
pub mod rtp;
pub mod sequence;
pub mod stretch;
#[cfg(test)]
mod test_signals;
pub mod tone;
pub mod vad;
pub mod wav;

pub use cpa::{CpaConfig, CpaDetector, CpaKind, CpaSignal, SpeechVerdict};
pub use dtmf_detector::{
    DetectedDigit, DtmfDetector, DtmfDetectorConfig, DtmfDetectorEvent, EndedDigit,
};
pub use dtmf_event::{ReceivedEvent, TelephoneEvent, TelephoneEventReceiver, TelephoneEventSender};
pub use gain::GainTable;
pub use jitter_buffer::{JitterBuffer, JitterStats, Playout};
pub use mixer::{
    Codec, Direction, Mixer, MixerConfig, MixerError, ParticipantId, ParticipantOptions,
    SpeakerEvent,
};
pub use rtcp::{
    CompoundReport, ReceptionTotals, ReportBlock, RtcpError, RtcpIter, RtcpPacket, RtcpWriteError,
    SenderInfo,
};
pub use rtp::{classify, PacketKind, RtpError, RtpHeader, RtpPacket, RtpWriteError};
pub use vad::{Vad, VadState};
