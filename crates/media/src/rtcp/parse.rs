//! Reading a compound RTCP datagram packet by packet, without allocation.
//!
//! Each packet is validated whole when the iterator reaches it, so the
//! accessors of a packet it yields cannot fail.

use std::iter::FusedIterator;

use super::{
    be32, ReportBlock, RtcpError, SenderInfo, PT_APP, PT_BYE, PT_RR, PT_SDES, PT_SR, SDES_CNAME,
};

/// The packets of a compound RTCP datagram, in order.
///
/// After a malformed packet it yields that error and stops: a broken length
/// cannot be trusted to find the next packet. Run [`crate::rtp::classify`]
/// first on a port shared with RTP.
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
}

impl<'a> RtcpIter<'a> {
    /// Iterates over the packets of `datagram`.
    pub fn new(datagram: &'a [u8]) -> Self {
        Self { rest: datagram }
    }
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match parse_packet(self.rest) {
            Ok((packet, rest)) => {
                self.rest = rest;
                Some(Ok(packet))
            }
            Err(error) => {
                self.rest = &[];
                Some(Err(error))
            }
        }
    }
}

impl FusedIterator for RtcpIter<'_> {}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR (200): a report from a source that sent RTP recently.
    SenderReport(Report<'a>),
    /// RR (201): a report from a source that only receives.
    ReceiverReport(Report<'a>),
    /// SDES (202): names (CNAME, …) of sources.
    SourceDescription(SourceDescription<'a>),
    /// BYE (203): sources leaving.
    Bye(Bye<'a>),
    /// APP (204): application-defined.
    App(App<'a>),
    /// Any other type (feedback, XR, …), header-checked and passed through.
    Other(OtherPacket<'a>),
}

impl<'a> RtcpPacket<'a> {
    /// The packet-type byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Self::SenderReport(_) => PT_SR,
            Self::ReceiverReport(_) => PT_RR,
            Self::SourceDescription(_) => PT_SDES,
            Self::Bye(_) => PT_BYE,
            Self::App(_) => PT_APP,
            Self::Other(other) => other.packet_type,
        }
    }

    /// The report of an SR or RR, so both can be handled alike.
    pub fn report(&self) -> Option<&Report<'a>> {
        match self {
            Self::SenderReport(report) | Self::ReceiverReport(report) => Some(report),
            _ => None,
        }
    }
}

/// Reads the packet at the start of `bytes`; returns it and the bytes after it.
fn parse_packet(bytes: &[u8]) -> Result<(RtcpPacket<'_>, &[u8]), RtcpError> {
    let Some(&[first, packet_type, len_high, len_low]) = bytes.first_chunk::<4>() else {
        return Err(RtcpError::TooShort {
            needed: 4,
            len: bytes.len(),
        });
    };
    let version = first >> 6;
    if version != 2 {
        return Err(RtcpError::BadVersion(version));
    }
    let len = (usize::from(u16::from_be_bytes([len_high, len_low])) + 1) * 4;
    if bytes.len() < len {
        return Err(RtcpError::TooShort {
            needed: len,
            len: bytes.len(),
        });
    }
    let (packet, rest) = bytes.split_at(len);
    let mut body = &packet[4..];
    if first & 0x20 != 0 {
        // The count byte is last and counts itself.
        let padding = packet[len - 1];
        if padding == 0 || usize::from(padding) > body.len() {
            return Err(RtcpError::BadPadding(padding));
        }
        body = &body[..body.len() - usize::from(padding)];
    }
    let count = first & 0x1f;
    let packet = match packet_type {
        PT_SR => RtcpPacket::SenderReport(Report::parse(packet_type, count, body)?),
        PT_RR => RtcpPacket::ReceiverReport(Report::parse(packet_type, count, body)?),
        PT_SDES => RtcpPacket::SourceDescription(SourceDescription::parse(count, body)?),
        PT_BYE => RtcpPacket::Bye(Bye::parse(count, body)?),
        PT_APP => RtcpPacket::App(App::parse(count, body)?),
        _ => RtcpPacket::Other(OtherPacket {
            packet_type,
            count,
            body,
        }),
    };
    Ok((packet, rest))
}

/// An SR or RR: who reports, what it sent (SR only), and what it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    ssrc: u32,
    sender_info: Option<SenderInfo>,
    blocks: &'a [u8],
    extension: &'a [u8],
}

impl<'a> Report<'a> {
    fn parse(packet_type: u8, count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let truncated = RtcpError::Truncated { packet_type, count };
        let (ssrc, mut rest) = body.split_first_chunk::<4>().ok_or(truncated)?;
        let mut sender_info = None;
        if packet_type == PT_SR {
            let (info, after) = rest
                .split_first_chunk::<{ SenderInfo::LEN }>()
                .ok_or(truncated)?;
            sender_info = Some(SenderInfo::read(info));
            rest = after;
        }
        let blocks_len = usize::from(count) * ReportBlock::LEN;
        if rest.len() < blocks_len {
            return Err(truncated);
        }
        let (blocks, extension) = rest.split_at(blocks_len);
        Ok(Self {
            ssrc: be32(*ssrc),
            sender_info,
            blocks,
            extension,
        })
    }

    /// SSRC of the reporting source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// What the source sent; `Some` exactly for an SR.
    pub fn sender_info(&self) -> Option<SenderInfo> {
        self.sender_info
    }

    /// One block per source the reporter receives from.
    pub fn report_blocks(&self) -> impl ExactSizeIterator<Item = ReportBlock> + 'a {
        let (blocks, _) = self.blocks.as_chunks::<{ ReportBlock::LEN }>();
        blocks.iter().map(ReportBlock::read)
    }

    /// Profile-specific extension after the blocks, usually empty.
    pub fn extension(&self) -> &'a [u8] {
        self.extension
    }
}

