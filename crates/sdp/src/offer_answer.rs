//! RFC 3264 offer/answer for one audio stream.
//!
//! Switchboard speaks G.711 (PCMU, PCMA) plus RFC 4733 telephone-event on
//! exactly one audio stream per call. The rules this module applies:
//! - **Which stream.** The first `m=audio` with a non-zero port, an
//!   `RTP/AVP` or `RTP/AVPF` transport and a codec we support. Every other
//!   `m=` line (video, a second audio, SRTP, T.38) is answered with port 0,
//!   in place, so the answer has as many `m=` lines as the offer.
//! - **Which codec.** Our preference order ([`LocalMedia::codecs`]) wins;
//!   the answer lists only that codec, so both sides send the same one.
//!   PCMU and PCMA are recognised by `a=rtpmap` or, without one, by their
//!   static payload types 0 and 8.
//! - **telephone-event** is accepted on whatever payload type the offer uses
//!   (96, 101, ...) when it is `telephone-event/8000`; the answer reuses it.
//! - **ptime.** [`Negotiated::ptime`] is the packet time *we send with*: the
//!   peer's `a=ptime` when within [`PTIME_RANGE`], else ours. Our own
//!   `a=ptime` is always in our SDP.
//! - **Direction.** The answer mirrors the offer (sendonly → recvonly,
//!   recvonly → sendonly, inactive → inactive), limited by our own
//!   [`LocalMedia::direction`]. An old-style hold (`c=0.0.0.0`) means the
//!   peer does not want media, so its direction loses "receives". The
//!   direction is always written explicitly at media level.
//! - **Version.** Every SDP we produce goes through [`OriginState::issue`].
//!
//! ```
//! use sdp::{answer, parse, Codec, Direction, LocalMedia, OriginState};
//!
//! let offer = parse(b"v=0\r\n\
//!     o=- 1619718473 1619718475 IN IP4 203.0.113.7\r\n\
//!     s=Asterisk\r\n\
//!     c=IN IP4 203.0.113.7\r\n\
//!     t=0 0\r\n\
//!     m=audio 18382 RTP/AVP 8 0 101\r\n\
//!     a=rtpmap:101 telephone-event/8000\r\n\
//!     a=sendonly\r\n\
//!     m=video 18384 RTP/AVP 96\r\n")?;
//! let local = LocalMedia::new("198.51.100.1".parse().unwrap(), 30000);
//! let mut origin = OriginState::new("switchboard", 3_900_000_000, 1);
//! let reply = answer(&offer, &local, &mut origin).expect("PCMU is offered");
//! assert_eq!(reply.negotiated.codec, Codec::Pcmu);
//! assert_eq!(reply.negotiated.telephone_event, Some(101));
//! assert_eq!(reply.negotiated.local_direction, Direction::RecvOnly);
//! assert_eq!(reply.negotiated.remote_rtp.to_string(), "203.0.113.7:18382");
//! assert_eq!(reply.sdp.media[1].port, 0); // video refused in place
//! # Ok::<(), sdp::ParseError>(())
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::attribute::{Direction, Rtpmap};
use crate::error::NegotiationError;
use crate::model::{Attribute, Connection, MediaDescription, Origin, SessionDescription, Timing};
use crate::origin::OriginState;

/// The payload type we offer telephone-event on.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// The packet times we follow, in milliseconds; a peer asking for more or
/// less gets ours. 150 ms of G.711 is 1,200 bytes, still under a 1,500 MTU.
pub const PTIME_RANGE: std::ops::RangeInclusive<u32> = 10..=150;

/// The DTMF events we handle (RFC 4733 §3.2: digits, `*`, `#`, A–D).
const TELEPHONE_EVENTS: &str = "0-15";

/// An audio codec we can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The RTP encoding name.
    pub fn encoding(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The static payload type (RFC 3551).
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The RTP clock rate in Hz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec an rtpmap describes, if we support it.
    pub fn from_rtpmap(map: &Rtpmap) -> Option<Codec> {
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| map.is(c.encoding(), c.clock_rate()))
    }
}

/// What we can do on our side of the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address we receive RTP on (goes into `c=` and `o=`).
    pub address: IpAddr,
    /// The port we receive RTP on.
    pub rtp_port: u16,
    /// Supported codecs, most preferred first.
    pub codecs: Vec<Codec>,
    /// Whether we send and receive RFC 4733 telephone-events.
    pub telephone_event: bool,
    /// The packet time we want to receive, in milliseconds.
    pub ptime: u32,
    /// The direction we want: sendrecv normally, sendonly to hold the peer.
    pub direction: Direction,
}

impl LocalMedia {
    /// The defaults: PCMU then PCMA, telephone-event, 20 ms, sendrecv.
    pub fn new(address: IpAddr, rtp_port: u16) -> Self {
        LocalMedia {
            address,
            rtp_port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: 20,
            direction: Direction::SendRecv,
        }
    }
}

