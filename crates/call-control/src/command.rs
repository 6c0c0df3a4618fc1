//! What a controller asks of a call: [`Request`]s carrying a [`Command`].

use std::time::Duration;

use crate::components::{Adjustment, Analysis, Announcement, Input, Prompt, Record};
use crate::RequestId;

/// SIP headers a controller wants in the message a command causes, in order
/// (name, value).
pub type Headers = Vec<(String, String)>;

/// A command for one call, with the id its completion will carry. For a
/// component (play, collect, listen, echo) the id is also the component's.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Chosen by the adapter; unique among the call's requests.
    pub id: RequestId,
    /// What to do.
    pub command: Command,
}

/// What a controller can ask of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Tell the caller we are on it: 180, or 183 with our SDP when
    /// `early_media` is asked. Before answer only; a no-op after.
    Accept {
        /// Send 183 with SDP (media flows before answer) instead of 180.
        early_media: bool,
        /// Headers for the provisional response.
        headers: Headers,
    },
    /// Answer with 200 and our SDP. Media runs until the call ends.
    Answer {
        /// Headers for the 200.
        headers: Headers,
    },
    /// Refuse the call before answer with a 3xx–6xx `code`.
    Reject {
        /// SIP status.
        code: u16,
        /// Reason phrase; the status's standard one when `None`.
        reason: Option<String>,
        /// Headers for the final response.
        headers: Headers,
    },
    /// End the call: BYE after answer, 480 before.
    Hangup {
        /// Headers for the BYE or the final response.
        headers: Headers,
    },
    /// Send the caller elsewhere by SIP: 302 with `uri` as Contact before
    /// answer, REFER after. The call then leaves this controller.
    Redirect {
        /// Where the caller should go (`sip:`/`sips:`/`tel:` URI).
        uri: String,
        /// Headers for the 302 or REFER.
        headers: Headers,
    },
    /// Hand the caller to a configured SIP endpoint: before answer the call
    /// is routed there like any B2BUA call; after answer the answered caller
    /// is bridged to a new outbound leg without a second 200. The
    /// controller's part in the call ends with [`crate::Event::Ended`].
    Transfer {
        /// Endpoint name.
        endpoint: String,
    },
    /// Put the party on hold (re-INVITE with sendonly toward it); done
    /// when the re-INVITE's final response arrives.
    Hold {
        /// Headers for the re-INVITE.
        headers: Headers,
    },
    /// Take the party off hold (re-INVITE with sendrecv); done as
    /// [`Command::Hold`].
    Unhold {
        /// Headers for the re-INVITE.
        headers: Headers,
    },
    /// The party's audio no longer reaches joined calls, components or recorders.
    Mute,
    /// Undo [`Command::Mute`].
    Unmute,
    /// Component: play a prompt to the caller; done when it has been sent.
    Play(Play),
    /// Component: collect DTMF digits.
    CollectDtmf(CollectDtmf),
    /// Component: capture the caller's audio.
    Listen(Listen),
    /// Component: send the caller's audio back to the caller until the call
    /// ends or the component is stopped.
    Echo,
    /// Component: play a rendered document (files, speech, silence) with
    /// offsets, repeats and a time limit; done with
    /// [`crate::Output::Announced`].
    Announce(Announcement),
    /// Component: match the caller's keys against grammars; done with
    /// [`crate::Output::Input`].
    Input(Input),
    /// Component: an announcement and an input together; done with the
    /// input's result (the announcement's end is
    /// [`crate::Event::InputTimersStarted`] or a barge-in).
    Prompt(Box<Prompt>),
    /// Component: record the call's audio to a file; done with
    /// [`crate::Output::Recording`] however it ends.
    Record(Record),
    /// Component: call progress analysis; non-ending signals come as
    /// [`crate::Event::Signal`], an ending one completes it with
    /// [`crate::Output::Signal`].
    Analyze(Analysis),
    /// Change a running announcement (or a prompt's): seek, speed, volume.
    Adjust {
        /// The announcement or prompt.
        target: RequestId,
        /// What to change.
        adjustment: Adjustment,
    },
    /// Stop a running component; it completes with [`crate::Failure::Stopped`],
    /// this request with [`crate::Output::None`] (or
    /// [`crate::Failure::NoSuchRequest`]).
    Stop {
        /// The component to stop.
        target: RequestId,
    },
    /// Pause a running component (a play holds its place).
    Pause {
        /// The component to pause.
        target: RequestId,
    },
    /// Resume a paused component.
    Resume {
        /// The component to resume.
        target: RequestId,
    },
    /// Bridge this call's media with another call or a mixer.
    Join(Join),
    /// Break a join made by [`Command::Join`].
    Unjoin {
        /// What to unjoin from.
        target: JoinTarget,
    },
    /// Subscribe to (or unsubscribe from) [`crate::Event::Dtmf`] for every
    /// digit the caller sends, collect or not.
    DtmfEvents {
        /// Whether digits are reported.
        enabled: bool,
    },
}