/// An SDES packet: one chunk of items per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    count: u8,
    chunks: &'a [u8],
}

impl<'a> SourceDescription<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let mut rest = body;
        for _ in 0..count {
            let (_, after) = split_chunk(count, rest)?;
            rest = after;
        }
        Ok(Self {
            count,
            chunks: &body[..body.len() - rest.len()],
        })
    }

    /// The chunks, one per source described.
    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let (count, mut rest) = (self.count, self.chunks);
        (0..count).map_while(move |_| {
            // Validated in `parse`, so this never stops early.
            let (chunk, after) = split_chunk(count, rest).ok()?;
            rest = after;
            Some(chunk)
        })
    }
}

/// Splits the SDES chunk at the start of `bytes` off: SSRC, items up to a
/// null type byte, then nulls to the next word boundary.
fn split_chunk(count: u8, bytes: &[u8]) -> Result<(SdesChunk<'_>, &[u8]), RtcpError> {
    let (ssrc, items) = bytes.split_first_chunk::<4>().ok_or(RtcpError::Truncated {
        packet_type: PT_SDES,
        count,
    })?;
    let bad_item = RtcpError::BadItem {
        packet_type: PT_SDES,
    };
    let mut end = 0;
    loop {
        match items.get(end) {
            None => return Err(bad_item),
            Some(0) => break,
            Some(_) => {
                let len = items.get(end + 1).ok_or(bad_item)?;
                end += 2 + usize::from(*len);
            }
        }
    }
    let chunk_len = (4 + end + 1).next_multiple_of(4);
    if bytes.len() < chunk_len {
        return Err(bad_item);
    }
    let chunk = SdesChunk {
        ssrc: be32(*ssrc),
        items: &items[..end],
    };
    Ok((chunk, &bytes[chunk_len..]))
}

