//! RTP load for bridged calls: plays both ends of N calls through the
//! server (or directly, for self-tests) and measures what every leg
//! receives. The `rtp-load` binary is a thin front end to [`run`].
//!
//! - The caller side ([`sip`]) sends N INVITEs offering PCMU, PCMA and
//!   telephone-event 101 at a fixed rate, holds each call for the hold time,
//!   then sends BYE. The callee side answers every INVITE 200 with an SDP
//!   answer and takes the BYE. One SIP socket and one thread per side.
//! - Every leg has its own RTP socket on 127.0.0.1. One sender thread sends
//!   every stream's 20 ms G.711 tone frame on shared absolute ticks (caller
//!   and callee on different frequencies); a few receiver threads wait on
//!   readiness (epoll through `mio`) and keep per-stream statistics
//!   incrementally ([`stats`]): loss, duplicates, reordering, RFC 3550
//!   jitter, and the pacing histogram of |inter-arrival − 20 ms|.
//! - The measurement window opens `warmup` after the first INVITE, or once
//!   every INVITE has its final response if that is later, and closes when
//!   the first BYE goes out. Loss, pacing and jitter count packets inside
//!   it; whole-call totals are reported alongside.
//! - At the end the last few G.711 frames each leg received before teardown
//!   are decoded and their dominant frequency must be the other side's tone.
//! - With `callers_only` there is no callee side: the server answers the
//!   calls itself (an agent plays a prompt), only the callers' legs are
//!   measured, and what they hear must be the `expect_hz` tone. Loss is then
//!   the gaps in the sequence numbers of the stream the server sends.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::load::{run, LoadConfig};
//!
//! let config = LoadConfig {
//!     calls: 20,
//!     direct: true,
//!     rate: Some(100.0),
//!     duration: Duration::from_secs(2),
//!     warmup: Duration::from_millis(500),
//!     ..LoadConfig::default()
//! };
//! let report = run(&config, &|_| {}).expect("load ran");
//! println!("{report}\n{}", report.result_line());
//! assert!(report.passed());
//! ```

pub mod agent;
mod agent_report;
pub mod cli;
pub mod media;
pub mod rayo;
mod report;
pub mod sip;
pub mod stats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use media::{SenderStats, Side};
pub use report::Report;
pub use sip::{CalleeOutcome, CallerOutcome};
pub use stats::{Counts, Histogram, Phase};

use media::Media;
use sip::{SipSide, UacPlan};

/// How close (Hz) a received tone's dominant frequency must be to the one sent.
pub const TONE_TOLERANCE_HZ: f64 = 15.0;
/// How long the callee keeps listening after the caller is done, for late BYEs.
const CALLEE_LINGER: Duration = Duration::from_millis(300);

/// Sub-ticks a 20 ms tick is split into when streams are spread: stream `i`
/// sends in sub-tick `i % SPREAD_SLOTS`, 1 ms apart.
pub const SPREAD_SLOTS: u32 = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Number of calls.
    pub calls: usize,
    /// The server's SIP address (ignored with `direct`).
    pub server: SocketAddr,
    /// Where the callee side listens for SIP (port 0: any free port).
    pub callee: SocketAddr,
    /// INVITE the callee directly instead of the server (self-test).
    pub direct: bool,
    /// Calls per second; `None` for calls / 10.
    pub rate: Option<f64>,
    /// How long each call is held once answered.
    pub duration: Duration,
    /// Time from the first INVITE before measuring starts.
    pub warmup: Duration,
    /// The number dialled (the Request-URI user).
    pub number: String,
    /// Tone the caller sends, in Hz.
    pub caller_hz: u32,
    /// Tone the callee sends, in Hz.
    pub callee_hz: u32,
    /// Receiver threads.
    pub receive_threads: usize,
    /// Send all streams at the start of each tick (worst-case bursts)
    /// instead of spreading them evenly over it.
    pub aligned: bool,
    /// Only the caller side: the server answers the calls (through an agent).
    pub callers_only: bool,
    /// The tone callers must hear; `None` for `callee_hz`.
    pub expect_hz: Option<u32>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            calls: 100,
            server: SocketAddr::from(([127, 0, 0, 1], 5060)),
            callee: SocketAddr::from(([127, 0, 0, 1], 0)),
            direct: false,
            rate: None,
            duration: Duration::from_secs(70),
            warmup: Duration::from_secs(10),
            number: "100".into(),
            caller_hz: 700,
            callee_hz: 1300,
            receive_threads: 2,
            aligned: false,
            callers_only: false,
            expect_hz: None,
        }
    }
}

