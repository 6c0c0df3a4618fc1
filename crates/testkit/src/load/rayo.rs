//! A load client for Rayo: N XMPP connections that take every call the
//! server offers, answer it, and hang up after a hold time (or wait for the
//! caller's hangup), measuring the `answer` IQ → result latency. The
//! `rayo-load` binary is a thin front end to [`RayoLoad`].
//!
//! Each connection logs in on plain TCP (SASL SCRAM or PLAIN; no TLS),
//! binds, sends `<presence to=DOMAIN><show>chat</show></presence>`, then
//! runs on its own thread: a nonblocking socket registered with `mio`
//! (epoll), read and written without ever blocking, the stream parsed by
//! the `xmpp` crate's [`ClientStream`] (its `StreamReader`), the calls kept
//! by a sans-IO [`ControllingParty`] whose hangups wait in a heap of
//! deadlines. The thread sleeps in `epoll_wait` until bytes arrive or the
//! next deadline; nothing is spawned per call.
//!
//! With the server's default offer policy (`all`) every available client
//! gets every offer and all but the first to answer get `conflict`: use one
//! connection, or `offer_policy: random` for several.

pub mod caller;
mod caller_rtp;
pub mod component;
mod component_report;
mod components;
mod cpu_meter;
mod fetch;
mod keypad;
mod listener;
mod party;
mod report;
mod room_report;
mod rooms;
pub mod stanza;
#[cfg(test)]
mod tests;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use xmpp::sasl::Mechanism;
use xmpp::{ClientConfig, ClientOutput, ClientStream, FullJid, StreamError};

pub use caller::{CallerConfig, CallerOutcome, MixerCalls};
pub use component::Document;
pub use component_report::{ComponentReport, ComponentStamp};
pub use components::{ComponentKind, MediaKind, MediaPlan};
pub use fetch::fetch_recording;
pub use listener::Hearing;
pub use party::{ControllingParty, Mode, IQ_TIMEOUT};
pub use report::RayoReport;
pub use room_report::RoomReport;
pub use rooms::{MixerPlan, RoomLayout};

use cpu_meter::CpuMeter;

/// Bound on the TCP connect and the whole login of one connection.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection's thread sleeps, so a stop is seen even without its waker.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// How long the mixer mode waits, once every call has ended, for the
/// mixers' unavailable presences.
const MIXER_GRACE: Duration = Duration::from_secs(3);
const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// What to run.
#[derive(Debug, Clone)]
pub struct RayoLoadConfig {
    /// The server's XMPP listener (`rayo.listen`).
    pub addr: SocketAddr,
    /// `rayo.domain`: the stream's `to` and where the chat presence goes.
    pub domain: String,
    /// One of `rayo.users`; every connection logs in as it.
    pub username: String,
    /// Its password.
    pub password: String,
    /// SASL mechanisms to use, most preferred first.
    pub mechanisms: Vec<Mechanism>,
    /// XMPP connections (each on its own thread, with a server-chosen resource).
    pub connections: usize,
    /// What to do with answered calls.
    pub mode: Mode,
    /// Stop once this many calls have ended; fewer at the end is a failure.
    pub calls: Option<u64>,
    /// Answers sent while at least this many other calls were up (on every
    /// connection) also go into a second latency histogram.
    pub latency_from_calls: Option<usize>,
    /// Place the calls from this process too (the latency modes), so the
    /// caller's moments and the Rayo side's share a clock.
    pub caller: Option<CallerConfig>,
    /// Recordings to fetch over HTTP at the end (record mode).
    pub fetch: usize,
}

/// Why the load client could not start.
#[derive(Debug, thiserror::Error)]
pub enum RayoLoadError {
    /// A socket or the poller failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A connection did not end bound.
    #[error("connection {connection}: {reason}")]
    Login {
        /// Which connection (from 0).
        connection: usize,
        /// The SASL failure, stream error or timeout.
        reason: String,
    },
}

