//! Conference rooms mixed on the pacer thread: each room is one
//! [`media::mixer::Mixer`] and the streams that are its members.
//!
//! # Why in the pacer
//!
//! A room's mix is due every 20 ms for every member, exactly when the pacer
//! sends each member's next frame. Mixing in the same thread at the start of
//! the same tick costs no extra wake-up, no timer or task per participant
//! and no hand-off of mixed frames between threads: the tick mixes every
//! room into a slot per member stream, then the stream walk sends each
//! [`FrameSource::Mixed`](super::FrameSource::Mixed) stream's slot as it
//! would a prompt frame. A room of 200 costs little more than one of 10,
//! because the mixer sums only its loudest few speakers.
//!
//! # Packets in
//!
//! A member's received audio comes from its RTP session's receive task
//! (another thread) through a [`MixerFeed`] / [`MemberInbound`] pair made
//! by [`member_feed`]: a bounded queue of [`MEMBER_QUEUE`] whole frames,
//! written with `try_send` (a full queue drops and counts the packet, the
//! receive task never waits) and drained by the pacer at the start of each
//! tick into the member's jitter buffer. A frame is a fixed array, so
//! nothing is allocated per packet.
//!
//! # Membership
//!
//! A stream is in at most one room; joining another room moves it. A room is
//! created by its first join and dropped with its last leave, with its
//! players and taps (`room_components.rs`). Commands
//! naming an unknown room or stream are counted by the caller
//! ([`PacerSnapshot::unknown_stream_commands`](super::PacerSnapshot)), never
//! a panic.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Instant;

use media::mixer::{Codec, Mixer, MixerConfig, ParticipantId, ParticipantOptions};

use super::core::StreamId;
use super::room_components::{self, Player, RoomPlayer, RoomTap};
use super::source::{Frame, FRAME_SAMPLES, G711};

/// Frames a member's queue holds between two ticks (160 ms of audio).
pub const MEMBER_QUEUE: usize = 8;

/// Names a room; chosen by the caller (the mixer registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub u64);

/// The receive side's end of a member's queue: the RTP session pushes each
/// received audio frame here ([`crate::media::session::RtpSession::set_mixer_feed`]).
#[derive(Debug, Clone)]
pub struct MixerFeed {
    frames: SyncSender<(u16, Frame)>,
    payload_type: Option<u8>,
}

/// Why a [`MixerFeed::push`] did not queue its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The queue is full: the pacer is behind; the frame is dropped.
    #[error("the member's mixer queue is full")]
    Full,
    /// The member left its room (or the pacer stopped); the feed is useless.
    #[error("the member's mixer queue is closed")]
    Closed,
}

impl MixerFeed {
    /// Takes only packets of `payload_type` (the negotiated audio), not just
    /// any negotiated type with a frame-sized payload.
    pub fn for_payload_type(mut self, payload_type: u8) -> MixerFeed {
        self.payload_type = Some(payload_type);
        self
    }

    /// Whether a packet of `payload_type` with a `len`-byte payload is audio
    /// for the mixer: exactly one 20 ms G.711 frame, of the chosen type.
    pub fn accepts(&self, payload_type: u8, len: usize) -> bool {
        len == FRAME_SAMPLES && self.payload_type.is_none_or(|pt| pt == payload_type)
    }

    /// Queues one received frame without waiting; the payload must be one
    /// frame ([`accepts`](Self::accepts)), anything else is ignored as full.
    pub fn push(&self, sequence: u16, payload: &[u8]) -> Result<(), FeedError> {
        let Ok(frame) = Frame::try_from(payload) else {
            return Err(FeedError::Full);
        };
        self.frames
            .try_send((sequence, frame))
            .map_err(|e| match e {
                TrySendError::Full(_) => FeedError::Full,
                TrySendError::Disconnected(_) => FeedError::Closed,
            })
    }
}

