//! `rayo-load`: a load client for Rayo. Its XMPP connections take every
//! call the server offers: `answer`, then `hangup` after `--hold-ms`
//! (`--mode answer-hangup`) or wait for the caller's hangup (`--mode
//! hold`), and measure the `answer` IQ → result latency. Logic in
//! `testkit::load::rayo`.
//!
//! The media modes start components on each answered call: `play-loop`
//! (a looped output of `--url` or `--tts`), `prompt-latency` (an output
//! played once, timed to its first audible packet at the caller;
//! `--tts-first` makes every text new), `input-latency` (a DTMF input,
//! timed from the caller's last key to the `<match>`), `record` (a duplex
//! record of `--max-duration-ms`, optionally with a looped output and
//! fetching `--fetch` recordings). The latency modes place the calls
//! themselves (`--sip`), so both ends share this process's clock.
//!
//! `--mode mixer` places `--rooms` × `--room-size` calls itself (`--sip`),
//! joins each answered call to mixer `room-<k>`, has the first `--speakers`
//! callers of each room send a tone of their own (the others silence),
//! measures what every caller receives over a `--hold` s window that opens
//! `--warmup` s after the last call is up (loss, pacing, whether it hears
//! the room, how many tones, never its own), then hangs up every call and
//! checks the joined/unjoined and speaking presences and each mixer's
//! unavailable presence.
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
use testkit::load::rayo::{
    CallerConfig, Document, MediaKind, MediaPlan, MixerCalls, MixerPlan, Mode, RayoLoad,
    RayoLoadConfig, RoomLayout,
};
use xmpp::sasl::Mechanism;

/// What to do with each answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Send `hangup` `--hold-ms` after the answer's result.
    AnswerHangup,
    /// Do nothing until the caller hangs up.
    Hold,
    /// A looped output on each call until it ends (`--hold-ms`: hang up then).
    PlayLoop,
    /// An output played once; IQ → first audible packet at the built-in caller.
    PromptLatency,
    /// A DTMF input; the built-in caller keys `--digits`; last key → match.
    InputLatency,
    /// A duplex record of `--max-duration-ms`.
    Record,
    /// Join each call to its room's mixer; the built-in caller measures.
    Mixer,
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
    about = "Rayo load client: answers every offered call, hangs up, holds or starts media components, measures latencies"
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
    /// Milliseconds from the answer's result to `hangup` (default 1000 in
    /// `answer-hangup`; in the media modes the caller or the completion
    /// ends the call unless this is given).
    #[arg(long)]
    hold_ms: Option<u64>,
    /// The audio file an output plays (`file://` names one in the
    /// server's playback directory).
    #[arg(long, default_value = "file://tone.wav")]
    url: String,
    /// Speak this text (an SSML document) instead of playing `--url`.
    #[arg(long)]
    tts: Option<String>,
    /// prompt-latency: a different text on every call (a number appended),
    /// so every output is a first TTS render.
    #[arg(long)]
    tts_first: bool,
    /// input-latency: the keys the caller sends (the grammar takes as many digits).
    #[arg(long, default_value = "1234")]
    digits: String,
    /// record: the record's `max-duration`, ms.
    #[arg(long, default_value_t = 60_000)]
    max_duration_ms: u64,
    /// record: also loop `--url`/`--tts` to the caller while recording.
    #[arg(long)]
    record_output: bool,
    /// record: fetch this many recordings over HTTP at the end and check them.
    #[arg(long, default_value_t = 0)]
    fetch: usize,
    /// Place the calls from this process to the server's SIP address
    /// (needed by prompt-latency and input-latency).
    #[arg(long)]
    sip: Option<SocketAddr>,
    /// Calls the built-in caller places (default: `--calls`).
    #[arg(long)]
    caller_calls: Option<usize>,
    /// Calls per second of the built-in caller.
    #[arg(long, default_value_t = 50.0)]
    caller_rate: f64,
    /// Number the built-in caller dials.
    #[arg(long, default_value = "100")]
    number: String,
    /// input-latency: ms from the input's ref to the first key.
    #[arg(long, default_value_t = 200)]
    key_delay_ms: u64,
    /// input-latency: the input's `initial-timeout`, ms (default: the key
    /// delay plus 5 s).
    #[arg(long)]
    initial_timeout_ms: Option<u64>,
    /// The built-in caller hangs up a call still up after this many ms.
    #[arg(long, default_value_t = 30_000)]
    max_call_ms: u64,
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
    /// mixer: rooms (mixers `room-0` …).
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// mixer: calls per room.
    #[arg(long, default_value_t = 5)]
    room_size: usize,
    /// mixer: callers per room that send a tone (default: all).
    #[arg(long)]
    speakers: Option<usize>,
    /// mixer: seconds measured, from `--warmup` after the last call is up;
    /// every call is hung up at the end.
    #[arg(long, default_value_t = 60.0)]
    hold: f64,
    /// mixer: seconds from the last call up to the measurement window.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// mixer: hangups per second after the window (default: `--caller-rate`).
    #[arg(long)]
    hangup_rate: Option<f64>,
    /// mixer: the most tones a caller may hear (the server's loudest-speakers limit).
    #[arg(long, default_value_t = 3)]
    max_mixed: usize,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

