//! Rooms in the pacer core, driven tick by tick: members talk generated
//! tones through their feeds, and what each member's stream sends to its
//! loopback sink is decoded and measured with a Goertzel filter per tone.

use std::net::Ipv4Addr;
use std::time::Duration;

use media::goertzel::Goertzel;
use media::mixer::Direction;
use media::tone::{dbm0_to_amplitude, ToneGenerator};

use super::*;
use crate::media::pacer::rooms::{member_feed, MixerFeed};
use crate::media::pacer::source::PromptFrames;

mod components;

/// The members' tones, whole cycles per 20 ms frame.
const F: [f64; 3] = [600.0, 900.0, 1300.0];
/// Speech level of the tones.
const LEVEL: f64 = -15.0;
/// Ticks until a talker is steadily in the mix (jitter depth, VAD, fade).
const SETTLE: usize = 8;
/// Ticks measured after settling.
const MEASURE: usize = 10;
const ROOM: RoomId = RoomId(1);

/// One member: its stream's sink, its feed and its tone (if it talks).
struct Member {
    stream: StreamId,
    sink: UdpSocket,
    feed: MixerFeed,
    tone: Option<ToneGenerator>,
    sequence: u16,
    events: mpsc::Receiver<PacerEvent>,
}

struct Conference {
    core: PacerCore,
    members: Vec<Member>,
}

impl Conference {
    fn new() -> Self {
        Conference {
            core: PacerCore::new(8, Arc::default()),
            members: Vec::new(),
        }
    }

    /// Adds stream `n` to the core and joins it to `room` with `options`.
    fn join(&mut self, room: RoomId, tone: Option<f64>, options: ParticipantOptions) -> usize {
        let n = self.members.len();
        let stream = StreamId(100 + n as u64);
        let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind sink");
        sink.set_nonblocking(true).expect("nonblocking sink");
        let (events, rx) = mpsc::channel(64);
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let setup = StreamSetup {
            socket: Arc::new(socket),
            destination: sink.local_addr().expect("sink addr"),
            codec: G711::Pcmu,
            ssrc: n as u32,
            initial_sequence: 0,
            initial_timestamp: 0,
            source: FrameSource::Silence,
            after_prompt: AfterPrompt::Paused,
            events: Some(events),
            outbound: None,
        };
        self.core.add_stream(stream, setup, Arc::default());
        let (feed, inbound) = member_feed();
        let member = RoomMember {
            stream,
            codec: G711::Pcmu,
            options,
            inbound,
        };
        assert!(self.core.join_room(room, member));
        self.members.push(Member {
            stream,
            sink,
            feed: feed.for_payload_type(0),
            tone: tone.map(|f| ToneGenerator::sine(f, LEVEL)),
            sequence: 0,
            events: rx,
        });
        n
    }

    /// One 20 ms step: every talker's next frame into its feed, one tick.
    fn tick(&mut self) {
        self.tick_at(Instant::now());
    }

    /// [`tick`](Self::tick) scheduled at `due`.
    fn tick_at(&mut self, due: Instant) {
        for m in &mut self.members {
            let Some(tone) = m.tone.as_mut() else {
                continue;
            };
            let mut samples = [0i16; FRAME_SAMPLES];
            tone.fill(&mut samples);
            let mut frame = [0u8; FRAME_SAMPLES];
            G711::Pcmu.encode(&samples, &mut frame);
            // Refused once the member left (its queue is closed).
            let _ = m.feed.push(m.sequence, &frame);
            m.sequence = m.sequence.wrapping_add(1);
        }
        self.core.tick(due);
    }

    fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// The payloads member `n`'s stream sent since the last call.
    fn sent(&self, n: usize) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut buf = [0u8; 400];
        while let Ok(len) = self.members[n].sink.recv(&mut buf) {
            assert_eq!(len, PACKET_LEN);
            let mut frame = [0u8; FRAME_SAMPLES];
            frame.copy_from_slice(&buf[HEADER_LEN..len]);
            out.push(frame);
        }
        out
    }

    /// Forgets what was sent so far.
    fn forget(&self) {
        for n in 0..self.members.len() {
            self.sent(n);
        }
    }

    /// Settles, forgets, runs [`MEASURE`] ticks and returns the peak
    /// amplitude of each tone in what each member was sent.
    fn measure(&mut self) -> Vec<[f64; 3]> {
        self.run(SETTLE);
        self.forget();
        self.run(MEASURE);
        (0..self.members.len())
            .map(|n| {
                let frames = self.sent(n);
                assert_eq!(frames.len(), MEASURE, "member {n} sends every tick");
                amplitudes(&frames)
            })
            .collect()
    }

    fn speaking(&mut self, n: usize) -> Vec<bool> {
        let mut out = Vec::new();
        while let Ok(event) = self.members[n].events.try_recv() {
            if let PacerEvent::Speaking { stream, speaking } = event {
                assert_eq!(stream, self.members[n].stream);
                out.push(speaking);
            }
        }
        out
    }
}

