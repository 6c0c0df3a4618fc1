//! The record component (`urn:xmpp:rayo:record:1`, RAYO.md §3.4).
//!
//! `format` is read as `wav` or `mp3`; whether mp3 can be written is the
//! adapter's decision (`feature-not-implemented` when it cannot). Other
//! formats are refused here as an unsupported option value. `<hint>`s
//! are ignored, as the XEP asks.

use xmpp::Element;

use crate::attrs::{self, put};
use crate::error::CommandError;
use crate::ns;

/// The file format of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// RIFF WAVE, 16-bit PCM (the default).
    Wav,
    /// MPEG-1 Layer III.
    Mp3,
}

impl RecordFormat {
    /// The `format` value and the file extension.
    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Wav => "wav",
            RecordFormat::Mp3 => "mp3",
        }
    }
}

/// Which audio is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordDirection {
    /// What the party sends (the caller's voice).
    Send,
    /// What the party hears (prompts, speech, joined audio).
    Recv,
    /// Both (the default): one channel each unless `mix`.
    Duplex,
}

impl RecordDirection {
    /// The `direction` value.
    pub fn name(self) -> &'static str {
        match self {
            RecordDirection::Send => "send",
            RecordDirection::Recv => "recv",
            RecordDirection::Duplex => "duplex",
        }
    }
}

/// A parsed record command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The file format.
    pub format: RecordFormat,
    /// Play a beep before recording starts.
    pub start_beep: bool,
    /// Play a beep when recording stops.
    pub stop_beep: bool,
    /// Start paused (a `resume` starts it).
    pub start_paused: bool,
    /// Longest recording; `None` = no limit (`-1`).
    pub max_duration_ms: Option<u32>,
    /// Silence at the start that ends the recording; `None` = never.
    pub initial_timeout_ms: Option<u32>,
    /// Silence after sound that ends the recording; `None` = never.
    pub final_timeout_ms: Option<u32>,
    /// Which audio.
    pub direction: RecordDirection,
    /// Mix both directions into one channel.
    pub mix: bool,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            format: RecordFormat::Wav,
            start_beep: false,
            stop_beep: false,
            start_paused: false,
            max_duration_ms: None,
            initial_timeout_ms: None,
            final_timeout_ms: None,
            direction: RecordDirection::Duplex,
            mix: false,
        }
    }
}

impl Record {
    /// The `<record>` command element (defaults left out).
    pub fn to_element(&self) -> Element {
        let mut e = Element::new("record", ns::RECORD);
        put(
            &mut e,
            "format",
            (self.format != RecordFormat::Wav).then_some(self.format.name()),
        );
        put(&mut e, "start-beep", self.start_beep.then_some("true"));
        put(&mut e, "stop-beep", self.stop_beep.then_some("true"));
        put(&mut e, "start-paused", self.start_paused.then_some("true"));
        put(&mut e, "max-duration", self.max_duration_ms);
        put(&mut e, "initial-timeout", self.initial_timeout_ms);
        put(&mut e, "final-timeout", self.final_timeout_ms);
        put(
            &mut e,
            "direction",
            (self.direction != RecordDirection::Duplex).then_some(self.direction.name()),
        );
        put(&mut e, "mix", self.mix.then_some("true"));
        e
    }
}

/// Parses `<record xmlns='urn:xmpp:rayo:record:1'>`.
pub fn parse_record(e: &Element) -> Result<Record, CommandError> {
    let format = match crate::command::attr(e, "format").map(str::trim) {
        None => RecordFormat::Wav,
        Some(f) if f.eq_ignore_ascii_case("wav") => RecordFormat::Wav,
        Some(f) if f.eq_ignore_ascii_case("mp3") => RecordFormat::Mp3,
        Some(other) => {
            return Err(CommandError::unsupported_option(format!(
                "record format '{other}' is not supported (wav, mp3)"
            )))
        }
    };
    let direction = match attrs::choice(e, "direction", &["send", "recv", "duplex"])? {
        Some("send") => RecordDirection::Send,
        Some("recv") => RecordDirection::Recv,
        _ => RecordDirection::Duplex,
    };
    Ok(Record {
        format,
        start_beep: attrs::boolean(e, "start-beep", false)?,
        stop_beep: attrs::boolean(e, "stop-beep", false)?,
        start_paused: attrs::boolean(e, "start-paused", false)?,
        max_duration_ms: attrs::limit(e, "max-duration")?,
        initial_timeout_ms: attrs::limit(e, "initial-timeout")?,
        final_timeout_ms: attrs::limit(e, "final-timeout")?,
        direction,
        mix: attrs::boolean(e, "mix", false)?,
    })
}
