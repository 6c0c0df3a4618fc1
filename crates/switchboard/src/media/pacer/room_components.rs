//! Components on a room that are not calls: a player whose prompt the whole
//! room hears, and a tap that records the room's mix.
//!
//! Each is one more participant of the room's mixer, with an id taken from
//! the stream id space ([`super::PacerHandle::new_stream_id`]) so it never
//! collides with a member. A player is an
//! [`always_heard`](media::mixer::ParticipantOptions::always_heard) `Send`
//! participant: mixed at any level, hearing nothing; the pacer pushes its
//! prompt's next frame at each tick, as a call's receive task would push a
//! packet. A tap is a `Recv` participant: never heard, it hears the full
//! mix, which the tick hands to a [`RecorderTap`]. Both live and die with
//! the room: the room is dropped with its last member call.

use std::time::Instant;

use media::mixer::{Direction, Mixer, ParticipantId, ParticipantOptions};
use tokio::sync::mpsc;

use super::core::{PacerEvent, StreamId};
use super::source::{PromptFrames, G711};
use crate::media::recorder::RecorderTap;

/// A prompt played to every member of a room ([`super::PacerHandle::play_to_room`]).
#[derive(Debug)]
pub struct RoomPlayer {
    /// Its participant id in the room, from [`super::PacerHandle::new_stream_id`].
    pub id: StreamId,
    /// The law of `frames`.
    pub codec: G711,
    /// What it plays.
    pub frames: PromptFrames,
    /// Start again at the end instead of finishing.
    pub looped: bool,
    /// The first frame played (an output's start offset); a loop's later
    /// rounds start from frame 0.
    pub start: usize,
    /// Hold the prompt at its place, pushing nothing, until resumed
    /// ([`super::PacerHandle::pause_room_player`]).
    pub paused: bool,
    /// Echoed in [`PacerEvent::PromptFinished`] (with `id` as the stream).
    pub tag: u64,
    /// Where the end of the prompt is reported; `try_send`.
    pub events: Option<mpsc::Sender<PacerEvent>>,
}

/// A recording of a room's mix ([`super::PacerHandle::record_room`]).
#[derive(Debug)]
pub struct RoomTap {
    /// Its participant id in the room, from [`super::PacerHandle::new_stream_id`].
    pub id: StreamId,
    /// The law the mix is encoded in for the recorder.
    pub codec: G711,
    /// Where each 20 ms of the mix goes.
    pub tap: RecorderTap,
}

/// A player as a room holds it.
#[derive(Debug)]
pub(super) struct Player {
    pub setup: RoomPlayer,
    position: usize,
    sequence: u16,
    /// Ticks left until the frames still in the jitter buffer are played
    /// after the last one was pushed.
    draining: Option<usize>,
}

impl Player {
    pub fn new(setup: RoomPlayer) -> Player {
        Player {
            position: setup.start,
            setup,
            sequence: 0,
            draining: None,
        }
    }

    pub fn participant(&self) -> ParticipantId {
        ParticipantId(self.setup.id.0)
    }

    /// The options a player joins with.
    pub fn options() -> ParticipantOptions {
        ParticipantOptions {
            direction: Direction::Send,
            always_heard: true,
            ..ParticipantOptions::default()
        }
    }

    /// Pushes the prompt's next frame. Returns true once the prompt has
    /// ended and its last frame was played: the player is then done
    /// (reported finished here).
    pub fn step(&mut self, mixer: &mut Mixer) -> bool {
        if let Some(left) = self.draining.as_mut() {
            if *left == 0 {
                if let Some(events) = &self.setup.events {
                    let _ = events.try_send(PacerEvent::PromptFinished {
                        stream: self.setup.id,
                        tag: self.setup.tag,
                    });
                }
                return true;
            }
            *left -= 1;
            return false;
        }
        if self.setup.paused {
            // The room conceals the missing frames (a fade to silence).
            return false;
        }
        if self.position >= self.setup.frames.len() && self.setup.looped {
            self.position = 0;
        }
        match self.setup.frames.get(self.position) {
            Some(frame) => {
                let _ = mixer.push(self.participant(), self.sequence, frame);
                self.sequence = self.sequence.wrapping_add(1);
                self.position += 1;
            }
            // The jitter buffer still holds up to its depth of frames.
            None => self.draining = Some(mixer.config().jitter_depth),
        }
        false
    }
}

/// Hands `frame` to the tap with participant id `to`, if one has it.
pub(super) fn record(taps: &[RoomTap], to: ParticipantId, now: Instant, frame: &[u8]) -> bool {
    match taps.iter().find(|t| t.id.0 == to.0) {
        Some(tap) => {
            tap.tap.push(now, tap.codec, frame);
            true
        }
        None => false,
    }
}

/// The options a tap joins with.
pub(super) fn tap_options() -> ParticipantOptions {
    ParticipantOptions {
        direction: Direction::Recv,
        ..ParticipantOptions::default()
    }
}
