//! The rules of one controlled call as a sans-IO state machine.
//!
//! [`CallRules`] decides; the call's actor carries out. The actor feeds it
//! the controller's requests and the facts it observes (answered, a
//! component started or finished, a digit, the call gone), each with `now`,
//! and then carries out every [`Action`] it polls: events for the
//! controller, SIP or media work, components to tear down. The rules hold
//! no I/O and no clock, so every ordering rule below is unit-tested with
//! virtual time.
//!
//! The run loop of an actor:
//!
//! ```text
//! loop {
//!     match wake().await {
//!         request          => rules.request(now, request),
//!         component ran    => rules.started(id),
//!         component ended  => rules.finished(id, result),
//!         digit            => rules.digit(now, digit),
//!         timer            => rules.handle_timeout(now),
//!         call over        => { rules.gone(reason); rules.end(reason, code, headers) }
//!     }
//!     while let Some(action) = rules.poll_action() {
//!         match action {
//!             Action::Emit(event) => send to the controller,
//!             Action::Execute(request) => do it, then rules.started / rules.finished,
//!             Action::StopComponent(id) => tear its media down (report nothing),
//!             Action::Complete(id) => rules.finished(id, what it has so far),
//!             Action::WantDigits(on) => deliver digits from media or not,
//!         }
//!     }
//!     sleep until rules.poll_timeout()
//! }
//! ```
//!
//! Rules enforced:
//! - exactly one [`Event::Done`] per request; nothing of a request after it;
//! - a component's [`Event::Started`] comes before any other event of it; a
//!   component that fails to start gets only its `Done`;
//! - components in one [`Slot`] exclude each other: a new one replaces the
//!   old (which completes `Stopped` first) or is refused with
//!   [`Failure::Conflict`], as the [`SlotPolicy`] says; different slots run
//!   at once;
//! - when the call goes, every running component completes (`CallEnded`),
//!   then every join gets [`Event::Unjoined`], then [`Event::Ended`]; after
//!   that only `Done(Err(CallEnded))` answers to late requests;
//! - digits feed every running collect, and reach the controller as
//!   [`Event::Dtmf`] while it subscribes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{
    Command, DtmfCollector, EndReason, Event, Failure, Headers, InputCollector, JoinDirection,
    JoinTarget, Output, Request, RequestId, Slot,
};

/// Extra time a `listen` waits past its duration for the last packets.
pub const LISTEN_SLACK: Duration = Duration::from_millis(200);

/// What happens to a component whose slot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlotPolicy {
    /// The running one completes `Stopped` and the new one starts (Agent RPC).
    #[default]
    Replace,
    /// The new one is refused with [`Failure::Conflict`] (Rayo).
    Refuse,
}

/// What the actor must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this event to the controller.
    Emit(Event),
    /// Carry out this request's SIP or media part. A command is reported
    /// with [`CallRules::finished`]; a component with [`CallRules::started`]
    /// once it runs and [`CallRules::finished`] if it ends by itself.
    Execute(Request),
    /// Tear down the media side of this component. The rules have already
    /// completed it: report nothing more for it.
    StopComponent(RequestId),
    /// Finish this component now with what it has (a `listen` at its
    /// deadline), and report it with [`CallRules::finished`].
    Complete(RequestId),
    /// Deliver the caller's digits to [`CallRules::digit`] (or stop).
    WantDigits(bool),
    /// Stop this prompt's announcement (the caller barged in); its input
    /// goes on. Report nothing for it.
    StopAnnouncement(RequestId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not answered yet.
    Pending,
    Answered,
    /// The SIP side is over (hung up, rejected, transferred); `Ended` not yet sent.
    Gone,
    Ended,
}

#[derive(Debug)]
struct Component {
    id: RequestId,
    slot: Option<Slot>,
    started: bool,
    paused: bool,
    /// What it is, for the commands that only some components take.
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Play, echo, listen, collect, record: no adjustments.
    Plain,
    /// An announcement: adjustments apply.
    Announcement,
    /// A prompt; adjustments apply while its announcement plays.
    Prompt {
        /// The announcement is still playing.
        playing: bool,
        /// The first key stops the announcement.
        barge_in: bool,
    },
}

