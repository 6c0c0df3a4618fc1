//! Drives the server machine against the client machine in memory, in
//! virtual time: the whole c2s negotiation, its failures and its limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xmpp::sasl::Mechanism;
use xmpp::{
    ClientConfig, ClientOutput, ClientStream, Element, Output, ServerConfig, ServerStream,
    StreamError,
};

fn users() -> Arc<HashMap<String, String>> {
    Arc::new(HashMap::from([("usera".to_owned(), "1".to_owned())]))
}

fn server_config() -> ServerConfig {
    let mut config = ServerConfig::new("rayo.test", users());
    config.scram_iterations = 64;
    config
}

/// A server and a client wired back to back.
struct Pair {
    server: ServerStream,
    client: ClientStream,
    now: Instant,
    byte_by_byte: bool,
    server_seen: Vec<Output>,
    client_seen: Vec<ClientOutput>,
    to_client: String,
}

impl Pair {
    fn new(config: ServerConfig, client: ClientConfig) -> Pair {
        let now = Instant::now();
        Pair {
            server: ServerStream::new(Arc::new(config), now),
            client: ClientStream::new(client),
            now,
            byte_by_byte: false,
            server_seen: Vec::new(),
            client_seen: Vec::new(),
            to_client: String::new(),
        }
    }

    fn deliver_to_server(&mut self, bytes: &str) {
        if self.byte_by_byte {
            for b in bytes.as_bytes() {
                self.server.handle_input(self.now, std::slice::from_ref(b));
            }
        } else {
            self.server.handle_input(self.now, bytes.as_bytes());
        }
    }

    fn deliver_to_client(&mut self, bytes: &str) {
        self.to_client.push_str(bytes);
        if self.byte_by_byte {
            for b in bytes.as_bytes() {
                self.client.handle_input(std::slice::from_ref(b));
            }
        } else {
            self.client.handle_input(bytes.as_bytes());
        }
    }

