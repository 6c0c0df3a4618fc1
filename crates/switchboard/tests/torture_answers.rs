//! What the real binary answers to hostile and unusual messages over UDP:
//!
//! - every RFC 4475 torture message a server can receive
//!   (`crates/sip/tests/torture/`), against the table [`ANSWERS`];
//! - bodies and Accept headers (RFC 3261 §7.4, §8.2.3, §20.1) on every path
//!   where a peer's body is taken as SDP: the initial INVITE (bridged and
//!   agent-routed), a re-INVITE, the ACK of an offerless INVITE, and the
//!   callee's 183 and 200.
//!
//! The torture messages are sent as a proxy would forward them: with a top
//! Via of the test's socket (`;rport`), so that the answer comes back here;
//! badbranch and inv2543, whose point is their own Via, keep it with only
//! the sent-by replaced. The server routes `ua…` numbers to a testkit UA,
//! `raw…` numbers to a raw socket the test answers by hand, and everything
//! else to an agent endpoint with no agent connected (480).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sip::{HeaderName, Message, Request, Response, TypedHeaders};
use testkit::udp::{options_request, RawUdp};
use testkit::{free_port, Server, SipUa};

const WAIT: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

fn torture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip/tests/torture")
}

/// What a message should get back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A final response with this status.
    Final(u16),
    /// Nothing: a response, which no transaction of ours awaits.
    Nothing,
}

use Answer::{Final, Nothing};

