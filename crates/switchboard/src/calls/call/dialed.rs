//! A call a controller originates: its party (leg A) is reached by our own
//! INVITE, through the same client code as the B2BUA's outbound leg
//! ([`UacInvite`]). The call is controlled from birth by the dialer; it
//! hears `Ringing` on 180/183, `Answered` on the 200 (media negotiated, the
//! ACK sent by the stack, silence paced toward the party), and `Ended`
//! with the SIP status and the far end's `X-` headers when the INVITE
//! fails, times out (we CANCEL it) or the answered party hangs up.

use std::sync::Arc;
use std::time::Instant;

use call_control::EndReason;
use sip::{Response, Uri};
use sip_stack::auth::DigestClient;
use sip_stack::dialog::DialogId;
use sip_stack::ClientTransactionId;
use tokio::sync::mpsc;

use super::control::Control;
use super::{AState, Call, CANCEL_WAIT};
use crate::admission::Bridge;
use crate::calls::join::PeerMessage;
use crate::calls::legs::MediaLeg;
use crate::calls::registry::Registration;
use crate::calls::uac::{self, UacInvite, UacState, UacStep};
use crate::calls::{CallContext, CallKey, SipCommand, SipEvent};
use crate::control::EventSink;

/// Everything a dialed call starts with (built by [`crate::calls::CallContext::dial`]).
pub(in crate::calls) struct DialSetup {
    /// The INVITE to send (Call-ID registered with the driver already).
    pub invite: sip::Request,
    /// Where it goes (resolved by the call).
    pub target: Uri,
    /// The target endpoint's `transport`, if the route chose an endpoint.
    pub transport: Option<String>,
    /// The target endpoint's credentials.
    pub auth: Option<DigestClient>,
    /// The party's media, with our offer made.
    pub media: MediaLeg,
    /// The routing decision (endpoint, route entry) for logs and headers.
    pub bridge: Bridge,
    /// The dialer's requests.
    pub commands: mpsc::Receiver<call_control::Request>,
    /// The call's registry entry.
    pub registration: Registration,
    /// Messages from other calls.
    pub peer: mpsc::Receiver<PeerMessage>,
    /// Where the dialer hears the call.
    pub sink: EventSink,
    /// When the party must have answered.
    pub answer_by: tokio::time::Instant,
    /// What to join the call to once the party answers.
    pub join: Option<call_control::Join>,
}

/// A dialed call's outbound INVITE.
pub(in crate::calls) struct Dialed {
    /// The INVITE, once its destination is resolved.
    uac: Option<UacInvite>,
    /// What resolving needs, until it is done.
    pending: Option<(Uri, Option<String>, Option<DigestClient>)>,
    /// An SDP answer that came early (183), used if the 200 has none.
    early_sdp: Option<Vec<u8>>,
    rang: bool,
    /// The dial's join, made once the party answers.
    join: Option<call_control::Join>,
}

/// Starts the task of a dialed call.
pub(in crate::calls) fn spawn_dialed(
    ctx: Arc<CallContext>,
    key: CallKey,
    events: mpsc::Receiver<SipEvent>,
    setup: DialSetup,
) {
    let call_id = uac::call_id_of(&setup.invite);
    let span = tracing::info_span!(parent: None, "call", call_id = %call_id);
    let mut call = Box::new(Call::new(ctx, key, None, setup.invite, setup.bridge));
    call.a_media = Some(setup.media);
    call.control = Some(Control::dialed(
        setup.commands,
        setup.registration,
        setup.peer,
        setup.sink,
        setup.answer_by,
    ));
    call.dialed = Some(Box::new(Dialed {
        uac: None,
        pending: Some((setup.target, setup.transport, setup.auth)),
        early_sdp: None,
        rang: false,
        join: setup.join,
    }));
    tokio::spawn(tracing::Instrument::instrument(call.run(events), span));
}

impl Call {
    /// Whether `transaction` is a dialed call's INVITE.
    pub(super) fn is_dialed_invite(&self, transaction: ClientTransactionId) -> bool {
        self.dialed
            .as_ref()
            .and_then(|d| d.uac.as_ref())
            .and_then(|u| u.transaction)
            == Some(transaction)
    }

