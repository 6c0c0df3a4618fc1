//! A mixer's own actor: the components that run on a mixer rather than on
//! one call (RAYO.md §2.9 "Mixers host components"): an output heard by
//! every participant, an input that takes keys from any of them, a prompt
//! (both), a recording of the room's mix.
//!
//! The actor lives from the mixer's first join to its last leave (the
//! registry in [`super::mixers`] holds its inbox; dropping that ends it).
//! Its components follow the same [`CallRules`] as a call's, created
//! answered: a start is acknowledged before any event, exactly one
//! completion each, all completed (`CallEnded`, which Rayo reports as
//! `hangup`) before the mixer's `Ended`. Their media runs in the pacer
//! thread, inside the room: an output is a player participant that is
//! always heard, a recording a tap on the room's full mix.
//!
//! What a mixer's components do not take: speed, volume and seek of an
//! output; beeps, silence timeouts and layouts other than one mixed channel
//! for a recording; call progress analysis. They are refused with
//! `NotImplemented` (Rayo `feature-not-implemented`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use call_control::{
    Action, AnnouncementEnd, CallRules, Command, EndReason, Event, Failure, Output, Record,
    RecordDirection, RecordEnd, RecordFormat, Request, RequestId, SlotPolicy,
};
use tokio::sync::{mpsc, oneshot, watch};

use super::call::control::announce::load_timeline;
use super::call::control::announce::timeline::Rendering;
use super::call::control::record as recording;
use super::call::control::record::timer::RecordTimer;
use super::call::control::record::Finishing;
use super::call::sleep_until;
use super::mixers::{ActorStart, MixerNews};
use super::CallContext;
use crate::media::pacer::{PacerEvent, RoomId, RoomPlayer, RoomTap, StreamId, G711};
use crate::media::recorder::{Channel, Layout, Recorder};

/// Requests and digits a mixer may have queued.
pub const MIXER_QUEUE: usize = 64;

/// How long the actor waits for room in the news queue before it drops an
/// event (and logs it): the Rayo service drains it continuously.
const NEWS_WAIT: Duration = Duration::from_secs(1);

/// Pacer events of one mixer's players.
const PLAYER_EVENTS: usize = 16;

/// The law a mixer's outputs are encoded in and its recordings tapped in.
const ROOM_LAW: G711 = G711::Pcmu;

/// What reaches a mixer's actor.
#[derive(Debug)]
pub enum MixerInput {
    /// A controller's request for a component on the mixer.
    Request(Request),
    /// A key one of the participants pressed.
    Digit(char),
}

/// The output playing on the mixer.
struct Playing {
    id: RequestId,
    player: StreamId,
    prompt: bool,
    until: Option<tokio::time::Instant>,
    loading: Option<oneshot::Receiver<Result<(Rendering, usize), Failure>>>,
    paused: bool,
    max_time: Option<Duration>,
}

/// A recording of the room.
struct Recording {
    id: RequestId,
    tap: StreamId,
    recorder: Recorder,
    file: String,
    /// Its max-duration clock, which stands while paused (a call's own).
    timer: RecordTimer,
}

/// The actor's state.
pub(in crate::calls) struct MixerActor {
    name: String,
    room: RoomId,
    ctx: Arc<CallContext>,
    rules: CallRules,
    inbox: mpsc::Receiver<MixerInput>,
    news: Option<mpsc::Sender<MixerNews>>,
    digits: watch::Sender<bool>,
    /// Recordings finished off the actor: their completions.
    recorded_tx: mpsc::Sender<(RequestId, Result<Output, Failure>)>,
    recorded: mpsc::Receiver<(RequestId, Result<Output, Failure>)>,
    player_events_tx: mpsc::Sender<PacerEvent>,
    player_events: mpsc::Receiver<PacerEvent>,
    playing: Option<Playing>,
    recordings: Vec<Recording>,
    finishing: Vec<Finishing>,
    count: u32,
}

