//! SDP on the call's legs: applying answers (the callee's, a late-offer
//! caller's in the ACK, either side's to our re-INVITE), answering
//! re-INVITEs from our own media state and offering the hold state to the
//! other leg; and recording, which taps both legs once they run.

use std::path::PathBuf;
use std::time::Instant;

use sdp::{Direction, SessionDescription};
use sip::{Headers, Method, Request};
use sip_stack::dialog::DialogId;
use sip_stack::{make_response, ServerTransactionId};

use super::{g711, AState, BState, Call};
use crate::calls::legs;
use crate::media::recorder::{Channel, Recorder};

impl Call {
    /// Applies B's SDP answer: starts B's media, answers A if needed, bridges.
    pub(super) fn apply_b_answer(&mut self, sdp: &[u8]) -> Result<(), u16> {
        let Some(b) = self.b.as_mut() else {
            return Err(500);
        };
        let answer = sdp::parse(sdp).map_err(|_| 488u16)?;
        let offer = b.media.offer.as_ref().ok_or(500u16)?;
        let negotiated = sdp::process_answer(offer, &answer).map_err(|_| 488u16)?;
        b.media.apply(negotiated).map_err(|_| 503u16)?;
        let fresh = !b.answered_sdp;
        b.answered_sdp = true;
        let b_codec = negotiated.codec;
        let Some(a_media) = self.a_media.as_mut() else {
            return Err(500);
        };
        if a_media.negotiated.is_none() {
            if let Some(offer) = &self.a_offer {
                let local = a_media.local(legs::prefer(Some(b_codec)), Direction::SendRecv);
                let answer =
                    sdp::answer(offer, &local, &mut a_media.origin).map_err(|e| e.status())?;
                a_media.apply(answer.negotiated).map_err(|_| 503u16)?;
                self.a_sdp = Some(answer.sdp.to_bytes());
            } else {
                // Offerless INVITE: A gets our offer in the 200, answers in the ACK.
                let local = a_media.local(legs::prefer(Some(b_codec)), Direction::SendRecv);
                let offer = sdp::offer(&local, &mut a_media.origin);
                self.a_sdp = Some(offer.to_bytes());
                a_media.offer = Some(offer);
                return Ok(());
            }
        }
        if let (Some(a), Some(b)) = (self.a_media.as_ref(), self.b.as_ref()) {
            legs::bridge(a, &b.media, fresh);
        }
        Ok(())
    }

    pub(super) async fn on_late_answer(&mut self, ack: &Request) {
        let Some(a_media) = self.a_media.as_mut() else {
            return;
        };
        let negotiated = answer_in(&ack.headers, &ack.body)
            .zip(a_media.offer.as_ref())
            .and_then(|(answer, offer)| sdp::process_answer(offer, &answer).ok());
        a_media.offer = None;
        match negotiated {
            Some(n) if a_media.apply(n).is_ok() => {
                if let (Some(a), Some(b)) = (self.a_media.as_ref(), self.b.as_ref()) {
                    legs::bridge(a, &b.media, true);
                }
                self.start_control_media();
            }
            _ => {
                tracing::info!("caller's ACK carries no usable SDP answer");
                self.hang_up_a().await;
                self.hang_up_b().await;
            }
        }
    }

    /// Applies an answer to the offer we made on the leg of `dialog` (in the
    /// 2xx to our re-INVITE, or in the ACK of an offerless re-INVITE we
    /// answered with an offer); an unusable answer leaves the media as it was.
    pub(super) fn apply_answer(&mut self, dialog: &DialogId, headers: &Headers, body: &[u8]) {
        let media = if Some(dialog) == self.a_dialog.as_ref() {
            self.a_media.as_mut()
        } else if self.b.as_ref().and_then(|b| b.uac.dialog.as_ref()) == Some(dialog) {
            self.b.as_mut().map(|b| &mut b.media)
        } else {
            None
        };
        let Some(media) = media else { return };
        let Some(offer) = media.offer.take() else {
            return;
        };
        let negotiated =
            answer_in(headers, body).and_then(|answer| sdp::process_answer(&offer, &answer).ok());
        if let Some(n) = negotiated {
            let _ = media.apply(n);
            if let (Some(a), Some(b)) = (self.a_media.as_ref(), self.b.as_ref()) {
                legs::bridge(a, &b.media, false);
            }
        }
    }

