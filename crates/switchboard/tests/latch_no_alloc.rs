//! The receive decision (screen + latch) never allocates: a call's stream,
//! a junk flood, candidates from many ports, a first latch, a move and a
//! reset, all counted by a per-thread counting allocator.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::latch::{screen, Decision, LatchConfig, PayloadTypes, Screened, SourceLatch};
use media::RtpHeader;
use testkit::alloc_count::{allocations_on_this_thread, CountingAllocator};
use testkit::junk::JunkRng;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 7], port))
}

/// A PCMU packet of 160 payload bytes, on the stack.
fn pcmu(seq: u16, ssrc: u32) -> [u8; 172] {
    let mut p = [0u8; 172];
    let header = RtpHeader {
        payload_type: 0,
        sequence_number: seq,
        ssrc,
        ..RtpHeader::default()
    };
    let len = header.write(&[0x55; 160], &mut p).expect("fits");
    assert_eq!(len, p.len());
    p
}

fn decide(
    latch: &mut SourceLatch,
    datagram: &[u8],
    from: SocketAddr,
    now: Instant,
) -> Option<Decision> {
    match screen(datagram, PayloadTypes::OFFERED) {
        Screened::Rtp(p) => Some(latch.offer(from, p.ssrc(), p.sequence_number(), now)),
        _ => None,
    }
}

#[test]
fn the_receive_decision_does_not_allocate() {
    // Junk is drawn into a stack buffer as the test goes.
    let mut rng = JunkRng::new(0x2545_f491_4f6c_dd1d);
    let mut buf = [0u8; 1400];
    let t0 = Instant::now();
    let probe = allocations_on_this_thread();
    drop(Vec::<u8>::with_capacity(16));
    assert!(allocations_on_this_thread() > probe, "the counter works");

    let before = allocations_on_this_thread();
    let mut latch = SourceLatch::new(LatchConfig::new(addr(4000), false));
    let mut latched = 0;
    for i in 0..20_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i) * 500);
        // A NAT'd phone every 20 ms until 4 s, then silent; it rebinds at 7 s.
        let phone = if i < 14_000 { addr(61000) } else { addr(61002) };
        if i % 40 == 0 && !(8_000..14_000).contains(&i) {
            let packet = pcmu((i / 40) as u16, 0xfeed);
            if let Some(Decision::Latched(_) | Decision::Moved(_)) =
                decide(&mut latch, &packet, phone, now)
            {
                latched += 1;
            }
        }
        // Junk from 8 ports, well-formed packets from 8 more.
        let datagram = rng.datagram(&(300..=1400), &mut buf);
        decide(&mut latch, datagram, addr(7000 + (i % 8) as u16), now);
        let packet = pcmu(i as u16, i);
        decide(&mut latch, &packet, addr(8000 + (i % 8) as u16), now);
        if i == 19_000 {
            latch.reset(addr(4100));
        }
    }
    let allocations = allocations_on_this_thread() - before;
    assert_eq!(latched, 3, "a first latch, a move, a latch after the reset");
    assert_eq!(allocations, 0, "allocations in 60,000 receive decisions");
}
