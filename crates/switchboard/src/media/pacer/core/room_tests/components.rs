//! A player heard by the whole room and a tap recording the room's mix.

use std::time::Duration;

use media::wav::WavAudio;

use super::*;
use crate::media::pacer::room_components::{RoomPlayer, RoomTap};
use crate::media::recorder::{Channel, Recorder};

/// `n` frames of a 1000 Hz tone at [`LEVEL`], µ-law.
fn prompt(n: usize) -> PromptFrames {
    let mut tone = ToneGenerator::sine(1000.0, LEVEL);
    let mut samples = vec![0i16; n * FRAME_SAMPLES];
    tone.fill(&mut samples);
    PromptFrames::encode(&samples, G711::Pcmu)
}

/// Peak amplitude of 1000 Hz in µ-law frames.
fn amplitude_1k(frames: &[Frame]) -> f64 {
    let samples: Vec<f32> = frames
        .iter()
        .flatten()
        .map(|&code| f32::from(media::g711::ulaw_decode(code)))
        .collect();
    let power = Goertzel::new(1000.0, 8000.0).power(&samples);
    2.0 * f64::from(power).sqrt() / samples.len() as f64
}

#[test]
fn a_player_is_heard_by_every_member_and_reports_its_end() {
    let mut c = Conference::new();
    c.join(ROOM, None, duplex());
    c.join(ROOM, None, duplex());
    let (events, mut finished) = mpsc::channel(4);
    let player = |id, events| RoomPlayer {
        id,
        codec: G711::Pcmu,
        frames: prompt(30),
        looped: false,
        start: 0,
        paused: false,
        tag: 77,
        events,
    };
    assert!(!c.core.play_to_room(RoomId(9), player(StreamId(500), None)));
    assert!(c
        .core
        .play_to_room(ROOM, player(StreamId(500), Some(events))));
    assert!(
        !c.core.play_to_room(ROOM, player(StreamId(100), None)),
        "a member's id is taken"
    );
    c.run(SETTLE);
    c.forget();
    c.run(MEASURE);
    let expected = dbm0_to_amplitude(LEVEL);
    for n in 0..2 {
        let heard = amplitude_1k(&c.sent(n));
        assert!(
            (heard / expected - 1.0).abs() < 0.15,
            "member {n}: {heard:.0}"
        );
    }
    assert!(finished.try_recv().is_err(), "still playing");
    // 30 frames and the jitter buffer's depth later it is done.
    c.run(30);
    assert_eq!(
        finished.try_recv().ok(),
        Some(PacerEvent::PromptFinished {
            stream: StreamId(500),
            tag: 77
        })
    );
    c.forget();
    c.run(MEASURE);
    assert!(amplitude_1k(&c.sent(0)) < expected / 100.0, "silent after");
    assert_eq!(c.core.room_members(ROOM), 2);
    // A looped one plays until stopped by its id.
    let mut looped = player(StreamId(501), None);
    looped.looped = true;
    assert!(c.core.play_to_room(ROOM, looped));
    c.run(40);
    c.forget();
    c.run(MEASURE);
    assert!(amplitude_1k(&c.sent(1)) > expected / 2.0, "looping");
    assert!(c.core.leave_room(ROOM, StreamId(501)));
    assert!(!c.core.leave_room(ROOM, StreamId(501)));
    c.run(3);
    c.forget();
    c.run(MEASURE);
    assert!(amplitude_1k(&c.sent(1)) < expected / 100.0, "stopped");
}

#[test]
fn a_tap_records_the_whole_room() {
    let Some(t0) = Instant::now().checked_sub(Duration::from_secs(3)) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("room.wav");
    let recorder = Recorder::start(&path, t0).expect("start recording");
    let mut c = trio([duplex(); 3]);
    let tap = RoomTap {
        id: StreamId(600),
        codec: G711::Pcmu,
        tap: recorder.tap(Channel::Left),
    };
    assert!(c.core.record_room(ROOM, tap));
    let ticks = 60u32;
    for k in 0..ticks {
        c.tick_at(t0 + Duration::from_millis(20) * k);
    }
    // The tap hears, nobody hears the tap.
    assert_eq!(c.core.room_members(ROOM), 3);
    recorder
        .finish(t0 + Duration::from_millis(20) * ticks)
        .expect("finish");
    let audio = WavAudio::open(&path).expect("a WAV file");
    let left = audio.channel(0);
    assert!(left.len() >= 1000 * 8, "{} samples", left.len());
    // The last 400 ms: all three tones at their level.
    let tail: Vec<f32> = left[left.len() - 3200..]
        .iter()
        .map(|&s| f32::from(s))
        .collect();
    let expected = dbm0_to_amplitude(LEVEL);
    for f in F {
        let power = Goertzel::new(f, 8000.0).power(&tail);
        let heard = 2.0 * f64::from(power).sqrt() / tail.len() as f64;
        assert!((heard / expected - 1.0).abs() < 0.2, "{f} Hz at {heard:.0}");
    }
    assert!(c.core.leave_room(ROOM, StreamId(600)));
}

#[test]
fn a_player_is_heard_over_members_who_talk() {
    let mut c = trio([duplex(); 3]);
    c.run(SETTLE);
    let player = RoomPlayer {
        id: StreamId(500),
        codec: G711::Pcmu,
        frames: prompt(60),
        looped: false,
        start: 0,
        paused: false,
        tag: 1,
        events: None,
    };
    assert!(c.core.play_to_room(ROOM, player));
    c.run(SETTLE);
    c.forget();
    c.run(MEASURE);
    let expected = dbm0_to_amplitude(LEVEL);
    for n in 0..3 {
        let heard = amplitude_1k(&c.sent(n));
        assert!(
            (heard / expected - 1.0).abs() < 0.2,
            "member {n}: {heard:.0} of {expected:.0}"
        );
    }
    // Paused, it is not heard; resumed, it is again.
    assert!(c.core.pause_room_player(ROOM, StreamId(500), true));
    c.run(SETTLE);
    c.forget();
    c.run(MEASURE);
    assert!(amplitude_1k(&c.sent(0)) < expected / 100.0, "paused");
    assert!(c.core.pause_room_player(ROOM, StreamId(500), false));
    c.run(SETTLE);
    c.forget();
    c.run(MEASURE);
    assert!(amplitude_1k(&c.sent(0)) > expected / 2.0, "resumed");
}
