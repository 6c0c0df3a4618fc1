//! RTCP (RFC 3550 §6): the sender and receiver reports a leg sends every few
//! seconds, the SDES CNAME that must ride along, and the BYE that ends it,
//! read and written without allocation.
//!
//! A compound packet (§6.1) is several RTCP packets back to back in one
//! datagram, each with this header:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |V=2|P|  count  |      PT       |  length (32-bit words − 1)    |
//! SR  (200): SSRC, NTP time (64), RTP time, packets, octets, count × report block
//! RR  (201): SSRC, count × report block
//! SDES(202): count × chunk: SSRC, items (type, length, text)…, 1–4 nulls to a word
//! BYE (203): count × SSRC, optional reason (length, text)
//! report block (24 bytes): SSRC | fraction lost (8) cumulative lost (24, signed) |
//!     extended highest sequence | jitter | LSR | DLSR
//! ```
//!
//! What we send ([`CompoundReport`]): an SR when we sent RTP since the last
//! report, else an RR, with at most one report block (a leg has one remote
//! source), then an SDES with our CNAME; [`write_bye`] appends a BYE when the
//! leg ends. What we read ([`RtcpIter`]): every packet of any compound, with
//! SR/RR, SDES, BYE and APP decoded and anything else passed through.
//!
//! Sharp edges handled here:
//! - Every length is checked before use: the length field against the
//!   datagram, counts of blocks, chunks and SSRCs against the length, SDES
//!   item and BYE reason lengths against their packet, the padding count
//!   (P bit, last byte, counting itself) against the packet. Hostile input
//!   yields an [`RtcpError`], never a panic.
//! - Cumulative lost is a *signed* 24-bit field (duplicates can make it
//!   negative); [`ReportBlock`] holds it as `i32` and the writer clamps it.
//! - Fraction lost is 8-bit fixed point of the loss *since the last report*;
//!   RFC 3550 A.3's `(lost << 8) / expected` gives 256 when every packet of
//!   the interval was lost, which [`ReceptionTotals::fraction_lost_since`]
//!   clamps to 255 rather than letting it wrap to 0.
//! - LSR is the middle 32 bits of the NTP time of the last SR received
//!   ([`ntp_middle`]) and DLSR the time since, in 1/65536 s ([`dlsr`]); the
//!   peer's round trip follows from both ([`round_trip_time`]).
//! - Parsing does not insist that a compound starts with SR/RR (RFC 5506
//!   reduced-size RTCP does not), so a lone BYE or feedback packet is read.
//!
//! One report interval of a leg, as the engine drives it:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use media::rtcp::{
//!     dlsr, ntp_middle, ntp_timestamp, round_trip_time, CompoundReport, ReceptionTotals,
//!     ReportBlock, RtcpIter, RtcpPacket, SenderInfo,
//! };
//!
//! // The peer's SR arrived; keep its LSR and when it came.
//! let peer_sr_ntp = ntp_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
//!
//! // 250 ms later we report: 98 of 100 expected packets since the last report.
//! let (previous, now) = (
//!     ReceptionTotals { expected: 400, received: 400 },
//!     ReceptionTotals { expected: 500, received: 498 },
//! );
//! let report = CompoundReport {
//!     ssrc: 0x5eed_0001,
//!     sender_info: Some(SenderInfo {
//!         ntp: peer_sr_ntp + (1 << 30), // + 250 ms
//!         rtp_timestamp: 160_000,
//!         packet_count: 1000,
//!         octet_count: 160_000,
//!     }),
//!     report_block: Some(ReportBlock {
//!         ssrc: 0xfeed_0002,
//!         fraction_lost: now.fraction_lost_since(&previous),
//!         cumulative_lost: now.cumulative_lost(),
//!         extended_highest_seq: 65_536 + 500,
//!         jitter: 12,
//!         lsr: ntp_middle(peer_sr_ntp),
//!         dlsr: dlsr(Duration::from_millis(250)),
//!     }),
//!     cname: "switchboard@192.0.2.1",
//! };
//! let mut datagram = [0u8; 1500];
//! let len = report.write(&mut datagram)?;
//!
//! // The peer reads it and, 300 ms after it sent its SR, learns the round trip.
//! for packet in RtcpIter::new(&datagram[..len]) {
//!     if let RtcpPacket::SenderReport(sr) = packet? {
//!         let block = sr.report_blocks().next().expect("one block written");
//!         assert_eq!(block.fraction_lost, 5); // 2/100 × 256
//!         let arrival = peer_sr_ntp + (3 << 32) / 10; // + 300 ms
//!         let rtt = round_trip_time(arrival, &block).expect("LSR set");
//!         assert!(rtt.abs_diff(Duration::from_millis(50)) < Duration::from_millis(1));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod loss;
mod ntp;
mod parse;
mod write;

