//! The hub: which agents are connected to which endpoint, and each agent
//! endpoint's controller pool ([`AgentPool`]).
//!
//! The offer itself is the neutral driver's ([`crate::control`]): round-robin
//! over the endpoint's live connections, each at most once, with
//! `invite_timeout_sec` per agent. The pool only lists the live connections
//! and hands one an [`Invitation`], which its connection turns into an
//! `invite` frame and answers with the agent's answer; an answer arriving
//! after the driver moved on cannot leave a call half-taken (the connection
//! sends the agent a `bye` instead).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Message;
use tokio::sync::mpsc;

use crate::auth_ban::{AuthFailures, BanPolicy};
use crate::config::{Config, EndpointMatch};
use crate::control::{
    ControllerId, ControllerPool, Invitation, Offer, OfferPolicy, OfferTerms, Offered, Rotation,
    NO_CONTROLLER,
};
use crate::http::metrics::queues::QueueLoad;

/// Offers that may wait for one connection's loop to pick them up.
pub(super) const INVITATION_QUEUE: usize = 256;

/// Finds an agent for each new call routed to an `agent` endpoint, and
/// admits agent connections within the configured limits.
#[derive(Debug, Clone)]
pub struct AgentHub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    endpoints: Mutex<HashMap<String, EndpointAgents>>,
    /// Replaced whole on reload; a connection reads them once, at connect.
    settings: Mutex<Arc<HubSettings>>,
    next_connection: AtomicU64,
    /// Wrong or missing tokens per source address, and the bans they led to.
    token_failures: Mutex<AuthFailures>,
}

/// The `agent_rpc` settings connections need.
#[derive(Debug, Clone)]
pub(super) struct HubSettings {
    /// Most connections (live or upgrading) per endpoint.
    pub max_connections: u32,
    /// How long one agent has to answer an `invite`.
    pub invite_timeout: Duration,
    /// How long a taken call may stay unanswered.
    pub answer_timeout: Duration,
    /// How long a disconnected agent's calls live on.
    pub disconnect_grace: Duration,
    /// Shared secret agents must present, if any.
    pub token: Option<String>,
}

/// One agent endpoint's connections.
#[derive(Debug, Default)]
struct EndpointAgents {
    live: Vec<AgentLink>,
    /// Admitted connections still upgrading; they count toward the limit.
    upgrading: u32,
    /// Where the next offer starts in `live`.
    rotation: Rotation,
    /// What a caller hears when no agent takes the call; kept with the
    /// endpoint so a reload changes both at once.
    no_controller_code: u16,
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
struct AgentLink {
    connection: u64,
    invitations: mpsc::Sender<Invitation>,
    /// The connection's writer queue, for metrics once its loop runs; weak,
    /// so the queue still closes with the connection.
    frames: Option<mpsc::WeakSender<Message>>,
}

/// Why a connection is not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No agent endpoint by that name.
    UnknownEndpoint,
    /// The endpoint already has its maximum of connections.
    Full,
}

impl AgentHub {
    /// A hub for the config's agent endpoints, with no agent connected yet.
    pub fn new(config: &Config) -> AgentHub {
        let endpoints = agent_endpoints(config)
            .map(|(name, no_controller_code)| {
                let agents = EndpointAgents {
                    no_controller_code,
                    ..EndpointAgents::default()
                };
                (name, agents)
            })
            .collect();
        AgentHub {
            inner: Arc::new(HubInner {
                endpoints: Mutex::new(endpoints),
                settings: Mutex::new(Arc::new(HubSettings::from_config(config))),
                next_connection: AtomicU64::new(1),
                token_failures: Mutex::new(AuthFailures::new(BanPolicy::from_config(&config.sip))),
            }),
        }
    }

    /// Takes a reloaded config: its agent endpoints, limits, timeouts and
    /// token hold for connections and offers from now on. Connected agents
    /// stay; those of an endpoint that is gone get no new calls.
    pub fn reconfigure(&self, config: &Config) {
        {
            let mut endpoints = self.endpoints();
            endpoints.retain(|name, _| {
                config
                    .endpoints
                    .get(name)
                    .is_some_and(|e| e.matcher == EndpointMatch::Agent)
            });
            for (name, code) in agent_endpoints(config) {
                endpoints.entry(name).or_default().no_controller_code = code;
            }
        }
        *lock(&self.inner.settings) = Arc::new(HubSettings::from_config(config));
    }

