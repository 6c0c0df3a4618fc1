//! An N-party audio mixer (a conference room), sans-IO: the caller pushes
//! each participant's G.711 frames as they arrive and calls
//! [`Mixer::tick`] once per 20 ms for the whole room (from the pacer's shared
//! tick, no timer per participant); the tick hands back one encoded frame per
//! listener.
//!
//! One tick:
//! 1. every participant's jitter buffer plays out one frame, which is decoded
//!    (silence when nothing was due) and fed to its level meter and voice
//!    activity detector ([`crate::vad`], energy with hangover);
//! 2. among the participants that may be heard (not muted, direction `Duplex`
//!    or `Send`) and whose detector hears speech, the loudest
//!    [`MixerConfig::max_speakers`] are chosen (a speaker already in the mix
//!    gets a small bonus, so near-equal voices do not swap every frame);
//!    participants marked [`ParticipantOptions::always_heard`] (a player's
//!    announcement) are added to them whatever their level;
//! 3. only those are summed, so a room of 200 costs little more than one of
//!    10: the per-participant work is one decode, one level and one VAD pass;
//! 4. a speaker hears the sum minus its own voice, encoded for it alone;
//!    everyone else hears the full sum, soft-clipped and encoded once per
//!    codec, the same bytes handed to each of them.
//!
//! Joins, leaves and changes of who is mixed are faded over one frame: a
//! voice entering the mix ramps from 0 to full gain across its first frame,
//! one leaving ramps down across its last (a removed speaker stays one more
//! tick, silent to itself, to fade out), so no listener hears a step.
//!
//! Deaf participants and those joined with direction `Send` get no frame at
//! all (not silence), so the engine's pacer may fill the gap as it does for
//! any leg. Muted participants and `Send` ones still have their voice activity
//! reported ([`SpeakerEvent`]); `Recv` ones are never reported as speaking.
//!
//! A lost or missing packet is concealed by the participant's previous frame
//! fading to silence, and the audio after a gap fades in: a dip, not a
//! click. Payloads must be whole 20 ms frames ([`FRAME`] bytes).
//!
//! Other sources join as participants: an announcement to the room is a
//! `Send` participant fed by a player (with
//! [`always_heard`](ParticipantOptions::always_heard), so it is mixed at any
//! level), a recording of the room a `Recv` one.
//!
//! The engine's run loop, on each received packet and each 20 ms tick:
//!
//! ```
//! use media::mixer::{Codec, Mixer, MixerConfig, ParticipantId, ParticipantOptions, FRAME};
//!
//! let mut room = Mixer::new(MixerConfig::default());
//! let (alice, bob) = (ParticipantId(1), ParticipantId(2));
//! room.add(alice, Codec::Pcmu, ParticipantOptions::default())?;
//! room.add(bob, Codec::Pcma, ParticipantOptions::default())?;
//!
//! for seq in 0..10u16 {
//!     // Packets as they arrive (RTP sequence number and payload).
//!     room.push(alice, seq, &[0xFF; FRAME])?;
//!     room.push(bob, seq, &[0xD5; FRAME])?;
//!     // The shared tick: one frame per listener, to send on its leg.
//!     room.tick(|_to, frame| assert_eq!(frame.len(), FRAME));
//!     while let Some(event) = room.poll_event() {
//!         println!("{} speaking: {}", event.id, event.speaking);
//!     }
//! }
//! # Ok::<(), media::mixer::MixerError>(())
//! ```

mod participant;
mod sum;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use thiserror::Error;

pub use crate::jitter_buffer::{JitterStats, PushOutcome};
use crate::vad::{Vad, DEFAULT_HANGOVER_MS, DEFAULT_THRESHOLD_DBOV};
use participant::Participant;
pub use participant::{Codec, Direction, ParticipantId, ParticipantOptions, FRAME};
pub use sum::{soft_clip, SOFT_CLIP_KNEE};

/// Score bonus for a voice already in the mix (≈ 1.5 dB), against flapping.
const INCUMBENT_BONUS: f32 = 1.4;

/// Room-wide settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixerConfig {
    /// How many of the loudest speakers are summed.
    pub max_speakers: usize,
    /// Frames each participant's jitter buffer holds before playout.
    pub jitter_depth: usize,
    /// Speech threshold of the voice activity detectors, dBov.
    pub vad_threshold_dbov: f32,
    /// How long speech lasts after its last loud block, ms.
    pub vad_hangover_ms: u32,
}

impl Default for MixerConfig {
    fn default() -> Self {
        Self {
            max_speakers: 3,
            jitter_depth: 2,
            vad_threshold_dbov: DEFAULT_THRESHOLD_DBOV,
            vad_hangover_ms: DEFAULT_HANGOVER_MS,
        }
    }
}

