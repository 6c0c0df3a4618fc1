//! Controller pools: the controllers one endpoint's calls may be offered to,
//! and the registry through which a call finds its endpoint's pool.
//!
//! A protocol adapter implements [`ControllerPool`] for its endpoints (the
//! Agent RPC hub does for `agent` endpoints) and registers it in
//! [`Controllers`] at start; the call side only knows the registry. A call
//! routed to a controller endpoint without a pool is declined with the
//! endpoint's "no controller" code (`no_controller_code`, default 480), as
//! one whose pool has nobody connected.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::offer::{self, ControllerId, Invitation, OfferTerms};
use super::{Offer, Offered};
use crate::config::{Config, EndpointMatch};

/// The SIP status a caller gets when no controller can take the call and
/// the endpoint names none of its own.
pub const NO_CONTROLLER: u16 = crate::config::DEFAULT_NO_CONTROLLER_CODE;

/// The controllers of one endpoint, as the offer driver needs them.
pub trait ControllerPool: Send + Sync + fmt::Debug {
    /// How offers to this pool run (policy, offer and answer timeouts).
    fn terms(&self) -> OfferTerms;

    /// The controllers available for a new call now, in a stable order
    /// (`First` asks them in this order, `All` asks them all).
    fn candidates(&self) -> Vec<ControllerId>;

    /// The next controller by round-robin, skipping `tried`; pools that
    /// offer round-robin keep a [`Rotation`]. The default asks in
    /// [`candidates`](Self::candidates) order.
    fn rotate(&self, tried: &[ControllerId]) -> Option<ControllerId> {
        self.candidates().into_iter().find(|c| !tried.contains(c))
    }

    /// Hands `invitation` to `controller`, which answers it later; gives it
    /// back when the controller cannot take one now (gone, queue full).
    fn invite(&self, controller: ControllerId, invitation: Invitation) -> Result<(), Invitation>;
}

/// The controller endpoints of `config`: their kind and "no controller" code.
fn controller_endpoints(config: &Config) -> HashMap<String, (ControllerKind, u16)> {
    config
        .endpoints
        .values()
        .filter_map(|e| {
            let kind = ControllerKind::of(&e.matcher)?;
            Some((e.name.clone(), (kind, e.no_controller_code)))
        })
        .collect()
}

/// Which protocol controls the calls of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControllerKind {
    /// Agents over Agent RPC (`match: { type: agent }`).
    Agent,
    /// Rayo clients over XMPP (`match: { type: rayo }`).
    Rayo,
}

impl ControllerKind {
    /// The kind of controller an endpoint matched this way takes calls from;
    /// `None` for SIP endpoints.
    pub fn of(matcher: &EndpointMatch) -> Option<ControllerKind> {
        match matcher {
            EndpointMatch::Agent => Some(ControllerKind::Agent),
            EndpointMatch::Rayo => Some(ControllerKind::Rayo),
            EndpointMatch::None | EndpointMatch::Ip(_) | EndpointMatch::User => None,
        }
    }
}

/// Every controller endpoint's pool, by endpoint name.
#[derive(Debug, Clone)]
pub struct Controllers {
    /// Controller endpoints: their kind and "no controller" code.
    endpoints: HashMap<String, (ControllerKind, u16)>,
    pools: HashMap<String, Arc<dyn ControllerPool>>,
    /// Every controlled call by id, shared with the calls: a pool shows its
    /// controllers an offered call's id with
    /// [`CallRegistry::id_of`](crate::calls::CallRegistry::id_of).
    registry: crate::calls::CallRegistry,
}

impl Controllers {
    /// The config's controller endpoints, with no pool registered yet.
    pub fn new(config: &Config) -> Controllers {
        Controllers {
            endpoints: controller_endpoints(config),
            pools: HashMap::new(),
            registry: crate::calls::CallRegistry::new(crate::media::ports::pairs_in(
                config.media.rtp_ports,
            ) as usize),
        }
    }

    /// The controller endpoints of a reloaded `config`, with no pool
    /// registered yet, sharing this server's call registry (calls in
    /// progress keep their ids).
    pub fn reconfigured(&self, config: &Config) -> Controllers {
        Controllers {
            endpoints: controller_endpoints(config),
            pools: HashMap::new(),
            registry: self.registry.clone(),
        }
    }

    /// The call registry every call of this server joins (at most one call
    /// per RTP port pair).
    pub fn registry(&self) -> &crate::calls::CallRegistry {
        &self.registry
    }

    /// Gives every endpoint of `kind` the pool `pool_for(endpoint)` makes.
    pub fn register(
        &mut self,
        kind: ControllerKind,
        pool_for: impl Fn(&str) -> Arc<dyn ControllerPool>,
    ) {
        for (name, _) in self.endpoints.iter().filter(|(_, (k, _))| *k == kind) {
            self.pools.insert(name.clone(), pool_for(name));
        }
    }

    /// Offers a call to its endpoint's pool; resolves when a controller
    /// takes it or none will. Dropping the future withdraws the offer.
    pub fn offer(&self, offer: Offer) -> impl Future<Output = Offered> + Send + 'static {
        let pool = self.pools.get(&offer.endpoint).cloned();
        let code = self
            .endpoints
            .get(&offer.endpoint)
            .map_or(NO_CONTROLLER, |(_, code)| *code);
        async move {
            match pool {
                Some(pool) => offer::run(pool.as_ref(), &offer, code).await,
                None => {
                    tracing::info!(endpoint = %offer.endpoint, "no controller serves the endpoint");
                    Offered::Declined { code, reason: None }
                }
            }
        }
    }
}

/// A round-robin cursor over a pool's live controllers, for
/// [`ControllerPool::rotate`]: the next offer starts after the controller
/// asked last, and a controller leaving does not skip its successor.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    /// Index in the live list of the next controller to ask.
    cursor: usize,
}

impl Rotation {
    /// The index in `live` of the next controller for which `tried` is
    /// false, moving the cursor past it.
    pub fn next<T>(&mut self, live: &[T], tried: impl Fn(&T) -> bool) -> Option<usize> {
        let count = live.len();
        let index = (0..count)
            .map(|step| (self.cursor + step) % count)
            .find(|&index| !tried(&live[index]))?;
        self.cursor = (index + 1) % count;
        Some(index)
    }

    /// The controller at `index` left the live list.
    pub fn removed(&mut self, index: usize) {
        if index < self.cursor {
            self.cursor -= 1;
        }
    }
}
