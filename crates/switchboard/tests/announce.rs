//! Announcements and prompts, end to end over real sockets on 127.0.0.1.
//!
//! As in `pause_resume.rs`, the server's core runs in process and a test
//! controller pool takes the inbound call (the Rayo adapter is wired
//! separately). The caller is a testkit UA whose RTP peer records what the
//! server sends; tones written as WAV files into the playback directory are
//! checked by content, 20 ms frame by frame (±2 frames = ±40 ms).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use call_control::{
    Adjustment, Announcement, AnnouncementEnd, Command, DigitGrammar, DigitMatcher, Event, Failure,
    GrammarProgress, GrammarRef, Input, InputOutcome, Output, Prompt, Segment,
};
use common::core::{Core, WAIT};
use common::sound::{classify, runs, Sound};
use media::tone::ToneGenerator;
use switchboard::calls::CallKey;
use switchboard::control::{CallHandle, EventSink};
use testkit::analysis::{decode_audio, level_dbm0};
use testkit::baresip::write_wav_8k;
use testkit::rtp_peer::{ReceivedPacket, RtpPeer, RtpPeerConfig};
use testkit::rtp_source::Source;
use testkit::sip_ua::{CallHandle as UaCall, SipUa};

/// Frames in one second.
const SECOND: usize = 50;

fn start_core(prompts: &Path) -> Core {
    Core::with_media_dir(prompts)
}

/// One test's server, caller and prompts directory.
struct Setup {
    core: Core,
    call: CallHandle,
    inbound: UaCall,
    peer: RtpPeer,
    _ua: SipUa,
    _dir: tempfile::TempDir,
}