    /// Resolves the party's address and sends the INVITE.
    pub(super) async fn start_dialed(&mut self) {
        let Some((target, transport, auth)) = self.dialed.as_mut().and_then(|d| d.pending.take())
        else {
            return;
        };
        let Some(destination) =
            uac::destination_for(&self.ctx, &target, transport.as_deref()).await
        else {
            tracing::info!(%target, "cannot resolve the dialed party's host");
            self.note_end(EndReason::Failed, None, Vec::new());
            self.a_state = AState::Done;
            return;
        };
        tracing::info!(%target, address = %destination.address, "dialing");
        let request = self.a_invite.clone();
        if let Some(d) = self.dialed.as_mut() {
            d.uac = Some(UacInvite::new(request.clone(), destination, auth));
        }
        self.send_dialed_invite(request).await;
    }

    async fn send_dialed_invite(&mut self, request: sip::Request) {
        let Some(destination) = self
            .dialed
            .as_ref()
            .and_then(|d| d.uac.as_ref())
            .map(|u| u.destination)
        else {
            return;
        };
        match self.send_invite(request, destination).await {
            Ok(transaction) => {
                if let Some(u) = self.dialed.as_mut().and_then(|d| d.uac.as_mut()) {
                    u.transaction = Some(transaction);
                }
            }
            Err(Some(error)) => {
                tracing::warn!(%error, "dialed INVITE refused by the stack");
                self.note_end(EndReason::Failed, None, Vec::new());
                self.a_state = AState::Done;
            }
            Err(None) => self.finished = true,
        }
    }

    /// A response to the dialed INVITE.
    pub(super) async fn on_dialed_response(
        &mut self,
        response: Response,
        dialog: Option<DialogId>,
    ) {
        let status = response.status;
        let Some(d) = self.dialed.as_mut() else {
            return;
        };
        let Some(u) = d.uac.as_mut() else { return };
        match u.on_response(&response, dialog.clone()) {
            UacStep::Nothing => {}
            UacStep::Provisional => {
                if let Ok(Some(sdp)) =
                    sip::body::session_description(&response.headers, &response.body)
                {
                    d.early_sdp = Some(sdp.to_vec());
                }
                if matches!(status, 180 | 183) && !d.rang {
                    d.rang = true;
                    tracing::info!(status, "dialed party ringing");
                    if let Some(c) = self.control.as_mut() {
                        c.rules.ringing(uac::all_headers(&response.headers));
                    }
                    self.drive().await;
                }
            }
            UacStep::AnsweredUnwanted => {
                // Raced our CANCEL: the stack has ACKed it; end it with BYE.
                self.a_dialog = dialog;
                self.a_state = AState::Answered;
                self.hang_up_a().await;
                self.linger_until = None;
            }
            UacStep::Answered => self.on_dialed_answer(&response, dialog).await,
            UacStep::Cancelled => {
                self.a_state = AState::Done;
                self.linger_until = None;
            }
            UacStep::Retry(retry) => {
                tracing::info!(status, "dialed party challenged; retrying with credentials");
                self.send_dialed_invite(retry).await;
            }
            UacStep::Failed => {
                let reason = match status {
                    486 | 600 => EndReason::Busy,
                    408 => EndReason::Timeout,
                    500..=599 => EndReason::Failed,
                    _ => EndReason::Declined,
                };
                tracing::info!(status, ?reason, "dial failed");
                self.note_end(reason, Some(status), uac::x_headers(&response.headers));
                self.a_state = AState::Done;
            }
        }
    }

