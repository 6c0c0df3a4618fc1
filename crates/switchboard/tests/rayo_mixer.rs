//! Rayo mixers end to end (issue 12, item 2): the real binary over
//! 127.0.0.1, the test kit's XMPP client as the application, test kit
//! callers sending distinct tones (600, 900, 1300 Hz) into one mixer.
//!
//! What each caller hears is judged by content over half-second windows of
//! fresh audio (`common::hearing`): every wait slides until the window
//! matches or its time is up, so a busy machine delays a check but does
//! not fail it. Stanzas are checked as the contract gives them: the join's
//! `<ref>`, `joined`/`unjoined` from the call and from the mixer, the
//! mixer's caps on its first presence to a client, its `unavailable`
//! presence when the last call leaves, and speaker events once per change.

mod common;

use std::path::Path;
use std::time::Duration;

use common::hearing::{wait_hearing, wait_silence, Heard};
use common::mixer_news::{
    assert_caps_once, assert_mixer_caps, drain, news_until_joined, next_from, next_speaking,
    rayo_event, summary, CAPS_NS, QUIET,
};
use testkit::rayo_harness::{mixer_jid, play, Caller, RayoBench, RayoConfig, DOMAIN, WAIT};
use testkit::sip_ua::CallHandle;
use testkit::xmpp::{error_condition, rayo, XmppClient, RAYO_NS};
use testkit::{RtpPeer, SipUa, Source};
use xmpp::Element;

/// The three callers' tones.
const TONES: [f64; 3] = [600.0, 900.0, 1300.0];
/// The mixer every test uses (each test has its own server).
const MIXER: &str = "conf1";
/// How long a caller may take to hear what it should.
const HEAR: Duration = Duration::from_secs(6);

/// A server whose callers all go to the Rayo endpoint `app`.
fn bench() -> RayoBench {
    RayoBench::start(
        Path::new(env!("CARGO_BIN_EXE_switchboard")),
        &RayoConfig::new(),
    )
}

/// One answered caller: its UA's call, its RTP peer, its call JID.
struct Party {
    caller: Caller,
    sip: CallHandle,
    call: String,
    /// The tone it sends (0 for a silent caller).
    tone: f64,
}

impl Party {
    /// `xmpp:CALL@DOMAIN`, as mixer events name the call.
    fn uri(&self) -> String {
        format!("xmpp:{}", self.call)
    }
}

/// A caller sending `tone` (silence for 0), offered to `client`, answered.
fn answered(b: &RayoBench, client: &mut XmppClient, tone: f64) -> Party {
    let caller = if tone > 0.0 {
        Caller::tone(tone)
    } else {
        Caller::new()
    };
    let (sip, offered) = b.answered(client, &caller);
    Party {
        caller,
        sip,
        call: offered.call,
        tone,
    }
}

/// `party` joins [`MIXER`] in `direction`: the result's ref names the
/// mixer, and the call reports `joined mixer-name`.
fn join(b: &RayoBench, client: &mut XmppClient, party: &Party, direction: &str) {
    let reference = b.join_mixer(client, &party.call, MIXER, direction);
    assert_eq!(
        reference,
        format!("xmpp:{}", mixer_jid(MIXER)),
        "the join's <ref uri>"
    );
    let joined = b.event(client, &party.call, "joined");
    assert_eq!(
        joined.get_attr("mixer-name"),
        Some(MIXER),
        "joined from {}: {joined}",
        party.call
    );
}

/// Three callers (600, 900, 1300 Hz) answered by `client`, joined to
/// [`MIXER`] duplex, each hearing the other two.
fn three_in_the_mixer(b: &RayoBench, client: &mut XmppClient) -> Vec<Party> {
    let parties: Vec<Party> = TONES.iter().map(|&t| answered(b, client, t)).collect();
    for party in &parties {
        join(b, client, party, "duplex");
    }
    for party in &parties {
        let others: Vec<f64> = TONES.into_iter().filter(|&t| t != party.tone).collect();
        hears(b, party, &others, &[party.tone], "all three joined");
    }
    parties
}

