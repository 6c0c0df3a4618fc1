//! Carrying out what the call's rules decided: a command's SIP part
//! through the caller's leg, a component's media part through the pacer and
//! the RTP session. Every request ends here with `rules.started` /
//! `rules.finished`; no rule of the call's lifecycle lives here.

use std::time::Duration;

use call_control::{Command, Failure, Headers, Output, Request, RequestId};
use sip_stack::make_response;

use super::{listen_output, Listening, Playing};
use crate::calls::call::components::Capture;
use crate::calls::call::{g711, AState, Call};
use crate::calls::legs;
use crate::config::Destination as EndpointDestination;
use crate::control::ControllerKind;
use crate::media::pacer::{FrameSource, PromptFrames};
use crate::media::relay::Relay;
use crate::media::session::Forward;

impl Call {
    /// Carries out one request the rules handed over.
    pub(super) async fn execute(&mut self, request: Request) {
        let id = request.id;
        let result = match request.command {
            Command::Accept {
                early_media: false,
                headers,
            } => self.accept(headers).await,
            Command::Accept {
                early_media: true,
                headers,
            } => self.early_media(headers).await,
            Command::Answer { headers } => {
                if let Some(control) = self.control.as_mut() {
                    control.answer_headers = headers;
                }
                self.answer_locally().await
            }
            Command::Reject {
                code,
                reason,
                headers,
            } => {
                self.refuse_with(code, reason.as_deref(), &headers, None)
                    .await;
                Ok(Output::None)
            }
            Command::Hangup { headers } => {
                if let Some(control) = self.control.as_mut() {
                    control.bye_headers = valid_headers(&headers);
                }
                match self.a_state {
                    AState::Pending => {
                        self.refuse_with(480, Some("Temporarily Unavailable"), &headers, None)
                            .await
                    }
                    _ => self.hang_up_a().await,
                }
                Ok(Output::None)
            }
            Command::Redirect { uri, headers } => match self.redirect(id, &uri, &headers).await {
                Some(result) => result,
                None => return,
            },
            Command::Transfer { endpoint } => return self.transfer(id, endpoint).await,
            Command::Play(play) => return self.play(id, play),
            Command::Listen(listen) => return self.listen(id, listen.duration),
            Command::Echo => return self.echo(id),
            Command::Hold { headers } => {
                return self.hold(id, sdp::Direction::SendOnly, &headers).await
            }
            Command::Unhold { headers } => {
                return self.hold(id, sdp::Direction::SendRecv, &headers).await
            }
            Command::Mute => self.mute(true).inspect(|_| self.mute_recordings(true)),
            Command::Unmute => self.mute(false).inspect(|_| self.mute_recordings(false)),
            Command::Pause { target } if self.is_recording(target) => {
                self.pause_recording(target, true)
            }
            Command::Resume { target } if self.is_recording(target) => {
                self.pause_recording(target, false)
            }
            Command::Pause { target } => self.pause(target, true),
            Command::Resume { target } => self.pause(target, false),
            Command::Record(record) => return self.record(id, record),
            Command::Join(join) => self.join(join.target, join.direction).await,
            Command::Unjoin { target } => self.unjoin(target).await,
            Command::Announce(announcement) => return self.announce(id, announcement, false),
            Command::Prompt(prompt) => return self.announce(id, prompt.announcement, true),
            Command::Adjust { target, adjustment } => self.adjust(target, adjustment),
            Command::Analyze(analysis) => return self.analyze(id, &analysis),
            Command::CollectDtmf(_)
            | Command::Input(_)
            | Command::Stop { .. }
            | Command::DtmfEvents { .. } => Err(Failure::Internal(
                "not a command the call carries out".into(),
            )),
        };
        self.finished(id, result);
    }

    pub(super) fn finished(&mut self, id: RequestId, result: Result<Output, Failure>) {
        if let Some(control) = self.control.as_mut() {
            control.rules.finished(id, result);
        }
    }

    fn started(&mut self, id: RequestId) {
        if let Some(control) = self.control.as_mut() {
            control.rules.started(id);
        }
    }

