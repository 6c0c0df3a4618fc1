//! XMPP client-to-server streams (RFC 6120) for Switchboard's Rayo
//! listener, as sans-IO machines: bytes and `now` in, outputs out.
//!
//! One [`ServerStream`] per accepted connection negotiates the stream
//! (STARTTLS hand-off, SASL PLAIN / SCRAM-SHA-1 / SCRAM-SHA-256, resource
//! binding), answers the IQs a bare XMPP server must (session, roster get,
//! ping, disco#info) and hands every other stanza up with `from` stamped.
//! It never touches a socket or a clock: the driver feeds it what it reads
//! and the time, carries out its [`Output`]s in order, and wakes it at
//! [`ServerStream::poll_timeout`]. [`ClientStream`] is the same for the
//! other end (the test kit's Rayo client). Both read XML through the
//! bounded [`StreamReader`].
//!
//! # Run loop
//!
//! A driver (here with a `Vec<u8>` standing in for the socket) looks like:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use std::time::Instant;
//! use xmpp::{Output, ServerConfig, ServerStream, StreamError};
//!
//! let users = HashMap::from([("usera".to_owned(), "1".to_owned())]);
//! let config = Arc::new(ServerConfig::new("rayo.test", Arc::new(users)));
//! let mut stream = ServerStream::new(config, Instant::now());
//! let mut socket: Vec<u8> = Vec::new();
//!
//! // Whenever bytes arrive (or poll_timeout() passes: handle_timeout(now)):
//! let read = b"<stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";
//! stream.handle_input(Instant::now(), read);
//!
//! // Then carry out every output, in order.
//! while let Some(output) = stream.poll_output() {
//!     match output {
//!         Output::Transmit(bytes) => socket.extend_from_slice(bytes.as_bytes()),
//!         Output::StartTls => {
//!             // Flush `socket`, run the TLS handshake on it, then:
//!             stream.tls_established();
//!         }
//!         Output::Authenticated { username } => println!("{username} logged in"),
//!         Output::AuthFailed { .. } => { /* count toward the source's ban */ }
//!         Output::Bound { jid } => {
//!             // If another session holds `jid`, end that one:
//!             // other.close_with(StreamError::Conflict);
//!             let _ = (jid, StreamError::Conflict);
//!         }
//!         Output::Stanza(stanza) => { /* route to the Rayo adapter */ let _ = stanza; }
//!         Output::Closed { .. } => { /* flush, then close the socket */ }
//!     }
//! }
//! // The adapter answers through the same value: stream.send_stanza(&reply).
//! assert!(String::from_utf8_lossy(&socket).contains("<mechanism>SCRAM-SHA-256</mechanism>"));
//! ```
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
