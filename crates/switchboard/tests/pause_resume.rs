//! Pause and resume of a play, end to end over real sockets on 127.0.0.1.
//!
//! No adapter exposes pause yet (Agent RPC has no such op; Rayo's `<output>`
//! comes later), so, as in `dial_join.rs`, the test assembles the server's
//! core in process and a test controller pool takes the inbound call. The
//! caller is a testkit UA whose RTP peer records what the server sends; the
//! prompt's audio is checked by content, frame by frame.

mod common;

use std::path::Path;
use std::time::Duration;

use call_control::{Command, Event, Failure, Listen, Output, Play};
use common::core::{Core, WAIT};
use common::sound::{classify, runs, Sound};
use media::tone::ToneGenerator;
use switchboard::calls::CallKey;
use switchboard::control::CallHandle;
use testkit::baresip::write_wav_8k;
use testkit::rtp_peer::{RtpPeer, RtpPeerConfig};
use testkit::rtp_source::Source;
use testkit::sip_ua::{CallHandle as UaCall, SipUa};

/// 20 ms frames in one second of the prompt's first (1000 Hz) and second (500 Hz) tone.
const TONE_FRAMES: usize = 50;

/// A core that offers every call from 127.0.0.0/8 to the test and plays
/// prompts from `prompts`.
fn start_core(prompts: &Path) -> Core {
    Core::with_media_dir(prompts)
}

impl Core {
    /// A call from a testkit UA, taken and answered by the test; the UA's
    /// RTP peer records what the server sends.
    fn answered_call(&mut self, ua: &SipUa, peer: &RtpPeer) -> (CallHandle, UaCall) {
        let mut inbound = ua.call(self.sip, "100", peer.local_addr());
        let call = self.take_offer();
        let answer = self.command(&call, Command::Answer { headers: vec![] });
        assert_eq!(self.done(call.key, answer), Ok(Output::None));
        assert_eq!(inbound.wait_final(WAIT), Some(200));
        peer.set_destination(inbound.negotiated().expect("caller SDP").remote_rtp);
        (call, inbound)
    }

    /// Waits for component `id` of `call` to start.
    fn started(&mut self, call: CallKey, id: u64) {
        loop {
            match self.event(call) {
                Event::Started { id: started } if started == id => return,
                Event::Done { id: done, result } if done == id => {
                    panic!("{id} ended before it started: {result:?}")
                }
                _ => {}
            }
        }
    }

    /// Sends `command` to `call` and returns its result.
    fn request(&mut self, call: &CallHandle, command: Command) -> Result<Output, Failure> {
        let id = self.command(call, command);
        self.done(call.key, id)
    }
}

