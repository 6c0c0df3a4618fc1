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
//! let a = RtpPeer::start(RtpPeerConfig::default()).expect("bind RTP peer");
//! let b = RtpPeer::start(RtpPeerConfig::default()).expect("bind RTP peer");
//! a.set_source(Source::Tone { frequency: 1000.0, dbm0: -10.0 });
//! a.set_destination(b.local_addr());
//! assert!(b.wait_for_packets(50, Duration::from_secs(3)));
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::dtmf_event::TelephoneEventSender;
use media::rtp::{classify, PacketKind, RtpHeader, RtpPacket};
use media::tone::ToneGenerator;
use media::wav::{WavAudio, WavError};

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Time between frames.
pub const PTIME: Duration = Duration::from_millis(20);
/// Default cap on recorded packets (about 33 minutes of one 20 ms stream).
pub const DEFAULT_RECEIVE_CAP: usize = 100_000;

/// The G.711 law the sender encodes audio with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// µ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec of a static payload type, if it is G.711.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encodes one frame of linear samples.
    pub fn encode(self, samples: &[i16], out: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => media::g711::encode_ulaw(samples, out),
            Codec::Pcma => media::g711::encode_alaw(samples, out),
        }
    }

    /// Decodes G.711 codes into linear samples.
    pub fn decode(self, codes: &[u8], out: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => media::g711::decode_ulaw(codes, out),
            Codec::Pcma => media::g711::decode_alaw(codes, out),
        }
    }
}

/// What the sender puts on the wire; finite sources fall back to silence.
#[derive(Debug, Clone)]
pub enum Source {
    /// Send nothing (timestamps keep advancing, as for a muted phone).
    Off,
    /// Silent audio frames.
    Silence,
    /// A continuous sine.
    Tone {
        /// Frequency in Hz.
        frequency: f64,
        /// Level in dBm0.
        dbm0: f64,
    },
    /// 8 kHz linear samples, played once (then silence) or looped.
    Samples {
        /// The audio.
        samples: Arc<[i16]>,
        /// Start again at the end instead of falling silent.
        looped: bool,
    },
    /// RFC 4733 telephone-events, one per digit, with silent audio between
    /// and after them.
    Digits {
        /// DTMF digits (`0`–`9`, `*`, `#`, `A`–`D`); others are skipped.
        digits: String,
        /// The telephone-event payload type (often 101).
        payload_type: u8,
        /// Length of each event, in ms (rounded to 20 ms frames).
        duration_ms: u32,
        /// Silence after each event, in ms (rounded to 20 ms frames).
        gap_ms: u32,
    },
}

impl Source {
    /// A WAV file's audio (8 kHz, 16-bit; stereo is averaged to mono), played once.
    pub fn wav(path: impl AsRef<Path>) -> Result<Source, WavError> {
        let audio = WavAudio::open(path)?;
        if audio.sample_rate != 8000 {
            return Err(WavError::Unsupported {
                channels: audio.channels,
                sample_rate: audio.sample_rate,
                bits: 16,
                kind: "integer (the RTP peer sends 8 kHz only)",
            });
        }
        Ok(Source::Samples {
            samples: audio.to_mono().into(),
            looped: false,
        })
    }

    /// RFC 4733 digits of 100 ms with 100 ms gaps on `payload_type`.
    pub fn digits(digits: &str, payload_type: u8) -> Source {
        Source::Digits {
            digits: digits.to_string(),
            payload_type,
            duration_ms: 100,
            gap_ms: 100,
        }
    }

    /// In-band DTMF: each digit's dual tone for `on_ms` at `dbm0_each` per
    /// frequency, then `off_ms` of silence; characters that are not digits are skipped.
    pub fn inband_dtmf(digits: &str, on_ms: u32, off_ms: u32, dbm0_each: f64) -> Source {
        let mut samples = Vec::new();
        for digit in digits.chars() {
            let Some(mut tone) = ToneGenerator::dtmf(digit, dbm0_each) else {
                continue;
            };
            samples.extend(tone.take(on_ms as usize * 8));
            samples.resize(samples.len() + off_ms as usize * 8, 0);
        }
        Source::Samples {
            samples: samples.into(),
            looped: false,
        }
    }
}

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