/// The items describing one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    ssrc: u32,
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The source described.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Its items in order, without the terminating null.
    pub fn items(&self) -> impl Iterator<Item = SdesItem<'a>> + 'a {
        let mut rest = self.items;
        std::iter::from_fn(move || {
            let (&kind, tail) = rest.split_first()?;
            let (&len, tail) = tail.split_first()?;
            let (value, after) = tail.split_at_checked(usize::from(len))?;
            rest = after;
            Some(SdesItem { kind, value })
        })
    }

    /// The CNAME item's text as sent (RFC 3550 says UTF-8; peers may not).
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|item| item.kind == SDES_CNAME)
            .map(|item| item.value)
    }
}

/// One SDES item: a type ([`SDES_CNAME`], NAME = 2, …) and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// Item type, 1–8 in RFC 3550.
    pub kind: u8,
    /// The value, up to 255 bytes.
    pub value: &'a [u8],
}

/// A BYE: sources leaving the session, with an optional reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bye<'a> {
    ssrcs: &'a [u8],
    reason: Option<&'a [u8]>,
}

impl<'a> Bye<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let (ssrcs, rest) =
            body.split_at_checked(usize::from(count) * 4)
                .ok_or(RtcpError::Truncated {
                    packet_type: PT_BYE,
                    count,
                })?;
        let reason = match rest.split_first() {
            None => None,
            Some((&len, text)) => Some(text.get(..usize::from(len)).ok_or(RtcpError::BadItem {
                packet_type: PT_BYE,
            })?),
        };
        Ok(Self {
            ssrcs,
            reason: reason.filter(|text| !text.is_empty()),
        })
    }

    /// The sources leaving.
    pub fn ssrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let (ssrcs, _) = self.ssrcs.as_chunks::<4>();
        ssrcs.iter().map(|ssrc| be32(*ssrc))
    }

    /// Why, as sent; `None` when absent or empty.
    pub fn reason(&self) -> Option<&'a [u8]> {
        self.reason
    }
}

/// An APP packet: a four-character name and data only its application reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    subtype: u8,
    ssrc: u32,
    name: [u8; 4],
    data: &'a [u8],
}

impl<'a> App<'a> {
    fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let truncated = RtcpError::Truncated {
            packet_type: PT_APP,
            count,
        };
        let (ssrc, rest) = body.split_first_chunk::<4>().ok_or(truncated)?;
        let (name, data) = rest.split_first_chunk::<4>().ok_or(truncated)?;
        Ok(Self {
            subtype: count,
            ssrc: be32(*ssrc),
            name: *name,
            data,
        })
    }

    /// Subtype, carried in the count field.
    pub fn subtype(&self) -> u8 {
        self.subtype
    }

    /// The sending source.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Four ASCII characters naming the application.
    pub fn name(&self) -> [u8; 4] {
        self.name
    }

    /// Application-dependent data.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}

/// A packet of a type not decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherPacket<'a> {
    packet_type: u8,
    count: u8,
    body: &'a [u8],
}

impl<'a> OtherPacket<'a> {
    /// The packet-type byte.
    pub fn packet_type(&self) -> u8 {
        self.packet_type
    }

    /// The 5-bit count (or format, for feedback) field.
    pub fn count(&self) -> u8 {
        self.count
    }

    /// Everything after the 4-byte header, padding removed.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::SR_SDES;
    use super::*;