#[doc(hidden)]
pub use check::check_datagram;
pub use loss::ReceptionTotals;
pub use ntp::{dlsr, dlsr_duration, ntp_middle, ntp_timestamp, round_trip_time};
pub use parse::{
    App, Bye, OtherPacket, Report, RtcpIter, RtcpPacket, SdesChunk, SdesItem, SourceDescription,
};
pub use write::{write_bye, CompoundReport, BYE_LEN};

use thiserror::Error;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of a source description.
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye.
pub const PT_BYE: u8 = 203;
/// Packet type of an application-defined packet.
pub const PT_APP: u8 = 204;

/// SDES item type of the canonical name, the one item every report carries.
pub const SDES_CNAME: u8 = 1;

/// Largest cumulative-lost value the signed 24-bit field holds.
pub const CUMULATIVE_LOST_MAX: i32 = 0x7f_ffff;
/// Smallest cumulative-lost value the signed 24-bit field holds.
pub const CUMULATIVE_LOST_MIN: i32 = -0x80_0000;

/// Why bytes are not a valid RTCP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Fewer bytes than a header needs, or than a length field declares.
    #[error("RTCP packet needs {needed} bytes, {len} available")]
    TooShort {
        /// Bytes the header or length field calls for.
        needed: usize,
        /// Bytes left in the datagram.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {0} is not 2")]
    BadVersion(u8),
    /// The padding count is zero or runs into the header.
    #[error("RTCP padding count {0} is invalid")]
    BadPadding(u8),
    /// The packet is too short for its fixed fields or its count of report
    /// blocks, SDES chunks or BYE SSRCs.
    #[error("RTCP packet type {packet_type} (count {count}) is too short for its fields")]
    Truncated {
        /// Packet type of the offending packet.
        packet_type: u8,
        /// Its count field.
        count: u8,
    },
    /// An SDES item, its chunk's terminating null, or a BYE reason runs past the packet.
    #[error("RTCP packet type {packet_type} has an item running past its end")]
    BadItem {
        /// Packet type of the offending packet.
        packet_type: u8,
    },
}

/// Why an RTCP packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpWriteError {
    /// The output buffer is smaller than the packet.
    #[error("buffer of {len} bytes cannot hold a {needed} byte RTCP packet")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes available.
        len: usize,
    },
    /// The CNAME does not fit the 8-bit SDES item length.
    #[error("CNAME of {0} bytes exceeds 255")]
    CnameTooLong(usize),
}

/// The sender-info section of an SR: what lets a receiver map our RTP time
/// to wallclock (lip sync) and echo our NTP time back as LSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wallclock time of the report, NTP 32.32 fixed point ([`ntp_timestamp`]).
    pub ntp: u64,
    /// The same instant on the RTP media clock.
    pub rtp_timestamp: u32,
    /// RTP packets sent since the stream started (wraps).
    pub packet_count: u32,
    /// RTP payload octets sent since the stream started, headers and padding excluded (wraps).
    pub octet_count: u32,
}

impl SenderInfo {
    /// Bytes of the section on the wire.
    pub const LEN: usize = 20;

    /// The LSR a receiver of this report echoes back: the middle 32 bits of `ntp`.
    pub fn lsr(&self) -> u32 {
        ntp_middle(self.ntp)
    }

    fn read(b: &[u8; Self::LEN]) -> Self {
        Self {
            ntp: u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            rtp_timestamp: be32([b[8], b[9], b[10], b[11]]),
            packet_count: be32([b[12], b[13], b[14], b[15]]),
            octet_count: be32([b[16], b[17], b[18], b[19]]),
        }
    }

    /// Writes the section into the first [`Self::LEN`] bytes of `out`, which the caller sized.
    fn write(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.ntp.to_be_bytes());
        out[8..12].copy_from_slice(&self.rtp_timestamp.to_be_bytes());
        out[12..16].copy_from_slice(&self.packet_count.to_be_bytes());
        out[16..20].copy_from_slice(&self.octet_count.to_be_bytes());
    }
}

