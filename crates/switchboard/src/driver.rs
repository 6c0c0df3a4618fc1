//! The SIP driver: one task that owns the sans-IO [`SipStack`], feeds it what
//! the transports received and the timers it asked for, and carries out what
//! it emits. The stack never waits on a socket; this loop never blocks on one.
//!
//! It is also the switch between the stack and the call tasks
//! ([`crate::calls`]): new INVITEs the admission policy bridges start a call
//! task; every later event of that call's Call-IDs or transactions goes to
//! it; its commands come back here and are carried out on the stack.
//!
//! Shutdown: new INVITEs get 503 at once; running calls may finish on their
//! own for the drain period, then they are told to hang up; once they have
//! ended (or a short deadline passed) the driver lingers [`DRAIN_GRACE`] so
//! the last responses and retransmissions go out.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip::{HeaderName, Method};
use sip_stack::transport::Destination;
use sip_stack::{make_response, Output, SipStack, StackEvent, TransactionId};
use tokio::sync::mpsc;

use crate::admission::{Admission, Admit};
use crate::calls::{
    self, CallContext, CallKey, CallRoutes, SipCommand, SipEvent, Undelivered, CALL_EVENT_QUEUE,
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
            context,
            call_drain,
        }
    }

    /// Runs until `shutdown` resolves, then answers new INVITEs 503 for a
    /// short grace period and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut phase = Phase::Running;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            // For /metrics: a copy of the stack's counters after each batch.
            crate::http::metrics::sip::publish(self.stack.stats());
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
                _ = sleep_until(timer) => {
                    self.stack.handle_timeout(Instant::now());
                    self.flush();
                }
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
                let admit = if self.draining && request.method == Method::Invite {
                    let mut r = make_response(&request, 503);
                    r.headers.push_known(HeaderName::RetryAfter, "30");
                    Admit::Respond(r)
                } else {
                    self.admission.admit(now, &request, source, &self.listener)
                };
                match admit {
                    Admit::Respond(response) => {
                        tracing::info!(method = %request.method, status = response.status, "answered");
                        if let Err(error) = self.stack.respond(now, transaction, response) {
                            tracing::warn!(%error, "response refused by the stack");
                        }
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
                    }
                    Admit::Ignore => {}
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

    fn send_event(&self, call: CallKey, event: SipEvent) {
        match self.calls.deliver(call, event) {
            Ok(()) => {}
            Err(Undelivered::Full(_)) => {
                tracing::warn!(call, "call not taking events; event dropped")
            }
            Err(Undelivered::Gone(event)) => {
                tracing::debug!(call, ?event, "event for a finished call dropped")
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
