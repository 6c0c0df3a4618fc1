use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::caps::{caps_ver, CALL_IDENTITY, ENTITY_FEATURES};

const DOMAIN: &str = "rayo.test";

fn xep() -> EventContext<'static> {
    EventContext {
        dialect: Dialect::Xep,
        domain: DOMAIN,
        legacy_ids: false,
    }
}

fn xep_ids() -> EventContext<'static> {
    EventContext {
        legacy_ids: true,
        ..xep()
    }
}

fn wiki() -> EventContext<'static> {
    EventContext {
        dialect: Dialect::Wiki,
        domain: DOMAIN,
        legacy_ids: false,
    }
}

fn xml(e: &Element) -> String {
    e.to_xml("jabber:client")
}

fn payload_xml(event: &CallEvent, cx: &EventContext<'_>) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(1_704_067_200_250);
    event.payload(cx, Some(at)).iter().map(xml).collect()
}

fn hdr(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[test]
fn offer_with_caps_headers_and_delay() {
    let offer = CallEvent::Offer {
        to: "sip:1000@rayo.test".into(),
        from: Some("sip:alice@10.0.0.5".into()),
        headers: vec![
            hdr("From", "<sip:alice@10.0.0.5>;tag=a"),
            hdr("X-Customer", "8877"),
        ],
    };
    let ver = caps_ver(&[CALL_IDENTITY], &ENTITY_FEATURES);
    let expected = format!(
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:xmpp:rayo:call:1' ver='{ver}'/>\
         <offer xmlns='urn:xmpp:rayo:1' to='sip:1000@rayo.test' from='sip:alice@10.0.0.5'>\
         <header name='From' value='&lt;sip:alice@10.0.0.5&gt;;tag=a'/>\
         <header name='X-Customer' value='8877'/></offer>\
         <delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00.250Z'/>"
    );
    assert_eq!(payload_xml(&offer, &xep()), expected);
    // The offer is spelled the same in both dialects.
    assert_eq!(payload_xml(&offer, &wiki()), expected);
    assert!(!offer.is_unavailable(Dialect::Xep));
}

#[test]
fn offer_without_from_or_delay() {
    let offer = CallEvent::Offer {
        to: "tel:+18003211212".into(),
        from: None,
        headers: vec![],
    };
    let parts: Vec<String> = offer.payload(&xep(), None).iter().map(xml).collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[1],
        "<offer xmlns='urn:xmpp:rayo:1' to='tel:+18003211212'/>"
    );
}

#[test]
fn ringing_and_answered() {
    let ringing = CallEvent::Ringing {
        headers: vec![hdr("X-Skill", "agent")],
    };
    let answered = CallEvent::Answered { headers: vec![] };
    for cx in [xep(), wiki()] {
        assert_eq!(
            payload_xml(&ringing, &cx),
            "<ringing xmlns='urn:xmpp:rayo:1'><header name='X-Skill' value='agent'/></ringing>\
             <delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00.250Z'/>"
        );
        assert_eq!(
            xml(&answered.to_element(&cx)),
            "<answered xmlns='urn:xmpp:rayo:1'/>"
        );
        assert!(!ringing.is_unavailable(cx.dialect));
        assert!(!answered.is_unavailable(cx.dialect));
    }
}

fn end(reason: EndReason) -> CallEvent {
    CallEvent::End {
        reason,
        platform_code: None,
        text: None,
        headers: vec![],
    }
}

#[test]
fn end_reasons_in_both_dialects() {
    let table = [
        (EndReason::Hungup, "hungup", "hangup"),
        (EndReason::HangupCommand, "hangup-command", "hangup"),
        (EndReason::Timeout, "timeout", "timeout"),
        (EndReason::Busy, "busy", "busy"),
        (EndReason::Rejected, "rejected", "reject"),
        (EndReason::Error, "error", "error"),
    ];
    for (reason, xep_name, wiki_name) in table {
        assert_eq!(
            xml(&end(reason).to_element(&xep())),
            format!("<end xmlns='urn:xmpp:rayo:1'><{xep_name}/></end>")
        );
        assert_eq!(
            xml(&end(reason).to_element(&wiki())),
            format!("<end xmlns='urn:xmpp:rayo:1'><{wiki_name}/></end>")
        );
        assert!(end(reason).is_unavailable(Dialect::Xep));
        assert!(!end(reason).is_unavailable(Dialect::Wiki));
    }
}

#[test]
fn end_with_platform_code_text_and_headers() {
    let busy = CallEvent::End {
        reason: EndReason::Busy,
        platform_code: Some(486),
        text: None,
        headers: vec![hdr("X-Why", "x")],
    };
    assert_eq!(
        payload_xml(&busy, &xep()),
        "<end xmlns='urn:xmpp:rayo:1'><busy platform-code='486'/><header name='X-Why' value='x'/></end>\
         <delay xmlns='urn:xmpp:delay' stamp='2024-01-01T00:00:00.250Z'/>"
    );
    let error = CallEvent::End {
        reason: EndReason::Error,
        platform_code: Some(503),
        text: Some("no route to <sip:x>".into()),
        headers: vec![],
    };
    assert_eq!(
        xml(&error.to_element(&wiki())),
        "<end xmlns='urn:xmpp:rayo:1'><error platform-code='503'>no route to &lt;sip:x&gt;</error></end>"
    );
}