/// `party`'s caller comes to hear every tone of `tones` and none of `not`.
fn hears(b: &RayoBench, party: &Party, tones: &[f64], not: &[f64], when: &str) -> Heard {
    let who = format!("the {} Hz caller ({})", party.tone, party.call);
    peer_hears(b, &party.caller.rtp, &who, tones, not, when)
}

/// `rtp` (`who`) comes to hear every tone of `tones` and none of `not`.
fn peer_hears(
    b: &RayoBench,
    rtp: &RtpPeer,
    who: &str,
    tones: &[f64],
    not: &[f64],
    when: &str,
) -> Heard {
    wait_hearing(rtp, tones, not, HEAR).unwrap_or_else(|last| {
        panic!(
            "{when}: {who} should hear {tones:?} and not {not:?}; last window: {last}\n{}",
            b.server.log()
        )
    })
}

/// `party`'s caller comes to hear silence.
fn hears_silence(b: &RayoBench, party: &Party, when: &str) {
    if let Err(last) = wait_silence(&party.caller.rtp, &TONES, HEAR) {
        panic!(
            "{when}: the {} Hz caller ({}) should hear silence; last window: {last}\n{}",
            party.tone,
            party.call,
            b.server.log()
        );
    }
}

#[test]
fn three_callers_each_hear_the_other_two_and_not_themselves() {
    let b = bench();
    let mut client = b.available("usera");
    let mixer = mixer_jid(MIXER);
    let parties = three_in_the_mixer(&b, &mut client);

    let news = drain(&mut client, &mixer);
    let with_caps: Vec<usize> = (0..news.len())
        .filter(|&i| news[i].get_child("c", CAPS_NS).is_some())
        .collect();
    assert_eq!(with_caps, [0], "caps once, on the first presence: {news:?}");
    assert_mixer_caps(&news[0]);
    assert_eq!(
        summary(&news[0]),
        ("joined".into(), parties[0].uri()),
        "the mixer's first presence is the first call joining: {}",
        news[0]
    );
    let mut joined: Vec<String> = news
        .iter()
        .map(summary)
        .filter(|(name, _)| name == "joined")
        .map(|(_, uri)| uri)
        .collect();
    joined.sort();
    let mut expected: Vec<String> = parties.iter().map(Party::uri).collect();
    expected.sort();
    assert_eq!(joined, expected, "one joined call-uri per call: {news:?}");
    assert!(
        news.iter().all(|p| p.get_attr("type").is_none()),
        "no unavailable presence while calls are in: {news:?}"
    );
    assert!(
        client
            .wait_presence(|p| p.get_child("unjoined", RAYO_NS).is_some(), QUIET)
            .is_none(),
        "nobody unjoined"
    );
}

