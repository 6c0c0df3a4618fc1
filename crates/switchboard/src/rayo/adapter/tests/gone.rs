//! A controlling client gone (the disconnect grace) and a call gone
//! without its `Ended`.

use super::*;

#[test]
fn a_gone_client_s_calls_are_hung_up_after_the_grace_unless_it_returns() {
    let mut h = Harness::new(Dialect::Xep);
    let mut first = Harness::call(1, 8);
    let mut second = Harness::call(2, 8);
    h.invite(&first, "usera", false);
    h.invite(&second, "userb", false);
    h.command("usera", 1, "1", "answer");
    h.command("userb", 2, "1", "answer");
    requests(&mut first);
    requests(&mut second);
    let now = h.now;
    h.adapter.closed(now, &jid("usera"));
    h.adapter.closed(now, &jid("userb"));
    assert_eq!(h.adapter.poll_timeout(), Some(now + DISCONNECT_GRACE));
    // userb's session comes back and speaks.
    h.adapter.availability(&jid("userb"), true);
    h.adapter
        .handle_timeout(now + DISCONNECT_GRACE - Duration::from_millis(1));
    assert!(requests(&mut first).is_empty());
    h.adapter.handle_timeout(now + DISCONNECT_GRACE);
    let hangup = requests(&mut first);
    assert_eq!(
        hangup.iter().map(|r| &r.command).collect::<Vec<_>>(),
        [&Command::Hangup { headers: vec![] }]
    );
    assert!(requests(&mut second).is_empty());
    assert_eq!(h.adapter.poll_timeout(), None);
    // Its Done is the adapter's own; the end still goes out.
    h.sent();
    h.adapter.call_event(1, done(hangup[0].id));
    assert!(h.sent().is_empty());
}

#[test]
fn a_taken_call_that_vanishes_gets_time_for_its_own_end_then_ends_as_an_error() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.command("usera", 1, "1", "answer");
    h.sent();
    let now = h.now;
    drop(call.requests);
    h.adapter.call_gone(now, 1);
    assert!(h.sent().is_empty());
    assert_eq!(h.adapter.poll_timeout(), Some(now + GONE_WAIT));
    h.adapter.handle_timeout(now + GONE_WAIT);
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(
        condition(&sent[0].1),
        Some("item-not-found"),
        "the open answer"
    );
    assert!(
        sent[1].1.contains("<error>call went away</error>"),
        "{}",
        sent[1].1
    );
    // Its own end arriving first wins instead.
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.command("usera", 1, "1", "accept");
    drop(call.requests);
    h.adapter.call_gone(now, 1);
    h.adapter.call_event(
        1,
        Event::Ended {
            reason: EndReason::Rejected,
            code: None,
            headers: vec![],
        },
    );
    h.adapter.handle_timeout(now + GONE_WAIT);
    let sent = h.sent();
    assert!(sent.last().expect("end").1.contains("<hangup-command/>"));
    assert_eq!(h.adapter.poll_timeout(), None);
}

#[test]
fn the_watch_of_an_earlier_queue_leaves_a_handed_over_call_alone() {
    let mut h = Harness::new(Dialect::Xep);
    // The call came back to Rayo under the same key with a new queue; the
    // watch of its old queue reports late.
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.command("usera", 1, "1", "answer");
    h.sent();
    h.adapter.call_gone(h.now, 1);
    assert!(h.sent().is_empty());
    assert_eq!(h.adapter.poll_timeout(), None);
}
