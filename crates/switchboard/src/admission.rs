//! How Switchboard answers a request that starts no known dialog.
//!
//! Pure policy, no I/O: given a request, where it came from, `now` and the
//! overload governor's verdict, it decides ([`Admit`]). While the governor
//! refuses, a new INVITE or OPTIONS gets 503 with `Retry-After` before
//! anything else is looked at. An INVITE is refused with 403 when no endpoint
//! claims the source, 401 while a `user` endpoint's digest is missing or
//! stale, 404 when no route matches, or the route's `hangup` code; a call
//! routed to a SIP destination or a controller endpoint (agent, Rayo) is
//! handed to a call actor ([`Bridge`]), which offers the latter to the
//! endpoint's controllers (480 when none can take it).
//!
//! Digest is where a hostile network probes, so two rules hold there:
//!
//! - **No user enumeration.** While any `user` endpoint exists, a caller
//!   no endpoint claims is challenged exactly like a known user (same
//!   verifier, realm and algorithms), and the verifier hashes its
//!   credentials against a decoy password, so the answer (403 `Forbidden - Bad
//!   Credentials`) and the work behind it are those of a wrong password.
//!   Credentials naming another user than the endpoint's are handled the
//!   same way.
//! - **No unlimited guessing.** Every refused credential (wrong password,
//!   unknown user, malformed, replayed, foreign nonce with a wrong
//!   response) counts against the source address in an
//!   [`AuthFailures`]; an INVITE without credentials and a stale nonce do
//!   not. A banned source gets a plain 403 without a challenge, whatever
//!   user it claims, and nothing it presents is hashed. Sources an `ip`
//!   endpoint admits never meet digest, so never the tracker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use sip::{HeaderName, Method, Request, Response, TypedHeaders};
use sip_stack::auth::{DigestAlgorithm, DigestVerdict, DigestVerifier, DigestVerifierConfig};
use sip_stack::make_response;

use crate::auth_ban::{AuthFailures, BanPolicy};
use crate::config::{Config, Destination, DigestAuth, EndpointMatch, RouteEntry};
use crate::control::ControllerKind;
use crate::overload::{Decision, Pressure};
use crate::router::{RouteDecision, Router};

/// Methods we answer; listed in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO";
/// Body types we understand; listed in `Accept` (the calls' body check
/// answers 415 with the same list).
pub const ACCEPT: &str = sip::body::ACCEPT;
/// Option tags we support; none yet, so `Supported` is empty and any
/// `Require` is answered 420.
pub const SUPPORTED: &str = "";

/// What to do with a request that starts no known dialog.
#[derive(Debug)]
pub enum Admit {
    /// Send this final response.
    Respond(Response),
    /// Send this 503 (with `Retry-After`): the server takes no new calls
    /// for `pressure`. Counted apart, and recorded in no call record: an
    /// overloaded server has no time for that.
    Overloaded {
        /// The 503.
        response: Response,
        /// Why the governor refuses.
        pressure: Pressure,
    },
    /// Start a B2BUA call toward a SIP destination.
    Bridge(Bridge),
    /// Send nothing (a stray ACK).
    Ignore,
}

/// A call admitted for bridging: where it goes and under which route rules.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The calling endpoint.
    pub from_endpoint: String,
    /// The destination endpoint (a `uri` endpoint).
    pub endpoint: String,
    /// The number to dial there, after `strip_prefix`.
    pub dialed: String,
    /// The matching route entry: fallback, headers, recording.
    pub entry: RouteEntry,
    /// Who controls the call when `endpoint` is a controller endpoint: the
    /// call is offered to its controllers instead of being dialed.
    pub controller: Option<ControllerKind>,
}

/// The credentials of `config`'s `user` endpoints, by endpoint name.
fn digest_users(config: &Config) -> HashMap<String, DigestAuth> {
    config
        .endpoints
        .iter()
        .filter_map(
            |(name, endpoint)| match (&endpoint.matcher, &endpoint.auth) {
                (EndpointMatch::User, Some(auth)) => Some((name.clone(), auth.clone())),
                _ => None,
            },
        )
        .collect()
}

