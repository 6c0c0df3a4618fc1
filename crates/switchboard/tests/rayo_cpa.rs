//! Rayo call progress analysis (XEP-0341, `<input mode='cpa'>`) end to
//! end: the real binary, the test kit's UA and RTP peer playing an
//! espeak-ng voicemail greeting, beeps and fax tones, the test kit's XMPP
//! client as the application.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use media::g711;
use media::tone::ToneGenerator;
use testkit::rayo_harness::{Caller, RayoBench, RayoConfig, WAIT};
use testkit::sip_ua::CallHandle;
use testkit::xmpp::{error_condition, rayo, RayoOffer, XmppClient};
use testkit::Source;
use xmpp::Element;

const INPUT_NS: &str = "urn:xmpp:rayo:input:1";
const EXT_NS: &str = "urn:xmpp:rayo:ext:1";
const CPA_NS: &str = "urn:xmpp:rayo:cpa:1";

fn bench() -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    RayoBench::start(binary, &RayoConfig::new())
}

fn answered(b: &RayoBench, client: &mut XmppClient, caller: &Caller) -> (CallHandle, RayoOffer) {
    let mut call = caller.call(b.sip(), "1000");
    let offered = b.offer(client);
    b.ok(client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    caller
        .rtp
        .set_destination(call.negotiated().expect("negotiated").remote_rtp);
    (call, offered)
}

/// `<input mode='cpa'>` with one grammar per `(signal, terminate)`.
fn cpa(signals: &[(&str, bool)]) -> Element {
    let mut input = Element::new("input", INPUT_NS).attr("mode", "cpa");
    for (signal, terminate) in signals {
        let mut url = format!("urn:xmpp:rayo:cpa:{signal}:1");
        if *terminate {
            url.push_str("?terminate=true");
        }
        input.push(Element::new("grammar", INPUT_NS).attr("url", url));
    }
    input
}

fn start(b: &RayoBench, client: &mut XmppClient, call: &str, component: Element) -> String {
    let reply = client
        .iq_set(call, component, WAIT)
        .unwrap_or_else(|| panic!("an answer\n{}", b.server.log()));
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

/// The next presence from `component`: an event's `<signal>`, or the
/// completion's reason (`complete` true).
fn next(client: &mut XmppClient, component: &str, timeout: Duration) -> Option<(bool, Element)> {
    let presence = client.wait_presence(|p| p.get_attr("from") == Some(component), timeout)?;
    if let Some(complete) = presence.get_child("complete", EXT_NS) {
        return Some((true, complete.children().next()?.clone()));
    }
    Some((false, presence.get_child("signal", CPA_NS)?.clone()))
}

/// The espeak-ng voicemail greeting the media crate's talk-off tests use,
/// as linear samples.
fn greeting() -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../media/tests/fixtures/voicemail-greeting.ulaw");
    let codes = std::fs::read(path).expect("the greeting fixture");
    let mut samples = vec![0i16; codes.len()];
    g711::decode_ulaw(&codes, &mut samples);
    samples
}

fn tone(frequency: f64, ms: usize) -> Vec<i16> {
    let mut generator = ToneGenerator::sine(frequency, -12.0);
    let mut out = vec![0i16; ms * 8];
    generator.fill(&mut out);
    out
}

fn play(caller: &Caller, samples: Vec<i16>) {
    caller.rtp.set_source(Source::Samples {
        samples: Arc::from(samples),
        looped: false,
    });
}

#[test]
fn a_greeting_is_a_machine_and_the_beep_after_it_ends_the_analysis() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = answered(&b, &mut client, &caller);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        cpa(&[("speech", false), ("beep", true)]),
    );
    let mut audio = greeting();
    audio.extend(vec![0i16; 2400]);
    audio.extend(tone(1000.0, 500));
    play(&caller, audio);
    let (done, speech) = next(&mut client, &component, WAIT * 2)
        .unwrap_or_else(|| panic!("a speech signal\n{}", b.server.log()));
    assert!(!done, "{}", speech.to_xml(""));
    assert_eq!(speech.get_attr("type"), Some("urn:xmpp:rayo:cpa:speech:1"));
    assert_eq!(speech.get_attr("value"), Some("machine"));
    let (done, beep) = next(&mut client, &component, WAIT * 2)
        .unwrap_or_else(|| panic!("the beep\n{}", b.server.log()));
    assert!(done, "{}", beep.to_xml(""));
    assert_eq!(beep.get_attr("type"), Some("urn:xmpp:rayo:cpa:beep:1"));
    let hz: f64 = beep
        .get_attr("value")
        .expect("frequency")
        .parse()
        .expect("Hz");
    assert!((hz - 1000.0).abs() < 30.0, "{hz}");
}

#[test]
fn a_2100_hz_answer_tone_is_fax_ced() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = answered(&b, &mut client, &caller);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        cpa(&[("beep", true), ("fax-ced", true)]),
    );
    play(&caller, tone(2100.0, 3000));
    let (done, signal) =
        next(&mut client, &component, WAIT * 2).unwrap_or_else(|| panic!("{}", b.server.log()));
    assert!(done);
    assert_eq!(signal.get_attr("type"), Some("urn:xmpp:rayo:cpa:fax-ced:1"));
}

/// Speech alone never passes for a beep or a fax; a key is a dtmf event.
#[test]
fn speech_gives_no_false_beep_and_keys_are_dtmf_events() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = answered(&b, &mut client, &caller);
    let component = start(
        &b,
        &mut client,
        &offered.call,
        cpa(&[
            ("beep", true),
            ("fax-ced", true),
            ("fax-cng", true),
            ("dtmf", false),
        ]),
    );
    let mut audio = greeting();
    audio.extend(greeting());
    play(&caller, audio);
    // The greeting twice (9 s) plays out with nothing reported.
    assert!(
        next(&mut client, &component, Duration::from_secs(10)).is_none(),
        "{}",
        b.server.log()
    );
    let pt = call
        .negotiated()
        .expect("negotiated")
        .telephone_event
        .expect("telephone-event");
    caller.rtp.set_source(Source::Digits {
        digits: "5".into(),
        payload_type: pt,
        duration_ms: 100,
        gap_ms: 100,
    });
    let (done, dtmf) =
        next(&mut client, &component, WAIT).unwrap_or_else(|| panic!("{}", b.server.log()));
    assert!(!done);
    assert_eq!(dtmf.get_attr("type"), Some("urn:xmpp:rayo:cpa:dtmf:1"));
    assert_eq!(dtmf.get_attr("value"), Some("5"));
    let reply = client
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply), None);
    let (done, stop) =
        next(&mut client, &component, WAIT).unwrap_or_else(|| panic!("{}", b.server.log()));
    assert!(done);
    assert_eq!(stop.name(), "stop");
}

#[test]
fn an_unsupported_signal_is_refused() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = answered(&b, &mut client, &caller);
    let reply = client
        .iq_set(&offered.call, cpa(&[("busy", true)]), WAIT)
        .expect("reply");
    assert_eq!(
        error_condition(&reply).as_deref(),
        Some("internal-server-error")
    );
}
