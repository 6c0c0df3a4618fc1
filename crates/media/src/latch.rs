//! Which address a leg's RTP really comes from: symmetric-RTP latching
//! (RFC 4961) that a third party cannot take over, as a state machine
//! without I/O or clock.
//!
//! A phone behind NAT names its private address in its SDP; its packets
//! arrive from the NAT's public mapping, and only packets sent back there
//! reach it. So a session sends to the SDP address until the peer's stream
//! shows where it really is, then *latches* to that source. Latching to
//! whatever reaches the port invites hijacking: random datagrams of RTP size
//! pass [`classify`] and [`RtpPacket::parse`] about one time in eight, and a
//! caller on hold sends nothing at all. The rule here:
//!
//! - **Screening** ([`screen`]): only a datagram that parses as RTP version
//!   2 *with a payload type the SDP negotiated* ([`PayloadTypes`]) is offered
//!   to the latch; about 1 random datagram in 500 passes (2 payload types of
//!   128, times 1 in 8 that parse), and nothing else ever counts. RTCP must
//!   parse as a compound packet starting with SR or RR ([`rtcp_valid`]); the
//!   session takes it only from the latched source's IP (the SDP's before
//!   latching).
//! - **First latch**: a packet from the address the SDP named latches at
//!   once. Another source latches only after a *consistent stream*:
//!   [`FIRST_LATCH_PACKETS`] packets of one SSRC with increasing sequence
//!   numbers (steps of 1 to [`MAX_SEQUENCE_STEP`], across the 65535 → 0
//!   wrap). Until then the session sends to the SDP address and drops the
//!   candidate's packets.
//! - **Moving**: once latched, the session moves only when the latched
//!   source has been silent for [`SILENCE`] and the new source has sent a
//!   consistent stream of [`MOVE_PACKETS`] packets (a NAT mapping that really
//!   changed), or when the SDP's own address streams consistently for
//!   [`FIRST_LATCH_PACKETS`] packets (the SDP is preferred: a peer that
//!   sends from where it said it would is never the impostor).
//!   [`SourceLatch::reset`] (a re-INVITE moved the peer) starts over.
//! - **Candidates**: up to [`CANDIDATES`] other sources are followed at once,
//!   each with its own stream, so junk from several ports cannot keep
//!   resetting a genuine new source. A packet that does not continue its
//!   address's stream (other SSRC, sequence number out of step) restarts
//!   only that address's stream; a duplicate or late packet (up to
//!   [`MAX_SEQUENCE_STEP`] behind) is dropped without restarting it.
//!   When a new address finds every slot taken, the slot given up is the
//!   least promising: one idle for [`CANDIDATE_TIMEOUT`], else the one with
//!   the fewest consistent packets, then the most restarts (an address
//!   sending random SSRCs), then the most recently started (so a flood from
//!   ever-new ports churns its own slots, not the slot of a source that was
//!   there first).
//! - **Strict** ([`LatchConfig::strict`], rtpengine's strict-source): only
//!   the SDP address is ever accepted.
//!
//! What remains: a sender that can spoof the latched address, or that
//! streams well-formed RTP before the peer's first packet or while the peer
//! is silent for [`SILENCE`] (hold without a re-INVITE, a phone that sends
//! nothing), can still take the stream — and loses it again as soon as the
//! SDP address streams (a peer behind NAT cannot win it back that way).
//! Only SRTP or ICE connectivity checks close that.
//!
//! Every decision takes the packet's arrival time, so tests run in virtual
//! time. [`SourceLatch::offer`] neither allocates nor loops over more than
//! [`CANDIDATES`] slots.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use media::latch::{Decision, LatchConfig, Reject, SourceLatch};
//!
//! let sdp: SocketAddr = "192.168.1.10:4000".parse()?; // a phone behind NAT
//! let nat: SocketAddr = "203.0.113.7:61002".parse()?;
//! let mut latch = SourceLatch::new(LatchConfig::new(sdp, false));
//! let t0 = Instant::now();
//! let at = |n: u32| t0 + Duration::from_millis(20 * u64::from(n));
//! assert_eq!(latch.offer(nat, 0xfeed, 100, at(0)), Decision::Reject(Reject::Unproven));
//! assert_eq!(latch.offer(nat, 0xfeed, 101, at(1)), Decision::Reject(Reject::Unproven));
//! assert_eq!(latch.offer(nat, 0xfeed, 102, at(2)), Decision::Latched(nat));
//! assert_eq!(latch.offer(nat, 0xfeed, 103, at(3)), Decision::Accept);
//! assert_eq!(latch.destination(), nat);
//! # Ok::<(), std::net::AddrParseError>(())
//! ```
//!
//! [`classify`]: crate::rtp::classify

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtcp::{RtcpIter, RtcpPacket};
use crate::rtp::{classify, PacketKind, RtpPacket};
use crate::sequence::seq_diff;