fn peer() -> RtpPeer {
    RtpPeer::start(RtpPeerConfig {
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("RTP peer")
}

fn play(uri: &str, looped: bool) -> Command {
    Command::Play(Play {
        uri: uri.into(),
        looped,
    })
}

/// Writes `seconds` of each `(frequency, seconds)` in turn as one WAV.
fn write_tones(path: &Path, tones: &[(f64, usize)]) {
    let mut samples = Vec::new();
    for &(frequency, seconds) in tones {
        samples.extend(ToneGenerator::sine(frequency, -10.0).take(seconds * 8000));
    }
    write_wav_8k(path, &samples).expect("write the prompt");
}

#[test]
fn a_paused_play_sends_silence_and_resumes_without_skipping_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tones(&dir.path().join("two.wav"), &[(1000.0, 1), (500.0, 1)]);
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = peer();
    let (call, mut inbound) = core.answered_call(&ua, &peer);
    assert!(peer.wait_for_packets(5, WAIT), "no RTP from the server");

    let play = core.command(&call, play("file://two.wav", false));
    core.started(call.key, play);
    std::thread::sleep(Duration::from_millis(300));
    let pause = Command::Pause { target: play };
    assert_eq!(core.request(&call, pause.clone()), Ok(Output::None));
    // Pausing again, and resuming later: no-ops that succeed.
    assert_eq!(core.request(&call, pause), Ok(Output::None));
    std::thread::sleep(Duration::from_millis(600));
    let resume = Command::Resume { target: play };
    assert_eq!(core.request(&call, resume.clone()), Ok(Output::None));
    assert_eq!(core.request(&call, resume), Ok(Output::None));
    assert_eq!(
        core.done(call.key, play),
        Ok(Output::None),
        "the play completes"
    );
    std::thread::sleep(Duration::from_millis(100));
    inbound.hangup(WAIT).expect("BYE");

    let packets = peer.received();
    // One RTP stream throughout: one SSRC, timestamps +160 per packet, also
    // across the pause (silence keeps flowing).
    let ssrc = packets.first().expect("packets").ssrc;
    assert!(packets.iter().all(|p| p.ssrc == ssrc), "one SSRC");
    for pair in packets.windows(2) {
        let gap = pair[1]
            .sequence_number
            .wrapping_sub(pair[0].sequence_number);
        let elapsed = pair[1].timestamp.wrapping_sub(pair[0].timestamp);
        assert_eq!(elapsed, u32::from(gap) * 160, "timestamps continuous");
    }
    let sounds: Vec<Sound> = packets.iter().map(classify).collect();
    let runs = runs(&sounds);
    let audible: Vec<(Sound, usize)> = runs
        .iter()
        .copied()
        .filter(|(s, _)| *s != Sound::Silence)
        .collect();
    // The first tone, interrupted by the pause, then the rest of it, then
    // the second tone: nothing skipped, nothing repeated (±2 frames of loss).
    let [(Sound::High, before), (Sound::High, after), (Sound::Low, low)] = audible[..] else {
        panic!("unexpected sounds: {runs:?}");
    };
    assert!(before > 0 && after > 0, "{runs:?}");
    assert!(
        (TONE_FRAMES - 2..=TONE_FRAMES).contains(&(before + after)),
        "first tone: {before} + {after} frames, {runs:?}"
    );
    assert!(
        (TONE_FRAMES - 2..=TONE_FRAMES).contains(&low),
        "second tone: {low} frames"
    );
    // Between the two parts of the first tone, silence for the pause
    // (which lasted at least the 600 ms slept; half of it as a lower bound).
    let at = runs
        .iter()
        .position(|&r| r == (Sound::High, before))
        .expect("first part");
    assert_eq!(runs[at + 1].0, Sound::Silence, "{runs:?}");
    assert!(runs[at + 1].1 >= 15, "pause silence: {runs:?}");
    assert_eq!(runs[at + 2], (Sound::High, after), "{runs:?}");
}

#[test]
fn a_paused_loop_resumes_looping_and_a_stop_or_hangup_ends_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tones(&dir.path().join("loop.wav"), &[(1000.0, 1)]);
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = peer();
    let (call, mut inbound) = core.answered_call(&ua, &peer);

    // Unknown targets, and components that cannot pause.
    assert_eq!(
        core.request(&call, Command::Pause { target: 999 }),
        Err(Failure::NoSuchRequest)
    );
    let listen = core.command(
        &call,
        Command::Listen(Listen {
            duration: Duration::from_secs(20),
        }),
    );
    core.started(call.key, listen);
    assert!(matches!(
        core.request(&call, Command::Pause { target: listen }),
        Err(Failure::NotImplemented(_))
    ));
    let stop = core.command(&call, Command::Stop { target: listen });
    assert_eq!(core.done(call.key, listen), Err(Failure::Stopped));
    assert_eq!(core.done(call.key, stop), Ok(Output::None));

    // A looped play paused and resumed keeps looping past its length.
    let looped = core.command(&call, play("file://loop.wav", true));
    core.started(call.key, looped);
    assert_eq!(
        core.request(&call, Command::Pause { target: looped }),
        Ok(Output::None)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        core.request(&call, Command::Resume { target: looped }),
        Ok(Output::None)
    );
    std::thread::sleep(Duration::from_millis(1300));
    peer.clear_received();
    std::thread::sleep(Duration::from_millis(300));
    let sounds: Vec<Sound> = peer.received().iter().map(classify).collect();
    assert!(
        sounds.iter().filter(|s| **s == Sound::High).count() >= 5,
        "the loop goes on: {:?}",
        runs(&sounds)
    );

    // Stopped while paused: completes `Stopped`, and silence follows.
    assert_eq!(
        core.request(&call, Command::Pause { target: looped }),
        Ok(Output::None)
    );
    let stop = core.command(&call, Command::Stop { target: looped });
    assert_eq!(core.done(call.key, looped), Err(Failure::Stopped));
    assert_eq!(core.done(call.key, stop), Ok(Output::None));

    // Paused when the caller hangs up: completes `CallEnded`.
    let last = core.command(&call, play("file://loop.wav", true));
    core.started(call.key, last);
    assert_eq!(
        core.request(&call, Command::Pause { target: last }),
        Ok(Output::None)
    );
    inbound.hangup(WAIT).expect("BYE");
    assert_eq!(core.done(call.key, last), Err(Failure::CallEnded));
    loop {
        if let Event::Ended { .. } = core.event(call.key) {
            break;
        }
    }
}
