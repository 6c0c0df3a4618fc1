//! Connection limits and timeouts against the real binary over 127.0.0.1:
//! per-address caps at accept, slow and idle SIP TCP connections, CRLF
//! keep-alives, the Agent RPC listener's cap and handshake deadline, and the
//! descriptors kept for RTP when a storm fills the process's limit.
//!
//! Sources other than 127.0.0.1 are other loopback addresses (all of 127/8
//! is loopback on Linux), bound before connecting.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use socket2::{Domain, Socket, Type};
use testkit::{free_port, free_ports, Agent, Server, SipUa};

/// Bound on anything that should happen soon.
const WAIT: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A UDP and a TCP listener on `port`, every local caller routed to the
/// agent endpoint `myagent`, Agent RPC on `agent_port` with `agent_extra`
/// lines; `extra` is appended (more sections).
fn config(port: u16, agent_port: u16, agent_extra: &str, extra: &str) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
  tcp: {{ transport: tcp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  myagent: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: myagent }}
http:
  listen: 127.0.0.1:0
agent_rpc:
  listen: 127.0.0.1:{agent_port}
{agent_extra}{extra}"#
    )
}

/// A TCP connection to `to` from the loopback address `source`.
fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddrV4::new(source, 0).into())
        .expect("bind a loopback source");
    socket
        .connect_timeout(&to.into(), WAIT)
        .expect("the kernel completes the handshake");
    socket.into()
}

/// How long until the server closed `stream` (EOF or reset), reading and
/// discarding whatever arrives meanwhile; `None` if still open after `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let deadline = start + within;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// Whether the server still holds `stream` open: nothing to read, no EOF.
fn is_open(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let open = matches!(stream.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).expect("blocking");
    open
}

/// Sends OPTIONS on `stream`; the status of the answer, if one arrives.
fn tcp_options(stream: &mut TcpStream, call_id: &str) -> Option<u16> {
    let local = stream.local_addr().expect("local address");
    let request = format!(
        "OPTIONS sip:switchboard@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:test@{local}>;tag=t-{call_id}\r\n\
         To: <sip:switchboard@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => answer.push(byte[0]),
            _ => return None,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

#[test]
fn connections_past_the_per_address_cap_are_closed_at_accept_others_are_served() {
    let port = free_port();
    let agent_port = free_port();
    let yaml = config(
        port,
        agent_port,
        "",
        "sip:\n  tcp_max_connections_per_ip: 100\n",
    );
    let server = Server::start(binary(), &yaml, port);
    let mut connections: Vec<TcpStream> = (0..300)
        .map(|_| connect_from(Ipv4Addr::LOCALHOST, server.addr()))
        .collect();

    // The kernel completed all 300 handshakes; the server closed all but
    // the first 100 as it accepted them.
    let deadline = Instant::now() + WAIT;
    for (n, stream) in connections.iter_mut().enumerate().skip(100) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            closed_within(stream, left).is_some(),
            "connection {n} (over the cap) still open"
        );
    }
    let open = connections.iter().take(100).filter(|s| is_open(s)).count();
    assert_eq!(open, 100, "the first 100 connections stay open");
    assert_eq!(
        tcp_options(&mut connections[0], "cap-kept"),
        Some(200),
        "a connection within the cap is served"
    );

    // Another source address is not affected, nor is UDP.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 2), server.addr());
    assert_eq!(tcp_options(&mut other, "cap-other-source"), Some(200));
    assert_eq!(server.options_status("cap-udp"), Some(200));
    assert!(server
        .log()
        .contains("per-address connection limit reached"));
}

