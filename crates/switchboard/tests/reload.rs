//! Reloading the config of the real binary while it runs: SIGHUP and
//! `switchboard reload` apply new routes, endpoints and agent tokens to new
//! calls and connections, keep the calls in progress, refuse an invalid
//! file (logging its line) and move the SIP, Agent RPC, Rayo and HTTP
//! listeners whose address changed.

mod common;

use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::cdr::records;
use common::http::request;
use serde_json::json;
use testkit::agent::Agent;
use testkit::baresip::write_tone_wav;
use testkit::{free_port, wait_refused, RtpPeer, Server, SipUa};

const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "api-token-0123456789";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// The SIP, Agent RPC and HTTP ports a test's config names, chosen before
/// the server starts.
struct Ports {
    sip: u16,
    agent: u16,
    http: u16,
}

impl Ports {
    fn new() -> Ports {
        Ports {
            sip: free_port(),
            agent: free_port(),
            http: free_port(),
        }
    }

    fn agents(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.agent))
    }

    fn http(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http))
    }
}

/// Replaces the config file `server` runs on with `yaml` (applied at the
/// next reload).
fn rewrite(server: &Server, yaml: &str) {
    fs::write(server.config_path(), yaml).expect("write config");
}

/// Sends SIGHUP and waits until the server logged the reload's outcome.
fn hangup(server: &Server) {
    assert!(server.reload(), "no reload logged\n{}", server.log());
}

/// `switchboard reload --config FILE`.
fn reload_command(file: &Path) -> Output {
    Command::new(binary())
        .args(["reload", "--config"])
        .arg(file)
        .output()
        .expect("run switchboard reload")
}

/// A config whose local callers dial `routes` (YAML list entries) and whose
/// agents must present `token`; prompts and recordings are the default
/// `sounds` and `recordings` beside the config file.
fn config(ports: &Ports, sip_port: u16, routes: &str, token: &str) -> String {
    format!(
        r#"transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {sip_port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  myagent: {{ match: {{ type: agent }} }}
routes:
  incoming:
{routes}
media:
  rtp_ports: 43000-43999
agent_rpc:
  listen: 127.0.0.1:{agents}
  token: {token}
http:
  listen: 127.0.0.1:{http}
  api_token: {TOKEN}
sip:
  shutdown_grace_sec: 0
"#,
        agents = ports.agent,
        http = ports.http,
    )
}

const ROUTE_100: &str = "    - { id: \"100\", endpoint: myagent }\n";
const ROUTE_200: &str = "    - { id: \"200\", endpoint: myagent }\n";

/// An agent of `myagent` on `agents` presenting `token`.
fn connect(agents: SocketAddr, token: &str) -> Result<Agent, testkit::agent::AgentError> {
    let bearer = format!("Bearer {token}");
    Agent::connect_with(
        agents,
        "/?endpoint=myagent",
        &[("Authorization", bearer.as_str())],
    )
}

