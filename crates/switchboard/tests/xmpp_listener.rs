//! The Rayo XMPP listener end to end: the real binary, real sockets on
//! 127.0.0.1 (listener ports chosen by the OS), the test kit's XMPP client.
//! IQs the stream does not answer itself go to the Rayo adapter
//! (`rayo_calls.rs` tests it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::xmpp::{
    client_options, listen_addr_from_log, test_certificate, ClientOptions, LoginError, XmppClient,
};
use testkit::{free_port, Server};
use xmpp::sasl::Mechanism;
use xmpp::{Element, StreamError};

/// Longest any single expected thing may take (the machine is busy).
const WAIT: Duration = Duration::from_secs(5);
const DOMAIN: &str = "rayo.test";
const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// A server with users `usera`/`1` and `userb`/`two`; `rayo_extra` adds
/// lines to the `rayo` section (two spaces of indent), `sip` fills `sip:`.
fn start(rayo_extra: &str, sip: &str) -> (Server, SocketAddr) {
    let port = free_port();
    let config = format!(
        "transports:\n  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}\n\
         agent_rpc: {{ listen: \"127.0.0.1:0\" }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\n\
         sip: {{ {sip} }}\n\
         rayo:\n  domain: {DOMAIN}\n  listen: \"127.0.0.1:0\"\n  users:\n    - {{ username: usera, password: \"1\" }}\n    - {{ username: userb, password: two }}\n{rayo_extra}"
    );
    let server = Server::start(binary(), &config, port);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(addr) = listen_addr_from_log(&server.log()) {
            return (server, addr);
        }
        assert!(
            Instant::now() < deadline,
            "no Rayo listening line:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_tls() -> (Server, SocketAddr) {
    let (cert, key) = test_certificate();
    start(
        &format!(
            "  tls: {{ cert: \"{}\", key: \"{}\" }}\n",
            cert.display(),
            key.display()
        ),
        "",
    )
}

fn login(addr: SocketAddr, options: &ClientOptions) -> XmppClient {
    match XmppClient::connect(addr, options, WAIT) {
        Ok(client) => client,
        Err(error) => panic!("login failed: {error}"),
    }
}

fn usera() -> ClientOptions {
    client_options(DOMAIN, "usera", "1")
}

fn error_condition(reply: &Element) -> Option<String> {
    assert_eq!(reply.get_attr("type"), Some("error"), "{reply}");
    reply
        .get_child("error", "jabber:client")?
        .first_child()
        .map(|c| c.name().to_owned())
}

/// A raw connection: what the server sends until `needle` appears (or the
/// connection ends, or `WAIT` passes).
fn read_until(socket: &mut TcpStream, needle: &str) -> String {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !String::from_utf8_lossy(&got).contains(needle) {
        match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn scram_sha_256_over_starttls_and_the_iqs_the_server_answers() {
    let (server, addr) = start_tls();
    let mut client = login(addr, &usera().mechanism(Mechanism::ScramSha256));
    assert_eq!(client.jid().node(), Some("usera"));
    assert_eq!(client.jid().domain(), DOMAIN);

    let ping = client
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .expect("ping answered");
    assert_eq!(ping.get_attr("type"), Some("result"), "{ping}");

    let disco = client
        .iq(
            "get",
            DOMAIN,
            Element::new("query", "http://jabber.org/protocol/disco#info"),
            WAIT,
        )
        .expect("disco answered");
    let features: Vec<&str> = disco
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("query")
        .children()
        .filter_map(|f| f.get_attr("var"))
        .collect();
    assert!(features.contains(&"urn:xmpp:rayo:1"), "{disco}");

    let roster = client
        .iq("get", "", Element::new("query", "jabber:iq:roster"), WAIT)
        .expect("roster answered");
    assert_eq!(roster.get_attr("type"), Some("result"), "{roster}");
    let query = roster
        .get_child("query", "jabber:iq:roster")
        .expect("query");
    assert_eq!(query.children().count(), 0, "empty roster");

    // A command to a call that does not exist: the Rayo adapter's item-not-found.
    let unknown = client
        .iq_set(
            "nobody@rayo.test/x",
            Element::new("answer", "urn:xmpp:rayo:1"),
            WAIT,
        )
        .expect("answered");
    assert_eq!(error_condition(&unknown).as_deref(), Some("item-not-found"));
    assert_eq!(
        unknown
            .get_child("error", "jabber:client")
            .and_then(|e| e.get_attr("type")),
        Some("cancel")
    );

    // PLAIN is fine once TLS is up; without TLS the client cannot log in.
    let plain = login(addr, &usera().mechanism(Mechanism::Plain));
    drop(plain);
    let mut no_tls = usera();
    no_tls.starttls = false;
    match XmppClient::connect(addr, &no_tls, WAIT) {
        Err(LoginError::AuthFailed(condition)) => assert_eq!(condition, "encryption-required"),
        other => panic!("login without TLS: {:?}", other.err()),
    }
    assert_eq!(client.close(WAIT), Some(None), "clean close");
    assert!(server.log().contains("tls=true"));
}

#[test]
fn scram_sha_1_and_plain_without_tls_when_allowed() {
    let (_server, addr) = start("  allow_plain_without_tls: true\n", "");
    let mut client = login(addr, &usera().mechanism(Mechanism::ScramSha1));
    let ping = client.iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT);
    assert_eq!(
        ping.and_then(|p| p.get_attr("type").map(str::to_owned))
            .as_deref(),
        Some("result")
    );
    let userb = client_options(DOMAIN, "userb", "two").mechanism(Mechanism::Plain);
    let other = login(addr, &userb.resource("app"));
    assert_eq!(other.jid().to_string(), "userb@rayo.test/app");
}

#[test]
fn plain_is_not_offered_without_tls_and_unknown_mechanisms_are_refused() {
    let (_server, addr) = start("", "");
    match XmppClient::connect(addr, &usera().mechanism(Mechanism::Plain), WAIT) {
        Err(LoginError::AuthFailed(condition)) => assert_eq!(condition, "invalid-mechanism"),
        other => panic!("PLAIN without TLS: {:?}", other.err()),
    }
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.write_all(HEADER.as_bytes()).expect("write");
    let features = read_until(&mut raw, "</stream:features>");
    assert!(
        features.contains("SCRAM-SHA-256") && !features.contains(">PLAIN<"),
        "{features}"
    );
    raw.write_all(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>")
        .expect("write");
    let failure = read_until(&mut raw, "</failure>");
    assert!(failure.contains("<invalid-mechanism/>"), "{failure}");
    // SCRAM still works on the plain stream.
    login(addr, &usera());
}

#[test]
fn wrong_passwords_fail_and_then_ban_the_source() {
    let (server, addr) = start(
        "  allow_plain_without_tls: true\n",
        "auth_max_failures: 3, auth_ban_sec: 120",
    );
    let wrong = client_options(DOMAIN, "usera", "guess");
    for attempt in 0..2 {
        match XmppClient::connect(addr, &wrong, WAIT) {
            Err(LoginError::AuthFailed(condition)) => {
                assert_eq!(condition, "not-authorized", "attempt {attempt}")
            }
            other => panic!("attempt {attempt}: {:?}", other.err()),
        }
    }
    // The third failure starts the ban: the stream ends with policy-violation.
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.write_all(HEADER.as_bytes()).expect("write");
    read_until(&mut raw, "</stream:features>");
    // PLAIN: authzid, user, password.
    let payload = b"\0usera\0guess";
    let encoded = base64_encode(payload);
    raw.write_all(
        format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{encoded}</auth>"
        )
        .as_bytes(),
    )
    .expect("write");
    let answer = read_until(&mut raw, "</stream:stream>");
    assert!(
        answer.contains("<not-authorized/>") && answer.contains("policy-violation"),
        "{answer}"
    );
    // Banned: even the right password gets nowhere, the connection is closed at accept.
    match XmppClient::connect(addr, &usera(), WAIT) {
        Err(LoginError::Io(_)) | Err(LoginError::Closed(_)) => {}
        other => panic!("banned source logged in or timed out: {:?}", other.err()),
    }
    let log = server.log();
    assert!(log.contains("auth ban: source=127.0.0.1"), "{log}");
    assert!(
        log.contains("source banned for failed authentication"),
        "{log}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    xmpp::sasl::encode_payload(bytes)
}

#[test]
fn a_second_session_with_the_same_full_jid_replaces_the_first() {
    let (_server, addr) = start("", "");
    let mut first = login(addr, &usera().resource("app"));
    let mut second = login(addr, &usera().resource("app"));
    assert_eq!(first.wait_closed(WAIT), Some(Some(StreamError::Conflict)));
    let ping = second.iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT);
    assert!(ping.is_some(), "the new session works");
    // A different resource of the same user is another session.
    let mut third = login(addr, &usera().resource("other"));
    assert!(third
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .is_some());
    assert!(second
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .is_some());
}

#[test]
fn malformed_and_oversized_input_end_the_stream_and_the_server_carries_on() {
    let (_server, addr) = start("", "");
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.write_all(HEADER.as_bytes()).expect("write");
    read_until(&mut raw, "</stream:features>");
    raw.write_all(b"<iq><bad attr=noquotes/></iq>")
        .expect("write");
    let answer = read_until(&mut raw, "</stream:stream>");
    assert!(answer.contains("<not-well-formed"), "{answer}");

    let mut client = login(addr, &usera());
    let huge = "x".repeat(70 * 1024);
    client
        .send_raw(format!("<message to='rayo.test'><body>{huge}</body></message>").as_bytes())
        .expect("write");
    assert_eq!(
        client.wait_closed(WAIT),
        Some(Some(StreamError::PolicyViolation))
    );

    let mut again = login(addr, &usera());
    assert!(again
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .is_some());
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_are_unharmed() {
    let (server, addr) = start("", "");
    let mut other = login(addr, &client_options(DOMAIN, "userb", "two"));
    let mut slow = login(addr, &usera());
    // Pings are answered by the server itself; this client never reads the answers.
    let batch: String = (0..1000)
        .map(|i| {
            format!("<iq type='get' id='p{i}' to='rayo.test'><ping xmlns='urn:xmpp:ping'/></iq>")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dropped = false;
    while Instant::now() < deadline {
        if slow.send_raw(batch.as_bytes()).is_err() {
            dropped = true;
            break;
        }
        if server.log().contains("it does not read what it is sent") {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the slow reader was not dropped");
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("it does not read what it is sent") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains("it does not read what it is sent"),
        "dropped for another reason:\n{}",
        server.log()
    );
    let ping = other.iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT);
    assert!(ping.is_some(), "another client is unharmed");
    let mut fresh = login(addr, &usera());
    assert!(fresh
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .is_some());
}

#[test]
fn presence_is_tracked_and_shutdown_closes_streams_cleanly() {
    let (mut server, addr) = start("", "");
    let mut client = login(addr, &usera().resource("app"));
    client.show("chat").expect("presence");
    // The availability change is only visible in the log until the adapter lands.
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("available=true") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains("usera@rayo.test/app available=true"),
        "{}",
        server.log()
    );
    // A message is ignored; the stream goes on.
    client
        .send(&Element::new("message", "jabber:client").attr("to", "rayo.test"))
        .expect("send");
    assert!(client
        .iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT)
        .is_some());
    server.terminate();
    assert_eq!(
        client.wait_closed(WAIT),
        Some(None),
        "closed with </stream:stream>"
    );
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0));
}

/// An INVITE from `socket` claiming `alice`, with `authorization` if given;
/// the status of its final response.
fn invite_status(
    socket: &std::net::UdpSocket,
    server: SocketAddr,
    n: u32,
    authorization: Option<&str>,
) -> u16 {
    let local = socket.local_addr().expect("bound");
    let call_id = format!("xmpp-ban-{n}-{}", local.port());
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let text = format!(
        "INVITE sip:100@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=f-{call_id}\r\nTo: <sip:100@{server}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{local}>\r\n{auth}Content-Length: 0\r\n\r\n"
    );
    socket
        .send_to(text.as_bytes(), server)
        .expect("send INVITE");
    socket.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = socket.recv_from(&mut buf).expect("a response in time");
        let Ok(sip::Message::Response(response)) = sip::parse_datagram(&buf[..n]) else {
            continue;
        };
        if response.status >= 200 && String::from_utf8_lossy(&buf[..n]).contains(&call_id) {
            return response.status;
        }
    }
}

