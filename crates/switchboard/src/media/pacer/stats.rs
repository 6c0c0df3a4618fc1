//! Counters the pacer thread writes and anyone may read: per stream and
//! pacer-wide. Each has exactly one writer (the pacer thread), so updates
//! are plain relaxed loads and stores, never locked read-modify-writes.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Raises a single-writer maximum.
#[inline]
fn raise(max: &AtomicU64, value: u64) {
    if value > max.load(Ordering::Relaxed) {
        max.store(value, Ordering::Relaxed);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One stream's counters, shared between the pacer and the stream's owner.
#[derive(Debug)]
pub struct StreamCounters {
    sent: AtomicU64,
    send_errors: AtomicU64,
    last_lateness_us: AtomicU64,
    max_lateness_us: AtomicU64,
    next_sequence: AtomicU32,
    next_timestamp: AtomicU32,
    /// The prompt playing and its next frame, packed (see [`PromptPosition`]).
    prompt: AtomicU64,
}

impl Default for StreamCounters {
    fn default() -> StreamCounters {
        StreamCounters {
            sent: AtomicU64::default(),
            send_errors: AtomicU64::default(),
            last_lateness_us: AtomicU64::default(),
            max_lateness_us: AtomicU64::default(),
            next_sequence: AtomicU32::default(),
            next_timestamp: AtomicU32::default(),
            prompt: AtomicU64::new(NO_PROMPT),
        }
    }
}

/// The packed value of a stream that plays no prompt.
const NO_PROMPT: u64 = u64::MAX;

/// Which prompt a stream plays and how far it got, as of the last tick:
/// how an announcement's owner reads its play position without asking the
/// pacer thread (seek, speed and volume changes start from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptPosition {
    /// The low 32 bits of the prompt's tag: an owner tells its own prompt
    /// from one it replaced by choosing tags that differ there.
    pub tag: u32,
    /// The index of the next frame to send (frames sent, with the start).
    pub frame: usize,
}

/// A copy of one stream's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSnapshot {
    /// Packets handed to the kernel.
    pub sent: u64,
    /// Sends that failed (refused, would block, …); the stream carries on.
    pub send_errors: u64,
    /// How late the last frame left against its 20 ms slot.
    pub last_lateness: Duration,
    /// The latest any frame of this stream left.
    pub max_lateness: Duration,
    /// Sequence number the next packet will carry.
    pub next_sequence: u16,
    /// Timestamp the next packet will carry.
    pub next_timestamp: u32,
}

impl StreamCounters {
    /// Reads every counter (each one atomically; not all at the same instant).
    pub fn snapshot(&self) -> StreamSnapshot {
        StreamSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
            last_lateness: Duration::from_micros(self.last_lateness_us.load(Ordering::Relaxed)),
            max_lateness: Duration::from_micros(self.max_lateness_us.load(Ordering::Relaxed)),
            next_sequence: self.next_sequence.load(Ordering::Relaxed) as u16,
            next_timestamp: self.next_timestamp.load(Ordering::Relaxed),
        }
    }

    pub(super) fn record_send(&self, ok: bool, lateness: Duration) {
        if ok {
            bump(&self.sent, 1);
        } else {
            bump(&self.send_errors, 1);
        }
        let us = micros(lateness);
        self.last_lateness_us.store(us, Ordering::Relaxed);
        raise(&self.max_lateness_us, us);
    }

    /// The prompt the stream plays as of the last tick, if any.
    pub fn prompt_position(&self) -> Option<PromptPosition> {
        let packed = self.prompt.load(Ordering::Relaxed);
        (packed != NO_PROMPT).then_some(PromptPosition {
            tag: (packed >> 32) as u32,
            frame: (packed & 0xFFFF_FFFF) as usize,
        })
    }

    /// Once per tick: one store, no allocation.
    pub(super) fn record_prompt(&self, tag: Option<u64>, frame: usize) {
        let packed = match tag {
            // The frame stays below u32::MAX so a prompt never reads as none.
            Some(tag) => (tag & 0xFFFF_FFFF) << 32 | frame.min(0xFFFF_FFFE) as u64,
            None => NO_PROMPT,
        };
        self.prompt.store(packed, Ordering::Relaxed);
    }

    pub(super) fn record_position(&self, sequence: u16, timestamp: u32) {
        self.next_sequence
            .store(u32::from(sequence), Ordering::Relaxed);
        self.next_timestamp.store(timestamp, Ordering::Relaxed);
    }
}

