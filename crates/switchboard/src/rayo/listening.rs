//! Where the Rayo XMPP listener listens, and moving it there on reload
//! (see [`Generations`]): a new listener with the same TLS, XMPP settings
//! and bans, while the sessions the old one took go on.

use std::io;
use std::net::SocketAddr;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::RayoListener;
use crate::transport::generations::Generations;

/// The Rayo listener in force and every generation still serving sessions.
#[derive(Debug)]
pub struct RayoListening(Generations<RayoListener>);

impl RayoListening {
    /// Serves `listener` until `shutdown` is raised.
    pub fn start(
        listener: RayoListener,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<RayoListening> {
        let address = listener.local_addr()?;
        let settings = listener.settings();
        Ok(RayoListening(Generations::start(
            "Rayo",
            listener,
            address,
            shutdown,
            move |address| settings.bind(address),
            |listener: RayoListener, accepting, shutdown| {
                tokio::spawn(listener.serve_until(accepting, shutdown))
            },
        )))
    }

    /// Listens on `address` instead; when it cannot be bound, the current
    /// listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<()> {
        self.0.move_to(address, RayoListener::local_addr)
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        self.0.take_servers()
    }
}
