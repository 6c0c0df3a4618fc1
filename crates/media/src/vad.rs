//! Energy voice activity detection with hangover, for record silence
//! timeouts (`initial-timeout`, `final-timeout`) and call progress analysis.
//!
//! The detector measures the level of each 10 ms block ([`BLOCK`] samples) in
//! dBov (RMS relative to a full-scale square wave; see
//! [`level_dbov`]). Speech starts after
//! [`ONSET_BLOCKS`] consecutive blocks at or above the threshold (a single
//! click is not speech) and ends after `hangover_ms` without one (the gaps
//! between words and syllables do not end it).
//!
//! The default threshold, [`DEFAULT_THRESHOLD_DBOV`] = −42 dBov (≈ −36 dBm0),
//! sits well above a line's idle noise (G.711 idle codes decode to 0 or ±8,
//! below −70 dBov; ordinary line noise is −60 to −70 dBov) and well below
//! speech at a quiet −30 dBov, whose voiced blocks are −35 to −25 dBov.
//!
//! The threshold is fixed rather than adaptive: a noise-floor tracker that
//! learns from the first blocks would learn from a caller who speaks at once.

use crate::gain::energy_to_dbov;
pub use crate::gain::level_dbov;

/// Samples per analysis block (10 ms at 8 kHz).
pub const BLOCK: usize = 80;
/// Default speech threshold, dBov.
pub const DEFAULT_THRESHOLD_DBOV: f32 = -42.0;
/// Default hangover, ms: how long speech lasts after the last loud block.
pub const DEFAULT_HANGOVER_MS: u32 = 300;
/// Consecutive loud blocks that start speech (20 ms).
pub const ONSET_BLOCKS: u32 = 2;

/// Whether the audio so far ends in speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VadState {
    /// No speech (or not yet long enough to count).
    Silence,
    /// Speech, including the hangover after its last loud block.
    Speech,
}

impl VadState {
    /// `"speech"` or `"silence"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VadState::Silence => "silence",
            VadState::Speech => "speech",
        }
    }
}

/// Streaming energy VAD; feed it audio in slices of any length.
#[derive(Debug, Clone)]
pub struct Vad {
    threshold_dbov: f32,
    hangover_blocks: u32,
    state: VadState,
    /// Sum of squares of the block being filled, and its sample count.
    energy: f64,
    filled: usize,
    loud_run: u32,
    quiet_run: u32,
    /// Blocks in the current state.
    blocks_in_state: u64,
    last_level: f32,
}

impl Default for Vad {
    fn default() -> Self {
        Self::new(DEFAULT_THRESHOLD_DBOV, DEFAULT_HANGOVER_MS)
    }
}

impl Vad {
    /// A detector that calls blocks at or above `threshold_dbov` loud and
    /// holds speech for `hangover_ms` (rounded up to 10 ms) after the last.
    pub fn new(threshold_dbov: f32, hangover_ms: u32) -> Self {
        Self {
            threshold_dbov,
            hangover_blocks: hangover_ms.div_ceil(10).max(1),
            state: VadState::Silence,
            energy: 0.0,
            filled: 0,
            loud_run: 0,
            quiet_run: 0,
            blocks_in_state: 0,
            last_level: crate::gain::MIN_DBOV,
        }
    }

    /// Feeds a frame; returns the state at its end.
    pub fn process(&mut self, frame: &[i16]) -> VadState {
        self.process_each(frame, |_| {});
        self.state
    }

    /// Feeds µ-law (PCMU) codes; returns the state at their end.
    pub fn process_ulaw(&mut self, codes: &[u8]) -> VadState {
        for &c in codes {
            self.push(crate::g711::ulaw_decode(c), &mut |_| {});
        }
        self.state
    }

    /// Feeds A-law (PCMA) codes; returns the state at their end.
    pub fn process_alaw(&mut self, codes: &[u8]) -> VadState {
        for &c in codes {
            self.push(crate::g711::alaw_decode(c), &mut |_| {});
        }
        self.state
    }

    /// Feeds audio and calls `on_block` with the state after each complete
    /// 10 ms block (for callers that time segments block by block).
    pub fn process_each(&mut self, samples: &[i16], mut on_block: impl FnMut(VadState)) {
        let mut rest = samples;
        // Whole blocks on a block boundary: sum the squares as integers (exact,
        // like the f64 sum, but vectorised) — the mixer runs this for every
        // participant on every tick.
        while self.filled == 0 && rest.len() >= BLOCK {
            let (block, tail) = rest.split_at(BLOCK);
            let energy: i64 = block
                .iter()
                .map(|&s| i64::from(i32::from(s) * i32::from(s)))
                .sum();
            self.block(energy_to_dbov(energy as f64, BLOCK));
            on_block(self.state);
            rest = tail;
        }
        for &s in rest {
            self.push(s, &mut on_block);
        }
    }

