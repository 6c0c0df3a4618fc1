//! In-band DTMF detection (ITU-T Q.23/Q.24) on 8 kHz linear audio.
//!
//! The detector looks at windows of 102 samples (12.75 ms) every 51 samples
//! (50 % overlap). For each window it runs Goertzel filters on the eight DTMF
//! frequencies and on points 5 % either side of each, and accepts a digit when
//! all of these hold (defaults in [`DtmfDetectorConfig`]):
//!
//! 1. **level**: each of the two tones is at least −32 dBm0;
//! 2. **twist**: the high tone is at most 8 dB below (normal twist) and at
//!    most 4 dB above (reverse twist) the low tone;
//! 3. **one tone per group**: the strongest row and column bins beat the
//!    runner-up in their group by 6 dB;
//! 4. **frequency**: each tone's own bin is stronger than the bins 5 % either
//!    side, so a tone within ±2.5 % passes; with this window that puts ±1.5 %
//!    comfortably inside and ±3.5 % comfortably outside;
//! 5. **purity**: the two tones carry at least 70 % of the window's energy,
//!    which rejects most speech and music (many partials) and also partial
//!    windows: a window that a burst covers only to a fraction `c` scores
//!    about `c`.
//!
//! A digit is reported once it has won **4 consecutive windows** (together
//! 255 samples, 32 ms) and those 4 windows pass the **confirmation checks**:
//! measured from the phase advance between windows, each tone is within
//! ±2 % of nominal and steady (≤ 5 Hz drift per hop); a least-squares fit of
//! the two tones leaves at most 10 % of the last window's energy, of which at
//! most 2 % of the window may be predictable by linear prediction (other
//! partials, as a voice or a chord has, rather than noise); and no second or
//! third harmonic is within 15 dB of its tone. A vowel with two formants on a
//! row and a column frequency passes the per-window checks but not these
//! (module `confirmation` explains each).
//!
//! A 40 ms burst always covers at least 4 whole windows, while a 20 ms burst
//! cannot reach 70 % coverage in 4 consecutive windows (at best about 53 % in
//! one of them), so it is rejected. The same digit is reported again only
//! after **3 consecutive windows** without it (a 10 ms break spoils at most 2,
//! a 40 ms pause at least 4). While a digit is held, its limits relax by
//! 2 dB, so a tone that sits right at a limit is reported once, not once per
//! flicker; the confirmation checks apply only to reporting, not to holding.
//!
//! Time is the sample count: the detector is sans-IO and reports positions in
//! samples since the first sample it was given. [`DtmfDetector::process`]
//! reports digits; [`DtmfDetector::process_events`] also reports when each
//! one ends, with its estimated extent (to regenerate it as an RFC 4733 event).

use crate::g711;
use crate::goertzel::Goertzel;
use crate::tone::dbm0_to_amplitude;
use confirmation::{Confirmation, SPAN};

/// Samples per analysis window.
pub const WINDOW: usize = 102;
/// Samples between window starts.
pub const HOP: usize = WINDOW / 2;

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// How much the level, twist, group-margin, frequency and purity limits relax (dB) for a digit already reported.
pub const HOLD_RELAXATION_DB: f64 = 2.0;
/// Relative offset of the side bins used for the frequency check.
const SIDE_OFFSET: f64 = 0.05;

/// Thresholds of the detector; the defaults meet Q.24's common requirements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfDetectorConfig {
    /// Minimum level of each tone, dBm0.
    pub min_level_dbm0: f64,
    /// How far the high tone may be below the low tone, dB.
    pub normal_twist_db: f64,
    /// How far the high tone may be above the low tone, dB.
    pub reverse_twist_db: f64,
    /// Minimum margin of a tone over the next strongest in its group, dB.
    pub group_margin_db: f64,
    /// Minimum share of the window's energy in the two tones (0–1).
    pub min_purity: f64,
    /// Consecutive windows a digit must win before it is reported (the
    /// confirmation checks look at the last 4 windows whatever this is, so
    /// fewer than 4 does not make detection faster).
    pub windows_to_report: u32,
    /// Consecutive windows without the digit before it may be reported again.
    pub windows_to_release: u32,
}

