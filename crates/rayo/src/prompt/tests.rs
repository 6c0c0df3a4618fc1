use super::*;
use crate::srgs::{Matcher, Progress};
use crate::{parse_call_command, CallCommand, MediaComponent, StanzaCondition};

fn start(e: &Element) -> Result<Prompt, CommandError> {
    match parse_call_command(e, "rayo.test")? {
        CallCommand::Start(c) => match *c {
            MediaComponent::Prompt(p) => Ok(p),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn output() -> Element {
    Element::new("output", ns::OUTPUT).child(
        Element::new("document", ns::OUTPUT)
            .attr("content-type", "text/plain")
            .text("Enter your PIN"),
    )
}

fn input() -> Element {
    Element::new("input", ns::INPUT)
        .attr("mode", "dtmf")
        .child(Element::new("grammar", ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"))
}

fn refused(e: &Element) -> String {
    let err = start(e).unwrap_err();
    assert_eq!(err.condition, StanzaCondition::BadRequest, "{err}");
    err.text
}

#[test]
fn output_and_input_in_either_order() {
    let a = Element::new("prompt", ns::PROMPT)
        .child(output())
        .child(input());
    let b = Element::new("prompt", ns::PROMPT)
        .attr("barge-in", "false")
        .child(input())
        .child(output());
    let pa = start(&a).unwrap();
    let pb = start(&b).unwrap();
    assert!(pa.barge_in);
    assert!(!pb.barge_in);
    assert_eq!(pa.output, pb.output);
    assert_eq!(pa.input, pb.input);
    assert_eq!(pa.form, PromptForm::Prompt);
    assert_eq!(start(&pa.to_element()), Ok(pa));
    assert_eq!(start(&pb.to_element()), Ok(pb));
}

#[test]
fn malformed_prompts() {
    let p = || Element::new("prompt", ns::PROMPT);
    assert!(refused(&p().child(input())).contains("<output>"));
    assert!(refused(&p().child(output())).contains("<input>"));
    assert!(refused(&p().child(output()).child(output()).child(input())).contains("two"));
    assert!(refused(&p().child(output()).child(input()).child(input())).contains("two"));
    assert!(refused(
        &p().attr("barge-in", "sometimes")
            .child(output())
            .child(input())
    )
    .contains("barge-in"));
    // A nested component's own error comes through.
    let bad_input = Element::new("input", ns::INPUT)
        .attr("initial-timeout", "0")
        .child(Element::new("grammar", ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"));
    assert!(refused(&p().child(output()).child(bad_input)).contains("initial-timeout"));
}

fn ask() -> Element {
    Element::new("ask", ns::TROPO_ASK)
        .attr("voice", "allison")
        .attr("terminator", "#")
        .attr("timeout", "5000")
        .attr("mode", "dtmf")
        .attr("bargein", "false")
        .attr("min-confidence", "0.3")
        .attr("recognizer", "en-us")
        .child(Element::new("prompt", ns::TROPO_ASK).text("Please enter your four digit PIN"))
}

#[test]
fn tropo_ask_is_a_prompt() {
    let e = ask().child(Element::new("choices", ns::TROPO_ASK).text("[4 DIGITS]"));
    let p = start(&e).unwrap();
    assert_eq!(p.form, PromptForm::Ask);
    assert!(!p.barge_in);
    assert_eq!(p.output.form, OutputForm::Say);
    assert_eq!(p.output.voice.as_deref(), Some("allison"));
    assert_eq!(p.input.mode, InputMode::Dtmf);
    assert_eq!(p.input.terminator, Some('#'));
    assert_eq!(p.input.initial_timeout_ms, Some(5000));
    assert_eq!(
        p.input.grammars,
        vec![GrammarSource::Choices("[4 DIGITS]".into())]
    );
    let (mut ready, _) = p.input.compile().unwrap();
    let mut m = Matcher::new(ready.remove(0));
    let mut last = Progress::NeedMore;
    for k in "4321".chars() {
        last = m.feed(k);
    }
    assert!(matches!(
        last,
        Progress::Match {
            can_grow: false,
            ..
        }
    ));
    assert_eq!(start(&p.to_element()), Ok(p));
}

#[test]
fn ask_choices_by_srgs_url_and_list() {
    let srgs = ask().child(
        Element::new("choices", ns::TROPO_ASK)
            .attr("content-type", "application/srgs+xml")
            .text("<grammar xmlns='http://www.w3.org/2001/06/grammar' mode='dtmf'><rule id='r'>1</rule></grammar>"),
    );
    let by_url =
        ask().child(Element::new("choices", ns::TROPO_ASK).attr("url", "builtin:dtmf/boolean"));
    let list =
        ask().child(Element::new("choices", ns::TROPO_ASK).text("sales(1, sales), support(2)"));
    let plain = ask().child(
        Element::new("choices", ns::TROPO_ASK)
            .attr("content-type", "text/plain")
            .text("1,2,3"),
    );
    for e in [srgs, by_url, list, plain] {
        let p = start(&e).unwrap();
        assert!(p.input.compile().is_ok(), "{e}");
        assert_eq!(start(&p.to_element()), Ok(p), "{e}");
    }
}

#[test]
fn malformed_asks() {
    let no_prompt = Element::new("ask", ns::TROPO_ASK)
        .child(Element::new("choices", ns::TROPO_ASK).text("1,2"));
    assert!(refused(&no_prompt).contains("<prompt>"));
    assert!(refused(&ask()).contains("<choices>"));
    let two = ask()
        .child(Element::new("choices", ns::TROPO_ASK).text("1"))
        .child(Element::new("choices", ns::TROPO_ASK).text("2"));
    assert!(refused(&two).contains("one <choices>"));
    let empty = ask().child(Element::new("choices", ns::TROPO_ASK).text(" "));
    assert!(refused(&empty).contains("empty"));
    let no_dtmf = ask().child(Element::new("choices", ns::TROPO_ASK).text("yes, no"));
    assert!(refused(&no_dtmf).contains("DTMF"));
    for (attr, value) in [
        ("mode", "psychic"),
        ("timeout", "0"),
        ("bargein", "perhaps"),
        ("min-confidence", "7"),
        ("terminator", "pound"),
    ] {
        let e = ask()
            .attr(attr, value)
            .child(Element::new("choices", ns::TROPO_ASK).text("1"));
        assert!(refused(&e).contains(attr), "{attr}");
    }
    // Speech choices parse in speech mode (the adapter decides).
    let speech = Element::new("ask", ns::TROPO_ASK)
        .attr("mode", "speech")
        .child(Element::new("prompt", ns::TROPO_ASK).text("Say yes or no"))
        .child(Element::new("choices", ns::TROPO_ASK).text("yes, no"));
    assert_eq!(start(&speech).unwrap().input.mode, InputMode::Voice);
}
