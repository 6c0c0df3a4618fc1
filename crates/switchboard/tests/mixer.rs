//! Calls in a mixer, driven through the call-control API in process (the
//! Rayo wire is tested in `rayo_mixer.rs`): real SIP and RTP on 127.0.0.1,
//! audio checked by content. Three callers send 600, 900 and 1300 Hz.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use call_control::{
    Announcement, AnnouncementEnd, Command, DialRequest, DigitGrammar, DigitMatcher, Event,
    Failure, GrammarProgress, GrammarRef, Input, InputOutcome, Join, JoinDirection, JoinTarget,
    Output, Record, RecordDirection, RecordEnd, RecordFormat, Request, Segment,
};
use common::core::{Core, WAIT};
use common::hearing;
use media::tone::ToneGenerator;
use switchboard::calls::mixers::MixerNews;
use switchboard::control::CallHandle;
use testkit::analysis::{tone_fraction, CLOCK_RATE};
use testkit::baresip::write_wav_8k;
use testkit::rtp_peer::RtpPeer;
use testkit::rtp_source::Source;
use testkit::sip_ua::{CallHandle as UaCall, SipUa};
use testkit::Codec;

fn join(name: &str, direction: JoinDirection) -> Command {
    Command::Join(Join {
        target: JoinTarget::Mixer(name.into()),
        direction,
    })
}

/// An answered inbound call whose caller sends `frequency`.
struct Party {
    frequency: f64,
    peer: RtpPeer,
    handle: CallHandle,
    _ua: SipUa,
    _call: UaCall,
}

fn answered_party(core: &mut Core, codec: Codec, frequency: f64) -> Party {
    let ua = SipUa::bind();
    let peer = RtpPeer::tone(codec, frequency);
    let mut offer = sdp::LocalMedia::new(peer.local_addr().ip(), peer.local_addr().port());
    offer.codecs = vec![match codec {
        Codec::Pcma => sdp::Codec::Pcma,
        _ => sdp::Codec::Pcmu,
    }];
    let mut call = ua.call_with(core.sip, "100", offer);
    let handle = core.take_offer();
    let answer = core.command(&handle, Command::Answer { headers: vec![] });
    assert_eq!(core.done(handle.key, answer), Ok(Output::None));
    assert_eq!(call.wait_final(WAIT), Some(200));
    peer.set_destination(call.negotiated().expect("SDP").remote_rtp);
    Party {
        frequency,
        peer,
        handle,
        _ua: ua,
        _call: call,
    }
}

/// Waits until `peer` hears exactly `heard` among `all`, judged by
/// `common::hearing` on windows of fresh audio; panics with the last window.
fn wait_hearing(peer: &RtpPeer, all: &[f64], heard: &[f64], what: &str) {
    let lacks: Vec<f64> = all.iter().copied().filter(|f| !heard.contains(f)).collect();
    if let Err(last) = hearing::wait_hearing(peer, heard, &lacks, WAIT) {
        panic!("{what}: expected to hear {heard:?} and not {lacks:?}; last window: {last}");
    }
}

