//! RTP packets (RFC 3550 §5.1) read and written without allocation.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//! |                           timestamp                           |
//! |           synchronization source (SSRC) identifier            |
//! |            contributing source (CSRC) identifiers (CC × 32)   |
//! | extension profile (16)        | extension length in words (16)|  (if X)
//! | payload …                                     | padding … | n |  (if P)
//! ```
//!
//! Sharp edges handled here:
//! - With P set, the last byte counts the padding bytes *including itself*;
//!   zero, or more than what follows the header, is invalid.
//! - Sequence numbers wrap at 2^16 and timestamps at 2^32: compare them with
//!   [`seq_newer`] / [`timestamp_newer`] (serial-number arithmetic, RFC 1982
//!   style), and give sequence numbers 64 bits with [`SequenceExtender`]
//!   (both in [`crate::sequence`], re-exported here).
//! - RTP and RTCP may share a port (RFC 5761): [`classify`] tells them apart
//!   by the second byte, which for RTCP is a packet type in 192–223 and for
//!   RTP a marker bit plus a payload type that must then avoid 64–95.

pub use crate::sequence::{seq_diff, seq_newer, timestamp_diff, timestamp_newer, SequenceExtender};
use thiserror::Error;

/// Length of the fixed RTP header, without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// Why bytes are not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the header (fixed part, CSRCs or extension) needs.
    #[error("RTP packet of {len} bytes is shorter than its {needed} byte header")]
    TooShort {
        /// Bytes the header needs.
        needed: usize,
        /// Bytes available.
        len: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0} is not 2")]
    BadVersion(u8),
    /// The padding count is zero or larger than the bytes after the header.
    #[error("RTP padding count {0} is invalid")]
    BadPadding(u8),
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpWriteError {
    /// The output buffer is smaller than the packet.
    #[error("buffer of {len} bytes cannot hold a {needed} byte RTP packet")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes available.
        len: usize,
    },
    /// More than 15 CSRCs.
    #[error("{0} CSRCs exceed the limit of 15")]
    TooManyCsrcs(usize),
    /// Payload type above 127.
    #[error("payload type {0} exceeds 127")]
    BadPayloadType(u8),
    /// Extension data is not a whole number of 32-bit words, or too long.
    #[error("extension of {0} bytes is not a whole number of 32-bit words below 2^18 bytes")]
    BadExtensionLength(usize),
}

/// A header extension (RFC 3550 §5.3.1): a 16-bit profile tag and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// Profile-defined identifier (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    /// Extension data, a whole number of 32-bit words.
    pub data: &'a [u8],
}

/// A validated RTP packet borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    bytes: &'a [u8],
    payload_start: usize,
    payload_end: usize,
    extension: Option<RtpExtension<'a>>,
}

impl<'a> RtpPacket<'a> {
    /// Validates `bytes` as one RTP packet; never panics, never allocates.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let len = bytes.len();
        if len < RTP_HEADER_LEN {
            return Err(RtpError::TooShort {
                needed: RTP_HEADER_LEN,
                len,
            });
        }
        let version = bytes[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(bytes[0] & 0x0f);
        let mut header_len = RTP_HEADER_LEN + 4 * csrc_count;
        if len < header_len {
            return Err(RtpError::TooShort {
                needed: header_len,
                len,
            });
        }
        let mut extension = None;
        if bytes[0] & 0x10 != 0 {
            if len < header_len + 4 {
                return Err(RtpError::TooShort {
                    needed: header_len + 4,
                    len,
                });
            }
            let profile = u16::from_be_bytes([bytes[header_len], bytes[header_len + 1]]);
            let words = usize::from(u16::from_be_bytes([
                bytes[header_len + 2],
                bytes[header_len + 3],
            ]));
            let data_start = header_len + 4;
            header_len = data_start + 4 * words;
            if len < header_len {
                return Err(RtpError::TooShort {
                    needed: header_len,
                    len,
                });
            }
            extension = Some(RtpExtension {
                profile,
                data: &bytes[data_start..header_len],
            });
        }
        let mut payload_end = len;
        if bytes[0] & 0x20 != 0 {
            let padding = bytes[len - 1];
            if padding == 0 || usize::from(padding) > len - header_len {
                return Err(RtpError::BadPadding(padding));
            }
            payload_end = len - usize::from(padding);
        }
        Ok(Self {
            bytes,
            payload_start: header_len,
            payload_end,
            extension,
        })
    }

