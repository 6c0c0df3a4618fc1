//! CPA cost per 20 ms packet: the whole [`CpaDetector`] (one 256-point FFT
//! every 10 ms shared by the beep and fax detectors, plus the VAD and the
//! human/machine classifier) on a recorded voicemail greeting, on a beep and
//! on an idle line (quiet windows skip the FFT), and the VAD alone.
//!
//! `cargo bench -p media --bench cpa -- --warm-up-time 1 --measurement-time 2`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::cpa::CpaDetector;
use media::g711;
use media::tone::ToneGenerator;
use media::vad::Vad;

/// espeak-ng reading a voicemail greeting, µ-law, 8 kHz (tests/fixtures/README.md).
const GREETING: &[u8] = include_bytes!("../tests/fixtures/voicemail-greeting.ulaw");

fn detectors(c: &mut Criterion) {
    let beep = ToneGenerator::sine(1000.0, -20.0).take(8000);
    let mut beep_ulaw = vec![0u8; beep.len()];
    g711::encode_ulaw(&beep, &mut beep_ulaw);
    let mut group = c.benchmark_group("cpa");
    group.throughput(Throughput::Elements(1));
    let idle = [0xFFu8; 8000];
    for (name, audio) in [
        ("greeting", GREETING),
        ("beep", &beep_ulaw[..]),
        ("idle", &idle[..]),
    ] {
        group.bench_function(format!("pcmu_frame_160_{name}"), |b| {
            let mut detector = CpaDetector::default();
            let mut frames = audio.chunks_exact(160).cycle();
            let mut found = 0usize;
            b.iter(|| {
                let frame = frames.next().expect("cycle never ends");
                detector.process_ulaw(black_box(frame), |_| found += 1);
            });
            black_box(found);
        });
    }
    group.bench_function("vad_pcmu_frame_160", |b| {
        let mut vad = Vad::default();
        let mut frames = GREETING.chunks_exact(160).cycle();
        b.iter(|| {
            let frame = frames.next().expect("cycle never ends");
            black_box(vad.process_ulaw(black_box(frame)))
        });
    });
    group.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
