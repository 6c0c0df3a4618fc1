//! The announcement component (an announcement of its own, or a prompt's):
//! its document resolved off the actor into one [`Timeline`], played by
//! the pacer as a prompt source, and changed in place by pause, seek, speed
//! and volume.
//!
//! - Loading runs in a spawned task: segments in order (files and URLs
//!   through the prompt cache, an `<audio>`'s fallback when the file cannot
//!   be had, silences, speech), then the repeats laid out. `Started` follows
//!   once the first frame is queued.
//! - Every change of what plays (start, seek, a new speed or volume) sets a
//!   new pacer source under a fresh tag, so the position the pacer reports
//!   ([`crate::media::pacer::StreamCounters::prompt_position`]) is known to
//!   be the current source's or else not yet applied: seeks are exact.
//! - Speed and volume re-encode the original from the current play on, off
//!   the actor (`spawn_blocking`); the result starts where the caller is by
//!   then. The pause holds across every change.
//! - `max_time` counts wall time from the start, paused time included (as
//!   mod_rayo does): a controller that pauses sees the limit it set.
//! - The end: an announcement completes `Announced(Finished)` (or
//!   `MaxTime`); a prompt's announcement tells the rules, which start the
//!   input's timers, and the prompt runs on until its input ends.

pub(in crate::calls) mod timeline;

use std::future::Future;
use std::pin::Pin;

use call_control::{
    Adjustment, Announcement, AnnouncementEnd, Failure, Output, RequestId, Segment,
};
use tokio::sync::oneshot;

use self::timeline::{Rendering, Timeline};
use super::now;
use crate::calls::call::{g711, Call};
use crate::media::pacer::{FrameSource, PromptFrames, G711};
use crate::media::prompts::Prompts;
use crate::media::tts::Tts;

/// Tags of announcement sources: bits 63 and 31 set keep them apart from a
/// play's tag (its request id) both whole and in the 32 bits of it the
/// pacer's position report carries.
const TAG_BASE: u64 = 1 << 63 | 1 << 31;

/// Longer than a source change takes to reach the pacer (it drains its
/// commands at every 20 ms tick).
const SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// A running announcement's media side.
pub(super) struct Announcing {
    /// The announcement's (or prompt's) request id.
    pub(super) id: RequestId,
    /// A prompt's announcement: its end starts the input's timers.
    prompt: bool,
    /// Hold the output at its first frame until a resume.
    paused: bool,
    max_time: Option<std::time::Duration>,
    /// The original timeline, once loaded.
    timeline: Option<Timeline>,
    /// What the pacer plays of it.
    rendering: Option<Rendering>,
    /// The current pacer source's tag, the frame it was set to start at,
    /// and when.
    tag: u64,
    start: usize,
    set_at: tokio::time::Instant,
    speed: f32,
    gain_db: f32,
    /// Seeks asked for while loading, in frames: applied to the start.
    early_seek: i64,
    /// When `max_time` ends it.
    pub(super) until: Option<tokio::time::Instant>,
    /// The load, or a re-rendering, under way.
    pub(super) pending: Option<oneshot::Receiver<Ready>>,
}

impl Announcing {
    /// Re-renders the timeline at the current speed and volume from the play
    /// holding original frame `at`, on the blocking pool; a newer change
    /// replaces one still rendering.
    fn rerender(&mut self, at: usize) {
        let Some(timeline) = self.timeline.clone() else {
            return;
        };
        let (speed, gain_db) = (self.speed, self.gain_db);
        let (tx, rx) = oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(Ready::Rendered(timeline.render(at, speed, gain_db)));
        });
        self.pending = Some(rx);
    }
}

/// Work done off the actor for an announcement.
pub(in crate::calls::call) enum Ready {
    /// The document is resolved and laid out (or cannot be).
    Loaded(Result<Timeline, Failure>),
    /// The timeline at a new speed or volume.
    Rendered(Rendering),
    /// The task went away without an answer.
    Lost,
}

/// Where segments come from.
struct Sources {
    prompts: Prompts,
    tts: Tts,
}

