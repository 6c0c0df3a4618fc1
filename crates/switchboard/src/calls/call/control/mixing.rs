//! A controlled call in a mixer: the call side of
//! [`crate::calls::mixers`]. The call's received audio goes to its room in
//! the pacer thread through a bounded feed filled by the RTP session's
//! receive task (never through this actor), and the call's pacer stream
//! sends what the room mixes for it. The actor only sets this up, changes
//! the participant's switches (mute, direction), relays voice activity to
//! the controller and takes the call out again.
//!
//! One mixer per call at a time; a call may at the same time be joined to
//! another call. Then the other call's audio (relayed onto this call's
//! socket) is what the party hears, and its voice goes to both.

use std::sync::Arc;

use call_control::{Failure, JoinDirection, JoinTarget, Output};
use media::mixer::{Direction, ParticipantOptions};
use tokio::sync::watch;

use super::super::{g711, Call};
use crate::calls::join;
use crate::calls::mixer::MixerActor;
use crate::media::pacer::{member_feed, FrameSource, RoomId, RoomMember};

/// The mixer a call is in.
pub(in crate::calls::call) struct InMixer {
    /// As the controller named it.
    name: String,
    room: RoomId,
    /// Seen from the call.
    direction: JoinDirection,
    /// Whether an input on the mixer wants the party's keys.
    pub(super) digits: watch::Receiver<bool>,
}

impl InMixer {
    /// The mixer's name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the mixer wants the party's keys now.
    pub(super) fn wants_digits(&self) -> bool {
        *self.digits.borrow()
    }
}

/// The room's switches for a party joined with `direction` (`send`: heard
/// but deaf; `recv`: hears but muted), muted by its controller or not.
fn options(direction: JoinDirection, muted: bool) -> ParticipantOptions {
    ParticipantOptions {
        mute: muted,
        deaf: false,
        direction: match direction {
            JoinDirection::Duplex => Direction::Duplex,
            JoinDirection::Send => Direction::Send,
            JoinDirection::Recv => Direction::Recv,
        },
        always_heard: false,
    }
}

impl Call {
    /// `Command::Join` to a mixer: enter (or create) it and feed the room.
    pub(super) fn join_mixer(
        &mut self,
        own: Arc<str>,
        name: String,
        direction: JoinDirection,
    ) -> Result<Output, Failure> {
        if let Some(current) = self.control.as_ref().and_then(|c| c.mixer.as_ref()) {
            return Err(Failure::Conflict(format!(
                "the call is in mixer {} already",
                current.name
            )));
        }
        let stream = self.control_media()?.stream;
        let muted = self.control.as_ref().is_some_and(|c| c.muted);
        let a_media = self.a_media.as_ref().ok_or(Failure::NotAnswered)?;
        let (Some(session), Some(negotiated)) = (&a_media.session, a_media.negotiated) else {
            return Err(Failure::NotAnswered);
        };
        let entered = self.ctx.mixers.enter(&name, &own)?;
        let (feed, inbound) = member_feed();
        let feed = feed.for_payload_type(negotiated.payload_type);
        let member = RoomMember {
            stream,
            codec: g711(negotiated.codec),
            options: options(direction, muted),
            inbound,
        };
        if let Err(error) = self.ctx.pacer.join_room(entered.room, member) {
            self.ctx.mixers.leave(&name, &own);
            return Err(Failure::Internal(format!("cannot join the mixer: {error}")));
        }
        if let Err(error) = session.set_mixer_feed(Some(feed)) {
            tracing::warn!(%error, "cannot feed the mixer");
        }
        tracing::info!(mixer = %name, created = entered.created(), ?direction, "joined mixer");
        if let Some(start) = entered.actor {
            MixerActor::spawn(self.ctx.clone(), name.clone(), entered.room, start);
        }
        if let Some(c) = self.control.as_mut() {
            c.mixer = Some(InMixer {
                name: name.clone(),
                room: entered.room,
                direction,
                digits: entered.digits,
            });
        }
        self.update_delivery();
        // A call joined to another call keeps hearing that call (the relay
        // feeds its socket); a playing prompt goes on and then falls back
        // to the mix.
        if self.playing_nothing() {
            self.set_idle_source();
        }
        if let Some(c) = self.control.as_mut() {
            c.rules.joined(JoinTarget::Mixer(name), direction);
        }
        Ok(Output::None)
    }