/// A call answered by the test, with `tones` written as WAVs first
/// (`name`, then `(frequency, ms)` pieces).
fn setup(tones: &[(&str, &[(f64, usize)])]) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, pieces) in tones {
        let mut samples = Vec::new();
        for &(frequency, ms) in pieces.iter() {
            if frequency == 0.0 {
                samples.extend(std::iter::repeat_n(0i16, ms * 8));
            } else {
                samples.extend(ToneGenerator::sine(frequency, -20.0).take(ms * 8));
            }
        }
        write_wav_8k(dir.path().join(name), &samples).expect("write the prompt");
    }
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = RtpPeer::start(RtpPeerConfig {
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer");
    let mut inbound = ua.call(core.sip, "100", peer.local_addr());
    let call = core.take_offer();
    let answer = core.command(&call, Command::Answer { headers: vec![] });
    assert_eq!(core.done(call.key, answer), Ok(Output::None));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    peer.set_destination(inbound.negotiated().expect("caller SDP").remote_rtp);
    assert!(peer.wait_for_packets(5, WAIT), "no RTP from the server");
    Setup {
        core,
        call,
        inbound,
        peer,
        _ua: ua,
        _dir: dir,
    }
}

impl Setup {
    fn command(&mut self, command: Command) -> u64 {
        self.core.command(&self.call, command)
    }

    fn request(&mut self, command: Command) -> Result<Output, Failure> {
        let id = self.command(command);
        self.core.done(self.call.key, id)
    }

    fn started(&mut self, id: u64) {
        started(&mut self.core, self.call.key, id);
    }

    fn done(&mut self, id: u64) -> Result<Output, Failure> {
        self.core.done(self.call.key, id)
    }

    fn adjust(&mut self, target: u64, adjustment: Adjustment) {
        let result = self.request(Command::Adjust { target, adjustment });
        assert_eq!(result, Ok(Output::None), "{adjustment:?}");
    }

    /// What the caller heard, frame by frame.
    fn sounds(&self) -> Vec<Sound> {
        self.peer.received().iter().map(classify).collect()
    }

    fn hang_up(mut self) {
        self.inbound.hangup(WAIT).expect("BYE");
    }
}

fn started(core: &mut Core, call: CallKey, id: u64) {
    loop {
        match core.event(call) {
            Event::Started { id: started } if started == id => return,
            Event::Done { id: done, result } if done == id => {
                panic!("{id} ended before it started: {result:?}")
            }
            _ => {}
        }
    }
}

/// The runs other than silence.
fn audible(sounds: &[Sound]) -> Vec<(Sound, usize)> {
    runs(sounds)
        .into_iter()
        .filter(|(s, _)| *s != Sound::Silence)
        .collect()
}

fn count(sounds: &[Sound], sound: Sound) -> usize {
    sounds.iter().filter(|s| **s == sound).count()
}

fn near(found: usize, expected: usize, slack: usize) -> bool {
    found + slack >= expected && found <= expected + slack
}

fn audio(uri: &str) -> Segment {
    Segment::Audio {
        uri: uri.into(),
        fallback: Vec::new(),
    }
}

fn once(uri: &str) -> Announcement {
    Announcement::once(vec![audio(uri)])
}

fn announce(announcement: Announcement) -> Command {
    Command::Announce(announcement)
}

/// Exactly `n` keys `0`–`9`.
#[derive(Debug)]
struct Exactly(usize);

#[derive(Debug)]
struct ExactlyMatcher(usize, String, bool);

impl DigitGrammar for Exactly {
    fn matcher(&self) -> Box<dyn DigitMatcher> {
        Box::new(ExactlyMatcher(self.0, String::new(), false))
    }
}

impl DigitMatcher for ExactlyMatcher {
    fn feed(&mut self, key: char) -> GrammarProgress {
        self.2 |= !key.is_ascii_digit();
        self.1.push(key);
        self.progress()
    }

    fn progress(&self) -> GrammarProgress {
        match self.1.len() {
            _ if self.2 => GrammarProgress::NoMatch,
            n if n == self.0 => GrammarProgress::Match {
                instance: self.1.clone(),
                can_grow: false,
            },
            n if n < self.0 => GrammarProgress::NeedMore,
            _ => GrammarProgress::NoMatch,
        }
    }
}

fn four_digits(initial_timeout: Duration) -> Input {
    Input {
        grammars: vec![GrammarRef(Arc::new(Exactly(4)))],
        terminator: Some('#'),
        initial_timeout: Some(initial_timeout),
        inter_digit_timeout: Some(Duration::from_secs(2)),
        recognition_timeout: None,
    }
}

#[test]
fn a_wav_is_heard_for_its_length_and_finishes() {
    let mut t = setup(&[("tone.wav", &[(1000.0, 1000)])]);
    let id = t.command(announce(once("file://tone.wav")));
    t.started(id);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    std::thread::sleep(Duration::from_millis(100));
    let sounds = t.sounds();
    let heard = audible(&sounds);
    assert!(
        matches!(heard[..], [(Sound::High, n)] if near(n, SECOND, 2)),
        "{:?}",
        runs(&sounds)
    );
    t.hang_up();
}

#[test]
fn start_paused_waits_for_resume_and_a_pause_shifts_the_end() {
    let mut t = setup(&[("tone.wav", &[(1000.0, 1000)])]);
    let mut paused = once("file://tone.wav");
    paused.start_paused = true;
    let id = t.command(announce(paused));
    t.started(id);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&t.sounds(), Sound::High), 0, "nothing before resume");
    t.request(Command::Resume { target: id }).expect("resume");
    std::thread::sleep(Duration::from_millis(300));
    t.request(Command::Pause { target: id }).expect("pause");
    std::thread::sleep(Duration::from_millis(500));
    t.request(Command::Resume { target: id }).expect("resume");
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    std::thread::sleep(Duration::from_millis(100));
    let sounds = t.sounds();
    let runs = runs(&sounds);
    let heard = audible(&sounds);
    // The whole tone in two parts, silence for the pause between them: its
    // end moved by the paused time.
    let [(Sound::High, before), (Sound::High, after)] = heard[..] else {
        panic!("{runs:?}");
    };
    assert!(near(before + after, SECOND, 2), "{runs:?}");
    let first = sounds.iter().position(|s| *s == Sound::High).expect("tone");
    let last = sounds
        .iter()
        .rposition(|s| *s == Sound::High)
        .expect("tone");
    let pause = last + 1 - first - before - after;
    assert!(pause >= 20, "the pause lasted ≥ 400 ms: {runs:?}");
    assert_eq!(count(&sounds[first..=last], Sound::Silence), pause);
    t.hang_up();
}

