//! The Rayo adapter's tokio side: one task that feeds the sans-IO
//! [`RayoAdapter`] from the hub (stanzas, availability, closed streams),
//! from the endpoints' pools (invitations) and from the calls (events),
//! and carries out what it asks (stanzas through the hub, which never
//! waits on a client; calls watched; a hangup delivered with a wait).
//! The mixers' component events come through one more queue, subscribed
//! when the calls' context is attached; component requests go to the
//! mixers by name.
//!
//! Every Rayo call reports to this one task through one queue, so one
//! client's stanzas leave in the order the adapter wrote them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use call_control::{CallInfo, Event, SlotPolicy};
use tokio::sync::mpsc;
use xmpp::FullJid;

use super::adapter::{dial_error, AdapterSettings, Invited, Output, RayoAdapter};
use super::hub::{HubEvent, RayoHub};
use super::pool::{Availability, ClientIds, RayoPool, INVITATION_QUEUE};
use crate::calls::mixers::MixerNews;
use crate::calls::{CallContext, CallKey};
use crate::config::{
    Config, EndpointMatch, OfferPolicy as ConfiguredPolicy, RayoConfig, RayoDialect,
};
use crate::control::{
    CallHandle, EventSink, Invitation, OfferPolicy, Withdrawn, CONTROLLER_EVENT_QUEUE,
};
use crate::http::metrics::commands::{self, PendingCommands};

/// How long a request the call's full queue refused may wait for room
/// (the adapter's own hangup after the grace period).
const DELIVER_WAIT: Duration = Duration::from_secs(10);

/// The mixers' component events waiting for the adapter (a mixer waits a
/// little for room, then drops the event).
const MIXER_NEWS_QUEUE: usize = CONTROLLER_EVENT_QUEUE;

/// Each Rayo endpoint of `config` with its `match.users`.
fn endpoint_users(config: &Config) -> HashMap<String, Option<Vec<String>>> {
    config
        .endpoints
        .values()
        .filter(|e| e.matcher == EndpointMatch::Rayo)
        .map(|e| (e.name.clone(), e.rayo_users.clone()))
        .collect()
}

/// The calls' context, once the server attached it; a reload replaces it.
#[derive(Debug, Clone, Default)]
struct Attached(Arc<RwLock<Option<Arc<CallContext>>>>);

impl Attached {
    fn get(&self) -> Option<Arc<CallContext>> {
        // Only ever replaced whole; a poisoned lock still holds a context.
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, context: Arc<CallContext>) {
        *self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(context);
    }
}

/// What the server needs to give Rayo endpoints their pools.
#[derive(Debug, Clone)]
pub struct RayoPools {
    hub: RayoHub,
    /// Each Rayo endpoint's `match.users`.
    users: HashMap<String, Option<Vec<String>>>,
    ids: ClientIds,
    policy: OfferPolicy,
    offer_timeout: Duration,
    invitations: mpsc::Sender<(FullJid, Invitation)>,
    context: Attached,
    /// Where the mixers report their components' events.
    mixer_news: mpsc::Sender<MixerNews>,
}

impl RayoPools {
    /// Gives the adapter the calls' shared context once the server has
    /// made it (the pools come first): dials, call ids and mixers need
    /// it. The mixers' component events are subscribed here, once.
    /// A reload attaches the new context: dials from then on use it.
    pub fn attach(&self, context: Arc<CallContext>) {
        if self.context.get().is_none() {
            context.mixers.subscribe(self.mixer_news.clone());
        }
        self.context.set(context);
    }

    /// Takes a reloaded `rayo.users` for logins from now on.
    pub fn set_users(&self, config: &RayoConfig) {
        self.hub.set_users(config);
    }

    /// The same pools for a reloaded config's Rayo endpoints (their
    /// `match.users`); the adapter and its queues stay.
    pub fn reconfigured(&self, config: &Config) -> RayoPools {
        RayoPools {
            users: endpoint_users(config),
            ..self.clone()
        }
    }

    /// The controller pool of the Rayo endpoint `endpoint`.
    pub fn pool(&self, endpoint: &str) -> RayoPool {
        let hub = self.hub.clone();
        let available: Availability = Arc::new(move |users| hub.available(users));
        RayoPool::new(
            endpoint,
            self.users.get(endpoint).cloned().flatten(),
            self.policy,
            self.offer_timeout,
            available,
            self.ids.clone(),
            self.invitations.clone(),
        )
    }
}

