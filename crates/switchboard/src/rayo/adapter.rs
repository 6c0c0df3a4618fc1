//! The Rayo adapter's logic as a sans-IO machine: offers, call commands and
//! call events between Rayo clients and the call-control model.
//!
//! [`RayoAdapter`] holds no socket, task or clock. Its driver (the tokio
//! loop in [`super::service`]) feeds it what happens, each with `now`:
//!
//! - [`invited`](RayoAdapter::invited): the offer driver hands a client an
//!   invitation for a new call; the client gets the `<offer>` presence;
//! - [`stanza`](RayoAdapter::stanza): a client's IQ to the domain or to a
//!   call JID. Every IQ `get`/`set` gets exactly one result or error, now
//!   or when the call reports the request's `Done`;
//! - [`availability`](RayoAdapter::availability) and
//!   [`closed`](RayoAdapter::closed): invitations of a client that is no
//!   longer available are dropped (the offer fails over); the calls of a
//!   client whose stream closed are hung up after [`DISCONNECT_GRACE`]
//!   unless it comes back under the same full JID;
//! - [`call_event`](RayoAdapter::call_event): what a call reports, and
//!   [`call_gone`](RayoAdapter::call_gone) when its command queue closed;
//! - [`handle_timeout`](RayoAdapter::handle_timeout) at
//!   [`poll_timeout`](RayoAdapter::poll_timeout).
//!
//! and carries out every [`Output`] it polls, in order: stanzas to clients
//! (through each client's one ordered queue), calls to watch, dials (whose
//! outcome comes back through [`dialed`](RayoAdapter::dialed)).
//!
//! Control (XEP-0327 §6.2, RAYO.md §1.3): the first offered client to send
//! any command to a call takes the offer and becomes its definitive
//! controlling party; commands from anyone else get `conflict`. A command
//! to a call that never existed or has ended gets `item-not-found`. The
//! `<end>` goes to every client the call was offered to, after the answers
//! to the IQs still open, and nothing of that call follows it.
//!
//! Mixers (`mixers`) exist for clients as the calls' own join events say:
//! the adapter sees every Rayo call, so it derives each mixer presence
//! from them; an IQ to a JID that is neither a call nor a mixer with calls
//! in it is `item-not-found`. Components run on mixers too
//! (`mixer_components`): their requests go out as
//! [`Output::MixerRequest`] and what the mixer reports comes back through
//! [`mixer_event`](RayoAdapter::mixer_event).

mod calls;
mod commands;
mod components;
mod events;
mod grace;
mod media;
mod mixer_components;
mod mixers;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use call_control::{CallInfo, DialRequest, Event, Request};
use rayo::{CallCommand, CommandError, Dialect, EventContext, StanzaCondition as Condition};
use xmpp::{iq_result, Element, FullJid, Jid};

use crate::calls::CallKey;
use crate::control::{CallHandle, Withdrawn};
use calls::RayoCall;
pub use commands::dial_error;
pub use components::RecordingUri;
pub use events::CLIENT_NS;

/// How long the calls of a client whose stream closed live on before they
/// are hung up: long enough for a reconnect under the same full JID
/// (Adhearsion retries every 5 s), short enough that callers do not wait
/// on a dead application. Fixed rather than configured: no `rayo.*` key
/// is specified for it.
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(5);

/// How long a taken call whose command queue closed may still take to
/// deliver its own `Ended` (it waits up to [`crate::control::EVENT_SEND_WAIT`]
/// for room) before the adapter ends it for its clients as an error.
pub const GONE_WAIT: Duration = Duration::from_secs(3);

/// A call offered to one client, as the adapter uses it. The server's is
/// [`crate::control::Invitation`] (see `service`); tests script their own.
pub trait Invited {
    /// How the call takes commands.
    fn call(&self) -> &CallHandle;
    /// What the offer tells about the call.
    fn info(&self) -> &CallInfo;
    /// The call's id in the call registry, which its JID shows; the adapter
    /// makes one up when the call has none.
    fn call_id(&self) -> Option<&str> {
        None
    }
    /// The client takes the call: from now on its events reach the
    /// adapter. [`Withdrawn`] when the offer moved on first.
    fn take(self) -> Result<(), Withdrawn>;
}

