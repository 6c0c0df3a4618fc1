//! The stack as UAS: matching, absorbing retransmissions, CANCEL, routing responses.

use std::time::{Duration, Instant};

use sip::{HeaderName, Message, TypedHeaders};

use super::*;
use crate::{make_response, StackEvent, TransactionId};

#[test]
fn invite_gets_100_at_once_and_retransmissions_never_create_a_second_transaction() {
    let t0 = Instant::now();
    let mut stack = stack();
    let invite = peer_invite("z9hG4bKinv1", "");
    feed(&mut stack, t0, &invite, PEER);
    let first = drain(&mut stack);
    assert_eq!(first.statuses(), [100]);
    let (tx, _) = new_request(&first);

    feed(&mut stack, t0 + Duration::from_millis(500), &invite, PEER);
    let again = drain(&mut stack);
    assert_eq!(again.statuses(), [100], "last provisional re-sent");
    assert!(again.events.is_empty(), "no second Request event");
    assert_eq!(stack.transaction_count(), 1);

    let request = stack.server_request(tx).expect("live transaction").clone();
    stack
        .respond(t0, tx, make_response(&request, 180))
        .expect("ringing");
    assert_eq!(drain(&mut stack).statuses(), [180]);
    feed(&mut stack, t0 + Duration::from_millis(1500), &invite, PEER);
    assert_eq!(
        drain(&mut stack).statuses(),
        [180],
        "now the 180 is the last response"
    );
}

#[test]
fn responses_follow_received_and_rport() {
    let t0 = Instant::now();
    let mut stack = stack();
    // Behind NAT: sent-by says 10.0.0.5:5060, the packet came from 203.0.113.9:40000.
    let natted = peer_invite("z9hG4bKnat", ";rport")
        .replace("198.51.100.7:5060;branch", "10.0.0.5:5060;branch");
    feed(&mut stack, t0, &natted, "203.0.113.9:40000");
    let out = drain(&mut stack);
    assert_eq!(out.sent[0].destination, addr("203.0.113.9:40000"));
    let via = out.responses()[0]
        .headers
        .get(HeaderName::Via)
        .expect("Via copied")
        .to_string();
    assert!(via.contains("received=203.0.113.9"), "{via}");
    assert!(via.contains("rport=40000"), "{via}");
    let (_, request) = new_request(&out);
    assert!(request
        .headers
        .get(HeaderName::Via)
        .is_some_and(|v| v.contains("rport=40000")));

    // Without rport: source IP, but the Via port.
    let plain =
        peer_invite("z9hG4bKplain", "").replace("198.51.100.7:5060;branch", "10.0.0.5:5070;branch");
    feed(&mut stack, t0, &plain, "203.0.113.9:40001");
    let out = drain(&mut stack);
    assert_eq!(out.sent[0].destination, addr("203.0.113.9:5070"));

    // TCP: back over the same connection.
    let tcp = peer_invite("z9hG4bKtcp", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    feed_tcp(&mut stack, t0, &tcp, "198.51.100.7:51000", 42);
    let out = drain(&mut stack);
    assert_eq!(out.sent[0].connection, Some(crate::ConnectionId(42)));
    assert_eq!(out.sent[0].destination, addr("198.51.100.7:51000"));
}

#[test]
fn cancel_answers_200_and_487_and_tells_the_user() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKc1", ""), PEER);
    let (invite_tx, _) = new_request(&drain(&mut stack));
    let cancel = sip_text(
        &[
            "CANCEL sip:bob@192.0.2.1 SIP/2.0",
            "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc1",
            "Max-Forwards: 70",
            "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
            "To: <sip:bob@192.0.2.1>",
            "Call-ID: call-abc@198.51.100.7",
            "CSeq: 1 CANCEL",
        ],
        "",
    );
    feed(&mut stack, t0 + Duration::from_secs(1), &cancel, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.statuses(), [200, 487]);
    assert_eq!(
        out.responses()[0].cseq().ok().map(|c| c.method),
        Some(sip::Method::Cancel)
    );
    assert!(
        matches!(&out.events[..], [StackEvent::Cancelled { transaction, .. }] if *transaction == invite_tx)
    );
    assert_eq!(
        stack.respond(t0, invite_tx, sip::Response::new(200)),
        Err(crate::StackError::AlreadyAnswered)
    );

    // A retransmitted CANCEL gets the same 200 from memory.
    feed(&mut stack, t0 + Duration::from_millis(1500), &cancel, PEER);
    assert_eq!(drain(&mut stack).statuses(), [200]);

    // The ACK for the 487 is absorbed: no event, no output.
    let to_tag = to_tag(&out.responses()[1]);
    let ack = peer_in_dialog(
        "ACK",
        1,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKc1",
        &to_tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(2), &ack, PEER);
    let after_ack = drain(&mut stack);
    assert!(after_ack.sent.is_empty() && after_ack.events.is_empty());

    // Everything drains: Timer I (5 s) for the INVITE, Timer J (32 s) for the CANCEL.
    run_until(&mut stack, t0, Duration::from_secs(60));
    assert_drained(&mut stack);

    // A CANCEL that matches nothing gets 481.
    feed(
        &mut stack,
        t0 + Duration::from_secs(61),
        &cancel.replace("z9hG4bKc1", "z9hG4bKnone"),
        PEER,
    );
    assert_eq!(drain(&mut stack).statuses(), [481]);
}

