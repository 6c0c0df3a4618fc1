//! The controlled call: a caller whose call is steered by a controller (an
//! agent) through the call-control model instead of being bridged at once.
//!
//! The call is offered first ([`crate::control::Offer`]); while the offer
//! runs the caller's signalling is handled as usual (a CANCEL withdraws
//! it). Once taken, the controller's requests arrive on the call's command
//! queue and each is completed with one `Done` event. Media after answer:
//! the caller's leg has a pacer stream (silence, or a prompt) and, while a
//! component needs them, delivers its packets here (digits, `listen`);
//! `echo` relays the caller's packets back to the caller inside the receive
//! task, like a bridge to itself.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use call_control::{
    CallInfo, CollectDtmf, Command, DtmfCollector, EndReason, Event, Failure, Output, Request,
    RequestId,
};
use sip::TypedHeaders;
use tokio::sync::{mpsc, oneshot, watch};

use super::components::{Capture, DigitSource};
use super::{g711, AState, Call};
use crate::calls::legs;
use crate::config::Destination as EndpointDestination;
use crate::control::{CallHandle, EventSink, Offer, Offered, CALL_COMMAND_QUEUE};
use crate::media::pacer::{
    AfterPrompt, FrameSource, PacerEvent, PromptFrames, StreamId, StreamSetup,
};
use crate::media::relay::Relay;
use crate::media::session::{Forward, ReceivedRtp};

/// Pacer events one call may have queued.
const PACER_EVENT_QUEUE: usize = 8;

/// Extra time a `listen` waits past its duration for the last packets.
const LISTEN_SLACK: Duration = Duration::from_millis(200);

/// The offer runs as its own task (its future need not be `Sync`, which the
/// call's state must be); dropping this withdraws it.
struct Offering(tokio::task::JoinHandle<Offered>);

impl Drop for Offering {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Future for Offering {
    type Output = Offered;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Offered> {
        Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or(Offered::Declined {
                code: 500,
                reason: None,
            })
        })
    }
}

/// A controlled call's state beside its legs.
pub(super) struct Control {
    commands: mpsc::Receiver<Request>,
    commands_open: bool,
    offering: Option<Offering>,
    sink: Option<EventSink>,
    /// Why the call ended, for the controller's `Ended`.
    pub(super) end_reason: Option<EndReason>,
    /// Taken but not answered: when the caller stops waiting (the
    /// controller pool's answer timeout).
    answer_by: Option<tokio::time::Instant>,
    media: Option<ControlMedia>,
    play: Option<Playing>,
    collect: Option<(RequestId, DtmfCollector)>,
    listen: Option<Listening>,
    echo: Option<RequestId>,
}

/// The caller's media as a controlled call drives it (after answer).
struct ControlMedia {
    stream: StreamId,
    /// `None` once the pacer has gone (shutdown).
    pacer_events: Option<mpsc::Receiver<PacerEvent>>,
    destination: watch::Receiver<SocketAddr>,
    digits: DigitSource,
    negotiated: sdp::Negotiated,
    delivering: bool,
}

struct Playing {
    id: RequestId,
    looped: bool,
    /// The prompt being loaded; `None` once it plays.
    loading: Option<oneshot::Receiver<Result<PromptFrames, Failure>>>,
}

struct Listening {
    id: RequestId,
    capture: Capture,
    deadline: tokio::time::Instant,
}

/// Waits for the next thing a controlled call must react to; never
/// resolves without a controller. `packets` is the caller leg's consumer
/// channel, which lives with the leg.
pub(super) async fn wake(
    control: Option<&mut Control>,
    packets: Option<&mut mpsc::Receiver<ReceivedRtp>>,
) -> Wake {
    let Some(control) = control else {
        return std::future::pending().await;
    };
    let deadline = control.deadline();
    let (pacer, destination) = match control.media.as_mut() {
        Some(m) => (m.pacer_events.as_mut(), Some(&mut m.destination)),
        None => (None, None),
    };
    let loading = control.play.as_mut().and_then(|p| p.loading.as_mut());
    // Commands wait until the offer has resolved: the agent may send its
    // first request before the hub's answer reaches us, and its `Done` needs
    // the sink the offer brings.
    let commands_ready = control.commands_open && control.offering.is_none();
    tokio::select! {
        command = control.commands.recv(), if commands_ready => Wake::Command(command),
        offered = poll_opt(control.offering.as_mut()) => Wake::Offered(offered),
        event = recv_opt(pacer) => Wake::Pacer(event),
        packet = recv_opt(packets) => Wake::Packet(packet.map(Box::new)),
        loaded = loaded_opt(loading) => Wake::Loaded(loaded),
        changed = changed_opt(destination) => Wake::Destination(changed),
        _ = super::sleep_until(deadline) => Wake::Deadline,
    }
}

