//! The pacer's state and per-tick work, without the thread or the clock's
//! sleeping: the `Pacer` thread drives one `PacerCore`, and tests and
//! benchmarks drive one directly.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use media::rtp::RtpHeader;
use tokio::sync::mpsc;

use super::room_components::{RoomPlayer, RoomTap};
use super::rooms::{RoomId, RoomMember, RoomOutput, Rooms};
use super::source::{AfterPrompt, Frame, FrameSource, FRAME_SAMPLES, G711};
use super::stats::{PacerStats, StreamCounters};
use crate::media::reports::OutboundCounters;
use media::mixer::ParticipantOptions;

/// RTP fixed header length: we send no CSRCs and no extension.
const HEADER_LEN: usize = 12;
/// Largest packet the pacer builds.
const PACKET_LEN: usize = HEADER_LEN + FRAME_SAMPLES;
/// Timestamp units per 20 ms frame at 8 kHz.
const TIMESTAMP_STEP: u32 = FRAME_SAMPLES as u32;

/// Identifies one paced stream; chosen by [`super::PacerHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// Something the pacer reports about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacerEvent {
    /// A non-looped prompt sent its last frame; the stream fell back to its
    /// [`AfterPrompt`] source.
    PromptFinished {
        /// The stream.
        stream: StreamId,
        /// The prompt's [`FrameSource::Prompt`] tag.
        tag: u64,
    },
    /// The stream's member in its room started (`true`) or stopped
    /// speaking, as the room's voice activity detector heard it; once per
    /// change, and a speaker that leaves is reported stopped.
    Speaking {
        /// The member's stream.
        stream: StreamId,
        /// Whether it speaks now.
        speaking: bool,
    },
}

/// Everything the pacer needs to send one stream.
#[derive(Debug)]
pub struct StreamSetup {
    /// Socket to send from (the leg's RTP socket; set non-blocking on add).
    pub socket: Arc<UdpSocket>,
    /// Where the far end receives RTP.
    pub destination: SocketAddr,
    /// G.711 law, which also gives the payload type.
    pub codec: G711,
    /// SSRC of every packet.
    pub ssrc: u32,
    /// Sequence number of the first packet.
    pub initial_sequence: u16,
    /// Timestamp of the first packet.
    pub initial_timestamp: u32,
    /// What to send from the first tick on.
    pub source: FrameSource,
    /// What follows a non-looped prompt.
    pub after_prompt: AfterPrompt,
    /// Where to report [`PacerEvent`]s; `try_send`, dropped when full or closed.
    pub events: Option<mpsc::Sender<PacerEvent>>,
    /// The leg's outbound stream when others (the relay) also feed it: the
    /// pacer then sends as its SSRC, continues its numbering whenever
    /// someone else sent last, and records what it sends there.
    pub outbound: Option<Arc<OutboundCounters>>,
}

/// One registered stream as the pacer holds it.
#[derive(Debug)]
struct Stream {
    id: StreamId,
    setup: StreamSetup,
    sequence: u16,
    timestamp: u32,
    /// Next frame of a prompt source.
    position: usize,
    /// Set the marker bit on the next packet sent (RFC 3550 talkspurt start).
    marker: bool,
    /// The prompt (or tone) is paused: it keeps its place and silence goes out instead;
    /// cleared by the next [`PacerCore::set_source`].
    prompt_paused: bool,
    counters: Arc<StreamCounters>,
    /// The room the stream is a member of.
    room: Option<RoomId>,
    /// What its room mixed for it this tick, valid while `mix_fresh`.
    mix: Frame,
    mix_fresh: bool,
}

/// All streams, their rooms and the one reusable packet buffer.
#[derive(Debug)]
pub struct PacerCore {
    streams: Vec<Stream>,
    index: HashMap<StreamId, usize>,
    rooms: Rooms,
    packet: [u8; PACKET_LEN],
    stats: Arc<PacerStats>,
}

impl PacerCore {
    /// An empty core with room for `expected_streams` before any reallocation.
    pub fn new(expected_streams: usize, stats: Arc<PacerStats>) -> PacerCore {
        PacerCore {
            streams: Vec::with_capacity(expected_streams),
            index: HashMap::with_capacity(expected_streams),
            rooms: Rooms::default(),
            packet: [0; PACKET_LEN],
            stats,
        }
    }