#[test]
fn non_2xx_final_is_retransmitted_until_ack_and_times_out_without_it() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKg", ""), PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    stack
        .respond(t0, tx, make_response(&request, 486))
        .expect("busy");
    assert_eq!(drain(&mut stack).statuses(), [486]);
    let log = run_until(&mut stack, t0, Duration::from_secs(40));
    assert_eq!(
        send_times(&log),
        [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    let timeouts: Vec<f64> = log
        .iter()
        .filter(|(_, d)| d.events.iter().any(|e| matches!(e, StackEvent::Timeout { transaction: TransactionId::Server(t) } if *t == tx)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(timeouts, [32.0], "Timer H");
    assert_drained(&mut stack);
}

/// Answers `peer_invite` with 200 and ACKs it; returns our To tag.
fn establish(stack: &mut SipStack, t0: Instant) -> String {
    feed(stack, t0, &peer_invite("z9hG4bKest", ""), PEER);
    let (tx, request) = new_request(&drain(stack));
    let mut ok = make_response(&request, 200);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.1:5060>");
    stack.respond(t0, tx, ok).expect("answer");
    let out = drain(stack);
    assert_eq!(out.statuses(), [200]);
    let tag = to_tag(&out.responses()[0]);
    let ack = peer_in_dialog(
        "ACK",
        1,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKack",
        &tag,
    );
    feed(stack, t0 + Duration::from_millis(100), &ack, PEER);
    let acked = drain(stack);
    assert!(
        matches!(&acked.events[..], [StackEvent::Ack { .. }]),
        "{:?}",
        acked.events
    );
    tag
}

#[test]
fn answer_retransmissions_stop_at_the_ack() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKok", ""), PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    let mut ok = make_response(&request, 200);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.1:5060>");
    stack.respond(t0, tx, ok).expect("answer");
    let tag = to_tag(&drain(&mut stack).responses()[0]);
    let log = run_until(&mut stack, t0, Duration::from_secs(4));
    assert_eq!(send_times(&log), [0.5, 1.5, 3.5]);
    let ack = peer_in_dialog(
        "ACK",
        1,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKack2",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(4), &ack, PEER);
    assert!(matches!(
        &drain(&mut stack).events[..],
        [StackEvent::Ack { .. }]
    ));
    // A retransmitted ACK is silent.
    feed(&mut stack, t0 + Duration::from_secs(5), &ack, PEER);
    let dup = drain(&mut stack);
    assert!(dup.events.is_empty() && dup.sent.is_empty());
    let log = run_until(&mut stack, t0, Duration::from_secs(60));
    assert!(send_times(&log).is_empty(), "no 2xx after the ACK");
    assert_eq!(stack.dialog_count(), 1);
    assert_eq!(
        stack.transaction_count(),
        0,
        "Timer L ended the INVITE transaction"
    );
}

#[test]
fn unacknowledged_answer_ends_the_dialog_with_bye_after_64_t1() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKnoack", ""), PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    let mut ok = make_response(&request, 200);
    ok.headers
        .push_known(HeaderName::Contact, "<sip:bob@192.0.2.1:5060>");
    stack.respond(t0, tx, ok).expect("answer");
    drain(&mut stack);
    let log = run_until(&mut stack, t0, Duration::from_secs(32));
    let (at, last) = log.last().expect("something happened");
    assert_eq!(*at, 32.0);
    assert_eq!(last.methods(), ["BYE"]);
    let bye = match parse(&last.sent[0].bytes) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected the BYE"),
    };
    assert_eq!(
        bye.uri.to_string(),
        "sip:alice@198.51.100.7:5060",
        "sent to the remote target"
    );
    assert_eq!(last.sent[0].destination, addr(PEER));
    assert!(matches!(
        &last.events[..],
        [StackEvent::DialogTerminated {
            reason: crate::DialogEndReason::AckTimeout,
            ..
        }]
    ));
    assert_eq!(stack.dialog_count(), 0);
    // The stack's own BYE retransmits and times out silently; then all is gone.
    let rest = run_until(&mut stack, t0, Duration::from_secs(120));
    assert!(rest.iter().all(|(_, d)| d.events.is_empty()));
    assert_drained(&mut stack);
}

