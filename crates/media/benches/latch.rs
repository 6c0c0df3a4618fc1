//! The receive decision per datagram, as the RTP session makes it: screening
//! (classify, parse, negotiated payload type) and the latch. (The bench at
//! commit 7b0353d also ran a copy of the first-packet latch it replaced.)
//!
//! Cases, each per datagram:
//! - `stream`: a 172-byte PCMU packet from the latched source (the common
//!   case, every 20 ms per leg);
//! - `junk`: the flood, random datagrams of 300–1,400 bytes from
//!   four ports, cycling through 4,096 pre-generated ones;
//! - `candidates`: well-formed packets from four other sources in turn
//!   (the candidate slots' worst case).
//!
//! `cargo bench -p media --bench latch -- --warm-up-time 1 --measurement-time 3`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use media::latch::{self, LatchConfig, PayloadTypes, Screened, SourceLatch};

const PHONE: u16 = 4000;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn pcmu(seq: u16, ssrc: u32) -> [u8; 172] {
    let mut p = [0x55u8; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p
}

/// The flood: (source, datagram) pairs.
fn junk() -> Vec<(SocketAddr, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..4096)
        .map(|_| {
            let from = addr(7000 + (next() % 4) as u16);
            let len = 300 + (next() % 1101) as usize;
            let bytes = (0..len).map(|_| next() as u8).collect();
            (from, bytes)
        })
        .collect()
}

/// The receive decision: `Some(accepted)` for RTP, `None` otherwise.
fn decision(
    latch: &mut SourceLatch,
    types: PayloadTypes,
    datagram: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<bool> {
    match latch::screen(datagram, types) {
        Screened::Rtp(p) => Some(!matches!(
            latch.offer(from, p.ssrc(), p.sequence_number(), now),
            latch::Decision::Reject(_)
        )),
        _ => None,
    }
}

fn receive_decision(c: &mut Criterion) {
    let types = PayloadTypes::EMPTY.with(0).with(101);
    let junk = junk();
    let t0 = Instant::now();
    let tick = Duration::from_micros(500);
    let mut group = c.benchmark_group("receive_decision");
    group.throughput(Throughput::Elements(1));

    group.bench_function("stream", |b| {
        let mut latch = SourceLatch::new(LatchConfig::new(addr(PHONE), false));
        let (mut seq, mut now) = (0u16, t0);
        b.iter(|| {
            seq = seq.wrapping_add(1);
            now += tick;
            let p = pcmu(seq, 0x1234);
            black_box(decision(&mut latch, types, black_box(&p), addr(PHONE), now))
        })
    });

    group.bench_function("junk", |b| {
        let mut latch = SourceLatch::new(LatchConfig::new(addr(PHONE), false));
        latch.offer(addr(PHONE), 1, 1, t0);
        let (mut i, mut now) = (0usize, t0);
        b.iter(|| {
            let (from, datagram) = &junk[i % junk.len()];
            i += 1;
            now += tick;
            black_box(decision(&mut latch, types, black_box(datagram), *from, now))
        })
    });

    group.bench_function("candidates", |b| {
        let mut latch = SourceLatch::new(LatchConfig::new(addr(PHONE), false));
        latch.offer(addr(PHONE), 1, 1, t0);
        let (mut n, mut now) = (0u32, t0);
        b.iter(|| {
            n = n.wrapping_add(1);
            now += tick;
            // Four sources with their own consistent streams, in turn, all
            // refused because the latched source keeps talking (a packet
            // every 40 ticks: 20 ms).
            if n % 40 == 0 {
                latch.offer(addr(PHONE), 1, (n / 40) as u16, now);
            }
            let k = (n % 4) as u16;
            let p = pcmu((n / 4) as u16, 100 + u32::from(k));
            black_box(decision(
                &mut latch,
                types,
                black_box(&p),
                addr(7000 + k),
                now,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, receive_decision);
criterion_main!(benches);
