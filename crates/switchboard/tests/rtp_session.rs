//! The receive side of `RtpSession` over real sockets on 127.0.0.1: a tone
//! arrives intact, loss shows in the statistics, latching follows a peer
//! behind "NAT" but not a stray packet, garbage and RTCP are shrugged off,
//! and dropping the session frees its ports. Timing bounds are loose.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::latch::PayloadTypes;
use switchboard::config::PortRange;
use switchboard::media::ports::RtpPortPool;
use switchboard::media::session::{ReceivedRtp, RtpSession, SessionConfig};
use testkit::analysis;
use testkit::rtp_peer::{ReceivedPacket, RtpPeer, RtpPeerConfig};
use testkit::{free_port, free_ports, Source};
use tokio::sync::mpsc;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A session on its own free port pair, with `remote` as the SDP address.
fn session(remote: SocketAddr) -> (RtpSession, mpsc::Receiver<ReceivedRtp>) {
    session_with(remote, SessionConfig::default())
}

/// Like [`session`], set up with `config`.
fn session_with(
    remote: SocketAddr,
    config: SessionConfig,
) -> (RtpSession, mpsc::Receiver<ReceivedRtp>) {
    let base = free_ports(4);
    let pool = RtpPortPool::new(
        LOCAL,
        PortRange {
            first: base,
            last: base + 3,
        },
    );
    let pair = pool.allocate().expect("a free RTP port pair");
    RtpSession::start(pair, remote, config).expect("start RTP session")
}

/// An address where nothing listens.
fn unused_addr() -> SocketAddr {
    SocketAddr::new(LOCAL, free_port())
}

/// A peer sending a 1000 Hz PCMU tone to `to`.
fn tone_peer(to: SocketAddr, drop_every: Option<u32>) -> RtpPeer {
    RtpPeer::start(RtpPeerConfig {
        destination: Some(to),
        source: Source::Tone {
            frequency: 1000.0,
            dbm0: -10.0,
        },
        drop_every,
        ..RtpPeerConfig::default()
    })
    .expect("start RTP peer")
}

/// Everything the consumer receives during `window`.
async fn collect(rx: &mut mpsc::Receiver<ReceivedRtp>, window: Duration) -> Vec<ReceivedRtp> {
    let deadline = tokio::time::Instant::now() + window;
    let mut packets = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        packets.push(p);
    }
    packets
}

/// The consumer's packets in the testkit's form, for its analysis helpers.
fn as_testkit(packets: &[ReceivedRtp], from: SocketAddr) -> Vec<ReceivedPacket> {
    packets
        .iter()
        .map(|p| ReceivedPacket {
            arrival: p.arrival,
            from,
            payload_type: p.payload_type,
            sequence_number: p.seq,
            timestamp: p.timestamp,
            ssrc: p.ssrc,
            marker: p.marker,
            payload: p.payload().to_vec(),
        })
        .collect()
}

/// A valid PCMU RTP packet.
fn rtp_packet(seq: u16, ssrc: u32) -> Vec<u8> {
    rtp_packet_of(0, seq, ssrc)
}

/// A valid RTP packet of `payload_type` with 160 bytes of payload.
fn rtp_packet_of(payload_type: u8, seq: u16, ssrc: u32) -> Vec<u8> {
    let mut bytes = vec![0x80, payload_type];
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    bytes.extend_from_slice(&ssrc.to_be_bytes());
    bytes.extend_from_slice(&[0xff; 160]);
    bytes
}

/// An empty RTCP receiver report.
fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut bytes = vec![0x80, 201, 0, 1];
    bytes.extend_from_slice(&ssrc.to_be_bytes());
    bytes
}

