//! The component lifecycle: ref at start, presence from the component JID,
//! one complete with the reason first, owner-only commands, item-not-found
//! after completion.

use call_control::{
    AnnouncementEnd, Command, InputOutcome, RecordEnd, Recording, Segment, Signal, SignalKind,
};

use super::*;

fn output_element() -> Element {
    Element::new("output", rayo::ns::OUTPUT).child(
        Element::new("document", rayo::ns::OUTPUT)
            .attr("content-type", "text/uri-list")
            .text("file://tone.wav"),
    )
}

fn input_element() -> Element {
    let grammar = "<grammar xmlns='http://www.w3.org/2001/06/grammar' root='r' mode='dtmf'><rule id='r'><item repeat='2'><one-of><item>1</item><item>2</item></one-of></item></rule></grammar>";
    Element::new("input", rayo::ns::INPUT)
        .attr("mode", "dtmf")
        .attr("initial-timeout", "5000")
        .child(
            Element::new("grammar", rayo::ns::INPUT)
                .attr("content-type", "application/srgs+xml")
                .text(grammar),
        )
}

/// A taken call with the announcement request `id` started for usera.
fn started(h: &mut Harness, call: &mut TestCall, payload: Element) -> (u64, String) {
    h.invite(call, "usera", false);
    h.invite(call, "userb", false);
    h.sent();
    let to = h.call_jid(1);
    h.iq("usera", &to, "c1", payload);
    let reqs = requests(call);
    let request = reqs.last().expect("a request").clone();
    h.adapter.call_event(1, Event::Started { id: request.id });
    let sent = h.sent();
    let (_, result) = sent.last().expect("the ref").clone();
    assert!(result.contains("type='result'"), "{result}");
    let start = result.find("uri='xmpp:").expect("uri") + "uri='xmpp:".len();
    let end = result[start..].find('\'').expect("quote") + start;
    (request.id, result[start..end].to_owned())
}

#[test]
fn an_output_is_announced_by_ref_and_completes_once_from_its_jid() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    let to = h.call_jid(1);
    h.iq("usera", &to, "c1", output_element());
    let reqs = requests(&mut call);
    let Some(Request {
        id,
        command: Command::Announce(announcement),
    }) = reqs.last()
    else {
        panic!("an announcement: {reqs:?}");
    };
    assert_eq!(
        announcement.segments,
        [Segment::Audio {
            uri: "file://tone.wav".into(),
            fallback: vec![]
        }]
    );
    assert!(h.sent().is_empty(), "no answer before the call has it");
    h.adapter.call_event(1, Event::Started { id: *id });
    let sent = h.sent();
    let component = format!("{to}/output-{id}");
    assert!(
        sent[0].1.contains(&format!(
            "<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:{component}'"
        )),
        "{sent:?}"
    );
    h.adapter.call_event(
        1,
        Event::Done {
            id: *id,
            result: Ok(Produced::Announced(AnnouncementEnd::Finished)),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1,
        format!("<presence from='{component}' to='usera@rayo.test/app' type='unavailable'><complete xmlns='urn:xmpp:rayo:ext:1'><finish xmlns='urn:xmpp:rayo:output:complete:1'/></complete></presence>")
    );
    // Completed: the component is unknown now.
    h.iq(
        "usera",
        &component,
        "c2",
        Element::new("stop", rayo::ns::EXT),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn only_the_owner_commands_a_component_and_stop_completes_it_with_stop() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    let (id, component) = started(&mut h, &mut call, output_element());
    h.iq(
        "userb",
        &component,
        "x",
        Element::new("stop", rayo::ns::EXT),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("conflict"));
    h.iq(
        "usera",
        &component,
        "p",
        Element::new("pause", rayo::ns::OUTPUT),
    );
    h.iq(
        "usera",
        &component,
        "s",
        Element::new("stop", rayo::ns::EXT),
    );
    let reqs = requests(&mut call);
    assert_eq!(reqs[0].command, Command::Pause { target: id });
    assert_eq!(reqs[1].command, Command::Stop { target: id });
    // The stop's own answer, then the completion.
    h.adapter.call_event(1, done(reqs[1].id));
    h.adapter.call_event(
        1,
        Event::Done {
            id,
            result: Err(Failure::Stopped),
        },
    );
    let sent = h.sent();
    assert!(sent[0].1.contains("id='s'") && sent[0].1.contains("type='result'"));
    assert!(sent[1].1.contains(
        "<complete xmlns='urn:xmpp:rayo:ext:1'><stop xmlns='urn:xmpp:rayo:ext:complete:1'/></complete>"
    ));
}

#[test]
fn a_component_the_call_refuses_gets_an_iq_error_and_no_ref() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    let to = h.call_jid(1);
    h.iq("usera", &to, "c1", output_element());
    let id = requests(&mut call)[1].id;
    h.adapter.call_event(
        1,
        Event::Done {
            id,
            result: Err(Failure::Conflict("an output already plays".into())),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(condition(&sent[0].1), Some("conflict"));
}

#[test]
fn an_input_match_carries_nlsml_and_a_bad_grammar_is_bad_request() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    let (id, component) = started(&mut h, &mut call, input_element());
    h.adapter.call_event(
        1,
        Event::Done {
            id,
            result: Ok(Produced::Input(InputOutcome::Match {
                digits: "12".into(),
                instance: "12".into(),
            })),
        },
    );
    let xml = &h.sent()[0].1;
    assert!(xml.starts_with(&format!("<presence from='{component}'")));
    assert!(
        xml.contains(
            "<match xmlns='urn:xmpp:rayo:input:complete:1' content-type='application/nlsml+xml'>"
        ),
        "{xml}"
    );
    assert!(xml.contains("12"));

    let to = h.call_jid(1);
    let bad = Element::new("input", rayo::ns::INPUT).child(
        Element::new("grammar", rayo::ns::INPUT)
            .attr("content-type", "application/srgs+xml")
            .text("<grammar><rule"),
    );
    h.iq("usera", &to, "c9", bad);
    assert_eq!(condition(&h.sent()[0].1), Some("bad-request"));
    let voice = Element::new("input", rayo::ns::INPUT)
        .attr("mode", "voice")
        .child(
            Element::new("grammar", rayo::ns::INPUT).attr("url", "builtin:dtmf/digits?length=4"),
        );
    h.iq("usera", &to, "c10", voice);
    assert_eq!(condition(&h.sent()[0].1), Some("feature-not-implemented"));
}

#[test]
fn prompt_events_and_signals_come_from_the_component_jid() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    let prompt = Element::new("prompt", rayo::ns::PROMPT)
        .child(output_element())
        .child(input_element());
    let (id, component) = started(&mut h, &mut call, prompt);
    h.adapter.call_event(1, Event::InputTimersStarted { id });
    h.adapter.call_event(
        1,
        Event::Signal {
            id,
            signal: Signal {
                kind: SignalKind::Beep,
                value: Some("1000".into()),
                duration: std::time::Duration::from_millis(300),
            },
        },
    );
    let sent = h.sent();
    assert_eq!(
        sent[0].1,
        format!("<presence from='{component}' to='usera@rayo.test/app'><input-timers-started xmlns='urn:xmpp:rayo:prompt:1'/></presence>")
    );
    assert!(
        sent[1].1.contains("type='urn:xmpp:rayo:cpa:beep:1'"),
        "{}",
        sent[1].1
    );
}

