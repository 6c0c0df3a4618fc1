//! XMPP for Switchboard's Rayo listener (RFC 6120 client-to-server streams).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod element;
pub mod error;
pub mod jid;
pub mod reader;
pub mod sasl;
pub mod server;

pub use client::{ClientConfig, ClientOutput, ClientStream};
pub use element::{Element, Node};
pub use error::{iq_error, iq_result, ErrorType, StanzaCondition, StreamError};
pub use jid::{FullJid, Jid, JidError};
pub use reader::{Limits, ReadError, StreamEvent, StreamHeader, StreamReader};
pub use server::{Credentials, Output, ServerConfig, ServerStream};
