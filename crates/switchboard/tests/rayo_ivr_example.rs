//! `examples/rayo-ivr/ivr.py` (issue 11 item 9) against the real binary:
//! the example, a slixmpp program, is the Rayo application; the test kit's
//! SIP UA and RTP peer are the caller. The test follows the lines the
//! script prints and checks what the caller hears (speech during the
//! welcome), that its keys make a PIN (a wrong key first: the retry), and
//! that the message it speaks (a 600 Hz tone) is in the WAV the recording's
//! signed URL serves. Text-to-speech is espeak-ng, as `scripts/test`
//! installs it.
//!
//! Without the virtual environment `scripts/test` makes
//! (`target/rayo-venv`, with slixmpp), the tests say so and pass: that is
//! the only case in which they do not run.

mod common;

use std::io::{BufRead, BufReader, Cursor};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::http::get;
use media::tone::ToneGenerator;
use media::wav::WavAudio;
use testkit::analysis::{decode_audio, dominant_frequency, is_near, level_dbm0, tone_present};
use testkit::rayo_harness::{Caller, RayoBench, RayoConfig, DOMAIN};
use testkit::sip_ua::CallHandle;
use testkit::Source;

/// Longest one step of the flow may take (TTS renders on a busy machine).
const WAIT: Duration = Duration::from_secs(15);
/// What the caller says as its message.
const MESSAGE_HZ: f64 = 600.0;

/// The virtual environment's Python, if `scripts/test` made it.
fn venv_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let python = target.join("rayo-venv/bin/python");
    python.exists().then_some(python)
}

/// The running example: its printed lines, and every line read so far
/// (for failure messages). Killed if the test fails first.
struct Ivr {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Ivr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ivr {
    /// Starts the example as `usera` against `bench`, exiting after one call,
    /// and waits until it is available for calls.
    fn start(python: &Path, bench: &RayoBench) -> Ivr {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rayo-ivr/ivr.py");
        let mut child = Command::new(python)
            .arg(script)
            .args([
                &format!("usera@{DOMAIN}"),
                "1",
                &bench.xmpp.to_string(),
                "--once",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut ivr = Ivr {
            child,
            lines,
            seen: Vec::new(),
        };
        ivr.line("available for calls", bench);
        ivr
    }

    /// Waits for a line starting with `prefix`; a line saying the flow
    /// failed, or none in time, fails the test.
    fn line(&mut self, prefix: &str, bench: &RayoBench) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                panic!(
                    "no '{prefix}' from the example: {:#?}\n{}",
                    self.seen,
                    bench.server.log()
                );
            };
            self.seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
            let failed = ["error ", "login failed", "flow stopped"]
                .iter()
                .any(|bad| line.starts_with(bad) && !prefix.starts_with(bad));
            assert!(
                !failed,
                "waiting for '{prefix}': {:#?}\n{}",
                self.seen,
                bench.server.log()
            );
        }
    }

    /// Waits for the script to exit after its one call (it must succeed)
    /// and returns the lines it printed since the last wait. Their order
    /// is not checked: a component's completion and the call's `<end>`
    /// reach the script in that order, but it prints the `<end>` from its
    /// presence handler and the completion from the flow, which resumes
    /// later.
    fn exits(mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut rest = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    rest.push(line);
                }
                // The script closed its output: it is exiting.
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the example does not exit: {:#?}", self.seen)
                }
            }
        }
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waitable") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the example does not exit: {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{:#?}", self.seen);
        // Shown with --nocapture: what a person running the example sees.
        eprintln!("{}", self.seen.join("\n"));
        rest
    }
}

/// A server whose callers all reach the Rayo endpoint, on its own RTP ports.
fn bench(rtp_ports: &str) -> RayoBench {
    let config = RayoConfig::new().rtp_ports(rtp_ports).wait(WAIT);
    RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config)
}

/// Calls the example and waits until it has answered.
fn answered(bench: &RayoBench, ivr: &mut Ivr, caller: &Caller) -> CallHandle {
    let mut call = caller.call(bench.sip(), "1000");
    ivr.line("offer ", bench);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", bench.server.log());
    let negotiated = call.negotiated().expect("negotiated");
    caller.rtp.set_destination(negotiated.remote_rtp);
    ivr.line("answer ok", bench);
    call
}

fn send_digits(caller: &Caller, call: &CallHandle, digits: &str) {
    let payload_type = call
        .negotiated()
        .expect("negotiated")
        .telephone_event
        .expect("telephone-event negotiated");
    caller.rtp.set_source(Source::digits(digits, payload_type));
}

