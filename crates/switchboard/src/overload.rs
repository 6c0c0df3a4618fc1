//! Overload control: whether the server takes new calls, decided from
//! measured load and `sip.max_calls`, so that near saturation new calls are
//! refused with 503 and `Retry-After` instead of the calls already up
//! losing media quality or their controllers.
//!
//! Sans-IO: the driver hands the [`Governor`] a [`LoadSample`] and `now`
//! every [`SAMPLE_INTERVAL`] and asks it about each new INVITE and OPTIONS;
//! the governor never reads a clock or a queue itself, so its rules are
//! tested in virtual time.
//!
//! # Signals and thresholds
//!
//! Each signal is a *pressure* with its own hysteresis on the level (it
//! rises at a high-water mark and falls only below a lower one):
//!
//! - the driver's inbound queue (messages received, not yet handled): high
//!   at a quarter of its capacity, low below a twentieth: the driver, the
//!   one task every SIP message passes through, is behind;
//! - transactions alive in the SIP stack: high at 80 % of
//!   `sip.max_transactions`, low below 60 % (the stack itself answers 503
//!   statelessly at 100 %);
//! - the RTP pacer's ticks: high when at least [`PACER_LATE_SHARE`] % of
//!   the ticks of the last [`PACER_WINDOW`] samples woke [`PACER_LATE`] or
//!   more behind schedule while it paces at least [`PACER_MIN_STREAMS`]
//!   streams, i.e. the media of the calls already up suffers. With fewer
//!   streams, late ticks come from the rest of the machine, not from our
//!   calls, and refusing calls would not help them;
//! - the RTP pacer's work: high when as large a share of those ticks took
//!   [`PACER_BUSY`] or more to send their frames. A real-time pacer
//!   (`media.pacer_realtime`) is not late until its walk fills the whole
//!   tick, by which time the rest of the server has lost most of the core
//!   to it; its work grows with the calls up, so it warns first;
//! - at least [`CALLS_BEHIND`] call actors not taking their events (their
//!   queues full) in the last sample: several, so that one call flooded
//!   with requests cannot turn every new caller away.
//!
//! The server is *overloaded* from the first sample with any pressure on,
//! and stays so until no pressure has been on for [`CALM`]: one good
//! sample does not reopen the gate. Independently of measured load, a call
//! beyond `sip.max_calls` (when set) is refused; at the limit the server
//! also reports itself unavailable (OPTIONS 503, `/readyz` 503), since it
//! would refuse the next call.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// How often the driver samples its load.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long every pressure must have been off before calls are taken again.
pub const CALM: Duration = Duration::from_millis(300);
/// A pacer tick this late (or later) counts as late: twice the pacing goal
/// (p99 within 2 ms), so that refusing starts before the goal is lost.
pub const PACER_LATE: Duration = Duration::from_millis(4);
/// A pacer tick whose sending took this long (or longer) counts as busy:
/// 40 % of the tick, leaving room for the calls already up to grow louder
/// (rooms) and for the rest of the server on the same core.
pub const PACER_BUSY: Duration = Duration::from_millis(8);
/// Share of late (or busy) ticks, in percent, over [`PACER_WINDOW`] that is pressure.
pub const PACER_LATE_SHARE: u64 = 10;
/// Fewer paced streams than this and late ticks are not our load.
pub const PACER_MIN_STREAMS: u64 = 100;
/// Call actors with full queues in one sample that are pressure.
pub const CALLS_BEHIND: usize = 8;
/// Samples the pacer's late share is measured over (with
/// [`SAMPLE_INTERVAL`], half a second: 25 ticks).
pub const PACER_WINDOW: usize = 5;
/// Shortest `Retry-After` of a refusal, in seconds.
pub const RETRY_AFTER_MIN: u32 = 2;
/// Longest `Retry-After` of a refusal, in seconds: callers told different
/// values do not all come back in the same second.
pub const RETRY_AFTER_MAX: u32 = 5;