/// Every RFC 4475 message, what the server answers, and why.
const ANSWERS: &[(&str, Answer, &str)] = &[
    // Valid messages (RFC 4475 §3.1.1).
    (
        "valid/wsinv.sip",
        Final(481),
        "an INVITE whose To has a tag: a dialog we do not know",
    ),
    ("valid/intmeth.sip", Final(501), "an unknown method"),
    (
        "valid/esc01.sip",
        Final(480),
        "an INVITE with SDP, %-escapes in its URIs",
    ),
    (
        "valid/escnull.sip",
        Final(501),
        "REGISTER: we are no registrar",
    ),
    (
        "valid/esc02.sip",
        Final(501),
        "an unknown method with a % in it",
    ),
    ("valid/lwsdisp.sip", Final(200), "OPTIONS"),
    (
        "valid/longreq.sip",
        Final(480),
        "an INVITE with very long headers",
    ),
    (
        "valid/dblreq.sip",
        Final(501),
        "the REGISTER; the INVITE after it in the datagram is ignored",
    ),
    ("valid/semiuri.sip", Final(200), "OPTIONS"),
    ("valid/transports.sip", Final(200), "OPTIONS"),
    (
        "valid/mpart01.sip",
        Final(501),
        "MESSAGE (multipart/signed): a method we do not take",
    ),
    ("valid/unreason.sip", Nothing, "a response"),
    ("valid/noreason.sip", Nothing, "a response"),
    // Transaction layer (§3.2).
    (
        "valid/badbranch.sip",
        Final(200),
        "OPTIONS with a branch that is only the magic cookie",
    ),
    // Application layer (§3.3).
    (
        "invalid/insuf.sip",
        Final(400),
        "From, To, Call-ID and Max-Forwards missing",
    ),
    (
        "invalid/unkscm.sip",
        Final(416),
        "a Request-URI scheme nobody knows",
    ),
    (
        "invalid/novelsc.sip",
        Final(416),
        "a Request-URI scheme we do not route",
    ),
    (
        "invalid/unksm.sip",
        Final(400),
        "To/From of foreign schemes",
    ),
    (
        "invalid/unksm2.sip",
        Final(400),
        "To of a foreign scheme in name-addr form",
    ),
    (
        "valid/bext01.sip",
        Final(420),
        "Require of extensions we lack",
    ),
    (
        "valid/invut.sip",
        Final(415),
        "a body of a type nobody knows",
    ),
    (
        "valid/regaut01.sip",
        Final(501),
        "REGISTER with an unknown auth scheme: we are no registrar",
    ),
    (
        "invalid/multi01.sip",
        Final(400),
        "duplicated single-value headers",
    ),
    ("invalid/mcl01.sip", Final(400), "two Content-Length values"),
    ("valid/bcast.sip", Nothing, "a response"),
    (
        "valid/zeromf.sip",
        Final(200),
        "OPTIONS with Max-Forwards 0: answered as a UAS",
    ),
    ("valid/cparam01.sip", Final(501), "REGISTER"),
    ("valid/cparam02.sip", Final(501), "REGISTER"),
    ("valid/regescrt.sip", Final(501), "REGISTER"),
    ("valid/sipsbad.sip", Final(501), "REGISTER"),
    (
        "valid/sdp01.sip",
        Final(406),
        "Accept excludes application/sdp, which our answer would carry",
    ),
    // Backward compatibility (§3.4).
    (
        "valid/inv2543.sip",
        Final(480),
        "an RFC 2543 INVITE: no branch, no Max-Forwards, no tags",
    ),
    // Invalid messages (§3.1.2).
    (
        "invalid/badinv01.sip",
        Final(400),
        "empty Via and Contact parameters",
    ),
    (
        "invalid/clerr.sip",
        Final(400),
        "Content-Length beyond the datagram",
    ),
    ("invalid/ncl.sip", Final(400), "negative Content-Length"),
    ("invalid/scalar02.sip", Final(400), "CSeq past 2^31"),
    (
        "invalid/scalarlg.sip",
        Nothing,
        "a response with overlarge values",
    ),
    (
        "invalid/quotbal.sip",
        Final(400),
        "unterminated quoted display name",
    ),
    ("invalid/ltgtruri.sip", Final(400), "Request-URI in <>"),
    (
        "invalid/lwsruri.sip",
        Final(400),
        "white space in the Request-URI",
    ),
    (
        "invalid/lwsstart.sip",
        Final(400),
        "two spaces in the request line",
    ),
    (
        "invalid/trws.sip",
        Final(400),
        "trailing white space in the request line",
    ),
    (
        "invalid/escruri.sip",
        Final(400),
        "URI headers in the Request-URI",
    ),
    ("invalid/baddate.sip", Final(400), "Date not in GMT"),
    (
        "invalid/regbadct.sip",
        Final(400),
        "addr-spec Contact with ?headers",
    ),
    ("invalid/badaspec.sip", Final(400), "spaces inside <> of To"),
    (
        "invalid/baddn.sip",
        Final(400),
        "unquoted display name with a comma",
    ),
    ("invalid/badvers.sip", Final(505), "SIP/7.0"),
    (
        "invalid/mismatch01.sip",
        Final(400),
        "CSeq method differs from the request's",
    ),
    (
        "invalid/mismatch02.sip",
        Final(400),
        "CSeq method differs from an unknown method",
    ),
    (
        "invalid/bigcode.sip",
        Nothing,
        "a response with a status code past 2^32",
    ),
];

/// Messages whose own top Via is the test: only its sent-by is replaced.
const KEEP_VIA: &[&str] = &["valid/badbranch.sip", "valid/inv2543.sip"];

/// A server, a testkit UA for `ua…` numbers and a raw socket for `raw…`.
struct Bench {
    server: Server,
    ua: SipUa,
    raw_callee: RawUdp,
}

fn bench() -> Bench {
    let ua = SipUa::bind();
    let raw_callee = RawUdp::bind();
    let port = free_port();
    let yaml = format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  ua: {{ uri: "sip:{ua}" }}
  raw: {{ uri: "sip:{raw}" }}
  myagent: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "ua", match: prefix, endpoint: ua }}
    - {{ id: "raw", match: prefix, endpoint: raw }}
    - {{ id: "", match: any, endpoint: myagent }}
media:
  rtp_ports: 45000-45999
agent_rpc:
  listen: 127.0.0.1:0
sip:
  shutdown_grace_sec: 0
"#,
        ua = ua.local_addr(),
        raw = raw_callee.local_addr(),
    );
    Bench {
        server: Server::start(binary(), &yaml, port),
        ua,
        raw_callee,
    }
}

/// How a response is recognised as the answer to what we sent.
enum Key {
    /// The top Via's branch.
    Branch(String),
    /// The Call-ID.
    CallId(String),
}

