//! The HTTP listener as a reload can move it (`http.listen`): each bind
//! serves the same routes; the generation a move replaces stops accepting
//! and finishes its open requests.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::transport::generations::Generations;

/// The HTTP listener in force and the generations still finishing.
#[derive(Debug)]
pub struct HttpListening(Generations<TcpListener>);

impl HttpListening {
    /// Serves `app` on `listener` until `shutdown` is raised.
    pub fn start(
        listener: TcpListener,
        app: Router,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<HttpListening> {
        let address = listener.local_addr()?;
        Ok(HttpListening(Generations::start(
            "HTTP",
            listener,
            address,
            shutdown,
            crate::transport::bind_listener,
            move |listener, accepting, shutdown| {
                tokio::spawn(super::serve_until(
                    listener,
                    app.clone(),
                    accepting,
                    shutdown,
                ))
            },
        )))
    }

    /// Listens on `address` instead and answers the address bound (the
    /// port chosen, for port 0); when it cannot be bound, the current
    /// listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<SocketAddr> {
        self.0.move_to(address, TcpListener::local_addr)?;
        Ok(self.0.address())
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        self.0.take_servers()
    }
}
