//! The writer thread all recordings share: it takes start, pause, resume
//! and finish requests as they come, and every [`TICK`] drains each
//! recording's queue onto its timeline and writes what is old enough (see
//! the parent module's doc for why one thread, and when it writes).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::timeline::{Layout, Placed, Timeline, MAX_BUFFERED, SAMPLE_RATE};
use super::{
    max_frames, Counters, FrameMessage, BATCH, CHUNK, CONTROL_QUEUE, HEADER_LEN, HOLD, MAX_PAYLOAD,
    QUEUE_FRAMES, TICK,
};

/// Requests to the writer thread.
pub(super) enum Control {
    Open(Box<Recording>),
    Finish {
        id: u64,
        ended: Instant,
        reply: Option<SyncSender<io::Result<(Duration, u64)>>>,
    },
    Pause {
        id: u64,
        at: Instant,
    },
    Resume {
        id: u64,
        at: Instant,
    },
    FinishAll {
        ended: Instant,
        reply: SyncSender<()>,
    },
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Open(r) => write!(f, "Open({})", r.id),
            Control::Finish { id, .. } => write!(f, "Finish({id})"),
            Control::Pause { id, .. } => write!(f, "Pause({id})"),
            Control::Resume { id, .. } => write!(f, "Resume({id})"),
            Control::FinishAll { .. } => f.write_str("FinishAll"),
        }
    }
}

/// Ids of recordings, unique in the process.
pub(super) static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// The writer all recordings share, started with the first one.
pub(super) static WRITER: Writer = Writer::new();

/// The request queue of a writer thread, started on first use (and again
/// if it has died).
pub(super) struct Writer {
    control: Mutex<Option<SyncSender<Control>>>,
}

impl Writer {
    pub(super) const fn new() -> Writer {
        Writer {
            control: Mutex::new(None),
        }
    }

    /// Sends `request`, starting the thread if it is not running; returns
    /// the queue for later requests.
    pub(super) fn send(&self, mut request: Control) -> io::Result<SyncSender<Control>> {
        let mut slot = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        for _ in 0..2 {
            let control = match slot.as_ref() {
                Some(control) => control.clone(),
                None => {
                    let (control, requests) = mpsc::sync_channel(CONTROL_QUEUE);
                    thread::Builder::new()
                        .name("recorder-writer".to_string())
                        .spawn(move || run_writer(requests))?;
                    *slot = Some(control.clone());
                    control
                }
            };
            match control.try_send(request) {
                Ok(()) => return Ok(control),
                Err(TrySendError::Full(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "recorder writer is saturated",
                    ))
                }
                Err(TrySendError::Disconnected(back)) => {
                    *slot = None;
                    request = back;
                }
            }
        }
        Err(writer_gone())
    }

    /// See [`finish_all`].
    pub(super) fn finish_all(&self, timeout: Duration) -> bool {
        let control = self
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(control) = control else {
            return true;
        };
        let (reply, answer) = mpsc::sync_channel(1);
        let request = Control::FinishAll {
            ended: Instant::now(),
            reply,
        };
        if control.try_send(request).is_err() {
            return false;
        }
        answer.recv_timeout(timeout).is_ok()
    }
}

pub(super) fn writer_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "recorder writer has stopped")
}

pub(super) fn timed_out(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("recording {} not finished within 2 s", path.display()),
    )
}

/// The writer thread: requests as they come, queues every [`TICK`].
fn run_writer(requests: Receiver<Control>) {
    let mut open: Vec<Recording> = Vec::new();
    let mut bytes = Vec::new();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match requests.recv_timeout(wait) {
            Ok(Control::Open(recording)) => open.push(*recording),
            Ok(Control::Finish { id, ended, reply }) => {
                let result = match open.iter().position(|r| r.id == id) {
                    Some(i) => open.swap_remove(i).finish(ended, &mut bytes),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "recording was already finished by finish_all",
                    )),
                };
                if let Some(reply) = reply {
                    let _ = reply.try_send(result);
                }
            }
            Ok(Control::Pause { id, at }) => {
                if let Some(recording) = open.iter_mut().find(|r| r.id == id) {
                    recording.pause(at);
                }
            }
            Ok(Control::Resume { id, at }) => {
                if let Some(recording) = open.iter_mut().find(|r| r.id == id) {
                    recording.timeline.resume(at);
                }
            }
            Ok(Control::FinishAll { ended, reply }) => {
                for recording in open.drain(..) {
                    let _ = recording.finish(ended, &mut bytes);
                }
                let _ = reply.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let now = Instant::now();
                for recording in open.drain(..) {
                    let _ = recording.finish(now, &mut bytes);
                }
                return;
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            let mut i = 0;
            while i < open.len() {
                if open[i].drain() {
                    open[i].write_ready(now, &mut bytes);
                    i += 1;
                } else {
                    // Orphaned: its finish request was lost (a full request
                    // queue when the recorder was dropped). End it now
                    // rather than grow it with silence forever.
                    let _ = open.swap_remove(i).finish(now, &mut bytes);
                }
            }
            next_tick = now + TICK;
        }
    }
}

/// The writer's side of one recording.
pub(super) struct Recording {
    pub(super) id: u64,
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) timeline: Timeline,
    pub(super) queue: Receiver<FrameMessage>,
    pub(super) counters: Arc<Counters>,
    /// The first write error; later audio is discarded.
    pub(super) failed: Option<io::Error>,
}

