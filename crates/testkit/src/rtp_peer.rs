//! A real RTP endpoint for end-to-end media tests: one UDP socket on
//! 127.0.0.1, a sender thread that paces 20 ms G.711 frames (or RFC 4733
//! telephone-events) and a receiver thread that records every packet.
//!
//! Pacing is drift-free: frame `k` is due at `start + k × 20 ms`, so a late
//! wake-up is made up by the next frames instead of accumulating. Sending is
//! symmetric (RFC 4961): packets leave from the socket that receives, so the
//! server sees one address per peer.
//!
//! Both threads stop by themselves: they check a stop flag at least every
//! 20 ms and are joined by [`RtpPeer::stop`] or on drop.
//!
//! ```no_run
//! use std::time::Duration;
//! use testkit::rtp_peer::{RtpPeer, RtpPeerConfig, Source};
//!
//! // The receiver first, so it is dropped last: a sender that outlives its
//! // receiver sprays a port that a parallel test may be given next.
//! let b = RtpPeer::start(RtpPeerConfig::default()).expect("bind RTP peer");
//! let a = RtpPeer::start(RtpPeerConfig::default()).expect("bind RTP peer");
//! a.set_source(Source::Tone { frequency: 1000.0, dbm0: -10.0 });
//! a.set_destination(b.local_addr());
//! assert!(b.wait_for_packets(50, Duration::from_secs(3)));
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::rtp::{classify, PacketKind, RtpHeader, RtpPacket};

use crate::rtp_source::{next_frame, Frame, Playing};
pub use crate::rtp_source::{Codec, Source, FRAME_SAMPLES};

/// Time between frames (the ptime, 20 ms).
pub const PTIME: Duration = Duration::from_millis(20);
/// Default cap on recorded packets (about 33 minutes of one 20 ms stream).
pub const DEFAULT_RECEIVE_CAP: usize = 100_000;

/// How an [`RtpPeer`] sends.
#[derive(Debug, Clone)]
pub struct RtpPeerConfig {
    /// Local port on 127.0.0.1; 0 for an ephemeral one.
    pub port: u16,
    /// Audio codec.
    pub codec: Codec,
    /// SSRC of everything sent.
    pub ssrc: u32,
    /// First sequence number; random when `None`.
    pub initial_sequence: Option<u16>,
    /// First timestamp; random when `None`.
    pub initial_timestamp: Option<u32>,
    /// Test hook: skip every Nth packet (its sequence number is used up), to simulate loss.
    pub drop_every: Option<u32>,
    /// What to send from the first frame on (until [`RtpPeer::set_source`]).
    pub source: Source,
    /// Where to send from the first frame on (until [`RtpPeer::set_destination`]).
    pub destination: Option<SocketAddr>,
    /// With no destination set, send to wherever the first packet came from.
    pub latch_to_sender: bool,
    /// Most packets recorded; later ones are only counted.
    pub receive_cap: usize,
}

impl Default for RtpPeerConfig {
    fn default() -> Self {
        RtpPeerConfig {
            port: 0,
            codec: Codec::Pcmu,
            ssrc: random_u32(),
            initial_sequence: None,
            initial_timestamp: None,
            drop_every: None,
            source: Source::Off,
            destination: None,
            latch_to_sender: false,
            receive_cap: DEFAULT_RECEIVE_CAP,
        }
    }
}

/// One packet as the receiver thread saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// When `recv_from` returned it.
    pub arrival: Instant,
    /// Who sent it.
    pub from: SocketAddr,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP sequence number.
    pub sequence_number: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP SSRC.
    pub ssrc: u32,
    /// RTP marker bit.
    pub marker: bool,
    /// The payload (padding removed).
    pub payload: Vec<u8>,
}

/// A random-enough 32-bit value from the std hasher's random keys (no `rand` needed).
fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.finish() as u32
}

/// Sender state shared with the owner.
struct SendState {
    destination: Option<SocketAddr>,
    playing: Playing,
}

