//! What was in the RTP a test received: decoded audio, its dominant
//! frequency, whether a tone is present, DTMF (RFC 4733 and in-band), and
//! per-SSRC stream statistics (loss, duplicates, reordering, pacing, jitter).
//!
//! Everything here works on [`ReceivedPacket`]s as recorded by
//! [`crate::rtp_peer::RtpPeer`], after the fact, so a test can look at the
//! same packets several ways. The clock rate is taken as 8 kHz throughout
//! (G.711 and telephone-events at 8000 Hz).
//!
//! Ordering: packets are taken in arrival order, split into runs of one
//! SSRC (a source switch starts a new run), and each run is put in
//! extended-sequence order with duplicates removed. Lost packets are not
//! filled in, so decoded audio is shorter than the stream by the loss.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use media::dtmf_detector::DtmfDetector;
use media::dtmf_event::{ReceivedEvent, TelephoneEventReceiver};
use media::goertzel::Goertzel;
use media::rtp::SequenceExtender;
use media::tone::amplitude_to_dbm0;

use crate::rtp_peer::{Codec, ReceivedPacket, PTIME};

/// RTP clock rate assumed for every stream (G.711, telephone-event).
pub const CLOCK_RATE: u32 = 8000;

/// Block length for frequency analysis: 50 ms, so each bin's main lobe is ±20 Hz.
const BLOCK: usize = 400;

/// The packets of one SSRC, in arrival order (to set aside strays).
pub fn from_ssrc(packets: &[ReceivedPacket], ssrc: u32) -> Vec<ReceivedPacket> {
    packets.iter().filter(|p| p.ssrc == ssrc).cloned().collect()
}

/// `packets` in playout order: runs of one SSRC (in arrival order of the
/// runs), each sorted by extended sequence number, duplicates dropped.
pub fn playout_order<'a>(
    packets: impl IntoIterator<Item = &'a ReceivedPacket>,
) -> Vec<&'a ReceivedPacket> {
    let mut out = Vec::new();
    let mut run: Vec<(u64, &ReceivedPacket)> = Vec::new();
    let mut extender = SequenceExtender::new();
    let flush = |run: &mut Vec<(u64, &'a ReceivedPacket)>, out: &mut Vec<&'a ReceivedPacket>| {
        run.sort_by_key(|(ext, _)| *ext);
        run.dedup_by_key(|(ext, _)| *ext);
        out.extend(run.drain(..).map(|(_, p)| p));
    };
    for p in packets {
        if run.last().is_some_and(|(_, last)| last.ssrc != p.ssrc) {
            flush(&mut run, &mut out);
            extender = SequenceExtender::new();
        }
        run.push((extender.extend(p.sequence_number), p));
    }
    flush(&mut run, &mut out);
    out
}

/// Linear samples of the G.711 packets (PT 0 and 8, each decoded by its own
/// law) in playout order; other payload types are skipped.
pub fn decode_audio(packets: &[ReceivedPacket]) -> Vec<i16> {
    let audio = packets
        .iter()
        .filter(|p| Codec::from_payload_type(p.payload_type).is_some());
    let mut samples = Vec::new();
    for p in playout_order(audio) {
        let Some(codec) = Codec::from_payload_type(p.payload_type) else {
            continue;
        };
        let start = samples.len();
        samples.resize(start + p.payload.len(), 0);
        codec.decode(&p.payload, &mut samples[start..]);
    }
    samples
}

/// Goertzel power at `frequency`, summed over whole 50 ms blocks (or the
/// whole signal when shorter), scaled so a pure sine scores its energy.
fn band_energy(blocks: &[Vec<f32>], frequency: f64, sample_rate: u32) -> f64 {
    let filter = Goertzel::new(frequency, f64::from(sample_rate));
    blocks
        .iter()
        .map(|b| 2.0 * f64::from(filter.power(b)) / b.len() as f64)
        .sum()
}

fn blocks_of(samples: &[i16]) -> Vec<Vec<f32>> {
    let to_f32 = |c: &[i16]| c.iter().map(|&s| f32::from(s)).collect::<Vec<_>>();
    if samples.len() < BLOCK {
        if samples.is_empty() {
            return Vec::new();
        }
        return vec![to_f32(samples)];
    }
    samples.chunks_exact(BLOCK).map(to_f32).collect()
}

