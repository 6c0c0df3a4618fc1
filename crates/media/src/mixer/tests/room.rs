//! A room driven tick by tick for the mixer tests: talkers with generated
//! tones push encoded frames, and what each listener receives is decoded and
//! kept for measurement with a Goertzel filter.

use std::collections::HashMap;
use std::f64::consts::TAU;

use super::super::*;
use crate::goertzel::Goertzel;
use crate::tone::{amplitude_to_dbm0, dbm0_to_amplitude};

/// Tone level used unless a test says otherwise.
pub const LEVEL: f64 = -10.0;
/// Ticks before a tone is steadily in the mix: jitter depth, VAD onset, fade.
pub const SETTLE: usize = 6;
/// A tone this far below [`LEVEL`] counts as not heard.
pub const INAUDIBLE_DBM0: f64 = -50.0;

/// A cosine (starting at its peak, so an unfaded entry would be a step);
/// every test frequency is a whole number of cycles per 20 ms frame.
#[derive(Clone, Copy)]
pub struct Tone {
    pub frequency: f64,
    pub amplitude: f64,
    n: u64,
}

impl Tone {
    pub fn new(frequency: f64, dbm0: f64) -> Self {
        Self {
            frequency,
            amplitude: dbm0_to_amplitude(dbm0),
            n: 0,
        }
    }

    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            let phase = TAU * self.frequency * self.n as f64 / 8000.0;
            *o = (self.amplitude * phase.cos()).round() as i16;
            self.n += 1;
        }
    }
}

pub struct Talker {
    pub codec: Codec,
    pub tone: Option<Tone>,
    seq: u16,
    /// Push frames in swapped pairs (1, 0, 3, 2, …).
    pub swap_pairs: bool,
    /// Generate the next frame but never send it (a lost packet).
    pub lose_next: bool,
    held: Option<(u16, [u8; FRAME])>,
}

pub struct Room {
    pub mixer: Mixer,
    pub talkers: HashMap<ParticipantId, Talker>,
    order: Vec<ParticipantId>,
    heard: HashMap<ParticipantId, Vec<i16>>,
    pub events: Vec<SpeakerEvent>,
}

pub fn id(n: u64) -> ParticipantId {
    ParticipantId(n)
}

impl Room {
    pub fn new(config: MixerConfig) -> Self {
        Self {
            mixer: Mixer::new(config),
            talkers: HashMap::new(),
            order: Vec::new(),
            heard: HashMap::new(),
            events: Vec::new(),
        }
    }

    pub fn add(&mut self, n: u64, codec: Codec, options: ParticipantOptions, tone: Option<Tone>) {
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
                lose_next: false,
                held: None,
            },
        );
    }

    pub fn remove(&mut self, n: u64) {
        self.mixer.remove(id(n)).expect("present");
        self.talkers.remove(&id(n));
        self.order.retain(|&i| i != id(n));
    }

    pub fn run(&mut self, ticks: usize) {
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
                if std::mem::take(&mut t.lose_next) {
                    continue;
                }
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

    pub fn forget(&mut self) {
        self.heard.clear();
    }

    pub fn heard(&self, n: u64) -> &[i16] {
        self.heard.get(&id(n)).map_or(&[], Vec::as_slice)
    }

    /// Level (dBm0) at which `n` hears a tone of `frequency`.
    pub fn level(&self, n: u64, frequency: f64) -> f64 {
        tone_level(self.heard(n), frequency)
    }
}

pub fn tone_level(samples: &[i16], frequency: f64) -> f64 {
    if samples.is_empty() {
        return -200.0;
    }
    let block: Vec<f32> = samples.iter().map(|&s| f32::from(s)).collect();
    let power = f64::from(Goertzel::new(frequency, 8000.0).power(&block));
    amplitude_to_dbm0(2.0 * power.sqrt() / block.len() as f64)
}

pub fn duplex() -> ParticipantOptions {
    ParticipantOptions::default()
}

pub fn with_direction(direction: Direction) -> ParticipantOptions {
    ParticipantOptions {
        direction,
        ..ParticipantOptions::default()
    }
}