#[test]
fn a_seek_forward_shortens_and_back_replays() {
    let mut t = setup(&[("two.wav", &[(1000.0, 1000), (500.0, 1000)])]);
    let id = t.command(announce(once("file://two.wav")));
    t.started(id);
    t.adjust(id, Adjustment::Seek(600));
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    let sounds = t.sounds();
    // 600 ms (30 frames) of the first tone skipped, the second tone whole.
    let high = count(&sounds, Sound::High);
    let low = count(&sounds, Sound::Low);
    assert!(near(high, 20, 3), "high {high}: {:?}", runs(&sounds));
    assert!(near(low, SECOND, 2), "low {low}: {:?}", runs(&sounds));

    // Back: into the second tone, then 600 ms back into the first again.
    t.peer.clear_received();
    let id = t.command(announce(once("file://two.wav")));
    t.started(id);
    t.adjust(id, Adjustment::Seek(1200));
    std::thread::sleep(Duration::from_millis(300));
    t.adjust(id, Adjustment::Seek(-600));
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    let sounds = t.sounds();
    let heard = audible(&sounds);
    assert!(
        matches!(heard[..], [.., (Sound::Low, _), (Sound::High, _), (Sound::Low, n)] if near(n, SECOND, 2)),
        "{:?}",
        runs(&sounds)
    );
    t.hang_up();
}

#[test]
fn volume_up_raises_the_level_and_a_stop_silences_it() {
    let mut t = setup(&[("tone.wav", &[(1000.0, 1000)])]);
    let mut forever = once("file://tone.wav");
    forever.repeat_times = 0;
    let id = t.command(announce(forever));
    t.started(id);
    std::thread::sleep(Duration::from_millis(300));
    let level = |peer: &RtpPeer| {
        let audio: Vec<ReceivedPacket> = peer.received().into_iter().skip(3).collect();
        level_dbm0(&decode_audio(&audio))
    };
    t.peer.clear_received();
    std::thread::sleep(Duration::from_millis(300));
    let before = level(&t.peer);
    t.adjust(id, Adjustment::VolumeUp);
    t.adjust(id, Adjustment::VolumeUp);
    std::thread::sleep(Duration::from_millis(200));
    t.peer.clear_received();
    std::thread::sleep(Duration::from_millis(300));
    let after = level(&t.peer);
    assert!(
        after - before > 4.5 && after - before < 7.5,
        "+6 dB expected: {before:.1} → {after:.1} dBm0"
    );
    // The loop went on past its length meanwhile; a stop ends it.
    let stop = t.command(Command::Stop { target: id });
    assert_eq!(t.done(id), Err(Failure::Stopped));
    assert_eq!(t.done(stop), Ok(Output::None));
    std::thread::sleep(Duration::from_millis(100));
    t.peer.clear_received();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&t.sounds(), Sound::High), 0, "silence after the stop");
    t.hang_up();
}

#[test]
fn repeats_with_an_interval_and_a_max_time() {
    let mut t = setup(&[("short.wav", &[(1000.0, 500)])]);
    let mut twice = once("file://short.wav");
    twice.repeat_times = 2;
    twice.repeat_interval = Duration::from_millis(400);
    let id = t.command(announce(twice));
    t.started(id);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    let sounds = t.sounds();
    let runs_all = runs(&sounds);
    let at = runs_all
        .iter()
        .position(|(s, _)| *s == Sound::High)
        .expect("tone");
    let [(Sound::High, a), (Sound::Silence, gap), (Sound::High, b), ..] = runs_all[at..] else {
        panic!("{runs_all:?}");
    };
    assert!(near(a, 25, 2) && near(b, 25, 2), "{runs_all:?}");
    assert!(near(gap, 20, 2), "{runs_all:?}");

    // Endless, cut by max-time.
    t.peer.clear_received();
    let mut limited = once("file://short.wav");
    limited.repeat_times = 0;
    limited.max_time = Some(Duration::from_millis(1200));
    let id = t.command(announce(limited));
    t.started(id);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::MaxTime)));
    std::thread::sleep(Duration::from_millis(200));
    let sounds = t.sounds();
    let high = count(&sounds, Sound::High);
    assert!(near(high, 60, 5), "{high} frames: {:?}", runs(&sounds));
    t.hang_up();
}

