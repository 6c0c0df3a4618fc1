//! What `rayo-load` measured: a human summary ([`std::fmt::Display`]) and
//! one machine-readable `RESULT key=value …` line. Connections keep their
//! own report; [`RayoReport::merge`] adds them up at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use super::component_report::ComponentReport;
use super::room_report::RoomReport;
use crate::load::cli::tool_cpu_line;

use crate::load::stats::Histogram;

/// What the run measured.
#[derive(Debug, Clone)]
pub struct RayoReport {
    /// Offer presences received.
    pub offers: u64,
    /// Offers for a call this connection already had: a failure.
    pub duplicate_offers: u64,
    /// `answer` IQs that got their result.
    pub answered: u64,
    /// `answer` IQs answered with an error, by condition.
    pub answer_errors: BTreeMap<String, u64>,
    /// `hangup` IQs sent.
    pub hangups_sent: u64,
    /// `hangup` IQs that got their result.
    pub hangups: u64,
    /// `hangup` IQs answered with an error, by condition.
    pub hangup_errors: BTreeMap<String, u64>,
    /// IQs without a reply within [`IQ_TIMEOUT`](super::party::IQ_TIMEOUT), by command.
    pub timeouts: BTreeMap<&'static str, u64>,
    /// `<end>`s of calls this connection was offered.
    pub ended: u64,
    /// Those ends by reason (`-` for an `<end>` without a reason element).
    pub ends: BTreeMap<String, u64>,
    /// Ends whose reason is not the one the mode leads to: a failure.
    pub unexpected_ends: u64,
    /// `<end>`s of calls never offered here: a failure.
    pub stray_ends: u64,
    /// Results or errors whose id matched no IQ in flight.
    pub unmatched: u64,
    /// Requests from the server (pings) answered.
    pub requests: u64,
    /// Connections the server closed or broke before the end.
    pub disconnects: usize,
    /// Most calls up (offered, not ended) at once on one connection.
    pub up_max: usize,
    /// Calls still up when the run ended.
    pub up_at_end: usize,
    /// `--calls`: how many calls had to end; fewer is a failure.
    pub calls_wanted: Option<u64>,
    /// Answer IQ → result latency of every answered call, µs.
    pub answer_us: Histogram,
    /// The threshold of [`Self::answer_from_us`].
    pub latency_from_calls: Option<usize>,
    /// Answer latency of calls answered with at least `latency_from_calls`
    /// other calls up (over every connection, as last published), µs.
    pub answer_from_us: Histogram,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// This process's CPU over the run, % of one core.
    pub cpu_pct: Option<f64>,
    /// Highest CPU of this process over any one-second status interval, %.
    pub cpu_pct_max_1s: Option<f64>,
    /// The components of a media mode (None in the call-only modes).
    pub media: Option<ComponentReport>,
    /// The mixers of the mixer mode.
    pub rooms: Option<RoomReport>,
}

impl RayoReport {
    /// An empty report.
    pub fn new(latency_from_calls: Option<usize>) -> RayoReport {
        RayoReport {
            offers: 0,
            duplicate_offers: 0,
            answered: 0,
            answer_errors: BTreeMap::new(),
            hangups_sent: 0,
            hangups: 0,
            hangup_errors: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            ended: 0,
            ends: BTreeMap::new(),
            unexpected_ends: 0,
            stray_ends: 0,
            unmatched: 0,
            requests: 0,
            disconnects: 0,
            up_max: 0,
            up_at_end: 0,
            calls_wanted: None,
            answer_us: Histogram::new(),
            latency_from_calls,
            answer_from_us: Histogram::new(),
            elapsed: Duration::ZERO,
            cpu_pct: None,
            cpu_pct_max_1s: None,
            media: None,
            rooms: None,
        }
    }