#[test]
fn a_caller_that_unjoins_or_hangs_up_is_no_longer_heard() {
    let b = bench();
    let mut client = b.available("usera");
    let mixer = mixer_jid(MIXER);
    let mut parties = three_in_the_mixer(&b, &mut client);
    let (a, bee, c) = (TONES[0], TONES[1], TONES[2]);

    // 600 unjoins: the call and the mixer say so; the others stop hearing it.
    let unjoin = rayo("unjoin").attr("mixer-name", MIXER);
    b.ok(&mut client, &parties[0].call, unjoin);
    let unjoined = b.event(&mut client, &parties[0].call, "unjoined");
    assert_eq!(unjoined.get_attr("mixer-name"), Some(MIXER), "{unjoined}");
    let from_mixer = b.presence_from(&mut client, &mixer, "unjoined");
    assert_eq!(
        summary(&from_mixer),
        ("unjoined".into(), parties[0].uri()),
        "{from_mixer}"
    );
    let heard = hears(&b, &parties[1], &[c], &[a, bee], "after 600 unjoined");
    // One -10 dBm0 tone through the mixer keeps its level.
    assert!(
        (heard.level_dbm0 + 10.0).abs() < 2.0,
        "the 1300 Hz tone's level through the mixer: {heard}"
    );
    hears(&b, &parties[2], &[bee], &[a, c], "after 600 unjoined");
    hears(&b, &parties[0], &[], &[bee, c], "600 out of the mixer");

    // 900's caller hangs up: unjoined from its call and from the mixer,
    // both before the call's <end>; 1300 is left hearing neither.
    assert_eq!(parties[1].sip.hangup(WAIT).ok(), Some(200), "BYE answered");
    let call = parties[1].call.clone();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(from, (name, _)): &(String, _)| from == &call && name == "end")
    {
        let p = client
            .wait_presence(
                |p| {
                    let from = p.get_attr("from");
                    from == Some(call.as_str())
                        || (from == Some(mixer.as_str()) && summary(p).0 == "unjoined")
                },
                WAIT,
            )
            .unwrap_or_else(|| panic!("news of the hangup after {seen:?}\n{}", b.server.log()));
        let from = p.get_attr("from").unwrap_or_default().to_owned();
        let what = if from == call {
            let event = rayo_event(&p).expect("a Rayo event");
            let mixer_name = event.get_attr("mixer-name").unwrap_or_default();
            (event.name().to_owned(), mixer_name.to_owned())
        } else {
            summary(&p)
        };
        seen.push((from, what));
    }
    let from_call: Vec<&(String, String)> = seen
        .iter()
        .filter(|(from, _)| from == &call)
        .map(|(_, what)| what)
        .collect();
    assert_eq!(
        from_call,
        [
            &("unjoined".to_owned(), MIXER.to_owned()),
            &("end".to_owned(), String::new())
        ],
        "from the call: {seen:?}\n{}",
        b.server.log()
    );
    let from_mixer: Vec<&(String, String)> = seen
        .iter()
        .filter(|(from, _)| from == &mixer)
        .map(|(_, what)| what)
        .collect();
    assert_eq!(
        from_mixer,
        [&("unjoined".to_owned(), parties[1].uri())],
        "from the mixer before the <end>: {seen:?}\n{}",
        b.server.log()
    );
    hears(&b, &parties[2], &[], &[a, bee, c], "alone in the mixer");
    let gone = client.wait_presence(
        |p| p.get_attr("from") == Some(mixer.as_str()) && p.get_attr("type") == Some("unavailable"),
        QUIET,
    );
    assert!(gone.is_none(), "the mixer stays while 1300 is in it");
}

#[test]
fn directions_and_mute_decide_who_is_heard() {
    let b = bench();
    let mut client = b.available("usera");
    let (a, bee, c) = (TONES[0], TONES[1], TONES[2]);
    let parties: Vec<Party> = TONES
        .iter()
        .map(|&t| answered(&b, &mut client, t))
        .collect();
    // 600 duplex; 900 recv (hears the room, not heard); 1300 send (heard, deaf).
    join(&b, &mut client, &parties[0], "duplex");
    join(&b, &mut client, &parties[1], "recv");
    join(&b, &mut client, &parties[2], "send");
    hears(&b, &parties[0], &[c], &[a, bee], "600 duplex");
    hears(&b, &parties[1], &[a, c], &[bee], "900 recv");
    hears_silence(&b, &parties[2], "1300 send");

    // <mute/> on the duplex member: not heard any more, still hears.
    b.ok(&mut client, &parties[0].call, rayo("mute"));
    hears(&b, &parties[1], &[c], &[a, bee], "600 muted");
    hears(&b, &parties[0], &[c], &[a, bee], "600 muted hears on");
    hears_silence(&b, &parties[2], "1300 send, 600 muted");

    b.ok(&mut client, &parties[0].call, rayo("unmute"));
    hears(&b, &parties[1], &[a, c], &[bee], "600 unmuted");
}

