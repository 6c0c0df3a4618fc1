//! The media modes of the load client: which components each answered call
//! gets ([`MediaPlan`]), and [`Components`], the sans-IO bookkeeping of
//! the components in flight on one connection — their refs, completions,
//! recordings and the moments the caller's figures are joined with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use xmpp::Element;

use super::component::{self, Completion, Document};
use super::component_report::{ComponentReport, ComponentStamp};
use crate::load::stats::micros;

/// Recording URIs kept per connection for fetching.
const KEPT_URIS: usize = 64;
/// Unexpected completions described per connection.
const KEPT_TEXTS: usize = 5;

/// What each answered call gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// An output of `document` repeated until the call ends; its
    /// completion must be `hangup`.
    PlayLoop {
        /// What is played.
        document: Document,
    },
    /// An output of `document` played once, measured from its IQ to the
    /// first audio packet at the caller; `unique_text` appends a number to
    /// a speech document so every call is a first TTS render. The call is
    /// hung up when it completes `finish`.
    PromptLatency {
        /// What is played.
        document: Document,
        /// Make every call's text different (first-render TTS latency).
        unique_text: bool,
    },
    /// A DTMF input of `digits.len()` keys; the caller is told to send
    /// `digits` once the ref is in, and the call is hung up at the `match`.
    InputLatency {
        /// The keys the caller sends, and the instance the match must carry.
        digits: String,
        /// The input's `initial-timeout`, ms: longer than the caller's key delay.
        initial_timeout_ms: u64,
    },
    /// A duplex record ending at `max_duration_ms` (`max-duration`), with
    /// a looped output of `with_output` alongside when given.
    Record {
        /// The record's `max-duration`, ms.
        max_duration_ms: u64,
        /// A document looped to the caller while recording.
        with_output: Option<Document>,
    },
}

/// A media mode: the components and when the load client hangs up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPlan {
    /// The components.
    pub kind: MediaKind,
    /// Hang up this long after the answer's result; None leaves the
    /// hangup to the caller (or to the completion, in the latency modes).
    pub hold: Option<Duration>,
}

/// A component kind, as counted (`output:hangup` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// `<output>`.
    Output,
    /// `<input>`.
    Input,
    /// `<record>`.
    Record,
}

impl ComponentKind {
    /// The element's name.
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Output => "output",
            ComponentKind::Input => "input",
            ComponentKind::Record => "record",
        }
    }
}

/// One component to start: its element, kind, and whether it is the one measured.
#[derive(Debug, Clone)]
pub struct Start {
    /// What it is.
    pub kind: ComponentKind,
    /// The component element for the IQ.
    pub element: Element,
    /// The component the mode measures (one per call).
    pub primary: bool,
}

/// A component started (ref received) and not completed.
struct Running {
    call: String,
    kind: ComponentKind,
    primary: bool,
    sent_at: Instant,
}

/// The components of one connection's calls; see the module doc.
pub struct Components {
    plan: MediaPlan,
    connection: usize,
    counter: u64,
    /// SIP Call-IDs of the calls offered, by call JID.
    sip_call_ids: HashMap<String, String>,
    running: HashMap<String, Running>,
    /// Component JIDs of every call, for its end.
    by_call: HashMap<String, Vec<String>>,
    /// Inputs whose ref came in: their calls' SIP Call-IDs, for the caller.
    inputs_started: Vec<String>,
    report: ComponentReport,
}

impl Components {
    /// No component yet; `connection` makes TTS texts unique across connections.
    pub fn new(plan: MediaPlan, connection: usize) -> Components {
        Components {
            plan,
            connection,
            counter: 0,
            sip_call_ids: HashMap::new(),
            running: HashMap::new(),
            by_call: HashMap::new(),
            inputs_started: Vec::new(),
            report: ComponentReport::default(),
        }
    }

    /// Remembers an offered call's SIP Call-ID.
    pub fn on_offer(&mut self, call: &str, sip_call_id: Option<String>) {
        if let Some(id) = sip_call_id {
            self.sip_call_ids.insert(call.to_owned(), id);
        }
    }

