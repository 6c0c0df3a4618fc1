//! The outbound RTP pacer: one thread sends every stream's 20 ms frames from
//! shared ticks.
//!
//! # Why shared ticks
//!
//! A timer or task per call puts thousands of wake-ups every 20 ms into the
//! scheduler, each landing a little late; measured on this kind of machine,
//! per-call timers had a p99 lateness of 7–9.5 ms at 1,000–2,000 calls,
//! against ~1.7 ms for one shared tick (DESIGN.md, "Performance rules"). So a
//! single `rtp-pacer` thread wakes every 20 ms and walks every registered
//! stream, sending each one's next frame with one non-blocking `send_to`.
//!
//! # Scheduling of the thread
//!
//! With one thread sending everything, every stream's pacing is that
//! thread's wake-up latency plus its place in the walk. On a busy core a
//! time-shared pacer waits for the running task's slice and is preempted
//! mid-walk; measured at 1,000 played calls with other work on the
//! machine that was a receive-side p99 of 18 ms (72 ms at 1,100, with
//! skipped ticks). So the thread asks for `SCHED_FIFO`
//! (`media.pacer_realtime`, on by default, see `priority.rs`), which
//! brought the same runs to 0.5 ms and 1.8 ms, and gives it back when its
//! walks take most of every tick. `sendmmsg` does not apply: each stream
//! sends from its own call's socket, and one call of it takes one socket.
//!
//! # Schedule and lateness
//!
//! Tick `k` is due at `start + k × 20 ms` (absolute, so sleep overshoot does
//! not accumulate into drift). When the thread wakes more than one tick late
//! (a stalled machine), it sends one frame per stream for the tick it is in
//! and *skips* the ticks already past, instead of bursting the missed frames
//! back to back: a burst would overflow the small jitter buffers of phones
//! and double the work at the moment the machine is already behind. The
//! price is that the streams' media clocks fall behind wall time by the
//! skipped ticks, which a receiver's jitter buffer absorbs as a one-time
//! delay. Skipped ticks are counted in [`PacerSnapshot::skipped_ticks`].
//!
//! # Ownership and control
//!
//! The pacer thread owns all stream state ([`PacerCore`]). Everyone else
//! talks to it through a [`PacerHandle`], which `try_send`s commands into a
//! bounded channel that the thread drains at the start of each tick; a full
//! channel is an error for the caller, never a wait ("control never waits on
//! media, media never waits on control"). Events (a prompt finished, a room
//! member started or stopped speaking) go back through each stream's own
//! bounded channel with `try_send`, dropped if the consumer is full or gone.
//!
//! # RTP
//!
//! Each stream is one RTP stream to the receiver: one SSRC, the sequence
//! number +1 and the timestamp +160 per frame, continuous across source
//! changes; the first packet after a source change carries the marker bit
//! (the start of a talkspurt, RFC 3550 §5.1). While [`FrameSource::Paused`]
//! nothing is sent but the timestamp keeps advancing. A stream whose
//! prompt is paused ([`PacerHandle::set_prompt_paused`]) sends silence
//! instead of the prompt's next frame and keeps the prompt's position: one flag tested per
//! frame, so pausing costs the hot path nothing.
//!
//! # Rooms
//!
//! Conference rooms are mixed in this thread too, at the start of each tick
//! and before the stream walk (see `rooms.rs` for why): every room drains
//! its members' received frames ([`member_feed`]) into its
//! [`media::mixer::Mixer`], mixes once, and leaves each member's frame in a
//! slot of the member's stream; speaker changes go out as
//! [`PacerEvent::Speaking`] on the member stream's events channel. The walk
//! then sends a [`FrameSource::Mixed`] stream's slot like any other frame
//! (silence when the room gave it none: deaf, direction `Send`). A member
//! may still play a prompt of its own; when a non-looped one ends the
//! stream returns to the mix, not to its [`AfterPrompt`]. Rooms are joined
//! and left with [`PacerHandle::join_room`] and [`PacerHandle::leave_room`];
//! removing a stream also takes it out of its room. A room may also hold a
//! player ([`PacerHandle::play_to_room`], an announcement everyone hears)
//! and a tap ([`PacerHandle::record_room`], a recording of the full mix),
//! driven by the same tick.
//!
//! # The hot path
//!
//! Per room: at most [`MEMBER_QUEUE`] lock-free queue reads per member, one
//! mixer tick (one decode, level and voice-activity pass per member; sums
//! and encodes only for the loudest few speakers and once per codec for
//! everyone else) and one 160-byte copy per listener into its stream's
//! slot. Per frame: pick or generate the payload, write the header and
//! payload into the one packet buffer the thread owns, `send_to`, update
//! counters with relaxed single-writer stores. No allocation, no lock, no
//! syscall besides the send (the mixer's and rooms' buffers are reused
//! from tick to tick). Command handling (adding a stream or a room may
//! grow a table) happens once per call event, not per packet.