    /// The pacer-wide counters this core writes.
    pub fn stats(&self) -> &Arc<PacerStats> {
        &self.stats
    }

    /// Streams registered.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether no stream is registered.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Registers a stream (replacing one with the same id); its first packet
    /// carries the marker bit. The socket should be non-blocking
    /// ([`super::PacerHandle::add_stream`] makes it so).
    pub fn add_stream(&mut self, id: StreamId, setup: StreamSetup, counters: Arc<StreamCounters>) {
        self.remove_stream(id);
        let (sequence, timestamp) = match &setup.outbound {
            Some(outbound) => outbound.continuation(Instant::now()),
            None => (setup.initial_sequence, setup.initial_timestamp),
        };
        counters.record_position(sequence, timestamp);
        let position = start_of(&setup.source);
        self.index.insert(id, self.streams.len());
        self.streams.push(Stream {
            id,
            sequence,
            timestamp,
            setup,
            position,
            marker: true,
            prompt_paused: false,
            counters,
            room: None,
            mix: [0; FRAME_SAMPLES],
            mix_fresh: false,
        });
    }

    /// Replaces a stream's source; the next packet carries the marker bit.
    /// Returns false for an unknown stream.
    pub fn set_source(&mut self, id: StreamId, source: FrameSource) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.position = start_of(&source);
        stream.setup.source = source;
        stream.marker = true;
        stream.prompt_paused = false;
        true
    }

    /// Pauses (`paused`) or resumes a stream's prompt or tone in place: while
    /// paused the stream sends silence in the same RTP stream and the prompt
    /// does not advance, so resuming continues with the frame that was
    /// next. No effect on a stream sending silence or nothing. Returns
    /// false for an unknown stream.
    pub fn set_prompt_paused(&mut self, id: StreamId, paused: bool) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.prompt_paused = paused;
        true
    }

    /// Sends a stream's next packets elsewhere. Returns false for an unknown stream.
    pub fn set_destination(&mut self, id: StreamId, destination: SocketAddr) -> bool {
        let Some(stream) = self.stream_mut(id) else {
            return false;
        };
        stream.setup.destination = destination;
        true
    }

    /// Stops and forgets a stream, taking it out of its room. Returns false
    /// for an unknown stream.
    pub fn remove_stream(&mut self, id: StreamId) -> bool {
        let Some(&at) = self.index.get(&id) else {
            return false;
        };
        if let Some(room) = self.streams[at].room {
            self.leave_room(room, id);
        }
        self.index.remove(&id);
        self.streams.swap_remove(at);
        if let Some(moved) = self.streams.get(at) {
            self.index.insert(moved.id, at);
        }
        true
    }

    /// Puts a stream in a room (created by its first member), moving it out
    /// of any other room; the stream then sends the room's mix (marker bit
    /// set). Returns false, and joins nothing, for an unknown stream.
    pub fn join_room(&mut self, room: RoomId, member: RoomMember) -> bool {
        let id = member.stream;
        let Some(&at) = self.index.get(&id) else {
            return false;
        };
        if let Some(old) = self.streams[at].room.filter(|&old| old != room) {
            self.leave_room(old, id);
        }
        self.rooms.join(room, member);
        let stream = &mut self.streams[at];
        stream.room = Some(room);
        stream.setup.source = FrameSource::Mixed;
        stream.position = 0;
        stream.marker = true;
        stream.prompt_paused = false;
        true
    }

    /// Changes a member's mute, deaf or direction. Returns false when the
    /// stream is not in that room.
    pub fn set_member_options(
        &mut self,
        room: RoomId,
        id: StreamId,
        options: ParticipantOptions,
    ) -> bool {
        self.rooms.set_options(room, id, options)
    }

    /// Takes a stream out of a room (dropped when it empties); a stream that
    /// was sending the mix goes back to silence. Also stops a player (no
    /// finished event) or a tap by its id. Returns false when the id was not
    /// in that room.
    pub fn leave_room(&mut self, room: RoomId, id: StreamId) -> bool {
        let PacerCore {
            streams,
            index,
            rooms,
            ..
        } = self;
        if !rooms.leave(room, id, |output| deliver(streams, index, output)) {
            return false;
        }
        if let Some(&at) = index.get(&id) {
            let stream = &mut streams[at];
            stream.room = None;
            if matches!(stream.setup.source, FrameSource::Mixed) {
                stream.setup.source = FrameSource::Silence;
                stream.marker = true;
            }
        }
        true
    }

    /// Plays a prompt to everyone in an existing room (mixed at any level,
    /// hearing nothing); its end is reported as
    /// [`PacerEvent::PromptFinished`] with the player's id. Returns false
    /// for an unknown room or an id already in it.
    pub fn play_to_room(&mut self, room: RoomId, player: RoomPlayer) -> bool {
        self.rooms.add_player(room, player)
    }

    /// Pauses or resumes a room's player in place; false when unknown.
    pub fn pause_room_player(&mut self, room: RoomId, player: StreamId, paused: bool) -> bool {
        self.rooms.pause_player(room, player, paused)
    }

    /// Records an existing room's full mix into a tap until
    /// [`leave_room`](Self::leave_room) with the tap's id. Returns false for
    /// an unknown room or an id already in it.
    pub fn record_room(&mut self, room: RoomId, tap: RoomTap) -> bool {
        self.rooms.add_tap(room, tap)
    }

    /// Rooms held (each has at least one member).
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    /// Members of `room`; 0 for a room that does not exist.
    pub fn room_members(&self, room: RoomId) -> usize {
        self.rooms.members(room)
    }

    fn stream_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        let at = *self.index.get(&id)?;
        self.streams.get_mut(at)
    }

    /// Mixes every room, then sends every stream's next frame. `due` is
    /// when this tick was scheduled; each frame's lateness is measured
    /// against it.
    ///
    /// The hot path: no allocation, no lock; one `send_to` per frame.
    pub fn tick(&mut self, due: Instant) {
        let PacerCore {
            streams,
            index,
            rooms,
            packet,
            stats,
        } = self;
        rooms.tick(due, |output| deliver(streams, index, output));
        for stream in streams.iter_mut() {
            let (header_bytes, payload) = packet.split_at_mut(HEADER_LEN);
            let payload: &mut Frame = payload
                .try_into()
                .expect("the packet buffer holds one frame");
            if next_payload(stream, payload) {
                let setup = &stream.setup;
                let mut ssrc = setup.ssrc;
                if let Some(outbound) = &setup.outbound {
                    ssrc = outbound.stream_ssrc();
                    let last = outbound.last_sequence();
                    if last.is_some() && last != Some(stream.sequence.wrapping_sub(1)) {
                        // The relay sent since our last frame: continue its numbering.
                        (stream.sequence, stream.timestamp) = outbound.continuation(due);
                        stream.marker = true;
                    }
                }
                let header = RtpHeader {
                    marker: stream.marker,
                    payload_type: setup.codec.payload_type(),
                    sequence_number: stream.sequence,
                    timestamp: stream.timestamp,
                    ssrc,
                    ..RtpHeader::default()
                };
                // A bare 12-byte header into its 12 bytes cannot fail; the
                // payload is already in place behind it.
                if header.write(&[], header_bytes).is_ok() {
                    let ok = setup.socket.send_to(&packet[..], setup.destination).is_ok();
                    let now = Instant::now();
                    let lateness = now.saturating_duration_since(due);
                    stream.counters.record_send(ok, lateness);
                    stats.frame_lateness.record(lateness);
                    if let Some(outbound) = &setup.outbound {
                        outbound.sent(stream.sequence, stream.timestamp, FRAME_SAMPLES, now);
                        // What the party hears, for its recordings.
                        let payload = &packet[HEADER_LEN..];
                        outbound
                            .taps()
                            .push(now, setup.codec.payload_type(), payload);
                    }
                }
                stream.marker = false;
                stream.sequence = stream.sequence.wrapping_add(1);
            }
            // Paused streams keep their media clock running, so resuming
            // looks like the end of a silence period (RFC 3550 §5.1).
            stream.timestamp = stream.timestamp.wrapping_add(TIMESTAMP_STEP);
            stream
                .counters
                .record_position(stream.sequence, stream.timestamp);
            let prompt = match stream.setup.source {
                FrameSource::Prompt { tag, .. } => Some(tag),
                _ => None,
            };
            stream.counters.record_prompt(prompt, stream.position);
        }
        stats.record_streams(streams.len(), rooms.len());
    }
}

