//! One call detail record, and the few facts a call keeps while it runs so
//! the record can be written when it ends ([`CallTrace`]).
//!
//! A B2BUA call is one record, not one per leg: the call actor owns both
//! legs, so the record has the caller's leg (A) and the bridged or
//! redirected leg (B, the last one tried) side by side. A caller counts
//! one call however many fallback endpoints were tried, as a PBX bills it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::calls;

/// One finished call, as stored and as `switchboard cdr` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallRecord {
    /// Our id for the call: random, unique across restarts and nodes.
    pub call_uuid: String,
    /// Call-ID of leg A (the caller's INVITE, or our INVITE on a dialed call).
    pub sip_call_id: String,
    /// Call-ID of leg B (the bridged or redirect leg), if one was sent.
    pub b_call_id: Option<String>,
    /// The id the controller knew the call by (agent or Rayo call id).
    pub controller_call_id: Option<String>,
    /// `inbound` (a caller's INVITE) or `outbound` (dialed by a controller).
    pub direction: String,
    /// Leg A's From URI.
    pub from_uri: String,
    /// Leg A's To URI.
    pub to_uri: String,
    /// The number dialed, after the route's `strip_prefix`.
    pub dialed: String,
    /// The matching route entry's `id` (empty for a refused call).
    pub route: String,
    /// The endpoint the call came from (empty when none claimed it).
    pub from_endpoint: String,
    /// The endpoint the call went to: a SIP endpoint or a controller endpoint.
    pub to_endpoint: String,
    /// Who steered the call: `agent`, `rayo` or `none` (a plain bridge).
    pub controller: String,
    /// When the INVITE came in or was sent; ms since the Unix epoch, UTC.
    pub setup_ms: i64,
    /// When the call was answered; `None` if never.
    pub answer_ms: Option<i64>,
    /// When the call ended.
    pub end_ms: i64,
    /// How the call ended, see [`Disposition`].
    pub disposition: String,
    /// The final SIP status of the call's setup (200 when answered).
    pub sip_status: Option<u16>,
    /// Which side ended it: `a`, `b`, `local` (Switchboard or its
    /// controller) or `shutdown`; `None` when setup failed.
    pub ended_by: Option<String>,
    /// Leg A's media.
    pub a_media: LegMedia,
    /// Leg B's media (zero without a B leg).
    pub b_media: LegMedia,
    /// Recording files written for the call.
    pub recordings: Vec<String>,
}

/// One leg's media counters, from its RTP session (read once, at the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LegMedia {
    /// RTP packets accepted from the leg's party.
    pub packets_received: i64,
    /// RTP packets sent to the party (relayed or paced).
    pub packets_sent: i64,
    /// Packets lost on the way in (RFC 3550 cumulative loss, all sources).
    pub packets_lost: i64,
    /// Interarrival jitter of the last source, in milliseconds (8 kHz clock).
    pub jitter_ms: f64,
}

/// How a call ended, as an operator reads a CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Answered (whatever happened after).
    Answered,
    /// The party was busy (486, 600).
    Busy,
    /// Nobody answered in time (408, 480, 487 without a CANCEL).
    NoAnswer,
    /// The caller gave up before the answer (CANCEL).
    Cancelled,
    /// Refused before any leg was tried: no endpoint, no route, bad
    /// credentials, shutting down (admission's answer).
    Refused,
    /// Declined by the party or its controller (603, other 4xx/6xx).
    Declined,
    /// Anything else: 5xx, no usable SDP, an unreachable target.
    Failed,
}

impl Disposition {
    /// Every disposition, in declaration order: `ALL[d as usize] == d`, so
    /// a table indexed by `d as usize` has `ALL.len()` entries.
    pub const ALL: [Disposition; 7] = [
        Disposition::Answered,
        Disposition::Busy,
        Disposition::NoAnswer,
        Disposition::Cancelled,
        Disposition::Refused,
        Disposition::Declined,
        Disposition::Failed,
    ];

    /// The word stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "answered",
            Disposition::Busy => "busy",
            Disposition::NoAnswer => "no-answer",
            Disposition::Cancelled => "cancelled",
            Disposition::Refused => "refused",
            Disposition::Declined => "declined",
            Disposition::Failed => "failed",
        }
    }

    /// The disposition of a call never answered whose setup ended with `status`.
    pub fn of_failure(status: Option<u16>, cancelled: bool) -> Disposition {
        if cancelled {
            return Disposition::Cancelled;
        }
        match status {
            Some(486 | 600) => Disposition::Busy,
            Some(408 | 480 | 487) => Disposition::NoAnswer,
            Some(400..=499 | 603 | 604 | 606) => Disposition::Declined,
            _ => Disposition::Failed,
        }
    }
}