    fn packets(bytes: &[u8]) -> Vec<Result<RtcpPacket<'_>, RtcpError>> {
        RtcpIter::new(bytes).collect()
    }

    #[test]
    fn reads_hand_computed_sr_and_sdes() {
        let all = packets(&SR_SDES);
        assert_eq!(all.len(), 2);
        let Ok(RtcpPacket::SenderReport(sr)) = all[0] else {
            panic!("SR first: {:?}", all[0]);
        };
        assert_eq!(sr.ssrc(), 0x1122_3344);
        assert_eq!(
            sr.sender_info(),
            Some(SenderInfo {
                ntp: 0xe6b1_2c00_8000_0000,
                rtp_timestamp: 40_960,
                packet_count: 50,
                octet_count: 8000,
            })
        );
        assert_eq!(sr.sender_info().map(|i| i.lsr()), Some(0x2c00_8000));
        let blocks: Vec<_> = sr.report_blocks().collect();
        assert_eq!(
            blocks,
            [ReportBlock {
                ssrc: 0xdead_beef,
                fraction_lost: 64,
                cumulative_lost: 3,
                extended_highest_seq: 0x0001_0010,
                jitter: 32,
                lsr: 0x2c00_8000,
                dlsr: 65_536,
            }]
        );
        assert_eq!(sr.extension(), b"");
        let Ok(RtcpPacket::SourceDescription(sdes)) = all[1] else {
            panic!("SDES second: {:?}", all[1]);
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc(), 0x1122_3344);
        assert_eq!(chunks[0].cname(), Some(&b"sb@10.0.0.1"[..]));
        assert_eq!(all[1].as_ref().map(RtcpPacket::packet_type), Ok(202));
    }

    #[test]
    fn reads_negative_cumulative_lost() {
        let mut rr = [0x81, 201, 0, 7, 0, 0, 0, 1].to_vec();
        rr.extend_from_slice(&[0, 0, 0, 2, 0x00, 0xff, 0xff, 0xfd]);
        rr.extend_from_slice(&[0; 16]);
        let Some(Ok(packet)) = RtcpIter::new(&rr).next() else {
            panic!("RR parses");
        };
        let report = packet.report().expect("an RR is a report");
        assert_eq!(report.sender_info(), None);
        let block = report.report_blocks().next().expect("one block");
        assert_eq!((block.ssrc, block.cumulative_lost), (2, -3));
    }

    #[test]
    fn reads_multi_chunk_sdes_bye_app_and_unknown_types() {
        let datagram = [
            0x80, 201, 0, 1, 0, 0, 0, 9, // empty RR
            0x82, 202, 0, 6, // SDES, 2 chunks
            0, 0, 0, 9, 1, 1, b'a', 2, 2, b'b', b'c', 0, // CNAME "a", NAME "bc", end
            0, 0, 0, 8, 0, 0, 0, 0, // chunk without items
            0, 0, 0, 0, // (padding word the length covers)
            0x82, 203, 0, 3, 0, 0, 0, 9, 0, 0, 0, 8, 3, b'b', b'y', b'e', // BYE ×2 "bye"
            0x85, 204, 0, 3, 0, 0, 0, 9, b'T', b'E', b'S', b'T', 1, 2, 3, 4, // APP 5
            0x81, 207, 0, 1, 0, 0, 0, 9, // XR, passed through
        ];
        let all: Vec<_> = packets(&datagram).into_iter().map(Result::unwrap).collect();
        assert_eq!(all.len(), 5);
        let RtcpPacket::SourceDescription(sdes) = all[1] else {
            panic!("SDES: {:?}", all[1]);
        };
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 2);
        let items: Vec<_> = chunks[0].items().collect();
        assert_eq!(
            items,
            [
                SdesItem {
                    kind: 1,
                    value: b"a"
                },
                SdesItem {
                    kind: 2,
                    value: b"bc"
                }
            ]
        );
        assert_eq!((chunks[1].ssrc(), chunks[1].items().count()), (8, 0));
        assert_eq!(chunks[1].cname(), None);
        let RtcpPacket::Bye(bye) = all[2] else {
            panic!("BYE: {:?}", all[2]);
        };
        assert_eq!(bye.ssrcs().collect::<Vec<_>>(), [9, 8]);
        assert_eq!(bye.reason(), Some(&b"bye"[..]));
        let RtcpPacket::App(app) = all[3] else {
            panic!("APP: {:?}", all[3]);
        };
        assert_eq!(
            (app.subtype(), app.ssrc(), &app.name(), app.data()),
            (5, 9, b"TEST", &[1, 2, 3, 4][..])
        );
        let RtcpPacket::Other(xr) = all[4] else {
            panic!("XR: {:?}", all[4]);
        };
        assert_eq!(
            (xr.packet_type(), xr.count(), xr.body()),
            (207, 1, &[0, 0, 0, 9][..])
        );
    }

    #[test]
    fn padding_on_the_last_packet_is_removed() {
        // BYE for SSRC 9 with no reason, 4 padding bytes.
        let bye = [0xa1, 203, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4];
        let Some(Ok(RtcpPacket::Bye(b))) = RtcpIter::new(&bye).next() else {
            panic!("padded BYE parses");
        };
        assert_eq!((b.ssrcs().collect::<Vec<_>>(), b.reason()), (vec![9], None));
        let mut zero = bye;
        zero[11] = 0;
        assert_eq!(packets(&zero), [Err(RtcpError::BadPadding(0))]);
        let mut into_header = bye;
        into_header[11] = 9;
        assert_eq!(packets(&into_header), [Err(RtcpError::BadPadding(9))]);
        // All of the body is padding: then the SSRC is missing.
        let mut all_padding = bye;
        all_padding[11] = 8;
        assert_eq!(
            packets(&all_padding),
            [Err(RtcpError::Truncated {
                packet_type: 203,
                count: 1
            })]
        );
    }

    #[test]
    fn every_malformation_has_its_error() {
        assert_eq!(packets(&[]), []);
        assert_eq!(
            packets(&[0x80, 200, 0]),
            [Err(RtcpError::TooShort { needed: 4, len: 3 })]
        );
        assert_eq!(packets(&[0x40, 200, 0, 0]), [Err(RtcpError::BadVersion(1))]);
        assert_eq!(
            packets(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            [Err(RtcpError::TooShort { needed: 12, len: 8 })]
        );
        // RR claiming one block in a packet with room for none.
        assert_eq!(
            packets(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            [Err(RtcpError::Truncated {
                packet_type: 201,
                count: 1
            })]
        );
        // SR without room for sender info.
        assert_eq!(
            packets(&[0x80, 200, 0, 1, 0, 0, 0, 1]),
            [Err(RtcpError::Truncated {
                packet_type: 200,
                count: 0
            })]
        );
        // SDES item longer than the packet, and a chunk with no terminating null.
        let bad_item = Err(RtcpError::BadItem { packet_type: 202 });
        assert_eq!(
            packets(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, b'x', b'y']),
            [bad_item]
        );
        assert_eq!(
            packets(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, b'x', b'y']),
            [bad_item]
        );
        // Two SDES chunks announced, one present.
        assert_eq!(
            packets(&[0x82, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0]),
            [Err(RtcpError::Truncated {
                packet_type: 202,
                count: 2
            })]
        );
        // BYE reason longer than the packet; APP without a name.
        assert_eq!(
            packets(&[0x81, 203, 0, 2, 0, 0, 0, 1, 4, b'a', b'b', b'c']),
            [Err(RtcpError::BadItem { packet_type: 203 })]
        );
        assert_eq!(
            packets(&[0x80, 204, 0, 1, 0, 0, 0, 1]),
            [Err(RtcpError::Truncated {
                packet_type: 204,
                count: 0
            })]
        );
    }

    #[test]
    fn stops_after_the_first_error() {
        let mut datagram = SR_SDES.to_vec();
        datagram[52] = 0x00; // SDES header: version 0
        let all = packets(&datagram);
        assert!(matches!(
            all[..],
            [
                Ok(RtcpPacket::SenderReport(_)),
                Err(RtcpError::BadVersion(0))
            ]
        ));
        let mut iter = RtcpIter::new(&datagram);
        iter.by_ref().for_each(drop);
        assert!(iter.next().is_none());
    }

    #[test]
    fn every_truncation_of_a_compound_is_an_error_or_fewer_packets() {
        for cut in 0..SR_SDES.len() {
            let all = packets(&SR_SDES[..cut]);
            match cut {
                0 => assert!(all.is_empty()),
                52 => assert!(matches!(all[..], [Ok(RtcpPacket::SenderReport(_))])),
                _ => assert!(
                    all.last().is_some_and(Result::is_err),
                    "cut at {cut}: {all:?}"
                ),
            }
        }
    }
}