fn layout(args: &Args) -> RoomLayout {
    RoomLayout {
        rooms: args.rooms,
        size: args.room_size,
        speakers: args.speakers.unwrap_or(args.room_size),
    }
}

fn mode(args: &Args) -> Result<Mode, String> {
    let document = match &args.tts {
        Some(text) => Document::Speech(text.clone()),
        None => Document::Url(args.url.clone()),
    };
    let hold = args.hold_ms.map(Duration::from_millis);
    if args.tts_first && (args.tts.is_none() || args.mode != ModeArg::PromptLatency) {
        return Err("--tts-first needs --mode prompt-latency and --tts".into());
    }
    let kind = match args.mode {
        ModeArg::AnswerHangup => {
            return Ok(Mode::AnswerHangup(hold.unwrap_or(Duration::from_secs(1))))
        }
        ModeArg::Hold => return Ok(Mode::Hold),
        ModeArg::Mixer => {
            if args.sip.is_none() {
                return Err("--mode mixer places its calls: give --sip ADDRESS".into());
            }
            if args.rooms == 0 || args.room_size == 0 {
                return Err("--rooms and --room-size must be at least 1".into());
            }
            let layout = layout(args);
            return Ok(Mode::Mixer(MixerPlan { layout }));
        }
        ModeArg::PlayLoop => MediaKind::PlayLoop { document },
        ModeArg::PromptLatency => MediaKind::PromptLatency {
            document,
            unique_text: args.tts_first,
        },
        ModeArg::InputLatency => {
            if args.digits.is_empty() || !args.digits.chars().all(|c| c.is_ascii_digit()) {
                return Err("--digits must be one or more digits 0-9".into());
            }
            MediaKind::InputLatency {
                digits: args.digits.clone(),
                initial_timeout_ms: args.initial_timeout_ms.unwrap_or(args.key_delay_ms + 5000),
            }
        }
        ModeArg::Record => MediaKind::Record {
            max_duration_ms: args.max_duration_ms,
            with_output: args.record_output.then_some(document),
        },
    };
    let latency = matches!(args.mode, ModeArg::PromptLatency | ModeArg::InputLatency);
    if latency && args.sip.is_none() {
        return Err("the latency modes place their calls: give --sip ADDRESS".into());
    }
    Ok(Mode::Media(MediaPlan { kind, hold }))
}

fn caller(args: &Args) -> Result<Option<CallerConfig>, String> {
    let Some(server) = args.sip else {
        return Ok(None);
    };
    let mixer = if args.mode == ModeArg::Mixer {
        let seconds = |s, what| testkit::load::seconds_arg(s, what);
        Some(MixerCalls {
            layout: layout(args),
            warmup: seconds(args.warmup, "warmup")?,
            hold: seconds(args.hold, "hold")?,
            max_mixed: args.max_mixed,
            hangup_rate: args.hangup_rate,
        })
    } else {
        None
    };
    let calls = match &mixer {
        Some(m) => m.layout.calls(),
        None => args
            .caller_calls
            .or(args.calls.map(|c| c as usize))
            .ok_or("--sip needs --calls or --caller-calls")?,
    };
    if !(args.caller_rate.is_finite() && args.caller_rate > 0.0) {
        return Err("--caller-rate must be positive".into());
    }
    Ok(Some(CallerConfig {
        server,
        number: args.number.clone(),
        calls,
        rate: args.caller_rate,
        keys: args.digits.clone(),
        key_delay: Duration::from_millis(args.key_delay_ms),
        max_call: Duration::from_millis(args.max_call_ms),
        mixer,
    }))
}

fn config(args: &Args) -> Result<RayoLoadConfig, String> {
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
    Ok(RayoLoadConfig {
        addr: args.addr,
        domain: args.domain.clone(),
        username: args.user.clone(),
        password: args.password.clone(),
        mechanisms,
        connections: args.connections,
        mode: mode(args)?,
        calls: match args.mode {
            ModeArg::Mixer => Some(layout(args).calls() as u64),
            _ => args.calls,
        },
        latency_from_calls: args.latency_from_calls,
        caller: caller(args)?,
        fetch: args.fetch,
    })
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
    let config = match config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rayo-load: {e}");
            return ExitCode::from(2);
        }
    };
    let load = match RayoLoad::connect(&config) {
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
