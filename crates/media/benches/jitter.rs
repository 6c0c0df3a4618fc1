//! Jitter buffer cost per packet: one push and one playout tick, in order and
//! with pairs swapped.
//!
//! `cargo bench -p media --bench jitter -- --warm-up-time 1 --measurement-time 2`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::jitter_buffer::{JitterBuffer, Playout};

fn jitter(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter_buffer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("push_pop_in_order", |b| {
        let mut jb = JitterBuffer::new(3);
        let mut seq = 0u16;
        b.iter(|| {
            jb.push(seq, seq);
            seq = seq.wrapping_add(1);
            matches!(black_box(jb.pop()), Playout::Packet { .. })
        })
    });
    group.bench_function("push_pop_reordered", |b| {
        let mut jb = JitterBuffer::new(3);
        let mut n = 0u16;
        b.iter(|| {
            // 1, 0, 3, 2, 5, 4, …
            let seq = n ^ 1;
            n = n.wrapping_add(1);
            jb.push(seq, seq);
            matches!(black_box(jb.pop()), Playout::Packet { .. })
        })
    });
    group.finish();
}

criterion_group!(benches, jitter);
criterion_main!(benches);
