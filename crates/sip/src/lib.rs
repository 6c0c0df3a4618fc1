//! SIP message model, parser and serializer (RFC 3261).
//!
//! No I/O and no async runtime: bytes in, [`Message`] out, and back.
//!
//! ```
//! use sip::{parse_datagram, Message, TypedHeaders};
//!
//! let bytes = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9\r\n\
//!     From: <sip:alice@example.com>;tag=9fxced76sl\r\n\
//!     To: <sip:bob@example.com>\r\n\
//!     Call-ID: 3848276298220188511@192.0.2.1\r\n\
//!     CSeq: 1 OPTIONS\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let message = parse_datagram(bytes)?;
//! assert_eq!(message.from()?.tag(), Some("9fxced76sl"));
//! assert_eq!(message.top_via()?.branch(), Some("z9hG4bK74bf9"));
//! assert_eq!(message.to_bytes(), bytes);
//! # Ok::<(), sip::ParseError>(())
//! ```
//!
//! A message that fails to parse is answered with [`error_response`], whose
//! status and reason come from the [`ParseError`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod error;
pub mod header;
pub mod headers;
pub mod message;
pub mod method;
pub mod params;
pub mod parser;
mod serialize;
pub mod typed;
pub mod uri;

pub use auth::Auth;
pub use error::ParseError;
pub use header::{Header, HeaderName, Headers};
pub use headers::{CSeq, Contacts, NameAddr, Reason, Via};
pub use message::{default_reason, Message, Request, Response};
pub use method::Method;
pub use params::Params;
pub use parser::{
    error_response, head_len, leading_crlf_len, parse_datagram, parse_stream, parse_stream_frame,
    StreamFrame, MAX_BODY_BYTES, MAX_CSEQ, MAX_HEADER_BYTES,
};
pub use typed::TypedHeaders;
pub use uri::{Host, Scheme, Uri};
