//! The properties the `parse_xmpp_stream` fuzz target checks, here so the
//! stable test over the seed corpus runs exactly the same code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Limits, StreamEvent, StreamReader};
use crate::element::{Element, Node};
use crate::server::{Output, ServerConfig, ServerStream};

/// Reads `data` as a client's stream and checks: no panic; byte-by-byte
/// and odd-sized chunking yield the same stanzas and the same verdict;
/// every stanza written back reads back the same; the server machine,
/// fed the same bytes, ends any failure with exactly one `Closed`.
/// Returns whether the whole input was read without error.
pub fn check_untrusted(data: &[u8]) -> bool {
    let whole = read(data, data.len().max(1));
    assert_eq!(read(data, 1), whole, "byte-by-byte differs");
    assert_eq!(read(data, 7), whole, "7-byte chunks differ");
    let (events, verdict) = &whole;
    for event in events {
        if let StreamEvent::Stanza(stanza) = event {
            round_trip(stanza);
        }
    }
    run_server(data);
    verdict.is_none()
}

type Reading = (Vec<StreamEvent>, Option<crate::error::StreamError>);

fn limits() -> Limits {
    Limits {
        max_buffered_bytes: 1 << 20,
        ..Limits::default()
    }
}

fn read(data: &[u8], chunk: usize) -> Reading {
    let mut reader = StreamReader::new(limits(), "jabber:client");
    let mut events = Vec::new();
    for piece in data.chunks(chunk) {
        if let Err(error) = reader.feed(piece) {
            return (events, Some(error.condition()));
        }
        loop {
            match reader.next_event() {
                Ok(Some(StreamEvent::Whitespace)) => {}
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => return (events, Some(error.condition())),
            }
        }
    }
    (events, None)
}

/// Adjacent text nodes merged and empty ones dropped: what survives writing.
fn normalized(element: &Element) -> Element {
    let mut out = Element::new(element.name(), element.ns());
    for (name, value) in element.attrs() {
        out.set_attr(name, value);
    }
    let mut text = String::new();
    for node in element.nodes() {
        match node {
            Node::Text(t) => text.push_str(t),
            Node::Element(child) => {
                if !text.is_empty() {
                    out.push_text(std::mem::take(&mut text));
                }
                out.push(normalized(child));
            }
        }
    }
    if !text.is_empty() {
        out.push_text(text);
    }
    out
}

fn has_prefixed_attr(element: &Element) -> bool {
    element
        .attrs()
        .any(|(name, _)| name.contains(':') && !name.starts_with("xml:"))
        || element.children().any(has_prefixed_attr)
}

fn round_trip(stanza: &Element) {
    // Prefixed attributes keep their prefix but not its declaration.
    if has_prefixed_attr(stanza) {
        return;
    }
    let mut stream = String::from(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    crate::error::write_stream_child(&mut stream, stanza);
    let (events, verdict) = read(stream.as_bytes(), stream.len());
    assert_eq!(verdict, None, "written stanza reads back: {stream}");
    match events.get(1) {
        Some(StreamEvent::Stanza(again)) => assert_eq!(normalized(again), normalized(stanza)),
        other => panic!("stanza expected, got {other:?}"),
    }
}

fn run_server(data: &[u8]) {
    let users = |name: &str| (name == "usera").then(|| "1".to_owned());
    let mut config = ServerConfig::new("rayo.test", Arc::new(users));
    config.allow_plain_without_tls = true;
    config.scram_iterations = 2;
    let now = Instant::now();
    let mut server = ServerStream::new(Arc::new(config), now);
    server.handle_input(now, data);
    server.handle_timeout(now + Duration::from_secs(60));
    server.close();
    let mut closed = 0;
    while let Some(out) = server.poll_output() {
        match out {
            Output::Closed { .. } => closed += 1,
            Output::StartTls => server.tls_established(),
            _ => {}
        }
    }
    assert_eq!(closed, 1, "a stream closes exactly once");
}
