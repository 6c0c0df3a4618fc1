//! Receive-side statistics of one RTP stream, kept incrementally (no packet
//! is stored), and the pacing histogram.
//!
//! A stream is what one leg's socket receives. Sequence numbers are
//! extended (RFC 3550 A.1); a 1,024-packet bitmap behind the highest one
//! tells duplicates from late (reordered) packets. A change of SSRC closes
//! the current run: loss is counted within runs, never across them.
//!
//! Counts are kept twice: over the whole call, and over the measurement
//! window ([`Phase::Measuring`]). The window's expected range starts right
//! after the highest packet seen before it, so a packet lost just before the
//! window is not blamed on it, and one lost at its very start is.

use std::time::{Duration, Instant};

use media::rtp::SequenceExtender;

use crate::rtp_peer::PTIME;

/// Where the run is: before, inside or after the measurement window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Calls are being set up or warming up: packets are counted for the
    /// whole-call totals only.
    Warmup = 0,
    /// The measurement window: every statistic is kept.
    Measuring = 1,
    /// Calls are being torn down: whole-call totals only.
    Teardown = 2,
}

impl Phase {
    /// The phase stored as `value` (see [`Phase`]'s `repr`).
    pub fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Warmup,
            1 => Phase::Measuring,
            _ => Phase::Teardown,
        }
    }
}

/// Largest deviation the histogram resolves, in µs (1 s); larger ones land
/// in an overflow count and are reported as this value or more.
pub const HISTOGRAM_MAX_US: u64 = 1_000_000;

/// Counts of values in whole microseconds from 0 to [`HISTOGRAM_MAX_US`].
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram (4 MB of buckets).
    pub fn new() -> Histogram {
        Histogram {
            buckets: vec![0; HISTOGRAM_MAX_US as usize + 1],
            overflow: 0,
            count: 0,
            max: 0,
        }
    }

    /// Records one value in µs.
    pub fn record(&mut self, us: u64) {
        self.count += 1;
        self.max = self.max.max(us);
        match self.buckets.get_mut(us as usize) {
            Some(b) => *b = b.saturating_add(1),
            None => self.overflow += 1,
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a = a.saturating_add(*b);
        }
        self.overflow += other.overflow;
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded (exact, even past the overflow).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Nearest-rank percentile (`pct` in 0–100), `None` when empty; values
    /// past [`HISTOGRAM_MAX_US`] read as it.
    pub fn percentile(&self, pct: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((pct / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (us, n) in self.buckets.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                return Some(us as u64);
            }
        }
        Some(HISTOGRAM_MAX_US)
    }

    /// `NAME_n=… NAME_p50=… NAME_p90=… NAME_p99=… NAME_max=…` for a
    /// `RESULT` line (`-` where there is no sample).
    pub fn result_fields(&self, name: &str) -> String {
        let value = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let max = (self.count > 0).then_some(self.max);
        format!(
            "{name}_n={} {name}_p50={} {name}_p90={} {name}_p99={} {name}_max={}",
            self.count,
            value(self.percentile(50.0)),
            value(self.percentile(90.0)),
            value(self.percentile(99.0)),
            value(max)
        )
    }

    /// `N samples: p50 … µs, p90 … µs, p99 … µs, max … µs`, or `none`, for
    /// human summaries.
    pub fn summary_us(&self) -> String {
        if self.count == 0 {
            return "none".to_string();
        }
        let p = |q| self.percentile(q).unwrap_or(0);
        format!(
            "{} samples: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            self.count,
            p(50.0),
            p(90.0),
            p(99.0),
            self.max
        )
    }
}

/// Packet counts of one stream over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Packets received, duplicates included.
    pub packets: u64,
    /// Distinct sequence numbers received within the expected range.
    pub unique: u64,
    /// Packets whose sequence number had already been received.
    pub duplicates: u64,
    /// Packets older than one received before them (not duplicates).
    pub reordered: u64,
    /// Expected packets of the runs already closed by an SSRC change.
    closed_expected: u64,
    /// First extended sequence number of the current run's range.
    run_first: Option<u64>,
    /// Highest extended sequence number of the current run.
    run_last: Option<u64>,
}

