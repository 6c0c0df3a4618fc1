//! Deciding where an incoming call goes.
//!
//! Two questions, asked in order for each INVITE:
//!
//! 1. **Who is calling?** [`Router::match_endpoint`] attributes the request to
//!    an endpoint: first `ip` endpoints whose networks contain the source
//!    address (the most specific network wins; equal ones go to the endpoint
//!    declared first), then `user` endpoints whose `auth.username` equals the
//!    From user. Checking the digest response is the caller's job; the router
//!    only says whose credentials to check. Agent and Rayo endpoints never
//!    match SIP traffic: their controllers connect to them by name.
//! 2. **Where does the call go?** [`Router::route`] walks the endpoint's route
//!    context in file order; the first entry whose `id` matches the dialed
//!    number decides. `exact` compares the whole number, `prefix` its start,
//!    `any` matches everything.
//!
//! The router is built once from a [`Config`] and is immutable and pure: no
//! I/O, no allocation per lookup, safe to share between tasks.
//!
//! ```
//! use switchboard::config::Config;
//! use switchboard::router::{RouteDecision, Router};
//!
//! let config = Config::from_yaml(
//!     "endpoints:\n  local: { match: { type: ip, values: [127.0.0.0/8] } }\n  myagent: { match: { type: agent } }\n\
//!      routes:\n  default: [ { id: \"\", match: any, endpoint: myagent } ]\n",
//!     "example.yaml",
//! ).expect("valid config");
//! let router = Router::new(&config);
//! let from = router.match_endpoint("127.0.0.1".parse().unwrap(), Some("alice"));
//! assert_eq!(from, Some("local"));
//! match router.route_from("local", "4940") {
//!     RouteDecision::Endpoint { name, .. } => assert_eq!(name, "myagent"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::{
    Cidr, Config, Destination, EndpointMatch, MatchMode, RouteEntry, RouteTarget, StripPrefix,
};

/// Attributes requests to endpoints and picks route entries. Built from a [`Config`].
#[derive(Debug, Clone)]
pub struct Router {
    /// `ip` networks, most specific first, ties in file order.
    networks: Vec<NetworkRule>,
    /// `user` endpoints by username.
    users: HashMap<String, UserRule>,
    /// Route context of each endpoint.
    endpoint_routes: HashMap<String, String>,
    /// Destination of each endpoint that can receive calls.
    destinations: HashMap<String, Destination>,
    /// Route contexts.
    contexts: HashMap<String, Vec<RouteEntry>>,
}

#[derive(Debug, Clone)]
struct NetworkRule {
    network: Cidr,
    endpoint: String,
    transport: Option<String>,
    order: usize,
}

#[derive(Debug, Clone)]
struct UserRule {
    endpoint: String,
    transport: Option<String>,
}

/// The outcome of routing a dialed number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision<'a> {
    /// Send the call to an endpoint.
    Endpoint {
        /// The endpoint's name.
        name: &'a str,
        /// What kind of destination it is.
        destination: &'a Destination,
        /// The dialed number after `strip_prefix`; the user part for the outgoing leg.
        dialed: &'a str,
        /// The route entry that matched, for its fallback and header rules.
        entry: &'a RouteEntry,
    },
    /// Reject the call with this final response.
    Hangup {
        /// Status code, 400-699.
        code: u16,
        /// Reason phrase from the config; `None` means the standard one.
        reason: Option<&'a str>,
    },
    /// No entry matched (or the context does not exist): answer 404.
    NoRoute,
}

impl Router {
    /// Compiles the matching tables from a validated config.
    pub fn new(config: &Config) -> Router {
        let mut networks = Vec::new();
        let mut users = HashMap::new();
        let mut endpoint_routes = HashMap::new();
        let mut destinations = HashMap::new();
        for (order, (name, ep)) in config.endpoints.iter().enumerate() {
            match &ep.matcher {
                EndpointMatch::Ip(nets) => {
                    networks.extend(nets.iter().map(|network| NetworkRule {
                        network: *network,
                        endpoint: name.clone(),
                        transport: ep.match_transport.clone(),
                        order,
                    }));
                }
                EndpointMatch::User => {
                    if let Some(auth) = &ep.auth {
                        // Validation guarantees usernames are unique; keep the first regardless.
                        users.entry(auth.username.clone()).or_insert(UserRule {
                            endpoint: name.clone(),
                            transport: ep.match_transport.clone(),
                        });
                    }
                }
                EndpointMatch::None | EndpointMatch::Agent | EndpointMatch::Rayo => {}
            }
            endpoint_routes.insert(name.clone(), ep.route.clone());
            if let Some(dest) = &ep.destination {
                destinations.insert(name.clone(), dest.clone());
            }
        }
        networks.sort_by_key(|r| (std::cmp::Reverse(r.network.prefix_len()), r.order));
        let contexts = config
            .routes
            .iter()
            .map(|(name, entries)| (name.clone(), entries.clone()))
            .collect();
        Router {
            networks,
            users,
            endpoint_routes,
            destinations,
            contexts,
        }
    }