/// Answers out-of-dialog requests per the configured endpoints and routes.
pub struct Admission {
    router: Router,
    /// Credentials of the `user` endpoints, which must present digest auth, by endpoint name.
    digest: HashMap<String, DigestAuth>,
    verifier: DigestVerifier,
    server: String,
    /// Refused credentials per source, and the sources banned for them;
    /// shared with the Rayo listener, whose SASL failures count here too.
    failures: Arc<Mutex<AuthFailures>>,
}

impl Admission {
    /// Builds the policy from a validated config.
    pub fn new(config: &Config, now: Instant) -> Admission {
        let realm = config
            .transports
            .values()
            .next()
            .map(|t| t.advertised_host())
            .unwrap_or_else(|| "switchboard".to_string());
        let mut digest_config = DigestVerifierConfig::new(realm);
        // Both algorithms are offered, MD5 first: SIPp and many deployed phones
        // answer only the first challenge and speak only MD5, while clients
        // that implement RFC 7616 choose SHA-256 from the list anyway.
        digest_config.algorithms = vec![DigestAlgorithm::Md5, DigestAlgorithm::Sha256];
        Admission {
            router: Router::new(config),
            digest: digest_users(config),
            verifier: DigestVerifier::with_random_secret(digest_config, now),
            server: config.sip.user_agent.clone(),
            failures: Arc::new(Mutex::new(AuthFailures::new(BanPolicy::from_config(
                &config.sip,
            )))),
        }
    }

    /// Takes a reloaded config: endpoints, routes, digest users and the
    /// `Server` header apply to the next request. The digest secret (so
    /// nonces already handed out) and the failure tracker (so bans) stay.
    pub fn reconfigure(&mut self, config: &Config) {
        self.router = Router::new(config);
        self.digest = digest_users(config);
        self.server = config.sip.user_agent.clone();
    }

    /// The per-source failure tracker, for other listeners whose
    /// authentication failures must count toward the same bans (Rayo SASL).
    pub fn auth_failures(&self) -> Arc<Mutex<AuthFailures>> {
        self.failures.clone()
    }

    fn failures(&self) -> MutexGuard<'_, AuthFailures> {
        // Nothing panics while holding it; a poisoned tracker is still consistent.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The decision for a new request outside any dialog. `load` is the
    /// overload governor's verdict, asked only for a new INVITE or OPTIONS.
    pub fn admit(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        transport: &str,
        load: impl FnOnce() -> Decision,
    ) -> Admit {
        let in_dialog = request
            .to()
            .ok()
            .and_then(|to| to.tag().map(str::to_string));
        if in_dialog.is_none() && matches!(request.method, Method::Invite | Method::Options) {
            if let Decision::Refuse {
                retry_after,
                pressure,
            } = load()
            {
                let response = self.unavailable(request, retry_after);
                return Admit::Overloaded { response, pressure };
            }
        }
        let response = match (&request.method, in_dialog) {
            (Method::Ack, _) => return Admit::Ignore,
            // We hold no dialogs yet, so every in-dialog request is for one we do not know.
            (_, Some(_)) => make_response(request, 481),
            (Method::Options, None) => self.options(request),
            (Method::Invite, None) => match self.invite(now, request, source, transport) {
                Ok(bridge) => return Admit::Bridge(bridge),
                Err(response) => response,
            },
            // Dialog-only methods outside a dialog (RFC 3261 §15, RFC 6086, RFC 3311).
            (Method::Bye | Method::Info | Method::Update | Method::Prack, None) => {
                make_response(request, 481)
            }
            _ => make_response(request, 501),
        };
        Admit::Respond(self.stamp(response))
    }

    /// The final response to a new request, or `None` when nothing is sent
    /// or the request starts a call (for callers that only answer; load
    /// refuses nothing).
    pub fn answer(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        transport: &str,
    ) -> Option<Response> {
        match self.admit(now, request, source, transport, || Decision::Admit) {
            Admit::Respond(response) | Admit::Overloaded { response, .. } => Some(response),
            Admit::Bridge(_) | Admit::Ignore => None,
        }
    }

    /// The 503 that refuses a new request for `retry_after` seconds: the
    /// server is overloaded or shutting down.
    pub fn unavailable(&self, request: &Request, retry_after: u32) -> Response {
        let mut response = make_response(request, 503);
        response
            .headers
            .push_known(HeaderName::RetryAfter, retry_after.to_string());
        self.stamp(response)
    }