impl Counts {
    /// Sequence numbers the span should have carried.
    pub fn expected(&self) -> u64 {
        let current = match (self.run_first, self.run_last) {
            (Some(first), Some(last)) if last >= first => last - first + 1,
            _ => 0,
        };
        self.closed_expected + current
    }

    /// Sequence numbers in the expected range never received.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.unique)
    }

    /// Adds `other`'s counts (for totals over streams).
    pub fn add(&mut self, other: &Counts) {
        self.packets += other.packets;
        self.unique += other.unique;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.closed_expected += other.expected();
    }

    fn close_run(&mut self) {
        self.closed_expected = self.expected();
        self.run_first = None;
        self.run_last = None;
    }

    fn count_new(&mut self, ext: u64, reordered: bool) {
        self.packets += 1;
        self.unique += 1;
        if reordered {
            self.reordered += 1;
        }
        self.run_first = Some(self.run_first.map_or(ext, |f| f.min(ext)));
        self.run_last = Some(self.run_last.map_or(ext, |l| l.max(ext)));
    }
}

/// Bits of sequence history kept behind the highest packet.
const SEEN_BITS: u64 = 1024;
/// G.711 frames kept per stream for the tone check.
pub(crate) const KEPT_FRAMES: usize = 5;
/// RTP clock rate of every stream (G.711).
const CLOCK_RATE: f64 = 8000.0;

/// How a packet relates to those before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    New,
    Late,
    Duplicate,
}

/// One received RTP packet, as the receiver thread hands it over.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    pub arrival: Instant,
    pub payload_type: u8,
    pub sequence_number: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// The receive state of one stream (one leg's socket).
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    ssrc: Option<u32>,
    pub ssrc_changes: u64,
    extender: SequenceExtender,
    highest: Option<u64>,
    seen: [u64; (SEEN_BITS / 64) as usize],
    last: Option<(Instant, u32)>,
    jitter: f64,
    /// Highest interarrival jitter inside the window, in timestamp units.
    pub window_jitter_max: f64,
    /// Whole-call counts.
    pub all: Counts,
    /// Counts inside the measurement window.
    pub window: Counts,
    /// Set at the first packet of the window: the highest sequence before it.
    window_base: Option<Option<u64>>,
    /// The last G.711 frames received before teardown: (payload type, codes).
    pub frames: Vec<(u8, Vec<u8>)>,
    next_frame: usize,
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

impl Stream {
    pub(crate) fn new() -> Stream {
        Stream {
            ssrc: None,
            ssrc_changes: 0,
            extender: SequenceExtender::new(),
            highest: None,
            seen: [0; (SEEN_BITS / 64) as usize],
            last: None,
            jitter: 0.0,
            window_jitter_max: 0.0,
            all: Counts::default(),
            window: Counts::default(),
            window_base: None,
            frames: Vec::with_capacity(KEPT_FRAMES),
            next_frame: 0,
        }
    }

    fn bit(&mut self, ext: u64) -> (&mut u64, u64) {
        let slot = (ext % SEEN_BITS) as usize;
        (&mut self.seen[slot / 64], 1u64 << (slot % 64))
    }

    /// Marks `ext` seen and tells how it relates to what came before.
    fn classify(&mut self, ext: u64) -> Order {
        match self.highest {
            Some(h) if ext <= h => {
                if h - ext >= SEEN_BITS {
                    return Order::Late;
                }
                let (word, mask) = self.bit(ext);
                if *word & mask != 0 {
                    Order::Duplicate
                } else {
                    *word |= mask;
                    Order::Late
                }
            }
            highest => {
                // Clear the bits of the sequence numbers skipped over.
                let from = highest.map_or(ext, |h| (h + 1).max(ext.saturating_sub(SEEN_BITS)));
                for skipped in from..ext {
                    let (word, mask) = self.bit(skipped);
                    *word &= !mask;
                }
                let (word, mask) = self.bit(ext);
                *word |= mask;
                self.highest = Some(ext);
                Order::New
            }
        }
    }

