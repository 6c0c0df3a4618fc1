//! One client connection: drives its [`ServerStream`] over the socket.
//!
//! Two phases. Until a resource is bound, one task reads, feeds the
//! machine and writes its answers itself (each write bounded by the
//! machine's authentication deadline), doing the STARTTLS hand-off in
//! place. Once bound, the socket is split: this task keeps reading and a
//! writer task drains the session's bounded [`Outbound`] queue, which
//! both the machine's output and the adapter's stanzas
//! ([`RayoHub::send`]) go through, in order. If that queue is full the
//! client does not read: it is dropped at once, and the hub side never
//! waits on it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use xmpp::{Element, FullJid, Output, ServerConfig, ServerStream, StreamError};

use super::hub::{
    control_error, Outbound, RayoHub, SessionControl, SessionHandle, CONTROL_KILL, OUTBOUND_QUEUE,
};
use super::presence::{classify, PresenceKind};
use crate::auth_ban::AuthFailures;

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 16 * 1024;
/// Most bytes the writer gathers from its queue into one write.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing session waits for its writer to flush the close.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The time the machines are fed: tokio's clock, so that it agrees with
/// the timers that wake them (also when a test pauses time).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What every connection of one listener shares.
pub(crate) struct Shared {
    pub(crate) xmpp: Arc<ServerConfig>,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) hub: RayoHub,
    /// The per-source tracker SIP digest failures feed too.
    pub(crate) failures: Arc<Mutex<AuthFailures>>,
    pub(crate) next_id: AtomicU64,
}

impl Shared {
    fn failures(&self) -> std::sync::MutexGuard<'_, AuthFailures> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves one accepted connection until its stream ends; `shutdown`
/// turning true closes the stream with `</stream:stream>`.
pub(crate) async fn run(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Stanzas are small and latency-bound (see the Agent RPC listener).
    let _ = tcp.set_nodelay(true);
    let mut stream = ServerStream::new(shared.xmpp.clone(), now());
    let Some((conn, jid)) = negotiate(tcp, peer, &shared, &mut stream, &mut shutdown).await else {
        return;
    };
    tracing::info!(%peer, %jid, "Rayo client bound");
    serve_bound(conn, peer, jid, &shared, stream, shutdown).await;
}

/// Until a resource is bound: the session's own reads and writes.
async fn negotiate(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    stream: &mut ServerStream,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Conn, FullJid)> {
    let mut conn = Conn::Plain(tcp);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let mut out = String::new();
        let (mut starttls, mut closed, mut bound) = (false, false, None);
        while bound.is_none() {
            let Some(output) = stream.poll_output() else {
                break;
            };
            match output {
                Output::Transmit(bytes) => out.push_str(&bytes),
                Output::StartTls => starttls = true,
                Output::Authenticated { username } => {
                    if shared.failures().is_banned(peer.ip(), now()) {
                        stream.close_with(StreamError::PolicyViolation);
                    } else {
                        tracing::debug!(%peer, username, "Rayo client authenticated");
                    }
                }
                Output::AuthFailed { username } => {
                    tracing::info!(%peer, username = username.as_deref().unwrap_or("-"), "Rayo SASL credentials refused");
                    let now = now();
                    let mut failures = shared.failures();
                    failures.record_failure(peer.ip(), now);
                    if failures.is_banned(peer.ip(), now) {
                        stream.close_with(StreamError::PolicyViolation);
                    }
                }
                Output::Bound { jid } => bound = Some(jid),
                Output::Stanza(_) => {} // never before binding
                Output::Closed { error } => {
                    if let Some(error) = error {
                        tracing::debug!(%peer, error = error.as_str(), "Rayo stream closed before binding");
                    }
                    closed = true;
                }
            }
        }
        let deadline = stream.poll_timeout().unwrap_or_else(|| now() + CLOSE_WAIT);
        if !out.is_empty() {
            let written =
                tokio::time::timeout_at(deadline.into(), conn.write_all(out.as_bytes())).await;
            if !matches!(written, Ok(Ok(()))) {
                return None;
            }
        }
        if closed {
            let _ = tokio::time::timeout(CLOSE_WAIT, conn.shutdown()).await;
            return None;
        }
        if let Some(jid) = bound {
            return Some((conn, jid));
        }
        if starttls {
            let Conn::Plain(tcp) = conn else {
                return None; // the machine asks only once
            };
            let acceptor = shared.tls.clone()?;
            let upgraded = tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await;
            match upgraded {
                Ok(Ok(tls)) => conn = Conn::Tls(Box::new(tls)),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "Rayo TLS handshake failed");
                    return None;
                }
                Err(_) => return None,
            }
            stream.tls_established();
            continue;
        }
        tokio::select! {
            read = conn.read(&mut buf) => match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => stream.handle_input(now(), &buf[..n]),
            },
            _ = tokio::time::sleep_until(deadline.into()) => stream.handle_timeout(now()),
            _ = shutdown.wait_for(|stop| *stop) => stream.close(),
        }
    }
}