/// What woke a controlled call.
pub(super) enum Wake {
    Command(Option<Request>),
    Offered(Offered),
    Pacer(Option<PacerEvent>),
    /// Boxed: a packet is large and arrives only while a component reads them.
    Packet(Option<Box<ReceivedRtp>>),
    Loaded(Result<PromptFrames, Failure>),
    Destination(Option<SocketAddr>),
    Deadline,
}

impl Control {
    /// The state of a call about to be offered; the offer's future is
    /// polled by the call.
    pub(super) fn offer(call: &Call) -> Box<Control> {
        let (commands_tx, commands) = mpsc::channel(CALL_COMMAND_QUEUE);
        let invite = &call.a_invite;
        let user = |uri: Option<&sip::Uri>| {
            uri.and_then(|u| u.user_unescaped())
                .unwrap_or_default()
                .to_string()
        };
        let info = CallInfo {
            call_id: invite.call_id().unwrap_or_default().to_string(),
            from: user(invite.from().ok().as_ref().map(|f| &f.uri)),
            to: user(invite.to().ok().as_ref().map(|t| &t.uri)),
            headers: invite
                .headers
                .iter()
                .map(|h| (h.name.to_string(), h.value.clone()))
                .collect(),
        };
        let offer = Offer {
            endpoint: call.bridge.endpoint.clone(),
            info,
            call: CallHandle {
                key: call.key,
                commands: commands_tx,
            },
        };
        Box::new(Control {
            commands,
            commands_open: true,
            offering: Some(Offering(tokio::spawn(call.ctx.controllers.offer(offer)))),
            sink: None,
            end_reason: None,
            answer_by: None,
            media: None,
            play: None,
            collect: None,
            listen: None,
            echo: None,
        })
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        let collect = self
            .collect
            .as_ref()
            .map(|(_, c)| tokio::time::Instant::from_std(c.deadline()));
        let listen = self.listen.as_ref().map(|l| l.deadline);
        [collect, listen, self.answer_by]
            .into_iter()
            .flatten()
            .min()
    }
}

