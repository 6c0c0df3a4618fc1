//! `rtp-load`: plays both ends of N bridged calls through a SIP server (or
//! directly, with `--direct`) and measures the RTP every leg receives. With
//! `--callers-only` it plays only the callers, for calls the server answers
//! itself (an agent playing a prompt of `--expect-tone` Hz).
//!
//! Progress goes to stderr. Stdout carries `MEASURE start` / `MEASURE end`
//! when the measurement window opens and closes (for scripts sampling the
//! server then), the human summary, and one `RESULT key=value …` line. The
//! exit status is 0 only when every call was set up and held, nothing was
//! lost in the window and every leg heard the other side's tone; 2 for bad
//! settings or a setup failure.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use testkit::load::{run, LoadConfig, Progress};

/// Command line of `rtp-load`.
#[derive(Debug, Parser)]
#[command(
    name = "rtp-load",
    about = "RTP load for bridged calls: both ends of N calls, real G.711 tones both ways, loss/jitter/pacing per leg"
)]
struct Args {
    /// Number of calls.
    #[arg(long, short = 'n')]
    calls: usize,
    /// The server's SIP address (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddr,
    /// Where the callee side listens for SIP (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    callee: SocketAddr,
    /// Call the callee directly instead of the server (self-test).
    #[arg(long)]
    direct: bool,
    /// Calls per second (default: calls / 10).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds each call is held once answered.
    #[arg(long, default_value_t = 70.0)]
    duration: f64,
    /// Seconds from the first INVITE before measuring.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Number dialled (Request-URI user).
    #[arg(long, default_value = "100")]
    number: String,
    /// Tone the caller sends, Hz.
    #[arg(long, default_value_t = 700)]
    caller_tone: u32,
    /// Tone the callee sends, Hz.
    #[arg(long, default_value_t = 1300)]
    callee_tone: u32,
    /// Only the callers: the server answers (through an agent) and no
    /// callee side runs; callers must hear `--expect-tone`.
    #[arg(long)]
    callers_only: bool,
    /// Tone the callers must hear, Hz (default: the callee's tone).
    #[arg(long)]
    expect_tone: Option<u32>,
    /// Receiver threads.
    #[arg(long, default_value_t = 2)]
    rx_threads: usize,
    /// Send every stream's frame at the same instant of each 20 ms tick
    /// (a worst-case burst) instead of spreading the streams over the tick
    /// as independent phones would.
    #[arg(long)]
    aligned: bool,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (duration, warmup) = match (
        testkit::load::seconds_arg(args.duration, "duration"),
        testkit::load::seconds_arg(args.warmup, "warmup"),
    ) {
        (Ok(d), Ok(w)) => (d, w),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("rtp-load: {e}");
            return ExitCode::from(2);
        }
    };
    let config = LoadConfig {
        calls: args.calls,
        server: args.server,
        callee: args.callee,
        direct: args.direct,
        rate: args.rate,
        duration,
        warmup,
        number: args.number,
        caller_hz: args.caller_tone,
        callee_hz: args.callee_tone,
        receive_threads: args.rx_threads,
        aligned: args.aligned,
        callers_only: args.callers_only,
        expect_hz: args.expect_tone,
    };
    let quiet = args.quiet;
    let progress = move |p: &Progress| match p {
        Progress::Listening { callee } => {
            if !quiet {
                eprintln!("callee listening on {callee}");
            }
        }
        Progress::Status {
            elapsed,
            placed,
            established,
            failed,
            active,
        } => {
            if !quiet {
                eprintln!(
                    "t={:>4.0}s placed={placed} established={established} failed={failed} active={active}",
                    elapsed.as_secs_f64()
                );
            }
        }
        Progress::MeasureStart | Progress::MeasureEnd => {
            let mark = if *p == Progress::MeasureStart {
                "start"
            } else {
                "end"
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "MEASURE {mark}");
            let _ = out.flush();
        }
    };
    match run(&config, &progress) {
        Ok(report) => {
            println!("{report}");
            println!("{}", report.result_line());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("rtp-load: {e}");
            ExitCode::from(2)
        }
    }
}