/// Peak amplitude of each of [`F`] in µ-law frames.
fn amplitudes(frames: &[Frame]) -> [f64; 3] {
    let samples: Vec<f32> = frames
        .iter()
        .flatten()
        .map(|&code| f32::from(media::g711::ulaw_decode(code)))
        .collect();
    F.map(|f| {
        let power = Goertzel::new(f, 8000.0).power(&samples);
        2.0 * f64::from(power).sqrt() / samples.len() as f64
    })
}

fn duplex() -> ParticipantOptions {
    ParticipantOptions::default()
}

fn assert_hears(levels: &[[f64; 3]], listener: usize, talker: usize) {
    let expected = dbm0_to_amplitude(LEVEL);
    let heard = levels[listener][talker];
    assert!(
        (heard / expected - 1.0).abs() < 0.15,
        "member {listener} hears {} Hz at {heard:.0}, expected {expected:.0}",
        F[talker]
    );
}

fn assert_not_hears(levels: &[[f64; 3]], listener: usize, talker: usize) {
    let heard = levels[listener][talker];
    assert!(
        heard < dbm0_to_amplitude(LEVEL) / 100.0,
        "member {listener} hears {} Hz at {heard:.0}",
        F[talker]
    );
}

fn trio(options: [ParticipantOptions; 3]) -> Conference {
    let mut c = Conference::new();
    for (n, o) in options.into_iter().enumerate() {
        c.join(ROOM, Some(F[n]), o);
    }
    c
}

#[test]
fn each_member_hears_the_other_two_and_not_itself() {
    let mut c = trio([duplex(); 3]);
    let levels = c.measure();
    for listener in 0..3 {
        for talker in 0..3 {
            if listener == talker {
                assert_not_hears(&levels, listener, talker);
            } else {
                assert_hears(&levels, listener, talker);
            }
        }
    }
    assert_eq!((c.core.rooms(), c.core.room_members(ROOM)), (1, 3));
    assert_eq!(c.core.stats().snapshot().rooms, 1);
}

#[test]
fn a_muted_member_is_not_heard_but_hears() {
    let mut c = trio([duplex(); 3]);
    c.run(SETTLE);
    let muted = ParticipantOptions {
        mute: true,
        ..duplex()
    };
    assert!(c.core.set_member_options(ROOM, StreamId(101), muted));
    let levels = c.measure();
    assert_not_hears(&levels, 0, 1);
    assert_not_hears(&levels, 2, 1);
    assert_hears(&levels, 1, 0);
    assert_hears(&levels, 1, 2);
    // Unmuted, it is heard again.
    assert!(c.core.set_member_options(ROOM, StreamId(101), duplex()));
    let levels = c.measure();
    assert_hears(&levels, 0, 1);
    assert!(!c
        .core
        .set_member_options(RoomId(9), StreamId(101), duplex()));
    assert!(!c.core.set_member_options(ROOM, StreamId(9), duplex()));
}

#[test]
fn a_send_member_is_heard_and_gets_silence() {
    let send = ParticipantOptions {
        direction: Direction::Send,
        ..duplex()
    };
    let mut c = trio([duplex(), duplex(), send]);
    let levels = c.measure();
    assert_hears(&levels, 0, 2);
    assert_hears(&levels, 1, 2);
    c.forget();
    c.run(3);
    let silence = [G711::Pcmu.silence_code(); FRAME_SAMPLES];
    assert_eq!(
        c.sent(2),
        vec![silence; 3],
        "deaf: silent frames, still sent"
    );
}

#[test]
fn a_member_that_leaves_is_no_longer_heard_and_hears_nothing() {
    let mut c = trio([duplex(); 3]);
    c.run(SETTLE);
    assert!(c.core.leave_room(ROOM, StreamId(102)));
    assert!(!c.core.leave_room(ROOM, StreamId(102)));
    let levels = c.measure();
    assert_not_hears(&levels, 0, 2);
    assert_not_hears(&levels, 1, 2);
    assert_hears(&levels, 0, 1);
    // Back to silence on its own stream.
    assert_not_hears(&levels, 2, 0);
    assert_not_hears(&levels, 2, 1);
    assert_eq!(c.core.room_members(ROOM), 2);
}

