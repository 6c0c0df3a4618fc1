//! The receive side of one leg's RTP session: its RTP/RTCP sockets, the
//! address media goes to, per-SSRC receive statistics and the hand-off of
//! received packets to whoever consumes the leg's audio.
//!
//! # Symmetric RTP and latching
//!
//! The SDP of a phone behind NAT names its private address, which cannot be
//! reached; the packets it sends arrive from the NAT's public mapping, and
//! only packets sent back to that mapping get through (RFC 4961, "symmetric
//! RTP"). So a session starts out sending to the SDP address and *latches*
//! to the address the peer's stream really comes from:
//! [`RtpSession::destination`] then reports that source, and the owner
//! moves the pacer there ([`PacerHandle::set_destination`]), watching
//! [`RtpSession::destination_changes`].
//!
//! Latching to whatever talks to the port invites hijacking. Random
//! datagrams of RTP size pass [`classify`](media::classify) and [`RtpPacket::parse`] about
//! one time in eight, so counting "valid RTP" let a flood of random bytes
//! from a few ports take the latch within milliseconds (issue 9: the
//! attacker's bytes were relayed to the callee and the call's audio sent to
//! the attacker); and a caller who sent nothing for a moment (silence
//! suppression, hold) was replaced by the first third party that streamed.
//! The rule now, a sans-IO state machine in [`media::latch`] (its module
//! doc has the details; `docs/configuration.md` "Media security" the
//! user's view):
//!
//! - only RTP version 2 *with a payload type the SDP negotiated*
//!   ([`SessionConfig::payload_types`], updated on a re-INVITE by
//!   [`RtpSession::set_remote`]) is offered to the latch — about 1
//!   random datagram in 500. Everything else is counted
//!   ([`SessionCounters::invalid`], [`SessionCounters::wrong_payload_type`])
//!   and dropped, from whatever source;
//! - a packet from the SDP address latches at once; another source only
//!   after a consistent stream (one SSRC, increasing sequence numbers) of
//!   [`media::latch::FIRST_LATCH_PACKETS`] packets;
//! - once latched, the session moves only when the latched source has been
//!   silent for [`media::latch::SILENCE`] (seconds, not packets: a flood
//!   can out-pace a phone, it cannot make it fall silent) and the new source
//!   has streamed consistently for [`media::latch::MOVE_PACKETS`] packets,
//!   or when the SDP address itself streams (the SDP is preferred);
//!   [`RtpSession::set_remote`] with a new RTP address starts over;
//! - with [`SessionConfig::strict_source`] only the SDP address is taken.
//!
//! A rejected packet is counted ([`SessionCounters::rejected_source`]) and
//! dropped before anything else sees it: no statistics, no consumer, no
//! recorder, no relay, no destination change. RTCP is taken only when it
//! parses ([`media::latch::rtcp_valid`]) and comes from the latched
//! source's IP (the SDP's before latching; in strict mode exactly the
//! SDP's RTCP address); only such RTCP on the RTCP port decides where our
//! reports go. A spoofer of the latched address, or one who streams while
//! the peer is silent for longer than the threshold, can still take the
//! stream; only SRTP or ICE connectivity checks close that.
//!
//! # The receive task
//!
//! [`RtpSession::start`] spawns one tokio task that owns both sockets and
//! waits on them. A datagram on the RTP port is demultiplexed with
//! [`classify`](media::classify) (RFC 5761 allows RTCP there); on the RTCP
//! port only RTCP is taken. RTP from the latched source updates the per-SSRC statistics of RFC 3550 A.1/A.8 (extended
//! highest sequence number, expected, lost, interarrival jitter; computed by
//! [`media::reception`]) and publishes them in atomics the owner reads with
//! [`RtpSession::stats`], and is handed to the consumer
//! as a [`ReceivedRtp`] with `try_send` into a bounded channel: a slow
//! consumer loses packets (counted), the socket is never left unread because
//! of it — media never waits on control. RTCP the rule above takes is
//! counted and read for the peer's reports. Receive errors are
//! counted and ignored: a connected socket sees `ECONNREFUSED` when a peer
//! (SIPp) sends from a port where nothing listens and our packets bounce.
//!
//! A leg in a conference room also hands each received 20 ms audio frame
//! to its [`MixerFeed`] ([`RtpSession::set_mixer_feed`]): a bounded queue
//! of fixed-size frames that the pacer thread drains into the room's mixer
//! at its next tick. The same rule holds: a full queue drops the frame
//! (counted in [`SessionCounters::mixer_dropped`]), the task never waits.
//! The feed is independent of the relay and of the consumer channel, so a
//! leg can be bridged to another call and in a room at once.
//!
//! The hot path screens and latches on the stack ([`media::latch`] holds a
//! fixed array of candidates), copies the payload into a fixed array inside
//! [`ReceivedRtp`] and updates relaxed atomics: no allocation and no lock
//! per packet.
//!
//! # Stopping
//!
//! Dropping the session (or [`RtpSession::close`], which also waits for the
//! task) ends the task at once; the sockets close with it, so the ports can
//! be bound again. The send socket handed out by [`RtpSession::send_socket`]
//! shares the RTP port and keeps it bound while any clone of it lives.
//!
//! [`PacerHandle::set_destination`]: crate::media::pacer::PacerHandle::set_destination

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::latch::{self, Decision, LatchConfig, PayloadTypes, Screened, SourceLatch};
use media::reception::{arrival_units, expected_packets, SourceReception};
use media::RtpPacket;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::media::pacer::{FeedError, MixerFeed, G711};
use crate::media::ports::RtpPortPair;
use crate::media::recorder::{RecorderTap, TapSet};
use crate::media::relay::{Relay, RelayConfig, RelayVerdict};
use crate::media::reports::{self, OutboundCounters, Reception, RemoteReport, Reporter};