impl Recording {
    /// Places every queued frame (a bounded number, even if the legs keep
    /// pushing). Returns false once the recorder and all its taps are gone.
    fn drain(&mut self) -> bool {
        for _ in 0..QUEUE_FRAMES * 2 {
            let message = match self.queue.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            };
            let payload = &message.payload[..usize::from(message.len).min(MAX_PAYLOAD)];
            let counter =
                match self
                    .timeline
                    .place(message.channel, message.arrival, message.codec, payload)
                {
                    Placed::Written => &self.counters.written,
                    Placed::Late => &self.counters.late,
                    Placed::Paused => continue,
                };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Writes what is old enough, if it makes a batch.
    fn write_ready(&mut self, now: Instant, bytes: &mut Vec<u8>) {
        let upto = self.timeline.offset(now).saturating_sub(HOLD);
        if upto.saturating_sub(self.timeline.flushed()) < BATCH {
            return;
        }
        self.write_upto(upto.min(max_frames(self.timeline.layout())), false, bytes);
    }

    /// Writes everything up to offset `upto`, [`CHUNK`] by chunk; with
    /// `truncate`, drops what lies beyond.
    fn write_upto(&mut self, upto: u64, truncate: bool, bytes: &mut Vec<u8>) {
        loop {
            let step = upto.min(self.timeline.flushed().saturating_add(CHUNK));
            let last = step >= upto;
            bytes.clear();
            self.timeline.take(step, truncate && last, bytes);
            self.append(bytes);
            if last {
                return;
            }
        }
    }

    /// Appends `bytes` to the data and then, so that the header never claims
    /// more than the file holds, updates the sizes in the header.
    fn append(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let data_frames = self.timeline.flushed();
        let layout = self.timeline.layout();
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| update_header(&mut self.file, data_frames, layout));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "recording write failed; the rest of the call is not recorded");
            self.failed = Some(e);
        }
    }

    /// The offset where audio up to `at` ends: at most 10 s from now, so a
    /// wrong instant cannot fill the disk with silence.
    fn end_at(&self, at: Instant) -> u64 {
        let latest = self.timeline.offset(Instant::now()) + MAX_BUFFERED;
        let max = max_frames(self.timeline.layout());
        self.timeline.offset(at).min(latest).min(max)
    }

    /// Writes everything up to offset `end` and nothing after it (cutting
    /// the file if more was written already).
    fn cut(&mut self, end: u64, bytes: &mut Vec<u8>) -> io::Result<()> {
        self.write_upto(end, true, bytes);
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.timeline.flushed() > end {
            // Already written past `end` (it lies more than `HOLD` back).
            let layout = self.timeline.layout();
            self.file.set_len(HEADER_LEN + end * layout.frame_bytes())?;
            update_header(&mut self.file, end, layout)?;
        }
        Ok(())
    }

    /// Pauses at `at`: frames that arrived later are discarded until the
    /// resume. Frames still queued from before `at` are placed as usual.
    fn pause(&mut self, at: Instant) {
        if self.timeline.flushed() > self.timeline.offset(at) {
            // The writer fell more than `HOLD` behind: what it wrote past
            // `at` stays (the header always matches the file).
            tracing::warn!(path = %self.path.display(), "recording paused after its audio was written");
        }
        self.timeline.pause(at);
    }

    /// Ends the recording at `ended` (see [`Recording::end_at`]); returns
    /// the audio's duration and the file's size, as the final header says.
    fn finish(mut self, ended: Instant, bytes: &mut Vec<u8>) -> io::Result<(Duration, u64)> {
        self.drain();
        let end = self.end_at(ended);
        self.cut(end, bytes)?;
        self.file.sync_all()?;
        let size = HEADER_LEN + end * self.timeline.layout().frame_bytes();
        Ok((
            Duration::from_nanos(end * 1_000_000_000 / SAMPLE_RATE),
            size,
        ))
    }
}

/// The 44-byte header of an 8 kHz 16-bit PCM WAV of `layout` holding `frames`.
pub(super) fn wav_header(frames: u64, layout: Layout) -> [u8; HEADER_LEN as usize] {
    let data = data_bytes(frames, layout);
    let channels = layout.channels();
    let block = 2 * channels;
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&(SAMPLE_RATE as u32).to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE as u32 * u32::from(block)).to_le_bytes()); // byte rate
    h[32..34].copy_from_slice(&block.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}

fn data_bytes(frames: u64, layout: Layout) -> u32 {
    let bytes = frames.min(max_frames(layout)) * layout.frame_bytes();
    u32::try_from(bytes).unwrap_or(u32::MAX - 36)
}

/// Rewrites the RIFF and data sizes for `frames`, leaving the file position
/// at the end.
fn update_header(file: &mut File, frames: u64, layout: Layout) -> io::Result<()> {
    let data = data_bytes(frames, layout);
    file.seek(SeekFrom::Start(4))?;
    file.write_all(&(36 + data).to_le_bytes())?;
    file.seek(SeekFrom::Start(40))?;
    file.write_all(&data.to_le_bytes())?;
    file.seek(SeekFrom::End(0))?;
    Ok(())
}