/// What both sides agreed on for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The index of the audio stream among the `m=` lines.
    pub media_index: usize,
    /// The codec both sides send.
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The telephone-event payload type, when both sides support it.
    pub telephone_event: Option<u8>,
    /// The packet time we send with, in milliseconds.
    pub ptime: u32,
    /// Where we send RTP.
    pub remote_rtp: SocketAddr,
    /// Where we send RTCP: `a=rtcp` when given, else the RTP port plus one.
    pub remote_rtcp: SocketAddr,
    /// The peer's direction; without "receives" on an old-style `c=0.0.0.0` hold.
    pub remote_direction: Direction,
    /// Our direction for this stream.
    pub local_direction: Direction,
}

impl Negotiated {
    /// True when the peer put us on hold (it does not want to receive).
    pub fn remote_hold(&self) -> bool {
        !self.remote_direction.receives()
    }
}

/// Our answer to an offer: the SDP to send and what it commits us to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP, its `o=` already stamped.
    pub sdp: SessionDescription,
    /// The negotiated stream parameters.
    pub negotiated: Negotiated,
}

/// Creates our offer: one audio stream with our codecs, telephone-event on
/// [`TELEPHONE_EVENT_PT`], our ptime and direction.
pub fn offer(local: &LocalMedia, origin: &mut OriginState) -> SessionDescription {
    let pts: Vec<(u8, Codec)> = local
        .codecs
        .iter()
        .map(|c| (c.static_payload_type(), *c))
        .collect();
    let te = local.telephone_event.then_some(TELEPHONE_EVENT_PT);
    let sdp = session(local, vec![our_audio(local, "RTP/AVP", &pts, te)]);
    origin.issue(sdp, local.address)
}

/// Answers `offer` (RFC 3264 §6): accepts the first usable audio stream,
/// refuses every other `m=` line with port 0.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    origin: &mut OriginState,
) -> Result<Answer, NegotiationError> {
    let mut saw_audio = false;
    let mut chosen = None;
    for (index, media) in offer.media.iter().enumerate() {
        if !is_usable_audio(media) {
            continue;
        }
        let Some(connection) = offer.connection_of(media) else {
            continue;
        };
        saw_audio = true;
        let found = local.codecs.iter().find_map(|codec| {
            media
                .payload_types()
                .find(|pt| media.rtpmap(*pt).as_ref().and_then(Codec::from_rtpmap) == Some(*codec))
                .map(|pt| (*codec, pt))
        });
        if let Some((codec, pt)) = found {
            chosen = Some((index, connection, codec, pt));
            break;
        }
    }
    let Some((index, connection, codec, payload_type)) = chosen else {
        return Err(if saw_audio {
            NegotiationError::NoCommonCodec
        } else {
            NegotiationError::NoAudioStream
        });
    };
    let remote = &offer.media[index];
    let telephone_event = local
        .telephone_event
        .then(|| telephone_event_pt(remote))
        .flatten();
    let remote_direction = remote_direction(offer, remote, connection);
    let local_direction = local.direction.intersect(remote_direction.mirror());
    let negotiated = Negotiated {
        media_index: index,
        codec,
        payload_type,
        telephone_event,
        ptime: remote_ptime(remote).unwrap_or(local.ptime),
        remote_rtp: SocketAddr::new(connection.address, remote.port),
        remote_rtcp: rtcp_address(remote, connection),
        remote_direction,
        local_direction,
    };
    let ours = LocalMedia {
        direction: local_direction,
        ..local.clone()
    };
    let media = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == index {
                our_audio(&ours, &m.proto, &[(payload_type, codec)], telephone_event)
            } else {
                refused(m)
            }
        })
        .collect();
    let sdp = origin.issue(session(local, media), local.address);
    Ok(Answer { sdp, negotiated })
}

