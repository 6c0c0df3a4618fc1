//! Giving memory back to the system once a storm of connections has passed.
//!
//! What a storm leaves behind, measured with `bench/tcp-storm.sh` and a
//! debugger on a 2-core Debian 12 machine (glibc 2.36): every connection's
//! memory is freed when it closes (its task, its write queue, its read
//! buffer while it had one, its registry entries), and yet the resident
//! size stays near its peak: 5,000 idle connections took it from 11 to
//! ~50 MB, and it stayed ~50 MB after they closed. glibc's malloc keeps
//! freed memory in its per-thread arenas for reuse and returns it by itself
//! only from the top of a heap, where little of it lies once connection
//! allocations have been interleaved with longer-lived ones. `malloc_trim(0)`
//! returns the free pages from the middle of the arenas as well: it brought
//! the same process back to 13 MB.
//!
//! So a [`StormWatch`] follows the number of signalling connections
//! ([`crate::fd_limit::SIGNALLING`]) and, once at least
//! [`MIN_STORM`] of them and half of the peak have closed, asks for the
//! memory to be returned, at most once per [`MIN_GAP`]. Trimming walks the
//! arenas under their locks for a few milliseconds, which is why it is not
//! done after every connection. The watch is sans-IO; [`watch`] runs it on
//! its own thread with the trimming function the binary gives (glibc's call
//! needs `unsafe`, which this crate forbids).

use std::time::{Duration, Instant};

use crate::fd_limit;

/// Connections that must have closed since the peak to call it a storm.
pub const MIN_STORM: u64 = 1000;
/// Least time between two trims.
pub const MIN_GAP: Duration = Duration::from_secs(10);
/// How often [`watch`] looks at the connection count.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Decides when a storm has passed; sans-IO.
#[derive(Debug, Default)]
pub struct StormWatch {
    peak: u64,
    last_trim: Option<Instant>,
}

impl StormWatch {
    /// Notes that `open` connections are open at `now`, and that at most
    /// `peak` were open at once since the last look; `Some(closed)` when it
    /// is time to trim, `closed` being how many closed since the peak.
    pub fn observe(&mut self, now: Instant, peak: u64, open: u64) -> Option<u64> {
        self.peak = self.peak.max(peak).max(open);
        let closed = self.peak - open;
        let storm_over = closed >= MIN_STORM && open <= self.peak / 2;
        let rested = self
            .last_trim
            .is_none_or(|last| now.saturating_duration_since(last) >= MIN_GAP);
        if !(storm_over && rested) {
            return None;
        }
        self.peak = open;
        self.last_trim = Some(now);
        Some(closed)
    }
}

/// Watches [`fd_limit::SIGNALLING`] on a thread of its own for the life of
/// the process, calling `trim` after each storm; `trim` says whether it
/// returned any memory.
pub fn watch(trim: fn() -> bool) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("storm-watch".into())
        .spawn(move || {
            let mut watch = StormWatch::default();
            loop {
                std::thread::sleep(CHECK_INTERVAL);
                let peak = fd_limit::SIGNALLING.take_peak();
                let open = fd_limit::SIGNALLING.in_use();
                let Some(closed) = watch.observe(Instant::now(), peak, open) else {
                    continue;
                };
                let before = resident_kib();
                let started = Instant::now();
                let returned = trim();
                let took = started.elapsed();
                tracing::info!(
                    closed,
                    open,
                    returned,
                    took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                    rss_kib_before = before,
                    rss_kib_after = resident_kib(),
                    "connection storm over: freed memory returned to the system"
                );
            }
        })
        .map(|_| ())
}

/// The process's resident size in KiB, for the log.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_storm_that_closes_is_trimmed_once() {
        let t0 = Instant::now();
        let mut watch = StormWatch::default();
        for (s, open) in [(0, 10), (5, 5_000), (10, 20_000), (15, 19_500)] {
            assert_eq!(watch.observe(t0 + s * S, open, open), None, "{open} open");
        }
        assert_eq!(watch.observe(t0 + 20 * S, 40, 40), Some(19_960));
        // Quiet afterwards: nothing more to do.
        assert_eq!(watch.observe(t0 + 60 * S, 40, 40), None);
        assert_eq!(watch.observe(t0 + 65 * S, 12, 12), None);
    }

    #[test]
    fn churn_below_the_storm_size_or_half_the_peak_is_left_alone() {
        let t0 = Instant::now();
        let mut watch = StormWatch::default();
        // 900 closed: not a storm.
        watch.observe(t0, 1_000, 1_000);
        assert_eq!(watch.observe(t0 + S, 100, 100), None);
        // 1,500 of 5,000 closed: most are still open.
        watch.observe(t0 + 2 * S, 5_000, 5_000);
        assert_eq!(watch.observe(t0 + 3 * S, 3_500, 3_500), None);
    }

    #[test]
    fn storms_in_quick_succession_are_trimmed_at_most_once_per_gap() {
        let t0 = Instant::now();
        let mut watch = StormWatch::default();
        watch.observe(t0, 5_000, 5_000);
        assert!(watch.observe(t0 + S, 0, 0).is_some());
        watch.observe(t0 + 2 * S, 5_000, 5_000);
        assert_eq!(watch.observe(t0 + 3 * S, 0, 0), None, "too soon");
        // The storm is remembered until the gap has passed.
        assert_eq!(watch.observe(t0 + S + MIN_GAP, 0, 0), Some(5_000));
    }

    #[test]
    fn a_storm_between_two_looks_is_seen_through_its_peak() {
        let t0 = Instant::now();
        let mut watch = StormWatch::default();
        assert_eq!(watch.observe(t0, 0, 0), None);
        assert_eq!(watch.observe(t0 + 5 * S, 3_000, 2), Some(2_998));
    }

    #[test]
    fn the_resident_size_is_read() {
        assert!(resident_kib().is_some_and(|kib| kib > 0));
    }
}
