//! What the mixer mode of `rayo-load` counted: joins and their refs, the
//! joined/unjoined presences from calls and mixers, speaker events, the
//! mixers' unavailable presences, and what the callers heard. Part of
//! [`RayoReport`](super::RayoReport) and of its `RESULT` line.

use std::collections::BTreeMap;

use super::caller::CallerOutcome;
use super::listener::Hearing;
use crate::load::stats::Histogram;

/// What was counted about mixers.
#[derive(Debug, Clone, Default)]
pub struct RoomReport {
    /// `join` IQs sent.
    pub joins_sent: u64,
    /// Of those, results.
    pub joined: u64,
    /// Joins answered with an error, by condition: a failure.
    pub join_errors: BTreeMap<String, u64>,
    /// Join results whose `<ref>` does not name the room: a failure.
    pub wrong_refs: u64,
    /// Join IQ → result, µs.
    pub join_us: Histogram,
    /// `<joined mixer-name>` presences from our calls.
    pub call_joined: u64,
    /// `<joined call-uri>` presences from mixers.
    pub mixer_joined: u64,
    /// `<unjoined mixer-name>` presences from our calls.
    pub call_unjoined: u64,
    /// `<unjoined call-uri>` presences from mixers.
    pub mixer_unjoined: u64,
    /// Presences about one of our calls in its mixer (from the call or the
    /// mixer) that came before the join's result.
    pub before_result: u64,
    /// Mixer presences about calls another connection controls.
    pub mixer_events_others: u64,
    /// Mixer presences about one of our calls from another room: a failure.
    pub wrong_mixer: u64,
    /// Joined calls that ended without each of the four presences: failures.
    pub missing_call_joined: u64,
    /// See `missing_call_joined`.
    pub missing_mixer_joined: u64,
    /// See `missing_call_joined`.
    pub missing_call_unjoined: u64,
    /// See `missing_call_joined`.
    pub missing_mixer_unjoined: u64,
    /// `<started-speaking>` presences.
    pub started_speaking: u64,
    /// `<stopped-speaking>` presences.
    pub stopped_speaking: u64,
    /// A speaking event that repeats the call's last one: a failure.
    pub speaking_repeats: u64,
    /// Calls sending silence that were said to speak: a failure.
    pub false_speakers: u64,
    /// Joined calls sending a tone (counted at their end).
    pub speakers_expected: u64,
    /// Of those, the ones announced speaking at least once (fewer: a failure).
    pub speakers_announced: u64,
    /// Mixers joined.
    pub rooms: u64,
    /// Of those, the ones whose unavailable presence came.
    pub rooms_gone: u64,
    /// A second unavailable presence from a mixer: a failure.
    pub repeated_unavailable: u64,
    /// Mixers whose first presence had no `urn:xmpp:rayo:mixer:1` caps: a failure.
    pub missing_caps: u64,
    /// What the in-process caller counted and heard.
    pub caller: Option<CallerOutcome>,
}

impl RoomReport {
    /// Adds another connection's counts.
    pub fn merge(&mut self, other: &RoomReport) {
        self.joins_sent += other.joins_sent;
        self.joined += other.joined;
        for (k, n) in &other.join_errors {
            *self.join_errors.entry(k.clone()).or_default() += n;
        }
        self.wrong_refs += other.wrong_refs;
        self.join_us.merge(&other.join_us);
        self.call_joined += other.call_joined;
        self.mixer_joined += other.mixer_joined;
        self.call_unjoined += other.call_unjoined;
        self.mixer_unjoined += other.mixer_unjoined;
        self.before_result += other.before_result;
        self.mixer_events_others += other.mixer_events_others;
        self.wrong_mixer += other.wrong_mixer;
        self.missing_call_joined += other.missing_call_joined;
        self.missing_mixer_joined += other.missing_mixer_joined;
        self.missing_call_unjoined += other.missing_call_unjoined;
        self.missing_mixer_unjoined += other.missing_mixer_unjoined;
        self.started_speaking += other.started_speaking;
        self.stopped_speaking += other.stopped_speaking;
        self.speaking_repeats += other.speaking_repeats;
        self.false_speakers += other.false_speakers;
        self.speakers_expected += other.speakers_expected;
        self.speakers_announced += other.speakers_announced;
        self.rooms += other.rooms;
        self.rooms_gone += other.rooms_gone;
        self.repeated_unavailable += other.repeated_unavailable;
        self.missing_caps += other.missing_caps;
    }