/// The strongest frequency between 200 and 3400 Hz: a 10 Hz Goertzel scan
/// over 50 ms blocks, refined in 1 Hz steps around the peak. `None` for
/// silence or no samples. Within a few Hz for a clean tone. Costs about 340
/// Goertzel passes over the input: pass a few seconds, not a whole call.
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> Option<f64> {
    let blocks = blocks_of(samples);
    if blocks.is_empty() || samples.iter().all(|&s| s == 0) {
        return None;
    }
    let top = 3400.0f64.min(f64::from(sample_rate) / 2.0 - 10.0);
    let best = |candidates: &mut dyn Iterator<Item = f64>| {
        candidates
            .map(|f| (f, band_energy(&blocks, f, sample_rate)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    };
    let coarse = (20..)
        .map(|k| f64::from(k) * 10.0)
        .take_while(|&f| f <= top);
    let (peak, _) = best(&mut coarse.into_iter())?;
    let fine = (-10..=10).map(|d| peak + f64::from(d));
    let (peak, _) = best(&mut fine.filter(|&f| f > 0.0))?;
    Some(peak)
}

/// Whether a measured frequency is within 15 Hz of `expected` (the
/// resolution tone checks in these tests use).
pub fn is_near(found: Option<f64>, expected: f64) -> bool {
    found.is_some_and(|f| (f - expected).abs() < 15.0)
}

/// The share (0–1) of the signal's energy within about ±5 Hz of `frequency`.
pub fn tone_fraction(samples: &[i16], frequency: f64, sample_rate: u32) -> f64 {
    let blocks = blocks_of(samples);
    let total: f64 = blocks
        .iter()
        .flatten()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum();
    if total == 0.0 {
        return 0.0;
    }
    (band_energy(&blocks, frequency, sample_rate) / total).min(1.0)
}

/// Whether a tone at `frequency` carries at least `min_fraction` of the energy (8 kHz audio).
pub fn tone_present(samples: &[i16], frequency: f64, min_fraction: f64) -> bool {
    tone_fraction(samples, frequency, CLOCK_RATE) >= min_fraction
}

/// The RMS level in dBm0 (a sine's level; −∞ for silence).
pub fn level_dbm0(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt();
    amplitude_to_dbm0(rms * std::f64::consts::SQRT_2)
}

/// The RFC 4733 events on `payload_type`, one per key press, in playout order.
pub fn telephone_events(packets: &[ReceivedPacket], payload_type: u8) -> Vec<ReceivedEvent> {
    let mut receiver = TelephoneEventReceiver::new();
    let mut events = Vec::new();
    let mut ssrc = None;
    let ordered = playout_order(packets.iter().filter(|p| p.payload_type == payload_type));
    for p in ordered {
        if ssrc.is_some_and(|s| s != p.ssrc) {
            events.extend(receiver.finish());
            receiver = TelephoneEventReceiver::new();
        }
        ssrc = Some(p.ssrc);
        if let Ok(reports) = receiver.receive(p.timestamp, &p.payload) {
            events.extend(reports.into_iter().flatten());
        }
    }
    events.extend(receiver.finish());
    events
}

/// The DTMF digits sent as RFC 4733 events on `payload_type`.
pub fn rfc4733_digits(packets: &[ReceivedPacket], payload_type: u8) -> String {
    telephone_events(packets, payload_type)
        .iter()
        .filter_map(|e| e.digit)
        .collect()
}

/// The in-band DTMF digits in the G.711 audio (default detector settings).
pub fn inband_digits(packets: &[ReceivedPacket]) -> String {
    inband_digits_in(&decode_audio(packets))
}

/// The in-band DTMF digits in 8 kHz linear audio (default detector settings).
pub fn inband_digits_in(samples: &[i16]) -> String {
    let mut detector = DtmfDetector::default();
    let mut digits = String::new();
    detector.process(samples, |d| digits.push(d.digit));
    digits
}

/// Loss, order and timing of one SSRC's packets.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamStats {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Payload types seen, ascending.
    pub payload_types: Vec<u8>,
    /// Packets received, duplicates included.
    pub packets: u64,
    /// Highest minus lowest extended sequence number, plus one.
    pub expected: u64,
    /// Sequence numbers in that span never received.
    pub lost: u64,
    /// Packets whose sequence number had already been received.
    pub duplicates: u64,
    /// Packets older than one received before them (not duplicates).
    pub reordered: u64,
    /// Median of |arrival interval − 20 ms| over consecutive arrivals.
    pub pacing_p50: Duration,
    /// 99th percentile of the same.
    pub pacing_p99: Duration,
    /// Largest of the same.
    pub pacing_max: Duration,
    /// RFC 3550 §6.4.1 interarrival jitter at the end, in timestamp units.
    pub jitter: f64,
    /// First arrival.
    pub first_arrival: Instant,
    /// Last arrival.
    pub last_arrival: Instant,
}

impl StreamStats {
    /// `lost / expected` (0 for an empty stream).
    pub fn loss_fraction(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.lost as f64 / self.expected as f64
    }

    /// The interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(CLOCK_RATE)
    }
}