#[test]
fn rfc2543_bye_without_branch_is_matched_and_its_retransmission_absorbed() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tag = establish(&mut stack, t0);
    // SIPp's stock UAC scenario: BYE whose Via has no branch at all.
    let bye = peer_in_dialog("BYE", 2, "SIP/2.0/UDP 198.51.100.7:5060", &tag);
    feed(&mut stack, t0 + Duration::from_secs(1), &bye, PEER);
    let out = drain(&mut stack);
    let (tx, request) = new_request(&out);
    assert!(matches!(
        &out.events[0],
        StackEvent::Request {
            dialog: Some(_),
            ..
        }
    ));
    assert_eq!(stack.dialog_count(), 0, "BYE ends the dialog");
    stack
        .respond(t0, tx, make_response(&request, 200))
        .expect("ok");
    assert_eq!(drain(&mut stack).statuses(), [200]);
    feed(&mut stack, t0 + Duration::from_secs(2), &bye, PEER);
    let again = drain(&mut stack);
    assert_eq!(again.statuses(), [200], "answered from the transaction");
    assert!(again.events.is_empty());
    run_until(&mut stack, t0, Duration::from_secs(60));
    assert_drained(&mut stack);
}

#[test]
fn in_dialog_requests_for_unknown_dialogs_get_481_and_old_cseq_500() {
    let t0 = Instant::now();
    let mut stack = stack();
    let unknown = peer_in_dialog(
        "BYE",
        2,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKu",
        "nosuchtag",
    );
    feed(&mut stack, t0, &unknown, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.statuses(), [481]);
    assert!(out.events.is_empty());

    let tag = establish(&mut stack, t0);
    let info = peer_in_dialog(
        "INFO",
        5,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKi5",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(1), &info, PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    stack
        .respond(t0, tx, make_response(&request, 200))
        .expect("ok");
    drain(&mut stack);
    let stale = peer_in_dialog(
        "INFO",
        4,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKi4",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(2), &stale, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.statuses(), [500]);
    assert!(out.events.is_empty());
}

#[test]
fn reinvite_refreshes_the_remote_target() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tag = establish(&mut stack, t0);
    let reinvite = sip_text(
        &[
            "INVITE sip:bob@192.0.2.1:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKre",
            "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
            &format!("To: <sip:bob@192.0.2.1>;tag={tag}"),
            "Call-ID: call-abc@198.51.100.7",
            "CSeq: 2 INVITE",
            "Contact: <sip:alice@198.51.100.99:5080>",
        ],
        "",
    );
    feed(&mut stack, t0 + Duration::from_secs(1), &reinvite, PEER);
    let out = drain(&mut stack);
    let dialog_id = match &out.events[..] {
        [StackEvent::Request {
            dialog: Some(id), ..
        }] => id.clone(),
        other => panic!("unexpected {other:?}"),
    };
    let dialog = stack.dialog(&dialog_id).expect("dialog");
    assert_eq!(
        dialog.remote_target().to_string(),
        "sip:alice@198.51.100.99:5080"
    );
    assert_eq!(dialog.remote_seq(), Some(2));
}

#[test]
fn full_table_answers_503_without_state() {
    let t0 = Instant::now();
    let mut stack = stack();
    let mut config = stack.config().clone();
    config.max_transactions = 1;
    stack = SipStack::new(config);
    feed(&mut stack, t0, &peer_invite("z9hG4bKfull1", ""), PEER);
    drain(&mut stack);
    feed(
        &mut stack,
        t0,
        &peer_invite("z9hG4bKfull2", "").replace("call-abc", "call-def"),
        PEER,
    );
    let out = drain(&mut stack);
    assert_eq!(out.statuses(), [503]);
    assert!(out.events.is_empty());
    assert_eq!(stack.transaction_count(), 1);
}

#[test]
fn malformed_request_gets_400_and_stray_ack_is_dropped() {
    let t0 = Instant::now();
    let mut stack = stack();
    let broken = peer_invite("z9hG4bKbad", "").replace("CSeq: 1 INVITE", "CSeq: one INVITE");
    feed(&mut stack, t0, &broken, PEER);
    let out = drain(&mut stack);
    assert_eq!(out.sent.len(), 1);
    // The 400 echoes the broken CSeq, so look at the status line only.
    assert!(out.sent[0].bytes.starts_with(b"SIP/2.0 400 "));
    assert_eq!(out.sent[0].destination, addr(PEER));

    let ack = peer_in_dialog(
        "ACK",
        1,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKstray",
        "ghost",
    );
    feed(&mut stack, t0, &ack, PEER);
    let out = drain(&mut stack);
    assert!(out.sent.is_empty() && out.events.is_empty());
    assert_drained(&mut stack);
}

#[test]
fn closed_connection_ends_its_transactions() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tcp = peer_invite("z9hG4bKtcp2", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    feed_tcp(&mut stack, t0, &tcp, "198.51.100.7:51000", 7);
    let (tx, _) = new_request(&drain(&mut stack));
    stack.handle_transport_error(
        t0,
        crate::Destination {
            address: addr("198.51.100.7:51000"),
            transport: crate::Transport::Tcp,
            connection: Some(crate::ConnectionId(7)),
        },
    );
    let out = drain(&mut stack);
    assert!(
        matches!(&out.events[..], [StackEvent::TransportError { transaction: TransactionId::Server(t) }] if *t == tx)
    );
    assert_drained(&mut stack);
}

fn reinvite_from_peer(tag: &str, branch: &str, cseq: u32) -> String {
    sip_text(
        &[
            "INVITE sip:bob@192.0.2.1:5060 SIP/2.0",
            &format!("Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch}"),
            "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
            &format!("To: <sip:bob@192.0.2.1>;tag={tag}"),
            "Call-ID: call-abc@198.51.100.7",
            &format!("CSeq: {cseq} INVITE"),
            "Contact: <sip:alice@198.51.100.7:5060>",
        ],
        "",
    )
}

#[test]
fn crossing_reinvites_get_491() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tag = establish(&mut stack, t0);
    let dialog = crate::DialogId {
        call_id: "call-abc@198.51.100.7".into(),
        local_tag: tag.clone(),
        remote_tag: "alice1".into(),
    };
    let ours = stack
        .new_in_dialog_request(&dialog, sip::Method::Invite)
        .expect("dialog");
    stack.send_in_dialog(t0, &dialog, ours).expect("sent");
    drain(&mut stack);
    feed(
        &mut stack,
        t0,
        &reinvite_from_peer(&tag, "z9hG4bKglare", 2),
        PEER,
    );
    let out = drain(&mut stack);
    assert_eq!(out.statuses(), [491]);
    assert!(out.events.is_empty());
}