    /// Offers a call to the endpoint's agents through the neutral offer
    /// driver (as the call side does through its pool); resolves when one
    /// takes it or none will. Dropping the future withdraws the offer.
    pub fn offer(&self, offer: Offer) -> impl Future<Output = Offered> + Send + 'static {
        let pool = self.pool(&offer.endpoint);
        let code = self
            .endpoints()
            .get(&offer.endpoint)
            .map_or(NO_CONTROLLER, |agents| agents.no_controller_code);
        async move { crate::control::run_offer(&pool, &offer, code).await }
    }

    /// The controller pool of the agent endpoint `endpoint`.
    pub fn pool(&self, endpoint: &str) -> AgentPool {
        AgentPool {
            hub: self.clone(),
            endpoint: endpoint.to_owned(),
        }
    }

    /// Agent connections live now (every endpoint) and the invitations
    /// queued to them but not yet taken by their connection task, for metrics.
    pub fn connections(&self) -> (usize, usize) {
        let endpoints = self.endpoints();
        let live = endpoints.values().flat_map(|agents| &agents.live);
        live.fold((0, 0), |(open, queued), link| {
            let waiting = link.invitations.max_capacity() - link.invitations.capacity();
            (open + 1, queued + waiting)
        })
    }

    /// For metrics: the live connections' writer queues (frames waiting for
    /// the agents' sockets), summed, with the fullest.
    pub fn queue_loads(&self) -> QueueLoad {
        let mut load = QueueLoad::default();
        let endpoints = self.endpoints();
        let live = endpoints.values().flat_map(|agents| &agents.live);
        for frames in live.filter_map(|link| link.frames.as_ref()?.upgrade()) {
            load.add(&frames);
        }
        load
    }

    /// The settings in force now (a reload replaces them).
    pub(super) fn settings(&self) -> Arc<HubSettings> {
        lock(&self.inner.settings).clone()
    }

    /// Reserves room for a connection to `endpoint`; the room is freed when
    /// the returned slot (or the registration it becomes) is dropped.
    pub(super) fn admit(&self, endpoint: &str) -> Result<Slot, Refusal> {
        let mut endpoints = self.endpoints();
        let agents = endpoints
            .get_mut(endpoint)
            .ok_or(Refusal::UnknownEndpoint)?;
        let open = agents.live.len() as u64 + u64::from(agents.upgrading);
        if open >= u64::from(self.settings().max_connections) {
            return Err(Refusal::Full);
        }
        agents.upgrading += 1;
        Ok(Slot {
            hub: self.clone(),
            endpoint: endpoint.to_owned(),
            connection: self.inner.next_connection.fetch_add(1, Ordering::Relaxed),
            registered: false,
        })
    }

    /// Failed token checks per source; locked only while a connection
    /// that must present a token is checked.
    pub(super) fn token_failures(&self) -> MutexGuard<'_, AuthFailures> {
        // Every update leaves the tracker consistent; a poisoned one is usable.
        self.inner
            .token_failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn endpoints(&self) -> MutexGuard<'_, HashMap<String, EndpointAgents>> {
        // The lock is only held for bookkeeping that cannot panic; a poisoned
        // map is still consistent.
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next live connection of `endpoint`, round-robin, skipping `tried`.
    fn next_agent(&self, endpoint: &str, tried: &[u64]) -> Option<AgentLink> {
        let mut endpoints = self.endpoints();
        let agents = endpoints.get_mut(endpoint)?;
        let index = agents
            .rotation
            .next(&agents.live, |link| tried.contains(&link.connection))?;
        Some(agents.live[index].clone())
    }
}

impl HubSettings {
    fn from_config(config: &Config) -> HubSettings {
        let agent_rpc = &config.agent_rpc;
        HubSettings {
            max_connections: agent_rpc.max_connections_per_endpoint,
            invite_timeout: Duration::from_secs(agent_rpc.invite_timeout_sec),
            answer_timeout: Duration::from_secs(agent_rpc.answer_timeout_sec),
            disconnect_grace: Duration::from_secs(agent_rpc.disconnect_grace_sec),
            token: agent_rpc.token.clone(),
        }
    }
}

/// The agent endpoints of `config` with their `no_controller_code`.
fn agent_endpoints(config: &Config) -> impl Iterator<Item = (String, u16)> + '_ {
    config
        .endpoints
        .values()
        .filter(|endpoint| endpoint.matcher == EndpointMatch::Agent)
        .map(|endpoint| (endpoint.name.clone(), endpoint.no_controller_code))
}

/// Locks plain bookkeeping; nothing panics while holding it, so a poisoned
/// lock still guards consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One agent endpoint's connections as a controller pool: round-robin with
/// fail-over, `invite_timeout_sec` per agent.
#[derive(Debug, Clone)]
pub struct AgentPool {
    hub: AgentHub,
    endpoint: String,
}

