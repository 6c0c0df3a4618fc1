//! Rayo's media components as call-control commands, and their ends as
//! `<complete>` payloads (RAYO.md §3): the pure half of the component
//! lifecycle, which `components.rs` drives.
//!
//! Choices taken where the XEP leaves room (documented in docs/rayo.md):
//! - an output's `renderer` is accepted and ignored (one engine serves);
//! - a document or grammar by URL (SSML, uri-list, plain text or SRGS,
//!   `http(s)://` or `file://` under the playback directory) is fetched
//!   before the component starts ([`to_fetch`], [`with_fetched`]); one
//!   that cannot be fetched is the start's `bad-request`; a URL document
//!   without a content type is an audio file and plays;
//! - `mode='any'` is DTMF while no speech recognizer exists; `voice` is
//!   `feature-not-implemented` (modify).

use std::sync::Arc;
use std::time::Duration;

use call_control::{
    Adjustment, Analysis, Announcement, AnnouncementEnd, Command, DigitGrammar, DigitMatcher,
    Failure, GrammarProgress, GrammarRef, InputOutcome, Output, RecordEnd, RequestId, Segment,
    Signal, SignalKind,
};
use rayo::srgs::{Grammar, Matcher, Progress};
use rayo::{
    CommandError, ComponentCommand, CoreCompleteReason, CpaSignal, InputCompletion, InputMatch,
    InputMode, MediaComponent, OutputCommand, OutputCompletion, OutputForm, PauseCommand,
    PromptForm, RecordCompletion, SeekDirection, SignalEvent, StanzaCondition,
};
use xmpp::Element;

/// What kind of component a request is, which decides its completion's
/// spelling and the commands it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// `<output>` or Tropo `<say>`.
    Output(OutputForm),
    /// `<input>` (DTMF).
    Input,
    /// `<input mode='cpa'>`.
    Analysis,
    /// `<prompt>` or Tropo `<ask>`.
    Prompt(PromptForm),
    /// `<record>`.
    Record,
}

impl ComponentKind {
    /// The prefix of its component ids (`output-3`).
    pub fn prefix(self) -> &'static str {
        match self {
            ComponentKind::Output(OutputForm::Output) => "output",
            ComponentKind::Output(OutputForm::Say) => "say",
            ComponentKind::Input | ComponentKind::Analysis => "input",
            ComponentKind::Prompt(PromptForm::Prompt) => "prompt",
            ComponentKind::Prompt(PromptForm::Ask) => "ask",
            ComponentKind::Record => "record",
        }
    }
}

/// The model's command for a component a client starts, and its kind.
pub fn to_component(component: &MediaComponent) -> Result<(Command, ComponentKind), CommandError> {
    Ok(match component {
        MediaComponent::Output(output) => (
            Command::Announce(announcement(output)?),
            ComponentKind::Output(output.form),
        ),
        MediaComponent::Input(input) if input.mode == InputMode::Cpa => {
            (Command::Analyze(analysis(input)?), ComponentKind::Analysis)
        }
        MediaComponent::Input(input) => (Command::Input(to_input(input)?), ComponentKind::Input),
        MediaComponent::Prompt(prompt) => {
            if prompt.input.mode == InputMode::Cpa {
                return Err(CommandError::bad_request(
                    "a prompt's input cannot be mode='cpa'",
                ));
            }
            let command = call_control::Prompt {
                announcement: announcement(&prompt.output)?,
                input: to_input(&prompt.input)?,
                barge_in: prompt.barge_in,
            };
            (
                Command::Prompt(Box::new(command)),
                ComponentKind::Prompt(prompt.form),
            )
        }
        MediaComponent::Record(record) => {
            (Command::Record(to_record(record)), ComponentKind::Record)
        }
    })
}

