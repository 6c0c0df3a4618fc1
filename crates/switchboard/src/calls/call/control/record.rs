//! The record component: what the party says and hears, into a WAV file in
//! `media.recordings_dir`, written off the media path by the shared
//! recorder thread ([`crate::media::recorder`]).
//!
//! - Direction: `send` is what the party says (taps on the party's RTP
//!   session), `recv` what it hears (taps on the party's outbound stream,
//!   fed by the pacer — prompts, speech, silence — and by the relay of a
//!   joined call or an echo). One direction makes a mono file; `duplex`
//!   makes a stereo file (left = says, right = hears) or, with `mix`, a
//!   mono file of both added. `mp3` is refused (`NotImplemented`): the only
//!   maintained encoder crates bind the C LAME library (LGPL, built from C
//!   source), which this server does not take on.
//! - The file is `<call id>-<n>.wav` (the registry's call id, or the SIP
//!   Call-ID, reduced to `[A-Za-z0-9_-]`), `n` counting the call's
//!   recordings and skipping names already on disk.
//! - `start_beep` plays a 250 ms 1 kHz beep to the party; the recording
//!   (opened paused) starts when the beep has been sent, so the beep is not
//!   in it. `stop_beep` plays the same beep when the recording ends while
//!   the call goes on. A beep goes out only while nothing else feeds the
//!   party's stream: with an output playing, an echo or a join the beep is
//!   left out (the recording then starts at once), so a running
//!   announcement is never cut or delayed by a recording.
//! - Pause and resume reach the recorder with their instants: the paused
//!   time is in neither the file nor the clocks ([`timer`]).
//! - Completion: the file is finished (padded or cut to its exact length,
//!   final header, fsync) on a blocking thread *before* the component's
//!   `Done` goes out, and the `Done` carries
//!   [`Output::Recording`](call_control::Output::Recording) with the
//!   duration and size the final header holds. For a stop or a hangup the
//!   rules have already emitted `Done(Err(Stopped | CallEnded))` right
//!   after `StopComponent`: the actor starts the finish at the
//!   `StopComponent` and, when the `Done` passes through `send_event`,
//!   waits for that finish and sends the `Done` as
//!   `Ok(Recording { end: Stopped | Hangup, .. })` instead. Events after
//!   it (`Ended`…) wait behind it, so their order stays the rules' order.
//!   A file named in a completion is therefore complete on disk, and a
//!   URL to it (signed at completion) never serves a growing file.

pub(in crate::calls) mod timer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use call_control::{
    Event, Failure, Output, Record, RecordDirection, RecordEnd, RecordFormat, Recording, RequestId,
};
use media::tone::ToneGenerator;
use tokio::task::JoinHandle;

use self::timer::RecordTimer;
use crate::calls::call::{g711, Call};
use crate::media::pacer::{FrameSource, PromptFrames, G711};
use crate::media::recorder::{Channel, Layout, Recorder, RecordingSummary, HEADER_LEN};
use crate::media::session::{ReceivedRtp, MAX_PAYLOAD};

/// Pacer tags of beeps: the recording's id with this bit set, apart from
/// the request ids prompts are tagged with.
const BEEP_TAG: u64 = 1 << 62;
/// Length of a beep.
const BEEP: Duration = Duration::from_millis(250);
/// Longest wait for the pacer's word that a start beep was sent (it is
/// dropped when the call's event queue is full); then recording starts.
const BEEP_WAIT: Duration = Duration::from_secs(1);
/// Names tried for one recording before giving up.
const NAME_ATTEMPTS: u32 = 1000;

/// A call's record components.
#[derive(Debug, Default)]
pub(in crate::calls::call) struct Records {
    active: Vec<ActiveRecord>,
    /// Stopped or hung up: finishing on a blocking thread, `Done` not sent.
    finishing: Vec<Finishing>,
    /// Recordings this call has started (the `n` of the names).
    count: u32,
}

#[derive(Debug)]
struct ActiveRecord {
    id: RequestId,
    recorder: Recorder,
    file: String,
    timer: RecordTimer,
    stop_beep: bool,
    /// Waiting for the start beep until then at the latest.
    beeping_until: Option<Instant>,
    /// Paused by the controller (or started paused).
    paused: bool,
    /// It records what the party says (left, or the only channel).
    says: bool,
    /// Its tap on what the party says is in place (not while muted).
    says_tapped: bool,
    /// The party's audio payload type and law, for the silence detector.
    audio_pt: u8,
    codec: G711,
}

