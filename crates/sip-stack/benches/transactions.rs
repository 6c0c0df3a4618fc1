//! The stack's own cost per transaction, in memory and in virtual time.
//!
//! - `invite_486_cycle/*`: a server-side rejected call, INVITE → 100 Trying,
//!   the user answers 486 → ACK absorbed by the transaction. `messages` feeds
//!   pre-parsed messages (the stack alone); `bytes` feeds datagrams through
//!   `handle_bytes` (parser included).
//! - `options_200_cycle/messages`: OPTIONS → 200 (a non-INVITE server transaction).
//! - `digest/verify_request`: one valid Authorization checked (SHA-256, qop=auth).
//!
//! Every call has its own Call-ID and branch, built outside the timed routine.
//! Virtual time advances `STEP` per cycle and `handle_timeout` runs every
//! cycle, as a driver would, so transactions expire (Timer I, J) and the
//! tables hold a steady state of about `linger / STEP` transactions. Before
//! measuring, each stack is run long enough for the oldest timers (the
//! 5-minute ring guard) to come due, so the timer queue is at its steady size too.
//!
//! `cargo bench -p sip-stack -- --warm-up-time 1 --measurement-time 3`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use sip::{HeaderName, Host, Message, Request, TypedHeaders};
use sip_stack::auth::{DigestClient, DigestVerifier, DigestVerifierConfig};
use sip_stack::{
    make_response, Output, ServerTransactionId, SipStack, StackConfig, StackEvent, Transport,
};

/// Virtual time between two calls: 1 000 calls per second.
const STEP: Duration = Duration::from_millis(1);

const PEER: &str = "198.51.100.7:5060";

const INVITE_HEAD: &str = "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtemplate;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@192.0.2.1>\r\n\
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: template@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@198.51.100.7:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: Switchboard-Bench/1.0\r\n\
Content-Type: application/sdp\r\n";

const SDP: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n";

/// ACK for a non-2xx final: same branch as the INVITE, so RFC 3261 matching
/// finds the transaction by branch and sent-by (the To tag is not compared).
const ACK: &str = "ACK sip:bob@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtemplate;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@192.0.2.1>;tag=0123456789abcdef\r\n\
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: template@pc33.atlanta.example.com\r\n\
CSeq: 314159 ACK\r\n\
Content-Length: 0\r\n\
\r\n";

const OPTIONS: &str = "OPTIONS sip:192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKtemplate;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:192.0.2.1>\r\n\
From: <sip:monitor@198.51.100.7>;tag=ab12\r\n\
Call-ID: template@198.51.100.7\r\n\
CSeq: 1 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\
\r\n";

fn invite_text() -> String {
    format!("{INVITE_HEAD}Content-Length: {}\r\n\r\n{SDP}", SDP.len())
}

fn peer() -> SocketAddr {
    PEER.parse().expect("literal address")
}

fn parse(text: &str) -> Message {
    sip::parse_datagram(text.as_bytes()).expect("benchmark messages parse")
}

/// `template` with call number `n`'s branch and Call-ID.
fn numbered(template: &Message, n: u64) -> Message {
    let mut message = template.clone();
    let headers = message.headers_mut();
    headers.set(
        HeaderName::Via,
        format!("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{n:016x};rport"),
    );
    headers.set(
        HeaderName::CallId,
        format!("{n:016x}@pc33.atlanta.example.com"),
    );
    message
}

fn new_stack() -> SipStack {
    let mut config = StackConfig::new(Host::V4([192, 0, 2, 1].into()), Some(5060));
    config.seed = Some(7);
    SipStack::new(config)
}

/// Drains the outputs; returns the new request's transaction, if one was reported.
fn drain(stack: &mut SipStack) -> Option<(ServerTransactionId, Request)> {
    let mut request = None;
    while let Some(output) = stack.poll_output() {
        match output {
            Output::Transmit(t) => {
                black_box(t);
            }
            Output::Event(StackEvent::Request {
                transaction,
                request: r,
                ..
            }) => request = Some((transaction, r)),
            Output::Event(other) => {
                black_box(other);
            }
        }
    }
    request
}

/// Drives one stack in virtual time: a call per `STEP`, timers every call.
struct Driver {
    stack: SipStack,
    now: Instant,
}

impl Driver {
    fn new() -> Driver {
        Driver {
            stack: new_stack(),
            now: Instant::now(),
        }
    }

    fn tick(&mut self) -> Instant {
        self.now += STEP;
        self.stack.handle_timeout(self.now);
        self.now
    }

    /// INVITE → 100, user answers 486 → 486, ACK absorbed.
    fn rejected_call(&mut self, invite: Message, ack: Message) {
        let now = self.tick();
        self.stack
            .handle_message(now, invite, peer(), Transport::Udp, None);
        let (transaction, request) = drain(&mut self.stack).expect("INVITE reported");
        self.stack
            .respond(now, transaction, make_response(&request, 486))
            .expect("486 accepted");
        drain(&mut self.stack);
        self.stack
            .handle_message(now, ack, peer(), Transport::Udp, None);
        drain(&mut self.stack);
    }

    /// The same call, from datagrams.
    fn rejected_call_bytes(&mut self, invite: &[u8], ack: &[u8]) {
        let now = self.tick();
        self.stack
            .handle_bytes(now, invite, peer(), Transport::Udp, None);
        let (transaction, request) = drain(&mut self.stack).expect("INVITE reported");
        self.stack
            .respond(now, transaction, make_response(&request, 486))
            .expect("486 accepted");
        drain(&mut self.stack);
        self.stack
            .handle_bytes(now, ack, peer(), Transport::Udp, None);
        drain(&mut self.stack);
    }

