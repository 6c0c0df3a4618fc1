//! Per-leg RTCP: the reports we send (RFC 3550 §6.4) and what we learn from
//! the peer's.
//!
//! A leg's outbound RTP is written by whoever feeds it (the relay running in
//! the *other* leg's receive task, or the pacer playing a prompt), so the
//! sender side of our report comes from [`OutboundCounters`] that the feeder
//! updates and the leg's own receive task reads.
//!
//! The same counters make the leg's outbound stream one stream whoever
//! feeds it: they hold the leg's SSRC and the last sequence number and
//! timestamp sent, and a feeder that finds someone else sent last continues
//! from there ([`OutboundCounters::continuation`]) instead of from its own
//! numbering (relay → prompt → relay, RFC 3550 §5.1). The receiver side comes from the leg's own receive
//! statistics. Reports go out every [`REPORT_INTERVAL`] ± 50 % (RFC 3550
//! §6.3.1 randomisation, so calls set up together do not report in step).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::media::recorder::TapSet;
use media::rtcp::{
    dlsr, ntp_middle, ntp_timestamp, round_trip_time, CompoundReport, ReceptionTotals, ReportBlock,
    RtcpIter, RtcpPacket, SenderInfo,
};

/// Mean time between our reports on one leg.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Largest report we write: SR with one block and a short CNAME.
pub const MAX_REPORT: usize = 128;

/// A leg's outbound stream: its SSRC, where its numbering stands, what was
/// sent. One feeder at a time writes it (the call makes sure of that); the
/// leg's receive task reads it for RTCP.
#[derive(Debug)]
pub struct OutboundCounters {
    epoch: Instant,
    ssrc: u32,
    initial_sequence: u16,
    initial_timestamp: u32,
    packets: AtomicU64,
    octets: AtomicU64,
    last_sequence: AtomicU32,
    last_timestamp: AtomicU32,
    /// Nanoseconds after `epoch` of the last packet; 0 before the first.
    last_sent_ns: AtomicU64,
    /// Recordings of what the leg's party hears, fed by every feeder.
    taps: TapSet,
}

impl Default for OutboundCounters {
    /// A stream with random SSRC, first sequence number and timestamp (RFC 3550 §5.1).
    fn default() -> Self {
        OutboundCounters::new(fastrand::u32(..), fastrand::u16(..), fastrand::u32(..))
    }
}

impl OutboundCounters {
    /// A stream sending as `ssrc`, starting at `initial_sequence` / `initial_timestamp`.
    pub fn new(ssrc: u32, initial_sequence: u16, initial_timestamp: u32) -> OutboundCounters {
        OutboundCounters {
            epoch: Instant::now(),
            ssrc,
            initial_sequence,
            initial_timestamp,
            packets: AtomicU64::new(0),
            octets: AtomicU64::new(0),
            last_sequence: AtomicU32::new(0),
            last_timestamp: AtomicU32::new(0),
            last_sent_ns: AtomicU64::new(0),
            taps: TapSet::default(),
        }
    }

    /// The recordings fed with what is sent on this stream (what the
    /// party hears): each feeder pushes the audio payloads it sends.
    pub fn taps(&self) -> &TapSet {
        &self.taps
    }

