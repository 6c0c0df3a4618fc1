//! Where the Agent RPC server listens, and moving it there on reload: a new
//! listener is bound and served, the old one stops accepting, and the
//! agents connected through it stay connected until they leave or the
//! server shuts down.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::{serve_until, AgentHub};
use crate::config::AgentRpcConfig;

/// The Agent RPC listener in force and every server generation still
/// running (older ones serve the agents they took until those leave).
#[derive(Debug)]
pub struct AgentListening {
    hub: AgentHub,
    limits: AgentRpcConfig,
    shutdown: watch::Receiver<bool>,
    address: SocketAddr,
    /// Ends the current generation's accepting.
    accepting: Option<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl AgentListening {
    /// Serves agents on `listener` until `shutdown` is raised.
    pub fn start(
        listener: TcpListener,
        hub: AgentHub,
        limits: AgentRpcConfig,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<AgentListening> {
        let mut listening = AgentListening {
            address: listener.local_addr()?,
            hub,
            limits,
            shutdown,
            accepting: None,
            servers: Vec::new(),
        };
        listening.serve(listener);
        Ok(listening)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (accepting, closed) = oneshot::channel::<()>();
        let mut shutdown = self.shutdown.clone();
        self.servers.push(tokio::spawn(serve_until(
            listener,
            self.hub.clone(),
            self.limits.clone(),
            async move {
                let _ = closed.await;
            },
            async move {
                let _ = shutdown.wait_for(|down| *down).await.is_ok();
            },
        )));
        self.accepting = Some(accepting);
        self.servers.retain(|server| !server.is_finished());
    }

    /// The address listened on now.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Listens on `address` instead (nothing to do if it is the current
    /// one); when it cannot be bound, the current listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<()> {
        if address == self.address {
            return Ok(());
        }
        let listener = crate::transport::bind_listener(address)?;
        let bound = listener.local_addr()?;
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.send(());
        }
        self.serve(listener);
        tracing::info!(from = %self.address, to = %bound, "Agent RPC listener moved");
        self.address = bound;
        Ok(())
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.servers)
    }
}