/// What the adapter asks of its driver.
#[derive(Debug)]
pub enum Output {
    /// Queue `stanza` to the client `to` (never waiting).
    Send {
        /// The client's full JID.
        to: FullJid,
        /// The stanza.
        stanza: Element,
    },
    /// Tell [`RayoAdapter::call_gone`] once this call's command queue
    /// closes: a call nobody took never reports `Ended` itself.
    Watch(CallHandle),
    /// This request found the call's queue full; deliver it with a wait
    /// (a hangup after the grace period must not be lost).
    Deliver(CallHandle, Request),
    /// Fetch `urls` (documents, grammars) for the component `client`
    /// starts with `iq` on call or mixer `call`, then report the bodies to
    /// [`RayoAdapter::fetched`].
    Fetch {
        /// The client starting the component.
        client: FullJid,
        /// Its IQ.
        iq: Element,
        /// The call or mixer (JID node, lowercase), routed as the IQ was.
        call: String,
        /// The component as parsed.
        component: Box<rayo::MediaComponent>,
        /// What to fetch.
        urls: Vec<String>,
    },
    /// Hand `request` (a component start or command) to the mixer
    /// `mixer` (its name); a refusal comes back to
    /// [`RayoAdapter::mixer_event`] as the request's `Done` with the
    /// failure.
    MixerRequest {
        /// The mixer's name (JID node, lowercase).
        mixer: String,
        /// The request; its id is the adapter's.
        request: Request,
    },
    /// Originate `request` for `client`, then report how it went to
    /// [`RayoAdapter::dialed`] with the IQ to answer.
    Dial {
        /// The client dialing.
        client: FullJid,
        /// Its `<dial>` IQ.
        iq: Element,
        /// What to dial.
        request: DialRequest,
    },
}

/// What the adapter needs from the `rayo` config.
#[derive(Debug, Clone)]
pub struct AdapterSettings {
    /// The XMPP domain; call JIDs are `<call-id>@<domain>`.
    pub domain: String,
    /// Which spelling events are written in.
    pub dialect: Dialect,
    /// Add `id` next to `uri` on refs and `call-id` next to `call-uri`
    /// in the XEP dialect (harmless for XEP clients, RAYO.md §2.1).
    pub legacy_ids: bool,
    /// Where clients fetch recordings from.
    pub recording_uri: RecordingUri,
}

/// The Rayo adapter's state: see the module doc.
#[derive(Debug)]
pub struct RayoAdapter<I> {
    settings: AdapterSettings,
    /// Calls by call id (the JID node).
    calls: HashMap<String, RayoCall<I>>,
    /// Call ids by call key.
    ids: HashMap<CallKey, String>,
    /// Clients whose stream closed, and when their calls are hung up.
    grace: HashMap<FullJid, Instant>,
    /// Taken calls whose command queue closed, and when they are ended
    /// unless their own `Ended` comes first (few: a call normally ends
    /// itself before its queue closes).
    vanished: Vec<(Instant, String)>,
    /// Mixers with calls in them, by name.
    mixers: mixers::Mixers,
    /// The id of the next request to a mixer: one sequence for all of
    /// them, so a late event of a mixer gone never names a new one's.
    next_mixer_request: call_control::RequestId,
    outputs: VecDeque<Output>,
    rng: fastrand::Rng,
}

impl<I: Invited> RayoAdapter<I> {
    /// An adapter with no call; `seed` makes its call ids reproducible in
    /// tests (the server seeds it randomly).
    pub fn new(settings: AdapterSettings, seed: u64) -> RayoAdapter<I> {
        RayoAdapter {
            settings,
            calls: HashMap::new(),
            ids: HashMap::new(),
            grace: HashMap::new(),
            vanished: Vec::new(),
            mixers: mixers::Mixers::new(),
            next_mixer_request: 1,
            outputs: VecDeque::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The next thing the driver must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let vanished = self.vanished.iter().map(|(at, _)| *at);
        self.grace.values().copied().chain(vanished).min()
    }

    /// The number of calls the adapter tracks (offered or controlled).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The call id (JID node) of the call with `key`, once offered.
    pub fn call_id(&self, key: CallKey) -> Option<&str> {
        self.ids.get(&key).map(String::as_str)
    }

    fn cx(&self) -> EventContext<'_> {
        EventContext {
            dialect: self.settings.dialect,
            domain: &self.settings.domain,
            legacy_ids: self.settings.legacy_ids,
        }
    }