/// Which side ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// Leg A hung up or cancelled.
    A,
    /// Leg B hung up.
    B,
    /// The server is shutting down.
    Shutdown,
}

/// What a call notes while it runs, beyond what its state already holds:
/// small, so a resting call stays small.
#[derive(Debug, Clone, Copy)]
pub struct CallTrace {
    setup: SystemTime,
    status: Option<u16>,
    ended_by: Option<EndedBy>,
    cancelled: bool,
}

impl Default for CallTrace {
    fn default() -> Self {
        CallTrace::new()
    }
}

impl CallTrace {
    /// A call whose setup starts now.
    pub fn new() -> CallTrace {
        CallTrace {
            setup: SystemTime::now(),
            status: None,
            ended_by: None,
            cancelled: false,
        }
    }

    /// The final status of the call's setup (the first one given wins).
    pub fn final_status(&mut self, status: u16) {
        self.status.get_or_insert(status);
    }

    /// Who ended the call (the first one given wins).
    pub fn ended_by(&mut self, side: EndedBy) {
        self.ended_by.get_or_insert(side);
    }

    /// The caller cancelled before the answer.
    pub fn cancelled(&mut self) {
        self.cancelled = true;
        self.ended_by(EndedBy::A);
    }

    /// How the call ended, given `answered` (the call's answer instant):
    /// all the call totals need, without building a record.
    pub fn disposition(&self, answered: Option<Instant>) -> Disposition {
        match answered {
            Some(_) => Disposition::Answered,
            None => Disposition::of_failure(self.status, self.cancelled),
        }
    }

    /// Fills the record's times, disposition, status and side from the
    /// trace and `answered` (the call's answer instant), as of now.
    pub fn finish(&self, answered: Option<Instant>, record: &mut CallRecord) {
        let end = SystemTime::now();
        let now = Instant::now();
        record.setup_ms = epoch_ms(self.setup);
        record.end_ms = epoch_ms(end);
        record.answer_ms = answered.map(|at| {
            let ago = now.saturating_duration_since(at);
            epoch_ms(end.checked_sub(ago).unwrap_or(end)).max(record.setup_ms)
        });
        record.disposition = self.disposition(answered).as_str().to_string();
        record.sip_status = match answered {
            Some(_) => Some(200),
            None => self.status,
        };
        record.ended_by = match (self.ended_by, answered) {
            (Some(EndedBy::A), _) => Some("a".into()),
            (Some(EndedBy::B), _) => Some("b".into()),
            (Some(EndedBy::Shutdown), _) => Some("shutdown".into()),
            (None, Some(_)) => Some("local".into()),
            (None, None) => None,
        };
    }
}

impl CallRecord {
    /// An empty record with a fresh id; the call fills in what it knows.
    pub fn new(sip_call_id: String) -> CallRecord {
        CallRecord {
            call_uuid: new_uuid(),
            sip_call_id,
            b_call_id: None,
            controller_call_id: None,
            direction: "inbound".into(),
            from_uri: String::new(),
            to_uri: String::new(),
            dialed: String::new(),
            route: String::new(),
            from_endpoint: String::new(),
            to_endpoint: String::new(),
            controller: "none".into(),
            setup_ms: 0,
            answer_ms: None,
            end_ms: 0,
            disposition: Disposition::Failed.as_str().into(),
            sip_status: None,
            ended_by: None,
            a_media: LegMedia::default(),
            b_media: LegMedia::default(),
            recordings: Vec::new(),
        }
    }

    /// The record of an INVITE the admission policy answered with `status`
    /// (no route, no endpoint, shutting down): no call actor ever ran.
    pub fn refused(request: &sip::Request, status: u16) -> CallRecord {
        let mut record = CallRecord::new(request.call_id().unwrap_or_default().into());
        record.from_uri = header_uri(request, sip::HeaderName::From);
        record.to_uri = header_uri(request, sip::HeaderName::To);
        record.dialed = request.uri.user.clone().unwrap_or_default();
        let now = epoch_ms(SystemTime::now());
        record.setup_ms = now;
        record.end_ms = now;
        record.disposition = Disposition::Refused.as_str().into();
        record.sip_status = Some(status);
        record
    }
}

/// The URI in `request`'s From or To header ([`calls::header_uri`]).
pub fn header_uri(request: &sip::Request, name: sip::HeaderName) -> String {
    calls::header_uri(request.headers.get(name).unwrap_or_default())
}

