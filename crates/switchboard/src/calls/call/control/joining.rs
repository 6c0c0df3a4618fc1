//! Joins and mute on a controlled call: the media side of
//! [`crate::calls::join`] (forward toward the other call, pause our pacer
//! while its audio comes in) and the handshake with the other call's actor.
//!
//! One join to another call at a time: a second one while one is active is
//! refused with `Conflict` (the media has one forward per session). A
//! mixer join ([`super::mixing`]) may exist beside it. Mute stops the forward, so the
//! party's audio no longer reaches the joined call, and a `listen` captures
//! silence; in-band and RFC 4733 digits keep counting (they read the
//! party's packets, which still arrive), which a controller needs to unmute
//! on a key press.

use std::sync::Arc;

use call_control::{Failure, JoinDirection, JoinTarget, Output};
use tokio::sync::{mpsc, oneshot};

use crate::calls::call::Call;
use crate::calls::join::{self, JoinMedia, PeerMessage, JOIN_REPLY_WAIT};
use crate::calls::legs;
use crate::media::pacer::FrameSource;
use crate::media::relay::Relay;
use crate::media::session::Forward;

/// The other end of this call's join.
pub(in crate::calls::call) struct JoinedCall {
    id: Arc<str>,
    peer: mpsc::Sender<PeerMessage>,
    /// Seen from this call.
    direction: JoinDirection,
    media: JoinMedia,
}

impl JoinedCall {
    /// Which way media flows, seen from this call.
    pub(super) fn direction(&self) -> JoinDirection {
        self.direction
    }
}

impl Call {
    /// This call's id in the registry.
    fn own_id(&self) -> Option<Arc<str>> {
        self.control
            .as_ref()
            .and_then(|c| c.registration.as_ref())
            .map(|r| r.id().clone())
    }

    /// What another call needs to send this one media (answered calls only).
    fn join_media(&self) -> Result<JoinMedia, Failure> {
        self.control_media()?;
        let media = self.a_media.as_ref().ok_or(Failure::NotAnswered)?;
        let (Some(session), Some(negotiated)) = (&media.session, media.negotiated) else {
            return Err(Failure::NotAnswered);
        };
        Ok(JoinMedia {
            socket: session.send_socket(),
            destination: session.destination_changes(),
            outbound: session.outbound(),
            negotiated,
        })
    }

    /// `Command::Join` on this call (and a dial's join once answered).
    pub(in crate::calls::call) async fn join(
        &mut self,
        target: JoinTarget,
        direction: JoinDirection,
    ) -> Result<Output, Failure> {
        let Some(own) = self.own_id() else {
            return Err(Failure::Internal("the call has no id".into()));
        };
        let other = match target {
            JoinTarget::Mixer(name) => return self.join_mixer(own, name.to_lowercase(), direction),
            JoinTarget::Call(other) => other.to_ascii_lowercase(),
        };
        if *own == *other {
            return Err(Failure::BadRequest("a call cannot join itself".into()));
        }
        if self.control.as_ref().is_some_and(|c| c.joined.is_some()) {
            return Err(Failure::Conflict("the call is joined already".into()));
        }
        let Some(entry) = self.ctx.registry.get(&other) else {
            return Err(Failure::NotFound(format!("no call {other}")));
        };
        let media = self.join_media()?;
        let Some(peer_tx) = self
            .control
            .as_ref()
            .and_then(|c| c.registration.as_ref())
            .and_then(|r| self.ctx.registry.get(r.id()))
            .map(|me| me.peer)
        else {
            return Err(Failure::Internal("the call has no peer queue".into()));
        };
        let (reply, answer) = oneshot::channel();
        let message = PeerMessage::Join {
            from: own.clone(),
            peer: peer_tx,
            direction,
            media,
            reply,
        };
        if entry.peer.try_send(message).is_err() {
            return Err(Failure::NotFound(format!("no call {other}")));
        }
        let theirs = match tokio::time::timeout(JOIN_REPLY_WAIT, answer).await {
            Ok(Ok(Ok(media))) => media,
            Ok(Ok(Err(failure))) => return Err(failure),
            Ok(Err(_)) => return Err(Failure::NotFound(format!("no call {other}"))),
            Err(_) => {
                // It may still set up its side: tell it the join is off.
                let _ = entry.peer.try_send(PeerMessage::Unjoin { from: own });
                return Err(Failure::Conflict("the other call is busy".into()));
            }
        };
        self.connect(entry.id.clone(), entry.peer.clone(), direction, theirs);
        if let Some(c) = self.control.as_mut() {
            c.rules
                .joined(JoinTarget::Call(entry.id.to_string()), direction);
        }
        Ok(Output::None)
    }

    /// `Command::Unjoin` on this call.
    pub(super) async fn unjoin(&mut self, target: JoinTarget) -> Result<Output, Failure> {
        let other = match &target {
            JoinTarget::Mixer(name) => return self.unjoin_mixer(name),
            JoinTarget::Call(other) => other,
        };
        let joined_to = self
            .control
            .as_ref()
            .and_then(|c| c.joined.as_ref())
            .is_some_and(|j| j.id.eq_ignore_ascii_case(other));
        if !joined_to {
            return Err(Failure::InvalidState("not joined"));
        }
        self.break_join().await;
        Ok(Output::None)
    }

