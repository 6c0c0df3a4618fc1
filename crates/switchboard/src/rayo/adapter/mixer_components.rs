//! Components on mixer JIDs (RAYO.md §2.9, §3.0): an output, input,
//! prompt or record sent to `<mixer>@<domain>` runs on the room, through
//! the same parsing and fetching as on a call; its start is answered with
//! `<ref uri='xmpp:<mixer>@<domain>/<component-id>'/>` once the mixer has
//! it, its events and completion come from that JID to the client that
//! started it, and only that client commands it.
//!
//! Who may start one: a client controlling a call in the room (anyone
//! else gets `not-allowed`: mod_rayo lets any client of the zone, but a
//! room's audio belongs to its members' applications). The mixer (call
//! side) enforces the rules between components; the adapter only maps
//! what it reports. When the room empties, the mixer reports its
//! components' completions and then its `Ended`; the mixer's unavailable
//! presence waits for them. At `Ended`, IQs still waiting get
//! `item-not-found` and components still running complete with
//! `<hangup/>`, then they are forgotten.

use std::collections::BTreeMap;

use call_control::{Command, Event, Failure, Request, RequestId};
use rayo::{CallCommand, CommandError, ComponentEvent, MediaComponent, StanzaCondition};
use xmpp::{iq_result, Element, FullJid};

use super::calls::PendingIq;
use super::components::{component_id, request_of, Component};
use super::media::{self, ComponentKind};
use super::{commands, Invited, Output, RayoAdapter};

/// The components of one mixer and the IQs waiting for it.
#[derive(Debug, Default)]
pub(super) struct Hosted {
    /// IQs waiting for their request's `Started` (a start) or `Done`.
    pending: BTreeMap<RequestId, PendingIq>,
    /// Running components, by request id.
    components: BTreeMap<RequestId, Component>,
}

impl Hosted {
    /// Nothing runs and no IQ waits.
    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.components.is_empty()
    }
}

impl<I: Invited> RayoAdapter<I> {
    /// An IQ set to mixer `name` itself: a component start (fetching its
    /// documents first when they are URLs); call commands are not for
    /// mixers.
    pub(super) fn mixer_command(
        &mut self,
        from: &FullJid,
        iq: &Element,
        name: &str,
        payload: &Element,
    ) -> Result<(), CommandError> {
        self.may_start_on(from, name)?;
        let start = match rayo::parse_call_command(payload, &self.settings.domain)? {
            CallCommand::Start(start) => start,
            other => {
                return Err(CommandError::not_implemented(format!(
                    "<{}> is a call command: a mixer takes components only",
                    other.name()
                )))
            }
        };
        let urls = media::to_fetch(&start);
        if !urls.is_empty() {
            self.outputs.push_back(Output::Fetch {
                client: from.clone(),
                iq: iq.clone(),
                call: name.to_owned(),
                component: start,
                urls,
            });
            return Ok(());
        }
        self.start_on_mixer(from, iq, name, &start)
    }

    /// Starts `component` (its documents fetched) on mixer `name` for
    /// `from`; its IQ is answered at the mixer's `Started` or `Done`.
    pub(super) fn start_on_mixer(
        &mut self,
        from: &FullJid,
        iq: &Element,
        name: &str,
        component: &MediaComponent,
    ) -> Result<(), CommandError> {
        self.may_start_on(from, name)?;
        let (command, kind) = media::to_component(component)?;
        self.mixer_request(from, iq, name, command, component.name(), Some(kind));
        Ok(())
    }

    /// `item-not-found` for a mixer gone, `not-allowed` for a client with
    /// no call in it.
    fn may_start_on(&self, from: &FullJid, name: &str) -> Result<(), CommandError> {
        if !self.has_mixer(name) {
            return Err(CommandError::item_not_found(format!("no mixer {name}")));
        }
        if !self.controls_call_in(name, from) {
            return Err(CommandError::of(
                StanzaCondition::NotAllowed,
                "only a client controlling a call in the mixer starts components on it",
            ));
        }
        Ok(())
    }

    /// An IQ set to `<mixer>@<domain>/<resource>`: a command for one of
    /// its components, from its owner only.
    pub(super) fn mixer_component_iq(
        &mut self,
        from: &FullJid,
        iq: &Element,
        name: &str,
        resource: &str,
        payload: &Element,
    ) -> Result<(), CommandError> {
        let gone =
            || CommandError::item_not_found(format!("no component {resource} on mixer {name}"));
        let target = request_of(resource).ok_or_else(gone)?;
        let component = self
            .mixers
            .get(name)
            .and_then(|m| m.hosted.components.get(&target))
            .filter(|c| component_id(c.kind, target) == resource)
            .ok_or_else(gone)?;
        if component.owner != *from {
            return Err(CommandError::of(
                StanzaCondition::Conflict,
                "another client started this component",
            ));
        }
        let kind = component.kind;
        let parsed = rayo::parse_component_command(payload)?;
        let command = media::component_command(&parsed, target, kind)?;
        self.mixer_request(from, iq, name, command, parsed.name(), None);
        Ok(())
    }

