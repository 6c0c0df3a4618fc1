//! Call actors and their link to the SIP driver.
//!
//! Each call is one tokio task that owns everything about it: its legs,
//! their RTP sessions, the bridge between them (DESIGN.md, "call actors").
//! The SIP stack stays in the driver task; a call talks to it only through
//! two bounded channels:
//!
//! - [`SipCommand`]s from calls to the driver (respond, send a request,
//!   cancel). A call awaits room in that queue; the driver drains it on
//!   every turn, so the wait is short and never circular.
//! - [`SipEvent`]s from the driver to one call. The driver `try_send`s: it
//!   never waits on a call. A call whose queue is full (stuck) loses the
//!   event; requests in it are answered 503 by the driver so the peer is
//!   not left retransmitting.
//!
//! The driver routes stack events to calls by Call-ID (both legs' Call-IDs
//! are registered, see [`CallRoutes`]) and, for events that carry only a
//! transaction (timeouts, transport errors), by transaction.

pub mod call;
mod dial;
pub mod join;
mod legs;
pub mod mixer;
pub mod mixers;
pub mod registry;
pub mod totals;
mod uac;

pub use dial::{DialError, DialedCall, DEFAULT_DIAL_TIMEOUT};
pub use registry::{CallRegistry, RegisteredCall, Registration, RegistryError};
pub use uac::header_uri;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use sip::{Request, Response};
use sip_stack::dialog::DialogId;
use sip_stack::transport::Destination;
use sip_stack::{ClientTransactionId, ServerTransactionId, StackError, TransactionId};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::media::ports::RtpPortPool;

/// Events one call may have queued before the driver starts dropping them.
pub const CALL_EVENT_QUEUE: usize = 64;

/// Commands from all calls that may wait for the driver.
pub const SIP_COMMAND_QUEUE: usize = 4096;

/// Identifies a call inside this process.
pub type CallKey = u64;

/// What a call asks of the SIP stack.
#[derive(Debug)]
pub enum SipCommand {
    /// Answer a request the call received.
    Respond {
        /// The server transaction.
        transaction: ServerTransactionId,
        /// The response (build it with `make_response`).
        response: Response,
    },
    /// Send a request outside any dialog (an outbound INVITE). The call
    /// must have set its Call-ID, From tag and CSeq, and registered the
    /// Call-ID with [`SipCommand::Route`] first.
    Send {
        /// The requesting call.
        call: CallKey,
        /// The request.
        request: Request,
        /// Where to send it.
        destination: Destination,
        /// The client transaction, or why the stack refused.
        reply: oneshot::Sender<Result<ClientTransactionId, StackError>>,
    },
    /// Send a request inside a dialog; the stack fills Request-URI, route
    /// set, tags and CSeq.
    SendInDialog {
        /// The requesting call.
        call: CallKey,
        /// The dialog.
        dialog: DialogId,
        /// The method (BYE, INVITE, …).
        method: sip::Method,
        /// Extra headers.
        headers: Vec<(sip::HeaderName, String)>,
        /// A controller's headers, appended as given (the call checked
        /// that the names are tokens and the values single lines).
        extra: Vec<(String, String)>,
        /// Body and its content type.
        body: Option<(String, Vec<u8>)>,
        /// The client transaction, or why the stack refused.
        reply: oneshot::Sender<Result<ClientTransactionId, StackError>>,
    },
    /// Cancel an INVITE we sent.
    Cancel {
        /// Its client transaction.
        transaction: ClientTransactionId,
    },
    /// Route SIP traffic with this Call-ID to the call.
    Route {
        /// The call.
        call: CallKey,
        /// The Call-ID.
        call_id: String,
    },
    /// A call that begins with a request of ours (a dialed call): route
    /// traffic with `call_id` to `events`, and reply with the call's key.
    /// No reply (the sender dropped) when the server is shutting down.
    Register {
        /// The Call-ID of the call's first request.
        call_id: String,
        /// The call's event queue.
        events: mpsc::Sender<SipEvent>,
        /// The new call's key.
        reply: oneshot::Sender<CallKey>,
    },
    /// The call has ended: forget its routes.
    Ended {
        /// The call.
        call: CallKey,
    },
}

