//! How media components end and what they report on the way (RAYO.md
//! §3.0–3.6): each component's completion reasons rendered as the
//! `<complete>` payload (reason first, then metadata such as
//! `<recording>`), and the intermediate events (`<input-timers-started>`,
//! CPA `<signal>`). The Tropo forms (`<say>`, `<ask>`) complete in their
//! own namespaces; core reasons (`stop`, `hangup`, `error`) stay in
//! `urn:xmpp:rayo:ext:complete:1` for every form.

use std::time::SystemTime;

use xmpp::Element;

use crate::attrs::Permille;
use crate::cpa::SignalEvent;
use crate::event::{complete, CoreCompleteReason};
use crate::nlsml;
use crate::ns;
use crate::output::OutputForm;
use crate::prompt::PromptForm;
use crate::stamp::delay_element;

/// How an output (or Tropo say) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputCompletion {
    /// Every document was played (`finish`; say: `success`).
    Finish,
    /// `max-time` was reached (say: `success`, it has no such reason).
    MaxTime,
    /// `stop`, `hangup` or `error`.
    Core(CoreCompleteReason),
}

impl OutputCompletion {
    /// The `<complete>` element for an output started as `form`.
    pub fn to_element(&self, form: OutputForm) -> Element {
        match (self, form) {
            (OutputCompletion::Core(core), _) => core.to_element(),
            (_, OutputForm::Say) => complete("success", ns::TROPO_SAY_COMPLETE, None, Vec::new()),
            (OutputCompletion::Finish, OutputForm::Output) => {
                complete("finish", ns::OUTPUT_COMPLETE, None, Vec::new())
            }
            (OutputCompletion::MaxTime, OutputForm::Output) => {
                complete("max-time", ns::OUTPUT_COMPLETE, None, Vec::new())
            }
        }
    }
}

/// How the input was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchMode {
    /// Keys.
    Dtmf,
    /// Speech.
    Voice,
}

/// What an input matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMatch {
    /// How it was given.
    pub mode: MatchMode,
    /// What was said or keyed (digits without separators or terminator).
    pub utterance: String,
    /// Its meaning: the tag literal, else the utterance.
    pub interpretation: String,
    /// The recognizer's confidence (1 for DTMF).
    pub confidence: Permille,
}

impl InputMatch {
    /// A DTMF match of `digits` meaning `instance`, confidence 1.
    pub fn dtmf(digits: impl Into<String>, instance: impl Into<String>) -> InputMatch {
        InputMatch {
            mode: MatchMode::Dtmf,
            utterance: digits.into(),
            interpretation: instance.into(),
            confidence: Permille(1000),
        }
    }

    /// The NLSML `<result>` (RAYO.md §3.2).
    pub fn nlsml(&self) -> Element {
        let mode = match self.mode {
            MatchMode::Dtmf => "dtmf",
            MatchMode::Voice => "speech",
        };
        nlsml::result(
            mode,
            &self.utterance,
            &self.interpretation,
            &self.confidence.to_string(),
        )
    }
}

/// How an input, a prompt or a Tropo ask ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputCompletion {
    /// The grammar matched.
    Match(InputMatch),
    /// Input was given that the grammar cannot match.
    NoMatch,
    /// Nothing was given before the initial timeout.
    NoInput,
    /// A CPA signal whose grammar said `terminate`.
    Signal(SignalEvent),
    /// `stop`, `hangup` or `error`.
    Core(CoreCompleteReason),
}