/// A command handed to the actor and not yet finished.
#[derive(Debug)]
struct Executing {
    id: RequestId,
    command: Command,
}

/// One controlled call's lifecycle: see the module doc.
#[derive(Debug)]
pub struct CallRules {
    policy: SlotPolicy,
    phase: Phase,
    media_ready: bool,
    end_reason: Option<EndReason>,
    components: Vec<Component>,
    collectors: Vec<(RequestId, DtmfCollector)>,
    inputs: Vec<(RequestId, InputCollector)>,
    /// Running call progress analyses.
    analyses: Vec<(RequestId, crate::Analysis)>,
    listen_deadlines: Vec<(RequestId, Instant)>,
    executing: Vec<Executing>,
    /// `Joined` events of join requests still executing: each follows its
    /// request's `Done`, so a controller has the result (a mixer's ref)
    /// before it hears of the join.
    joined_after_done: Vec<(RequestId, Event)>,
    subscribed: bool,
    wants_digits: bool,
    joins: Vec<(JoinTarget, JoinDirection)>,
    actions: VecDeque<Action>,
    /// The call was dialed: its party answers, not the controller.
    outbound: bool,
    /// A component before answer sends 183 with SDP itself (Rayo) instead
    /// of failing with [`Failure::NotAnswered`] (Agent RPC).
    early_media: bool,
    /// Components waiting for the early media this call asked for.
    held: Vec<(RequestId, Command)>,
    /// The id of the early-media accept the rules issued themselves.
    early_accept: Option<RequestId>,
}

/// Request ids the rules use for their own commands, far from any
/// adapter's (adapters count up from 1).
const INTERNAL_ID: RequestId = u64::MAX - 1;

impl Default for CallRules {
    fn default() -> Self {
        CallRules::new(SlotPolicy::default())
    }
}

impl CallRules {
    /// A call not answered yet, with no component running.
    pub fn new(policy: SlotPolicy) -> CallRules {
        CallRules {
            policy,
            phase: Phase::Pending,
            media_ready: false,
            end_reason: None,
            components: Vec::new(),
            collectors: Vec::new(),
            inputs: Vec::new(),
            analyses: Vec::new(),
            listen_deadlines: Vec::new(),
            executing: Vec::new(),
            joined_after_done: Vec::new(),
            subscribed: false,
            wants_digits: false,
            joins: Vec::new(),
            actions: VecDeque::new(),
            outbound: false,
            early_media: false,
            held: Vec::new(),
            early_accept: None,
        }
    }

    /// A component started before answer on an incoming call starts early
    /// media (183 with SDP) and runs once it flows; the call stays
    /// unanswered. Off by default ([`Failure::NotAnswered`] then).
    pub fn set_early_media(&mut self, on: bool) {
        self.early_media = on;
    }

    /// Changes what a new component does to a taken slot.
    pub fn set_slot_policy(&mut self, policy: SlotPolicy) {
        self.policy = policy;
    }

    /// Whether [`Event::Ended`] has been emitted.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Whether the caller's digits must be delivered (a collect runs or the
    /// controller subscribed); [`Action::WantDigits`] reports each change.
    pub fn wants_digits(&self) -> bool {
        self.wants_digits
    }

    /// Whether the call has been answered (and not gone since).
    pub fn is_answered(&self) -> bool {
        self.phase == Phase::Answered
    }

    /// The ids of the running components, oldest first.
    pub fn components(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.components.iter().map(|c| c.id)
    }