    fn push(&mut self, sample: i16, on_block: &mut impl FnMut(VadState)) {
        let x = f64::from(sample);
        self.energy += x * x;
        self.filled += 1;
        if self.filled == BLOCK {
            let level = energy_to_dbov(self.energy, BLOCK);
            self.energy = 0.0;
            self.filled = 0;
            self.block(level);
            on_block(self.state);
        }
    }

    fn block(&mut self, level: f32) {
        self.last_level = level;
        let previous = self.state;
        if level >= self.threshold_dbov {
            self.loud_run = self.loud_run.saturating_add(1);
            self.quiet_run = 0;
            if self.loud_run >= ONSET_BLOCKS {
                self.state = VadState::Speech;
            }
        } else {
            self.loud_run = 0;
            self.quiet_run = self.quiet_run.saturating_add(1);
            if self.quiet_run >= self.hangover_blocks {
                self.state = VadState::Silence;
            }
        }
        if self.state == previous {
            self.blocks_in_state += 1;
        } else {
            self.blocks_in_state = 1;
        }
    }

    /// The current state.
    pub fn state(&self) -> VadState {
        self.state
    }

    /// How long the current state has lasted, ms (whole blocks).
    pub fn state_ms(&self) -> u64 {
        self.blocks_in_state * 10
    }

    /// Time since the last loud block (or since the start), ms: the silence
    /// a record `final-timeout` or `initial-timeout` compares, hangover included.
    pub fn silence_ms(&self) -> u64 {
        u64::from(self.quiet_run) * 10
    }

    /// Level of the last complete block, dBov.
    pub fn last_level_dbov(&self) -> f32 {
        self.last_level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711;
    use crate::test_signals::{vowel, Noise, VOWELS};

    fn states(vad: &mut Vad, samples: &[i16]) -> Vec<VadState> {
        let mut out = Vec::new();
        vad.process_each(samples, |s| out.push(s));
        out
    }

    #[test]
    fn idle_line_and_noise_are_silence() {
        let mut vad = Vad::default();
        let mut idle = [0u8; 160];
        idle.fill(0xFF);
        for _ in 0..50 {
            assert_eq!(vad.process_ulaw(&idle), VadState::Silence);
        }
        let mut alaw_idle = [0i16; 160];
        g711::decode_alaw(&[0xD5; 160], &mut alaw_idle);
        assert_eq!(vad.process(&alaw_idle), VadState::Silence);
        let noise = Noise::new(7).samples(8000, -60.0);
        assert!((level_dbov(&noise) + 60.0).abs() < 0.5);
        assert!(states(&mut vad, &noise)
            .iter()
            .all(|&s| s == VadState::Silence));
    }

    #[test]
    fn quiet_speech_is_speech_with_hangover() {
        let mut vad = Vad::new(DEFAULT_THRESHOLD_DBOV, 200);
        let speech = vowel(120.0, 180.0, &VOWELS[0], 4000, -30.0);
        let s = states(&mut vad, &speech);
        assert_eq!(s.len(), 50);
        assert_eq!(s[0], VadState::Silence, "one loud block is not yet speech");
        assert!(s[1..].iter().all(|&s| s == VadState::Speech));
        assert_eq!(vad.state_ms(), 490);
        assert_eq!(vad.silence_ms(), 0);
        let s = states(&mut vad, &[0; 1600]);
        assert!(s[..19].iter().all(|&s| s == VadState::Speech));
        assert!(s[19..].iter().all(|&s| s == VadState::Silence));
        assert_eq!(vad.process(&[]), VadState::Silence);
        assert_eq!(vad.silence_ms(), 200);
        assert_eq!(vad.state_ms(), 10);
    }

    #[test]
    fn a_click_is_not_speech_and_partial_frames_add_up() {
        let mut vad = Vad::default();
        let mut click = vec![0i16; 160];
        click[10..60].fill(8000);
        assert_eq!(vad.process(&click), VadState::Silence);
        let speech = vowel(200.0, 200.0, &VOWELS[3], 240, -30.0);
        for chunk in speech.chunks(7) {
            vad.process(chunk);
        }
        assert_eq!(vad.state(), VadState::Speech);
        assert!(vad.last_level_dbov() > -40.0);
    }

    #[test]
    fn whole_blocks_and_odd_slices_agree() {
        let mut signal = vowel(110.0, 150.0, &VOWELS[1], 2400, -38.0);
        signal.extend(Noise::new(3).samples(1600, -45.0));
        let (mut whole, mut sliced) = (Vad::default(), Vad::default());
        let a = states(&mut whole, &signal);
        let mut b = Vec::new();
        for chunk in signal.chunks(37) {
            sliced.process_each(chunk, |s| b.push(s));
        }
        assert_eq!(a, b);
        assert_eq!(whole.last_level_dbov(), sliced.last_level_dbov());
        assert_eq!(whole.silence_ms(), sliced.silence_ms());
    }
}
