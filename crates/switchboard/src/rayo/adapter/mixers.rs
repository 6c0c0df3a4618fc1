//! Mixers as Rayo clients see them (RAYO.md §2.9): the adapter keeps, per
//! mixer name, the calls in the room as their own events said, and derives
//! every presence of the mixer's bare JID from those events: `<joined>` /
//! `<unjoined call-uri>` and the speaker events to every client with a call
//! in the room, the caps `<c>` on a client's first presence from the
//! mixer, `type='unavailable'` to everyone it told anything once the last
//! call left (after its components' completions). IQs to a mixer JID:
//! disco#info answers its identity, component starts and commands go to
//! `mixer_components`.

use std::collections::HashMap;

use rayo::{CommandError, MixerEvent};
use xmpp::{iq_result, Element, FullJid};

use call_control::{Command, Event, Join, JoinTarget};

use super::events::{disco_identity, CLIENT_NS, DISCO_INFO};
use super::{not_understood, Invited, RayoAdapter};

/// One mixer with at least one call in it, or emptied and waiting for
/// its components' completions.
#[derive(Debug, Default)]
pub(super) struct Mixer {
    /// The calls in the room (call ids), in the order they joined.
    members: Vec<Member>,
    /// Clients this mixer sent a presence: they had its caps and get its
    /// unavailable presence.
    told: Vec<FullJid>,
    /// The components running on it and the IQs waiting for it.
    pub(super) hosted: super::mixer_components::Hosted,
}

#[derive(Debug)]
struct Member {
    call: String,
    /// Whether the room last said the call's party speaks.
    speaking: bool,
}

/// The mixers with calls in them, by name.
pub(super) type Mixers = HashMap<String, Mixer>;

/// What a call's event means for a mixer (by name) the call is in.
#[derive(Debug)]
pub(super) enum News {
    /// The call joined the mixer.
    Joined(String),
    /// The call left the mixer.
    Unjoined(String),
    /// The call's party started (`true`) or stopped speaking in the mixer.
    Speaking(String, bool),
}

/// The mixer a command joins, if it joins one.
pub(super) fn joins_mixer(command: &Command) -> Option<String> {
    match command {
        Command::Join(Join {
            target: JoinTarget::Mixer(name),
            ..
        }) => Some(name.clone()),
        _ => None,
    }
}

/// The mixer news in a call's `event`, if any.
pub(super) fn news(event: &Event) -> Option<News> {
    match event {
        Event::Joined {
            target: JoinTarget::Mixer(name),
            ..
        } => Some(News::Joined(name.clone())),
        Event::Unjoined {
            target: JoinTarget::Mixer(name),
        } => Some(News::Unjoined(name.clone())),
        Event::Speaking { mixer, speaking } => Some(News::Speaking(mixer.clone(), *speaking)),
        _ => None,
    }
}

impl<I: Invited> RayoAdapter<I> {
    /// Tells the room what call `call`'s event meant for it (after the
    /// call's own event went to its controller).
    pub(super) fn mixer_news(&mut self, call: &str, news: News) {
        match news {
            News::Joined(name) => self.mixer_joined(call, &name),
            News::Unjoined(name) => self.mixer_unjoined(call, &name),
            News::Speaking(name, on) => self.mixer_speaking(call, &name, on),
        }
    }

    /// Call `call` joined mixer `name` (created with its first call): every
    /// client with a call in the room hears of it. A call already in the
    /// room (a changed direction) is no news.
    fn mixer_joined(&mut self, call: &str, name: &str) {
        let mixer = self.mixers.entry(name.to_owned()).or_default();
        if mixer.members.iter().any(|m| m.call == call) {
            return;
        }
        mixer.members.push(Member {
            call: call.to_owned(),
            speaking: false,
        });
        self.tell_room(name, MixerEvent::Joined(call.to_owned()));
    }

    /// Call `call` left mixer `name` (unjoin, hangup): every client with a
    /// call in the room, the leaver's included, hears of it; the last one
    /// out ends the mixer for everyone it told anything.
    fn mixer_unjoined(&mut self, call: &str, name: &str) {
        let Some(mixer) = self.mixers.get(name) else {
            return;
        };
        if !mixer.members.iter().any(|m| m.call == call) {
            return;
        }
        self.tell_room(name, MixerEvent::Unjoined(call.to_owned()));
        let Some(mixer) = self.mixers.get_mut(name) else {
            return;
        };
        mixer.members.retain(|m| m.call != call);
        // Its components end with it, before its unavailable presence: the
        // mixer reports their completions (a recording's once its file is
        // written), then its `Ended`.
        self.end_mixer_if_done(name);
    }

    /// Mixer `name` ends for its clients (unavailable to everyone it told
    /// anything) once no call is in it and nothing of it runs or waits.
    pub(super) fn end_mixer_if_done(&mut self, name: &str) {
        let done = self
            .mixers
            .get(name)
            .is_some_and(|m| m.members.is_empty() && m.hosted.is_empty());
        if !done {
            return;
        }
        let Some(mixer) = self.mixers.remove(name) else {
            return;
        };
        let from = rayo::uri::mixer_jid(name, &self.settings.domain);
        for client in mixer.told {
            let gone = Element::new("presence", CLIENT_NS)
                .attr("from", from.as_str())
                .attr("to", client.to_string())
                .attr("type", "unavailable");
            self.send(client, gone);
        }
    }

