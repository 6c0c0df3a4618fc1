//! DTMF cost per 20 ms packet: in-band detection on PCMU audio (on speech-
//! band tones, and while digits are dialled, which is when the detector's
//! confirmation checks run), and the RFC 4733 receiver.
//!
//! `cargo bench -p media --bench dtmf -- --warm-up-time 1 --measurement-time 2`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::dtmf_detector::DtmfDetector;
use media::dtmf_event::{TelephoneEventReceiver, TelephoneEventSender};
use media::g711;
use media::tone::ToneGenerator;

fn detector(c: &mut Criterion) {
    let samples = ToneGenerator::new(8000)
        .with_sine(300.0, -15.0)
        .with_sine(1100.0, -20.0)
        .take(8000);
    let mut ulaw = vec![0u8; samples.len()];
    g711::encode_ulaw(&samples, &mut ulaw);
    let mut group = c.benchmark_group("dtmf_detector");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pcmu_frame_160", |b| {
        let mut detector = DtmfDetector::default();
        let mut frames = ulaw.chunks_exact(160).cycle();
        let mut found = 0usize;
        b.iter(|| {
            let frame = frames.next().expect("cycle never ends");
            detector.process_ulaw(black_box(frame), |_| found += 1);
        });
        black_box(found);
    });
    // 60 ms digits with 60 ms pauses: one confirmation every 6 packets.
    let mut dialling = Vec::new();
    for digit in "123A456B789C*0#D".chars() {
        let mut tone = ToneGenerator::dtmf(digit, -15.0).expect("a DTMF digit");
        dialling.extend(tone.take(480));
        dialling.extend(std::iter::repeat_n(0i16, 480));
    }
    let mut dialling_ulaw = vec![0u8; dialling.len()];
    g711::encode_ulaw(&dialling, &mut dialling_ulaw);
    group.bench_function("pcmu_frame_160_dialling", |b| {
        let mut detector = DtmfDetector::default();
        let mut frames = dialling_ulaw.chunks_exact(160).cycle();
        let mut found = 0usize;
        b.iter(|| {
            let frame = frames.next().expect("cycle never ends");
            detector.process_ulaw(black_box(frame), |_| found += 1);
        });
        black_box(found);
    });
    group.finish();
}

fn telephone_events(c: &mut Criterion) {
    let packets: Vec<_> = (0..10u32)
        .flat_map(|i| TelephoneEventSender::new((i % 16) as u8, 10, i * 2000, 160, 800))
        .map(|p| (p.timestamp, p.event.to_bytes()))
        .collect();
    let mut group = c.benchmark_group("telephone_event_receiver");
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("ten_key_presses", |b| {
        b.iter(|| {
            let mut rx = TelephoneEventReceiver::new();
            let mut n = 0;
            for (ts, payload) in &packets {
                let reports = rx.receive(*ts, black_box(payload)).expect("valid payload");
                n += reports.iter().flatten().count();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, detector, telephone_events);
criterion_main!(benches);
