//! Both SIP sides of the load: the caller (UAC) places every call on a
//! schedule and hangs it up after the hold time; the callee (UAS) answers
//! every INVITE 200 with an SDP answer and takes the BYE.
//!
//! Each side is one UDP socket and one thread driving a [`SipStack`] (the
//! sans-IO engine) the way [`crate::sip_ua`] does: receive with a timeout up
//! to the next deadline (at most 20 ms), feed the datagram or the timeout,
//! send every transmit, act on every event. Calls are plain table entries,
//! so one thread carries thousands of them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sdp::{LocalMedia, Negotiated, OriginState, SessionDescription};
use sip::{HeaderName, Host, Method, Request};
use sip_stack::{
    make_response, ClientTransactionId, Destination, DialogId, Output, ServerTransactionId,
    SipStack, StackConfig, StackEvent, TransactionId, Transport,
};

use super::media::{Media, Side};
use super::stats::{micros, Phase};
use super::Progress;

/// Longest a SIP thread sleeps, so stop requests and schedules are seen quickly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// Receive buffer asked for each SIP socket (the kernel caps it at rmem_max).
const SIP_RCVBUF: usize = 4 << 20;
/// How long the caller waits past the last scheduled BYE for stragglers
/// (Timer B/F are 32 s).
const FINISH_GRACE: Duration = Duration::from_secs(40);
/// Setup error messages kept for the report.
const KEPT_ERRORS: usize = 5;

/// One SIP socket and its stack.
pub(crate) struct SipSide {
    socket: UdpSocket,
    stack: SipStack,
    local: SocketAddr,
    buf: Vec<u8>,
}

impl SipSide {
    /// Binds `address` (port 0 for an ephemeral one).
    pub(crate) fn bind(address: SocketAddr) -> std::io::Result<SipSide> {
        let socket = UdpSocket::bind(address)?;
        // Best effort: a bigger buffer only helps at high call rates.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(SIP_RCVBUF);
        let local = socket.local_addr()?;
        let stack = SipStack::new(StackConfig::new(Host::from(local.ip()), Some(local.port())));
        Ok(SipSide {
            socket,
            stack,
            local,
            buf: vec![0u8; 65_535],
        })
    }

    /// The address SIP is sent from and received on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends every transmit the stack has queued and returns its events.
    fn flush(&mut self) -> Vec<StackEvent> {
        let mut events = Vec::new();
        while let Some(output) = self.stack.poll_output() {
            match output {
                // UDP: a failed send is a lost datagram; the stack retransmits.
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.bytes, t.destination);
                }
                Output::Event(event) => events.push(event),
            }
        }
        events
    }

    /// Waits until `until` (at most [`MAX_WAIT`]) for one datagram and feeds
    /// it, then fires due timers. Returns false when the socket failed.
    fn step(&mut self, until: Instant) -> bool {
        let now = Instant::now();
        let mut wait = until
            .saturating_duration_since(now)
            .clamp(Duration::from_millis(1), MAX_WAIT);
        if let Some(next) = self.stack.poll_timeout() {
            wait = wait.min(
                next.saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            );
        }
        if self.socket.set_read_timeout(Some(wait)).is_err() {
            return false;
        }
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, source)) => {
                let bytes = self.buf.get(..n).unwrap_or_default();
                self.stack
                    .handle_bytes(Instant::now(), bytes, source, Transport::Udp, None);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock
                        | ErrorKind::TimedOut
                        | ErrorKind::Interrupted
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionRefused
                ) => {}
            Err(_) => return false,
        }
        self.stack.handle_timeout(Instant::now());
        true
    }
}

/// Answers an SDP offer with RTP on `rtp` (200 with Contact and the answer),
/// or 488 when the offer is unusable. Returns what was negotiated.
fn answer_offer(
    stack: &mut SipStack,
    transaction: ServerTransactionId,
    request: &Request,
    rtp: SocketAddr,
    contact: &str,
    origin: &mut OriginState,
) -> Option<Negotiated> {
    let now = Instant::now();
    let answer = sdp::parse(&request.body).ok().and_then(|offer| {
        let media = LocalMedia::new(rtp.ip(), rtp.port());
        sdp::answer(&offer, &media, origin).ok()
    });
    let Some(answer) = answer else {
        let _ = stack.respond(now, transaction, make_response(request, 488));
        return None;
    };
    let mut ok = make_response(request, 200);
    ok.headers.push_known(HeaderName::Contact, contact);
    ok.set_body("application/sdp", answer.sdp.to_string().into_bytes());
    stack.respond(now, transaction, ok).ok()?;
    Some(answer.negotiated)
}