/// Width of one histogram bucket.
const BUCKET_US: u64 = 50;
/// Buckets up to 25 ms; later values land in the last one (and in `max`).
const BUCKETS: usize = 500;

/// A fixed-bucket latency histogram (50 µs buckets up to 25 ms) with an exact maximum.
#[derive(Debug)]
pub struct LatenessHistogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    max_us: AtomicU64,
    /// Every value recorded, added up (for a Prometheus histogram's `_sum`).
    sum_us: AtomicU64,
}

impl Default for LatenessHistogram {
    fn default() -> Self {
        LatenessHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

/// Percentiles of a [`LatenessHistogram`]; bucket upper bounds except `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatenessSummary {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest value, exact.
    pub max: Duration,
}

/// A [`LatenessHistogram`] under the bounds asked for; see
/// [`LatenessHistogram::buckets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatenessBuckets {
    /// Values per bound (not cumulative), then one more for values above the last bound.
    pub counts: Vec<u64>,
    /// Values recorded: the sum of `counts`.
    pub count: u64,
    /// Every value recorded, added up (µs resolution).
    pub sum: Duration,
    /// Largest value, exact.
    pub max: Duration,
}

impl LatenessHistogram {
    /// Records one value; only the pacer thread calls this.
    pub(super) fn record(&self, value: Duration) {
        let us = micros(value);
        let index = usize::try_from(us / BUCKET_US).map_or(BUCKETS - 1, |i| i.min(BUCKETS - 1));
        bump(&self.buckets[index], 1);
        bump(&self.count, 1);
        bump(&self.sum_us, us);
        raise(&self.max_us, us);
    }

    /// How many values so far were `at_least` (to the bucket, 50 µs) and
    /// how many there were in all: cumulative, so a reader takes differences.
    pub fn count_at_least(&self, at_least: Duration) -> (u64, u64) {
        let first =
            usize::try_from(micros(at_least) / BUCKET_US).map_or(BUCKETS, |i| i.min(BUCKETS));
        let late = self.buckets[first..]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        (late, self.count.load(Ordering::Relaxed))
    }

    /// The counts regrouped under coarser upper bounds, for a Prometheus
    /// histogram: `bounds` ascending, ideally multiples of 50 µs (a fine
    /// bucket counts under the first bound at or above its own upper end).
    pub fn buckets(&self, bounds: &[Duration]) -> LatenessBuckets {
        let mut counts = vec![0; bounds.len() + 1];
        let mut bound = 0;
        for (i, fine) in self.buckets.iter().enumerate() {
            let upper = Duration::from_micros((i as u64 + 1) * BUCKET_US);
            while bound < bounds.len() && bounds[bound] < upper {
                bound += 1;
            }
            counts[bound] += fine.load(Ordering::Relaxed);
        }
        LatenessBuckets {
            count: counts.iter().sum(),
            counts,
            sum: Duration::from_micros(self.sum_us.load(Ordering::Relaxed)),
            max: Duration::from_micros(self.max_us.load(Ordering::Relaxed)),
        }
    }

    /// p50, p99 and max of everything recorded so far.
    pub fn summary(&self) -> LatenessSummary {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max = Duration::from_micros(self.max_us.load(Ordering::Relaxed));
        let percentile = |p: u64| {
            if count == 0 {
                return Duration::ZERO;
            }
            let rank = (count * p).div_ceil(100).max(1);
            let mut seen = 0;
            for (i, &n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    let upper = Duration::from_micros((i as u64 + 1) * BUCKET_US);
                    return upper.min(max);
                }
            }
            max
        };
        LatenessSummary {
            count,
            p50: percentile(50),
            p99: percentile(99),
            max,
        }
    }
}

