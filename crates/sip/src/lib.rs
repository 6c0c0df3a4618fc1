//! SIP message model, parser and serializer (RFC 3261).
//!
//! No I/O and no async runtime: bytes in, [`Message`] out, and back.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod header;
pub mod headers;
pub mod message;
pub mod method;
pub mod params;
pub mod uri;

pub use header::{Header, HeaderName, Headers};
pub use headers::{CSeq, NameAddr, Via};
pub use message::{default_reason, Message, Request, Response};
pub use method::Method;
pub use params::Params;
pub use uri::{Host, Scheme, Uri};
