//! The pacer's families: tick and frame lateness and tick work as
//! Prometheus histograms, read from the pacer's own fixed buckets (50 µs
//! wide) at scrape time, plus their exact maxima as gauges.
//!
//! These replace the first tranche's quantile gauges: a histogram can be
//! aggregated and turned into any quantile by Prometheus, and its buckets
//! are what the pacer already keeps.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge, gauge_seconds, Histogram};
use crate::media::pacer::{LatenessHistogram, PacerHandle};

/// Upper bounds for a tick's work, from 50 µs to 20 ms (one tick).
const WORK_BOUNDS: [Duration; 9] = [
    Duration::from_micros(50),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(20),
];

/// Upper bounds for lateness, from 100 µs to 20 ms: the work bounds but
/// the first, as lateness under the 50 µs resolution is not told apart.
const LATENESS_BOUNDS: &[Duration] = WORK_BOUNDS.split_at(1).1;

/// Writes the pacer families.
pub(super) fn encode(e: &mut DescriptorEncoder, pacer: &PacerHandle) -> Result<(), fmt::Error> {
    let snapshot = pacer.stats();
    let counters = pacer.counters();
    gauge(
        e,
        "pacer_streams",
        "RTP streams the pacer sent for at its last tick.",
        snapshot.streams as i64,
    )?;
    gauge(
        e,
        "pacer_rooms",
        "Conference rooms the pacer mixed at its last tick.",
        snapshot.rooms as i64,
    )?;
    counter(
        e,
        "pacer_skipped_ticks",
        "Pacer ticks skipped because the pacer woke more than a tick late.",
        snapshot.skipped_ticks,
    )?;
    counter(
        e,
        "pacer_unknown_stream_commands",
        "Pacer commands naming a stream, room or member it no longer holds.",
        snapshot.unknown_stream_commands,
    )?;
    lateness(
        e,
        "pacer_tick_lateness",
        "How late pacer ticks woke against their schedule",
        &counters.tick_lateness,
        LATENESS_BOUNDS,
    )?;
    lateness(
        e,
        "pacer_frame_lateness",
        "How late paced frames left against their 20 ms slot",
        &counters.frame_lateness,
        LATENESS_BOUNDS,
    )?;
    lateness(
        e,
        "pacer_tick_work",
        "How long each pacer tick's work took",
        &counters.walk_time,
        &WORK_BOUNDS,
    )
}

/// One histogram family `name_seconds` and its exact maximum `name_max_seconds`.
fn lateness(
    e: &mut DescriptorEncoder,
    name: &str,
    what: &str,
    histogram: &LatenessHistogram,
    bounds: &[Duration],
) -> Result<(), fmt::Error> {
    let buckets = histogram.buckets(bounds);
    let upper = bounds
        .iter()
        .map(Duration::as_secs_f64)
        .chain([f64::INFINITY]);
    Histogram {
        sum: buckets.sum.as_secs_f64(),
        count: buckets.count,
        buckets: upper.zip(buckets.counts.iter().copied()).collect(),
    }
    .encode(
        e,
        name,
        &format!("{what} since start (50 µs resolution: a value less than 50 µs under a bound may count under the next one)."),
    )?;
    gauge_seconds(
        e,
        &format!("{name}_max"),
        &format!("{what}: the largest since start, exact."),
        buckets.max,
    )
}