    /// Moves bytes both ways until neither side has anything to say.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.client.poll_output() {
                moved = true;
                match out {
                    ClientOutput::Transmit(bytes) => self.deliver_to_server(&bytes),
                    ClientOutput::StartTls => self.client.tls_established(),
                    other => self.client_seen.push(other),
                }
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                match out {
                    Output::Transmit(bytes) => self.deliver_to_client(&bytes),
                    Output::StartTls => self.server.tls_established(),
                    other => self.server_seen.push(other),
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn bound_jid(&self) -> Option<String> {
        self.client_seen.iter().find_map(|o| match o {
            ClientOutput::Bound { jid } => Some(jid.to_string()),
            _ => None,
        })
    }

    fn client_stanzas(&self) -> Vec<&Element> {
        self.client_seen
            .iter()
            .filter_map(|o| match o {
                ClientOutput::Stanza(s) => Some(s),
                _ => None,
            })
            .collect()
    }
}

fn iq(kind: &str, id: &str, to: Option<&str>, child: Element) -> Element {
    let mut iq = Element::new("iq", "jabber:client")
        .attr("type", kind)
        .attr("id", id)
        .child(child);
    if let Some(to) = to {
        iq.set_attr("to", to);
    }
    iq
}

#[test]
fn plain_without_tls_then_local_iqs_and_routing() {
    let mut config = server_config();
    config.allow_plain_without_tls = true;
    let mut client = ClientConfig::new("rayo.test", "usera", "1");
    client.mechanisms = vec![Mechanism::Plain];
    client.resource = Some("host-1".into());
    let mut pair = Pair::new(config, client);
    pair.pump();
    assert_eq!(pair.bound_jid().as_deref(), Some("usera@rayo.test/host-1"));
    assert!(pair.to_client.contains("<mechanism>PLAIN</mechanism>"));
    assert!(
        pair.to_client.contains("<optional/>"),
        "session is optional"
    );
    assert_eq!(
        pair.server_seen[..2],
        [
            Output::Authenticated {
                username: "usera".into()
            },
            Output::Bound {
                jid: xmpp::FullJid::parse("usera@rayo.test/host-1").expect("jid")
            },
        ]
    );

    for request in [
        iq(
            "get",
            "p1",
            Some("rayo.test"),
            Element::new("ping", "urn:xmpp:ping"),
        ),
        iq("get", "r1", None, Element::new("query", "jabber:iq:roster")),
        iq(
            "get",
            "d1",
            Some("rayo.test"),
            Element::new("query", "http://jabber.org/protocol/disco#info"),
        ),
        iq(
            "set",
            "s1",
            Some("rayo.test"),
            Element::new("session", "urn:ietf:params:xml:ns:xmpp-session"),
        ),
    ] {
        pair.client.send_stanza(&request);
    }
    pair.pump();
    let replies = pair.client_stanzas();
    assert_eq!(replies.len(), 4);
    for (reply, id) in replies.iter().zip(["p1", "r1", "d1", "s1"]) {
        assert_eq!(reply.get_attr("type"), Some("result"));
        assert_eq!(reply.get_attr("id"), Some(id));
        assert_eq!(reply.get_attr("to"), Some("usera@rayo.test/host-1"));
    }
    assert!(replies[1].get_child("query", "jabber:iq:roster").is_some());
    let disco = replies[2]
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("disco query");
    assert!(disco
        .children()
        .any(|f| f.get_attr("var") == Some("urn:xmpp:rayo:1")));

    // Anything else goes up, with `from` stamped (a forged one is replaced).
    let dial = iq(
        "set",
        "c1",
        Some("rayo.test"),
        Element::new("dial", "urn:xmpp:rayo:1"),
    )
    .attr("from", "someone@else/x");
    pair.client.send_stanza(&dial);
    pair.client.send_stanza(
        &Element::new("presence", "jabber:client")
            .attr("to", "rayo.test")
            .child(Element::new("show", "jabber:client").text("chat")),
    );
    pair.pump();
    let routed: Vec<_> = pair
        .server_seen
        .iter()
        .filter_map(|o| match o {
            Output::Stanza(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(routed.len(), 2);
    assert!(routed
        .iter()
        .all(|s| s.get_attr("from") == Some("usera@rayo.test/host-1")));
    assert!(routed[0].get_child("dial", "urn:xmpp:rayo:1").is_some());

    // The adapter answers through the same value.
    let result = xmpp::iq_result(routed[0], Some(Element::new("ref", "urn:xmpp:rayo:1")));
    pair.server.send_stanza(&result);
    pair.pump();
    assert!(pair
        .client_stanzas()
        .last()
        .is_some_and(|s| s.get_attr("id") == Some("c1")));
    pair.client.close();
    pair.pump();
    assert!(pair.server_seen.contains(&Output::Closed { error: None }));
    assert!(pair.to_client.ends_with("</stream:stream>"));
}

#[test]
fn scram_sha256_after_starttls_byte_by_byte() {
    let mut config = server_config();
    config.tls_available = true;
    let mut client = ClientConfig::new("rayo.test", "usera", "1");
    client.starttls = true;
    let mut pair = Pair::new(config, client);
    pair.byte_by_byte = true;
    pair.pump();
    let jid = pair.bound_jid().expect("bound");
    assert!(jid.starts_with("usera@rayo.test/") && jid.len() > "usera@rayo.test/".len());
    assert!(pair.to_client.contains("<required/></starttls>"));
    assert!(pair.to_client.contains("<proceed"));
    assert!(
        pair.to_client.contains("mechanism='SCRAM-SHA-256'")
            || pair.to_client.contains("<challenge")
    );
    // After TLS PLAIN is offered as well.
    assert!(pair.to_client.contains("<mechanism>PLAIN</mechanism>"));
    assert!(pair.client_seen.contains(&ClientOutput::Authenticated));
}

#[test]
fn scram_sha1_and_plain_hidden_without_tls() {
    let mut client = ClientConfig::new("rayo.test", "usera", "1");
    client.mechanisms = vec![Mechanism::ScramSha1];
    let mut pair = Pair::new(server_config(), client);
    pair.pump();
    assert!(pair.bound_jid().is_some());
    assert!(!pair.to_client.contains("<mechanism>PLAIN</mechanism>"));

    let mut client = ClientConfig::new("rayo.test", "usera", "1");
    client.mechanisms = vec![Mechanism::Plain];
    let mut pair = Pair::new(server_config(), client);
    pair.pump();
    assert!(pair.client_seen.contains(&ClientOutput::AuthFailed {
        condition: "invalid-mechanism".into()
    }));
}

#[test]
fn wrong_password_is_reported_for_the_ban() {
    for mechanism in [Mechanism::ScramSha256, Mechanism::Plain] {
        let mut config = server_config();
        config.allow_plain_without_tls = true;
        let mut client = ClientConfig::new("rayo.test", "usera", "wrong");
        client.mechanisms = vec![mechanism];
        let mut pair = Pair::new(config, client);
        pair.pump();
        assert!(pair.client_seen.contains(&ClientOutput::AuthFailed {
            condition: "not-authorized".into()
        }));
        assert!(pair.server_seen.contains(&Output::AuthFailed {
            username: Some("usera".into())
        }));
        assert!(pair.bound_jid().is_none());
    }
}

/// Feeds raw client bytes to a fresh server; returns everything it sent.
fn raw(config: ServerConfig, input: &str) -> (String, Vec<Output>) {
    let mut server = ServerStream::new(Arc::new(config), Instant::now());
    server.handle_input(Instant::now(), input.as_bytes());
    let mut sent = String::new();
    let mut events = Vec::new();
    while let Some(out) = server.poll_output() {
        match out {
            Output::Transmit(bytes) => sent.push_str(&bytes),
            other => events.push(other),
        }
    }
    (sent, events)
}

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";

#[test]
fn sasl_failures_unknown_mechanism_bad_base64_and_retry_limit() {
    let (sent, events) = raw(
        server_config(),
        &format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>"),
    );
    assert!(sent.contains(
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism/></failure>"
    ));
    assert!(events.is_empty());

    let (sent, _) = raw(
        server_config(),
        &format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%%%</auth>"),
    );
    assert!(sent.contains("<incorrect-encoding/>"));

    let mut config = server_config();
    config.allow_plain_without_tls = true;
    let bad =
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXJhAHg=</auth>";
    let (sent, events) = raw(config, &format!("{HEADER}{bad}{bad}{bad}{bad}"));
    assert_eq!(sent.matches("<not-authorized/>").count(), 3);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Output::AuthFailed { .. }))
            .count(),
        3
    );
    assert_eq!(
        events.last(),
        Some(&Output::Closed {
            error: Some(StreamError::PolicyViolation)
        })
    );
    assert!(sent.ends_with("</stream:error></stream:stream>"));
}

#[test]
fn tls_is_required_before_auth_when_available() {
    let mut config = server_config();
    config.tls_available = true;
    let (sent, _) = raw(
        config,
        &format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj11LHI9YQ==</auth>"),
    );
    assert!(sent.contains("<encryption-required/>"));
    let mut client = ClientConfig::new("rayo.test", "usera", "1");
    client.starttls = false;
    let mut config = server_config();
    config.tls_available = true;
    let mut pair = Pair::new(config, client);
    pair.pump();
    assert!(pair.client_seen.contains(&ClientOutput::AuthFailed {
        condition: "encryption-required".into()
    }));
}

#[test]
fn conflict_closes_a_bound_stream() {
    let mut pair = Pair::new(
        server_config(),
        ClientConfig::new("rayo.test", "usera", "1"),
    );
    pair.pump();
    assert!(pair.bound_jid().is_some());
    pair.server.close_with(StreamError::Conflict);
    pair.pump();
    assert!(pair.client_seen.contains(&ClientOutput::Closed {
        error: Some(StreamError::Conflict)
    }));
    assert!(pair.server.is_closed());
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn unauthenticated_stream_times_out_in_virtual_time() {
    let start = Instant::now();
    let mut server = ServerStream::new(Arc::new(server_config()), start);
    server.handle_input(start, HEADER.as_bytes());
    assert_eq!(server.poll_timeout(), Some(start + Duration::from_secs(30)));
    server.handle_timeout(start + Duration::from_secs(29));
    let mut outputs = Vec::new();
    while let Some(out) = server.poll_output() {
        outputs.push(out);
    }
    assert!(!outputs.iter().any(|o| matches!(o, Output::Closed { .. })));
    server.handle_timeout(start + Duration::from_secs(30));
    let mut sent = String::new();
    let mut closed = None;
    while let Some(out) = server.poll_output() {
        match out {
            Output::Transmit(bytes) => sent.push_str(&bytes),
            Output::Closed { error } => closed = error,
            _ => {}
        }
    }
    assert!(sent.contains("<connection-timeout"));
    assert_eq!(closed, Some(StreamError::ConnectionTimeout));
    // A bound stream has no deadline.
    let mut pair = Pair::new(
        server_config(),
        ClientConfig::new("rayo.test", "usera", "1"),
    );
    pair.pump();
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn hostile_input_gets_the_right_stream_error() {
    let cases = [
        (format!("{HEADER}<a></b>"), StreamError::NotWellFormed),
        (format!("{HEADER}<!-- c -->"), StreamError::RestrictedXml),
        (
            format!("{HEADER}<a>{}</a>", "x".repeat(70_000)),
            StreamError::PolicyViolation,
        ),
        (
            format!("{HEADER}{}", "<a>".repeat(40)),
            StreamError::PolicyViolation,
        ),
        (
            "<stream:stream xmlns='jabber:client' xmlns:stream='urn:x'>".to_owned(),
            StreamError::InvalidNamespace,
        ),
        (
            HEADER.replace("rayo.test", "other.test"),
            StreamError::HostUnknown,
        ),
        (
            HEADER.replace(" version='1.0'", ""),
            StreamError::UnsupportedVersion,
        ),
        (
            format!("{HEADER}<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
            StreamError::NotAuthorized,
        ),
    ];
    for (input, expected) in cases {
        let (sent, events) = raw(server_config(), &input);
        assert!(
            sent.starts_with("<?xml version='1.0'?><stream:stream"),
            "header first: {sent}"
        );
        assert!(
            sent.contains(&format!(
                "<{expected} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            )),
            "{sent}"
        );
        assert_eq!(
            events.last(),
            Some(&Output::Closed {
                error: Some(expected)
            }),
            "{input:.80}"
        );
    }
}

#[test]
fn peer_close_gets_a_close_reply() {
    let (sent, events) = raw(server_config(), &format!("{HEADER} \n</stream:stream>"));
    assert!(sent.ends_with("</stream:stream>"));
    assert_eq!(events, [Output::Closed { error: None }]);
}

#[test]
fn iq_before_bind_gets_not_authorized() {
    // Drive a raw stream through PLAIN, then send an IQ that is not a bind.
    let mut config = server_config();
    config.allow_plain_without_tls = true;
    let mut server = ServerStream::new(Arc::new(config), Instant::now());
    let now = Instant::now();
    server.handle_input(now, HEADER.as_bytes());
    server.handle_input(
        now,
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXJhADE=</auth>",
    );
    server.handle_input(now, HEADER.as_bytes());
    server.handle_input(
        now,
        b"<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>",
    );
    let mut sent = String::new();
    while let Some(out) = server.poll_output() {
        if let Output::Transmit(bytes) = out {
            sent.push_str(&bytes);
        }
    }
    assert!(sent.contains("<success"));
    assert!(sent.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"));
    assert!(sent.contains("<iq type='error' id='x'><query xmlns='jabber:iq:roster'/><error type='auth'><not-authorized"));
}
