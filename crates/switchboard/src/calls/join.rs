//! Joins between two calls: what one call actor tells another, and what a
//! call hands over so the other can send it media.
//!
//! A join connects the two calls' RTP sessions the way the B2BUA connects
//! its legs: each call that sends in the join gives its own session a
//! [`Forward`](crate::media::session::Forward) toward the other call's
//! socket, so packets go socket to socket in the receive task (header
//! rewrite when the codecs match, table transcode PCMU↔PCMA otherwise,
//! telephone-event remapped), never through either actor. A call that
//! receives in the join pauses its pacer stream, and resumes silence when
//! the join ends.
//!
//! The handshake: the joining call sends [`PeerMessage::Join`] with its
//! media; the joined call checks its own state, sets up its side and
//! replies with its media; the joining call then sets up its side. Either
//! side breaks the join with [`PeerMessage::Unjoin`] (its controller's
//! `unjoin`, or its end).

use std::net::SocketAddr;
use std::sync::Arc;

use call_control::{Failure, JoinDirection};
use tokio::sync::{mpsc, oneshot, watch};

use crate::media::reports::OutboundCounters;

/// How long a joining call waits for the other call's answer; a call that
/// is itself waiting on us (both joining each other at once) answers late,
/// and the join fails instead of both calls waiting forever.
pub const JOIN_REPLY_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Peer messages one call may have queued.
pub const PEER_QUEUE: usize = 16;

/// What another call needs to send this call media.
#[derive(Debug, Clone)]
pub struct JoinMedia {
    /// The socket this call's RTP leaves from (the other call sends from it).
    pub socket: Arc<std::net::UdpSocket>,
    /// Where this call's party receives RTP, as it changes (latching).
    pub destination: watch::Receiver<SocketAddr>,
    /// This call's outbound counters (its RTCP reports what was sent).
    pub outbound: Arc<OutboundCounters>,
    /// What this call's party negotiated.
    pub negotiated: sdp::Negotiated,
}

/// What one call tells another.
#[derive(Debug)]
pub enum PeerMessage {
    /// The call `from` wants to join this one; `direction` is seen from
    /// `from` (its `send` is this call's `recv`).
    Join {
        /// The joining call's id.
        from: Arc<str>,
        /// Its peer queue, for the unjoin.
        peer: mpsc::Sender<PeerMessage>,
        /// Which way media flows, seen from the joining call.
        direction: JoinDirection,
        /// The joining call's media.
        media: JoinMedia,
        /// This call's media, or why it cannot join.
        reply: oneshot::Sender<Result<JoinMedia, Failure>>,
    },
    /// The call `from` broke its join with this one.
    Unjoin {
        /// The call that broke it.
        from: Arc<str>,
    },
}

/// The same join seen from the other call.
pub fn reverse(direction: JoinDirection) -> JoinDirection {
    match direction {
        JoinDirection::Duplex => JoinDirection::Duplex,
        JoinDirection::Send => JoinDirection::Recv,
        JoinDirection::Recv => JoinDirection::Send,
    }
}

/// Whether a call sends its party's audio in a join of `direction`.
pub fn sends(direction: JoinDirection) -> bool {
    matches!(direction, JoinDirection::Duplex | JoinDirection::Send)
}

/// Whether a call's party hears the other call in a join of `direction`.
pub fn receives(direction: JoinDirection) -> bool {
    matches!(direction, JoinDirection::Duplex | JoinDirection::Recv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_mirror() {
        for d in [
            JoinDirection::Duplex,
            JoinDirection::Send,
            JoinDirection::Recv,
        ] {
            assert_eq!(reverse(reverse(d)), d);
            assert_eq!(sends(d), receives(reverse(d)));
        }
        assert!(sends(JoinDirection::Send) && !receives(JoinDirection::Send));
    }
}