/// Pacer-wide counters, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct PacerStats {
    /// How late each tick woke against its absolute schedule.
    pub tick_lateness: LatenessHistogram,
    /// How late each frame left (tick lateness plus its place in the walk).
    pub frame_lateness: LatenessHistogram,
    /// How long each tick's work took, from waking (commands and the walk over all streams).
    pub walk_time: LatenessHistogram,
    skipped_ticks: AtomicU64,
    unknown_stream_commands: AtomicU64,
    streams: AtomicU64,
    rooms: AtomicU64,
}

/// A copy of the pacer-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerSnapshot {
    /// Tick wake-up lateness.
    pub tick_lateness: LatenessSummary,
    /// Per-frame lateness.
    pub frame_lateness: LatenessSummary,
    /// Duration of each tick's work.
    pub walk_time: LatenessSummary,
    /// Ticks skipped because the pacer woke more than one tick late.
    pub skipped_ticks: u64,
    /// Commands naming a stream the pacer does not hold (already removed),
    /// or a room or member that is not there.
    pub unknown_stream_commands: u64,
    /// Streams registered at the last tick.
    pub streams: u64,
    /// Conference rooms mixed at the last tick.
    pub rooms: u64,
}

impl PacerStats {
    /// Reads every counter.
    pub fn snapshot(&self) -> PacerSnapshot {
        PacerSnapshot {
            tick_lateness: self.tick_lateness.summary(),
            frame_lateness: self.frame_lateness.summary(),
            walk_time: self.walk_time.summary(),
            skipped_ticks: self.skipped_ticks.load(Ordering::Relaxed),
            unknown_stream_commands: self.unknown_stream_commands.load(Ordering::Relaxed),
            streams: self.streams.load(Ordering::Relaxed),
            rooms: self.rooms.load(Ordering::Relaxed),
        }
    }

    /// Streams registered at the last tick: one atomic read, where
    /// [`PacerStats::snapshot`] also summarises three histograms.
    pub fn streams(&self) -> u64 {
        self.streams.load(Ordering::Relaxed)
    }

    pub(super) fn record_skipped(&self, ticks: u64) {
        bump(&self.skipped_ticks, ticks);
    }

    pub(super) fn record_unknown_stream(&self) {
        bump(&self.unknown_stream_commands, 1);
    }

    pub(super) fn record_streams(&self, streams: usize, rooms: usize) {
        self.streams.store(streams as u64, Ordering::Relaxed);
        self.rooms.store(rooms as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_are_bucket_bounds_and_max_is_exact() {
        let h = LatenessHistogram::default();
        for _ in 0..98 {
            h.record(Duration::from_micros(120));
        }
        h.record(Duration::from_micros(3_010));
        h.record(Duration::from_millis(40));
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_micros(150));
        assert_eq!(s.p99, Duration::from_micros(3_050));
        assert_eq!(s.max, Duration::from_millis(40));
        assert_eq!(LatenessHistogram::default().summary().p99, Duration::ZERO);
        assert_eq!(h.count_at_least(Duration::from_millis(3)), (2, 100));
        assert_eq!(h.count_at_least(Duration::from_millis(10)), (1, 100));
        assert_eq!(h.count_at_least(Duration::from_secs(60)), (0, 100));
    }

    #[test]
    fn buckets_regroup_the_fine_counts_with_a_sum() {
        let h = LatenessHistogram::default();
        for us in [10, 49, 50, 120, 1_000, 3_010, 40_000] {
            h.record(Duration::from_micros(us));
        }
        let ms = Duration::from_millis;
        let b = h.buckets(&[Duration::from_micros(100), ms(1), ms(10)]);
        // 10 and 49 in [0, 50), 50 in [50, 100): all under 100 µs; 120 and
        // 1000 ([1000, 1050) ends above 1 ms) under 10 ms with 3010.
        assert_eq!(b.counts, [3, 1, 2, 1]);
        assert_eq!(b.count, 7);
        assert_eq!(b.sum, Duration::from_micros(44_239));
        assert_eq!(b.max, ms(40));
    }
}
