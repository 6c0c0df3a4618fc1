//! Rayo `<input>` end to end (issue 11): the real binary, the test kit's
//! SIP UA as the caller sending RFC 4733 events or in-band tones, the test
//! kit's XMPP client as the application. Grammars, timers, terminator,
//! NLSML results, component ownership and the end of a call under a
//! running input.

use std::path::Path;
use std::sync::Arc;

use media::tone::ToneGenerator;
use sdp::{Codec, Direction, LocalMedia};
use testkit::rayo_harness::{Caller, RayoBench, RayoConfig, WAIT};
use testkit::sip_ua::CallHandle;
use testkit::xmpp::{error_condition, rayo, RayoOffer, XmppClient};
use testkit::Source;
use xmpp::Element;

const INPUT_NS: &str = "urn:xmpp:rayo:input:1";
const EXT_NS: &str = "urn:xmpp:rayo:ext:1";

fn bench() -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    RayoBench::start(binary, &RayoConfig::new())
}

/// A caller offered to `client`, answered; its RTP peer sends to us.
fn answered(b: &RayoBench, client: &mut XmppClient, caller: &Caller) -> (CallHandle, RayoOffer) {
    let mut call = caller.call(b.sip(), "1000");
    let offered = b.offer(client);
    b.ok(client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let negotiated = call.negotiated().expect("negotiated");
    caller.rtp.set_destination(negotiated.remote_rtp);
    (call, offered)
}

fn srgs_input(grammar: &str, attrs: &[(&str, &str)]) -> Element {
    let mut input = Element::new("input", INPUT_NS).attr("mode", "dtmf");
    for (name, value) in attrs {
        input.set_attr(*name, *value);
    }
    input.child(
        Element::new("grammar", INPUT_NS)
            .attr("content-type", "application/srgs+xml")
            .text(grammar),
    )
}

fn url_input(url: &str, attrs: &[(&str, &str)]) -> Element {
    let mut input = Element::new("input", INPUT_NS).attr("mode", "dtmf");
    for (name, value) in attrs {
        input.set_attr(*name, *value);
    }
    input.child(Element::new("grammar", INPUT_NS).attr("url", url))
}

/// Exactly `n` decimal digits.
fn digits_grammar(repeat: &str) -> String {
    let items: String = (0..10).map(|d| format!("<item>{d}</item>")).collect();
    format!(
        "<grammar xmlns='http://www.w3.org/2001/06/grammar' version='1.0' mode='dtmf' root='r'><rule id='r'><item repeat='{repeat}'><one-of>{items}</one-of></item></rule></grammar>"
    )
}

/// Starts a component on `call`; its JID from the `<ref>`.
fn start(b: &RayoBench, client: &mut XmppClient, call: &str, component: Element) -> String {
    let reply = client
        .iq_set(call, component, WAIT)
        .unwrap_or_else(|| panic!("an answer to the component\n{}", b.server.log()));
    assert_eq!(
        error_condition(&reply),
        None,
        "{}",
        reply.to_xml("jabber:client")
    );
    let uri = reply
        .get_child("ref", "urn:xmpp:rayo:1")
        .and_then(|r| r.get_attr("uri"))
        .expect("ref uri");
    uri.trim_start_matches("xmpp:").to_owned()
}

/// The reason (first child of `<complete>`) of `component`'s completion.
fn complete(b: &RayoBench, client: &mut XmppClient, component: &str) -> Element {
    let presence = client
        .wait_presence(
            |p| p.get_attr("from") == Some(component) && p.get_child("complete", EXT_NS).is_some(),
            WAIT * 3,
        )
        .unwrap_or_else(|| panic!("{component} completes\n{}", b.server.log()));
    assert_eq!(presence.get_attr("type"), Some("unavailable"));
    let complete = presence.get_child("complete", EXT_NS).expect("complete");
    let reason = complete.children().next().expect("a reason").clone();
    reason
}

fn send_digits(caller: &Caller, call: &CallHandle, digits: &str) {
    let pt = call
        .negotiated()
        .expect("negotiated")
        .telephone_event
        .expect("telephone-event");
    caller.rtp.set_source(Source::Digits {
        digits: digits.into(),
        payload_type: pt,
        duration_ms: 100,
        gap_ms: 100,
    });
}

/// The NLSML `<instance>` and `<input>` of a `<match>` reason.
fn nlsml(reason: &Element) -> (String, String) {
    assert_eq!(reason.name(), "match", "{}", reason.to_xml(""));
    assert_eq!(
        reason.get_attr("content-type"),
        Some("application/nlsml+xml")
    );
    let text = reason.text_content();
    let inner = |tag: &str| {
        let open = text.find(&format!("<{tag}")).expect("element");
        let start = text[open..].find('>').expect(">") + open + 1;
        let end = text[start..].find(&format!("</{tag}>")).expect("close") + start;
        text[start..end].to_owned()
    };
    (inner("instance"), inner("input"))
}

#[test]
fn four_digits_match_at_the_fourth_with_an_nlsml_instance() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = answered(&b, &mut client, &caller);
    // Timers far longer than the test's wait: the match cannot be theirs.
    let input = srgs_input(
        &digits_grammar("4"),
        &[
            ("initial-timeout", "60000"),
            ("inter-digit-timeout", "60000"),
        ],
    );
    let component = start(&b, &mut client, &offered.call, input);
    send_digits(&caller, &call, "1234");
    let (instance, input) = nlsml(&complete(&b, &mut client, &component));
    assert_eq!((instance.as_str(), input.as_str()), ("1234", "1234"));
    // Completed: the component is gone.
    let reply = client
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply).as_deref(), Some("item-not-found"));
}

