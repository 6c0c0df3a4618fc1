//! Call recording: two channels of audio (the bridge's two legs, or what a
//! party says and hears) into one WAV (8 kHz, 16-bit) that is a valid file
//! at every moment: stereo, or mono of one channel or of both mixed
//! ([`Layout`]).
//!
//! The RTP receive path holds a [`RecorderTap`] per leg. [`RecorderTap::push`]
//! copies the G.711 payload into a fixed-size message and `try_send`s it into
//! the recording's own bounded queue: no allocation, no lock, no syscall, and
//! a full queue drops the frame and counts it. Everything else happens on one
//! writer thread shared by all recordings:
//!
//! - every 100 ms it drains each recording's queue, decodes the frames and
//!   places them on the recording's timeline by arrival time (see
//!   `timeline.rs`: late starts and gaps become silence, jitter does not);
//! - once a second or more of audio is at least 500 ms old (old enough that
//!   no frame still in flight can land in it), it writes that stretch in one
//!   `write` and then rewrites the RIFF and data sizes in the header, so a
//!   process killed at any point leaves a readable file, short by at most
//!   about 1.6 s;
//! - [`Recorder::finish`] pads both channels with silence (or cuts them) to
//!   exactly `ended − started`, writes the final header and fsyncs.
//!
//! Why one shared thread rather than one per recording: a thread per call
//! costs a stack and a scheduler entry each for work that is a few table
//! lookups and one write a second, and waking it per frame would put a futex
//! wake on the pacing path. The shared thread polls instead, so a push never
//! wakes anyone. Queues stay per recording, so a flood on one call cannot
//! drop another call's frames. The price is that a stalled disk delays every
//! recording; the bounded queues turn that into counted drops rather than
//! growing memory. The final fsync also runs on the writer thread: calls end
//! a few times a second, and a recording is complete on disk (page cache)
//! before its fsync starts.
//!
//! Memory per recording: its queue (128 × ~0.5 KiB, allocated up front) and
//! at most a few seconds of decoded audio waiting to be written.
//!
//! A recording can be paused and resumed ([`Recorder::pause`],
//! [`Recorder::resume`]): the timeline discards frames that arrived while
//! paused and continues the file where it stopped, so the paused time is
//! not in the file. A recording can start paused (a
//! record component waiting for its start beep).
//!
//! Taps that several feeders share (every sender toward a party: the pacer
//! and the relay) go into a [`TapSet`], which the media path reads without
//! waiting.
//!
//! On SIGTERM the server should call [`finish_all`] after ending its calls:
//! it completes every recording still open, including those whose
//! [`Recorder`] was only dropped (a drop asks the writer to finish the
//! recording at the moment of the drop but does not wait for it). A
//! recording whose recorder and taps are all gone is ended by the writer on
//! its own, should that request have been lost.

mod taps;
mod timeline;
mod writer;

pub use self::taps::TapSet;
pub use self::timeline::{Channel, Layout};

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use self::timeline::{Timeline, SAMPLE_RATE};
use self::writer::{
    timed_out, wav_header, writer_gone, Control, Recording, Writer, NEXT_ID, WRITER,
};
use crate::media::pacer::G711;

/// Largest payload one queued message carries (60 ms of G.711); longer
/// payloads are split, so the message stays a fixed size.
const MAX_PAYLOAD: usize = 480;
/// Messages a recording's queue holds: 1.28 s of both legs at 20 ms, more
/// than ten writer ticks.
const QUEUE_FRAMES: usize = 128;
/// How often the writer drains the queues.
const TICK: Duration = Duration::from_millis(100);
/// How old (500 ms) audio must be before it is written: newer audio may
/// still receive frames that are in a queue or being pushed.
const HOLD: u64 = SAMPLE_RATE / 2;
/// The smallest stretch (1 s, 32 KiB) written at once while recording.
const BATCH: u64 = SAMPLE_RATE;
/// The largest stretch (8 s, 256 KiB) written at once, which bounds the
/// writer's buffer after a stall.
const CHUNK: u64 = 8 * SAMPLE_RATE;
/// How long [`Recorder::finish`] waits for the writer.
const FINISH_WAIT: Duration = Duration::from_secs(2);
/// Start, finish and shutdown requests waiting for the writer.
const CONTROL_QUEUE: usize = 4096;
/// Bytes of the canonical WAV header.
pub const HEADER_LEN: u64 = 44;

/// Sample frames of `layout` that fit under the 4 GiB RIFF size limit
/// (about 37 hours of stereo).
fn max_frames(layout: Layout) -> u64 {
    (u64::from(u32::MAX) - 36) / layout.frame_bytes()
}

