//! The media components a controller can run on a call beyond Agent RPC's
//! play and collect: an [`Announcement`] (a rendered document with repeat,
//! offsets and limits), an [`Input`] matched against DTMF grammars, a
//! [`Prompt`] (the two together, with barge-in) and a [`Record`]ing. Rayo
//! speaks all of them; the call's actor carries them out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One piece of an [`Announcement`], played in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// An audio file (`file://`, `http(s)://`, or a path under the playback
    /// directory); when it cannot be had, `fallback` is played instead (an
    /// SSML `<audio>` element's content). With no fallback the
    /// announcement fails.
    Audio {
        /// Where the audio is.
        uri: String,
        /// What to play when the audio cannot be fetched or decoded.
        fallback: Vec<Segment>,
    },
    /// Text rendered by the text-to-speech engine.
    Speech {
        /// The words.
        text: String,
        /// The controller's voice name (mapped by `tts.voices`); the
        /// default voice when `None`.
        voice: Option<String>,
        /// Speaking rate, 1.0 normal.
        rate: f32,
        /// Gain in dB relative to the engine's normal level.
        volume_db: f32,
    },
    /// A pause.
    Silence(Duration),
}

/// Parameters of [`crate::Command::Announce`]: what to play and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    /// Played in order; together one "document".
    pub segments: Vec<Segment>,
    /// Skip this much of the first play.
    pub start_offset: Duration,
    /// Hold the output until a resume.
    pub start_paused: bool,
    /// How many times to play; 0 repeats until stopped.
    pub repeat_times: u32,
    /// Silence between repeats.
    pub repeat_interval: Duration,
    /// Finish (with [`AnnouncementEnd::MaxTime`]) after this long.
    pub max_time: Option<Duration>,
}

impl Announcement {
    /// Plays `segments` once from the start.
    pub fn once(segments: Vec<Segment>) -> Announcement {
        Announcement {
            segments,
            start_offset: Duration::ZERO,
            start_paused: false,
            repeat_times: 1,
            repeat_interval: Duration::ZERO,
            max_time: None,
        }
    }
}

/// Why an announcement finished by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnouncementEnd {
    /// Everything was played.
    Finished,
    /// `max_time` passed.
    MaxTime,
}

/// A change to a running announcement, as Rayo's output commands ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// Move the play position forward (positive) or back (negative), in ms.
    Seek(i64),
    /// Play faster by one step (pitch kept).
    SpeedUp,
    /// Play slower by one step.
    SpeedDown,
    /// Play louder by one step.
    VolumeUp,
    /// Play softer by one step.
    VolumeDown,
}

/// Where the digits so far stand against a grammar (RAYO.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrammarProgress {
    /// A prefix of some match: wait.
    NeedMore,
    /// A complete match; with `can_grow` false nothing longer can match.
    Match {
        /// The interpretation (tag value, or the digits).
        instance: String,
        /// Whether more digits could extend the match.
        can_grow: bool,
    },
    /// No continuation can match.
    NoMatch,
}

/// Walks one grammar with one input's digits. The grammar language lives
/// with the protocol that defines it (SRGS in the `rayo` crate); the call
/// only needs the verdicts.
pub trait DigitMatcher: Send + Sync + fmt::Debug {
    /// Feeds one key (terminator excluded) and returns the new verdict.
    fn feed(&mut self, key: char) -> GrammarProgress;
    /// The verdict for the keys so far.
    fn progress(&self) -> GrammarProgress;
}

/// A compiled grammar, shared by every input that uses it.
pub trait DigitGrammar: Send + Sync + fmt::Debug {
    /// A matcher at the grammar's start.
    fn matcher(&self) -> Box<dyn DigitMatcher>;
}

/// A shared grammar in an [`Input`]; equal when it is the same grammar.
#[derive(Debug, Clone)]
pub struct GrammarRef(pub Arc<dyn DigitGrammar>);

