//! A load agent for Agent RPC: takes every call the server offers, answers
//! it and keeps it busy, and measures how fast the server responds. The
//! `agent-load` binary is a thin front end to [`LoadAgent`].
//!
//! One thread drives every connection: each WebSocket runs over a
//! nonblocking `TcpStream` registered with `mio` (epoll), so the thread
//! sleeps in `epoll_wait` until a frame arrives or its next timer is due
//! (hang-ups, the 10 s request timeout, the status line). Per call:
//!
//! 1. `invite` → response 200 with `did: ""` (as SDK agents answer), then
//!    `answer` at once. The time from writing `answer` to reading its final
//!    response is the *answer latency* (monotonic clock, µs histogram);
//!    answers sent while at least `latency_from_calls` other calls were up
//!    go into a second histogram too.
//! 2. Then per [`Mode`]: `play` the prompt and play it again each time it
//!    completes (the time from `play` to its first response is kept as well);
//!    `hold`; or `hangup` after a delay.
//! 3. `bye` → 200; the call is forgotten.
//!
//! A final response other than 2xx counts as a failure of its op, except
//! 487 to a `play` (the call ended under it, as it does when the caller
//! hangs up mid-prompt). A request without any response within
//! [`REQUEST_TIMEOUT`] is a failure too (agents give up then). Memory is
//! bounded by the live calls and requests, which the server bounds; the
//! histograms are fixed-size.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_rpc::{Frame, Request, Response};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use serde_json::{json, Value};
use tungstenite::handshake::HandshakeError;
use tungstenite::{Message, WebSocket};

pub use super::agent_report::{AgentReport, Op};
use super::stats::micros;
use super::{process_cpu_ticks, USER_HZ};

/// Agents give up on a request without any response after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the TCP connect and the upgrade handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest the loop sleeps, so a stop request is seen quickly even without the waker.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// The waker's token (connections use their index).
const WAKE: Token = Token(usize::MAX);

/// What the agent does with a call once it is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Play `uri`, and again each time it completes, until the call ends.
    Play {
        /// The prompt, e.g. `file://tone.wav`.
        uri: String,
    },
    /// Nothing: the caller ends the call.
    Hold,
    /// Send `hangup` this long after the answer.
    HangupAfter(Duration),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct AgentLoadConfig {
    /// `ws://host:port/?endpoint=NAME`.
    pub url: String,
    /// WebSocket connections (the server spreads calls over them).
    pub connections: usize,
    /// What to do with answered calls.
    pub mode: Mode,
    /// Answers sent while at least this many other calls were up also go
    /// into a second latency histogram.
    pub latency_from_calls: Option<usize>,
    /// Most calls held at once; invites beyond it are answered 486.
    pub max_calls: usize,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentLoadError {
    /// The URL is not `ws://host:port/…`.
    #[error("bad URL {0:?}: {1}")]
    Url(String, String),
    /// A socket or the poller failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server refused the upgrade with a plain HTTP status.
    #[error("upgrade refused: HTTP {status} {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Body of the refusal, e.g. `No endpoint found`.
        body: String,
    },
    /// The WebSocket handshake failed otherwise.
    #[error("handshake: {0}")]
    Handshake(String),
}

/// Stops a running [`LoadAgent`] from another thread (a signal handler thread).
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the agent to stop; it returns its report promptly.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// Once a second while the agent runs.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    /// Time since the agent started.
    pub elapsed: Duration,
    /// Invites received so far.
    pub invites: u64,
    /// Calls answered so far.
    pub answered: u64,
    /// Calls up (answered and not ended) now.
    pub up: usize,
    /// Plays completed so far.
    pub plays: u64,
    /// Failures so far.
    pub failures: u64,
}

/// One WebSocket to the server.
struct Connection {
    socket: WebSocket<TcpStream>,
    open: bool,
}

/// A call the agent took.
struct Call {
    connection: usize,
    up: bool,
}

/// A request in flight.
struct InFlight {
    op: Op,
    did: String,
    sent_at: Instant,
    /// Other calls up when it was sent (for `answer`).
    up_at_send: usize,
    responded: bool,
}

/// The load agent: connected, ready to [`run`](LoadAgent::run).
pub struct LoadAgent {
    config: AgentLoadConfig,
    poll: Poll,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    connections: Vec<Connection>,
    calls: HashMap<String, Call>,
    up: usize,
    in_flight: HashMap<String, InFlight>,
    /// Request ids in the order sent, for the timeout sweep.
    sent_order: VecDeque<(Instant, String)>,
    hangups: BinaryHeap<Reverse<(Instant, String)>>,
    next_id: u64,
    report: AgentReport,
}