/// Answers a request the load does not act on: 200 to OPTIONS and INFO, 501 otherwise.
fn answer_other(stack: &mut SipStack, transaction: ServerTransactionId, request: &Request) {
    let status = match request.method {
        Method::Options | Method::Info => 200,
        _ => 501,
    };
    let _ = stack.respond(Instant::now(), transaction, make_response(request, status));
}

/// What the caller side is asked to do.
pub(crate) struct UacPlan {
    pub calls: usize,
    pub rate: f64,
    pub duration: Duration,
    pub warmup: Duration,
    pub target: SocketAddr,
    pub number: String,
}

/// What happened to the calls placed.
#[derive(Debug, Clone, Default)]
pub struct CallerOutcome {
    /// INVITEs sent.
    pub placed: usize,
    /// Calls answered 2xx with a usable SDP answer.
    pub established: usize,
    /// Final non-2xx statuses (408 for no final response), by count.
    pub failures: BTreeMap<u16, usize>,
    /// Calls that could not be placed (no socket, stack refused) or whose
    /// 2xx carried no usable answer.
    pub setup_errors: usize,
    /// The first few setup error messages.
    pub error_messages: Vec<String>,
    /// Established calls the far side hung up before the hold time ended.
    pub dropped: usize,
    /// BYEs answered 2xx.
    pub bye_ok: usize,
    /// BYEs answered with another final status or never answered.
    pub bye_failed: usize,
    /// Calls still unfinished when the caller gave up waiting.
    pub unfinished: usize,
    /// INVITE-to-2xx times, in µs.
    pub setup_us: Vec<u64>,
    /// The RTP legs of the established calls.
    pub legs: Vec<usize>,
}

impl CallerOutcome {
    /// Calls that did not get established.
    pub fn failed(&self) -> usize {
        self.failures.values().sum::<usize>() + self.setup_errors
    }