    /// Records one sent packet (called by the feeder, once per packet).
    pub fn sent(&self, sequence: u16, timestamp: u32, payload_len: usize, now: Instant) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.octets.fetch_add(payload_len as u64, Ordering::Relaxed);
        self.last_sequence
            .store(u32::from(sequence), Ordering::Relaxed);
        self.last_timestamp.store(timestamp, Ordering::Relaxed);
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        self.last_sent_ns.store(ns.max(1), Ordering::Release);
    }

    /// The leg's SSRC, which every feeder sends as.
    pub fn stream_ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number of the last packet sent, if any was.
    pub fn last_sequence(&self) -> Option<u16> {
        (self.last_sent_ns.load(Ordering::Acquire) != 0)
            .then(|| self.last_sequence.load(Ordering::Relaxed) as u16)
    }

    /// Sequence number and timestamp for a packet sent at `now` by a feeder
    /// taking over: the next number, and the timestamp advanced by the
    /// wall-clock time since the last packet (at least one 20 ms frame).
    pub fn continuation(&self, now: Instant) -> (u16, u32) {
        let last_ns = self.last_sent_ns.load(Ordering::Acquire);
        if last_ns == 0 {
            return (self.initial_sequence, self.initial_timestamp);
        }
        let last = self.epoch + Duration::from_nanos(last_ns);
        let samples = (now.saturating_duration_since(last).as_micros() as u64 * 8 / 1000).max(160);
        (
            (self.last_sequence.load(Ordering::Relaxed) as u16).wrapping_add(1),
            self.last_timestamp
                .load(Ordering::Relaxed)
                .wrapping_add(samples as u32),
        )
    }

    /// Packets sent so far.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Payload bytes sent so far.
    pub fn octets(&self) -> u64 {
        self.octets.load(Ordering::Relaxed)
    }

    /// The SSRC of the outbound stream, once something was sent.
    pub fn ssrc(&self) -> Option<u32> {
        (self.packets() > 0).then_some(self.ssrc)
    }

    /// Sender info as of `now`: the RTP timestamp is extrapolated from the
    /// last packet on the 8 kHz clock.
    fn sender_info(&self, now: Instant, wallclock: SystemTime) -> Option<SenderInfo> {
        let last_ns = self.last_sent_ns.load(Ordering::Relaxed);
        if last_ns == 0 {
            return None;
        }
        let last = self.epoch + Duration::from_nanos(last_ns);
        let since = now.saturating_duration_since(last);
        let advance = (since.as_micros() as u64 * 8 / 1000) as u32;
        Some(SenderInfo {
            ntp: ntp_timestamp(wallclock),
            rtp_timestamp: self
                .last_timestamp
                .load(Ordering::Relaxed)
                .wrapping_add(advance),
            packet_count: self.packets() as u32,
            octet_count: self.octets.load(Ordering::Relaxed) as u32,
        })
    }
}

/// The reception state one report block is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Reception {
    /// The source reported on.
    pub ssrc: u32,
    /// Totals so far.
    pub totals: ReceptionTotals,
    /// Extended highest sequence number.
    pub extended_highest_seq: u64,
    /// Interarrival jitter, timestamp units.
    pub jitter: u32,
}

/// What the peer's last report said about our stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteReport {
    /// Loss the peer saw in its last interval, 1/256.
    pub fraction_lost: u8,
    /// Packets the peer counts as lost in total.
    pub cumulative_lost: i32,
    /// Jitter the peer measured, timestamp units.
    pub jitter: u32,
    /// Round trip estimated from LSR/DLSR, when the peer echoed our SR.
    pub round_trip: Option<Duration>,
}

/// One leg's RTCP bookkeeping: previous totals, the peer's last SR.
#[derive(Debug, Default)]
pub struct Reporter {
    previous: Option<(u32, ReceptionTotals)>,
    /// LSR of the peer's last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
    /// What the peer last reported about us.
    pub remote: Option<RemoteReport>,
    /// Peer SRs and RRs seen.
    pub reports_received: u64,
}

impl Reporter {
    /// Writes our compound report into `out`; returns its length, or `None`
    /// when there is nothing to say yet (no SSRC of ours and nothing received).
    pub fn write(
        &mut self,
        outbound: &OutboundCounters,
        reception: Option<Reception>,
        cname: &str,
        now: Instant,
        out: &mut [u8],
    ) -> Option<usize> {
        let wallclock = SystemTime::now();
        let sender_info = outbound.sender_info(now, wallclock);
        // The leg's SSRC is fixed at creation, so reports carry it even
        // before anything was sent (an RR from a receive-only participant).
        let ssrc = outbound.stream_ssrc();
        let report_block = reception.map(|r| {
            let fraction_lost = match self.previous {
                Some((ssrc, previous)) if ssrc == r.ssrc => r.totals.fraction_lost_since(&previous),
                _ => r.totals.fraction_lost_since(&ReceptionTotals::default()),
            };
            self.previous = Some((r.ssrc, r.totals));
            let (lsr, delay) = match self.last_sr {
                Some((lsr, at)) => (lsr, dlsr(now.saturating_duration_since(at))),
                None => (0, 0),
            };
            ReportBlock {
                ssrc: r.ssrc,
                fraction_lost,
                cumulative_lost: r.totals.cumulative_lost(),
                extended_highest_seq: r.extended_highest_seq as u32,
                jitter: r.jitter,
                lsr,
                dlsr: delay,
            }
        });
        if sender_info.is_none() && report_block.is_none() {
            return None;
        }
        CompoundReport {
            ssrc,
            sender_info,
            report_block,
            cname,
        }
        .write(out)
        .ok()
    }