    /// The offer driver invites `client` to take a new call (`at`: when,
    /// for the offer's `<delay>`); the client gets the `<offer>`.
    pub fn invited(&mut self, at: SystemTime, client: FullJid, invitation: I) {
        let key = invitation.call().key;
        let id = match self.ids.get(&key) {
            Some(id) => id.clone(),
            None => {
                let id = match invitation.call_id() {
                    Some(id) if !self.calls.contains_key(id) => id.to_owned(),
                    _ => self.new_call_id(),
                };
                let call = RayoCall::new(key, invitation.call().clone());
                self.outputs.push_back(Output::Watch(call.handle.clone()));
                self.ids.insert(key, id.clone());
                self.calls.insert(id.clone(), call);
                id
            }
        };
        let offer = events::offer(invitation.info());
        let from = rayo::uri::call_jid(&id, &self.settings.domain);
        let stanza = events::presence(&self.cx(), &from, &client, &offer, Some(at));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.controller.is_some() {
            return; // taken meanwhile: the invitation is withdrawn
        }
        if !call.offered.contains(&client) {
            call.offered.push(client.clone());
        }
        call.invitations.push((client.clone(), invitation));
        self.outputs.push_back(Output::Send { to: client, stanza });
    }

    /// A lowercase id no call of ours has: 128 random bits in hex.
    fn new_call_id(&mut self) -> String {
        loop {
            let id = format!("{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..));
            if !self.calls.contains_key(&id) {
                return id;
            }
        }
    }

    /// A client's stanza for the adapter (`from` is its session's JID).
    /// IQ `get`/`set` are answered; everything else is dropped.
    pub fn stanza(&mut self, from: FullJid, stanza: Element) {
        if stanza.name() != "iq" {
            return;
        }
        let set = match stanza.get_attr("type") {
            Some("set") => true,
            Some("get") => false,
            _ => return,
        };
        // A stanza proves the session is back: its calls stay.
        self.grace.remove(&from);
        if let Err(error) = self.iq(&from, &stanza, set) {
            self.reply_error(&from, &stanza, &error);
        }
    }

    /// Handles one IQ; `Ok` when it was answered or will be.
    fn iq(&mut self, from: &FullJid, iq: &Element, set: bool) -> Result<(), CommandError> {
        let Some(payload) = iq.first_child() else {
            return Err(CommandError::bad_request("an IQ needs a payload"));
        };
        let to = iq.get_attr("to").unwrap_or(&self.settings.domain);
        let to = Jid::parse(to).map_err(|e| {
            CommandError::of(Condition::JidMalformed, format!("'to' is no JID: {e}"))
        })?;
        if !to.domain().eq_ignore_ascii_case(&self.settings.domain) {
            return Err(CommandError::of(
                Condition::ServiceUnavailable,
                format!("{} is not served here", to.domain()),
            ));
        }
        let Some(node) = to.node() else {
            if !set {
                return Err(not_understood(payload));
            }
            // Dial comes with the call registry; call commands sent to the
            // domain are item-not-found (the parser's answer).
            let dial = rayo::parse_domain_command(payload, &self.settings.domain)?;
            let request = commands::to_dial(dial)?;
            self.outputs.push_back(Output::Dial {
                client: from.clone(),
                iq: iq.clone(),
                request,
            });
            return Ok(());
        };
        let id = node.to_ascii_lowercase();
        if !self.calls.contains_key(&id) {
            let name = node.to_lowercase();
            if self.has_mixer(&name) {
                return self.mixer_iq(from, iq, &name, to.resource(), payload, set);
            }
            return Err(CommandError::item_not_found(format!("no call {node}")));
        }
        if !set {
            if payload.is("query", events::DISCO_INFO) {
                let query = events::disco_identity(rayo::caps::CALL_IDENTITY);
                self.send(from.clone(), iq_result(iq, Some(query)));
                return Ok(());
            }
            return Err(not_understood(payload));
        }
        if let Some(resource) = to.resource() {
            self.take_if_offered(from, &id)?;
            return self.component_iq(from, iq, &id, resource, payload);
        }
        let command = rayo::parse_call_command(payload, &self.settings.domain)?;
        self.call_command(from, iq, &id, command)
    }

    fn call_command(
        &mut self,
        from: &FullJid,
        iq: &Element,
        id: &str,
        command: CallCommand,
    ) -> Result<(), CommandError> {
        let name = command.name();
        self.take_if_offered(from, id)?;
        let call = self
            .calls
            .get_mut(id)
            .ok_or_else(|| CommandError::item_not_found("the call has ended"))?;
        let (command, component) = match command {
            CallCommand::Start(start) => {
                let urls = media::to_fetch(&start);
                if !urls.is_empty() {
                    self.outputs.push_back(Output::Fetch {
                        client: from.clone(),
                        iq: iq.clone(),
                        call: id.to_owned(),
                        component: start,
                        urls,
                    });
                    return Ok(());
                }
                let (command, kind) = media::to_component(&start)?;
                (command, Some(kind))
            }
            other => (commands::to_command(other, &call.joins)?, None),
        };
        // A join of a mixer is answered with the mixer's ref.
        let mixer = mixers::joins_mixer(&command);
        let request = components::send_request(call, from, iq, command, name, component)?;
        if let Some(pending) = call.pending.get_mut(&request) {
            pending.mixer = mixer;
        }
        Ok(())
    }

    /// Makes `from` the controller of call `id` if it is offered to it and
    /// nobody took it yet; `conflict` when another client controls it.
    fn take_if_offered(&mut self, from: &FullJid, id: &str) -> Result<(), CommandError> {
        let call = self
            .calls
            .get_mut(id)
            .ok_or_else(|| CommandError::item_not_found("the call has ended"))?;
        match &call.controller {
            Some(controller) if controller == from => {}
            Some(_) => {
                return Err(CommandError::of(
                    Condition::Conflict,
                    "another client controls this call",
                ))
            }
            None => {
                let invitation = call.invitation_of(from).ok_or_else(|| {
                    CommandError::of(Condition::Conflict, "the call is not offered to you")
                })?;
                invitation.take().map_err(|Withdrawn| {
                    CommandError::of(Condition::Conflict, "the offer was withdrawn")
                })?;
                tracing::info!(client = %from, call = call.key, "Rayo client controls the call");
                call.controller = Some(from.clone());
                // The others' invitations were withdrawn by the take.
                call.invitations.clear();
                // Digits flow to the controller as soon as media runs.
                if let Err(request) = call.subscribe_dtmf() {
                    self.outputs
                        .push_back(Output::Deliver(call.handle.clone(), request));
                }
            }
        }
        Ok(())
    }

    /// The documents and grammars of a component `client` starts with `iq`
    /// were fetched (`bodies`, by URL) or could not be (the text why): it
    /// starts now, or its IQ gets the error.
    pub fn fetched(
        &mut self,
        client: FullJid,
        iq: &Element,
        call: &str,
        component: Box<rayo::MediaComponent>,
        bodies: Result<Vec<(String, String)>, String>,
    ) {
        let result = bodies
            .map_err(CommandError::bad_request)
            .and_then(|bodies| {
                let component = media::with_fetched(*component, &bodies);
                if !self.calls.contains_key(call) {
                    // Not a call: a mixer, as the IQ was routed.
                    return self.start_on_mixer(&client, iq, call, &component);
                }
                let name = component.name();
                let (command, kind) = media::to_component(&component)?;
                let call = self
                    .calls
                    .get_mut(call)
                    .ok_or_else(|| CommandError::item_not_found("the call has ended"))?;
                components::send_request(call, &client, iq, command, name, Some(kind)).map(|_| ())
            });
        if let Err(error) = result {
            self.reply_error(&client, iq, &error);
        }
    }

    /// How the dial `iq` of `client` went: the new call's id and handle
    /// (the client controls it and gets the `<ref>` now, before any event
    /// of the call), or the error the IQ gets.
    pub fn dialed(
        &mut self,
        client: FullJid,
        iq: &Element,
        dialed: Result<(String, CallHandle), CommandError>,
    ) {
        let (id, handle) = match dialed {
            Ok(call) => call,
            Err(error) => return self.reply_error(&client, iq, &error),
        };
        let mut call = RayoCall::new(handle.key, handle.clone());
        call.controller = Some(client.clone());
        call.offered.push(client.clone());
        call.dialed = true;
        let subscribed = call.subscribe_dtmf();
        self.outputs.push_back(Output::Watch(handle.clone()));
        if let Err(request) = subscribed {
            self.outputs
                .push_back(Output::Deliver(handle.clone(), request));
        }
        let reference = rayo::ref_element(&self.cx(), &id, None);
        self.send(client, iq_result(iq, Some(reference)));
        self.ids.insert(handle.key, id.clone());
        self.calls.insert(id, call);
    }

    /// Something call `key` reported.
    pub fn call_event(&mut self, key: CallKey, event: Event) {
        let Some(id) = self.ids.get(&key).cloned() else {
            return; // ended already: nothing follows <end>
        };
        if self.component_event(&id, &event) {
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match event {
            Event::Done {
                id: request,
                result,
            } => {
                if let Some(i) = call.internal.iter().position(|r| *r == request) {
                    call.internal.swap_remove(i);
                    return;
                }
                let Some(pending) = call.pending.remove(&request) else {
                    return;
                };
                match result {
                    Ok(_) => {
                        let reference = pending
                            .mixer
                            .as_deref()
                            .map(|mixer| rayo::ref_element(&self.cx(), mixer, None));
                        self.send(pending.client, iq_result(&pending.request, reference));
                    }
                    Err(failure) => {
                        let error = commands::failure_error(pending.command, &failure);
                        self.reply_error(&pending.client, &pending.request, &error);
                    }
                }
            }
            Event::Ended {
                reason,
                code,
                headers,
            } => self.end(&id, &reason, code, headers),
            other => {
                let Some(controller) = call.controller.clone() else {
                    return;
                };
                match &other {
                    Event::Joined { target, .. } if !call.joins.contains(target) => {
                        call.joins.push(target.clone());
                    }
                    Event::Unjoined { target } => call.joins.retain(|t| t != target),
                    _ => {}
                }
                // The mixer's own presences follow the call's event.
                let news = mixers::news(&other);
                if let Some(event) = events::call_event(other, call.dialed) {
                    let from = rayo::uri::call_jid(&id, &self.settings.domain);
                    let stanza = events::presence(&self.cx(), &from, &controller, &event, None);
                    self.send(controller, stanza);
                }
                if let Some(news) = news {
                    self.mixer_news(&id, news);
                }
            }
        }
    }

    /// The call is over: open IQs are answered, then every client it was
    /// offered to gets the `<end>`, and the call is forgotten.
    fn end(
        &mut self,
        id: &str,
        reason: &call_control::EndReason,
        code: Option<u16>,
        headers: Vec<(String, String)>,
    ) {
        // A call in a mixer reports leaving it before its end; one that
        // vanished leaves it now.
        self.leave_mixers(id);
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        self.ids.remove(&call.key);
        self.vanished.retain(|(_, v)| v != id);
        for (_, pending) in call.pending {
            let error = CommandError::item_not_found("the call has ended");
            self.reply_error(&pending.client, &pending.request, &error);
        }
        let end = events::end_event(reason, code, headers);
        let from = rayo::uri::call_jid(id, &self.settings.domain);
        for client in call.offered {
            let stanza = events::presence(&self.cx(), &from, &client, &end, None);
            self.send(client, stanza);
        }
    }

    fn send(&mut self, to: FullJid, stanza: Element) {
        self.outputs.push_back(Output::Send { to, stanza });
    }

    /// The error answering `iq`: its addresses swapped, its payload echoed.
    fn reply_error(&mut self, to: &FullJid, iq: &Element, error: &CommandError) {
        let reply = error.reply_to(iq);
        tracing::debug!(client = %to, %error, "Rayo command refused");
        self.send(to.clone(), reply);
    }
}

/// The error for an IQ `get` nobody here answers (RFC 6120 §8.4).
fn not_understood(payload: &Element) -> CommandError {
    CommandError::of(
        Condition::ServiceUnavailable,
        format!(
            "<{} xmlns='{}'> is not served here",
            payload.name(),
            payload.ns()
        ),
    )
}
