//! Output adjustments: WSOLA time-stretch of a 10 s prompt (what one
//! `speed-up` / `speed-down` costs when the whole rest is re-stretched) and
//! the G.711 gain table on one 20 ms packet (what `volume-up` costs per packet).
//!
//! `cargo bench -p media --bench output -- --warm-up-time 1 --measurement-time 2`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::g711;
use media::gain::GainTable;
use media::stretch::time_stretch;

/// espeak-ng reading a voicemail greeting, µ-law, 8 kHz (tests/fixtures/README.md).
const GREETING: &[u8] = include_bytes!("../tests/fixtures/voicemail-greeting.ulaw");

fn stretch(c: &mut Criterion) {
    let mut once = vec![0i16; GREETING.len()];
    g711::decode_ulaw(GREETING, &mut once);
    let prompt: Vec<i16> = once.iter().copied().cycle().take(80_000).collect();
    let mut group = c.benchmark_group("time_stretch");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    for speed in [0.8f32, 1.25, 2.0] {
        group.bench_function(format!("10s_at_{speed}"), |b| {
            b.iter(|| time_stretch(black_box(&prompt), speed).len())
        });
    }
    group.finish();
}

fn gain(c: &mut Criterion) {
    let table = GainTable::ulaw(3.0);
    let mut frame = [0u8; 160];
    frame.copy_from_slice(&GREETING[8000..8160]);
    let mut group = c.benchmark_group("gain_table");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pcmu_frame_160", |b| {
        b.iter(|| {
            let mut f = frame;
            table.apply(black_box(&mut f));
            f
        })
    });
    group.bench_function("build_ulaw", |b| b.iter(|| GainTable::ulaw(black_box(6.0))));
    group.finish();
}

criterion_group!(benches, stretch, gain);
criterion_main!(benches);