impl MixerActor {
    /// Starts the actor of the new mixer `name` (room `room`).
    pub(in crate::calls) fn spawn(
        ctx: Arc<CallContext>,
        name: String,
        room: RoomId,
        start: ActorStart,
    ) {
        let ActorStart {
            inbox,
            digits,
            news,
        } = start;
        let (recorded_tx, recorded) = mpsc::channel(MIXER_QUEUE);
        let mut rules = CallRules::new(SlotPolicy::Refuse);
        rules.answered(Vec::new());
        rules.media_ready(Instant::now());
        // Nothing of the answer is news for a mixer.
        while rules.poll_action().is_some() {}
        let (player_events_tx, player_events) = mpsc::channel(PLAYER_EVENTS);
        let actor = MixerActor {
            name,
            room,
            ctx,
            rules,
            inbox,
            news,
            digits,
            recorded_tx,
            recorded,
            player_events_tx,
            player_events,
            playing: None,
            recordings: Vec::new(),
            finishing: Vec::new(),
            count: 0,
        };
        tokio::spawn(actor.run());
    }

    async fn run(mut self) {
        loop {
            let deadline = self.deadline();
            let loading = async {
                match self.playing.as_mut().and_then(|p| p.loading.as_mut()) {
                    Some(rx) => Some(rx.await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = self.inbox.recv() => match input {
                    Some(MixerInput::Request(request)) => self.rules.request(Instant::now(), request),
                    Some(MixerInput::Digit(digit)) => {
                        if *self.digits.borrow() {
                            self.rules.digit(Instant::now(), digit);
                        }
                    }
                    None => break,
                },
                Some(event) = self.player_events.recv() => self.on_player_event(event),
                Some((id, result)) = self.recorded.recv() => self.rules.finished(id, result),
                loaded = loading => self.on_loaded(loaded.and_then(|r| r.ok())),
                () = sleep_until(deadline) => self.on_deadline(),
            }
            self.drive().await;
        }
        // The last participant left: everything completes, then `Ended`.
        tracing::info!(mixer = %self.name, "mixer gone");
        self.rules.gone(EndReason::Hangup);
        self.rules.end(EndReason::Hangup, None, Vec::new());
        self.drive().await;
    }

    /// The earliest of the rules' timers, an output's max-time and a
    /// recording's max-duration.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let rules = self.rules.poll_timeout().map(on_runtime_clock);
        let output = self.playing.as_ref().and_then(|p| p.until);
        let records = self
            .recordings
            .iter()
            .filter_map(|r| r.timer.deadline())
            .min()
            .map(on_runtime_clock);
        [rules, output, records].into_iter().flatten().min()
    }

    fn on_deadline(&mut self) {
        let now = tokio::time::Instant::now();
        self.rules.handle_timeout(Instant::now());
        if self
            .playing
            .as_ref()
            .and_then(|p| p.until)
            .is_some_and(|t| t <= now)
        {
            self.output_ended(AnnouncementEnd::MaxTime);
        }
        let due: Vec<(RequestId, RecordEnd)> = self
            .recordings
            .iter()
            .filter_map(|r| Some((r.id, r.timer.expire(Instant::now())?.0)))
            .collect();
        for (id, end) in due {
            self.finish_recording(id, end);
        }
    }

    /// Carries out the rules' actions, in order.
    async fn drive(&mut self) {
        while let Some(action) = self.rules.poll_action() {
            match action {
                Action::Emit(event) => self.send(event).await,
                Action::Execute(request) => self.execute(request),
                Action::StopComponent(id) | Action::StopAnnouncement(id) => self.stop(id),
                Action::Complete(id) => self.rules.finished(id, Err(Failure::Stopped)),
                Action::WantDigits(on) => {
                    self.digits.send_replace(on);
                }
            }
        }
    }

    /// Tells the Rayo service; a completion of a stopped recording first
    /// waits for its file and then carries it.
    async fn send(&mut self, event: Event) {
        let event = match event {
            Event::Done { id, result } => match self.finishing.iter().position(|f| f.id == id) {
                Some(at) => {
                    let result = self.finishing.remove(at).done(&result).await;
                    Event::Done { id, result }
                }
                None => Event::Done { id, result },
            },
            other => other,
        };
        let Some(news) = self.news.as_ref() else {
            return;
        };
        let item = MixerNews {
            mixer: self.name.clone(),
            event,
        };
        if news.send_timeout(item, NEWS_WAIT).await.is_err() {
            tracing::warn!(mixer = %self.name, "mixer event dropped: the news queue is full");
        }
    }

    fn execute(&mut self, request: Request) {
        let id = request.id;
        let result = match request.command {
            Command::Announce(announcement) => return self.announce(id, announcement, false),
            Command::Prompt(prompt) => return self.announce(id, prompt.announcement, true),
            Command::Record(record) => return self.record(id, &record),
            Command::Pause { target } => self.pause(target, true),
            Command::Resume { target } => self.pause(target, false),
            Command::Adjust { .. } => Err(Failure::NotImplemented(
                "speed, volume and seek of a mixer's output",
            )),
            Command::Analyze(_) => {
                Err(Failure::NotImplemented("call progress analysis of a mixer"))
            }
            _ => Err(Failure::NotImplemented("this command on a mixer")),
        };
        self.rules.finished(id, result);
    }

    /// Starts loading an output (a prompt's when `prompt`); it joins the
    /// room as an always-heard player once loaded.
    fn announce(&mut self, id: RequestId, announcement: call_control::Announcement, prompt: bool) {
        let (tx, rx) = oneshot::channel();
        let (prompts, tts) = (self.ctx.prompts.clone(), self.ctx.tts.clone());
        let (paused, max_time) = (announcement.start_paused, announcement.max_time);
        tokio::spawn(async move {
            let loaded = load_timeline(prompts, tts, &announcement, ROOM_LAW)
                .await
                .map(|timeline| (Rendering::original(&timeline), timeline.start()));
            let _ = tx.send(loaded);
        });
        self.playing = Some(Playing {
            id,
            player: self.ctx.pacer.new_stream_id(),
            prompt,
            until: None,
            loading: Some(rx),
            paused,
            max_time,
        });
    }

    fn on_loaded(&mut self, loaded: Option<Result<(Rendering, usize), Failure>>) {
        let Some(playing) = self.playing.as_mut() else {
            return;
        };
        playing.loading = None;
        let id = playing.id;
        let (rendering, start) = match loaded {
            Some(Ok(loaded)) => loaded,
            Some(Err(failure)) => {
                self.playing = None;
                return self.rules.finished(id, Err(failure));
            }
            None => {
                self.playing = None;
                let failure = Failure::Internal("output loader stopped".into());
                return self.rules.finished(id, Err(failure));
            }
        };
        let player = RoomPlayer {
            id: playing.player,
            codec: ROOM_LAW,
            frames: rendering.frames,
            looped: rendering.looped,
            start,
            paused: playing.paused,
            tag: id,
            events: Some(self.player_events_tx.clone()),
        };
        if let Err(error) = self.ctx.pacer.play_to_room(self.room, player) {
            self.playing = None;
            let failure = Failure::Internal(format!("cannot play to the mixer: {error}"));
            return self.rules.finished(id, Err(failure));
        }
        playing.until = playing.max_time.map(|t| tokio::time::Instant::now() + t);
        self.rules.started(id);
    }

    fn on_player_event(&mut self, event: PacerEvent) {
        if let PacerEvent::PromptFinished { tag, .. } = event {
            if self.playing.as_ref().is_some_and(|p| p.id == tag) {
                self.output_ended(AnnouncementEnd::Finished);
            }
        }
    }

    /// The output is over by itself.
    fn output_ended(&mut self, end: AnnouncementEnd) {
        let Some(playing) = self.playing.take() else {
            return;
        };
        let _ = self.ctx.pacer.leave_room(self.room, playing.player);
        if playing.prompt {
            self.rules.announcement_finished(Instant::now(), playing.id);
        } else {
            self.rules.finished(playing.id, Ok(Output::Announced(end)));
        }
    }

    fn record(&mut self, id: RequestId, record: &Record) {
        let refused = if record.format == RecordFormat::Mp3 {
            Some("mp3 recording")
        } else if record.direction == RecordDirection::Send {
            Some("a send-direction recording of a mixer (it has no own voice)")
        } else if record.start_beep || record.stop_beep {
            Some("beeps on a mixer's recording")
        } else if record.initial_timeout.is_some() || record.final_timeout.is_some() {
            Some("silence timeouts on a mixer's recording")
        } else {
            None
        };
        if let Some(what) = refused {
            return self.rules.finished(id, Err(Failure::NotImplemented(what)));
        }
        let stem = recording::file_stem(&format!("mixer-{}", self.name));
        let layout = Layout::Mono(Channel::Left);
        let opened = recording::open_recording(
            &self.ctx.recordings_dir,
            &stem,
            self.count,
            layout,
            Instant::now(),
        );
        let (recorder, file, count) = match opened {
            Ok(opened) => opened,
            Err(failure) => return self.rules.finished(id, Err(failure)),
        };
        self.count = count;
        let tap = self.ctx.pacer.new_stream_id();
        // Opened paused: its time 0 is the resume.
        if !record.start_paused {
            if let Err(e) = recorder.resume(Instant::now()) {
                let failure = Failure::Internal(format!("recording: {e}"));
                return self.rules.finished(id, Err(failure));
            }
        }
        let room_tap = RoomTap {
            id: tap,
            codec: ROOM_LAW,
            tap: recorder.tap(Channel::Left),
        };
        if let Err(error) = self.ctx.pacer.record_room(self.room, room_tap) {
            let failure = Failure::Internal(format!("cannot record the mixer: {error}"));
            return self.rules.finished(id, Err(failure));
        }
        tracing::info!(mixer = %self.name, %file, "recording the mixer");
        let mut timer = RecordTimer::new(record);
        if !record.start_paused {
            timer.run(Instant::now());
        }
        self.recordings.push(Recording {
            id,
            tap,
            recorder,
            file,
            timer,
        });
        self.rules.started(id);
    }

    /// Pause or resume of the output or a recording.
    fn pause(&mut self, target: RequestId, paused: bool) -> Result<Output, Failure> {
        if let Some(playing) = self.playing.as_mut().filter(|p| p.id == target) {
            playing.paused = paused;
            if playing.loading.is_none() {
                self.ctx
                    .pacer
                    .pause_room_player(self.room, playing.player, paused)
                    .map_err(|e| Failure::Internal(e.to_string()))?;
            }
            return Ok(Output::None);
        }
        let Some(record) = self.recordings.iter_mut().find(|r| r.id == target) else {
            return Err(Failure::NotImplemented(
                "pause and resume of this component on a mixer",
            ));
        };
        let now = Instant::now();
        let io = if paused {
            record.timer.stop(now);
            record.recorder.pause(now)
        } else {
            record.timer.run(now);
            record.recorder.resume(now)
        };
        io.map(|()| Output::None)
            .map_err(|e| Failure::Internal(format!("recording: {e}")))
    }

    /// The rules completed `id` (stopped, barged in, the mixer gone): its
    /// media stops; a recording's file is finished for its completion.
    fn stop(&mut self, id: RequestId) {
        if self.playing.as_ref().is_some_and(|p| p.id == id) {
            if let Some(playing) = self.playing.take() {
                let _ = self.ctx.pacer.leave_room(self.room, playing.player);
            }
            return;
        }
        if let Some(at) = self.recordings.iter().position(|r| r.id == id) {
            let record = self.recordings.remove(at);
            let _ = self.ctx.pacer.leave_room(self.room, record.tap);
            self.finishing.push(Finishing::start(
                id,
                record.file,
                record.recorder,
                Instant::now(),
            ));
        }
    }

    /// A recording ended by itself (max-duration): finished off the actor,
    /// completed when the file is.
    fn finish_recording(&mut self, id: RequestId, end: RecordEnd) {
        let Some(at) = self.recordings.iter().position(|r| r.id == id) else {
            return;
        };
        let record = self.recordings.remove(at);
        let _ = self.ctx.pacer.leave_room(self.room, record.tap);
        let finishing = Finishing::start(id, record.file, record.recorder, Instant::now());
        let done = self.recorded_tx.clone();
        tokio::spawn(async move {
            let _ = done.send((id, finishing.ended(end).await)).await;
        });
    }
}

/// `at` on tokio's clock, which the actor sleeps on (paused in tests).
fn on_runtime_clock(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::now() + at.saturating_duration_since(Instant::now())
}
