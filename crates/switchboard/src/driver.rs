//! The SIP driver: one task that owns the sans-IO [`SipStack`], feeds it what
//! the transports received and the timers it asked for, and carries out what
//! it emits. The stack never waits on a socket; this loop never blocks on one.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip::{HeaderName, Method};
use sip_stack::transport::Destination;
use sip_stack::{make_response, Output, SipStack, StackEvent};
use tokio::sync::mpsc;

use crate::admission::Admission;
use crate::transport::{Inbound, Transports};

/// Most inbound messages handled before the driver checks its timers again,
/// so a flood cannot starve retransmissions.
const BATCH: usize = 256;

/// How long a draining server keeps running so in-flight responses and
/// retransmissions complete.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

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
}

impl Driver {
    /// Wires a stack to its transports.
    pub fn new(
        stack: SipStack,
        admission: Admission,
        transports: Transports,
        inbound: mpsc::Receiver<Inbound>,
        failures: mpsc::Receiver<Destination>,
    ) -> Driver {
        Driver {
            stack,
            admission,
            transports,
            inbound,
            failures,
            listener: Arc::from(""),
            draining: false,
        }
    }

    /// Runs until `shutdown` resolves, then answers new INVITEs 503 for a
    /// short grace period and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut stop_at: Option<tokio::time::Instant> = None;
        loop {
            let timer = self
                .stack
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                biased;
                _ = &mut shutdown, if stop_at.is_none() => {
                    tracing::info!("shutting down: new calls get 503");
                    self.draining = true;
                    stop_at = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                }
                _ = sleep_until(stop_at) => return,
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

    fn on_event(&mut self, event: StackEvent) {
        match event {
            StackEvent::Request {
                transaction,
                request,
                source,
                ..
            } => {
                let call_id = request.call_id().unwrap_or_default().to_string();
                let span = tracing::info_span!("call", call_id = %call_id);
                let _guard = span.enter();
                tracing::debug!(method = %request.method, %source, "request");
                let now = Instant::now();
                let response = if self.draining && request.method == Method::Invite {
                    let mut r = make_response(&request, 503);
                    r.headers.push_known(HeaderName::RetryAfter, "30");
                    Some(r)
                } else {
                    self.admission.answer(now, &request, source, &self.listener)
                };
                if let Some(response) = response {
                    tracing::info!(method = %request.method, status = response.status, "answered");
                    if let Err(error) = self.stack.respond(now, transaction, response) {
                        tracing::warn!(%error, "response refused by the stack");
                    }
                }
            }
            StackEvent::Cancelled { cancel, .. } => {
                tracing::info!(
                    call_id = cancel.call_id().unwrap_or_default(),
                    "INVITE cancelled"
                );
            }
            StackEvent::Timeout { transaction } => {
                tracing::debug!(?transaction, "transaction timed out");
            }
            other => tracing::debug!(event = ?other, "stack event"),
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