/// Packets of one consistent stream a source other than the SDP address
/// must send before the first latch (and the SDP address, to take the
/// stream back from another source).
pub const FIRST_LATCH_PACKETS: u32 = 3;

/// Packets of one consistent stream a new source must send before the
/// session moves to it, once the latched source is [`SILENCE`]d.
pub const MOVE_PACKETS: u32 = 5;

/// How long the latched source must have sent nothing before another source
/// may take its place (a NAT mapping that changed; a hold longer than this
/// without a re-INVITE opens the same door).
pub const SILENCE: Duration = Duration::from_secs(2);

/// Other sources followed at once.
pub const CANDIDATES: usize = 4;

/// Largest sequence-number step that still continues a stream (a few lost
/// packets); anything further restarts the candidate's count.
pub const MAX_SEQUENCE_STEP: u16 = 32;

/// A candidate that has sent nothing for this long counts for nothing:
/// its slot is the first given up and its next packet starts a new stream.
pub const CANDIDATE_TIMEOUT: Duration = Duration::from_secs(1);

/// A set of RTP payload types (0–127) in 128 bits: copied, compared and
/// tested without allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PayloadTypes(u128);

impl PayloadTypes {
    /// The empty set.
    pub const EMPTY: PayloadTypes = PayloadTypes(0);

    /// What Switchboard offers: PCMU (0), PCMA (8) and telephone-event on 101.
    pub const OFFERED: PayloadTypes = PayloadTypes::EMPTY.with(0).with(8).with(101);

    /// This set plus `payload_type`; values above 127 are ignored.
    pub const fn with(self, payload_type: u8) -> PayloadTypes {
        if payload_type > 127 {
            return self;
        }
        PayloadTypes(self.0 | 1u128 << payload_type)
    }

    /// Whether `payload_type` is in the set.
    pub const fn contains(self, payload_type: u8) -> bool {
        payload_type <= 127 && self.0 & (1u128 << payload_type) != 0
    }
}

/// What one datagram on an RTP port is, as far as latching is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screened<'a> {
    /// RTP version 2 that parses, with a negotiated payload type: may be
    /// offered to the latch.
    Rtp(RtpPacket<'a>),
    /// Classified as RTCP (RFC 5761 mux); check it with [`rtcp_valid`].
    Rtcp,
    /// RTP that parses but carries a payload type not negotiated.
    PayloadType,
    /// Not RTP version 2, or RTP that does not parse.
    Invalid,
}

/// Sorts a datagram received on an RTP port: [`classify`], then
/// [`RtpPacket::parse`], then the payload type against `negotiated`.
///
/// [`classify`]: crate::rtp::classify
#[inline]
pub fn screen(datagram: &[u8], negotiated: PayloadTypes) -> Screened<'_> {
    match classify(datagram) {
        PacketKind::Rtp => {}
        PacketKind::Rtcp(_) => return Screened::Rtcp,
        PacketKind::Other => return Screened::Invalid,
    }
    match RtpPacket::parse(datagram) {
        Ok(packet) if negotiated.contains(packet.payload_type()) => Screened::Rtp(packet),
        Ok(_) => Screened::PayloadType,
        Err(_) => Screened::Invalid,
    }
}

/// Whether `datagram` is valid compound RTCP (RFC 3550 A.2): every packet
/// parses, lengths add up to the datagram, and the first is an SR or RR.
pub fn rtcp_valid(datagram: &[u8]) -> bool {
    let mut packets = RtcpIter::new(datagram);
    match packets.next() {
        Some(Ok(RtcpPacket::SenderReport(_) | RtcpPacket::ReceiverReport(_))) => {}
        _ => return false,
    }
    packets.all(|packet| packet.is_ok())
}

/// How a [`SourceLatch`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchConfig {
    /// The RTP address the peer's SDP named.
    pub sdp: SocketAddr,
    /// Accept nothing but `sdp` (rtpengine's strict-source).
    pub strict: bool,
}

impl LatchConfig {
    /// The documented rule ([`FIRST_LATCH_PACKETS`], [`MOVE_PACKETS`],
    /// [`SILENCE`]) for a peer whose SDP named `sdp`.
    pub fn new(sdp: SocketAddr, strict: bool) -> LatchConfig {
        LatchConfig { sdp, strict }
    }
}

/// What [`SourceLatch::offer`] decided about one screened RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// From the latched source: accept.
    Accept,
    /// The first latch, to this source: accept, and send there from now on.
    Latched(SocketAddr),
    /// The session moved from another latched source to this one: accept,
    /// and send there from now on.
    Moved(SocketAddr),
    /// Drop the packet: never deliver, relay or answer it.
    Reject(Reject),
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Strict mode, and the packet is not from the SDP address.
    NotSdpAddress,
    /// Its source has not yet sent a consistent stream long enough.
    Unproven,
    /// Its source has sent a consistent stream, but the latched source was
    /// heard less than [`SILENCE`] ago.
    LatchedActive,
}

