#![allow(dead_code)] // each test binary uses part of it
//! What a Rayo client hears from a mixer (`<name>@<domain>`): its events
//! in order, summed up as `(event, call-uri)`, its caps, its speaker
//! events; for the mixer tests.

use std::time::{Duration, Instant};

use testkit::rayo_harness::{RayoBench, WAIT};
use testkit::xmpp::{XmppClient, RAYO_NS};
use xmpp::Element;

/// XEP-0115 caps.
pub const CAPS_NS: &str = "http://jabber.org/protocol/caps";
/// How long a client listens for news that must not come.
pub const QUIET: Duration = Duration::from_millis(800);

/// The presence's first Rayo child (the event), if any.
pub fn rayo_event(presence: &Element) -> Option<&Element> {
    presence.children().find(|c| c.ns() == RAYO_NS)
}

/// `(event name, call-uri)` of a mixer presence; `unavailable` for its
/// unavailable presence.
pub fn summary(presence: &Element) -> (String, String) {
    if presence.get_attr("type") == Some("unavailable") {
        return ("unavailable".into(), String::new());
    }
    let event = rayo_event(presence);
    (
        event.map(|e| e.name().to_owned()).unwrap_or_default(),
        event
            .and_then(|e| e.get_attr("call-uri"))
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The next presence from `from`, whatever it holds.
pub fn next_from(b: &RayoBench, client: &mut XmppClient, from: &str) -> Element {
    client
        .wait_presence(|p| p.get_attr("from") == Some(from), WAIT)
        .unwrap_or_else(|| panic!("a presence from {from}\n{}", b.server.log()))
}

/// Every presence from `from` until none came for [`QUIET`] (at most 10 s).
pub fn drain(client: &mut XmppClient, from: &str) -> Vec<Element> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        match client.wait_presence(|p| p.get_attr("from") == Some(from), QUIET) {
            Some(p) => got.push(p),
            None => break,
        }
    }
    got
}

/// Asserts the presence carries the mixer's caps (node and ver).
pub fn assert_mixer_caps(presence: &Element) {
    let caps = presence
        .get_child("c", CAPS_NS)
        .unwrap_or_else(|| panic!("caps in the mixer's first presence: {presence}"));
    let expected = rayo::caps::mixer_caps();
    assert_eq!(
        caps.get_attr("node"),
        Some("urn:xmpp:rayo:mixer:1"),
        "{presence}"
    );
    assert_eq!(caps.get_attr("hash"), Some("sha-1"), "{presence}");
    assert_eq!(caps.get_attr("ver"), expected.get_attr("ver"), "{presence}");
}

/// Presences from `mixer` up to and including `joined call-uri=uri`.
pub fn news_until_joined(
    b: &RayoBench,
    client: &mut XmppClient,
    mixer: &str,
    uri: &str,
) -> Vec<Element> {
    let mut news = Vec::new();
    while news
        .last()
        .is_none_or(|p| summary(p) != ("joined".to_owned(), uri.to_owned()))
    {
        news.push(next_from(b, client, mixer));
    }
    news
}

/// The first of `news` carries the mixer's caps, no other does.
pub fn assert_caps_once(news: &[Element]) {
    assert_mixer_caps(&news[0]);
    assert!(
        news[1..]
            .iter()
            .all(|p| p.get_child("c", CAPS_NS).is_none()),
        "caps once: {news:?}"
    );
}

/// The next started- or stopped-speaking from the mixer: `(name, call-uri)`,
/// after checking its `call-id` names the same call.
pub fn next_speaking(b: &RayoBench, client: &mut XmppClient, mixer: &str) -> (String, String) {
    let presence = client
        .wait_presence(
            |p| {
                p.get_attr("from") == Some(mixer)
                    && rayo_event(p).is_some_and(|e| e.name().ends_with("-speaking"))
            },
            WAIT,
        )
        .unwrap_or_else(|| panic!("a speaking event from {mixer}\n{}", b.server.log()));
    let event = rayo_event(&presence).expect("the event");
    let uri = event.get_attr("call-uri").unwrap_or_default();
    let id = event.get_attr("call-id").unwrap_or_default();
    assert_eq!(
        uri.strip_prefix("xmpp:").and_then(|j| j.split('@').next()),
        Some(id),
        "call-uri and call-id name one call: {presence}"
    );
    (event.name().to_owned(), uri.to_owned())
}