mod live;
pub use live::{rtp_totals, RtpTotals};

/// Where a bridged leg's received RTP goes: out of the other leg's socket
/// to the other leg's (latched) peer, rewritten by a [`Relay`].
pub struct Forward {
    /// The other leg's RTP socket ([`RtpSession::send_socket`]).
    pub socket: Arc<StdUdpSocket>,
    /// The other leg's destination ([`RtpSession::destination_changes`]).
    pub destination: watch::Receiver<SocketAddr>,
    /// Payload mapping; built on the other leg's [`RtpSession::outbound`]
    /// stream, which it numbers and counts for that leg's RTCP.
    pub relay: Relay,
}

/// A change to what the receive task does with packets.
enum Control {
    Forward(Option<Box<Forward>>),
    RelayConfig(RelayConfig),
    Deliver(bool),
    Remote {
        rtp: SocketAddr,
        rtcp: SocketAddr,
        payload_types: PayloadTypes,
    },
    Tap(Option<Box<Tap>>),
    MixerFeed(Option<MixerFeed>),
}

/// A recorder fed with this leg's received audio.
struct Tap {
    tap: RecorderTap,
    codec: G711,
    payload_type: u8,
}

/// Why a control change did not reach the receive task.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Too many changes are queued; the task is not keeping up.
    #[error("the RTP session's control queue is full")]
    Full,
    /// The session's task has stopped.
    #[error("the RTP session has stopped")]
    Stopped,
}

/// Largest payload carried in a [`ReceivedRtp`]: 60 ms of G.711. Larger
/// payloads are dropped and counted in [`SessionCounters::oversized`].
pub const MAX_PAYLOAD: usize = 480;

/// Most SSRCs tracked per session; packets of further SSRCs are still
/// delivered but not in the statistics.
pub const MAX_SOURCES: usize = 4;

/// Control changes that may be queued for the receive task.
const CONTROL_QUEUE: usize = 16;

/// Most datagrams read from one socket per wake-up, so a flood on one leg
/// cannot starve the other tasks of the runtime.
const DRAIN_LIMIT: usize = 64;

/// Largest datagram read; anything longer is truncated by the kernel.
const RECEIVE_BUFFER: usize = 1500;

/// How a session is set up.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// RTP clock rate of the negotiated audio, for jitter (8000 for G.711).
    pub clock_rate: u32,
    /// Capacity of the channel of received packets.
    pub channel_capacity: usize,
    /// Mean time between our RTCP reports.
    pub rtcp_interval: Duration,
    /// The payload types the SDP negotiated (codec and telephone-event):
    /// RTP with any other is dropped and never counts toward latching.
    /// Defaults to what Switchboard offers (PCMU, PCMA, telephone-event 101).
    pub payload_types: PayloadTypes,
    /// Accept RTP only from the SDP's RTP address and RTCP only from its
    /// RTCP address (`media.strict_source`).
    pub strict_source: bool,
    /// The peer's RTCP address from the SDP (`a=rtcp`, else the RTP port
    /// plus one, which `None` also means).
    pub remote_rtcp: Option<SocketAddr>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            clock_rate: 8000,
            channel_capacity: 64,
            rtcp_interval: reports::REPORT_INTERVAL,
            payload_types: PayloadTypes::OFFERED,
            strict_source: false,
            remote_rtcp: None,
        }
    }
}

/// The RTCP address that goes with RTP address `rtp`: the port above it
/// (saturating, as the SDP's default RTCP address does).
fn rtcp_next_to(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1))
}