struct Shared {
    stop: AtomicBool,
    send: Mutex<SendState>,
    received: Mutex<Vec<ReceivedPacket>>,
    overflow: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// Locks a mutex even if a thread panicked while holding it (the data is plain).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An RTP endpoint on 127.0.0.1 with a pacing sender and a recording receiver.
pub struct RtpPeer {
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    config: RtpPeerConfig,
    threads: Vec<JoinHandle<()>>,
}

impl RtpPeer {
    /// Binds `127.0.0.1:config.port` and starts both threads.
    pub fn start(config: RtpPeerConfig) -> std::io::Result<RtpPeer> {
        let socket = Arc::new(UdpSocket::bind(("127.0.0.1", config.port))?);
        socket.set_read_timeout(Some(PTIME))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            send: Mutex::new(SendState {
                destination: config.destination,
                playing: Playing::new(config.source.clone()),
            }),
            received: Mutex::new(Vec::new()),
            overflow: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let sender = {
            let (socket, shared, config) = (socket.clone(), shared.clone(), config.clone());
            std::thread::Builder::new()
                .name("rtp-peer-send".into())
                .spawn(move || send_loop(&socket, &shared, &config))?
        };
        let receiver = {
            let (socket, shared, config) = (socket.clone(), shared.clone(), config.clone());
            std::thread::Builder::new()
                .name("rtp-peer-recv".into())
                .spawn(move || receive_loop(&socket, &shared, &config))?
        };
        Ok(RtpPeer {
            socket,
            shared,
            config,
            threads: vec![sender, receiver],
        })
    }

    /// An ephemeral-port PCMU peer with default settings.
    pub fn bind() -> RtpPeer {
        RtpPeer::start(RtpPeerConfig::default()).expect("bind RTP peer on 127.0.0.1")
    }

    /// A PCMU peer sending silence: a caller whose media must flow but
    /// whose audio no test listens to.
    pub fn silent() -> RtpPeer {
        RtpPeer::start(RtpPeerConfig {
            codec: Codec::Pcmu,
            source: Source::Silence,
            ..RtpPeerConfig::default()
        })
        .expect("bind RTP peer on 127.0.0.1")
    }

    /// A peer sending a `frequency` Hz tone at -10 dBm0 in `codec`, for
    /// tests that check who hears whom.
    pub fn tone(codec: Codec, frequency: f64) -> RtpPeer {
        RtpPeer::start(RtpPeerConfig {
            codec,
            source: Source::Tone {
                frequency,
                dbm0: -10.0,
            },
            ..RtpPeerConfig::default()
        })
        .expect("bind RTP peer on 127.0.0.1")
    }

    /// The dominant frequency of the G.711 audio received so far, skipping
    /// the first packets (they may predate a bridge or join).
    pub fn heard_frequency(&self) -> Option<f64> {
        let audio: Vec<_> = self
            .received()
            .into_iter()
            .filter(|p| p.payload_type == 0 || p.payload_type == 8)
            .skip(5)
            .collect();
        crate::analysis::dominant_frequency(&crate::analysis::decode_audio(&audio), 8000)
    }

    /// The address packets are sent from and received on.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("bound socket has an address")
    }

    /// The SSRC this peer sends with.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// The codec this peer sends audio with.
    pub fn codec(&self) -> Codec {
        self.config.codec
    }

    /// Where to send from the next frame on.
    pub fn set_destination(&self, addr: SocketAddr) {
        lock(&self.shared.send).destination = Some(addr);
    }

    /// Replaces what is sent, from the next frame on; sequence and timestamp continue.
    pub fn set_source(&self, source: Source) {
        lock(&self.shared.send).playing = Playing::new(source);
    }

    /// Whether the current source has played out (always true for endless ones).
    pub fn source_finished(&self) -> bool {
        lock(&self.shared.send).playing.finished()
    }

    /// Waits up to `timeout` for the current source to play out.
    pub fn wait_source_finished(&self, timeout: Duration) -> bool {
        wait_until(timeout, || self.source_finished())
    }