/// One leg's frame on its way to the writer.
struct FrameMessage {
    arrival: Instant,
    channel: Channel,
    codec: G711,
    len: u16,
    payload: [u8; MAX_PAYLOAD],
}

/// Counts shared by the recorder, its taps and the writer.
#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    late: AtomicU64,
}

/// Recordings started since the process started (files created).
static STARTED: AtomicU64 = AtomicU64::new(0);
/// Recordings ended (finished or dropped) since the process started.
static ENDED: AtomicU64 = AtomicU64::new(0);

/// Recordings started and ended since the process started, for metrics
/// (their difference is the recordings in progress).
pub fn recording_counts() -> (u64, u64) {
    // Ended first: a recording ending in between is never counted as ended
    // without having started.
    let ended = ENDED.load(Ordering::Relaxed);
    (STARTED.load(Ordering::Relaxed), ended)
}

/// A recording in progress; finish it with [`Recorder::finish`] so that it
/// ends exactly when the call did (dropping it ends it at the drop).
#[derive(Debug)]
pub struct Recorder {
    id: u64,
    path: PathBuf,
    started: Instant,
    layout: Layout,
    frames: SyncSender<FrameMessage>,
    counters: Arc<Counters>,
    control: SyncSender<Control>,
    finished: bool,
}

/// One leg's entry into a recording, cheap to clone into the RTP receive
/// path; it keeps nothing alive but the queue.
#[derive(Debug, Clone)]
pub struct RecorderTap {
    recording: u64,
    frames: SyncSender<FrameMessage>,
    channel: Channel,
    counters: Arc<Counters>,
}

/// What a finished recording holds, for logs and call records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingSummary {
    /// Length of the audio in the file (`ended − started` less the paused
    /// time, to the sample), as the final header says.
    pub duration: Duration,
    /// Size of the file in bytes (header included), as written.
    pub size: u64,
    /// Frames placed in the file.
    pub frames_written: u64,
    /// Frames lost to a full queue (the writer fell behind).
    pub frames_dropped: u64,
    /// Frames discarded because their arrival did not fit the timeline.
    pub frames_late: u64,
}