/// One received RTP packet, as handed to the consumer.
#[derive(Clone)]
pub struct ReceivedRtp {
    /// When the receive task read it.
    pub arrival: Instant,
    /// RTP payload type.
    pub payload_type: u8,
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// RTP SSRC.
    pub ssrc: u32,
    /// RTP marker bit.
    pub marker: bool,
    payload_len: u16,
    payload_bytes: [u8; MAX_PAYLOAD],
}

impl ReceivedRtp {
    /// The payload (padding removed).
    pub fn payload(&self) -> &[u8] {
        &self.payload_bytes[..usize::from(self.payload_len)]
    }

    /// A packet as the receive task would deliver it (tests of consumers).
    #[cfg(test)]
    pub(crate) fn for_test(
        payload_type: u8,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> ReceivedRtp {
        let len = payload.len().min(MAX_PAYLOAD);
        let mut payload_bytes = [0; MAX_PAYLOAD];
        payload_bytes[..len].copy_from_slice(&payload[..len]);
        ReceivedRtp {
            arrival: Instant::now(),
            payload_type,
            seq,
            timestamp,
            ssrc: 1,
            marker: false,
            payload_len: len as u16,
            payload_bytes,
        }
    }
}

impl std::fmt::Debug for ReceivedRtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedRtp")
            .field("arrival", &self.arrival)
            .field("payload_type", &self.payload_type)
            .field("seq", &self.seq)
            .field("timestamp", &self.timestamp)
            .field("ssrc", &self.ssrc)
            .field("marker", &self.marker)
            .field("payload_len", &self.payload_len)
            .finish()
    }
}

/// Receive statistics of one SSRC (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcStats {
    /// The source.
    pub ssrc: u32,
    /// Packets received (duplicates included, as in RFC 3550).
    pub packets: u64,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u64,
    /// Packets expected: highest − lowest extended sequence number + 1.
    pub expected: u64,
    /// Cumulative packets lost: expected − received, never below 0.
    pub lost: u64,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

/// Packet counts of a session, beyond the per-SSRC statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// RTP packets accepted from the latched source.
    pub rtp: u64,
    /// RTCP datagrams taken (valid, from the peer), on either port.
    pub rtcp: u64,
    /// Datagrams that are neither RTP nor RTCP, RTP that does not parse,
    /// RTCP from the peer that does not parse: dropped.
    pub invalid: u64,
    /// RTP that parses but with a payload type the SDP did not negotiate,
    /// from any source: dropped (random junk that got past [`classify`](media::classify)).
    pub wrong_payload_type: u64,
    /// Valid RTP from a source the latch does not accept, dropped: not the
    /// latched source, or a candidate that has not proven itself; and any
    /// datagram on the RTCP port (or RTCP on the RTP port) from a host other
    /// than the peer's, dropped unparsed.
    pub rejected_source: u64,
    /// Packets the consumer's full (or closed) channel could not take.
    pub consumer_drops: u64,
    /// RTP packets with a payload over [`MAX_PAYLOAD`], dropped.
    pub oversized: u64,
    /// Receive errors (`ECONNREFUSED` and the like), ignored.
    pub receive_errors: u64,
    /// Times the destination changed by latching.
    pub latches: u64,
    /// Packets relayed to the other leg.
    pub relayed: u64,
    /// Packets the relay would not forward (payload type not negotiated).
    pub relay_dropped: u64,
    /// Relayed packets the socket refused to send.
    pub send_errors: u64,
    /// RTCP reports we sent.
    pub rtcp_sent: u64,
    /// Audio frames the mixer feed's full queue could not take (the room's
    /// pacer is behind), or that arrived as the member left its room.
    pub mixer_dropped: u64,
}

/// A snapshot of a session's receive side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// One entry per tracked SSRC, in order of first arrival.
    pub sources: Vec<SsrcStats>,
    /// Session-wide counts.
    pub counters: SessionCounters,
    /// What the peer's RTCP last said about our stream.
    pub remote: Option<RemoteReport>,
}

impl ReceiveStats {
    /// The statistics of `ssrc`, if it was seen.
    pub fn source(&self, ssrc: u32) -> Option<&SsrcStats> {
        self.sources.iter().find(|s| s.ssrc == ssrc)
    }
}

/// One SSRC's published statistics (written by the receive task only).
#[derive(Default)]
struct SourceSlot {
    used: AtomicBool,
    ssrc: AtomicU32,
    packets: AtomicU64,
    base: AtomicU64,
    highest: AtomicU64,
    /// In timestamp units.
    jitter: AtomicU32,
}

