//! The four RFC 3261 §17 transaction state machines, and how messages find them.
//!
//! A transaction is one request and all responses to it. Its job is
//! reliability over UDP: the client side retransmits the request until a
//! response arrives, the server side absorbs retransmitted requests by
//! resending its last response, and both linger after completion just long
//! enough to soak up stragglers. Sharp edges, each handled here:
//!
//! - **INVITE is different.** Its final response can take minutes (a phone
//!   ringing), so the client stops retransmitting at the first provisional
//!   (Timer A), and the *server* retransmits its final response until the ACK
//!   arrives (Timer G). Non-INVITE clients keep retransmitting at T2 even
//!   after a provisional (Timer E), because their server never retransmits.
//! - **ACK for a non-2xx final is part of the INVITE transaction** (same
//!   branch), built by the client transaction and absorbed by the server one.
//!   **ACK for a 2xx is not**: it is a new request end to end, owned by the
//!   dialog layer (see [`crate::dialog`]).
//! - **2xx to INVITE ends the transaction's reliability duty.** RFC 6026
//!   replaces the old "terminate at once" with an Accepted state (Timers L/M,
//!   64·T1) that absorbs retransmitted INVITEs and lets retransmitted 2xx
//!   reach the core, which re-sends its ACK; the 2xx itself is retransmitted by
//!   the dialog layer until the ACK.
//! - **Reliable transports** (TCP/TLS/WS) never retransmit and set the linger
//!   timers (D, I, J, K) to zero: the network will not duplicate messages.
//! - **Every state that waits for the peer has a timeout**, so the tables drain:
//!   a server transaction whose user never answers is ended after a guard time
//!   (64·T1 for non-INVITE, a configurable ring limit for INVITE).
//!
//! The machines are pure: inputs are a message or `now`, outputs are
//! [`TxEffect`]s that the stack turns into transmissions and events.
//! [`matching`] holds the keys of §17.1.3 and §17.2.3.

pub(crate) mod client_invite;
pub(crate) mod client_non_invite;
pub(crate) mod matching;
pub(crate) mod server_invite;
pub(crate) mod server_non_invite;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use sip::Response;

/// What a transaction asks of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxEffect {
    /// Send these bytes to the transaction's peer.
    Transmit(Vec<u8>),
    /// Send these bytes again: they repeat an earlier transmission (a timer
    /// retransmission, or the answer to a retransmitted message), which the
    /// stack counts for metrics.
    Retransmit(Vec<u8>),
    /// A response for the transaction user (client transactions only).
    PassUp(Response),
    /// The transaction gave up waiting (Timer B, F or H, or the server guard).
    Timeout,
}

/// A doubling retransmission timer, optionally capped (Timers A, E, G and the 2xx retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmission {
    /// When the next retransmission is due.
    pub(crate) due: Instant,
    /// The interval that led to `due`; doubled at each firing.
    interval: Duration,
    /// Upper bound on the interval (T2), `None` for INVITE's uncapped Timer A.
    cap: Option<Duration>,
}

impl Retransmission {
    /// First firing at `now + first`.
    pub(crate) fn start(now: Instant, first: Duration, cap: Option<Duration>) -> Retransmission {
        Retransmission {
            due: now + first,
            interval: first,
            cap,
        }
    }

    /// Reschedules after a firing at `now`: the interval doubles, up to the cap.
    pub(crate) fn fire(&mut self, now: Instant) {
        let doubled = self.interval * 2;
        self.interval = match self.cap {
            Some(cap) => doubled.min(cap),
            None => doubled,
        };
        self.due = now + self.interval;
    }

    /// Pins the interval to `interval` from `now` (non-INVITE Proceeding: T2).
    pub(crate) fn restart(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.due = now + interval;
    }
}

/// The earliest of a set of optional deadlines.
pub(crate) fn earliest<const N: usize>(deadlines: [Option<Instant>; N]) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}

/// Whether an optional deadline has passed.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}