impl Call {
    /// Starts an announcement (a prompt's when `prompt`): it loads off the
    /// actor and starts playing when loaded.
    pub(super) fn announce(&mut self, id: RequestId, announcement: Announcement, prompt: bool) {
        let codec = match self.control_media() {
            Ok(m) => g711(m.negotiated.codec),
            Err(failure) => return self.finished(id, Err(failure)),
        };
        let (tx, rx) = oneshot::channel();
        let sources = Sources {
            prompts: self.ctx.prompts.clone(),
            tts: self.ctx.tts.clone(),
        };
        let (start_paused, max_time) = (announcement.start_paused, announcement.max_time);
        tokio::spawn(async move {
            let result = match resolve(&announcement.segments, &sources, codec).await {
                Ok(document) => Timeline::build(document, &announcement, codec),
                Err(failure) => Err(failure),
            };
            let _ = tx.send(Ready::Loaded(result));
        });
        if let Some(control) = self.control.as_mut() {
            control.announce = Some(Announcing {
                id,
                prompt,
                paused: start_paused,
                max_time,
                timeline: None,
                rendering: None,
                tag: 0,
                start: 0,
                set_at: tokio::time::Instant::now(),
                speed: 1.0,
                gain_db: 0.0,
                early_seek: 0,
                until: None,
                pending: Some(rx),
            });
        }
    }

    /// A load or a re-rendering finished.
    pub(super) fn on_announce_ready(&mut self, ready: Ready) {
        let Some(announce) = self.control.as_mut().and_then(|c| c.announce.as_mut()) else {
            return;
        };
        announce.pending = None;
        let id = announce.id;
        match ready {
            Ready::Loaded(Ok(timeline)) => {
                let start = timeline.seek(timeline.start(), announce.early_seek);
                announce.rendering = Some(Rendering::original(&timeline));
                announce.timeline = Some(timeline);
                match self.play_announcement(start) {
                    Ok(()) => {
                        let Some(control) = self.control.as_mut() else {
                            return;
                        };
                        if let Some(a) = control.announce.as_mut() {
                            a.until = a.max_time.map(|t| tokio::time::Instant::now() + t);
                            // Speed or volume asked for while loading.
                            if !timeline::is_neutral(a.speed, a.gain_db) {
                                a.rerender(start);
                            }
                        }
                        control.rules.started(id);
                    }
                    Err(failure) => self.announcement_failed(failure),
                }
            }
            Ready::Loaded(Err(failure)) => self.announcement_failed(failure),
            Ready::Lost if announce.timeline.is_none() => {
                self.announcement_failed(Failure::Internal("announcement loader stopped".into()))
            }
            Ready::Lost => {}
            Ready::Rendered(rendering) => {
                let at = self.announcement_position();
                let start = rendering.to_rendered(at);
                if let Some(a) = self.control.as_mut().and_then(|c| c.announce.as_mut()) {
                    a.rendering = Some(rendering);
                }
                if let Err(failure) = self.play_announcement(start) {
                    tracing::warn!(%failure, "cannot play the changed announcement");
                }
            }
        }
    }

    /// The announcement cannot go on: it completes with `failure`.
    fn announcement_failed(&mut self, failure: Failure) {
        let idle = self.idle_source();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if let Some(announce) = control.announce.take() {
            if let Some(m) = control.media.as_ref() {
                let _ = self.ctx.pacer.set_source(m.stream, idle);
            }
            control.rules.finished(announce.id, Err(failure));
        }
    }

