//! The component lifecycle on call JIDs (RAYO.md §3.0): a component's
//! start is answered with its `<ref>` once the call has it, before any
//! presence of it; commands to `<call>@<domain>/<component>` reach it only
//! from the client that started it; its one `<complete>` comes as an
//! (unavailable) presence from its JID, and after that it is unknown
//! (`item-not-found`).

use std::fmt;
use std::sync::Arc;

use call_control::{Event, Request, RequestId};
use rayo::{CommandError, ComponentEvent, StanzaCondition as Condition};
use tokio::sync::mpsc::error::TrySendError;
use xmpp::{iq_result, Element, FullJid};

use super::calls::{PendingIq, RayoCall};
use super::events::CLIENT_NS;
use super::media::{self, ComponentKind};
use super::{Invited, RayoAdapter};

/// Turns a recording's file name into the URL a client fetches it from
/// (signed and expiring: the HTTP server's `RecordingUrls`).
#[derive(Clone)]
pub struct RecordingUri(pub Arc<dyn Fn(&str) -> String + Send + Sync>);

impl fmt::Debug for RecordingUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordingUri")
    }
}

impl Default for RecordingUri {
    /// The bare file name, for tests and servers without HTTP.
    fn default() -> Self {
        RecordingUri(Arc::new(|file: &str| file.to_owned()))
    }
}

/// A running component, as its call knows it.
#[derive(Debug, Clone)]
pub(super) struct Component {
    /// What it is.
    pub kind: ComponentKind,
    /// The client that started it, the only one it takes commands from.
    pub owner: FullJid,
}

/// The resource naming the component with request id `id`.
pub(super) fn component_id(kind: ComponentKind, id: RequestId) -> String {
    format!("{}-{id}", kind.prefix())
}

/// The request id a component resource names, if it is one of ours.
pub(super) fn request_of(resource: &str) -> Option<RequestId> {
    let (_, number) = resource.rsplit_once('-')?;
    number.parse().ok()
}

impl<I: Invited> RayoAdapter<I> {
    /// An IQ set to `<call>@<domain>/<resource>`: a command for a component.
    pub(super) fn component_iq(
        &mut self,
        from: &FullJid,
        iq: &Element,
        call_id: &str,
        resource: &str,
        payload: &Element,
    ) -> Result<(), CommandError> {
        let gone = || CommandError::item_not_found(format!("no component {resource}"));
        let call = self.calls.get_mut(call_id).ok_or_else(gone)?;
        let target = request_of(resource).ok_or_else(gone)?;
        let component = call
            .components
            .get(&target)
            .filter(|c| component_id(c.kind, target) == resource)
            .ok_or_else(gone)?;
        if component.owner != *from {
            return Err(CommandError::of(
                Condition::Conflict,
                "another client started this component",
            ));
        }
        let parsed = rayo::parse_component_command(payload)?;
        let command = media::component_command(&parsed, target, component.kind)?;
        send_request(call, from, iq, command, parsed.name(), None).map(|_| ())
    }

    /// A component event or end of call `call_id`; false when `event` is
    /// none of them.
    pub(super) fn component_event(&mut self, call_id: &str, event: &Event) -> bool {
        let Some(call) = self.calls.get_mut(call_id) else {
            return false;
        };
        let (id, payload, done) = match event {
            Event::Started { id } => {
                let Some(kind) = call.pending.get(id).and_then(|p| p.component) else {
                    return true;
                };
                let Some(pending) = call.pending.remove(id) else {
                    return true;
                };
                let resource = component_id(kind, *id);
                call.components.insert(
                    *id,
                    Component {
                        kind,
                        owner: pending.client.clone(),
                    },
                );
                let reference = rayo::ref_element(&self.cx(), call_id, Some(&resource));
                self.send(pending.client, iq_result(&pending.request, Some(reference)));
                return true;
            }
            Event::Done { id, result } if call.components.contains_key(id) => {
                let Some(component) = call.components.get(id) else {
                    return true;
                };
                let uri = &self.settings.recording_uri.0;
                let complete = media::completion(component.kind, result.clone(), uri.as_ref());
                (*id, vec![complete], true)
            }
            Event::InputTimersStarted { id } => {
                (*id, ComponentEvent::InputTimersStarted.payload(None), false)
            }
            Event::Signal { id, signal } => {
                let signal = ComponentEvent::Signal(media::signal_event(signal));
                (*id, signal.payload(None), false)
            }
            _ => return false,
        };
        let Some(component) = (if done {
            call.components.remove(&id)
        } else {
            call.components.get(&id).cloned()
        }) else {
            return true;
        };
        let from = rayo::uri::call_jid(call_id, &self.settings.domain);
        self.send_component_event(&from, id, component, payload, done);
        true
    }

    /// Sends `payload` from component `id` of the entity `host` (a call or
    /// mixer JID) to its owner; the completion (`done`) is an unavailable
    /// presence where the dialect says so.
    pub(super) fn send_component_event(
        &mut self,
        host: &str,
        id: RequestId,
        component: Component,
        payload: Vec<Element>,
        done: bool,
    ) {
        let from = format!("{host}/{}", component_id(component.kind, id));
        let mut presence = Element::new("presence", CLIENT_NS)
            .attr("from", from)
            .attr("to", component.owner.to_string());
        if done && self.settings.dialect.final_presence_unavailable() {
            presence.set_attr("type", "unavailable");
        }
        for child in payload {
            presence.push(child);
        }
        self.send(component.owner, presence);
    }
}

/// Queues `command` for `call` and records the IQ its `Done` (or, for a
/// component, its `Started`) answers, under the request id returned.
pub(super) fn send_request<I>(
    call: &mut RayoCall<I>,
    from: &FullJid,
    iq: &Element,
    command: call_control::Command,
    name: &'static str,
    component: Option<ComponentKind>,
) -> Result<RequestId, CommandError> {
    let request = Request {
        id: call.next_id(),
        command,
    };
    let request_id = request.id;
    match call.handle.commands.try_send(request) {
        Ok(()) => {
            call.pending.insert(
                request_id,
                PendingIq {
                    client: from.clone(),
                    request: iq.clone(),
                    command: name,
                    component,
                    mixer: None,
                },
            );
            Ok(request_id)
        }
        Err(TrySendError::Full(_)) => Err(CommandError::of(
            Condition::ResourceConstraint,
            "the call is busy; try again",
        )),
        Err(TrySendError::Closed(_)) => Err(CommandError::item_not_found("the call has ended")),
    }
}
