//! Two `RtpPeer`s on 127.0.0.1 pointed at each other: what one sends, the
//! other must receive and recognise. Timing checks are loose sanity bounds
//! only (tests share a loaded machine).

use std::time::Duration;

use testkit::analysis::{
    decode_audio, dominant_frequency, inband_digits, level_dbm0, rfc4733_digits, stream_stats,
    tone_present,
};
use testkit::rtp_peer::{Codec, RtpPeer, RtpPeerConfig, Source};

const WAIT: Duration = Duration::from_secs(5);

// Receivers are declared before senders, so senders are dropped (and stop)
// first: a sender outliving its receiver would spray a port that a parallel
// test may be given next.

fn peer(codec: Codec) -> RtpPeer {
    RtpPeer::start(RtpPeerConfig {
        codec,
        ..RtpPeerConfig::default()
    })
    .expect("bind RTP peer on 127.0.0.1")
}

/// Sends `source` from a fresh peer to `receiver` for `duration`, then stops
/// the sender and waits for the stream to go quiet.
fn send_for(sender: &mut RtpPeer, receiver: &RtpPeer, source: Source, duration: Duration) {
    sender.set_destination(receiver.local_addr());
    sender.set_source(source);
    std::thread::sleep(duration);
    sender.stop();
    assert!(receiver.wait_quiet(Duration::from_millis(100), WAIT));
}

#[test]
fn pcmu_tone_arrives_at_1000_hz_without_loss() {
    let b = peer(Codec::Pcmu);
    let mut a = peer(Codec::Pcmu);
    send_for(
        &mut a,
        &b,
        Source::Tone {
            frequency: 1000.0,
            dbm0: -10.0,
        },
        Duration::from_secs(1),
    );
    let packets = b.received();
    assert!(packets.len() >= 45, "{} packets in 1 s", packets.len());
    assert!(packets
        .iter()
        .all(|p| p.payload_type == 0 && p.payload.len() == 160));
    assert!(
        packets.iter().all(|p| p.from == a.local_addr()),
        "symmetric RTP"
    );
    assert!(packets[0].marker);
    let audio = decode_audio(&packets);
    let f = dominant_frequency(&audio, 8000).expect("a tone, not silence");
    assert!((f - 1000.0).abs() <= 10.0, "dominant frequency {f} Hz");
    assert!(tone_present(&audio, 1000.0, 0.9));
    assert!(!tone_present(&audio, 1300.0, 0.1));
    assert!(
        (level_dbm0(&audio) + 10.0).abs() < 1.0,
        "{}",
        level_dbm0(&audio)
    );
    let stats = stream_stats(&packets);
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].ssrc, a.ssrc());
    assert_eq!(stats[0].lost, 0);
    assert_eq!(stats[0].duplicates, 0);
    assert_eq!(stats[0].reordered, 0);
    // Very loose: only catches a sender that does not pace at all.
    assert!(stats[0].pacing_p99 < Duration::from_millis(15), "{stats:?}");
}

#[test]
fn pcma_tone_arrives_at_440_hz() {
    let b = peer(Codec::Pcma);
    let mut a = peer(Codec::Pcma);
    send_for(
        &mut a,
        &b,
        Source::Tone {
            frequency: 440.0,
            dbm0: -6.0,
        },
        Duration::from_secs(1),
    );
    let packets = b.received();
    assert!(packets.len() >= 45, "{} packets in 1 s", packets.len());
    assert!(packets.iter().all(|p| p.payload_type == 8));
    let audio = decode_audio(&packets);
    let f = dominant_frequency(&audio, 8000).expect("a tone, not silence");
    assert!((f - 440.0).abs() <= 10.0, "dominant frequency {f} Hz");
    assert_eq!(stream_stats(&packets)[0].lost, 0);
}

#[test]
fn rfc4733_digits_arrive_once_each() {
    let b = peer(Codec::Pcmu);
    let mut a = peer(Codec::Pcmu);
    // Set before the destination: the source waits for somewhere to send.
    a.set_source(Source::digits("1234#", 101));
    std::thread::sleep(Duration::from_millis(60));
    assert!(!a.source_finished());
    a.set_destination(b.local_addr());
    assert!(a.wait_source_finished(WAIT));
    a.stop();
    assert!(b.wait_quiet(Duration::from_millis(100), WAIT));
    let packets = b.received();
    assert_eq!(rfc4733_digits(&packets, 101), "1234#");
    // Each 100 ms event: 4 updates and the end ×3; the first has the marker.
    let events: Vec<_> = packets.iter().filter(|p| p.payload_type == 101).collect();
    assert_eq!(events.len(), 5 * 7);
    assert_eq!(events.iter().filter(|p| p.marker).count(), 5);
    // Silence between digits is audio on the codec's payload type.
    assert!(packets.iter().any(|p| p.payload_type == 0));
    assert_eq!(inband_digits(&packets), "");
}