#[test]
fn three_callers_in_a_mixer_hear_each_other_and_not_themselves() {
    let far = SipUa::bind();
    let mut core = Core::with_far_end(far.local_addr());
    let tones = [600.0, 900.0, 1300.0];
    let parties: Vec<Party> = [Codec::Pcmu, Codec::Pcma, Codec::Pcmu]
        .into_iter()
        .zip(tones)
        .map(|(codec, f)| answered_party(&mut core, codec, f))
        .collect();
    for p in &parties {
        let id = core.command(&p.handle, join("Conf1", JoinDirection::Duplex));
        // The result first, then `Joined` (the ref before the mixer's news).
        assert_eq!(core.done(p.handle.key, id), Ok(Output::None));
        match core.event(p.handle.key) {
            Event::Joined { target, direction } => {
                assert_eq!(target, JoinTarget::Mixer("conf1".into()));
                assert_eq!(direction, JoinDirection::Duplex);
            }
            other => panic!("expected Joined, got {other:?}"),
        }
    }
    assert_eq!(core.ctx.mixers.members("conf1").len(), 3);
    for p in &parties {
        let others: Vec<f64> = tones.into_iter().filter(|f| *f != p.frequency).collect();
        wait_hearing(&p.peer, &tones, &others, &format!("{} Hz", p.frequency));
    }
    // Each party is told that it speaks (its tone is speech-level).
    for p in &parties {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no Speaking for {}", p.frequency);
            if let Event::Speaking { mixer, speaking } = core.event(p.handle.key) {
                assert_eq!(mixer, "conf1");
                assert!(speaking);
                break;
            }
        }
    }

    // A second join of the same mixer is a conflict.
    let again = core.command(&parties[0].handle, join("conf1", JoinDirection::Duplex));
    assert!(matches!(
        core.done(parties[0].handle.key, again),
        Err(call_control::Failure::Conflict(_))
    ));

    // Mute: the 600 Hz caller is no longer heard, and still hears.
    let mute = core.command(&parties[0].handle, Command::Mute);
    assert_eq!(core.done(parties[0].handle.key, mute), Ok(Output::None));
    wait_hearing(&parties[1].peer, &tones, &[1300.0], "900 Hz with 600 muted");
    wait_hearing(
        &parties[0].peer,
        &tones,
        &[900.0, 1300.0],
        "the muted 600 Hz",
    );
    let unmute = core.command(&parties[0].handle, Command::Unmute);
    assert_eq!(core.done(parties[0].handle.key, unmute), Ok(Output::None));
    wait_hearing(
        &parties[1].peer,
        &tones,
        &[600.0, 1300.0],
        "900 Hz, unmuted",
    );

    // The 1300 Hz caller leaves: the others stop hearing it.
    let leave = core.command(
        &parties[2].handle,
        Command::Unjoin {
            target: JoinTarget::Mixer("conf1".into()),
        },
    );
    loop {
        match core.event(parties[2].handle.key) {
            Event::Unjoined { target } => {
                assert_eq!(target, JoinTarget::Mixer("conf1".into()));
                break;
            }
            Event::Speaking { .. } => {}
            other => panic!("expected Unjoined, got {other:?}"),
        }
    }
    assert_eq!(core.done(parties[2].handle.key, leave), Ok(Output::None));
    wait_hearing(&parties[0].peer, &tones, &[900.0], "600 Hz after 1300 left");
    wait_hearing(&parties[2].peer, &tones, &[], "1300 Hz out of the mixer");

    // The others hang up: the mixer is gone with the last.
    for p in &parties[..2] {
        let hangup = core.command(&p.handle, Command::Hangup { headers: vec![] });
        loop {
            match core.event(p.handle.key) {
                Event::Done { id, .. } if id == hangup => {}
                Event::Unjoined { .. } | Event::Speaking { .. } => {}
                Event::Ended { .. } => break,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(core.ctx.mixers.is_empty());
}

#[test]
fn a_dialed_call_joins_its_mixer_when_answered_and_send_and_recv_directions_hold() {
    let callee = SipUa::bind();
    let mut core = Core::with_far_end(callee.local_addr());
    let tones = [600.0, 1300.0];
    // The 600 Hz caller only listens (recv): it hears the room, is not heard.
    let listener = answered_party(&mut core, Codec::Pcmu, 600.0);
    let id = core.command(&listener.handle, join("room", JoinDirection::Recv));
    assert_eq!(core.done(listener.handle.key, id), Ok(Output::None));
    assert!(matches!(
        core.event(listener.handle.key),
        Event::Joined { .. }
    ));

    // A dialed 1300 Hz party joins as `send`: heard, hears nothing.
    let request = DialRequest {
        to: format!("sip:erin@{}", callee.local_addr()),
        from: None,
        call_id: None,
        timeout: None,
        headers: Vec::new(),
        join: Some(Join {
            target: JoinTarget::Mixer("room".into()),
            direction: JoinDirection::Send,
        }),
    };
    let (_, dialed) = core.dial(request).expect("dial");
    let callee_peer = RtpPeer::tone(Codec::Pcmu, 1300.0);
    let mut incoming = callee.wait_incoming(WAIT).expect("INVITE");
    let negotiated = incoming
        .answer(callee_peer.local_addr(), WAIT)
        .expect("answer");
    callee_peer.set_destination(negotiated.remote_rtp);
    assert!(matches!(core.event(dialed.key), Event::Answered { .. }));
    assert!(matches!(core.event(dialed.key), Event::Joined { .. }));

    wait_hearing(&listener.peer, &tones, &[1300.0], "the recv listener");
    wait_hearing(&callee_peer, &tones, &[], "the send party");
    incoming.hangup(WAIT).expect("BYE");
    loop {
        match core.event(dialed.key) {
            Event::Ended { .. } => break,
            Event::Unjoined { .. } | Event::Speaking { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // The listener alone: it hears nothing any more.
    wait_hearing(&listener.peer, &tones, &[], "the listener alone");
}

/// The next event of the mixer's components, within [`WAIT`].
fn news(core: &Core, rx: &mut tokio::sync::mpsc::Receiver<MixerNews>) -> Event {
    let next = core
        .rt
        .block_on(async { tokio::time::timeout(WAIT, rx.recv()).await });
    match next {
        Ok(Some(news)) => {
            assert_eq!(news.mixer, "room");
            news.event
        }
        _ => panic!("no mixer event in time"),
    }
}

/// An answered call in `core` (prompts and recordings in its directory)
/// whose caller sends `frequency`, joined to mixer `room`.
fn member(core: &mut Core, frequency: f64) -> Party {
    let party = answered_party(core, Codec::Pcmu, frequency);
    let id = core.command(&party.handle, join("room", JoinDirection::Duplex));
    assert_eq!(core.done(party.handle.key, id), Ok(Output::None));
    assert!(matches!(core.event(party.handle.key), Event::Joined { .. }));
    party
}

#[test]
fn an_output_on_a_mixer_is_heard_by_all_and_a_recording_holds_the_room() {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples: Vec<i16> = ToneGenerator::sine(1300.0, -10.0).take(8 * 1500);
    write_wav_8k(dir.path().join("tone.wav"), &samples).expect("write the prompt");
    std::fs::create_dir_all(dir.path().join("rec")).expect("recordings dir");
    let mut core = Core::with_media_dir(dir.path());
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    core.ctx.mixers.subscribe(tx);
    let parties = [member(&mut core, 600.0), member(&mut core, 900.0)];
    let tones = [600.0, 900.0, 1300.0];
    assert_eq!(
        core.ctx.mixers.request(
            "nosuch",
            Request {
                id: 1,
                command: Command::Announce(Announcement::once(vec![])),
            },
        ),
        Err(Failure::NotFound("no mixer nosuch".into()))
    );

    // A recording of the room, then an output to everyone.
    let record = Record {
        format: RecordFormat::Wav,
        direction: RecordDirection::Duplex,
        mix: true,
        start_beep: false,
        stop_beep: false,
        start_paused: false,
        max_duration: None,
        initial_timeout: None,
        final_timeout: None,
    };
    let request = |id, command| Request { id, command };
    core.ctx
        .mixers
        .request("room", request(1, Command::Record(record)))
        .expect("record");
    assert_eq!(news(&core, &mut rx), Event::Started { id: 1 });
    let output = Announcement::once(vec![Segment::Audio {
        uri: "file://tone.wav".into(),
        fallback: Vec::new(),
    }]);
    core.ctx
        .mixers
        .request("room", request(2, Command::Announce(output.clone())))
        .expect("output");
    assert_eq!(news(&core, &mut rx), Event::Started { id: 2 });
    // One output at a time on a mixer, as on a call.
    core.ctx
        .mixers
        .request("room", request(3, Command::Announce(output)))
        .expect("second output");
    assert!(matches!(
        news(&core, &mut rx),
        Event::Done {
            id: 3,
            result: Err(Failure::Conflict(_))
        }
    ));
    wait_hearing(
        &parties[0].peer,
        &tones,
        &[900.0, 1300.0],
        "600 Hz with the output",
    );
    wait_hearing(
        &parties[1].peer,
        &tones,
        &[600.0, 1300.0],
        "900 Hz with the output",
    );
    assert_eq!(
        news(&core, &mut rx),
        Event::Done {
            id: 2,
            result: Ok(Output::Announced(AnnouncementEnd::Finished))
        }
    );
    wait_hearing(
        &parties[0].peer,
        &tones,
        &[900.0],
        "600 Hz after the output",
    );

    // Stopped, the recording holds the room: both callers and the output.
    core.ctx
        .mixers
        .request("room", request(4, Command::Stop { target: 1 }))
        .expect("stop");
    let (mut recording, mut stopped) = (None, false);
    while recording.is_none() || !stopped {
        match news(&core, &mut rx) {
            Event::Done { id: 4, result } => {
                assert_eq!(result, Ok(Output::None));
                stopped = true;
            }
            Event::Done {
                id: 1,
                result: Ok(Output::Recording(done)),
            } => recording = Some(done),
            other => panic!("expected the recording, got {other:?}"),
        }
    }
    let recording = recording.expect("the recording");
    assert_eq!(recording.end, RecordEnd::Stopped);
    let path = dir.path().join("rec").join(&recording.file);
    let mut wav = hound::WavReader::open(&path).expect("the recording");
    let recorded: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    assert!(recorded.len() >= 8000, "{} samples", recorded.len());
    for f in tones {
        let share = tone_fraction(&recorded, f, CLOCK_RATE);
        assert!(share > 0.05, "{f} Hz has {share} of the recording");
    }

    // An input on the mixer takes keys from any member.
    let input = Input {
        grammars: vec![GrammarRef(Arc::new(Exactly(2)))],
        terminator: None,
        initial_timeout: Some(Duration::from_secs(10)),
        inter_digit_timeout: Some(Duration::from_secs(5)),
        recognition_timeout: None,
    };
    core.ctx
        .mixers
        .request("room", request(5, Command::Input(input)))
        .expect("input");
    assert_eq!(news(&core, &mut rx), Event::Started { id: 5 });
    // The keys come from the second member.
    std::thread::sleep(Duration::from_millis(200));
    parties[1].peer.set_source(Source::Digits {
        digits: "42".into(),
        payload_type: 101,
        duration_ms: 100,
        gap_ms: 100,
    });
    match news(&core, &mut rx) {
        Event::Done {
            id: 5,
            result: Ok(Output::Input(InputOutcome::Match { digits, .. })),
        } => assert_eq!(digits, "42"),
        other => panic!("expected the match, got {other:?}"),
    }

    // The last member leaves: the mixer's `Ended`.
    for p in &parties {
        let hangup = core.command(&p.handle, Command::Hangup { headers: vec![] });
        loop {
            match core.event(p.handle.key) {
                Event::Done { id, .. } if id == hangup => {}
                Event::Ended { .. } => break,
                _ => {}
            }
        }
    }
    assert!(matches!(news(&core, &mut rx), Event::Ended { .. }));
}

/// Exactly `n` keys `0`–`9`.
#[derive(Debug)]
struct Exactly(usize);

#[derive(Debug)]
struct ExactlyMatcher(usize, String);

impl DigitGrammar for Exactly {
    fn matcher(&self) -> Box<dyn DigitMatcher> {
        Box::new(ExactlyMatcher(self.0, String::new()))
    }
}

impl DigitMatcher for ExactlyMatcher {
    fn feed(&mut self, key: char) -> GrammarProgress {
        self.1.push(key);
        self.progress()
    }

    fn progress(&self) -> GrammarProgress {
        match self.1.len() {
            n if n == self.0 => GrammarProgress::Match {
                instance: self.1.clone(),
                can_grow: false,
            },
            n if n < self.0 => GrammarProgress::NeedMore,
            _ => GrammarProgress::NoMatch,
        }
    }
}
