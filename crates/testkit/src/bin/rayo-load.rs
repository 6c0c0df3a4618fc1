//! `rayo-load`: a load client for Rayo. Its XMPP connections take every
//! call the server offers: `answer`, then `hangup` after `--hold-ms`
//! (`--mode answer-hangup`) or wait for the caller's hangup (`--mode
//! hold`), and measure the `answer` IQ → result latency. Logic in
//! `testkit::load::rayo`.
//!
//! Progress goes to stderr once a second. When `--calls` calls have ended,
//! `--duration` has passed, or at SIGINT/SIGTERM, stdout gets a human
//! summary and one `RESULT key=value …` line. The exit status is 0 when
//! nothing failed, 1 when something did, 2 when the client could not start.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use testkit::load::cli::{finish, SignalStop};
use testkit::load::rayo::{Mode, RayoLoad, RayoLoadConfig};
use xmpp::sasl::Mechanism;

/// What to do with each answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Send `hangup` `--hold-ms` after the answer's result.
    AnswerHangup,
    /// Do nothing until the caller hangs up.
    Hold,
}

/// SASL mechanism choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MechanismArg {
    /// SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN, as the server offers.
    Any,
    /// SCRAM-SHA-256 only.
    #[value(name = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-1 only.
    #[value(name = "scram-sha-1")]
    ScramSha1,
    /// PLAIN only (the server needs `rayo.allow_plain_without_tls`).
    Plain,
}

/// Command line of `rayo-load`.
#[derive(Debug, Parser)]
#[command(
    name = "rayo-load",
    about = "Rayo load client: answers every offered call, hangs up or holds, measures answer latency"
)]
struct Args {
    /// The server's XMPP listener (`rayo.listen`).
    #[arg(long, default_value = "127.0.0.1:5222")]
    addr: SocketAddr,
    /// The XMPP domain (`rayo.domain`).
    #[arg(long, default_value = "rayo.localhost")]
    domain: String,
    /// User name (one of `rayo.users`).
    #[arg(long, default_value = "usera")]
    user: String,
    /// Password.
    #[arg(long, default_value = "1")]
    password: String,
    /// SASL mechanism (no TLS either way).
    #[arg(long, value_enum, default_value_t = MechanismArg::Any)]
    mechanism: MechanismArg,
    /// XMPP connections, one thread each (several need the server's
    /// `offer_policy: random` or `first`, or all but one get `conflict`).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// What to do with each answered call.
    #[arg(long, value_enum, default_value_t = ModeArg::AnswerHangup)]
    mode: ModeArg,
    /// Milliseconds from the answer's result to `hangup` (`--mode answer-hangup`).
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// Stop once this many calls have ended (fewer is a failure).
    #[arg(long)]
    calls: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Also report the latency of answers sent while at least this many
    /// other calls were up (over every connection).
    #[arg(long)]
    latency_from_calls: Option<usize>,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn config(args: &Args) -> RayoLoadConfig {
    let mechanisms = match args.mechanism {
        MechanismArg::Any => vec![
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::Plain,
        ],
        MechanismArg::ScramSha256 => vec![Mechanism::ScramSha256],
        MechanismArg::ScramSha1 => vec![Mechanism::ScramSha1],
        MechanismArg::Plain => vec![Mechanism::Plain],
    };
    RayoLoadConfig {
        addr: args.addr,
        domain: args.domain.clone(),
        username: args.user.clone(),
        password: args.password.clone(),
        mechanisms,
        connections: args.connections,
        mode: match args.mode {
            ModeArg::AnswerHangup => Mode::AnswerHangup(Duration::from_millis(args.hold_ms)),
            ModeArg::Hold => Mode::Hold,
        },
        calls: args.calls,
        latency_from_calls: args.latency_from_calls,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run_for = match args
        .duration
        .map(|s| testkit::load::seconds_arg(s, "duration"))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("rayo-load: {e}");
            return ExitCode::from(2);
        }
    };
    // Before any thread starts: see SignalStop::block.
    let signals = match SignalStop::block() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("rayo-load: blocking signals: {e}");
            return ExitCode::from(2);
        }
    };
    let load = match RayoLoad::connect(&config(&args)) {
        Ok(load) => load,
        Err(e) => {
            eprintln!("rayo-load: {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    let stop = load.stop_handle();
    let waiter = signals.spawn("rayo-load", move || stop.stop());
    if let Err(e) = waiter {
        eprintln!("rayo-load: signal thread: {e}");
        return ExitCode::from(2);
    }
    let jids = load.jids();
    eprintln!(
        "rayo-load: {} connection(s) to {} as {}, mode {:?}",
        jids.len(),
        args.addr,
        jids.join(" "),
        args.mode
    );
    let quiet = args.quiet;
    let report = load.run(run_for, &mut |s| {
        if !quiet {
            eprintln!(
                "t={:>4.0}s offers={} answered={} ended={} up={} failures={}",
                s.elapsed.as_secs_f64(),
                s.offers,
                s.answered,
                s.ended,
                s.up,
                s.failures
            );
        }
    });
    finish(&report, &report.result_line(), report.passed())
}