/// Reads the peer's answer to our `offer` (RFC 3264 §7).
pub fn process_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, NegotiationError> {
    if offer.media.len() != answer.media.len() {
        return Err(NegotiationError::MediaCountMismatch {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    let index = offer
        .media
        .iter()
        .position(is_usable_audio)
        .ok_or(NegotiationError::NoAudioStream)?;
    let (ours, theirs) = (&offer.media[index], &answer.media[index]);
    if theirs.port == 0 {
        return Err(NegotiationError::AudioRejected);
    }
    if !theirs.media.eq_ignore_ascii_case(&ours.media)
        || !theirs.proto.eq_ignore_ascii_case(&ours.proto)
    {
        return Err(NegotiationError::AnswerMismatch);
    }
    let (codec, payload_type) = theirs
        .payload_types()
        .find_map(|pt| {
            let codec = theirs.rtpmap(pt).as_ref().and_then(Codec::from_rtpmap)?;
            let offered = ours.rtpmap(pt).as_ref().and_then(Codec::from_rtpmap);
            (offered == Some(codec)).then_some((codec, pt))
        })
        .ok_or(NegotiationError::NoCommonCodec)?;
    let connection = answer
        .connection_of(theirs)
        .ok_or(NegotiationError::MissingConnection(index))?;
    let telephone_event =
        telephone_event_pt(theirs).filter(|pt| telephone_event_pt(ours) == Some(*pt));
    let remote_direction = remote_direction(answer, theirs, connection);
    Ok(Negotiated {
        media_index: index,
        codec,
        payload_type,
        telephone_event,
        ptime: remote_ptime(theirs).or(ours.ptime()).unwrap_or(20),
        remote_rtp: SocketAddr::new(connection.address, theirs.port),
        remote_rtcp: rtcp_address(theirs, connection),
        remote_direction,
        local_direction: offer
            .direction_of(ours)
            .intersect(remote_direction.mirror()),
    })
}

fn remote_ptime(media: &MediaDescription) -> Option<u32> {
    media.ptime().filter(|ms| PTIME_RANGE.contains(ms))
}

fn is_usable_audio(media: &MediaDescription) -> bool {
    media.media.eq_ignore_ascii_case("audio")
        && media.port != 0
        && (media.proto.eq_ignore_ascii_case("RTP/AVP")
            || media.proto.eq_ignore_ascii_case("RTP/AVPF"))
}

fn telephone_event_pt(media: &MediaDescription) -> Option<u8> {
    media.payload_types().find(|pt| {
        media
            .rtpmap(*pt)
            .is_some_and(|map| map.is("telephone-event", 8000))
    })
}

fn remote_direction(
    sdp: &SessionDescription,
    media: &MediaDescription,
    connection: Connection,
) -> Direction {
    let direction = sdp.direction_of(media);
    if connection.is_hold() {
        direction.intersect(Direction::SendOnly)
    } else {
        direction
    }
}

fn rtcp_address(media: &MediaDescription, connection: Connection) -> SocketAddr {
    match media.rtcp() {
        Some(rtcp) => SocketAddr::new(rtcp.connection.unwrap_or(connection).address, rtcp.port),
        None => SocketAddr::new(connection.address, media.port.saturating_add(1)),
    }
}

fn session(local: &LocalMedia, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin: Origin {
            username: "-".to_string(),
            session_id: "0".to_string(),
            version: 0,
            net_type: "IN".to_string(),
            addr_type: "IP4".to_string(),
            address: local.address.to_string(),
        },
        session_name: "-".to_string(),
        information: None,
        extra: Vec::new(),
        connection: Some(Connection {
            address: local.address,
        }),
        bandwidths: Vec::new(),
        timing: Timing::default(),
        attributes: Vec::new(),
        media,
    }
}

fn our_audio(
    local: &LocalMedia,
    proto: &str,
    codecs: &[(u8, Codec)],
    te: Option<u8>,
) -> MediaDescription {
    let mut formats: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|(pt, codec)| {
            let map = format!("{pt} {}/{}", codec.encoding(), codec.clock_rate());
            Attribute::value("rtpmap", map)
        })
        .collect();
    if let Some(te) = te {
        formats.push(te.to_string());
        attributes.push(Attribute::value(
            "rtpmap",
            format!("{te} telephone-event/8000"),
        ));
        attributes.push(Attribute::value("fmtp", format!("{te} {TELEPHONE_EVENTS}")));
    }
    attributes.push(Attribute::value("ptime", local.ptime.to_string()));
    attributes.push(Attribute::flag(local.direction.name()));
    MediaDescription {
        media: "audio".to_string(),
        port: local.rtp_port,
        port_count: None,
        proto: proto.to_string(),
        formats,
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        extra: Vec::new(),
        attributes,
    }
}

fn refused(offered: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: offered.media.clone(),
        port: 0,
        port_count: None,
        proto: offered.proto.clone(),
        formats: offered.formats.clone(),
        information: None,
        connection: None,
        bandwidths: Vec::new(),
        extra: Vec::new(),
        attributes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_are_recognised_by_name_and_rate() {
        let map = |s: &str| Rtpmap::parse(s).expect("test rtpmap");
        assert_eq!(Codec::from_rtpmap(&map("97 pcmu/8000")), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap(&map("8 PCMA/8000/1")), Some(Codec::Pcma));
        assert_eq!(Codec::from_rtpmap(&map("0 PCMU/16000")), None);
        assert_eq!(Codec::from_rtpmap(&map("0 PCMU/8000/2")), None);
        assert_eq!(Codec::from_rtpmap(&map("9 G722/8000")), None);
        assert_eq!(Codec::Pcma.static_payload_type(), 8);
    }

    #[test]
    fn rtcp_defaults_to_the_next_port() {
        let connection = Connection {
            address: "192.0.2.1".parse().expect("test address"),
        };
        let mut media = refused(&our_audio(
            &LocalMedia::new(connection.address, 0),
            "RTP/AVP",
            &[(0, Codec::Pcmu)],
            None,
        ));
        media.port = 65535;
        assert_eq!(rtcp_address(&media, connection).port(), 65535);
        media.port = 4000;
        assert_eq!(rtcp_address(&media, connection).port(), 4001);
        media.attributes.push(Attribute::value("rtcp", "5000"));
        assert_eq!(rtcp_address(&media, connection).port(), 5000);
    }
}