/// `method target` to the HTTP listener `http` with the bearer `token`:
/// the status and the body.
fn http_request(
    http: SocketAddr,
    method: &str,
    target: &str,
    token: Option<&str>,
) -> (u16, String) {
    let (status, body) = request(http, method, target, token);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `POST /api/v1/reload` with `token`: the status and the body.
fn post_reload(http: SocketAddr, token: &str) -> (u16, String) {
    http_request(http, "POST", "/api/v1/reload", Some(token))
}

/// The final status of a call to `number` that nobody takes.
fn final_status(server: &Server, number: &str) -> Option<u16> {
    let ua = SipUa::bind();
    let rtp = RtpPeer::silent();
    let mut call = ua.call(server.addr(), number, rtp.local_addr());
    call.wait_final(WAIT)
}

#[test]
fn sighup_applies_routes_and_tokens_keeps_calls_and_refuses_an_invalid_file() {
    let ports = Ports::new();
    let server = Server::start(
        binary(),
        &config(&ports, ports.sip, ROUTE_100, "first-token"),
        ports.sip,
    );
    let sounds = server.dir().join("sounds");
    fs::create_dir_all(&sounds).expect("playback dir");
    write_tone_wav(
        sounds.join("prompt.wav"),
        1000.0,
        -10.0,
        Duration::from_millis(500),
    )
    .expect("write the prompt");
    let mut agent = connect(ports.agents(), "first-token").expect("agent with the first token");

    // A call answered before the reload.
    let ua = SipUa::bind();
    let rtp = RtpPeer::silent();
    let mut call = ua.call(server.addr(), "100", rtp.local_addr());
    let invite = agent.expect_invite(WAIT).expect("invite for 100");
    agent.respond_invite(&invite, 200, "OK");
    let did = invite.did.clone();
    let (_, answered) = agent
        .call("answer", &did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(answered.code, 200, "{answered:?}");
    assert_eq!(call.wait_final(WAIT), Some(200));
    rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);

    assert_eq!(
        final_status(&server, "200"),
        Some(404),
        "no route for 200 yet"
    );

    rewrite(
        &server,
        &config(
            &ports,
            ports.sip,
            &format!("{ROUTE_100}{ROUTE_200}"),
            "second-token",
        ),
    );
    hangup(&server);
    assert!(server.log().contains("config reloaded"), "{}", server.log());

    // New calls take the new routes.
    let ua200 = SipUa::bind();
    let rtp200 = RtpPeer::silent();
    let mut call200 = ua200.call(server.addr(), "200", rtp200.local_addr());
    let invite200 = agent
        .expect_invite(WAIT)
        .expect("invite for 200 after reload");
    assert_eq!(invite200.data["to"], "200");
    agent.respond_invite(&invite200, 486, "Busy Here");
    assert!(call200.wait_final(WAIT).is_some_and(|s| s >= 400));

    // The call from before goes on: its media flows and it ends normally.
    rtp.clear_received();
    let (_, played) = agent
        .call(
            "play",
            &did,
            json!({"uri": "file://prompt.wav"}),
            Duration::from_secs(10),
        )
        .expect("play completes");
    assert_eq!(played.code, 200, "{played:?}");
    assert!(
        rtp.wait_for_packets(10, WAIT),
        "the call's media flows after the reload"
    );
    assert_eq!(call.hangup(WAIT).expect("BYE answered"), 200);

    // The new token holds for new connections; the old one is refused.
    assert!(
        connect(ports.agents(), "first-token").is_err(),
        "old token refused"
    );
    let _second = connect(ports.agents(), "second-token").expect("new token accepted");

    // Calls admitted after the reload still leave their records (the
    // writer is the one started with the server).
    let deadline = Instant::now() + WAIT;
    loop {
        let records = records(&server.config_path());
        let dialed = |n: &str| records.iter().any(|r| r["dialed"] == n);
        if dialed("100") && dialed("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records of the calls to 100 and 200: {records:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // An invalid file changes nothing and its error names the line.
    let bad = format!(
        "{}bogus_key: 1\n",
        config(&ports, ports.sip, ROUTE_100, "third-token")
    );
    let line = bad.lines().count();
    rewrite(&server, &bad);
    hangup(&server);
    let log = server.log();
    let expected = format!("{}:{line}:", server.config_path().display());
    assert!(log.contains(&expected), "{expected} in\n{log}");
    assert!(log.contains("config not reloaded"), "{log}");
    let ua2 = SipUa::bind();
    let rtp2 = RtpPeer::silent();
    let mut again = ua2.call(server.addr(), "200", rtp2.local_addr());
    let invite = agent.expect_invite(WAIT).expect("200 still routed");
    agent.respond_invite(&invite, 486, "Busy Here");
    assert!(again.wait_final(WAIT).is_some_and(|s| s >= 400));
    assert!(
        connect(ports.agents(), "third-token").is_err(),
        "token unchanged"
    );
}

#[test]
fn reload_command_needs_the_api_token() {
    let ports = Ports::new();
    let server = Server::start(
        binary(),
        &config(&ports, ports.sip, ROUTE_100, "agent-token"),
        ports.sip,
    );
    assert_eq!(final_status(&server, "300"), Some(404));
    rewrite(
        &server,
        &config(
            &ports,
            ports.sip,
            &format!("{ROUTE_100}    - {{ id: \"300\", hangup: {{ code: 486 }} }}\n"),
            "agent-token",
        ),
    );
    let output = reload_command(&server.config_path());
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("reloaded"));
    assert_eq!(final_status(&server, "300"), Some(486), "applied at once");

    // The same server asked with a wrong token: refused, nothing applied.
    let wrong = server.dir().join("wrong-token.yaml");
    let text = fs::read_to_string(server.config_path())
        .expect("read config")
        .replace(TOKEN, "not-the-api-token-0000")
        .replace("code: 486", "code: 603");
    fs::write(&wrong, text).expect("write");
    let output = reload_command(&wrong);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(final_status(&server, "300"), Some(486));

    // Asked directly with an invalid file in place, the server answers 422
    // with the line-numbered errors and keeps its config.
    let good = fs::read_to_string(server.config_path()).expect("read config");
    rewrite(&server, &format!("{good}bogus_key: 1\n"));
    let (status, body) = post_reload(ports.http(), TOKEN);
    assert_eq!(status, 422, "{body}");
    let line = good.lines().count() + 1;
    assert!(body.contains(&format!(":{line}:")), "line {line} in {body}");
    assert_eq!(final_status(&server, "300"), Some(486));
    rewrite(&server, &good);
    assert_eq!(post_reload(ports.http(), TOKEN).0, 200);

    // An invalid file is refused before the server is asked.
    let invalid = server.dir().join("invalid.yaml");
    fs::write(&invalid, "routes: {}\nbogus_key: 1\n").expect("write");
    let output = reload_command(&invalid);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid.yaml:2:"));
}

#[test]
fn a_moved_http_listener_serves_the_api_under_its_new_token() {
    let ports = Ports::new();
    let server = Server::start(
        binary(),
        &config(&ports, ports.sip, ROUTE_100, "agent-token"),
        ports.sip,
    );
    let moved = free_port();
    let rotated = "rotated-api-token-9876";
    rewrite(
        &server,
        &config(&ports, ports.sip, ROUTE_100, "agent-token")
            .replace(
                &format!("127.0.0.1:{}", ports.http),
                &format!("127.0.0.1:{moved}"),
            )
            .replace(TOKEN, rotated),
    );
    // Asked on the old listener with the old token: the answer comes from
    // the old listener after it stopped accepting.
    let (status, body) = post_reload(ports.http(), TOKEN);
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert!(!body.contains("needs a restart"), "{body}");
    assert!(
        server.log().contains("HTTP listener moved"),
        "{}",
        server.log()
    );
    assert!(
        wait_refused(ports.http(), WAIT),
        "the old HTTP port still accepts"
    );
    let moved = SocketAddr::from(([127, 0, 0, 1], moved));
    // Everything is served on the new port; the API takes the new token only.
    let (status, metrics) = http_request(moved, "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    assert_eq!(http_request(moved, "GET", "/readyz", None).0, 200);
    assert_eq!(post_reload(moved, TOKEN).0, 401);
    let (status, body) = post_reload(moved, rotated);
    assert_eq!(status, 200, "{body}");
    // Unchanged in the file since: nothing moves again.
    assert_eq!(server.log().matches("HTTP listener moved").count(), 1);
    assert_eq!(final_status(&server, "999"), Some(404), "SIP unaffected");
}

/// [`config`] with a TCP listener too, on the same port as the UDP one.
fn config_with_tcp(ports: &Ports, sip_port: u16) -> String {
    let udp = format!("  udp: {{ transport: udp, bind: 127.0.0.1, port: {sip_port} }}\n");
    let tcp = format!("  tcp: {{ transport: tcp, bind: 127.0.0.1, port: {sip_port} }}\n");
    config(ports, sip_port, ROUTE_100, "agent-token").replace(&udp, &format!("{udp}{tcp}"))
}

#[test]
fn moved_sip_and_agent_ports_are_rebound_and_restart_keys_are_named() {
    let ports = Ports::new();
    let mut server = Server::start(binary(), &config_with_tcp(&ports, ports.sip), ports.sip);
    let old = server.addr();
    assert!(TcpStream::connect(old).is_ok(), "TCP listening at start");
    let mut first = connect(ports.agents(), "agent-token").expect("agent on the first port");
    let new_port = free_port();
    let agent_port = free_port();
    rewrite(
        &server,
        &config_with_tcp(&ports, new_port)
            .replace("43000-43999", "44000-44999")
            .replace(
                &format!("127.0.0.1:{}", ports.agent),
                &format!("127.0.0.1:{agent_port}"),
            ),
    );
    hangup(&server);
    server.sip_port = new_port;
    let new = server.addr();
    assert_eq!(
        server.options_status("moved-1"),
        Some(200),
        "{}",
        server.log()
    );
    server.sip_port = ports.sip;
    assert_eq!(
        server.options_status_within("moved-2", Duration::from_millis(300)),
        None,
        "old UDP port closed"
    );
    server.sip_port = new_port;
    assert!(TcpStream::connect(new).is_ok(), "TCP moved");
    assert!(wait_refused(old, WAIT), "old TCP port closed");
    let log = server.log();
    assert!(log.contains("UDP listener moved"), "{log}");
    assert!(log.contains("Agent RPC listener moved"), "{log}");
    let line = "changing media.rtp_ports needs a restart";
    assert!(
        log.lines().any(|l| l.contains("WARN") && l.contains(line)),
        "{line} at warn in\n{log}"
    );
    assert!(!log.contains("changing agent_rpc.listen"), "{log}");

    // The Agent RPC listener moved: the old port refuses, the new one
    // takes agents, and the agent connected before is still offered calls.
    assert!(wait_refused(ports.agents(), WAIT), "old agent port closed");
    let moved = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let second = Agent::connect_with(
        moved,
        "/?endpoint=myagent",
        &[("Authorization", "Bearer agent-token")],
    )
    .expect("agent on the new port");
    drop(second);
    let ua = SipUa::bind();
    let rtp = RtpPeer::silent();
    let mut call = ua.call(new, "100", rtp.local_addr());
    let invite = first
        .expect_invite(WAIT)
        .expect("the agent connected before the move still gets calls");
    first.respond_invite(&invite, 200, "OK");
    let (_, done) = first
        .call("answer", &invite.did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(done.code, 200, "{done:?}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    // A request the server sends now carries the new port in its Via.
    let _ = first.call("hangup", &invite.did, json!({}), WAIT);
    let bye = call.wait_bye(WAIT).expect("the server's BYE");
    let via = bye.headers.get(sip::HeaderName::Via).unwrap_or_default();
    assert!(via.contains(&format!("127.0.0.1:{new_port};")), "{via}");
}

/// [`config`] with Rayo on, listening on `rayo_port`.
fn config_with_rayo(ports: &Ports, rayo_port: u16) -> String {
    format!(
        "{}rayo:\n  domain: example.test\n  listen: 127.0.0.1:{rayo_port}\n  allow_plain_without_tls: true\n  users:\n    - {{ username: app, password: \"secret-pass\" }}\n",
        config(ports, ports.sip, ROUTE_100, "agent-token")
    )
}

/// Opens an XMPP stream on `to` and reads up to its features.
fn xmpp_stream(to: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(to).expect("connect to the Rayo listener");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream
        .write_all(
            b"<?xml version='1.0'?><stream:stream to='example.test' xmlns='jabber:client' \
              xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
        )
        .expect("send stream header");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("</stream:features>") {
        let n = std::io::Read::read(&mut stream, &mut buf).expect("features");
        assert!(
            n > 0,
            "closed before features: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    stream
}

#[test]
fn a_moved_rayo_listener_keeps_its_sessions() {
    let rayo_port = free_port();
    let ports = Ports::new();
    let server = Server::start(binary(), &config_with_rayo(&ports, rayo_port), ports.sip);
    let old = SocketAddr::from(([127, 0, 0, 1], rayo_port));
    let mut before = xmpp_stream(old);
    let new_port = free_port();
    rewrite(&server, &config_with_rayo(&ports, new_port));
    hangup(&server);
    let log = server.log();
    assert!(log.contains("Rayo listener moved"), "{log}");
    assert!(!log.contains("changing rayo"), "{log}");
    let _after = xmpp_stream(SocketAddr::from(([127, 0, 0, 1], new_port)));
    assert!(wait_refused(old, WAIT), "old Rayo port closed");
    // The stream opened before the move is still open: nothing to read
    // (the server would have sent </stream:stream> and closed it).
    before
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    match std::io::Read::read(&mut before, &mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!(
            "the old session ended: {other:?} {:?}",
            String::from_utf8_lossy(&buf)
        ),
    }
}