/// Starts the adapter on `hub`'s events (in place of
/// [`super::refuse_all`]); returns what Rayo endpoints' pools are made of.
pub fn start(
    server: &Config,
    config: &RayoConfig,
    hub: RayoHub,
    events: mpsc::Receiver<HubEvent>,
) -> RayoPools {
    let (invitations_tx, invitations) = mpsc::channel(INVITATION_QUEUE);
    let (call_events_tx, call_events) = mpsc::channel(CONTROLLER_EVENT_QUEUE);
    let context: Attached = Attached::default();
    let settings = AdapterSettings {
        domain: config.domain.clone(),
        dialect: match config.dialect {
            RayoDialect::Xep => rayo::Dialect::Xep,
            RayoDialect::Wiki => rayo::Dialect::Wiki,
        },
        legacy_ids: true,
        // Signed, expiring HTTP URLs, from the calls' context once attached
        // (recordings only end on calls and mixers, which come after it).
        recording_uri: {
            let context = context.clone();
            super::adapter::RecordingUri(Arc::new(move |file: &str| match context.get() {
                Some(context) => context.recording_urls.url(file),
                None => file.to_owned(),
            }))
        },
    };
    let ids = ClientIds::default();
    let (gone_tx, gone) = mpsc::unbounded_channel();
    let (fetched_tx, fetched) = mpsc::channel(FETCHED_QUEUE);
    let (mixer_news_tx, mixer_news) = mpsc::channel(MIXER_NEWS_QUEUE);
    let service = Service {
        fetched_tx,
        timing: PendingCommands::default(),
        context: context.clone(),
        dial_route: config.dial_route.clone(),
        adapter: RayoAdapter::new(settings, fastrand::u64(..)),
        hub: hub.clone(),
        ids: ids.clone(),
        call_events_tx,
        gone_tx,
    };
    let queues = Queues {
        events,
        invitations,
        call_events,
        gone,
        fetched,
        mixer_news,
    };
    tokio::spawn(service.run(queues));
    RayoPools {
        hub,
        users: endpoint_users(server),
        ids,
        policy: match config.offer_policy {
            ConfiguredPolicy::All => OfferPolicy::All,
            ConfiguredPolicy::First => OfferPolicy::First,
            ConfiguredPolicy::Random => OfferPolicy::Random,
        },
        offer_timeout: Duration::from_millis(config.offer_timeout_ms),
        invitations: invitations_tx,
        context,
        mixer_news: mixer_news_tx,
    }
}

/// Everything the service task reads from.
struct Queues {
    events: mpsc::Receiver<HubEvent>,
    invitations: mpsc::Receiver<(FullJid, Invitation)>,
    call_events: mpsc::Receiver<(CallKey, Event)>,
    gone: mpsc::UnboundedReceiver<CallKey>,
    fetched: mpsc::Receiver<Fetched>,
    mixer_news: mpsc::Receiver<MixerNews>,
}

/// An invitation as the adapter takes it: the call's events then come to
/// the adapter's one queue, and the call refuses a second component in a
/// busy slot (`conflict`), as Rayo wants.
#[derive(Debug)]
struct Ticket {
    invitation: Invitation,
    events: mpsc::Sender<(CallKey, Event)>,
    /// The call's id in the call registry.
    id: Option<Arc<str>>,
}

impl Invited for Ticket {
    fn call(&self) -> &CallHandle {
        &self.invitation.call
    }

    fn info(&self) -> &CallInfo {
        &self.invitation.info
    }

    fn call_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    fn take(self) -> Result<(), Withdrawn> {
        let sink = EventSink::new(self.invitation.call.key, self.events)
            .with_slot_policy(SlotPolicy::Refuse)
            .with_early_media(true);
        self.invitation.take(sink).map(drop)
    }
}

struct Service {
    adapter: RayoAdapter<Ticket>,
    /// The calls' context, once the server attached it.
    context: Attached,
    /// `rayo.dial_route`.
    dial_route: String,
    hub: RayoHub,
    ids: ClientIds,
    call_events_tx: mpsc::Sender<(CallKey, Event)>,
    /// Where watched calls report their command queue closed.
    gone_tx: mpsc::UnboundedSender<CallKey>,
    /// Where fetches of components' documents and grammars report.
    fetched_tx: mpsc::Sender<Fetched>,
    /// Clients' command IQs awaiting their result or error, for latency metrics.
    timing: PendingCommands,
}

/// Fetched documents and grammars waiting for the adapter; a fetch task
/// waits for room.
const FETCHED_QUEUE: usize = 256;

/// A component's documents and grammars, fetched (or why not).
struct Fetched {
    client: FullJid,
    iq: xmpp::Element,
    call: String,
    component: Box<rayo::MediaComponent>,
    bodies: Result<Vec<(String, String)>, String>,
}

/// The id and payload name of a client's IQ get or set (a command).
fn command_iq(stanza: &xmpp::Element) -> Option<(&str, &str)> {
    if stanza.name() != "iq" || !matches!(stanza.get_attr("type"), Some("set" | "get")) {
        return None;
    }
    Some((stanza.get_attr("id")?, stanza.first_child()?.name()))
}

/// The id of an IQ result or error: the final answer to a command.
fn iq_answer(stanza: &xmpp::Element) -> Option<&str> {
    if stanza.name() != "iq" || !matches!(stanza.get_attr("type"), Some("result" | "error")) {
        return None;
    }
    stanza.get_attr("id")
}

