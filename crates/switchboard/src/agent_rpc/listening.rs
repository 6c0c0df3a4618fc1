//! Where the Agent RPC server listens, and moving it there on reload (see
//! [`Generations`]): agents connected through the old listener stay
//! connected until they leave or the server shuts down.

use std::io;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{serve_until, AgentHub};
use crate::config::AgentRpcConfig;
use crate::transport::generations::Generations;

/// The Agent RPC listener in force and every server generation still running.
pub type AgentListening = Generations<TcpListener>;

/// Serves agents on `listener` until `shutdown` is raised.
pub fn start(
    listener: TcpListener,
    hub: AgentHub,
    limits: AgentRpcConfig,
    shutdown: watch::Receiver<bool>,
) -> io::Result<AgentListening> {
    Generations::start(
        "Agent RPC",
        listener,
        shutdown,
        crate::transport::bind_listener,
        move |listener, accepting, shutdown| {
            tokio::spawn(serve_until(
                listener,
                hub.clone(),
                limits.clone(),
                accepting,
                shutdown,
            ))
        },
    )
}