    fn error(&mut self, message: String) {
        self.setup_errors += 1;
        if self.error_messages.len() < KEPT_ERRORS {
            self.error_messages.push(message);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Inviting,
    Up,
    Closing,
    Done,
}

/// One call of the caller side.
struct OutCall {
    leg: usize,
    /// The RTP socket (`None` when none could be bound).
    socket: Option<Arc<UdpSocket>>,
    /// The SDP offer the INVITE carried.
    offer: Option<SessionDescription>,
    origin: OriginState,
    sent_at: Instant,
    state: CallState,
    dialog: Option<DialogId>,
}

/// The caller side's state while it runs.
struct Caller<'a> {
    sip: SipSide,
    media: &'a Media,
    plan: &'a UacPlan,
    contact: String,
    calls: Vec<OutCall>,
    invites: HashMap<ClientTransactionId, usize>,
    byes: HashMap<ClientTransactionId, usize>,
    by_call_id: HashMap<String, usize>,
    bye_queue: BinaryHeap<Reverse<(Instant, usize)>>,
    pending_invites: usize,
    active: usize,
    closing: usize,
    phase: Phase,
    outcome: CallerOutcome,
}

/// Runs the caller side to the end: every call placed, held and hung up
/// (or failed), within the plan's time plus a bounded grace.
pub(crate) fn run_caller(
    sip: SipSide,
    media: &Media,
    plan: &UacPlan,
    on_phase: &(dyn Fn(Phase) + Sync),
    progress: &(dyn Fn(&Progress) + Sync),
) -> CallerOutcome {
    let contact = format!("<sip:rtp-load@{}>", sip.local_addr());
    let mut caller = Caller {
        sip,
        media,
        plan,
        contact,
        calls: Vec::with_capacity(plan.calls),
        invites: HashMap::new(),
        byes: HashMap::new(),
        by_call_id: HashMap::new(),
        bye_queue: BinaryHeap::new(),
        pending_invites: 0,
        active: 0,
        closing: 0,
        phase: Phase::Warmup,
        outcome: CallerOutcome::default(),
    };
    caller.run(on_phase, progress);
    caller.outcome
}

impl Caller<'_> {
    fn run(&mut self, on_phase: &(dyn Fn(Phase) + Sync), progress: &(dyn Fn(&Progress) + Sync)) {
        let start = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / self.plan.rate);
        let due = |i: usize| start + interval.mul_f64(i as f64);
        let give_up = due(self.plan.calls) + self.plan.duration + FINISH_GRACE;
        let mut next_status = start + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            while self.calls.len() < self.plan.calls && due(self.calls.len()) <= now {
                self.place(now);
            }
            while let Some(&Reverse((at, i))) = self.bye_queue.peek() {
                if at > now {
                    break;
                }
                self.bye_queue.pop();
                if self.calls[i].state == CallState::Up {
                    if self.phase != Phase::Teardown {
                        self.phase = Phase::Teardown;
                        on_phase(Phase::Teardown);
                    }
                    self.hang_up(i);
                }
            }
            if self.phase == Phase::Warmup
                && self.calls.len() == self.plan.calls
                && self.pending_invites == 0
                && now >= start + self.plan.warmup
            {
                self.phase = Phase::Measuring;
                on_phase(Phase::Measuring);
            }
            self.process();
            if now >= next_status {
                next_status += Duration::from_secs(1);
                progress(&Progress::Status {
                    elapsed: now - start,
                    placed: self.calls.len(),
                    established: self.outcome.established,
                    failed: self.outcome.failed(),
                    active: self.active,
                });
            }
            let placed_all = self.calls.len() == self.plan.calls;
            if placed_all && self.pending_invites == 0 && self.active == 0 && self.closing == 0 {
                break;
            }
            if now >= give_up {
                self.outcome.unfinished = self.pending_invites + self.active + self.closing;
                break;
            }
            let mut until = (now + MAX_WAIT).min(next_status);
            if !placed_all {
                until = until.min(due(self.calls.len()));
            }
            if let Some(&Reverse((at, _))) = self.bye_queue.peek() {
                until = until.min(at);
            }
            if !self.sip.step(until) {
                self.outcome.error("the SIP socket failed".into());
                self.outcome.unfinished = self.pending_invites + self.active + self.closing;
                break;
            }
            self.process();
        }
        for call in &self.calls {
            if call.state == CallState::Up {
                self.media.stop_sending(call.leg);
            }
        }
    }

    /// Sends what the stack queued and handles its events until none are left.
    fn process(&mut self) {
        loop {
            let events = self.sip.flush();
            if events.is_empty() {
                return;
            }
            for event in events {
                self.on_event(event);
            }
        }
    }

    fn place(&mut self, now: Instant) {
        let index = self.calls.len();
        let (leg, socket) = match self.media.add_leg(Side::Caller) {
            Ok(leg) => leg,
            Err(e) => {
                // Keep the schedule: the call is counted and never starts.
                self.outcome.error(format!("RTP socket: {e}"));
                self.calls.push(OutCall {
                    leg: usize::MAX,
                    socket: None,
                    offer: None,
                    origin: OriginState::new("rtp-load", 0, 1),
                    sent_at: now,
                    state: CallState::Done,
                    dialog: None,
                });
                return;
            }
        };
        let rtp = socket
            .local_addr()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        let media = LocalMedia::new(rtp.ip(), rtp.port());
        let mut origin = OriginState::new("rtp-load", index as u64 + 1, 1);
        let offer = sdp::offer(&media, &mut origin);
        let target = self.plan.target;
        let number = self.plan.number.as_str();
        let me = format!("<sip:rtp-load@{}>", self.sip.local_addr());
        let invite = crate::sip_ua::invite_request(target, number, &me, &self.contact, &offer);
        let destination = Destination {
            address: target,
            transport: Transport::Udp,
            connection: None,
        };
        let mut state = CallState::Inviting;
        match self.sip.stack.send_request(now, invite, destination) {
            Ok(id) => {
                self.invites.insert(id, index);
                self.pending_invites += 1;
                self.outcome.placed += 1;
            }
            Err(e) => {
                self.outcome
                    .error(format!("INVITE refused by the stack: {e}"));
                state = CallState::Done;
            }
        }
        self.calls.push(OutCall {
            leg,
            socket: Some(socket),
            offer: Some(offer),
            origin,
            sent_at: now,
            state,
            dialog: None,
        });
    }

    fn hang_up(&mut self, i: usize) {
        let call = &mut self.calls[i];
        self.media.stop_sending(call.leg);
        self.active -= 1;
        call.state = CallState::Done;
        let Some(dialog) = call.dialog.clone() else {
            self.outcome.bye_failed += 1;
            return;
        };
        let now = Instant::now();
        let sent = self
            .sip
            .stack
            .new_in_dialog_request(&dialog, Method::Bye)
            .and_then(|bye| self.sip.stack.send_in_dialog(now, &dialog, bye));
        match sent {
            Ok(id) => {
                self.byes.insert(id, i);
                self.closing += 1;
                self.calls[i].state = CallState::Closing;
            }
            Err(_) => self.outcome.bye_failed += 1,
        }
    }

    fn on_event(&mut self, event: StackEvent) {
        match event {
            StackEvent::Response {
                transaction,
                response,
                dialog,
            } => {
                if response.status < 200 {
                    return;
                }
                if let Some(i) = self.invites.remove(&transaction) {
                    self.on_invite_final(i, response, dialog);
                } else if let Some(i) = self.byes.remove(&transaction) {
                    self.closing -= 1;
                    self.calls[i].state = CallState::Done;
                    if (200..300).contains(&response.status) {
                        self.outcome.bye_ok += 1;
                    } else {
                        self.outcome.bye_failed += 1;
                    }
                }
            }
            StackEvent::Timeout {
                transaction: TransactionId::Client(id),
            } => {
                if let Some(i) = self.invites.remove(&id) {
                    self.pending_invites -= 1;
                    self.calls[i].state = CallState::Done;
                    *self.outcome.failures.entry(408).or_default() += 1;
                } else if let Some(i) = self.byes.remove(&id) {
                    self.closing -= 1;
                    self.calls[i].state = CallState::Done;
                    self.outcome.bye_failed += 1;
                }
            }
            StackEvent::Request {
                transaction,
                request,
                ..
            } => self.on_request(transaction, request),
            StackEvent::Ack { .. }
            | StackEvent::Cancelled { .. }
            | StackEvent::Timeout { .. }
            | StackEvent::TransportError { .. }
            | StackEvent::DialogTerminated { .. } => {}
        }
    }

    fn on_invite_final(&mut self, i: usize, response: sip::Response, dialog: Option<DialogId>) {
        self.pending_invites -= 1;
        let now = Instant::now();
        if !(200..300).contains(&response.status) {
            self.calls[i].state = CallState::Done;
            *self.outcome.failures.entry(response.status).or_default() += 1;
            return;
        }
        if let Some(call_id) = response.call_id() {
            self.by_call_id.insert(call_id.trim().to_string(), i);
        }
        let call = &mut self.calls[i];
        call.dialog = dialog;
        let negotiated = sdp::parse(&response.body)
            .ok()
            .and_then(|answer| sdp::process_answer(call.offer.as_ref()?, &answer).ok());
        self.active += 1;
        call.state = CallState::Up;
        match negotiated.zip(call.socket.as_ref()) {
            Some((n, socket)) => {
                self.media
                    .start_sending(call.leg, socket, n.remote_rtp, &n, Side::Caller);
                self.outcome.established += 1;
                self.outcome.legs.push(call.leg);
                self.outcome.setup_us.push(micros(now - call.sent_at));
                self.bye_queue.push(Reverse((now + self.plan.duration, i)));
            }
            None => {
                self.outcome
                    .error(format!("2xx without a usable SDP answer (call {i})"));
                self.hang_up(i);
            }
        }
    }

    fn on_request(&mut self, transaction: ServerTransactionId, request: Request) {
        let now = Instant::now();
        let call = request
            .call_id()
            .and_then(|id| self.by_call_id.get(id.trim()))
            .copied();
        match (request.method.clone(), call) {
            (Method::Bye, call) => {
                let _ = self
                    .sip
                    .stack
                    .respond(now, transaction, make_response(&request, 200));
                if let Some(i) = call {
                    if self.calls[i].state == CallState::Up {
                        self.media.stop_sending(self.calls[i].leg);
                        self.calls[i].state = CallState::Done;
                        self.active -= 1;
                        self.outcome.dropped += 1;
                    }
                }
            }
            (Method::Invite, Some(i)) if self.calls[i].state == CallState::Up => {
                let call = &mut self.calls[i];
                let Some(socket) = call.socket.clone() else {
                    return answer_other(&mut self.sip.stack, transaction, &request);
                };
                let rtp = socket
                    .local_addr()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
                let negotiated = answer_offer(
                    &mut self.sip.stack,
                    transaction,
                    &request,
                    rtp,
                    &self.contact,
                    &mut call.origin,
                );
                if let Some(n) = negotiated {
                    self.media
                        .start_sending(call.leg, &socket, n.remote_rtp, &n, Side::Caller);
                }
            }
            _ => answer_other(&mut self.sip.stack, transaction, &request),
        }
    }
}