#[test]
fn a_digit_no_grammar_can_take_is_nomatch_at_once_and_silence_is_noinput() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = answered(&b, &mut client, &caller);
    let long = [
        ("initial-timeout", "60000"),
        ("inter-digit-timeout", "60000"),
    ];
    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("4"), &long),
    );
    send_digits(&caller, &call, "1*");
    assert_eq!(complete(&b, &mut client, &component).name(), "nomatch");

    let quick = [("initial-timeout", "300")];
    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("4"), &quick),
    );
    assert_eq!(complete(&b, &mut client, &component).name(), "noinput");
}

#[test]
fn terminator_inter_digit_timeout_tags_and_builtins() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = answered(&b, &mut client, &caller);

    let grammar = digits_grammar("1-8");
    let attrs = [("terminator", "#"), ("inter-digit-timeout", "60000")];
    let component = start(&b, &mut client, &offered.call, srgs_input(&grammar, &attrs));
    send_digits(&caller, &call, "12#");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).1, "12");

    let attrs = [("inter-digit-timeout", "700")];
    let component = start(&b, &mut client, &offered.call, srgs_input(&grammar, &attrs));
    send_digits(&caller, &call, "56");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "56");

    let menu = "<grammar xmlns='http://www.w3.org/2001/06/grammar' mode='dtmf' root='m' tag-format='semantics/1.0-literals'><rule id='m'><one-of><item>1<tag>sales</tag></item><item>2<tag>support</tag></item></one-of></rule></grammar>";
    let component = start(&b, &mut client, &offered.call, srgs_input(menu, &[]));
    send_digits(&caller, &call, "2");
    assert_eq!(
        nlsml(&complete(&b, &mut client, &component)),
        ("support".to_owned(), "2".to_owned())
    );

    let component = start(
        &b,
        &mut client,
        &offered.call,
        url_input("builtin:dtmf/digits?length=3", &[]),
    );
    send_digits(&caller, &call, "907");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "907");

    let component = start(
        &b,
        &mut client,
        &offered.call,
        url_input("builtin:dtmf/boolean?y=1;n=2", &[]),
    );
    send_digits(&caller, &call, "2");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "false");
}

