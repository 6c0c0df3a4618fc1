//! Command latency: from a controller's request arriving to its final
//! answer leaving, per operation, as Prometheus histograms.
//!
//! One observation per command (never per packet), from the connection
//! tasks of many controllers at once, so the buckets are shared atomics.
//! The label sets are fixed lists, the protocol crates' own: a Rayo command
//! not listed counts as `other` (unknown agent ops are answered 405 and
//! never timed).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_rpc::AgentOp;
use prometheus_client::encoding::DescriptorEncoder;

use super::Histogram;

/// Upper bounds of the latency buckets, in seconds: from 1 ms to a minute
/// (a `play` answers when its prompt has played).
pub const BOUNDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0,
];

/// The Agent RPC operations timed: every op the protocol crate knows.
pub const AGENT_OPS: [&str; AgentOp::NAMES.len()] = AgentOp::NAMES;

/// The label of the commands a list does not name.
const OTHER: &str = "other";

/// The Rayo commands timed (IQ payload names).
pub const RAYO_COMMANDS: [&str; 27] = [
    "accept",
    "answer",
    "redirect",
    "reject",
    "hangup",
    "hold",
    "unhold",
    "mute",
    "unmute",
    "join",
    "unjoin",
    "dial",
    "dtmf",
    "output",
    "input",
    "prompt",
    "record",
    "stop",
    "pause",
    "resume",
    "seek",
    "speed-up",
    "speed-down",
    "volume-up",
    "volume-down",
    "query",
    "other",
];

/// Latency histograms of the Agent RPC ops.
pub type AgentTimes = CommandTimes<{ AGENT_OPS.len() }>;

/// Agent RPC command latency, per op.
pub static AGENT: AgentTimes = CommandTimes::new(&AGENT_OPS);
/// Rayo command latency, per command.
pub static RAYO: CommandTimes<{ RAYO_COMMANDS.len() }> = CommandTimes::new(&RAYO_COMMANDS);

/// One label's histogram.
struct Slot {
    /// The last one is `+Inf`; their sum is the count.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            buckets: [const { AtomicU64::new(0) }; BOUNDS.len() + 1],
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// Latency histograms for a fixed list of `N` labels, one of them maybe
/// `other`.
pub struct CommandTimes<const N: usize> {
    labels: &'static [&'static str; N],
    slots: [Slot; N],
}

impl<const N: usize> fmt::Debug for CommandTimes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandTimes")
            .field("labels", &self.labels)
            .finish()
    }
}

impl<const N: usize> CommandTimes<N> {
    /// Empty histograms for `labels` (tests keep their own).
    pub(crate) const fn new(labels: &'static [&'static str; N]) -> CommandTimes<N> {
        CommandTimes {
            labels,
            slots: [const { Slot::new() }; N],
        }
    }

    /// The slot of `label`, else of `other`; `N` (recorded nowhere) when
    /// neither is listed.
    pub fn slot(&self, label: &str) -> usize {
        let position = |wanted: &str| self.labels.iter().position(|l| *l == wanted);
        position(label).or_else(|| position(OTHER)).unwrap_or(N)
    }

    /// Records one command of slot `slot` that took `elapsed`.
    pub fn observe(&self, slot: usize, elapsed: Duration) {
        let Some(slot) = self.slots.get(slot) else {
            return;
        };
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS.len());
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        slot.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Commands recorded under `label` so far.
    #[cfg(test)]
    pub fn count(&self, label: &str) -> u64 {
        let slot = self.slots.get(self.slot(label));
        slot.map_or(0, |s| {
            s.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
        })
    }

    /// One histogram family `name`, labelled `label`, one series per slot.
    pub(super) fn encode(
        &self,
        e: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        label: &str,
    ) -> Result<(), fmt::Error> {
        let series = self.labels.iter().zip(&self.slots).map(|(value, slot)| {
            let counts = slot.buckets.iter().map(|b| b.load(Ordering::Relaxed));
            let upper = BOUNDS.iter().copied().chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = upper.zip(counts).collect();
            let histogram = Histogram {
                // The +Inf bucket's total, so count and buckets agree.
                count: buckets.iter().map(|(_, n)| n).sum(),
                sum: Duration::from_nanos(slot.sum_ns.load(Ordering::Relaxed)).as_secs_f64(),
                buckets,
            };
            ([(label, *value)], histogram)
        });
        Histogram::encode_family(e, name, help, series)
    }
}