impl std::fmt::Debug for FrameMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameMessage")
            .field("channel", &self.channel)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates the stereo WAV file (and its directories) at `path`, whose
    /// time 0 is `started`. Refuses to overwrite an existing file, so two
    /// calls can never write into one recording. Blocks for the file
    /// creation only.
    pub fn start(path: &Path, started: Instant) -> io::Result<Recorder> {
        Recorder::start_on(&WRITER, path, started, Layout::Stereo, false)
    }

    /// [`Recorder::start`] with the file's `layout`; a recording started
    /// `paused` takes no audio until [`Recorder::resume`], whose instant is
    /// then its time 0.
    pub fn start_with(
        path: &Path,
        started: Instant,
        layout: Layout,
        paused: bool,
    ) -> io::Result<Recorder> {
        Recorder::start_on(&WRITER, path, started, layout, paused)
    }

    /// [`Recorder::start_with`] on a given writer (tests use their own).
    fn start_on(
        writer: &Writer,
        path: &Path,
        started: Instant,
        layout: Layout,
        paused: bool,
    ) -> io::Result<Recorder> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        file.write_all(&wav_header(0, layout))?;
        let (frames, queue) = mpsc::sync_channel(QUEUE_FRAMES);
        let counters = Arc::new(Counters::default());
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let recording = Recording {
            id,
            path: path.to_path_buf(),
            file,
            timeline: Timeline::with_layout(started, layout, paused),
            queue,
            counters: Arc::clone(&counters),
            failed: None,
        };
        let control = match writer.send(Control::Open(Box::new(recording))) {
            Ok(control) => control,
            Err(e) => {
                let _ = fs::remove_file(path);
                return Err(e);
            }
        };
        STARTED.fetch_add(1, Ordering::Relaxed);
        Ok(Recorder {
            id,
            path: path.to_path_buf(),
            started,
            layout,
            frames,
            counters,
            control,
            finished: false,
        })
    }

    /// A tap feeding `channel`, for the leg's RTP receive path.
    pub fn tap(&self, channel: Channel) -> RecorderTap {
        RecorderTap {
            recording: self.id,
            frames: self.frames.clone(),
            channel,
            counters: Arc::clone(&self.counters),
        }
    }

    /// Where the recording is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The instant at the file's first sample (unless it started paused).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// How the file holds the channels.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stops taking audio at `at`: what lies before is written, frames
    /// after are discarded until [`Recorder::resume`]. Never blocks; a
    /// saturated writer is an error.
    pub fn pause(&self, at: Instant) -> io::Result<()> {
        self.request(Control::Pause { id: self.id, at })
    }

    /// Takes audio again from `at`, appended right after what was recorded
    /// before the pause. Never blocks.
    pub fn resume(&self, at: Instant) -> io::Result<()> {
        self.request(Control::Resume { id: self.id, at })
    }

    fn request(&self, request: Control) -> io::Result<()> {
        self.control.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => {
                io::Error::new(io::ErrorKind::WouldBlock, "recorder writer is saturated")
            }
            TrySendError::Disconnected(_) => writer_gone(),
        })
    }

    /// Frames placed in the file so far (the writer lags up to 100 ms).
    pub fn frames_written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Frames lost because the queue was full: the writer fell behind.
    pub fn frames_dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Frames discarded because they arrived too far behind their channel
    /// (a burst after a stall) or outside the recording's time.
    pub fn frames_late(&self) -> u64 {
        self.counters.late.load(Ordering::Relaxed)
    }

    /// Ends the recording at `ended`: pads or cuts both channels to exactly
    /// `ended − started` (less paused time; nothing more if paused), writes
    /// the final header and fsyncs. Blocks up to
    /// 2 s (from async code, run it on a blocking thread); on a timeout the
    /// writer still completes the file.
    pub fn finish(mut self, ended: Instant) -> io::Result<RecordingSummary> {
        self.finished = true;
        let deadline = Instant::now() + FINISH_WAIT;
        let (reply, answer) = mpsc::sync_channel(1);
        let mut request = Control::Finish {
            id: self.id,
            ended,
            reply: Some(reply),
        };
        loop {
            match self.control.try_send(request) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    request = back;
                    thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(_)) => return Err(timed_out(&self.path)),
                Err(TrySendError::Disconnected(_)) => return Err(writer_gone()),
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let (duration, size) = match answer.recv_timeout(wait) {
            Ok(result) => result?,
            Err(RecvTimeoutError::Timeout) => return Err(timed_out(&self.path)),
            Err(RecvTimeoutError::Disconnected) => return Err(writer_gone()),
        };
        Ok(RecordingSummary {
            duration,
            size,
            frames_written: self.frames_written(),
            frames_dropped: self.frames_dropped(),
            frames_late: self.frames_late(),
        })
    }
}

impl Drop for Recorder {
    /// Asks the writer to end the recording now, without waiting: a drop may
    /// run on an async worker, which must not block on disk.
    fn drop(&mut self) {
        ENDED.fetch_add(1, Ordering::Relaxed);
        if !self.finished {
            let _ = self.control.try_send(Control::Finish {
                id: self.id,
                ended: Instant::now(),
                reply: None,
            });
        }
    }
}

impl RecorderTap {
    /// Queues one received G.711 payload that arrived at `arrival`. Never
    /// blocks or allocates; a full queue drops the frame (counted). A payload
    /// over 60 ms is queued in pieces, each ending where its samples do.
    pub fn push(&self, arrival: Instant, codec: G711, payload: &[u8]) {
        let mut rest = payload;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_PAYLOAD));
            // One sample is 125 µs; this chunk ends `tail.len()` samples
            // before the payload does.
            let before = Duration::from_micros(tail.len() as u64 * 125);
            let mut message = FrameMessage {
                arrival: arrival.checked_sub(before).unwrap_or(arrival),
                channel: self.channel,
                codec,
                len: chunk.len() as u16,
                payload: [0; MAX_PAYLOAD],
            };
            message.payload[..chunk.len()].copy_from_slice(chunk);
            match self.frames.try_send(message) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                // The recording has ended; frames after its end are not lost.
                Err(TrySendError::Disconnected(_)) => {}
            }
            rest = tail;
        }
    }

    /// The channel this tap feeds.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Which recording this tap feeds (to take it out of a [`TapSet`]).
    pub fn recording(&self) -> u64 {
        self.recording
    }
}

/// Completes every recording still open, ending each now (for shutdown, so a
/// SIGTERM mid-call leaves complete files). Waits up to `timeout`; returns
/// whether the writer was done in time. Recorders finished this way answer
/// a later [`Recorder::finish`] with `NotFound`.
pub fn finish_all(timeout: Duration) -> bool {
    WRITER.finish_all(timeout)
}

#[cfg(test)]
mod tests;