#[test]
fn the_room_goes_with_its_last_member_and_removal_leaves() {
    let mut c = Conference::new();
    c.join(ROOM, Some(F[0]), duplex());
    c.join(ROOM, Some(F[1]), duplex());
    c.join(RoomId(2), None, duplex());
    c.run(2);
    assert_eq!(c.core.rooms(), 2);
    assert!(c.core.remove_stream(StreamId(100)));
    assert_eq!(c.core.room_members(ROOM), 1);
    assert!(c.core.leave_room(ROOM, StreamId(101)));
    assert_eq!((c.core.rooms(), c.core.room_members(ROOM)), (1, 0));
    assert!(!c.core.leave_room(ROOM, StreamId(101)), "the room is gone");
    // Joining another room moves the stream.
    let (_, inbound) = member_feed();
    let member = RoomMember {
        stream: StreamId(102),
        codec: G711::Pcmu,
        options: duplex(),
        inbound,
    };
    assert!(c.core.join_room(RoomId(3), member));
    assert_eq!(c.core.rooms(), 1);
    assert_eq!(c.core.room_members(RoomId(3)), 1);
    let (_, inbound) = member_feed();
    let stranger = RoomMember {
        stream: StreamId(9),
        codec: G711::Pcmu,
        options: duplex(),
        inbound,
    };
    assert!(!c.core.join_room(RoomId(3), stranger));
    c.run(2);
}

#[test]
fn speaking_is_reported_once_per_change_to_the_member_stream() {
    let mut c = Conference::new();
    c.join(ROOM, Some(F[0]), duplex());
    c.join(ROOM, None, duplex());
    c.run(20);
    assert_eq!(c.speaking(0), [true]);
    assert!(c.speaking(1).is_empty());
    // Silent past the hangover (300 ms): stopped, once.
    c.members[0].tone = None;
    c.run(40);
    assert_eq!(c.speaking(0), [false]);
    // A speaker that leaves is reported stopped at once.
    c.members[0].tone = Some(ToneGenerator::sine(F[0], LEVEL));
    c.run(20);
    assert_eq!(c.speaking(0), [true]);
    assert!(c.core.leave_room(ROOM, StreamId(100)));
    assert_eq!(c.speaking(0), [false]);
    c.run(5);
    assert!(c.speaking(0).is_empty());
    assert!(c.speaking(1).is_empty());
}

#[test]
fn a_prompt_on_a_member_stream_then_back_to_the_mix() {
    let mut c = trio([duplex(); 3]);
    c.run(SETTLE);
    let frames: Vec<Frame> = (1..=3u8).map(|k| [k; FRAME_SAMPLES]).collect();
    let prompt = FrameSource::Prompt {
        frames: PromptFrames::from_frames(frames.into()),
        looped: false,
        start: 0,
        tag: 5,
    };
    assert!(c.core.set_source(StreamId(100), prompt));
    c.forget();
    c.run(3);
    let firsts: Vec<u8> = c.sent(0).iter().map(|f| f[0]).collect();
    assert_eq!(firsts, [1, 2, 3]);
    let finished: Vec<PacerEvent> = std::iter::from_fn(|| c.members[0].events.try_recv().ok())
        .filter(|e| matches!(e, PacerEvent::PromptFinished { .. }))
        .collect();
    assert!(finished.is_empty(), "not yet: the last frame just went");
    // The prompt ends: the stream hears the room again, not its AfterPrompt
    // (which would send nothing).
    let levels = c.measure();
    assert_hears(&levels, 0, 1);
    assert_hears(&levels, 0, 2);
    assert_not_hears(&levels, 0, 0);
    let finished = std::iter::from_fn(|| c.members[0].events.try_recv().ok())
        .filter(|e| matches!(e, PacerEvent::PromptFinished { tag: 5, .. }))
        .count();
    assert_eq!(finished, 1);
}

#[test]
fn a_stream_out_of_any_room_sends_silence_as_mixed() {
    let (sink, to) = {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let to = s.local_addr().expect("addr");
        (s, to)
    };
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    let setup = StreamSetup {
        socket: Arc::new(socket),
        destination: to,
        codec: G711::Pcma,
        ssrc: 1,
        initial_sequence: 0,
        initial_timestamp: 0,
        source: FrameSource::Mixed,
        after_prompt: AfterPrompt::Silence,
        events: None,
        outbound: None,
    };
    let mut core = PacerCore::new(1, Arc::default());
    core.add_stream(StreamId(1), setup, Arc::default());
    core.tick(Instant::now());
    let mut buf = [0u8; 400];
    let len = sink.recv(&mut buf).expect("a packet");
    assert!(buf[HEADER_LEN..len]
        .iter()
        .all(|&b| b == G711::Pcma.silence_code()));
}
