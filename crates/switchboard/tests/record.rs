//! The record component end to end over real sockets on 127.0.0.1: the
//! caller is a testkit UA whose RTP peer sends a 600 Hz tone (what the
//! party says), the server plays a 1 kHz prompt to it (what it hears), and
//! the WAV files the recordings leave are checked by content, length and
//! size against what the completions report.
//!
//! As in `pause_resume.rs`, the server's core runs in process and a test
//! controller pool takes the call (the Rayo adapter maps `<record>` onto
//! the same `Command::Record`).

mod common;

use std::path::Path;
use std::time::Duration;

use call_control::{
    Command, Event, Failure, Join, JoinDirection, JoinTarget, Output, Play, Record,
    RecordDirection, RecordEnd, RecordFormat, Recording,
};
use common::core::{Core, WAIT};
use media::tone::ToneGenerator;
use media::wav::WavAudio;
use switchboard::calls::CallKey;
use switchboard::control::CallHandle;
use testkit::alloc_count::{allocations_on_this_thread, CountingAllocator};
use testkit::analysis::{dominant_frequency, tone_fraction};
use testkit::baresip::write_wav_8k;
use testkit::rtp_peer::RtpPeer;
use testkit::rtp_source::{Codec, Source};
use testkit::sip_ua::{CallHandle as UaCall, SipUa};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const SAYS_HZ: f64 = 600.0;
const HEARS_HZ: f64 = 1000.0;

/// A core that offers every call to the test, plays prompts from `dir`
/// and records into `dir/rec`.
fn start_core(dir: &Path) -> Core {
    Core::start(20, |port, rtp| {
        format!(
            r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: app }}
media:
  rtp_ports: {rtp}-{rtp_end}
  playback_dir: {dir}
  recordings_dir: {dir}/rec
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#,
            rtp_end = rtp + 19,
            dir = dir.display(),
        )
    })
}

/// What one test needs: the core, the caller and its call.
struct Recorded {
    core: Core,
    call: CallHandle,
    inbound: UaCall,
    peer: RtpPeer,
    _ua: SipUa,
    dir: tempfile::TempDir,
}

/// A call answered by the test from a caller that says a 600 Hz tone; a
/// 4 s 1 kHz prompt is ready as `file://hears.wav`.
fn answered() -> Recorded {
    let dir = tempfile::tempdir().expect("temp dir");
    let samples = ToneGenerator::sine(HEARS_HZ, -10.0).take(4 * 8000);
    write_wav_8k(dir.path().join("hears.wav"), &samples).expect("write the prompt");
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = RtpPeer::tone(Codec::Pcmu, SAYS_HZ);
    let mut inbound = ua.call(core.sip, "100", peer.local_addr());
    let call = core.take_offer();
    let answer = core.command(&call, Command::Answer { headers: vec![] });
    assert_eq!(core.done(call.key, answer), Ok(Output::None));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    peer.set_destination(inbound.negotiated().expect("caller SDP").remote_rtp);
    assert!(peer.wait_for_packets(5, WAIT), "no RTP from the server");
    Recorded {
        core,
        call,
        inbound,
        peer,
        _ua: ua,
        dir,
    }
}