#[test]
fn speaker_events_follow_who_sends_tone_once_per_change() {
    let b = bench();
    let mut client = b.available("usera");
    let mixer = mixer_jid(MIXER);
    let talker = answered(&b, &mut client, 0.0);
    let listener = answered(&b, &mut client, 0.0);
    join(&b, &mut client, &talker, "duplex");
    join(&b, &mut client, &listener, "duplex");
    let tone = Source::Tone {
        frequency: TONES[0],
        dbm0: -10.0,
    };

    talker.caller.rtp.set_source(tone.clone());
    assert_eq!(
        next_speaking(&b, &mut client, &mixer),
        ("started-speaking".into(), talker.uri())
    );
    hears(&b, &listener, &[TONES[0]], &[], "the talker talks");
    talker.caller.rtp.set_source(Source::Silence);
    assert_eq!(
        next_speaking(&b, &mut client, &mixer),
        ("stopped-speaking".into(), talker.uri())
    );
    talker.caller.rtp.set_source(tone);
    assert_eq!(
        next_speaking(&b, &mut client, &mixer),
        ("started-speaking".into(), talker.uri()),
        "a second change is a second event"
    );

    let rest: Vec<(String, String)> = drain(&mut client, &mixer)
        .iter()
        .map(summary)
        .filter(|(name, _)| name.ends_with("-speaking"))
        .collect();
    assert!(
        rest.is_empty(),
        "one event per change, none for the silent call: {rest:?}"
    );
}

#[test]
fn the_last_leave_destroys_the_mixer_and_a_new_join_creates_it_again() {
    let b = bench();
    let mut client = b.available("usera");
    let mixer = mixer_jid(MIXER);
    // Silent callers: no speaker events among the mixer's presences.
    let mut first = answered(&b, &mut client, 0.0);
    let mut second = answered(&b, &mut client, 0.0);
    join(&b, &mut client, &first, "duplex");
    join(&b, &mut client, &second, "duplex");
    b.ok(
        &mut client,
        &first.call,
        rayo("unjoin").attr("mixer-name", MIXER),
    );
    assert_eq!(second.sip.hangup(WAIT).ok(), Some(200), "BYE answered");

    let mut news = Vec::new();
    while news
        .last()
        .is_none_or(|(name, _): &(String, String)| name != "unavailable")
    {
        news.push(summary(&next_from(&b, &mut client, &mixer)));
    }
    let expected = [
        ("joined".to_owned(), first.uri()),
        ("joined".to_owned(), second.uri()),
        ("unjoined".to_owned(), first.uri()),
        ("unjoined".to_owned(), second.uri()),
        ("unavailable".to_owned(), String::new()),
    ];
    assert_eq!(news, expected, "{}", b.server.log());

    // Gone: its JID is unknown now.
    let output = play("file://tone.wav");
    let reply = client.iq_set(&mixer, output, WAIT).expect("answered");
    assert_eq!(
        error_condition(&reply).as_deref(),
        Some("item-not-found"),
        "{reply}"
    );

    // A new join creates it again: caps again on its first presence.
    join(&b, &mut client, &first, "duplex");
    let again = next_from(&b, &mut client, &mixer);
    assert_eq!(summary(&again), ("joined".into(), first.uri()), "{again}");
    assert_mixer_caps(&again);
    assert_eq!(first.sip.hangup(WAIT).ok(), Some(200), "BYE answered");
    b.unavailable(&mut client, &mixer);
}

#[test]
fn a_call_in_a_mixer_can_join_a_call_too_but_not_the_same_mixer_twice() {
    let b = bench();
    let mut client = b.available("usera");
    let parties: Vec<Party> = TONES
        .iter()
        .map(|&t| answered(&b, &mut client, t))
        .collect();
    let (member, other, single) = (&parties[0], &parties[1], &parties[2]);
    join(&b, &mut client, member, "duplex");
    join(&b, &mut client, other, "duplex");

    let to_call = rayo("join").attr("call-uri", single.uri());
    b.ok(&mut client, &member.call, to_call);
    let joined = b.event(&mut client, &member.call, "joined");
    assert_eq!(
        joined.get_attr("call-uri"),
        Some(single.uri().as_str()),
        "{joined}"
    );
    let joined = b.event(&mut client, &single.call, "joined");
    assert_eq!(
        joined.get_attr("call-uri"),
        Some(member.uri().as_str()),
        "{joined}"
    );
    assert!(
        client
            .wait_call_event(&member.call, "unjoined", QUIET)
            .is_none(),
        "the call join leaves the mixer join alone"
    );

    let again = rayo("join")
        .attr("mixer-name", MIXER)
        .attr("direction", "duplex");
    assert_eq!(b.refused(&mut client, &member.call, again), "conflict");
}