/// What a receiver tells the sender of one source about its stream: loss,
/// jitter and the timestamps for a round-trip estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Loss since the previous report, in 1/256 ([`ReceptionTotals::fraction_lost_since`]).
    pub fraction_lost: u8,
    /// Packets lost since the start, signed 24-bit; the writer clamps to
    /// [`CUMULATIVE_LOST_MIN`]..=[`CUMULATIVE_LOST_MAX`].
    pub cumulative_lost: i32,
    /// Highest sequence number received, with the wrap count in the upper 16 bits.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR from that source, 0 if none.
    pub lsr: u32,
    /// Time since that SR arrived, in 1/65536 s ([`dlsr`]), 0 if none.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Bytes of one block on the wire.
    pub const LEN: usize = 24;

    fn read(b: &[u8; Self::LEN]) -> Self {
        // Sign-extend the 24-bit field by shifting it into the top of an i32.
        let cumulative_lost = (be32([b[5], b[6], b[7], 0]) as i32) >> 8;
        Self {
            ssrc: be32([b[0], b[1], b[2], b[3]]),
            fraction_lost: b[4],
            cumulative_lost,
            extended_highest_seq: be32([b[8], b[9], b[10], b[11]]),
            jitter: be32([b[12], b[13], b[14], b[15]]),
            lsr: be32([b[16], b[17], b[18], b[19]]),
            dlsr: be32([b[20], b[21], b[22], b[23]]),
        }
    }

    /// Writes the block into the first [`Self::LEN`] bytes of `out`, which the caller sized.
    fn write(&self, out: &mut [u8]) {
        let lost = self
            .cumulative_lost
            .clamp(CUMULATIVE_LOST_MIN, CUMULATIVE_LOST_MAX) as u32;
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(
            &((u32::from(self.fraction_lost) << 24) | (lost & 0x00ff_ffff)).to_be_bytes(),
        );
        out[8..12].copy_from_slice(&self.extended_highest_seq.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.lsr.to_be_bytes());
        out[20..24].copy_from_slice(&self.dlsr.to_be_bytes());
    }
}

