//! Components on a mixer, with scripted mixer events: the ref from the
//! mixer's component JID, events and the completion to the owner only,
//! owner-only commands, the room's end completing them with hangup,
//! refusals of the mixer as IQ errors, recordings' URIs, fetched documents.

use call_control::{AnnouncementEnd, Command, RecordEnd, Recording};

use super::mixers::{join_conf1, taken, MIXER_JID};
use super::*;

/// Stanzas sent and mixer requests asked since the last call.
#[derive(Debug, Default)]
struct Polled {
    sent: Vec<(String, String)>,
    requests: Vec<(String, Request)>,
    fetches: Vec<Output>,
}

fn poll(h: &mut Harness) -> Polled {
    let mut polled = Polled::default();
    while let Some(output) = h.adapter.poll_output() {
        match output {
            Output::Send { to, stanza } => polled
                .sent
                .push((to.node().unwrap_or("").to_owned(), stanza.to_xml(CLIENT_NS))),
            Output::MixerRequest { mixer, request } => polled.requests.push((mixer, request)),
            fetch @ Output::Fetch { .. } => polled.fetches.push(fetch),
            _ => {}
        }
    }
    polled
}

/// usera and userb each with a call in `conf1`.
fn room(dialect: Dialect) -> (Harness, TestCall, TestCall) {
    let mut h = Harness::new(dialect);
    let mut a = taken(&mut h, 1, "usera");
    let mut b = taken(&mut h, 2, "userb");
    join_conf1(&mut h, &mut a, "usera", "j1");
    join_conf1(&mut h, &mut b, "userb", "j2");
    h.sent();
    (h, a, b)
}

fn say() -> Element {
    Element::new("say", rayo::ns::TROPO_SAY).text("welcome")
}

/// `client` starts `payload` on conf1 and the mixer accepts it: the
/// request id and the component's JID.
fn start(h: &mut Harness, client: &str, payload: Element) -> (u64, String) {
    h.iq(client, MIXER_JID, "s", payload);
    let polled = poll(h);
    assert!(polled.sent.is_empty(), "{:?}", polled.sent);
    let [(mixer, request)] = polled.requests.as_slice() else {
        panic!("one mixer request: {polled:?}");
    };
    assert_eq!(mixer, "conf1");
    h.adapter
        .mixer_event("conf1", Event::Started { id: request.id });
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, client);
    assert!(sent[0].1.contains("type='result'"), "{}", sent[0].1);
    let start = sent[0].1.find("uri='xmpp:").expect("uri") + "uri='xmpp:".len();
    let end = sent[0].1[start..].find('\'').expect("quote") + start;
    (request.id, sent[0].1[start..end].to_owned())
}

fn stop(h: &mut Harness, client: &str, component: &str) {
    h.iq(client, component, "x", Element::new("stop", rayo::ns::EXT));
}

