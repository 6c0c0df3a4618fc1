//! Hold and unhold: a re-INVITE toward the party with sendonly / sendrecv.
//!
//! A dialog takes one INVITE at a time (RFC 3261 §14.1): while our 200
//! awaits its ACK, or another re-INVITE of ours is in flight, a hold waits
//! (at most [`READY_WAIT`], then fails). Requests queue in arrival order.
//! The request is done when its re-INVITE's final response arrives: 2xx →
//! `Ok`; a 491 is retried once after the §14.1 random delay; anything
//! else (or a transaction timeout) → [`Failure::Refused`].

use std::collections::VecDeque;
use std::time::Duration;

use call_control::{Failure, Headers, Output, RequestId};
use sip::{HeaderName, Method};
use sip_stack::{ClientTransactionId, TransactionId};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::execute::valid_headers;
use crate::calls::call::{AState, Call};
use crate::calls::{SipCommand, SipEvent};

/// How long a hold may wait for the dialog to take a re-INVITE.
pub(super) const READY_WAIT: Duration = Duration::from_secs(5);

/// Hold / unhold requests of a controlled call, the first one active.
#[derive(Default)]
pub(super) struct Reinvites(VecDeque<Reinvite>);

/// One hold or unhold request.
struct Reinvite {
    id: RequestId,
    direction: sdp::Direction,
    headers: Vec<(String, String)>,
    state: State,
    /// A 491 was retried already.
    retried: bool,
    /// When waiting for the dialog to be ready gives up.
    give_up_at: Instant,
}

enum State {
    /// Waiting until the dialog can take a re-INVITE.
    Waiting,
    /// A 491 came back: sent again at this time.
    Backoff(Instant),
    /// Sent; its final response finishes the request.
    Sent(ClientTransactionId),
}

impl Reinvites {
    /// When the first request must be looked at again (give up, or resend).
    pub(super) fn deadline(&self) -> Option<Instant> {
        let first = self.0.front()?;
        match first.state {
            State::Waiting => Some(first.give_up_at),
            State::Backoff(at) => Some(at),
            State::Sent(_) => None,
        }
    }

    fn sent(&self) -> Option<(RequestId, ClientTransactionId)> {
        match self.0.front() {
            Some(Reinvite {
                id,
                state: State::Sent(t),
                ..
            }) => Some((*id, *t)),
            _ => None,
        }
    }
}

impl Call {
    /// Queues hold (`SendOnly`) or unhold (`SendRecv`) request `id`.
    pub(super) async fn hold(
        &mut self,
        id: RequestId,
        direction: sdp::Direction,
        headers: &Headers,
    ) {
        if self.a_state != AState::Answered {
            return self.finished(id, Err(Failure::NotAnswered));
        }
        let headers = valid_headers(headers);
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.reinvites.0.push_back(Reinvite {
            id,
            direction,
            headers,
            state: State::Waiting,
            retried: false,
            give_up_at: Instant::now() + READY_WAIT,
        });
        self.send_reinvites().await;
    }

    /// Sends the first queued re-INVITE when the dialog can take it, and
    /// finishes the requests that need none or waited too long.
    pub(in crate::calls::call) async fn send_reinvites(&mut self) {
        let now = Instant::now();
        loop {
            let Some(first) = self.control.as_ref().and_then(|c| c.reinvites.0.front()) else {
                return;
            };
            let (id, direction) = (first.id, first.direction);
            match first.state {
                State::Sent(_) => return,
                State::Backoff(at) if at > now => return,
                State::Waiting | State::Backoff(_) => {}
            }
            if self.a_awaiting_ack && self.a_state == AState::Answered {
                let backoff = matches!(first.state, State::Backoff(_));
                let give_up_at = first.give_up_at;
                if backoff {
                    // Their INVITE came in the meantime: wait for it anew.
                    if let Some(first) = self
                        .control
                        .as_mut()
                        .and_then(|c| c.reinvites.0.front_mut())
                    {
                        first.state = State::Waiting;
                        first.give_up_at = now + READY_WAIT;
                    }
                    return;
                }
                if give_up_at > now {
                    return;
                }
                tracing::info!(request = id, "hold: the dialog took no re-INVITE in time");
                self.finish_reinvite(Err(Failure::InvalidState(
                    "re-INVITE pending: the dialog took none in time",
                )));
                continue;
            }
            if self.a_state != AState::Answered {
                let failure = if self.a_state == AState::Done {
                    Failure::CallEnded
                } else {
                    Failure::NotAnswered
                };
                self.finish_reinvite(Err(failure));
                continue;
            }
            let Some(offer) = self.hold_offer(direction) else {
                // Already in that direction (or no media to offer): nothing to send.
                tracing::debug!(request = id, "hold: no re-INVITE needed");
                self.finish_reinvite(Ok(Output::None));
                continue;
            };
            match self.send_reinvite(offer).await {
                Ok(transaction) => {
                    if let Some(first) = self
                        .control
                        .as_mut()
                        .and_then(|c| c.reinvites.0.front_mut())
                    {
                        first.state = State::Sent(transaction);
                    }
                    return;
                }
                Err(failure) => self.finish_reinvite(Err(failure)),
            }
        }
    }