/// State shared between the session and its task; single writer (the task).
#[derive(Default)]
struct Shared {
    sources: [SourceSlot; MAX_SOURCES],
    rtp: AtomicU64,
    rtcp: AtomicU64,
    invalid: AtomicU64,
    wrong_payload_type: AtomicU64,
    rejected_source: AtomicU64,
    consumer_drops: AtomicU64,
    oversized: AtomicU64,
    receive_errors: AtomicU64,
    latches: AtomicU64,
    relayed: AtomicU64,
    /// Payload bytes of the RTP counted in `rtp` and in `relayed`, for metrics.
    octets: AtomicU64,
    relayed_octets: AtomicU64,
    relay_dropped: AtomicU64,
    send_errors: AtomicU64,
    rtcp_sent: AtomicU64,
    mixer_dropped: AtomicU64,
    /// Recordings of what the peer says, besides the bridge's [`Tap`].
    taps: TapSet,
    /// Updated once per peer report, read by stats: never on the RTP path.
    remote: std::sync::Mutex<Option<RemoteReport>>,
}

impl Shared {
    /// The statistics of each tracked source, in order of first arrival:
    /// the one reading of the slots, for [`RtpSession::stats`] and metrics.
    fn source_stats(&self) -> impl Iterator<Item = SsrcStats> + '_ {
        self.sources
            .iter()
            .filter(|slot| slot.used.load(Ordering::Acquire))
            .map(|slot| {
                let packets = slot.packets.load(Ordering::Relaxed);
                let highest = slot.highest.load(Ordering::Relaxed);
                let base = slot.base.load(Ordering::Relaxed);
                let expected = expected_packets(base, highest, packets);
                SsrcStats {
                    ssrc: slot.ssrc.load(Ordering::Relaxed),
                    packets,
                    extended_highest_seq: highest,
                    expected,
                    lost: expected.saturating_sub(packets),
                    jitter: slot.jitter.load(Ordering::Relaxed),
                }
            })
    }
}

/// Adds one to a single-writer counter.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a single-writer counter.
fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// One leg's RTP session: owns the receive task, reports destination and stats.
pub struct RtpSession {
    local: SocketAddr,
    send_socket: Arc<StdUdpSocket>,
    destination: watch::Receiver<SocketAddr>,
    shared: Arc<Shared>,
    outbound: Arc<OutboundCounters>,
    control: mpsc::Sender<Control>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    /// Among the live sessions /metrics sums; counted as ended when dropped.
    _live: live::Registration,
}

impl std::fmt::Debug for RtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpSession")
            .field("local", &self.local)
            .field("destination", &self.destination())
            .finish()
    }
}

impl RtpSession {
    /// Takes over `pair`, starts receiving on it and returns the session with
    /// the channel of received RTP. `remote` is the RTP address from the SDP.
    /// Must be called inside a tokio runtime.
    pub fn start(
        pair: RtpPortPair,
        remote: SocketAddr,
        config: SessionConfig,
    ) -> io::Result<(RtpSession, mpsc::Receiver<ReceivedRtp>)> {
        let (packets_tx, packets_rx) = mpsc::channel(config.channel_capacity.max(1));
        let session = RtpSession::spawn(pair, remote, config, Some(packets_tx))?;
        Ok((session, packets_rx))
    }

    /// Like [`RtpSession::start`] for a leg whose packets only go to a relay
    /// or a recorder: no consumer channel exists (its buffer would cost
    /// ~16 KB per leg for nothing), and [`RtpSession::set_deliver`] has no effect.
    pub fn start_relay(
        pair: RtpPortPair,
        remote: SocketAddr,
        config: SessionConfig,
    ) -> io::Result<RtpSession> {
        RtpSession::spawn(pair, remote, config, None)
    }

