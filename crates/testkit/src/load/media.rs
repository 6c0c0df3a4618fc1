//! RTP for every leg of every call: one sender thread on absolute 20 ms
//! ticks for all streams, and a few receiver threads waiting on readiness
//! (`mio`, epoll on Linux) over all the legs' sockets.
//!
//! Each leg has its own UDP socket on 127.0.0.1 (nonblocking), shared by
//! the sender (symmetric RTP: packets leave from the socket that receives)
//! and the receiver thread it is assigned to (leg id modulo the number of
//! receivers). SIP threads add legs and start or stop their streams through
//! channels; nothing is locked on the per-packet path.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::rtp::{classify, PacketKind, RtpHeader, RtpPacket};
use media::tone::ToneGenerator;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::stats::{micros, Arrival, Histogram, Phase, Stream};
use crate::rtp_peer::PTIME;
use crate::rtp_source::{Codec, FRAME_SAMPLES};

/// Frames in one period of an integer-Hz tone (1 s of 20 ms frames).
const TONE_FRAMES: usize = 50;
/// Level of the tones, in dBm0.
const TONE_DBM0: f64 = -10.0;
/// How long a receiver naps between non-blocking reads of its sockets.
const RECEIVE_NAP: Duration = Duration::from_millis(1);
/// The receiver's waker token (legs use their slot index).
const WAKE: Token = Token(usize::MAX);

/// Which side of the call a leg belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The leg of the calling UA (UAC).
    Caller,
    /// The leg of the called UA (UAS).
    Callee,
}

/// One second of a tone, G.711-encoded both ways, frame by frame.
pub(crate) struct ToneFrames {
    pcmu: Vec<[u8; FRAME_SAMPLES]>,
    pcma: Vec<[u8; FRAME_SAMPLES]>,
}

impl ToneFrames {
    pub(crate) fn new(hz: u32) -> ToneFrames {
        let mut generator = ToneGenerator::sine(f64::from(hz), TONE_DBM0);
        let mut pcmu = Vec::with_capacity(TONE_FRAMES);
        let mut pcma = Vec::with_capacity(TONE_FRAMES);
        for _ in 0..TONE_FRAMES {
            let mut samples = [0i16; FRAME_SAMPLES];
            generator.fill(&mut samples);
            let (mut u, mut a) = ([0u8; FRAME_SAMPLES], [0u8; FRAME_SAMPLES]);
            Codec::Pcmu.encode(&samples, &mut u);
            Codec::Pcma.encode(&samples, &mut a);
            pcmu.push(u);
            pcma.push(a);
        }
        ToneFrames { pcmu, pcma }
    }

    pub(crate) fn frame(&self, codec: Codec, tick: u64) -> &[u8; FRAME_SAMPLES] {
        let table = match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        };
        &table[(tick % TONE_FRAMES as u64) as usize]
    }
}

/// What the SIP threads tell the sender.
enum SendCommand {
    Start {
        leg: usize,
        socket: Arc<UdpSocket>,
        destination: SocketAddr,
        codec: Codec,
        payload_type: u8,
        side: Side,
    },
    Stop {
        leg: usize,
    },
}

/// A leg handed to its receiver thread.
struct NewLeg {
    leg: usize,
    socket: Arc<UdpSocket>,
    side: Side,
}

/// A receiver thread's inbox.
struct ReceiverHandle {
    legs: Sender<NewLeg>,
    waker: Arc<Waker>,
}

/// The handle SIP threads use to add legs and start or stop their streams.
pub(crate) struct Media {
    next_leg: AtomicUsize,
    sender: Sender<SendCommand>,
    receivers: Vec<ReceiverHandle>,
}

/// The parts that run on their own threads, created with [`Media::new`].
pub(crate) struct MediaThreads {
    pub sender: SenderLoop,
    pub receivers: Vec<ReceiverLoop>,
}

