//! Reloading the config of the real binary while it runs: SIGHUP and
//! `switchboard reload` apply new routes, endpoints and agent tokens to new
//! calls and connections, keep the calls in progress, refuse an invalid
//! file (logging its line) and move the SIP, Agent RPC, Rayo and HTTP
//! listeners whose address changed.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::agent::Agent;
use testkit::baresip::write_tone_wav;
use testkit::rtp_source::Source;
use testkit::udp::{options_request, RawUdp};
use testkit::{free_port, Codec, RtpPeer, RtpPeerConfig, SipUa};

const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "api-token-0123456789";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// The binary on a config file this test rewrites; killed when dropped.
struct Bench {
    child: Option<Child>,
    dir: tempfile::TempDir,
    sip_port: u16,
    agent_port: u16,
    http_port: u16,
}

impl Bench {
    /// Starts on the config `yaml(self)` makes; the SIP, Agent RPC and HTTP
    /// ports are chosen first so the config can name them.
    fn start(yaml: impl Fn(&Bench) -> String) -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        write_tone_wav(
            dir.path().join("prompt.wav"),
            1000.0,
            -10.0,
            Duration::from_millis(500),
        )
        .expect("write the prompt");
        let log = fs::File::create(dir.path().join("server.log")).expect("create log");
        let mut bench = Bench {
            child: None,
            dir,
            sip_port: free_port(),
            agent_port: free_port(),
            http_port: free_port(),
        };
        bench.write(&yaml(&bench));
        let child = Command::new(binary())
            .arg("--config")
            .arg(bench.config_path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn switchboard");
        bench.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut attempt = 0;
        while options(bench.sip_addr(), &format!("ready-{attempt}")).is_none() {
            attempt += 1;
            assert!(
                Instant::now() < deadline,
                "no answer to OPTIONS\n{}",
                bench.log()
            );
        }
        bench
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("switchboard.yaml")
    }

    fn write(&self, yaml: &str) {
        fs::write(self.config_path(), yaml).expect("write config");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip_port))
    }

    fn agents(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.agent_port))
    }

    /// Sends SIGHUP and waits until the log shows the reload's outcome
    /// (`config reloaded` or `config not reloaded`) once more than before.
    fn hangup(&self) {
        let before = self.outcomes();
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        while self.outcomes() == before {
            assert!(
                Instant::now() < deadline,
                "no reload logged\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn outcomes(&self) -> usize {
        self.log().matches("config reloaded").count()
            + self.log().matches("config not reloaded").count()
    }

    /// `switchboard reload --config FILE`.
    fn reload_command(&self, file: &Path) -> Output {
        Command::new(binary())
            .args(["reload", "--config"])
            .arg(file)
            .output()
            .expect("run switchboard reload")
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- switchboard log ---\n{}", self.log());
        }
    }
}

/// The status of the answer to an OPTIONS sent to `to`, if one comes.
fn options(to: SocketAddr, call_id: &str) -> Option<u16> {
    let udp = RawUdp::bind();
    udp.send(&options_request(udp.local_addr(), to, call_id), to);
    udp.recv_response(call_id, Duration::from_millis(300))
        .map(|r| r.status)
}

/// A config whose local callers dial `routes` (YAML list entries) and whose
/// agents must present `token`.
fn config(b: &Bench, sip_port: u16, routes: &str, token: &str) -> String {
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
  playback_dir: {dir}
  recordings_dir: {dir}
agent_rpc:
  listen: 127.0.0.1:{agents}
  token: {token}
http:
  listen: 127.0.0.1:{http}
  api_token: {TOKEN}
sip:
  shutdown_grace_sec: 0
"#,
        dir = b.dir.path().display(),
        agents = b.agent_port,
        http = b.http_port,
    )
}

const ROUTE_100: &str = "    - { id: \"100\", endpoint: myagent }\n";
const ROUTE_200: &str = "    - { id: \"200\", endpoint: myagent }\n";

