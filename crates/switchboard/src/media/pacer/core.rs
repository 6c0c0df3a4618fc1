//! The pacer's state and per-tick work, without the thread or the clock's
//! sleeping: the `Pacer` thread drives one `PacerCore`, and tests and
//! benchmarks drive one directly.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use media::rtp::RtpHeader;
use tokio::sync::mpsc;

use super::source::{AfterPrompt, Frame, FrameSource, FRAME_SAMPLES, G711};
use super::stats::{PacerStats, StreamCounters};
use crate::media::reports::OutboundCounters;

/// RTP fixed header length: we send no CSRCs and no extension.
const HEADER_LEN: usize = 12;
/// Largest packet the pacer builds.
const PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;
/// Timestamp units per 20 ms frame at 8 kHz.
const TIMESTAMP_STEP: u32 = FRAME_SAMPLES as u32;

/// Identifies one paced stream; chosen by [`super::PacerHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// Something the pacer reports about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacerEvent {
    /// A non-looped prompt sent its last frame; the stream fell back to its
    /// [`AfterPrompt`] source.
    PromptFinished {
        /// The stream.
        stream: StreamId,
        /// The prompt's [`FrameSource::Prompt`] tag.
        tag: u64,
    },
}

/// Everything the pacer needs to send one stream.
#[derive(Debug)]
pub struct StreamSetup {
    /// Socket to send from (the leg's RTP socket; set non-blocking on add).
    pub socket: Arc<UdpSocket>,
    /// Where the far end receives RTP.
    pub destination: SocketAddr,
    /// G.711 law, which also gives the payload type.
    pub codec: G711,
    /// SSRC of every packet.
    pub ssrc: u32,
    /// Sequence number of the first packet.
    pub initial_sequence: u16,
    /// Timestamp of the first packet.
    pub initial_timestamp: u32,
    /// What to send from the first tick on.
    pub source: FrameSource,
    /// What follows a non-looped prompt.
    pub after_prompt: AfterPrompt,
    /// Where to report [`PacerEvent`]s; `try_send`, dropped when full or closed.
    pub events: Option<mpsc::Sender<PacerEvent>>,
    /// The leg's outbound stream when others (the relay) also feed it: the
    /// pacer then sends as its SSRC, continues its numbering whenever
    /// someone else sent last, and records what it sends there.
    pub outbound: Option<Arc<OutboundCounters>>,
}

/// One registered stream as the pacer holds it.
#[derive(Debug)]
struct Stream {
    id: StreamId,
    setup: StreamSetup,
    sequence: u16,
    timestamp: u32,
    /// Next frame of a prompt source.
    position: usize,
    /// Set the marker bit on the next packet sent (RFC 3550 talkspurt start).
    marker: bool,
    /// The prompt (or tone) is paused: it keeps its place and silence goes out instead;
    /// cleared by the next [`PacerCore::set_source`].
    prompt_paused: bool,
    counters: Arc<StreamCounters>,
}

/// All streams and the one reusable packet buffer.
#[derive(Debug)]
pub struct PacerCore {
    streams: Vec<Stream>,
    index: HashMap<StreamId, usize>,
    packet: [u8; PACKET_LEN],
    stats: Arc<PacerStats>,
}

impl PacerCore {
    /// An empty core with room for `expected_streams` before any reallocation.
    pub fn new(expected_streams: usize, stats: Arc<PacerStats>) -> PacerCore {
        PacerCore {
            streams: Vec::with_capacity(expected_streams),
            index: HashMap::with_capacity(expected_streams),
            packet: [0; PACKET_LEN],
            stats,
        }
    }

    /// The pacer-wide counters this core writes.
    pub fn stats(&self) -> &Arc<PacerStats> {
        &self.stats
    }

    /// Streams registered.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is registered.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Registers a stream (replacing one with the same id); its first packet
    /// carries the marker bit. The socket should be non-blocking
    /// ([`super::PacerHandle::add_stream`] makes it so).
    pub fn add_stream(&mut self, id: StreamId, setup: StreamSetup, counters: Arc<StreamCounters>) {
        self.remove_stream(id);
        let (sequence, timestamp) = match &setup.outbound {
            Some(outbound) => outbound.continuation(Instant::now()),
            None => (setup.initial_sequence, setup.initial_timestamp),
        };
        counters.record_position(sequence, timestamp);
        let position = start_of(&setup.source);
        self.index.insert(id, self.streams.len());
        self.streams.push(Stream {
            id,
            sequence,
            timestamp,
            setup,
            position,
            marker: true,
            prompt_paused: false,
            counters,
        });
    }