impl Media {
    /// The handle and the loops to run: one sender, `receivers` receivers.
    pub(crate) fn new(
        receivers: usize,
        caller_hz: u32,
        callee_hz: u32,
        slots: u32,
    ) -> std::io::Result<(Media, MediaThreads)> {
        let (sender, commands) = mpsc::channel();
        let mut handles = Vec::new();
        let mut loops = Vec::new();
        for _ in 0..receivers.max(1) {
            let poll = Poll::new()?;
            let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
            let (legs, inbox) = mpsc::channel();
            handles.push(ReceiverHandle {
                legs,
                waker: waker.clone(),
            });
            loops.push(ReceiverLoop {
                poll,
                waker,
                inbox,
                streams: Vec::new(),
                pacing: Histogram::new(),
                receive_errors: 0,
            });
        }
        let media = Media {
            next_leg: AtomicUsize::new(0),
            sender,
            receivers: handles,
        };
        let threads = MediaThreads {
            sender: SenderLoop {
                slots: slots.max(1),
                commands,
                caller: ToneFrames::new(caller_hz),
                callee: ToneFrames::new(callee_hz),
            },
            receivers: loops,
        };
        Ok((media, threads))
    }

    /// Binds a leg's socket on 127.0.0.1 and starts receiving on it; returns
    /// the leg id and the socket.
    pub(crate) fn add_leg(&self, side: Side) -> std::io::Result<(usize, Arc<UdpSocket>)> {
        let socket = Arc::new(timestamped_socket()?);
        let leg = self.next_leg.fetch_add(1, Ordering::Relaxed);
        let receiver = &self.receivers[leg % self.receivers.len()];
        let new = NewLeg {
            leg,
            socket: socket.clone(),
            side,
        };
        if receiver.legs.send(new).is_ok() {
            let _ = receiver.waker.wake();
        }
        Ok((leg, socket))
    }

    /// Starts (or redirects) the leg's stream to `destination`.
    pub(crate) fn start_sending(
        &self,
        leg: usize,
        socket: &Arc<UdpSocket>,
        destination: SocketAddr,
        negotiated: &sdp::Negotiated,
        side: Side,
    ) {
        let codec = match negotiated.codec {
            sdp::Codec::Pcmu => Codec::Pcmu,
            sdp::Codec::Pcma => Codec::Pcma,
        };
        let _ = self.sender.send(SendCommand::Start {
            leg,
            socket: socket.clone(),
            destination,
            codec,
            payload_type: negotiated.payload_type,
            side,
        });
    }

    /// Stops the leg's stream (its socket keeps receiving until the end).
    pub(crate) fn stop_sending(&self, leg: usize) {
        let _ = self.sender.send(SendCommand::Stop { leg });
    }

    /// Wakes every receiver (to see its stop flag at once).
    pub(crate) fn wake_receivers(&self) {
        for r in &self.receivers {
            let _ = r.waker.wake();
        }
    }
}

/// A small xorshift generator seeded from the std hasher's random keys.
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new() -> Random {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Random(h.finish() | 1)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

/// One stream the sender sends.
struct Outgoing {
    socket: Arc<UdpSocket>,
    destination: SocketAddr,
    codec: Codec,
    payload_type: u8,
    side: Side,
    ssrc: u32,
    sequence: u16,
    timestamp_base: u32,
    first_tick: u64,
    marker: bool,
}

/// What the sender did, for the report.
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    /// Packets handed to the kernel.
    pub packets: u64,
    /// Sends that failed (full buffer, ICMP error from an earlier send, …).
    pub send_errors: u64,
    /// 20 ms ticks served.
    pub ticks: u64,
    /// Ticks skipped because the sender fell more than one tick behind.
    pub ticks_skipped: u64,
    /// Latest start of a tick after its due time, in µs.
    pub late_max_us: u64,
    /// Longest time one tick's sends took, in µs.
    pub work_max_us: u64,
    /// Median time one tick's sends took, in µs.
    pub work_p50_us: u64,
    /// 99th percentile of the same, in µs.
    pub work_p99_us: u64,
    /// Ticks whose sends took longer than 20 ms.
    pub overruns: u64,
}

/// The sender thread: every stream's frame on each absolute 20 ms tick,
/// stream `i` in sub-tick `i % slots` (1 slot: all at the tick).
pub(crate) struct SenderLoop {
    slots: u32,
    commands: Receiver<SendCommand>,
    caller: ToneFrames,
    callee: ToneFrames,
}