/// One look at the server's load, taken by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadSample {
    /// Messages waiting in the driver's inbound queue.
    pub inbound_queued: usize,
    /// That queue's capacity.
    pub inbound_capacity: usize,
    /// Transactions alive in the SIP stack.
    pub transactions: usize,
    /// The stack's limit on them (`sip.max_transactions`).
    pub max_transactions: usize,
    /// Pacer ticks so far (cumulative).
    pub pacer_ticks: u64,
    /// Pacer ticks so far that woke [`PACER_LATE`] or later (cumulative).
    pub pacer_late_ticks: u64,
    /// Pacer ticks so far whose sending took [`PACER_BUSY`] or longer (cumulative).
    pub pacer_busy_ticks: u64,
    /// Streams the pacer sends now.
    pub pacer_streams: u64,
    /// Call actors whose full queue refused an event since the last sample.
    pub calls_behind: usize,
}

/// Which signal put the server into overload; for logs and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressure {
    /// The driver's inbound queue is filling.
    InboundQueue,
    /// Too many transactions alive.
    Transactions,
    /// The pacer's ticks run late.
    PacerLate,
    /// The pacer's ticks take most of their time sending.
    PacerBusy,
    /// Call actors do not keep up with their events.
    CallQueues,
    /// `sip.max_calls` calls are up.
    MaxCalls,
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pressure::InboundQueue => "SIP inbound queue filling",
            Pressure::Transactions => "too many transactions",
            Pressure::PacerLate => "RTP pacer running late",
            Pressure::PacerBusy => "RTP pacer busy",
            Pressure::CallQueues => "call actors behind",
            Pressure::MaxCalls => "sip.max_calls reached",
        })
    }
}

/// What to do with a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Take it (admission policy decides the rest).
    Admit,
    /// Answer 503 with this `Retry-After`, in seconds.
    Refuse {
        /// Seconds the caller should wait before trying again.
        retry_after: u32,
        /// Why.
        pressure: Pressure,
    },
}

/// A pressure whose level has hysteresis: on at `high`, off below `low`.
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    on: bool,
}

impl Level {
    /// Updates with `value` (per mille of its limit) and says whether on.
    fn update(&mut self, per_mille: u64, high: u64, low: u64) -> bool {
        if per_mille >= high {
            self.on = true;
        } else if per_mille < low {
            self.on = false;
        }
        self.on
    }
}

/// Decides whether new calls are taken; see the module doc.
#[derive(Debug)]
pub struct Governor {
    /// `sip.max_calls`; `None` for no limit.
    max_calls: Option<usize>,
    inbound: Level,
    transactions: Level,
    /// Cumulative (ticks, late ticks, busy ticks) of the last
    /// [`PACER_WINDOW`] + 1 samples.
    pacer: VecDeque<(u64, u64, u64)>,
    /// Since when, and why, the server has been overloaded.
    overloaded: Option<Pressure>,
    /// When the last pressure went off, while still overloaded.
    calm_since: Option<Instant>,
    rng: fastrand::Rng,
}

