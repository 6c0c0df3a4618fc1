//! What the load tools' command lines share: stopping on SIGINT/SIGTERM,
//! and ending with the summary, the `RESULT` line and the exit status.

use std::fmt::Display;
use std::process::ExitCode;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};

/// SIGINT and SIGTERM, blocked and left to one waiting thread (sigwait),
/// so that a stop request reaches the tool as a call, not as a handler.
pub struct SignalStop(SigSet);

impl SignalStop {
    /// Blocks both signals in this thread and every thread started after:
    /// call it before any thread starts.
    pub fn block() -> nix::Result<SignalStop> {
        let mut signals = SigSet::empty();
        signals.add(Signal::SIGINT);
        signals.add(Signal::SIGTERM);
        signals.thread_block()?;
        Ok(SignalStop(signals))
    }

    /// Starts the thread that waits for either signal, says
    /// `TOOL: SIGNAL, stopping` on stderr, and calls `stop`.
    pub fn spawn(self, tool: &str, stop: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let tool = tool.to_owned();
        std::thread::Builder::new()
            .name(format!("{tool}-signals"))
            .spawn(move || {
                if let Ok(signal) = self.0.wait() {
                    eprintln!("{tool}: {signal}, stopping");
                }
                stop();
            })
            .map(drop)
    }
}

/// Prints `summary` and `result_line` on stdout; success when `passed`.
pub fn finish(summary: &dyn Display, result_line: &str, passed: bool) -> ExitCode {
    println!("{summary}");
    println!("{result_line}");
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `this tool: X % of one core over S s, at most Y % in one second`, the
/// last line of a tool's summary (`-` where /proc could not tell).
pub fn tool_cpu_line(
    cpu_pct: Option<f64>,
    elapsed: Duration,
    cpu_pct_max_1s: Option<f64>,
) -> String {
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1} %"));
    format!(
        "this tool: {} of one core over {:.1} s, at most {} in one second",
        pct(cpu_pct),
        elapsed.as_secs_f64(),
        pct(cpu_pct_max_1s)
    )
}