    /// The components to start on a call just answered.
    pub fn on_answered(&mut self) -> Vec<Start> {
        self.counter += 1;
        let start = |kind, element, primary| Start {
            kind,
            element,
            primary,
        };
        match &self.plan.kind {
            MediaKind::PlayLoop { document } => vec![start(
                ComponentKind::Output,
                component::output(document, 0),
                true,
            )],
            MediaKind::PromptLatency {
                document,
                unique_text,
            } => {
                let document = match document {
                    Document::Speech(text) if *unique_text => {
                        Document::Speech(format!("{text} {} {}", self.connection, self.counter))
                    }
                    other => other.clone(),
                };
                vec![start(
                    ComponentKind::Output,
                    component::output(&document, 1),
                    true,
                )]
            }
            MediaKind::InputLatency {
                digits,
                initial_timeout_ms,
            } => vec![start(
                ComponentKind::Input,
                component::input(digits.chars().count(), *initial_timeout_ms),
                true,
            )],
            MediaKind::Record {
                max_duration_ms,
                with_output,
            } => {
                let mut starts: Vec<Start> = with_output
                    .iter()
                    .map(|d| start(ComponentKind::Output, component::output(d, 0), false))
                    .collect();
                starts.push(start(
                    ComponentKind::Record,
                    component::record(*max_duration_ms),
                    true,
                ));
                starts
            }
        }
    }

    /// A component IQ's result at `now`: its ref starts the component.
    pub fn on_started(
        &mut self,
        call: &str,
        start: (ComponentKind, bool, Instant),
        reference: Option<String>,
        now: Instant,
    ) {
        let (kind, primary, sent_at) = start;
        let Some(jid) = reference else {
            self.report.refs_missing += 1;
            return;
        };
        self.report.refs += 1;
        if primary {
            self.report
                .ref_us
                .record(micros(now.saturating_duration_since(sent_at)));
            if let Some(id) = self.sip_call_ids.get(call) {
                self.report.stamps.push(ComponentStamp {
                    sip_call_id: id.clone(),
                    sent_at,
                    completed: None,
                });
                if kind == ComponentKind::Input {
                    self.inputs_started.push(id.clone());
                }
            }
        }
        self.by_call
            .entry(call.to_owned())
            .or_default()
            .push(jid.clone());
        let running = Running {
            call: call.to_owned(),
            kind,
            primary,
            sent_at,
        };
        self.running.insert(jid, running);
    }

    /// A component IQ answered with an error.
    pub fn on_start_error(&mut self, kind: ComponentKind, condition: &str) {
        let key = format!("{}:{condition}", kind.name());
        *self.report.errors.entry(key).or_default() += 1;
    }

    /// Counts a sent component IQ.
    pub fn on_sent(&mut self) {
        self.report.started += 1;
    }

    /// A `<complete>` from `component` at `now`; returns the call to hang
    /// up when the mode ends calls at their primary completion.
    pub fn on_complete(
        &mut self,
        component: &str,
        completion: Completion,
        now: Instant,
    ) -> Option<String> {
        let Some(running) = self.running.remove(component) else {
            self.report.stray_completes += 1;
            return None;
        };
        if let Some(jids) = self.by_call.get_mut(&running.call) {
            jids.retain(|j| j != component);
        }
        let kind = running.kind;
        let key = format!("{}:{}", kind.name(), completion.reason);
        *self.report.completes.entry(key).or_default() += 1;
        if !self.expected(kind, running.primary, &completion.reason) {
            self.report.unexpected_completes += 1;
            if self.report.unexpected_texts.len() < KEPT_TEXTS {
                let text = completion.text.as_deref().unwrap_or("no text");
                let reason = &completion.reason;
                let text = format!("{} {reason}: {text}", kind.name());
                self.report.unexpected_texts.push(text);
            }
        }
        if let (MediaKind::InputLatency { digits, .. }, "match") =
            (&self.plan.kind, completion.reason.as_str())
        {
            let heard: String = completion
                .instance
                .as_deref()
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            if heard != *digits {
                self.report.wrong_instances += 1;
            }
        }
        if kind == ComponentKind::Record {
            self.on_recording(completion.recording.as_ref());
        }
        if !running.primary {
            return None;
        }
        self.report
            .complete_us
            .record(micros(now.saturating_duration_since(running.sent_at)));
        if let Some(id) = self.sip_call_ids.get(&running.call) {
            if let Some(stamp) = self
                .report
                .stamps
                .iter_mut()
                .rev()
                .find(|s| &s.sip_call_id == id)
            {
                stamp.completed = Some((now, completion.reason.clone()));
            }
        }
        let ends_call = matches!(
            self.plan.kind,
            MediaKind::PromptLatency { .. } | MediaKind::InputLatency { .. }
        );
        ends_call.then_some(running.call)
    }

