//! Stack-level tests in virtual time: no sockets, no sleeps.
//!
//! Peers are written as raw SIP text (the way SIPp or a phone would send it)
//! and parsed with the `sip` crate, so these tests also pin the wire format.

mod client;
mod end_to_end;
mod server;
mod stats;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::{HeaderName, Host, Message, Response};

use crate::transport::{ConnectionId, Destination, Transport};
use crate::{Output, SipStack, StackConfig, StackEvent, Transmit};

/// Our address in these tests.
pub(super) const LOCAL: &str = "192.0.2.1:5060";
/// The peer's address.
pub(super) const PEER: &str = "198.51.100.7:5060";

pub(super) fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test addresses are literals")
}

pub(super) fn udp_peer() -> Destination {
    Destination {
        address: addr(PEER),
        transport: Transport::Udp,
        connection: None,
    }
}

pub(super) fn stack_at(local: &str, seed: u64) -> SipStack {
    let local = addr(local);
    let mut config = StackConfig::new(Host::from(local.ip()), Some(local.port()));
    config.seed = Some(seed);
    SipStack::new(config)
}

pub(super) fn stack() -> SipStack {
    stack_at(LOCAL, 1)
}

/// Everything the stack produced since the last drain.
#[derive(Debug, Default)]
pub(super) struct Drained {
    pub(super) sent: Vec<Transmit>,
    pub(super) events: Vec<StackEvent>,
}

impl Drained {
    /// Parsed responses among the transmissions.
    pub(super) fn responses(&self) -> Vec<Response> {
        self.sent
            .iter()
            .filter_map(|t| match parse(&t.bytes) {
                Message::Response(r) => Some(r),
                Message::Request(_) => None,
            })
            .collect()
    }

    /// Status codes of the transmitted responses, in order.
    pub(super) fn statuses(&self) -> Vec<u16> {
        self.responses().iter().map(|r| r.status).collect()
    }

    /// Methods of the transmitted requests, in order.
    pub(super) fn methods(&self) -> Vec<String> {
        self.sent
            .iter()
            .filter_map(|t| match parse(&t.bytes) {
                Message::Request(r) => Some(r.method.to_string()),
                Message::Response(_) => None,
            })
            .collect()
    }
}

pub(super) fn drain(stack: &mut SipStack) -> Drained {
    let mut drained = Drained::default();
    while let Some(output) = stack.poll_output() {
        match output {
            Output::Transmit(t) => drained.sent.push(t),
            Output::Event(e) => drained.events.push(e),
        }
    }
    drained
}

/// Runs every timer up to `t0 + until`, returning each firing's time (seconds) and outputs.
pub(super) fn run_until(stack: &mut SipStack, t0: Instant, until: Duration) -> Vec<(f64, Drained)> {
    let mut log = Vec::new();
    while let Some(at) = stack.poll_timeout().filter(|at| *at <= t0 + until) {
        stack.handle_timeout(at);
        let drained = drain(stack);
        if !drained.sent.is_empty() || !drained.events.is_empty() {
            log.push(((at - t0).as_secs_f64(), drained));
        }
    }
    log
}

/// Times at which something was transmitted.
pub(super) fn send_times(log: &[(f64, Drained)]) -> Vec<f64> {
    log.iter()
        .filter(|(_, d)| !d.sent.is_empty())
        .map(|(t, _)| *t)
        .collect()
}

pub(super) fn parse(bytes: &[u8]) -> Message {
    sip::parse_datagram(bytes).expect("the stack writes parseable SIP")
}

/// Feeds raw SIP text from `source` over UDP.
pub(super) fn feed(stack: &mut SipStack, now: Instant, text: &str, source: &str) {
    stack.handle_bytes(now, text.as_bytes(), addr(source), Transport::Udp, None);
}

/// Feeds raw SIP text over a TCP connection.
pub(super) fn feed_tcp(
    stack: &mut SipStack,
    now: Instant,
    text: &str,
    source: &str,
    connection: u64,
) {
    stack.handle_bytes(
        now,
        text.as_bytes(),
        addr(source),
        Transport::Tcp,
        Some(ConnectionId(connection)),
    );
}

/// A SIP message from text lines joined with CRLF, Content-Length appended.
pub(super) fn sip_text(lines: &[&str], body: &str) -> String {
    let mut text = lines.join("\r\n");
    text.push_str(&format!("\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    text
}

/// An INVITE from the peer (Alice at 198.51.100.7) with SDP.
pub(super) fn peer_invite(branch: &str, via_extra: &str) -> String {
    sip_text(
        &[
            "INVITE sip:bob@192.0.2.1 SIP/2.0",
            &format!("Via: SIP/2.0/UDP 198.51.100.7:5060;branch={branch}{via_extra}"),
            "Max-Forwards: 70",
            "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
            "To: <sip:bob@192.0.2.1>",
            "Call-ID: call-abc@198.51.100.7",
            "CSeq: 1 INVITE",
            "Contact: <sip:alice@198.51.100.7:5060>",
            "Content-Type: application/sdp",
        ],
        "v=0\r\n",
    )
}

/// An in-dialog request from the peer after `peer_invite` was answered with To tag `bob_tag`.
pub(super) fn peer_in_dialog(method: &str, cseq: u32, via: &str, bob_tag: &str) -> String {
    sip_text(
        &[
            &format!("{method} sip:bob@192.0.2.1:5060 SIP/2.0"),
            &format!("Via: {via}"),
            "Max-Forwards: 70",
            "From: \"Alice\" <sip:alice@198.51.100.7>;tag=alice1",
            &format!("To: <sip:bob@192.0.2.1>;tag={bob_tag}"),
            "Call-ID: call-abc@198.51.100.7",
            &format!("CSeq: {cseq} {method}"),
        ],
        "",
    )
}

/// The server transaction of the single `Request` event in `drained`.
pub(super) fn new_request(drained: &Drained) -> (crate::ServerTransactionId, sip::Request) {
    let requests: Vec<_> = drained
        .events
        .iter()
        .filter_map(|e| match e {
            StackEvent::Request {
                transaction,
                request,
                ..
            } => Some((*transaction, request.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        requests.len(),
        1,
        "exactly one new request in {:?}",
        drained.events
    );
    requests.into_iter().next().expect("one request")
}

/// The To tag of a response.
pub(super) fn to_tag(response: &Response) -> String {
    crate::wire::tag_of(&response.headers, HeaderName::To).expect("response has a To tag")
}

/// Asserts that nothing is left: no transactions, no dialogs, no timers.
pub(super) fn assert_drained(stack: &mut SipStack) {
    assert_eq!(stack.transaction_count(), 0, "transactions left");
    assert_eq!(stack.dialog_count(), 0, "dialogs left");
    assert_eq!(stack.poll_timeout(), None, "timers left");
}