    /// Our SDP offering `direction` to the party, `None` when it already
    /// has it.
    fn hold_offer(&mut self, direction: sdp::Direction) -> Option<Vec<u8>> {
        let media = self.a_media.as_mut()?;
        let negotiated = media.negotiated?;
        if negotiated.local_direction == direction {
            return None;
        }
        let local = media.local(
            crate::calls::legs::prefer(Some(negotiated.codec)),
            direction,
        );
        let offer = sdp::offer(&local, &mut media.origin);
        let body = offer.to_bytes();
        media.offer = Some(offer);
        Some(body)
    }

    async fn send_reinvite(&mut self, body: Vec<u8>) -> Result<ClientTransactionId, Failure> {
        let Some(dialog) = self.a_dialog.clone() else {
            return Err(Failure::NotAnswered);
        };
        let extra = self
            .control
            .as_ref()
            .and_then(|c| c.reinvites.0.front())
            .map(|r| r.headers.clone())
            .unwrap_or_default();
        let (reply, answer) = oneshot::channel();
        self.send(SipCommand::SendInDialog {
            call: self.key,
            dialog,
            method: Method::Invite,
            headers: vec![
                (HeaderName::UserAgent, self.ctx.user_agent.clone()),
                (HeaderName::Contact, self.ctx.contact.clone()),
            ],
            extra,
            body: Some(("application/sdp".into(), body)),
            reply,
        })
        .await;
        match answer.await {
            Ok(Ok(transaction)) => Ok(transaction),
            Ok(Err(error)) => Err(Failure::Internal(format!("re-INVITE not sent: {error}"))),
            Err(_) => Err(Failure::Internal("re-INVITE not sent".into())),
        }
    }

    /// Ends the first request with `result`.
    fn finish_reinvite(&mut self, result: Result<Output, Failure>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if let Some(first) = control.reinvites.0.pop_front() {
            control.rules.finished(first.id, result);
        }
    }

    /// Takes the responses to our hold re-INVITE; hands back other events.
    pub(in crate::calls::call) async fn reinvite_event(
        &mut self,
        event: SipEvent,
    ) -> Option<SipEvent> {
        let Some((id, ours)) = self.control.as_ref().and_then(|c| c.reinvites.sent()) else {
            return Some(event);
        };
        match event {
            SipEvent::Response {
                transaction,
                response,
                dialog,
            } if transaction == ours => {
                let status = response.status;
                if status < 200 {
                    return None;
                }
                if (200..300).contains(&status) {
                    if let Some(dialog) = dialog.filter(|_| !response.body.is_empty()) {
                        self.apply_answer(&dialog, &response.headers, &response.body);
                    }
                    tracing::info!(request = id, "hold re-INVITE answered");
                    self.finish_reinvite(Ok(Output::None));
                } else if status == 491 && !self.first_retried() {
                    let delay = self.glare_delay();
                    tracing::info!(
                        request = id,
                        ?delay,
                        "hold re-INVITE met glare (491): retrying"
                    );
                    if let Some(first) = self
                        .control
                        .as_mut()
                        .and_then(|c| c.reinvites.0.front_mut())
                    {
                        first.retried = true;
                        first.state = State::Backoff(Instant::now() + delay);
                    }
                } else {
                    tracing::info!(request = id, status, "hold re-INVITE refused");
                    self.finish_reinvite(Err(Failure::Refused(status)));
                }
            }
            SipEvent::Timeout { transaction } | SipEvent::TransportError { transaction }
                if transaction == TransactionId::Client(ours) =>
            {
                self.finish_reinvite(Err(Failure::Refused(408)));
            }
            other => return Some(other),
        }
        self.send_reinvites().await;
        self.drive().await;
        None
    }

    fn first_retried(&self) -> bool {
        self.control
            .as_ref()
            .and_then(|c| c.reinvites.0.front())
            .is_some_and(|r| r.retried)
    }

    /// RFC 3261 §14.1: 2.1–4 s when we chose the Call-ID (a dialed call),
    /// else 0–2 s, in units of 10 ms.
    fn glare_delay(&self) -> Duration {
        let ticks = if self.a_transaction.is_none() {
            fastrand::u64(210..=400)
        } else {
            fastrand::u64(0..=200)
        };
        Duration::from_millis(ticks * 10)
    }
}
