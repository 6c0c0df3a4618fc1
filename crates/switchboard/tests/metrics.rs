//! `GET /metrics` of the real binary over 127.0.0.1: the exposition text
//! parses line by line (every sample `name{labels} value`, every family with
//! HELP and TYPE, histograms with cumulative buckets ending at `+Inf` =
//! `_count`, `# EOF` last), and the families follow a call taken by an
//! agent: `switchboard_calls_active` 0, then 1 while it is up, then 0 after
//! the hangup; the agent connection counts while connected; the SIP
//! counters show the INVITE, ACK and BYE received and the 200s sent; RTP
//! packets flow both ways (the agent plays a prompt, which the pacer
//! sends) and the totals keep them after the session ends; `answer` is
//! timed. `switchboard_rayo_sessions` counts a
//! Rayo client bound, and a Rayo command is timed.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;
use testkit::agent::Agent;
use testkit::baresip::write_tone_wav;
use testkit::rayo_harness::{Caller, RayoBench, RayoConfig};
use testkit::rtp_source::Source;
use testkit::{free_port, Codec, RtpPeer, RtpPeerConfig, Server, SipUa};

const WAIT: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A server whose local callers all go to the agent endpoint `myagent`,
/// with `prompt.wav` (half a second of tone) in its playback directory.
fn start() -> (Server, SocketAddr, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tone_wav(
        dir.path().join("prompt.wav"),
        1000.0,
        -10.0,
        Duration::from_millis(500),
    )
    .expect("write the prompt");
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
    - {{ id: "", match: any, endpoint: myagent }}
media:
  rtp_ports: 47200-47399
  playback_dir: {dir}
agent_rpc:
  listen: 127.0.0.1:{agent_port}
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
"#,
        dir = dir.path().display(),
    );
    let server = Server::start(binary(), &yaml, port);
    (server, ([127, 0, 0, 1], agent_port).into(), dir)
}

/// A scrape: the response's content type and body.
struct Scrape {
    content_type: String,
    body: String,
}

/// `GET /metrics` as a plain HTTP/1.1 request.
fn scrape(address: SocketAddr) -> Scrape {
    let mut stream = TcpStream::connect_timeout(&address, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: sb\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("header end");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .expect("a content type");
    Scrape {
        content_type,
        body: body.to_owned(),
    }
}

/// One sample line: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: String,
    value: f64,
}

/// Parses the exposition text, checking its shape; returns the samples.
fn parse(text: &str) -> Vec<Sample> {
    let mut helps = HashSet::new();
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            helps.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            types.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with("# UNIT ") {
        } else {
            assert!(!line.starts_with('#'), "unknown comment: {line}");
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("labels close");
                    (name, labels)
                }
                None => (series, ""),
            };
            for label in labels.split(',').filter(|l| !l.is_empty()) {
                let (key, quoted) = label.split_once('=').expect("key=value");
                assert!(!key.is_empty(), "{line}");
                assert!(
                    quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"'),
                    "{line}"
                );
            }
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
            assert!(name.starts_with("switchboard_"), "{line}");
            samples.push(Sample {
                name: name.to_owned(),
                labels: labels.to_owned(),
                value,
            });
        }
    }
    for sample in &samples {
        let family = family_of(&sample.name, &types);
        assert!(helps.contains(family), "HELP for {}", sample.name);
        assert!(types.contains_key(family), "TYPE for {}", sample.name);
    }
    assert_eq!(helps.len(), types.len(), "one HELP per TYPE");
    check_histograms(&samples, &types);
    samples
}

/// The family a sample belongs to: counters add `_total`, histograms
/// `_bucket`, `_sum` and `_count`.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    let suffixed = [
        ("_total", "counter"),
        ("_bucket", "histogram"),
        ("_sum", "histogram"),
        ("_count", "histogram"),
    ];
    for (suffix, kind) in suffixed {
        if let Some(family) = name.strip_suffix(suffix) {
            if types.get(family).map(String::as_str) == Some(kind) {
                return family;
            }
        }
    }
    name
}

