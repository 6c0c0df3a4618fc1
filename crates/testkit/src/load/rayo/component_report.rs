//! What the media modes of `rayo-load` measured about components: starts,
//! refs, completions by reason, recordings, and the latencies joined with
//! the in-process caller (first audio, digits → match). Part of
//! [`RayoReport`](super::RayoReport) and of its `RESULT` line.

use std::collections::BTreeMap;
use std::time::Instant;

use super::caller::CallerOutcome;
use super::fetch::fetch_recording;
use crate::load::stats::{micros, Histogram};

/// Fetch failures kept for the report.
const KEPT_FETCH_ERRORS: usize = 5;

/// One primary component's moments, keyed by the call's SIP Call-ID for
/// the join with what the caller saw.
#[derive(Debug, Clone)]
pub struct ComponentStamp {
    /// The offered INVITE's Call-ID.
    pub sip_call_id: String,
    /// When the component's IQ was sent.
    pub sent_at: Instant,
    /// When its `<complete>` arrived, and with which reason.
    pub completed: Option<(Instant, String)>,
}

/// What was counted about components.
#[derive(Debug, Clone, Default)]
pub struct ComponentReport {
    /// Component IQs sent.
    pub started: u64,
    /// Of those, results with a `<ref>`.
    pub refs: u64,
    /// Results without a `<ref>`: a failure.
    pub refs_missing: u64,
    /// Component IQs answered with an error, by `kind:condition`.
    pub errors: BTreeMap<String, u64>,
    /// Completions by `kind:reason`.
    pub completes: BTreeMap<String, u64>,
    /// Completions with a reason the mode does not lead to: a failure.
    pub unexpected_completes: u64,
    /// The first few of them, with the reason's text (an error's message).
    pub unexpected_texts: Vec<String>,
    /// Components whose call ended before their `<complete>`: a failure.
    pub missing_completes: u64,
    /// `<complete>`s from components not known (late, or after the call's end).
    pub stray_completes: u64,
    /// Input matches whose NLSML instance is not the digits sent: a failure.
    pub wrong_instances: u64,
    /// Record completions carrying uri, duration and size.
    pub recordings_complete: u64,
    /// Record completions missing any of them: a failure.
    pub recordings_incomplete: u64,
    /// Sum of the recordings' sizes, bytes.
    pub recorded_bytes: u64,
    /// Sum of the recordings' durations, ms.
    pub recorded_ms: u64,
    /// The first recording URIs with their announced size, for fetching.
    pub recording_uris: Vec<(String, u64)>,
    /// Recordings fetched over HTTP and found a RIFF/WAVE of the announced size.
    pub fetched_ok: u64,
    /// Fetches that failed or did not match: a failure.
    pub fetched_bad: u64,
    /// The first few fetch failures.
    pub fetch_errors: Vec<String>,
    /// Primary component IQ → `<ref>` result, µs.
    pub ref_us: Histogram,
    /// Primary component IQ → `<complete>`, µs.
    pub complete_us: Histogram,
    /// Joined with the caller: output IQ → first non-silent packet at the
    /// caller (prompt latency), µs.
    pub first_audio_us: Histogram,
    /// Joined with the caller: the last digit's first end packet sent →
    /// `<match>` received, µs.
    pub match_us: Histogram,
    /// Primary components whose call the caller did not report (no join).
    pub unjoined: u64,
    /// The primary components' moments, for the join.
    pub stamps: Vec<ComponentStamp>,
    /// What the in-process caller counted (its per-call map emptied).
    pub caller: Option<CallerOutcome>,
}

