//! A real softphone for end-to-end tests: baresip 1.0 (Debian package
//! `baresip`), headless, on its own temp dir and ports, driven over its
//! `ctrl_tcp` control module (JSON in netstrings).
//!
//! What the generated config sets up:
//! - SIP on `127.0.0.1:<free port>` (baresip also opens TCP there and TCP on
//!   the next port, so two consecutive free ports are taken), and
//!   `net_interface 127.0.0.1` so SDP and RTP use loopback too (without it
//!   baresip offers the machine's first non-loopback address);
//! - one account `<sip:baresip@127.0.0.1>;regint=0` (no REGISTER), answering
//!   by itself unless [`BaresipConfig::auto_answer`] is off. Baresip only
//!   takes INVITEs whose Request-URI user is `baresip` (others get 404): call
//!   [`Baresip::uri`];
//! - codecs PCMU and PCMA (module `g711`), RFC 4733 DTMF on payload type 101;
//! - the microphone is a WAV file (module `aufile`): a generated 1 kHz tone
//!   or [`BaresipConfig::source_wav`]. When the file ends, baresip hangs up
//!   (`CALL_CLOSED` with param `"end of file"`): make it outlast the call;
//! - no audio player at all; instead the `sndfile` filter records what
//!   baresip sends and what it hears, per call, into its directory
//!   ([`Baresip::heard`], [`Baresip::sent`]);
//! - RTP on four ports of its own (`rtp_ports`), so it never takes a port
//!   another test was handed.
//!
//! Every wait is bounded; the process is killed on drop. Its stdout and
//! stderr go to [`Baresip::log_path`], and errors carry the end of that log.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::baresip::Baresip;
//!
//! if !Baresip::available() {
//!     eprintln!("skipped: baresip is not installed");
//!     return;
//! }
//! let phone = Baresip::start().expect("baresip starts");
//! phone.dial("sip:100@127.0.0.1:5060").expect("dial");
//! phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(5)).expect("answered");
//! phone.hangup().expect("hangup");
//! phone.wait_event("CALL_CLOSED", Duration::from_secs(5)).expect("closed");
//! let heard = phone.heard(Duration::from_secs(2)).expect("recording");
//! ```

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::tone::ToneGenerator;

use crate::ports::{free_port, free_ports};

/// How long baresip may take to start (ctrl_tcp listening, "baresip is ready.").
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one ctrl_tcp command may take to be answered.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// Where Debian and a `make install` put the modules.
const MODULE_DIRS: [&str; 3] = [
    "/usr/lib/baresip/modules",
    "/usr/local/lib/baresip/modules",
    "/usr/lib/x86_64-linux-gnu/baresip/modules",
];
/// How many bytes of the log an error quotes.
const LOG_TAIL: usize = 3000;

