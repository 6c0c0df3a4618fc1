//! Dialed calls and joins, end to end over real sockets on 127.0.0.1.
//!
//! No adapter exposes dial yet, so the test assembles the server's core in
//! process (transports, SIP driver, pacer, call context) and drives
//! `CallContext::dial` and call commands directly; a test controller pool
//! takes the inbound calls. The far ends are testkit UAs with RTP peers
//! sending tones, and audio is checked by content.

mod common;

use std::time::{Duration, Instant};

use call_control::{
    Command, DialRequest, EndReason, Event, Failure, Join, JoinDirection, JoinTarget, Output,
};
use common::core::{Core, WAIT};
use switchboard::calls::{DialError, RegistryError};
use testkit::analysis::is_near;
use testkit::rtp_peer::RtpPeer;
use testkit::sip_ua::SipUa;
use testkit::Codec;

/// A join of `target` in `direction`.
fn join_cmd(target: JoinTarget, direction: JoinDirection) -> Command {
    Command::Join(Join { target, direction })
}

fn header<'a>(headers: &'a sip::Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn dial_to(to: String) -> DialRequest {
    DialRequest {
        to,
        from: None,
        call_id: None,
        timeout: None,
        headers: Vec::new(),
        join: None,
    }
}

#[test]
fn a_dialed_call_rings_is_answered_and_ends_when_the_party_hangs_up() {
    let bob = SipUa::bind();
    let mut core = Core::with_far_end(bob.local_addr());
    let mut request = dial_to(format!("sip:bob@{}", bob.local_addr()));
    request.call_id = Some("MyCall-1".into());
    request.from = Some("alice".into());
    request.headers = vec![("X-Campaign".into(), "spring".into())];
    let (id, call) = core.dial(request).expect("dial");
    assert_eq!(&*id, "mycall-1");
    assert!(core.ctx.registry.get("mycall-1").is_some());
    // The same id again is a conflict.
    let mut again = dial_to(format!("sip:bob@{}", bob.local_addr()));
    again.call_id = Some("mycall-1".into());
    assert!(matches!(
        core.dial(again),
        Err(DialError::Registry(RegistryError::Conflict(_)))
    ));

    let mut incoming = bob.wait_incoming(WAIT).expect("INVITE at bob");
    let invite = incoming.request().clone();
    assert_eq!(header(&invite.headers, "X-Campaign"), Some("spring"));
    assert!(invite
        .headers
        .get(sip::HeaderName::From)
        .is_some_and(|f| f.contains("sip:alice@")));
    incoming.ring().expect("180");
    assert!(matches!(core.event(call.key), Event::Ringing { .. }));

    // Answer and reject make no sense before the party answers.
    let answer = core.command(&call, Command::Answer { headers: vec![] });
    assert!(matches!(
        core.done(call.key, answer),
        Err(Failure::InvalidState(_))
    ));

    let peer = RtpPeer::tone(Codec::Pcmu, 1000.0);
    let negotiated = incoming
        .answer(peer.local_addr(), WAIT)
        .expect("answer and ACK");
    peer.set_destination(negotiated.remote_rtp);
    assert!(matches!(core.event(call.key), Event::Answered { .. }));
    // Our side paces silence toward the party.
    assert!(peer.wait_for_packets(10, WAIT), "no RTP from the server");
    let answer = core.command(&call, Command::Answer { headers: vec![] });
    assert_eq!(core.done(call.key, answer), Ok(Output::None));

    incoming.hangup(WAIT).expect("BYE");
    match core.event(call.key) {
        Event::Ended { reason, .. } => assert_eq!(reason, EndReason::CallerHangup),
        other => panic!("expected Ended, got {other:?}"),
    }
    let deadline = Instant::now() + WAIT;
    while core.ctx.registry.get("mycall-1").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(core.ctx.registry.get("mycall-1").is_none(), "entry left");
}

#[test]
fn a_busy_party_ends_the_dialed_call_with_486_through_the_route() {
    let far = SipUa::bind();
    let mut core = Core::with_far_end(far.local_addr());
    // A number goes through the route context: `5` stripped, the route's headers.
    let (_, call) = core.dial(dial_to("tel:5123".into())).expect("dial");
    let mut incoming = far.wait_incoming(WAIT).expect("INVITE at far");
    assert_eq!(incoming.number().as_deref(), Some("123"));
    assert_eq!(header(&incoming.request().headers, "X-Route"), Some("five"));
    incoming.reject(486).expect("486");
    match core.event(call.key) {
        Event::Ended { reason, code, .. } => {
            assert_eq!(reason, EndReason::Busy);
            assert_eq!(code, Some(486));
        }
        other => panic!("expected Ended, got {other:?}"),
    }
    // Local refusals are errors, not calls.
    assert!(matches!(
        core.dial(dial_to("4000".into())),
        Err(DialError::Refused { code: 403, .. })
    ));
    assert!(matches!(
        core.dial(dial_to("999".into())),
        Err(DialError::NoRoute(_))
    ));
    assert!(matches!(
        core.dial(dial_to("mailto:x@y".into())),
        Err(DialError::BadTarget(_))
    ));
}

