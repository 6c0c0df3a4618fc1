//! What a call tells its controller: [`Event`]s, request [`Output`]s and
//! [`Failure`]s, and why a call ended ([`EndReason`]).

use crate::command::{Headers, JoinDirection, JoinTarget};
use crate::components::{AnnouncementEnd, InputOutcome, Recording, Signal};
use crate::{DtmfEnd, RequestId};

/// What a request produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Nothing beyond success.
    None,
    /// Collected digits (may be empty) and why collection ended.
    Dtmf {
        /// The digits in order, terminator included.
        digits: String,
        /// Why collection ended.
        end: DtmfEnd,
    },
    /// An announcement finished by itself.
    Announced(AnnouncementEnd),
    /// An input (or a prompt's input) ended by itself.
    Input(InputOutcome),
    /// A recording ended. Also the result of a stopped recording and of one
    /// the call's end cut short: the actor turns their `Stopped` and
    /// `CallEnded` into this (with [`crate::RecordEnd::Stopped`] or
    /// [`crate::RecordEnd::Hangup`]) so that the file is always reported.
    Recording(Recording),
    /// An analysis ended on a signal that ends it.
    Signal(Signal),
    /// Captured audio: signed 16-bit mono samples at `sample_rate`.
    Audio {
        /// The samples; silence fills gaps where no packet arrived.
        samples: Vec<i16>,
        /// Samples per second (8000 for G.711).
        sample_rate: u32,
    },
}

/// Why a request did not complete normally. Every variant leaves the call
/// as it was unless it says otherwise. Display texts reach agents: keep them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// A media operation before the call was answered.
    #[error("call not answered")]
    NotAnswered,
    /// The command makes no sense in the call's state (e.g. reject after answer).
    #[error("{0}")]
    InvalidState(&'static str),
    /// The request's parameters are unusable (bad URI scheme, path escape…).
    #[error("{0}")]
    BadRequest(String),
    /// The prompt does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The prompt exists but cannot be fetched or decoded.
    #[error("{0}")]
    Unplayable(String),
    /// `transfer` to a name no endpoint has.
    #[error("Endpoint Does Not Exist")]
    UnknownEndpoint,
    /// `transfer` to an endpoint that is not a SIP destination.
    #[error("Endpoint Can Not Be Flow API")]
    NotSipEndpoint,
    /// `stop` (or pause, resume) named a component that is not running.
    #[error("no such request")]
    NoSuchRequest,
    /// Stopped by [`crate::Command::Stop`].
    #[error("stopped")]
    Stopped,
    /// The call ended (or left the controller, e.g. after a transfer) while
    /// the request was queued or running, or before it arrived.
    #[error("call ended")]
    CallEnded,
    /// The component's slot is taken and the call refuses to replace it
    /// ([`crate::SlotPolicy::Refuse`]), or the resource is in use.
    #[error("{0}")]
    Conflict(String),
    /// The other side refused what the command sent (a REFER's 403…), with
    /// its SIP status.
    #[error("refused with {0}")]
    Refused(u16),
    /// The server does not do this (yet).
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// Something failed inside the server; the call may be unusable.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a call ended, as far as its controller is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller (or, on a dialed call, the called party) hung up or cancelled.
    CallerHangup,
    /// The controller hung up ([`crate::Command::Hangup`]).
    Hangup,
    /// The controller rejected the call ([`crate::Command::Reject`]).
    Rejected,
    /// Sent elsewhere by SIP ([`crate::Command::Redirect`]).
    Redirected,
    /// Handed to another endpoint ([`crate::Command::Transfer`]); the call
    /// goes on without this controller.
    Transferred,
    /// A dialed call's far end was busy (486, 600).
    Busy,
    /// A dialed call's far end declined (603 and other refusals).
    Declined,
    /// A dialed call was not answered in time.
    Timeout,
    /// A dialed call failed at the far end or on the way (5xx…).
    Failed,
    /// The server is shutting down.
    Shutdown,
    /// Signalling or media failed.
    Error(String),
}

/// What a call tells its controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A component is running (always before its `Done`; a component that
    /// fails to start gets only `Done`).
    Started {
        /// The component's (request's) id.
        id: RequestId,
    },
    /// A request has finished, one way or another: its one final event.
    /// For a component this is its completion: `Ok` finished, `Stopped`
    /// stopped, `CallEnded` hung up, any other error failed.
    Done {
        /// The request's id.
        id: RequestId,
        /// Its result.
        result: Result<Output, Failure>,
    },
    /// A prompt's announcement ended without barge-in and its input's
    /// timers started.
    InputTimersStarted {
        /// The prompt's id.
        id: RequestId,
    },
    /// An analysis found a signal that does not end it.
    Signal {
        /// The analysis's id.
        id: RequestId,
        /// What it found.
        signal: Signal,
    },
    /// The far end of a dialed call is ringing.
    Ringing {
        /// Headers of the provisional response.
        headers: Headers,
    },
    /// The call was answered (by the far end of a dialed call, or by us).
    Answered {
        /// Headers of the 200.
        headers: Headers,
    },
    /// A DTMF digit arrived (sent while the controller subscribed with
    /// [`crate::Command::DtmfEvents`]).
    Dtmf {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The call's media is joined to `target`.
    Joined {
        /// The other call or mixer.
        target: JoinTarget,
        /// Which way media flows.
        direction: JoinDirection,
    },
    /// A join is over.
    Unjoined {
        /// The other call or mixer.
        target: JoinTarget,
    },
    /// The party started (`true`) or stopped speaking in a mixer the call
    /// is joined to: the mixer's voice activity, reported once per change,
    /// so a controller can show the active speaker.
    Speaking {
        /// The mixer's name.
        mixer: String,
        /// Speech started (`true`) or ended.
        speaking: bool,
    },
    /// The call is over for this controller; only `Done(Err(CallEnded))`
    /// answers to requests made afterwards may follow.
    Ended {
        /// Why.
        reason: EndReason,
        /// The SIP status that ended it, when one did (a dialed call's 486…).
        code: Option<u16>,
        /// Headers of the SIP message that ended it.
        headers: Headers,
    },
}