impl Key {
    fn matches(&self, response: &Response) -> bool {
        match self {
            Key::Branch(branch) => response
                .top_via()
                .is_ok_and(|via| via.branch() == Some(branch.as_str())),
            Key::CallId(id) => response.call_id() == Some(id.as_str()),
        }
    }
}

/// `message` with a top Via of `local` (or, for `keep_via`, its own top
/// Via with the sent-by replaced), and how to recognise its answer.
fn forwarded(message: &[u8], local: SocketAddr, name: &str, keep_via: bool) -> (Vec<u8>, Key) {
    let Some(line_end) = message.windows(2).position(|w| w == b"\r\n") else {
        panic!("{name}: no request line");
    };
    let (start, rest) = message.split_at(line_end + 2);
    if !keep_via {
        let branch = format!("z9hG4bK-torture-{name}");
        let mut out = start.to_vec();
        out.extend_from_slice(
            format!("Via: SIP/2.0/UDP {local};rport;branch={branch}\r\n").as_bytes(),
        );
        out.extend_from_slice(rest);
        return (out, Key::Branch(branch));
    }
    let text = String::from_utf8(message.to_vec()).expect("a message we keep the Via of is text");
    let call_id = text
        .lines()
        .find_map(|l| l.strip_prefix("Call-ID: "))
        .expect("Call-ID")
        .trim()
        .to_string();
    let mut out = String::new();
    let mut replaced = false;
    for line in text.split_inclusive("\r\n") {
        match line.strip_prefix("Via: SIP/2.0/UDP ") {
            Some(via) if !replaced => {
                replaced = true;
                // The sent-by ends at the first parameter or the line end.
                let params = via.find(';').map_or("\r\n", |i| &via[i..]);
                let params = params.trim_end_matches("\r\n");
                out.push_str(&format!("Via: SIP/2.0/UDP {local}{params};rport\r\n"));
            }
            _ => out.push_str(line),
        }
    }
    assert!(replaced, "{name}: no UDP Via to rewrite");
    (out.into_bytes(), Key::CallId(call_id))
}

/// The status of the first final response to `key` within `timeout`, read
/// from the raw bytes: the answer to a malformed request copies its
/// malformed headers, so it may not parse as a whole.
fn final_status(udp: &RawUdp, key: &Key, timeout: Duration) -> Option<u16> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let Some(bytes) = udp.recv_raw(left) else {
            continue;
        };
        if let Some(status) = raw_status(&bytes, key).filter(|s| *s >= 200) {
            return Some(status);
        }
    }
}

/// The status of a response to `key`, from its text.
fn raw_status(bytes: &[u8], key: &Key) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let status = text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    let ours = match key {
        Key::Branch(branch) => text.contains(&format!("branch={branch}")),
        Key::CallId(id) => text.contains(&format!("Call-ID: {id}\r\n")),
    };
    ours.then_some(status)
}

/// The first final response `key` matches, within `timeout`.
fn final_response(udp: &RawUdp, key: &Key, timeout: Duration) -> Option<Response> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        if let Some(Message::Response(r)) = udp.recv(left) {
            if key.matches(&r) && r.status >= 200 {
                return Some(r);
            }
        }
    }
}

