//! Pause and resume of a play, end to end over real sockets on 127.0.0.1.
//!
//! No adapter exposes pause yet (Agent RPC has no such op; Rayo's `<output>`
//! comes later), so, as in `dial_join.rs`, the test assembles the server's
//! core in process and a test controller pool takes the inbound call. The
//! caller is a testkit UA whose RTP peer records what the server sends; the
//! prompt's audio is checked by content, frame by frame.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use call_control::{Command, Event, Failure, Listen, Output, Play, Request};
use media::tone::ToneGenerator;
use switchboard::calls::{CallContext, CallKey, SIP_COMMAND_QUEUE};
use switchboard::config::{Config, TransportProtocol};
use switchboard::control::{
    CallHandle, ControllerId, ControllerKind, ControllerPool, Controllers, EventSink, Invitation,
    OfferPolicy, OfferTerms,
};
use switchboard::driver::Driver;
use switchboard::media::pacer::{Pacer, PacerConfig};
use switchboard::transport::Transports;
use testkit::analysis::{decode_audio, level_dbm0, tone_fraction};
use testkit::baresip::write_wav_8k;
use testkit::ports::free_port;
use testkit::rtp_peer::{ReceivedPacket, RtpPeer, RtpPeerConfig};
use testkit::rtp_source::Source;
use testkit::sip_ua::{CallHandle as UaCall, SipUa};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(3);
/// 20 ms frames in one second of the prompt's first (1000 Hz) and second (500 Hz) tone.
const TONE_FRAMES: usize = 50;

/// Takes every offered call for the test.
#[derive(Debug)]
struct TestPool {
    invitations: Mutex<std_mpsc::Sender<Invitation>>,
}

impl ControllerPool for TestPool {
    fn terms(&self) -> OfferTerms {
        OfferTerms {
            policy: OfferPolicy::First,
            offer_timeout: None,
            answer_timeout: Duration::from_secs(30),
        }
    }

    fn candidates(&self) -> Vec<ControllerId> {
        vec![ControllerId(1)]
    }

    fn invite(&self, _: ControllerId, invitation: Invitation) -> Result<(), Invitation> {
        let sender = self.invitations.lock().unwrap_or_else(|p| p.into_inner());
        sender.send(invitation).map_err(|e| e.0)
    }
}

/// The server's core in process, and the test's controller of one call.
struct Core {
    rt: Runtime,
    sip: SocketAddr,
    invitations: std_mpsc::Receiver<Invitation>,
    events_tx: mpsc::Sender<(CallKey, Event)>,
    events: mpsc::Receiver<(CallKey, Event)>,
    next_request: u64,
    _ctx: Arc<CallContext>,
    _pacer: Pacer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Core {
    /// A core that offers every call from 127.0.0.0/8 to the test and plays
    /// prompts from `prompts`.
    fn start(prompts: &Path) -> Core {
        let port = free_port();
        let rtp = testkit::ports::free_ports(20);
        let yaml = format!(
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
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#,
            rtp_end = rtp + 19,
            dir = prompts.display(),
        );
        let config = Config::from_yaml(&yaml, "pause.yaml").expect("valid test config");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (invitations_tx, invitations) = std_mpsc::channel();
        let pool: Arc<dyn ControllerPool> = Arc::new(TestPool {
            invitations: Mutex::new(invitations_tx),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ctx, pacer) = rt.block_on(async {
            let (tx, rx) = mpsc::channel(1024);
            let (failures_tx, failures_rx) = mpsc::channel(1024);
            let udp: Vec<(String, SocketAddr)> = config
                .transports
                .values()
                .filter(|t| t.protocol == TransportProtocol::Udp)
                .map(|t| (t.name.clone(), t.listen_addr()))
                .collect();
            let transports = Transports::bind(&udp, &[], (&config.sip).into(), tx, failures_tx)
                .await
                .expect("bind SIP");
            let stack = sip_stack::SipStack::new(switchboard::server::stack_config(&config));
            let admission = switchboard::admission::Admission::new(&config, Instant::now());
            let (commands_tx, commands_rx) = mpsc::channel(SIP_COMMAND_QUEUE);
            let pacer = Pacer::start(PacerConfig::default()).expect("pacer");
            let mut controllers = Controllers::new(&config);
            controllers.register(ControllerKind::Agent, |_| pool.clone());
            let ctx = Arc::new(switchboard::server::call_context(
                &config,
                commands_tx,
                controllers,
                pacer.handle(),
            ));
            let driver = Driver::new(
                stack,
                admission,
                transports,
                rx,
                failures_rx,
                commands_rx,
                ctx.clone(),
                Duration::ZERO,
            );
            tokio::spawn(driver.run(async move {
                let _ = stopped.await;
            }));
            (ctx, pacer)
        });
        let (events_tx, events) = mpsc::channel(4096);
        Core {
            rt,
            sip: SocketAddr::from(([127, 0, 0, 1], port)),
            invitations,
            events_tx,
            events,
            next_request: 1,
            _ctx: ctx,
            _pacer: pacer,
            _stop: stop,
        }
    }

    /// A call from a testkit UA, taken and answered by the test; the UA's
    /// RTP peer records what the server sends.
    fn answered_call(&mut self, ua: &SipUa, peer: &RtpPeer) -> (CallHandle, UaCall) {
        let mut inbound = ua.call(self.sip, "100", peer.local_addr());
        let invitation = self.invitations.recv_timeout(WAIT).expect("an offer");
        let call = invitation.call.clone();
        let sink = EventSink::new(call.key, self.events_tx.clone());
        invitation.take(sink).expect("the offer stands");
        let answer = self.command(&call, Command::Answer { headers: vec![] });
        assert_eq!(self.done(answer), Ok(Output::None));
        assert_eq!(inbound.wait_final(WAIT), Some(200));
        peer.set_destination(inbound.negotiated().expect("caller SDP").remote_rtp);
        (call, inbound)
    }

    /// Sends `command` to `call`; returns the request id.
    fn command(&mut self, call: &CallHandle, command: Command) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        call.commands
            .try_send(Request { id, command })
            .expect("the call takes commands");
        id
    }

    /// The next event of the (one) call.
    fn event(&mut self) -> Event {
        let events = &mut self.events;
        match self
            .rt
            .block_on(async { tokio::time::timeout(WAIT, events.recv()).await })
        {
            Ok(Some((_, event))) => event,
            _ => panic!("no event in time"),
        }
    }

    /// The result of request `id`, skipping other events.
    fn done(&mut self, id: u64) -> Result<Output, Failure> {
        loop {
            match self.event() {
                Event::Done { id: done, result } if done == id => return result,
                Event::Done { id: other, .. } => panic!("Done for {other}, not {id}"),
                _ => {}
            }
        }
    }

    /// Waits for component `id` to start.
    fn started(&mut self, id: u64) {
        loop {
            match self.event() {
                Event::Started { id: started } if started == id => return,
                Event::Done { id: done, result } if done == id => {
                    panic!("{id} ended before it started: {result:?}")
                }
                _ => {}
            }
        }
    }

    /// Sends `command` and returns its result.
    fn request(&mut self, call: &CallHandle, command: Command) -> Result<Output, Failure> {
        let id = self.command(call, command);
        self.done(id)
    }
}

/// What one 20 ms frame the caller received sounds like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sound {
    Silence,
    Low,
    High,
    Other,
}

