//! The pacer core driven tick by tick: numbering, prompts, pauses and the
//! relay hand-over, checked on loopback sinks.

use super::*;
use crate::media::pacer::source::PromptFrames;
use std::net::Ipv4Addr;

fn socket() -> Arc<UdpSocket> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    s.set_nonblocking(true).expect("nonblocking");
    Arc::new(s)
}

fn setup(to: SocketAddr, source: FrameSource) -> StreamSetup {
    StreamSetup {
        socket: socket(),
        destination: to,
        codec: G711::Pcmu,
        ssrc: 7,
        initial_sequence: 65_535,
        initial_timestamp: u32::MAX - 100,
        source,
        after_prompt: AfterPrompt::Paused,
        events: None,
        outbound: None,
    }
}

#[test]
fn removal_keeps_the_index_consistent() {
    let sink = socket();
    let to = sink.local_addr().expect("addr");
    let mut core = PacerCore::new(4, Arc::default());
    for id in 0..4 {
        core.add_stream(
            StreamId(id),
            setup(to, FrameSource::Silence),
            Arc::default(),
        );
    }
    assert!(core.remove_stream(StreamId(0)));
    assert!(!core.remove_stream(StreamId(0)));
    assert!(core.set_source(StreamId(3), FrameSource::Paused));
    assert!(core.set_destination(StreamId(1), to));
    assert!(!core.set_source(StreamId(9), FrameSource::Paused));
    assert_eq!(core.len(), 3);
}

#[test]
fn prompt_then_paused_stops_sequence_but_not_clock() {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    sink.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    let to = sink.local_addr().expect("addr");
    let mut core = PacerCore::new(1, Arc::default());
    let counters = Arc::new(StreamCounters::default());
    let prompt = PromptFrames::encode(&[0; 2 * FRAME_SAMPLES], G711::Pcmu);
    let (tx, mut rx) = mpsc::channel(4);
    let mut s = setup(
        to,
        FrameSource::Prompt {
            frames: prompt,
            looped: false,
            tag: 7,
            start: 0,
        },
    );
    s.events = Some(tx);
    core.add_stream(StreamId(1), s, counters.clone());
    let now = Instant::now();
    for _ in 0..5 {
        core.tick(now);
    }
    let snap = counters.snapshot();
    assert_eq!(snap.sent + snap.send_errors, 2);
    assert_eq!(snap.next_sequence, 1); // 65535 and 0 sent, wrapped
    assert_eq!(snap.next_timestamp, (u32::MAX - 100).wrapping_add(5 * 160));
    assert_eq!(
        rx.try_recv().ok(),
        Some(PacerEvent::PromptFinished {
            stream: StreamId(1),
            tag: 7
        })
    );
    let mut buf = [0u8; 400];
    let (len, _) = sink.recv_from(&mut buf).expect("first packet");
    assert_eq!(len, PACKET_LEN);
    assert_eq!(buf[1] & 0x80, 0x80, "marker on the first packet");
}

/// A prompt whose frame `k` is filled with the byte `k + 1`.
fn numbered_prompt(frames: u8) -> PromptFrames {
    let frames: Vec<Frame> = (1..=frames).map(|k| [k; FRAME_SAMPLES]).collect();
    PromptFrames::from_frames(frames.into())
}

/// The (sequence, timestamp, first payload byte) of every packet waiting.
fn drain(sink: &UdpSocket) -> Vec<(u16, u32, u8)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 400];
    while let Ok((len, _)) = sink.recv_from(&mut buf) {
        assert_eq!(len, PACKET_LEN);
        let sequence = u16::from_be_bytes([buf[2], buf[3]]);
        let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        assert_eq!(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]), 7);
        out.push((sequence, timestamp, buf[HEADER_LEN]));
    }
    out
}

fn sink() -> (UdpSocket, SocketAddr) {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    sink.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    let to = sink.local_addr().expect("addr");
    (sink, to)
}

#[test]
fn a_paused_prompt_sends_silence_and_resumes_where_it_stopped() {
    let (sink, to) = sink();
    let (tx, mut rx) = mpsc::channel(4);
    let mut s = setup(
        to,
        FrameSource::Prompt {
            frames: numbered_prompt(4),
            looped: false,
            tag: 3,
            start: 0,
        },
    );
    s.events = Some(tx);
    let mut core = PacerCore::new(1, Arc::default());
    core.add_stream(StreamId(1), s, Arc::default());
    let now = Instant::now();
    core.tick(now);
    core.tick(now);
    assert!(core.set_prompt_paused(StreamId(1), true));
    for _ in 0..3 {
        core.tick(now);
    }
    // Paused at the end of the prompt too: it does not finish while paused.
    assert!(core.set_prompt_paused(StreamId(1), false));
    core.tick(now);
    core.tick(now);
    assert!(core.set_prompt_paused(StreamId(1), true));
    core.tick(now);
    assert!(rx.try_recv().is_err(), "a paused prompt never finishes");
    // Resumed at its end, it finishes and falls back (to sending nothing here).
    core.set_prompt_paused(StreamId(1), false);
    core.tick(now);
    let silence = G711::Pcmu.silence_code();
    let packets = drain(&sink);
    let payloads: Vec<u8> = packets.iter().map(|p| p.2).collect();
    assert_eq!(payloads, [1, 2, silence, silence, silence, 3, 4, silence]);
    // One continuous RTP stream: no gap in sequence or timestamp.
    for (k, (sequence, timestamp, _)) in packets.iter().enumerate() {
        let k = k as u32;
        assert_eq!(*sequence, 65_535u16.wrapping_add(k as u16));
        assert_eq!(*timestamp, (u32::MAX - 100).wrapping_add(k * 160));
    }
    assert_eq!(
        rx.try_recv().ok(),
        Some(PacerEvent::PromptFinished {
            stream: StreamId(1),
            tag: 3
        })
    );
}