/// The pacer's end of a member's queue, handed over in [`RoomMember`].
#[derive(Debug)]
pub struct MemberInbound {
    frames: Receiver<(u16, Frame)>,
}

#[cfg(test)]
impl MemberInbound {
    /// The next queued frame, as the pacer would take it.
    pub(crate) fn try_frame(&self) -> Option<(u16, Frame)> {
        self.frames.try_recv().ok()
    }
}

/// A new member queue: the feed for the RTP session, the inbound for the room.
pub fn member_feed() -> (MixerFeed, MemberInbound) {
    let (frames, inbound) = mpsc::sync_channel(MEMBER_QUEUE);
    (
        MixerFeed {
            frames,
            payload_type: None,
        },
        MemberInbound { frames: inbound },
    )
}

/// A stream joining a room ([`super::PacerHandle::join_room`]).
#[derive(Debug)]
pub struct RoomMember {
    /// The member's paced stream, which then sends the room's mix.
    pub stream: StreamId,
    /// The law the member sends in (and hears the room in).
    pub codec: G711,
    /// Mute, deaf, direction as the join asked.
    pub options: ParticipantOptions,
    /// Where its received frames arrive.
    pub inbound: MemberInbound,
}

/// What a room tick hands to the pacer core.
#[derive(Debug)]
pub(super) enum RoomOutput<'a> {
    /// The mix `stream` hears this tick.
    Frame(StreamId, &'a [u8]),
    /// The member of `stream` started (`true`) or stopped speaking.
    Speaking(StreamId, bool),
}

#[derive(Debug)]
struct Member {
    stream: StreamId,
    inbound: MemberInbound,
}

#[derive(Debug)]
struct Room {
    mixer: Mixer,
    members: Vec<Member>,
    players: Vec<Player>,
    taps: Vec<RoomTap>,
}

impl Room {
    fn member(&self, stream: StreamId) -> Option<usize> {
        self.members.iter().position(|m| m.stream == stream)
    }
}

/// Every room of one pacer core.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    rooms: HashMap<RoomId, Room>,
}

fn codec(law: G711) -> Codec {
    match law {
        G711::Pcmu => Codec::Pcmu,
        G711::Pcma => Codec::Pcma,
    }
}

fn participant(stream: StreamId) -> ParticipantId {
    ParticipantId(stream.0)
}

impl Rooms {
    /// Rooms held.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Members of `room` (0 for an unknown room).
    pub fn members(&self, room: RoomId) -> usize {
        self.rooms.get(&room).map_or(0, |r| r.members.len())
    }

    /// Adds `member` to `room`, creating the room. A stream already in the
    /// room takes the new queue, codec and options (its jitter buffer and
    /// voice detector carry on).
    pub fn join(&mut self, room: RoomId, member: RoomMember) {
        let room = self.rooms.entry(room).or_insert_with(|| Room {
            mixer: Mixer::new(MixerConfig::default()),
            members: Vec::new(),
            players: Vec::new(),
            taps: Vec::new(),
        });
        let id = participant(member.stream);
        match room.member(member.stream) {
            Some(at) => {
                // Known to the mixer, so neither call can fail.
                let _ = room.mixer.set_codec(id, codec(member.codec));
                let _ = room.mixer.set_options(id, member.options);
                room.members[at].inbound = member.inbound;
            }
            None => {
                // Not a member, so not a duplicate in the mixer either.
                let _ = room.mixer.add(id, codec(member.codec), member.options);
                room.members.push(Member {
                    stream: member.stream,
                    inbound: member.inbound,
                });
            }
        }
    }

    /// Changes a member's options; false when it is not in that room.
    pub fn set_options(
        &mut self,
        room: RoomId,
        stream: StreamId,
        options: ParticipantOptions,
    ) -> bool {
        self.rooms
            .get_mut(&room)
            .is_some_and(|r| r.mixer.set_options(participant(stream), options).is_ok())
    }

