//! The load client's own CPU (utime + stime from /proc/self/stat): over
//! the run, and the busiest one-second status interval.

use std::time::{Duration, Instant};

use crate::load::{process_cpu_ticks, USER_HZ};

/// This process's CPU: over the run, and the busiest one-second interval.
pub(super) struct CpuMeter {
    started: (Instant, Option<u64>),
    last: (Instant, Option<u64>),
    pub(super) max_1s: Option<f64>,
}

impl CpuMeter {
    pub(super) fn new(now: Instant) -> CpuMeter {
        let start = (now, process_cpu_ticks());
        CpuMeter {
            started: start,
            last: start,
            max_1s: None,
        }
    }

    /// % of one core between two readings; None when /proc cannot tell.
    fn pct(from: (Instant, Option<u64>), to: (Instant, Option<u64>)) -> Option<f64> {
        let wall = to.0.saturating_duration_since(from.0).as_secs_f64();
        let ticks = to.1?.saturating_sub(from.1?) as f64;
        (wall > 0.0).then(|| 100.0 * ticks / USER_HZ / wall)
    }

    pub(super) fn sample(&mut self, now: Instant) {
        let reading = (now, process_cpu_ticks());
        if now.saturating_duration_since(self.last.0) > Duration::from_millis(500) {
            if let Some(pct) = CpuMeter::pct(self.last, reading) {
                self.max_1s = Some(self.max_1s.map_or(pct, |m| m.max(pct)));
            }
        }
        self.last = reading;
    }

    pub(super) fn overall(&self, now: Instant) -> Option<f64> {
        CpuMeter::pct(self.started, (now, process_cpu_ticks()))
    }
}
