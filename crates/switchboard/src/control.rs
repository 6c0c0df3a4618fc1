//! Where call actors meet their controllers (agents now, Rayo clients next).
//!
//! The model itself (commands, events) is the `call-control` crate; this
//! module holds the tokio side of it:
//!
//! - a call takes [`call_control::Request`]s through its own bounded queue
//!   ([`CallHandle`]); a controller `try_send`s, so a stuck call makes the
//!   controller answer "busy" (429) instead of stalling it;
//! - a call sends its [`call_control::Event`]s to its controller's queue
//!   ([`EventSink`]), shared by all calls of that controller (one agent
//!   connection carries many calls) and waited on with a bound, so a dead
//!   controller never stalls a call for long;
//! - a new call is [`Offer`]ed to a controller; the offer resolves to
//!   [`Offered::Taken`] with the sink to report to, or
//!   [`Offered::Declined`] with the SIP code the caller gets.

use std::time::Duration;

use call_control::{CallInfo, Event, Request};
use tokio::sync::mpsc;

use crate::calls::CallKey;

/// Requests that may wait in one call's queue.
pub const CALL_COMMAND_QUEUE: usize = 64;

/// Events that may wait in one controller's queue, for all its calls.
pub const CONTROLLER_EVENT_QUEUE: usize = 4096;

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

/// Where one call's events go: its controller's queue, tagged with the call.
#[derive(Debug, Clone)]
pub struct EventSink {
    call: CallKey,
    events: mpsc::Sender<(CallKey, Event)>,
}

impl EventSink {
    /// A sink for `call` into a controller's queue.
    pub fn new(call: CallKey, events: mpsc::Sender<(CallKey, Event)>) -> EventSink {
        EventSink { call, events }
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

/// A new call looking for a controller.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The controller endpoint the route chose (an `agent` endpoint's name).
    pub endpoint: String,
    /// What the controller is told about the call.
    pub info: CallInfo,
    /// How the controller reaches the call once it takes it.
    pub call: CallHandle,
}

/// How an offer ended.
#[derive(Debug)]
pub enum Offered {
    /// A controller took the call and hears from it through this sink.
    Taken(EventSink),
    /// Nobody took it: the caller gets `code` (e.g. the agent's 486, or 480
    /// when no agent is connected or none answered in time).
    Declined {
        /// SIP status for the caller.
        code: u16,
        /// Reason phrase; the standard one when `None`.
        reason: Option<String>,
    },
}
