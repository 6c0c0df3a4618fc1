//! Where the Agent RPC server listens, and moving it there on reload (see
//! [`Generations`]): agents connected through the old listener stay
//! connected until they leave or the server shuts down.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{serve_until, AgentHub};
use crate::config::AgentRpcConfig;
use crate::transport::generations::Generations;

/// The Agent RPC listener in force and every server generation still running.
#[derive(Debug)]
pub struct AgentListening(Generations<TcpListener>);

impl AgentListening {
    /// Serves agents on `listener` until `shutdown` is raised.
    pub fn start(
        listener: TcpListener,
        hub: AgentHub,
        limits: AgentRpcConfig,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<AgentListening> {
        let address = listener.local_addr()?;
        Ok(AgentListening(Generations::start(
            "Agent RPC",
            listener,
            address,
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
        )))
    }

    /// Listens on `address` instead; when it cannot be bound, the current
    /// listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<()> {
        self.0.move_to(address, TcpListener::local_addr)
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        self.0.take_servers()
    }
}