/// `now` as the adapter takes it (tokio's clock, so paused tests agree).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl Service {
    async fn run(mut self, queues: Queues) {
        let Queues {
            mut events,
            mut invitations,
            mut call_events,
            mut gone,
            mut fetched,
            mut mixer_news,
        } = queues;
        loop {
            let deadline = self
                .adapter
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_hub(event),
                    None => break, // the listener is gone: shutting down
                },
                Some((client, invitation)) = invitations.recv() => {
                    // Call events already queued go first: a call handed
                    // back to Rayo queued its previous client's `Ended`
                    // before this invitation was made.
                    while let Ok((call, event)) = call_events.try_recv() {
                        self.adapter.call_event(call, event);
                    }
                    self.on_invitation(client, invitation);
                }
                Some((call, event)) = call_events.recv() => self.adapter.call_event(call, event),
                Some(call) = gone.recv() => self.adapter.call_gone(now(), call),
                Some(news) = mixer_news.recv() => self.adapter.mixer_event(&news.mixer, news.event),
                Some(f) = fetched.recv() => {
                    self.adapter.fetched(f.client, &f.iq, &f.call, f.component, f.bodies);
                }
                () = sleep_until(deadline) => self.adapter.handle_timeout(now()),
            }
            self.carry_out().await;
        }
    }

    fn on_hub(&mut self, event: HubEvent) {
        match event {
            HubEvent::Stanza { from, stanza } => {
                if let Some((id, command)) = command_iq(&stanza) {
                    let slot = commands::RAYO.slot(command);
                    self.timing.start(format!("{from} {id}"), slot, now());
                }
                self.adapter.stanza(from, stanza)
            }
            HubEvent::Availability { jid, available } => {
                if !available {
                    self.ids.forget(&jid);
                }
                self.adapter.availability(&jid, available);
            }
            HubEvent::Closed { jid } => {
                self.ids.forget(&jid);
                self.adapter.closed(now(), &jid);
            }
        }
    }

    fn on_invitation(&mut self, client: FullJid, invitation: Invitation) {
        // The pool read availability before the hub's latest news reached
        // us: a client gone meanwhile is passed over (the offer moves on).
        if invitation.is_withdrawn() || !self.hub.is_available(&client) {
            return;
        }
        let id = self
            .context
            .get()
            .and_then(|context| context.registry.id_of(invitation.call.key));
        let ticket = Ticket {
            invitation,
            events: self.call_events_tx.clone(),
            id,
        };
        self.adapter.invited(SystemTime::now(), client, ticket);
    }

    async fn carry_out(&mut self) {
        while let Some(output) = self.adapter.poll_output() {
            match output {
                Output::Send { to, stanza } => {
                    if let Some(id) = iq_answer(&stanza) {
                        let key = format!("{to} {id}");
                        self.timing.finish(&key, &commands::RAYO, now());
                    }
                    if let Err(error) = self.hub.send(&to, stanza) {
                        tracing::debug!(client = %to, %error, "Rayo stanza not delivered");
                    }
                }
                Output::Watch(call) => {
                    let gone = self.gone_tx.clone();
                    tokio::spawn(async move {
                        call.commands.closed().await;
                        let _ = gone.send(call.key);
                    });
                }
                Output::Dial {
                    client,
                    iq,
                    request,
                } => {
                    // Awaited here: the call's events queue behind the ref.
                    let dialed = match self.context.get() {
                        Some(context) => context
                            .dial(request, self.call_events_tx.clone(), &self.dial_route)
                            .await
                            .map(|call| (call.id.to_string(), call.handle))
                            .map_err(|e| dial_error(&e)),
                        None => Err(rayo::CommandError::of(
                            rayo::StanzaCondition::ServiceUnavailable,
                            "the server is starting",
                        )),
                    };
                    self.adapter.dialed(client, &iq, dialed);
                }
                Output::Fetch {
                    client,
                    iq,
                    call,
                    component,
                    urls,
                } => {
                    let Some(context) = self.context.get() else {
                        let bodies = Err("the server is starting".to_owned());
                        self.adapter.fetched(client, &iq, &call, component, bodies);
                        continue;
                    };
                    let done = self.fetched_tx.clone();
                    tokio::spawn(async move {
                        let mut bodies = Vec::new();
                        let mut failed = None;
                        for url in urls {
                            match context.prompts.load_text(&url).await {
                                Ok(body) => bodies.push((url, body)),
                                Err(failure) => {
                                    failed = Some(format!("cannot fetch {url}: {failure}"));
                                    break;
                                }
                            }
                        }
                        let bodies = failed.map_or(Ok(bodies), Err);
                        let fetched = Fetched {
                            client,
                            iq,
                            call,
                            component,
                            bodies,
                        };
                        let _ = done.send(fetched).await;
                    });
                }
                Output::MixerRequest { mixer, request } => {
                    let id = request.id;
                    let delivered = match self.context.get() {
                        Some(context) => context.mixers.request(&mixer, request),
                        None => Err(call_control::Failure::NotFound(mixer.clone())),
                    };
                    if let Err(failure) = delivered {
                        let result = Err(failure);
                        self.adapter.mixer_event(&mixer, Event::Done { id, result });
                    }
                }
                Output::Deliver(call, request) => {
                    tokio::spawn(async move {
                        let _ = call.commands.send_timeout(request, DELIVER_WAIT).await;
                    });
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