/// A caller whose SDP has no telephone-event: its keys are tones in the
/// audio, found by the server's in-band detector.
#[test]
fn in_band_dtmf_tones_match_as_well() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let local = caller.rtp.local_addr();
    let media = LocalMedia {
        codecs: vec![Codec::Pcmu],
        telephone_event: false,
        ..LocalMedia::new(local.ip(), local.port())
    };
    let mut call = caller.ua.call_with(b.sip(), "1000", media);
    let offered = b.offer(&mut client);
    b.ok(&mut client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let negotiated = call.negotiated().expect("negotiated");
    assert_eq!(negotiated.telephone_event, None);
    assert_eq!(negotiated.remote_direction, Direction::SendRecv);
    caller.rtp.set_destination(negotiated.remote_rtp);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("3"), &[]),
    );
    let mut samples = Vec::new();
    for key in ['4', '0', '9'] {
        let mut tone = ToneGenerator::dtmf(key, -10.0).expect("a key");
        let mut on = vec![0i16; 800];
        tone.fill(&mut on);
        samples.extend(on);
        samples.extend(std::iter::repeat_n(0i16, 800));
    }
    caller.rtp.set_source(Source::Samples {
        samples: Arc::from(samples),
        looped: false,
    });
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "409");
}

#[test]
fn only_its_owner_stops_an_input_and_a_hangup_completes_it_before_the_end() {
    let b = bench();
    let mut client = b.available("usera");
    let mut other = b.available("userb");
    let caller = Caller::new();
    let (mut call, offered) = answered(&b, &mut client, &caller);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("4"), &[]),
    );
    let reply = other
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply).as_deref(), Some("conflict"));
    let reply = client
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply), None);
    let stop = complete(&b, &mut client, &component);
    assert_eq!(
        (stop.name(), stop.ns()),
        ("stop", "urn:xmpp:rayo:ext:complete:1")
    );

    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("4"), &[]),
    );
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let hangup = complete(&b, &mut client, &component);
    assert_eq!(hangup.name(), "hangup");
    // The <end> comes after the completion (wait_presence keeps order).
    assert_eq!(b.end_reason(&mut client, &offered.call), "hungup");
}

/// An input before the call is answered brings up early media (183 with
/// SDP): the keys reach it, and the call stays unanswered.
#[test]
fn an_input_before_answer_runs_on_early_media() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let mut call = caller.call(b.sip(), "1000");
    let offered = b.offer(&mut client);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        srgs_input(&digits_grammar("2"), &[]),
    );
    let mut statuses = Vec::new();
    while call.negotiated().is_err() {
        match call.wait_response(WAIT) {
            Some(status) => statuses.push(status),
            None => panic!("early media: {statuses:?}\n{}", b.server.log()),
        }
    }
    assert!(statuses.contains(&183), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s < 200), "{statuses:?}");
    caller
        .rtp
        .set_destination(call.negotiated().expect("negotiated").remote_rtp);
    send_digits(&caller, &call, "42");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "42");
    assert_eq!(call.final_status(), None);
    b.ok(&mut client, &offered.call, rayo("hangup"));
    assert_eq!(b.end_reason(&mut client, &offered.call), "hangup-command");
}

/// A grammar by URL is fetched (here `file://` under the playback
/// directory) before the input starts; one that cannot be is the start's
/// `bad-request`.
#[test]
fn a_grammar_by_url_is_fetched_first() {
    let b = bench();
    let sounds = b.server.dir().join("sounds");
    std::fs::create_dir_all(&sounds).expect("playback dir");
    std::fs::write(sounds.join("pin.grxml"), digits_grammar("3")).expect("grammar");
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = answered(&b, &mut client, &caller);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        url_input("file://pin.grxml", &[]),
    );
    send_digits(&caller, &call, "314");
    assert_eq!(nlsml(&complete(&b, &mut client, &component)).0, "314");
    let reply = client
        .iq_set(&offered.call, url_input("file://missing.grxml", &[]), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply).as_deref(), Some("bad-request"));
}
