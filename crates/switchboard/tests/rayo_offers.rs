//! Who gets a Rayo offer, end to end: the endpoint's `users`, the staged
//! `first` policy with its offer timeout and fail-over, a client leaving
//! during its offer, and a controlling client's stream closing (its calls
//! are hung up after the grace period). Real binary, ports from the OS.

use std::path::Path;
use std::time::Duration;

use testkit::rayo_harness::{Caller, RayoBench, RayoConfig, WAIT};
use testkit::xmpp::{rayo, XmppClient};

const QUIET: Duration = Duration::from_millis(500);

/// Callers dialing `2` reach `vip` (offered to userb only), the others
/// `app`; `rayo_extra` adds lines to `rayo:`.
fn start(rayo_extra: &str) -> RayoBench {
    let config = RayoConfig::new()
        .endpoint("vip: { match: { type: rayo, users: [userb] } }")
        .incoming_route(r#"{ id: "2", match: exact, endpoint: vip }"#)
        .rayo(rayo_extra);
    RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config)
}

/// usera, then userb, both available.
fn both_available(bench: &RayoBench) -> (XmppClient, XmppClient) {
    (bench.available("usera"), bench.available("userb"))
}

#[test]
fn an_endpoint_s_users_alone_get_its_offers() {
    let bench = start("");
    let (mut a, mut b) = both_available(&bench);
    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "2");
    let offered = b.wait_offer(WAIT).expect("userb is offered the vip call");
    assert!(a.wait_offer(QUIET).is_none(), "usera is not");
    bench.ok(&mut b, &offered.call, rayo("reject").child(rayo("busy")));
    assert_eq!(call.wait_final(WAIT), Some(486));
    // Without userb, nobody may take a vip call.
    bench.show(&mut b, "dnd");
    let mut call = caller.call(bench.sip(), "2");
    assert_eq!(call.wait_final(WAIT), Some(480), "{}", bench.server.log());
    assert!(a.wait_offer(QUIET).is_none());
}

#[test]
fn first_offers_one_client_at_a_time_and_fails_over_at_the_timeout() {
    let bench = start("  offer_policy: first\n  offer_timeout_ms: 700\n");
    let (mut a, mut b) = both_available(&bench);
    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "1000");
    let first = a
        .wait_offer(WAIT)
        .expect("usera, available first, is asked first");
    assert!(b.wait_offer(QUIET / 2).is_none(), "one at a time");
    let second = b.wait_offer(WAIT).expect("userb after usera's timeout");
    assert_eq!(first.call, second.call);
    // usera's offer was withdrawn: its command is a conflict.
    assert_eq!(
        bench.refused(&mut a, &first.call, rayo("answer")),
        "conflict"
    );
    bench.ok(&mut b, &second.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", bench.server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    // The end reaches every client the call was offered to.
    assert_eq!(bench.end_reason(&mut b, &second.call), "hungup");
    assert_eq!(bench.end_reason(&mut a, &first.call), "hungup");
}

#[test]
fn an_offer_to_all_that_nobody_takes_ends_at_the_offer_timeout() {
    let bench = start("  offer_policy: all\n  offer_timeout_ms: 700\n");
    let (mut a, mut b) = both_available(&bench);
    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "1000");
    let offered = a.wait_offer(WAIT).expect("usera is offered the call");
    b.wait_offer(WAIT).expect("userb too, at the same time");
    // Neither sends a command: the caller hears the endpoint's code, and
    // to the clients the call went away before they took it.
    assert_eq!(call.wait_final(WAIT), Some(480), "{}", bench.server.log());
    assert_eq!(bench.end_reason(&mut a, &offered.call), "hungup");
    assert_eq!(
        bench.refused(&mut a, &offered.call, rayo("answer")),
        "item-not-found"
    );
}

#[test]
fn a_client_leaving_during_its_offer_hands_it_to_the_next_at_once() {
    let bench = start("  offer_policy: first\n  offer_timeout_ms: 60000\n");
    let (mut a, mut b) = both_available(&bench);
    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "1000");
    a.wait_offer(WAIT).expect("usera is asked first");
    bench.show(&mut a, "dnd");
    let offered = b.wait_offer(WAIT).expect("userb at once, not after 60 s");
    bench.ok(&mut b, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", bench.server.log());
    bench.ok(&mut b, &offered.call, rayo("hangup"));
    assert!(call.wait_bye(WAIT).is_some());
}

/// The controlling client's stream closes: its answered call goes on for
/// the grace period (5 s), then the caller gets a BYE.
#[test]
fn a_gone_client_s_call_is_hung_up_after_the_grace_period() {
    let bench = start("");
    let mut a = bench.available("usera");
    let caller = Caller::new();
    let mut call = caller.call(bench.sip(), "1000");
    let offered = a.wait_offer(WAIT).expect("offer");
    bench.ok(&mut a, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200));
    drop(a);
    assert!(
        call.wait_bye(Duration::from_secs(3)).is_none(),
        "the call lives through the grace period"
    );
    assert!(
        call.wait_bye(Duration::from_secs(5)).is_some(),
        "{}",
        bench.server.log()
    );
}