impl ComponentReport {
    /// Adds another connection's counts.
    pub fn merge(&mut self, other: &ComponentReport) {
        let add = |a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            for (k, n) in b {
                *a.entry(k.clone()).or_default() += n;
            }
        };
        self.started += other.started;
        self.refs += other.refs;
        self.refs_missing += other.refs_missing;
        add(&mut self.errors, &other.errors);
        add(&mut self.completes, &other.completes);
        self.unexpected_completes += other.unexpected_completes;
        self.unexpected_texts
            .extend(other.unexpected_texts.iter().cloned());
        self.missing_completes += other.missing_completes;
        self.stray_completes += other.stray_completes;
        self.wrong_instances += other.wrong_instances;
        self.recordings_complete += other.recordings_complete;
        self.recordings_incomplete += other.recordings_incomplete;
        self.recorded_bytes += other.recorded_bytes;
        self.recorded_ms += other.recorded_ms;
        self.recording_uris
            .extend(other.recording_uris.iter().cloned());
        self.fetched_ok += other.fetched_ok;
        self.fetched_bad += other.fetched_bad;
        self.fetch_errors.extend(other.fetch_errors.iter().cloned());
        self.ref_us.merge(&other.ref_us);
        self.complete_us.merge(&other.complete_us);
        self.first_audio_us.merge(&other.first_audio_us);
        self.match_us.merge(&other.match_us);
        self.unjoined += other.unjoined;
        self.stamps.extend(other.stamps.iter().cloned());
    }

    /// Joins the primary components' moments with what the caller saw of
    /// their calls (by SIP Call-ID): output IQ → first audible packet, and
    /// last key's end packet → `<match>`.
    pub fn join_caller(&mut self, mut outcome: CallerOutcome) {
        for stamp in &self.stamps {
            let Some(call) = outcome.calls.get(&stamp.sip_call_id) else {
                self.unjoined += 1;
                continue;
            };
            let mut joined = false;
            if let Some(heard) = call.first_audio.filter(|t| *t >= stamp.sent_at) {
                self.first_audio_us.record(micros(heard - stamp.sent_at));
                joined = true;
            }
            if let (Some(sent), Some((at, reason))) = (call.last_key_end, &stamp.completed) {
                if reason == "match" && *at >= sent {
                    self.match_us.record(micros(*at - sent));
                    joined = true;
                }
            }
            self.unjoined += u64::from(!joined);
        }
        outcome.calls.clear();
        self.caller = Some(outcome);
    }

    /// Fetches up to `count` of the recordings and checks each.
    pub fn fetch_recordings(&mut self, count: usize) {
        for (uri, size) in self.recording_uris.iter().take(count) {
            match fetch_recording(uri, *size) {
                Ok(()) => self.fetched_ok += 1,
                Err(e) => {
                    self.fetched_bad += 1;
                    if self.fetch_errors.len() < KEPT_FETCH_ERRORS {
                        self.fetch_errors.push(format!("{uri}: {e}"));
                    }
                }
            }
        }
    }

    /// Component failures (IQ errors, missing refs, wrong or missing
    /// completions, wrong instances, incomplete recordings, bad fetches).
    pub fn failure_count(&self) -> u64 {
        self.errors.values().sum::<u64>()
            + self.refs_missing
            + self.unexpected_completes
            + self.missing_completes
            + self.wrong_instances
            + self.recordings_incomplete
            + self.fetched_bad
            + self.caller.as_ref().map_or(0, |c| c.failed as u64)
    }

    /// The component fields of the `RESULT` line.
    pub fn result_fields(&self) -> String {
        let caller = match &self.caller {
            Some(c) => format!(
                "caller_placed={} caller_established={} caller_failed={} caller_server_byes={} \
                 caller_own_byes={} caller_keyed={} caller_rtp_sent={} caller_rtp_received={} ",
                c.placed,
                c.established,
                c.failed,
                c.server_byes,
                c.own_byes,
                c.keyed,
                c.packets_sent,
                c.packets_received
            ),
            None => String::new(),
        };
        let by = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "-".to_string()
            } else {
                let pairs: Vec<String> = m.iter().map(|(k, n)| format!("{k}x{n}")).collect();
                pairs.join(",")
            }
        };
        format!(
            "components={} refs={} refs_missing={} component_errors_by={} completes_by={} \
             unexpected_completes={} missing_completes={} stray_completes={} wrong_instances={} \
             recordings_complete={} recordings_incomplete={} recorded_bytes={} recorded_ms={} \
             fetched_ok={} fetched_bad={} unjoined={} {caller}{} {} {} {}",
            self.started,
            self.refs,
            self.refs_missing,
            by(&self.errors),
            by(&self.completes),
            self.unexpected_completes,
            self.missing_completes,
            self.stray_completes,
            self.wrong_instances,
            self.recordings_complete,
            self.recordings_incomplete,
            self.recorded_bytes,
            self.recorded_ms,
            self.fetched_ok,
            self.fetched_bad,
            self.unjoined,
            self.ref_us.result_fields("ref_us"),
            self.complete_us.result_fields("complete_us"),
            self.first_audio_us.result_fields("first_audio_us"),
            self.match_us.result_fields("match_us"),
        )
    }
}