#[test]
fn an_unanswered_dial_is_cancelled_at_its_timeout() {
    let far = SipUa::bind();
    let mut core = Core::with_far_end(far.local_addr());
    let mut request = dial_to(format!("sip:carol@{}", far.local_addr()));
    request.timeout = Some(Duration::from_millis(800));
    let (_, call) = core.dial(request).expect("dial");
    let mut incoming = far.wait_incoming(WAIT).expect("INVITE");
    incoming.ring().expect("180");
    assert!(matches!(core.event(call.key), Event::Ringing { .. }));
    assert!(incoming.wait_cancel(WAIT).is_some(), "no CANCEL");
    match core.event(call.key) {
        Event::Ended { reason, .. } => assert_eq!(reason, EndReason::Timeout),
        other => panic!("expected Ended, got {other:?}"),
    }
}

#[test]
fn a_joined_inbound_and_dialed_call_hear_each_other_until_one_hangs_up() {
    let callee = SipUa::bind();
    let caller = SipUa::bind();
    let mut core = Core::with_far_end(callee.local_addr());

    // The inbound call, taken and answered by the test controller.
    let caller_peer = RtpPeer::tone(Codec::Pcmu, 600.0);
    let mut inbound = caller.call(core.sip, "100", caller_peer.local_addr());
    let a = core.take_offer();
    let a_id = core
        .ctx
        .registry
        .id_of(a.key)
        .expect("the offered call has an id");
    let answer = core.command(&a, Command::Answer { headers: vec![] });
    assert_eq!(core.done(a.key, answer), Ok(Output::None));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    caller_peer.set_destination(inbound.negotiated().expect("caller SDP").remote_rtp);

    // The dialed call.
    let callee_peer = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let (b_id, b) = core
        .dial(dial_to(format!("sip:dave@{}", callee.local_addr())))
        .expect("dial");
    let mut incoming = callee.wait_incoming(WAIT).expect("INVITE");
    let negotiated = incoming
        .answer(callee_peer.local_addr(), WAIT)
        .expect("answer");
    callee_peer.set_destination(negotiated.remote_rtp);
    assert!(matches!(core.event(b.key), Event::Answered { .. }));

    // Joining itself or a missing call: refused.
    let own = core.command(
        &a,
        join_cmd(JoinTarget::Call(a_id.to_string()), JoinDirection::Duplex),
    );
    assert!(matches!(core.done(a.key, own), Err(Failure::BadRequest(_))));
    let missing = core.command(
        &a,
        join_cmd(JoinTarget::Call("nosuchcall".into()), JoinDirection::Duplex),
    );
    assert!(matches!(
        core.done(a.key, missing),
        Err(Failure::NotFound(_))
    ));

    let join = core.command(
        &a,
        join_cmd(JoinTarget::Call(b_id.to_string()), JoinDirection::Duplex),
    );
    // The result first, then `Joined`.
    assert_eq!(core.done(a.key, join), Ok(Output::None));
    match core.event(a.key) {
        Event::Joined { target, direction } => {
            assert_eq!(target, JoinTarget::Call(b_id.to_string()));
            assert_eq!(direction, JoinDirection::Duplex);
        }
        other => panic!("expected Joined, got {other:?}"),
    }
    match core.event(b.key) {
        Event::Joined { target, .. } => assert_eq!(target, JoinTarget::Call(a_id.to_string())),
        other => panic!("expected Joined, got {other:?}"),
    }

    // Each party hears the other's tone.
    caller_peer.clear_received();
    callee_peer.clear_received();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        is_near(caller_peer.heard_frequency(), 1300.0),
        "caller heard {:?}",
        caller_peer.heard_frequency()
    );
    assert!(
        is_near(callee_peer.heard_frequency(), 600.0),
        "callee heard {:?}",
        callee_peer.heard_frequency()
    );

    // Mute: the caller's tone no longer reaches the callee.
    let mute = core.command(&a, Command::Mute);
    assert_eq!(core.done(a.key, mute), Ok(Output::None));
    std::thread::sleep(Duration::from_millis(100));
    callee_peer.clear_received();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !is_near(callee_peer.heard_frequency(), 600.0),
        "muted audio still flows"
    );
    let unmute = core.command(&a, Command::Unmute);
    assert_eq!(core.done(a.key, unmute), Ok(Output::None));

    // Unjoin, then a one-way join: only the caller's audio reaches the callee.
    let unjoin = core.command(
        &a,
        Command::Unjoin {
            target: JoinTarget::Call(b_id.to_string()),
        },
    );
    assert!(matches!(core.event(a.key), Event::Unjoined { .. }));
    assert_eq!(core.done(a.key, unjoin), Ok(Output::None));
    assert!(matches!(core.event(b.key), Event::Unjoined { .. }));
    let send = core.command(
        &a,
        join_cmd(JoinTarget::Call(b_id.to_string()), JoinDirection::Send),
    );
    assert_eq!(core.done(a.key, send), Ok(Output::None));
    assert!(matches!(
        core.event(a.key),
        Event::Joined {
            direction: JoinDirection::Send,
            ..
        }
    ));
    assert!(matches!(
        core.event(b.key),
        Event::Joined {
            direction: JoinDirection::Recv,
            ..
        }
    ));
    std::thread::sleep(Duration::from_millis(100));
    caller_peer.clear_received();
    callee_peer.clear_received();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        is_near(callee_peer.heard_frequency(), 600.0),
        "one-way join: callee"
    );
    assert!(
        !is_near(caller_peer.heard_frequency(), 1300.0),
        "one-way join: the caller hears the callee"
    );
    assert!(
        caller_peer.received_count() > 10,
        "the caller hears no silence"
    );

    // The caller hangs up: the dialed call is unjoined and goes on.
    inbound.hangup(WAIT).expect("BYE");
    loop {
        match core.event(a.key) {
            Event::Unjoined { .. } => break,
            Event::Ended { .. } => panic!("Ended before Unjoined"),
            _ => {}
        }
    }
    assert!(matches!(core.event(a.key), Event::Ended { .. }));
    assert!(matches!(core.event(b.key), Event::Unjoined { .. }));
    callee_peer.clear_received();
    assert!(
        callee_peer.wait_for_packets(10, WAIT),
        "the dialed call's media stopped"
    );

    // Hangup with headers: they reach the BYE.
    let hangup = core.command(
        &b,
        Command::Hangup {
            headers: vec![("X-Why".into(), "done".into())],
        },
    );
    assert_eq!(core.done(b.key, hangup), Ok(Output::None));
    let bye = incoming.wait_bye(WAIT).expect("BYE at the callee");
    assert_eq!(header(&bye.headers, "X-Why"), Some("done"));
    assert!(matches!(core.event(b.key), Event::Ended { .. }));
}

