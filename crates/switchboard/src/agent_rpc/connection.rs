//! One agent connection: a loop that reads the socket, its calls' events and
//! the hub's invitations, and one writer task that owns the socket's send
//! half.
//!
//! The loop never waits on anything but those three inputs and its timers:
//! every write is a `try_send` into the writer's bounded queue, every command
//! a `try_send` into a call's queue. An agent that stops reading fills the
//! writer's queue and is disconnected; a call that stops taking commands
//! earns its own requests a 429. Either way the other calls on the
//! connection go on.
//!
//! Back-pressure reaches new offers first: while the writer's queue is more
//! than [`OFFER_QUEUE_LIMIT`] full, an invitation is passed on (503) instead
//! of becoming an `invite` frame, so a server behind on its own writes
//! refuses new calls long before the queue fills and the agent is dropped.
//!
//! When the socket closes, the connection leaves the hub at once (offers go
//! to other agents, pending invites fail over), and its calls go to the
//! neutral grace period ([`crate::control::hang_up_after_grace`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use agent_rpc::{cli, AgentOp, Frame, Request, Response, ServerOp};
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use call_control::Event;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::dialog::Dialog;
use super::hub::Registration;
use super::ids::{new_did, new_request_id};
use super::mapping::{self, Outgoing};
use crate::calls::CallKey;
use crate::control::{
    hang_up_after_grace, watch_call, EventSink, Invitation, OrphanCall, CONTROLLER_EVENT_QUEUE,
};
use crate::http::metrics::commands;

/// Frames that may wait for the writer; an agent this far behind is
/// disconnected rather than buffered without end. Far above
/// [`OFFER_QUEUE_LIMIT`]: when the server itself is behind, offers stop
/// there, and the frames of calls already taken (answers, `bye`s) still
/// have room while the writer catches up (at 3,000 calls/s on one core,
/// 1,024 frames were not enough). The queue's memory grows only with use.
pub const WRITER_QUEUE: usize = 8192;
/// Frames queued for the writer beyond which new offers are passed on; the
/// rest of the queue stays for the frames of calls already taken.
pub(super) const OFFER_QUEUE_LIMIT: usize = 512;
/// How often the server pings an agent.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Silence (not even a pong) after which an agent counts as gone.
const IDLE_LIMIT: Duration = Duration::from_secs(90);
/// How long an unanswered `bye` is remembered.
const BYE_TIMEOUT: Duration = Duration::from_secs(32);
/// How long an invite the hub gave up on is remembered, so that a late 200
/// gets a `bye` rather than a call that is not there.
const ABANDONED_INVITE_MEMORY: Duration = Duration::from_secs(600);
/// Frames the writer hands the socket before flushing.
const WRITE_BATCH: usize = 64;

/// What a connection knows from its upgrade request.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// The client's address, for logs.
    pub peer: SocketAddr,
    /// `X-Request-Type: cli`: the agent writes CLI lines, not JSON.
    pub cli: bool,
    /// How long the agent has to answer an `invite`.
    pub invite_timeout: Duration,
    /// How long its calls survive a disconnect.
    pub disconnect_grace: Duration,
}

/// Why the socket phase of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The agent closed or dropped the connection.
    PeerClosed,
    /// The server is shutting down.
    Shutdown,
    /// The writer's queue filled up: the agent does not read.
    TooSlow,
    /// The writer failed: the socket is broken.
    WriterGone,
    /// Nothing heard from the agent for [`IDLE_LIMIT`].
    Idle,
}

/// Serves one upgraded connection until it closes, then its calls through
/// the grace period. `alive` is held until the close frame is out, so the
/// server can wait for connections to close on shutdown.
pub(super) async fn run(
    socket: WebSocket,
    session: Session,
    registration: Registration,
    invitations: mpsc::Receiver<Invitation>,
    shutdown: watch::Receiver<bool>,
    alive: mpsc::Sender<()>,
) {
    let (sink, stream) = socket.split();
    let (frames, queued_frames) = mpsc::channel(WRITER_QUEUE);
    registration.writes_through(&frames);
    let writer = tokio::spawn(write_frames(sink, queued_frames, alive.clone()));
    let (events, mut call_events) = mpsc::channel(CONTROLLER_EVENT_QUEUE);
    info!(peer = %session.peer, cli = session.cli, "agent connected");
    let grace = session.disconnect_grace;
    let mut connection = Connection::new(session, frames, events);

    let end = connection
        .serve(stream, invitations, &mut call_events, shutdown)
        .await;

    // No new offers; pending invites fail over to the next agent as their
    // reply channels drop with the connection's bookkeeping.
    drop(registration);
    let Connection {
        dialogs,
        dids,
        frames,
        server_requests,
        ..
    } = connection;
    drop(server_requests);
    match end {
        End::Shutdown => {
            let close = Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: "server shutting down".into(),
            }));
            let _ = frames.try_send(close);
        }
        End::TooSlow | End::Idle => writer.abort(),
        End::PeerClosed | End::WriterGone => {}
    }
    drop(frames);
    drop(alive);
    info!(?end, calls = dialogs.len(), "agent disconnected");
    drop(dids);
    let orphans = dialogs
        .into_values()
        .map(|mut dialog| OrphanCall {
            hangup: dialog.next_request_id(),
            call: dialog.call().clone(),
            name: dialog.did().to_owned(),
        })
        .collect();
    hang_up_after_grace(orphans, call_events, grace).await;
}