/// The URLs `component`'s documents and grammars must be fetched from
/// before it can start, in order, each once.
pub fn to_fetch(component: &MediaComponent) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let mut output = |o: &rayo::Output| {
        for document in &o.documents {
            if let rayo::Document::Url {
                url,
                content_type: Some(_),
            } = document
            {
                urls.push(url.clone());
            }
        }
    };
    match component {
        MediaComponent::Output(o) => output(o),
        MediaComponent::Prompt(p) => output(&p.output),
        MediaComponent::Input(_) | MediaComponent::Record(_) => {}
    }
    let input = match component {
        MediaComponent::Input(i) => Some(i),
        MediaComponent::Prompt(p) => Some(&p.input),
        _ => None,
    };
    for grammar in input.map(|i| i.grammars.as_slice()).unwrap_or_default() {
        if let rayo::GrammarSource::Url(url) = grammar {
            if !url.starts_with("builtin:") {
                urls.push(url.clone());
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    urls.retain(|u| seen.insert(u.clone()));
    urls
}

/// `component` with the `bodies` fetched for [`to_fetch`]'s URLs in place
/// of those URLs (as inline documents and SRGS grammars).
pub fn with_fetched(mut component: MediaComponent, bodies: &[(String, String)]) -> MediaComponent {
    let body = |url: &str| {
        bodies
            .iter()
            .find(|(u, _)| u == url)
            .map(|(_, b)| b.clone())
    };
    let output = |o: &mut rayo::Output| {
        for document in &mut o.documents {
            if let rayo::Document::Url {
                url,
                content_type: Some(content_type),
            } = document
            {
                if let Some(text) = body(url) {
                    *document = rayo::Document::Inline {
                        content_type: *content_type,
                        body: text,
                    };
                }
            }
        }
    };
    let input = |i: &mut rayo::Input| {
        for grammar in &mut i.grammars {
            if let rayo::GrammarSource::Url(url) = grammar {
                if let Some(text) = body(url) {
                    *grammar = rayo::GrammarSource::Inline {
                        content_type: "application/srgs+xml".into(),
                        body: text,
                    };
                }
            }
        }
    };
    match &mut component {
        MediaComponent::Output(o) => output(o),
        MediaComponent::Input(i) => input(i),
        MediaComponent::Prompt(p) => {
            output(&mut p.output);
            input(&mut p.input);
        }
        MediaComponent::Record(_) => {}
    }
    component
}

fn ms(value: u32) -> Duration {
    Duration::from_millis(u64::from(value))
}

/// An output's documents, rendered, as one announcement.
fn announcement(output: &rayo::Output) -> Result<Announcement, CommandError> {
    let mut segments = Vec::new();
    for document in &output.documents {
        let rendered = document.render().ok_or_else(|| {
            CommandError::of(
                StanzaCondition::InternalServerError,
                "a document by url was not fetched",
            )
        })?;
        let rendered = rendered.map_err(|e| CommandError::bad_request(e.to_string()))?;
        segments.extend(rendered.into_iter().map(|s| segment(s, &output.voice)));
    }
    Ok(Announcement {
        segments,
        start_offset: ms(output.start_offset_ms),
        start_paused: output.start_paused,
        repeat_times: output.repeat_times,
        repeat_interval: ms(output.repeat_interval_ms),
        max_time: output.max_time_ms.map(ms),
    })
}

fn segment(segment: rayo::ssml::Segment, voice: &Option<String>) -> Segment {
    match segment {
        rayo::ssml::Segment::Speak {
            text,
            rate,
            volume_db,
            voice: own,
        } => Segment::Speech {
            text,
            voice: own.or_else(|| voice.clone()),
            rate,
            volume_db,
        },
        rayo::ssml::Segment::Audio { src, fallback } => Segment::Audio {
            uri: audio_uri(&src),
            fallback: fallback
                .into_iter()
                .map(|s| self::segment(s, voice))
                .collect(),
        },
        rayo::ssml::Segment::Break { ms: pause } => Segment::Silence(ms(pause)),
    }
}

/// An `<audio src>` as the prompt loader takes it: URLs as they are, a
/// bare name as a file under the playback directory.
fn audio_uri(src: &str) -> String {
    if src.contains("://") {
        src.to_owned()
    } else {
        format!("file://{}", src.trim_start_matches('/'))
    }
}

fn to_input(input: &rayo::Input) -> Result<call_control::Input, CommandError> {
    if input.mode == InputMode::Voice {
        return Err(CommandError::unsupported_option(
            "no speech recognizer is configured: use mode='dtmf' or 'any'",
        ));
    }
    let (grammars, fetch) = input.compile()?;
    if let Some(url) = fetch.first() {
        return Err(CommandError::of(
            StanzaCondition::InternalServerError,
            format!("grammar url '{url}' was not fetched"),
        ));
    }
    if grammars.is_empty() {
        return Err(CommandError::bad_request("the input has no DTMF <grammar>"));
    }
    Ok(call_control::Input {
        grammars: grammars
            .into_iter()
            .map(|g| GrammarRef(Arc::new(SrgsGrammar(g))))
            .collect(),
        terminator: input.terminator,
        initial_timeout: input.initial_timeout_ms.map(ms),
        inter_digit_timeout: input.inter_digit_timeout_ms.map(ms),
        recognition_timeout: input.recognition_timeout_ms.map(ms),
    })
}

fn analysis(input: &rayo::Input) -> Result<Analysis, CommandError> {
    let mut signals = Vec::new();
    for grammar in &input.cpa {
        let kind = match &grammar.signal {
            CpaSignal::Dtmf => SignalKind::Dtmf,
            CpaSignal::Beep => SignalKind::Beep,
            CpaSignal::Speech => SignalKind::Speech,
            CpaSignal::FaxCed => SignalKind::FaxCed,
            CpaSignal::FaxCng => SignalKind::FaxCng,
            CpaSignal::Unsupported(name) => {
                return Err(CommandError::of(
                    StanzaCondition::InternalServerError,
                    format!("CPA signal '{name}' is not detected here"),
                ))
            }
        };
        signals.push((kind, grammar.terminate));
    }
    if signals.is_empty() {
        return Err(CommandError::bad_request(
            "a CPA input needs a signal <grammar>",
        ));
    }
    Ok(Analysis { signals })
}

fn to_record(record: &rayo::Record) -> call_control::Record {
    call_control::Record {
        format: match record.format {
            rayo::RecordFormat::Wav => call_control::RecordFormat::Wav,
            rayo::RecordFormat::Mp3 => call_control::RecordFormat::Mp3,
        },
        direction: match record.direction {
            rayo::RecordDirection::Send => call_control::RecordDirection::Send,
            rayo::RecordDirection::Recv => call_control::RecordDirection::Recv,
            rayo::RecordDirection::Duplex => call_control::RecordDirection::Duplex,
        },
        mix: record.mix,
        start_beep: record.start_beep,
        stop_beep: record.stop_beep,
        start_paused: record.start_paused,
        max_duration: record.max_duration_ms.map(ms),
        initial_timeout: record.initial_timeout_ms.map(ms),
        final_timeout: record.final_timeout_ms.map(ms),
    }
}

/// The model's command for a command sent to a running component of `kind`.
pub fn component_command(
    command: &ComponentCommand,
    target: RequestId,
    kind: ComponentKind,
) -> Result<Command, CommandError> {
    let output_like = matches!(kind, ComponentKind::Output(_) | ComponentKind::Prompt(_));
    let wrong = || {
        CommandError::of(
            StanzaCondition::BadRequest,
            format!(
                "<{}> does not apply to a {} component",
                command.name(),
                kind.prefix()
            ),
        )
    };
    Ok(match command {
        ComponentCommand::Stop { .. } => Command::Stop { target },
        ComponentCommand::Output(c) if output_like => match c {
            OutputCommand::Pause => Command::Pause { target },
            OutputCommand::Resume => Command::Resume { target },
            OutputCommand::Seek {
                direction,
                amount_ms,
            } => {
                let amount = i64::from(*amount_ms);
                let signed = match direction {
                    SeekDirection::Forward => amount,
                    SeekDirection::Back => -amount,
                };
                adjust(target, Adjustment::Seek(signed))
            }
            OutputCommand::SpeedUp => adjust(target, Adjustment::SpeedUp),
            OutputCommand::SpeedDown => adjust(target, Adjustment::SpeedDown),
            OutputCommand::VolumeUp => adjust(target, Adjustment::VolumeUp),
            OutputCommand::VolumeDown => adjust(target, Adjustment::VolumeDown),
        },
        ComponentCommand::Say(c) if matches!(kind, ComponentKind::Output(OutputForm::Say)) => {
            pause(*c, target)
        }
        ComponentCommand::Record(c) if kind == ComponentKind::Record => pause(*c, target),
        _ => return Err(wrong()),
    })
}

fn adjust(target: RequestId, adjustment: Adjustment) -> Command {
    Command::Adjust { target, adjustment }
}

fn pause(command: PauseCommand, target: RequestId) -> Command {
    match command {
        PauseCommand::Pause => Command::Pause { target },
        PauseCommand::Resume => Command::Resume { target },
    }
}

/// The `<complete>` for a component of `kind` that ended with `result`;
/// `recording_uri` turns a recording's file name into the URL the client
/// fetches it from.
pub fn completion(
    kind: ComponentKind,
    result: Result<Output, Failure>,
    recording_uri: &dyn Fn(&str) -> String,
) -> Element {
    let core = |failure: &Failure| match failure {
        Failure::Stopped => CoreCompleteReason::Stop,
        Failure::CallEnded => CoreCompleteReason::Hangup,
        other => CoreCompleteReason::Error(other.to_string()),
    };
    match kind {
        ComponentKind::Output(form) => {
            let reason = match result {
                Ok(Output::Announced(AnnouncementEnd::MaxTime)) => OutputCompletion::MaxTime,
                Ok(_) => OutputCompletion::Finish,
                Err(failure) => OutputCompletion::Core(core(&failure)),
            };
            reason.to_element(form)
        }
        ComponentKind::Input | ComponentKind::Analysis | ComponentKind::Prompt(_) => {
            let form = match kind {
                ComponentKind::Prompt(form) => form,
                _ => PromptForm::Prompt,
            };
            let reason = match result {
                Ok(Output::Input(InputOutcome::Match { digits, instance })) => {
                    InputCompletion::Match(InputMatch::dtmf(digits, instance))
                }
                Ok(Output::Input(InputOutcome::NoMatch { .. })) => InputCompletion::NoMatch,
                Ok(Output::Input(InputOutcome::NoInput)) => InputCompletion::NoInput,
                Ok(Output::Signal(signal)) => InputCompletion::Signal(signal_event(&signal)),
                Ok(other) => InputCompletion::Core(CoreCompleteReason::Error(format!(
                    "unexpected result {other:?}"
                ))),
                Err(failure) => InputCompletion::Core(core(&failure)),
            };
            reason.to_element(form)
        }
        ComponentKind::Record => match result {
            Ok(Output::Recording(recording)) => {
                let reason = match recording.end {
                    RecordEnd::MaxDuration => RecordCompletion::MaxDuration,
                    RecordEnd::InitialTimeout => RecordCompletion::InitialTimeout,
                    RecordEnd::FinalTimeout => RecordCompletion::FinalTimeout,
                    RecordEnd::Stopped => RecordCompletion::Core(CoreCompleteReason::Stop),
                    RecordEnd::Hangup => RecordCompletion::Core(CoreCompleteReason::Hangup),
                };
                let meta = rayo::Recording {
                    uri: recording_uri(&recording.file),
                    duration_ms: u64::try_from(recording.duration.as_millis()).unwrap_or(u64::MAX),
                    size: recording.size,
                };
                reason.to_element(&meta)
            }
            Ok(other) => RecordCompletion::Core(CoreCompleteReason::Error(format!(
                "unexpected result {other:?}"
            )))
            .to_element(&no_recording()),
            Err(failure) => RecordCompletion::Core(core(&failure)).to_element(&no_recording()),
        },
    }
}

/// The `<recording>` of a record that wrote no file.
fn no_recording() -> rayo::Recording {
    rayo::Recording {
        uri: String::new(),
        duration_ms: 0,
        size: 0,
    }
}

/// A signal as Rayo's `<signal>`.
pub fn signal_event(signal: &Signal) -> SignalEvent {
    SignalEvent {
        signal: match signal.kind {
            SignalKind::Dtmf => CpaSignal::Dtmf,
            SignalKind::Beep => CpaSignal::Beep,
            SignalKind::FaxCed => CpaSignal::FaxCed,
            SignalKind::FaxCng => CpaSignal::FaxCng,
            SignalKind::Speech => CpaSignal::Speech,
        },
        value: signal.value.clone(),
        duration_ms: u32::try_from(signal.duration.as_millis())
            .ok()
            .filter(|d| *d > 0),
    }
}

/// An SRGS grammar from the `rayo` crate as the model's grammar.
#[derive(Debug)]
struct SrgsGrammar(Grammar);

#[derive(Debug)]
struct SrgsMatcher(Matcher);

impl DigitGrammar for SrgsGrammar {
    fn matcher(&self) -> Box<dyn DigitMatcher> {
        Box::new(SrgsMatcher(Matcher::new(self.0.clone())))
    }
}

impl DigitMatcher for SrgsMatcher {
    fn feed(&mut self, key: char) -> GrammarProgress {
        progress(self.0.feed(key))
    }

    fn progress(&self) -> GrammarProgress {
        progress(self.0.progress())
    }
}

fn progress(progress: Progress) -> GrammarProgress {
    match progress {
        Progress::NeedMore => GrammarProgress::NeedMore,
        Progress::Match { instance, can_grow } => GrammarProgress::Match { instance, can_grow },
        Progress::NoMatch => GrammarProgress::NoMatch,
    }
}