#[test]
fn joined_and_unjoined() {
    let call = JoinTarget::Call("b7".into());
    let mixer = JoinTarget::Mixer("conf1".into());
    assert_eq!(
        xml(&CallEvent::Joined(call.clone()).to_element(&xep())),
        "<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:b7@rayo.test'/>"
    );
    assert_eq!(
        xml(&CallEvent::Joined(call.clone()).to_element(&xep_ids())),
        "<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:b7@rayo.test' call-id='b7'/>"
    );
    assert_eq!(
        xml(&CallEvent::Unjoined(call.clone()).to_element(&wiki())),
        "<unjoined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:b7@rayo.test' call-id='b7'/>"
    );
    for cx in [xep(), wiki()] {
        assert_eq!(
            xml(&CallEvent::Unjoined(mixer.clone()).to_element(&cx)),
            "<unjoined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/>"
        );
        assert!(!CallEvent::Unjoined(call.clone()).is_unavailable(cx.dialect));
    }
}

#[test]
fn dtmf_event() {
    for cx in [xep(), wiki()] {
        assert_eq!(
            xml(&CallEvent::Dtmf { signal: '#' }.to_element(&cx)),
            "<dtmf xmlns='urn:xmpp:rayo:1' signal='#'/>"
        );
    }
}

#[test]
fn refs_by_dialect() {
    assert_eq!(
        xml(&ref_element(&xep(), "9f00061", None)),
        "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:9f00061@rayo.test'/>"
    );
    assert_eq!(
        xml(&ref_element(&xep_ids(), "9f00061", None)),
        "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:9f00061@rayo.test' id='9f00061'/>"
    );
    assert_eq!(
        xml(&ref_element(&xep_ids(), "9f00061", Some("output-1"))),
        "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:9f00061@rayo.test/output-1' id='output-1'/>"
    );
    assert_eq!(
        xml(&ref_element(&wiki(), "9f00061", None)),
        "<ref xmlns='urn:xmpp:rayo:1' id='9f00061'/>"
    );
    assert_eq!(
        xml(&ref_element(&wiki(), "9f00061", Some("fgh4590"))),
        "<ref xmlns='urn:xmpp:rayo:1' id='fgh4590'/>"
    );
}

#[test]
fn complete_core_reasons() {
    assert_eq!(
        xml(&CoreCompleteReason::Stop.to_element()),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><stop xmlns='urn:xmpp:rayo:ext:complete:1'/></complete>"
    );
    assert_eq!(
        xml(&CoreCompleteReason::Hangup.to_element()),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><hangup xmlns='urn:xmpp:rayo:ext:complete:1'/></complete>"
    );
    assert_eq!(
        xml(&CoreCompleteReason::Error("file not found".into()).to_element()),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><error xmlns='urn:xmpp:rayo:ext:complete:1'>file not found</error></complete>"
    );
    assert!(Dialect::Xep.final_presence_unavailable());
    assert!(!Dialect::Wiki.final_presence_unavailable());
}

#[test]
fn complete_with_component_reason_first_then_extras() {
    let recording = Element::new("recording", ns::RECORD_COMPLETE)
        .attr("uri", "http://127.0.0.1/r/1.wav")
        .attr("duration", "1200")
        .attr("size", "19244");
    let e = complete("max-duration", ns::RECORD_COMPLETE, None, vec![recording]);
    assert_eq!(
        xml(&e),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><max-duration xmlns='urn:xmpp:rayo:record:complete:1'/>\
         <recording xmlns='urn:xmpp:rayo:record:complete:1' uri='http://127.0.0.1/r/1.wav' duration='1200' size='19244'/></complete>"
    );
    assert_eq!(e.first_child().map(Element::name), Some("max-duration"));
    let say = complete("success", ns::TROPO_SAY_COMPLETE, None, vec![]);
    assert_eq!(
        xml(&say),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><success xmlns='urn:xmpp:tropo:say:complete:1'/></complete>"
    );
}

#[test]
fn sip_failures_map_to_end_reasons() {
    for (status, reason) in [
        (486, EndReason::Busy),
        (600, EndReason::Busy),
        (603, EndReason::Rejected),
        (403, EndReason::Rejected),
        (408, EndReason::Timeout),
        (480, EndReason::Timeout),
        (404, EndReason::Error),
        (503, EndReason::Error),
    ] {
        assert_eq!(EndReason::for_sip_failure(status), reason, "{status}");
    }
}