/// A recording the rules completed (stopped, or its call or mixer ended)
/// whose file is being finished on a blocking thread; its `Done` waits for
/// the file and then carries the recording ([`Finishing::done`]).
#[derive(Debug)]
pub(in crate::calls) struct Finishing {
    /// The record component's request id.
    pub(in crate::calls) id: RequestId,
    file: String,
    task: JoinHandle<io::Result<RecordingSummary>>,
    path: PathBuf,
    layout: Layout,
}

impl Finishing {
    /// Starts finishing `recorder` (the file `file`) at `ended`.
    pub(in crate::calls) fn start(
        id: RequestId,
        file: String,
        recorder: Recorder,
        ended: Instant,
    ) -> Finishing {
        Finishing {
            id,
            file,
            path: recorder.path().to_path_buf(),
            layout: recorder.layout(),
            task: finish(recorder, ended),
        }
    }

    /// The component's completion once its file is complete, in place of
    /// the rules' `result`: `CallEnded` ends it as `Hangup`, anything else
    /// as `Stopped`.
    pub(in crate::calls) async fn done(
        self,
        result: &Result<Output, Failure>,
    ) -> Result<Output, Failure> {
        let end = match result {
            Err(Failure::CallEnded) => RecordEnd::Hangup,
            _ => RecordEnd::Stopped,
        };
        self.ended(end).await
    }

    /// The completion of a recording that ended for `end`, once its file
    /// is complete.
    pub(in crate::calls) async fn ended(self, end: RecordEnd) -> Result<Output, Failure> {
        let summary = finished(self.task).await;
        report(summary, end, self.file, &self.path, self.layout)
    }
}

impl Records {
    /// When a recording must next be looked at (a limit, a beep's end).
    pub(in crate::calls::call) fn deadline(&self) -> Option<Instant> {
        self.active
            .iter()
            .filter_map(|r| {
                [r.timer.deadline(), r.beeping_until]
                    .into_iter()
                    .flatten()
                    .min()
            })
            .min()
    }

    /// Whether the party's packets must reach the actor (silence detection).
    pub(in crate::calls::call) fn wants_audio(&self) -> bool {
        self.active.iter().any(|r| r.timer.wants_audio())
    }

    /// One packet of the party's: the silence detectors judge its audio.
    pub(in crate::calls::call) fn party_audio(&mut self, packet: &ReceivedRtp) {
        // Every packet of a controlled call passes here: nothing to do (not
        // even clearing the buffer) unless a silence timer listens.
        if !self.active.iter().any(|r| r.timer.wants_audio()) {
            return;
        }
        let mut samples = [0i16; MAX_PAYLOAD];
        for record in self.active.iter_mut().filter(|r| r.timer.wants_audio()) {
            if packet.payload_type != record.audio_pt {
                continue;
            }
            let payload = packet.payload();
            let out = &mut samples[..payload.len()];
            match record.codec {
                G711::Pcmu => media::g711::decode_ulaw(payload, out),
                G711::Pcma => media::g711::decode_alaw(payload, out),
            };
            record.timer.party_audio(packet.arrival, out);
        }
    }

    fn position(&self, id: RequestId) -> Option<usize> {
        self.active.iter().position(|r| r.id == id)
    }
}

/// The file layout a recording's options ask for.
pub(in crate::calls) fn layout(record: &Record) -> Layout {
    match (record.direction, record.mix) {
        (RecordDirection::Send, _) => Layout::Mono(Channel::Left),
        (RecordDirection::Recv, _) => Layout::Mono(Channel::Right),
        (RecordDirection::Duplex, true) => Layout::Mix,
        (RecordDirection::Duplex, false) => Layout::Stereo,
    }
}

/// `call_id` reduced to a safe file name stem.
pub(in crate::calls) fn file_stem(call_id: &str) -> String {
    let stem: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if stem.is_empty() {
        "call".to_string()
    } else {
        stem
    }
}

