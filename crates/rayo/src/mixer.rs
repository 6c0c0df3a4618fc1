//! Events of a mixer (RAYO.md §2.9): what the mixer's bare JID
//! `<name>@<domain>` tells every client with a call in the room: a call
//! joined or left it, a call started or stopped speaking.
//!
//! The adapter wraps the payload in `<presence from='<name>@<domain>'>`;
//! the first presence a client gets from a mixer opens with the mixer's
//! caps `<c>` (node `urn:xmpp:rayo:mixer:1`), as an offer opens with the
//! call's. The mixer's end is a bare `type='unavailable'` presence, which
//! needs no payload.

use xmpp::Element;

use crate::caps::mixer_caps;
use crate::dialect::EventContext;
use crate::event::join_event;
use crate::join::JoinTarget;
use crate::ns;
use crate::uri::call_uri;

/// Something a mixer reports about one of its calls (by call id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixerEvent {
    /// The call joined the room: `<joined call-uri>`.
    Joined(String),
    /// The call left the room (unjoin or hangup): `<unjoined call-uri>`.
    Unjoined(String),
    /// The call's party started speaking: `<started-speaking>`.
    StartedSpeaking(String),
    /// The call's party stopped speaking: `<stopped-speaking>`.
    StoppedSpeaking(String),
}

impl MixerEvent {
    /// The event element alone. Joins are written as a call's joins are
    /// (`call-uri`, plus `call-id` in the wiki dialect or with legacy ids);
    /// speaker events always carry both, since Punchblock 2 reads only
    /// `call-id` there (RAYO.md §5.2).
    pub fn to_element(&self, cx: &EventContext<'_>) -> Element {
        match self {
            MixerEvent::Joined(call) => join_event("joined", &JoinTarget::Call(call.clone()), cx),
            MixerEvent::Unjoined(call) => {
                join_event("unjoined", &JoinTarget::Call(call.clone()), cx)
            }
            MixerEvent::StartedSpeaking(call) => speaker_event("started-speaking", call, cx),
            MixerEvent::StoppedSpeaking(call) => speaker_event("stopped-speaking", call, cx),
        }
    }

    /// The presence's children: the mixer's caps `<c>` when this is the
    /// first presence the client gets from the mixer (`first`), then the
    /// event.
    pub fn payload(&self, cx: &EventContext<'_>, first: bool) -> Vec<Element> {
        let mut out = Vec::with_capacity(2);
        if first {
            out.push(mixer_caps());
        }
        out.push(self.to_element(cx));
        out
    }
}

fn speaker_event(name: &str, call: &str, cx: &EventContext<'_>) -> Element {
    Element::new(name, ns::RAYO)
        .attr("call-uri", call_uri(call, cx.domain))
        .attr("call-id", call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{caps_ver, ENTITY_FEATURES, MIXER_IDENTITY};
    use crate::dialect::Dialect;
    use crate::event::ref_element;

    fn cx(dialect: Dialect, legacy_ids: bool) -> EventContext<'static> {
        EventContext {
            dialect,
            domain: "rayo.test",
            legacy_ids,
        }
    }

    fn xml(e: &Element) -> String {
        e.to_xml("jabber:client")
    }

    #[test]
    fn joins_are_spelled_as_call_joins() {
        let joined = MixerEvent::Joined("a1".into());
        assert_eq!(
            xml(&joined.to_element(&cx(Dialect::Xep, false))),
            "<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test'/>"
        );
        assert_eq!(
            xml(&joined.to_element(&cx(Dialect::Xep, true))),
            "<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test' call-id='a1'/>"
        );
        assert_eq!(
            xml(&MixerEvent::Unjoined("a1".into()).to_element(&cx(Dialect::Wiki, false))),
            "<unjoined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test' call-id='a1'/>"
        );
    }

    #[test]
    fn speaker_events_carry_uri_and_id_in_both_dialects() {
        for c in [
            cx(Dialect::Xep, false),
            cx(Dialect::Xep, true),
            cx(Dialect::Wiki, false),
        ] {
            assert_eq!(
                xml(&MixerEvent::StartedSpeaking("a1".into()).to_element(&c)),
                "<started-speaking xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test' call-id='a1'/>"
            );
            assert_eq!(
                xml(&MixerEvent::StoppedSpeaking("a1".into()).to_element(&c)),
                "<stopped-speaking xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test' call-id='a1'/>"
            );
        }
    }

    #[test]
    fn the_first_presence_opens_with_the_mixer_caps() {
        let c = cx(Dialect::Xep, false);
        let event = MixerEvent::Joined("a1".into());
        let first: Vec<String> = event.payload(&c, true).iter().map(xml).collect();
        let ver = caps_ver(&[MIXER_IDENTITY], &ENTITY_FEATURES);
        assert_eq!(
            first,
            [
                format!("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:xmpp:rayo:mixer:1' ver='{ver}'/>"),
                "<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a1@rayo.test'/>".to_owned(),
            ]
        );
        let later = event.payload(&c, false);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].name(), "joined");
    }

    #[test]
    fn a_mixer_ref_names_its_jid() {
        assert_eq!(
            xml(&ref_element(&cx(Dialect::Xep, false), "conf1", None)),
            "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:conf1@rayo.test'/>"
        );
        assert_eq!(
            xml(&ref_element(&cx(Dialect::Xep, true), "conf1", None)),
            "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:conf1@rayo.test' id='conf1'/>"
        );
        assert_eq!(
            xml(&ref_element(&cx(Dialect::Wiki, false), "conf1", None)),
            "<ref xmlns='urn:xmpp:rayo:1' id='conf1'/>"
        );
    }
}