    /// OPTIONS → 200.
    fn options(&mut self, options: Message) {
        let now = self.tick();
        self.stack
            .handle_message(now, options, peer(), Transport::Udp, None);
        let (transaction, request) = drain(&mut self.stack).expect("OPTIONS reported");
        self.stack
            .respond(now, transaction, make_response(&request, 200))
            .expect("200 accepted");
        drain(&mut self.stack);
    }
}

/// Calls needed before the oldest timers (the 300 s ring guard) start to come due.
fn warm_up_calls() -> u64 {
    let config = new_stack().config().clone();
    let longest = config
        .ring_limit
        .max(config.timers.transaction_timeout() * 2);
    (longest.as_nanos() / STEP.as_nanos()) as u64 + 1_000
}

fn invite_cycle(c: &mut Criterion) {
    let invite = parse(&invite_text());
    let ack = parse(ACK);
    let mut group = c.benchmark_group("invite_486_cycle");

    let mut driver = Driver::new();
    check_rejected_call(&invite, &ack);
    let mut n = 0;
    for _ in 0..warm_up_calls() {
        n += 1;
        driver.rejected_call(numbered(&invite, n), numbered(&ack, n));
    }
    eprintln!(
        "invite_486_cycle/messages: steady state {} transactions",
        driver.stack.transaction_count()
    );
    group.bench_function("messages", |b| {
        b.iter_batched(
            || {
                n += 1;
                (numbered(&invite, n), numbered(&ack, n))
            },
            |(invite, ack)| driver.rejected_call(invite, ack),
            BatchSize::SmallInput,
        )
    });

    let mut driver = Driver::new();
    let bytes = |n: u64| {
        (
            numbered(&invite, n).to_bytes(),
            numbered(&ack, n).to_bytes(),
        )
    };
    let mut n = 0;
    for _ in 0..warm_up_calls() {
        n += 1;
        let (i, a) = bytes(n);
        driver.rejected_call_bytes(&i, &a);
    }
    group.bench_function("bytes", |b| {
        b.iter_batched(
            || {
                n += 1;
                bytes(n)
            },
            |(invite, ack)| driver.rejected_call_bytes(&invite, &ack),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Outside the measurement: the cycle does what it claims (100, 486, ACK absorbed).
fn check_rejected_call(invite: &Message, ack: &Message) {
    let mut stack = new_stack();
    let now = Instant::now();
    stack.handle_message(now, numbered(invite, 1), peer(), Transport::Udp, None);
    let mut sent = Vec::new();
    let mut request = None;
    while let Some(output) = stack.poll_output() {
        match output {
            Output::Transmit(t) => sent.push(t.bytes),
            Output::Event(StackEvent::Request {
                transaction,
                request: r,
                ..
            }) => request = Some((transaction, r)),
            Output::Event(other) => panic!("unexpected {other:?}"),
        }
    }
    let (transaction, request) = request.expect("INVITE reported");
    stack
        .respond(now, transaction, make_response(&request, 486))
        .expect("486 accepted");
    while let Some(output) = stack.poll_output() {
        if let Output::Transmit(t) = output {
            sent.push(t.bytes);
        }
    }
    let statuses: Vec<u16> = sent
        .iter()
        .map(|b| match sip::parse_datagram(b) {
            Ok(Message::Response(r)) => r.status,
            other => panic!("expected a response, got {other:?}"),
        })
        .collect();
    assert_eq!(statuses, [100, 486]);
    stack.handle_message(now, numbered(ack, 1), peer(), Transport::Udp, None);
    // Absorbed: no Timer G retransmission of the 486 afterwards.
    stack.handle_timeout(now + Duration::from_secs(1));
    assert!(stack.poll_output().is_none(), "ACK was absorbed");
}

fn options_cycle(c: &mut Criterion) {
    let options = parse(OPTIONS);
    let mut group = c.benchmark_group("options_200_cycle");
    let mut driver = Driver::new();
    let mut n = 0;
    for _ in 0..warm_up_calls() {
        n += 1;
        driver.options(numbered(&options, n));
    }
    eprintln!(
        "options_200_cycle/messages: steady state {} transactions",
        driver.stack.transaction_count()
    );
    group.bench_function("messages", |b| {
        b.iter_batched(
            || {
                n += 1;
                numbered(&options, n)
            },
            |options| driver.options(options),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn digest(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut verifier = DigestVerifier::new(DigestVerifierConfig::new("sb.example"), [7u8; 32], t0);
    let mut client = DigestClient::with_seed("alice", "wonderland", 1);
    let Message::Request(register) = parse(
        "REGISTER sip:sb.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKreg;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@sb.example>;tag=a1\r\n\
         To: <sip:alice@sb.example>\r\n\
         Call-ID: reg-1@198.51.100.7\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@198.51.100.7:5060>\r\n\
         Expires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
    ) else {
        unreachable!("a REGISTER is a request")
    };
    let challenge = verifier.challenge_response(t0, &register, false, false);
    let password_of = |user: &str| (user == "alice").then(|| "wonderland".to_string());
    // Each iteration answers the same challenge with the next nonce-count, as a
    // client reusing its nonce does, so every verification is a fresh success.
    let mut authorized = move || {
        let mut request = register.clone();
        client
            .authorize_request(&mut request, &challenge)
            .expect("answerable challenge");
        request
    };
    let first = authorized();
    assert!(first.headers.auth(HeaderName::Authorization).is_ok());
    assert!(verifier
        .verify_request(t0, &first, false, password_of)
        .is_authorized());
    c.bench_function("digest/verify_request", |b| {
        b.iter_batched(
            &mut authorized,
            |request| {
                let verdict = verifier.verify_request(t0, &request, false, password_of);
                debug_assert!(verdict.is_authorized());
                verdict
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, invite_cycle, options_cycle, digest);
criterion_main!(benches);
