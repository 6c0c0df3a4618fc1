//! The end-of-run report: a human summary ([`std::fmt::Display`]) and one
//! machine-readable `RESULT key=value …` line.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::media::{LegResult, ReceiverResult, SenderStats, Side};
use super::sip::{CalleeOutcome, CallerOutcome};
use super::stats::{Counts, Histogram};
use super::{LoadConfig, Probe, TONE_TOLERANCE_HZ, USER_HZ};
use crate::analysis::dominant_frequency;
use crate::rtp_source::Codec;

/// Wrong-tone cases described in the report.
const KEPT_EXAMPLES: usize = 5;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Calls asked for.
    pub calls: usize,
    /// Calls per second used.
    pub rate: f64,
    /// What the caller side saw.
    pub caller: CallerOutcome,
    /// What the callee side saw.
    pub callee: CalleeOutcome,
    /// What the sender did.
    pub sender: SenderStats,
    /// Length of the measurement window (`None`: it never opened).
    pub window: Option<Duration>,
    /// Legs of established calls (caller legs plus callee legs).
    pub streams: usize,
    /// Of them, legs that received no RTP at all.
    pub silent: usize,
    /// Counts inside the window, over all streams.
    pub window_counts: Counts,
    /// Counts over whole calls, over all streams.
    pub all_counts: Counts,
    /// SSRC changes seen (a B2BUA may legitimately change SSRC).
    pub ssrc_changes: u64,
    /// Highest RFC 3550 interarrival jitter of any stream in the window, ms.
    pub jitter_ms_max: f64,
    /// Pacing |inter-arrival − 20 ms| in the window: median, µs.
    pub pacing_us_p50: Option<u64>,
    /// 99th percentile, µs.
    pub pacing_us_p99: Option<u64>,
    /// 99.9th percentile, µs.
    pub pacing_us_p999: Option<u64>,
    /// Largest, µs.
    pub pacing_us_max: u64,
    /// Inter-arrival intervals measured.
    pub pacing_samples: u64,
    /// Streams whose audio's dominant frequency was not the other side's tone.
    pub wrong_tone: usize,
    /// A few of them, described.
    pub wrong_tone_examples: Vec<String>,
    /// Receive errors other than ICMP reports.
    pub receive_errors: u64,
    /// CPU of this process over the window, as % of one core.
    pub tool_cpu_pct: Option<f64>,
    /// System-wide `Udp: RcvbufErrors` increase over the window.
    pub rcvbuf_errors: Option<u64>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
}

/// The dominant frequency of a leg's kept frames, if any audio was kept.
fn leg_tone(leg: &LegResult) -> Option<f64> {
    let mut samples = Vec::new();
    for (pt, codes) in leg.stream.frames_in_order() {
        let Some(codec) = Codec::from_payload_type(*pt) else {
            continue;
        };
        let start = samples.len();
        samples.resize(start + codes.len(), 0);
        codec.decode(codes, &mut samples[start..]);
    }
    dominant_frequency(&samples, 8000)
}