#[test]
fn half_sent_and_trickled_messages_are_closed_after_the_header_timeout() {
    let port = free_port();
    let agent_port = free_port();
    let yaml = config(port, agent_port, "", "sip:\n  tcp_header_timeout_sec: 2\n");
    let server = Server::start(binary(), &yaml, port);

    // The request line and one header, then nothing.
    let mut half = connect_from(Ipv4Addr::LOCALHOST, server.addr());
    half.write_all(b"OPTIONS sip:switchboard@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-half\r\n")
        .expect("write");
    let closed = closed_within(&mut half, WAIT).expect("half-sent message closed within 10 s");
    assert!(
        closed >= Duration::from_secs(1),
        "closed after {closed:?}, before the 2 s header timeout"
    );

    // A slowloris: one byte of a long header section every 500 ms; each
    // byte is traffic, so only the header timeout can end it.
    let mut slow = connect_from(Ipv4Addr::LOCALHOST, server.addr());
    let padding = "x".repeat(200);
    let message = format!(
        "OPTIONS sip:switchboard@127.0.0.1 SIP/2.0\r\nX-Padding: {padding}\r\nContent-Length: 0\r\n\r\n"
    );
    let start = Instant::now();
    let mut closed_after = None;
    for byte in message.bytes() {
        assert!(
            start.elapsed() < WAIT,
            "slowloris still connected after 10 s"
        );
        if slow.write_all(&[byte]).is_err() {
            closed_after = Some(start.elapsed());
            break;
        }
        // Paces the trickle and notices the close.
        if closed_within(&mut slow, Duration::from_millis(500)).is_some() {
            closed_after = Some(start.elapsed());
            break;
        }
    }
    let closed = closed_after.expect("the slowloris was closed before its message was complete");
    assert!(closed >= Duration::from_secs(1), "closed after {closed:?}");
    assert!(server.log().contains("headers incomplete in time"));
    // The server is fine.
    assert_eq!(server.options_status("slow-after"), Some(200));
}

#[test]
fn a_silent_connection_is_closed_when_idle_but_keepalives_hold_one_open() {
    let port = free_port();
    let agent_port = free_port();
    let yaml = config(port, agent_port, "", "sip:\n  tcp_idle_timeout_sec: 2\n");
    let server = Server::start(binary(), &yaml, port);

    let mut silent = connect_from(Ipv4Addr::LOCALHOST, server.addr());
    let watcher = std::thread::spawn(move || closed_within(&mut silent, WAIT));
    let mut pinging = connect_from(Ipv4Addr::LOCALHOST, server.addr());

    // Keep-alives every 500 ms for 5 s (2.5 idle timeouts), each answered
    // with a CRLF pong (RFC 5626 §3.5.1).
    let start = Instant::now();
    let mut pongs = 0;
    while start.elapsed() < Duration::from_secs(5) {
        pinging.write_all(b"\r\n\r\n").expect("ping");
        pinging.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut pong = [0u8; 2];
        pinging
            .read_exact(&mut pong)
            .expect("a pong for every ping");
        assert_eq!(&pong, b"\r\n");
        pongs += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(pongs >= 5, "{pongs} pongs");

    // Meanwhile the silent one was closed, not before ~1 s.
    let closed = watcher
        .join()
        .expect("watcher")
        .expect("a silent connection is closed within 10 s");
    assert!(
        closed >= Duration::from_secs(1),
        "closed after {closed:?}, before the 2 s idle timeout"
    );
    assert!(is_open(&pinging), "keep-alives count as traffic");
    assert_eq!(tcp_options(&mut pinging, "idle-kept"), Some(200));
    assert!(server.log().contains("idle timeout"));
}

#[test]
fn agent_rpc_caps_connections_and_closes_those_that_never_upgrade() {
    let port = free_port();
    let agent_port = free_port();
    let yaml = config(
        port,
        agent_port,
        "  max_connections: 5\n  handshake_timeout_sec: 2\n",
        "",
    );
    let server = Server::start(binary(), &yaml, port);
    let agents = SocketAddr::from(([127, 0, 0, 1], agent_port));

    // One real agent (upgraded) and four connections that say nothing.
    let mut agent = Agent::connect(agents, "myagent").expect("agent connects");
    let opened = Instant::now();
    let mut raw: Vec<TcpStream> = (0..4)
        .map(|_| connect_from(Ipv4Addr::LOCALHOST, agents))
        .collect();
    // The sixth is closed at accept, well before any handshake deadline.
    let mut sixth = connect_from(Ipv4Addr::LOCALHOST, agents);
    let refused = closed_within(&mut sixth, WAIT).expect("the 6th connection is closed");
    assert!(
        raw.iter().all(is_open),
        "the five admitted connections live on (refused after {refused:?})"
    );

    // The four that never upgrade are closed after the 2 s handshake timeout.
    for stream in &mut raw {
        closed_within(stream, WAIT).expect("closed after the handshake timeout");
    }
    assert!(
        opened.elapsed() >= Duration::from_secs(1),
        "closed after {:?}, before the handshake timeout",
        opened.elapsed()
    );
    // The upgraded agent is not subject to it.
    let id = agent.send_request("no-such-op", "", json!({}));
    let response = agent
        .wait_response(&id, WAIT)
        .expect("the upgraded agent is still served");
    assert!(response.code >= 400, "{response:?}");
    // Their places are free again.
    let again = connect_from(Ipv4Addr::LOCALHOST, agents);
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_open(&again), "a place freed by the timeout is reusable");
    assert_eq!(server.options_status("agent-cap-after"), Some(200));
}