/// A participant started or stopped speaking; reported once per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpeakerEvent {
    /// Who.
    pub id: ParticipantId,
    /// `true` when speech started, `false` when it ended (or they left).
    pub speaking: bool,
}

/// Why a mixer call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MixerError {
    /// No participant with this id is in the room.
    #[error("participant {0} is not in the mixer")]
    UnknownParticipant(ParticipantId),
    /// A participant with this id is already in the room.
    #[error("participant {0} is already in the mixer")]
    DuplicateParticipant(ParticipantId),
    /// The payload is not one 20 ms G.711 frame.
    #[error("payload of {0} bytes is not a {FRAME}-byte frame")]
    FrameSize(usize),
}

/// A conference room: participants in, one encoded frame per listener out
/// on every [`tick`](Mixer::tick).
#[derive(Debug)]
pub struct Mixer {
    config: MixerConfig,
    participants: Vec<Participant>,
    /// Where each present (not leaving) participant sits in `participants`.
    index: HashMap<ParticipantId, usize>,
    events: VecDeque<SpeakerEvent>,
    /// Scratch, reused every tick so the tick does not allocate.
    chosen: Vec<(usize, f32)>,
    contributions: Vec<[f32; FRAME]>,
    total: [f32; FRAME],
    pcm: [i16; FRAME],
    encoded: [u8; FRAME],
    shared: [[u8; FRAME]; 2],
}

impl Mixer {
    /// An empty room.
    pub fn new(config: MixerConfig) -> Self {
        Self {
            config,
            participants: Vec::new(),
            index: HashMap::new(),
            events: VecDeque::new(),
            chosen: Vec::with_capacity(config.max_speakers + 1),
            contributions: Vec::with_capacity(2 * config.max_speakers + 1),
            total: [0.0; FRAME],
            pcm: [0; FRAME],
            encoded: [0; FRAME],
            shared: [[0; FRAME]; 2],
        }
    }

    /// The room's settings.
    pub fn config(&self) -> &MixerConfig {
        &self.config
    }

    /// Participants present (not counting those fading out after removal).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no participant is present.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `id` is in the room.
    pub fn contains(&self, id: ParticipantId) -> bool {
        self.index.contains_key(&id)
    }

    /// Adds a participant; it is faded in when it first becomes a speaker.
    pub fn add(
        &mut self,
        id: ParticipantId,
        codec: Codec,
        options: ParticipantOptions,
    ) -> Result<(), MixerError> {
        if self.index.contains_key(&id) {
            return Err(MixerError::DuplicateParticipant(id));
        }
        let vad = Vad::new(self.config.vad_threshold_dbov, self.config.vad_hangover_ms);
        self.index.insert(id, self.participants.len());
        self.participants.push(Participant::new(
            id,
            codec,
            options,
            self.config.jitter_depth,
            vad,
        ));
        Ok(())
    }

    /// Removes a participant: it gets no more frames; if it was in the mix it
    /// fades out over the next tick. A speaker is reported as stopped.
    pub fn remove(&mut self, id: ParticipantId) -> Result<(), MixerError> {
        let i = self
            .index
            .remove(&id)
            .ok_or(MixerError::UnknownParticipant(id))?;
        let p = &mut self.participants[i];
        if p.speaking {
            p.speaking = false;
            self.events.push_back(SpeakerEvent {
                id,
                speaking: false,
            });
        }
        if p.gain > 0.0 {
            p.leaving = true;
        } else {
            self.detach(i);
        }
        Ok(())
    }

    /// Changes mute, deaf or direction; a voice leaving or entering the mix
    /// because of it is faded like any other.
    pub fn set_options(
        &mut self,
        id: ParticipantId,
        options: ParticipantOptions,
    ) -> Result<(), MixerError> {
        let i = self.position(id)?;
        self.participants[i].options = options;
        Ok(())
    }

    /// Switches a participant to another law (a re-INVITE changed it);
    /// frames held in the old law are dropped.
    pub fn set_codec(&mut self, id: ParticipantId, codec: Codec) -> Result<(), MixerError> {
        let i = self.position(id)?;
        let p = &mut self.participants[i];
        if p.codec != codec {
            p.codec = codec;
            p.jitter.clear();
        }
        Ok(())
    }

    /// A participant's current options.
    pub fn options(&self, id: ParticipantId) -> Result<ParticipantOptions, MixerError> {
        Ok(self.participants[self.position(id)?].options)
    }

    /// A participant's jitter buffer counters (late, duplicate, lost…).
    pub fn jitter_stats(&self, id: ParticipantId) -> Result<JitterStats, MixerError> {
        Ok(self.participants[self.position(id)?].jitter.stats())
    }

    /// Whether the participant is speaking, as last reported.
    pub fn is_speaking(&self, id: ParticipantId) -> Result<bool, MixerError> {
        Ok(self.participants[self.position(id)?].speaking)
    }

