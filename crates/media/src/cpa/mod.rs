//! Call progress analysis (Rayo CPA, XEP-0341): what answered an outbound
//! call — a person, an answering machine (and when its beep sounds), or a fax.
//!
//! [`CpaDetector`] is the one thing the server feeds: audio from the far
//! end, in frames of any size, and it reports [`CpaSignal`]s:
//!
//! - `beep` ([`BeepDetector`]): one steady, pure tone of 350–2000 Hz lasting
//!   at least 120 ms, reported when it ends, with its frequency;
//! - `fax-ced` / `fax-cng` ([`ToneDetector`] with [`FAX_CED`] / [`FAX_CNG`]):
//!   2100 Hz for 500 ms, 1100 Hz bursts of 400 ms;
//! - `speech` ([`SpeechClassifier`]): human, machine or not sure, once;
//! - `vad`: each change between speech and silence.
//!
//! DTMF is not here: the server's in-band [`DtmfDetector`](crate::DtmfDetector)
//! and RFC 4733 receiver already report digits.
//!
//! All detectors share one spectral analysis ([`spectrum`]): every 10 ms, a
//! 256-point FFT of the last 32 ms reduced to the strongest tone, its purity
//! and its strongest rival partial. They share the DTMF detector's talk-off
//! discipline: a tone counts only when it carries nearly all the energy, has
//! no partials a pitch period away (as every voiced sound has), holds its
//! frequency, and lasts; the tests feed synthetic vowels with gliding and
//! steady pitch, noise bursts, DTMF and a recorded voicemail greeting, and
//! expect no beep and no fax. A CNG burst also looks like a beep; the
//! detector reports it as `fax-cng` only.

mod beep;
mod run;
pub mod spectrum;
mod speech;
mod tone;

pub use beep::{Beep, BeepConfig, BeepDetector};
pub use speech::{
    SpeechClassifier, SpeechThresholds, SpeechVerdict, HUMAN_MAX_UTTERANCE_MS,
    HUMAN_MIN_SILENCE_MS, MACHINE_MIN_UTTERANCE_MS, MAX_TIME_MS,
};
pub use tone::{DetectedTone, ToneDetector, ToneSpec, FAX_CED, FAX_CNG};

use crate::g711;
use crate::vad::{Vad, VadState, DEFAULT_THRESHOLD_DBOV};
use spectrum::{ToneAnalyzer, TonePeak};

/// What was detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpaKind {
    /// An answering machine's beep.
    Beep,
    /// A fax answering (2100 Hz).
    FaxCed,
    /// A fax calling (1100 Hz).
    FaxCng,
    /// Who answered.
    Speech(SpeechVerdict),
    /// Speech started or stopped (the new state).
    Vad(VadState),
}

impl CpaKind {
    /// The signal's name in its URN, `urn:xmpp:rayo:cpa:<name>:1`.
    pub fn name(self) -> &'static str {
        match self {
            CpaKind::Beep => "beep",
            CpaKind::FaxCed => "fax-ced",
            CpaKind::FaxCng => "fax-cng",
            CpaKind::Speech(_) => "speech",
            CpaKind::Vad(_) => "vad",
        }
    }
}

/// One detection, for a Rayo `<signal>`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpaSignal {
    /// What was detected.
    pub kind: CpaKind,
    /// Tone length; for speech, the first utterance's length; for vad, how
    /// long the previous state lasted; ms.
    pub duration_ms: u32,
    /// Tone frequency, Hz (beep and fax tones).
    pub value: Option<f32>,
    /// Sample position at which it was reported (time since the first sample).
    pub at: u64,
}

impl CpaSignal {
    /// The `value` attribute of a Rayo `<signal>`: the frequency of a tone
    /// (whole Hz), the verdict of speech, the new state of vad.
    pub fn value_text(&self) -> String {
        match self.kind {
            CpaKind::Speech(v) => v.as_str().to_owned(),
            CpaKind::Vad(s) => s.as_str().to_owned(),
            _ => self.value.map(|f| format!("{f:.0}")).unwrap_or_default(),
        }
    }
}

/// Thresholds of every detector of [`CpaDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpaConfig {
    /// The beep detector's.
    pub beep: BeepConfig,
    /// The fax answer tone.
    pub fax_ced: ToneSpec,
    /// The fax calling tone.
    pub fax_cng: ToneSpec,
    /// The VAD's threshold, dBov.
    pub vad_threshold_dbov: f32,
    /// The VAD's hangover, ms.
    pub vad_hangover_ms: u32,
    /// The human/machine thresholds.
    pub speech: SpeechThresholds,
}

impl Default for CpaConfig {
    fn default() -> Self {
        Self {
            beep: BeepConfig::default(),
            fax_ced: FAX_CED,
            fax_cng: FAX_CNG,
            vad_threshold_dbov: DEFAULT_THRESHOLD_DBOV,
            vad_hangover_ms: 200,
            speech: SpeechThresholds::default(),
        }
    }
}

