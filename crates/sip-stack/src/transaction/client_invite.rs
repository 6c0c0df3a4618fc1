//! INVITE client transaction (RFC 3261 §17.1.1, with RFC 6026's Accepted state).
//!
//! ```text
//!            send INVITE, start A (UDP) and B
//!   Calling ──1xx──► Proceeding ──2xx──► Accepted ──Timer M──► Terminated
//!      │  └──────────2xx───────────────────▲
//!      │  Timer A: retransmit, A doubles (no cap)
//!      │  Timer B: timeout
//!      └──300-699 (also from Proceeding)──► Completed: send ACK, start D
//!                                            300-699 again: resend ACK
//!                                            Timer D ──► Terminated
//! ```
//!
//! The INVITE itself is not kept here: the stack's transaction table holds
//! the one copy and lends it to [`ClientInviteTransaction::on_response`],
//! which builds the ACK for a non-2xx from it.

use std::time::Instant;

use sip::{HeaderName, Method, Request, Response, TypedHeaders};

use super::{due, earliest, Retransmission, TxEffect};
use crate::transport::TimerConfig;

/// States of §17.1.1.2 plus RFC 6026 Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientInviteState {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional arrived; waiting for the final answer, no retransmissions.
    Proceeding,
    /// A non-2xx final arrived and was ACKed; absorbing its retransmissions.
    Completed,
    /// A 2xx arrived; further 2xx go to the core (which re-ACKs).
    Accepted,
    /// Done; the stack removes the transaction.
    Terminated,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInviteTransaction {
    state: ClientInviteState,
    request_bytes: Vec<u8>,
    ack_bytes: Option<Vec<u8>>,
    timers: TimerConfig,
    reliable: bool,
    timer_a: Option<Retransmission>,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
}

impl ClientInviteTransaction {
    /// Starts the transaction; the caller transmits the returned bytes.
    pub(crate) fn start(
        now: Instant,
        request: &Request,
        reliable: bool,
        timers: TimerConfig,
        out: &mut Vec<TxEffect>,
    ) -> ClientInviteTransaction {
        let request_bytes = request.to_bytes();
        out.push(TxEffect::Transmit(request_bytes.clone()));
        ClientInviteTransaction {
            state: ClientInviteState::Calling,
            request_bytes,
            ack_bytes: None,
            timers,
            reliable,
            timer_a: (!reliable).then(|| Retransmission::start(now, timers.t1, None)),
            timer_b: Some(now + timers.transaction_timeout()),
            timer_d: None,
            timer_m: None,
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The earliest armed timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        earliest([
            self.timer_a.map(|a| a.due),
            self.timer_b,
            self.timer_d,
            self.timer_m,
        ])
    }

    /// Handles a response matched to this transaction; `invite` is the request it sent.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        invite: &Request,
        response: Response,
        out: &mut Vec<TxEffect>,
    ) {
        use ClientInviteState::*;
        let status = response.status;
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timer_a = None;
                self.timer_b = None;
                out.push(TxEffect::PassUp(response));
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_m = Some(now + self.timers.transaction_timeout());
                out.push(TxEffect::PassUp(response));
            }
            // RFC 6026: in Accepted, every 2xx goes up so the core can re-ACK it
            // (or discover a forked dialog); provisionals are stale.
            (Accepted, 200..=299) => out.push(TxEffect::PassUp(response)),
            (Calling | Proceeding, 300..=699) => {
                let ack = ack_for(invite, &response).to_bytes();
                out.push(TxEffect::Transmit(ack.clone()));
                self.ack_bytes = Some(ack);
                self.state = Completed;
                self.timer_a = None;
                self.timer_b = None;
                self.timer_d = Some(now + self.timers.timer_d(self.reliable));
                out.push(TxEffect::PassUp(response));
            }
            (Completed, 300..=699) => {
                if let Some(ack) = &self.ack_bytes {
                    out.push(TxEffect::Retransmit(ack.clone()));
                }
            }
            _ => {}
        }
    }

    /// Handles expired timers.
    pub(crate) fn on_timer(&mut self, now: Instant, out: &mut Vec<TxEffect>) {
        if due(self.timer_b, now) {
            self.timer_b = None;
            self.timer_a = None;
            self.state = ClientInviteState::Terminated;
            out.push(TxEffect::Timeout);
            return;
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.state = ClientInviteState::Terminated;
            self.timer_d = None;
            self.timer_m = None;
            return;
        }
        if let Some(a) = self.timer_a.as_mut().filter(|a| a.due <= now) {
            a.fire(now);
            out.push(TxEffect::Retransmit(self.request_bytes.clone()));
        }
    }

    /// The transport failed: the transaction ends (the stack informs the user).
    pub(crate) fn on_transport_error(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }
}

/// The ACK for a non-2xx final (§17.1.1.3): same Request-URI, Call-ID, From,
/// top Via and Route as the INVITE, To from the response, CSeq method ACK.
fn ack_for(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Ok(via) = invite.headers.top_via() {
        ack.headers.push_known(HeaderName::Via, via.to_string());
    }
    for route in invite.headers.get_all(HeaderName::Route) {
        ack.headers.push_known(HeaderName::Route, route);
    }
    ack.headers.push_known(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = invite.headers.get(name) {
            ack.headers.push_known(name, v);
        }
    }
    if let Some(to) = response.headers.get(HeaderName::To) {
        ack.headers.push_known(HeaderName::To, to);
    }
    if let Ok(cseq) = invite.headers.cseq() {
        ack.headers
            .push_known(HeaderName::CSeq, format!("{} ACK", cseq.seq));
    }
    ack
}
