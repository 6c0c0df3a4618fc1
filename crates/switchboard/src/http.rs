//! The HTTP listener (`http.listen`): liveness and readiness for process
//! supervisors, orchestrators and load balancers, and recordings.
//!
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 while new calls are taken; 503 from the shutdown
//!   signal on, while running calls drain (new INVITEs get 503 then too),
//!   and while the server refuses new calls for load ([`crate::overload`]).
//! - `GET /metrics`: OpenMetrics text for Prometheus; see [`metrics`].
//! - `GET /recordings/NAME?expires=…&sig=…` (and HEAD): a recording file,
//!   behind a signed, expiring URL from [`RecordingUrls`]; see [`recordings`].
//! - `/api/v1/…`: the operator API, behind a bearer token; see [`api`].
//! - Anything else: 404 (405 for another method on those paths).
//!
//! The listener is bounded so that no client can tie it up: at most
//! [`MAX_CONNECTIONS`] connections at once (more are closed at accept), and
//! each connection lives at most [`CONNECTION_LIFETIME`], idle or not, so a
//! slow or silent client gives its slot back. Handlers read no body. The one
//! exception to the lifetime is a recording download with a valid signature:
//! its connection gets the lifetime plus the file's size at
//! [`recordings::MIN_DOWNLOAD_RATE`], and is closed after that response.

pub mod api;
pub mod listening;
pub mod metrics;
pub mod recordings;
mod signing;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::transport::accept::{next_admitted, AcceptBackoff};
use crate::transport::connection_limits::{ConnectionLimits, ConnectionPermit, RefusalLog};

pub use self::listening::HttpListening;
pub use self::metrics::Metrics;
pub use self::recordings::RecordingFiles;
pub use self::signing::{base_of, unix_now, RecordingUrls, Refusal};
pub use crate::transport::timed_stream::Lease;
use crate::transport::timed_stream::TimedStream;

/// Most HTTP connections open at once.
pub const MAX_CONNECTIONS: u32 = 32;
/// Longest an HTTP connection stays open; a probe needs milliseconds.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(10);

/// Whether the server takes new calls, as `/readyz` reports it; shared by
/// whoever starts and stops the server, and by the SIP driver, which marks
/// it overloaded while it refuses new calls for load.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<ReadyFlags>);

#[derive(Debug, Default)]
struct ReadyFlags {
    running: AtomicBool,
    overloaded: AtomicBool,
}

impl Readiness {
    /// Marks the server as taking calls (`true`) or draining (`false`).
    pub fn set(&self, ready: bool) {
        self.0.running.store(ready, Ordering::Relaxed);
    }

    /// Marks the server as refusing new calls for load (`true`) or not.
    pub fn set_overloaded(&self, overloaded: bool) {
        self.0.overloaded.store(overloaded, Ordering::Relaxed);
    }

    /// Whether the server takes new calls: running and not overloaded.
    pub fn is_ready(&self) -> bool {
        self.0.running.load(Ordering::Relaxed) && !self.is_overloaded()
    }

    /// Whether the server refuses new calls for load.
    pub fn is_overloaded(&self) -> bool {
        self.0.overloaded.load(Ordering::Relaxed)
    }
}

/// Binds `http.listen`; a failure stops the start, as for the other listeners.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = crate::transport::bind_listener(address)
        .map_err(|e| anyhow::anyhow!("http.listen {address}: {e}"))?;
    tracing::info!(address = %listener.local_addr()?, "HTTP listening");
    Ok(listener)
}

/// The routes the listener serves: health, readiness, `metrics`,
/// `recordings` and the operator `api` (already nested by [`api::nest`]).
/// Every listener generation serves a clone of it.
pub fn app(
    readiness: Readiness,
    metrics: Metrics,
    recordings: RecordingFiles,
    api: Router,
) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(readiness)
        .merge(
            Router::new()
                .route("/metrics", get(metrics::serve))
                .with_state(metrics),
        )
        .merge(
            Router::new()
                .route("/recordings/{name}", get(recordings::serve))
                .with_state(recordings),
        )
        .merge(api)
}

