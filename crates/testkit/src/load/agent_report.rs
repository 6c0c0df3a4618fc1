//! What [`LoadAgent`](super::agent::LoadAgent) measured: a human summary
//! ([`std::fmt::Display`]) and one machine-readable `RESULT key=value …` line.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::load::cli::tool_cpu_line;

use super::stats::Histogram;

/// The ops the agent sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `answer`.
    Answer,
    /// `play`.
    Play,
    /// `hangup`.
    Hangup,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Answer => "answer",
            Op::Play => "play",
            Op::Hangup => "hangup",
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct AgentReport {
    /// Invites received.
    pub invites: u64,
    /// Invites refused 486 because `max_calls` were held.
    pub refused: u64,
    /// Calls whose `answer` got 200.
    pub answered: u64,
    /// `bye`s received.
    pub byes: u64,
    /// `play` requests sent.
    pub plays_started: u64,
    /// `play`s that completed 200.
    pub plays_completed: u64,
    /// `play`s that ended 487 (the call ended under them): not failures.
    pub plays_interrupted: u64,
    /// `hangup`s answered 200.
    pub hangups: u64,
    /// Final responses other than 2xx, by op and code (487 to `play` excluded).
    pub failures: BTreeMap<(Op, u16), u64>,
    /// Requests without any response within [`REQUEST_TIMEOUT`](super::agent::REQUEST_TIMEOUT), by op.
    pub timeouts: BTreeMap<Op, u64>,
    /// Responses whose id matched no request in flight.
    pub unmatched: u64,
    /// Frames that were not Agent RPC (bad JSON, binary).
    pub garbage: u64,
    /// Connections the server closed or broke.
    pub disconnects: usize,
    /// Most calls up at once.
    pub up_max: usize,
    /// Answer latency of every answered call, µs.
    pub answer_us: Histogram,
    /// The threshold of [`Self::answer_from_us`].
    pub latency_from_calls: Option<usize>,
    /// Answer latency of calls answered with at least `latency_from_calls` others up, µs.
    pub answer_from_us: Histogram,
    /// Time from `play` to its first response (183 or final), µs.
    pub play_first_us: Histogram,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// This process's CPU over the run, % of one core.
    pub cpu_pct: Option<f64>,
    /// Highest CPU of this process over any one-second status interval, %.
    pub cpu_pct_max_1s: Option<f64>,
}

impl AgentReport {
    pub(crate) fn new(latency_from_calls: Option<usize>) -> AgentReport {
        AgentReport {
            invites: 0,
            refused: 0,
            answered: 0,
            byes: 0,
            plays_started: 0,
            plays_completed: 0,
            plays_interrupted: 0,
            hangups: 0,
            failures: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            unmatched: 0,
            garbage: 0,
            disconnects: 0,
            up_max: 0,
            answer_us: Histogram::new(),
            latency_from_calls,
            answer_from_us: Histogram::new(),
            play_first_us: Histogram::new(),
            elapsed: Duration::ZERO,
            cpu_pct: None,
            cpu_pct_max_1s: None,
        }
    }

    /// Every failure: non-2xx finals (bar 487 to `play`), timeouts and refused invites.
    pub fn failure_count(&self) -> u64 {
        self.failures.values().sum::<u64>() + self.timeouts.values().sum::<u64>() + self.refused
    }

    /// True when nothing failed and no connection was lost.
    pub fn passed(&self) -> bool {
        self.failure_count() == 0 && self.disconnects == 0
    }

    /// One line of `key=value` pairs, starting with `RESULT`.
    pub fn result_line(&self) -> String {
        let optf = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let failures_by: Vec<String> = self
            .failures
            .iter()
            .map(|((op, code), n)| format!("{}:{code}x{n}", op.name()))
            .chain(
                self.timeouts
                    .iter()
                    .map(|(op, n)| format!("{}:timeoutx{n}", op.name())),
            )
            .collect();
        format!(
            "RESULT invites={} answered={} refused={} byes={} failures={} failures_by={} \
             plays_started={} plays_completed={} plays_interrupted={} hangups={} \
             unmatched={} garbage={} disconnects={} up_max={} {} latency_from_calls={} {} {} \
             elapsed_s={:.1} cpu_pct={} cpu_pct_max_1s={}",
            self.invites,
            self.answered,
            self.refused,
            self.byes,
            self.failure_count(),
            if failures_by.is_empty() {
                "-".to_string()
            } else {
                failures_by.join(",")
            },
            self.plays_started,
            self.plays_completed,
            self.plays_interrupted,
            self.hangups,
            self.unmatched,
            self.garbage,
            self.disconnects,
            self.up_max,
            self.answer_us.result_fields("answer_us"),
            self.latency_from_calls
                .map_or("-".to_string(), |n| n.to_string()),
            self.answer_from_us.result_fields("answer_from_us"),
            self.play_first_us.result_fields("play_first_us"),
            self.elapsed.as_secs_f64(),
            optf(self.cpu_pct),
            optf(self.cpu_pct_max_1s),
        )
    }
}

impl std::fmt::Display for AgentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "calls: {} invites, {} answered, {} refused (max calls), {} byes; most up at once {}",
            self.invites, self.answered, self.refused, self.byes, self.up_max
        )?;
        writeln!(f, "answer → 200 latency: {}", self.answer_us.summary_us())?;
        if let Some(n) = self.latency_from_calls {
            writeln!(
                f,
                "  answered with ≥ {n} other calls up: {}",
                self.answer_from_us.summary_us()
            )?;
        }
        if self.plays_started > 0 {
            writeln!(
                f,
                "plays: {} sent, {} completed, {} ended by the call (487); play → first response: {}",
                self.plays_started,
                self.plays_completed,
                self.plays_interrupted,
                self.play_first_us.summary_us()
            )?;
        }
        if self.hangups > 0 {
            writeln!(f, "hangups answered 200: {}", self.hangups)?;
        }
        writeln!(
            f,
            "failures: {} (non-2xx finals, timeouts, refused invites); {} unmatched responses, {} garbage frames, {} connections lost",
            self.failure_count(),
            self.unmatched,
            self.garbage,
            self.disconnects
        )?;
        for ((op, code), n) in &self.failures {
            writeln!(f, "  {} answered {code}: {n}×", op.name())?;
        }
        for (op, n) in &self.timeouts {
            writeln!(f, "  {} without response in 10 s: {n}×", op.name())?;
        }
        let cpu = tool_cpu_line(self.cpu_pct, self.elapsed, self.cpu_pct_max_1s);
        f.write_str(&cpu)
    }
}