/// Once a second while the load runs (totals over every connection).
#[derive(Debug, Clone, Default)]
pub struct RayoStatus {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Offers received so far.
    pub offers: u64,
    /// Answers that got their result so far.
    pub answered: u64,
    /// Calls ended so far.
    pub ended: u64,
    /// Calls offered and not ended now.
    pub up: u64,
    /// Failures so far.
    pub failures: u64,
}

/// One connection's running counts, for the status line.
#[derive(Default)]
struct Counters {
    offers: AtomicU64,
    answered: AtomicU64,
    ended: AtomicU64,
    up: AtomicU64,
    failures: AtomicU64,
    /// Mixers joined and not yet gone.
    mixers: AtomicU64,
}

/// What the connections' threads share.
struct Shared {
    /// Where connections send the SIP Call-IDs of calls whose input started.
    inputs: Option<Mutex<mpsc::Sender<String>>>,
    stop: AtomicBool,
    wakers: Vec<Waker>,
    counters: Vec<Counters>,
    /// Calls ended over every connection, against `calls`.
    ended: AtomicU64,
    calls: Option<u64>,
    /// The mixer mode: once `calls` have ended, wait for the mixers to go.
    mixers: bool,
    /// When `calls` calls had ended.
    all_ended: Mutex<Option<Instant>>,
}

impl Shared {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for waker in &self.wakers {
            let _ = waker.wake();
        }
    }

    /// The mixer mode's end: every call ended and every mixer gone (or
    /// [`MIXER_GRACE`] passed since the last call ended).
    fn settle(&self, now: Instant) {
        let ended_at = *self.all_ended.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = ended_at else { return };
        let open: u64 = self
            .counters
            .iter()
            .map(|c| c.mixers.load(Ordering::Relaxed))
            .sum();
        if open == 0 || now >= at + MIXER_GRACE {
            self.stop();
        }
    }

    /// Calls up over every connection, as last published.
    fn calls_up(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.up.load(Ordering::Relaxed))
            .sum()
    }

    /// Totals over every connection.
    fn status(&self, elapsed: Duration) -> RayoStatus {
        let mut total = RayoStatus {
            elapsed,
            ..RayoStatus::default()
        };
        for c in &self.counters {
            total.offers += c.offers.load(Ordering::Relaxed);
            total.answered += c.answered.load(Ordering::Relaxed);
            total.ended += c.ended.load(Ordering::Relaxed);
            total.up += c.up.load(Ordering::Relaxed);
            total.failures += c.failures.load(Ordering::Relaxed);
        }
        total
    }
}

/// Stops a running [`RayoLoad`] from another thread (a signal handler thread).
#[derive(Clone)]
pub struct StopHandle(Arc<Shared>);

impl StopHandle {
    /// Asks every connection to stop; the report follows promptly.
    pub fn stop(&self) {
        self.0.stop();
    }
}

/// The connected load client, ready to [`run`](RayoLoad::run).
pub struct RayoLoad {
    sessions: Vec<Session>,
    shared: Arc<Shared>,
    latency_from_calls: Option<usize>,
    caller: Option<(CallerConfig, mpsc::Receiver<String>)>,
    fetch: usize,
}

impl RayoLoad {
    /// Opens `config.connections` streams, logs each in and makes it
    /// available for offers.
    pub fn connect(config: &RayoLoadConfig) -> Result<RayoLoad, RayoLoadError> {
        let mut sessions = Vec::new();
        let mut wakers = Vec::new();
        for index in 0..config.connections.max(1) {
            let session = Session::open(index, config)?;
            wakers.push(Waker::new(session.poll.registry(), WAKE)?);
            sessions.push(session);
        }
        let (inputs, caller) = match &config.caller {
            Some(caller) => {
                let (tx, rx) = mpsc::channel();
                (Some(Mutex::new(tx)), Some((caller.clone(), rx)))
            }
            None => (None, None),
        };
        let shared = Shared {
            inputs,
            stop: AtomicBool::new(false),
            counters: sessions.iter().map(|_| Counters::default()).collect(),
            wakers,
            ended: AtomicU64::new(0),
            calls: config.calls,
            mixers: matches!(config.mode, Mode::Mixer(_)),
            all_ended: Mutex::new(None),
        };
        Ok(RayoLoad {
            sessions,
            shared: Arc::new(shared),
            latency_from_calls: config.latency_from_calls,
            caller,
            fetch: config.fetch,
        })
    }

