//! The call actor: an incoming INVITE (leg A) either bridged to an outbound
//! INVITE toward a SIP endpoint (leg B, the B2BUA), or offered to a
//! controller (an agent) that steers it through the call-control model
//! ([`control`]) and may later redirect it into a bridge. Media is anchored
//! here either way. A call a controller originates ([`dialed`]) has the
//! same shape with its party leg (A) reached by our own INVITE instead:
//! the leg's role (UAS or UAC) only matters while the call is set up.
//!
//! Bridging rules, as a user of a PBX expects them:
//!
//! Signalling rules, as a user of a PBX expects them:
//!
//! - B's 180/183 reach A; when B's provisional carries SDP, A gets our SDP
//!   answer with it and early media flows through the relay.
//! - B's final response reaches A with its code and reason (486 stays 486),
//!   unless it is one of the route's `fallback.codes` and another endpoint
//!   is left to try. A timeout or unreachable target counts as 408 / 503.
//! - A 401/407 from B is answered once per target with the endpoint's `auth`.
//! - A CANCEL from A cancels B (A already got 487); a 2xx that races the
//!   CANCEL is acknowledged by the stack and then ended with BYE.
//! - BYE from either side ends both. A re-INVITE from either side is
//!   answered from our own media state (we anchor media, so the answer does
//!   not need the other side) and its hold state is then offered to the
//!   other leg in a re-INVITE of our own.
//! - The outbound INVITE carries the route's `sip_headers`, copies of the
//!   `sip_headers_pass` headers of A's INVITE, and `X-Orig-Call-ID`.
//! - Only a body that says it is SDP is read as SDP ([`sip::body`]): an
//!   INVITE or re-INVITE with another body gets 415 with `Accept` (and
//!   `Accept-Encoding` for a coding we lack), one whose `Accept` excludes
//!   application/sdp 406, before anything is dialed. B's 200 with such a
//!   body fails like an unusable answer (A gets 488, B a BYE); B's 183 with
//!   one reaches A without early media; a late-offer ACK with one ends the
//!   call as an ACK without a usable answer does.
//!
//! Media: each leg has its own RTP session; once both legs have negotiated,
//! the relay joins them (same codec: header rewrite only; PCMU↔PCMA:
//! table transcode; telephone-events: payload type remapped).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdp::SessionDescription;
use sip::{HeaderName, Method, Request, Response};
use sip_stack::dialog::DialogId;
use sip_stack::{make_response, ServerTransactionId, TransactionId};
use tokio::sync::{mpsc, oneshot};

mod bridge;
mod components;
pub(in crate::calls) mod control;
mod dialed;
mod media;
mod record;

use self::control::Control;
use self::dialed::Dialed;
pub(super) use self::dialed::{spawn_dialed, DialSetup};
use super::legs::{self, MediaLeg};
use super::uac::{self, UacInvite, UacState as BState};
use super::{CallContext, CallKey, SipCommand, SipEvent};
use crate::admission::{Bridge, ALLOW};
use crate::media::pacer::G711;
use crate::media::recorder::Recorder;

/// Longest we wait for B's final response after cancelling it.
const CANCEL_WAIT: Duration = Duration::from_secs(34);