/// Most commands timed at once; past it, commands never answered make room
/// (a peer that never gets answers cannot grow the table without bound).
const MAX_PENDING: usize = 4096;

/// How long a command is waited for: the top bucket. One unanswered longer
/// is dropped once the table is full.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

/// Commands awaiting their final answer, by a key naming the request (its
/// sender and id).
#[derive(Debug, Default)]
pub struct PendingCommands {
    started: HashMap<String, (usize, Instant)>,
}

impl PendingCommands {
    /// A command (of slot `slot`) arrived, named `key`. A full table first
    /// drops the commands unanswered for [`ABANDONED_AFTER`], or else the
    /// oldest: new commands are always timed.
    pub fn start(&mut self, key: String, slot: usize, now: Instant) {
        if self.started.len() >= MAX_PENDING {
            self.started
                .retain(|_, (_, since)| now.saturating_duration_since(*since) < ABANDONED_AFTER);
        }
        if self.started.len() >= MAX_PENDING {
            let oldest = self
                .started
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.started.remove(&oldest);
            }
        }
        self.started.insert(key, (slot, now));
    }

    /// The final answer to `key` leaves: records its latency in `times`.
    pub fn finish<const N: usize>(&mut self, key: &str, times: &CommandTimes<N>, now: Instant) {
        if let Some((slot, started)) = self.started.remove(key) {
            times.observe(slot, now.saturating_duration_since(started));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_slot_and_bucket() {
        static TIMES: CommandTimes<3> = CommandTimes::new(&["a", "b", "other"]);
        let mut pending = PendingCommands::default();
        let t0 = Instant::now();
        pending.start("1".into(), TIMES.slot("b"), t0);
        pending.start("2".into(), TIMES.slot("zzz"), t0);
        pending.finish("1", &TIMES, t0 + Duration::from_millis(3));
        pending.finish("1", &TIMES, t0 + Duration::from_millis(9));
        pending.finish("2", &TIMES, t0 + Duration::from_secs(100));
        assert_eq!(TIMES.count("b"), 1, "a second answer is not timed");
        assert_eq!(TIMES.count("other"), 1);
        assert_eq!(TIMES.count("a"), 0);
        let b = &TIMES.slots[1];
        assert_eq!(
            b.buckets[2].load(Ordering::Relaxed),
            1,
            "3 ms is under 5 ms"
        );
        assert_eq!(b.sum_ns.load(Ordering::Relaxed), 3_000_000);
        let other = &TIMES.slots[2];
        assert_eq!(other.buckets[BOUNDS.len()].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn commands_never_answered_do_not_stop_the_timing_of_later_ones() {
        static TIMES: CommandTimes<2> = CommandTimes::new(&["a", "other"]);
        let mut pending = PendingCommands::default();
        let t0 = Instant::now();
        for n in 0..MAX_PENDING {
            pending.start(format!("lost {n}"), 0, t0);
        }
        let later = t0 + ABANDONED_AFTER;
        pending.start("late".into(), 0, later);
        assert_eq!(pending.started.len(), 1, "the abandoned ones are dropped");
        pending.finish("late", &TIMES, later + Duration::from_millis(2));
        assert_eq!(TIMES.count("a"), 1);
        // A full table of commands all still waited for: the oldest goes.
        for n in 0..MAX_PENDING {
            pending.start(
                format!("busy {n}"),
                0,
                later + Duration::from_nanos(n as u64),
            );
        }
        pending.start("new".into(), 0, later + Duration::from_secs(1));
        assert_eq!(pending.started.len(), MAX_PENDING);
        assert!(!pending.started.contains_key("busy 0"));
        pending.finish("new", &TIMES, later + Duration::from_secs(2));
        assert_eq!(TIMES.count("a"), 2);
    }
}
