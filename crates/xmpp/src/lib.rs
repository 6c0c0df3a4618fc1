//! XMPP for Switchboard's Rayo listener (RFC 6120 client-to-server streams).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod element;

pub use element::{Element, Node};
