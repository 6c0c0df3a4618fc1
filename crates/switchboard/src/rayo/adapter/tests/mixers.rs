//! Mixers seen from two clients, each controlling one call in `conf1`: the
//! join's ref, the mixer's caps once per client, joined / speaking /
//! unjoined from the mixer to both, unavailable when the room empties;
//! the wiki spelling; a hangup's unjoined before its end; IQs to a mixer.

use super::*;

pub(super) const MIXER_JID: &str = "conf1@rayo.test";

/// A call offered to and taken by `client` (its digit subscription done).
pub(super) fn taken(h: &mut Harness, key: CallKey, client: &str) -> TestCall {
    let mut call = Harness::call(key, 8);
    h.invite(&call, client, false);
    h.command(client, key, "a", "answer");
    for request in requests(&mut call) {
        h.adapter.call_event(key, done(request.id));
    }
    h.sent();
    call
}

/// `client` joins call `key` to `conf1`; the call says done, then joined.
pub(super) fn join_conf1(h: &mut Harness, call: &mut TestCall, client: &str, id: &str) {
    let key = call.handle.key;
    let to = h.call_jid(key);
    h.iq(
        client,
        &to,
        id,
        Element::new("join", rayo::ns::RAYO)
            .attr("mixer-name", "conf1")
            .attr("direction", "duplex"),
    );
    let request = requests(call).pop().expect("the join request");
    assert_eq!(
        request.command,
        Command::Join(call_control::Join {
            target: call_control::JoinTarget::Mixer("conf1".into()),
            direction: call_control::JoinDirection::Duplex,
        })
    );
    h.adapter.call_event(key, done(request.id));
    h.adapter.call_event(
        key,
        Event::Joined {
            target: call_control::JoinTarget::Mixer("conf1".into()),
            direction: call_control::JoinDirection::Duplex,
        },
    );
}

fn mixer_event(h: &Harness, key: CallKey, name: &str) -> String {
    let call_id = h.adapter.call_id(key).expect("call");
    format!(
        "<{name} xmlns='urn:xmpp:rayo:1' call-uri='xmpp:{call_id}@rayo.test' call-id='{call_id}'/>"
    )
}

fn from_mixer(to: &str, payload: &str) -> String {
    format!("<presence from='{MIXER_JID}' to='{to}@rayo.test/app'>{payload}</presence>")
}

fn caps() -> String {
    let ver = rayo::caps::caps_ver(&[rayo::caps::MIXER_IDENTITY], &rayo::caps::ENTITY_FEATURES);
    format!("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='urn:xmpp:rayo:mixer:1' ver='{ver}'/>")
}

fn unjoined_mixer() -> Event {
    Event::Unjoined {
        target: call_control::JoinTarget::Mixer("conf1".into()),
    }
}