    /// The party of call `call` started or stopped speaking in mixer
    /// `name`: told once per change, only while the call is in the room.
    fn mixer_speaking(&mut self, call: &str, name: &str, speaking: bool) {
        let Some(member) = self
            .mixers
            .get_mut(name)
            .and_then(|m| m.members.iter_mut().find(|m| m.call == call))
        else {
            return;
        };
        if member.speaking == speaking {
            return;
        }
        member.speaking = speaking;
        let event = if speaking {
            MixerEvent::StartedSpeaking(call.to_owned())
        } else {
            MixerEvent::StoppedSpeaking(call.to_owned())
        };
        self.tell_room(name, event);
    }

    /// Call `call` is forgotten without having reported leaving its
    /// mixers (it vanished): it leaves them now, its controller hearing
    /// the call's own `<unjoined>` first.
    pub(super) fn leave_mixers(&mut self, call: &str) {
        let mut names: Vec<String> = self
            .mixers
            .iter()
            .filter(|(_, m)| m.members.iter().any(|m| m.call == call))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        for name in names {
            if let Some(controller) = self.calls.get(call).and_then(|c| c.controller.clone()) {
                let unjoined = rayo::CallEvent::Unjoined(rayo::JoinTarget::Mixer(name.clone()));
                let from = rayo::uri::call_jid(call, &self.settings.domain);
                let stanza =
                    super::events::presence(&self.cx(), &from, &controller, &unjoined, None);
                self.send(controller, stanza);
            }
            self.mixer_unjoined(call, &name);
        }
    }

    /// `client`'s stream closed: no mixer counts it as told any more (a
    /// new session gets the caps again and nothing is sent to the old one
    /// at a mixer's end).
    pub(super) fn forget_mixer_client(&mut self, client: &FullJid) {
        for mixer in self.mixers.values_mut() {
            mixer.told.retain(|c| c != client);
        }
    }

    /// Whether a mixer of this name has calls in it (one emptied whose
    /// components are still completing does not count).
    pub(super) fn has_mixer(&self, name: &str) -> bool {
        self.mixers.get(name).is_some_and(|m| !m.members.is_empty())
    }

    /// Whether `client` controls a call in mixer `name` (it may start
    /// components on the mixer).
    pub(super) fn controls_call_in(&self, name: &str, client: &FullJid) -> bool {
        self.mixers.get(name).is_some_and(|mixer| {
            mixer.members.iter().any(|member| {
                self.calls
                    .get(&member.call)
                    .and_then(|call| call.controller.as_ref())
                    == Some(client)
            })
        })
    }

    /// An IQ to the JID of mixer `name` (`resource`: a component of it):
    /// disco#info is answered, a set starts or commands a component.
    pub(super) fn mixer_iq(
        &mut self,
        from: &FullJid,
        iq: &Element,
        name: &str,
        resource: Option<&str>,
        payload: &Element,
        set: bool,
    ) -> Result<(), CommandError> {
        if !set {
            if resource.is_none() && payload.is("query", DISCO_INFO) {
                let query = disco_identity(rayo::caps::MIXER_IDENTITY);
                self.send(from.clone(), iq_result(iq, Some(query)));
                return Ok(());
            }
            return Err(not_understood(payload));
        }
        match resource {
            Some(resource) => self.mixer_component_iq(from, iq, name, resource, payload),
            None => self.mixer_command(from, iq, name, payload),
        }
    }

    /// Sends `event` from mixer `name` to every client controlling a call
    /// in it (once each, in the order their calls joined), with the caps
    /// on a client's first presence from the mixer. A controller whose
    /// stream closed (in its grace period) is skipped.
    fn tell_room(&mut self, name: &str, event: MixerEvent) {
        let Some(mixer) = self.mixers.get(name) else {
            return;
        };
        let mut clients: Vec<FullJid> = Vec::new();
        for member in &mixer.members {
            let controller = self
                .calls
                .get(&member.call)
                .and_then(|c| c.controller.as_ref());
            if let Some(client) = controller {
                if !clients.contains(client) && !self.grace.contains_key(client) {
                    clients.push(client.clone());
                }
            }
        }
        let from = rayo::uri::mixer_jid(name, &self.settings.domain);
        let mut stanzas = Vec::with_capacity(clients.len());
        for client in clients {
            let first = !self
                .mixers
                .get(name)
                .is_some_and(|m| m.told.contains(&client));
            let mut presence = Element::new("presence", CLIENT_NS)
                .attr("from", from.as_str())
                .attr("to", client.to_string());
            for child in event.payload(&self.cx(), first) {
                presence.push(child);
            }
            if first {
                if let Some(mixer) = self.mixers.get_mut(name) {
                    mixer.told.push(client.clone());
                }
            }
            stanzas.push((client, presence));
        }
        for (client, presence) in stanzas {
            self.send(client, presence);
        }
    }
}