    /// The endpoint a request from `src_ip` with From user `from_user` belongs
    /// to, whatever transport it came in on; see the module doc for the order.
    pub fn match_endpoint(&self, src_ip: IpAddr, from_user: Option<&str>) -> Option<&str> {
        self.match_endpoint_on(None, src_ip, from_user)
    }

    /// Like [`Router::match_endpoint`], also honouring `match.transport`:
    /// with `Some(name)`, endpoints bound to another transport are skipped;
    /// with `None`, the restriction is not checked.
    pub fn match_endpoint_on(
        &self,
        transport: Option<&str>,
        src_ip: IpAddr,
        from_user: Option<&str>,
    ) -> Option<&str> {
        let allowed = |only: &Option<String>| match (only, transport) {
            (Some(only), Some(arrived)) => only == arrived,
            _ => true,
        };
        if let Some(rule) = self
            .networks
            .iter()
            .find(|r| r.network.contains(src_ip) && allowed(&r.transport))
        {
            return Some(&rule.endpoint);
        }
        let rule = self.users.get(from_user?)?;
        allowed(&rule.transport).then_some(rule.endpoint.as_str())
    }

    /// The route context calls from `endpoint` use.
    pub fn context_of(&self, endpoint: &str) -> Option<&str> {
        self.endpoint_routes.get(endpoint).map(String::as_str)
    }

    /// Routes `dialed` through the context of the calling `endpoint`.
    pub fn route_from<'a>(&'a self, endpoint: &str, dialed: &'a str) -> RouteDecision<'a> {
        match self.context_of(endpoint) {
            Some(context) => self.route(context, dialed),
            None => RouteDecision::NoRoute,
        }
    }

    /// Routes `dialed` (the Request-URI user) through `context`: the first
    /// matching entry decides.
    pub fn route<'a>(&'a self, context: &str, dialed: &'a str) -> RouteDecision<'a> {
        let Some(entries) = self.contexts.get(context) else {
            return RouteDecision::NoRoute;
        };
        let Some(entry) = entries.iter().find(|e| matches(e, dialed)) else {
            return RouteDecision::NoRoute;
        };
        match &entry.target {
            RouteTarget::Hangup { code, reason } => RouteDecision::Hangup {
                code: *code,
                reason: reason.as_deref(),
            },
            RouteTarget::Endpoint(name) => match self.destinations.get(name) {
                Some(destination) => RouteDecision::Endpoint {
                    name,
                    destination,
                    dialed: strip(entry, dialed),
                    entry,
                },
                // Validation rejects entries naming endpoints that take no calls.
                None => RouteDecision::NoRoute,
            },
        }
    }

    /// The destination of a named endpoint, e.g. for a fallback.
    pub fn destination(&self, endpoint: &str) -> Option<&Destination> {
        self.destinations.get(endpoint)
    }
}

fn matches(entry: &RouteEntry, dialed: &str) -> bool {
    match entry.mode {
        MatchMode::Exact => dialed == entry.id,
        MatchMode::Prefix => dialed.starts_with(entry.id.as_str()),
        MatchMode::Any => true,
    }
}