#[test]
fn every_torture_message_gets_its_answer() {
    let b = bench();
    // Every torture file has a row, and every row a file.
    for kind in ["valid", "invalid"] {
        for entry in fs::read_dir(torture_dir().join(kind)).expect("torture dir") {
            let file = format!(
                "{kind}/{}",
                entry.expect("entry").file_name().to_string_lossy()
            );
            assert!(
                ANSWERS.iter().any(|(f, _, _)| *f == file),
                "{file} has no row"
            );
        }
    }
    let mut wrong = Vec::new();
    for (file, expected, why) in ANSWERS {
        let bytes = fs::read(torture_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let udp = RawUdp::bind();
        let name = file.trim_end_matches(".sip").replace('/', "-");
        let (message, key) = forwarded(&bytes, udp.local_addr(), &name, KEEP_VIA.contains(file));
        udp.send(&message, b.server.addr());
        let got = match expected {
            Final(415) => final_response(&udp, &key, WAIT).map(|r| {
                let accept = r.headers.get(HeaderName::Accept);
                assert_eq!(accept, Some("application/sdp"), "{file}");
                Final(r.status)
            }),
            Final(_) => final_status(&udp, &key, WAIT).map(Final),
            Nothing => {
                // The server handles datagrams in order: once a later OPTIONS
                // is answered, anything it had to say to this one is here.
                let probe = format!("probe-{name}");
                udp.send(
                    &options_request(udp.local_addr(), b.server.addr(), &probe),
                    b.server.addr(),
                );
                let mut seen = None;
                let deadline = Instant::now() + WAIT;
                let probe_key = Key::CallId(probe.clone());
                while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                    let Some(bytes) = udp.recv_raw(left) else {
                        break;
                    };
                    if raw_status(&bytes, &probe_key).is_some() {
                        break;
                    }
                    seen = seen.or(raw_status(&bytes, &key));
                }
                Some(seen.map_or(Nothing, Final))
            }
        };
        if got != Some(*expected) {
            wrong.push(format!(
                "{file}: expected {expected:?} ({why}), got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), b.server.log());
    assert_eq!(b.server.options_status("after-torture"), Some(200));
}

// ---------------------------------------------------------------------
// Bodies and Accept on every path a peer's body is taken as SDP.
// ---------------------------------------------------------------------

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    )
}

/// A caller on a raw socket: builds its INVITE, ACK, BYE and re-INVITE.
struct RawCaller {
    udp: RawUdp,
    server: SocketAddr,
    call_id: String,
    number: String,
    cseq: u32,
    /// To (with the server's tag) and the server's Contact, from its 2xx.
    dialog: Option<(String, String)>,
}

impl RawCaller {
    fn new(server: SocketAddr, number: &str) -> RawCaller {
        RawCaller {
            udp: RawUdp::bind(),
            server,
            call_id: format!("{number}-{:x}", fastrand::u64(..)),
            number: number.to_string(),
            cseq: 0,
            dialog: None,
        }
    }

    /// Sends a request with `extra` header lines and `body` (given with its
    /// Content-Type in `extra`); returns how to recognise its answer.
    fn send(&mut self, method: &str, extra: &str, body: &[u8]) -> Key {
        self.cseq += 1;
        let local = self.udp.local_addr();
        let branch = format!("z9hG4bK-{}-{}", self.call_id, self.cseq);
        let (uri, to) = match &self.dialog {
            Some((to, contact)) => (contact.clone(), to.clone()),
            None => {
                let uri = format!("sip:{}@{}", self.number, self.server);
                (uri.clone(), format!("<{uri}>"))
            }
        };
        let cseq = if method == "ACK" {
            self.cseq - 1
        } else {
            self.cseq
        };
        let mut bytes = format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};rport;branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@{local}>;tag=caller-tag\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@{local}>\r\n\
             {extra}Content-Length: {length}\r\n\r\n",
            call_id = self.call_id,
            length = body.len(),
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        self.udp.send(&bytes, self.server);
        Key::Branch(branch)
    }

    fn invite(&mut self, extra: &str, body: &[u8]) -> Option<Response> {
        let key = self.send("INVITE", extra, body);
        let response = final_response(&self.udp, &key, WAIT)?;
        if (200..300).contains(&response.status) {
            let to = response.headers.get(HeaderName::To)?.to_string();
            let contact = response
                .contacts()
                .ok()?
                .addresses()
                .first()?
                .uri
                .to_string();
            self.dialog = Some((to, contact));
        }
        Some(response)
    }

    /// ACKs a 2xx (a 2xx ACK is its own transaction: a new branch).
    fn ack(&mut self, extra: &str, body: &[u8]) {
        self.send("ACK", extra, body);
    }

    /// Waits for a request from the server (a BYE), answering it 200.
    fn wait_request(&self, method: sip::Method) -> Option<Request> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(Message::Request(r)) = self.udp.recv(left) {
                if r.method == method {
                    let ok = sip_stack::make_response(&r, 200);
                    self.udp.send(&ok.to_bytes(), self.server);
                    return Some(r);
                }
            }
        }
    }
}