    /// The full JIDs the server bound, one per connection.
    pub fn jids(&self) -> Vec<String> {
        let jid = |s: &Session| s.jid.as_ref().map(ToString::to_string);
        self.sessions.iter().filter_map(jid).collect()
    }

    /// A handle that stops [`run`](RayoLoad::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.shared.clone())
    }

    /// Serves calls until stopped, `run_for` has passed, `--calls` calls
    /// have ended, or every connection is gone; `status` is called once a
    /// second.
    pub fn run(self, run_for: Option<Duration>, status: &mut dyn FnMut(&RayoStatus)) -> RayoReport {
        let RayoLoad {
            sessions,
            shared,
            latency_from_calls,
            caller,
            fetch,
        } = self;
        let started = Instant::now();
        let end = run_for.map(|d| started + d);
        let mut report = RayoReport::new(latency_from_calls);
        let (done_tx, done_rx) = mpsc::channel();
        let mut threads = Vec::new();
        for session in sessions {
            let (shared, done) = (shared.clone(), done_tx.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("rayo-load-{}", session.index))
                .spawn(move || {
                    let report = session.serve(&shared, end);
                    let _ = done.send(());
                    report
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    eprintln!("rayo-load: cannot start a connection's thread: {e}");
                    report.disconnects += 1;
                }
            }
        }
        drop(done_tx);
        let caller = caller.and_then(|(config, inputs)| {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("rayo-load-caller".into())
                .spawn(move || caller::run(&config, &inputs, &shared.stop));
            match spawned {
                Ok(thread) => Some(thread),
                Err(e) => {
                    eprintln!("rayo-load: cannot start the caller's thread: {e}");
                    None
                }
            }
        });
        let mut cpu = CpuMeter::new(started);
        let mut next_status = started + Duration::from_secs(1);
        let mut running = threads.len();
        while running > 0 {
            let wait = next_status.saturating_duration_since(Instant::now());
            match done_rx.recv_timeout(wait) {
                Ok(()) => running -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    next_status += Duration::from_secs(1);
                    cpu.sample(now);
                    status(&shared.status(now - started));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for thread in threads {
            match thread.join() {
                Ok(part) => report.merge(&part),
                Err(_) => {
                    eprintln!("rayo-load: a connection's thread panicked");
                    report.disconnects += 1;
                }
            }
        }
        // The caller hangs up what is still up and ends within its grace.
        shared.stop();
        let outcome = caller.map(|thread| match thread.join() {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                eprintln!("rayo-load: the caller failed: {e}");
                CallerOutcome::default()
            }
            Err(_) => {
                eprintln!("rayo-load: the caller's thread panicked");
                CallerOutcome::default()
            }
        });
        if let Some(media) = &mut report.media {
            if let Some(outcome) = outcome {
                media.join_caller(outcome);
            }
            media.fetch_recordings(fetch);
        } else if let Some(rooms) = &mut report.rooms {
            if let Some(outcome) = outcome {
                rooms.join_caller(outcome);
            }
        }
        report.calls_wanted = shared.calls;
        report.elapsed = started.elapsed();
        report.cpu_pct = cpu.overall(Instant::now());
        report.cpu_pct_max_1s = cpu.max_1s;
        report
    }
}

