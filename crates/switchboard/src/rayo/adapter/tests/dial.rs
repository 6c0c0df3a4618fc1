//! Dials (the ref before any event, refused dials), joins, and what a
//! call JID answers to `disco#info`.

use super::*;

#[test]
fn disco_info_on_a_call_jid() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    let to = h.call_jid(1);
    let iq = Element::new("iq", CLIENT_NS)
        .attr("type", "get")
        .attr("id", "d")
        .attr("to", to.as_str())
        .child(Element::new("query", events::DISCO_INFO));
    h.adapter.stanza(jid("usera"), iq);
    let sent = h.sent();
    assert!(
        sent[0]
            .1
            .contains("<identity category='client' type='rayo_call'/>"),
        "{}",
        sent[0].1
    );
}

#[test]
fn a_dial_is_handed_out_then_its_ref_precedes_its_events() {
    let mut h = Harness::new(Dialect::Xep);
    let dial = Element::new("dial", rayo::ns::RAYO)
        .attr("to", "sip:bob@example.com")
        .attr("uri", "xmpp:mine@rayo.test")
        .attr("timeout", "30000");
    h.iq("usera", DOMAIN, "d1", dial);
    let Some(Output::Dial {
        client,
        iq,
        request,
    }) = h.adapter.poll_output()
    else {
        panic!("a dial to carry out");
    };
    assert_eq!(request.to, "sip:bob@example.com");
    assert_eq!(request.call_id.as_deref(), Some("mine"));
    assert_eq!(request.timeout, Some(Duration::from_secs(30)));
    let call = Harness::call(5, 8);
    h.adapter
        .dialed(client, &iq, Ok(("mine".into(), call.handle.clone())));
    h.adapter.call_event(5, Event::Ringing { headers: vec![] });
    h.adapter.call_event(5, Event::Answered { headers: vec![] });
    h.adapter.call_event(
        5,
        Event::Ended {
            reason: EndReason::Busy,
            code: Some(486),
            headers: vec![],
        },
    );
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(
        xml[0],
        "<iq type='result' id='d1' to='usera@rayo.test/app' from='rayo.test'>\
         <ref xmlns='urn:xmpp:rayo:1' uri='xmpp:mine@rayo.test' id='mine'/></iq>"
    );
    assert!(
        xml[1].contains("<ringing xmlns='urn:xmpp:rayo:1'/>"),
        "{}",
        xml[1]
    );
    assert!(
        xml[2].contains("<answered xmlns='urn:xmpp:rayo:1'/>"),
        "{}",
        xml[2]
    );
    assert!(xml[3].contains("<busy platform-code='486'/>"), "{}", xml[3]);
}

#[test]
fn a_refused_dial_is_the_iq_s_error_and_joins_are_tracked_for_unjoin() {
    let mut h = Harness::new(Dialect::Wiki);
    h.iq(
        "usera",
        DOMAIN,
        "d1",
        Element::new("dial", rayo::ns::RAYO).attr("to", "sip:bob@example.com"),
    );
    let Some(Output::Dial { client, iq, .. }) = h.adapter.poll_output() else {
        panic!("a dial");
    };
    let busy = CommandError::of(Condition::ResourceConstraint, "no RTP port");
    h.adapter.dialed(client.clone(), &iq, Err(busy));
    assert_eq!(condition(&h.sent()[0].1), Some("resource-constraint"));

    h.iq(
        "usera",
        DOMAIN,
        "d2",
        Element::new("dial", rayo::ns::RAYO).attr("to", "1000"),
    );
    let Some(Output::Dial { iq, .. }) = h.adapter.poll_output() else {
        panic!("a dial");
    };
    let mut call = Harness::call(6, 8);
    h.adapter
        .dialed(client, &iq, Ok(("c6".into(), call.handle.clone())));
    let sent = h.sent();
    assert!(
        sent[0].1.contains("<ref xmlns='urn:xmpp:rayo:1' id='c6'/>"),
        "{}",
        sent[0].1
    );
    let other = call_control::JoinTarget::Call("c7".into());
    h.adapter.call_event(
        6,
        Event::Joined {
            target: other.clone(),
            direction: call_control::JoinDirection::Duplex,
        },
    );
    assert!(h.sent()[0]
        .1
        .contains("<joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:c7@rayo.test' call-id='c7'/>"));
    h.command("usera", 6, "u", "unjoin");
    let unjoin = requests(&mut call);
    assert_eq!(
        unjoin.last().map(|r| &r.command),
        Some(&Command::Unjoin { target: other })
    );
}
