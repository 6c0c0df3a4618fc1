//! The mixer feed of a running session over loopback: audio frames of the
//! feed's payload type reach the member's queue, everything else is
//! ignored, a full queue drops (counted), and a closed one is let go.

use std::net::{Ipv4Addr, UdpSocket as StdUdpSocket};

use media::RtpHeader;

use super::*;
use crate::media::pacer::{member_feed, MEMBER_QUEUE};

/// A datagram of payload type `payload_type` carrying `len` bytes of `fill`.
fn packet(payload_type: u8, sequence: u16, len: usize, fill: u8) -> Vec<u8> {
    let header = RtpHeader {
        payload_type,
        sequence_number: sequence,
        ssrc: 0x1234,
        ..RtpHeader::default()
    };
    let mut out = vec![0u8; 12 + len];
    let payload = vec![fill; len];
    let written = header.write(&payload, &mut out).expect("fits");
    out.truncate(written);
    out
}

/// Waits (bounded) until the session has taken `count` RTP packets.
async fn taken(session: &RtpSession, count: u64) {
    for _ in 0..400 {
        if session.stats().counters.rtp >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the session took {} packets", session.stats().counters.rtp);
}

#[tokio::test]
async fn audio_frames_reach_the_room_and_a_full_queue_drops() {
    let peer = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind peer");
    let pair = RtpPortPair {
        rtp: StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind rtp"),
        rtcp: StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind rtcp"),
    };
    let local = pair.rtp.local_addr().expect("local");
    let remote = peer.local_addr().expect("peer addr");
    let session = RtpSession::start_relay(pair, remote, SessionConfig::default()).expect("start");
    let (feed, inbound) = member_feed();
    session
        .set_mixer_feed(Some(feed.for_payload_type(0)))
        .expect("control");
    // The control change is queued before any packet is read.
    let send = |p: Vec<u8>| peer.send_to(&p, local).expect("send");
    send(packet(0, 1, 160, 0x11));
    send(packet(8, 2, 160, 0x22)); // negotiated, but not the feed's type
    send(packet(0, 3, 80, 0x33)); // not one 20 ms frame
    send(packet(101, 4, 4, 0)); // telephone-event
    send(packet(0, 5, 160, 0x55));
    taken(&session, 5).await;
    assert_eq!(inbound.try_frame().map(|(s, f)| (s, f[0])), Some((1, 0x11)));
    assert_eq!(inbound.try_frame().map(|(s, f)| (s, f[0])), Some((5, 0x55)));
    assert!(inbound.try_frame().is_none());
    assert_eq!(session.stats().counters.mixer_dropped, 0);

    // Nobody drains: the queue takes its capacity, the rest is dropped.
    let extra = 3;
    for k in 0..MEMBER_QUEUE + extra {
        send(packet(0, 10 + k as u16, 160, 0));
    }
    taken(&session, 5 + (MEMBER_QUEUE + extra) as u64).await;
    assert_eq!(session.stats().counters.mixer_dropped, extra as u64);

    // The member left: the first frame after is dropped and the feed let go.
    drop(inbound);
    send(packet(0, 40, 160, 0));
    send(packet(0, 41, 160, 0));
    taken(&session, 7 + (MEMBER_QUEUE + extra) as u64).await;
    assert_eq!(session.stats().counters.mixer_dropped, extra as u64 + 1);
}
