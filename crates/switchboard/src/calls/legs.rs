//! The media side of a call leg: its port pair, RTP session, SDP state, and
//! the relay that joins two legs.

use std::net::{IpAddr, SocketAddr};

use media::latch::PayloadTypes;
use sdp::{Codec, Direction, LocalMedia, Negotiated, OriginState, SessionDescription};
use tokio::sync::mpsc;

use crate::media::ports::{RtpPortPair, RtpPortPool};
use crate::media::relay::{Relay, RelayConfig, Transcode};
use crate::media::session::{Forward, ReceivedRtp, RtpSession, SessionConfig};

/// One leg's media: bound ports, then (once the peer's SDP is known) a
/// running session.
#[derive(Debug)]
pub struct MediaLeg {
    /// Ports bound but not yet receiving (before the peer's SDP).
    pending: Option<RtpPortPair>,
    port: u16,
    /// The running session, once started.
    pub session: Option<RtpSession>,
    /// The result of the last offer/answer on this leg.
    pub negotiated: Option<Negotiated>,
    /// Our `o=` line state.
    pub origin: OriginState,
    /// Our last offer on this leg, waiting for its answer.
    pub offer: Option<SessionDescription>,
    /// Start the session with a consumer channel (a controlled call reads
    /// digits and audio); a pure bridge leg has none.
    pub consume: bool,
    /// The consumer channel, once the session runs with `consume`.
    pub packets: Option<mpsc::Receiver<ReceivedRtp>>,
    address: IpAddr,
    /// `media.strict_source`: take media only from the SDP's addresses.
    strict_source: bool,
}

impl MediaLeg {
    /// Binds a port pair for a new leg; `strict_source` is `media.strict_source`.
    pub fn bind(
        pool: &RtpPortPool,
        address: IpAddr,
        strict_source: bool,
    ) -> std::io::Result<MediaLeg> {
        let pair = pool.allocate()?;
        let port = pair.port();
        Ok(MediaLeg {
            pending: Some(pair),
            port,
            session: None,
            negotiated: None,
            origin: OriginState::new("switchboard", fastrand::u64(1..u64::from(u32::MAX)), 1),
            offer: None,
            consume: false,
            packets: None,
            address,
            strict_source,
        })
    }

    /// Our SDP parameters, preferring `codecs` in order, with `direction`.
    pub fn local(&self, codecs: Vec<Codec>, direction: Direction) -> LocalMedia {
        LocalMedia {
            codecs,
            direction,
            ..LocalMedia::new(self.address, self.port)
        }
    }

    /// Records a negotiation and makes sure the session runs toward the
    /// peer's (possibly new) address.
    pub fn apply(&mut self, negotiated: Negotiated) -> std::io::Result<()> {
        let remote = negotiated.remote_rtp;
        let config = SessionConfig {
            payload_types: payload_types(&negotiated),
            strict_source: self.strict_source,
            remote_rtcp: Some(negotiated.remote_rtcp),
            ..SessionConfig::default()
        };
        match (&self.session, self.pending.take()) {
            (None, Some(pair)) if self.consume => {
                let (session, packets) = RtpSession::start(pair, remote, config)?;
                // Nothing reads packets until a component asks for them.
                let _ = session.set_deliver(false);
                self.session = Some(session);
                self.packets = Some(packets);
            }
            (None, Some(pair)) => {
                // A bridge only relays and records: no consumer channel.
                let session = RtpSession::start_relay(pair, remote, config)?;
                self.session = Some(session);
            }
            (Some(session), _) => {
                // One change carries all of it, so none is lost apart; the
                // session starts latching over only if the RTP address moved.
                if let Err(e) =
                    session.set_remote(remote, negotiated.remote_rtcp, config.payload_types)
                {
                    tracing::warn!(
                        local = %session.local_addr(),
                        remote = %remote,
                        error = %e,
                        "the new SDP did not reach the RTP session"
                    );
                }
            }
            (None, None) => {}
        }
        self.negotiated = Some(negotiated);
        Ok(())
    }

    /// Closes the session (and frees the ports).
    pub async fn close(&mut self) {
        self.pending = None;
        self.packets = None;
        if let Some(session) = self.session.take() {
            session.close().await;
        }
    }
}

/// The payload types a peer that negotiated `negotiated` sends: the codec's
/// and telephone-event's. RTP with any other never reaches the call.
fn payload_types(negotiated: &Negotiated) -> PayloadTypes {
    let types = PayloadTypes::EMPTY.with(negotiated.payload_type);
    match negotiated.telephone_event {
        Some(event) => types.with(event),
        None => types,
    }
}

/// The relay mapping from a leg that negotiated `from` to one that negotiated `to`.
pub fn relay_config(from: &Negotiated, to: &Negotiated) -> RelayConfig {
    let transcode = match (from.codec, to.codec) {
        (Codec::Pcmu, Codec::Pcma) => Transcode::UlawToAlaw,
        (Codec::Pcma, Codec::Pcmu) => Transcode::AlawToUlaw,
        _ => Transcode::None,
    };
    RelayConfig {
        audio_in: from.payload_type,
        audio_out: to.payload_type,
        transcode,
        event_in: from.telephone_event,
        event_out: to.telephone_event,
    }
}

/// Starts (or re-maps) the relay both ways between two legs with running
/// sessions. `fresh` starts new outbound streams; otherwise only the
/// payload mapping changes and the receivers' streams continue.
pub fn bridge(a: &MediaLeg, b: &MediaLeg, fresh: bool) {
    let (Some(sa), Some(sb), Some(na), Some(nb)) =
        (&a.session, &b.session, &a.negotiated, &b.negotiated)
    else {
        return;
    };
    let ab = relay_config(na, nb);
    let ba = relay_config(nb, na);
    if fresh {
        let forward = |to: &RtpSession, config| Forward {
            socket: to.send_socket(),
            destination: to.destination_changes(),
            relay: Relay::new(config, to.outbound()),
        };
        let _ = sa.set_forward(Some(forward(sb, ab)));
        let _ = sb.set_forward(Some(forward(sa, ba)));
    } else {
        let _ = sa.set_relay_config(ab);
        let _ = sb.set_relay_config(ba);
    }
}

/// The codecs to offer or answer with, `first` leading.
pub fn prefer(first: Option<Codec>) -> Vec<Codec> {
    match first {
        Some(Codec::Pcma) => vec![Codec::Pcma, Codec::Pcmu],
        _ => vec![Codec::Pcmu, Codec::Pcma],
    }
}

/// The first codec we support in an offer, in the offerer's order.
pub fn offered_codec(offer: &SessionDescription) -> Option<Codec> {
    offer
        .media
        .iter()
        .filter(|m| m.is_rtp() && m.port != 0)
        .find_map(|m| {
            m.payload_types()
                .find_map(|pt| m.rtpmap(pt).as_ref().and_then(Codec::from_rtpmap))
        })
}

/// Where a session sends now, for logs.
pub fn destination(leg: &MediaLeg) -> Option<SocketAddr> {
    leg.session.as_ref().map(RtpSession::destination)
}
