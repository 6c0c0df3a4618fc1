//! The SIP driver: one task that owns the sans-IO [`SipStack`], feeds it what
//! the transports received and the timers it asked for, and carries out what
//! it emits. The stack never waits on a socket; this loop never blocks on one.
//!
//! It is also the switch between the stack and the call tasks
//! ([`crate::calls`]): new INVITEs the admission policy bridges start a call
//! task; every later event of that call's Call-IDs or transactions goes to
//! it; its commands come back here and are carried out on the stack.
//!
//! Overload: every [`SAMPLE_INTERVAL`] the driver samples its load for the
//! [`Governor`] ([`crate::overload`]); while it refuses, admission answers
//! a new INVITE 503 with `Retry-After` before routing or digest (no call
//! actor, no offer) and OPTIONS 503, so a proxy's health probe stops
//! sending here. Requests of calls already up are never refused for load.
//!
//! Shutdown: new INVITEs get 503 at once; running calls may finish on their
//! own for the drain period, then they are told to hang up; once they have
//! ended (or a short deadline passed) the driver lingers [`DRAIN_GRACE`] so
//! the last responses and retransmissions go out.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip::Method;
use sip_stack::transport::Destination;
use sip_stack::{make_response, Output, SipStack, StackEvent, TransactionId};
use tokio::sync::mpsc;

use crate::admission::{Admission, Admit};
use crate::calls::{
    self, CallContext, CallKey, CallRoutes, SipCommand, SipEvent, Undelivered, CALL_EVENT_QUEUE,
};
use crate::http::Readiness;
use crate::overload::{
    Decision, Governor, LoadSample, RefusalLog, PACER_BUSY, PACER_LATE, SAMPLE_INTERVAL,
};
use crate::transport::{Inbound, Transports};

/// Most inbound messages handled before the driver checks its timers again,
/// so a flood cannot starve retransmissions.
const BATCH: usize = 256;

/// How long a draining server keeps running so in-flight responses and
/// retransmissions complete.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long calls told to hang up at shutdown have to finish.
const HANGUP_WAIT: Duration = Duration::from_secs(3);

/// The `Retry-After` of the 503 a shutting-down server answers new INVITEs
/// with, in seconds: long enough for a proxy to pick another server.
const DRAIN_RETRY_AFTER: u32 = 30;

/// Load samples between two sums of the calls' event queues for
/// `/metrics` (once a second): the sum walks every call, a scrape comes
/// every few seconds, and the governor does not read it.
const CALL_EVENTS_EVERY: u32 = 10;

/// Where shutdown stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Calls may end on their own until the deadline.
    Draining,
    /// Calls were told to hang up; waiting for them until the deadline.
    HangingUp,
    /// Lingering for retransmissions until the deadline, then exit.
    Closing,
}
/// Owns the stack and the admission policy; see the module doc.
pub struct Driver {
    stack: SipStack,
    admission: Admission,
    transports: Transports,
    inbound: mpsc::Receiver<Inbound>,
    failures: mpsc::Receiver<Destination>,
    /// Listener name of the message being handled, for `match.transport`.
    listener: Arc<str>,
    draining: bool,
    calls: CallRoutes,
    commands: mpsc::Receiver<SipCommand>,
    context: Arc<CallContext>,
    /// How long running calls may go on after a shutdown signal.
    call_drain: Duration,
    /// Reloaded configs to put in force ([`crate::reload`]).
    reloads: Option<mpsc::Receiver<crate::reload::Swap>>,
    /// Whether new calls are taken, from measured load and `sip.max_calls`.
    governor: Governor,
    /// Refusals for load, logged once a second.
    refusals: RefusalLog,
    /// Calls whose full queue refused an event since the last sample.
    calls_behind: HashSet<CallKey>,
    /// Where the refusing state is published for `/readyz`.
    readiness: Option<Readiness>,
    /// Load samples taken, to sum the calls' event queues every
    /// [`CALL_EVENTS_EVERY`]th.
    samples: u32,
}