/// How many 200 ms windows of what the caller received are louder than
/// -40 dBm0 (the server's silence is far below; espeak-ng's speech above).
fn loud_windows(caller: &Caller) -> usize {
    decode_audio(&caller.rtp.received())
        .chunks_exact(1600)
        .filter(|window| level_dbm0(window) > -40.0)
        .count()
}

/// GETs `url`'s path and query from the server's HTTP listener (the
/// address it logged); status and body.
fn fetch(http: SocketAddr, url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    get(http, &rest[rest.find('/').expect("a path")..])
}

#[test]
fn the_ivr_welcomes_takes_a_pin_records_a_message_and_hangs_up() {
    let Some(python) = venv_python() else {
        eprintln!(
            "rayo_ivr_example: no target/rayo-venv (scripts/test creates it with slixmpp); skipped"
        );
        return;
    };
    let bench = bench("49200-49299");
    let mut ivr = Ivr::start(&python, &bench);
    let caller = Caller::new();
    let mut call = answered(&bench, &mut ivr, &caller);

    ivr.line("welcome finish", &bench);
    let loud = loud_windows(&caller);
    assert!(loud >= 3, "speech heard in {loud} windows of 200 ms");

    // A key no PIN has: nomatch at once, and the example asks again.
    ivr.line("ask-pin started", &bench);
    send_digits(&caller, &call, "1*");
    assert_eq!(ivr.line("pin ", &bench), "pin nomatch");
    ivr.line("retry finish", &bench);
    ivr.line("ask-pin started", &bench);
    send_digits(&caller, &call, "1234");
    assert_eq!(ivr.line("pin ", &bench), "pin 1234");
    ivr.line("readback finish", &bench);
    ivr.line("leave-message finish", &bench);

    // The message: 2 s of tone, then silence until the final timeout.
    ivr.line("record started", &bench);
    let tone: Vec<i16> = ToneGenerator::sine(MESSAGE_HZ, -10.0).take(2 * 8000);
    caller.rtp.set_source(Source::Samples {
        samples: Arc::from(tone),
        looped: false,
    });
    let line = ivr.line("recording ", &bench);
    let words: Vec<&str> = line.split(' ').collect();
    let [_, url, duration_ms, size] = words[..] else {
        panic!("recording URI MS BYTES: {line}");
    };
    let duration_ms: u64 = duration_ms.parse().expect("duration in ms");
    let size: usize = size.parse().expect("size in bytes");
    assert!(
        (1_500..=20_000).contains(&duration_ms),
        "{line}: about 2 s of tone and up to 3 s of silence"
    );
    let http = bench.server.http_addr().expect("HTTP listener logged");
    let (status, body) = fetch(http, url);
    assert_eq!(status, 200, "{url}");
    assert_eq!(body.len(), size, "the size the completion reports");
    let wav = WavAudio::read(Cursor::new(body)).expect("a WAV file");
    assert_eq!(wav.sample_rate, 8000);
    // Mono or the caller's channel (left) of a duplex recording.
    let says = wav.channel(0);
    let first = &says[..says.len().min(16_000)];
    assert!(
        is_near(dominant_frequency(first, 8000), MESSAGE_HZ),
        "{:?}",
        dominant_frequency(first, 8000)
    );
    assert!(tone_present(first, MESSAGE_HZ, 0.5));

    ivr.line("goodbye finish", &bench);
    assert!(
        call.wait_bye(WAIT).is_some(),
        "the example hangs up\n{}",
        bench.server.log()
    );
    let rest = ivr.exits();
    for expected in ["hangup ok", "end hangup-command"] {
        assert!(rest.iter().any(|l| l == expected), "{expected}: {rest:#?}");
    }
}

#[test]
fn a_caller_hanging_up_during_the_pin_prompt_ends_the_flow() {
    let Some(python) = venv_python() else {
        eprintln!(
            "rayo_ivr_example: no target/rayo-venv (scripts/test creates it with slixmpp); skipped"
        );
        return;
    };
    let bench = bench("49300-49399");
    let mut ivr = Ivr::start(&python, &bench);
    let caller = Caller::new();
    let mut call = answered(&bench, &mut ivr, &caller);
    ivr.line("ask-pin started", &bench);
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let rest = ivr.exits();
    for expected in [
        "ask-pin hangup",
        "flow stopped: the call ended",
        "end hungup",
    ] {
        assert!(rest.iter().any(|l| l == expected), "{expected}: {rest:#?}");
    }
    assert!(
        !rest.iter().any(|l| l.starts_with("readback")),
        "the flow went on: {rest:#?}"
    );
}