    fn stamp(&self, mut response: Response) -> Response {
        response
            .headers
            .push_known(HeaderName::Server, self.server.clone());
        if response.headers.get(HeaderName::ContentLength).is_none() {
            response.headers.push_known(HeaderName::ContentLength, "0");
        }
        response
    }

    fn options(&self, request: &Request) -> Response {
        if let Some(refused) = unsupported_extensions(request) {
            return refused;
        }
        let mut response = make_response(request, 200);
        response.headers.push_known(HeaderName::Allow, ALLOW);
        response.headers.push_known(HeaderName::Accept, ACCEPT);
        response
            .headers
            .push_known(HeaderName::Supported, SUPPORTED);
        response
    }

    fn invite(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        transport: &str,
    ) -> Result<Bridge, Response> {
        if let Ok(Some(0)) = request.max_forwards() {
            return Err(make_response(request, 483));
        }
        if let Some(refused) = unsupported_extensions(request) {
            return Err(refused);
        }
        let from_user = request.from().ok().and_then(|f| f.uri.user_unescaped());
        let endpoint = self
            .router
            .match_endpoint_on(Some(transport), source.ip(), from_user.as_deref())
            .map(str::to_string);
        // A caller no endpoint claims is challenged like a user while any
        // user endpoint exists: a 403 at once would say the user is unknown.
        let needs_digest = match &endpoint {
            Some(name) => self.digest.contains_key(name),
            None => !self.digest.is_empty(),
        };
        if needs_digest {
            self.authenticate(now, request, source, endpoint.as_deref())?;
        }
        let Some(endpoint) = endpoint else {
            tracing::info!(%source, from = ?from_user, "no endpoint matches the caller");
            return Err(make_response(request, 403));
        };
        let dialed = request.uri.user_unescaped().unwrap_or_default();
        Err(match self.router.route_from(&endpoint, &dialed) {
            RouteDecision::NoRoute => {
                tracing::info!(%endpoint, %dialed, "no route");
                make_response(request, 404)
            }
            RouteDecision::Hangup { code, reason } => {
                let response = make_response(request, code);
                match reason {
                    Some(reason) => with_reason(response, reason),
                    None => response,
                }
            }
            RouteDecision::Endpoint {
                name,
                destination,
                dialed,
                entry,
            } => {
                let controller = match destination {
                    Destination::Agent => Some(ControllerKind::Agent),
                    Destination::Rayo => Some(ControllerKind::Rayo),
                    Destination::Sip { .. } => None,
                };
                return Ok(Bridge {
                    from_endpoint: endpoint.clone(),
                    endpoint: name.to_string(),
                    dialed: dialed.to_string(),
                    entry: entry.clone(),
                    controller,
                });
            }
        })
    }

    /// Digest for a caller claiming a `user` endpoint (`Some(name)`) or no
    /// endpoint at all (`None`, always refused, the same way); `Err` is the
    /// answer when the request may not go on.
    fn authenticate(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        endpoint: Option<&str>,
    ) -> Result<(), Response> {
        if self.failures().is_banned(source.ip(), now) {
            tracing::info!(%source, "refused: source banned for failed authentication");
            return Err(make_response(request, 403));
        }
        // Only this endpoint's own username authenticates it; any other name
        // is unknown (the verifier hashes it against a decoy and refuses it).
        let expected = endpoint.and_then(|name| self.digest.get(name));
        let password_of = |user: &str| {
            expected
                .filter(|auth| auth.username == user)
                .map(|auth| auth.password.clone())
        };
        let verdict = self
            .verifier
            .verify_request(now, request, false, password_of);
        match verdict {
            DigestVerdict::Authorized { .. } => Ok(()),
            DigestVerdict::Missing => {
                Err(self.verifier.challenge_response(now, request, false, false))
            }
            DigestVerdict::Stale => {
                Err(self.verifier.challenge_response(now, request, false, true))
            }
            DigestVerdict::Rejected(why) => {
                tracing::info!(%source, endpoint = endpoint.unwrap_or("-"), ?why, "digest credentials refused");
                self.failures().record_failure(source.ip(), now);
                Err(with_reason(make_response(request, 403), BAD_CREDENTIALS))
            }
        }
    }
}