#[test]
fn a_bad_url_is_unplayable_unless_it_has_a_fallback() {
    let mut t = setup(&[("tone.wav", &[(1000.0, 200)])]);
    let id = t.command(announce(once("file://missing.wav")));
    match t.done(id) {
        Err(Failure::Unplayable(text)) => assert!(text.contains("missing.wav"), "{text}"),
        other => panic!("{other:?}"),
    }
    let id = t.command(announce(Announcement::once(vec![
        Segment::Audio {
            uri: "file://missing.wav".into(),
            fallback: vec![audio("file://tone.wav")],
        },
        Segment::Silence(Duration::from_millis(100)),
    ])));
    t.started(id);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    assert!(near(count(&t.sounds(), Sound::High), 10, 2));
    t.hang_up();
}

#[test]
fn a_prompt_barged_in_by_a_digit_stops_its_output_and_completes_once() {
    let mut t = setup(&[("long.wav", &[(1000.0, 3000)])]);
    let id = t.command(Command::Prompt(Box::new(Prompt {
        announcement: once("file://long.wav"),
        input: four_digits(Duration::from_secs(5)),
        barge_in: true,
    })));
    t.started(id);
    std::thread::sleep(Duration::from_millis(300));
    let pt = t
        .inbound
        .negotiated()
        .ok()
        .and_then(|n| n.telephone_event)
        .expect("telephone-event negotiated");
    t.peer.set_source(Source::digits("1234", pt));
    assert_eq!(
        t.done(id),
        Ok(Output::Input(InputOutcome::Match {
            digits: "1234".into(),
            instance: "1234".into()
        }))
    );
    std::thread::sleep(Duration::from_millis(200));
    let sounds = t.sounds();
    let heard = audible(&sounds);
    // The tone from the start to the first key (300 ms + its 100 ms event,
    // with slack for the way), then nothing more of it.
    assert!(
        matches!(heard[..], [(Sound::High, n)] if (10..=35).contains(&n)),
        "{:?}",
        runs(&sounds)
    );
    // One completion: a stop now finds nothing.
    assert_eq!(
        t.request(Command::Stop { target: id }),
        Err(Failure::NoSuchRequest)
    );
    t.hang_up();
}

#[test]
fn a_prompt_without_barge_in_starts_its_timers_after_the_output() {
    let mut t = setup(&[("short.wav", &[(1000.0, 500)])]);
    let id = t.command(Command::Prompt(Box::new(Prompt {
        announcement: once("file://short.wav"),
        input: four_digits(Duration::from_millis(400)),
        barge_in: false,
    })));
    t.started(id);
    match t.core.event(t.call.key) {
        Event::InputTimersStarted { id: timers } => assert_eq!(timers, id),
        other => panic!("{other:?}"),
    }
    // The whole output was heard before the timers started.
    let sounds = t.sounds();
    assert!(
        near(count(&sounds, Sound::High), 25, 2),
        "{:?}",
        runs(&sounds)
    );
    // Adjusting the finished output is refused; silence then ends the input.
    assert_eq!(
        t.request(Command::Adjust {
            target: id,
            adjustment: Adjustment::VolumeUp
        }),
        Err(Failure::InvalidState("the output is finished"))
    );
    assert_eq!(t.done(id), Ok(Output::Input(InputOutcome::NoInput)));
    t.hang_up();
}