/// Serves `app` on `listener` until `accepting` (a reload moved the
/// listener) or `shutdown` resolves, then lets open requests finish (each
/// connection ends within its lifetime).
pub async fn serve_until(
    listener: TcpListener,
    app: Router,
    accepting: impl Future<Output = ()> + Send + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let address = listener.local_addr().ok();
    let listener = BoundedListener::new(listener, MAX_CONNECTIONS, CONNECTION_LIFETIME);
    let app = app.into_make_service_with_connect_info::<Lease>();
    let stop = async move {
        tokio::select! {
            () = accepting => {}
            () = shutdown => {}
        }
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(%error, "HTTP server failed");
    }
    match address {
        Some(address) => tracing::info!(%address, "HTTP stopped"),
        None => tracing::info!("HTTP stopped"),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, &'static str) {
    if readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else if readiness.is_overloaded() {
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    }
}

/// A TCP listener that holds a place in its limits per open connection
/// (and a descriptor slot, as every listener's connections do) and closes
/// connections beyond them at once.
struct BoundedListener {
    inner: TcpListener,
    limits: ConnectionLimits,
    lifetime: Duration,
    backoff: AcceptBackoff,
    refusals: RefusalLog,
}

impl BoundedListener {
    /// At most `max_connections` at once, each closed after `lifetime`.
    fn new(inner: TcpListener, max_connections: u32, lifetime: Duration) -> BoundedListener {
        BoundedListener {
            inner,
            limits: ConnectionLimits::new(max_connections, None),
            lifetime,
            backoff: AcceptBackoff::default(),
            refusals: RefusalLog::default(),
        }
    }
}

impl axum::serve::Listener for BoundedListener {
    type Io = TimedStream<ConnectionPermit>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TimedStream<ConnectionPermit>, SocketAddr) {
        let (stream, peer, permit) = next_admitted(
            &self.inner,
            &self.limits,
            &mut self.backoff,
            &mut self.refusals,
            "http",
        )
        .await;
        let io = TimedStream::new(
            stream,
            self.lifetime,
            "HTTP connection lifetime over",
            permit,
        );
        (io.leased(), peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Each request's handle on its connection's lifetime.
impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, BoundedListener>>
    for Lease
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, BoundedListener>) -> Lease {
        stream.io().lease().cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    }

    #[tokio::test]
    async fn readiness_follows_the_flag_metrics_answer_and_other_paths_are_404() {
        let listener = bind("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let readiness = Readiness::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let files = RecordingFiles {
            dir: std::env::temp_dir(),
            urls: RecordingUrls::new(b"0123456789abcdef", "http://x", Duration::from_secs(9)),
        };
        let app = app(
            readiness.clone(),
            Metrics::default(),
            files,
            api::nest(Router::new(), api::ApiToken::new(None)),
        );
        let server = tokio::spawn(serve_until(
            listener,
            app,
            async {
                let _ = stopped.await;
            },
            std::future::pending(),
        ));
        assert!(get(address, "/readyz").await.starts_with("HTTP/1.1 503 "));
        readiness.set(true);
        assert!(get(address, "/readyz").await.starts_with("HTTP/1.1 200 "));
        readiness.set_overloaded(true);
        let overloaded = get(address, "/readyz").await;
        assert!(overloaded.starts_with("HTTP/1.1 503 "), "{overloaded}");
        assert!(overloaded.ends_with("overloaded\n"), "{overloaded}");
        readiness.set_overloaded(false);
        assert!(get(address, "/readyz").await.starts_with("HTTP/1.1 200 "));
        assert!(get(address, "/healthz").await.starts_with("HTTP/1.1 200 "));
        let metrics = get(address, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200 "), "{metrics}");
        assert!(metrics.ends_with("# EOF\n"), "{metrics}");
        assert!(get(address, "/nothing").await.starts_with("HTTP/1.1 404 "));
        assert!(get(address, "/api/v1/cdrs")
            .await
            .starts_with("HTTP/1.1 403 "));
        let _ = stop.send(());
        server.await.expect("server task");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_when_its_lifetime_is_over() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            let mut buf = [0u8; 16];
            // Sends nothing; the server ends the connection.
            stream.read(&mut buf).await
        });
        let mut bounded = BoundedListener::new(listener, 1, Duration::from_millis(50));
        let (mut stream, _) = axum::serve::Listener::accept(&mut bounded).await;
        let mut buf = [0u8; 16];
        // The client never sends: only the lifetime ends this read.
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("the lifetime ends the read");
        assert_eq!(
            read.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::TimedOut)
        );
        assert_eq!(bounded.limits.total(), 1);
        drop(stream);
        assert_eq!(bounded.limits.total(), 0);
        assert!(matches!(client.await.expect("client"), Ok(0)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stretched_lease_outlives_the_lifetime_then_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut client = TcpStream::connect(address).await.expect("connect");
        let mut bounded = BoundedListener::new(listener, 1, Duration::from_millis(50));
        let (mut stream, _) = axum::serve::Listener::accept(&mut bounded).await;
        stream
            .lease()
            .expect("HTTP connections are leased")
            .extend_to(tokio::time::Instant::now() + Duration::from_secs(3600));
        client.write_all(b"ping").await.expect("write");
        tokio::time::advance(Duration::from_secs(600)).await;
        let mut buf = [0u8; 4];
        stream
            .read_exact(&mut buf)
            .await
            .expect("still open after 10 min");
        tokio::time::advance(Duration::from_secs(3600)).await;
        let read = stream.read(&mut buf).await;
        assert_eq!(
            read.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::TimedOut)
        );
    }

    #[tokio::test]
    async fn connections_past_the_limit_are_closed_at_accept() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut bounded = BoundedListener::new(listener, 1, Duration::from_secs(600));
        let _first = TcpStream::connect(address).await.expect("connect");
        let (held, _) = axum::serve::Listener::accept(&mut bounded).await;
        let accepting = tokio::spawn(async move {
            let (stream, _) = axum::serve::Listener::accept(&mut bounded).await;
            stream
        });
        let mut second = TcpStream::connect(address).await.expect("connect");
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(30), second.read(&mut buf))
            .await
            .expect("the server closes the connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(!accepting.is_finished(), "no slot, no connection");
        // A slot given back takes the next connection.
        drop(held);
        let _third = TcpStream::connect(address).await.expect("connect");
        tokio::time::timeout(Duration::from_secs(30), accepting)
            .await
            .expect("accepted once a slot is free")
            .expect("accept task");
    }
}