impl SenderLoop {
    /// Runs until `stop` is set; a late wake-up more than one tick behind
    /// skips to the current tick (the RTP timestamps jump, sequence numbers
    /// do not), so an overloaded sender shows up as jitter, not as bursts.
    pub(crate) fn run(self, stop: &AtomicBool) -> SenderStats {
        let mut stats = SenderStats::default();
        let mut work_us: Vec<u32> = Vec::new();
        let mut streams: Vec<Option<Outgoing>> = Vec::new();
        let mut random = Random::new();
        let mut buf = [0u8; 12 + FRAME_SAMPLES];
        let start = Instant::now();
        let slots = u64::from(self.slots);
        let sub_period = PTIME / self.slots;
        // Sub-ticks since start; the tick is `sub / slots`.
        let mut sub: u64 = 0;
        loop {
            let due = start + sub_period * sub as u32;
            loop {
                if stop.load(Ordering::Relaxed) {
                    work_us.sort_unstable();
                    let pct = |p: usize| {
                        let rank = (p * work_us.len()).div_ceil(100).max(1);
                        work_us.get(rank - 1).map_or(0, |&v| u64::from(v))
                    };
                    stats.work_p50_us = pct(50);
                    stats.work_p99_us = pct(99);
                    return stats;
                }
                match due.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => std::thread::sleep(left.min(PTIME)),
                    _ => break,
                }
            }
            let now = Instant::now();
            let behind = now.duration_since(due).as_nanos() / PTIME.as_nanos();
            if behind >= 1 {
                stats.ticks_skipped += behind as u64;
                sub += behind as u64 * slots;
            }
            let due = start + sub_period * sub as u32;
            let tick = sub / slots;
            let slot = sub % slots;
            stats.late_max_us = stats
                .late_max_us
                .max(micros(now.saturating_duration_since(due)));
            while let Ok(command) = self.commands.try_recv() {
                self.apply(command, &mut streams, &mut random, tick);
            }
            for (leg, out) in streams.iter_mut().enumerate() {
                let Some(out) = out else { continue };
                if leg as u64 % slots != slot {
                    continue;
                }
                let frames = match out.side {
                    Side::Caller => &self.caller,
                    Side::Callee => &self.callee,
                };
                let elapsed = tick - out.first_tick;
                let header = RtpHeader {
                    marker: std::mem::take(&mut out.marker),
                    payload_type: out.payload_type,
                    sequence_number: out.sequence,
                    timestamp: out
                        .timestamp_base
                        .wrapping_add((elapsed as u32).wrapping_mul(FRAME_SAMPLES as u32)),
                    ssrc: out.ssrc,
                    ..RtpHeader::default()
                };
                out.sequence = out.sequence.wrapping_add(1);
                let Ok(len) = header.write(frames.frame(out.codec, tick), &mut buf) else {
                    stats.send_errors += 1;
                    continue;
                };
                match out.socket.send_to(&buf[..len], out.destination) {
                    Ok(_) => stats.packets += 1,
                    Err(_) => stats.send_errors += 1,
                }
            }
            let work = now.elapsed();
            stats.work_max_us = stats.work_max_us.max(micros(work));
            work_us.push(u32::try_from(micros(work)).unwrap_or(u32::MAX));
            if work > sub_period {
                stats.overruns += 1;
            }
            if slot + 1 == slots {
                stats.ticks += 1;
            }
            sub += 1;
        }
    }

    fn apply(
        &self,
        command: SendCommand,
        streams: &mut Vec<Option<Outgoing>>,
        random: &mut Random,
        tick: u64,
    ) {
        match command {
            SendCommand::Start {
                leg,
                socket,
                destination,
                codec,
                payload_type,
                side,
            } => {
                if streams.len() <= leg {
                    streams.resize_with(leg + 1, || None);
                }
                match &mut streams[leg] {
                    // A new destination (re-INVITE): same stream, new address.
                    Some(out) => {
                        out.destination = destination;
                        out.codec = codec;
                        out.payload_type = payload_type;
                    }
                    slot => {
                        *slot = Some(Outgoing {
                            socket,
                            destination,
                            codec,
                            payload_type,
                            side,
                            ssrc: random.next_u32(),
                            sequence: random.next_u32() as u16,
                            timestamp_base: random.next_u32(),
                            first_tick: tick,
                            marker: true,
                        })
                    }
                }
            }
            SendCommand::Stop { leg } => {
                if let Some(slot) = streams.get_mut(leg) {
                    *slot = None;
                }
            }
        }
    }
}

/// What one leg's socket received, when the run ends.
pub(crate) struct LegResult {
    pub leg: usize,
    pub side: Side,
    pub stream: Stream,
}

/// What one receiver thread collected.
pub(crate) struct ReceiverResult {
    pub legs: Vec<LegResult>,
    pub pacing: Histogram,
    pub receive_errors: u64,
}