impl Report {
    pub(super) fn build(
        config: &LoadConfig,
        caller: CallerOutcome,
        callee: CalleeOutcome,
        sender: SenderStats,
        receivers: Vec<ReceiverResult>,
        window: Option<(Probe, Probe)>,
        elapsed: Duration,
    ) -> Report {
        let mut pacing = Histogram::new();
        let mut legs: HashMap<usize, LegResult> = HashMap::new();
        let mut receive_errors = 0;
        for r in receivers {
            pacing.merge(&r.pacing);
            receive_errors += r.receive_errors;
            legs.extend(r.legs.into_iter().map(|l| (l.leg, l)));
        }
        let established = caller.legs.iter().chain(&callee.legs);
        let mut report = Report {
            calls: config.calls,
            rate: config.effective_rate(),
            caller: CallerOutcome::default(),
            callee: CalleeOutcome::default(),
            sender,
            window: window.map(|(s, e)| e.at.saturating_duration_since(s.at)),
            streams: 0,
            silent: 0,
            window_counts: Counts::default(),
            all_counts: Counts::default(),
            ssrc_changes: 0,
            jitter_ms_max: 0.0,
            pacing_us_p50: pacing.percentile(50.0),
            pacing_us_p99: pacing.percentile(99.0),
            pacing_us_p999: pacing.percentile(99.9),
            pacing_us_max: pacing.max(),
            pacing_samples: pacing.count(),
            wrong_tone: 0,
            wrong_tone_examples: Vec::new(),
            receive_errors,
            tool_cpu_pct: window.and_then(|(s, e)| {
                let ticks = e.cpu_ticks?.checked_sub(s.cpu_ticks?)?;
                let wall = e.at.saturating_duration_since(s.at).as_secs_f64();
                (wall > 0.0).then(|| 100.0 * ticks as f64 / USER_HZ / wall)
            }),
            rcvbuf_errors: window.and_then(|(s, e)| e.rcvbuf_errors?.checked_sub(s.rcvbuf_errors?)),
            elapsed,
        };
        for id in established {
            report.streams += 1;
            let Some(leg) = legs.get(id) else {
                report.silent += 1;
                continue;
            };
            let s = &leg.stream;
            if s.all.packets == 0 {
                report.silent += 1;
                continue;
            }
            report.window_counts.add(&s.window);
            report.all_counts.add(&s.all);
            report.ssrc_changes += s.ssrc_changes;
            report.jitter_ms_max = report.jitter_ms_max.max(s.window_jitter_max_ms());
            let expected = f64::from(match leg.side {
                Side::Caller => config.caller_hears_hz(),
                Side::Callee => config.caller_hz,
            });
            let found = leg_tone(leg);
            if !found.is_some_and(|f| (f - expected).abs() <= TONE_TOLERANCE_HZ) {
                report.wrong_tone += 1;
                if report.wrong_tone_examples.len() < KEPT_EXAMPLES {
                    report.wrong_tone_examples.push(format!(
                        "leg {} ({:?}): expected {expected} Hz, found {}",
                        leg.leg,
                        leg.side,
                        found.map_or("no tone".into(), |f| format!("{f} Hz"))
                    ));
                }
            }
        }
        report.caller = caller;
        report.callee = callee;
        report
    }

    /// Calls that did not get established.
    pub fn failed(&self) -> usize {
        self.calls - self.caller.established.min(self.calls)
    }

    /// True when every call was set up and held, nothing was lost in the
    /// window, and every leg heard the other side's tone.
    pub fn passed(&self) -> bool {
        self.failed() == 0
            && self.caller.dropped == 0
            && self.caller.unfinished == 0
            && self.window.is_some()
            && self.window_counts.packets > 0
            && self.window_counts.lost() == 0
            && self.silent == 0
            && self.wrong_tone == 0
    }