impl Call {
    /// Reacts to a wake-up of the controlled side.
    pub(super) async fn on_control(&mut self, wake: Wake) {
        match wake {
            Wake::Command(Some(request)) => self.on_command(request).await,
            Wake::Command(None) => {
                if let Some(c) = self.control.as_mut() {
                    c.commands_open = false;
                }
            }
            Wake::Offered(offered) => self.on_offered(offered).await,
            Wake::Pacer(Some(PacerEvent::PromptFinished { tag, .. })) => {
                let finished = self.control.as_mut().and_then(|c| {
                    // Only the prompt now playing (its tag is its request id):
                    // a replaced or stopped one may still report its end.
                    match &c.play {
                        Some(p) if p.id == tag && p.loading.is_none() => c.play.take(),
                        _ => None,
                    }
                });
                if let Some(play) = finished {
                    self.done(play.id, Ok(Output::None)).await;
                }
            }
            Wake::Pacer(None) => {
                if let Some(m) = self.control.as_mut().and_then(|c| c.media.as_mut()) {
                    m.pacer_events = None;
                }
            }
            Wake::Packet(Some(packet)) => self.on_packet(&packet).await,
            Wake::Packet(None) => {
                // The session has stopped delivering (closed).
                if let Some(a) = self.a_media.as_mut() {
                    a.packets = None;
                }
            }
            Wake::Loaded(result) => self.on_loaded(result).await,
            Wake::Destination(Some(destination)) => {
                if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
                    let _ = self.ctx.pacer.set_destination(m.stream, destination);
                }
            }
            Wake::Destination(None) => {}
            Wake::Deadline => self.on_deadline().await,
        }
    }

    async fn on_offered(&mut self, offered: Offered) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        control.offering = None;
        match offered {
            Offered::Taken(sink) => {
                tracing::info!(endpoint = %self.bridge.endpoint, "a controller took the call");
                let wait = sink.answer_timeout();
                control.sink = Some(sink);
                control.answer_by = Some(tokio::time::Instant::now() + wait);
            }
            Offered::Declined { code, reason } => {
                tracing::info!(endpoint = %self.bridge.endpoint, code, "no controller took the call");
                control.end_reason = Some(EndReason::Hangup);
                let code = if (300..700).contains(&code) {
                    code
                } else {
                    480
                };
                self.reject_a(code, reason.as_deref()).await;
            }
        }
    }

    async fn on_command(&mut self, request: Request) {
        let id = request.id;
        let result = match request.command {
            Command::Ring => self.ring().await,
            Command::Answer => self.answer_locally().await,
            Command::Reject { code, reason } => {
                if self.a_state != AState::Pending {
                    Err(Failure::InvalidState("call already answered"))
                } else if !(300..700).contains(&code) {
                    Err(Failure::BadRequest(format!("cannot reject with {code}")))
                } else {
                    self.set_end_reason(EndReason::Hangup);
                    self.end_components(Failure::CallEnded).await;
                    self.reject_a(code, reason.as_deref()).await;
                    Ok(Output::None)
                }
            }
            Command::Hangup => {
                self.set_end_reason(EndReason::Hangup);
                self.end_components(Failure::CallEnded).await;
                match self.a_state {
                    AState::Pending => self.reject_a(480, Some("Temporarily Unavailable")).await,
                    _ => self.hang_up_a().await,
                }
                Ok(Output::None)
            }
            Command::Redirect { endpoint } => return self.redirect(id, endpoint).await,
            Command::Play(play) => return self.play(id, play).await,
            Command::CollectDtmf(options) => return self.collect(id, options).await,
            Command::Listen(listen) => return self.listen(id, listen.duration).await,
            Command::Echo => return self.echo(id).await,
            Command::Stop { target } => self.stop(target).await,
        };
        self.done(id, result).await;
    }

    async fn ring(&mut self) -> Result<Output, Failure> {
        match self.a_state {
            AState::Pending => {
                self.provisional_to_a(180, "Ringing", false).await;
                Ok(Output::None)
            }
            AState::Answered => Ok(Output::None),
            AState::Done => Err(Failure::CallEnded),
        }
    }

    /// Answers the caller from our own media (no outbound leg).
    async fn answer_locally(&mut self) -> Result<Output, Failure> {
        match self.a_state {
            AState::Pending => {}
            AState::Answered => return Ok(Output::None),
            AState::Done => return Err(Failure::CallEnded),
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

    /// Gives the answered caller's leg a pacer stream and a digit source,
    /// once its media is negotiated (at answer, or at the ACK of a late offer).
    pub(super) fn start_control_media(&mut self) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if control.media.is_some() || control.sink.is_none() {
            return;
        }
        let Some(a_media) = self.a_media.as_ref() else {
            return;
        };
        let (Some(session), Some(negotiated)) = (&a_media.session, a_media.negotiated) else {
            return;
        };
        let codec = g711(negotiated.codec);
        let (events_tx, pacer_events) = mpsc::channel(PACER_EVENT_QUEUE);
        let setup = StreamSetup {
            socket: session.send_socket(),
            destination: session.destination(),
            codec,
            ssrc: 0,
            initial_sequence: 0,
            initial_timestamp: 0,
            source: FrameSource::Silence,
            after_prompt: AfterPrompt::Silence,
            events: Some(events_tx),
            outbound: Some(session.outbound()),
        };
        match self.ctx.pacer.add_stream(setup) {
            Ok(stream) => {
                control.media = Some(ControlMedia {
                    stream: stream.id,
                    pacer_events: Some(pacer_events),
                    destination: session.destination_changes(),
                    digits: DigitSource::new(&negotiated),
                    negotiated,
                    delivering: false,
                });
            }
            Err(error) => tracing::warn!(%error, "cannot pace the caller's media"),
        }
    }

    async fn play(&mut self, id: RequestId, play: call_control::Play) {
        let codec = match self.answered_media() {
            Ok(m) => g711(m.negotiated.codec),
            Err(failure) => return self.done(id, Err(failure)).await,
        };
        // One prompt at a time: a new one replaces the old, and ends echo
        // (the two would share the caller's one outbound stream).
        if let Some(old) = self.control.as_mut().and_then(|c| c.play.take()) {
            self.done(old.id, Err(Failure::Stopped)).await;
        }
        if let Some(echo) = self.control.as_mut().and_then(|c| c.echo.take()) {
            self.stop_echo();
            self.done(echo, Err(Failure::Stopped)).await;
        }
        let (tx, rx) = oneshot::channel();
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

    async fn on_loaded(&mut self, result: Result<PromptFrames, Failure>) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let Some(play) = control.play.as_mut() else {
            return;
        };
        play.loading = None;
        let frames = match result {
            Ok(frames) if !frames.is_empty() => frames,
            Ok(_) => {
                let id = play.id;
                control.play = None;
                return self.done(id, Ok(Output::None)).await;
            }
            Err(failure) => {
                let id = play.id;
                control.play = None;
                return self.done(id, Err(failure)).await;
            }
        };
        let source = FrameSource::Prompt {
            frames,
            looped: play.looped,
            tag: play.id,
        };
        let Some(media) = control.media.as_ref() else {
            return;
        };
        if let Err(error) = self.ctx.pacer.set_source(media.stream, source) {
            let id = play.id;
            control.play = None;
            self.done(id, Err(Failure::Internal(error.to_string())))
                .await;
        }
    }

    async fn collect(&mut self, id: RequestId, options: CollectDtmf) {
        if let Err(failure) = self.answered_media() {
            return self.done(id, Err(failure)).await;
        }
        if let Some((old, _)) = self.control.as_mut().and_then(|c| c.collect.take()) {
            self.done(old, Err(Failure::Stopped)).await;
        }
        if let Some(control) = self.control.as_mut() {
            let now = std::time::Instant::now();
            control.collect = Some((id, DtmfCollector::new(options, now)));
        }
        self.update_delivery();
    }

    async fn listen(&mut self, id: RequestId, duration: Duration) {
        let negotiated = match self.answered_media() {
            Ok(m) => m.negotiated,
            Err(failure) => return self.done(id, Err(failure)).await,
        };
        if let Some(old) = self.control.as_mut().and_then(|c| c.listen.take()) {
            self.done(old.id, Err(Failure::Stopped)).await;
        }
        let samples = (duration.as_millis() as usize).saturating_mul(8);
        if let Some(control) = self.control.as_mut() {
            control.listen = Some(Listening {
                id,
                capture: Capture::new(&negotiated, samples),
                deadline: tokio::time::Instant::now() + duration + LISTEN_SLACK,
            });
        }
        self.update_delivery();
    }

    async fn echo(&mut self, id: RequestId) {
        let stream = match self.answered_media() {
            Ok(m) => m.stream,
            Err(failure) => return self.done(id, Err(failure)).await,
        };
        if let Some(play) = self.control.as_mut().and_then(|c| c.play.take()) {
            self.done(play.id, Err(Failure::Stopped)).await;
        }
        let Some(a_media) = self.a_media.as_ref() else {
            return;
        };
        let (Some(session), Some(negotiated)) = (&a_media.session, &a_media.negotiated) else {
            return;
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
            let _ = self.ctx.pacer.set_source(stream, FrameSource::Silence);
            return self
                .done(id, Err(Failure::Internal("media session busy".into())))
                .await;
        }
        let previous = self.control.as_mut().and_then(|c| c.echo.replace(id));
        if let Some(previous) = previous {
            self.done(previous, Err(Failure::Stopped)).await;
        }
    }

    async fn stop(&mut self, target: RequestId) -> Result<Output, Failure> {
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::NoSuchRequest);
        };
        if control.play.as_ref().is_some_and(|p| p.id == target) {
            control.play = None;
            if let Some(m) = control.media.as_ref() {
                let _ = self.ctx.pacer.set_source(m.stream, FrameSource::Silence);
            }
        } else if control
            .collect
            .as_ref()
            .is_some_and(|(id, _)| *id == target)
        {
            control.collect = None;
        } else if control.listen.as_ref().is_some_and(|l| l.id == target) {
            control.listen = None;
        } else if control.echo == Some(target) {
            control.echo = None;
            self.stop_echo();
        } else {
            return Err(Failure::NoSuchRequest);
        }
        self.update_delivery();
        self.done(target, Err(Failure::Stopped)).await;
        Ok(Output::None)
    }

    fn stop_echo(&mut self) {
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            let _ = session.set_forward(None);
        }
        if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
            let _ = self.ctx.pacer.set_source(m.stream, FrameSource::Silence);
        }
    }

    async fn redirect(&mut self, id: RequestId, endpoint: String) {
        let target = self.ctx.config.endpoints.get(&endpoint);
        let check = match target.and_then(|e| e.destination.as_ref()) {
            None if target.is_none() => Err(Failure::UnknownEndpoint),
            Some(EndpointDestination::Sip { .. }) => Ok(()),
            _ => Err(Failure::NotSipEndpoint),
        };
        if let Err(failure) = check {
            return self.done(id, Err(failure)).await;
        }
        if self.a_state == AState::Done {
            return self.done(id, Err(Failure::CallEnded)).await;
        }
        tracing::info!(%endpoint, answered = self.a_state == AState::Answered, "redirecting");
        self.end_components(Failure::CallEnded).await;
        self.done(id, Ok(Output::None)).await;
        self.detach(EndReason::Redirected).await;
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

    /// The answered caller's media, or why a media operation cannot run.
    fn answered_media(&self) -> Result<&ControlMedia, Failure> {
        match self.a_state {
            AState::Pending => Err(Failure::NotAnswered),
            AState::Done => Err(Failure::CallEnded),
            AState::Answered => self
                .control
                .as_ref()
                .and_then(|c| c.media.as_ref())
                .ok_or(Failure::NotAnswered),
        }
    }

    async fn on_packet(&mut self, packet: &ReceivedRtp) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let mut captured = None;
        if let Some(listen) = control.listen.as_mut() {
            if listen.capture.feed(packet) {
                captured = control.listen.take();
            }
        }
        let mut digits: Vec<char> = Vec::new();
        if let Some(media) = control.media.as_mut() {
            media.digits.feed(packet, |d| digits.push(d));
        }
        if let Some(listen) = captured {
            self.listen_done(listen).await;
        }
        for digit in digits {
            self.on_digit(digit).await;
        }
    }

    async fn on_digit(&mut self, digit: char) {
        tracing::debug!(%digit, "DTMF");
        let done = self.control.as_mut().and_then(|c| {
            let (id, collector) = c.collect.as_mut()?;
            let id = *id;
            let output = collector.digit(digit, std::time::Instant::now())?;
            c.collect = None;
            Some((id, output))
        });
        self.send_event(Event::Dtmf { digit }).await;
        if let Some((id, output)) = done {
            self.update_delivery();
            self.done(id, Ok(output)).await;
        }
    }

    async fn listen_done(&mut self, listen: Listening) {
        self.update_delivery();
        let samples = listen.capture.finish();
        self.done(
            listen.id,
            Ok(Output::Audio {
                samples,
                sample_rate: 8000,
            }),
        )
        .await;
    }

    async fn on_deadline(&mut self) {
        let now = tokio::time::Instant::now();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if control.answer_by.is_some_and(|at| at <= now) {
            control.answer_by = None;
            if self.a_state == AState::Pending {
                tracing::info!("the agent did not answer in time");
                self.set_end_reason(EndReason::Hangup);
                self.end_components(Failure::CallEnded).await;
                return self.reject_a(480, Some("Temporarily Unavailable")).await;
            }
        }
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let expired = control.collect.as_mut().and_then(|(id, c)| {
            let id = *id;
            c.expire(now.into_std()).map(|output| (id, output))
        });
        if expired.is_some() {
            control.collect = None;
        }
        let listen = match &control.listen {
            Some(l) if l.deadline <= now => control.listen.take(),
            _ => None,
        };
        if let Some((id, output)) = expired {
            self.update_delivery();
            self.done(id, Ok(output)).await;
        }
        if let Some(listen) = listen {
            self.listen_done(listen).await;
        }
    }

    /// Turns packet delivery on while a component consumes packets.
    fn update_delivery(&mut self) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let wanted = control.collect.is_some() || control.listen.is_some();
        let Some(media) = control.media.as_mut() else {
            return;
        };
        if media.delivering == wanted {
            return;
        }
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            if session.set_deliver(wanted).is_ok() {
                media.delivering = wanted;
            }
        }
    }

    /// Ends every running component with `failure` (stop, call end, redirect).
    pub(super) async fn end_components(&mut self, failure: Failure) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let mut ended: Vec<RequestId> = Vec::new();
        if let Some(play) = control.play.take() {
            ended.push(play.id);
            if let Some(m) = control.media.as_ref() {
                let _ = self.ctx.pacer.set_source(m.stream, FrameSource::Silence);
            }
        }
        if let Some((id, _)) = control.collect.take() {
            ended.push(id);
        }
        if let Some(listen) = control.listen.take() {
            ended.push(listen.id);
        }
        if let Some(echo) = control.echo.take() {
            ended.push(echo);
            self.stop_echo();
        }
        self.update_delivery();
        for id in ended {
            self.done(id, Err(failure.clone())).await;
        }
    }

    /// The controller's part in the call is over: tell it, stop its media,
    /// and stop taking its commands.
    pub(super) async fn detach(&mut self, reason: EndReason) {
        let Some(mut control) = self.control.take() else {
            return;
        };
        if let Some(media) = control.media.take() {
            let _ = self.ctx.pacer.remove_stream(media.stream);
        }
        let reason = control.end_reason.take().unwrap_or(reason);
        // Requests already queued are answered; later ones find the queue
        // closed, which the controller reads as the call's end.
        control.commands.close();
        if let Some(sink) = control.sink.take() {
            while let Ok(request) = control.commands.try_recv() {
                let result = match request.command {
                    Command::Hangup => Ok(Output::None),
                    _ => Err(Failure::CallEnded),
                };
                sink.send(Event::Done {
                    id: request.id,
                    result,
                })
                .await;
            }
            sink.send(Event::Ended { reason }).await;
        }
    }

    pub(super) fn set_end_reason(&mut self, reason: EndReason) {
        if let Some(control) = self.control.as_mut() {
            control.end_reason.get_or_insert(reason);
        }
    }

    async fn done(&mut self, id: RequestId, result: Result<Output, Failure>) {
        self.send_event(Event::Done { id, result }).await;
    }

    async fn send_event(&mut self, event: Event) {
        let Some(sink) = self.control.as_ref().and_then(|c| c.sink.clone()) else {
            return;
        };
        if !sink.send(event).await {
            tracing::warn!("controller not taking events");
        }
    }
}

async fn poll_opt<F: Future + Unpin>(future: Option<&mut F>) -> F::Output {
    match future {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

async fn recv_opt<T>(rx: Option<&mut mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn loaded_opt(
    rx: Option<&mut oneshot::Receiver<Result<PromptFrames, Failure>>>,
) -> Result<PromptFrames, Failure> {
    match rx {
        Some(rx) => rx
            .await
            .unwrap_or_else(|_| Err(Failure::Internal("prompt loader stopped".into()))),
        None => std::future::pending().await,
    }
}

async fn changed_opt(rx: Option<&mut watch::Receiver<SocketAddr>>) -> Option<SocketAddr> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(*rx.borrow_and_update()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
