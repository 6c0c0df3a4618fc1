//! Non-INVITE client transaction (RFC 3261 §17.1.2).
//!
//! ```text
//!          send request, start E (UDP, T1) and F (64·T1)
//!   Trying ──1xx──► Proceeding ──200-699──► Completed ──Timer K──► Terminated
//!     │ └──────────200-699─────────────────────▲
//!     │ Timer E: retransmit, E = min(2E, T2); in Proceeding E = T2
//!     └ Timer F (Trying or Proceeding): timeout
//! ```
//! Timer K is T4 on UDP (to absorb retransmitted responses) and 0 on TCP.

use std::time::Instant;

use sip::{Request, Response};

use super::{due, earliest, Retransmission, TxEffect};
use crate::transport::TimerConfig;

/// States of §17.1.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientNonInviteState {
    /// Request sent, nothing heard.
    Trying,
    /// A provisional arrived; still retransmitting, at T2.
    Proceeding,
    /// Final response received; absorbing its retransmissions.
    Completed,
    /// Done; the stack removes the transaction.
    Terminated,
}

/// A non-INVITE client transaction (BYE, CANCEL, OPTIONS, REGISTER, …).
#[derive(Debug)]
pub(crate) struct ClientNonInviteTransaction {
    state: ClientNonInviteState,
    request_bytes: Vec<u8>,
    timers: TimerConfig,
    reliable: bool,
    timer_e: Option<Retransmission>,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInviteTransaction {
    /// Starts the transaction; the caller transmits the effects.
    pub(crate) fn start(
        now: Instant,
        request: &Request,
        reliable: bool,
        timers: TimerConfig,
        out: &mut Vec<TxEffect>,
    ) -> ClientNonInviteTransaction {
        let request_bytes = request.to_bytes();
        out.push(TxEffect::Transmit(request_bytes.clone()));
        ClientNonInviteTransaction {
            state: ClientNonInviteState::Trying,
            request_bytes,
            timers,
            reliable,
            timer_e: (!reliable).then(|| Retransmission::start(now, timers.t1, Some(timers.t2))),
            timer_f: Some(now + timers.transaction_timeout()),
            timer_k: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([self.timer_e.map(|e| e.due), self.timer_f, self.timer_k])
    }

    /// Handles a response matched to this transaction.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<TxEffect>,
    ) {
        use ClientNonInviteState::*;
        match (self.state, response.status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                out.push(TxEffect::PassUp(response));
            }
            (Trying | Proceeding, 200..=699) => {
                self.state = Completed;
                self.timer_e = None;
                self.timer_f = None;
                self.timer_k = Some(now + self.timers.linger(self.reliable));
                out.push(TxEffect::PassUp(response));
            }
            _ => {}
        }
    }

    /// Handles expired timers.
    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Vec<TxEffect>) {
        if due(self.timer_f, now) {
            self.terminate();
            out.push(TxEffect::Timeout);
            return;
        }
        if due(self.timer_k, now) {
            self.terminate();
            return;
        }
        let proceeding = self.state == ClientNonInviteState::Proceeding;
        let t2 = self.timers.t2;
        if let Some(e) = self.timer_e.as_mut().filter(|e| e.due <= now) {
            if proceeding {
                e.restart(now, t2);
            } else {
                e.fire(now);
            }
            out.push(TxEffect::Retransmit(self.request_bytes.clone()));
        }
    }

    /// The transport failed: the transaction ends (the stack informs the user).
    pub(crate) fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}