impl Governor {
    /// A governor for `max_calls` calls at most (0: no limit); `seed` makes
    /// the `Retry-After` spread reproducible in tests.
    pub fn new(max_calls: u32, seed: u64) -> Governor {
        Governor {
            max_calls: (max_calls > 0).then_some(max_calls as usize),
            inbound: Level::default(),
            transactions: Level::default(),
            pacer: VecDeque::with_capacity(PACER_WINDOW + 1),
            overloaded: None,
            calm_since: None,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Takes one sample; returns the new state when it changed (`Some(None)`
    /// when the overload ended), for the caller to log and publish.
    pub fn sample(&mut self, now: Instant, load: &LoadSample) -> Option<Option<Pressure>> {
        let pressure = self.pressure(load);
        let before = self.overloaded;
        match (self.overloaded, pressure) {
            (_, Some(pressure)) => {
                // Keep the first reason while it lasts; a new episode names its own.
                self.overloaded.get_or_insert(pressure);
                self.calm_since = None;
            }
            (Some(_), None) => {
                let calm = *self.calm_since.get_or_insert(now);
                if now.saturating_duration_since(calm) >= CALM {
                    self.overloaded = None;
                    self.calm_since = None;
                }
            }
            (None, None) => {}
        }
        (before != self.overloaded).then_some(self.overloaded)
    }

    /// Which pressure, if any, this sample shows (first in the order of
    /// [`Pressure`]); every level is updated either way.
    fn pressure(&mut self, load: &LoadSample) -> Option<Pressure> {
        let inbound = self.inbound.update(
            per_mille(load.inbound_queued, load.inbound_capacity),
            250,
            50,
        );
        let transactions = self.transactions.update(
            per_mille(load.transactions, load.max_transactions),
            800,
            600,
        );
        let (late, busy) = self.pacer_shares(load);
        let ours = load.pacer_streams >= PACER_MIN_STREAMS;
        let overflowed = load.calls_behind >= CALLS_BEHIND;
        [
            (inbound, Pressure::InboundQueue),
            (transactions, Pressure::Transactions),
            (late && ours, Pressure::PacerLate),
            (busy && ours, Pressure::PacerBusy),
            (overflowed, Pressure::CallQueues),
        ]
        .into_iter()
        .find_map(|(on, pressure)| on.then_some(pressure))
    }

    /// Whether the shares of late and of busy ticks over the window reach
    /// the limit.
    fn pacer_shares(&mut self, load: &LoadSample) -> (bool, bool) {
        if self.pacer.len() > PACER_WINDOW {
            self.pacer.pop_front();
        }
        self.pacer.push_back((
            load.pacer_ticks,
            load.pacer_late_ticks,
            load.pacer_busy_ticks,
        ));
        let (Some(first), Some(last)) = (self.pacer.front(), self.pacer.back()) else {
            return (false, false);
        };
        let ticks = last.0.saturating_sub(first.0);
        let share = |count: u64| ticks > 0 && count * 100 >= ticks * PACER_LATE_SHARE;
        (
            share(last.1.saturating_sub(first.1)),
            share(last.2.saturating_sub(first.2)),
        )
    }

    /// Whether a new call is taken with `calls` calls up.
    pub fn admit_call(&mut self, calls: usize) -> Decision {
        match self.refusing(calls) {
            None => Decision::Admit,
            Some(pressure) => Decision::Refuse {
                retry_after: self.retry_after(),
                pressure,
            },
        }
    }

    /// Why the server refuses new calls with `calls` up, if it does: what
    /// OPTIONS and `/readyz` report.
    pub fn refusing(&self, calls: usize) -> Option<Pressure> {
        self.overloaded.or_else(|| {
            self.max_calls
                .filter(|max| calls >= *max)
                .map(|_| Pressure::MaxCalls)
        })
    }

    /// Whether measured load (not `sip.max_calls`) refuses calls now.
    #[cfg(test)]
    fn overloaded(&self) -> Option<Pressure> {
        self.overloaded
    }

    /// A `Retry-After` for one refusal, spread over
    /// [`RETRY_AFTER_MIN`]..=[`RETRY_AFTER_MAX`] seconds.
    pub fn retry_after(&mut self) -> u32 {
        self.rng.u32(RETRY_AFTER_MIN..=RETRY_AFTER_MAX)
    }
}

/// `value` in thousandths of `limit` (0 when there is no limit).
fn per_mille(value: usize, limit: usize) -> u64 {
    if limit == 0 {
        return 0;
    }
    (value as u64).saturating_mul(1000) / limit as u64
}

/// Counts refusals and says, at most once per [`REFUSAL_LOG_PERIOD`], how
/// many there were: one log line per second under a flood, not one per call.
#[derive(Debug, Default)]
pub struct RefusalLog {
    invites: u64,
    options: u64,
    last: Option<Pressure>,
    since: Option<Instant>,
}

/// How often refusals are summarised in the log.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(1);

/// What a [`RefusalLog`] has to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalSummary {
    /// INVITEs refused in the period.
    pub invites: u64,
    /// OPTIONS answered 503 in the period.
    pub options: u64,
    /// The reason of the last refusal.
    pub pressure: Pressure,
}

impl RefusalLog {
    /// Counts one refused INVITE (`invite`) or OPTIONS.
    pub fn refused(&mut self, now: Instant, invite: bool, pressure: Pressure) {
        if invite {
            self.invites += 1;
        } else {
            self.options += 1;
        }
        self.last = Some(pressure);
        self.since.get_or_insert(now);
    }

    /// The refusals since the last summary, once a period has passed since
    /// the first of them.
    pub fn summary(&mut self, now: Instant) -> Option<RefusalSummary> {
        let since = self.since?;
        if now.saturating_duration_since(since) < REFUSAL_LOG_PERIOD {
            return None;
        }
        let pressure = self.last.take()?;
        let summary = RefusalSummary {
            invites: std::mem::take(&mut self.invites),
            options: std::mem::take(&mut self.options),
            pressure,
        };
        self.since = None;
        Some(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> LoadSample {
        LoadSample {
            inbound_capacity: 1000,
            max_transactions: 1000,
            ..LoadSample::default()
        }
    }

    /// Feeds `sample` every [`SAMPLE_INTERVAL`] from `*now` for `count`
    /// samples; the last transition seen.
    fn feed(
        governor: &mut Governor,
        now: &mut Instant,
        count: usize,
        mut sample: impl FnMut(usize) -> LoadSample,
    ) -> Option<Option<Pressure>> {
        let mut last = None;
        for i in 0..count {
            *now += SAMPLE_INTERVAL;
            if let Some(change) = governor.sample(*now, &sample(i)) {
                last = Some(change);
            }
        }
        last
    }

    #[test]
    fn a_quiet_server_admits() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        assert_eq!(feed(&mut g, &mut now, 10, |_| quiet()), None);
        assert_eq!(g.admit_call(100_000), Decision::Admit);
        assert_eq!(g.refusing(100_000), None);
    }

    #[test]
    fn max_calls_refuses_at_the_limit_with_a_spread_retry_after() {
        let mut g = Governor::new(5, 7);
        assert_eq!(g.admit_call(4), Decision::Admit);
        assert_eq!(g.refusing(5), Some(Pressure::MaxCalls));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            match g.admit_call(5) {
                Decision::Refuse {
                    retry_after,
                    pressure: Pressure::MaxCalls,
                } => {
                    assert!((RETRY_AFTER_MIN..=RETRY_AFTER_MAX).contains(&retry_after));
                    seen.insert(retry_after);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(seen.len() > 1, "Retry-After is spread: {seen:?}");
        // Measured load is not involved.
        assert_eq!(g.overloaded(), None);
    }

    #[test]
    fn inbound_queue_has_hysteresis_and_calm_delay() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        let queued = |n| LoadSample {
            inbound_queued: n,
            ..quiet()
        };
        assert_eq!(feed(&mut g, &mut now, 1, |_| queued(249)), None);
        assert_eq!(
            feed(&mut g, &mut now, 1, |_| queued(250)),
            Some(Some(Pressure::InboundQueue))
        );
        assert!(matches!(g.admit_call(0), Decision::Refuse { .. }));
        // Between the marks the pressure holds, however long.
        assert_eq!(feed(&mut g, &mut now, 20, |_| queued(60)), None);
        assert_eq!(g.overloaded(), Some(Pressure::InboundQueue));
        // Below the low mark: calm starts, and takes CALM to end the overload.
        let calm_samples = (CALM.as_millis() / SAMPLE_INTERVAL.as_millis()) as usize;
        assert_eq!(feed(&mut g, &mut now, calm_samples, |_| queued(10)), None);
        assert_eq!(g.overloaded(), Some(Pressure::InboundQueue));
        assert_eq!(feed(&mut g, &mut now, 1, |_| queued(10)), Some(None));
        assert_eq!(g.admit_call(0), Decision::Admit);
    }

    #[test]
    fn a_pressure_during_calm_restarts_it() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        let queued = |n| LoadSample {
            inbound_queued: n,
            ..quiet()
        };
        feed(&mut g, &mut now, 1, |_| queued(500));
        feed(&mut g, &mut now, 2, |_| queued(0));
        feed(&mut g, &mut now, 1, |_| queued(500));
        feed(&mut g, &mut now, 3, |_| queued(0));
        assert_eq!(g.overloaded(), Some(Pressure::InboundQueue));
        assert_eq!(feed(&mut g, &mut now, 1, |_| queued(0)), Some(None));
    }

    #[test]
    fn transactions_rise_at_80_and_fall_below_60_percent() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        let alive = |n| LoadSample {
            transactions: n,
            ..quiet()
        };
        assert_eq!(feed(&mut g, &mut now, 1, |_| alive(799)), None);
        assert_eq!(
            feed(&mut g, &mut now, 1, |_| alive(800)),
            Some(Some(Pressure::Transactions))
        );
        assert_eq!(feed(&mut g, &mut now, 10, |_| alive(600)), None);
        assert_eq!(feed(&mut g, &mut now, 10, |_| alive(599)), Some(None));
    }

    #[test]
    fn pacer_pressure_is_a_share_of_late_ticks_over_the_window() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        // Five ticks per sample: three late ones in the window (12 %) are
        // pressure.
        let (mut ticks, mut late) = (0, 0);
        let mut pacer = |late_per_sample: u64| {
            ticks += 5;
            late += late_per_sample;
            LoadSample {
                pacer_ticks: ticks,
                pacer_late_ticks: late,
                pacer_streams: PACER_MIN_STREAMS,
                ..quiet()
            }
        };
        // A lone late tick in a quiet window (1 of 25) is no pressure.
        assert_eq!(feed(&mut g, &mut now, 6, |_| pacer(0)), None);
        assert_eq!(feed(&mut g, &mut now, 1, |_| pacer(1)), None);
        assert_eq!(
            feed(&mut g, &mut now, 5, |_| pacer(1)),
            Some(Some(Pressure::PacerLate))
        );
        // The late ticks leave the window, then calm runs its course.
        let after = feed(&mut g, &mut now, PACER_WINDOW + 3, |_| pacer(0));
        assert_eq!(after, Some(None));
    }

    #[test]
    fn a_pacer_busy_sending_is_pressure_before_it_runs_late() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        // Every tick on time, but every third one spends PACER_BUSY sending.
        let busy = |i: usize| LoadSample {
            pacer_ticks: 5 * i as u64,
            pacer_busy_ticks: 5 * i as u64 / 3,
            pacer_streams: 5000,
            ..quiet()
        };
        assert_eq!(
            feed(&mut g, &mut now, PACER_WINDOW + 1, busy),
            Some(Some(Pressure::PacerBusy))
        );
        assert!(matches!(g.admit_call(0), Decision::Refuse { .. }));
    }