/// One XMPP connection: its socket, stream machine and calls.
struct Session {
    index: usize,
    socket: TcpStream,
    poll: Poll,
    stream: ClientStream,
    /// Bytes the socket has not taken yet.
    outbox: Vec<u8>,
    inbox: Vec<u8>,
    jid: Option<FullJid>,
    auth_failure: Option<String>,
    closed: Option<Option<StreamError>>,
    /// EOF or a socket error: nothing more comes or goes.
    gone: bool,
    party: ControllingParty,
}

impl Session {
    /// Connects and logs in (SASL, bind), then sends the chat presence.
    fn open(index: usize, config: &RayoLoadConfig) -> Result<Session, RayoLoadError> {
        let deadline = Instant::now() + LOGIN_TIMEOUT;
        let fail = |reason: String| RayoLoadError::Login {
            connection: index,
            reason,
        };
        let socket = TcpStream::connect_timeout(&config.addr, LOGIN_TIMEOUT)
            .map_err(|e| fail(format!("connect to {}: {e}", config.addr)))?;
        socket.set_nodelay(true)?;
        socket.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let fd = socket.as_raw_fd();
        let interest = Interest::READABLE | Interest::WRITABLE;
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, interest)?;
        let mut login = ClientConfig::new(&config.domain, &config.username, &config.password);
        login.mechanisms = config.mechanisms.clone();
        login.starttls = false;
        let mut session = Session {
            index,
            socket,
            poll,
            stream: ClientStream::new(login),
            outbox: Vec::new(),
            inbox: vec![0; 64 * 1024],
            jid: None,
            auth_failure: None,
            closed: None,
            gone: false,
            party: ControllingParty::new(
                config.mode.clone(),
                config.latency_from_calls,
                &format!("c{index}-"),
            ),
        };
        session.pump();
        let mut events = Events::with_capacity(16);
        while session.jid.is_none() {
            if let Some(condition) = session.auth_failure.take() {
                return Err(fail(format!("authentication failed: {condition}")));
            }
            if let Some(error) = session.closed {
                return Err(fail(format!("the server closed the stream: {error:?}")));
            }
            if session.gone {
                return Err(fail("the server closed the connection".into()));
            }
            if Instant::now() >= deadline {
                return Err(fail(format!("not bound within {LOGIN_TIMEOUT:?}")));
            }
            session.wait(&mut events, deadline)?;
        }
        let presence = stanza::chat_presence(&config.domain);
        session.stream.send_stanza(&presence);
        session.pump();
        Ok(session)
    }

    /// The connection's thread: serves calls until told to stop.
    fn serve(mut self, shared: &Shared, end: Option<Instant>) -> RayoReport {
        let mut events = Events::with_capacity(64);
        let mut ended_published = 0;
        let mut lost = false;
        loop {
            let now = Instant::now();
            self.party.on_timers(now);
            self.pump();
            self.publish(shared, &mut ended_published);
            if shared.mixers {
                shared.settle(now);
            }
            if shared.stop.load(Ordering::SeqCst) || end.is_some_and(|e| now >= e) {
                break;
            }
            if self.gone || self.closed.is_some() {
                eprintln!(
                    "rayo-load: connection {} lost ({:?})",
                    self.index,
                    self.closed.flatten()
                );
                lost = true;
                break;
            }
            let elsewhere = shared
                .calls_up()
                .saturating_sub(self.party.calls_up() as u64);
            self.party.set_calls_elsewhere(elsewhere as usize);
            self.forward_inputs(shared);
            let until = [self.party.next_deadline(), end]
                .into_iter()
                .flatten()
                .fold(now + MAX_WAIT, Instant::min);
            if let Err(e) = self.wait(&mut events, until) {
                eprintln!("rayo-load: connection {}: poll: {e}", self.index);
                lost = true;
                break;
            }
        }
        self.stream.close();
        self.pump();
        let mut report = self.party.into_report();
        report.disconnects += usize::from(lost);
        report
    }

    /// Tells the caller which calls' inputs started (their keys are due).
    fn forward_inputs(&mut self, shared: &Shared) {
        let started = self.party.take_inputs_started();
        if started.is_empty() {
            return;
        }
        if let Some(inputs) = &shared.inputs {
            let tx = inputs.lock().unwrap_or_else(|e| e.into_inner());
            for call_id in started {
                let _ = tx.send(call_id);
            }
        }
    }

    /// Publishes this connection's counts; stops everyone once `--calls` have ended.
    fn publish(&self, shared: &Shared, ended_published: &mut u64) {
        let Some(counters) = shared.counters.get(self.index) else {
            return;
        };
        let report = self.party.report();
        counters.offers.store(report.offers, Ordering::Relaxed);
        counters.answered.store(report.answered, Ordering::Relaxed);
        counters.ended.store(report.ended, Ordering::Relaxed);
        counters
            .up
            .store(self.party.calls_up() as u64, Ordering::Relaxed);
        counters
            .failures
            .store(self.party.failure_count(), Ordering::Relaxed);
        counters
            .mixers
            .store(self.party.open_mixers() as u64, Ordering::Relaxed);
        let new = report.ended - *ended_published;
        if new > 0 {
            *ended_published = report.ended;
            let total = shared.ended.fetch_add(new, Ordering::SeqCst) + new;
            if shared.calls.is_some_and(|calls| total >= calls) {
                if shared.mixers {
                    let mut at = shared.all_ended.lock().unwrap_or_else(|e| e.into_inner());
                    at.get_or_insert_with(Instant::now);
                } else {
                    shared.stop();
                }
            }
        }
    }

    /// Sleeps until the socket is ready or `until`, then reads and writes.
    fn wait(&mut self, events: &mut Events, until: Instant) -> std::io::Result<()> {
        let timeout = until.saturating_duration_since(Instant::now());
        match self.poll.poll(events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let (mut writable, mut readable) = (false, false);
        for event in events.iter().filter(|e| e.token() == SOCKET) {
            writable |= event.is_writable();
            readable |= event.is_readable() || event.is_read_closed() || event.is_error();
        }
        if writable {
            self.flush();
        }
        if readable {
            self.read_all();
        }
        Ok(())
    }

    /// Reads until the socket has nothing more, feeding the stream.
    fn read_all(&mut self) {
        while !self.gone {
            match self.socket.read(&mut self.inbox) {
                Ok(0) => self.gone = true,
                Ok(n) => {
                    self.stream.handle_input(&self.inbox[..n]);
                    self.pump();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.gone = true,
            }
        }
    }

    /// Hands what the party has to send to the stream and carries out the
    /// stream's outputs; each stanza goes to the party at the moment it is
    /// handled, and what the party answers is written before the next
    /// stanza is looked at.
    fn pump(&mut self) {
        loop {
            for stanza in self.party.take_output() {
                self.stream.send_stanza(&stanza);
            }
            let Some(output) = self.stream.poll_output() else {
                return;
            };
            match output {
                ClientOutput::Transmit(bytes) => {
                    self.outbox.extend_from_slice(bytes.as_bytes());
                    self.flush();
                }
                ClientOutput::Stanza(stanza) => self.party.on_stanza(&stanza, Instant::now()),
                ClientOutput::Bound { jid } => self.jid = Some(jid),
                ClientOutput::AuthFailed { condition } => self.auth_failure = Some(condition),
                // STARTTLS is never asked for (`starttls: false`).
                ClientOutput::StartTls | ClientOutput::Authenticated => {}
                ClientOutput::Closed { error } => {
                    self.closed.get_or_insert(error);
                }
            }
        }
    }

    /// Writes what the socket takes now; the rest waits for writability.
    fn flush(&mut self) {
        let mut written = 0;
        while written < self.outbox.len() && !self.gone {
            match self.socket.write(&self.outbox[written..]) {
                Ok(0) => self.gone = true,
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.gone = true,
            }
        }
        self.outbox.drain(..written);
    }
}
