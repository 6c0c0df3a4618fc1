//! The Agent RPC adapter: agents connect over WebSocket and steer calls.
//!
//! (Interface stub: the hub that offers calls to connected agents.)

use std::future::Future;

use crate::config::Config;
use crate::control::{Offer, Offered};

/// Finds an agent for each new call routed to an `agent` endpoint.
#[derive(Debug, Clone, Default)]
pub struct AgentHub {}

impl AgentHub {
    /// A hub for the config's agent endpoints, with no agent connected yet.
    pub fn new(_config: &Config) -> AgentHub {
        AgentHub {}
    }

    /// Offers a call to the endpoint's agents; resolves when one takes it
    /// or none will. Dropping the future withdraws the offer.
    pub fn offer(&self, _offer: Offer) -> impl Future<Output = Offered> + Send + 'static {
        async move {
            Offered::Declined {
                code: 480,
                reason: None,
            }
        }
    }
}

/// Serves agents on `listener` until `shutdown` resolves (stub: accepts nobody).
pub async fn serve(
    _listener: tokio::net::TcpListener,
    _hub: AgentHub,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    shutdown.await;
}
