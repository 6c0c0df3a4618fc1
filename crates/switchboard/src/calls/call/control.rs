//! The controlled call: a caller whose call is steered by a controller (an
//! agent) through the call-control model instead of being bridged at once.
//!
//! The call is offered first ([`crate::control::Offer`]); while the offer
//! runs the caller's signalling is handled as usual (a CANCEL withdraws
//! it). Once taken, the controller's requests arrive on the call's command
//! queue. What they may do and in which order their events go out is
//! decided by the call's [`CallRules`] (call-control); this actor only
//! feeds it requests and facts and carries out its actions ([`execute`]:
//! SIP through the call's legs, media through the pacer and the session).
//! Media after answer: the caller's leg has a pacer stream (silence, or a
//! prompt) and, while the rules want digits or a `listen` runs, delivers its
//! packets here; `echo` relays the caller's packets back to the caller
//! inside the receive task, like a bridge to itself.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use call_control::{Action, CallInfo, CallRules, EndReason, Event, Failure, Request, SlotPolicy};
use sip::TypedHeaders;
use tokio::sync::{mpsc, oneshot, watch};

use super::components::{Capture, DigitSource};
use super::{g711, Call};
use crate::calls::join::{PeerMessage, PEER_QUEUE};
use crate::calls::registry::{CallRegistry, Registration, RegistryError};
use crate::control::{CallHandle, EventSink, Offer, Offered, CALL_COMMAND_QUEUE};
use crate::media::pacer::{
    AfterPrompt, FrameSource, PacerEvent, PromptFrames, StreamCounters, StreamId, StreamSetup,
};
use crate::media::session::ReceivedRtp;

mod analyze;
pub(in crate::calls) mod announce;
mod execute;
mod handover;
mod joining;
mod mixing;
pub(in crate::calls) mod record;
mod refer;
mod reinvite;
mod wake;

pub(super) use wake::{wake, Wake};

/// Pacer events one call may have queued.
const PACER_EVENT_QUEUE: usize = 8;

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
    /// Taken but not answered: when the caller stops waiting (the
    /// controller pool's answer timeout).
    pub(super) answer_by: Option<tokio::time::Instant>,
    /// The call's lifecycle: what requests may do, what the controller hears.
    pub(super) rules: CallRules,
    media: Option<ControlMedia>,
    play: Option<Playing>,
    /// The announcement (or prompt's announcement) playing.
    announce: Option<announce::Announcing>,
    /// The last tag given to an announcement's pacer source.
    next_tag: u64,
    listen: Option<Listening>,
    echo: Option<call_control::RequestId>,
    /// The controller's headers for the 200 being sent.
    answer_headers: call_control::Headers,
    /// A redirect after answer in progress.
    referral: Option<refer::Referral>,
    /// Hold / unhold requests, each waiting for its re-INVITE's answer.
    reinvites: reinvite::Reinvites,
    /// The call's entry in the call registry (its id), while it lives.
    registration: Option<Registration>,
    /// Messages from other calls (joins).
    peer: Option<mpsc::Receiver<PeerMessage>>,
    /// The call joined to this one, if any.
    joined: Option<joining::JoinedCall>,
    /// The mixer the call is in, if any.
    mixer: Option<mixing::InMixer>,
    /// The party's audio reaches no joined call.
    muted: bool,
    /// Record components.
    records: record::Records,
    /// Running call progress analyses that listen to audio.
    analyses: Vec<analyze::Analyzing>,
    /// The SIP status that ended the call, for `Ended`.
    end_code: Option<u16>,
    /// The headers of the SIP message that ended the call, for `Ended`.
    end_headers: call_control::Headers,
    /// The controller's headers for the BYE of a hangup.
    bye_headers: call_control::Headers,
}

/// The caller's media as a controlled call drives it (after answer).
struct ControlMedia {
    stream: StreamId,
    /// The stream's counters: where its prompt stands.
    counters: Arc<StreamCounters>,
    /// `None` once the pacer has gone (shutdown).
    pacer_events: Option<mpsc::Receiver<PacerEvent>>,
    destination: watch::Receiver<SocketAddr>,
    digits: DigitSource,
    negotiated: sdp::Negotiated,
    delivering: bool,
}

struct Playing {
    id: call_control::RequestId,
    looped: bool,
    /// The prompt being loaded; `None` once it plays.
    loading: Option<oneshot::Receiver<Result<PromptFrames, Failure>>>,
}

struct Listening {
    id: call_control::RequestId,
    capture: Capture,
}

