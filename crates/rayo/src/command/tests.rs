use super::*;
use crate::{DialTarget, ErrorType, JoinDirection, JoinMedia, JoinTarget};

const DOMAIN: &str = "rayo.test";

fn rayo(name: &str) -> Element {
    Element::new(name, ns::RAYO)
}

fn header(name: &str, value: &str) -> Element {
    rayo("header").attr("name", name).attr("value", value)
}

fn call(payload: &Element) -> Result<CallCommand, CommandError> {
    parse_call_command(payload, DOMAIN)
}

fn condition(result: Result<impl std::fmt::Debug, CommandError>) -> (StanzaCondition, ErrorType) {
    let error = result.expect_err("an error");
    (error.condition, error.kind)
}

const BAD_REQUEST: (StanzaCondition, ErrorType) = (StanzaCondition::BadRequest, ErrorType::Modify);
const NOT_IMPLEMENTED: (StanzaCondition, ErrorType) =
    (StanzaCondition::FeatureNotImplemented, ErrorType::Cancel);
const UNAVAILABLE: (StanzaCondition, ErrorType) =
    (StanzaCondition::ServiceUnavailable, ErrorType::Cancel);
const NOT_FOUND: (StanzaCondition, ErrorType) = (StanzaCondition::ItemNotFound, ErrorType::Cancel);

#[test]
fn accept_with_headers_and_early_media() {
    let e = rayo("accept")
        .child(header("x-skill", "agent"))
        .child(header("x-customer-id", "8877"));
    assert_eq!(
        call(&e),
        Ok(CallCommand::Accept {
            early_media: false,
            headers: vec![
                ("x-skill".into(), "agent".into()),
                ("x-customer-id".into(), "8877".into())
            ],
        })
    );
    for (value, early) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("false", false),
        ("0", false),
        ("", false),
    ] {
        let parsed = call(&rayo("accept").attr("earlyMedia", value)).unwrap();
        assert!(
            matches!(parsed, CallCommand::Accept { early_media, .. } if early_media == early),
            "{value}"
        );
    }
    assert_eq!(
        condition(call(&rayo("accept").attr("earlyMedia", "yes"))),
        BAD_REQUEST
    );
}

#[test]
fn simple_commands_carry_headers() {
    let h = vec![("X-A".to_owned(), "1".to_owned())];
    let cases = [
        ("answer", CallCommand::Answer { headers: h.clone() }),
        ("hangup", CallCommand::Hangup { headers: h.clone() }),
        ("hold", CallCommand::Hold { headers: h.clone() }),
        ("unhold", CallCommand::Unhold { headers: h.clone() }),
        ("mute", CallCommand::Mute { headers: h.clone() }),
        ("unmute", CallCommand::Unmute { headers: h.clone() }),
    ];
    for (name, expected) in cases {
        let parsed = call(&rayo(name).child(header("X-A", "1"))).unwrap();
        assert_eq!(parsed.name(), name);
        assert_eq!(parsed.headers(), &h);
        assert_eq!(parsed, expected);
    }
}

#[test]
fn header_without_value_is_bad_request_on_every_command() {
    for name in CALL_COMMANDS {
        let mut e = rayo(name).child(rayo("header").attr("name", "X-A"));
        // Give each command what it needs otherwise.
        match name {
            "redirect" => e.set_attr("to", "sip:b@x.test"),
            "join" | "unjoin" => e.set_attr("call-id", "b"),
            "dtmf" => e.set_attr("tones", "1"),
            _ => {}
        }
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{name}");
    }
}

