//! Every live RTP session's counters, summed at scrape time for metrics.
//!
//! A session registers its shared counters when it starts and, when it
//! ends, folds its final counts into the totals of ended sessions, both
//! under one lock: a lock per session start and end, never per packet. A
//! scrape adds the live sessions' atomics (read relaxed) to those totals,
//! so the sums only grow.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use super::Shared;
use crate::media::reports::OutboundCounters;

/// RTP totals over every session since start; jitter over live ones.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RtpTotals {
    /// Sessions open now.
    pub sessions: u64,
    /// RTP packets accepted from the peers.
    pub packets_received: u64,
    /// Payload bytes of those packets.
    pub octets_received: u64,
    /// Packets the peers' sequence numbers say never arrived (RFC 3550 A.3).
    pub packets_lost: u64,
    /// RTP packets sent: paced (prompts, agents' audio, mixes) and relayed.
    pub packets_sent: u64,
    /// Payload bytes of those packets.
    pub octets_sent: u64,
    /// The largest interarrival jitter of a live session.
    pub jitter_max: Duration,
    /// The mean interarrival jitter over live sessions that received RTP.
    pub jitter_mean: Duration,
}

/// What a scrape reads of one session.
struct Entry {
    shared: Arc<Shared>,
    outbound: Arc<OutboundCounters>,
    clock_rate: u32,
}

impl Entry {
    /// The session's counts so far, and its jitter (the largest of its sources).
    fn counts(&self) -> (RtpTotals, Option<Duration>) {
        let s = &self.shared;
        let mut totals = RtpTotals {
            packets_received: s.rtp.load(Ordering::Relaxed),
            octets_received: s.octets.load(Ordering::Relaxed),
            packets_sent: self.outbound.packets() + s.relayed.load(Ordering::Relaxed),
            octets_sent: self.outbound.octets() + s.relayed_octets.load(Ordering::Relaxed),
            ..RtpTotals::default()
        };
        let mut jitter = None;
        for source in s.source_stats() {
            totals.packets_lost += source.lost;
            let units = u64::from(source.jitter);
            let micros = units * 1_000_000 / u64::from(self.clock_rate.max(1));
            let source = Duration::from_micros(micros);
            jitter = Some(jitter.map_or(source, |j: Duration| j.max(source)));
        }
        (totals, jitter)
    }
}

#[derive(Default)]
struct Live {
    next_id: u64,
    sessions: HashMap<u64, Entry>,
    /// Everything counted by sessions that have ended.
    ended: RtpTotals,
}

static LIVE: LazyLock<Mutex<Live>> = LazyLock::new(Mutex::default);

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A session's place among the live ones; dropping it folds the session's
/// counts into the totals.
pub(super) struct Registration(u64);

/// Adds a session to the live ones.
pub(super) fn register(
    shared: Arc<Shared>,
    outbound: Arc<OutboundCounters>,
    clock_rate: u32,
) -> Registration {
    let mut live = live();
    live.next_id += 1;
    let id = live.next_id;
    let entry = Entry {
        shared,
        outbound,
        clock_rate,
    };
    live.sessions.insert(id, entry);
    Registration(id)
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = live();
        if let Some(entry) = live.sessions.remove(&self.0) {
            let (counts, _) = entry.counts();
            add(&mut live.ended, &counts);
        }
    }
}

fn add(sum: &mut RtpTotals, counts: &RtpTotals) {
    sum.packets_received += counts.packets_received;
    sum.octets_received += counts.octets_received;
    sum.packets_lost += counts.packets_lost;
    sum.packets_sent += counts.packets_sent;
    sum.octets_sent += counts.octets_sent;
}

/// The totals over ended and live sessions, and the live sessions' jitter.
pub fn rtp_totals() -> RtpTotals {
    let live = live();
    let mut totals = live.ended;
    totals.sessions = live.sessions.len() as u64;
    let (mut jitter_sum, mut jittered) = (Duration::ZERO, 0u32);
    for entry in live.sessions.values() {
        let (counts, jitter) = entry.counts();
        add(&mut totals, &counts);
        if let Some(jitter) = jitter {
            totals.jitter_max = totals.jitter_max.max(jitter);
            jitter_sum += jitter;
            jittered += 1;
        }
    }
    if jittered > 0 {
        totals.jitter_mean = jitter_sum / jittered;
    }
    totals
}