    async fn on_dialed_answer(&mut self, response: &Response, dialog: Option<DialogId>) {
        self.a_dialog = dialog;
        self.a_state = AState::Answered;
        self.answered_at = Some(Instant::now());
        self.ctx.totals.answered(self.controlled());
        let early = self.dialed.as_mut().and_then(|d| d.early_sdp.take());
        let sdp = match sip::body::session_description(&response.headers, &response.body) {
            Ok(Some(sdp)) => Some(sdp.to_vec()),
            _ => early,
        };
        let applied = sdp.as_deref().and_then(sdp_answer).and_then(|answer| {
            let media = self.a_media.as_mut()?;
            let offer = media.offer.take()?;
            let negotiated = sdp::process_answer(&offer, &answer).ok()?;
            media.apply(negotiated).ok()
        });
        if applied.is_none() {
            tracing::info!("dialed party answered without usable SDP");
            self.note_end(
                EndReason::Error("unusable SDP answer".into()),
                Some(response.status),
                Vec::new(),
            );
            return self.hang_up_a().await;
        }
        if let Some(d) = self.dialed.as_mut() {
            if let Some(u) = d.uac.as_mut() {
                u.shed_setup_state();
            }
        }
        self.a_invite.body = Vec::new();
        tracing::info!(
            party_rtp = ?self.a_media.as_ref().and_then(crate::calls::legs::destination),
            "dialed party answered"
        );
        if let Some(c) = self.control.as_mut() {
            c.answer_by = None;
        }
        self.start_control_media();
        if let Some(c) = self.control.as_mut() {
            c.rules.answered(uac::all_headers(&response.headers));
        }
        self.drive().await;
        if let Some(join) = self.dialed.as_mut().and_then(|d| d.join.take()) {
            // The dialer hears `Joined` when it works; there is no request
            // to fail, so a failure is only logged.
            if let Err(failure) = self.join(join.target, join.direction).await {
                tracing::info!(%failure, "the dial's join failed");
            }
            self.drive().await;
        }
    }

    /// The dialed INVITE timed out or its transport failed.
    pub(super) async fn on_dialed_gone(&mut self) {
        let cancelling = self
            .dialed
            .as_ref()
            .and_then(|d| d.uac.as_ref())
            .is_some_and(|u| u.state == UacState::Cancelling);
        if !cancelling {
            tracing::info!("dialed party did not answer");
            self.note_end(EndReason::Timeout, Some(408), Vec::new());
        }
        if let Some(u) = self.dialed.as_mut().and_then(|d| d.uac.as_mut()) {
            u.state = UacState::Done;
        }
        if self.a_state == AState::Pending {
            self.a_state = AState::Done;
        }
        self.linger_until = None;
    }

    /// Gives up on the dialed INVITE: CANCEL, then wait (a while) for its final.
    pub(super) async fn cancel_dialed(&mut self) {
        let Some(u) = self.dialed.as_mut().and_then(|d| d.uac.as_mut()) else {
            // Not sent yet (still resolving): nothing to cancel.
            self.a_state = AState::Done;
            return;
        };
        match (u.state, u.transaction) {
            (UacState::Calling, Some(transaction)) => {
                u.state = UacState::Cancelling;
                self.linger_until = Some(tokio::time::Instant::now() + CANCEL_WAIT);
                self.send(SipCommand::Cancel { transaction }).await;
            }
            (UacState::Cancelling, _) => {}
            _ => self.a_state = AState::Done,
        }
    }

    /// The dial's deadline passed before an answer: CANCEL, end `Timeout`.
    pub(super) async fn dial_timed_out(&mut self) {
        tracing::info!("dialed party did not answer in time; cancelling");
        self.note_end(EndReason::Timeout, None, Vec::new());
        self.cancel_dialed().await;
    }

    /// Why the call ends, with the SIP status and headers that ended it.
    pub(super) fn note_end(
        &mut self,
        reason: EndReason,
        code: Option<u16>,
        headers: call_control::Headers,
    ) {
        // A dial that timed out counts as unanswered (408) in its record.
        if let Some(status) = code.or(matches!(reason, EndReason::Timeout).then_some(408)) {
            self.cdr.final_status(status);
        }
        self.set_end_reason(reason);
        self.note_end_headers(code, headers);
    }
}

fn sdp_answer(bytes: &[u8]) -> Option<sdp::SessionDescription> {
    sdp::parse(bytes).ok()
}