    /// Learns from a received RTCP datagram: the peer's SR time (for our
    /// LSR/DLSR) and its report on our stream.
    pub fn receive(&mut self, datagram: &[u8], our_ssrc: u32, now: Instant) {
        let arrival_ntp = ntp_timestamp(SystemTime::now());
        for packet in RtcpIter::new(datagram) {
            let Ok(packet) = packet else { break };
            let Some(report) = packet.report() else {
                continue;
            };
            self.reports_received += 1;
            if let RtcpPacket::SenderReport(_) = packet {
                if let Some(info) = report.sender_info() {
                    self.last_sr = Some((ntp_middle(info.ntp), now));
                }
            }
            for block in report.report_blocks() {
                if block.ssrc == our_ssrc {
                    self.remote = Some(RemoteReport {
                        fraction_lost: block.fraction_lost,
                        cumulative_lost: block.cumulative_lost,
                        jitter: block.jitter,
                        round_trip: round_trip_time(arrival_ntp, &block),
                    });
                }
            }
        }
    }
}

/// The delay before the next report: [`REPORT_INTERVAL`] × a random factor in [0.5, 1.5).
pub fn next_interval(mean: Duration) -> Duration {
    mean.mul_f64(0.5 + fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_report_before_any_media() {
        let mut reporter = Reporter::default();
        let mut out = [0u8; MAX_REPORT];
        let counters = OutboundCounters::default();
        assert_eq!(
            reporter.write(&counters, None, "sb", Instant::now(), &mut out),
            None
        );
    }

    #[test]
    fn sender_and_receiver_report_round_trip_through_the_parser() {
        let now = Instant::now();
        let counters = OutboundCounters::new(0xfeed, 0, 1000);
        for i in 0..50u32 {
            counters.sent(i as u16, 1000 + i * 160, 160, now);
        }
        let mut reporter = Reporter::default();
        let reception = Reception {
            ssrc: 0xabc,
            totals: ReceptionTotals {
                expected: 100,
                received: 90,
            },
            extended_highest_seq: 70_000,
            jitter: 12,
        };
        let mut out = [0u8; MAX_REPORT];
        let len = reporter
            .write(&counters, Some(reception), "switchboard", now, &mut out)
            .expect("a report");
        let packets: Vec<_> = RtcpIter::new(&out[..len]).collect();
        let Some(Ok(RtcpPacket::SenderReport(sr))) = packets.first() else {
            panic!("an SR first: {packets:?}");
        };
        assert_eq!(sr.ssrc(), 0xfeed);
        let info = sr.sender_info().expect("sender info");
        assert_eq!((info.packet_count, info.octet_count), (50, 8000));
        let block = sr.report_blocks().next().expect("one block");
        assert_eq!(block.ssrc, 0xabc);
        assert_eq!(block.cumulative_lost, 10);
        assert_eq!(block.fraction_lost, 25); // 10/100 × 256
        assert_eq!(block.extended_highest_seq, 70_000);

        // The peer's RR about our stream is remembered.
        let mut peer = Reporter::default();
        let theirs = OutboundCounters::default();
        let mut rr = [0u8; MAX_REPORT];
        let rr_len = peer
            .write(
                &theirs,
                Some(Reception {
                    ssrc: 0xfeed,
                    totals: ReceptionTotals {
                        expected: 50,
                        received: 50,
                    },
                    extended_highest_seq: 50,
                    jitter: 3,
                }),
                "peer",
                now,
                &mut rr,
            )
            .expect("an RR");
        reporter.receive(&rr[..rr_len], 0xfeed, now);
        let remote = reporter.remote.expect("remote report");
        assert_eq!((remote.fraction_lost, remote.jitter), (0, 3));
    }

    #[test]
    fn garbage_is_ignored() {
        let mut reporter = Reporter::default();
        reporter.receive(&[0x80, 200, 0xff, 0xff, 1, 2], 1, Instant::now());
        reporter.receive(&[], 1, Instant::now());
        assert_eq!(reporter.remote, None);
    }
}