#[test]
fn a_recording_completes_with_its_reason_then_its_uri_duration_and_size() {
    let mut h = Harness::new(Dialect::Xep);
    let mut call = Harness::call(1, 8);
    let record = Element::new("record", rayo::ns::RECORD).attr("max-duration", "3000");
    let (id, _) = started(&mut h, &mut call, record);
    h.adapter.call_event(
        1,
        Event::Done {
            id,
            result: Ok(Produced::Recording(Recording {
                end: RecordEnd::MaxDuration,
                file: "c-1.wav".into(),
                duration: std::time::Duration::from_millis(3000),
                size: 48044,
            })),
        },
    );
    let xml = &h.sent()[0].1;
    assert!(
        xml.contains("<complete xmlns='urn:xmpp:rayo:ext:1'><max-duration xmlns='urn:xmpp:rayo:record:complete:1'/><recording xmlns='urn:xmpp:rayo:record:complete:1' uri='c-1.wav' duration='3000' size='48044'/></complete>"),
        "{xml}"
    );
}

#[test]
fn the_wiki_dialect_completes_with_an_available_presence() {
    let mut h = Harness::new(Dialect::Wiki);
    let mut call = Harness::call(1, 8);
    h.invite(&call, "usera", false);
    h.sent();
    let to = h.call_jid(1);
    let say = Element::new("say", rayo::ns::TROPO_SAY).text("hello");
    h.iq("usera", &to, "c1", say);
    let id = requests(&mut call).last().expect("say").id;
    h.adapter.call_event(1, Event::Started { id });
    let sent = h.sent();
    assert!(sent[0].1.contains(&format!("id='say-{id}'")), "{sent:?}");
    h.adapter.call_event(
        1,
        Event::Done {
            id,
            result: Ok(Produced::Announced(AnnouncementEnd::Finished)),
        },
    );
    let xml = &h.sent()[0].1;
    assert!(!xml.contains("type='unavailable'"));
    assert!(
        xml.contains("<success xmlns='urn:xmpp:tropo:say:complete:1'/>"),
        "{xml}"
    );
}