/// A leg's counters from its RTP session's receive statistics and the
/// packets sent toward it.
pub fn leg_media(stats: &crate::media::session::ReceiveStats, sent: u64) -> LegMedia {
    let lost: u64 = stats.sources.iter().map(|s| s.lost).sum();
    let jitter = stats.sources.last().map(|s| s.jitter).unwrap_or(0);
    LegMedia {
        packets_received: clamp(stats.counters.rtp),
        packets_sent: clamp(sent),
        packets_lost: clamp(lost),
        jitter_ms: f64::from(jitter) / 8.0,
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| clamp(d.as_millis() as u64))
        .unwrap_or(0)
}

/// The time `ms` after the Unix epoch.
pub fn from_epoch_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// 128 random bits as 32 hex digits.
fn new_uuid() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A record whose every field holds a value no other field holds, so a
/// test that writes it and reads it back catches two columns swapped.
#[cfg(test)]
pub(crate) fn distinct_record(end_ms: i64) -> CallRecord {
    CallRecord {
        call_uuid: format!("uuid-{end_ms}"),
        sip_call_id: format!("call-{end_ms}"),
        b_call_id: Some("b-call".into()),
        controller_call_id: Some("controller-call".into()),
        direction: "outbound".into(),
        from_uri: "sip:from@h".into(),
        to_uri: "sip:to@h".into(),
        dialed: "5551".into(),
        route: "route-1".into(),
        from_endpoint: "endpoint-from".into(),
        to_endpoint: "endpoint-to".into(),
        controller: "rayo".into(),
        setup_ms: end_ms - 2,
        answer_ms: Some(end_ms - 1),
        end_ms,
        disposition: "busy".into(),
        sip_status: Some(486),
        ended_by: Some("b".into()),
        a_media: LegMedia {
            packets_received: 1001,
            packets_sent: 1002,
            packets_lost: 1003,
            jitter_ms: 1.5,
        },
        b_media: LegMedia {
            packets_received: 2001,
            packets_sent: 2002,
            packets_lost: 2003,
            jitter_ms: 2.5,
        },
        recordings: vec!["/r/1.wav".into(), "/r/2.wav".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_dispositions() {
        assert_eq!(Disposition::of_failure(Some(486), false), Disposition::Busy);
        assert_eq!(
            Disposition::of_failure(Some(487), true),
            Disposition::Cancelled
        );
        assert_eq!(
            Disposition::of_failure(Some(408), false),
            Disposition::NoAnswer
        );
        assert_eq!(
            Disposition::of_failure(Some(603), false),
            Disposition::Declined
        );
        assert_eq!(
            Disposition::of_failure(Some(503), false),
            Disposition::Failed
        );
        assert_eq!(Disposition::of_failure(None, false), Disposition::Failed);
    }

    #[test]
    fn all_dispositions_are_listed_at_their_index() {
        for (i, disposition) in Disposition::ALL.into_iter().enumerate() {
            assert_eq!(disposition as usize, i, "{}", disposition.as_str());
        }
    }

    #[test]
    fn answered_trace_has_ordered_times_and_200() {
        let trace = CallTrace::new();
        let mut record = CallRecord::new("c".into());
        trace.finish(Some(Instant::now()), &mut record);
        let answer = record.answer_ms.unwrap_or(-1);
        assert!(record.setup_ms <= answer && answer <= record.end_ms);
        assert_eq!(record.disposition, "answered");
        assert_eq!(record.sip_status, Some(200));
        assert_eq!(record.ended_by.as_deref(), Some("local"));
    }

    #[test]
    fn first_status_and_side_win() {
        let mut trace = CallTrace::new();
        trace.final_status(486);
        trace.final_status(487);
        trace.ended_by(EndedBy::B);
        trace.ended_by(EndedBy::Shutdown);
        let mut record = CallRecord::new("c".into());
        trace.finish(None, &mut record);
        assert_eq!(record.sip_status, Some(486));
        assert_eq!(record.disposition, "busy");
        assert_eq!(trace.disposition(None), Disposition::Busy);
        assert_eq!(record.ended_by.as_deref(), Some("b"));
        assert_eq!(record.answer_ms, None);
    }

    #[test]
    fn header_uris() {
        let message = sip::parse_datagram(
            b"INVITE sip:123@h SIP/2.0\r\nFrom: \"A\" <sip:alice@h>;tag=1\r\nTo: sip:123@h\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n",
        );
        let Ok(sip::Message::Request(request)) = message else {
            panic!("request does not parse")
        };
        assert_eq!(header_uri(&request, sip::HeaderName::From), "sip:alice@h");
        assert_eq!(header_uri(&request, sip::HeaderName::To), "sip:123@h");
        assert_eq!(calls::header_uri(" \"A\" <sip:a@h "), "sip:a@h");
        let record = CallRecord::refused(&request, 404);
        assert_eq!(record.dialed, "123");
        assert_eq!(record.disposition, "refused");
        assert_eq!(record.sip_status, Some(404));
    }
}
