//! The bridged-call fast path: one received RTP packet rewritten for the
//! other leg (same codec, and PCMU→PCMA transcoded).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use switchboard::media::relay::{Relay, RelayConfig, Transcode};
use switchboard::media::reports::OutboundCounters;

fn packet(seq: u16) -> [u8; 172] {
    let mut p = [0x55u8; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

fn bench(c: &mut Criterion, name: &str, transcode: Transcode, audio_out: u8) {
    let config = RelayConfig {
        audio_in: 0,
        audio_out,
        transcode,
        event_in: Some(101),
        event_out: Some(96),
    };
    let stream = std::sync::Arc::new(OutboundCounters::new(1, 2, 3));
    let mut relay = Relay::new(config, stream);
    let now = Instant::now();
    let mut seq = 0u16;
    c.bench_function(name, |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let mut p = packet(seq);
            black_box(relay.rewrite(black_box(&mut p), 12..172, now));
            black_box(p[20])
        })
    });
}

fn relay(c: &mut Criterion) {
    bench(c, "relay_rewrite_same_codec_160B", Transcode::None, 0);
    bench(
        c,
        "relay_rewrite_pcmu_to_pcma_160B",
        Transcode::UlawToAlaw,
        8,
    );
}

criterion_group!(benches, relay);
criterion_main!(benches);