    /// 180 Ringing to the caller.
    async fn accept(&mut self, headers: Headers) -> Result<Output, Failure> {
        if self.a_state != AState::Pending {
            return Ok(Output::None);
        }
        if headers.is_empty() {
            self.provisional_to_a(180, "Ringing", false).await;
        } else {
            let mut response = make_response(&self.a_invite, 180);
            response.reason = "Ringing".into();
            for (name, value) in headers {
                response.headers.push(name, value);
            }
            self.respond_a(response).await;
        }
        Ok(Output::None)
    }

    /// A final refusal of the caller's INVITE with the controller's headers
    /// (and a Contact for a redirect).
    async fn refuse_with(
        &mut self,
        code: u16,
        reason: Option<&str>,
        headers: &Headers,
        contact: Option<&str>,
    ) {
        if headers.is_empty() && contact.is_none() {
            return self.reject_a(code, reason).await;
        }
        let mut response = make_response(&self.a_invite, code);
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            response.reason = reason.to_string();
        }
        if let Some(contact) = contact {
            response
                .headers
                .push_known(sip::HeaderName::Contact, format!("<{contact}>"));
        }
        for (name, value) in headers {
            response.headers.push(name.clone(), value.clone());
        }
        self.finish_a(response).await;
    }

    /// SIP redirect: 302 with the target as Contact before answer; after
    /// answer a REFER, finished by its final response (`None` until then).
    async fn redirect(
        &mut self,
        id: RequestId,
        uri: &str,
        headers: &Headers,
    ) -> Option<Result<Output, Failure>> {
        let scheme = uri.split(':').next().unwrap_or_default();
        let tel = scheme.eq_ignore_ascii_case("tel");
        let sip = scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips");
        if !(tel || sip && uri.parse::<sip::Uri>().is_ok()) {
            return Some(Err(Failure::BadRequest(format!(
                "cannot redirect to {uri}"
            ))));
        }
        match self.a_state {
            AState::Pending => {
                tracing::info!(%uri, "redirecting the caller (302)");
                self.refuse_with(302, None, headers, Some(uri)).await;
                Some(Ok(Output::None))
            }
            AState::Answered => self
                .refer(id, uri, valid_headers(headers))
                .await
                .err()
                .map(Err),
            AState::Done => Some(Err(Failure::CallEnded)),
        }
    }

    /// Our SDP for the caller (an answer to its offer, or our offer for an
    /// offerless INVITE), with media started; once per call.
    fn prepare_local_sdp(&mut self) -> Result<(), Failure> {
        if self.a_sdp.is_some() {
            return Ok(());
        }
        let Some(a_media) = self.a_media.as_mut() else {
            return Err(Failure::Internal("no media for the caller".into()));
        };
        a_media.consume = true;
        if let Some(offer) = &self.a_offer {
            let local = a_media.local(
                legs::prefer(legs::offered_codec(offer)),
                sdp::Direction::SendRecv,
            );
            let answer = sdp::answer(offer, &local, &mut a_media.origin)
                .map_err(|e| Failure::Internal(format!("cannot answer the caller's SDP: {e}")))?;
            a_media
                .apply(answer.negotiated)
                .map_err(|e| Failure::Internal(format!("cannot start media: {e}")))?;
            self.a_sdp = Some(answer.sdp.to_bytes());
        } else {
            // Offerless INVITE: our 200 offers, the ACK answers.
            let local = a_media.local(legs::prefer(None), sdp::Direction::SendRecv);
            let offer = sdp::offer(&local, &mut a_media.origin);
            self.a_sdp = Some(offer.to_bytes());
            a_media.offer = Some(offer);
        }
        Ok(())
    }

    /// Answers the caller from our own media (no outbound leg).
    async fn answer_locally(&mut self) -> Result<Output, Failure> {
        match self.a_state {
            AState::Pending => {}
            AState::Answered => return Ok(Output::None),
            AState::Done => return Err(Failure::CallEnded),
        }
        self.prepare_local_sdp()?;
        self.answer_a().await;
        if self.a_state != AState::Answered {
            return Err(Failure::Internal("the caller could not be answered".into()));
        }
        if let Some(control) = self.control.as_mut() {
            control.answer_by = None;
        }
        self.start_control_media();
        Ok(Output::None)
    }

    /// 183 with our SDP: media (and components) run before the answer.
    /// Needs the caller's offer: an offer of ours would need a reliable 183.
    async fn early_media(&mut self, headers: Headers) -> Result<Output, Failure> {
        if self.a_state != AState::Pending {
            return Ok(Output::None);
        }
        if self.a_offer.is_none() {
            return Err(Failure::NotImplemented(
                "early media without the caller's offer",
            ));
        }
        self.prepare_local_sdp()?;
        let Some(sdp) = self.a_sdp.clone() else {
            return Err(Failure::Internal("no SDP for early media".into()));
        };
        let mut response = make_response(&self.a_invite, 183);
        response.reason = "Session Progress".into();
        self.contact(&mut response);
        for (name, value) in headers {
            response.headers.push(name, value);
        }
        response.set_body("application/sdp", sdp);
        self.respond_a(response).await;
        self.start_control_media();
        Ok(Output::None)
    }

    async fn transfer(&mut self, id: RequestId, endpoint: String) {
        let target = self.ctx.config.endpoints.get(&endpoint);
        if target.is_some_and(|e| ControllerKind::of(&e.matcher).is_some()) {
            // An agent or Rayo endpoint: its controllers take the call over.
            return self.hand_over(id, endpoint).await;
        }
        let check = match target.and_then(|e| e.destination.as_ref()) {
            None if target.is_none() => Err(Failure::UnknownEndpoint),
            Some(EndpointDestination::Sip { .. }) => Ok(()),
            _ => Err(Failure::NotSipEndpoint),
        };
        if let Err(failure) = check {
            return self.finished(id, Err(failure));
        }
        if self.a_state == AState::Done {
            return self.finished(id, Err(Failure::CallEnded));
        }
        tracing::info!(%endpoint, answered = self.a_state == AState::Answered, "transferring");
        self.finished(id, Ok(Output::None));
        self.drive().await;
        self.detach(call_control::EndReason::Transferred).await;
        // The caller's leg becomes a plain bridge leg: its pacer stream and
        // consumer give way to the relay.
        if let Some(a) = self.a_media.as_mut() {
            a.packets = None;
            if let Some(session) = &a.session {
                let _ = session.set_deliver(false);
            }
        }
        self.bridge.endpoint = endpoint.clone();
        self.bridge.entry.fallback = None;
        self.targets.clear();
        Box::pin(self.dial(endpoint)).await;
    }

    /// Starts loading a prompt; it plays (and the component starts) once loaded.
    fn play(&mut self, id: RequestId, play: call_control::Play) {
        let codec = match self.control_media() {
            Ok(m) => g711(m.negotiated.codec),
            Err(failure) => return self.finished(id, Err(failure)),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let prompts = self.ctx.prompts.clone();
        let uri = play.uri.clone();
        tokio::spawn(async move {
            let _ = tx.send(prompts.load(&uri, codec).await);
        });
        if let Some(control) = self.control.as_mut() {
            control.play = Some(Playing {
                id,
                looped: play.looped,
                loading: Some(rx),
            });
        }
    }

    pub(super) fn on_loaded(&mut self, result: Result<PromptFrames, Failure>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let Some(play) = control.play.as_mut() else {
            return;
        };
        play.loading = None;
        let id = play.id;
        let frames = match result {
            Ok(frames) if !frames.is_empty() => frames,
            Ok(_) => {
                control.play = None;
                return control.rules.finished(id, Ok(Output::None));
            }
            Err(failure) => {
                control.play = None;
                return control.rules.finished(id, Err(failure));
            }
        };
        let source = FrameSource::Prompt {
            frames,
            looped: play.looped,
            tag: id,
            start: 0,
        };
        let Some(media) = control.media.as_ref() else {
            return;
        };
        match self.ctx.pacer.set_source(media.stream, source) {
            Ok(()) => control.rules.started(id),
            Err(error) => {
                control.play = None;
                control
                    .rules
                    .finished(id, Err(Failure::Internal(error.to_string())));
            }
        }
    }

    fn listen(&mut self, id: RequestId, duration: Duration) {
        let negotiated = match self.control_media() {
            Ok(m) => m.negotiated,
            Err(failure) => return self.finished(id, Err(failure)),
        };
        let samples = (duration.as_millis() as usize).saturating_mul(8);
        if let Some(control) = self.control.as_mut() {
            control.listen = Some(Listening {
                id,
                capture: Capture::new(&negotiated, samples),
            });
        }
        self.started(id);
        self.update_delivery();
    }

    fn echo(&mut self, id: RequestId) {
        let stream = match self.control_media() {
            Ok(m) => m.stream,
            Err(failure) => return self.finished(id, Err(failure)),
        };
        let Some(a_media) = self.a_media.as_ref() else {
            return self.finished(id, Err(Failure::NotAnswered));
        };
        let (Some(session), Some(negotiated)) = (&a_media.session, &a_media.negotiated) else {
            return self.finished(id, Err(Failure::NotAnswered));
        };
        let _ = self.ctx.pacer.set_source(stream, FrameSource::Paused);
        let forward = Forward {
            socket: session.send_socket(),
            destination: session.destination_changes(),
            relay: Relay::new(
                legs::relay_config(negotiated, negotiated),
                session.outbound(),
            ),
        };
        if session.set_forward(Some(forward)).is_err() {
            self.set_idle_source();
            return self.finished(id, Err(Failure::Internal("media session busy".into())));
        }
        if let Some(control) = self.control.as_mut() {
            control.echo = Some(id);
        }
        self.started(id);
    }

    /// Pauses (`true`) or resumes the running play `target` in place: the
    /// caller hears silence meanwhile and the prompt goes on from where it
    /// stopped. The rules only hand over a started component whose state
    /// changes. Only a play can pause: a collect, listen or echo (whose
    /// pause Rayo does not define either) is `NotImplemented`.
    fn pause(&mut self, target: RequestId, paused: bool) -> Result<Output, Failure> {
        if let Some(result) = self.pause_announcement(target, paused) {
            return result;
        }
        let Some(control) = self.control.as_ref() else {
            return Err(Failure::NoSuchRequest);
        };
        if control.play.as_ref().is_none_or(|p| p.id != target) {
            return Err(Failure::NotImplemented(
                "pause and resume of a component other than a play",
            ));
        }
        let Some(media) = control.media.as_ref() else {
            return Err(Failure::NotAnswered);
        };
        self.ctx
            .pacer
            .set_prompt_paused(media.stream, paused)
            .map(|()| Output::None)
            .map_err(|error| Failure::Internal(error.to_string()))
    }

    /// Tears down the media side of a component the rules have completed.
    pub(super) fn stop_component(&mut self, id: RequestId) {
        if self.stop_recording(id) || self.stop_announcement(id) || self.stop_analysis(id) {
            return;
        }
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if control.play.as_ref().is_some_and(|p| p.id == id) {
            control.play = None;
            self.set_idle_source();
        } else if control.listen.as_ref().is_some_and(|l| l.id == id) {
            control.listen = None;
            self.update_delivery();
        } else if control.echo == Some(id) {
            control.echo = None;
            self.stop_echo();
        }
    }

    fn stop_echo(&mut self) {
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            let _ = session.set_forward(None);
        }
        self.set_idle_source();
    }

    /// A `listen` at its deadline: done with what arrived.
    pub(super) fn complete(&mut self, id: RequestId) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let result = match control.listen.take_if(|l| l.id == id) {
            Some(listen) => Ok(listen_output(listen.capture)),
            None => Err(Failure::Internal("nothing to complete".into())),
        };
        control.rules.finished(id, result);
        self.update_delivery();
    }

    /// The caller's media, which components need: after answer, or before
    /// it in early media (a 183 started it).
    pub(super) fn control_media(&self) -> Result<&super::ControlMedia, Failure> {
        match self.a_state {
            AState::Done => Err(Failure::CallEnded),
            AState::Pending | AState::Answered => self
                .control
                .as_ref()
                .and_then(|c| c.media.as_ref())
                .ok_or(Failure::NotAnswered),
        }
    }
}

/// The controller's headers that can go into a SIP message: names that are
/// tokens, values on one line; the others are dropped (and logged).
pub(super) fn valid_headers(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, value)| {
            let ok = crate::calls::uac::is_header_name(name)
                && crate::calls::uac::is_header_value(value);
            if !ok {
                tracing::info!(%name, "controller header dropped: not a valid SIP header");
            }
            ok
        })
        .cloned()
        .collect()
}