/// What the driver tells a call.
#[derive(Debug)]
pub enum SipEvent {
    /// A request for one of the call's Call-IDs (not a retransmission).
    Request {
        /// Answer it on this transaction.
        transaction: ServerTransactionId,
        /// The request (boxed: a call's event queue is allocated for its
        /// capacity up front, so small events keep calls small).
        request: Box<Request>,
        /// Its dialog, for in-dialog requests.
        dialog: Option<DialogId>,
    },
    /// The ACK for a 2xx the call sent.
    Ack {
        /// The dialog it confirms.
        dialog: DialogId,
        /// The ACK (carries the answer when our 2xx made the offer).
        request: Box<Request>,
    },
    /// The caller cancelled the INVITE; the stack answered it 487.
    Cancelled {
        /// The INVITE's server transaction.
        transaction: ServerTransactionId,
    },
    /// A response to a request the call sent.
    Response {
        /// The client transaction.
        transaction: ClientTransactionId,
        /// The response.
        response: Box<Response>,
        /// The dialog a 2xx created or belongs to.
        dialog: Option<DialogId>,
    },
    /// A transaction gave up (no response, no ACK, never answered).
    Timeout {
        /// Which.
        transaction: TransactionId,
    },
    /// A transport failed under a transaction.
    TransportError {
        /// Which.
        transaction: TransactionId,
    },
    /// The stack ended a dialog itself (our 2xx was never acknowledged).
    DialogTerminated {
        /// Which.
        dialog: DialogId,
    },
    /// The server is shutting down: end the call now.
    Shutdown,
}

/// What every call needs from the server, shared.
#[derive(Debug)]
pub struct CallContext {
    /// The validated config (endpoints, routes).
    pub config: Arc<Config>,
    /// Commands to the SIP driver.
    pub sip: mpsc::Sender<SipCommand>,
    /// RTP ports.
    pub ports: Arc<RtpPortPool>,
    /// Address written in our SDP (`c=`).
    pub media_ip: IpAddr,
    /// Our Contact header value (`<sip:switchboard@host:port>`).
    pub contact: String,
    /// Host for Call-IDs and From URIs we generate.
    pub local_host: String,
    /// `Server`/`User-Agent` header value.
    pub user_agent: String,
    /// Where recordings go.
    pub recordings_dir: PathBuf,
    /// Whether a TCP listener exists, so TCP destinations can be used.
    pub tcp_available: bool,
    /// Offers calls to the controllers of their endpoint.
    pub controllers: crate::control::Controllers,
    /// Sends every controlled call's outbound RTP.
    pub pacer: crate::media::pacer::PacerHandle,
    /// Prompts, decoded once and shared.
    pub prompts: crate::media::prompts::Prompts,
    /// Text-to-speech, rendered once per text and shared.
    pub tts: crate::media::tts::Tts,
    /// Signs the URLs recordings are fetched from over HTTP.
    pub recording_urls: crate::http::RecordingUrls,
    /// Every controlled call by its controller-visible id.
    pub registry: CallRegistry,
    /// Every mixer by name.
    pub mixers: mixers::Mixers,
    /// The router dials go through, built on the first dial.
    pub router: std::sync::OnceLock<crate::router::Router>,
    /// Where a call hands its detail record as it ends.
    pub cdr: crate::cdr::CdrSink,
    /// Calls started, answered and finished, for `/metrics`.
    pub totals: Arc<totals::CallTotals>,
}

/// Why [`CallRoutes::deliver`] could not hand an event to its call.
#[derive(Debug)]
pub enum Undelivered {
    /// The call's queue is full: it is not keeping up.
    Full(Box<SipEvent>),
    /// The call has finished (a late retransmission or dialog end): nothing
    /// is lost.
    Gone(Box<SipEvent>),
}

impl Undelivered {
    /// The event that was not delivered.
    pub fn into_event(self) -> Box<SipEvent> {
        match self {
            Undelivered::Full(event) | Undelivered::Gone(event) => event,
        }
    }
}

/// The driver's tables from Call-IDs and transactions to calls.
#[derive(Debug, Default)]
pub struct CallRoutes {
    calls: HashMap<CallKey, CallEntry>,
    by_call_id: HashMap<String, CallKey>,
    clients: HashMap<ClientTransactionId, CallKey>,
    servers: HashMap<ServerTransactionId, CallKey>,
    next: CallKey,
}