    /// Plays the current rendering from its frame `start` under a fresh
    /// tag, paused if the announcement is.
    fn play_announcement(&mut self, start: usize) -> Result<(), Failure> {
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::CallEnded);
        };
        let Some(media) = control.media.as_ref() else {
            return Err(Failure::NotAnswered);
        };
        let Some(announce) = control.announce.as_mut() else {
            return Ok(());
        };
        let Some(rendering) = announce.rendering.as_ref() else {
            return Ok(());
        };
        control.next_tag = control.next_tag.wrapping_add(1);
        let tag = TAG_BASE | (control.next_tag & 0x7FFF_FFFF);
        let source = FrameSource::Prompt {
            frames: rendering.frames.clone(),
            looped: rendering.looped,
            tag,
            start,
        };
        let internal = |e: crate::media::pacer::PacerError| Failure::Internal(e.to_string());
        self.ctx
            .pacer
            .set_source(media.stream, source)
            .map_err(internal)?;
        if announce.paused {
            self.ctx
                .pacer
                .set_prompt_paused(media.stream, true)
                .map_err(internal)?;
        }
        announce.tag = tag;
        announce.start = start;
        announce.set_at = tokio::time::Instant::now();
        Ok(())
    }

    /// Where the caller is in the original timeline: the pacer's report
    /// once it plays the current source, else where that source starts.
    fn announcement_position(&self) -> usize {
        let Some(control) = self.control.as_ref() else {
            return 0;
        };
        let (Some(announce), Some(media)) = (control.announce.as_ref(), control.media.as_ref())
        else {
            return 0;
        };
        let Some(rendering) = announce.rendering.as_ref() else {
            return 0;
        };
        let index = match media.counters.prompt_position() {
            Some(p) if p.tag == announce.tag as u32 => p.frame,
            // Not applied yet: the pacer takes commands at every tick.
            _ if announce.set_at.elapsed() < SETTLE => announce.start,
            // Played to its end; the pacer's report of it is on its way.
            _ => rendering.frames.len(),
        };
        rendering.to_original(index)
    }

    /// An output command: seek at once, speed and volume once re-rendered.
    pub(super) fn adjust(
        &mut self,
        target: RequestId,
        adjustment: Adjustment,
    ) -> Result<Output, Failure> {
        let at = self.announcement_position();
        let Some(control) = self.control.as_mut() else {
            return Err(Failure::CallEnded);
        };
        let Some(announce) = control.announce.as_mut().filter(|a| a.id == target) else {
            return Err(Failure::InvalidState("the output is finished"));
        };
        let loaded = announce.timeline.as_ref().zip(announce.rendering.as_ref());
        let (speed, gain_db) = match adjustment {
            Adjustment::Seek(ms) => {
                let delta = (ms + ms.signum() * 10) / 20;
                let Some((timeline, rendering)) = loaded else {
                    // Still loading: the output will start there.
                    announce.early_seek = announce.early_seek.saturating_add(delta);
                    return Ok(Output::None);
                };
                let start = rendering.to_rendered(timeline.seek(at, delta));
                return self.play_announcement(start).map(|()| Output::None);
            }
            Adjustment::SpeedUp | Adjustment::SpeedDown => (
                media::stretch::step_speed(announce.speed, adjustment == Adjustment::SpeedUp),
                announce.gain_db,
            ),
            Adjustment::VolumeUp | Adjustment::VolumeDown => (
                announce.speed,
                media::gain::step_gain_db(announce.gain_db, adjustment == Adjustment::VolumeUp),
            ),
        };
        announce.speed = speed;
        announce.gain_db = gain_db;
        // While loading, the load applies them.
        if announce.timeline.is_some() {
            announce.rerender(at);
        }
        Ok(Output::None)
    }

    /// Pauses or resumes the announcement `target`; `None` when it is not
    /// the one playing.
    pub(super) fn pause_announcement(
        &mut self,
        target: RequestId,
        paused: bool,
    ) -> Option<Result<Output, Failure>> {
        let control = self.control.as_mut()?;
        let announce = control.announce.as_mut().filter(|a| a.id == target)?;
        announce.paused = paused;
        let Some(media) = control.media.as_ref() else {
            return Some(Err(Failure::NotAnswered));
        };
        Some(
            self.ctx
                .pacer
                .set_prompt_paused(media.stream, paused)
                .map(|()| Output::None)
                .map_err(|error| Failure::Internal(error.to_string())),
        )
    }

    /// The pacer finished a prompt source tagged `tag`: if it is the
    /// announcement's current one, the announcement has played to its end.
    pub(super) fn on_prompt_finished(&mut self, tag: u64) {
        let Some(control) = self.control.as_mut() else {
            return;
        };
        if control
            .announce
            .as_ref()
            .is_some_and(|a| a.tag == tag && a.rendering.is_some())
        {
            self.announcement_ended(AnnouncementEnd::Finished);
        }
    }

    /// `max_time` has passed for the running announcement, if it has.
    pub(super) fn on_announcement_deadline(&mut self, now: tokio::time::Instant) {
        let due = self
            .control
            .as_ref()
            .and_then(|c| c.announce.as_ref())
            .and_then(|a| a.until)
            .is_some_and(|until| until <= now);
        if due {
            self.announcement_ended(AnnouncementEnd::MaxTime);
        }
    }

    /// The announcement is over by itself: an announcement completes, a
    /// prompt's input starts its timers.
    fn announcement_ended(&mut self, end: AnnouncementEnd) {
        let idle = self.idle_source();
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let Some(announce) = control.announce.take() else {
            return;
        };
        if end == AnnouncementEnd::MaxTime {
            if let Some(m) = control.media.as_ref() {
                let _ = self.ctx.pacer.set_source(m.stream, idle);
            }
        }
        if announce.prompt {
            control.rules.announcement_finished(now(), announce.id);
        } else {
            control
                .rules
                .finished(announce.id, Ok(Output::Announced(end)));
        }
    }

    /// Silences the announcement `id` (stopped, or a prompt barged in) and
    /// forgets it; nothing is reported. `false` when it is not running.
    pub(super) fn stop_announcement(&mut self, id: RequestId) -> bool {
        let idle = self.idle_source();
        let Some(control) = self.control.as_mut() else {
            return false;
        };
        if control.announce.as_ref().is_none_or(|a| a.id != id) {
            return false;
        }
        control.announce = None;
        if let Some(m) = control.media.as_ref() {
            let _ = self.ctx.pacer.set_source(m.stream, idle);
        }
        true
    }
}

