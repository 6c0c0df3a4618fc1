//! Rayo dial and join end to end: the real binary, the test kit's XMPP
//! client as the application, test kit UAs as the parties (ports from the
//! OS), audio checked by content. Inbound callers go to the Rayo endpoint
//! `app`; numbers dialed go through `rayo.dial_route` to `far`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;
use testkit::analysis::is_near;

use testkit::rayo_harness::{RayoBench, RayoConfig, DOMAIN, WAIT};
use testkit::xmpp::{error_condition, rayo, XmppClient, RAYO_NS};
use testkit::{Codec, RtpPeer, SipUa};
use xmpp::Element;

struct Bench {
    rayo: RayoBench,
    client: XmppClient,
}

/// A server whose `dial_route` sends numbers to `far`; one client, available.
fn bench(far: SocketAddr) -> Bench {
    let config = RayoConfig::new()
        .endpoint(&format!("far: {{ uri: \"sip:{far}\" }}"))
        .route("outbound", "far")
        .rayo("  dial_route: outbound\n");
    let rayo = RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config);
    let client = rayo.available("usera");
    Bench { rayo, client }
}

/// Dials `to` and returns the new call's JID from the `<ref>`.
fn dial(b: &mut Bench, dial: Element) -> String {
    let reply = b
        .client
        .iq_set(DOMAIN, dial, WAIT)
        .unwrap_or_else(|| panic!("dial answered\n{}", b.rayo.server.log()));
    assert_eq!(reply.get_attr("type"), Some("result"), "{reply}");
    let uri = reply
        .get_child("ref", RAYO_NS)
        .and_then(|r| r.get_attr("uri"))
        .expect("a ref uri")
        .to_owned();
    uri.strip_prefix("xmpp:").expect("an xmpp: URI").to_owned()
}

fn event(b: &mut Bench, call: &str, name: &str) -> Element {
    b.rayo.event(&mut b.client, call, name)
}

#[test]
fn dial_gives_a_ref_then_ringing_and_answered() {
    let bob = SipUa::bind();
    let mut b = bench(bob.local_addr());
    let to = format!("sip:bob@{}", bob.local_addr());
    let request = rayo("dial")
        .attr("to", to.as_str())
        .attr("uri", format!("xmpp:mine-1@{DOMAIN}"));
    let call = dial(&mut b, request);
    assert_eq!(
        call,
        format!("mine-1@{DOMAIN}"),
        "the chosen uri is honoured"
    );
    // The same uri again: conflict (modify).
    let again = rayo("dial")
        .attr("to", to.as_str())
        .attr("uri", format!("xmpp:mine-1@{DOMAIN}"));
    let reply = b.client.iq_set(DOMAIN, again, WAIT).expect("answered");
    assert_eq!(error_condition(&reply).as_deref(), Some("conflict"));

    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE at bob");
    incoming.ring().expect("180");
    event(&mut b, &call, "ringing");
    let peer = RtpPeer::tone(Codec::Pcmu, 1000.0);
    let negotiated = incoming.answer(peer.local_addr(), WAIT).expect("answer");
    peer.set_destination(negotiated.remote_rtp);
    event(&mut b, &call, "answered");
    incoming.hangup(WAIT).expect("BYE");
    let end = event(&mut b, &call, "end");
    assert_eq!(end.first_child().map(|r| r.name()), Some("hungup"), "{end}");
}

#[test]
fn a_busy_party_is_a_ref_then_end_busy_with_its_code() {
    let far = SipUa::bind();
    let mut b = bench(far.local_addr());
    let call = dial(&mut b, rayo("dial").attr("to", "tel:5123"));
    let mut incoming = far.wait_incoming(WAIT).expect("INVITE through the route");
    assert_eq!(incoming.number().as_deref(), Some("5123"));
    incoming.reject(486).expect("486");
    let end = event(&mut b, &call, "end");
    let reason = end.first_child().expect("a reason");
    assert_eq!(
        (reason.name(), reason.get_attr("platform-code")),
        ("busy", Some("486")),
        "{end}"
    );
}

#[test]
fn joined_calls_hear_each_other_and_a_hangup_unjoins_before_the_end() {
    let dave = SipUa::bind();
    let mut b = bench(dave.local_addr());
    // The inbound call, answered by the client.
    let caller = SipUa::bind();
    let caller_peer = RtpPeer::tone(Codec::Pcmu, 600.0);
    let mut inbound = caller.call(b.rayo.server.addr(), "100", caller_peer.local_addr());
    let offered = b.rayo.offer(&mut b.client);
    let a = offered.call.clone();
    b.rayo.ok(&mut b.client, &a, rayo("answer"));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    caller_peer.set_destination(inbound.negotiated().expect("SDP").remote_rtp);

    // The dialed call, answered by dave.
    let to = format!("sip:dave@{}", dave.local_addr());
    let d = dial(&mut b, rayo("dial").attr("to", to.as_str()));
    let dave_peer = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let mut incoming = dave.wait_incoming(WAIT).expect("INVITE at dave");
    let negotiated = incoming
        .answer(dave_peer.local_addr(), WAIT)
        .expect("answer");
    dave_peer.set_destination(negotiated.remote_rtp);
    event(&mut b, &d, "answered");

    let join = rayo("join").attr("call-uri", format!("xmpp:{d}"));
    let reply = b.client.command(&a, join, WAIT).expect("join answered");
    assert_eq!(
        reply.get_attr("type"),
        Some("result"),
        "{reply}\n{}",
        b.rayo.server.log()
    );
    let joined = event(&mut b, &a, "joined");
    assert_eq!(
        joined.get_attr("call-uri"),
        Some(format!("xmpp:{d}").as_str())
    );
    let joined = event(&mut b, &d, "joined");
    assert_eq!(
        joined.get_attr("call-uri"),
        Some(format!("xmpp:{a}").as_str())
    );

    caller_peer.clear_received();
    dave_peer.clear_received();
    assert!(caller_peer.wait_for_packets(40, WAIT));
    assert!(dave_peer.wait_for_packets(40, WAIT));
    assert!(
        is_near(caller_peer.heard_frequency(), 1300.0),
        "caller heard {:?}",
        caller_peer.heard_frequency()
    );
    assert!(
        is_near(dave_peer.heard_frequency(), 600.0),
        "dave heard {:?}",
        dave_peer.heard_frequency()
    );

    // Dave hangs up: the dialed call unjoins then ends; the inbound call
    // is unjoined and goes on.
    incoming.hangup(WAIT).expect("BYE");
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !seen.contains(&"end".to_owned()) && Instant::now() < deadline {
        let Some(p) = b
            .client
            .wait_presence(|p| p.get_attr("from") == Some(d.as_str()), WAIT)
        else {
            break;
        };
        let name = p
            .children()
            .find(|c| c.ns() == RAYO_NS)
            .map(|e| e.name().to_owned());
        seen.extend(name);
    }
    assert_eq!(seen, ["unjoined", "end"], "{}", b.rayo.server.log());
    event(&mut b, &a, "unjoined");
    b.rayo.ok(&mut b.client, &a, rayo("hangup"));
    assert!(inbound.wait_bye(WAIT).is_some());
}
