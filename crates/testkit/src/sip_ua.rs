//! `SipUa`: a scriptable SIP user agent for end-to-end tests.
//!
//! One UDP socket on 127.0.0.1 and one thread running a [`SipStack`] (the
//! sans-IO engine) in the loop its crate doc shows: receive with a timeout up
//! to the stack's next deadline (at most 20 ms, so a stop request is seen
//! quickly), feed the datagram or the timeout, send every `Transmit`, and
//! route every event to the call it belongs to.
//!
//! The test thread holds blocking handles: [`CallHandle`] for a call it
//! placed, [`IncomingCall`] for a call it received. Commands run on the UA
//! thread (the stack is never shared); every wait takes a timeout and
//! returns `None`/`Err` instead of hanging.
//!
//! Decisions the UA takes by itself: a BYE in a dialog is answered 200 (and
//! reported to [`CallHandle::wait_bye`]/[`IncomingCall::wait_bye`]); an
//! OPTIONS outside a dialog is answered 200; the stack does the rest (100
//! Trying, ACK for a 2xx, 200/487 for a CANCEL).
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::sip_ua::SipUa;
//!
//! let alice = SipUa::bind();
//! let bob = SipUa::bind();
//! let mut call = alice.call(bob.local_addr(), "100", "127.0.0.1:40000".parse().unwrap());
//! let mut incoming = bob.wait_incoming(Duration::from_secs(2)).expect("INVITE");
//! incoming.ring().unwrap();
//! incoming.answer("127.0.0.1:40002".parse().unwrap(), Duration::from_secs(2)).unwrap();
//! assert_eq!(call.wait_final(Duration::from_secs(2)), Some(200));
//! call.hangup(Duration::from_secs(2)).unwrap();
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sdp::{LocalMedia, Negotiated, OriginState, SessionDescription};
use sip::{HeaderName, Host, Method, Request, Response, Uri};
use sip_stack::{
    make_response, ClientTransactionId, Destination, DialogId, Output, ServerTransactionId,
    SipStack, StackConfig, StackEvent, TransactionId, Transport,
};