    /// Keeps what the caller counted (its per-call map emptied).
    pub fn join_caller(&mut self, mut outcome: CallerOutcome) {
        outcome.calls.clear();
        self.caller = Some(outcome);
    }

    /// Missing presences of joined calls.
    pub fn missing_events(&self) -> u64 {
        self.missing_call_joined
            + self.missing_mixer_joined
            + self.missing_call_unjoined
            + self.missing_mixer_unjoined
    }

    /// Every failure of the mixer mode, the callers' included (a call the
    /// server hung up is one: the caller ends every call).
    pub fn failure_count(&self) -> u64 {
        let caller = self.caller.as_ref();
        self.join_errors.values().sum::<u64>()
            + self.wrong_refs
            + self.wrong_mixer
            + self.missing_events()
            + self.speaking_repeats
            + self.false_speakers
            + self
                .speakers_expected
                .saturating_sub(self.speakers_announced)
            + (self.rooms - self.rooms_gone.min(self.rooms))
            + self.repeated_unavailable
            + self.missing_caps
            + caller.map_or(0, |c| (c.failed + c.server_byes + c.byes_unanswered) as u64)
            + caller
                .and_then(|c| c.hearing.as_ref())
                .map_or(0, Hearing::failure_count)
    }

    /// The mixer fields of the `RESULT` line.
    pub fn result_fields(&self) -> String {
        let errors = if self.join_errors.is_empty() {
            "-".to_string()
        } else {
            let pairs: Vec<String> = self
                .join_errors
                .iter()
                .map(|(k, n)| format!("{k}x{n}"))
                .collect();
            pairs.join(",")
        };
        let mut line = format!(
            "joins_sent={} joined={} join_errors_by={errors} wrong_refs={} {} \
             call_joined={} mixer_joined={} call_unjoined={} mixer_unjoined={} \
             missing_events={} before_result={} wrong_mixer={} started_speaking={} stopped_speaking={} \
             speaking_repeats={} false_speakers={} speakers_expected={} speakers_announced={} \
             rooms={} rooms_gone={} repeated_unavailable={} missing_caps={}",
            self.joins_sent,
            self.joined,
            self.wrong_refs,
            self.join_us.result_fields("join_us"),
            self.call_joined,
            self.mixer_joined,
            self.call_unjoined,
            self.mixer_unjoined,
            self.missing_events(),
            self.before_result,
            self.wrong_mixer,
            self.started_speaking,
            self.stopped_speaking,
            self.speaking_repeats,
            self.false_speakers,
            self.speakers_expected,
            self.speakers_announced,
            self.rooms,
            self.rooms_gone,
            self.repeated_unavailable,
            self.missing_caps,
        );
        if let Some(c) = &self.caller {
            line += &format!(
                " caller_placed={} caller_established={} caller_failed={} caller_server_byes={} \
                 caller_own_byes={} byes_answered={} byes_unanswered={} caller_rtp_sent={} \
                 caller_rtp_received={} caller_rtcp_received={}",
                c.placed,
                c.established,
                c.failed,
                c.server_byes,
                c.own_byes,
                c.byes_answered,
                c.byes_unanswered,
                c.packets_sent,
                c.packets_received,
                c.other_received
            );
        }
        if let Some(h) = self.caller.as_ref().and_then(|c| c.hearing.as_ref()) {
            let pct = |p| h.pacing.percentile(p).map_or("-".into(), |v| v.to_string());
            let after = h.ssrc_change_after_p50_max();
            let spread = h.ssrc_change_spread_s();
            let tones: Vec<String> = h
                .tones_heard
                .iter()
                .map(|(k, n)| format!("{k}x{n}"))
                .collect();
            line += &format!(
                " measured_calls={} window_packets={} expected={} lost={} duplicates={} \
                 reordered={} pacing_us_p50={} pacing_us_p99={} pacing_us_p999={} pacing_us_max={} \
                 jitter_ms_max={:.2} ts_jumps={} ts_jump_calls={} ssrc_changes={} \
                 ssrc_changes_before={} ssrc_change_after_packets_p50={} \
                 ssrc_change_after_packets_max={} ssrc_change_spread_s_p50={} \
                 ssrc_change_spread_s_max={} silent={} should_hear={} hearing={} deaf={} tones_heard={} \
                 over_mixed={} self_heard={}",
                h.calls,
                h.window.packets,
                h.window.expected(),
                h.lost(),
                h.window.duplicates,
                h.window.reordered,
                pct(50.0),
                pct(99.0),
                pct(99.9),
                h.pacing.max(),
                h.jitter_ms_max,
                h.ts_jumps,
                h.ts_jump_calls,
                h.ssrc_changes,
                h.ssrc_changes_before,
                after.map_or("-".into(), |(p50, _)| p50.to_string()),
                after.map_or("-".into(), |(_, max)| max.to_string()),
                spread.map_or("-".into(), |(p50, _)| format!("{p50:.3}")),
                spread.map_or("-".into(), |(_, max)| format!("{max:.3}")),
                h.silent,
                h.should_hear,
                h.hearing,
                h.deaf,
                if tones.is_empty() {
                    "-".into()
                } else {
                    tones.join(",")
                },
                h.over_mixed,
                h.self_heard
            );
        }
        line
    }
}

