use super::*;
use crate::record::{RecordDirection, RecordFormat};
use crate::{
    parse_call_command, parse_command, CallCommand, Command, ComponentCommand, StanzaCondition,
    Target,
};

fn component(e: &Element) -> Result<ComponentCommand, CommandError> {
    crate::parse_component_command(e)
}

#[test]
fn output_commands() {
    let cases = [
        ("pause", OutputCommand::Pause),
        ("resume", OutputCommand::Resume),
        ("speed-up", OutputCommand::SpeedUp),
        ("speed-down", OutputCommand::SpeedDown),
        ("volume-up", OutputCommand::VolumeUp),
        ("volume-down", OutputCommand::VolumeDown),
    ];
    for (name, command) in cases {
        let e = Element::new(name, ns::OUTPUT);
        assert_eq!(component(&e), Ok(ComponentCommand::Output(command)));
        assert_eq!(ComponentCommand::Output(command).to_element(), e);
    }
    let seek = Element::new("seek", ns::OUTPUT)
        .attr("direction", "back")
        .attr("amount", "5000");
    let parsed = component(&seek).unwrap();
    assert_eq!(
        parsed,
        ComponentCommand::Output(OutputCommand::Seek {
            direction: SeekDirection::Back,
            amount_ms: 5000
        })
    );
    assert_eq!(parsed.to_element(), seek);
    assert_eq!(parsed.name(), "seek");
}

#[test]
fn bad_seeks_are_bad_requests() {
    for (e, needle) in [
        (
            Element::new("seek", ns::OUTPUT).attr("amount", "10"),
            "direction",
        ),
        (
            Element::new("seek", ns::OUTPUT).attr("direction", "forward"),
            "amount",
        ),
        (
            Element::new("seek", ns::OUTPUT)
                .attr("direction", "sideways")
                .attr("amount", "10"),
            "direction",
        ),
        (
            Element::new("seek", ns::OUTPUT)
                .attr("direction", "forward")
                .attr("amount", "-10"),
            "amount",
        ),
    ] {
        let err = component(&e).unwrap_err();
        assert_eq!(err.condition, StanzaCondition::BadRequest);
        assert!(err.text.contains(needle), "{e}: {err}");
    }
}

#[test]
fn record_and_say_pause_resume() {
    for (namespace, wrap) in [
        (
            ns::RECORD,
            ComponentCommand::Record as fn(PauseCommand) -> ComponentCommand,
        ),
        (ns::TROPO_SAY, ComponentCommand::Say),
    ] {
        for (name, p) in [
            ("pause", PauseCommand::Pause),
            ("resume", PauseCommand::Resume),
        ] {
            let e = Element::new(name, namespace);
            assert_eq!(component(&e), Ok(wrap(p)));
            assert_eq!(wrap(p).to_element(), e);
        }
    }
    // Not a record command; not any component's.
    for e in [
        Element::new("seek", ns::RECORD),
        Element::new("pause", ns::INPUT),
    ] {
        let err = component(&e).unwrap_err();
        assert_eq!(err.condition, StanzaCondition::FeatureNotImplemented, "{e}");
    }
}

fn record(e: &Element) -> Result<crate::Record, CommandError> {
    match parse_call_command(e, "rayo.test")? {
        CallCommand::Start(c) => match *c {
            MediaComponent::Record(r) => Ok(r),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn record_attributes() {
    let r = record(&Element::new("record", ns::RECORD)).unwrap();
    assert_eq!(r, crate::Record::default());
    let e = Element::new("record", ns::RECORD)
        .attr("format", "MP3")
        .attr("start-beep", "true")
        .attr("stop-beep", "1")
        .attr("start-paused", "true")
        .attr("max-duration", "60000")
        .attr("initial-timeout", "3000")
        .attr("final-timeout", "2000")
        .attr("direction", "recv")
        .attr("mix", "true")
        .child(
            Element::new("hint", ns::RECORD)
                .attr("name", "bitrate")
                .attr("value", "32"),
        );
    let r = record(&e).unwrap();
    assert_eq!(r.format, RecordFormat::Mp3);
    assert!(r.start_beep && r.stop_beep && r.start_paused && r.mix);
    assert_eq!(
        (r.max_duration_ms, r.initial_timeout_ms, r.final_timeout_ms),
        (Some(60000), Some(3000), Some(2000))
    );
    assert_eq!(r.direction, RecordDirection::Recv);
    assert_eq!(record(&r.to_element()), Ok(r));
    let send = record(&Element::new("record", ns::RECORD).attr("direction", "send")).unwrap();
    assert_eq!(send.direction, RecordDirection::Send);
}

#[test]
fn record_refusals_name_the_attribute() {
    for (attr, value) in [
        ("start-beep", "loud"),
        ("stop-beep", "2"),
        ("start-paused", "x"),
        ("max-duration", "0"),
        ("initial-timeout", "-7"),
        ("final-timeout", "0"),
        ("direction", "both"),
        ("mix", "stereo"),
    ] {
        let err = record(&Element::new("record", ns::RECORD).attr(attr, value)).unwrap_err();
        assert_eq!(err.condition, StanzaCondition::BadRequest, "{attr}");
        assert!(err.text.contains(attr), "{attr}: {err}");
    }
    let err = record(&Element::new("record", ns::RECORD).attr("format", "ogg")).unwrap_err();
    assert_eq!(err.condition, StanzaCondition::FeatureNotImplemented);
    assert_eq!(err.kind, crate::ErrorType::Modify);
    assert!(err.text.contains("format"));
}

#[test]
fn names_and_commands_through_parse_command() {
    let say = Element::new("say", ns::TROPO_SAY).text("hi");
    match parse_command(Target::Call, &say, "rayo.test").unwrap() {
        Command::Call(c) => {
            assert_eq!(c.name(), "say");
            assert!(c.headers().is_empty());
            assert_eq!(c.to_element("rayo.test"), say);
        }
        other => panic!("{other:?}"),
    }
    let rec = Element::new("record", ns::RECORD);
    match parse_command(Target::Call, &rec, "rayo.test").unwrap() {
        Command::Call(c) => assert_eq!(c.name(), "record"),
        other => panic!("{other:?}"),
    }
    // A component element sent to a component JID is not a command there.
    let err = parse_command(Target::Component, &rec, "rayo.test").unwrap_err();
    assert_eq!(err.condition, StanzaCondition::FeatureNotImplemented);
}