/// Opens a recording named `<stem>-<n>.wav` in `dir`, from `n` up past
/// names already taken; returns it with its name and the next `n`.
pub(in crate::calls) fn open_recording(
    dir: &Path,
    stem: &str,
    mut n: u32,
    layout: Layout,
    now: Instant,
) -> Result<(Recorder, String, u32), Failure> {
    for _ in 0..NAME_ATTEMPTS {
        n += 1;
        let name = format!("{stem}-{n}.wav");
        match Recorder::start_with(&dir.join(&name), now, layout, true) {
            Ok(recorder) => return Ok((recorder, name, n)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create a recording");
                return Err(Failure::Internal(format!(
                    "cannot create the recording: {e}"
                )));
            }
        }
    }
    Err(Failure::Internal("no free recording name".into()))
}

/// The beep in `codec`, encoded once.
fn beep(codec: G711) -> PromptFrames {
    static BEEPS: OnceLock<[PromptFrames; 2]> = OnceLock::new();
    let beeps = BEEPS.get_or_init(|| {
        let mut samples = vec![0i16; (BEEP.as_millis() * 8) as usize];
        ToneGenerator::sine(1000.0, -10.0).fill(&mut samples);
        [
            PromptFrames::encode(&samples, G711::Pcmu),
            PromptFrames::encode(&samples, G711::Pcma),
        ]
    });
    match codec {
        G711::Pcmu => beeps[0].clone(),
        G711::Pcma => beeps[1].clone(),
    }
}

/// What a finished recording reports; when `finish_all` (shutdown) got to
/// the file first, its size and length are read from the file.
fn report(
    summary: io::Result<RecordingSummary>,
    end: RecordEnd,
    file: String,
    path: &Path,
    layout: Layout,
) -> Result<Output, Failure> {
    let (duration, size) = match summary {
        Ok(summary) => (summary.duration, summary.size),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let size = std::fs::metadata(path)
                .map_err(|e| Failure::Internal(format!("recording lost: {e}")))?
                .len();
            let frames = size.saturating_sub(HEADER_LEN) / layout.frame_bytes();
            (Duration::from_micros(frames * 125), size)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "recording failed");
            return Err(Failure::Internal(format!("recording failed: {e}")));
        }
    };
    Ok(Output::Recording(Recording {
        end,
        file,
        duration,
        size,
    }))
}

/// Finishes `recorder` at `ended` on a blocking thread.
fn finish(recorder: Recorder, ended: Instant) -> JoinHandle<io::Result<RecordingSummary>> {
    tokio::task::spawn_blocking(move || recorder.finish(ended))
}

async fn finished(task: JoinHandle<io::Result<RecordingSummary>>) -> io::Result<RecordingSummary> {
    task.await
        .unwrap_or_else(|e| Err(io::Error::other(format!("recording finish failed: {e}"))))
}

impl Call {
    /// `Command::Record`: opens the file, taps the party's audio, beeps or
    /// starts; the component is started at once (a beep is part of it).
    pub(in crate::calls::call) fn record(&mut self, id: RequestId, record: Record) {
        if let Err(failure) = self.start_record(id, &record) {
            self.finished(id, Err(failure));
        }
    }

