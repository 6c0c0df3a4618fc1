//! Non-INVITE server transaction (RFC 3261 §17.2.2).
//!
//! ```text
//!   request ─► Trying ──TU 1xx──► Proceeding ──TU 200-699──► Completed ──Timer J──► Terminated
//!                 └──────────TU 200-699──────────────────────────▲
//!   retransmitted request: Trying → dropped, Proceeding/Completed → last response again
//! ```
//! Timer J is 64·T1 on UDP (long enough for every client retransmission to be
//! answered from memory) and 0 on TCP. The server never retransmits on its own.
//! An unanswered request is dropped after 64·T1: by then the client's Timer F
//! has fired and no answer could be used.

use std::time::Instant;

use sip::Response;

use super::server_invite::AlreadyAnswered;
use super::{due, earliest, TxEffect};
use crate::transport::TimerConfig;

/// States of §17.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerNonInviteState {
    /// Waiting for the user.
    Trying,
    /// A provisional was sent.
    Proceeding,
    /// Final sent; answering retransmissions from memory.
    Completed,
    /// Done; the stack removes the transaction.
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerNonInviteTransaction {
    state: ServerNonInviteState,
    timers: TimerConfig,
    reliable: bool,
    last_response: Option<Vec<u8>>,
    final_status: Option<u16>,
    /// Drops a request the user never answered (64·T1).
    guard: Option<Instant>,
    timer_j: Option<Instant>,
}

impl ServerNonInviteTransaction {
    /// Creates the transaction for a new request.
    pub(crate) fn start(
        now: Instant,
        reliable: bool,
        timers: TimerConfig,
    ) -> ServerNonInviteTransaction {
        ServerNonInviteTransaction {
            state: ServerNonInviteState::Trying,
            timers,
            reliable,
            last_response: None,
            final_status: None,
            guard: Some(now + timers.transaction_timeout()),
            timer_j: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// Status of the final response sent, if any.
    pub(crate) fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([self.guard, self.timer_j])
    }

    /// A retransmission of the request.
    pub(crate) fn on_retransmitted_request(&mut self, out: &mut Vec<TxEffect>) {
        if let Some(last) = &self.last_response {
            out.push(TxEffect::Retransmit(last.clone()));
        }
    }

    /// Sends a response from the user.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: &Response,
        out: &mut Vec<TxEffect>,
    ) -> Result<(), AlreadyAnswered> {
        if !matches!(
            self.state,
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
        ) {
            return Err(AlreadyAnswered);
        }
        let bytes = response.to_bytes();
        out.push(TxEffect::Transmit(bytes.clone()));
        self.last_response = Some(bytes);
        if response.status < 200 {
            self.state = ServerNonInviteState::Proceeding;
        } else {
            self.state = ServerNonInviteState::Completed;
            self.final_status = Some(response.status);
            self.guard = None;
            self.timer_j = Some(now + self.timers.timer_j(self.reliable));
        }
        Ok(())
    }

    /// Handles expired timers.
    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Vec<TxEffect>) {
        if due(self.guard, now) {
            self.terminate();
            out.push(TxEffect::Timeout);
        } else if due(self.timer_j, now) {
            self.terminate();
        }
    }

    /// The transport failed: the transaction ends (the stack informs the user).
    pub(crate) fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ServerNonInviteState::Terminated;
        self.guard = None;
        self.timer_j = None;
    }
}