#[test]
fn speed_up_shortens_the_rest_and_keeps_the_tone() {
    let mut t = setup(&[("two.wav", &[(1000.0, 2000)])]);
    let id = t.command(announce(once("file://two.wav")));
    t.started(id);
    t.adjust(id, Adjustment::SpeedUp);
    t.adjust(id, Adjustment::SpeedUp);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    let sounds = t.sounds();
    // 2 s at 1.25² ≈ 1.56× is 1.28 s (64 frames), plus what played at
    // normal speed before the change landed.
    let heard = sounds.iter().filter(|s| **s != Sound::Silence).count();
    let high = count(&sounds, Sound::High);
    assert!((60..=80).contains(&heard), "{heard}: {:?}", runs(&sounds));
    assert!(
        high * 10 >= heard * 9,
        "the pitch is kept: {:?}",
        runs(&sounds)
    );
    t.hang_up();
}

#[test]
fn speech_is_spoken_and_an_audio_with_it_plays() {
    let mut t = setup(&[("tone.wav", &[(1000.0, 400)])]);
    let id = t.command(announce(Announcement::once(vec![
        Segment::Speech {
            text: "Welcome to the switchboard".into(),
            voice: None,
            rate: 1.0,
            volume_db: 0.0,
        },
        audio("file://tone.wav"),
    ])));
    t.started(id);
    assert_eq!(t.done(id), Ok(Output::Announced(AnnouncementEnd::Finished)));
    let sounds = t.sounds();
    let first = sounds
        .iter()
        .position(|s| *s != Sound::Silence)
        .expect("speech");
    let tone = sounds.iter().position(|s| *s == Sound::High).expect("tone");
    // Speech energy of plausible length for four words, then the tone.
    let speech = &sounds[first..tone];
    let voiced = speech.iter().filter(|s| **s != Sound::Silence).count();
    assert!(voiced >= 25 && speech.len() <= 250, "{:?}", runs(&sounds));
    assert!(near(count(&sounds[tone..], Sound::High), 20, 2));
    t.hang_up();
}

#[test]
fn an_announcement_before_answer_plays_as_early_media() {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples = ToneGenerator::sine(1000.0, -20.0).take(8000);
    write_wav_8k(dir.path().join("tone.wav"), &samples).expect("write the prompt");
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = RtpPeer::start(RtpPeerConfig {
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer");
    let mut inbound = ua.call(core.sip, "100", peer.local_addr());
    let invitation = core.invitations.recv_timeout(WAIT).expect("an offer");
    let call = invitation.call.clone();
    let sink = EventSink::new(call.key, core.events_tx.clone()).with_early_media(true);
    invitation.take(sink).expect("the offer stands");
    let id = core.command(&call, announce(once("file://tone.wav")));
    let mut statuses = Vec::new();
    while inbound.negotiated().is_err() {
        match inbound.wait_response(WAIT) {
            Some(status) => statuses.push(status),
            None => panic!("no early media: {statuses:?}"),
        }
    }
    assert!(statuses.contains(&183), "{statuses:?}");
    peer.set_destination(inbound.negotiated().expect("SDP").remote_rtp);
    started(&mut core, call.key, id);
    assert_eq!(
        core.done(call.key, id),
        Ok(Output::Announced(AnnouncementEnd::Finished))
    );
    let sounds: Vec<Sound> = peer.received().iter().map(classify).collect();
    assert!(
        near(count(&sounds, Sound::High), SECOND, 3),
        "{:?}",
        runs(&sounds)
    );
    assert_eq!(inbound.final_status(), None, "still unanswered");
    let hangup = core.command(&call, Command::Hangup { headers: vec![] });
    assert_eq!(core.done(call.key, hangup), Ok(Output::None));
}

#[test]
fn a_hangup_during_a_prompt_completes_it_before_the_end() {
    let mut t = setup(&[("long.wav", &[(1000.0, 3000)])]);
    let prompt = t.command(Command::Prompt(Box::new(Prompt {
        announcement: once("file://long.wav"),
        input: four_digits(Duration::from_secs(5)),
        barge_in: true,
    })));
    t.started(prompt);
    std::thread::sleep(Duration::from_millis(200));
    t.inbound.hangup(WAIT).expect("BYE");
    let mut done = Vec::new();
    loop {
        match t.core.event(t.call.key) {
            Event::Done { id, result } => done.push((id, result)),
            Event::Ended { .. } => break,
            _ => {}
        }
    }
    assert_eq!(done, [(prompt, Err(Failure::CallEnded))]);
}
