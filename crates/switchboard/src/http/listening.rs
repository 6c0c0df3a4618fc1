//! The HTTP listener as a reload can move it (`http.listen`): each bind
//! serves the same routes; the generation a move replaces stops accepting
//! and finishes its open requests.

use std::io;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::transport::generations::Generations;

/// The HTTP listener in force and the generations still finishing.
pub type HttpListening = Generations<TcpListener>;

/// Serves `app` on `listener` until `shutdown` is raised.
pub fn start(
    listener: TcpListener,
    app: Router,
    shutdown: watch::Receiver<bool>,
) -> io::Result<HttpListening> {
    Generations::start(
        "HTTP",
        listener,
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
    )
}
