//! Server and client digest authentication driven against each other.

use std::time::{Duration, Instant};

use sip::{HeaderName, Host, Method, Request, Uri};

use super::*;

fn register() -> Request {
    let mut r = Request::new(
        Method::Register,
        Uri::sip(None, Host::Domain("sb.example".into()), None),
    );
    r.headers
        .push("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKreg1");
    r.headers.push("From", "<sip:alice@sb.example>;tag=a1");
    r.headers.push("To", "<sip:alice@sb.example>");
    r.headers.push("Call-ID", "reg-1");
    r.headers.push("CSeq", "1 REGISTER");
    r
}

fn password_of(user: &str) -> Option<String> {
    (user == "alice").then(|| "wonderland".to_string())
}

fn verifier(now: Instant) -> DigestVerifier {
    DigestVerifier::new(DigestVerifierConfig::new("sb.example"), [7u8; 32], now)
}

#[test]
fn challenge_then_authorized_with_sha256_preferred() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut client = DigestClient::with_seed("alice", "wonderland", 1);
    let mut request = register();
    assert_eq!(
        server.verify_request(t0, &request, false, password_of),
        DigestVerdict::Missing
    );

    let challenge = server.challenge_response(t0, &request, false, false);
    assert_eq!(challenge.status, 401);
    assert_eq!(
        challenge
            .headers
            .get_all(HeaderName::WwwAuthenticate)
            .count(),
        2
    );
    client
        .authorize_request(&mut request, &challenge)
        .expect("answerable challenge");
    assert_eq!(request.headers.get(HeaderName::CSeq), Some("2 REGISTER"));
    let creds = DigestCredentials::parse(
        request
            .headers
            .get(HeaderName::Authorization)
            .expect("credentials"),
    )
    .expect("parsable credentials");
    assert_eq!(creds.algorithm, DigestAlgorithm::Sha256);
    assert_eq!(creds.nc.as_deref(), Some("00000001"));

    let verdict = server.verify_request(t0 + Duration::from_secs(1), &request, false, password_of);
    assert_eq!(
        verdict,
        DigestVerdict::Authorized {
            username: "alice".into()
        }
    );
}

#[test]
fn wrong_password_and_unknown_user_are_rejected() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let challenge = server.challenge_response(t0, &register(), false, false);

    let mut wrong = register();
    DigestClient::with_seed("alice", "looking-glass", 2)
        .authorize_request(&mut wrong, &challenge)
        .expect("answerable");
    assert_eq!(
        server.verify_request(t0, &wrong, false, password_of),
        DigestVerdict::Rejected(DigestRejection::WrongResponse)
    );

    let mut stranger = register();
    DigestClient::with_seed("mallory", "x", 3)
        .authorize_request(&mut stranger, &challenge)
        .expect("answerable");
    assert_eq!(
        server.verify_request(t0, &stranger, false, password_of),
        DigestVerdict::Rejected(DigestRejection::UnknownUser)
    );
}

#[test]
fn expired_nonce_is_stale_and_stale_is_advertised() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut request = register();
    let challenge = server.challenge_response(t0, &request, false, false);
    DigestClient::with_seed("alice", "wonderland", 4)
        .authorize_request(&mut request, &challenge)
        .expect("answerable");
    let late = t0 + Duration::from_secs(301);
    assert_eq!(
        server.verify_request(late, &request, false, password_of),
        DigestVerdict::Stale
    );

    let again = server.challenge_response(late, &request, false, true);
    let parsed = DigestChallenge::parse(
        again
            .headers
            .get(HeaderName::WwwAuthenticate)
            .expect("challenge"),
    )
    .expect("parsable");
    assert!(parsed.stale);
}

#[test]
fn reused_nonce_count_is_a_replay_and_a_higher_one_passes() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut client = DigestClient::with_seed("alice", "wonderland", 5);
    let mut first = register();
    let challenge = server.challenge_response(t0, &first, false, false);
    client
        .authorize_request(&mut first, &challenge)
        .expect("answerable");
    assert!(server
        .verify_request(t0, &first, false, password_of)
        .is_authorized());
    // The very same request again: nc=1 twice.
    assert_eq!(
        server.verify_request(t0, &first, false, password_of),
        DigestVerdict::Rejected(DigestRejection::Replayed)
    );
    // The client reusing the nonce properly sends nc=2.
    let mut second = register();
    client
        .authorize_request(&mut second, &challenge)
        .expect("answerable");
    assert!(second
        .headers
        .get(HeaderName::Authorization)
        .is_some_and(|v| v.contains("nc=00000002")));
    assert!(server
        .verify_request(t0, &second, false, password_of)
        .is_authorized());
}

