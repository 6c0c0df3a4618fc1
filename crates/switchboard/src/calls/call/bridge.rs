//! The B2BUA side of a call: the outbound leg (B) toward a SIP endpoint,
//! dialed for an inbound caller (A) routed to it, or after a controller's
//! transfer. Its INVITE is a [`UacInvite`] (shared with dialed calls); what
//! its responses mean for the caller is decided here.

use sdp::Direction;
use sip::{Method, Request, Response, TypedHeaders, Uri};
use sip_stack::auth::DigestClient;
use sip_stack::dialog::DialogId;
use sip_stack::make_response;

use super::{AState, BLeg, Call, CANCEL_WAIT};
use crate::calls::legs::{self, MediaLeg};
use crate::calls::uac::{self, UacInvite, UacState as BState, UacStep};
use crate::calls::SipCommand;
use crate::config::Destination as EndpointDestination;

impl Call {
    /// Sends the outbound INVITE to `endpoint`.
    pub(super) async fn dial(&mut self, endpoint: String) {
        let Some(config) = self.ctx.config.endpoints.get(&endpoint) else {
            return self.b_failed(503, "Service Unavailable").await;
        };
        let Some(EndpointDestination::Sip { uri }) = &config.destination else {
            return self.b_failed(503, "Service Unavailable").await;
        };
        let Ok(mut target) = uri.parse::<Uri>() else {
            tracing::warn!(%endpoint, %uri, "endpoint URI does not parse");
            return self.b_failed(503, "Service Unavailable").await;
        };
        if !self.bridge.dialed.is_empty() {
            target.user = Some(self.bridge.dialed.clone());
        }
        let Some(destination) =
            uac::destination_for(&self.ctx, &target, config.transport.as_deref()).await
        else {
            tracing::warn!(%endpoint, %uri, "cannot resolve the endpoint's host");
            return self.b_failed(503, "Service Unavailable").await;
        };
        let address = destination.address;
        let mut media = match MediaLeg::bind(
            &self.ctx.ports,
            self.ctx.media_ip,
            self.ctx.config.media.strict_source,
        ) {
            Ok(media) => media,
            Err(error) => {
                tracing::warn!(%error, "no RTP port for the outbound leg");
                return self.b_failed(503, "Service Unavailable").await;
            }
        };
        // The caller's codec first: its offer, or what it negotiated already
        // (a redirect after answer).
        let first_codec = self.a_offer.as_ref().and_then(legs::offered_codec).or(self
            .a_media
            .as_ref()
            .and_then(|m| m.negotiated)
            .map(|n| n.codec));
        let offer = sdp::offer(
            &media.local(legs::prefer(first_codec), Direction::SendRecv),
            &mut media.origin,
        );
        let request = self.outbound_invite(&target, offer.to_bytes());
        media.offer = Some(offer);
        let call_id = request.call_id().unwrap_or_default().to_string();
        self.send(SipCommand::Route {
            call: self.key,
            call_id,
        })
        .await;
        tracing::info!(%endpoint, %target, %address, "dialing");
        let auth = config
            .auth
            .as_ref()
            .map(|a| DigestClient::new(a.username.clone(), a.password.clone()));
        self.b = Some(BLeg {
            endpoint,
            uac: UacInvite::new(request.clone(), destination, auth),
            media,
            answered_sdp: false,
        });
        self.send_b_invite(request).await;
    }

    pub(super) async fn send_b_invite(&mut self, request: Request) {
        let Some(b) = self.b.as_ref() else { return };
        let destination = b.uac.destination;
        match self.send_invite(request, destination).await {
            Ok(transaction) => {
                if let Some(b) = self.b.as_mut() {
                    b.uac.transaction = Some(transaction);
                }
            }
            Err(Some(error)) => {
                tracing::warn!(%error, "outbound INVITE refused by the stack");
                self.b_failed(503, "Service Unavailable").await;
            }
            Err(None) => self.finished = true,
        }
    }

    pub(super) fn outbound_invite(&self, target: &Uri, sdp: Vec<u8>) -> Request {
        let a = &self.a_invite;
        let host = &self.ctx.local_host;
        let caller = a.from().ok();
        let user = caller
            .as_ref()
            .and_then(|f| f.uri.user.clone())
            .unwrap_or_else(|| "anonymous".to_string());
        let display = caller
            .as_ref()
            .and_then(|f| f.display_name.clone())
            .map(|d| format!("{} ", quote(&d)))
            .unwrap_or_default();
        let forwards = a
            .max_forwards()
            .ok()
            .flatten()
            .map(|n| n.saturating_sub(1))
            .unwrap_or(70);
        let from = format!("{display}<sip:{user}@{host}>");
        let mut request = uac::invite(&self.ctx, target, &from, forwards.into());
        let h = &mut request.headers;
        h.push("X-Orig-Call-ID", a.call_id().unwrap_or_default());
        for name in &self.bridge.entry.sip_headers_pass {
            for header in a.headers.iter() {
                if header.name.eq_ignore_ascii_case(name) {
                    h.push(header.name.clone(), header.value.clone());
                }
            }
        }
        for (name, value) in &self.bridge.entry.sip_headers {
            h.0.retain(|header| !header.name.eq_ignore_ascii_case(name));
            h.push(name.clone(), value.clone());
        }
        request.set_body("application/sdp", sdp);
        request
    }