/// Why a baresip operation failed; every variant quotes the end of its log.
#[derive(Debug, thiserror::Error)]
pub enum BaresipError {
    /// The binary or its modules are missing (see [`Baresip::available`]).
    #[error("baresip is not installed (binary on PATH and modules in one of {MODULE_DIRS:?})")]
    NotInstalled,
    /// Setting up or talking to the process failed.
    #[error("baresip I/O: {0}")]
    Io(#[from] io::Error),
    /// The process exited (or closed its control connection).
    #[error("baresip exited ({status}); log:\n{log}")]
    Exited {
        /// Exit status, or how the connection ended.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// Something awaited did not happen in time.
    #[error("timed out waiting for {what}; events so far: {events}; log:\n{log}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The kinds of all events seen so far, in order.
        events: String,
        /// The end of its log.
        log: String,
    },
    /// A control command was refused (`"ok":false`).
    #[error("baresip refused `{command}`: {data}; log:\n{log}")]
    Refused {
        /// The command and its parameters.
        command: String,
        /// baresip's reason.
        data: String,
        /// The end of its log.
        log: String,
    },
    /// A recording is missing or unreadable.
    #[error("recording: {0}")]
    Recording(String),
}

/// How to start baresip ([`Baresip::start_with`]).
#[derive(Debug, Clone)]
pub struct BaresipConfig {
    /// Answer incoming calls at once (`answermode=auto`); when off, incoming
    /// calls raise `CALL_INCOMING` and wait for [`Baresip::answer`].
    pub auto_answer: bool,
    /// The WAV file baresip sends as its microphone (8 kHz mono 16-bit
    /// matches PCMU/PCMA without resampling). It must outlast the call:
    /// baresip hangs up when it ends. `None`: a generated 120 s, 1 kHz tone
    /// at −10 dBm0.
    pub source_wav: Option<PathBuf>,
}

impl Default for BaresipConfig {
    fn default() -> Self {
        BaresipConfig {
            auto_answer: true,
            source_wav: None,
        }
    }
}

/// One event baresip reported over ctrl_tcp (`"event":true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaresipEvent {
    /// The event name (`"type"`): `CALL_INCOMING`, `CALL_RINGING`,
    /// `CALL_PROGRESS`, `CALL_ESTABLISHED`, `CALL_CLOSED`, `CALL_RTPESTAB`,
    /// `CALL_RTCP`, `CALL_DTMF_START`, `CALL_DTMF_END`, `CALL_LOCAL_SDP`,
    /// `CALL_REMOTE_SDP`, …
    pub kind: String,
    /// The call id (`"id"`), when the event is about a call.
    pub call_id: Option<String>,
    /// `"incoming"` or `"outgoing"`.
    pub direction: Option<String>,
    /// The peer's URI.
    pub peer_uri: Option<String>,
    /// Event detail (`"param"`): the reason for `CALL_CLOSED` (e.g.
    /// `"Connection reset by peer"`, `"404 Not Found"`), the digit for
    /// `CALL_DTMF_START`, …
    pub param: Option<String>,
    /// The JSON text as received.
    pub raw: String,
}

/// A running baresip; killed when dropped.
pub struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    sip_port: u16,
    ctrl: Mutex<TcpStream>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    tokens: AtomicU64,
}