#[test]
fn redirect_needs_a_sip_or_tel_uri() {
    assert_eq!(
        call(&rayo("redirect").attr("to", "tel:+14152226789")),
        Ok(CallCommand::Redirect {
            to: "tel:+14152226789".into(),
            headers: vec![],
        })
    );
    assert!(call(&rayo("redirect").attr("to", "sip:b@x.test")).is_ok());
    for e in [
        rayo("redirect"),
        rayo("redirect").attr("to", ""),
        rayo("redirect").attr("to", "mailto:b@x.test"),
        rayo("redirect").attr("to", "sip:b@x.test\r\nX: y"),
    ] {
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
}

#[test]
fn redirect_to_an_endpoint() {
    assert_eq!(
        call(&rayo("redirect").attr("to", "endpoint:agents")),
        Ok(CallCommand::Redirect {
            to: "endpoint:agents".into(),
            headers: vec![],
        })
    );
    for to in ["endpoint:", "endpoint:a b", "endpoint:a/b"] {
        let e = rayo("redirect").attr("to", to);
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
}

#[test]
fn reject_reasons() {
    for (reason, expected, status) in [
        ("busy", RejectReason::Busy, 486),
        ("decline", RejectReason::Decline, 603),
        ("error", RejectReason::Error, 500),
    ] {
        let e = rayo("reject").child(rayo(reason)).child(header("X-R", "r"));
        assert_eq!(
            call(&e),
            Ok(CallCommand::Reject {
                reason: expected,
                headers: vec![("X-R".into(), "r".into())],
            })
        );
        assert_eq!(expected.sip_status(), status);
    }
    // No reason: decline (the wiki page's default), headers still read.
    let bare = rayo("reject").child(header("X-R", "r"));
    assert!(matches!(
        call(&bare),
        Ok(CallCommand::Reject {
            reason: RejectReason::Decline,
            ..
        })
    ));
}

#[test]
fn unknown_or_double_reject_reason_is_bad_request() {
    for e in [
        rayo("reject").child(rayo("nope")),
        rayo("reject").child(Element::new("busy", "urn:example")),
        rayo("reject").child(rayo("busy")).child(rayo("decline")),
    ] {
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
}

#[test]
fn join_and_unjoin_to_a_call() {
    let e = rayo("join")
        .attr("call-uri", "xmpp:b@rayo.test")
        .attr("direction", "send")
        .attr("media", "bridge");
    match call(&e).unwrap() {
        CallCommand::Join(join) => {
            assert_eq!(join.target, JoinTarget::Call("b".into()));
            assert_eq!(join.direction, JoinDirection::Send);
            assert_eq!(join.media, JoinMedia::Bridge);
        }
        other => panic!("{other:?}"),
    }
    match call(&rayo("unjoin")).unwrap() {
        CallCommand::Unjoin(unjoin) => assert_eq!(unjoin.target, None),
        other => panic!("{other:?}"),
    }
    for e in [
        rayo("join"),
        rayo("join")
            .attr("call-uri", "xmpp:b@rayo.test")
            .attr("mixer-name", "m"),
        rayo("unjoin")
            .attr("call-uri", "xmpp:b@rayo.test")
            .attr("mixer-name", "m"),
    ] {
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
}

#[test]
fn send_dtmf() {
    assert_eq!(
        call(&rayo("dtmf").attr("tones", "123#*AbD")),
        Ok(CallCommand::SendDtmf {
            tones: "123#*AbD".into(),
            headers: vec![],
        })
    );
    for e in [
        rayo("dtmf"),
        rayo("dtmf").attr("tones", ""),
        rayo("dtmf").attr("tones", "12E"),
        rayo("dtmf").attr("tones", "1 2"),
        rayo("dtmf").attr("tones", "1".repeat(257)),
    ] {
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
}

#[test]
fn unknown_payloads_on_a_call() {
    // Rayo namespace, unknown element; a component command sent to a call;
    // fax (XEP-0342) is not a component here.
    for e in [
        rayo("frobnicate"),
        rayo("dial").attr("to", "sip:b@x.test"),
        Element::new("pause", ns::OUTPUT),
        Element::new("sendfax", "urn:xmpp:rayo:fax:1"),
    ] {
        assert_eq!(condition(call(&e)), NOT_IMPLEMENTED, "{e}");
    }
    // Media components are parsed: empty ones are malformed.
    for e in [
        Element::new("output", ns::OUTPUT),
        Element::new("say", ns::TROPO_SAY),
    ] {
        assert_eq!(condition(call(&e)), BAD_REQUEST, "{e}");
    }
    // A stop to a call JID names no component.
    for e in [rayo("stop"), Element::new("stop", ns::EXT)] {
        assert_eq!(condition(call(&e)), NOT_FOUND, "{e}");
    }
    // Not Rayo at all, including a core element name in a foreign namespace.
    for e in [
        Element::new("ping", "urn:xmpp:ping"),
        Element::new("answer", "urn:example"),
        Element::new("answer", ""),
    ] {
        assert_eq!(condition(call(&e)), UNAVAILABLE, "{e}");
    }
}

#[test]
fn dial_to_the_domain() {
    let e = rayo("dial")
        .attr("to", "sip:bob@10.0.0.9")
        .attr("uri", "xmpp:8a1c@rayo.test");
    match parse_command(Target::Domain, &e, DOMAIN).unwrap() {
        Command::Dial(dial) => {
            assert_eq!(dial.to, DialTarget::Sip("sip:bob@10.0.0.9".into()));
            assert_eq!(dial.call_id.as_deref(), Some("8a1c"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        condition(parse_domain_command(&rayo("dial"), DOMAIN)),
        BAD_REQUEST
    );
    assert_eq!(
        condition(parse_domain_command(
            &rayo("dial").attr("to", "user/userb"),
            DOMAIN
        )),
        BAD_REQUEST
    );
    assert_eq!(
        condition(parse_domain_command(
            &rayo("dial").attr("to", "1000").attr("timeout", "-3"),
            DOMAIN
        )),
        BAD_REQUEST
    );
}

#[test]
fn call_commands_to_the_domain_are_item_not_found() {
    // adhearsion#585: <hangup/> to the domain after a failed dial.
    for name in ["hangup", "answer", "reject", "join"] {
        assert_eq!(
            condition(parse_domain_command(&rayo(name), DOMAIN)),
            NOT_FOUND,
            "{name}"
        );
    }
    assert_eq!(
        condition(parse_domain_command(&rayo("output"), DOMAIN)),
        NOT_IMPLEMENTED
    );
    assert_eq!(
        condition(parse_domain_command(
            &Element::new("query", "jabber:iq:roster"),
            DOMAIN
        )),
        UNAVAILABLE
    );
}

#[test]
fn stop_in_both_namespaces() {
    for namespace in [ns::EXT, ns::RAYO] {
        let e = Element::new("stop", namespace).child(
            Element::new("header", namespace)
                .attr("name", "X-S")
                .attr("value", "1"),
        );
        assert_eq!(
            parse_command(Target::Component, &e, DOMAIN),
            Ok(Command::Component(ComponentCommand::Stop {
                headers: vec![("X-S".into(), "1".into())],
            })),
            "{namespace}"
        );
    }
    assert_eq!(
        condition(parse_component_command(&Element::new(
            "stop",
            ns::EXT_COMPLETE
        ))),
        NOT_IMPLEMENTED
    );
    assert_eq!(
        condition(parse_component_command(&Element::new("rewind", ns::OUTPUT))),
        NOT_IMPLEMENTED
    );
    assert_eq!(
        condition(parse_component_command(&rayo("hangup"))),
        NOT_IMPLEMENTED
    );
    assert_eq!(
        condition(parse_component_command(&Element::new(
            "stop",
            "urn:example"
        ))),
        UNAVAILABLE
    );
}

#[test]
fn errors_render_for_the_iq() {
    let error = call(&rayo("redirect")).unwrap_err();
    assert_eq!(
        error.to_element().to_xml("jabber:client"),
        "<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>redirect needs a &apos;to&apos;</text></error>"
    );
}
