//! `Agent`: a scriptable Agent RPC client for end-to-end tests.
//!
//! One WebSocket over a std `TcpStream` and one I/O thread that owns it. The
//! thread alternates between sending what the test queued and reading with a
//! short timeout ([`POLL`]), so a send waits at most that long and the thread
//! sees a stop request quickly. Every received message becomes an
//! [`AgentFrame`] on a bounded channel.
//!
//! The test thread reads frames in arrival order. A `wait_*` call looks
//! through the frames already buffered first, then reads on; frames it does
//! not want stay buffered, in order, for the next reader. So an `invite`
//! that arrives while a test waits for a response is not lost, and the test
//! can write its script in the order it thinks in rather than the order the
//! server happens to send. Every wait takes a timeout and returns `None`
//! instead of hanging; once the connection has closed, waits return at once.
//!
//! Memory is bounded: at most [`BUFFER_CAP`] frames are buffered. A wait that
//! finds the buffer full stops reading (the socket then pushes back on the
//! server) and returns `None`.
//!
//! The client answers nothing by itself, so tests can check what the server
//! does without an answer; [`Agent::wait_bye`] answers the `bye` it returns.
//!
//! ```no_run
//! use std::time::Duration;
//! use serde_json::json;
//! use testkit::agent::Agent;
//!
//! let addr = "127.0.0.1:6000".parse().unwrap();
//! let mut agent = Agent::connect(addr, "myagent").expect("agent connects");
//! let invite = agent.expect_invite(Duration::from_secs(5)).expect("invite");
//! agent.respond_invite(&invite, 200, "OK");
//! let (_, answered) = agent
//!     .call("answer", &invite.did, json!(null), Duration::from_secs(2))
//!     .expect("answer completes");
//! assert_eq!(answered.code, 200);
//! agent.wait_bye(&invite.did, Duration::from_secs(5)).expect("bye");
//! ```

use std::collections::VecDeque;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agent_rpc::{cli, Frame, ListenFrame, Request, Response};
use serde_json::Value;
use tungstenite::handshake::HandshakeError;
use tungstenite::{ClientRequestBuilder, Message, WebSocket};

/// Longest the I/O thread blocks in a read, so queued sends go out promptly.
pub const POLL: Duration = Duration::from_millis(5);
/// Most frames held for later readers; past it, waits stop reading.
pub const BUFFER_CAP: usize = 10_000;
/// Bound on the TCP connect and the upgrade handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long closing waits for the server's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Frames in flight between the I/O thread and the test thread.
const CHANNEL_CAP: usize = 64;
/// Most bytes of a refusal's body kept for the test.
const REFUSAL_BODY_CAP: usize = 64 * 1024;

/// Why an agent could not connect.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The TCP connection failed (nothing listening, or the connect timed out).
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered the upgrade with a plain HTTP status.
    #[error("upgrade refused: {status} {body}")]
    Refused {
        /// HTTP status, e.g. 400 for a missing endpoint, 404 for an unknown one.
        status: u16,
        /// The response body, e.g. `No endpoint found`.
        body: String,
    },
    /// The handshake did not complete in time.
    #[error("handshake timed out")]
    Timeout,
    /// The request could not be built or the handshake failed otherwise.
    #[error("handshake: {0}")]
    Handshake(#[source] Box<tungstenite::Error>),
}

/// One message from the server, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentFrame {
    /// A request from the server (`invite`, `bye`).
    Request(Request),
    /// A response to one of our requests (also a CLI-mode `<code> <id>` line).
    Response(Response),
    /// The audio of a `listen`, from its binary frame.
    Listen {
        /// Id of the `listen` request.
        id: String,
        /// The captured audio (raw s16le or a WAV file).
        audio: Vec<u8>,
    },
    /// A text frame that is not an Agent RPC frame, kept so a test can see it.
    Text(String),
    /// A binary frame that is not a listen frame.
    Binary(Vec<u8>),
    /// The connection has ended; nothing follows.
    Closed,
}