    /// The setup-time percentile `pct` (0–100), in ms.
    fn setup_ms(&self, pct: f64) -> Option<f64> {
        let mut v = self.caller.setup_us.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = ((pct / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        Some(v[rank.min(v.len()) - 1] as f64 / 1000.0)
    }

    /// One line of `key=value` pairs, starting with `RESULT`.
    pub fn result_line(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let optf =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        let w = &self.window_counts;
        format!(
            "RESULT calls={} established={} failed={} dropped={} streams={} silent={} \
             rx_packets={} lost={} dup={} reordered={} lost_all={} ssrc_changes={} \
             jitter_ms_max={:.3} pacing_us_p50={} pacing_us_p99={} pacing_us_p999={} pacing_us_max={} \
             wrong_tone={} window_s={} tx_packets={} send_errors={} ticks_skipped={} \
             tick_late_max_us={} tick_work_us_p50={} tick_work_us_p99={} tick_work_us_max={} \
             setup_ms_p50={} setup_ms_max={} \
             tool_cpu_pct={} rcvbuf_errors={}",
            self.calls,
            self.caller.established,
            self.failed(),
            self.caller.dropped,
            self.streams,
            self.silent,
            w.packets,
            w.lost(),
            w.duplicates,
            w.reordered,
            self.all_counts.lost(),
            self.ssrc_changes,
            self.jitter_ms_max,
            opt(self.pacing_us_p50),
            opt(self.pacing_us_p99),
            opt(self.pacing_us_p999),
            self.pacing_us_max,
            self.wrong_tone,
            optf(self.window.map(|d| d.as_secs_f64()), 1),
            self.sender.packets,
            self.sender.send_errors,
            self.sender.ticks_skipped,
            self.sender.late_max_us,
            self.sender.work_p50_us,
            self.sender.work_p99_us,
            self.sender.work_max_us,
            optf(self.setup_ms(50.0), 2),
            optf(self.setup_ms(100.0), 2),
            optf(self.tool_cpu_pct, 1),
            opt(self.rcvbuf_errors),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.caller;
        writeln!(
            f,
            "calls: {} asked at {:.1}/s, {} placed, {} established, {} failed, {} dropped by the far end, {} unfinished",
            self.calls,
            self.rate,
            c.placed,
            c.established,
            self.failed(),
            c.dropped,
            c.unfinished
        )?;
        if !c.failures.is_empty() {
            let list: Vec<String> = c
                .failures
                .iter()
                .map(|(status, n)| format!("{n}× {status}"))
                .collect();
            writeln!(f, "  final responses other than 2xx: {}", list.join(", "))?;
        }
        for message in &c.error_messages {
            writeln!(f, "  setup error: {message}")?;
        }
        writeln!(
            f,
            "  BYE: {} answered 2xx, {} failed; callee: {} INVITEs, {} answered, {} rejected, {} ACKs, {} BYEs",
            c.bye_ok,
            c.bye_failed,
            self.callee.invites,
            self.callee.answered,
            self.callee.rejected,
            self.callee.acks,
            self.callee.byes
        )?;
        if let (Some(p50), Some(max)) = (self.setup_ms(50.0), self.setup_ms(100.0)) {
            writeln!(
                f,
                "  setup time INVITE→2xx: median {p50:.2} ms, max {max:.2} ms"
            )?;
        }
        match self.window {
            Some(w) => writeln!(f, "window: {:.1} s", w.as_secs_f64())?,
            None => writeln!(f, "window: never opened (no call reached steady state)")?,
        }
        let w = &self.window_counts;
        writeln!(
            f,
            "streams: {} ({} silent); in the window {} packets, {} lost, {} duplicates, {} reordered; whole calls {} packets, {} lost; {} SSRC changes",
            self.streams,
            self.silent,
            w.packets,
            w.lost(),
            w.duplicates,
            w.reordered,
            self.all_counts.packets,
            self.all_counts.lost(),
            self.ssrc_changes
        )?;
        let us = |v: Option<u64>| v.map_or("-".into(), |v| format!("{v} µs"));
        writeln!(
            f,
            "pacing |interval − 20 ms| over {} intervals: p50 {}, p99 {}, p99.9 {}, max {} µs; jitter max {:.3} ms",
            self.pacing_samples,
            us(self.pacing_us_p50),
            us(self.pacing_us_p99),
            us(self.pacing_us_p999),
            self.pacing_us_max,
            self.jitter_ms_max
        )?;
        writeln!(
            f,
            "tones: {} of {} streams wrong or missing",
            self.wrong_tone,
            self.streams - self.silent
        )?;
        for example in &self.wrong_tone_examples {
            writeln!(f, "  {example}")?;
        }
        let s = &self.sender;
        writeln!(
            f,
            "sender: {} packets, {} send errors, {} ticks, {} skipped, {} sends rounds over their time slot; latest start {} µs; a round of sends took p50 {} µs, p99 {} µs, max {} µs",
            s.packets, s.send_errors, s.ticks, s.ticks_skipped, s.overruns, s.late_max_us, s.work_p50_us, s.work_p99_us, s.work_max_us
        )?;
        // An occasional preempted round is noise; more than 1 % of ticks
        // with one means the sender cannot keep up.
        if s.ticks_skipped > 0 || s.overruns * 100 > s.ticks {
            writeln!(
                f,
                "WARNING: the sender fell behind ({} ticks skipped, {} rounds over their slot): rtp-load itself may be the limit; pacing and jitter include its own delays",
                s.ticks_skipped, s.overruns
            )?;
        }
        write!(
            f,
            "this tool over the window: {} of one core; UDP RcvbufErrors +{}; receive errors {}; run took {:.1} s",
            self.tool_cpu_pct
                .map_or("-".into(), |p| format!("{p:.1} %")),
            self.rcvbuf_errors.map_or("-".into(), |v| v.to_string()),
            self.receive_errors,
            self.elapsed.as_secs_f64()
        )
    }
}
