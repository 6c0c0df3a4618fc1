//! One pacer tick with conference rooms: every member's frame queued, every
//! room mixed, every member stream's frame sent on loopback. Cases: (a) 100
//! rooms of 5, (b) one room of 200, each beside the same streams sending
//! silence without rooms, so the mixing share is the difference.
//!
//! Every member talks a speech-level tone (a different pitch for each), so
//! every voice detector hears speech and each room picks its loudest three.
//! Only `PacerCore::tick` is timed; queueing the frames (the receive task's
//! work) happens outside the measurement.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use media::mixer::ParticipantOptions;
use media::tone::ToneGenerator;
use switchboard::media::pacer::{
    member_feed, AfterPrompt, Frame, FrameSource, MixerFeed, PacerCore, RoomId, RoomMember,
    StreamId, StreamSetup, FRAME_SAMPLES, G711,
};

/// Frames of tone each member cycles through (one second).
const TONE_FRAMES: usize = 50;
/// Distinct pitches the members talk in.
const PITCHES: usize = 16;

/// A pacer core whose streams all send from one socket to one sink that is
/// never read (the kernel drops what overflows it, as a real peer's
/// socket would not, but the send costs the same).
struct Bench {
    core: PacerCore,
    feeds: Vec<(MixerFeed, usize)>,
    tones: Vec<Vec<Frame>>,
    tick: usize,
    _sink: UdpSocket,
}

impl Bench {
    fn new(rooms: usize, members: usize, in_rooms: bool) -> Bench {
        let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind sink");
        let to = sink.local_addr().expect("sink address");
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket.set_nonblocking(true).expect("non-blocking");
        let socket = Arc::new(socket);
        let mut core = PacerCore::new(rooms * members, Arc::default());
        let mut feeds = Vec::new();
        for r in 0..rooms {
            for m in 0..members {
                let id = StreamId((r * members + m) as u64);
                let setup = StreamSetup {
                    socket: socket.clone(),
                    destination: to,
                    codec: G711::Pcmu,
                    ssrc: id.0 as u32,
                    initial_sequence: 0,
                    initial_timestamp: 0,
                    source: FrameSource::Silence,
                    after_prompt: AfterPrompt::Silence,
                    events: None,
                    outbound: None,
                };
                core.add_stream(id, setup, Arc::default());
                if in_rooms {
                    let (feed, inbound) = member_feed();
                    let member = RoomMember {
                        stream: id,
                        codec: G711::Pcmu,
                        options: ParticipantOptions::default(),
                        inbound,
                    };
                    assert!(core.join_room(RoomId(r as u64), member));
                    feeds.push((feed, (r * members + m) % PITCHES));
                }
            }
        }
        let tones = (0..PITCHES)
            .map(|k| {
                let mut tone = ToneGenerator::sine(300.0 + 97.0 * k as f64, -20.0);
                (0..TONE_FRAMES)
                    .map(|_| {
                        let mut samples = [0i16; FRAME_SAMPLES];
                        tone.fill(&mut samples);
                        let mut frame = [0u8; FRAME_SAMPLES];
                        G711::Pcmu.encode(&samples, &mut frame);
                        frame
                    })
                    .collect()
            })
            .collect();
        let mut bench = Bench {
            core,
            feeds,
            tones,
            tick: 0,
            _sink: sink,
        };
        // Past the jitter buffers' fill and the voice detectors' onset.
        for _ in 0..20 {
            bench.step();
        }
        bench
    }

    /// Queues every member's next frame (untimed), then times one tick.
    fn step(&mut self) -> Duration {
        let sequence = self.tick as u16;
        for (feed, pitch) in &self.feeds {
            let frame = &self.tones[*pitch][self.tick % TONE_FRAMES];
            let _ = feed.push(sequence, frame);
        }
        self.tick += 1;
        let start = Instant::now();
        self.core.tick(start);
        start.elapsed()
    }
}

fn case(c: &mut Criterion, name: &str, rooms: usize, members: usize, in_rooms: bool) {
    let mut bench = Bench::new(rooms, members, in_rooms);
    c.bench_function(name, |b| {
        b.iter_custom(|iterations| (0..iterations).map(|_| bench.step()).sum())
    });
}

fn rooms(c: &mut Criterion) {
    case(c, "pacer_tick_100_rooms_of_5", 100, 5, true);
    case(c, "pacer_tick_500_streams_no_rooms", 100, 5, false);
    case(c, "pacer_tick_1_room_of_200", 1, 200, true);
    case(c, "pacer_tick_200_streams_no_rooms", 1, 200, false);
}

criterion_group!(benches, rooms);
criterion_main!(benches);