/// Starts the call task for an admitted INVITE.
pub fn spawn(
    ctx: Arc<CallContext>,
    key: CallKey,
    events: mpsc::Receiver<SipEvent>,
    transaction: ServerTransactionId,
    invite: Request,
    bridge: Bridge,
) {
    let call_id = invite.call_id().unwrap_or_default().to_string();
    let span = tracing::info_span!(parent: None, "call", call_id = %call_id);
    // Boxed: the call's state then sits on the heap once, not inline (and,
    // as an async fn argument, twice) in the task's future.
    let call = Box::new(Call::new(ctx, key, Some(transaction), invite, bridge));
    tokio::spawn(tracing::Instrument::instrument(call.run(events), span));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AState {
    /// No final response yet.
    Pending,
    /// 200 sent.
    Answered,
    /// Final response sent or BYE exchanged.
    Done,
}

struct BLeg {
    endpoint: String,
    /// The outbound INVITE and its dialog.
    uac: UacInvite,
    media: MediaLeg,
    /// Whether B's SDP answer has been applied.
    answered_sdp: bool,
}

struct Call {
    ctx: Arc<CallContext>,
    key: CallKey,
    bridge: Bridge,
    /// The caller's INVITE transaction; `None` on a dialed call, whose
    /// party is reached by our own INVITE ([`Call::dialed`]).
    a_transaction: Option<ServerTransactionId>,
    a_invite: Request,
    a_offer: Option<SessionDescription>,
    /// The INVITE had no SDP: our 200 offers and the ACK answers.
    late_offer: bool,
    /// A 200 of ours to the caller (its INVITE or a re-INVITE) awaits its
    /// ACK: the dialog takes no re-INVITE of ours until then.
    a_awaiting_ack: bool,
    a_state: AState,
    a_dialog: Option<DialogId>,
    /// The SDP we answered (or, for an offerless INVITE, offered) A with.
    a_sdp: Option<Vec<u8>>,
    a_media: Option<MediaLeg>,
    b: Option<BLeg>,
    /// Fallback endpoints still to try.
    targets: VecDeque<String>,
    recorder: Option<Recorder>,
    answered_at: Option<Instant>,
    /// Set when the call is over and only waits for B's final after CANCEL.
    linger_until: Option<tokio::time::Instant>,
    finished: bool,
    /// The controller's side of a call routed to an agent (until it redirects).
    control: Option<Box<Control>>,
    /// A dialed call's outbound INVITE toward its party (leg A).
    dialed: Option<Box<Dialed>>,
    /// What the call's detail record needs beyond the state above.
    cdr: crate::cdr::CallTrace,
    /// Files the controller's record commands made, for the detail record
    /// (the route's recording is `recorder`).
    recorded: Vec<String>,
}

impl Call {
    fn new(
        ctx: Arc<CallContext>,
        key: CallKey,
        a_transaction: Option<ServerTransactionId>,
        a_invite: Request,
        bridge: Bridge,
    ) -> Call {
        let targets = bridge
            .entry
            .fallback
            .as_ref()
            .map(|f| f.endpoints.iter().cloned().collect())
            .unwrap_or_default();
        ctx.totals.started(crate::calls::totals::Controlled::of(
            bridge.controller,
            a_transaction.is_none(),
        ));
        Call {
            ctx,
            key,
            bridge,
            a_transaction,
            late_offer: false,
            a_awaiting_ack: false,
            a_invite,
            a_offer: None,
            a_state: AState::Pending,
            a_dialog: None,
            a_sdp: None,
            a_media: None,
            b: None,
            targets,
            recorder: None,
            answered_at: None,
            linger_until: None,
            finished: false,
            control: None,
            dialed: None,
            cdr: crate::cdr::CallTrace::new(),
            recorded: Vec::new(),
        }
    }

    async fn run(mut self: Box<Self>, mut events: mpsc::Receiver<SipEvent>) {
        // Handlers are boxed: inline, their deepest await would make every
        // resting call ~14 KB; boxed, that state exists only while an event
        // is being handled.
        Box::pin(self.start()).await;
        while !self.finished {
            let linger = self.linger_until;
            let packets = self.a_media.as_mut().and_then(|m| m.packets.as_mut());
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => Box::pin(self.on_event(event)).await,
                    None => break,
                },
                _ = sleep_until(linger) => {
                    tracing::debug!("stopped waiting for the outbound leg's final response");
                    self.finished = true;
                }
                wake = control::wake(self.control.as_deref_mut(), packets) => {
                    Box::pin(self.on_control(wake)).await;
                }
            }
            if self.a_state == AState::Done
                && self.b.as_ref().is_none_or(|b| b.uac.state == BState::Done)
            {
                self.finished = true;
            }
        }
        Box::pin(self.cleanup()).await;
    }

    async fn start(&mut self) {
        if self.dialed.is_some() {
            return self.start_dialed().await;
        }
        // Content processing (RFC 3261 §8.2.3), after admission's method,
        // authentication and Require checks: only a body that says it is
        // SDP is read as SDP.
        let offer = sip::body::session_offer(&self.a_invite).map(|o| o.map(sdp::parse));
        match offer {
            Err(refusal) => {
                tracing::info!(%refusal, "caller's body refused");
                return self.refuse_a(&refusal).await;
            }
            // Offerless INVITE: our 200 offers, the ACK answers.
            Ok(None) => self.late_offer = true,
            Ok(Some(Ok(offer))) => {
                if legs::offered_codec(&offer).is_none() {
                    tracing::info!("caller offers no codec we support");
                    return self.reject_a(488, None).await;
                }
                self.a_offer = Some(offer);
            }
            Ok(Some(Err(error))) => {
                tracing::info!(%error, "caller's SDP does not parse");
                return self.reject_a(error.status(), None).await;
            }
        }
        match MediaLeg::bind(
            &self.ctx.ports,
            self.ctx.media_ip,
            self.ctx.config.media.strict_source,
        ) {
            Ok(leg) => self.a_media = Some(leg),
            Err(error) => {
                tracing::warn!(%error, "no RTP port for the caller");
                return self.reject_a(503, None).await;
            }
        }
        if self.bridge.controller.is_some() {
            match Control::offer(self) {
                Ok(control) => self.control = Some(control),
                Err(error) => {
                    tracing::warn!(%error, "cannot register the call");
                    self.reject_a(503, None).await;
                }
            }
            return;
        }
        let first = self.bridge.endpoint.clone();
        self.dial(first).await;
    }

    async fn on_event(&mut self, event: SipEvent) {
        let Some(event) = self.referral_event(event).await else {
            return;
        };
        let Some(event) = self.reinvite_event(event).await else {
            return;
        };
        match event {
            SipEvent::Response {
                transaction,
                response,
                dialog,
            } => {
                let is_b_invite =
                    self.b.as_ref().and_then(|b| b.uac.transaction) == Some(transaction);
                if self.is_dialed_invite(transaction) {
                    self.on_dialed_response(*response, dialog).await;
                } else if is_b_invite {
                    self.on_b_response(*response, dialog).await;
                } else if let Some(dialog) = dialog
                    .filter(|_| (200..300).contains(&response.status) && !response.body.is_empty())
                {
                    // The 2xx to one of our re-INVITEs.
                    self.apply_answer(&dialog, &response.headers, &response.body);
                }
            }
            SipEvent::Request {
                transaction,
                request,
                dialog,
            } => self.on_request(transaction, *request, dialog).await,
            SipEvent::Ack { dialog, request } => {
                if Some(&dialog) == self.a_dialog.as_ref() && self.a_awaiting_ack {
                    self.a_awaiting_ack = false;
                    if self.control.is_some() {
                        self.send_reinvites().await;
                        self.drive().await;
                    }
                }
                if Some(&dialog) == self.a_dialog.as_ref() && self.late_offer {
                    self.late_offer = false;
                    self.on_late_answer(&request).await;
                } else if !request.body.is_empty() {
                    // The answer to our offer in a 200 to an offerless re-INVITE.
                    self.apply_answer(&dialog, &request.headers, &request.body);
                }
            }
            SipEvent::Cancelled { transaction } => {
                if Some(transaction) == self.a_transaction && self.a_state == AState::Pending {
                    tracing::info!("caller cancelled");
                    self.cdr.cancelled();
                    self.set_end_reason(call_control::EndReason::CallerHangup);
                    self.a_state = AState::Done;
                    self.hang_up_b().await;
                }
            }
            SipEvent::Timeout { transaction } | SipEvent::TransportError { transaction } => {
                match transaction {
                    TransactionId::Client(t) if self.is_dialed_invite(t) => {
                        self.on_dialed_gone().await;
                    }
                    TransactionId::Client(t)
                        if self.b.as_ref().and_then(|b| b.uac.transaction) == Some(t) =>
                    {
                        if self
                            .b
                            .as_ref()
                            .is_some_and(|b| b.uac.state == BState::Cancelling)
                        {
                            self.b_done();
                        } else {
                            tracing::info!("outbound leg did not answer");
                            self.b_failed(408, "Request Timeout").await;
                        }
                    }
                    // The stack answered A itself (408) or A never ACKed.
                    TransactionId::Server(t)
                        if Some(t) == self.a_transaction && self.a_state == AState::Pending =>
                    {
                        self.a_state = AState::Done;
                        self.hang_up_b().await;
                    }
                    _ => {}
                }
            }
            SipEvent::DialogTerminated { dialog } => {
                if Some(&dialog) == self.a_dialog.as_ref() {
                    // Our 200 was never acknowledged; the stack sent BYE to A.
                    self.a_state = AState::Done;
                    self.hang_up_b().await;
                } else if self.b.as_ref().and_then(|b| b.uac.dialog.as_ref()) == Some(&dialog) {
                    self.b_done();
                    self.hang_up_a().await;
                }
            }
            SipEvent::Shutdown => {
                tracing::info!("server shutting down: ending the call");
                self.cdr.ended_by(crate::cdr::EndedBy::Shutdown);
                self.set_end_reason(call_control::EndReason::Shutdown);
                // A caller still ringing hears why and may try another node.
                self.reject_a(503, Some("Service Unavailable - Shutting Down"))
                    .await;
                self.hang_up_a().await;
                self.hang_up_b().await;
            }
        }
    }

    async fn answer_a(&mut self) {
        if self.a_state == AState::Answered {
            // Redirected after answer: the caller already has its 200.
            tracing::info!(
                callee_rtp = ?self.b.as_ref().and_then(|b| legs::destination(&b.media)),
                "answered caller bridged to the redirect target"
            );
            return;
        }
        let Some(sdp) = self.a_sdp.clone() else {
            self.hang_up_b().await;
            return self.reject_a(500, None).await;
        };
        let mut response = make_response(&self.a_invite, 200);
        self.contact(&mut response);
        response.headers.push_known(HeaderName::Allow, ALLOW);
        response.set_body("application/sdp", sdp);
        for (name, value) in self.take_answer_headers() {
            response.headers.push(name, value);
        }
        self.a_dialog = DialogId::of_uas_answer(&self.a_invite, &response);
        self.respond_a(response).await;
        self.a_awaiting_ack = self.a_transaction.is_some();
        self.a_state = AState::Answered;
        self.answered_at = Some(Instant::now());
        self.ctx.totals.answered(self.controlled());
        self.shed_setup_state();
        tracing::info!(
            caller_rtp = ?self.a_media.as_ref().and_then(legs::destination),
            callee_rtp = ?self.b.as_ref().and_then(|b| legs::destination(&b.media)),
            "call answered"
        );
        if self.bridge.entry.recording {
            self.start_recording();
        }
    }

    /// Drops what only call set-up needed: a call lives for minutes and
    /// thousands run at once, so its resting size matters.
    fn shed_setup_state(&mut self) {
        self.a_offer = None;
        self.a_sdp = None;
        self.a_invite.body = Vec::new();
        if let Some(b) = self.b.as_mut() {
            b.media.offer = None;
            b.uac.shed_setup_state();
        }
    }

    async fn on_request(
        &mut self,
        transaction: ServerTransactionId,
        request: Request,
        dialog: Option<DialogId>,
    ) {
        let from_a = dialog.is_some() && dialog == self.a_dialog;
        let from_b =
            dialog.is_some() && dialog == self.b.as_ref().and_then(|b| b.uac.dialog.clone());
        if !from_a && !from_b {
            let code = if request.method == Method::Invite && dialog.is_none() {
                482
            } else {
                481
            };
            return self
                .respond(transaction, make_response(&request, code))
                .await;
        }
        match request.method {
            Method::Bye => {
                self.respond(transaction, make_response(&request, 200))
                    .await;
                if from_a {
                    tracing::info!("caller hung up");
                    self.cdr.ended_by(crate::cdr::EndedBy::A);
                    self.note_end_headers(None, uac::x_headers(&request.headers));
                    self.set_end_reason(call_control::EndReason::CallerHangup);
                    self.a_state = AState::Done;
                    self.hang_up_b().await;
                } else {
                    tracing::info!("callee hung up");
                    self.cdr.ended_by(crate::cdr::EndedBy::B);
                    self.b_done();
                    self.hang_up_a().await;
                }
            }
            Method::Invite => self.on_reinvite(transaction, request, from_a).await,
            Method::Info if !request.body.is_empty() => {
                // DTMF (application/dtmf-relay) and the like: the other leg
                // gets the same body; the sender its 200 at once.
                self.respond(transaction, make_response(&request, 200))
                    .await;
                let other = if from_a {
                    self.b
                        .as_ref()
                        .filter(|b| b.uac.state == BState::Answered)
                        .and_then(|b| b.uac.dialog.clone())
                } else {
                    self.a_dialog
                        .clone()
                        .filter(|_| self.a_state == AState::Answered)
                };
                if let Some(dialog) = other {
                    let content_type = request
                        .headers
                        .get(HeaderName::ContentType)
                        .unwrap_or("application/octet-stream")
                        .to_string();
                    let body = Some((content_type, request.body));
                    self.in_dialog_with(dialog, Method::Info, body).await;
                }
            }
            Method::Options | Method::Info | Method::Update if request.body.is_empty() => {
                let mut ok = make_response(&request, 200);
                ok.headers.push_known(HeaderName::Allow, ALLOW);
                self.respond(transaction, ok).await;
            }
            _ => {
                let mut refused = make_response(&request, 501);
                refused.headers.push_known(HeaderName::Allow, ALLOW);
                self.respond(transaction, refused).await;
            }
        }
    }

    /// Refuses A's INVITE for its body or its Accept (415, 406, 400, 413).
    async fn refuse_a(&mut self, refusal: &sip::body::BodyError) {
        let response = body_refusal(&self.a_invite, refusal);
        self.finish_a(response).await;
    }

    /// Rejects A's INVITE with `status`, and `reason` if one is given.
    async fn reject_a(&mut self, status: u16, reason: Option<&str>) {
        let mut response = make_response(&self.a_invite, status);
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            response.reason = reason.to_string();
        }
        self.finish_a(response).await;
    }

    /// Sends A's final failure response, if A still waits for one, and
    /// ends A's leg.
    async fn finish_a(&mut self, response: Response) {
        if self.a_state != AState::Pending {
            return;
        }
        if self.dialed.is_some() {
            // A dialed call's party has no INVITE of ours to answer: the
            // INVITE we sent is cancelled instead.
            return self.cancel_dialed().await;
        }
        self.cdr.final_status(response.status);
        self.respond_a(response).await;
        self.a_state = AState::Done;
    }

    async fn hang_up_a(&mut self) {
        match self.a_state {
            AState::Pending => self.reject_a(487, Some("Request Terminated")).await,
            AState::Answered => {
                self.a_state = AState::Done;
                if let Some(dialog) = self.a_dialog.clone() {
                    self.in_dialog(dialog, Method::Bye, None).await;
                }
            }
            AState::Done => {}
        }
    }

    async fn in_dialog(&mut self, dialog: DialogId, method: Method, sdp: Option<Vec<u8>>) {
        let body = sdp.map(|b| ("application/sdp".to_string(), b));
        self.in_dialog_with(dialog, method, body).await;
    }

    async fn in_dialog_with(
        &mut self,
        dialog: DialogId,
        method: Method,
        body: Option<(String, Vec<u8>)>,
    ) {
        let (reply, answer) = oneshot::channel();
        let mut headers = vec![(HeaderName::UserAgent, self.ctx.user_agent.clone())];
        if method == Method::Invite {
            headers.push((HeaderName::Contact, self.ctx.contact.clone()));
        }
        let extra = if method == Method::Bye {
            self.take_bye_headers()
        } else {
            Vec::new()
        };
        self.send(SipCommand::SendInDialog {
            call: self.key,
            dialog,
            method: method.clone(),
            headers,
            extra,
            body,
            reply,
        })
        .await;
        if let Ok(Err(error)) = answer.await {
            tracing::debug!(%method, %error, "in-dialog request refused by the stack");
        }
    }

    fn contact(&self, response: &mut Response) {
        response
            .headers
            .push_known(HeaderName::Contact, self.ctx.contact.clone());
    }

    async fn respond(&self, transaction: ServerTransactionId, mut response: Response) {
        response
            .headers
            .push_known(HeaderName::Server, self.ctx.user_agent.clone());
        self.send(SipCommand::Respond {
            transaction,
            response,
        })
        .await;
    }

    /// Answers the caller's INVITE (nothing on a dialed call).
    async fn respond_a(&self, response: Response) {
        if let Some(transaction) = self.a_transaction {
            self.respond(transaction, response).await;
        }
    }

    async fn send(&self, command: SipCommand) {
        let _ = self.ctx.sip.send(command).await;
    }

    /// Sends an outbound INVITE (the bridge's or a dialed call's leg) and
    /// waits for its client transaction: `Err(Some(_))` when the stack
    /// refused it, `Err(None)` when the driver is gone (shutdown).
    async fn send_invite(
        &self,
        request: Request,
        destination: sip_stack::transport::Destination,
    ) -> Result<sip_stack::ClientTransactionId, Option<sip_stack::StackError>> {
        let (reply, answer) = oneshot::channel();
        self.send(SipCommand::Send {
            call: self.key,
            request,
            destination,
            reply,
        })
        .await;
        match answer.await {
            Ok(result) => result.map_err(Some),
            Err(_) => Err(None),
        }
    }

    async fn cleanup(&mut self) {
        self.submit_record();
        self.end_components(call_control::Failure::CallEnded).await;
        self.detach(call_control::EndReason::CallerHangup).await;
        if let Some(recorder) = self.recorder.take() {
            let ended = Instant::now();
            let _ = tokio::task::spawn_blocking(move || recorder.finish(ended)).await;
        }
        if let Some(mut media) = self.a_media.take() {
            media.close().await;
        }
        if let Some(mut b) = self.b.take() {
            b.media.close().await;
        }
        let _ = self
            .ctx
            .sip
            .send(SipCommand::Ended { call: self.key })
            .await;
        tracing::debug!("call task ended");
    }
}

fn g711(codec: sdp::Codec) -> G711 {
    match codec {
        sdp::Codec::Pcma => G711::Pcma,
        _ => G711::Pcmu,
    }
}

/// The answer to a request refused for its body or its Accept: the status,
/// a reason saying what was wrong, and `Accept` / `Accept-Encoding` when
/// RFC 3261 §8.2.3 asks for them.
fn body_refusal(request: &Request, refusal: &sip::body::BodyError) -> Response {
    let mut response = make_response(request, refusal.status());
    response.reason = refusal.reason_phrase();
    for (name, value) in refusal.answer_headers() {
        response.headers.push(*name, *value);
    }
    response
}

/// Sleeps until `deadline`, or forever without one (a select branch).
pub(in crate::calls) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