#[test]
fn an_output_on_a_mixer_is_refd_from_its_component_jid_and_completes_to_its_owner_only() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    // The mixer's JID in any case names it.
    h.iq(
        "usera",
        "Conf1@rayo.test",
        "o1",
        Element::new("output", rayo::ns::OUTPUT).child(
            Element::new("document", rayo::ns::OUTPUT)
                .attr("content-type", "text/uri-list")
                .text("file://welcome.wav"),
        ),
    );
    let polled = poll(&mut h);
    assert!(polled.sent.is_empty(), "no answer before the mixer has it");
    let [(mixer, Request { id, command })] = polled.requests.as_slice() else {
        panic!("one request: {polled:?}");
    };
    assert_eq!(mixer, "conf1");
    assert!(matches!(command, Command::Announce(_)), "{command:?}");
    let id = *id;
    h.adapter.mixer_event("conf1", Event::Started { id });
    let component = format!("{MIXER_JID}/output-{id}");
    assert_eq!(
        h.sent(),
        [(
            "usera".to_owned(),
            format!("<iq type='result' id='o1' to='usera@rayo.test/app' from='Conf1@rayo.test'><ref xmlns='urn:xmpp:rayo:1' uri='xmpp:{component}' id='output-{id}'/></iq>")
        )]
    );
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Ok(Produced::Announced(AnnouncementEnd::Finished)),
        },
    );
    assert_eq!(
        h.sent(),
        [(
            "usera".to_owned(),
            format!("<presence from='{component}' to='usera@rayo.test/app' type='unavailable'><complete xmlns='urn:xmpp:rayo:ext:1'><finish xmlns='urn:xmpp:rayo:output:complete:1'/></complete></presence>")
        )]
    );
    // Complete: unknown now.
    stop(&mut h, "usera", &component);
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn only_the_owner_commands_a_mixer_component_and_only_members_start_one() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let (id, component) = start(&mut h, "usera", say());
    assert_eq!(component, format!("{MIXER_JID}/say-{id}"));
    stop(&mut h, "userb", &component);
    assert_eq!(condition(&h.sent()[0].1), Some("conflict"));
    // A client with no call in the room may not start one.
    h.iq("userc", MIXER_JID, "c", say());
    assert_eq!(condition(&h.sent()[0].1), Some("not-allowed"));

    stop(&mut h, "usera", &component);
    let polled = poll(&mut h);
    let [(_, stop_request)] = polled.requests.as_slice() else {
        panic!("the stop: {polled:?}");
    };
    assert_eq!(stop_request.command, Command::Stop { target: id });
    h.adapter.mixer_event("conf1", done(stop_request.id));
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Err(Failure::Stopped),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0].1,
        format!("<iq type='result' id='x' to='usera@rayo.test/app' from='{component}'/>")
    );
    assert!(sent[1]
        .1
        .contains("<stop xmlns='urn:xmpp:rayo:ext:complete:1'/>"));
    assert!(sent.iter().all(|(to, _)| to == "usera"));
}

#[test]
fn input_events_come_from_the_component_jid_to_the_owner() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let grammar = "<grammar xmlns='http://www.w3.org/2001/06/grammar' root='r' mode='dtmf'><rule id='r'><item>1</item></rule></grammar>";
    let input = Element::new("input", rayo::ns::INPUT)
        .attr("mode", "dtmf")
        .child(
            Element::new("grammar", rayo::ns::INPUT)
                .attr("content-type", "application/srgs+xml")
                .text(grammar),
        );
    let (id, component) = start(&mut h, "userb", input);
    assert_eq!(component, format!("{MIXER_JID}/input-{id}"));
    h.adapter
        .mixer_event("conf1", Event::InputTimersStarted { id });
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "userb");
    assert!(
        sent[0]
            .1
            .starts_with(&format!("<presence from='{component}'")),
        "{}",
        sent[0].1
    );
    assert!(!sent[0].1.contains("unavailable"));
}

#[test]
fn the_room_emptying_waits_for_its_components_before_it_goes() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let (id, component) = start(&mut h, "usera", say());
    // A second start the mixer has not answered yet.
    h.iq("userb", MIXER_JID, "late", say());
    let late = poll(&mut h).requests[0].1.id;
    h.adapter.call_event(1, unjoined());
    h.sent();
    h.adapter.call_event(2, unjoined());
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 2, "{xml:#?}");
    assert!(xml[1].contains("<unjoined xmlns='urn:xmpp:rayo:1' call-uri="));
    // Emptied: no new component starts on it.
    h.iq("usera", MIXER_JID, "x", say());
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    // The mixer completes what it had, then the room is gone.
    let hangup = |id| Event::Done {
        id,
        result: Err(Failure::CallEnded),
    };
    h.adapter.mixer_event("conf1", hangup(late));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "userb");
    assert_eq!(condition(&sent[0].1), Some("item-not-found"));
    h.adapter.mixer_event("conf1", hangup(id));
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 3, "{xml:#?}");
    assert_eq!(
        xml[0],
        format!("<presence from='{component}' to='usera@rayo.test/app' type='unavailable'><complete xmlns='urn:xmpp:rayo:ext:1'><hangup xmlns='urn:xmpp:rayo:ext:complete:1'/></complete></presence>")
    );
    assert_eq!(
        xml[1],
        format!("<presence from='{MIXER_JID}' to='usera@rayo.test/app' type='unavailable'/>")
    );
    assert_eq!(
        xml[2],
        format!("<presence from='{MIXER_JID}' to='userb@rayo.test/app' type='unavailable'/>")
    );
    // The mixer's own end comes after: nothing follows.
    h.adapter.mixer_event("conf1", ended());
    assert!(h.sent().is_empty());
}