/// Longest sleep of the UA thread, so that a stop request is seen quickly.
const MAX_WAIT: Duration = Duration::from_millis(20);
/// How long a command may take to reach the UA thread and come back.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a UA command failed.
#[derive(Debug, thiserror::Error)]
pub enum UaError {
    /// The UA thread has stopped (the `SipUa` was dropped) or did not answer.
    #[error("the UA thread is gone")]
    Stopped,
    /// The stack refused the command.
    #[error("stack refused: {0}")]
    Stack(#[from] sip_stack::StackError),
    /// There is no dialog yet (no 2xx) or it has ended.
    #[error("no dialog")]
    NoDialog,
    /// The awaited message did not arrive in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The peer's SDP could not be used.
    #[error("SDP: {0}")]
    Sdp(String),
}

/// What the UA thread reports to one call.
#[derive(Debug, Clone)]
pub enum UaEvent {
    /// A response to a request of this call (INVITE or BYE).
    Response {
        /// The client transaction it answers.
        transaction: ClientTransactionId,
        /// The response.
        response: Response,
        /// The dialog a 2xx to the INVITE created.
        dialog: Option<DialogId>,
    },
    /// A request of this call got no final response (Timer B/F).
    Timeout(ClientTransactionId),
    /// The peer sent BYE (already answered 200).
    Bye(Request),
    /// The caller cancelled the INVITE (the stack answered 200 and 487).
    Cancelled(Request),
    /// The ACK for our 2xx arrived.
    Ack(Request),
}

/// A command run on the UA thread with the engine.
type Command = Box<dyn FnOnce(&mut Engine, Instant) + Send>;

/// The UA thread's state: the stack, the socket and where events go.
struct Engine {
    stack: SipStack,
    socket: UdpSocket,
    /// Client transactions (INVITE, BYE) → their call.
    clients: HashMap<ClientTransactionId, Sender<UaEvent>>,
    /// Incoming INVITE transactions → their call.
    servers: HashMap<ServerTransactionId, Sender<UaEvent>>,
    /// Dialogs → their call.
    dialogs: HashMap<DialogId, Sender<UaEvent>>,
    /// New incoming calls.
    incoming: Sender<IncomingCall>,
    /// Handed to each new incoming call.
    commands: Sender<Command>,
}

impl Engine {
    /// Sends every transmit and routes every event the stack has queued.
    fn drain(&mut self, now: Instant) {
        while let Some(output) = self.stack.poll_output() {
            match output {
                Output::Transmit(t) => {
                    // UDP: a failed send is a lost datagram; the stack retransmits.
                    let _ = self.socket.send_to(&t.bytes, t.destination);
                }
                Output::Event(event) => self.on_event(now, event),
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: StackEvent) {
        match event {
            StackEvent::Request {
                transaction,
                request,
                dialog,
                ..
            } => self.on_request(now, transaction, request, dialog),
            StackEvent::Response {
                transaction,
                response,
                dialog,
            } => {
                let Some(call) = self.clients.get(&transaction).cloned() else {
                    return;
                };
                if let Some(dialog) = &dialog {
                    if (200..300).contains(&response.status) {
                        self.dialogs.insert(dialog.clone(), call.clone());
                    }
                }
                if response.status >= 200 {
                    self.clients.remove(&transaction);
                }
                let _ = call.send(UaEvent::Response {
                    transaction,
                    response,
                    dialog,
                });
            }
            StackEvent::Ack { dialog, request } => {
                if let Some(call) = self.dialogs.get(&dialog) {
                    let _ = call.send(UaEvent::Ack(request));
                }
            }
            StackEvent::Cancelled {
                transaction,
                cancel,
            } => {
                if let Some(call) = self.servers.remove(&transaction) {
                    let _ = call.send(UaEvent::Cancelled(cancel));
                }
            }
            StackEvent::Timeout {
                transaction: TransactionId::Client(id),
            } => {
                if let Some(call) = self.clients.remove(&id) {
                    let _ = call.send(UaEvent::Timeout(id));
                }
            }
            StackEvent::DialogTerminated { dialog, .. } => {
                self.dialogs.remove(&dialog);
            }
            StackEvent::Timeout { .. } | StackEvent::TransportError { .. } => {}
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        transaction: ServerTransactionId,
        request: Request,
        dialog: Option<DialogId>,
    ) {
        match (request.method.clone(), dialog) {
            (Method::Bye, Some(dialog)) => {
                let _ = self
                    .stack
                    .respond(now, transaction, make_response(&request, 200));
                if let Some(call) = self.dialogs.remove(&dialog) {
                    let _ = call.send(UaEvent::Bye(request));
                }
            }
            (Method::Invite, None) => {
                let (events_tx, events) = mpsc::channel();
                let offer = sdp::parse(&request.body).ok();
                self.servers.insert(transaction, events_tx.clone());
                let call = IncomingCall {
                    leg: Leg {
                        commands: self.commands.clone(),
                        events,
                        events_tx,
                        buffered: VecDeque::new(),
                        dialog: None,
                        local: self
                            .socket
                            .local_addr()
                            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0))),
                    },
                    transaction,
                    request,
                    offer,
                    negotiated: None,
                };
                if let Err(mpsc::SendError(call)) = self.incoming.send(call) {
                    // Nobody waits for calls any more: the UA is being dropped.
                    self.servers.remove(&transaction);
                    let _ = self
                        .stack
                        .respond(now, transaction, make_response(&call.request, 480));
                }
            }
            (Method::Options, None) => {
                let _ = self
                    .stack
                    .respond(now, transaction, make_response(&request, 200));
            }
            _ => {
                let _ = self
                    .stack
                    .respond(now, transaction, make_response(&request, 501));
            }
        }
    }
}

/// Runs `command` on the UA thread and returns its result, or `Stopped`.
fn run<R: Send + 'static>(
    commands: &Sender<Command>,
    command: impl FnOnce(&mut Engine, Instant) -> R + Send + 'static,
) -> Result<R, UaError> {
    let (reply_tx, reply) = mpsc::channel();
    commands
        .send(Box::new(move |engine, now| {
            let _ = reply_tx.send(command(engine, now));
        }))
        .map_err(|_| UaError::Stopped)?;
    reply
        .recv_timeout(COMMAND_TIMEOUT)
        .map_err(|_| UaError::Stopped)
}