impl ControllerPool for AgentPool {
    fn terms(&self) -> OfferTerms {
        let settings = self.hub.settings();
        OfferTerms {
            policy: OfferPolicy::RoundRobin,
            offer_timeout: Some(settings.invite_timeout),
            answer_timeout: settings.answer_timeout,
        }
    }

    fn candidates(&self) -> Vec<ControllerId> {
        let endpoints = self.hub.endpoints();
        endpoints
            .get(&self.endpoint)
            .map_or_else(Vec::new, |agents| {
                agents
                    .live
                    .iter()
                    .map(|link| ControllerId(link.connection))
                    .collect()
            })
    }

    fn rotate(&self, tried: &[ControllerId]) -> Option<ControllerId> {
        let tried: Vec<u64> = tried.iter().map(|id| id.0).collect();
        self.hub
            .next_agent(&self.endpoint, &tried)
            .map(|link| ControllerId(link.connection))
    }

    fn invite(&self, controller: ControllerId, invitation: Invitation) -> Result<(), Invitation> {
        let link = {
            let endpoints = self.hub.endpoints();
            endpoints.get(&self.endpoint).and_then(|agents| {
                agents
                    .live
                    .iter()
                    .find(|link| link.connection == controller.0)
                    .cloned()
            })
        };
        let Some(link) = link else {
            return Err(invitation);
        };
        link.invitations
            .try_send(invitation)
            .map_err(|error| error.into_inner())
    }
}

/// Room for one admitted connection while it upgrades.
#[derive(Debug)]
pub(super) struct Slot {
    hub: AgentHub,
    endpoint: String,
    connection: u64,
    registered: bool,
}

impl Slot {
    /// The connection's number, for logs.
    pub(super) fn connection(&self) -> u64 {
        self.connection
    }

