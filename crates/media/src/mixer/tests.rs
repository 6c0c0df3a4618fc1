//! Room tests with generated tones: who hears whom is measured with a
//! Goertzel filter per tone on what each participant receives.

use std::collections::HashMap;
use std::f64::consts::TAU;

use super::*;
use crate::goertzel::Goertzel;
use crate::tone::{amplitude_to_dbm0, dbm0_to_amplitude};

/// Tone level used unless a test says otherwise.
const LEVEL: f64 = -10.0;
/// Ticks before a tone is steadily in the mix: jitter depth, VAD onset, fade.
const SETTLE: usize = 6;
/// A tone this far below [`LEVEL`] counts as not heard.
const INAUDIBLE_DBM0: f64 = -50.0;

/// A cosine (starting at its peak, so an unfaded entry would be a step);
/// every test frequency is a whole number of cycles per 20 ms frame.
#[derive(Clone, Copy)]
struct Tone {
    frequency: f64,
    amplitude: f64,
    n: u64,
}

impl Tone {
    fn new(frequency: f64, dbm0: f64) -> Self {
        Self {
            frequency,
            amplitude: dbm0_to_amplitude(dbm0),
            n: 0,
        }
    }

    fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            let phase = TAU * self.frequency * self.n as f64 / 8000.0;
            *o = (self.amplitude * phase.cos()).round() as i16;
            self.n += 1;
        }
    }
}

struct Talker {
    codec: Codec,
    tone: Option<Tone>,
    seq: u16,
    /// Push frames in swapped pairs (1, 0, 3, 2, …).
    swap_pairs: bool,
    held: Option<(u16, [u8; FRAME])>,
}

struct Room {
    mixer: Mixer,
    talkers: HashMap<ParticipantId, Talker>,
    order: Vec<ParticipantId>,
    heard: HashMap<ParticipantId, Vec<i16>>,
    events: Vec<SpeakerEvent>,
}

fn id(n: u64) -> ParticipantId {
    ParticipantId(n)
}

impl Room {
    fn new(config: MixerConfig) -> Self {
        Self {
            mixer: Mixer::new(config),
            talkers: HashMap::new(),
            order: Vec::new(),
            heard: HashMap::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self, n: u64, codec: Codec, options: ParticipantOptions, tone: Option<Tone>) {
        self.mixer
            .add(id(n), codec, options)
            .expect("test ids are unique");
        self.order.push(id(n));
        self.talkers.insert(
            id(n),
            Talker {
                codec,
                tone,
                seq: 1000,
                swap_pairs: false,
                held: None,
            },
        );
    }

    fn remove(&mut self, n: u64) {
        self.mixer.remove(id(n)).expect("present");
        self.talkers.remove(&id(n));
        self.order.retain(|&i| i != id(n));
    }

    fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for pid in &self.order {
                let t = self.talkers.get_mut(pid).expect("every ordered id talks");
                let mut pcm = [0i16; FRAME];
                if let Some(tone) = &mut t.tone {
                    tone.fill(&mut pcm);
                }
                let mut frame = [0u8; FRAME];
                t.codec.encode(&pcm, &mut frame);
                let seq = t.seq;
                t.seq = t.seq.wrapping_add(1);
                if t.swap_pairs {
                    match t.held.take() {
                        None => t.held = Some((seq, frame)),
                        Some((first, held)) => {
                            self.mixer.push(*pid, seq, &frame).expect("present");
                            self.mixer.push(*pid, first, &held).expect("present");
                        }
                    }
                } else {
                    self.mixer.push(*pid, seq, &frame).expect("present");
                }
            }
            let (heard, talkers) = (&mut self.heard, &self.talkers);
            let mut got = Vec::new();
            self.mixer.tick(|pid, bytes| {
                assert_eq!(bytes.len(), FRAME);
                got.push(pid);
                let codec = talkers.get(&pid).expect("only present ids hear").codec;
                let mut pcm = [0i16; FRAME];
                codec.decode(bytes, &mut pcm);
                heard.entry(pid).or_default().extend_from_slice(&pcm);
            });
            let mut unique = got.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), got.len(), "one frame per listener per tick");
            while let Some(e) = self.mixer.poll_event() {
                self.events.push(e);
            }
        }
    }

    fn forget(&mut self) {
        self.heard.clear();
    }

    fn heard(&self, n: u64) -> &[i16] {
        self.heard.get(&id(n)).map_or(&[], Vec::as_slice)
    }

    /// Level (dBm0) at which `n` hears a tone of `frequency`.
    fn level(&self, n: u64, frequency: f64) -> f64 {
        tone_level(self.heard(n), frequency)
    }
}

fn tone_level(samples: &[i16], frequency: f64) -> f64 {
    if samples.is_empty() {
        return -200.0;
    }
    let block: Vec<f32> = samples.iter().map(|&s| f32::from(s)).collect();
    let power = f64::from(Goertzel::new(frequency, 8000.0).power(&block));
    amplitude_to_dbm0(2.0 * power.sqrt() / block.len() as f64)
}

fn duplex() -> ParticipantOptions {
    ParticipantOptions::default()
}

fn with_direction(direction: Direction) -> ParticipantOptions {
    ParticipantOptions {
        direction,
        ..ParticipantOptions::default()
    }
}

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
    // A 600 Hz cosine moves at most 2·A·sin(π·600/8000) per sample; twice
    // G.711's quantisation step at this level on top. An unfaded entry at
    // the cosine's peak would step by the full amplitude.
    let a = tone.amplitude;
    let natural = 2.0 * a * (std::f64::consts::PI * 600.0 / 8000.0).sin();
    let bound = (natural + 600.0) as i32;
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
    assert_hears(&room, 1, 0);
    let heard = room.heard(1);
    let natural = 2.0 * dbm0_to_amplitude(LEVEL) * (std::f64::consts::PI * 600.0 / 8000.0).sin();
    assert!(largest_step(heard) <= (natural + 600.0) as i32, "no gap");
    let stats = room.mixer.jitter_stats(id(0)).expect("present");
    assert_eq!((stats.lost, stats.late, stats.duplicates), (0, 0, 0));
    // A duplicate and a late packet are dropped and counted.
    let silence = [0xFFu8; FRAME];
    room.mixer.push(id(0), 1000, &silence).expect("present");
    assert_eq!(room.mixer.jitter_stats(id(0)).expect("present").late, 1);
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