fn multipart_offer(port: u16) -> Vec<u8> {
    format!(
        "--b0undary\r\nContent-Type: Application/SDP\r\n\r\n{}\r\n\
         --b0undary\r\nContent-Type: application/resource-lists+xml\r\n\
         Content-Disposition: recipient-list; handling=optional\r\n\r\n<resource-lists/>\r\n\
         --b0undary--\r\n",
        sdp(port)
    )
    .into_bytes()
}

#[test]
fn invite_bodies_are_refused_before_the_callee_is_dialed() {
    let b = bench();
    let offer = sdp(40_002);
    let refused: [(&str, &str, u16, Option<&str>); 5] = [
        ("text/plain", "", 415, None),
        (
            "application/sdp",
            "Content-Encoding: gzip\r\n",
            415,
            Some("identity"),
        ),
        (
            "application/sdp",
            "Accept: text/html, application/sdp;q=0\r\n",
            406,
            None,
        ),
        ("application/sdp", "Accept: \r\n", 406, None),
        (
            "application/sdp",
            "Content-Disposition: render\r\n",
            415,
            None,
        ),
    ];
    for (content_type, extra, status, encoding) in refused {
        let mut caller = RawCaller::new(b.server.addr(), "ua-refused");
        let extra = format!("Content-Type: {content_type}\r\n{extra}");
        let response = caller.invite(&extra, offer.as_bytes()).expect("an answer");
        assert_eq!(response.status, status, "{extra}");
        if status == 415 {
            assert_eq!(
                response.headers.get(HeaderName::Accept),
                Some("application/sdp")
            );
            assert_eq!(
                response.headers.get_by_name("Accept-Encoding"),
                encoding,
                "{extra}"
            );
        }
    }
    // Multipart with an SDP part: a normal call, and the first the callee sees.
    let mut caller = RawCaller::new(b.server.addr(), "ua-multipart");
    let key = caller.send(
        "INVITE",
        "Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n",
        &multipart_offer(40_004),
    );
    let mut incoming = b.ua.wait_incoming(WAIT).expect("the callee is dialed");
    assert_eq!(
        incoming.number().as_deref(),
        Some("ua-multipart"),
        "refused calls were dialed"
    );
    incoming
        .answer("127.0.0.1:40006".parse().expect("address"), WAIT)
        .expect("callee answers");
    let ok = final_response(&caller.udp, &key, WAIT).expect("the caller's 200");
    assert_eq!(ok.status, 200, "{}", b.server.log());
    assert!(sdp::parse(&ok.body).is_ok(), "our answer is SDP");
}

/// A call from a raw caller to the testkit UA, answered.
fn answered_call(
    b: &Bench,
    number: &str,
    extra: &str,
    body: &[u8],
) -> (RawCaller, testkit::sip_ua::IncomingCall) {
    let mut caller = RawCaller::new(b.server.addr(), number);
    let key = caller.send("INVITE", extra, body);
    let mut incoming = b.ua.wait_incoming(WAIT).expect("the callee is dialed");
    incoming
        .answer("127.0.0.1:40010".parse().expect("address"), WAIT)
        .expect("callee answers");
    let ok = final_response(&caller.udp, &key, WAIT).expect("the caller's 200");
    assert_eq!(ok.status, 200, "{}", b.server.log());
    let to = ok.headers.get(HeaderName::To).expect("To").to_string();
    let contact = ok.contacts().expect("Contact").addresses()[0]
        .uri
        .to_string();
    caller.dialog = Some((to, contact));
    (caller, incoming)
}

#[test]
fn re_invite_bodies_and_accept_are_checked() {
    let b = bench();
    let offer = sdp(40_020);
    let (mut caller, _callee) = answered_call(
        &b,
        "ua-reinvite",
        "Content-Type: application/sdp\r\n",
        offer.as_bytes(),
    );
    caller.ack("", b"");
    let cases: [(&str, &[u8], u16); 3] = [
        ("Content-Type: text/plain\r\n", offer.as_bytes(), 415),
        ("Accept: text/plain\r\n", b"", 406),
        ("Content-Type: application/sdp\r\n", offer.as_bytes(), 200),
    ];
    for (extra, body, status) in cases {
        let key = caller.send("INVITE", extra, body);
        let response = final_response(&caller.udp, &key, WAIT).expect("an answer");
        assert_eq!(response.status, status, "{extra}{}", b.server.log());
        if status == 415 {
            assert_eq!(
                response.headers.get(HeaderName::Accept),
                Some("application/sdp")
            );
        }
        if status == 200 {
            caller.ack("", b"");
        }
    }
}

