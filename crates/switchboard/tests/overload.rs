//! Overload control end to end, on the real binary: `sip.max_calls` refuses
//! the call beyond it with 503 and `Retry-After` while the calls up keep
//! their media; OPTIONS and `/readyz` say 503 meanwhile and 200 after; a
//! SIPp flood far above what the limit admits leaves every call either
//! completed or refused, none half set up.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use sip::TypedHeaders;
use testkit::analysis::is_near;
use testkit::udp::RawUdp;
use testkit::{free_port, free_ports, Codec, RtpPeer, Server, SipUa, Sipp};

const WAIT: Duration = Duration::from_secs(5);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A server whose local callers reach `far` with `9…`, at most `max_calls`
/// calls at once.
fn start(far: SocketAddr, max_calls: u32) -> Server {
    let port = free_port();
    let rtp = free_ports(4 * max_calls as u16 + 8);
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  far: {{ uri: "sip:{far}" }}
routes:
  incoming:
    - {{ id: "9", match: prefix, endpoint: far, strip_prefix: true }}
media:
  rtp_ports: {rtp}-{rtp_end}
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
  max_calls: {max_calls}
"#,
        rtp_end = rtp + 4 * max_calls as u16 + 7
    );
    Server::start(binary(), &yaml, port)
}

/// The status of `GET /readyz`.
fn readyz(server: &Server) -> u16 {
    let address = server.http_addr().expect("HTTP address in the log");
    common::http::get(address, "/readyz").0
}