#[test]
fn reinvite_answer_is_retransmitted_within_the_dialog() {
    let t0 = Instant::now();
    let mut stack = stack();
    let tag = establish(&mut stack, t0);
    feed(
        &mut stack,
        t0 + Duration::from_secs(1),
        &reinvite_from_peer(&tag, "z9hG4bKre2", 2),
        PEER,
    );
    let (tx, request) = new_request(&drain(&mut stack));
    stack
        .respond(
            t0 + Duration::from_secs(1),
            tx,
            make_response(&request, 200),
        )
        .expect("answer");
    assert_eq!(drain(&mut stack).statuses(), [200]);
    assert_eq!(stack.dialog_count(), 1, "still one dialog");
    let log = run_until(&mut stack, t0, Duration::from_millis(2_600));
    assert_eq!(send_times(&log), [1.5, 2.5]);
    let ack = peer_in_dialog(
        "ACK",
        2,
        "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKack3",
        &tag,
    );
    feed(&mut stack, t0 + Duration::from_secs(3), &ack, PEER);
    assert!(matches!(
        &drain(&mut stack).events[..],
        [StackEvent::Ack { .. }]
    ));
}

#[test]
fn user_response_with_a_stale_content_length_goes_out_consistent() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKlen", ""), PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    let mut progress = make_response(&request, 183);
    progress.headers.push_known(HeaderName::ContentLength, "99");
    progress
        .headers
        .push_known(HeaderName::ContentType, "application/sdp");
    progress.body = b"v=0\r\n".to_vec();
    stack.respond(t0, tx, progress).expect("183 accepted");
    let sent = drain(&mut stack).responses();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, b"v=0\r\n");
    assert_eq!(sent[0].content_length(), Ok(Some(5)));
}

