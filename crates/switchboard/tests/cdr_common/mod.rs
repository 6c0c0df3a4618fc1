#![allow(dead_code)] // each test binary uses part of it
//! The call record scenario both stores run: an answered agent call hung
//! up by the caller, a call refused for want of a route, a call still up at
//! SIGTERM; then the records are read back with `switchboard cdr` (JSON and
//! CSV) and, while the server runs, `GET /api/v1/cdrs`.

pub mod postgres;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::agent::Agent;
use testkit::{free_port, RtpPeer, Server, SipUa};

use crate::common::cdr::{cdr_command, records};
use crate::common::http::request;

/// How long any one step may take.
pub const WAIT: Duration = Duration::from_secs(5);

const TOKEN: &str = "cdr-test-token-0123456789";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// An agent-answered call from `ua` to `number`, media flowing both ways.
fn answered_call(
    server: &Server,
    agent: &mut Agent,
    ua: &SipUa,
    rtp: &RtpPeer,
    number: &str,
) -> testkit::sip_ua::CallHandle {
    let mut call = ua.call(server.addr(), number, rtp.local_addr());
    let invite = agent
        .expect_invite(WAIT)
        .unwrap_or_else(|| panic!("agent gets the invite\n{}", server.log()));
    agent.respond_invite(&invite, 200, "OK");
    let (_, done) = agent
        .call("answer", &invite.did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(done.code, 200, "{done:?}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    let negotiated = call.negotiated().expect("caller negotiated");
    rtp.set_destination(negotiated.remote_rtp);
    call
}

/// A server on the store `cdr_yaml` (a `cdr:` section) configures: local
/// callers reach the agents of `myagent` on 555, nothing else. Returns it
/// and its Agent RPC address.
pub fn start(cdr_yaml: &str) -> (Server, SocketAddr) {
    let port = free_port();
    let agent_port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  myagent: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "555", endpoint: myagent }}
media:
  rtp_ports: 46000-46999
agent_rpc:
  listen: 127.0.0.1:{agent_port}
http:
  listen: 127.0.0.1:0
  api_token: {TOKEN}
sip:
  shutdown_grace_sec: 0
{cdr_yaml}
"#
    );
    let server = Server::start(binary(), &yaml, port);
    (server, SocketAddr::from(([127, 0, 0, 1], agent_port)))
}

/// The whole scenario against the store `cdr_yaml` (a `cdr:` section)
/// configures; returns the server's config path for further reads.
pub fn run(cdr_yaml: &str) -> (Server, PathBuf) {
    let (mut server, agents) = start(cdr_yaml);
    let config = server.config_path();
    let mut agent = Agent::connect_retrying(agents, "myagent", WAIT).expect("agent connects");
    let ua = SipUa::bind();
    let from_uri = format!("sip:testkit@{}", ua.local_addr());

    // 1. Answered by the agent, media both ways, hung up by the caller.
    let rtp = RtpPeer::silent();
    let mut call = answered_call(&server, &mut agent, &ua, &rtp, "555");
    let deadline = Instant::now() + WAIT;
    while rtp.received().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Both sides have sent a few frames by now.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(call.hangup(WAIT).ok(), Some(200), "{}", server.log());

    // 2. Refused: no route for 999.
    let rtp2 = RtpPeer::silent();
    let mut refused = ua.call(server.addr(), "999", rtp2.local_addr());
    assert_eq!(refused.wait_final(WAIT), Some(404), "{}", server.log());

    // The API: both records there (the writer is asynchronous), token checked.
    let http = server.http_addr().expect("HTTP address in the log");
    let deadline = Instant::now() + WAIT;
    let listed = loop {
        let (status, body) = request(http, "GET", "/api/v1/cdrs?since=1h&limit=10", Some(TOKEN));
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{body}");
        let list: Vec<Value> = serde_json::from_str(&body).expect("JSON array");
        if list.len() >= 2 || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(request(http, "GET", "/api/v1/cdrs", None).0, 401);
    assert_eq!(request(http, "GET", "/api/v1/cdrs", Some("wrong")).0, 401);
    let (status, body) = request(http, "GET", "/api/v1/cdrs?since=soon", Some(TOKEN));
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("since"), "{body}");

    // 3. Up at SIGTERM: the server ends it, and its record is written
    // before the process exits.
    let rtp3 = RtpPeer::silent();
    let _up = answered_call(&server, &mut agent, &ua, &rtp3, "555");
    server.terminate();
    assert_eq!(
        server.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        server.log()
    );

    let list = records(&config);
    assert_eq!(list.len(), 3, "{list:#?}\n{}", server.log());
    let answered = &list[0];
    assert_eq!(answered["direction"], "inbound", "{answered:#}");
    assert_eq!(answered["from_uri"], from_uri.as_str(), "{answered:#}");
    assert!(
        answered["to_uri"]
            .as_str()
            .is_some_and(|t| t.starts_with("sip:555@")),
        "{answered:#}"
    );
    assert_eq!(answered["dialed"], "555");
    assert_eq!(answered["route"], "555");
    assert_eq!(answered["from_endpoint"], "local");
    assert_eq!(answered["to_endpoint"], "myagent");
    assert_eq!(answered["controller"], "agent");
    assert!(answered["controller_call_id"].is_string(), "{answered:#}");
    assert_eq!(answered["disposition"], "answered");
    assert_eq!(answered["sip_status"], 200);
    assert_eq!(answered["ended_by"], "a");
    let ms = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("a time: {v}"));
    let (setup, answer, end) = (
        ms(&answered["setup_ms"]),
        ms(&answered["answer_ms"]),
        ms(&answered["end_ms"]),
    );
    assert!(
        setup > 0 && setup <= answer && answer <= end,
        "{answered:#}"
    );
    assert!(
        answered["a_media"]["packets_received"].as_i64() > Some(0),
        "{answered:#}"
    );
    assert!(
        answered["a_media"]["packets_sent"].as_i64() > Some(0),
        "{answered:#}"
    );

    let no_route = &list[1];
    assert_eq!(no_route["disposition"], "refused", "{no_route:#}");
    assert_eq!(no_route["sip_status"], 404);
    assert_eq!(no_route["dialed"], "999");
    assert_eq!(no_route["answer_ms"], Value::Null);

    let at_shutdown = &list[2];
    assert_eq!(at_shutdown["disposition"], "answered", "{at_shutdown:#}");
    assert_eq!(at_shutdown["ended_by"], "shutdown");

    // CSV: a header and one line per record, as many fields each.
    let csv = cdr_command(&config, &["--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[0].starts_with("call_uuid,sip_call_id,"), "{csv}");
    let columns = lines[0].split(',').count();
    for line in &lines[1..] {
        assert_eq!(line.split(',').count(), columns, "{line}");
    }
    assert!(lines[2].contains(",refused,404,"), "{csv}");
    (server, config)
}
