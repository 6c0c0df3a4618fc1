//! Events: what a call or component tells its controlling clients, rendered
//! as the child elements of a `<presence>` (RAYO.md §2.3, §2.7–2.10, §3.0).
//!
//! The adapter wraps the payload in `<presence from='<call JID>' to='<client>'>`
//! and sets `type='unavailable'` where [`CallEvent::is_unavailable`] or
//! [`Dialect::final_presence_unavailable`] says so. Payloads carry the
//! event element first (clients take the first Rayo child as the event),
//! except the offer, which opens with its caps `<c>` as in XEP-0327's
//! example, and end with the XEP-0203 `<delay>` when a time is given.

use std::time::SystemTime;

use xmpp::Element;

use crate::caps::call_caps;
use crate::dialect::{Dialect, EventContext};
use crate::header::header_elements;
use crate::join::JoinTarget;
use crate::ns;
use crate::stamp::delay_element;
use crate::uri::{call_uri, component_uri};

/// Why a call ended (the first child of `<end>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The remote party hung up (wiki: `hangup`).
    Hungup,
    /// A `<hangup>` or `<reject>` command ended it (wiki: `hangup`).
    HangupCommand,
    /// Nobody answered in time (408, 480, dial timeout).
    Timeout,
    /// The far end was busy (486, 600).
    Busy,
    /// The far end rejected the call (603, 403) (wiki: `reject`).
    Rejected,
    /// Anything else; may carry a text.
    Error,
}

impl EndReason {
    /// The reason's element name in `dialect`.
    pub fn name(self, dialect: Dialect) -> &'static str {
        match (self, dialect) {
            (EndReason::Hungup, Dialect::Xep) => "hungup",
            (EndReason::HangupCommand, Dialect::Xep) => "hangup-command",
            (EndReason::Hungup | EndReason::HangupCommand, Dialect::Wiki) => "hangup",
            (EndReason::Timeout, _) => "timeout",
            (EndReason::Busy, _) => "busy",
            (EndReason::Rejected, Dialect::Xep) => "rejected",
            (EndReason::Rejected, Dialect::Wiki) => "reject",
            (EndReason::Error, _) => "error",
        }
    }

    /// The reason for a dialed call's final SIP failure `status` (sent as
    /// `platform-code`): 486/600 busy, 403/603/607 rejected, 408/480
    /// timeout, anything else error. A CANCEL of the server's own (dial
    /// timeout, hangup command) is the adapter's to name.
    pub fn for_sip_failure(status: u16) -> EndReason {
        match status {
            486 | 600 => EndReason::Busy,
            403 | 603 | 607 => EndReason::Rejected,
            408 | 480 => EndReason::Timeout,
            _ => EndReason::Error,
        }
    }
}

/// An event of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A new inbound call, sent to each potential controlling party.
    Offer {
        /// The called URI (`sip:1000@…`).
        to: String,
        /// The caller's URI.
        from: Option<String>,
        /// Signalling headers of the INVITE.
        headers: Vec<(String, String)>,
    },
    /// A dialed call is ringing (180/183).
    Ringing {
        /// Headers of the provisional response.
        headers: Vec<(String, String)>,
    },
    /// A dialed call was answered (200).
    Answered {
        /// Headers of the final response.
        headers: Vec<(String, String)>,
    },
    /// The call is over; nothing follows.
    End {
        /// Why.
        reason: EndReason,
        /// `platform-code`: the SIP status that ended it, if one did.
        platform_code: Option<u16>,
        /// Text inside the reason element (for `error`).
        text: Option<String>,
        /// Headers of the message that ended it (BYE, final response).
        headers: Vec<(String, String)>,
    },
    /// The call was joined to another call or a mixer.
    Joined(JoinTarget),
    /// A join of the call was broken.
    Unjoined(JoinTarget),
    /// The party pressed a key (wiki dialect's call event, emitted in both
    /// dialects: Punchblock 2 still reads it).
    Dtmf {
        /// The key: `0-9`, `*`, `#`, `A-D`.
        signal: char,
    },
}

impl CallEvent {
    /// The event element (`<offer>`, `<end>`, …) alone.
    pub fn to_element(&self, cx: &EventContext<'_>) -> Element {
        match self {
            CallEvent::Offer { to, from, headers } => {
                let mut offer = Element::new("offer", ns::RAYO).attr("to", to.as_str());
                if let Some(from) = from {
                    offer.set_attr("from", from.as_str());
                }
                with_headers(offer, headers)
            }
            CallEvent::Ringing { headers } => {
                with_headers(Element::new("ringing", ns::RAYO), headers)
            }
            CallEvent::Answered { headers } => {
                with_headers(Element::new("answered", ns::RAYO), headers)
            }
            CallEvent::End {
                reason,
                platform_code,
                text,
                headers,
            } => {
                let mut why = Element::new(reason.name(cx.dialect), ns::RAYO);
                if let Some(code) = platform_code {
                    why.set_attr("platform-code", code.to_string());
                }
                if let Some(text) = text.as_deref().filter(|t| !t.is_empty()) {
                    why.push_text(text);
                }
                with_headers(Element::new("end", ns::RAYO).child(why), headers)
            }
            CallEvent::Joined(target) => join_event("joined", target, cx),
            CallEvent::Unjoined(target) => join_event("unjoined", target, cx),
            CallEvent::Dtmf { signal } => {
                Element::new("dtmf", ns::RAYO).attr("signal", signal.to_string())
            }
        }
    }