impl Command {
    /// The component slot this command runs in, `None` for commands that
    /// are not components and for components any number of which may run
    /// at once (inputs, recordings).
    pub fn slot(&self) -> Option<Slot> {
        match self {
            Command::Play(_) | Command::Echo | Command::Announce(_) | Command::Prompt(_) => {
                Some(Slot::Output)
            }
            Command::CollectDtmf(_) => Some(Slot::Collect),
            Command::Listen(_) => Some(Slot::Listen),
            _ => None,
        }
    }
}

/// The resource a component occupies: two components in one slot cannot run
/// at once, components in different slots can (a collect while a play runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The stream toward the caller (play, echo).
    Output,
    /// DTMF collection.
    Collect,
    /// Audio capture.
    Listen,
}

/// Parameters of [`Command::Play`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// `file://relative/path` under the playback directory, or `http(s)://…`.
    pub uri: String,
    /// Start again at the end until stopped.
    pub looped: bool,
}

/// Parameters of [`Command::CollectDtmf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectDtmf {
    /// Wall-clock limit from the start of collection.
    pub timeout: Duration,
    /// A digit that ends collection (and is included in the result).
    pub termination: Option<char>,
    /// Stop after this many digits (terminator included); `None` for no limit.
    pub max_digits: Option<usize>,
}

/// Parameters of [`Command::Listen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// How much of the caller's audio to capture.
    pub duration: Duration,
}

/// Parameters of [`Command::Join`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The other call or the mixer.
    pub target: JoinTarget,
    /// Which way media flows.
    pub direction: JoinDirection,
}

/// What a call can be joined to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JoinTarget {
    /// Another call, by its id in the call registry.
    Call(String),
    /// A named mixer (a conference of many parties).
    Mixer(String),
}

impl JoinTarget {
    /// Whether both name the same call or mixer: ids and mixer names (JID
    /// nodes, which XMPP compares case-folded) match without case.
    pub fn matches(&self, other: &JoinTarget) -> bool {
        match (self, other) {
            (JoinTarget::Call(a), JoinTarget::Call(b))
            | (JoinTarget::Mixer(a), JoinTarget::Mixer(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

/// Which way media flows in a join, seen from this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinDirection {
    /// Both ways.
    Duplex,
    /// This call's audio goes to the target only.
    Send,
    /// The target's audio comes to this call only.
    Recv,
}

/// A call a controller originates. Not a call command: the server creates
/// the call, which then takes [`Request`]s like any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    /// Whom to call (`sip:`/`sips:` URI dialed directly; `tel:` or a bare
    /// number routed).
    pub to: String,
    /// The caller identity to present; the server's default when `None`.
    pub from: Option<String>,
    /// The id the controller wants for the new call; the server picks one
    /// when `None`.
    pub call_id: Option<String>,
    /// How long the far end may ring before the dial fails.
    pub timeout: Option<Duration>,
    /// Headers for the INVITE.
    pub headers: Headers,
    /// Join the new call to this target once it is answered.
    pub join: Option<Join>,
}

impl Command {
    /// Whether the command starts a component (a request that runs until it
    /// completes or is stopped).
    pub fn is_component(&self) -> bool {
        matches!(
            self,
            Command::Play(_)
                | Command::CollectDtmf(_)
                | Command::Listen(_)
                | Command::Echo
                | Command::Announce(_)
                | Command::Input(_)
                | Command::Prompt(_)
                | Command::Record(_)
                | Command::Analyze(_)
        )
    }
}