#[test]
fn an_unknown_mixer_an_unanswered_join_and_a_needless_unjoin_are_refused() {
    let b = bench();
    let mut client = b.available("usera");
    let output = play("file://tone.wav");
    let reply = client
        .iq_set(&mixer_jid("nosuchmixer"), output, WAIT)
        .expect("answered");
    assert_eq!(
        error_condition(&reply).as_deref(),
        Some("item-not-found"),
        "{reply}"
    );

    let caller = Caller::new();
    let mut sip = caller.call(b.sip(), "1000");
    let offered = b.offer(&mut client);
    let join = rayo("join")
        .attr("mixer-name", MIXER)
        .attr("direction", "duplex");
    assert_eq!(
        b.refused(&mut client, &offered.call, join),
        "unexpected-request",
        "a join before answer"
    );
    b.ok(&mut client, &offered.call, rayo("hangup"));
    assert!(sip.wait_final(WAIT).is_some());

    // An unjoin of a mixer the call is not in: no such join.
    let party = answered(&b, &mut client, 0.0);
    let unjoin = rayo("unjoin").attr("mixer-name", MIXER);
    assert_eq!(
        b.refused(&mut client, &party.call, unjoin),
        "service-unavailable",
        "an unjoin of a mixer never joined"
    );
}

/// Components on a mixer: an output sent to the mixer JID is refd from
/// the mixer's component JID and completes from it, to its owner; a
/// client with no call in the room may not start one.
#[test]
fn an_output_on_a_mixer_is_refd_from_its_component_jid_and_completes() {
    let b = bench();
    let mut client = b.available("usera");
    let party = answered(&b, &mut client, 0.0);
    join(&b, &mut client, &party, "duplex");
    let mixer = mixer_jid(MIXER);
    const NS: &str = "urn:xmpp:rayo:output:1";
    let pause = Element::new("output", NS).child(
        Element::new("document", NS)
            .attr("content-type", "application/ssml+xml")
            .text(
                "<speak xmlns='http://www.w3.org/2001/10/synthesis'><break time='300ms'/></speak>",
            ),
    );
    let component = b.start_component(&mut client, &mixer, pause);
    assert!(
        component.starts_with(&format!("{mixer}/output-")),
        "{component}"
    );
    let done = b.completion(&mut client, &component);
    assert_eq!(done.element.name(), "finish", "{:?}", done.complete);
    assert_eq!(done.presence_type.as_deref(), Some("unavailable"));

    let mut other = b.available("userb");
    let reply = other
        .iq_set(&mixer, play("file://tone.wav"), WAIT)
        .expect("answered");
    assert_eq!(
        error_condition(&reply).as_deref(),
        Some("not-allowed"),
        "{reply}"
    );
}

/// Mixer events go to every client with a call in the room, each client's
/// first presence from the mixer carrying the caps; the unavailable
/// presence to both.
#[test]
fn two_clients_each_get_the_mixer_news_and_caps_once() {
    let b = bench();
    let mixer = mixer_jid(MIXER);
    let mut alice = b.available("usera");
    let first = answered(&b, &mut alice, TONES[0]);
    b.show(&mut alice, "dnd");
    let mut bob = b.available("userb");
    let mut second = answered(&b, &mut bob, TONES[1]);

    join(&b, &mut alice, &first, "duplex");
    join(&b, &mut bob, &second, "duplex");
    hears(&b, &first, &[TONES[1]], &[TONES[0]], "two clients' calls");
    hears(&b, &second, &[TONES[0]], &[TONES[1]], "two clients' calls");

    let alice_news = news_until_joined(&b, &mut alice, &mixer, &second.uri());
    assert_eq!(summary(&alice_news[0]), ("joined".into(), first.uri()));
    assert_caps_once(&alice_news);
    let bob_news = news_until_joined(&b, &mut bob, &mixer, &second.uri());
    assert_caps_once(&bob_news);

    b.ok(
        &mut alice,
        &first.call,
        rayo("unjoin").attr("mixer-name", MIXER),
    );
    for client in [&mut alice, &mut bob] {
        let unjoined = b.presence_from(client, &mixer, "unjoined");
        assert_eq!(summary(&unjoined).1, first.uri(), "{unjoined}");
    }
    assert_eq!(second.sip.hangup(WAIT).ok(), Some(200), "BYE answered");
    b.unavailable(&mut bob, &mixer);
    b.unavailable(&mut alice, &mixer);
}

