//! Where the Rayo XMPP listener listens, and moving it there on reload
//! (see [`Generations`]): a new listener with the same TLS, XMPP settings
//! and bans, while the sessions the old one took go on.

use std::io;
use std::net::SocketAddr;

use tokio::sync::watch;

use super::RayoListener;
use crate::transport::generations::{Bound, Generations};

/// The Rayo listener in force and every generation still serving sessions.
pub type RayoListening = Generations<RayoListener>;

impl Bound for RayoListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        RayoListener::local_addr(self)
    }
}

/// Serves `listener` until `shutdown` is raised.
pub fn start(listener: RayoListener, shutdown: watch::Receiver<bool>) -> io::Result<RayoListening> {
    let settings = listener.settings();
    Generations::start(
        "Rayo",
        listener,
        shutdown,
        move |address| settings.bind(address),
        |listener: RayoListener, accepting, shutdown| {
            tokio::spawn(listener.serve_until(accepting, shutdown))
        },
    )
}