    /// Takes one packet; pacing deviations inside the window go to `pacing`.
    pub(crate) fn on_packet(&mut self, p: &Arrival<'_>, phase: Phase, pacing: &mut Histogram) {
        if self.ssrc != Some(p.ssrc) {
            if self.ssrc.is_some() {
                self.ssrc_changes += 1;
                self.all.close_run();
                self.window.close_run();
                if self.window_base.is_some() {
                    self.window_base = Some(None);
                }
            }
            self.ssrc = Some(p.ssrc);
            // A new source: its timestamps have their own base (RFC 3550 §6.4.1).
            self.last = None;
            self.jitter = 0.0;
            self.extender = SequenceExtender::new();
            self.highest = None;
            self.seen = [0; (SEEN_BITS / 64) as usize];
        }
        let highest_before = self.highest;
        let ext = self.extender.extend(p.sequence_number);
        let order = self.classify(ext);

        match order {
            Order::Duplicate => {
                self.all.packets += 1;
                self.all.duplicates += 1;
            }
            Order::New | Order::Late => self.all.count_new(ext, order == Order::Late),
        }

        if let Some((prev_arrival, prev_ts)) = self.last {
            let interval = p.arrival.saturating_duration_since(prev_arrival);
            // D(i−1, i) = (Rj − Ri) − (Sj − Si), in timestamp units (RFC 3550 §6.4.1).
            let d = interval.as_secs_f64() * CLOCK_RATE
                - f64::from(p.timestamp.wrapping_sub(prev_ts) as i32);
            self.jitter += (d.abs() - self.jitter) / 16.0;
            if phase == Phase::Measuring {
                pacing.record(interval.abs_diff(PTIME).as_micros() as u64);
                self.window_jitter_max = self.window_jitter_max.max(self.jitter);
            }
        }
        self.last = Some((p.arrival, p.timestamp));

        if phase == Phase::Measuring {
            let base = *self.window_base.get_or_insert(highest_before);
            if self.window.run_first.is_none() {
                if let Some(b) = base {
                    self.window.run_first = Some(b + 1);
                }
            }
            match order {
                Order::Duplicate => {
                    self.window.packets += 1;
                    self.window.duplicates += 1;
                }
                // A straggler from before the window: late, but not the window's.
                _ if base.is_some_and(|b| ext <= b) => {
                    self.window.packets += 1;
                    self.window.reordered += 1;
                }
                _ => self.window.count_new(ext, order == Order::Late),
            }
        }

        if phase != Phase::Teardown && matches!(p.payload_type, 0 | 8) && order != Order::Duplicate
        {
            if self.frames.len() < KEPT_FRAMES {
                self.frames.push((p.payload_type, p.payload.to_vec()));
            } else {
                let slot = &mut self.frames[self.next_frame];
                slot.0 = p.payload_type;
                slot.1.clear();
                slot.1.extend_from_slice(p.payload);
            }
            self.next_frame = (self.next_frame + 1) % KEPT_FRAMES;
        }
    }

    /// The kept frames, oldest first.
    pub(crate) fn frames_in_order(&self) -> impl Iterator<Item = &(u8, Vec<u8>)> {
        let split = if self.frames.len() < KEPT_FRAMES {
            0
        } else {
            self.next_frame
        };
        self.frames[split..].iter().chain(&self.frames[..split])
    }

    /// The window's highest interarrival jitter in milliseconds.
    pub(crate) fn window_jitter_max_ms(&self) -> f64 {
        self.window_jitter_max * 1000.0 / CLOCK_RATE
    }
}