    /// The whole packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the padding bit is set.
    pub fn has_padding(&self) -> bool {
        self.bytes[0] & 0x20 != 0
    }

    /// Number of padding bytes (including the count byte), 0 without padding.
    pub fn padding_len(&self) -> usize {
        self.bytes.len() - self.payload_end
    }

    /// The marker bit (start of a talkspurt for audio, first packet of an RFC 4733 event).
    pub fn marker(&self) -> bool {
        self.bytes[1] & 0x80 != 0
    }

    /// Payload type, 0–127.
    pub fn payload_type(&self) -> u8 {
        self.bytes[1] & 0x7f
    }

    /// Sequence number.
    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }

    /// Media timestamp in clock-rate units.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }

    /// Synchronization source identifier.
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.bytes[8], self.bytes[9], self.bytes[10], self.bytes[11]])
    }

    /// Number of contributing sources, 0–15.
    pub fn csrc_count(&self) -> usize {
        usize::from(self.bytes[0] & 0x0f)
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let bytes = self.bytes;
        let end = RTP_HEADER_LEN + 4 * self.csrc_count();
        bytes[RTP_HEADER_LEN..end]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension, when the X bit is set.
    pub fn extension(&self) -> Option<RtpExtension<'a>> {
        self.extension
    }

    /// Header length: fixed part, CSRCs and extension.
    pub fn header_len(&self) -> usize {
        self.payload_start
    }

    /// The payload, without header or padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.payload_start..self.payload_end]
    }

    /// The fields needed to write this packet again (e.g. after rewriting SSRC).
    pub fn header(&self) -> RtpHeader<'a> {
        RtpHeader {
            marker: self.marker(),
            payload_type: self.payload_type(),
            sequence_number: self.sequence_number(),
            timestamp: self.timestamp(),
            ssrc: self.ssrc(),
            csrcs: &self.bytes[RTP_HEADER_LEN..RTP_HEADER_LEN + 4 * self.csrc_count()],
            extension: self.extension,
            padding: 0,
        }
    }
}

/// Header fields of a packet to write with [`RtpHeader::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type, 0–127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronization source.
    pub ssrc: u32,
    /// CSRC identifiers as big-endian bytes (4 per CSRC, at most 15 CSRCs).
    pub csrcs: &'a [u8],
    /// Optional header extension.
    pub extension: Option<RtpExtension<'a>>,
    /// Padding bytes to append (0 for none; the last one holds the count).
    pub padding: u8,
}

impl RtpHeader<'_> {
    /// Bytes a packet with this header and `payload_len` payload bytes takes.
    pub fn packet_len(&self, payload_len: usize) -> usize {
        RTP_HEADER_LEN
            + self.csrcs.len()
            + self.extension.map_or(0, |e| 4 + e.data.len())
            + payload_len
            + usize::from(self.padding)
    }

    /// Writes header, `payload` and padding into `out`; returns the packet length.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpWriteError> {
        if self.payload_type > 0x7f {
            return Err(RtpWriteError::BadPayloadType(self.payload_type));
        }
        let csrc_count = self.csrcs.len() / 4;
        if !self.csrcs.len().is_multiple_of(4) || csrc_count > 15 {
            return Err(RtpWriteError::TooManyCsrcs(csrc_count));
        }
        if let Some(ext) = self.extension {
            if !ext.data.len().is_multiple_of(4) || ext.data.len() / 4 > usize::from(u16::MAX) {
                return Err(RtpWriteError::BadExtensionLength(ext.data.len()));
            }
        }
        let needed = self.packet_len(payload.len());
        if out.len() < needed {
            return Err(RtpWriteError::BufferTooSmall {
                needed,
                len: out.len(),
            });
        }
        let out = &mut out[..needed];
        out[0] = 0x80
            | if self.padding > 0 { 0x20 } else { 0 }
            | if self.extension.is_some() { 0x10 } else { 0 }
            | csrc_count as u8;
        out[1] = self.payload_type | if self.marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = RTP_HEADER_LEN + self.csrcs.len();
        out[RTP_HEADER_LEN..at].copy_from_slice(self.csrcs);
        if let Some(ext) = self.extension {
            out[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            // Checked above: fits in u16.
            out[at + 2..at + 4].copy_from_slice(&((ext.data.len() / 4) as u16).to_be_bytes());
            at += 4;
            out[at..at + ext.data.len()].copy_from_slice(ext.data);
            at += ext.data.len();
        }
        out[at..at + payload.len()].copy_from_slice(payload);
        at += payload.len();
        if self.padding > 0 {
            out[at..needed - 1].fill(0);
            out[needed - 1] = self.padding;
        }
        Ok(needed)
    }
}