    pub(super) async fn on_b_response(&mut self, response: Response, dialog: Option<DialogId>) {
        let status = response.status;
        let Some(b) = self.b.as_mut() else { return };
        match b.uac.on_response(&response, dialog) {
            UacStep::Nothing => {}
            UacStep::Provisional => {
                // Only a body that says it is SDP is read as B's answer; it
                // is read only where it is used.
                match sip::body::session_description(&response.headers, &response.body) {
                    Ok(Some(sdp)) if !b.answered_sdp => {
                        if let Err(code) = self.apply_b_answer(sdp) {
                            tracing::info!(code, "outbound leg's early SDP unusable");
                            return;
                        }
                    }
                    // The progress still reaches A, without early media.
                    Err(refusal) => {
                        tracing::info!(%refusal, status, "outbound leg's provisional body is not SDP");
                    }
                    Ok(_) => {}
                }
                if self.a_state == AState::Pending {
                    let with_sdp = self.b.as_ref().is_some_and(|b| b.answered_sdp);
                    self.provisional_to_a(status, &response.reason, with_sdp)
                        .await;
                }
            }
            // Raced our CANCEL: end it.
            UacStep::AnsweredUnwanted => self.hang_up_b().await,
            // A is gone meanwhile: end it.
            UacStep::Answered if self.a_state == AState::Done => self.hang_up_b().await,
            UacStep::Answered => {
                match sip::body::session_description(&response.headers, &response.body) {
                    Ok(Some(sdp)) => {
                        if let Err(code) = self.apply_b_answer(sdp) {
                            tracing::info!(code, "outbound leg answered with unusable SDP");
                            self.hang_up_b().await;
                            return self.reject_a(code, None).await;
                        }
                    }
                    // As for an answer that does not parse: B is hung up, A refused.
                    Err(refusal) => {
                        tracing::info!(%refusal, "outbound leg answered with a body that is not SDP");
                        self.hang_up_b().await;
                        return self.reject_a(488, None).await;
                    }
                    Ok(None) => {}
                }
                if !self.b.as_ref().is_some_and(|b| b.answered_sdp) {
                    tracing::info!("outbound leg answered without SDP");
                    self.hang_up_b().await;
                    return self.reject_a(488, None).await;
                }
                self.answer_a().await;
            }
            UacStep::Cancelled => self.b_done(),
            UacStep::Retry(retry) => {
                tracing::info!(status, "outbound leg challenged; retrying with credentials");
                self.send_b_invite(retry).await;
            }
            UacStep::Failed => {
                let reason = response.reason.clone();
                self.b_failed(status, &reason).await;
            }
        }
    }

    pub(super) async fn provisional_to_a(&mut self, status: u16, reason: &str, with_sdp: bool) {
        let mut response = make_response(&self.a_invite, status);
        response.reason = reason.to_string();
        if with_sdp && self.a_offer.is_some() {
            if let Some(sdp) = &self.a_sdp {
                self.contact(&mut response);
                response.set_body("application/sdp", sdp.clone());
            }
        }
        self.respond_a(response).await;
    }

    /// B failed with `status`: try the next fallback endpoint or tell A.
    pub(super) async fn b_failed(&mut self, status: u16, reason: &str) {
        if let Some(b) = self.b.as_mut() {
            b.uac.state = BState::Done;
        }
        if self.a_state == AState::Answered {
            // A redirect after answer found nobody: the caller is hung up.
            tracing::info!(status, reason, "redirect target failed; hanging up");
            return self.hang_up_a().await;
        }
        if self.a_state != AState::Pending {
            return;
        }
        let fallback = self.bridge.entry.fallback.as_ref();
        let eligible = fallback.is_some_and(|f| {
            f.codes.is_empty() && status >= 300
                || f.codes.contains(&status)
                || (status == 408 && f.on_timeout)
        });
        if eligible {
            if let Some(next) = self.targets.pop_front() {
                tracing::info!(status, %next, "outbound leg failed; trying the fallback");
                if let Some(mut old) = self.b.take() {
                    old.media.close().await;
                }
                return Box::pin(self.dial(next)).await;
            }
        }
        let endpoint = self
            .b
            .as_ref()
            .map(|b| b.endpoint.clone())
            .unwrap_or_default();
        tracing::info!(status, reason, %endpoint, "outbound leg failed");
        self.reject_a(status, Some(reason)).await;
    }

    pub(super) fn b_done(&mut self) {
        if let Some(b) = self.b.as_mut() {
            b.uac.state = BState::Done;
        }
        self.linger_until = None;
    }

    pub(super) async fn hang_up_b(&mut self) {
        let Some(b) = self.b.as_mut() else { return };
        match b.uac.state {
            BState::Calling => {
                b.uac.state = BState::Cancelling;
                if let Some(transaction) = b.uac.transaction {
                    self.linger_until = Some(tokio::time::Instant::now() + CANCEL_WAIT);
                    self.send(SipCommand::Cancel { transaction }).await;
                } else {
                    b.uac.state = BState::Done;
                }
            }
            BState::Answered => {
                b.uac.state = BState::Done;
                if let Some(dialog) = b.uac.dialog.clone() {
                    self.in_dialog(dialog, Method::Bye, None).await;
                }
            }
            BState::Cancelling | BState::Done => {}
        }
    }
}

fn quote(display: &str) -> String {
    let escaped = display.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}