/// Every CPA detector behind one `process` call.
#[derive(Debug, Clone)]
pub struct CpaDetector {
    analyzer: ToneAnalyzer,
    beep: BeepDetector,
    ced: ToneDetector,
    cng: ToneDetector,
    vad: Vad,
    speech: SpeechClassifier,
    /// The VAD state and how long it has held, ms.
    vad_state: VadState,
    vad_state_ms: u32,
    /// Where the last CNG report was, to keep its burst from also being a beep.
    last_cng_at: Option<u64>,
}

impl Default for CpaDetector {
    fn default() -> Self {
        Self::new(CpaConfig::default())
    }
}

impl CpaDetector {
    /// A detector with the given thresholds.
    pub fn new(config: CpaConfig) -> Self {
        Self {
            analyzer: ToneAnalyzer::default(),
            beep: BeepDetector::new(config.beep),
            ced: ToneDetector::new(config.fax_ced),
            cng: ToneDetector::new(config.fax_cng),
            vad: Vad::new(config.vad_threshold_dbov, config.vad_hangover_ms),
            speech: SpeechClassifier::new(config.speech),
            vad_state: VadState::Silence,
            vad_state_ms: 0,
            last_cng_at: None,
        }
    }

    /// Samples consumed so far.
    pub fn position(&self) -> u64 {
        self.analyzer.position()
    }

    /// The human/machine verdict, once made.
    pub fn speech_verdict(&self) -> Option<SpeechVerdict> {
        self.speech.verdict()
    }

    /// Feeds linear samples; calls `on_signal` for each detection.
    pub fn process(&mut self, samples: &[i16], mut on_signal: impl FnMut(CpaSignal)) {
        for &s in samples {
            self.push(s, &mut on_signal);
        }
    }

    /// Feeds µ-law (PCMU) codes.
    pub fn process_ulaw(&mut self, codes: &[u8], mut on_signal: impl FnMut(CpaSignal)) {
        for &c in codes {
            self.push(g711::ulaw_decode(c), &mut on_signal);
        }
    }

    /// Feeds A-law (PCMA) codes.
    pub fn process_alaw(&mut self, codes: &[u8], mut on_signal: impl FnMut(CpaSignal)) {
        for &c in codes {
            self.push(g711::alaw_decode(c), &mut on_signal);
        }
    }

    #[inline]
    fn push(&mut self, sample: i16, on_signal: &mut impl FnMut(CpaSignal)) {
        // The VAD and the analyser both complete a block every 80 samples,
        // on the same sample.
        let mut block_state = None;
        self.vad.process_each(&[sample], |s| block_state = Some(s));
        if let Some(peak) = self.analyzer.push(sample) {
            self.tones(&peak, on_signal);
        }
        if let Some(state) = block_state {
            self.voice(state, on_signal);
        }
    }

    fn tones(&mut self, peak: &TonePeak, on_signal: &mut impl FnMut(CpaSignal)) {
        if let Some(t) = self.ced.observe(peak) {
            on_signal(tone_signal(CpaKind::FaxCed, t));
        }
        if let Some(t) = self.cng.observe(peak) {
            self.last_cng_at = Some(t.at);
            on_signal(tone_signal(CpaKind::FaxCng, t));
        }
        if let Some(b) = self.beep.observe(peak) {
            let start = b.at.saturating_sub(u64::from(b.duration_ms) * 8 + 800);
            let was_cng = self.last_cng_at.is_some_and(|at| at >= start);
            if !was_cng {
                on_signal(CpaSignal {
                    kind: CpaKind::Beep,
                    duration_ms: b.duration_ms,
                    value: Some(b.freq_hz),
                    at: b.at,
                });
            }
        }
    }

    fn voice(&mut self, state: VadState, on_signal: &mut impl FnMut(CpaSignal)) {
        let at = self.analyzer.position();
        if state != self.vad_state {
            on_signal(CpaSignal {
                kind: CpaKind::Vad(state),
                duration_ms: self.vad_state_ms,
                value: None,
                at,
            });
            self.vad_state = state;
            self.vad_state_ms = 0;
        }
        self.vad_state_ms = self.vad_state_ms.saturating_add(10);
        if let Some(verdict) = self.speech.observe(state, 10) {
            on_signal(CpaSignal {
                kind: CpaKind::Speech(verdict),
                duration_ms: self.speech.utterance_ms(),
                value: None,
                at,
            });
        }
    }
}

fn tone_signal(kind: CpaKind, t: DetectedTone) -> CpaSignal {
    CpaSignal {
        kind,
        duration_ms: t.duration_ms,
        value: Some(t.freq_hz),
        at: t.at,
    }
}

#[cfg(test)]
mod tests;
