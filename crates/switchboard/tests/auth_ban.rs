//! Password guessing and user enumeration, end to end against the real
//! binary over 127.0.0.1 (and 127.0.0.2, also loopback on Linux, as a
//! second source address): unknown users are answered like known ones,
//! repeated failures ban the source (SIP digest and Agent RPC token alike)
//! and only it, and the ban ends.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use sip::{HeaderName, TypedHeaders};
use sip_stack::auth::{DigestChallenge, DigestClient};
use testkit::{free_port, Server};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Longest any single expected answer may take (the machine is busy).
const WAIT: Duration = Duration::from_secs(5);
/// Bans in these tests last this long: long enough to check them on a busy
/// machine, short enough to wait for the end.
const BAN_SEC: u64 = 4;
/// Longest a test waits for a ban to end.
const BAN_END_WAIT: Duration = Duration::from_secs(20);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_switchboard"))
}

/// One `user` endpoint, `alice`, whose calls all get 486; no `ip` endpoint,
/// so every caller must pass digest.
fn config(port: u16, agent_port: u16, sip: &str, agent_rpc: &str) -> String {
    format!(
        r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  alice:
    match: {{ type: user }}
    auth: {{ username: alice, password: secret }}
  myagent:
    match: {{ type: agent }}
routes:
  default:
    - {{ id: "", match: any, hangup: {{ code: 486 }} }}
agent_rpc: {{ listen: "127.0.0.1:{agent_port}"{agent_rpc} }}
http: {{ listen: "127.0.0.1:0" }}
sip: {{ {sip} }}
"#
    )
}

/// A SIP phone speaking raw UDP from a chosen loopback address.
struct Phone {
    socket: UdpSocket,
    server: SocketAddr,
    calls: u32,
}

/// A final response: its exact bytes and its parse.
struct Final {
    bytes: Vec<u8>,
    response: sip::Response,
}

impl Final {
    /// The first line exactly as sent.
    fn status_line(&self) -> String {
        let end = self
            .bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(self.bytes.len());
        String::from_utf8(self.bytes[..end].to_vec()).expect("a UTF-8 status line")
    }

    fn challenged(&self) -> bool {
        self.response
            .headers
            .get(HeaderName::WwwAuthenticate)
            .is_some()
    }
}

impl Phone {
    fn bind(ip: [u8; 4], server: SocketAddr) -> Phone {
        let socket = UdpSocket::bind(SocketAddr::from((ip, 0))).expect("bind phone socket");
        Phone {
            socket,
            server,
            calls: 0,
        }
    }

    fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound socket")
    }

    /// A new INVITE (its own Call-ID) claiming `from_user`.
    fn invite(&mut self, from_user: &str) -> sip::Request {
        self.calls += 1;
        let local = self.local();
        let call_id = format!("auth-{}-{}-{}", local.ip(), local.port(), self.calls);
        let text = format!(
            "INVITE sip:100@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-1;rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{from_user}@example.com>;tag=f-{call_id}\r\n\
             To: <sip:100@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{from_user}@{local}>\r\n\
             Content-Length: 0\r\n\r\n",
            server = self.server,
        );
        match sip::parse_datagram(text.as_bytes()) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("test INVITE must parse: {other:?}"),
        }
    }

    /// Sends `request` and returns its final response (ACKed), skipping
    /// provisional ones and anything for other transactions.
    fn transact(&self, request: &sip::Request) -> Final {
        self.socket
            .send_to(&request.to_bytes(), self.server)
            .expect("send INVITE");
        let call_id = request.call_id().expect("Call-ID").to_string();
        let cseq = request.cseq().expect("CSeq").seq;
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 65_535];
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("no final response to {call_id}/{cseq} in {WAIT:?}"));
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set timeout");
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let bytes = buf[..n].to_vec();
            let Ok(sip::Message::Response(response)) = sip::parse_datagram(&bytes) else {
                continue;
            };
            let ours = response.call_id() == Some(call_id.as_str())
                && response.cseq().ok().map(|c| c.seq) == Some(cseq);
            if ours && response.status >= 200 {
                self.ack(request, &response);
                return Final { bytes, response };
            }
        }
    }

    /// The ACK of a non-2xx final response (same branch, RFC 3261 §17.1.1.3).
    fn ack(&self, request: &sip::Request, response: &sip::Response) {
        let header = |name| request.headers.get(name).unwrap_or_default();
        let text = format!(
            "ACK {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\n\
             To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} ACK\r\nContent-Length: 0\r\n\r\n",
            uri = request.uri,
            via = header(HeaderName::Via),
            from = header(HeaderName::From),
            to = response.headers.get(HeaderName::To).unwrap_or_default(),
            call_id = header(HeaderName::CallId),
            seq = request.cseq().map(|c| c.seq).unwrap_or(1),
        );
        let _ = self.socket.send_to(text.as_bytes(), self.server);
    }

    /// `request` answered with credentials for `challenge`, as a new
    /// transaction (new branch, next CSeq).
    fn authorized(
        &self,
        request: &sip::Request,
        challenge: &Final,
        (username, password): (&str, &str),
    ) -> sip::Request {
        let mut retry = request.clone();
        DigestClient::new(username, password)
            .authorize_request(&mut retry, &challenge.response)
            .expect("answer the challenge");
        let call_id = retry.call_id().expect("Call-ID").to_string();
        let seq = retry.cseq().expect("CSeq").seq;
        retry.headers.set(
            HeaderName::Via,
            format!(
                "SIP/2.0/UDP {};branch=z9hG4bK-{call_id}-{seq};rport",
                self.local()
            ),
        );
        retry
    }

    /// A whole attempt: INVITE from `from_user`, expecting a challenge, then
    /// the retry with `credentials`. Returns (challenge, final answer).
    fn attempt(&mut self, from_user: &str, credentials: (&str, &str)) -> (Final, Final) {
        let invite = self.invite(from_user);
        let challenge = self.transact(&invite);
        assert_eq!(
            challenge.response.status,
            401,
            "{}",
            String::from_utf8_lossy(&challenge.bytes)
        );
        let retry = self.authorized(&invite, &challenge, credentials);
        let answer = self.transact(&retry);
        (challenge, answer)
    }
}

