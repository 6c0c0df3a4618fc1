//! End-to-end SIP signalling against the real binary, driven by SIPp and raw
//! sockets over 127.0.0.1. Each test runs its own server on its own ports.

use std::path::Path;
use std::time::Duration;

use sip::TypedHeaders;
use testkit::udp::{options_request, RawUdp};
use testkit::{free_port, Server, Sipp};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A config whose `local` endpoint accepts 127.0.0.0/8 into the `incoming` routes.
fn config(port: u16, local_cidr: &str) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
  tcp: {{ transport: tcp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["{local_cidr}"] }}
    route: incoming
  myagent:
    match: {{ type: agent }}
routes:
  incoming:
    - {{ id: "666", match: exact, hangup: {{ code: 486, reason: Busy Here }} }}
    - {{ id: "603", match: exact, hangup: {{ code: 603 }} }}
    - {{ id: "49", match: prefix, endpoint: myagent, strip_prefix: true }}
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#
    )
}

fn start(local_cidr: &str) -> Server {
    let port = free_port();
    Server::start(binary(), &config(port, local_cidr), port)
}

fn rejected_scenario(code: u16) -> String {
    let xml = include_str!("scenarios/invite_rejected.xml");
    xml.replace("__CODE__", &code.to_string())
}

#[test]
fn builtin_uac_gets_100_then_486_and_its_ack_is_absorbed() {
    let server = start("127.0.0.0/8");
    let run = Sipp::built_in("uac", server.addr()).service("666").run();
    // The built-in scenario expects 180/200, so the call counts as failed;
    // what matters is what went over the wire.
    assert!(run.received("SIP/2.0 100") >= 1, "{}", run.report());
    assert_eq!(run.received("SIP/2.0 486"), 1, "{}", run.report());
    assert_eq!(run.sent("ACK"), 1, "{}", run.report());
    // That the ACK stops the 486 retransmissions is checked where it can be
    // seen: invite_routed_to_hangup_486_over_udp (SIPp waits 2 s after its
    // ACK) and retransmitted_invite_is_answered_from_the_same_transaction.
}

#[test]
fn invite_routed_to_hangup_486_over_udp() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(486), server.addr())
        .service("666")
        .run();
    assert!(run.success, "{}", run.report());
    assert_eq!(run.received("SIP/2.0 100"), 1, "{}", run.report());
    // Exactly one 486: the ACK stopped Timer G's retransmissions.
    assert_eq!(run.received("SIP/2.0 486"), 1, "{}", run.report());
}

fn invite(udp: &RawUdp, server: &Server, call_id: &str) -> Vec<u8> {
    raw_request("INVITE", udp, server, call_id, "")
}

#[test]
fn retransmitted_invite_is_answered_from_the_same_transaction() {
    let server = start("127.0.0.0/8");
    let udp = RawUdp::bind();
    let request = invite(&udp, &server, "retrans");
    udp.send(&request, server.addr());
    let status = |udp: &RawUdp| {
        udp.recv_response("retrans", Duration::from_secs(2))
            .map(|r| {
                (
                    r.status,
                    r.to().ok().and_then(|t| t.tag().map(str::to_string)),
                )
            })
    };
    let (trying, _) = status(&udp).expect("100 Trying");
    assert_eq!(trying, 100);
    let (busy, tag) = status(&udp).expect("486");
    assert_eq!(busy, 486);

    // The retransmission gets the same final response, not a new 100.
    udp.send(&request, server.addr());
    assert_eq!(status(&udp), Some((486, tag.clone())));

    // Without an ACK, Timer G retransmits the 486 after T1 (500 ms).
    assert_eq!(status(&udp), Some((486, tag.clone())));

    // ACK on the INVITE's branch; afterwards nothing more arrives, even when
    // the INVITE is retransmitted again (the transaction absorbs it).
    let ack = String::from_utf8(request.clone())
        .expect("ascii")
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 7 INVITE", "CSeq: 7 ACK");
    let to_tag = tag.expect("486 carries a To tag");
    let ack = ack.replacen(
        &format!("To: <sip:666@{}>", server.addr()),
        &format!("To: <sip:666@{}>;tag={to_tag}", server.addr()),
        1,
    );
    udp.send(ack.as_bytes(), server.addr());
    udp.send(&request, server.addr());
    assert_eq!(udp.recv_raw(Duration::from_millis(1500)), None);
}

