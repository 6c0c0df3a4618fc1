//! The one vocabulary in which calls are controlled, and the rules every
//! controlled call follows.
//!
//! Agent RPC and Rayo are thin adapters over this model (DESIGN.md, "call-
//! control API"): an adapter turns its wire request into a [`Request`]
//! (a [`Command`] plus an id it chooses), hands it to the call's actor, and
//! renders the [`Event`]s that come back. Every request gets exactly one
//! [`Event::Done`] with its id, whether it finished, failed, was stopped or
//! the call ended under it, so an adapter never waits on a request that
//! will not complete. Components (play, collect, listen, echo) are requests
//! that run: [`Event::Started`] when they run, then their `Done`.
//!
//! [`CallRules`] is the call's lifecycle as a state machine: the actor feeds
//! it requests and facts and carries out the [`Action`]s it returns.
//!
//! The crate is sans-IO: no sockets, no clocks, no runtime. Time enters as
//! `Instant`s passed in.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod command;
mod components;
mod dtmf;
mod event;
mod input;
mod rules;

pub use command::{
    CollectDtmf, Command, DialRequest, Headers, Join, JoinDirection, JoinTarget, Listen, Play,
    Request, Slot,
};
pub use components::{
    Adjustment, Analysis, Announcement, AnnouncementEnd, DigitGrammar, DigitMatcher,
    GrammarProgress, GrammarRef, Input, InputOutcome, Prompt, Record, RecordDirection, RecordEnd,
    RecordFormat, Recording, Segment, Signal, SignalKind,
};
pub use dtmf::{DtmfCollector, DtmfEnd};
pub use event::{EndReason, Event, Failure, Output};
pub use input::InputCollector;
pub use rules::{Action, CallRules, SlotPolicy, LISTEN_SLACK};

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
