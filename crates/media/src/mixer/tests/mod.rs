//! Room tests with generated tones: who hears whom is measured with a
//! Goertzel filter per tone on what each participant receives.

mod continuity;
mod room;

use super::*;
use room::{duplex, id, with_direction, Room, Tone, INAUDIBLE_DBM0, LEVEL, SETTLE};

const F: [f64; 3] = [600.0, 900.0, 1300.0];

fn trio(options: [ParticipantOptions; 3]) -> Room {
    let mut room = Room::new(MixerConfig::default());
    for (n, o) in options.into_iter().enumerate() {
        room.add(n as u64, Codec::Pcmu, o, Some(Tone::new(F[n], LEVEL)));
    }
    room.run(SETTLE);
    room.forget();
    room.run(10);
    room
}

fn assert_hears(room: &Room, listener: u64, talker: usize) {
    let level = room.level(listener, F[talker]);
    assert!(
        (level - LEVEL).abs() < 1.0,
        "{listener} hears {} Hz at {level:.1} dBm0",
        F[talker]
    );
}

fn assert_not_hears(room: &Room, listener: u64, talker: usize) {
    let level = room.level(listener, F[talker]);
    assert!(
        level < INAUDIBLE_DBM0,
        "{listener} hears {} Hz at {level:.1} dBm0",
        F[talker]
    );
}

#[test]
fn each_hears_the_other_two_at_their_level_and_not_itself() {
    let room = trio([duplex(); 3]);
    for listener in 0..3u64 {
        assert_eq!(room.heard(listener).len(), 10 * FRAME);
        for talker in 0..3 {
            if talker as u64 == listener {
                assert_not_hears(&room, listener, talker);
            } else {
                assert_hears(&room, listener, talker);
            }
        }
    }
}

#[test]
fn a_single_speaker_is_heard_at_its_own_level() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, -20.0)));
    room.add(1, Codec::Pcma, duplex(), None);
    room.run(SETTLE);
    room.forget();
    room.run(10);
    let level = room.level(1, 600.0);
    assert!((level + 20.0).abs() < 1.0, "{level:.2}");
    // The speaker itself hears the room without its own voice: silence.
    assert!(room.heard(0).iter().all(|&s| s.abs() <= 8));
}

#[test]
fn muted_is_not_heard_but_hears() {
    let muted = ParticipantOptions {
        mute: true,
        ..duplex()
    };
    let room = trio([duplex(), muted, duplex()]);
    assert_not_hears(&room, 0, 1);
    assert_not_hears(&room, 2, 1);
    assert_hears(&room, 1, 0);
    assert_hears(&room, 1, 2);
}

#[test]
fn send_is_heard_and_gets_nothing() {
    let room = trio([duplex(), with_direction(Direction::Send), duplex()]);
    assert_hears(&room, 0, 1);
    assert_hears(&room, 2, 1);
    assert!(room.heard(1).is_empty());
}

#[test]
fn recv_hears_and_is_not_heard() {
    let room = trio([duplex(), duplex(), with_direction(Direction::Recv)]);
    assert_hears(&room, 2, 0);
    assert_hears(&room, 2, 1);
    assert_not_hears(&room, 0, 2);
    assert_not_hears(&room, 1, 2);
    assert!(!room.events.iter().any(|e| e.id == id(2)));
}

#[test]
fn deaf_hears_nothing_and_is_heard() {
    let deaf = ParticipantOptions {
        deaf: true,
        ..duplex()
    };
    let room = trio([deaf, duplex(), duplex()]);
    assert!(room.heard(0).is_empty());
    assert_hears(&room, 1, 0);
}

#[test]
fn after_a_leave_the_others_stop_hearing_it() {
    let mut room = trio([duplex(); 3]);
    room.remove(1);
    assert!(!room.mixer.contains(id(1)));
    room.run(2);
    room.forget();
    room.run(10);
    assert_not_hears(&room, 0, 1);
    assert_not_hears(&room, 2, 1);
    assert_hears(&room, 0, 2);
    assert_eq!(
        room.events.last(),
        Some(&SpeakerEvent {
            id: id(1),
            speaking: false
        })
    );
    assert_eq!(room.mixer.len(), 2);
}