    /// Records `iq` as waiting for a new request to mixer `name` and asks
    /// the driver to deliver that request.
    fn mixer_request(
        &mut self,
        from: &FullJid,
        iq: &Element,
        name: &str,
        command: Command,
        command_name: &'static str,
        component: Option<ComponentKind>,
    ) {
        let Some(mixer) = self.mixers.get_mut(name) else {
            return self.reply_error(from, iq, &CommandError::item_not_found("no such mixer"));
        };
        let id = self.next_mixer_request;
        self.next_mixer_request += 1;
        mixer.hosted.pending.insert(
            id,
            PendingIq {
                client: from.clone(),
                request: iq.clone(),
                command: command_name,
                component,
                mixer: None,
            },
        );
        self.outputs.push_back(Output::MixerRequest {
            mixer: name.to_owned(),
            request: Request { id, command },
        });
    }

    /// Something the components of mixer `name` reported (or the mixer's
    /// end): the start's `<ref>`, events and completions from the
    /// component's JID to its owner, answers to component commands. News
    /// of a mixer or request the adapter no longer knows is dropped.
    pub fn mixer_event(&mut self, name: &str, event: Event) {
        let name = name.to_lowercase();
        let Some(mixer) = self.mixers.get_mut(&name) else {
            return;
        };
        let host = rayo::uri::mixer_jid(&name, &self.settings.domain);
        let (id, payload, done) = match event {
            Event::Started { id } => {
                let Some(kind) = mixer.hosted.pending.get(&id).and_then(|p| p.component) else {
                    return;
                };
                let Some(pending) = mixer.hosted.pending.remove(&id) else {
                    return;
                };
                let owner = pending.client.clone();
                mixer
                    .hosted
                    .components
                    .insert(id, Component { kind, owner });
                let resource = component_id(kind, id);
                let reference = rayo::ref_element(&self.cx(), &name, Some(&resource));
                self.send(pending.client, iq_result(&pending.request, Some(reference)));
                return;
            }
            Event::Done { id, result } => {
                if let Some(component) = mixer.hosted.components.get(&id) {
                    let uri = &self.settings.recording_uri.0;
                    let complete = media::completion(component.kind, result, uri.as_ref());
                    (id, vec![complete], true)
                } else {
                    let Some(pending) = mixer.hosted.pending.remove(&id) else {
                        return;
                    };
                    match result {
                        Ok(_) => self.send(pending.client, iq_result(&pending.request, None)),
                        Err(failure) => {
                            let error = failure_error(pending.command, &failure);
                            self.reply_error(&pending.client, &pending.request, &error);
                        }
                    }
                    return self.end_mixer_if_done(&name);
                }
            }
            Event::InputTimersStarted { id } => {
                (id, ComponentEvent::InputTimersStarted.payload(None), false)
            }
            Event::Signal { id, signal } => {
                let signal = ComponentEvent::Signal(media::signal_event(&signal));
                (id, signal.payload(None), false)
            }
            Event::Ended { .. } => {
                self.forget_mixer_components(&name);
                return self.end_mixer_if_done(&name);
            }
            _ => return,
        };
        let Some(mixer) = self.mixers.get_mut(&name) else {
            return;
        };
        let component = if done {
            mixer.hosted.components.remove(&id)
        } else {
            mixer.hosted.components.get(&id).cloned()
        };
        if let Some(component) = component {
            self.send_component_event(&host, id, component, payload, done);
        }
        if done {
            self.end_mixer_if_done(&name);
        }
    }

    /// `client` is gone past its grace period: the components it started
    /// on mixers are stopped (a room's endless output must not outlive its
    /// application); their completions go nowhere.
    pub(super) fn stop_mixer_components_of(&mut self, client: &FullJid) {
        let mut stops = Vec::new();
        for (name, mixer) in &self.mixers {
            for (target, component) in &mixer.hosted.components {
                if component.owner == *client {
                    stops.push((name.clone(), *target));
                }
            }
        }
        stops.sort();
        for (mixer, target) in stops {
            // Its `Done` finds no waiting IQ and is dropped.
            let id = self.next_mixer_request;
            self.next_mixer_request += 1;
            let request = Request {
                id,
                command: Command::Stop { target },
            };
            self.outputs
                .push_back(Output::MixerRequest { mixer, request });
        }
    }

    /// Mixer `name` ended (the call side's `Ended`): the IQs still waiting
    /// for it get `item-not-found`, its components still running complete
    /// with `<hangup/>`, and all are forgotten.
    fn forget_mixer_components(&mut self, name: &str) {
        let Some(mixer) = self.mixers.get_mut(name) else {
            return;
        };
        let hosted = std::mem::take(&mut mixer.hosted);
        for pending in hosted.pending.into_values() {
            let error = CommandError::item_not_found(format!("mixer {name} is gone"));
            self.reply_error(&pending.client, &pending.request, &error);
        }
        let host = rayo::uri::mixer_jid(name, &self.settings.domain);
        for (id, component) in hosted.components {
            let uri = &self.settings.recording_uri.0;
            let complete = media::completion(component.kind, Err(Failure::CallEnded), uri.as_ref());
            self.send_component_event(&host, id, component, vec![complete], true);
        }
    }
}

/// The stanza error for a request the mixer refused: as for calls, except
/// that the mixer not found (gone between the IQ and the request) is
/// `item-not-found`, like any entity that has ended.
fn failure_error(command: &str, failure: &Failure) -> CommandError {
    match failure {
        Failure::NotFound(text) => CommandError::item_not_found(text.clone()),
        other => commands::failure_error(command, other),
    }
}