#[test]
fn a_dial_with_join_is_joined_once_the_party_answers() {
    let callee = SipUa::bind();
    let caller = SipUa::bind();
    let mut core = Core::with_far_end(callee.local_addr());
    let caller_peer = RtpPeer::tone(Codec::Pcmu, 600.0);
    let mut inbound = caller.call(core.sip, "100", caller_peer.local_addr());
    let a = core.take_offer();
    let a_id = core.ctx.registry.id_of(a.key).expect("id");
    let answer = core.command(&a, Command::Answer { headers: vec![] });
    assert_eq!(core.done(a.key, answer), Ok(Output::None));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    caller_peer.set_destination(inbound.negotiated().expect("SDP").remote_rtp);

    let mut request = dial_to(format!("sip:erin@{}", callee.local_addr()));
    request.join = Some(Join {
        target: JoinTarget::Call("nosuchcall".into()),
        direction: JoinDirection::Duplex,
    });
    assert!(matches!(
        core.dial(request.clone()),
        Err(DialError::JoinTargetNotFound(_))
    ));
    request.join = Some(Join {
        target: JoinTarget::Call(a_id.to_string()),
        direction: JoinDirection::Duplex,
    });
    let (_, b) = core.dial(request).expect("dial");
    let callee_peer = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let mut incoming = callee.wait_incoming(WAIT).expect("INVITE");
    let negotiated = incoming
        .answer(callee_peer.local_addr(), WAIT)
        .expect("answer");
    callee_peer.set_destination(negotiated.remote_rtp);
    assert!(matches!(core.event(b.key), Event::Answered { .. }));
    assert!(matches!(core.event(b.key), Event::Joined { .. }));
    assert!(matches!(core.event(a.key), Event::Joined { .. }));
    std::thread::sleep(Duration::from_millis(100));
    callee_peer.clear_received();
    caller_peer.clear_received();
    std::thread::sleep(Duration::from_millis(600));
    assert!(is_near(callee_peer.heard_frequency(), 600.0), "callee");
    assert!(is_near(caller_peer.heard_frequency(), 1300.0), "caller");

    // The dialed party hangs up: the inbound call is unjoined, then goes on.
    incoming.hangup(WAIT).expect("BYE");
    assert!(matches!(core.event(b.key), Event::Unjoined { .. }));
    assert!(matches!(core.event(b.key), Event::Ended { .. }));
    assert!(matches!(core.event(a.key), Event::Unjoined { .. }));
    caller_peer.clear_received();
    assert!(caller_peer.wait_for_packets(10, WAIT), "silence resumes");
    inbound.hangup(WAIT).expect("BYE");
    assert!(matches!(core.event(a.key), Event::Ended { .. }));
}