/// The latched source.
#[derive(Debug, Clone, Copy)]
struct Latched {
    addr: SocketAddr,
    /// Its last accepted packet.
    last: Instant,
}

/// Another source and the stream it is sending.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    ssrc: u32,
    /// Highest sequence number of the current stream.
    seq: u16,
    /// Consistent packets of the current stream.
    packets: u32,
    /// Times this address's stream started over.
    restarts: u32,
    /// When the current stream started, as the latch's count of packets
    /// followed (unambiguous even for packets of the same instant).
    started: u64,
    /// The last packet from this address.
    last: Instant,
}

impl Candidate {
    fn new(addr: SocketAddr, ssrc: u32, seq: u16, now: Instant, order: u64) -> Candidate {
        Candidate {
            addr,
            ssrc,
            seq,
            packets: 1,
            restarts: 0,
            started: order,
            last: now,
        }
    }

    /// Counts a packet of this address into its stream.
    fn offer(&mut self, ssrc: u32, seq: u16, now: Instant, order: u64) {
        let idle = now.saturating_duration_since(self.last) >= CANDIDATE_TIMEOUT;
        self.last = now;
        let step = i32::from(seq_diff(seq, self.seq));
        let max = i32::from(MAX_SEQUENCE_STEP);
        if idle || ssrc != self.ssrc {
            self.restart(ssrc, seq, order);
        } else if (1..=max).contains(&step) {
            self.seq = seq;
            self.packets = self.packets.saturating_add(1);
        } else if !(-max..=0).contains(&step) {
            self.restart(ssrc, seq, order);
        }
        // Else a duplicate or a late packet: no progress, no restart.
    }

    fn restart(&mut self, ssrc: u32, seq: u16, order: u64) {
        self.ssrc = ssrc;
        self.seq = seq;
        self.packets = 1;
        self.restarts = self.restarts.saturating_add(1);
        self.started = order;
    }

    /// How readily the slot is given up for a new address: larger first.
    fn eviction_rank(&self, now: Instant) -> (bool, std::cmp::Reverse<u32>, u32, u64) {
        (
            now.saturating_duration_since(self.last) >= CANDIDATE_TIMEOUT,
            std::cmp::Reverse(self.packets),
            self.restarts,
            self.started,
        )
    }
}

/// The latching state machine of the [module doc](self): one per RTP session.
#[derive(Debug, Clone)]
pub struct SourceLatch {
    config: LatchConfig,
    latched: Option<Latched>,
    candidates: [Option<Candidate>; CANDIDATES],
    /// Packets followed so far: orders the candidates' streams.
    followed: u64,
}