impl Control {
    /// The state of a call about to be offered, registered under a fresh
    /// id; the offer's future is polled by the call. `Err` when the
    /// registry is full.
    pub(super) fn offer(call: &Call) -> Result<Box<Control>, RegistryError> {
        let (commands_tx, commands) = mpsc::channel(CALL_COMMAND_QUEUE);
        let handle = CallHandle {
            key: call.key,
            commands: commands_tx.clone(),
        };
        let (peer_tx, peer) = mpsc::channel(PEER_QUEUE);
        let registration =
            call.ctx
                .registry
                .register(CallRegistry::normalize(None)?, handle, peer_tx)?;
        let info = call_info(call);
        let offer = Offer {
            endpoint: call.bridge.endpoint.clone(),
            info,
            call: CallHandle {
                key: call.key,
                commands: commands_tx,
            },
        };
        let mut control = Control::new(commands, registration, peer);
        control.offering = Some(Offering(tokio::spawn(call.ctx.controllers.offer(offer))));
        Ok(control)
    }

    /// The state of a dialed call, controlled from birth through `sink`;
    /// `answer_by` bounds the wait for the party's answer.
    pub(in crate::calls) fn dialed(
        commands: mpsc::Receiver<Request>,
        registration: Registration,
        peer: mpsc::Receiver<PeerMessage>,
        sink: EventSink,
        answer_by: tokio::time::Instant,
    ) -> Box<Control> {
        let mut control = Control::new(commands, registration, peer);
        control.rules.set_outbound();
        control.sink = Some(sink);
        control.answer_by = Some(answer_by);
        control
    }

