//! Where the Rayo XMPP listener listens, and moving it there on reload: a
//! new listener (same TLS, XMPP settings and bans) is bound and served,
//! the old one stops accepting, and the sessions it took go on until they
//! close or the server shuts down.

use std::io;
use std::net::SocketAddr;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::listener::{ListenerSettings, RayoListener};

/// The Rayo listener in force and every generation still serving sessions.
#[derive(Debug)]
pub struct RayoListening {
    /// The settings new listeners get when the listener moves.
    settings: ListenerSettings,
    shutdown: watch::Receiver<bool>,
    address: SocketAddr,
    accepting: Option<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl RayoListening {
    /// Serves `listener` until `shutdown` is raised.
    pub fn start(
        listener: RayoListener,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<RayoListening> {
        let address = listener.local_addr()?;
        let mut listening = RayoListening {
            settings: listener.settings(),
            shutdown,
            address,
            accepting: None,
            servers: Vec::new(),
        };
        listening.serve(listener);
        Ok(listening)
    }

    fn serve(&mut self, listener: RayoListener) {
        let (accepting, closed) = oneshot::channel::<()>();
        let mut shutdown = self.shutdown.clone();
        self.servers.push(tokio::spawn(listener.serve_until(
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

    /// Listens on `address` instead (nothing to do if it is the current
    /// one); when it cannot be bound, the current listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<()> {
        if address == self.address {
            return Ok(());
        }
        let listener = self.settings.bind(address)?;
        let bound = listener.local_addr()?;
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.send(());
        }
        self.serve(listener);
        tracing::info!(from = %self.address, to = %bound, "Rayo listener moved");
        self.address = bound;
        Ok(())
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.servers)
    }
}
