//! Where call actors meet their controllers, whatever the protocol (Agent
//! RPC agents, Rayo clients).
//!
//! The model itself (commands, events) is the `call-control` crate; this
//! module holds the tokio side of it, shared by every adapter:
//!
//! - a call takes [`call_control::Request`]s through its own bounded queue
//!   ([`CallHandle`]); a controller `try_send`s, so a stuck call makes the
//!   controller answer "busy" (429) instead of stalling it;
//! - a call sends its [`call_control::Event`]s to its controller's queue
//!   ([`EventSink`]), shared by all calls of that controller (one agent
//!   connection carries many calls) and waited on with a bound, so a dead
//!   controller never stalls a call for long;
//! - a new call is [`Offer`]ed to the [`ControllerPool`] of the endpoint its
//!   route chose, through the [`Controllers`] registry. The offer driver
//!   ([`run_offer`]) applies the pool's [`OfferPolicy`], the offer timeout and
//!   fail-over, and resolves to [`Offered::Taken`] with the sink to report
//!   to, or [`Offered::Declined`] with the SIP code the caller gets. A pool
//!   only says who is available and how to hand one of them an
//!   [`Invitation`];
//! - a controller that goes away leaves its calls to [`hang_up_after_grace`]:
//!   their events are drained for a grace period, then each is hung up;
//!   [`watch_call`] reports a call that vanished without its `Ended`.

mod grace;
mod offer;
mod pool;
#[cfg(test)]
mod tests;

pub use grace::{hang_up_after_grace, watch_call, OrphanCall};
pub use offer::{
    run as run_offer, ControllerId, Invitation, Offer, OfferPolicy, OfferTerms, Offered, Withdrawn,
};
pub use pool::{ControllerKind, ControllerPool, Controllers, Rotation, NO_CONTROLLER};

use std::time::Duration;

use call_control::{Event, Request, SlotPolicy};
use tokio::sync::mpsc;

use crate::calls::CallKey;

/// Requests that may wait in one call's queue.
pub const CALL_COMMAND_QUEUE: usize = 64;

/// Events that may wait in one controller's queue, for all its calls.
pub const CONTROLLER_EVENT_QUEUE: usize = 4096;

/// How long a taken call may stay unanswered when the pool says nothing.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

/// Longest a call waits for room in its controller's queue before it drops
/// the event and carries on.
pub const EVENT_SEND_WAIT: Duration = Duration::from_secs(2);

/// How to reach one call with commands.
#[derive(Debug, Clone)]
pub struct CallHandle {
    /// The call.
    pub key: CallKey,
    /// Its command queue.
    pub commands: mpsc::Sender<Request>,
}

/// Where one call's events go: its controller's queue, tagged with the call,
/// how long that controller gives the call to be answered, and what its
/// protocol wants of a component started in a busy slot.
#[derive(Debug, Clone)]
pub struct EventSink {
    call: CallKey,
    events: mpsc::Sender<(CallKey, Event)>,
    answer_timeout: Duration,
    slot_policy: SlotPolicy,
    early_media: bool,
}

impl EventSink {
    /// A sink for `call` into a controller's queue, with the default answer
    /// timeout ([`DEFAULT_ANSWER_TIMEOUT`]) until the offer sets the pool's.
    pub fn new(call: CallKey, events: mpsc::Sender<(CallKey, Event)>) -> EventSink {
        EventSink {
            call,
            events,
            answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            slot_policy: SlotPolicy::Replace,
            early_media: false,
        }
    }

    /// The same sink for a controller whose protocol lets a component
    /// started before answer bring up early media itself (Rayo: XEP-0327
    /// §6.3; Agent RPC refuses it with "call not answered").
    pub fn with_early_media(mut self, on: bool) -> EventSink {
        self.early_media = on;
        self
    }

    /// Whether a component before answer starts early media.
    pub fn early_media(&self) -> bool {
        self.early_media
    }

    /// The same sink for a controller whose protocol refuses (Rayo) rather
    /// than replaces (Agent RPC, the default) a component in a busy slot.
    pub fn with_slot_policy(mut self, slot_policy: SlotPolicy) -> EventSink {
        self.slot_policy = slot_policy;
        self
    }

    /// What the call does with a component whose slot is taken, once this
    /// controller has it.
    pub fn slot_policy(&self) -> SlotPolicy {
        self.slot_policy
    }

    /// The same sink with the controller pool's answer timeout.
    pub fn with_answer_timeout(mut self, answer_timeout: Duration) -> EventSink {
        self.answer_timeout = answer_timeout;
        self
    }

    /// How long the call may stay unanswered once taken, before the caller
    /// is released.
    pub fn answer_timeout(&self) -> Duration {
        self.answer_timeout
    }

    /// Delivers `event`, waiting at most [`EVENT_SEND_WAIT`] for room;
    /// `false` when the controller is gone or stuck (the event is lost).
    pub async fn send(&self, event: Event) -> bool {
        self.events
            .send_timeout((self.call, event), EVENT_SEND_WAIT)
            .await
            .is_ok()
    }
}