/// The state of one live connection.
struct Connection {
    session: Session,
    /// Into the writer task.
    frames: mpsc::Sender<Message>,
    /// The queue every call of this connection reports to.
    events: mpsc::Sender<(CallKey, Event)>,
    /// Calls by the `did` the agent knows them by.
    dialogs: HashMap<String, Dialog>,
    /// The same calls by key, for their events.
    dids: HashMap<CallKey, String>,
    /// The call most recently taken here: what `did: "last"` names.
    last_did: Option<String>,
    /// Our requests (`invite`, `bye`) awaiting the agent's answer, by id.
    server_requests: HashMap<String, ServerRequest>,
    /// When each of them stops being waited for.
    deadlines: BTreeMap<(Instant, u64), String>,
    deadline_seq: u64,
    /// Frames produced while handling one input, then written in order.
    outbox: Vec<Outgoing>,
    /// Set when a write shows the connection must close.
    closing: Option<End>,
    /// Offers passed on since the writer's queue became backlogged.
    offers_passed: u64,
}

struct ServerRequest {
    deadline: (Instant, u64),
    kind: Awaiting,
}

enum Awaiting {
    /// An `invite` the offer waits on.
    Invite { did: String, invitation: Invitation },
    /// An `invite` the hub gave up on: a 200 to it gets a `bye`.
    AbandonedInvite { did: String },
    /// A `bye`, whose answer only ends our wait.
    Bye,
}

impl Connection {
    fn new(
        session: Session,
        frames: mpsc::Sender<Message>,
        events: mpsc::Sender<(CallKey, Event)>,
    ) -> Connection {
        Connection {
            session,
            frames,
            events,
            dialogs: HashMap::new(),
            dids: HashMap::new(),
            last_did: None,
            server_requests: HashMap::new(),
            deadlines: BTreeMap::new(),
            deadline_seq: 0,
            outbox: Vec::new(),
            closing: None,
            offers_passed: 0,
        }
    }

