//! `agent-load`: a load agent for Agent RPC. It takes every call the server
//! offers (invite → 200, then `answer` at once), keeps it busy per `--mode`,
//! answers every `bye`, and measures the latency from each `answer` to its
//! 200. Logic in `testkit::load::agent`.
//!
//! Progress goes to stderr once a second. On SIGINT/SIGTERM or after
//! `--run-for`, stdout gets a human summary and one `RESULT key=value …`
//! line. The exit status is 0 when nothing failed, 1 when something did, 2
//! when the agent could not start.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use testkit::baresip::write_tone_wav;
use testkit::load::agent::{AgentLoadConfig, LoadAgent, Mode};
use testkit::load::cli::{finish, SignalStop};

/// What to do with each answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Play `--prompt` in a loop until the call ends.
    Play,
    /// Do nothing until the call ends.
    Hold,
    /// Send `hangup` `--hangup-after` seconds after the answer.
    HangupAfter,
}

/// Command line of `agent-load`.
#[derive(Debug, Parser)]
#[command(
    name = "agent-load",
    about = "Agent RPC load agent: answers every call, plays/holds/hangs up, measures answer latency"
)]
struct Args {
    /// The server's Agent RPC URL with the endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:6000/?endpoint=myagent")]
    url: String,
    /// WebSocket connections to open (the server spreads calls over them).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// What to do with each answered call.
    #[arg(long, value_enum, default_value_t = ModeArg::Hold)]
    mode: ModeArg,
    /// The prompt for `--mode play`, e.g. file://tone.wav.
    #[arg(long)]
    prompt: Option<String>,
    /// Seconds from answer to hangup for `--mode hangup-after`.
    #[arg(long, default_value_t = 1.0)]
    hangup_after: f64,
    /// Stop after this many seconds (default: at SIGINT/SIGTERM).
    #[arg(long)]
    run_for: Option<f64>,
    /// Also report the latency of answers sent while at least this many
    /// other calls were up.
    #[arg(long)]
    latency_from_calls: Option<usize>,
    /// Most calls held at once; further invites are answered 486.
    #[arg(long, default_value_t = 100_000)]
    max_calls: usize,
    /// Write a tone prompt to this file (8 kHz mono 16-bit WAV) and exit.
    #[arg(long, value_name = "FILE")]
    write_tone: Option<std::path::PathBuf>,
    /// Frequency of `--write-tone`, Hz.
    #[arg(long, default_value_t = 1000.0)]
    tone_hz: f64,
    /// Length of `--write-tone`, seconds.
    #[arg(long, default_value_t = 10.0)]
    tone_secs: f64,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn mode(args: &Args) -> Result<Mode, String> {
    Ok(match args.mode {
        ModeArg::Play => Mode::Play {
            uri: args
                .prompt
                .clone()
                .ok_or("--mode play needs --prompt URI")?,
        },
        ModeArg::Hold => Mode::Hold,
        ModeArg::HangupAfter => Mode::HangupAfter(testkit::load::seconds_arg(
            args.hangup_after,
            "hangup-after",
        )?),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.write_tone {
        if !(args.tone_secs > 0.0 && args.tone_secs <= 3600.0 && args.tone_hz > 0.0) {
            eprintln!("agent-load: --tone-secs must be in (0, 3600] and --tone-hz positive");
            return ExitCode::from(2);
        }
        // −12 dBm0: loud enough to check by frequency, far from clipping.
        let length = Duration::from_secs_f64(args.tone_secs);
        return match write_tone_wav(path, args.tone_hz, -12.0, length) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("agent-load: writing {}: {e}", path.display());
                ExitCode::from(2)
            }
        };
    }
    let setup = mode(&args).and_then(|mode| {
        let run_for = args
            .run_for
            .map(|s| testkit::load::seconds_arg(s, "run-for"))
            .transpose()?;
        Ok((mode, run_for))
    });
    let (mode, run_for) = match setup {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agent-load: {e}");
            return ExitCode::from(2);
        }
    };
    // Before any thread starts: see SignalStop::block.
    let signals = match SignalStop::block() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("agent-load: blocking signals: {e}");
            return ExitCode::from(2);
        }
    };
    let config = AgentLoadConfig {
        url: args.url.clone(),
        connections: args.connections,
        mode,
        latency_from_calls: args.latency_from_calls,
        max_calls: args.max_calls,
    };
    let agent = match LoadAgent::connect(config) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("agent-load: {}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let stop = agent.stop_handle();
    let waiter = signals.spawn("agent-load", move || stop.stop());
    if let Err(e) = waiter {
        eprintln!("agent-load: signal thread: {e}");
        return ExitCode::from(2);
    }
    eprintln!(
        "agent-load: {} connection(s) to {}, mode {:?}",
        args.connections.max(1),
        args.url,
        args.mode
    );
    let quiet = args.quiet;
    let report = agent.run(run_for, &mut |s| {
        if !quiet {
            eprintln!(
                "t={:>4.0}s invites={} answered={} up={} plays={} failures={}",
                s.elapsed.as_secs_f64(),
                s.invites,
                s.answered,
                s.up,
                s.plays,
                s.failures
            );
        }
    });
    finish(&report, &report.result_line(), report.passed())
}
