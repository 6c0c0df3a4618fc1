//! The Rayo XMPP listener (`rayo.listen`): accepts client connections
//! within limits and runs one session per connection.
//!
//! Limits, like the SIP TCP listener's and with its types: at most
//! [`MAX_CONNECTIONS`] connections at once and [`MAX_CONNECTIONS_PER_SOURCE`]
//! from one source (an IPv6 /64 counts as one), plus the process's
//! descriptor budget for signalling; beyond them a connection is closed
//! at accept. Rayo clients are a handful of application servers, so these
//! are constants rather than config keys.
//!
//! Password guessing: a SASL failure counts toward the same per-source
//! tracker as SIP digest failures (`sip.auth_max_failures` in a minute
//! bans for `sip.auth_ban_sec`). A banned source is closed at accept,
//! before it can send anything; a connection whose failure starts the ban
//! (or that authenticates while its source is banned) ends with a
//! `policy-violation` stream error. The stream machine itself also closes
//! a stream after three failed attempts.
//!
//! An unauthenticated stream ends with `connection-timeout` 30 s after its
//! accept (the machine's deadline). At shutdown every stream is closed
//! with `</stream:stream>`, and the listener waits up to
//! [`session::CLOSE_WAIT`] for the closes to be written.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use xmpp::ServerConfig;

use super::hub::RayoHub;
use super::session::{self, Shared, CLOSE_WAIT};
use crate::auth_ban::AuthFailures;
use crate::config::RayoConfig;
use crate::transport::accept::{next_admitted, AcceptBackoff};
use crate::transport::connection_limits::{ConnectionLimits, RefusalLog};

/// Most Rayo connections open at once.
pub const MAX_CONNECTIONS: u32 = 1024;
/// Most Rayo connections open at once from one source.
pub const MAX_CONNECTIONS_PER_SOURCE: u32 = 64;

/// A listener's shared settings without its socket.
#[derive(Clone)]
pub struct ListenerSettings(Arc<Shared>);

impl std::fmt::Debug for ListenerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ListenerSettings")
    }
}

impl ListenerSettings {
    /// A listener with these settings bound on `address`.
    pub fn bind(&self, address: SocketAddr) -> std::io::Result<RayoListener> {
        Ok(RayoListener {
            listener: crate::transport::bind_listener(address)?,
            shared: self.0.clone(),
        })
    }
}