/// A duration in whole microseconds, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stream: &mut Stream, hist: &mut Histogram, t0: Instant, seqs: &[(u16, u64, Phase)]) {
        for &(seq, at_ms, phase) in seqs {
            let payload = [0xffu8; 160];
            let p = Arrival {
                arrival: t0 + Duration::from_millis(at_ms),
                payload_type: 0,
                sequence_number: seq,
                // Sent on time: the timestamp follows the arrival clock.
                timestamp: at_ms as u32 * 8,
                ssrc: 1,
                payload: &payload,
            };
            stream.on_packet(&p, phase, hist);
        }
    }

    #[test]
    fn loss_duplicates_and_reordering_per_window() {
        use Phase::*;
        let t0 = Instant::now();
        let mut s = Stream::new();
        let mut h = Histogram::new();
        // Warm-up: 10, 11, (12 lost). Window: 13, 15, 14 (late), 15 (dup),
        // 11 (straggler from before the window), (16 lost), 17. Teardown: 18.
        let seqs = [
            (10, 0, Warmup),
            (11, 20, Warmup),
            (13, 60, Measuring),
            (15, 100, Measuring),
            (14, 101, Measuring),
            (15, 102, Measuring),
            (11, 103, Measuring),
            (17, 140, Measuring),
            (18, 160, Teardown),
        ];
        feed(&mut s, &mut h, t0, &seqs);
        assert_eq!(s.all.packets, 9);
        assert_eq!(s.all.duplicates, 2, "15 twice and 11 twice");
        assert_eq!(s.all.expected(), 9, "10..=18");
        assert_eq!(s.all.lost(), 2, "12 and 16");
        assert_eq!(s.window.packets, 6);
        assert_eq!(s.window.expected(), 6, "12..=17");
        assert_eq!(s.window.lost(), 2, "12 and 16");
        assert_eq!(s.window.duplicates, 2);
        assert_eq!(s.window.reordered, 1, "14");
        assert_eq!(h.count(), 6);
        assert_eq!(h.percentile(50.0), Some(19_000));
        assert_eq!(h.max(), 20_000);
        assert_eq!(s.frames_in_order().count(), KEPT_FRAMES);
    }

    #[test]
    fn sequence_wrap_and_ssrc_change() {
        let t0 = Instant::now();
        let mut s = Stream::new();
        let mut h = Histogram::new();
        let seqs: Vec<(u16, u64, Phase)> = (0..100u64)
            .map(|i| (65500u16.wrapping_add(i as u16), i * 20, Phase::Measuring))
            .collect();
        feed(&mut s, &mut h, t0, &seqs);
        assert_eq!((s.window.expected(), s.window.lost()), (100, 0));
        assert_eq!(h.percentile(99.0), Some(0));
        assert!(s.window_jitter_max_ms() < 0.001);
        let payload = [0u8; 160];
        let other = Arrival {
            arrival: t0 + Duration::from_millis(2000),
            payload_type: 0,
            sequence_number: 7,
            timestamp: 0,
            ssrc: 2,
            payload: &payload,
        };
        s.on_packet(&other, Phase::Measuring, &mut h);
        assert_eq!(s.ssrc_changes, 1);
        assert_eq!((s.window.expected(), s.window.lost()), (101, 0));
    }

    #[test]
    fn histogram_percentiles_and_overflow() {
        let mut h = Histogram::new();
        for us in 1..=100 {
            h.record(us);
        }
        h.record(5_000_000);
        assert_eq!(h.percentile(50.0), Some(51));
        assert_eq!(h.percentile(100.0), Some(HISTOGRAM_MAX_US));
        assert_eq!(h.max(), 5_000_000);
        let mut sum = Histogram::new();
        sum.merge(&h);
        assert_eq!(sum.count(), 101);
        assert_eq!(Histogram::new().percentile(50.0), None);
    }
}