#[test]
fn invite_routed_to_hangup_486_over_tcp() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(486), server.addr())
        .tcp()
        .service("666")
        .run();
    assert!(run.success, "{}", run.report());
    assert!(
        run.messages.contains("TCP message received"),
        "{}",
        run.report()
    );
}

#[test]
fn builtin_uac_over_tcp_gets_486() {
    let server = start("127.0.0.0/8");
    let run = Sipp::built_in("uac", server.addr())
        .tcp()
        .service("666")
        .run();
    assert!(run.received("SIP/2.0 100") >= 1, "{}", run.report());
    assert_eq!(run.received("SIP/2.0 486"), 1, "{}", run.report());
    assert_eq!(run.sent("ACK"), 1, "{}", run.report());
}

#[test]
fn hangup_code_without_reason_uses_the_standard_phrase() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(603), server.addr())
        .service("603")
        .run();
    assert!(run.success, "{}", run.report());
    assert!(
        run.messages.contains("SIP/2.0 603 Decline"),
        "{}",
        run.report()
    );
}

#[test]
fn number_without_route_gets_404() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(404), server.addr())
        .service("12345")
        .run();
    assert!(run.success, "{}", run.report());
}

#[test]
fn source_matching_no_endpoint_gets_403() {
    let server = start("10.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(403), server.addr())
        .service("666")
        .run();
    assert!(run.success, "{}", run.report());
}

#[test]
fn call_routed_to_agent_endpoint_without_agents_gets_480() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(&rejected_scenario(480), server.addr())
        .service("49123")
        .run();
    assert!(run.success, "{}", run.report());
}

#[test]
fn options_gets_200_with_capabilities() {
    let server = start("127.0.0.0/8");
    let run = Sipp::xml(include_str!("scenarios/options.xml"), server.addr()).run();
    assert!(run.success, "{}", run.report());

    let udp = RawUdp::bind();
    udp.send(
        &options_request(udp.local_addr(), server.addr(), "caps"),
        server.addr(),
    );
    let response = udp
        .recv_response("caps", Duration::from_secs(2))
        .expect("OPTIONS answered");
    assert_eq!(response.status, 200);
    let allow = response.headers.get(sip::HeaderName::Allow).unwrap_or("");
    for method in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"] {
        assert!(allow.contains(method), "Allow: {allow}");
    }
    assert!(response.headers.get(sip::HeaderName::Accept).is_some());
    assert!(response.headers.get(sip::HeaderName::Supported).is_some());
    // RFC 3581: rport was requested, so the server filled it in.
    let via = response.headers.get(sip::HeaderName::Via).unwrap_or("");
    let port = udp.local_addr().port();
    assert!(via.contains(&format!("rport={port}")), "Via: {via}");
}