#[test]
fn only_the_loudest_three_of_five_are_heard() {
    let freqs = [500.0, 700.0, 1100.0, 1500.0, 1900.0];
    let levels = [-17.0, -8.0, -20.0, -11.0, -14.0];
    let mut room = Room::new(MixerConfig::default());
    for n in 0..5 {
        let tone = Tone::new(freqs[n], levels[n]);
        room.add(n as u64, Codec::Pcmu, duplex(), Some(tone));
    }
    room.add(9, Codec::Pcma, with_direction(Direction::Recv), None);
    room.run(SETTLE);
    room.forget();
    room.run(10);
    for n in 0..5 {
        let level = room.level(9, freqs[n]);
        if levels[n] >= -14.0 {
            assert!(
                (level - levels[n]).abs() < 1.0,
                "{} Hz at {level:.1}",
                freqs[n]
            );
        } else {
            assert!(level < INAUDIBLE_DBM0, "{} Hz at {level:.1}", freqs[n]);
        }
    }
}

#[test]
fn speaker_events_follow_the_tone() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), None);
    room.run(10);
    assert_eq!(
        room.events,
        vec![SpeakerEvent {
            id: id(0),
            speaking: true
        }]
    );
    assert_eq!(room.mixer.is_speaking(id(0)), Ok(true));
    room.talkers.get_mut(&id(0)).expect("present").tone = None;
    room.run(40); // > hangover
    assert_eq!(room.events.len(), 2);
    assert_eq!(
        room.events[1],
        SpeakerEvent {
            id: id(0),
            speaking: false
        }
    );
    room.talkers.get_mut(&id(1)).expect("present").tone = Some(Tone::new(900.0, LEVEL));
    room.run(10);
    assert_eq!(room.events.len(), 3);
    assert_eq!(room.events[2].id, id(1));
    assert!(room.events[2].speaking);
}

#[test]
fn pcmu_and_pcma_share_a_room() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(F[0], LEVEL)));
    room.add(1, Codec::Pcma, duplex(), Some(Tone::new(F[1], LEVEL)));
    room.add(2, Codec::Pcma, duplex(), Some(Tone::new(F[2], LEVEL)));
    room.add(3, Codec::Pcmu, with_direction(Direction::Recv), None);
    room.add(4, Codec::Pcma, with_direction(Direction::Recv), None);
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert_hears(&room, 0, 1);
    assert_hears(&room, 1, 2);
    assert_hears(&room, 2, 0);
    for listener in [3, 4] {
        for talker in 0..3 {
            assert_hears(&room, listener, talker);
        }
    }
}

#[test]
fn refusals() {
    let mut mixer = Mixer::new(MixerConfig::default());
    mixer.add(id(1), Codec::Pcmu, duplex()).expect("first add");
    assert_eq!(
        mixer.add(id(1), Codec::Pcma, duplex()),
        Err(MixerError::DuplicateParticipant(id(1)))
    );
    assert_eq!(
        mixer.push(id(1), 0, &[0xFF; 80]),
        Err(MixerError::FrameSize(80))
    );
    assert_eq!(
        mixer.push(id(2), 0, &[0xFF; FRAME]),
        Err(MixerError::UnknownParticipant(id(2)))
    );
    assert_eq!(
        mixer.remove(id(2)),
        Err(MixerError::UnknownParticipant(id(2)))
    );
    mixer.remove(id(1)).expect("present");
    assert!(mixer.is_empty());
}

#[test]
fn a_speaker_can_rejoin_while_fading_out() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(600.0, LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), None);
    room.run(SETTLE);
    room.remove(0);
    room.add(0, Codec::Pcma, duplex(), Some(Tone::new(900.0, LEVEL)));
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert_not_hears(&room, 1, 0);
    assert_hears(&room, 1, 1);
    assert_eq!(room.mixer.len(), 2);
}