    /// The connection is up: offers may reach it through `invitations`
    /// until the registration is dropped.
    pub(super) fn register(mut self, invitations: mpsc::Sender<Invitation>) -> Registration {
        let mut endpoints = self.hub.endpoints();
        if let Some(agents) = endpoints.get_mut(&self.endpoint) {
            agents.upgrading = agents.upgrading.saturating_sub(1);
            agents.live.push(AgentLink {
                connection: self.connection,
                invitations,
                frames: None,
            });
        }
        drop(endpoints);
        self.registered = true;
        Registration {
            hub: self.hub.clone(),
            endpoint: std::mem::take(&mut self.endpoint),
            connection: self.connection,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.registered {
            return;
        }
        if let Some(agents) = self.hub.endpoints().get_mut(&self.endpoint) {
            agents.upgrading = agents.upgrading.saturating_sub(1);
        }
    }
}

/// A live connection's place in the hub; dropping it stops new offers.
#[derive(Debug)]
pub(super) struct Registration {
    hub: AgentHub,
    endpoint: String,
    connection: u64,
}

impl Registration {
    /// The connection's loop writes through `frames`: their depth counts
    /// in [`AgentHub::queue_loads`] while the connection is registered.
    pub(super) fn writes_through(&self, frames: &mpsc::Sender<Message>) {
        let mut endpoints = self.hub.endpoints();
        let link = endpoints.get_mut(&self.endpoint).and_then(|agents| {
            let mut live = agents.live.iter_mut();
            live.find(|link| link.connection == self.connection)
        });
        if let Some(link) = link {
            link.frames = Some(frames.downgrade());
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(agents) = self.hub.endpoints().get_mut(&self.endpoint) {
            if let Some(index) = agents
                .live
                .iter()
                .position(|link| link.connection == self.connection)
            {
                agents.live.remove(index);
                agents.rotation.removed(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(max: u32) -> AgentHub {
        let yaml = format!(
            "endpoints:\n  bot:\n    match:\n      type: agent\n  old:\n    match:\n      type: flow\n  \
             voicebot:\n    uri: \"sip:voicebot@127.0.0.1:5080\"\n\
             agent_rpc:\n  max_connections_per_endpoint: {max}\n"
        );
        let config = Config::from_yaml(&yaml, "t.yaml").expect("valid config");
        AgentHub::new(&config)
    }

    #[test]
    fn only_agent_endpoints_admit() {
        let hub = hub(2);
        assert!(hub.admit("bot").is_ok());
        assert!(hub.admit("old").is_ok(), "flow is an alias of agent");
        assert_eq!(hub.admit("voicebot").err(), Some(Refusal::UnknownEndpoint));
        assert_eq!(hub.admit("nobody").err(), Some(Refusal::UnknownEndpoint));
    }

    #[test]
    fn limit_counts_upgrading_and_live_connections() {
        let hub = hub(2);
        let first = hub.admit("bot").expect("room");
        let (tx, _rx) = mpsc::channel(1);
        let live = first.register(tx);
        let upgrading = hub.admit("bot").expect("room");
        assert_eq!(hub.admit("bot").err(), Some(Refusal::Full));
        drop(upgrading);
        let again = hub.admit("bot").expect("room after an upgrade failed");
        drop(live);
        drop(again);
        assert!(hub.admit("bot").is_ok());
    }

    #[tokio::test]
    async fn with_no_agent_connected_the_caller_hears_the_endpoint_code() {
        let yaml = "endpoints:\n  bot: { match: { type: agent }, no_controller_code: 503 }\n";
        let hub = AgentHub::new(&Config::from_yaml(yaml, "t.yaml").expect("valid config"));
        let (commands, _) = mpsc::channel(1);
        let offered = hub
            .offer(Offer {
                endpoint: "bot".into(),
                info: Default::default(),
                call: crate::control::CallHandle { key: 1, commands },
            })
            .await;
        assert!(
            matches!(
                offered,
                Offered::Declined {
                    code: 503,
                    reason: None
                }
            ),
            "{offered:?}"
        );
    }

    #[test]
    fn reconfigure_changes_endpoints_and_token_for_new_connections() {
        let hub = hub(2);
        let (tx, _rx) = mpsc::channel(1);
        let live = hub.admit("bot").expect("room").register(tx);
        assert_eq!(hub.settings().token, None);
        let yaml = "endpoints:\n  bot2: { match: { type: agent }, no_controller_code: 503 }\n\
                    agent_rpc: { token: s3cret-token, max_connections_per_endpoint: 1 }\n";
        hub.reconfigure(&Config::from_yaml(yaml, "t.yaml").expect("valid config"));
        assert_eq!(hub.settings().token.as_deref(), Some("s3cret-token"));
        assert_eq!(hub.admit("bot").err(), Some(Refusal::UnknownEndpoint));
        let _slot = hub.admit("bot2").expect("new endpoint admits");
        assert_eq!(hub.admit("bot2").err(), Some(Refusal::Full), "new limit");
        let code = hub.endpoints().get("bot2").map(|a| a.no_controller_code);
        assert_eq!(code, Some(503));
        // A connection of an endpoint that is gone closes quietly.
        drop(live);
    }

    #[test]
    fn writer_queues_add_up_while_their_connections_are_registered() {
        let hub = hub(4);
        let (invitations, _invited) = mpsc::channel(1);
        let a = hub
            .admit("bot")
            .expect("room")
            .register(invitations.clone());
        let b = hub.admit("bot").expect("room").register(invitations);
        let (frames_a, _queued_a) = mpsc::channel(4);
        let (frames_b, _queued_b) = mpsc::channel(8);
        a.writes_through(&frames_a);
        b.writes_through(&frames_b);
        let ping = || Message::Ping(Default::default());
        frames_a.try_send(ping()).expect("room");
        frames_b.try_send(ping()).expect("room");
        frames_b.try_send(ping()).expect("room");
        let load = QueueLoad {
            queued: 3,
            fullest: 2,
            capacity: 12,
        };
        assert_eq!(hub.queue_loads(), load);
        drop(a);
        assert_eq!(hub.queue_loads().capacity, 8);
        drop(frames_b);
        assert_eq!(hub.queue_loads(), QueueLoad::default(), "a closed queue");
    }

    #[test]
    fn round_robin_skips_tried_and_survives_removal() {
        let hub = hub(4);
        let mut registrations = Vec::new();
        let mut receivers = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let slot = hub.admit("bot").expect("room");
            ids.push(slot.connection());
            let (tx, rx) = mpsc::channel(1);
            receivers.push(rx);
            registrations.push(slot.register(tx));
        }
        let next = |tried: &[u64]| hub.next_agent("bot", tried).map(|a| a.connection);
        assert_eq!(next(&[]), Some(ids[0]));
        assert_eq!(next(&[]), Some(ids[1]));
        assert_eq!(next(&[ids[2]]), Some(ids[0]));
        assert_eq!(next(&ids), None);
        registrations.remove(0);
        assert_eq!(next(&[]), Some(ids[1]));
        assert_eq!(next(&[]), Some(ids[2]));
        assert_eq!(next(&[]), Some(ids[1]));
    }
}