/// Waits up to `timeout` for `done`.
async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_reaches_the_consumer_intact() {
    let (session, mut rx) = session(unused_addr());
    let mut peer = tone_peer(session.local_addr(), None);

    let packets = collect(&mut rx, Duration::from_millis(1100)).await;
    peer.stop();

    assert!(packets.len() >= 45, "only {} packets", packets.len());
    assert!(packets
        .iter()
        .all(|p| p.ssrc == peer.ssrc() && p.payload_type == 0));
    let audio = analysis::decode_audio(&as_testkit(&packets, peer.local_addr()));
    let hz = analysis::dominant_frequency(&audio, 8000).expect("a tone, not silence");
    assert!((hz - 1000.0).abs() <= 10.0, "dominant frequency {hz} Hz");

    let stats = session.stats();
    let source = stats
        .source(peer.ssrc())
        .expect("stats for the peer's SSRC");
    assert!(source.packets >= packets.len() as u64);
    assert_eq!(source.lost, 0, "{source:?}");
    assert_eq!(source.expected, source.packets, "{source:?}");
    // Loopback with a paced sender: well under 20 ms (160 units) of jitter.
    assert!(source.jitter < 160, "{source:?}");
    assert_eq!(stats.counters.consumer_drops, 0);
    assert_eq!(session.destination(), peer.local_addr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_loss_shows_in_the_statistics() {
    let (session, mut rx) = session(unused_addr());
    let mut peer = tone_peer(session.local_addr(), Some(10));

    let packets = collect(&mut rx, Duration::from_millis(1500)).await;
    peer.stop();

    assert!(packets.len() >= 50, "only {} packets", packets.len());
    let source = *session.stats().source(peer.ssrc()).expect("stats");
    let fraction = source.lost as f64 / source.expected as f64;
    assert!(
        (0.05..=0.15).contains(&fraction),
        "loss {fraction}: {source:?}"
    );
    // The testkit's own analysis of the same packets agrees.
    let theirs = analysis::stream_stats(&as_testkit(&packets, peer.local_addr()));
    assert_eq!(theirs.len(), 1);
    assert!((theirs[0].loss_fraction() - fraction).abs() < 0.05);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latches_to_the_real_source_and_ignores_a_stray_packet() {
    let sdp = unused_addr();
    let (session, mut rx) = session(sdp);
    assert_eq!(
        session.destination(),
        sdp,
        "the SDP address until media arrives"
    );
    let mut changes = session.destination_changes();

    let mut peer = tone_peer(session.local_addr(), None);
    let latched = tokio::time::timeout(Duration::from_secs(2), changes.changed()).await;
    assert!(matches!(latched, Ok(Ok(()))), "no destination change");
    assert_eq!(*changes.borrow_and_update(), peer.local_addr());
    assert_eq!(session.destination(), peer.local_addr());

    // One valid RTP packet from a third address does not steal the latch.
    let stray = UdpSocket::bind((LOCAL, 0)).expect("bind stray socket");
    stray
        .send_to(&rtp_packet(7, 0x5757_5757), session.local_addr())
        .expect("send stray packet");
    assert!(
        wait_until(Duration::from_secs(1), || {
            session.stats().counters.rejected_source >= 1
        })
        .await,
        "stray packet not seen"
    );
    let after = collect(&mut rx, Duration::from_millis(200)).await;
    assert_eq!(session.destination(), peer.local_addr());
    assert!(after.iter().all(|p| p.ssrc == peer.ssrc()));
    assert!(!after.is_empty(), "the real stream still flows");
    assert!(session.stats().source(0x5757_5757).is_none());
    assert_eq!(session.stats().counters.latches, 1);
    peer.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relatches_when_a_new_source_persists() {
    let (session, mut rx) = session(unused_addr());
    let mut first = tone_peer(session.local_addr(), None);
    assert!(
        wait_until(Duration::from_secs(2), || session.destination()
            == first.local_addr())
        .await
    );
    first.stop();

    // The NAT mapping changed: the phone now sends from another port. The
    // session moves once the old source has been silent for 2 s.
    let mut second = tone_peer(session.local_addr(), None);
    assert!(
        wait_until(Duration::from_secs(4), || {
            session.destination() == second.local_addr()
        })
        .await,
        "did not re-latch"
    );
    let stats = session.stats();
    assert_eq!(stats.counters.latches, 2);
    assert!(stats.counters.rejected_source >= u64::from(media::latch::MOVE_PACKETS - 1));
    let packets = collect(&mut rx, Duration::from_millis(300)).await;
    assert!(packets.iter().any(|p| p.ssrc == second.ssrc()));
    second.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_rtcp_do_not_break_or_latch_the_session() {
    let sdp = unused_addr();
    let (session, mut rx) = session(sdp);
    let rtp_port = session.local_addr();
    let rtcp_port = SocketAddr::new(LOCAL, rtp_port.port() + 1);
    let junk = UdpSocket::bind((LOCAL, 0)).expect("bind junk socket");
    let garbage: [&[u8]; 4] = [b"", b"\x00", b"hello, this is not RTP", &[0x80, 0x00, 0x01]];
    for datagram in garbage {
        junk.send_to(datagram, rtp_port).expect("send garbage");
    }
    // Version 2 with a CSRC count longer than the packet: classified RTP,
    // fails to parse.
    junk.send_to(&[0x8f, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], rtp_port)
        .expect("send truncated RTP");
    junk.send_to(&rtcp_rr(1), rtp_port)
        .expect("send RTCP to RTP port");
    junk.send_to(&rtcp_rr(1), rtcp_port).expect("send RTCP");
    junk.send_to(b"junk", rtcp_port)
        .expect("send junk to RTCP port");
    // Our own send socket towards a dead port: errors stay on our side.
    let send = session.send_socket();
    for seq in 0..3 {
        let _ = send.send_to(&rtp_packet(seq, 1), sdp);
    }

    assert!(
        wait_until(Duration::from_secs(1), || {
            let c = session.stats().counters;
            c.invalid >= 6 && c.rtcp >= 2
        })
        .await,
        "{:?}",
        session.stats().counters
    );
    assert_eq!(session.destination(), sdp, "nothing valid arrived yet");
    assert_eq!(session.stats().counters.rtp, 0);

    let mut peer = tone_peer(rtp_port, None);
    let packets = collect(&mut rx, Duration::from_millis(600)).await;
    peer.stop();
    assert!(packets.len() >= 20, "only {} packets", packets.len());
    assert_eq!(session.destination(), peer.local_addr());
    let source = *session.stats().source(peer.ssrc()).expect("stats");
    assert_eq!(source.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_session_stops_the_task_and_frees_the_ports() {
    let (session, mut rx) = session(unused_addr());
    let rtp_port = session.local_addr();
    let mut peer = tone_peer(rtp_port, None);
    assert!(!collect(&mut rx, Duration::from_millis(200))
        .await
        .is_empty());

    drop(session);
    // The task ends, and with it the sender side of the channel.
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "receive task still running");
    peer.stop();

    let rebound = wait_until(Duration::from_secs(1), || {
        UdpSocket::bind(rtp_port).is_ok() && UdpSocket::bind((LOCAL, rtp_port.port() + 1)).is_ok()
    })
    .await;
    assert!(rebound, "ports not released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_the_task_and_frees_the_ports() {
    let (session, _rx) = session(unused_addr());
    let rtp_port = session.local_addr();
    tokio::time::timeout(Duration::from_secs(1), session.close())
        .await
        .expect("close finishes promptly");
    assert!(UdpSocket::bind(rtp_port).is_ok());
    assert!(UdpSocket::bind((LOCAL, rtp_port.port() + 1)).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_reports_go_to_the_peers_rtcp_port_with_its_loss() {
    let base = free_ports(2);
    let rtcp = UdpSocket::bind(SocketAddr::new(LOCAL, base + 1)).expect("peer RTCP port");
    rtcp.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let ports = free_ports(4);
    let pool = RtpPortPool::new(
        LOCAL,
        PortRange {
            first: ports,
            last: ports + 3,
        },
    );
    let config = SessionConfig {
        rtcp_interval: Duration::from_millis(300),
        ..SessionConfig::default()
    };
    let pair = pool.allocate().expect("a free RTP port pair");
    let (session, _rx) =
        RtpSession::start(pair, SocketAddr::new(LOCAL, base), config).expect("start");
    let peer = RtpPeer::start(RtpPeerConfig {
        port: base,
        destination: Some(session.local_addr()),
        source: Source::Silence,
        drop_every: Some(10),
        ..RtpPeerConfig::default()
    })
    .expect("peer");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = None;
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline && found.is_none() {
        let Ok(len) = rtcp.recv(&mut buf) else {
            continue;
        };
        for packet in media::RtcpIter::new(&buf[..len]).flatten() {
            if let media::RtcpPacket::ReceiverReport(rr) = packet {
                if let Some(block) = rr.report_blocks().find(|b| b.ssrc == peer.ssrc()) {
                    if block.cumulative_lost > 0 {
                        found = Some(block);
                    }
                }
            }
        }
    }
    let block = found.expect("an RR about the peer's stream, with its loss");
    assert!(block.extended_highest_seq > 0);
    // The task counts the report once its send returns, which may be just
    // after the datagram reached us.
    let counted = Instant::now() + Duration::from_secs(1);
    while session.stats().counters.rtcp_sent == 0 && Instant::now() < counted {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(session.stats().counters.rtcp_sent >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_type_not_negotiated_is_dropped_until_a_new_sdp_allows_it() {
    let peer = UdpSocket::bind((LOCAL, 0)).expect("bind peer");
    let sdp = peer.local_addr().expect("peer address");
    let pcmu = PayloadTypes::EMPTY.with(0);
    let config = SessionConfig {
        payload_types: pcmu,
        ..SessionConfig::default()
    };
    let (session, mut rx) = session_with(sdp, config);
    let to = session.local_addr();
    for seq in 0..3 {
        peer.send_to(&rtp_packet_of(8, seq, 7), to)
            .expect("send PCMA");
    }
    assert!(
        wait_until(Duration::from_secs(2), || {
            session.stats().counters.wrong_payload_type >= 3
        })
        .await,
        "{:?}",
        session.stats().counters
    );
    assert_eq!(session.stats().counters.rtp, 0);
    assert!(collect(&mut rx, Duration::from_millis(100))
        .await
        .is_empty());

    // The answer to a re-INVITE: same addresses, PCMA added. The change is
    // queued before the packets are sent, and the task reads its control
    // queue before its sockets.
    let rtcp = SocketAddr::new(LOCAL, sdp.port() + 1);
    session
        .set_remote(sdp, rtcp, pcmu.with(8))
        .expect("control change queued");
    for seq in 3..6 {
        peer.send_to(&rtp_packet_of(8, seq, 7), to)
            .expect("send PCMA");
    }
    let packets = collect(&mut rx, Duration::from_millis(500)).await;
    assert_eq!(
        packets
            .iter()
            .map(|p| (p.payload_type, p.seq))
            .collect::<Vec<_>>(),
        [(8, 3), (8, 4), (8, 5)]
    );
    let counters = session.stats().counters;
    assert_eq!(counters.wrong_payload_type, 3);
    assert_eq!(counters.rtp, 3);
    assert_eq!(
        session.destination(),
        sdp,
        "the same SDP address: no restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtcp_from_another_host_is_rejected_and_does_not_redirect_our_reports() {
    let base = free_ports(2);
    let peer_rtcp = UdpSocket::bind(SocketAddr::new(LOCAL, base + 1)).expect("peer RTCP port");
    peer_rtcp
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // Another host: 127.0.0.2 is loopback too on Linux.
    let intruder = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).expect("bind 127.0.0.2");
    intruder
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let config = SessionConfig {
        rtcp_interval: Duration::from_millis(100),
        ..SessionConfig::default()
    };
    let (session, _rx) = session_with(SocketAddr::new(LOCAL, base), config);
    let rtcp_port = SocketAddr::new(LOCAL, session.local_addr().port() + 1);
    let mut peer = RtpPeer::start(RtpPeerConfig {
        port: base,
        destination: Some(session.local_addr()),
        source: Source::Silence,
        ..RtpPeerConfig::default()
    })
    .expect("peer");

    // The intruder keeps sending valid RRs while our reports go out.
    let mut buf = [0u8; 1500];
    let mut to_intruder = 0;
    let deadline = Instant::now() + Duration::from_millis(800);
    while Instant::now() < deadline {
        intruder
            .send_to(&rtcp_rr(0xbad), rtcp_port)
            .expect("send RR");
        if intruder.recv(&mut buf).is_ok() {
            to_intruder += 1;
        }
    }
    let counters = session.stats().counters;
    assert_eq!(to_intruder, 0, "our RTCP went to the intruder");
    assert!(counters.rejected_source >= 1, "{counters:?}");
    assert_eq!(counters.rtcp, 0, "{counters:?}");
    assert!(counters.rtcp_sent >= 1, "{counters:?}");

    // Our reports still go to the peer's RTCP port.
    let mut reports = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && reports == 0 {
        if peer_rtcp.recv(&mut buf).is_ok() {
            reports += 1;
        }
    }
    peer.stop();
    assert!(reports > 0, "no report reached the peer's RTCP port");
}
