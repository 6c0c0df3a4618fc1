//! INVITE server transaction (RFC 3261 §17.2.1, with RFC 6026's Accepted state).
//!
//! ```text
//!   INVITE ─► Proceeding: 100 Trying sent at once; INVITE again → resend last 1xx
//!               │ TU 1xx → send        TU 2xx → send ──► Accepted ──Timer L──► Terminated
//!               │ TU 300-699 → send, start G (UDP) and H
//!               ▼
//!             Completed: Timer G → resend final, G = min(2G, T2); INVITE again → resend final
//!               │ ACK → Confirmed (Timer I: T4 on UDP, 0 on TCP) ──► Terminated
//!               └ Timer H (64·T1, no ACK) → timeout ──► Terminated
//! ```
//!
//! The 100 Trying goes out immediately rather than after 200 ms (§17.2.1
//! allows either): it stops the caller's Timer A retransmissions at once.
//! If the user never answers, a guard timer ends the ringing with 408.
//!
//! The INVITE itself is not kept here: the stack's transaction table holds
//! the one copy and lends it to [`ServerInviteTransaction::on_timer`].

use std::time::{Duration, Instant};

use sip::{Request, Response};

use super::{due, earliest, Retransmission, TxEffect};
use crate::response::make_response;
use crate::transport::TimerConfig;
use crate::wire;

/// States of §17.2.1 plus RFC 6026 Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerInviteState {
    /// Waiting for the user's final answer.
    Proceeding,
    /// Non-2xx final sent; retransmitting it until the ACK.
    Completed,
    /// ACK received; absorbing ACK retransmissions.
    Confirmed,
    /// 2xx sent; absorbing INVITE retransmissions (the dialog retransmits the 2xx).
    Accepted,
    /// Done; the stack removes the transaction.
    Terminated,
}

/// The user tried to answer a transaction that already has its final response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlreadyAnswered;

/// An INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInviteTransaction {
    state: ServerInviteState,
    timers: TimerConfig,
    reliable: bool,
    last_response: Vec<u8>,
    final_status: Option<u16>,
    /// The final response's To header as written; its tag is read only
    /// when an RFC 2543 ACK needs matching.
    final_to: Option<String>,
    /// Ends an unanswered INVITE with 408 (the ring limit).
    guard: Option<Instant>,
    timer_g: Option<Retransmission>,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
}

impl ServerInviteTransaction {
    /// Creates the transaction for a new INVITE and sends 100 Trying.
    pub(crate) fn start(
        now: Instant,
        request: &Request,
        reliable: bool,
        timers: TimerConfig,
        ring_limit: Duration,
        out: &mut Vec<TxEffect>,
    ) -> ServerInviteTransaction {
        let trying = make_response(request, 100).to_bytes();
        out.push(TxEffect::Transmit(trying.clone()));
        ServerInviteTransaction {
            state: ServerInviteState::Proceeding,
            timers,
            reliable,
            last_response: trying,
            final_status: None,
            final_to: None,
            guard: Some(now + ring_limit),
            timer_g: None,
            timer_h: None,
            timer_i: None,
            timer_l: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> ServerInviteState {
        self.state
    }

    /// Status of the final response sent, if any.
    pub(crate) fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// To tag of the final response (RFC 2543 ACK matching compares it).
    pub(crate) fn final_to_tag(&self) -> Option<String> {
        wire::tag_in(self.final_to.as_deref()?)
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.guard,
            self.timer_g.map(|g| g.due),
            self.timer_h,
            self.timer_i,
            self.timer_l,
        ])
    }

    /// A retransmission of the INVITE: resend the last response, if the state calls for it.
    pub(crate) fn on_retransmitted_invite(&mut self, out: &mut Vec<TxEffect>) {
        if matches!(
            self.state,
            ServerInviteState::Proceeding | ServerInviteState::Completed
        ) {
            out.push(TxEffect::Retransmit(self.last_response.clone()));
        }
    }

    /// An ACK matched to this transaction (it answers a non-2xx final).
    pub(crate) fn on_ack(&mut self, now: Instant) {
        if self.state == ServerInviteState::Completed {
            self.state = ServerInviteState::Confirmed;
            self.timer_g = None;
            self.timer_h = None;
            self.timer_i = Some(now + self.timers.linger(self.reliable));
        }
    }

    /// Sends a response from the user (To tag already ensured by the stack).
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: &Response,
        out: &mut Vec<TxEffect>,
    ) -> Result<(), AlreadyAnswered> {
        if self.state != ServerInviteState::Proceeding {
            return Err(AlreadyAnswered);
        }
        let bytes = response.to_bytes();
        out.push(TxEffect::Transmit(bytes.clone()));
        self.last_response = bytes;
        if response.status < 200 {
            return Ok(());
        }
        self.guard = None;
        self.final_status = Some(response.status);
        self.final_to = response
            .headers
            .get(sip::HeaderName::To)
            .map(str::to_string);
        if response.status < 300 {
            self.state = ServerInviteState::Accepted;
            self.timer_l = Some(now + self.timers.transaction_timeout());
        } else {
            self.state = ServerInviteState::Completed;
            self.timer_g = (!self.reliable)
                .then(|| Retransmission::start(now, self.timers.t1, Some(self.timers.t2)));
            self.timer_h = Some(now + self.timers.transaction_timeout());
        }
        Ok(())
    }

    /// Handles expired timers; `invite` is the request this transaction answers.
    pub(crate) fn on_timer(&mut self, now: Instant, invite: &Request, out: &mut Vec<TxEffect>) {
        if due(self.guard, now) {
            self.guard = None;
            let timeout = make_response(invite, 408);
            // Proceeding is guaranteed while the guard is armed.
            let _ = self.send_response(now, &timeout, out);
            out.push(TxEffect::Timeout);
            return;
        }
        if due(self.timer_h, now) {
            self.terminate();
            out.push(TxEffect::Timeout);
            return;
        }
        if due(self.timer_i, now) || due(self.timer_l, now) {
            self.terminate();
            return;
        }
        if let Some(g) = self.timer_g.as_mut().filter(|g| g.due <= now) {
            g.fire(now);
            out.push(TxEffect::Retransmit(self.last_response.clone()));
        }
    }

    /// The transport failed: the transaction ends (the stack informs the user).
    pub(crate) fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.guard = None;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}
