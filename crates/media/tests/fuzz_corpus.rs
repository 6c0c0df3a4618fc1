//! Runs the RTCP parser over every seed of the `parse_rtcp` fuzz target
//! (`fuzz/corpus/parse_rtcp/*`) and every prefix of each, on stable Rust,
//! checking the target's properties; seeds named `err_*` must be refused and
//! the others must parse whole.

use std::fs;
use std::path::Path;

use media::rtcp::{CompoundReport, RtcpIter, RtcpPacket};

/// The fuzz target's checks; returns whether every packet parsed.
fn check(data: &[u8]) -> bool {
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

/// Writes `first`'s report with `cname` and checks it parses to the same fields.
fn rewrite_and_compare(first: RtcpPacket<'_>, cname: &str) {
    let report = first.report().expect("caller checked");
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

#[test]
fn every_seed_parses_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parse_rtcp");
    let (mut seeds, mut refused) = (0, 0);
    for seed in fs::read_dir(&corpus).expect("fuzz/corpus/parse_rtcp exists") {
        let path = seed.expect("dir entry").path();
        let data = fs::read(&path).expect("read seed");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        seeds += 1;
        let parsed = check(&data);
        assert_eq!(parsed, !name.starts_with("err_"), "{name}");
        refused += usize::from(!parsed);
        for cut in 0..data.len() {
            check(&data[..cut]);
        }
    }
    assert!(seeds >= 10, "only {seeds} seeds found");
    assert!(refused >= 4, "only {refused} seeds refused");
}
