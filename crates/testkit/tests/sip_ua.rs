//! Two `SipUa`s calling each other over 127.0.0.1: no server involved.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::analysis;
use testkit::sip_ua::SipUa;
use testkit::{RtpPeer, Source};

const WAIT: Duration = Duration::from_secs(3);

fn rtp(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn call_ring_answer_negotiate_hangup() {
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "100", rtp(40_000));
    let mut incoming = bob.wait_incoming(WAIT).expect("bob gets the INVITE");
    assert_eq!(incoming.number().as_deref(), Some("100"));
    assert!(incoming.offer().is_some(), "INVITE carries an offer");
    assert_eq!(call.wait_response(WAIT), Some(100));

    incoming.ring().expect("180");
    assert_eq!(call.wait_response(WAIT), Some(180));

    let bob_side = incoming
        .answer(rtp(40_002), WAIT)
        .expect("answered and ACKed");
    assert_eq!(bob_side.remote_rtp, rtp(40_000));
    assert_eq!(call.wait_response(WAIT), Some(200));
    let alice_side = call.negotiated().expect("answer processed");
    assert_eq!(alice_side.codec, sdp::Codec::Pcmu);
    assert_eq!(alice_side.remote_rtp, rtp(40_002));
    assert_eq!(alice_side.telephone_event, Some(sdp::TELEPHONE_EVENT_PT));

    assert_eq!(call.hangup(WAIT).expect("BYE answered"), 200);
    assert!(incoming.wait_bye(WAIT).is_some(), "bob sees the BYE");
}

#[test]
fn callee_hangs_up() {
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "200", rtp(40_010));
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE");
    incoming.answer(rtp(40_012), WAIT).expect("answered");
    assert_eq!(call.wait_final(WAIT), Some(200));
    assert_eq!(incoming.hangup(WAIT).expect("BYE answered"), 200);
    assert!(call.wait_bye(WAIT).is_some(), "alice sees the BYE");
}

#[test]
fn reject_486_reaches_the_caller() {
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "666", rtp(40_020));
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE");
    incoming.reject(486).expect("486 sent");
    assert_eq!(call.wait_final(WAIT), Some(486));
    assert!(call.negotiated().is_err(), "no answer after a 486");
    assert!(call.hangup(WAIT).is_err(), "no dialog to hang up");
}

#[test]
fn cancel_while_ringing_gives_487() {
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "300", rtp(40_030));
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE");
    incoming.ring().expect("180");
    assert_eq!(call.wait_response(WAIT), Some(100));
    assert_eq!(call.wait_response(WAIT), Some(180));
    call.cancel().expect("CANCEL sent");
    assert!(incoming.wait_cancel(WAIT).is_some(), "bob sees the CANCEL");
    assert_eq!(call.wait_final(WAIT), Some(487));
}

#[test]
fn no_answer_from_a_silent_peer_times_out_without_hanging() {
    let alice = SipUa::bind();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut call = alice.call(silent.local_addr().expect("addr"), "1", rtp(40_040));
    assert_eq!(call.wait_response(Duration::from_millis(300)), None);
}

#[test]
fn tone_flows_both_ways_between_the_negotiated_addresses() {
    let alice_rtp = RtpPeer::bind();
    let bob_rtp = RtpPeer::bind();
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "400", alice_rtp.local_addr());
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE");
    let bob_side = incoming
        .answer(bob_rtp.local_addr(), WAIT)
        .expect("answered");
    assert_eq!(call.wait_final(WAIT), Some(200));
    let alice_side = call.negotiated().expect("negotiated");

    alice_rtp.set_source(Source::Tone {
        frequency: 1000.0,
        dbm0: -10.0,
    });
    alice_rtp.set_destination(alice_side.remote_rtp);
    bob_rtp.set_source(Source::Tone {
        frequency: 400.0,
        dbm0: -10.0,
    });
    bob_rtp.set_destination(bob_side.remote_rtp);
    assert!(bob_rtp.wait_for_packets(25, WAIT), "bob receives RTP");
    assert!(alice_rtp.wait_for_packets(25, WAIT), "alice receives RTP");

    let at_bob = analysis::decode_audio(&bob_rtp.received());
    let at_alice = analysis::decode_audio(&alice_rtp.received());
    let hz = |s: &[i16]| analysis::dominant_frequency(s, 8000).unwrap_or(0.0);
    assert!((hz(&at_bob) - 1000.0).abs() < 20.0, "{}", hz(&at_bob));
    assert!((hz(&at_alice) - 400.0).abs() < 20.0, "{}", hz(&at_alice));

    assert_eq!(call.hangup(WAIT).expect("BYE"), 200);
    assert!(incoming.wait_bye(WAIT).is_some());
}

#[test]
fn dropping_the_ua_stops_it_quickly_and_its_handles_fail() {
    let alice = SipUa::bind();
    let bob = SipUa::bind();
    let mut call = alice.call(bob.local_addr(), "500", rtp(40_050));
    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE");
    incoming.answer(rtp(40_052), WAIT).expect("answered");
    assert_eq!(call.wait_final(WAIT), Some(200));

    let started = std::time::Instant::now();
    drop(alice);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "drop is quick"
    );
    assert!(call.hangup(WAIT).is_err(), "the UA thread is gone");
}
