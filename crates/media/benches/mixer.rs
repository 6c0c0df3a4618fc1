//! Conference mixer cost per 20 ms tick for rooms of 5, 50 and 200
//! participants with three talking: one frame pushed per participant, then
//! one tick (decode, level and VAD for all, sum of three, one mix-minus per
//! speaker, the shared mix encoded once and handed to everyone else).
//! Throughput is per participant.
//!
//! `cargo bench -p media --bench mixer -- --warm-up-time 1 --measurement-time 3`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use media::mixer::{Codec, Mixer, MixerConfig, ParticipantId, ParticipantOptions, FRAME};
use media::tone::ToneGenerator;

const TALKERS: usize = 3;

/// One encoded 20 ms frame of a tone that is a whole number of cycles per
/// frame, so the same frame repeated is a continuous tone.
fn tone_frame(frequency: f64, codec: Codec) -> [u8; FRAME] {
    let pcm = ToneGenerator::sine(frequency, -12.0).take(FRAME);
    let mut frame = [0u8; FRAME];
    codec.encode(&pcm, &mut frame);
    frame
}

fn mixer(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer_tick");
    for size in [5usize, 50, 200] {
        let mut room = Mixer::new(MixerConfig::default());
        let mut frames = Vec::new();
        for n in 0..size {
            // Half the room on each law, so both shared encodings are made.
            let codec = if n % 2 == 0 { Codec::Pcmu } else { Codec::Pcma };
            let id = ParticipantId(n as u64);
            room.add(id, codec, ParticipantOptions::default())
                .expect("ids are unique");
            let frame = if n < TALKERS {
                tone_frame([600.0, 900.0, 1300.0][n], codec)
            } else {
                [codec.silence(); FRAME]
            };
            frames.push((id, frame));
        }
        let mut seq = 0u16;
        let mut tick = |room: &mut Mixer| {
            for (id, frame) in &frames {
                let _ = room.push(*id, seq, frame);
            }
            seq = seq.wrapping_add(1);
            let mut bytes = 0usize;
            room.tick(|_, frame| bytes += frame.len());
            black_box(bytes)
        };
        // Past the jitter buffer's fill and the speakers' onset.
        for _ in 0..20 {
            tick(&mut room);
        }
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new("participants", size), |b| {
            b.iter(|| tick(&mut room))
        });
    }
    group.finish();
}

criterion_group!(benches, mixer);
criterion_main!(benches);
