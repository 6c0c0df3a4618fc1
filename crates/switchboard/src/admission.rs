//! How Switchboard answers a request that starts no known dialog.
//!
//! Pure policy, no I/O: given a request, where it came from and `now`, it
//! returns the response to send. Until call control exists every INVITE
//! ends here with a final response: 403 when no endpoint claims the source,
//! 401 while a `user` endpoint's digest is missing or stale, 404 when no
//! route matches, the route's `hangup` code, or 480 for a routed endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use sip::{HeaderName, Method, Request, Response, TypedHeaders};
use sip_stack::auth::{DigestVerdict, DigestVerifier, DigestVerifierConfig};
use sip_stack::make_response;

use crate::config::{Config, DigestAuth, Destination, EndpointMatch};
use crate::router::{RouteDecision, Router};

/// Methods we answer; listed in `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS";
/// Body types we understand; listed in `Accept`.
pub const ACCEPT: &str = "application/sdp";
/// Option tags we support; none yet, so `Supported` is empty and any
/// `Require` is answered 420.
pub const SUPPORTED: &str = "";

/// Answers out-of-dialog requests per the configured endpoints and routes.
pub struct Admission {
    router: Router,
    /// Credentials of the `user` endpoints, which must present digest auth, by endpoint name.
    digest: HashMap<String, DigestAuth>,
    verifier: DigestVerifier,
    server: String,
}

impl Admission {
    /// Builds the policy from a validated config.
    pub fn new(config: &Config, now: Instant) -> Admission {
        let mut digest = HashMap::new();
        for (name, endpoint) in &config.endpoints {
            if let (EndpointMatch::User, Some(auth)) = (&endpoint.matcher, &endpoint.auth) {
                digest.insert(name.clone(), auth.clone());
            }
        }
        let realm = config
            .transports
            .values()
            .next()
            .map(|t| t.advertised_host())
            .unwrap_or_else(|| "switchboard".to_string());
        Admission {
            router: Router::new(config),
            digest,
            verifier: DigestVerifier::with_random_secret(DigestVerifierConfig::new(realm), now),
            server: config.sip.user_agent.clone(),
        }
    }

    /// The final response to a new request outside any dialog, or `None`
    /// when nothing must be sent (a stray ACK).
    pub fn answer(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        transport: &str,
    ) -> Option<Response> {
        let in_dialog = request.to().ok().and_then(|to| to.tag().map(str::to_string));
        let response = match (&request.method, in_dialog) {
            (Method::Ack, _) => return None,
            // We hold no dialogs yet, so every in-dialog request is for one we do not know.
            (_, Some(_)) => make_response(request, 481),
            (Method::Options, None) => self.options(request),
            (Method::Invite, None) => self.invite(now, request, source, transport),
            // Dialog-only methods outside a dialog (RFC 3261 §15, RFC 6086, RFC 3311).
            (Method::Bye | Method::Info | Method::Update | Method::Prack, None) => {
                make_response(request, 481)
            }
            _ => make_response(request, 501),
        };
        Some(self.stamp(response))
    }

    fn stamp(&self, mut response: Response) -> Response {
        response.headers.push_known(HeaderName::Server, self.server.clone());
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
        response.headers.push_known(HeaderName::Supported, SUPPORTED);
        response
    }

    fn invite(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        transport: &str,
    ) -> Response {
        if let Ok(Some(0)) = request.max_forwards() {
            return make_response(request, 483);
        }
        if let Some(refused) = unsupported_extensions(request) {
            return refused;
        }
        let from_user = request.from().ok().and_then(|f| f.uri.user_unescaped());
        let Some(endpoint) = self
            .router
            .match_endpoint_on(Some(transport), source.ip(), from_user.as_deref())
            .map(str::to_string)
        else {
            tracing::info!(%source, from = ?from_user, "no endpoint matches the caller");
            return make_response(request, 403);
        };
        if let Some(auth) = self.digest.get(&endpoint) {
            // Only this endpoint's own username authenticates it.
            let password_of = |user: &str| (user == auth.username).then(|| auth.password.clone());
            match self.verifier.verify_request(now, request, false, password_of) {
                DigestVerdict::Authorized { .. } => {}
                DigestVerdict::Missing => {
                    return self.verifier.challenge_response(now, request, false, false)
                }
                DigestVerdict::Stale => {
                    return self.verifier.challenge_response(now, request, false, true)
                }
                DigestVerdict::Rejected(why) => {
                    tracing::info!(%source, %endpoint, ?why, "digest credentials refused");
                    return with_reason(make_response(request, 403), "Forbidden - Bad Credentials");
                }
            }
        }
        let dialed = request.uri.user_unescaped().unwrap_or_default();
        match self.router.route_from(&endpoint, &dialed) {
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
                name, destination, ..
            } => {
                // Agent RPC, Rayo and the B2BUA are not wired in yet: nobody can take the call.
                match destination {
                    Destination::Agent => tracing::info!(%name, "no agent connected"),
                    Destination::Rayo => tracing::info!(%name, "no Rayo client connected"),
                    Destination::Sip { uri } => {
                        tracing::warn!(%name, %uri, "bridging to SIP destinations is not available yet")
                    }
                }
                make_response(request, 480)
            }
        }
    }
}

fn with_reason(mut response: Response, reason: &str) -> Response {
    response.reason = reason.to_string();
    response
}

/// 420 Bad Extension listing what a `Require` asks for that we lack (RFC 3261 §8.2.2.3).
fn unsupported_extensions(request: &Request) -> Option<Response> {
    let unsupported: Vec<&str> = request
        .require()
        .into_iter()
        .filter(|tag| !SUPPORTED.split(',').any(|s| s.trim().eq_ignore_ascii_case(tag)))
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