    /// Adds a player to an existing room; false for an unknown room or an
    /// id already in it.
    pub fn add_player(&mut self, room: RoomId, player: RoomPlayer) -> bool {
        let Some(r) = self.rooms.get_mut(&room) else {
            return false;
        };
        let player = Player::new(player);
        let law = codec(player.setup.codec);
        if r.mixer
            .add(player.participant(), law, Player::options())
            .is_err()
        {
            return false;
        }
        r.players.push(player);
        true
    }

    /// Pauses or resumes a room's player in place; false when unknown.
    pub fn pause_player(&mut self, room: RoomId, player: StreamId, paused: bool) -> bool {
        let Some(r) = self.rooms.get_mut(&room) else {
            return false;
        };
        match r.players.iter_mut().find(|p| p.setup.id == player) {
            Some(p) => {
                p.setup.paused = paused;
                true
            }
            None => false,
        }
    }

    /// Adds a tap to an existing room; false for an unknown room or an id
    /// already in it.
    pub fn add_tap(&mut self, room: RoomId, tap: RoomTap) -> bool {
        let Some(r) = self.rooms.get_mut(&room) else {
            return false;
        };
        let id = participant(tap.id);
        let options = room_components::tap_options();
        if r.mixer.add(id, codec(tap.codec), options).is_err() {
            return false;
        }
        r.taps.push(tap);
        true
    }

    /// Takes `stream` (a member, a player or a tap) out of `room`,
    /// dropping the room when its last member leaves; a speaker's "stopped"
    /// goes to `out` at once. False when it was not in it.
    pub fn leave(
        &mut self,
        room: RoomId,
        stream: StreamId,
        mut out: impl FnMut(RoomOutput<'_>),
    ) -> bool {
        let Some(r) = self.rooms.get_mut(&room) else {
            return false;
        };
        let Some(at) = r.member(stream) else {
            // A player stops without a finished event; a tap stops recording.
            let known = match r.players.iter().position(|p| p.setup.id == stream) {
                Some(at) => {
                    r.players.swap_remove(at);
                    true
                }
                None => match r.taps.iter().position(|t| t.id == stream) {
                    Some(at) => {
                        r.taps.swap_remove(at);
                        true
                    }
                    None => false,
                },
            };
            if known {
                let _ = r.mixer.remove(participant(stream));
            }
            return known;
        };
        r.members.swap_remove(at);
        let _ = r.mixer.remove(participant(stream));
        speaker_events(&mut r.mixer, &mut out);
        if r.members.is_empty() {
            self.rooms.remove(&room);
        }
        true
    }

    /// One 20 ms step of every room: queued frames and players' frames into
    /// the mixers, one mix per listener (to `out`, or to its tap) and the
    /// speaker changes out. No allocation, no lock.
    pub fn tick(&mut self, now: Instant, mut out: impl FnMut(RoomOutput<'_>)) {
        for room in self.rooms.values_mut() {
            let Room {
                mixer,
                members,
                players,
                taps,
            } = room;
            players.retain_mut(|player| {
                let done = player.step(mixer);
                if done {
                    let _ = mixer.remove(player.participant());
                }
                !done
            });
            for member in members.iter() {
                let id = participant(member.stream);
                for _ in 0..MEMBER_QUEUE {
                    match member.inbound.frames.try_recv() {
                        // Late, duplicate and reordered frames are the
                        // jitter buffer's business (counted there).
                        Ok((sequence, frame)) => {
                            let _ = mixer.push(id, sequence, &frame);
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
            }
            mixer.tick(|to, frame| {
                if taps.is_empty() || !room_components::record(taps, to, now, frame) {
                    out(RoomOutput::Frame(StreamId(to.0), frame));
                }
            });
            speaker_events(mixer, &mut out);
        }
    }
}

fn speaker_events(mixer: &mut Mixer, out: &mut impl FnMut(RoomOutput<'_>)) {
    while let Some(event) = mixer.poll_event() {
        out(RoomOutput::Speaking(StreamId(event.id.0), event.speaking));
    }
}