#[test]
fn evicted_nonces_cannot_be_replayed() {
    let t0 = Instant::now();
    let mut config = DigestVerifierConfig::new("sb.example");
    config.max_tracked_nonces = 2;
    let mut server = DigestVerifier::new(config, [9u8; 32], t0);
    let mut requests = Vec::new();
    for seed in 0..3 {
        let mut r = register();
        let challenge = server.challenge_response(t0, &r, false, false);
        DigestClient::with_seed("alice", "wonderland", seed)
            .authorize_request(&mut r, &challenge)
            .expect("answerable");
        assert!(server
            .verify_request(t0, &r, false, password_of)
            .is_authorized());
        requests.push(r);
    }
    assert_eq!(server.tracked_nonces(), 2);
    // The first nonce was evicted: replaying it is answered stale, never authorized.
    assert_eq!(
        server.verify_request(t0, &requests[0], false, password_of),
        DigestVerdict::Stale
    );
}

#[test]
fn foreign_nonce_is_stale_with_the_right_password_and_refused_with_a_wrong_one() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    // Another process, or this one before a restart.
    let mut other = DigestVerifier::new(DigestVerifierConfig::new("sb.example"), [8u8; 32], t0);
    let challenge = other.challenge_response(t0, &register(), false, false);
    let mut right = register();
    DigestClient::with_seed("alice", "wonderland", 6)
        .authorize_request(&mut right, &challenge)
        .expect("answerable");
    assert_eq!(
        server.verify_request(t0, &right, false, password_of),
        DigestVerdict::Stale
    );
    let mut wrong = register();
    DigestClient::with_seed("alice", "guess", 6)
        .authorize_request(&mut wrong, &challenge)
        .expect("answerable");
    assert_eq!(
        server.verify_request(t0, &wrong, false, password_of),
        DigestVerdict::Rejected(DigestRejection::UnknownNonce)
    );
}

#[test]
fn made_up_nonce_with_a_wrong_response_is_unknown() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut request = register();
    request.headers.push(
        "Authorization",
        "Digest username=\"alice\", realm=\"sb.example\", nonce=\"not-ours\", \
         uri=\"sip:sb.example\", response=\"00\", algorithm=SHA-256, qop=auth, \
         nc=00000001, cnonce=\"c\"",
    );
    assert_eq!(
        server.verify_request(t0, &request, false, password_of),
        DigestVerdict::Rejected(DigestRejection::UnknownNonce)
    );
}

#[test]
fn uri_mismatch_and_missing_qop_are_rejected() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut request = register();
    let challenge = server.challenge_response(t0, &request, false, false);
    DigestClient::with_seed("alice", "wonderland", 7)
        .authorize_request(&mut request, &challenge)
        .expect("answerable");
    let mut moved = request.clone();
    moved.uri = Uri::sip(None, Host::Domain("elsewhere.example".into()), None);
    assert_eq!(
        server.verify_request(t0, &moved, false, password_of),
        DigestVerdict::Rejected(DigestRejection::UriMismatch)
    );

    // An RFC 2069 answer (no qop) is refused unless explicitly allowed.
    let nonce = server.new_nonce(t0);
    let legacy_challenge = DigestChallenge {
        realm: "sb.example".into(),
        nonce,
        opaque: None,
        algorithm: DigestAlgorithm::Md5,
        qop: vec![],
        stale: false,
    };
    let creds = DigestClient::with_seed("alice", "wonderland", 8)
        .authorize(&legacy_challenge, "REGISTER", "sip:sb.example")
        .expect("answerable");
    assert_eq!(
        server.verify(t0, "REGISTER", &creds, password_of),
        DigestVerdict::Rejected(DigestRejection::UnsupportedQop)
    );
    let mut lenient_config = DigestVerifierConfig::new("sb.example");
    lenient_config.allow_no_qop = true;
    let mut lenient = DigestVerifier::new(lenient_config, [7u8; 32], t0);
    assert!(lenient
        .verify(t0, "REGISTER", &creds, password_of)
        .is_authorized());
}

#[test]
fn proxy_challenge_uses_proxy_headers() {
    let t0 = Instant::now();
    let mut server = verifier(t0);
    let mut request = register();
    let challenge = server.challenge_response(t0, &request, true, false);
    assert_eq!(challenge.status, 407);
    DigestClient::with_seed("alice", "wonderland", 9)
        .authorize_request(&mut request, &challenge)
        .expect("answerable");
    assert!(request.headers.get(HeaderName::Authorization).is_none());
    assert!(server
        .verify_request(t0, &request, true, password_of)
        .is_authorized());
}

#[test]
fn non_challenge_response_is_an_error() {
    let mut request = register();
    let ok = sip::Response::new(200);
    assert_eq!(
        DigestClient::with_seed("a", "b", 0).authorize_request(&mut request, &ok),
        Err(AuthError::NoChallenge)
    );
}
