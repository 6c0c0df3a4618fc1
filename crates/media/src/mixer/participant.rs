//! One party in a mixer: its codec, whether it is heard and whether it hears,
//! and the per-tick state the mixer keeps for it (jitter buffer, decoded
//! frame, level, voice activity, gain in the mix).

use std::fmt;

use crate::g711;
use crate::jitter_buffer::{JitterBuffer, Playout};
use crate::vad::{Vad, VadState};

/// Samples (and G.711 bytes) in one 20 ms frame at 8 kHz.
pub const FRAME: usize = 160;

/// Names a participant; the caller chooses it (e.g. a call's numeric id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The G.711 law a participant sends in and receives the room in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law (RTP payload type 0).
    Pcmu,
    /// A-law (RTP payload type 8).
    Pcma,
}

impl Codec {
    /// The code of a silent sample in this law, to fill frames with.
    pub fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Decodes a frame of codes into linear samples.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => g711::decode_ulaw(codes, out),
            Codec::Pcma => g711::decode_alaw(codes, out),
        }
    }

    /// Encodes linear samples into codes of this law.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => g711::encode_ulaw(samples, out),
            Codec::Pcma => g711::encode_alaw(samples, out),
        }
    }

    /// Slot of this codec in per-codec arrays (the shared mix encodings).
    pub(crate) fn index(self) -> usize {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 1,
        }
    }
}

/// Which way media flows between a participant and the room, as XEP-0327's
/// `direction` and mod_rayo define it for a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Both ways: heard, and hears the room.
    #[default]
    Duplex,
    /// Only from the call to the room: heard, hears nothing.
    Send,
    /// Only from the room to the call: hears the room, is not heard.
    Recv,
}

impl Direction {
    /// Whether the participant's audio flows into the room.
    pub fn sends(self) -> bool {
        matches!(self, Direction::Duplex | Direction::Send)
    }

    /// Whether the room's audio flows to the participant.
    pub fn receives(self) -> bool {
        matches!(self, Direction::Duplex | Direction::Recv)
    }
}

/// Per-participant switches; the default is a duplex, unmuted, hearing party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ParticipantOptions {
    /// Not heard by the room (its voice activity is still reported).
    pub mute: bool,
    /// Hears nothing: the mixer hands it no frames.
    pub deaf: bool,
    /// Join direction.
    pub direction: Direction,
    /// Mixed whenever it may be heard, speech or not, and not counted among
    /// the loudest speakers: for an announcement or music played to the room.
    pub always_heard: bool,
}

impl ParticipantOptions {
    /// Whether the room may hear this participant.
    pub fn heard(&self) -> bool {
        !self.mute && self.direction.sends()
    }

    /// Whether this participant gets the room's audio.
    pub fn hears(&self) -> bool {
        !self.deaf && self.direction.receives()
    }
}

/// Smoothing of the frame level used to rank speakers: the new frame's
/// weight (one half gives a time constant of about 30 ms).
const LEVEL_WEIGHT: f32 = 0.5;

/// A participant as the mixer holds it.
#[derive(Debug)]
pub(crate) struct Participant {
    pub id: ParticipantId,
    pub codec: Codec,
    pub options: ParticipantOptions,
    pub jitter: JitterBuffer<[u8; FRAME]>,
    pub vad: Vad,
    /// The speaking state last reported in a `SpeakerEvent`.
    pub speaking: bool,
    /// This tick's decoded frame (silence when nothing was due).
    pub frame: [i16; FRAME],
    /// Smoothed mean square of the frames, to rank speakers.
    pub level: f32,
    /// Gain in the mix at the end of the last tick (0 or 1).
    pub gain: f32,
    /// Gain in the mix at the end of this tick (0 or 1).
    pub target: f32,
    /// This tick's slot among the mixer's contributions, if summed.
    pub slot: Option<usize>,
    /// Removed, fading out of the mix during its last tick.
    pub leaving: bool,
    /// The last frame played was silence or a fade to it (after a loss or an
    /// underrun, and at the start), so the next packet fades in.
    faded_out: bool,
}

impl Participant {
    pub fn new(
        id: ParticipantId,
        codec: Codec,
        options: ParticipantOptions,
        jitter_depth: usize,
        vad: Vad,
    ) -> Self {
        Self {
            id,
            codec,
            options,
            jitter: JitterBuffer::new(jitter_depth),
            vad,
            speaking: false,
            frame: [0; FRAME],
            level: 0.0,
            gain: 0.0,
            target: 0.0,
            slot: None,
            leaving: false,
            faded_out: true,
        }
    }

    /// Takes the frame due now from the jitter buffer and decodes it, then
    /// updates level and voice activity. A missing frame after audio repeats
    /// the last one fading out, then silence; audio after a gap fades in.
    pub fn play_out(&mut self) {
        match self.jitter.pop() {
            Playout::Packet { item, .. } => {
                self.codec.decode(&item, &mut self.frame);
                if self.faded_out {
                    fade(&mut self.frame, 0.0, 1.0);
                    self.faded_out = false;
                }
            }
            Playout::Lost { .. } | Playout::Buffering => {
                if self.faded_out {
                    self.frame.fill(0);
                } else {
                    // Conceal with the previous frame (still in `frame`)
                    // faded to silence, rather than a step to zero.
                    fade(&mut self.frame, 1.0, 0.0);
                    self.faded_out = true;
                }
            }
        }
        // Integer squares summed exactly (160 × 2³⁰ fits easily in i64); the
        // compiler vectorises this, unlike a chain of float additions.
        let energy: i64 = self
            .frame
            .iter()
            .map(|&s| i64::from(i32::from(s) * i32::from(s)))
            .sum();
        let mean_square = energy as f32 / FRAME as f32;
        self.level += LEVEL_WEIGHT * (mean_square - self.level);
        self.vad.process(&self.frame);
    }

    /// Whether the voice activity detector hears speech now.
    pub fn vad_speech(&self) -> bool {
        self.vad.state() == VadState::Speech
    }
}

/// Scales `frame` in place by a gain going linearly from `from` to `to`.
fn fade(frame: &mut [i16; FRAME], from: f32, to: f32) {
    let step = (to - from) / FRAME as f32;
    for (k, s) in frame.iter_mut().enumerate() {
        *s = (f32::from(*s) * (from + step * (k + 1) as f32)).round() as i16;
    }
}