    /// Adds another connection's counts (run-wide fields stay as they are).
    pub fn merge(&mut self, other: &RayoReport) {
        let add = |a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            for (k, n) in b {
                *a.entry(k.clone()).or_default() += n;
            }
        };
        self.offers += other.offers;
        self.duplicate_offers += other.duplicate_offers;
        self.answered += other.answered;
        add(&mut self.answer_errors, &other.answer_errors);
        self.hangups_sent += other.hangups_sent;
        self.hangups += other.hangups;
        add(&mut self.hangup_errors, &other.hangup_errors);
        for (k, n) in &other.timeouts {
            *self.timeouts.entry(k).or_default() += n;
        }
        self.ended += other.ended;
        add(&mut self.ends, &other.ends);
        self.unexpected_ends += other.unexpected_ends;
        self.stray_ends += other.stray_ends;
        self.unmatched += other.unmatched;
        self.requests += other.requests;
        self.disconnects += other.disconnects;
        self.up_max = self.up_max.max(other.up_max);
        self.up_at_end += other.up_at_end;
        self.answer_us.merge(&other.answer_us);
        self.answer_from_us.merge(&other.answer_from_us);
        if let Some(theirs) = &other.media {
            self.media
                .get_or_insert_with(ComponentReport::default)
                .merge(theirs);
        }
        if let Some(theirs) = &other.rooms {
            self.rooms
                .get_or_insert_with(RoomReport::default)
                .merge(theirs);
        }
    }

    /// Answers that got an error.
    pub fn answer_error_count(&self) -> u64 {
        self.answer_errors.values().sum()
    }

    /// Every failure: IQ errors and timeouts, ends for the wrong reason or
    /// of unknown calls, duplicate offers, and calls short of `--calls`.
    pub fn failure_count(&self) -> u64 {
        let short = self
            .calls_wanted
            .map_or(0, |wanted| wanted.saturating_sub(self.ended));
        self.answer_error_count()
            + self.hangup_errors.values().sum::<u64>()
            + self.timeouts.values().sum::<u64>()
            + self.unexpected_ends
            + self.stray_ends
            + self.duplicate_offers
            + short
            + self
                .media
                .as_ref()
                .map_or(0, ComponentReport::failure_count)
            + self.rooms.as_ref().map_or(0, RoomReport::failure_count)
    }

    /// True when nothing failed and no connection was lost.
    pub fn passed(&self) -> bool {
        self.failure_count() == 0 && self.disconnects == 0
    }

    /// One line of `key=value` pairs, starting with `RESULT`.
    pub fn result_line(&self) -> String {
        let optf = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let optu = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let by = |pairs: Vec<String>| {
            if pairs.is_empty() {
                "-".to_string()
            } else {
                pairs.join(",")
            }
        };
        let ends_by = by(self.ends.iter().map(|(r, n)| format!("{r}x{n}")).collect());
        let iq_errors_by = by(self
            .answer_errors
            .iter()
            .map(|(c, n)| format!("answer:{c}x{n}"))
            .chain(
                self.hangup_errors
                    .iter()
                    .map(|(c, n)| format!("hangup:{c}x{n}")),
            )
            .chain(
                self.timeouts
                    .iter()
                    .map(|(c, n)| format!("{c}:timeoutx{n}")),
            )
            .collect());
        let latency = [
            self.answer_us.result_fields("answer_us"),
            format!(
                "latency_from_calls={}",
                optu(self.latency_from_calls.map(|n| n as u64))
            ),
            self.answer_from_us.result_fields("answer_from_us"),
        ];
        let media = self
            .media
            .as_ref()
            .map(|m| format!("{} ", m.result_fields()))
            .unwrap_or_default();
        let rooms = self
            .rooms
            .as_ref()
            .map(|r| format!("{} ", r.result_fields()))
            .unwrap_or_default();
        let tool = format!(
            "elapsed_s={:.1} tool_cpu_pct={} tool_cpu_pct_max_1s={}",
            self.elapsed.as_secs_f64(),
            optf(self.cpu_pct),
            optf(self.cpu_pct_max_1s)
        );
        format!(
            "RESULT offers={} answered={} answer_errors={} hangups_sent={} hangups={} \
             ended={} ends_by={ends_by} unexpected_ends={} stray_ends={} duplicate_offers={} \
             iq_errors_by={iq_errors_by} unmatched={} requests={} disconnects={} up_max={} \
             up_at_end={} calls_wanted={} failures={} {} {media}{rooms}{tool}",
            self.offers,
            self.answered,
            self.answer_error_count(),
            self.hangups_sent,
            self.hangups,
            self.ended,
            self.unexpected_ends,
            self.stray_ends,
            self.duplicate_offers,
            self.unmatched,
            self.requests,
            self.disconnects,
            self.up_max,
            self.up_at_end,
            optu(self.calls_wanted),
            self.failure_count(),
            latency.join(" "),
        )
    }
}

