//! Tests of parsing, validation and environment overrides.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::*;

fn ok(yaml: &str) -> Config {
    match Config::from_yaml(yaml, "t.yaml") {
        Ok(config) => config,
        Err(errors) => panic!("{}", render(&errors)),
    }
}

fn errors(yaml: &str) -> Vec<ConfigError> {
    match Config::from_yaml(yaml, "t.yaml") {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors,
    }
}

/// The single error `yaml` produces, rendered.
fn one_error(yaml: &str) -> String {
    let errors = errors(yaml);
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    errors[0].to_string()
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The configuration example of the issue, written out as valid YAML.
const ISSUE_EXAMPLE: &str = r#"
transports:   { udp: { transport: udp, bind: 127.0.0.1, port: 5060, external_host: sip.example.com }, tcp: { transport: tcp, bind: 127.0.0.1, port: 5060 } }
endpoints:
  carrier: { match: { type: ip, values: ["10.0.0.0/8", "192.0.2.7"] }, route: incoming, uri: "sip:carrier.example:5060", auth: { username: u, password: p } }
  alice:   { match: { type: user }, auth: { username: alice, password: secret } }
  myagent: { match: { type: agent } }          # "flow" accepted as an alias
routes:
  default:  [ { id: "", match: any, endpoint: myagent } ]
  incoming: [ { id: "49", match: prefix, endpoint: carrier, strip_prefix: true }, { id: "666", hangup: { code: 486, reason: Busy Here } } ]
"#;

#[test]
fn issue_example_parses() {
    let c = ok(ISSUE_EXAMPLE);
    let udp = &c.transports["udp"];
    assert_eq!(udp.protocol, TransportProtocol::Udp);
    assert_eq!(udp.listen_addr(), "127.0.0.1:5060".parse().expect("addr"));
    assert_eq!(udp.advertised_host(), "sip.example.com");
    assert_eq!(c.transports["tcp"].protocol, TransportProtocol::Tcp);

    let carrier = &c.endpoints["carrier"];
    assert_eq!(
        carrier.matcher,
        EndpointMatch::Ip(vec![
            "10.0.0.0/8".parse().expect("net"),
            "192.0.2.7/32".parse().expect("net")
        ])
    );
    assert_eq!(carrier.route, "incoming");
    assert_eq!(
        carrier.destination,
        Some(Destination::Sip {
            uri: "sip:carrier.example:5060".into()
        })
    );
    assert_eq!(
        carrier.auth.as_ref().map(|a| a.username.as_str()),
        Some("u")
    );
    assert_eq!(c.endpoints["alice"].matcher, EndpointMatch::User);
    assert_eq!(c.endpoints["alice"].route, "default");
    assert_eq!(c.endpoints["myagent"].destination, Some(Destination::Agent));

    let incoming = &c.routes["incoming"];
    assert_eq!(incoming.len(), 2);
    assert_eq!(incoming[0].mode, MatchMode::Prefix);
    assert_eq!(incoming[0].strip, StripPrefix::Id);
    assert_eq!(incoming[0].target, RouteTarget::Endpoint("carrier".into()));
    assert_eq!(incoming[1].mode, MatchMode::Exact, "exact is the default");
    assert_eq!(
        incoming[1].target,
        RouteTarget::Hangup {
            code: 486,
            reason: Some("Busy Here".into())
        }
    );
    assert_eq!(c.routes["default"][0].mode, MatchMode::Any);
}

#[test]
fn endpoints_keep_file_order() {
    let c = ok(ISSUE_EXAMPLE);
    let names: Vec<&str> = c.endpoints.keys().map(String::as_str).collect();
    assert_eq!(names, ["carrier", "alice", "myagent"]);
}

#[test]
fn diagox_config_keys_are_accepted() {
    // Diagox's full example, less `use_registry` (no registrar yet).
    let c = ok(r#"
version: "2.4"
transports:
  udp:
    transport: "udp"
    bind: 0.0.0.0
    port: 5060
    external_host: my.domain.com
    external_media_ip: 1.2.3.4
  tcp:
    transport: "tcp"
    bind: 0.0.0.0
    port: 5060
  udp_local:
    transport: "udp"
    bind: 127.0.0.1
    port: 5099
    rewrite_contact: true
routes:
  default:
    - id: ""
      match: "any"
      hangup: { code: 480 }
  incoming:
    - id: "4912345678"
      endpoint: carrier_internal
    - id: "121"
      match: prefix
      endpoint: carrier_internal
      sip_headers_pass: ["X-Myheader", "X-Account-ID"]
      sip_headers:
        X-Fixed-Header: "Call121"
      fallback: { enabled: true, endpoints: [carrier_external], codes: [503], timeout: true }
  outgoing:
    - id: "987"
      match: "prefix"
      strip_prefix: "98"
      endpoint: carrier_external
endpoints:
  carrier_external:
    route: incoming
    match:
      type: "ip"
      values: ["192.168.0.0/24"]
    auth:
      type: digest
      username: "test"
      password: "test123"
    uri: "sip:carrier.external.com:5080"
    transport: tcp
  carrier_internal:
    route: outgoing
    match:
      type: "ip"
      values: ["127.0.0.1/8"]
      transport: udp_local
    uri: "sip:127.0.0.1:5070"
  alice:
    match:
      type: "user"
    auth:
      username: "alice"
      password: "test123"
  bot:
    match: { type: flow }
"#);
    assert_eq!(
        c.transports["udp"].external_media_ip,
        Some("1.2.3.4".parse().expect("ip"))
    );
    assert!(c.transports["udp_local"].rewrite_contact);
    assert_eq!(
        c.endpoints["carrier_internal"].matcher,
        EndpointMatch::Ip(vec!["127.0.0.0/8".parse().expect("net")])
    );
    assert_eq!(
        c.endpoints["carrier_internal"].match_transport.as_deref(),
        Some("udp_local")
    );
    assert_eq!(c.endpoints["bot"].matcher, EndpointMatch::Agent);
    let e = &c.routes["incoming"][1];
    assert_eq!(e.sip_headers, [("X-Fixed-Header".into(), "Call121".into())]);
    assert_eq!(e.sip_headers_pass, ["X-Myheader", "X-Account-ID"]);
    assert_eq!(
        e.fallback,
        Some(Fallback {
            endpoints: vec!["carrier_external".into()],
            codes: vec![503],
            on_timeout: true
        })
    );
    assert_eq!(
        c.routes["outgoing"][0].strip,
        StripPrefix::Literal("98".into())
    );
}

#[test]
fn empty_file_gets_defaults() {
    for text in [
        "",
        "# nothing here\n\n",
        "{}",
        "transports:\nendpoints:\nroutes:\n",
    ] {
        let c = ok(text);
        assert_eq!(c.transports.len(), 1, "{text:?}");
        let udp = &c.transports["udp"];
        assert_eq!(udp.protocol, TransportProtocol::Udp);
        assert_eq!(udp.listen_addr(), SocketAddr::from(([127, 0, 0, 1], 5060)));
        assert!(c.endpoints.is_empty());
        assert_eq!(c.agent_rpc, AgentRpcConfig::default());
        assert_eq!(c.agent_rpc.listen, SocketAddr::from(([127, 0, 0, 1], 6000)));
        assert_eq!(c.agent_rpc.max_connections_per_endpoint, 16);
        assert_eq!(c.agent_rpc.invite_timeout_sec, 60);
        assert_eq!(c.agent_rpc.disconnect_grace_sec, 5);
        assert_eq!(c.agent_rpc.answer_timeout_sec, 180);
        assert_eq!(c.http.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!((c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms), (500, 4000, 5000));
        assert_eq!(c.rayo, None);
        assert_eq!(
            (c.media.rtp_ports.first, c.media.rtp_ports.last),
            (20000, 30000)
        );
    }
}

#[test]
fn transport_defaults() {
    let c = ok("transports:\n  t: { transport: tcp }\n");
    let t = &c.transports["t"];
    assert_eq!(t.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(t.port, 5060);
    assert_eq!(t.advertised_host(), "127.0.0.1");
    assert_eq!(t.advertised_port(), 5060);
}

#[test]
fn sections_parse() {
    let c = ok(r#"
media: { rtp_ports: 10000-10100, playback_dir: /srv/sounds, recordings_dir: rec }
agent_rpc: { listen: "0.0.0.0:7000", max_connections_per_endpoint: 2, invite_timeout_sec: 9, disconnect_grace_sec: 0, token: s3cret }
rayo: { domain: rayo.example }
http: { listen: "[::1]:9090" }
sip: { t1_ms: 100, t2_ms: 400, t4_ms: 500, user_agent: Test/1, max_transactions: 10 }
"#);
    assert_eq!(c.media.playback_dir, PathBuf::from("/srv/sounds"));
    assert_eq!(c.agent_rpc.token.as_deref(), Some("s3cret"));
    assert_eq!(c.agent_rpc.disconnect_grace_sec, 0);
    let rayo = c.rayo.expect("rayo section");
    assert_eq!(rayo.domain, "rayo.example");
    assert_eq!(rayo.listen, SocketAddr::from(([127, 0, 0, 1], 5222)));
    assert_eq!(c.http.listen, "[::1]:9090".parse().expect("addr"));
    assert_eq!(c.sip.user_agent, "Test/1");
}

#[test]
fn route_ids_keep_leading_zeros_even_unquoted() {
    let c = ok("endpoints:\n  b: { uri: \"sip:b.example\" }\nroutes:\n  default:\n    - { id: 0049, match: prefix, endpoint: b }\n");
    assert_eq!(c.routes["default"][0].id, "0049");
}

// ---- parse errors: unknown keys and bad values, with line:column ----

#[test]
fn unknown_top_level_key() {
    let e = one_error("transports: {}\nrouting:\n  default: []\n");
    assert!(e.starts_with("t.yaml:2:1: unknown field `routing`"), "{e}");
}

#[test]
fn unknown_nested_key_points_at_the_key() {
    let e = one_error(
        "endpoints:\n  carrier:\n    match: { type: ip, values: [10.0.0.0/8] }\n    rout: incoming\n",
    );
    assert!(e.starts_with("t.yaml:4:5: unknown field `rout`"), "{e}");
    assert!(e.contains("route"), "lists the expected keys: {e}");
}

#[test]
fn unknown_key_in_flow_mapping() {
    let e = one_error("routes:\n  default: [ { id: \"\", match: any, endpiont: x } ]\n");
    assert!(
        e.starts_with("t.yaml:2:36: unknown field `endpiont`"),
        "{e}"
    );
}

#[test]
fn unknown_key_in_section() {
    let e = one_error("agent_rpc:\n  listen: 127.0.0.1:6000\n  max_connection: 3\n");
    assert!(
        e.starts_with("t.yaml:3:3: unknown field `max_connection`"),
        "{e}"
    );
}

#[test]
fn bad_enum_value() {
    let e = one_error(
        "routes:\n  default:\n    - { id: \"1\", match: prefx, hangup: { code: 404 } }\n",
    );
    assert!(e.starts_with("t.yaml:3:25: "), "{e}");
    assert!(e.contains("prefx"), "{e}");
}

#[test]
fn bad_listen_address() {
    let e = one_error("http:\n  listen: localhost\n");
    assert!(e.starts_with("t.yaml:2:11: "), "{e}");
}

#[test]
fn yaml_syntax_error() {
    let e = one_error("routes:\n  default: [ { id: \"1\" \n");
    assert!(e.starts_with("t.yaml:"), "{e}");
}

// ---- semantic errors ----

#[test]
fn route_entry_naming_unknown_endpoint() {
    let e = one_error(
        "endpoints:\n  carrier: { uri: \"sip:c.example\" }\nroutes:\n  incoming:\n    - { id: \"1\", endpoint: carrier }\n    - { id: \"2\", endpoint: carier }\n",
    );
    assert_eq!(
        e,
        "t.yaml:6:28: routes.incoming[1].endpoint: unknown endpoint \"carier\""
    );
}

#[test]
fn route_entry_without_target() {
    let e = one_error("routes:\n  default:\n    - id: \"1\"\n      match: exact\n");
    assert_eq!(
        e,
        "t.yaml:3:7: routes.default[0]: entry needs `endpoint` or `hangup`"
    );
}

#[test]
fn route_entry_with_both_targets() {
    let e = one_error(
        "endpoints:\n  b: { uri: \"sip:b.example\" }\nroutes:\n  default:\n    - { id: \"1\", endpoint: b, hangup: { code: 486 } }\n",
    );
    assert!(
        e.starts_with("t.yaml:5:7: routes.default[0]: entry has both"),
        "{e}"
    );
}

#[test]
fn hangup_code_out_of_range() {
    for code in [200, 399, 700] {
        let e = one_error(&format!(
            "routes:\n  default:\n    - id: \"1\"\n      hangup:\n        code: {code}\n"
        ));
        assert_eq!(
            e,
            format!(
                "t.yaml:5:15: routes.default[0].hangup.code: code {code} is not a failure status (400-699)"
            )
        );
    }
    ok("routes:\n  default:\n    - { id: \"1\", hangup: { code: 400 } }\n    - { id: \"2\", hangup: { code: 699 } }\n");
}

#[test]
fn bad_cidr_in_match_values() {
    let yaml = "endpoints:\n  c:\n    match:\n      type: ip\n      values:\n        - 10.0.0.0/8\n        - 10.0.0.0/33\n        - 10.0.0\nroutes: { default: [] }\n";
    let errors = errors(yaml);
    assert_eq!(errors.len(), 2, "{}", render(&errors));
    assert!(
        errors[0].to_string().starts_with(
            "t.yaml:7:11: endpoints.c.match.values[1]: bad IP network \"10.0.0.0/33\""
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[1]
            .to_string()
            .starts_with("t.yaml:8:11: endpoints.c.match.values[2]: bad IP network \"10.0.0\""),
        "{}",
        errors[1]
    );
}

#[test]
fn ip_match_needs_values() {
    let e = one_error("endpoints:\n  c: { match: { type: ip } }\nroutes: { default: [] }\n");
    assert!(
        e.contains("endpoints.c.match.values: match type ip needs"),
        "{e}"
    );
}

#[test]
fn values_only_with_ip() {
    let e = one_error("endpoints:\n  a: { match: { type: agent, values: [1.2.3.4] } }\n");
    assert!(
        e.starts_with("t.yaml:2:38: endpoints.a.match.values: "),
        "{e}"
    );
}

#[test]
fn duplicate_transport_ports() {
    let e = one_error(
        "transports:\n  a: { transport: udp, bind: 127.0.0.1, port: 5060 }\n  b: { transport: udp, bind: 127.0.0.1, port: 5060 }\n",
    );
    assert_eq!(
        e,
        "t.yaml:3:47: transports.b.port: udp port 5060 is already used by transport \"a\""
    );
    // The wildcard address overlaps every other address.
    let e = one_error(
        "transports:\n  a: { transport: tcp, bind: 0.0.0.0, port: 5070 }\n  b: { transport: tcp, bind: 127.0.0.1, port: 5070 }\n",
    );
    assert!(
        e.contains("tcp port 5070 is already used by transport \"a\""),
        "{e}"
    );
    // Different protocols, addresses or port 0 are fine.
    ok("transports:\n  a: { transport: udp, port: 5060 }\n  b: { transport: tcp, port: 5060 }\n  c: { transport: udp, bind: 127.0.0.2, port: 5060 }\n  d: { transport: udp, port: 0 }\n  e: { transport: udp, port: 0 }\n");
}

#[test]
fn unsupported_transport_protocols() {
    for proto in ["tls", "ws", "wss"] {
        let e = one_error(&format!("transports:\n  t:\n    transport: {proto}\n"));
        assert_eq!(
            e,
            format!("t.yaml:3:16: transports.t.transport: transport {proto} is not supported yet")
        );
    }
}

#[test]
fn bad_transport_addresses() {
    let errors = errors(
        "transports:\n  t:\n    transport: udp\n    bind: example.com\n  u:\n    transport: udp\n    external_host: \"bad host\"\n    external_media_ip: nope\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 3, "{text}");
    assert!(
        text.contains("t.yaml:4:11: transports.t.bind: \"example.com\" is not an IP address"),
        "{text}"
    );
    assert!(
        text.contains("t.yaml:7:20: transports.u.external_host"),
        "{text}"
    );
    assert!(
        text.contains("t.yaml:8:24: transports.u.external_media_ip"),
        "{text}"
    );
}

#[test]
fn endpoint_route_naming_unknown_context() {
    let e = one_error(
        "endpoints:\n  c:\n    match: { type: ip, values: [10.0.0.1] }\n    route: incomming\nroutes:\n  incoming: []\n",
    );
    assert_eq!(
        e,
        "t.yaml:4:12: endpoints.c.route: unknown route context \"incomming\""
    );
}

#[test]
fn implicit_default_context_must_exist() {
    let e = one_error("endpoints:\n  c: { match: { type: ip, values: [10.0.0.1] } }\n");
    assert!(e.starts_with("t.yaml:2:6: endpoints.c: "), "{e}");
    assert!(e.contains("\"default\""), "{e}");
    // Pure destinations and agents do not originate SIP calls, so need no context.
    ok("endpoints:\n  v: { uri: \"sip:v.example\" }\n  a: { match: { type: agent } }\n");
}

#[test]
fn invalid_uris() {
    for (uri, reason) in [
        ("http://x.example", "must start with sip: or sips:"),
        ("sip:", "missing host"),
        ("sip:user@", "missing host"),
        ("sip:a b.example", "contains whitespace"),
        ("sip:x.example:0", "bad port"),
        ("sip:x.example:99999", "bad port"),
        ("sip:x.example:abc", "bad port"),
        ("sip:[::1", "unclosed [ in IPv6 host"),
        ("sip:[zz::1]", "bad IPv6 address"),
        ("sip:@x.example", "empty user before @"),
        ("sip:x_y.example", "bad host"),
    ] {
        let e = one_error(&format!("endpoints:\n  v:\n    uri: \"{uri}\"\n"));
        assert_eq!(
            e,
            format!("t.yaml:3:10: endpoints.v.uri: \"{uri}\" is not a sip: or sips: URI: {reason}")
        );
    }
    for uri in [
        "sip:127.0.0.1:5080",
        "SIP:Bob@Example.COM",
        "sips:carrier.example",
        "sip:+4930@[2001:db8::1]:5061;transport=tcp",
        "sip:gw.example;lr?X-A=b",
    ] {
        ok(&format!("endpoints:\n  v:\n    uri: \"{uri}\"\n"));
    }
}

#[test]
fn uri_on_agent_is_an_error() {
    let e = one_error("endpoints:\n  a: { match: { type: agent }, uri: \"sip:a.example\" }\n");
    assert!(e.starts_with("t.yaml:2:37: endpoints.a.uri: "), "{e}");
}

#[test]
fn route_to_endpoint_without_destination() {
    let e = one_error(
        "endpoints:\n  alice: { match: { type: user }, auth: { username: alice, password: x } }\nroutes:\n  default: [ { id: \"\", match: any, endpoint: alice } ]\n",
    );
    assert!(
        e.starts_with(
            "t.yaml:4:46: routes.default[0].endpoint: endpoint \"alice\" cannot receive calls"
        ),
        "{e}"
    );
}

#[test]
fn user_match_needs_auth_and_unique_usernames() {
    let e = one_error("endpoints:\n  a: { match: { type: user } }\nroutes: { default: [] }\n");
    assert!(
        e.contains("endpoints.a.match: match type user needs `auth`"),
        "{e}"
    );
    let e = one_error(
        "endpoints:\n  a: { match: { type: user }, auth: { username: al, password: x } }\n  b: { match: { type: user }, auth: { username: al, password: y } }\nroutes: { default: [] }\n",
    );
    assert!(
        e.starts_with("t.yaml:3:49: endpoints.b.auth.username: username \"al\" is already used by endpoint \"a\""),
        "{e}"
    );
}

#[test]
fn unsupported_diagox_features_are_named() {
    let errors = errors(
        "endpoints:\n  a: { match: { type: user }, auth: { type: bearer, username: a, password: b } }\nroutes:\n  default:\n    - { id: \"\", match: any, use_registry: true }\n    - { id: \"1\", hangup: { code: 404 }, recording: true }\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 2, "{text}");
    assert!(
        text.contains("auth type bearer is not supported yet"),
        "{text}"
    );
    assert!(
        text.contains(
            "routes.default[0].use_registry: use_registry (registrar lookup) is not supported yet"
        ),
        "{text}"
    );
    assert!(!text.contains("recording"), "{text}");
}

#[test]
fn recording_flag_parses() {
    let c = ok(
        "endpoints:\n  b: { match: { type: agent } }\nroutes:\n  default:\n    - { id: \"1\", endpoint: b, recording: true }\n    - { id: \"2\", endpoint: b, recording: false }\n    - { id: \"3\", endpoint: b }\n",
    );
    let recording: Vec<bool> = c.routes["default"].iter().map(|e| e.recording).collect();
    assert_eq!(recording, [true, false, false]);
}

#[test]
fn unknown_transport_references() {
    let errors = errors(
        "endpoints:\n  c: { match: { type: ip, values: [10.0.0.1], transport: tpc }, uri: \"sip:c.example\", transport: tpc }\nroutes: { default: [] }\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 2, "{text}");
    assert!(
        text.contains("endpoints.c.match.transport: unknown transport \"tpc\""),
        "{text}"
    );
    assert!(
        text.contains("endpoints.c.transport: unknown transport \"tpc\""),
        "{text}"
    );
}

#[test]
fn header_rules() {
    let errors = errors(
        "endpoints:\n  b: { uri: \"sip:b.example\" }\nroutes:\n  default:\n    - id: \"\"\n      match: any\n      endpoint: b\n      sip_headers: { Via: x, \"X-Ok\": \"a\\r\\nInjected: 1\", \"Bad Name\": y }\n      sip_headers_pass: [Call-ID, X-Fine, \"a:b\"]\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 5, "{text}");
    assert!(
        text.contains("sip_headers.Via: Via belongs to the dialog"),
        "{text}"
    );
    assert!(
        text.contains("sip_headers.X-Ok: header value must be one line"),
        "{text}"
    );
    assert!(
        text.contains("sip_headers.Bad Name: \"Bad Name\" is not a SIP header name"),
        "{text}"
    );
    assert!(
        text.contains("sip_headers_pass[0]: Call-ID belongs to the dialog"),
        "{text}"
    );
    assert!(
        text.contains("sip_headers_pass[2]: \"a:b\" is not a SIP header name"),
        "{text}"
    );
}

#[test]
fn fallback_forms_and_errors() {
    let c = ok(
        "endpoints:\n  a: { uri: \"sip:a.example\" }\n  b: { uri: \"sip:b.example\" }\nroutes:\n  default:\n    - { id: \"1\", endpoint: a, fallback: b }\n    - { id: \"2\", endpoint: a, fallback: { enabled: false, endpoints: [b] } }\n",
    );
    assert_eq!(
        c.routes["default"][0].fallback,
        Some(Fallback {
            endpoints: vec!["b".into()],
            codes: vec![],
            on_timeout: true
        })
    );
    assert_eq!(c.routes["default"][1].fallback, None);

    let errors = errors(
        "endpoints:\n  a: { uri: \"sip:a.example\" }\nroutes:\n  default:\n    - { id: \"1\", endpoint: a, fallback: nope }\n    - { id: \"2\", endpoint: a, fallback: { endpoints: [a], codes: [302] } }\n    - { id: \"3\", endpoint: a, fallback: { endpoints: [] } }\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 3, "{text}");
    assert!(
        text.contains("routes.default[0].fallback: unknown endpoint \"nope\""),
        "{text}"
    );
    assert!(
        text.contains("routes.default[1].fallback.codes: code 302 is not a failure status"),
        "{text}"
    );
    assert!(
        text.contains("routes.default[2].fallback.endpoints: needs at least one endpoint"),
        "{text}"
    );
}

#[test]
fn section_value_checks() {
    // A bad port range is a value error, reported where the value stands.
    for (range, message) in [
        ("30000-20000", "port range 30000-20000"),
        ("0-100", "port range 0-100"),
        ("20000", "expected a port range"),
        ("a-b", "expected a port range"),
        ("20000-70000", "expected a port range"),
    ] {
        let text = render(&errors(&format!("media: {{ rtp_ports: {range} }}\n")));
        assert!(
            text.contains("t.yaml:1:21") && text.contains(message),
            "{range}: {text}"
        );
    }

    let errors = errors(
        "agent_rpc: { max_connections_per_endpoint: 0 }\nsip: { t1_ms: 500, t2_ms: 100 }\nrayo: { domain: \"\" }\n",
    );
    let text = render(&errors);
    assert_eq!(errors.len(), 3, "{text}");
    assert!(
        text.contains("agent_rpc: max_connections_per_endpoint must be at least 1"),
        "{text}"
    );
    assert!(text.contains("sip: timers need"), "{text}");
    assert!(text.contains("rayo.domain"), "{text}");
}

#[test]
fn all_errors_are_reported_in_file_order() {
    let errors = errors(
        r#"transports:
  udp: { transport: udp, bind: 127.0.0.1, port: 5060 }
  dup: { transport: udp, bind: 127.0.0.1, port: 5060 }
endpoints:
  carrier: { match: { type: ip, values: ["10.0.0.0/8", "10.0.0.256"] }, route: incomin, uri: "sip:carrier.example:5060" }
routes:
  incoming:
    - { id: "49", match: prefix, endpoint: carier }
    - { id: "666", hangup: { code: 200 } }
    - { id: "7" }
"#,
    );
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let positions: Vec<&str> = lines
        .iter()
        .map(|l| l.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        positions,
        [
            "t.yaml:3:49",
            "t.yaml:5:56",
            "t.yaml:5:80",
            "t.yaml:8:44",
            "t.yaml:9:36",
            "t.yaml:10:7"
        ],
        "{}",
        lines.join("\n")
    );
}

#[test]
fn errors_render_origin_and_key() {
    let e = ConfigError {
        origin: Origin::Position {
            file: "switchboard.yaml".into(),
            line: 12,
            column: 7,
        },
        key: KeyPath("routes.incoming[1]".into()),
        kind: ConfigErrorKind::UnknownEndpoint("carier".into()),
    };
    assert_eq!(
        e.to_string(),
        "switchboard.yaml:12:7: routes.incoming[1]: unknown endpoint \"carier\""
    );
    let e = ConfigError {
        origin: Origin::File("x.yaml".into()),
        key: KeyPath::default(),
        kind: ConfigErrorKind::Read("gone".into()),
    };
    assert_eq!(e.to_string(), "x.yaml: cannot read config: gone");
}

#[test]
fn passwords_are_not_printed() {
    let c = ok(ISSUE_EXAMPLE);
    let debug = format!("{:?}", c.endpoints["alice"]);
    assert!(!debug.contains("secret"), "{debug}");
}

// ---- environment overrides ----

const TWO_TRANSPORTS: &str = "transports:\n  udp: { transport: udp, port: 5060 }\n  udp_local: { transport: udp, port: 5099 }\nrayo: { domain: r.example }\n";

#[test]
fn env_overrides_per_transport() {
    let mut c = ok(TWO_TRANSPORTS);
    c.apply_env(env(&[
        ("SWITCHBOARD_TRANSPORT_UDP_BIND", "0.0.0.0"),
        ("SWITCHBOARD_TRANSPORT_UDP_PORT", "5062"),
        ("SWITCHBOARD_TRANSPORT_UDP_EXTERNAL_HOST", "pbx.example.com"),
        ("SWITCHBOARD_TRANSPORT_UDP_EXTERNAL_PORT", "15060"),
        ("SWITCHBOARD_TRANSPORT_UDP_LOCAL_BIND", "::1"),
        ("PATH", "/usr/bin"),
        ("SWITCHBOARD_LOG", "debug"),
    ]))
    .expect("valid overrides");
    let udp = &c.transports["udp"];
    assert_eq!(udp.listen_addr(), "0.0.0.0:5062".parse().expect("addr"));
    assert_eq!(udp.advertised_host(), "pbx.example.com");
    assert_eq!(udp.advertised_port(), 15060);
    assert_eq!(
        c.transports["udp_local"].listen_addr(),
        "[::1]:5099".parse().expect("addr")
    );
}

#[test]
fn env_global_sip_overrides_and_precedence() {
    let mut c = ok(TWO_TRANSPORTS);
    c.apply_env(env(&[
        ("SWITCHBOARD_SIP_BIND", "10.1.1.1"),
        ("SWITCHBOARD_SIP_EXTERNAL_HOST", "203.0.113.1"),
        ("SWITCHBOARD_SIP_EXTERNAL_MEDIA_IP", "203.0.113.2"),
        ("SWITCHBOARD_TRANSPORT_UDP_LOCAL_BIND", "127.0.0.1"),
    ]))
    .expect("valid overrides");
    assert_eq!(
        c.transports["udp"].bind,
        "10.1.1.1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(
        c.transports["udp_local"].bind,
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
    for t in c.transports.values() {
        assert_eq!(t.advertised_host(), "203.0.113.1");
        assert_eq!(
            t.external_media_ip,
            Some("203.0.113.2".parse().expect("ip"))
        );
    }
}

#[test]
fn env_overrides_listen_addresses() {
    let mut c = ok(TWO_TRANSPORTS);
    c.apply_env(env(&[
        ("SWITCHBOARD_AGENT_RPC_LISTEN", "0.0.0.0:6100"),
        ("SWITCHBOARD_HTTP_LISTEN", "127.0.0.1:0"),
        ("SWITCHBOARD_RAYO_LISTEN", "[::]:5223"),
    ]))
    .expect("valid overrides");
    assert_eq!(c.agent_rpc.listen, "0.0.0.0:6100".parse().expect("addr"));
    assert_eq!(c.http.listen, "127.0.0.1:0".parse().expect("addr"));
    assert_eq!(
        c.rayo.map(|r| r.listen),
        Some("[::]:5223".parse().expect("addr"))
    );
}

#[test]
fn env_errors_are_collected_and_named() {
    let mut c = ok("transports:\n  udp: { transport: udp }\n");
    let errors = c
        .apply_env(env(&[
            ("SWITCHBOARD_TRANSPORT_UDP_BIND", "localhost"),
            ("SWITCHBOARD_TRANSPORT_UDP_PORT", "70000"),
            ("SWITCHBOARD_TRANSPORT_UPD_BIND", "127.0.0.1"),
            ("SWITCHBOARD_SIP_UDP_BIND", "127.0.0.1"),
            ("SWITCHBOARD_HTTP_LISTEN", "8080"),
            ("SWITCHBOARD_RAYO_LISTEN", "127.0.0.1:5222"),
        ]))
        .expect_err("invalid overrides");
    let text = render(&errors);
    assert_eq!(errors.len(), 6, "{text}");
    assert!(text.contains("environment SWITCHBOARD_TRANSPORT_UDP_BIND: transports.udp: \"localhost\" is not an IP address"), "{text}");
    assert!(text.contains("environment SWITCHBOARD_TRANSPORT_UDP_PORT: transports.udp: \"70000\" is not a port number"), "{text}");
    assert!(
        text.contains("environment SWITCHBOARD_TRANSPORT_UPD_BIND: names no transport field"),
        "{text}"
    );
    assert!(
        text.contains("environment SWITCHBOARD_SIP_UDP_BIND: unknown variable"),
        "{text}"
    );
    assert!(
        text.contains(
            "environment SWITCHBOARD_HTTP_LISTEN: http.listen: \"8080\" is not an address:port"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "environment SWITCHBOARD_RAYO_LISTEN: rayo.listen: the config has no `rayo` section"
        ),
        "{text}"
    );
}

#[test]
fn env_override_creating_a_port_clash_is_an_error() {
    let mut c = ok(TWO_TRANSPORTS);
    let errors = c
        .apply_env(env(&[("SWITCHBOARD_TRANSPORT_UDP_LOCAL_PORT", "5060")]))
        .expect_err("clash");
    assert_eq!(
        render(&errors),
        "environment SWITCHBOARD_*: transports.udp_local.port: udp port 5060 is already used by transport \"udp\""
    );
}

// ---- files ----

#[test]
fn load_reads_a_file_and_resolves_media_dirs_next_to_it() {
    let dir = std::env::temp_dir().join(format!("switchboard-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("sb.yaml");
    std::fs::write(
        &path,
        "media: { playback_dir: prompts, recordings_dir: /var/rec }\n",
    )
    .expect("write config");
    let c = Config::load(&path).expect("valid file");
    assert_eq!(c.media.playback_dir, dir.join("prompts"));
    assert_eq!(c.media.recordings_dir, PathBuf::from("/var/rec"));

    std::fs::write(&path, "bogus: 1\n").expect("write config");
    let errors = Config::load(&path).expect_err("unknown key");
    assert!(
        errors[0]
            .to_string()
            .starts_with(&format!("{}:1:1: unknown field `bogus`", path.display())),
        "{}",
        errors[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_of_missing_file() {
    let errors = Config::load("/nonexistent/dir/sb.yaml").expect_err("missing");
    assert_eq!(errors.len(), 1);
    assert!(matches!(errors[0].kind, ConfigErrorKind::Read(_)));
}

#[test]
fn shipped_config_is_valid_and_routes_local_calls_to_myagent() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../switchboard.yaml");
    let c = match Config::load(&path) {
        Ok(c) => c,
        Err(errors) => panic!("{}", render(&errors)),
    };
    for t in c.transports.values() {
        assert!(t.bind.is_loopback(), "{} binds {}", t.name, t.bind);
        assert_eq!(t.port, 5060);
    }
    let protocols: Vec<TransportProtocol> = c.transports.values().map(|t| t.protocol).collect();
    assert!(
        protocols.contains(&TransportProtocol::Udp) && protocols.contains(&TransportProtocol::Tcp)
    );
    assert!(c.agent_rpc.listen.ip().is_loopback());
    assert!(c.http.listen.ip().is_loopback());
    assert_eq!(c.endpoints["myagent"].destination, Some(Destination::Agent));
    assert_eq!(
        c.endpoints["voicebot"].destination,
        Some(Destination::Sip {
            uri: "sip:127.0.0.1:5080".into()
        })
    );
    assert_eq!(c.endpoints["voicebot"].matcher, EndpointMatch::None);

    let router = crate::router::Router::new(&c);
    let from = router.match_endpoint(IpAddr::V4(Ipv4Addr::LOCALHOST), None);
    assert_eq!(from, Some("local"));
    assert!(matches!(
        router.route_from("local", "1234"),
        crate::router::RouteDecision::Endpoint {
            name: "myagent",
            ..
        }
    ));
    // The quick start's bridged example: 9100 goes to voicebot as 100.
    assert!(matches!(
        router.route_from("local", "9100"),
        crate::router::RouteDecision::Endpoint {
            name: "voicebot",
            dialed: "100",
            ..
        }
    ));
}

#[test]
fn no_controller_code_belongs_to_controller_endpoints() {
    let c = ok("endpoints:\n  bot: { match: { type: agent }, no_controller_code: 503 }\n  app: { match: { type: rayo } }\n");
    assert_eq!(c.endpoints["bot"].no_controller_code, 503);
    assert_eq!(c.endpoints["app"].no_controller_code, 480, "the default");
    assert_eq!(
        one_error("endpoints:\n  app:\n    match: { type: rayo }\n    no_controller_code: 200\n"),
        "t.yaml:4:25: endpoints.app.no_controller_code: code 200 is not a failure status (400-699)"
    );
    assert_eq!(
        one_error("endpoints:\n  b:\n    uri: \"sip:b.example\"\n    no_controller_code: 486\n"),
        "t.yaml:4:25: endpoints.b.no_controller_code: only agent and rayo endpoints have controllers"
    );
}