impl Default for DtmfDetectorConfig {
    fn default() -> Self {
        Self {
            min_level_dbm0: -32.0,
            normal_twist_db: 8.0,
            reverse_twist_db: 4.0,
            group_margin_db: 6.0,
            min_purity: 0.7,
            windows_to_report: 4,
            windows_to_release: 3,
        }
    }
}

/// A digit found in the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedDigit {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// Sample position of the start of the first window that saw it.
    pub start: u64,
    /// Sample position at which it was confirmed (end of the deciding window).
    pub confirmed_at: u64,
}

/// The end of a digit reported earlier, with its estimated extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedDigit {
    /// The digit.
    pub digit: char,
    /// Sample position of the start of the first window that saw it.
    pub start: u64,
    /// Sample position of the end of the last window that saw it.
    pub end: u64,
}

impl EndedDigit {
    /// Estimated tone duration in milliseconds at 8 kHz (within about ±8 ms:
    /// windows a tone covers only partly may or may not count).
    pub fn duration_ms(&self) -> u64 {
        (self.end - self.start) / 8
    }
}

/// What [`DtmfDetector::process_events`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfDetectorEvent {
    /// A digit was confirmed (the same report as [`DtmfDetector::process`]).
    Digit(DetectedDigit),
    /// That digit has stopped: its windows were absent for `windows_to_release`.
    Ended(EndedDigit),
}

/// Filters for one DTMF frequency: its own bin and the two side bins.
#[derive(Debug, Clone, Copy)]
struct ToneFilters {
    center: Goertzel,
    below: Goertzel,
    above: Goertzel,
}

impl ToneFilters {
    fn new(freq: f64) -> Self {
        Self {
            center: Goertzel::new(freq, 8000.0),
            below: Goertzel::new(freq * (1.0 - SIDE_OFFSET), 8000.0),
            above: Goertzel::new(freq * (1.0 + SIDE_OFFSET), 8000.0),
        }
    }
}

/// The strongest bin of a row or column group.
#[derive(Debug, Clone, Copy)]
struct GroupPeak {
    index: usize,
    power: f32,
    /// Power of the next strongest bin of the group.
    runner_up: f32,
    /// Power of the stronger side bin (5 % off) of the peak.
    side: f32,
}

/// Streaming DTMF detector; feed it audio in blocks of any size.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DtmfDetectorConfig,
    rows: [ToneFilters; 4],
    cols: [ToneFilters; 4],
    /// The eight centre filters, rows then columns, run in one pass.
    centers: [Goertzel; 8],
    /// Minimum `|X|²` of a tone at the minimum level.
    min_power: f32,
    confirmation: Confirmation,
    /// The last four windows, for the confirmation checks; the current one is
    /// the last [`WINDOW`] samples.
    history: [f32; SPAN],
    filled: usize,
    /// Samples consumed so far.
    position: u64,
    candidate: Option<char>,
    candidate_windows: u32,
    candidate_start: u64,
    reported: Option<char>,
    reported_start: u64,
    /// End of the last window that saw the reported digit.
    reported_last_end: u64,
    windows_without_reported: u32,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new(DtmfDetectorConfig::default())
    }
}

