//! [`ControllingParty`]: what one `rayo-load` connection does with the
//! calls offered to it, as a sans-IO machine. Stanzas and `now` go in
//! ([`ControllingParty::on_stanza`], [`ControllingParty::on_timers`]);
//! stanzas to send come out ([`ControllingParty::take_output`]); the
//! shell writes them at once, so the time an IQ is built is the time it
//! is sent.
//!
//! Per call: offer → `answer` IQ set to the call JID; its result is the
//! answer latency (µs, from the `now` the offer was handled to the `now`
//! the result is). With [`Mode::AnswerHangup`] a `hangup` IQ follows the
//! result after the hold time (a `BinaryHeap` of deadlines: no thread or
//! timer per call); with [`Mode::Hold`] the caller ends the call. The
//! call's `<end>` forgets it. An IQ without a reply within [`IQ_TIMEOUT`]
//! counts as a failure, as Adhearsion's command timeout would.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use xmpp::Element;

use super::component::component_iq;
use super::components::{ComponentKind, Components, MediaPlan};
use super::report::RayoReport;
use super::rooms::{MixerPlan, Rooms};
use super::stanza::{classify, reply, Inbound};
use crate::load::stats::micros;

/// An IQ without any reply after this long is a failure (Adhearsion's
/// command timeout is 60 s; a load run wants to know sooner).
pub const IQ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the controlling party does with a call once it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Send `hangup` this long after the answer's result; the call must
    /// end `hangup-command` (`hangup` in the wiki dialect).
    AnswerHangup(Duration),
    /// Nothing: the caller hangs up, and the call must end `hungup`
    /// (`hangup` in the wiki dialect).
    Hold,
    /// Start media components (see [`MediaPlan`]); the call may end by
    /// either side (`hangup-command` or `hungup`).
    Media(MediaPlan),
    /// Join each answered call to its room's mixer (see [`MixerPlan`]);
    /// the caller hangs up.
    Mixer(MixerPlan),
}

impl Mode {
    /// Whether an `<end>` with this reason is how calls end in this mode.
    pub fn expects_end(&self, reason: &str) -> bool {
        let ours = match self {
            Mode::AnswerHangup(_) => "hangup-command",
            Mode::Hold => "hungup",
            Mode::Media(_) | Mode::Mixer(_) => {
                return matches!(reason, "hangup-command" | "hungup" | "hangup")
            }
        };
        reason == ours || reason == "hangup"
    }
}

/// The call commands the party sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Answer,
    Hangup,
    /// A join of the call's room.
    Join,
    /// A component's start; whether it is the one measured.
    Component(ComponentKind, bool),
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Answer => "answer",
            Command::Hangup => "hangup",
            Command::Join => "join",
            Command::Component(kind, _) => kind.name(),
        }
    }
}

/// An IQ awaiting its reply.
struct Pending {
    command: Command,
    call: String,
    sent_at: Instant,
    /// Other calls up when it was sent.
    others_up: usize,
}

/// One connection's calls and commands in flight; see the module doc.
pub struct ControllingParty {
    mode: Mode,
    id_prefix: String,
    next_id: u64,
    /// Calls offered and not ended, by bare call JID: whether a hangup was sent.
    calls: HashMap<String, bool>,
    /// Calls up on the other connections, as last told.
    calls_elsewhere: usize,
    pending: HashMap<String, Pending>,
    /// IQ ids in the order sent, for the timeout sweep.
    sent_order: VecDeque<(Instant, String)>,
    hangups: BinaryHeap<Reverse<(Instant, String)>>,
    output: Vec<Element>,
    report: RayoReport,
    /// The components of a media mode.
    components: Option<Components>,
    /// The calls in mixers of the mixer mode.
    rooms: Option<Rooms>,
}

impl ControllingParty {
    /// A party with no call yet; its IQ ids start with `id_prefix`.
    pub fn new(mode: Mode, latency_from_calls: Option<usize>, id_prefix: &str) -> Self {
        // The connection's number, to make TTS texts unique across connections.
        let digits: String = id_prefix.chars().filter(char::is_ascii_digit).collect();
        let components = match &mode {
            Mode::Media(plan) => Some(Components::new(plan.clone(), digits.parse().unwrap_or(0))),
            _ => None,
        };
        let rooms = match &mode {
            Mode::Mixer(plan) => Some(Rooms::new(*plan)),
            _ => None,
        };
        ControllingParty {
            components,
            rooms,
            mode,
            id_prefix: id_prefix.to_owned(),
            next_id: 0,
            calls: HashMap::new(),
            calls_elsewhere: 0,
            pending: HashMap::new(),
            sent_order: VecDeque::new(),
            hangups: BinaryHeap::new(),
            output: Vec::new(),
            report: RayoReport::new(latency_from_calls),
        }
    }