/// Splits `ws://host:port/path?query` into the address and the request URI.
fn resolve(url: &str) -> Result<(SocketAddr, tungstenite::http::Uri), AgentLoadError> {
    let bad = |m: &str| AgentLoadError::Url(url.to_string(), m.to_string());
    let uri: tungstenite::http::Uri = url.parse().map_err(|_| bad("not a URI"))?;
    if uri.scheme_str() != Some("ws") {
        return Err(bad("only ws:// is supported"));
    }
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| bad(&e.to_string()))?
        .next()
        .ok_or_else(|| bad("the host has no address"))?;
    Ok((addr, uri))
}

/// Opens one WebSocket, blocking for the handshake, then nonblocking.
fn open(
    addr: SocketAddr,
    uri: &tungstenite::http::Uri,
) -> Result<WebSocket<TcpStream>, AgentLoadError> {
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| std::io::Error::new(e.kind(), format!("connect to {addr}: {e}")))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let socket = match tungstenite::client(uri.clone(), stream) {
        Ok((socket, _)) => socket,
        Err(HandshakeError::Interrupted(_)) => {
            return Err(AgentLoadError::Handshake("timed out".into()))
        }
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let body = response.body().clone().unwrap_or_default();
            return Err(AgentLoadError::Refused {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(&body).trim().to_string(),
            });
        }
        Err(HandshakeError::Failure(e)) => return Err(AgentLoadError::Handshake(e.to_string())),
    };
    socket.get_ref().set_read_timeout(None)?;
    socket.get_ref().set_write_timeout(None)?;
    socket.get_ref().set_nonblocking(true)?;
    Ok(socket)
}