/// What the callee side saw.
#[derive(Debug, Clone, Default)]
pub struct CalleeOutcome {
    /// New INVITEs received.
    pub invites: usize,
    /// INVITEs answered 200 with SDP.
    pub answered: usize,
    /// INVITEs refused (no usable offer: 488; no RTP socket: 503).
    pub rejected: usize,
    /// ACKs for our 2xx.
    pub acks: usize,
    /// BYEs received for answered calls.
    pub byes: usize,
    /// re-INVITEs answered.
    pub reinvites: usize,
    /// The RTP legs of the answered calls.
    pub legs: Vec<usize>,
}

/// One call of the callee side.
struct InCall {
    leg: usize,
    socket: Arc<UdpSocket>,
    origin: OriginState,
}

/// Runs the callee side until `stop` is set.
pub(crate) fn run_callee(mut sip: SipSide, media: &Media, stop: &AtomicBool) -> CalleeOutcome {
    let contact = format!("<sip:rtp-load@{}>", sip.local_addr());
    let mut calls: HashMap<String, InCall> = HashMap::new();
    let mut outcome = CalleeOutcome::default();
    while !stop.load(Ordering::Relaxed) {
        if !sip.step(Instant::now() + MAX_WAIT) {
            break;
        }
        loop {
            let events = sip.flush();
            if events.is_empty() {
                break;
            }
            for event in events {
                match event {
                    StackEvent::Request {
                        transaction,
                        request,
                        dialog,
                        ..
                    } => on_callee_request(
                        &mut sip.stack,
                        media,
                        &contact,
                        &mut calls,
                        &mut outcome,
                        transaction,
                        &request,
                        dialog.is_some(),
                    ),
                    StackEvent::Ack { .. } => outcome.acks += 1,
                    _ => {}
                }
            }
        }
    }
    outcome
}

