//! G.711 frame coding and the per-packet RTP relay path (20 ms, 160 samples),
//! and one RTCP report per leg and interval (SR + SDES, built and parsed).
//!
//! `cargo bench -p media -- --warm-up-time 1 --measurement-time 2`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::g711;
use media::rtcp::{CompoundReport, ReportBlock, RtcpIter, RtcpPacket, SenderInfo};
use media::rtp::{rewrite_header, RtpHeader, RtpPacket};

const FRAME: usize = 160;

fn frame_samples() -> [i16; FRAME] {
    let mut samples = [0i16; FRAME];
    for (i, s) in samples.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        *s = (10_000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
    }
    samples
}

fn g711(c: &mut Criterion) {
    let samples = frame_samples();
    let mut ulaw = [0u8; FRAME];
    g711::encode_ulaw(&samples, &mut ulaw);
    let mut group = c.benchmark_group("g711_frame_160");
    group.throughput(Throughput::Elements(FRAME as u64));
    group.bench_function("ulaw_encode", |b| {
        let mut out = [0u8; FRAME];
        b.iter(|| g711::encode_ulaw(black_box(&samples), &mut out))
    });
    group.bench_function("alaw_encode", |b| {
        let mut out = [0u8; FRAME];
        b.iter(|| g711::encode_alaw(black_box(&samples), &mut out))
    });
    group.bench_function("ulaw_decode", |b| {
        let mut out = [0i16; FRAME];
        b.iter(|| g711::decode_ulaw(black_box(&ulaw), &mut out))
    });
    group.bench_function("alaw_decode", |b| {
        let mut out = [0i16; FRAME];
        b.iter(|| g711::decode_alaw(black_box(&ulaw), &mut out))
    });
    group.bench_function("pcmu_to_pcma", |b| {
        let mut out = [0u8; FRAME];
        b.iter(|| g711::ulaw_to_alaw(black_box(&ulaw), &mut out))
    });
    group.finish();
}

fn relay(c: &mut Criterion) {
    let samples = frame_samples();
    let mut payload = [0u8; FRAME];
    g711::encode_ulaw(&samples, &mut payload);
    let header = RtpHeader {
        sequence_number: 4711,
        timestamp: 160 * 4711,
        ssrc: 0x1234_5678,
        ..RtpHeader::default()
    };
    let mut incoming = [0u8; 1500];
    let len = header
        .write(&payload, &mut incoming)
        .expect("a 172-byte packet fits in 1500 bytes");
    let incoming = &incoming[..len];

    let mut group = c.benchmark_group("rtp_relay_172B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_rewrite_write", |b| {
        let mut out = [0u8; 1500];
        b.iter(|| {
            let packet = RtpPacket::parse(black_box(incoming)).expect("valid packet");
            let rewritten = RtpHeader {
                sequence_number: packet.sequence_number().wrapping_add(1000),
                timestamp: packet.timestamp().wrapping_add(160_000),
                ssrc: 0xfeed_beef,
                ..packet.header()
            };
            rewritten
                .write(packet.payload(), &mut out)
                .expect("fits in 1500 bytes")
        })
    });
    group.bench_function("parse_copy_rewrite_in_place", |b| {
        let mut out = [0u8; 1500];
        b.iter(|| {
            let packet = RtpPacket::parse(black_box(incoming)).expect("valid packet");
            let bytes = packet.as_bytes();
            let out = &mut out[..bytes.len()];
            out.copy_from_slice(bytes);
            rewrite_header(
                out,
                packet.sequence_number().wrapping_add(1000),
                packet.timestamp().wrapping_add(160_000),
                0xfeed_beef,
            )
            .expect("longer than a header");
            out.len()
        })
    });
    group.finish();
}

fn rtcp(c: &mut Criterion) {
    let report = CompoundReport {
        ssrc: 0x1234_5678,
        sender_info: Some(SenderInfo {
            ntp: 0xecd0_5a00_4000_0000,
            rtp_timestamp: 160 * 4711,
            packet_count: 4711,
            octet_count: 160 * 4711,
        }),
        report_block: Some(ReportBlock {
            ssrc: 0xfeed_beef,
            fraction_lost: 3,
            cumulative_lost: 17,
            extended_highest_seq: 0x0001_1267,
            jitter: 40,
            lsr: 0x5a00_3000,
            dlsr: 0x0000_8000,
        }),
        cname: "switchboard@192.0.2.10",
    };
    let mut datagram = [0u8; 1500];
    let len = report
        .write(&mut datagram)
        .expect("an SR + SDES fits in 1500 bytes");
    let datagram = &datagram[..len];

    let mut group = c.benchmark_group(format!("rtcp_sr_sdes_{len}B"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("write", |b| {
        let mut out = [0u8; 1500];
        b.iter(|| black_box(&report).write(&mut out).expect("fits"))
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            let mut lost = 0;
            for packet in RtcpIter::new(black_box(datagram)) {
                match packet.expect("valid compound") {
                    RtcpPacket::SenderReport(sr) => {
                        lost += sr.report_blocks().map(|b| b.cumulative_lost).sum::<i32>()
                    }
                    RtcpPacket::SourceDescription(sdes) => {
                        lost += sdes.chunks().filter_map(|c| c.cname()).count() as i32
                    }
                    _ => {}
                }
            }
            lost
        })
    });
    group.finish();
}

criterion_group!(benches, g711, relay, rtcp);
criterion_main!(benches);
