//! Virtual-time tests of the four state machines: every timer, both transports.

use std::time::{Duration, Instant};

use sip::{Host, Method, Request, Uri};

use super::client_invite::{ClientInviteState, ClientInviteTransaction};
use super::client_non_invite::{ClientNonInviteState, ClientNonInviteTransaction};
use super::server_invite::{ServerInviteState, ServerInviteTransaction};
use super::server_non_invite::{ServerNonInviteState, ServerNonInviteTransaction};
use super::TxEffect;
use crate::response::make_response;
use crate::transport::TimerConfig;

const RING_LIMIT: Duration = Duration::from_secs(180);

fn request(method: Method) -> Request {
    let mut r = Request::new(
        method.clone(),
        Uri::sip(Some("bob"), Host::Domain("b.example".into()), None),
    );
    r.headers
        .push("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtest");
    r.headers.push("Route", "<sip:proxy.example;lr>");
    r.headers.push("From", "<sip:alice@a.example>;tag=f1");
    r.headers.push("To", "<sip:bob@b.example>");
    r.headers.push("Call-ID", "call-1");
    r.headers.push("CSeq", format!("1 {method}"));
    r
}

fn secs(t0: Instant, t: Instant) -> f64 {
    (t - t0).as_secs_f64()
}

/// Fires every timer of a machine up to `end`, returning (time, effects) of each firing.
/// The INVITE server machine's timers also take the INVITE (`run_timers!(tx, t0, end, &invite)`).
macro_rules! run_timers {
    ($tx:expr, $t0:expr, $end:expr $(, $invite:expr)?) => {{
        let mut log = Vec::new();
        while let Some(deadline) = $tx.next_deadline().filter(|d| *d <= $t0 + $end) {
            let mut out = Vec::new();
            $tx.on_timer(deadline, $($invite,)? &mut out);
            log.push((secs($t0, deadline), out));
        }
        log
    }};
}

fn transmit_times(log: &[(f64, Vec<TxEffect>)]) -> Vec<f64> {
    log.iter()
        .filter(|(_, out)| {
            out.iter()
                .any(|e| matches!(e, TxEffect::Transmit(_) | TxEffect::Retransmit(_)))
        })
        .map(|(t, _)| *t)
        .collect()
}

fn timeout_time(log: &[(f64, Vec<TxEffect>)]) -> Option<f64> {
    log.iter()
        .find(|(_, out)| out.contains(&TxEffect::Timeout))
        .map(|(t, _)| *t)
}

#[test]
fn invite_client_over_udp_retransmits_doubling_and_times_out_at_64_t1() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = ClientInviteTransaction::start(
        t0,
        &request(Method::Invite),
        false,
        TimerConfig::default(),
        &mut out,
    );
    assert_eq!(out.len(), 1, "INVITE sent at once");
    let log = run_timers!(tx, t0, Duration::from_secs(40));
    assert_eq!(transmit_times(&log), vec![0.5, 1.5, 3.5, 7.5, 15.5, 31.5]);
    assert_eq!(timeout_time(&log), Some(32.0));
    assert_eq!(tx.state(), ClientInviteState::Terminated);
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_client_over_tcp_never_retransmits() {
    let t0 = Instant::now();
    let mut tx = ClientInviteTransaction::start(
        t0,
        &request(Method::Invite),
        true,
        TimerConfig::default(),
        &mut Vec::new(),
    );
    let log = run_timers!(tx, t0, Duration::from_secs(40));
    assert!(transmit_times(&log).is_empty());
    assert_eq!(timeout_time(&log), Some(32.0));
}

#[test]
fn invite_client_provisional_stops_timer_a_and_b() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx =
        ClientInviteTransaction::start(t0, &req, false, TimerConfig::default(), &mut Vec::new());
    let mut out = Vec::new();
    tx.on_response(
        t0 + Duration::from_millis(100),
        &req,
        make_response(&req, 180),
        &mut out,
    );
    assert!(matches!(&out[..], [TxEffect::PassUp(r)] if r.status == 180));
    assert_eq!(tx.state(), ClientInviteState::Proceeding);
    assert_eq!(
        tx.next_deadline(),
        None,
        "Proceeding waits for the user (who CANCELs)"
    );
}

