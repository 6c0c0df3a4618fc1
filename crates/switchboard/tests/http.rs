//! The HTTP listener (`http.listen`) of the real binary, over 127.0.0.1:
//! `/healthz` and `/readyz` answer while the server runs, `/readyz` turns 503
//! at SIGTERM while a call drains, other paths are 404, a port already taken
//! stops the start, and the `SWITCHBOARD_HTTP_LISTEN` override is obeyed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{free_port, Server, SipUa};

const WAIT: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A server whose local callers reach `callee` with any number; `http` is
/// the config's `http` section (or nothing).
fn config(port: u16, callee: SocketAddr, http: &str) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  callee: {{ uri: "sip:{callee}" }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: callee }}
media:
  rtp_ports: 46000-46999
agent_rpc:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 30
{http}
"#
    )
}

/// The status code and body of `GET path` (a plain HTTP/1.1 request), or
/// `None` when the connection fails.
fn get(address: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, WAIT).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

#[test]
fn health_and_readiness_while_running_and_draining() {
    let callee = SipUa::bind();
    let port = free_port();
    let http_port = free_port();
    let http = format!("http:\n  listen: 127.0.0.1:{http_port}");
    let mut server = Server::start(binary(), &config(port, callee.local_addr(), &http), port);
    let address: SocketAddr = ([127, 0, 0, 1], http_port).into();
    assert_eq!(
        server.http_addr(),
        Some(address),
        "the bound address is logged"
    );

    assert_eq!(get(address, "GET", "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(
        get(address, "GET", "/readyz"),
        Some((200, "ready\n".into()))
    );
    assert_eq!(get(address, "GET", "/metrics").map(|a| a.0), Some(200));
    assert_eq!(get(address, "GET", "/").map(|a| a.0), Some(404));
    assert_eq!(get(address, "POST", "/healthz").map(|a| a.0), Some(405));

    // A call up keeps the server draining after SIGTERM (grace 30 s).
    let caller = SipUa::bind();
    let mut call = caller.call(
        server.addr(),
        "100",
        "127.0.0.1:40000".parse().expect("address"),
    );
    let mut incoming = callee.wait_incoming(WAIT).expect("the callee is dialed");
    incoming
        .answer("127.0.0.1:40002".parse().expect("address"), WAIT)
        .expect("callee answers");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());

    server.terminate();
    let deadline = Instant::now() + WAIT;
    let ready = loop {
        let ready = get(address, "GET", "/readyz");
        if ready.as_ref().is_some_and(|r| r.0 == 503) || Instant::now() > deadline {
            break ready;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        ready,
        Some((503, "shutting down\n".into())),
        "{}",
        server.log()
    );
    assert_eq!(
        get(address, "GET", "/healthz").map(|a| a.0),
        Some(200),
        "alive while draining"
    );
    // New calls are refused meanwhile, as /readyz says.
    let mut late = caller.call(
        server.addr(),
        "101",
        "127.0.0.1:40004".parse().expect("address"),
    );
    assert_eq!(late.wait_final(WAIT), Some(503));

    // The call ends: the server stops, and its HTTP listener with it.
    call.hangup(WAIT).expect("caller hangs up");
    assert_eq!(server.wait_exit(WAIT), Some(0), "{}", server.log());
    assert!(
        get(address, "GET", "/healthz").is_none(),
        "nothing listens after exit"
    );
}

#[test]
fn a_taken_http_port_stops_the_start() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let http_port = taken.local_addr().expect("address").port();
    let port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("switchboard.yaml");
    let http = format!("http:\n  listen: 127.0.0.1:{http_port}");
    let callee: SocketAddr = "127.0.0.1:9".parse().expect("address");
    std::fs::write(&path, config(port, callee, &http)).expect("write config");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .env_remove("SWITCHBOARD_HTTP_LISTEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn switchboard");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("http.listen 127.0.0.1:{http_port}")),
        "{stderr}"
    );
}

#[test]
fn the_environment_override_places_the_listener() {
    // No `http` section: testkit's Server sets SWITCHBOARD_HTTP_LISTEN to an
    // ephemeral port, which the server logs and serves on.
    let port = free_port();
    let callee: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let server = Server::start(binary(), &config(port, callee, ""), port);
    let address = server.http_addr().expect("the HTTP address is logged");
    assert_ne!(address.port(), 8080);
    assert_eq!(get(address, "GET", "/healthz").map(|a| a.0), Some(200));
}
