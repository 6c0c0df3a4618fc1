//! Rayo hold end to end against a caller that meets the first re-INVITE
//! with glare (491): the call core retries once after the RFC 3261 §14.1
//! delay, and the client's `<hold>` result comes with the retry's 200.
//! The real binary on 127.0.0.1 (ports from the OS), SIPp as the caller.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::xmpp::{listen_addr_from_log, rayo, ClientOptions, XmppClient, RAYO_NS};
use testkit::{free_port, Server, Sipp};
use xmpp::Element;

/// Longest any single expected thing may take (the glare delay is ≤ 2 s).
const WAIT: Duration = Duration::from_secs(5);
const DOMAIN: &str = "rayo.test";

/// Answers the first re-INVITE 491, the retry 200; checks the X-Hold header.
const UAC_HOLD_GLARE: &str = include_str!("scenarios/rayo_uac_hold_glare.xml");

fn server() -> (Server, std::net::SocketAddr) {
    let port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: rayo }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: app }}
media:
  rtp_ports: 49500-49599
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
rayo:
  domain: {DOMAIN}
  listen: 127.0.0.1:0
  allow_plain_without_tls: true
  users:
    - {{ username: usera, password: "1" }}
"#
    );
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let server = Server::start(binary, &yaml, port);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(xmpp) = listen_addr_from_log(&server.log()) {
            return (server, xmpp);
        }
        assert!(Instant::now() < deadline, "no listener:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ok(server: &Server, client: &mut XmppClient, call: &str, command: Element) {
    let name = command.name().to_owned();
    let reply = client
        .command(call, command, WAIT)
        .unwrap_or_else(|| panic!("{name} answered\n{}", server.log()));
    assert_eq!(reply.get_attr("type"), Some("result"), "{name}: {reply}");
}

#[test]
fn hold_met_by_glare_is_retried_and_succeeds_with_its_headers() {
    let (server, xmpp) = server();
    let options = ClientOptions::new(DOMAIN, "usera", "1");
    let mut client = XmppClient::connect(xmpp, &options, WAIT).expect("logs in");
    client.show("chat").expect("presence sent");
    let pong = client.iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT);
    assert!(pong.is_some(), "ping answered");
    let sipp = Sipp::xml(UAC_HOLD_GLARE, server.addr())
        .service("1000")
        .timeout(Duration::from_secs(15))
        .spawn();
    let offered = client
        .wait_offer(WAIT)
        .unwrap_or_else(|| panic!("an offer\n{}", server.log()));
    let call = offered.call.clone();
    ok(&server, &mut client, &call, rayo("answer"));
    let mut hold = rayo("hold");
    hold.push(
        Element::new("header", RAYO_NS)
            .attr("name", "X-Hold")
            .attr("value", "glare"),
    );
    ok(&server, &mut client, &call, hold);
    ok(&server, &mut client, &call, rayo("hangup"));
    let run = sipp.wait();
    assert!(
        run.success,
        "{}\n{}\n{}",
        run.report(),
        run.errors,
        server.log()
    );
}
