//! Media building blocks for Switchboard: RTP packets, G.711 codecs,
//! RFC 4733 telephone-events and in-band DTMF detection.
//!
//! No I/O, no async runtime and no allocation on the per-packet paths: the
//! media engine in the `switchboard` binary owns sockets and pacing, and
//! calls into this crate with borrowed buffers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dtmf_detector;
pub mod dtmf_event;
pub mod g711;
pub mod goertzel;
pub mod jitter_buffer;
pub mod rtp;
pub mod sequence;
pub mod tone;
pub mod wav;

pub use rtp::{RtpError, RtpHeader, RtpPacket, RtpWriteError};
