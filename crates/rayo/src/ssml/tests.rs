use super::*;

fn speak(text: &str) -> Segment {
    Segment::Speak {
        text: text.into(),
        rate: 1.0,
        volume_db: 0.0,
        voice: None,
    }
}

#[test]
fn speak_document_with_audio_and_break() {
    let doc = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>\
               Hello <audio src='http://files.example/beep.wav'/> <break time='300ms'/>world</speak>";
    assert_eq!(
        parse_ssml(doc).unwrap(),
        vec![
            speak("Hello"),
            Segment::Audio {
                src: "http://files.example/beep.wav".into(),
                fallback: vec![]
            },
            Segment::Break { ms: 300 },
            speak("world"),
        ]
    );
}

#[test]
fn audio_content_is_its_fallback() {
    let doc = "<speak><audio src='http://acme.test/greeting.mp3'>\n  Thanks for calling <say-as interpret-as='digits'>42</say-as>\n</audio></speak>";
    assert_eq!(
        parse_ssml(doc).unwrap(),
        vec![Segment::Audio {
            src: "http://acme.test/greeting.mp3".into(),
            fallback: vec![speak("Thanks for calling 4 2")],
        }]
    );
    let err = parse_ssml("<speak><audio/></speak>").unwrap_err();
    assert_eq!(err.to_string(), "<audio> needs 'src'");
}

#[test]
fn breaks_by_time_and_strength() {
    let b = |attrs: &str| parse_ssml(&format!("<speak><break {attrs}/></speak>"));
    assert_eq!(b("time='2s'").unwrap(), vec![Segment::Break { ms: 2000 }]);
    assert_eq!(b("time='1.5s'").unwrap(), vec![Segment::Break { ms: 1500 }]);
    assert_eq!(b("").unwrap(), vec![Segment::Break { ms: 500 }]);
    assert_eq!(
        b("strength='x-strong'").unwrap(),
        vec![Segment::Break { ms: 1000 }]
    );
    assert_eq!(b("strength='none'").unwrap(), vec![]);
    for bad in [
        "time='soon'",
        "time='-1s'",
        "time='2h'",
        "time='3600s'",
        "strength='huge'",
    ] {
        assert!(matches!(b(bad), Err(SsmlError::Attribute { .. })), "{bad}");
    }
}

#[test]
fn say_as_kinds_expand() {
    let doc = "<speak>PIN <say-as interpret-as='digits'>1234</say-as>, \
               <say-as interpret-as='number'>21</say-as> on \
               <say-as interpret-as='date'>12/01/2011</say-as> at \
               <say-as interpret-as='time'>09:30</say-as> code \
               <say-as interpret-as='characters'>AB</say-as></speak>";
    assert_eq!(
        parse_ssml(doc).unwrap(),
        vec![speak(
            "PIN 1 2 3 4 , twenty one on December first twenty eleven at nine thirty code A B"
        )]
    );
}

#[test]
fn prosody_rate_and_volume() {
    let doc = "<speak>a<prosody rate='x-slow' volume='loud'>b<prosody rate='200%' volume='-3dB'>c</prosody></prosody>\
               <prosody rate='+50%' volume='silent'>d</prosody><prosody rate='2' volume='50'>e</prosody></speak>";
    let segments = parse_ssml(doc).unwrap();
    let got: Vec<(String, f32, f32)> = segments
        .into_iter()
        .map(|s| match s {
            Segment::Speak {
                text,
                rate,
                volume_db,
                ..
            } => (text, rate, volume_db),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got[0], ("a".into(), 1.0, 0.0));
    assert_eq!(got[1], ("b".into(), 0.5, 6.0));
    assert_eq!(got[2], ("c".into(), 1.0, 3.0));
    assert_eq!(got[3], ("d".into(), 1.5, SILENT_DB));
    assert_eq!(got[4].1, 2.0);
    assert!((got[4].2 + 6.02).abs() < 0.01, "{:?}", got[4]);
    for bad in [
        "rate='warp'",
        "rate='-5'",
        "volume='+100dB'",
        "volume='150'",
        "volume='loudest'",
    ] {
        let doc = format!("<speak><prosody {bad}>x</prosody></speak>");
        assert!(
            matches!(parse_ssml(&doc), Err(SsmlError::Attribute { .. })),
            "{bad}"
        );
    }
    let fast = parse_ssml("<speak><prosody rate='10'>x</prosody></speak>").unwrap();
    assert!(matches!(fast[0], Segment::Speak { rate, .. } if rate == RATE_BOUNDS.1));
}

#[test]
fn paragraphs_sentences_voice_and_unknown_elements() {
    let doc = "<speak><p><s>One.</s><s>Two.</s></p><voice name='mary'>Hi</voice>\
               <emphasis>strong</emphasis><mark name='m'/><sub alias='World Wide Web'>WWW</sub></speak>";
    assert_eq!(
        parse_ssml(doc).unwrap(),
        vec![
            speak("One. Two."),
            Segment::Speak {
                text: "Hi".into(),
                rate: 1.0,
                volume_db: 0.0,
                voice: Some("mary".into())
            },
            speak("strong World Wide Web"),
        ]
    );
}

#[test]
fn fragments_and_plain_text() {
    assert_eq!(
        parse_ssml("  hello   world ").unwrap(),
        vec![speak("hello world")]
    );
    assert_eq!(
        parse_ssml("fish & chips").unwrap(),
        vec![speak("fish & chips")]
    );
    assert_eq!(
        parse_ssml("Your code is <say-as interpret-as='digits'>12</say-as>").unwrap(),
        vec![speak("Your code is 1 2")]
    );
    assert_eq!(plain_text(" a\n b "), vec![speak("a b")]);
    assert_eq!(plain_text("  "), vec![]);
    assert!(matches!(
        parse_ssml("<speak>unclosed"),
        Err(SsmlError::Xml(_))
    ));
    assert!(matches!(
        parse_ssml("<!DOCTYPE speak [<!ENTITY x 'y'>]><speak>&x;</speak>"),
        Err(SsmlError::Xml(_))
    ));
}

#[test]
fn uri_lists_skip_comments() {
    let list = "# greeting\nhttp://files.test/a.wav\r\n\n  file:///var/b.wav  \n";
    assert_eq!(
        parse_uri_list(list).unwrap(),
        vec![
            Segment::Audio {
                src: "http://files.test/a.wav".into(),
                fallback: vec![]
            },
            Segment::Audio {
                src: "file:///var/b.wav".into(),
                fallback: vec![]
            },
        ]
    );
    assert_eq!(
        parse_uri_list("not a uri"),
        Err(SsmlError::BadUri("not a uri".into()))
    );
}

#[test]
fn bounds_hold() {
    let deep = format!("<speak>{}x{}</speak>", "<p>".repeat(64), "</p>".repeat(64));
    assert!(matches!(parse_ssml(&deep), Err(SsmlError::Xml(_))));
    let many = format!("<speak>{}</speak>", "a<break/>".repeat(MAX_SEGMENTS));
    assert_eq!(parse_ssml(&many), Err(SsmlError::TooManySegments));
    let big = format!("<speak>{}</speak>", "a".repeat(MAX_SSML_BYTES));
    assert!(matches!(parse_ssml(&big), Err(SsmlError::Xml(_))));
    let list = "http://x.test/a.wav\n".repeat(MAX_SEGMENTS + 1);
    assert_eq!(parse_uri_list(&list), Err(SsmlError::TooManySegments));
}
