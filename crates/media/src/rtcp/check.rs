//! The properties a parsed RTCP datagram must have, shared by the
//! `parse_rtcp` fuzz target and the test that replays its seeds on stable
//! (one definition, so the two cannot drift apart).

use super::{CompoundReport, RtcpIter, RtcpPacket};

/// Reads `data` as compound RTCP and checks: iterating never panics and
/// stops for good after the first error; every accessor of every parsed
/// packet is safe; a report followed by an SDES CNAME, written back with
/// [`CompoundReport`], parses to the same fields. Returns whether every
/// packet parsed. Panics when a property fails (that is the finding).
#[doc(hidden)]
pub fn check_datagram(data: &[u8]) -> bool {
    let mut iter = RtcpIter::new(data);
    let mut packets = Vec::new();
    let mut failed = false;
    for packet in iter.by_ref() {
        match packet {
            Ok(packet) => packets.push(packet),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(iter.next().is_none(), "the iterator stops after an error");
    for packet in &packets {
        read_every_field(packet);
    }
    if let [first, RtcpPacket::SourceDescription(sdes), ..] = packets[..] {
        if let (Some(report), Some(chunk)) = (first.report(), sdes.chunks().next()) {
            if let (Some(Ok(cname)), 0..=1) = (
                chunk.cname().map(std::str::from_utf8),
                report.report_blocks().len(),
            ) {
                rewrite_and_compare(first, cname);
            }
        }
    }
    !failed
}

/// Touches every accessor, as a consumer would.
fn read_every_field(packet: &RtcpPacket<'_>) {
    let _ = packet.packet_type();
    match packet {
        RtcpPacket::SenderReport(r) | RtcpPacket::ReceiverReport(r) => {
            let _ = (r.ssrc(), r.sender_info().map(|i| i.lsr()), r.extension());
            assert_eq!(r.report_blocks().len(), r.report_blocks().count());
        }
        RtcpPacket::SourceDescription(sdes) => {
            for chunk in sdes.chunks() {
                let _ = (chunk.ssrc(), chunk.cname(), chunk.items().count());
            }
        }
        RtcpPacket::Bye(bye) => {
            let _ = (bye.ssrcs().count(), bye.reason());
        }
        RtcpPacket::App(app) => {
            let _ = (app.subtype(), app.ssrc(), app.name(), app.data());
        }
        RtcpPacket::Other(other) => {
            let _ = (other.count(), other.body());
        }
    }
}

/// Writes `first`'s report with `cname` and checks it parses to the same fields.
fn rewrite_and_compare(first: RtcpPacket<'_>, cname: &str) {
    let Some(report) = first.report() else { return };
    let ours = CompoundReport {
        ssrc: report.ssrc(),
        sender_info: report.sender_info(),
        report_block: report.report_blocks().next(),
        cname,
    };
    let mut out = [0u8; 512];
    let len = ours
        .write(&mut out)
        .expect("a CNAME of at most 255 bytes fits");
    let again: Vec<_> = RtcpIter::new(&out[..len])
        .collect::<Result<_, _>>()
        .expect("a written report parses");
    let again_report = again[0].report().expect("SR or RR first");
    assert_eq!(again[0].packet_type(), first.packet_type());
    assert_eq!(again_report.ssrc(), report.ssrc());
    assert_eq!(again_report.sender_info(), report.sender_info());
    assert!(again_report.report_blocks().eq(report.report_blocks()));
    let RtcpPacket::SourceDescription(sdes) = again[1] else {
        panic!("SDES second: {:?}", again[1]);
    };
    let chunk = sdes.chunks().next().expect("one chunk");
    assert_eq!(chunk.cname(), Some(cname.as_bytes()));
}
