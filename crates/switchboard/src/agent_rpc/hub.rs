//! The hub: which agents are connected to which endpoint, and the search for
//! one that takes a new call.
//!
//! An offer goes to the endpoint's live connections round-robin, each at most
//! once. The connection owns the invite's timer and the agent's answer, so
//! the decision "taken" or "passed over" is made in one place and an answer
//! arriving after the hub moved on cannot leave a call half-taken (the
//! connection sends the agent a `bye` instead).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use call_control::CallInfo;
use tokio::sync::{mpsc, oneshot};

use crate::auth_ban::{AuthFailures, BanPolicy};
use crate::config::{Config, EndpointMatch};
use crate::control::{CallHandle, EventSink, Offer, Offered};

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
    settings: HubSettings,
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
    /// Index in `live` of the next agent to offer a call to.
    cursor: usize,
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
struct AgentLink {
    connection: u64,
    invitations: mpsc::Sender<Invitation>,
}

/// A call offered to one connection.
#[derive(Debug)]
pub(super) struct Invitation {
    /// What the agent is told.
    pub info: CallInfo,
    /// How the connection reaches the call if its agent takes it.
    pub call: CallHandle,
    /// Where the connection says how it went; dropped when the connection
    /// closes first.
    pub reply: oneshot::Sender<InviteOutcome>,
}

/// One agent's answer to an invitation.
#[derive(Debug)]
pub(super) enum InviteOutcome {
    /// 2xx: the call is the agent's.
    Taken(EventSink),
    /// 503: this agent is busy; try the next.
    Unavailable {
        /// The agent's code.
        code: u16,
        /// The agent's reason, if it gave one.
        reason: Option<String>,
    },
    /// No final answer within the invite timeout; try the next.
    NoAnswer,
    /// A final refusal the caller hears.
    Declined {
        /// SIP status for the caller.
        code: u16,
        /// The agent's reason, if it gave one.
        reason: Option<String>,
    },
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
        let endpoints = config
            .endpoints
            .values()
            .filter(|endpoint| endpoint.matcher == EndpointMatch::Agent)
            .map(|endpoint| (endpoint.name.clone(), EndpointAgents::default()))
            .collect();
        let agent_rpc = &config.agent_rpc;
        AgentHub {
            inner: Arc::new(HubInner {
                endpoints: Mutex::new(endpoints),
                settings: HubSettings {
                    max_connections: agent_rpc.max_connections_per_endpoint,
                    invite_timeout: Duration::from_secs(agent_rpc.invite_timeout_sec),
                    disconnect_grace: Duration::from_secs(agent_rpc.disconnect_grace_sec),
                    token: agent_rpc.token.clone(),
                },
                next_connection: AtomicU64::new(1),
                token_failures: Mutex::new(AuthFailures::new(BanPolicy::from_config(&config.sip))),
            }),
        }
    }

    /// Offers a call to the endpoint's agents; resolves when one takes it
    /// or none will. Dropping the future withdraws the offer.
    pub fn offer(&self, offer: Offer) -> impl Future<Output = Offered> + Send + 'static {
        let hub = self.clone();
        async move {
            let Offer {
                endpoint,
                info,
                call,
            } = offer;
            let offered = hub.find_agent(&endpoint, info, call).await;
            match &offered {
                Offered::Taken(_) => tracing::info!(%endpoint, "call taken by an agent"),
                Offered::Declined { code, reason } => {
                    tracing::info!(%endpoint, code, ?reason, "call declined")
                }
            }
            offered
        }
    }

    pub(super) fn settings(&self) -> &HubSettings {
        &self.inner.settings
    }

    /// Reserves room for a connection to `endpoint`; the room is freed when
    /// the returned slot (or the registration it becomes) is dropped.
    pub(super) fn admit(&self, endpoint: &str) -> Result<Slot, Refusal> {
        let mut endpoints = self.endpoints();
        let agents = endpoints
            .get_mut(endpoint)
            .ok_or(Refusal::UnknownEndpoint)?;
        let open = agents.live.len() as u64 + u64::from(agents.upgrading);
        if open >= u64::from(self.inner.settings.max_connections) {
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
        let count = agents.live.len();
        (0..count)
            .map(|step| (agents.cursor + step) % count)
            .find(|&index| !tried.contains(&agents.live[index].connection))
            .map(|index| {
                agents.cursor = (index + 1) % count;
                agents.live[index].clone()
            })
    }

    async fn find_agent(&self, endpoint: &str, info: CallInfo, call: CallHandle) -> Offered {
        let mut tried = Vec::new();
        // What the caller hears if nobody takes the call: the last agent's
        // 503, or 480 when it did not answer or went away.
        let mut last = (480, None);
        while let Some(agent) = self.next_agent(endpoint, &tried) {
            tried.push(agent.connection);
            let (reply, outcome) = oneshot::channel();
            let invitation = Invitation {
                info: info.clone(),
                call: call.clone(),
                reply,
            };
            if agent.invitations.try_send(invitation).is_err() {
                tracing::debug!(
                    endpoint,
                    connection = agent.connection,
                    "agent busy or closing; next"
                );
                last = (480, None);
                continue;
            }
            match outcome.await {
                Ok(InviteOutcome::Taken(sink)) => return Offered::Taken(sink),
                Ok(InviteOutcome::Declined { code, reason }) => {
                    return Offered::Declined { code, reason }
                }
                Ok(InviteOutcome::Unavailable { code, reason }) => last = (code, reason),
                Ok(InviteOutcome::NoAnswer) | Err(_) => last = (480, None),
            }
        }
        if tried.is_empty() {
            tracing::debug!(endpoint, "no agent connected");
        }
        Offered::Declined {
            code: last.0,
            reason: last.1,
        }
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

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(agents) = self.hub.endpoints().get_mut(&self.endpoint) {
            if let Some(index) = agents
                .live
                .iter()
                .position(|link| link.connection == self.connection)
            {
                agents.live.remove(index);
                if index < agents.cursor {
                    agents.cursor -= 1;
                }
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