#[test]
fn invite_client_acks_non_2xx_and_lingers_timer_d() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx =
        ClientInviteTransaction::start(t0, &req, false, TimerConfig::default(), &mut Vec::new());
    let busy = make_response(&req, 486);
    let mut out = Vec::new();
    tx.on_response(t0 + Duration::from_secs(1), &req, busy.clone(), &mut out);
    let ack = match &out[..] {
        [TxEffect::Transmit(ack), TxEffect::PassUp(r)] if r.status == 486 => {
            String::from_utf8_lossy(ack).into_owned()
        }
        other => panic!("unexpected effects {other:?}"),
    };
    assert!(ack.starts_with("ACK sip:bob@b.example SIP/2.0\r\n"));
    assert!(ack.contains("CSeq: 1 ACK\r\n"));
    assert!(
        ack.contains("branch=z9hG4bKtest"),
        "same branch as the INVITE"
    );
    assert!(ack.contains("Route: <sip:proxy.example;lr>"));
    assert!(ack.contains(";tag="), "To tag taken from the response");

    // A retransmitted 486 is re-ACKed and not passed up again.
    let mut again = Vec::new();
    tx.on_response(t0 + Duration::from_secs(2), &req, busy, &mut again);
    assert!(matches!(&again[..], [TxEffect::Retransmit(_)]));

    let log = run_timers!(tx, t0, Duration::from_secs(60));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, 33.0, "Timer D = 32 s after the final");
    assert_eq!(tx.state(), ClientInviteState::Terminated);
}

#[test]
fn invite_client_timer_d_is_zero_on_tcp() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx =
        ClientInviteTransaction::start(t0, &req, true, TimerConfig::default(), &mut Vec::new());
    tx.on_response(t0, &req, make_response(&req, 603), &mut Vec::new());
    assert_eq!(tx.next_deadline(), Some(t0));
}

#[test]
fn invite_client_accepted_passes_every_2xx_until_timer_m() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx =
        ClientInviteTransaction::start(t0, &req, false, TimerConfig::default(), &mut Vec::new());
    let ok = make_response(&req, 200);
    for _ in 0..2 {
        let mut out = Vec::new();
        tx.on_response(t0, &req, ok.clone(), &mut out);
        assert!(matches!(&out[..], [TxEffect::PassUp(r)] if r.status == 200));
    }
    assert_eq!(tx.state(), ClientInviteState::Accepted);
    let log = run_timers!(tx, t0, Duration::from_secs(60));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, 32.0, "Timer M = 64·T1");
}

#[test]
fn non_invite_client_retransmits_capped_at_t2_and_times_out() {
    let t0 = Instant::now();
    let mut tx = ClientNonInviteTransaction::start(
        t0,
        &request(Method::Options),
        false,
        TimerConfig::default(),
        &mut Vec::new(),
    );
    let log = run_timers!(tx, t0, Duration::from_secs(40));
    assert_eq!(
        transmit_times(&log),
        vec![0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert_eq!(timeout_time(&log), Some(32.0));
    assert_eq!(tx.state(), ClientNonInviteState::Terminated);
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2() {
    let t0 = Instant::now();
    let req = request(Method::Bye);
    let mut tx =
        ClientNonInviteTransaction::start(t0, &req, false, TimerConfig::default(), &mut Vec::new());
    let mut log = run_timers!(tx, t0, Duration::from_millis(500));
    tx.on_response(
        t0 + Duration::from_millis(600),
        make_response(&req, 100),
        &mut Vec::new(),
    );
    assert_eq!(tx.state(), ClientNonInviteState::Proceeding);
    log.extend(run_timers!(tx, t0, Duration::from_secs(10)));
    // 0.5 (Trying), 1.5 (interval was already 1 s), then every T2 = 4 s.
    assert_eq!(transmit_times(&log), vec![0.5, 1.5, 5.5, 9.5]);
}

#[test]
fn non_invite_client_final_then_timer_k() {
    for (reliable, linger) in [(false, 5.0), (true, 0.0)] {
        let t0 = Instant::now();
        let req = request(Method::Bye);
        let mut tx = ClientNonInviteTransaction::start(
            t0,
            &req,
            reliable,
            TimerConfig::default(),
            &mut Vec::new(),
        );
        let mut out = Vec::new();
        tx.on_response(t0, make_response(&req, 200), &mut out);
        assert!(matches!(&out[..], [TxEffect::PassUp(r)] if r.status == 200));
        let mut again = Vec::new();
        tx.on_response(t0, make_response(&req, 200), &mut again);
        assert!(again.is_empty(), "retransmitted final absorbed");
        let log = run_timers!(tx, t0, Duration::from_secs(60));
        assert_eq!(
            log.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![linger]
        );
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
    }
}

#[test]
fn invite_server_sends_trying_and_answers_retransmissions_with_last_response() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut out = Vec::new();
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        false,
        TimerConfig::default(),
        RING_LIMIT,
        &mut out,
    );
    assert!(matches!(&out[..], [TxEffect::Transmit(b)] if b.starts_with(b"SIP/2.0 100 Trying")));

    let mut again = Vec::new();
    tx.on_retransmitted_invite(&mut again);
    assert!(matches!(&again[..], [TxEffect::Retransmit(b)] if b.starts_with(b"SIP/2.0 100")));

    tx.send_response(t0, &make_response(&req, 180), &mut Vec::new())
        .expect("provisional accepted");
    let mut again = Vec::new();
    tx.on_retransmitted_invite(&mut again);
    assert!(matches!(&again[..], [TxEffect::Retransmit(b)] if b.starts_with(b"SIP/2.0 180")));
}

#[test]
fn invite_server_timer_g_until_ack_then_timer_i() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        false,
        TimerConfig::default(),
        RING_LIMIT,
        &mut Vec::new(),
    );
    tx.send_response(t0, &make_response(&req, 486), &mut Vec::new())
        .expect("final accepted");
    assert_eq!(tx.state(), ServerInviteState::Completed);
    let log = run_timers!(tx, t0, Duration::from_millis(7_600), &req);
    assert_eq!(transmit_times(&log), vec![0.5, 1.5, 3.5, 7.5]);
    tx.on_ack(t0 + Duration::from_secs(8));
    assert_eq!(tx.state(), ServerInviteState::Confirmed);
    let log = run_timers!(tx, t0, Duration::from_secs(60), &req);
    assert_eq!(
        log.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![13.0],
        "Timer I = T4"
    );
    assert_eq!(tx.state(), ServerInviteState::Terminated);
}