    /// The call's `<end>`: components still running never completed.
    pub fn on_end(&mut self, call: &str) {
        self.sip_call_ids.remove(call);
        for jid in self.by_call.remove(call).unwrap_or_default() {
            if self.running.remove(&jid).is_some() {
                self.report.missing_completes += 1;
            }
        }
    }

    /// SIP Call-IDs of calls whose input just started (for the caller's digits).
    pub fn take_inputs_started(&mut self) -> std::vec::Drain<'_, String> {
        self.inputs_started.drain(..)
    }

    /// What was counted so far.
    pub fn report(&self) -> &ComponentReport {
        &self.report
    }

    /// The final counts.
    pub fn into_report(self) -> ComponentReport {
        self.report
    }

    fn expected(&self, kind: ComponentKind, primary: bool, reason: &str) -> bool {
        match (&self.plan.kind, kind) {
            // A looped output only ends with its call.
            (MediaKind::PlayLoop { .. } | MediaKind::Record { .. }, ComponentKind::Output) => {
                reason == "hangup"
            }
            (MediaKind::PromptLatency { .. }, _) => {
                reason == "finish" || (self.plan.hold.is_some() && reason == "hangup")
            }
            (MediaKind::InputLatency { .. }, _) => reason == "match",
            (_, ComponentKind::Record) => reason == "max-duration" || reason == "hangup",
            _ => !primary,
        }
    }

    fn on_recording(&mut self, recording: Option<&component::Recording>) {
        match recording {
            Some(r) if r.is_complete() => {
                self.report.recordings_complete += 1;
                let size = r.size.unwrap_or(0);
                self.report.recorded_bytes += size;
                self.report.recorded_ms += r.duration_ms.unwrap_or(0);
                if let (Some(uri), true) = (&r.uri, self.report.recording_uris.len() < KEPT_URIS) {
                    self.report.recording_uris.push((uri.clone(), size));
                }
            }
            _ => self.report.recordings_incomplete += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::rayo::caller::{CallerCall, CallerOutcome};

    fn done(reason: &str, instance: Option<&str>) -> Completion {
        Completion {
            reason: reason.into(),
            reason_ns: String::new(),
            recording: None,
            instance: instance.map(str::to_owned),
            text: None,
        }
    }

    #[test]
    fn an_input_tells_the_caller_ends_the_call_and_joins_the_match() {
        let t0 = Instant::now();
        let plan = MediaPlan {
            kind: MediaKind::InputLatency {
                digits: "1234".into(),
                initial_timeout_ms: 5000,
            },
            hold: None,
        };
        let mut components = Components::new(plan, 0);
        components.on_offer("c1@d", Some("rl-1".into()));
        components.on_offer("c2@d", Some("rl-2".into()));
        for call in ["c1@d", "c2@d"] {
            let starts = components.on_answered();
            assert_eq!(starts.len(), 1);
            assert_eq!(starts[0].kind, ComponentKind::Input);
            assert!(starts[0].primary);
            components.on_sent();
            let jid = format!("{call}/in");
            let at = t0 + Duration::from_millis(1);
            components.on_started(call, (ComponentKind::Input, true, t0), Some(jid), at);
        }
        let told: Vec<String> = components.take_inputs_started().collect();
        assert_eq!(told, ["rl-1", "rl-2"]);
        // The right keys end the call; a wrong instance is a failure.
        let at = t0 + Duration::from_millis(900);
        let hang_up = components.on_complete("c1@d/in", done("match", Some("1234")), at);
        assert_eq!(hang_up.as_deref(), Some("c1@d"));
        components.on_complete("c2@d/in", done("match", Some("1 2 3 5")), at);
        assert_eq!(
            components.on_complete("c2@d/in", done("match", None), at),
            None
        );
        components.on_end("c1@d");
        let mut report = components.into_report();
        assert_eq!((report.refs, report.wrong_instances), (2, 1));
        assert_eq!(report.stray_completes, 1);
        assert_eq!(report.ref_us.percentile(50.0), Some(1000));
        let mut outcome = CallerOutcome::default();
        let keyed = CallerCall {
            first_audio: None,
            last_key_end: Some(t0 + Duration::from_millis(850)),
        };
        outcome.calls.insert("rl-1".into(), keyed);
        report.join_caller(outcome);
        assert_eq!(report.match_us.count(), 1);
        assert_eq!(report.match_us.max(), 50_000);
        // rl-2 matched as well, but the caller never reported it.
        assert_eq!(report.unjoined, 1);
        assert_eq!(report.failure_count(), 1);
    }

    #[test]
    fn prompt_latency_makes_texts_unique_and_joins_the_first_audio() {
        let t0 = Instant::now();
        let plan = MediaPlan {
            kind: MediaKind::PromptLatency {
                document: Document::Speech("Welcome".into()),
                unique_text: true,
            },
            hold: None,
        };
        let mut components = Components::new(plan, 3);
        components.on_offer("c1@d", Some("rl-1".into()));
        let first = components.on_answered();
        let second = components.on_answered();
        let text = |s: &[Start]| s[0].element.children().next().map(Element::text_content);
        assert_ne!(text(&first), text(&second));
        assert!(text(&first).unwrap_or_default().contains("Welcome 3 1"));
        assert_eq!(first[0].element.get_attr("repeat-times"), Some("1"));
        components.on_started(
            "c1@d",
            (ComponentKind::Output, true, t0),
            Some("c1@d/o".into()),
            t0,
        );
        assert_eq!(components.take_inputs_started().count(), 0);
        let later = t0 + Duration::from_secs(2);
        let ended = components.on_complete("c1@d/o", done("finish", None), later);
        assert_eq!(ended.as_deref(), Some("c1@d"));
        let mut report = components.into_report();
        let mut outcome = CallerOutcome::default();
        let heard = CallerCall {
            first_audio: Some(t0 + Duration::from_millis(120)),
            last_key_end: None,
        };
        outcome.calls.insert("rl-1".into(), heard);
        report.join_caller(outcome);
        assert_eq!(report.first_audio_us.percentile(99.0), Some(120_000));
        assert_eq!((report.unjoined, report.failure_count()), (0, 0));
    }

    #[test]
    fn a_looped_output_must_end_with_its_call() {
        let t0 = Instant::now();
        let plan = MediaPlan {
            kind: MediaKind::PlayLoop {
                document: Document::Url("file://tone.wav".into()),
            },
            hold: Some(Duration::from_secs(60)),
        };
        let mut components = Components::new(plan, 0);
        let starts = components.on_answered();
        assert_eq!(starts[0].element.get_attr("repeat-times"), Some("0"));
        for (call, jid) in [("a@d", "a@d/o"), ("b@d", "b@d/o"), ("c@d", "c@d/o")] {
            components.on_started(
                call,
                (ComponentKind::Output, true, t0),
                Some(jid.into()),
                t0,
            );
        }
        components.on_started("d@d", (ComponentKind::Output, true, t0), None, t0);
        assert_eq!(
            components.on_complete("a@d/o", done("hangup", None), t0),
            None
        );
        components.on_complete("b@d/o", done("finish", None), t0);
        components.on_end("a@d");
        components.on_end("c@d");
        let report = components.into_report();
        assert_eq!(report.completes["output:hangup"], 1);
        assert_eq!(report.unexpected_completes, 1);
        assert_eq!(report.missing_completes, 1);
        assert_eq!(report.refs_missing, 1);
        assert_eq!(report.failure_count(), 3);
    }
}