impl std::fmt::Display for RayoReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "calls: {} offers, {} answered, {} ended, {} still up; most up at once {}",
            self.offers, self.answered, self.ended, self.up_at_end, self.up_max
        )?;
        let ends: Vec<String> = self.ends.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let ends = if ends.is_empty() {
            "none".to_string()
        } else {
            ends.join(", ")
        };
        writeln!(f, "ends by reason: {ends}")?;
        writeln!(
            f,
            "answer → result latency: {}",
            self.answer_us.summary_us()
        )?;
        if let Some(n) = self.latency_from_calls {
            let from = self.answer_from_us.summary_us();
            writeln!(f, "  answered with ≥ {n} other calls up: {from}")?;
        }
        if self.hangups_sent > 0 {
            writeln!(
                f,
                "hangups: {} sent, {} results",
                self.hangups_sent, self.hangups
            )?;
        }
        writeln!(
            f,
            "failures: {} (IQ errors and timeouts, wrong or stray ends, duplicate offers, calls short of --calls); {} unmatched replies, {} connections lost",
            self.failure_count(),
            self.unmatched,
            self.disconnects
        )?;
        for (command, errors) in [
            ("answer", &self.answer_errors),
            ("hangup", &self.hangup_errors),
        ] {
            for (condition, n) in errors {
                writeln!(f, "  {command} got {condition}: {n}×")?;
            }
        }
        for (command, n) in &self.timeouts {
            writeln!(f, "  {command} without a reply: {n}×")?;
        }
        if let Some(media) = &self.media {
            write!(f, "{media}")?;
        }
        if let Some(rooms) = &self.rooms {
            write!(f, "{rooms}")?;
        }
        let cpu = tool_cpu_line(self.cpu_pct, self.elapsed, self.cpu_pct_max_1s);
        f.write_str(&cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_add_up_and_merge() {
        let mut a = RayoReport::new(Some(10));
        a.offers = 3;
        a.answered = 2;
        a.ended = 2;
        a.answer_us.record(400);
        *a.answer_errors.entry("conflict".into()).or_default() += 1;
        *a.ends.entry("hangup-command".into()).or_default() += 2;
        let mut b = RayoReport::new(Some(10));
        b.offers = 1;
        b.answered = 1;
        b.ended = 1;
        b.answer_us.record(600);
        *b.ends.entry("hangup-command".into()).or_default() += 1;
        *b.timeouts.entry("hangup").or_default() += 1;
        a.merge(&b);
        a.calls_wanted = Some(4);
        assert_eq!((a.offers, a.answered, a.ended), (4, 3, 3));
        assert_eq!(a.ends["hangup-command"], 3);
        // One answer error, one timeout, one call short.
        assert_eq!(a.failure_count(), 3);
        assert!(!a.passed());
        let line = a.result_line();
        assert!(
            line.starts_with("RESULT offers=4 answered=3 answer_errors=1 "),
            "{line}"
        );
        assert!(line.contains(" ends_by=hangup-commandx3 "), "{line}");
        assert!(
            line.contains(" iq_errors_by=answer:conflictx1,hangup:timeoutx1 "),
            "{line}"
        );
        assert!(line.contains(" answer_us_n=2 answer_us_p50=400 "), "{line}");
        assert!(line.contains(" answer_us_max=600 "), "{line}");
        assert!(line.contains(" tool_cpu_pct=- "), "{line}");
        assert!(a.to_string().contains("answer got conflict: 1×"), "{a}");
    }

    #[test]
    fn an_empty_run_passes() {
        let report = RayoReport::new(None);
        assert!(report.passed());
        assert!(report.result_line().contains(" answer_us_p99=- "));
    }
}
