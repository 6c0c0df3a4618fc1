//! Writing our compound report (SR or RR, then SDES CNAME) and BYE.

use super::{ReportBlock, RtcpWriteError, SenderInfo, PT_BYE, PT_RR, PT_SDES, PT_SR, SDES_CNAME};

/// Bytes of the BYE packet [`write_bye`] writes.
pub const BYE_LEN: usize = 8;

/// One compound report from our side of a leg (RFC 3550 §6.1): an SR when
/// `sender_info` is set, else an RR, with at most one report block, followed
/// by an SDES packet carrying our CNAME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompoundReport<'a> {
    /// Our SSRC, the sender of the report and the SDES chunk.
    pub ssrc: u32,
    /// Set when we sent RTP since the previous report, which makes this an SR.
    pub sender_info: Option<SenderInfo>,
    /// Reception report on the remote source, once we have received from it.
    pub report_block: Option<ReportBlock>,
    /// Our canonical name (e.g. `user@host`), at most 255 bytes.
    pub cname: &'a str,
}

impl CompoundReport<'_> {
    /// Bytes the compound packet takes, for sizing a buffer.
    pub fn packet_len(&self) -> usize {
        self.report_len() + self.sdes_len()
    }

    /// Writes the compound packet at the start of `out`; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtcpWriteError> {
        if self.cname.len() > usize::from(u8::MAX) {
            return Err(RtcpWriteError::CnameTooLong(self.cname.len()));
        }
        let needed = self.packet_len();
        if out.len() < needed {
            return Err(RtcpWriteError::BufferTooSmall {
                needed,
                len: out.len(),
            });
        }
        let (report, rest) = out.split_at_mut(self.report_len());
        let sdes = &mut rest[..self.sdes_len()];

        let packet_type = if self.sender_info.is_some() {
            PT_SR
        } else {
            PT_RR
        };
        write_header(report, u8::from(self.report_block.is_some()), packet_type);
        report[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = 8;
        if let Some(info) = &self.sender_info {
            info.write(&mut report[at..]);
            at += SenderInfo::LEN;
        }
        if let Some(block) = &self.report_block {
            block.write(&mut report[at..]);
        }

        write_header(sdes, 1, PT_SDES);
        sdes[4..8].copy_from_slice(&self.ssrc.to_be_bytes());
        sdes[8] = SDES_CNAME;
        // Checked above: at most 255.
        sdes[9] = self.cname.len() as u8;
        let text_end = 10 + self.cname.len();
        sdes[10..text_end].copy_from_slice(self.cname.as_bytes());
        // End of item list, then nulls up to the word boundary.
        sdes[text_end..].fill(0);
        Ok(needed)
    }

    fn report_len(&self) -> usize {
        8 + self.sender_info.map_or(0, |_| SenderInfo::LEN)
            + self.report_block.map_or(0, |_| ReportBlock::LEN)
    }

    fn sdes_len(&self) -> usize {
        // Header, then one chunk: SSRC, CNAME item, at least one null, padded to a word.
        4 + (4 + 2 + self.cname.len() + 1).next_multiple_of(4)
    }
}

/// Writes a BYE for `ssrc` at the start of `out`; returns [`BYE_LEN`].
///
/// RFC 3550 wants a BYE to follow a report in the same compound packet, so
/// when a leg ends write the last [`CompoundReport`] and this after it:
/// `len += write_bye(ssrc, &mut buf[len..])?`.
pub fn write_bye(ssrc: u32, out: &mut [u8]) -> Result<usize, RtcpWriteError> {
    let Some(out) = out.get_mut(..BYE_LEN) else {
        return Err(RtcpWriteError::BufferTooSmall {
            needed: BYE_LEN,
            len: out.len(),
        });
    };
    write_header(out, 1, PT_BYE);
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    Ok(BYE_LEN)
}