mod core;
mod priority;
mod room_components;
mod rooms;
mod source;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use media::mixer::ParticipantOptions;

pub use self::core::{PacerCore, PacerEvent, StreamId, StreamSetup};
pub use self::priority::Scheduling;
pub use self::room_components::{RoomPlayer, RoomTap};
pub use self::rooms::{
    member_feed, FeedError, MemberInbound, MixerFeed, RoomId, RoomMember, MEMBER_QUEUE,
};
pub use self::source::{AfterPrompt, Frame, FrameSource, PromptFrames, FRAME_SAMPLES, G711};
pub use self::stats::{
    LatenessBuckets, LatenessHistogram, LatenessSummary, PacerSnapshot, PacerStats, PromptPosition,
    StreamCounters, StreamSnapshot,
};

/// Time between ticks (the ptime).
pub const TICK: Duration = Duration::from_millis(20);

/// How long dropping a [`Pacer`] waits for its thread to finish.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Sizes of a [`Pacer`]'s queues and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacerConfig {
    /// Commands that may wait for the next tick before callers get [`PacerError::Full`].
    pub command_capacity: usize,
    /// Streams the table holds before it first grows.
    pub expected_streams: usize,
    /// Real-time priority and CPU of the pacer thread (see `priority.rs`).
    pub scheduling: Scheduling,
}

impl Default for PacerConfig {
    fn default() -> Self {
        PacerConfig {
            command_capacity: 4096,
            expected_streams: 2048,
            scheduling: Scheduling::default(),
        }
    }
}