#[allow(clippy::too_many_arguments)]
fn on_callee_request(
    stack: &mut SipStack,
    media: &Media,
    contact: &str,
    calls: &mut HashMap<String, InCall>,
    outcome: &mut CalleeOutcome,
    transaction: ServerTransactionId,
    request: &Request,
    in_dialog: bool,
) {
    let call_id = request.call_id().unwrap_or_default().trim().to_string();
    match request.method {
        Method::Invite if !in_dialog => {
            outcome.invites += 1;
            let (leg, socket) = match media.add_leg(Side::Callee) {
                Ok(leg) => leg,
                Err(_) => {
                    outcome.rejected += 1;
                    let _ = stack.respond(Instant::now(), transaction, make_response(request, 503));
                    return;
                }
            };
            let rtp = socket
                .local_addr()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            let mut origin = OriginState::new("rtp-load", leg as u64 + 1, 1);
            match answer_offer(stack, transaction, request, rtp, contact, &mut origin) {
                Some(n) => {
                    media.start_sending(leg, &socket, n.remote_rtp, &n, Side::Callee);
                    outcome.answered += 1;
                    outcome.legs.push(leg);
                    calls.insert(
                        call_id,
                        InCall {
                            leg,
                            socket,
                            origin,
                        },
                    );
                }
                None => outcome.rejected += 1,
            }
        }
        Method::Invite => match calls.get_mut(&call_id) {
            Some(call) => {
                let rtp = call
                    .socket
                    .local_addr()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
                let answered =
                    answer_offer(stack, transaction, request, rtp, contact, &mut call.origin);
                if let Some(n) = answered {
                    outcome.reinvites += 1;
                    media.start_sending(call.leg, &call.socket, n.remote_rtp, &n, Side::Callee);
                }
            }
            None => {
                let _ = stack.respond(Instant::now(), transaction, make_response(request, 481));
            }
        },
        Method::Bye => {
            let _ = stack.respond(Instant::now(), transaction, make_response(request, 200));
            if let Some(call) = calls.remove(&call_id) {
                media.stop_sending(call.leg);
                outcome.byes += 1;
            }
        }
        _ => answer_other(stack, transaction, request),
    }
}