/// Polls `probe` until it gives `want` or `WAIT` passes; the last value.
fn settles_to(want: u16, mut probe: impl FnMut() -> u16) -> u16 {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = probe();
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bare INVITE (no body: the refusal comes before any SDP is read).
fn invite(from: SocketAddr, to: SocketAddr, call_id: &str) -> Vec<u8> {
    format!(
        "INVITE sip:9123@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@{from}>;tag=t-{call_id}\r\n\
         To: <sip:9123@{to}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:test@{from}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// One answered call and both ends' media.
struct UpCall {
    caller: testkit::CallHandle,
    callee: testkit::IncomingCall,
    caller_rtp: RtpPeer,
    callee_rtp: RtpPeer,
}

#[test]
fn max_calls_refuses_the_next_call_and_the_calls_up_keep_their_media() {
    let far = SipUa::bind();
    let server = start(far.local_addr(), 5);
    let caller = SipUa::bind();
    assert_eq!(readyz(&server), 200);
    let mut calls = Vec::new();
    for i in 0..5u32 {
        let caller_rtp = RtpPeer::tone(Codec::Pcmu, 500.0 + 100.0 * f64::from(i));
        let callee_rtp = RtpPeer::tone(Codec::Pcmu, 1500.0 + 100.0 * f64::from(i));
        let mut call = caller.call(server.addr(), &format!("9{i}"), caller_rtp.local_addr());
        let mut incoming = far.wait_incoming(WAIT).expect("the callee is dialed");
        let negotiated = incoming
            .answer(callee_rtp.local_addr(), WAIT)
            .expect("callee answers");
        callee_rtp.set_destination(negotiated.remote_rtp);
        assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
        caller_rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);
        calls.push(UpCall {
            caller: call,
            callee: incoming,
            caller_rtp,
            callee_rtp,
        });
    }

    // The sixth: 503 with a Retry-After, and the callee is not dialed.
    let udp = RawUdp::bind();
    udp.send(
        &invite(udp.local_addr(), server.addr(), "sixth"),
        server.addr(),
    );
    let refused = std::iter::from_fn(|| udp.recv_response("sixth", WAIT))
        .find(|response| response.status >= 200)
        .expect("a final answer");
    assert_eq!(refused.status, 503, "{}", server.log());
    let retry_after: u32 = refused
        .headers
        .get(sip::HeaderName::RetryAfter)
        .and_then(|value| value.trim().parse().ok())
        .expect("a numeric Retry-After");
    assert!((2..=5).contains(&retry_after), "Retry-After {retry_after}");
    assert!(refused.to().expect("To").tag().is_some());
    assert!(far.wait_incoming(Duration::from_millis(300)).is_none());
    // At the limit the server says it is unavailable.
    assert_eq!(server.options_status("full-1"), Some(503));
    assert_eq!(settles_to(503, || readyz(&server)), 503);

    // The calls up still carry their media, both ways.
    for call in &calls {
        call.caller_rtp.clear_received();
        call.callee_rtp.clear_received();
    }
    for (i, call) in calls.iter().enumerate() {
        assert!(call.caller_rtp.wait_for_packets(40, WAIT), "call {i}");
        assert!(call.callee_rtp.wait_for_packets(40, WAIT), "call {i}");
        let tone = |base: f64| base + 100.0 * i as f64;
        assert!(
            is_near(call.caller_rtp.heard_frequency(), tone(1500.0)),
            "caller {i} heard {:?}",
            call.caller_rtp.heard_frequency()
        );
        assert!(
            is_near(call.callee_rtp.heard_frequency(), tone(500.0)),
            "callee {i} heard {:?}",
            call.callee_rtp.heard_frequency()
        );
    }

    // They end normally; then calls, OPTIONS and /readyz are back.
    for mut call in calls {
        assert_eq!(call.caller.hangup(WAIT).ok(), Some(200));
        assert!(call.callee.wait_bye(WAIT).is_some(), "callee gets the BYE");
    }
    assert_eq!(settles_to(200, || readyz(&server)), 200);
    assert_eq!(server.options_status("free-1"), Some(200));
    let caller_rtp = RtpPeer::tone(Codec::Pcmu, 700.0);
    let mut call = caller.call(server.addr(), "9100", caller_rtp.local_addr());
    let mut incoming = far.wait_incoming(WAIT).expect("dialed once there is room");
    incoming.answer(free_rtp(), WAIT).expect("answer");
    assert_eq!(call.wait_final(WAIT), Some(200));
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    assert!(
        server.log().contains("refused for load"),
        "{}",
        server.log()
    );
}

fn free_rtp() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// bench/overload.sh's caller: holds an answered call for `-d` ms, or
/// takes a 503 (and ACKs it); either way the call ends in SIPp's success
/// count.
const FLOOD_CALLER: &str = include_str!("../../../bench/scenarios/uac_or_503.xml");

#[test]
fn a_flood_is_completed_or_refused_call_by_call() {
    let total = 300;
    let uas_port = free_port();
    let far = SocketAddr::from(([127, 0, 0, 1], uas_port));
    let server = start(far, 4);
    let uas = Sipp::built_in("uas", server.addr())
        .port(uas_port)
        .calls(10_000)
        .timeout(Duration::from_secs(8))
        .spawn();
    // 150 calls/s for 2 s, each held 0.5 s: ~75 wanted at once, 4 allowed.
    let run = Sipp::xml(FLOOD_CALLER, server.addr())
        .service("9000")
        .calls(total)
        .args(&["-r", "150", "-rp", "1000", "-l", "200", "-d", "500"])
        .timeout(Duration::from_secs(20))
        .run();
    let answered = run.sent("BYE ");
    let refused = run.received("SIP/2.0 503");
    assert!(run.success, "{}", run.report());
    assert_eq!(answered + refused, total as usize, "{}", run.report());
    assert!(answered >= 4, "some calls complete: {answered}");
    assert!(refused > 0, "the limit refuses: {refused}");
    // Every refusal names when to come back.
    assert_eq!(
        run.messages.matches("Retry-After:").count(),
        refused,
        "{}",
        run.report()
    );
    // Once the flood is over, calls are taken again.
    assert_eq!(settles_to(200, || readyz(&server)), 200);
    assert_eq!(server.options_status("after-flood"), Some(200));
    let _ = uas.wait();
}