#[test]
fn two_clients_in_a_mixer_hear_joins_speakers_leaves_and_its_end() {
    let mut h = Harness::new(Dialect::Xep);
    let mut a = taken(&mut h, 1, "usera");
    let mut b = taken(&mut h, 2, "userb");
    let (a_jid, b_jid) = (h.call_jid(1), h.call_jid(2));

    join_conf1(&mut h, &mut a, "usera", "j1");
    assert_eq!(
        h.sent(),
        [
            (
                "usera".to_owned(),
                format!("<iq type='result' id='j1' to='usera@rayo.test/app' from='{a_jid}'><ref xmlns='urn:xmpp:rayo:1' uri='xmpp:conf1@rayo.test' id='conf1'/></iq>")
            ),
            (
                "usera".to_owned(),
                format!("<presence from='{a_jid}' to='usera@rayo.test/app'><joined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/></presence>")
            ),
            (
                "usera".to_owned(),
                from_mixer("usera", &format!("{}{}", caps(), mixer_event(&h, 1, "joined")))
            ),
        ]
    );

    join_conf1(&mut h, &mut b, "userb", "j2");
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 4, "{xml:#?}");
    assert!(xml[0].contains("<ref xmlns='urn:xmpp:rayo:1' uri='xmpp:conf1@rayo.test'"));
    assert_eq!(
        xml[1],
        format!("<presence from='{b_jid}' to='userb@rayo.test/app'><joined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/></presence>")
    );
    // usera has had the caps; userb gets them with its first.
    let joined_b = mixer_event(&h, 2, "joined");
    assert_eq!(xml[2], from_mixer("usera", &joined_b));
    assert_eq!(
        xml[3],
        from_mixer("userb", &format!("{}{joined_b}", caps()))
    );

    // Speaker events, once per change, to both.
    let speaking = |on| Event::Speaking {
        mixer: "conf1".into(),
        speaking: on,
    };
    h.adapter.call_event(2, speaking(true));
    h.adapter.call_event(2, speaking(true));
    h.adapter.call_event(2, speaking(false));
    let started = mixer_event(&h, 2, "started-speaking");
    let stopped = mixer_event(&h, 2, "stopped-speaking");
    assert_eq!(
        h.sent(),
        [
            ("usera".to_owned(), from_mixer("usera", &started)),
            ("userb".to_owned(), from_mixer("userb", &started)),
            ("usera".to_owned(), from_mixer("usera", &stopped)),
            ("userb".to_owned(), from_mixer("userb", &stopped)),
        ]
    );

    // usera unjoins: the call's own unjoined, then the mixer's to both.
    h.iq(
        "usera",
        &a_jid,
        "u1",
        Element::new("unjoin", rayo::ns::RAYO).attr("mixer-name", "conf1"),
    );
    let unjoin = requests(&mut a).pop().expect("unjoin");
    assert_eq!(
        unjoin.command,
        Command::Unjoin {
            target: call_control::JoinTarget::Mixer("conf1".into())
        }
    );
    h.adapter.call_event(1, done(unjoin.id));
    h.adapter.call_event(1, unjoined_mixer());
    let unjoined_a = mixer_event(&h, 1, "unjoined");
    assert_eq!(
        h.sent(),
        [
            (
                "usera".to_owned(),
                format!("<iq type='result' id='u1' to='usera@rayo.test/app' from='{a_jid}'/>")
            ),
            (
                "usera".to_owned(),
                format!("<presence from='{a_jid}' to='usera@rayo.test/app'><unjoined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/></presence>")
            ),
            ("usera".to_owned(), from_mixer("usera", &unjoined_a)),
            ("userb".to_owned(), from_mixer("userb", &unjoined_a)),
        ]
    );
    // A speaker report of a call no longer in the room is dropped.
    h.adapter.call_event(1, speaking(true));
    assert!(h.sent().is_empty());

    // The last one out: unjoined to userb, then unavailable to both.
    h.adapter.call_event(2, unjoined_mixer());
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 4, "{xml:#?}");
    assert!(xml[0].contains("<unjoined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/>"));
    assert_eq!(xml[1], from_mixer("userb", &mixer_event(&h, 2, "unjoined")));
    assert_eq!(
        xml[2],
        format!("<presence from='{MIXER_JID}' to='usera@rayo.test/app' type='unavailable'/>")
    );
    assert_eq!(
        xml[3],
        format!("<presence from='{MIXER_JID}' to='userb@rayo.test/app' type='unavailable'/>")
    );

    // Gone: an IQ to it is item-not-found; a new room starts with caps again.
    h.iq(
        "usera",
        MIXER_JID,
        "x",
        Element::new("output", rayo::ns::OUTPUT),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    join_conf1(&mut h, &mut a, "usera", "j3");
    assert!(h.sent()[2].1.contains(&caps()));
}

#[test]
fn the_wiki_dialect_refs_the_mixer_by_id() {
    let mut h = Harness::new(Dialect::Wiki);
    let mut a = taken(&mut h, 1, "usera");
    join_conf1(&mut h, &mut a, "usera", "j1");
    let sent = h.sent();
    assert!(
        sent[0]
            .1
            .ends_with("><ref xmlns='urn:xmpp:rayo:1' id='conf1'/></iq>"),
        "{}",
        sent[0].1
    );
    assert_eq!(
        sent[2].1,
        from_mixer(
            "usera",
            &format!("{}{}", caps(), mixer_event(&h, 1, "joined"))
        )
    );
    h.adapter.call_event(1, unjoined_mixer());
    let sent = h.sent();
    assert_eq!(
        sent.last().map(|(_, x)| x.as_str()),
        Some("<presence from='conf1@rayo.test' to='usera@rayo.test/app' type='unavailable'/>")
    );
}

#[test]
fn a_hangup_leaves_the_mixer_before_the_end() {
    let mut h = Harness::new(Dialect::Xep);
    let mut a = taken(&mut h, 1, "usera");
    let mut b = taken(&mut h, 2, "userb");
    join_conf1(&mut h, &mut a, "usera", "j1");
    join_conf1(&mut h, &mut b, "userb", "j2");
    h.sent();
    // The call side breaks the join, then ends the call.
    h.adapter.call_event(2, unjoined_mixer());
    h.adapter.call_event(
        2,
        Event::Ended {
            reason: EndReason::CallerHangup,
            code: None,
            headers: vec![],
        },
    );
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 4, "{xml:#?}");
    assert!(xml[0].contains("<unjoined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/>"));
    assert!(xml[1].starts_with(&format!("<presence from='{MIXER_JID}' to='usera")));
    assert!(xml[1].contains("<unjoined xmlns='urn:xmpp:rayo:1' call-uri="));
    assert!(xml[2].starts_with(&format!("<presence from='{MIXER_JID}' to='userb")));
    assert!(xml[3].contains("<end xmlns='urn:xmpp:rayo:1'><hungup/></end>"));
    // The room lives on with usera's call: its components go to the mixer.
    let say = Element::new("say", rayo::ns::TROPO_SAY).text("hello");
    h.iq("usera", MIXER_JID, "o", say);
    assert!(h.sent().is_empty(), "answered once the mixer has it");
}