#[test]
fn dead_deadlines_do_not_pile_up_in_the_timer_queue() {
    // Every INVITE queues its 5-minute ring guard, replaced at once by the
    // 486's Timer G and then Timer I (5 s): 3 000 calls 10 ms apart must not
    // leave 3 000 dead guards queued.
    let t0 = Instant::now();
    let mut stack = stack();
    for n in 0..3_000u64 {
        let now = t0 + Duration::from_millis(n * 10);
        stack.handle_timeout(now);
        let branch = format!("z9hG4bKq{n}");
        let call_id = format!("call-{n}");
        let invite = peer_invite(&branch, "").replace("call-abc", &call_id);
        feed(&mut stack, now, &invite, PEER);
        let (tx, request) = new_request(&drain(&mut stack));
        stack
            .respond(now, tx, make_response(&request, 486))
            .expect("busy");
        let busy = drain(&mut stack).responses().remove(0);
        let ack = sip_text(
            &[
                "ACK sip:bob@192.0.2.1 SIP/2.0",
                &format!("Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch}"),
                "Max-Forwards: 70",
                "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
                &format!("To: <sip:bob@192.0.2.1>;tag={}", to_tag(&busy)),
                &format!("Call-ID: {call_id}@198.51.100.7"),
                "CSeq: 1 ACK",
            ],
            "",
        );
        feed(&mut stack, now, &ack, PEER);
        assert!(drain(&mut stack).sent.is_empty(), "ACK absorbed");
        assert!(
            stack.timers.len() <= stack.transaction_count(),
            "one deadline per live transaction at most"
        );
    }
    assert!(stack.transaction_count() <= 501, "Timer I: 5 s of calls");
}

#[test]
fn timer_queue_is_empty_once_the_call_is_over() {
    let t0 = Instant::now();
    let mut stack = stack();
    feed(&mut stack, t0, &peer_invite("z9hG4bKe", ""), PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    assert_eq!(stack.timers.len(), 1, "the ring guard");
    stack
        .respond(t0, tx, make_response(&request, 486))
        .expect("busy");
    assert_eq!(stack.timers.len(), 1, "Timer G, no longer the guard");
    drain(&mut stack);
    run_until(&mut stack, t0, Duration::from_secs(40));
    assert_eq!(stack.timers.len(), 0);
}

#[test]
fn rfc2543_ack_matches_by_the_to_tag_of_our_final_response() {
    let t0 = Instant::now();
    let mut stack = stack();
    let invite = peer_invite("none", "").replace(";branch=none", "");
    feed(&mut stack, t0, &invite, PEER);
    let (tx, request) = new_request(&drain(&mut stack));
    stack
        .respond(t0, tx, make_response(&request, 486))
        .expect("busy");
    let busy = drain(&mut stack).responses().remove(0);
    let ack = |to_tag: &str| {
        sip_text(
            &[
                "ACK sip:bob@192.0.2.1 SIP/2.0",
                "Via: SIP/2.0/UDP 198.51.100.7:5060",
                "Max-Forwards: 70",
                "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
                &format!("To: <sip:bob@192.0.2.1>;tag={to_tag}"),
                "Call-ID: call-abc@198.51.100.7",
                "CSeq: 1 ACK",
            ],
            "",
        )
    };
    feed(&mut stack, t0, &ack("someone-else"), PEER);
    let log = run_until(&mut stack, t0, Duration::from_millis(600));
    assert_eq!(send_times(&log), [0.5], "a foreign To tag does not match");
    feed(
        &mut stack,
        t0 + Duration::from_millis(600),
        &ack(&to_tag(&busy)),
        PEER,
    );
    let log = run_until(&mut stack, t0, Duration::from_secs(40));
    assert!(send_times(&log).is_empty(), "absorbed: no more 486");
    assert_drained(&mut stack);
}