/// Per-SSRC statistics, ascending by SSRC; packets are taken in arrival order.
pub fn stream_stats(packets: &[ReceivedPacket]) -> Vec<StreamStats> {
    let mut by_ssrc: BTreeMap<u32, Vec<&ReceivedPacket>> = BTreeMap::new();
    for p in packets {
        by_ssrc.entry(p.ssrc).or_default().push(p);
    }
    by_ssrc
        .into_iter()
        .filter_map(|(ssrc, stream)| one_stream(ssrc, &stream))
        .collect()
}

fn one_stream(ssrc: u32, stream: &[&ReceivedPacket]) -> Option<StreamStats> {
    let (first, last) = (stream.first()?, stream.last()?);
    let mut extender = SequenceExtender::new();
    let mut seen = std::collections::BTreeSet::new();
    let (mut duplicates, mut reordered) = (0, 0);
    let mut highest = 0;
    let mut deviations = Vec::with_capacity(stream.len());
    let mut jitter = 0.0f64;
    let mut payload_types = Vec::new();
    for (i, p) in stream.iter().enumerate() {
        if !payload_types.contains(&p.payload_type) {
            payload_types.push(p.payload_type);
        }
        let ext = extender.extend(p.sequence_number);
        if !seen.insert(ext) {
            duplicates += 1;
        } else if ext < highest {
            reordered += 1;
        }
        highest = highest.max(ext);
        if i > 0 {
            let prev = stream[i - 1];
            let interval = p.arrival.saturating_duration_since(prev.arrival);
            deviations.push(interval.abs_diff(PTIME));
            // D(i−1, i) = (Rj − Ri) − (Sj − Si), in timestamp units.
            let d = interval.as_secs_f64() * f64::from(CLOCK_RATE)
                - f64::from(p.timestamp.wrapping_sub(prev.timestamp) as i32);
            jitter += (d.abs() - jitter) / 16.0;
        }
    }
    payload_types.sort_unstable();
    let lowest = *seen.first()?;
    let expected = highest - lowest + 1;
    deviations.sort_unstable();
    Some(StreamStats {
        ssrc,
        payload_types,
        packets: stream.len() as u64,
        expected,
        lost: expected - seen.len() as u64,
        duplicates,
        reordered,
        pacing_p50: percentile(&deviations, 50),
        pacing_p99: percentile(&deviations, 99),
        pacing_max: deviations.last().copied().unwrap_or_default(),
        jitter,
        first_arrival: first.arrival,
        last_arrival: last.arrival,
    })
}