/// A nested `<join mixer-name>` in `<dial>`: the dialed party joins the
/// mixer once it answers and hears the caller already there.
#[test]
fn a_dial_with_a_nested_mixer_join_joins_once_answered() {
    let far = SipUa::bind();
    let config = RayoConfig::new()
        .endpoint(&format!("far: {{ uri: \"sip:{}\" }}", far.local_addr()))
        .route("outbound", "far")
        .rayo("  dial_route: outbound\n");
    let b = RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config);
    let mut client = b.available("usera");
    let mixer = mixer_jid(MIXER);
    let inbound = answered(&b, &mut client, TONES[0]);
    join(&b, &mut client, &inbound, "duplex");

    let dial = rayo("dial")
        .attr("to", format!("sip:dave@{}", far.local_addr()))
        .child(
            rayo("join")
                .attr("mixer-name", MIXER)
                .attr("direction", "duplex"),
        );
    let reply = client.iq_set(DOMAIN, dial, WAIT).expect("dial answered");
    assert_eq!(
        reply.get_attr("type"),
        Some("result"),
        "{reply}\n{}",
        b.server.log()
    );
    let dialed = reply
        .get_child("ref", RAYO_NS)
        .and_then(|r| r.get_attr("uri"))
        .and_then(|u| u.strip_prefix("xmpp:"))
        .expect("a ref uri")
        .to_owned();
    let mut incoming = far.wait_incoming(WAIT).expect("INVITE at dave");
    let dave = Caller::tone(TONES[2]);
    let negotiated = incoming
        .answer(dave.rtp.local_addr(), WAIT)
        .expect("answer");
    dave.rtp.set_destination(negotiated.remote_rtp);
    let joined = b.event(&mut client, &dialed, "joined");
    assert_eq!(joined.get_attr("mixer-name"), Some(MIXER), "{joined}");
    let from_mixer = b.presence_from(&mut client, &mixer, "joined");
    assert_eq!(
        summary(&from_mixer).1,
        inbound.uri(),
        "the inbound call's first"
    );
    let from_mixer = b.presence_from(&mut client, &mixer, "joined");
    assert_eq!(
        summary(&from_mixer).1,
        format!("xmpp:{dialed}"),
        "{from_mixer}"
    );

    hears(
        &b,
        &inbound,
        &[TONES[2]],
        &[TONES[0]],
        "dave joined by the dial",
    );
    peer_hears(
        &b,
        &dave.rtp,
        "dave",
        &[TONES[0]],
        &[TONES[2]],
        "dave hears the caller",
    );
    incoming.hangup(WAIT).expect("BYE");
}

/// The wiki dialect: the join's `<ref id>` is the mixer's name and the
/// mixer's events name calls by `call-id` too.
#[test]
fn the_wiki_dialect_refs_the_mixer_by_id() {
    let config = RayoConfig::new().rayo("  dialect: wiki\n");
    let b = RayoBench::start(Path::new(env!("CARGO_BIN_EXE_switchboard")), &config);
    let mut client = b.available("usera");
    let party = answered(&b, &mut client, 0.0);
    let reference = b.join_mixer(&mut client, &party.call, MIXER, "duplex");
    assert_eq!(reference, MIXER, "the wiki <ref id>");
    let joined = b.event(&mut client, &party.call, "joined");
    assert_eq!(joined.get_attr("mixer-name"), Some(MIXER), "{joined}");
    let news = b.presence_from(&mut client, &mixer_jid(MIXER), "joined");
    assert_mixer_caps(&news);
    let event = rayo_event(&news).expect("the event");
    let id = party.call.split('@').next();
    assert_eq!(event.get_attr("call-id"), id, "{news}");
}