fn record(direction: RecordDirection, mix: bool) -> Record {
    Record {
        format: RecordFormat::Wav,
        direction,
        mix,
        start_beep: false,
        stop_beep: false,
        start_paused: false,
        max_duration: None,
        initial_timeout: None,
        final_timeout: None,
    }
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

impl Recorded {
    /// Starts component `command`; returns its id once it runs.
    fn start(&mut self, command: Command) -> u64 {
        let id = self.core.command(&self.call, command);
        loop {
            match self.core.event(self.call.key) {
                Event::Started { id: started } if started == id => return id,
                Event::Done { id: done, result } if done == id => {
                    panic!("{id} ended before it started: {result:?}")
                }
                _ => {}
            }
        }
    }

    fn request(&mut self, command: Command) -> Result<Output, Failure> {
        let id = self.core.command(&self.call, command);
        self.core.done(self.call.key, id)
    }

    /// Stops `id` and returns its recording.
    fn stop(&mut self, id: u64) -> Recording {
        let stop = self.core.command(&self.call, Command::Stop { target: id });
        let recording = recording_of(self.core.done(self.call.key, id));
        assert_eq!(self.core.done(self.call.key, stop), Ok(Output::None));
        recording
    }

    /// The recording `id` completed with by itself.
    fn completed(&mut self, id: u64) -> Recording {
        recording_of(self.core.done(self.call.key, id))
    }

    /// The file of `recording`, checked against what it reports.
    fn file(&self, recording: &Recording) -> WavAudio {
        file_of(&self.dir.path().join("rec"), recording)
    }

    fn key(&self) -> CallKey {
        self.call.key
    }
}

fn recording_of(result: Result<Output, Failure>) -> Recording {
    match result {
        Ok(Output::Recording(recording)) => recording,
        other => panic!("not a recording: {other:?}"),
    }
}

/// Opens the file and checks that its size and length are the reported ones.
fn file_of(dir: &Path, recording: &Recording) -> WavAudio {
    let path = dir.join(&recording.file);
    let size = std::fs::metadata(&path)
        .expect("the recording's file")
        .len();
    assert_eq!(size, recording.size, "reported size");
    let audio = WavAudio::open(&path).expect("a valid WAV");
    let frames = audio.samples.len() as u64 / u64::from(audio.channels);
    assert_eq!(
        Duration::from_micros(frames * 125),
        recording.duration,
        "reported duration"
    );
    audio
}

fn hz(samples: &[i16]) -> Option<f64> {
    dominant_frequency(samples, 8000).map(f64::round)
}

fn assert_near(duration: Duration, ms: u64, slack: u64) {
    let got = duration.as_millis() as u64;
    assert!(
        got.abs_diff(ms) <= slack,
        "{got} ms, expected {ms} ± {slack}"
    );
}

#[test]
fn duplex_puts_what_the_party_says_left_and_what_it_hears_right() {
    let mut t = answered();
    let play = t.start(Command::Play(Play {
        uri: "file://hears.wav".into(),
        looped: false,
    }));
    let rec = t.start(Command::Record(record(RecordDirection::Duplex, false)));
    sleep_ms(3000);
    let recording = t.stop(rec);
    assert_eq!(recording.end, RecordEnd::Stopped);
    assert!(recording.file.ends_with("-1.wav"), "{}", recording.file);
    assert_near(recording.duration, 3000, 150);
    let audio = t.file(&recording);
    assert_eq!((audio.channels, audio.sample_rate), (2, 8000));
    let (left, right) = (audio.channel(0), audio.channel(1));
    // Skip the edges, where the network delay leaves silence.
    let middle = |s: &[i16]| s[1600..s.len() - 1600].to_vec();
    assert_eq!(hz(&middle(&left)), Some(SAYS_HZ));
    assert_eq!(hz(&middle(&right)), Some(HEARS_HZ));
    assert!(tone_fraction(&middle(&left), HEARS_HZ, 8000) < 0.05);
    assert!(tone_fraction(&middle(&right), SAYS_HZ, 8000) < 0.05);
    let stop = t.core.command(&t.call, Command::Stop { target: play });
    let _ = t.core.done(t.key(), play);
    let _ = t.core.done(t.key(), stop);
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn mix_puts_both_in_one_channel_and_one_direction_makes_mono() {
    let mut t = answered();
    t.start(Command::Play(Play {
        uri: "file://hears.wav".into(),
        looped: false,
    }));
    let mixed = t.start(Command::Record(record(RecordDirection::Duplex, true)));
    let says = t.start(Command::Record(record(RecordDirection::Send, false)));
    let hears = t.start(Command::Record(record(RecordDirection::Recv, true)));
    sleep_ms(1500);
    let (mixed, says, hears) = (t.stop(mixed), t.stop(says), t.stop(hears));
    assert_eq!(
        [&mixed.file, &says.file, &hears.file].map(|f| f.rsplit('-').next().map(String::from)),
        [
            Some("1.wav".into()),
            Some("2.wav".into()),
            Some("3.wav".into())
        ]
    );
    for (recording, says_part, hears_part) in [
        (&mixed, true, true),
        (&says, true, false),
        (&hears, false, true),
    ] {
        let audio = t.file(recording);
        assert_eq!(audio.channels, 1, "{}", recording.file);
        let s = &audio.samples[1600..audio.samples.len() - 800];
        let has = |hz: f64| tone_fraction(s, hz, 8000) > 0.2;
        assert_eq!(has(SAYS_HZ), says_part, "{}: 600 Hz", recording.file);
        assert_eq!(has(HEARS_HZ), hears_part, "{}: 1 kHz", recording.file);
    }
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn max_duration_ends_the_recording_at_its_length() {
    let mut t = answered();
    let rec = t.start(Command::Record(Record {
        max_duration: Some(Duration::from_millis(1000)),
        ..record(RecordDirection::Send, false)
    }));
    let recording = t.completed(rec);
    assert_eq!(recording.end, RecordEnd::MaxDuration);
    assert_eq!(recording.duration, Duration::from_millis(1000));
    let audio = t.file(&recording);
    assert_eq!(hz(&audio.samples[800..]), Some(SAYS_HZ));
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn silence_from_the_start_is_the_initial_timeout() {
    let mut t = answered();
    t.peer.set_source(Source::Silence);
    sleep_ms(100);
    let rec = t.start(Command::Record(Record {
        initial_timeout: Some(Duration::from_millis(600)),
        final_timeout: Some(Duration::from_millis(400)),
        max_duration: Some(Duration::from_secs(10)),
        ..record(RecordDirection::Duplex, false)
    }));
    let recording = t.completed(rec);
    assert_eq!(recording.end, RecordEnd::InitialTimeout);
    assert_eq!(recording.duration, Duration::from_millis(600));
    t.file(&recording);
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn silence_after_speech_is_the_final_timeout() {
    let mut t = answered();
    let rec = t.start(Command::Record(Record {
        initial_timeout: Some(Duration::from_millis(500)),
        final_timeout: Some(Duration::from_millis(500)),
        max_duration: Some(Duration::from_secs(10)),
        ..record(RecordDirection::Send, false)
    }));
    sleep_ms(1000);
    t.peer.set_source(Source::Silence);
    let recording = t.completed(rec);
    assert_eq!(recording.end, RecordEnd::FinalTimeout);
    // 1 s of tone, the detector's 200 ms hangover, 500 ms of silence.
    assert_near(recording.duration, 1700, 150);
    let audio = t.file(&recording);
    assert_eq!(hz(&audio.samples[800..7200]), Some(SAYS_HZ));
    let tail = &audio.samples[audio.samples.len() - 2400..];
    assert!(tail.iter().all(|&s| s.abs() < 100), "silence at the end");
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn pause_and_resume_leave_the_paused_time_out() {
    let mut t = answered();
    let rec = t.start(Command::Record(record(RecordDirection::Send, false)));
    sleep_ms(1000);
    assert_eq!(t.request(Command::Pause { target: rec }), Ok(Output::None));
    sleep_ms(1000);
    assert_eq!(t.request(Command::Resume { target: rec }), Ok(Output::None));
    sleep_ms(1000);
    let recording = t.stop(rec);
    assert_near(recording.duration, 2000, 150);
    let audio = t.file(&recording);
    assert_eq!(
        hz(&audio.samples[800..audio.samples.len() - 800]),
        Some(SAYS_HZ)
    );
    // No hole where the pause was: the tone runs on.
    let middle = &audio.samples[4000..12000];
    let silent = middle
        .chunks(160)
        .filter(|f| f.iter().all(|&s| s.abs() < 100));
    assert_eq!(silent.count(), 0);
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn a_muted_party_is_recorded_as_silence() {
    let mut t = answered();
    let rec = t.start(Command::Record(Record {
        final_timeout: Some(Duration::from_millis(1500)),
        ..record(RecordDirection::Send, false)
    }));
    sleep_ms(1000);
    assert_eq!(t.request(Command::Mute), Ok(Output::None));
    sleep_ms(1000);
    assert_eq!(t.request(Command::Unmute), Ok(Output::None));
    sleep_ms(1000);
    // Muted for 1 s: silence, but no final timeout (the detector did not
    // hear the party either, and 1 s is less than the timeout).
    let recording = t.stop(rec);
    assert_near(recording.duration, 3000, 150);
    let audio = t.file(&recording);
    let frames: Vec<bool> = audio
        .samples
        .chunks(160)
        .map(|f| f.iter().all(|&s| s.abs() < 100))
        .collect();
    let silent = frames.iter().filter(|&&s| s).count();
    assert!((40..=60).contains(&silent), "{silent} silent frames");
    assert!(frames[60..90].iter().all(|&s| s), "silent while muted");
    assert_eq!(hz(&audio.samples[..7200]), Some(SAYS_HZ));
    assert_eq!(hz(&audio.samples[17600..]), Some(SAYS_HZ));
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn a_start_paused_recording_with_beeps_records_after_its_resume_and_hangup_reports_it() {
    let mut t = answered();
    let rec = t.start(Command::Record(Record {
        start_beep: true,
        stop_beep: true,
        start_paused: true,
        ..record(RecordDirection::Duplex, false)
    }));
    sleep_ms(600);
    // The caller heard the 250 ms beep.
    let beep_frames = t
        .peer
        .received()
        .iter()
        .filter(|p| {
            let frame = testkit::analysis::decode_audio(std::slice::from_ref(*p));
            tone_fraction(&frame, 1000.0, 8000) > 0.8
        })
        .count();
    assert!(
        (11..=13).contains(&beep_frames),
        "{beep_frames} frames of beep"
    );
    t.peer.clear_received();
    assert_eq!(t.request(Command::Resume { target: rec }), Ok(Output::None));
    sleep_ms(1000);
    // The caller heard the start beep before, and silence since.
    let heard = testkit::analysis::decode_audio(&t.peer.received());
    assert!(tone_fraction(&heard, 1000.0, 8000) < 0.05);
    t.inbound.hangup(WAIT).expect("BYE");
    let recording = recording_of(t.core.done(t.key(), rec));
    assert_eq!(recording.end, RecordEnd::Hangup);
    assert_near(recording.duration, 1000, 200);
    let audio = t.file(&recording);
    assert_eq!(hz(&audio.channel(0)[800..]), Some(SAYS_HZ));
    assert!(
        tone_fraction(&audio.channel(1), HEARS_HZ, 8000) < 0.05,
        "the beep is not in the recording"
    );
    loop {
        if let Event::Ended { .. } = t.core.event(t.key()) {
            break;
        }
    }
}

#[test]
fn what_a_joined_call_says_is_what_the_party_hears() {
    let mut t = answered();
    let ua = SipUa::bind();
    let other = RtpPeer::tone(Codec::Pcmu, HEARS_HZ);
    let mut inbound = ua.call(t.core.sip, "101", other.local_addr());
    let call = t.core.take_offer();
    let answer = t.core.command(&call, Command::Answer { headers: vec![] });
    assert_eq!(t.core.done(call.key, answer), Ok(Output::None));
    assert_eq!(inbound.wait_final(WAIT), Some(200));
    other.set_destination(inbound.negotiated().expect("SDP").remote_rtp);
    let id = t.core.ctx.registry.id_of(call.key).expect("registered");
    let join = Command::Join(Join {
        target: JoinTarget::Call(id.to_string()),
        direction: JoinDirection::Duplex,
    });
    assert_eq!(t.request(join), Ok(Output::None));
    // A beep would disturb the joined audio: it is left out.
    let rec = t.start(Command::Record(Record {
        start_beep: true,
        ..record(RecordDirection::Duplex, false)
    }));
    sleep_ms(2000);
    let recording = t.stop(rec);
    let audio = t.file(&recording);
    let middle = |s: Vec<i16>| s[1600..s.len() - 1600].to_vec();
    assert_eq!(hz(&middle(audio.channel(0))), Some(SAYS_HZ));
    assert_eq!(hz(&middle(audio.channel(1))), Some(HEARS_HZ));
    inbound.hangup(WAIT).expect("BYE");
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn a_recording_runs_in_early_media() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut core = start_core(dir.path());
    let ua = SipUa::bind();
    let peer = RtpPeer::tone(Codec::Pcmu, SAYS_HZ);
    let mut inbound = ua.call(core.sip, "100", peer.local_addr());
    let call = core.take_offer();
    let early = Command::Accept {
        early_media: true,
        headers: vec![],
    };
    let accept = core.command(&call, early);
    assert_eq!(core.done(call.key, accept), Ok(Output::None));
    while inbound.wait_response(WAIT).expect("a response") != 183 {}
    peer.set_destination(inbound.negotiated().expect("183 SDP").remote_rtp);
    let rec = core.command(
        &call,
        Command::Record(Record {
            max_duration: Some(Duration::from_millis(800)),
            ..record(RecordDirection::Send, false)
        }),
    );
    let recording = loop {
        match core.event(call.key) {
            Event::Done { id, result } if id == rec => break recording_of(result),
            _ => {}
        }
    };
    assert_eq!(recording.end, RecordEnd::MaxDuration);
    let audio = file_of(&dir.path().join("rec"), &recording);
    assert_eq!(hz(&audio.samples[1600..]), Some(SAYS_HZ));
    inbound.cancel().expect("CANCEL");
}

#[test]
fn mp3_is_not_implemented() {
    let mut t = answered();
    let result = t.request(Command::Record(Record {
        format: RecordFormat::Mp3,
        ..record(RecordDirection::Duplex, false)
    }));
    assert_eq!(result, Err(Failure::NotImplemented("mp3 recording")));
    t.inbound.hangup(WAIT).expect("BYE");
}

#[test]
fn feeding_recordings_from_the_relay_never_allocates() {
    use std::sync::Arc;
    use std::time::Instant;
    use switchboard::media::pacer::G711;
    use switchboard::media::recorder::{Channel, Layout, Recorder};
    use switchboard::media::relay::{Relay, RelayConfig, Transcode};
    use switchboard::media::reports::OutboundCounters;

    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = Instant::now();
    let open = |name: &str, layout| {
        Recorder::start_with(&dir.path().join(name), t0, layout, false).expect("start")
    };
    let (stereo, mono) = (open("a.wav", Layout::Stereo), open("b.wav", Layout::Mix));
    let stream = Arc::new(OutboundCounters::new(1, 100, 1000));
    stream.taps().add(stereo.tap(Channel::Right), G711::Pcma, 8);
    stream.taps().add(mono.tap(Channel::Right), G711::Pcma, 8);
    let config = RelayConfig {
        audio_in: 0,
        audio_out: 8,
        transcode: Transcode::UlawToAlaw,
        event_in: Some(101),
        event_out: Some(101),
    };
    let mut relay = Relay::new(config, stream.clone());
    let mut packet = [0u8; 172];
    packet[0] = 0x80;
    let before = allocations_on_this_thread();
    for seq in 0..50u16 {
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet[1] = 0;
        relay.rewrite(
            &mut packet,
            12..172,
            t0 + Duration::from_millis(20 * u64::from(seq)),
        );
    }
    assert_eq!(allocations_on_this_thread() - before, 0);
    let deadline = Instant::now() + WAIT;
    while stereo.frames_written() + mono.frames_written() < 100 && Instant::now() < deadline {
        sleep_ms(10);
    }
    assert_eq!((stereo.frames_written(), mono.frames_written()), (50, 50));
}
