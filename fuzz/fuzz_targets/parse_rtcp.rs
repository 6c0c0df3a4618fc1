//! Any datagram read as compound RTCP: iterating never panics and stops
//! after the first error, every accessor of a parsed packet is safe, and a
//! report followed by an SDES CNAME, written back with `CompoundReport`,
//! parses to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media::rtcp::{CompoundReport, RtcpIter, RtcpPacket};

fuzz_target!(|data: &[u8]| {
    let mut iter = RtcpIter::new(data);
    let mut packets = Vec::new();
    for packet in iter.by_ref() {
        match packet {
            Ok(packet) => packets.push(packet),
            Err(_) => break,
        }
    }
    assert!(iter.next().is_none(), "the iterator stops after an error");

    for packet in &packets {
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

    let [first, RtcpPacket::SourceDescription(sdes), ..] = packets[..] else {
        return;
    };
    let (Some(report), Some(chunk)) = (first.report(), sdes.chunks().next()) else {
        return;
    };
    let Some(Ok(cname)) = chunk.cname().map(std::str::from_utf8) else {
        return;
    };
    if report.report_blocks().len() > 1 {
        return;
    }
    let ours = CompoundReport {
        ssrc: report.ssrc(),
        sender_info: report.sender_info(),
        report_block: report.report_blocks().next(),
        cname,
    };
    let mut out = [0u8; 512];
    let len = ours.write(&mut out).expect("a CNAME of at most 255 bytes fits in 512");
    let again: Vec<_> = RtcpIter::new(&out[..len])
        .collect::<Result<_, _>>()
        .expect("a written report parses");
    let again_report = again[0].report().expect("SR or RR first");
    assert_eq!(again[0].packet_type(), first.packet_type());
    assert_eq!(again_report.ssrc(), report.ssrc());
    assert_eq!(again_report.sender_info(), report.sender_info());
    assert!(again_report.report_blocks().eq(report.report_blocks()));
    let RtcpPacket::SourceDescription(again_sdes) = again[1] else {
        panic!("SDES second");
    };
    let again_chunk = again_sdes.chunks().next().expect("one chunk");
    assert_eq!(again_chunk.cname(), Some(cname.as_bytes()));
});