#[test]
fn invite_server_timer_g_caps_at_t2_and_timer_h_times_out() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        false,
        TimerConfig::default(),
        RING_LIMIT,
        &mut Vec::new(),
    );
    tx.send_response(t0, &make_response(&req, 500), &mut Vec::new())
        .expect("final accepted");
    let log = run_timers!(tx, t0, Duration::from_secs(60), &req);
    assert_eq!(
        transmit_times(&log),
        vec![0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    );
    assert_eq!(timeout_time(&log), Some(32.0));
    assert_eq!(tx.state(), ServerInviteState::Terminated);
}

#[test]
fn invite_server_over_tcp_has_no_timer_g_and_no_timer_i() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        true,
        TimerConfig::default(),
        RING_LIMIT,
        &mut Vec::new(),
    );
    tx.send_response(t0, &make_response(&req, 404), &mut Vec::new())
        .expect("final accepted");
    assert_eq!(
        tx.next_deadline(),
        Some(t0 + Duration::from_secs(32)),
        "only Timer H"
    );
    tx.on_ack(t0 + Duration::from_secs(1));
    assert_eq!(
        tx.next_deadline(),
        Some(t0 + Duration::from_secs(1)),
        "Timer I = 0"
    );
}

#[test]
fn invite_server_2xx_enters_accepted_and_absorbs_invites() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        false,
        TimerConfig::default(),
        RING_LIMIT,
        &mut Vec::new(),
    );
    tx.send_response(t0, &make_response(&req, 200), &mut Vec::new())
        .expect("final accepted");
    assert_eq!(tx.state(), ServerInviteState::Accepted);
    let mut out = Vec::new();
    tx.on_retransmitted_invite(&mut out);
    assert!(out.is_empty());
    assert!(tx
        .send_response(t0, &make_response(&req, 486), &mut out)
        .is_err());
    let log = run_timers!(tx, t0, Duration::from_secs(60), &req);
    assert_eq!(
        log.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![32.0],
        "Timer L"
    );
}

#[test]
fn unanswered_invite_is_ended_with_408_at_the_ring_limit() {
    let t0 = Instant::now();
    let req = request(Method::Invite);
    let mut tx = ServerInviteTransaction::start(
        t0,
        &req,
        false,
        TimerConfig::default(),
        RING_LIMIT,
        &mut Vec::new(),
    );
    let mut out = Vec::new();
    tx.on_timer(t0 + RING_LIMIT, &req, &mut out);
    assert!(
        matches!(&out[..], [TxEffect::Transmit(b), TxEffect::Timeout] if b.starts_with(b"SIP/2.0 408"))
    );
    assert_eq!(tx.state(), ServerInviteState::Completed);
}

#[test]
fn non_invite_server_answers_retransmissions_and_timer_j() {
    for (reliable, j) in [(false, 32.0), (true, 0.0)] {
        let t0 = Instant::now();
        let req = request(Method::Bye);
        let mut tx = ServerNonInviteTransaction::start(t0, reliable, TimerConfig::default());
        let mut out = Vec::new();
        tx.on_retransmitted_request(&mut out);
        assert!(out.is_empty(), "Trying drops retransmissions");
        tx.send_response(t0, &make_response(&req, 200), &mut out)
            .expect("final accepted");
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        let mut again = Vec::new();
        tx.on_retransmitted_request(&mut again);
        assert!(matches!(&again[..], [TxEffect::Retransmit(b)] if b.starts_with(b"SIP/2.0 200")));
        let log = run_timers!(tx, t0, Duration::from_secs(60));
        assert_eq!(
            log.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            vec![j],
            "Timer J"
        );
        assert_eq!(tx.state(), ServerNonInviteState::Terminated);
    }
}

#[test]
fn unanswered_non_invite_is_dropped_after_64_t1() {
    let t0 = Instant::now();
    let mut tx = ServerNonInviteTransaction::start(t0, false, TimerConfig::default());
    let log = run_timers!(tx, t0, Duration::from_secs(60));
    assert_eq!(timeout_time(&log), Some(32.0));
    assert_eq!(tx.final_status(), None);
}
