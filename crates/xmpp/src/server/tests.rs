use std::collections::HashMap;

use super::*;

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";
/// `\0usera\01` in base64.
const PLAIN_AUTH: &str =
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXJhADE=</auth>";

fn stream() -> ServerStream {
    let users = HashMap::from([("usera".to_owned(), "1".to_owned())]);
    let mut config = ServerConfig::new("Rayo.Test", Arc::new(users));
    config.allow_plain_without_tls = true;
    ServerStream::new(Arc::new(config), Instant::now())
}

fn drain(server: &mut ServerStream) -> (String, Vec<Output>) {
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

fn authenticated() -> ServerStream {
    let mut server = stream();
    let now = Instant::now();
    server.handle_input(now, HEADER.as_bytes());
    server.handle_input(now, PLAIN_AUTH.as_bytes());
    server.handle_input(now, HEADER.as_bytes());
    drain(&mut server);
    server
}

#[test]
fn header_reply_and_first_features() {
    let mut server = stream();
    server.handle_input(
        Instant::now(),
        HEADER
            .replace("version", "from='usera@rayo.test' version")
            .as_bytes(),
    );
    let (sent, events) = drain(&mut server);
    assert!(events.is_empty());
    assert!(sent.starts_with(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' id='"
    ));
    assert!(sent.contains("from='rayo.test' version='1.0' xml:lang='en' to='usera@rayo.test'>"));
    assert!(sent.ends_with(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>"
    ));
}

#[test]
fn bind_generates_a_resource_and_refuses_a_bad_one() {
    let mut server = authenticated();
    let now = Instant::now();
    let long = format!(
        "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>{}</resource></bind></iq>",
        "r".repeat(1024)
    );
    server.handle_input(now, long.as_bytes());
    let (sent, events) = drain(&mut server);
    assert!(sent.contains("<bad-request"), "{sent}");
    assert!(events.is_empty());
    server.handle_input(
        now,
        b"<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    );
    let (sent, events) = drain(&mut server);
    let Some(Output::Bound { jid }) = events.first() else {
        panic!("bound: {events:?}");
    };
    assert_eq!(jid.to_bare().to_string(), "usera@rayo.test");
    assert!(jid.resource().len() >= 8);
    assert!(sent.contains(&format!("<jid>{jid}</jid>")));
    assert_eq!(server.jid(), Some(jid));
    // A second bind is refused, and so is a stanza outside jabber:client.
    server.handle_input(
        now,
        b"<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    );
    assert!(drain(&mut server).0.contains("<not-allowed"));
    server.handle_input(now, b"<foo xmlns='urn:foo'/>");
    let (_, events) = drain(&mut server);
    assert_eq!(
        events,
        [Output::Closed {
            error: Some(StreamError::UnsupportedStanzaType)
        }]
    );
}

#[test]
fn presence_before_bind_closes_with_not_authorized() {
    let mut server = authenticated();
    server.handle_input(Instant::now(), b"<presence/>");
    let (sent, events) = drain(&mut server);
    assert!(sent.contains("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    assert_eq!(
        events,
        [Output::Closed {
            error: Some(StreamError::NotAuthorized)
        }]
    );
    // Nothing is accepted after the close.
    server.handle_input(Instant::now(), HEADER.as_bytes());
    assert_eq!(drain(&mut server), (String::new(), Vec::new()));
}

#[test]
fn starttls_without_tls_fails_and_closes() {
    let mut server = stream();
    server.handle_input(
        Instant::now(),
        format!("{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").as_bytes(),
    );
    let (sent, events) = drain(&mut server);
    assert!(sent.ends_with("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"));
    assert_eq!(events, [Output::Closed { error: None }]);
}

#[test]
fn auth_without_initial_response_gets_an_empty_challenge() {
    let mut server = stream();
    let now = Instant::now();
    server.handle_input(
        now,
        format!("{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>")
            .as_bytes(),
    );
    assert!(drain(&mut server)
        .0
        .ends_with("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    server.handle_input(
        now,
        b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AHVzZXJhADE=</response>",
    );
    let (sent, events) = drain(&mut server);
    assert_eq!(sent, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert_eq!(
        events,
        [Output::Authenticated {
            username: "usera".into()
        }]
    );
}
