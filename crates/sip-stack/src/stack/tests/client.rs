//! The stack as UAC: retransmission schedules, timeouts, ACK and CANCEL generation.

use std::time::{Duration, Instant};

use sip::{HeaderName, Host, Message, Method, Request, TypedHeaders, Uri};

use super::*;
use crate::{StackEvent, TransactionId};

fn outgoing(method: Method, body: &str) -> Request {
    let mut r = Request::new(
        method,
        Uri::sip(
            Some("alice"),
            Host::V4([198, 51, 100, 7].into()),
            Some(5060),
        ),
    );
    r.headers
        .push_known(HeaderName::From, "<sip:bob@192.0.2.1>");
    r.headers
        .push_known(HeaderName::To, "<sip:alice@198.51.100.7>");
    r.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.1:5060>");
    if !body.is_empty() {
        r.headers
            .push_known(HeaderName::ContentType, "application/sdp");
        r.body = body.as_bytes().to_vec();
    }
    r
}

fn sent_request(drained: &Drained) -> Request {
    match parse(&drained.sent[0].bytes) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

/// The peer's response to `request` as wire text (Via, From, To+tag, Call-ID, CSeq copied).
fn reply(request: &Request, status: u16, contact: bool) -> String {
    let mut response = crate::make_response(request, status);
    if contact {
        response
            .headers
            .push_known(HeaderName::Contact, "<sip:alice@198.51.100.7:5060>");
    }
    String::from_utf8(response.to_bytes()).expect("ASCII")
}

fn timeouts(log: &[(f64, Drained)]) -> Vec<f64> {
    log.iter()
        .filter(|(_, d)| {
            d.events.iter().any(|e| {
                matches!(
                    e,
                    StackEvent::Timeout {
                        transaction: TransactionId::Client(_)
                    }
                )
            })
        })
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn invite_over_udp_retransmits_at_doubling_intervals_and_times_out_at_32s() {
    let t0 = Instant::now();
    let mut stack = stack();
    stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), udp_peer())
        .expect("sent");
    let first = drain(&mut stack);
    let invite = sent_request(&first);
    let via = invite.headers.top_via().expect("our Via");
    assert!(via.has_rfc3261_branch());
    assert_eq!(via.rport(), Some(None), "we ask for rport");
    assert!(
        crate::wire::tag_of(&invite.headers, HeaderName::From).is_some(),
        "From tag added"
    );
    assert!(invite.headers.get(HeaderName::CallId).is_some());
    assert_eq!(invite.headers.get(HeaderName::CSeq), Some("1 INVITE"));

    let log = run_until(&mut stack, t0, Duration::from_secs(40));
    assert_eq!(send_times(&log), [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]);
    assert_eq!(timeouts(&log), [32.0]);
    assert_drained(&mut stack);
}

#[test]
fn requests_after_set_via_carry_the_new_address() {
    let t0 = Instant::now();
    let mut stack = stack();
    stack
        .send_request(t0, outgoing(Method::Options, ""), udp_peer())
        .expect("sent");
    let before = sent_request(&drain(&mut stack));
    stack.set_via(Host::Domain("pbx.example.com".into()), Some(5090));
    stack
        .send_request(t0, outgoing(Method::Options, ""), udp_peer())
        .expect("sent");
    let after = sent_request(&drain(&mut stack));
    let sent_by = |request: &sip::Request| {
        let via = request.headers.get(HeaderName::Via).expect("our Via");
        via.split_whitespace()
            .nth(1)
            .map(|s| s.split(';').next().unwrap_or(s).to_owned())
    };
    assert_ne!(sent_by(&before).as_deref(), Some("pbx.example.com:5090"));
    assert_eq!(sent_by(&after).as_deref(), Some("pbx.example.com:5090"));
}

#[test]
fn invite_over_tcp_is_not_retransmitted() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tcp = crate::Destination {
        transport: crate::Transport::Tcp,
        ..udp_peer()
    };
    stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), tcp)
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    assert!(invite
        .headers
        .get(HeaderName::Via)
        .is_some_and(|v| v.starts_with("SIP/2.0/TCP")));
    let log = run_until(&mut stack, t0, Duration::from_secs(40));
    assert!(send_times(&log).is_empty());
    assert_eq!(timeouts(&log), [32.0]);
}

