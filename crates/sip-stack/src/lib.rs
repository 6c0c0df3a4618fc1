//! Sans-IO SIP transactions, dialogs and digest authentication.
//!
//! [`SipStack`] is the whole engine: no sockets, no clock, no threads. The
//! driver feeds it what arrived and when, and sends what it asks for:
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::Instant;
//! use sip_stack::{make_response, Output, SipStack, StackConfig, StackEvent, Transport};
//!
//! # fn main() -> std::io::Result<()> {
//! let socket = UdpSocket::bind("0.0.0.0:5060")?;
//! let mut stack = SipStack::new(StackConfig::new(sip::Host::V4([192, 0, 2, 1].into()), Some(5060)));
//! let mut buf = vec![0u8; 65_535];
//! loop {
//!     // 1. Drain outputs: bytes to send, events to act on.
//!     while let Some(output) = stack.poll_output() {
//!         match output {
//!             Output::Transmit(t) => {
//!                 socket.send_to(&t.bytes, t.destination)?;
//!             }
//!             Output::Event(StackEvent::Request { transaction, request, .. }) => {
//!                 // Hand to the router / call actor; here: answer everything 486.
//!                 let now = Instant::now();
//!                 let _ = stack.respond(now, transaction, make_response(&request, 486));
//!             }
//!             Output::Event(other) => println!("{other:?}"),
//!         }
//!     }
//!     // 2. Sleep until the next timer or the next datagram.
//!     let timeout = stack.poll_timeout().map(|t| t.saturating_duration_since(Instant::now()));
//!     socket.set_read_timeout(timeout.map(|d| d.max(std::time::Duration::from_millis(1))))?;
//!     match socket.recv_from(&mut buf) {
//!         Ok((n, source)) => stack.handle_bytes(Instant::now(), &buf[..n], source, Transport::Udp, None),
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
//!         Err(e) => return Err(e),
//!     }
//!     // 3. Fire whatever timers are due.
//!     stack.handle_timeout(Instant::now());
//! }
//! # }
//! ```
//!
//! Tests drive two stacks against each other in virtual time the same way,
//! passing `t0 + Duration` as `now` and moving [`Transmit`] bytes by hand.
//!
//! Layers, bottom up:
//! - [`transport`]: transports, connections, timer values T1/T2/T4.
//! - transactions (internal): the four RFC 3261 §17 state machines and their matching rules.
//! - [`dialog`]: dialog state, route sets, in-dialog request construction, 2xx reliability.
//! - [`SipStack`]: ties them together, routes responses (RFC 3261 §18, RFC 3581).
//! - [`auth`]: digest authentication, server and client, usable on its own.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod dialog;
pub mod response;
mod stack;
pub(crate) mod transaction;
pub mod transport;
mod wire;

pub use dialog::{Dialog, DialogId, DialogRole};
pub use response::{make_response, to_tag_for};
pub use stack::{
    ClientTransactionId, DialogEndReason, MethodCounts, Output, ServerTransactionId, SipStack,
    StackConfig, StackError, StackEvent, StackStats, StatusCounts, TransactionId, Transmit,
};
pub use transport::{ConnectionId, Destination, TimerConfig, Transport};