impl LoadConfig {
    /// The call rate in effect (calls / 10 per second by default).
    pub fn effective_rate(&self) -> f64 {
        self.rate.unwrap_or(self.calls as f64 / 10.0)
    }

    /// The tone the callers must hear.
    pub fn caller_hears_hz(&self) -> u32 {
        self.expect_hz.unwrap_or(self.callee_hz)
    }

    /// Checks the settings can give a measurement window.
    pub fn validate(&self) -> Result<(), LoadError> {
        let bad = |m: String| Err(LoadError::Config(m));
        let rate = self.effective_rate();
        if self.calls == 0 {
            return bad("at least one call is needed".into());
        }
        if !(rate.is_finite() && rate > 0.0) {
            return bad(format!("the call rate must be positive, not {rate}"));
        }
        let ramp = Duration::from_secs_f64(self.calls.saturating_sub(1) as f64 / rate);
        if self.duration <= self.warmup || self.duration <= ramp {
            return bad(format!(
                "the hold time ({:?}) must exceed the warm-up ({:?}) and the ramp ({ramp:?} at {rate} calls/s), or nothing is measured",
                self.duration, self.warmup
            ));
        }
        if self.callers_only && self.direct {
            return bad("callers-only needs a server to answer the calls, not --direct".into());
        }
        for hz in [self.caller_hz, self.callee_hz, self.caller_hears_hz()] {
            if !(200..=3400).contains(&hz) {
                return bad(format!("tones must be within 200–3400 Hz, not {hz}"));
            }
        }
        if self.caller_hz.abs_diff(self.caller_hears_hz()) < 100 {
            return bad("the tone sent and the tone heard must be at least 100 Hz apart".into());
        }
        Ok(())
    }
}

/// Why a run could not take place.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The settings cannot work.
    #[error("bad settings: {0}")]
    Config(String),
    /// A socket or poller could not be set up.
    #[error("setup: {0}")]
    Io(#[from] std::io::Error),
    /// A worker thread panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// What [`run`] reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The callee side listens here (known before the first INVITE).
    Listening {
        /// The callee's SIP address.
        callee: SocketAddr,
    },
    /// Once a second.
    Status {
        /// Time since the first INVITE was due.
        elapsed: Duration,
        /// INVITEs placed so far.
        placed: usize,
        /// Calls established so far.
        established: usize,
        /// Calls failed so far.
        failed: usize,
        /// Calls up now.
        active: usize,
    },
    /// The measurement window opened.
    MeasureStart,
    /// The measurement window closed.
    MeasureEnd,
}

/// CPU time of this process and the system's UDP receive-buffer drops at one moment.
#[derive(Debug, Clone, Copy)]
struct Probe {
    at: Instant,
    cpu_ticks: Option<u64>,
    rcvbuf_errors: Option<u64>,
}

impl Probe {
    fn now() -> Probe {
        Probe {
            at: Instant::now(),
            cpu_ticks: process_cpu_ticks(),
            rcvbuf_errors: udp_rcvbuf_errors(),
        }
    }
}

/// utime + stime of this process in clock ticks (USER_HZ), from /proc/self/stat.
pub(crate) fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `Udp: RcvbufErrors` from /proc/net/snmp (system-wide).
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let index = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(index)?.parse().ok()
}

/// Clock ticks per second of /proc times (USER_HZ, 100 on Linux).
pub(crate) const USER_HZ: f64 = 100.0;

/// A command-line number of seconds as a `Duration`, or the message for a
/// negative or non-finite value (`what` names the flag).
pub fn seconds_arg(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("--{what} must be a number of seconds ≥ 0"))
}