    /// Packets sent so far (not counting ones skipped by `drop_every`).
    pub fn sent_count(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Packets skipped by the `drop_every` test hook.
    pub fn dropped_count(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// A copy of every packet recorded so far, in arrival order.
    pub fn received(&self) -> Vec<ReceivedPacket> {
        lock(&self.shared.received).clone()
    }

    /// How many packets have been recorded.
    pub fn received_count(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// Packets that arrived after the store was full.
    pub fn overflow_count(&self) -> u64 {
        self.shared.overflow.load(Ordering::Relaxed)
    }

    /// Forgets the packets recorded so far.
    pub fn clear_received(&self) {
        lock(&self.shared.received).clear();
    }

    /// Waits up to `timeout` until at least `count` packets are recorded.
    pub fn wait_for_packets(&self, count: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.received_count() >= count)
    }

    /// Waits up to `timeout` until no packet has arrived for `quiet`
    /// (true at once when none ever arrived).
    pub fn wait_quiet(&self, quiet: Duration, timeout: Duration) -> bool {
        wait_until(timeout, || {
            lock(&self.shared.received)
                .last()
                .is_none_or(|p| p.arrival.elapsed() >= quiet)
        })
    }

    /// Stops and joins both threads; recorded packets stay readable.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `done` every 5 ms until it holds or `timeout` passes.
fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn send_loop(socket: &UdpSocket, shared: &Shared, config: &RtpPeerConfig) {
    let mut seq = config.initial_sequence.unwrap_or(random_u32() as u16);
    let base_timestamp = config.initial_timestamp.unwrap_or_else(random_u32);
    let mut first = true;
    let mut packet_index: u64 = 0;
    let mut buf = [0u8; 1500];
    let start = Instant::now();
    for tick in 0u64.. {
        let due = start + PTIME * tick as u32;
        while let Some(left) = due.checked_duration_since(Instant::now()) {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(left.min(PTIME));
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let timestamp = base_timestamp.wrapping_add((tick as u32).wrapping_mul(160));
        let (destination, frame) = {
            let mut state = lock(&shared.send);
            let destination = state.destination.or_else(|| {
                config
                    .latch_to_sender
                    .then(|| lock(&shared.received).first().map(|p| p.from))
                    .flatten()
            });
            // With nowhere to send, the clock runs on but the source holds,
            // so a WAV or digits set before the destination is not lost.
            let Some(destination) = destination else {
                continue;
            };
            let frame = next_frame(&mut state.playing, tick, timestamp);
            (destination, frame)
        };
        let mut packets: Vec<(bool, u8, u32, Vec<u8>)> = Vec::new();
        match frame {
            Frame::Nothing => {}
            Frame::Audio(samples) => {
                let mut payload = [0u8; FRAME_SAMPLES];
                let n = config.codec.encode(&samples[..], &mut payload);
                packets.push((
                    false,
                    config.codec.payload_type(),
                    timestamp,
                    payload[..n].to_vec(),
                ));
            }
            Frame::Events(pt, events) => {
                for (marker, ts, payload) in events {
                    packets.push((marker, pt, ts, payload.to_vec()));
                }
            }
        }
        for (marker, payload_type, timestamp, payload) in packets {
            let header = RtpHeader {
                marker: std::mem::take(&mut first) || marker,
                payload_type,
                sequence_number: seq,
                timestamp,
                ssrc: config.ssrc,
                ..RtpHeader::default()
            };
            seq = seq.wrapping_add(1);
            packet_index += 1;
            if config
                .drop_every
                .is_some_and(|n| n > 0 && packet_index.is_multiple_of(u64::from(n)))
            {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Ok(len) = header.write(&payload, &mut buf) else {
                continue;
            };
            // ICMP errors from an earlier send to a closed port are not our concern.
            if socket.send_to(&buf[..len], destination).is_ok() {
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn receive_loop(socket: &UdpSocket, shared: &Shared, config: &RtpPeerConfig) {
    let mut buf = vec![0u8; 65_535];
    while !shared.stop.load(Ordering::SeqCst) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            // Timeouts, and ICMP errors from earlier sends: keep listening.
            Err(_) => continue,
        };
        let arrival = Instant::now();
        if classify(&buf[..n]) != PacketKind::Rtp {
            continue; // RTCP, STUN or garbage: not recorded
        }
        let Ok(packet) = RtpPacket::parse(&buf[..n]) else {
            continue;
        };
        let record = ReceivedPacket {
            arrival,
            from,
            payload_type: packet.payload_type(),
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            ssrc: packet.ssrc(),
            marker: packet.marker(),
            payload: packet.payload().to_vec(),
        };
        let mut store = lock(&shared.received);
        if store.len() < config.receive_cap {
            store.push(record);
        } else {
            shared.overflow.fetch_add(1, Ordering::Relaxed);
        }
    }
}