fn classify(packet: &ReceivedPacket) -> Sound {
    let samples = decode_audio(std::slice::from_ref(packet));
    if level_dbm0(&samples) < -50.0 {
        Sound::Silence
    } else if tone_fraction(&samples, 1000.0, 8000) > 0.8 {
        Sound::High
    } else if tone_fraction(&samples, 500.0, 8000) > 0.8 {
        Sound::Low
    } else {
        Sound::Other
    }
}

/// Consecutive runs of one sound: (sound, frames).
fn runs(sounds: &[Sound]) -> Vec<(Sound, usize)> {
    let mut runs: Vec<(Sound, usize)> = Vec::new();
    for &sound in sounds {
        match runs.last_mut() {
            Some((last, count)) if *last == sound => *count += 1,
            _ => runs.push((sound, 1)),
        }
    }
    runs
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
    let mut core = Core::start(dir.path());
    let ua = SipUa::bind();
    let peer = peer();
    let (call, mut inbound) = core.answered_call(&ua, &peer);
    assert!(peer.wait_for_packets(5, WAIT), "no RTP from the server");

    let play = core.command(&call, play("file://two.wav", false));
    core.started(play);
    std::thread::sleep(Duration::from_millis(300));
    let pause = Command::Pause { target: play };
    assert_eq!(core.request(&call, pause.clone()), Ok(Output::None));
    // Pausing again, and resuming later: no-ops that succeed.
    assert_eq!(core.request(&call, pause), Ok(Output::None));
    std::thread::sleep(Duration::from_millis(600));
    let resume = Command::Resume { target: play };
    assert_eq!(core.request(&call, resume.clone()), Ok(Output::None));
    assert_eq!(core.request(&call, resume), Ok(Output::None));
    assert_eq!(core.done(play), Ok(Output::None), "the play completes");
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
    let mut core = Core::start(dir.path());
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
    core.started(listen);
    assert!(matches!(
        core.request(&call, Command::Pause { target: listen }),
        Err(Failure::NotImplemented(_))
    ));
    let stop = core.command(&call, Command::Stop { target: listen });
    assert_eq!(core.done(listen), Err(Failure::Stopped));
    assert_eq!(core.done(stop), Ok(Output::None));

    // A looped play paused and resumed keeps looping past its length.
    let looped = core.command(&call, play("file://loop.wav", true));
    core.started(looped);
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
    assert_eq!(core.done(looped), Err(Failure::Stopped));
    assert_eq!(core.done(stop), Ok(Output::None));

    // Paused when the caller hangs up: completes `CallEnded`.
    let last = core.command(&call, play("file://loop.wav", true));
    core.started(last);
    assert_eq!(
        core.request(&call, Command::Pause { target: last }),
        Ok(Output::None)
    );
    inbound.hangup(WAIT).expect("BYE");
    assert_eq!(core.done(last), Err(Failure::CallEnded));
    loop {
        if let Event::Ended { .. } = core.event() {
            break;
        }
    }
}
