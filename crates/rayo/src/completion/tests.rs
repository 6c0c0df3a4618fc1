use super::*;
use crate::cpa::CpaSignal;

fn xml(e: Element) -> String {
    e.to_xml("jabber:client")
}

#[test]
fn output_reasons_by_form() {
    assert_eq!(
        xml(OutputCompletion::Finish.to_element(OutputForm::Output)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><finish xmlns='urn:xmpp:rayo:output:complete:1'/></complete>"
    );
    assert_eq!(
        xml(OutputCompletion::MaxTime.to_element(OutputForm::Output)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><max-time xmlns='urn:xmpp:rayo:output:complete:1'/></complete>"
    );
    for reason in [OutputCompletion::Finish, OutputCompletion::MaxTime] {
        assert_eq!(
            xml(reason.to_element(OutputForm::Say)),
            "<complete xmlns='urn:xmpp:rayo:ext:1'><success xmlns='urn:xmpp:tropo:say:complete:1'/></complete>"
        );
    }
    let error =
        OutputCompletion::Core(CoreCompleteReason::Error("http://x.test/a.wav: 404".into()));
    for form in [OutputForm::Output, OutputForm::Say] {
        assert_eq!(
            xml(error.to_element(form)),
            "<complete xmlns='urn:xmpp:rayo:ext:1'><error xmlns='urn:xmpp:rayo:ext:complete:1'>http://x.test/a.wav: 404</error></complete>"
        );
    }
    assert_eq!(
        xml(OutputCompletion::Core(CoreCompleteReason::Stop).to_element(OutputForm::Say)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><stop xmlns='urn:xmpp:rayo:ext:complete:1'/></complete>"
    );
}

#[test]
fn input_match_carries_nlsml_as_text() {
    let done = InputCompletion::Match(InputMatch::dtmf("1234", "1234"));
    let e = done.to_element(PromptForm::Prompt);
    let why = e.first_child().unwrap();
    assert!(why.is("match", ns::INPUT_COMPLETE));
    assert_eq!(why.get_attr("content-type"), Some("application/nlsml+xml"));
    assert_eq!(why.text_content(), nlsml::dtmf_result_xml("1234", "1234"));
    assert_eq!(
        xml(e),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><match xmlns='urn:xmpp:rayo:input:complete:1' \
         content-type='application/nlsml+xml'>&lt;result xmlns=&apos;http://www.ietf.org/xml/ns/mrcpv2&apos;&gt;\
         &lt;interpretation confidence=&apos;1&apos;&gt;&lt;instance&gt;1234&lt;/instance&gt;\
         &lt;input mode=&apos;dtmf&apos;&gt;1234&lt;/input&gt;&lt;/interpretation&gt;&lt;/result&gt;</match></complete>"
    );
    let voice = InputMatch {
        mode: MatchMode::Voice,
        utterance: "yes".into(),
        interpretation: "true".into(),
        confidence: Permille(870),
    };
    let text = voice.nlsml().to_xml("");
    assert!(text.contains("confidence='0.87'"), "{text}");
    assert!(text.contains("<input mode='speech'>yes</input>"), "{text}");
}

#[test]
fn input_other_reasons() {
    assert_eq!(
        xml(InputCompletion::NoMatch.to_element(PromptForm::Prompt)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><nomatch xmlns='urn:xmpp:rayo:input:complete:1'/></complete>"
    );
    assert_eq!(
        xml(InputCompletion::NoInput.to_element(PromptForm::Prompt)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><noinput xmlns='urn:xmpp:rayo:input:complete:1'/></complete>"
    );
    assert_eq!(
        xml(InputCompletion::Core(CoreCompleteReason::Hangup).to_element(PromptForm::Prompt)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><hangup xmlns='urn:xmpp:rayo:ext:complete:1'/></complete>"
    );
    let beep = SignalEvent {
        signal: CpaSignal::Beep,
        value: None,
        duration_ms: Some(300),
    };
    assert_eq!(
        xml(InputCompletion::Signal(beep).to_element(PromptForm::Prompt)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><signal xmlns='urn:xmpp:rayo:cpa:1' \
         type='urn:xmpp:rayo:cpa:beep:1' duration='300'/></complete>"
    );
}

#[test]
fn ask_reasons_in_the_tropo_namespace() {
    let done = InputCompletion::Match(InputMatch::dtmf("12", "sales"));
    assert_eq!(
        xml(done.to_element(PromptForm::Ask)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><success xmlns='urn:xmpp:tropo:ask:complete:1' \
         mode='dtmf' confidence='1'><interpretation>sales</interpretation><utterance>12</utterance>\
         </success></complete>"
    );
    assert_eq!(
        xml(InputCompletion::NoMatch.to_element(PromptForm::Ask)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><nomatch xmlns='urn:xmpp:tropo:ask:complete:1'/></complete>"
    );
    assert_eq!(
        xml(InputCompletion::NoInput.to_element(PromptForm::Ask)),
        "<complete xmlns='urn:xmpp:rayo:ext:1'><noinput xmlns='urn:xmpp:tropo:ask:complete:1'/></complete>"
    );
}

#[test]
fn record_reasons_come_first_then_the_recording() {
    let rec = Recording {
        uri: "http://127.0.0.1:8080/recordings/c1-1.wav?exp=1&sig=ab".into(),
        duration_ms: 3000,
        size: 96044,
    };
    let recording = "<recording xmlns='urn:xmpp:rayo:record:complete:1' \
                     uri='http://127.0.0.1:8080/recordings/c1-1.wav?exp=1&amp;sig=ab' duration='3000' size='96044'/>";
    for (reason, why) in [
        (
            RecordCompletion::MaxDuration,
            "<max-duration xmlns='urn:xmpp:rayo:record:complete:1'/>",
        ),
        (
            RecordCompletion::InitialTimeout,
            "<initial-timeout xmlns='urn:xmpp:rayo:record:complete:1'/>",
        ),
        (
            RecordCompletion::FinalTimeout,
            "<final-timeout xmlns='urn:xmpp:rayo:record:complete:1'/>",
        ),
        (
            RecordCompletion::Core(CoreCompleteReason::Stop),
            "<stop xmlns='urn:xmpp:rayo:ext:complete:1'/>",
        ),
        (
            RecordCompletion::Core(CoreCompleteReason::Hangup),
            "<hangup xmlns='urn:xmpp:rayo:ext:complete:1'/>",
        ),
        (
            RecordCompletion::Core(CoreCompleteReason::Error("disk full".into())),
            "<error xmlns='urn:xmpp:rayo:ext:complete:1'>disk full</error>",
        ),
    ] {
        assert_eq!(
            xml(reason.to_element(&rec)),
            format!("<complete xmlns='urn:xmpp:rayo:ext:1'>{why}{recording}</complete>")
        );
    }
}

#[test]
fn intermediate_events() {
    assert_eq!(
        xml(ComponentEvent::InputTimersStarted.to_element()),
        "<input-timers-started xmlns='urn:xmpp:rayo:prompt:1'/>"
    );
    let dtmf = ComponentEvent::Signal(SignalEvent {
        signal: CpaSignal::Dtmf,
        value: Some("5".into()),
        duration_ms: Some(120),
    });
    assert_eq!(
        xml(dtmf.to_element()),
        "<signal xmlns='urn:xmpp:rayo:cpa:1' type='urn:xmpp:rayo:cpa:dtmf:1' value='5' duration='120'/>"
    );
    let payload = dtmf.payload(Some(SystemTime::UNIX_EPOCH));
    assert_eq!(payload.len(), 2);
    assert_eq!(payload[1].name(), "delay");
}