impl LoadAgent {
    /// Opens `config.connections` WebSockets to the server.
    pub fn connect(config: AgentLoadConfig) -> Result<LoadAgent, AgentLoadError> {
        let (addr, uri) = resolve(&config.url)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let mut connections = Vec::new();
        for index in 0..config.connections.max(1) {
            let socket = open(addr, &uri)?;
            let fd = socket.get_ref().as_raw_fd();
            poll.registry().register(
                &mut SourceFd(&fd),
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            connections.push(Connection { socket, open: true });
        }
        let report = AgentReport::new(config.latency_from_calls);
        Ok(LoadAgent {
            config,
            poll,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            connections,
            calls: HashMap::new(),
            up: 0,
            in_flight: HashMap::new(),
            sent_order: VecDeque::new(),
            hangups: BinaryHeap::new(),
            next_id: 0,
            report,
        })
    }

    /// A handle that stops [`run`](LoadAgent::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Serves calls until stopped, `run_for` has passed, or every connection
    /// is gone; `status` is called once a second.
    pub fn run(
        mut self,
        run_for: Option<Duration>,
        status: &mut dyn FnMut(&AgentStatus),
    ) -> AgentReport {
        let started = Instant::now();
        let cpu_start = process_cpu_ticks();
        let mut cpu_last = (started, cpu_start);
        let mut cpu_max: Option<f64> = None;
        let end = run_for.map(|d| started + d);
        let mut next_status = started + Duration::from_secs(1);
        let mut events = Events::with_capacity(256);
        for index in 0..self.connections.len() {
            self.read_all(index);
        }
        loop {
            let now = Instant::now();
            if self.stop.load(Ordering::SeqCst) || end.is_some_and(|e| now >= e) {
                break;
            }
            if self.connections.iter().all(|c| !c.open) {
                eprintln!("agent-load: every connection is closed");
                break;
            }
            let mut until = (now + MAX_WAIT).min(next_status);
            if let Some(e) = end {
                until = until.min(e);
            }
            if let Some(Reverse((at, _))) = self.hangups.peek() {
                until = until.min(*at);
            }
            let wait = until.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("agent-load: poll: {e}");
                    break;
                }
            }
            for event in events.iter() {
                if event.token() == WAKE {
                    continue;
                }
                let index = event.token().0;
                if event.is_writable() {
                    self.flush(index);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_all(index);
                }
            }
            let now = Instant::now();
            self.fire_hangups(now);
            self.sweep_timeouts(now);
            if now >= next_status {
                next_status += Duration::from_secs(1);
                let cpu_now = process_cpu_ticks();
                if let (Some(a), Some(b)) = (cpu_last.1, cpu_now) {
                    let wall = now.saturating_duration_since(cpu_last.0).as_secs_f64();
                    if wall > 0.5 {
                        let pct = 100.0 * b.saturating_sub(a) as f64 / USER_HZ / wall;
                        cpu_max = Some(cpu_max.map_or(pct, |m: f64| m.max(pct)));
                    }
                }
                cpu_last = (now, cpu_now);
                status(&AgentStatus {
                    elapsed: now - started,
                    invites: self.report.invites,
                    answered: self.report.answered,
                    up: self.up,
                    plays: self.report.plays_completed,
                    failures: self.report.failure_count(),
                });
            }
        }
        let elapsed = started.elapsed();
        self.report.elapsed = elapsed;
        self.report.cpu_pct = cpu_start.zip(process_cpu_ticks()).map(|(a, b)| {
            100.0 * b.saturating_sub(a) as f64 / USER_HZ / elapsed.as_secs_f64().max(1e-3)
        });
        self.report.cpu_pct_max_1s = cpu_max;
        for connection in &mut self.connections {
            if connection.open {
                let _ = connection.socket.close(None);
                let _ = connection.socket.flush();
            }
        }
        self.report
    }

    /// Reads every frame the connection has, handling each as it comes.
    fn read_all(&mut self, index: usize) {
        loop {
            let Some(connection) = self.connections.get_mut(index) else {
                return;
            };
            if !connection.open {
                return;
            }
            match connection.socket.read() {
                Ok(Message::Text(text)) => {
                    let at = Instant::now();
                    match Frame::decode(text.as_str()) {
                        Ok(Frame::Request(request)) => self.on_request(index, request),
                        Ok(Frame::Response(response)) => self.on_response(response, at),
                        Err(_) => self.report.garbage += 1,
                    }
                }
                Ok(Message::Binary(_)) => self.report.garbage += 1,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => return,
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("agent-load: connection {index} lost: {e}");
                    self.lose(index);
                    return;
                }
            }
        }
    }

    /// Writes out what the connection has queued.
    fn flush(&mut self, index: usize) {
        let Some(connection) = self.connections.get_mut(index) else {
            return;
        };
        if !connection.open {
            return;
        }
        match connection.socket.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => {
                eprintln!("agent-load: connection {index} lost: {e}");
                self.lose(index);
            }
        }
    }

    /// Queues one text frame and writes it out at once (what does not fit
    /// goes when the socket is writable again).
    fn send_text(&mut self, index: usize, text: String) {
        let Some(connection) = self.connections.get_mut(index) else {
            return;
        };
        if !connection.open {
            return;
        }
        match connection.socket.write(Message::text(text)) {
            Ok(()) => self.flush(index),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => {
                eprintln!("agent-load: connection {index} lost: {e}");
                self.lose(index);
            }
        }
    }

    /// The connection is gone: its calls are forgotten.
    fn lose(&mut self, index: usize) {
        if let Some(connection) = self.connections.get_mut(index) {
            if connection.open {
                connection.open = false;
                self.report.disconnects += 1;
                let fd = connection.socket.get_ref().as_raw_fd();
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            }
        }
        let before = self.calls.len();
        self.calls.retain(|_, call| call.connection != index);
        let up = self.calls.values().filter(|c| c.up).count();
        if before != self.calls.len() {
            eprintln!(
                "agent-load: {} calls lost with connection {index}",
                before - self.calls.len()
            );
        }
        self.up = up;
    }

    fn on_request(&mut self, index: usize, request: Request) {
        match request.op.as_str() {
            "invite" => {
                self.report.invites += 1;
                if self.calls.len() >= self.config.max_calls || request.did.is_empty() {
                    self.report.refused += 1;
                    let refusal = Response::new(request.id, "", 486, "Busy Here");
                    return self.send_text(index, refusal.to_json());
                }
                let accept = Response::new(request.id, "", 200, "OK");
                self.send_text(index, accept.to_json());
                self.calls.insert(
                    request.did.clone(),
                    Call {
                        connection: index,
                        up: false,
                    },
                );
                self.send_request(index, Op::Answer, &request.did, Value::Null);
            }
            "bye" => {
                self.report.byes += 1;
                self.send_text(index, Response::ok(&request).to_json());
                if let Some(call) = self.calls.remove(&request.did) {
                    if call.up {
                        self.up -= 1;
                    }
                }
            }
            _ => {
                let unknown = Response::to(&request, 405, "Method Not Allowed");
                self.send_text(index, unknown.to_json());
            }
        }
    }

    fn send_request(&mut self, index: usize, op: Op, did: &str, data: Value) {
        self.next_id += 1;
        let id = format!("load-{}", self.next_id);
        let text = Request::new(id.clone(), did, op.name(), data).to_json();
        let sent_at = Instant::now();
        self.in_flight.insert(
            id.clone(),
            InFlight {
                op,
                did: did.to_string(),
                sent_at,
                up_at_send: self.up,
                responded: false,
            },
        );
        self.sent_order.push_back((sent_at, id));
        if op == Op::Play {
            self.report.plays_started += 1;
        }
        self.send_text(index, text);
    }

    fn on_response(&mut self, response: Response, at: Instant) {
        let Some(request) = self.in_flight.get_mut(&response.id) else {
            self.report.unmatched += 1;
            return;
        };
        if request.op == Op::Play && !request.responded {
            self.report
                .play_first_us
                .record(micros(at.saturating_duration_since(request.sent_at)));
        }
        request.responded = true;
        if response.is_provisional() {
            return;
        }
        let Some(request) = self.in_flight.remove(&response.id) else {
            return;
        };
        let ok = (200..300).contains(&response.code);
        if !ok {
            if request.op == Op::Play && response.code == 487 {
                self.report.plays_interrupted += 1;
            } else {
                *self
                    .report
                    .failures
                    .entry((request.op, response.code))
                    .or_default() += 1;
            }
            return;
        }
        match request.op {
            Op::Answer => {
                let us = micros(at.saturating_duration_since(request.sent_at));
                self.report.answered += 1;
                self.report.answer_us.record(us);
                if self
                    .config
                    .latency_from_calls
                    .is_some_and(|n| request.up_at_send >= n)
                {
                    self.report.answer_from_us.record(us);
                }
                let Some(call) = self.calls.get_mut(&request.did) else {
                    return;
                };
                call.up = true;
                self.up += 1;
                self.report.up_max = self.report.up_max.max(self.up);
                let connection = call.connection;
                match self.config.mode.clone() {
                    Mode::Play { uri } => {
                        self.send_request(connection, Op::Play, &request.did, json!({ "uri": uri }))
                    }
                    Mode::Hold => {}
                    Mode::HangupAfter(after) => {
                        self.hangups.push(Reverse((at + after, request.did)))
                    }
                }
            }
            Op::Play => {
                self.report.plays_completed += 1;
                if let (Some(call), Mode::Play { uri }) =
                    (self.calls.get(&request.did), &self.config.mode)
                {
                    let (connection, data) = (call.connection, json!({ "uri": uri }));
                    self.send_request(connection, Op::Play, &request.did, data);
                }
            }
            Op::Hangup => self.report.hangups += 1,
        }
    }

    fn fire_hangups(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.hangups.peek() {
            if *at > now {
                return;
            }
            let Some(Reverse((_, did))) = self.hangups.pop() else {
                return;
            };
            if let Some(call) = self.calls.get(&did) {
                let connection = call.connection;
                self.send_request(connection, Op::Hangup, &did, Value::Null);
            }
        }
    }

    /// Requests without any response for [`REQUEST_TIMEOUT`] fail; a play
    /// that got its 183 is followed for as long as its call lives.
    fn sweep_timeouts(&mut self, now: Instant) {
        while let Some((sent_at, _)) = self.sent_order.front() {
            if now.saturating_duration_since(*sent_at) < REQUEST_TIMEOUT {
                return;
            }
            let Some((_, id)) = self.sent_order.pop_front() else {
                return;
            };
            let Some(request) = self.in_flight.get(&id) else {
                continue;
            };
            if !request.responded {
                *self.report.timeouts.entry(request.op).or_default() += 1;
                self.in_flight.remove(&id);
            } else if self.calls.contains_key(&request.did) {
                self.sent_order.push_back((now, id));
            } else {
                self.in_flight.remove(&id);
            }
        }
    }
}