fn strip<'a>(entry: &RouteEntry, dialed: &'a str) -> &'a str {
    match &entry.strip {
        StripPrefix::None => dialed,
        StripPrefix::Id => dialed.strip_prefix(entry.id.as_str()).unwrap_or(dialed),
        StripPrefix::Literal(prefix) => dialed.strip_prefix(prefix.as_str()).unwrap_or(dialed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(yaml: &str) -> Router {
        match Config::from_yaml(yaml, "test.yaml") {
            Ok(config) => Router::new(&config),
            Err(errors) => panic!(
                "{}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    const ENDPOINTS: &str = r#"
transports:
  udp: { transport: udp, bind: 127.0.0.1, port: 5060 }
  tcp: { transport: tcp, bind: 127.0.0.1, port: 5060 }
endpoints:
  carrier:
    match: { type: ip, values: ["10.0.0.0/8", "192.0.2.7"] }
    route: incoming
    uri: "sip:carrier.example:5060"
  pbx:
    match: { type: ip, values: ["10.1.2.0/24"] }
  v6peer:
    match: { type: ip, values: ["2001:db8::/32"] }
  tcponly:
    match: { type: ip, values: ["198.51.100.0/24"], transport: tcp }
  alice:
    match: { type: user }
    auth: { username: alice, password: secret }
  myagent: { match: { type: agent } }
  flowagent: { match: { type: flow } }
  rayoapp: { match: { type: rayo } }
  voicebot: { uri: "sip:127.0.0.1:5080" }
routes:
  default:
    - { id: "", match: any, endpoint: myagent }
  incoming:
    - { id: "49", match: prefix, endpoint: carrier, strip_prefix: true }
    - { id: "666", hangup: { code: 486, reason: Busy Here } }
    - { id: "4711", endpoint: voicebot }
    - { id: "0", match: prefix, endpoint: flowagent, strip_prefix: "00" }
    - { id: "7", match: prefix, endpoint: rayoapp }
    - { id: "777", endpoint: voicebot }
"#;

    #[test]
    fn ip_endpoint_by_v4_network_and_host() {
        let r = router(ENDPOINTS);
        assert_eq!(r.match_endpoint(ip("10.9.9.9"), None), Some("carrier"));
        assert_eq!(r.match_endpoint(ip("192.0.2.7"), None), Some("carrier"));
        assert_eq!(r.match_endpoint(ip("192.0.2.8"), None), None);
    }

    #[test]
    fn most_specific_network_wins_over_file_order() {
        let r = router(ENDPOINTS);
        assert_eq!(r.match_endpoint(ip("10.1.2.3"), None), Some("pbx"));
        assert_eq!(r.match_endpoint(ip("10.1.3.3"), None), Some("carrier"));
    }

    #[test]
    fn equal_networks_go_to_first_endpoint() {
        let r = router(
            "endpoints:\n  a: { match: { type: ip, values: [10.0.0.0/8] } }\n  \
             b: { match: { type: ip, values: [10.0.0.0/8] } }\nroutes: { default: [] }\n",
        );
        assert_eq!(r.match_endpoint(ip("10.0.0.1"), None), Some("a"));
    }

    #[test]
    fn ip_endpoint_by_v6_network_and_mapped_v4() {
        let r = router(ENDPOINTS);
        assert_eq!(r.match_endpoint(ip("2001:db8:1::5"), None), Some("v6peer"));
        assert_eq!(r.match_endpoint(ip("2001:db9::5"), None), None);
        assert_eq!(
            r.match_endpoint(ip("::ffff:10.9.9.9"), None),
            Some("carrier")
        );
    }

    #[test]
    fn ip_match_wins_over_user_match() {
        let r = router(ENDPOINTS);
        assert_eq!(
            r.match_endpoint(ip("10.9.9.9"), Some("alice")),
            Some("carrier")
        );
    }

    #[test]
    fn user_endpoint_by_from_user() {
        let r = router(ENDPOINTS);
        assert_eq!(
            r.match_endpoint(ip("203.0.113.5"), Some("alice")),
            Some("alice")
        );
        assert_eq!(r.match_endpoint(ip("203.0.113.5"), Some("Alice")), None);
        assert_eq!(r.match_endpoint(ip("203.0.113.5"), Some("bob")), None);
        assert_eq!(r.match_endpoint(ip("203.0.113.5"), None), None);
    }

    #[test]
    fn agent_and_destination_endpoints_never_match_sip_sources() {
        let r = router(ENDPOINTS);
        assert_eq!(r.match_endpoint(ip("203.0.113.5"), Some("myagent")), None);
        assert_eq!(r.match_endpoint(ip("127.0.0.1"), Some("voicebot")), None);
    }

    #[test]
    fn match_transport_restricts_only_when_known() {
        let r = router(ENDPOINTS);
        let src = ip("198.51.100.9");
        assert_eq!(r.match_endpoint_on(Some("tcp"), src, None), Some("tcponly"));
        assert_eq!(r.match_endpoint_on(Some("udp"), src, None), None);
        assert_eq!(r.match_endpoint(src, None), Some("tcponly"));
    }

    #[test]
    fn prefix_with_strip() {
        let r = router(ENDPOINTS);
        match r.route("incoming", "4930123") {
            RouteDecision::Endpoint {
                name,
                destination,
                dialed,
                ..
            } => {
                assert_eq!(name, "carrier");
                assert_eq!(
                    destination,
                    &Destination::Sip {
                        uri: "sip:carrier.example:5060".into()
                    }
                );
                assert_eq!(dialed, "30123");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn literal_strip_only_when_present() {
        let r = router(ENDPOINTS);
        let dialed_of = |number| match r.route("incoming", number) {
            RouteDecision::Endpoint { name, dialed, .. } => {
                assert_eq!(name, "flowagent");
                dialed.to_string()
            }
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(dialed_of("0049301"), "49301");
        assert_eq!(dialed_of("0301"), "0301");
    }

    #[test]
    fn exact_requires_the_whole_number() {
        let r = router(ENDPOINTS);
        assert!(matches!(
            r.route("incoming", "4711"),
            RouteDecision::Endpoint {
                name: "voicebot",
                dialed: "4711",
                ..
            }
        ));
        assert_eq!(r.route("incoming", "47110"), RouteDecision::NoRoute);
        assert_eq!(r.route("incoming", "471"), RouteDecision::NoRoute);
    }

    #[test]
    fn hangup_entry() {
        let r = router(ENDPOINTS);
        assert_eq!(
            r.route("incoming", "666"),
            RouteDecision::Hangup {
                code: 486,
                reason: Some("Busy Here")
            }
        );
    }

    #[test]
    fn first_match_wins() {
        let r = router(ENDPOINTS);
        // "777" is an exact entry after the "7" prefix entry, which shadows it.
        assert!(matches!(
            r.route("incoming", "777"),
            RouteDecision::Endpoint {
                name: "rayoapp",
                destination: Destination::Rayo,
                ..
            }
        ));
    }

    #[test]
    fn any_matches_everything_including_empty() {
        let r = router(ENDPOINTS);
        for dialed in ["", "1", "+4930123", "alice"] {
            assert!(matches!(
                r.route("default", dialed),
                RouteDecision::Endpoint {
                    name: "myagent",
                    destination: Destination::Agent,
                    ..
                }
            ));
        }
    }

    #[test]
    fn no_route() {
        let r = router(ENDPOINTS);
        assert_eq!(r.route("incoming", "123"), RouteDecision::NoRoute);
        assert_eq!(r.route("nonexistent", "123"), RouteDecision::NoRoute);
        assert_eq!(r.route_from("nonexistent", "123"), RouteDecision::NoRoute);
    }

    #[test]
    fn route_from_uses_the_endpoint_context() {
        let r = router(ENDPOINTS);
        assert_eq!(r.context_of("carrier"), Some("incoming"));
        assert_eq!(r.context_of("alice"), Some("default"));
        assert!(matches!(
            r.route_from("carrier", "666"),
            RouteDecision::Hangup { code: 486, .. }
        ));
        assert!(matches!(
            r.route_from("alice", "666"),
            RouteDecision::Endpoint {
                name: "myagent",
                ..
            }
        ));
    }

    #[test]
    fn entry_carries_fallback_and_headers() {
        let r = router(
            "endpoints:\n  a: { uri: \"sip:a.example\" }\n  b: { uri: \"sip:b.example\" }\n\
             routes:\n  default:\n    - id: \"\"\n      match: any\n      endpoint: a\n      \
             fallback: b\n      sip_headers: { X-Tenant: \"7\" }\n      sip_headers_pass: [X-Account]\n",
        );
        match r.route("default", "1") {
            RouteDecision::Endpoint { entry, .. } => {
                let fb = entry.fallback.as_ref().expect("fallback configured");
                assert_eq!(fb.endpoints, ["b"]);
                assert!(fb.codes.is_empty() && fb.on_timeout);
                assert_eq!(entry.sip_headers, [("X-Tenant".into(), "7".into())]);
                assert_eq!(entry.sip_headers_pass, ["X-Account"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(r.destination("b"), Some(Destination::Sip { .. })));
    }
}