#[test]
fn a_room_recording_completes_with_its_file_after_the_room_emptied() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let record = Element::new("record", rayo::ns::RECORD);
    let (id, component) = start(&mut h, "userb", record);
    let (other, second) = start(&mut h, "usera", say());
    h.adapter.call_event(1, unjoined());
    h.adapter.call_event(2, unjoined());
    h.sent();
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Ok(Produced::Recording(Recording {
                end: RecordEnd::Hangup,
                file: "conf1-2.wav".into(),
                duration: std::time::Duration::from_millis(5000),
                size: 80044,
            })),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.starts_with(&format!("<presence from='{component}' to='userb@rayo.test/app' type='unavailable'><complete xmlns='urn:xmpp:rayo:ext:1'><hangup xmlns='urn:xmpp:rayo:ext:complete:1'/><recording xmlns='urn:xmpp:rayo:record:complete:1' uri='conf1-2.wav'")), "{}", sent[0].1);
    // Its end completes what the mixer did not report, then it goes.
    h.adapter.mixer_event("conf1", ended());
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 3, "{xml:#?}");
    assert!(xml[0].starts_with(&format!("<presence from='{second}'")));
    assert!(xml[0].contains("<hangup "));
    assert!(xml[1].contains("type='unavailable'/>") && xml[2].contains("type='unavailable'/>"));
    assert_ne!(id, other);
}

fn ended() -> Event {
    Event::Ended {
        reason: EndReason::Hangup,
        code: None,
        headers: vec![],
    }
}

#[test]
fn the_mixer_ending_completes_and_forgets_its_components() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let (id, component) = start(&mut h, "usera", say());
    // The call side ends every component, then the mixer.
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Err(Failure::CallEnded),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains("<hangup "), "{}", sent[0].1);
    let (_, second) = start(&mut h, "usera", say());
    h.adapter.mixer_event(
        "conf1",
        Event::Ended {
            reason: EndReason::Hangup,
            code: None,
            headers: vec![],
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.starts_with(&format!("<presence from='{second}'")));
    assert!(sent[0].1.contains("<hangup "));
    stop(&mut h, "usera", &component);
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    stop(&mut h, "usera", &second);
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn a_mixer_refusing_a_request_answers_its_iq_with_the_error() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    // Gone between the IQ and the request (the driver's NotFound).
    h.iq("usera", MIXER_JID, "n", say());
    let id = poll(&mut h).requests[0].1.id;
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Err(Failure::NotFound("conf1".into())),
        },
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    // Its queue full.
    h.iq("usera", MIXER_JID, "f", say());
    let id = poll(&mut h).requests[0].1.id;
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Err(Failure::Internal("the mixer is busy".into())),
        },
    );
    assert_eq!(condition(&h.sent()[0].1), Some("internal-server-error"));
    // A rule of the mixer's (one output at a time, say).
    h.iq("usera", MIXER_JID, "c", say());
    let id = poll(&mut h).requests[0].1.id;
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Err(Failure::Conflict("an output runs".into())),
        },
    );
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("conflict"));
    assert!(!sent[0].1.contains("<ref"));
    // An unknown mixer, a mixer's unknown component.
    h.iq("usera", "conf2@rayo.test", "u", say());
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    stop(&mut h, "usera", &format!("{MIXER_JID}/say-99"));
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn a_mixer_recording_completes_with_its_signed_uri() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    h.adapter.settings.recording_uri = RecordingUri(Arc::new(|file: &str| {
        format!("https://rec.test/{file}?sig=1")
    }));
    let record = Element::new("record", rayo::ns::RECORD).attr("max-duration", "3000");
    let (id, component) = start(&mut h, "usera", record);
    assert_eq!(component, format!("{MIXER_JID}/record-{id}"));
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Ok(Produced::Recording(Recording {
                end: RecordEnd::MaxDuration,
                file: "conf1-1.wav".into(),
                duration: std::time::Duration::from_millis(3000),
                size: 48044,
            })),
        },
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].1.contains("<complete xmlns='urn:xmpp:rayo:ext:1'><max-duration xmlns='urn:xmpp:rayo:record:complete:1'/><recording xmlns='urn:xmpp:rayo:record:complete:1' uri='https://rec.test/conf1-1.wav?sig=1' duration='3000' size='48044'/></complete>"),
        "{}",
        sent[0].1
    );
}