#[test]
fn an_always_heard_source_is_mixed_below_the_speech_threshold_and_beyond_the_count() {
    let config = MixerConfig {
        max_speakers: 1,
        ..MixerConfig::default()
    };
    let mut room = Room::new(config);
    let announcement = ParticipantOptions {
        always_heard: true,
        ..with_direction(Direction::Send)
    };
    // −45 dBm0 (≈ −51 dBov) is below the VAD threshold: an ordinary talker
    // this quiet is not mixed, the announcement is.
    room.add(0, Codec::Pcmu, announcement, Some(Tone::new(F[0], -45.0)));
    let send = with_direction(Direction::Send);
    room.add(1, Codec::Pcmu, send, Some(Tone::new(F[1], -45.0)));
    room.add(2, Codec::Pcma, duplex(), None);
    room.add(3, Codec::Pcmu, with_direction(Direction::Recv), None);
    room.run(SETTLE);
    room.forget();
    room.run(10);
    let level = room.level(3, F[0]);
    assert!((level + 45.0).abs() < 1.0, "{level:.1}");
    assert!(room.level(3, F[1]) < -65.0);
    // With one speaker allowed and taken, the announcement is still mixed.
    room.talkers.get_mut(&id(0)).expect("present").tone = Some(Tone::new(F[0], -20.0));
    room.talkers.get_mut(&id(1)).expect("present").tone = Some(Tone::new(F[1], -15.0));
    room.talkers.get_mut(&id(2)).expect("present").tone = Some(Tone::new(F[2], LEVEL));
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert!((room.level(3, F[0]) + 20.0).abs() < 1.0);
    assert!(room.level(3, F[1]) < INAUDIBLE_DBM0, "only one speaker");
    assert_hears(&room, 3, 2);
    assert!(
        (room.level(2, F[0]) + 20.0).abs() < 1.0,
        "the speaker hears it too"
    );
}

#[test]
fn listeners_who_do_not_speak_get_the_same_bytes() {
    let mut room = Room::new(MixerConfig::default());
    for n in 0..3 {
        room.add(
            n,
            Codec::Pcmu,
            duplex(),
            Some(Tone::new(F[n as usize], LEVEL)),
        );
    }
    for n in 3..10 {
        let codec = if n % 2 == 0 { Codec::Pcmu } else { Codec::Pcma };
        room.add(n, codec, duplex(), None);
    }
    room.run(SETTLE);
    let mut frames: Vec<(ParticipantId, *const u8)> = Vec::new();
    room.mixer
        .tick(|pid, bytes| frames.push((pid, bytes.as_ptr())));
    let address = |n: u64| frames.iter().find(|f| f.0 == id(n)).map(|f| f.1);
    let (ulaw, alaw) = (address(4), address(3));
    assert!(ulaw.is_some() && alaw.is_some() && ulaw != alaw);
    for n in 3..10 {
        let same = if n % 2 == 0 { ulaw } else { alaw };
        assert_eq!(address(n), same, "listener {n} shares its codec's encoding");
    }
}

#[test]
fn a_speaker_in_the_mix_keeps_its_place_against_a_slightly_louder_one() {
    let config = MixerConfig {
        max_speakers: 1,
        ..MixerConfig::default()
    };
    let mut room = Room::new(config);
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(F[0], LEVEL)));
    room.add(9, Codec::Pcmu, with_direction(Direction::Recv), None);
    room.run(SETTLE);
    // 1 dB louder: within the incumbent's bonus.
    room.add(1, Codec::Pcmu, duplex(), Some(Tone::new(F[1], LEVEL + 1.0)));
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert_hears(&room, 9, 0);
    assert!(room.level(9, F[1]) < INAUDIBLE_DBM0);
    // 4 dB louder takes over.
    room.talkers.get_mut(&id(1)).expect("present").tone = Some(Tone::new(F[1], LEVEL + 4.0));
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert!(room.level(9, F[0]) < INAUDIBLE_DBM0);
    assert!((room.level(9, F[1]) - LEVEL - 4.0).abs() < 1.0);
}

#[test]
fn a_participant_can_change_law() {
    let mut room = Room::new(MixerConfig::default());
    room.add(0, Codec::Pcmu, duplex(), Some(Tone::new(F[0], LEVEL)));
    room.add(1, Codec::Pcmu, duplex(), Some(Tone::new(F[1], LEVEL)));
    room.run(SETTLE);
    room.mixer.set_codec(id(1), Codec::Pcma).expect("present");
    room.talkers.get_mut(&id(1)).expect("present").codec = Codec::Pcma;
    room.run(SETTLE);
    room.forget();
    room.run(10);
    assert_hears(&room, 0, 1);
    assert_hears(&room, 1, 0);
}