impl std::fmt::Display for ComponentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let completes: Vec<String> = self
            .completes
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        writeln!(
            f,
            "components: {} started, {} refs ({} results without one); completions: {}",
            self.started,
            self.refs,
            self.refs_missing,
            if completes.is_empty() {
                "none".to_string()
            } else {
                completes.join(", ")
            }
        )?;
        writeln!(
            f,
            "  unexpected reasons {}, calls ended without the completion {}, stray completions {}, wrong NLSML instances {}",
            self.unexpected_completes, self.missing_completes, self.stray_completes, self.wrong_instances
        )?;
        for text in &self.unexpected_texts {
            writeln!(f, "  {text}")?;
        }
        for (condition, n) in &self.errors {
            writeln!(f, "  component IQ got {condition}: {n}×")?;
        }
        writeln!(f, "component IQ → ref: {}", self.ref_us.summary_us())?;
        writeln!(
            f,
            "component IQ → complete: {}",
            self.complete_us.summary_us()
        )?;
        if self.first_audio_us.count() > 0 {
            let s = self.first_audio_us.summary_us();
            writeln!(f, "output IQ → first audio packet at the caller: {s}")?;
        }
        if self.match_us.count() > 0 {
            let s = self.match_us.summary_us();
            writeln!(f, "last digit's end packet → <match>: {s}")?;
        }
        if let Some(c) = &self.caller {
            writeln!(
                f,
                "caller: {} placed, {} established, {} failed; {} hung up by the server, {} by the caller; {} keyed; RTP {} sent, {} received",
                c.placed, c.established, c.failed, c.server_byes, c.own_byes, c.keyed, c.packets_sent, c.packets_received
            )?;
        }
        if self.unjoined > 0 {
            writeln!(
                f,
                "  {} components without the caller's figure",
                self.unjoined
            )?;
        }
        if self.recordings_complete + self.recordings_incomplete > 0 {
            writeln!(
                f,
                "recordings: {} with uri/duration/size, {} without; {} bytes, {} ms in all; fetched {} ok, {} bad",
                self.recordings_complete,
                self.recordings_incomplete,
                self.recorded_bytes,
                self.recorded_ms,
                self.fetched_ok,
                self.fetched_bad
            )?;
            for e in &self.fetch_errors {
                writeln!(f, "  fetch: {e}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_fields() {
        let mut a = ComponentReport {
            started: 2,
            refs: 2,
            ..ComponentReport::default()
        };
        *a.completes.entry("output:hangup".into()).or_default() += 2;
        a.ref_us.record(300);
        let mut b = ComponentReport {
            started: 1,
            missing_completes: 1,
            ..ComponentReport::default()
        };
        *b.errors.entry("output:bad-request".into()).or_default() += 1;
        a.merge(&b);
        assert_eq!(a.started, 3);
        assert_eq!(a.failure_count(), 2);
        let line = a.result_fields();
        assert!(line.starts_with("components=3 refs=2 refs_missing=0 component_errors_by=output:bad-requestx1 completes_by=output:hangupx2 "), "{line}");
        assert!(line.contains(" ref_us_n=1 ref_us_p50=300 "), "{line}");
        assert!(line.contains(" match_us_n=0 "), "{line}");
        assert!(a.to_string().contains("output:hangup 2"), "{a}");
    }
}