#[test]
fn sasl_failures_and_sip_digest_failures_count_toward_one_ban() {
    let port = free_port();
    let config = format!(
        "transports:\n  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}\n\
         endpoints:\n  alice: {{ match: {{ type: user }}, auth: {{ username: alice, password: secret }} }}\n\
         routes:\n  default:\n    - {{ id: \"\", match: any, hangup: {{ code: 486 }} }}\n\
         agent_rpc: {{ listen: \"127.0.0.1:0\" }}\nhttp: {{ listen: \"127.0.0.1:0\" }}\n\
         sip: {{ auth_max_failures: 3, auth_ban_sec: 120 }}\n\
         rayo:\n  domain: {DOMAIN}\n  listen: \"127.0.0.1:0\"\n  users: [ {{ username: usera, password: \"1\" }} ]\n"
    );
    let server = Server::start(binary(), &config, port);
    let addr = listen_addr_from_log(&server.log()).expect("Rayo address");
    let sip = SocketAddr::from(([127, 0, 0, 1], port));
    let phone = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    assert_eq!(
        invite_status(&phone, sip, 1, None),
        401,
        "challenged before any failure"
    );
    let wrong = client_options(DOMAIN, "usera", "guess");
    for _ in 0..2 {
        assert!(matches!(
            XmppClient::connect(addr, &wrong, WAIT),
            Err(LoginError::AuthFailed(_))
        ));
    }
    // The third failure is a SIP one (a made-up nonce and a wrong response).
    let bogus = format!(
        "Digest username=\"alice\", realm=\"127.0.0.1\", nonce=\"made-up\", uri=\"sip:100@{sip}\", \
         response=\"00000000000000000000000000000000\", algorithm=MD5"
    );
    assert_eq!(invite_status(&phone, sip, 2, Some(&bogus)), 403);
    assert!(
        server.log().contains("auth ban: source=127.0.0.1"),
        "{}",
        server.log()
    );
    // Banned on both: XMPP closed at accept, SIP refused without a challenge.
    assert!(matches!(
        XmppClient::connect(addr, &usera(), WAIT),
        Err(LoginError::Io(_)) | Err(LoginError::Closed(_))
    ));
    assert_eq!(invite_status(&phone, sip, 3, None), 403);
}