/// A request to number 666 from `udp`; `to_tag` is `""` or `";tag=…"`.
fn raw_request(
    method: &str,
    udp: &RawUdp,
    server: &Server,
    call_id: &str,
    to_tag: &str,
) -> Vec<u8> {
    let from = udp.local_addr();
    let to = server.addr();
    format!(
        "{method} sip:666@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@{from}>;tag=f-{call_id}\r\n\
         To: <sip:666@{to}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 7 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn unknown_dialog_gets_481_and_unimplemented_method_gets_501() {
    let server = start("127.0.0.0/8");
    let udp = RawUdp::bind();
    let cases = [
        ("BYE", ";tag=nosuchdialog", "bye-unknown", 481),
        ("INFO", ";tag=nosuchdialog", "info-unknown", 481),
        ("SUBSCRIBE", "", "subscribe", 501),
        ("FOOBAR", "", "extension", 501),
    ];
    for (method, tag, call_id, status) in cases {
        udp.send(
            &raw_request(method, &udp, &server, call_id, tag),
            server.addr(),
        );
        let response = udp
            .recv_response(call_id, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("{method} answered"));
        assert_eq!(response.status, status, "{method}");
    }
}

#[test]
fn malformed_request_with_routable_headers_gets_400_naming_the_header() {
    let server = start("127.0.0.0/8");
    let udp = RawUdp::bind();
    let from = udp.local_addr();
    let bad = format!(
        "INVITE sip:666@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-bad-cseq\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@{from}>;tag=x\r\n\
         To: <sip:666@{to}>\r\n\
         Call-ID: bad-cseq\r\n\
         CSeq: abc INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        to = server.addr()
    );
    udp.send(bad.as_bytes(), server.addr());
    // The 400 echoes the bad CSeq, so read it as text rather than parse it.
    let response = udp
        .recv_raw(Duration::from_secs(2))
        .expect("400 for a bad CSeq");
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("SIP/2.0 400 "), "{text}");
    assert!(status_line.contains("CSeq"), "{text}");
    assert!(text.contains("Call-ID: bad-cseq"), "{text}");
}

#[test]
fn sigterm_refuses_new_calls_with_503_then_exits_cleanly() {
    let mut server = start("127.0.0.1/32");
    server.terminate();
    std::thread::sleep(Duration::from_millis(200));
    let udp = RawUdp::bind();
    udp.send(&invite(&udp, &server, "draining"), server.addr());
    let mut statuses = Vec::new();
    while let Some(r) = udp.recv_response("draining", Duration::from_secs(1)) {
        statuses.push(r.status);
        if r.status >= 200 {
            assert!(r.headers.get(sip::HeaderName::RetryAfter).is_some());
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

fn digest_config(port: u16) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  alice:
    match: {{ type: user }}
    auth: {{ username: alice, password: secret }}
routes:
  default:
    - {{ id: "", match: any, hangup: {{ code: 486 }} }}
agent_rpc: {{ listen: "127.0.0.1:0" }}
"#
    )
}

#[test]
fn user_endpoint_authenticates_sipp_with_digest() {
    let port = free_port();
    let server = Server::start(binary(), &digest_config(port), port);
    let xml = include_str!("scenarios/invite_digest.xml").replace("__CODE__", "486");
    let run = Sipp::xml(&xml, server.addr())
        .service("100")
        .args(&["-au", "alice", "-ap", "secret"])
        .run();
    assert!(run.success, "{}", run.report());
    assert_eq!(run.received("SIP/2.0 401"), 1, "{}", run.report());
}

#[test]
fn wrong_digest_password_is_refused_with_403() {
    let port = free_port();
    let server = Server::start(binary(), &digest_config(port), port);
    let xml = include_str!("scenarios/invite_digest.xml").replace("__CODE__", "403");
    let run = Sipp::xml(&xml, server.addr())
        .service("100")
        .args(&["-au", "alice", "-ap", "wrong"])
        .run();
    assert!(run.success, "{}", run.report());
}

#[test]
fn testkit_ua_call_to_a_hangup_route_gets_100_then_486() {
    let server = start("127.0.0.0/8");
    let ua = testkit::SipUa::bind();
    let rtp: std::net::SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut call = ua.call(server.addr(), "666", rtp);
    assert_eq!(call.wait_response(Duration::from_secs(2)), Some(100));
    assert_eq!(call.wait_response(Duration::from_secs(2)), Some(486));
    assert!(call.negotiated().is_err(), "no media on a rejected call");
}