#[cfg(test)]
// tungstenite's upgrade callback returns its refusal, a whole HTTP response, as the error.
#[allow(clippy::result_large_err)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// A one-connection server that offers one call, answers `answer` 200,
    /// completes the first `play` (183, 200), ends the call under the second
    /// (183, 487, `bye`); sends the codes of the agent's responses on
    /// `codes_tx`. The connection stays open until `release` gets a message.
    fn fake_server(
        codes_tx: std::sync::mpsc::Sender<Vec<u16>>,
        release: std::sync::mpsc::Receiver<()>,
    ) -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut socket = tungstenite::accept(stream).expect("upgrade");
            let send = |text: String, socket: &mut WebSocket<TcpStream>| {
                socket.send(Message::text(text)).expect("server sends");
            };
            let invite = Request::new("inv-1", "d1", "invite", json!({"callID": "c1"}));
            send(invite.to_json(), &mut socket);
            let (mut codes, mut plays) = (Vec::new(), 0);
            while codes.len() < 2 {
                let Message::Text(text) = socket.read().expect("agent sends") else {
                    continue;
                };
                match Frame::decode(text.as_str()).expect("agent sends JSON") {
                    Frame::Response(r) => codes.push(r.code),
                    Frame::Request(r) if r.op == "answer" => {
                        send(Response::ok(&r).to_json(), &mut socket)
                    }
                    Frame::Request(r) if r.op == "play" => {
                        assert_eq!(r.data["uri"], "file://p.wav");
                        plays += 1;
                        send(Response::playback_in_progress(&r).to_json(), &mut socket);
                        if plays == 1 {
                            send(Response::ok(&r).to_json(), &mut socket);
                        } else {
                            send(
                                Response::to(&r, 487, "Request terminated").to_json(),
                                &mut socket,
                            );
                            let bye = Request::new("bye-1", "d1", "bye", Value::Null);
                            send(bye.to_json(), &mut socket);
                        }
                    }
                    Frame::Request(r) => panic!("unexpected op {}", r.op),
                }
            }
            let _ = codes_tx.send(codes);
            let _ = release.recv();
        });
        (addr, server)
    }

    #[test]
    fn answers_plays_in_a_loop_and_measures() {
        let (release, hold) = std::sync::mpsc::channel();
        let (codes_tx, codes_rx) = std::sync::mpsc::channel();
        let (addr, server) = fake_server(codes_tx, hold);
        let agent = LoadAgent::connect(AgentLoadConfig {
            url: format!("ws://{addr}/?endpoint=myagent"),
            connections: 1,
            mode: Mode::Play {
                uri: "file://p.wav".into(),
            },
            latency_from_calls: Some(0),
            max_calls: 10,
        })
        .expect("connects");
        let stop = agent.stop_handle();
        let runner =
            std::thread::spawn(move || agent.run(Some(Duration::from_secs(5)), &mut |_| {}));
        // The agent's `bye` answer is the last frame: stop once it is sent.
        let codes = codes_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the server script finishes");
        stop.stop();
        let report = runner.join().expect("agent runs");
        let _ = release.send(());
        server.join().expect("server ran");
        // invite accepted 200, bye answered 200
        assert_eq!(codes, [200, 200]);
        assert_eq!((report.invites, report.answered, report.byes), (1, 1, 1));
        assert_eq!(report.plays_completed, 1, "{report}");
        assert_eq!(report.plays_interrupted, 1, "{report}");
        assert_eq!(report.answer_us.count(), 1);
        assert_eq!(report.answer_from_us.count(), 1);
        assert_eq!(report.play_first_us.count(), 2);
        assert!(report.passed(), "{report}");
        assert!(report
            .result_line()
            .starts_with("RESULT invites=1 answered=1 "));
    }

    #[test]
    fn a_refused_upgrade_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let refuse = |_: &tungstenite::handshake::server::Request, _| {
                Err(tungstenite::http::Response::builder()
                    .status(404)
                    .body(Some("No endpoint found".to_string()))
                    .expect("response"))
            };
            let _ = tungstenite::accept_hdr(stream, refuse);
        });
        let config = AgentLoadConfig {
            url: format!("ws://{addr}/?endpoint=nobody"),
            connections: 1,
            mode: Mode::Hold,
            latency_from_calls: None,
            max_calls: 1,
        };
        match LoadAgent::connect(config) {
            Err(AgentLoadError::Refused { status, .. }) => assert_eq!(status, 404),
            Err(e) => panic!("expected a refusal, got {e}"),
            Ok(_) => panic!("expected a refusal"),
        }
        server.join().expect("server ran");
        assert!(matches!(
            resolve("http://127.0.0.1:1/"),
            Err(AgentLoadError::Url(..))
        ));
    }
}