/// `announcement`'s segments resolved (prompt cache, text-to-speech) and
/// laid out (repeats, interval, start offset) in `codec`: what a mixer's
/// output plays, as a call's announcement does.
pub(in crate::calls) async fn load_timeline(
    prompts: Prompts,
    tts: Tts,
    announcement: &Announcement,
    codec: G711,
) -> Result<Timeline, Failure> {
    let sources = Sources { prompts, tts };
    let document = resolve(&announcement.segments, &sources, codec).await?;
    Timeline::build(document, announcement, codec)
}

/// The segments' frames one after the other, as one document.
async fn resolve(
    segments: &[Segment],
    sources: &Sources,
    codec: G711,
) -> Result<PromptFrames, Failure> {
    let mut parts = Vec::new();
    resolve_into(segments, sources, codec, &mut parts).await?;
    Ok(timeline::concat(parts))
}

/// Appends the segments' frames to `parts`; a fallback nests, hence the box.
fn resolve_into<'a>(
    segments: &'a [Segment],
    sources: &'a Sources,
    codec: G711,
    parts: &'a mut Vec<PromptFrames>,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>> {
    Box::pin(async move {
        for segment in segments {
            match segment {
                Segment::Audio { uri, fallback } => match sources.prompts.load(uri, codec).await {
                    Ok(frames) => parts.push(frames),
                    Err(failure) if !fallback.is_empty() => {
                        tracing::info!(%uri, %failure, "playing the audio's fallback instead");
                        resolve_into(fallback, sources, codec, parts).await?;
                    }
                    Err(failure) => {
                        return Err(Failure::Unplayable(format!("cannot play {uri}: {failure}")))
                    }
                },
                Segment::Silence(duration) => {
                    let frames = timeline::frames_in(*duration);
                    let frames = if duration.is_zero() { 0 } else { frames.max(1) };
                    parts.push(timeline::silence(frames, codec));
                }
                Segment::Speech {
                    text,
                    voice,
                    rate,
                    volume_db,
                } => parts.push(
                    // Cached and shared like prompts; a missing engine is
                    // `Unplayable` with its cause.
                    sources
                        .tts
                        .render(text, voice.as_deref(), *rate, *volume_db, codec)
                        .await?,
                ),
            }
        }
        Ok(())
    })
}