    /// The presence's children: the event (after the caps `<c>` for an
    /// offer), then a `<delay>` stamped `at` when given.
    pub fn payload(&self, cx: &EventContext<'_>, at: Option<SystemTime>) -> Vec<Element> {
        let mut out = Vec::with_capacity(3);
        if matches!(self, CallEvent::Offer { .. }) {
            out.push(call_caps());
        }
        out.push(self.to_element(cx));
        out.extend(at.map(delay_element));
        out
    }

    /// Whether the presence is `type='unavailable'`: only `<end>`, and only
    /// in the XEP dialect.
    pub fn is_unavailable(&self, dialect: Dialect) -> bool {
        matches!(self, CallEvent::End { .. }) && dialect.final_presence_unavailable()
    }
}

pub(crate) fn with_headers(mut e: Element, headers: &[(String, String)]) -> Element {
    for h in header_elements(headers) {
        e.push(h);
    }
    e
}

/// `<joined>` / `<unjoined>`: `call-uri` always (XEP), `call-id` too in the
/// wiki dialect or with legacy ids; or `mixer-name`.
pub(crate) fn join_event(name: &str, target: &JoinTarget, cx: &EventContext<'_>) -> Element {
    let e = Element::new(name, ns::RAYO);
    match target {
        JoinTarget::Call(id) => {
            let e = e.attr("call-uri", call_uri(id, cx.domain));
            if cx.legacy_ids || cx.dialect == Dialect::Wiki {
                e.attr("call-id", id.as_str())
            } else {
                e
            }
        }
        JoinTarget::Mixer(name) => e.attr("mixer-name", name.as_str()),
    }
}

/// The `<ref>` of an IQ result naming a new call, a mixer a join created or
/// entered (`node` is its id or name, `component` `None`), or a component
/// of either. XEP:
/// `uri='xmpp:<node>@<domain>[/<component>]'` (plus `id` with legacy ids);
/// wiki: `id` only (the component id, or the node).
pub fn ref_element(cx: &EventContext<'_>, node: &str, component: Option<&str>) -> Element {
    let id = component.unwrap_or(node);
    let e = Element::new("ref", ns::RAYO);
    match cx.dialect {
        Dialect::Wiki => e.attr("id", id),
        Dialect::Xep => {
            let uri = match component {
                Some(c) => component_uri(node, cx.domain, c),
                None => call_uri(node, cx.domain),
            };
            let e = e.attr("uri", uri);
            if cx.legacy_ids {
                e.attr("id", id)
            } else {
                e
            }
        }
    }
}

/// Core completion reasons in `urn:xmpp:rayo:ext:complete:1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreCompleteReason {
    /// Stopped by a `<stop>` command.
    Stop,
    /// The call ended first.
    Hangup,
    /// The component failed; the text says why.
    Error(String),
}

impl CoreCompleteReason {
    /// The `<complete>` element with this reason and no extra children.
    pub fn to_element(&self) -> Element {
        match self {
            CoreCompleteReason::Stop => complete("stop", ns::EXT_COMPLETE, None, Vec::new()),
            CoreCompleteReason::Hangup => complete("hangup", ns::EXT_COMPLETE, None, Vec::new()),
            CoreCompleteReason::Error(text) => {
                complete("error", ns::EXT_COMPLETE, Some(text), Vec::new())
            }
        }
    }
}

/// `<complete xmlns='urn:xmpp:rayo:ext:1'>` with the reason element
/// `reason` in `reason_ns` as its first child (clients read the first child
/// as the reason, RAYO.md §5.2), holding `text` if any, followed by `extra`
/// (`<recording>`, `<fax>`, …). Its presence is `type='unavailable'` per
/// [`Dialect::final_presence_unavailable`].
pub fn complete(reason: &str, reason_ns: &str, text: Option<&str>, extra: Vec<Element>) -> Element {
    let mut why = Element::new(reason, reason_ns);
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        why.push_text(text);
    }
    let mut e = Element::new("complete", ns::EXT).child(why);
    for x in extra {
        e.push(x);
    }
    e
}

#[cfg(test)]
mod tests;