/// A receiver thread: waits for readiness on its legs' sockets.
pub(crate) struct ReceiverLoop {
    poll: Poll,
    /// Kept so the waker's registration lives as long as the poll.
    #[allow(dead_code)]
    waker: Arc<Waker>,
    inbox: Receiver<NewLeg>,
    streams: Vec<(Arc<UdpSocket>, LegResult)>,
    pacing: Histogram,
    receive_errors: u64,
}

impl ReceiverLoop {
    /// Runs until `stop` is set, reading every ready socket dry.
    pub(crate) fn run(mut self, phase: &AtomicU8, stop: &AtomicBool) -> ReceiverResult {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            // Nap, then collect whatever is ready without blocking: a thread
            // asleep in epoll_wait must be woken (an IPI, charged to the
            // *sending* process on loopback) for every packet, a cost the
            // server would never pay toward a phone across a network. Arrival
            // times come from the kernel, so reading late changes no figure.
            std::thread::sleep(RECEIVE_NAP);
            if let Err(e) = self.poll.poll(&mut events, Some(Duration::ZERO)) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                self.receive_errors += 1;
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            for event in events.iter() {
                if event.token() == WAKE {
                    self.take_new_legs(phase, &mut buf);
                } else {
                    self.drain(event.token().0, phase, &mut buf);
                }
            }
        }
        ReceiverResult {
            legs: self.streams.into_iter().map(|(_, leg)| leg).collect(),
            pacing: self.pacing,
            receive_errors: self.receive_errors,
        }
    }

    fn take_new_legs(&mut self, phase: &AtomicU8, buf: &mut [u8]) {
        while let Ok(new) = self.inbox.try_recv() {
            let slot = self.streams.len();
            let fd = new.socket.as_raw_fd();
            if self
                .poll
                .registry()
                .register(&mut SourceFd(&fd), Token(slot), Interest::READABLE)
                .is_err()
            {
                self.receive_errors += 1;
            }
            self.streams.push((
                new.socket,
                LegResult {
                    leg: new.leg,
                    side: new.side,
                    stream: Stream::new(),
                },
            ));
            // Whatever arrived before registration.
            self.drain(slot, phase, buf);
        }
    }

    fn drain(&mut self, slot: usize, phase: &AtomicU8, buf: &mut [u8]) {
        let Some((socket, leg)) = self.streams.get_mut(slot) else {
            return;
        };
        // Bounded: a socket that never runs dry (a flood) yields to the others.
        for _ in 0..10_000 {
            match recv_stamped(socket, buf) {
                Ok((n, arrival)) => {
                    let Some(bytes) = buf.get(..n) else { continue };
                    if classify(bytes) != PacketKind::Rtp {
                        continue; // RTCP, STUN or garbage
                    }
                    let Ok(packet) = RtpPacket::parse(bytes) else {
                        continue; // RTCP or garbage
                    };
                    let p = Arrival {
                        arrival,
                        payload_type: packet.payload_type(),
                        sequence_number: packet.sequence_number(),
                        timestamp: packet.timestamp(),
                        ssrc: packet.ssrc(),
                        payload: packet.payload(),
                    };
                    let phase = Phase::from_u8(phase.load(Ordering::Relaxed));
                    leg.stream.on_packet(&p, phase, &mut self.pacing);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // ICMP errors from earlier sends: keep reading.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                    ) => {}
                Err(_) => {
                    self.receive_errors += 1;
                    return;
                }
            }
        }
    }
}

/// Receives one datagram with its kernel arrival time (SO_TIMESTAMPNS),
/// mapped onto the monotonic clock; `Instant::now()` when the kernel gave
/// none.
pub(crate) fn recv_stamped(
    socket: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Instant)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(std::io::Error::from)?;
    let now = Instant::now();
    let mut arrival = now;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                let stamped = std::time::UNIX_EPOCH
                    + Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().max(0) as u32);
                if let Ok(age) = std::time::SystemTime::now().duration_since(stamped) {
                    arrival = now.checked_sub(age).unwrap_or(now);
                }
            }
        }
    }
    Ok((msg.bytes, arrival))
}

/// A non-blocking UDP socket on 127.0.0.1 whose datagrams carry the
/// kernel's arrival time: pacing must measure the server, not when a
/// thread of this tool got round to reading.
pub(crate) fn timestamped_socket() -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(("127.0.0.1", 0))?;
    socket.set_nonblocking(true)?;
    nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::ReceiveTimestampns,
        &true,
    )
    .map_err(std::io::Error::from)?;
    Ok(socket)
}