fn connect(b: &Bench, token: &str) -> Result<Agent, testkit::agent::AgentError> {
    let bearer = format!("Bearer {token}");
    Agent::connect_with(
        b.agents(),
        "/?endpoint=myagent",
        &[("Authorization", bearer.as_str())],
    )
}

/// `POST /api/v1/reload` with `token`: the status and the body.
fn post_reload(b: &Bench, token: &str) -> (u16, String) {
    http_request(b.http_port, "POST /api/v1/reload", token)
}

/// `REQUEST` (method and path) to the HTTP listener on `port` with the
/// bearer `token`: the status and the body.
fn http_request(port: u16, request: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP listener");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    let request = format!(
        "{request} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    (status, body)
}

fn silent_peer() -> RtpPeer {
    RtpPeer::start(RtpPeerConfig {
        codec: Codec::Pcmu,
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer on 127.0.0.1")
}

/// The final status of a call to `number` that nobody takes.
fn final_status(b: &Bench, number: &str) -> Option<u16> {
    let ua = SipUa::bind();
    let rtp = silent_peer();
    let mut call = ua.call(b.sip_addr(), number, rtp.local_addr());
    call.wait_final(WAIT)
}

#[test]
fn sighup_applies_routes_and_tokens_keeps_calls_and_refuses_an_invalid_file() {
    let b = Bench::start(|b| config(b, b.sip_port, ROUTE_100, "first-token"));
    let mut agent = connect(&b, "first-token").expect("agent with the first token");

    // A call answered before the reload.
    let ua = SipUa::bind();
    let rtp = silent_peer();
    let mut call = ua.call(b.sip_addr(), "100", rtp.local_addr());
    let invite = agent.expect_invite(WAIT).expect("invite for 100");
    agent.respond_invite(&invite, 200, "OK");
    let did = invite.did.clone();
    let (_, answered) = agent
        .call("answer", &did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(answered.code, 200, "{answered:?}");
    assert_eq!(call.wait_final(WAIT), Some(200));
    rtp.set_destination(call.negotiated().expect("negotiated").remote_rtp);

    assert_eq!(final_status(&b, "200"), Some(404), "no route for 200 yet");

    b.write(&config(
        &b,
        b.sip_port,
        &format!("{ROUTE_100}{ROUTE_200}"),
        "second-token",
    ));
    b.hangup();
    assert!(b.log().contains("config reloaded"), "{}", b.log());

    // New calls take the new routes.
    let ua200 = SipUa::bind();
    let rtp200 = silent_peer();
    let mut call200 = ua200.call(b.sip_addr(), "200", rtp200.local_addr());
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
    assert!(connect(&b, "first-token").is_err(), "old token refused");
    let _second = connect(&b, "second-token").expect("new token accepted");

    // Calls admitted after the reload still leave their records (the
    // writer is the one started with the server).
    let deadline = Instant::now() + WAIT;
    loop {
        let out = Command::new(binary())
            .args(["cdr", "--format", "json", "--config"])
            .arg(b.config_path())
            .output()
            .expect("run switchboard cdr");
        let records: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_default();
        let dialed = |n: &str| records.iter().any(|r| r["dialed"] == n);
        if dialed("100") && dialed("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records of the calls to 100 and 200: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // An invalid file changes nothing and its error names the line.
    let bad = format!(
        "{}bogus_key: 1\n",
        config(&b, b.sip_port, ROUTE_100, "third-token")
    );
    let line = bad.lines().count();
    b.write(&bad);
    b.hangup();
    let log = b.log();
    let expected = format!("{}:{line}:", b.config_path().display());
    assert!(log.contains(&expected), "{expected} in\n{log}");
    assert!(log.contains("config not reloaded"), "{log}");
    let ua2 = SipUa::bind();
    let rtp2 = silent_peer();
    let mut again = ua2.call(b.sip_addr(), "200", rtp2.local_addr());
    let invite = agent.expect_invite(WAIT).expect("200 still routed");
    agent.respond_invite(&invite, 486, "Busy Here");
    assert!(again.wait_final(WAIT).is_some_and(|s| s >= 400));
    assert!(connect(&b, "third-token").is_err(), "token unchanged");
}

#[test]
fn reload_command_needs_the_api_token() {
    let b = Bench::start(|b| config(b, b.sip_port, ROUTE_100, "agent-token"));
    assert_eq!(final_status(&b, "300"), Some(404));
    b.write(&config(
        &b,
        b.sip_port,
        &format!("{ROUTE_100}    - {{ id: \"300\", hangup: {{ code: 486 }} }}\n"),
        "agent-token",
    ));
    let output = b.reload_command(&b.config_path());
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        b.log()
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("reloaded"));
    assert_eq!(final_status(&b, "300"), Some(486), "applied at once");

    // The same server asked with a wrong token: refused, nothing applied.
    let wrong = b.dir.path().join("wrong-token.yaml");
    let text = fs::read_to_string(b.config_path())
        .expect("read config")
        .replace(TOKEN, "not-the-api-token-0000")
        .replace("code: 486", "code: 603");
    fs::write(&wrong, text).expect("write");
    let output = b.reload_command(&wrong);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(final_status(&b, "300"), Some(486));

    // Asked directly with an invalid file in place, the server answers 422
    // with the line-numbered errors and keeps its config.
    let good = fs::read_to_string(b.config_path()).expect("read config");
    b.write(&format!("{good}bogus_key: 1\n"));
    let (status, body) = post_reload(&b, TOKEN);
    assert_eq!(status, 422, "{body}");
    let line = good.lines().count() + 1;
    assert!(body.contains(&format!(":{line}:")), "line {line} in {body}");
    assert_eq!(final_status(&b, "300"), Some(486));
    b.write(&good);
    assert_eq!(post_reload(&b, TOKEN).0, 200);

    // An invalid file is refused before the server is asked.
    let invalid = b.dir.path().join("invalid.yaml");
    fs::write(&invalid, "routes: {}\nbogus_key: 1\n").expect("write");
    let output = b.reload_command(&invalid);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid.yaml:2:"));
}

#[test]
fn a_moved_http_listener_serves_the_api_under_its_new_token() {
    let b = Bench::start(|b| config(b, b.sip_port, ROUTE_100, "agent-token"));
    let moved = free_port();
    let rotated = "rotated-api-token-9876";
    b.write(
        &config(&b, b.sip_port, ROUTE_100, "agent-token")
            .replace(
                &format!("127.0.0.1:{}", b.http_port),
                &format!("127.0.0.1:{moved}"),
            )
            .replace(TOKEN, rotated),
    );
    // Asked on the old listener with the old token: the answer comes from
    // the old listener after it stopped accepting.
    let (status, body) = post_reload(&b, TOKEN);
    assert_eq!(status, 200, "{body}\n{}", b.log());
    assert!(!body.contains("needs a restart"), "{body}");
    assert!(b.log().contains("HTTP listener moved"), "{}", b.log());
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", b.http_port)).is_ok() {
        assert!(Instant::now() < deadline, "the old HTTP port still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everything is served on the new port; the API takes the new token only.
    let (status, metrics) = http_request(moved, "GET /metrics", "");
    assert_eq!(status, 200);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    assert_eq!(http_request(moved, "GET /readyz", "").0, 200);
    assert_eq!(http_request(moved, "POST /api/v1/reload", TOKEN).0, 401);
    let (status, body) = http_request(moved, "POST /api/v1/reload", rotated);
    assert_eq!(status, 200, "{body}");
    // Unchanged in the file since: nothing moves again.
    assert_eq!(b.log().matches("HTTP listener moved").count(), 1);
    assert_eq!(final_status(&b, "999"), Some(404), "SIP unaffected");
}

/// [`config`] with a TCP listener too, on the same port as the UDP one.
fn config_with_tcp(b: &Bench, sip_port: u16) -> String {
    let udp = format!("  udp: {{ transport: udp, bind: 127.0.0.1, port: {sip_port} }}\n");
    let tcp = format!("  tcp: {{ transport: tcp, bind: 127.0.0.1, port: {sip_port} }}\n");
    config(b, sip_port, ROUTE_100, "agent-token").replace(&udp, &format!("{udp}{tcp}"))
}

#[test]
fn moved_sip_and_agent_ports_are_rebound_and_restart_keys_are_named() {
    let b = Bench::start(|b| config_with_tcp(b, b.sip_port));
    let old = b.sip_addr();
    assert!(TcpStream::connect(old).is_ok(), "TCP listening at start");
    let mut first = connect(&b, "agent-token").expect("agent on the first port");
    let new_port = free_port();
    let agent_port = free_port();
    b.write(
        &config_with_tcp(&b, new_port)
            .replace("43000-43999", "44000-44999")
            .replace(
                &format!("127.0.0.1:{}", b.agent_port),
                &format!("127.0.0.1:{agent_port}"),
            ),
    );
    b.hangup();
    let new = SocketAddr::from(([127, 0, 0, 1], new_port));
    assert_eq!(options(new, "moved-1"), Some(200), "{}", b.log());
    assert_eq!(options(old, "moved-2"), None, "old UDP port closed");
    assert!(TcpStream::connect(new).is_ok(), "TCP moved");
    assert!(TcpStream::connect(old).is_err(), "old TCP port closed");
    let log = b.log();
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
    assert!(
        TcpStream::connect(b.agents()).is_err(),
        "old agent port closed"
    );
    let moved = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let second = Agent::connect_with(
        moved,
        "/?endpoint=myagent",
        &[("Authorization", "Bearer agent-token")],
    )
    .expect("agent on the new port");
    drop(second);
    let ua = SipUa::bind();
    let rtp = silent_peer();
    let mut call = ua.call(new, "100", rtp.local_addr());
    let invite = first
        .expect_invite(WAIT)
        .expect("the agent connected before the move still gets calls");
    first.respond_invite(&invite, 200, "OK");
    let (_, done) = first
        .call("answer", &invite.did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(done.code, 200, "{done:?}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.log());
    // A request the server sends now carries the new port in its Via.
    let _ = first.call("hangup", &invite.did, json!({}), WAIT);
    let bye = call.wait_bye(WAIT).expect("the server's BYE");
    let via = bye.headers.get(sip::HeaderName::Via).unwrap_or_default();
    assert!(via.contains(&format!("127.0.0.1:{new_port};")), "{via}");
}

/// [`config`] with Rayo on, listening on `rayo_port`.
fn config_with_rayo(b: &Bench, rayo_port: u16) -> String {
    format!(
        "{}rayo:\n  domain: example.test\n  listen: 127.0.0.1:{rayo_port}\n  allow_plain_without_tls: true\n  users:\n    - {{ username: app, password: \"secret-pass\" }}\n",
        config(b, b.sip_port, ROUTE_100, "agent-token")
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
    let b = Bench::start(|b| config_with_rayo(b, rayo_port));
    let old = SocketAddr::from(([127, 0, 0, 1], rayo_port));
    let mut before = xmpp_stream(old);
    let new_port = free_port();
    b.write(&config_with_rayo(&b, new_port));
    b.hangup();
    let log = b.log();
    assert!(log.contains("Rayo listener moved"), "{log}");
    assert!(!log.contains("changing rayo"), "{log}");
    let _after = xmpp_stream(SocketAddr::from(([127, 0, 0, 1], new_port)));
    assert!(TcpStream::connect(old).is_err(), "old Rayo port closed");
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