impl InputCompletion {
    /// The `<complete>` element. A plain input or a prompt uses
    /// [`PromptForm::Prompt`]: `<match>` carries the NLSML document as
    /// text (what CDATA reads as); a Tropo ask answers `success` with
    /// `<interpretation>` and `<utterance>`, `nomatch` and `noinput` in
    /// `urn:xmpp:tropo:ask:complete:1`.
    pub fn to_element(&self, form: PromptForm) -> Element {
        let reason = |name: &str| {
            let reason_ns = match form {
                PromptForm::Prompt => ns::INPUT_COMPLETE,
                PromptForm::Ask => ns::TROPO_ASK_COMPLETE,
            };
            complete(name, reason_ns, None, Vec::new())
        };
        match self {
            InputCompletion::Core(core) => core.to_element(),
            InputCompletion::NoMatch => reason("nomatch"),
            InputCompletion::NoInput => reason("noinput"),
            InputCompletion::Signal(signal) => {
                Element::new("complete", ns::EXT).child(signal.to_element())
            }
            InputCompletion::Match(m) => {
                let why = match form {
                    PromptForm::Prompt => Element::new("match", ns::INPUT_COMPLETE)
                        .attr("content-type", nlsml::CONTENT_TYPE)
                        .text(m.nlsml().to_xml("")),
                    PromptForm::Ask => Element::new("success", ns::TROPO_ASK_COMPLETE)
                        .attr(
                            "mode",
                            match m.mode {
                                MatchMode::Dtmf => "dtmf",
                                MatchMode::Voice => "speech",
                            },
                        )
                        .attr("confidence", m.confidence.to_string())
                        .child(
                            Element::new("interpretation", ns::TROPO_ASK_COMPLETE)
                                .text(m.interpretation.as_str()),
                        )
                        .child(
                            Element::new("utterance", ns::TROPO_ASK_COMPLETE)
                                .text(m.utterance.as_str()),
                        ),
                };
                Element::new("complete", ns::EXT).child(why)
            }
        }
    }
}

/// Where a finished recording is and how big it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The URL the client fetches it from (signed, expiring).
    pub uri: String,
    /// Its length in ms.
    pub duration_ms: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl Recording {
    /// `<recording xmlns='urn:xmpp:rayo:record:complete:1' uri duration size/>`.
    pub fn to_element(&self) -> Element {
        Element::new("recording", ns::RECORD_COMPLETE)
            .attr("uri", self.uri.as_str())
            .attr("duration", self.duration_ms.to_string())
            .attr("size", self.size.to_string())
    }
}

/// How a record ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCompletion {
    /// `max-duration` was reached.
    MaxDuration,
    /// Only silence until `initial-timeout`.
    InitialTimeout,
    /// Silence for `final-timeout` after sound.
    FinalTimeout,
    /// `stop`, `hangup` or `error`.
    Core(CoreCompleteReason),
}

impl RecordCompletion {
    /// The `<complete>` element: the reason, then `<recording>` (always,
    /// RAYO.md §3.4).
    pub fn to_element(&self, recording: &Recording) -> Element {
        let extra = vec![recording.to_element()];
        match self {
            RecordCompletion::MaxDuration => {
                complete("max-duration", ns::RECORD_COMPLETE, None, extra)
            }
            RecordCompletion::InitialTimeout => {
                complete("initial-timeout", ns::RECORD_COMPLETE, None, extra)
            }
            RecordCompletion::FinalTimeout => {
                complete("final-timeout", ns::RECORD_COMPLETE, None, extra)
            }
            RecordCompletion::Core(CoreCompleteReason::Stop) => {
                complete("stop", ns::EXT_COMPLETE, None, extra)
            }
            RecordCompletion::Core(CoreCompleteReason::Hangup) => {
                complete("hangup", ns::EXT_COMPLETE, None, extra)
            }
            RecordCompletion::Core(CoreCompleteReason::Error(text)) => {
                complete("error", ns::EXT_COMPLETE, Some(text), extra)
            }
        }
    }
}

/// An intermediate event of a running component (an available presence
/// from the component's JID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentEvent {
    /// A prompt's output finished without barge-in; the input's timers run.
    InputTimersStarted,
    /// A CPA signal that does not terminate the input.
    Signal(SignalEvent),
}

impl ComponentEvent {
    /// The event element.
    pub fn to_element(&self) -> Element {
        match self {
            ComponentEvent::InputTimersStarted => Element::new("input-timers-started", ns::PROMPT),
            ComponentEvent::Signal(signal) => signal.to_element(),
        }
    }

    /// The presence's children: the event, then a `<delay>` stamped `at`.
    pub fn payload(&self, at: Option<SystemTime>) -> Vec<Element> {
        let mut out = vec![self.to_element()];
        out.extend(at.map(delay_element));
        out
    }
}

#[cfg(test)]
mod tests;