#[test]
fn a_call_that_vanishes_leaves_its_mixer_before_its_end() {
    let mut h = Harness::new(Dialect::Xep);
    let mut a = taken(&mut h, 1, "usera");
    join_conf1(&mut h, &mut a, "usera", "j1");
    h.sent();
    drop(a.requests);
    h.adapter.call_gone(h.now, 1);
    h.adapter.handle_timeout(h.now + GONE_WAIT);
    let sent = h.sent();
    let xml: Vec<&str> = sent.iter().map(|(_, x)| x.as_str()).collect();
    assert_eq!(xml.len(), 4, "{xml:#?}");
    assert!(xml[0].contains("<unjoined xmlns='urn:xmpp:rayo:1' mixer-name='conf1'/>"));
    assert!(xml[1].contains("<unjoined xmlns='urn:xmpp:rayo:1' call-uri="));
    assert!(xml[2].contains("type='unavailable'/>") && xml[2].contains(MIXER_JID));
    assert!(xml[3].contains("<end xmlns='urn:xmpp:rayo:1'><error>"));
}

#[test]
fn iqs_to_a_mixer_jid() {
    let mut h = Harness::new(Dialect::Xep);
    h.iq(
        "usera",
        MIXER_JID,
        "1",
        Element::new("output", rayo::ns::OUTPUT),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
    let mut a = taken(&mut h, 1, "usera");
    join_conf1(&mut h, &mut a, "usera", "j1");
    h.sent();
    let disco = Element::new("iq", CLIENT_NS)
        .attr("type", "get")
        .attr("id", "d")
        .attr("to", MIXER_JID)
        .child(Element::new("query", events::DISCO_INFO));
    h.adapter.stanza(jid("userb"), disco);
    let sent = h.sent();
    assert!(
        sent[0]
            .1
            .contains("<identity category='client' type='rayo_mixer'/>"),
        "{}",
        sent[0].1
    );
    // userb has no call in the room: it may not start components on it.
    h.iq(
        "userb",
        MIXER_JID,
        "2",
        Element::new("record", rayo::ns::RECORD),
    );
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("not-allowed"));
    // A call command is not for a mixer.
    h.iq(
        "usera",
        MIXER_JID,
        "h",
        Element::new("hangup", rayo::ns::RAYO),
    );
    let sent = h.sent();
    assert_eq!(condition(&sent[0].1), Some("feature-not-implemented"));
    let component = format!("{MIXER_JID}/output-1");
    h.iq(
        "usera",
        &component,
        "3",
        Element::new("stop", rayo::ns::EXT),
    );
    assert_eq!(condition(&h.sent()[0].1), Some("item-not-found"));
}

#[test]
fn a_client_whose_stream_closed_is_forgotten_by_the_mixer() {
    let mut h = Harness::new(Dialect::Xep);
    let mut a = taken(&mut h, 1, "usera");
    let mut b = taken(&mut h, 2, "userb");
    join_conf1(&mut h, &mut a, "usera", "j1");
    join_conf1(&mut h, &mut b, "userb", "j2");
    h.sent();
    let speaking = |on| Event::Speaking {
        mixer: "conf1".into(),
        speaking: on,
    };
    h.adapter.closed(h.now, &jid("usera"));
    // Closed: the mixer tells it nothing.
    h.adapter.call_event(2, speaking(true));
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "userb");
    // Its session is back before the grace ends: caps again.
    h.adapter.availability(&jid("usera"), true);
    h.adapter.call_event(2, speaking(false));
    let sent = h.sent();
    assert_eq!(sent[0].0, "usera");
    assert!(sent[0].1.contains(&caps()), "{}", sent[0].1);
    assert!(!sent[1].1.contains(&caps()), "{}", sent[1].1);
    // It closes again and its call leaves: no unavailable to it at the end.
    h.adapter.closed(h.now, &jid("usera"));
    h.adapter.call_event(1, unjoined_mixer());
    h.adapter.call_event(2, unjoined_mixer());
    let sent = h.sent();
    let unavailable: Vec<&str> = sent
        .iter()
        .filter(|(_, x)| x.contains("type='unavailable'"))
        .map(|(to, _)| to.as_str())
        .collect();
    assert_eq!(unavailable, ["userb"]);
}