impl Driver {
    /// Wires a stack to its transports and to the calls it starts, which
    /// send their commands on `commands` (the sender is in `context`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stack: SipStack,
        admission: Admission,
        transports: Transports,
        inbound: mpsc::Receiver<Inbound>,
        failures: mpsc::Receiver<Destination>,
        commands: mpsc::Receiver<SipCommand>,
        context: Arc<CallContext>,
        call_drain: Duration,
    ) -> Driver {
        Driver {
            stack,
            admission,
            transports,
            inbound,
            failures,
            listener: Arc::from(""),
            draining: false,
            calls: CallRoutes::default(),
            commands,
            governor: Governor::new(context.config.sip.max_calls, fastrand::u64(..)),
            context,
            call_drain,
            reloads: None,
            refusals: RefusalLog::default(),
            calls_behind: HashSet::new(),
            readiness: None,
            samples: 0,
        }
    }

    /// Takes reloaded configs from `reloads` while it runs.
    pub fn with_reloads(mut self, reloads: mpsc::Receiver<crate::reload::Swap>) -> Driver {
        self.reloads = Some(reloads);
        self
    }

    /// Publishes, every sample, whether new calls are refused for load or
    /// `sip.max_calls`, so `/readyz` answers 503 meanwhile.
    pub fn report_load_to(&mut self, readiness: Readiness) {
        self.readiness = Some(readiness);
    }

    /// Runs until `shutdown` resolves, then answers new INVITEs 503 for a
    /// short grace period and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut phase = Phase::Running;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut sampling = tokio::time::interval(SAMPLE_INTERVAL);
        sampling.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Move through the shutdown phases as calls end.
            if matches!(phase, Phase::Draining | Phase::HangingUp) && self.calls.is_empty() {
                phase = Phase::Closing;
                deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            let timer = self
                .stack
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                _ = &mut shutdown, if phase == Phase::Running => {
                    tracing::info!(calls = self.calls.len(), "shutting down: new calls get 503");
                    self.draining = true;
                    phase = Phase::Draining;
                    deadline = Some(tokio::time::Instant::now() + self.call_drain);
                }
                _ = sleep_until(deadline) => match phase {
                    Phase::Draining => {
                        tracing::info!(calls = self.calls.len(), "drain period over: hanging up");
                        self.calls.shutdown_all();
                        phase = Phase::HangingUp;
                        deadline = Some(tokio::time::Instant::now() + HANGUP_WAIT);
                    }
                    Phase::HangingUp => {
                        phase = Phase::Closing;
                        deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                    }
                    Phase::Closing | Phase::Running => return,
                },
                Some(command) = self.commands.recv() => {
                    self.command(command);
                    for _ in 1..BATCH {
                        match self.commands.try_recv() {
                            Ok(command) => self.command(command),
                            Err(_) => break,
                        }
                    }
                    self.flush();
                }
                Some(swap) = next_reload(&mut self.reloads) => {
                    swap.apply(
                        &mut self.admission,
                        &mut self.context,
                        &mut self.transports,
                        &mut self.stack,
                    );
                }
                _ = sleep_until(timer) => {
                    self.stack.handle_timeout(Instant::now());
                    self.flush();
                }
                _ = sampling.tick() => self.sample_load(),
                Some(destination) = self.failures.recv() => {
                    self.stack.handle_transport_error(Instant::now(), destination);
                    self.flush();
                }
                item = self.inbound.recv() => {
                    let Some(item) = item else { return };
                    self.receive(item);
                    for _ in 1..BATCH {
                        match self.inbound.try_recv() {
                            Ok(item) => self.receive(item),
                            Err(_) => break,
                        }
                    }
                }
            }
        }
    }

    /// Feeds the governor one sample, publishes its verdict and logs what
    /// changed and what was refused.
    fn sample_load(&mut self) {
        let now = Instant::now();
        let (pacer_late_ticks, pacer_ticks) = self.context.pacer.late_ticks(PACER_LATE);
        let (pacer_busy_ticks, _) = self.context.pacer.busy_ticks(PACER_BUSY);
        let pacer_streams = self.context.pacer.streams();
        let load = LoadSample {
            inbound_queued: self.inbound.len(),
            inbound_capacity: self.inbound.max_capacity(),
            transactions: self.stack.transaction_count(),
            max_transactions: self.context.config.sip.max_transactions,
            pacer_ticks,
            pacer_late_ticks,
            pacer_busy_ticks,
            pacer_streams,
            calls_behind: self.calls_behind.len(),
        };
        self.calls_behind.clear();
        if self.samples.is_multiple_of(CALL_EVENTS_EVERY) {
            crate::http::metrics::queues::CALL_EVENTS.publish(self.calls.queue_load());
        }
        self.samples = self.samples.wrapping_add(1);
        // For /metrics, at the same pace rather than after every batch.
        crate::http::metrics::sip::publish(self.stack.stats());
        match self.governor.sample(now, &load) {
            Some(Some(pressure)) => {
                tracing::warn!(%pressure, ?load, "overloaded: new calls get 503")
            }
            Some(None) => tracing::info!(?load, "load back to normal: new calls taken"),
            None => {}
        }
        if let Some(readiness) = &self.readiness {
            readiness.set_overloaded(self.governor.refusing(self.calls.len()).is_some());
        }
        if let Some(summary) = self.refusals.summary(now) {
            tracing::warn!(
                invites = summary.invites,
                options = summary.options,
                reason = %summary.pressure,
                calls = self.calls.len(),
                "refused for load: 503"
            );
        }
    }

    fn receive(&mut self, item: Inbound) {
        self.listener = item.listener;
        self.stack.handle_message(
            Instant::now(),
            item.message,
            item.source,
            item.transport,
            Some(item.connection),
        );
        self.flush();
    }

    /// Carries out everything the stack has emitted.
    fn flush(&mut self) {
        while let Some(output) = self.stack.poll_output() {
            match output {
                Output::Transmit(t) => {
                    self.transports
                        .send(t.transport, t.connection, t.destination, t.bytes)
                }
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    /// Carries out one command of a call.
    fn command(&mut self, command: SipCommand) {
        let now = Instant::now();
        match command {
            SipCommand::Respond {
                transaction,
                response,
            } => {
                if let Err(error) = self.stack.respond(now, transaction, response) {
                    tracing::debug!(%error, "call's response refused by the stack");
                }
            }
            SipCommand::Send {
                call,
                request,
                destination,
                reply,
            } => {
                let result = self.stack.send_request(now, request, destination);
                if let Ok(transaction) = result {
                    self.calls.add_client(call, transaction);
                }
                let _ = reply.send(result);
            }
            SipCommand::SendInDialog {
                call,
                dialog,
                method,
                headers,
                extra,
                body,
                reply,
            } => {
                let result =
                    self.stack
                        .new_in_dialog_request(&dialog, method)
                        .and_then(|mut request| {
                            for (name, value) in headers {
                                request.headers.set(name, value);
                            }
                            for (name, value) in extra {
                                request.headers.push(name, value);
                            }
                            if let Some((content_type, body)) = body {
                                request.set_body(&content_type, body);
                            }
                            self.stack.send_in_dialog(now, &dialog, request)
                        });
                if let Ok(transaction) = result {
                    self.calls.add_client(call, transaction);
                }
                let _ = reply.send(result);
            }
            SipCommand::Cancel { transaction } => {
                if let Err(error) = self.stack.cancel(now, transaction) {
                    tracing::debug!(%error, "CANCEL not sent");
                }
            }
            SipCommand::Route { call, call_id } => self.calls.add_call_id(call, call_id),
            SipCommand::Register {
                call_id,
                events,
                reply,
            } => {
                if !self.draining {
                    let key = self.calls.insert(&call_id, events);
                    if reply.send(key).is_err() {
                        self.calls.remove(key);
                    }
                }
            }
            SipCommand::Ended { call } => self.calls.remove(call),
        }
    }

    fn on_event(&mut self, event: StackEvent) {
        match event {
            StackEvent::Request {
                transaction,
                request,
                source,
                dialog,
                ..
            } => {
                let call_id = request.call_id().unwrap_or_default().to_string();
                if let Some(call) = self.calls.by_call_id(&call_id) {
                    self.calls.add_server(call, transaction);
                    let event = SipEvent::Request {
                        transaction,
                        request: Box::new(request),
                        dialog,
                    };
                    if let Err(undelivered) = self.calls.deliver(call, event) {
                        if matches!(undelivered, Undelivered::Full(_)) {
                            self.calls_behind.insert(call);
                        }
                        if let SipEvent::Request { request, .. } = *undelivered.into_event() {
                            tracing::warn!(%call_id, "call not taking events; request answered 503");
                            let response = make_response(&request, 503);
                            let _ = self.stack.respond(Instant::now(), transaction, response);
                        }
                    }
                    return;
                }
                let span = tracing::info_span!("call", call_id = %call_id);
                let _guard = span.enter();
                tracing::debug!(method = %request.method, %source, "request");
                let now = Instant::now();
                let invite = request.method == Method::Invite;
                let admit = if self.draining && invite {
                    Admit::Respond(self.admission.unavailable(&request, DRAIN_RETRY_AFTER))
                } else {
                    // Load refuses only while running: a draining server
                    // answers INVITEs above and OPTIONS as usual.
                    let (governor, draining) = (&mut self.governor, self.draining);
                    let calls = self.calls.len();
                    let load = || {
                        if draining {
                            Decision::Admit
                        } else {
                            governor.admit_call(calls)
                        }
                    };
                    self.admission
                        .admit(now, &request, source, &self.listener, load)
                };
                let (response, recorded) = match admit {
                    Admit::Overloaded { response, pressure } => {
                        // Counted and logged once a second, not per
                        // request; no call record either: that is work
                        // the overloaded server has no time for.
                        self.refusals.refused(now, invite, pressure);
                        (response, false)
                    }
                    Admit::Respond(response) => {
                        tracing::info!(method = %request.method, status = response.status, "answered");
                        (response, self.context.cdr.is_enabled())
                    }
                    Admit::Bridge(bridge) => {
                        let (events_tx, events_rx) = mpsc::channel(CALL_EVENT_QUEUE);
                        let call = self.calls.insert(&call_id, events_tx);
                        self.calls.add_server(call, transaction);
                        tracing::info!(endpoint = %bridge.endpoint, dialed = %bridge.dialed, "bridging");
                        calls::call::spawn(
                            self.context.clone(),
                            call,
                            events_rx,
                            transaction,
                            request,
                            bridge,
                        );
                        return;
                    }
                    Admit::Ignore => return,
                };
                // A refused INVITE is a call too, in the totals and the
                // records; a challenge is not (the caller tries again).
                if invite && !matches!(response.status, 401 | 407) {
                    self.context.totals.finished(
                        crate::calls::totals::Controlled::None,
                        crate::cdr::Disposition::Refused,
                    );
                    if recorded {
                        let record = crate::cdr::CallRecord::refused(&request, response.status);
                        self.context.cdr.submit(record);
                    }
                }
                if let Err(error) = self.stack.respond(now, transaction, response) {
                    tracing::warn!(%error, "response refused by the stack");
                }
            }
            StackEvent::Ack { dialog, request } => {
                if let Some(call) = self.calls.by_call_id(&dialog.call_id) {
                    let event = SipEvent::Ack {
                        dialog,
                        request: Box::new(request),
                    };
                    let _ = self.calls.deliver(call, event);
                }
            }
            StackEvent::Cancelled {
                transaction,
                cancel,
            } => {
                tracing::info!(
                    call_id = cancel.call_id().unwrap_or_default(),
                    "INVITE cancelled"
                );
                if let Some(call) = self.calls.by_server(transaction) {
                    self.send_event(call, SipEvent::Cancelled { transaction });
                }
            }
            StackEvent::Response {
                transaction,
                response,
                dialog,
            } => {
                if let Some(call) = self.calls.by_client(transaction) {
                    let event = SipEvent::Response {
                        transaction,
                        response: Box::new(response),
                        dialog,
                    };
                    self.send_event(call, event);
                }
            }
            StackEvent::Timeout { transaction } => {
                tracing::debug!(?transaction, "transaction timed out");
                if let Some(call) = self.call_of(transaction) {
                    self.send_event(call, SipEvent::Timeout { transaction });
                }
            }
            StackEvent::TransportError { transaction } => {
                if let Some(call) = self.call_of(transaction) {
                    self.send_event(call, SipEvent::TransportError { transaction });
                }
            }
            StackEvent::DialogTerminated { dialog, .. } => {
                if let Some(call) = self.calls.by_call_id(&dialog.call_id) {
                    self.send_event(call, SipEvent::DialogTerminated { dialog });
                }
            }
        }
    }

    fn call_of(&self, transaction: TransactionId) -> Option<CallKey> {
        match transaction {
            TransactionId::Client(t) => self.calls.by_client(t),
            TransactionId::Server(t) => self.calls.by_server(t),
        }
    }

    fn send_event(&mut self, call: CallKey, event: SipEvent) {
        match self.calls.deliver(call, event) {
            Ok(()) => {}
            Err(Undelivered::Full(_)) => {
                self.calls_behind.insert(call);
                tracing::warn!(call, "call not taking events; event dropped")
            }
            Err(Undelivered::Gone(event)) => {
                tracing::debug!(call, ?event, "event for a finished call dropped")
            }
        }
    }
}

/// The next reload, if the driver takes them.
async fn next_reload(
    reloads: &mut Option<mpsc::Receiver<crate::reload::Swap>>,
) -> Option<crate::reload::Swap> {
    match reloads {
        Some(reloads) => reloads.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
