//! The one vocabulary in which calls are controlled.
//!
//! Agent RPC and Rayo are thin adapters over this model (DESIGN.md, "call-
//! control API"): an adapter turns its wire request into a [`Request`]
//! (a [`Command`] plus an id it chooses), hands it to the call's actor, and
//! renders the [`Event`]s that come back. Every request gets exactly one
//! [`Event::Done`] with its id, whether it finished, failed, was stopped or
//! the call ended under it, so an adapter never waits on a request that
//! will not complete.
//!
//! The crate is sans-IO: no sockets, no clocks, no runtime. Time enters as
//! `Instant`s passed in ([`DtmfCollector`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod dtmf;

pub use dtmf::{DtmfCollector, DtmfEnd};

use std::time::Duration;

/// An adapter's id for one request on one call; echoed in its [`Event::Done`].
pub type RequestId = u64;

/// What the controller learns about a new call when it is offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// User part of the From URI.
    pub from: String,
    /// User part of the To URI.
    pub to: String,
    /// The INVITE's headers, in order (name as received, value).
    pub headers: Vec<(String, String)>,
}

/// A command for one call, with the id its completion will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Chosen by the adapter; unique among the call's running requests.
    pub id: RequestId,
    /// What to do.
    pub command: Command,
}

/// What a controller can ask of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send 180 Ringing (before answer; a no-op after).
    Ring,
    /// Answer with 200 and our SDP. Media runs until the call ends.
    Answer,
    /// Refuse the call before answer with a 4xx–6xx `code`.
    Reject {
        /// SIP status.
        code: u16,
        /// Reason phrase; the status's standard one when `None`.
        reason: Option<String>,
    },
    /// End the call: BYE after answer, 480 before.
    Hangup,
    /// Hand the caller to a configured SIP endpoint: before answer the call
    /// is routed there like any B2BUA call; after answer the answered caller
    /// is bridged to a new outbound leg without a second 200. The
    /// controller's part in the call ends with [`Event::Ended`].
    Redirect {
        /// Endpoint name.
        endpoint: String,
    },
    /// Play a prompt to the caller; done when it has been sent.
    Play(Play),
    /// Collect DTMF digits.
    CollectDtmf(CollectDtmf),
    /// Capture the caller's audio.
    Listen(Listen),
    /// Send the caller's audio back to the caller until the call ends or
    /// the request is stopped.
    Echo,
    /// Stop a running request; that request completes with
    /// [`Failure::Stopped`], this one with [`Output::None`] (or
    /// [`Failure::NoSuchRequest`]).
    Stop {
        /// The request to stop.
        target: RequestId,
    },
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
    /// Captured audio: signed 16-bit mono samples at `sample_rate`.
    Audio {
        /// The samples; silence fills gaps where no packet arrived.
        samples: Vec<i16>,
        /// Samples per second (8000 for G.711).
        sample_rate: u32,
    },
}

/// Why a request did not complete normally. Every variant leaves the call
/// as it was unless it says otherwise.
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
    /// `redirect` to a name no endpoint has.
    #[error("Endpoint Does Not Exist")]
    UnknownEndpoint,
    /// `redirect` to an endpoint that is not a SIP destination.
    #[error("Endpoint Can Not Be Flow API")]
    NotSipEndpoint,
    /// `stop` named a request that is not running.
    #[error("no such request")]
    NoSuchRequest,
    /// Stopped by [`Command::Stop`].
    #[error("stopped")]
    Stopped,
    /// The call ended (or left the controller, e.g. after a redirect) while
    /// the request was queued or running.
    #[error("call ended")]
    CallEnded,
    /// Something failed inside the server; the call may be unusable.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a call ended, as far as its controller is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up or cancelled.
    CallerHangup,
    /// The controller asked ([`Command::Hangup`] or [`Command::Reject`]).
    Hangup,
    /// Handed to another endpoint ([`Command::Redirect`]); the call goes on
    /// without this controller.
    Redirected,
    /// The server is shutting down.
    Shutdown,
    /// Signalling or media failed.
    Error(String),
}

/// What a call tells its controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request has finished, one way or another.
    Done {
        /// The request's id.
        id: RequestId,
        /// Its result.
        result: Result<Output, Failure>,
    },
    /// A DTMF digit arrived (whether or not a collection is running).
    Dtmf {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The call is over for this controller; no further event follows.
    Ended {
        /// Why.
        reason: EndReason,
    },
}