#[test]
fn a_document_by_url_is_fetched_before_the_mixer_gets_it() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let url = "http://docs.test/hello.ssml";
    h.iq(
        "usera",
        MIXER_JID,
        "d",
        Element::new("output", rayo::ns::OUTPUT).child(
            Element::new("document", rayo::ns::OUTPUT)
                .attr("url", url)
                .attr("content-type", "application/ssml+xml"),
        ),
    );
    let mut polled = poll(&mut h);
    assert!(polled.requests.is_empty() && polled.sent.is_empty());
    let Some(Output::Fetch {
        client,
        iq,
        call,
        component,
        urls,
    }) = polled.fetches.pop()
    else {
        panic!("a fetch");
    };
    assert_eq!(
        (call.as_str(), urls.as_slice()),
        ("conf1", [url.to_owned()].as_slice())
    );
    let body = "<speak xmlns='http://www.w3.org/2001/10/synthesis'>hello</speak>";
    h.adapter.fetched(
        client,
        &iq,
        &call,
        component,
        Ok(vec![(url.into(), body.into())]),
    );
    let polled = poll(&mut h);
    let [(mixer, request)] = polled.requests.as_slice() else {
        panic!("the announcement: {polled:?}");
    };
    assert_eq!(mixer, "conf1");
    assert!(matches!(request.command, Command::Announce(_)));
}

#[test]
fn the_wiki_dialect_refs_a_mixer_component_by_id() {
    let (mut h, _a, _b) = room(Dialect::Wiki);
    h.iq("usera", MIXER_JID, "w", say());
    let id = poll(&mut h).requests[0].1.id;
    h.adapter.mixer_event("conf1", Event::Started { id });
    let sent = h.sent();
    assert!(
        sent[0].1.ends_with(&format!(
            "<ref xmlns='urn:xmpp:rayo:1' id='say-{id}'/></iq>"
        )),
        "{}",
        sent[0].1
    );
    h.adapter.mixer_event(
        "conf1",
        Event::Done {
            id,
            result: Ok(Produced::Announced(AnnouncementEnd::Finished)),
        },
    );
    let xml = &h.sent()[0].1;
    assert!(xml.starts_with(&format!("<presence from='{MIXER_JID}/say-{id}'")));
    assert!(!xml.contains("type='unavailable'"));
}

#[test]
fn a_client_gone_past_its_grace_has_its_mixer_components_stopped() {
    let (mut h, _a, _b) = room(Dialect::Xep);
    let (id, _) = start(&mut h, "usera", say());
    let (other, _) = start(&mut h, "userb", say());
    h.adapter.closed(h.now, &jid("usera"));
    h.adapter.handle_timeout(h.now + DISCONNECT_GRACE);
    let polled = poll(&mut h);
    let stops: Vec<&Command> = polled
        .requests
        .iter()
        .filter(|(mixer, _)| mixer == "conf1")
        .map(|(_, r)| &r.command)
        .collect();
    assert_eq!(stops, [&Command::Stop { target: id }]);
    assert_ne!(id, other);
}

fn unjoined() -> Event {
    Event::Unjoined {
        target: call_control::JoinTarget::Mixer("conf1".into()),
    }
}