    /// The next thing the actor must do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`CallRules::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let collects = self.collectors.iter().map(|(_, c)| c.deadline());
        let listens = self.listen_deadlines.iter().map(|(_, at)| *at);
        let inputs = self.inputs.iter().filter_map(|(_, c)| c.deadline());
        collects.chain(listens).chain(inputs).min()
    }

    /// Time has reached `now`: collects past their limit complete, listens
    /// past theirs are asked to complete.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, collector) in &mut self.collectors {
            if let Some(output) = collector.expire(now) {
                expired.push((*id, output));
            }
        }
        for (id, input) in &mut self.inputs {
            if let Some(outcome) = input.expire(now) {
                expired.push((*id, Output::Input(outcome)));
            }
        }
        for (id, output) in expired {
            self.complete(id, Ok(output));
        }
        let (due, waiting): (Vec<_>, Vec<_>) = self
            .listen_deadlines
            .drain(..)
            .partition(|(_, at)| *at <= now);
        self.listen_deadlines = waiting;
        for (id, _) in due {
            self.actions.push_back(Action::Complete(id));
        }
    }

    /// A controller's request.
    pub fn request(&mut self, now: Instant, request: Request) {
        let Request { id, command } = request;
        if self.is_open(id) {
            // The adapter reused a running id: refuse without a second Done
            // for the running one's id being confusable.
            return self.done(id, Err(Failure::Conflict("request id in use".into())));
        }
        match self.phase {
            Phase::Ended => return self.done(id, Err(Failure::CallEnded)),
            // The call is over but not yet reported: a hangup has nothing
            // left to do, anything else is too late.
            Phase::Gone => {
                let result = match command {
                    Command::Hangup { .. } => Ok(Output::None),
                    _ => Err(Failure::CallEnded),
                };
                return self.done(id, result);
            }
            Phase::Pending | Phase::Answered => {}
        }
        let answered = self.phase == Phase::Answered;
        if self.outbound && !answered {
            // Nothing of ours answers a dialed call's party: it answers us.
            if let Command::Accept { .. }
            | Command::Answer { .. }
            | Command::Reject { .. }
            | Command::Redirect { .. }
            | Command::Transfer { .. } = command
            {
                return self.done(
                    id,
                    Err(Failure::InvalidState("the dialed party has not answered")),
                );
            }
        }
        match command {
            Command::Accept { .. } | Command::Answer { .. } if answered => {
                self.done(id, Ok(Output::None))
            }
            Command::Accept { .. } | Command::Answer { .. } => self.execute(id, command),
            Command::Reject { .. } if answered => {
                self.done(id, Err(Failure::InvalidState("call already answered")))
            }
            Command::Reject { code, .. } if !(300..700).contains(&code) => self.done(
                id,
                Err(Failure::BadRequest(format!("cannot reject with {code}"))),
            ),
            Command::Reject { .. } => {
                self.note_end_reason(EndReason::Rejected);
                self.stop_components(Failure::CallEnded);
                self.execute(id, command);
            }
            Command::Hangup { .. } => {
                self.note_end_reason(EndReason::Hangup);
                self.stop_components(Failure::CallEnded);
                self.execute(id, command);
            }
            Command::Redirect { .. }
                if self
                    .executing
                    .iter()
                    .any(|e| matches!(e.command, Command::Redirect { .. })) =>
            {
                self.done(
                    id,
                    Err(Failure::Conflict("a redirect is in progress".into())),
                )
            }
            Command::Redirect { .. } | Command::Transfer { .. } => self.execute(id, command),
            Command::Hold { .. } | Command::Unhold { .. } | Command::Mute | Command::Unmute
                if !answered =>
            {
                self.done(id, Err(Failure::NotAnswered))
            }
            Command::Hold { .. } | Command::Unhold { .. } | Command::Mute | Command::Unmute => {
                self.execute(id, command)
            }
            Command::Play(_)
            | Command::CollectDtmf(_)
            | Command::Listen(_)
            | Command::Echo
            | Command::Announce(_)
            | Command::Input(_)
            | Command::Prompt(_)
            | Command::Record(_)
            | Command::Analyze(_) => self.start_component(now, id, command),
            Command::Adjust { target, .. } => match self.adjustable(target) {
                Ok(()) => self.execute(id, command),
                Err(failure) => self.done(id, Err(failure)),
            },
            Command::Stop { target } => {
                if let Some(at) = self.held.iter().position(|(h, _)| *h == target) {
                    self.held.remove(at);
                    self.done(target, Err(Failure::Stopped));
                    self.done(id, Ok(Output::None));
                } else if self.components.iter().any(|c| c.id == target) {
                    self.stop_component(target, Failure::Stopped);
                    self.update_digits();
                    self.done(id, Ok(Output::None));
                } else {
                    self.done(id, Err(Failure::NoSuchRequest));
                }
            }
            Command::Pause { target } | Command::Resume { target } => {
                let pause = matches!(command, Command::Pause { .. });
                match self.components.iter().find(|c| c.id == target) {
                    Some(c) if !c.started => self.done(id, Err(Failure::NoSuchRequest)),
                    Some(c) if matches!(c.kind, Kind::Prompt { playing: false, .. }) => {
                        self.done(id, Err(Failure::InvalidState("the output is finished")))
                    }
                    Some(c) if c.paused == pause => self.done(id, Ok(Output::None)),
                    Some(_) => self.execute(id, command),
                    None => self.done(id, Err(Failure::NoSuchRequest)),
                }
            }
            Command::Join(_) if !answered => self.done(id, Err(Failure::NotAnswered)),
            Command::Join(join) => {
                if self.joins.iter().any(|(t, _)| t.matches(&join.target)) {
                    self.done(id, Err(Failure::Conflict("already joined".into())));
                } else {
                    self.execute(id, Command::Join(join));
                }
            }
            Command::Unjoin { target } => {
                if self.joins.iter().any(|(t, _)| t.matches(&target)) {
                    self.execute(id, Command::Unjoin { target });
                } else {
                    self.done(id, Err(Failure::InvalidState("not joined")));
                }
            }
            Command::DtmfEvents { enabled } => {
                self.subscribed = enabled;
                self.update_digits();
                self.done(id, Ok(Output::None));
            }
        }
    }

    /// The call was dialed (a controller originated it): accept, answer,
    /// reject, redirect and transfer before the party answers are
    /// refused with [`Failure::InvalidState`] (after, they act as on any
    /// answered call).
    pub fn set_outbound(&mut self) {
        self.outbound = true;
    }

    /// The call's media is negotiated and running (at answer, at the ACK of
    /// a late offer, or at a 183 with early media): components may start.
    pub fn media_ready(&mut self, now: Instant) {
        self.media_ready = true;
        for (id, command) in std::mem::take(&mut self.held) {
            self.start_component(now, id, command);
        }
    }

    /// The call was answered (by us, or by the far end of a dialed call).
    pub fn answered(&mut self, headers: Headers) {
        if self.phase == Phase::Pending {
            self.phase = Phase::Answered;
            self.emit(Event::Answered { headers });
        }
    }

    /// The far end of a dialed call is ringing.
    pub fn ringing(&mut self, headers: Headers) {
        if self.phase == Phase::Pending {
            self.emit(Event::Ringing { headers });
        }
    }

    /// Component `id` runs. Ignored for a component no longer running.
    pub fn started(&mut self, id: RequestId) {
        if let Some(c) = self.components.iter_mut().find(|c| c.id == id) {
            if !c.started {
                c.started = true;
                self.emit(Event::Started { id });
            }
        }
    }

    /// The actor finished request `id`: a command it executed, or a
    /// component that ended by itself (or at [`Action::Complete`]).
    /// Ignored for a request that is no longer open (stopped meanwhile).
    pub fn finished(&mut self, id: RequestId, result: Result<Output, Failure>) {
        if Some(id) == self.early_accept {
            return self.early_accepted(id, result);
        }
        if self.components.iter().any(|c| c.id == id) {
            return self.complete(id, result);
        }
        let Some(position) = self.executing.iter().position(|e| e.id == id) else {
            return;
        };
        let Executing { command, .. } = self.executing.remove(position);
        let ok = result.is_ok();
        match command {
            Command::Answer { .. } if ok => self.answered(Vec::new()),
            Command::Hangup { .. } | Command::Reject { .. } if ok => self.phase = Phase::Gone,
            // After answer a redirect is a REFER: accepted, but the call
            // goes on until the actor reports it gone (the transfer worked).
            Command::Redirect { .. } if ok && self.phase == Phase::Answered => {}
            Command::Redirect { .. } | Command::Transfer { .. } if ok => {
                let reason = match command {
                    Command::Redirect { .. } => EndReason::Redirected,
                    _ => EndReason::Transferred,
                };
                self.note_end_reason(reason);
                self.stop_components(Failure::CallEnded);
                self.phase = Phase::Gone;
            }
            Command::Pause { target } | Command::Resume { target } if ok => {
                let pause = matches!(command, Command::Pause { .. });
                if let Some(c) = self.components.iter_mut().find(|c| c.id == target) {
                    c.paused = pause;
                }
            }
            _ => {}
        }
        self.done(id, result);
    }

    /// The media is joined to `target`.
    pub fn joined(&mut self, target: JoinTarget, direction: JoinDirection) {
        if matches!(self.phase, Phase::Gone | Phase::Ended) {
            return;
        }
        match self.joins.iter_mut().find(|(t, _)| t.matches(&target)) {
            Some(join) => join.1 = direction,
            None => self.joins.push((target.clone(), direction)),
        }
        let request = self.executing.iter().find_map(|e| match &e.command {
            Command::Join(join) if join.target.matches(&target) => Some(e.id),
            _ => None,
        });
        let event = Event::Joined { target, direction };
        match request {
            Some(id) => self.joined_after_done.push((id, event)),
            None => self.emit(event),
        }
    }

    /// The join with `target` is over (either side broke it).
    pub fn unjoined(&mut self, target: JoinTarget) {
        if let Some(position) = self.joins.iter().position(|(t, _)| t.matches(&target)) {
            self.joins.remove(position);
            self.emit(Event::Unjoined { target });
        }
    }

    /// The party started or stopped speaking in `mixer`; told only while the
    /// call is joined to it (a late report of a left mixer is dropped).
    pub fn speaking(&mut self, mixer: &str, speaking: bool) {
        if matches!(self.phase, Phase::Gone | Phase::Ended) {
            return;
        }
        let joined = self
            .joins
            .iter()
            .any(|(t, _)| matches!(t, JoinTarget::Mixer(m) if m.eq_ignore_ascii_case(mixer)));
        if joined {
            self.emit(Event::Speaking {
                mixer: mixer.to_owned(),
                speaking,
            });
        }
    }

    /// A DTMF digit from the caller.
    pub fn digit(&mut self, now: Instant, digit: char) {
        if matches!(self.phase, Phase::Gone | Phase::Ended) {
            return;
        }
        if self.subscribed {
            self.emit(Event::Dtmf { digit });
        }
        let mut complete = Vec::new();
        for (id, collector) in &mut self.collectors {
            if let Some(output) = collector.digit(digit, now) {
                complete.push((*id, output));
            }
        }
        for (id, input) in &mut self.inputs {
            if let Some(outcome) = input.key(digit, now) {
                complete.push((*id, Output::Input(outcome)));
            }
        }
        for (id, output) in complete {
            self.complete(id, Ok(output));
        }
        self.barge_in(now);
        let analyses: Vec<RequestId> = self.analyses.iter().map(|(id, _)| *id).collect();
        for id in analyses {
            let signal = crate::Signal {
                kind: crate::SignalKind::Dtmf,
                value: Some(digit.to_string()),
                duration: std::time::Duration::ZERO,
            };
            self.signal(id, signal);
        }
    }

    /// Records why the call ends, unless a reason is known already (the
    /// first one wins: a hangup command, then the BYE it causes).
    pub fn note_end_reason(&mut self, reason: EndReason) {
        self.end_reason.get_or_insert(reason);
    }

    /// Every running component completes with `failure` (the call is going).
    pub fn stop_components(&mut self, failure: Failure) {
        let ids: Vec<RequestId> = self.components.iter().map(|c| c.id).collect();
        for id in ids {
            self.stop_component(id, failure.clone());
        }
        self.update_digits();
    }

    /// The call's SIP side is over for `reason` (unless one was noted):
    /// running components complete with `CallEnded`; requests from now on
    /// are answered at once (a hangup `Ok`, the rest `CallEnded`).
    pub fn gone(&mut self, reason: EndReason) {
        if self.phase == Phase::Ended {
            return;
        }
        self.note_end_reason(reason);
        self.stop_components(Failure::CallEnded);
        self.release_held(Failure::CallEnded);
        self.phase = Phase::Gone;
    }

    /// The call is over for its controller: whatever is still open
    /// completes with `CallEnded`, joins are reported broken, then
    /// [`Event::Ended`] with the noted reason (or `reason`).
    pub fn end(&mut self, reason: EndReason, code: Option<u16>, headers: Headers) {
        if self.phase == Phase::Ended {
            return;
        }
        self.stop_components(Failure::CallEnded);
        self.release_held(Failure::CallEnded);
        for Executing { id, .. } in std::mem::take(&mut self.executing) {
            self.done(id, Err(Failure::CallEnded));
        }
        for (target, _) in std::mem::take(&mut self.joins) {
            self.emit(Event::Unjoined { target });
        }
        self.subscribed = false;
        self.update_digits();
        let reason = self.end_reason.take().unwrap_or(reason);
        self.emit(Event::Ended {
            reason,
            code,
            headers,
        });
        self.phase = Phase::Ended;
    }

    fn start_component(&mut self, now: Instant, id: RequestId, command: Command) {
        // Media runs once answered, or before with early media (183).
        if !self.media_ready {
            return self.hold_for_early_media(id, command);
        }
        let slot = command.slot();
        if let Some(running) = self
            .components
            .iter()
            .find(|c| slot.is_some() && c.slot == slot)
        {
            match self.policy {
                SlotPolicy::Replace => {
                    let old = running.id;
                    self.stop_component(old, Failure::Stopped);
                }
                SlotPolicy::Refuse => {
                    let busy = match slot {
                        Some(Slot::Output) => "an output already plays on this call".to_string(),
                        Some(slot) => format!("a component already runs in the {slot:?} slot"),
                        None => "the component is busy".to_string(),
                    };
                    return self.done(id, Err(Failure::Conflict(busy)));
                }
            }
        }
        let kind = match &command {
            Command::Announce(_) => Kind::Announcement,
            Command::Prompt(prompt) => Kind::Prompt {
                playing: true,
                barge_in: prompt.barge_in,
            },
            _ => Kind::Plain,
        };
        // A component asked to start paused is paused: its first resume
        // must reach the actor (not read as a no-op).
        let paused = match &command {
            Command::Record(record) => record.start_paused,
            Command::Announce(announcement) => announcement.start_paused,
            Command::Prompt(prompt) => prompt.announcement.start_paused,
            _ => false,
        };
        let mut component = Component {
            id,
            slot,
            started: false,
            paused,
            kind,
        };
        match command {
            Command::Input(input) => {
                component.started = true;
                self.components.push(component);
                let mut collector = InputCollector::new(input);
                collector.start_timers(now);
                self.inputs.push((id, collector));
                self.emit(Event::Started { id });
                self.update_digits();
            }
            Command::Prompt(ref prompt) => {
                component.started = true;
                self.components.push(component);
                self.emit(Event::Started { id });
                self.inputs
                    .push((id, InputCollector::new(prompt.input.clone())));
                self.update_digits();
                self.actions
                    .push_back(Action::Execute(Request { id, command }));
            }
            // Rayo's components exist from acceptance (the client gets its
            // ref then); what fails later, a URL that cannot be fetched, is
            // the component's completion, not the command's error.
            Command::Analyze(ref analysis) => {
                component.started = true;
                self.components.push(component);
                self.analyses.push((id, analysis.clone()));
                self.emit(Event::Started { id });
                self.update_digits();
                self.actions
                    .push_back(Action::Execute(Request { id, command }));
            }
            Command::Announce(_) | Command::Record(_) => {
                component.started = true;
                self.components.push(component);
                self.emit(Event::Started { id });
                self.actions
                    .push_back(Action::Execute(Request { id, command }));
            }
            Command::CollectDtmf(options) => {
                component.started = true;
                self.components.push(component);
                self.collectors.push((id, DtmfCollector::new(options, now)));
                self.emit(Event::Started { id });
                self.update_digits();
            }
            Command::Listen(listen) => {
                self.components.push(component);
                let deadline = now + listen.duration + LISTEN_SLACK;
                self.listen_deadlines.push((id, deadline));
                self.actions
                    .push_back(Action::Execute(Request { id, command }));
            }
            _ => {
                self.components.push(component);
                self.actions
                    .push_back(Action::Execute(Request { id, command }));
            }
        }
    }

    /// Completes a running component with `result` (it ended by itself).
    fn complete(&mut self, id: RequestId, result: Result<Output, Failure>) {
        let Some(component) = self.take_component(id) else {
            return;
        };
        if !component.started && result.is_ok() {
            self.emit(Event::Started { id });
        }
        if let Kind::Prompt { playing: true, .. } = component.kind {
            // The input ended while the announcement played: silence it.
            self.actions.push_back(Action::StopAnnouncement(id));
        }
        self.update_digits();
        self.done(id, result);
    }

    /// Ends a running component from our side: the actor tears it down.
    fn stop_component(&mut self, id: RequestId, failure: Failure) {
        if self.take_component(id).is_some() {
            self.actions.push_back(Action::StopComponent(id));
            self.done(id, Err(failure));
        }
    }

    fn take_component(&mut self, id: RequestId) -> Option<Component> {
        let position = self.components.iter().position(|c| c.id == id)?;
        self.collectors.retain(|(c, _)| *c != id);
        self.inputs.retain(|(c, _)| *c != id);
        self.analyses.retain(|(c, _)| *c != id);
        self.listen_deadlines.retain(|(c, _)| *c != id);
        Some(self.components.remove(position))
    }

    fn is_open(&self, id: RequestId) -> bool {
        self.components.iter().any(|c| c.id == id)
            || self.executing.iter().any(|e| e.id == id)
            || self.held.iter().any(|(h, _)| *h == id)
    }

    fn execute(&mut self, id: RequestId, command: Command) {
        self.executing.push(Executing {
            id,
            command: command.clone(),
        });
        self.actions
            .push_back(Action::Execute(Request { id, command }));
    }

    fn update_digits(&mut self) {
        let wanted = self.phase != Phase::Ended
            && (self.subscribed
                || !self.collectors.is_empty()
                || !self.inputs.is_empty()
                || self.analyses.iter().any(|(_, a)| {
                    a.signals
                        .iter()
                        .any(|(kind, _)| *kind == crate::SignalKind::Dtmf)
                }));
        if wanted != self.wants_digits {
            self.wants_digits = wanted;
            self.actions.push_back(Action::WantDigits(wanted));
        }
    }

    fn done(&mut self, id: RequestId, result: Result<Output, Failure>) {
        self.emit(Event::Done { id, result });
        if let Some(at) = self.joined_after_done.iter().position(|(r, _)| *r == id) {
            let (_, joined) = self.joined_after_done.remove(at);
            self.emit(joined);
        }
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(Action::Emit(event));
    }
}

mod handover;
mod media;
#[cfg(test)]
mod media_tests;
#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