    fn start_record(&mut self, id: RequestId, record: &Record) -> Result<(), Failure> {
        if record.format == RecordFormat::Mp3 {
            return Err(Failure::NotImplemented("mp3 recording"));
        }
        // The party's media, answered or early (a 183 the rules asked for).
        if self.a_state == crate::calls::call::AState::Done {
            return Err(Failure::CallEnded);
        }
        let (stream, negotiated) = self
            .control
            .as_ref()
            .and_then(|c| c.media.as_ref())
            .map(|m| (m.stream, m.negotiated))
            .ok_or(Failure::NotAnswered)?;
        let session = self
            .a_media
            .as_ref()
            .and_then(|m| m.session.as_ref())
            .ok_or(Failure::NotAnswered)?;
        let stem = file_stem(&self.recording_call_id());
        let layout = layout(record);
        let now = super::now();
        let count = self.control.as_ref().map_or(0, |c| c.records.count);
        let (recorder, file, count) =
            open_recording(&self.ctx.recordings_dir, &stem, count, layout, now)?;
        self.recorded.push(recorder.path().display().to_string());
        let codec = g711(negotiated.codec);
        let pt = negotiated.payload_type;
        let says = record.direction != RecordDirection::Recv;
        // A muted party's audio reaches no recorder (until unmuted).
        let says_tapped = says && !self.control.as_ref().is_some_and(|c| c.muted);
        if says_tapped {
            session.taps().add(recorder.tap(Channel::Left), codec, pt);
        }
        if record.direction != RecordDirection::Send {
            let channel = match layout {
                Layout::Mono(channel) => channel,
                Layout::Stereo | Layout::Mix => Channel::Right,
            };
            session
                .outbound()
                .taps()
                .add(recorder.tap(channel), codec, pt);
        }
        tracing::info!(%file, ?layout, "recording");
        let beeping = record.start_beep && self.party_stream_idle();
        if beeping {
            let source = FrameSource::Prompt {
                start: 0,
                frames: beep(codec),
                looped: false,
                tag: BEEP_TAG | id,
            };
            let _ = self.ctx.pacer.set_source(stream, source);
        }
        let mut active = ActiveRecord {
            id,
            recorder,
            file,
            timer: RecordTimer::new(record),
            stop_beep: record.stop_beep,
            beeping_until: beeping.then(|| now + BEEP_WAIT),
            paused: record.start_paused,
            says,
            says_tapped,
            audio_pt: pt,
            codec,
        };
        if !beeping {
            run(&mut active, now);
        }
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::CallEnded);
        };
        control.records.count = count;
        control.records.active.push(active);
        control.rules.started(id);
        self.update_delivery();
        Ok(())
    }

    /// The id recordings are named after: the call's registry id, else its
    /// SIP Call-ID.
    fn recording_call_id(&self) -> String {
        self.control
            .as_ref()
            .and_then(|c| c.registration.as_ref())
            .map(|r| r.id().to_string())
            .unwrap_or_else(|| self.a_invite.call_id().unwrap_or_default().to_string())
    }

    /// Whether nothing but silence feeds the party's stream, so a beep
    /// disturbs nothing.
    fn party_stream_idle(&self) -> bool {
        self.control.as_ref().is_some_and(|c| {
            c.play.is_none() && c.echo.is_none() && c.joined.is_none() && c.announce.is_none()
        })
    }

    /// The party was muted (`true`) or unmuted: what it says stops (or
    /// starts again) reaching the recordings, which hear silence meanwhile.
    pub(in crate::calls::call) fn mute_recordings(&mut self, muted: bool) {
        let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) else {
            return;
        };
        let Some(control) = self.control.as_mut() else {
            return;
        };
        for record in control.records.active.iter_mut().filter(|r| r.says) {
            let tap = record.recorder.tap(Channel::Left);
            match (muted, record.says_tapped) {
                (true, true) => session.taps().remove(tap.recording()),
                (false, false) => session.taps().add(tap, record.codec, record.audio_pt),
                _ => continue,
            }
            record.says_tapped = !muted;
        }
    }

    /// Whether `id` is a running recording.
    pub(in crate::calls::call) fn is_recording(&self, id: RequestId) -> bool {
        self.control
            .as_ref()
            .is_some_and(|c| c.records.position(id).is_some())
    }

    /// Pauses (`true`) or resumes recording `id` now.
    pub(in crate::calls::call) fn pause_recording(
        &mut self,
        id: RequestId,
        paused: bool,
    ) -> Result<Output, Failure> {
        let now = super::now();
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::NoSuchRequest);
        };
        let at = control.records.position(id).ok_or(Failure::NoSuchRequest)?;
        let record = &mut control.records.active[at];
        record.paused = paused;
        let result = if record.beeping_until.is_some() {
            // Still beeping: the recording starts (or not) after the beep.
            Ok(())
        } else if paused {
            record.timer.stop(now);
            record.recorder.pause(now)
        } else {
            record.timer.run(now);
            record.recorder.resume(now)
        };
        result
            .map(|()| Output::None)
            .map_err(|e| Failure::Internal(format!("recorder: {e}")))
    }

    /// The pacer finished a prompt tagged `tag`: if it is a start beep, its
    /// recording starts now. Returns whether the tag was a beep's.
    pub(in crate::calls::call) fn beep_finished(&mut self, tag: u64) -> bool {
        if tag & BEEP_TAG == 0 {
            return false;
        }
        let id = tag & !BEEP_TAG;
        let now = super::now();
        if let Some(control) = self.control.as_mut() {
            if let Some(at) = control.records.position(id) {
                let record = &mut control.records.active[at];
                if record.beeping_until.take().is_some() {
                    run(record, now);
                }
            }
        }
        true
    }

    /// Tears down recording `id`, which the rules stopped (or the call
    /// ended): its file is finished on a blocking thread and its `Done` is
    /// completed in [`Call::recording_done`]. Returns whether `id` was one.
    pub(in crate::calls::call) fn stop_recording(&mut self, id: RequestId) -> bool {
        let now = super::now();
        let Some(at) = self.control.as_ref().and_then(|c| c.records.position(id)) else {
            return false;
        };
        let Some(record) = self.take_recording(at) else {
            return false;
        };
        let answered = self.a_state == crate::calls::call::AState::Answered;
        self.stop_beep(&record, answered);
        let finishing = Finishing::start(id, record.file, record.recorder, now);
        if let Some(control) = self.control.as_mut() {
            control.records.finishing.push(finishing);
        }
        true
    }

    /// Removes recording number `at` and its taps.
    fn take_recording(&mut self, at: usize) -> Option<ActiveRecord> {
        let record = self.control.as_mut()?.records.active.remove(at);
        let recording = record.recorder.tap(Channel::Left).recording();
        if let Some(session) = self.a_media.as_ref().and_then(|m| m.session.as_ref()) {
            session.taps().remove(recording);
            session.outbound().taps().remove(recording);
        }
        self.update_delivery();
        Some(record)
    }

    fn stop_beep(&self, record: &ActiveRecord, call_goes_on: bool) {
        if !(record.stop_beep && call_goes_on && self.party_stream_idle()) {
            return;
        }
        if let Some(m) = self.control.as_ref().and_then(|c| c.media.as_ref()) {
            let source = FrameSource::Prompt {
                start: 0,
                frames: beep(record.codec),
                looped: false,
                tag: BEEP_TAG | record.id,
            };
            let _ = self.ctx.pacer.set_source(m.stream, source);
        }
    }

    /// An event on its way to the controller: a stopped or hung-up
    /// recording's `Done` waits for its file and carries the recording.
    pub(in crate::calls::call) async fn recording_done(&mut self, event: Event) -> Event {
        let Event::Done { id, result } = event else {
            return event;
        };
        let position = self
            .control
            .as_ref()
            .and_then(|c| c.records.finishing.iter().position(|f| f.id == id));
        let (Some(at), Some(control)) = (position, self.control.as_mut()) else {
            return Event::Done { id, result };
        };
        let finishing = control.records.finishing.remove(at);
        let result = finishing.done(&result).await;
        Event::Done { id, result }
    }

    /// Time has passed: beeps that never reported start their recordings,
    /// and recordings past a limit end (their file finished, then their
    /// `Done`).
    pub(in crate::calls::call) async fn on_record_deadline(&mut self) {
        let now = super::now();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let mut ended = Vec::new();
        for record in &mut control.records.active {
            if record.beeping_until.is_some_and(|at| at <= now) {
                record.beeping_until = None;
                run(record, now);
            }
            if let Some((end, at)) = record.timer.expire(now) {
                ended.push((record.id, end, at));
            }
        }
        for (id, end, at) in ended {
            let Some(position) = self.control.as_ref().and_then(|c| c.records.position(id)) else {
                continue;
            };
            let Some(record) = self.take_recording(position) else {
                continue;
            };
            self.stop_beep(&record, true);
            let (path, layout) = (
                record.recorder.path().to_path_buf(),
                record.recorder.layout(),
            );
            let summary = finished(finish(record.recorder, at)).await;
            let result = report(summary, end, record.file, &path, layout);
            self.finished(id, result);
        }
    }
}

/// The beep is over (or there was none): recording runs unless paused.
fn run(record: &mut ActiveRecord, now: Instant) {
    if record.paused {
        return;
    }
    record.timer.run(now);
    if let Err(e) = record.recorder.resume(now) {
        tracing::warn!(error = %e, "cannot start the recording");
    }
}

#[cfg(test)]
mod tests;
