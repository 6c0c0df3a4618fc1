//! Who gets a Rayo offer, end to end: the endpoint's `users`, the staged
//! `first` policy with its offer timeout and fail-over, a client leaving
//! during its offer, and a controlling client's stream closing (its calls
//! are hung up after the grace period). Real binary, ports from the OS.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::xmpp::{listen_addr_from_log, rayo, ClientOptions, XmppClient, RAYO_NS};
use testkit::{free_port, Codec, RtpPeer, RtpPeerConfig, Server, SipUa, Source};
use xmpp::Element;

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(500);
const DOMAIN: &str = "rayo.test";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// Callers dialing `2` reach `vip` (offered to userb only), the others
/// `app`; `rayo_extra` adds lines to `rayo:`.
fn start(rayo_extra: &str) -> (Server, SocketAddr) {
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
  vip: {{ match: {{ type: rayo, users: [userb] }} }}
routes:
  incoming:
    - {{ id: "2", match: exact, endpoint: vip }}
    - {{ id: "", match: any, endpoint: app }}
media:
  rtp_ports: 48000-48999
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
    - {{ username: userb, password: two }}
{rayo_extra}"#
    );
    let server = Server::start(binary(), &yaml, port);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(addr) = listen_addr_from_log(&server.log()) {
            return (server, addr);
        }
        assert!(
            Instant::now() < deadline,
            "no Rayo listener:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn show(client: &mut XmppClient, show: &str) {
    client.show(show).expect("presence");
    let ping = client.iq("get", DOMAIN, Element::new("ping", "urn:xmpp:ping"), WAIT);
    assert!(ping.is_some(), "ping answered");
}

fn available(addr: SocketAddr, user: &str) -> XmppClient {
    let password = if user == "usera" { "1" } else { "two" };
    let mut client = XmppClient::connect(addr, &ClientOptions::new(DOMAIN, user, password), WAIT)
        .unwrap_or_else(|e| panic!("{user} logs in: {e}"));
    show(&mut client, "chat");
    client
}

fn peer() -> RtpPeer {
    RtpPeer::start(RtpPeerConfig {
        codec: Codec::Pcmu,
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer")
}

fn ok(client: &mut XmppClient, call: &str, command: Element) {
    let reply = client.command(call, command, WAIT).expect("answered");
    assert_eq!(reply.get_attr("type"), Some("result"), "{reply}");
}

fn end_reason(client: &mut XmppClient, call: &str) -> String {
    let presence = client.wait_call_event(call, "end", WAIT).expect("<end>");
    let end = presence.get_child("end", RAYO_NS).expect("end");
    end.first_child()
        .map(|r| r.name().to_owned())
        .unwrap_or_default()
}

#[test]
fn an_endpoint_s_users_alone_get_its_offers() {
    let (server, addr) = start("");
    let mut a = available(addr, "usera");
    let mut b = available(addr, "userb");
    let ua = SipUa::bind();
    let rtp = peer();
    let mut call = ua.call(server.addr(), "2", rtp.local_addr());
    let offered = b.wait_offer(WAIT).expect("userb is offered the vip call");
    assert!(a.wait_offer(QUIET).is_none(), "usera is not");
    ok(&mut b, &offered.call, rayo("reject").child(rayo("busy")));
    assert_eq!(call.wait_final(WAIT), Some(486));
    // Without userb, nobody may take a vip call.
    show(&mut b, "dnd");
    let mut call = ua.call(server.addr(), "2", rtp.local_addr());
    assert_eq!(call.wait_final(WAIT), Some(480), "{}", server.log());
    assert!(a.wait_offer(QUIET).is_none());
}

#[test]
fn first_offers_one_client_at_a_time_and_fails_over_at_the_timeout() {
    let (server, addr) = start("  offer_policy: first\n  offer_timeout_ms: 700\n");
    let mut a = available(addr, "usera");
    let mut b = available(addr, "userb");
    let ua = SipUa::bind();
    let rtp = peer();
    let mut call = ua.call(server.addr(), "1000", rtp.local_addr());
    let first = a
        .wait_offer(WAIT)
        .expect("usera, available first, is asked first");
    assert!(b.wait_offer(QUIET / 2).is_none(), "one at a time");
    let second = b.wait_offer(WAIT).expect("userb after usera's timeout");
    assert_eq!(first.call, second.call);
    // usera's offer was withdrawn: its command is a conflict.
    let late = a
        .command(&first.call, rayo("answer"), WAIT)
        .expect("answered");
    assert_eq!(
        testkit::xmpp::error_condition(&late).as_deref(),
        Some("conflict")
    );
    ok(&mut b, &second.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    // The end reaches every client the call was offered to.
    assert_eq!(end_reason(&mut b, &second.call), "hungup");
    assert_eq!(end_reason(&mut a, &first.call), "hungup");
}

#[test]
fn a_client_leaving_during_its_offer_hands_it_to_the_next_at_once() {
    let (server, addr) = start("  offer_policy: first\n  offer_timeout_ms: 60000\n");
    let mut a = available(addr, "usera");
    let mut b = available(addr, "userb");
    let ua = SipUa::bind();
    let rtp = peer();
    let mut call = ua.call(server.addr(), "1000", rtp.local_addr());
    a.wait_offer(WAIT).expect("usera is asked first");
    show(&mut a, "dnd");
    let offered = b.wait_offer(WAIT).expect("userb at once, not after 60 s");
    ok(&mut b, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", server.log());
    ok(&mut b, &offered.call, rayo("hangup"));
    assert!(call.wait_bye(WAIT).is_some());
}

/// The controlling client's stream closes: its answered call goes on for
/// the grace period (5 s), then the caller gets a BYE.
#[test]
fn a_gone_client_s_call_is_hung_up_after_the_grace_period() {
    let (server, addr) = start("");
    let mut a = available(addr, "usera");
    let ua = SipUa::bind();
    let rtp = peer();
    let mut call = ua.call(server.addr(), "1000", rtp.local_addr());
    let offered = a.wait_offer(WAIT).expect("offer");
    ok(&mut a, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200));
    drop(a);
    assert!(
        call.wait_bye(Duration::from_secs(3)).is_none(),
        "the call lives through the grace period"
    );
    assert!(
        call.wait_bye(Duration::from_secs(5)).is_some(),
        "{}",
        server.log()
    );
}