/// Writes the common header of a packet that fills all of `packet`
/// (a whole number of words, at most 2^18 bytes, as every caller's is).
fn write_header(packet: &mut [u8], count: u8, packet_type: u8) {
    packet[0] = 0x80 | count;
    packet[1] = packet_type;
    let words = (packet.len() / 4 - 1) as u16;
    packet[2..4].copy_from_slice(&words.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::super::tests::{sr_sdes_report, SR_SDES};
    use super::super::{CUMULATIVE_LOST_MAX, CUMULATIVE_LOST_MIN};
    use super::*;

    #[test]
    fn sr_with_block_and_cname_is_byte_exact() {
        let report = sr_sdes_report();
        let mut out = [0xaau8; 100];
        assert_eq!(report.packet_len(), SR_SDES.len());
        assert_eq!(report.write(&mut out), Ok(SR_SDES.len()));
        assert_eq!(out[..SR_SDES.len()], SR_SDES);
        assert!(out[SR_SDES.len()..].iter().all(|&b| b == 0xaa));
    }

    #[test]
    fn empty_rr_then_sdes() {
        let report = CompoundReport {
            ssrc: 0x0102_0304,
            sender_info: None,
            report_block: None,
            cname: "ab",
        };
        let mut out = [0u8; 64];
        let n = report.write(&mut out).unwrap();
        assert_eq!(
            out[..n],
            [
                0x80, 201, 0, 1, 1, 2, 3, 4, // RR, no blocks
                0x81, 202, 0, 3, 1, 2, 3, 4, // SDES, 4 words
                1, 2, b'a', b'b', 0, 0, 0, 0, // CNAME "ab", a whole null word
            ]
        );
    }

    #[test]
    fn rr_with_block_and_sr_without() {
        let full = sr_sdes_report();
        let rr = CompoundReport {
            sender_info: None,
            ..full
        };
        let mut out = [0u8; 100];
        let n = rr.write(&mut out).unwrap();
        assert_eq!(n, SR_SDES.len() - SenderInfo::LEN);
        assert_eq!(out[..4], [0x81, 201, 0, 7]);
        assert_eq!(out[8..32], SR_SDES[28..52]);
        let sr = CompoundReport {
            report_block: None,
            ..full
        };
        let n = sr.write(&mut out).unwrap();
        assert_eq!(n, SR_SDES.len() - ReportBlock::LEN);
        assert_eq!(out[..4], [0x80, 200, 0, 6]);
        assert_eq!(out[4..28], SR_SDES[4..28]);
    }

    #[test]
    fn cname_padding_for_every_length_mod_4() {
        let name = "abcdefgh";
        for n in 0..=8 {
            let report = CompoundReport {
                ssrc: 1,
                sender_info: None,
                report_block: None,
                cname: &name[..n],
            };
            let mut out = [0xffu8; 64];
            let len = report.write(&mut out).unwrap();
            assert_eq!(len % 4, 0);
            let sdes = &out[8..len];
            assert_eq!(usize::from(sdes[3]) * 4 + 4, sdes.len());
            let after_text = &sdes[10 + n..];
            assert!((1..=4).contains(&after_text.len()), "n={n}");
            assert!(after_text.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn cumulative_lost_is_clamped_to_24_bits() {
        let mut block = [0u8; ReportBlock::LEN];
        for (lost, wire) in [
            (-1, [0xff, 0xff, 0xff]),
            (CUMULATIVE_LOST_MAX + 1, [0x7f, 0xff, 0xff]),
            (i32::MIN, [0x80, 0x00, 0x00]),
            (CUMULATIVE_LOST_MIN, [0x80, 0x00, 0x00]),
        ] {
            let b = ReportBlock {
                fraction_lost: 0x12,
                cumulative_lost: lost,
                ..ReportBlock::default()
            };
            b.write(&mut block);
            assert_eq!(block[4..8], [0x12, wire[0], wire[1], wire[2]], "{lost}");
        }
    }

    #[test]
    fn every_short_buffer_is_refused() {
        let report = sr_sdes_report();
        let mut out = [0u8; 76];
        for len in 0..76 {
            assert_eq!(
                report.write(&mut out[..len]),
                Err(RtcpWriteError::BufferTooSmall { needed: 76, len })
            );
        }
        for len in 0..BYE_LEN {
            assert!(write_bye(1, &mut out[..len]).is_err());
        }
    }

    #[test]
    fn long_cname_is_refused() {
        let long = "x".repeat(256);
        let report = CompoundReport {
            cname: &long,
            ..sr_sdes_report()
        };
        let mut out = [0u8; 1500];
        assert_eq!(
            report.write(&mut out),
            Err(RtcpWriteError::CnameTooLong(256))
        );
        let n = CompoundReport {
            cname: &long[..255],
            ..report
        }
        .write(&mut out)
        .unwrap();
        assert_eq!(n, 52 + 4 + 264);
    }

    #[test]
    fn bye_after_a_report() {
        let report = sr_sdes_report();
        let mut out = [0u8; 100];
        let mut len = report.write(&mut out).unwrap();
        len += write_bye(0x1122_3344, &mut out[len..]).unwrap();
        assert_eq!(len, 84);
        assert_eq!(out[76..84], [0x81, 203, 0, 1, 0x11, 0x22, 0x33, 0x44]);
    }
}