    #[test]
    fn late_ticks_with_few_streams_are_not_our_load() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        let every_tick_late = |i: usize| LoadSample {
            pacer_ticks: 5 * i as u64,
            pacer_late_ticks: 5 * i as u64,
            pacer_streams: PACER_MIN_STREAMS - 1,
            ..quiet()
        };
        assert_eq!(feed(&mut g, &mut now, 20, every_tick_late), None);
        assert_eq!(g.admit_call(0), Decision::Admit);
    }

    #[test]
    fn several_calls_behind_are_pressure_for_their_sample() {
        let mut g = Governor::new(0, 1);
        let mut now = Instant::now();
        let behind = |n| LoadSample {
            calls_behind: n,
            ..quiet()
        };
        // One flooded call does not turn new callers away.
        assert_eq!(
            feed(&mut g, &mut now, 10, |_| behind(CALLS_BEHIND - 1)),
            None
        );
        assert_eq!(
            feed(&mut g, &mut now, 1, |_| behind(CALLS_BEHIND)),
            Some(Some(Pressure::CallQueues))
        );
        assert_eq!(feed(&mut g, &mut now, 4, |_| behind(0)), Some(None));
    }

    #[test]
    fn refusals_are_summarised_once_a_period() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.summary(start), None);
        for i in 0..100 {
            log.refused(
                start + Duration::from_millis(i),
                i % 10 != 0,
                Pressure::MaxCalls,
            );
        }
        assert_eq!(log.summary(start + Duration::from_millis(999)), None);
        assert_eq!(
            log.summary(start + REFUSAL_LOG_PERIOD),
            Some(RefusalSummary {
                invites: 90,
                options: 10,
                pressure: Pressure::MaxCalls
            })
        );
        assert_eq!(log.summary(start + REFUSAL_LOG_PERIOD * 3), None);
    }
}