impl SourceLatch {
    /// A latch that has latched to nothing: [`SourceLatch::destination`] is
    /// the SDP address.
    pub fn new(config: LatchConfig) -> SourceLatch {
        SourceLatch {
            config,
            latched: None,
            candidates: [None; CANDIDATES],
            followed: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LatchConfig {
        &self.config
    }

    /// Starts over toward a new SDP address (a re-INVITE moved the peer).
    pub fn reset(&mut self, sdp: SocketAddr) {
        self.config.sdp = sdp;
        self.latched = None;
        self.candidates = [None; CANDIDATES];
    }

    /// The latched source, if any.
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched.map(|l| l.addr)
    }

    /// Where to send: the latched source, else the SDP address.
    pub fn destination(&self) -> SocketAddr {
        self.latched().unwrap_or(self.config.sdp)
    }

    /// Decides about one packet that [`screen`] passed: from `from`, with
    /// `ssrc` and sequence number `seq`, arrived at `now`.
    #[inline]
    pub fn offer(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Decision {
        // The common case, every packet of the call, inlined into the receive loop.
        if let Some(latched) = self.latched.as_mut() {
            if latched.addr == from {
                latched.last = now;
                return Decision::Accept;
            }
        }
        self.offer_other(from, ssrc, seq, now)
    }

    /// [`SourceLatch::offer`] for a packet not from the latched source.
    fn offer_other(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Decision {
        let sdp = self.config.sdp;
        if self.config.strict && from != sdp {
            return Decision::Reject(Reject::NotSdpAddress);
        }
        let Some(latched) = self.latched else {
            if from == sdp {
                return self.latch(from, now, Decision::Latched(from));
            }
            let candidate = self.follow(from, ssrc, seq, now);
            if candidate.packets >= FIRST_LATCH_PACKETS {
                return self.latch(from, now, Decision::Latched(from));
            }
            return Decision::Reject(Reject::Unproven);
        };
        let candidate = self.follow(from, ssrc, seq, now);
        if from == sdp {
            return if candidate.packets >= FIRST_LATCH_PACKETS {
                self.latch(from, now, Decision::Moved(from))
            } else {
                Decision::Reject(Reject::Unproven)
            };
        }
        if candidate.packets < MOVE_PACKETS {
            return Decision::Reject(Reject::Unproven);
        }
        if now.saturating_duration_since(latched.last) < SILENCE {
            return Decision::Reject(Reject::LatchedActive);
        }
        self.latch(from, now, Decision::Moved(from))
    }

    fn latch(&mut self, addr: SocketAddr, now: Instant, decision: Decision) -> Decision {
        self.latched = Some(Latched { addr, last: now });
        for slot in &mut self.candidates {
            if slot.is_some_and(|c| c.addr == addr) {
                *slot = None;
            }
        }
        decision
    }

    /// Counts the packet into `from`'s stream, taking a slot if needed.
    fn follow(&mut self, from: SocketAddr, ssrc: u32, seq: u16, now: Instant) -> Candidate {
        self.followed = self.followed.wrapping_add(1);
        let order = self.followed;
        if let Some(candidate) = self
            .candidates
            .iter_mut()
            .flatten()
            .find(|c| c.addr == from)
        {
            candidate.offer(ssrc, seq, now, order);
            return *candidate;
        }
        let fresh = Candidate::new(from, ssrc, seq, now, order);
        let slot = match self.candidates.iter().position(Option::is_none) {
            Some(free) => free,
            None => (0..CANDIDATES)
                .max_by_key(|&i| self.candidates[i].map(|c| c.eviction_rank(now)))
                .unwrap_or(0),
        };
        self.candidates[slot] = Some(fresh);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;
    use proptest::prelude::*;

    const PCMU: u8 = 0;
    const EVENT: u8 = 101;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn latch(sdp: u16) -> SourceLatch {
        SourceLatch::new(LatchConfig::new(addr(sdp), false))
    }

    /// A stream of one SSRC from one address, one packet per 20 ms.
    struct Stream {
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
    }

    impl Stream {
        fn new(port: u16, ssrc: u32, seq: u16) -> Stream {
            Stream {
                from: addr(port),
                ssrc,
                seq,
            }
        }

        fn send(&mut self, latch: &mut SourceLatch, now: Instant) -> Decision {
            let decision = latch.offer(self.from, self.ssrc, self.seq, now);
            self.seq = self.seq.wrapping_add(1);
            decision
        }
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A random datagram of 300–1,400 bytes, as the issue's attacker sent.
        fn junk<'a>(&mut self, buf: &'a mut [u8; 1400]) -> &'a [u8] {
            let len = 300 + self.below(1101) as usize;
            for chunk in buf[..len].chunks_mut(8) {
                let word = self.next().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            &buf[..len]
        }
    }

    const NEGOTIATED: PayloadTypes = PayloadTypes::EMPTY.with(PCMU).with(EVENT);

    /// Runs a junk datagram through the receive path's screening and, if it
    /// passes, the latch.
    fn offer_junk(
        latch: &mut SourceLatch,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
    ) -> Option<Decision> {
        match screen(datagram, NEGOTIATED) {
            Screened::Rtp(p) => Some(latch.offer(from, p.ssrc(), p.sequence_number(), now)),
            _ => None,
        }
    }

    #[test]
    fn payload_type_set() {
        let set = [0u8, 8, 101, 200]
            .into_iter()
            .fold(PayloadTypes::EMPTY, PayloadTypes::with);
        assert!(set.contains(0) && set.contains(8) && set.contains(101) && !set.contains(127));
        assert!(!set.contains(200) && !set.contains(1));
        assert_eq!(set, PayloadTypes::OFFERED);
        assert_eq!(
            (0u8..=255)
                .filter(|&pt| set.contains(pt))
                .collect::<Vec<_>>(),
            vec![0, 8, 101]
        );
        assert!((0u8..=255).all(|pt| !PayloadTypes::EMPTY.contains(pt)));
        let high = PayloadTypes::EMPTY.with(127);
        assert!(high.contains(127) && !high.contains(126));
    }

    #[test]
    fn screening_sorts_datagrams() {
        let mut buf = [0u8; 200];
        let header = RtpHeader {
            payload_type: PCMU,
            sequence_number: 7,
            ssrc: 9,
            ..RtpHeader::default()
        };
        let len = header.write(&[0xff; 160], &mut buf).unwrap();
        assert!(matches!(screen(&buf[..len], NEGOTIATED), Screened::Rtp(p) if p.ssrc() == 9));
        let len = RtpHeader {
            payload_type: 8,
            ..header
        }
        .write(&[0xff; 160], &mut buf)
        .unwrap();
        assert_eq!(screen(&buf[..len], NEGOTIATED), Screened::PayloadType);
        assert_eq!(screen(b"hello", NEGOTIATED), Screened::Invalid);
        assert_eq!(
            screen(&[0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], NEGOTIATED),
            Screened::Invalid
        );
        assert_eq!(
            screen(&[0x80, 201, 0, 1, 0, 0, 0, 1], NEGOTIATED),
            Screened::Rtcp
        );
    }

    #[test]
    fn rtcp_validity() {
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert!(rtcp_valid(&rr));
        let mut sr_sdes = vec![0x80, 200, 0, 6];
        sr_sdes.extend_from_slice(&[0; 24]);
        sr_sdes.extend_from_slice(&[0x81, 202, 0, 2, 0, 0, 0, 1, 1, 1, b'x', 0]);
        assert!(rtcp_valid(&sr_sdes));
        // BYE first, truncated length, trailing garbage, empty: invalid.
        assert!(!rtcp_valid(&[0x81, 203, 0, 1, 0, 0, 0, 1]));
        assert!(!rtcp_valid(&[0x80, 201, 0, 2, 0, 0, 0, 1]));
        assert!(!rtcp_valid(&[0x80, 201, 0, 1, 0, 0, 0, 1, 0xde, 0xad]));
        assert!(!rtcp_valid(&[]));
    }

    #[test]
    fn a_packet_from_the_sdp_address_latches_at_once() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        assert_eq!(l.destination(), addr(4000));
        let mut phone = Stream::new(4000, 1, 10);
        assert_eq!(phone.send(&mut l, t0), Decision::Latched(addr(4000)));
        assert_eq!(phone.send(&mut l, at(t0, 20)), Decision::Accept);
        assert_eq!(l.latched(), Some(addr(4000)));
        // A single stray packet, even well-formed, changes nothing.
        assert_eq!(
            l.offer(addr(5000), 77, 1, at(t0, 30)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(phone.send(&mut l, at(t0, 40)), Decision::Accept);
    }

    #[test]
    fn a_natted_phone_latches_after_a_consistent_stream() {
        let t0 = Instant::now();
        let mut l = latch(4000); // the private address, unreachable
        let mut phone = Stream::new(61002, 0xabc, 65534);
        for i in 0..FIRST_LATCH_PACKETS - 1 {
            assert_eq!(
                phone.send(&mut l, at(t0, 20 * u64::from(i))),
                Decision::Reject(Reject::Unproven)
            );
            assert_eq!(l.destination(), addr(4000), "the SDP address until latched");
        }
        assert_eq!(
            phone.send(&mut l, at(t0, 40)),
            Decision::Latched(addr(61002))
        );
        assert_eq!(phone.send(&mut l, at(t0, 60)), Decision::Accept);
        assert_eq!(l.destination(), addr(61002));
    }

    #[test]
    fn an_inconsistent_stream_never_latches() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        // A new SSRC on every packet.
        for i in 0..100u16 {
            assert_eq!(
                l.offer(addr(5000), u32::from(i), i, at(t0, u64::from(i))),
                Decision::Reject(Reject::Unproven)
            );
        }
        // One SSRC, but sequence numbers jumping about.
        for i in 0..100u16 {
            let seq = i.wrapping_mul(7919);
            assert_eq!(
                l.offer(addr(5002), 5, seq, at(t0, u64::from(i))),
                Decision::Reject(Reject::Unproven)
            );
        }
        assert_eq!(l.latched(), None);
    }

    #[test]
    fn sequence_numbers_may_wrap_lose_a_few_and_repeat() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        assert_eq!(
            l.offer(addr(5000), 1, 65534, t0),
            Decision::Reject(Reject::Unproven)
        );
        // A duplicate neither counts nor restarts the stream.
        assert_eq!(
            l.offer(addr(5000), 1, 65534, at(t0, 1)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            l.offer(addr(5000), 1, 0, at(t0, 40)),
            Decision::Reject(Reject::Unproven)
        ); // 65535 lost
        assert_eq!(
            l.offer(addr(5000), 1, 3, at(t0, 100)),
            Decision::Latched(addr(5000))
        );
        // Too far a jump restarts.
        let mut m = latch(4000);
        m.offer(addr(5000), 1, 65534, t0);
        m.offer(addr(5000), 1, 65535, at(t0, 20));
        let far = 65535u16.wrapping_add(MAX_SEQUENCE_STEP + 1);
        assert_eq!(
            m.offer(addr(5000), 1, far, at(t0, 40)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            m.offer(addr(5000), 1, far.wrapping_add(1), at(t0, 60)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            m.offer(addr(5000), 1, far.wrapping_add(2), at(t0, 80)),
            Decision::Latched(addr(5000))
        );
    }

    #[test]
    fn a_random_junk_flood_never_moves_the_latch() {
        let t0 = Instant::now();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = [0u8; 1400];
        let mut l = latch(4000);
        let mut phone = Stream::new(4000, 0x1234, 100);
        let junk_ports = [7001, 7003, 7005, 7007];
        let (mut passed, mut sent) = (0u32, 0u32);
        // 10 s: the phone streams for 4 s, is silent for 1.9 s, streams again.
        // Junk arrives at 2,000/s from four ports all the while.
        for ms in 0..10_000u64 {
            let now = at(t0, ms);
            let phone_talks = !(4_000..5_900).contains(&ms);
            if ms % 20 == 0 && phone_talks {
                let d = phone.send(&mut l, now);
                assert!(
                    matches!(d, Decision::Accept | Decision::Latched(_)),
                    "{ms} ms: {d:?}"
                );
            }
            for _ in 0..2 {
                let from = addr(junk_ports[rng.below(4) as usize]);
                let datagram = rng.junk(&mut buf);
                sent += 1;
                if let Some(d) = offer_junk(&mut l, datagram, from, now) {
                    passed += 1;
                    assert_eq!(d, Decision::Reject(Reject::Unproven), "{ms} ms");
                }
            }
            assert_eq!(l.destination(), addr(4000));
        }
        // The screen lets through about 1 in 500 (1/8 parse × 2/128 payload types).
        assert!(passed > 0 && passed < sent / 200, "{passed} of {sent}");
    }

    #[test]
    fn a_random_junk_flood_does_not_latch_a_natted_call_nor_stop_its_phone() {
        let t0 = Instant::now();
        let mut rng = Rng(42);
        let mut buf = [0u8; 1400];
        let mut l = latch(4000);
        let mut phone = Stream::new(61002, 0x1234, 100);
        // Junk first, for half a second, then the phone joins and the junk goes on.
        for ms in 0..3_000u64 {
            let now = at(t0, ms);
            if ms >= 500 && ms % 20 == 0 {
                let d = phone.send(&mut l, now);
                if d == Decision::Latched(addr(61002)) {
                    assert!(ms <= 540, "latched late, at {ms} ms");
                }
            }
            for _ in 0..2 {
                let from = addr(7001 + 2 * rng.below(4) as u16);
                let datagram = rng.junk(&mut buf);
                if let Some(d) = offer_junk(&mut l, datagram, from, now) {
                    assert!(matches!(d, Decision::Reject(_)), "{ms} ms: {d:?}");
                }
            }
            if ms < 500 {
                assert_eq!(l.latched(), None);
            }
        }
        assert_eq!(l.latched(), Some(addr(61002)));
    }

    #[test]
    fn junk_from_many_ports_cannot_keep_resetting_a_new_source() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        let mut phone = Stream::new(61002, 0x1234, 100);
        let mut ssrc = 0u32;
        let mut latched_at = None;
        for ms in 0..200u64 {
            let now = at(t0, ms);
            if ms % 20 == 0 {
                if let Decision::Latched(a) = phone.send(&mut l, now) {
                    assert_eq!(a, addr(61002));
                    latched_at.get_or_insert(ms);
                }
            }
            // Well-formed junk (a negotiated payload type) with a fresh SSRC,
            // ten datagrams a millisecond: five from ports that repeat, five
            // from ports never seen before.
            for k in 0..10u16 {
                ssrc += 1;
                let port = if k < 5 {
                    7000 + k
                } else {
                    8000u16.wrapping_add(ssrc as u16)
                };
                assert_eq!(
                    l.offer(addr(port), ssrc, ssrc as u16, now),
                    Decision::Reject(Reject::Unproven)
                );
            }
        }
        assert_eq!(latched_at, Some(40), "three packets, 20 ms apart");
    }

    #[test]
    fn a_silent_caller_is_not_taken_over_within_the_silence_threshold() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        let mut phone = Stream::new(4000, 1, 0);
        for i in 0..50 {
            phone.send(&mut l, at(t0, 20 * i));
        }
        // The phone stops at 980 ms; an attacker streams well-formed RTP.
        let mut attacker = Stream::new(6666, 0xbad, 0);
        let last = 980;
        let mut ms = last + 20;
        while ms < last + 2_000 {
            let d = attacker.send(&mut l, at(t0, ms));
            assert!(
                matches!(
                    d,
                    Decision::Reject(Reject::Unproven | Reject::LatchedActive)
                ),
                "{ms}: {d:?}"
            );
            ms += 20;
        }
        assert_eq!(l.destination(), addr(4000));
        // The phone comes back: accepted at once, the attacker still refused.
        assert_eq!(phone.send(&mut l, at(t0, ms)), Decision::Accept);
        assert_eq!(
            attacker.send(&mut l, at(t0, ms + 5)),
            Decision::Reject(Reject::LatchedActive)
        );
    }

    #[test]
    fn a_nat_rebinding_is_followed_after_the_silence() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        let mut old = Stream::new(61002, 1, 500);
        for i in 0..10 {
            old.send(&mut l, at(t0, 20 * i));
        }
        assert_eq!(l.latched(), Some(addr(61002)));
        // The mapping changes at 200 ms: same SSRC and numbering, new port.
        let mut new = Stream {
            from: addr(61010),
            ..old
        };
        let mut ms = 200;
        let moved_at = loop {
            match new.send(&mut l, at(t0, ms)) {
                Decision::Moved(_) => break ms,
                Decision::Reject(Reject::Unproven | Reject::LatchedActive) => {}
                d => panic!("{ms}: {d:?}"),
            }
            ms += 20;
            assert!(ms < 5_000);
        };
        // The old source was last heard at 180 ms.
        assert!(
            (180 + 2_000..=180 + 2_020).contains(&moved_at),
            "{moved_at}"
        );
        assert_eq!(l.destination(), addr(61010));
        // The old address, should it reappear, is now the candidate.
        assert_eq!(
            old.send(&mut l, at(t0, ms + 10)),
            Decision::Reject(Reject::Unproven)
        );
    }

    #[test]
    fn a_new_source_needs_its_five_packets_even_after_a_long_silence() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        l.offer(addr(4000), 1, 1, t0);
        let mut new = Stream::new(61010, 2, 9);
        for i in 1..MOVE_PACKETS {
            assert_eq!(
                new.send(&mut l, at(t0, 10_000 + 20 * u64::from(i))),
                Decision::Reject(Reject::Unproven)
            );
        }
        assert_eq!(
            new.send(&mut l, at(t0, 10_100)),
            Decision::Moved(addr(61010))
        );
    }

    #[test]
    fn the_sdp_address_is_preferred_over_an_earlier_latch() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        let mut other = Stream::new(5000, 1, 0);
        for i in 0..3 {
            other.send(&mut l, at(t0, 20 * i));
        }
        assert_eq!(l.latched(), Some(addr(5000)));
        // The SDP address starts streaming while the other source goes on.
        let mut sdp = Stream::new(4000, 2, 0);
        assert_eq!(
            sdp.send(&mut l, at(t0, 70)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(other.send(&mut l, at(t0, 80)), Decision::Accept);
        assert_eq!(
            sdp.send(&mut l, at(t0, 90)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(sdp.send(&mut l, at(t0, 110)), Decision::Moved(addr(4000)));
        assert_eq!(
            other.send(&mut l, at(t0, 120)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(sdp.send(&mut l, at(t0, 130)), Decision::Accept);
        // ... and the other source cannot take it back while it streams.
        for i in 0..200 {
            let now = at(t0, 140 + 20 * i);
            assert_eq!(sdp.send(&mut l, now), Decision::Accept);
            assert!(matches!(other.send(&mut l, now), Decision::Reject(_)));
        }
    }

    #[test]
    fn strict_mode_accepts_only_the_sdp_address() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(LatchConfig::new(addr(4000), true));
        let mut natted = Stream::new(61002, 1, 0);
        for i in 0..500 {
            assert_eq!(
                natted.send(&mut l, at(t0, 20 * i)),
                Decision::Reject(Reject::NotSdpAddress)
            );
        }
        assert_eq!(l.destination(), addr(4000));
        assert_eq!(
            l.offer(addr(4000), 9, 9, at(t0, 10_000)),
            Decision::Latched(addr(4000))
        );
        assert_eq!(l.offer(addr(4000), 10, 3, at(t0, 10_020)), Decision::Accept);
        // Even after a long silence nothing else is taken.
        for i in 0..10 {
            assert_eq!(
                natted.send(&mut l, at(t0, 20_000 + 20 * i)),
                Decision::Reject(Reject::NotSdpAddress)
            );
        }
    }

    #[test]
    fn reset_starts_over_toward_the_new_sdp_address() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        let mut phone = Stream::new(4000, 1, 0);
        phone.send(&mut l, t0);
        let mut moved = Stream::new(4100, 1, 1);
        // Candidate progress made before the reset does not survive it.
        moved.send(&mut l, at(t0, 10));
        moved.send(&mut l, at(t0, 20));
        l.reset(addr(4100));
        assert_eq!(l.latched(), None);
        assert_eq!(l.destination(), addr(4100));
        assert_eq!(
            moved.send(&mut l, at(t0, 40)),
            Decision::Latched(addr(4100))
        );
        // The old address is now just another source.
        assert_eq!(
            phone.send(&mut l, at(t0, 60)),
            Decision::Reject(Reject::Unproven)
        );
        // A reset to an address nobody sends from: a third source needs three packets.
        l.reset(addr(4200));
        let mut nat = Stream::new(5000, 3, 0);
        assert_eq!(
            nat.send(&mut l, at(t0, 100)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            nat.send(&mut l, at(t0, 120)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(nat.send(&mut l, at(t0, 140)), Decision::Latched(addr(5000)));
    }

    #[test]
    fn an_idle_candidate_starts_over() {
        let t0 = Instant::now();
        let mut l = latch(4000);
        l.offer(addr(5000), 1, 1, t0);
        l.offer(addr(5000), 1, 2, at(t0, 20));
        assert_eq!(
            l.offer(addr(5000), 1, 3, at(t0, 20) + CANDIDATE_TIMEOUT),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            l.offer(addr(5000), 1, 4, at(t0, 1_040)),
            Decision::Reject(Reject::Unproven)
        );
        assert_eq!(
            l.offer(addr(5000), 1, 5, at(t0, 1_060)),
            Decision::Latched(addr(5000))
        );
    }

    /// One arbitrary packet for the property tests.
    #[derive(Debug, Clone)]
    struct Arbitrary {
        port: u16,
        ssrc: u32,
        seq: u16,
        gap_ms: u16,
    }

    fn arbitrary() -> impl Strategy<Value = Arbitrary> {
        // Few ports, SSRCs and nearby sequence numbers, so that consistent
        // streams happen, besides fully random values.
        (
            prop_oneof![4000u16..4004, any::<u16>()],
            prop_oneof![0u32..3, any::<u32>()],
            prop_oneof![0u16..8, any::<u16>()],
            0u16..3000,
        )
            .prop_map(|(port, ssrc, seq, gap_ms)| Arbitrary {
                port,
                ssrc,
                seq,
                gap_ms,
            })
    }

    proptest! {
        #[test]
        fn arbitrary_packets_never_panic_and_decide_coherently(
            strict in any::<bool>(),
            packets in proptest::collection::vec(arbitrary(), 0..300),
        ) {
            let t0 = Instant::now();
            let mut l = SourceLatch::new(LatchConfig::new(addr(4000), strict));
            let mut now = t0;
            for p in packets {
                now += Duration::from_millis(u64::from(p.gap_ms));
                let from = addr(p.port);
                let before = l.destination();
                let d = l.offer(from, p.ssrc, p.seq, now);
                match d {
                    Decision::Accept => prop_assert_eq!(l.latched(), Some(from)),
                    Decision::Latched(a) | Decision::Moved(a) => {
                        prop_assert_eq!(a, from);
                        prop_assert_eq!(l.destination(), from);
                    }
                    Decision::Reject(_) => prop_assert_eq!(l.destination(), before),
                }
                if strict {
                    prop_assert!(l.destination() == addr(4000));
                }
            }
        }

        #[test]
        fn while_the_latched_source_streams_nothing_else_is_accepted(
            natted in any::<bool>(),
            strict in any::<bool>(),
            others in proptest::collection::vec(arbitrary(), 0..400),
        ) {
            // The phone sends every 20 ms, from the SDP address or from a
            // NAT mapping; other packets come in between, from anywhere but
            // the SDP address (which only a spoofer could send from).
            let sdp = addr(4000);
            let phone = if natted { addr(3999) } else { sdp };
            let mut l = SourceLatch::new(LatchConfig::new(sdp, strict && !natted));
            let t0 = Instant::now();
            let mut seq = 0u16;
            for i in 0..FIRST_LATCH_PACKETS {
                l.offer(phone, 7, seq, at(t0, 20 * u64::from(i)));
                seq = seq.wrapping_add(1);
            }
            prop_assert_eq!(l.latched(), Some(phone));
            let mut now_ms = 20 * u64::from(FIRST_LATCH_PACKETS);
            let mut next_phone = now_ms;
            for p in others {
                // Other packets arrive up to 30 ms apart; the phone's every 20 ms.
                now_ms += u64::from(p.gap_ms % 30);
                while next_phone <= now_ms {
                    prop_assert_eq!(l.offer(phone, 7, seq, at(t0, next_phone)), Decision::Accept);
                    seq = seq.wrapping_add(1);
                    next_phone += 20;
                }
                let from = addr(if p.port == 4000 || addr(p.port) == phone { 4004 } else { p.port });
                let d = l.offer(from, p.ssrc, p.seq, at(t0, now_ms));
                prop_assert!(matches!(d, Decision::Reject(_)), "{:?} from {}", d, from);
                prop_assert_eq!(l.destination(), phone);
            }
        }
    }
}