/// Runs the load to the end and reports what every leg received.
/// `progress` is called from the worker threads.
pub fn run(
    config: &LoadConfig,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Report, LoadError> {
    config.validate()?;
    let callee_sip = if config.callers_only {
        None
    } else {
        Some(SipSide::bind(config.callee)?)
    };
    let caller_sip = SipSide::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let callee_addr = callee_sip.as_ref().map(SipSide::local_addr);
    if let Some(callee) = callee_addr {
        progress(&Progress::Listening { callee });
    }
    let (media, threads) = Media::new(
        config.receive_threads,
        config.caller_hz,
        config.callee_hz,
        if config.aligned { 1 } else { SPREAD_SLOTS },
    )?;
    let plan = UacPlan {
        calls: config.calls,
        rate: config.effective_rate(),
        duration: config.duration,
        warmup: config.warmup,
        target: match callee_addr {
            Some(callee) if config.direct => callee,
            _ => config.server,
        },
        number: config.number.clone(),
    };
    let phase = AtomicU8::new(Phase::Warmup as u8);
    let window: Mutex<(Option<Probe>, Option<Probe>)> = Mutex::new((None, None));
    let on_phase = |p: Phase| {
        let previous = Phase::from_u8(phase.swap(p as u8, Ordering::SeqCst));
        let probe = Probe::now();
        let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
        match (previous, p) {
            (Phase::Warmup, Phase::Measuring) => {
                w.0 = Some(probe);
                drop(w);
                progress(&Progress::MeasureStart);
            }
            (Phase::Measuring, Phase::Teardown) => {
                w.1 = Some(probe);
                drop(w);
                progress(&Progress::MeasureEnd);
            }
            _ => {}
        }
    };
    let stop_callee = AtomicBool::new(false);
    let stop_media = AtomicBool::new(false);
    let started = Instant::now();

    let (caller, callee, sender, receivers) = std::thread::scope(|s| {
        let receivers: Vec<_> = threads
            .receivers
            .into_iter()
            .map(|r| {
                let (phase, stop) = (&phase, &stop_media);
                std::thread::Builder::new()
                    .name("rtp-load-rx".into())
                    .spawn_scoped(s, move || r.run(phase, stop))
            })
            .collect();
        let sender = std::thread::Builder::new()
            .name("rtp-load-tx".into())
            .spawn_scoped(s, || threads.sender.run(&stop_media));
        let callee = callee_sip.map(|callee_sip| {
            std::thread::Builder::new()
                .name("rtp-load-uas".into())
                .spawn_scoped(s, || sip::run_callee(callee_sip, &media, &stop_callee))
        });
        let caller = std::thread::Builder::new()
            .name("rtp-load-uac".into())
            .spawn_scoped(s, || {
                sip::run_caller(caller_sip, &media, &plan, &on_phase, progress)
            });

        let caller = match caller {
            Ok(t) => t.join().map_err(|_| LoadError::Panicked("caller")),
            Err(e) => Err(LoadError::Io(e)),
        };
        if Phase::from_u8(phase.load(Ordering::SeqCst)) != Phase::Teardown {
            on_phase(Phase::Teardown);
        }
        std::thread::sleep(CALLEE_LINGER);
        stop_callee.store(true, Ordering::SeqCst);
        let callee = match callee {
            None => Ok(CalleeOutcome::default()),
            Some(Ok(t)) => t.join().map_err(|_| LoadError::Panicked("callee")),
            Some(Err(e)) => Err(LoadError::Io(e)),
        };
        stop_media.store(true, Ordering::SeqCst);
        media.wake_receivers();
        let sender = match sender {
            Ok(t) => t.join().map_err(|_| LoadError::Panicked("sender")),
            Err(e) => Err(LoadError::Io(e)),
        };
        let receivers: Result<Vec<_>, LoadError> = receivers
            .into_iter()
            .map(|r| match r {
                Ok(t) => t.join().map_err(|_| LoadError::Panicked("receiver")),
                Err(e) => Err(LoadError::Io(e)),
            })
            .collect();
        (caller, callee, sender, receivers)
    });
    let (caller, callee, sender, receivers) = (caller?, callee?, sender?, receivers?);
    let (start, end) = window.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Report::build(
        config,
        caller,
        callee,
        sender,
        receivers,
        start.zip(end),
        started.elapsed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_probes_read_this_machine() {
        let before = process_cpu_ticks().expect("/proc/self/stat has utime and stime");
        // Burn a little CPU so the counter can only stay or grow.
        let mut x = 0u64;
        for i in 0..1_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_ticks().expect("stat") >= before);
        assert!(
            udp_rcvbuf_errors().is_some(),
            "/proc/net/snmp has Udp RcvbufErrors"
        );
    }

    #[test]
    fn settings_are_checked() {
        let ok = LoadConfig {
            calls: 10,
            rate: Some(10.0),
            duration: Duration::from_secs(3),
            warmup: Duration::from_secs(1),
            ..LoadConfig::default()
        };
        assert!(ok.validate().is_ok());
        assert_eq!(LoadConfig::default().effective_rate(), 10.0);
        for bad in [
            LoadConfig {
                calls: 0,
                ..ok.clone()
            },
            LoadConfig {
                rate: Some(0.0),
                ..ok.clone()
            },
            LoadConfig {
                warmup: Duration::from_secs(3),
                ..ok.clone()
            },
            LoadConfig {
                rate: Some(1.0),
                ..ok.clone()
            },
            LoadConfig {
                callee_hz: 100,
                ..ok.clone()
            },
            LoadConfig {
                callers_only: true,
                direct: true,
                ..ok.clone()
            },
            LoadConfig {
                expect_hz: Some(750),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