/// The reason phrase of every refused credential, known user or not.
const BAD_CREDENTIALS: &str = "Forbidden - Bad Credentials";

fn with_reason(mut response: Response, reason: &str) -> Response {
    response.reason = reason.to_string();
    response
}

/// 420 Bad Extension listing what a `Require` asks for that we lack (RFC 3261 §8.2.2.3).
fn unsupported_extensions(request: &Request) -> Option<Response> {
    let unsupported: Vec<&str> = request
        .require()
        .into_iter()
        .filter(|tag| {
            !SUPPORTED
                .split(',')
                .any(|s| s.trim().eq_ignore_ascii_case(tag))
        })
        .collect();
    if unsupported.is_empty() {
        return None;
    }
    let mut response = make_response(request, 420);
    response
        .headers
        .push_known(HeaderName::Unsupported, unsupported.join(", "));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip_stack::auth::DigestClient;
    use std::time::Duration;

    const CONFIG: &str = r#"
transports:
  udp: { transport: udp, bind: 127.0.0.1, port: 5060 }
endpoints:
  local: { match: { type: ip, values: ["127.0.0.0/8"] }, route: incoming }
  alice: { match: { type: user }, auth: { username: alice, password: secret }, route: incoming }
  myagent: { match: { type: agent } }
routes:
  incoming:
    - { id: "666", match: exact, hangup: { code: 486, reason: Busy Here Today } }
    - { id: "603", match: exact, hangup: { code: 603 } }
    - { id: "49", match: prefix, endpoint: myagent, strip_prefix: true }
"#;

    fn admission() -> Admission {
        admission_with(CONFIG)
    }

    fn admission_with(yaml: &str) -> Admission {
        let config = Config::from_yaml(yaml, "test.yaml").expect("test config is valid");
        Admission::new(&config, Instant::now())
    }

    /// [`CONFIG`] banning after 3 failures for 60 s.
    fn strict() -> Admission {
        admission_with(&format!(
            "{CONFIG}sip: {{ auth_max_failures: 3, auth_ban_sec: 60 }}\n"
        ))
    }

    fn request(method: &str, number: &str, from_user: &str, extra: &str) -> Request {
        let text = format!(
            "{method} sip:{number}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK-1\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{from_user}@example.com>;tag=a\r\n\
             To: <sip:{number}@127.0.0.1>{extra}\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match sip::parse_datagram(text.as_bytes()) {
            Ok(sip::Message::Request(r)) => r,
            other => panic!("test request must parse: {other:?}"),
        }
    }

    fn local() -> SocketAddr {
        "127.0.0.1:5070".parse().expect("address")
    }

    fn remote() -> SocketAddr {
        "192.0.2.9:5070".parse().expect("address")
    }

    fn answer(a: &mut Admission, r: &Request, source: SocketAddr) -> Response {
        answer_at(a, Instant::now(), r, source)
    }

    fn answer_at(a: &mut Admission, now: Instant, r: &Request, source: SocketAddr) -> Response {
        a.answer(now, r, source, "udp").expect("a response is due")
    }

    /// Challenges an INVITE from `from_user` at `now`, then answers it as
    /// `username` with `password`: the final response.
    fn digest_attempt(
        a: &mut Admission,
        now: Instant,
        source: SocketAddr,
        from_user: &str,
        (username, password): (&str, &str),
    ) -> Response {
        let mut invite = request("INVITE", "666", from_user, "");
        let challenge = answer_at(a, now, &invite, source);
        assert_eq!(challenge.status, 401, "challenged first");
        DigestClient::new(username, password)
            .authorize_request(&mut invite, &challenge)
            .expect("answer the challenge");
        answer_at(a, now, &invite, source)
    }

    fn status_line(r: &Response) -> (u16, &str) {
        (r.status, r.reason.as_str())
    }

    /// The challenges of a 401 with the nonce blanked out, in order.
    fn challenge_shape(r: &Response) -> Vec<String> {
        r.headers
            .get_all(HeaderName::WwwAuthenticate)
            .map(|value| {
                let mut c = sip_stack::auth::DigestChallenge::parse(value).expect("a challenge");
                assert!(!c.nonce.is_empty());
                c.nonce.clear();
                c.to_string()
            })
            .collect()
    }

    #[test]
    fn options_lists_capabilities() {
        let r = answer(
            &mut admission(),
            &request("OPTIONS", "x", "bob", ""),
            remote(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.headers.get(HeaderName::Allow), Some(ALLOW));
        assert_eq!(r.headers.get(HeaderName::Accept), Some(ACCEPT));
        assert!(r.headers.get(HeaderName::Supported).is_some());
        assert!(r.headers.get(HeaderName::Server).is_some());
    }

    #[test]
    fn load_refuses_new_invites_and_options_only_with_a_stamped_503() {
        let mut a = admission();
        let refuse = || Decision::Refuse {
            retry_after: 4,
            pressure: Pressure::InboundQueue,
        };
        for method in ["INVITE", "OPTIONS"] {
            let r = request(method, "666", "bob", "");
            match a.admit(Instant::now(), &r, local(), "udp", refuse) {
                Admit::Overloaded { response, pressure } => {
                    assert_eq!(pressure, Pressure::InboundQueue);
                    assert_eq!(response.status, 503);
                    let header = |name| response.headers.get(name);
                    assert_eq!(header(HeaderName::RetryAfter), Some("4"));
                    assert!(header(HeaderName::Server).is_some(), "stamped");
                    assert_eq!(header(HeaderName::ContentLength), Some("0"));
                }
                other => panic!("{method}: {other:?}"),
            }
        }
        // In-dialog requests and other methods never ask the governor.
        let never = || -> Decision { panic!("the governor is not asked") };
        let in_dialog = request("INVITE", "666", "bob", ";tag=b");
        let bye = request("BYE", "666", "bob", "");
        for r in [in_dialog, bye] {
            let admit = a.admit(Instant::now(), &r, local(), "udp", never);
            assert!(matches!(admit, Admit::Respond(ref r) if r.status == 481));
        }
    }

    #[test]
    fn invite_decisions_follow_endpoints_and_routes() {
        let mut a = admission();
        let cases = [
            ("666", local(), 486, "Busy Here Today"),
            ("603", local(), 603, "Decline"),
            ("777", local(), 404, "Not Found"),
            // Unknown to every endpoint, but a user endpoint exists: challenged.
            ("666", remote(), 401, "Unauthorized"),
        ];
        for (number, source, status, reason) in cases {
            let r = answer(&mut a, &request("INVITE", number, "bob", ""), source);
            assert_eq!((r.status, r.reason.as_str()), (status, reason), "{number}");
            assert!(
                r.to().expect("To").tag().is_some(),
                "final responses carry a To tag"
            );
        }
    }

    #[test]
    fn calls_for_an_agent_endpoint_are_handed_to_a_call_actor() {
        let mut a = admission();
        let r = request("INVITE", "49123", "bob", "");
        match a.admit(Instant::now(), &r, local(), "udp", || Decision::Admit) {
            Admit::Bridge(bridge) => {
                assert_eq!(bridge.controller, Some(ControllerKind::Agent));
                assert_eq!(
                    (bridge.endpoint.as_str(), bridge.dialed.as_str()),
                    ("myagent", "123")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dialog_requests_and_unknown_methods() {
        let mut a = admission();
        let in_dialog = request("BYE", "666", "bob", ";tag=zz");
        assert_eq!(answer(&mut a, &in_dialog, local()).status, 481);
        assert_eq!(
            answer(&mut a, &request("BYE", "666", "bob", ""), local()).status,
            481
        );
        assert_eq!(
            answer(&mut a, &request("REGISTER", "666", "bob", ""), local()).status,
            501
        );
        assert_eq!(
            answer(&mut a, &request("FOO", "666", "bob", ""), local()).status,
            501
        );
        assert!(a
            .answer(
                Instant::now(),
                &request("ACK", "666", "bob", ""),
                local(),
                "udp"
            )
            .is_none());
    }

    #[test]
    fn require_with_unknown_extension_gets_420() {
        let mut r = request("INVITE", "666", "bob", "");
        r.headers.push("Require", "100rel, foo");
        let response = answer(&mut admission(), &r, local());
        assert_eq!(response.status, 420);
        assert_eq!(
            response.headers.get(HeaderName::Unsupported),
            Some("100rel, foo")
        );
    }

    #[test]
    fn max_forwards_zero_gets_483() {
        let mut r = request("INVITE", "666", "bob", "");
        r.headers.set(HeaderName::MaxForwards, "0");
        assert_eq!(answer(&mut admission(), &r, local()).status, 483);
    }

    #[test]
    fn user_endpoint_must_pass_digest() {
        let mut a = admission();
        let mut invite = request("INVITE", "666", "alice", "");
        let challenge = answer(&mut a, &invite, remote());
        assert_eq!(challenge.status, 401);
        assert!(challenge.headers.get(HeaderName::WwwAuthenticate).is_some());

        let mut wrong = invite.clone();
        DigestClient::new("alice", "guess")
            .authorize_request(&mut wrong, &challenge)
            .expect("answer the challenge");
        assert_eq!(answer(&mut a, &wrong, remote()).status, 403);

        let challenge = answer(&mut a, &invite, remote());
        DigestClient::new("alice", "secret")
            .authorize_request(&mut invite, &challenge)
            .expect("answer the challenge");
        assert_eq!(answer(&mut a, &invite, remote()).status, 486);
        // The same credentials again are a replay.
        assert_eq!(answer(&mut a, &invite, remote()).status, 403);
    }

    #[test]
    fn without_user_endpoints_an_unknown_caller_gets_403_at_once() {
        let mut a = admission_with(&CONFIG.replace(
            "  alice: { match: { type: user }, auth: { username: alice, password: secret }, route: incoming }\n",
            "",
        ));
        let r = answer(&mut a, &request("INVITE", "666", "alice", ""), remote());
        assert_eq!(status_line(&r), (403, "Forbidden"));
        assert!(r.headers.get(HeaderName::WwwAuthenticate).is_none());
    }

    #[test]
    fn unknown_users_are_challenged_and_refused_like_known_ones() {
        let mut a = admission();
        let now = Instant::now();
        let known = answer_at(
            &mut a,
            now,
            &request("INVITE", "666", "alice", ""),
            remote(),
        );
        let unknown = answer_at(
            &mut a,
            now,
            &request("INVITE", "666", "nobody", ""),
            remote(),
        );
        assert_eq!(status_line(&known), status_line(&unknown));
        assert_eq!(challenge_shape(&known), challenge_shape(&unknown));
        assert_eq!(challenge_shape(&known).len(), 2, "MD5 and SHA-256");
        let names = |r: &Response| {
            r.headers
                .0
                .iter()
                .map(|h| h.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&known), names(&unknown));

        let wrong_password = digest_attempt(&mut a, now, remote(), "alice", ("alice", "guess"));
        let unknown_user = digest_attempt(&mut a, now, remote(), "nobody", ("nobody", "guess"));
        // From a known user, credentials for another name.
        let other_name = digest_attempt(&mut a, now, remote(), "alice", ("nobody", "secret"));
        // The known user's password does not open an unknown name.
        let borrowed = digest_attempt(&mut a, now, remote(), "nobody", ("alice", "secret"));
        for r in [&wrong_password, &unknown_user, &other_name, &borrowed] {
            assert_eq!(status_line(r), (403, "Forbidden - Bad Credentials"));
        }
    }

    #[test]
    fn repeated_failures_ban_the_source_whatever_user_it_claims() {
        let mut a = strict();
        let t0 = Instant::now();
        let (attacker, other) = (remote(), "198.51.100.4:5060".parse().expect("address"));
        assert_eq!(
            digest_attempt(&mut a, t0, attacker, "alice", ("alice", "a")).status,
            403
        );
        assert_eq!(
            digest_attempt(&mut a, t0, attacker, "nobody", ("nobody", "b")).status,
            403
        );
        assert_eq!(
            digest_attempt(&mut a, t0, attacker, "alice", ("alice", "c")).status,
            403
        );

        // Banned: no challenge, not even for the right password's first step.
        let later = t0 + Duration::from_secs(30);
        let r = answer_at(
            &mut a,
            later,
            &request("INVITE", "666", "alice", ""),
            attacker,
        );
        assert_eq!(status_line(&r), (403, "Forbidden"));
        assert!(r.headers.get(HeaderName::WwwAuthenticate).is_none());
        // Credentials to a nonce obtained before the ban are not even checked.
        let mut invite = request("INVITE", "666", "alice", "");
        let challenge = answer_at(&mut a, t0, &invite, other);
        DigestClient::new("alice", "secret")
            .authorize_request(&mut invite, &challenge)
            .expect("answer the challenge");
        assert_eq!(
            status_line(&answer_at(&mut a, later, &invite, attacker)),
            (403, "Forbidden")
        );
        // Another source with the right password is not affected.
        assert_eq!(
            digest_attempt(&mut a, later, other, "alice", ("alice", "secret")).status,
            486
        );
        // Another port of the banned address is banned too.
        let same_host: SocketAddr = "192.0.2.9:6000".parse().expect("address");
        assert_eq!(
            answer_at(
                &mut a,
                later,
                &request("INVITE", "666", "alice", ""),
                same_host
            )
            .status,
            403
        );
        // OPTIONS is answered whatever happens.
        assert_eq!(
            answer_at(
                &mut a,
                later,
                &request("OPTIONS", "x", "alice", ""),
                attacker
            )
            .status,
            200
        );
        // Sources an ip endpoint admits never meet digest, nor the ban.
        assert_eq!(
            answer_at(
                &mut a,
                later,
                &request("INVITE", "666", "alice", ""),
                local()
            )
            .status,
            486
        );

        // The ban ends after 60 s.
        let after = t0 + Duration::from_secs(61);
        assert_eq!(
            digest_attempt(&mut a, after, attacker, "alice", ("alice", "secret")).status,
            486
        );
    }

    #[test]
    fn challenges_and_stale_nonces_are_not_failures_but_replays_are() {
        let mut a = strict();
        let t0 = Instant::now();
        let source = remote();
        for _ in 0..10 {
            let r = answer_at(&mut a, t0, &request("INVITE", "666", "alice", ""), source);
            assert_eq!(r.status, 401);
        }
        // A nonce past its lifetime, with the right password: stale, every time.
        for _ in 0..5 {
            let mut invite = request("INVITE", "666", "alice", "");
            let challenge = answer_at(&mut a, t0, &invite, source);
            DigestClient::new("alice", "secret")
                .authorize_request(&mut invite, &challenge)
                .expect("answer the challenge");
            let r = answer_at(&mut a, t0 + Duration::from_secs(301), &invite, source);
            assert_eq!(r.status, 401);
            assert!(r
                .headers
                .get(HeaderName::WwwAuthenticate)
                .is_some_and(|c| c.contains("stale=true")));
        }
        let now = t0 + Duration::from_secs(302);
        let mut invite = request("INVITE", "666", "alice", "");
        let challenge = answer_at(&mut a, now, &invite, source);
        DigestClient::new("alice", "secret")
            .authorize_request(&mut invite, &challenge)
            .expect("answer the challenge");
        assert_eq!(answer_at(&mut a, now, &invite, source).status, 486);
        // Replaying those credentials three times is three failures.
        for _ in 0..3 {
            assert_eq!(answer_at(&mut a, now, &invite, source).status, 403);
        }
        let r = answer_at(&mut a, now, &request("INVITE", "666", "alice", ""), source);
        assert_eq!(status_line(&r), (403, "Forbidden"));
    }

    #[test]
    fn malformed_credentials_count_as_failures() {
        let mut a = strict();
        let now = Instant::now();
        for _ in 0..3 {
            let mut r = request("INVITE", "666", "nobody", "");
            r.headers.push("Authorization", "Digest ???");
            assert_eq!(
                status_line(&answer_at(&mut a, now, &r, remote())),
                (403, "Forbidden - Bad Credentials")
            );
        }
        let r = answer_at(
            &mut a,
            now,
            &request("INVITE", "666", "alice", ""),
            remote(),
        );
        assert_eq!(status_line(&r), (403, "Forbidden"));
    }
}
