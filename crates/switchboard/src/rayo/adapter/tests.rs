//! The adapter driven with scripted invitations and calls: offers, control,
//! answers to every IQ, events, the end, disconnect grace.

use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use call_control::{Command, EndReason, Failure, Output as Produced};
use tokio::sync::mpsc;

use super::*;

mod components;
mod dial;
mod gone;
mod mixer_components;
mod mixers;

const DOMAIN: &str = "rayo.test";

/// What happened to the scripted invitations: "take a", "drop b"…
type Log = Arc<Mutex<Vec<String>>>;

#[derive(Debug)]
struct Ticket {
    name: String,
    call: CallHandle,
    info: CallInfo,
    withdrawn: bool,
    log: Log,
    answered: bool,
}

impl Invited for Ticket {
    fn call(&self) -> &CallHandle {
        &self.call
    }
    fn info(&self) -> &CallInfo {
        &self.info
    }
    fn take(mut self) -> Result<(), Withdrawn> {
        self.answered = true;
        if self.withdrawn {
            return Err(Withdrawn);
        }
        self.log
            .lock()
            .expect("log")
            .push(format!("take {}", self.name));
        Ok(())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.answered {
            self.log
                .lock()
                .expect("log")
                .push(format!("drop {}", self.name));
        }
    }
}

struct Harness {
    adapter: RayoAdapter<Ticket>,
    log: Log,
    now: Instant,
}

struct TestCall {
    handle: CallHandle,
    requests: mpsc::Receiver<Request>,
}

fn jid(name: &str) -> FullJid {
    FullJid::parse(&format!("{name}@{DOMAIN}/app")).expect("test JID")
}

fn info() -> CallInfo {
    CallInfo {
        call_id: "abc@10.0.0.5".into(),
        from: "alice".into(),
        to: "1000".into(),
        headers: vec![
            ("Via".into(), "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1".into()),
            ("From".into(), "<sip:alice@10.0.0.5>;tag=1".into()),
            ("To".into(), "<sip:1000@rayo.test>".into()),
            ("Call-ID".into(), "abc@10.0.0.5".into()),
            ("X-Customer".into(), "8877".into()),
            ("Max-Forwards".into(), "70".into()),
        ],
    }
}

impl Harness {
    fn new(dialect: Dialect) -> Harness {
        let settings = AdapterSettings {
            domain: DOMAIN.into(),
            dialect,
            legacy_ids: true,
            recording_uri: RecordingUri::default(),
        };
        Harness {
            adapter: RayoAdapter::new(settings, 7),
            log: Log::default(),
            now: Instant::now(),
        }
    }

    fn call(key: CallKey, capacity: usize) -> TestCall {
        let (commands, requests) = mpsc::channel(capacity);
        TestCall {
            handle: CallHandle { key, commands },
            requests,
        }
    }

    fn invite(&mut self, call: &TestCall, client: &str, withdrawn: bool) {
        let ticket = Ticket {
            name: client.into(),
            call: call.handle.clone(),
            info: info(),
            withdrawn,
            log: self.log.clone(),
            answered: false,
        };
        self.adapter.invited(UNIX_EPOCH, jid(client), ticket);
    }

    /// Every stanza sent since the last call, as (client node, XML).
    fn sent(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while let Some(output) = self.adapter.poll_output() {
            if let Output::Send { to, stanza } = output {
                out.push((to.node().unwrap_or("").to_owned(), stanza.to_xml(CLIENT_NS)));
            }
        }
        out
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    fn call_jid(&self, key: CallKey) -> String {
        format!("{}@{DOMAIN}", self.adapter.call_id(key).expect("offered"))
    }

    fn iq(&mut self, client: &str, to: &str, id: &str, payload: Element) {
        let iq = Element::new("iq", CLIENT_NS)
            .attr("type", "set")
            .attr("id", id)
            .attr("to", to)
            .attr("from", jid(client).to_string())
            .child(payload);
        self.adapter.stanza(jid(client), iq);
    }

    fn command(&mut self, client: &str, key: CallKey, id: &str, name: &str) {
        let to = self.call_jid(key);
        self.iq(client, &to, id, Element::new(name, rayo::ns::RAYO));
    }
}

fn requests(call: &mut TestCall) -> Vec<Request> {
    let mut out = Vec::new();
    while let Ok(r) = call.requests.try_recv() {
        out.push(r);
    }
    out
}

fn done(id: u64) -> Event {
    Event::Done {
        id,
        result: Ok(Produced::None),
    }
}

fn condition(xml: &str) -> Option<&'static str> {
    [
        "item-not-found",
        "conflict",
        "bad-request",
        "feature-not-implemented",
        "resource-constraint",
        "not-allowed",
        "unexpected-request",
        "service-unavailable",
        "internal-server-error",
    ]
    .into_iter()
    .find(|c| xml.contains(&format!("<{c} ")))
}