    /// Hands a received RTP payload (one 20 ms frame in the participant's
    /// codec) to its jitter buffer; late and duplicate packets are dropped
    /// and counted in [`jitter_stats`](Mixer::jitter_stats).
    pub fn push(
        &mut self,
        id: ParticipantId,
        sequence: u16,
        payload: &[u8],
    ) -> Result<PushOutcome, MixerError> {
        let i = self.position(id)?;
        let frame: [u8; FRAME] = payload
            .try_into()
            .map_err(|_| MixerError::FrameSize(payload.len()))?;
        Ok(self.participants[i].jitter.push(sequence, frame))
    }

    /// The next speaker change, oldest first.
    pub fn poll_event(&mut self) -> Option<SpeakerEvent> {
        self.events.pop_front()
    }

    /// Mixes one 20 ms frame and calls `out` once per listener with its
    /// encoded frame. Listeners who are not speaking receive the same bytes.
    pub fn tick(&mut self, mut out: impl FnMut(ParticipantId, &[u8])) {
        self.play_out();
        self.choose_speakers();
        self.sum_speakers();
        self.deliver(&mut out);
        self.finish();
    }

    /// Step 1: one frame per participant, its level and voice activity.
    fn play_out(&mut self) {
        for p in &mut self.participants {
            p.play_out();
            p.slot = None;
            if p.leaving {
                continue;
            }
            let speaking = p.vad_speech() && p.options.direction.sends();
            if speaking != p.speaking {
                p.speaking = speaking;
                self.events.push_back(SpeakerEvent { id: p.id, speaking });
            }
        }
    }

    /// Step 2: the loudest few among those who may be heard and speak.
    fn choose_speakers(&mut self) {
        self.chosen.clear();
        for (i, p) in self.participants.iter_mut().enumerate() {
            p.target = 0.0;
            if p.leaving || !p.options.heard() {
                continue;
            }
            if p.options.always_heard {
                p.target = 1.0;
                continue;
            }
            if !p.vad_speech() {
                continue;
            }
            let bonus = if p.gain > 0.0 { INCUMBENT_BONUS } else { 1.0 };
            sum::offer(
                &mut self.chosen,
                self.config.max_speakers,
                i,
                p.level * bonus,
            );
        }
        for &(i, _) in &self.chosen {
            self.participants[i].target = 1.0;
        }
    }

    /// Step 3: the sum of every voice in the mix or fading in or out of it.
    fn sum_speakers(&mut self) {
        self.total.fill(0.0);
        let mut used = 0;
        for p in &mut self.participants {
            if p.gain == 0.0 && p.target == 0.0 {
                continue;
            }
            if used == self.contributions.len() {
                self.contributions.push([0.0; FRAME]);
            }
            let contribution = &mut self.contributions[used];
            sum::ramp(&p.frame, p.gain, p.target, contribution);
            for (t, &c) in self.total.iter_mut().zip(contribution.iter()) {
                *t += c;
            }
            p.slot = Some(used);
            used += 1;
        }
    }

    /// Step 4: a mix-minus for each speaker, the shared mix for the rest.
    fn deliver(&mut self, out: &mut impl FnMut(ParticipantId, &[u8])) {
        let mut shared_ready = [false; 2];
        for p in &self.participants {
            if p.leaving || !p.options.hears() {
                continue;
            }
            match p.slot {
                Some(slot) => {
                    let own = &self.contributions[slot];
                    sum::soft_clip_minus(&self.total, own, &mut self.pcm);
                    p.codec.encode(&self.pcm, &mut self.encoded);
                    out(p.id, &self.encoded);
                }
                None => {
                    let c = p.codec.index();
                    if !shared_ready[c] {
                        sum::soft_clip_frame(&self.total, &mut self.pcm);
                        p.codec.encode(&self.pcm, &mut self.shared[c]);
                        shared_ready[c] = true;
                    }
                    out(p.id, &self.shared[c]);
                }
            }
        }
    }

    /// Step 5: gains reached their targets; faded-out leavers go.
    fn finish(&mut self) {
        let mut i = self.participants.len();
        while i > 0 {
            i -= 1;
            let p = &mut self.participants[i];
            p.gain = p.target;
            if p.leaving {
                self.detach(i);
            }
        }
    }

    fn position(&self, id: ParticipantId) -> Result<usize, MixerError> {
        self.index
            .get(&id)
            .copied()
            .ok_or(MixerError::UnknownParticipant(id))
    }

    /// Drops the participant at `i`, re-indexing the one moved into its place.
    fn detach(&mut self, i: usize) {
        self.participants.swap_remove(i);
        if let Some(moved) = self.participants.get(i) {
            if !moved.leaving {
                self.index.insert(moved.id, i);
            }
        }
    }
}
