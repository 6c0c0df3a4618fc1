//! Rayo `<output>`, Tropo `<say>`, `<prompt>` and Tropo `<ask>` end to end
//! (issue 11): the real binary, the test kit's UA and RTP peer as the
//! caller (what it hears checked by content), the test kit's XMPP client
//! as the application. The core's finer behaviour (seek, speed, volume,
//! repeats, max-time) is covered in process by `announce.rs`.

use std::path::Path;
use std::time::Duration;

use media::tone::ToneGenerator;
use testkit::analysis::{decode_audio, level_dbm0, tone_fraction};
use testkit::baresip::write_wav_8k;
use testkit::rayo_harness::{output_document, srgs_digits, Caller, RayoBench, RayoConfig, WAIT};
use testkit::rtp_peer::ReceivedPacket;
use testkit::xmpp::error_condition;
use testkit::Source;
use xmpp::Element;

const INPUT_NS: &str = "urn:xmpp:rayo:input:1";
const PROMPT_NS: &str = "urn:xmpp:rayo:prompt:1";
const EXT_NS: &str = "urn:xmpp:rayo:ext:1";

/// A server with `tone.wav` (1 kHz, 1 s) and `long.wav` (1 kHz, 6 s) in
/// its playback directory.
fn bench() -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let b = RayoBench::start(binary, &RayoConfig::new());
    let sounds = b.server.dir().join("sounds");
    std::fs::create_dir_all(&sounds).expect("playback dir");
    for (name, seconds) in [("tone.wav", 1), ("long.wav", 6)] {
        let mut tone = ToneGenerator::sine(1000.0, -12.0);
        let mut samples = vec![0i16; 8000 * seconds];
        tone.fill(&mut samples);
        write_wav_8k(sounds.join(name), &samples).expect("tone file");
    }
    b
}

fn digits_input(n: usize, attrs: &[(&str, &str)]) -> Element {
    let grammar = srgs_digits(&n.to_string());
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

/// The caller's audio, 20 ms frames in order of arrival.
fn frames(packets: &[ReceivedPacket]) -> Vec<Vec<i16>> {
    packets
        .iter()
        .filter(|p| p.payload_type == 0)
        .map(|p| decode_audio(std::slice::from_ref(p)))
        .collect()
}

fn tone_frames(packets: &[ReceivedPacket]) -> usize {
    frames(packets)
        .iter()
        .filter(|f| tone_fraction(f, 1000.0, 8000) > 0.5)
        .count()
}

#[test]
fn a_wav_in_a_uri_list_is_heard_for_its_length_then_finishes() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    caller.rtp.clear_received();
    let component = b.start_component(
        &mut client,
        &offered.call,
        output_document("text/uri-list", "file://tone.wav"),
    );
    let finish = b.completion(&mut client, &component).element;
    assert_eq!(
        (finish.name(), finish.ns()),
        ("finish", "urn:xmpp:rayo:output:complete:1")
    );
    std::thread::sleep(Duration::from_millis(200));
    let heard = tone_frames(&caller.rtp.received());
    assert!(
        (48..=52).contains(&heard),
        "1 s of tone is 50 frames, heard {heard}"
    );
}

#[test]
fn ssml_text_is_spoken_and_its_audio_plays() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    caller.rtp.clear_received();
    let ssml = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis'>Hello, this is Switchboard. <audio src='tone.wav'>a missing tone</audio></speak>";
    let component = b.start_component(
        &mut client,
        &offered.call,
        output_document("application/ssml+xml", ssml),
    );
    let finish = b.completion(&mut client, &component).element;
    assert_eq!(
        finish.name(),
        "finish",
        "{}\n{}",
        finish.to_xml(""),
        b.server.log()
    );
    let frames = frames(&caller.rtp.received());
    let first_tone = frames
        .iter()
        .position(|f| tone_fraction(f, 1000.0, 8000) > 0.5)
        .expect("the <audio> played");
    let speech = frames[..first_tone]
        .iter()
        .filter(|f| level_dbm0(f) > -40.0)
        .count();
    // "Hello, this is Switchboard." takes espeak-ng well over half a second.
    assert!(speech >= 25, "speech frames before the tone: {speech}");
}

#[test]
fn the_seed_say_completes_with_tropo_success_and_a_bad_url_with_error() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    let say = Element::new("say", "urn:xmpp:tropo:say:1")
        .child(Element::new("audio", "urn:xmpp:tropo:say:1").attr("src", "tone.wav"));
    let component = b.start_component(&mut client, &offered.call, say);
    let success = b.completion(&mut client, &component).element;
    assert_eq!(
        (success.name(), success.ns()),
        ("success", "urn:xmpp:tropo:say:complete:1")
    );

    let bad = output_document("text/uri-list", "file://no-such-file.wav");
    let component = b.start_component(&mut client, &offered.call, bad);
    let error = b.completion(&mut client, &component).element;
    assert_eq!(
        (error.name(), error.ns()),
        ("error", "urn:xmpp:rayo:ext:complete:1")
    );
    assert!(
        error.text_content().contains("no-such-file.wav"),
        "{}",
        error.to_xml("")
    );
}