    /// Replaces a stream's source; the next packet carries the marker bit.
    /// Returns false for an unknown stream.
    pub fn set_source(&mut self, id: StreamId, source: FrameSource) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.position = start_of(&source);
        stream.setup.source = source;
        stream.marker = true;
        stream.prompt_paused = false;
        true
    }

    /// Pauses (`paused`) or resumes a stream's prompt or tone in place: while
    /// paused the stream sends silence in the same RTP stream and the prompt
    /// does not advance, so resuming continues with the frame that was
    /// next. No effect on a stream sending silence or nothing. Returns
    /// false for an unknown stream.
    pub fn set_prompt_paused(&mut self, id: StreamId, paused: bool) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.prompt_paused = paused;
        true
    }

    /// Sends a stream's next packets elsewhere. Returns false for an unknown stream.
    pub fn set_destination(&mut self, id: StreamId, destination: SocketAddr) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.setup.destination = destination;
        true
    }

    /// Stops and forgets a stream. Returns false for an unknown stream.
    pub fn remove_stream(&mut self, id: StreamId) -> bool {
        let Some(at) = self.index.remove(&id) else {
            return false;
        };
        self.streams.swap_remove(at);
        if let Some(moved) = self.streams.get(at) {
            self.index.insert(moved.id, at);
        }
        true
    }

    fn stream_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        let at = *self.index.get(&id)?;
        self.streams.get_mut(at)
    }

    /// Sends every stream's next frame. `due` is when this tick was
    /// scheduled; each frame's lateness is measured against it.
    ///
    /// The hot path: no allocation, no lock; one `send_to` per frame.
    pub fn tick(&mut self, due: Instant) {
        let PacerCore {
            streams,
            packet,
            stats,
            ..
        } = self;
        for stream in streams.iter_mut() {
            let (header_bytes, payload) = packet.split_at_mut(HEADER_LEN);
            let payload: &mut Frame = payload
                .try_into()
                .expect("the packet buffer holds one frame");
            if next_payload(stream, payload) {
                let setup = &stream.setup;
                let mut ssrc = setup.ssrc;
                if let Some(outbound) = &setup.outbound {
                    ssrc = outbound.stream_ssrc();
                    let last = outbound.last_sequence();
                    if last.is_some() && last != Some(stream.sequence.wrapping_sub(1)) {
                        // The relay sent since our last frame: continue its numbering.
                        (stream.sequence, stream.timestamp) = outbound.continuation(due);
                        stream.marker = true;
                    }
                }
                let header = RtpHeader {
                    marker: stream.marker,
                    payload_type: setup.codec.payload_type(),
                    sequence_number: stream.sequence,
                    timestamp: stream.timestamp,
                    ssrc,
                    ..RtpHeader::default()
                };
                // A bare 12-byte header into its 12 bytes cannot fail; the
                // payload is already in place behind it.
                if header.write(&[], header_bytes).is_ok() {
                    let ok = setup.socket.send_to(&packet[..], setup.destination).is_ok();
                    let now = Instant::now();
                    let lateness = now.saturating_duration_since(due);
                    stream.counters.record_send(ok, lateness);
                    stats.frame_lateness.record(lateness);
                    if let Some(outbound) = &setup.outbound {
                        outbound.sent(stream.sequence, stream.timestamp, FRAME_SAMPLES, now);
                        // What the party hears, for its recordings.
                        let payload = &packet[HEADER_LEN..];
                        outbound
                            .taps()
                            .push(now, setup.codec.payload_type(), payload);
                    }
                }
                stream.marker = false;
                stream.sequence = stream.sequence.wrapping_add(1);
            }
            // Paused streams keep their media clock running, so resuming
            // looks like the end of a silence period (RFC 3550 §5.1).
            stream.timestamp = stream.timestamp.wrapping_add(TIMESTAMP_STEP);
            stream
                .counters
                .record_position(stream.sequence, stream.timestamp);
            let prompt = match stream.setup.source {
                FrameSource::Prompt { tag, .. } => Some(tag),
                _ => None,
            };
            stream.counters.record_prompt(prompt, stream.position);
        }
        stats.record_streams(streams.len());
    }
}

/// Where a source starts: a prompt at its `start`, anything else at 0.
fn start_of(source: &FrameSource) -> usize {
    match source {
        FrameSource::Prompt { start, .. } => *start,
        _ => 0,
    }
}

/// Writes the stream's next payload into `out`, advancing its source;
/// false when there is nothing to send.
fn next_payload(stream: &mut Stream, out: &mut Frame) -> bool {
    let codec = stream.setup.codec;
    if stream.prompt_paused {
        // A paused prompt neither advances nor finishes; the listener hears
        // silence in the same stream (timestamps continuous, no marker).
        return match stream.setup.source {
            FrameSource::Paused => false,
            FrameSource::Silence | FrameSource::Tone(_) | FrameSource::Prompt { .. } => {
                out.fill(codec.silence_code());
                true
            }
        };
    }
    // A finished prompt hands over to its fallback within the same tick, so
    // the receiver hears no gap.
    if let FrameSource::Prompt {
        frames,
        looped,
        tag,
        ..
    } = &stream.setup.source
    {
        let tag = *tag;
        if stream.position >= frames.len() {
            if *looped && !frames.is_empty() {
                stream.position = 0;
            } else {
                stream.setup.source = stream.setup.after_prompt.into();
                stream.marker = true;
                if let Some(events) = &stream.setup.events {
                    // Dropped when the consumer is full or gone: media never waits.
                    let _ = events.try_send(PacerEvent::PromptFinished {
                        stream: stream.id,
                        tag,
                    });
                }
            }
        }
    }
    match &mut stream.setup.source {
        FrameSource::Paused => false,
        FrameSource::Silence => {
            out.fill(codec.silence_code());
            true
        }
        FrameSource::Tone(generator) => {
            let mut samples = [0i16; FRAME_SAMPLES];
            generator.fill(&mut samples);
            codec.encode(&samples, out);
            true
        }
        FrameSource::Prompt { frames, .. } => match frames.get(stream.position) {
            Some(frame) => {
                out.copy_from_slice(frame);
                stream.position += 1;
                true
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
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
}
