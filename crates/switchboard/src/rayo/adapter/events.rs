//! What a call's [`Event`]s and its offer look like on the wire: the
//! [`rayo::CallEvent`] each becomes, and the `<presence>` that carries it.
//!
//! Both dialects emit the seed page's `<dtmf signal>` call event for each
//! digit (Punchblock 2 still reads it; XEP-0327 has none).

use std::time::SystemTime;

use call_control::{CallInfo, EndReason, Event};
use rayo::{CallEvent, EventContext};
use xmpp::{Element, FullJid};

use crate::calls::header_uri;

/// The client stream's default namespace, in which stanzas are written.
pub const CLIENT_NS: &str = "jabber:client";

/// XEP-0030 disco#info, which call and mixer JIDs answer with their
/// identity.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// A disco#info answer with `identity` alone (calls and mixers publish no
/// features, as in mod_rayo).
pub fn disco_identity(identity: rayo::caps::Identity<'_>) -> Element {
    Element::new("query", DISCO_INFO).child(
        Element::new("identity", DISCO_INFO)
            .attr("category", identity.category)
            .attr("type", identity.kind),
    )
}

/// The headers of the INVITE an offer carries: these by name (compact
/// forms written out), and every `X-` header.
const OFFERED_HEADERS: [(&str, Option<&str>); 5] = [
    ("From", Some("f")),
    ("To", Some("t")),
    ("Via", Some("v")),
    ("Contact", Some("m")),
    ("Call-ID", Some("i")),
];

/// The `<offer>` of an inbound call: `to`/`from` are the To and From URIs,
/// then the signalling headers clients route on.
pub fn offer(info: &CallInfo) -> CallEvent {
    let mut headers = Vec::new();
    for (name, value) in &info.headers {
        let full = OFFERED_HEADERS.iter().find(|(full, compact)| {
            name.eq_ignore_ascii_case(full) || compact.is_some_and(|c| name.eq_ignore_ascii_case(c))
        });
        match full {
            Some((full, _)) => headers.push(((*full).to_owned(), value.clone())),
            None if is_x_header(name) => headers.push((name.clone(), value.clone())),
            None => {}
        }
    }
    let uri_of = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| header_uri(v))
    };
    let to = uri_of("To").unwrap_or_else(|| format!("sip:{}", info.to));
    let from = uri_of("From");
    CallEvent::Offer { to, from, headers }
}

fn is_x_header(name: &str) -> bool {
    name.len() > 2 && name[..2].eq_ignore_ascii_case("x-")
}

/// The Rayo end reason for how the call ended. Our own `<reject>`,
/// `<hangup>` and `<redirect>` all end it "by command"; the XEP's
/// `rejected`, `busy` and `timeout` describe the far end of a dialed call.
pub fn end_event(
    reason: &EndReason,
    code: Option<u16>,
    headers: Vec<(String, String)>,
) -> CallEvent {
    use rayo::EndReason as R;
    let (reason, text) = match reason {
        EndReason::CallerHangup => (R::Hungup, None),
        EndReason::Hangup
        | EndReason::Rejected
        | EndReason::Redirected
        | EndReason::Transferred => (R::HangupCommand, None),
        EndReason::Busy => (R::Busy, None),
        EndReason::Declined => (R::Rejected, None),
        EndReason::Timeout => (R::Timeout, None),
        EndReason::Failed => (R::Error, None),
        EndReason::Shutdown => (R::Error, Some("server shutting down".to_owned())),
        EndReason::Error(text) => (R::Error, Some(text.clone())),
    };
    CallEvent::End {
        reason,
        platform_code: code,
        text,
        headers,
    }
}

/// The Rayo event the controlling client hears for `event`, if any:
/// ringing, answered (only for calls we dialed: answering an inbound call
/// is the client's own doing), joins, digits. `Done`, `Started` and
/// `Ended` are the adapter's to handle.
pub fn call_event(event: Event, dialed: bool) -> Option<CallEvent> {
    let target = |t: call_control::JoinTarget| match t {
        call_control::JoinTarget::Call(id) => rayo::JoinTarget::Call(id),
        call_control::JoinTarget::Mixer(name) => rayo::JoinTarget::Mixer(name),
    };
    match event {
        Event::Ringing { headers } => Some(CallEvent::Ringing { headers }),
        Event::Answered { headers } if dialed => Some(CallEvent::Answered { headers }),
        Event::Dtmf { digit } => Some(CallEvent::Dtmf { signal: digit }),
        Event::Joined { target: t, .. } => Some(CallEvent::Joined(target(t))),
        Event::Unjoined { target: t } => Some(CallEvent::Unjoined(target(t))),
        Event::Answered { .. }
        | Event::Speaking { .. }
        | Event::InputTimersStarted { .. }
        | Event::Signal { .. }
        | Event::Started { .. }
        | Event::Done { .. }
        | Event::Ended { .. } => None,
    }
}

/// `<presence from='<call JID>' to='<client>'>` carrying `event`, typed
/// `unavailable` where the dialect says so, with a `<delay>` when `at` is
/// given.
pub fn presence(
    cx: &EventContext<'_>,
    from: &str,
    to: &FullJid,
    event: &CallEvent,
    at: Option<SystemTime>,
) -> Element {
    let mut presence = Element::new("presence", CLIENT_NS)
        .attr("from", from)
        .attr("to", to.to_string());
    if event.is_unavailable(cx.dialect) {
        presence.set_attr("type", "unavailable");
    }
    for child in event.payload(cx, at) {
        presence.push(child);
    }
    presence
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(headers: &[(&str, &str)]) -> CallInfo {
        CallInfo {
            call_id: "c1".into(),
            from: "alice".into(),
            to: "1000".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn offer_takes_uris_and_the_routing_headers() {
        let offer = offer(&info(&[
            ("Via", "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1"),
            ("f", "\"Alice\" <sip:alice@10.0.0.5>;tag=1"),
            ("To", "sip:1000@rayo.test"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
            ("Contact", "<sip:alice@10.0.0.5:5060>"),
            ("X-Customer", "8877"),
            ("Content-Type", "application/sdp"),
        ]));
        let CallEvent::Offer { to, from, headers } = offer else {
            panic!("an offer");
        };
        assert_eq!(to, "sip:1000@rayo.test");
        assert_eq!(from.as_deref(), Some("sip:alice@10.0.0.5"));
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["Via", "From", "To", "Call-ID", "Contact", "X-Customer"]
        );
    }

    #[test]
    fn end_reasons_by_cause() {
        use rayo::EndReason as R;
        let reason = |r: EndReason| match end_event(&r, None, vec![]) {
            CallEvent::End { reason, .. } => reason,
            _ => unreachable!(),
        };
        assert_eq!(reason(EndReason::CallerHangup), R::Hungup);
        assert_eq!(reason(EndReason::Hangup), R::HangupCommand);
        assert_eq!(reason(EndReason::Rejected), R::HangupCommand);
        assert_eq!(reason(EndReason::Busy), R::Busy);
        assert_eq!(reason(EndReason::Declined), R::Rejected);
        assert_eq!(reason(EndReason::Timeout), R::Timeout);
        assert_eq!(reason(EndReason::Error("x".into())), R::Error);
    }

    #[test]
    fn answered_only_for_dialed_calls() {
        let answered = || Event::Answered { headers: vec![] };
        assert_eq!(call_event(answered(), false), None);
        assert!(matches!(
            call_event(answered(), true),
            Some(CallEvent::Answered { .. })
        ));
        assert_eq!(
            call_event(Event::Dtmf { digit: '#' }, false),
            Some(CallEvent::Dtmf { signal: '#' })
        );
    }
}
