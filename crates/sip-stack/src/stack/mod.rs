//! [`SipStack`]: the sans-IO engine a transport driver runs.
//!
//! Inputs are parsed messages (or raw datagrams), timer expiries and user
//! commands, each with an explicit `now`; outputs are [`Output`]s pulled with
//! [`SipStack::poll_output`] and the next deadline from
//! [`SipStack::poll_timeout`]. There is no "arm timer"/"cancel timer" output:
//! the stack keeps every transaction and dialog timer itself, and the driver
//! only needs to call [`SipStack::handle_timeout`] at the earliest deadline
//! (calling it early or late is harmless; a wake-up may find nothing due).
//!
//! Decisions the stack takes on its own, so that users cannot get them wrong:
//!
//! - 100 Trying to every new INVITE, at once.
//! - Retransmitted requests never reach the user: they are answered from the
//!   transaction (last response) or dropped.
//! - CANCEL: 200 to the CANCEL and 487 to the INVITE, then a
//!   [`StackEvent::Cancelled`]; a CANCEL matching nothing gets 481.
//! - In-dialog requests (To tag present) matching no dialog get 481; an
//!   out-of-order CSeq gets 500; a re-INVITE while our previous 2xx awaits its
//!   ACK gets 500 with Retry-After (§14.2). None of these reach the user.
//! - ACK for a non-2xx is absorbed by the INVITE transaction; ACK matching
//!   nothing is dropped silently.
//! - Past [`StackConfig::max_transactions`] new requests get a stateless 503.
//! - ACK for a 2xx is sent automatically when the INVITE carried a body (the
//!   offer/answer exchange is complete). When the INVITE had no body the 2xx
//!   carries the offer and the ACK must carry the answer, so the user sends it
//!   with [`SipStack::send_ack`]. Retransmitted 2xx are re-ACKed by the stack.
//!
//! Responses are routed per RFC 3261 §18.2.2 and RFC 3581: on reliable
//! transports over the connection the request came on; on UDP to the source
//! IP (stamped as `received`), and to the source port when the top Via asked
//! for `rport`, else to the Via port.

mod commands;
mod events;
mod inbound;
mod machines;
mod stats;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sip::{Host, Message, Request, TypedHeaders};

pub use events::{
    ClientTransactionId, DialogEndReason, Output, ServerTransactionId, StackError, StackEvent,
    TransactionId, Transmit,
};
pub use stats::{MethodCounts, StackStats, StatusCounts};

use crate::dialog::{Dialog, DialogId};
use crate::transaction::matching::{ClientKey, ServerKey};
use crate::transport::{ConnectionId, Destination, TimerConfig, Transport};
use machines::{ClientEntry, ServerEntry};
use timers::{TimerOwner, TimerQueue};

/// Settings of a [`SipStack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Host written as sent-by in the Via of requests we send (our address or name).
    pub via_host: Host,
    /// Port written as sent-by (`None` leaves it out: 5060).
    pub via_port: Option<u16>,
    /// Bound on live transactions; new requests past it get 503.
    pub max_transactions: usize,
    /// How long an INVITE may go unanswered before the stack answers 408.
    pub ring_limit: Duration,
    /// Seed for branches and tags (tests); `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl StackConfig {
    /// Defaults: RFC timers, 100 000 transactions, 5 minute ring limit.
    pub fn new(via_host: Host, via_port: Option<u16>) -> StackConfig {
        StackConfig {
            timers: TimerConfig::default(),
            via_host,
            via_port,
            max_transactions: 100_000,
            ring_limit: Duration::from_secs(300),
            seed: None,
        }
    }
}

/// A dialog plus the deadline it is queued under.
#[derive(Debug)]
struct DialogEntry {
    dialog: Dialog,
    scheduled: Option<Instant>,
}

/// The SIP transaction and dialog engine (see the module doc).
#[derive(Debug)]
pub struct SipStack {
    config: StackConfig,
    rng: StdRng,
    next_id: u64,
    clients: HashMap<u64, ClientEntry>,
    client_keys: HashMap<ClientKey, u64>,
    servers: HashMap<u64, ServerEntry>,
    server_keys: HashMap<ServerKey, u64>,
    dialogs: HashMap<DialogId, DialogEntry>,
    /// Every transaction and dialog deadline.
    timers: TimerQueue,
    outputs: VecDeque<Output>,
    /// Message counters for metrics.
    stats: StackStats,
}

impl SipStack {
    /// A stack with no transactions or dialogs.
    pub fn new(config: StackConfig) -> SipStack {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => rand::make_rng(),
        };
        SipStack {
            config,
            rng,
            next_id: 1,
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            dialogs: HashMap::new(),
            timers: TimerQueue::default(),
            outputs: VecDeque::new(),
            stats: StackStats::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// Feeds a message the driver parsed. `connection` is the connection it
    /// arrived on, for reliable transports.
    pub fn handle_message(
        &mut self,
        now: Instant,
        message: Message,
        source: SocketAddr,
        transport: Transport,
        connection: Option<ConnectionId>,
    ) {
        match message {
            Message::Request(request) => {
                self.stats.requests_received.add(&request.method);
                self.on_request(now, request, source, transport, connection)
            }
            Message::Response(response) => {
                self.stats.responses_received.add(response.status);
                self.on_response(now, response)
            }
        }
    }

    /// Feeds one datagram (or one framed stream message). Unparseable
    /// requests are answered with the status the parser chose (400, 505, …)
    /// when they carry enough to route a response; anything else is dropped.
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
        connection: Option<ConnectionId>,
    ) {
        match sip::parse_datagram(bytes) {
            Ok(message) => self.handle_message(now, message, source, transport, connection),
            Err(error) => {
                tracing::debug!(%source, %error, "unparseable SIP message");
                if let Some(response) = sip::error_response(bytes, &error) {
                    let destination = inbound::response_destination(
                        response.headers.top_via().ok().as_ref(),
                        source,
                        transport,
                        connection,
                    );
                    self.transmit(destination, response.to_bytes());
                }
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, owner)) = self.timers.pop_due(now) {
            match owner {
                TimerOwner::Client(id) => self.client_timer(now, at, id),
                TimerOwner::Server(id) => self.server_timer(now, at, id),
                TimerOwner::Dialog(id) => self.dialog_timer(now, at, *id),
            }
        }
    }