/// The seam the Rayo adapter will use, in process: availability changes
/// and routed stanzas arrive in order, and `RayoHub::send` reaches the client.
#[test]
fn the_hub_sees_availability_and_routed_stanzas_and_reaches_clients() {
    use switchboard::auth_ban::{AuthFailures, BanPolicy};
    use switchboard::config::Config;
    use switchboard::rayo::{HubEvent, RayoHub, RayoListener};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let config = Config::from_yaml(
        "rayo: { domain: rayo.test, listen: \"127.0.0.1:0\", users: [ { username: usera, password: \"1\" } ] }\n",
        "t.yaml",
    )
    .expect("config");
    let rayo = config.rayo.clone().expect("rayo");
    let (hub, mut events) = RayoHub::new(&rayo);
    let failures = std::sync::Arc::new(std::sync::Mutex::new(AuthFailures::new(
        BanPolicy::from_config(&config.sip),
    )));
    let listener = runtime
        .block_on(async { RayoListener::bind(&rayo, hub.clone(), failures) })
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    runtime.spawn(listener.serve(std::future::pending()));
    let mut next_event = || {
        runtime
            .block_on(async { tokio::time::timeout(WAIT, events.recv()).await })
            .ok()
            .flatten()
    };

    let mut client = login(addr, &usera().resource("app"));
    let jid = client.jid().clone();
    let available = |available| {
        Some(HubEvent::Availability {
            jid: jid.clone(),
            available,
        })
    };
    // A plain presence does not count (plain_presence_available is off).
    client
        .send(&Element::new("presence", "jabber:client"))
        .expect("send");
    client.show("chat").expect("send");
    assert_eq!(next_event(), available(true));
    client.show("dnd").expect("send");
    assert_eq!(next_event(), available(false));
    client.show("chat").expect("send");
    assert_eq!(next_event(), available(true));
    assert_eq!(hub.available(None), vec![jid.clone()]);
    assert_eq!(hub.available(Some(&["userb".to_owned()])), vec![]);

    // A Rayo command reaches the hub with `from` stamped; the reply goes back.
    client
        .send(
            &Element::new("iq", "jabber:client")
                .attr("type", "set")
                .attr("id", "d1")
                .attr("to", DOMAIN)
                .child(Element::new("dial", "urn:xmpp:rayo:1").attr("to", "sip:a@b")),
        )
        .expect("send");
    let Some(HubEvent::Stanza { from, stanza }) = next_event() else {
        panic!("the dial was not routed");
    };
    assert_eq!(from, jid);
    assert_eq!(stanza.get_attr("from"), Some(jid.to_string().as_str()));
    hub.send(&jid, xmpp::iq_result(&stanza, None))
        .expect("queued");
    let reply = client
        .wait_stanza(|s| s.get_attr("id") == Some("d1"), WAIT)
        .expect("the hub's reply arrives");
    assert_eq!(reply.get_attr("type"), Some("result"));

    // Closing the stream ends availability.
    assert_eq!(client.close(WAIT), Some(None));
    assert_eq!(next_event(), available(false));
    assert!(hub.available(None).is_empty());
}
