//! No clicks: joins, leaves, mute, reordering and loss keep every step
//! between consecutive samples within what the tone itself makes.

use super::room::{duplex, id, tone_level, Room, Tone, LEVEL, SETTLE};
use crate::mixer::{Codec, MixerConfig, ParticipantOptions, FRAME};
use crate::tone::dbm0_to_amplitude;

/// What a 600 Hz cosine at [`LEVEL`] moves at most per sample,
/// 2·A·sin(π·600/8000), plus twice G.711's quantisation step at that level.
fn step_bound() -> i32 {
    let natural = 2.0 * dbm0_to_amplitude(LEVEL) * (std::f64::consts::PI * 600.0 / 8000.0).sin();
    (natural + 600.0) as i32
}

/// Largest step between consecutive samples.
fn largest_step(samples: &[i16]) -> i32 {
    samples
        .windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

#[test]
fn no_click_at_join_and_leave() {
    let mut room = Room::new(MixerConfig::default());
    room.add(1, Codec::Pcmu, duplex(), None);
    room.run(5);
    let tone = Tone::new(600.0, LEVEL);
    room.add(0, Codec::Pcmu, duplex(), Some(tone));
    room.run(10);
    room.remove(0);
    room.run(5);
    let heard = room.heard(1);
    // An unfaded entry at the cosine's peak would step by the full amplitude.
    let a = tone.amplitude;
    let bound = step_bound();
    assert!(bound < a as i32);
    let step = largest_step(heard);
    assert!(step <= bound, "step {step} > {bound}");
    assert!(
        heard.iter().any(|&s| f64::from(s) > 0.9 * a),
        "tone was heard"
    );
    assert!(heard[heard.len() - FRAME..].iter().all(|&s| s.abs() <= 8));
}

#[test]
fn jitter_buffer_reorders_within_its_depth() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), None);
    room.talkers.get_mut(&id(0)).expect("present").swap_pairs = true;
    room.run(SETTLE + 2);
    room.forget();
    room.run(20);
    assert!((room.level(1, 600.0) - LEVEL).abs() < 1.0);
    let heard = room.heard(1);
    assert!(largest_step(heard) <= step_bound(), "no gap");
    let stats = room.mixer.jitter_stats(id(0)).expect("present");
    assert_eq!((stats.lost, stats.late, stats.duplicates), (0, 0, 0));
    // A duplicate and a late packet are dropped and counted.
    let silence = [0xFFu8; FRAME];
    room.mixer.push(id(0), 1000, &silence).expect("present");
    assert_eq!(room.mixer.jitter_stats(id(0)).expect("present").late, 1);
}

#[test]
fn a_lost_packet_fades_out_and_back_in_without_a_click() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), None);
    room.run(SETTLE + 4);
    room.talkers.get_mut(&id(0)).expect("present").lose_next = true;
    room.run(10);
    assert!(largest_step(room.heard(1)) <= step_bound());
    assert_eq!(room.mixer.jitter_stats(id(0)).expect("present").lost, 1);
    assert_eq!(room.events.len(), 1, "a single loss does not end speech");
}

#[test]
fn muting_a_speaker_fades_it_out_and_unmuting_back_in() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), None);
    room.run(SETTLE);
    let muted = ParticipantOptions {
        mute: true,
        ..duplex()
    };
    room.mixer.set_options(id(0), muted).expect("present");
    room.run(5);
    room.mixer.set_options(id(0), duplex()).expect("present");
    room.run(5);
    let heard = room.heard(1);
    assert!(largest_step(heard) <= step_bound());
    let muted_span = &heard[(SETTLE + 1) * FRAME..(SETTLE + 5) * FRAME];
    assert!(
        muted_span.iter().all(|&s| s.abs() <= 8),
        "silent while muted"
    );
    assert!(tone_level(&heard[heard.len() - 3 * FRAME..], 600.0) > LEVEL - 1.0);
}