    /// `Command::Unjoin` of a mixer.
    pub(super) fn unjoin_mixer(&mut self, name: &str) -> Result<Output, Failure> {
        let inside = self
            .control
            .as_ref()
            .and_then(|c| c.mixer.as_ref())
            .is_some_and(|m| m.name.eq_ignore_ascii_case(name));
        if !inside {
            return Err(Failure::InvalidState("not joined"));
        }
        self.leave_mixer();
        Ok(Output::None)
    }

    /// Takes the call out of its mixer, if any: the room stops hearing and
    /// feeding it, the mixer goes when it was the last, the controller is
    /// told `Unjoined`.
    pub(in crate::calls::call) fn leave_mixer(&mut self) {
        let Some(mixer) = self.control.as_mut().and_then(|c| c.mixer.take()) else {
            return;
        };
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            let _ = session.set_mixer_feed(None);
        }
        let stream = self
            .control
            .as_ref()
            .and_then(|c| c.media.as_ref())
            .map(|m| m.stream);
        if let Some(stream) = stream {
            if let Err(error) = self.ctx.pacer.leave_room(mixer.room, stream) {
                tracing::warn!(%error, "cannot leave the mixer's room");
            }
        }
        let own = self.control.as_ref().and_then(|c| c.registration.as_ref());
        let gone = own.is_some_and(|r| self.ctx.mixers.leave(&mixer.name, r.id()));
        tracing::info!(mixer = %mixer.name, gone, "left mixer");
        if self.playing_nothing() {
            self.set_idle_source();
        }
        if let Some(c) = self.control.as_mut() {
            c.rules.unjoined(JoinTarget::Mixer(mixer.name));
        }
        self.update_delivery();
    }

    /// The party's mute changed: the room stops (or starts) hearing it.
    pub(super) fn mute_in_mixer(&self, muted: bool) {
        let Some(control) = self.control.as_ref() else {
            return;
        };
        let (Some(mixer), Some(media)) = (&control.mixer, &control.media) else {
            return;
        };
        let options = options(mixer.direction, muted);
        if let Err(error) = self
            .ctx
            .pacer
            .set_member_options(mixer.room, media.stream, options)
        {
            tracing::warn!(%error, "cannot change the party's mute in the mixer");
        }
    }

    /// The room's voice activity detector heard the party start or stop.
    pub(super) fn on_speaking(&mut self, speaking: bool) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if let Some(mixer) = control.mixer.as_ref() {
            control.rules.speaking(&mixer.name, speaking);
        }
    }

    /// What the party hears when nothing of its own plays: the joined
    /// call (the relay sends on its own), else the mix, else silence.
    pub(in crate::calls::call) fn idle_source(&self) -> FrameSource {
        let Some(control) = self.control.as_ref() else {
            return FrameSource::Silence;
        };
        if control
            .joined
            .as_ref()
            .is_some_and(|j| join::receives(j.direction()))
        {
            FrameSource::Paused
        } else if control.mixer.is_some() {
            FrameSource::Mixed
        } else {
            FrameSource::Silence
        }
    }

    /// Puts the party's stream on [`idle_source`](Self::idle_source).
    pub(in crate::calls::call) fn set_idle_source(&self) {
        if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
            let _ = self.ctx.pacer.set_source(m.stream, self.idle_source());
        }
    }

    /// Whether no play or announcement of the call's own is sending.
    fn playing_nothing(&self) -> bool {
        self.control
            .as_ref()
            .is_none_or(|c| c.play.is_none() && c.announce.is_none() && c.echo.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_directions_map_to_the_room_switches() {
        let send = options(JoinDirection::Send, false);
        assert!(send.heard() && !send.hears());
        let recv = options(JoinDirection::Recv, false);
        assert!(!recv.heard() && recv.hears());
        let muted = options(JoinDirection::Duplex, true);
        assert!(!muted.heard() && muted.hears());
    }
}