impl std::fmt::Display for RoomReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mixers: {} joins sent, {} joined ({} wrong refs, errors {:?}); join → result: {}",
            self.joins_sent,
            self.joined,
            self.wrong_refs,
            self.join_errors,
            self.join_us.summary_us()
        )?;
        writeln!(
            f,
            "  presences: joined {} from calls / {} from mixers, unjoined {} / {}; missing {} (of calls ended while joined); {} before the join's result",
            self.call_joined,
            self.mixer_joined,
            self.call_unjoined,
            self.mixer_unjoined,
            self.missing_events(),
            self.before_result
        )?;
        writeln!(
            f,
            "  speaking: {} started, {} stopped, {} repeats; {} of {} speakers announced, {} silent callers announced",
            self.started_speaking,
            self.stopped_speaking,
            self.speaking_repeats,
            self.speakers_announced,
            self.speakers_expected,
            self.false_speakers
        )?;
        writeln!(
            f,
            "  rooms: {} joined, {} unavailable at the end, {} without mixer caps",
            self.rooms, self.rooms_gone, self.missing_caps
        )?;
        if let Some(c) = &self.caller {
            writeln!(
                f,
                "caller: {} placed, {} established, {} failed, {} BYEs from the server, {} own ({} answered, {} not); RTP {} sent, {} received",
                c.placed, c.established, c.failed, c.server_byes, c.own_byes, c.byes_answered, c.byes_unanswered, c.packets_sent, c.packets_received
            )?;
        }
        if let Some(h) = self.caller.as_ref().and_then(|c| c.hearing.as_ref()) {
            writeln!(
                f,
                "  window: {} calls, {} packets of {} expected, {} lost; RTP timestamp steps ≠ 160 between consecutive packets: {} on {} calls; SSRC changes {} (before the window {}); pacing |Δ − 20 ms| {}",
                h.calls,
                h.window.packets,
                h.window.expected(),
                h.lost(),
                h.ts_jumps,
                h.ts_jump_calls,
                h.ssrc_changes,
                h.ssrc_changes_before,
                h.pacing.summary_us()
            )?;
            writeln!(
                f,
                "  heard: {} of {} that should hear the room did ({} deaf, {} silent); tones heard {:?}; {} above {} mixed, {} heard themselves",
                h.hearing.min(h.should_hear),
                h.should_hear,
                h.deaf,
                h.silent,
                h.tones_heard,
                h.over_mixed,
                h.max_mixed,
                h.self_heard
            )?;
        }
        Ok(())
    }
}
