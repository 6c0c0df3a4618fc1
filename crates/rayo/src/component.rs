//! Media components started on a call (RAYO.md §3.0–3.4) and the
//! commands a running one takes besides `<stop>`: output's pause, resume,
//! seek, speed and volume steps, record's pause and resume, and Tropo
//! say's pause and resume.

use xmpp::Element;

use crate::error::CommandError;
use crate::input::{parse_input, Input};
use crate::ns;
use crate::output::{parse_output, parse_say, Output};
use crate::prompt::{parse_ask, parse_prompt, Prompt};
use crate::record::{parse_record, Record};

/// A component a call command starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaComponent {
    /// `<output>` or Tropo `<say>`.
    Output(Output),
    /// `<input>` (CPA included).
    Input(Input),
    /// `<prompt>` or Tropo `<ask>`.
    Prompt(Prompt),
    /// `<record>`.
    Record(Record),
}

impl MediaComponent {
    /// The element name, for logs and metrics (`output`, `say`, `ask`, …).
    pub fn name(&self) -> &'static str {
        match self {
            MediaComponent::Output(o) if o.form == crate::OutputForm::Say => "say",
            MediaComponent::Output(_) => "output",
            MediaComponent::Input(_) => "input",
            MediaComponent::Prompt(p) if p.form == crate::PromptForm::Ask => "ask",
            MediaComponent::Prompt(_) => "prompt",
            MediaComponent::Record(_) => "record",
        }
    }

    /// The command element.
    pub fn to_element(&self) -> Element {
        match self {
            MediaComponent::Output(o) => o.to_element(),
            MediaComponent::Input(i) => i.to_element(),
            MediaComponent::Prompt(p) => p.to_element(),
            MediaComponent::Record(r) => r.to_element(),
        }
    }
}

/// The component `payload` starts, if it is one (`None`: not a component
/// element).
pub(crate) fn parse_media_component(
    payload: &Element,
) -> Option<Result<MediaComponent, CommandError>> {
    let ns = payload.ns();
    Some(match payload.name() {
        "output" if ns == ns::OUTPUT => parse_output(payload).map(MediaComponent::Output),
        "say" if ns == ns::TROPO_SAY => parse_say(payload).map(MediaComponent::Output),
        "input" if ns == ns::INPUT => parse_input(payload).map(MediaComponent::Input),
        "prompt" if ns == ns::PROMPT => parse_prompt(payload).map(MediaComponent::Prompt),
        "ask" if ns == ns::TROPO_ASK => parse_ask(payload).map(MediaComponent::Prompt),
        "record" if ns == ns::RECORD => parse_record(payload).map(MediaComponent::Record),
        _ => return None,
    })
}

/// Which way a `<seek>` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeekDirection {
    /// Later in the output.
    Forward,
    /// Earlier in the output.
    Back,
}

/// Commands to a running output (or to a prompt's output), in
/// `urn:xmpp:rayo:output:1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputCommand {
    /// Stop playing, keep the place.
    Pause,
    /// Play on from the place.
    Resume,
    /// Move the place by `amount_ms`.
    Seek {
        /// Which way.
        direction: SeekDirection,
        /// How far, in ms.
        amount_ms: u32,
    },
    /// One step faster.
    SpeedUp,
    /// One step slower.
    SpeedDown,
    /// One step louder.
    VolumeUp,
    /// One step softer.
    VolumeDown,
}

impl OutputCommand {
    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            OutputCommand::Pause => "pause",
            OutputCommand::Resume => "resume",
            OutputCommand::Seek { .. } => "seek",
            OutputCommand::SpeedUp => "speed-up",
            OutputCommand::SpeedDown => "speed-down",
            OutputCommand::VolumeUp => "volume-up",
            OutputCommand::VolumeDown => "volume-down",
        }
    }
}

/// Pause or resume, for a record (`urn:xmpp:rayo:record:1`) or a Tropo
/// say (`urn:xmpp:tropo:say:1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseCommand {
    /// Stop for now, keep the place (a record's resume appends).
    Pause,
    /// Go on.
    Resume,
}

impl PauseCommand {
    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            PauseCommand::Pause => "pause",
            PauseCommand::Resume => "resume",
        }
    }
}

/// Parses a component command other than `<stop>`, or `None` when
/// `payload` is none of them.
pub(crate) fn parse_control(
    payload: &Element,
) -> Option<Result<crate::ComponentCommand, CommandError>> {
    use crate::ComponentCommand as C;
    let pause = |name: &str| match name {
        "pause" => Some(PauseCommand::Pause),
        "resume" => Some(PauseCommand::Resume),
        _ => None,
    };
    let ns = payload.ns();
    if ns == ns::RECORD {
        return pause(payload.name()).map(|p| Ok(C::Record(p)));
    }
    if ns == ns::TROPO_SAY {
        return pause(payload.name()).map(|p| Ok(C::Say(p)));
    }
    if ns != ns::OUTPUT {
        return None;
    }
    let command = match payload.name() {
        "pause" => OutputCommand::Pause,
        "resume" => OutputCommand::Resume,
        "speed-up" => OutputCommand::SpeedUp,
        "speed-down" => OutputCommand::SpeedDown,
        "volume-up" => OutputCommand::VolumeUp,
        "volume-down" => OutputCommand::VolumeDown,
        "seek" => return Some(parse_seek(payload).map(C::Output)),
        _ => return None,
    };
    Some(Ok(C::Output(command)))
}

fn parse_seek(seek: &Element) -> Result<OutputCommand, CommandError> {
    let direction = match crate::attrs::choice(seek, "direction", &["forward", "back"])? {
        Some("forward") => SeekDirection::Forward,
        Some(_) => SeekDirection::Back,
        None => return Err(CommandError::bad_request("seek needs a 'direction'")),
    };
    let amount_ms = crate::attrs::millis(seek, "amount")?
        .ok_or_else(|| CommandError::bad_request("seek needs an 'amount'"))?;
    Ok(OutputCommand::Seek {
        direction,
        amount_ms,
    })
}

/// The element of a component command other than `<stop>`.
pub(crate) fn control_element(command: &crate::ComponentCommand) -> Option<Element> {
    use crate::ComponentCommand as C;
    Some(match command {
        C::Stop { .. } => return None,
        C::Output(OutputCommand::Seek {
            direction,
            amount_ms,
        }) => Element::new("seek", ns::OUTPUT)
            .attr(
                "direction",
                match direction {
                    SeekDirection::Forward => "forward",
                    SeekDirection::Back => "back",
                },
            )
            .attr("amount", amount_ms.to_string()),
        C::Output(c) => Element::new(c.name(), ns::OUTPUT),
        C::Record(p) => Element::new(p.name(), ns::RECORD),
        C::Say(p) => Element::new(p.name(), ns::TROPO_SAY),
    })
}

#[cfg(test)]
mod tests;
