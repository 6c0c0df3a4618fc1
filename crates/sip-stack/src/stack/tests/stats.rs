//! The message counters: a call answered, retransmitted and hung up, as a
//! metrics scrape would see it.

use std::time::{Duration, Instant};

use sip::{HeaderName, Method};

use super::*;
use crate::make_response;

#[test]
fn an_answered_call_counts_its_messages_retransmissions_and_transactions() {
    let t0 = Instant::now();
    let mut stack = stack();
    assert_eq!(stack.stats(), crate::StackStats::default());

    let invite = peer_invite("z9hG4bKst", "");
    feed(&mut stack, t0, &invite, PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    let stats = stack.stats();
    assert_eq!(stats.requests_received.get(&Method::Invite), 1);
    assert_eq!(stats.responses_sent.get(100), 1, "100 Trying at once");
    assert_eq!(stats.transactions, 1);

    // A retransmitted INVITE: received again, its 100 repeated.
    feed(&mut stack, t0 + Duration::from_millis(200), &invite, PEER);
    drain(&mut stack);
    let stats = stack.stats();
    assert_eq!(stats.requests_received.get(&Method::Invite), 2);
    assert_eq!(stats.responses_sent.get(100), 2);
    assert_eq!(stats.retransmissions_sent, 1);

    let mut ok = make_response(&request, 200);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.1:5060>");
    stack.respond(t0, tx, ok).expect("answer");
    let tag = to_tag(&drain(&mut stack).responses()[0]);
    // No ACK for a while: the 2xx goes out again at 0.5 s and 1.5 s.
    run_until(&mut stack, t0, Duration::from_secs(2));
    let stats = stack.stats();
    assert_eq!(stats.responses_sent.get(200), 3);
    assert_eq!(stats.retransmissions_sent, 3);
    assert_eq!(stats.dialogs, 1);

    let ack = peer_in_dialog(
        "ACK",
        1,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKsta",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(2), &ack, PEER);
    let bye = peer_in_dialog(
        "BYE",
        2,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKstb",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(3), &bye, PEER);
    let (bye_tx, bye_request) = new_request(&drain(&mut stack));
    stack
        .respond(
            t0 + Duration::from_secs(3),
            bye_tx,
            make_response(&bye_request, 200),
        )
        .expect("bye answered");
    drain(&mut stack);
    // Garbage: not a message, so no message counter moves.
    feed(&mut stack, t0 + Duration::from_secs(3), "\u{1}\u{2}", PEER);

    let stats = stack.stats();
    assert_eq!(stats.requests_received.get(&Method::Ack), 1);
    assert_eq!(stats.requests_received.get(&Method::Bye), 1);
    assert_eq!(stats.requests_received.total(), 4);
    assert_eq!(
        stats.responses_sent.get(200),
        4,
        "three for the INVITE, one for the BYE"
    );
    assert_eq!(stats.requests_sent.total(), 0);
    assert_eq!(stats.retransmissions_sent, 3);
    assert_eq!(stats.responses_received.total(), 0);
    run_until(&mut stack, t0, Duration::from_secs(60));
    drain(&mut stack);
    assert_eq!(stack.stats().transactions, 0);
    assert_eq!(stack.stats().dialogs, 0);
}

#[test]
fn a_sent_invite_counts_its_timer_retransmissions_the_answer_and_a_repeated_ack() {
    let t0 = Instant::now();
    let mut stack = stack();
    let mut invite = sip::Request::new(
        Method::Invite,
        sip::Uri::sip(
            Some("alice"),
            sip::Host::V4([198, 51, 100, 7].into()),
            Some(5060),
        ),
    );
    invite
        .headers
        .push_known(HeaderName::From, "<sip:bob@192.0.2.1>");
    invite
        .headers
        .push_known(HeaderName::To, "<sip:alice@198.51.100.7>");
    stack.send_request(t0, invite, udp_peer()).expect("sent");
    let sent = drain(&mut stack);
    // Timer A: again at 0.5 s and 1.5 s.
    run_until(&mut stack, t0, Duration::from_secs(2));
    let stats = stack.stats();
    assert_eq!(stats.requests_sent.get(&Method::Invite), 3);
    assert_eq!(stats.retransmissions_sent, 2);
    let request = match parse(&sent.sent[0].bytes) {
        sip::Message::Request(r) => r,
        sip::Message::Response(_) => panic!("a request"),
    };
    let busy = String::from_utf8(make_response(&request, 486).to_bytes()).expect("ASCII");
    feed(&mut stack, t0 + Duration::from_secs(2), &busy, PEER);
    drain(&mut stack);
    let stats = stack.stats();
    assert_eq!(stats.responses_received.get(486), 1);
    assert_eq!(
        stats.requests_sent.get(&Method::Ack),
        1,
        "the ACK for the 486"
    );
    assert_eq!(stats.retransmissions_sent, 2);

    // The 486 again (our ACK was lost): the ACK goes out again, a repeat.
    feed(&mut stack, t0 + Duration::from_secs(3), &busy, PEER);
    assert_eq!(drain(&mut stack).sent.len(), 1, "the ACK again");
    let stats = stack.stats();
    assert_eq!(stats.responses_received.get(486), 2);
    assert_eq!(stats.requests_sent.get(&Method::Ack), 2);
    assert_eq!(stats.retransmissions_sent, 3, "the repeated ACK");
}