/// An Agent RPC connection driven by a test.
pub struct Agent {
    outgoing: Sender<Message>,
    incoming: Receiver<AgentFrame>,
    buffer: VecDeque<AgentFrame>,
    closed: bool,
    next_id: u64,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Agent {
    /// Connects as an agent of `endpoint`, the way SDK agents do.
    pub fn connect(addr: SocketAddr, endpoint: &str) -> Result<Agent, AgentError> {
        Agent::connect_with(addr, &format!("/?endpoint={endpoint}"), &[])
    }

    /// [`Agent::connect`], retried every 50 ms for up to `timeout` while the
    /// server's listener comes up (it binds after the SIP one a test waits
    /// for); the last error if it never accepts.
    pub fn connect_retrying(
        addr: SocketAddr,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Agent, AgentError> {
        let deadline = Instant::now() + timeout;
        loop {
            match Agent::connect(addr, endpoint) {
                Ok(agent) => return Ok(agent),
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Connects with any path, query and extra headers, for tests of the
    /// upgrade itself (missing endpoint, CLI mode, authorisation).
    pub fn connect_with(
        addr: SocketAddr,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Agent, AgentError> {
        let slash = if path_and_query.starts_with('/') {
            ""
        } else {
            "/"
        };
        let uri = format!("ws://{addr}{slash}{path_and_query}")
            .parse()
            .map_err(|e: tungstenite::http::uri::InvalidUri| {
                AgentError::Handshake(Box::new(tungstenite::Error::HttpFormat(e.into())))
            })?;
        let request = headers
            .iter()
            .fold(ClientRequestBuilder::new(uri), |request, (name, value)| {
                request.with_header(*name, *value)
            });
        let cli_mode = headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("x-request-type") && value.eq_ignore_ascii_case("cli")
        });

        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        // A second handle on the socket: a refusal's body may arrive after
        // the bytes the handshake read, and the handshake drops its stream.
        let spare = stream.try_clone()?;
        let socket = match tungstenite::client(request, stream) {
            Ok((socket, _)) => socket,
            Err(HandshakeError::Interrupted(_)) => return Err(AgentError::Timeout),
            Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                return Err(refusal(&response, spare));
            }
            Err(HandshakeError::Failure(e)) => return Err(AgentError::Handshake(Box::new(e))),
        };
        socket.get_ref().set_read_timeout(Some(POLL))?;

        let (outgoing, to_send) = mpsc::channel();
        let (received, incoming) = mpsc::sync_channel(CHANNEL_CAP);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("agent-rpc-io".into())
                .spawn(move || io_loop(socket, &to_send, &received, &stop, cli_mode))?
        };
        Ok(Agent {
            outgoing,
            incoming,
            buffer: VecDeque::new(),
            closed: false,
            next_id: 0,
            stop,
            thread: Some(thread),
        })
    }

    /// The next frame of any kind, buffered ones first; [`AgentFrame::Closed`]
    /// once the connection has ended and the buffer is drained.
    pub fn next(&mut self, timeout: Duration) -> Option<AgentFrame> {
        self.wait_frame(timeout, |_| true)
            .or_else(|| (self.closed && self.buffer.is_empty()).then_some(AgentFrame::Closed))
    }

    /// The first frame that `wanted` accepts; the others stay buffered in order.
    pub fn wait_frame(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&AgentFrame) -> bool,
    ) -> Option<AgentFrame> {
        if let Some(position) = self.buffer.iter().position(&mut wanted) {
            return self.buffer.remove(position);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if self.closed {
                return None;
            }
            if self.buffer.len() >= BUFFER_CAP {
                eprintln!("testkit agent: {BUFFER_CAP} frames buffered unread; not reading more");
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.incoming.recv_timeout(left) {
                Ok(frame) if wanted(&frame) => return Some(frame),
                Ok(frame) => self.buffer.push_back(frame),
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
            }
        }
    }

    /// The next server request `op` (any call); other frames stay buffered.
    pub fn wait_request(&mut self, op: &str, timeout: Duration) -> Option<Request> {
        match self.wait_frame(
            timeout,
            |f| matches!(f, AgentFrame::Request(r) if r.op == op),
        )? {
            AgentFrame::Request(request) => Some(request),
            _ => None,
        }
    }

    /// The next `invite`; invites are never lost to other waits.
    pub fn expect_invite(&mut self, timeout: Duration) -> Option<Request> {
        self.wait_request("invite", timeout)
    }

    /// Answers a server request, echoing its `did`.
    pub fn respond(&mut self, request: &Request, code: u16, reason: &str) {
        self.send_response(&Response::to(request, code, reason));
    }

    /// Answers an `invite` with `did: ""`, as Diagox SDK agents do.
    pub fn respond_invite(&mut self, invite: &Request, code: u16, reason: &str) {
        self.send_response(&Response::new(invite.id.clone(), "", code, reason));
    }

    /// Sends a response built by the test (any fields, any data).
    pub fn send_response(&mut self, response: &Response) {
        self.send_text(&response.to_json());
    }

    /// Sends a request with a fresh id and returns that id, to wait on.
    pub fn send_request(&mut self, op: &str, did: &str, data: Value) -> String {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        self.send_text(&Request::new(id.clone(), did, op, data).to_json());
        id
    }

    /// Sends one raw text frame: malformed JSON, CLI lines, odd casings.
    ///
    /// Never fails: if the connection is gone, the next wait reports it.
    pub fn send_text(&mut self, text: &str) {
        let _ = self.outgoing.send(Message::text(text));
    }

    /// Sends one raw binary frame (agents never should; for tests of that).
    pub fn send_binary(&mut self, bytes: Vec<u8>) {
        let _ = self.outgoing.send(Message::binary(bytes));
    }

    /// The next response (provisional or final) to request `id`.
    pub fn wait_response(&mut self, id: &str, timeout: Duration) -> Option<Response> {
        match self.wait_frame(
            timeout,
            |f| matches!(f, AgentFrame::Response(r) if r.id == id),
        )? {
            AgentFrame::Response(response) => Some(response),
            _ => None,
        }
    }

    /// The provisionals to request `id` and then its final response (code ≥ 200),
    /// all within `timeout`.
    pub fn wait_final(&mut self, id: &str, timeout: Duration) -> Option<(Vec<Response>, Response)> {
        let deadline = Instant::now() + timeout;
        let mut provisionals = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let response = self.wait_response(id, left)?;
            if !response.is_provisional() {
                return Some((provisionals, response));
            }
            provisionals.push(response);
        }
    }

    /// Sends a request and waits for its final response.
    pub fn call(
        &mut self,
        op: &str,
        did: &str,
        data: Value,
        timeout: Duration,
    ) -> Option<(Vec<Response>, Response)> {
        let id = self.send_request(op, did, data);
        self.wait_final(&id, timeout)
    }

    /// The audio of the `listen` request `id`.
    pub fn wait_listen(&mut self, id: &str, timeout: Duration) -> Option<Vec<u8>> {
        let wanted = |f: &AgentFrame| matches!(f, AgentFrame::Listen { id: i, .. } if i == id);
        match self.wait_frame(timeout, wanted)? {
            AgentFrame::Listen { audio, .. } => Some(audio),
            _ => None,
        }
    }

    /// The server's `bye` for `did`, answered 200 as agents must.
    pub fn wait_bye(&mut self, did: &str, timeout: Duration) -> Option<Request> {
        let wanted =
            |f: &AgentFrame| matches!(f, AgentFrame::Request(r) if r.op == "bye" && r.did == did);
        let AgentFrame::Request(bye) = self.wait_frame(timeout, wanted)? else {
            return None;
        };
        self.respond(&bye, 200, "OK");
        Some(bye)
    }

    /// Frames received but not yet taken by a wait, oldest first.
    pub fn buffered(&self) -> impl Iterator<Item = &AgentFrame> {
        self.buffer.iter()
    }

    /// Whether the connection has ended (seen by a wait).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Closes the WebSocket cleanly and joins the I/O thread (as drop does).
    pub fn close(self) {}

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The refusal in `response`, with the rest of its body read from `spare`.
fn refusal(
    response: &tungstenite::http::Response<Option<Vec<u8>>>,
    mut spare: TcpStream,
) -> AgentError {
    let mut body = response.body().clone().unwrap_or_default();
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let want = length.unwrap_or(REFUSAL_BODY_CAP).min(REFUSAL_BODY_CAP);
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut chunk = [0u8; 4096];
    while body.len() < want && Instant::now() < deadline {
        match spare.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    body.truncate(want);
    AgentError::Refused {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Decodes one message; `None` for control frames.
fn decode(message: Message, cli_mode: bool) -> Option<AgentFrame> {
    Some(match message {
        Message::Text(text) => match Frame::decode(text.as_str()) {
            Ok(Frame::Request(request)) => AgentFrame::Request(request),
            Ok(Frame::Response(response)) => AgentFrame::Response(response),
            Err(_) => match cli_response(text.as_str(), cli_mode) {
                Some(response) => AgentFrame::Response(response),
                None => AgentFrame::Text(text.as_str().to_owned()),
            },
        },
        Message::Binary(bytes) => match ListenFrame::decode(&bytes) {
            Ok(listen) => AgentFrame::Listen {
                id: listen.id.to_owned(),
                audio: listen.audio.to_vec(),
            },
            Err(_) => AgentFrame::Binary(bytes.to_vec()),
        },
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => return None,
    })
}

/// A CLI-mode `<code> <id>` line as the response it renders.
fn cli_response(text: &str, cli_mode: bool) -> Option<Response> {
    if !cli_mode || !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    match cli::parse_line(text, String::new) {
        Ok(Frame::Response(response)) => Some(response),
        _ => None,
    }
}

/// The I/O thread: send what is queued, read for up to [`POLL`], hand over
/// what was read; close the socket when the `Agent` stops or goes away.
fn io_loop(
    mut socket: WebSocket<TcpStream>,
    to_send: &Receiver<Message>,
    received: &SyncSender<AgentFrame>,
    stop: &AtomicBool,
    cli_mode: bool,
) {
    // A frame the test thread has no room for yet: reading pauses until it fits.
    let mut pending: Option<AgentFrame> = None;
    loop {
        // Sends first, so what the test sent just before closing goes out.
        loop {
            match to_send.try_recv() {
                Ok(message) => {
                    if socket.send(message).is_err() {
                        return;
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return close(socket),
            }
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(frame) = pending.take() {
            match received.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(frame)) => {
                    pending = Some(frame);
                    std::thread::sleep(POLL);
                    continue;
                }
                Err(TrySendError::Disconnected(_)) => return close(socket),
            }
        }
        match socket.read() {
            Ok(message) => pending = decode(message, cli_mode),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // Closed by the server, or broken: dropping `received` tells the test.
            Err(_) => return,
        }
    }
    close(socket);
}

/// Sends a close frame and waits briefly for the server's, so the server
/// sees a clean close rather than a reset.
fn close(mut socket: WebSocket<TcpStream>) {
    if socket.close(None).is_err() {
        return;
    }
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
// tungstenite's upgrade callback returns its refusal, a whole HTTP response, as the error.
#[allow(clippy::result_large_err)]
mod tests {
    use std::net::TcpListener;

    use serde_json::json;
    use tungstenite::handshake::server::{
        ErrorResponse, Request as HttpRequest, Response as HttpResponse,
    };

    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    /// A one-connection WebSocket server on 127.0.0.1:0 that accepts the
    /// upgrade when `check` does and then runs `script`.
    fn serve<C, S>(check: C, script: S) -> (SocketAddr, JoinHandle<()>)
    where
        C: FnOnce(&HttpRequest, HttpResponse) -> Result<HttpResponse, ErrorResponse>
            + Send
            + 'static,
        S: FnOnce(&mut WebSocket<TcpStream>) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
        let addr = listener
            .local_addr()
            .expect("bound listener has an address");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(WAIT)).expect("set timeout");
            if let Ok(mut socket) = tungstenite::accept_hdr(stream, check) {
                script(&mut socket);
            }
        });
        (addr, server)
    }

    fn accept_all(_: &HttpRequest, response: HttpResponse) -> Result<HttpResponse, ErrorResponse> {
        Ok(response)
    }

    fn send(socket: &mut WebSocket<TcpStream>, frame: impl Into<Frame>) {
        socket
            .send(Message::text(frame.into().to_json()))
            .expect("server sends");
    }

    /// The next text frame the client sent, decoded.
    fn receive(socket: &mut WebSocket<TcpStream>) -> Frame {
        loop {
            match socket.read().expect("server reads") {
                Message::Text(text) => {
                    return Frame::decode(text.as_str()).expect("client sends JSON")
                }
                _ => continue,
            }
        }
    }

    fn wait_closed(socket: &mut WebSocket<TcpStream>) {
        while socket.read().is_ok() {}
    }

    #[test]
    fn waits_take_what_they_want_and_leave_the_rest_in_order() {
        let invite = Request::new(
            "inv-1",
            "d1",
            "invite",
            json!({"callID": "c1", "from": "alice", "to": "100"}),
        );
        let bye = Request::new("bye-1", "d1", "bye", Value::Null);
        let (addr, server) = serve(accept_all, move |socket| {
            let Frame::Request(play) = receive(socket) else {
                panic!("expected play request")
            };
            assert_eq!((play.op.as_str(), play.did.as_str()), ("play", "d1"));
            send(socket, Response::playback_in_progress(&play));
            send(socket, invite.clone());
            let listen = ListenFrame::new("listen-9", &[1, 2, 3])
                .encode()
                .expect("short id");
            socket.send(Message::binary(listen)).expect("server sends");
            send(socket, Response::ok(&play));
            send(socket, bye.clone());
            let Frame::Response(answer) = receive(socket) else {
                panic!("expected bye answer")
            };
            assert_eq!((answer.id.as_str(), answer.code), ("bye-1", 200));
            wait_closed(socket);
        });

        let mut agent = Agent::connect(addr, "myagent").expect("connects");
        let id = agent.send_request("play", "d1", json!({"uri": "file://a.wav"}));
        assert_eq!(agent.wait_listen("listen-9", WAIT), Some(vec![1, 2, 3]));
        let bye = agent
            .wait_bye("d1", WAIT)
            .expect("bye after everything else");
        assert_eq!(bye.id, "bye-1");
        let (provisionals, done) = agent.wait_final(&id, WAIT).expect("play completes");
        assert_eq!(
            provisionals.iter().map(|r| r.code).collect::<Vec<_>>(),
            [183]
        );
        assert_eq!(done.code, 200);
        let invite = agent.expect_invite(WAIT).expect("invite was kept");
        assert_eq!(invite.data["from"], "alice");
        agent.close();
        server.join().expect("server script passes");
    }

    #[test]
    fn next_returns_frames_in_arrival_order_then_closed() {
        let (addr, server) = serve(accept_all, |socket| {
            send(socket, Response::new("a", "", 183, "Session Progress"));
            socket
                .send(Message::text("not json"))
                .expect("server sends");
            send(socket, Request::new("b", "d", "bye", Value::Null));
            socket.close(None).expect("server closes");
            wait_closed(socket);
        });
        let mut agent = Agent::connect(addr, "myagent").expect("connects");
        assert!(matches!(agent.next(WAIT), Some(AgentFrame::Response(r)) if r.id == "a"));
        assert_eq!(agent.next(WAIT), Some(AgentFrame::Text("not json".into())));
        assert!(matches!(agent.next(WAIT), Some(AgentFrame::Request(r)) if r.op == "bye"));
        assert_eq!(agent.next(WAIT), Some(AgentFrame::Closed));
        // Once closed, waits return at once instead of running out their time.
        let started = Instant::now();
        assert_eq!(agent.expect_invite(Duration::from_secs(10)), None);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(agent.is_closed());
        server.join().expect("server script passes");
    }

    #[test]
    fn a_wait_times_out_and_keeps_what_it_skipped() {
        let (addr, server) = serve(accept_all, |socket| {
            send(socket, Request::new("inv-1", "d1", "invite", Value::Null));
            wait_closed(socket);
        });
        let mut agent = Agent::connect(addr, "myagent").expect("connects");
        let started = Instant::now();
        assert_eq!(
            agent.wait_response("nobody", Duration::from_millis(300)),
            None
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < WAIT,
            "waited {waited:?}"
        );
        assert_eq!(agent.buffered().count(), 1);
        let invite = agent
            .expect_invite(Duration::ZERO)
            .expect("buffered invite");
        agent.respond_invite(&invite, 200, "OK");
        drop(agent);
        server.join().expect("server script passes");
    }

    #[test]
    fn invite_is_answered_with_an_empty_did_and_other_requests_echo_theirs() {
        let (addr, server) = serve(accept_all, |socket| {
            send(socket, Request::new("inv-1", "d1", "invite", Value::Null));
            let Frame::Response(answer) = receive(socket) else {
                panic!("expected a response")
            };
            assert_eq!(
                (answer.id.as_str(), answer.did.as_str(), answer.code),
                ("inv-1", "", 486)
            );
            send(socket, Request::new("x-1", "d1", "bye", Value::Null));
            let Frame::Response(answer) = receive(socket) else {
                panic!("expected a response")
            };
            assert_eq!(
                (answer.did.as_str(), answer.code, answer.reason.as_str()),
                ("d1", 200, "OK")
            );
            wait_closed(socket);
        });
        let mut agent = Agent::connect(addr, "myagent").expect("connects");
        let invite = agent.expect_invite(WAIT).expect("invite");
        agent.respond_invite(&invite, 486, "Busy Here");
        let bye = agent.wait_request("bye", WAIT).expect("bye");
        agent.respond(&bye, 200, "OK");
        agent.close();
        server.join().expect("server script passes");
    }

    #[test]
    fn a_flooding_server_fills_the_buffer_but_no_further() {
        let (addr, server) = serve(accept_all, |socket| {
            for n in 0..BUFFER_CAP + 200 {
                // The client stops reading when full: a send may then block.
                if socket
                    .send(Message::text(
                        Request::new(n.to_string(), "d", "invite", Value::Null).to_json(),
                    ))
                    .is_err()
                {
                    return;
                }
            }
            wait_closed(socket);
        });
        let mut agent = Agent::connect(addr, "myagent").expect("connects");
        assert_eq!(agent.wait_response("never", Duration::from_secs(10)), None);
        assert_eq!(agent.buffered().count(), BUFFER_CAP);
        let first = agent
            .expect_invite(Duration::ZERO)
            .expect("oldest invite kept");
        assert_eq!(first.id, "0");
        agent.close();
        server.join().expect("server script passes");
    }

    #[test]
    fn refused_upgrade_reports_status_and_body() {
        let (addr, server) = serve(
            |_: &HttpRequest, _| {
                let body = "No endpoint found".to_owned();
                Err(tungstenite::http::Response::builder()
                    .status(404)
                    .header("Content-Length", body.len())
                    .body(Some(body))
                    .expect("valid response"))
            },
            |_| {},
        );
        match Agent::connect(addr, "nobody") {
            Err(AgentError::Refused { status, body }) => {
                assert_eq!((status, body.as_str()), (404, "No endpoint found"));
            }
            Err(e) => panic!("expected a refusal, got {e}"),
            Ok(_) => panic!("expected a refusal, got a connection"),
        }
        server.join().expect("server script passes");
    }

    #[test]
    fn connect_with_sends_query_and_headers_and_reads_cli_responses() {
        let check = |request: &HttpRequest, response: HttpResponse| {
            assert_eq!(request.uri().query(), Some("endpoint=cliagent"));
            assert_eq!(request.headers()["x-request-type"], "cli");
            Ok(response)
        };
        let (addr, server) = serve(check, |socket| {
            let line = loop {
                if let Message::Text(text) = socket.read().expect("server reads") {
                    break text;
                }
            };
            assert_eq!(line.as_str(), "ring r1");
            socket.send(Message::text("200 r1")).expect("server sends");
            wait_closed(socket);
        });
        let mut agent =
            Agent::connect_with(addr, "?endpoint=cliagent", &[("X-Request-Type", "cli")])
                .expect("connects");
        agent.send_text("ring r1");
        let response = agent.wait_response("r1", WAIT).expect("CLI response");
        assert_eq!(response.code, 200);
        agent.close();
        server.join().expect("server script passes");
    }
}
