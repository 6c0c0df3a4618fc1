//! Parse and serialize a typical INVITE with SDP (~900 bytes).
//!
//! `cargo bench -p sip -- --quick`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sip::{parse_datagram, parse_stream, TypedHeaders};

const INVITE: &[u8] = include_bytes!("invite_sdp.sip");

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("invite_sdp");
    group.throughput(Throughput::Bytes(INVITE.len() as u64));
    group.bench_function("parse_datagram", |b| {
        b.iter(|| parse_datagram(black_box(INVITE)).expect("benchmark INVITE parses"))
    });
    group.bench_function("parse_stream", |b| {
        b.iter(|| parse_stream(black_box(INVITE)).expect("benchmark INVITE parses"))
    });
    let message = parse_datagram(INVITE).expect("benchmark INVITE parses");
    group.bench_function("serialize", |b| {
        let mut out = Vec::with_capacity(2048);
        b.iter(|| {
            out.clear();
            black_box(&message).write_to(&mut out);
            black_box(out.len())
        })
    });
    group.bench_function("to_bytes", |b| b.iter(|| black_box(&message).to_bytes()));
    group.bench_function("typed_top_via_from_cseq", |b| {
        b.iter(|| {
            let m = black_box(&message);
            (
                m.top_via().expect("via"),
                m.from().expect("from"),
                m.cseq().expect("cseq"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