/// Nearest-rank percentile of sorted values (zero when empty).
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use media::tone::ToneGenerator;
    use std::net::SocketAddr;

    fn packet(at: Instant, ssrc: u32, seq: u16, ts: u32, payload: Vec<u8>) -> ReceivedPacket {
        ReceivedPacket {
            arrival: at,
            from: SocketAddr::from(([127, 0, 0, 1], 9)),
            payload_type: 0,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            marker: false,
            payload,
        }
    }

    #[test]
    fn dominant_frequency_is_within_a_few_hz_across_the_band() {
        for f in [203.0, 440.0, 697.0, 1000.0, 1477.0, 2004.5, 3333.0] {
            let s = ToneGenerator::sine(f, -20.0).take(8000);
            let found = dominant_frequency(&s, 8000).expect("a tone");
            assert!((found - f).abs() <= 3.0, "{f} Hz found as {found}");
        }
        assert_eq!(dominant_frequency(&[0; 800], 8000), None);
        assert_eq!(dominant_frequency(&[], 8000), None);
        let short = ToneGenerator::sine(1000.0, -20.0).take(160);
        let found = dominant_frequency(&short, 8000).expect("a tone");
        assert!((found - 1000.0).abs() <= 10.0, "{found}");
    }

    #[test]
    fn tone_fraction_tells_tones_apart() {
        let pure = ToneGenerator::sine(1000.0, -10.0).take(4000);
        assert!(tone_fraction(&pure, 1000.0, 8000) > 0.99);
        assert!(tone_fraction(&pure, 1100.0, 8000) < 0.01);
        let dual = ToneGenerator::dual(697.0, 1209.0, -10.0).take(4000);
        let low = tone_fraction(&dual, 697.0, 8000);
        assert!((low - 0.5).abs() < 0.05, "{low}");
        assert!(tone_present(&dual, 1209.0, 0.4));
        assert!(!tone_present(&[0; 400], 1000.0, 0.1));
        assert!((level_dbm0(&pure) + 10.0).abs() < 0.1);
    }

    #[test]
    fn stats_count_loss_duplicates_and_reordering_across_the_wrap() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 65534, 65535, (0 lost), 2, 1 (reordered), 2 (duplicate), 3
        let seqs: [(u16, u64); 6] = [(65534, 0), (65535, 20), (2, 40), (1, 60), (2, 80), (3, 100)];
        let packets: Vec<_> = seqs
            .iter()
            .map(|&(seq, at)| {
                let ts = u32::from(seq.wrapping_sub(65534)) * 160;
                packet(ms(at), 7, seq, ts, vec![0xff; 160])
            })
            .collect();
        let stats = stream_stats(&packets);
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!((s.packets, s.expected, s.lost), (6, 6, 1));
        assert_eq!((s.duplicates, s.reordered), (1, 1));
        assert_eq!(s.pacing_max, Duration::ZERO);
        assert!(s.jitter > 0.0);
        assert!((s.loss_fraction() - 1.0 / 6.0).abs() < 1e-9);
        // Playout order: by sequence, duplicate dropped, loss not filled.
        let order: Vec<u16> = playout_order(&packets)
            .iter()
            .map(|p| p.sequence_number)
            .collect();
        assert_eq!(order, [65534, 65535, 1, 2, 3]);
        assert_eq!(decode_audio(&packets).len(), 5 * 160);
    }

    #[test]
    fn pacing_percentiles_and_ssrc_split() {
        let t0 = Instant::now();
        let mut packets: Vec<_> = (0..100u16)
            .map(|i| {
                let late = if i == 50 { 5 } else { 0 };
                let at = t0 + Duration::from_millis(u64::from(i) * 20 + late);
                packet(at, 1, i, u32::from(i) * 160, vec![0xff; 160])
            })
            .collect();
        packets.push(packet(t0, 2, 0, 0, vec![0xff; 160]));
        let stats = stream_stats(&packets);
        assert_eq!(stats.iter().map(|s| s.ssrc).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(stats[0].pacing_p50, Duration::ZERO);
        assert_eq!(stats[0].pacing_p99, Duration::from_millis(5));
        assert_eq!(stats[0].pacing_max, Duration::from_millis(5));
        assert_eq!(from_ssrc(&packets, 2).len(), 1);
    }

    #[test]
    fn digits_from_events_and_from_audio() {
        use media::dtmf_event::TelephoneEventSender;
        let t0 = Instant::now();
        let mut packets = Vec::new();
        let mut seq = 0u16;
        for (i, digit) in "9#".chars().enumerate() {
            let ts = i as u32 * 1600;
            let sender =
                TelephoneEventSender::for_digit(digit, 10, ts, 160, 800).expect("a DTMF digit");
            for p in sender {
                let mut rp = packet(t0, 3, seq, p.timestamp, p.event.to_bytes().to_vec());
                rp.payload_type = 101;
                packets.push(rp);
                seq += 1;
            }
        }
        packets.swap(1, 2); // reordering must not matter
        assert_eq!(rfc4733_digits(&packets, 101), "9#");
        assert_eq!(telephone_events(&packets, 101)[0].duration, 800);
        assert_eq!(rfc4733_digits(&packets, 96), "");

        let mut audio = ToneGenerator::dtmf('7', -10.0).expect("digit").take(640);
        audio.extend([0; 640]);
        assert_eq!(inband_digits_in(&audio), "7");
    }
}