/// Rewrites sequence number, timestamp and SSRC of a packet in place (the relay fast path).
///
/// Fails only when `packet` is shorter than the fixed header.
pub fn rewrite_header(
    packet: &mut [u8],
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
) -> Result<(), RtpError> {
    if packet.len() < RTP_HEADER_LEN {
        return Err(RtpError::TooShort {
            needed: RTP_HEADER_LEN,
            len: packet.len(),
        });
    }
    packet[2..4].copy_from_slice(&sequence_number.to_be_bytes());
    packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
    Ok(())
}

/// RTCP packet types (RFC 3550 §12.1, RFC 4585, RFC 3611).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacketType {
    /// 200: sender report.
    SenderReport,
    /// 201: receiver report.
    ReceiverReport,
    /// 202: source description.
    SourceDescription,
    /// 203: goodbye.
    Bye,
    /// 204: application-defined.
    App,
    /// 205: transport-layer feedback (RFC 4585).
    TransportFeedback,
    /// 206: payload-specific feedback (RFC 4585).
    PayloadFeedback,
    /// 207: extended report (RFC 3611).
    ExtendedReport,
}

impl RtcpPacketType {
    /// The type for a packet-type byte, if it is one we know.
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            200 => Self::SenderReport,
            201 => Self::ReceiverReport,
            202 => Self::SourceDescription,
            203 => Self::Bye,
            204 => Self::App,
            205 => Self::TransportFeedback,
            206 => Self::PayloadFeedback,
            207 => Self::ExtendedReport,
            _ => return None,
        })
    }
}

/// What a datagram on a shared RTP/RTCP port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// RTP: version 2 and a second byte outside 192–223.
    Rtp,
    /// RTCP with the packet type in its second byte (`None` for 192–199 and 208–223).
    Rtcp(Option<RtcpPacketType>),
    /// Not version 2 or shorter than 4 bytes (STUN, DTLS, garbage).
    Other,
}