#[test]
fn non_invite_retransmits_capped_at_t2_and_times_out_at_32s() {
    let t0 = Instant::now();
    let mut stack = stack();
    stack
        .send_request(t0, outgoing(Method::Options, ""), udp_peer())
        .expect("sent");
    drain(&mut stack);
    let log = run_until(&mut stack, t0, Duration::from_secs(40));
    assert_eq!(
        send_times(&log),
        [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert_eq!(timeouts(&log), [32.0]);
    assert_drained(&mut stack);
}

#[test]
fn busy_is_acked_by_the_transaction_and_reported_once() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tx = stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), udp_peer())
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    let busy = reply(&invite, 486, false);
    feed(&mut stack, t0 + Duration::from_millis(200), &busy, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.methods(), ["ACK"]);
    assert!(
        matches!(&out.events[..], [StackEvent::Response { transaction, response, dialog: None }] if *transaction == tx && response.status == 486)
    );
    feed(&mut stack, t0 + Duration::from_millis(700), &busy, PEER);
    let again = drain(&mut stack);
    assert_eq!(again.methods(), ["ACK"], "re-ACKed");
    assert!(again.events.is_empty(), "not reported twice");
    run_until(&mut stack, t0, Duration::from_secs(60));
    assert_drained(&mut stack);
}

#[test]
fn cancel_waits_for_a_provisional_then_the_invite_ends_with_487() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tx = stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), udp_peer())
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    stack.cancel(t0, tx).expect("cancellable");
    assert!(
        drain(&mut stack).sent.is_empty(),
        "no CANCEL before a provisional (§9.1)"
    );

    feed(
        &mut stack,
        t0 + Duration::from_millis(100),
        &reply(&invite, 180, false),
        PEER,
    );
    let out = drain(&mut stack);
    assert_eq!(out.methods(), ["CANCEL"]);
    let cancel = sent_request(&out);
    assert_eq!(
        cancel
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string)),
        invite
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string)),
        "CANCEL reuses the INVITE's branch"
    );
    assert_eq!(cancel.headers.get(HeaderName::CSeq), Some("1 CANCEL"));

    // The peer answers the CANCEL (silently consumed) and the INVITE with 487.
    feed(
        &mut stack,
        t0 + Duration::from_millis(200),
        &reply(&cancel, 200, false),
        PEER,
    );
    assert!(
        drain(&mut stack).events.is_empty(),
        "the CANCEL's 200 is the stack's business"
    );
    feed(
        &mut stack,
        t0 + Duration::from_millis(210),
        &reply(&invite, 487, false),
        PEER,
    );
    let out = drain(&mut stack);
    assert_eq!(out.methods(), ["ACK"]);
    assert!(
        matches!(&out.events[..], [StackEvent::Response { response, .. }] if response.status == 487)
    );
    run_until(&mut stack, t0, Duration::from_secs(60));
    assert_drained(&mut stack);
}

#[test]
fn answer_is_acked_automatically_and_its_retransmissions_re_acked() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tx = stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), udp_peer())
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    let ok = reply(&invite, 200, true);
    feed(&mut stack, t0 + Duration::from_millis(300), &ok, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.methods(), ["ACK"]);
    let ack = sent_request(&out);
    assert_eq!(
        ack.uri.to_string(),
        "sip:alice@198.51.100.7:5060",
        "ACK goes to the Contact"
    );
    assert_eq!(ack.headers.get(HeaderName::CSeq), Some("1 ACK"));
    assert_ne!(
        ack.headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string)),
        invite
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_string)),
        "ACK for 2xx is a new transaction-less request"
    );
    let dialog = match &out.events[..] {
        [StackEvent::Response {
            transaction,
            dialog: Some(d),
            ..
        }] if *transaction == tx => d.clone(),
        other => panic!("unexpected {other:?}"),
    };
    // Retransmitted 2xx while the transaction is Accepted, and after it is gone.
    for at in [1, 40] {
        run_until(&mut stack, t0, Duration::from_secs(at));
        feed(&mut stack, t0 + Duration::from_secs(at), &ok, PEER);
        let again = drain(&mut stack);
        assert_eq!(again.sent.len(), 1);
        assert_eq!(again.sent[0].bytes, out.sent[0].bytes, "the same ACK again");
        assert!(again.events.is_empty());
    }
    assert_eq!(stack.transaction_count(), 0);
    assert!(stack.dialog(&dialog).is_some());
}