impl PartialEq for GrammarRef {
    fn eq(&self, other: &GrammarRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Parameters of [`crate::Command::Input`]: DTMF matched against grammars.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// A match of any one completes the input; the first listed wins a tie.
    pub grammars: Vec<GrammarRef>,
    /// A key that ends the input (and is not part of the digits).
    pub terminator: Option<char>,
    /// No first key within this after the timers start: `NoInput`.
    pub initial_timeout: Option<Duration>,
    /// No next key within this: the input is judged as it stands.
    pub inter_digit_timeout: Option<Duration>,
    /// The whole input, from its first key, must end within this.
    pub recognition_timeout: Option<Duration>,
}

/// How an input ended by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputOutcome {
    /// The digits match a grammar.
    Match {
        /// The keys, terminator excluded.
        digits: String,
        /// The grammar's interpretation.
        instance: String,
    },
    /// The digits cannot match any grammar.
    NoMatch {
        /// The keys, terminator excluded.
        digits: String,
    },
    /// No key arrived before the initial timeout.
    NoInput,
}

/// Parameters of [`crate::Command::Prompt`]: an announcement and an input
/// that runs from the start, whose timers start when the announcement ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// What is played first.
    pub announcement: Announcement,
    /// What is collected.
    pub input: Input,
    /// The first key stops the announcement.
    pub barge_in: bool,
}

/// Which audio a recording takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordDirection {
    /// What the party says.
    Send,
    /// What the party hears (prompts, speech, joined audio).
    Recv,
    /// Both.
    Duplex,
}

/// File format of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// 8 kHz 16-bit PCM WAV.
    Wav,
    /// MP3.
    Mp3,
}

/// Parameters of [`crate::Command::Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// File format.
    pub format: RecordFormat,
    /// Which audio.
    pub direction: RecordDirection,
    /// Duplex into one channel instead of one per direction.
    pub mix: bool,
    /// Play a beep to the party before recording starts.
    pub start_beep: bool,
    /// Play a beep to the party when recording stops.
    pub stop_beep: bool,
    /// Hold the recording until a resume.
    pub start_paused: bool,
    /// Stop after this much recorded audio.
    pub max_duration: Option<Duration>,
    /// Stop if the recording starts with this much silence.
    pub initial_timeout: Option<Duration>,
    /// Stop after this much silence following sound.
    pub final_timeout: Option<Duration>,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// `max_duration` reached.
    MaxDuration,
    /// Only silence for `initial_timeout`.
    InitialTimeout,
    /// Silence for `final_timeout` after sound.
    FinalTimeout,
    /// Stopped by the controller.
    Stopped,
    /// The call ended.
    Hangup,
}

/// A finished recording. Its request's `Done` carries it however the
/// recording ended, stop and hangup included: the actor attaches it to the
/// `Stopped`/`CallEnded` completion the rules decide (see
/// [`crate::Output::Recording`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Why it ended.
    pub end: RecordEnd,
    /// The file's name in the recordings directory.
    pub file: String,
    /// Length of the recorded audio.
    pub duration: Duration,
    /// Size of the file in bytes.
    pub size: u64,
}

/// What call progress analysis (XEP-0341) listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// A DTMF key.
    Dtmf,
    /// An answering machine's beep.
    Beep,
    /// A called fax machine's answer tone (2100 Hz).
    FaxCed,
    /// A calling fax machine's tone (1100 Hz).
    FaxCng,
    /// The party spoke: a human or a machine, by the first utterance.
    Speech,
}

/// Parameters of [`crate::Command::Analyze`]: the signals to report, each
/// either as an event (the analysis goes on) or as its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Each signal once, with whether it ends the analysis.
    pub signals: Vec<(SignalKind, bool)>,
}

/// A signal the analysis found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    /// What.
    pub kind: SignalKind,
    /// The key for DTMF, `human`/`machine`/`notsure` for speech, the
    /// frequency in Hz for a beep.
    pub value: Option<String>,
    /// How long the signal lasted.
    pub duration: Duration,
}