    async fn serve(
        &mut self,
        mut stream: SplitStream<WebSocket>,
        mut invitations: mpsc::Receiver<Invitation>,
        call_events: &mut mpsc::Receiver<(CallKey, Event)>,
        mut shutdown: watch::Receiver<bool>,
    ) -> End {
        if *shutdown.borrow_and_update() {
            return End::Shutdown;
        }
        let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
        let mut last_heard = Instant::now();
        // One timer, re-armed only when the earliest deadline changes.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            let next_deadline = self.deadlines.keys().next().map(|(at, _)| *at);
            if let Some(at) = next_deadline.filter(|at| armed != Some(*at)) {
                timer.as_mut().reset(at);
                armed = Some(at);
            }
            tokio::select! {
                // Sent `true`, or dropped with the server: either way, close.
                _ = shutdown.changed() => return End::Shutdown,
                message = stream.next() => match message {
                    None => return End::PeerClosed,
                    Some(Err(error)) => {
                        debug!(%error, "agent socket failed");
                        return End::PeerClosed;
                    }
                    Some(Ok(message)) => {
                        last_heard = Instant::now();
                        if self.on_message(message) {
                            return End::PeerClosed;
                        }
                    }
                },
                Some((call, event)) = call_events.recv() => self.on_event(call, event),
                Some(invitation) = invitations.recv() => self.on_invitation(invitation),
                () = &mut timer, if next_deadline.is_some() => {
                    armed = None;
                    self.on_deadlines();
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= IDLE_LIMIT {
                        return End::Idle;
                    }
                    self.write(Message::Ping(Default::default()));
                }
            }
            if let Some(end) = self.closing.take() {
                return end;
            }
        }
    }

    /// Handles one WebSocket message; `true` when the agent closed.
    fn on_message(&mut self, message: Message) -> bool {
        match message {
            Message::Text(text) => self.on_text(text.as_str()),
            Message::Binary(_) => {
                self.respond(Response::new("", "", 400, "Binary frames are not accepted"))
            }
            Message::Ping(_) | Message::Pong(_) => {}
            Message::Close(_) => return true,
        }
        false
    }

    fn on_text(&mut self, text: &str) {
        debug!(frame = text, "from agent");
        let decoded = if self.session.cli {
            if text.trim().is_empty() {
                return;
            }
            cli::parse_line(text, new_request_id).map_err(|e| e.to_string())
        } else {
            Frame::decode(text).map_err(|e| e.to_string())
        };
        match decoded {
            Ok(Frame::Request(request)) => self.on_request(request),
            Ok(Frame::Response(response)) => self.on_response(response),
            Err(reason) => {
                let (id, did) = salvage_ids(text);
                self.respond(Response::new(id, did, 400, reason));
            }
        }
    }

    fn on_request(&mut self, mut request: Request) {
        let op = match AgentOp::from_request(&request) {
            Ok(AgentOp::Unknown(_)) => return self.respond(Response::unknown_op(&request)),
            Err(error) => return self.respond(Response::bad_payload(&request, &error)),
            Ok(op) => op,
        };
        let did = if request.did == cli::LAST_DID {
            self.last_did.clone()
        } else {
            Some(request.did.clone())
        };
        let Some(dialog) = did.and_then(|did| self.dialogs.get_mut(&did)) else {
            return self.respond(Response::dialog_does_not_exist(&request));
        };
        // Answer with the real did, so a CLI user learns it.
        request.did = dialog.did().to_owned();
        let arrived = std::time::Instant::now();
        dialog.request(request, op, arrived, &mut self.outbox);
        self.flush();
    }

    fn on_response(&mut self, response: Response) {
        if response.is_provisional() {
            return;
        }
        let Some(answered) = self.server_requests.remove(&response.id) else {
            debug!(id = %response.id, code = response.code, "answer to no request of ours");
            return;
        };
        self.deadlines.remove(&answered.deadline);
        match answered.kind {
            Awaiting::Bye => {}
            Awaiting::Invite { did, invitation } => {
                self.on_invite_answer(did, invitation, &response)
            }
            Awaiting::AbandonedInvite { did } => {
                if (200..300).contains(&response.code) {
                    info!(%did, "agent took a call after its invite timed out; bye");
                    self.send_bye(did);
                }
            }
        }
    }

    fn on_invite_answer(&mut self, did: String, invitation: Invitation, response: &Response) {
        let reason = (!response.reason.is_empty()).then(|| response.reason.clone());
        if (200..300).contains(&response.code) {
            return self.take_call(did, invitation);
        }
        info!(%did, code = response.code, "agent refused the call");
        match response.code {
            503 => invitation.pass(503, reason),
            code @ 400..=699 => invitation.decline(code, reason),
            // A redirection means nothing here, and anything else is not a
            // status: the caller hears "nobody took it".
            _ => invitation.decline(480, None),
        }
    }

    fn take_call(&mut self, did: String, invitation: Invitation) {
        let call = invitation.call.clone();
        let sink = EventSink::new(call.key, self.events.clone());
        if invitation.take(sink).is_err() {
            info!(%did, "agent took a call that is no longer offered; bye");
            return self.send_bye(did);
        }
        info!(%did, call = call.key, "agent took the call");
        watch_call(call.clone(), self.events.clone());
        self.dids.insert(call.key, did.clone());
        self.dialogs.insert(
            did.clone(),
            Dialog::new(did.clone(), call, &commands::AGENT),
        );
        self.last_did = Some(did);
    }

    fn on_invitation(&mut self, invitation: Invitation) {
        if invitation.is_withdrawn() {
            return; // withdrawn while it waited for us
        }
        if self.backlogged() {
            self.offers_passed += 1;
            // Once per backlog episode; the count comes with the next log.
            if self.offers_passed == 1 {
                warn!("agent connection backlogged: new calls passed on (503)");
            }
            return invitation.pass(503, Some("Agent connection backlogged".into()));
        }
        if self.offers_passed > 0 {
            info!(
                passed = self.offers_passed,
                "agent connection caught up: offers resume"
            );
            self.offers_passed = 0;
        }
        let did = new_did(&invitation.info.call_id);
        let id = new_request_id();
        let invite = ServerOp::Invite(mapping::invite(&invitation.info));
        debug!(%did, %id, "invite");
        self.write_frame(Outgoing::Request(
            invite.to_request(id.clone(), did.clone()),
        ));
        let awaiting = Awaiting::Invite { did, invitation };
        self.await_answer(id, awaiting, self.session.invite_timeout);
    }

    /// Whether the writer's queue holds more than [`OFFER_QUEUE_LIMIT`]
    /// frames: new offers wait for it to drain.
    fn backlogged(&self) -> bool {
        let queued = self.frames.max_capacity() - self.frames.capacity();
        queued > OFFER_QUEUE_LIMIT
    }

    fn on_event(&mut self, call: CallKey, event: Event) {
        let Some(did) = self.dids.get(&call) else {
            return;
        };
        match event {
            Event::Done { id, result } => {
                if let Some(dialog) = self.dialogs.get_mut(did) {
                    dialog.done(id, result, &mut self.outbox);
                }
                self.flush();
            }
            // Events an agent has no frame for.
            Event::Started { .. }
            | Event::Dtmf { .. }
            | Event::Ringing { .. }
            | Event::Answered { .. }
            | Event::Joined { .. }
            | Event::InputTimersStarted { .. }
            | Event::Signal { .. }
            | Event::Speaking { .. }
            | Event::Unjoined { .. } => {}
            Event::Ended { reason, .. } => {
                let Some(did) = self.dids.remove(&call) else {
                    return;
                };
                if let Some(dialog) = self.dialogs.remove(&did) {
                    dialog.end(&mut self.outbox);
                }
                if self.last_did.as_deref() == Some(did.as_str()) {
                    self.last_did = None;
                }
                self.flush();
                info!(%did, ?reason, "call ended; bye");
                self.send_bye(did);
            }
        }
    }

    fn on_deadlines(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().0 > now {
                return;
            }
            let id = entry.remove();
            let Some(expired) = self.server_requests.remove(&id) else {
                continue;
            };
            if let Awaiting::Invite { did, invitation } = expired.kind {
                info!(%did, "agent did not answer the invite in time");
                // Unanswered: the offer moves on (if its own timer has not
                // already withdrawn it).
                drop(invitation);
                let abandoned = Awaiting::AbandonedInvite { did };
                self.await_answer(id, abandoned, ABANDONED_INVITE_MEMORY);
            }
        }
    }

    fn send_bye(&mut self, did: String) {
        let id = new_request_id();
        self.write_frame(Outgoing::Request(ServerOp::Bye.to_request(id.clone(), did)));
        self.await_answer(id, Awaiting::Bye, BYE_TIMEOUT);
    }

    fn await_answer(&mut self, id: String, kind: Awaiting, within: Duration) {
        self.deadline_seq += 1;
        let deadline = (Instant::now() + within, self.deadline_seq);
        self.deadlines.insert(deadline, id.clone());
        self.server_requests
            .insert(id, ServerRequest { deadline, kind });
    }

    fn respond(&mut self, response: Response) {
        self.write_frame(Outgoing::Response(response));
    }

    fn flush(&mut self) {
        let mut outbox = std::mem::take(&mut self.outbox);
        for frame in outbox.drain(..) {
            self.write_frame(frame);
        }
        self.outbox = outbox;
    }

    fn write_frame(&mut self, frame: Outgoing) {
        let message = match frame {
            Outgoing::Response(response) => Message::Text(response.to_json().into()),
            Outgoing::Request(request) => Message::Text(request.to_json().into()),
            Outgoing::Audio(bytes) => Message::Binary(bytes.into()),
        };
        if let Message::Text(text) = &message {
            debug!(frame = text.as_str(), "to agent");
        }
        self.write(message);
    }

    fn write(&mut self, message: Message) {
        if self.closing.is_some() {
            return;
        }
        match self.frames.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!("agent does not read its frames; closing the connection");
                self.closing = Some(End::TooSlow);
            }
            Err(TrySendError::Closed(_)) => self.closing = Some(End::WriterGone),
        }
    }
}

/// The id and did of an undecodable frame, when its JSON gets that far, so
/// the agent can tell which of its requests the 400 answers.
fn salvage_ids(text: &str) -> (String, String) {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return Default::default();
    };
    let field = |name: &str| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| match value {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .unwrap_or_default()
    };
    (field("id"), field("did"))
}

/// Writes queued frames in batches until the queue closes or a close frame
/// is sent.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut frames: mpsc::Receiver<Message>,
    _alive: mpsc::Sender<()>,
) {
    while let Some(first) = frames.recv().await {
        let mut closing = matches!(first, Message::Close(_));
        if sink.feed(first).await.is_err() {
            return;
        }
        // One scheduler pass lets frames that other calls are producing
        // right now join this write: with TCP_NODELAY every flush is a
        // segment, so batching is what keeps busy connections cheap.
        if frames.is_empty() {
            tokio::task::yield_now().await;
        }
        for _ in 1..WRITE_BATCH {
            if closing {
                break;
            }
            let Ok(next) = frames.try_recv() else { break };
            closing = matches!(next, Message::Close(_));
            if sink.feed(next).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests;