    /// The next output, if any. Drain it after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest pending deadline: call [`SipStack::handle_timeout`] then.
    /// `None` when nothing is pending.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.timers.first()
    }

    /// A dialog, for inspection (route set, remote target, CSeq).
    pub fn dialog(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id).map(|e| &e.dialog)
    }

    /// Number of live dialogs.
    pub fn dialog_count(&self) -> usize {
        self.dialogs.len()
    }

    /// Number of live transactions, client and server.
    pub fn transaction_count(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Puts `host` and `port` in the Via (and Call-ID host) of requests
    /// sent from now on: a reload that moves the first listener calls it,
    /// so responses to new requests come back where it listens now.
    /// Transactions already running keep their Via.
    pub fn set_via(&mut self, host: Host, port: Option<u16>) {
        self.config.via_host = host;
        self.config.via_port = port;
    }

    /// A copy of the message counters, with the transactions and dialogs
    /// alive now: cheap (a few hundred bytes), for a driver to publish.
    pub fn stats(&self) -> StackStats {
        StackStats {
            transactions: self.transaction_count() as u64,
            dialogs: self.dialogs.len() as u64,
            ..self.stats
        }
    }

    /// The request a server transaction answers (with `received`/`rport` stamped).
    pub fn server_request(&self, transaction: ServerTransactionId) -> Option<&Request> {
        self.servers.get(&transaction.0).map(|e| &e.request)
    }

    // ---- internals shared by the submodules ----

    fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn transmit(&mut self, destination: Destination, bytes: Vec<u8>) {
        self.stats.count_sent(&bytes);
        self.outputs
            .push_back(Output::Transmit(Transmit::new(destination, bytes)));
    }

    /// Sends bytes that repeat an earlier transmission.
    fn retransmit(&mut self, destination: Destination, bytes: Vec<u8>) {
        self.stats.retransmissions_sent += 1;
        self.transmit(destination, bytes);
    }

    fn emit(&mut self, event: StackEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn new_branch(&mut self) -> String {
        format!("{}{:016x}", sip::headers::BRANCH_MAGIC, self.rng.next_u64())
    }

    /// Our Via for a new request over `transport`, with a fresh branch (also returned).
    fn our_via(&mut self, transport: Transport) -> (String, String) {
        let branch = self.new_branch();
        let port = self
            .config
            .via_port
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let via = format!(
            "SIP/2.0/{} {}{port};branch={branch};rport",
            transport.via_token(),
            self.config.via_host
        );
        (via, branch)
    }

    fn new_tag(&mut self) -> String {
        format!("{:012x}", self.rng.next_u64() & 0xffff_ffff_ffff)
    }

    fn new_call_id(&mut self) -> String {
        format!(
            "{:016x}{:016x}@{}",
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.config.via_host
        )
    }

    fn at_capacity(&self) -> bool {
        self.transaction_count() >= self.config.max_transactions
    }

    /// Re-queues a dialog's timer after its state changed.
    fn schedule_dialog(&mut self, id: &DialogId) {
        let Some(entry) = self.dialogs.get_mut(id) else {
            return;
        };
        let next = entry.dialog.next_deadline();
        if next != entry.scheduled {
            let owner = TimerOwner::Dialog(Box::new(id.clone()));
            self.timers.schedule(owner, &mut entry.scheduled, next);
        }
    }

    /// Drops a dialog and its queued deadline.
    fn remove_dialog(&mut self, id: &DialogId) -> Option<DialogEntry> {
        let mut entry = self.dialogs.remove(id)?;
        if entry.scheduled.is_some() {
            let owner = TimerOwner::Dialog(Box::new(id.clone()));
            self.timers.schedule(owner, &mut entry.scheduled, None);
        }
        Some(entry)
    }

    fn dialog_timer(&mut self, now: Instant, at: Instant, id: DialogId) {
        let Some(entry) = self.dialogs.get_mut(&id) else {
            return;
        };
        if entry.scheduled != Some(at) {
            return;
        }
        entry.scheduled = None;
        match entry.dialog.on_timer(now) {
            Some(crate::dialog::DialogTimerAction::Retransmit(bytes, destination)) => {
                self.retransmit(destination, bytes);
                self.schedule_dialog(&id);
            }
            Some(crate::dialog::DialogTimerAction::AckTimeout) => self.end_unacknowledged(now, id),
            None => self.schedule_dialog(&id),
        }
    }

    /// §13.3.1.4: no ACK for our 2xx; hang up with BYE and drop the dialog.
    fn end_unacknowledged(&mut self, now: Instant, id: DialogId) {
        let Some(mut entry) = self.remove_dialog(&id) else {
            return;
        };
        let bye = entry.dialog.new_request(sip::Method::Bye);
        let destination = entry.dialog.next_hop();
        if let Err(error) = self.start_client(now, bye, destination, machines::Owner::Stack, None) {
            tracing::warn!(?error, "could not send BYE after ACK timeout");
        }
        self.emit(StackEvent::DialogTerminated {
            dialog: id,
            reason: DialogEndReason::AckTimeout,
        });
    }
}
