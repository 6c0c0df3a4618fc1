//! What a paced stream sends each tick: its codec and its frame source.

use std::sync::Arc;

use media::g711;
use media::tone::ToneGenerator;

/// Samples (and G.711 bytes) in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// One pre-encoded 20 ms G.711 frame.
pub type Frame = [u8; FRAME_SAMPLES];

/// The G.711 law a stream is encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G711 {
    /// µ-law, static RTP payload type 0.
    Pcmu,
    /// A-law, static RTP payload type 8.
    Pcma,
}

impl G711 {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The code of a zero sample, which fills a silent frame.
    pub fn silence_code(self) -> u8 {
        match self {
            G711::Pcmu => g711::ulaw_encode(0),
            G711::Pcma => g711::alaw_encode(0),
        }
    }

    /// Encodes one frame of samples.
    pub fn encode(self, samples: &[i16; FRAME_SAMPLES], out: &mut Frame) {
        match self {
            G711::Pcmu => g711::encode_ulaw(samples, out),
            G711::Pcma => g711::encode_alaw(samples, out),
        };
    }
}

/// A prompt's G.711 frames, encoded once and shared (cheaply cloned) by every
/// stream that plays it.
#[derive(Debug, Clone)]
pub struct PromptFrames {
    frames: Arc<[Frame]>,
}

impl PromptFrames {
    /// Frames already encoded in the law of the streams that will play them.
    pub fn from_frames(frames: Arc<[Frame]>) -> PromptFrames {
        PromptFrames { frames }
    }

    /// Encodes 8 kHz samples into frames; the last frame is padded with silence.
    pub fn encode(samples: &[i16], codec: G711) -> PromptFrames {
        let frames: Vec<Frame> = samples
            .chunks(FRAME_SAMPLES)
            .map(|chunk| {
                let mut block = [0i16; FRAME_SAMPLES];
                block[..chunk.len()].copy_from_slice(chunk);
                let mut frame = [0u8; FRAME_SAMPLES];
                codec.encode(&block, &mut frame);
                frame
            })
            .collect();
        PromptFrames {
            frames: frames.into(),
        }
    }

    /// Number of 20 ms frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the prompt holds no frame at all.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `index`, if the prompt is that long.
    pub fn get(&self, index: usize) -> Option<&Frame> {
        self.frames.get(index)
    }

    /// All frames, to build longer timelines from (announcements).
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Whether both hold the very same shared frames (not merely equal ones):
    /// how the prompt cache's sharing is observed.
    pub fn same_as(&self, other: &PromptFrames) -> bool {
        Arc::ptr_eq(&self.frames, &other.frames)
    }
}

/// What a stream sends at each tick. An enum rather than a trait object: the
/// tick walks thousands of these and each arm is a few lines.
#[derive(Debug, Clone)]
pub enum FrameSource {
    /// Encoded silence in the stream's law.
    Silence,
    /// A generated tone (tests, ringback); costs a few µs of `sin` per frame,
    /// so long-running tones are better encoded once as a looped prompt.
    Tone(ToneGenerator),
    /// Pre-encoded frames, played from frame `start` (a loop starts its
    /// later rounds from frame 0).
    Prompt {
        /// The shared frames.
        frames: PromptFrames,
        /// Start again at the end instead of finishing.
        looped: bool,
        /// The first frame sent; at or past the end the prompt finishes at
        /// the next tick (an announcement's start offset, a seek).
        start: usize,
        /// The owner's name for this play, echoed in
        /// [`PromptFinished`](super::PacerEvent::PromptFinished) so a late
        /// event of a replaced prompt is not taken for the current one's.
        tag: u64,
    },
    /// Send nothing: another path (the relay) feeds the destination. The
    /// stream's media clock keeps running.
    Paused,
    /// What the stream's room mixed for it this tick
    /// ([`PacerHandle::join_room`](super::PacerHandle::join_room)); silence
    /// on a tick it got nothing (deaf, direction `Send`, in no room).
    Mixed,
}

/// What a stream falls back to when a non-looped prompt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterPrompt {
    /// Keep sending, with silent frames.
    #[default]
    Silence,
    /// Stop sending until the next source is set.
    Paused,
}

impl From<AfterPrompt> for FrameSource {
    fn from(after: AfterPrompt) -> FrameSource {
        match after {
            AfterPrompt::Silence => FrameSource::Silence,
            AfterPrompt::Paused => FrameSource::Paused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_encoding_pads_the_last_frame_with_silence() {
        let samples = vec![1000i16; FRAME_SAMPLES + 10];
        let prompt = PromptFrames::encode(&samples, G711::Pcmu);
        assert_eq!(prompt.len(), 2);
        let last = prompt.get(1).expect("two frames");
        assert_eq!(last[9], g711::ulaw_encode(1000));
        assert_eq!(last[10], G711::Pcmu.silence_code());
        assert!(PromptFrames::encode(&[], G711::Pcma).is_empty());
    }

    #[test]
    fn silence_codes_decode_to_zero() {
        assert_eq!(g711::ulaw_decode(G711::Pcmu.silence_code()).abs(), 0);
        assert!(g711::alaw_decode(G711::Pcma.silence_code()).abs() <= 8);
    }
}