/// Why a command did not reach the pacer.
#[derive(Debug, thiserror::Error)]
pub enum PacerError {
    /// The command queue is full; the pacer is behind. Retry later or give up.
    #[error("the RTP pacer's command queue is full")]
    Full,
    /// The pacer thread has stopped.
    #[error("the RTP pacer has stopped")]
    Stopped,
    /// The stream's socket could not be made non-blocking.
    #[error("cannot make the RTP socket non-blocking: {0}")]
    Socket(#[from] io::Error),
}

/// What the pacer thread is asked to do.
enum Command {
    AddStream {
        id: StreamId,
        setup: Box<StreamSetup>,
        counters: Arc<StreamCounters>,
    },
    SetSource {
        id: StreamId,
        source: FrameSource,
    },
    SetDestination {
        id: StreamId,
        destination: SocketAddr,
    },
    SetPromptPaused {
        id: StreamId,
        paused: bool,
    },
    RemoveStream {
        id: StreamId,
    },
    JoinRoom {
        room: RoomId,
        member: Box<RoomMember>,
    },
    SetMemberOptions {
        room: RoomId,
        id: StreamId,
        options: ParticipantOptions,
    },
    LeaveRoom {
        room: RoomId,
        id: StreamId,
    },
    PlayToRoom {
        room: RoomId,
        player: Box<RoomPlayer>,
    },
    RecordRoom {
        room: RoomId,
        tap: Box<RoomTap>,
    },
    PauseRoomPlayer {
        room: RoomId,
        player: StreamId,
        paused: bool,
    },
    Shutdown,
}

/// A stream just handed to the pacer.
#[derive(Debug, Clone)]
pub struct PacedStream {
    /// Its id, for later commands.
    pub id: StreamId,
    /// Its counters, updated by the pacer at every send.
    pub counters: Arc<StreamCounters>,
}

/// Sends commands to the pacer thread; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct PacerHandle {
    commands: SyncSender<Command>,
    next_id: Arc<AtomicU64>,
    stats: Arc<PacerStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::AddStream { id, .. } => write!(f, "AddStream({})", id.0),
            Command::SetSource { id, .. } => write!(f, "SetSource({})", id.0),
            Command::SetDestination { id, .. } => write!(f, "SetDestination({})", id.0),
            Command::SetPromptPaused { id, paused } => {
                write!(f, "SetPromptPaused({}, {paused})", id.0)
            }
            Command::RemoveStream { id } => write!(f, "RemoveStream({})", id.0),
            Command::JoinRoom { room, member } => {
                write!(f, "JoinRoom({}, {})", room.0, member.stream.0)
            }
            Command::SetMemberOptions { room, id, .. } => {
                write!(f, "SetMemberOptions({}, {})", room.0, id.0)
            }
            Command::LeaveRoom { room, id } => write!(f, "LeaveRoom({}, {})", room.0, id.0),
            Command::PlayToRoom { room, player } => {
                write!(f, "PlayToRoom({}, {})", room.0, player.id.0)
            }
            Command::RecordRoom { room, tap } => write!(f, "RecordRoom({}, {})", room.0, tap.id.0),
            Command::PauseRoomPlayer {
                room,
                player,
                paused,
            } => write!(f, "PauseRoomPlayer({}, {}, {paused})", room.0, player.0),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl PacerHandle {
    fn send(&self, command: Command) -> Result<(), PacerError> {
        self.commands.try_send(command).map_err(|e| match e {
            TrySendError::Full(_) => PacerError::Full,
            TrySendError::Disconnected(_) => PacerError::Stopped,
        })
    }

    /// Registers a stream under a fresh id; it sends from the next tick on.
    /// Puts `setup.socket` in non-blocking mode (as tokio needs it anyway).
    pub fn add_stream(&self, setup: StreamSetup) -> Result<PacedStream, PacerError> {
        let id = StreamId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.add_stream_with_id(id, setup)
    }

    /// Registers a stream under a caller-chosen id, replacing any stream with that id.
    pub fn add_stream_with_id(
        &self,
        id: StreamId,
        setup: StreamSetup,
    ) -> Result<PacedStream, PacerError> {
        setup.socket.set_nonblocking(true)?;
        let counters = Arc::new(StreamCounters::default());
        self.send(Command::AddStream {
            id,
            setup: Box::new(setup),
            counters: counters.clone(),
        })?;
        Ok(PacedStream { id, counters })
    }

    /// Switches what a stream sends, from the next tick (marker bit set).
    pub fn set_source(&self, id: StreamId, source: FrameSource) -> Result<(), PacerError> {
        self.send(Command::SetSource { id, source })
    }

    /// Sends a stream's packets to a new address (re-INVITE, latching).
    pub fn set_destination(&self, id: StreamId, destination: SocketAddr) -> Result<(), PacerError> {
        self.send(Command::SetDestination { id, destination })
    }

    /// Pauses (`true`) or resumes a stream's prompt in place, from the next
    /// tick: silence goes out meanwhile and the prompt keeps its position.
    /// A new [`set_source`](Self::set_source) ends the pause.
    pub fn set_prompt_paused(&self, id: StreamId, paused: bool) -> Result<(), PacerError> {
        self.send(Command::SetPromptPaused { id, paused })
    }

    /// Stops a stream; no packet of it leaves after the next tick.
    pub fn remove_stream(&self, id: StreamId) -> Result<(), PacerError> {
        self.send(Command::RemoveStream { id })
    }

    /// Puts a stream in a room, from the next tick: the room is created by
    /// its first member, and the stream then sends the room's mix
    /// ([`FrameSource::Mixed`]). A stream already in another room moves.
    pub fn join_room(&self, room: RoomId, member: RoomMember) -> Result<(), PacerError> {
        self.send(Command::JoinRoom {
            room,
            member: Box::new(member),
        })
    }

    /// Changes a member's mute, deaf or direction, from the next tick.
    pub fn set_member_options(
        &self,
        room: RoomId,
        stream: StreamId,
        options: ParticipantOptions,
    ) -> Result<(), PacerError> {
        self.send(Command::SetMemberOptions {
            room,
            id: stream,
            options,
        })
    }

    /// Takes a stream out of a room; it goes back to silence if it was
    /// sending the mix, and the room is dropped with its last member.
    pub fn leave_room(&self, room: RoomId, stream: StreamId) -> Result<(), PacerError> {
        self.send(Command::LeaveRoom { room, id: stream })
    }

    /// Plays a prompt to everyone in a room, from the next tick; the end of
    /// a non-looped one is reported as [`PacerEvent::PromptFinished`] with
    /// the player's id, and [`leave_room`](Self::leave_room) with that id
    /// stops it. The room must exist (a member joined it).
    pub fn play_to_room(&self, room: RoomId, player: RoomPlayer) -> Result<(), PacerError> {
        self.send(Command::PlayToRoom {
            room,
            player: Box::new(player),
        })
    }

    /// Records a room's mix into a tap, from the next tick, until
    /// [`leave_room`](Self::leave_room) with the tap's id or the room's end.
    pub fn record_room(&self, room: RoomId, tap: RoomTap) -> Result<(), PacerError> {
        self.send(Command::RecordRoom {
            room,
            tap: Box::new(tap),
        })
    }

    /// Pauses (`true`) or resumes a room's player in place, from the next tick.
    pub fn pause_room_player(
        &self,
        room: RoomId,
        player: StreamId,
        paused: bool,
    ) -> Result<(), PacerError> {
        self.send(Command::PauseRoomPlayer {
            room,
            player,
            paused,
        })
    }

    /// A fresh id from the stream id space, for a room's player or tap.
    pub fn new_stream_id(&self) -> StreamId {
        StreamId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The pacer-wide counters.
    pub fn stats(&self) -> PacerSnapshot {
        self.stats.snapshot()
    }

    /// Ticks so far that woke `late` or more behind schedule, and all ticks
    /// so far: cheap enough for the overload governor to sample often.
    pub fn late_ticks(&self, late: Duration) -> (u64, u64) {
        self.stats.tick_lateness.count_at_least(late)
    }

    /// Ticks so far whose sending took `work` or longer, and all ticks so
    /// far; as cheap as [`PacerHandle::late_ticks`].
    pub fn busy_ticks(&self, work: Duration) -> (u64, u64) {
        self.stats.walk_time.count_at_least(work)
    }

    /// Streams registered at the last tick; as cheap as
    /// [`PacerHandle::late_ticks`], unlike [`PacerHandle::stats`].
    pub fn streams(&self) -> u64 {
        self.stats.streams()
    }

    /// The pacer-wide counters themselves, for histograms with buckets.
    pub fn counters(&self) -> &PacerStats {
        &self.stats
    }
}

/// The pacing thread; stops it (bounded wait) on drop.
#[derive(Debug)]
pub struct Pacer {
    handle: PacerHandle,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pacer {
    /// Starts the `rtp-pacer` thread.
    pub fn start(config: PacerConfig) -> io::Result<Pacer> {
        let (commands, inbox) = mpsc::sync_channel(config.command_capacity.max(1));
        let stats = Arc::new(PacerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let core = PacerCore::new(config.expected_streams, stats.clone());
        let scheduling = config.scheduling;
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rtp-pacer".into())
                .spawn(move || run(core, &inbox, &stop, scheduling))?
        };
        Ok(Pacer {
            handle: PacerHandle {
                commands,
                next_id: Arc::new(AtomicU64::new(1)),
                stats,
            },
            stop,
            thread: Some(thread),
        })
    }

    /// A handle for sending commands.
    pub fn handle(&self) -> PacerHandle {
        self.handle.clone()
    }

    /// The pacer-wide counters.
    pub fn stats(&self) -> PacerSnapshot {
        self.handle.stats()
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // The thread reads the flag after every sleep; the command is the
        // same request in the queue's order. A full queue is fine: the flag
        // still stops it within one tick.
        let _ = self.handle.send(Command::Shutdown);
        let Some(thread) = self.thread.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_WAIT;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::warn!("rtp-pacer did not stop within {STOP_WAIT:?}; detaching it");
        }
    }
}

/// The pacer thread: sleep to the next absolute tick, drain commands, send.
fn run(mut core: PacerCore, inbox: &Receiver<Command>, stop: &AtomicBool, scheduling: Scheduling) {
    let mut realtime = schedule(scheduling);
    let mut watchdog = priority::Watchdog::default();
    let stats = core.stats().clone();
    let start = Instant::now();
    let mut tick: u32 = 0;
    let mut epoch = start;
    loop {
        // `epoch + tick × 20 ms`; the epoch moves every 2^20 ticks (~5.8 h)
        // so the multiplication stays small.
        if tick >= 1 << 20 {
            epoch += TICK * tick;
            tick = 0;
        }
        let due = epoch + TICK * tick;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let lateness = Instant::now().saturating_duration_since(due);
        stats.tick_lateness.record(lateness);
        loop {
            match inbox.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Ok(command) => apply(&mut core, command),
                Err(TryRecvError::Empty) => break,
            }
        }
        core.tick(due);
        let walk = Instant::now().saturating_duration_since(due + lateness);
        stats.walk_time.record(walk);
        if realtime && watchdog.walked(walk) {
            realtime = false;
            match priority::drop_realtime() {
                Ok(()) => tracing::warn!(
                    streams = stats.snapshot().streams,
                    "the RTP pacer's walks took most of every tick for a second: real-time priority given back so the rest of the server keeps its share of the CPU"
                ),
                Err(error) => tracing::warn!(%error, "cannot give the RTP pacer's real-time priority back"),
            }
        }
        // More than one tick late: skip the ticks already past rather than
        // bursting them (see the module doc).
        let missed = ticks_missed(lateness);
        stats.record_skipped(u64::from(missed));
        tick = tick.saturating_add(1).saturating_add(missed);
    }
}

/// Applies `scheduling` to the pacer thread and logs the outcome; whether
/// it runs with real-time priority.
fn schedule(scheduling: Scheduling) -> bool {
    let applied = priority::apply(scheduling);
    if let (Some(cpu), Some(error)) = (scheduling.cpu, &applied.cpu_error) {
        tracing::warn!(cpu, %error, "cannot pin the RTP pacer to its CPU (media.pacer_cpu)");
    }
    if let Some(error) = &applied.realtime_error {
        tracing::info!(
            %error,
            "the RTP pacer runs without real-time priority (needs CAP_SYS_NICE or RLIMIT_RTPRIO): pacing suffers when the CPU is busy"
        );
    } else if applied.realtime {
        tracing::debug!("the RTP pacer runs with SCHED_FIFO");
    }
    applied.realtime
}

/// Ticks already past when a tick runs `lateness` after its due time: they
/// are skipped, so the next tick is the first one still in the future.
fn ticks_missed(lateness: Duration) -> u32 {
    u32::try_from(lateness.as_micros() / TICK.as_micros()).unwrap_or(u32::MAX)
}

fn apply(core: &mut PacerCore, command: Command) {
    let known = match command {
        Command::AddStream {
            id,
            setup,
            counters,
        } => {
            core.add_stream(id, *setup, counters);
            true
        }
        Command::SetSource { id, source } => core.set_source(id, source),
        Command::SetDestination { id, destination } => core.set_destination(id, destination),
        Command::SetPromptPaused { id, paused } => core.set_prompt_paused(id, paused),
        Command::RemoveStream { id } => core.remove_stream(id),
        Command::JoinRoom { room, member } => core.join_room(room, *member),
        Command::SetMemberOptions { room, id, options } => {
            core.set_member_options(room, id, options)
        }
        Command::LeaveRoom { room, id } => core.leave_room(room, id),
        Command::PlayToRoom { room, player } => core.play_to_room(room, *player),
        Command::RecordRoom { room, tap } => core.record_room(room, *tap),
        Command::PauseRoomPlayer {
            room,
            player,
            paused,
        } => core.pause_room_player(room, player, paused),
        Command::Shutdown => true,
    };
    if !known {
        core.stats().record_unknown_stream();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_ticks_skip_the_past_ones_instead_of_bursting() {
        assert_eq!(ticks_missed(Duration::ZERO), 0);
        assert_eq!(ticks_missed(Duration::from_micros(19_999)), 0);
        // 25 ms late: the next tick (due 5 ms ago) is skipped.
        assert_eq!(ticks_missed(Duration::from_millis(25)), 1);
        assert_eq!(ticks_missed(Duration::from_millis(61)), 3);
        assert_eq!(ticks_missed(Duration::from_secs(1 << 40)), u32::MAX);
    }

    #[test]
    fn room_commands_for_unknown_rooms_and_streams_are_counted() {
        let mut core = PacerCore::new(1, Arc::default());
        let (_, inbound) = member_feed();
        let member = RoomMember {
            stream: StreamId(1),
            codec: G711::Pcmu,
            options: ParticipantOptions::default(),
            inbound,
        };
        apply(
            &mut core,
            Command::JoinRoom {
                room: RoomId(1),
                member: Box::new(member),
            },
        );
        apply(
            &mut core,
            Command::SetMemberOptions {
                room: RoomId(1),
                id: StreamId(1),
                options: ParticipantOptions::default(),
            },
        );
        apply(
            &mut core,
            Command::LeaveRoom {
                room: RoomId(1),
                id: StreamId(1),
            },
        );
        assert_eq!(core.stats().snapshot().unknown_stream_commands, 3);
        assert_eq!(core.rooms(), 0);
    }

    #[test]
    fn a_full_command_queue_is_an_error_not_a_wait() {
        let pacer = Pacer::start(PacerConfig {
            scheduling: Scheduling::default(),
            command_capacity: 2,
            expected_streams: 1,
        })
        .expect("start pacer");
        let handle = pacer.handle();
        let results: Vec<_> = (0..100)
            .map(|_| handle.remove_stream(StreamId(12_345)))
            .collect();
        assert!(results.iter().any(|r| matches!(r, Err(PacerError::Full))));
        drop(pacer);
        assert!(matches!(
            handle.remove_stream(StreamId(1)),
            Err(PacerError::Stopped)
        ));
    }
}
