//! Calls handed between Agent RPC and Rayo (issue 12, item 3), end to end:
//! a caller (testkit UA + RTP peer) is answered by an agent, handed to a
//! Rayo client with the agent's `redirect`, and back to an agent with
//! `<redirect to='endpoint:agents'/>`. What the caller hears is checked by
//! content (each controller's tone, in order) and for continuity (one
//! pacer stream, no sequence gap).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::hearing::wait_hearing;
use media::tone::ToneGenerator;
use serde_json::json;
use testkit::agent::Agent;
use testkit::analysis::{decode_audio, tone_fraction};
use testkit::baresip::write_wav_8k;
use testkit::rayo_harness::{play, Caller, RayoBench, RayoConfig, WAIT};
use testkit::rtp_peer::ReceivedPacket;
use testkit::xmpp::rayo;

/// The tones each controller plays, in the order the caller hears them.
const TONES: [f64; 3] = [600.0, 900.0, 1300.0];

/// A server whose callers dialling `100` go to the agent endpoint `agents`
/// (the rest to the Rayo endpoint `app`), with `t600.wav`, `t900.wav` and
/// `t1300.wav` (1 s each) in its playback directory.
fn bench() -> RayoBench {
    let binary = Path::new(env!("CARGO_BIN_EXE_switchboard"));
    let config = RayoConfig::new()
        .endpoint("agents: { match: { type: agent } }")
        .endpoint("nobody: { match: { type: rayo } }")
        .incoming_route(r#"{ id: "100", match: exact, endpoint: agents }"#);
    let b = RayoBench::start(binary, &config);
    let sounds = b.server.dir().join("sounds");
    std::fs::create_dir_all(&sounds).expect("playback dir");
    for hz in TONES {
        let mut tone = ToneGenerator::sine(hz, -12.0);
        let mut samples = vec![0i16; 8000];
        tone.fill(&mut samples);
        write_wav_8k(sounds.join(format!("t{hz}.wav")), &samples).expect("tone file");
    }
    b
}

/// The Agent RPC listener's address, from the server's log.
fn agent_addr(b: &RayoBench) -> SocketAddr {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = b
            .server
            .log()
            .lines()
            .filter(|line| line.contains("Agent RPC listening"))
            .find_map(|line| {
                let (_, rest) = line.split_once("address=")?;
                rest.split_whitespace().next()?.parse().ok()
            });
        if let Some(addr) = found {
            return addr;
        }
        assert!(
            Instant::now() < deadline,
            "no Agent RPC listener\n{}",
            b.server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An agent of `agents`, retrying while the listener comes up.
fn connect(addr: SocketAddr) -> Agent {
    Agent::connect_retrying(addr, "agents", WAIT).expect("agent connects")
}

/// `agent` takes the call it is offered and answers it (`Ok` expected).
fn agent_takes(b: &RayoBench, agent: &mut Agent) -> String {
    let invite = agent
        .expect_invite(WAIT)
        .unwrap_or_else(|| panic!("agent gets the invite\n{}", b.server.log()));
    agent.respond_invite(&invite, 200, "OK");
    let (_, done) = agent
        .call("answer", &invite.did, json!({}), WAIT)
        .expect("answer completes");
    assert_eq!(done.code, 200, "{done:?}");
    invite.did
}

/// `agent` plays `t{hz}.wav` to its end.
fn agent_plays(agent: &mut Agent, did: &str, hz: f64) {
    let (_, play) = agent
        .call(
            "play",
            did,
            json!({"uri": format!("file://t{hz}.wav")}),
            WAIT,
        )
        .expect("play completes");
    assert_eq!(play.code, 200, "{play:?}");
}

/// Which of [`TONES`] each 100 ms of the caller's audio holds, runs merged.
fn tone_sequence(packets: &[ReceivedPacket]) -> Vec<f64> {
    let audio: Vec<i16> = packets
        .iter()
        .filter(|p| p.payload_type == 0)
        .flat_map(|p| decode_audio(std::slice::from_ref(p)))
        .collect();
    let mut heard: Vec<f64> = Vec::new();
    for block in audio.chunks(800) {
        let tone = TONES
            .into_iter()
            .find(|&hz| tone_fraction(block, hz, 8000) > 0.6);
        if let Some(hz) = tone {
            if heard.last() != Some(&hz) {
                heard.push(hz);
            }
        }
    }
    heard
}

#[test]
fn a_call_goes_from_an_agent_to_a_rayo_client_and_back_without_a_gap() {
    let b = bench();
    let agents = agent_addr(&b);
    let mut client = b.available("usera");
    let mut first = connect(agents);
    let caller = Caller::new();
    let mut call = caller.call(b.sip(), "100");

    // The agent answers and plays its tone.
    let did = agent_takes(&b, &mut first);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let negotiated = call.negotiated().expect("negotiated");
    caller.rtp.set_destination(negotiated.remote_rtp);
    agent_plays(&mut first, &did, TONES[0]);

    // The agent hands the call to the Rayo endpoint and hears `bye`.
    let (_, redirect) = first
        .call("redirect", &did, json!({"endpoint": "app"}), WAIT)
        .expect("redirect answered");
    assert_eq!(redirect.code, 200, "{redirect:?}");
    assert!(first.wait_bye(&did, WAIT).is_some(), "the agent gets bye");
    first.close();

    // The Rayo client takes it: answer succeeds with no SIP effect.
    let offered = b.offer(&mut client);
    b.ok(&mut client, &offered.call, rayo("answer"));
    assert_eq!(
        call.wait_response(Duration::from_millis(300)),
        None,
        "no second response to the INVITE"
    );
    let output = play(&format!("file://t{}.wav", TONES[1]));
    let component = b.start_component(&mut client, &offered.call, output);
    b.completion(&mut client, &component);

    // Back to the agents: the client hears `<end>`, a new agent the invite.
    let mut second = connect(agents);
    b.ok(
        &mut client,
        &offered.call,
        rayo("redirect").attr("to", "endpoint:agents"),
    );
    let end = b.end(&mut client, &offered.call);
    assert_eq!(end.reason, "hangup-command", "{:?}", end.end);
    let did = agent_takes(&b, &mut second);
    assert_eq!(
        call.wait_response(Duration::from_millis(300)),
        None,
        "no second response to the INVITE"
    );
    agent_plays(&mut second, &did, TONES[2]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(call.hangup(WAIT).ok(), Some(200), "{}", b.server.log());
    assert!(
        second.wait_bye(&did, WAIT).is_some(),
        "the second agent gets bye"
    );

    let packets = caller.rtp.received();
    assert_eq!(
        tone_sequence(&packets),
        TONES.to_vec(),
        "{}",
        b.server.log()
    );
    // One pacer stream from answer to hangup: one SSRC, no gap.
    let audio: Vec<&ReceivedPacket> = packets.iter().filter(|p| p.payload_type == 0).collect();
    let ssrcs: std::collections::BTreeSet<u32> = audio.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "one stream: {ssrcs:?}");
    // In arrival order (127.0.0.1 does not reorder), wrapping: each packet
    // follows the last with at most two missing.
    let steps: Vec<u16> = audio
        .windows(2)
        .map(|w| w[1].sequence_number.wrapping_sub(w[0].sequence_number))
        .collect();
    let worst = steps.iter().copied().max().unwrap_or(1);
    assert!(
        steps.iter().all(|&step| (1..=3).contains(&step)),
        "a sequence step of {worst} over {} packets",
        audio.len()
    );
}

#[test]
fn a_handover_nobody_takes_hangs_the_answered_call_up() {
    let b = bench();
    let agents = agent_addr(&b);
    let mut agent = connect(agents);
    let caller = Caller::new();
    let mut call = caller.call(b.sip(), "100");
    let did = agent_takes(&b, &mut agent);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    let (_, redirect) = agent
        .call("redirect", &did, json!({"endpoint": "nobody"}), WAIT)
        .expect("redirect answered");
    assert_eq!(redirect.code, 200, "{redirect:?}");
    assert!(agent.wait_bye(&did, WAIT).is_some(), "the agent gets bye");
    assert!(
        call.wait_bye(WAIT).is_some(),
        "the caller gets BYE\n{}",
        b.server.log()
    );
}

#[test]
fn an_agent_hands_a_call_back_to_its_own_endpoint_and_takes_it_again() {
    let b = bench();
    let agents = agent_addr(&b);
    let mut agent = connect(agents);
    let caller = Caller::new();
    let mut call = caller.call(b.sip(), "100");
    let did = agent_takes(&b, &mut agent);
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    caller
        .rtp
        .set_destination(call.negotiated().expect("negotiated").remote_rtp);
    let (_, redirect) = agent
        .call("redirect", &did, json!({"endpoint": "agents"}), WAIT)
        .expect("redirect answered");
    assert_eq!(redirect.code, 200, "{redirect:?}");
    assert!(agent.wait_bye(&did, WAIT).is_some(), "the old dialog ends");
    // The same connection is offered the call again, under a new did, and
    // keeps it (a late report of the old queue does not end it).
    let again = agent_takes(&b, &mut agent);
    assert_ne!(again, did);
    agent_plays(&mut agent, &again, TONES[2]);
    assert_eq!(call.hangup(WAIT).ok(), Some(200), "{}", b.server.log());
    assert!(agent.wait_bye(&again, WAIT).is_some(), "the agent gets bye");
    assert_eq!(
        tone_sequence(&caller.rtp.received()),
        vec![TONES[2]],
        "{}",
        b.server.log()
    );
}

#[test]
fn a_rayo_client_hands_a_call_to_its_own_endpoint_and_takes_it_again() {
    let b = bench();
    let mut client = b.available("usera");
    let caller = Caller::new();
    let (mut call, offered) = b.answered(&mut client, &caller);
    b.ok(
        &mut client,
        &offered.call,
        rayo("redirect").attr("to", "endpoint:app"),
    );
    let end = b.end(&mut client, &offered.call);
    assert_eq!(end.reason, "hangup-command", "{:?}", end.end);
    // The same call (same JID) is offered again and works.
    let again = b.offer(&mut client);
    assert_eq!(again.call, offered.call);
    b.ok(&mut client, &again.call, rayo("answer"));
    let output = play(&format!("file://t{}.wav", TONES[1]));
    let component = b.start_component(&mut client, &again.call, output);
    b.completion(&mut client, &component);
    assert_eq!(call.hangup(WAIT).ok(), Some(200), "{}", b.server.log());
    assert_eq!(b.end(&mut client, &again.call).reason, "hungup");
    assert_eq!(
        tone_sequence(&caller.rtp.received()),
        vec![TONES[1]],
        "{}",
        b.server.log()
    );
}

#[test]
fn an_unanswered_call_handed_to_rayo_is_answered_by_the_rayo_client() {
    let b = bench();
    let agents = agent_addr(&b);
    let mut agent = connect(agents);
    let mut client = b.available("usera");
    let caller = Caller::new();
    let mut call = caller.call(b.sip(), "100");
    let invite = agent
        .expect_invite(WAIT)
        .unwrap_or_else(|| panic!("agent gets the invite\n{}", b.server.log()));
    agent.respond_invite(&invite, 200, "OK");
    let (_, redirect) = agent
        .call("redirect", &invite.did, json!({"endpoint": "app"}), WAIT)
        .expect("redirect answered");
    assert_eq!(redirect.code, 200, "{redirect:?}");
    assert!(
        agent.wait_bye(&invite.did, WAIT).is_some(),
        "the agent gets bye"
    );
    let offered = b.offer(&mut client);
    b.ok(&mut client, &offered.call, rayo("answer"));
    assert_eq!(call.wait_final(WAIT), Some(200), "{}", b.server.log());
    assert_eq!(call.hangup(WAIT).ok(), Some(200), "{}", b.server.log());
    assert_eq!(b.end(&mut client, &offered.call).reason, "hungup");
}

#[test]
fn a_call_an_agent_hands_over_joins_a_rayo_mixer() {
    let b = bench();
    let agents = agent_addr(&b);
    let mut agent = connect(agents);
    let mut client = b.available("usera");

    // An agent's caller (600 Hz), handed to the Rayo endpoint.
    let handed = Caller::tone(TONES[0]);
    let mut handed_call = handed.call(b.sip(), "100");
    let did = agent_takes(&b, &mut agent);
    assert_eq!(
        handed_call.wait_final(WAIT),
        Some(200),
        "{}",
        b.server.log()
    );
    handed
        .rtp
        .set_destination(handed_call.negotiated().expect("SDP").remote_rtp);
    let (_, redirect) = agent
        .call("redirect", &did, json!({"endpoint": "app"}), WAIT)
        .expect("redirect answered");
    assert_eq!(redirect.code, 200, "{redirect:?}");
    assert!(agent.wait_bye(&did, WAIT).is_some(), "the agent gets bye");
    let offered = b.offer(&mut client);
    b.ok(&mut client, &offered.call, rayo("answer"));

    // A Rayo caller (900 Hz) of the same client; both join one mixer.
    let direct = Caller::tone(TONES[1]);
    let (_direct_call, direct_offer) = b.answered(&mut client, &direct);
    for call in [&offered.call, &direct_offer.call] {
        let reference = b.join_mixer(&mut client, call, "handover-room", "duplex");
        assert!(reference.contains("handover-room@"), "{reference}");
    }
    let hear = Duration::from_secs(6);
    let heard = wait_hearing(&handed.rtp, &[TONES[1]], &[TONES[0]], hear);
    assert!(heard.is_ok(), "the handed-over caller: {heard:?}");
    let heard = wait_hearing(&direct.rtp, &[TONES[0]], &[TONES[1]], hear);
    assert!(heard.is_ok(), "the Rayo caller: {heard:?}");
    assert_eq!(
        handed_call.hangup(WAIT).ok(),
        Some(200),
        "{}",
        b.server.log()
    );
    assert_eq!(b.end(&mut client, &offered.call).reason, "hungup");
}