/// What the reader thread hands to the test thread.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Events not yet taken by [`Baresip::wait_event`].
    pending: VecDeque<BaresipEvent>,
    /// Every event, in order.
    seen: Vec<BaresipEvent>,
    /// Command responses not yet collected: (token, ok, data).
    responses: Vec<(String, bool, String)>,
    /// Why the control connection ended, once it did.
    closed: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Baresip {
    /// Whether the `baresip` binary is on `PATH` and its modules
    /// (`ctrl_tcp`, `aufile`, `sndfile`, `g711`) are installed.
    pub fn available() -> bool {
        binary().is_some() && module_dir().is_some()
    }

    /// Starts baresip with [`BaresipConfig::default`] (auto-answer, 1 kHz tone).
    pub fn start() -> Result<Baresip, BaresipError> {
        Self::start_with(BaresipConfig::default())
    }

    /// Writes a config into a new temp dir, starts `baresip -f <dir>` and
    /// waits (at most 5 s) until its control port answers and it is ready.
    pub fn start_with(config: BaresipConfig) -> Result<Baresip, BaresipError> {
        let binary = binary().ok_or(BaresipError::NotInstalled)?;
        let modules = module_dir().ok_or(BaresipError::NotInstalled)?;
        let dir = tempfile::Builder::new().prefix("baresip-").tempdir()?;
        let source = match config.source_wav {
            Some(path) => path,
            None => {
                let path = dir.path().join("tone.wav");
                write_tone_wav(&path, 1000.0, -10.0, Duration::from_secs(120))?;
                path
            }
        };
        let sip_port = free_ports(2);
        let ctrl_port = free_port();
        let rtp = free_ports(4);
        // baresip picks an even RTP port in the range and RTCP on the next.
        let rtp_low = rtp + rtp % 2;
        let answermode = if config.auto_answer { "auto" } else { "manual" };
        fs::write(
            dir.path().join("config"),
            format!(
                "poll_method epoll\n\
                 sip_listen 127.0.0.1:{sip_port}\n\
                 net_interface 127.0.0.1\n\
                 rtp_ports {rtp_low}-{rtp_high}\n\
                 call_max_calls 4\n\
                 audio_path /usr/share/baresip\n\
                 audio_source aufile,{source}\n\
                 module_path {modules}\n\
                 module g711.so\n\
                 module aufile.so\n\
                 module sndfile.so\n\
                 module_tmp account.so\n\
                 module_app menu.so\n\
                 module_app ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
                 snd_path {dir}\n\
                 statmode_default off\n",
                rtp_high = rtp + 3,
                source = source.display(),
                modules = modules.display(),
                dir = dir.path().display(),
            ),
        )?;
        fs::write(
            dir.path().join("accounts"),
            format!("<sip:baresip@127.0.0.1>;regint=0;answermode={answermode}\n"),
        )?;
        fs::write(dir.path().join("contacts"), "")?;
        let log = fs::File::create(dir.path().join("baresip.log"))?;
        let child = Command::new(binary)
            .arg("-f")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut started = Starting { child: Some(child) };
        let log_path = dir.path().join("baresip.log");
        let ctrl = connect_when_ready(started.child(), &log_path, ctrl_port)?;
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stream = ctrl.try_clone()?;
            stream.set_read_timeout(Some(Duration::from_millis(50)))?;
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("baresip-ctrl".into())
                .spawn(move || read_loop(stream, &shared, &stop))?
        };
        Ok(Baresip {
            child: started.take(),
            dir,
            sip_port,
            ctrl: Mutex::new(ctrl),
            shared,
            stop,
            reader: Some(reader),
            tokens: AtomicU64::new(1),
        })
    }

    /// Where baresip takes SIP over UDP.
    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    /// The URI that reaches this baresip: `sip:baresip@127.0.0.1:<port>`.
    pub fn uri(&self) -> String {
        format!("sip:baresip@127.0.0.1:{}", self.sip_port)
    }

    /// Its config dir (config, accounts, log, recordings).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where its stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("baresip.log")
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    /// Calls `uri` (`/dial`); follow with [`Baresip::wait_event`].
    pub fn dial(&self, uri: &str) -> Result<(), BaresipError> {
        self.command("dial", Some(uri)).map(drop)
    }

    /// Answers the incoming call that rings (`/accept`).
    pub fn answer(&self) -> Result<(), BaresipError> {
        self.command("accept", None).map(drop)
    }

    /// Hangs up the current call (`/hangup`: CANCEL, reject or BYE).
    pub fn hangup(&self) -> Result<(), BaresipError> {
        self.command("hangup", None).map(drop)
    }

    /// Sends `digits` on the current call as RFC 4733 events (payload type
    /// 101) (`/sndcode`). Only works while a call is established.
    pub fn send_dtmf(&self, digits: &str) -> Result<(), BaresipError> {
        self.command("sndcode", Some(digits)).map(drop)
    }

    /// Runs any long command of baresip's menu (`help` lists them; some only
    /// exist during a call) and returns its text output.
    pub fn command(&self, command: &str, params: Option<&str>) -> Result<String, BaresipError> {
        let token = format!("t{}", self.tokens.fetch_add(1, Ordering::Relaxed));
        let mut request = serde_json::json!({ "command": command, "token": token });
        if let Some(params) = params {
            request["params"] = params.into();
        }
        let body = request.to_string();
        {
            let mut ctrl = self.ctrl.lock().unwrap_or_else(|e| e.into_inner());
            ctrl.write_all(format!("{}:{body},", body.len()).as_bytes())?;
        }
        let described = match params {
            Some(p) => format!("{command} {p}"),
            None => command.to_string(),
        };
        let (ok, data) = self.wait_for(
            &format!("the response to `{described}`"),
            COMMAND_TIMEOUT,
            |state| {
                let at = state.responses.iter().position(|(t, _, _)| *t == token)?;
                let (_, ok, data) = state.responses.remove(at);
                Some((ok, data))
            },
        )?;
        if ok {
            Ok(data)
        } else {
            Err(BaresipError::Refused {
                command: described,
                data: data.trim().to_string(),
                log: self.log_tail(),
            })
        }
    }

    /// Takes the oldest event of `kind` (e.g. `CALL_ESTABLISHED`) not taken
    /// yet, waiting up to `timeout`. Events of other kinds stay queued.
    pub fn wait_event(&self, kind: &str, timeout: Duration) -> Result<BaresipEvent, BaresipError> {
        self.wait_for(&format!("event {kind}"), timeout, |state| {
            let at = state.pending.iter().position(|e| e.kind == kind)?;
            state.pending.remove(at)
        })
    }

    /// Every event received so far, in order (taken or not).
    pub fn events(&self) -> Vec<BaresipEvent> {
        self.shared.lock().seen.clone()
    }

    /// What baresip heard on its most recent call: the decoded audio the
    /// `sndfile` module wrote (8 kHz mono for G.711). Call it after
    /// `CALL_CLOSED`: the file is complete once the call is gone, which this
    /// waits for up to `timeout` (then reads what is there). File names
    /// have one-second resolution: two calls started in the same second
    /// share (and clobber) one file.
    pub fn heard(&self, timeout: Duration) -> Result<Vec<i16>, BaresipError> {
        self.recording("dec", timeout)
    }

    /// What baresip sent on its most recent call (its source, before
    /// encoding), like [`Baresip::heard`].
    pub fn sent(&self, timeout: Duration) -> Result<Vec<i16>, BaresipError> {
        self.recording("enc", timeout)
    }

    /// The newest `dump-<time>-<direction>.wav`, once complete or at `timeout`.
    fn recording(&self, direction: &str, timeout: Duration) -> Result<Vec<i16>, BaresipError> {
        let deadline = Instant::now() + timeout;
        loop {
            let newest = newest_dump(self.dir.path(), direction)?;
            if let Some(path) = &newest {
                let bytes = fs::read(path).map_err(|e| BaresipError::Recording(e.to_string()))?;
                let complete = riff_complete(&bytes);
                if complete || Instant::now() >= deadline {
                    return wav_samples(&bytes).ok_or_else(|| {
                        BaresipError::Recording(format!("{} is not a 16-bit WAV", path.display()))
                    });
                }
            } else if Instant::now() >= deadline {
                return Err(BaresipError::Recording(format!(
                    "no dump-*-{direction}.wav in {} (was there a call?)",
                    self.dir.path().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `take` finds something in the state, the connection
    /// ends, or `timeout` passes.
    fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut take: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T, BaresipError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(found) = take(&mut state) {
                return Ok(found);
            }
            if let Some(why) = &state.closed {
                let why = why.clone();
                drop(state);
                return Err(BaresipError::Exited {
                    status: why,
                    log: self.log_tail(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                let events = state
                    .seen
                    .iter()
                    .map(|e| e.kind.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                drop(state);
                return Err(BaresipError::Timeout {
                    what: what.to_string(),
                    events,
                    log: self.log_tail(),
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn log_tail(&self) -> String {
        tail(&self.log())
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(ctrl) = self.ctrl.get_mut() {
            let _ = ctrl.shutdown(Shutdown::Both);
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Writes a mono 8 kHz 16-bit WAV of a sine at `frequency` Hz and `dbm0`
/// lasting `duration` (a source for [`BaresipConfig::source_wav`]).
pub fn write_tone_wav(
    path: impl AsRef<Path>,
    frequency: f64,
    dbm0: f64,
    duration: Duration,
) -> io::Result<()> {
    let count = (duration.as_millis() * 8) as usize;
    write_wav_8k(path, &ToneGenerator::sine(frequency, dbm0).take(count))
}

/// Writes 8 kHz mono 16-bit samples as a WAV file.
pub fn write_wav_8k(path: impl AsRef<Path>, samples: &[i16]) -> io::Result<()> {
    let bytes = media::wav::mono_wav(samples, 8000)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    fs::write(path, bytes)
}

/// Kills the child if starting fails half-way.
struct Starting {
    child: Option<Child>,
}

impl Starting {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until taken")
    }

    fn take(&mut self) -> Child {
        self.child.take().expect("child taken once")
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Connects to ctrl_tcp once the port answers and the log says "baresip is ready.".
fn connect_when_ready(
    child: &mut Child,
    log_path: &Path,
    ctrl_port: u16,
) -> Result<TcpStream, BaresipError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = SocketAddr::from(([127, 0, 0, 1], ctrl_port));
    let mut ctrl = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(BaresipError::Exited {
                status: status.to_string(),
                log: tail(&read_log(log_path)),
            });
        }
        if ctrl.is_none() {
            ctrl = TcpStream::connect_timeout(&addr, Duration::from_millis(100)).ok();
        }
        if let Some(stream) = ctrl.take_if(|_| read_log(log_path).contains("baresip is ready.")) {
            stream.set_nodelay(true)?;
            return Ok(stream);
        }
        if Instant::now() >= deadline {
            return Err(BaresipError::Timeout {
                what: format!("baresip to start (ctrl_tcp on {addr}, \"baresip is ready.\")"),
                events: String::new(),
                log: tail(&read_log(log_path)),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads netstrings until stopped or the connection ends; routes events and
/// responses into `shared`.
fn read_loop(mut stream: TcpStream, shared: &Shared, stop: &AtomicBool) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let why = loop {
        if stop.load(Ordering::SeqCst) {
            break "stopped".to_string();
        }
        match stream.read(&mut chunk) {
            Ok(0) => break "control connection closed".to_string(),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => break format!("control connection failed: {e}"),
        }
        loop {
            match next_netstring(&mut buffer) {
                Ok(Some(message)) => dispatch(&message, shared),
                Ok(None) => break,
                Err(e) => {
                    let mut state = shared.lock();
                    state.closed = Some(format!("bad netstring from ctrl_tcp: {e}"));
                    shared.changed.notify_all();
                    return;
                }
            }
        }
    };
    shared.lock().closed = Some(why);
    shared.changed.notify_all();
}

/// Splits one `<len>:<payload>,` off the front of `buffer`, if complete.
fn next_netstring(buffer: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(colon) = buffer.iter().position(|&b| b == b':') else {
        if buffer.len() > 10 || !buffer.iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "no length in {:?}",
                String::from_utf8_lossy(buffer)
            ));
        }
        return Ok(None);
    };
    let len: usize = std::str::from_utf8(&buffer[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(&buffer[..colon])))?;
    let end = colon + 1 + len;
    if buffer.len() <= end {
        return Ok(None);
    }
    if buffer[end] != b',' {
        return Err("netstring not closed by ','".into());
    }
    let payload = buffer[colon + 1..end].to_vec();
    buffer.drain(..=end);
    Ok(Some(payload))
}

/// Files one JSON message as an event or a command response.
fn dispatch(message: &[u8], shared: &Shared) {
    let raw = String::from_utf8_lossy(message).into_owned();
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&raw) else {
        return;
    };
    let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let mut state = shared.lock();
    if json.get("event").and_then(|v| v.as_bool()) == Some(true) {
        let event = BaresipEvent {
            kind: text("type").unwrap_or_default(),
            call_id: text("id"),
            direction: text("direction"),
            peer_uri: text("peeruri"),
            param: text("param"),
            raw,
        };
        state.seen.push(event.clone());
        state.pending.push_back(event);
    } else if json.get("response").and_then(|v| v.as_bool()) == Some(true) {
        let ok = json.get("ok").and_then(|v| v.as_bool()).unwrap_or(false);
        state.responses.push((
            text("token").unwrap_or_default(),
            ok,
            text("data").unwrap_or_default(),
        ));
    } else {
        return;
    }
    shared.changed.notify_all();
}

/// The `baresip` binary on `PATH`.
fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("baresip"))
        .find(|candidate| candidate.is_file())
}

/// The module directory that holds every module the config loads.
fn module_dir() -> Option<PathBuf> {
    MODULE_DIRS.iter().map(PathBuf::from).find(|dir| {
        [
            "ctrl_tcp.so",
            "aufile.so",
            "sndfile.so",
            "g711.so",
            "menu.so",
            "account.so",
        ]
        .iter()
        .all(|m| dir.join(m).is_file())
    })
}

fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// The last [`LOG_TAIL`] bytes of a log, cut at a character boundary.
fn tail(log: &str) -> String {
    let mut start = log.len().saturating_sub(LOG_TAIL);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_string()
}

/// The newest `dump-*-<direction>.wav` in `dir` (names sort by time).
fn newest_dump(dir: &Path, direction: &str) -> Result<Option<PathBuf>, BaresipError> {
    let suffix = format!("-{direction}.wav");
    let mut dumps: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| BaresipError::Recording(e.to_string()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("dump-") && n.ends_with(&suffix))
        })
        .collect();
    dumps.sort();
    Ok(dumps.pop())
}

/// Whether libsndfile has finalised the header (RIFF size = file size − 8).
fn riff_complete(bytes: &[u8]) -> bool {
    bytes.len() >= 44
        && &bytes[..4] == b"RIFF"
        && u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize + 8 == bytes.len()
}

/// The samples of a 16-bit PCM WAV (first channel), tolerating a header
/// whose sizes were not finalised: a data chunk running past the end of the
/// file (or of size 0) is taken up to the end of the file.
fn wav_samples(bytes: &[u8]) -> Option<Vec<i16>> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut channels = 1usize;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(at + 4) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 16 <= bytes.len() {
            if u16_at(body) != 1 || u16_at(body + 14) != 16 {
                return None;
            }
            channels = usize::from(u16_at(body + 2).max(1));
        } else if id == b"data" {
            let end = if size == 0 || body + size > bytes.len() {
                bytes.len()
            } else {
                body + size
            };
            let samples = bytes[body..end]
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .step_by(channels)
                .collect();
            return Some(samples);
        }
        at = body + size + size % 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings_split_and_wait_for_the_rest() {
        let mut buffer = b"3:abc,5:hel".to_vec();
        assert_eq!(next_netstring(&mut buffer), Ok(Some(b"abc".to_vec())));
        assert_eq!(next_netstring(&mut buffer), Ok(None));
        buffer.extend_from_slice(b"lo,");
        assert_eq!(next_netstring(&mut buffer), Ok(Some(b"hello".to_vec())));
        assert!(buffer.is_empty());
        assert!(next_netstring(&mut b"3:abcX".to_vec()).is_err());
        assert!(next_netstring(&mut b"{\"x\"".to_vec()).is_err());
    }

    #[test]
    fn wav_round_trip_and_unfinished_header() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.wav");
        let samples: Vec<i16> = (0..800).map(|i| (i * 7) as i16).collect();
        write_wav_8k(&path, &samples).expect("write");
        let mut bytes = fs::read(&path).expect("read");
        assert!(riff_complete(&bytes));
        assert_eq!(wav_samples(&bytes), Some(samples.clone()));
        // As libsndfile leaves it before closing: sizes not filled in yet.
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert!(!riff_complete(&bytes));
        assert_eq!(wav_samples(&bytes), Some(samples));
    }
}