#[test]
fn invite_without_offer_leaves_the_ack_to_the_user() {
    let t0 = Instant::now();
    let mut stack = stack();
    stack
        .send_request(t0, outgoing(Method::Invite, ""), udp_peer())
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    feed(&mut stack, t0, &reply(&invite, 200, true), PEER);
    let out = drain(&mut stack);
    assert!(
        out.sent.is_empty(),
        "no automatic ACK: it must carry the answer"
    );
    let dialog = match &out.events[..] {
        [StackEvent::Response {
            dialog: Some(d), ..
        }] => d.clone(),
        other => panic!("unexpected {other:?}"),
    };
    stack
        .send_ack(t0, &dialog, "application/sdp", b"v=0\r\n".to_vec())
        .expect("ACK owed");
    let ack = sent_request(&drain(&mut stack));
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.body, b"v=0\r\n");
    assert_eq!(
        stack.send_ack(t0, &dialog, "", Vec::new()),
        Err(crate::StackError::NoAckOwed)
    );
}

#[test]
fn in_dialog_bye_ends_the_dialog_on_its_final_response() {
    let t0 = Instant::now();
    let mut stack = stack();
    stack
        .send_request(t0, outgoing(Method::Invite, "v=0\r\n"), udp_peer())
        .expect("sent");
    let invite = sent_request(&drain(&mut stack));
    feed(&mut stack, t0, &reply(&invite, 200, true), PEER);
    let dialog = match &drain(&mut stack).events[..] {
        [StackEvent::Response {
            dialog: Some(d), ..
        }] => d.clone(),
        other => panic!("unexpected {other:?}"),
    };
    let bye = stack
        .new_in_dialog_request(&dialog, Method::Bye)
        .expect("dialog exists");
    assert_eq!(bye.headers.get(HeaderName::CSeq), Some("2 BYE"));
    stack.send_in_dialog(t0, &dialog, bye).expect("sent");
    let sent = sent_request(&drain(&mut stack));
    assert_eq!(sent.uri.to_string(), "sip:alice@198.51.100.7:5060");
    feed(&mut stack, t0, &reply(&sent, 200, false), PEER);
    assert!(
        matches!(&drain(&mut stack).events[..], [StackEvent::Response { response, .. }] if response.status == 200)
    );
    assert_eq!(stack.dialog_count(), 0);
    run_until(&mut stack, t0, Duration::from_secs(60));
    assert_drained(&mut stack);
}

#[test]
fn ack_and_cancel_are_refused_as_plain_requests() {
    let t0 = Instant::now();
    let mut stack = stack();
    assert_eq!(
        stack.send_request(t0, outgoing(Method::Ack, ""), udp_peer()),
        Err(crate::StackError::WrongCommand("ACK"))
    );
    let mut no_to = outgoing(Method::Options, "");
    no_to.headers.remove(HeaderName::To);
    assert_eq!(
        stack.send_request(t0, no_to, udp_peer()),
        Err(crate::StackError::BadHeader("To"))
    );
}

#[test]
fn user_request_with_a_stale_content_length_goes_out_consistent() {
    let t0 = Instant::now();
    let mut stack = stack();
    let mut invite = outgoing(Method::Invite, "v=0\r\n");
    invite.headers.push_known(HeaderName::ContentLength, "0");
    stack
        .send_request(t0, invite, udp_peer())
        .expect("INVITE sent");
    let sent = sent_request(&drain(&mut stack));
    assert_eq!(sent.body, b"v=0\r\n");
    assert_eq!(sent.content_length(), Ok(Some(5)));
}