    fn spawn(
        pair: RtpPortPair,
        remote: SocketAddr,
        config: SessionConfig,
        packets: Option<mpsc::Sender<ReceivedRtp>>,
    ) -> io::Result<RtpSession> {
        let local = pair.rtp.local_addr()?;
        let send_socket = Arc::new(pair.rtp.try_clone()?);
        pair.rtp.set_nonblocking(true)?;
        pair.rtcp.set_nonblocking(true)?;
        let rtp = UdpSocket::from_std(pair.rtp)?;
        let rtcp = UdpSocket::from_std(pair.rtcp)?;
        let (destination_tx, destination_rx) = watch::channel(remote);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let shared = Arc::new(Shared::default());
        let outbound = Arc::new(OutboundCounters::default());
        let receiver = Receiver {
            outbound: outbound.clone(),
            reporter: Reporter::default(),
            rtcp_interval: config.rtcp_interval,
            rtcp_peer: None,
            last_ssrc: None,
            cname: format!("switchboard@{}", local.ip()),
            forward: None,
            tap: None,
            mixer_feed: None,
            deliver: packets.is_some(),
            shared: shared.clone(),
            packets,
            destination: destination_tx,
            latch: SourceLatch::new(LatchConfig::new(remote, config.strict_source)),
            payload_types: config.payload_types,
            remote_rtcp: config.remote_rtcp.unwrap_or_else(|| rtcp_next_to(remote)),
            tracks: [Track::default(); MAX_SOURCES],
            clock_rate: config.clock_rate,
            epoch: Instant::now(),
        };
        // Boxed so the receiver's state is stored once, not also as the
        // unresumed async fn argument.
        let task = tokio::spawn(Box::new(receiver).run(rtp, rtcp, stop_rx, control_rx));
        let live = live::register(shared.clone(), outbound.clone(), config.clock_rate);
        Ok(RtpSession {
            local,
            send_socket,
            destination: destination_rx,
            shared,
            outbound,
            control: control_tx,
            stop: Some(stop_tx),
            task: Some(task),
            _live: live,
        })
    }

    /// The local RTP address (RTCP is on the next port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where RTP should be sent now: the SDP address until the session
    /// latches, then the latched source.
    pub fn destination(&self) -> SocketAddr {
        *self.destination.borrow()
    }

    /// A receiver that sees every destination change, for moving the pacer.
    pub fn destination_changes(&self) -> watch::Receiver<SocketAddr> {
        self.destination.clone()
    }

    /// A clone of the RTP socket for sending (the pacer's
    /// `StreamSetup::socket`), so the far end sees packets from the port it
    /// sends to.
    pub fn send_socket(&self) -> Arc<StdUdpSocket> {
        self.send_socket.clone()
    }

    /// The statistics of what is sent on this leg, which whoever feeds it
    /// updates ([`Forward::relay`]) and our RTCP sender reports read.
    pub fn outbound(&self) -> Arc<OutboundCounters> {
        self.outbound.clone()
    }

    /// Relays every packet from now on to another leg (`Some`), or stops
    /// relaying (`None`).
    pub fn set_forward(&self, forward: Option<Forward>) -> Result<(), ControlError> {
        self.control(Control::Forward(forward.map(Box::new)))
    }

    /// Changes the payload mapping of the running relay, keeping its numbering.
    pub fn set_relay_config(&self, config: RelayConfig) -> Result<(), ControlError> {
        self.control(Control::RelayConfig(config))
    }

    /// Applies what a new offer/answer (a re-INVITE, or the answer to
    /// ours) says about the peer, in one control change: its RTP address
    /// `rtp`, its RTCP address `rtcp` (`a=rtcp`, else the RTP port plus one)
    /// and the `payload_types` it negotiated. The RTCP address and payload
    /// types are always taken; only an RTP address that differs from the
    /// current SDP address points sends there and starts latching over.
    pub fn set_remote(
        &self,
        rtp: SocketAddr,
        rtcp: SocketAddr,
        payload_types: PayloadTypes,
    ) -> Result<(), ControlError> {
        self.control(Control::Remote {
            rtp,
            rtcp,
            payload_types,
        })
    }

    /// Copies received audio of `payload_type` (in `codec`) to a recorder
    /// (`Some`), or stops (`None`).
    pub fn set_tap(&self, tap: Option<(RecorderTap, G711, u8)>) -> Result<(), ControlError> {
        self.control(Control::Tap(tap.map(|(tap, codec, payload_type)| {
            Box::new(Tap {
                tap,
                codec,
                payload_type,
            })
        })))
    }

    /// The recordings fed with what the peer says (record components; the
    /// bridge's recorder uses [`RtpSession::set_tap`]). Taps added here
    /// take effect at once, without a control message.
    pub fn taps(&self) -> &TapSet {
        &self.shared.taps
    }

    /// Feeds every received audio frame (one 20 ms G.711 payload of the
    /// feed's payload type) to a room member's queue in the pacer (`Some`),
    /// or stops (`None`). Independent of the relay and of delivery: a leg
    /// may be bridged to another call and in a room at once.
    pub fn set_mixer_feed(&self, feed: Option<MixerFeed>) -> Result<(), ControlError> {
        self.control(Control::MixerFeed(feed))
    }

    /// Whether received packets are also handed to the consumer channel. A
    /// pure bridge turns this off so nothing copies packets nobody reads.
    pub fn set_deliver(&self, deliver: bool) -> Result<(), ControlError> {
        self.control(Control::Deliver(deliver))
    }