#[test]
fn a_late_offer_answered_with_a_body_that_is_not_sdp_ends_the_call() {
    let b = bench();
    // Offerless INVITE: the server's 200 offers, the caller's ACK answers.
    let (mut caller, mut callee) = answered_call(&b, "ua-late", "", b"");
    // A valid SDP answer, but labelled as something else.
    caller.ack("Content-Type: text/plain\r\n", sdp(40_030).as_bytes());
    assert!(
        caller.wait_request(sip::Method::Bye).is_some(),
        "caller not hung up\n{}",
        b.server.log()
    );
    assert!(callee.wait_bye(WAIT).is_some(), "callee not hung up");
}

/// The server's INVITE to the raw callee, and the raw callee's answer to it.
fn raw_callee_answers(b: &Bench, status: u16, content_type: &str) -> Request {
    let invite = loop {
        match b.raw_callee.recv(WAIT).expect("the raw callee is dialed") {
            Message::Request(r) if r.method == sip::Method::Invite => break r,
            _ => {}
        }
    };
    let offer = sdp::parse(&invite.body).expect("the server offers SDP");
    let port = 40_040;
    assert!(!offer.media.is_empty());
    let mut response = sip_stack::make_response(&invite, status);
    response.headers.push_known(
        HeaderName::Contact,
        format!("<sip:callee@{}>", b.raw_callee.local_addr()),
    );
    response.set_body(content_type, sdp(port).into_bytes());
    b.raw_callee.send(&response.to_bytes(), b.server.addr());
    invite
}

#[test]
fn a_callee_answering_with_a_body_that_is_not_sdp_fails_the_call() {
    let b = bench();
    let mut caller = RawCaller::new(b.server.addr(), "raw-200");
    let key = caller.send(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        sdp(40_050).as_bytes(),
    );
    raw_callee_answers(&b, 200, "text/plain");
    let response = final_response(&caller.udp, &key, WAIT).expect("the caller's answer");
    assert_eq!(response.status, 488, "{}", b.server.log());
    // The callee's 200 is acknowledged, then the callee is hung up.
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !seen.contains(&sip::Method::Bye) {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("ACK and BYE in time");
        if let Some(Message::Request(r)) = b.raw_callee.recv(left) {
            if r.method == sip::Method::Bye {
                let ok = sip_stack::make_response(&r, 200);
                b.raw_callee.send(&ok.to_bytes(), b.server.addr());
            }
            seen.push(r.method);
        }
    }
    assert!(seen.contains(&sip::Method::Ack), "{seen:?}");
}

#[test]
fn a_callee_provisional_with_a_body_that_is_not_sdp_reaches_the_caller_without_it() {
    let b = bench();
    let mut caller = RawCaller::new(b.server.addr(), "raw-183");
    let key = caller.send(
        "INVITE",
        "Content-Type: application/sdp\r\n",
        sdp(40_060).as_bytes(),
    );
    let invite = raw_callee_answers(&b, 183, "text/plain");
    let deadline = Instant::now() + WAIT;
    let progress = loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("183 in time");
        if let Some(Message::Response(r)) = caller.udp.recv(left) {
            if key.matches(&r) && r.status == 183 {
                break r;
            }
        }
    };
    assert!(
        progress.body.is_empty(),
        "{}",
        String::from_utf8_lossy(&progress.body)
    );
    // The callee gives up: the caller hears it.
    let busy = sip_stack::make_response(&invite, 486);
    b.raw_callee.send(&busy.to_bytes(), b.server.addr());
    let response = final_response(&caller.udp, &key, WAIT).expect("the caller's answer");
    assert_eq!(response.status, 486);
}