/// The bound listener with everything its sessions need.
pub struct RayoListener {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl RayoListener {
    /// Binds `rayo.listen` and loads `rayo.tls`; either failing stops the
    /// start. SASL failures go to `failures`, the tracker SIP digest uses.
    pub fn bind(
        config: &RayoConfig,
        hub: RayoHub,
        failures: Arc<Mutex<AuthFailures>>,
    ) -> anyhow::Result<RayoListener> {
        let tls = match &config.tls {
            Some(tls) => Some(TlsAcceptor::from(
                super::tls::server_config(tls).map_err(|e| anyhow::anyhow!("rayo.tls: {e}"))?,
            )),
            None => None,
        };
        let mut xmpp = ServerConfig::new(&config.domain, Arc::new(hub.users()));
        xmpp.tls_available = tls.is_some();
        xmpp.allow_plain_without_tls = config.allow_plain_without_tls;
        let listener = crate::transport::bind_listener(config.listen)
            .map_err(|e| anyhow::anyhow!("rayo.listen {}: {e}", config.listen))?;
        tracing::info!(address = %listener.local_addr()?, domain = %config.domain, tls = tls.is_some(), "Rayo XMPP listening");
        Ok(RayoListener {
            listener,
            shared: Arc::new(Shared {
                xmpp: Arc::new(xmpp),
                tls,
                hub,
                failures,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// The address bound (the port the OS chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves clients until `shutdown` resolves, then closes every stream
    /// with `</stream:stream>` and waits (a bounded time) for the closes.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) {
        self.serve_until(std::future::pending(), shutdown).await
    }

    /// What this listener's sessions share (TLS, XMPP settings, bans), to
    /// bind it again elsewhere: how a reload moves `rayo.listen`.
    pub fn settings(&self) -> ListenerSettings {
        ListenerSettings(self.shared.clone())
    }

    /// [`RayoListener::serve`], but accepting ends once `accepting`
    /// resolves while the sessions it took go on until `shutdown`.
    pub async fn serve_until(
        self,
        accepting: impl Future<Output = ()> + Send,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let limits = ConnectionLimits::new(MAX_CONNECTIONS, Some(MAX_CONNECTIONS_PER_SOURCE));
        let mut backoff = AcceptBackoff::default();
        let mut refusals = RefusalLog::default();
        let (stop, stopped) = watch::channel(false);
        // Every session holds a sender; all gone means all closed.
        let (alive, mut all_closed) = mpsc::channel::<()>(1);
        tokio::pin!(shutdown);
        tokio::pin!(accepting);
        let mut moved = false;
        loop {
            let (tcp, peer, permit) = tokio::select! {
                _ = &mut shutdown => break,
                _ = &mut accepting => {
                    moved = true;
                    break;
                }
                admitted = next_admitted(&self.listener, &limits, &mut backoff, &mut refusals, "rayo") => admitted,
            };
            let banned = self
                .shared
                .failures
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .is_banned(peer.ip(), Instant::now());
            if banned {
                tracing::info!(%peer, "Rayo connection refused: source banned for failed authentication");
                continue;
            }
            let shared = self.shared.clone();
            let stopped = stopped.clone();
            let alive = alive.clone();
            tokio::spawn(async move {
                session::run(tcp, peer, shared, stopped).await;
                drop((permit, alive));
            });
        }
        drop(self.listener);
        drop(alive);
        if moved {
            tracing::info!("Rayo listener closed; its sessions go on");
            tokio::select! {
                _ = all_closed.recv() => {
                    tracing::info!("Rayo stopped");
                    return;
                }
                _ = &mut shutdown => {}
            }
        }
        let _ = stop.send(true);
        let _ = tokio::time::timeout(CLOSE_WAIT * 2, all_closed.recv()).await;
        tracing::info!("Rayo stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::auth_ban::BanPolicy;
    use crate::config::Config;

    const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='rayo.test' version='1.0'>";

    async fn serve() -> (SocketAddr, tokio::sync::oneshot::Sender<()>, RayoHub) {
        let config = Config::from_yaml(
            "rayo: { domain: rayo.test, listen: \"127.0.0.1:0\", users: [ { username: usera, password: \"1\" } ] }\n",
            "t.yaml",
        )
        .expect("config");
        let rayo = config.rayo.clone().expect("rayo");
        let (hub, events) = RayoHub::new(&rayo);
        tokio::spawn(super::super::refuse_all(hub.clone(), events));
        let failures = Arc::new(Mutex::new(AuthFailures::new(BanPolicy::from_config(
            &config.sip,
        ))));
        let listener = RayoListener::bind(&rayo, hub.clone(), failures).expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(listener.serve(async move {
            let _ = stopped.await;
        }));
        (addr, stop, hub)
    }

    async fn read_all(socket: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(120), socket.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn an_unauthenticated_stream_ends_with_connection_timeout() {
        let (addr, _stop, _hub) = serve().await;
        let started = tokio::time::Instant::now();
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.write_all(HEADER).await.expect("write");
        let got = read_all(&mut socket).await;
        assert!(got.contains("<connection-timeout"), "{got}");
        assert!(got.ends_with("</stream:stream>"), "{got}");
        assert!(
            started.elapsed() >= Duration::from_secs(30),
            "not before the deadline"
        );
    }

    #[tokio::test]
    async fn shutdown_closes_unbound_streams_too() {
        let (addr, stop, hub) = serve().await;
        let mut socket = TcpStream::connect(addr).await.expect("connect");
        socket.write_all(HEADER).await.expect("write");
        let mut buf = [0u8; 1024];
        let n = socket.read(&mut buf).await.expect("features");
        assert!(n > 0);
        let _ = stop.send(());
        let got = read_all(&mut socket).await;
        assert!(got.ends_with("</stream:stream>"), "{got}");
        assert_eq!(hub.bound(), 0);
    }

    #[tokio::test]
    async fn connections_past_the_per_source_cap_are_closed_at_accept() {
        let (addr, _stop, _hub) = serve().await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS_PER_SOURCE {
            let mut socket = TcpStream::connect(addr).await.expect("connect");
            socket.write_all(HEADER).await.expect("write");
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf))
                .await
                .expect("served in time")
                .expect("features");
            assert!(n > 0, "admitted connections are served");
            held.push(socket);
        }
        let mut refused = TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), refused.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // A slot given back admits the next one.
        drop(held.pop());
        let mut next = None;
        for _ in 0..100 {
            let mut socket = TcpStream::connect(addr).await.expect("connect");
            socket.write_all(HEADER).await.expect("write");
            let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await;
            if matches!(read, Ok(Ok(n)) if n > 0) {
                next = Some(socket);
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(next.is_some(), "a freed slot is reused");
    }
}
