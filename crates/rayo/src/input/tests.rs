use super::*;
use crate::cpa::CpaSignal;
use crate::srgs::{Matcher, Progress, NS_SRGS};
use crate::{parse_call_command, CallCommand, MediaComponent, StanzaCondition};

fn start(e: &Element) -> Result<Input, CommandError> {
    match parse_call_command(e, "rayo.test")? {
        CallCommand::Start(c) => match *c {
            MediaComponent::Input(i) => Ok(i),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn input() -> Element {
    Element::new("input", ns::INPUT)
}

fn grammar_url(url: &str) -> Element {
    Element::new("grammar", ns::INPUT).attr("url", url)
}

const PIN: &str = "<grammar xmlns='http://www.w3.org/2001/06/grammar' version='1.0' mode='dtmf' root='pin'>\
    <rule id='pin' scope='public'><item repeat='4'><one-of><item>0</item><item>1</item><item>2</item>\
    <item>3</item><item>4</item><item>5</item><item>6</item><item>7</item><item>8</item><item>9</item>\
    </one-of></item></rule></grammar>";

fn srgs(body: &str) -> Element {
    Element::new("grammar", ns::INPUT)
        .attr("content-type", "application/srgs+xml")
        .text(body)
}

fn refused(e: &Element) -> String {
    let err = start(e).unwrap_err();
    assert_eq!(err.condition, StanzaCondition::BadRequest, "{err}");
    err.text
}

#[test]
fn xep_example_compiles_and_matches() {
    let e = input()
        .attr("mode", "dtmf")
        .attr("initial-timeout", "5000")
        .attr("inter-digit-timeout", "2000")
        .attr("terminator", "#")
        .child(srgs(PIN));
    let i = start(&e).unwrap();
    assert_eq!(i.mode, InputMode::Dtmf);
    assert_eq!(i.terminator, Some('#'));
    assert_eq!(
        (i.initial_timeout_ms, i.inter_digit_timeout_ms),
        (Some(5000), Some(2000))
    );
    let (mut ready, fetch) = i.compile().unwrap();
    assert!(fetch.is_empty());
    let mut m = Matcher::new(ready.remove(0));
    let mut last = Progress::NeedMore;
    for k in "1234".chars() {
        last = m.feed(k);
    }
    assert_eq!(
        last,
        Progress::Match {
            instance: "1234".into(),
            can_grow: false
        }
    );
    assert_eq!(start(&i.to_element()), Ok(i));
}

#[test]
fn nested_srgs_builtins_and_fetched_urls() {
    let nested = Element::new("grammar", NS_SRGS)
        .attr("mode", "dtmf")
        .attr("root", "r")
        .child(Element::new("rule", NS_SRGS).attr("id", "r").text("1 2"));
    let e = input()
        .child(
            Element::new("grammar", ns::INPUT)
                .attr("content-type", "application/srgs+xml")
                .child(nested),
        )
        .child(grammar_url("builtin:dtmf/digits?length=4"))
        .child(grammar_url("builtin:dtmf/boolean?y=1;n=2"))
        .child(grammar_url("http://grammars.test/pin.grxml"));
    let i = start(&e).unwrap();
    assert_eq!(i.mode, InputMode::Any);
    let (ready, fetch) = i.compile().unwrap();
    assert_eq!(ready.len(), 3);
    assert_eq!(fetch, vec!["http://grammars.test/pin.grxml"]);
    assert_eq!(start(&i.to_element()), Ok(i));
}

#[test]
fn speech_attributes_are_checked_and_kept() {
    let e = input()
        .attr("mode", "dtmf")
        .attr("min-confidence", "0.5")
        .attr("sensitivity", "0.3")
        .attr("max-silence", "5000")
        .attr("recognition-timeout", "-1")
        .attr("language", "en-US")
        .attr("recognizer", "pocketsphinx")
        .attr("match-content-type", "application/nlsml+xml")
        .child(grammar_url("builtin:dtmf/digits?minlength=1;maxlength=4"));
    let i = start(&e).unwrap();
    assert_eq!(i.min_confidence, Some(Permille(500)));
    assert_eq!(i.sensitivity, Some(Permille(300)));
    assert_eq!(i.max_silence_ms, Some(5000));
    assert_eq!(i.recognition_timeout_ms, None);
    assert_eq!(i.language.as_deref(), Some("en-US"));
    assert_eq!(i.recognizer.as_deref(), Some("pocketsphinx"));
    assert_eq!(start(&i.to_element()), Ok(i));
}

#[test]
fn voice_mode_parses_without_compiling() {
    let e = input().attr("mode", "voice").child(
        Element::new("grammar", ns::INPUT)
            .attr("content-type", "application/grammar+voxeo")
            .text("yes, no"),
    );
    let i = start(&e).unwrap();
    assert_eq!(i.mode, InputMode::Voice);
    assert_eq!(start(&i.to_element()), Ok(i));
}

#[test]
fn cpa_grammars_are_typed() {
    let e = input()
        .attr("mode", "cpa")
        .child(grammar_url("urn:xmpp:rayo:cpa:beep:1?terminate=true"))
        .child(grammar_url("urn:xmpp:rayo:cpa:dtmf:1"))
        .child(grammar_url("urn:xmpp:rayo:cpa:speech:1"))
        .child(grammar_url("urn:xmpp:rayo:cpa:fax-ced:1"))
        .child(grammar_url("urn:xmpp:rayo:cpa:fax-cng:1"))
        .child(grammar_url("urn:xmpp:rayo:cpa:ring:1"));
    let i = start(&e).unwrap();
    assert!(i.grammars.is_empty());
    let signals: Vec<_> = i
        .cpa
        .iter()
        .map(|c| (c.signal.clone(), c.terminate))
        .collect();
    assert_eq!(
        signals,
        vec![
            (CpaSignal::Beep, true),
            (CpaSignal::Dtmf, false),
            (CpaSignal::Speech, false),
            (CpaSignal::FaxCed, false),
            (CpaSignal::FaxCng, false),
            (CpaSignal::Unsupported("ring".into()), false),
        ]
    );
    assert_eq!(start(&i.to_element()), Ok(i));
    let twice = input()
        .attr("mode", "cpa")
        .child(grammar_url("urn:xmpp:rayo:cpa:beep:1"))
        .child(grammar_url("urn:xmpp:rayo:cpa:beep:1"));
    assert!(refused(&twice).contains("twice"));
    let no_url = input().attr("mode", "cpa").child(srgs(PIN));
    assert!(refused(&no_url).contains("cpa grammar needs a url"));
    let bad = input()
        .attr("mode", "cpa")
        .child(grammar_url("builtin:dtmf/digits"));
    assert!(refused(&bad).contains("cpa grammar url"));
}

#[test]
fn every_bad_attribute_is_named() {
    let ok = || input().child(grammar_url("builtin:dtmf/digits?length=4"));
    for (attr, value) in [
        ("mode", "telepathy"),
        ("terminator", "##"),
        ("terminator", "x"),
        ("initial-timeout", "0"),
        ("initial-timeout", "-3"),
        ("inter-digit-timeout", "soon"),
        ("recognition-timeout", "0"),
        ("max-silence", "0"),
        ("min-confidence", "2"),
        ("sensitivity", "-0.1"),
        ("match-content-type", "text/plain"),
        ("language", "en\u{7}"),
    ] {
        let text = refused(&ok().attr(attr, value));
        assert!(text.contains(attr), "{attr}={value}: {text}");
    }
}

#[test]
fn bad_grammars() {
    let cases = [
        (input(), "needs a <grammar>"),
        (
            input().child(Element::new("grammar", ns::INPUT)),
            "url or a content-type",
        ),
        (
            input().child(
                Element::new("grammar", ns::INPUT).attr("content-type", "application/srgs+xml"),
            ),
            "empty",
        ),
        (
            input().child(grammar_url("builtin:dtmf/digits").text("1")),
            "both a url and a body",
        ),
        (input().child(grammar_url("pin grammar")), "not a URI"),
        (input().child(grammar_url("xmpp:g@x.test")), "builtin"),
        (input().child(grammar_url("builtin:dtmf/date")), "dtmf/date"),
        (input().child(srgs("<grammar")), "not valid XML"),
        (
            input().child(
                Element::new("grammar", ns::INPUT)
                    .attr("content-type", "application/grammar+voxeo")
                    .text("yes"),
            ),
            "content-type",
        ),
    ];
    for (e, needle) in cases {
        let text = refused(&e);
        assert!(text.contains(needle), "{e}: {text}");
    }
    let mut many = input();
    for _ in 0..=MAX_GRAMMARS {
        many.push(grammar_url("builtin:dtmf/digits"));
    }
    assert!(refused(&many).contains("more than"));
}