    fn new(
        commands: mpsc::Receiver<Request>,
        registration: Registration,
        peer: mpsc::Receiver<PeerMessage>,
    ) -> Box<Control> {
        Box::new(Control {
            commands,
            commands_open: true,
            offering: None,
            sink: None,
            answer_by: None,
            rules: CallRules::new(SlotPolicy::Replace),
            media: None,
            play: None,
            announce: None,
            next_tag: 0,
            listen: None,
            echo: None,
            answer_headers: Vec::new(),
            referral: None,
            reinvites: reinvite::Reinvites::default(),
            registration: Some(registration),
            peer: Some(peer),
            joined: None,
            mixer: None,
            muted: false,
            records: record::Records::default(),
            analyses: Vec::new(),
            end_code: None,
            end_headers: Vec::new(),
            bye_headers: Vec::new(),
        })
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        let rules = self
            .rules
            .poll_timeout()
            .map(tokio::time::Instant::from_std);
        let announce = self.announce.as_ref().and_then(|a| a.until);
        let records = self.records.deadline().map(tokio::time::Instant::from_std);
        [
            rules,
            self.answer_by,
            self.reinvites.deadline(),
            announce,
            records,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What a controller is told about the call when it is offered.
fn call_info(call: &Call) -> CallInfo {
    let invite = &call.a_invite;
    let user = |uri: Option<&sip::Uri>| {
        uri.and_then(|u| u.user_unescaped())
            .unwrap_or_default()
            .to_string()
    };
    CallInfo {
        call_id: invite.call_id().unwrap_or_default().to_string(),
        from: user(invite.from().ok().as_ref().map(|f| &f.uri)),
        to: user(invite.to().ok().as_ref().map(|t| &t.uri)),
        headers: invite
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.clone()))
            .collect(),
    }
}

/// `now` as the rules take it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Call {
    /// Reacts to a wake-up of the controlled side.
    pub(super) async fn on_control(&mut self, wake: Wake) {
        match wake {
            Wake::Command(Some(request)) => {
                if let Some(c) = self.control.as_mut() {
                    c.rules.request(now(), request);
                }
            }
            Wake::Command(None) => {
                if let Some(c) = self.control.as_mut() {
                    c.commands_open = false;
                }
            }
            Wake::Offered(offered) => self.on_offered(offered).await,
            Wake::Pacer(Some(PacerEvent::Speaking { speaking, .. })) => self.on_speaking(speaking),
            Wake::Pacer(Some(PacerEvent::PromptFinished { tag, .. })) => {
                if self.beep_finished(tag) {
                    // A recording's beep, not a prompt.
                } else if let Some(c) = self.control.as_mut() {
                    // Only the prompt now playing (its tag is its request id):
                    // a replaced or stopped one may still report its end.
                    if matches!(&c.play, Some(p) if p.id == tag && p.loading.is_none()) {
                        c.play = None;
                        c.rules.finished(tag, Ok(call_control::Output::None));
                    }
                }
                self.on_prompt_finished(tag);
            }
            // A room's speaker change: the call's mixer membership reports it.
            Wake::Pacer(None) => {
                if let Some(m) = self.control.as_mut().and_then(|c| c.media.as_mut()) {
                    m.pacer_events = None;
                }
            }
            Wake::Packet(Some(packet)) => self.on_packet(&packet),
            Wake::Packet(None) => {
                // The session has stopped delivering (closed).
                if let Some(a) = self.a_media.as_mut() {
                    a.packets = None;
                }
            }
            Wake::Loaded(result) => self.on_loaded(result),
            Wake::Announce(ready) => self.on_announce_ready(ready),
            Wake::Destination(Some(destination)) => {
                if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
                    let _ = self.ctx.pacer.set_destination(m.stream, destination);
                }
            }
            Wake::Destination(None) => {}
            Wake::MixerDigits => self.update_delivery(),
            Wake::Peer(Some(message)) => self.on_peer(message).await,
            Wake::Peer(None) => {
                if let Some(c) = self.control.as_mut() {
                    c.peer = None;
                }
            }
            Wake::Deadline => self.on_deadline().await,
        }
        self.drive().await;
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
                control.rules.set_slot_policy(sink.slot_policy());
                control.rules.set_early_media(sink.early_media());
                control.sink = Some(sink);
                control.answer_by = Some(tokio::time::Instant::now() + wait);
                if self.a_state == super::AState::Answered {
                    // A handed-over call: answered already.
                    control.answer_by = None;
                    self.start_control_media();
                }
            }
            Offered::Declined { .. } if self.a_state == super::AState::Answered => {
                self.handover_declined().await;
            }
            Offered::Declined { code, reason } => {
                tracing::info!(endpoint = %self.bridge.endpoint, code, "no controller took the call");
                control.rules.note_end_reason(EndReason::Hangup);
                let code = if (300..700).contains(&code) {
                    code
                } else {
                    480
                };
                self.reject_a(code, reason.as_deref()).await;
            }
        }
    }

    /// Carries out the rules' actions until none is left.
    pub(super) async fn drive(&mut self) {
        loop {
            let Some(action) = self.control.as_mut().and_then(|c| c.rules.poll_action()) else {
                return;
            };
            match action {
                Action::Emit(event) => self.send_event(event).await,
                Action::Execute(request) => Box::pin(self.execute(request)).await,
                Action::StopComponent(id) => self.stop_component(id),
                Action::StopAnnouncement(id) => {
                    self.stop_announcement(id);
                }
                Action::Complete(id) => self.complete(id),
                Action::WantDigits(_) => self.update_delivery(),
            }
        }
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
                    counters: stream.counters,
                    pacer_events: Some(pacer_events),
                    destination: session.destination_changes(),
                    digits: DigitSource::new(&negotiated),
                    negotiated,
                    delivering: false,
                });
                control.rules.media_ready(std::time::Instant::now());
            }
            Err(error) => tracing::warn!(%error, "cannot pace the caller's media"),
        }
        // Digits subscribed before media ran flow from now on.
        self.update_delivery();
    }

    fn on_packet(&mut self, packet: &ReceivedRtp) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        // A muted party's audio reaches no component: a `listen` hears
        // silence (the capture fills gaps with it) while digits still count.
        if let Some(listen) = control.listen.as_mut().filter(|_| !control.muted) {
            if listen.capture.feed(packet) {
                if let Some(listen) = control.listen.take() {
                    let output = listen_output(listen.capture);
                    control.rules.finished(listen.id, Ok(output));
                }
            }
        }
        if !control.muted {
            control.records.party_audio(packet);
        }
        let mut digits: Vec<char> = Vec::new();
        let mut signals = Vec::new();
        if let Some(media) = control.media.as_mut() {
            media.digits.feed(packet, |d| digits.push(d));
            let (pt, codec) = (media.negotiated.payload_type, media.negotiated.codec);
            for analysis in control.analyses.iter_mut().filter(|_| !control.muted) {
                let mut found = Vec::new();
                analysis.feed(packet, pt, codec, &mut found);
                signals.extend(found.into_iter().map(|s| (analysis.id, s)));
            }
        }
        for (id, signal) in signals {
            tracing::debug!(?signal, "call progress signal");
            control.rules.signal(id, signal);
        }
        let now = now();
        let mixer = control.mixer.as_ref().filter(|m| m.wants_digits());
        for digit in digits {
            tracing::debug!(%digit, "DTMF");
            control.rules.digit(now, digit);
            if let Some(mixer) = mixer {
                self.ctx.mixers.digit(mixer.name(), digit);
            }
        }
        self.update_delivery();
    }

    async fn on_deadline(&mut self) {
        let now = tokio::time::Instant::now();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if control.answer_by.is_some_and(|at| at <= now) {
            control.answer_by = None;
            if self.a_state == super::AState::Pending && self.dialed.is_some() {
                self.dial_timed_out().await;
            } else if self.a_state == super::AState::Pending {
                tracing::info!("the agent did not answer in time");
                self.set_end_reason(EndReason::Hangup);
                self.end_components(Failure::CallEnded).await;
                return self.reject_a(480, Some("Temporarily Unavailable")).await;
            }
        }
        self.on_announcement_deadline(now);
        if let Some(control) = self.control.as_mut() {
            control.rules.handle_timeout(now.into_std());
        }
        self.on_record_deadline().await;
        self.send_reinvites().await;
    }

    /// Turns packet delivery on while digits are wanted or a `listen` runs.
    pub(super) fn update_delivery(&mut self) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let wanted = control.rules.wants_digits()
            || control.mixer.as_ref().is_some_and(|m| m.wants_digits())
            || control.listen.is_some()
            || !control.analyses.is_empty()
            || control.records.wants_audio();
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

    /// Ends every running component with `failure` (the call is going).
    pub(super) async fn end_components(&mut self, failure: Failure) {
        if let Some(control) = self.control.as_mut() {
            control.rules.stop_components(failure);
        }
        self.drive().await;
    }

    /// The controller's part in the call is over: requests still queued are
    /// answered, the controller hears `Ended`, the call's media stops and its
    /// commands are no longer taken.
    pub(super) async fn detach(&mut self, reason: EndReason) {
        let Some(mut control) = self.release_controller(reason).await else {
            return;
        };
        if let Some(media) = control.media.take() {
            let _ = self.ctx.pacer.remove_stream(media.stream);
        }
    }

    /// [`detach`](Self::detach) without stopping the media: the released
    /// controller's state, its pacer stream still in it (for a handover).
    async fn release_controller(&mut self, reason: EndReason) -> Option<Box<Control>> {
        let control = self.control.as_mut()?;
        control.rules.gone(reason.clone());
        self.break_join().await;
        self.leave_mixer();
        let control = self.control.as_mut()?;
        // Requests already queued are answered; later ones find the queue
        // closed, which the controller reads as the call's end.
        control.commands.close();
        let now = now();
        while let Ok(request) = control.commands.try_recv() {
            control.rules.request(now, request);
        }
        let (code, headers) = (control.end_code, std::mem::take(&mut control.end_headers));
        control.rules.end(reason, code, headers);
        self.drive().await;
        self.control.take()
    }

    /// The controller's headers for the 200 it asked for (taken once).
    pub(super) fn take_answer_headers(&mut self) -> call_control::Headers {
        self.control
            .as_mut()
            .map(|c| std::mem::take(&mut c.answer_headers))
            .unwrap_or_default()
    }

    /// The SIP status and headers that end the call (the first given win).
    pub(super) fn note_end_headers(&mut self, code: Option<u16>, headers: call_control::Headers) {
        if let Some(control) = self.control.as_mut() {
            if control.end_code.is_none() && control.end_headers.is_empty() {
                control.end_code = code;
                control.end_headers = headers;
            }
        }
    }

    /// The controller's headers for the BYE being sent (taken once).
    pub(super) fn take_bye_headers(&mut self) -> Vec<(String, String)> {
        self.control
            .as_mut()
            .map(|c| std::mem::take(&mut c.bye_headers))
            .unwrap_or_default()
    }

    /// Why the call ends, unless the controller's own command said already.
    pub(super) fn set_end_reason(&mut self, reason: EndReason) {
        if let Some(control) = self.control.as_mut() {
            control.rules.note_end_reason(reason);
        }
    }

    async fn send_event(&mut self, event: Event) {
        let event = self.recording_done(event).await;
        let Some(sink) = self.control.as_ref().and_then(|c| c.sink.clone()) else {
            return;
        };
        if !sink.send(event).await {
            tracing::warn!("controller not taking events");
        }
    }
}

/// A finished capture as the request's output.
fn listen_output(capture: Capture) -> call_control::Output {
    call_control::Output::Audio {
        samples: capture.finish(),
        sample_rate: 8000,
    }
}