#[derive(Debug)]
struct CallEntry {
    events: mpsc::Sender<SipEvent>,
    call_ids: Vec<String>,
    clients: Vec<ClientTransactionId>,
    servers: Vec<ServerTransactionId>,
}

impl CallRoutes {
    /// Registers a new call reachable by `call_id` and returns its key.
    pub fn insert(&mut self, call_id: &str, events: mpsc::Sender<SipEvent>) -> CallKey {
        self.next += 1;
        let key = self.next;
        self.calls.insert(
            key,
            CallEntry {
                events,
                call_ids: vec![call_id.to_string()],
                clients: Vec::new(),
                servers: Vec::new(),
            },
        );
        self.by_call_id.insert(call_id.to_string(), key);
        key
    }

    /// Live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// The calls' event queues, summed (for `/metrics`; O(calls), so
    /// sampled, not read per message).
    pub fn queue_load(&self) -> crate::http::metrics::queues::QueueLoad {
        let mut load = crate::http::metrics::queues::QueueLoad::default();
        for entry in self.calls.values() {
            load.add(&entry.events);
        }
        load
    }

    /// Whether no call is live.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The call owning `call_id`.
    pub fn by_call_id(&self, call_id: &str) -> Option<CallKey> {
        self.by_call_id.get(call_id).copied()
    }

    /// The call that sent `transaction`.
    pub fn by_client(&self, transaction: ClientTransactionId) -> Option<CallKey> {
        self.clients.get(&transaction).copied()
    }

    /// The call that received `transaction`.
    pub fn by_server(&self, transaction: ServerTransactionId) -> Option<CallKey> {
        self.servers.get(&transaction).copied()
    }

    /// Adds a Call-ID to a call.
    pub fn add_call_id(&mut self, call: CallKey, call_id: String) {
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.call_ids.push(call_id.clone());
            self.by_call_id.insert(call_id, call);
        }
    }

    /// Remembers that `call` sent `transaction`.
    pub fn add_client(&mut self, call: CallKey, transaction: ClientTransactionId) {
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.clients.push(transaction);
            self.clients.insert(transaction, call);
        }
    }

    /// Remembers that `call` received `transaction`.
    pub fn add_server(&mut self, call: CallKey, transaction: ServerTransactionId) {
        if let Some(entry) = self.calls.get_mut(&call) {
            entry.servers.push(transaction);
            self.servers.insert(transaction, call);
        }
    }

    /// Hands `event` to `call` without waiting; gives it back, saying
    /// whether the call is gone or its queue is full.
    pub fn deliver(&self, call: CallKey, event: SipEvent) -> Result<(), Undelivered> {
        let Some(entry) = self.calls.get(&call) else {
            return Err(Undelivered::Gone(Box::new(event)));
        };
        entry.events.try_send(event).map_err(|e| match e {
            mpsc::error::TrySendError::Full(event) => Undelivered::Full(Box::new(event)),
            mpsc::error::TrySendError::Closed(event) => Undelivered::Gone(Box::new(event)),
        })
    }

    /// Tells every call to end (shutdown).
    pub fn shutdown_all(&self) {
        for entry in self.calls.values() {
            let _ = entry.events.try_send(SipEvent::Shutdown);
        }
    }

    /// Forgets a call and everything routed to it.
    pub fn remove(&mut self, call: CallKey) {
        if let Some(entry) = self.calls.remove(&call) {
            for id in entry.call_ids {
                self.by_call_id.remove(&id);
            }
            for t in entry.clients {
                self.clients.remove(&t);
            }
            for t in entry.servers {
                self.servers.remove(&t);
            }
        }
    }
}

/// The address to send to for a SIP URI's host and port (default 5060);
/// names are resolved by the system resolver.
pub async fn resolve(uri: &sip::Uri) -> Option<SocketAddr> {
    let port = uri.port.unwrap_or(5060);
    match &uri.host {
        sip::Host::V4(a) => Some(SocketAddr::new(IpAddr::V4(*a), port)),
        sip::Host::V6(a) => Some(SocketAddr::new(IpAddr::V6(*a), port)),
        sip::Host::Domain(name) => {
            let lookup = tokio::net::lookup_host((name.as_str(), port));
            match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
                Ok(Ok(mut addrs)) => addrs.next(),
                _ => None,
            }
        }
    }
}
