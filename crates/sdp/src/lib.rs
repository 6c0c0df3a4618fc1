//! SDP (RFC 8866): model, parser, serializer, and RFC 3264 offer/answer for
//! one audio stream, as deployed SIP phones speak it.
//!
//! No I/O and no async runtime: bytes in, [`SessionDescription`] out, and back.
//!
//! ```
//! use sdp::{parse, Direction};
//!
//! let offer = parse(b"v=0\n\
//!     o=alice 2890844526 2890844526 IN IP4 192.0.2.10\n\
//!     s=-\n\
//!     c=IN IP4 192.0.2.10\n\
//!     t=0 0\n\
//!     m=audio 49170 RTP/AVP 0 101\n\
//!     a=rtpmap:101 telephone-event/8000\n\
//!     a=sendonly\n")?;
//! let audio = &offer.media[0];
//! assert_eq!(audio.rtpmap(0).unwrap().encoding, "PCMU");
//! assert_eq!(offer.direction_of(audio), Direction::SendOnly);
//! assert!(offer.is_hold(audio));
//! assert!(offer.to_string().starts_with("v=0\r\no=alice "));
//! # Ok::<(), sdp::ParseError>(())
//! ```
//!
//! A body that fails to parse is answered with [`ParseError::status`]
//! (400, or 488 for well-formed SDP we cannot use); an offer we cannot
//! accept is a [`NegotiationError`] (488).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attribute;
pub mod error;
pub mod model;
pub mod offer_answer;
pub mod origin;
pub mod parser;
mod serialize;

pub use attribute::{Direction, Fmtp, Rtcp, Rtpmap};
pub use error::{NegotiationError, ParseError};
pub use model::{
    Attribute, Bandwidth, Connection, Field, MediaDescription, Origin, SessionDescription, Timing,
};
pub use offer_answer::{
    answer, offer, process_answer, Answer, Codec, LocalMedia, Negotiated, PTIME_RANGE,
    TELEPHONE_EVENT_PT,
};
pub use origin::OriginState;
pub use parser::{parse, MAX_SDP_BYTES};