/// Demultiplexes RTP and RTCP on one port (RFC 5761 §4).
pub fn classify(bytes: &[u8]) -> PacketKind {
    if bytes.len() < 4 || bytes[0] >> 6 != 2 {
        return PacketKind::Other;
    }
    match bytes[1] {
        192..=223 => PacketKind::Rtcp(RtcpPacketType::from_u8(bytes[1])),
        _ => PacketKind::Rtp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_minimal_pcmu_packet() {
        let mut bytes = vec![
            0x80, 0x00, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xde, 0xad, 0xbe, 0xef,
        ];
        bytes.extend_from_slice(&[0xff; 160]);
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.payload_type(), 0);
        assert!(!p.marker());
        assert_eq!(p.sequence_number(), 0x1234);
        assert_eq!(p.timestamp(), 320);
        assert_eq!(p.ssrc(), 0xdead_beef);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.csrcs().len(), 0);
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let bytes = [
            0xb2, 0xe5, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // V=2 P X CC=2, M, PT=101
            0, 0, 0, 10, 0, 0, 0, 11, // CSRCs
            0xbe, 0xde, 0, 1, 1, 2, 3, 4, // extension, one word
            9, 8, 7, // payload
            0, 0, 3, // padding
        ];
        let p = RtpPacket::parse(&bytes).unwrap();
        assert!(p.marker() && p.has_padding());
        assert_eq!(p.payload_type(), 101);
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![10, 11]);
        let ext = p.extension().unwrap();
        assert_eq!((ext.profile, ext.data), (0xbede, &[1, 2, 3, 4][..]));
        assert_eq!(p.payload(), &[9, 8, 7]);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.header_len(), 28);
    }

    #[test]
    fn rejects_short_and_invalid_packets() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::TooShort {
                needed: 12,
                len: 11
            })
        );
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion(1)));
        let mut cc = [0u8; 16];
        cc[0] = 0x82;
        assert_eq!(
            RtpPacket::parse(&cc),
            Err(RtpError::TooShort {
                needed: 20,
                len: 16
            })
        );
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 2;
        assert_eq!(
            RtpPacket::parse(&ext),
            Err(RtpError::TooShort {
                needed: 24,
                len: 16
            })
        );
        let mut pad = [0u8; 14];
        pad[0] = 0xa0;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(0)));
        pad[13] = 3;
        assert_eq!(RtpPacket::parse(&pad), Err(RtpError::BadPadding(3)));
        pad[13] = 2;
        assert_eq!(RtpPacket::parse(&pad).unwrap().payload(), &[] as &[u8]);
    }

    #[test]
    fn writer_reports_bad_input() {
        let mut out = [0u8; 20];
        let h = RtpHeader::default();
        assert_eq!(
            h.write(&[0; 10], &mut out),
            Err(RtpWriteError::BufferTooSmall {
                needed: 22,
                len: 20
            })
        );
        let bad_pt = RtpHeader {
            payload_type: 128,
            ..h
        };
        assert_eq!(
            bad_pt.write(&[], &mut out),
            Err(RtpWriteError::BadPayloadType(128))
        );
        let csrcs = [0u8; 64];
        let many = RtpHeader { csrcs: &csrcs, ..h };
        assert_eq!(
            many.write(&[], &mut out),
            Err(RtpWriteError::TooManyCsrcs(16))
        );
        let ext = RtpHeader {
            extension: Some(RtpExtension {
                profile: 1,
                data: &[1, 2, 3],
            }),
            ..h
        };
        assert_eq!(
            ext.write(&[], &mut out),
            Err(RtpWriteError::BadExtensionLength(3))
        );
    }

    #[test]
    fn rewrite_header_changes_only_ids() {
        let mut bytes = [0x80, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xd5, 0xd5];
        rewrite_header(&mut bytes, 7, 8, 9).unwrap();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!((p.sequence_number(), p.timestamp(), p.ssrc()), (7, 8, 9));
        assert_eq!((p.payload_type(), p.payload()), (8, &[0xd5, 0xd5][..]));
        assert!(rewrite_header(&mut bytes[..11], 1, 2, 3).is_err());
    }

    #[test]
    fn classifies_rtp_and_rtcp() {
        assert_eq!(classify(&[0x80, 0x00, 0, 0]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0xe5, 0, 0]), PacketKind::Rtp); // marker + PT 101
        assert_eq!(
            classify(&[0x81, 200, 0, 6]),
            PacketKind::Rtcp(Some(RtcpPacketType::SenderReport))
        );
        assert_eq!(
            classify(&[0x80, 204, 0, 2]),
            PacketKind::Rtcp(Some(RtcpPacketType::App))
        );
        assert_eq!(classify(&[0x80, 195, 0, 0]), PacketKind::Rtcp(None));
        assert_eq!(classify(&[0x00, 0x01, 0, 0]), PacketKind::Other); // STUN
        assert_eq!(classify(&[0x80]), PacketKind::Other);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = RtpPacket::parse(&bytes) {
                prop_assert!(p.header_len() + p.payload().len() + p.padding_len() == bytes.len());
                let _ = (p.csrcs().count(), p.header());
            }
            let _ = classify(&bytes);
        }

        #[test]
        fn write_parse_round_trip(
            marker in any::<bool>(),
            payload_type in 0u8..128,
            sequence_number in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            csrc_words in 0usize..16,
            ext in proptest::option::of((any::<u16>(), 0usize..4)),
            padding in any::<u8>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let csrcs: Vec<u8> = (0..csrc_words * 4).map(|i| i as u8).collect();
            let ext_data: Vec<u8> = (0..ext.map_or(0, |e| e.1 * 4)).map(|i| !(i as u8)).collect();
            let header = RtpHeader {
                marker, payload_type, sequence_number, timestamp, ssrc,
                csrcs: &csrcs,
                extension: ext.map(|(profile, _)| RtpExtension { profile, data: &ext_data }),
                padding,
            };
            let mut out = vec![0u8; 1500];
            let n = header.write(&payload, &mut out).unwrap();
            prop_assert_eq!(n, header.packet_len(payload.len()));
            let p = RtpPacket::parse(&out[..n]).unwrap();
            prop_assert_eq!(p.payload(), &payload[..]);
            prop_assert_eq!(p.padding_len(), usize::from(padding));
            prop_assert_eq!(p.header(), RtpHeader { padding: 0, ..header });
            prop_assert_eq!(classify(&out[..n]) == PacketKind::Rtp, !(marker && (64..96).contains(&payload_type)));
        }
    }
}