/// A 401's header names in order, and its challenges with the nonce blanked.
fn challenge_shape(challenge: &Final) -> (Vec<String>, Vec<String>) {
    let names = challenge
        .response
        .headers
        .0
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    let challenges = challenge
        .response
        .headers
        .get_all(HeaderName::WwwAuthenticate)
        .map(|value| {
            let mut c = DigestChallenge::parse(value).expect("a digest challenge");
            c.nonce.clear();
            c.to_string()
        })
        .collect();
    (names, challenges)
}

fn nonces(challenge: &Final) -> Vec<String> {
    challenge
        .response
        .headers
        .get_all(HeaderName::WwwAuthenticate)
        .map(|value| DigestChallenge::parse(value).expect("a challenge").nonce)
        .collect()
}

/// Waits up to `WAIT` for `needle` to appear in the server's log; how many
/// times it appears then.
fn log_count(server: &Server, needle: &str) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let count = server.log().matches(needle).count();
        if count > 0 || Instant::now() > deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unknown_users_are_challenged_and_refused_like_known_ones() {
    let port = free_port();
    let server = Server::start(binary(), &config(port, free_port(), "", ""), port);
    let mut phone = Phone::bind([127, 0, 0, 1], server.addr());

    let (known_challenge, wrong_password) = phone.attempt("alice", ("alice", "guess"));
    let (unknown_challenge, unknown_user) = phone.attempt("nobody", ("nobody", "guess"));

    assert_eq!(
        known_challenge.status_line(),
        unknown_challenge.status_line()
    );
    assert_eq!(
        challenge_shape(&known_challenge),
        challenge_shape(&unknown_challenge)
    );
    let (_, challenges) = challenge_shape(&known_challenge);
    assert_eq!(challenges.len(), 2, "MD5 and SHA-256: {challenges:?}");
    assert_ne!(nonces(&known_challenge), nonces(&unknown_challenge));

    assert_eq!(wrong_password.status_line(), unknown_user.status_line());
    assert_eq!(
        wrong_password.status_line(),
        "SIP/2.0 403 Forbidden - Bad Credentials"
    );
    assert!(!wrong_password.challenged() && !unknown_user.challenged());
}