/// Every histogram series: buckets never decrease, the last is `+Inf`,
/// and it equals `_count`.
fn check_histograms(samples: &[Sample], types: &BTreeMap<String, String>) {
    let histograms = types.iter().filter(|(_, kind)| *kind == "histogram");
    for (family, _) in histograms {
        let counts = samples
            .iter()
            .filter(|s| s.name == format!("{family}_count"));
        for count in counts {
            let buckets: Vec<&Sample> = samples
                .iter()
                .filter(|s| {
                    s.name == format!("{family}_bucket") && without_le(&s.labels) == count.labels
                })
                .collect();
            assert!(!buckets.is_empty(), "{family}{{{}}} buckets", count.labels);
            assert!(
                buckets.windows(2).all(|w| w[0].value <= w[1].value),
                "{family} buckets cumulative"
            );
            let last = buckets.last().expect("a bucket");
            assert!(last.labels.contains("le=\"+Inf\""), "{family} ends at +Inf");
            assert_eq!(last.value, count.value, "{family} +Inf = count");
        }
    }
}

/// A bucket's labels without its `le`.
fn without_le(labels: &str) -> String {
    labels
        .split(',')
        .filter(|l| !l.starts_with("le="))
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks that the series `name{labels}` is exposed, whatever its value
/// (a gauge or counter whose value this test cannot predict).
fn present(samples: &[Sample], name: &str, labels: &str) {
    value(samples, name, labels);
}

fn value(samples: &[Sample], name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .unwrap_or_else(|| panic!("{name}{{{labels}}} in {samples:?}"))
        .value
}

/// Scrapes until the gauge `name` reads `expected`.
fn wait_gauge(server: &Server, address: SocketAddr, name: &str, expected: f64) {
    wait_for(server, address, name, "", |now| now == expected);
}

/// Scrapes until `name{labels}` satisfies `ok`; returns that scrape.
fn wait_for(
    server: &Server,
    address: SocketAddr,
    name: &str,
    labels: &str,
    ok: impl Fn(f64) -> bool,
) -> Vec<Sample> {
    let deadline = Instant::now() + WAIT;
    loop {
        let samples = parse(&scrape(address).body);
        let now = value(&samples, name, labels);
        if ok(now) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{{{labels}}} stays {now}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(agents: SocketAddr) -> Agent {
    let deadline = Instant::now() + WAIT;
    loop {
        match Agent::connect(agents, "myagent") {
            Ok(agent) => return agent,
            Err(error) if Instant::now() > deadline => panic!("agent cannot connect: {error:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn metrics_parse_and_calls_active_follows_a_call() {
    let (server, agents, _dir) = start();
    let address = server.http_addr().expect("the HTTP address is logged");

    let first = scrape(address);
    assert!(
        first
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        first.content_type
    );
    let samples = parse(&first.body);
    assert_eq!(value(&samples, "switchboard_calls_active", ""), 0.0);
    assert_eq!(value(&samples, "switchboard_mixers_active", ""), 0.0);
    for name in [
        "switchboard_pacer_skipped_ticks_total",
        "switchboard_pacer_streams",
        "switchboard_tts_renders_total",
        "switchboard_pacer_tick_lateness_seconds_count",
        "switchboard_pacer_tick_lateness_max_seconds",
    ] {
        present(&samples, name, "");
    }
    assert!(
        value(&samples, "switchboard_connections_open", "") >= 1.0,
        "the scrape's own connection counts"
    );
    assert_eq!(value(&samples, "switchboard_agent_connections", ""), 0.0);
    assert_eq!(value(&samples, "switchboard_rtp_sessions", ""), 0.0);
    for queue in [
        "sip_inbound",
        "sip_commands",
        "agent_invitations",
        "agent_writers",
    ] {
        let labels = format!("queue=\"{queue}\"");
        present(&samples, "switchboard_queue_depth", &labels);
    }
    let answers = |samples: &[Sample]| {
        value(
            samples,
            "switchboard_agent_command_duration_seconds_count",
            "op=\"answer\"",
        )
    };
    assert_eq!(answers(&samples), 0.0);

    let mut agent = connect(agents);
    wait_gauge(&server, address, "switchboard_agent_connections", 1.0);
    let rtp = RtpPeer::start(RtpPeerConfig {
        codec: Codec::Pcmu,
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer on 127.0.0.1");
    let ua = SipUa::bind();
    let mut call = ua.call(server.addr(), "100", rtp.local_addr());
    let invite = agent
        .expect_invite(WAIT)
        .unwrap_or_else(|| panic!("agent gets the invite\n{}", server.log()));
    agent.respond_invite(&invite, 200, "OK");
    let (_, done) = agent
        .call("answer", &invite.did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(done.code, 200, "{done:?}");
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    wait_gauge(&server, address, "switchboard_calls_active", 1.0);
    // The driver sums the call actors' queues every 100 ms.
    wait_for(
        &server,
        address,
        "switchboard_queue_capacity",
        "queue=\"call_events\"",
        |n| n > 0.0,
    );
    // The caller's RTP reaches the call's session.
    rtp.set_destination(call.negotiated().expect("the 200's SDP").remote_rtp);
    let up = wait_for(
        &server,
        address,
        "switchboard_rtp_packets_received_total",
        "",
        |n| n > 0.0,
    );
    assert!(value(&up, "switchboard_rtp_sessions", "") >= 1.0);
    assert!(value(&up, "switchboard_rtp_payload_bytes_received_total", "") > 0.0);
    // A prompt the pacer sends to the caller: its ticks and packets count.
    let (_, played) = agent
        .call(
            "play",
            &invite.did,
            json!({"uri": "file://prompt.wav"}),
            WAIT,
        )
        .expect("play completes");
    assert_eq!(played.code, 200, "{played:?}");
    let up = wait_for(
        &server,
        address,
        "switchboard_rtp_packets_sent_total",
        "",
        |n| n > 0.0,
    );
    assert!(value(&up, "switchboard_rtp_payload_bytes_sent_total", "") > 0.0);
    assert!(
        value(&up, "switchboard_pacer_tick_lateness_seconds_count", "") > 0.0,
        "the pacer ticked for the prompt"
    );
    let rtp_totals = [
        "switchboard_rtp_packets_received_total",
        "switchboard_rtp_payload_bytes_received_total",
        "switchboard_rtp_packets_sent_total",
        "switchboard_rtp_payload_bytes_sent_total",
    ];
    let while_up = rtp_totals.map(|name| value(&up, name, ""));
    assert_eq!(answers(&up), 1.0, "answer timed once");
    assert_eq!(
        value(
            &up,
            "switchboard_sip_requests_received_total",
            "method=\"INVITE\""
        ),
        1.0
    );
    present(&up, "switchboard_sip_transactions", "");
    let writers = "queue=\"agent_writers\"";
    assert!(
        value(&up, "switchboard_queue_capacity", writers) > 0.0,
        "the agent's writer queue is watched"
    );

    // What one scrape costs with a call up, for the record.
    let started = Instant::now();
    let text = scrape(address).body;
    let elapsed = started.elapsed();
    let log = server.log();
    let handler = log.lines().rfind(|l| l.contains("metrics scraped"));
    eprintln!(
        "one scrape: {} bytes, {elapsed:?} round trip; handler: {}",
        text.len(),
        handler.unwrap_or("not logged")
    );

    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    assert!(
        agent.wait_bye(&invite.did, WAIT).is_some(),
        "agent gets bye"
    );
    wait_gauge(&server, address, "switchboard_calls_active", 0.0);
    // The ended sessions' counts stay in the totals.
    let ended = wait_for(&server, address, "switchboard_rtp_sessions", "", |n| {
        n == 0.0
    });
    for (name, up) in rtp_totals.iter().zip(while_up) {
        let now = value(&ended, name, "");
        assert!(
            now > 0.0 && now >= up,
            "{name}: {now} after the call, {up} during it"
        );
    }
    // The SIP counters are copied at the driver's 100 ms load sample.
    wait_for(
        &server,
        address,
        "switchboard_sip_requests_received_total",
        "method=\"BYE\"",
        |n| n >= 1.0,
    );
    let after = wait_for(
        &server,
        address,
        "switchboard_sip_responses_sent_total",
        "code=\"200\"",
        |n| n >= 2.0,
    );
    let sip = |name: &str, labels: &str| value(&after, name, labels);
    let received = "switchboard_sip_requests_received_total";
    for method in ["INVITE", "ACK", "BYE"] {
        assert!(
            sip(received, &format!("method=\"{method}\"")) >= 1.0,
            "{method}"
        );
    }
    let sent = "switchboard_sip_responses_sent_total";
    assert!(sip(sent, "code=\"100\"") >= 1.0, "100 Trying");
    let agent_calls = "controller=\"agent\"";
    assert_eq!(
        value(&after, "switchboard_calls_started_total", agent_calls),
        1.0
    );
    assert_eq!(
        value(&after, "switchboard_calls_answered_total", agent_calls),
        1.0
    );
    let finished = wait_for(
        &server,
        address,
        "switchboard_calls_finished_total",
        "controller=\"agent\",disposition=\"answered\"",
        |n| n == 1.0,
    );
    let refused = "controller=\"none\",disposition=\"refused\"";
    assert_eq!(
        value(&finished, "switchboard_calls_finished_total", refused),
        0.0
    );
    assert!(value(&finished, "switchboard_cdr_records_dropped_total", "") == 0.0);
    present(&after, "switchboard_sip_retransmissions_total", "");
    drop(agent);
    wait_gauge(&server, address, "switchboard_agent_connections", 0.0);
}

#[test]
fn rayo_sessions_counts_a_bound_client() {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let bench = RayoBench::start(binary, &RayoConfig::new().rtp_ports("47400-47499"));
    let address = bench
        .server
        .http_addr()
        .expect("the HTTP address is logged");
    wait_gauge(&bench.server, address, "switchboard_rayo_sessions", 0.0);
    let mut client = bench.available("usera");
    wait_gauge(&bench.server, address, "switchboard_rayo_sessions", 1.0);
    let bound = parse(&scrape(address).body);
    let streams = "queue=\"xmpp_streams\"";
    assert!(value(&bound, "switchboard_queue_capacity", streams) > 0.0);
    present(&bound, "switchboard_queue_depth", "queue=\"rayo_events\"");
    let labels = "command=\"answer\"";
    let name = "switchboard_rayo_command_duration_seconds_count";
    assert_eq!(value(&parse(&scrape(address).body), name, labels), 0.0);
    let caller = Caller::new();
    let (mut call, _) = bench.answered(&mut client, &caller);
    assert_eq!(value(&parse(&scrape(address).body), name, labels), 1.0);
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    drop(client);
    wait_gauge(&bench.server, address, "switchboard_rayo_sessions", 0.0);
}

/// A datagram that does not parse never reaches the SIP stack: the UDP
/// transport answers it 400 itself, and both the message and the 400 count.
#[test]
fn an_unparseable_datagram_and_its_400_are_counted() {
    let (server, _agents, _dir) = start();
    let address = server.http_addr().expect("the HTTP address is logged");
    let unparseable = "switchboard_sip_unparseable_messages_total";
    let sent = "switchboard_sip_responses_sent_total";
    let bad_request = "code=\"400\"";
    let before = parse(&scrape(address).body);
    assert_eq!(value(&before, unparseable, ""), 0.0);
    assert!(!before
        .iter()
        .any(|s| s.name == sent && s.labels == bad_request));

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    let local = socket.local_addr().expect("local address");
    let garbage = format!(
        "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-unparseable\r\n\
         From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\n\
         Call-ID: unparseable\r\nCSeq: not-a-number OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    socket
        .send_to(garbage.as_bytes(), server.addr())
        .expect("send");
    let mut answer = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut answer).expect("an answer");
    let answer = String::from_utf8_lossy(&answer[..len]);
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");

    // Counted before the 400 was sent, so this scrape sees both.
    let after = parse(&scrape(address).body);
    assert_eq!(value(&after, unparseable, ""), 1.0);
    assert_eq!(value(&after, sent, bad_request), 1.0);
}