    fn control(&self, control: Control) -> Result<(), ControlError> {
        self.control.try_send(control).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ControlError::Full,
            mpsc::error::TrySendError::Closed(_) => ControlError::Stopped,
        })
    }

    /// A snapshot of the receive statistics.
    pub fn stats(&self) -> ReceiveStats {
        let s = &self.shared;
        let sources = s.source_stats().collect();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReceiveStats {
            sources,
            counters: SessionCounters {
                rtp: load(&s.rtp),
                rtcp: load(&s.rtcp),
                invalid: load(&s.invalid),
                wrong_payload_type: load(&s.wrong_payload_type),
                rejected_source: load(&s.rejected_source),
                consumer_drops: load(&s.consumer_drops),
                oversized: load(&s.oversized),
                receive_errors: load(&s.receive_errors),
                latches: load(&s.latches),
                relayed: load(&s.relayed),
                relay_dropped: load(&s.relay_dropped),
                send_errors: load(&s.send_errors),
                rtcp_sent: load(&s.rtcp_sent),
                mixer_dropped: load(&s.mixer_dropped),
            },
            remote: *s.remote.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Stops the receive task and waits until it has ended and closed the
    /// sockets.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RtpSession {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The receive task's private per-SSRC statistics.
#[derive(Debug, Clone, Copy, Default)]
struct Track {
    ssrc: Option<u32>,
    reception: SourceReception,
}

/// The receive task.
struct Receiver {
    outbound: Arc<OutboundCounters>,
    reporter: Reporter,
    rtcp_interval: Duration,
    /// Where the peer's RTCP comes from (symmetric RTCP), once valid RTCP
    /// from the latched source's IP arrived on the RTCP port.
    rtcp_peer: Option<SocketAddr>,
    /// SSRC of the last accepted RTP packet: the source our reports cover.
    last_ssrc: Option<u32>,
    cname: String,
    forward: Option<Box<Forward>>,
    tap: Option<Box<Tap>>,
    /// The room this leg is a member of, fed each received audio frame.
    mixer_feed: Option<MixerFeed>,
    deliver: bool,
    shared: Arc<Shared>,
    packets: Option<mpsc::Sender<ReceivedRtp>>,
    destination: watch::Sender<SocketAddr>,
    latch: SourceLatch,
    payload_types: PayloadTypes,
    /// The peer's RTCP address from the SDP.
    remote_rtcp: SocketAddr,
    tracks: [Track; MAX_SOURCES],
    clock_rate: u32,
    epoch: Instant,
}

impl Receiver {
    async fn run(
        mut self: Box<Self>,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        mut stop: oneshot::Receiver<()>,
        mut control: mpsc::Receiver<Control>,
    ) {
        // The receive buffer lives on the stack inside each branch, never
        // across an await, so it is not part of the task's resting state
        // (1.5 KB per leg, thousands of legs).
        let report_timer = tokio::time::sleep(reports::next_interval(self.rtcp_interval));
        tokio::pin!(report_timer);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = &mut report_timer => {
                    self.send_report(&rtcp);
                    let next = reports::next_interval(self.rtcp_interval);
                    report_timer.as_mut().reset(tokio::time::Instant::now() + next);
                }
                Some(change) = control.recv() => self.on_control(change),
                // `poll_recv_ready` keeps one waker slot per socket; the
                // `readable()` future would take the socket's waiter-list
                // lock on every turn of this loop.
                ready = std::future::poll_fn(|cx| rtp.poll_recv_ready(cx)) => {
                    if ready.is_err() {
                        bump(&self.shared.receive_errors);
                        continue;
                    }
                    let mut buf = [0u8; RECEIVE_BUFFER];
                    for _ in 0..DRAIN_LIMIT {
                        match rtp.try_recv_from(&mut buf) {
                            Ok((len, from)) => self.on_rtp_port(&mut buf[..len], from),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            // ECONNREFUSED and the like: counted, never fatal.
                            Err(_) => bump(&self.shared.receive_errors),
                        }
                    }
                }
                ready = std::future::poll_fn(|cx| rtcp.poll_recv_ready(cx)) => {
                    if ready.is_err() {
                        bump(&self.shared.receive_errors);
                        continue;
                    }
                    let mut buf = [0u8; RECEIVE_BUFFER];
                    for _ in 0..DRAIN_LIMIT {
                        match rtcp.try_recv_from(&mut buf) {
                            // `take_rtcp` checks the SR/RR start itself.
                            Ok((len, from)) => {
                                if self.take_rtcp(&buf[..len], from, false) {
                                    self.rtcp_peer = Some(from);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => bump(&self.shared.receive_errors),
                        }
                    }
                }
            }
        }
        // RTCP BYE: the peer can drop our source at once (RFC 3550 §6.6).
        if let (Some(ssrc), Some(to)) = (self.outbound.ssrc(), self.rtcp_destination()) {
            let mut buf = [0u8; media::rtcp::BYE_LEN];
            if let Ok(len) = media::rtcp::write_bye(ssrc, &mut buf) {
                let _ = rtcp.try_send_to(&buf[..len], to);
            }
        }
    }

    fn on_control(&mut self, change: Control) {
        match change {
            Control::Forward(forward) => self.forward = forward,
            Control::RelayConfig(config) => {
                if let Some(forward) = self.forward.as_mut() {
                    forward.relay.set_config(config);
                }
            }
            Control::Deliver(deliver) => self.deliver = deliver && self.packets.is_some(),
            Control::Tap(tap) => self.tap = tap,
            Control::MixerFeed(feed) => self.mixer_feed = feed,
            Control::Remote {
                rtp,
                rtcp,
                payload_types,
            } => {
                if rtp != self.latch.config().sdp {
                    self.latch.reset(rtp);
                    self.rtcp_peer = None;
                    self.destination.send_replace(rtp);
                }
                self.remote_rtcp = rtcp;
                self.payload_types = payload_types;
            }
        }
    }

    /// Where our RTCP goes: where the peer's (accepted) RTCP comes from;
    /// else next to the latched RTP source when that is not the SDP address;
    /// else the SDP's RTCP address (strict mode only ever latches the SDP
    /// address, so it always ends here).
    fn rtcp_destination(&self) -> Option<SocketAddr> {
        if self.rtcp_peer.is_some() {
            return self.rtcp_peer;
        }
        let to = match self.latch.latched() {
            Some(rtp) if rtp != self.latch.config().sdp => rtcp_next_to(rtp),
            _ => self.remote_rtcp,
        };
        (to.port() != 0 && !to.ip().is_unspecified()).then_some(to)
    }

    /// Takes an RTCP datagram from `from` (on the RTP port when `muxed`) if
    /// it comes from the peer and parses: counted and read, or counted and
    /// dropped. The source is checked first, so nothing from elsewhere is
    /// walked (it counts as [`SessionCounters::rejected_source`], parsed or
    /// not). Returns whether it was taken.
    fn take_rtcp(&mut self, datagram: &[u8], from: SocketAddr, muxed: bool) -> bool {
        let config = self.latch.config();
        let allowed = if config.strict {
            from == self.remote_rtcp || (muxed && from == config.sdp)
        } else {
            from.ip() == self.latch.destination().ip()
        };
        if !allowed {
            bump(&self.shared.rejected_source);
            return false;
        }
        if !latch::rtcp_valid(datagram) {
            bump(&self.shared.invalid);
            return false;
        }
        bump(&self.shared.rtcp);
        self.on_rtcp(datagram);
        true
    }

    fn send_report(&mut self, rtcp: &UdpSocket) {
        let Some(to) = self.rtcp_destination() else {
            return;
        };
        let reception = self.last_ssrc.and_then(|ssrc| {
            let track = &self.tracks.iter().find(|t| t.ssrc == Some(ssrc))?.reception;
            Some(Reception {
                ssrc,
                totals: track.totals(),
                extended_highest_seq: track.highest(),
                jitter: track.jitter(),
            })
        });
        let mut buf = [0u8; reports::MAX_REPORT];
        let now = Instant::now();
        if let Some(len) =
            self.reporter
                .write(&self.outbound, reception, &self.cname, now, &mut buf)
        {
            if rtcp.try_send_to(&buf[..len], to).is_ok() {
                bump(&self.shared.rtcp_sent);
            }
        }
    }

    fn on_rtcp(&mut self, datagram: &[u8]) {
        let before = self.reporter.remote;
        self.reporter
            .receive(datagram, self.outbound.stream_ssrc(), Instant::now());
        if self.reporter.remote != before {
            *self.shared.remote.lock().unwrap_or_else(|e| e.into_inner()) = self.reporter.remote;
        }
    }

    fn on_rtp_port(&mut self, bytes: &mut [u8], from: SocketAddr) {
        let arrival = Instant::now();
        let packet = match latch::screen(bytes, self.payload_types) {
            Screened::Rtp(packet) => packet,
            Screened::Rtcp => {
                self.take_rtcp(bytes, from, true);
                return;
            }
            Screened::PayloadType => return bump(&self.shared.wrong_payload_type),
            Screened::Invalid => return bump(&self.shared.invalid),
        };
        match self
            .latch
            .offer(from, packet.ssrc(), packet.sequence_number(), arrival)
        {
            Decision::Reject(_) => return bump(&self.shared.rejected_source),
            Decision::Latched(addr) | Decision::Moved(addr) => {
                if *self.destination.borrow() != addr {
                    bump(&self.shared.latches);
                    self.destination.send_replace(addr);
                }
                // RTCP from the old source's host no longer decides where
                // our reports go.
                if self.rtcp_peer.is_some_and(|peer| peer.ip() != addr.ip()) {
                    self.rtcp_peer = None;
                }
            }
            Decision::Accept => {}
        }
        bump(&self.shared.rtp);
        self.last_ssrc = Some(packet.ssrc());
        self.update_stats(&packet, arrival);
        let payload = packet.payload();
        add(&self.shared.octets, payload.len());
        if payload.len() > MAX_PAYLOAD {
            return bump(&self.shared.oversized);
        }
        if let Some(tap) = &self.tap {
            if packet.payload_type() == tap.payload_type {
                tap.tap.push(arrival, tap.codec, payload);
            }
        }
        self.shared
            .taps
            .push(arrival, packet.payload_type(), payload);
        if let Some(feed) = &self.mixer_feed {
            if feed.accepts(packet.payload_type(), payload.len()) {
                match feed.push(packet.sequence_number(), payload) {
                    Ok(()) => {}
                    Err(FeedError::Full) => bump(&self.shared.mixer_dropped),
                    // The member left: nothing reads this feed any more.
                    Err(FeedError::Closed) => {
                        bump(&self.shared.mixer_dropped);
                        self.mixer_feed = None;
                    }
                }
            }
        }
        let consumer = match (&self.packets, self.deliver) {
            (Some(packets), true) => packets,
            _ => {
                let range = packet.header_len()..packet.header_len() + payload.len();
                return self.relay(bytes, range, arrival);
            }
        };
        let mut received = ReceivedRtp {
            arrival,
            payload_type: packet.payload_type(),
            seq: packet.sequence_number(),
            timestamp: packet.timestamp(),
            ssrc: packet.ssrc(),
            marker: packet.marker(),
            // `len <= MAX_PAYLOAD`, checked above, fits in u16.
            payload_len: payload.len() as u16,
            payload_bytes: [0; MAX_PAYLOAD],
        };
        received.payload_bytes[..payload.len()].copy_from_slice(payload);
        let range = packet.header_len()..packet.header_len() + payload.len();
        if consumer.try_send(received).is_err() {
            bump(&self.shared.consumer_drops);
        }
        self.relay(bytes, range, arrival);
    }

    /// Rewrites the packet in place and sends it out of the other leg.
    fn relay(&mut self, bytes: &mut [u8], payload: std::ops::Range<usize>, now: Instant) {
        let Some(forward) = self.forward.as_mut() else {
            return;
        };
        let payload_len = payload.len();
        match forward.relay.rewrite(bytes, payload, now) {
            RelayVerdict::Drop => bump(&self.shared.relay_dropped),
            RelayVerdict::Forward => {
                let destination = *forward.destination.borrow();
                // Non-blocking: a full send buffer or a peer's ICMP error
                // (ECONNREFUSED) loses this packet, never the session.
                match forward.socket.send_to(bytes, destination) {
                    Ok(_) => {
                        bump(&self.shared.relayed);
                        add(&self.shared.relayed_octets, payload_len);
                    }
                    Err(_) => bump(&self.shared.send_errors),
                }
            }
        }
    }

    fn update_stats(&mut self, packet: &RtpPacket<'_>, arrival: Instant) {
        let ssrc = packet.ssrc();
        let index = match self.tracks.iter().position(|t| t.ssrc == Some(ssrc)) {
            Some(i) => i,
            None => match self.tracks.iter().position(|t| t.ssrc.is_none()) {
                Some(i) => {
                    self.tracks[i].ssrc = Some(ssrc);
                    i
                }
                None => return,
            },
        };
        let track = &mut self.tracks[index].reception;
        let first = track.packets() == 0;
        let units = arrival_units(arrival.duration_since(self.epoch), self.clock_rate);
        track.record(packet.sequence_number(), packet.timestamp(), units);

        let slot = &self.shared.sources[index];
        slot.ssrc.store(ssrc, Ordering::Relaxed);
        slot.packets.store(track.packets(), Ordering::Relaxed);
        slot.base.store(track.base(), Ordering::Relaxed);
        slot.highest.store(track.highest(), Ordering::Relaxed);
        slot.jitter.store(track.jitter(), Ordering::Relaxed);
        if first {
            slot.used.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod mixer_feed_tests;
