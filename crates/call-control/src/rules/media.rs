//! The rules' part for the media components Rayo adds: early media on
//! demand, prompts (barge-in, input timers) and output adjustments.

use std::time::Instant;

use super::{Action, CallRules, Kind, Phase, INTERNAL_ID};
use crate::{Command, Event, Failure, Output, RequestId};

impl CallRules {
    /// A prompt's announcement has played to its end: the input's timers
    /// start now and the controller hears of it. Ignored when the prompt
    /// is over or its announcement was already stopped.
    pub fn announcement_finished(&mut self, now: Instant, id: RequestId) {
        let Some(component) = self.components.iter_mut().find(|c| c.id == id) else {
            return;
        };
        let Kind::Prompt { playing, .. } = &mut component.kind else {
            return;
        };
        if !*playing {
            return;
        }
        *playing = false;
        if let Some((_, input)) = self.inputs.iter_mut().find(|(i, _)| *i == id) {
            input.start_timers(now);
        }
        self.emit(Event::InputTimersStarted { id });
    }

    /// After a key: every prompt that barges in and still plays stops its
    /// announcement, and its input's timers start.
    pub(super) fn barge_in(&mut self, now: Instant) {
        let mut barged = Vec::new();
        for component in &mut self.components {
            if let Kind::Prompt {
                playing: playing @ true,
                barge_in: true,
            } = &mut component.kind
            {
                let has_key = self
                    .inputs
                    .iter()
                    .any(|(i, input)| *i == component.id && input.has_input());
                if has_key {
                    *playing = false;
                    barged.push(component.id);
                }
            }
        }
        for id in barged {
            if let Some((_, input)) = self.inputs.iter_mut().find(|(i, _)| *i == id) {
                input.start_timers(now);
            }
            self.actions.push_back(Action::StopAnnouncement(id));
        }
    }

    /// Analysis `id` found `signal`: reported as an event, or as the
    /// analysis's end when it was asked to end on it. Signals it does not
    /// listen for are dropped.
    pub fn signal(&mut self, id: RequestId, signal: crate::Signal) {
        let Some((_, analysis)) = self.analyses.iter().find(|(a, _)| *a == id) else {
            return;
        };
        let Some(&(_, terminate)) = analysis.signals.iter().find(|(k, _)| *k == signal.kind) else {
            return;
        };
        if terminate {
            self.actions.push_back(Action::StopComponent(id));
            self.complete(id, Ok(Output::Signal(signal)));
        } else {
            self.emit(Event::Signal { id, signal });
        }
    }

    /// Whether `target` takes an [`crate::Adjustment`] now.
    pub(super) fn adjustable(&self, target: RequestId) -> Result<(), Failure> {
        let component = self
            .components
            .iter()
            .find(|c| c.id == target)
            .ok_or(Failure::NoSuchRequest)?;
        match component.kind {
            _ if !component.started => Err(Failure::InvalidState("the output has not started")),
            Kind::Announcement | Kind::Prompt { playing: true, .. } => Ok(()),
            Kind::Prompt { playing: false, .. } => {
                Err(Failure::InvalidState("the output is finished"))
            }
            Kind::Plain => Err(Failure::BadRequest(
                "only an output takes this command".into(),
            )),
        }
    }

    /// A component before media: waits for early media when the call asks
    /// for it (starting it if nobody has), else fails.
    pub(super) fn hold_for_early_media(&mut self, id: RequestId, command: Command) {
        let inbound_pending = self.phase == Phase::Pending && !self.outbound;
        if !self.early_media || !inbound_pending {
            return self.done(id, Err(Failure::NotAnswered));
        }
        self.held.push((id, command));
        let accepting = self.early_accept.is_some()
            || self.executing.iter().any(|e| {
                matches!(
                    e.command,
                    Command::Accept {
                        early_media: true,
                        ..
                    }
                )
            });
        if !accepting {
            self.early_accept = Some(INTERNAL_ID);
            self.actions.push_back(Action::Execute(crate::Request {
                id: INTERNAL_ID,
                command: Command::Accept {
                    early_media: true,
                    headers: Vec::new(),
                },
            }));
        }
    }

    /// The rules' own early-media accept finished: on failure the held
    /// components fail with it (on success media readiness starts them).
    pub(super) fn early_accepted(&mut self, _id: RequestId, result: Result<Output, Failure>) {
        self.early_accept = None;
        if let Err(failure) = result {
            self.release_held(failure);
        } else if !self.media_ready {
            // A 183 that did not start media (the call left meanwhile).
            self.release_held(Failure::NotAnswered);
        }
    }

    /// Every held component fails with `failure`.
    pub(super) fn release_held(&mut self, failure: Failure) {
        for (id, _) in std::mem::take(&mut self.held) {
            self.done(id, Err(failure.clone()));
        }
    }
}