#[test]
fn repeated_wrong_digests_ban_the_source_address_until_the_ban_ends() {
    let port = free_port();
    let sip = format!("auth_max_failures: 3, auth_ban_sec: {BAN_SEC}");
    let server = Server::start(binary(), &config(port, free_port(), &sip, ""), port);
    let mut attacker = Phone::bind([127, 0, 0, 1], server.addr());
    let mut other = Phone::bind([127, 0, 0, 2], server.addr());

    for guess in ["a", "b", "c"] {
        let (_, answer) = attacker.attempt("alice", ("alice", guess));
        assert_eq!(answer.response.status, 403);
    }
    // Banned: no challenge, from any port of the address, whatever user.
    let banned = attacker.invite("alice");
    let refused = attacker.transact(&banned);
    assert_eq!(refused.status_line(), "SIP/2.0 403 Forbidden");
    assert!(!refused.challenged());
    let mut same_host = Phone::bind([127, 0, 0, 1], server.addr());
    let invite = same_host.invite("nobody");
    let refused = same_host.transact(&invite);
    assert_eq!(refused.status_line(), "SIP/2.0 403 Forbidden");
    assert!(!refused.challenged());
    // The right password, answering a challenge fetched from elsewhere.
    let invite = other.invite("alice");
    let challenge = other.transact(&invite);
    let mut right = other.authorized(&invite, &challenge, ("alice", "secret"));
    let via = right.headers.get(HeaderName::Via).unwrap_or_default();
    let via = via.replace(&other.local().to_string(), &attacker.local().to_string());
    right.headers.set(HeaderName::Via, via);
    let refused = attacker.transact(&right);
    assert_eq!(refused.status_line(), "SIP/2.0 403 Forbidden");
    assert!(!refused.challenged());

    // Another source with the right password is challenged and admitted.
    let (_, admitted) = other.attempt("alice", ("alice", "secret"));
    assert_eq!(admitted.response.status, 486);

    let line = format!("auth ban: source=127.0.0.1 failures=3 ban_sec={BAN_SEC}");
    assert_eq!(log_count(&server, &line), 1, "{}", server.log());

    // The ban ends: the attacker's address is challenged again and the right
    // password lets it in.
    let deadline = Instant::now() + BAN_END_WAIT;
    loop {
        let invite = attacker.invite("alice");
        let answer = attacker.transact(&invite);
        if answer.response.status == 401 {
            let retry = attacker.authorized(&invite, &answer, ("alice", "secret"));
            assert_eq!(attacker.transact(&retry).response.status, 486);
            break;
        }
        assert_eq!(answer.status_line(), "SIP/2.0 403 Forbidden");
        assert!(Instant::now() < deadline, "the ban did not end");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(server.log().matches("auth ban:").count(), 1);
}

/// Tries a WebSocket upgrade to the Agent RPC listener from `ip`; the HTTP
/// status of a refusal.
async fn agent_upgrade(ip: [u8; 4], listener: SocketAddr, token: &str) -> Result<(), u16> {
    let socket = TcpSocket::new_v4().expect("TCP socket");
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("bind agent socket");
    let stream = tokio::time::timeout(WAIT, socket.connect(listener))
        .await
        .expect("connected in time")
        .expect("connect to Agent RPC");
    let request = format!("ws://{listener}/?endpoint=myagent&token={token}")
        .into_client_request()
        .expect("valid URL");
    match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
        .await
        .expect("handshake in time")
    {
        Ok((mut ws, _)) => {
            let _ = ws.close(None).await;
            Ok(())
        }
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("handshake failed: {other}"),
    }
}

#[tokio::test]
async fn repeated_wrong_agent_tokens_ban_the_source_address_until_the_ban_ends() {
    let port = free_port();
    let agent_port = free_port();
    let sip = format!("auth_max_failures: 3, auth_ban_sec: {BAN_SEC}");
    let yaml = config(port, agent_port, &sip, ", token: s3cret");
    let server = Server::start(binary(), &yaml, port);
    let listener = SocketAddr::from(([127, 0, 0, 1], agent_port));
    let local = [127, 0, 0, 1];

    for wrong in ["a", "b", "c"] {
        assert_eq!(agent_upgrade(local, listener, wrong).await, Err(401));
    }
    assert_eq!(agent_upgrade(local, listener, "s3cret").await, Err(403));
    assert_eq!(
        agent_upgrade([127, 0, 0, 2], listener, "s3cret").await,
        Ok(())
    );
    let line = format!("auth ban: source=127.0.0.1 failures=3 ban_sec={BAN_SEC}");
    assert_eq!(log_count(&server, &line), 1, "{}", server.log());

    let deadline = Instant::now() + BAN_END_WAIT;
    loop {
        match agent_upgrade(local, listener, "s3cret").await {
            Ok(()) => break,
            Err(status) => {
                assert_eq!(status, 403);
                assert!(Instant::now() < deadline, "the ban did not end");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    assert_eq!(server.log().matches("auth ban:").count(), 1);
}