#[test]
fn one_output_at_a_time_and_stop_completes_it_with_stop() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    let component = b.start_component(
        &mut client,
        &offered.call,
        output_document("text/uri-list", "file://long.wav"),
    );
    let reply = client
        .iq_set(
            &offered.call,
            output_document("text/uri-list", "file://tone.wav"),
            WAIT,
        )
        .expect("reply");
    assert_eq!(error_condition(&reply).as_deref(), Some("conflict"));
    let reply = client
        .iq_set(&component, Element::new("stop", EXT_NS), WAIT)
        .expect("reply");
    assert_eq!(error_condition(&reply), None);
    assert_eq!(b.completion(&mut client, &component).element.name(), "stop");
    std::thread::sleep(Duration::from_millis(200));
    caller.rtp.clear_received();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        tone_frames(&caller.rtp.received()),
        0,
        "silence after the stop"
    );
}

#[test]
fn a_prompt_barged_in_stops_its_output_at_the_first_key_and_completes_once() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = b.answered(&mut client, &caller);
    let prompt = Element::new("prompt", PROMPT_NS)
        .attr("barge-in", "true")
        .child(output_document("text/uri-list", "file://long.wav"))
        .child(digits_input(2, &[("inter-digit-timeout", "5000")]));
    let component = b.start_component(&mut client, &offered.call, prompt);
    assert!(caller.rtp.wait_for_packets(40, WAIT));
    let pt = call
        .negotiated()
        .expect("negotiated")
        .telephone_event
        .expect("te");
    caller.rtp.set_source(Source::Digits {
        digits: "42".into(),
        payload_type: pt,
        duration_ms: 100,
        gap_ms: 400,
    });
    let matched = b.completion(&mut client, &component).element;
    assert_eq!(matched.name(), "match", "{}", matched.to_xml(""));
    assert!(matched.text_content().contains("42"));
    // The second key came 500 ms after the first: the output was already
    // silent then (the first key stopped it).
    caller.rtp.clear_received();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(tone_frames(&caller.rtp.received()), 0);
    assert!(
        client
            .wait_presence(
                |p| p.get_attr("from") == Some(component.as_str()),
                Duration::from_millis(300)
            )
            .is_none(),
        "one completion only"
    );
}

#[test]
fn without_barge_in_the_timers_start_after_the_output() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (_call, offered) = b.answered(&mut client, &caller);
    let prompt = Element::new("prompt", PROMPT_NS)
        .attr("barge-in", "false")
        .child(digits_input(2, &[("initial-timeout", "300")]))
        .child(output_document("text/uri-list", "file://tone.wav"));
    let component = b.start_component(&mut client, &offered.call, prompt);
    let news = b
        .component_news(&mut client, &component, WAIT * 3)
        .expect("news");
    let (done, event) = (news.done, news.element);
    assert!(!done);
    assert_eq!(
        (event.name(), event.ns()),
        ("input-timers-started", PROMPT_NS)
    );
    // The whole second of tone played before the timers ran (the last
    // packets may still be on their way to the peer's receive thread).
    std::thread::sleep(Duration::from_millis(100));
    assert!(tone_frames(&caller.rtp.received()) >= 48);
    assert_eq!(
        b.completion(&mut client, &component).element.name(),
        "noinput"
    );
}

#[test]
fn the_seed_ask_collects_its_choices() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (call, offered) = b.answered(&mut client, &caller);
    let ask = Element::new("ask", "urn:xmpp:tropo:ask:1")
        .attr("mode", "dtmf")
        .attr("terminator", "#")
        .attr("timeout", "8000")
        .child(Element::new("prompt", "urn:xmpp:tropo:ask:1").child(
            Element::new("audio", "http://www.w3.org/2001/10/synthesis").attr("src", "tone.wav"),
        ))
        .child(Element::new("choices", "urn:xmpp:tropo:ask:1").text("[3 DIGITS]"));
    let component = b.start_component(&mut client, &offered.call, ask);
    let pt = call
        .negotiated()
        .expect("negotiated")
        .telephone_event
        .expect("te");
    caller.rtp.set_source(Source::Digits {
        digits: "729".into(),
        payload_type: pt,
        duration_ms: 100,
        gap_ms: 100,
    });
    let success = b.completion(&mut client, &component).element;
    assert_eq!(
        (success.name(), success.ns()),
        ("success", "urn:xmpp:tropo:ask:complete:1"),
        "{}",
        success.to_xml("")
    );
    let interpretation = success
        .get_child("interpretation", "urn:xmpp:tropo:ask:complete:1")
        .expect("interpretation");
    assert_eq!(interpretation.text_content(), "729");
}

#[test]
fn a_hangup_completes_the_output_and_the_input_before_the_end() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (mut call, offered) = b.answered(&mut client, &caller);
    let playing = b.start_component(
        &mut client,
        &offered.call,
        output_document("text/uri-list", "file://long.wav"),
    );
    let input = b.start_component(&mut client, &offered.call, digits_input(4, &[]));
    assert_eq!(call.hangup(WAIT).ok(), Some(200));
    let mut hangups = Vec::new();
    for _ in 0..2 {
        let presence = client
            .wait_presence(
                |p| {
                    p.get_child("complete", EXT_NS).is_some()
                        || p.get_attr("from") == Some(offered.call.as_str())
                },
                WAIT,
            )
            .unwrap_or_else(|| panic!("completions\n{}", b.server.log()));
        let from = presence.get_attr("from").unwrap_or("").to_owned();
        assert_ne!(from, offered.call, "the <end> came before a completion");
        let complete = presence.get_child("complete", EXT_NS).expect("complete");
        assert_eq!(complete.children().next().expect("reason").name(), "hangup");
        hangups.push(from);
    }
    hangups.sort();
    let mut expected = vec![playing, input];
    expected.sort();
    assert_eq!(hangups, expected);
    assert_eq!(b.end_reason(&mut client, &offered.call), "hungup");
}
