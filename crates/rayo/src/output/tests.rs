use super::*;
use crate::{parse_call_command, CallCommand, MediaComponent, StanzaCondition};

fn start(e: &Element) -> Result<Output, CommandError> {
    match parse_call_command(e, "rayo.test")? {
        CallCommand::Start(c) => match *c {
            MediaComponent::Output(o) => Ok(o),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn output() -> Element {
    Element::new("output", ns::OUTPUT)
}

fn doc(content_type: &str, body: &str) -> Element {
    Element::new("document", ns::OUTPUT)
        .attr("content-type", content_type)
        .text(body)
}

fn refused(e: &Element) -> String {
    let err = start(e).unwrap_err();
    assert_eq!(err.condition, StanzaCondition::BadRequest, "{err}");
    err.text
}

#[test]
fn xep_example_with_every_attribute() {
    let ssml = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>Hello <audio src='http://files.example/beep.wav'/></speak>";
    let e = output()
        .attr("voice", "allison")
        .attr("repeat-times", "2")
        .attr("start-offset", "1500")
        .attr("start-paused", "true")
        .attr("repeat-interval", "250")
        .attr("max-time", "30000")
        .attr("renderer", "espeak")
        .attr("interrupt-on", "dtmf")
        .child(doc("application/ssml+xml", ssml))
        .child(
            Element::new("header", ns::RAYO)
                .attr("name", "Speech-Language")
                .attr("value", "en-US"),
        );
    let o = start(&e).unwrap();
    assert_eq!(o.form, OutputForm::Output);
    assert_eq!(
        o.documents,
        vec![Document::Inline {
            content_type: DocumentType::Ssml,
            body: ssml.into()
        }]
    );
    assert_eq!(
        (
            o.start_offset_ms,
            o.start_paused,
            o.repeat_interval_ms,
            o.repeat_times,
            o.max_time_ms
        ),
        (1500, true, 250, 2, Some(30000))
    );
    assert_eq!(o.voice.as_deref(), Some("allison"));
    assert_eq!(o.renderer.as_deref(), Some("espeak"));
    assert_eq!(o.interrupt_on, Some(InterruptOn::Dtmf));
    assert_eq!(o.headers, vec![("Speech-Language".into(), "en-US".into())]);
    let segments = o.documents[0].render().unwrap().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(start(&o.to_element()), Ok(o));
}

#[test]
fn defaults() {
    let o = start(&output().child(doc("text/plain", "hi"))).unwrap();
    assert_eq!(
        (
            o.start_offset_ms,
            o.start_paused,
            o.repeat_interval_ms,
            o.repeat_times,
            o.max_time_ms
        ),
        (0, false, 0, 1, None)
    );
    let forever = start(
        &output()
            .attr("repeat-times", "0")
            .attr("max-time", "-1")
            .child(doc("text/plain", "hi")),
    )
    .unwrap();
    assert_eq!((forever.repeat_times, forever.max_time_ms), (0, None));
}

#[test]
fn documents_by_url_uri_list_plain_text_and_nested_speak() {
    let speak = Element::new("speak", "http://www.w3.org/2001/10/synthesis").text("Hi there");
    let e = output()
        .child(Element::new("document", ns::OUTPUT).attr("url", "http://files.test/a.wav"))
        .child(
            Element::new("document", ns::OUTPUT)
                .attr("url", "http://files.test/b.ssml")
                .attr("content-type", "application/ssml+xml"),
        )
        .child(doc("text/uri-list", "# c\nhttp://files.test/c.wav\n"))
        .child(doc("text/plain; charset=utf-8", "Plain words"))
        .child(
            Element::new("document", ns::OUTPUT)
                .attr("content-type", "application/ssml+xml")
                .child(speak),
        );
    let o = start(&e).unwrap();
    assert_eq!(o.documents.len(), 5);
    assert_eq!(
        o.documents[0].render(),
        Some(Ok(vec![Segment::Audio {
            src: "http://files.test/a.wav".into(),
            fallback: vec![]
        }]))
    );
    assert_eq!(o.documents[1].render(), None);
    assert!(matches!(&o.documents[2].render(), Some(Ok(s)) if s.len() == 1));
    assert!(matches!(
        &o.documents[3],
        Document::Inline {
            content_type: DocumentType::PlainText,
            ..
        }
    ));
    match &o.documents[4] {
        Document::Inline { body, .. } => assert!(body.starts_with("<speak xmlns="), "{body}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(start(&o.to_element()), Ok(o));
}

#[test]
fn legacy_inline_ssml() {
    let o = start(&output().attr("voice", "x").text("hello world")).unwrap();
    assert_eq!(
        o.documents,
        vec![Document::Inline {
            content_type: DocumentType::Ssml,
            body: "hello world".into()
        }]
    );
    let nested = output().child(
        Element::new("speak", ns::OUTPUT)
            .child(Element::new("break", ns::OUTPUT).attr("time", "1s")),
    );
    let o = start(&nested).unwrap();
    assert_eq!(
        o.documents[0].render(),
        Some(Ok(vec![Segment::Break { ms: 1000 }]))
    );
}

#[test]
fn tropo_say_from_the_seed_page() {
    let say = Element::new("say", ns::TROPO_SAY)
        .attr("voice", "allison")
        .child(
            Element::new("audio", ns::TROPO_SAY)
                .attr("src", "http://acme.com/greeting.mp3")
                .text("\n          Thanks for calling ACME company\n      "),
        )
        .child(
            Element::new("audio", ns::TROPO_SAY)
                .attr("src", "http://acme.com/package-shipped.mp3")
                .text("Your package was shipped on"),
        )
        .child(
            Element::new("say-as", ns::TROPO_SAY)
                .attr("interpret-as", "date")
                .text("12/01/2011"),
        );
    let o = start(&say).unwrap();
    assert_eq!(o.form, OutputForm::Say);
    assert_eq!(o.voice.as_deref(), Some("allison"));
    let segments = o.documents[0].render().unwrap().unwrap();
    assert_eq!(
        segments,
        vec![
            Segment::Audio {
                src: "http://acme.com/greeting.mp3".into(),
                fallback: vec![Segment::Speak {
                    text: "Thanks for calling ACME company".into(),
                    rate: 1.0,
                    volume_db: 0.0,
                    voice: None
                }]
            },
            Segment::Audio {
                src: "http://acme.com/package-shipped.mp3".into(),
                fallback: vec![Segment::Speak {
                    text: "Your package was shipped on".into(),
                    rate: 1.0,
                    volume_db: 0.0,
                    voice: None
                }]
            },
            Segment::Speak {
                text: "December first twenty eleven".into(),
                rate: 1.0,
                volume_db: 0.0,
                voice: None
            },
        ]
    );
    let written = o.to_element();
    assert!(written.is("say", ns::TROPO_SAY));
    assert_eq!(start(&written), Ok(o));
}

#[test]
fn every_bad_attribute_is_named() {
    let ok = || output().child(doc("text/plain", "hi"));
    for (attr, value) in [
        ("start-offset", "-5"),
        ("start-offset", "soon"),
        ("start-paused", "maybe"),
        ("repeat-interval", "-1"),
        ("repeat-times", "foo"),
        ("repeat-times", "-1"),
        ("max-time", "0"),
        ("max-time", "-2"),
        ("interrupt-on", "never"),
        ("voice", "a\nb"),
    ] {
        let text = refused(&ok().attr(attr, value));
        assert!(text.contains(attr), "{attr}={value}: {text}");
    }
}

#[test]
fn bad_documents() {
    let cases = [
        (output(), "needs a <document>"),
        (
            output().child(Element::new("document", ns::OUTPUT)),
            "url or a content-type",
        ),
        (output().child(doc("audio/wav", "x")), "content-type"),
        (output().child(doc("text/plain", "  ")), "empty"),
        (
            output().child(
                Element::new("document", ns::OUTPUT)
                    .attr("url", "http://x.test/a.wav")
                    .text("body"),
            ),
            "both a url and content",
        ),
        (
            output().child(Element::new("document", ns::OUTPUT).attr("url", "not a url")),
            "not a URI",
        ),
        (
            output().child(doc("application/ssml+xml", "<speak><audio/></speak>")),
            "src",
        ),
        (
            output().child(doc("application/ssml+xml", "<speak>open")),
            "not valid XML",
        ),
        (
            output().child(doc("text/uri-list", "no uri here")),
            "uri-list",
        ),
        (Element::new("say", ns::TROPO_SAY), "say needs"),
        (
            Element::new("say", ns::TROPO_SAY)
                .child(Element::new("break", ns::TROPO_SAY).attr("time", "x")),
            "time",
        ),
    ];
    for (e, needle) in cases {
        let text = refused(&e);
        assert!(text.contains(needle), "{e}: {text}");
    }
}