/// An INVITE for `number` at `target` from `from` (a name-addr) with
/// `contact` and the SDP `offer`; the stack adds tags, Call-ID and CSeq.
pub(crate) fn invite_request(
    target: SocketAddr,
    number: &str,
    from: &str,
    contact: &str,
    offer: &SessionDescription,
) -> Request {
    let uri = Uri::sip(Some(number), Host::from(target.ip()), Some(target.port()));
    let mut invite = Request::new(Method::Invite, uri);
    invite.headers.push_known(HeaderName::From, from);
    invite
        .headers
        .push_known(HeaderName::To, format!("<sip:{number}@{target}>"));
    invite.headers.push_known(HeaderName::Contact, contact);
    invite.set_body("application/sdp", offer.to_string().into_bytes());
    invite
}

/// A SIP user agent on its own UDP socket and thread; stops on drop.
pub struct SipUa {
    local: SocketAddr,
    commands: Sender<Command>,
    incoming: Receiver<IncomingCall>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SipUa {
    /// A UA on an ephemeral UDP port of 127.0.0.1.
    pub fn bind() -> SipUa {
        SipUa::bind_to("127.0.0.1:0".parse().expect("literal address"))
            .expect("bind SIP UA on 127.0.0.1")
    }

    /// A UA on `address` (port 0 for an ephemeral port).
    pub fn bind_to(address: SocketAddr) -> std::io::Result<SipUa> {
        let socket = UdpSocket::bind(address)?;
        let local = socket.local_addr()?;
        let stack = SipStack::new(StackConfig::new(Host::from(local.ip()), Some(local.port())));
        let (commands, command_rx) = mpsc::channel::<Command>();
        let (incoming_tx, incoming) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            stack,
            socket,
            clients: HashMap::new(),
            servers: HashMap::new(),
            dialogs: HashMap::new(),
            incoming: incoming_tx,
            commands: commands.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sip-ua-{}", local.port()))
            .spawn({
                let stop = stop.clone();
                move || ua_loop(engine, command_rx, stop)
            })?;
        Ok(SipUa {
            local,
            commands,
            incoming,
            stop,
            thread: Some(thread),
        })
    }

    /// The address SIP is sent from and received on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends an INVITE for `number` to `target`, offering PCMU, PCMA and
    /// telephone-event with RTP on `local_rtp`. Follow it with
    /// [`CallHandle::wait_response`].
    pub fn call(&self, target: SocketAddr, number: &str, local_rtp: SocketAddr) -> CallHandle {
        self.call_with(
            target,
            number,
            LocalMedia::new(local_rtp.ip(), local_rtp.port()),
        )
    }

    /// Like [`SipUa::call`], offering `media` (its codecs, in order; its
    /// telephone-event flag; its direction).
    pub fn call_with(&self, target: SocketAddr, number: &str, media: LocalMedia) -> CallHandle {
        let mut origin = OriginState::new("testkit", 1, 1);
        let offer = sdp::offer(&media, &mut origin);
        let me = format!("<sip:testkit@{}>", self.local);
        let invite = invite_request(target, number, &me, &me, &offer);
        let (events_tx, events) = mpsc::channel();
        let registered = events_tx.clone();
        let invite_tx = run(&self.commands, move |engine, now| {
            let destination = Destination {
                address: target,
                transport: Transport::Udp,
                connection: None,
            };
            let id = engine.stack.send_request(now, invite, destination)?;
            engine.clients.insert(id, registered);
            engine.drain(now);
            Ok::<_, UaError>(id)
        })
        .and_then(|r| r);
        CallHandle {
            leg: Leg {
                commands: self.commands.clone(),
                events,
                events_tx,
                buffered: VecDeque::new(),
                dialog: None,
                local: self.local,
            },
            invite: invite_tx,
            offer,
            negotiated: None,
            final_status: None,
        }
    }

    /// The next incoming INVITE, within `timeout`.
    pub fn wait_incoming(&self, timeout: Duration) -> Option<IncomingCall> {
        self.incoming.recv_timeout(timeout).ok()
    }
}

impl Drop for SipUa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(1);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

fn ua_loop(mut engine: Engine, commands: Receiver<Command>, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 65_535];
    while !stop.load(Ordering::Relaxed) {
        while let Ok(command) = commands.try_recv() {
            let now = Instant::now();
            command(&mut engine, now);
            engine.drain(now);
        }
        let wait = engine
            .stack
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(MAX_WAIT)
            .clamp(Duration::from_millis(1), MAX_WAIT);
        if engine.socket.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match engine.socket.recv_from(&mut buf) {
            Ok((n, source)) => {
                let now = Instant::now();
                engine
                    .stack
                    .handle_bytes(now, &buf[..n], source, Transport::Udp, None);
                engine.drain(now);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(_) => return,
        }
        let now = Instant::now();
        engine.stack.handle_timeout(now);
        engine.drain(now);
    }
}

/// What both call handles share: the event stream and the dialog.
struct Leg {
    commands: Sender<Command>,
    events: Receiver<UaEvent>,
    /// Registered with the engine for new transactions of this call (BYE).
    events_tx: Sender<UaEvent>,
    /// Events received while waiting for something else.
    buffered: VecDeque<UaEvent>,
    dialog: Option<DialogId>,
    /// The UA's SIP address.
    local: SocketAddr,
}

impl Leg {
    /// Takes the first event (buffered or new, within `timeout`) for which
    /// `pick` returns `Some`, leaving the others buffered in order.
    fn take<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&UaEvent) -> Option<T>,
    ) -> Option<T> {
        if let Some(pos) = self.buffered.iter().position(|e| pick(e).is_some()) {
            let event = self.buffered.remove(pos)?;
            return pick(&event);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => match pick(&event) {
                    Some(found) => return Some(found),
                    None => self.buffered.push_back(event),
                },
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn hangup(&mut self, timeout: Duration) -> Result<u16, UaError> {
        let dialog = self.dialog.take().ok_or(UaError::NoDialog)?;
        let registered = self.events_tx.clone();
        let bye_tx = run(&self.commands, move |engine, now| {
            let bye = engine.stack.new_in_dialog_request(&dialog, Method::Bye)?;
            let id = engine.stack.send_in_dialog(now, &dialog, bye)?;
            engine.dialogs.remove(&dialog);
            engine.clients.insert(id, registered);
            engine.drain(now);
            Ok::<_, UaError>(id)
        })??;
        self.take(timeout, |e| match e {
            UaEvent::Response {
                transaction,
                response,
                ..
            } if *transaction == bye_tx && response.status >= 200 => Some(response.status),
            _ => None,
        })
        .ok_or(UaError::Timeout("the response to BYE"))
    }

    fn wait_bye(&mut self, timeout: Duration) -> Option<Request> {
        let bye = self.take(timeout, |e| match e {
            UaEvent::Bye(request) => Some(request.clone()),
            _ => None,
        })?;
        self.dialog = None;
        Some(bye)
    }
}

/// A call this UA placed (see [`SipUa::call`]).
pub struct CallHandle {
    leg: Leg,
    invite: Result<ClientTransactionId, UaError>,
    offer: SessionDescription,
    negotiated: Option<Result<Negotiated, String>>,
    final_status: Option<u16>,
}

impl CallHandle {
    /// The next response to the INVITE (100, 180, …, final), in order, or
    /// `None` when none arrives within `timeout`. On a 2xx the dialog is
    /// set up, the stack has sent the ACK and the answer is processed. A
    /// transaction timeout (Timer B: no final response) is reported as 408.
    pub fn wait_response(&mut self, timeout: Duration) -> Option<u16> {
        let invite = *self.invite.as_ref().ok()?;
        let (response, dialog) = self.leg.take(timeout, |e| match e {
            UaEvent::Response {
                transaction,
                response,
                dialog,
            } if *transaction == invite => Some((response.clone(), dialog.clone())),
            UaEvent::Timeout(id) if *id == invite => Some((Response::new(408), None)),
            _ => None,
        })?;
        if response.status >= 200 {
            self.final_status = Some(response.status);
        }
        if (200..300).contains(&response.status) {
            self.leg.dialog = dialog;
        }
        // A 2xx's answer, or a 183's (early media), says where RTP goes.
        let early = (101..200).contains(&response.status) && !response.body.is_empty();
        if (200..300).contains(&response.status) || early {
            self.negotiated = Some(
                sdp::parse(&response.body)
                    .map_err(|e| e.to_string())
                    .and_then(|answer| {
                        sdp::process_answer(&self.offer, &answer).map_err(|e| e.to_string())
                    }),
            );
        }
        Some(response.status)
    }

    /// Skips provisional responses until the final one (or `None` at `timeout`).
    pub fn wait_final(&mut self, timeout: Duration) -> Option<u16> {
        if let Some(status) = self.final_status {
            return Some(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.wait_response(deadline.saturating_duration_since(Instant::now()))?;
            if status >= 200 {
                return Some(status);
            }
        }
    }

    /// The final status, once [`CallHandle::wait_response`] has seen it.
    pub fn final_status(&self) -> Option<u16> {
        self.final_status
    }

    /// What the answer agreed (remote RTP address, codec), once a 2xx or a
    /// provisional response with SDP (early media) brought it.
    pub fn negotiated(&self) -> Result<Negotiated, UaError> {
        match &self.negotiated {
            Some(Ok(n)) => Ok(*n),
            Some(Err(e)) => Err(UaError::Sdp(e.clone())),
            None => Err(UaError::NoDialog),
        }
    }

    /// The SDP offer the INVITE carried.
    pub fn offer(&self) -> &SessionDescription {
        &self.offer
    }

    /// Cancels the INVITE (the CANCEL leaves once a provisional has arrived);
    /// the INVITE then ends with 487, seen through [`CallHandle::wait_response`].
    pub fn cancel(&mut self) -> Result<(), UaError> {
        let invite = match &self.invite {
            Ok(id) => *id,
            Err(_) => return Err(UaError::Stopped),
        };
        run(&self.leg.commands, move |engine, now| {
            engine.stack.cancel(now, invite)?;
            engine.drain(now);
            Ok::<_, UaError>(())
        })?
    }

    /// Sends BYE and returns the status of its final response.
    pub fn hangup(&mut self, timeout: Duration) -> Result<u16, UaError> {
        self.leg.hangup(timeout)
    }

    /// A BYE from the far side (already answered 200), within `timeout`.
    pub fn wait_bye(&mut self, timeout: Duration) -> Option<Request> {
        self.leg.wait_bye(timeout)
    }

    /// The dialog, once a 2xx arrived and until it ended.
    pub fn dialog(&self) -> Option<&DialogId> {
        self.leg.dialog.as_ref()
    }
}

/// An INVITE this UA received (see [`SipUa::wait_incoming`]).
pub struct IncomingCall {
    leg: Leg,
    transaction: ServerTransactionId,
    request: Request,
    offer: Option<SessionDescription>,
    negotiated: Option<Negotiated>,
}

impl IncomingCall {
    /// The INVITE as received.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The user part of the Request-URI (the number dialled).
    pub fn number(&self) -> Option<String> {
        self.request.uri.user_unescaped()
    }

    /// The SDP offer the INVITE carried, when it parsed.
    pub fn offer(&self) -> Option<&SessionDescription> {
        self.offer.as_ref()
    }

    /// What the answer agreed, once [`IncomingCall::answer`] succeeded.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// Sends a provisional response (180 Ringing).
    pub fn ring(&mut self) -> Result<(), UaError> {
        self.respond(make_response(&self.request, 180))
    }

    /// Sends a final non-2xx response (486, 603, …).
    pub fn reject(&mut self, code: u16) -> Result<(), UaError> {
        self.respond(make_response(&self.request, code))
    }

    /// Answers 200 with an SDP answer for RTP on `local_rtp`, then waits for
    /// the ACK within `timeout`. Returns what was negotiated.
    pub fn answer(
        &mut self,
        local_rtp: SocketAddr,
        timeout: Duration,
    ) -> Result<Negotiated, UaError> {
        self.answer_with(LocalMedia::new(local_rtp.ip(), local_rtp.port()), timeout)
    }

    /// Like [`IncomingCall::answer`], answering with `media` (e.g. only
    /// PCMU, or no telephone-event).
    pub fn answer_with(
        &mut self,
        media: LocalMedia,
        timeout: Duration,
    ) -> Result<Negotiated, UaError> {
        let offer = self
            .offer
            .as_ref()
            .ok_or_else(|| UaError::Sdp("INVITE carried no usable offer".into()))?;
        let mut origin = OriginState::new("testkit", 2, 1);
        let answer =
            sdp::answer(offer, &media, &mut origin).map_err(|e| UaError::Sdp(e.to_string()))?;
        let mut ok = make_response(&self.request, 200);
        let contact = format!("<sip:testkit@{}>", self.leg.local);
        ok.headers.push_known(HeaderName::Contact, contact);
        ok.set_body("application/sdp", answer.sdp.to_string().into_bytes());
        let dialog = DialogId::of_uas_answer(&self.request, &ok).ok_or(UaError::NoDialog)?;
        let registered = self.leg.events_tx.clone();
        let transaction = self.transaction;
        let id = dialog.clone();
        run(&self.leg.commands, move |engine, now| {
            engine.dialogs.insert(id, registered);
            engine.stack.respond(now, transaction, ok)?;
            engine.servers.remove(&transaction);
            engine.drain(now);
            Ok::<_, UaError>(())
        })??;
        self.leg.dialog = Some(dialog);
        self.negotiated = Some(answer.negotiated);
        self.leg
            .take(timeout, |e| matches!(e, UaEvent::Ack(_)).then_some(()))
            .ok_or(UaError::Timeout("the ACK"))?;
        Ok(answer.negotiated)
    }

    /// Waits for the caller's CANCEL (the stack answered it and the INVITE).
    pub fn wait_cancel(&mut self, timeout: Duration) -> Option<Request> {
        self.leg.take(timeout, |e| match e {
            UaEvent::Cancelled(cancel) => Some(cancel.clone()),
            _ => None,
        })
    }

    /// Sends BYE and returns the status of its final response.
    pub fn hangup(&mut self, timeout: Duration) -> Result<u16, UaError> {
        self.leg.hangup(timeout)
    }

    /// A BYE from the far side (already answered 200), within `timeout`.
    pub fn wait_bye(&mut self, timeout: Duration) -> Option<Request> {
        self.leg.wait_bye(timeout)
    }

    fn respond(&mut self, response: Response) -> Result<(), UaError> {
        let transaction = self.transaction;
        let is_final = response.status >= 200;
        run(&self.leg.commands, move |engine, now| {
            engine.stack.respond(now, transaction, response)?;
            if is_final {
                engine.servers.remove(&transaction);
            }
            engine.drain(now);
            Ok::<_, UaError>(())
        })?
    }
}