/// Once bound: reads here, writes through the queue and the writer task.
async fn serve_bound(
    conn: Conn,
    peer: SocketAddr,
    jid: FullJid,
    shared: &Shared,
    mut stream: ServerStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let hub = &shared.hub;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (queue, queued) = mpsc::channel(OUTBOUND_QUEUE);
    let control = Arc::new(SessionControl::default());
    let (mut reader, writer) = tokio::io::split(conn);
    let mut writer = tokio::spawn(write_queue(writer, queued));
    hub.bind(
        &jid,
        SessionHandle {
            id,
            queue: queue.clone(),
            control: control.clone(),
        },
    )
    .await;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut killed = false;
    'session: loop {
        let mut ended = false;
        while let Some(output) = stream.poll_output() {
            match output {
                Output::Transmit(bytes) => match queue.try_send(Outbound::Bytes(bytes)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        killed = true;
                        break 'session;
                    }
                    // The writer stopped: the socket failed.
                    Err(mpsc::error::TrySendError::Closed(_)) => break 'session,
                },
                Output::Stanza(stanza) => route(hub, &jid, id, stanza).await,
                Output::Closed { .. } => ended = true,
                // Negotiation is over; nothing else comes once bound.
                _ => {}
            }
        }
        if ended {
            killed = matches!(
                queue.try_send(Outbound::Close),
                Err(mpsc::error::TrySendError::Full(_))
            );
            break;
        }
        tokio::select! {
            biased;
            _ = control.wake.notified() => {
                let request = control.requested();
                if request == CONTROL_KILL {
                    killed = true;
                    break;
                }
                if let Some(error) = control_error(request) {
                    stream.close_with(error);
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => stream.close(),
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break, // the peer is gone: nothing to say
                Ok(n) => stream.handle_input(now(), &buf[..n]),
            },
        }
    }
    hub.unbind(&jid, id).await;
    drop(queue);
    if killed {
        tracing::warn!(%peer, %jid, "Rayo client dropped: it does not read what it is sent");
        writer.abort();
        return;
    }
    if tokio::time::timeout(CLOSE_WAIT, &mut writer).await.is_err() {
        writer.abort();
    }
    tracing::info!(%peer, %jid, "Rayo client gone");
}

/// A bound session's stanza: presence about itself changes availability;
/// IQs and presence to others go to the adapter; messages are ignored.
async fn route(hub: &RayoHub, jid: &FullJid, id: u64, stanza: Element) {
    match stanza.name() {
        "presence" => match classify(&stanza, hub.domain(), hub.plain_presence_available()) {
            PresenceKind::Availability(Some(available)) => {
                hub.set_available(jid, id, available).await
            }
            PresenceKind::Availability(None) => {}
            PresenceKind::Routed => hub.route(jid, stanza).await,
        },
        "iq" => hub.route(jid, stanza).await,
        _ => {}
    }
}

/// The writer task: drains the queue in order, batching what is ready,
/// until `Close` (then flushes and shuts the socket down) or an error.
async fn write_queue<W: AsyncWrite + Unpin>(mut socket: W, mut queue: mpsc::Receiver<Outbound>) {
    let mut batch = String::new();
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        let mut close = false;
        while let Some(item) = next.take() {
            match item {
                Outbound::Bytes(bytes) => batch.push_str(&bytes),
                Outbound::Stanza(stanza) => stanza.write_xml(&mut batch, "jabber:client"),
                Outbound::Close => {
                    close = true;
                    break;
                }
            }
            if batch.len() < WRITE_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if socket.write_all(batch.as_bytes()).await.is_err() {
            return;
        }
        batch.clear();
        if batch.capacity() > WRITE_BATCH {
            batch.shrink_to(WRITE_BATCH);
        }
        if close {
            let _ = socket.shutdown().await;
            return;
        }
    }
}

/// The connection, before or after STARTTLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
