//! A pacer tick with rooms does not allocate once its buffers are warm:
//! members' frames queued, every room mixed (loudest speakers, mix-minus,
//! both laws, a looped player), every member stream sent on loopback,
//! counted by a per-thread counting allocator.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use media::mixer::{Direction, ParticipantOptions};
use media::tone::ToneGenerator;
use switchboard::media::pacer::{
    member_feed, AfterPrompt, Frame, FrameSource, MixerFeed, PacerCore, PromptFrames, RoomId,
    RoomMember, RoomPlayer, StreamId, StreamSetup, FRAME_SAMPLES, G711,
};
use testkit::alloc_count::{allocations_on_this_thread, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One second of a tone, encoded.
fn tone(frequency: f64, codec: G711) -> Vec<Frame> {
    let mut generator = ToneGenerator::sine(frequency, -15.0);
    (0..50)
        .map(|_| {
            let mut samples = [0i16; FRAME_SAMPLES];
            generator.fill(&mut samples);
            let mut frame = [0u8; FRAME_SAMPLES];
            codec.encode(&samples, &mut frame);
            frame
        })
        .collect()
}

#[test]
fn a_tick_with_rooms_does_not_allocate() {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind sink");
    let to = sink.local_addr().expect("sink address");
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    socket.set_nonblocking(true).expect("non-blocking");
    let socket = Arc::new(socket);
    let mut core = PacerCore::new(16, Arc::default());
    let mut talkers: Vec<(MixerFeed, Vec<Frame>)> = Vec::new();
    let mut events = Vec::new();
    for n in 0..8u64 {
        let codec = if n % 3 == 0 { G711::Pcma } else { G711::Pcmu };
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        events.push(rx);
        let setup = StreamSetup {
            socket: socket.clone(),
            destination: to,
            codec,
            ssrc: n as u32,
            initial_sequence: 0,
            initial_timestamp: 0,
            source: FrameSource::Silence,
            after_prompt: AfterPrompt::Silence,
            events: Some(tx),
            outbound: None,
        };
        core.add_stream(StreamId(n), setup, Arc::default());
        let (feed, inbound) = member_feed();
        let direction = match n {
            4 => Direction::Send,
            5 => Direction::Recv,
            _ => Direction::Duplex,
        };
        let member = RoomMember {
            stream: StreamId(n),
            codec,
            options: ParticipantOptions {
                direction,
                ..ParticipantOptions::default()
            },
            inbound,
        };
        assert!(core.join_room(RoomId(n % 2), member));
        talkers.push((feed, tone(400.0 + 100.0 * n as f64, codec)));
    }
    // A looped announcement to one room.
    let player = RoomPlayer {
        id: StreamId(50),
        codec: G711::Pcmu,
        frames: PromptFrames::from_frames(tone(1500.0, G711::Pcmu).into()),
        looped: true,
        start: 0,
        paused: false,
        tag: 1,
        events: None,
    };
    assert!(core.play_to_room(RoomId(0), player));
    // A stream outside any room, sending silence, walks beside them.
    let setup = StreamSetup {
        socket: socket.clone(),
        destination: to,
        codec: G711::Pcmu,
        ssrc: 99,
        initial_sequence: 0,
        initial_timestamp: 0,
        source: FrameSource::Silence,
        after_prompt: AfterPrompt::Silence,
        events: None,
        outbound: None,
    };
    core.add_stream(StreamId(99), setup, Arc::default());

    let tick = |k: usize, core: &mut PacerCore| {
        for (feed, frames) in &talkers {
            let _ = feed.push(k as u16, &frames[k % frames.len()]);
        }
        core.tick(Instant::now());
    };
    // Warm up: jitter buffers fill, voices enter the mix, scratch grows.
    for k in 0..40 {
        tick(k, &mut core);
    }
    let probe = allocations_on_this_thread();
    drop(Vec::<u8>::with_capacity(16));
    assert!(allocations_on_this_thread() > probe, "the counter works");
    let before = allocations_on_this_thread();
    for k in 40..240 {
        tick(k, &mut core);
    }
    let allocated = allocations_on_this_thread() - before;
    assert_eq!(allocated, 0, "allocations in 200 ticks with rooms");
    assert_eq!(core.rooms(), 2);
    // The speakers were reported (during the warm-up).
    assert!(events[1].try_recv().is_ok());
}