#[test]
fn the_offer_comes_from_the_call_jid_with_uris_headers_caps_and_delay() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    let first = h.adapter.poll_output();
    assert!(matches!(first, Some(Output::Watch(ref c)) if c.key == 1));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (to, xml) = &sent[0];
    assert_eq!(to, "usera");
    let call_jid = h.call_jid(1);
    let id = h.adapter.call_id(1).expect("id");
    assert_eq!(id.len(), 32);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(xml.starts_with(&format!(
        "<presence from='{call_jid}' to='usera@rayo.test/app'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:xmpp:rayo:call:1'"
    )), "{xml}");
    assert!(xml.contains(
        "<offer xmlns='urn:xmpp:rayo:1' to='sip:1000@rayo.test' from='sip:alice@10.0.0.5'>"
    ));
    for header in [
        "<header name='Via' value='SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1'/>",
        "<header name='Call-ID' value='abc@10.0.0.5'/>",
        "<header name='X-Customer' value='8877'/>",
    ] {
        assert!(xml.contains(header), "{header} in {xml}");
    }
    assert!(!xml.contains("Max-Forwards"));
    assert!(xml
        .ends_with("<delay xmlns='urn:xmpp:delay' stamp='1970-01-01T00:00:00.000Z'/></presence>"));
}

#[test]
fn the_first_command_takes_the_call_and_others_get_conflict() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.invite(&call, "userb", false);
    h.sent();
    h.command("userb", 1, "c1", "accept");
    assert_eq!(h.log(), ["take userb", "drop usera"]);
    let taken = requests(&mut call);
    assert_eq!(taken.len(), 2);
    // Taking the call subscribes its digits (the adapter's own request).
    assert_eq!(taken[0].command, Command::DtmfEvents { enabled: true });
    assert_eq!(
        taken[1].command,
        Command::Accept {
            early_media: false,
            headers: vec![]
        }
    );
    assert!(h.sent().is_empty(), "answered when the call says done");
    h.command("usera", 1, "c2", "answer");
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "usera");
    assert_eq!(condition(&sent[0].1), Some("conflict"));
    assert!(sent[0].1.contains("type='cancel'"));
    assert!(
        sent[0].1.contains("<answer xmlns='urn:xmpp:rayo:1'/>"),
        "echoed: {}",
        sent[0].1
    );
    h.adapter.call_event(1, done(taken[0].id));
    assert!(h.sent().is_empty(), "the subscription is not answered");
    h.adapter.call_event(1, done(taken[1].id));
    let sent = h.sent();
    let call_jid = h.call_jid(1);
    assert_eq!(
        sent,
        [(
            "userb".to_owned(),
            format!("<iq type='result' id='c1' to='userb@rayo.test/app' from='{call_jid}'/>")
        )]
    );
}

#[test]
fn failures_become_stanza_errors() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    h.command("usera", 1, "r1", "reject");
    let reject = requests(&mut call).pop().expect("reject");
    assert_eq!(
        reject.command,
        Command::Reject {
            code: 603,
            reason: None,
            headers: vec![]
        }
    );
    h.adapter.call_event(
        1,
        Event::Done {
            id: reject.id,
            result: Err(Failure::InvalidState("call already answered")),
        },
    );
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("not-allowed"));
    // Malformed: bad-request, and the call is not taken by it.
    let to = h.call_jid(1);
    h.iq(
        "usera",
        &to,
        "r2",
        Element::new("reject", rayo::ns::RAYO).child(Element::new("later", rayo::ns::RAYO)),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("bad-request"));
    h.iq(
        "usera",
        &to,
        "j1",
        Element::new("join", rayo::ns::RAYO)
            .attr("call-uri", "xmpp:x@rayo.test")
            .attr("media", "direct"),
    );
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("feature-not-implemented"));
    assert!(sent[0].1.contains("type='modify'"));
}