    /// Ends this call's join, if any: media back to silence, the other call
    /// told, our controller told `Unjoined`.
    pub(in crate::calls::call) async fn break_join(&mut self) {
        let Some(joined) = self.control.as_mut().and_then(|c| c.joined.take()) else {
            return;
        };
        self.disconnect(&joined);
        if let Some(own) = self.own_id() {
            let _ = joined.peer.try_send(PeerMessage::Unjoin { from: own });
        }
        if let Some(c) = self.control.as_mut() {
            c.rules.unjoined(JoinTarget::Call(joined.id.to_string()));
        }
    }

    /// A message from another call.
    pub(super) async fn on_peer(&mut self, message: PeerMessage) {
        match message {
            PeerMessage::Join {
                from,
                peer,
                direction,
                media,
                reply,
            } => {
                let result = self.accept_join(&from);
                let result = match result {
                    Ok(ours) => {
                        let mine = join::reverse(direction);
                        self.connect(from.clone(), peer, mine, media);
                        if let Some(c) = self.control.as_mut() {
                            c.rules.joined(JoinTarget::Call(from.to_string()), mine);
                        }
                        Ok(ours)
                    }
                    Err(failure) => Err(failure),
                };
                if reply.send(result).is_err() {
                    // The joining call gave up waiting: undo our side.
                    let ours = self
                        .control
                        .as_ref()
                        .and_then(|c| c.joined.as_ref())
                        .is_some_and(|j| j.id == from);
                    if ours {
                        self.break_join().await;
                    }
                }
            }
            PeerMessage::Unjoin { from } => {
                let ours = self
                    .control
                    .as_ref()
                    .and_then(|c| c.joined.as_ref())
                    .is_some_and(|j| j.id == from);
                if !ours {
                    return;
                }
                if let Some(joined) = self.control.as_mut().and_then(|c| c.joined.take()) {
                    self.disconnect(&joined);
                }
                if let Some(c) = self.control.as_mut() {
                    c.rules.unjoined(JoinTarget::Call(from.to_string()));
                }
            }
        }
    }

    /// Whether this call takes a join from `from`, with its media if so.
    fn accept_join(&self, from: &str) -> Result<JoinMedia, Failure> {
        let control = self.control.as_ref().ok_or(Failure::CallEnded)?;
        if control.rules.is_ended() {
            return Err(Failure::CallEnded);
        }
        if control.joined.is_some() {
            return Err(Failure::Conflict(format!(
                "call {} is joined already",
                self.own_id().as_deref().unwrap_or_default()
            )));
        }
        if self.own_id().as_deref() == Some(from) {
            return Err(Failure::BadRequest("a call cannot join itself".into()));
        }
        self.join_media()
    }

    /// Sets up this call's side of a join and remembers it.
    fn connect(
        &mut self,
        id: Arc<str>,
        peer: mpsc::Sender<PeerMessage>,
        direction: JoinDirection,
        media: JoinMedia,
    ) {
        let joined = JoinedCall {
            id,
            peer,
            direction,
            media,
        };
        let muted = self.control.as_ref().is_some_and(|c| c.muted);
        if join::sends(direction) && !muted {
            self.forward_to(&joined);
        }
        if join::receives(direction) {
            self.set_pacer(FrameSource::Paused);
        }
        tracing::info!(other = %joined.id, ?direction, "joined");
        if let Some(c) = self.control.as_mut() {
            c.joined = Some(joined);
        }
    }

    /// Undoes this call's side of a join.
    fn disconnect(&mut self, joined: &JoinedCall) {
        if join::sends(joined.direction) {
            self.stop_forward();
        }
        if join::receives(joined.direction)
            && self.control.as_ref().is_none_or(|c| c.play.is_none())
        {
            self.set_idle_source();
        }
        tracing::info!(other = %joined.id, "unjoined");
    }

    fn forward_to(&self, joined: &JoinedCall) {
        let Some(media) = self.a_media.as_ref() else {
            return;
        };
        let (Some(session), Some(negotiated)) = (&media.session, &media.negotiated) else {
            return;
        };
        let forward = Forward {
            socket: joined.media.socket.clone(),
            destination: joined.media.destination.clone(),
            relay: Relay::new(
                legs::relay_config(negotiated, &joined.media.negotiated),
                joined.media.outbound.clone(),
            ),
        };
        if let Err(error) = session.set_forward(Some(forward)) {
            tracing::warn!(%error, "cannot forward to the joined call");
        }
    }

    fn stop_forward(&self) {
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            let _ = session.set_forward(None);
        }
    }

    fn set_pacer(&self, source: FrameSource) {
        if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
            let _ = self.ctx.pacer.set_source(m.stream, source);
        }
    }

    /// `Command::Mute` / `Command::Unmute`.
    pub(super) fn mute(&mut self, muted: bool) -> Result<Output, Failure> {
        self.control_media()?;
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::CallEnded);
        };
        if control.muted == muted {
            return Ok(Output::None);
        }
        control.muted = muted;
        self.mute_in_mixer(muted);
        let Some(joined) = self.control.as_ref().and_then(|c| c.joined.as_ref()) else {
            return Ok(Output::None);
        };
        if join::sends(joined.direction) {
            if muted {
                self.stop_forward();
            } else {
                self.forward_to(joined);
            }
        }
        Ok(Output::None)
    }
}