    pub(super) fn start_recording(&mut self) {
        let call_id = self.a_invite.call_id().unwrap_or_default();
        let safe: String = call_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let path: PathBuf = self.ctx.recordings_dir.join(format!("{stamp}-{safe}.wav"));
        let started = self.answered_at.unwrap_or_else(Instant::now);
        match Recorder::start(&path, started) {
            Ok(recorder) => {
                let a = self.a_media.as_ref().and_then(|m| m.session.as_ref());
                let b = self.b.as_ref().and_then(|b| b.media.session.as_ref());
                let a_codec = self.a_media.as_ref().and_then(|m| m.negotiated);
                let b_codec = self.b.as_ref().and_then(|b| b.media.negotiated);
                if let (Some(a), Some(na)) = (a, a_codec) {
                    let tap = (recorder.tap(Channel::Left), g711(na.codec), na.payload_type);
                    let _ = a.set_tap(Some(tap));
                }
                if let (Some(b), Some(nb)) = (b, b_codec) {
                    let tap = (
                        recorder.tap(Channel::Right),
                        g711(nb.codec),
                        nb.payload_type,
                    );
                    let _ = b.set_tap(Some(tap));
                }
                tracing::info!(path = %path.display(), "recording");
                self.recorder = Some(recorder);
            }
            Err(error) => tracing::warn!(path = %path.display(), %error, "cannot record"),
        }
    }

    /// Answers a re-INVITE from our media state and offers its hold state
    /// to the other leg.
    pub(super) async fn on_reinvite(
        &mut self,
        transaction: ServerTransactionId,
        request: Request,
        from_a: bool,
    ) {
        // As for an initial INVITE: only a body that says it is SDP is an
        // offer, and our answer must be something the sender accepts.
        let offer = match sip::body::session_offer(&request) {
            Ok(offer) => offer,
            Err(refusal) => {
                tracing::info!(from_caller = from_a, %refusal, "re-INVITE body refused");
                let response = super::body_refusal(&request, &refusal);
                return self.respond(transaction, response).await;
            }
        };
        let media = if from_a {
            self.a_media.as_mut()
        } else {
            self.b.as_mut().map(|b| &mut b.media)
        };
        let Some(media) = media else {
            return self
                .respond(transaction, make_response(&request, 500))
                .await;
        };
        let current = media.negotiated.map(|n| n.codec);
        let result = if let Some(offer) = offer {
            match sdp::parse(offer) {
                Err(e) => Err(e.status()),
                Ok(offer) => {
                    let local = media.local(legs::prefer(current), Direction::SendRecv);
                    match sdp::answer(&offer, &local, &mut media.origin) {
                        Err(e) => Err(e.status()),
                        Ok(answer) => match media.apply(answer.negotiated) {
                            Ok(()) => Ok((
                                answer.sdp.to_bytes(),
                                Some(answer.negotiated.remote_direction),
                            )),
                            Err(_) => Err(500),
                        },
                    }
                }
            }
        } else {
            // Offerless re-INVITE: offer our current media; the ACK answers.
            let local = media.local(legs::prefer(current), Direction::SendRecv);
            let offer = sdp::offer(&local, &mut media.origin);
            let bytes = offer.to_bytes();
            media.offer = Some(offer);
            Ok((bytes, None))
        };
        match result {
            Err(code) => {
                self.respond(transaction, make_response(&request, code))
                    .await;
            }
            Ok((sdp, direction)) => {
                let mut ok = make_response(&request, 200);
                self.contact(&mut ok);
                ok.set_body("application/sdp", sdp);
                self.respond(transaction, ok).await;
                if from_a {
                    self.a_awaiting_ack = true;
                }
                if let (Some(a), Some(b)) = (self.a_media.as_ref(), self.b.as_ref()) {
                    legs::bridge(a, &b.media, false);
                }
                if let Some(direction) = direction {
                    tracing::info!(from_caller = from_a, %direction, "re-INVITE answered");
                    self.reflect_direction(from_a, direction).await;
                }
            }
        }
    }

    /// Offers `direction` (what the re-INVITing side now sends/receives) to
    /// the other leg, when it differs from what that leg last heard.
    pub(super) async fn reflect_direction(&mut self, from_a: bool, direction: Direction) {
        let (media, dialog) = if from_a {
            match self.b.as_mut() {
                Some(b) if b.uac.state == BState::Answered => (&mut b.media, b.uac.dialog.clone()),
                _ => return,
            }
        } else {
            if self.a_state != AState::Answered {
                return;
            }
            match self.a_media.as_mut() {
                Some(m) => (m, self.a_dialog.clone()),
                None => return,
            }
        };
        let Some(dialog) = dialog else { return };
        let Some(negotiated) = media.negotiated else {
            return;
        };
        if negotiated.local_direction == direction {
            return;
        }
        let local = media.local(legs::prefer(Some(negotiated.codec)), direction);
        let offer = sdp::offer(&local, &mut media.origin);
        let body = offer.to_bytes();
        media.offer = Some(offer);
        self.in_dialog(dialog, Method::Invite, Some(body)).await;
    }
}

/// The SDP answer in a response or ACK, if its body says it is SDP and it
/// parses; why not is logged (an unusable answer leaves media as it was).
fn answer_in(headers: &Headers, body: &[u8]) -> Option<SessionDescription> {
    match sip::body::session_description(headers, body) {
        Ok(Some(sdp)) => sdp::parse(sdp).ok(),
        Ok(None) => None,
        Err(refusal) => {
            tracing::info!(%refusal, "answer body is not SDP");
            None
        }
    }
}