#[test]
fn inband_dtmf_is_detected() {
    let b = peer(Codec::Pcmu);
    let mut a = peer(Codec::Pcmu);
    a.set_destination(b.local_addr());
    a.set_source(Source::inband_dtmf("159*0D", 80, 80, -10.0));
    assert!(a.wait_source_finished(WAIT));
    a.stop();
    assert!(b.wait_quiet(Duration::from_millis(100), WAIT));
    let packets = b.received();
    assert_eq!(inband_digits(&packets), "159*0D");
    assert_eq!(rfc4733_digits(&packets, 101), "");
}

#[test]
fn wav_file_is_played_once_then_silence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tone.wav");
    let tone = media::tone::ToneGenerator::sine(700.0, -12.0).take(4000);
    media::wav::write_stereo_8k(&path, &tone, &tone).expect("write WAV");
    let b = peer(Codec::Pcmu);
    let mut a = peer(Codec::Pcmu);
    a.set_destination(b.local_addr());
    a.set_source(Source::wav(&path).expect("8 kHz WAV"));
    assert!(a.wait_source_finished(WAIT));
    std::thread::sleep(Duration::from_millis(200));
    a.stop();
    assert!(b.wait_quiet(Duration::from_millis(100), WAIT));
    let audio = decode_audio(&b.received());
    assert!(audio.len() >= 4000 + 160, "{} samples", audio.len());
    let f = dominant_frequency(&audio[..4000], 8000).expect("the WAV's tone");
    assert!((f - 700.0).abs() <= 10.0, "dominant frequency {f} Hz");
    assert!(
        audio[4000..].iter().all(|&s| s.abs() < 16),
        "silence after the file"
    );
}

#[test]
fn every_tenth_packet_dropped_is_ten_percent_loss() {
    let b = peer(Codec::Pcmu);
    let mut a = RtpPeer::start(RtpPeerConfig {
        drop_every: Some(10),
        initial_sequence: Some(65_500), // and across the wrap
        ..RtpPeerConfig::default()
    })
    .expect("bind RTP peer");
    send_for(&mut a, &b, Source::Silence, Duration::from_millis(1500));
    let stats = stream_stats(&b.received());
    assert_eq!(stats.len(), 1);
    let s = &stats[0];
    assert!(a.dropped_count() >= 6, "{}", a.dropped_count());
    // The last dropped packet may lie past the last received one.
    assert!(
        s.lost == a.dropped_count() || s.lost + 1 == a.dropped_count(),
        "{s:?}"
    );
    assert!((s.loss_fraction() - 0.1).abs() < 0.02, "{s:?}");
    assert_eq!(s.duplicates + s.reordered, 0);
}

#[test]
fn given_sequence_timestamp_and_ssrc_are_used() {
    let b = peer(Codec::Pcmu);
    let mut a = RtpPeer::start(RtpPeerConfig {
        ssrc: 0xdead_beef,
        initial_sequence: Some(7),
        initial_timestamp: Some(u32::MAX - 100),
        source: Source::Silence,
        destination: Some(b.local_addr()),
        ..RtpPeerConfig::default()
    })
    .expect("bind RTP peer");
    std::thread::sleep(Duration::from_millis(200));
    a.stop();
    assert!(b.wait_quiet(Duration::from_millis(100), WAIT));
    let packets = b.received();
    assert!(packets.len() >= 3);
    assert_eq!(packets[0].ssrc, 0xdead_beef);
    assert_eq!(packets[0].sequence_number, 7);
    assert_eq!(packets[0].timestamp, u32::MAX - 100);
    assert_eq!(packets[1].timestamp, 59); // wrapped: MAX − 100 + 160
}

#[test]
fn latching_peer_answers_where_packets_come_from() {
    let mut a = peer(Codec::Pcmu);
    let b = RtpPeer::start(RtpPeerConfig {
        latch_to_sender: true,
        ..RtpPeerConfig::default()
    })
    .expect("bind RTP peer");
    b.set_source(Source::Tone {
        frequency: 500.0,
        dbm0: -10.0,
    });
    a.set_destination(b.local_addr());
    a.set_source(Source::Silence);
    assert!(a.wait_for_packets(10, WAIT));
    assert!(a.received().iter().all(|p| p.ssrc == b.ssrc()));
    a.stop(); // before `b` closes its port
}