impl DtmfDetector {
    /// A detector with the given thresholds.
    pub fn new(config: DtmfDetectorConfig) -> Self {
        let amplitude = dbm0_to_amplitude(config.min_level_dbm0);
        let min_power = (amplitude * WINDOW as f64 / 2.0).powi(2) as f32;
        let rows = ROWS.map(ToneFilters::new);
        let cols = COLS.map(ToneFilters::new);
        let mut centers = [Goertzel::new(0.0, 8000.0); 8];
        for (c, f) in centers.iter_mut().zip(rows.iter().chain(&cols)) {
            *c = f.center;
        }
        Self {
            config,
            rows,
            cols,
            centers,
            min_power,
            confirmation: Confirmation::default(),
            history: [0.0; SPAN],
            filled: SPAN - WINDOW,
            position: 0,
            candidate: None,
            candidate_windows: 0,
            candidate_start: 0,
            reported: None,
            reported_start: 0,
            reported_last_end: 0,
            windows_without_reported: 0,
        }
    }

    /// Samples consumed so far (the detector's clock).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Feeds linear samples; calls `on_digit` for each digit confirmed.
    pub fn process(&mut self, samples: &[i16], mut on_digit: impl FnMut(DetectedDigit)) {
        self.process_events(samples, |e| {
            if let DtmfDetectorEvent::Digit(d) = e {
                on_digit(d);
            }
        });
    }

    /// Feeds µ-law (PCMU) codes; calls `on_digit` for each digit confirmed.
    pub fn process_ulaw(&mut self, codes: &[u8], mut on_digit: impl FnMut(DetectedDigit)) {
        self.process_events_ulaw(codes, |e| {
            if let DtmfDetectorEvent::Digit(d) = e {
                on_digit(d);
            }
        });
    }

    /// Feeds A-law (PCMA) codes; calls `on_digit` for each digit confirmed.
    pub fn process_alaw(&mut self, codes: &[u8], mut on_digit: impl FnMut(DetectedDigit)) {
        self.process_events_alaw(codes, |e| {
            if let DtmfDetectorEvent::Digit(d) = e {
                on_digit(d);
            }
        });
    }

    /// Feeds linear samples; reports digits and their ends (e.g. to regenerate
    /// them as RFC 4733 events with a duration).
    pub fn process_events(&mut self, samples: &[i16], mut on_event: impl FnMut(DtmfDetectorEvent)) {
        for &s in samples {
            self.push(f32::from(s), &mut on_event);
        }
    }

    /// [`DtmfDetector::process_events`] for µ-law (PCMU) codes.
    pub fn process_events_ulaw(
        &mut self,
        codes: &[u8],
        mut on_event: impl FnMut(DtmfDetectorEvent),
    ) {
        for &c in codes {
            self.push(f32::from(g711::ulaw_decode(c)), &mut on_event);
        }
    }

    /// [`DtmfDetector::process_events`] for A-law (PCMA) codes.
    pub fn process_events_alaw(
        &mut self,
        codes: &[u8],
        mut on_event: impl FnMut(DtmfDetectorEvent),
    ) {
        for &c in codes {
            self.push(f32::from(g711::alaw_decode(c)), &mut on_event);
        }
    }

    fn push(&mut self, sample: f32, on_event: &mut impl FnMut(DtmfDetectorEvent)) {
        self.history[self.filled] = sample;
        self.filled += 1;
        self.position += 1;
        if self.filled == SPAN {
            let seen = self.classify_window();
            self.update(seen, on_event);
            self.history.copy_within(HOP.., 0);
            self.filled = SPAN - HOP;
        }
    }