    /// Handles one stanza from the server, received at `now`.
    pub fn on_stanza(&mut self, stanza: &Element, now: Instant) {
        if let Some(rooms) = &mut self.rooms {
            if stanza.name() == "presence" {
                rooms.on_presence(stanza);
            }
        }
        match classify(stanza) {
            Inbound::Offer { call, sip_call_id } => {
                if let Some(rooms) = &mut self.rooms {
                    rooms.on_offer(&call, sip_call_id.as_deref());
                }
                if let Some(components) = &mut self.components {
                    components.on_offer(&call, sip_call_id);
                }
                self.on_offer(call, now)
            }
            Inbound::End { call, reason, .. } => {
                if let Some(components) = &mut self.components {
                    components.on_end(&call);
                }
                if let Some(rooms) = &mut self.rooms {
                    rooms.on_end(&call);
                }
                self.on_end(&call, reason)
            }
            Inbound::Complete {
                component,
                completion,
            } => {
                let done = self
                    .components
                    .as_mut()
                    .and_then(|c| c.on_complete(&component, completion, now));
                if let Some(call) = done {
                    self.hang_up(call, now);
                }
            }
            Inbound::Result { id, reference } => self.on_reply(&id, None, reference, now),
            Inbound::Error { id, condition } => self.on_reply(&id, Some(condition), None, now),
            Inbound::Request => {
                self.report.requests += 1;
                self.output.push(reply(stanza));
            }
            Inbound::CallEvent | Inbound::Other => {}
        }
    }

