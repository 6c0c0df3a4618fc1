//! A TCP listener that a reload can move: each bind starts a server
//! *generation*; moving stops the current one accepting (its connections
//! go on) and starts the next. Shutdown is one flag every generation
//! watches, and every generation is kept for shutdown to wait on. Agent
//! RPC, Rayo and HTTP use it; their servers differ only in how they serve.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A future a generation's server is handed: "stop accepting" or "shut down".
pub type Signal = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Starts one generation on a bound listener: `(listener, accepting, shutdown)`.
type Serve<L> = Box<dyn Fn(L, Signal, Signal) -> JoinHandle<()> + Send>;
/// Binds a listener of the same kind on an address.
type Bind<L> = Box<dyn Fn(SocketAddr) -> io::Result<L> + Send>;

/// A bound listener, which can say where it is bound (port 0 picks one).
pub trait Bound {
    /// The address the listener is bound to.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Bound for tokio::net::TcpListener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// The listener in force and every generation still running.
pub struct Generations<L> {
    name: &'static str,
    address: SocketAddr,
    shutdown: watch::Receiver<bool>,
    accepting: Option<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
    bind: Bind<L>,
    serve: Serve<L>,
}

impl<L> std::fmt::Debug for Generations<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generations")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("servers", &self.servers.len())
            .finish()
    }
}

impl<L: Bound> Generations<L> {
    /// Serves `listener` as the first generation, until `shutdown` is
    /// raised; `bind` and `serve` make the later ones.
    pub fn start(
        name: &'static str,
        listener: L,
        shutdown: watch::Receiver<bool>,
        bind: impl Fn(SocketAddr) -> io::Result<L> + Send + 'static,
        serve: impl Fn(L, Signal, Signal) -> JoinHandle<()> + Send + 'static,
    ) -> io::Result<Generations<L>> {
        let address = listener.local_addr()?;
        let mut generations = Generations {
            name,
            address,
            shutdown,
            accepting: None,
            servers: Vec::new(),
            bind: Box::new(bind),
            serve: Box::new(serve),
        };
        generations.serve(listener);
        Ok(generations)
    }

    fn serve(&mut self, listener: L) {
        let (accepting, closed) = oneshot::channel::<()>();
        let mut shutdown = self.shutdown.clone();
        let server = (self.serve)(
            listener,
            Box::pin(async move {
                let _ = closed.await;
            }),
            Box::pin(async move {
                let _ = shutdown.wait_for(|down| *down).await.is_ok();
            }),
        );
        self.servers.retain(|server| !server.is_finished());
        self.servers.push(server);
        self.accepting = Some(accepting);
    }

    /// Listens on `address` instead (nothing to do if it is the current
    /// one) and answers the address bound (the port chosen, for port 0);
    /// when it cannot be bound, the current listener stays.
    pub fn move_to(&mut self, address: SocketAddr) -> io::Result<SocketAddr> {
        if address == self.address {
            return Ok(address);
        }
        let listener = (self.bind)(address)?;
        let at = listener.local_addr()?;
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.send(());
        }
        self.serve(listener);
        tracing::info!(from = %self.address, to = %at, "{} listener moved", self.name);
        self.address = at;
        Ok(at)
    }

    /// The server generations, for shutdown to wait on.
    pub fn take_servers(&mut self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut self.servers)
    }
}