fn be32(b: [u8; 4]) -> u32 {
    u32::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SR with one block and SDES CNAME "sb@10.0.0.1", computed by hand.
    pub(crate) const SR_SDES: [u8; 76] = [
        0x81, 200, 0x00, 0x0c, // V=2 RC=1, SR, 13 words
        0x11, 0x22, 0x33, 0x44, // our SSRC
        0xe6, 0xb1, 0x2c, 0x00, // NTP seconds
        0x80, 0x00, 0x00, 0x00, // NTP fraction: .5
        0x00, 0x00, 0xa0, 0x00, // RTP timestamp 40960
        0x00, 0x00, 0x00, 0x32, // 50 packets
        0x00, 0x00, 0x1f, 0x40, // 8000 octets
        0xde, 0xad, 0xbe, 0xef, // block: remote SSRC
        0x40, 0x00, 0x00, 0x03, // fraction 64/256, 3 lost
        0x00, 0x01, 0x00, 0x10, // one wrap, highest 16
        0x00, 0x00, 0x00, 0x20, // jitter 32
        0x2c, 0x00, 0x80, 0x00, // LSR
        0x00, 0x01, 0x00, 0x00, // DLSR: 1 s
        0x81, 202, 0x00, 0x05, // V=2 SC=1, SDES, 6 words
        0x11, 0x22, 0x33, 0x44, // chunk SSRC
        0x01, 0x0b, b's', b'b', // CNAME, 11 bytes
        b'@', b'1', b'0', b'.', //
        b'0', b'.', b'0', b'.', //
        b'1', 0x00, 0x00, 0x00, // end of items, pad to word
    ];

    pub(crate) fn sr_sdes_report() -> CompoundReport<'static> {
        CompoundReport {
            ssrc: 0x1122_3344,
            sender_info: Some(SenderInfo {
                ntp: 0xe6b1_2c00_8000_0000,
                rtp_timestamp: 40_960,
                packet_count: 50,
                octet_count: 8000,
            }),
            report_block: Some(ReportBlock {
                ssrc: 0xdead_beef,
                fraction_lost: 64,
                cumulative_lost: 3,
                extended_highest_seq: 0x0001_0010,
                jitter: 32,
                lsr: 0x2c00_8000,
                dlsr: 65_536,
            }),
            cname: "sb@10.0.0.1",
        }
    }

    /// Checks every property of the fuzz target on `datagram`; returns how
    /// many packets parsed.
    pub(crate) fn walk(datagram: &[u8]) -> usize {
        check_datagram(datagram);
        RtcpIter::new(datagram).take_while(Result::is_ok).count()
    }

    #[test]
    fn sdes_chunk_count_matches_announced() {
        // The iterator re-walks validated chunks; it must find all of them.
        let mut buf = [0u8; 400];
        let len = sr_sdes_report().write(&mut buf).unwrap();
        assert_eq!(walk(&buf[..len]), 2);
    }

    fn any_report() -> impl Strategy<Value = (CompoundReport<'static>, String)> {
        let info = (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
            |(ntp, rtp_timestamp, packet_count, octet_count)| SenderInfo {
                ntp,
                rtp_timestamp,
                packet_count,
                octet_count,
            },
        );
        let block = (
            any::<u32>(),
            any::<u8>(),
            CUMULATIVE_LOST_MIN..=CUMULATIVE_LOST_MAX,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(
                |(
                    ssrc,
                    fraction_lost,
                    cumulative_lost,
                    extended_highest_seq,
                    jitter,
                    lsr,
                    dlsr,
                )| {
                    ReportBlock {
                        ssrc,
                        fraction_lost,
                        cumulative_lost,
                        extended_highest_seq,
                        jitter,
                        lsr,
                        dlsr,
                    }
                },
            );
        (
            any::<u32>(),
            proptest::option::of(info),
            proptest::option::of(block),
            "[a-z0-9@.\\-é]{0,80}",
        )
            .prop_map(|(ssrc, sender_info, report_block, cname)| {
                (
                    CompoundReport {
                        ssrc,
                        sender_info,
                        report_block,
                        cname: "",
                    },
                    cname,
                )
            })
    }

    proptest! {
        #[test]
        fn write_parse_round_trip((report, cname) in any_report(), bye in any::<bool>()) {
            let report = CompoundReport { cname: &cname, ..report };
            let mut out = [0u8; 600];
            let mut len = report.write(&mut out).unwrap();
            prop_assert_eq!(len, report.packet_len());
            prop_assert_eq!(len % 4, 0);
            if bye {
                len += write_bye(report.ssrc, &mut out[len..]).unwrap();
            }
            let all: Vec<_> = RtcpIter::new(&out[..len]).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(all.len(), 2 + usize::from(bye));
            let parsed = all[0].report().unwrap();
            prop_assert_eq!(all[0].packet_type(), if report.sender_info.is_some() { PT_SR } else { PT_RR });
            prop_assert_eq!(parsed.ssrc(), report.ssrc);
            prop_assert_eq!(parsed.sender_info(), report.sender_info);
            prop_assert_eq!(parsed.report_blocks().next(), report.report_block);
            prop_assert_eq!(parsed.report_blocks().len(), usize::from(report.report_block.is_some()));
            let RtcpPacket::SourceDescription(sdes) = all[1] else {
                return Err(TestCaseError::fail("SDES second"));
            };
            let chunks: Vec<_> = sdes.chunks().collect();
            prop_assert_eq!(chunks.len(), 1);
            prop_assert_eq!(chunks[0].ssrc(), report.ssrc);
            prop_assert_eq!(chunks[0].cname(), Some(cname.as_bytes()));
            if bye {
                let RtcpPacket::Bye(b) = all[2] else {
                    return Err(TestCaseError::fail("BYE third"));
                };
                prop_assert_eq!(b.ssrcs().collect::<Vec<_>>(), vec![report.ssrc]);
            }
        }

        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            walk(&bytes);
        }

        #[test]
        fn never_panics_on_valid_headers_with_random_bodies(
            packets in proptest::collection::vec(
                (any::<u8>(), 192u8..=210, 0u16..8, proptest::collection::vec(any::<u8>(), 0..40)),
                1..5,
            ),
        ) {
            // Plausible headers make the parser go deep into bodies.
            let mut bytes = Vec::new();
            for (flags, packet_type, words, body) in packets {
                bytes.extend_from_slice(&[0x80 | (flags & 0x3f), packet_type]);
                bytes.extend_from_slice(&words.to_be_bytes());
                bytes.extend_from_slice(&body);
            }
            walk(&bytes);
        }

        #[test]
        fn never_panics_on_damaged_reports(
            (report, cname) in any_report(),
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let report = CompoundReport { cname: &cname, ..report };
            let mut out = [0u8; 600];
            let mut len = report.write(&mut out).unwrap();
            len += write_bye(report.ssrc, &mut out[len..]).unwrap();
            let datagram = &mut out[..len];
            for (at, value) in flips {
                datagram[at.index(len)] = value;
            }
            walk(&datagram[..cut.index(len + 1)]);
        }
    }
}