/// A script that runs the server with a descriptor limit of `limit` (soft
/// and hard), so a storm can reach it.
fn limited_binary(dir: &Path, limit: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("switchboard-limited");
    let script = format!(
        "#!/bin/sh\nulimit -n {limit}\nexec '{}' \"$@\"\n",
        binary().display()
    );
    std::fs::write(&path, script).expect("write the wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn a_storm_that_fills_the_descriptor_limit_leaves_rtp_its_share() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 400 descriptors and 20 RTP port pairs: media keeps 60, other uses
    // 100, signalling connections get 240 (see fd_limit's module doc).
    let wrapper = limited_binary(dir.path(), 400);
    let port = free_port();
    let agent_port = free_port();
    let rtp = free_ports(41);
    let rtp = rtp + rtp % 2; // 20 whole even/odd pairs
    let yaml = config(
        port,
        agent_port,
        "",
        &format!("media:\n  rtp_ports: {rtp}-{}\n", rtp + 39),
    );
    let server = Server::start(&wrapper, &yaml, port);

    // 450 connections from three addresses, each under the per-address cap:
    // more than the process has descriptors for.
    let mut storm: Vec<TcpStream> = (0..450)
        .map(|n| connect_from(Ipv4Addr::new(127, 0, 0, 2 + (n % 3) as u8), server.addr()))
        .collect();
    let deadline = Instant::now() + WAIT;
    let mut closed = vec![false; storm.len()];
    while closed.iter().filter(|c| **c).count() < 450 - 240 && Instant::now() < deadline {
        for (n, stream) in storm.iter_mut().enumerate() {
            if !closed[n] && !is_open(stream) {
                closed[n] = true;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // A call still gets its RTP ports: no agent is connected, so the
    // caller hears 480 (503 would mean the ports could not be bound).
    let ua = SipUa::bind();
    let mut call = ua.call(server.addr(), "100", SocketAddr::from(([127, 0, 0, 1], 9)));
    assert_eq!(call.wait_final(WAIT), Some(480));
    let open = closed.iter().filter(|c| !**c).count();
    assert_eq!(open, 240, "signalling holds exactly its share");
    assert_eq!(server.options_status("storm-udp"), Some(200));
    assert!(server
        .log()
        .contains("out of file descriptors for signalling"));
    drop(storm);
}

#[test]
fn memory_is_returned_to_the_system_once_a_storm_has_passed() {
    let port = free_port();
    let agent_port = free_port();
    let server = Server::start(binary(), &config(port, agent_port, "", ""), port);
    // 1,200 connections from six addresses, 200 each (under the default
    // per-address cap of 256).
    let mut storm: Vec<TcpStream> = (0..1200)
        .map(|n| connect_from(Ipv4Addr::new(127, 0, 0, 2 + (n / 200) as u8), server.addr()))
        .collect();
    // Accepts are in order: the last one served means all were admitted.
    let last = storm.last_mut().expect("a storm");
    assert_eq!(tcp_options(last, "storm-last"), Some(200));
    drop(storm);

    let deadline = Instant::now() + Duration::from_secs(30);
    let trimmed = loop {
        let log = server.log();
        if let Some(line) = log.lines().find(|l| l.contains("connection storm over")) {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no memory trim within 30 s of the storm's end"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The line is logged whatever the trim did; its `returned` field says
    // whether memory actually went back to the system.
    assert!(
        trimmed
            .split_whitespace()
            .any(|field| field == "returned=true"),
        "the trim returned no memory: {trimmed}"
    );
    assert_eq!(server.options_status("after-storm"), Some(200));
}