/// A source in progress.
enum Playing {
    Off,
    Silence,
    Tone(ToneGenerator),
    Samples {
        samples: Arc<[i16]>,
        looped: bool,
        position: usize,
    },
    Digits {
        /// Remaining digits (reversed, so `pop` gives the next).
        pending: Vec<char>,
        payload_type: u8,
        frames: u32,
        gap_frames: u32,
        /// The event being sent and the tick it started on.
        current: Option<(TelephoneEventSender, u64)>,
        /// Silent frames left before the next digit.
        gap_left: u32,
    },
}

impl Playing {
    fn new(source: Source) -> Playing {
        match source {
            Source::Off => Playing::Off,
            Source::Silence => Playing::Silence,
            Source::Tone { frequency, dbm0 } => Playing::Tone(ToneGenerator::sine(frequency, dbm0)),
            Source::Samples { samples, looped } => Playing::Samples {
                samples,
                looped,
                position: 0,
            },
            Source::Digits {
                digits,
                payload_type,
                duration_ms,
                gap_ms,
            } => Playing::Digits {
                pending: digits.chars().rev().collect(),
                payload_type,
                frames: duration_ms.div_ceil(20).clamp(1, 3000),
                gap_frames: gap_ms.div_ceil(20),
                current: None,
                gap_left: 0,
            },
        }
    }

    /// Whether a finite source has played everything.
    fn finished(&self) -> bool {
        match self {
            Playing::Samples {
                samples,
                looped,
                position,
            } => !looped && *position >= samples.len(),
            Playing::Digits {
                pending,
                current,
                gap_left,
                ..
            } => pending.is_empty() && current.is_none() && *gap_left == 0,
            _ => true,
        }
    }
}

/// What one tick puts on the wire.
enum Frame {
    Nothing,
    Audio(Box<[i16; FRAME_SAMPLES]>),
    /// Telephone-event payloads with their marker bit and event timestamp.
    Events(u8, Vec<(bool, u32, [u8; 4])>),
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

    /// Waits up to `timeout` until no packet has arrived for `quiet`.
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
            let frame = next_frame(&mut state.playing, tick, timestamp);
            (state.destination, frame)
        };
        let destination = destination.or_else(|| {
            if config.latch_to_sender {
                lock(&shared.received).first().map(|p| p.from)
            } else {
                None
            }
        });
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
        let Some(destination) = destination else {
            continue; // nowhere to send yet: the stream's clock runs on
        };
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

/// The frame of `tick` (RTP timestamp `timestamp`) from `playing`.
fn next_frame(playing: &mut Playing, tick: u64, timestamp: u32) -> Frame {
    let mut samples = [0i16; FRAME_SAMPLES];
    match playing {
        Playing::Off => return Frame::Nothing,
        Playing::Silence => {}
        Playing::Tone(generator) => generator.fill(&mut samples),
        Playing::Samples {
            samples: source,
            looped,
            position,
        } => {
            for s in &mut samples {
                if *position >= source.len() && *looped && !source.is_empty() {
                    *position = 0;
                }
                if let Some(&v) = source.get(*position) {
                    *s = v;
                    *position += 1;
                }
            }
        }
        Playing::Digits {
            pending,
            payload_type,
            frames,
            gap_frames,
            current,
            gap_left,
        } => {
            if current.is_none() && *gap_left == 0 {
                while let Some(digit) = pending.pop() {
                    let sender = TelephoneEventSender::for_digit(
                        digit,
                        10,
                        timestamp,
                        160,
                        (*frames * 160).min(u32::from(u16::MAX)) as u16,
                    );
                    if let Some(sender) = sender {
                        *current = Some((sender, tick));
                        break;
                    }
                }
            }
            if let Some((sender, started)) = current {
                let due = (tick - *started + 1) * 160;
                let mut events = Vec::new();
                while let Some(next) = sender.clone().next() {
                    if u64::from(next.send_offset) > due {
                        break;
                    }
                    sender.next();
                    events.push((next.marker, next.timestamp, next.event.to_bytes()));
                }
                if sender.clone().next().is_none() {
                    *current = None;
                    *gap_left = *gap_frames;
                }
                return Frame::Events(*payload_type, events);
            }
            *gap_left = gap_left.saturating_sub(1);
        }
    }
    Frame::Audio(Box::new(samples))
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