    /// Sends the hangups that are due and fails IQs past [`IQ_TIMEOUT`].
    pub fn on_timers(&mut self, now: Instant) {
        while self
            .hangups
            .peek()
            .is_some_and(|Reverse((at, _))| *at <= now)
        {
            let Some(Reverse((_, call))) = self.hangups.pop() else {
                break;
            };
            self.hang_up(call, now);
        }
        while self
            .sent_order
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= IQ_TIMEOUT)
        {
            let Some((_, id)) = self.sent_order.pop_front() else {
                break;
            };
            if let Some(pending) = self.pending.remove(&id) {
                *self
                    .report
                    .timeouts
                    .entry(pending.command.name())
                    .or_default() += 1;
            }
        }
    }

    /// When [`ControllingParty::on_timers`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hangup = self.hangups.peek().map(|Reverse((at, _))| *at);
        // Replied ids stay in `sent_order` until swept: the front may be
        // early, which only costs one idle wake-up.
        let timeout = self.sent_order.front().map(|(at, _)| *at + IQ_TIMEOUT);
        match (hangup, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The stanzas to send, in order.
    pub fn take_output(&mut self) -> std::vec::Drain<'_, Element> {
        self.output.drain(..)
    }

    /// How many calls the other connections have up now: they count among
    /// the "other calls up" of the answers sent from here on.
    pub fn set_calls_elsewhere(&mut self, calls: usize) {
        self.calls_elsewhere = calls;
    }

    /// Calls offered and not yet ended (on this connection).
    pub fn calls_up(&self) -> usize {
        self.calls.len()
    }

    /// What was counted so far.
    pub fn report(&self) -> &RayoReport {
        &self.report
    }

    /// Failures so far, components' included.
    pub fn failure_count(&self) -> u64 {
        let components = self.components.as_ref();
        let rooms = self.rooms.as_ref();
        self.report.failure_count()
            + components.map_or(0, |c| c.report().failure_count())
            + rooms.map_or(0, |r| r.report().failure_count())
    }

    /// Mixers joined and not yet gone (the mixer mode).
    pub fn open_mixers(&self) -> usize {
        self.rooms.as_ref().map_or(0, Rooms::open_mixers)
    }

    /// SIP Call-IDs of calls whose input just started (media modes).
    pub fn take_inputs_started(&mut self) -> Vec<String> {
        self.components
            .as_mut()
            .map(|c| c.take_inputs_started().collect())
            .unwrap_or_default()
    }

    /// The final report (`up_at_end` and the components' counts filled in).
    pub fn into_report(mut self) -> RayoReport {
        self.report.up_at_end = self.calls.len();
        self.report.media = self.components.map(Components::into_report);
        self.report.rooms = self.rooms.map(Rooms::into_report);
        self.report
    }

    /// Sends `hangup` for a call still up that has not had one.
    fn hang_up(&mut self, call: String, now: Instant) {
        // A call that ended meanwhile is gone from `calls`.
        if let Some(hangup_sent) = self.calls.get_mut(&call) {
            if !*hangup_sent {
                *hangup_sent = true;
                self.report.hangups_sent += 1;
                self.send(Command::Hangup, call, now);
            }
        }
    }

    fn on_offer(&mut self, call: String, now: Instant) {
        self.report.offers += 1;
        if self.calls.contains_key(&call) {
            self.report.duplicate_offers += 1;
            return;
        }
        self.calls.insert(call.clone(), false);
        self.report.up_max = self.report.up_max.max(self.calls.len());
        self.send(Command::Answer, call, now);
    }

    fn on_end(&mut self, call: &str, reason: String) {
        if self.calls.remove(call).is_none() {
            self.report.stray_ends += 1;
            return;
        }
        self.report.ended += 1;
        if !self.mode.expects_end(&reason) {
            self.report.unexpected_ends += 1;
        }
        let reason = if reason.is_empty() {
            "-".into()
        } else {
            reason
        };
        *self.report.ends.entry(reason).or_default() += 1;
    }

    /// A result (`error` None) or an error for one of our IQs.
    fn on_reply(
        &mut self,
        id: &str,
        error: Option<String>,
        reference: Option<String>,
        now: Instant,
    ) {
        let Some(pending) = self.pending.remove(id) else {
            self.report.unmatched += 1;
            return;
        };
        let report = &mut self.report;
        match (pending.command, error) {
            (Command::Component(kind, _), Some(condition)) => {
                if let Some(c) = &mut self.components {
                    c.on_start_error(kind, &condition);
                }
            }
            (Command::Component(kind, primary), None) => {
                if let Some(c) = &mut self.components {
                    let start = (kind, primary, pending.sent_at);
                    c.on_started(&pending.call, start, reference, now);
                }
            }
            (Command::Join, Some(condition)) => {
                if let Some(rooms) = &mut self.rooms {
                    rooms.on_join_error(&pending.call, &condition);
                }
            }
            (Command::Join, None) => {
                if let Some(rooms) = &mut self.rooms {
                    let us = micros(now.saturating_duration_since(pending.sent_at));
                    rooms.on_join_result(&pending.call, reference, us);
                }
            }
            (Command::Answer, Some(condition)) => {
                *report.answer_errors.entry(condition).or_default() += 1
            }
            (Command::Hangup, Some(condition)) => {
                *report.hangup_errors.entry(condition).or_default() += 1
            }
            (Command::Hangup, None) => report.hangups += 1,
            (Command::Answer, None) => {
                let us = micros(now.saturating_duration_since(pending.sent_at));
                report.answered += 1;
                report.answer_us.record(us);
                if report
                    .latency_from_calls
                    .is_some_and(|n| pending.others_up >= n)
                {
                    report.answer_from_us.record(us);
                }
                if !self.calls.contains_key(&pending.call) {
                    return;
                }
                let hold = match &self.mode {
                    Mode::AnswerHangup(hold) => Some(*hold),
                    Mode::Media(plan) => plan.hold,
                    Mode::Hold | Mode::Mixer(_) => None,
                };
                let join = self.rooms.as_mut().and_then(|r| r.join(&pending.call));
                if let Some(join) = join {
                    self.send_iq(Command::Join, pending.call.clone(), join, now);
                }
                if let Some(hold) = hold {
                    self.hangups
                        .push(Reverse((now + hold, pending.call.clone())));
                }
                let starts = self
                    .components
                    .as_mut()
                    .map(Components::on_answered)
                    .unwrap_or_default();
                for start in starts {
                    if let Some(c) = &mut self.components {
                        c.on_sent();
                    }
                    let command = Command::Component(start.kind, start.primary);
                    self.send_iq(command, pending.call.clone(), start.element, now);
                }
            }
        }
    }

    fn send(&mut self, command: Command, call: String, now: Instant) {
        let element = Element::new(command.name(), super::stanza::NS_RAYO);
        self.send_iq(command, call, element, now);
    }

    /// Sends `element` in an IQ set to the call and awaits its reply.
    fn send_iq(&mut self, command: Command, call: String, element: Element, now: Instant) {
        self.next_id += 1;
        let id = format!("{}{}", self.id_prefix, self.next_id);
        self.output.push(component_iq(&id, &call, element));
        let others_up = self.calls.len().saturating_sub(1) + self.calls_elsewhere;
        self.pending.insert(
            id.clone(),
            Pending {
                command,
                call,
                sent_at: now,
                others_up,
            },
        );
        self.sent_order.push_back((now, id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "c1@rayo.test";

    fn offer(call: &str) -> Element {
        Element::new("presence", "jabber:client")
            .attr("from", call)
            .attr("to", "usera@rayo.test/r")
            .child(Element::new("offer", "urn:xmpp:rayo:1").attr("to", "sip:100@rayo.test"))
    }

    fn end(call: &str, reason: &str) -> Element {
        let end = Element::new("end", "urn:xmpp:rayo:1")
            .child(Element::new(reason, "urn:xmpp:rayo:1").attr("platform-code", "200"));
        Element::new("presence", "jabber:client")
            .attr("from", call)
            .attr("type", "unavailable")
            .child(end)
    }

    fn result(id: &str) -> Element {
        Element::new("iq", "jabber:client")
            .attr("type", "result")
            .attr("id", id)
    }

    fn error(id: &str, condition: &str) -> Element {
        let error = Element::new("error", "jabber:client")
            .attr("type", "cancel")
            .child(Element::new(
                condition,
                "urn:ietf:params:xml:ns:xmpp-stanzas",
            ));
        result(id).attr("type", "error").child(error)
    }

    /// The one stanza sent: (id, to, command).
    fn sent_one(party: &mut ControllingParty) -> (String, String, String) {
        let out: Vec<Element> = party.take_output().collect();
        assert_eq!(out.len(), 1, "{out:?}");
        let iq = &out[0];
        assert_eq!((iq.name(), iq.get_attr("type")), ("iq", Some("set")));
        let child = iq.first_child().expect("a command");
        assert_eq!(child.ns(), "urn:xmpp:rayo:1");
        let attr = |name| iq.get_attr(name).unwrap_or_default().to_owned();
        (attr("id"), attr("to"), child.name().to_owned())
    }

    #[test]
    fn answers_measures_hangs_up_after_the_hold_and_counts_the_end() {
        let t0 = Instant::now();
        let hold = Duration::from_secs(1);
        let mut party = ControllingParty::new(Mode::AnswerHangup(hold), Some(0), "x");
        party.on_stanza(&offer(CALL), t0);
        let (answer_id, to, name) = sent_one(&mut party);
        assert_eq!((to.as_str(), name.as_str()), (CALL, "answer"));
        assert_eq!(party.calls_up(), 1);
        // The result 700 µs later is the latency; the hangup is due a hold later.
        let answered_at = t0 + Duration::from_micros(700);
        party.on_stanza(&result(&answer_id), answered_at);
        assert_eq!(party.report().answered, 1);
        assert_eq!(party.report().answer_us.percentile(50.0), Some(700));
        assert_eq!(party.report().answer_from_us.count(), 1);
        assert_eq!(
            party.next_deadline(),
            Some(t0 + IQ_TIMEOUT).min(Some(answered_at + hold))
        );
        party.on_timers(answered_at + hold - Duration::from_millis(1));
        assert_eq!(party.take_output().count(), 0);
        party.on_timers(answered_at + hold);
        let (hangup_id, to, name) = sent_one(&mut party);
        assert_eq!((to.as_str(), name.as_str()), (CALL, "hangup"));
        assert_ne!(hangup_id, answer_id);
        party.on_stanza(&result(&hangup_id), answered_at + hold);
        party.on_stanza(&end(CALL, "hangup-command"), answered_at + hold);
        let report = party.into_report();
        assert_eq!(
            (report.hangups_sent, report.hangups, report.ended),
            (1, 1, 1)
        );
        assert_eq!(report.ends["hangup-command"], 1);
        assert_eq!((report.up_at_end, report.up_max), (0, 1));
        assert!(report.passed(), "{report}");
    }

    #[test]
    fn replies_are_matched_by_id_not_by_order() {
        let t0 = Instant::now();
        let mut party = ControllingParty::new(Mode::Hold, Some(1), "c0-");
        party.on_stanza(&offer("a@rayo.test"), t0);
        let (first, ..) = sent_one(&mut party);
        party.on_stanza(&offer("b@rayo.test"), t0 + Duration::from_micros(100));
        let (second, to, _) = sent_one(&mut party);
        assert_eq!(to, "b@rayo.test");
        assert!(first.starts_with("c0-") && second.starts_with("c0-"));
        // The second answer's result comes first.
        party.on_stanza(&result(&second), t0 + Duration::from_micros(300));
        party.on_stanza(
            &error(&first, "item-not-found"),
            t0 + Duration::from_micros(900),
        );
        party.on_stanza(&result(&first), t0 + Duration::from_micros(950));
        party.on_stanza(&result("nobody"), t0 + Duration::from_micros(950));
        let report = party.report();
        assert_eq!(report.answered, 1);
        assert_eq!(report.answer_us.max(), 200);
        // Only the second was sent with another call up.
        assert_eq!(report.answer_from_us.count(), 1);
        assert_eq!(report.answer_errors["item-not-found"], 1);
        assert_eq!(report.unmatched, 2);
        assert!(!report.passed());
        // Calls up on other connections count as well.
        party.set_calls_elsewhere(1);
        party.on_stanza(&offer("c@rayo.test"), t0 + Duration::from_micros(1000));
        let (third, ..) = sent_one(&mut party);
        party.on_stanza(&result(&third), t0 + Duration::from_micros(1100));
        assert_eq!(party.report().answer_from_us.count(), 2);
        // Hold mode sends no hangup.
        party.on_timers(t0 + Duration::from_secs(5));
        assert_eq!(party.take_output().count(), 0);
    }

    #[test]
    fn ends_are_checked_against_the_mode() {
        let t0 = Instant::now();
        let mut party = ControllingParty::new(Mode::Hold, None, "x");
        for call in ["a@d", "b@d", "c@d"] {
            party.on_stanza(&offer(call), t0);
        }
        party.on_stanza(&offer("a@d"), t0);
        assert_eq!(
            party.take_output().count(),
            3,
            "no second answer for a repeated offer"
        );
        party.on_stanza(&end("a@d", "hungup"), t0);
        party.on_stanza(&end("b@d", "hangup"), t0);
        party.on_stanza(&end("c@d", "error"), t0);
        party.on_stanza(&end("z@d", "hungup"), t0);
        let report = party.into_report();
        assert_eq!(report.ended, 3);
        assert_eq!(report.unexpected_ends, 1);
        assert_eq!((report.stray_ends, report.duplicate_offers), (1, 1));
        assert_eq!(report.ends["error"], 1);
        assert_eq!(report.failure_count(), 3);
    }

    #[test]
    fn a_call_ended_before_its_hangup_gets_none() {
        let t0 = Instant::now();
        let hold = Duration::from_millis(500);
        let mut party = ControllingParty::new(Mode::AnswerHangup(hold), None, "x");
        party.on_stanza(&offer(CALL), t0);
        let (id, ..) = sent_one(&mut party);
        party.on_stanza(&result(&id), t0);
        party.on_stanza(&end(CALL, "hungup"), t0 + Duration::from_millis(100));
        party.on_timers(t0 + hold);
        assert_eq!(party.take_output().count(), 0);
        let report = party.into_report();
        assert_eq!((report.hangups_sent, report.unexpected_ends), (0, 1));
    }

    #[test]
    fn unanswered_iqs_time_out_and_pings_are_answered() {
        let t0 = Instant::now();
        let mut party = ControllingParty::new(Mode::Hold, None, "x");
        party.on_stanza(&offer(CALL), t0);
        let (id, ..) = sent_one(&mut party);
        assert_eq!(party.next_deadline(), Some(t0 + IQ_TIMEOUT));
        party.on_timers(t0 + IQ_TIMEOUT - Duration::from_millis(1));
        assert!(party.report().timeouts.is_empty());
        party.on_timers(t0 + IQ_TIMEOUT);
        assert_eq!(party.report().timeouts["answer"], 1);
        assert_eq!(party.next_deadline(), None);
        // A late result no longer matches.
        party.on_stanza(&result(&id), t0 + IQ_TIMEOUT);
        assert_eq!(party.report().unmatched, 1);
        let ping = Element::new("iq", "jabber:client")
            .attr("type", "get")
            .attr("id", "s1")
            .attr("from", "rayo.test")
            .child(Element::new("ping", "urn:xmpp:ping"));
        party.on_stanza(&ping, t0);
        let out: Vec<Element> = party.take_output().collect();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].get_attr("type"), Some("result"));
        assert_eq!(party.report().requests, 1);
    }
}