#[test]
fn unknown_calls_and_the_domain() {
    let mut h = Harness::new(Dialect::Xep);
    h.iq(
        "usera",
        "nosuch@rayo.test",
        "1",
        Element::new("answer", rayo::ns::RAYO),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    h.iq("usera", DOMAIN, "2", Element::new("hangup", rayo::ns::RAYO));
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    h.iq(
        "usera",
        DOMAIN,
        "3",
        Element::new("dial", rayo::ns::RAYO).attr("to", "user/userb"),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("bad-request"));
    h.iq(
        "usera",
        "x@other.test",
        "4",
        Element::new("answer", rayo::ns::RAYO),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("service-unavailable"));
    // Presence and IQ results are not answered.
    h.adapter
        .stanza(jid("usera"), Element::new("presence", CLIENT_NS));
    h.adapter.stanza(
        jid("usera"),
        Element::new("iq", CLIENT_NS)
            .attr("type", "result")
            .attr("id", "x"),
    );
    assert!(h.sent().is_empty());
}

#[test]
fn the_end_answers_open_iqs_then_reaches_every_offered_client_and_nothing_follows() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.invite(&call, "userb", false);
    h.sent();
    h.command("usera", 1, "a1", "answer");
    h.command("usera", 1, "h1", "hold");
    let call_jid = h.call_jid(1);
    // Taken: digits are subscribed first (the adapter's own request).
    let taken = requests(&mut call);
    assert_eq!(taken[0].command, Command::DtmfEvents { enabled: true });
    h.adapter.call_event(1, done(taken[0].id));
    let answer = taken[1].id;
    h.adapter.call_event(1, done(answer));
    h.adapter.call_event(1, Event::Answered { headers: vec![] });
    assert!(requests(&mut call).is_empty(), "subscribed once");
    h.adapter.call_event(1, Event::Dtmf { digit: '5' });
    h.adapter.call_event(
        1,
        Event::Ended {
            reason: EndReason::CallerHangup,
            code: None,
            headers: vec![],
        },
    );
    h.adapter.call_event(1, Event::Dtmf { digit: '6' });
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 5, "{xml:#?}");
    assert!(xml[0].starts_with("<iq type='result' id='a1'"));
    assert_eq!(
        xml[1],
        format!("<presence from='{call_jid}' to='usera@rayo.test/app'><dtmf xmlns='urn:xmpp:rayo:1' signal='5'/></presence>")
    );
    assert!(xml[2].contains("id='h1'") && condition(xml[2]) == Some("item-not-found"));
    let end = |to: &str| {
        format!("<presence from='{call_jid}' to='{to}@rayo.test/app' type='unavailable'><end xmlns='urn:xmpp:rayo:1'><hungup/></end></presence>")
    };
    assert_eq!(xml[3], end("usera"));
    assert_eq!(
        (sent[4].0.as_str(), xml[4]),
        ("userb", end("userb").as_str())
    );
    assert_eq!(h.adapter.calls(), 0);
    // A command after the end: the call is gone.
    h.iq(
        "usera",
        &call_jid,
        "x",
        Element::new("hangup", rayo::ns::RAYO),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn end_reasons_in_both_dialects() {
    for (dialect, reason, expected) in [
        (
            Dialect::Xep,
            EndReason::Hangup,
            "<hangup-command platform-code='200'/>",
        ),
        (
            Dialect::Wiki,
            EndReason::Hangup,
            "<hangup platform-code='200'/>",
        ),
        (
            Dialect::Wiki,
            EndReason::CallerHangup,
            "<hangup platform-code='200'/>",
        ),
        (Dialect::Xep, EndReason::Busy, "<busy platform-code='200'/>"),
    ] {
        let mut h = Harness::new(dialect);
        let call = Harness::call(1, 8);
        h.invite(&call, "usera", false);
        h.command("usera", 1, "a", "accept");
        h.sent();
        h.adapter.call_event(
            1,
            Event::Ended {
                reason,
                code: Some(200),
                headers: vec![],
            },
        );
        let sent = h.sent();
        let xml = &sent.last().expect("end").1;
        assert!(xml.contains(expected), "{xml}");
        assert_eq!(
            xml.contains("type='unavailable'"),
            dialect == Dialect::Xep,
            "{xml}"
        );
    }
}

#[test]
fn a_call_nobody_took_ends_for_its_offered_clients() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    // The watch reports the call's queue closed.
    drop(call.requests);
    h.adapter.call_gone(h.now, 1);
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0]
        .1
        .contains("<end xmlns='urn:xmpp:rayo:1'><hungup/></end>"));
}

#[test]
fn unavailable_clients_lose_their_invitations_and_a_withdrawn_offer_is_conflict() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.adapter.availability(&jid("usera"), false);
    assert_eq!(h.log(), ["drop usera"]);
    h.invite(&call, "userb", true);
    h.sent();
    h.command("userb", 1, "1", "answer");
    assert_eq!(condition(&h.sent()[0].1), Some("conflict"));
    h.command("usera", 1, "2", "answer");
    assert_eq!(condition(&h.sent()[0].1), Some("conflict"));
}

#[test]
fn a_full_call_queue_is_resource_constraint() {
    let mut h = Harness::new(Dialect::Xep);
    let call = Harness::call(1, 1);
    h.invite(&call, "usera", false);
    h.command("usera", 1, "1", "accept"); // fills it
    h.sent();
    h.command("usera", 1, "2", "answer");
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("resource-constraint"));
    assert!(sent[0].1.contains("type='wait'"));
}