#[test]
fn a_looped_prompt_keeps_looping_after_a_pause_and_a_new_source_ends_it() {
    let (sink, to) = sink();
    let looped = FrameSource::Prompt {
        frames: numbered_prompt(2),
        looped: true,
        tag: 1,
        start: 0,
    };
    let mut core = PacerCore::new(1, Arc::default());
    core.add_stream(StreamId(1), setup(to, looped.clone()), Arc::default());
    let now = Instant::now();
    core.tick(now);
    core.set_prompt_paused(StreamId(1), true);
    core.tick(now);
    core.set_prompt_paused(StreamId(1), false);
    for _ in 0..3 {
        core.tick(now);
    }
    // A new source starts unpaused, from its first frame.
    core.set_prompt_paused(StreamId(1), true);
    core.set_source(StreamId(1), looped);
    core.tick(now);
    // Pausing a stream that sends nothing keeps it silent.
    core.set_source(StreamId(1), FrameSource::Paused);
    core.set_prompt_paused(StreamId(1), true);
    core.tick(now);
    assert!(!core.set_prompt_paused(StreamId(9), true));
    let silence = G711::Pcmu.silence_code();
    let payloads: Vec<u8> = drain(&sink).iter().map(|p| p.2).collect();
    assert_eq!(payloads, [1, silence, 2, 1, 2, 1]);
}

#[test]
fn a_prompt_starts_at_its_start_and_reports_its_position() {
    let (sink, to) = sink();
    let counters = Arc::new(StreamCounters::default());
    assert_eq!(counters.prompt_position(), None);
    let mut core = PacerCore::new(1, Arc::default());
    let source = |start| FrameSource::Prompt {
        frames: numbered_prompt(6),
        looped: false,
        tag: (1 << 63) | 9,
        start,
    };
    core.add_stream(StreamId(1), setup(to, source(2)), counters.clone());
    let now = Instant::now();
    core.tick(now);
    let at = counters.prompt_position().expect("a prompt plays");
    assert_eq!((at.tag, at.frame), (9, 3));
    // Paused: the position holds, then goes on.
    core.set_prompt_paused(StreamId(1), true);
    core.tick(now);
    assert_eq!(counters.prompt_position().map(|p| p.frame), Some(3));
    core.set_prompt_paused(StreamId(1), false);
    core.tick(now);
    // A looped prompt's later rounds start from its first frame.
    let mut looped = source(4);
    if let FrameSource::Prompt { looped: l, .. } = &mut looped {
        *l = true;
    }
    core.set_source(StreamId(1), looped);
    for _ in 0..4 {
        core.tick(now);
    }
    let silence = G711::Pcmu.silence_code();
    let payloads: Vec<u8> = drain(&sink).iter().map(|p| p.2).collect();
    assert_eq!(payloads, [3, silence, 4, 5, 6, 1, 2]);
}

#[test]
fn a_shared_stream_continues_after_the_relay_and_back() {
    use crate::media::relay::{Relay, RelayConfig, RelayVerdict, Transcode};
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let to = sink.local_addr().expect("addr");
    let outbound = Arc::new(OutboundCounters::new(0x5eed, 500, 10_000));
    let config = RelayConfig {
        audio_in: 0,
        audio_out: 0,
        transcode: Transcode::None,
        event_in: None,
        event_out: None,
    };
    let mut relay = Relay::new(config, outbound.clone());
    let t0 = Instant::now();
    // The relay sends two packets first.
    for i in 0..2u16 {
        let mut p = [0u8; 13];
        p[0] = 0x80;
        p[2..4].copy_from_slice(&(7 + i).to_be_bytes());
        p[4..8].copy_from_slice(&(u32::from(i) * 160).to_be_bytes());
        assert_eq!(relay.rewrite(&mut p, 12..13, t0), RelayVerdict::Forward);
    }
    assert_eq!(outbound.last_sequence(), Some(501));
    // Then a prompt on the pacer: same SSRC, the next sequence number.
    let mut s = setup(to, FrameSource::Silence);
    s.outbound = Some(outbound.clone());
    let mut core = PacerCore::new(1, Arc::default());
    core.add_stream(StreamId(1), s, Arc::default());
    core.tick(Instant::now());
    core.tick(Instant::now());
    assert_eq!(outbound.last_sequence(), Some(503));
    let mut buf = [0u8; 400];
    sink.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .expect("timeout");
    let (_, _) = sink.recv_from(&mut buf).expect("paced packet");
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 502);
    assert_eq!(
        u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        0x5eed
    );
    // The relay takes over again and continues after the pacer's frames.
    let mut p = [0u8; 13];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&9u16.to_be_bytes());
    p[4..8].copy_from_slice(&320u32.to_be_bytes());
    relay.rewrite(&mut p, 12..13, Instant::now());
    assert_eq!(u16::from_be_bytes([p[2], p[3]]), 504);
    assert_eq!(p[1] & 0x80, 0x80, "marker: a new talkspurt");
}