    /// The digit this window holds, if it passes every check.
    ///
    /// While a digit is being reported, the same digit passes with every
    /// limit relaxed by [`HOLD_RELAXATION_DB`] (hysteresis),
    /// so a tone near a limit cannot flicker into two reports.
    fn classify_window(&self) -> Option<char> {
        let block = &self.history[SPAN - WINDOW..];
        let energy: f32 = block.iter().map(|x| x * x).sum();
        if energy <= 0.0 {
            return None;
        }
        let centers = Goertzel::powers(&self.centers, block);
        let mut row = Self::strongest(&centers[..4])?;
        let mut col = Self::strongest(&centers[4..])?;
        let (r, c) = (&self.rows[row.index], &self.cols[col.index]);
        let sides = Goertzel::powers(&[r.below, r.above, c.below, c.above], block);
        row.side = sides[0].max(sides[1]);
        col.side = sides[2].max(sides[3]);
        let digit = KEYS[row.index][col.index];
        let relax_db = if self.reported == Some(digit) {
            HOLD_RELAXATION_DB
        } else {
            0.0
        };
        let relax = 10f64.powf(-relax_db / 10.0);
        let margin = 10f64.powf((self.config.group_margin_db - relax_db) / 10.0);
        for tone in [&row, &col] {
            let power = f64::from(tone.power);
            if power < f64::from(tone.runner_up) * margin || power < f64::from(tone.side) * relax {
                return None;
            }
        }
        let (row_power, col_power) = (row.power, col.power);
        let min_power = f64::from(self.min_power) * relax;
        if f64::from(row_power) < min_power || f64::from(col_power) < min_power {
            return None;
        }
        let twist_db = 10.0 * f64::from(col_power / row_power).log10();
        if twist_db < -(self.config.normal_twist_db + relax_db)
            || twist_db > self.config.reverse_twist_db + relax_db
        {
            return None;
        }
        // A sine of peak A fills |X|² = (A·N/2)² and the window's energy A²·N/2.
        let purity = 2.0 * f64::from(row_power + col_power) / (WINDOW as f64 * f64::from(energy));
        if purity < self.config.min_purity * relax {
            return None;
        }
        Some(digit)
    }

    /// Whether the last four windows hold `digit`'s tones as exactly as a
    /// DTMF sender makes them (see [`confirmation`]).
    fn confirms(&self, digit: char) -> bool {
        let Some(nominal) = tone_frequencies(digit) else {
            return false;
        };
        self.confirmation
            .measure(&self.history, nominal)
            .is_some_and(|m| m.passes())
    }

    /// The strongest tone of a group and its runner-up (side bins filled in later).
    fn strongest(powers: &[f32]) -> Option<GroupPeak> {
        let (index, &power) = powers
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        let runner_up = powers
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != index)
            .map(|(_, &p)| p)
            .fold(0.0f32, f32::max);
        Some(GroupPeak {
            index,
            power,
            runner_up,
            side: 0.0,
        })
    }

    fn update(&mut self, seen: Option<char>, on_event: &mut impl FnMut(DtmfDetectorEvent)) {
        let window_start = self.position - WINDOW as u64;
        if seen == self.candidate {
            self.candidate_windows = self.candidate_windows.saturating_add(1);
        } else {
            self.candidate = seen;
            self.candidate_windows = 1;
            self.candidate_start = window_start;
        }
        if let Some(held) = self.reported {
            if seen == Some(held) {
                self.windows_without_reported = 0;
                self.reported_last_end = self.position;
            } else {
                self.windows_without_reported += 1;
                if self.windows_without_reported >= self.config.windows_to_release {
                    self.reported = None;
                    on_event(DtmfDetectorEvent::Ended(EndedDigit {
                        digit: held,
                        start: self.reported_start,
                        end: self.reported_last_end,
                    }));
                }
            }
        }
        if let Some(digit) = seen {
            if self.candidate_windows >= self.config.windows_to_report
                && self.reported.is_none()
                && self.confirms(digit)
            {
                self.reported = Some(digit);
                self.reported_start = self.candidate_start;
                self.reported_last_end = self.position;
                self.windows_without_reported = 0;
                on_event(DtmfDetectorEvent::Digit(DetectedDigit {
                    digit,
                    start: self.candidate_start,
                    confirmed_at: self.position,
                }));
            }
        }
    }
}

/// Row and column frequency of `digit`.
fn tone_frequencies(digit: char) -> Option<[f64; 2]> {
    KEYS.iter().enumerate().find_map(|(r, keys)| {
        let c = keys.iter().position(|&k| k == digit)?;
        Some([ROWS[r], COLS[c]])
    })
}

mod confirmation;
#[cfg(test)]
mod tests;