/// Hands a room's output to its member stream: the mix into the stream's
/// slot, a speaker change to its events channel (`try_send`: dropped when
/// full or closed, media never waits).
fn deliver(streams: &mut [Stream], index: &HashMap<StreamId, usize>, output: RoomOutput<'_>) {
    let (id, stream) = match output {
        RoomOutput::Frame(id, _) | RoomOutput::Speaking(id, _) => match index.get(&id) {
            Some(&at) => (id, &mut streams[at]),
            None => return,
        },
    };
    match output {
        RoomOutput::Frame(_, frame) => {
            if frame.len() == FRAME_SAMPLES {
                stream.mix.copy_from_slice(frame);
                stream.mix_fresh = true;
            }
        }
        RoomOutput::Speaking(_, speaking) => {
            if let Some(events) = &stream.setup.events {
                let _ = events.try_send(PacerEvent::Speaking {
                    stream: id,
                    speaking,
                });
            }
        }
    }
}

/// Where a source starts: a prompt at its `start`, anything else at 0.
fn start_of(source: &FrameSource) -> usize {
    match source {
        FrameSource::Prompt { start, .. } => *start,
        _ => 0,
    }
}

/// Writes the stream's next payload into `out`, advancing its source;
/// false when there is nothing to send. Consumes this tick's mix.
fn next_payload(stream: &mut Stream, out: &mut Frame) -> bool {
    let codec = stream.setup.codec;
    let mix_fresh = std::mem::take(&mut stream.mix_fresh);
    if stream.prompt_paused {
        // A paused prompt neither advances nor finishes; the listener hears
        // silence in the same stream (timestamps continuous, no marker).
        return match stream.setup.source {
            FrameSource::Paused => false,
            FrameSource::Silence
            | FrameSource::Tone(_)
            | FrameSource::Prompt { .. }
            | FrameSource::Mixed => {
                out.fill(codec.silence_code());
                true
            }
        };
    }
    // A finished prompt hands over to its fallback within the same tick, so
    // the receiver hears no gap.
    if let FrameSource::Prompt {
        frames,
        looped,
        tag,
        ..
    } = &stream.setup.source
    {
        let tag = *tag;
        if stream.position >= frames.len() {
            if *looped && !frames.is_empty() {
                stream.position = 0;
            } else {
                // A room member goes back to the room's mix.
                stream.setup.source = match stream.room {
                    Some(_) => FrameSource::Mixed,
                    None => stream.setup.after_prompt.into(),
                };
                stream.marker = true;
                if let Some(events) = &stream.setup.events {
                    // Dropped when the consumer is full or gone: media never waits.
                    let _ = events.try_send(PacerEvent::PromptFinished {
                        stream: stream.id,
                        tag,
                    });
                }
            }
        }
    }
    match &mut stream.setup.source {
        FrameSource::Paused => false,
        FrameSource::Silence => {
            out.fill(codec.silence_code());
            true
        }
        // Silence on a tick the room gave nothing (deaf, direction `Send`,
        // not in a room any more).
        FrameSource::Mixed => {
            if mix_fresh {
                out.copy_from_slice(&stream.mix);
            } else {
                out.fill(codec.silence_code());
            }
            true
        }
        FrameSource::Tone(generator) => {
            let mut samples = [0i16; FRAME_SAMPLES];
            generator.fill(&mut samples);
            codec.encode(&samples, out);
            true
        }
        FrameSource::Prompt { frames, .. } => match frames.get(stream.position) {
            Some(frame) => {
                out.copy_from_slice(frame);
                stream.position += 1;
                true
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod room_tests;
#[cfg(test)]
mod tests;
