//! A run of consecutive analysis hops that hold the same tone, with the
//! bookkeeping both tone detectors need: extent, frequency spread, gaps.

use super::spectrum::{TonePeak, WINDOW};

/// Samples added to the span between the first and last qualifying window
/// ends to estimate a tone's length: a window qualifies only when the tone
/// fills most of it (a partly filled window sees the tone's edges as spread
/// energy), so the run is shorter than the tone by most of a window. The
/// value is measured on tones of 350–2000 Hz and 120–500 ms, whose lengths
/// it then gives within −8 to +12 ms.
const DURATION_BIAS: u64 = (WINDOW * 11 / 16) as u64;

/// One tone's run of qualifying hops.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ToneRun {
    /// End of the first and of the last qualifying window; `None` when idle.
    first_end: Option<u64>,
    last_end: u64,
    min_hz: f32,
    max_hz: f32,
    sum_hz: f32,
    hops: u32,
    /// Non-qualifying hops since the last qualifying one.
    pub(super) gap: u32,
    /// Whether this run was already reported.
    pub(super) reported: bool,
}

impl ToneRun {
    /// Whether a run is under way.
    pub(super) fn active(&self) -> bool {
        self.first_end.is_some()
    }

    /// Adds a qualifying hop.
    pub(super) fn extend(&mut self, peak: &TonePeak) {
        if self.first_end.is_none() {
            *self = Self {
                first_end: Some(peak.end),
                min_hz: peak.freq_hz,
                max_hz: peak.freq_hz,
                ..Self::default()
            };
        }
        self.last_end = peak.end;
        self.min_hz = self.min_hz.min(peak.freq_hz);
        self.max_hz = self.max_hz.max(peak.freq_hz);
        self.sum_hz += peak.freq_hz;
        self.hops += 1;
        self.gap = 0;
    }

    /// Frequency spread of the run if `freq_hz` joined it, Hz.
    pub(super) fn spread_with(&self, freq_hz: f32) -> f32 {
        if self.active() {
            self.max_hz.max(freq_hz) - self.min_hz.min(freq_hz)
        } else {
            0.0
        }
    }

    /// Estimated tone length so far, ms.
    pub(super) fn duration_ms(&self) -> u32 {
        match self.first_end {
            Some(first) => ((self.last_end - first + DURATION_BIAS) / 8) as u32,
            None => 0,
        }
    }

    /// Mean frequency, Hz.
    pub(super) fn mean_hz(&self) -> f32 {
        if self.hops == 0 {
            0.0
        } else {
            self.sum_hz / self.hops as f32
        }
    }

    /// Ends the run.
    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }
}
